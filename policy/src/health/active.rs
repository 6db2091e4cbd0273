//! Active health checks with Envoy's semantics: one check in flight per
//! endpoint, the next one `interval` (plus jitter) after the previous
//! result, healthy and unhealthy thresholds, and a single success to leave
//! the initial state.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand_core::Rng;

use crate::balance::sample::below;
use crate::balance::{CapacityError, EndpointId, MAX_ENDPOINTS};
use crate::config::ConfigError;
use crate::time::{Span, Timestamp};

use super::Health;

/// Largest `healthy_threshold` / `unhealthy_threshold`.
pub const MAX_THRESHOLD: u32 = 1_000;

/// Largest `interval_jitter_percent`.
pub const MAX_JITTER_PERCENT: u32 = 1_000;

/// A `health_check` sub-table (`[policy.load_balancer.health_check]`,
/// `[policy.failover.health_check]`).
///
/// | key | default | accepted |
/// |---|---|---|
/// | `interval` | `"10s"` | >= 1 ms (Envoy reads it in whole ms); time from one result to the next check |
/// | `timeout` | `"5s"` | >= 1 ms (Envoy reads it in whole ms); a check without a result by then failed |
/// | `healthy_threshold` | `1` | 1..=1000 consecutive passes to become healthy |
/// | `unhealthy_threshold` | `3` | 1..=1000 consecutive failures to become unhealthy |
/// | `initial_state` | `"unhealthy"` | `"healthy"`, `"unhealthy"` |
/// | `interval_jitter` | `"0s"` | added to each interval: uniform whole ms below it (Envoy `interval_jitter`) |
/// | `interval_jitter_percent` | `0` | 0..=1000: also added, uniform whole ms below `interval × percent / 100` (Envoy `interval_jitter_percent`) |
/// | `initial_jitter` | `"0s"` | the first check of a new endpoint waits a uniform whole ms below it (Envoy `initial_jitter`) |
///
/// Envoy requires the thresholds and has no defaults; these are Kubernetes'
/// probe defaults (`successThreshold` 1, `failureThreshold` 3). The interval
/// and timeout defaults are the reference load balancer's (10 s / 5 s); the
/// reference failover checks set `interval = "30s"`. As in Envoy, a new
/// endpoint starts unhealthy and its *first* passing check makes it healthy
/// at once, whatever `healthy_threshold` is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(default, deny_unknown_fields)
)]
pub struct HealthCheckConfig {
    /// Time from a check's result (or timeout) to the next check.
    pub interval: Span,
    /// Time after which a check without result counts as timed out.
    pub timeout: Span,
    /// Consecutive passes that make an unhealthy endpoint healthy.
    pub healthy_threshold: u32,
    /// Consecutive failures that make a healthy endpoint unhealthy.
    pub unhealthy_threshold: u32,
    /// Health of an endpoint before its first check.
    pub initial_state: Health,
    /// Bound of the random time added to every interval.
    pub interval_jitter: Span,
    /// Bound of a second random addition, in percent of the interval.
    pub interval_jitter_percent: u32,
    /// Bound of the random delay of a new endpoint's first check.
    pub initial_jitter: Span,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            interval: Span::from_secs(10),
            timeout: Span::from_secs(5),
            healthy_threshold: 1,
            unhealthy_threshold: 3,
            initial_state: Health::Unhealthy,
            interval_jitter: Span::ZERO,
            interval_jitter_percent: 0,
            initial_jitter: Span::ZERO,
        }
    }
}

/// A validated [`HealthCheckConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheckSpec {
    /// Time from a result to the next check, at least 1 ms.
    pub interval: Span,
    /// Check timeout, at least 1 ms.
    pub timeout: Span,
    /// Passes to become healthy, 1..=1000.
    pub healthy_threshold: u32,
    /// Failures to become unhealthy, 1..=1000.
    pub unhealthy_threshold: u32,
    /// Health before the first check.
    pub initial_state: Health,
    /// Jitter bound added to every interval, whole milliseconds.
    pub interval_jitter_ms: u64,
    /// Jitter bound in percent of the interval, 0..=1000.
    pub interval_jitter_percent: u32,
    /// Delay bound of a first check, whole milliseconds.
    pub initial_jitter_ms: u64,
}

