//! Rate limiters: decision scripts, admission-bound properties, keyed
//! eviction equivalence and the `[policy.rate_limit.NAME]` table.

use std::collections::BTreeMap;

use headroom_policy::ratelimit::{
    Algorithm, Gcra, InsufficientCapacity, KeyScope, Keyed, RateDecision, RateLimitConfig,
    RateLimitStats, RateLimiter, SlidingLog, TokenBucket, TwoWindow,
};
use headroom_policy::{Span, Timestamp};
use proptest::prelude::*;

fn ms(v: u64) -> Timestamp {
    Timestamp::from_nanos(v * 1_000_000)
}

/// Expected outcome of one scripted check.
#[derive(Clone, Copy, Debug)]
enum E {
    /// Admit.
    A,
    /// Reject with this `retry_after` in milliseconds.
    R(u64),
    /// InsufficientCapacity with this `max_n`.
    Cap(u64),
}

fn expected(e: E) -> Result<RateDecision, InsufficientCapacity> {
    match e {
        E::A => Ok(RateDecision::Admit),
        E::R(wait) => Ok(RateDecision::Reject {
            retry_after: Span::from_millis(wait),
        }),
        E::Cap(max_n) => Err(InsufficientCapacity { max_n }),
    }
}

/// Runs `(time ms, n, expected)` rows against a fresh state at 0.
fn run_script<A: Algorithm>(algorithm: &A, script: &[(u64, u32, E)]) {
    let mut state = algorithm.fresh(ms(0));
    for (row, &(at, n, want)) in script.iter().enumerate() {
        let got = algorithm.check_n(&mut state, ms(at), n);
        assert_eq!(got, expected(want), "row {row}: t={at}ms n={n}");
    }
}

#[test]
fn token_bucket_script() {
    // Envoy: max_tokens 3, tokens_per_fill 2, fill_interval 100ms.
    let bucket = TokenBucket::new(3, 2, Span::from_millis(100), ms(0)).expect("valid");
    run_script(
        &bucket,
        &[
            (0, 1, E::A),
            (0, 2, E::A),
            (0, 1, E::R(100)),
            (99, 1, E::R(1)),
            (100, 2, E::A),
            (250, 3, E::R(50)),
            (250, 4, E::Cap(3)),
            (1000, 3, E::A),
            (1000, 1, E::R(100)),
        ],
    );
}

#[test]
fn gcra_script() {
    // 5 per second, burst 2: one cell per 200 ms, tau 200 ms.
    let gcra = Gcra::new(Span::from_secs(1), 5, 2).expect("valid");
    run_script(
        &gcra,
        &[
            (0, 1, E::A),
            (0, 1, E::A),
            (0, 1, E::R(200)),
            (200, 1, E::A),
            (300, 1, E::R(100)),
            (300, 2, E::R(300)),
            (300, 3, E::Cap(2)),
            (1000, 2, E::A),
            (1000, 1, E::R(200)),
        ],
    );
}

#[test]
fn sliding_log_script() {
    let log = SlidingLog::new(Span::from_secs(1), 3).expect("valid");
    run_script(
        &log,
        &[
            (0, 2, E::A),
            (500, 1, E::A),
            (600, 1, E::R(400)),
            (1000, 1, E::A),
            (1000, 2, E::R(500)),
            (1499, 2, E::R(1)),
            (1500, 2, E::A),
            (1500, 4, E::Cap(3)),
        ],
    );
}

#[test]
fn two_window_script() {
    let tw = TwoWindow::new(Span::from_secs(10), 4).expect("valid");
    run_script(
        &tw,
        &[
            (2_000, 4, E::A),
            (9_000, 1, E::R(3_500)),
            (12_500, 1, E::A),
            (12_500, 1, E::R(2_500)),
            (25_000, 3, E::A),
            (25_000, 1, E::R(5_000)),
            (25_000, 5, E::Cap(4)),
        ],
    );
}

fn limiter(toml_text: &str) -> RateLimiter {
    let config: RateLimitConfig = toml::from_str(toml_text).expect("parses");
    RateLimiter::new(&config.validate().expect("valid"), ms(0))
}

