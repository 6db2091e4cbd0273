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
    // The seed with `sets` on top (each `--set PATH=VALUE`), one replication.
    let seed_with = |sets: &[&str]| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments/seed.toml");
        let sets: Vec<String> = ["run.replications=1", "run.warmup=0s"]
            .iter()
            .chain(sets)
            .map(|s| (*s).to_owned())
            .collect();
        load(&path, &sets).expect("the seed scenario loads")
    };
    let loaded = seed_with(&["run.duration=2m", "run.cache_warm_start=\"0s\""]);
    let n = run_replication(&loaded.plan, 0, &AtomicU64::new(0))
        .expect("runs")
        .metrics
        .requests;
    group.throughput(Throughput::Elements(n));
    group.bench_function("seed-2m", |b| {
        b.iter(|| run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("runs"))
    });
    let warm = seed_with(&["run.duration=\"1ms\"", "run.cache_warm_start=\"10m\""]);
    group.throughput(Throughput::Elements(5000 * 600));
    group.bench_function("warm-start-10m", |b| {
        b.iter(|| run_replication(&warm.plan, 0, &AtomicU64::new(0)).expect("runs"))
    });
    group.finish();
}

criterion_group!(benches, seed);
criterion_main!(benches);
