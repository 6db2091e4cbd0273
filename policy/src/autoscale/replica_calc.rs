//! The HPA replica calculator: one metric's replica proposal, exactly as
//! `kubernetes/kubernetes` `pkg/controller/podautoscaler/replica_calculator.go`
//! computes it (read at the v1.33+ revision with per-direction tolerances;
//! cross-checked against the v2beta2-era copy whose test cases
//! `policy/tests/data/k8s-hpa-replica-calculator-cases.tsv` reproduces).
//!
//! These are pure functions of one observation; the controller in
//! [`super::HpaController`] calls them once per configured metric and sync. Integer
//! milli-units and the same float expressions as the Go code are used so
//! results are identical, including rounding at the tolerance boundary.

use super::observation::{PodPhase, PodStatus, Sample};
use crate::time::{Span, Timestamp};
use std::fmt;

/// Usage-ratio tolerances (`Tolerances` in `replica_calculator.go`): no
/// change while `1 - scale_down <= ratio <= 1 + scale_up`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerances {
    /// Tolerance below the target.
    pub scale_down: f64,
    /// Tolerance above the target.
    pub scale_up: f64,
}

impl Tolerances {
    /// The same tolerance in both directions (the cluster-wide default 0.1).
    pub fn symmetric(tolerance: f64) -> Self {
        Tolerances {
            scale_down: tolerance,
            scale_up: tolerance,
        }
    }

    /// `Tolerances.isWithin`: whether `ratio` is close enough to 1 to keep
    /// the current count. NaN is never within.
    #[inline]
    pub fn is_within(&self, ratio: f64) -> bool {
        (1.0 - self.scale_down) <= ratio && ratio <= (1.0 + self.scale_up)
    }
}

/// The CPU readiness rules (`groupPods`): which samples of starting pods to
/// distrust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuReadiness {
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (default 5 min).
    pub initialization_period: Span,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (default 30 s).
    pub initial_readiness_delay: Span,
}

/// How `groupPods` classifies one pod for one metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PodClass {
    /// Deleting, or in phase `Failed`: left out entirely.
    Ignored,
    /// Pending, or (CPU only) not yet ready or its sample predates
    /// readiness: counts as 0 % on a scale-up, left out otherwise.
    Unready,
    /// No sample: 100 % of target on a scale-down, 0 % on a scale-up.
    Missing,
    /// Has a trusted sample.
    Ready,
}

/// Classifies one pod as `groupPods` does. `cpu` is `Some` for the CPU
/// resource metric, whose readiness rules apply; `None` for pods metrics.
///
/// The rules, in `groupPods`' order (checked against
/// `pkg/controller/podautoscaler/replica_calculator.go` and its
/// `TestGroupPods` table):
///
/// | pod | class |
/// |---|---|
/// | deletion timestamp set, or phase `Failed` | `Ignored` (its sample is dropped too) |
/// | phase `Pending` | `Unready` |
/// | no sample | `Missing` |
/// | CPU, no `Ready` condition or no start time | `Unready` |
/// | CPU, within `initialization_period` of start: not ready, or sample ends before `last_transition + window` | `Unready` |
/// | CPU, after it: not ready and `last_transition < start + initial_readiness_delay` (never ready) | `Unready` |
/// | otherwise (pods metrics never look at readiness) | `Ready` |
///
/// A `Succeeded` pod is counted like a running one, as in every released
/// Kubernetes (the `TestGroupPods` cases use that phase). Kubernetes master
/// ignores it since kubernetes/kubernetes#141302 (August 2026,
/// `podutil.IsPodTerminal`), not yet in a release; a driver that wants that
/// behaviour reports such pods as `deleting`.
///
/// Not expressible: a `Ready` condition of status `Unknown` (node lost).
/// `groupPods` tests `status == False`, so it trusts such a pod's CPU sample,
/// while `IsPodReady` (object and external metrics) tests `== True` and does
/// not count it; [`ReadyCondition::ready`] is one bit, so a driver picks the
/// side it needs (`true` matches `groupPods`).
///
/// [`ReadyCondition::ready`]: super::observation::ReadyCondition::ready
pub fn classify_pod(
    now: Timestamp,
    pod: &PodStatus,
    sample: Option<&Sample>,
    cpu: Option<&CpuReadiness>,
) -> PodClass {
    if pod.deleting || pod.phase == PodPhase::Failed {
        return PodClass::Ignored;
    }
    if pod.phase == PodPhase::Pending {
        return PodClass::Unready;
    }
    let Some(sample) = sample else {
        return PodClass::Missing;
    };
    if let Some(rules) = cpu {
        let unready = match (pod.ready, pod.start_time) {
            (Some(cond), Some(start)) => {
                if start.saturating_add(rules.initialization_period) > now {
                    // Still initialising: distrust unless ready and a whole
                    // window was collected since the last transition.
                    !cond.ready
                        || sample.timestamp < cond.last_transition.saturating_add(sample.window)
                } else {
                    // Unready and never ready since start (within the delay).
                    !cond.ready
                        && start.saturating_add(rules.initial_readiness_delay)
                            > cond.last_transition
                }
            }
            _ => true,
        };
        if unready {
            return PodClass::Unready;
        }
    }
    PodClass::Ready
}

