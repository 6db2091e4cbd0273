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
//!    (answer 429 with `Retry-After`), `Blocked` by the upstream's adaptive
//!    concurrency limit (answer 503 "reached concurrency limit") or
//!    `Admit(call)`. An admitted call to a limited upstream holds a
//!    [`Slot`] ([`Call::take_slot`]): report the request's end on it
//!    exactly once, [`Slot::complete`] when its response (the upstream's
//!    or a local reply) has gone out to its end, else [`Slot::cancel`].
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
//! Per route: a rate limiter. Per upstream, optionally: one adaptive
//! concurrency controller (`headroom_policy::concurrency`, Envoy's gradient
//! controller) in a [`ConcurrencyLimit`], asked after the rate limit and
//! before the mesh call starts (a blocked request spends nothing from the
//! retry budget, as Envoy's filter stops it before the router). It has a
//! lock of its own, shared by every worker (Envoy too has one controller
//! per filter chain for all its workers), so a response's end takes that
//! lock, never the driver's. Per (upstream, mesh edge): one
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

use std::sync::{Arc, Mutex, MutexGuard};

use headroom_policy::breaker::BreakerState;
use headroom_policy::concurrency::{
    AdaptiveConcurrency, AdaptiveConcurrencySpec, AdaptiveConcurrencyStats, Admission as Gate,
};
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
    /// The upstream's adaptive concurrency limit is reached: 503 "reached
    /// concurrency limit" (Envoy's local reply), nothing sent.
    Blocked,
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
    /// Its place under the upstream's adaptive concurrency limit, until
    /// the proxy takes it.
    slot: Option<Slot>,
    /// Its place under the route's shadow adaptive concurrency limit, until
    /// the proxy takes it.
    shadow_slot: Option<Slot>,
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

    /// The call's place under its upstream's adaptive concurrency limit,
    /// if the upstream has one (once; `None` after).
    pub fn take_slot(&mut self) -> Option<Slot> {
        self.slot.take()
    }

    /// The call's place under its route's shadow adaptive concurrency
    /// limit, if the shadow set has one and would have forwarded the
    /// request (once; `None` after). Report the request's end on it as on
    /// [`Call::take_slot`]'s.
    pub fn take_shadow_slot(&mut self) -> Option<Slot> {
        self.shadow_slot.take()
    }
}

/// One upstream's adaptive concurrency limit: its gradient controller and
/// the random stream of its minRTT jitter, behind a lock of their own
/// (held for one controller call, never across an await).
#[derive(Debug)]
pub struct ConcurrencyLimit {
    state: Mutex<LimitState>,
}

#[derive(Debug)]
struct LimitState {
    controller: AdaptiveConcurrency,
    rng: Pcg64,
}

/// What `/metrics` shows of a [`ConcurrencyLimit`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConcurrencySnapshot {
    /// The current limit on requests in flight.
    pub limit: u32,
    /// Requests admitted and not yet ended.
    pub outstanding: u32,
    /// The last minRTT (measured or fixed), if any yet.
    pub min_rtt: Option<Span>,
    /// The last window's sampleRTT, if any yet.
    pub sample_rtt: Option<Span>,
    /// Whether a minRTT measurement is under way.
    pub measuring_min_rtt: bool,
    /// Blocked requests, updates, measurements, gradient.
    pub stats: AdaptiveConcurrencyStats,
}

impl ConcurrencyLimit {
    /// A controller for `spec` starting at `now`, its jitter drawn from
    /// `rng`.
    pub fn new(spec: &AdaptiveConcurrencySpec, now: Timestamp, rng: Pcg64) -> Self {
        ConcurrencyLimit {
            state: Mutex::new(LimitState {
                controller: AdaptiveConcurrency::new(spec, now),
                rng,
            }),
        }
    }

