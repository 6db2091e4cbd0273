//! Circuit breaker: resilience4j's Closed / Open / HalfOpen state machine with
//! a count- or time-based failure-rate and slow-call-rate window, and Linkerd's
//! consecutive-failures mode, behind one [`Breaker`] type.
//!
//! See [`Breaker`] for the call order and [`BreakerConfig`] for the table.

mod config;
mod consecutive;
mod types;
mod window;

pub use config::{
    BreakerConfig, BreakerSpec, MAX_CONSECUTIVE_FAILURES, MAX_HALF_OPEN_CALLS, MAX_MINIMUM_CALLS,
    MAX_WINDOW_CALLS, MAX_WINDOW_SECS, Mode, WindowSize, WindowType,
};

use rand_core::Rng;

use crate::time::{Span, Timestamp};
pub use types::{
    BreakerMetrics, BreakerState, Decision, IllegalTransition, Outcome, ProbeTicket, Transition,
};

use config::{ModeSpec, RateSpec, WindowSpec};
use window::{CountWindow, Thresholds, TimeWindow, Verdict, Window};

/// Which metrics the current state reports and records into (resilience4j
/// carries the closed or half-open metrics into Open; manual states have none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Active {
    Closed,
    HalfOpen,
    Empty,
}

/// Per-mode recording state.
#[derive(Clone, Debug)]
enum Detector {
    Rate {
        closed: Window,
        closed_thresholds: Thresholds,
        half_open: CountWindow,
        half_open_thresholds: Thresholds,
    },
    Consecutive {
        failures: u32,
    },
}

/// Cumulative time per state.
#[derive(Clone, Copy, Debug)]
struct StateClock {
    since: Timestamp,
    totals: [Span; 6],
}

/// A circuit breaker for one call edge (or one endpoint, in consecutive mode).
///
/// # Call order
///
/// 1. `handle_request(now)` before every call. `Reject` → fail fast without
///    sending. `Admit` / `Probe` → send, and keep the decision.
/// 2. `handle_outcome(now, decision, outcome, duration, rng)` exactly once per
///    permitted call, when it ends (`duration` = its latency; `now` = the end).
/// 3. Optionally: when `poll_timeout()` is `Some(t)`, call `handle_timeout(t)`
///    to move Open → HalfOpen eagerly. Without it the move happens lazily on
///    the first `handle_request` at or after `t` (resilience4j's default).
///
/// `now` must never decrease between calls.
///
/// # Rate mode (resilience4j)
///
/// Closed records outcomes into a count window (the last N calls; the
/// minimum is `min(minimum_calls, N)`) or a time window (N one-second buckets
/// keyed by `now`; the minimum is not clamped). Once at least the minimum is
/// buffered, the breaker opens when the failure rate `>=`
/// `failure_rate_threshold` or the slow-call rate `>=`
/// `slow_call_rate_threshold` (a call is slow if `duration >
/// slow_call_duration`). The n-th consecutive opening lasts `open_duration ×
/// multiplier^(n−1)`, capped at `open_duration_max`, computed as
/// resilience4j's `IntervalFunction.ofExponentialBackoff` does: in whole
/// milliseconds, truncated at every step (`i₁ = open_duration` in ms, `iₙ₊₁ =
/// trunc(iₙ × multiplier)`, then `min(iₙ, open_duration_max)`). HalfOpen grants exactly
/// `half_open_calls` probes into a fresh count window of that size and
/// re-evaluates once `min(minimum_calls, half_open_calls)` probe results are in:
/// exceeded → Open (next interval), otherwise → Closed with fresh metrics.
///
/// # Consecutive mode (Linkerd failure accrual)
///
/// Closed opens after `max_failures` failures in a row (a success resets the
/// run). The n-th consecutive opening lasts `min(min_penalty × 2^(n−1),
/// max_penalty)` plus a jitter of up to `jitter ×` that, drawn from `rng`.
/// Outcomes arriving while Open are ignored. HalfOpen admits exactly one probe:
/// success → Closed, failure → Open with the next, longer interval.
///
/// # Deviations, on purpose
///
/// - Open ends *at* `opened + interval` (resilience4j requires strictly after,
///   a 1 ns difference) so that `poll_timeout` is the first admitting instant.
/// - In HalfOpen only outcomes of probes granted in the current half-open
///   period count; a call admitted while Closed, or a probe of an earlier
///   period, that ends during HalfOpen is dropped (resilience4j counts it,
///   Linkerd takes the first response of any call). Such stale outcomes are
///   recorded normally in Closed and MetricsOnly.
/// - Leaving Open consumes a probe permit for the request that caused it (as in
///   current resilience4j; older versions admitted it on top of the permits).
/// - A constant open interval (`open_duration_multiplier = 1`) keeps its
///   nanoseconds; resilience4j's `IntervalFunction.of(Duration)` truncates it
///   to whole milliseconds (identical for any duration written in ms or
///   coarser, which is all the scenario format produces in practice).
///
/// # Manual transitions (`transition_to`)
///
/// resilience4j's `StateTransition` set: every state may move to every other
/// except Closed → HalfOpen, MetricsOnly → Open and MetricsOnly → HalfOpen;
/// and, as in resilience4j 1.4+, a transition to the current state is allowed
/// and re-enters it (fresh metrics, a fresh open interval or fresh probe
/// permits, as the state's constructor would) without an event: it returns a
/// `Transition` whose `from == to` but leaves `last_transition` and
/// `transition_count` unchanged.
#[derive(Clone, Debug)]
pub struct Breaker {
    spec: BreakerSpec,
    state: BreakerState,
    detector: Detector,
    active: Active,
    permits: u32,
    probes_in_flight: u32,
    half_open_period: u32,
    attempts: u32,
    open_until: Timestamp,
    not_permitted: u64,
    clock: StateClock,
    last_transition: Option<Transition>,
    transitions: u64,
    /// The last exponential open interval computed: (attempts, ms), so the
    /// next one is one step away instead of `attempts` steps.
    interval_cache: (u32, u64),
    /// A call longer than this is slow: the spec's `slow_call_duration` in
    /// rate mode, `Span::MAX` (nothing is slow) in consecutive mode. Kept
    /// here so recording an outcome does not look through the spec.
    slow_call_duration: Span,
}