/// The value a metric currently reads, as the HPA status reports it (the
/// original reading, before missing and unready pods are factored in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CurrentMetric {
    /// CPU: utilization in whole percent of request (truncated) and the mean
    /// usage per pod in milli-CPU.
    Utilization {
        /// `currentUtilization`.
        percent: i64,
        /// `rawAverageValue`.
        average_milli: i64,
    },
    /// Mean per pod in milli-units (pods metrics, per-pod object/external).
    AverageValue {
        /// Milli-units per pod.
        milli: i64,
    },
    /// The value itself in milli-units (object/external `Value` targets).
    Value {
        /// Milli-units.
        milli: i64,
    },
}

/// One metric's replica proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Desired replicas according to this metric alone.
    pub replicas: u32,
    /// The metric's current reading.
    pub current: CurrentMetric,
}

/// Why a metric produced no proposal (the HPA treats it as invalid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricError {
    /// The pod list is empty.
    NoPods,
    /// No pod has a trusted sample.
    NoReadyMetrics,
    /// A pod has no CPU request, so utilization is undefined.
    MissingCpuRequest,
    /// The CPU requests of the pods with samples sum to zero.
    NoRequests,
    /// The driver reported the metric as unavailable.
    Unavailable,
    /// The input does not fit the metric (wrong kind, or per-pod samples not
    /// matching the pod list).
    InputMismatch,
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MetricError::NoPods => "no pods returned by selector",
            MetricError::NoReadyMetrics => "did not receive metrics for targeted pods",
            MetricError::MissingCpuRequest => "missing request for cpu",
            MetricError::NoRequests => "no metrics returned matched known pods",
            MetricError::Unavailable => "metric unavailable",
            MetricError::InputMismatch => "metric input does not match the metric",
        })
    }
}

/// Sums over the pods of each class (`groupPods` plus the later
/// adjustments, without building per-pod maps).
#[derive(Default)]
struct Groups {
    ready_count: i64,
    ready_sum: i128,
    ready_requests: i128,
    missing_count: i64,
    missing_requests: i128,
    /// CPU only: Σ request × max(100, target) / 100 over missing pods.
    missing_fallback: i128,
    unready_count: i64,
    unready_requests: i128,
}

fn group(
    now: Timestamp,
    pods: &[PodStatus],
    samples: &[Option<Sample>],
    cpu: Option<(&CpuReadiness, i64)>,
) -> Groups {
    let mut g = Groups::default();
    for (pod, sample) in pods.iter().zip(samples) {
        let request = i128::from(pod.cpu_request_milli.unwrap_or(0));
        match classify_pod(now, pod, sample.as_ref(), cpu.map(|c| c.0)) {
            PodClass::Ignored => {}
            PodClass::Unready => {
                g.unready_count += 1;
                g.unready_requests += request;
            }
            PodClass::Missing => {
                g.missing_count += 1;
                g.missing_requests += request;
                if let Some((_, target)) = cpu {
                    g.missing_fallback += request * i128::from(target.max(100)) / 100;
                }
            }
            PodClass::Ready => {
                g.ready_count += 1;
                // `sample` is `Some` for every `Ready` pod (see classify_pod).
                g.ready_sum += sample.map_or(0, |s| i128::from(s.value_milli));
                g.ready_requests += request;
            }
        }
    }
    g
}

