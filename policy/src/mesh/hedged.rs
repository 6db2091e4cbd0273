//! Hedged calls on an [`EdgeClient`]: the call's deadline, retries and
//! breaker (as for a plain call) composed with [`crate::hedge::HedgeState`],
//! so that several attempts of one call can be in flight at once.
//!
//! # Call order
//!
//! On an edge whose policy has a `hedge` table ([`EdgeClient::is_hedged`]),
//! per call at `now`:
//!
//! 1. `let mut call = client.start(now);` (deposits into the budget that
//!    retries and hedges share), then `client.begin_hedged(now, &mut call)`:
//!    [`HedgedStart::Send`] → keep its [`crate::hedge::HedgeState`] with the
//!    call, send attempt `permit` (stop waiting for it at
//!    `per_try_deadline`) and arm the hedge timer at `hedge.poll_timeout()`;
//!    [`HedgedStart::Rejected`] → the call is over, as
//!    [`TryStart::Rejected`](super::TryStart::Rejected).
//! 2. At `hedge.poll_timeout()`: `client.handle_hedge_timeout(now, &mut call,
//!    &mut hedge)`: `Some(AttemptStart::Send { permit, .. })` → send the hedge
//!    and re-arm the timer at `hedge.poll_timeout()`; `None` → nothing (not
//!    due, bound reached, budget or breaker refused).
//! 3. When an attempt ends (its response, or [`TryOutcome::Timeout`] at its
//!    per-try deadline; at the call's overall deadline, every attempt in
//!    flight in sending order): `client.end_attempt(now, &mut call, &mut
//!    hedge, permit, outcome, rng)`: [`HedgedNext::Wait`] → other attempts
//!    are still racing; [`HedgedNext::RetryAt`] → at `at`,
//!    `client.retry_hedged(at, ..)` (then as step 1's `Send`, re-arming the
//!    hedge timer); [`HedgedNext::Finish`] → deliver and cancel the `cancel`
//!    attempts still in flight, each with [`EdgeClient::cancel_attempt`].
//!
//! Every permitted attempt hands its [`AttemptPermit`] back exactly once:
//! to `end_attempt`, or to `cancel_attempt` (the breaker then counts it as
//! ignored: the caller cancelled it, which says nothing about the callee).
//!
//! # Semantics
//!
//! The race is [`crate::hedge`]'s: the first outcome that the hedge's
//! `retry_on` does not list wins; a listed one waits for the others and,
//! when none is left, goes to the retry policy, whose retry starts a new
//! round of hedges. Each attempt asks the breaker and reports its own
//! outcome to it; each hedge withdraws from the retry budget (retries and
//! hedges draw on one budget; calls deposit); `max_hedged` bounds the hedges
//! of a call, `attempts` its retries. A hedge's per-try deadline is
//! `min(sent + per_try_timeout, call deadline)`.
//!
//! [`EdgeClient`]: super::EdgeClient

use rand_core::Rng;

use super::{CallState, EdgeClient, Finish, Next, breaker_outcome};
use crate::breaker::{Decision, Outcome};
use crate::hedge::{
    AttemptId, HedgeDecision, HedgePolicy, HedgeResponse, HedgeSkip, HedgeState, LatencyTracker,
};
use crate::retry::TryOutcome;
use crate::time::Timestamp;

/// An edge's hedge policy and the latencies its percentile reads (one per
/// [`EdgeClient`]: each caller's proxy keeps its own, as tower's `Hedge`).
#[derive(Clone, Debug)]
pub(super) struct Hedging {
    policy: HedgePolicy,
    tracker: LatencyTracker,
}

impl Hedging {
    pub(super) fn new(policy: HedgePolicy, now: Timestamp) -> Self {
        Hedging {
            policy,
            tracker: policy.tracker(now),
        }
    }
}

/// One sent attempt of a hedged call: which one, when it was sent and the
/// breaker's answer. Keep it with the attempt and hand it back once.
#[must_use = "a permit goes back to `end_attempt` or `cancel_attempt` exactly once"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptPermit {
    attempt: AttemptId,
    kind: AttemptKind,
    sent: Timestamp,
    decision: Decision,
}

/// Why an attempt was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptKind {
    /// The call's first attempt.
    Original,
    /// A hedge (sent while an earlier attempt was still in flight).
    Hedge,
    /// A retry after a lost race.
    Retry,
}

impl AttemptPermit {
    /// The attempt's number: 1 for the original, then in sending order.
    pub fn number(&self) -> u32 {
        self.attempt.index() + 1
    }

    /// Whether it is the original, a hedge or a retry.
    pub fn kind(&self) -> AttemptKind {
        self.kind
    }

