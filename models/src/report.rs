//! What a replication produces, and the output columns (DESIGN §5).
//!
//! The column lists here are the contract of `runs.csv`, `timeseries.csv`
//! and `services.csv`; the CLI writes them in exactly this order. Columns
//! for parts of the system not modeled yet are present and hold 0 (listed in
//! `experiments/README.md`).

use std::fmt;

use headroom_sim::Span;
use headroom_sim::stats::{
    ConfidenceInterval, LatencyHistogram, Relaxation, ci95, heavy_traffic_relaxation,
    quantile_ci95, relaxation, sectioned_quantile_ci95,
};
use serde::{Deserialize, Serialize};

use crate::recovery::{RECOVERY_COLUMNS, TriggerRecovery};

/// Everything one replication produces.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Replication index.
    pub replication: u32,
    /// Run-level statistics over the measured window.
    pub metrics: RunMetrics,
    /// One row per time-series interval, warm-up included.
    pub timeseries: Vec<IntervalRow>,
    /// One row per (interval, service), interval by interval and services
    /// in `[[services]]` order within one (`services_timeseries.csv`).
    pub service_timeseries: Vec<ServiceIntervalRow>,
    /// One row per service (`services.csv`), in `[[services]]` order.
    pub services: Vec<ServiceRow>,
    /// One row per service and region it runs in (`deployments.csv`),
    /// services in `[[services]]` order and regions in `[[regions]]` order
    /// within one; empty with fewer than two regions.
    pub deployments: Vec<DeploymentRow>,
    /// One row per (interval, deployment of `deployments`), interval by
    /// interval and deployments in `deployments`' order within one
    /// (`deployments_timeseries.csv`), each naming its deployment by its
    /// index there; empty with fewer than two regions.
    pub deployment_timeseries: Vec<ServiceIntervalRow>,
    /// One row per call edge (`edges.csv`): the edge's calls to the entry
    /// services first, then each service's callees, services in
    /// `[[services]]` order.
    pub edges: Vec<EdgeRow>,
    /// One row per (interval, call edge), interval by interval and edges in
    /// `edges`' order within one (`edges_timeseries.csv`).
    pub edge_timeseries: Vec<EdgeIntervalRow>,
    /// One row per client region (`regions.csv`), in `[[regions]]` order;
    /// empty with fewer than two regions.
    pub regions: Vec<RegionRow>,
    /// One row per (interval, client region), interval by interval and
    /// regions in `regions`' order within one (`regions_timeseries.csv`);
    /// empty with fewer than two regions.
    pub region_timeseries: Vec<RegionIntervalRow>,
    /// One row per datastore shard (`shards.csv`): stores in
    /// `[[datastores]]` order, copies (primary first), shards.
    pub shards: Vec<ShardRow>,
    /// One row per (interval, shard), interval by interval and shards in
    /// `shards`' order within one (`shards_timeseries.csv`).
    pub shard_timeseries: Vec<ShardIntervalRow>,
    /// One row per (interval, cache tier), interval by interval and stores
    /// and tiers in scenario order within one (`caches_timeseries.csv`).
    pub cache_timeseries: Vec<CacheIntervalRow>,
    /// Each store failover (`datastores.*.failover`), in time order.
    pub store_failovers: Vec<StoreFailover>,
    /// The bill line by line (`bill.csv`; empty without `[costs]`): each
    /// deployment's instances, each store's shards and replicas, each
    /// billed cache tier copy's capacity, each tier's priced operations by
    /// copy, and each region's egress. Its lines add up to `metrics`'
    /// `cost_usd`.
    pub bill: Vec<BillRow>,
    /// Most requests in flight at once (the request slab's high-water mark).
    pub peak_in_flight: u64,
    /// The engine's books at the end of the run (conservation).
    pub audit: Audit,
    /// The warm-up this replication excluded, seconds: `run.warmup`, or the
    /// truncation MSER-5 chose with `warmup = "auto"`.
    pub warmup_s: f64,
    /// With `warmup = "auto"`: MSER-5 found no minimum before the end of
    /// the searched half (or had too few observations), so the transient
    /// may outlast the truncation: run longer.
    pub warmup_at_limit: bool,
    /// Mean latency (ms) of the answered requests that arrived in each of
    /// [`LATENCY_BATCHES`] equal batches of the measured window (NaN for a batch without
    /// one): the series [`relaxation_of`] reads. Empty when the scenario has
    /// a trigger (a fault window, a cache flush, a surge): such a run is a
    /// designed transient, whose replications are the experiment's unit,
    /// not a steady state to span.
    pub latency_batches: Vec<f64>,
    /// Length of one of those batches, seconds.
    pub latency_batch_s: f64,
    /// Every queue of the system (each service, each datastore shard, each
    /// store's connection pools) and
    /// its load over the measured window: what [`bottleneck_of`] reads.
    /// Empty when `latency_batches` is.
    pub stations: Vec<StationLoad>,
}

/// The engine's books at the end of a replication, warm-up included: every
/// arrival must end exactly once, and nothing may be left in flight, held or
/// queued once the event queue is empty. [`run_replication`] refuses a run
/// whose books do not balance.
///
/// [`run_replication`]: crate::engine::run_replication
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Audit {
    /// Client requests that arrived (rejected ones included).
    pub arrivals: u64,
    /// Client requests that ended (any outcome).
    pub ends: u64,
    /// Attempts to end a request that had already ended.
    pub double_ends: u64,
    /// Requests, calls and attempts still allocated at the end.
    pub requests_left: u64,
    /// Calls still allocated at the end.
    pub calls_left: u64,
    /// Attempts still allocated at the end.
    pub attempts_left: u64,
    /// Workers still held, summed over instances, at the end.
    pub workers_held: u64,
    /// Attempts still queued for a worker, summed over instances, at the end.
    pub queued: u64,
}

impl Audit {
    /// What does not balance, if anything.
    pub fn violation(&self) -> Option<String> {
        let mut wrong = Vec::new();
        if self.arrivals != self.ends {
            wrong.push(format!("{} arrivals but {} ends", self.arrivals, self.ends));
        }
        let left = [
            (self.double_ends, "requests ended twice"),
            (self.requests_left, "requests left in flight"),
            (self.calls_left, "calls left in flight"),
            (self.attempts_left, "attempts left in flight"),
            (self.workers_held, "workers still held"),
            (self.queued, "attempts still queued"),
        ];
        for (n, what) in left {
            if n != 0 {
                wrong.push(format!("{n} {what}"));
            }
        }
        (!wrong.is_empty()).then(|| wrong.join(", "))
    }
}

/// Per-service statistics of one replication over the measured window.
#[derive(Clone, Debug)]
pub struct ServiceRow {
    /// The service.
    pub service: String,
    /// Tries that reached an instance of the service.
    pub requests: u64,
    /// Tries that ended unsuccessfully there (failed, shed, or failed by a
    /// downstream call).
    pub errors: u64,
    /// Time from a try's arrival at an instance to its response.
    pub latency: LatencyHistogram,
    /// Mean fraction of its workers held (busy or waiting on calls).
    pub utilization: f64,
    /// Mean fraction of its workers doing local work.
    pub cpu_util: f64,
    /// Time-weighted mean number of instances (booting, ready or draining).
    pub replicas_mean: f64,
    /// Most instances at once.
    pub replicas_max: u64,
    /// Of `requests`, turned away at once: a full queue, or refused by the
    /// adaptive concurrency limit (also counted in `errors`).
    pub shed: u64,
    /// Of `shed`, refused by the adaptive concurrency limit (Envoy's
    /// `rq_blocked`).
    pub concurrency_blocked: u64,
    /// The adaptive concurrency limit the tries met on arrival, averaged
    /// over them (by PASTA, the time average under Poisson arrivals); NaN
    /// for a service without a limit (or without tries).
    pub concurrency_limit_mean: f64,
    /// Worker time of its tries whose caller had given up (a per-try or
    /// overall timeout, a lost hedge race), counted as each try ends:
    /// its share of `runs.csv`'s `wasted_work_s`.
    pub wasted_work_s: f64,
}

/// One service's deployment in one region over the measured window: the
/// same figures as a service's, of its instances there (a service's are its
/// deployments' added up), and what they cost.
#[derive(Clone, Debug)]
pub struct DeploymentRow {
    /// The region.
    pub region: String,
    /// The deployment's figures (`service` names its service).
    pub stats: ServiceRow,
    /// Its instances' price at their measured mean count, USD per month
    /// (instances only: egress and the data tier are the run's).
    pub instance_cost_per_month_usd: f64,
}

/// One call edge (caller -> callee) over the measured window, as its
/// callers' proxies saw it: the calls that ended there, each counted once by
/// how it ended (`calls = ok + degraded + errors + timeouts + shed +
/// rejected`), the retries and hedges sent there, and its breakers' open
/// time.
#[derive(Clone, Debug)]
pub struct EdgeRow {
    /// The calling service, or `edge` for the edge's calls to an entry
    /// service.
    pub caller: String,
    /// The called service.
    pub callee: String,
    /// Calls that ended in the measured window.
    pub calls: u64,
    /// Answered.
    pub ok: u64,
    /// Answered with a fallback (this edge's, or one further down).
    pub degraded: u64,
    /// Failed with an error (a 5xx, a reset, a connect failure, the
    /// breaker's refusal without a fallback, a failed downstream call).
    pub errors: u64,
    /// Ended at a deadline: the last try's per-try timeout or the call's
    /// overall one.
    pub timeouts: u64,
    /// Shed by a full queue or an adaptive concurrency limit.
    pub shed: u64,
    /// Rate limited (429).
    pub rejected: u64,
    /// Of `calls`, refused by the caller's breaker (answered by the
    /// fallback, counted in `degraded`, or failed, counted in `errors`).
    pub refused: u64,
    /// Retries sent in the measured window (`runs.csv`'s `retries` is their
    /// sum over edges, plus datastore retries).
    pub retries: u64,
    /// Hedges sent in the measured window (summing to `runs.csv`'s).
    pub hedges: u64,
    /// Tries the caller stopped waiting for at a deadline (per-try or
    /// overall), retried or not.
    pub try_timeouts: u64,
    /// Time from a call's start to its end as the caller saw it, across its
    /// tries and backoffs, however it ended.
    pub latency: LatencyHistogram,
    /// Breaker-seconds open on the edge (its caller instances' breakers
    /// added up; summing to `runs.csv`'s `breaker_open_s`).
    pub breaker_open_s: f64,
}

/// `edges.csv` columns, in order.
pub const EDGE_COLUMNS: [&str; 20] = [
    "point",
    "replication",
    "caller",
    "callee",
    "calls",
    "ok",
    "degraded",
    "errors",
    "timeouts",
    "shed",
    "rejected",
    "refused",
    "retries",
    "hedges",
    "try_timeouts",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "breaker_open_s",
];

impl EdgeRow {
    /// The cells after `point, replication, caller, callee`, in
    /// [`EDGE_COLUMNS`] order.
    pub fn cells(&self) -> [Cell; 16] {
        let [mean, p50, p95, p99] = latency_cells(&self.latency);
        [
            Cell::Int(self.calls),
            Cell::Int(self.ok),
            Cell::Int(self.degraded),
            Cell::Int(self.errors),
            Cell::Int(self.timeouts),
            Cell::Int(self.shed),
            Cell::Int(self.rejected),
            Cell::Int(self.refused),
            Cell::Int(self.retries),
            Cell::Int(self.hedges),
            Cell::Int(self.try_timeouts),
            mean,
            p50,
            p95,
            p99,
            Cell::Float(self.breaker_open_s),
        ]
    }
}

/// One call edge's time-series interval (`edges_timeseries.csv`): its
/// calls that ended in the interval and what its callers sent there, as
/// `edges.csv` counts them over the measured window (warm-up included
/// here, as every time series).
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeIntervalRow {
    /// End of the interval, seconds since the start.
    pub t_s: f64,
    /// Index of the edge in [`RunOutput::edges`].
    pub edge: usize,
    /// Calls that ended in the interval, per second, however they ended.
    pub calls_rps: f64,
    /// Of them, answered (`ok` or `degraded`), per second.
    pub answered_rps: f64,
    /// Failed: errors, timeouts and sheds (as `timeseries.csv`'s `errors`).
    pub errors: u64,
    /// Rate limited (429).
    pub rejected: u64,
    /// Refused by the caller's breaker.
    pub refused: u64,
    /// Retries sent.
    pub retries: u64,
    /// Hedges sent.
    pub hedges: u64,
    /// Tries the caller stopped waiting for at a deadline.
    pub try_timeouts: u64,
    /// Median time of the calls that ended, as their callers saw it, ms;
    /// NaN without one.
    pub latency_p50_ms: f64,
    /// Their p99, ms; NaN without one.
    pub latency_p99_ms: f64,
    /// Breakers open on the edge at the end of the interval.
    pub breaker_open: u64,
    /// A trigger (fault window, cache flush or surge) overlaps the interval.
    pub trigger: bool,
}

/// `edges_timeseries.csv` columns, in order.
pub const EDGE_TIMESERIES_COLUMNS: [&str; 17] = [
    "point",
    "replication",
    "t_s",
    "caller",
    "callee",
    "calls_rps",
    "answered_rps",
    "errors",
    "rejected",
    "refused",
    "retries",
    "hedges",
    "try_timeouts",
    "latency_p50_ms",
    "latency_p99_ms",
    "breaker_open",
    "trigger",
];

impl EdgeIntervalRow {
    /// The row's text after `point, replication` (its time, its edge's
    /// caller and callee from `edges`, then [`cells`](Self::cells)).
    pub fn text(&self, edges: &[EdgeRow]) -> impl Iterator<Item = String> + '_ {
        let e = &edges[self.edge];
        [
            Cell::Float(self.t_s).to_string(),
            e.caller.clone(),
            e.callee.clone(),
        ]
        .into_iter()
        .chain(self.cells().map(|c| c.to_string()))
    }

    /// The cells after `point, replication, t_s, caller, callee`, in
    /// [`EDGE_TIMESERIES_COLUMNS`] order.
    pub fn cells(&self) -> [Cell; 12] {
        [
            Cell::Float(self.calls_rps),
            Cell::Float(self.answered_rps),
            Cell::Int(self.errors),
            Cell::Int(self.rejected),
            Cell::Int(self.refused),
            Cell::Int(self.retries),
            Cell::Int(self.hedges),
            Cell::Int(self.try_timeouts),
            Cell::Float(self.latency_p50_ms),
            Cell::Float(self.latency_p99_ms),
            Cell::Int(self.breaker_open),
            Cell::Flag(self.trigger),
        ]
    }
}

/// `deployments_timeseries.csv` columns, in order: `services_timeseries.csv`'s
/// with the region after the service.
pub const DEPLOYMENT_TIMESERIES_COLUMNS: [&str; 17] = [
    "point",
    "replication",
    "t_s",
    "service",
    "region",
    "tries_rps",
    "errors",
    "shed",
    "concurrency_blocked",
    "concurrency_limit_mean",
    "latency_p50_ms",
    "latency_p99_ms",
    "utilization",
    "cpu_util",
    "replicas",
    "wasted_work_s",
    "trigger",
];

/// `deployments.csv` columns, in order: `services.csv`'s with the region
/// after the service, and the instances' cost.
pub const DEPLOYMENT_COLUMNS: [&str; 19] = [
    "point",
    "replication",
    "service",
    "region",
    "requests",
    "errors",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "utilization",
    "cpu_util",
    "replicas_mean",
    "replicas_max",
    "shed",
    "concurrency_blocked",
    "concurrency_limit_mean",
    "wasted_work_s",
    "instance_cost_per_month_usd",
];

impl DeploymentRow {
    /// The cells after `point, replication, service, region`, in
    /// [`DEPLOYMENT_COLUMNS`] order.
    pub fn cells(&self) -> [Cell; 15] {
        let [a, b, c, d, e, f, g, h, i, j, k, l, m, n] = self.stats.cells();
        [
            a,
            b,
            c,
            d,
            e,
            f,
            g,
            h,
            i,
            j,
            k,
            l,
            m,
            n,
            Cell::Float(self.instance_cost_per_month_usd),
        ]
    }
}

/// One client region's requests over the measured window: those that
/// arrived after the warm-up from clients in the region, wherever they were
/// served, each counted once by how it ended
/// (`requests = ok + degraded + errors + rejected + timeouts + shed`).
#[derive(Clone, Debug)]
pub struct RegionRow {
    /// The clients' region.
    pub region: String,
    /// Requests its clients sent after the warm-up.
    pub requests: u64,
    /// Answered successfully.
    pub ok: u64,
    /// Answered with a fallback.
    pub degraded: u64,
    /// Failed with an error (a dark edge region's connect timeout
    /// included).
    pub errors: u64,
    /// Refused by a policy.
    pub rejected: u64,
    /// Gave up waiting.
    pub timeouts: u64,
    /// Dropped because a queue was full.
    pub shed: u64,
    /// Of `requests`, those some hop of which went to a region other than
    /// its preferred one (runs.csv's `failovers`, by client region).
    pub failovers: u64,
    /// End-to-end latency of its answered requests, the round trip to an
    /// edge in another region included.
    pub latency: LatencyHistogram,
}

/// `regions.csv` columns, in order.
pub const REGION_COLUMNS: [&str; 17] = [
    "point",
    "replication",
    "region",
    "requests",
    "ok",
    "degraded",
    "errors",
    "rejected",
    "timeouts",
    "shed",
    "availability",
    "failovers",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_p999_ms",
];

impl RegionRow {
    /// `(ok + degraded) / requests`; NaN without requests.
    pub fn availability(&self) -> f64 {
        if self.requests == 0 {
            f64::NAN
        } else {
            (self.ok + self.degraded) as f64 / self.requests as f64
        }
    }

