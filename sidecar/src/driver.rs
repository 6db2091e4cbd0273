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
//! Per route: a rate limiter. Per (upstream, mesh edge): one
//! `headroom_policy::mesh::EdgeClient`, which composes the overall deadline,
//! retries with backoff and budget, and the circuit breaker exactly as the
//! simulator composes them; routes to the same upstream with the same edge
//! share it. Per upstream: balancers, health checks, outlier ejection and
//! failover ([`crate::upstream`]). A route's optional shadow set (a rate
//! limiter and an `EdgeClient` of its own) sees the same requests and
//! outcomes and decides too, and the driver counts where it would have
//! differed.
//!
//! A request that cannot be resent (a non-idempotent method, or a body
//! larger than `retry_buffer_bytes`) starts its mesh call as not retryable
//! (`EdgeClient::start_with(now, false)`): a failure the retry policy would
//! retry ends it as `GaveUp(NotRetryable)` and spends nothing from the retry
//! budget. A retry's endpoint is picked with Envoy's `previous_hosts`
//! predicate (`mesh::PreviousHosts`): a pick that lands on an endpoint the
//! request already tried is redrawn once.

use headroom_policy::breaker::BreakerState;
use headroom_policy::health::CheckResult;
use headroom_policy::mesh::{
    CallState, EdgeClient, EdgeStats, Finish, HOST_SELECTION_RETRY_MAX_ATTEMPTS, Next as MeshNext,
    PreviousHosts, TryStart,
};
use headroom_policy::ratelimit::{RateDecision, RateLimiter};
pub use headroom_policy::retry::TryOutcome;
use headroom_policy::tables::Fallback;
use headroom_policy::time::{Span, Timestamp};
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

use crate::autoscale::AutoscalerState;
use crate::plan::Plan;
use crate::upstream::UpstreamState;

/// The answer at arrival.
#[must_use]
#[derive(Debug)]
// The call is moved once into the request's future; boxing it would cost an
// allocation per request for no gain.
#[allow(clippy::large_enum_variant)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TryDecision {
    /// Send to endpoint `endpoint` of the call's upstream; abandon at
    /// `deadline` and report [`TryOutcome::Timeout`].
    Send {
        /// Flat endpoint index within the upstream.
        endpoint: usize,
        /// When the try is abandoned (per-try or overall deadline).
        deadline: Timestamp,
    },
    /// The breaker refused the try: answer with the fallback if the edge
    /// has one, else 503.
    BreakerOpen(Option<Fallback>),
    /// No endpoint is available: 503.
    NoEndpoint,
}

/// What follows a try.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Try again at `at` (call [`Driver::start_try`] then).
    RetryAt {
        /// When.
        at: Timestamp,
    },
    /// Deliver the last try's outcome: its response, or 504 for a
    /// timeout, 503 for a connect failure, 502 for a reset.
    Deliver(Finish),
}

/// One admitted request's policy state.
#[derive(Debug)]
pub struct Call {
    route: usize,
    edge: usize,
    state: CallState,
    /// The try in flight: endpoint and send time.
    attempt: Option<(usize, Timestamp)>,
    /// Endpoints (flat indices) earlier tries went to.
    tried: PreviousHosts,
    shadow: Option<ShadowCall>,
}

#[derive(Debug)]
struct ShadowCall {
    state: CallState,
    /// The shadow edge's deadline for the try in flight, if it sent one.
    try_deadline: Option<Timestamp>,
    /// False once the shadow set's decisions and the enforced ones parted.
    live: bool,
}

impl Call {
    /// The route index.
    pub fn route(&self) -> usize {
        self.route
    }

    /// Tries sent so far.
    pub fn tries(&self) -> u32 {
        self.state.tries()
    }

