//! End-to-end M/M/c throughput: simulated customers per second on one core.
//!
//! One replication of an M/M/c queue (Poisson arrivals, exponential work,
//! c workers, unbounded FIFO queue, rho = 0.9) with about one million
//! customers, through the whole model: scenario plan, event queue, RNG
//! streams, slab, latency histograms, time-weighted utilisation and the time
//! series. Compare with `experiments/bench/simpy_mmc.py` (same model in
//! SimPy) via `experiments/bench/compare_simpy.py`.

use std::path::Path;
use std::sync::atomic::AtomicU64;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use headroom_models::{load_str, run_replication};

fn scenario(c: u32, customers: u64) -> String {
    let rate = 0.9 * f64::from(c) / 0.1;
    let secs = customers as f64 / rate;
    format!(
        r#"
[run]
duration = "{secs:.0}s"
replications = 1
timeseries_interval = "1h"
[workload]
arrivals = {{ process = "poisson", rate = {rate} }}
[[services]]
name = "mmc"
instance = {{ workers = {c}, queue = "unbounded" }}
work = {{ distribution = "exponential", mean = "100ms" }}
replicas = 1
"#
    )
}

fn mmc(crit: &mut Criterion) {
    let mut group = crit.benchmark_group("mmc");
    group.sample_size(10);
    for c in [1u32, 4, 16] {
        let customers = 1_000_000;
        let loaded = load_str(Path::new("bench.toml"), &scenario(c, customers), &[])
            .expect("valid scenario");
        // Measure the exact number of customers of one replication.
        let n = run_replication(&loaded.plan, 0, &AtomicU64::new(0))
            .expect("runs")
            .metrics
            .requests;
        group.throughput(Throughput::Elements(n));
        group.bench_function(format!("c={c}"), |b| {
            b.iter(|| run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("runs"))
        });
    }
    group.finish();
}

criterion_group!(benches, mmc);
criterion_main!(benches);