    /// The cells after `point, replication, region`, in [`REGION_COLUMNS`]
    /// order.
    pub fn cells(&self) -> [Cell; 14] {
        let [mean, p50, p95, p99] = latency_cells(&self.latency);
        let p999 = Cell::Float(self.latency.quantile_ms(0.999));
        [
            Cell::Int(self.requests),
            Cell::Int(self.ok),
            Cell::Int(self.degraded),
            Cell::Int(self.errors),
            Cell::Int(self.rejected),
            Cell::Int(self.timeouts),
            Cell::Int(self.shed),
            Cell::Float(self.availability()),
            Cell::Int(self.failovers),
            mean,
            p50,
            p95,
            p99,
            p999,
        ]
    }
}

/// Per-shard statistics of one replication over the measured window.
#[derive(Clone, Debug)]
pub struct ShardRow {
    /// The datastore.
    pub store: String,
    /// The region of the copy (the primary's or a replica's).
    pub region: String,
    /// Shard number, `fmix64(key) mod shards`.
    pub shard: u32,
    /// Operations that reached the shard.
    pub requests: u64,
    /// Its most popular key with Zipf keys (the lowest rank among the keys
    /// it holds); `None` with uniform keys, or when no key of the first
    /// 2^20 ranks maps to it.
    pub top_key: Option<u64>,
    /// Of `requests`, those of `top_key`.
    pub top_key_requests: u64,
    /// Operations that failed there: its queue was full, they were over its
    /// `shard.rate_limit` (429), or its region's outage cut them (a reset).
    pub errors: u64,
    /// Of `errors`, those over its `shard.rate_limit` (throttled, 429):
    /// the rest found its queue full.
    pub throttled: u64,
    /// Time from arrival at the shard to the end of the operation.
    pub latency: LatencyHistogram,
    /// Mean fraction of its workers busy.
    pub utilization: f64,
    /// Worker-seconds of operations whose caller had stopped waiting (the
    /// store's `timeout`) when their work ended, counted as each ends in
    /// the measured window. Not in `runs.csv`'s `wasted_work_s`, which is
    /// the services' workers'.
    pub wasted_work_s: f64,
    /// A replica's: writes of measured requests shipped from the primary
    /// that it applied (their work is in `utilization`, not in `requests`
    /// or `latency`); 0 for a copy that was the primary throughout.
    pub applied: u64,
    /// Of those, the replication lag: from the write's end at the primary
    /// to the end of its apply here.
    pub replication_lag: LatencyHistogram,
    /// A replica's: reads it served (of `requests - errors`) that had
    /// started here while a write of their key had been shipped to it and
    /// was not applied yet (they read a stale value); 0 for a copy that
    /// was the primary throughout.
    pub stale_reads: u64,
}

/// A store's replica promoted to primary (`datastores.*.failover`).
#[derive(Clone, Debug, PartialEq)]
pub struct StoreFailover {
    /// The datastore.
    pub store: String,
    /// The region of the primary before.
    pub from: String,
    /// The region of the promoted replica.
    pub to: String,
    /// When the old primary's region went dark, seconds since the start.
    pub dark_s: f64,
    /// When the replica was promoted (`failover.after` later).
    pub at_s: f64,
    /// Writes the old primary had finished that never reached the
    /// promoted replica: shipped into the partition, lost with it (the
    /// failover's data loss, its RPO in writes).
    pub lost_writes: u64,
}

/// `store_failovers.csv` columns, in order.
pub const STORE_FAILOVER_COLUMNS: [&str; 8] = [
    "point",
    "replication",
    "store",
    "from_region",
    "to_region",
    "dark_s",
    "promoted_s",
    "lost_writes",
];

impl StoreFailover {
    /// The text cells after `point, replication`: `store, from_region,
    /// to_region`.
    pub fn keys(&self) -> [&str; 3] {
        [&self.store, &self.from, &self.to]
    }

    /// The cells after those, in [`STORE_FAILOVER_COLUMNS`] order.
    pub fn cells(&self) -> [Cell; 3] {
        [
            Cell::Float(self.dark_s),
            Cell::Float(self.at_s),
            Cell::Int(self.lost_writes),
        ]
    }
}

/// One line of a replication's bill (`bill.csv`): what one priced thing
/// cost over the measured window.
#[derive(Clone, Debug, PartialEq)]
pub struct BillRow {
    /// What it prices (`kind`), and the part of the bill it is in (`part`).
    pub kind: crate::plan::costs::BillKind,
    /// The service (instances), the store (shards, replicas), the store
    /// and tier as `store/tier` (cache capacity and operations), or
    /// `network` (egress).
    pub component: String,
    /// Where it is paid: the deployment's, the copy's or the sending
    /// region; `global` for a global cache tier.
    pub region: String,
    /// Its cost over the measured window, USD.
    pub cost_usd: f64,
    /// The same per month, as `runs.csv`'s `cost_per_month_usd`.
    pub cost_per_month_usd: f64,
}

/// `bill.csv` columns, in order.
pub const BILL_COLUMNS: [&str; 8] = [
    "point",
    "replication",
    "part",
    "kind",
    "component",
    "region",
    "cost_usd",
    "cost_per_month_usd",
];

impl BillRow {
    /// The text cells after `point, replication`: `part, kind, component,
    /// region`.
    pub fn keys(&self) -> [&str; 4] {
        [
            self.kind.part(),
            self.kind.as_str(),
            &self.component,
            &self.region,
        ]
    }

    /// The cells after those, in [`BILL_COLUMNS`] order.
    pub fn cells(&self) -> [Cell; 2] {
        [
            Cell::Float(self.cost_usd),
            Cell::Float(self.cost_per_month_usd),
        ]
    }
}

/// `shards.csv` columns, in order.
pub const SHARD_COLUMNS: [&str; 18] = [
    "point",
    "replication",
    "store",
    "region",
    "shard",
    "requests",
    "errors",
    "throttled",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "utilization",
    "wasted_work_s",
    "applied",
    "replication_lag_mean_ms",
    "replication_lag_p99_ms",
    "stale_reads",
];

/// Mean, p50, p95 and p99 of `lat` in milliseconds (NaN when empty): the
/// latency cells of the per-shard and per-service tables.
fn latency_cells(lat: &LatencyHistogram) -> [Cell; 4] {
    if lat.count() == 0 {
        return [Cell::Float(f64::NAN); 4];
    }
    let q = |p: f64| Cell::Float(lat.quantile_ms(p));
    [Cell::Float(ms(lat.mean_ns())), q(0.50), q(0.95), q(0.99)]
}

impl ShardRow {
    /// The cells after `point, replication, store, region, shard`, in
    /// [`SHARD_COLUMNS`] order.
    pub fn cells(&self) -> [Cell; 13] {
        let [mean, p50, p95, p99] = latency_cells(&self.latency);
        let [lag_mean, _, _, lag_p99] = latency_cells(&self.replication_lag);
        [
            Cell::Int(self.requests),
            Cell::Int(self.errors),
            Cell::Int(self.throttled),
            mean,
            p50,
            p95,
            p99,
            Cell::Float(self.utilization),
            Cell::Float(self.wasted_work_s),
            Cell::Int(self.applied),
            lag_mean,
            lag_p99,
            Cell::Int(self.stale_reads),
        ]
    }
}

/// One cache tier's time-series interval (`caches_timeseries.csv`): every
/// lookup of the interval, whichever window its request arrived in, and
/// the tier's live copies at its end.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheIntervalRow {
    /// End of the interval, seconds since the start.
    pub t_s: f64,
    /// The datastore.
    pub store: String,
    /// The tier (`tier`).
    pub tier: String,
    /// Lookups at the tier per second (reads that reached it: the tiers
    /// before it missed).
    pub lookups_rps: f64,
    /// Of those, the fraction that hit; NaN without a lookup.
    pub hit_ratio: f64,
    /// Of the hits, the fraction that served a value older than their
    /// key's last committed write; NaN without a hit.
    pub stale_hit_ratio: f64,
    /// Copies alive at the interval's end: one per live caller instance
    /// that has used it (`scope = "instance"`), one per region or one
    /// (`"region"`, `"global"`) once used.
    pub copies: u64,
    /// Objects in those copies (expired ones included until dropped).
    pub items: u64,
    /// How full the copies are: objects (or bytes, for a capacity in
    /// bytes) over their capacity, all copies together; NaN without one.
    pub fill: f64,
    /// A trigger (fault window, cache flush or surge) overlaps the interval.
    pub trigger: bool,
}

/// `caches_timeseries.csv` columns, in order.
pub const CACHE_TIMESERIES_COLUMNS: [&str; 12] = [
    "point",
    "replication",
    "t_s",
    "store",
    "tier",
    "lookups_rps",
    "hit_ratio",
    "stale_hit_ratio",
    "copies",
    "items",
    "fill",
    "trigger",
];

impl CacheIntervalRow {
    /// The row's text after `point, replication`, in
    /// [`CACHE_TIMESERIES_COLUMNS`] order.
    pub fn text(&self) -> Vec<String> {
        let mut text = vec![
            Cell::Float(self.t_s).to_string(),
            self.store.clone(),
            self.tier.clone(),
        ];
        text.extend(
            [
                Cell::Float(self.lookups_rps),
                Cell::Float(self.hit_ratio),
                Cell::Float(self.stale_hit_ratio),
                Cell::Int(self.copies),
                Cell::Int(self.items),
                Cell::Float(self.fill),
                Cell::Flag(self.trigger),
            ]
            .map(|c| c.to_string()),
        );
        text
    }
}

/// One shard's time-series interval (`shards_timeseries.csv`): every
/// operation of the interval, whichever window its request arrived in.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardIntervalRow {
    /// End of the interval, seconds since the start.
    pub t_s: f64,
    /// Index of the shard in [`RunOutput::shards`].
    pub shard: usize,
    /// Operations that reached the shard, per second.
    pub requests_rps: f64,
    /// Of them, those turned away: a full queue, or over its
    /// `shard.rate_limit`.
    pub shed: u64,
    /// Of `shed`, those over its `shard.rate_limit` (throttled, 429).
    pub throttled: u64,
    /// Median time at the shard (arrival to the end of the work, as
    /// `shards.csv`'s latency) of the operations that ended in the
    /// interval, ms; NaN without one.
    pub latency_p50_ms: f64,
    /// Their p99, ms; NaN without one.
    pub latency_p99_ms: f64,
    /// Fraction of the shard's worker-seconds busy in the interval.
    pub utilization: f64,
    /// Operations waiting for a worker at the end of the interval.
    pub queued: u64,
    /// Worker-seconds of the operations whose work ended in the interval
    /// after their caller had stopped waiting (the store's `timeout`), as
    /// `shards.csv`'s `wasted_work_s`.
    pub wasted_work_s: f64,
    /// A replica's: the p99 replication lag of the writes it applied in
    /// the interval, ms; NaN without one (and for a primary).
    pub replication_lag_p99_ms: f64,
    /// A trigger (fault window, cache flush or surge) overlaps the interval.
    pub trigger: bool,
}

/// `shards_timeseries.csv` columns, in order.
pub const SHARD_TIMESERIES_COLUMNS: [&str; 16] = [
    "point",
    "replication",
    "t_s",
    "store",
    "region",
    "shard",
    "requests_rps",
    "shed",
    "throttled",
    "latency_p50_ms",
    "latency_p99_ms",
    "utilization",
    "queued",
    "wasted_work_s",
    "replication_lag_p99_ms",
    "trigger",
];

impl ShardIntervalRow {
    /// The row's text after `point, replication`: its time, its shard's
    /// store, region and number from `shards`, then the cells in
    /// [`SHARD_TIMESERIES_COLUMNS`] order.
    pub fn text(&self, shards: &[ShardRow]) -> impl Iterator<Item = String> + '_ {
        let shard = &shards[self.shard];
        [
            Cell::Float(self.t_s).to_string(),
            shard.store.clone(),
            shard.region.clone(),
            shard.shard.to_string(),
        ]
        .into_iter()
        .chain(
            [
                Cell::Float(self.requests_rps),
                Cell::Int(self.shed),
                Cell::Int(self.throttled),
                Cell::Float(self.latency_p50_ms),
                Cell::Float(self.latency_p99_ms),
                Cell::Float(self.utilization),
                Cell::Int(self.queued),
                Cell::Float(self.wasted_work_s),
                Cell::Float(self.replication_lag_p99_ms),
                Cell::Flag(self.trigger),
            ]
            .map(|c| c.to_string()),
        )
    }
}

/// One cache's lookups over the measured window (a store's tier or the
/// edge cache): its `runs.csv` column and the counts its hit ratio is made
/// of.
#[derive(Clone, Debug, PartialEq)]
pub struct TierHits {
    /// `cache_<store>_<tier>_hit_ratio` (`cache_edge_cache_hit_ratio` for
    /// the edge cache).
    pub column: String,
    /// Lookups of measured requests that hit.
    pub hits: u64,
    /// Of `hits`, those that served a value older than their key's last
    /// committed write (`stale_read_ratio`'s, by cache).
    pub stale_hits: u64,
    /// Lookups of measured requests.
    pub lookups: u64,
    /// Of `hits`, those in the first half of the measured window (by when
    /// the lookup happened).
    pub first_half_hits: u64,
    /// Of `lookups`, those in the first half of the measured window.
    pub first_half_lookups: u64,
}

impl TierHits {
    /// Hits over lookups; 0 without a lookup.
    pub fn hit_ratio(&self) -> f64 {
        if self.lookups == 0 {
            0.0
        } else {
            self.hits as f64 / self.lookups as f64
        }
    }
}

/// Run-level statistics of one replication. Counts are of requests that
/// arrived after the warm-up; each such request ends exactly once, so
/// `requests = ok + degraded + errors + rejected + timeouts + shed`.
#[derive(Clone, Debug)]
pub struct RunMetrics {
    /// Requests that arrived after the warm-up.
    pub requests: u64,
    /// Answered successfully.
    pub ok: u64,
    /// Answered with a fallback.
    pub degraded: u64,
    /// Failed with an error.
    pub errors: u64,
    /// Refused by a policy (rate limit, open breaker).
    pub rejected: u64,
    /// Gave up waiting.
    pub timeouts: u64,
    /// Dropped because a queue was full.
    pub shed: u64,
    /// Length of the measured window (duration minus warm-up).
    pub measured: Span,
    /// End-to-end latency of answered requests (`ok` and `degraded`).
    pub latency: LatencyHistogram,
    /// Time from arrival to the end of every request, whatever its outcome
    /// (how long failures take, e.g. a timeout's).
    pub latency_all: LatencyHistogram,
    /// Mean fraction of workers busy over the measured window.
    pub cpu_util_mean: f64,
    /// Time-weighted mean number of instances (every service; booting,
    /// ready or draining: the instances being paid for).
    pub replicas_mean: f64,
    /// Most instances at once.
    pub replicas_max: u64,
    /// End-to-end cache hit ratio: of the requests that looked a cache up
    /// (the edge's, or a tier's on a read), the fraction a cache answered:
    /// the edge, or the tiers without any store read (0 without caches).
    pub cache_hit_ratio: f64,
    /// Per cache in [`crate::plan::DataPlan::caches`]' order (the edge
    /// cache, then stores and tiers in scenario order): its column and the
    /// counts its hit ratio is made of.
    pub cache_tiers: Vec<TierHits>,
    /// With a datastore: of the measured reads answered (requests that
    /// read data: by the edge cache, a tier or a store), the fraction
    /// answered with a value older than the last committed write of its
    /// key (a cache entry a write did not invalidate, a fill that raced a
    /// write, a replica that had not applied it). The column goes after the
    /// tiers' hit ratios.
    pub stale_read_ratio: Option<f64>,
    /// Busiest shard's requests over the mean shard's (0 without shards).
    pub shard_max_load_ratio: f64,
    /// Seconds breakers spent open, summed over every caller's breaker.
    pub breaker_open_s: f64,
    /// Requests some hop of which went to a region other than its preferred
    /// one.
    pub failovers: u64,
    /// Retries sent (tries beyond the first of a call, hedges aside), every
    /// edge.
    pub retries: u64,
    /// Hedges sent (extra tries while an earlier one was in flight), every
    /// hedged edge.
    pub hedges: u64,
    /// Cost of the measured window, USD.
    pub cost_usd: f64,
    /// `cost_usd` extrapolated to a 730-hour month.
    pub cost_per_month_usd: f64,
    /// Of `cost_per_month_usd`: the instances' (every deployment's, at its
    /// region's price).
    pub instance_cost_per_month_usd: f64,
    /// Of `cost_per_month_usd`: the data tier's (shards, replicas, cache
    /// tier capacity and operations).
    pub data_cost_per_month_usd: f64,
    /// Of `cost_per_month_usd`: egress (inter-region, and responses to the
    /// internet).
    pub egress_cost_per_month_usd: f64,
    /// Every `[slo]` objective holds (true without `[slo]`).
    pub slo_met: bool,
    /// Worker-seconds spent on tries whose caller had given up (a per-try
    /// timeout or deadline fired; the callee worked on), counted when the
    /// abandoned try ends.
    pub wasted_work_s: f64,
    /// Instances that crashed.
    pub crashes: u64,
    /// Outlier ejections.
    pub ejections: u64,
    /// Recovery after each trigger (fault windows, cache flushes, surges),
    /// `None` when the scenario has none (then the recovery columns are
    /// absent).
    pub recovery: Option<Vec<TriggerRecovery>>,
    /// Sessions' outcomes with `workload.session`, `None` without (then the
    /// session columns are absent).
    pub sessions: Option<SessionMetrics>,
    /// With `slo.per_region`: the worst client region's latencies and
    /// availability, which `slo_met` judges (`None` without: then the
    /// `worst_region_*` columns are absent).
    pub worst_region: Option<WorstRegion>,
}

