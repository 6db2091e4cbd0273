//! Retries: attempts, backoff with jitter, a shared retry budget, retryable
//! outcomes, `Retry-After`, per-try timeouts and an overall deadline.
//!
//! Semantics follow Envoy's router (the overall `timeout` includes every try
//! and every backoff; `per_try_timeout` bounds each try; requests that hit
//! the overall deadline are not retried), tower's `TpsBudget` for the
//! budget, and gRPC A6 for counting: `attempts` is the **total number of
//! tries including the first** (`attempts = 3` = one try plus up to two
//! retries; `attempts = 1` disables retries).
//!
//! # Driver call order
//! 1. Once: `let policy = config.check(mesh_timeout)?;` and one
//!    `let mut budget = RetryBudget::new(&policy.budget(), now);` per scope
//!    that shares a budget (route, client, edge).
//! 2. Per request, at arrival: `let mut state = policy.start(now, &mut
//!    budget);` (deposits into the budget). Send try 1 now; abandon it at
//!    `state.per_try_deadline()` and report [`TryOutcome::Timeout`].
//! 3. When a try ends: `state.handle_outcome(&policy, now, outcome, &mut
//!    budget, rng)`:
//!    - [`RetryDecision::Done`]: deliver the response;
//!    - [`RetryDecision::RetryAt`]: send the next try at `at`, abandon it at
//!      `per_try_deadline`, then go to 3;
//!    - [`RetryDecision::GiveUp`]: deliver the last outcome (a 504 if the
//!      deadline passed).

mod backoff;
mod budget;
mod config;
mod retry_on;

use rand_core::Rng;

use crate::time::{Span, Timestamp};

pub use backoff::{Backoff, BackoffKind, Jitter, MAX_MULTIPLIER};
pub use budget::{BudgetPolicy, BudgetStats, RetryBudget};
pub use config::{BudgetConfig, RetryConfig};
pub use retry_on::{RetryOn, TryOutcome};

/// Largest accepted `attempts`.
pub const MAX_ATTEMPTS: u32 = 100;

/// Checked retry parameters, built by [`RetryConfig::validate`] (or
/// [`RetryPolicy::new`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    attempts: u32,
    backoff: Backoff,
    retry_on: RetryOn,
    per_try_timeout: Option<Span>,
    timeout: Option<Span>,
    budget: BudgetPolicy,
}

/// What to do after a try ended.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// The outcome is an answer (not a retryable failure): deliver it.
    Done,
    /// Retry: start the next try at `at` and abandon it at
    /// `per_try_deadline` (`min(at + per_try_timeout, deadline)`).
    RetryAt {
        /// When to start the next try (`now + delay`).
        at: Timestamp,
        /// When the next try times out.
        per_try_deadline: Timestamp,
    },
    /// Stop retrying; deliver the last outcome.
    GiveUp(GiveUpReason),
}

/// Why a failed request is not retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUpReason {
    /// The outcome is a failure that `retry_on` does not list.
    NotRetryable,
    /// `attempts` tries have been made.
    AttemptsExhausted,
    /// The retry budget refused the retry.
    BudgetExhausted,
    /// The overall deadline has passed, or the backoff would reach it.
    DeadlineExceeded,
    /// The server's `Retry-After` would reach the overall deadline.
    RetryAfterExceedsDeadline,
    /// A final decision was already returned for this request; the call was
    /// ignored.
    Finished,
}

impl RetryPolicy {
    /// A policy from checked parts: `attempts` in 1..=100; `per_try_timeout`
    /// (if any) > 0 and below `timeout`; `timeout` `None` or zero means no
    /// overall deadline (Envoy: 0 disables the route timeout).
    ///
    /// # Errors
    /// A [`crate::ConfigError`] naming `attempts` or `per_try_timeout`.
    pub fn new(
        attempts: u32,
        backoff: Backoff,
        retry_on: RetryOn,
        per_try_timeout: Option<Span>,
        timeout: Option<Span>,
        budget: BudgetPolicy,
    ) -> Result<Self, crate::ConfigError> {
        if !(1..=MAX_ATTEMPTS).contains(&attempts) {
            return Err(crate::ConfigError::new(
                "attempts",
                attempts,
                "an integer from 1 to 100 (total tries, including the first)",
            ));
        }
        let timeout = timeout.filter(|t| !t.is_zero());
        if let Some(per_try) = per_try_timeout {
            let too_long = timeout.is_some_and(|t| per_try >= t);
            if per_try.is_zero() || too_long {
                let expected = match timeout {
                    Some(t) => format!("a duration > 0 and < timeout (\"{t}\")"),
                    None => "a duration > 0".to_owned(),
                };
                return Err(crate::ConfigError::new(
                    "per_try_timeout",
                    format!("\"{per_try}\""),
                    expected,
                ));
            }
        }
        Ok(RetryPolicy {
            attempts,
            backoff,
            retry_on,
            per_try_timeout,
            timeout,
            budget,
        })
    }