    /// Whether a failed try may be retried (an idempotent request with a
    /// buffered body).
    pub fn is_retryable(&self) -> bool {
        self.state.is_retryable()
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
    /// Shadow breaker would have rejected a try that was sent.
    pub shadow_would_reject: u64,
    /// Shadow breaker would have sent a try the breaker rejected.
    pub shadow_would_send: u64,
    /// Shadow breaker transitions to Open.
    pub shadow_would_open: u64,
    /// Shadow edge would have retried where the enforced one did not.
    pub shadow_would_retry: u64,
    /// Shadow edge would have stopped where the enforced one retried.
    pub shadow_would_not_retry: u64,
    /// A try outlived the shadow edge's deadline for it.
    pub shadow_would_time_out: u64,
}

struct RouteState {
    upstream: usize,
    edge: usize,
    limiter: Option<RateLimiter>,
    shadow: Option<ShadowState>,
    stats: RouteStats,
}

struct ShadowState {
    limiter: Option<RateLimiter>,
    /// The shadow edge's client (its own breaker and budget, per route).
    client: Option<EdgeClient>,
}

/// One mesh edge client and what it guards.
struct EdgeSlot {
    upstream: usize,
    name: String,
    client: EdgeClient,
}

/// The sidecar's decision engine for one config. See the module docs for
/// the call order.
pub struct Driver {
    /// Jitter of the enforced edges (retries, consecutive-mode breakers).
    rng: Pcg64,
    /// Jitter of the shadow edges: a stream of its own, so that trialling a
    /// policy never changes an enforced decision.
    shadow_rng: Pcg64,
    /// Failover and balancer picks.
    pick_rng: Pcg64,
    routes: Vec<RouteState>,
    edges: Vec<EdgeSlot>,
    upstreams: Vec<UpstreamState>,
    autoscaler: Option<AutoscalerState>,
    probes: Vec<usize>,
}

impl Driver {
    /// A driver for `plan`, created at `now`; its random streams all derive
    /// from `seed` ([`rng_stream`]).
    pub fn new(plan: &Plan, now: Timestamp, seed: u64) -> Self {
        let upstreams = plan
            .upstreams
            .iter()
            .map(|u| UpstreamState::new(plan, u, now))
            .collect();
        let mut edges: Vec<EdgeSlot> = Vec::new();
        let mut routes = Vec::with_capacity(plan.routes.len());
        for r in &plan.routes {
            let edge = match edges
                .iter()
                .position(|e| e.upstream == r.upstream && e.name == r.edge_name)
            {
                Some(i) => i,
                None => {
                    edges.push(EdgeSlot {
                        upstream: r.upstream,
                        name: r.edge_name.clone(),
                        client: EdgeClient::new(&r.edge, now),
                    });
                    edges.len() - 1
                }
            };
            routes.push(RouteState {
                upstream: r.upstream,
                edge,
                limiter: r.rate_limit.as_ref().map(|(_, p)| RateLimiter::new(p, now)),
                shadow: r.shadow.as_ref().map(|s| ShadowState {
                    limiter: s.rate_limit.as_ref().map(|(_, p)| RateLimiter::new(p, now)),
                    client: s.edge.as_ref().map(|(_, e)| EdgeClient::new(e, now)),
                }),
                stats: RouteStats::default(),
            });
        }
        Driver {
            rng: rng_stream(seed, MESH_STREAM),
            shadow_rng: rng_stream(seed, "shadow"),
            pick_rng: rng_stream(seed, "pick"),
            routes,
            edges,
            upstreams,
            autoscaler: plan
                .autoscaler
                .as_ref()
                .map(|(_, spec)| AutoscalerState::new(spec.clone(), now)),
            probes: Vec::new(),
        }
    }

    /// A request for `route` from `client` (hashed id) arrives at `now`;
    /// `retryable`: an idempotent method with a buffered body.
    pub fn handle_request(
        &mut self,
        now: Timestamp,
        route: usize,
        client: u64,
        retryable: bool,
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
        let shadow = match r.shadow.as_mut().and_then(|s| s.client.as_mut()) {
            Some(client) if shadow_admits => Some(ShadowCall {
                state: client.start_with(now, retryable),
                try_deadline: None,
                live: true,
            }),
            _ => None,
        };
        Admission::Admit(Call {
            route,
            edge: r.edge,
            state: self.edges[r.edge].client.start_with(now, retryable),
            attempt: None,
            tried: PreviousHosts::new(),
            shadow,
        })
    }

    /// Decides the next try of `call` at `now`.
    pub fn start_try(&mut self, now: Timestamp, call: &mut Call) -> TryDecision {
        let r = &mut self.routes[call.route];
        let edge = &mut self.edges[call.edge].client;
        let enforced = edge.begin_try(now, &mut call.state);
        let shadow = shadow_begin(r, call, now);
        let sent = matches!(enforced, TryStart::Send { .. });
        match (sent, shadow) {
            (true, Some(false)) => r.stats.shadow_would_reject += 1,
            (false, Some(true)) => r.stats.shadow_would_send += 1,
            _ => {}
        }
        let TryStart::Send {
            per_try_deadline, ..
        } = enforced
        else {
            r.stats.breaker_rejected += 1;
            shadow_cancel(r, call, now, &mut self.shadow_rng);
            return TryDecision::BreakerOpen(edge.fallback().cloned());
        };
        let upstream = &mut self.upstreams[r.upstream];
        let rng = &mut self.pick_rng;
        let picked = call
            .tried
            .select(HOST_SELECTION_RETRY_MAX_ATTEMPTS, || {
                upstream.pick(now, rng).map(|e| e as u32)
            })
            .map(|e| e as usize);
        let Some(endpoint) = picked else {
            // Nothing was sent: give the breaker permits back, no outcome.
            edge.cancel(now, &mut call.state, &mut self.rng);
            shadow_cancel(r, call, now, &mut self.shadow_rng);
            return TryDecision::NoEndpoint;
        };
        upstream.handle_start(endpoint);
        call.tried.record(endpoint as u32);
        if call.state.tries() > 1 {
            r.stats.retries += 1;
        }
        call.attempt = Some((endpoint, now));
        TryDecision::Send {
            endpoint,
            deadline: per_try_deadline,
        }
    }