/// The worst of the client regions (those whose clients sent requests) on
/// each objective `slo.per_region` judges: the highest p50, p99 and p99.9
/// of a region's answered requests and the lowest availability, each from
/// whichever region it is. NaN when no region's request was answered (a
/// latency) or none was sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorstRegion {
    /// Highest p50, ns.
    pub p50_ns: f64,
    /// Highest p99, ns.
    pub p99_ns: f64,
    /// Highest p99.9, ns.
    pub p999_ns: f64,
    /// Lowest availability.
    pub availability: f64,
}

/// The `runs.csv` columns of [`WorstRegion`], in order (before `slo_met`).
pub const WORST_REGION_COLUMNS: [&str; 4] = [
    "worst_region_p50_ms",
    "worst_region_p99_ms",
    "worst_region_p999_ms",
    "worst_region_availability",
];

impl WorstRegion {
    /// The worst of `regions` (those without requests left out).
    pub fn of(regions: &[RegionRow]) -> WorstRegion {
        let sent: Vec<&RegionRow> = regions.iter().filter(|r| r.requests > 0).collect();
        // A region whose requests were all refused has no latency: a
        // latency objective then fails for it, as for a run.
        let worst_quantile = |p: f64| {
            sent.iter()
                .map(|r| {
                    if r.latency.count() == 0 {
                        f64::NAN
                    } else {
                        r.latency.quantile_ns(p) as f64
                    }
                })
                .reduce(|a, b| {
                    if a.is_nan() || b.is_nan() {
                        f64::NAN
                    } else {
                        a.max(b)
                    }
                })
                .unwrap_or(f64::NAN)
        };
        WorstRegion {
            p50_ns: worst_quantile(0.5),
            p99_ns: worst_quantile(0.99),
            p999_ns: worst_quantile(0.999),
            availability: sent
                .iter()
                .map(|r| r.availability())
                .reduce(f64::min)
                .unwrap_or(f64::NAN),
        }
    }

    /// The cells of [`WORST_REGION_COLUMNS`]: latencies in ms, as
    /// `runs.csv`'s quantiles.
    fn cells(&self) -> [Cell; 4] {
        [
            Cell::Float(self.p50_ns / 1e6),
            Cell::Float(self.p99_ns / 1e6),
            Cell::Float(self.p999_ns / 1e6),
            Cell::Float(self.availability),
        ]
    }
}

/// What the sessions that ended in the measured window went through. A
/// session is counted when it ends, not when it starts: in a steady state
/// the sessions that end in a window are a fair sample of all sessions,
/// each with its own weight, where those that start in it would include
/// the last ones, cut short by the end of arrivals (which are not counted:
/// they would have ended after the window). Sessions start from none open
/// at time zero, so those longer than the warm-up are under-sampled: the
/// ratios and means weight each session by the inverse of its sampling
/// share (1 for a session no longer than the warm-up; see the engine's
/// `on_session_end`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SessionMetrics {
    /// Sessions (a count).
    pub sessions: u64,
    /// Of them, those whose user gave up with requests still to send:
    /// after a request that was not answered
    /// (`workload.session.abandon_after_failure`), or when its patience ran
    /// out (`workload.session.patience`). A count.
    pub abandoned: u64,
    /// Their weights summed: `sessions` when none lasted longer than the
    /// warm-up.
    pub weight: f64,
    /// The weights of those every request of which was answered (`ok` or
    /// `degraded`), within its user's patience.
    pub answered: f64,
    /// The weights of those given up.
    pub given_up: f64,
    /// Requests they sent, weighted.
    pub requests: f64,
    /// Their durations, weighted and summed, seconds: from sending the
    /// first request to the user receiving the last one's outcome, or
    /// leaving.
    pub duration_s: f64,
}

/// The `runs.csv` columns of a run with sessions, before the recovery
/// columns ([`SessionMetrics::cells`]).
pub const SESSION_COLUMNS: [&str; 5] = [
    "sessions",
    "session_availability",
    "session_requests_mean",
    "session_duration_mean_s",
    "sessions_abandoned",
];

impl SessionMetrics {
    /// The cells of [`SESSION_COLUMNS`]; the ratios are NaN without a
    /// session.
    pub fn cells(&self) -> [Cell; 5] {
        [
            Cell::Int(self.sessions),
            Cell::Float(self.availability()),
            Cell::Float(self.requests_mean()),
            Cell::Float(self.duration_mean_s()),
            Cell::Int(self.abandoned),
        ]
    }

    /// Requests per session (NaN without a session).
    pub fn requests_mean(&self) -> f64 {
        self.per_session(self.requests)
    }

    /// Seconds per session (NaN without a session).
    pub fn duration_mean_s(&self) -> f64 {
        self.per_session(self.duration_s)
    }

    /// The fraction of sessions given up (NaN without a session).
    pub fn abandoned_fraction(&self) -> f64 {
        self.per_session(self.given_up)
    }

    /// `answered / sessions`: the fraction of sessions every request of
    /// which was answered (NaN without a session).
    pub fn availability(&self) -> f64 {
        self.per_session(self.answered)
    }

    fn per_session(&self, x: f64) -> f64 {
        if self.sessions == 0 {
            f64::NAN
        } else {
            x / self.weight
        }
    }
}

/// One `timeseries.csv` interval.
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalRow {
    /// End of the interval, seconds since the start.
    pub t_s: f64,
    /// Arrivals per second in the interval.
    pub arrivals_rps: f64,
    /// Successful completions per second in the interval.
    pub throughput_rps: f64,
    /// p99 latency of the interval's completions (NaN if none).
    pub latency_p99_ms: f64,
    /// Requests that ended unsuccessfully in the interval for a server-side
    /// reason (errors, timeouts, shed).
    pub errors: u64,
    /// Requests refused by a policy in the interval.
    pub rejected: u64,
    /// Instances at the end of the interval.
    pub replicas: u64,
    /// Mean fraction of workers busy in the interval.
    pub cpu_util: f64,
    /// Cache hit ratio in the interval.
    pub cache_hit_ratio: f64,
    /// Of the interval's answered reads of a datastore's keys, those
    /// answered with an outdated value (NaN without a read, or without a
    /// datastore): `runs.csv`'s `stale_read_ratio` over time.
    pub stale_read_ratio: f64,
    /// Breakers open at the end of the interval.
    pub breaker_open: u64,
    /// Healthy regions at the end of the interval.
    pub healthy_regions: u64,
    /// Cost accumulated since the start, USD.
    pub cost_usd_cum: f64,
    /// Retries sent in the interval (tries beyond the first of a call).
    pub retries: u64,
    /// Worker-seconds of tries abandoned by their caller (per-try timeout,
    /// deadline) that ended in the interval: work done for nobody.
    pub wasted_work_s: f64,
    /// A trigger (fault window, cache flush or surge) overlaps the interval.
    pub trigger: bool,
}

/// A CSV cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell {
    /// An integer.
    Int(u64),
    /// A float, printed in Rust's shortest round-trip form (`NaN` when
    /// undefined).
    Float(f64),
    /// A flag, printed as `1` or `0`.
    Flag(bool),
}

impl Cell {
    /// The value as a float (for summaries).
    pub fn as_f64(self) -> f64 {
        match self {
            Cell::Int(n) => n as f64,
            Cell::Float(x) => x,
            Cell::Flag(b) => f64::from(u8::from(b)),
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Int(n) => write!(f, "{n}"),
            Cell::Float(x) if x.is_nan() => f.write_str("NaN"),
            Cell::Float(x) => write!(f, "{x}"),
            Cell::Flag(b) => f.write_str(if *b { "1" } else { "0" }),
        }
    }
}

/// `runs.csv` metric columns, after `point, replication, seed` and the sweep
/// parameters. One `cache_<store>_<tier>_hit_ratio` column per cache tier goes
/// after `cache_hit_ratio` ([`RunMetrics::column_names`]).
pub const RUN_METRIC_COLUMNS: [&str; 29] = [
    "requests",
    "ok",
    "degraded",
    "errors",
    "rejected",
    "timeouts",
    "shed",
    "availability",
    "throughput_rps",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_p999_ms",
    "cpu_util_mean",
    "replicas_mean",
    "replicas_max",
    "cache_hit_ratio",
    "shard_max_load_ratio",
    "breaker_open_s",
    "failovers",
    "retries",
    "hedges",
    "wasted_work_s",
    "cost_usd",
    "cost_per_month_usd",
    "instance_cost_per_month_usd",
    "data_cost_per_month_usd",
    "egress_cost_per_month_usd",
];

/// The last `runs.csv` column.
pub const SLO_MET_COLUMN: &str = "slo_met";

/// The `runs.csv` column of [`RunMetrics::stale_read_ratio`], after the
/// tiers' hit ratios in a scenario with a datastore.
pub const STALE_READ_COLUMN: &str = "stale_read_ratio";

/// `timeseries.csv` columns, in order.
pub const TIMESERIES_COLUMNS: [&str; 18] = [
    "point",
    "replication",
    "t_s",
    "arrivals_rps",
    "throughput_rps",
    "latency_p99_ms",
    "errors",
    "rejected",
    "replicas",
    "cpu_util",
    "cache_hit_ratio",
    STALE_READ_COLUMN,
    "breaker_open",
    "healthy_regions",
    "cost_usd_cum",
    "retries",
    "wasted_work_s",
    "trigger",
];

fn ms(ns: f64) -> f64 {
    ns / 1e6
}

impl RunMetrics {
    /// Requests that ended in any way (equals `requests`).
    pub fn ended(&self) -> u64 {
        self.ok + self.degraded + self.errors + self.rejected + self.timeouts + self.shed
    }

    /// `(ok + degraded) / requests`; NaN with no requests.
    pub fn availability(&self) -> f64 {
        if self.requests == 0 {
            f64::NAN
        } else {
            (self.ok + self.degraded) as f64 / self.requests as f64
        }
    }

    /// The cells of [`RunMetrics::column_names`], in order.
    pub fn cells(&self) -> Vec<Cell> {
        let secs = self.measured.as_secs_f64();
        let lat = &self.latency;
        let q = |p: f64| lat.quantile_ms(p);
        let mean = if lat.count() == 0 {
            f64::NAN
        } else {
            ms(lat.mean_ns())
        };
        vec![
            Cell::Int(self.requests),
            Cell::Int(self.ok),
            Cell::Int(self.degraded),
            Cell::Int(self.errors),
            Cell::Int(self.rejected),
            Cell::Int(self.timeouts),
            Cell::Int(self.shed),
            Cell::Float(self.availability()),
            Cell::Float(self.ok as f64 / secs),
            Cell::Float(mean),
        ]
        .into_iter()
        .chain(LATENCY_QUANTILES.map(|(_, p)| Cell::Float(q(p))))
        .chain([
            Cell::Float(self.cpu_util_mean),
            Cell::Float(self.replicas_mean),
            Cell::Int(self.replicas_max),
            Cell::Float(self.cache_hit_ratio),
        ])
        .chain(self.cache_tiers.iter().map(|t| Cell::Float(t.hit_ratio())))
        .chain(self.stale_read_ratio.map(Cell::Float))
        .chain([
            Cell::Float(self.shard_max_load_ratio),
            Cell::Float(self.breaker_open_s),
            Cell::Int(self.failovers),
            Cell::Int(self.retries),
            Cell::Int(self.hedges),
            Cell::Float(self.wasted_work_s),
            Cell::Float(self.cost_usd),
            Cell::Float(self.cost_per_month_usd),
            Cell::Float(self.instance_cost_per_month_usd),
            Cell::Float(self.data_cost_per_month_usd),
            Cell::Float(self.egress_cost_per_month_usd),
        ])
        .chain(self.sessions.iter().flat_map(SessionMetrics::cells))
        .chain(
            self.recovery
                .as_deref()
                .map(crate::recovery::cells)
                .into_iter()
                .flatten(),
        )
        .chain(self.worst_region.iter().flat_map(WorstRegion::cells))
        .chain([Cell::Flag(self.slo_met)])
        .collect()
    }

    /// The names of [`RunMetrics::cells`]: [`RUN_METRIC_COLUMNS`] with the
    /// tiers' columns after `cache_hit_ratio`, the [`SESSION_COLUMNS`] with
    /// sessions, the [`RECOVERY_COLUMNS`] when the scenario has triggers,
    /// then `slo_met`.
    pub fn column_names(&self) -> Vec<String> {
        metric_columns(
            self.cache_tiers.iter().map(|t| t.column.clone()),
            self.stale_read_ratio.is_some(),
            self.sessions.is_some(),
            self.recovery.is_some(),
            self.worst_region.is_some(),
        )
    }
}

impl IntervalRow {
    /// The cells after `point, replication`, in [`TIMESERIES_COLUMNS`] order.
    pub fn cells(&self) -> [Cell; 16] {
        [
            Cell::Float(self.t_s),
            Cell::Float(self.arrivals_rps),
            Cell::Float(self.throughput_rps),
            Cell::Float(self.latency_p99_ms),
            Cell::Int(self.errors),
            Cell::Int(self.rejected),
            Cell::Int(self.replicas),
            Cell::Float(self.cpu_util),
            Cell::Float(self.cache_hit_ratio),
            Cell::Float(self.stale_read_ratio),
            Cell::Int(self.breaker_open),
            Cell::Int(self.healthy_regions),
            Cell::Float(self.cost_usd_cum),
            Cell::Int(self.retries),
            Cell::Float(self.wasted_work_s),
            Cell::Flag(self.trigger),
        ]
    }
}

/// One service's time-series interval (`services_timeseries.csv`).
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceIntervalRow {
    /// End of the interval, seconds since the start.
    pub t_s: f64,
    /// Index of the service in [`RunOutput::services`] (`[[services]]`
    /// order).
    pub service: usize,
    /// Tries that reached an instance of the service, per second.
    pub tries_rps: f64,
    /// Tries that ended unsuccessfully there in the interval (as
    /// `services.csv`'s `errors`).
    pub errors: u64,
    /// Tries turned away at once on arrival in the interval: a full queue
    /// or the adaptive concurrency limit.
    pub shed: u64,
    /// Of `shed`, refused by the adaptive concurrency limit.
    pub concurrency_blocked: u64,
    /// The adaptive concurrency limit the interval's tries met on arrival,
    /// averaged over them; NaN without a limit or without tries.
    pub concurrency_limit_mean: f64,
    /// Median time at the service of the tries that ended in the interval
    /// (from arrival at an instance to the response, as `services.csv`'s
    /// latency), ms; NaN without one.
    pub latency_p50_ms: f64,
    /// Their p99, ms; NaN without one.
    pub latency_p99_ms: f64,
    /// Fraction of the service's worker-seconds held in the interval.
    pub utilization: f64,
    /// Fraction of its worker-seconds doing local work.
    pub cpu_util: f64,
    /// Instances (booting, ready or draining) at the end of the interval.
    pub replicas: u64,
    /// Worker time of the tries whose caller had stopped waiting that
    /// ended in the interval (as `timeseries.csv`'s `wasted_work_s`).
    pub wasted_work_s: f64,
    /// A trigger (fault window, cache flush or surge) overlaps the interval.
    pub trigger: bool,
}

/// One client region's time-series interval (`regions_timeseries.csv`):
/// the requests of its clients that ended in the interval, as the main
/// time series counts them (by when they ended, warm-up included).
#[derive(Clone, Debug, PartialEq)]
pub struct RegionIntervalRow {
    /// End of the interval, seconds since the start.
    pub t_s: f64,
    /// Index of the region in [`RunOutput::regions`] (`[[regions]]` order).
    pub region: usize,
    /// Requests of the region's clients that ended in the interval, per
    /// second, however they ended.
    pub requests_rps: f64,
    /// Of them, answered (`ok` or `degraded`), per second.
    pub throughput_rps: f64,
    /// Answered / ended; NaN without one.
    pub availability: f64,
    /// Failed: errors (a dark edge region's connect timeout included),
    /// timeouts and sheds (as `timeseries.csv`'s `errors`).
    pub errors: u64,
    /// Refused by a policy (as `timeseries.csv`'s `rejected`).
    pub rejected: u64,
    /// Of the ended requests, those some hop of which went to a region
    /// other than its preferred one.
    pub failovers: u64,
    /// Median latency of the answered ones as their clients saw it (the
    /// round trip to an edge in another region included), ms; NaN without
    /// one.
    pub latency_p50_ms: f64,
    /// Their p99, ms; NaN without one.
    pub latency_p99_ms: f64,
    /// A trigger (fault window, cache flush or surge) overlaps the interval.
    pub trigger: bool,
}

/// `regions_timeseries.csv` columns, in order.
pub const REGION_TIMESERIES_COLUMNS: [&str; 13] = [
    "point",
    "replication",
    "t_s",
    "region",
    "requests_rps",
    "throughput_rps",
    "availability",
    "errors",
    "rejected",
    "failovers",
    "latency_p50_ms",
    "latency_p99_ms",
    "trigger",
];

impl RegionIntervalRow {
    /// The row's text after `point, replication` (its time, its region's
    /// name from `regions`, then [`cells`](Self::cells)).
    pub fn text(&self, regions: &[RegionRow]) -> impl Iterator<Item = String> + '_ {
        [
            Cell::Float(self.t_s).to_string(),
            regions[self.region].region.clone(),
        ]
        .into_iter()
        .chain(self.cells().map(|c| c.to_string()))
    }

    /// The cells after `point, replication, t_s, region`, in
    /// [`REGION_TIMESERIES_COLUMNS`] order.
    pub fn cells(&self) -> [Cell; 9] {
        [
            Cell::Float(self.requests_rps),
            Cell::Float(self.throughput_rps),
            Cell::Float(self.availability),
            Cell::Int(self.errors),
            Cell::Int(self.rejected),
            Cell::Int(self.failovers),
            Cell::Float(self.latency_p50_ms),
            Cell::Float(self.latency_p99_ms),
            Cell::Flag(self.trigger),
        ]
    }
}

