//! Checked `[[services]]`: instances, work, the call graph (resolved to ids,
//! checked for unknown services and cycles), scaling and load balancing.

use std::path::Path;

use headroom_policy::Policies;
use headroom_policy::autoscale::{AutoscalerSpec, MetricSpec};
use headroom_policy::balance::BalancerSpec;
use headroom_policy::concurrency::AdaptiveConcurrencySpec;
use headroom_policy::tables::EdgePolicy;
use headroom_sim::dist::Dist;

use super::network::NetworkPlan;
use super::{EDGE_CALLER, Invalid, RegionId, ServiceId, dist, dist_or_span, limits, valid_name};
use crate::scenario::{ConcurrencyModel, QueueCapacity, Scenario, ServiceConfig, StepConfig};

/// The pods metric name the simulator reports: requests per second per
/// instance (`target_rps`).
pub const RPS_METRIC: &str = "rps";

/// Checked service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServicePlan {
    /// Name.
    pub name: String,
    /// Regions the service runs in, in `[[regions]]` order.
    pub regions: Vec<RegionId>,
    /// Workers per instance.
    pub workers: u32,
    /// Waiting room per instance; `None` = unbounded.
    pub queue: Option<u64>,
    /// Concurrency model.
    pub model: ConcurrencyModel,
    /// Local work distribution.
    pub work: Dist,
    /// Steps after the local work, in order.
    pub steps: Vec<StepPlan>,
    /// Distinct services this one calls; a [`CallTarget::edge`] indexes it.
    pub callees: Vec<ServiceId>,
    /// The mesh policy of each edge to `callees[i]`.
    pub edges: Vec<EdgePolicy>,
    /// Instance count per region.
    pub scaling: Scaling,
    /// Time from creation to ready of instances created during the run.
    pub boot_time: Dist,
    /// Load balancing of calls to this service (per region).
    pub balancer: BalancerSpec,
    /// `instance.type`, if given.
    pub instance_type: Option<String>,
    /// The gradient controller in front of each instance, if any.
    pub adaptive_concurrency: Option<AdaptiveConcurrencySpec>,
}

impl ServicePlan {
    /// Whether the service runs in `region`.
    pub fn runs_in(&self, region: RegionId) -> bool {
        self.regions.contains(&region)
    }
}

/// One step of a service's calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepPlan {
    /// Call one service and wait.
    Call(CallTarget),
    /// Call these at once and wait for all.
    Parallel(Vec<CallTarget>),
    /// Read or write the request's key in a datastore and wait
    /// (`engine::data`).
    Data(super::data::StoreId),
}

impl StepPlan {
    /// The calls of the step.
    pub fn targets(&self) -> &[CallTarget] {
        match self {
            StepPlan::Call(t) => std::slice::from_ref(t),
            StepPlan::Parallel(ts) => ts,
            StepPlan::Data(_) => &[],
        }
    }
}

/// A call from a service to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallTarget {
    /// The callee.
    pub service: ServiceId,
    /// Index into the caller's `callees` / `edges`.
    pub edge: u16,
}

/// How many instances a service runs per region.
#[derive(Clone, Debug, PartialEq)]
pub enum Scaling {
    /// This many, always (crashed instances are replaced).
    Fixed(u32),
    /// As the named autoscaler decides, per region.
    Autoscaled {
        /// The `[policy.autoscaler.NAME]`.
        name: String,
        /// Its checked spec.
        spec: AutoscalerSpec,
    },
}

impl Scaling {
    /// Instances per region at the start.
    pub fn initial(&self) -> u32 {
        match self {
            Scaling::Fixed(n) => *n,
            Scaling::Autoscaled { spec, .. } => spec.min_replicas(),
        }
    }
}

