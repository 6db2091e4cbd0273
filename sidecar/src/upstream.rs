//! Per-upstream policy state (sans-IO): one balancer per priority level,
//! active health checks, outlier ejection, priority failover and the
//! upstream's circuit breaker. Owned and called by [`crate::driver::Driver`].
//!
//! Endpoints are numbered densely in config order ("flat" ids, also the ids
//! the health checker and outlier detector see); each priority level's
//! balancer has its own ids, mapped back through `level_flat`.

use headroom_policy::balance::{Balancer, EndpointId};
use headroom_policy::breaker::Breaker;
use headroom_policy::health::{
    ActiveHealthChecker, CheckEvent, CheckResult, Failover, FailoverSpec, Health, OutlierDetector,
    OutlierEvent, PriorityHealth,
};
use headroom_policy::time::Timestamp;
use rand_core::Rng;

use crate::plan::{Plan, UpstreamPlan};

/// One endpoint's place in the levels.
#[derive(Clone, Copy, Debug)]
struct Slot {
    level: usize,
    id: EndpointId,
}

/// The policy state of one upstream.
#[derive(Debug)]
pub struct UpstreamState {
    levels: Vec<Balancer>,
    /// `level_flat[level][balancer id index]` = flat endpoint index.
    level_flat: Vec<Vec<u32>>,
    slots: Vec<Slot>,
    checker: Option<ActiveHealthChecker>,
    outlier: Option<OutlierDetector>,
    failover: Failover,
    /// The upstream's circuit breaker, if its edge has one.
    pub breaker: Option<Breaker>,
    events: Vec<CheckEvent>,
    outlier_events: Vec<OutlierEvent>,
}

/// The flat id the health checker and the outlier detector use.
fn flat_id(flat: usize) -> EndpointId {
    // Flat indices are below MAX_ENDPOINTS (checked by the plan).
    EndpointId::new(flat as u32, 0)
}

impl UpstreamState {
    /// Every endpoint added at `now`, healthy unless health checks are
    /// configured (then as `initial_state` says, Envoy's rule).
    pub fn new(plan: &Plan, up: &UpstreamPlan, now: Timestamp) -> Self {
        let mut levels: Vec<Balancer> = (0..up.priorities)
            .map(|_| Balancer::new(&plan.balancer))
            .collect();
        let mut level_flat = vec![Vec::new(); up.priorities];
        let mut checker = plan.health_check.as_ref().map(ActiveHealthChecker::new);
        let mut outlier = plan
            .balancer
            .outlier_detection
            .as_ref()
            .map(|spec| OutlierDetector::new(spec, now));
        let initial = checker
            .as_ref()
            .map_or(Health::Healthy, ActiveHealthChecker::initial_health);
        let mut slots = Vec::with_capacity(up.endpoints.len());
        for (flat, ep) in up.endpoints.iter().enumerate() {
            // The plan bounds endpoints by MAX_ENDPOINTS, so adding cannot fail.
            let id = levels[ep.priority]
                .add_endpoint(now, ep.weight, initial)
                .expect("endpoint count checked by the plan");
            let map = &mut level_flat[ep.priority];
            if map.len() <= id.index() {
                map.resize(id.index() + 1, u32::MAX);
            }
            map[id.index()] = flat as u32;
            slots.push(Slot {
                level: ep.priority,
                id,
            });
            if let Some(c) = checker.as_mut() {
                c.add_endpoint(now, flat_id(flat))
                    .expect("endpoint count checked by the plan");
            }
            if let Some(o) = outlier.as_mut() {
                o.add_endpoint(flat_id(flat))
                    .expect("endpoint count checked by the plan");
            }
        }
        let spec = FailoverSpec {
            order: (0..up.priorities).map(|p| format!("p{p}")).collect(),
            health_check: None,
            overprovisioning_pct: plan.overprovisioning_pct,
            panic_threshold_pct: plan.panic_threshold_pct,
        };
        let mut state = UpstreamState {
            levels,
            level_flat,
            slots,
            checker,
            outlier,
            failover: Failover::new(&spec),
            breaker: up
                .edge
                .circuit_breaker
                .as_ref()
                .map(|spec| Breaker::new(spec, now)),
            events: Vec::new(),
            outlier_events: Vec::new(),
        };
        for level in 0..up.priorities {
            state.refresh_level(level);
        }
        state
    }