/// `GetResourceReplicas` for CPU with a utilization target.
///
/// `samples[i]` is pod `i`'s CPU usage in milli-CPU; `samples.len()` must
/// equal `pods.len()`.
pub fn cpu_utilization_replicas(
    now: Timestamp,
    current_replicas: u32,
    target_percent: u32,
    pods: &[PodStatus],
    samples: &[Option<Sample>],
    tolerances: Tolerances,
    readiness: &CpuReadiness,
) -> Result<Proposal, MetricError> {
    if samples.len() != pods.len() {
        return Err(MetricError::InputMismatch);
    }
    if pods.is_empty() {
        return Err(MetricError::NoPods);
    }
    let target = i64::from(target_percent);
    let g = group(now, pods, samples, Some((readiness, target)));
    if g.ready_count == 0 {
        return Err(MetricError::NoReadyMetrics);
    }
    if pods.iter().any(|p| p.cpu_request_milli.is_none()) {
        return Err(MetricError::MissingCpuRequest);
    }
    let utilization = utilization_percent(g.ready_sum, g.ready_requests)?;
    let average_milli = saturate_i64(g.ready_sum / i128::from(g.ready_count));
    let current = CurrentMetric::Utilization {
        percent: utilization,
        average_milli,
    };
    let ratio = utilization as f64 / target as f64;

    let scale_up_with_unready = g.unready_count > 0 && ratio > 1.0;
    if !scale_up_with_unready && g.missing_count == 0 {
        let replicas = if tolerances.is_within(ratio) {
            current_replicas
        } else {
            ceil_replicas(ratio * g.ready_count as f64)
        };
        return Ok(Proposal { replicas, current });
    }

    let (mut sum, mut requests, mut len) = (g.ready_sum, g.ready_requests, g.ready_count);
    if g.missing_count > 0 && ratio != 1.0 {
        // Scale-down: missing pods use max(100 %, target) of their request;
        // scale-up: 0 %. Exactly 1.0: left out.
        if ratio < 1.0 {
            sum += g.missing_fallback;
        }
        requests += g.missing_requests;
        len += g.missing_count;
    }
    if scale_up_with_unready {
        requests += g.unready_requests;
        len += g.unready_count;
    }
    let new_ratio = utilization_percent(sum, requests)? as f64 / target as f64;
    let replicas = adjusted_replicas(current_replicas, ratio, new_ratio, len, tolerances);
    Ok(Proposal { replicas, current })
}

/// `GetMetricReplicas` / `calcPlainMetricReplicas` for a pods metric with an
/// average-value target in milli-units. Readiness does not matter for pods
/// metrics; only pending pods count as unready.
pub fn pods_metric_replicas(
    now: Timestamp,
    current_replicas: u32,
    target_milli: i64,
    pods: &[PodStatus],
    samples: &[Option<Sample>],
    tolerances: Tolerances,
) -> Result<Proposal, MetricError> {
    if samples.len() != pods.len() {
        return Err(MetricError::InputMismatch);
    }
    if pods.is_empty() {
        return Err(MetricError::NoPods);
    }
    let g = group(now, pods, samples, None);
    if g.ready_count == 0 {
        return Err(MetricError::NoReadyMetrics);
    }
    let usage = saturate_i64(g.ready_sum / i128::from(g.ready_count));
    let current = CurrentMetric::AverageValue { milli: usage };
    let ratio = usage as f64 / target_milli as f64;

    let scale_up_with_unready = g.unready_count > 0 && ratio > 1.0;
    if !scale_up_with_unready && g.missing_count == 0 {
        let replicas = if tolerances.is_within(ratio) {
            current_replicas
        } else {
            ceil_replicas(ratio * g.ready_count as f64)
        };
        return Ok(Proposal { replicas, current });
    }

    let (mut sum, mut len) = (g.ready_sum, g.ready_count);
    if g.missing_count > 0 && ratio != 1.0 {
        // Scale-down: missing pods use exactly the target; scale-up: 0.
        if ratio < 1.0 {
            sum += i128::from(target_milli) * i128::from(g.missing_count);
        }
        len += g.missing_count;
    }
    if scale_up_with_unready {
        len += g.unready_count;
    }
    let new_usage = saturate_i64(sum / i128::from(len));
    let new_ratio = new_usage as f64 / target_milli as f64;
    let replicas = adjusted_replicas(current_replicas, ratio, new_ratio, len, tolerances);
    Ok(Proposal { replicas, current })
}