/// `services_timeseries.csv` columns, in order.
pub const SERVICE_TIMESERIES_COLUMNS: [&str; 16] = [
    "point",
    "replication",
    "t_s",
    "service",
    "tries_rps",
    "errors",
    "shed",
    "concurrency_blocked",
    "concurrency_limit_mean",
    "latency_p50_ms",
    "latency_p99_ms",
    "utilization",
    "cpu_util",
    "replicas",
    "wasted_work_s",
    "trigger",
];

impl ServiceIntervalRow {
    /// The row's text after `point, replication` (its time, its service's
    /// name from `services`, then [`cells`](Self::cells)): what
    /// `services_timeseries.csv` and a sweep's table hold.
    pub fn text(&self, services: &[ServiceRow]) -> impl Iterator<Item = String> + '_ {
        [
            Cell::Float(self.t_s).to_string(),
            services[self.service].service.clone(),
        ]
        .into_iter()
        .chain(self.cells().map(|c| c.to_string()))
    }

    /// A deployment's row's text after `point, replication` (its time, its
    /// service's and region's names from `deployments`, then
    /// [`cells`](Self::cells)): what `deployments_timeseries.csv` holds.
    pub fn deployment_text(
        &self,
        deployments: &[DeploymentRow],
    ) -> impl Iterator<Item = String> + '_ {
        let d = &deployments[self.service];
        [
            Cell::Float(self.t_s).to_string(),
            d.stats.service.clone(),
            d.region.clone(),
        ]
        .into_iter()
        .chain(self.cells().map(|c| c.to_string()))
    }

    /// The cells after `point, replication, t_s, service`, in
    /// [`SERVICE_TIMESERIES_COLUMNS`] order.
    pub fn cells(&self) -> [Cell; 12] {
        [
            Cell::Float(self.tries_rps),
            Cell::Int(self.errors),
            Cell::Int(self.shed),
            Cell::Int(self.concurrency_blocked),
            Cell::Float(self.concurrency_limit_mean),
            Cell::Float(self.latency_p50_ms),
            Cell::Float(self.latency_p99_ms),
            Cell::Float(self.utilization),
            Cell::Float(self.cpu_util),
            Cell::Int(self.replicas),
            Cell::Float(self.wasted_work_s),
            Cell::Flag(self.trigger),
        ]
    }
}

/// `services.csv` columns, in order.
pub const SERVICE_COLUMNS: [&str; 17] = [
    "point",
    "replication",
    "service",
    "requests",
    "errors",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "utilization",
    "cpu_util",
    "replicas_mean",
    "replicas_max",
    "shed",
    "concurrency_blocked",
    "concurrency_limit_mean",
    "wasted_work_s",
];

impl ServiceRow {
    /// The cells after `point, replication, service`, in
    /// [`SERVICE_COLUMNS`] order.
    pub fn cells(&self) -> [Cell; 14] {
        let [mean, p50, p95, p99] = latency_cells(&self.latency);
        [
            Cell::Int(self.requests),
            Cell::Int(self.errors),
            mean,
            p50,
            p95,
            p99,
            Cell::Float(self.utilization),
            Cell::Float(self.cpu_util),
            Cell::Float(self.replicas_mean),
            Cell::Int(self.replicas_max),
            Cell::Int(self.shed),
            Cell::Int(self.concurrency_blocked),
            Cell::Float(self.concurrency_limit_mean),
            Cell::Float(self.wasted_work_s),
        ]
    }
}

/// The `runs.csv` metric column names of a run of `plan`, in order, `slo_met`
/// last (the cells of [`RunMetrics::cells`]).
pub fn run_columns(plan: &crate::Plan) -> Vec<String> {
    metric_columns(
        plan.data.caches().into_iter().map(|c| {
            let (store, tier) = plan.data.cache_names(c);
            crate::plan::data::hit_ratio_column(store, tier)
        }),
        !plan.data.stores.is_empty(),
        plan.workload.session.is_some(),
        !plan.recovery.triggers.is_empty(),
        plan.slo.is_some_and(|s| s.per_region),
    )
}

fn metric_columns(
    tiers: impl Iterator<Item = String>,
    stale: bool,
    sessions: bool,
    recovery: bool,
    worst_region: bool,
) -> Vec<String> {
    let mut tiers = Some(tiers);
    let mut out = Vec::with_capacity(
        RUN_METRIC_COLUMNS.len() + SESSION_COLUMNS.len() + RECOVERY_COLUMNS.len() + 2,
    );
    for c in RUN_METRIC_COLUMNS {
        out.push(c.to_owned());
        if c == "cache_hit_ratio"
            && let Some(t) = tiers.take()
        {
            out.extend(t);
            if stale {
                out.push(STALE_READ_COLUMN.to_owned());
            }
        }
    }
    if sessions {
        out.extend(SESSION_COLUMNS.map(String::from));
    }
    if recovery {
        out.extend(RECOVERY_COLUMNS.map(String::from));
    }
    if worst_region {
        out.extend(WORST_REGION_COLUMNS.map(String::from));
    }
    out.push(SLO_MET_COLUMN.to_owned());
    out
}

/// Whether `runs.csv` column `name` is a quantile read from a latency
/// histogram (`latency_p50_ms` ... `latency_p999_ms`).
pub fn is_histogram_quantile(name: &str) -> bool {
    name.starts_with("latency_p") && name.ends_with("_ms")
}

/// The `runs.csv` latency quantiles and the level each is read at from the
/// replication's `latency` histogram.
pub const LATENCY_QUANTILES: [(&str, f64); 4] = [
    ("latency_p50_ms", 0.50),
    ("latency_p95_ms", 0.95),
    ("latency_p99_ms", 0.99),
    ("latency_p999_ms", 0.999),
];

/// The [`LATENCY_QUANTILES`] of several replications pooled: each read from
/// their `latency` histograms merged, in milliseconds (NaN when no request
/// was answered). The centres of those quantiles' intervals
/// ([`metric_ci95`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pooled {
    /// Milliseconds, in [`LATENCY_QUANTILES`] order.
    pub ms: [f64; 4],
}

impl Pooled {
    /// The quantiles of `merged`, every replication's `latency` together.
    pub fn of(merged: &LatencyHistogram) -> Pooled {
        Pooled {
            ms: LATENCY_QUANTILES.map(|(_, q)| merged.quantile_ms(q)),
        }
    }

    /// The pooled value of `runs.csv` column `name`, if it is one of the
    /// [`LATENCY_QUANTILES`].
    pub fn get(&self, name: &str) -> Option<f64> {
        LATENCY_QUANTILES
            .iter()
            .position(|&(n, _)| n == name)
            .map(|i| self.ms[i])
    }
}

/// The 95 % interval of `runs.csv` metric `name` over the replications'
/// values `xs`. Every interval the tool reports or decides on (summary,
/// `points.csv`, the planner's stop rule and verdicts, `compare`) comes from
/// here.
///
/// - A latency quantile with the replications' `pooled` quantiles: by
///   sectioning ([`sectioned_quantile_ci95`]), centred on the pooled value,
///   whose short-run bias is that of one run as long as all of them.
/// - A latency quantile without them: Student t over `xs`
///   ([`quantile_ci95`]).
/// - Anything else (means, counts, costs: exact per replication): Student t
///   ([`ci95`]).
///
/// A quantile's interval is never narrower than the histogram's resolution.
pub fn metric_ci95(name: &str, xs: &[f64], pooled: Option<&Pooled>) -> ConfidenceInterval {
    if !is_histogram_quantile(name) {
        return ci95(xs);
    }
    match pooled.and_then(|p| p.get(name)) {
        Some(centre) => sectioned_quantile_ci95(centre, xs),
        None => quantile_ci95(xs),
    }
}

/// The 95 % interval of the paired differences `d` (B - A, one per
/// replication) of `runs.csv` metric `name` between scenarios whose
/// estimates (interval centres) are `a` and `b`.
///
/// - Not a latency quantile: Student t over `d`.
/// - A latency quantile: centred on `b - a` with the spread of `d` about it,
///   as sectioning centres each side on its pooled quantile
///   ([`metric_ci95`]); never narrower than the two histograms' resolution
///   together. Each side's quantile is within `x / 256` of its exact value,
///   in the same direction whenever both land in one bucket, so pairing
///   cannot cancel it: the difference is uncertain by up to
///   `(|a| + |b|) / 256` however alike the differences are (identical
///   differences would otherwise give "± 0" and a "differs" verdict on a
///   gap inside one bucket).
pub fn metric_difference_ci95(name: &str, a: f64, b: f64, d: &[f64]) -> ConfidenceInterval {
    if !is_histogram_quantile(name) {
        return ci95(d);
    }
    let mut ci = sectioned_quantile_ci95(b - a, d);
    let resolution = (a.abs() + b.abs()) * LatencyHistogram::MAX_RELATIVE_ERROR;
    if ci.half_width < resolution {
        ci.half_width = resolution;
    }
    ci
}

/// Mean and 95 % confidence half-width of each `runs.csv` metric over the
/// replications, in column order (`slo_met` included), by [`metric_ci95`]:
/// a latency quantile is centred on the replications pooled.
pub fn summarize(outputs: &[RunOutput]) -> Vec<(String, ConfidenceInterval)> {
    let rows: Vec<Vec<Cell>> = outputs.iter().map(|o| o.metrics.cells()).collect();
    let names = outputs.first().map_or_else(
        || metric_columns(std::iter::empty(), false, false, false, false),
        |o| o.metrics.column_names(),
    );
    let mut merged = LatencyHistogram::new();
    for o in outputs {
        merged.merge(&o.metrics.latency);
    }
    let pooled = Pooled::of(&merged);
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let xs: Vec<f64> = rows.iter().map(|r| r[i].as_f64()).collect();
            let ci = metric_ci95(&name, &xs, Some(&pooled));
            (name, ci)
        })
        .collect()
}

/// One client region over the measured window, across the replications.
#[derive(Clone, Debug)]
pub struct RegionSummary {
    /// The clients' region.
    pub region: String,
    /// Requests its clients sent, per second.
    pub requests_rps: ConfidenceInterval,
    /// `(ok + degraded) / requests`.
    pub availability: ConfidenceInterval,
    /// Of its requests, the fraction that failed over.
    pub failover_fraction: ConfidenceInterval,
    /// p50 and p99 of its answered requests, ms: every replication's pooled,
    /// with sectioning about it (as `runs.csv`'s quantiles).
    pub latency_p50_ms: ConfidenceInterval,
    /// See `latency_p50_ms`.
    pub latency_p99_ms: ConfidenceInterval,
    /// See `latency_p50_ms`.
    pub latency_p999_ms: ConfidenceInterval,
}

impl RegionSummary {
    /// The SLO's latency and availability objectives this region's clients
    /// miss, judged on the estimates (as `slo_met` judges a run's), each
    /// as `what measured > objective` (`p99 199.8 ms > 100 ms`, as a
    /// sweep's summary writes it); none
    /// missed, none. A latency objective with nothing answered is missed,
    /// as it is for a run. Cost and session objectives are the run's, not
    /// a region's, and are not judged here.
    pub fn slo_misses(&self, slo: &crate::plan::SloPlan) -> Vec<String> {
        let mut misses = Vec::new();
        for (name, limit, measured) in [
            ("p50", slo.p50, self.latency_p50_ms.mean),
            ("p99", slo.p99, self.latency_p99_ms.mean),
            ("p99.9", slo.p999, self.latency_p999_ms.mean),
        ] {
            if let Some(limit) = limit {
                let limit_ms = limit.as_nanos() as f64 / 1e6;
                if measured.is_nan() {
                    misses.push(format!("{name}: nothing answered"));
                } else if measured > limit_ms {
                    misses.push(format!("{name} {measured:.1} ms > {limit_ms} ms"));
                }
            }
        }
        if let Some(a) = slo.availability
            && (self.availability.mean.is_nan() || self.availability.mean < a)
        {
            misses.push(format!("availability {:.5} < {a}", self.availability.mean));
        }
        misses
    }
}

/// Every client region's [`RegionSummary`], in `[[regions]]` order (none
/// with fewer than two regions): what each region's clients saw.
pub fn summarize_regions(outputs: &[RunOutput]) -> Vec<RegionSummary> {
    let Some(first) = outputs.first() else {
        return Vec::new();
    };
    (0..first.regions.len())
        .map(|i| {
            let rows: Vec<&RegionRow> = outputs.iter().map(|o| &o.regions[i]).collect();
            let of =
                |f: &dyn Fn(&RunOutput, &RegionRow) -> f64| over_replications(outputs, &rows, f);
            let latencies: Vec<&LatencyHistogram> = rows.iter().map(|r| &r.latency).collect();
            RegionSummary {
                region: rows[0].region.clone(),
                requests_rps: of(&|o, r| r.requests as f64 / o.metrics.measured.as_secs_f64()),
                availability: of(&|_, r| r.availability()),
                failover_fraction: of(&|_, r| {
                    if r.requests == 0 {
                        f64::NAN
                    } else {
                        r.failovers as f64 / r.requests as f64
                    }
                }),
                latency_p50_ms: pooled_quantile_ci95(&latencies, 0.5),
                latency_p99_ms: pooled_quantile_ci95(&latencies, 0.99),
                latency_p999_ms: pooled_quantile_ci95(&latencies, 0.999),
            }
        })
        .collect()
}

/// The 95 % CI over the replications of `f` of each one's row (`rows[k]`
/// is `outputs[k]`'s).
fn over_replications<R>(
    outputs: &[RunOutput],
    rows: &[&R],
    f: &dyn Fn(&RunOutput, &R) -> f64,
) -> ConfidenceInterval {
    ci95(
        &outputs
            .iter()
            .zip(rows)
            .map(|(o, r)| f(o, r))
            .collect::<Vec<_>>(),
    )
}

/// Quantile `p` (ms) of the replications' histograms pooled, with
/// sectioning over each one's own (as `runs.csv`'s quantiles).
fn pooled_quantile_ci95(histograms: &[&LatencyHistogram], p: f64) -> ConfidenceInterval {
    let mut merged = LatencyHistogram::new();
    for h in histograms {
        merged.merge(h);
    }
    let own: Vec<f64> = histograms.iter().map(|h| h.quantile_ms(p)).collect();
    sectioned_quantile_ci95(merged.quantile_ms(p), &own)
}

/// One service over the measured window, across the replications.
#[derive(Clone, Debug)]
pub struct ServiceSummary {
    /// The service.
    pub service: String,
    /// Tries that reached its instances, per second.
    pub tries_rps: ConfidenceInterval,
    /// Of those, the fraction that ended unsuccessfully there.
    pub error_fraction: ConfidenceInterval,
    /// p99 of a try's time at the service, ms: every replication's tries
    /// pooled, with sectioning about it (as `runs.csv`'s quantiles).
    pub latency_p99_ms: ConfidenceInterval,
    /// Fraction of its workers held.
    pub utilization: ConfidenceInterval,
    /// Fraction of its workers computing.
    pub cpu_util: ConfidenceInterval,
    /// The busiest interval's held fraction (`services_timeseries.csv`),
    /// over the intervals wholly inside the measured window.
    pub peak_utilization: ConfidenceInterval,
    /// Time-weighted mean instances.
    pub replicas_mean: ConfidenceInterval,
}

/// Every service's [`ServiceSummary`], in `[[services]]` order: which tier
/// is the bottleneck, and how close its busiest interval came to the top.
pub fn summarize_services(outputs: &[RunOutput]) -> Vec<ServiceSummary> {
    let Some(first) = outputs.first() else {
        return Vec::new();
    };
    (0..first.services.len())
        .map(|i| {
            let rows: Vec<&ServiceRow> = outputs.iter().map(|o| &o.services[i]).collect();
            summarize_service_rows(outputs, &rows, &|o| peak_utilization(o, i))
        })
        .collect()
}

/// One service's deployment in one region over the measured window,
/// across the replications.
#[derive(Clone, Debug)]
pub struct DeploymentSummary {
    /// The region.
    pub region: String,
    /// Its figures, as a service's (no busiest interval: the time series
    /// are per service).
    pub figures: ServiceSummary,
    /// Its instances' cost, USD per month.
    pub instance_cost_per_month_usd: ConfidenceInterval,
}

/// Every deployment's [`DeploymentSummary`], in `deployments.csv`'s order
/// (empty with fewer than two regions): which region's instances of a
/// tier are the busy ones, and what each region's instances cost.
pub fn summarize_deployments(outputs: &[RunOutput]) -> Vec<DeploymentSummary> {
    let Some(first) = outputs.first() else {
        return Vec::new();
    };
    (0..first.deployments.len())
        .map(|i| {
            let rows: Vec<&DeploymentRow> = outputs.iter().map(|o| &o.deployments[i]).collect();
            let stats: Vec<&ServiceRow> = rows.iter().map(|r| &r.stats).collect();
            DeploymentSummary {
                region: rows[0].region.clone(),
                figures: summarize_service_rows(outputs, &stats, &|_| f64::NAN),
                instance_cost_per_month_usd: over_replications(outputs, &rows, &|_, r| {
                    r.instance_cost_per_month_usd
                }),
            }
        })
        .collect()
}

/// One call edge over the measured window, across the replications: how
/// much its callers retried and waited, and what they got.
#[derive(Clone, Debug)]
pub struct EdgeSummary {
    /// The calling service (`edge` for the edge's calls).
    pub caller: String,
    /// The called service.
    pub callee: String,
    /// Calls that ended, per second.
    pub calls_rps: ConfidenceInterval,
    /// Retries sent per call that ended.
    pub retries_per_call: ConfidenceInterval,
    /// Hedges sent per call that ended.
    pub hedges_per_call: ConfidenceInterval,
    /// Tries timed out per call that ended.
    pub try_timeouts_per_call: ConfidenceInterval,
    /// Of the calls, the fraction not answered (errors, timeouts, sheds,
    /// rate limits).
    pub failed_fraction: ConfidenceInterval,
    /// Of the calls, the fraction the caller's breaker refused.
    pub refused_fraction: ConfidenceInterval,
    /// p99 of a call's time as the caller saw it, ms: every replication's
    /// calls pooled, with sectioning about it.
    pub latency_p99_ms: ConfidenceInterval,
    /// Breaker-seconds open on the edge.
    pub breaker_open_s: ConfidenceInterval,
}

