//! Everything a replication measures: request outcomes and latency (by
//! arrival after the warm-up), time-weighted signals over the measured window
//! `[warmup end, duration]` (CPU, instances, open breakers, cost rate), the
//! time series, per-service rows, and the run report.

use headroom_sim::stats::{LatencyHistogram, TimeWeighted};
use headroom_sim::{Span, Timestamp};

use super::mesh::{Cause, ClientRef, Reply, Request};
use crate::plan::costs::{BillKind, HOURS_PER_MONTH, money};
use crate::plan::{ArrivalPlan, Plan, RegionId, ServiceId};
use crate::report::{
    BillRow, DeploymentRow, EdgeIntervalRow, EdgeRow, IntervalRow, RegionIntervalRow, RegionRow,
    RunMetrics, RunOutput, ServiceIntervalRow, ServiceRow, SessionMetrics, StationLoad,
    WorstRegion,
};
use crate::scenario::{ConcurrencyModel, Scope};

/// Workers held and computing of one service: two signals that change
/// together, integrated exactly in worker-nanoseconds since time zero.
///
/// The integral of a step function `n(t)` from 0 to `T` is
/// `n(T) * T - sum(delta_i * t_i)` over its changes (`delta_i` at `t_i`), so
/// a change costs one multiply-add on integers and no clock of the last
/// change; the integral is exact, and rounded once, when it is read.
#[derive(Clone, Copy, Debug, Default)]
struct Workers {
    held: i64,
    computing: i64,
    /// `-sum(delta * t)` of the held and computing signals, worker-ns.
    held_offset: i128,
    computing_offset: i128,
}

impl Workers {
    #[inline]
    fn add(&mut self, now: Timestamp, held: i64, computing: i64) {
        let t = i128::from(now.as_nanos());
        self.held_offset -= i128::from(held) * t;
        self.computing_offset -= i128::from(computing) * t;
        self.held += held;
        self.computing += computing;
    }

    /// The signals of two sets of workers together: the sums of their
    /// steps, exact.
    fn plus(self, o: Workers) -> Workers {
        Workers {
            held: self.held + o.held,
            computing: self.computing + o.computing,
            held_offset: self.held_offset + o.held_offset,
            computing_offset: self.computing_offset + o.computing_offset,
        }
    }

    /// Held and computing worker-seconds from time zero to `now` (no
    /// earlier than the last change).
    fn areas_secs(&self, now: Timestamp) -> (f64, f64) {
        let t = i128::from(now.as_nanos());
        let area = |n: i64, offset: i128| (i128::from(n) * t + offset) as f64 / 1e9;
        (
            area(self.held, self.held_offset),
            area(self.computing, self.computing_offset),
        )
    }
}

/// Integrals of a service's signals from time zero: held, computing and
/// capacity worker-seconds.
#[derive(Clone, Copy, Debug, Default)]
struct Areas {
    held: f64,
    computing: f64,
    capacity: f64,
}

impl Areas {
    /// `x` worker-seconds as a fraction of the capacity's; NaN without
    /// capacity.
    fn of_capacity(&self, x: f64) -> f64 {
        if self.capacity > 0.0 {
            x / self.capacity
        } else {
            f64::NAN
        }
    }
}

impl std::ops::Sub for Areas {
    type Output = Areas;
    fn sub(self, o: Areas) -> Areas {
        Areas {
            held: self.held - o.held,
            computing: self.computing - o.computing,
            capacity: self.capacity - o.capacity,
        }
    }
}

/// Per-deployment accumulators: one service in one region, indexed
/// `service * regions + region` as the engine's deployments are. A service's
/// figures are its deployments' added up (counts and worker integrals
/// exactly, histograms merged).
struct DeploymentStats {
    /// Tries since time zero (the measured window's and each interval's
    /// are differences of [`Counts`] marks, so a try pays one add).
    attempts: u64,
    /// Of `attempts`, turned away by a full queue or an adaptive
    /// concurrency limit.
    shed: u64,
    /// Of `attempts`, ended unsuccessfully.
    errors: u64,
    /// Time at the instance of the tries that ended in the current
    /// interval (since the warm-up end, when it falls inside the interval:
    /// the earlier ones wait in [`ServiceLatency::pre`]).
    latency: LatencyHistogram,
    workers: Workers,
    /// Workers of ready and draining instances, from time zero.
    capacity: TimeWeighted,
    /// Instances (reset at the warm-up end for the measured mean and max).
    instances: TimeWeighted,
    /// Areas at the warm-up end.
    at_warmup: Areas,
}

impl DeploymentStats {
    fn areas(&self, now: Timestamp) -> Areas {
        let (held, computing) = self.workers.areas_secs(now);
        Areas {
            held,
            computing,
            capacity: self.capacity.integral_secs(now),
        }
    }
}

/// A service's signals that change with its instances only (rarely): its
/// capacity and instances over all its regions, kept whole rather than
/// added up from its deployments' (the most instances at once is no sum of
/// each region's most).
struct ServiceSignals {
    /// Workers of ready and draining instances, from time zero.
    capacity: TimeWeighted,
    /// Instances (reset at the warm-up end for the measured mean and max).
    instances: TimeWeighted,
    /// Areas at the warm-up end and at the start of the current interval.
    at_warmup: Areas,
    at_interval: Areas,
}

/// What a service's adaptive concurrency limits did, since time zero.
#[derive(Clone, Copy, Default)]
struct LimitStats {
    /// Tries refused (of the service's `shed`).
    blocked: u64,
    /// Tries that met a limit on arrival, and the sum of the limits they
    /// met.
    gated: u64,
    limit_sum: u64,
}

/// A service's counters at one instant; what happened between two
/// instants is the difference of their marks.
#[derive(Clone, Copy, Default)]
struct Counts {
    attempts: u64,
    shed: u64,
    errors: u64,
    limits: LimitStats,
    /// Worker time of tries whose caller had given up, counted as each
    /// ends (nanoseconds; a u128, as a run's abandoned work can pass
    /// u64's 584 years).
    wasted_ns: u128,
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts {
            attempts: self.attempts + o.attempts,
            shed: self.shed + o.shed,
            errors: self.errors + o.errors,
            wasted_ns: self.wasted_ns + o.wasted_ns,
            limits: LimitStats {
                blocked: self.limits.blocked + o.limits.blocked,
                gated: self.limits.gated + o.limits.gated,
                limit_sum: self.limits.limit_sum + o.limits.limit_sum,
            },
        }
    }
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, o: Counts) -> Counts {
        Counts {
            attempts: self.attempts - o.attempts,
            shed: self.shed - o.shed,
            errors: self.errors - o.errors,
            wasted_ns: self.wasted_ns - o.wasted_ns,
            limits: LimitStats {
                blocked: self.limits.blocked - o.limits.blocked,
                gated: self.limits.gated - o.limits.gated,
                limit_sum: self.limits.limit_sum - o.limits.limit_sum,
            },
        }
    }
}

impl Counts {
    /// The mean adaptive concurrency limit the tries met on arrival; NaN
    /// when none met one.
    fn limit_mean(&self) -> f64 {
        if self.limits.gated == 0 {
            f64::NAN
        } else {
            self.limits.limit_sum as f64 / self.limits.gated as f64
        }
    }
}

/// A deployment's marks: at the warm-up end, at the start of the current
/// interval, and at the end of arrivals (kept apart from
/// [`DeploymentStats`], whose stride every try's path pays for).
#[derive(Clone, Copy, Default)]
struct Marks {
    warmup: Counts,
    interval: Counts,
    end: Option<Counts>,
}

/// A deployment's latency histograms that a try's path does not touch.
struct ServiceLatency {
    /// The measured window's tries, merged in at the end of each interval.
    measured: LatencyHistogram,
    /// The tries of the current interval that ended before the warm-up
    /// end.
    pre: LatencyHistogram,
}

/// A service's or a deployment's measured window, frozen at the end of
/// arrivals: areas, mean and most instances.
#[derive(Clone, Copy)]
struct FrozenService {
    areas: Areas,
    replicas_mean: f64,
    replicas_max: f64,
}

/// One time-series interval's accumulators.
struct Interval {
    start: Timestamp,
    arrivals: u64,
    completions: u64,
    failed: u64,
    rejected: u64,
    retries: u64,
    wasted_ns: u128,
    latency: LatencyHistogram,
}

/// Measured sessions' books, summed as each ends. A session is weighted
/// by the inverse of the share of the measured window in which one as long
/// could end ([`Stats::on_session_end`]): 1, summed exactly in `whole`,
/// unless it lasted longer than the warm-up; the others in `long`.
#[derive(Clone, Copy, Default)]
struct SessionTally {
    ended: u64,
    abandoned: u64,
    whole: WholeSessions,
    long: LongSessions,
}

