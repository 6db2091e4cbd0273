//! The Kubernetes replica calculator test cases: all 24 resource cases of
//! `tests/data/k8s-hpa-replica-calculator-cases.tsv`, the 14 custom, object
//! and external cases of validation-anchors.md and the computed-tolerance
//! regression test, from
//! `kubernetes/kubernetes` `pkg/controller/podautoscaler/replica_calculator_test.go`.

#![cfg(feature = "serde")]

use crate::autoscale_common::{at, hpa_spec, pod};
use headroom_policy::autoscale::replica_calc::{CpuReadiness, cpu_utilization_replicas};
use headroom_policy::autoscale::{
    CurrentMetric, HpaController, MetricInput, Observation, PodPhase, PodStatus, Proposal, Sample,
    Tolerances,
};
use headroom_policy::time::{Span, Timestamp};

const TSV: &str = include_str!("../data/k8s-hpa-replica-calculator-cases.tsv");

/// `defaultTestingCPUInitializationPeriod` and
/// `defaultTestingDelayOfInitialReadinessStatus`.
const READINESS: CpuReadiness = CpuReadiness {
    initialization_period: Span::from_secs(120),
    initial_readiness_delay: Span::from_secs(10),
};

/// The test clock: far from the epoch, which stands for Go's zero time.
fn now() -> Timestamp {
    at(3600)
}

/// `hotCPUCreationTime()` / `coolCPUCreationTime()`.
fn hot() -> Timestamp {
    now()
}
fn cool() -> Timestamp {
    now() - Span::from_secs(180)
}

struct Case {
    name: String,
    current: u32,
    pods: Vec<PodStatus>,
    samples: Vec<Option<Sample>>,
    target: u32,
    replicas: u32,
    percent: i64,
    raw: i64,
}

/// One TSV row as the k8s test builds it: 2 containers per pod, each with
/// the row's request and level; samples stamped with Go's zero time and a
/// 1 min window.
fn parse_row(line: &str) -> Case {
    let f: Vec<&str> = line.split('\t').collect();
    assert_eq!(f.len(), 9, "row {line}");
    let name = f[0].to_owned();
    let hot_row = name.contains("HotCpu");
    // The one hot test that also marks the hot pod's condition False.
    let hot_unready = name == "TestReplicaCalcMissingMetricsHotCpuScaleUp";
    let requests: Vec<i64> = f[3]
        .split(',')
        .map(|c| (c.parse::<f64>().unwrap() * 1000.0).round() as i64)
        .collect();
    let levels: Vec<i64> = f[4].split(',').map(|l| l.parse().unwrap()).collect();
    let states: Vec<char> = f[2].chars().collect();
    assert_eq!(states.len(), requests.len(), "{name}: one request per pod");
    let pods: Vec<PodStatus> = states
        .iter()
        .zip(&requests)
        .map(|(&state, &req)| {
            let req = 2 * req;
            match state {
                'R' if hot_row => pod(cool(), true, req),
                'R' => pod(Timestamp::ZERO, true, req),
                'U' if hot_row => pod(hot(), !hot_unready, req),
                'U' => pod(Timestamp::ZERO, false, req),
                'F' => PodStatus {
                    phase: PodPhase::Failed,
                    ..pod(Timestamp::ZERO, false, req)
                },
                'D' => PodStatus {
                    deleting: true,
                    ..pod(Timestamp::ZERO, false, req)
                },
                'P' => PodStatus {
                    phase: PodPhase::Pending,
                    ..pod(Timestamp::ZERO, false, req)
                },
                other => panic!("{name}: unknown pod state {other}"),
            }
        })
        .collect();
    // Levels beyond the pod list belong to pods the lister does not return;
    // there is no slot for them, which is the k8s outcome (their metrics
    // have no request and are skipped).
    let samples = (0..pods.len())
        .map(|i| {
            levels.get(i).map(|&l| Sample {
                value_milli: 2 * l,
                timestamp: Timestamp::ZERO,
                window: Span::from_secs(60),
            })
        })
        .collect();
    Case {
        name,
        current: f[1].parse().unwrap(),
        pods,
        samples,
        target: f[5].parse().unwrap(),
        replicas: f[6].parse().unwrap(),
        percent: f[7].parse().unwrap(),
        raw: f[8].parse().unwrap(),
    }
}

fn cases() -> Vec<Case> {
    TSV.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(parse_row)
        .collect()
}

#[test]
fn tsv_has_all_24_resource_cases() {
    assert_eq!(cases().len(), 24);
}

#[test]
fn every_resource_case_matches_kubernetes() {
    for c in cases() {
        let got = cpu_utilization_replicas(
            now(),
            c.current,
            c.target,
            &c.pods,
            &c.samples,
            Tolerances::symmetric(0.1),
            &READINESS,
        );
        let want = Proposal {
            replicas: c.replicas,
            current: CurrentMetric::Utilization {
                percent: c.percent,
                average_milli: c.raw,
            },
        };
        assert_eq!(got, Ok(want), "{}", c.name);
    }
}