fn detector_for(spec: &BreakerSpec) -> Detector {
    match &spec.mode {
        ModeSpec::Rate(r) => {
            let thresholds = |min_calls: u32| Thresholds {
                failure_ppm: r.failure_ppm,
                slow_ppm: r.slow_ppm,
                min_calls: u64::from(min_calls),
            };
            let (closed, closed_thresholds) = match r.window {
                WindowSpec::Calls(n) => {
                    let th = thresholds(r.minimum_calls.min(n));
                    (Window::Count(CountWindow::new(n as usize, &th)), th)
                }
                WindowSpec::Seconds(s) => (
                    Window::Time(TimeWindow::new(s as usize)),
                    thresholds(r.minimum_calls),
                ),
            };
            let half_open_thresholds = thresholds(r.minimum_calls.min(r.half_open_calls));
            Detector::Rate {
                closed,
                closed_thresholds,
                half_open: CountWindow::new(r.half_open_calls as usize, &half_open_thresholds),
                half_open_thresholds,
            }
        }
        ModeSpec::Consecutive(_) => Detector::Consecutive { failures: 0 },
    }
}

impl Breaker {
    /// A closed breaker created at `now` (the start of its time accounting).
    pub fn new(spec: &BreakerSpec, now: Timestamp) -> Self {
        Breaker {
            detector: detector_for(spec),
            spec: spec.clone(),
            state: BreakerState::Closed,
            active: Active::Closed,
            permits: 0,
            probes_in_flight: 0,
            half_open_period: 0,
            attempts: 0,
            open_until: Timestamp::ZERO,
            not_permitted: 0,
            clock: StateClock {
                since: now,
                totals: [Span::ZERO; 6],
            },
            last_transition: None,
            transitions: 0,
            interval_cache: (0, 0),
            slow_call_duration: match &spec.mode {
                ModeSpec::Rate(r) => r.slow_call_duration,
                ModeSpec::Consecutive(_) => Span::MAX,
            },
        }
    }