/// Sessions of weight 1, summed exactly.
#[derive(Clone, Copy, Default)]
struct WholeSessions {
    count: u64,
    answered: u64,
    abandoned: u64,
    requests: u64,
    duration_ns: u128,
}

/// Sessions longer than the warm-up: each term weighted.
#[derive(Clone, Copy, Default)]
struct LongSessions {
    weight: f64,
    answered: f64,
    abandoned: f64,
    requests: f64,
    duration_ns: f64,
}

/// One call edge's counters since time zero, before the end of arrivals:
/// its calls that ended, by how they ended; its retries and hedges sent;
/// its tries its caller stopped waiting for. The measured window's and
/// each interval's are differences of marks, as a deployment's are.
#[derive(Clone, Copy, Default)]
struct EdgeCounts {
    outcomes: Outcomes,
    refused: u64,
    retries: u64,
    hedges: u64,
    try_timeouts: u64,
}

impl std::ops::Sub for EdgeCounts {
    type Output = EdgeCounts;
    fn sub(self, o: EdgeCounts) -> EdgeCounts {
        EdgeCounts {
            outcomes: self.outcomes - o.outcomes,
            refused: self.refused - o.refused,
            retries: self.retries - o.retries,
            hedges: self.hedges - o.hedges,
            try_timeouts: self.try_timeouts - o.try_timeouts,
        }
    }
}

/// What a call's path touches of one call edge.
struct EdgeTally {
    counts: EdgeCounts,
    /// The current interval's calls' times as their callers saw them.
    latency: LatencyHistogram,
    /// Breakers open on the edge (one per caller instance, or per edge
    /// region for the edge's own calls), reset at the warm-up end.
    open: TimeWeighted,
}

/// One call edge's books that a call's path does not touch: its marks and
/// its measured window's latencies (as a deployment's [`Marks`] and
/// [`ServiceLatency`]).
struct EdgeBooks {
    at_warmup: EdgeCounts,
    at_interval: EdgeCounts,
    at_end: Option<EdgeCounts>,
    /// The measured window's calls, merged in at the end of each interval.
    measured: LatencyHistogram,
    /// The calls of the current interval that ended before the warm-up end.
    pre: LatencyHistogram,
    /// `open`'s integral at the end of arrivals.
    open_s: f64,
}

pub(super) struct Stats {
    /// With `warmup = "auto"`: latencies by arrival time, for MSER-5.
    pub transient: Option<Transient>,
    /// Measured latencies by arrival time, in batches.
    batches: Batches,
    warmup_end: Timestamp,
    end: Timestamp,
    /// Between the warm-up end and the end of arrivals.
    measuring: bool,
    requests: u64,
    /// How the measured requests ended.
    outcomes: Outcomes,
    failovers: u64,
    retries: u64,
    hedges: u64,
    crashes: u64,
    ejections: u64,
    /// Sessions that ended in the measured window (with `workload.session`
    /// only).
    sessions: Option<SessionTally>,
    /// Per client region, with two regions or more (`regions.csv`; empty
    /// otherwise).
    regions: Vec<RegionTally>,
    latency: LatencyHistogram,
    /// Measured requests that were not answered (the rest of `latency_all`).
    latency_unanswered: LatencyHistogram,
    instances: TimeWeighted,
    open_breakers: TimeWeighted,
    /// Cost rate (instances and the data tier's capacity), USD per second,
    /// since time zero (for `cost_usd_cum`).
    cost_rate_all: TimeWeighted,
    /// Measured: the instances' cost rate, USD per second.
    cost_rate: TimeWeighted,
    /// Measured: the data tier's capacity-priced cost rate (shards,
    /// replicas, tier capacity), USD per second.
    data_rate: TimeWeighted,
    /// Usage-priced costs (egress and the data tier's operations) since time
    /// zero (for `cost_usd_cum`).
    usage_usd_all: f64,
    /// Measured: egress (inter-region and to the internet), USD.
    egress_usd: f64,
    /// Measured: the data tier's usage-priced costs (cache tier
    /// operations), USD.
    data_usage_usd: f64,
    /// Measured: `egress_usd` by the region that sent the bytes,
    /// `[region][inter-region, internet]` (`bill.csv`).
    egress_by_region: Vec<[f64; 2]>,
    /// Measured: `data_usage_usd` by tier and copy, `[tier_base[store] +
    /// tier][region]`, a global tier's in its last column (`bill.csv`).
    usage_by_tier: Vec<Vec<f64>>,
    /// Where each store's tiers start in `usage_by_tier`.
    tier_base: Vec<usize>,
    wasted_ns: u128,
    /// USD per instance-second, `[service][region]`.
    prices: Vec<Vec<f64>>,
    inter_region_usd_per_byte: f64,
    internet_usd_per_byte: f64,
    /// Regions of the plan: a deployment's index is `service * regions +
    /// region`.
    region_count: usize,
    /// Per deployment.
    deployments: Vec<DeploymentStats>,
    /// Per service.
    services: Vec<ServiceSignals>,
    /// Per deployment, what its instances' adaptive concurrency limits did
    /// (apart from `deployments`, whose stride every try's path pays for).
    limits: Vec<LimitStats>,
    /// Per deployment: the worker time of tries whose caller had given up,
    /// since time zero (nanoseconds; kept apart from [`DeploymentStats`],
    /// which every try touches).
    deployment_wasted_ns: Vec<u128>,
    marks: Vec<Marks>,
    latencies: Vec<ServiceLatency>,
    /// A service's tries of one interval, its deployments' merged.
    service_latency: LatencyHistogram,
    /// Per deployment, its row in `deployments.csv` (with two regions or
    /// more, where its service runs), which its interval rows name.
    deployment_rows: Vec<Option<u32>>,
    /// Per deployment, its areas at the start of the current interval.
    deployment_at_interval: Vec<Areas>,
    /// Per (interval, deployment with a row), `deployments_timeseries.csv`.
    deployment_series: Vec<ServiceIntervalRow>,
    interval: Interval,
    rows: Vec<IntervalRow>,
    service_rows: Vec<ServiceIntervalRow>,
    /// Per (interval, client region), with two regions or more.
    region_rows: Vec<RegionIntervalRow>,
    /// Per call edge (`edges.csv`): the edge's calls to the entry services
    /// first, then each service's callees in `[[services]]` order.
    edges: Vec<EdgeTally>,
    /// Per call edge, in `edges`' order.
    edge_books: Vec<EdgeBooks>,
    /// Per (interval, call edge), `edges_timeseries.csv`.
    edge_rows: Vec<EdgeIntervalRow>,
    /// Per service, the index of its first callee's edge in `edges` (the
    /// layout of [`edge_names`]).
    edge_base: Vec<u32>,
    /// Values frozen at the end of arrivals (the drain is not measured).
    frozen: Option<Frozen>,
    /// Per service, frozen at the end of arrivals.
    frozen_services: Vec<FrozenService>,
    /// Per deployment, frozen at the end of arrivals.
    frozen_deployments: Vec<FrozenService>,
    /// `[start, end]` of every trigger (fault window, cache flush, surge),
    /// to mark the intervals they touch.
    triggers: Vec<(Timestamp, Timestamp)>,
}

/// Time-weighted results read at the end of arrivals.
#[derive(Clone, Copy)]
struct Frozen {
    cpu_util: f64,
    replicas_mean: f64,
    replicas_max: f64,
    breaker_open_s: f64,
    instance_cost_usd: f64,
    data_usd: f64,
    egress_usd: f64,
}

fn tw() -> TimeWeighted {
    TimeWeighted::new(Timestamp::ZERO, 0.0)
}

