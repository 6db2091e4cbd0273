//! Prometheus metrics (prometheus-client, OpenMetrics text).
//!
//! Request counters and the latency histogram are recorded by the proxy as
//! requests finish. Everything the driver decides or holds (retries, rate
//! limits, breaker states, healthy endpoints, shadow disagreements, adaptive
//! concurrency limits, desired replicas) is read from the driver at scrape
//! time; counters of a driver replaced by a reload are carried over, so
//! counters never go backwards.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock};

use headroom_policy::breaker::BreakerState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::driver::{ConcurrencySnapshot, Driver, RouteStats};
use crate::plan::Plan;

/// `route` and `status` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route pattern.
    pub route: String,
    /// Status sent to the client.
    pub status: u16,
}

/// A `route` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// Route pattern.
    pub route: String,
}

/// `upstream` and `outcome` labels of one try.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TryLabels {
    /// Upstream name.
    pub upstream: String,
    /// `response`, `timeout`, `connect-failure` or `reset`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShadowLabels {
    route: String,
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    upstream: String,
    edge: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegionLabels {
    upstream: String,
    region: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabel {
    upstream: String,
}

/// A gauge of seconds.
type Seconds = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~13 s in factors of 2.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 19))
}

/// The process's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// Requests answered, by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Time in the proxy, seconds, by route.
    pub latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
    /// Upstream tries, by upstream and outcome.
    pub tries: Family<TryLabels, Counter>,
    /// Access-log records dropped because the writer fell behind.
    pub access_log_dropped: Counter,
    reloads: Family<ResultLabel, Counter>,
    /// Route counters of drivers replaced by reloads, by route pattern.
    retired: Mutex<BTreeMap<String, RouteStats>>,
    /// Requests blocked by the adaptive concurrency limits of drivers
    /// replaced by reloads, by upstream name.
    retired_blocked: Mutex<BTreeMap<String, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            tries: Family::default(),
            access_log_dropped: Counter::default(),
            reloads: Family::default(),
            retired: Mutex::new(BTreeMap::new()),
            retired_blocked: Mutex::new(BTreeMap::new()),
        }
    }
}

fn add(a: RouteStats, b: RouteStats) -> RouteStats {
    RouteStats {
        rate_limited: a.rate_limited + b.rate_limited,
        retries: a.retries + b.retries,
        breaker_rejected: a.breaker_rejected + b.breaker_rejected,
        shadow_would_limit: a.shadow_would_limit + b.shadow_would_limit,
        shadow_would_admit: a.shadow_would_admit + b.shadow_would_admit,
        shadow_would_reject: a.shadow_would_reject + b.shadow_would_reject,
        shadow_would_send: a.shadow_would_send + b.shadow_would_send,
        shadow_would_open: a.shadow_would_open + b.shadow_would_open,
        shadow_would_retry: a.shadow_would_retry + b.shadow_would_retry,
        shadow_would_not_retry: a.shadow_would_not_retry + b.shadow_would_not_retry,
        shadow_would_time_out: a.shadow_would_time_out + b.shadow_would_time_out,
        shadow_would_block: a.shadow_would_block + b.shadow_would_block,
        shadow_would_forward: a.shadow_would_forward + b.shadow_would_forward,
    }
}

fn state_name(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        BreakerState::HalfOpen => "half-open",
        BreakerState::Disabled => "disabled",
        BreakerState::ForcedOpen => "forced-open",
        BreakerState::MetricsOnly => "metrics-only",
    }
}

/// One route's request counters (by status) and latency histogram,
/// resolved once per config so the request path allocates nothing for
/// metrics.
#[derive(Debug)]
pub struct RouteMetrics {
    route: String,
    requests: Family<RequestLabels, Counter>,
    by_status: Box<[OnceLock<Counter>]>,
    latency: Histogram,
}

impl RouteMetrics {
    /// Counts one request answered with `status` after `seconds`.
    pub fn record(&self, status: u16, seconds: f64) {
        let slot = usize::from(status.clamp(100, 599) - 100);
        self.by_status[slot]
            .get_or_init(|| {
                self.requests
                    .get_or_create(&RequestLabels {
                        route: self.route.clone(),
                        status,
                    })
                    .clone()
            })
            .inc();
        self.latency.observe(seconds);
    }
}

/// The try counters of one upstream, by outcome.
#[derive(Debug)]
pub struct TryCounters {
    /// `response`, `timeout`, `connect-failure`, `reset`.
    pub by_outcome: [Counter; 4],
}

impl Metrics {
    /// The handles of route `route` (`""` for requests no route matched).
    pub fn route(&self, route: &str) -> RouteMetrics {
        RouteMetrics {
            route: route.to_owned(),
            requests: self.requests.clone(),
            by_status: (100..600).map(|_| OnceLock::new()).collect(),
            latency: self
                .latency
                .get_or_create(&RouteLabel {
                    route: route.to_owned(),
                })
                .clone(),
        }
    }

