//! Invariants of the data tier over randomised scenarios: every arrival ends
//! exactly once (also with small pools and short acquire timeouts, bounded
//! shard queues, overloaded shards, cache flushes, crashing callers and a
//! region outage of the primary), hit ratios are ratios, and a replication
//! is a pure function of (plan, replication). A failure prints the seed and
//! the scenario that reproduces it.

use std::path::Path;
use std::sync::atomic::AtomicU64;

use headroom_models::{load_str, run_replication};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

fn random_scenario(rng: &mut Pcg64, seed: u64) -> String {
    let pick = |rng: &mut Pcg64, xs: &[&'static str]| xs[rng.random_range(0..xs.len())];
    let rate = rng.random_range(50.0..3000.0);
    let keys = rng.random_range(1..200_000u64);
    let popularity = if rng.random_bool(0.5) {
        format!(
            "popularity = \"zipf\", s = {:.2}",
            rng.random_range(0.3..1.5)
        )
    } else {
        String::new()
    };
    let read_fraction = pick(rng, &["1.0", "0.9", "0.5", "0.0"]);
    let shards = rng.random_range(1..=32u32);
    let workers = rng.random_range(1..=8u32);
    let queue = pick(rng, &["\"unbounded\"", "0", "5", "50"]);
    let pool = if rng.random_bool(0.6) {
        let max = rng.random_range(1..=8u32);
        let min = rng.random_range(0..=max);
        format!(
            "pool = {{ min = {min}, max = {max}, idle_timeout = \"{}ms\", acquire_timeout = \"{}ms\", max_waiters = {}, connect_time = \"{}ms\" }}",
            rng.random_range(1..2000u32),
            rng.random_range(1..500u32),
            rng.random_range(1..100u32),
            rng.random_range(0..20u32),
        )
    } else {
        String::new()
    };
    let reads = pick(rng, &["primary", "nearest-replica"]);
    let eviction = pick(rng, &["lru", "fifo", "lfu", "s3-fifo"]);
    let scope = pick(rng, &["instance", "region", "global"]);
    let scope2 = pick(rng, &["instance", "region", "global"]);
    let capacity = pick(rng, &["1", "100", "5000", "\"64KB\"", "\"10MB\""]);
    let edge = if rng.random_bool(0.4) {
        format!(
            "[edge]\ncache = {{ max_age = \"{}ms\", cacheable_fraction = {:.2} }}",
            rng.random_range(1..5000u32),
            rng.random_range(0.0..1.0),
        )
    } else {
        String::new()
    };
    let crash = if rng.random_bool(0.3) {
        "[[faults]]\ntype = \"instance-crash\"\nservice = \"api\"\nmtbf = \"5s\"\n"
    } else {
        ""
    };
    let outage = if rng.random_bool(0.3) {
        "[[faults]]\ntype = \"region-outage\"\nregion = \"us-east\"\nat = \"6s\"\nduration = \"3s\"\n"
    } else {
        ""
    };
    format!(
        r#"
[run]
duration = "15s"
warmup = "{warmup}s"
replications = 1
seed = {seed}
timeseries_interval = "2s"

[workload]
arrivals = {{ process = "poisson", rate = {rate} }}
keys = {{ count = {keys} {sep} {popularity} }}
read_fraction = {read_fraction}

[[regions]]
name = "us-east"
[[regions]]
name = "eu-west"

[network]
rtt = {{ us-east = {{ eu-west = "{rtt}ms" }} }}

[[services]]
name = "api"
instance = {{ workers = 16, queue = 100 }}
work = {{ distribution = "exponential", mean = "1ms" }}
calls = [ {{ data = "users" }}, {{ data = "users" }} ]
replicas = 2

[[datastores]]
name = "users"
shards = {shards}
shard = {{ workers = {workers}, queue = {queue}, read = {{ distribution = "exponential", mean = "2ms" }}, write = {{ distribution = "lognormal", mean = "4ms", cv = 2.0 }} }}
primary = "us-east"
replicas = ["eu-west"]
routing = {{ reads = "{reads}" }}
{pool}

[[datastores.cache]]
tier = "l1"
scope = "{scope}"
capacity = {capacity}
eviction = "{eviction}"
ttl = "{ttl}ms"

[[datastores.cache]]
tier = "l2"
scope = "{scope2}"
capacity = 1000
eviction = "ttl-only"
ttl = "500ms"
latency = "1ms"

{edge}

[[faults]]
type = "cache-flush"
store = "users"
tier = "l1"
at = "{flush}s"

{crash}
{outage}
"#,
        warmup = rng.random_range(0..4u32),
        sep = if popularity.is_empty() { "" } else { "," },
        rtt = rng.random_range(0..100u32),
        ttl = rng.random_range(1..10_000u32),
        flush = rng.random_range(1..14u32),
    )
}

#[test]
fn every_arrival_ends_exactly_once_with_the_data_tier() {
    let mut rng = Pcg64::seed_from_u64(20261130);
    for case in 0..40u64 {
        let seed = rng.random::<u64>() >> 1;
        let text = random_scenario(&mut rng, seed);
        if std::env::var_os("DATA_CONSERVATION_PRINT").is_some() {
            eprintln!("case {case}:\n{text}");
        }
        let loaded = load_str(Path::new("random.toml"), &text, &[])
            .unwrap_or_else(|e| panic!("case {case}: {e}\n{text}"));
        let run = || run_replication(&loaded.plan, 0, &AtomicU64::new(0));
        let out = match run() {
            Ok(out) => out,
            Err(e) => panic!("case {case} (seed {seed}): {e}\n{text}"),
        };
        let m = &out.metrics;
        assert_eq!(
            m.ended(),
            m.requests,
            "case {case} (seed {seed}): every arrival ends once\n{text}"
        );
        assert!(
            (0.0..=1.0).contains(&m.cache_hit_ratio),
            "case {case}: {}",
            m.cache_hit_ratio
        );
        for (name, r) in &m.cache_tiers {
            assert!((0.0..=1.0).contains(r), "case {case}: {name} = {r}");
        }
        let again = run().expect("ran once");
        // Compared as written (NaN cells, e.g. an unrecovered trigger's
        // `recovery_s`, are equal as text).
        let text = |cells: Vec<headroom_models::report::Cell>| {
            cells.iter().map(ToString::to_string).collect::<Vec<_>>()
        };
        assert_eq!(
            text(m.cells()),
            text(again.metrics.cells()),
            "case {case}: a replication is a pure function"
        );
    }
}
