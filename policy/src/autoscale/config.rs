//! The `[policy.autoscaler.NAME]` table as written (checked into an
//! [`super::AutoscalerSpec`] by [`AutoscalerConfig::validate`], in `check.rs`).
//!
//! ```toml
//! [policy.autoscaler.api]
//! algorithm = "hpa"                 # or "target-tracking"; default "hpa"
//! min_replicas = 1                  # default 1
//! max_replicas = 1000               # required
//! target_cpu_utilization = 0.7      # shorthand for { type = "cpu", target = 0.7 }
//! target_rps = 1000.0               # shorthand for { type = "pods", name = "rps", target = 1000.0 }
//! metrics = [{ type = "external", name = "queue", target = 30.0, target_type = "average-value" }]
//! sync_period = "15s"
//! tolerance = 0.1
//! cpu_initialization_period = "5m"
//! initial_readiness_delay = "30s"
//! downscale_stabilization = "5m"
//!
//! [policy.autoscaler.api.behavior.scale_down]
//! stabilization_window = "5m"
//! select_policy = "max"             # "max" | "min" | "disabled"
//! policies = [{ type = "percent", value = 100, period = "15s" }]
//! ```
//!
//! The metric list is the shorthands (CPU first, then `rps`) followed by
//! `metrics`, in that order; the observation supplies one input per entry.
//! Without any metric the HPA scales on CPU at 80 % (the Kubernetes default).

use super::spec::{PolicyKind, SelectPolicy};
use crate::time::Span;

/// Which autoscaling algorithm runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Algorithm {
    /// The Kubernetes HPA (`"hpa"`).
    #[default]
    Hpa,
    /// AWS-style target tracking (`"target-tracking"`).
    TargetTracking,
}

/// `[policy.autoscaler.NAME]` as written. Every key is optional except
/// `max_replicas`; see the module documentation for defaults.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct AutoscalerConfig {
    /// `"hpa"` (default) or `"target-tracking"`.
    pub algorithm: Algorithm,
    /// Lower bound, 1..=`max_replicas`; default 1.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub min_replicas: Option<u32>,
    /// Upper bound, `min_replicas..=1_000_000`; required.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub max_replicas: Option<u32>,
    /// Target CPU utilization as a fraction of request (0.7 = 70 %).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub target_cpu_utilization: Option<f64>,
    /// Target requests per second per instance (pods metric `rps`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub target_rps: Option<f64>,
    /// Further metrics, after the shorthands.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub metrics: Vec<MetricConfig>,
    /// Time between syncs, 1 s..=1 h; default 15 s.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub sync_period: Option<Span>,
    /// HPA: usage-ratio tolerance in [0, 1); default 0.1.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub tolerance: Option<f64>,
    /// HPA: CPU initialization period, ≤ 1 d; default 5 min.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub cpu_initialization_period: Option<Span>,
    /// HPA: initial readiness delay, ≤ 1 d; default 30 s.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub initial_readiness_delay: Option<Span>,
    /// HPA: the legacy path's scale-down window and the default
    /// `behavior.scale_down.stabilization_window`, ≤ 1 h; default 5 min.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub downscale_stabilization: Option<Span>,
    /// HPA: `behavior`; present (even empty) selects the behavior path.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub behavior: Option<BehaviorConfig>,
    /// Target tracking: scale-out cooldown, ≤ 1 d; default 300 s.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub scale_out_cooldown: Option<Span>,
    /// Target tracking: scale-in cooldown, ≤ 1 d; default 300 s.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub scale_in_cooldown: Option<Span>,
    /// Target tracking: never remove capacity; default false.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub disable_scale_in: Option<bool>,
}

/// Kind of a `metrics` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum MetricKind {
    /// CPU utilization; `target` is a fraction of request.
    Cpu,
    /// A per-pod metric; `target` is the average per pod.
    Pods,
    /// An object metric.
    Object,
    /// An external metric.
    External,
}

/// Whether an object/external target is the value or a per-pod average.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum TargetType {
    /// Compare the value itself (default).
    #[default]
    Value,
    /// Divide by the pod count first.
    AverageValue,
}

/// One entry of `metrics`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct MetricConfig {
    /// `"cpu"`, `"pods"`, `"object"` or `"external"`.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub kind: MetricKind,
    /// Metric name; required except for `cpu`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub name: Option<String>,
    /// The target (see [`MetricKind`]).
    pub target: f64,
    /// Object/external only: `"value"` (default) or `"average-value"`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub target_type: Option<TargetType>,
}

/// `behavior`: either direction may be left out and gets the defaults.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct BehaviorConfig {
    /// Scale-up rules; defaults: window 0 s, policies pods 4 / 15 s and
    /// percent 100 / 15 s, `max`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub scale_up: Option<ScalingRulesConfig>,
    /// Scale-down rules; defaults: window `downscale_stabilization`, policy
    /// percent 100 / 15 s, `max`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub scale_down: Option<ScalingRulesConfig>,
}

/// One direction's rules; unset keys take the direction's defaults.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct ScalingRulesConfig {
    /// Stabilization window, ≤ 1 h.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub stabilization_window: Option<Span>,
    /// `"max"`, `"min"` or `"disabled"`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub select_policy: Option<SelectPolicy>,
    /// 1..=16 rate policies.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub policies: Option<Vec<ScalingPolicyConfig>>,
    /// This direction's tolerance in [0, 1); default the global `tolerance`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub tolerance: Option<f64>,
}

/// One rate policy as written.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct ScalingPolicyConfig {
    /// `"pods"` or `"percent"`.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub kind: PolicyKind,
    /// Pods or percent per period, 1..=1_000_000.
    pub value: u32,
    /// Period, in (0, 30 min].
    pub period: Span,
}
