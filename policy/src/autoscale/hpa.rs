//! The Kubernetes HPA controller as a sans-IO state machine: one
//! `reconcileAutoscaler` per [`HpaController::handle_sync`].
//!
//! Source: `kubernetes/kubernetes` `pkg/controller/podautoscaler/horizontal.go`
//! (`reconcileAutoscaler`, `computeReplicasForMetrics`,
//! `computeStatusFor*Metric`, `normalizeDesiredReplicas[WithBehaviors]`,
//! `recordInitialRecommendation`, `storeScaleEvent`), with the per-metric
//! arithmetic in [`super::replica_calc`] and the normalization in
//! [`super::behavior`].

use super::behavior::{
    EventHistory, RateArgs, Recommendations, convert_with_behavior_rate, convert_with_rules,
};
use super::observation::{MetricInput, Observation};
use super::replica_calc::{
    self, CpuReadiness, MetricError, Proposal, Tolerances, average_value_replicas,
    cpu_utilization_replicas, pods_metric_replicas, value_replicas,
};
use super::spec::{HpaSpec, MetricSpec, ValueTarget};
use super::{ScaleDecision, ScaleReason};
use crate::time::Timestamp;

/// One metric's outcome at the last sync.
pub type MetricResult = Result<Proposal, MetricError>;

/// Sizes of the controller's histories, for tests and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoryLen {
    /// Recommendations kept for stabilization.
    pub recommendations: usize,
    /// Scale-up events kept for rate policies.
    pub scale_up_events: usize,
    /// Scale-down events kept for rate policies.
    pub scale_down_events: usize,
    /// Entries dropped because a history reached its cap (zero when the
    /// driver syncs at the configured period).
    pub dropped: u64,
}

/// The HPA controller for one scale target.
///
/// Call order, for a driver:
/// 1. [`HpaController::new`] with the checked spec and the current time;
/// 2. ask [`HpaController::poll_timeout`] when the next sync is due (the
///    first one is due at creation) and arrange to wake up then;
/// 3. at that time, gather an [`Observation`] (replica counts, pods, one
///    [`MetricInput`] per entry of [`HpaSpec::metrics`]) and call
///    [`HpaController::handle_sync`];
/// 4. apply [`ScaleDecision::desired_replicas`] to the workload; the next
///    observation's `spec_replicas` should be that value. The controller
///    records a scale event whenever `desired != current`, as the Go
///    controller does after a successful update of the scale subresource.
///
/// `now` must not decrease between calls. State: the recommendation history
/// (stabilization) and the scale-event history (rate policies), both bounded.
#[derive(Clone, Debug)]
pub struct HpaController {
    spec: HpaSpec,
    next_sync: Timestamp,
    initialized: bool,
    recommendations: Recommendations,
    events: EventHistory,
    results: Vec<Option<MetricResult>>,
}

impl HpaController {
    /// A controller whose first sync is due at `now`.
    pub fn new(spec: HpaSpec, now: Timestamp) -> Self {
        let results = vec![None; spec.metrics.len()];
        HpaController {
            spec,
            next_sync: now,
            initialized: false,
            recommendations: Recommendations::default(),
            events: EventHistory::default(),
            results,
        }
    }

    /// The checked spec.
    pub fn spec(&self) -> &HpaSpec {
        &self.spec
    }

