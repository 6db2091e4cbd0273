//! Target tracking with cooldowns, after AWS Application Auto Scaling
//! (`TargetTrackingScalingPolicyConfiguration`: `ScaleOutCooldown`,
//! `ScaleInCooldown`, `DisableScaleIn`; policy-semantics.md §7.3).
//!
//! Each evaluation computes, per tracked metric, `desired = ceil(capacity ×
//! metric / target)` and combines the metrics the way an EC2 Auto Scaling
//! group combines several target-tracking policies: scale out if any metric
//! asks for more, scale in only if every metric (with data) asks for less,
//! and then to the largest of their requests.
//!
//! Cooldowns:
//! - a scale-in starts the scale-in cooldown; no further scale-in until it
//!   ends;
//! - a scale-out starts (or extends) the scale-out cooldown and **interrupts**
//!   the scale-in cooldown (it stops and does not complete);
//! - during the scale-out cooldown the capacity added by the scale-out that
//!   started it counts toward the next scale-out: the next request is
//!   computed from the capacity *before* that scale-out (the cooldown's
//!   base), so a policy that added 2 and now asks for 3 adds only 1. The
//!   base is kept while scale-outs extend the cooldown. This reading of the
//!   AWS wording for a proportional policy is this module's interpretation.
//!
//! Capacity outside `[min, max]` is moved to the nearest bound at once and
//! starts no cooldown; `disable_scale_in` does not prevent that.

use super::observation::{MetricInput, Observation};
use super::replica_calc::ceil_replicas;
use super::spec::{MetricSpec, TargetTrackingSpec};
use super::{ScaleDecision, ScaleReason, TrackingOutcome};
use crate::time::Timestamp;

/// Cooldown opened by a scale-out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ScaleOutCooldown {
    until: Timestamp,
    /// Capacity before the scale-out that opened the cooldown.
    base: u32,
}

/// A target-tracking scaling policy for one scalable target.
///
/// Call order: [`TargetTracker::new`]; then at each
/// [`TargetTracker::poll_timeout`] either [`TargetTracker::handle_sync`]
/// with an [`Observation`] (the per-instance metric averages are derived
/// from it) or [`TargetTracker::handle_metrics`] with the averages directly;
/// apply the returned [`ScaleDecision`]. `now` must not decrease.
#[derive(Clone, Debug)]
pub struct TargetTracker {
    spec: TargetTrackingSpec,
    next_sync: Timestamp,
    scale_out: Option<ScaleOutCooldown>,
    scale_in_until: Option<Timestamp>,
    values: Vec<Option<f64>>,
}

impl TargetTracker {
    /// A tracker whose first evaluation is due at `now`.
    pub fn new(spec: TargetTrackingSpec, now: Timestamp) -> Self {
        let values = vec![None; spec.metrics.len()];
        TargetTracker {
            spec,
            next_sync: now,
            scale_out: None,
            scale_in_until: None,
            values,
        }
    }

    /// The checked spec.
    pub fn spec(&self) -> &TargetTrackingSpec {
        &self.spec
    }

