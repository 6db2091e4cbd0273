//! The checked model: a [`Scenario`] validated once into what the engine runs.
//!
//! Every range is enforced here, and every violation names the key (a dotted,
//! name-addressed path such as `services.api.instance.workers`), the value
//! and what is accepted. Names are resolved into dense ids ([`ServiceId`],
//! [`RegionId`]) so the engine indexes arrays and never looks a name up. The
//! engine never re-checks.
//!
//! One module per concern, mirroring [`crate::scenario`]: [`run`],
//! [`workload`], [`network`], [`service`], [`faults`], [`costs`], [`recovery`].

pub mod costs;
pub mod data;
pub mod deadlines;
pub mod faults;
pub mod network;
pub mod recovery;
pub mod run;
pub mod service;
pub mod trace;
pub mod workload;

use std::path::{Path, PathBuf};

use headroom_policy::Policies;
use headroom_policy::concurrency::AdaptiveConcurrencySpec;
use headroom_policy::ratelimit::RateLimitPolicy;
use headroom_sim::Span;
use headroom_sim::dist::{Dist, DistError};

use crate::scenario::{DistConfig, DistOrSpan, Scenario};

pub use costs::{CostPlan, SloPlan};
pub use data::{DataPlan, StoreId, StorePlan, TierPlan};
pub use faults::{FaultPlan, Window};
pub use network::{NetworkPlan, RegionPlan};
pub use recovery::{RecoveryPlan, Trigger};
pub use run::RunPlan;
pub use service::{CallTarget, Scaling, ServicePlan, StepPlan};
pub use workload::{ArrivalPlan, PopularityPlan, SessionLengthPlan, SessionPlan, WorkloadPlan};

/// Upper bounds that keep a run's memory and time finite.
pub mod limits {
    /// Replications per run.
    pub const MAX_REPLICATIONS: u32 = 100_000;
    /// `timeseries.csv` rows per replication.
    pub const MAX_INTERVALS: u64 = 1_000_000;
    /// Workers per instance.
    pub const MAX_WORKERS: u32 = 1_000_000;
    /// Instances per service and region (the load balancer's endpoint limit).
    pub const MAX_REPLICAS: u32 = headroom_policy::balance::MAX_ENDPOINTS as u32;
    /// Requests in flight at once.
    pub const MAX_IN_FLIGHT: u64 = 100_000_000;
    /// Arrival rate, requests per second (one per nanosecond).
    pub const MAX_RATE: f64 = 1e9;
    /// Values in an empirical distribution file.
    pub const MAX_EMPIRICAL_VALUES: usize = 10_000_000;
    /// Services in a scenario.
    pub const MAX_SERVICES: usize = 1024;
    /// Steps in one service's `calls` (a parallel step counts its branches).
    pub const MAX_CALLS: usize = 64;
    /// Regions (the failover's priority limit).
    pub const MAX_REGIONS: usize = headroom_policy::health::MAX_PRIORITIES;
    /// Distinct clients.
    pub const MAX_CLIENTS: u64 = 1_000_000_000;
    /// Users of a closed workload.
    pub const MAX_USERS: u64 = 10_000_000;
    /// Most requests in a session (`workload.session.requests`).
    pub const MAX_SESSION_REQUESTS: u32 = 1_000_000;
    /// MMPP states.
    pub const MAX_MMPP_STATES: usize = 64;
    /// Requests a cache warm start replays (`run.cache_warm_start` times
    /// the mean arrival rate): a few minutes of CPU at most.
    pub const MAX_WARM_START_REQUESTS: f64 = 1e10;
    /// Surges, and faults, per scenario.
    pub const MAX_WINDOWS: usize = 1024;
}

/// A value outside its accepted range.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    /// Dotted, name-addressed key.
    pub key: String,
    /// The rejected value.
    pub value: String,
    /// What is accepted.
    pub expected: String,
    /// Another file the error is in (an empirical distribution), if not the
    /// scenario itself.
    pub file: Option<PathBuf>,
    /// 1-based line in `file`, when known.
    pub line: Option<u32>,
    /// For a trace that could not be read, the trace reader's own message
    /// (see [`crate::ScenarioError::Trace`]).
    pub trace: Option<Box<str>>,
}

