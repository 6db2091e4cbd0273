//! Hedged requests (the tail-at-scale technique): after a hedge delay without
//! a response, send another attempt of the same call; the first acceptable
//! response wins and the caller cancels the others.
//!
//! The delay is fixed (gRPC `hedgingDelay`) or a quantile of recent latencies
//! (tower's `Hedge`, [`LatencyTracker`]); hedges are bounded per call
//! (`max_hedged`, gRPC `maxAttempts − 1`) and each one withdraws from the
//! retry budget, so hedging cannot multiply load beyond the budget's ratio
//! (gRPC retry throttling covers hedges too; failsafe-go `AcquireHedgePermit`).
//!
//! See [`HedgeState`] for the call order a driver follows with a
//! [`RetryState`](crate::retry::RetryState) and a
//! [`Breaker`](crate::breaker::Breaker), and [`HedgeConfig`] for the table.

mod config;
mod latency;

pub use config::{HedgeConfig, HedgeDelay, HedgePolicy, MAX_HEDGED, MAX_MIN_SAMPLES};
pub use latency::LatencyTracker;

use crate::retry::{RetryBudget, TryOutcome};
use crate::time::{Span, Timestamp};

/// One attempt of a hedged call: 0 is the original, then hedges and retries
/// in the order they were sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(u32);

impl AttemptId {
    /// The original attempt.
    pub(crate) const FIRST: AttemptId = AttemptId(0);

    /// The attempt's position in sending order (0 = the original).
    pub const fn index(self) -> u32 {
        self.0
    }
}

/// What to do when the hedge timer fires.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgeDecision {
    /// Send this hedge now (the budget was charged). Ask the breaker first;
    /// if it rejects, report [`HedgeState::handle_rejected`].
    Send(AttemptId),
    /// Send nothing.
    Skip(HedgeSkip),
}

/// Why no hedge is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HedgeSkip {
    /// No hedge is due at this instant.
    NotDue,
    /// `max_hedged` hedges were sent for this call.
    MaxHedged,
    /// The retry budget refused; no further hedges for this call.
    BudgetExhausted,
    /// The call's deadline has passed; no further hedges.
    DeadlineExceeded,
    /// Hedging stopped earlier (budget, breaker, deadline) for this call.
    Stopped,
    /// The call is over (a response was committed).
    Finished,
}

/// What a finished attempt means for the call.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgeResponse {
    /// This outcome wins: deliver it and cancel the `cancel` other attempts
    /// still in flight (they must not be reported here afterwards; report them
    /// to the breaker as `Outcome::Ignored`).
    Commit {
        /// Attempts still in flight, to cancel.
        cancel: u32,
    },
    /// A retryable failure while other attempts are still in flight: keep
    /// waiting for them (the failed attempt is done).
    Wait,
    /// A retryable failure and nothing else in flight: the race is lost. Hand
    /// the outcome to the retry policy (`RetryState::handle_outcome`); on
    /// `RetryAt { at, .. }` send the retry at `at` with
    /// [`HedgeState::handle_retry`]; otherwise (or without retries) deliver
    /// this outcome.
    Exhausted,
    /// The call was already committed; ignore this late outcome.
    Late,
}

/// The hedging state of one call (a few words; keep it with the call).
///
/// # Call order (with retries and a breaker)
///
/// Once per edge: one [`RetryBudget`] (the retry policy's budget, or
/// [`HedgePolicy::budget`] on edges without retries), one
/// [`Breaker`](crate::breaker::Breaker), and one
/// [`HedgePolicy::tracker`]. Per call, at `now`:
///
/// 1. `breaker.handle_request(now)`: `Reject` fails the call fast.
/// 2. `retry.start(now, &mut budget)` (deposits; without retries call
///    `budget.deposit(now)`), then `hedge.start(now, deadline, &mut tracker)`
///    with the call's deadline (`retry_state.deadline()`, or
///    `Timestamp::MAX`). Send attempt 0.
/// 3. When `poll_timeout()` is reached: `handle_timeout(now, &mut budget)`.
///    On `Send(a)`: `breaker.handle_request(now)`; `Reject` →
///    `handle_rejected(a)` (not sent, no more hedges), else send attempt `a`
///    (to another endpoint if the balancer allows).
/// 4. When an attempt ends (its response, or the driver abandons it at its
///    per-try deadline as [`TryOutcome::Timeout`]): report it to the breaker,
///    then `handle_response(&hedge, now, outcome, rtt, &mut tracker)`:
///    `Commit { cancel }` → deliver, cancel the rest; `Wait` → nothing;
///    `Exhausted` → `retry_state.handle_outcome(..)`, and on `RetryAt { at, .. }`
///    breaker check at `at`, then `handle_retry(at)` and send the retry;
///    `Late` → ignore.
/// 5. At the call's deadline: cancel every attempt; the call times out.
///
/// # Semantics
///
/// - Hedge `k` of a round is due `delay` after the previous attempt was sent
///   (the original, a hedge, or a retry, which starts a new round); at most
///   `max_hedged` hedges per call in all; only while an attempt is in flight.
/// - A hedge is sent only if the budget grants a withdrawal; a refusal, a
///   breaker rejection or the deadline stops hedging for the rest of the call.
/// - An outcome that `retry_on` does not list (a success, or a failure that
///   is not worth racing, such as a 500 by default) commits at once; a listed
///   one (a 503, a reset, a per-try timeout) waits for the other attempts and
///   goes to the retry policy only when none is left (Envoy: "the first good
///   response according to the retry policy"; gRPC: fatal status codes end
///   the call).
/// - With a percentile delay, the latency of every attempt that got a
///   response (any status) is recorded in the tracker, as tower records
///   completed requests; cancelled and transport-failed attempts are not.
///   With a fixed delay the tracker is not touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HedgeState {
    delay: Option<Span>,
    next_at: Timestamp,
    deadline: Timestamp,
    max_hedged: u32,
    hedged: u32,
    in_flight: u32,
    attempts: u32,
    stopped: bool,
    finished: bool,
}