    /// Total tries including the first.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The backoff.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The retryable outcomes.
    pub fn retry_on(&self) -> &RetryOn {
        &self.retry_on
    }

    /// Bound on each try, if any.
    pub fn per_try_timeout(&self) -> Option<Span> {
        self.per_try_timeout
    }

    /// Bound on the whole request (all tries and backoffs), if any.
    pub fn timeout(&self) -> Option<Span> {
        self.timeout
    }

    /// Budget parameters, for [`RetryBudget::new`].
    pub fn budget(&self) -> BudgetPolicy {
        self.budget
    }

    /// Starts a request at `now`: deposits into `budget` and returns the
    /// request's state; try 1 starts now and ends by
    /// [`RetryState::per_try_deadline`].
    #[inline]
    pub fn start(&self, now: Timestamp, budget: &mut RetryBudget) -> RetryState {
        budget.deposit(now);
        let deadline = self.timeout.map_or(Timestamp::MAX, |t| now + t);
        RetryState {
            deadline,
            per_try_deadline: self.per_try_deadline(now, deadline),
            tries: 1,
            previous_backoff: Span::ZERO,
            finished: false,
        }
    }

    #[inline]
    fn per_try_deadline(&self, start: Timestamp, deadline: Timestamp) -> Timestamp {
        self.per_try_timeout
            .map_or(deadline, |p| (start + p).min(deadline))
    }
}

/// The retry state of one request (a few words; store it with the request).
/// See the module docs for the call order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryState {
    deadline: Timestamp,
    per_try_deadline: Timestamp,
    tries: u32,
    previous_backoff: Span,
    finished: bool,
}

impl RetryState {
    /// The overall deadline (`Timestamp::MAX` without a timeout).
    pub fn deadline(&self) -> Timestamp {
        self.deadline
    }

    /// When the current try must be abandoned.
    pub fn per_try_deadline(&self) -> Timestamp {
        self.per_try_deadline
    }

    /// Tries started so far (1 after `start`).
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// Whether a final decision (`Done` or `GiveUp`) has been returned.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Decides what follows a try that ended at `now` with `outcome`.
    ///
    /// Checks, in order: retryable (`Done` for answers, `NotRetryable` for
    /// unlisted failures); attempts left; deadline not passed; delay
    /// (`Retry-After` when the response carries one, else the backoff; the
    /// retry must start before the deadline); budget (withdrawn last, so a
    /// retry refused for another reason costs nothing).
    pub fn handle_outcome(
        &mut self,
        policy: &RetryPolicy,
        now: Timestamp,
        outcome: TryOutcome,
        budget: &mut RetryBudget,
        rng: &mut impl Rng,
    ) -> RetryDecision {
        if self.finished {
            return RetryDecision::GiveUp(GiveUpReason::Finished);
        }
        let decision = self.decide(policy, now, outcome, budget, rng);
        if !matches!(decision, RetryDecision::RetryAt { .. }) {
            self.finished = true;
        }
        decision
    }

    /// The common case of [`RetryState::handle_outcome`], for a driver that
    /// treats `Done` and `GiveUp(NotRetryable)` alike (the mesh answers both
    /// with the outcome): if `policy` does not retry `outcome` and the state
    /// is not finished, finishes it exactly as `handle_outcome` would and
    /// returns `true`; otherwise changes nothing and returns `false` (call
    /// `handle_outcome`). Saves classifying the outcome and touching the
    /// budget on every successful try.
    #[inline]
    pub(crate) fn finish_unless_retried(
        &mut self,
        policy: &RetryPolicy,
        outcome: &TryOutcome,
    ) -> bool {
        if self.finished || policy.retry_on.matches(outcome) {
            return false;
        }
        self.finished = true;
        true
    }

