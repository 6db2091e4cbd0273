//! Property tests of the autoscalers' invariants:
//! - HPA output stays in [min, max] for any observation (0 stays 0);
//! - stabilization equals a brute-force model over the full, unpruned
//!   recommendation history, and a scale-up never exceeds any recommendation
//!   of the up-window (a scale-down never undercuts any of the down-window);
//! - with Pods rate policies, every scale-up (scale-down) keeps the net
//!   change over its trailing period within the policy value;
//! - histories stay bounded, by the window over the sync period when the
//!   driver syncs regularly and by the hard cap when it does not;
//! - target tracking stays in bounds, respects `disable_scale_in` and the
//!   scale-in cooldown.

#![cfg(feature = "serde")]

use crate::autoscale_common::at;
use headroom_policy::autoscale::{
    AutoscalerConfig, AutoscalerSpec, BehaviorConfig, HpaController, HpaSpec, MAX_RECOMMENDATIONS,
    MetricConfig, MetricInput, MetricKind, Observation, PodPhase, PodStatus, PolicyKind,
    ReadyCondition, Sample, ScaleReason, ScalingPolicyConfig, ScalingRulesConfig, SelectPolicy,
    TargetTracker, TargetType, TrackingOutcome,
};
use headroom_policy::time::{Span, Timestamp};
use proptest::prelude::*;

fn secs(s: u64) -> Span {
    Span::from_secs(s)
}

fn external_metric() -> MetricConfig {
    MetricConfig {
        kind: MetricKind::External,
        name: Some("load".into()),
        target: 1.0,
        target_type: Some(TargetType::AverageValue),
    }
}

fn build_hpa(cfg: &AutoscalerConfig) -> HpaSpec {
    match cfg.validate().expect("generated config is valid") {
        AutoscalerSpec::Hpa(s) => s,
        AutoscalerSpec::TargetTracking(_) => unreachable!("algorithm is hpa"),
    }
}

fn arb_select() -> impl Strategy<Value = SelectPolicy> {
    prop_oneof![
        Just(SelectPolicy::Max),
        Just(SelectPolicy::Min),
        Just(SelectPolicy::Disabled)
    ]
}

fn arb_policy() -> impl Strategy<Value = ScalingPolicyConfig> {
    (any::<bool>(), 1u32..200, 1u64..600).prop_map(|(pods, value, period)| ScalingPolicyConfig {
        kind: if pods {
            PolicyKind::Pods
        } else {
            PolicyKind::Percent
        },
        value,
        period: secs(period),
    })
}

fn arb_rules() -> impl Strategy<Value = ScalingRulesConfig> {
    (
        proptest::option::of(0u64..900),
        proptest::option::of(arb_select()),
        proptest::option::of(proptest::collection::vec(arb_policy(), 1..4)),
    )
        .prop_map(|(window, select, policies)| ScalingRulesConfig {
            stabilization_window: window.map(secs),
            select_policy: select,
            policies,
            tolerance: None,
        })
}

fn arb_behavior() -> impl Strategy<Value = Option<BehaviorConfig>> {
    proptest::option::of(
        (
            proptest::option::of(arb_rules()),
            proptest::option::of(arb_rules()),
        )
            .prop_map(|(scale_up, scale_down)| BehaviorConfig {
                scale_up,
                scale_down,
            }),
    )
}

/// Min/max, behavior, and three metrics: CPU, a pods metric and an
/// external per-pod metric.
fn arb_hpa_config() -> impl Strategy<Value = AutoscalerConfig> {
    (
        1u32..20,
        0u32..200,
        arb_behavior(),
        proptest::option::of(0u64..600),
    )
        .prop_map(|(min, span, behavior, window)| AutoscalerConfig {
            min_replicas: Some(min),
            max_replicas: Some(min + span),
            target_cpu_utilization: Some(0.6),
            target_rps: Some(100.0),
            metrics: vec![external_metric()],
            downscale_stabilization: window.map(secs),
            behavior,
            ..AutoscalerConfig::default()
        })
}

#[derive(Clone, Debug)]
struct PodCase {
    pod: PodStatus,
    cpu: Option<Sample>,
    rps: Option<Sample>,
}

fn arb_sample() -> impl Strategy<Value = Option<Sample>> {
    proptest::option::of(
        (0i64..400_000, 0u64..900, 0u64..120).prop_map(|(v, t, w)| Sample {
            value_milli: v,
            timestamp: at(t),
            window: secs(w),
        }),
    )
}

