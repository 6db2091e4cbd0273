//! The one-time check of an [`AutoscalerConfig`] into an [`AutoscalerSpec`]:
//! defaults filled in, every range enforced, errors naming key, value and
//! accepted range.

use super::config::{
    Algorithm, AutoscalerConfig, MetricConfig, MetricKind, ScalingPolicyConfig, ScalingRulesConfig,
    TargetType,
};
use super::spec::{
    AutoscalerSpec, Behavior, HpaSpec, MAX_METRICS, MAX_POLICIES, MAX_REPLICAS_LIMIT, MetricSpec,
    PolicyKind, ScalingPolicy, ScalingRules, TargetTrackingSpec, ValueTarget,
};
use crate::config::ConfigError;
use crate::time::Span;

const HOUR: Span = Span::from_secs(3600);
const DAY: Span = Span::from_secs(86_400);

impl AutoscalerConfig {
    /// Checks every key and builds the spec. Errors name the key (relative
    /// to the table; add the table with [`ConfigError::within`]), the value
    /// and the accepted range.
    pub fn validate(&self) -> Result<AutoscalerSpec, ConfigError> {
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
        reject_set(
            &[
                ("scale_out_cooldown", self.scale_out_cooldown.is_some()),
                ("scale_in_cooldown", self.scale_in_cooldown.is_some()),
                ("disable_scale_in", self.disable_scale_in.is_some()),
            ],
            "only with algorithm = \"target-tracking\"",
        )?;
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
        reject_set(
            &[
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
            ],
            "only with algorithm = \"hpa\"",
        )?;
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
    let policies = match &cfg.policies {
        None => default_policies(dir),
        Some(list) => checked_policies(table, list)?,
    };
    Ok(ScalingRules {
        stabilization_window,
        select_policy: cfg.select_policy.unwrap_or_default(),
        policies,
        tolerance: tolerance(&key("tolerance"), cfg.tolerance.unwrap_or(global_tolerance))?,
    })
}

/// A key set for the other algorithm.
fn reject_set(keys: &[(&str, bool)], expected: &str) -> Result<(), ConfigError> {
    match keys.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(ConfigError::new(*key, "set", expected)),
        None => Ok(()),
    }
}

/// The default policies of a direction (`defaultHPAScale{Up,Down}Rules`).
fn default_policies(dir: Direction) -> Vec<ScalingPolicy> {
    let period = Span::from_secs(15);
    let percent_100 = ScalingPolicy {
        kind: PolicyKind::Percent,
        value: 100,
        period,
    };
    match dir {
        Direction::Up => vec![
            ScalingPolicy {
                kind: PolicyKind::Pods,
                value: 4,
                period,
            },
            percent_100,
        ],
        Direction::Down => vec![percent_100],
    }
}

/// 1..=16 policies, each with a value in 1..=1 000 000 and a period in
/// (0, 30 min] (`periodSeconds` ≤ 1800).
fn checked_policies(
    table: &str,
    list: &[ScalingPolicyConfig],
) -> Result<Vec<ScalingPolicy>, ConfigError> {
    if list.is_empty() || list.len() > MAX_POLICIES {
        return Err(ConfigError::new(
            format!("{table}.policies"),
            format!("{} policies", list.len()),
            format!("1..={MAX_POLICIES} policies"),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        if !(1..=1_000_000).contains(&p.value) {
            return Err(ConfigError::new(
                format!("{table}.policies[{i}].value"),
                p.value,
                "an integer in 1..=1000000",
            ));
        }
        if p.period.is_zero() || p.period > Span::from_secs(1800) {
            return Err(ConfigError::new(
                format!("{table}.policies[{i}].period"),
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
    Ok(out)
}
