//! The `outlier_detection` sub-table ([`OutlierConfig`]) and its checked form
//! ([`OutlierSpec`]): Envoy's `OutlierDetection` keys and defaults for the
//! consecutive-5xx, success-rate and failure-percentage detectors.

use crate::config::ConfigError;
use crate::time::Span;

/// Largest `consecutive_5xx`.
pub const MAX_CONSECUTIVE_5XX: u32 = 1_000_000;

/// Largest `success_rate_request_volume` / `failure_percentage_request_volume`.
pub const MAX_REQUEST_VOLUME: u32 = 1_000_000_000;

/// The `outlier_detection` sub-table (`[policy.load_balancer.outlier_detection]`).
///
/// | key | default | accepted |
/// |---|---|---|
/// | `consecutive_5xx` | `5` | 1..=1000000 |
/// | `enforcing_consecutive_5xx` | `100` | percent 0..=100 |
/// | `interval` | `"10s"` | >= 1 ms (Envoy reads it in whole ms); sweep period (un-ejection, decay, rate detectors) |
/// | `base_ejection_time` | `"30s"` | >= 1 ms |
/// | `max_ejection_time` | `"300s"` or `base_ejection_time` if larger | >= `base_ejection_time` |
/// | `max_ejection_time_jitter` | `"0s"` | added uniformly at random to each ejection, whole ms |
/// | `max_ejection_percent` | `10` | integer percent 0..=100 |
/// | `always_eject_one_host` | `false` | eject one endpoint even when the percentage forbids it |
/// | `successful_active_health_check_uneject_host` | `true` | a passing active check un-ejects |
/// | `success_rate_stdev_factor` | `1900` | thousandths of a standard deviation, 0..=100000 |
/// | `success_rate_minimum_hosts` | `5` | 0..=65536 |
/// | `success_rate_request_volume` | `100` | 0..=10^9 per interval |
/// | `enforcing_success_rate` | `100` | percent 0..=100 |
/// | `failure_percentage_threshold` | `85` | percent 0..=100 |
/// | `failure_percentage_minimum_hosts` | `5` | 0..=65536 |
/// | `failure_percentage_request_volume` | `50` | 0..=10^9 per interval |
/// | `enforcing_failure_percentage` | `0` | percent 0..=100 (off by default, as Envoy) |
///
/// Envoy's defaults. Not modelled: `consecutive_gateway_failure` and the
/// local-origin split (`split_external_local_origin_errors`): every failure
/// counts as external, as Envoy does without the split.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(default, deny_unknown_fields)
)]
pub struct OutlierConfig {
    /// Consecutive failures (5xx or local-origin errors) that eject.
    pub consecutive_5xx: u32,
    /// Chance (percent) that a consecutive-5xx detection is enforced.
    pub enforcing_consecutive_5xx: u32,
    /// Period of the un-ejection / decay / detection sweep.
    pub interval: Span,
    /// Ejection time of a first ejection.
    pub base_ejection_time: Span,
    /// Cap of the ejection time (default: 300 s or `base_ejection_time`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub max_ejection_time: Option<Span>,
    /// Upper bound of the random time added to each ejection.
    pub max_ejection_time_jitter: Span,
    /// Most endpoints ejected at once, in percent of all endpoints.
    pub max_ejection_percent: u32,
    /// Allow one ejection even when `max_ejection_percent` forbids it.
    pub always_eject_one_host: bool,
    /// A passing active health check un-ejects the endpoint.
    pub successful_active_health_check_uneject_host: bool,
    /// Ejection threshold below the mean success rate, in thousandths of a
    /// standard deviation (1900 = 1.9 σ).
    pub success_rate_stdev_factor: u32,
    /// Endpoints with enough requests needed to run the success-rate detector.
    pub success_rate_minimum_hosts: u32,
    /// Requests in an interval for an endpoint to count in the success rate.
    pub success_rate_request_volume: u32,
    /// Chance (percent) that a success-rate detection is enforced.
    pub enforcing_success_rate: u32,
    /// Failure percentage at or above which an endpoint is ejected.
    pub failure_percentage_threshold: u32,
    /// Endpoints with enough requests needed to run the failure-percentage
    /// detector.
    pub failure_percentage_minimum_hosts: u32,
    /// Requests in an interval for an endpoint to count in the failure
    /// percentage.
    pub failure_percentage_request_volume: u32,
    /// Chance (percent) that a failure-percentage detection is enforced.
    pub enforcing_failure_percentage: u32,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_5xx: 5,
            enforcing_consecutive_5xx: 100,
            interval: Span::from_secs(10),
            base_ejection_time: Span::from_secs(30),
            max_ejection_time: None,
            max_ejection_time_jitter: Span::ZERO,
            max_ejection_percent: 10,
            always_eject_one_host: false,
            successful_active_health_check_uneject_host: true,
            success_rate_stdev_factor: 1900,
            success_rate_minimum_hosts: 5,
            success_rate_request_volume: 100,
            enforcing_success_rate: 100,
            failure_percentage_threshold: 85,
            failure_percentage_minimum_hosts: 5,
            failure_percentage_request_volume: 50,
            enforcing_failure_percentage: 0,
        }
    }
}

