//! `groupPods` classification (`TestGroupPods`) and replica-calculator
//! errors, from `kubernetes/kubernetes`
//! `pkg/controller/podautoscaler/replica_calculator_test.go`.

#![cfg(feature = "serde")]

use crate::autoscale_common::{at, pod};
use headroom_policy::autoscale::replica_calc::{
    CpuReadiness, MAX_PROPOSAL, PodClass, average_value_replicas, classify_pod,
    cpu_utilization_replicas, value_replicas,
};
use headroom_policy::autoscale::{
    MetricError, PodPhase, PodStatus, ReadyCondition, Sample, Tolerances,
};
use headroom_policy::time::{Span, Timestamp};

/// The k8s test settings: 2 min initialization, 10 s readiness delay.
const READINESS: CpuReadiness = CpuReadiness {
    initialization_period: Span::from_secs(120),
    initial_readiness_delay: Span::from_secs(10),
};

fn now() -> Timestamp {
    at(3600)
}

fn sample_at(t: Timestamp, window: Span) -> Sample {
    Sample {
        value_milli: 1,
        timestamp: t,
        window,
    }
}

fn pod_with(start: Timestamp, ready: bool, transition: Timestamp) -> PodStatus {
    PodStatus {
        ready: Some(ReadyCondition {
            ready,
            last_transition: transition,
        }),
        ..pod(start, ready, 1000)
    }
}

/// `TestGroupPods`. Upstream writes its cases with pods in phase `Succeeded`
/// (released Kubernetes counts them like running pods); each case runs here
/// in both phases and must classify the same.
#[test]
fn group_pods_cases() {
    let n = now();
    let m = |s: u64| n - Span::from_secs(s);
    let w = Span::from_secs;
    let cpu = Some(&READINESS);
    let cases: Vec<(&str, PodStatus, Option<Sample>, bool, PodClass)> = vec![
        (
            "ready pod, memory",
            pod(n, true, 1000),
            Some(sample_at(n, w(60))),
            false,
            PodClass::Ready,
        ),
        (
            "no ready condition, CPU",
            PodStatus {
                ready: None,
                ..pod(n, true, 1000)
            },
            Some(sample_at(n, w(60))),
            true,
            PodClass::Unready,
        ),
        (
            "no start time, CPU",
            PodStatus {
                start_time: None,
                ..pod(n, true, 1000)
            },
            Some(sample_at(n, w(60))),
            true,
            PodClass::Unready,
        ),
        (
            "ready with fresh metrics during initialization",
            pod_with(m(60), true, m(30)),
            Some(sample_at(n, w(30))),
            true,
            PodClass::Ready,
        ),
        (
            "ready without fresh metrics during initialization",
            pod_with(m(60), true, m(30)),
            Some(sample_at(n, w(60))),
            true,
            PodClass::Unready,
        ),
        (
            "unready during initialization",
            pod_with(m(60), false, m(30)),
            Some(sample_at(n, w(30))),
            true,
            PodClass::Unready,
        ),
        (
            "unready, never ready, after initialization",
            pod_with(m(600), false, m(594)),
            Some(sample_at(n, w(60))),
            true,
            PodClass::Unready,
        ),
        (
            "ready without fresh metrics after initialization",
            pod_with(m(180), true, m(180)),
            Some(sample_at(m(120), w(60))),
            true,
            PodClass::Ready,
        ),
        (
            "unready that was ready after initialization",
            pod_with(m(600), false, m(540)),
            Some(sample_at(n, w(60))),
            true,
            PodClass::Ready,
        ),
        // Transition exactly at start + delay is not "after": counted.
        (
            "unready, transition at start + delay",
            pod_with(m(600), false, m(590)),
            Some(sample_at(n, w(60))),
            true,
            PodClass::Ready,
        ),
        (
            "unready pod, pods metric",
            pod_with(m(60), false, m(30)),
            Some(sample_at(n, w(30))),
            false,
            PodClass::Ready,
        ),
        (
            "missing sample",
            pod(m(180), true, 1000),
            None,
            true,
            PodClass::Missing,
        ),
        (
            "pending",
            PodStatus {
                phase: PodPhase::Pending,
                ..pod(n, false, 1000)
            },
            None,
            true,
            PodClass::Unready,
        ),
        (
            "failed",
            PodStatus {
                phase: PodPhase::Failed,
                ..pod(n, true, 1000)
            },
            Some(sample_at(n, w(60))),
            true,
            PodClass::Ignored,
        ),
        (
            "succeeded, pods metric: counted",
            PodStatus {
                phase: PodPhase::Succeeded,
                ..pod(n, true, 1000)
            },
            Some(sample_at(n, w(60))),
            false,
            PodClass::Ready,
        ),
        (
            "succeeded without sample: missing",
            PodStatus {
                phase: PodPhase::Succeeded,
                ..pod(m(180), false, 1000)
            },
            None,
            true,
            PodClass::Missing,
        ),
        (
            "deleting and pending: ignored first",
            PodStatus {
                phase: PodPhase::Pending,
                deleting: true,
                ..pod(n, false, 1000)
            },
            Some(sample_at(n, w(60))),
            true,
            PodClass::Ignored,
        ),
        (
            "deleting",
            PodStatus {
                deleting: true,
                ..pod(n, true, 1000)
            },
            Some(sample_at(n, w(60))),
            false,
            PodClass::Ignored,
        ),
    ];
    for (name, p, s, is_cpu, want) in cases {
        let rules = if is_cpu { cpu } else { None };
        assert_eq!(classify_pod(n, &p, s.as_ref(), rules), want, "{name}");
        if p.phase == PodPhase::Running {
            let succeeded = PodStatus {
                phase: PodPhase::Succeeded,
                ..p
            };
            let got = classify_pod(n, &succeeded, s.as_ref(), rules);
            assert_eq!(got, want, "{name}, as Succeeded");
        }
    }
}