/// The controller reports the same per-metric proposal as the calculator
/// for every TSV case (config → spec → dispatch → calculator).
#[test]
fn controller_reports_the_calculator_proposal() {
    for c in cases() {
        let spec = hpa_spec(&format!(
            "max_replicas = 1000\nmetrics = [{{ type = \"cpu\", target = {} }}]\n\
             cpu_initialization_period = \"2m\"\ninitial_readiness_delay = \"10s\"",
            f64::from(c.target) / 100.0
        ));
        let mut hpa = HpaController::new(spec, now());
        let inputs = [MetricInput::PerPod(&c.samples)];
        let obs = Observation {
            spec_replicas: c.current,
            status_replicas: c.current,
            pods: &c.pods,
            metrics: &inputs,
        };
        let _ = hpa.handle_sync(now(), &obs);
        let result = hpa.metric_results()[0].expect("metric evaluated");
        assert_eq!(result.map(|p| p.replicas), Ok(c.replicas), "{}", c.name);
    }
}

/// `TestReplicaCalcComputedToleranceAlgImplementation`: 10 pods using half
/// their request, target just outside (56 %) and just inside (55 %) the
/// tolerance band.
#[test]
fn computed_tolerance_boundary() {
    let per_pod_requested = 300i64;
    let offsets = [100, -100, 10, -10, 2, -2, 1, -1, 0, 0];
    let pods: Vec<PodStatus> = offsets
        .iter()
        .map(|o| pod(Timestamp::ZERO, true, 2 * (per_pod_requested + o)))
        .collect();
    let samples: Vec<Option<Sample>> = (0..10)
        .map(|_| {
            Some(Sample {
                value_milli: 2 * 150,
                timestamp: Timestamp::ZERO,
                window: Span::from_secs(60),
            })
        })
        .collect();
    for (target, replicas) in [(56, 9), (55, 10)] {
        let got = cpu_utilization_replicas(
            now(),
            10,
            target,
            &pods,
            &samples,
            Tolerances::symmetric(0.1),
            &READINESS,
        );
        let current = CurrentMetric::Utilization {
            percent: 50,
            average_milli: 300,
        };
        assert_eq!(got, Ok(Proposal { replicas, current }), "target {target}");
    }
}

/// Kinds of the custom-metric cases.
enum Kind {
    Pods,
    Object,
    ObjectPerPod,
    External,
    ExternalPerPod,
}

struct CustomCase {
    name: &'static str,
    kind: Kind,
    current: u32,
    /// Per pod: (Ready condition, hot start).
    pods: &'static [(bool, bool)],
    levels: &'static [i64],
    target_milli: i64,
    replicas: u32,
    utilization: i64,
}

const fn ready(n: usize) -> &'static [(bool, bool)] {
    const R: &[(bool, bool)] = &[(true, false); 5];
    R.split_at(n).0
}