impl Stats {
    pub(super) fn new(plan: &Plan) -> Self {
        let (prices, inter, internet) = match &plan.costs {
            Some(c) => (
                c.instance_usd_per_s.clone(),
                c.inter_region_usd_per_byte,
                c.internet_usd_per_byte,
            ),
            None => (
                vec![vec![0.0; plan.network.regions.len()]; plan.services.len()],
                0.0,
                0.0,
            ),
        };
        let region_count = plan.network.regions.len();
        let deployments = plan.services.len() * region_count;
        Stats {
            transient: plan
                .run
                .auto_warmup
                .then(|| Transient::new(plan.run.duration)),
            batches: Batches::new(plan.run.warmup_end(), plan.run.measured()),
            warmup_end: plan.run.warmup_end(),
            end: plan.run.end(),
            measuring: plan.run.warmup.is_zero(),
            requests: 0,
            outcomes: Outcomes::default(),
            failovers: 0,
            retries: 0,
            hedges: 0,
            crashes: 0,
            ejections: 0,
            sessions: plan
                .workload
                .session
                .as_ref()
                .map(|_| SessionTally::default()),
            regions: if plan.network.regions.len() > 1 {
                plan.network
                    .regions
                    .iter()
                    .map(|_| RegionTally::default())
                    .collect()
            } else {
                Vec::new()
            },
            latency: LatencyHistogram::new(),
            latency_unanswered: LatencyHistogram::new(),
            instances: tw(),
            open_breakers: tw(),
            cost_rate_all: tw(),
            cost_rate: tw(),
            data_rate: tw(),
            usage_usd_all: 0.0,
            egress_usd: 0.0,
            data_usage_usd: 0.0,
            egress_by_region: vec![[0.0; 2]; region_count],
            usage_by_tier: plan
                .data
                .stores
                .iter()
                .flat_map(|s| &s.tiers)
                .map(|_| vec![0.0; region_count + 1])
                .collect(),
            tier_base: plan
                .data
                .stores
                .iter()
                .scan(0, |next, s| {
                    let base = *next;
                    *next += s.tiers.len();
                    Some(base)
                })
                .collect(),
            wasted_ns: 0,
            prices,
            inter_region_usd_per_byte: inter,
            internet_usd_per_byte: internet,
            region_count,
            limits: vec![LimitStats::default(); deployments],
            deployment_wasted_ns: vec![0; deployments],
            marks: vec![Marks::default(); deployments],
            latencies: (0..deployments)
                .map(|_| ServiceLatency {
                    measured: LatencyHistogram::new(),
                    pre: LatencyHistogram::new(),
                })
                .collect(),
            service_latency: LatencyHistogram::new(),
            deployment_rows: {
                let mut next = 0u32;
                plan.services
                    .iter()
                    .flat_map(|p| plan.network.region_ids().map(move |r| p.runs_in(r)))
                    .map(|runs| {
                        (runs && region_count > 1).then(|| {
                            next += 1;
                            next - 1
                        })
                    })
                    .collect()
            },
            deployment_at_interval: vec![Areas::default(); deployments],
            deployment_series: Vec::new(),
            deployments: (0..deployments)
                .map(|_| DeploymentStats {
                    attempts: 0,
                    shed: 0,
                    errors: 0,
                    latency: LatencyHistogram::new(),
                    workers: Workers::default(),
                    capacity: tw(),
                    instances: tw(),
                    at_warmup: Areas::default(),
                })
                .collect(),
            services: plan
                .services
                .iter()
                .map(|_| ServiceSignals {
                    capacity: tw(),
                    instances: tw(),
                    at_warmup: Areas::default(),
                    at_interval: Areas::default(),
                })
                .collect(),
            interval: Interval {
                start: Timestamp::ZERO,
                arrivals: 0,
                completions: 0,
                failed: 0,
                rejected: 0,
                retries: 0,
                wasted_ns: 0,
                latency: LatencyHistogram::new(),
            },
            triggers: plan
                .recovery
                .triggers
                .iter()
                .map(|t| (t.start, t.end))
                .collect(),
            edges: edge_names(plan)
                .map(|_| EdgeTally {
                    counts: EdgeCounts::default(),
                    latency: LatencyHistogram::new(),
                    open: tw(),
                })
                .collect(),
            edge_books: edge_names(plan)
                .map(|_| EdgeBooks {
                    at_warmup: EdgeCounts::default(),
                    at_interval: EdgeCounts::default(),
                    at_end: None,
                    measured: LatencyHistogram::new(),
                    pre: LatencyHistogram::new(),
                    open_s: 0.0,
                })
                .collect(),
            edge_rows: Vec::new(),
            edge_base: plan
                .services
                .iter()
                .scan(plan.workload.entries.len() as u32, |next, p| {
                    let base = *next;
                    *next += p.callees.len() as u32;
                    Some(base)
                })
                .collect(),
            rows: Vec::new(),
            service_rows: Vec::new(),
            region_rows: Vec::new(),
            frozen: None,
            frozen_services: Vec::new(),
            frozen_deployments: Vec::new(),
        }
    }

    pub(super) fn on_warmup_end(&mut self, now: Timestamp) {
        self.measuring = true;
        for t in [
            &mut self.instances,
            &mut self.open_breakers,
            &mut self.cost_rate,
            &mut self.data_rate,
        ] {
            t.reset(now);
        }
        for (e, b) in self.edges.iter_mut().zip(&mut self.edge_books) {
            e.open.reset(now);
            b.at_warmup = e.counts;
            // `pre` is empty (cleared at every interval's end).
            std::mem::swap(&mut e.latency, &mut b.pre);
        }
        for i in 0..self.services.len() {
            let areas = self.service_areas(i, now);
            let s = &mut self.services[i];
            s.at_warmup = areas;
            s.instances.reset(now);
        }
        for d in 0..self.deployments.len() {
            self.marks[d].warmup = self.counts(d);
            let s = &mut self.deployments[d];
            s.at_warmup = s.areas(now);
            s.instances.reset(now);
            // `pre` is empty (cleared at every interval's end).
            std::mem::swap(&mut s.latency, &mut self.latencies[d].pre);
        }
    }

    /// Deployment `d`'s counters now.
    fn counts(&self, d: usize) -> Counts {
        let s = &self.deployments[d];
        Counts {
            attempts: s.attempts,
            shed: s.shed,
            errors: s.errors,
            limits: self.limits[d],
            wasted_ns: self.deployment_wasted_ns[d],
        }
    }

    /// The deployments of service `i`: their indices.
    fn deployments_of(&self, i: usize) -> std::ops::Range<usize> {
        deployments_of(i, self.region_count)
    }

    /// The index of `service`'s deployment in `region`.
    #[inline]
    fn deployment(&self, service: ServiceId, region: RegionId) -> usize {
        service.index() * self.region_count + region.index()
    }

    /// Service `i`'s integrals from time zero: its deployments' workers
    /// added up (exactly), and its own capacity.
    fn service_areas(&self, i: usize, now: Timestamp) -> Areas {
        let (held, computing) = self.deployments[self.deployments_of(i)]
            .iter()
            .fold(Workers::default(), |w, d| w.plus(d.workers))
            .areas_secs(now);
        Areas {
            held,
            computing,
            capacity: self.services[i].capacity.integral_secs(now),
        }
    }

    pub(super) fn on_end(&mut self, now: Timestamp) {
        self.frozen_services = (0..self.services.len())
            .map(|i| {
                let s = &self.services[i];
                FrozenService {
                    areas: self.service_areas(i, now) - s.at_warmup,
                    replicas_mean: s.instances.mean(now),
                    replicas_max: s.instances.max(),
                }
            })
            .collect();
        self.frozen_deployments = self
            .deployments
            .iter()
            .map(|s| FrozenService {
                areas: s.areas(now) - s.at_warmup,
                replicas_mean: s.instances.mean(now),
                replicas_max: s.instances.max(),
            })
            .collect();
        for d in 0..self.deployments.len() {
            self.marks[d].end = Some(self.counts(d));
        }
        for (e, b) in self.edges.iter().zip(&mut self.edge_books) {
            b.at_end = Some(e.counts);
            b.open_s = e.open.integral_secs(now);
        }
        let (computing, capacity) = self.frozen_services.iter().fold((0.0, 0.0), |(c, k), f| {
            (c + f.areas.computing, k + f.areas.capacity)
        });
        self.frozen = Some(Frozen {
            cpu_util: if capacity > 0.0 {
                computing / capacity
            } else {
                f64::NAN
            },
            replicas_mean: self.instances.mean(now),
            replicas_max: self.instances.max(),
            breaker_open_s: self.open_breakers.integral_secs(now),
            instance_cost_usd: self.cost_rate.integral_secs(now),
            data_usd: self.data_rate.integral_secs(now) + self.data_usage_usd,
            egress_usd: self.egress_usd,
        });
        self.measuring = false;
    }

    /// Whether an event at `now` falls in the measured window.
    #[inline]
    fn in_window(&self, now: Timestamp) -> bool {
        self.measuring && now >= self.warmup_end && now < self.end
    }

    pub(super) fn on_arrival(&mut self, _now: Timestamp, measured: bool) {
        self.requests += u64::from(measured);
        self.interval.arrivals += 1;
    }