    /// Locks the controller (a poisoned lock is still consistent: no
    /// controller call unwinds).
    fn lock(&self) -> MutexGuard<'_, LimitState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks to forward a request at `now`: its slot, or `None` (blocked).
    pub fn admit(self: &Arc<Self>, now: Timestamp) -> Option<Slot> {
        let decision = self.lock().controller.handle_request(now);
        (decision == Gate::Forward).then(|| Slot {
            limit: Some(self.clone()),
            admitted: now,
        })
    }

    /// The controller's state now.
    pub fn snapshot(&self) -> ConcurrencySnapshot {
        let state = self.lock();
        let c = &state.controller;
        ConcurrencySnapshot {
            limit: c.limit(),
            outstanding: c.outstanding(),
            min_rtt: c.min_rtt(),
            sample_rtt: c.sample_rtt(),
            measuring_min_rtt: c.measuring_min_rtt(),
            stats: c.stats(),
        }
    }
}

/// A request admitted by an adaptive concurrency limit, until its end is
/// reported: exactly once, by [`Slot::complete`] or [`Slot::cancel`]. A
/// slot dropped without either is cancelled as of its admission time (the
/// proxy's guard reports the real time; this only keeps a forgotten slot
/// from holding the limit forever).
#[derive(Debug)]
#[must_use = "report the request's end with `complete` or `cancel`"]
pub struct Slot {
    limit: Option<Arc<ConcurrencyLimit>>,
    admitted: Timestamp,
}

impl Slot {
    /// When the request was admitted (its latency is counted from here).
    pub fn admitted(&self) -> Timestamp {
        self.admitted
    }

    /// The request's response (the upstream's, or a local reply such as a
    /// 504 after a timeout) went out to its end at `now`: one latency
    /// sample (Envoy's `encodeComplete`).
    pub fn complete(mut self, now: Timestamp) {
        if let Some(limit) = self.limit.take() {
            let mut state = limit.lock();
            let LimitState { controller, rng } = &mut *state;
            controller.handle_response(now, self.admitted, rng);
        }
    }

    /// The request ended at `now` before its response went out to its end
    /// (a body cut short, the client went away): no sample (Envoy's
    /// `onDestroy`).
    pub fn cancel(mut self, now: Timestamp) {
        if let Some(limit) = self.limit.take() {
            limit.lock().controller.handle_cancel(now);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(limit) = self.limit.take() {
            limit.lock().controller.handle_cancel(self.admitted);
        }
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
    /// Shadow adaptive concurrency limit would have blocked a request that
    /// was forwarded.
    pub shadow_would_block: u64,
    /// Shadow adaptive concurrency limit would have forwarded a request the
    /// upstream's limit blocked.
    pub shadow_would_forward: u64,
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
    /// The shadow adaptive concurrency limit (its own controller, per
    /// route).
    limit: Option<Arc<ConcurrencyLimit>>,
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
    /// Adaptive concurrency limit per upstream, if it names one.
    limits: Vec<Option<Arc<ConcurrencyLimit>>>,
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
                    limit: s.adaptive_concurrency.as_ref().map(|(_, spec)| {
                        let rng = rng_stream(seed, &shadow_concurrency_stream(&r.pattern));
                        Arc::new(ConcurrencyLimit::new(spec, now, rng))
                    }),
                }),
                stats: RouteStats::default(),
            });
        }
        let limits = plan
            .upstreams
            .iter()
            .map(|u| {
                u.adaptive_concurrency.as_ref().map(|(_, spec)| {
                    let rng = rng_stream(seed, &concurrency_stream(&u.name));
                    Arc::new(ConcurrencyLimit::new(spec, now, rng))
                })
            })
            .collect();
        Driver {
            rng: rng_stream(seed, MESH_STREAM),
            shadow_rng: rng_stream(seed, "shadow"),
            pick_rng: rng_stream(seed, "pick"),
            routes,
            edges,
            upstreams,
            limits,
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
        // After the rate limit, before the mesh call (whose start deposits
        // into the retry budget): Envoy's filter order. `None`: no limit;
        // `Some(None)`: blocked.
        let gate = self.limits[r.upstream].as_ref().map(|l| l.admit(now));
        let forwarded = !matches!(gate, Some(None));
        // The shadow limit sees the requests the shadow set has admitted so
        // far. One it would block has no shadow call (the shadow set would
        // have ended it here); one it would forward that the upstream's
        // limit blocks ends at once, without a sample (its slot dropped).
        let mut shadow_slot = None;
        if shadow_admits && let Some(limit) = r.shadow.as_ref().and_then(|s| s.limit.as_ref()) {
            shadow_slot = limit.admit(now);
            match (forwarded, shadow_slot.is_some()) {
                (true, false) => {
                    r.stats.shadow_would_block += 1;
                    shadow_admits = false;
                }
                (false, true) => r.stats.shadow_would_forward += 1,
                _ => {}
            }
        }
        let slot = match gate {
            Some(None) => return Admission::Blocked,
            Some(slot) => slot,
            None => None,
        };
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
            slot,
            shadow_slot,
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

    /// Every upstream's adaptive concurrency limit: `(upstream, limit)`.
    pub fn concurrency_limits(&self) -> impl Iterator<Item = (usize, &ConcurrencyLimit)> {
        self.limits
            .iter()
            .enumerate()
            .filter_map(|(u, l)| Some((u, &**l.as_ref()?)))
    }

    /// Every route's shadow adaptive concurrency limit: `(route, limit)`.
    pub fn shadow_concurrency_limits(&self) -> impl Iterator<Item = (usize, &ConcurrencyLimit)> {
        self.routes
            .iter()
            .enumerate()
            .filter_map(|(r, route)| Some((r, &**route.shadow.as_ref()?.limit.as_ref()?)))
    }

    /// The autoscaler's latest desired replica count, if configured.
    pub fn desired_replicas(&self) -> Option<u32> {
        self.autoscaler.as_ref().map(AutoscalerState::desired)
    }
}