impl HealthCheckSpec {
    /// The time from a result to the next check: `interval` plus Envoy's two
    /// jitters (`intervalWithJitter`), each a uniform whole number of
    /// milliseconds drawn with `draw(n)` in `0..n`.
    fn next_interval(&self, draw: &mut impl FnMut(u64) -> u64) -> Span {
        let interval_ms = self.interval.as_nanos() / 1_000_000;
        let percent_mod = u64::from(self.interval_jitter_percent) * interval_ms / 100;
        let mut extra_ms = 0;
        if percent_mod > 0 {
            extra_ms += draw(percent_mod);
        }
        if self.interval_jitter_ms > 0 {
            extra_ms += draw(self.interval_jitter_ms);
        }
        self.interval + Span::from_millis(extra_ms)
    }
}

impl HealthCheckConfig {
    /// Checks every range, naming the first bad key.
    pub fn validate(&self) -> Result<HealthCheckSpec, ConfigError> {
        // Envoy reads both in whole milliseconds (`PROTOBUF_GET_MS_REQUIRED`):
        // a shorter one would be 0 ms there, a check loop that never waits.
        for (key, span) in [("interval", self.interval), ("timeout", self.timeout)] {
            if span < Span::from_millis(1) {
                return Err(ConfigError::new(
                    key,
                    format!("\"{span}\""),
                    "a duration of at least \"1ms\" (Envoy reads it in whole milliseconds)",
                ));
            }
        }
        for (key, n) in [
            ("healthy_threshold", self.healthy_threshold),
            ("unhealthy_threshold", self.unhealthy_threshold),
        ] {
            if !(1..=MAX_THRESHOLD).contains(&n) {
                return Err(ConfigError::new(
                    key,
                    n,
                    format!("an integer in 1..={MAX_THRESHOLD}"),
                ));
            }
        }
        if self.interval_jitter_percent > MAX_JITTER_PERCENT {
            return Err(ConfigError::new(
                "interval_jitter_percent",
                self.interval_jitter_percent,
                format!("an integer percentage in 0..={MAX_JITTER_PERCENT}"),
            ));
        }
        Ok(HealthCheckSpec {
            interval: self.interval,
            timeout: self.timeout,
            healthy_threshold: self.healthy_threshold,
            unhealthy_threshold: self.unhealthy_threshold,
            initial_state: self.initial_state,
            interval_jitter_ms: self.interval_jitter.as_nanos() / 1_000_000,
            interval_jitter_percent: self.interval_jitter_percent,
            initial_jitter_ms: self.initial_jitter.as_nanos() / 1_000_000,
        })
    }
}

/// The result of one check, as the driver observed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckResult {
    /// The endpoint answered as expected.
    Passed,
    /// A network-level failure (connection refused, reset) or a retriable
    /// status: counts toward `unhealthy_threshold`.
    Failed,
    /// No answer within the timeout (the driver's own timer fired first):
    /// counts toward `unhealthy_threshold`.
    TimedOut,
    /// The endpoint answered that it is unhealthy (an unexpected HTTP status):
    /// unhealthy at once, whatever the threshold (Envoy).
    Unhealthy,
}

/// Output of [`ActiveHealthChecker::handle_timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckEvent {
    /// Send a health check to this endpoint now and report its result with
    /// [`ActiveHealthChecker::handle_check_result`].
    Probe(EndpointId),
    /// A check timed out and the endpoint's health changed to this.
    Changed(EndpointId, Health),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the next check, due at the timer.
    Idle,
    /// A check was sent; the timer is its deadline.
    Checking,
}

#[derive(Clone, Copy, Debug)]
struct Target {
    generation: u32,
    health: Health,
    first_check: bool,
    passes: u32,
    failures: u32,
    phase: Phase,
    timer: Timestamp,
    stamp: u64,
}

/// Active health checks of a set of endpoints.
///
/// # Call order
///
/// 1. `add_endpoint_with_rng(now, id, rng)` when an endpoint appears (its
///    first check is due at once, or after `initial_jitter`);
///    `remove_endpoint(id)` when it goes away. The endpoint's initial health
///    is [`ActiveHealthChecker::initial_health`].
/// 2. Whenever `poll_timeout()` is `Some(t)` and the driver's clock reaches
///    `t`: `handle_timeout_with_rng(t, rng, &mut events)`. For each
///    `Probe(id)` send a check; each `Changed(id, health)` is a timed-out
///    check that changed health.
/// 3. When a check ends: `handle_check_result_with_rng(now, id, result,
///    rng)`; `Some(health)` when the endpoint's health changed.
///
/// A check whose deadline (`sent + timeout`) passes before its result is
/// reported is failed by `handle_timeout` as [`CheckResult::TimedOut`]; a
/// result reported after that is ignored. The next check is due `interval`
/// after the result or the timeout, plus Envoy's jitters drawn from `rng`
/// (`interval_jitter_percent` of the interval, then `interval_jitter`, each a
/// uniform whole number of milliseconds below its bound; Envoy takes
/// `random() % bound`, this an unbiased draw). The RNG-less
/// `add_endpoint` / `handle_timeout` / `handle_check_result` add no jitter.
#[derive(Clone, Debug)]
pub struct ActiveHealthChecker {
    spec: HealthCheckSpec,
    targets: Vec<Option<Target>>,
    timers: BinaryHeap<Reverse<(Timestamp, u32, u64)>>,
    next_stamp: u64,
    count: usize,
}