    pub(super) fn on_request_end(&mut self, now: Timestamp, r: &Request, reply: Reply) {
        let latency = (now - r.arrival).as_nanos() + r.client_rtt.as_nanos();
        let answered = reply.cause == Cause::Ok;
        if answered && let Some(t) = &mut self.transient {
            t.add(r.arrival, latency as f64);
        }
        if r.data.measured {
            self.outcomes.count(reply);
            // One record per request: the answered and the others apart,
            // merged (exactly) into every request's histogram at the end.
            if answered {
                self.latency.record(latency);
                self.batches.record(r.arrival, latency);
            } else {
                self.latency_unanswered.record(latency);
            }
            self.failovers += u64::from(r.failed_over);
        }
        if !self.regions.is_empty() {
            // The interval's counts and latencies are then its regions',
            // added up as it closes (`close_interval`).
            self.on_region_end(now, r, reply, latency);
        } else if now < self.end {
            let iv = &mut self.interval;
            match reply.cause {
                Cause::Ok => {
                    iv.completions += 1;
                    iv.latency.record(latency);
                }
                Cause::Rejected => iv.rejected += 1,
                Cause::Error | Cause::Shed | Cause::Timeout => iv.failed += 1,
            }
        }
    }

    /// A request of a client in `r.origin` ended at `now` (with two regions
    /// or more): counted in the region's measured window if it is measured,
    /// and in its current interval before the end of arrivals, as the run's
    /// are. Out of line: a run with one region pays the test alone.
    #[inline(never)]
    fn on_region_end(&mut self, now: Timestamp, r: &Request, reply: Reply, latency_ns: u64) {
        let Some(t) = self.regions.get_mut(usize::from(r.origin)) else {
            debug_assert!(false, "origin {} out of the regions", r.origin);
            return;
        };
        if r.data.measured {
            t.measured.record(reply, latency_ns, r.failed_over);
        }
        if now < self.end {
            t.interval.record(reply, latency_ns, r.failed_over);
        }
    }

    /// A session ends in the measured window at `now`: it sent `requests`,
    /// its user had the last outcome (or left) `duration` after sending the
    /// first, some request was not answered in the user's patience
    /// (`failed`), and the user gave up with requests left (`abandoned`);
    /// `reach`, from its start to `now`.
    ///
    /// Sessions start from none open at time zero, so one that reaches `D`
    /// can end only after `D`: in the part of the window `[max(warm-up, D),
    /// end)`, not in all of it as in a steady state. Counted as they are,
    /// sessions longer than the warm-up would be too few, and the session
    /// columns would lean toward short sessions (the more as sessions are
    /// long against the warm-up). Each is weighted by the inverse of that
    /// share, `(end - warm-up) / (end - max(warm-up, D))` (Horvitz and
    /// Thompson's estimator): the ratios and means are then those of every
    /// session in a steady state, whatever the warm-up.
    pub(super) fn on_session_end(
        &mut self,
        reach: Span,
        requests: u32,
        duration: Span,
        failed: bool,
        abandoned: bool,
    ) {
        let Some(t) = &mut self.sessions else {
            return;
        };
        t.ended += 1;
        t.abandoned += u64::from(abandoned);
        let earliest = Timestamp::ZERO + reach;
        if earliest <= self.warmup_end {
            let w = &mut t.whole;
            w.count += 1;
            w.answered += u64::from(!failed);
            w.abandoned += u64::from(abandoned);
            w.requests += u64::from(requests);
            w.duration_ns += u128::from(duration.as_nanos());
        } else {
            // `earliest <= now < end`: the share is above 0.
            let window = (self.end - self.warmup_end).as_nanos() as f64;
            let weight = window / (self.end - earliest).as_nanos() as f64;
            let l = &mut t.long;
            l.weight += weight;
            l.answered += if failed { 0.0 } else { weight };
            l.abandoned += if abandoned { weight } else { 0.0 };
            l.requests += weight * f64::from(requests);
            l.duration_ns += weight * duration.as_nanos() as f64;
        }
    }

    /// A retry is sent: of a call by `client` (its edge counts it), or of
    /// a datastore operation (`None`).
    pub(super) fn on_retry(&mut self, now: Timestamp, client: Option<ClientRef>) {
        let measured = self.in_window(now);
        self.retries += u64::from(measured);
        self.interval.retries += u64::from(now < self.end);
        if now < self.end
            && let Some(client) = client
        {
            let e = self.edge(client);
            self.edges[e].counts.retries += 1;
        }
    }

    /// A hedge of a call by `client` is sent.
    pub(super) fn on_hedge(&mut self, now: Timestamp, client: ClientRef) {
        self.hedges += u64::from(self.in_window(now));
        if now < self.end {
            let e = self.edge(client);
            self.edges[e].counts.hedges += 1;
        }
    }

    /// The index in `edges` of the edge `client` calls on.
    #[inline]
    fn edge(&self, client: ClientRef) -> usize {
        match client {
            ClientRef::Edge { entry, .. } => usize::from(entry),
            ClientRef::Instance { service, edge, .. } => {
                self.edge_base[usize::from(service)] as usize + usize::from(edge)
            }
        }
    }

    /// A call by `client` ended at `now` with `reply`, `latency` after it
    /// started.
    #[inline]
    pub(super) fn on_call_end(
        &mut self,
        now: Timestamp,
        client: ClientRef,
        latency: Span,
        reply: Reply,
    ) {
        if now < self.end {
            let e = self.edge(client);
            let e = &mut self.edges[e];
            e.counts.outcomes.count(reply);
            e.latency.record(latency.as_nanos());
        }
    }

    /// The breaker of `client` refused a call.
    pub(super) fn on_call_refused(&mut self, now: Timestamp, client: ClientRef) {
        if now < self.end {
            let e = self.edge(client);
            self.edges[e].counts.refused += 1;
        }
    }

    /// `client` stopped waiting for a try at its deadline (per-try or
    /// overall).
    #[cold]
    pub(super) fn on_try_timeout(&mut self, now: Timestamp, client: ClientRef) {
        if now < self.end {
            let e = self.edge(client);
            self.edges[e].counts.try_timeouts += 1;
        }
    }

    pub(super) fn on_crash(&mut self, now: Timestamp) {
        self.crashes += u64::from(self.in_window(now));
    }

    pub(super) fn on_ejection(&mut self, now: Timestamp) {
        self.ejections += u64::from(self.in_window(now));
    }

    pub(super) fn on_outage(&mut self, _now: Timestamp) {}

    pub(super) fn on_region_health(&mut self, _now: Timestamp, _healthy: bool) {}

    /// A try reached an instance of `deployment` (the engine's index of
    /// a service in a region, as every per-try method here takes).
    pub(super) fn on_attempt_arrival(&mut self, deployment: u32) {
        self.deployments[deployment as usize].attempts += 1;
    }

    /// A try found its instance's queue full, or its limit refused it.
    pub(super) fn on_attempt_shed(&mut self, deployment: u32) {
        self.deployments[deployment as usize].shed += 1;
    }

    /// A try met its instance's adaptive concurrency limit, `limit` after
    /// the controller caught up with the try's arrival; `blocked`: it was
    /// refused.
    pub(super) fn on_concurrency_gate(&mut self, deployment: u32, limit: u32, blocked: bool) {
        let s = &mut self.limits[deployment as usize];
        s.gated += 1;
        s.limit_sum += u64::from(limit);
        s.blocked += u64::from(blocked);
    }

    pub(super) fn on_attempt_end(
        &mut self,
        now: Timestamp,
        deployment: u32,
        latency: Span,
        ok: bool,
    ) {
        let before_end = now < self.end;
        let s = &mut self.deployments[deployment as usize];
        s.errors += u64::from(!ok);
        if before_end {
            s.latency.record(latency.as_nanos());
        }
    }

    /// Workers held and computing change by `held` and `computing`.
    #[inline]
    pub(super) fn on_workers(
        &mut self,
        now: Timestamp,
        deployment: u32,
        held: i64,
        computing: i64,
    ) {
        self.deployments[deployment as usize]
            .workers
            .add(now, held, computing);
    }

    /// Instances of `service` in `region` change by `count` (billed) and
    /// ready worker capacity by `capacity`.
    pub(super) fn on_instances(
        &mut self,
        now: Timestamp,
        service: ServiceId,
        region: RegionId,
        count: i64,
        capacity: i64,
    ) {
        let d = self.deployment(service, region);
        let (s, deployment) = (
            &mut self.services[service.index()],
            &mut self.deployments[d],
        );
        if count != 0 {
            s.instances.add(now, count as f64);
            deployment.instances.add(now, count as f64);
            self.instances.add(now, count as f64);
            let rate = self.prices[service.index()][region.index()] * count as f64;
            self.cost_rate.add(now, rate);
            self.cost_rate_all.add(now, rate);
        }
        if capacity != 0 {
            s.capacity.add(now, capacity as f64);
            deployment.capacity.add(now, capacity as f64);
        }
    }