/// The 14 custom/object/external cases listed in validation-anchors.md.
const CUSTOM: &[CustomCase] = &[
    CustomCase {
        name: "ScaleUpCM",
        kind: Kind::Pods,
        current: 3,
        pods: ready(3),
        levels: &[20000, 10000, 30000],
        target_milli: 15000,
        replicas: 4,
        utilization: 20000,
    },
    CustomCase {
        name: "ScaleUpCMUnreadyHotCpuNoLessScale",
        kind: Kind::Pods,
        current: 3,
        pods: &[(true, false), (true, false), (false, true)],
        levels: &[50000, 10000, 30000],
        target_milli: 15000,
        replicas: 6,
        utilization: 30000,
    },
    CustomCase {
        name: "ScaleUpCMUnreadyHotCpuScaleWouldScaleDown",
        kind: Kind::Pods,
        current: 3,
        pods: &[(false, true), (true, false), (false, true)],
        levels: &[50000, 15000, 30000],
        target_milli: 15000,
        replicas: 7,
        utilization: 31666,
    },
    CustomCase {
        name: "ScaleDownCM",
        kind: Kind::Pods,
        current: 5,
        pods: ready(5),
        levels: &[12000; 5],
        target_milli: 20000,
        replicas: 3,
        utilization: 12000,
    },
    CustomCase {
        name: "ToleranceCM",
        kind: Kind::Pods,
        current: 3,
        pods: ready(3),
        levels: &[20000, 21000, 21000],
        target_milli: 20000,
        replicas: 3,
        utilization: 20666,
    },
    CustomCase {
        name: "ScaleUpCMObject",
        kind: Kind::Object,
        current: 3,
        pods: ready(3),
        levels: &[20000],
        target_milli: 15000,
        replicas: 4,
        utilization: 20000,
    },
    CustomCase {
        name: "ScaleUpCMPerPodObject",
        kind: Kind::ObjectPerPod,
        current: 3,
        pods: ready(3),
        levels: &[20000],
        target_milli: 5000,
        replicas: 4,
        utilization: 6667,
    },
    CustomCase {
        name: "ScaleUpCMObjectIgnoresUnreadyPods",
        kind: Kind::Object,
        current: 3,
        pods: &[(false, false), (true, false), (false, false)],
        levels: &[50000],
        target_milli: 10000,
        replicas: 5,
        utilization: 50000,
    },
    CustomCase {
        name: "ScaleDownPerPodCMObject",
        kind: Kind::ObjectPerPod,
        current: 5,
        pods: ready(5),
        levels: &[6000],
        target_milli: 2000,
        replicas: 3,
        utilization: 1200,
    },
    CustomCase {
        name: "TolerancePerPodCMObject",
        kind: Kind::ObjectPerPod,
        current: 4,
        pods: ready(4),
        levels: &[20166],
        target_milli: 5000,
        replicas: 4,
        utilization: 5042,
    },
    CustomCase {
        name: "ScaleUpCMExternalIgnoresUnreadyPods",
        kind: Kind::External,
        current: 3,
        pods: &[(false, false), (true, false), (false, false)],
        levels: &[8600],
        target_milli: 4400,
        replicas: 2,
        utilization: 8600,
    },
    CustomCase {
        name: "ScaleUpPerPodCMExternal",
        kind: Kind::ExternalPerPod,
        current: 3,
        pods: ready(3),
        levels: &[8600],
        target_milli: 2150,
        replicas: 4,
        utilization: 2867,
    },
    CustomCase {
        name: "ScaleDownCMExternal",
        kind: Kind::External,
        current: 5,
        pods: ready(5),
        levels: &[8600],
        target_milli: 14334,
        replicas: 3,
        utilization: 8600,
    },
    CustomCase {
        name: "ScaleDownPerPodCMExternal",
        kind: Kind::ExternalPerPod,
        current: 5,
        pods: ready(5),
        levels: &[8600],
        target_milli: 2867,
        replicas: 3,
        utilization: 1720,
    },
];

/// Runs each custom case through a controller configured with the matching
/// metric (so config parsing, dispatch and the calculator are all covered)
/// and checks the metric's proposal and reported value.
#[test]
fn custom_object_and_external_cases_match_kubernetes() {
    assert_eq!(CUSTOM.len(), 14);
    for c in CUSTOM {
        let target = c.target_milli as f64 / 1000.0;
        let metric = match c.kind {
            Kind::Pods => format!("{{ type = \"pods\", name = \"qps\", target = {target} }}"),
            Kind::Object => format!("{{ type = \"object\", name = \"qps\", target = {target} }}"),
            Kind::ObjectPerPod => format!(
                "{{ type = \"object\", name = \"qps\", target = {target}, target_type = \"average-value\" }}"
            ),
            Kind::External => {
                format!("{{ type = \"external\", name = \"qps\", target = {target} }}")
            }
            Kind::ExternalPerPod => format!(
                "{{ type = \"external\", name = \"qps\", target = {target}, target_type = \"average-value\" }}"
            ),
        };
        let spec = hpa_spec(&format!(
            "max_replicas = 100\nmetrics = [{metric}]\n\
             cpu_initialization_period = \"2m\"\ninitial_readiness_delay = \"10s\""
        ));
        let pods: Vec<PodStatus> = c
            .pods
            .iter()
            .map(|&(ready, hot_start)| {
                let start = if hot_start { hot() } else { cool() };
                pod(start, ready, 1000)
            })
            .collect();
        let samples: Vec<Option<Sample>> = c
            .levels
            .iter()
            .map(|&l| {
                Some(Sample {
                    value_milli: l,
                    timestamp: Timestamp::ZERO,
                    window: Span::from_secs(60),
                })
            })
            .collect();
        let input = match c.kind {
            Kind::Pods => MetricInput::PerPod(&samples),
            _ => MetricInput::Value(c.levels[0]),
        };
        let inputs = [input];
        let obs = Observation {
            spec_replicas: c.current,
            status_replicas: c.current,
            pods: &pods,
            metrics: &inputs,
        };
        let mut hpa = HpaController::new(spec, now());
        let _ = hpa.handle_sync(now(), &obs);
        let got = hpa.metric_results()[0].expect("metric evaluated");
        let current = match c.kind {
            Kind::Object | Kind::External => CurrentMetric::Value {
                milli: c.utilization,
            },
            _ => CurrentMetric::AverageValue {
                milli: c.utilization,
            },
        };
        let want = Proposal {
            replicas: c.replicas,
            current,
        };
        assert_eq!(got, Ok(want), "{}", c.name);
    }
}