    /// The try counters of `upstream`.
    pub fn tries(&self, upstream: &str) -> TryCounters {
        let outcomes = ["response", "timeout", "connect-failure", "reset"];
        TryCounters {
            by_outcome: outcomes.map(|outcome| {
                self.tries
                    .get_or_create(&TryLabels {
                        upstream: upstream.to_owned(),
                        outcome,
                    })
                    .clone()
            }),
        }
    }

    /// Counts a reload attempt.
    pub fn count_reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        self.reloads.get_or_create(&ResultLabel { result }).inc();
    }

    /// Keeps the counters of a driver that a reload is replacing.
    pub fn retire(&self, plan: &Plan, driver: &Driver) {
        let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        for (i, route) in plan.routes.iter().enumerate() {
            let entry = retired.entry(route.pattern.clone()).or_default();
            *entry = add(*entry, driver.route_stats(i));
        }
        let mut blocked = self
            .retired_blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (u, limit) in driver.concurrency_limits() {
            let name = plan.upstreams[u].name.clone();
            *blocked.entry(name).or_default() += limit.snapshot().stats.blocked;
        }
    }

    /// The OpenMetrics text for the running `plan` and `driver`.
    pub fn encode(&self, plan: &Plan, driver: &Driver) -> String {
        let mut registry = Registry::default();
        registry.register(
            "headroom_requests",
            "Requests answered, by route and status",
            self.requests.clone(),
        );
        registry.register(
            "headroom_request_duration_seconds",
            "Time from arrival to the end of the response in the proxy",
            self.latency.clone(),
        );
        registry.register(
            "headroom_upstream_tries",
            "Tries sent upstream, by outcome",
            self.tries.clone(),
        );
        registry.register(
            "headroom_access_log_dropped",
            "Access-log records dropped because the writer fell behind",
            self.access_log_dropped.clone(),
        );
        registry.register(
            "headroom_reloads",
            "Config reloads, by result",
            self.reloads.clone(),
        );
        self.register_driver(&mut registry, plan, driver);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }

    fn register_driver(&self, registry: &mut Registry, plan: &Plan, driver: &Driver) {
        let retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        let mut totals: BTreeMap<String, RouteStats> = retired.clone();
        for (i, route) in plan.routes.iter().enumerate() {
            let entry = totals.entry(route.pattern.clone()).or_default();
            *entry = add(*entry, driver.route_stats(i));
        }
        let retries = Family::<RouteLabel, Counter>::default();
        let limited = Family::<RouteLabel, Counter>::default();
        let rejected = Family::<RouteLabel, Counter>::default();
        let shadow = Family::<ShadowLabels, Counter>::default();
        for (route, s) in &totals {
            let label = RouteLabel {
                route: route.clone(),
            };
            retries.get_or_create(&label).inc_by(s.retries);
            limited.get_or_create(&label).inc_by(s.rate_limited);
            rejected.get_or_create(&label).inc_by(s.breaker_rejected);
            for (decision, n) in [
                ("would-limit", s.shadow_would_limit),
                ("would-admit", s.shadow_would_admit),
                ("would-reject", s.shadow_would_reject),
                ("would-send", s.shadow_would_send),
                ("would-open", s.shadow_would_open),
                ("would-retry", s.shadow_would_retry),
                ("would-not-retry", s.shadow_would_not_retry),
                ("would-time-out", s.shadow_would_time_out),
                ("would-block", s.shadow_would_block),
                ("would-forward", s.shadow_would_forward),
            ] {
                let labels = ShadowLabels {
                    route: route.clone(),
                    decision,
                };
                shadow.get_or_create(&labels).inc_by(n);
            }
        }
        registry.register("headroom_retries", "Retries scheduled, by route", retries);
        registry.register(
            "headroom_rate_limited",
            "Requests rejected with 429, by route",
            limited,
        );
        registry.register(
            "headroom_breaker_rejected",
            "Requests rejected by an open breaker, by route",
            rejected,
        );
        registry.register(
            "headroom_shadow_disagreements",
            "Decisions where the shadow policy set would have differed",
            shadow,
        );
        let breaker = Family::<BreakerLabels, Gauge>::default();
        let healthy = Family::<RegionLabels, Gauge>::default();
        for (u, name, state, _) in driver.edges() {
            let Some(state) = state else { continue };
            for s in [
                BreakerState::Closed,
                BreakerState::Open,
                BreakerState::HalfOpen,
            ] {
                let labels = BreakerLabels {
                    upstream: plan.upstreams[u].name.clone(),
                    edge: name.to_owned(),
                    state: state_name(s),
                };
                breaker.get_or_create(&labels).set(i64::from(s == state));
            }
        }
        for (u, up) in plan.upstreams.iter().enumerate() {
            for (e, ep) in up.endpoints.iter().enumerate() {
                let labels = RegionLabels {
                    upstream: up.name.clone(),
                    region: ep.region.clone(),
                };
                let g = healthy.get_or_create(&labels);
                g.inc_by(i64::from(driver.is_eligible(u, e)));
            }
        }
        registry.register(
            "headroom_breaker_state",
            "1 for the current state of each (upstream, mesh edge) breaker",
            breaker,
        );
        registry.register(
            "headroom_healthy_endpoints",
            "Endpoints healthy and not ejected, by upstream and region",
            healthy,
        );
        self.register_concurrency(registry, plan, driver);
        if let Some(desired) = driver.desired_replicas() {
            let g = Gauge::<i64>::default();
            g.set(i64::from(desired));
            registry.register(
                "headroom_desired_replicas",
                "Replicas the autoscaler policy wants for the observed load",
                g,
            );
        }
    }

    /// The adaptive concurrency limits: gauges of the running driver's
    /// controllers, and blocked requests counted across reloads.
    fn register_concurrency(&self, registry: &mut Registry, plan: &Plan, driver: &Driver) {
        let mut blocked_totals = self
            .retired_blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut gauges = ControllerGauges::default();
        for (u, l) in driver.concurrency_limits() {
            let snap = l.snapshot();
            let name = plan.upstreams[u].name.clone();
            *blocked_totals.entry(name.clone()).or_default() += snap.stats.blocked;
            gauges.set(&UpstreamLabel { upstream: name }, &snap);
        }
        self.register_shadow_concurrency(registry, plan, driver);
        if blocked_totals.is_empty() {
            return;
        }
        let blocked = Family::<UpstreamLabel, Counter>::default();
        for (upstream, n) in blocked_totals {
            blocked.get_or_create(&UpstreamLabel { upstream }).inc_by(n);
        }
        registry.register(
            "headroom_adaptive_concurrency_blocked",
            "Requests refused with 503 by the upstream's adaptive concurrency limit",
            blocked,
        );
        gauges.register(registry, "", "upstream");
    }

    /// The routes' shadow adaptive concurrency limits: what the trialled
    /// controller's limit would be (its disagreements are counted in
    /// `headroom_shadow_disagreements`).
    fn register_shadow_concurrency(&self, registry: &mut Registry, plan: &Plan, driver: &Driver) {
        let mut gauges = ControllerGauges::default();
        for (r, l) in driver.shadow_concurrency_limits() {
            let label = RouteLabel {
                route: plan.routes[r].pattern.clone(),
            };
            gauges.set(&label, &l.snapshot());
        }
        if gauges.any {
            gauges.register(registry, "shadow ", "route");
        }
    }
}

