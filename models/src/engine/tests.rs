//! The engine's guard against a run that could never end.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::time::Duration;

use headroom_sim::{Span, Timestamp};

use super::World;
use super::data::{DataKey, Pruning};
use super::mesh::Request;

/// Health checks every second: housekeeping timers that re-arm while
/// anything is in flight.
const SCENARIO: &str = r#"
[run]
duration = "2s"
warmup = "0s"
replications = 1

[workload]
arrivals = { process = "poisson", rate = 100 }

[[services]]
name = "api"
instance = { workers = 4 }
work = { distribution = "exponential", mean = "1ms" }
replicas = 2

[policy.load_balancer]
algorithm = "least-connections"
health_check = { interval = "1s", timeout = "100ms" }
"#;

/// A record left in flight with no event to end it (here a request put in
/// by hand; in the past, an attempt whose data step never started) used to
/// keep the health checks re-arming after the end, and the run never
/// returned. Now the run stops once only housekeeping timers are left, and
/// the books name what was left.
#[test]
fn a_record_left_in_flight_stops_the_run_and_the_books_name_it() {
    let (tx, rx) = mpsc::channel();
    // A watchdog, not parallel simulation: the run is still on one thread.
    #[allow(clippy::disallowed_methods)]
    std::thread::spawn(move || {
        let loaded = crate::load_str(Path::new("leak.toml"), SCENARIO, &[]).expect("valid");
        let mut world = World::new(&loaded.plan, 0, super::WarmFrom::Run);
        let leaked = Request {
            arrival: Timestamp::ZERO,
            failed_over: false,
            client_rtt: Span::ZERO,
            data: DataKey::default(),
            edge: 0,
            origin: 0,
            flags: 0,
            user: super::mesh::NO_USER,
            first_read: Timestamp::MAX,
        };
        world.requests.insert(leaked).expect("room");
        world.run(&AtomicU64::new(0)).expect("runs");
        let end = world.now;
        let _ = tx.send((end, world.finish(0).audit));
    });
    let (end, audit) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the run stops (it used to loop forever)");
    assert_eq!(audit.requests_left, 1);
    assert_eq!(
        audit.violation().as_deref(),
        Some("1 requests left in flight"),
        "only the leaked record is left: every real arrival ended ({audit:?})"
    );
    assert!(
        end < Timestamp::ZERO + Span::from_secs(10),
        "it stops at the first health check with nothing else left, not later: {end:?}"
    );
}

fn example(name: &str, sets: &[&str]) -> crate::Loaded {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../experiments")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("the example");
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    crate::load_str(&path, &text, &sets).expect("valid")
}

/// A warm-start write marks a copy only if its mark can reach the run: a
/// tier's mark lives its TTL plus the longest life of what a stale hit on
/// it fills (the edge for a key it caches, the tiers above). The seed's
/// tiers: l1 60 s (instance), hot 300 s, warm 1 h, cold 24 h; its edge's
/// `max_age` 1 h.
#[test]
fn a_warm_start_mark_lives_its_ttl_and_what_its_stale_hits_fill() {
    let loaded = example("seed.toml", &[]);
    let (store, edge) = (&loaded.plan.data.stores[0], loaded.plan.data.edge_cache);
    let edge = edge.expect("the seed's edge cache");
    let cacheable = (0..).find(|&k| edge.cacheable(k)).expect("a cacheable key");
    let not = (0..)
        .find(|&k| !edge.cacheable(k))
        .expect("a key it does not cache");
    let left = |secs: u64| Span::from_secs(secs).as_nanos();
    let kept = |key, secs| super::data::warm_marks_outlive(store, Some(&edge), key, left(secs));
    // 30 min before time 0: a stale l1 hit of a cacheable key can fill the
    // edge for an hour, so l1 is marked; of another key, only what lives
    // longer than 30 min (warm: 1 h + hot's 300 s + l1's 60 s; cold).
    assert_eq!(kept(cacheable, 1800), (0b1111, true));
    assert_eq!(kept(not, 1800), (0b1100, false));
    // 2 h before: l1 (60 s + 1 h) and hot (300 s + 1 h 1 min) end before
    // time 0 even through the edge; warm (1 h + 1 h 6 min) does not.
    assert_eq!(kept(cacheable, 7200), (0b1100, false));
    // In the last minute, everything.
    assert_eq!(kept(not, 60), (0b1111, false));
    assert_eq!(kept(cacheable, 60), (0b1111, true));
    // A tier without a TTL is always marked, and so is every tier below
    // it, whose stale hits fill it (27.8 h before time 0, only l1 not).
    let mut no_ttl = store.clone();
    no_ttl.tiers[1].spec.ttl_ns = None;
    let kept = super::data::warm_marks_outlive(&no_ttl, None, not, left(100_000));
    assert_eq!(kept, (0b1110, false));
}