/// Name of the stream that drives the enforced mesh edges.
pub const MESH_STREAM: &str = "mesh";

/// Name of the stream of upstream `upstream`'s adaptive concurrency jitter
/// (the simulator's is `services/NAME/adaptive_concurrency`).
pub fn concurrency_stream(upstream: &str) -> String {
    format!("upstreams/{upstream}/adaptive_concurrency")
}

/// Name of the stream of route `pattern`'s shadow adaptive concurrency
/// jitter.
pub fn shadow_concurrency_stream(pattern: &str) -> String {
    format!("routes/{pattern}/shadow/adaptive_concurrency")
}

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
        driver_with("", "\"api\"", policy)
    }

    /// A driver whose upstream `api` has the extra lines `upstream`, and
    /// whose route `/*` is `route`.
    fn driver_with(upstream: &str, route: &str, policy: &str) -> Driver {
        Driver::new(&plan_with(upstream, route, policy), Timestamp::ZERO, 9)
    }

    fn plan_with(upstream: &str, route: &str, policy: &str) -> Plan {
        let text = format!(
            "[sidecar]\n[[sidecar.upstreams]]\nname = \"api\"\nendpoints = [\
             {{ url = \"http://127.0.0.1:1\" }}, {{ url = \"http://127.0.0.1:2\" }}, \
             {{ url = \"http://127.0.0.1:3\" }}]\n{upstream}[sidecar.routes]\n\"/*\" = {route}\n\
             {policy}"
        );
        crate::config::load_str(std::path::Path::new("t.toml"), &text).unwrap()
    }

    fn limit_snapshot(d: &Driver) -> ConcurrencySnapshot {
        let (u, limit) = d.concurrency_limits().next().expect("a limit");
        assert_eq!(u, 0);
        limit.snapshot()
    }

    fn admit(d: &mut Driver, now: Timestamp, retryable: bool) -> Call {
        match d.handle_request(now, 0, 1, retryable) {
            Admission::Admit(call) => call,
            other => panic!("no limiter: {other:?}"),
        }
    }

    fn send(d: &mut Driver, now: Timestamp, call: &mut Call) -> usize {
        match d.start_try(now, call) {
            TryDecision::Send { endpoint, .. } => endpoint,
            other => panic!("{other:?}"),
        }
    }

    const ONE_SLOT: &str = "[policy.adaptive_concurrency.c]\nmin_concurrency = 1\n\
                            min_rtt = \"10ms\"\n";

    #[test]
    fn a_request_over_the_concurrency_limit_is_blocked_before_its_mesh_call() {
        let mut d = driver_with("adaptive_concurrency = \"c\"\n", "\"api\"", ONE_SLOT);
        let t = Timestamp::ZERO;
        let mut first = admit(&mut d, t, true);
        let slot = first.take_slot().expect("a limited upstream gives a slot");
        assert!(first.take_slot().is_none(), "taken once");
        for _ in 0..3 {
            assert!(matches!(
                d.handle_request(t, 0, 1, true),
                Admission::Blocked
            ));
        }
        let snap = limit_snapshot(&d);
        assert_eq!(
            (snap.limit, snap.outstanding, snap.stats.blocked),
            (1, 1, 3)
        );
        // Blocked requests never reached the edge client (no call started,
        // nothing deposited into the retry budget).
        let (_, _, _, stats) = d.edges().next().unwrap();
        assert_eq!(stats.calls, 1);
        // A cancel frees the slot: the next request goes on.
        slot.cancel(t + Span::from_millis(1));
        assert_eq!(limit_snapshot(&d).outstanding, 0);
        let mut next = admit(&mut d, t + Span::from_millis(2), true);
        let slot = next.take_slot().unwrap();
        assert_eq!(slot.admitted(), t + Span::from_millis(2));
        // A slot dropped unreported is cancelled too (never held forever).
        drop(slot);
        assert_eq!(limit_snapshot(&d).outstanding, 0);
        assert_eq!(limit_snapshot(&d).stats.blocked, 3);
    }

    #[test]
    fn the_rate_limit_is_asked_before_the_concurrency_limit() {
        let mut d = driver_with(
            "adaptive_concurrency = \"c\"\n",
            "{ upstream = \"api\", rate_limit = \"one\" }",
            &format!(
                "{ONE_SLOT}[policy.rate_limit.one]\nstrategy = \"sliding-window\"\n\
                 window = \"1m\"\nmax = 1\n"
            ),
        );
        let t = Timestamp::ZERO;
        let mut first = admit(&mut d, t, true);
        let _slot = first.take_slot().unwrap();
        // Over both limits: the rate limit answers, the controller never
        // sees the request.
        assert!(matches!(
            d.handle_request(t, 0, 1, true),
            Admission::Limited { .. }
        ));
        let snap = limit_snapshot(&d);
        assert_eq!((snap.outstanding, snap.stats.blocked), (1, 0));
        assert_eq!(d.route_stats(0).rate_limited, 1);
    }

    #[test]
    fn a_complete_response_is_a_latency_sample_and_a_cancel_is_not() {
        let mut d = driver_with("adaptive_concurrency = \"c\"\n", "\"api\"", ONE_SLOT);
        let ms = Span::from_millis;
        let t = Timestamp::ZERO;
        // A cancelled request: no sample, so the first window (ending at
        // 100 ms) has nothing to compute.
        admit(&mut d, t, true)
            .take_slot()
            .unwrap()
            .cancel(t + ms(50));
        admit(&mut d, t + ms(150), true)
            .take_slot()
            .unwrap()
            .cancel(t + ms(150));
        let snap = limit_snapshot(&d);
        assert_eq!(
            (snap.limit, snap.sample_rtt, snap.stats.updates),
            (1, None, 0)
        );
        assert_eq!(snap.min_rtt, Some(ms(10)));
        // A 5 ms response against a fixed 10 ms minRTT: gradient 2 at the
        // next window (300 ms), limit 1 × 2 + √2 → 3.
        admit(&mut d, t + ms(200), true)
            .take_slot()
            .unwrap()
            .complete(t + ms(205));
        let mut later = admit(&mut d, t + ms(301), true);
        let snap = limit_snapshot(&d);
        assert_eq!(snap.sample_rtt, Some(ms(5)));
        assert_eq!(
            (snap.limit, snap.stats.updates, snap.outstanding),
            (3, 1, 1)
        );
        assert_eq!(snap.stats.gradient, 2.0);
        later.take_slot().unwrap().cancel(t + ms(302));
    }

    fn shadow_snapshot(d: &Driver) -> ConcurrencySnapshot {
        let (r, limit) = d
            .shadow_concurrency_limits()
            .next()
            .expect("a shadow limit");
        assert_eq!(r, 0);
        limit.snapshot()
    }

    #[test]
    fn a_shadow_concurrency_limit_counts_what_it_would_block_and_never_blocks() {
        let shadow = "{ upstream = \"api\", shadow = { adaptive_concurrency = \"c\" } }";
        let mut d = driver_with("", shadow, ONE_SLOT);
        assert!(d.concurrency_limits().next().is_none(), "nothing enforced");
        let t = Timestamp::ZERO;
        let mut first = admit(&mut d, t, true);
        assert!(first.take_slot().is_none());
        let held = first
            .take_shadow_slot()
            .expect("the shadow would forward it");
        // Over the shadow limit: forwarded all the same, counted, and not
        // in flight for the shadow (it would have ended the request).
        let mut second = admit(&mut d, t, true);
        assert!(second.take_shadow_slot().is_none());
        assert_eq!(d.route_stats(0).shadow_would_block, 1);
        let snap = shadow_snapshot(&d);
        assert_eq!((snap.limit, snap.outstanding), (1, 1));
        held.complete(t + Span::from_millis(3));
        let mut third = admit(&mut d, t + Span::from_millis(4), true);
        let slot = third.take_shadow_slot().expect("room again");
        assert_eq!(shadow_snapshot(&d).outstanding, 1);
        slot.cancel(t + Span::from_millis(5));
        let stats = d.route_stats(0);
        assert_eq!(
            (stats.shadow_would_block, stats.shadow_would_forward),
            (1, 0)
        );
    }

    #[test]
    fn a_shadow_concurrency_limit_counts_what_it_would_forward() {
        // Enforced: one in flight; shadow: three.
        let shadow = "{ upstream = \"api\", shadow = { adaptive_concurrency = \"wide\" } }";
        let policy = format!(
            "{ONE_SLOT}[policy.adaptive_concurrency.wide]\nmin_concurrency = 3\n\
             min_rtt = \"10ms\"\n"
        );
        let mut d = driver_with("adaptive_concurrency = \"c\"\n", shadow, &policy);
        let t = Timestamp::ZERO;
        let mut first = admit(&mut d, t, true);
        let (enforced, trial) = (
            first.take_slot().unwrap(),
            first.take_shadow_slot().unwrap(),
        );
        // Blocked by the upstream's limit; the shadow would have forwarded
        // it, and gives its slot back at once (no response to sample).
        assert!(matches!(
            d.handle_request(t, 0, 1, true),
            Admission::Blocked
        ));
        let stats = d.route_stats(0);
        assert_eq!(
            (stats.shadow_would_block, stats.shadow_would_forward),
            (0, 1)
        );
        let snap = shadow_snapshot(&d);
        assert_eq!(
            (snap.limit, snap.outstanding, snap.stats.blocked),
            (3, 1, 0)
        );
        assert_eq!(limit_snapshot(&d).stats.blocked, 1);
        enforced.complete(t + Span::from_millis(2));
        trial.complete(t + Span::from_millis(2));
        assert_eq!(shadow_snapshot(&d).outstanding, 0);
    }

    /// A request the shadow rate limit would reject never reaches the
    /// shadow concurrency limit (the shadow set would have ended it).
    #[test]
    fn the_shadow_rate_limit_is_asked_before_the_shadow_concurrency_limit() {
        let shadow = "{ upstream = \"api\", shadow = { rate_limit = \"one\", \
                      adaptive_concurrency = \"c\" } }";
        let policy = format!(
            "{ONE_SLOT}[policy.rate_limit.one]\nstrategy = \"sliding-window\"\n\
             window = \"1m\"\nmax = 1\n"
        );
        let mut d = driver_with("", shadow, &policy);
        let t = Timestamp::ZERO;
        let mut first = admit(&mut d, t, true);
        let _trial = first.take_shadow_slot().unwrap();
        let mut second = admit(&mut d, t, true);
        assert!(second.take_shadow_slot().is_none());
        let stats = d.route_stats(0);
        assert_eq!((stats.shadow_would_limit, stats.shadow_would_block), (1, 0));
        assert_eq!(shadow_snapshot(&d).stats.blocked, 0);
    }

    /// The driver's limit makes the decisions of the controller driven
    /// directly (as the simulator drives an instance's) with the stream
    /// named for the upstream: minRTT measured, jittered re-measurements,
    /// responses and cancels interleaved.
    #[test]
    fn the_concurrency_limit_decides_as_the_controller_driven_directly() {
        use headroom_policy::concurrency::AdaptiveConcurrency;
        let policy = "[policy.adaptive_concurrency.c]\nmin_concurrency = 2\nmin_rtt_requests = 5\n\
                      min_rtt_interval = \"300ms\"\njitter = 0.5\nupdate_interval = \"20ms\"\n";
        let plan = plan_with("adaptive_concurrency = \"c\"\n", "\"api\"", policy);
        let spec = plan.upstreams[0].adaptive_concurrency.as_ref().unwrap().1;
        let mut d = Driver::new(&plan, Timestamp::ZERO, 9);
        let mut direct = AdaptiveConcurrency::new(&spec, Timestamp::ZERO);
        let mut rng = rng_stream(9, &concurrency_stream("api"));
        // In flight: (end, cancelled, admitted, the driver's slot).
        let mut in_flight: Vec<(Timestamp, bool, Timestamp, Slot)> = Vec::new();
        let (mut forwarded, mut blocked) = (0, 0);
        for i in 0..3000u64 {
            let now = Timestamp::ZERO + Span::from_micros(i * 700);
            in_flight.sort_by_key(|f| std::cmp::Reverse(f.0));
            while in_flight.last().is_some_and(|f| f.0 <= now) {
                let (end, cancelled, admitted, slot) = in_flight.pop().unwrap();
                if cancelled {
                    slot.cancel(end);
                    direct.handle_cancel(end);
                } else {
                    slot.complete(end);
                    direct.handle_response(end, admitted, &mut rng);
                }
            }
            let expected = direct.handle_request(now);
            match d.handle_request(now, 0, 1, true) {
                Admission::Admit(mut call) => {
                    assert_eq!(expected, Gate::Forward, "request {i}");
                    forwarded += 1;
                    // Latency grows with the load: 1 ms per request in flight.
                    let load = in_flight.len() as u64 + 1;
                    let end = now + Span::from_micros(1000 * load + (i * 37) % 500);
                    in_flight.push((end, i % 7 == 0, now, call.take_slot().unwrap()));
                }
                Admission::Blocked => {
                    assert_eq!(expected, Gate::Block, "request {i}");
                    blocked += 1;
                }
                Admission::Limited { .. } => panic!("no rate limit"),
            }
            let snap = limit_snapshot(&d);
            assert_eq!(
                (snap.limit, snap.outstanding, snap.min_rtt, snap.sample_rtt),
                (
                    direct.limit(),
                    direct.outstanding(),
                    direct.min_rtt(),
                    direct.sample_rtt()
                ),
                "after request {i}"
            );
            assert_eq!(snap.stats, direct.stats());
        }
        let stats = direct.stats();
        assert!(forwarded > 0 && blocked > 0, "{forwarded} {blocked}");
        assert!(stats.min_rtt_measurements >= 3, "{stats:?}");
        assert!(stats.updates > 10, "{stats:?}");
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
