//! Outlier ejection with Envoy's semantics: the consecutive-5xx detector
//! (inline, on every response) and the success-rate and failure-percentage
//! detectors (on the `interval` sweep, over the previous interval's
//! requests); ejections last `base_ejection_time × multiplier` (plus jitter),
//! bounded by `max_ejection_percent` (Envoy's "true limit"), with un-ejection
//! and multiplier decay on the sweep.

use rand_core::Rng;

use crate::balance::sample::below;
use crate::balance::{CapacityError, EndpointId, MAX_ENDPOINTS};
use crate::breaker::Outcome;
use crate::time::{Span, Timestamp};

pub use super::outlier_config::{
    MAX_CONSECUTIVE_5XX, MAX_REQUEST_VOLUME, OutlierConfig, OutlierSpec,
};

/// An ejection state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutlierEvent {
    /// The endpoint is ejected: stop sending it traffic.
    Ejected(EndpointId),
    /// The endpoint is back.
    Unejected(EndpointId),
}

/// The detector behind an ejection (Envoy's `OutlierEjectionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EjectionKind {
    /// `consecutive_5xx` failures in a row.
    Consecutive5xx,
    /// A success rate below `mean − stdev_factor × σ` of the endpoints.
    SuccessRate,
    /// A failure percentage at or above `failure_percentage_threshold`.
    FailurePercentage,
}

/// Ejection counters (Envoy's `outlier_detection.ejections_*` stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutlierStats {
    /// Detections by the consecutive-5xx detector (enforced or not).
    pub detected_consecutive_5xx: u64,
    /// Ejections it enforced.
    pub enforced_consecutive_5xx: u64,
    /// Detections by the success-rate detector.
    pub detected_success_rate: u64,
    /// Ejections it enforced.
    pub enforced_success_rate: u64,
    /// Detections by the failure-percentage detector.
    pub detected_failure_percentage: u64,
    /// Ejections it enforced.
    pub enforced_failure_percentage: u64,
    /// Detections refused by `max_ejection_percent` (`ejections_overflow`).
    pub overflow: u64,
}

/// Success and total requests of one interval.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    success: u64,
    total: u64,
}

#[derive(Clone, Copy, Debug)]
struct Monitor {
    generation: u32,
    consecutive_failures: u32,
    ejected: bool,
    /// Envoy's `ejectTimeBackoff`: the ejection-time multiplier.
    multiplier: u32,
    ejected_at: Timestamp,
    /// The random time added to the current ejection.
    jitter: Span,
    unejected_at: Option<Timestamp>,
    ejections: u64,
    /// The interval being written, and the one the detectors read.
    current: Bucket,
    previous: Bucket,
}

impl Monitor {
    fn new(generation: u32) -> Self {
        Monitor {
            generation,
            consecutive_failures: 0,
            ejected: false,
            multiplier: 0,
            ejected_at: Timestamp::ZERO,
            jitter: Span::ZERO,
            unejected_at: None,
            ejections: 0,
            current: Bucket::default(),
            previous: Bucket::default(),
        }
    }
}