    /// Breakers open on the edge `client` calls on change by `delta`.
    pub(super) fn on_breaker_open(&mut self, now: Timestamp, client: ClientRef, delta: i64) {
        self.open_breakers.add(now, delta as f64);
        let e = self.edge(client);
        self.edges[e].open.add(now, delta as f64);
    }

    /// `from` sent `bytes` to another region.
    pub(super) fn on_inter_region_bytes(&mut self, now: Timestamp, from: RegionId, bytes: u64) {
        let usd = bytes as f64 * self.inter_region_usd_per_byte;
        self.usage_usd_all += usd;
        if self.in_window(now) {
            self.egress_usd += usd;
            self.egress_by_region[from.index()][0] += usd;
        }
    }

    /// The edge in `from` sent a client `bytes`.
    pub(super) fn on_internet_bytes(&mut self, now: Timestamp, from: RegionId, bytes: u64) {
        let usd = bytes as f64 * self.internet_usd_per_byte;
        self.usage_usd_all += usd;
        if self.in_window(now) {
            self.egress_usd += usd;
            self.egress_by_region[from.index()][1] += usd;
        }
    }

    /// Usage-priced costs (cache tier operations), USD: an operation of
    /// `tier` of `store` at its copy in `region` (`None`: a global tier).
    #[inline(never)]
    pub(super) fn on_usage_usd(
        &mut self,
        now: Timestamp,
        store: usize,
        tier: usize,
        region: Option<RegionId>,
        usd: f64,
    ) {
        if usd == 0.0 {
            return;
        }
        self.usage_usd_all += usd;
        if self.in_window(now) {
            self.data_usage_usd += usd;
            let column = region.map_or(self.region_count, RegionId::index);
            self.usage_by_tier[self.tier_base[store] + tier][column] += usd;
        }
    }

    /// Capacity-priced costs of the data tier (shards, tier capacity), USD
    /// per second from `now` on.
    pub(super) fn on_data_cost_rate(&mut self, now: Timestamp, usd_per_s: f64) {
        if usd_per_s != 0.0 {
            self.data_rate.add(now, usd_per_s);
            self.cost_rate_all.add(now, usd_per_s);
        }
    }

    /// Sets the data tier's ratios of the interval just closed: its cache
    /// hit ratio and its stale read ratio.
    pub(super) fn set_interval_data_ratios(&mut self, cache_hit_ratio: f64, stale_read_ratio: f64) {
        if let Some(row) = self.rows.last_mut() {
            row.cache_hit_ratio = cache_hit_ratio;
            row.stale_read_ratio = stale_read_ratio;
        }
    }

    /// An abandoned try of `deployment` ended: `work` is the worker time it
    /// held, all of it for a caller that had given up. Counted when the try
    /// ends.
    pub(super) fn on_wasted_work(&mut self, now: Timestamp, work: Span, deployment: u32) {
        self.deployment_wasted_ns[deployment as usize] += u128::from(work.as_nanos());
        if self.in_window(now) {
            self.wasted_ns += u128::from(work.as_nanos());
        }
        if now < self.end {
            self.interval.wasted_ns += u128::from(work.as_nanos());
        }
    }

    /// Closes the current time-series interval at `now`; whether a trigger
    /// overlaps it.
    pub(super) fn close_interval(&mut self, now: Timestamp, healthy_regions: u64) -> bool {
        let start = self.interval.start;
        let secs = (now - start).as_secs_f64();
        // A trigger marks every interval it overlaps (an instant one, the
        // interval it falls in).
        let trigger = self
            .triggers
            .iter()
            .any(|&(t0, t1)| t0 < now && (t1 > start || t0 >= start));
        let (mut computing, mut capacity) = (0.0, 0.0);
        for i in 0..self.services.len() {
            let mut c = Counts::default();
            for d in self.deployments_of(i) {
                let counts = self.counts(d);
                let mine = counts - self.marks[d].interval;
                c = c + mine;
                self.marks[d].interval = counts;
                // The interval's tries since the warm-up end are measured;
                // with the earlier ones, they make the interval's quantiles.
                let (s, l) = (&mut self.deployments[d], &mut self.latencies[d]);
                if self.measuring {
                    l.measured.merge(&s.latency);
                }
                s.latency.merge(&l.pre);
                l.pre.clear();
                self.service_latency.merge(&s.latency);
                if let Some(k) = self.deployment_rows[d] {
                    let areas = s.areas(now);
                    let delta = areas - self.deployment_at_interval[d];
                    self.deployment_at_interval[d] = areas;
                    self.deployment_series.push(interval_row(
                        now,
                        k as usize,
                        secs,
                        mine,
                        &s.latency,
                        delta,
                        s.instances.current(),
                        trigger,
                    ));
                }
                s.latency.clear();
            }
            let areas = self.service_areas(i, now);
            let s = &mut self.services[i];
            let delta = areas - s.at_interval;
            computing += delta.computing;
            capacity += delta.capacity;
            s.at_interval = areas;
            self.service_rows.push(interval_row(
                now,
                i,
                secs,
                c,
                &self.service_latency,
                delta,
                s.instances.current(),
                trigger,
            ));
            self.service_latency.clear();
        }
        // Each call edge's, its measured calls merged into its window's.
        for (edge, (e, b)) in self.edges.iter_mut().zip(&mut self.edge_books).enumerate() {
            let mine = e.counts - b.at_interval;
            b.at_interval = e.counts;
            if self.measuring {
                b.measured.merge(&e.latency);
            }
            e.latency.merge(&b.pre);
            b.pre.clear();
            let o = mine.outcomes;
            let [p50, p99] = [0.5, 0.99].map(|q| e.latency.quantile_ms(q));
            self.edge_rows.push(EdgeIntervalRow {
                t_s: now.as_secs_f64(),
                edge,
                calls_rps: o.total() as f64 / secs,
                answered_rps: o.answered() as f64 / secs,
                errors: o.failed(),
                rejected: o.rejected,
                refused: mine.refused,
                retries: mine.retries,
                hedges: mine.hedges,
                try_timeouts: mine.try_timeouts,
                latency_p50_ms: p50,
                latency_p99_ms: p99,
                breaker_open: e.open.current().round() as u64,
                trigger,
            });
            e.latency.clear();
        }
        // With two regions or more the run's interval is its regions' added
        // up (one record per request, not two; the merge is exact).
        let pooled = &mut self.interval;
        for (region, t) in self.regions.iter_mut().enumerate() {
            let iv = &mut t.interval;
            let o = iv.outcomes;
            let (requests, answered) = (o.total(), o.answered());
            pooled.completions += answered;
            pooled.rejected += o.rejected;
            pooled.failed += o.failed();
            pooled.latency.merge(&iv.latency);
            let [p50, p99] = [0.5, 0.99].map(|q| iv.latency.quantile_ms(q));
            self.region_rows.push(RegionIntervalRow {
                t_s: now.as_secs_f64(),
                region,
                requests_rps: requests as f64 / secs,
                throughput_rps: answered as f64 / secs,
                availability: if requests == 0 {
                    f64::NAN
                } else {
                    answered as f64 / requests as f64
                },
                errors: o.failed(),
                rejected: o.rejected,
                failovers: iv.failovers,
                latency_p50_ms: p50,
                latency_p99_ms: p99,
                trigger,
            });
            iv.outcomes = Outcomes::default();
            iv.failovers = 0;
            iv.latency.clear();
        }
        let iv = &mut self.interval;
        self.rows.push(IntervalRow {
            t_s: now.as_secs_f64(),
            arrivals_rps: iv.arrivals as f64 / secs,
            throughput_rps: iv.completions as f64 / secs,
            latency_p99_ms: iv.latency.quantile_ms(0.99),
            errors: iv.failed,
            rejected: iv.rejected,
            replicas: self.instances.current().round() as u64,
            cpu_util: if capacity > 0.0 {
                computing / capacity
            } else {
                f64::NAN
            },
            cache_hit_ratio: 0.0,
            stale_read_ratio: f64::NAN,
            breaker_open: self.open_breakers.current().round() as u64,
            healthy_regions,
            cost_usd_cum: self.cost_rate_all.integral_secs(now) + self.usage_usd_all,
            retries: iv.retries,
            wasted_work_s: iv.wasted_ns as f64 / 1e9,
            trigger,
        });
        iv.start = now;
        iv.arrivals = 0;
        iv.completions = 0;
        iv.failed = 0;
        iv.rejected = 0;
        iv.retries = 0;
        iv.wasted_ns = 0;
        iv.latency.clear();
        trigger
    }

