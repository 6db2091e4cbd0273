//! Where a try goes: regions and priority failover, load balancing within a
//! region, active health checks, outlier ejection, and the global failover
//! of clients to an edge region.
//!
//! Two layers, as in production meshes:
//!
//! - **Calls** (edge to entry service, service to service): a caller in
//!   region `r` prefers the callee's instances in `r` (or, if the callee does
//!   not run there, its nearest region). With `[policy.failover]` the
//!   callee's other regions follow as lower priorities (the failover `order`,
//!   then round-trip time) and Envoy's priority loads — from each region's
//!   healthy and total instance counts, with the overprovisioning factor and
//!   panic threshold — spread traffic across them; without it, calls stay in
//!   the preferred region. Within the chosen region the deployment's
//!   balancer picks an instance. Instance health comes from the
//!   `[policy.load_balancer]` health checks and outlier detection; without
//!   them the balancer only learns of instances that are created or removed.
//! - **Clients**: with `[policy.failover] health_check`, each region's edge is
//!   checked, and clients whose region's edge is unhealthy are sent to the
//!   next healthy region in their priority list (DNS / global load balancer
//!   failover). Without it clients always use their own region's edge.

use headroom_policy::balance::EndpointId;
use headroom_policy::breaker::Outcome;
use headroom_policy::health::{
    ActiveHealthChecker, CheckEvent, CheckResult, Failover, FailoverConfig, FailoverSpec, Health,
    OutlierEvent, PriorityHealth,
};
use headroom_policy::mesh::breaker_outcome;
use headroom_sim::Timestamp;
use headroom_sim::rng::Stream;
use headroom_sim::slab::Id;

use super::faults::Faults;
use super::instance::Phase;
use super::mesh::Reply;
use super::{Event, World};
use crate::plan::{Plan, RegionId, ServiceId};

/// Where a try goes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Target {
    pub deployment: u32,
    pub endpoint: EndpointId,
    pub instance: Id,
    pub region: RegionId,
    /// Not the caller's preferred region.
    pub failed_over: bool,
}

/// The callee regions a caller region may use, highest priority first.
struct RouteTable {
    regions: Vec<RegionId>,
    failover: Option<Failover>,
}

/// Clients' edge-region failover.
struct EdgeFailover {
    checker: ActiveHealthChecker,
    healthy: Vec<bool>,
    /// Per origin region: priority list and its failover state.
    per_origin: Vec<(Vec<RegionId>, Failover)>,
}

/// Routing state of a world.
pub(super) struct Routing {
    /// `tables[service][caller region]`.
    tables: Vec<Vec<RouteTable>>,
    edge: Option<EdgeFailover>,
    armed: Option<Timestamp>,
}

/// Regions ordered for a caller in `from`: `from` first if eligible, then
/// by position in the failover order, then by round-trip time.
fn priority_list(
    plan: &Plan,
    from: RegionId,
    eligible: &[RegionId],
    spec: Option<&FailoverSpec>,
) -> Vec<RegionId> {
    let mut regions = eligible.to_vec();
    let rank = |r: RegionId| {
        let local = usize::from(r != from);
        let ordered = spec
            .and_then(|s| s.priority_of(plan.network.name(r)))
            .unwrap_or(usize::MAX);
        (local, ordered, plan.network.rtt(from, r), r)
    };
    regions.sort_by_key(|&r| rank(r));
    regions
}

fn failover_for(spec: &FailoverSpec, plan: &Plan, regions: &[RegionId]) -> Failover {
    let config = FailoverConfig {
        order: regions
            .iter()
            .map(|&r| plan.network.name(r).to_owned())
            .collect(),
        overprovisioning_factor: f64::from(spec.overprovisioning_pct) / 100.0,
        panic_threshold: f64::from(spec.panic_threshold_pct) / 100.0,
        ..FailoverConfig::default()
    };
    match config.validate() {
        Ok(spec) => Failover::new(&spec),
        // Built from a checked spec and distinct region names.
        Err(e) => unreachable!("derived failover config is valid: {e}"),
    }
}

