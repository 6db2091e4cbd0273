//! Autoscaling policies: the Kubernetes Horizontal Pod Autoscaler, exactly,
//! and AWS-style target tracking with cooldowns.
//!
//! Both run at a sync period and answer one question per sync: how many
//! replicas should the workload run? The driver owns the clock and the
//! workload; the policy owns only its histories.
//!
//! - [`HpaController`] reproduces `kube-controller-manager`'s HPA:
//!   per-metric replica calculation ([`replica_calc`]: usage ratio,
//!   tolerance, missing-metric and not-ready pods, direction-flip rule),
//!   multi-metric max with the "an errored metric blocks scale-down" rule,
//!   and normalization — `behavior` stabilization windows and Pods/Percent
//!   rate policies, or the legacy path when no `behavior` is configured.
//! - [`TargetTracker`] implements `desired = ceil(capacity × metric /
//!   target)` with scale-out and scale-in cooldowns.
//! - [`Autoscaler`] wraps either behind one interface for drivers.
//!
//! Configuration: [`AutoscalerConfig`] mirrors `[policy.autoscaler.NAME]` and
//! [`AutoscalerConfig::validate`] checks it into an [`AutoscalerSpec`].
//!
//! Call order (every type): create with `new(spec, now)`; wake up at
//! `poll_timeout()`; call `handle_sync(now, &observation)`; apply the
//! returned `#[must_use]` [`ScaleDecision`].

mod behavior;
mod check;
mod config;
mod hpa;
mod observation;
pub mod replica_calc;
mod spec;
mod target_tracking;

pub use behavior::{MAX_RECOMMENDATIONS, MAX_SCALE_EVENTS};
pub use config::{
    Algorithm, AutoscalerConfig, BehaviorConfig, MetricConfig, MetricKind, ScalingPolicyConfig,
    ScalingRulesConfig, TargetType,
};
pub use hpa::{HistoryLen, HpaController, MetricResult};
pub use observation::{
    MetricInput, Observation, PodPhase, PodStatus, ReadyCondition, Sample, to_milli,
};
pub use replica_calc::{CurrentMetric, MetricError, Proposal, Tolerances};
pub use spec::{
    AutoscalerSpec, Behavior, HpaSpec, MAX_METRICS, MAX_POLICIES, MAX_REPLICAS_LIMIT, MetricSpec,
    PolicyKind, ScalingPolicy, ScalingRules, SelectPolicy, TargetTrackingSpec, ValueTarget,
};
pub use target_tracking::TargetTracker;

use crate::time::Timestamp;
use std::fmt;

/// The outcome of one sync: the replica count the workload should run.
#[must_use = "the decision must be applied to the workload"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleDecision {
    /// The replica count the observation reported (`spec_replicas`).
    pub current_replicas: u32,
    /// The replica count to set.
    pub desired_replicas: u32,
    /// Why.
    pub reason: ScaleReason,
}

impl ScaleDecision {
    /// Whether the decision changes the replica count.
    pub fn is_change(&self) -> bool {
        self.desired_replicas != self.current_replicas
    }
}

/// Why a [`ScaleDecision`] came out as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleReason {
    /// HPA: the workload runs zero replicas, so the HPA does not act
    /// ("scaling is disabled since the replica count of the target is zero").
    ScalingDisabled,
    /// The current count is above `max_replicas`: set to the maximum.
    AboveMaxReplicas,
    /// The current count is below `min_replicas`: set to the minimum.
    BelowMinReplicas,
    /// HPA: every metric errored, or some did and the rest suggest a
    /// scale-down; the count is kept.
    MetricsUnavailable {
        /// How many metrics errored.
        invalid_metrics: u32,
    },
    /// HPA: computed from the metrics.
    Hpa {
        /// Index of the metric with the largest proposal.
        metric: Option<usize>,
        /// The largest per-metric proposal, before normalization.
        proposal: u32,
        /// The proposal after the stabilization windows.
        stabilized: u32,
        /// What stabilization did.
        stabilization: Stabilization,
        /// Which bound, if any, limited the stabilized count.
        limit: Limit,
    },
    /// Target tracking: computed from the metrics.
    TargetTracking {
        /// Index of the deciding metric; `None` without data.
        metric: Option<usize>,
        /// That metric's requested capacity.
        proposal: u32,
        /// What the policy did.
        outcome: TrackingOutcome,
    },
}

/// The HPA's `AbleToScale` condition reasons for stabilization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stabilization {
    /// The recommendation passed unchanged.
    ReadyForNewScale,
    /// A lower recent recommendation held a scale-up back.
    ScaleUpStabilized,
    /// A higher recent recommendation held a scale-down back.
    ScaleDownStabilized,
}

/// The HPA's `ScalingLimited` condition reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Not limited.
    DesiredWithinRange,
    /// Limited by the scale-up rate.
    ScaleUpLimit,
    /// Limited by `max_replicas`.
    TooManyReplicas,
    /// Limited by the scale-down rate.
    ScaleDownLimit,
    /// Limited by `min_replicas`.
    TooFewReplicas,
}