    /// The replication's report; `stale_read_ratio` is the data tier's
    /// (`None` without a datastore), for the SLO's freshness objective.
    pub(super) fn finish(
        mut self,
        plan: &Plan,
        replication: u32,
        peak_in_flight: u64,
        stale_read_ratio: Option<f64>,
    ) -> RunOutput {
        let measured = plan.run.measured();
        let f = self.frozen.unwrap_or(Frozen {
            cpu_util: f64::NAN,
            replicas_mean: f64::NAN,
            replicas_max: 0.0,
            breaker_open_s: 0.0,
            instance_cost_usd: 0.0,
            data_usd: 0.0,
            egress_usd: 0.0,
        });
        let raw_cost_usd = f.instance_cost_usd + f.data_usd + f.egress_usd;
        let per_month = |usd: f64| money(usd / measured.as_secs_f64() * HOURS_PER_MONTH * 3600.0);
        let cost_per_month_usd = per_month(raw_cost_usd);
        let cost_usd = money(raw_cost_usd);
        let bill = self.bill(plan, &per_month);
        let q = |p: f64| {
            if self.latency.count() == 0 {
                f64::NAN
            } else {
                self.latency.quantile_ns(p) as f64
            }
        };
        let availability = if self.requests == 0 {
            f64::NAN
        } else {
            (self.outcomes.ok + self.outcomes.degraded) as f64 / self.requests as f64
        };
        let sessions = self.sessions.map(|t| {
            let (w, l) = (t.whole, t.long);
            SessionMetrics {
                sessions: t.ended,
                abandoned: t.abandoned,
                weight: w.count as f64 + l.weight,
                answered: w.answered as f64 + l.answered,
                given_up: w.abandoned as f64 + l.abandoned,
                requests: w.requests as f64 + l.requests,
                duration_s: (w.duration_ns as f64 + l.duration_ns) / 1e9,
            }
        });
        let session_availability = sessions.map_or(f64::NAN, |s| s.availability());
        let regions: Vec<RegionRow> = std::mem::take(&mut self.regions)
            .into_iter()
            .zip(&plan.network.regions)
            .map(|(t, p)| t.measured.row(&p.name))
            .collect();
        let worst_region = plan
            .slo
            .filter(|s| s.per_region)
            .map(|_| WorstRegion::of(&regions));
        let slo_met = plan.slo.is_none_or(|slo| {
            // Every region meeting an objective means every client pooled
            // does too (a mixture's quantile is at most its worst part's,
            // its availability at least): the worst region alone decides.
            let (p50, p99, p999, answered) = match worst_region {
                Some(w) => (w.p50_ns, w.p99_ns, w.p999_ns, w.availability),
                None => (q(0.5), q(0.99), q(0.999), availability),
            };
            slo.met(
                p50,
                p99,
                p999,
                answered,
                cost_per_month_usd,
                session_availability,
            ) && slo.fresh_enough(stale_read_ratio)
        });
        // The heavy-traffic approximation is of queues fed by open
        // arrivals. A closed population pulls a long queue back as its
        // users stop thinking (at a rate of one over the think time, and
        // through its other stations), which the approximation does not
        // see: it would name relaxation times tens of times too long. A
        // closed workload is judged by its replications' batch means alone
        // (and with no service stations, no shard or pool ones are added).
        // So are sessions, whose later requests wait for the answers too.
        let closed = matches!(plan.workload.arrivals, ArrivalPlan::Closed { .. })
            || plan.workload.session.is_some();
        let measured_stations = self.triggers.is_empty() && !closed;
        let mut stations = Vec::new();
        // The measured window's counts: from the warm-up end to the end of
        // arrivals.
        // Each deployment's measured window: its counts from the warm-up
        // end to the end of arrivals, and its tries' latencies (every closed
        // interval's, and the open one's if arrivals never ended).
        let open = self.frozen_services.is_empty() && self.measuring;
        let counted: Vec<Counts> = (0..self.deployments.len())
            .map(|d| self.marks[d].end.unwrap_or_else(|| self.counts(d)) - self.marks[d].warmup)
            .collect();
        let latencies: Vec<LatencyHistogram> = self
            .latencies
            .into_iter()
            .zip(&self.deployments)
            .map(|(mut l, s)| {
                if open {
                    l.measured.merge(&s.latency);
                }
                l.measured
            })
            .collect();
        let unmeasured = FrozenService {
            areas: Areas::default(),
            replicas_mean: f64::NAN,
            replicas_max: 0.0,
        };
        let n_regions = self.region_count;
        let services = plan
            .services
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let range = deployments_of(i, n_regions);
                let c = counted[range.clone()]
                    .iter()
                    .fold(Counts::default(), |a, &b| a + b);
                let mut latency = LatencyHistogram::new();
                for l in &latencies[range] {
                    latency.merge(l);
                }
                let frozen = self.frozen_services.get(i).copied().unwrap_or(unmeasured);
                let areas = frozen.areas;
                // A service behind an adaptive concurrency limit (its own,
                // or the edge's on everything behind it) is no queue the
                // heavy-traffic approximation describes: the controller
                // holds it to a few requests past its workers (a feedback
                // loop, not a fixed bound), so it is not listed rather
                // than called unbounded.
                if measured_stations
                    && p.adaptive_concurrency.is_none()
                    && plan.edge_adaptive_concurrency.is_none()
                {
                    let station = |name: String, areas: Areas, c: Counts| StationLoad {
                        name,
                        workers: p.workers,
                        queue: p.queue,
                        max_wait_s: None,
                        // A thread-model caller's worker waits on other
                        // services too: its hold is not its work.
                        scv: if p.model == ConcurrencyModel::Threads && !p.steps.is_empty() {
                            1.0
                        } else {
                            p.work.scv()
                        },
                        held_s: areas.held,
                        capacity_s: areas.capacity,
                        requests: c.attempts,
                        shed: c.shed,
                    };
                    if n_regions < 2 {
                        stations.push(station(format!("service {}", p.name), areas, c));
                    } else {
                        // Each region's instances are a queue of their own,
                        // fed by their region's load: pooled, a hot region
                        // and an idle one would read as one lukewarm queue
                        // that relaxes far sooner than the hot one does.
                        for d in deployments_of(i, n_regions) {
                            if self.deployment_rows[d].is_none() {
                                continue;
                            }
                            let region = plan.network.name(RegionId((d % n_regions) as u8));
                            let areas = self
                                .frozen_deployments
                                .get(d)
                                .map_or(Areas::default(), |f| f.areas);
                            let name = format!("service {} in {region}", p.name);
                            stations.push(station(name, areas, counted[d]));
                        }
                    }
                }
                service_row(&p.name, c, latency, frozen)
            })
            .collect();
        // The deployments with a row (`deployment_rows`: with two regions or
        // more, each region a service runs in): the same figures of its
        // instances there, and their cost.
        let mut deployments = Vec::new();
        for (d, (c, latency)) in counted.into_iter().zip(latencies).enumerate() {
            if self.deployment_rows[d].is_none() {
                continue;
            }
            let (service, region) = (d / n_regions, RegionId((d % n_regions) as u8));
            let frozen = self
                .frozen_deployments
                .get(d)
                .copied()
                .unwrap_or(unmeasured);
            let usd_per_s = self.prices[service][region.index()];
            deployments.push(DeploymentRow {
                region: plan.network.name(region).to_owned(),
                stats: service_row(&plan.services[service].name, c, latency, frozen),
                instance_cost_per_month_usd: money(
                    frozen.replicas_mean * usd_per_s * 3600.0 * HOURS_PER_MONTH,
                ),
            });
        }
        // Each edge's measured window: its counts from the warm-up end to
        // the end of arrivals, and its calls' latencies (every closed
        // interval's, and the open one's if arrivals never ended).
        let edges = edge_names(plan)
            .zip(std::mem::take(&mut self.edges))
            .zip(std::mem::take(&mut self.edge_books))
            .map(|(((caller, callee), e), mut b)| {
                let c = b.at_end.unwrap_or(e.counts) - b.at_warmup;
                if open {
                    b.measured.merge(&e.latency);
                }
                EdgeRow {
                    caller: caller.to_owned(),
                    callee: callee.to_owned(),
                    calls: c.outcomes.total(),
                    ok: c.outcomes.ok,
                    degraded: c.outcomes.degraded,
                    errors: c.outcomes.errors,
                    timeouts: c.outcomes.timeouts,
                    shed: c.outcomes.shed,
                    rejected: c.outcomes.rejected,
                    refused: c.refused,
                    retries: c.retries,
                    hedges: c.hedges,
                    try_timeouts: c.try_timeouts,
                    latency: b.measured,
                    breaker_open_s: b.open_s,
                }
            })
            .collect();
        let mut latency_all = self.latency.clone();
        latency_all.merge(&self.latency_unanswered);
        RunOutput {
            audit: crate::report::Audit::default(),
            warmup_s: plan.run.warmup.as_secs_f64(),
            warmup_at_limit: false,
            // A run with a fault window, a flush or a surge is a designed
            // transient: its replications are the experiment's unit, and
            // longer ones would ask another question. No relaxation there.
            // So is a closed population that stages move.
            latency_batches: if self.triggers.is_empty() && !staged(plan) {
                self.batches.means_ms()
            } else {
                Vec::new()
            },
            latency_batch_s: self.batches.width().as_secs_f64(),
            stations,
            replication,
            metrics: RunMetrics {
                requests: self.requests,
                ok: self.outcomes.ok,
                degraded: self.outcomes.degraded,
                errors: self.outcomes.errors,
                rejected: self.outcomes.rejected,
                timeouts: self.outcomes.timeouts,
                shed: self.outcomes.shed,
                measured,
                latency: self.latency,
                latency_all,
                cpu_util_mean: f.cpu_util,
                replicas_mean: f.replicas_mean,
                replicas_max: f.replicas_max.round() as u64,
                cache_hit_ratio: 0.0,
                cache_tiers: Vec::new(),
                stale_read_ratio,
                shard_max_load_ratio: 0.0,
                breaker_open_s: f.breaker_open_s,
                failovers: self.failovers,
                retries: self.retries,
                hedges: self.hedges,
                cost_usd,
                cost_per_month_usd,
                instance_cost_per_month_usd: per_month(f.instance_cost_usd),
                data_cost_per_month_usd: per_month(f.data_usd),
                egress_cost_per_month_usd: per_month(f.egress_usd),
                slo_met,
                wasted_work_s: self.wasted_ns as f64 / 1e9,
                crashes: self.crashes,
                ejections: self.ejections,
                recovery: None,
                sessions,
                worst_region,
            },
            timeseries: self.rows,
            service_timeseries: self.service_rows,
            services,
            deployments,
            deployment_timeseries: self.deployment_series,
            edges,
            regions,
            region_timeseries: self.region_rows,
            edge_timeseries: self.edge_rows,
            shards: Vec::new(),
            shard_timeseries: Vec::new(),
            cache_timeseries: Vec::new(),
            store_failovers: Vec::new(),
            bill,
            peak_in_flight,
        }
    }

    /// The measured window's bill line by line (`bill.csv`; empty without
    /// `[costs]`); `per_month` scales a window's USD to a month.
    fn bill(&self, plan: &Plan, per_month: &dyn Fn(f64) -> f64) -> Vec<BillRow> {
        let Some(costs) = &plan.costs else {
            return Vec::new();
        };
        let measured_s = plan.run.measured().as_secs_f64();
        let region_name =
            |r: Option<RegionId>| r.map_or(GLOBAL_REGION, |r| plan.network.name(r)).to_owned();
        let mut bill = Vec::new();
        let mut line = |kind: BillKind, component: String, region: String, usd: f64| {
            bill.push(BillRow {
                kind,
                component,
                region,
                cost_usd: money(usd),
                cost_per_month_usd: per_month(usd),
            });
        };
        // Each deployment's instances: its price times its mean instance
        // count over the window (what `cost_rate` integrates).
        for (i, service) in plan.services.iter().enumerate() {
            for r in plan.network.region_ids().filter(|&r| service.runs_in(r)) {
                let mean = self
                    .frozen_deployments
                    .get(i * self.region_count + r.index())
                    .map_or(0.0, |f| f.replicas_mean);
                let usd = if mean.is_finite() {
                    mean * self.prices[i][r.index()] * measured_s
                } else {
                    0.0
                };
                line(
                    BillKind::Instances,
                    service.name.clone(),
                    region_name(Some(r)),
                    usd,
                );
            }
        }
        let tier_name = |store: usize, tier: usize| {
            let s = &plan.data.stores[store];
            format!("{}/{}", s.name, s.tiers[tier].name)
        };
        for item in &costs.data.fixed {
            let store = item.store.index();
            let component = match item.tier {
                None => plan.data.stores[store].name.clone(),
                Some(t) => tier_name(store, usize::from(t)),
            };
            line(
                item.kind,
                component,
                region_name(item.region),
                item.usd_per_s * measured_s,
            );
        }
        // Each priced tier's operations, copy by copy: every caller region
        // (a region's or an instance's copy), or the global one.
        for (store, s) in plan.data.stores.iter().enumerate() {
            for (tier, t) in s.tiers.iter().enumerate() {
                let priced = costs.data.lookup_usd[store][tier] > 0.0
                    || costs.data.write_usd[store][tier] > 0.0;
                if !priced {
                    continue;
                }
                let usage = &self.usage_by_tier[self.tier_base[store] + tier];
                let copies: Vec<Option<RegionId>> = if t.scope == Scope::Global {
                    vec![None]
                } else {
                    s.caller_regions.iter().copied().map(Some).collect()
                };
                for r in copies {
                    let usd = usage[r.map_or(self.region_count, RegionId::index)];
                    line(
                        BillKind::CacheOperations,
                        tier_name(store, tier),
                        region_name(r),
                        usd,
                    );
                }
            }
        }
        // Each region's egress, by the region that sent the bytes.
        for (kind, price, i) in [
            (
                BillKind::EgressInterRegion,
                costs.inter_region_usd_per_byte,
                0,
            ),
            (BillKind::EgressInternet, costs.internet_usd_per_byte, 1),
        ] {
            if price > 0.0 {
                for r in plan.network.region_ids() {
                    let usd = self.egress_by_region[r.index()][i];
                    line(kind, NETWORK.to_owned(), region_name(Some(r)), usd);
                }
            }
        }
        bill
    }
}