    /// The try started by the last [`Driver::start_try`] ended at `now`
    /// (`Timeout` when its deadline passed first).
    pub fn handle_try_end(&mut self, now: Timestamp, call: &mut Call, outcome: TryOutcome) -> Next {
        let Some((endpoint, sent)) = call.attempt.take() else {
            return Next::Deliver(Finish::Ignored);
        };
        let r = &mut self.routes[call.route];
        let failure = headroom_policy::mesh::breaker_outcome(&outcome)
            == headroom_policy::breaker::Outcome::Failure;
        self.upstreams[r.upstream].handle_end(now, endpoint, sent, failure);
        let edge = &mut self.edges[call.edge].client;
        let next = match edge.end_try(now, &mut call.state, outcome, &mut self.rng) {
            MeshNext::RetryAt { at } => Next::RetryAt { at },
            MeshNext::Finish(finish) => Next::Deliver(finish),
        };
        shadow_end(r, call, now, outcome, next, &mut self.shadow_rng);
        next
    }

    /// The earliest timer (health check, outlier sweep, autoscaler sync).
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.upstreams
            .iter()
            .filter_map(UpstreamState::poll_timeout)
            .chain(
                self.autoscaler
                    .as_ref()
                    .and_then(AutoscalerState::poll_timeout),
            )
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

    /// Every edge client: `(upstream, edge name, breaker state if it has a
    /// breaker, counters)`.
    pub fn edges(&self) -> impl Iterator<Item = (usize, &str, Option<BreakerState>, EdgeStats)> {
        self.edges.iter().map(|e| {
            (
                e.upstream,
                e.name.as_str(),
                e.client.breaker().map(|b| b.state()),
                e.client.stats(),
            )
        })
    }

    /// Whether endpoint `endpoint` of `upstream` may receive traffic.
    pub fn is_eligible(&self, upstream: usize, endpoint: usize) -> bool {
        self.upstreams[upstream].is_eligible(endpoint)
    }

    /// Per-priority traffic percentages of `upstream`.
    pub fn priority_loads(&self, upstream: usize) -> &[u32] {
        self.upstreams[upstream].loads()
    }