/// Kubernetes counts replicas in `int32`: a huge metric saturates the
/// proposal at `i32::MAX` (`getUsageRatioReplicaCount` and
/// `GetExternalPerPodMetricReplicas` clamp there).
#[test]
fn proposals_saturate_at_i32_max() {
    let tol = Tolerances::symmetric(0.1);
    let pods = [pod(Timestamp::ZERO, true, 1000); 3];
    let got = value_replicas(3, i64::MAX, 1, &pods, tol).expect("a proposal");
    assert_eq!(got.replicas, MAX_PROPOSAL);
    assert_eq!(MAX_PROPOSAL, i32::MAX as u32);
    let got = average_value_replicas(3, i64::MAX, 1, tol);
    assert_eq!(got.replicas, MAX_PROPOSAL);
    // Scale from zero without pods: ceil(ratio), saturated too.
    let got = value_replicas(0, i64::MAX, 1, &[], tol).expect("a proposal");
    assert_eq!(got.replicas, MAX_PROPOSAL);
    // Below the bound nothing changes.
    let got = value_replicas(3, 3_000_000_000, 1_000, &pods, tol).expect("a proposal");
    assert_eq!(got.replicas, 9_000_000);
}

/// `TestReplicaCalcEmptyCPURequest`, `TestReplicaCalcEmptyMetrics` and
/// input mismatches: errors, never panics.
#[test]
fn calculator_errors() {
    let n = now();
    let s = Some(sample_at(n, Span::from_secs(60)));
    let no_request = PodStatus {
        cpu_request_milli: None,
        ..pod(Timestamp::ZERO, true, 0)
    };
    let tol = Tolerances::symmetric(0.1);
    let calc = |pods: &[PodStatus], samples: &[Option<Sample>]| {
        cpu_utilization_replicas(n, 1, 100, pods, samples, tol, &READINESS)
    };
    assert_eq!(
        calc(&[no_request], &[s]),
        Err(MetricError::MissingCpuRequest)
    );
    let p = pod(Timestamp::ZERO, true, 1000);
    assert_eq!(
        calc(&[p, p, p], &[None, None, None]),
        Err(MetricError::NoReadyMetrics)
    );
    assert_eq!(calc(&[], &[]), Err(MetricError::NoPods));
    assert_eq!(calc(&[p], &[]), Err(MetricError::InputMismatch));
    let zero = pod(Timestamp::ZERO, true, 0);
    assert_eq!(calc(&[zero], &[s]), Err(MetricError::NoRequests));
}
