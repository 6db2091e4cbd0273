//! The breaker's vocabulary: decisions, outcomes, states, transitions and
//! metrics snapshots.

use std::fmt;

use crate::time::Timestamp;

/// What the breaker says about one request.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Send the request; the breaker is closed (or disabled / metrics-only).
    Admit,
    /// Fail fast: the breaker is open, forced open, or has no probe permit left.
    Reject,
    /// Send the request as one of the half-open probes. The ticket names the
    /// half-open period, so a probe that outlives its period never counts in
    /// (or frees a permit of) a later one.
    Probe(ProbeTicket),
}

/// The half-open period a probe was granted in (opaque; pass the decision
/// back to [`Breaker::handle_outcome`](super::Breaker::handle_outcome)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProbeTicket(pub(super) u32);

impl Decision {
    /// Whether the request may be sent (`Admit` or `Probe`).
    pub fn is_permitted(self) -> bool {
        !matches!(self, Decision::Reject)
    }

    /// Whether this is a half-open probe.
    pub fn is_probe(self) -> bool {
        matches!(self, Decision::Probe(_))
    }
}

/// How a permitted call ended, as the breaker counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A success (its duration may still make it a slow call).
    Success,
    /// A recorded failure (5xx, timeout, connection error...).
    Failure,
    /// Neither: not recorded, and a half-open probe's permit is given back
    /// (resilience4j's ignored exceptions).
    Ignored,
}

/// The breaker's states (resilience4j's names; Linkerd's "shut" is `Open` and
/// its "probation" is `HalfOpen`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BreakerState {
    /// Calls flow; outcomes are recorded and may open the breaker.
    Closed,
    /// Calls are rejected until the open interval ends.
    Open,
    /// A limited number of probe calls decide between Closed and Open.
    HalfOpen,
    /// Everything is admitted and nothing is recorded (manual state).
    Disabled,
    /// Everything is rejected until another manual transition (manual state).
    ForcedOpen,
    /// Everything is admitted; outcomes are recorded but never open the breaker.
    MetricsOnly,
}

impl BreakerState {
    pub(super) const ALL: [BreakerState; 6] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
        BreakerState::Disabled,
        BreakerState::ForcedOpen,
        BreakerState::MetricsOnly,
    ];

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
            BreakerState::Disabled => "disabled",
            BreakerState::ForcedOpen => "forced-open",
            BreakerState::MetricsOnly => "metrics-only",
        })
    }
}

/// A state change and when it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The instant of the change.
    pub at: Timestamp,
    /// The state left.
    pub from: BreakerState,
    /// The state entered.
    pub to: BreakerState,
}

/// A manual transition the state machine does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IllegalTransition {
    /// The current state.
    pub from: BreakerState,
    /// The requested state.
    pub to: BreakerState,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "illegal breaker transition from {} to {}",
            self.from, self.to
        )
    }
}

impl std::error::Error for IllegalTransition {}

/// A snapshot of the current state's metrics (resilience4j's `Metrics`).
///
/// Rates are fractions in `[0, 1]`, `None` while fewer calls than the
/// minimum are buffered (resilience4j reports −1).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BreakerMetrics {
    /// Failed / buffered calls.
    pub failure_rate: Option<f64>,
    /// Slow / buffered calls.
    pub slow_call_rate: Option<f64>,
    /// Calls in the window.
    pub buffered_calls: u64,
    /// Failed calls in the window (slow or not).
    pub failed_calls: u64,
    /// Successful calls in the window (slow or not).
    pub successful_calls: u64,
    /// Slow calls in the window (successful or failed).
    pub slow_calls: u64,
    /// Slow failed calls in the window.
    pub slow_failed_calls: u64,
    /// Requests rejected since these metrics were reset.
    pub not_permitted_calls: u64,
    /// Current run of failures (consecutive mode; 0 in rate mode).
    pub consecutive_failures: u32,
}