/// `GetObjectMetricReplicas` / `GetExternalMetricReplicas` (`Value` target):
/// `ceil(value / target × ready pods)` where ready pods are running and
/// ready (unready pods are ignored, not counted as 0 %). With
/// `current_replicas == 0` the tolerance and pod count are skipped
/// (`getUsageRatioReplicaCount`).
pub fn value_replicas(
    current_replicas: u32,
    value_milli: i64,
    target_milli: i64,
    pods: &[PodStatus],
    tolerances: Tolerances,
) -> Result<Proposal, MetricError> {
    let current = CurrentMetric::Value { milli: value_milli };
    let ratio = value_milli as f64 / target_milli as f64;
    if current_replicas == 0 {
        let replicas = ceil_replicas(ratio);
        return Ok(Proposal { replicas, current });
    }
    if tolerances.is_within(ratio) {
        return Ok(Proposal {
            replicas: current_replicas,
            current,
        });
    }
    if pods.is_empty() {
        return Err(MetricError::NoPods);
    }
    let ready = pods.iter().filter(|p| p.is_running_and_ready()).count();
    let replicas = ceil_replicas(ratio * ready as f64);
    Ok(Proposal { replicas, current })
}

/// `GetObjectPerPodMetricReplicas` / `GetExternalPerPodMetricReplicas`
/// (`AverageValue` target): `ceil(value / target)` unless
/// `value / (target × status_replicas)` is within tolerance. Reports the
/// per-pod average `ceil(value / status_replicas)`.
pub fn average_value_replicas(
    status_replicas: u32,
    value_milli: i64,
    target_milli: i64,
    tolerances: Tolerances,
) -> Proposal {
    let ratio = value_milli as f64 / (target_milli as f64 * f64::from(status_replicas));
    let replicas = if tolerances.is_within(ratio) {
        status_replicas
    } else {
        ceil_replicas(value_milli as f64 / target_milli as f64)
    };
    // getPerPodUsage
    let per_pod = if status_replicas == 0 {
        0
    } else {
        // `as` saturates at i64::MAX, as getPerPodUsage caps at MaxInt64.
        (value_milli as f64 / f64::from(status_replicas)).ceil() as i64
    };
    Proposal {
        replicas,
        current: CurrentMetric::AverageValue { milli: per_pod },
    }
}

/// The tail shared by the CPU and pods calculations once missing and
/// unready pods were factored in.
fn adjusted_replicas(
    current_replicas: u32,
    ratio: f64,
    new_ratio: f64,
    len: i64,
    tolerances: Tolerances,
) -> u32 {
    let flips = (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0);
    if tolerances.is_within(new_ratio) || flips {
        return current_replicas;
    }
    let new_replicas = ceil_replicas(new_ratio * len as f64);
    if (new_ratio < 1.0 && new_replicas > current_replicas)
        || (new_ratio > 1.0 && new_replicas < current_replicas)
    {
        // The change in the number of pods counted would flip the direction.
        return current_replicas;
    }
    new_replicas
}

/// `int32((metricsTotal * 100) / requestsTotal)`, saturating instead of
/// wrapping.
fn utilization_percent(sum: i128, requests: i128) -> Result<i64, MetricError> {
    if requests == 0 {
        return Err(MetricError::NoRequests);
    }
    Ok(saturate_i64(sum.saturating_mul(100) / requests))
}

fn saturate_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// Largest replica proposal: Kubernetes counts replicas in `int32` and
/// saturates there (`getUsageRatioReplicaCount`,
/// `GetExternalPerPodMetricReplicas`: "exceeds the bounds of an int32").
pub const MAX_PROPOSAL: u32 = i32::MAX as u32;

/// `int32(math.Ceil(x))`, saturating to `[0, i32::MAX]` (NaN gives 0).
pub(crate) fn ceil_replicas(x: f64) -> u32 {
    // Float-to-int `as` saturates and maps NaN to 0.
    (x.ceil() as u32).min(MAX_PROPOSAL)
}
