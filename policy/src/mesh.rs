//! One call edge as a client-side proxy sees it: the overall deadline, retries
//! with backoff and budget, and the circuit breaker, composed into one state
//! machine that the simulator (simulated time) and the sidecar (real time)
//! drive identically.
//!
//! The parts are the crate's own policies ([`crate::retry`],
//! [`crate::breaker`]); this module only fixes how they combine, so that the
//! combination is written once:
//!
//! - the breaker is asked before **every** try (a retry can be refused by a
//!   breaker that opened meanwhile); a refused try ends the call at once as
//!   [`Finish::Rejected`] — fail fast, never retried (Envoy's overflow reply,
//!   Linkerd's fail-fast), answered with the edge's fallback if it has one;
//! - every permitted try reports exactly one outcome to the breaker, at the
//!   moment the caller stops waiting for it: the response, or
//!   [`TryOutcome::Timeout`] at its per-try deadline (a response that comes
//!   later is the callee's wasted work, not an outcome);
//! - the retry policy decides what follows a try ([`crate::retry::RetryState`]:
//!   `retry_on`, attempts, deadline, backoff or `Retry-After`, budget);
//! - the overall deadline (`[policy.mesh] timeout`) covers every try and
//!   backoff; without a retry policy a call has one try bounded by it.
//!
//! Breaker outcomes: a 5xx response, a connect failure, a reset or a timeout
//! is a failure; 429 and other responses are successes (the callee answered;
//! a rate limit says nothing about its health), and a success slower than the
//! breaker's `slow_call_duration` counts as slow.
//!
//! # Call order
//!
//! One [`EdgeClient`] per (caller instance, callee) — each proxy keeps its own
//! breaker and budget. Per call:
//!
//! 1. `let mut call = client.start(now);` (deposits into the retry budget).
//! 2. `match client.begin_try(now, &mut call)`:
//!    [`TryStart::Send`] → send the try and stop waiting for it at
//!    `per_try_deadline`; [`TryStart::Rejected`] → the call is over
//!    (`client.fallback()` says whether to answer with the fallback).
//! 3. When the try's response arrives, or at `per_try_deadline` with
//!    [`TryOutcome::Timeout`]: `client.end_try(now, &mut call, outcome, rng)`:
//!    [`Next::Finish`] → the call is over; [`Next::RetryAt`] → at `at`, go to 2.
//!
//! A try's outcome must be reported once; a second report, or one after the
//! call finished, returns `Next::Finish(Finish::Ignored)` and changes nothing.
//!
//! # Requests that cannot be retried
//!
//! A proxy cannot resend every request: a non-idempotent method, or a body
//! it did not keep, can only be sent once. Start such a call with
//! [`EdgeClient::start_with`]`(now, false)` (or call
//! [`CallState::forbid_retries`] once it is known): its tries keep the
//! deadlines and the breaker, but a failure the retry policy would retry
//! ends the call as [`Finish::GaveUp`] with
//! [`GiveUpReason::NotRetryable`], and **nothing is withdrawn from the retry
//! budget** (a retry that is never sent must not spend it).
//!
//! # Retry host selection
//!
//! [`PreviousHosts`] is Envoy's `previous_hosts` retry host predicate: a
//! call remembers the hosts its tries went to, and the pick for a retry is
//! redrawn (up to `host_selection_retry_max_attempts` times, Envoy's default
//! 1) while it lands on one of them; after that the last pick is used.

mod hedged;

pub use hedged::{AttemptKind, AttemptPermit, AttemptStart, HedgedNext, HedgedStart};

use rand_core::Rng;

use crate::breaker::{Breaker, BreakerState, Decision, Outcome, Transition};
use crate::retry::{GiveUpReason, RetryBudget, RetryDecision, RetryPolicy, RetryState, TryOutcome};
use crate::tables::{EdgePolicy, Fallback};
use crate::time::{Span, Timestamp};

/// The client side of one call edge: its policy, breaker and retry budget.
#[derive(Clone, Debug)]
pub struct EdgeClient {
    timeout: Option<Span>,
    retry: Option<RetryPolicy>,
    budget: Option<RetryBudget>,
    breaker: Option<Breaker>,
    fallback: Option<Fallback>,
    /// The hedge policy and its latency tracker, on hedged edges (boxed:
    /// most edges do not hedge). See [`hedged`].
    hedging: Option<Box<hedged::Hedging>>,
    stats: EdgeStats,
}