/// Outlier detection for a set of endpoints (one Envoy cluster).
///
/// # Call order
///
/// 1. `add_endpoint(id)` / `remove_endpoint(id)` as endpoints come and go.
/// 2. `handle_response_with_rng(now, id, outcome, rng)` for every response
///    from an endpoint: `Failure` for a 5xx or a local-origin error (connect
///    failure, timeout), `Success` otherwise (a 4xx too), `Ignored` to skip it.
///    It returns `Some(Ejected(id))` when the response ejects the endpoint.
/// 3. When `poll_timeout()` (the next sweep) is reached:
///    `handle_timeout_with_rng(now, rng, &mut events)` un-ejects endpoints
///    whose ejection time is over, decays multipliers and runs the
///    success-rate and failure-percentage detectors (which may eject).
/// 4. When an active health check passes (and leaves the endpoint healthy):
///    `handle_check_passed(now, id)`, which un-ejects at once if configured.
///
/// `rng` draws the `enforcing_*` chances and the ejection jitter. The older
/// `handle_response` / `handle_timeout` take no RNG: they enforce every
/// detection whose `enforcing_*` is above 0 and add no jitter.
///
/// # Semantics (Envoy `DetectorImpl`)
///
/// - The `consecutive_5xx`-th failure in a row is a detection; the counter
///   restarts whether or not it ejects. A success resets it.
/// - Every sweep closes the interval's per-endpoint request counts; the
///   detectors read the interval just closed. Success rate: endpoints not
///   ejected with at least `success_rate_request_volume` requests qualify; if
///   at least `success_rate_minimum_hosts` do, each whose success rate (in
///   percent) is below `mean − stdev_factor / 1000 × σ` (population σ) is a
///   detection. Failure percentage: endpoints with at least
///   `failure_percentage_request_volume` requests qualify; if at least
///   `failure_percentage_minimum_hosts` do, each with `100 − success rate >=
///   failure_percentage_threshold` is a detection. Detections are processed in
///   slot order (Envoy: hash-map order); an endpoint ejected by the first
///   detector is skipped by the second.
/// - A detection ejects if the guard allows it and the `enforcing_*` chance
///   (percent) succeeds. The guard is computed *after* the ejection, over all
///   endpoints: `100 × (ejected + 1) / endpoints <= max_ejection_percent` (the
///   "true limit" of Envoy PR #27909), or `always_eject_one_host` with none
///   ejected.
/// - Each ejection raises the multiplier by one while `multiplier × base <
///   max + base`; the ejection lasts `min(base × multiplier, max) + jitter`,
///   the jitter uniform in whole milliseconds below
///   `max_ejection_time_jitter`.
/// - Sweeps run every `interval` from creation. A sweep un-ejects endpoints
///   whose ejection time has elapsed (so an ejection ends on the first sweep
///   after it expires), then lowers by one the multiplier of every endpoint
///   that has been back for at least `interval`, then runs the detectors.
/// - An endpoint removed while ejected no longer counts toward the limit.
#[derive(Clone, Debug)]
pub struct OutlierDetector {
    spec: OutlierSpec,
    monitors: Vec<Option<Monitor>>,
    count: usize,
    ejected: usize,
    next_sweep: Timestamp,
    stats: OutlierStats,
    /// The last success-rate computation: (mean, ejection threshold), percent.
    success_rate: Option<(f64, f64)>,
    /// Scratch lists of qualifying endpoints: (slot, success rate %).
    sr_hosts: Vec<(u32, f64)>,
    fp_hosts: Vec<(u32, f64)>,
}

impl OutlierDetector {
    /// A detector with no endpoints; the first sweep is at `now + interval`.
    pub fn new(spec: &OutlierSpec, now: Timestamp) -> Self {
        OutlierDetector {
            spec: spec.clone(),
            monitors: Vec::new(),
            count: 0,
            ejected: 0,
            next_sweep: now + spec.interval,
            stats: OutlierStats::default(),
            success_rate: None,
            sr_hosts: Vec::new(),
            fp_hosts: Vec::new(),
        }
    }

    /// Starts monitoring `id` (not ejected, multiplier 0, no requests).
    /// Re-adding a present id restarts it.
    pub fn add_endpoint(&mut self, id: EndpointId) -> Result<(), CapacityError> {
        let index = id.index();
        if index >= MAX_ENDPOINTS {
            return Err(CapacityError {
                limit: MAX_ENDPOINTS,
            });
        }
        if self.monitors.len() <= index {
            self.monitors.resize(index + 1, None);
        }
        match self.monitors[index] {
            Some(old) if old.ejected => self.ejected -= 1,
            Some(_) => {}
            None => self.count += 1,
        }
        self.monitors[index] = Some(Monitor::new(id.generation()));
        Ok(())
    }

    /// Stops monitoring `id`. Returns whether it was present.
    pub fn remove_endpoint(&mut self, id: EndpointId) -> bool {
        let Some(monitor) = self.monitor(id) else {
            return false;
        };
        if monitor.ejected {
            self.ejected -= 1;
        }
        self.monitors[id.index()] = None;
        self.count -= 1;
        true
    }