    /// Picks an endpoint (flat index): a priority level by failover load,
    /// then an endpoint by the balancer. `None`: no endpoint can be used.
    /// A pick may be redrawn; report the one sent with
    /// [`UpstreamState::handle_start`].
    pub fn pick<R: Rng + ?Sized>(&mut self, now: Timestamp, rng: &mut R) -> Option<usize> {
        let choice = self.failover.choose(rng);
        let balancer = &mut self.levels[choice.priority];
        balancer.set_panic(choice.panic);
        let id = balancer.pick(now, rng)?;
        Some(self.level_flat[choice.priority][id.index()] as usize)
    }

    /// Records that a try was sent to `flat` (its balancer's active count).
    pub fn handle_start(&mut self, flat: usize) {
        let slot = self.slots[flat];
        self.levels[slot.level].handle_start(slot.id);
    }

    /// Records the end of a try to `flat` (`rtt` since it was sent) and
    /// feeds the outlier detector (`failure`: a 5xx or a local-origin
    /// error).
    pub fn handle_end(&mut self, now: Timestamp, flat: usize, start: Timestamp, failure: bool) {
        let slot = self.slots[flat];
        self.levels[slot.level].handle_end(now, slot.id, now.saturating_since(start));
        let outcome = if failure {
            headroom_policy::breaker::Outcome::Failure
        } else {
            headroom_policy::breaker::Outcome::Success
        };
        if let Some(o) = self.outlier.as_mut()
            && let Some(OutlierEvent::Ejected(id)) = o.handle_response(now, flat_id(flat), outcome)
        {
            self.set_ejected(id.index(), true);
        }
    }