#[test]
fn keyed_rate_limiter_script() {
    // 2 per second per client, at most 2 clients held.
    let mut rl = limiter(
        r#"strategy = "sliding-window"
           window = "1s"
           max = 2
           key = "client"
           max_keys = 2"#,
    );
    let script: [(u64, u64, E); 9] = [
        (0, 1, E::A),
        (0, 1, E::A),
        (0, 1, E::R(1000)),
        (100, 2, E::A),
        (200, 1, E::R(800)),
        // No key is fresh yet: client 3 evicts the LRU key, client 2
        // (client 1 was used at 200 ms).
        (300, 3, E::A),
        // Client 2 comes back fresh and evicts client 1 (now the LRU).
        (300, 2, E::A),
        // Client 1 comes back fresh (evicting client 3): the active
        // evictions reset its limit early.
        (400, 1, E::A),
        (400, 1, E::A),
    ];
    for (row, &(at, client, want)) in script.iter().enumerate() {
        let got = rl.check_n(ms(at), client, 1);
        assert_eq!(got, expected(want), "row {row}");
    }
    assert_eq!(rl.keys_held(), 2);
    assert_eq!(
        rl.stats(),
        RateLimitStats {
            admitted: 7,
            rejected: 2,
            evicted_active: 3,
            ..RateLimitStats::default()
        }
    );
}

#[test]
fn shadow_mode_counts_but_admits() {
    let mut rl = limiter(
        r#"strategy = "token-bucket"
           max_tokens = 2
           fill_interval = "1s"
           shadow = true"#,
    );
    assert!(rl.is_shadow());
    for _ in 0..5 {
        assert_eq!(rl.check(ms(10), 0), RateDecision::Admit);
    }
    // The bucket evolved as if enforced: 2 taken, 3 would-be rejections.
    assert_eq!(rl.remaining(ms(10), 0), 0);
    assert_eq!(rl.remaining(ms(1000), 0), 1);
    assert_eq!(
        rl.check_n(ms(10), 0, 3),
        Err(InsufficientCapacity { max_n: 2 })
    );
    let stats = rl.stats();
    assert_eq!(
        (
            stats.admitted,
            stats.shadow_admitted,
            stats.rejected,
            stats.insufficient_capacity
        ),
        (2, 3, 0, 1)
    );
}

#[test]
fn token_bucket_bound_is_reached() {
    // Full at 0 (3 tokens), one fill of 2 at 100 ms: the closed interval
    // [0, 100ms] of length 100 ms takes 3 + 2 × ceil(100/100) = 5 tokens,
    // and [50ms, 100ms] shows floor() would be wrong: ceil(50/100) = 1.
    let bucket = TokenBucket::new(3, 2, Span::from_millis(100), ms(0)).expect("valid");
    let mut st = bucket.fresh(ms(0));
    assert!(bucket.check_n(&mut st, ms(50), 3).expect("fits").is_admit());
    assert!(
        bucket
            .check_n(&mut st, ms(100), 2)
            .expect("fits")
            .is_admit()
    );
}

// ---------------------------------------------------------------------------
// Properties. Times are in nanoseconds with tiny windows so that boundaries
// are hit often; the arithmetic is exact at every scale.

/// Checks every event, verifying `retry_after` exactness and `remaining`
/// consistency on the way; returns the admitted `(time, n)`.
fn drive<A: Algorithm>(algo: &A, events: &[(u64, u32)]) -> Vec<(u64, u64)> {
    let mut state = algo.fresh(Timestamp::ZERO);
    let mut now = 0u64;
    let mut admitted = Vec::new();
    for &(gap, n) in events {
        now += gap;
        let t = Timestamp::from_nanos(now);
        let remaining = algo.remaining(&state, t);
        assert!(remaining <= algo.capacity());
        if remaining < algo.capacity() {
            let mut probe = state.clone();
            let over = algo.check_n(&mut probe, t, (remaining + 1) as u32);
            assert!(
                !over.expect("within capacity").is_admit(),
                "remaining {remaining} too low"
            );
        }
        if remaining > 0 {
            let mut probe = state.clone();
            let fits = algo.check_n(&mut probe, t, remaining as u32);
            assert!(
                fits.expect("within capacity").is_admit(),
                "remaining {remaining} too high"
            );
        }
        let before = state.clone();
        match algo.check_n(&mut state, t, n) {
            Ok(RateDecision::Admit) => admitted.push((now, u64::from(n))),
            Ok(RateDecision::Reject { retry_after }) => {
                assert!(!retry_after.is_zero());
                let at = t + retry_after;
                let mut probe = before.clone();
                let then = algo.check_n(&mut probe, at, n);
                assert_eq!(
                    then,
                    Ok(RateDecision::Admit),
                    "not admitted after retry_after"
                );
                let mut probe = before.clone();
                let early = algo.check_n(&mut probe, at - Span::from_nanos(1), n);
                assert!(
                    !early.expect("fits").is_admit(),
                    "admitted before retry_after"
                );
            }
            Err(InsufficientCapacity { max_n }) => {
                assert_eq!(max_n, algo.capacity());
                assert!(u64::from(n) > max_n);
            }
        }
    }
    admitted
}