impl Invalid {
    pub(crate) fn new(
        key: impl Into<String>,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Invalid {
            key: key.into(),
            value: value.to_string(),
            expected: expected.into(),
            file: None,
            line: None,
            trace: None,
        }
    }

    /// `` `key` = value: expected … ``
    pub fn message(&self) -> String {
        format!(
            "`{}` = {}: expected {}",
            self.key, self.value, self.expected
        )
    }
}

impl From<headroom_policy::ConfigError> for Invalid {
    fn from(e: headroom_policy::ConfigError) -> Self {
        Invalid::new(e.key(), e.value(), e.expected())
    }
}

/// A dense service index (position in `[[services]]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceId(pub u16);

impl ServiceId {
    /// As an array index.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A dense region index (position in `[[regions]]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionId(pub u8);

impl RegionId {
    /// As an array index.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// The caller name of the edge in `[policy.mesh.edges]` keys
/// (`"edge->api"`); no service may take it.
pub const EDGE_CALLER: &str = "edge";

/// The checked model of one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Run control.
    pub run: RunPlan,
    /// Traffic at the edge.
    pub workload: WorkloadPlan,
    /// Regions and the round-trip times between them.
    pub network: NetworkPlan,
    /// Services, in `[[services]]` order (index = [`ServiceId`]).
    pub services: Vec<ServicePlan>,
    /// The edge's rate limit, if any.
    pub edge_rate_limit: Option<RateLimitPolicy>,
    /// The gradient controller at each region's edge, if any.
    pub edge_adaptive_concurrency: Option<AdaptiveConcurrencySpec>,
    /// Keys, datastores, cache tiers and the edge cache.
    pub data: DataPlan,
    /// The checked `[policy]` tables.
    pub policies: Policies,
    /// Injected failures.
    pub faults: Vec<FaultPlan>,
    /// Prices; `None` without `[costs]` (every cost is then 0).
    pub costs: Option<CostPlan>,
    /// Objectives; `None` without `[slo]` (`slo_met` is then 0).
    pub slo: Option<SloPlan>,
    /// How recovery after each trigger is measured, and the triggers.
    pub recovery: RecoveryPlan,
}

impl Plan {
    /// Validates `scenario`; relative file paths inside it are resolved
    /// against `base_dir` (the scenario file's folder).
    pub fn new(scenario: &Scenario, base_dir: &Path) -> Result<Plan, Invalid> {
        let run = run::plan(&scenario.run)?;
        // A sweep's `replications` replaces `run.replications` in every
        // point: checked here, where every range is, and located at its key.
        if let Some(r) = scenario.sweep.as_ref().and_then(|s| s.replications) {
            run::replications("sweep.replications", r)?;
        }
        let network = network::plan(scenario)?;
        let policies = scenario.policy.validate().map_err(Invalid::from)?;
        let services = service::plan(scenario, &network, &policies, base_dir)?;
        let workload = workload::plan(scenario, &network, &services, &policies, base_dir)?;
        check_mesh_edges(&policies, &services, &workload)?;
        let edge_rate_limit = match scenario.edge.as_ref().and_then(|e| e.rate_limit.as_ref()) {
            None => None,
            Some(name) => Some(policies.rate_limits.get(name).cloned().ok_or_else(|| {
                unknown_name(
                    "edge.rate_limit",
                    name,
                    "policy.rate_limit",
                    policies.rate_limits.keys(),
                )
            })?),
        };
        let edge_adaptive_concurrency = scenario
            .edge
            .as_ref()
            .and_then(|e| e.adaptive_concurrency.as_ref())
            .map(|name| named_concurrency(&policies, "edge.adaptive_concurrency", name))
            .transpose()?;
        let data = data::plan(scenario, &network, &services, &policies, base_dir)?;
        let faults = faults::plan(scenario, &network, &services, &run, base_dir)?;
        let costs = costs::plan(scenario, &network, &services, &data)?;
        let slo = costs::slo_plan(scenario)?;
        let recovery = recovery::plan(scenario, &run, &workload, &faults, &services)?;
        run::check_warm_start(&run, &workload, &data)?;
        Ok(Plan {
            run,
            workload,
            network,
            services,
            edge_rate_limit,
            edge_adaptive_concurrency,
            data,
            policies,
            faults,
            costs,
            slo,
            recovery,
        })
    }

