//! The sans-IO driver: every per-request and per-upstream decision of the
//! sidecar, made by `headroom-policy` and nothing else.
//!
//! The driver takes `now` and outcomes and returns decisions; it never reads
//! a clock, sleeps or touches a socket, so a test (or the simulator's
//! parity check) can feed it a timestamped script. The async proxy only
//! executes what it returns.
//!
//! # Call order, per request
//!
//! 1. [`Driver::handle_request`] at arrival → [`Admission`]: `Limited`
//!    (answer 429 with `Retry-After`) or `Admit(call)`.
//! 2. [`Driver::start_try`] → [`TryDecision`]: `Send` to an endpoint, to be
//!    abandoned at `deadline` (then report [`TryOutcome::Timeout`]);
//!    `BreakerOpen` (503 or the fallback) or `NoEndpoint` (503) end the call.
//! 3. [`Driver::handle_try_end`] when the try's response headers arrive or
//!    it fails → [`Next`]: `Deliver` the response, `RetryAt` (wait, then go
//!    to 2), or `GiveUp` (deliver the last outcome; 504 on a timeout).
//!
//! Timers: whenever [`Driver::poll_timeout`] is reached, call
//! [`Driver::handle_timeout`], send the health checks it lists and report
//! each with [`Driver::handle_check_result`].
//!
//! Per route: a rate limiter, a retry budget and the edge's timeout and
//! retry policy. Per upstream: balancers, health checks, outlier ejection,
//! failover and the circuit breaker of the upstream's edge. A route's
//! optional shadow set (rate limiter, breaker, retry policy with its own
//! budget) sees the same requests and outcomes and decides too, and the
//! driver counts where it would have differed.

use headroom_policy::breaker::{Breaker, BreakerState, Decision, Outcome};
use headroom_policy::health::CheckResult;
use headroom_policy::ratelimit::{RateDecision, RateLimiter};
use headroom_policy::retry::{GiveUpReason, RetryBudget, RetryDecision, RetryPolicy, RetryState};
use headroom_policy::tables::EdgePolicy;
use headroom_policy::time::{Span, Timestamp};
pub use headroom_policy::retry::TryOutcome;
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

use crate::autoscale::AutoscalerState;
use crate::plan::Plan;
use crate::upstream::UpstreamState;

/// Whether a request may be retried (idempotent method and a body small
/// enough to be buffered).
pub type Retryable = bool;

/// The answer at arrival.
#[must_use]
#[derive(Debug)]
pub enum Admission {
    /// Proxy it; keep the call and pass it back to every later call.
    Admit(Call),
    /// Rate limited: 429 with `Retry-After`.
    Limited {
        /// How long until the request would conform.
        retry_after: Span,
    },
}

/// What to do for the next try.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryDecision {
    /// Send to endpoint `endpoint` of the call's upstream; abandon at
    /// `deadline`.
    Send {
        /// Flat endpoint index within the upstream.
        endpoint: usize,
        /// When the try is abandoned (per-try or overall deadline).
        deadline: Timestamp,
    },
    /// The upstream's breaker rejects: 503 or the configured fallback.
    BreakerOpen,
    /// No endpoint is available: 503.
    NoEndpoint,
}

/// What follows a try.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Deliver the response.
    Deliver,
    /// Try again at `at` (call [`Driver::start_try`] then).
    RetryAt {
        /// When.
        at: Timestamp,
    },
    /// Deliver the last outcome (504 if it was a timeout).
    GiveUp(GiveUpReason),
}

/// One admitted request's policy state.
#[derive(Debug)]
pub struct Call {
    route: usize,
    deadline: Timestamp,
    retry: Option<RetryState>,
    attempt: Option<Attempt>,
    shadow: Option<ShadowCall>,
}

#[derive(Clone, Copy, Debug)]
struct Attempt {
    endpoint: usize,
    start: Timestamp,
    breaker: Option<Decision>,
    shadow_breaker: Option<Decision>,
}

#[derive(Debug)]
struct ShadowCall {
    retry: Option<RetryState>,
    deadline: Timestamp,
    /// False once the shadow set's decisions and the enforced ones parted.
    live: bool,
}

impl Call {
    /// The route index.
    pub fn route(&self) -> usize {
        self.route
    }

    /// Tries started so far.
    pub fn tries(&self) -> u32 {
        self.retry.map_or(u32::from(self.attempt.is_some()), |r| r.tries())
    }
}