/// Every call edge's [`EdgeSummary`], in `edges.csv`'s order: which edge
/// retries, times out, or trips its breakers.
pub fn summarize_edges(outputs: &[RunOutput]) -> Vec<EdgeSummary> {
    let Some(first) = outputs.first() else {
        return Vec::new();
    };
    (0..first.edges.len())
        .map(|i| {
            let rows: Vec<&EdgeRow> = outputs.iter().map(|o| &o.edges[i]).collect();
            let of = |f: &dyn Fn(&RunOutput, &EdgeRow) -> f64| over_replications(outputs, &rows, f);
            let per_call = |n: &dyn Fn(&EdgeRow) -> u64| {
                of(&|_, r| {
                    if r.calls == 0 {
                        f64::NAN
                    } else {
                        n(r) as f64 / r.calls as f64
                    }
                })
            };
            let latencies: Vec<&LatencyHistogram> = rows.iter().map(|r| &r.latency).collect();
            EdgeSummary {
                caller: rows[0].caller.clone(),
                callee: rows[0].callee.clone(),
                calls_rps: of(&|o, r| r.calls as f64 / o.metrics.measured.as_secs_f64()),
                retries_per_call: per_call(&|r| r.retries),
                hedges_per_call: per_call(&|r| r.hedges),
                try_timeouts_per_call: per_call(&|r| r.try_timeouts),
                failed_fraction: per_call(&|r| r.calls - r.ok - r.degraded),
                refused_fraction: per_call(&|r| r.refused),
                latency_p99_ms: pooled_quantile_ci95(&latencies, 0.99),
                breaker_open_s: of(&|_, r| r.breaker_open_s),
            }
        })
        .collect()
}

/// The [`ServiceSummary`] of one service's (or deployment's) `rows`, one
/// per replication of `outputs`; `peak` reads a replication's busiest
/// interval.
fn summarize_service_rows(
    outputs: &[RunOutput],
    rows: &[&ServiceRow],
    peak: &dyn Fn(&RunOutput) -> f64,
) -> ServiceSummary {
    let of = |f: &dyn Fn(&RunOutput, &ServiceRow) -> f64| over_replications(outputs, rows, f);
    let latencies: Vec<&LatencyHistogram> = rows.iter().map(|r| &r.latency).collect();
    ServiceSummary {
        service: rows[0].service.clone(),
        tries_rps: of(&|o, r| r.requests as f64 / o.metrics.measured.as_secs_f64()),
        error_fraction: of(&|_, r| {
            if r.requests == 0 {
                f64::NAN
            } else {
                r.errors as f64 / r.requests as f64
            }
        }),
        latency_p99_ms: pooled_quantile_ci95(&latencies, 0.99),
        utilization: of(&|_, r| r.utilization),
        cpu_util: of(&|_, r| r.cpu_util),
        peak_utilization: of(&|o, _| peak(o)),
        replicas_mean: of(&|_, r| r.replicas_mean),
    }
}

/// The largest held fraction of service `i` over the intervals of `o`
/// wholly inside its measured window (NaN with none).
fn peak_utilization(o: &RunOutput, i: usize) -> f64 {
    let n = o.services.len();
    peak_in_window(o, |k| {
        o.service_timeseries.get(k * n + i).map(|r| r.utilization)
    })
}

/// The largest finite `value_at(k)` over the intervals `k` of `o` wholly
/// inside its measured window (NaN with none).
fn peak_in_window(o: &RunOutput, value_at: impl Fn(usize) -> Option<f64>) -> f64 {
    let mut start = 0.0;
    let mut peak = f64::NAN;
    for (k, iv) in o.timeseries.iter().enumerate() {
        if start >= o.warmup_s
            && let Some(v) = value_at(k)
            && v.is_finite()
            && (peak.is_nan() || v > peak)
        {
            peak = v;
        }
        start = iv.t_s;
    }
    peak
}

/// One copy of a sharded store (its primary or a replica) over the
/// measured window, across the replications, and its busiest shard.
#[derive(Clone, Debug)]
pub struct ShardSummary {
    /// The datastore.
    pub store: String,
    /// The copy's region.
    pub region: String,
    /// Shards of the copy.
    pub shards: usize,
    /// Operations that reached the copy's shards, per second.
    pub ops_rps: ConfidenceInterval,
    /// Of them, the fraction its shards turned away (full queues, rate
    /// limits).
    pub shed_fraction: ConfidenceInterval,
    /// Of them, the fraction over its shards' `shard.rate_limit`
    /// (throttled, 429): part of `shed_fraction`.
    pub throttled_fraction: ConfidenceInterval,
    /// The busiest shard: the most operations on average over the
    /// replications (the lowest number on a tie).
    pub busiest: u32,
    /// Its share of the copy's operations.
    pub busiest_share: ConfidenceInterval,
    /// Fraction of its workers busy.
    pub utilization: ConfidenceInterval,
    /// Its busiest interval's busy fraction (`shards_timeseries.csv`), over
    /// the intervals wholly inside the measured window.
    pub peak_utilization: ConfidenceInterval,
    /// p99 of an operation's time at it, ms: every replication's pooled,
    /// with sectioning about it.
    pub latency_p99_ms: ConfidenceInterval,
    /// Its most popular key ([`ShardRow::top_key`]).
    pub top_key: Option<u64>,
    /// That key's share of the shard's operations: a load no shard count
    /// spreads.
    pub top_key_share: ConfidenceInterval,
    /// That key's operations per second.
    pub top_key_rps: ConfidenceInterval,
    /// The busiest shard's workers busy on operations their callers had
    /// abandoned (`wasted_work_s` over the measured window), on average.
    pub wasted_workers: ConfidenceInterval,
    /// A read replica's p99 replication lag over all its shards, ms (every
    /// replication's pooled, with sectioning about it); `None` for the
    /// primary, or a replica that applied no write.
    pub replication_lag_p99_ms: Option<ConfidenceInterval>,
    /// A read replica's stale reads ([`ShardRow::stale_reads`]) over the
    /// reads its shards served (`requests - errors`); `None` for the
    /// primary, or a replica that applied no write.
    pub stale_read_fraction: Option<ConfidenceInterval>,
}

/// Every copy of every sharded store, in `shards.csv`'s order, with its
/// busiest shard: the shard that saturates first.
pub fn summarize_shards(outputs: &[RunOutput]) -> Vec<ShardSummary> {
    let Some(first) = outputs.first() else {
        return Vec::new();
    };
    let rows = &first.shards;
    // Copies are runs of rows with one (store, region), shards 0..n.
    let mut copies: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        match copies.last_mut() {
            Some(c) if r.shard != 0 => c.end = i + 1,
            _ => copies.push(i..i + 1),
        }
    }
    copies
        .into_iter()
        .map(|copy| {
            let total = |o: &RunOutput, f: fn(&ShardRow) -> u64| -> u64 {
                o.shards[copy.clone()].iter().map(f).sum()
            };
            let mean_requests = |i: usize| {
                outputs
                    .iter()
                    .map(|o| o.shards[i].requests as f64)
                    .sum::<f64>()
            };
            let busiest = copy
                .clone()
                .rev()
                .max_by(|&a, &b| mean_requests(a).total_cmp(&mean_requests(b)))
                .unwrap_or(copy.start);
            let of =
                |f: &dyn Fn(&RunOutput) -> f64| ci95(&outputs.iter().map(f).collect::<Vec<_>>());
            let ratio = |part: u64, whole: u64| {
                if whole == 0 {
                    f64::NAN
                } else {
                    part as f64 / whole as f64
                }
            };
            let latencies: Vec<&LatencyHistogram> =
                outputs.iter().map(|o| &o.shards[busiest].latency).collect();
            let lags: Vec<LatencyHistogram> = outputs
                .iter()
                .map(|o| {
                    let mut lag = LatencyHistogram::new();
                    o.shards[copy.clone()]
                        .iter()
                        .for_each(|r| lag.merge(&r.replication_lag));
                    lag
                })
                .collect();
            let replication_lag_p99_ms = lags
                .iter()
                .any(|h| h.count() > 0)
                .then(|| pooled_quantile_ci95(&lags.iter().collect::<Vec<_>>(), 0.99));
            let stale_read_fraction = replication_lag_p99_ms.is_some().then(|| {
                of(&|o| {
                    let served = total(o, |r| r.requests) - total(o, |r| r.errors);
                    ratio(total(o, |r| r.stale_reads), served)
                })
            });
            let n = rows.len();
            ShardSummary {
                store: rows[copy.start].store.clone(),
                region: rows[copy.start].region.clone(),
                shards: copy.len(),
                ops_rps: of(&|o| {
                    total(o, |r| r.requests) as f64 / o.metrics.measured.as_secs_f64()
                }),
                shed_fraction: of(&|o| ratio(total(o, |r| r.errors), total(o, |r| r.requests))),
                throttled_fraction: of(&|o| {
                    ratio(total(o, |r| r.throttled), total(o, |r| r.requests))
                }),
                busiest: rows[busiest].shard,
                busiest_share: of(&|o| ratio(o.shards[busiest].requests, total(o, |r| r.requests))),
                utilization: of(&|o| o.shards[busiest].utilization),
                peak_utilization: of(&|o| {
                    peak_in_window(o, |k| {
                        o.shard_timeseries
                            .get(k * n + busiest)
                            .map(|r| r.utilization)
                    })
                }),
                latency_p99_ms: pooled_quantile_ci95(&latencies, 0.99),
                top_key: rows[busiest].top_key,
                top_key_share: of(&|o| {
                    let r = &o.shards[busiest];
                    ratio(r.top_key_requests, r.requests)
                }),
                top_key_rps: of(&|o| {
                    o.shards[busiest].top_key_requests as f64 / o.metrics.measured.as_secs_f64()
                }),
                wasted_workers: of(&|o| {
                    o.shards[busiest].wasted_work_s / o.metrics.measured.as_secs_f64()
                }),
                replication_lag_p99_ms,
                stale_read_fraction,
            }
        })
        .collect()
}

/// One cache tier over the run, across the replications
/// (`caches_timeseries.csv`, and `runs.csv`'s hit ratio).
#[derive(Clone, Debug)]
pub struct CacheSummary {
    /// The datastore (`edge` for the edge cache).
    pub store: String,
    /// The tier (`cache` for the edge cache).
    pub tier: String,
    /// The edge cache (`[edge.cache]`), not a store's tier.
    pub edge: bool,
    /// Time of one lookup at it, ms.
    pub latency_ms: f64,
    /// Lookups at the tier per second over the measured window (those of
    /// the measured requests, as its hit ratio).
    pub lookups_rps: ConfidenceInterval,
    /// Hits and lookups over every replication's measured window.
    pub hits: u64,
    /// See [`CacheSummary::hits`].
    pub lookups: u64,
    /// Its hit ratio over the measured window (`runs.csv`).
    pub hit_ratio: ConfidenceInterval,
    /// Of its hits over the measured window, the fraction that served an
    /// outdated value, over the replications with a hit (`None` without a
    /// datastore, whose runs count no stale reads).
    pub stale_hit_ratio: Option<ConfidenceInterval>,
    /// Its fill at the warm-up end (the last interval ending by then; 0
    /// without a warm-up: every tier starts empty); NaN when no interval
    /// ends inside the warm-up.
    pub fill_at_warmup: ConfidenceInterval,
    /// Its highest fill in an interval wholly inside the measured window.
    pub fill_peak: ConfidenceInterval,
    /// Per `cache-flush` of the tier: when, and in the replications it
    /// refilled in, the seconds until its fill was back to 99 % of the
    /// fill before the flush, and how many of them did.
    pub refills: Vec<Refill>,
}

/// How a tier came back from one flush.
#[derive(Clone, Debug)]
pub struct Refill {
    /// When the flush came, seconds since the start.
    pub at_s: f64,
    /// Seconds from the flush to the end of the first interval whose fill
    /// is back to 99 % of the last one before it, over the replications
    /// that got there (at the interval's resolution).
    pub seconds: ConfidenceInterval,
    /// Replications that got there before the run ended.
    pub refilled: usize,
    /// Replications with a fill before the flush to come back to.
    pub of: usize,
}

/// Every cache of `plan`: the edge cache first, then stores and tiers in
/// scenario order ([`crate::plan::DataPlan::caches`]).
pub fn summarize_caches(plan: &crate::Plan, outputs: &[RunOutput]) -> Vec<CacheSummary> {
    if outputs
        .first()
        .is_none_or(|o| o.metrics.cache_tiers.is_empty())
    {
        return Vec::new();
    }
    use crate::plan::data::CacheRef;
    // In `cache_tiers`' order.
    let caches = plan.data.caches();
    let n = caches.len();
    caches
        .iter()
        .enumerate()
        .map(|(j, &cache)| {
            let of =
                |f: &dyn Fn(&RunOutput) -> f64| ci95(&outputs.iter().map(f).collect::<Vec<_>>());
            let refills = plan
                .faults
                .iter()
                .filter_map(|f| match *f {
                    crate::plan::FaultPlan::CacheFlush { store, tier, at }
                        if CacheRef::Tier { store, tier } == cache =>
                    {
                        Some(at.as_secs_f64())
                    }
                    _ => None,
                })
                .map(|at_s| {
                    let times: Vec<Option<f64>> = outputs
                        .iter()
                        .filter_map(|o| refill_s(&tier_rows(o, j, n), at_s))
                        .collect();
                    let done: Vec<f64> = times.iter().flatten().copied().collect();
                    Refill {
                        at_s,
                        seconds: ci95(&done),
                        refilled: done.len(),
                        of: times.len(),
                    }
                })
                .collect();
            let (store, tier) = plan.data.cache_names(cache);
            let latency = match cache {
                CacheRef::Edge => Span::ZERO,
                CacheRef::Tier { store, tier } => {
                    plan.data.stores[store.index()].tiers[usize::from(tier)].latency
                }
            };
            CacheSummary {
                store: store.to_owned(),
                tier: tier.to_owned(),
                edge: cache == CacheRef::Edge,
                latency_ms: latency.as_nanos() as f64 / 1e6,
                lookups_rps: of(&|o| {
                    o.metrics.cache_tiers[j].lookups as f64 / o.metrics.measured.as_secs_f64()
                }),
                hits: outputs.iter().map(|o| o.metrics.cache_tiers[j].hits).sum(),
                lookups: outputs
                    .iter()
                    .map(|o| o.metrics.cache_tiers[j].lookups)
                    .sum(),
                hit_ratio: of(&|o| o.metrics.cache_tiers[j].hit_ratio()),
                stale_hit_ratio: outputs[0].metrics.stale_read_ratio.map(|_| {
                    let hit: Vec<f64> = outputs
                        .iter()
                        .map(|o| &o.metrics.cache_tiers[j])
                        .filter(|t| t.hits > 0)
                        .map(|t| t.stale_hits as f64 / t.hits as f64)
                        .collect();
                    ci95(&hit)
                }),
                fill_at_warmup: of(&|o| fill_at(&tier_rows(o, j, n), o.warmup_s)),
                fill_peak: of(&|o| {
                    let rows = tier_rows(o, j, n);
                    peak_in_window(o, |k| rows.get(k).map(|r| r.fill))
                }),
                refills,
            }
        })
        .collect()
}

/// Tier `j`'s rows of `o`, interval by interval, of `n` tiers.
fn tier_rows(o: &RunOutput, j: usize, n: usize) -> Vec<&CacheIntervalRow> {
    o.cache_timeseries.iter().skip(j).step_by(n).collect()
}

/// A tier's fill at `t_s`: that of the last of its `rows` ending by then,
/// 0 at the start (every copy starts empty), NaN when none ends by then.
fn fill_at(rows: &[&CacheIntervalRow], t_s: f64) -> f64 {
    match rows.iter().rev().find(|r| r.t_s <= t_s) {
        Some(r) => r.fill,
        None if t_s == 0.0 => 0.0,
        None => f64::NAN,
    }
}

/// Seconds from a flush at `at_s` to the end of the first of a tier's
/// `rows` whose fill is back to 99 % of the last fill before it: `None`
/// without a fill before it to come back to, `Some(None)` when the run
/// ended first.
fn refill_s(rows: &[&CacheIntervalRow], at_s: f64) -> Option<Option<f64>> {
    let before = rows
        .iter()
        .rev()
        .find(|r| r.t_s < at_s)
        .map(|r| r.fill)
        .filter(|&fill| fill > 0.0)?;
    Some(
        rows.iter()
            .find(|r| r.t_s >= at_s && r.fill >= 0.99 * before)
            .map(|r| r.t_s - at_s),
    )
}

/// Batches of a replication's measured window in
/// [`RunOutput::latency_batches`]: 63 adjacent pairs per replication, so
/// that 10 replications measure a lag-1 correlation within about 0.04.
pub const LATENCY_BATCHES: usize = 64;

/// Relaxation times each replication should span for the intervals on its
/// latency quantiles to be trusted. Calibrated by the coverage study of
/// `experiments/validation/README.md` (`tests/ci_coverage.rs`).
pub const MIN_RELAXATION_SPANS: f64 = 100.0;

/// How many relaxation times the replications' measured windows span,
/// from their latency batch means ([`headroom_sim::stats::relaxation`]).
/// `None` with fewer than two replications or nothing to measure. With
/// `warmup = "auto"` each replication's window (and so its batches) has its
/// own length; the mean batch length stands for all.
pub fn relaxation_of(outputs: &[RunOutput]) -> Option<Relaxation> {
    relaxation_of_batches(
        outputs
            .iter()
            .map(|o| (o.latency_batches.as_slice(), o.latency_batch_s)),
    )
}