/// Leaving those marks out changes nothing: the seed after a 10-minute warm
/// start (its l1 copies of the keys the edge does not cache are marked only
/// in the last minute) is the same as with every mark made.
#[test]
fn skipping_the_warm_start_marks_the_run_cannot_reach_changes_nothing() {
    let loaded = example(
        "seed.toml",
        &[
            "run.duration=\"20s\"",
            "run.warmup=\"0s\"",
            "run.cache_warm_start=\"10m\"",
        ],
    );
    let run = |warm| {
        let mut world = World::new(&loaded.plan, 0, warm);
        world.run(&AtomicU64::new(0)).expect("runs");
        format!("{:?}", world.finish(0))
    };
    let (skipping, marking_all) = (
        run(super::WarmFrom::Run),
        run(super::WarmFrom::RunMarkingAll),
    );
    assert!(
        skipping.contains("stale_read_ratio: Some(0."),
        "{skipping:.400}"
    );
    assert!(skipping == marking_all);
}

/// Pruning the stale-read bookkeeping (marks of entries their copy no
/// longer holds, commits older than every read in flight) changes nothing,
/// warm start and run alike, and keeps it small: without it, it grows with
/// every key ever written and every entry ever marked.
#[test]
fn pruning_the_stale_read_bookkeeping_changes_nothing() {
    let loaded = example(
        "seed.toml",
        &[
            "run.duration=\"60s\"",
            "run.warmup=\"0s\"",
            "run.cache_warm_start=\"10m\"",
        ],
    );
    let run = |pruning| {
        super::data::PRUNING.set(pruning);
        let mut world = World::new(&loaded.plan, 0, super::WarmFrom::Run);
        world.run(&AtomicU64::new(0)).expect("runs");
        super::data::PRUNING.set(Pruning::Doubling);
        let entries = world
            .data
            .stale_entries()
            .expect("the seed counts stale reads");
        (format!("{:?}", world.finish(0)), entries)
    };
    let (pruned, (marks, commits)) = run(Pruning::Doubling);
    let (kept, (all_marks, all_commits)) = run(Pruning::Never);
    assert!(
        pruned.contains("stale_read_ratio: Some(0."),
        "{pruned:.400}"
    );
    assert!(pruned == kept, "pruning changed the run");
    // Every 64 marks and commits: a horizon that one read in flight would
    // see past changes the run.
    assert!(
        run(Pruning::Often).0 == kept,
        "pruning often changed the run"
    );
    // Most marks are of entries still cached (the warm and cold tiers keep
    // theirs for hours): pruning drops the rest. The commits kept are the
    // last few seconds' of a minute's.
    assert!(marks < all_marks, "marks {marks} of {all_marks}");
    assert!(
        commits * 2 < all_commits,
        "commits {commits} of {all_commits}"
    );
}