/// Counters of one [`EdgeClient`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgeStats {
    /// Calls started.
    pub calls: u64,
    /// Tries sent (first tries, retries and hedges).
    pub tries: u64,
    /// Retries sent.
    pub retries: u64,
    /// Hedges sent (see [`EdgeClient::begin_hedged`]).
    pub hedges: u64,
    /// Tries refused by the breaker.
    pub rejected: u64,
    /// Retries and hedges the budget refused.
    pub budget_refused: u64,
    /// Tries abandoned at their per-try or overall deadline.
    pub timeouts: u64,
}

/// The state of one call (a few words; keep it with the call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallState {
    started: Timestamp,
    deadline: Timestamp,
    retry: Option<RetryState>,
    /// The try in flight: when it started and what the breaker said.
    in_flight: Option<(Timestamp, Decision)>,
    tries: u32,
    finished: bool,
    /// False: a failure ends the call instead of being retried (see the
    /// module docs).
    retryable: bool,
}

impl CallState {
    /// When the call started.
    pub fn started(&self) -> Timestamp {
        self.started
    }

    /// The overall deadline (`Timestamp::MAX` without a timeout).
    pub fn deadline(&self) -> Timestamp {
        self.deadline
    }

    /// Tries sent so far.
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// Whether the call is over.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether a try is in flight.
    pub fn has_try_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Whether a failed try may still be retried (the call was started
    /// retryable and [`CallState::forbid_retries`] was not called).
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// From now on a failure the retry policy would retry ends the call as
    /// [`Finish::GaveUp`] with [`GiveUpReason::NotRetryable`], without a
    /// withdrawal from the retry budget. For a driver that learns late that
    /// it cannot resend the request (e.g. its body outgrew the buffer).
    pub fn forbid_retries(&mut self) {
        self.retryable = false;
    }
}

/// What [`EdgeClient::begin_try`] decided.
#[must_use = "a permitted try must be sent and its outcome reported; a rejection ends the call"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryStart {
    /// Send the try; stop waiting for it at `per_try_deadline` and report
    /// [`TryOutcome::Timeout`] then.
    Send {
        /// When the caller gives up on this try.
        per_try_deadline: Timestamp,
        /// 1 for the first try, 2 for the first retry...
        number: u32,
    },
    /// The breaker refused the try: the call ends as [`Finish::Rejected`].
    Rejected,
}

/// What follows a try.
#[must_use = "the call either continues at `at` or is over"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Send the next try (call [`EdgeClient::begin_try`]) at `at`.
    RetryAt {
        /// When.
        at: Timestamp,
    },
    /// The call is over.
    Finish(Finish),
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The last try's outcome is the answer (a success, or a failure that is
    /// not retryable, or the last allowed try's failure): deliver it.
    Answered(TryOutcome),
    /// The call failed and will not be retried.
    GaveUp {
        /// The last try's outcome.
        last: TryOutcome,
        /// Why no further try is made.
        reason: GiveUpReason,
    },
    /// The breaker refused a try.
    Rejected,
    /// The report was ignored (no try in flight, or the call already over).
    Ignored,
}

impl EdgeClient {
    /// A client for one edge, created at `now` (breaker closed, budget empty).
    pub fn new(policy: &EdgePolicy, now: Timestamp) -> Self {
        EdgeClient {
            timeout: policy.timeout,
            retry: policy.retry,
            // The retry policy's budget, else the hedge policy's own: retries
            // and hedges of the edge draw on one budget.
            budget: policy.budget().map(|b| RetryBudget::new(&b, now)),
            breaker: policy
                .circuit_breaker
                .as_ref()
                .map(|spec| Breaker::new(spec, now)),
            fallback: policy.fallback.clone(),
            hedging: policy.hedge.map(|h| Box::new(hedged::Hedging::new(h, now))),
            stats: EdgeStats::default(),
        }
    }

    /// Starts a call at `now` (a deposit into the retry budget).
    #[inline]
    pub fn start(&mut self, now: Timestamp) -> CallState {
        self.start_with(now, true)
    }

