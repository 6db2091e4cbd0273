//! End-to-end throughput of a 4-service call graph with mesh policies on
//! every edge (timeout, retry with budget, circuit breaker): simulated
//! client requests per second on one core, and the events behind them.
//!
//! The graph: `edge -> api -> auth`, then `api -> (users || recs)` in
//! parallel; api runs on threads, auth on an event loop; every instance
//! pool is sized for about 50 % utilisation. One replication of ~1 M
//! requests (each one 4 calls, ~20 events).

use std::path::Path;
use std::sync::atomic::AtomicU64;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use headroom_models::{load_str, run_replication};

/// The benchmark scenario at `rate` requests per second for `secs` seconds.
pub fn scenario(rate: f64, secs: u64) -> String {
    format!(
        r#"
[run]
duration = "{secs}s"
replications = 1
timeseries_interval = "1m"

[workload]
arrivals = {{ process = "poisson", rate = {rate} }}

[[services]]
name = "api"
instance = {{ workers = 64, queue = 1000 }}
work = {{ distribution = "exponential", mean = "1ms" }}
calls = [ {{ service = "auth" }}, {{ parallel = [ {{ service = "users" }}, {{ service = "recs" }} ] }} ]
replicas = 8

[[services]]
name = "auth"
instance = {{ workers = 8, queue = 1000, model = "event-loop" }}
work = {{ distribution = "exponential", mean = "500us" }}
replicas = 4

[[services]]
name = "users"
instance = {{ workers = 16, queue = 1000 }}
work = {{ distribution = "lognormal", mean = "2ms", cv = 1.0 }}
replicas = 8

[[services]]
name = "recs"
instance = {{ workers = 16, queue = 1000 }}
work = {{ distribution = "exponential", mean = "3ms" }}
replicas = 8

[policy.mesh]
timeout = "2s"
retry = {{ attempts = 3, backoff = "exponential", base = "25ms", per_try_timeout = "1s" }}
circuit_breaker = {{ failure_rate_threshold = 0.5, open_duration = "30s" }}
"#
    )
}

fn graph(crit: &mut Criterion) {
    let mut group = crit.benchmark_group("graph");
    group.sample_size(10);
    let loaded =
        load_str(Path::new("graph.toml"), &scenario(8000.0, 120), &[]).expect("valid scenario");
    let n = run_replication(&loaded.plan, 0, &AtomicU64::new(0))
        .expect("runs")
        .metrics
        .requests;
    group.throughput(Throughput::Elements(n));
    group.bench_function("4-services-mesh", |b| {
        b.iter(|| run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("runs"))
    });
    group.finish();
}

criterion_group!(benches, graph);
criterion_main!(benches);