    /// The service named `name`.
    pub fn service_id(&self, name: &str) -> Option<ServiceId> {
        self.services
            .iter()
            .position(|s| s.name == name)
            .map(|i| ServiceId(i as u16))
    }

    /// Every call edge as `(caller, callee, its mesh policy)`, in
    /// `edges.csv`'s order: the edge's calls to the entry services first
    /// (caller [`EDGE_CALLER`]), in entry order, then each service's
    /// callees, services in `[[services]]` order.
    pub fn call_edges(
        &self,
    ) -> impl Iterator<Item = (&str, ServiceId, &headroom_policy::tables::EdgePolicy)> {
        let entries = self
            .workload
            .entries
            .iter()
            .map(|e| (EDGE_CALLER, e.service, &e.policy));
        let calls = self.services.iter().flat_map(|s| {
            s.callees
                .iter()
                .zip(&s.edges)
                .map(move |(&c, p)| (s.name.as_str(), c, p))
        });
        entries.chain(calls)
    }

    /// The times on a request's path (local work, shard reads and writes,
    /// tier lookups, connects, latency faults, round trips, the connect
    /// timeout) whose mean is longer than the whole run, longest first, each
    /// with the scenario key that sets it and its mean in nanoseconds: what
    /// keeps a run from draining ([`crate::RunError::Undrained`]), usually a
    /// unit slip.
    pub fn times_longer_than_run(&self) -> Vec<(String, f64)> {
        let mut times: Vec<(String, f64)> = Vec::new();
        for s in &self.services {
            times.push((format!("services.{}.work", s.name), s.work.mean_ns()));
        }
        for store in &self.data.stores {
            let key = |k: &str| format!("datastores.{}.{k}", store.name);
            times.push((key("shard.read"), store.read.mean_ns()));
            times.push((key("shard.write"), store.write.mean_ns()));
            if let Some(pool) = &store.pool {
                times.push((
                    key("pool.connect_time"),
                    pool.connect_time.as_nanos() as f64,
                ));
            }
            for tier in &store.tiers {
                let latency = tier.latency.as_nanos() as f64;
                times.push((key(&format!("cache.{}.latency", tier.name)), latency));
            }
        }
        for (i, fault) in self.faults.iter().enumerate() {
            if let FaultPlan::Latency { add, .. } = fault {
                times.push((format!("faults.{i}.add"), add.mean_ns()));
            }
        }
        let (network, regions) = (&self.network, &self.network.regions);
        let rtt = |a: usize, b: usize| network.rtt(RegionId(a as u8), RegionId(b as u8));
        if !regions.is_empty() {
            let intra = rtt(0, 0).as_nanos() as f64;
            times.push(("network.intra_region_rtt".to_owned(), intra));
        }
        for (a, from) in regions.iter().enumerate() {
            for (b, to) in regions.iter().enumerate().skip(a + 1) {
                let key = format!("network.rtt.{}.{}", from.name, to.name);
                times.push((key, rtt(a, b).as_nanos() as f64));
            }
        }
        let timeout = network.connect_timeout.as_nanos() as f64;
        times.push(("network.connect_timeout".to_owned(), timeout));
        let run = self.run.duration.as_nanos() as f64;
        times.retain(|(_, mean)| *mean > run);
        // Stable: equal means keep the order above.
        times.sort_by(|a, b| b.1.total_cmp(&a.1));
        times
    }
}

/// Rejects a `[policy.mesh.edges."a->b"]` override for an edge that no
/// request takes (a typo would otherwise be silently ignored).
fn check_mesh_edges(
    policies: &Policies,
    services: &[ServicePlan],
    workload: &WorkloadPlan,
) -> Result<(), Invalid> {
    for (caller, callee) in policies.edges.keys() {
        let exists = if caller == EDGE_CALLER {
            workload
                .entries
                .iter()
                .any(|e| services[e.service.index()].name == *callee)
        } else {
            services.iter().any(|s| {
                s.name == *caller
                    && s.callees
                        .iter()
                        .any(|c| services[c.index()].name == *callee)
            })
        };
        if !exists {
            return Err(Invalid::new(
                format!("policy.mesh.edges.\"{caller}->{callee}\""),
                "an override",
                format!(
                    "an edge of the call graph: `{caller}` does not call `{callee}` (edges are \"caller->callee\" between services, or \"{EDGE_CALLER}->ENTRY\" for the edge's call to an entry service)"
                ),
            ));
        }
    }
    Ok(())
}

/// An error for a name that refers to nothing: lists what exists.
/// The `[policy.adaptive_concurrency.NAME]` that `key` names.
pub(crate) fn named_concurrency(
    policies: &Policies,
    key: &str,
    name: &str,
) -> Result<AdaptiveConcurrencySpec, Invalid> {
    policies
        .adaptive_concurrency
        .get(name)
        .copied()
        .ok_or_else(|| {
            unknown_name(
                key,
                name,
                "policy.adaptive_concurrency",
                policies.adaptive_concurrency.keys(),
            )
        })
}

pub(crate) fn unknown_name<'a>(
    key: &str,
    name: &str,
    what: &str,
    known: impl Iterator<Item = &'a String>,
) -> Invalid {
    let known: Vec<String> = known.map(|k| format!("{k:?}")).collect();
    let expected = if known.is_empty() {
        format!("the name of a `{what}` entry, but none is defined")
    } else {
        format!("the name of a `{what}` entry: {}", known.join(", "))
    };
    Invalid::new(key, format!("{name:?}"), expected)
}

