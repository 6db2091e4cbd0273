//! `warmup = "auto"`: MSER-5 picks the truncation per replication and the
//! statistics cover only what follows it.

use std::path::Path;
use std::sync::atomic::AtomicU64;

use headroom_models::{RunOutput, load_str, run_replication};

/// One service that starts at 1 instance (200/s) under a load of 500/s: the
/// first minutes are an overload transient (queues build until the HPA's
/// scale-ups boot, then drain); afterwards the system is steady.
const TRANSIENT: &str = r#"
[run]
duration = "40m"
warmup = "auto"
replications = 1
seed = 11
timeseries_interval = "1m"

[workload]
arrivals = { process = "poisson", rate = 500.0 }

[[services]]
name = "api"
instance = { workers = 10 }
work = { distribution = "exponential", mean = "50ms" }
autoscaler = "api"
boot_time = "60s"

[policy.autoscaler.api]
min_replicas = 1
max_replicas = 20
target_rps = 100.0
"#;

fn run(text: &str, sets: &[&str]) -> RunOutput {
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    let loaded = load_str(Path::new("auto.toml"), text, &sets).expect("valid scenario");
    run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("runs")
}

#[test]
fn the_overload_transient_is_truncated_and_excluded() {
    let auto = run(TRANSIENT, &[]);
    let none = run(TRANSIENT, &["run.warmup=0s"]);
    // The backlog lasts at least the first boot (60 s) and ends well within
    // the first half of the run.
    assert!(
        auto.warmup_s >= 60.0 && auto.warmup_s <= 1200.0,
        "truncation {} s",
        auto.warmup_s
    );
    assert!(!auto.warmup_at_limit);
    assert_eq!(none.warmup_s, 0.0);
    // Steady state: 5 instances of 10 workers at 500/s (rho = 0.5) hardly
    // queue, so p99 is near an exponential 50 ms's 230 ms. The untruncated
    // run carries the backlog's queueing.
    let p99_auto = auto.metrics.latency.quantile_ns(0.99) as f64 / 1e6;
    let p99_none = none.metrics.latency.quantile_ns(0.99) as f64 / 1e6;
    assert!(p99_auto < 300.0, "p99 after truncation {p99_auto} ms");
    assert!(
        p99_none > 2.0 * p99_auto,
        "p99 without truncation {p99_none} ms"
    );
    // The measured window is the same trajectory as a fixed warm-up equal to
    // the truncation (a replication is a pure function of plan and index).
    let fixed = run(
        TRANSIENT,
        &[&format!(
            "run.warmup=\"{}ms\"",
            (auto.warmup_s * 1000.0).round() as u64
        )],
    );
    assert_eq!(auto.metrics.requests, fixed.metrics.requests);
    assert_eq!(auto.metrics.ok, fixed.metrics.ok);
}

#[test]
fn a_steady_run_truncates_little() {
    let steady = TRANSIENT.replace("min_replicas = 1", "min_replicas = 5");
    let out = run(&steady, &[]);
    assert!(out.warmup_s <= 240.0, "truncation {} s", out.warmup_s);
}

/// A global LRU of 20,000 items over a million Zipf(0.9) keys at 2000
/// reads/s fills in about ten seconds and its hit ratio creeps up after.
/// A hit saves 1 ms of a request's 50 ms, below the latency's noise, so
/// the latency alone shows no transient: the cache's own hit ratio does.
const CACHE_WARMING: &str = r#"
[run]
duration = "80s"
warmup = "auto"
replications = 1
seed = 5

[workload]
arrivals = { process = "poisson", rate = 2000.0 }
keys = { count = 1000000, popularity = "zipf", s = 0.9 }

[[services]]
name = "api"
instance = { workers = 1000, model = "event-loop" }
work = { distribution = "exponential", mean = "50ms" }
calls = [ { data = "users" } ]
replicas = 1

[[datastores]]
name = "users"
shard = { workers = 64, read = { distribution = "deterministic", mean = "1ms" } }

[[datastores.cache]]
tier = "l1"
scope = "global"
capacity = 20000
eviction = "lru"
"#;

#[test]
fn a_cache_still_filling_is_truncated_too() {
    let load = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
        load_str(Path::new("cache.toml"), CACHE_WARMING, &sets).expect("valid scenario")
    };
    let auto = load(&[]);
    let zero = load(&["run.warmup=0s"]);
    let run = |loaded: &headroom_models::Loaded| {
        run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("runs")
    };
    let (a, z) = (run(&auto), run(&zero));
    // The cache's rise lasts past its fill (about 10 s); the latency alone
    // truncated 0.4 s of this replication.
    assert!(
        a.warmup_s >= 8.0 && a.warmup_s <= 40.0,
        "truncation {} s",
        a.warmup_s
    );
    assert!(!a.warmup_at_limit);
    // From the start, the halves of the run differ by more than a point;
    // after the truncation they agree.
    let cold = |loaded: &headroom_models::Loaded, out: &RunOutput| {
        headroom_models::report::cold_cache_warning(&loaded.plan, std::slice::from_ref(out))
    };
    assert!(cold(&zero, &z).is_some());
    assert_eq!(cold(&auto, &a), None);
    assert!(
        a.metrics.cache_tiers[0].hit_ratio() > z.metrics.cache_tiers[0].hit_ratio() + 0.01,
        "{} vs {}",
        a.metrics.cache_tiers[0].hit_ratio(),
        z.metrics.cache_tiers[0].hit_ratio()
    );
}
