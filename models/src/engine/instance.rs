//! Instances and deployments: a deployment is one service in one region
//! (its load balancer, health checker, outlier detector and autoscaler); an
//! instance boots, serves, drains on scale-in (no new requests, the ones in
//! flight finish) and may crash (its requests fail; a replacement boots).

use std::collections::VecDeque;

use headroom_policy::autoscale::Autoscaler;
use headroom_policy::balance::{Balancer, EndpointId};
use headroom_policy::breaker::BreakerState;
use headroom_policy::concurrency::AdaptiveConcurrency;
use headroom_policy::health::{ActiveHealthChecker, Health, OutlierDetector};
use headroom_policy::mesh::EdgeClient;
use headroom_sim::Timestamp;
use headroom_sim::slab::{Id, Slab};

use super::mesh::Reply;
use super::{Event, World};
use crate::plan::{RegionId, Scaling, ServiceId};

/// Where an instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Created, not ready: billed, not in the balancer.
    Booting,
    /// In the balancer, serving.
    Ready,
    /// Out of the balancer; finishing the requests it has.
    Draining,
}

/// One instance of a service.
pub(super) struct Instance {
    pub service: ServiceId,
    pub region: RegionId,
    pub deployment: u32,
    pub phase: Phase,
    pub endpoint: Option<EndpointId>,
    pub created: Timestamp,
    pub ready_at: Timestamp,
    /// Workers held.
    pub busy: u32,
    /// Workers doing local work (CPU).
    pub computing: u32,
    /// Attempts waiting for a worker, FIFO.
    pub queue: VecDeque<Id>,
    /// Attempts at this instance (queued, working or in their steps).
    pub in_flight: u32,
    /// Whether the CPU integral is kept (only autoscaled deployments read
    /// it).
    pub track_cpu: bool,
    /// The instance's proxy towards each callee of its service.
    pub clients: Vec<EdgeClient>,
    /// The gradient controller in front of the instance, if its service
    /// has one (boxed: most services have none).
    pub limiter: Option<Box<AdaptiveConcurrency>>,
    /// Autoscaler window: start, integral of `computing` (ns), since when,
    /// and attempts completed.
    pub window_start: Timestamp,
    pub compute_ns: u128,
    pub compute_since: Timestamp,
    pub completions: u64,
}

impl Instance {
    /// Changes the number of computing workers, keeping the integral when
    /// an autoscaler reads it.
    #[inline]
    pub fn set_computing(&mut self, now: Timestamp, computing: u32) {
        if self.track_cpu {
            self.compute_ns +=
                u128::from(self.computing) * u128::from((now - self.compute_since).as_nanos());
            self.compute_since = now;
        }
        self.computing = computing;
    }

    /// Fraction of the workers computing over the window ending at `now`.
    pub fn cpu_fraction(&self, now: Timestamp, workers: u32, since: Timestamp) -> f64 {
        let window = (now - since).as_nanos();
        if window == 0 {
            return 0.0;
        }
        let busy = self.compute_ns
            + u128::from(self.computing) * u128::from((now - self.compute_since).as_nanos());
        busy as f64 / (window as f64 * f64::from(workers))
    }
}

/// One service in one region.
pub(super) struct Deployment {
    pub service: ServiceId,
    pub region: RegionId,
    pub balancer: Balancer,
    /// Endpoint slot -> instance.
    pub by_endpoint: Vec<Option<Id>>,
    /// Instances booting, ready or draining.
    pub instances: Vec<Id>,
    /// The instance count asked for (fixed, or the autoscaler's decision).
    pub desired: u32,
    pub checker: Option<ActiveHealthChecker>,
    pub outliers: Option<OutlierDetector>,
    /// When the deployment's health timer is next armed for.
    pub health_armed: Option<Timestamp>,
    pub autoscaler: Option<Autoscaler>,
}

impl Deployment {
    /// Instances not draining.
    pub fn active(&self, instances: &Slab<Instance>) -> u32 {
        self.instances
            .iter()
            .filter(|&&i| instances.get(i).is_some_and(|x| x.phase != Phase::Draining))
            .count() as u32
    }
}