pub(super) fn plan(
    scenario: &Scenario,
    network: &NetworkPlan,
    policies: &Policies,
    base_dir: &Path,
) -> Result<Vec<ServicePlan>, Invalid> {
    let configs = &scenario.services;
    if configs.is_empty() {
        return Err(Invalid::new(
            "services",
            "none",
            "at least one [[services]] table; the first is the default entry point",
        ));
    }
    if configs.len() > limits::MAX_SERVICES {
        return Err(Invalid::new(
            "services",
            format!("{} services", configs.len()),
            format!("at most {} services", limits::MAX_SERVICES),
        ));
    }
    for (i, s) in configs.iter().enumerate() {
        let at = if s.name.is_empty() {
            i.to_string()
        } else {
            s.name.clone()
        };
        if !valid_name(&s.name) {
            return Err(Invalid::new(
                format!("services.{at}.name"),
                format!("{:?}", s.name),
                "a non-empty name of letters, digits, '-' and '_'",
            ));
        }
        if s.name == EDGE_CALLER {
            return Err(Invalid::new(
                format!("services.{at}.name"),
                format!("{:?}", s.name),
                format!(
                    "another name: {EDGE_CALLER:?} names the edge in `[policy.mesh.edges]` keys"
                ),
            ));
        }
        if configs[..i].iter().any(|o| o.name == s.name) {
            return Err(Invalid::new(
                format!("services.{at}.name"),
                format!("{:?}", s.name),
                "a name no other service has",
            ));
        }
    }
    let id_of = |name: &str| {
        configs
            .iter()
            .position(|s| s.name == name)
            .map(|i| ServiceId(i as u16))
    };
    let mut plans = Vec::with_capacity(configs.len());
    for s in configs {
        plans.push(service(
            s,
            network,
            policies,
            base_dir,
            &id_of,
            configs,
            &scenario.datastores,
        )?);
    }
    check_acyclic(&plans)?;
    Ok(plans)
}

fn service(
    s: &ServiceConfig,
    network: &NetworkPlan,
    policies: &Policies,
    base_dir: &Path,
    id_of: &dyn Fn(&str) -> Option<ServiceId>,
    configs: &[ServiceConfig],
    stores: &[crate::scenario::DatastoreConfig],
) -> Result<ServicePlan, Invalid> {
    let key = |k: &str| format!("services.{}.{k}", s.name);
    let regions = if s.regions.is_empty() {
        network.region_ids().collect()
    } else {
        let mut ids: Vec<RegionId> = Vec::with_capacity(s.regions.len());
        for (i, name) in s.regions.iter().enumerate() {
            let id = network.resolve(&key(&format!("regions.{i}")), name)?;
            if ids.contains(&id) {
                return Err(Invalid::new(
                    key(&format!("regions.{i}")),
                    format!("{name:?}"),
                    "a region not listed before",
                ));
            }
            ids.push(id);
        }
        ids.sort();
        ids
    };
    if !(1..=limits::MAX_WORKERS).contains(&s.instance.workers) {
        return Err(Invalid::new(
            key("instance.workers"),
            s.instance.workers,
            format!("an integer from 1 to {}", limits::MAX_WORKERS),
        ));
    }
    let queue = match s.instance.queue {
        QueueCapacity::Bounded(n) => Some(n),
        QueueCapacity::Unbounded => None,
    };
    let work = dist(&s.work, &key("work"), base_dir)?;
    let scaling = scaling(s, policies)?;
    let boot_time = dist_or_span(&s.boot_time, &key("boot_time"), base_dir)?;
    let (steps, callees) = steps(s, id_of, configs, stores)?;
    let edges = callees
        .iter()
        .map(|c| policies.edge(&s.name, &configs[c.index()].name).clone())
        .collect();
    let mut balancer = policies
        .load_balancer
        .clone()
        .unwrap_or_else(|| BalancerSpec::with_algorithm(Default::default()));
    if let Some(algorithm) = s.load_balancer {
        balancer.algorithm = algorithm;
    }
    let adaptive_concurrency = s
        .adaptive_concurrency
        .as_ref()
        .map(|name| super::named_concurrency(policies, &key("adaptive_concurrency"), name))
        .transpose()?;
    Ok(ServicePlan {
        name: s.name.clone(),
        regions,
        workers: s.instance.workers,
        queue,
        model: s.instance.model,
        work,
        steps,
        callees,
        edges,
        scaling,
        boot_time,
        balancer,
        instance_type: s.instance.kind.clone(),
        adaptive_concurrency,
    })
}