    /// Starts a call at `now` that may (`retryable`) or may not be retried.
    /// Either way it deposits into the retry budget (it is a request the
    /// budget's ratio counts) and keeps the per-try and overall deadlines
    /// and the breaker; a call that is not retryable never withdraws (see
    /// the module docs).
    #[inline]
    pub fn start_with(&mut self, now: Timestamp, retryable: bool) -> CallState {
        self.stats.calls += 1;
        let (retry, deadline) = match (&self.retry, &mut self.budget) {
            (Some(policy), Some(budget)) => {
                let state = policy.start(now, budget);
                (Some(state), state.deadline())
            }
            (_, budget) => {
                // A hedged edge without retries: its hedges' own budget.
                if let Some(budget) = budget {
                    budget.deposit(now);
                }
                (None, self.timeout.map_or(Timestamp::MAX, |t| now + t))
            }
        };
        CallState {
            started: now,
            deadline,
            retry,
            in_flight: None,
            tries: 0,
            finished: false,
            retryable,
        }
    }

    /// Asks the breaker whether the next try of `call` may be sent at `now`.
    #[inline]
    pub fn begin_try(&mut self, now: Timestamp, call: &mut CallState) -> TryStart {
        self.begin_try_reporting(now, call).0
    }

    /// [`EdgeClient::begin_try`], also returning the breaker transition it
    /// caused, if any (Open → HalfOpen when the open period is over), for
    /// drivers that track the breaker's state: the same as comparing
    /// [`EdgeClient::breaker_state`] before and after, without reading it.
    #[inline(always)]
    pub fn begin_try_reporting(
        &mut self,
        now: Timestamp,
        call: &mut CallState,
    ) -> (TryStart, Option<Transition>) {
        if call.finished || call.in_flight.is_some() {
            debug_assert!(
                false,
                "begin_try on a finished call or with a try in flight"
            );
            return (TryStart::Rejected, None);
        }
        let (decision, changed) = match &mut self.breaker {
            Some(breaker) => breaker.request(now),
            None => (Decision::Admit, false),
        };
        let transition = if changed {
            self.last_transition()
        } else {
            None
        };
        if decision == Decision::Reject {
            self.stats.rejected += 1;
            call.finished = true;
            return (TryStart::Rejected, transition);
        }
        call.tries += 1;
        self.stats.tries += 1;
        if call.tries > 1 {
            self.stats.retries += 1;
        }
        call.in_flight = Some((now, decision));
        let per_try_deadline = match &call.retry {
            // The retry state set this try's deadline when it was started
            // (try 1) or scheduled (later tries).
            Some(state) => state.per_try_deadline(),
            None => call.deadline,
        };
        (
            TryStart::Send {
                per_try_deadline,
                number: call.tries,
            },
            transition,
        )
    }

    /// Reports how the try in flight ended at `now` and decides what follows.
    pub fn end_try(
        &mut self,
        now: Timestamp,
        call: &mut CallState,
        outcome: TryOutcome,
        rng: &mut impl Rng,
    ) -> Next {
        self.end_try_reporting(now, call, outcome, rng).0
    }

    /// [`EdgeClient::end_try`], also returning the breaker transition the
    /// outcome caused, if any (see [`EdgeClient::begin_try_reporting`]).
    #[inline]
    pub fn end_try_reporting(
        &mut self,
        now: Timestamp,
        call: &mut CallState,
        outcome: TryOutcome,
        rng: &mut impl Rng,
    ) -> (Next, Option<Transition>) {
        let Some((sent, decision)) = call.in_flight.take() else {
            return (Next::Finish(Finish::Ignored), None);
        };
        if call.finished {
            return (Next::Finish(Finish::Ignored), None);
        }
        if outcome == TryOutcome::Timeout {
            self.stats.timeouts += 1;
        }
        let changed = match &mut self.breaker {
            Some(breaker) => breaker.record_outcome(
                now,
                decision,
                breaker_outcome(&outcome),
                now.saturating_since(sent),
                rng,
            ),
            None => false,
        };
        let transition = if changed {
            self.last_transition()
        } else {
            None
        };
        let next = self.after_try(now, call, outcome, rng);
        if matches!(next, Next::Finish(_)) {
            call.finished = true;
        }
        (next, transition)
    }

    /// The breaker's last transition (out of line: transitions are rare).
    #[cold]
    #[inline(never)]
    fn last_transition(&self) -> Option<Transition> {
        self.breaker.as_ref().and_then(Breaker::last_transition)
    }