impl World<'_> {
    /// Creates every deployment and its initial, ready instances.
    pub(super) fn build_deployments(&mut self) {
        let plan = self.plan;
        let n_regions = plan.network.regions.len();
        for (s, service) in plan.services.iter().enumerate() {
            for r in 0..n_regions {
                let region = RegionId(r as u8);
                let runs = service.runs_in(region);
                let spec = &service.balancer;
                let autoscaler = match &service.scaling {
                    Scaling::Autoscaled { spec, .. } if runs => {
                        Some(Autoscaler::new(spec.clone(), Timestamp::ZERO))
                    }
                    _ => None,
                };
                self.deployments.push(Deployment {
                    service: ServiceId(s as u16),
                    region,
                    balancer: Balancer::new(spec),
                    by_endpoint: Vec::new(),
                    instances: Vec::new(),
                    desired: if runs { service.scaling.initial() } else { 0 },
                    checker: spec
                        .health_check
                        .as_ref()
                        .filter(|_| runs)
                        .map(ActiveHealthChecker::new),
                    outliers: spec
                        .outlier_detection
                        .as_ref()
                        .filter(|_| runs)
                        .map(|o| OutlierDetector::new(o, Timestamp::ZERO)),
                    health_armed: None,
                    autoscaler,
                });
            }
        }
        for d in 0..self.deployments.len() {
            for _ in 0..self.deployments[d].desired {
                self.create_instance(d as u32, true);
            }
            if self.deployments[d].autoscaler.is_some() {
                self.events.push_housekeeping(
                    Timestamp::ZERO,
                    Event::Sync {
                        deployment: d as u32,
                    },
                );
            }
        }
        self.workload.build_edge_clients(self.plan);
    }

    /// Creates an instance: ready at once (at the start), or booting.
    pub(super) fn create_instance(&mut self, deployment: u32, ready: bool) {
        let now = self.now;
        let d = &self.deployments[deployment as usize];
        let (service, region) = (d.service, d.region);
        let plan = &self.plan.services[service.index()];
        let track_cpu = d.autoscaler.is_some();
        let clients = plan.edges.iter().map(|e| EdgeClient::new(e, now)).collect();
        let instance = Instance {
            service,
            region,
            deployment,
            phase: Phase::Booting,
            endpoint: None,
            created: now,
            ready_at: now,
            busy: 0,
            computing: 0,
            queue: VecDeque::new(),
            in_flight: 0,
            track_cpu,
            clients,
            limiter: plan
                .adaptive_concurrency
                .as_ref()
                .map(|spec| Box::new(AdaptiveConcurrency::new(spec, now))),
            window_start: now,
            compute_ns: 0,
            compute_since: now,
            completions: 0,
        };
        let Ok(id) = self.instances.insert(instance) else {
            debug_assert!(false, "instance slab full");
            return;
        };
        self.deployments[deployment as usize].instances.push(id);
        self.stats.on_instances(now, service, region, 1, 0);
        let rngs = &mut self.rng.services[service.index()];
        if let Some(mtbf) = self.faults.crash_mtbf(service, region) {
            let life = headroom_sim::dist::Dist::Exponential {
                mean_ns: mtbf.as_nanos() as f64,
            }
            .sample(&mut rngs.crash);
            self.events
                .push_housekeeping(now + life, Event::Crash { instance: id });
        }
        if ready {
            self.make_ready(id);
        } else {
            let boot = plan.boot_time.sample(&mut rngs.boot);
            self.events.push(now + boot, Event::Boot { instance: id });
        }
    }

    /// An instance finished booting.
    #[inline(never)]
    pub(super) fn on_boot(&mut self, id: Id) {
        if self
            .instances
            .get(id)
            .is_some_and(|i| i.phase == Phase::Booting)
        {
            self.make_ready(id);
        }
    }

    /// Puts a booted instance into its deployment's balancer and checks.
    fn make_ready(&mut self, id: Id) {
        let now = self.now;
        let Some(inst) = self.instances.get_mut(id) else {
            return;
        };
        let d = &mut self.deployments[inst.deployment as usize];
        let health = d
            .checker
            .as_ref()
            .map_or(Health::Healthy, ActiveHealthChecker::initial_health);
        let Ok(endpoint) = d.balancer.add_endpoint(now, 1, health) else {
            // More than MAX_ENDPOINTS instances; the plan bounds replicas
            // and autoscalers below it.
            debug_assert!(false, "endpoint limit");
            return;
        };
        if let Some(c) = &mut d.checker {
            let _ = c.add_endpoint(now, endpoint);
        }
        if let Some(o) = &mut d.outliers {
            let _ = o.add_endpoint(endpoint);
        }
        let slot = endpoint.index();
        if d.by_endpoint.len() <= slot {
            d.by_endpoint.resize(slot + 1, None);
        }
        d.by_endpoint[slot] = Some(id);
        inst.phase = Phase::Ready;
        inst.endpoint = Some(endpoint);
        inst.ready_at = now;
        let (service, region, deployment, workers) = (
            inst.service,
            inst.region,
            inst.deployment,
            self.plan.services[inst.service.index()].workers,
        );
        self.stats
            .on_instances(now, service, region, 0, i64::from(workers));
        self.arm_health(deployment);
        self.update_route_counts(deployment);
    }

    /// Takes an instance out of its balancer and checks (drain, crash).
    fn unlist(&mut self, id: Id) {
        let Some(inst) = self.instances.get_mut(id) else {
            return;
        };
        let Some(endpoint) = inst.endpoint.take() else {
            return;
        };
        let deployment = inst.deployment;
        let d = &mut self.deployments[deployment as usize];
        d.balancer.remove_endpoint(endpoint);
        if let Some(c) = &mut d.checker {
            c.remove_endpoint(endpoint);
        }
        if let Some(o) = &mut d.outliers {
            o.remove_endpoint(endpoint);
        }
        if let Some(slot) = d.by_endpoint.get_mut(endpoint.index()) {
            *slot = None;
        }
        self.update_route_counts(deployment);
    }

    /// Scales deployment `deployment` to `desired` active instances: boots
    /// new ones, or drains the surplus (booting ones first, then the newest
    /// ready ones, as a ReplicaSet picks pods to delete).
    pub(super) fn scale_to(&mut self, deployment: u32, desired: u32) {
        self.deployments[deployment as usize].desired = desired;
        let active = self.deployments[deployment as usize].active(&self.instances);
        if desired > active {
            for _ in active..desired {
                self.create_instance(deployment, false);
            }
            return;
        }
        let mut surplus = active - desired;
        let mut victims: Vec<Id> = Vec::with_capacity(surplus as usize);
        let ids = self.deployments[deployment as usize].instances.clone();
        for phase in [Phase::Booting, Phase::Ready] {
            for &id in ids.iter().rev() {
                if surplus == 0 {
                    break;
                }
                if self.instances.get(id).is_some_and(|i| i.phase == phase) {
                    victims.push(id);
                    surplus -= 1;
                }
            }
        }
        for id in victims {
            self.drain(id);
        }
    }

    /// Scale-in: no new requests; gone once the ones in flight finish.
    fn drain(&mut self, id: Id) {
        let now = self.now;
        let Some(inst) = self.instances.get(id) else {
            return;
        };
        match inst.phase {
            Phase::Booting => self.remove_instance(id),
            Phase::Ready => {
                let (service, region) = (inst.service, inst.region);
                self.unlist(id);
                if let Some(inst) = self.instances.get_mut(id) {
                    inst.phase = Phase::Draining;
                }
                let _ = (service, region, now);
                self.maybe_remove_drained(id);
            }
            Phase::Draining => {}
        }
    }

    /// Removes a draining instance once it has nothing in flight.
    #[cold]
    #[inline(never)]
    pub(super) fn maybe_remove_drained(&mut self, id: Id) {
        if self
            .instances
            .get(id)
            .is_some_and(|i| i.phase == Phase::Draining && i.in_flight == 0)
        {
            self.remove_instance(id);
        }
    }

    /// Forgets an instance (its requests must already be gone).
    fn remove_instance(&mut self, id: Id) {
        let now = self.now;
        self.unlist(id);
        let Some(inst) = self.instances.remove(id) else {
            return;
        };
        let service = inst.service.0;
        for (edge, c) in inst.clients.iter().enumerate() {
            if c.breaker_state() == BreakerState::Open {
                let client = super::mesh::ClientRef::Instance {
                    instance: id,
                    service,
                    edge: edge as u16,
                };
                self.stats.on_breaker_open(now, client, -1);
            }
        }
        let workers = self.plan.services[inst.service.index()].workers;
        let capacity = if inst.phase == Phase::Booting {
            0
        } else {
            -i64::from(workers)
        };
        self.stats
            .on_instances(now, inst.service, inst.region, -1, capacity);
        self.stats.on_workers(
            now,
            inst.deployment,
            -i64::from(inst.busy),
            -i64::from(inst.computing),
        );
        let d = &mut self.deployments[inst.deployment as usize];
        d.instances.retain(|&i| i != id);
    }

    /// An instance crashes: everything at it fails with a reset, and a
    /// replacement boots if the deployment is now short.
    #[inline(never)]
    pub(super) fn on_crash(&mut self, id: Id) {
        // Once the run has drained, crashes stop: each one would otherwise
        // boot a replacement with a crash of its own, forever.
        if self.is_idle() {
            return;
        }
        let Some(inst) = self.instances.get(id) else {
            return;
        };
        let deployment = inst.deployment;
        self.stats.on_crash(self.now);
        self.fail_all_at(id, Reply::reset());
        self.remove_instance(id);
        let d = &self.deployments[deployment as usize];
        let (active, desired) = (d.active(&self.instances), d.desired);
        if active < desired {
            self.create_instance(deployment, false);
        }
    }

    /// Fails every attempt at instance `id` with `reply` (crash, region
    /// outage); the instance is left empty.
    pub(super) fn fail_all_at(&mut self, id: Id, reply: Reply) {
        let now = self.now;
        let attempts: Vec<Id> = self
            .attempts
            .iter()
            .filter(|(_, a)| a.instance == id)
            .map(|(a, _)| a)
            .collect();
        let Some(inst) = self.instances.get_mut(id) else {
            return;
        };
        inst.queue.clear();
        let (busy, computing, deployment) = (inst.busy, inst.computing, inst.deployment);
        inst.busy = 0;
        inst.set_computing(now, 0);
        self.stats
            .on_workers(now, deployment, -i64::from(busy), -i64::from(computing));
        for a in attempts {
            if let Some(att) = self.attempts.get_mut(a) {
                // The worker is gone with the instance: account its time and
                // do not give it back.
                if let Some(since) = att.held_since.take() {
                    att.worker_ns += (now - since).as_nanos();
                }
            }
            self.respond(a, reply, false);
        }
    }
}