fn scaling(s: &ServiceConfig, policies: &Policies) -> Result<Scaling, Invalid> {
    let key = |k: &str| format!("services.{}.{k}", s.name);
    match (s.replicas, &s.autoscaler) {
        (Some(_), Some(_)) => Err(Invalid::new(
            key("autoscaler"),
            format!("{:?}", s.autoscaler.as_deref().unwrap_or_default()),
            "either `replicas` (a fixed count) or `autoscaler` (a policy name), not both",
        )),
        (None, None) => Err(Invalid::new(
            key("replicas"),
            "missing",
            "`replicas = N` (instances per region) or `autoscaler = \"NAME\"` (a [policy.autoscaler.NAME])",
        )),
        (Some(n), None) => {
            if !(1..=limits::MAX_REPLICAS).contains(&n) {
                return Err(Invalid::new(
                    key("replicas"),
                    n,
                    format!("an integer from 1 to {}", limits::MAX_REPLICAS),
                ));
            }
            Ok(Scaling::Fixed(n))
        }
        (None, Some(name)) => {
            let spec = policies.autoscalers.get(name).ok_or_else(|| {
                super::unknown_name(
                    &key("autoscaler"),
                    name,
                    "policy.autoscaler",
                    policies.autoscalers.keys(),
                )
            })?;
            if spec.max_replicas() > limits::MAX_REPLICAS {
                return Err(Invalid::new(
                    format!("policy.autoscaler.{name}.max_replicas"),
                    spec.max_replicas(),
                    format!(
                        "at most {} (instances per region the simulator balances over)",
                        limits::MAX_REPLICAS
                    ),
                ));
            }
            for (i, metric) in spec.metrics().iter().enumerate() {
                let supported = match metric {
                    MetricSpec::CpuUtilization { .. } => true,
                    MetricSpec::Pods { name, .. } => name == RPS_METRIC,
                    _ => false,
                };
                if !supported {
                    return Err(Invalid::new(
                        format!("policy.autoscaler.{name}.metrics.{i}"),
                        format!("{metric:?}"),
                        format!(
                            "a metric the simulator measures: CPU utilization (`target_cpu_utilization` or `{{ type = \"cpu\" }}`) or requests per second per instance (`target_rps` or `{{ type = \"pods\", name = \"{RPS_METRIC}\" }}`)"
                        ),
                    ));
                }
            }
            Ok(Scaling::Autoscaled {
                name: name.clone(),
                spec: spec.clone(),
            })
        }
    }
}

type Steps = (Vec<StepPlan>, Vec<ServiceId>);