    /// Records a response from `id`; `Some(Ejected(id))` if it ejects `id`.
    /// Enforces every detection with `enforcing_consecutive_5xx > 0` (see
    /// [`OutlierDetector::handle_response_with_rng`]).
    #[inline]
    pub fn handle_response(
        &mut self,
        now: Timestamp,
        id: EndpointId,
        outcome: Outcome,
    ) -> Option<OutlierEvent> {
        self.response(now, id, outcome, &mut |_| 0)
    }

    /// Records a response from `id`, drawing the enforcement chance and the
    /// ejection jitter from `rng`; `Some(Ejected(id))` if it ejects `id`.
    #[inline]
    pub fn handle_response_with_rng<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        id: EndpointId,
        outcome: Outcome,
        rng: &mut R,
    ) -> Option<OutlierEvent> {
        self.response(now, id, outcome, &mut |n| below(rng, n))
    }

    fn response(
        &mut self,
        now: Timestamp,
        id: EndpointId,
        outcome: Outcome,
        draw: &mut impl FnMut(u64) -> u64,
    ) -> Option<OutlierEvent> {
        let threshold = self.spec.consecutive_5xx;
        let monitor = self.monitor_mut(id)?;
        match outcome {
            Outcome::Ignored => None,
            Outcome::Success => {
                monitor.current.success += 1;
                monitor.current.total += 1;
                monitor.consecutive_failures = 0;
                None
            }
            Outcome::Failure => {
                monitor.current.total += 1;
                monitor.consecutive_failures = monitor.consecutive_failures.saturating_add(1);
                if monitor.consecutive_failures != threshold || monitor.ejected {
                    return None;
                }
                monitor.consecutive_failures = 0;
                self.try_eject(now, id.index(), EjectionKind::Consecutive5xx, draw)
            }
        }
    }

    /// Un-ejects `id` after a passing active health check, if
    /// `successful_active_health_check_uneject_host` is on.
    pub fn handle_check_passed(&mut self, now: Timestamp, id: EndpointId) -> Option<OutlierEvent> {
        if !self.spec.uneject_on_check_pass || !self.monitor(id)?.ejected {
            return None;
        }
        self.uneject(now, id.index());
        Some(OutlierEvent::Unejected(id))
    }

    /// The next sweep.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        Some(self.next_sweep)
    }

    /// Runs the sweep if it is due at `now`, appending un-ejections (slot
    /// order) then the detectors' ejections to `events`; the next sweep is
    /// `interval` after `now`. Enforces every detection whose `enforcing_*`
    /// is above 0 and adds no jitter (see
    /// [`OutlierDetector::handle_timeout_with_rng`]).
    pub fn handle_timeout(&mut self, now: Timestamp, events: &mut Vec<OutlierEvent>) {
        self.sweep(now, events, &mut |_| 0);
    }

    /// [`OutlierDetector::handle_timeout`], drawing the enforcement chances
    /// and the ejection jitter from `rng`.
    pub fn handle_timeout_with_rng<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        rng: &mut R,
        events: &mut Vec<OutlierEvent>,
    ) {
        self.sweep(now, events, &mut |n| below(rng, n));
    }

    fn sweep(
        &mut self,
        now: Timestamp,
        events: &mut Vec<OutlierEvent>,
        draw: &mut impl FnMut(u64) -> u64,
    ) {
        if now < self.next_sweep {
            return;
        }
        for index in 0..self.monitors.len() {
            let Some(m) = self.monitors[index] else {
                continue;
            };
            let over = now.saturating_since(m.ejected_at)
                >= self.ejection_time(m.multiplier).saturating_add(m.jitter);
            if m.ejected && over {
                self.uneject(now, index);
                events.push(OutlierEvent::Unejected(EndpointId::new(
                    index as u32,
                    m.generation,
                )));
            }
        }
        for m in self.monitors.iter_mut().flatten() {
            let back_long_enough = m
                .unejected_at
                .is_some_and(|t| now.saturating_since(t) >= self.spec.interval);
            if !m.ejected && back_long_enough {
                m.multiplier = m.multiplier.saturating_sub(1);
            }
            // Close the interval: the detectors read it until the next sweep.
            m.previous = std::mem::take(&mut m.current);
        }
        self.detect(now, events, draw);
        self.next_sweep = now + self.spec.interval;
    }

    /// Envoy's `processSuccessRateEjections` over the interval just closed.
    fn detect(
        &mut self,
        now: Timestamp,
        events: &mut Vec<OutlierEvent>,
        draw: &mut impl FnMut(u64) -> u64,
    ) {
        self.success_rate = None;
        let s = &self.spec;
        let (sr_min, fp_min) = (
            s.success_rate_minimum_hosts as usize,
            s.failure_percentage_minimum_hosts as usize,
        );
        if self.count < sr_min && self.count < fp_min {
            return;
        }
        let (sr_volume, fp_volume) = (
            u64::from(s.success_rate_request_volume),
            u64::from(s.failure_percentage_request_volume),
        );
        self.sr_hosts.clear();
        self.fp_hosts.clear();
        let mut sum = 0.0;
        for (index, m) in self.monitors.iter().enumerate() {
            let Some(m) = m.filter(|m| !m.ejected && m.previous.total > 0) else {
                continue;
            };
            let rate = m.previous.success as f64 * 100.0 / m.previous.total as f64;
            if m.previous.total >= sr_volume {
                self.sr_hosts.push((index as u32, rate));
                sum += rate;
            }
            if m.previous.total >= fp_volume {
                self.fp_hosts.push((index as u32, rate));
            }
        }
        if !self.sr_hosts.is_empty() && self.sr_hosts.len() >= sr_min {
            let n = self.sr_hosts.len() as f64;
            let mean = sum / n;
            let variance = self
                .sr_hosts
                .iter()
                .map(|&(_, r)| (r - mean) * (r - mean))
                .sum::<f64>()
                / n;
            // sqrt is correctly rounded (IEEE 754): the same bits everywhere.
            let threshold =
                mean - f64::from(s.success_rate_stdev_factor) / 1000.0 * variance.sqrt();
            self.success_rate = Some((mean, threshold));
            for i in 0..self.sr_hosts.len() {
                let (index, rate) = self.sr_hosts[i];
                if rate < threshold {
                    self.eject_swept(now, index, EjectionKind::SuccessRate, events, draw);
                }
            }
        }
        if !self.fp_hosts.is_empty() && self.fp_hosts.len() >= fp_min {
            let threshold = f64::from(self.spec.failure_percentage_threshold);
            for i in 0..self.fp_hosts.len() {
                let (index, rate) = self.fp_hosts[i];
                let ejected = self.monitors[index as usize].is_some_and(|m| m.ejected);
                if 100.0 - rate >= threshold && !ejected {
                    self.eject_swept(now, index, EjectionKind::FailurePercentage, events, draw);
                }
            }
        }
    }

    fn eject_swept(
        &mut self,
        now: Timestamp,
        index: u32,
        kind: EjectionKind,
        events: &mut Vec<OutlierEvent>,
        draw: &mut impl FnMut(u64) -> u64,
    ) {
        if let Some(event) = self.try_eject(now, index as usize, kind, draw) {
            events.push(event);
        }
    }

    /// Whether `id` is ejected.
    pub fn is_ejected(&self, id: EndpointId) -> bool {
        self.monitor(id).is_some_and(|m| m.ejected)
    }

    /// The ejection-time multiplier of `id` (0 when never ejected or decayed).
    pub fn multiplier(&self, id: EndpointId) -> Option<u32> {
        self.monitor(id).map(|m| m.multiplier)
    }

    /// How many times `id` was ejected.
    pub fn ejections(&self, id: EndpointId) -> Option<u64> {
        self.monitor(id).map(|m| m.ejections)
    }

    /// When `id`'s current ejection ends at the earliest (ejection time plus
    /// jitter; it ends at the first sweep at or after this), if ejected.
    pub fn ejected_until(&self, id: EndpointId) -> Option<Timestamp> {
        let m = self.monitor(id).filter(|m| m.ejected)?;
        Some(m.ejected_at + self.ejection_time(m.multiplier).saturating_add(m.jitter))
    }

    /// `id`'s success rate (percent) over the interval the detectors last
    /// read, if it had requests.
    pub fn success_rate(&self, id: EndpointId) -> Option<f64> {
        let m = self.monitor(id)?;
        (m.previous.total > 0).then(|| m.previous.success as f64 * 100.0 / m.previous.total as f64)
    }

    /// The last sweep's success-rate mean and ejection threshold (percent),
    /// if the detector ran (Envoy's `success_rate_average` and
    /// `success_rate_ejection_threshold`).
    pub fn success_rate_threshold(&self) -> Option<(f64, f64)> {
        self.success_rate
    }

    /// Endpoints currently ejected.
    pub fn ejected_count(&self) -> usize {
        self.ejected
    }

    /// Endpoints monitored.
    pub fn endpoint_count(&self) -> usize {
        self.count
    }

    /// Ejections refused by `max_ejection_percent` (Envoy's `ejections_overflow`).
    pub fn overflow_count(&self) -> u64 {
        self.stats.overflow
    }

    /// Detection and ejection counters since creation.
    pub fn stats(&self) -> OutlierStats {
        self.stats
    }

    fn ejection_time(&self, multiplier: u32) -> Span {
        self.spec
            .base_ejection_time
            .saturating_mul(u64::from(multiplier))
            .min(self.spec.max_ejection_time)
    }

    /// Envoy's `ejectHost`: counts the detection, applies the guard and the
    /// enforcement chance, then ejects.
    fn try_eject(
        &mut self,
        now: Timestamp,
        index: usize,
        kind: EjectionKind,
        draw: &mut impl FnMut(u64) -> u64,
    ) -> Option<OutlierEvent> {
        let (detected, enforcing) = match kind {
            EjectionKind::Consecutive5xx => (
                &mut self.stats.detected_consecutive_5xx,
                self.spec.enforcing_consecutive_5xx,
            ),
            EjectionKind::SuccessRate => (
                &mut self.stats.detected_success_rate,
                self.spec.enforcing_success_rate,
            ),
            EjectionKind::FailurePercentage => (
                &mut self.stats.detected_failure_percentage,
                self.spec.enforcing_failure_percentage,
            ),
        };
        *detected += 1;
        let within_limit = 100 * (self.ejected as u64 + 1)
            <= u64::from(self.spec.max_ejection_percent) * self.count as u64;
        let allowed = within_limit || (self.spec.always_eject_one_host && self.ejected == 0);
        if !allowed {
            self.stats.overflow += 1;
            return None;
        }
        // Envoy's `featureEnabled(key, percent)`: a draw below 100 (no draw
        // when the answer is certain).
        let enforced = match enforcing {
            0 => false,
            100 => true,
            p => draw(100) < u64::from(p),
        };
        if !enforced {
            return None;
        }
        match kind {
            EjectionKind::Consecutive5xx => self.stats.enforced_consecutive_5xx += 1,
            EjectionKind::SuccessRate => self.stats.enforced_success_rate += 1,
            EjectionKind::FailurePercentage => self.stats.enforced_failure_percentage += 1,
        }
        let jitter_ms = self.spec.max_ejection_time_jitter_ms;
        let jitter = if jitter_ms > 0 {
            Span::from_millis(draw(jitter_ms))
        } else {
            Span::ZERO
        };
        let (base, max) = (self.spec.base_ejection_time, self.spec.max_ejection_time);
        let monitor = self.monitors.get_mut(index)?.as_mut()?;
        monitor.ejected = true;
        monitor.ejected_at = now;
        monitor.jitter = jitter;
        monitor.ejections += 1;
        if base.saturating_mul(u64::from(monitor.multiplier)) < max + base {
            monitor.multiplier += 1;
        }
        let id = EndpointId::new(index as u32, monitor.generation);
        self.ejected += 1;
        Some(OutlierEvent::Ejected(id))
    }

    fn uneject(&mut self, now: Timestamp, index: usize) {
        if let Some(m) = self.monitors[index].as_mut() {
            m.ejected = false;
            m.consecutive_failures = 0;
            m.unejected_at = Some(now);
            self.ejected -= 1;
        }
    }

    fn monitor(&self, id: EndpointId) -> Option<&Monitor> {
        self.monitors
            .get(id.index())?
            .as_ref()
            .filter(|m| m.generation == id.generation())
    }

    fn monitor_mut(&mut self, id: EndpointId) -> Option<&mut Monitor> {
        self.monitors
            .get_mut(id.index())?
            .as_mut()
            .filter(|m| m.generation == id.generation())
    }
}
