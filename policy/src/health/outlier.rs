//! Outlier ejection on consecutive failures with Envoy's semantics: eject on
//! the n-th consecutive 5xx, for `base_ejection_time × multiplier`, bounded by
//! `max_ejection_percent` (Envoy's "true limit"), with un-ejection and
//! multiplier decay on a fixed `interval` sweep.

use crate::balance::{CapacityError, EndpointId, MAX_ENDPOINTS};
use crate::breaker::Outcome;
use crate::config::ConfigError;
use crate::time::{Span, Timestamp};

/// Largest `consecutive_5xx`.
pub const MAX_CONSECUTIVE_5XX: u32 = 1_000_000;

/// The `outlier_detection` sub-table (`[policy.load_balancer.outlier_detection]`).
///
/// | key | default | accepted |
/// |---|---|---|
/// | `consecutive_5xx` | `5` | 1..=1000000 |
/// | `interval` | `"10s"` | > 0; sweep period for un-ejection and decay |
/// | `base_ejection_time` | `"30s"` | > 0 |
/// | `max_ejection_time` | `"300s"` or `base_ejection_time` if larger | >= `base_ejection_time` |
/// | `max_ejection_percent` | `10` | integer percent 0..=100 |
/// | `always_eject_one_host` | `false` | eject one endpoint even when the percentage forbids it |
/// | `successful_active_health_check_uneject_host` | `true` | a passing active check un-ejects |
///
/// Envoy's defaults. Not modelled: the success-rate and failure-percentage
/// detectors, `enforcing_*` probabilities (always 100 %), ejection jitter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(default, deny_unknown_fields)
)]
pub struct OutlierConfig {
    /// Consecutive failures (5xx or local-origin errors) that eject.
    pub consecutive_5xx: u32,
    /// Period of the un-ejection / decay sweep.
    pub interval: Span,
    /// Ejection time of a first ejection.
    pub base_ejection_time: Span,
    /// Cap of the ejection time (default: 300 s or `base_ejection_time`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub max_ejection_time: Option<Span>,
    /// Most endpoints ejected at once, in percent of all endpoints.
    pub max_ejection_percent: u32,
    /// Allow one ejection even when `max_ejection_percent` forbids it.
    pub always_eject_one_host: bool,
    /// A passing active health check un-ejects the endpoint.
    pub successful_active_health_check_uneject_host: bool,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_5xx: 5,
            interval: Span::from_secs(10),
            base_ejection_time: Span::from_secs(30),
            max_ejection_time: None,
            max_ejection_percent: 10,
            always_eject_one_host: false,
            successful_active_health_check_uneject_host: true,
        }
    }
}

/// A validated [`OutlierConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutlierSpec {
    /// Consecutive failures that eject, 1..=1000000.
    pub consecutive_5xx: u32,
    /// Sweep period, > 0.
    pub interval: Span,
    /// First ejection time, > 0.
    pub base_ejection_time: Span,
    /// Ejection time cap, >= `base_ejection_time`.
    pub max_ejection_time: Span,
    /// Ejection limit in percent, 0..=100.
    pub max_ejection_percent: u32,
    /// Allow one ejection beyond the percentage.
    pub always_eject_one_host: bool,
    /// A passing active check un-ejects.
    pub uneject_on_check_pass: bool,
}

impl OutlierConfig {
    /// Checks every range, naming the first bad key.
    pub fn validate(&self) -> Result<OutlierSpec, ConfigError> {
        if !(1..=MAX_CONSECUTIVE_5XX).contains(&self.consecutive_5xx) {
            return Err(ConfigError::new(
                "consecutive_5xx",
                self.consecutive_5xx,
                format!("an integer in 1..={MAX_CONSECUTIVE_5XX}"),
            ));
        }
        for (key, span) in [
            ("interval", self.interval),
            ("base_ejection_time", self.base_ejection_time),
        ] {
            if span.is_zero() {
                return Err(ConfigError::new(
                    key,
                    format!("\"{span}\""),
                    "a duration greater than zero",
                ));
            }
        }
        let max_ejection_time = match self.max_ejection_time {
            Some(max) if max < self.base_ejection_time => {
                return Err(ConfigError::new(
                    "max_ejection_time",
                    format!("\"{max}\""),
                    format!(
                        "a duration >= base_ejection_time (\"{}\")",
                        self.base_ejection_time
                    ),
                ));
            }
            Some(max) => max,
            None => Span::from_secs(300).max(self.base_ejection_time),
        };
        if self.max_ejection_percent > 100 {
            return Err(ConfigError::new(
                "max_ejection_percent",
                self.max_ejection_percent,
                "an integer percentage in 0..=100",
            ));
        }
        Ok(OutlierSpec {
            consecutive_5xx: self.consecutive_5xx,
            interval: self.interval,
            base_ejection_time: self.base_ejection_time,
            max_ejection_time,
            max_ejection_percent: self.max_ejection_percent,
            always_eject_one_host: self.always_eject_one_host,
            uneject_on_check_pass: self.successful_active_health_check_uneject_host,
        })
    }
}

/// An ejection state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutlierEvent {
    /// The endpoint is ejected: stop sending it traffic.
    Ejected(EndpointId),
    /// The endpoint is back.
    Unejected(EndpointId),
}