fn steps(
    s: &ServiceConfig,
    id_of: &dyn Fn(&str) -> Option<ServiceId>,
    configs: &[ServiceConfig],
    scenario_stores: &[crate::scenario::DatastoreConfig],
) -> Result<Steps, Invalid> {
    let mut callees: Vec<ServiceId> = Vec::new();
    let mut target = |name: &str, key: String| -> Result<CallTarget, Invalid> {
        let service = id_of(name).ok_or_else(|| {
            super::unknown_name(&key, name, "[[services]]", configs.iter().map(|c| &c.name))
        })?;
        let edge = match callees.iter().position(|&c| c == service) {
            Some(i) => i,
            None => {
                callees.push(service);
                callees.len() - 1
            }
        };
        Ok(CallTarget {
            service,
            edge: edge as u16,
        })
    };
    let mut plans = Vec::with_capacity(s.calls.len());
    let mut total = 0usize;
    for (i, step) in s.calls.iter().enumerate() {
        let key = format!("services.{}.calls.{i}", s.name);
        if let Some(store) = &step.data {
            if step.service.is_some() || step.parallel.is_some() {
                return Err(Invalid::new(
                    key,
                    "a step",
                    "exactly one of `service = \"x\"`, `parallel = [ ... ]` or `data = \"store\"`",
                ));
            }
            let id = scenario_stores
                .iter()
                .position(|d| d.name == *store)
                .ok_or_else(|| {
                    super::unknown_name(
                        &format!("{key}.data"),
                        store,
                        "[[datastores]]",
                        scenario_stores.iter().map(|d| &d.name),
                    )
                })?;
            plans.push(StepPlan::Data(super::data::StoreId(id as u16)));
            total += 1;
            continue;
        }
        let plan = match (&step.service, &step.parallel) {
            (Some(name), None) => StepPlan::Call(target(name, format!("{key}.service"))?),
            (None, Some(branches)) => {
                if branches.is_empty() {
                    return Err(Invalid::new(
                        format!("{key}.parallel"),
                        "[]",
                        "a non-empty list of `{ service = \"x\" }`",
                    ));
                }
                let mut targets = Vec::with_capacity(branches.len());
                for (j, b) in branches.iter().enumerate() {
                    let bkey = format!("{key}.parallel.{j}");
                    match b {
                        StepConfig {
                            service: Some(name),
                            parallel: None,
                            data: None,
                        } => targets.push(target(name, format!("{bkey}.service"))?),
                        _ => {
                            let what = match b {
                                StepConfig {
                                    data: Some(store),
                                    service: None,
                                    parallel: None,
                                } => format!("a data step (`data = {store:?}`)"),
                                StepConfig {
                                    parallel: Some(_),
                                    service: None,
                                    data: None,
                                } => "a nested parallel step".to_owned(),
                                _ => "a step with more than one of `service`, `parallel`, `data`"
                                    .to_owned(),
                            };
                            return Err(Invalid::new(
                                bkey,
                                what,
                                "`{ service = \"x\" }`: a branch of a parallel step calls one service (put a store's read in a step of its own, or in the called service's `calls`)",
                            ));
                        }
                    }
                }
                StepPlan::Parallel(targets)
            }
            _ => {
                return Err(Invalid::new(
                    key,
                    "a step",
                    "exactly one of `service = \"x\"`, `parallel = [ { service = \"x\" }, ... ]` or `data = \"store\"`",
                ));
            }
        };
        total += plan.targets().len();
        plans.push(plan);
    }
    if total > limits::MAX_CALLS {
        return Err(Invalid::new(
            format!("services.{}.calls", s.name),
            format!("{total} calls"),
            format!("at most {} calls per request", limits::MAX_CALLS),
        ));
    }
    Ok((plans, callees))
}

/// Rejects a call graph with a cycle, naming it (`a -> b -> a`).
fn check_acyclic(services: &[ServicePlan]) -> Result<(), Invalid> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        i: usize,
        services: &[ServicePlan],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[i] = Mark::OnPath;
        path.push(i);
        for callee in &services[i].callees {
            let j = callee.index();
            match marks[j] {
                Mark::OnPath => {
                    let start = path.iter().position(|&p| p == j).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(j);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(j, services, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[i] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; services.len()];
    for i in 0..services.len() {
        if marks[i] == Mark::New {
            let mut path = Vec::new();
            if let Some(cycle) = visit(i, services, &mut marks, &mut path) {
                let names: Vec<&str> = cycle.iter().map(|&k| services[k].name.as_str()).collect();
                return Err(Invalid::new(
                    format!("services.{}.calls", names[names.len() - 2]),
                    format!("a cycle {}", names.join(" -> ")),
                    "a call graph without cycles (a request must end): remove one of these calls",
                ));
            }
        }
    }
    Ok(())
}
