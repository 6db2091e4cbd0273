//! Autoscaler throughput: HPA syncs per second for 10 and 100 pods (CPU and
//! rps metrics, default `behavior`), and target-tracking decisions per
//! second. Simulated time advances one sync period per iteration, so the
//! histories are in their steady state.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use headroom_policy::autoscale::{
    AutoscalerConfig, AutoscalerSpec, BehaviorConfig, HpaController, MetricInput, Observation,
    PodStatus, Sample, TargetTracker,
};
use headroom_policy::time::{Span, Timestamp};
use std::hint::black_box;

fn spec(cfg: AutoscalerConfig) -> AutoscalerSpec {
    cfg.validate().expect("bench config is valid")
}

/// Per-pod CPU samples and rps samples for one load level.
type Load = (Vec<Option<Sample>>, Vec<Option<Sample>>);

/// A few load levels, cycled through.
fn loads(pods: usize) -> Vec<Load> {
    [300i64, 700, 1200, 500, 900]
        .iter()
        .map(|&level| {
            let sample = |v: i64| {
                Some(Sample {
                    value_milli: v,
                    timestamp: Timestamp::from_nanos(1),
                    window: Span::from_secs(30),
                })
            };
            let cpu = (0..pods)
                .map(|i| sample(level + (i as i64 % 7) * 10))
                .collect();
            let rps = (0..pods).map(|i| sample(level * 1000 + i as i64)).collect();
            (cpu, rps)
        })
        .collect()
}

fn hpa_syncs(c: &mut Criterion) {
    let mut group = c.benchmark_group("hpa_sync");
    group.throughput(Throughput::Elements(1));
    for pods in [10usize, 100] {
        let AutoscalerSpec::Hpa(hpa_spec) = spec(AutoscalerConfig {
            max_replicas: Some(1000),
            target_cpu_utilization: Some(0.7),
            target_rps: Some(1000.0),
            behavior: Some(BehaviorConfig::default()),
            ..AutoscalerConfig::default()
        }) else {
            unreachable!("algorithm is hpa")
        };
        let statuses: Vec<PodStatus> = (0..pods)
            .map(|_| PodStatus::running_ready(Timestamp::ZERO, 1000))
            .collect();
        let loads = loads(pods);
        group.bench_with_input(BenchmarkId::from_parameter(pods), &pods, |b, &pods| {
            let mut hpa = HpaController::new(hpa_spec.clone(), Timestamp::ZERO);
            let mut now = Timestamp::from_nanos(0) + Span::from_secs(600);
            let mut i = 0usize;
            b.iter(|| {
                let (cpu, rps) = &loads[i % loads.len()];
                i += 1;
                let inputs = [MetricInput::PerPod(cpu), MetricInput::PerPod(rps)];
                let obs = Observation {
                    spec_replicas: pods as u32,
                    status_replicas: pods as u32,
                    pods: &statuses,
                    metrics: &inputs,
                };
                now += Span::from_secs(15);
                black_box(hpa.handle_sync(now, black_box(&obs)))
            });
        });
    }
    group.finish();
}

fn tracking_decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("target_tracking");
    group.throughput(Throughput::Elements(1));
    let AutoscalerSpec::TargetTracking(tt_spec) = spec(AutoscalerConfig {
        algorithm: headroom_policy::autoscale::Algorithm::TargetTracking,
        max_replicas: Some(1000),
        target_cpu_utilization: Some(0.7),
        target_rps: Some(1000.0),
        scale_in_cooldown: Some(Span::from_secs(60)),
        scale_out_cooldown: Some(Span::from_secs(60)),
        ..AutoscalerConfig::default()
    }) else {
        unreachable!("algorithm is target-tracking")
    };
    let values = [
        [Some(0.5), Some(800.0)],
        [Some(0.9), Some(1300.0)],
        [Some(0.6), Some(700.0)],
        [Some(0.3), Some(400.0)],
    ];
    group.bench_function("handle_metrics", |b| {
        let mut tt = TargetTracker::new(tt_spec.clone(), Timestamp::ZERO);
        let mut now = Timestamp::ZERO;
        let mut current = 20u32;
        let mut i = 0usize;
        b.iter(|| {
            now += Span::from_secs(15);
            let d = tt.handle_metrics(now, current, black_box(&values[i % values.len()]));
            i += 1;
            current = d.desired_replicas.clamp(10, 40);
            black_box(d)
        });
    });
    group.finish();
}

criterion_group!(benches, hpa_syncs, tracking_decisions);
criterion_main!(benches);