    /// Decides whether a request may be sent at `now`. May move Open →
    /// HalfOpen (visible through [`Breaker::last_transition`]).
    #[must_use = "a rejected request must fail fast; a permitted one must report its outcome"]
    #[inline]
    pub fn handle_request(&mut self, now: Timestamp) -> Decision {
        self.request(now).0
    }

    /// [`Breaker::handle_request`], also saying whether it changed the state
    /// (Open → HalfOpen; then [`Breaker::last_transition`] is the change), so
    /// that a driver tracking transitions need not read the state around it.
    #[inline(always)]
    pub(crate) fn request(&mut self, now: Timestamp) -> (Decision, bool) {
        match self.state {
            BreakerState::Closed | BreakerState::Disabled | BreakerState::MetricsOnly => {
                (Decision::Admit, false)
            }
            BreakerState::HalfOpen => (self.take_permit(), false),
            BreakerState::Open if now >= self.open_until => {
                self.enter_half_open(now);
                (self.take_permit(), true)
            }
            BreakerState::Open | BreakerState::ForcedOpen => (self.reject(), false),
        }
    }

    /// Records the end of a call that `handle_request` permitted. `decision`
    /// is what it returned (a `Reject` is ignored), `duration` the call's
    /// latency, `rng` the source of jitter (drawn only when the breaker opens
    /// in consecutive mode with `jitter > 0`). Returns the transition this
    /// outcome caused, if any.
    #[inline]
    pub fn handle_outcome<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        decision: Decision,
        outcome: Outcome,
        duration: Span,
        rng: &mut R,
    ) -> Option<Transition> {
        // A `Reject` records nothing, so it causes no transition.
        self.record_outcome(now, decision, outcome, duration, rng)
            .then_some(self.last_transition)
            .flatten()
    }

    /// [`Breaker::handle_outcome`] saying only whether the state changed
    /// (then [`Breaker::last_transition`] is the change). One call: Closed,
    /// the state of nearly every outcome, is recorded inline; the other
    /// states are out of line.
    #[inline(always)]
    pub(crate) fn record_outcome<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        decision: Decision,
        outcome: Outcome,
        duration: Span,
        rng: &mut R,
    ) -> bool {
        if decision == Decision::Reject {
            return false;
        }
        if self.state == BreakerState::Closed {
            self.record_closed(now, outcome, duration, true, rng)
        } else {
            self.record_not_closed(now, decision, outcome, duration, rng)
        }
    }

    #[cold]
    #[inline(never)]
    fn record_not_closed<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        decision: Decision,
        outcome: Outcome,
        duration: Span,
        rng: &mut R,
    ) -> bool {
        let before = self.transitions;
        match self.state {
            BreakerState::Closed => {
                self.record_closed(now, outcome, duration, true, rng);
            }
            BreakerState::MetricsOnly => {
                self.record_closed(now, outcome, duration, false, rng);
            }
            BreakerState::Open => self.record_while_open(now, outcome, duration),
            BreakerState::HalfOpen
                if decision == Decision::Probe(ProbeTicket(self.half_open_period)) =>
            {
                self.record_probe(now, outcome, duration, rng)
            }
            BreakerState::HalfOpen | BreakerState::Disabled | BreakerState::ForcedOpen => {}
        }
        self.transitions != before
    }

    /// When the current Open period ends (the first instant a request is
    /// admitted as a probe); `None` in every other state.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        (self.state == BreakerState::Open).then_some(self.open_until)
    }

    /// Moves Open → HalfOpen if the open interval has ended by `now`
    /// (resilience4j's automatic transition). Returns the transition, if any.
    pub fn handle_timeout(&mut self, now: Timestamp) -> Option<Transition> {
        if self.state == BreakerState::Open && now >= self.open_until {
            self.enter_half_open(now);
            return self.last_transition;
        }
        None
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// The spec this breaker was built from.
    pub fn spec(&self) -> &BreakerSpec {
        &self.spec
    }

    /// The most recent state change.
    pub fn last_transition(&self) -> Option<Transition> {
        self.last_transition
    }

    /// Number of state changes since creation (compare two readings to see
    /// whether a call changed the state).
    pub fn transition_count(&self) -> u64 {
        self.transitions
    }

    /// Total time spent in `state` from creation up to `now` (e.g.
    /// `time_in(BreakerState::Open, now)` is the simulator's `breaker_open_s`).
    pub fn time_in(&self, state: BreakerState, now: Timestamp) -> Span {
        let mut total = self.clock.totals[state.index()];
        if self.state == state {
            total += now.saturating_since(self.clock.since);
        }
        total
    }

    /// Time spent in every state up to `now`, in the order Closed, Open,
    /// HalfOpen, Disabled, ForcedOpen, MetricsOnly (for reports).
    pub fn time_in_states(&self, now: Timestamp) -> [(BreakerState, Span); 6] {
        BreakerState::ALL.map(|s| (s, self.time_in(s, now)))
    }

    /// Number of consecutive openings without a close in between (resilience4j's
    /// `attempts`: 1 in the first Open period, 2 after a failed half-open...).
    pub fn open_attempts(&self) -> u32 {
        self.attempts
    }

    /// Probe calls sent in the current half-open period and not yet reported.
    pub fn probes_in_flight(&self) -> u32 {
        self.probes_in_flight
    }

    /// The current state's metrics as of `now` (`now` only matters for
    /// time-based windows, whose old buckets expire).
    pub fn metrics(&self, now: Timestamp) -> BreakerMetrics {
        let mut m = BreakerMetrics {
            not_permitted_calls: self.not_permitted,
            ..BreakerMetrics::default()
        };
        let (counts, thresholds) = match (&self.detector, self.active) {
            (Detector::Consecutive { failures }, _) => {
                m.consecutive_failures = *failures;
                return m;
            }
            (_, Active::Empty) => return m,
            (
                Detector::Rate {
                    closed,
                    closed_thresholds,
                    ..
                },
                Active::Closed,
            ) => (closed.counts_at(now), *closed_thresholds),
            (
                Detector::Rate {
                    half_open,
                    half_open_thresholds,
                    ..
                },
                Active::HalfOpen,
            ) => (half_open.counts(), *half_open_thresholds),
        };
        m.buffered_calls = counts.calls;
        m.failed_calls = counts.failed;
        m.successful_calls = counts.calls - counts.failed;
        m.slow_calls = counts.slow;
        m.slow_failed_calls = counts.slow_failed;
        if thresholds.verdict(counts) != Verdict::BelowMinimumCalls {
            let calls = counts.calls as f64;
            m.failure_rate = Some(counts.failed as f64 / calls);
            m.slow_call_rate = Some(counts.slow as f64 / calls);
        }
        m
    }

    /// A manual transition (resilience4j's `transitionTo*State`). Entering
    /// Closed, HalfOpen, MetricsOnly or Disabled starts fresh metrics; entering
    /// Open keeps the current ones and starts the next open interval; `rng`
    /// supplies its jitter in consecutive mode. Illegal, as in resilience4j:
    /// Closed → HalfOpen, MetricsOnly → Open, MetricsOnly → HalfOpen. X → X
    /// re-enters X without an event (see the type's docs).
    pub fn transition_to<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        to: BreakerState,
        rng: &mut R,
    ) -> Result<Transition, IllegalTransition> {
        use BreakerState::{Closed, HalfOpen, MetricsOnly, Open};
        let from = self.state;
        if matches!(
            (from, to),
            (Closed, HalfOpen) | (MetricsOnly, Open) | (MetricsOnly, HalfOpen)
        ) {
            return Err(IllegalTransition { from, to });
        }
        if from == to {
            self.reenter(now, rng);
            return Ok(Transition { at: now, from, to });
        }
        match to {
            BreakerState::Closed => self.enter_closed(now),
            BreakerState::Open => self.enter_open(now, rng),
            BreakerState::HalfOpen => self.enter_half_open(now),
            BreakerState::Disabled | BreakerState::ForcedOpen => {
                self.attempts = if to == BreakerState::ForcedOpen {
                    self.attempts.saturating_add(1)
                } else {
                    0
                };
                self.reset_metrics(Active::Empty);
                self.switch(now, to);
            }
            BreakerState::MetricsOnly => {
                self.attempts = 0;
                self.reset_metrics(Active::Closed);
                self.switch(now, to);
            }
        }
        Ok(Transition { at: now, from, to })
    }

    /// resilience4j's internal transition X → X: the state's constructor runs
    /// again, no event is published, the state's clock keeps running.
    fn reenter<R: Rng + ?Sized>(&mut self, now: Timestamp, rng: &mut R) {
        match self.state {
            // new ClosedState(): fresh metrics, attempts 0.
            BreakerState::Closed => {
                self.reset_metrics(Active::Closed);
                self.attempts = 0;
            }
            // new OpenState(attempts + 1, metrics): the next interval.
            BreakerState::Open => {
                self.attempts = self.attempts.saturating_add(1);
                self.open_until = now + self.open_interval(rng);
                self.permits = 0;
            }
            // new HalfOpenState(attempts): fresh permits and metrics; probes of
            // the old period no longer count.
            BreakerState::HalfOpen => {
                self.reset_metrics(Active::HalfOpen);
                self.half_open_period = self.half_open_period.wrapping_add(1);
                self.permits = self.spec.half_open_calls();
            }
            // new ForcedOpenState(attempts + 1).
            BreakerState::ForcedOpen => {
                self.attempts = self.attempts.saturating_add(1);
                self.reset_metrics(Active::Empty);
            }
            BreakerState::Disabled => self.reset_metrics(Active::Empty),
            BreakerState::MetricsOnly => self.reset_metrics(Active::Closed),
        }
    }

    /// Back to Closed with fresh metrics from any state (resilience4j's
    /// `reset()`); counts as a transition only if the state changes.
    pub fn reset(&mut self, now: Timestamp) {
        if self.state == BreakerState::Closed {
            self.reset_metrics(Active::Closed);
            self.attempts = 0;
        } else {
            self.enter_closed(now);
        }
    }

    #[inline]
    fn take_permit(&mut self) -> Decision {
        if self.permits > 0 {
            self.permits -= 1;
            self.probes_in_flight += 1;
            Decision::Probe(ProbeTicket(self.half_open_period))
        } else {
            self.reject()
        }
    }

    #[inline]
    fn reject(&mut self) -> Decision {
        self.not_permitted = self.not_permitted.saturating_add(1);
        Decision::Reject
    }

    #[inline]
    fn is_slow(&self, duration: Span) -> bool {
        duration > self.slow_call_duration
    }

    #[inline(always)]
    fn record_closed<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        outcome: Outcome,
        duration: Span,
        may_open: bool,
        rng: &mut R,
    ) -> bool {
        let failed = match outcome {
            Outcome::Ignored => return false,
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        let slow = self.is_slow(duration);
        let open = match &mut self.detector {
            Detector::Rate {
                closed,
                closed_thresholds,
                ..
            } => closed.record_verdict(now, failed, slow, closed_thresholds) == Verdict::Exceeded,
            Detector::Consecutive { failures } => {
                *failures = if failed {
                    failures.saturating_add(1)
                } else {
                    0
                };
                match &self.spec.mode {
                    ModeSpec::Consecutive(c) => *failures >= c.max_failures,
                    ModeSpec::Rate(_) => false,
                }
            }
        };
        if open && may_open {
            self.enter_open(now, rng);
            return true;
        }
        false
    }

    /// resilience4j keeps recording into the metrics carried into Open (calls
    /// admitted before the breaker opened); Linkerd ignores them.
    fn record_while_open(&mut self, now: Timestamp, outcome: Outcome, duration: Span) {
        let failed = match outcome {
            Outcome::Ignored => return,
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        let slow = self.is_slow(duration);
        if let Detector::Rate {
            closed, half_open, ..
        } = &mut self.detector
        {
            match self.active {
                Active::Closed => {
                    closed.record(now, failed, slow);
                }
                Active::HalfOpen => {
                    half_open.record(failed, slow);
                }
                Active::Empty => {}
            }
        }
    }

    fn record_probe<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        outcome: Outcome,
        duration: Span,
        rng: &mut R,
    ) {
        // Invariant: the ticket matched this period, so the probe holds one of
        // the in-flight permits; saturating keeps a misuse harmless.
        self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
        let failed = match outcome {
            Outcome::Ignored => {
                self.permits += 1;
                return;
            }
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        let slow = self.is_slow(duration);
        let verdict = match &mut self.detector {
            Detector::Rate {
                half_open,
                half_open_thresholds,
                ..
            } => half_open.record_verdict(failed, slow, half_open_thresholds),
            Detector::Consecutive { .. } if failed => Verdict::Exceeded,
            Detector::Consecutive { .. } => Verdict::BelowThresholds,
        };
        match verdict {
            Verdict::Exceeded => self.enter_open(now, rng),
            Verdict::BelowThresholds => self.enter_closed(now),
            Verdict::BelowMinimumCalls => {}
        }
    }

    fn open_interval<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Span {
        match &self.spec.mode {
            ModeSpec::Rate(r) => rate_open_interval(r, self.attempts, &mut self.interval_cache),
            ModeSpec::Consecutive(c) => {
                consecutive::penalty(c, self.attempts.saturating_sub(1), rng)
            }
        }
    }

    fn enter_open<R: Rng + ?Sized>(&mut self, now: Timestamp, rng: &mut R) {
        self.attempts = self.attempts.saturating_add(1);
        self.open_until = now + self.open_interval(rng);
        self.permits = 0;
        if let Detector::Consecutive { failures } = &mut self.detector {
            *failures = 0;
        }
        self.switch(now, BreakerState::Open);
    }

    fn enter_half_open(&mut self, now: Timestamp) {
        self.reset_metrics(Active::HalfOpen);
        self.half_open_period = self.half_open_period.wrapping_add(1);
        self.permits = self.spec.half_open_calls();
        self.probes_in_flight = 0;
        self.switch(now, BreakerState::HalfOpen);
    }

    fn enter_closed(&mut self, now: Timestamp) {
        self.reset_metrics(Active::Closed);
        self.attempts = 0;
        self.switch(now, BreakerState::Closed);
    }

    fn reset_metrics(&mut self, active: Active) {
        self.not_permitted = 0;
        self.permits = 0;
        self.probes_in_flight = 0;
        self.active = active;
        match &mut self.detector {
            Detector::Rate {
                closed, half_open, ..
            } => match active {
                Active::Closed => closed.clear(),
                Active::HalfOpen => half_open.clear(),
                Active::Empty => {}
            },
            Detector::Consecutive { failures } => *failures = 0,
        }
    }

    fn switch(&mut self, now: Timestamp, to: BreakerState) {
        let from = self.state;
        self.clock.totals[from.index()] += now.saturating_since(self.clock.since);
        self.clock.since = now;
        self.state = to;
        self.transitions += 1;
        self.last_transition = Some(Transition { at: now, from, to });
    }
}

/// resilience4j `IntervalFunction.ofExponentialBackoff(open_duration,
/// multiplier, open_duration_max)` for the `attempts`-th opening (1-based):
/// `LongStream.iterate(initialMs, x -> (long) (x * multiplier))` — whole
/// milliseconds, truncated at each step — then `min(i, maxMs)`. A constant
/// interval (multiplier 1) is returned exactly.
///
/// `cache` holds the last `(attempts, ms)` computed, so consecutive openings
/// cost one step each. The sequence never decreases (multiplier >= 1), so the
/// walk also stops at the cap or at a fixed point (`trunc(i × m) == i`).
fn rate_open_interval(r: &RateSpec, attempts: u32, cache: &mut (u32, u64)) -> Span {
    if r.multiplier == 1.0 {
        return r.open_duration.min(r.open_duration_max);
    }
    let max_ms = r.open_duration_max.as_nanos() / 1_000_000;
    let (mut step, mut ms) = if cache.0 >= 1 && cache.0 <= attempts {
        *cache
    } else {
        (1, r.open_duration.as_nanos() / 1_000_000)
    };
    while step < attempts && ms < max_ms {
        // Java's `(long) (x * multiplier)`: x < 2^53 here (at most u64::MAX
        // ns in ms), so the product is exact up to its last rounding and the
        // cast truncates (and saturates) as Java's does.
        let next = (ms as f64 * r.multiplier) as u64;
        step += 1;
        if next == ms {
            // A fixed point: every later step gives the same value.
            step = attempts;
        }
        ms = next;
    }
    *cache = (step.max(attempts), ms);
    Span::from_millis(ms.min(max_ms))
}