fn arb_pod() -> impl Strategy<Value = PodCase> {
    let phase = prop_oneof![
        Just(PodPhase::Pending),
        Just(PodPhase::Running),
        Just(PodPhase::Running),
        Just(PodPhase::Succeeded),
        Just(PodPhase::Failed)
    ];
    let ready = proptest::option::of((any::<bool>(), 0u64..900)).prop_map(|r| {
        r.map(|(ready, t)| ReadyCondition {
            ready,
            last_transition: at(t),
        })
    });
    (
        phase,
        any::<bool>(),
        proptest::option::of(0u64..900),
        ready,
        proptest::option::of(0i64..4000),
        arb_sample(),
        arb_sample(),
    )
        .prop_map(|(phase, deleting, start, ready, req, cpu, rps)| PodCase {
            pod: PodStatus {
                phase,
                deleting,
                start_time: start.map(at),
                ready,
                cpu_request_milli: req,
            },
            cpu,
            rps,
        })
}

#[derive(Clone, Debug)]
struct Sync {
    dt: u64,
    /// Replace the applied count by this one (a driver or human override).
    override_replicas: Option<u32>,
    pods: Vec<PodCase>,
    external: Option<i64>,
    cpu_available: bool,
}

fn arb_sync() -> impl Strategy<Value = Sync> {
    (
        0u64..120,
        proptest::option::weighted(0.2, 0u32..500),
        proptest::collection::vec(arb_pod(), 0..12),
        proptest::option::of(0i64..500_000),
        any::<bool>(),
    )
        .prop_map(
            |(dt, override_replicas, pods, external, cpu_available)| Sync {
                dt,
                override_replicas,
                pods,
                external,
                cpu_available,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hpa_output_is_within_min_and_max(
        cfg in arb_hpa_config(),
        start in 0u32..300,
        syncs in proptest::collection::vec(arb_sync(), 1..25),
    ) {
        let spec = build_hpa(&cfg);
        let (min, max) = (spec.min_replicas(), spec.max_replicas());
        let mut hpa = HpaController::new(spec, Timestamp::ZERO);
        let mut current = start;
        let mut now = at(900);
        for s in &syncs {
            now += secs(s.dt);
            current = s.override_replicas.unwrap_or(current);
            let pods: Vec<PodStatus> = s.pods.iter().map(|p| p.pod).collect();
            let cpu: Vec<Option<Sample>> = s.pods.iter().map(|p| p.cpu).collect();
            let rps: Vec<Option<Sample>> = s.pods.iter().map(|p| p.rps).collect();
            let inputs = [
                if s.cpu_available { MetricInput::PerPod(&cpu) } else { MetricInput::Unavailable },
                MetricInput::PerPod(&rps),
                s.external.map_or(MetricInput::Unavailable, MetricInput::Value),
            ];
            let obs = Observation {
                spec_replicas: current,
                status_replicas: pods.len() as u32,
                pods: &pods,
                metrics: &inputs,
            };
            let d = hpa.handle_sync(now, &obs);
            if current == 0 {
                prop_assert_eq!(d.desired_replicas, 0);
            } else {
                prop_assert!((min..=max).contains(&d.desired_replicas), "{:?}", d);
            }
            current = d.desired_replicas;
        }
    }

    #[test]
    fn stabilization_matches_the_unpruned_model(
        up_window in 0u64..400,
        down_window in 0u64..400,
        start in 1u32..100,
        steps in proptest::collection::vec((0u64..90, 0u32..150), 1..60),
    ) {
        let rules = |w: u64| ScalingRulesConfig {
            stabilization_window: Some(secs(w)),
            ..ScalingRulesConfig::default()
        };
        let cfg = AutoscalerConfig {
            max_replicas: Some(100),
            tolerance: Some(0.0),
            metrics: vec![external_metric()],
            behavior: Some(BehaviorConfig {
                scale_up: Some(rules(up_window)),
                scale_down: Some(rules(down_window)),
            }),
            ..AutoscalerConfig::default()
        };
        let mut hpa = HpaController::new(build_hpa(&cfg), Timestamp::ZERO);
        let (up_w, down_w) = (secs(up_window), secs(down_window));
        let mut all: Vec<(Timestamp, u32)> = Vec::new();
        let mut current = start;
        let mut now = Timestamp::ZERO;
        for (i, &(dt, want)) in steps.iter().enumerate() {
            now += secs(dt);
            if i == 0 {
                all.push((now, current)); // recordInitialRecommendation
            }
            let inputs = [MetricInput::Value(i64::from(want) * 1000)];
            let obs = Observation { spec_replicas: current, status_replicas: current, pods: &[], metrics: &inputs };
            let d = hpa.handle_sync(now, &obs);
            let ScaleReason::Hpa { proposal, stabilized, .. } = d.reason else {
                return Err(TestCaseError::fail(format!("unexpected {d:?}")));
            };
            let in_up: Vec<u32> = all.iter().filter(|(t, _)| *t + up_w > now).map(|&(_, r)| r).collect();
            let in_down: Vec<u32> = all.iter().filter(|(t, _)| *t + down_w > now).map(|&(_, r)| r).collect();
            let lo = in_up.iter().copied().fold(proposal, u32::min);
            let hi = in_down.iter().copied().fold(proposal, u32::max);
            prop_assert_eq!(stabilized, current.max(lo).min(hi));
            // Both bounds include the proposal, so lo <= hi and the result
            // never leaves [up-window minimum, down-window maximum].
            prop_assert!(lo <= stabilized && stabilized <= hi);
            if d.desired_replicas > current {
                prop_assert!(in_up.iter().all(|&r| d.desired_replicas <= r));
                prop_assert!(d.desired_replicas <= proposal);
            }
            if d.desired_replicas < current {
                prop_assert!(in_down.iter().all(|&r| d.desired_replicas >= r));
                prop_assert!(d.desired_replicas >= proposal);
            }
            all.push((now, proposal));
            current = d.desired_replicas;
        }
    }

    #[test]
    fn pods_policies_bound_the_net_change_per_period(
        up_value in 1u32..10,
        up_period in 1u64..300,
        down_value in 1u32..10,
        down_period in 1u64..300,
        start in 1u32..100,
        steps in proptest::collection::vec((1u64..60, 1u32..100), 1..80),
    ) {
        let rules = |value, period| ScalingRulesConfig {
            stabilization_window: Some(Span::ZERO),
            policies: Some(vec![ScalingPolicyConfig { kind: PolicyKind::Pods, value, period: secs(period) }]),
            ..ScalingRulesConfig::default()
        };
        let cfg = AutoscalerConfig {
            max_replicas: Some(100),
            tolerance: Some(0.0),
            metrics: vec![external_metric()],
            behavior: Some(BehaviorConfig {
                scale_up: Some(rules(up_value, up_period)),
                scale_down: Some(rules(down_value, down_period)),
            }),
            ..AutoscalerConfig::default()
        };
        let mut hpa = HpaController::new(build_hpa(&cfg), Timestamp::ZERO);
        let mut events: Vec<(Timestamp, i64)> = Vec::new();
        let mut current = start;
        let mut now = Timestamp::ZERO;
        for &(dt, want) in &steps {
            now += secs(dt);
            let inputs = [MetricInput::Value(i64::from(want) * 1000)];
            let obs = Observation { spec_replicas: current, status_replicas: current, pods: &[], metrics: &inputs };
            let d = hpa.handle_sync(now, &obs);
            let change = i64::from(d.desired_replicas) - i64::from(current);
            if change != 0 {
                events.push((now, change));
                let net = |period: u64| -> i64 {
                    events.iter().filter(|(t, _)| *t + secs(period) > now).map(|&(_, c)| c).sum()
                };
                if change > 0 {
                    prop_assert!(net(up_period) <= i64::from(up_value), "{events:?}");
                } else {
                    prop_assert!(-net(down_period) <= i64::from(down_value), "{events:?}");
                }
            }
            current = d.desired_replicas;
        }
    }

    #[test]
    fn histories_stay_bounded_when_syncing_regularly(
        behavior in arb_behavior(),
        sync in 1u64..60,
        start in 1u32..100,
        wants in proptest::collection::vec(0u32..200, 50..400),
    ) {
        let cfg = AutoscalerConfig {
            max_replicas: Some(150),
            metrics: vec![external_metric()],
            sync_period: Some(secs(sync)),
            behavior,
            ..AutoscalerConfig::default()
        };
        let spec = build_hpa(&cfg);
        let (window, up_period, down_period) = match spec.behavior() {
            Some(b) => (
                b.scale_up().stabilization_window().max(b.scale_down().stabilization_window()),
                b.scale_up().longest_period(),
                b.scale_down().longest_period(),
            ),
            None => (spec.downscale_stabilization(), Span::ZERO, Span::ZERO),
        };
        let bound = |s: Span| (s.as_nanos() / secs(sync).as_nanos()) as usize + 2;
        let mut hpa = HpaController::new(spec, Timestamp::ZERO);
        let mut current = start;
        for (i, &want) in wants.iter().enumerate() {
            let inputs = [MetricInput::Value(i64::from(want) * 1000)];
            let obs = Observation { spec_replicas: current, status_replicas: current, pods: &[], metrics: &inputs };
            let now = hpa.poll_timeout().unwrap_or(Timestamp::ZERO);
            current = hpa.handle_sync(now, &obs).desired_replicas;
            let len = hpa.history_len();
            prop_assert!(len.recommendations <= bound(window), "sync {i}: {len:?}");
            prop_assert!(len.scale_up_events <= bound(up_period), "sync {i}: {len:?}");
            prop_assert!(len.scale_down_events <= bound(down_period), "sync {i}: {len:?}");
            prop_assert_eq!(len.dropped, 0);
        }
    }

    #[test]
    fn target_tracking_invariants(
        min in 1u32..10,
        span in 0u32..100,
        disable_scale_in in any::<bool>(),
        cooldown_in in 0u64..600,
        cooldown_out in 0u64..600,
        start in 0u32..150,
        steps in proptest::collection::vec((1u64..120, proptest::option::of(0.0f64..3.0)), 1..60),
    ) {
        let cfg = AutoscalerConfig {
            algorithm: headroom_policy::autoscale::Algorithm::TargetTracking,
            min_replicas: Some(min),
            max_replicas: Some(min + span),
            target_cpu_utilization: Some(0.5),
            scale_in_cooldown: Some(secs(cooldown_in)),
            scale_out_cooldown: Some(secs(cooldown_out)),
            disable_scale_in: Some(disable_scale_in),
            ..AutoscalerConfig::default()
        };
        let AutoscalerSpec::TargetTracking(spec) = cfg.validate().expect("valid") else {
            return Err(TestCaseError::fail("expected target tracking"));
        };
        let mut tt = TargetTracker::new(spec, Timestamp::ZERO);
        let mut current = start;
        let mut now = Timestamp::ZERO;
        let mut last_scale_in: Option<Timestamp> = None;
        for &(dt, value) in &steps {
            now += secs(dt);
            let d = tt.handle_metrics(now, current, &[value]);
            prop_assert!((min..=min + span).contains(&d.desired_replicas), "{d:?}");
            let in_range = (min..=min + span).contains(&current);
            if in_range && disable_scale_in {
                prop_assert!(d.desired_replicas >= current, "{d:?}");
            }
            if let ScaleReason::TargetTracking { outcome, .. } = d.reason {
                match outcome {
                    TrackingOutcome::ScaleOut => last_scale_in = None,
                    TrackingOutcome::ScaleIn => {
                        if let Some(t) = last_scale_in {
                            prop_assert!(t + secs(cooldown_in) <= now);
                        }
                        last_scale_in = Some(now);
                    }
                    _ => prop_assert_eq!(d.desired_replicas, current),
                }
            }
            current = d.desired_replicas;
        }
    }
}

/// A driver that syncs far faster than the sync period fills the
/// recommendation history up to its cap; the excess is dropped and counted.
#[test]
fn history_cap_holds_under_abuse() {
    let cfg = AutoscalerConfig {
        max_replicas: Some(100),
        metrics: vec![external_metric()],
        behavior: Some(BehaviorConfig::default()),
        ..AutoscalerConfig::default()
    };
    let mut hpa = HpaController::new(build_hpa(&cfg), Timestamp::ZERO);
    let inputs = [MetricInput::Value(50_000)];
    let obs = Observation {
        spec_replicas: 50,
        status_replicas: 50,
        pods: &[],
        metrics: &inputs,
    };
    for i in 0..(MAX_RECOMMENDATIONS as u64 + 500) {
        let _ = hpa.handle_sync(Timestamp::from_nanos(i), &obs);
    }
    let len = hpa.history_len();
    assert_eq!(len.recommendations, MAX_RECOMMENDATIONS);
    assert_eq!(len.dropped, 501);
}
