//! The `[policy.load_balancer]` table ([`LoadBalancerConfig`]), its checked form
//! ([`BalancerSpec`]) and the algorithm names services use
//! (`load_balancer = "least-connections"`).

use std::fmt;
use std::str::FromStr;

use crate::config::ConfigError;
use crate::health::{HealthCheckConfig, HealthCheckSpec, OutlierConfig, OutlierSpec};
use crate::time::Span;

use super::sample::MAX_CHOICE_COUNT;
use super::slow_start::{SlowStart, SlowStartConfig};

/// Largest `active_request_bias`.
pub const MAX_ACTIVE_REQUEST_BIAS: f64 = 100.0;

/// A load-balancing algorithm, named as in the scenario file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum Algorithm {
    /// `"round-robin"`: rotate from a random start; unequal weights use an EDF
    /// schedule (Envoy). The default, as in Envoy.
    #[default]
    RoundRobin,
    /// `"random"`: uniform, or proportional to weight.
    Random,
    /// `"least-connections"`: fewest active requests per unit weight, scanning
    /// from a rotating position so ties go round-robin.
    LeastConnections,
    /// `"least-request"`: Envoy least request, `choice_count` distinct random
    /// candidates, fewest active requests wins; unequal weights use EDF with
    /// `weight / (active + 1)^active_request_bias`.
    LeastRequest,
    /// `"peak-ewma"`: Linkerd P2C over `rtt_ewma × (active + 1)`.
    PeakEwma,
}