/// What a target-tracking evaluation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackingOutcome {
    /// Capacity added.
    ScaleOut,
    /// Capacity removed.
    ScaleIn,
    /// Every metric is at its target at the current capacity.
    WithinTarget,
    /// A scale-out would be needed from the current capacity, but not beyond
    /// what was already added during the running scale-out cooldown.
    ScaleOutCooldown,
    /// A scale-in was due but the scale-in cooldown is running.
    ScaleInCooldown,
    /// A scale-in was due but scale-in is disabled.
    ScaleInDisabled,
    /// The change would cross `min_replicas` or `max_replicas`.
    AtLimit,
    /// No metric had data, or a scale-in was due but some metric had none.
    NoData,
}

impl ScaleReason {
    /// A short stable label for reports and CSV columns.
    pub fn label(&self) -> &'static str {
        match self {
            ScaleReason::ScalingDisabled => "scaling-disabled",
            ScaleReason::AboveMaxReplicas => "above-max-replicas",
            ScaleReason::BelowMinReplicas => "below-min-replicas",
            ScaleReason::MetricsUnavailable { .. } => "metrics-unavailable",
            ScaleReason::Hpa { limit, .. } => match limit {
                Limit::DesiredWithinRange => "metrics",
                Limit::ScaleUpLimit => "scale-up-limit",
                Limit::TooManyReplicas => "too-many-replicas",
                Limit::ScaleDownLimit => "scale-down-limit",
                Limit::TooFewReplicas => "too-few-replicas",
            },
            ScaleReason::TargetTracking { outcome, .. } => match outcome {
                TrackingOutcome::ScaleOut => "scale-out",
                TrackingOutcome::ScaleIn => "scale-in",
                TrackingOutcome::WithinTarget => "within-target",
                TrackingOutcome::ScaleOutCooldown => "scale-out-cooldown",
                TrackingOutcome::ScaleInCooldown => "scale-in-cooldown",
                TrackingOutcome::ScaleInDisabled => "scale-in-disabled",
                TrackingOutcome::AtLimit => "at-limit",
                TrackingOutcome::NoData => "no-data",
            },
        }
    }
}

impl fmt::Display for ScaleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ScaleReason::MetricsUnavailable { invalid_metrics } => {
                write!(f, "{} ({invalid_metrics} invalid)", self.label())
            }
            ScaleReason::Hpa {
                metric,
                proposal,
                stabilized,
                stabilization,
                ..
            } => {
                write!(f, "{}: proposal {proposal}", self.label())?;
                if let Some(m) = metric {
                    write!(f, " from metric #{m}")?;
                }
                write!(f, ", stabilized {stabilized} ({stabilization:?})")
            }
            ScaleReason::TargetTracking {
                metric, proposal, ..
            } => {
                write!(f, "{}: proposal {proposal}", self.label())?;
                match metric {
                    Some(m) => write!(f, " from metric #{m}"),
                    None => Ok(()),
                }
            }
            _ => f.write_str(self.label()),
        }
    }
}

/// Either autoscaling algorithm behind one interface.
///
/// Call order: [`Autoscaler::new`]; wake up at [`Autoscaler::poll_timeout`];
/// call [`Autoscaler::handle_sync`] with an [`Observation`] carrying one
/// [`MetricInput`] per entry of [`Autoscaler::metrics`]; apply the decision.
#[derive(Clone, Debug)]
pub enum Autoscaler {
    /// The Kubernetes HPA.
    Hpa(HpaController),
    /// Target tracking.
    TargetTracking(TargetTracker),
}

impl Autoscaler {
    /// An autoscaler whose first sync is due at `now`.
    pub fn new(spec: AutoscalerSpec, now: Timestamp) -> Self {
        match spec {
            AutoscalerSpec::Hpa(s) => Autoscaler::Hpa(HpaController::new(s, now)),
            AutoscalerSpec::TargetTracking(s) => {
                Autoscaler::TargetTracking(TargetTracker::new(s, now))
            }
        }
    }

    /// The metrics the observation must carry, in order.
    pub fn metrics(&self) -> &[MetricSpec] {
        match self {
            Autoscaler::Hpa(c) => c.spec().metrics(),
            Autoscaler::TargetTracking(t) => t.spec().metrics(),
        }
    }

    /// When the next sync is due. Always `Some`.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self {
            Autoscaler::Hpa(c) => c.poll_timeout(),
            Autoscaler::TargetTracking(t) => t.poll_timeout(),
        }
    }

    /// One sync at `now`.
    #[must_use = "the decision must be applied to the workload"]
    pub fn handle_sync(&mut self, now: Timestamp, obs: &Observation<'_>) -> ScaleDecision {
        match self {
            Autoscaler::Hpa(c) => c.handle_sync(now, obs),
            Autoscaler::TargetTracking(t) => t.handle_sync(now, obs),
        }
    }
}