    /// The autoscaler's latest desired replica count, if configured.
    pub fn desired_replicas(&self) -> Option<u32> {
        self.autoscaler.as_ref().map(AutoscalerState::desired)
    }
}

/// Name of the stream that drives the enforced mesh edges.
pub const MESH_STREAM: &str = "mesh";

/// The random stream `name` derived from the sidecar's one seed: PCG64
/// seeded with `seed` xor the FNV-1a 64 hash of `name` (a stable name, not
/// creation order, as in the simulator).
pub fn rng_stream(seed: u64, name: &str) -> Pcg64 {
    Pcg64::seed_from_u64(seed ^ fnv1a64(name.as_bytes()))
}

/// FNV-1a 64 (stream names; client ids of keyed limiters).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Asks the shadow edge about the try the enforced edge is deciding;
/// `Some(sent)` when there is a live shadow call to compare with.
fn shadow_begin(r: &mut RouteState, call: &mut Call, now: Timestamp) -> Option<bool> {
    let client = r.shadow.as_mut()?.client.as_mut()?;
    let sc = call.shadow.as_mut().filter(|s| s.live)?;
    match client.begin_try(now, &mut sc.state) {
        TryStart::Send {
            per_try_deadline, ..
        } => {
            sc.try_deadline = Some(per_try_deadline);
            Some(true)
        }
        TryStart::Rejected => {
            // The shadow set would have ended the call here.
            sc.live = false;
            Some(false)
        }
    }
}

/// Returns a shadow try's breaker permit when nothing was sent.
fn shadow_cancel(r: &mut RouteState, call: &mut Call, now: Timestamp, rng: &mut Pcg64) {
    if let (Some(client), Some(sc)) = (
        r.shadow.as_mut().and_then(|s| s.client.as_mut()),
        call.shadow.as_mut(),
    ) {
        client.cancel(now, &mut sc.state, rng);
        sc.live = false;
    }
}

/// Feeds a try's outcome to the shadow edge and counts disagreements.
fn shadow_end(
    r: &mut RouteState,
    call: &mut Call,
    now: Timestamp,
    outcome: TryOutcome,
    enforced: Next,
    rng: &mut Pcg64,
) {
    let (Some(client), Some(sc)) = (
        r.shadow.as_mut().and_then(|s| s.client.as_mut()),
        call.shadow.as_mut(),
    ) else {
        return;
    };
    let Some(deadline) = sc.try_deadline.take().filter(|_| sc.live) else {
        return;
    };
    // The shadow edge would have abandoned the try at its own deadline.
    let seen = if now > deadline && outcome != TryOutcome::Timeout {
        r.stats.shadow_would_time_out += 1;
        TryOutcome::Timeout
    } else {
        outcome
    };
    let was_open = client.breaker_state() == BreakerState::Open;
    let next = client.end_try(now, &mut sc.state, seen, rng);
    if !was_open && client.breaker_state() == BreakerState::Open {
        r.stats.shadow_would_open += 1;
    }
    let shadow_retries = matches!(next, MeshNext::RetryAt { .. });
    let enforced_retries = matches!(enforced, Next::RetryAt { .. });
    match (enforced_retries, shadow_retries) {
        (false, true) => r.stats.shadow_would_retry += 1,
        (true, false) => r.stats.shadow_would_not_retry += 1,
        _ => {}
    }
    // Once the two sets part, the shadow's later decisions have no
    // counterpart to compare with.
    sc.live = enforced_retries && shadow_retries;
    if !sc.live {
        client.cancel(now, &mut sc.state, rng);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom_policy::retry::GiveUpReason;

    fn driver(policy: &str) -> Driver {
        let text = format!(
            "[sidecar]\n[[sidecar.upstreams]]\nname = \"api\"\nendpoints = [\
             {{ url = \"http://127.0.0.1:1\" }}, {{ url = \"http://127.0.0.1:2\" }}, \
             {{ url = \"http://127.0.0.1:3\" }}]\n[sidecar.routes]\n\"/*\" = \"api\"\n{policy}"
        );
        let plan = crate::config::load_str(std::path::Path::new("t.toml"), &text).unwrap();
        Driver::new(&plan, Timestamp::ZERO, 9)
    }

    fn admit(d: &mut Driver, now: Timestamp, retryable: bool) -> Call {
        match d.handle_request(now, 0, 1, retryable) {
            Admission::Admit(call) => call,
            Admission::Limited { .. } => panic!("no limiter"),
        }
    }

    fn send(d: &mut Driver, now: Timestamp, call: &mut Call) -> usize {
        match d.start_try(now, call) {
            TryDecision::Send { endpoint, .. } => endpoint,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn requests_that_cannot_be_resent_leave_the_retry_budget_alone() {
        // 20 % of requests, no floor: five requests buy one retry.
        let mut d = driver(
            "[policy.mesh]\nretry = { attempts = 2, jitter = \"none\", \
             budget = { ratio = 0.2, min_per_s = 0 } }\n",
        );
        let t = Timestamp::ZERO;
        for _ in 0..10 {
            let mut call = admit(&mut d, t, false);
            send(&mut d, t, &mut call);
            let next = d.handle_try_end(t, &mut call, TryOutcome::status(503));
            assert_eq!(
                next,
                Next::Deliver(Finish::GaveUp {
                    last: TryOutcome::status(503),
                    reason: GiveUpReason::NotRetryable
                })
            );
        }
        // Ten deposits, nothing withdrawn: two retryable requests retry.
        for _ in 0..2 {
            let mut call = admit(&mut d, t, true);
            send(&mut d, t, &mut call);
            let next = d.handle_try_end(t, &mut call, TryOutcome::status(503));
            assert!(matches!(next, Next::RetryAt { .. }), "{next:?}");
        }
        let (_, _, _, stats) = d.edges().next().unwrap();
        assert_eq!(stats.budget_refused, 0);
    }

    #[test]
    fn a_retry_avoids_the_endpoint_the_request_already_tried() {
        let mut d = driver("[policy.mesh]\nretry = { attempts = 3, jitter = \"none\" }\n");
        let t = Timestamp::ZERO;
        // Round robin over three endpoints; other requests move the cursor
        // between the tries of `call`, so without the predicate its retry
        // would land where it failed.
        let mut call = admit(&mut d, t, true);
        let first = send(&mut d, t, &mut call);
        for _ in 0..2 {
            let mut other = admit(&mut d, t, true);
            send(&mut d, t, &mut other);
            let _ = d.handle_try_end(t, &mut other, TryOutcome::status(200));
        }
        let Next::RetryAt { at } = d.handle_try_end(t, &mut call, TryOutcome::Reset) else {
            panic!("retried")
        };
        let second = send(&mut d, at, &mut call);
        assert_ne!(second, first);
        let Next::RetryAt { at } = d.handle_try_end(at, &mut call, TryOutcome::Reset) else {
            panic!("retried")
        };
        let third = send(&mut d, at, &mut call);
        assert!(
            third != first && third != second,
            "{first} {second} {third}"
        );
    }
}