    /// What the retry policy makes of the last try's `outcome` (the try the
    /// call's outcome depends on; with hedging, the last of a lost race).
    ///
    /// Inlined fast path for the answer of most tries (one the retry policy
    /// does not retry); everything else is [`EdgeClient::decide_after_try`].
    #[inline(always)]
    fn after_try(
        &mut self,
        now: Timestamp,
        call: &mut CallState,
        outcome: TryOutcome,
        rng: &mut impl Rng,
    ) -> Next {
        if let (Some(policy), Some(state), Some(_)) = (&self.retry, &mut call.retry, &self.budget)
            && call.retryable
            && state.finish_unless_retried(policy, &outcome)
        {
            return Next::Finish(Finish::Answered(outcome));
        }
        self.decide_after_try(now, call, outcome, rng)
    }

    /// The full decision after a try: retries, give-ups, calls that cannot
    /// be retried, edges without a retry policy. Out of line, so the inlined
    /// fast path stays small.
    #[inline(never)]
    fn decide_after_try(
        &mut self,
        now: Timestamp,
        call: &mut CallState,
        outcome: TryOutcome,
        rng: &mut impl Rng,
    ) -> Next {
        match (&self.retry, &mut call.retry, &mut self.budget) {
            (Some(policy), Some(_), Some(_)) if !call.retryable => {
                if policy.retry_on().matches(&outcome) {
                    // The policy would retry; this call cannot be resent.
                    Next::Finish(Finish::GaveUp {
                        last: outcome,
                        reason: GiveUpReason::NotRetryable,
                    })
                } else {
                    Next::Finish(Finish::Answered(outcome))
                }
            }
            (Some(policy), Some(state), Some(budget)) => {
                let refused_before = budget.stats().refused;
                let decision = state.handle_outcome(policy, now, outcome, budget, rng);
                if budget.stats().refused > refused_before {
                    self.stats.budget_refused += 1;
                }
                match decision {
                    RetryDecision::RetryAt { at, .. } => Next::RetryAt { at },
                    RetryDecision::Done => Next::Finish(Finish::Answered(outcome)),
                    RetryDecision::GiveUp(GiveUpReason::NotRetryable) => {
                        Next::Finish(Finish::Answered(outcome))
                    }
                    RetryDecision::GiveUp(reason) => Next::Finish(Finish::GaveUp {
                        last: outcome,
                        reason,
                    }),
                }
            }
            _ if outcome == TryOutcome::Timeout => Next::Finish(Finish::GaveUp {
                last: outcome,
                reason: GiveUpReason::DeadlineExceeded,
            }),
            _ => Next::Finish(Finish::Answered(outcome)),
        }
    }

    /// Abandons `call` without reporting an outcome for its try in flight
    /// (the caller itself went away, e.g. its own caller gave up and the
    /// driver cancels the whole subtree). The breaker permit is returned as
    /// an ignored outcome so a half-open probe slot is not leaked.
    pub fn cancel(&mut self, now: Timestamp, call: &mut CallState, rng: &mut impl Rng) {
        if let (Some((sent, decision)), Some(breaker)) = (call.in_flight.take(), &mut self.breaker)
        {
            breaker.record_outcome(
                now,
                decision,
                Outcome::Ignored,
                now.saturating_since(sent),
                rng,
            );
        }
        call.finished = true;
    }

    /// The edge's fallback, answered instead of an error when the breaker
    /// rejects a try.
    pub fn fallback(&self) -> Option<&Fallback> {
        self.fallback.as_ref()
    }

    /// The breaker, if the edge has one.
    pub fn breaker(&self) -> Option<&Breaker> {
        self.breaker.as_ref()
    }

    /// The breaker's state (`Closed` without a breaker).
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker
            .as_ref()
            .map_or(BreakerState::Closed, Breaker::state)
    }

    /// When the breaker's open period ends, for drivers that move Open →
    /// HalfOpen eagerly (optional: the move also happens on the next try).
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.breaker.as_ref().and_then(Breaker::poll_timeout)
    }

    /// Fires the breaker's timer at `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if let Some(breaker) = &mut self.breaker {
            let _ = breaker.handle_timeout(now);
        }
    }

    /// Counters.
    pub fn stats(&self) -> EdgeStats {
        self.stats
    }

    /// The overall timeout of a call, if any.
    pub fn timeout(&self) -> Option<Span> {
        self.timeout
    }

    /// The bound on each try, if the retry policy sets one.
    pub fn per_try_timeout(&self) -> Option<Span> {
        self.retry.as_ref().and_then(RetryPolicy::per_try_timeout)
    }
}