/// `bill.csv`'s `region` of a global cache tier.
const GLOBAL_REGION: &str = crate::plan::network::GLOBAL;

/// `bill.csv`'s `component` of egress.
const NETWORK: &str = "network";

/// The call edges of `plan` as `(caller, callee)` names, in `edges.csv`'s
/// order (the engine's edge index): the edge's calls to the entry services
/// (caller [`crate::plan::EDGE_CALLER`]), then each service's callees.
fn edge_names(plan: &Plan) -> impl Iterator<Item = (&str, &str)> {
    plan.call_edges()
        .map(|(caller, callee, _)| (caller, plan.services[callee.index()].name.as_str()))
}

/// The indices of service `i`'s deployments among `regions` regions (the
/// engine's layout, `service * regions + region`).
fn deployments_of(i: usize, regions: usize) -> std::ops::Range<usize> {
    i * regions..(i + 1) * regions
}

/// A service's (or a deployment's) time-series row of the interval ending
/// at `now`, `secs` long: its tries' counts `c` and latencies there, its
/// integrals' growth `delta` and its instances at the end; `index` names it
/// (in `services`, or in `deployments`).
#[allow(clippy::too_many_arguments)]
fn interval_row(
    now: Timestamp,
    index: usize,
    secs: f64,
    c: Counts,
    latency: &LatencyHistogram,
    delta: Areas,
    instances: f64,
    trigger: bool,
) -> ServiceIntervalRow {
    let [p50, p99] = [0.5, 0.99].map(|q| latency.quantile_ms(q));
    ServiceIntervalRow {
        t_s: now.as_secs_f64(),
        service: index,
        tries_rps: c.attempts as f64 / secs,
        errors: c.errors,
        shed: c.shed,
        concurrency_blocked: c.limits.blocked,
        concurrency_limit_mean: c.limit_mean(),
        latency_p50_ms: p50,
        latency_p99_ms: p99,
        utilization: delta.of_capacity(delta.held),
        cpu_util: delta.of_capacity(delta.computing),
        replicas: instances.round() as u64,
        wasted_work_s: c.wasted_ns as f64 / 1e9,
        trigger,
    }
}

