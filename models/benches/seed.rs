//! The full seed scenario (`experiments/seed.toml`: edge cache, the api
//! tier in four regions, four cache tiers, a pool per api instance, 16
//! shards with two read replicas) in simulated client requests per second
//! on one core. Two simulated minutes, no warm-up (~600 k requests), caches
//! cold (the scenario's `cache_warm_start` off: the engine's own path).
//!
//! `seed/warm-start-10m`: the caches' warm start alone, in replayed requests
//! per second: ten minutes of the seed's workload (5000/s, ~3 M requests)
//! before a run of one simulated millisecond.
//!
//! `cargo bench -p headroom-models --bench seed -- --warm-up-time 1 --measurement-time 20`

use std::path::Path;
use std::sync::atomic::AtomicU64;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use headroom_models::{load, run_replication};

fn seed(crit: &mut Criterion) {
    let mut group = crit.benchmark_group("seed");
    group.sample_size(10);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments/seed.toml");
    let sets = [
        "run.duration=2m".to_owned(),
        "run.warmup=0s".to_owned(),
        "run.replications=1".to_owned(),
        "run.cache_warm_start=\"0s\"".to_owned(),
    ];
    let loaded = load(&path, &sets).expect("the seed scenario loads");
    let n = run_replication(&loaded.plan, 0, &AtomicU64::new(0))
        .expect("runs")
        .metrics
        .requests;
    group.throughput(Throughput::Elements(n));
    group.bench_function("seed-2m", |b| {
        b.iter(|| run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("runs"))
    });
    let sets = [
        "run.duration=\"1ms\"".to_owned(),
        "run.warmup=0s".to_owned(),
        "run.replications=1".to_owned(),
        "run.cache_warm_start=\"10m\"".to_owned(),
    ];
    let warm = load(&path, &sets).expect("the seed scenario loads");
    group.throughput(Throughput::Elements(5000 * 600));
    group.bench_function("warm-start-10m", |b| {
        b.iter(|| run_replication(&warm.plan, 0, &AtomicU64::new(0)).expect("runs"))
    });
    group.finish();
}

criterion_group!(benches, seed);
criterion_main!(benches);