    fn decide(
        &mut self,
        policy: &RetryPolicy,
        now: Timestamp,
        outcome: TryOutcome,
        budget: &mut RetryBudget,
        rng: &mut impl Rng,
    ) -> RetryDecision {
        if !policy.retry_on.matches(&outcome) {
            return if outcome.is_failure() {
                RetryDecision::GiveUp(GiveUpReason::NotRetryable)
            } else {
                RetryDecision::Done
            };
        }
        if self.tries >= policy.attempts {
            return RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted);
        }
        if now >= self.deadline {
            return RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded);
        }
        let server_delay = match outcome {
            TryOutcome::Response { retry_after, .. } => retry_after,
            _ => None,
        };
        let (delay, too_late) = match server_delay {
            Some(delay) => (delay, GiveUpReason::RetryAfterExceedsDeadline),
            None => {
                let delay = policy.backoff.delay(self.tries, self.previous_backoff, rng);
                self.previous_backoff = delay;
                (delay, GiveUpReason::DeadlineExceeded)
            }
        };
        let at = now + delay;
        if at >= self.deadline {
            return RetryDecision::GiveUp(too_late);
        }
        if !budget.withdraw(now) {
            return RetryDecision::GiveUp(GiveUpReason::BudgetExhausted);
        }
        self.tries += 1;
        self.per_try_deadline = policy.per_try_deadline(at, self.deadline);
        RetryDecision::RetryAt {
            at,
            per_try_deadline: self.per_try_deadline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    /// The shortcut agrees with `handle_outcome` on every outcome: it fires
    /// exactly when the decision is `Done` or `GiveUp(NotRetryable)` and
    /// leaves the same state; otherwise it changes nothing.
    #[test]
    fn finish_unless_retried_is_handle_outcome_for_unretried_outcomes() {
        let mut outcomes = vec![
            TryOutcome::ConnectFailure,
            TryOutcome::Reset,
            TryOutcome::Timeout,
            TryOutcome::Response {
                status: 503,
                retry_after: Some(Span::from_millis(5)),
            },
        ];
        outcomes.extend((100..=599).map(TryOutcome::status));
        let sets: [&[&str]; 4] = [
            &[],
            &["5xx", "reset"],
            &["gateway-error", "connect-failure", "timeout", "200", "404"],
            &["retriable-4xx", "rate-limited"],
        ];
        let budget_policy = BudgetPolicy::new(0.2, 10, Span::from_secs(10)).expect("valid budget");
        for names in sets {
            let retry_on = RetryOn::parse(names).expect("valid retry_on");
            let policy = RetryPolicy::new(
                3,
                Backoff::new(
                    BackoffKind::Exponential,
                    Span::from_millis(25),
                    Span::from_millis(250),
                    2.0,
                    Jitter::Full,
                )
                .expect("valid backoff"),
                retry_on,
                None,
                Some(Span::from_secs(1)),
                budget_policy,
            )
            .expect("valid policy");
            for outcome in &outcomes {
                for finished_before in [false, true] {
                    let now = Timestamp::ZERO;
                    let mut budget = RetryBudget::new(&budget_policy, now);
                    let mut slow = policy.start(now, &mut budget);
                    slow.finished = finished_before;
                    let mut fast = slow;
                    let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
                    let decision =
                        slow.handle_outcome(&policy, now, *outcome, &mut budget, &mut rng);
                    let answered = matches!(
                        decision,
                        RetryDecision::Done | RetryDecision::GiveUp(GiveUpReason::NotRetryable)
                    );
                    let before = fast;
                    let took = fast.finish_unless_retried(&policy, outcome);
                    assert_eq!(
                        took, answered,
                        "{names:?} {outcome:?} finished {finished_before}"
                    );
                    if took {
                        assert_eq!(fast, slow);
                    } else {
                        assert_eq!(fast, before);
                    }
                }
            }
        }
    }
}