impl Routing {
    pub(super) fn new(plan: &Plan) -> Self {
        let spec = plan.policies.failover.as_ref();
        let all: Vec<RegionId> = plan.network.region_ids().collect();
        let tables = plan
            .services
            .iter()
            .map(|s| {
                all.iter()
                    .map(|&from| {
                        let mut regions = priority_list(plan, from, &s.regions, spec);
                        let failover = match spec {
                            Some(spec) => Some(failover_for(spec, plan, &regions)),
                            None => {
                                regions.truncate(1);
                                None
                            }
                        };
                        RouteTable { regions, failover }
                    })
                    .collect()
            })
            .collect();
        let edge = spec.and_then(|spec| {
            let check = spec.health_check.as_ref()?;
            let mut checker = ActiveHealthChecker::new(check);
            for r in &all {
                let _ = checker.add_endpoint(Timestamp::ZERO, EndpointId::new(u32::from(r.0), 0));
            }
            // Regions start healthy: the edge has served before the run.
            let healthy = vec![true; all.len()];
            let per_origin = all
                .iter()
                .map(|&o| {
                    let regions = priority_list(plan, o, &all, Some(spec));
                    let mut f = failover_for(spec, plan, &regions);
                    for p in 0..regions.len() {
                        f.set_health(p, PriorityHealth::new(1, 1));
                    }
                    (regions, f)
                })
                .collect();
            Some(EdgeFailover {
                checker,
                healthy,
                per_origin,
            })
        });
        Routing {
            tables,
            edge,
            armed: None,
        }
    }

    /// The region a call to `service` from `from` goes to while every
    /// region is healthy: the first of its failover order.
    pub(super) fn first_region(&self, service: ServiceId, from: RegionId) -> Option<RegionId> {
        self.tables[service.index()][from.index()]
            .regions
            .first()
            .copied()
    }

    /// The region whose edge serves a client from `origin`.
    pub(super) fn edge_region(&self, origin: RegionId, rng: &mut Stream) -> RegionId {
        match &self.edge {
            Some(e) => {
                let (regions, failover) = &e.per_origin[origin.index()];
                regions[failover.choose(rng).priority]
            }
            None => origin,
        }
    }

    /// Regions counted healthy: by the edge checks when configured, else
    /// those not in an outage.
    pub(super) fn healthy_regions(&self, faults: &Faults<'_>) -> u64 {
        match &self.edge {
            Some(e) => e.healthy.iter().filter(|&&h| h).count() as u64,
            None => faults.regions_up(),
        }
    }

    /// Arms the next region check, if any.
    pub(super) fn arm_region_checks(&mut self, events: &mut super::Events, now: Timestamp) {
        if let Some(t) = self.edge.as_ref().and_then(|e| e.checker.poll_timeout())
            && self.armed.is_none_or(|a| t < a || a < now)
        {
            self.armed = Some(t);
            events.push_housekeeping(t.max(now), Event::RegionCheck);
        }
    }
}