impl ActiveHealthChecker {
    /// A checker with no endpoints.
    pub fn new(spec: &HealthCheckSpec) -> Self {
        ActiveHealthChecker {
            spec: spec.clone(),
            targets: Vec::new(),
            timers: BinaryHeap::new(),
            next_stamp: 0,
            count: 0,
        }
    }

    /// Health of an endpoint before its first check (`initial_state`).
    pub fn initial_health(&self) -> Health {
        self.spec.initial_state
    }

    /// Starts checking `id`; its first check is due at `now`. Re-adding a
    /// present id restarts it.
    pub fn add_endpoint(&mut self, now: Timestamp, id: EndpointId) -> Result<(), CapacityError> {
        self.add(now, id, &mut |_| 0)
    }

    /// Starts checking `id`; its first check is due at `now` plus a uniform
    /// whole number of milliseconds below `initial_jitter`.
    pub fn add_endpoint_with_rng<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        id: EndpointId,
        rng: &mut R,
    ) -> Result<(), CapacityError> {
        self.add(now, id, &mut |n| below(rng, n))
    }

    fn add(
        &mut self,
        now: Timestamp,
        id: EndpointId,
        draw: &mut impl FnMut(u64) -> u64,
    ) -> Result<(), CapacityError> {
        let index = id.index();
        if index >= MAX_ENDPOINTS {
            return Err(CapacityError {
                limit: MAX_ENDPOINTS,
            });
        }
        if self.targets.len() <= index {
            self.targets.resize(index + 1, None);
        }
        if self.targets[index].is_none() {
            self.count += 1;
        }
        self.targets[index] = Some(Target {
            generation: id.generation(),
            health: self.spec.initial_state,
            first_check: true,
            passes: 0,
            failures: 0,
            phase: Phase::Idle,
            timer: now,
            stamp: 0,
        });
        let first = match self.spec.initial_jitter_ms {
            0 => now,
            bound => now + Span::from_millis(draw(bound)),
        };
        self.arm(index, first);
        Ok(())
    }

    /// Stops checking `id`. Returns whether it was present.
    pub fn remove_endpoint(&mut self, id: EndpointId) -> bool {
        if self.target(id).is_none() {
            return false;
        }
        self.targets[id.index()] = None;
        self.count -= 1;
        self.prune();
        true
    }

    /// Endpoints being checked.
    pub fn endpoint_count(&self) -> usize {
        self.count
    }

    /// Current health of `id`.
    pub fn health(&self, id: EndpointId) -> Option<Health> {
        self.target(id).map(|t| t.health)
    }

    /// The earliest instant at which a check is due or times out.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Fires every timer due at or before `now`, appending to `events`: a
    /// `Probe` per check to send, a `Changed` per timed-out check that changed
    /// an endpoint's health. Endpoints are handled in timer order (ties by
    /// slot index). No jitter (see [`ActiveHealthChecker::handle_timeout_with_rng`]).
    pub fn handle_timeout(&mut self, now: Timestamp, events: &mut Vec<CheckEvent>) {
        self.fire(now, events, &mut |_| 0);
    }

    /// [`ActiveHealthChecker::handle_timeout`], drawing the next intervals'
    /// jitter from `rng`.
    pub fn handle_timeout_with_rng<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        rng: &mut R,
        events: &mut Vec<CheckEvent>,
    ) {
        self.fire(now, events, &mut |n| below(rng, n));
    }

    fn fire(
        &mut self,
        now: Timestamp,
        events: &mut Vec<CheckEvent>,
        draw: &mut impl FnMut(u64) -> u64,
    ) {
        while let Some(&Reverse((due, index, stamp))) = self.timers.peek() {
            if due > now {
                break;
            }
            self.timers.pop();
            let index = index as usize;
            let Some(target) = self.targets[index].as_mut().filter(|t| t.stamp == stamp) else {
                continue;
            };
            let id = EndpointId::new(index as u32, target.generation);
            match target.phase {
                Phase::Idle => {
                    target.phase = Phase::Checking;
                    let deadline = due + self.spec.timeout;
                    events.push(CheckEvent::Probe(id));
                    self.arm(index, deadline);
                }
                Phase::Checking => {
                    if let Some(health) = self.conclude(index, due, CheckResult::TimedOut, draw) {
                        events.push(CheckEvent::Changed(id, health));
                    }
                }
            }
        }
        self.prune();
    }

    /// Records the result of the check in flight for `id`; returns the new
    /// health if it changed. Ignored (returns `None`) when `id` has no check in
    /// flight (unknown, removed, or already timed out). No jitter (see
    /// [`ActiveHealthChecker::handle_check_result_with_rng`]).
    pub fn handle_check_result(
        &mut self,
        now: Timestamp,
        id: EndpointId,
        result: CheckResult,
    ) -> Option<Health> {
        self.result(now, id, result, &mut |_| 0)
    }

    /// [`ActiveHealthChecker::handle_check_result`], drawing the next
    /// interval's jitter from `rng`.
    pub fn handle_check_result_with_rng<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        id: EndpointId,
        result: CheckResult,
        rng: &mut R,
    ) -> Option<Health> {
        self.result(now, id, result, &mut |n| below(rng, n))
    }

    fn result(
        &mut self,
        now: Timestamp,
        id: EndpointId,
        result: CheckResult,
        draw: &mut impl FnMut(u64) -> u64,
    ) -> Option<Health> {
        let checking = self.target(id)?.phase == Phase::Checking;
        if !checking {
            return None;
        }
        let changed = self.conclude(id.index(), now, result, draw);
        self.prune();
        changed
    }

    /// Applies a result (Envoy's `handleSuccess` / `handleFailure`) and
    /// schedules the next check `interval` (plus jitter) later.
    fn conclude(
        &mut self,
        index: usize,
        now: Timestamp,
        result: CheckResult,
        draw: &mut impl FnMut(u64) -> u64,
    ) -> Option<Health> {
        let (healthy_threshold, unhealthy_threshold) =
            (self.spec.healthy_threshold, self.spec.unhealthy_threshold);
        let target = self.targets[index].as_mut()?;
        let before = target.health;
        if result == CheckResult::Passed {
            target.failures = 0;
            target.passes = target.passes.saturating_add(1);
            if target.health == Health::Unhealthy
                && (target.first_check || target.passes >= healthy_threshold)
            {
                target.health = Health::Healthy;
            }
        } else {
            target.passes = 0;
            target.failures = target.failures.saturating_add(1);
            if target.health == Health::Healthy
                && (result == CheckResult::Unhealthy || target.failures >= unhealthy_threshold)
            {
                target.health = Health::Unhealthy;
            }
        }
        target.first_check = false;
        target.phase = Phase::Idle;
        let after = target.health;
        if after != before {
            // Envoy resets the opposite counter on every result and starts a
            // fresh run after each transition.
            target.passes = 0;
            target.failures = 0;
        }
        let next = now + self.spec.next_interval(draw);
        self.arm(index, next);
        (after != before).then_some(after)
    }

    fn target(&self, id: EndpointId) -> Option<&Target> {
        self.targets
            .get(id.index())?
            .as_ref()
            .filter(|t| t.generation == id.generation())
    }

    /// Sets the single live timer of a target, invalidating its older ones.
    fn arm(&mut self, index: usize, at: Timestamp) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        if let Some(target) = self.targets[index].as_mut() {
            target.stamp = stamp;
            target.timer = at;
            // Below MAX_ENDPOINTS, so it fits in u32.
            self.timers.push(Reverse((at, index as u32, stamp)));
        }
    }

    /// Drops stale timers from the top (so `poll_timeout` is exact) and
    /// compacts the heap if stale entries pile up (bounded memory).
    fn prune(&mut self) {
        while let Some(&Reverse((_, index, stamp))) = self.timers.peek() {
            let live = self.targets[index as usize]
                .as_ref()
                .is_some_and(|t| t.stamp == stamp);
            if live {
                break;
            }
            self.timers.pop();
        }
        if self.timers.len() > 2 * self.count + 16 {
            self.timers = self
                .targets
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.map(|t| Reverse((t.timer, i as u32, t.stamp))))
                .collect();
        }
    }
}