fn events(max_n: u32, max_gap: u64) -> impl Strategy<Value = Vec<(u64, u32)>> {
    prop::collection::vec((0..=max_gap, 0..=max_n), 1..120)
}

/// Admitted units at each instant `0..=horizon`.
fn per_instant(admitted: &[(u64, u64)], horizon: u64) -> Vec<u64> {
    let mut counts = vec![0u64; horizon as usize + 1];
    for &(t, n) in admitted {
        counts[t as usize] += n;
    }
    counts
}

/// Units admitted in `[from, to)` given a prefix sum over instants.
fn in_range(prefix: &[u64], from: u64, to: u64) -> u64 {
    let last = prefix.len() as u64 - 1;
    prefix[to.min(last) as usize] - prefix[from.min(last) as usize]
}

fn prefix_sums(counts: &[u64]) -> Vec<u64> {
    let mut prefix = vec![0u64; counts.len() + 1];
    for (i, c) in counts.iter().enumerate() {
        prefix[i + 1] = prefix[i] + c;
    }
    prefix
}

proptest! {
    #[test]
    fn token_bucket_never_exceeds_its_bound(
        max_tokens in 1u64..8, per_fill in 1u64..5, interval in 1u64..40,
        epoch in 0u64..40, evs in events(9, 30),
    ) {
        let bucket = TokenBucket::new(max_tokens, per_fill, Span::from_nanos(interval),
            Timestamp::from_nanos(epoch)).expect("valid");
        let admitted = drive(&bucket, &evs);
        // Every closed interval [t_i, t_j] between admits.
        for i in 0..admitted.len() {
            let mut taken = 0;
            for j in i..admitted.len() {
                taken += admitted[j].1;
                let len = admitted[j].0 - admitted[i].0;
                let bound = max_tokens + per_fill * len.div_ceil(interval);
                prop_assert!(taken <= bound, "{taken} > {bound} over [{}, {}]", admitted[i].0, admitted[j].0);
            }
        }
    }

    #[test]
    fn token_bucket_refill_is_independent_of_probing(
        max_tokens in 1u64..8, per_fill in 1u64..5, interval in 1u64..40,
        evs in events(9, 30), probes in prop::collection::vec(0u64..30, 120),
    ) {
        let bucket = TokenBucket::new(max_tokens, per_fill, Span::from_nanos(interval),
            Timestamp::ZERO).expect("valid");
        let (mut plain, mut probed) = (bucket.fresh(Timestamp::ZERO), bucket.fresh(Timestamp::ZERO));
        let mut now = 0;
        for (k, &(gap, n)) in evs.iter().enumerate() {
            // A zero-token check refills without taking anything.
            let probe_at = Timestamp::from_nanos(now + probes[k].min(gap));
            let _ = bucket.check_n(&mut probed, probe_at, 0);
            now += gap;
            let t = Timestamp::from_nanos(now);
            prop_assert_eq!(bucket.check_n(&mut plain, t, n), bucket.check_n(&mut probed, t, n));
        }
    }

    #[test]
    fn gcra_never_exceeds_burst_plus_rate(
        period in 1u64..30, burst in 1u64..8, evs in events(9, 30),
    ) {
        let gcra = Gcra::with_period(Span::from_nanos(period), burst).expect("valid");
        let admitted = drive(&gcra, &evs);
        for i in 0..admitted.len() {
            let mut taken = 0;
            for j in i..admitted.len() {
                taken += admitted[j].1;
                let bound = burst + (admitted[j].0 - admitted[i].0) / period;
                prop_assert!(taken <= bound, "{taken} > {bound}");
            }
        }
    }

    #[test]
    fn sliding_log_never_exceeds_max_in_any_window(
        window in 1u64..60, max in 1u64..8, evs in events(9, 25),
    ) {
        let log = SlidingLog::new(Span::from_nanos(window), max).expect("valid");
        let admitted = drive(&log, &evs);
        let horizon = admitted.last().map_or(0, |a| a.0);
        let prefix = prefix_sums(&per_instant(&admitted, horizon));
        for s in 0..=horizon {
            let count = in_range(&prefix, s, s + window);
            prop_assert!(count <= max, "[{s}, {}) holds {count} > {max}", s + window);
        }
    }

    #[test]
    fn two_window_meets_its_stated_bounds(
        window in 1u64..60, max in 1u64..8, evs in events(9, 25),
    ) {
        let tw = TwoWindow::new(Span::from_nanos(window), max).expect("valid");
        let admitted = drive(&tw, &evs);
        let horizon = admitted.last().map_or(0, |a| a.0);
        let prefix = prefix_sums(&per_instant(&admitted, horizon));
        for s in 0..=horizon {
            let total = in_range(&prefix, s, s + window);
            if s % window == 0 {
                prop_assert!(total <= max, "aligned window at {s}: {total} > {max}");
                continue;
            }
            // [s, s+W) reaches d into window k; A = window k−1's count.
            let k_start = (s / window + 1) * window;
            let d = s + window - k_start;
            let a = in_range(&prefix, k_start - window, k_start);
            prop_assert!(total < 2 * max);
            prop_assert!(total <= max || (total - max) * window <= a * (d - 1),
                "[{s}, {}): {total} admitted, A = {a}, d = {d}", s + window);
        }
    }

    #[test]
    fn keyed_matches_unbounded_while_evictions_are_lossless(
        period in 1u64..20, burst in 1u64..4, max_keys in 1u32..4,
        evs in prop::collection::vec((0u64..15, 0u64..6, 0u32..4), 1..150),
    ) {
        let gcra = Gcra::with_period(Span::from_nanos(period), burst).expect("valid");
        keyed_equivalence(gcra, max_keys, &evs)?;
        let bucket = TokenBucket::new(burst, 1, Span::from_nanos(period), Timestamp::from_nanos(3))
            .expect("valid");
        keyed_equivalence(bucket, max_keys, &evs)?;
        let two = TwoWindow::new(Span::from_nanos(period * 3), burst).expect("valid");
        keyed_equivalence(two, max_keys, &evs)?;
        let log = SlidingLog::new(Span::from_nanos(period * 3), burst).expect("valid");
        keyed_equivalence(log, max_keys, &evs)?;
    }
}

