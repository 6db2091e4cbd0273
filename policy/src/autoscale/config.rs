//! The `[policy.autoscaler.NAME]` table as written, and its one-time check
//! into an [`AutoscalerSpec`].
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

use super::spec::{
    AutoscalerSpec, Behavior, HpaSpec, MAX_METRICS, MAX_POLICIES, MAX_REPLICAS_LIMIT, MetricSpec,
    PolicyKind, ScalingPolicy, ScalingRules, SelectPolicy, TargetTrackingSpec, ValueTarget,
};
use crate::config::ConfigError;
use crate::time::Span;

const HOUR: Span = Span::from_secs(3600);
const DAY: Span = Span::from_secs(86_400);

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
    pub policies: Option<Vec<PolicyConfig>>,
    /// This direction's tolerance in [0, 1); default the global `tolerance`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub tolerance: Option<f64>,
}

/// One rate policy as written.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct PolicyConfig {
    /// `"pods"` or `"percent"`.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub kind: PolicyKind,
    /// Pods or percent per period, 1..=1_000_000.
    pub value: u32,
    /// Period, in (0, 30 min].
    pub period: Span,
}

impl AutoscalerConfig {
    /// Checks every key and builds the spec. Errors name the key (relative
    /// to the table; add the table with [`ConfigError::within`]), the value
    /// and the accepted range.
    pub fn build(&self) -> Result<AutoscalerSpec, ConfigError> {
        let min = self.min_replicas.unwrap_or(1);
        let max = self.max_replicas.ok_or_else(|| {
            ConfigError::new("max_replicas", "missing", "an integer >= min_replicas")
        })?;
        if !(1..=MAX_REPLICAS_LIMIT).contains(&min) {
            return Err(ConfigError::new(
                "min_replicas",
                min,
                format!("an integer in 1..={MAX_REPLICAS_LIMIT}"),
            ));
        }
        if !(min..=MAX_REPLICAS_LIMIT).contains(&max) {
            return Err(ConfigError::new(
                "max_replicas",
                max,
                format!("an integer in {min}..={MAX_REPLICAS_LIMIT} (min_replicas..=1000000)"),
            ));
        }
        let sync_period = span_in(
            "sync_period",
            self.sync_period,
            Span::from_secs(15),
            Span::from_secs(1),
            HOUR,
        )?;
        let metrics = self.metric_specs()?;
        match self.algorithm {
            Algorithm::Hpa => self.build_hpa(min, max, sync_period, metrics),
            Algorithm::TargetTracking => self.build_tracking(min, max, sync_period, metrics),
        }
    }

    fn build_hpa(
        &self,
        min: u32,
        max: u32,
        sync_period: Span,
        mut metrics: Vec<MetricSpec>,
    ) -> Result<AutoscalerSpec, ConfigError> {
        for (key, set) in [
            ("scale_out_cooldown", self.scale_out_cooldown.is_some()),
            ("scale_in_cooldown", self.scale_in_cooldown.is_some()),
            ("disable_scale_in", self.disable_scale_in.is_some()),
        ] {
            if set {
                return Err(ConfigError::new(
                    key,
                    "set",
                    "only with algorithm = \"target-tracking\"",
                ));
            }
        }
        if metrics.is_empty() {
            // SetDefaults_HorizontalPodAutoscaler: CPU at 80 %.
            metrics.push(MetricSpec::CpuUtilization { target_percent: 80 });
        }
        let tolerance = tolerance("tolerance", self.tolerance.unwrap_or(0.1))?;
        let downscale_stabilization = span_in(
            "downscale_stabilization",
            self.downscale_stabilization,
            Span::from_secs(300),
            Span::ZERO,
            HOUR,
        )?;
        let behavior = match &self.behavior {
            None => None,
            Some(b) => Some(Behavior {
                scale_up: rules(
                    "behavior.scale_up",
                    b.scale_up.as_ref(),
                    Direction::Up,
                    Span::ZERO,
                    tolerance,
                )?,
                scale_down: rules(
                    "behavior.scale_down",
                    b.scale_down.as_ref(),
                    Direction::Down,
                    downscale_stabilization,
                    tolerance,
                )?,
            }),
        };
        Ok(AutoscalerSpec::Hpa(HpaSpec {
            min_replicas: min,
            max_replicas: max,
            metrics,
            sync_period,
            tolerance,
            cpu_initialization_period: span_in(
                "cpu_initialization_period",
                self.cpu_initialization_period,
                Span::from_secs(300),
                Span::ZERO,
                DAY,
            )?,
            initial_readiness_delay: span_in(
                "initial_readiness_delay",
                self.initial_readiness_delay,
                Span::from_secs(30),
                Span::ZERO,
                DAY,
            )?,
            downscale_stabilization,
            behavior,
        }))
    }