    /// When the next evaluation is due. Always `Some`.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        Some(self.next_sync)
    }

    /// Whether a scale-out cooldown is running at `now`.
    pub fn in_scale_out_cooldown(&self, now: Timestamp) -> bool {
        self.scale_out.is_some_and(|c| now < c.until)
    }

    /// Whether a scale-in cooldown is running at `now`.
    pub fn in_scale_in_cooldown(&self, now: Timestamp) -> bool {
        self.scale_in_until.is_some_and(|u| now < u)
    }

    /// Evaluates the policy on an observation: per metric, the average over
    /// running, ready, non-deleting pods with a sample (CPU: total usage over
    /// total request, as a fraction; pods metrics: the mean in metric units).
    #[must_use = "the decision must be applied to the scalable target"]
    pub fn handle_sync(&mut self, now: Timestamp, obs: &Observation<'_>) -> ScaleDecision {
        let mut values = std::mem::take(&mut self.values);
        for (i, slot) in values.iter_mut().enumerate() {
            *slot = match (self.spec.metrics.get(i), obs.metrics.get(i)) {
                (Some(spec), Some(MetricInput::PerPod(samples))) => average(spec, obs, samples),
                _ => None,
            };
        }
        let decision = self.handle_metrics(now, obs.spec_replicas, &values);
        self.values = values;
        decision
    }

    /// Evaluates the policy at `now` for `current` capacity and one average
    /// per tracked metric, in metric units (CPU as a utilization fraction,
    /// pods metrics in their unit, e.g. requests per second per instance);
    /// `None`, negative or non-finite means no data for that metric.
    #[must_use = "the decision must be applied to the scalable target"]
    pub fn handle_metrics(
        &mut self,
        now: Timestamp,
        current: u32,
        values: &[Option<f64>],
    ) -> ScaleDecision {
        self.next_sync = now.saturating_add(self.spec.sync_period);
        if self.scale_out.is_some_and(|c| now >= c.until) {
            self.scale_out = None;
        }
        if self.scale_in_until.is_some_and(|u| now >= u) {
            self.scale_in_until = None;
        }
        let (desired, reason) = if current < self.spec.min_replicas {
            (self.spec.min_replicas, ScaleReason::BelowMinReplicas)
        } else if current > self.spec.max_replicas {
            (self.spec.max_replicas, ScaleReason::AboveMaxReplicas)
        } else {
            self.evaluate(now, current, values)
        };
        ScaleDecision {
            current_replicas: current,
            desired_replicas: desired,
            reason,
        }
    }

    /// Each metric's request, combined: the largest scale-out request
    /// (computed from `out_base`) above `current`, and the largest request
    /// computed from `current`.
    fn requests(&self, current: u32, out_base: u32, values: &[Option<f64>]) -> Requests {
        let mut r = Requests {
            out: None,
            keep: None,
            all_have_data: true,
        };
        for (i, spec) in self.spec.metrics.iter().enumerate() {
            let value = values
                .get(i)
                .copied()
                .flatten()
                .filter(|v| v.is_finite() && *v >= 0.0);
            let Some(value) = value else {
                r.all_have_data = false;
                continue;
            };
            let ratio = value / target(spec);
            let want_out = ceil_replicas(f64::from(out_base) * ratio);
            let want = ceil_replicas(f64::from(current) * ratio);
            if want_out > current && r.out.is_none_or(|(o, _)| want_out > o) {
                r.out = Some((want_out, i));
            }
            if r.keep.is_none_or(|(k, _)| want > k) {
                r.keep = Some((want, i));
            }
        }
        r
    }

    fn evaluate(
        &mut self,
        now: Timestamp,
        current: u32,
        values: &[Option<f64>],
    ) -> (u32, ScaleReason) {
        let out_base = self.scale_out.map_or(current, |c| c.base);
        let Requests {
            out,
            keep,
            all_have_data,
        } = self.requests(current, out_base, values);
        let reason = |metric, proposal, outcome| ScaleReason::TargetTracking {
            metric: Some(metric),
            proposal,
            outcome,
        };
        if let Some((proposal, i)) = out {
            let desired = proposal.min(self.spec.max_replicas);
            if desired <= current {
                return (current, reason(i, proposal, TrackingOutcome::AtLimit));
            }
            self.scale_out = Some(ScaleOutCooldown {
                until: now.saturating_add(self.spec.scale_out_cooldown),
                base: out_base,
            });
            self.scale_in_until = None;
            return (desired, reason(i, proposal, TrackingOutcome::ScaleOut));
        }
        let Some((proposal, i)) = keep else {
            let no_data = ScaleReason::TargetTracking {
                metric: None,
                proposal: current,
                outcome: TrackingOutcome::NoData,
            };
            return (current, no_data);
        };
        if proposal > current && self.scale_out.is_some() {
            // Asks for more than `current`, but not more than the capacity
            // already added since the cooldown's base: held.
            return (
                current,
                reason(i, proposal, TrackingOutcome::ScaleOutCooldown),
            );
        }
        if proposal >= current {
            return (current, reason(i, proposal, TrackingOutcome::WithinTarget));
        }
        if !all_have_data {
            return (current, reason(i, proposal, TrackingOutcome::NoData));
        }
        let desired = proposal.max(self.spec.min_replicas);
        let outcome = if desired >= current {
            TrackingOutcome::AtLimit
        } else if self.spec.disable_scale_in {
            TrackingOutcome::ScaleInDisabled
        } else if self.in_scale_in_cooldown(now) {
            TrackingOutcome::ScaleInCooldown
        } else {
            self.scale_in_until = Some(now.saturating_add(self.spec.scale_in_cooldown));
            return (desired, reason(i, proposal, TrackingOutcome::ScaleIn));
        };
        (current, reason(i, proposal, outcome))
    }
}

/// The combined requests of one evaluation: (capacity, metric index).
struct Requests {
    /// Largest scale-out request above the current capacity.
    out: Option<(u32, usize)>,
    /// Largest request computed from the current capacity.
    keep: Option<(u32, usize)>,
    /// Every metric had a usable value.
    all_have_data: bool,
}

/// The metric's target in metric units.
fn target(spec: &MetricSpec) -> f64 {
    match spec {
        MetricSpec::CpuUtilization { target_percent } => f64::from(*target_percent) / 100.0,
        MetricSpec::Pods { target_milli, .. } => *target_milli as f64 / 1000.0,
        // Rejected by the config for target tracking; never reached from a
        // checked spec, and harmless (no data) if it were.
        MetricSpec::Object { .. } | MetricSpec::External { .. } => f64::NAN,
    }
}

/// The per-instance average of a per-pod metric over running, ready,
/// non-deleting pods with a sample.
fn average(
    spec: &MetricSpec,
    obs: &Observation<'_>,
    samples: &[Option<super::observation::Sample>],
) -> Option<f64> {
    if samples.len() != obs.pods.len() {
        return None;
    }
    let mut sum: i128 = 0;
    let mut requests: i128 = 0;
    let mut count: i64 = 0;
    for (pod, sample) in obs.pods.iter().zip(samples) {
        let Some(sample) = sample else { continue };
        if pod.deleting || !pod.is_running_and_ready() {
            continue;
        }
        sum += i128::from(sample.value_milli);
        requests += i128::from(pod.cpu_request_milli.unwrap_or(0));
        count += 1;
    }
    match spec {
        MetricSpec::CpuUtilization { .. } if requests > 0 => Some(sum as f64 / requests as f64),
        MetricSpec::Pods { .. } if count > 0 => Some(sum as f64 / count as f64 / 1000.0),
        _ => None,
    }
}