/// A connection reset by its store's region going dark is dropped, and
/// the pool connects anew (for its waiters and up to `min`), where it used
/// to take the dead connection back for the next operation.
#[test]
fn a_reset_connection_is_dropped_and_replaced() {
    let run = |fault: &str| {
        let loaded = example(
            "store-failover.toml",
            &[
                "run.duration=\"3m\"",
                "run.warmup=\"10s\"",
                "datastores.users.pool={ min = 4, max = 64, connect_time = \"20ms\" }",
                fault,
            ],
        );
        let mut world = World::new(&loaded.plan, 0, super::WarmFrom::Run);
        world.run(&AtomicU64::new(0)).expect("runs");
        let churn = world.data.pool_churn();
        let audit = world.finish(0).audit;
        assert_eq!(audit.violation(), None, "{audit:?}");
        churn
    };
    let (connects, discarded) = run("faults.0.at=\"1m\"");
    let (quiet_connects, quiet_discarded) = run("faults=null");
    assert_eq!(quiet_discarded, 0, "no reset, no connection dropped");
    assert!(discarded > 0, "the outage resets connections");
    // Each dropped connection below `min` is replaced (and the dark
    // region's instances come back with new pools).
    assert!(
        connects >= quiet_connects + discarded,
        "{connects} connects"
    );
}

/// A run that cannot drain names the times longer than the whole run by
/// their scenario keys, longest first: a shard read, a tier lookup, a round
/// trip and a latency fault, each a unit slip of its own kind.
#[test]
fn an_undrained_run_names_the_times_longer_than_the_run() {
    let loaded = example(
        "seed.toml",
        &[
            "run.duration=\"4s\"",
            "run.warmup=\"0s\"",
            "datastores.users.shard.read.mean=\"100000h\"",
            "datastores.users.cache.hot.latency=\"2h\"",
            "network.rtt.us-east.eu-west=\"75m\"",
        ],
    );
    let long = loaded.plan.times_longer_than_run();
    let keys: Vec<&str> = long.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "datastores.users.shard.read",
            "datastores.users.cache.hot.latency",
            "network.rtt.us-east.eu-west",
        ]
    );
    assert_eq!(long[1].1, 7.2e12);
    assert_eq!(
        super::undrained_cause(&loaded.plan),
        "`datastores.users.shard.read` has a mean of 100000h, longer than the whole run (4s), \
         and so have 2 more (`datastores.users.cache.hot.latency`, ...)"
    );

    let fault = example(
        "retry-storm.toml",
        &["run.duration=\"10m\"", "faults.0.add=\"1h\""],
    );
    assert_eq!(
        super::undrained_cause(&fault.plan),
        "`faults.0.add` has a mean of 1h, longer than the whole run (10m)"
    );

    // The shipped scenario has no such time: the hint stays general.
    let seed = example("seed.toml", &["run.duration=\"4s\"", "run.warmup=\"0s\""]);
    assert!(seed.plan.times_longer_than_run().is_empty());
    assert_eq!(
        super::undrained_cause(&seed.plan),
        "some work, read, write or latency distribution is far longer than the run"
    );
}

#[test]
fn approximate_durations_read_as_a_scenario_would_write_them() {
    for (ns, text) in [
        (3.6e17, "100000h"),
        (7.2e12, "2h"),
        (6e11, "10m"),
        (1.234e9, "1.23s"),
        (2.5e6, "2.5ms"),
        (12_345.0, "12.3us"),
        (999.0, "999ns"),
        (0.5, "0.5ns"),
    ] {
        assert_eq!(super::approx_duration(ns), text, "{ns}");
    }
}

#[test]
fn auto_warmup_takes_the_latest_truncation() {
    use headroom_sim::stats::Truncation;
    let t = |observations, at_limit| Truncation {
        batches: observations / 5,
        observations,
        statistic: 0.0,
        at_limit,
    };
    // The latest wins; a cache never looked up has no say.
    let got = super::auto_truncation(
        Some(t(10, false)),
        [Some(t(40, false)), None, Some(t(20, false))],
    );
    assert_eq!(got, Some(t(40, false)));
    // At the limit if any is, whichever is latest.
    let got = super::auto_truncation(Some(t(50, false)), [Some(t(20, true))]);
    assert_eq!(got, Some(t(50, true)));
    let got = super::auto_truncation(Some(t(50, true)), [Some(t(60, false))]);
    assert_eq!(got, Some(t(60, true)));
    // No latency series (too few answers): no truncation, as before.
    assert_eq!(super::auto_truncation(None, [Some(t(60, false))]), None);
    assert_eq!(
        super::auto_truncation(Some(t(5, false)), []),
        Some(t(5, false))
    );
}