/// [`relaxation_of`] for replications given as their
/// `(latency_batches, latency_batch_s)`.
pub fn relaxation_of_batches<'a>(
    runs: impl IntoIterator<Item = (&'a [f64], f64)>,
) -> Option<Relaxation> {
    let (series, widths): (Vec<&[f64]>, Vec<f64>) = runs.into_iter().unzip();
    let width = widths.iter().sum::<f64>() / widths.len().max(1) as f64;
    relaxation(&series, width)
}

/// A queue of the system over one replication's measured window: a
/// service (its instances' workers and queue), a datastore shard, or a
/// store's connection pools (one a caller instance).
#[derive(Clone, Debug, PartialEq)]
pub struct StationLoad {
    /// `service api`, `store users shard 3 (us-east)`.
    pub name: String,
    /// Workers of one instance (of the shard).
    pub workers: u32,
    /// Places in one instance's queue (`None`: unbounded).
    pub queue: Option<u64>,
    /// Longest a request waits before it gives up (a pool's acquire
    /// timeout), seconds: a bound on the queue too, of the requests its
    /// workers serve in that time.
    pub max_wait_s: Option<f64>,
    /// Squared coefficient of variation of the time a request holds a
    /// worker: the work distribution's, or 1 where that time includes
    /// waiting on other services (a thread-model caller).
    pub scv: f64,
    /// Worker-seconds held.
    pub held_s: f64,
    /// Worker-seconds available (workers times ready instance-seconds).
    pub capacity_s: f64,
    /// Requests (tries, operations) that reached it.
    pub requests: u64,
    /// Of those, turned away without a worker (its queue was full).
    pub shed: u64,
}

/// The queue that remembers longest, by the heavy-traffic approximation
/// ([`headroom_sim::stats::heavy_traffic_relaxation`]) at the load the
/// replications measured there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bottleneck {
    /// [`StationLoad::name`].
    pub station: String,
    /// Held over available worker-seconds, all replications together.
    pub utilization: f64,
    /// Offered load: its arrival rate times the mean hold over its
    /// workers; above the utilization when it turned requests away.
    pub load: f64,
    /// Workers of one instance (shard).
    pub workers: u32,
    /// Mean time a request held a worker, seconds.
    pub hold_s: f64,
    /// The relaxation time, seconds (`null` in JSON when infinite: a
    /// saturated queue without a bound).
    #[serde(with = "infinite_as_null")]
    pub time_s: f64,
    /// A replication's measured window, seconds (their mean).
    pub window_s: f64,
}

impl Bottleneck {
    /// Relaxation times one replication spans (0 when the time is
    /// infinite, infinite when it is 0).
    pub fn spans(&self) -> f64 {
        if self.time_s > 0.0 {
            self.window_s / self.time_s
        } else {
            f64::INFINITY
        }
    }

    /// Whether its numbers are ones [`bottleneck_of`] can give: a folder's
    /// manifest is checked with it.
    pub fn is_valid(&self) -> bool {
        (0.0..=1.0).contains(&self.utilization)
            && self.load >= 0.0
            && self.load.is_finite()
            && self.workers > 0
            && self.hold_s >= 0.0
            && self.hold_s.is_finite()
            && self.time_s >= 0.0
            && self.window_s > 0.0
            && self.window_s.is_finite()
    }
}

/// An infinite time is `null` in JSON, which has no infinity.
mod infinite_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

/// The [`Bottleneck`] of replications given as their
/// `(stations, measured window in seconds)`: each station's held,
/// available and request counts summed over the replications, its time
/// from the heavy-traffic approximation, the longest kept. `None` when a
/// replication has no stations (a scenario with a trigger, a failed
/// replication), they do not list the same stations, or no station was
/// used.
pub fn bottleneck_of<'a>(
    runs: impl IntoIterator<Item = (&'a [StationLoad], f64)>,
) -> Option<Bottleneck> {
    let mut totals: Vec<(f64, f64, u64, u64)> = Vec::new();
    let mut first: Option<&'a [StationLoad]> = None;
    let (mut window, mut n) = (0.0, 0usize);
    for (stations, window_s) in runs {
        if stations.is_empty() {
            return None;
        }
        let first = *first.get_or_insert(stations);
        if stations.len() != first.len()
            || stations.iter().zip(first).any(|(a, b)| a.name != b.name)
        {
            return None;
        }
        totals.resize(stations.len(), (0.0, 0.0, 0, 0));
        for (t, s) in totals.iter_mut().zip(stations) {
            t.0 += s.held_s;
            t.1 += s.capacity_s;
            t.2 += s.requests;
            t.3 += s.requests.saturating_sub(s.shed);
        }
        window += window_s;
        n += 1;
    }
    let first = first?;
    let window_s = window / n as f64;
    first
        .iter()
        .zip(&totals)
        .filter(|&(s, &(_, capacity, _, served))| {
            served > 0 && capacity > 0.0 && s.workers > 0 && s.scv.is_finite()
        })
        .map(|(s, &(held, capacity, requests, served))| {
            let utilization = (held / capacity).clamp(0.0, 1.0);
            let hold_s = held / served as f64;
            let load = utilization * requests as f64 / served as f64;
            Bottleneck {
                station: s.name.clone(),
                utilization,
                load,
                workers: s.workers,
                hold_s,
                time_s: heavy_traffic_relaxation(
                    load,
                    s.workers,
                    hold_s,
                    s.scv,
                    effective_queue(s, hold_s),
                ),
                window_s,
            }
        })
        .filter(|b| !b.time_s.is_nan())
        .max_by(|a, b| a.time_s.total_cmp(&b.time_s))
}

/// The places of `station`'s queue, bounded also by the requests its
/// workers serve within its longest wait (mean hold `hold_s`).
fn effective_queue(station: &StationLoad, hold_s: f64) -> Option<u64> {
    let by_wait = station.max_wait_s.filter(|_| hold_s > 0.0).map(|w| {
        // Saturating float-to-integer conversion: a huge bound is no bound.
        (w * f64::from(station.workers) / hold_s).ceil() as u64
    });
    match (station.queue, by_wait) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// [`bottleneck_of`] for a replication's outputs.
pub fn bottleneck_of_outputs(outputs: &[RunOutput]) -> Option<Bottleneck> {
    bottleneck_of(outputs.iter().map(|o| {
        (
            o.stations.as_slice(),
            o.latency_batch_s * LATENCY_BATCHES as f64,
        )
    }))
}

/// Smallest rise of a cache's hit ratio from the first half of the
/// measured window to the second that [`cold_caches`] reports: one
/// percentage point, the precision a planner reads a hit ratio to.
pub const COLD_CACHE_RISE: f64 = 0.01;

/// A cache still warming over the measured window ([`cold_caches`]): its
/// hit ratio rose from the window's first half to its second, so its
/// `runs.csv` column (their mean) understates the steady state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColdCache {
    /// `users/warm`, or `edge cache`.
    pub name: String,
    /// Hit ratio over the first half of the measured window, the
    /// replications' lookups together.
    pub first: f64,
    /// Hit ratio over the second half.
    pub second: f64,
    /// The rise from the first half to the second: the mean over the
    /// replications of each one's rise.
    pub rise: f64,
    /// Half-width of the rise's 95 % interval: Student t over the
    /// replications' rises, or with one replication three binomial
    /// standard errors (lookups of a popular key are not independent).
    pub half_width: f64,
    /// The cache's time to live (the edge's `max_age`), seconds: by then a
    /// cache under steady load has turned its content over once.
    pub ttl_s: Option<f64>,
}

/// Whether a plan's load is steady, so that a trend over its measured
/// window is a transient of the start: Poisson, MMPP or a closed
/// population that no stage moves, without surges, fault windows or
/// cache flushes (a diurnal or replayed workload changes on purpose).
fn steady_load(plan: &crate::Plan) -> bool {
    use crate::plan::ArrivalPlan;
    let arrivals = match &plan.workload.arrivals {
        ArrivalPlan::Poisson { .. } | ArrivalPlan::Mmpp { .. } => true,
        ArrivalPlan::Closed { stages, .. } => stages.is_empty(),
        ArrivalPlan::Diurnal { .. } | ArrivalPlan::Trace(_) => false,
    };
    arrivals && plan.workload.surges.is_empty() && plan.recovery.triggers.is_empty()
}

/// One cache's measured lookups in one replication, with what
/// [`cold_caches`] says of it.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheHalves {
    /// [`ColdCache::name`].
    pub name: String,
    /// [`ColdCache::ttl_s`].
    pub ttl_s: Option<f64>,
    /// Its lookups and hits, whole and in the first half.
    pub hits: TierHits,
}

/// Every cache of `output`, a replication of `plan`, for [`cold_caches`]:
/// none when the load is not steady ([`steady_load`]: its trends are the
/// experiment's).
pub fn cache_halves(plan: &crate::Plan, output: &RunOutput) -> Vec<CacheHalves> {
    use crate::plan::data::CacheRef;
    if !steady_load(plan) {
        return Vec::new();
    }
    let data = &plan.data;
    data.caches()
        .into_iter()
        .zip(&output.metrics.cache_tiers)
        .map(|(cache, hits)| {
            let (store, tier) = data.cache_names(cache);
            let (name, ttl_s) = match cache {
                CacheRef::Edge => (
                    "edge cache".to_owned(),
                    data.edge_cache.as_ref().map(|e| e.max_age.as_secs_f64()),
                ),
                CacheRef::Tier { store: s, tier: t } => (
                    format!("{store}/{tier}"),
                    data.stores[s.index()].tiers[usize::from(t)]
                        .spec
                        .ttl_ns
                        .map(|ns| ns as f64 / 1e9),
                ),
            };
            CacheHalves {
                name,
                ttl_s,
                hits: hits.clone(),
            }
        })
        .collect()
}

/// The caches whose hit ratio was still rising over the measured window,
/// from each replication's [`cache_halves`]: by at least
/// [`COLD_CACHE_RISE`] from its first half to its second, and by more than
/// the half-width of the rise's 95 % interval. Such a cache started empty
/// and had not reached its steady state when the warm-up ended, so its
/// `runs.csv` hit ratio (and every latency and cost it shapes) is that of
/// a cache still filling.
pub fn cold_caches<'a>(runs: impl IntoIterator<Item = &'a [CacheHalves]>) -> Vec<ColdCache> {
    let runs: Vec<&[CacheHalves]> = runs.into_iter().collect();
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, cache) in first.iter().enumerate() {
        let tiers: Vec<&TierHits> = runs
            .iter()
            .filter_map(|r| r.get(i))
            .map(|c| &c.hits)
            .collect();
        if tiers.len() != runs.len() {
            continue;
        }
        let Some((rise, half_width)) = halves_rise(&tiers) else {
            continue;
        };
        if rise < COLD_CACHE_RISE || rise <= half_width {
            continue;
        }
        let (h1, l1, h2, l2) = tiers.iter().fold((0, 0, 0, 0), |(a, b, c, d), t| {
            (
                a + t.first_half_hits,
                b + t.first_half_lookups,
                c + t.hits - t.first_half_hits,
                d + t.lookups - t.first_half_lookups,
            )
        });
        out.push(ColdCache {
            name: cache.name.clone(),
            first: h1 as f64 / l1 as f64,
            second: h2 as f64 / l2 as f64,
            rise,
            half_width,
            ttl_s: cache.ttl_s,
        });
    }
    out
}

/// The rise of a cache's hit ratio from the first half of the measured
/// window to the second and its interval's half-width ([`ColdCache`]);
/// `None` when some replication has no lookup in a half.
fn halves_rise(tiers: &[&TierHits]) -> Option<(f64, f64)> {
    // Each replication's hit ratios over the halves, with their binomial
    // variances.
    let halves = |t: &TierHits| {
        let (h1, l1) = (t.first_half_hits, t.first_half_lookups);
        let (h2, l2) = (t.hits - h1, t.lookups - l1);
        if l1 == 0 || l2 == 0 {
            return None;
        }
        let (r1, r2) = (h1 as f64 / l1 as f64, h2 as f64 / l2 as f64);
        let var = r1 * (1.0 - r1) / l1 as f64 + r2 * (1.0 - r2) / l2 as f64;
        Some((r2 - r1, var))
    };
    if let [t] = tiers {
        let (rise, var) = halves(t)?;
        return Some((rise, 3.0 * var.sqrt()));
    }
    let rises = tiers
        .iter()
        .map(|t| halves(t).map(|(rise, _)| rise))
        .collect::<Option<Vec<f64>>>()?;
    let ci = ci95(&rises);
    Some((ci.mean, ci.half_width))
}

/// The warning a report gives for [`cold_caches`] (`None` without one).
pub fn cold_cache_text(caches: &[ColdCache]) -> Option<String> {
    if caches.is_empty() {
        return None;
    }
    let each: Vec<String> = caches
        .iter()
        .map(|c| {
            format!(
                "{} {:.3} -> {:.3} (+{:.3} ± {:.3})",
                c.name, c.first, c.second, c.rise, c.half_width
            )
        })
        .collect();
    let longest_ttl = caches
        .iter()
        .filter_map(|c| c.ttl_s)
        .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))));
    let advice = match longest_ttl {
        Some(t) if caches.iter().all(|c| c.ttl_s.is_some()) => format!(
            " (a cache under steady load turns its content over in its time to live, here {} \
             at the longest: give a few times that)",
            crate::engine::approx_duration(t * 1e9)
        ),
        _ => String::new(),
    };
    let (subject, ratio, columns) = if caches.len() == 1 {
        (
            "a cache was",
            "its hit ratio",
            "its hit-ratio column averages a cache",
        )
    } else {
        (
            "caches were",
            "their hit ratios",
            "their hit-ratio columns average caches",
        )
    };
    Some(format!(
        "{subject} still warming, {ratio} rising from the measured window's first half to \
         its second: {}. So {columns} still filling, which understates the steady state and \
         overstates the load on what lies behind. Start the caches warm, or warm them \
         longer, with `run.cache_warm_start` (the workload's requests of a span before time \
         0), or \
         lengthen `run.warmup` until `caches_timeseries.csv`'s hit_ratio and fill level \
         off{advice}",
        each.join("; ")
    ))
}

/// [`cold_caches`] of the replications `outputs` of `plan`.
pub fn cold_caches_of(plan: &crate::Plan, outputs: &[RunOutput]) -> Vec<ColdCache> {
    let halves: Vec<Vec<CacheHalves>> = outputs.iter().map(|o| cache_halves(plan, o)).collect();
    cold_caches(halves.iter().map(Vec::as_slice))
}

/// [`cold_cache_text`] of the replications `outputs` of `plan`.
pub fn cold_cache_warning(plan: &crate::Plan, outputs: &[RunOutput]) -> Option<String> {
    cold_cache_text(&cold_caches_of(plan, outputs))
}

/// How many times a session's mean span a run should last: sessions longer
/// than the run cannot end in it, and those near its length weigh heavily
/// in the session columns ([`SessionMetrics`]).
pub const MIN_SESSION_SPANS: f64 = 10.0;

/// With sessions: warnings when the warm-up (the shortest of the
/// replications') is shorter than a session's mean span, `(requests - 1) x
/// mean think`, and when the run lasts fewer than [`MIN_SESSION_SPANS`] of
/// them. Sessions start from none open at time zero, so their requests'
/// load rises until those opened first are done: a shorter warm-up
/// measures part of the rise. The session columns weight each session by
/// the inverse of its chance to end in the window, but a session cannot be
/// seen at all in a run shorter than it.
pub fn session_warmup_warning(plan: &crate::Plan, outputs: &[RunOutput]) -> Option<String> {
    let session = plan.workload.session.as_ref()?;
    let span_s = session.mean_thinking_s();
    let warmup_s = outputs
        .iter()
        .map(|o| o.warmup_s)
        .fold(f64::INFINITY, f64::min);
    let mut texts = Vec::new();
    if warmup_s.is_finite() && warmup_s < span_s {
        texts.push(format!(
            "the warm-up ({warmup_s:.1} s) is shorter than a session's mean span ((requests - 1) \
             x mean think = {span_s:.1} s): sessions start from none open, so their requests' \
             load is still rising when the measured window begins; set `run.warmup` to a few \
             times {span_s:.1} s"
        ));
    }
    let duration_s = plan.run.duration.as_nanos() as f64 / 1e9;
    if duration_s < MIN_SESSION_SPANS * span_s {
        texts.push(format!(
            "the run ({duration_s:.1} s) lasts fewer than {MIN_SESSION_SPANS:.0} times a \
             session's mean span ({span_s:.1} s): sessions longer than the run cannot end in \
             it and those near its length weigh heavily in the session columns; set \
             `run.duration` to {:.0} s or more",
            MIN_SESSION_SPANS * span_s
        ));
    }
    (!texts.is_empty()).then(|| texts.join("; "))
}

/// The warning a report gives when the replications span fewer than
/// [`MIN_RELAXATION_SPANS`] relaxation times, by their latency's batch
/// means ([`relaxation_of`]) or by the heavy-traffic approximation at their
/// busiest queue ([`bottleneck_of`]): a latency quantile's interval is
/// then likely too narrow (most replications see few of the queues' long
/// excursions, a few see many), and only longer replications fix it.
pub fn short_run_warning(outputs: &[RunOutput]) -> Option<String> {
    short_run_text(
        relaxation_of(outputs).as_ref(),
        bottleneck_of_outputs(outputs).as_ref(),
    )
}