/// A keyed limiter decides exactly like one with unbounded keys as long as
/// it has only evicted fresh-equivalent keys; it never holds more than
/// `max_keys`.
fn keyed_equivalence<A: Algorithm + Clone>(
    algo: A,
    max_keys: u32,
    evs: &[(u64, u64, u32)],
) -> Result<(), TestCaseError> {
    let mut keyed = Keyed::new(algo.clone(), max_keys);
    let mut reference: BTreeMap<u64, A::State> = BTreeMap::new();
    let mut now = 0;
    for &(gap, client, n) in evs {
        now += gap;
        let t = Timestamp::from_nanos(now);
        let state = reference.entry(client).or_insert_with(|| algo.fresh(t));
        let want = algo.check_n(state, t, n);
        let got = keyed.check_n(t, client, n);
        prop_assert!(keyed.len() <= max_keys as usize);
        if keyed.stats().evicted_active == 0 {
            prop_assert_eq!(got, want, "client {} at {}", client, now);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Configuration.

#[derive(serde::Deserialize)]
struct Scenario {
    policy: PolicyTables,
}

#[derive(serde::Deserialize)]
struct PolicyTables {
    rate_limit: BTreeMap<String, RateLimitConfig>,
}

#[test]
fn reference_table_parses_as_written() {
    let scenario: Scenario = toml::from_str(
        r#"
        [policy.rate_limit.edge]
        window = "1m"
        max = 100
        strategy = "sliding-window"
        "#,
    )
    .expect("parses");
    let policy = scenario.policy.rate_limit["edge"]
        .validate()
        .expect("valid");
    assert_eq!(policy.scope(), KeyScope::Global);
    let mut rl = RateLimiter::new(&policy, ms(0));
    for i in 0..100 {
        assert!(rl.check(ms(i * 10), 0).is_admit(), "request {i}");
    }
    // The 101st within the minute waits until the first one is a minute old.
    assert_eq!(
        rl.check(ms(30_000), 0),
        RateDecision::Reject {
            retry_after: Span::from_secs(30)
        }
    );
    assert!(rl.check(ms(60_000), 0).is_admit());
}

#[test]
fn every_strategy_parses_with_all_keys() {
    for text in [
        r#"strategy = "token-bucket"
           max_tokens = 100
           tokens_per_fill = 10
           fill_interval = "100ms"
           key = "client"
           max_keys = 500
           shadow = false"#,
        r#"strategy = "gcra"
           window = "1s"
           max = 50
           burst = 10"#,
        r#"strategy = "sliding-window"
           window = "1m"
           max = 100000
           algorithm = "two-window""#,
    ] {
        let config: RateLimitConfig = toml::from_str(text).expect(text);
        config.validate().expect(text);
        // Round trip through serde.
        let back: RateLimitConfig =
            toml::from_str(&toml::to_string(&config).expect("serializes")).expect("reparses");
        assert_eq!(back, config);
    }
}

#[test]
fn bad_values_name_key_value_and_range() {
    let cases = [
        (
            "strategy = \"token-bucket\"\nmax_tokens = 0\nfill_interval = \"1s\"",
            "policy.rate_limit.api.max_tokens",
            "0",
            "an integer from 1 to 4294967295",
        ),
        (
            "strategy = \"token-bucket\"\nmax_tokens = 5\nfill_interval = \"0s\"",
            "policy.rate_limit.api.fill_interval",
            "\"0s\"",
            "a duration > 0",
        ),
        (
            "strategy = \"token-bucket\"\nmax_tokens = 5",
            "policy.rate_limit.api.fill_interval",
            "(missing)",
            "a value: `fill_interval` is required with strategy = \"token-bucket\"",
        ),
        (
            "strategy = \"sliding-window\"\nwindow = \"1m\"\nmax = 2000000",
            "policy.rate_limit.api.max",
            "2000000",
            "an integer from 1 to 1000000 for algorithm = \"log\" \
             (use algorithm = \"two-window\" for larger limits)",
        ),
        (
            "strategy = \"gcra\"\nwindow = \"1m\"\nmax = 10\nburst = 0",
            "policy.rate_limit.api.burst",
            "0",
            "an integer from 1 to 4294967295",
        ),
        (
            "strategy = \"gcra\"\nwindow = \"1m\"\nmax = 10\nmax_tokens = 3",
            "policy.rate_limit.api.max_tokens",
            "3",
            "no `max_tokens`: it is only used with strategy = \"token-bucket\"",
        ),
        (
            "strategy = \"sliding-window\"\nwindow = \"1m\"\nmax = 10\nburst = 3",
            "policy.rate_limit.api.burst",
            "3",
            "no `burst`: it is only used with strategy = \"gcra\"",
        ),
        (
            "strategy = \"sliding-window\"\nwindow = \"1m\"\nmax = 10\nmax_keys = 0",
            "policy.rate_limit.api.max_keys",
            "0",
            "an integer from 1 to 10000000",
        ),
    ];
    for (text, key, value, accepted) in cases {
        let config: RateLimitConfig = toml::from_str(text).expect(text);
        let err = config
            .validate()
            .expect_err(text)
            .within("policy.rate_limit.api");
        assert_eq!(
            (err.key(), err.value(), err.expected()),
            (key, value, accepted),
            "{text}"
        );
    }
}

#[test]
fn unknown_keys_and_variants_are_refused_by_the_parser() {
    let err = toml::from_str::<RateLimitConfig>(
        "strategy = \"gcra\"\nwindow = \"1s\"\nmax = 1\nrate = 3",
    )
    .expect_err("unknown key");
    assert!(err.to_string().contains("rate"), "{err}");
    let err = toml::from_str::<RateLimitConfig>("strategy = \"leaky\"").expect_err("variant");
    let msg = err.to_string();
    assert!(
        msg.contains("leaky") && msg.contains("sliding-window"),
        "{msg}"
    );
    let err = toml::from_str::<RateLimitConfig>("strategy = \"gcra\"\nwindow = \"1 minute\"")
        .expect_err("duration");
    assert!(err.to_string().contains("\"250us\""), "{err}");
}