/// A validated [`OutlierConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutlierSpec {
    /// Consecutive failures that eject, 1..=1000000.
    pub consecutive_5xx: u32,
    /// Enforcement chance of consecutive-5xx detections, percent.
    pub enforcing_consecutive_5xx: u32,
    /// Sweep period, at least 1 ms.
    pub interval: Span,
    /// First ejection time, at least 1 ms.
    pub base_ejection_time: Span,
    /// Ejection time cap, >= `base_ejection_time`.
    pub max_ejection_time: Span,
    /// Jitter bound in whole milliseconds (0: none).
    pub max_ejection_time_jitter_ms: u64,
    /// Ejection limit in percent, 0..=100.
    pub max_ejection_percent: u32,
    /// Allow one ejection beyond the percentage.
    pub always_eject_one_host: bool,
    /// A passing active check un-ejects.
    pub uneject_on_check_pass: bool,
    /// Success-rate threshold factor in thousandths of σ.
    pub success_rate_stdev_factor: u32,
    /// Qualifying endpoints needed by the success-rate detector.
    pub success_rate_minimum_hosts: u32,
    /// Requests per interval for an endpoint to qualify (success rate).
    pub success_rate_request_volume: u32,
    /// Enforcement chance of success-rate detections, percent.
    pub enforcing_success_rate: u32,
    /// Failure percentage that ejects, 0..=100.
    pub failure_percentage_threshold: u32,
    /// Qualifying endpoints needed by the failure-percentage detector.
    pub failure_percentage_minimum_hosts: u32,
    /// Requests per interval for an endpoint to qualify (failure percentage).
    pub failure_percentage_request_volume: u32,
    /// Enforcement chance of failure-percentage detections, percent.
    pub enforcing_failure_percentage: u32,
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
        // Envoy reads both in whole milliseconds (`PROTOBUF_GET_MS_OR_DEFAULT`):
        // a shorter interval would be 0 ms there, a sweep that never waits.
        for (key, span) in [
            ("interval", self.interval),
            ("base_ejection_time", self.base_ejection_time),
        ] {
            if span < Span::from_millis(1) {
                return Err(ConfigError::new(
                    key,
                    format!("\"{span}\""),
                    "a duration of at least \"1ms\" (Envoy reads it in whole milliseconds)",
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
        for (key, percent) in [
            ("max_ejection_percent", self.max_ejection_percent),
            ("enforcing_consecutive_5xx", self.enforcing_consecutive_5xx),
            ("enforcing_success_rate", self.enforcing_success_rate),
            (
                "failure_percentage_threshold",
                self.failure_percentage_threshold,
            ),
            (
                "enforcing_failure_percentage",
                self.enforcing_failure_percentage,
            ),
        ] {
            if percent > 100 {
                return Err(ConfigError::new(
                    key,
                    percent,
                    "an integer percentage in 0..=100",
                ));
            }
        }
        self.validate_counts()?;
        Ok(OutlierSpec {
            consecutive_5xx: self.consecutive_5xx,
            enforcing_consecutive_5xx: self.enforcing_consecutive_5xx,
            interval: self.interval,
            base_ejection_time: self.base_ejection_time,
            max_ejection_time,
            max_ejection_time_jitter_ms: self.max_ejection_time_jitter.as_nanos() / 1_000_000,
            max_ejection_percent: self.max_ejection_percent,
            always_eject_one_host: self.always_eject_one_host,
            uneject_on_check_pass: self.successful_active_health_check_uneject_host,
            success_rate_stdev_factor: self.success_rate_stdev_factor,
            success_rate_minimum_hosts: self.success_rate_minimum_hosts,
            success_rate_request_volume: self.success_rate_request_volume,
            enforcing_success_rate: self.enforcing_success_rate,
            failure_percentage_threshold: self.failure_percentage_threshold,
            failure_percentage_minimum_hosts: self.failure_percentage_minimum_hosts,
            failure_percentage_request_volume: self.failure_percentage_request_volume,
            enforcing_failure_percentage: self.enforcing_failure_percentage,
        })
    }

    fn validate_counts(&self) -> Result<(), ConfigError> {
        if self.success_rate_stdev_factor > 100_000 {
            return Err(ConfigError::new(
                "success_rate_stdev_factor",
                self.success_rate_stdev_factor,
                "an integer in 0..=100000 (thousandths of a standard deviation; 1900 = 1.9)",
            ));
        }
        for (key, hosts) in [
            (
                "success_rate_minimum_hosts",
                self.success_rate_minimum_hosts,
            ),
            (
                "failure_percentage_minimum_hosts",
                self.failure_percentage_minimum_hosts,
            ),
        ] {
            if hosts as usize > crate::balance::MAX_ENDPOINTS {
                return Err(ConfigError::new(
                    key,
                    hosts,
                    format!("an integer in 0..={}", crate::balance::MAX_ENDPOINTS),
                ));
            }
        }
        for (key, volume) in [
            (
                "success_rate_request_volume",
                self.success_rate_request_volume,
            ),
            (
                "failure_percentage_request_volume",
                self.failure_percentage_request_volume,
            ),
        ] {
            if volume > MAX_REQUEST_VOLUME {
                return Err(ConfigError::new(
                    key,
                    volume,
                    format!("an integer in 0..={MAX_REQUEST_VOLUME}"),
                ));
            }
        }
        Ok(())
    }
}
