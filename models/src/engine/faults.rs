//! Injected failures: region outages (windows of unreachability), latency
//! and error faults (looked up when a try reaches an instance), and
//! instance crashes (lifetimes drawn when an instance is created).

use rand::RngExt;

use headroom_sim::rng::Stream;
use headroom_sim::{Span, Timestamp};

use super::mesh::Reply;
use super::{Event, World};
use crate::plan::{FaultPlan, Plan, RegionId, ServiceId};

/// Fault state of a world.
pub(super) struct Faults<'p> {
    faults: &'p [FaultPlan],
    /// Outages in progress per region (overlapping outages nest).
    down: Vec<u32>,
    /// Per region: since when it has been dark (while `down` > 0).
    dark_since: Vec<Timestamp>,
    /// Per service: whether any error fault, and any latency fault, targets
    /// it (the common case skips the lookups).
    errors: Vec<bool>,
    latency: Vec<bool>,
}

impl<'p> Faults<'p> {
    pub(super) fn new(plan: &'p Plan) -> Self {
        let targeted = |latency: bool| {
            (0..plan.services.len())
                .map(|s| {
                    plan.faults.iter().any(|f| match f {
                        FaultPlan::Latency { service, .. } => latency && service.index() == s,
                        FaultPlan::Errors { service, .. } => !latency && service.index() == s,
                        _ => false,
                    })
                })
                .collect()
        };
        Faults {
            faults: &plan.faults,
            down: vec![0; plan.network.regions.len()],
            dark_since: vec![Timestamp::ZERO; plan.network.regions.len()],
            errors: targeted(false),
            latency: targeted(true),
        }
    }

    /// Whether an error fault targets `service`.
    #[inline]
    pub(super) fn has_errors(&self, service: ServiceId) -> bool {
        self.errors[service.index()]
    }

    /// Whether a latency fault targets `service`.
    #[inline]
    pub(super) fn has_latency(&self, service: ServiceId) -> bool {
        self.latency[service.index()]
    }

    /// Whether `region` is reachable.
    #[inline]
    pub(super) fn region_up(&self, region: RegionId) -> bool {
        self.down[region.index()] == 0
    }

    /// Since when `region` has been dark, if it is.
    pub(super) fn dark_since(&self, region: RegionId) -> Option<Timestamp> {
        (self.down[region.index()] > 0).then(|| self.dark_since[region.index()])
    }

    /// Regions not in an outage.
    pub(super) fn regions_up(&self) -> u64 {
        self.down.iter().filter(|&&d| d == 0).count() as u64
    }

    /// Extra local work for a request whose work starts on a worker of
    /// `service` in `region` at `now` (the sum over active latency faults).
    pub(super) fn extra_work(
        &self,
        service: ServiceId,
        region: RegionId,
        now: Timestamp,
        rng: &mut Stream,
    ) -> Span {
        let mut extra = Span::ZERO;
        for f in self.faults {
            if let FaultPlan::Latency { add, window, .. } = f
                && window.contains(now)
                && f.targets(service, region)
            {
                extra += add.sample(rng);
            }
        }
        extra
    }

    /// The status of an injected error for a request arriving at `service`
    /// in `region` at `now`, if one of the active error faults fires.
    pub(super) fn injected_error(
        &self,
        service: ServiceId,
        region: RegionId,
        now: Timestamp,
        rng: &mut Stream,
    ) -> Option<u16> {
        for f in self.faults {
            if let FaultPlan::Errors {
                rate,
                status,
                window,
                ..
            } = f
                && window.contains(now)
                && f.targets(service, region)
                && rng.random::<f64>() < *rate
            {
                return Some(*status);
            }
        }
        None
    }

    /// The mean lifetime of instances of `service` in `region`, if a crash
    /// fault applies (the first one listed).
    pub(super) fn crash_mtbf(&self, service: ServiceId, region: RegionId) -> Option<Span> {
        self.faults.iter().find_map(|f| match f {
            FaultPlan::InstanceCrash { mtbf, .. } if f.targets(service, region) => Some(*mtbf),
            _ => None,
        })
    }
}

impl World<'_> {
    /// Schedules the starts and ends of region outages.
    pub(super) fn schedule_faults(&mut self) {
        for f in &self.plan.faults {
            if let FaultPlan::RegionOutage { region, window } = f {
                self.events
                    .push(window.start, Event::OutageStart { region: region.0 });
                self.events
                    .push(window.end, Event::OutageEnd { region: region.0 });
            }
        }
    }

    /// A region goes dark: everything in flight at its instances and its
    /// store copies fails with a reset (a replica's applies are held again);
    /// new tries and operations to it fail to connect until it is back.
    #[inline(never)]
    pub(super) fn on_outage_start(&mut self, region: u8) {
        let region = RegionId(region);
        self.faults.down[region.index()] += 1;
        if self.faults.down[region.index()] == 1 {
            self.faults.dark_since[region.index()] = self.now;
            if !self.plan.data.stores.is_empty() {
                self.on_store_region_dark(region);
                self.arm_store_failovers(region);
            }
        }
        self.stats.on_outage(self.now);
        let ids: Vec<_> = self
            .deployments
            .iter()
            .filter(|d| d.region == region)
            .flat_map(|d| d.instances.iter().copied())
            .collect();
        for id in ids {
            self.fail_all_at(id, Reply::reset());
            self.maybe_remove_drained(id);
        }
    }

    /// A region is reachable again (its instances come back empty; its
    /// replicas receive the writes shipped to them meanwhile).
    #[inline(never)]
    pub(super) fn on_outage_end(&mut self, region: u8) {
        let d = &mut self.faults.down[usize::from(region)];
        *d = d.saturating_sub(1);
        self.release_held_applies(RegionId(region));
    }
}
