//! Invariants of the data tier over randomised scenarios: every arrival ends
//! exactly once (also with small pools and short acquire timeouts, bounded
//! shard queues, overloaded or rate-limited shards, store retries, cache flushes, crashing callers, a
//! region outage of the primary or the replica, store failovers, and mesh timeouts, retries and hedges that
//! leave attempts working after their callers stopped waiting, caches started
//! warm or cold), hit ratios are
//! ratios, and a replication is a pure function of (plan, replication). A failure prints the seed and
//! the scenario that reproduces it.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::time::Duration;

use headroom_models::engine::RunError;
use headroom_models::plan::Plan;
use headroom_models::report::RunOutput;
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
    let mut text = format!(
        r#"
[run]
duration = "15s"
warmup = "{warmup}s"
cache_warm_start = "{warm_start}s"
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
        // Half the cases start their caches warm (0 s is none).
        warm_start = pick(rng, &["0", "0", "1", "5"]),
        sep = if popularity.is_empty() { "" } else { "," },
        rtt = rng.random_range(0..100u32),
        ttl = rng.random_range(1..10_000u32),
        flush = rng.random_range(1..14u32),
    );
    // Mesh timeouts, sometimes as short as the work: callers stop waiting
    // while their attempts go on to read and write the store.
    if rng.random_bool(0.5) {
        let timeout = rng.random_range(2..60u32);
        text += &format!("\n[policy.mesh]\ntimeout = \"{timeout}ms\"\n");
        if rng.random_bool(0.5) {
            text += &format!(
                "retry = {{ attempts = {}, backoff = \"exponential\", base = \"1ms\", per_try_timeout = \"{}ms\", retry_on = [\"5xx\", \"timeout\"] }}\n",
                rng.random_range(2..=3u32),
                rng.random_range(1..timeout),
            );
        }
        // Hedged reads and writes: the slower tries go on to the store
        // after the call was answered.
        if rng.random_bool(0.3) {
            text += &format!(
                "hedge = {{ delay = \"{}ms\", max_hedged = {} }}\n",
                rng.random_range(1..10u32),
                rng.random_range(1..=2u32),
            );
        }
    }
    // A per-shard rate limit, from its own stream so that the draws above
    // are those of the cases without it.
    let mut limit_rng = Pcg64::seed_from_u64(seed ^ 0x5348_4152_444c_494d);
    if limit_rng.random_bool(0.3) {
        let shard = r#"cv = 2.0 } }"#;
        text = text.replacen(shard, r#"cv = 2.0 }, rate_limit = "partition" }"#, 1);
        text += &format!(
            "\n[policy.rate_limit.partition]\nstrategy = \"gcra\"\nwindow = \"1s\"\nmax = {}\nburst = {}\n",
            limit_rng.random_range(1..500u32),
            limit_rng.random_range(1..50u32),
        );
    }
    // Store retries (of throttles, shed and failed connects), from the same
    // stream: operations that start over from the pool after a backoff,
    // some of them after their caller stopped waiting or crashed.
    if limit_rng.random_bool(0.4) {
        let retry = format!(
            "retry = {{ attempts = {}, base = \"{}ms\", retry_on = [\"rate-limited\", \"5xx\", \"connect-failure\"] }}\n",
            limit_rng.random_range(2..=4u32),
            limit_rng.random_range(1..200u32),
        );
        text = text.replacen("routing = {", &format!("{retry}routing = {{"), 1);
    }
    // Store timeouts, from their own stream: tries their callers stop
    // waiting for go on at the shards and hold their connections, and the
    // store's retries (when it has them) sometimes retry them.
    let mut timeout_rng = Pcg64::seed_from_u64(seed ^ 0x5354_4f52_4554_494d);
    if timeout_rng.random_bool(0.4) {
        let timeout = format!("timeout = \"{}ms\"\n", timeout_rng.random_range(1..20u32));
        text = text.replacen("routing = {", &format!("{timeout}routing = {{"), 1);
        if timeout_rng.random_bool(0.5) {
            text = text.replacen(
                "\"connect-failure\"]",
                "\"connect-failure\", \"timeout\"]",
                1,
            );
        }
    }
    // The outage in the replica's region instead, and a store failover,
    // from their own stream: operations and applies cut at a dark copy,
    // shipped writes held, a replica promoted and writes lost.
    let mut outage_rng = Pcg64::seed_from_u64(seed ^ 0x4f55_5441_4745_5331);
    if !outage.is_empty() && outage_rng.random_bool(0.5) {
        text = text.replacen("region = \"us-east\"\nat", "region = \"eu-west\"\nat", 1);
    } else if outage.is_empty() && outage_rng.random_bool(0.25) {
        text += "\n[[faults]]\ntype = \"region-outage\"\nregion = \"eu-west\"\nat = \"4s\"\nduration = \"5s\"\n";
    }
    if outage_rng.random_bool(0.4) {
        let failover = format!(
            "failover = {{ after = \"{}ms\" }}\n",
            outage_rng.random_range(1..3000u32)
        );
        text = text.replacen("routing = {", &format!("{failover}routing = {{"), 1);
    }
    text
}