/// A service's row (or a deployment's) of the measured window: its tries'
/// counts `c` and latencies, and its integrals and instances `frozen` at the
/// end of arrivals.
fn service_row(
    name: &str,
    c: Counts,
    latency: LatencyHistogram,
    frozen: FrozenService,
) -> ServiceRow {
    let FrozenService {
        areas,
        replicas_mean,
        replicas_max,
    } = frozen;
    ServiceRow {
        service: name.to_owned(),
        requests: c.attempts,
        errors: c.errors,
        utilization: areas.of_capacity(areas.held),
        cpu_util: areas.of_capacity(areas.computing),
        replicas_mean,
        replicas_max: replicas_max.round() as u64,
        shed: c.shed,
        concurrency_blocked: c.limits.blocked,
        concurrency_limit_mean: c.limit_mean(),
        wasted_work_s: c.wasted_ns as f64 / 1e9,
        latency,
    }
}

/// How requests ended, one count per [`Cause`] (an answer with a
/// fallback apart).
#[derive(Clone, Copy, Default)]
struct Outcomes {
    ok: u64,
    degraded: u64,
    errors: u64,
    rejected: u64,
    timeouts: u64,
    shed: u64,
}

impl std::ops::Sub for Outcomes {
    type Output = Outcomes;
    fn sub(self, o: Outcomes) -> Outcomes {
        Outcomes {
            ok: self.ok - o.ok,
            degraded: self.degraded - o.degraded,
            errors: self.errors - o.errors,
            rejected: self.rejected - o.rejected,
            timeouts: self.timeouts - o.timeouts,
            shed: self.shed - o.shed,
        }
    }
}

impl Outcomes {
    /// Requests counted, however they ended.
    fn total(&self) -> u64 {
        self.answered() + self.failed() + self.rejected
    }

    /// Answered, with or without a fallback.
    fn answered(&self) -> u64 {
        self.ok + self.degraded
    }

    /// Failed: errors, timeouts and sheds (`timeseries.csv`'s `errors`).
    fn failed(&self) -> u64 {
        self.errors + self.timeouts + self.shed
    }

    #[inline]
    fn count(&mut self, reply: Reply) {
        match reply.cause {
            Cause::Ok if reply.degraded => self.degraded += 1,
            Cause::Ok => self.ok += 1,
            Cause::Error => self.errors += 1,
            Cause::Shed => self.shed += 1,
            Cause::Timeout => self.timeouts += 1,
            Cause::Rejected => self.rejected += 1,
        }
    }
}

/// One client region's requests: those measured (`regions.csv`) and those
/// that ended in the current interval (`regions_timeseries.csv`).
#[derive(Clone, Default)]
struct RegionTally {
    measured: RegionCounts,
    interval: RegionCounts,
}

/// Some requests of one client region: how each ended, and how long its
/// answered ones took, as its clients saw it.
#[derive(Clone, Default)]
struct RegionCounts {
    outcomes: Outcomes,
    failovers: u64,
    latency: LatencyHistogram,
}

impl RegionCounts {
    #[inline]
    fn record(&mut self, reply: Reply, latency_ns: u64, failed_over: bool) {
        self.outcomes.count(reply);
        if reply.cause == Cause::Ok {
            self.latency.record(latency_ns);
        }
        self.failovers += u64::from(failed_over);
    }

    fn row(self, region: &str) -> RegionRow {
        let o = self.outcomes;
        RegionRow {
            region: region.to_owned(),
            requests: o.total(),
            ok: o.ok,
            degraded: o.degraded,
            errors: o.errors,
            rejected: o.rejected,
            timeouts: o.timeouts,
            shed: o.shed,
            failovers: self.failovers,
            latency: self.latency,
        }
    }
}

/// The batch means that measure how many relaxation times a replication
/// spans ([`headroom_sim::stats::relaxation`]): the mean latency of the
/// answered requests that arrived in each of [`Batches::COUNT`] equal
/// batches of the measured window. Every measured request passes here, so
/// a batch is found by a multiply instead of a division (batch `b` starts
/// within a nanosecond of `b / COUNT` of the window).
pub(super) struct Batches {
    start: Timestamp,
    width_ns: u64,
    /// `2^64 COUNT / window`, saturated: `offset * scale >> 64` is the batch.
    scale: u64,
    /// Per batch: latency sum (ns) and count.
    sums: Box<[(f64, u64); Batches::COUNT]>,
}

impl Batches {
    /// Batches of the measured window.
    pub const COUNT: usize = crate::report::LATENCY_BATCHES;

    fn new(start: Timestamp, window: Span) -> Self {
        let window_ns = window.as_nanos().max(1);
        let scale = ((Self::COUNT as u128) << 64) / u128::from(window_ns);
        Batches {
            start,
            width_ns: window_ns.div_ceil(Self::COUNT as u64),
            scale: u64::try_from(scale).unwrap_or(u64::MAX),
            sums: Box::new([(0.0, 0); Self::COUNT]),
        }
    }

    #[inline]
    fn record(&mut self, arrival: Timestamp, latency_ns: u64) {
        let offset = arrival.as_nanos().saturating_sub(self.start.as_nanos());
        let b = ((u128::from(offset) * u128::from(self.scale)) >> 64) as usize;
        let (sum, count) = &mut self.sums[b.min(Self::COUNT - 1)];
        *sum += latency_ns as f64;
        *count += 1;
    }

    /// Length of one batch.
    fn width(&self) -> Span {
        Span::from_nanos(self.width_ns)
    }

    /// Mean latency per batch, ms; NaN for an empty batch.
    fn means_ms(&self) -> Vec<f64> {
        self.sums
            .iter()
            .map(|&(sum, n)| {
                if n > 0 {
                    sum / n as f64 / 1e6
                } else {
                    f64::NAN
                }
            })
            .collect()
    }
}

/// A series MSER-5 reads with `warmup = "auto"`: the mean of a value by
/// time, in [`Transient::BUCKETS`] equal buckets over the arrival window
/// (bounded memory at any run length). The statistics' is the latency of
/// answered requests by arrival time; the data tier keeps one for each
/// cache, of its hits (1) and misses (0) by lookup time: its hit ratio.
pub(super) struct Transient {
    width_ns: u64,
    sum: Vec<f64>,
    count: Vec<u64>,
}

impl Transient {
    /// Buckets of the series: 200 MSER-5 batches, a resolution of 0.1 % of
    /// the run.
    pub const BUCKETS: usize = 1000;

    pub(super) fn new(duration: Span) -> Self {
        Transient {
            width_ns: duration.as_nanos().div_ceil(Self::BUCKETS as u64).max(1),
            sum: vec![0.0; Self::BUCKETS],
            count: vec![0; Self::BUCKETS],
        }
    }

    /// Adds `value` at `at` (after the arrival window: to the last bucket).
    #[inline]
    pub(super) fn add(&mut self, at: Timestamp, value: f64) {
        let b = ((at.as_nanos() / self.width_ns) as usize).min(Self::BUCKETS - 1);
        self.sum[b] += value;
        self.count[b] += 1;
    }

    /// Width of one bucket.
    pub fn width(&self) -> Span {
        Span::from_nanos(self.width_ns)
    }

    /// The mean per bucket; an empty bucket repeats the last mean (the
    /// first non-empty one for leading empties). Empty if nothing was added.
    pub fn series(&self) -> Vec<f64> {
        let Some(first) = self.count.iter().position(|&n| n > 0) else {
            return Vec::new();
        };
        let mut last = self.sum[first] / self.count[first] as f64;
        self.sum
            .iter()
            .zip(&self.count)
            .map(|(&sum, &n)| {
                if n > 0 {
                    last = sum / n as f64;
                }
                last
            })
            .collect()
    }
}

/// A closed workload whose population changes over the run.
fn staged(plan: &Plan) -> bool {
    matches!(&plan.workload.arrivals, ArrivalPlan::Closed { stages, .. } if !stages.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_areas_are_the_exact_integrals_of_the_steps() {
        let t = Timestamp::from_nanos;
        let mut w = Workers::default();
        // held: 0 -> 2 at 1 s, -> 1 at 3 s, -> 4 at 4 s;
        // computing: 0 -> 1 at 1 s, -> 0 at 3 s.
        w.add(t(1_000_000_000), 2, 1);
        w.add(t(3_000_000_000), -1, -1);
        w.add(t(4_000_000_000), 3, 0);
        // At 6 s: held 2*2 + 1*1 + 4*2 = 13 worker-s; computing 1*2 = 2.
        assert_eq!(w.areas_secs(t(6_000_000_000)), (13.0, 2.0));
        assert_eq!(w.areas_secs(t(4_000_000_000)), (5.0, 2.0));
        // Nanosecond steps over ten simulated days stay exact.
        let mut w = Workers::default();
        let day = 86_400 * 1_000_000_000u64;
        w.add(t(1), 1, 0);
        w.add(t(10 * day - 1), -1, 0);
        assert_eq!(w.areas_secs(t(10 * day)).0, (10 * day - 2) as f64 / 1e9);
    }
}
