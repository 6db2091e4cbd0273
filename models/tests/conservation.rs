//! Invariants over many seeds and randomised configurations: every arrival
//! ends exactly once, memory is bounded by the queue limits, and a
//! replication is a pure function of (plan, replication).

use std::path::Path;
use std::sync::atomic::AtomicU64;

use headroom_models::{load_str, run_replication};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

/// A random but valid scenario: 1-4 replicas, 1-8 workers, bounded or
/// unbounded queues, any balancer, any work distribution, loads from light
/// to overloaded (overload only with bounded queues).
fn random_scenario(rng: &mut Pcg64, seed: u64) -> String {
    let workers: u32 = rng.random_range(1..=8);
    let replicas: u32 = rng.random_range(1..=4);
    let bounded = rng.random_bool(0.6);
    let queue = if bounded {
        rng.random_range(0..=10u32).to_string()
    } else {
        "\"unbounded\"".to_owned()
    };
    // Overload (rho up to 2) only when queues are bounded.
    let rho = if bounded {
        rng.random_range(0.1..2.0)
    } else {
        rng.random_range(0.1..0.8)
    };
    let lb = ["round-robin", "random", "least-connections"][rng.random_range(0..3usize)];
    let work = match rng.random_range(0..5u32) {
        0 => "{ distribution = \"exponential\", mean = \"10ms\" }",
        1 => "{ distribution = \"deterministic\", mean = \"10ms\" }",
        2 => "{ distribution = \"uniform\", min = \"1ms\", max = \"19ms\" }",
        3 => "{ distribution = \"lognormal\", mean = \"10ms\", cv = 3.0 }",
        _ => "{ distribution = \"pareto\", mean = \"10ms\", shape = 2.5 }",
    };
    let rate = rho * f64::from(workers * replicas) / 0.010;
    format!(
        r#"
[run]
duration = "20s"
warmup = "{warmup}s"
replications = 1
seed = {seed}
timeseries_interval = "3s"

[workload]
arrivals = {{ process = "poisson", rate = {rate} }}

[[services]]
name = "svc"
instance = {{ workers = {workers}, queue = {queue} }}
work = {work}
replicas = {replicas}
load_balancer = "{lb}"
"#,
        warmup = rng.random_range(0..5u32),
    )
}

#[test]
fn every_arrival_ends_exactly_once_over_many_seeds() {
    let mut rng = Pcg64::seed_from_u64(2026);
    for seed in 0..200u64 {
        let text = random_scenario(&mut rng, seed);
        let loaded = load_str(Path::new("random.toml"), &text, &[])
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let out = run_replication(&loaded.plan, 0, &AtomicU64::new(0))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let m = &out.metrics;
        assert_eq!(m.requests, m.ended(), "seed {seed}: {m:?}\n{text}");
        assert!(m.requests > 0, "seed {seed}");
        let bounded = !text.contains("unbounded");
        if bounded {
            let plan = &loaded.plan.services[0];
            // A request that finds every queue full stays in flight until its
            // 503 is delivered, an event at the same instant: one more.
            let capacity = u64::from(plan.scaling.initial())
                * (u64::from(plan.workers) + plan.queue.unwrap_or(0))
                + 1;
            assert!(
                out.peak_in_flight <= capacity,
                "seed {seed}: {} in flight exceeds replicas x (workers + queue) + 1 = {capacity}",
                out.peak_in_flight
            );
        }
        // Time series: arrivals over all intervals cover every arrival in
        // [0, duration), warm-up included.
        let mut prev_t = 0.0;
        let mut arrivals = 0.0;
        for row in &out.timeseries {
            arrivals += row.arrivals_rps * (row.t_s - prev_t);
            prev_t = row.t_s;
        }
        assert_eq!(prev_t, 20.0, "the last interval ends at the duration");
        assert!(
            arrivals.round() >= m.requests as f64,
            "seed {seed}: {arrivals} < {}",
            m.requests
        );
    }
}

#[test]
fn a_replication_is_a_pure_function_of_plan_and_index() {
    let mut rng = Pcg64::seed_from_u64(7);
    let text = random_scenario(&mut rng, 11);
    let loaded = load_str(Path::new("random.toml"), &text, &[]).unwrap();
    let a = run_replication(&loaded.plan, 3, &AtomicU64::new(0)).unwrap();
    let b = run_replication(&loaded.plan, 3, &AtomicU64::new(0)).unwrap();
    let c = run_replication(&loaded.plan, 4, &AtomicU64::new(0)).unwrap();
    assert_eq!(a.metrics.cells(), b.metrics.cells());
    assert_eq!(a.timeseries, b.timeseries);
    assert_ne!(a.metrics.cells(), c.metrics.cells());
}

#[test]
fn memory_stays_flat_as_duration_grows() {
    // A bounded system run 1x and 20x as long holds the same number of
    // request slots at most: requests are freed when they finish.
    let text = |duration: &str| {
        format!(
            r#"
[run]
duration = "{duration}"
replications = 1
timeseries_interval = "1h"
[workload]
arrivals = {{ process = "poisson", rate = 900.0 }}
[[services]]
name = "svc"
instance = {{ workers = 10, queue = 5 }}
work = {{ distribution = "exponential", mean = "10ms" }}
replicas = 1
"#
        )
    };
    let short = load_str(Path::new("short.toml"), &text("10m"), &[]).unwrap();
    let long = load_str(Path::new("long.toml"), &text("200m"), &[]).unwrap();
    let short = run_replication(&short.plan, 0, &AtomicU64::new(0)).unwrap();
    let long = run_replication(&long.plan, 0, &AtomicU64::new(0)).unwrap();
    assert!(long.metrics.requests > 15 * short.metrics.requests);
    assert!(short.peak_in_flight <= 16 && long.peak_in_flight <= 16);
}