/// Whether `name` is a valid component name: letters, digits, `-`, `_`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Builds a distribution, naming `table.param` in errors.
pub fn dist(config: &DistConfig, table: &str, base_dir: &Path) -> Result<Dist, Invalid> {
    let named = |e: DistError| Invalid::new(format!("{table}.{}", e.param), e.value, e.expected);
    match config {
        DistConfig::Exponential { mean } => Dist::exponential(*mean).map_err(named),
        DistConfig::Deterministic { mean } => Ok(Dist::deterministic(*mean)),
        DistConfig::Uniform { min, max } => Dist::uniform(*min, *max).map_err(named),
        DistConfig::Lognormal { mean, cv, p99 } => match (cv, p99) {
            (Some(cv), None) => Dist::lognormal_cv(*mean, *cv).map_err(named),
            (None, Some(p99)) => Dist::lognormal_p99(*mean, *p99).map_err(named),
            (Some(cv), Some(_)) => Err(Invalid::new(
                format!("{table}.cv"),
                cv,
                "either `cv` or `p99`, not both",
            )),
            (None, None) => Err(Invalid::new(
                format!("{table}.cv"),
                "missing",
                "`cv = F` (coefficient of variation) or `p99 = D` for a lognormal",
            )),
        },
        DistConfig::Pareto { mean, shape } => Dist::pareto(*mean, *shape).map_err(named),
        DistConfig::Empirical { path } => {
            let full = base_dir.join(path);
            let values = read_empirical(&full, &format!("{table}.path"))?;
            Dist::empirical(values).map_err(named)
        }
    }
}

/// A fixed duration or a distribution, as a distribution.
pub(crate) fn dist_or_span(
    config: &DistOrSpan,
    table: &str,
    base_dir: &Path,
) -> Result<Dist, Invalid> {
    match config {
        DistOrSpan::Fixed(span) => Ok(Dist::deterministic(*span)),
        DistOrSpan::Dist(d) => dist(d, table, base_dir),
    }
}

/// Reads an empirical distribution file: one duration string per line, `#`
/// comments and blank lines ignored.
fn read_empirical(path: &Path, key: &str) -> Result<Vec<Span>, Invalid> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Invalid::new(
            key,
            path.display(),
            format!("a readable file of duration strings, one per line ({e})"),
        )
    })?;
    let mut values = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let span = Span::parse(line).map_err(|_| Invalid {
            key: key.to_owned(),
            value: format!("{line:?}"),
            expected: headroom_policy::time::ParseSpanError::ACCEPTED.to_owned(),
            file: Some(path.to_owned()),
            line: u32::try_from(i + 1).ok(),
            trace: None,
        })?;
        if values.len() == limits::MAX_EMPIRICAL_VALUES {
            return Err(Invalid {
                key: key.to_owned(),
                value: format!("more than {} values", limits::MAX_EMPIRICAL_VALUES),
                expected: format!("at most {} values", limits::MAX_EMPIRICAL_VALUES),
                file: Some(path.to_owned()),
                line: u32::try_from(i + 1).ok(),
                trace: None,
            });
        }
        values.push(span);
    }
    Ok(values)
}