    /// The earliest health-check or outlier-sweep timer.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let checks = self
            .checker
            .as_ref()
            .and_then(ActiveHealthChecker::poll_timeout);
        let sweep = self
            .outlier
            .as_ref()
            .and_then(OutlierDetector::poll_timeout);
        match (checks, sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires due timers; appends the flat index of every endpoint to probe.
    pub fn handle_timeout(&mut self, now: Timestamp, probes: &mut Vec<usize>) {
        if let Some(checker) = self.checker.as_mut()
            && checker.poll_timeout().is_some_and(|t| t <= now)
        {
            self.events.clear();
            checker.handle_timeout(now, &mut self.events);
            let events = std::mem::take(&mut self.events);
            for event in &events {
                match *event {
                    CheckEvent::Probe(id) => probes.push(id.index()),
                    CheckEvent::Changed(id, health) => self.set_health(now, id.index(), health),
                }
            }
            self.events = events;
        }
        if let Some(outlier) = self.outlier.as_mut()
            && outlier.poll_timeout().is_some_and(|t| t <= now)
        {
            self.outlier_events.clear();
            outlier.handle_timeout(now, &mut self.outlier_events);
            let events = std::mem::take(&mut self.outlier_events);
            for event in &events {
                if let OutlierEvent::Unejected(id) = *event {
                    self.set_ejected(id.index(), false);
                }
            }
            self.outlier_events = events;
        }
    }

    /// Records a health-check result for `flat`.
    pub fn handle_check_result(&mut self, now: Timestamp, flat: usize, result: CheckResult) {
        let Some(checker) = self.checker.as_mut() else {
            return;
        };
        let changed = checker.handle_check_result(now, flat_id(flat), result);
        let healthy = checker.health(flat_id(flat)) == Some(Health::Healthy);
        if let Some(health) = changed {
            self.set_health(now, flat, health);
        }
        if result == CheckResult::Passed
            && healthy
            && let Some(o) = self.outlier.as_mut()
            && let Some(OutlierEvent::Unejected(id)) = o.handle_check_passed(now, flat_id(flat))
        {
            self.set_ejected(id.index(), false);
        }
    }

    /// An endpoint turning healthy at `now` (its active health check passed)
    /// ramps up from `now` when slow start is configured, as in Envoy.
    fn set_health(&mut self, now: Timestamp, flat: usize, health: Health) {
        let slot = self.slots[flat];
        self.levels[slot.level].set_health_at(now, slot.id, health);
        self.refresh_level(slot.level);
    }

    fn set_ejected(&mut self, flat: usize, ejected: bool) {
        let slot = self.slots[flat];
        self.levels[slot.level].set_ejected(slot.id, ejected);
        self.refresh_level(slot.level);
    }

    fn refresh_level(&mut self, level: usize) {
        let b = &self.levels[level];
        let counts = PriorityHealth::new(b.eligible_count() as u32, b.endpoint_count() as u32);
        let _changed = self.failover.set_health(level, counts);
    }

    /// Whether endpoint `flat` is healthy and not ejected.
    pub fn is_eligible(&self, flat: usize) -> bool {
        let slot = self.slots[flat];
        self.levels[slot.level].is_eligible(slot.id)
    }

    /// Per-level load percentages (failover).
    pub fn loads(&self) -> &[u32] {
        self.failover.loads().load()
    }

    /// Whether any health check is configured.
    pub fn has_health_checks(&self) -> bool {
        self.checker.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use headroom_policy::time::Span;
    use rand_core::SeedableRng;
    use rand_pcg::Pcg64;

    use super::*;

    const CONFIG: &str = r#"
[sidecar]
listen = "127.0.0.1:0"
admin = "127.0.0.1:1"

[[sidecar.upstreams]]
name = "api"
endpoints = [{ url = "http://127.0.0.1:1", region = "r" }, { url = "http://127.0.0.1:2", region = "r" }]

[sidecar.routes]
"/*" = "api"

[policy.load_balancer]
algorithm = "round-robin"
slow_start = { window = "10s", min_weight_percent = 10.0 }
health_check = { interval = "1s", timeout = "1s", unhealthy_threshold = 1, healthy_threshold = 1 }
"#;

    fn at(s: u64) -> Timestamp {
        Timestamp::ZERO + Span::from_secs(s)
    }

    /// Share of `n` picks at `now` that go to endpoint 1.
    fn share_of_second(up: &mut UpstreamState, now: Timestamp, n: usize) -> f64 {
        let mut rng = Pcg64::seed_from_u64(7);
        let hits = (0..n).filter(|_| up.pick(now, &mut rng) == Some(1)).count();
        hits as f64 / n as f64
    }

    /// An endpoint that passes its health check again ramps up from that
    /// moment (Envoy `slow_start_config`: weight x max(min_weight_percent,
    /// time factor)), then takes its full share. Checks run every second;
    /// endpoint 1 fails the one at 21 s and passes again at 22 s.
    #[test]
    fn an_endpoint_back_from_a_failed_check_slow_starts() {
        let plan = crate::config::load_str(Path::new("s.toml"), CONFIG).expect("valid config");
        let mut up = UpstreamState::new(&plan, &plan.upstreams[0], at(0));
        let mut shares = Vec::new();
        let mut probes = Vec::new();
        for t in 0..=33 {
            probes.clear();
            up.handle_timeout(at(t), &mut probes);
            for &flat in &probes {
                let result = if flat == 1 && t == 21 {
                    CheckResult::Failed
                } else {
                    CheckResult::Passed
                };
                up.handle_check_result(at(t), flat, result);
            }
            if [20, 21, 22, 27, 33].contains(&t) {
                shares.push(share_of_second(&mut up, at(t), 11_000));
            }
        }
        assert_eq!(shares[0], 0.5, "both warm at 20 s");
        assert_eq!(shares[1], 0.0, "endpoint 1 down at 21 s");
        // Back at 22 s with 10 % of its weight: 0.1 / 1.1 of the picks.
        assert!(
            (shares[2] - 1.0 / 11.0).abs() < 0.005,
            "ramping {}",
            shares[2]
        );
        // Half-way through its window (linear ramp): 0.5 / 1.5.
        assert!(
            (shares[3] - 1.0 / 3.0).abs() < 0.005,
            "mid-ramp {}",
            shares[3]
        );
        assert_eq!(shares[4], 0.5, "warm again at 33 s");
    }
}