impl World<'_> {
    /// Picks the region and instance for a try of a call to `service` from
    /// a caller in `from`; `None` when no instance is eligible.
    pub(super) fn route(&mut self, service: ServiceId, from: RegionId) -> Option<Target> {
        let now = self.now;
        let n_regions = self.plan.network.regions.len();
        let table = &self.routing.tables[service.index()][from.index()];
        let rng = &mut self.rng.services[service.index()].routing;
        let (priority, panic) = match &table.failover {
            Some(f) => {
                let c = f.choose(rng);
                (c.priority, c.panic)
            }
            None => (0, false),
        };
        let region = *table.regions.get(priority)?;
        let deployment = (service.index() * n_regions + region.index()) as u32;
        let d = &mut self.deployments[deployment as usize];
        if d.balancer.is_panic() != panic {
            d.balancer.set_panic(panic);
        }
        let endpoint = d.balancer.pick(now, rng)?;
        let instance = (*d.by_endpoint.get(endpoint.index())?)?;
        Some(Target {
            deployment,
            endpoint,
            instance,
            region,
            failed_over: priority > 0,
        })
    }

    /// Recomputes the failover loads that depend on `deployment`'s counts.
    pub(super) fn update_route_counts(&mut self, deployment: u32) {
        let d = &self.deployments[deployment as usize];
        let counts = PriorityHealth::new(
            d.balancer.eligible_count() as u32,
            d.balancer.endpoint_count() as u32,
        );
        let (service, region) = (d.service, d.region);
        for table in &mut self.routing.tables[service.index()] {
            if let Some(f) = &mut table.failover
                && let Some(p) = table.regions.iter().position(|&r| r == region)
            {
                f.set_health(p, counts);
            }
        }
    }

    /// Feeds a response to the deployment's outlier detector, if it has
    /// one.
    #[inline]
    pub(super) fn on_endpoint_outcome(
        &mut self,
        deployment: u32,
        endpoint: EndpointId,
        reply: Reply,
    ) {
        if self.deployments[deployment as usize].outliers.is_some() {
            self.record_outlier_outcome(deployment, endpoint, reply);
        }
    }

    /// [`World::on_endpoint_outcome`] with an outlier detector: out of line.
    #[inline(never)]
    fn record_outlier_outcome(&mut self, deployment: u32, endpoint: EndpointId, reply: Reply) {
        let now = self.now;
        let d = &mut self.deployments[deployment as usize];
        let Some(o) = &mut d.outliers else {
            return;
        };
        let outcome = match reply.wire {
            super::mesh::Wire::Status(s) => {
                breaker_outcome(&headroom_policy::retry::TryOutcome::status(s))
            }
            super::mesh::Wire::Reset | super::mesh::Wire::ConnectFailure => Outcome::Failure,
            super::mesh::Wire::Timeout => Outcome::Ignored,
        };
        if let Some(OutlierEvent::Ejected(id)) = o.handle_response(now, endpoint, outcome) {
            d.balancer.set_ejected(id, true);
            self.stats.on_ejection(now);
            self.update_route_counts(deployment);
            self.arm_health(deployment);
        }
    }

    /// Arms the deployment's health timer for its checker's and outlier
    /// detector's next due time.
    pub(super) fn arm_health(&mut self, deployment: u32) {
        let now = self.now;
        let d = &mut self.deployments[deployment as usize];
        let next = [
            d.checker
                .as_ref()
                .and_then(ActiveHealthChecker::poll_timeout),
            d.outliers.as_ref().and_then(|o| o.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(t) = next
            && d.health_armed.is_none_or(|a| t < a || a < now)
        {
            d.health_armed = Some(t);
            self.events
                .push_housekeeping(t.max(now), Event::HealthTimer { deployment });
        }
    }

    /// Health checks and outlier sweeps that are due.
    #[inline(never)]
    pub(super) fn on_health_timer(&mut self, deployment: u32) {
        let now = self.now;
        let d = &mut self.deployments[deployment as usize];
        if d.health_armed.is_some_and(|a| a <= now) {
            d.health_armed = None;
        }
        let mut changed = false;
        if let Some(checker) = &mut d.checker {
            let mut events = Vec::new();
            checker.handle_timeout(now, &mut events);
            for e in events {
                let (id, health) = match e {
                    CheckEvent::Probe(id) => {
                        let up = d
                            .by_endpoint
                            .get(id.index())
                            .copied()
                            .flatten()
                            .is_some_and(|i| {
                                self.instances.get(i).is_some_and(|x| {
                                    x.phase == Phase::Ready && self.faults.region_up(x.region)
                                })
                            });
                        if !up {
                            // No answer: the checker's own timeout fails it.
                            continue;
                        }
                        match checker.handle_check_result(now, id, CheckResult::Passed) {
                            Some(h) => (id, h),
                            None => continue,
                        }
                    }
                    CheckEvent::Changed(id, health) => (id, health),
                };
                d.balancer.set_health_at(now, id, health);
                changed = true;
                if health == Health::Healthy
                    && let Some(o) = &mut d.outliers
                    && let Some(OutlierEvent::Unejected(u)) = o.handle_check_passed(now, id)
                {
                    d.balancer.set_ejected(u, false);
                }
            }
        }
        if let Some(o) = &mut d.outliers {
            let mut events = Vec::new();
            o.handle_timeout(now, &mut events);
            for e in events {
                let _ = match e {
                    OutlierEvent::Ejected(id) => d.balancer.set_ejected(id, true),
                    OutlierEvent::Unejected(id) => d.balancer.set_ejected(id, false),
                };
                changed = true;
            }
        }
        if changed {
            self.update_route_counts(deployment);
        }
        if !self.is_idle() {
            self.arm_health(deployment);
        }
    }

    /// The edge region checks that are due.
    #[inline(never)]
    pub(super) fn on_region_check(&mut self) {
        let now = self.now;
        if self.routing.armed.is_some_and(|a| a <= now) {
            self.routing.armed = None;
        }
        let Some(edge) = &mut self.routing.edge else {
            return;
        };
        let mut events = Vec::new();
        edge.checker.handle_timeout(now, &mut events);
        let mut changes = Vec::new();
        for e in events {
            match e {
                CheckEvent::Probe(id) => {
                    let region = RegionId(id.index() as u8);
                    if self.faults.region_up(region)
                        && let Some(h) =
                            edge.checker
                                .handle_check_result(now, id, CheckResult::Passed)
                    {
                        changes.push((region, h));
                    }
                }
                CheckEvent::Changed(id, h) => changes.push((RegionId(id.index() as u8), h)),
            }
        }
        for (region, health) in changes {
            let healthy = health == Health::Healthy;
            edge.healthy[region.index()] = healthy;
            for (regions, failover) in &mut edge.per_origin {
                if let Some(p) = regions.iter().position(|&r| r == region) {
                    failover.set_health(p, PriorityHealth::new(u32::from(healthy), 1));
                }
            }
            self.stats.on_region_health(now, healthy);
        }
        if !self.is_idle() {
            self.routing.arm_region_checks(&mut self.events, now);
        }
    }
}