/// The gauges of a set of gradient controllers (the upstreams' or the
/// shadow sets'), labelled by `L`.
struct ControllerGauges<L> {
    limit: Family<L, Gauge>,
    outstanding: Family<L, Gauge>,
    min_rtt: Family<L, Seconds>,
    sample_rtt: Family<L, Seconds>,
    /// Whether any controller was set.
    any: bool,
}

impl<L> Default for ControllerGauges<L>
where
    L: Clone + std::hash::Hash + Eq,
{
    fn default() -> Self {
        ControllerGauges {
            limit: Family::default(),
            outstanding: Family::default(),
            min_rtt: Family::default(),
            sample_rtt: Family::default(),
            any: false,
        }
    }
}

impl<L> ControllerGauges<L>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    /// One controller's state (its RTTs once known).
    fn set(&mut self, label: &L, snap: &ConcurrencySnapshot) {
        self.any = true;
        self.limit.get_or_create(label).set(i64::from(snap.limit));
        self.outstanding
            .get_or_create(label)
            .set(i64::from(snap.outstanding));
        if let Some(rtt) = snap.min_rtt {
            self.min_rtt.get_or_create(label).set(rtt.as_secs_f64());
        }
        if let Some(rtt) = snap.sample_rtt {
            self.sample_rtt.get_or_create(label).set(rtt.as_secs_f64());
        }
    }

    /// Registers the four gauges, named `headroom_{whose}adaptive_concurrency_*`
    /// (`whose`: "" or "shadow "), with help text ending "by {by}".
    fn register(self, registry: &mut Registry, whose: &str, by: &str) {
        let prefix = format!("headroom_{}adaptive_concurrency", whose.replace(' ', "_"));
        registry.register(
            format!("{prefix}_limit"),
            format!("The {whose}adaptive concurrency limit on requests in flight, by {by}"),
            self.limit,
        );
        registry.register(
            format!("{prefix}_outstanding"),
            format!("Requests in flight under the {whose}adaptive concurrency limit, by {by}"),
            self.outstanding,
        );
        registry.register(
            format!("{prefix}_min_rtt_seconds"),
            format!("The {whose}gradient controller's minRTT (measured or fixed), by {by}"),
            self.min_rtt,
        );
        registry.register(
            format!("{prefix}_sample_rtt_seconds"),
            format!("The {whose}gradient controller's last sampleRTT, by {by}"),
            self.sample_rtt,
        );
    }
}