/// Counters of one route (totals since the driver was built).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteStats {
    /// Requests rejected by the rate limit.
    pub rate_limited: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Requests the breaker rejected.
    pub breaker_rejected: u64,
    /// Shadow limiter would have rejected an admitted request.
    pub shadow_would_limit: u64,
    /// Shadow limiter would have admitted a rejected request.
    pub shadow_would_admit: u64,
    /// Shadow breaker would have rejected a request that was sent.
    pub shadow_would_reject: u64,
    /// Shadow breaker would have sent a request the breaker rejected.
    pub shadow_would_send: u64,
    /// Shadow breaker transitions to Open.
    pub shadow_would_open: u64,
    /// Shadow retry policy would have retried where the enforced one did not.
    pub shadow_would_retry: u64,
    /// Shadow retry policy would have stopped where the enforced one retried.
    pub shadow_would_not_retry: u64,
    /// A try outlived the shadow edge's per-try deadline.
    pub shadow_would_time_out: u64,
}

struct RouteState {
    upstream: usize,
    limiter: Option<RateLimiter>,
    edge: EdgePolicy,
    budget: Option<RetryBudget>,
    shadow: Option<ShadowState>,
    stats: RouteStats,
}

struct ShadowState {
    limiter: Option<RateLimiter>,
    /// The shadow edge: its breaker (per route), retry and budget.
    edge: Option<(EdgePolicy, Option<Breaker>, Option<RetryBudget>)>,
}

/// The sidecar's decision engine for one config. See the module docs for
/// the call order.
pub struct Driver {
    rng: Pcg64,
    routes: Vec<RouteState>,
    upstreams: Vec<UpstreamState>,
    autoscaler: Option<AutoscalerState>,
    probes: Vec<usize>,
}

fn budget_of(retry: Option<&RetryPolicy>, now: Timestamp) -> Option<RetryBudget> {
    retry.map(|r| RetryBudget::new(&r.budget(), now))
}

/// How the breaker and the outlier detector count an outcome: a 5xx or a
/// transport failure is a failure; every other response (4xx and 429
/// included) is a success.
fn breaker_outcome(outcome: TryOutcome) -> Outcome {
    match outcome {
        TryOutcome::Response { status, .. } if status < 500 => Outcome::Success,
        _ => Outcome::Failure,
    }
}

impl Driver {
    /// A driver for `plan`, created at `now`, with one RNG seeded by `seed`.
    pub fn new(plan: &Plan, now: Timestamp, seed: u64) -> Self {
        let upstreams = plan
            .upstreams
            .iter()
            .map(|u| UpstreamState::new(plan, u, now))
            .collect();
        let routes = plan
            .routes
            .iter()
            .map(|r| RouteState {
                upstream: r.upstream,
                limiter: r.rate_limit.as_ref().map(|(_, p)| RateLimiter::new(p, now)),
                budget: budget_of(r.edge.retry.as_ref(), now),
                edge: r.edge.clone(),
                shadow: r.shadow.as_ref().map(|s| ShadowState {
                    limiter: s.rate_limit.as_ref().map(|(_, p)| RateLimiter::new(p, now)),
                    edge: s.edge.as_ref().map(|(_, e)| {
                        (
                            e.clone(),
                            e.circuit_breaker.as_ref().map(|b| Breaker::new(b, now)),
                            budget_of(e.retry.as_ref(), now),
                        )
                    }),
                }),
                stats: RouteStats::default(),
            })
            .collect();
        Driver {
            rng: Pcg64::seed_from_u64(seed),
            routes,
            upstreams,
            autoscaler: plan
                .autoscaler
                .as_ref()
                .map(|(_, spec)| AutoscalerState::new(spec.clone(), now)),
            probes: Vec::new(),
        }
    }

    /// A request for `route` from `client` arrives at `now`.
    pub fn handle_request(
        &mut self,
        now: Timestamp,
        route: usize,
        client: u64,
        retryable: Retryable,
    ) -> Admission {
        if let Some(a) = self.autoscaler.as_mut() {
            a.handle_arrival();
        }
        let r = &mut self.routes[route];
        let enforced = r
            .limiter
            .as_mut()
            .map_or(RateDecision::Admit, |l| l.check(now, client));
        // The shadow limiter sees every request; a request it would reject
        // has no shadow call (the shadow set would have ended it here).
        let mut shadow_admits = r.shadow.is_some();
        if let Some(shadow) = r.shadow.as_mut()
            && let Some(limiter) = shadow.limiter.as_mut()
        {
            shadow_admits = limiter.check(now, client).is_admit();
            match (enforced.is_admit(), shadow_admits) {
                (true, false) => r.stats.shadow_would_limit += 1,
                (false, true) => r.stats.shadow_would_admit += 1,
                _ => {}
            }
        }
        if let RateDecision::Reject { retry_after } = enforced {
            r.stats.rate_limited += 1;
            return Admission::Limited { retry_after };
        }
        let (retry, deadline) = start(&r.edge, r.budget.as_mut(), now, retryable);
        let shadow_edge = r.shadow.as_mut().and_then(|s| s.edge.as_mut());
        let shadow = shadow_edge.filter(|_| shadow_admits).map(|(edge, _, budget)| {
            let (retry, deadline) = start(edge, budget.as_mut(), now, retryable);
            ShadowCall {
                retry,
                deadline,
                live: true,
            }
        });
        Admission::Admit(Call {
            route,
            deadline,
            retry,
            attempt: None,
            shadow,
        })
    }