/// Runs replication 0 of `plan` on its own thread and gives up after
/// `limit` of wall time: a run whose world never goes idle (a record left in
/// flight with no event to end it) would otherwise loop on its periodic
/// timers forever, and the test would hang instead of failing.
fn run_bounded(plan: &Plan, limit: Duration) -> Option<Result<RunOutput, RunError>> {
    let (tx, rx) = mpsc::channel();
    let plan = plan.clone();
    // A watchdog, not parallel simulation: the run is still on one thread.
    #[allow(clippy::disallowed_methods)]
    std::thread::spawn(move || {
        let _ = tx.send(run_replication(&plan, 0, &AtomicU64::new(0)));
    });
    rx.recv_timeout(limit).ok()
}

/// A caller that stops waiting does not cancel the work it started: here
/// every request times out at the edge after 1 ms, while its api attempt
/// works for 5 ms and then reads the store. The read must still happen (it
/// is load on the store), and the attempt must end. It used to wait for a
/// data step that never started, so the run never went idle and looped on
/// its health checks forever.
#[test]
fn an_attempt_whose_request_has_ended_still_reads_the_store_and_ends() {
    let text = r#"
[run]
duration = "2s"
warmup = "0s"
replications = 1
seed = 7

[workload]
arrivals = { process = "poisson", rate = 200 }
keys = { count = 1000 }
read_fraction = 1.0

[[services]]
name = "api"
instance = { workers = 64 }
work = { distribution = "deterministic", mean = "5ms" }
calls = [ { data = "users" } ]
replicas = 2

[[datastores]]
name = "users"
shards = 1
shard = { workers = 64, read = { distribution = "deterministic", mean = "1ms" }, write = { distribution = "deterministic", mean = "1ms" } }
pool = { min = 1, max = 4, idle_timeout = "100ms", acquire_timeout = "50ms", connect_time = "1ms" }

[policy.mesh]
timeout = "1ms"

[policy.load_balancer]
algorithm = "least-connections"
health_check = { interval = "1s", timeout = "100ms" }
"#;
    let loaded = load_str(Path::new("orphan.toml"), text, &[]).expect("valid scenario");
    let out = run_bounded(&loaded.plan, Duration::from_secs(120))
        .expect("the run ends (it used to loop forever)")
        .expect("the run succeeds");
    let m = &out.metrics;
    assert!(m.requests > 300, "{} requests", m.requests);
    assert_eq!(m.ended(), m.requests, "every arrival ends once");
    assert_eq!(
        m.timeouts, m.requests,
        "every request times out at the edge"
    );
    let reads: u64 = out.shards.iter().map(|s| s.requests).sum();
    assert_eq!(
        reads, m.requests,
        "every api attempt reads the store after its request has ended"
    );
    assert_eq!(out.audit.attempts_left, 0, "no attempt is left in flight");
}