/// Relaxation times a replication spans: the fewer of the two estimates
/// (`None` when there is neither).
pub fn spans_of(measured: Option<&Relaxation>, bottleneck: Option<&Bottleneck>) -> Option<f64> {
    match (measured.map(|r| r.spans), bottleneck.map(Bottleneck::spans)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// [`short_run_warning`]'s text for the measurement `measured` and the
/// approximation `bottleneck` (times in seconds): it speaks of whichever
/// spans fewer relaxation times; `None` when the replications are long
/// enough by both.
pub fn short_run_text(
    measured: Option<&Relaxation>,
    bottleneck: Option<&Bottleneck>,
) -> Option<String> {
    let spans = spans_of(measured, bottleneck)?;
    if spans >= MIN_RELAXATION_SPANS {
        return None;
    }
    let text = |s: f64| crate::engine::approx_duration(s * 1e9);
    let advice = |measured_s: f64, spans: f64| {
        format!(
            "a replication's {} measured window spans only {:.0} relaxation times, fewer than \
             the {:.0} that make a p99 interval trustworthy. Lengthen the measured window to \
             about {}; more replications do not fix this",
            text(measured_s),
            spans,
            MIN_RELAXATION_SPANS,
            text(measured_s * MIN_RELAXATION_SPANS / spans.max(1e-9)),
        )
    };
    let workers = |n: u32| format!("{n} worker{}", if n == 1 { "" } else { "s" });
    match (measured, bottleneck) {
        (_, Some(b)) if b.spans() <= spans && b.time_s.is_infinite() => Some(format!(
            "latency has no steady state: {} is saturated (utilization {:.2}, {} an instance) \
             and its queue has no bound, so its latency quantiles grow with the measured window; \
             add capacity or bound the queue",
            b.station,
            b.utilization,
            workers(b.workers)
        )),
        (_, Some(b)) if b.spans() <= spans => Some(format!(
            "latency quantile intervals may be too narrow: {} runs at utilization {:.2}{} ({} \
             an instance, {} mean hold), where a queue stays correlated for about {} \
             (heavy-traffic approximation), so {}",
            b.station,
            b.utilization,
            if b.load > b.utilization + 0.005 {
                format!(" (offered load {:.2})", b.load)
            } else {
                String::new()
            },
            workers(b.workers),
            text(b.hold_s),
            text(b.time_s),
            advice(b.window_s, b.spans()),
        )),
        (Some(r), _) => Some(format!(
            "latency quantile intervals may be too narrow: latency stays correlated for about \
             {} (lag-1 correlation of the replications' batch means {:.2}), so {}",
            text(r.time),
            r.lag1,
            advice(r.window(), r.spans),
        )),
        (None, _) => None,
    }
}

#[cfg(test)]
mod tests {

    /// `deployments.csv` and `deployments_timeseries.csv` are
    /// `services.csv` and `services_timeseries.csv` with the region after
    /// the service (and the instances' cost last).
    #[test]
    fn deployment_columns_are_the_services_with_the_region() {
        let with_region = |columns: &[&'static str]| -> Vec<&'static str> {
            let at = columns.iter().position(|c| *c == "service").unwrap() + 1;
            let mut v = columns.to_vec();
            v.insert(at, "region");
            v
        };
        let mut expected = with_region(&SERVICE_COLUMNS);
        expected.push("instance_cost_per_month_usd");
        assert_eq!(DEPLOYMENT_COLUMNS.to_vec(), expected);
        assert_eq!(
            DEPLOYMENT_TIMESERIES_COLUMNS.to_vec(),
            with_region(&SERVICE_TIMESERIES_COLUMNS)
        );
    }

    use super::*;

    /// A tier's rows at 1-s intervals with these fills.
    fn fills(xs: &[f64]) -> Vec<CacheIntervalRow> {
        xs.iter()
            .enumerate()
            .map(|(i, &fill)| CacheIntervalRow {
                t_s: (i + 1) as f64,
                store: "s".into(),
                tier: "t".into(),
                lookups_rps: 1.0,
                hit_ratio: 0.5,
                stale_hit_ratio: 0.0,
                copies: 1,
                items: 1,
                fill,
                trigger: false,
            })
            .collect()
    }

    #[test]
    fn a_flushed_tier_refills_when_its_fill_is_back_to_99_percent() {
        // Full at 0.8 until the flush at 3 s (the row ending at 3 s is
        // after it), back to 0.792 = 99 % at 6 s.
        let rows = fills(&[0.5, 0.8, 0.0, 0.3, 0.7, 0.792, 0.8]);
        let rows: Vec<&CacheIntervalRow> = rows.iter().collect();
        assert_eq!(refill_s(&rows, 3.0), Some(Some(3.0)));
        // A flush inside an interval: the fill before is the last row
        // ending before it.
        assert_eq!(refill_s(&rows, 2.5), Some(Some(3.5)));
        // Never back before the run ends; nothing to come back to.
        assert_eq!(refill_s(&rows[..5], 3.0), Some(None));
        assert_eq!(refill_s(&rows, 1.0), None);
        let empty = fills(&[0.0, 0.0]);
        let empty: Vec<&CacheIntervalRow> = empty.iter().collect();
        assert_eq!(refill_s(&empty, 2.0), None);
        // Fill at the warm-up end: the last interval ending by then, 0
        // without a warm-up, unknown before the first interval ends.
        assert_eq!(fill_at(&rows, 2.0), 0.8);
        assert_eq!(fill_at(&rows, 2.5), 0.8);
        assert_eq!(fill_at(&rows, 0.0), 0.0);
        assert!(fill_at(&rows, 0.5).is_nan());
    }

    #[test]
    fn a_short_run_is_warned_of_with_the_window_it_needs() {
        // Batches of 10 s whose means correlate at 0.8: x = 0.345
        // relaxation times a batch (tau = 29 s), 22 over the 64 batches of
        // a 10m40s window; 100 need 100/22 of it, 48.4 minutes.
        let r = Relaxation::from_lag1(0.8, 630, 10.0, LATENCY_BATCHES);
        assert!((r.spans - 22.06).abs() < 0.01, "{r:?}");
        let text = short_run_text(Some(&r), None).expect("short");
        assert!(
            text.contains("latency stays correlated for about 29s")
                && text.contains("lag-1 correlation of the replications' batch means 0.80")
                && text.contains("10.7m measured window spans only 22 relaxation times")
                && text.contains("fewer than the 100")
                && text.contains("Lengthen the measured window to about 48.4m;"),
            "{text}"
        );
        // Long enough, or uncorrelated: nothing to say.
        let long = Relaxation::from_lag1(0.25, 630, 10.0, LATENCY_BATCHES);
        assert!(long.spans > MIN_RELAXATION_SPANS, "{long:?}");
        assert_eq!(short_run_text(Some(&long), None), None);
        let none = Relaxation::from_lag1(-0.05, 630, 10.0, LATENCY_BATCHES);
        assert_eq!(none.spans, f64::INFINITY);
        assert_eq!(short_run_text(Some(&none), None), None);
        assert_eq!(short_run_text(None, None), None);
    }

    fn station(name: &str, held_s: f64, requests: u64) -> StationLoad {
        StationLoad {
            name: name.to_owned(),
            workers: 1,
            queue: None,
            max_wait_s: None,
            scv: 1.0,
            held_s,
            capacity_s: 600.0,
            requests,
            shed: 0,
        }
    }

    #[test]
    fn the_bottleneck_is_the_queue_that_remembers_longest() {
        // Two replications of 600 s: `service a` at utilization 0.9 with
        // 100 ms holds (M/M/1: 0.1 (1.9) / 0.01 = 19 s, 31.6 spans),
        // `service b` at 0.95 with 1 ms holds (0.001 (1.95) / 0.0025 =
        // 0.78 s): a remembers longer although b is busier.
        let one = [
            station("service a", 540.0, 5_400),
            station("service b", 570.0, 570_000),
        ];
        let two = [
            station("service a", 540.0, 5_400),
            station("service b", 570.0, 570_000),
        ];
        let b = bottleneck_of([(&one[..], 600.0), (&two[..], 600.0)]).expect("measured");
        assert_eq!(b.station, "service a");
        assert!((b.utilization - 0.9).abs() < 1e-12 && (b.hold_s - 0.1).abs() < 1e-12);
        assert!((b.time_s - 19.0).abs() < 1e-9, "{b:?}");
        assert!((b.spans() - 600.0 / 19.0).abs() < 1e-9);
        let text = short_run_text(None, Some(&b)).expect("short");
        assert!(
            text.contains(
                "service a runs at utilization 0.90 (1 worker an instance, 100ms mean hold)"
            ) && text.contains("stays correlated for about 19s (heavy-traffic approximation)")
                && text.contains("10m measured window spans only 32 relaxation times")
                && text.contains("Lengthen the measured window to about 31.7m;"),
            "{text}"
        );
        // The estimate that spans fewer speaks: here the measured one.
        let measured = Relaxation::from_lag1(0.95, 630, 600.0 / 64.0, LATENCY_BATCHES);
        assert!(measured.spans < b.spans());
        assert!(
            short_run_text(Some(&measured), Some(&b))
                .unwrap()
                .contains("lag-1 correlation")
        );
        // A replication without stations (a trigger), or another station
        // list, leaves nothing to judge.
        assert_eq!(bottleneck_of([(&one[..], 600.0), (&[][..], 600.0)]), None);
        assert_eq!(bottleneck_of([(&one[..], 600.0), (&one[..1], 600.0)]), None);
        // Idle stations are no bottleneck.
        let idle = [station("service a", 0.0, 0)];
        assert_eq!(bottleneck_of([(&idle[..], 600.0)]), None);
    }

    #[test]
    fn a_saturated_unbounded_queue_has_no_steady_state() {
        let full = [station("store s shard 3 (east)", 600.0, 6_000)];
        let b = bottleneck_of([(&full[..], 600.0)]).expect("measured");
        assert_eq!((b.utilization, b.load), (1.0, 1.0));
        assert_eq!(b.time_s, f64::INFINITY);
        assert_eq!(b.spans(), 0.0);
        let text = short_run_text(None, Some(&b)).expect("warned");
        assert!(
            text.contains(
                "latency has no steady state: store s shard 3 (east) is saturated (utilization 1.00, 1 worker an instance)"
            ) && text.contains("add capacity or bound the queue"),
            "{text}"
        );
        // In a manifest the infinite time is null and reads back.
        let json = serde_json::to_string(&b).unwrap();
        assert!(json.contains("\"time_s\":null"), "{json}");
        assert_eq!(serde_json::from_str::<Bottleneck>(&json).unwrap(), b);
        // Saturated behind a bound of 20 it forgets in 20^2 x 0.1 / 12 s.
        let mut bounded = full.clone();
        bounded[0].queue = Some(20);
        let b = bottleneck_of([(&bounded[..], 600.0)]).unwrap();
        assert!((b.time_s - 400.0 * 0.1 / 12.0).abs() < 1e-9, "{b:?}");
        assert_eq!(short_run_text(None, Some(&b)), None);
        // Overloaded behind a bound of 500 (a fifth turned away): pinned
        // near full, it forgets fast. The hold counts the served only.
        bounded[0].queue = Some(500);
        bounded[0].requests = 7_500;
        bounded[0].shed = 1_500;
        let b = bottleneck_of([(&bounded[..], 600.0)]).unwrap();
        assert!(
            (b.hold_s - 0.1).abs() < 1e-12 && (b.load - 1.25).abs() < 1e-12,
            "{b:?}"
        );
        assert!((b.time_s - 0.1 * 2.25 / 0.0625).abs() < 1e-9, "{b:?}");
        assert_eq!(short_run_text(None, Some(&b)), None);
        // A pool's acquire timeout bounds its queue too: saturated, with
        // waiters unbounded but none waiting over 1 s for one connection
        // held 0.1 s, it holds at most 10 and forgets in 100 x 0.1 / 12 s.
        let mut pool = full.clone();
        pool[0].max_wait_s = Some(1.0);
        let b = bottleneck_of([(&pool[..], 600.0)]).unwrap();
        assert!((b.time_s - 100.0 * 0.1 / 12.0).abs() < 1e-9, "{b:?}");
    }

    #[test]
    fn quantile_columns_get_the_histogram_floor() {
        let same = [150.0, 150.0, 150.0];
        for name in [
            "latency_p50_ms",
            "latency_p95_ms",
            "latency_p99_ms",
            "latency_p999_ms",
        ] {
            assert!(is_histogram_quantile(name), "{name}");
            let ci = metric_ci95(name, &same, None);
            assert!(
                (ci.half_width - 150.0 / 256.0).abs() < 1e-12,
                "{name}: {ci:?}"
            );
        }
        // Means and counts are exact per replication: Student t alone.
        for name in ["latency_mean_ms", "cost_per_month_usd", "availability"] {
            assert!(!is_histogram_quantile(name), "{name}");
            assert_eq!(metric_ci95(name, &same, None).half_width, 0.0, "{name}");
        }
    }

    #[test]
    fn quantiles_centre_on_the_replications_pooled() {
        // Two replications (values below 256 ns are exact in the
        // histogram): one of 99 x 100 ns and 1 x 200 ns, one of 100 x
        // 100 ns. Pooled, the p99 (rank 198 of 200) is 100 ns and the p999
        // (rank 200) the slow request, which one replication shows at its
        // p999 and the other does not.
        let mut a = LatencyHistogram::new();
        a.record_n(100, 99);
        a.record(200);
        let mut b = LatencyHistogram::new();
        b.record_n(100, 100);
        let mut merged = a.clone();
        merged.merge(&b);
        let pooled = Pooled::of(&merged);
        assert_eq!(pooled.get("latency_p99_ms"), Some(1e-4));
        assert_eq!(pooled.get("latency_p999_ms"), Some(2e-4));
        assert_eq!(pooled.get("latency_mean_ms"), None);
        let p999s = [2e-4, 1e-4];
        let ci = metric_ci95("latency_p999_ms", &p999s, Some(&pooled));
        assert_eq!(ci.mean, 2e-4, "the pooled value, not the mean");
        assert_eq!(ci, sectioned_quantile_ci95(2e-4, &p999s));
        assert_eq!(
            metric_ci95("latency_p999_ms", &p999s, None),
            quantile_ci95(&p999s)
        );
        // Other metrics ignore the pooled quantiles.
        assert_eq!(metric_ci95("cost_usd", &p999s, Some(&pooled)), ci95(&p999s));
        // Nothing answered: NaN centres.
        let empty = Pooled::of(&LatencyHistogram::new());
        assert!(empty.ms.iter().all(|x| x.is_nan()));
        // summarize pools the runs' histograms the same way.
        let run = |latency: LatencyHistogram| RunOutput {
            replication: 0,
            metrics: RunMetrics {
                latency,
                ..metrics()
            },
            timeseries: Vec::new(),
            service_timeseries: Vec::new(),
            services: Vec::new(),
            deployments: Vec::new(),
            edges: Vec::new(),
            deployment_timeseries: Vec::new(),
            regions: Vec::new(),
            region_timeseries: Vec::new(),
            edge_timeseries: Vec::new(),
            shards: Vec::new(),
            shard_timeseries: Vec::new(),
            cache_timeseries: Vec::new(),
            store_failovers: Vec::new(),
            bill: Vec::new(),
            peak_in_flight: 0,
            audit: Audit::default(),
            warmup_s: 0.0,
            warmup_at_limit: false,
            latency_batches: Vec::new(),
            latency_batch_s: 0.0,
            stations: Vec::new(),
        };
        let summary = summarize(&[run(a), run(b)]);
        let p999 = summary
            .iter()
            .find(|(n, _)| n == "latency_p999_ms")
            .unwrap();
        assert_eq!(p999.1.mean, 2e-4);
    }

    #[test]
    fn a_quantile_difference_centres_on_the_difference_of_the_centres() {
        // Pooled A = 10, pooled B = 12: centre 2 and spread about 2.
        let d = [1.0, 1.0, 1.0];
        let ci = metric_difference_ci95("latency_p99_ms", 10.0, 12.0, &d);
        assert_eq!(ci.mean, 2.0);
        assert_eq!(ci.half_width, sectioned_quantile_ci95(2.0, &d).half_width);
        assert!(ci.half_width > (10.0 + 12.0) / 256.0);
        // Other metrics: Student t over the differences.
        assert_eq!(metric_difference_ci95("cost_usd", 10.0, 12.0, &d), ci95(&d));
    }

    fn metrics() -> RunMetrics {
        RunMetrics {
            requests: 3,
            ok: 2,
            degraded: 0,
            errors: 0,
            rejected: 0,
            timeouts: 0,
            shed: 1,
            measured: Span::from_secs(2),
            latency: LatencyHistogram::new(),
            latency_all: LatencyHistogram::new(),
            cpu_util_mean: 0.5,
            replicas_mean: 1.0,
            replicas_max: 1,
            cache_hit_ratio: 0.0,
            cache_tiers: vec![TierHits {
                column: "cache_users_l1_hit_ratio".to_owned(),
                hits: 1,
                stale_hits: 0,
                lookups: 2,
                first_half_hits: 0,
                first_half_lookups: 1,
            }],
            stale_read_ratio: Some(0.25),
            shard_max_load_ratio: 0.0,
            breaker_open_s: 0.0,
            failovers: 0,
            retries: 0,
            hedges: 0,
            cost_usd: 1.5,
            cost_per_month_usd: 2.0,
            instance_cost_per_month_usd: 1.0,
            data_cost_per_month_usd: 0.75,
            egress_cost_per_month_usd: 0.25,
            slo_met: true,
            wasted_work_s: 0.0,
            crashes: 0,
            ejections: 0,
            recovery: None,
            sessions: None,
            worst_region: None,
        }
    }

    #[test]
    fn cells_match_columns() {
        let m = metrics();
        let cells = m.cells();
        assert_eq!(cells.len(), RUN_METRIC_COLUMNS.len() + 3);
        let names = m.column_names();
        assert_eq!(names.len(), cells.len());
        assert_eq!(names[18], "cache_users_l1_hit_ratio");
        assert_eq!(cells[18], Cell::Float(0.5));
        assert_eq!(names[19], STALE_READ_COLUMN);
        assert_eq!(cells[19], Cell::Float(0.25));
        assert_eq!(names[20], "shard_max_load_ratio");
        assert_eq!(cells[7], Cell::Float(2.0 / 3.0), "availability");
        assert_eq!(cells[8], Cell::Float(1.0), "throughput_rps");
        assert!(
            matches!(cells[9], Cell::Float(x) if x.is_nan()),
            "no latency without records"
        );
        assert_eq!(m.ended(), m.requests);
        assert_eq!(Cell::Float(f64::NAN).to_string(), "NaN");
        assert_eq!(Cell::Float(0.25).to_string(), "0.25");
        assert_eq!(Cell::Flag(true).to_string(), "1");
    }

    /// A client region (`eu`) whose answered requests took `latencies_ms`,
    /// with `errors` failures and `failovers`.
    fn region_row(latencies_ms: &[u64], errors: u64, failovers: u64) -> RegionRow {
        let mut latency = LatencyHistogram::new();
        for &l in latencies_ms {
            latency.record(l * 1_000_000);
        }
        RegionRow {
            region: "eu".into(),
            requests: latencies_ms.len() as u64 + errors,
            ok: latencies_ms.len() as u64,
            degraded: 0,
            errors,
            rejected: 0,
            timeouts: 0,
            shed: 0,
            failovers,
            latency,
        }
    }

    /// A region's cells line up with `regions.csv`'s columns; its latency
    /// cells are of its answered requests, its summary pools the
    /// replications' histograms, and a region without clients shows NaN.
    #[test]
    fn region_cells_match_columns_and_summarize() {
        let row = |latencies_ms: &[u64], errors: u64| region_row(latencies_ms, errors, 1);
        let r = row(&[10, 20, 30], 1);
        let cells = r.cells();
        assert_eq!(cells.len() + 3, REGION_COLUMNS.len());
        assert_eq!(REGION_COLUMNS[3 + 7], "availability");
        assert_eq!(cells[7], Cell::Float(0.75));
        assert_eq!(REGION_COLUMNS[3 + 8], "failovers");
        assert_eq!(cells[8], Cell::Int(1));
        assert_eq!(REGION_COLUMNS[3 + 9], "latency_mean_ms");
        assert_eq!(cells[9], Cell::Float(20.0));
        let none = row(&[], 0);
        assert!(none.availability().is_nan());
        assert!(matches!(none.cells()[13], Cell::Float(x) if x.is_nan()));
        let out = |region: RegionRow| RunOutput {
            regions: vec![region],
            region_timeseries: Vec::new(),
            edge_timeseries: Vec::new(),
            ..run(0, 0, &[], [0.0; 5])
        };
        let sums = summarize_regions(&[out(row(&[10; 99], 0)), out(row(&[1000], 0))]);
        assert_eq!(sums.len(), 1);
        let s = &sums[0];
        assert_eq!(s.region, "eu");
        // 100 answered requests pooled: the p99 is the 99th, 10 ms.
        assert!((s.latency_p99_ms.mean - 10.0).abs() < 0.1, "{s:?}");
        assert!((s.availability.mean - 1.0).abs() < 1e-12);
        assert!((s.failover_fraction.mean - (1.0 / 99.0 + 1.0) / 2.0).abs() < 1e-12);
        // 99 and 1 requests over 4 s.
        assert!((s.requests_rps.mean - 12.5).abs() < 1e-12, "{s:?}");
        // Judged against an SLO on the estimates: p99 10 ms meets 10 ms
        // and misses 9 ms; nothing answered misses a latency objective.
        let slo = |p99_ms: u64, availability: Option<f64>| crate::plan::SloPlan {
            p50: None,
            p99: Some(Span::from_millis(p99_ms)),
            p999: None,
            availability,
            max_cost_per_month: Some(0.0),
            session_availability: None,
            max_stale_read_ratio: None,
            per_region: false,
        };
        assert!(s.slo_misses(&slo(10, Some(1.0))).is_empty(), "{s:?}");
        assert_eq!(s.slo_misses(&slo(9, None)), ["p99 10.0 ms > 9 ms"]);
        let none = summarize_regions(&[out(row(&[], 2))]);
        assert_eq!(
            none[0].slo_misses(&slo(9, Some(0.5))),
            ["p99: nothing answered", "availability 0.00000 < 0.5"]
        );
    }

    /// The worst region on each objective, each from whichever region it
    /// is; a region without requests is left out, and one whose requests
    /// were all refused has no latency, so the worst latency is NaN.
    #[test]
    fn the_worst_region_is_worst_on_each_objective() {
        let row = |latencies_ms: &[u64], errors: u64| region_row(latencies_ms, errors, 0);
        // Slow but always answered; fast but failing half; no clients.
        let w = WorstRegion::of(&[row(&[100; 4], 0), row(&[10; 2], 2), row(&[], 0)]);
        assert_eq!(w.p99_ns, 100e6);
        assert_eq!(w.p50_ns, 100e6);
        assert_eq!(w.availability, 0.5);
        assert_eq!(w.cells()[1], Cell::Float(100.0));
        let refused = WorstRegion::of(&[row(&[100; 4], 0), row(&[], 3)]);
        assert!(refused.p99_ns.is_nan());
        assert_eq!(refused.availability, 0.0);
        let nobody = WorstRegion::of(&[row(&[], 0)]);
        assert!(nobody.p99_ns.is_nan() && nobody.availability.is_nan());
    }

    fn interval(t_s: f64) -> IntervalRow {
        IntervalRow {
            t_s,
            arrivals_rps: 0.0,
            throughput_rps: 0.0,
            latency_p99_ms: f64::NAN,
            errors: 0,
            rejected: 0,
            replicas: 1,
            cpu_util: 0.0,
            cache_hit_ratio: 0.0,
            stale_read_ratio: f64::NAN,
            breaker_open: 0,
            healthy_regions: 1,
            cost_usd_cum: 0.0,
            retries: 0,
            wasted_work_s: 0.0,
            trigger: false,
        }
    }

    /// A replication of one service, 4 s long after a 1 s warm-up (in
    /// intervals of 1 s), whose tries took `latencies_ms` and whose held
    /// fractions per interval were `held`.
    fn run(requests: u64, errors: u64, latencies_ms: &[u64], held: [f64; 5]) -> RunOutput {
        let mut latency = LatencyHistogram::new();
        for &l in latencies_ms {
            latency.record(l * 1_000_000);
        }
        RunOutput {
            replication: 0,
            metrics: RunMetrics {
                measured: Span::from_secs(4),
                ..metrics()
            },
            timeseries: (1..=5).map(|t| interval(f64::from(t))).collect(),
            service_timeseries: held
                .iter()
                .enumerate()
                .map(|(k, &u)| ServiceIntervalRow {
                    t_s: (k + 1) as f64,
                    service: 0,
                    tries_rps: 0.0,
                    errors: 0,
                    shed: 0,
                    concurrency_blocked: 0,
                    concurrency_limit_mean: f64::NAN,
                    latency_p50_ms: f64::NAN,
                    latency_p99_ms: f64::NAN,
                    utilization: u,
                    cpu_util: u,
                    replicas: 1,
                    wasted_work_s: 0.0,
                    trigger: false,
                })
                .collect(),
            regions: Vec::new(),
            region_timeseries: Vec::new(),
            edge_timeseries: Vec::new(),
            deployments: Vec::new(),
            edges: Vec::new(),
            deployment_timeseries: Vec::new(),
            services: vec![ServiceRow {
                service: "api".into(),
                requests,
                errors,
                latency,
                utilization: 0.5,
                cpu_util: 0.25,
                replicas_mean: 2.0,
                replicas_max: 2,
                shed: 0,
                concurrency_blocked: 0,
                concurrency_limit_mean: f64::NAN,
                wasted_work_s: 0.0,
            }],
            shards: Vec::new(),
            shard_timeseries: Vec::new(),
            cache_timeseries: Vec::new(),
            store_failovers: Vec::new(),
            bill: Vec::new(),
            peak_in_flight: 0,
            audit: Audit::default(),
            warmup_s: 1.0,
            warmup_at_limit: false,
            latency_batches: Vec::new(),
            latency_batch_s: 0.0,
            stations: Vec::new(),
        }
    }

    #[test]
    fn a_service_s_summary_pools_its_quantile_and_reads_its_busiest_measured_interval() {
        // The warm-up interval (0.99 held) and an interval without
        // capacity (NaN) are not the busiest.
        let a = run(400, 40, &[1; 100], [0.99, 0.5, 0.75, f64::NAN, 0.5]);
        let b = run(800, 0, &[2; 100], [0.99, 0.25, 0.5, 0.5, 0.25]);
        let [v] = &summarize_services(&[a, b])[..] else {
            panic!("one service")
        };
        assert_eq!(v.service, "api");
        assert_eq!(v.tries_rps.mean, 150.0, "(100 + 200) / 2 tries per second");
        assert_eq!(v.error_fraction.mean, 0.05);
        assert_eq!(v.peak_utilization.mean, 0.625, "(0.75 + 0.5) / 2");
        assert_eq!((v.utilization.mean, v.cpu_util.mean), (0.5, 0.25));
        assert_eq!(
            (v.replicas_mean.mean, v.replicas_mean.half_width),
            (2.0, 0.0)
        );
        // Pooled: 100 tries at 1 ms and 100 at 2 ms, so the p99 is 2 ms,
        // with the replications' own p99s (1 and 2 ms) about it.
        assert_eq!(v.latency_p99_ms.mean, 2.0);
        assert!(v.latency_p99_ms.half_width > 1.0, "{:?}", v.latency_p99_ms);
        assert!(summarize_services(&[]).is_empty());
    }

    /// A copy's busiest shard is the one with the most operations over the
    /// replications; its share, busy fraction, busiest measured interval
    /// and pooled p99 are its own, and a replica is a copy of its own.
    #[test]
    fn a_store_s_summary_names_each_copy_s_busiest_shard() {
        let shard = |region: &str, shard: u32, requests: u64, errors: u64, ms: u64, u: f64| {
            let mut latency = LatencyHistogram::new();
            for _ in 0..100 {
                latency.record(ms * 1_000_000);
            }
            // The eu-west replica applied 50 writes, 40 ms after the primary
            // each.
            let mut replication_lag = LatencyHistogram::new();
            let applied = if region == "eu-west" { 50 } else { 0 };
            for _ in 0..applied {
                replication_lag.record(40_000_000);
            }
            ShardRow {
                store: "users".into(),
                region: region.into(),
                shard,
                requests,
                top_key: Some(u64::from(shard)),
                top_key_requests: requests / 4,
                errors,
                throttled: errors / 2,
                latency,
                utilization: u,
                wasted_work_s: 0.0,
                applied,
                replication_lag,
                // A fifth of the replica's 40 reads were stale.
                stale_reads: applied / 6,
            }
        };
        let with_shards = |busy: [[f64; 5]; 3], second: u64| {
            let mut o = run(0, 0, &[], [0.0; 5]);
            o.shards = vec![
                shard("us-east", 0, 100, 0, 1, 0.2),
                shard("us-east", 1, second, 4, 2, 0.4),
                shard("eu-west", 0, 40, 0, 3, 0.1),
            ];
            o.shard_timeseries = (0..5)
                .flat_map(|k| {
                    (0..3).map(move |j| ShardIntervalRow {
                        t_s: (k + 1) as f64,
                        shard: j,
                        requests_rps: 0.0,
                        shed: 0,
                        throttled: 0,
                        latency_p50_ms: f64::NAN,
                        latency_p99_ms: f64::NAN,
                        utilization: busy[j][k],
                        queued: 0,
                        wasted_work_s: 0.0,
                        replication_lag_p99_ms: f64::NAN,
                        trigger: false,
                    })
                })
                .collect();
            o
        };
        // Shard 1's warm-up interval (0.99) is not its busiest.
        let a = with_shards([[0.1; 5], [0.99, 0.3, 0.6, 0.4, 0.3], [0.1; 5]], 300);
        let b = with_shards([[0.1; 5], [0.99, 0.3, 0.4, 0.4, 0.3], [0.1; 5]], 100);
        let summary = summarize_shards(&[a, b]);
        let [east, west] = &summary[..] else {
            panic!("two copies: {summary:?}")
        };
        assert_eq!(
            (east.store.as_str(), east.region.as_str()),
            ("users", "us-east")
        );
        assert_eq!(
            (east.shards, east.busiest),
            (2, 1),
            "200 operations on average against 100"
        );
        assert_eq!(east.ops_rps.mean, 75.0, "(400 + 200) / 2 over 4 s");
        assert_eq!(east.shed_fraction.mean, (4.0 / 400.0 + 4.0 / 200.0) / 2.0);
        assert_eq!(
            east.throttled_fraction.mean,
            (2.0 / 400.0 + 2.0 / 200.0) / 2.0
        );
        assert_eq!(east.busiest_share.mean, (0.75 + 0.5) / 2.0);
        assert_eq!(east.utilization.mean, 0.4);
        assert_eq!(east.peak_utilization.mean, 0.5, "(0.6 + 0.4) / 2");
        assert_eq!(east.latency_p99_ms.mean, 2.0);
        // Its most popular key: a quarter of its operations, 300 / 4 and
        // 100 / 4 over 4 s.
        assert_eq!(east.top_key, Some(1));
        assert_eq!(east.top_key_share.mean, 0.25);
        assert_eq!(east.top_key_rps.mean, (75.0 + 25.0) / 2.0 / 4.0);
        assert_eq!(
            (west.region.as_str(), west.shards, west.busiest),
            ("eu-west", 1, 0)
        );
        assert_eq!(west.latency_p99_ms.mean, 3.0);
        assert_eq!(west.peak_utilization.mean, 0.1);
        // The replica's lag, read from its histograms; none for the primary.
        assert!(east.replication_lag_p99_ms.is_none());
        let lag = west
            .replication_lag_p99_ms
            .expect("a replica that applied writes");
        assert!((lag.mean - 40.0).abs() < 0.2, "{lag:?}");
        assert!(east.stale_read_fraction.is_none());
        let stale = west.stale_read_fraction.expect("a replica");
        assert!((stale.mean - 0.2).abs() < 1e-12, "{stale:?}");
        // A tie goes to the lowest shard.
        let c = with_shards([[0.1; 5]; 3], 100);
        assert_eq!(summarize_shards(&[c])[0].busiest, 0);
        assert!(summarize_shards(&[]).is_empty());
    }

    fn hits(h1: u64, l1: u64, h2: u64, l2: u64) -> TierHits {
        TierHits {
            column: "cache_users_l1_hit_ratio".to_owned(),
            hits: h1 + h2,
            stale_hits: 0,
            lookups: l1 + l2,
            first_half_hits: h1,
            first_half_lookups: l1,
        }
    }

    #[test]
    fn a_cache_rise_is_read_against_its_noise() {
        // One replication: three binomial standard errors of the
        // difference. 0.50 -> 0.52 over 10,000 lookups a half: the
        // difference's standard error is 0.00706.
        let one = hits(5_000, 10_000, 5_200, 10_000);
        let (rise, hw) = halves_rise(&[&one]).expect("lookups in both halves");
        assert!((rise - 0.02).abs() < 1e-12);
        let se = (0.5f64 * 0.5 / 1e4 + 0.52 * 0.48 / 1e4).sqrt();
        assert!((hw - 3.0 * se).abs() < 1e-12, "{hw}");
        // Several: Student t over the replications' rises (0.02, 0.04,
        // 0.03: mean 0.03, s = 0.01, t(0.975, 2) = 4.303).
        let reps = [
            hits(500, 1000, 520, 1000),
            hits(500, 1000, 540, 1000),
            hits(500, 1000, 530, 1000),
        ];
        let refs: Vec<&TierHits> = reps.iter().collect();
        let (rise, hw) = halves_rise(&refs).expect("lookups in both halves");
        assert!((rise - 0.03).abs() < 1e-12);
        assert!((hw - 4.302_652_7 * 0.01 / 3f64.sqrt()).abs() < 1e-6, "{hw}");
        // A half without a lookup says nothing.
        assert_eq!(halves_rise(&[&hits(0, 0, 5, 10)]), None);
    }

    #[test]
    fn the_cold_cache_warning_names_each_cache_and_the_longest_ttl() {
        let cold = |name: &str, ttl_s| ColdCache {
            name: name.to_owned(),
            first: 0.433,
            second: 0.594,
            rise: 0.161,
            half_width: 0.001,
            ttl_s,
        };
        assert_eq!(cold_cache_text(&[]), None);
        let one = cold_cache_text(&[cold("users/warm", Some(3600.0))]).expect("a warning");
        assert!(
            one.starts_with("a cache was still warming, its hit ratio rising"),
            "{one}"
        );
        assert!(
            one.contains("users/warm 0.433 -> 0.594 (+0.161 ± 0.001)"),
            "{one}"
        );
        assert!(one.contains("here 1h at the longest"), "{one}");
        let two = cold_cache_text(&[
            cold("edge cache", Some(60.0)),
            cold("users/warm", Some(3600.0)),
        ])
        .expect("a warning");
        assert!(
            two.starts_with("caches were still warming, their hit ratios"),
            "{two}"
        );
        assert!(two.contains("edge cache 0.433"), "{two}");
        assert!(two.contains("here 1h at the longest"), "{two}");
        // A cache without a time to live has no such bound.
        let no_ttl = cold_cache_text(&[cold("edge cache", Some(60.0)), cold("db/l1", None)])
            .expect("a warning");
        assert!(!no_ttl.contains("at the longest"), "{no_ttl}");
        assert!(no_ttl.ends_with("hit_ratio and fill level off"), "{no_ttl}");
    }
}