impl Algorithm {
    /// Every algorithm, in documentation order.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::RoundRobin,
        Algorithm::Random,
        Algorithm::LeastConnections,
        Algorithm::LeastRequest,
        Algorithm::PeakEwma,
    ];

    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round-robin",
            Algorithm::Random => "random",
            Algorithm::LeastConnections => "least-connections",
            Algorithm::LeastRequest => "least-request",
            Algorithm::PeakEwma => "peak-ewma",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An algorithm name that is not one of [`Algorithm::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownAlgorithm(pub String);

impl UnknownAlgorithm {
    /// The accepted names, for error messages.
    pub const ACCEPTED: &'static str = "one of \"round-robin\", \"random\", \"least-connections\", \"least-request\", \"peak-ewma\"";

    /// As a [`ConfigError`] for `key`.
    pub fn into_config_error(self, key: &str) -> ConfigError {
        ConfigError::new(key, format!("{:?}", self.0), Self::ACCEPTED)
    }
}

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not {}", self.0, Self::ACCEPTED)
    }
}

impl std::error::Error for UnknownAlgorithm {}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

/// The `[policy.load_balancer]` table.
///
/// | key | default | accepted |
/// |---|---|---|
/// | `algorithm` | `"round-robin"` | see [`Algorithm`] |
/// | `choice_count` | `2` | 2..=16 (least-request, peak-ewma) |
/// | `active_request_bias` | `1.0` | finite, 0..=100 (least-request, unequal weights) |
/// | `default_rtt` | `"30ms"` | > 0 (peak-ewma seed, Linkerd) |
/// | `decay` | `"10s"` | >= 1ms (peak-ewma time constant, Linkerd) |
/// | `health_check` | absent (no active checks) | [`HealthCheckConfig`] |
/// | `outlier_detection` | absent (no ejection) | [`OutlierConfig`] |
/// | `slow_start` | absent (no ramp) | [`SlowStartConfig`]; not with `peak-ewma` |
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(default, deny_unknown_fields)
)]
pub struct LoadBalancerConfig {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Distinct random candidates per pick (P2C when 2).
    pub choice_count: u32,
    /// Exponent of `(active + 1)` in least-request's dynamic weight.
    pub active_request_bias: f64,
    /// Peak-EWMA RTT estimate of a new endpoint.
    pub default_rtt: Span,
    /// Peak-EWMA decay time constant τ.
    pub decay: Span,
    /// Active health checks of the endpoints.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub health_check: Option<HealthCheckConfig>,
    /// Outlier ejection on consecutive failures.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub outlier_detection: Option<OutlierConfig>,
    /// Slow start of new endpoints.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub slow_start: Option<SlowStartConfig>,
}

impl Default for LoadBalancerConfig {
    fn default() -> Self {
        LoadBalancerConfig {
            algorithm: Algorithm::default(),
            choice_count: 2,
            active_request_bias: 1.0,
            default_rtt: Span::from_millis(30),
            decay: Span::from_secs(10),
            health_check: None,
            outlier_detection: None,
            slow_start: None,
        }
    }
}

/// A validated [`LoadBalancerConfig`].
#[derive(Clone, Debug, PartialEq)]
pub struct BalancerSpec {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Candidates per P2C pick, 2..=16.
    pub choice_count: usize,
    /// Least-request bias, finite and in 0..=100.
    pub active_request_bias: f64,
    /// Peak-EWMA seed, > 0.
    pub default_rtt: Span,
    /// Peak-EWMA decay, >= 1 ms.
    pub decay: Span,
    /// Checked health-check settings, if configured.
    pub health_check: Option<HealthCheckSpec>,
    /// Checked outlier-detection settings, if configured.
    pub outlier_detection: Option<OutlierSpec>,
    /// Slow start of new endpoints, if configured.
    pub slow_start: Option<SlowStart>,
}

impl BalancerSpec {
    /// A spec with `algorithm` and every other key at its default.
    pub fn with_algorithm(algorithm: Algorithm) -> Self {
        let config = LoadBalancerConfig {
            algorithm,
            ..LoadBalancerConfig::default()
        };
        match config.validate() {
            Ok(spec) => spec,
            // The defaults are constants inside every accepted range.
            Err(err) => unreachable!("default balancer config is valid: {err}"),
        }
    }
}

impl LoadBalancerConfig {
    /// Checks every range, naming the first bad key (sub-table keys are
    /// prefixed, e.g. `health_check.interval`).
    pub fn validate(&self) -> Result<BalancerSpec, ConfigError> {
        let choice_count = self.choice_count as usize;
        if !(2..=MAX_CHOICE_COUNT).contains(&choice_count) {
            return Err(ConfigError::new(
                "choice_count",
                self.choice_count,
                format!("an integer in 2..={MAX_CHOICE_COUNT}"),
            ));
        }
        let bias = self.active_request_bias;
        if !(bias.is_finite() && (0.0..=MAX_ACTIVE_REQUEST_BIAS).contains(&bias)) {
            return Err(ConfigError::new(
                "active_request_bias",
                bias,
                format!("a finite number in 0..={MAX_ACTIVE_REQUEST_BIAS} (1.0 = Envoy's default)"),
            ));
        }
        if self.default_rtt.is_zero() {
            return Err(ConfigError::new(
                "default_rtt",
                format!("\"{}\"", self.default_rtt),
                "a duration greater than zero, e.g. \"30ms\"",
            ));
        }
        if self.decay < Span::from_millis(1) {
            return Err(ConfigError::new(
                "decay",
                format!("\"{}\"", self.decay),
                "a duration of at least \"1ms\", e.g. \"10s\"",
            ));
        }
        let health_check = match &self.health_check {
            Some(hc) => Some(hc.validate().map_err(|e| e.within("health_check"))?),
            None => None,
        };
        let outlier_detection = match &self.outlier_detection {
            Some(od) => Some(od.validate().map_err(|e| e.within("outlier_detection"))?),
            None => None,
        };
        let slow_start = match &self.slow_start {
            Some(_) if self.algorithm == Algorithm::PeakEwma => {
                return Err(ConfigError::new(
                    "slow_start",
                    "a table",
                    "no `slow_start` with algorithm = \"peak-ewma\" (it ignores weights); \
                     round-robin, random, least-connections and least-request ramp up",
                ));
            }
            Some(ss) => Some(ss.validate().map_err(|e| e.within("slow_start"))?),
            None => None,
        };
        Ok(BalancerSpec {
            algorithm: self.algorithm,
            choice_count,
            active_request_bias: bias,
            default_rtt: self.default_rtt,
            decay: self.decay,
            health_check,
            outlier_detection,
            slow_start,
        })
    }
}