    /// When the next sync is due: the creation time, then the last sync plus
    /// the sync period. Always `Some`.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        Some(self.next_sync)
    }

    /// Each metric's proposal or error at the last sync, in metric order;
    /// `None` where the metrics were not evaluated (replicas out of range or
    /// zero).
    pub fn metric_results(&self) -> &[Option<MetricResult>] {
        &self.results
    }

    /// Current sizes of the histories.
    pub fn history_len(&self) -> HistoryLen {
        HistoryLen {
            recommendations: self.recommendations.len(),
            scale_up_events: self.events.up.len(),
            scale_down_events: self.events.down.len(),
            dropped: self.recommendations.dropped
                + self.events.up.dropped
                + self.events.down.dropped,
        }
    }

    /// One sync (`reconcileAutoscaler`) at `now`: the desired replica count
    /// for the observation. The next sync is due one sync period later.
    #[must_use = "the decision must be applied to the workload"]
    pub fn handle_sync(&mut self, now: Timestamp, obs: &Observation<'_>) -> ScaleDecision {
        self.next_sync = now.saturating_add(self.spec.sync_period);
        let current = obs.spec_replicas;
        if !self.initialized {
            // recordInitialRecommendation
            self.recommendations.record(now, current);
            self.initialized = true;
        }
        self.results.fill(None);
        let (desired, reason) = if current == 0 {
            // Target scaled to zero by hand: the HPA stands down.
            (0, ScaleReason::ScalingDisabled)
        } else if current > self.spec.max_replicas {
            (self.spec.max_replicas, ScaleReason::AboveMaxReplicas)
        } else if current < self.spec.min_replicas {
            (self.spec.min_replicas, ScaleReason::BelowMinReplicas)
        } else {
            match self.compute_replicas_for_metrics(now, obs) {
                Err(invalid_metrics) => {
                    (current, ScaleReason::MetricsUnavailable { invalid_metrics })
                }
                Ok((proposal, metric)) => self.normalize(now, current, proposal, metric),
            }
        };
        if desired != current {
            self.store_scale_event(now, current, desired);
        }
        ScaleDecision {
            current_replicas: current,
            desired_replicas: desired,
            reason,
        }
    }

    /// `computeReplicasForMetrics`: the largest proposal, or the number of
    /// invalid metrics when all are invalid or some are and the valid ones
    /// suggest a scale-down.
    fn compute_replicas_for_metrics(
        &mut self,
        now: Timestamp,
        obs: &Observation<'_>,
    ) -> Result<(u32, Option<usize>), u32> {
        let tolerances = self.tolerances();
        let readiness = CpuReadiness {
            initialization_period: self.spec.cpu_initialization_period,
            initial_readiness_delay: self.spec.initial_readiness_delay,
        };
        let mut replicas = 0u32;
        let mut metric = None;
        let mut invalid = 0u32;
        for (i, spec) in self.spec.metrics.iter().enumerate() {
            // A missing input is a mismatch, never a panic.
            let input = obs.metrics.get(i).copied();
            let result = compute_one(now, spec, input, obs, tolerances, &readiness);
            match result {
                Ok(p) if replicas == 0 || p.replicas > replicas => {
                    replicas = p.replicas;
                    metric = Some(i);
                }
                Ok(_) => {}
                Err(_) => invalid += 1,
            }
            if let Some(slot) = self.results.get_mut(i) {
                *slot = Some(result);
            }
        }
        let n = self.spec.metrics.len() as u32;
        if invalid >= n || (invalid > 0 && replicas < obs.spec_replicas) {
            return Err(invalid);
        }
        Ok((replicas, metric))
    }

    /// `tolerancesForHpa`: per-direction tolerances come from `behavior`
    /// (KEP-4951, treated as enabled), otherwise the global tolerance.
    fn tolerances(&self) -> Tolerances {
        match &self.spec.behavior {
            Some(b) => Tolerances {
                scale_down: b.scale_down.tolerance,
                scale_up: b.scale_up.tolerance,
            },
            None => Tolerances::symmetric(self.spec.tolerance),
        }
    }

    /// `normalizeDesiredReplicas[WithBehaviors]`.
    fn normalize(
        &mut self,
        now: Timestamp,
        current: u32,
        proposal: u32,
        metric: Option<usize>,
    ) -> (u32, ScaleReason) {
        let (min, max) = (self.spec.min_replicas, self.spec.max_replicas);
        let ((stabilized, stabilization), (desired, limit)) = match &self.spec.behavior {
            Some(b) => {
                let stab = self.recommendations.stabilize_with_behaviors(
                    now,
                    current,
                    proposal,
                    b.scale_up.stabilization_window,
                    b.scale_down.stabilization_window,
                );
                let args = RateArgs {
                    now,
                    current,
                    desired: stab.0,
                    min,
                    max,
                    scale_up: &b.scale_up,
                    scale_down: &b.scale_down,
                };
                (stab, convert_with_behavior_rate(&self.events, &args))
            }
            None => {
                let stab = self.recommendations.stabilize_legacy(
                    now,
                    proposal,
                    self.spec.downscale_stabilization,
                );
                (stab, convert_with_rules(current, stab.0, min, max))
            }
        };
        let reason = ScaleReason::Hpa {
            metric,
            proposal,
            stabilized,
            stabilization,
            limit,
        };
        (desired, reason)
    }

    /// `storeScaleEvent`: only with `behavior` (the legacy path reads no
    /// events).
    fn store_scale_event(&mut self, now: Timestamp, previous: u32, new: u32) {
        let Some(b) = &self.spec.behavior else {
            return;
        };
        if new > previous {
            let longest = b.scale_up.longest_period();
            self.events.up.store(now, new - previous, longest);
        } else {
            let longest = b.scale_down.longest_period();
            self.events.down.store(now, previous - new, longest);
        }
    }
}

/// `computeReplicasForMetric` for one metric and its input.
fn compute_one(
    now: Timestamp,
    spec: &MetricSpec,
    input: Option<MetricInput<'_>>,
    obs: &Observation<'_>,
    tolerances: Tolerances,
    readiness: &CpuReadiness,
) -> MetricResult {
    let current = obs.spec_replicas;
    match (spec, input) {
        (_, Some(MetricInput::Unavailable)) => Err(MetricError::Unavailable),
        (MetricSpec::CpuUtilization { target_percent }, Some(MetricInput::PerPod(samples))) => {
            cpu_utilization_replicas(
                now,
                current,
                *target_percent,
                obs.pods,
                samples,
                tolerances,
                readiness,
            )
        }
        (MetricSpec::Pods { target_milli, .. }, Some(MetricInput::PerPod(samples))) => {
            pods_metric_replicas(now, current, *target_milli, obs.pods, samples, tolerances)
        }
        (
            MetricSpec::Object { target, .. } | MetricSpec::External { target, .. },
            Some(MetricInput::Value(value)),
        ) => match *target {
            ValueTarget::Value { milli } => {
                value_replicas(current, value, milli, obs.pods, tolerances)
            }
            ValueTarget::AverageValue { milli } => Ok(average_value_replicas(
                obs.status_replicas,
                value,
                milli,
                tolerances,
            )),
        },
        _ => Err(replica_calc::MetricError::InputMismatch),
    }
}
