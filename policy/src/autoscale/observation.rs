//! What a driver observes at each autoscaler sync: the scale target's replica
//! counts, its pods, and one input per configured metric.
//!
//! The shapes mirror what the Kubernetes HPA controller reads from the API
//! server and the metrics APIs (`pkg/controller/podautoscaler/horizontal.go`,
//! `reconcileAutoscaler` / `computeReplicasForMetrics`): `scale.spec.replicas`,
//! `scale.status.replicas`, the pod list (phase, deletion timestamp, start time,
//! `Ready` condition, container CPU requests) and per-pod metric samples.
//! Values are integer milli-units, as the HPA works on `Quantity.MilliValue()`:
//! 250 milli-CPU is `250`, 1000 requests per second is `1_000_000`.

use crate::time::{Span, Timestamp};

/// A pod's lifecycle phase (`v1.PodPhase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PodPhase {
    /// Accepted but not running yet: unscheduled, pulling images, booting.
    Pending,
    /// Bound to a node with at least one container running.
    Running,
    /// All containers terminated successfully (terminal).
    Succeeded,
    /// All containers terminated, at least one in failure (terminal).
    Failed,
}

impl PodPhase {
    /// Whether the phase is terminal (`podutil.IsPodTerminal`).
    #[inline]
    pub fn is_terminal(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// The pod's `Ready` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadyCondition {
    /// `status == True`.
    pub ready: bool,
    /// When the condition last changed status.
    pub last_transition: Timestamp,
}

/// One pod of the scale target, as the pod lister returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PodStatus {
    /// Lifecycle phase.
    pub phase: PodPhase,
    /// The pod has a deletion timestamp (it is shutting down).
    pub deleting: bool,
    /// When the kubelet started the pod; `None` if not started.
    pub start_time: Option<Timestamp>,
    /// The `Ready` condition; `None` if the pod has none yet.
    pub ready: Option<ReadyCondition>,
    /// Sum of the pod's container CPU requests in milli-CPU; `None` if any
    /// container has no CPU request (a CPU utilization metric then errors,
    /// exactly as `calculateRequests` does).
    pub cpu_request_milli: Option<i64>,
}

impl PodStatus {
    /// A running pod that started at `start_time` and has been ready since
    /// then, with `cpu_request_milli` milli-CPU requested.
    pub fn running_ready(start_time: Timestamp, cpu_request_milli: i64) -> Self {
        PodStatus {
            phase: PodPhase::Running,
            deleting: false,
            start_time: Some(start_time),
            ready: Some(ReadyCondition {
                ready: true,
                last_transition: start_time,
            }),
            cpu_request_milli: Some(cpu_request_milli),
        }
    }

    /// Running with a `Ready` condition whose status is true
    /// (`pod.Status.Phase == Running && podutil.IsPodReady`), the test used to
    /// count ready pods for object and external metrics.
    #[inline]
    pub fn is_running_and_ready(&self) -> bool {
        self.phase == PodPhase::Running && self.ready.is_some_and(|c| c.ready)
    }
}

/// One metric sample for one pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sample {
    /// The value in milli-units: milli-CPU of usage summed over the pod's
    /// containers for CPU, milli-units of the metric for a pods metric.
    pub value_milli: i64,
    /// End of the collection window.
    pub timestamp: Timestamp,
    /// Length of the collection window (used by the CPU readiness rule: a
    /// sample is trusted only if a whole window was collected after the pod's
    /// last readiness transition).
    pub window: Span,
}

/// The input for one configured metric, in the order of the autoscaler's
/// metric list (see `HpaSpec::metrics`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricInput<'a> {
    /// Per-pod samples for a CPU or pods metric: `samples[i]` belongs to
    /// `Observation::pods[i]`; `None` means the metrics API returned nothing
    /// for that pod. The slice must be as long as the pod list.
    PerPod(&'a [Option<Sample>]),
    /// The single value of an object metric, or the sum of the series of an
    /// external metric, in milli-units.
    Value(i64),
    /// The metric could not be fetched this sync.
    Unavailable,
}

/// Everything a driver passes to one autoscaler sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation<'a> {
    /// The replica count the workload is currently asked to run
    /// (`scale.spec.replicas`): normally the last decision the driver applied.
    pub spec_replicas: u32,
    /// The number of pods the workload reports (`scale.status.replicas`);
    /// used by per-pod (`average-value`) object and external targets.
    pub status_replicas: u32,
    /// The workload's pods, in any stable order.
    pub pods: &'a [PodStatus],
    /// One input per configured metric, in configuration order.
    pub metrics: &'a [MetricInput<'a>],
}

/// Converts a floating-point metric value (e.g. requests per second) to the
/// integer milli-units the autoscaler works in, rounding to the nearest milli
/// and saturating at the `i64` range; NaN gives zero.
#[inline]
pub fn to_milli(value: f64) -> i64 {
    // `as` saturates for floats and maps NaN to 0.
    (value * 1000.0).round() as i64
}