    /// Decides the next try of `call` at `now`.
    pub fn start_try(&mut self, now: Timestamp, call: &mut Call) -> TryDecision {
        let r = &mut self.routes[call.route];
        let up = &mut self.upstreams[r.upstream];
        let breaker = up.breaker.as_mut().map(|b| b.handle_request(now));
        let shadow_breaker = match (r.shadow.as_mut(), call.shadow.as_ref()) {
            (Some(ShadowState { edge: Some((_, Some(b), _)), .. }), Some(s)) if s.live => {
                Some(b.handle_request(now))
            }
            _ => None,
        };
        let sent = breaker.is_none_or(Decision::is_permitted);
        match (sent, shadow_breaker.map(Decision::is_permitted)) {
            (true, Some(false)) => r.stats.shadow_would_reject += 1,
            (false, Some(true)) => r.stats.shadow_would_send += 1,
            _ => {}
        }
        // The shadow set would have ended the call here: stop comparing.
        if shadow_breaker == Some(Decision::Reject)
            && let Some(s) = call.shadow.as_mut()
        {
            s.live = false;
        }
        if !sent {
            r.stats.breaker_rejected += 1;
            release_shadow(r, now, shadow_breaker, &mut self.rng);
            return TryDecision::BreakerOpen;
        }
        let Some(endpoint) = up.pick(now, &mut self.rng) else {
            // Nothing was sent: give the permits back without an outcome.
            if let (Some(b), Some(d)) = (up.breaker.as_mut(), breaker) {
                let _ = b.handle_outcome(now, d, Outcome::Ignored, Span::ZERO, &mut self.rng);
            }
            release_shadow(r, now, shadow_breaker, &mut self.rng);
            return TryDecision::NoEndpoint;
        };
        call.attempt = Some(Attempt {
            endpoint,
            start: now,
            breaker,
            shadow_breaker,
        });
        let deadline = call.retry.map_or(call.deadline, |s| s.per_try_deadline());
        TryDecision::Send { endpoint, deadline }
    }

    /// The try started by the last [`Driver::start_try`] ended at `now`.
    pub fn handle_try_end(&mut self, now: Timestamp, call: &mut Call, outcome: TryOutcome) -> Next {
        let Some(attempt) = call.attempt.take() else {
            return Next::GiveUp(GiveUpReason::Finished);
        };
        let r = &mut self.routes[call.route];
        let up = &mut self.upstreams[r.upstream];
        let class = breaker_outcome(outcome);
        up.handle_end(now, attempt.endpoint, attempt.start, class == Outcome::Failure);
        let duration = now.saturating_since(attempt.start);
        if let (Some(b), Some(d)) = (up.breaker.as_mut(), attempt.breaker) {
            let _ = b.handle_outcome(now, d, class, duration, &mut self.rng);
        }
        let next = match (call.retry.as_mut(), r.edge.retry.as_ref(), r.budget.as_mut()) {
            (Some(state), Some(policy), Some(budget)) => {
                match state.handle_outcome(policy, now, outcome, budget, &mut self.rng) {
                    RetryDecision::Done => Next::Deliver,
                    RetryDecision::RetryAt { at, .. } => {
                        r.stats.retries += 1;
                        Next::RetryAt { at }
                    }
                    RetryDecision::GiveUp(reason) => Next::GiveUp(reason),
                }
            }
            _ if outcome.is_failure() => Next::GiveUp(GiveUpReason::NotRetryable),
            _ => Next::Deliver,
        };
        shadow_outcome(r, call, now, outcome, attempt, next, &mut self.rng);
        next
    }