    fn build_tracking(
        &self,
        min: u32,
        max: u32,
        sync_period: Span,
        metrics: Vec<MetricSpec>,
    ) -> Result<AutoscalerSpec, ConfigError> {
        for (key, set) in [
            ("tolerance", self.tolerance.is_some()),
            (
                "cpu_initialization_period",
                self.cpu_initialization_period.is_some(),
            ),
            (
                "initial_readiness_delay",
                self.initial_readiness_delay.is_some(),
            ),
            (
                "downscale_stabilization",
                self.downscale_stabilization.is_some(),
            ),
            ("behavior", self.behavior.is_some()),
        ] {
            if set {
                return Err(ConfigError::new(
                    key,
                    "set",
                    "only with algorithm = \"hpa\"",
                ));
            }
        }
        if metrics.is_empty() {
            return Err(ConfigError::new(
                "metrics",
                "none",
                "at least one of target_cpu_utilization, target_rps or metrics",
            ));
        }
        if let Some(i) = metrics.iter().position(|m| !m.is_per_pod()) {
            let key = format!("metrics[{}].type", i.saturating_sub(self.shorthand_count()));
            return Err(ConfigError::new(
                key,
                "object or external",
                "\"cpu\" or \"pods\" with algorithm = \"target-tracking\"",
            ));
        }
        let cooldown = |key, value| span_in(key, value, Span::from_secs(300), Span::ZERO, DAY);
        Ok(AutoscalerSpec::TargetTracking(TargetTrackingSpec {
            min_replicas: min,
            max_replicas: max,
            metrics,
            sync_period,
            scale_out_cooldown: cooldown("scale_out_cooldown", self.scale_out_cooldown)?,
            scale_in_cooldown: cooldown("scale_in_cooldown", self.scale_in_cooldown)?,
            disable_scale_in: self.disable_scale_in.unwrap_or(false),
        }))
    }

    fn shorthand_count(&self) -> usize {
        usize::from(self.target_cpu_utilization.is_some()) + usize::from(self.target_rps.is_some())
    }

    /// The shorthands, then `metrics`.
    fn metric_specs(&self) -> Result<Vec<MetricSpec>, ConfigError> {
        let total = self.shorthand_count() + self.metrics.len();
        if total > MAX_METRICS {
            return Err(ConfigError::new(
                "metrics",
                format!("{total} metrics"),
                format!("at most {MAX_METRICS} metrics in all"),
            ));
        }
        let mut out = Vec::with_capacity(total);
        if let Some(t) = self.target_cpu_utilization {
            out.push(MetricSpec::CpuUtilization {
                target_percent: cpu_percent("target_cpu_utilization", t)?,
            });
        }
        if let Some(t) = self.target_rps {
            out.push(MetricSpec::Pods {
                name: "rps".to_owned(),
                target_milli: milli("target_rps", t)?,
            });
        }
        for (i, m) in self.metrics.iter().enumerate() {
            out.push(metric_spec(i, m)?);
        }
        Ok(out)
    }
}

fn metric_spec(i: usize, m: &MetricConfig) -> Result<MetricSpec, ConfigError> {
    let key = |k: &str| format!("metrics[{i}].{k}");
    let name = || match m.name.as_deref() {
        Some(n) if !n.is_empty() => Ok(n.to_owned()),
        _ => Err(ConfigError::new(
            key("name"),
            "missing",
            "a non-empty metric name",
        )),
    };
    if m.kind != MetricKind::Object && m.kind != MetricKind::External && m.target_type.is_some() {
        return Err(ConfigError::new(
            key("target_type"),
            "set",
            "only with type = \"object\" or \"external\"",
        ));
    }
    Ok(match m.kind {
        MetricKind::Cpu => {
            if let Some(n) = &m.name {
                return Err(ConfigError::new(
                    key("name"),
                    n,
                    "no name with type = \"cpu\"",
                ));
            }
            MetricSpec::CpuUtilization {
                target_percent: cpu_percent(&key("target"), m.target)?,
            }
        }
        MetricKind::Pods => MetricSpec::Pods {
            name: name()?,
            target_milli: milli(&key("target"), m.target)?,
        },
        MetricKind::Object | MetricKind::External => {
            let t = milli(&key("target"), m.target)?;
            let target = match m.target_type.unwrap_or_default() {
                TargetType::Value => ValueTarget::Value { milli: t },
                TargetType::AverageValue => ValueTarget::AverageValue { milli: t },
            };
            if m.kind == MetricKind::Object {
                MetricSpec::Object {
                    name: name()?,
                    target,
                }
            } else {
                MetricSpec::External {
                    name: name()?,
                    target,
                }
            }
        }
    })
}