    /// When it was sent.
    pub fn sent(&self) -> Timestamp {
        self.sent
    }
}

/// What [`EdgeClient::begin_hedged`] decided for a call's first attempt.
#[must_use = "a permitted attempt must be sent and its permit handed back; a rejection ends the call"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgedStart {
    /// Send attempt 1; keep `hedge` with the call.
    Send {
        /// The call's hedging state (its timer: `hedge.poll_timeout()`).
        hedge: HedgeState,
        /// The attempt.
        permit: AttemptPermit,
        /// When the caller stops waiting for it.
        per_try_deadline: Timestamp,
    },
    /// The breaker refused: the call ends as [`Finish::Rejected`].
    Rejected,
}

/// A permitted hedge or retry.
#[must_use = "a permitted attempt must be sent and its permit handed back"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptStart {
    /// Send it.
    Send {
        /// The attempt.
        permit: AttemptPermit,
        /// When the caller stops waiting for it.
        per_try_deadline: Timestamp,
    },
    /// The breaker refused a retry: the call ends as [`Finish::Rejected`].
    Rejected,
}

/// What follows an attempt's outcome.
#[must_use = "the call waits, retries at `at`, or is over"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgedNext {
    /// Other attempts are still racing.
    Wait,
    /// The race is lost and the retry policy retries: call
    /// [`EdgeClient::retry_hedged`] at `at`.
    RetryAt {
        /// When.
        at: Timestamp,
    },
    /// The call is over: deliver `finish` and cancel the attempts still in
    /// flight.
    Finish {
        /// How the call ended.
        finish: Finish,
        /// Attempts still in flight, to hand to
        /// [`EdgeClient::cancel_attempt`].
        cancel: u32,
    },
}

impl EdgeClient {
    /// Whether the edge hedges (drive its calls with this module's methods).
    pub fn is_hedged(&self) -> bool {
        self.hedging.is_some()
    }

    /// The edge's hedge policy, if it hedges.
    pub fn hedge_policy(&self) -> Option<&HedgePolicy> {
        self.hedging.as_ref().map(|h| &h.policy)
    }

    /// Starts the hedging of `call` (just started with
    /// [`EdgeClient::start`]) and asks the breaker for its first attempt.
    /// `None` if the edge does not hedge (use [`EdgeClient::begin_try`]).
    #[inline]
    pub fn begin_hedged(&mut self, now: Timestamp, call: &mut CallState) -> Option<HedgedStart> {
        // Inlined so that a driver's call on an edge without hedging (most
        // edges) is one test, not a call returning a large `None`.
        self.hedging.as_ref()?;
        self.begin_hedged_on(now, call)
    }

    /// [`EdgeClient::begin_hedged`] on a hedged edge.
    #[inline(never)]
    fn begin_hedged_on(&mut self, now: Timestamp, call: &mut CallState) -> Option<HedgedStart> {
        if call.finished || call.tries > 0 {
            debug_assert!(false, "begin_hedged once, on a fresh call");
            return Some(HedgedStart::Rejected);
        }
        let Some(decision) = self.breaker_admits(now, call) else {
            return Some(HedgedStart::Rejected);
        };
        let hedging = self.hedging.as_mut()?;
        let hedge = hedging
            .policy
            .start(now, call.deadline, &mut hedging.tracker);
        let per_try_deadline = match &call.retry {
            Some(state) => state.per_try_deadline(),
            None => call.deadline,
        };
        self.count_sent(call, AttemptKind::Original);
        Some(HedgedStart::Send {
            hedge,
            permit: AttemptPermit {
                attempt: FIRST,
                kind: AttemptKind::Original,
                sent: now,
                decision,
            },
            per_try_deadline,
        })
    }

    /// The hedge timer of `call` fired at `now`: the hedge to send, if the
    /// hedge policy, the budget and the breaker allow one.
    pub fn handle_hedge_timeout(
        &mut self,
        now: Timestamp,
        call: &mut CallState,
        hedge: &mut HedgeState,
    ) -> Option<AttemptStart> {
        if call.finished {
            return None;
        }
        let budget = self.budget.as_mut()?;
        let attempt = match hedge.handle_timeout(now, budget) {
            HedgeDecision::Send(attempt) => attempt,
            HedgeDecision::Skip(HedgeSkip::BudgetExhausted) => {
                self.stats.budget_refused += 1;
                return None;
            }
            HedgeDecision::Skip(_) => return None,
        };
        let decision = match &mut self.breaker {
            Some(breaker) => breaker.handle_request(now),
            None => Decision::Admit,
        };
        if decision == Decision::Reject {
            // A refused hedge stops hedging; the attempts in flight still
            // decide the call.
            self.stats.rejected += 1;
            hedge.handle_rejected(attempt);
            return None;
        }
        self.count_sent(call, AttemptKind::Hedge);
        let per_try_deadline = self
            .per_try_timeout()
            .map_or(call.deadline, |p| (now + p).min(call.deadline));
        Some(AttemptStart::Send {
            permit: AttemptPermit {
                attempt,
                kind: AttemptKind::Hedge,
                sent: now,
                decision,
            },
            per_try_deadline,
        })
    }