impl HedgeState {
    pub(crate) fn new(
        policy: &HedgePolicy,
        now: Timestamp,
        deadline: Timestamp,
        delay: Option<Span>,
    ) -> Self {
        let mut state = HedgeState {
            delay,
            next_at: Timestamp::MAX,
            deadline,
            max_hedged: policy.max_hedged(),
            hedged: 0,
            in_flight: 1,
            attempts: 1,
            stopped: false,
            finished: false,
        };
        state.arm(now);
        state
    }

    /// When the next hedge is due; `None` if none will be sent (bound
    /// reached, hedging stopped, nothing in flight, or the call is over).
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        (self.next_at != Timestamp::MAX).then_some(self.next_at)
    }

    /// Fires the hedge timer at `now`: charges `budget` and returns the
    /// hedge to send, or why none is sent.
    pub fn handle_timeout(&mut self, now: Timestamp, budget: &mut RetryBudget) -> HedgeDecision {
        if self.finished {
            return HedgeDecision::Skip(HedgeSkip::Finished);
        }
        if self.stopped {
            return HedgeDecision::Skip(HedgeSkip::Stopped);
        }
        if self.hedged >= self.max_hedged {
            return HedgeDecision::Skip(HedgeSkip::MaxHedged);
        }
        if self.next_at == Timestamp::MAX || now < self.next_at {
            return HedgeDecision::Skip(HedgeSkip::NotDue);
        }
        if now >= self.deadline {
            self.stop();
            return HedgeDecision::Skip(HedgeSkip::DeadlineExceeded);
        }
        if !budget.withdraw(now) {
            self.stop();
            return HedgeDecision::Skip(HedgeSkip::BudgetExhausted);
        }
        self.hedged += 1;
        let attempt = self.send();
        self.arm(now);
        HedgeDecision::Send(attempt)
    }

    /// The breaker refused hedge `attempt`: it was not sent, and no further
    /// hedge is (the edge is failing).
    pub fn handle_rejected(&mut self, attempt: AttemptId) {
        debug_assert!(attempt.0 < self.attempts, "unknown attempt");
        self.in_flight = self.in_flight.saturating_sub(1);
        self.stop();
    }

    /// An attempt ended at `now` with `outcome` after `rtt`; see
    /// [`HedgeResponse`]. Responses feed `tracker`.
    pub fn handle_response(
        &mut self,
        policy: &HedgePolicy,
        now: Timestamp,
        outcome: TryOutcome,
        rtt: Span,
        tracker: &mut LatencyTracker,
    ) -> HedgeResponse {
        if self.finished {
            return HedgeResponse::Late;
        }
        // Only a percentile delay reads the tracker: a fixed one leaves it
        // untouched (and unallocated).
        if matches!(outcome, TryOutcome::Response { .. })
            && matches!(policy.delay(), HedgeDelay::Percentile { .. })
        {
            tracker.record(now, rtt);
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        if !policy.retry_on().matches(&outcome) {
            self.finished = true;
            self.next_at = Timestamp::MAX;
            return HedgeResponse::Commit {
                cancel: self.in_flight,
            };
        }
        if self.in_flight > 0 {
            return HedgeResponse::Wait;
        }
        // Nothing in flight: no hedge until a retry starts a new round.
        self.next_at = Timestamp::MAX;
        HedgeResponse::Exhausted
    }

    /// A retry (decided by the retry policy after `Exhausted`) is sent at
    /// `at`; returns its attempt id. Its hedges, if any remain, are due
    /// `delay` after `at`.
    pub fn handle_retry(&mut self, at: Timestamp) -> AttemptId {
        let attempt = self.send();
        self.arm(at);
        attempt
    }

    /// Hedges sent so far.
    pub fn hedged(&self) -> u32 {
        self.hedged
    }

    /// Attempts in flight (sent, not ended, not cancelled).
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Attempts sent so far (original, hedges and retries).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The hedge delay of this call (`None`: no hedging, e.g. too few
    /// latency samples for a percentile).
    pub fn delay(&self) -> Option<Span> {
        self.delay
    }

    /// Whether a response was committed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn send(&mut self) -> AttemptId {
        let attempt = AttemptId(self.attempts);
        self.attempts += 1;
        self.in_flight += 1;
        attempt
    }

    /// Schedules the next hedge `delay` after `sent`, if one may follow.
    fn arm(&mut self, sent: Timestamp) {
        self.next_at = match self.delay {
            Some(delay) if !self.stopped && !self.finished && self.hedged < self.max_hedged => {
                sent + delay
            }
            _ => Timestamp::MAX,
        };
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.next_at = Timestamp::MAX;
    }
}