#[test]
fn every_arrival_ends_exactly_once_with_the_data_tier() {
    let mut rng = Pcg64::seed_from_u64(20261130);
    let (mut timed_stores, mut dark_replicas, mut failovers) = (0, 0, 0);
    for case in 0..40u64 {
        let seed = rng.random::<u64>() >> 1;
        let text = random_scenario(&mut rng, seed);
        timed_stores += u32::from(text.contains("ms\"\nrouting = {"));
        dark_replicas += u32::from(text.contains("region = \"eu-west\"\nat"));
        let dark_primary = text.contains("region = \"us-east\"\nat");
        failovers += u32::from(dark_primary && text.contains("failover = {"));
        if std::env::var_os("DATA_CONSERVATION_PRINT").is_some() {
            eprintln!("case {case}:\n{text}");
        }
        let loaded = load_str(Path::new("random.toml"), &text, &[])
            .unwrap_or_else(|e| panic!("case {case}: {e}\n{text}"));
        let run = || run_replication(&loaded.plan, 0, &AtomicU64::new(0));
        let out = match run_bounded(&loaded.plan, Duration::from_secs(300)) {
            Some(Ok(out)) => out,
            Some(Err(e)) => panic!("case {case} (seed {seed}): {e}\n{text}"),
            None => panic!("case {case} (seed {seed}): the run did not end\n{text}"),
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
        for t in &m.cache_tiers {
            let r = t.hit_ratio();
            assert!((0.0..=1.0).contains(&r), "case {case}: {} = {r}", t.column);
            assert!(t.hits <= t.lookups, "case {case}: {t:?}");
        }
        // Stale reads are reads a shard served: never more than it took
        // and did not fail.
        for r in &out.shards {
            assert!(
                r.stale_reads + r.errors <= r.requests,
                "case {case} (seed {seed}): {} {} shard {}: {} stale, {} errors of {}\n{text}",
                r.store,
                r.region,
                r.shard,
                r.stale_reads,
                r.errors,
                r.requests
            );
        }
        if let Some(fault) = shard_series_fault(&out) {
            panic!("case {case} (seed {seed}): {fault}\n{text}");
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
    // The worlds cover store timeouts, outages of the replica's region and
    // failovers of the primary's.
    assert!(
        timed_stores >= 8,
        "{timed_stores} of 40 worlds time store operations out"
    );
    assert!(
        dark_replicas >= 3 && failovers >= 2,
        "{dark_replicas} dark replicas, {failovers} failovers in 40 worlds"
    );
}

/// What is wrong with a replication's per-shard time series, if anything:
/// one row per (interval, shard) at the intervals of `timeseries`, shards
/// in `shards`' order; in each, a busy fraction and ordered quantiles; and
/// per shard, busy worker-seconds over the intervals inside the measured
/// window no more than `shards.csv` measures, over those touching it no
/// fewer (busy time is clipped to the window by time; operations are
/// counted by their request's arrival, so they have no such bound).
fn shard_series_fault(out: &RunOutput) -> Option<String> {
    let n = out.shards.len();
    if out.shard_timeseries.len() != out.timeseries.len() * n {
        return Some(format!(
            "{} shard intervals for {} intervals of {n} shards",
            out.shard_timeseries.len(),
            out.timeseries.len()
        ));
    }
    let w = out.warmup_s;
    let (mut inside, mut touching) = (vec![0.0; n], vec![0.0; n]);
    let mut start = 0.0;
    for (k, iv) in out.timeseries.iter().enumerate() {
        for (j, r) in out.shard_timeseries[k * n..(k + 1) * n].iter().enumerate() {
            if r.t_s != iv.t_s
                || r.shard != j
                || r.trigger != iv.trigger
                || !(0.0..=1.0 + 1e-9).contains(&r.utilization)
                || r.requests_rps < 0.0
                || r.latency_p50_ms > r.latency_p99_ms
                || r.latency_p50_ms.is_nan() != r.latency_p99_ms.is_nan()
            {
                return Some(format!("interval {k}, shard {j}: {r:?} (interval {iv:?})"));
            }
            let busy = r.utilization * (iv.t_s - start);
            if start >= w - 1e-9 {
                inside[j] += busy;
            }
            if iv.t_s > w {
                touching[j] += busy;
            }
        }
        start = iv.t_s;
    }
    let measured_s = out.metrics.measured.as_secs_f64();
    for (j, row) in out.shards.iter().enumerate() {
        let busy = row.utilization * measured_s;
        let slack = 1e-9 * (1.0 + busy);
        if inside[j] > busy + slack || busy > touching[j] + slack {
            return Some(format!(
                "shard {j} ({} {}): busy worker-seconds per worker measured {busy}, \
                 over intervals inside the window {}, touching it {}",
                row.store, row.shard, inside[j], touching[j]
            ));
        }
    }
    None
}
