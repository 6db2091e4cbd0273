//! Checked autoscaler configuration: the values [`super::AutoscalerConfig::validate`]
//! produces after every range check, and the only way to construct a
//! controller.

use crate::time::Span;

/// Most metrics one autoscaler may list.
pub const MAX_METRICS: usize = 16;
/// Most rate policies one scaling direction may list.
pub const MAX_POLICIES: usize = 16;
/// Largest accepted `max_replicas`.
pub const MAX_REPLICAS_LIMIT: u32 = 1_000_000;

/// Which algorithm an autoscaler runs, with its checked settings.
#[derive(Clone, Debug, PartialEq)]
pub enum AutoscalerSpec {
    /// The Kubernetes HPA controller.
    Hpa(HpaSpec),
    /// AWS Application Auto Scaling target tracking with cooldowns.
    TargetTracking(TargetTrackingSpec),
}

impl AutoscalerSpec {
    /// The metrics the driver must supply, in [`super::Observation::metrics`] order.
    pub fn metrics(&self) -> &[MetricSpec] {
        match self {
            AutoscalerSpec::Hpa(s) => &s.metrics,
            AutoscalerSpec::TargetTracking(s) => &s.metrics,
        }
    }

    /// Lower bound on the replica count.
    pub fn min_replicas(&self) -> u32 {
        match self {
            AutoscalerSpec::Hpa(s) => s.min_replicas,
            AutoscalerSpec::TargetTracking(s) => s.min_replicas,
        }
    }

    /// Upper bound on the replica count.
    pub fn max_replicas(&self) -> u32 {
        match self {
            AutoscalerSpec::Hpa(s) => s.max_replicas,
            AutoscalerSpec::TargetTracking(s) => s.max_replicas,
        }
    }

    /// Time between syncs.
    pub fn sync_period(&self) -> Span {
        match self {
            AutoscalerSpec::Hpa(s) => s.sync_period,
            AutoscalerSpec::TargetTracking(s) => s.sync_period,
        }
    }
}

/// One metric the autoscaler scales on, with its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricSpec {
    /// Resource metric `cpu` with a `Utilization` target: the pods' total CPU
    /// usage as a whole percentage of their total CPU request. Input:
    /// [`super::MetricInput::PerPod`] with milli-CPU usage.
    CpuUtilization {
        /// Target utilization in percent of request (70 for 0.7).
        target_percent: u32,
    },
    /// Pods metric with an `AverageValue` target (e.g. requests per second
    /// per pod). Input: [`super::MetricInput::PerPod`].
    Pods {
        /// Metric name, e.g. `"rps"`.
        name: String,
        /// Target average per pod in milli-units.
        target_milli: i64,
    },
    /// Object metric (one value describing another object). Input:
    /// [`super::MetricInput::Value`].
    Object {
        /// Metric name.
        name: String,
        /// Target value or per-pod average.
        target: ValueTarget,
    },
    /// External metric (sum of the matching series). Input:
    /// [`super::MetricInput::Value`] with the sum.
    External {
        /// Metric name.
        name: String,
        /// Target value or per-pod average.
        target: ValueTarget,
    },
}

impl MetricSpec {
    /// The metric's name (`"cpu"` for CPU utilization).
    pub fn name(&self) -> &str {
        match self {
            MetricSpec::CpuUtilization { .. } => "cpu",
            MetricSpec::Pods { name, .. }
            | MetricSpec::Object { name, .. }
            | MetricSpec::External { name, .. } => name,
        }
    }

    /// Whether the driver supplies per-pod samples (CPU and pods metrics) or
    /// one value (object and external metrics).
    pub fn is_per_pod(&self) -> bool {
        matches!(
            self,
            MetricSpec::CpuUtilization { .. } | MetricSpec::Pods { .. }
        )
    }
}

/// Target of an object or external metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueTarget {
    /// Compare the value itself with the target (`type: Value`).
    Value {
        /// Target in milli-units.
        milli: i64,
    },
    /// Divide the value by the pod count first (`type: AverageValue`).
    AverageValue {
        /// Target per pod in milli-units.
        milli: i64,
    },
}

/// `selectPolicy` of a scaling direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum SelectPolicy {
    /// The policy allowing the largest change.
    #[default]
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// Kind of a rate policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum PolicyKind {
    /// At most `value` pods per period.
    Pods,
    /// At most `value` percent of the replicas at the period's start.
    Percent,
}

/// One rate policy (`HPAScalingPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScalingPolicy {
    /// Pods or Percent.
    pub kind: PolicyKind,
    /// Pods, or percent, per period (at least 1).
    pub value: u32,
    /// The trailing period the policy must hold over (`periodSeconds`).
    pub period: Span,
}