    /// The earliest timer (health check, outlier sweep, autoscaler sync).
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.upstreams
            .iter()
            .filter_map(UpstreamState::poll_timeout)
            .chain(self.autoscaler.as_ref().and_then(AutoscalerState::poll_timeout))
            .min()
    }

    /// Fires every timer due by `now`; appends `(upstream, endpoint)` for
    /// each health check to send now.
    pub fn handle_timeout(&mut self, now: Timestamp, probes: &mut Vec<(usize, usize)>) {
        for (u, up) in self.upstreams.iter_mut().enumerate() {
            self.probes.clear();
            up.handle_timeout(now, &mut self.probes);
            probes.extend(self.probes.iter().map(|&e| (u, e)));
        }
        if let Some(a) = self.autoscaler.as_mut() {
            a.handle_timeout(now);
        }
    }

    /// Reports the result of a health check sent for `(upstream, endpoint)`.
    pub fn handle_check_result(
        &mut self,
        now: Timestamp,
        upstream: usize,
        endpoint: usize,
        result: CheckResult,
    ) {
        self.upstreams[upstream].handle_check_result(now, endpoint, result);
    }

    /// Counters of route `route`.
    pub fn route_stats(&self, route: usize) -> RouteStats {
        self.routes[route].stats
    }

    /// The state of upstream `upstream`'s breaker, if it has one.
    pub fn breaker_state(&self, upstream: usize) -> Option<BreakerState> {
        self.upstreams[upstream].breaker.as_ref().map(Breaker::state)
    }

    /// Whether endpoint `endpoint` of `upstream` may receive traffic.
    pub fn is_eligible(&self, upstream: usize, endpoint: usize) -> bool {
        self.upstreams[upstream].is_eligible(endpoint)
    }

    /// Per-priority traffic percentages of `upstream`.
    pub fn priority_loads(&self, upstream: usize) -> &[u32] {
        self.upstreams[upstream].loads()
    }

    /// Whether `upstream` runs active health checks.
    pub fn has_health_checks(&self, upstream: usize) -> bool {
        self.upstreams[upstream].has_health_checks()
    }

    /// The autoscaler's latest desired replica count, if configured.
    pub fn desired_replicas(&self) -> Option<u32> {
        self.autoscaler.as_ref().map(AutoscalerState::desired)
    }
}

/// Starts a call's retry state (if it may be retried) and its deadline.
fn start(
    edge: &EdgePolicy,
    budget: Option<&mut RetryBudget>,
    now: Timestamp,
    retryable: bool,
) -> (Option<RetryState>, Timestamp) {
    let deadline = edge.timeout.map_or(Timestamp::MAX, |t| now + t);
    match (edge.retry.as_ref(), budget) {
        (Some(policy), Some(budget)) if retryable => {
            let state = policy.start(now, budget);
            (Some(state), state.deadline())
        }
        _ => (None, deadline),
    }
}

/// Gives a shadow breaker's permit back when nothing was sent.
fn release_shadow(r: &mut RouteState, now: Timestamp, decision: Option<Decision>, rng: &mut Pcg64) {
    if let (Some(ShadowState { edge: Some((_, Some(b), _)), .. }), Some(d)) =
        (r.shadow.as_mut(), decision)
    {
        let _ = b.handle_outcome(now, d, Outcome::Ignored, Span::ZERO, rng);
    }
}

/// Feeds a try's outcome to the shadow set and counts disagreements.
fn shadow_outcome(
    r: &mut RouteState,
    call: &mut Call,
    now: Timestamp,
    outcome: TryOutcome,
    attempt: Attempt,
    enforced: Next,
    rng: &mut Pcg64,
) {
    let (Some(ShadowState { edge: Some((edge, breaker, budget)), .. }), Some(sc)) =
        (r.shadow.as_mut(), call.shadow.as_mut())
    else {
        return;
    };
    if !sc.live {
        return;
    }
    // The shadow edge would have abandoned the try at its own deadline.
    let shadow_deadline = sc.retry.map_or(sc.deadline, |s| s.per_try_deadline());
    let seen = if now > shadow_deadline && !matches!(outcome, TryOutcome::Timeout) {
        r.stats.shadow_would_time_out += 1;
        TryOutcome::Timeout
    } else {
        outcome
    };
    if let (Some(b), Some(d)) = (breaker.as_mut(), attempt.shadow_breaker) {
        let class = breaker_outcome(seen);
        let duration = now.saturating_since(attempt.start);
        if let Some(t) = b.handle_outcome(now, d, class, duration, rng)
            && t.to == BreakerState::Open
        {
            r.stats.shadow_would_open += 1;
        }
    }
    let shadow_retries = match (sc.retry.as_mut(), edge.retry.as_ref(), budget.as_mut()) {
        (Some(state), Some(policy), Some(budget)) => matches!(
            state.handle_outcome(policy, now, seen, budget, rng),
            RetryDecision::RetryAt { .. }
        ),
        _ => false,
    };
    let enforced_retries = matches!(enforced, Next::RetryAt { .. });
    match (enforced_retries, shadow_retries) {
        (false, true) => r.stats.shadow_would_retry += 1,
        (true, false) => r.stats.shadow_would_not_retry += 1,
        _ => {}
    }
    // Once the two sets part, the shadow's later decisions have no
    // counterpart to compare with.
    sc.live = enforced_retries && shadow_retries;
}