#[derive(Clone, Copy, Debug)]
struct Monitor {
    generation: u32,
    consecutive_failures: u32,
    ejected: bool,
    /// Envoy's `ejectTimeBackoff`: the ejection-time multiplier.
    multiplier: u32,
    ejected_at: Timestamp,
    unejected_at: Option<Timestamp>,
    ejections: u64,
}

/// Outlier detection for a set of endpoints (one Envoy cluster).
///
/// # Call order
///
/// 1. `add_endpoint(id)` / `remove_endpoint(id)` as endpoints come and go.
/// 2. `handle_response(now, id, outcome)` for every response from an
///    endpoint: `Failure` for a 5xx or a local-origin error (connect failure,
///    timeout), `Success` otherwise (a 4xx too), `Ignored` to skip it. It
///    returns `Some(Ejected(id))` when the response ejects the endpoint.
/// 3. When `poll_timeout()` (the next sweep) is reached:
///    `handle_timeout(now, &mut events)` un-ejects endpoints whose ejection
///    time is over and decays multipliers.
/// 4. When an active health check passes (and leaves the endpoint healthy):
///    `handle_check_passed(now, id)`, which un-ejects at once if configured.
///
/// # Semantics (Envoy `DetectorImpl`)
///
/// - The `consecutive_5xx`-th failure in a row tries to eject; the counter
///   restarts whether or not the ejection happens. A success resets it.
/// - The guard is computed *after* the ejection, over all endpoints:
///   `100 × (ejected + 1) / endpoints <= max_ejection_percent` (the "true
///   limit" of Envoy PR #27909: with the default 10 % fewer than 10 endpoints
///   means no ejection, unless `always_eject_one_host` and none is ejected).
/// - Each ejection raises the multiplier by one while `multiplier × base <
///   max + base`; the ejection lasts `min(base × multiplier, max)`.
/// - Sweeps run every `interval` from creation. A sweep un-ejects endpoints
///   whose ejection time has elapsed (so an ejection ends on the first sweep
///   after it expires), then lowers by one the multiplier of every endpoint
///   that has been back for at least `interval`.
/// - An endpoint removed while ejected no longer counts toward the limit.
#[derive(Clone, Debug)]
pub struct OutlierDetector {
    spec: OutlierSpec,
    monitors: Vec<Option<Monitor>>,
    count: usize,
    ejected: usize,
    next_sweep: Timestamp,
    overflows: u64,
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
            overflows: 0,
        }
    }

    /// Starts monitoring `id` (not ejected, multiplier 0). Re-adding a present
    /// id restarts it.
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
        self.monitors[index] = Some(Monitor {
            generation: id.generation(),
            consecutive_failures: 0,
            ejected: false,
            multiplier: 0,
            ejected_at: Timestamp::ZERO,
            unejected_at: None,
            ejections: 0,
        });
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
    #[inline]
    pub fn handle_response(
        &mut self,
        now: Timestamp,
        id: EndpointId,
        outcome: Outcome,
    ) -> Option<OutlierEvent> {
        let threshold = self.spec.consecutive_5xx;
        let monitor = self.monitor_mut(id)?;
        match outcome {
            Outcome::Ignored => None,
            Outcome::Success => {
                monitor.consecutive_failures = 0;
                None
            }
            Outcome::Failure => {
                monitor.consecutive_failures = monitor.consecutive_failures.saturating_add(1);
                if monitor.consecutive_failures != threshold || monitor.ejected {
                    return None;
                }
                monitor.consecutive_failures = 0;
                self.try_eject(now, id)
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

    /// Runs the sweep if it is due at `now`, appending un-ejections to
    /// `events` in slot order; the next sweep is `interval` after `now`.
    pub fn handle_timeout(&mut self, now: Timestamp, events: &mut Vec<OutlierEvent>) {
        if now < self.next_sweep {
            return;
        }
        for index in 0..self.monitors.len() {
            let Some(m) = self.monitors[index] else {
                continue;
            };
            if m.ejected && now.saturating_since(m.ejected_at) >= self.ejection_time(m.multiplier) {
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
        }
        self.next_sweep = now + self.spec.interval;
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
        self.overflows
    }

    fn ejection_time(&self, multiplier: u32) -> Span {
        self.spec
            .base_ejection_time
            .saturating_mul(u64::from(multiplier))
            .min(self.spec.max_ejection_time)
    }

    fn try_eject(&mut self, now: Timestamp, id: EndpointId) -> Option<OutlierEvent> {
        let within_limit = 100 * (self.ejected as u64 + 1)
            <= u64::from(self.spec.max_ejection_percent) * self.count as u64;
        let allowed = within_limit || (self.spec.always_eject_one_host && self.ejected == 0);
        if !allowed {
            self.overflows += 1;
            return None;
        }
        let (base, max) = (self.spec.base_ejection_time, self.spec.max_ejection_time);
        let monitor = self.monitor_mut(id)?;
        monitor.ejected = true;
        monitor.ejected_at = now;
        monitor.ejections += 1;
        if base.saturating_mul(u64::from(monitor.multiplier)) < max + base {
            monitor.multiplier += 1;
        }
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