/// How the breaker counts a try's outcome (see the module docs).
pub fn breaker_outcome(outcome: &TryOutcome) -> Outcome {
    match *outcome {
        TryOutcome::Response { status, .. } if status >= 500 => Outcome::Failure,
        TryOutcome::Response { .. } => Outcome::Success,
        TryOutcome::ConnectFailure | TryOutcome::Reset | TryOutcome::Timeout => Outcome::Failure,
    }
}

/// Envoy's default `host_selection_retry_max_attempts`: a retry's pick is
/// redrawn once if it lands on a host the call already tried.
pub const HOST_SELECTION_RETRY_MAX_ATTEMPTS: u32 = 1;

/// Envoy's `previous_hosts` retry host predicate for one call: the hosts
/// (driver-chosen `u32` ids) its tries were sent to. Keep it next to the
/// call's [`CallState`]; it remembers the last [`PreviousHosts::CAPACITY`]
/// hosts (older ones are forgotten, so a long retry chain may revisit them).
///
/// Call order: [`PreviousHosts::select`] to pick each try's host, then
/// [`PreviousHosts::record`] with the host the try is sent to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PreviousHosts {
    hosts: [u32; PreviousHosts::CAPACITY],
    len: u8,
    /// Ring position of the next record once full.
    next: u8,
}

impl PreviousHosts {
    /// Hosts remembered per call.
    pub const CAPACITY: usize = 6;

    /// No host tried yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers that a try of the call went to `host`.
    pub fn record(&mut self, host: u32) {
        if self.contains(host) {
            return;
        }
        if usize::from(self.len) < Self::CAPACITY {
            self.hosts[usize::from(self.len)] = host;
            self.len += 1;
        } else {
            self.hosts[usize::from(self.next)] = host;
            self.next = (self.next + 1) % Self::CAPACITY as u8;
        }
    }

    /// Whether a try of the call went to `host` (among the remembered ones).
    pub fn contains(&self, host: u32) -> bool {
        self.hosts[..usize::from(self.len)].contains(&host)
    }