/// A utilization fraction with whole-percent precision, 0.01..=10.0.
fn cpu_percent(key: &str, fraction: f64) -> Result<u32, ConfigError> {
    let percent = (fraction * 100.0).round();
    if !fraction.is_finite()
        || !(1.0..=1000.0).contains(&percent)
        || (fraction * 100.0 - percent).abs() > 1e-9
    {
        return Err(ConfigError::new(
            key,
            fraction,
            "a fraction of the CPU request in 0.01..=10.0 with whole-percent precision, e.g. 0.7",
        ));
    }
    // In 1..=1000 by the check above.
    Ok(percent as u32)
}

/// A positive metric value with at most three decimals, in milli-units.
fn milli(key: &str, value: f64) -> Result<i64, ConfigError> {
    let scaled = value * 1000.0;
    let rounded = scaled.round();
    if !value.is_finite()
        || !(1.0..=1e15).contains(&rounded)
        || (scaled - rounded).abs() > 1e-6 * rounded.max(1.0)
    {
        return Err(ConfigError::new(
            key,
            value,
            "a number in 0.001..=1e12 with at most three decimals",
        ));
    }
    // In 1..=1e15 by the check above.
    Ok(rounded as i64)
}

fn tolerance(key: &str, t: f64) -> Result<f64, ConfigError> {
    if t.is_finite() && (0.0..1.0).contains(&t) {
        Ok(t)
    } else {
        Err(ConfigError::new(key, t, "a number in [0, 1)"))
    }
}

fn span_in(
    key: &str,
    value: Option<Span>,
    default: Span,
    lo: Span,
    hi: Span,
) -> Result<Span, ConfigError> {
    let v = value.unwrap_or(default);
    if v < lo || v > hi {
        return Err(ConfigError::new(
            key,
            format!("\"{v}\""),
            format!("a duration in \"{lo}\"..=\"{hi}\""),
        ));
    }
    Ok(v)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// `GenerateHPAScaleUpRules` / `GenerateHPAScaleDownRules`: unset fields
/// take the direction's defaults (pkg/apis/autoscaling/v2/defaults.go).
fn rules(
    table: &str,
    cfg: Option<&ScalingRulesConfig>,
    dir: Direction,
    default_window: Span,
    global_tolerance: f64,
) -> Result<ScalingRules, ConfigError> {
    let cfg = cfg.cloned().unwrap_or_default();
    let key = |k: &str| format!("{table}.{k}");
    let stabilization_window = span_in(
        &key("stabilization_window"),
        cfg.stabilization_window,
        default_window,
        Span::ZERO,
        HOUR,
    )?;
    let period = Span::from_secs(15);
    let policies = match cfg.policies {
        None if dir == Direction::Up => vec![
            ScalingPolicy {
                kind: PolicyKind::Pods,
                value: 4,
                period,
            },
            ScalingPolicy {
                kind: PolicyKind::Percent,
                value: 100,
                period,
            },
        ],
        None => vec![ScalingPolicy {
            kind: PolicyKind::Percent,
            value: 100,
            period,
        }],
        Some(list) => {
            if list.is_empty() || list.len() > MAX_POLICIES {
                return Err(ConfigError::new(
                    key("policies"),
                    format!("{} policies", list.len()),
                    format!("1..={MAX_POLICIES} policies"),
                ));
            }
            let mut out = Vec::with_capacity(list.len());
            for (i, p) in list.iter().enumerate() {
                if !(1..=1_000_000).contains(&p.value) {
                    return Err(ConfigError::new(
                        key(&format!("policies[{i}].value")),
                        p.value,
                        "an integer in 1..=1000000",
                    ));
                }
                if p.period.is_zero() || p.period > Span::from_secs(1800) {
                    return Err(ConfigError::new(
                        key(&format!("policies[{i}].period")),
                        format!("\"{}\"", p.period),
                        "a duration in (0s, 30m]",
                    ));
                }
                out.push(ScalingPolicy {
                    kind: p.kind,
                    value: p.value,
                    period: p.period,
                });
            }
            out
        }
    };
    Ok(ScalingRules {
        stabilization_window,
        select_policy: cfg.select_policy.unwrap_or_default(),
        policies,
        tolerance: tolerance(&key("tolerance"), cfg.tolerance.unwrap_or(global_tolerance))?,
    })
}