/// Rules for one scaling direction (`HPAScalingRules`), defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingRules {
    pub(crate) stabilization_window: Span,
    pub(crate) select_policy: SelectPolicy,
    pub(crate) policies: Vec<ScalingPolicy>,
    pub(crate) tolerance: f64,
}

impl ScalingRules {
    /// The stabilization window.
    pub fn stabilization_window(&self) -> Span {
        self.stabilization_window
    }
    /// How the policies combine.
    pub fn select_policy(&self) -> SelectPolicy {
        self.select_policy
    }
    /// The rate policies (at least one).
    pub fn policies(&self) -> &[ScalingPolicy] {
        &self.policies
    }
    /// Usage-ratio tolerance for this direction.
    pub fn tolerance(&self) -> f64 {
        self.tolerance
    }
    /// The longest policy period (`getLongestPolicyPeriod`).
    pub fn longest_period(&self) -> Span {
        self.policies
            .iter()
            .map(|p| p.period)
            .max()
            .unwrap_or(Span::ZERO)
    }
}

/// The HPA `behavior` field, both directions filled with defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Behavior {
    pub(crate) scale_up: ScalingRules,
    pub(crate) scale_down: ScalingRules,
}

impl Behavior {
    /// Scale-up rules.
    pub fn scale_up(&self) -> &ScalingRules {
        &self.scale_up
    }
    /// Scale-down rules.
    pub fn scale_down(&self) -> &ScalingRules {
        &self.scale_down
    }
}

/// Checked settings of the HPA algorithm.
#[derive(Clone, Debug, PartialEq)]
pub struct HpaSpec {
    pub(crate) min_replicas: u32,
    pub(crate) max_replicas: u32,
    pub(crate) metrics: Vec<MetricSpec>,
    pub(crate) sync_period: Span,
    pub(crate) tolerance: f64,
    pub(crate) cpu_initialization_period: Span,
    pub(crate) initial_readiness_delay: Span,
    pub(crate) downscale_stabilization: Span,
    pub(crate) behavior: Option<Behavior>,
}

impl HpaSpec {
    /// Lower bound on replicas (at least 1).
    pub fn min_replicas(&self) -> u32 {
        self.min_replicas
    }
    /// Upper bound on replicas.
    pub fn max_replicas(&self) -> u32 {
        self.max_replicas
    }
    /// The metrics, in observation order.
    pub fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }
    /// Time between syncs.
    pub fn sync_period(&self) -> Span {
        self.sync_period
    }
    /// Usage-ratio tolerance (both directions unless `behavior` overrides).
    pub fn tolerance(&self) -> f64 {
        self.tolerance
    }
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`.
    pub fn cpu_initialization_period(&self) -> Span {
        self.cpu_initialization_period
    }
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`.
    pub fn initial_readiness_delay(&self) -> Span {
        self.initial_readiness_delay
    }
    /// `--horizontal-pod-autoscaler-downscale-stabilization`: the legacy
    /// path's window and the default scale-down window under `behavior`.
    pub fn downscale_stabilization(&self) -> Span {
        self.downscale_stabilization
    }
    /// The `behavior` rules; `None` selects the legacy (no-behavior) path.
    pub fn behavior(&self) -> Option<&Behavior> {
        self.behavior.as_ref()
    }
}

/// Checked settings of target tracking.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetTrackingSpec {
    pub(crate) min_replicas: u32,
    pub(crate) max_replicas: u32,
    pub(crate) metrics: Vec<MetricSpec>,
    pub(crate) sync_period: Span,
    pub(crate) scale_out_cooldown: Span,
    pub(crate) scale_in_cooldown: Span,
    pub(crate) disable_scale_in: bool,
}

impl TargetTrackingSpec {
    /// Lower bound on capacity.
    pub fn min_replicas(&self) -> u32 {
        self.min_replicas
    }
    /// Upper bound on capacity.
    pub fn max_replicas(&self) -> u32 {
        self.max_replicas
    }
    /// The tracked metrics (CPU utilization and pods metrics only).
    pub fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }
    /// Time between evaluations.
    pub fn sync_period(&self) -> Span {
        self.sync_period
    }
    /// `ScaleOutCooldown`.
    pub fn scale_out_cooldown(&self) -> Span {
        self.scale_out_cooldown
    }
    /// `ScaleInCooldown`.
    pub fn scale_in_cooldown(&self) -> Span {
        self.scale_in_cooldown
    }
    /// `DisableScaleIn`.
    pub fn disable_scale_in(&self) -> bool {
        self.disable_scale_in
    }
}