    /// Hosts remembered.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether no host is remembered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Picks a host with `pick` (the load balancer), redrawing up to
    /// `max_redraws` times while the pick is a host already tried; returns
    /// the first pick not tried before, else the last pick (Envoy: "at which
    /// point the host that was last selected will be routed to"). `None`
    /// when `pick` finds no host. A first try (nothing recorded) draws once.
    pub fn select(&self, max_redraws: u32, mut pick: impl FnMut() -> Option<u32>) -> Option<u32> {
        let mut host = pick()?;
        for _ in 0..max_redraws {
            if !self.contains(host) {
                break;
            }
            host = pick()?;
        }
        Some(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::BreakerConfig;
    use crate::retry::RetryConfig;
    use crate::tables::MeshConfig;
    use rand_core::SeedableRng;

    fn ms(n: u64) -> Span {
        Span::from_millis(n)
    }

    fn edge(mesh: MeshConfig) -> EdgePolicy {
        crate::PolicyConfig {
            mesh,
            ..Default::default()
        }
        .validate()
        .unwrap()
        .mesh
    }

    fn rng() -> rand_pcg::Pcg64 {
        rand_pcg::Pcg64::seed_from_u64(7)
    }

    #[test]
    fn no_policy_is_one_try_answered_as_is() {
        let mut c = EdgeClient::new(&edge(MeshConfig::default()), Timestamp::ZERO);
        let mut call = c.start(Timestamp::ZERO);
        assert_eq!(call.deadline(), Timestamp::MAX);
        let TryStart::Send {
            per_try_deadline,
            number,
        } = c.begin_try(Timestamp::ZERO, &mut call)
        else {
            panic!("no breaker: sent")
        };
        assert_eq!((per_try_deadline, number), (Timestamp::MAX, 1));
        let out = TryOutcome::status(503);
        let next = c.end_try(Timestamp::ZERO + ms(3), &mut call, out, &mut rng());
        assert_eq!(next, Next::Finish(Finish::Answered(out)));
        assert!(call.is_finished());
        // A second report is ignored.
        let again = c.end_try(Timestamp::ZERO + ms(4), &mut call, out, &mut rng());
        assert_eq!(again, Next::Finish(Finish::Ignored));
    }

    #[test]
    fn timeout_without_retry_gives_up_at_the_deadline() {
        let mut c = EdgeClient::new(
            &edge(MeshConfig {
                timeout: Some(ms(100)),
                ..Default::default()
            }),
            Timestamp::ZERO,
        );
        let t0 = Timestamp::ZERO + ms(5);
        let mut call = c.start(t0);
        let TryStart::Send {
            per_try_deadline, ..
        } = c.begin_try(t0, &mut call)
        else {
            panic!()
        };
        assert_eq!(per_try_deadline, t0 + ms(100));
        let next = c.end_try(per_try_deadline, &mut call, TryOutcome::Timeout, &mut rng());
        assert_eq!(
            next,
            Next::Finish(Finish::GaveUp {
                last: TryOutcome::Timeout,
                reason: GiveUpReason::DeadlineExceeded
            })
        );
        assert_eq!(c.stats().timeouts, 1);
    }

    #[test]
    fn retries_follow_the_retry_policy_and_count() {
        let mut c = EdgeClient::new(
            &edge(MeshConfig {
                timeout: Some(ms(1000)),
                retry: Some(RetryConfig {
                    attempts: Some(3),
                    per_try_timeout: Some(ms(100)),
                    jitter: Some(crate::retry::Jitter::None),
                    base: Some(ms(10)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            Timestamp::ZERO,
        );
        let mut r = rng();
        let mut now = Timestamp::ZERO;
        let mut call = c.start(now);
        let mut tries = Vec::new();
        loop {
            let TryStart::Send {
                per_try_deadline,
                number,
            } = c.begin_try(now, &mut call)
            else {
                panic!("no breaker")
            };
            tries.push((now, per_try_deadline, number));
            now = per_try_deadline;
            match c.end_try(now, &mut call, TryOutcome::Timeout, &mut r) {
                Next::RetryAt { at } => now = at,
                Next::Finish(f) => {
                    assert_eq!(
                        f,
                        Finish::GaveUp {
                            last: TryOutcome::Timeout,
                            reason: GiveUpReason::AttemptsExhausted
                        }
                    );
                    break;
                }
            }
        }
        // Exponential backoff 10 ms then 20 ms, no jitter; 100 ms per try.
        let t = |n| Timestamp::ZERO + ms(n);
        assert_eq!(
            tries,
            [(t(0), t(100), 1), (t(110), t(210), 2), (t(230), t(330), 3)]
        );
        let s = c.stats();
        assert_eq!((s.calls, s.tries, s.retries, s.timeouts), (1, 3, 2, 3));
    }

    #[test]
    fn an_open_breaker_rejects_tries_and_half_opens_after_its_interval() {
        let mut c = EdgeClient::new(
            &edge(MeshConfig {
                circuit_breaker: Some(BreakerConfig {
                    window: Some(crate::breaker::WindowSize::Calls(4)),
                    minimum_calls: Some(4),
                    failure_rate_threshold: Some(0.5),
                    open_duration: Some(Span::from_secs(30)),
                    half_open_calls: Some(1),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            Timestamp::ZERO,
        );
        let mut r = rng();
        let mut now = Timestamp::ZERO;
        for status in [500, 200, 500, 200] {
            let mut call = c.start(now);
            assert!(matches!(c.begin_try(now, &mut call), TryStart::Send { .. }));
            now += ms(1);
            let _ = c.end_try(now, &mut call, TryOutcome::status(status), &mut r);
        }
        assert_eq!(
            c.breaker_state(),
            BreakerState::Open,
            "2 of 4 failed: 50 % trips"
        );
        let mut call = c.start(now);
        assert_eq!(c.begin_try(now, &mut call), TryStart::Rejected);
        assert!(call.is_finished());
        assert_eq!(c.stats().rejected, 1);
        let reopen = c.poll_timeout().unwrap();
        assert_eq!(reopen, now + Span::from_secs(30));
        let mut probe = c.start(reopen);
        assert!(matches!(
            c.begin_try(reopen, &mut probe),
            TryStart::Send { .. }
        ));
        assert_eq!(c.breaker_state(), BreakerState::HalfOpen);
        let _ = c.end_try(reopen + ms(1), &mut probe, TryOutcome::status(200), &mut r);
        assert_eq!(c.breaker_state(), BreakerState::Closed);
    }

    #[test]
    fn cancel_returns_a_probe_permit() {
        let mut c = EdgeClient::new(
            &edge(MeshConfig {
                circuit_breaker: Some(BreakerConfig {
                    window: Some(crate::breaker::WindowSize::Calls(1)),
                    minimum_calls: Some(1),
                    open_duration: Some(Span::from_secs(1)),
                    half_open_calls: Some(1),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            Timestamp::ZERO,
        );
        let mut r = rng();
        let t0 = Timestamp::ZERO;
        let mut call = c.start(t0);
        let _ = c.begin_try(t0, &mut call);
        let _ = c.end_try(t0, &mut call, TryOutcome::Reset, &mut r);
        assert_eq!(c.breaker_state(), BreakerState::Open);
        let t1 = t0 + Span::from_secs(1);
        let mut probe = c.start(t1);
        assert!(matches!(c.begin_try(t1, &mut probe), TryStart::Send { .. }));
        let mut other = c.start(t1);
        assert_eq!(
            c.begin_try(t1, &mut other),
            TryStart::Rejected,
            "one permit"
        );
        c.cancel(t1, &mut probe, &mut r);
        let mut again = c.start(t1);
        assert!(
            matches!(c.begin_try(t1, &mut again), TryStart::Send { .. }),
            "the cancelled probe's permit is back"
        );
    }

    #[test]
    fn breaker_counts_5xx_and_transport_failures_only() {
        assert_eq!(breaker_outcome(&TryOutcome::status(500)), Outcome::Failure);
        assert_eq!(breaker_outcome(&TryOutcome::status(503)), Outcome::Failure);
        assert_eq!(breaker_outcome(&TryOutcome::status(429)), Outcome::Success);
        assert_eq!(breaker_outcome(&TryOutcome::status(404)), Outcome::Success);
        assert_eq!(breaker_outcome(&TryOutcome::Timeout), Outcome::Failure);
        assert_eq!(breaker_outcome(&TryOutcome::Reset), Outcome::Failure);
        assert_eq!(
            breaker_outcome(&TryOutcome::ConnectFailure),
            Outcome::Failure
        );
    }

    #[test]
    #[cfg(feature = "serde")]
    fn fallback_parses_and_overrides_per_edge() {
        let config: crate::PolicyConfig = toml::from_str(
            r#"
            [mesh]
            fallback = "degraded"
            [mesh.edges."api->recs"]
            fallback = { status = 200, body = "[]", content_type = "application/json" }
            "#,
        )
        .unwrap();
        let p = config.validate().unwrap();
        assert_eq!(p.mesh.fallback, Some(Fallback::Degraded));
        assert_eq!(
            p.edge("api", "recs").fallback,
            Some(Fallback::Response {
                status: 200,
                body: "[]".into(),
                content_type: "application/json".into()
            })
        );
        for (bad, key) in [
            (r#"fallback = "cached""#, "policy.mesh.fallback"),
            (
                r#"fallback = { status = 99 }"#,
                "policy.mesh.fallback.status",
            ),
        ] {
            let config: crate::PolicyConfig = toml::from_str(&format!("[mesh]\n{bad}")).unwrap();
            assert_eq!(config.validate().unwrap_err().key(), key);
        }
    }

    fn retrying(budget: Option<crate::retry::BudgetConfig>) -> EdgeClient {
        EdgeClient::new(
            &edge(MeshConfig {
                timeout: Some(ms(1000)),
                retry: Some(RetryConfig {
                    attempts: Some(3),
                    jitter: Some(crate::retry::Jitter::None),
                    base: Some(ms(10)),
                    budget,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            Timestamp::ZERO,
        )
    }

    #[test]
    fn a_call_that_cannot_be_retried_gives_up_without_spending_the_budget() {
        // Budget: 20 % of requests, no floor: 5 deposits buy one retry.
        let budget = crate::retry::BudgetConfig {
            ratio: Some(0.2),
            min_per_s: Some(0),
            ..Default::default()
        };
        let mut c = retrying(Some(budget));
        let mut r = rng();
        let t = Timestamp::ZERO;
        for _ in 0..5 {
            let mut call = c.start_with(t, false);
            assert!(!call.is_retryable());
            assert!(matches!(c.begin_try(t, &mut call), TryStart::Send { .. }));
            let next = c.end_try(t + ms(1), &mut call, TryOutcome::status(503), &mut r);
            assert_eq!(
                next,
                Next::Finish(Finish::GaveUp {
                    last: TryOutcome::status(503),
                    reason: GiveUpReason::NotRetryable
                })
            );
            assert!(call.is_finished());
            // An answer the policy would not retry is delivered as usual.
            let mut ok = c.start_with(t, false);
            let _ = c.begin_try(t, &mut ok);
            let next = c.end_try(t + ms(1), &mut ok, TryOutcome::status(200), &mut r);
            assert_eq!(
                next,
                Next::Finish(Finish::Answered(TryOutcome::status(200)))
            );
        }
        let s = c.stats();
        assert_eq!((s.calls, s.retries, s.budget_refused), (10, 0, 0));
        // The 10 deposits are all still there: a retryable call retries.
        let mut call = c.start(t);
        assert!(call.is_retryable());
        let _ = c.begin_try(t, &mut call);
        let next = c.end_try(t + ms(1), &mut call, TryOutcome::status(503), &mut r);
        assert_eq!(next, Next::RetryAt { at: t + ms(11) });
    }

    #[test]
    fn forbidding_retries_late_matches_starting_without() {
        let mut late = retrying(None);
        let mut early = retrying(None);
        let mut r = rng();
        let t = Timestamp::ZERO;
        let mut a = late.start(t);
        let mut b = early.start_with(t, false);
        a.forbid_retries();
        assert_eq!(a, b);
        let _ = late.begin_try(t, &mut a);
        let _ = early.begin_try(t, &mut b);
        let out = TryOutcome::Reset;
        assert_eq!(
            late.end_try(t, &mut a, out, &mut r),
            early.end_try(t, &mut b, out, &mut r)
        );
        assert_eq!(late.stats(), early.stats());
    }

    #[test]
    fn previous_hosts_redraws_a_tried_host_up_to_the_limit() {
        let mut tried = PreviousHosts::new();
        assert!(tried.is_empty());
        // A first try takes the first pick.
        let mut picks = [4u32, 4, 7].into_iter();
        assert_eq!(tried.select(1, || picks.next()), Some(4));
        tried.record(4);
        tried.record(4);
        assert_eq!(tried.len(), 1);
        // A retry that lands on 4 again is redrawn once.
        let mut picks = [4u32, 7, 9].into_iter();
        assert_eq!(tried.select(1, || picks.next()), Some(7));
        assert_eq!(picks.next(), Some(9), "exactly one redraw");
        // Redraws exhausted: the last pick is used even if tried.
        let mut picks = [4u32, 4, 4].into_iter();
        assert_eq!(tried.select(1, || picks.next()), Some(4));
        assert_eq!(picks.next(), Some(4));
        let mut picks = [4u32, 4, 5].into_iter();
        assert_eq!(tried.select(2, || picks.next()), Some(5));
        // No host at all.
        assert_eq!(tried.select(3, || None), None);
    }

    #[test]
    fn previous_hosts_forgets_the_oldest_beyond_capacity() {
        let mut tried = PreviousHosts::new();
        let n = PreviousHosts::CAPACITY as u32;
        for h in 0..n {
            tried.record(h);
        }
        assert!((0..n).all(|h| tried.contains(h)));
        tried.record(n);
        assert_eq!(tried.len(), PreviousHosts::CAPACITY);
        assert!(!tried.contains(0) && tried.contains(n) && tried.contains(1));
        tried.record(n + 1);
        assert!(!tried.contains(1) && tried.contains(n + 1));
    }

    #[test]
    fn previous_hosts_on_round_robin_never_repeats_while_hosts_remain() {
        // Three hosts behind a round robin: with one redraw, three tries of
        // one call reach three different hosts whatever the cursor.
        for offset in 0..3u32 {
            let mut cursor = offset;
            let mut rr = || {
                let h = cursor % 3;
                cursor += 1;
                Some(h)
            };
            let mut tried = PreviousHosts::new();
            let mut sent = Vec::new();
            for _ in 0..3 {
                let h = tried
                    .select(HOST_SELECTION_RETRY_MAX_ATTEMPTS, &mut rr)
                    .unwrap();
                tried.record(h);
                sent.push(h);
            }
            sent.sort_unstable();
            assert_eq!(sent, [0, 1, 2], "offset {offset}");
        }
    }
}