    /// Reports how attempt `permit` of `call` ended at `now` (its response,
    /// or [`TryOutcome::Timeout`] at its deadline) and decides what follows.
    pub fn end_attempt(
        &mut self,
        now: Timestamp,
        call: &mut CallState,
        hedge: &mut HedgeState,
        permit: AttemptPermit,
        outcome: TryOutcome,
        rng: &mut impl Rng,
    ) -> HedgedNext {
        let ignored = HedgedNext::Finish {
            finish: Finish::Ignored,
            cancel: 0,
        };
        if call.finished {
            return ignored;
        }
        let Some(hedging) = self.hedging.as_mut() else {
            return ignored;
        };
        if outcome == TryOutcome::Timeout {
            self.stats.timeouts += 1;
        }
        let rtt = now.saturating_since(permit.sent);
        if let Some(breaker) = &mut self.breaker {
            breaker.record_outcome(now, permit.decision, breaker_outcome(&outcome), rtt, rng);
        }
        let response =
            hedge.handle_response(&hedging.policy, now, outcome, rtt, &mut hedging.tracker);
        let next = match response {
            HedgeResponse::Late => return ignored,
            HedgeResponse::Wait => return HedgedNext::Wait,
            HedgeResponse::Commit { cancel } => HedgedNext::Finish {
                finish: Finish::Answered(outcome),
                cancel,
            },
            HedgeResponse::Exhausted => match self.after_try(now, call, outcome, rng) {
                Next::RetryAt { at } => HedgedNext::RetryAt { at },
                Next::Finish(finish) => HedgedNext::Finish { finish, cancel: 0 },
            },
        };
        if matches!(next, HedgedNext::Finish { .. }) {
            call.finished = true;
        }
        next
    }

    /// Sends the retry of `call` that [`HedgedNext::RetryAt`] scheduled, at
    /// `now`, if the breaker admits it (a refusal ends the call). Its hedges
    /// are due `delay` after it.
    pub fn retry_hedged(
        &mut self,
        now: Timestamp,
        call: &mut CallState,
        hedge: &mut HedgeState,
    ) -> AttemptStart {
        if call.finished || self.hedging.is_none() {
            debug_assert!(false, "retry_hedged on a finished or unhedged call");
            return AttemptStart::Rejected;
        }
        let Some(decision) = self.breaker_admits(now, call) else {
            return AttemptStart::Rejected;
        };
        let attempt = hedge.handle_retry(now);
        self.count_sent(call, AttemptKind::Retry);
        let per_try_deadline = match &call.retry {
            Some(state) => state.per_try_deadline(),
            None => call.deadline,
        };
        AttemptStart::Send {
            permit: AttemptPermit {
                attempt,
                kind: AttemptKind::Retry,
                sent: now,
                decision,
            },
            per_try_deadline,
        }
    }

    /// The caller cancels attempt `permit` at `now` (it lost the race): its
    /// breaker permit comes back as an ignored outcome.
    pub fn cancel_attempt(&mut self, now: Timestamp, permit: AttemptPermit, rng: &mut impl Rng) {
        if let Some(breaker) = &mut self.breaker {
            breaker.record_outcome(
                now,
                permit.decision,
                Outcome::Ignored,
                now.saturating_since(permit.sent),
                rng,
            );
        }
    }

    /// Asks the breaker for the next attempt of `call`; a refusal ends it.
    fn breaker_admits(&mut self, now: Timestamp, call: &mut CallState) -> Option<Decision> {
        let decision = match &mut self.breaker {
            Some(breaker) => breaker.handle_request(now),
            None => Decision::Admit,
        };
        if decision == Decision::Reject {
            self.stats.rejected += 1;
            call.finished = true;
            return None;
        }
        Some(decision)
    }

    fn count_sent(&mut self, call: &mut CallState, kind: AttemptKind) {
        call.tries += 1;
        self.stats.tries += 1;
        match kind {
            AttemptKind::Original => {}
            AttemptKind::Hedge => self.stats.hedges += 1,
            AttemptKind::Retry => self.stats.retries += 1,
        }
    }
}

/// The original attempt's id (the hedge state numbers it 0).
const FIRST: AttemptId = AttemptId::FIRST;
