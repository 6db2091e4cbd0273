//! Validation of the data tier through the simulator: cache tiers against
//! cache theory (LRU vs Che's approximation, FIFO vs the characteristic-time
//! approximation, TTL-only vs λT/(1+λT)), the busiest shard's share against
//! the exact Zipf mass of its keys, a connection pool against M/M/c
//! (Erlang C), replica routing against the round-trip times, a read
//! replica's reads and applied writes against M/M/c with its replication
//! lag, and the data tier's costs against a hand computation.
//!
//! Scenarios are in `experiments/validation/data-*.toml` with their
//! derivations. Tolerances come from the replications' Student-t intervals:
//! a case passes when the theory lies inside the 99.9 % interval of the
//! replications and within the issue's absolute bound (0.01 for hit
//! ratios). Che's formula is recomputed here and checked against the team's
//! reference table (`experiments/validation/reference/che-approximation-zipf.tsv`, with
//! provenance in its README). `cargo test --test data_validation --
//! --nocapture` prints the tables of `experiments/validation/README.md`.

mod common;

use std::path::Path;
use std::sync::atomic::AtomicU64;

use common::run_validation as run;
use headroom_models::plan::data::mix64;
use headroom_models::{RunOutput, run_replication};
use headroom_sim::dist::Dist;
use headroom_sim::stats::{ci95, confidence_interval};
use headroom_sim::theory::mmc_response_time;

/// Zipf probabilities of ranks 1..=n.
fn zipf(n: usize, s: f64) -> Vec<f64> {
    let w: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
    let total: f64 = w.iter().sum();
    w.into_iter().map(|x| x / total).collect()
}

/// Solves `f(T) = c` for an increasing `f` by bisection.
fn solve(c: f64, f: impl Fn(f64) -> f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1.0);
    while f(hi) < c {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if f(mid) < c {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// Che's approximation of LRU's hit ratio: (T, hit ratio).
fn che_lru(p: &[f64], c: f64) -> (f64, f64) {
    let t = solve(c, |t| p.iter().map(|pi| 1.0 - (-pi * t).exp()).sum());
    (t, p.iter().map(|pi| pi * (1.0 - (-pi * t).exp())).sum())
}

/// The characteristic-time approximation of FIFO's hit ratio.
fn char_time_fifo(p: &[f64], c: f64) -> f64 {
    let t = solve(c, |t| p.iter().map(|pi| pi * t / (1.0 + pi * t)).sum());
    p.iter().map(|pi| pi * pi * t / (1.0 + pi * t)).sum()
}

/// Checks `theory` against the replications `xs`: inside their 99.9 %
/// interval and within `abs_tol`. Prints a table row.
fn check(label: &str, theory: f64, xs: &[f64], abs_tol: f64, failures: &mut Vec<String>) {
    let ci = ci95(xs);
    let wide = confidence_interval(xs, 0.999);
    let diff = ci.mean - theory;
    let ok = (wide.mean - theory).abs() <= wide.half_width.max(1e-12) && diff.abs() <= abs_tol;
    println!(
        "| {label} | {theory:.4} | {:.4} | {:.4} | {diff:+.4} | {} |",
        ci.mean,
        ci.half_width,
        if ok { "yes" } else { "NO" }
    );
    if !ok {
        failures.push(format!(
            "{label}: theory {theory:.5}, simulated {:.5} ± {:.5} (99.9 %: ± {:.5})",
            ci.mean, ci.half_width, wide.half_width
        ));
    }
}

/// The hit ratio of `o`'s one cache over its measured intervals of
/// `secs` seconds, from `caches_timeseries.csv`'s rates and ratios.
fn measured_interval_ratio(o: &RunOutput, secs: f64) -> f64 {
    let (mut hits, mut lookups) = (0.0, 0.0);
    for r in o.cache_timeseries.iter().filter(|r| r.t_s > o.warmup_s) {
        let n = (r.lookups_rps * secs).round();
        hits += (r.hit_ratio * n).round();
        lookups += n;
    }
    hits / lookups
}

fn tier_ratio(o: &RunOutput) -> f64 {
    o.metrics.cache_tiers[0].hit_ratio()
}

#[test]
fn reference_table_matches_the_formula() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments/validation/reference/che-approximation-zipf.tsv");
    let text = std::fs::read_to_string(&path).expect("the reference table");
    let mut rows = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<f64> = line.split('\t').map(|x| x.parse().unwrap()).collect();
        let p = zipf(f[1] as usize, f[0]);
        let (t, hit) = che_lru(&p, f[2]);
        assert!((t - f[3]).abs() < 1e-4 * f[3], "{line}: T {t}");
        assert!((hit - f[4]).abs() < 1e-6, "{line}: hit {hit}");
        assert!((char_time_fifo(&p, f[2]) - f[6]).abs() < 1e-6, "{line}");
        rows += 1;
    }
    assert!(rows == 60, "{rows} rows");
    // The icarus anchor: alpha 0.8, N 100, C 40.
    let (t, hit) = che_lru(&zipf(100, 0.8), 40.0);
    assert!((72.1..=72.3).contains(&t) && (0.63..=0.66).contains(&hit));
}

#[test]
fn cache_tiers_match_cache_theory() {
    let mut failures = Vec::new();
    println!("| case | theory | simulated | 95 % CI ± | difference | pass |");
    println!("|---|---:|---:|---:|---:|---|");
    for (eviction, s, c) in [
        ("lru", 0.8, 100),
        ("lru", 1.0, 100),
        ("lru", 1.2, 100),
        ("lru", 1.0, 20),
        ("lru", 1.0, 400),
        ("fifo", 0.8, 100),
        ("fifo", 1.2, 100),
    ] {
        let sets = [
            format!("workload.keys.s={s}"),
            format!("datastores.users.cache.l1.capacity={c}"),
            format!("datastores.users.cache.l1.eviction=\"{eviction}\""),
        ];
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let (_, outs) = run("data-lru-che.toml", &sets);
        let p = zipf(1000, s);
        let theory = if eviction == "lru" {
            che_lru(&p, f64::from(c)).1
        } else {
            char_time_fifo(&p, f64::from(c))
        };
        let xs: Vec<f64> = outs.iter().map(tier_ratio).collect();
        let label = format!("{eviction} s={s} N=1000 C={c}");
        check(&label, theory, &xs, 0.01, &mut failures);
        // Every read looked the tier up and only it: the end-to-end ratio
        // is the tier's.
        for o in &outs {
            assert_eq!(o.metrics.cache_hit_ratio, tier_ratio(o));
        }
    }
    // TTL-only: per key λT/(1+λT).
    let (_, outs) = run("data-ttl.toml", &[]);
    let p = zipf(200, 0.8);
    let (lambda, ttl) = (1000.0, 0.020);
    let theory: f64 = p
        .iter()
        .map(|pi| {
            let lt = lambda * pi * ttl;
            pi * lt / (1.0 + lt)
        })
        .sum();
    let xs: Vec<f64> = outs.iter().map(tier_ratio).collect();
    check(
        "ttl-only N=200 s=0.8 λ=1000/s T=20ms",
        theory,
        &xs,
        0.01,
        &mut failures,
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `caches_timeseries.csv` of `data-lru-che.toml` (LRU, C = 100, Zipf
/// s = 1.0 over 1000 keys): the tier is full from the first interval on,
/// the measured intervals' lookups and hits add up to `runs.csv`'s tier
/// ratio, and each replication's interval ratios average to Che's.
#[test]
fn cache_time_series_add_up_to_the_tier_ratio_and_follow_che() {
    let (_, outs) = run("data-lru-che.toml", &["run.timeseries_interval=\"5s\""]);
    for o in &outs {
        assert_eq!(o.cache_timeseries.len(), 12, "12 intervals x 1 tier");
        for r in &o.cache_timeseries {
            assert_eq!((r.store.as_str(), r.tier.as_str()), ("users", "l1"));
            // One global copy, filled within the first milliseconds.
            assert_eq!((r.copies, r.items, r.fill), (1, 100, 1.0), "{r:?}");
            let n = (r.lookups_rps * 5.0).round();
            // Every read looks the one tier up: 10 000/s within 4 sd.
            assert!((n - 50_000.0).abs() < 4.0 * 50_000f64.sqrt(), "{r:?}");
        }
        // The series counts by time, runs.csv by the request's arrival:
        // only the few requests in flight at the window's edges differ.
        let (intervals, whole) = (measured_interval_ratio(o, 5.0), tier_ratio(o));
        assert!(
            (intervals - whole).abs() < 1e-4,
            "intervals {intervals} vs runs.csv {whole}"
        );
    }
    let mut failures = Vec::new();
    println!("| case | theory | simulated | 95 % CI ± | difference | pass |");
    println!("|---|---:|---:|---:|---:|---|");
    let xs: Vec<f64> = outs
        .iter()
        .map(|o| {
            let measured: Vec<f64> = o
                .cache_timeseries
                .iter()
                .filter(|r| r.t_s > o.warmup_s)
                .map(|r| r.hit_ratio)
                .collect();
            measured.iter().sum::<f64>() / measured.len() as f64
        })
        .collect();
    check(
        "lru s=1.0 N=1000 C=100, mean of the 5-s interval ratios",
        che_lru(&zipf(1000, 1.0), 100.0).1,
        &xs,
        0.01,
        &mut failures,
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `data-edge-ttl.toml`: the edge cache against TTL theory over its
/// cacheable keys (per key λT/(1+λT)), its lookups against the cacheable
/// keys' Zipf mass, the end-to-end `cache_hit_ratio` against the edge's
/// (no tier behind it), and its `caches_timeseries.csv` rows against
/// `runs.csv`.
#[test]
fn edge_cache_matches_ttl_theory_over_its_cacheable_keys() {
    let (loaded, outs) = run("data-edge-ttl.toml", &["run.timeseries_interval=\"10s\""]);
    let edge = loaded.plan.data.edge_cache.expect("an edge cache");
    let (lambda, ttl) = (1000.0, 0.020);
    let cacheable: Vec<f64> = zipf(200, 0.8)
        .into_iter()
        .enumerate()
        .filter(|&(k, _)| edge.cacheable(k as u64))
        .map(|(_, p)| p)
        .collect();
    let mass: f64 = cacheable.iter().sum();
    // The hash picks about half the keys, not the first half.
    assert!((80..=120).contains(&cacheable.len()) && (0.2..0.8).contains(&mass));
    let theory = cacheable
        .iter()
        .map(|p| {
            let lt = lambda * p * ttl;
            p * lt / (1.0 + lt)
        })
        .sum::<f64>()
        / mass;
    let mut failures = Vec::new();
    println!("| case | theory | simulated | 95 % CI ± | difference | pass |");
    println!("|---|---:|---:|---:|---:|---|");
    let edge_ratio = |o: &RunOutput| {
        let t = &o.metrics.cache_tiers[0];
        assert_eq!(t.column, "cache_edge_cache_hit_ratio");
        t.hit_ratio()
    };
    let xs: Vec<f64> = outs.iter().map(edge_ratio).collect();
    check(
        "edge ttl N=200 s=0.8 λ=1000/s T=20ms, half the keys cacheable",
        theory,
        &xs,
        0.01,
        &mut failures,
    );
    let rates: Vec<f64> = outs
        .iter()
        .map(|o| o.metrics.cache_tiers[0].lookups as f64 / o.metrics.measured.as_secs_f64())
        .collect();
    check(
        "edge lookups/s = λ × cacheable keys' mass",
        lambda * mass,
        &rates,
        0.01 * lambda * mass,
        &mut failures,
    );
    assert!(failures.is_empty(), "{failures:#?}");
    for o in &outs {
        assert_eq!(o.metrics.cache_tiers.len(), 1, "the edge alone");
        assert_eq!(
            o.metrics.cache_hit_ratio,
            edge_ratio(o),
            "no tier behind it"
        );
        assert_eq!(o.cache_timeseries.len(), 30, "30 intervals x the edge");
        for r in &o.cache_timeseries {
            assert_eq!((r.store.as_str(), r.tier.as_str()), ("edge", "cache"));
            // One edge region; at most the cacheable keys, of 10^6 a copy.
            assert_eq!(r.copies, 1, "{r:?}");
            assert!(r.items <= cacheable.len() as u64, "{r:?}");
            assert_eq!(r.fill, r.items as f64 / 1e6, "{r:?}");
        }
        let (intervals, whole) = (measured_interval_ratio(o, 10.0), edge_ratio(o));
        assert!(
            (intervals - whole).abs() < 1e-3,
            "intervals {intervals} vs runs.csv {whole}"
        );
    }
    // In front of a service without a store, the services answer the
    // edge's misses: the end-to-end ratio is still the edge's.
    let (_, outs) = run(
        "data-edge-ttl.toml",
        &[
            "services.api.calls=[]",
            "datastores=[]",
            "run.replications=2",
        ],
    );
    for o in &outs {
        assert_eq!(o.metrics.cache_tiers.len(), 1, "the edge alone");
        let edge = edge_ratio(o);
        assert!((edge - theory).abs() < 0.01, "{edge} vs {theory}");
        assert_eq!(o.metrics.cache_hit_ratio, edge, "misses are not cache hits");
    }
}

/// `data-shards.toml`'s exact shares: each of the 16 shards' Zipf mass
/// (s = 1.0 over 1000 keys, shard `fmix64(key) mod 16`), and the busiest.
fn shard_shares() -> ([f64; 16], usize) {
    let mut share = [0.0f64; 16];
    for (k, pk) in zipf(1000, 1.0).iter().enumerate() {
        share[(mix64(k as u64) % 16) as usize] += pk;
    }
    let busiest = (0..16)
        .max_by(|&a, &b| share[a].total_cmp(&share[b]))
        .unwrap();
    (share, busiest)
}

#[test]
fn busiest_shard_share_is_the_zipf_mass_of_its_keys() {
    let (_, outs) = run("data-shards.toml", &[]);
    let (share, busiest) = shard_shares();
    let mut failures = Vec::new();
    println!("| shard | exact share | simulated | 95 % CI ± | difference | pass |");
    println!("|---|---:|---:|---:|---:|---|");
    for (j, &exact) in share.iter().enumerate() {
        let xs: Vec<f64> = outs
            .iter()
            .map(|o| {
                let total: u64 = o.shards.iter().map(|r| r.requests).sum();
                o.shards[j].requests as f64 / total as f64
            })
            .collect();
        let label = if j == busiest {
            format!("{j} (busiest)")
        } else {
            j.to_string()
        };
        check(&label, exact, &xs, 0.002, &mut failures);
    }
    let ratios: Vec<f64> = outs
        .iter()
        .map(|o| o.metrics.shard_max_load_ratio)
        .collect();
    check(
        "shard_max_load_ratio",
        16.0 * share[busiest],
        &ratios,
        0.03,
        &mut failures,
    );
    // Each shard's most popular key is its lowest-ranked; its share of the
    // shard's operations is its Zipf weight over the shard's mass.
    let weights = zipf(1000, 1.0);
    for (j, &mass) in share.iter().enumerate() {
        let top = (0..1000u64)
            .find(|&k| (mix64(k) % 16) as usize == j)
            .expect("every shard holds a key");
        let xs: Vec<f64> = outs
            .iter()
            .map(|o| {
                let r = &o.shards[j];
                assert_eq!(r.top_key, Some(top), "shard {j}");
                r.top_key_requests as f64 / r.requests as f64
            })
            .collect();
        check(
            &format!("shard {j}: key {top}'s share"),
            weights[top as usize] / mass,
            &xs,
            0.01,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `data-shard-limit.toml`: each shard enforces a GCRA of r = 400
/// operations/s (burst 100) on `data-shards.toml`'s load. A shard over the
/// limit admits r t within the burst over the measured window (the GCRA's
/// bound, both ways while its bucket stays near empty); one under it
/// admits everything (its Poisson count, against the exact Zipf mass of its
/// keys); the requests' availability is 1 - sum_j max(0, lambda_j - r) / λ.
#[test]
fn a_shard_rate_limit_admits_its_rate_and_throttles_the_rest() {
    let (_, outs) = run("data-shard-limit.toml", &[]);
    let (share, _) = shard_shares();
    let (lambda, r, burst) = (5000.0, 400.0, 100.0);
    let mut failures = Vec::new();
    println!(
        "| shard | offered/s | theory: admitted/s | simulated | 95 % CI ± | difference | pass |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    let mut over = 0;
    for (j, &p) in share.iter().enumerate() {
        let offered = lambda * p;
        let admitted: Vec<f64> = outs
            .iter()
            .map(|o| {
                let row = &o.shards[j];
                // Every operation turned away was throttled: the queues
                // have no bound.
                assert_eq!(row.throttled, row.errors, "shard {j}");
                (row.requests - row.errors) as f64 / o.metrics.measured.as_secs_f64()
            })
            .collect();
        if offered > r {
            over += 1;
            // Deterministic: r t ± the burst over the 55 s window.
            for (o, a) in outs.iter().zip(&admitted) {
                let t = o.metrics.measured.as_secs_f64();
                assert!(
                    (a - r).abs() * t <= burst + 1.0,
                    "shard {j}: {a}/s admitted"
                );
            }
            let ci = ci95(&admitted);
            println!(
                "| {j} | {offered:.1} | {r:.1} (the limit) | {:.2} | {:.2} | {:+.2} | yes |",
                ci.mean,
                ci.half_width,
                ci.mean - r
            );
        } else {
            let label = format!("{j} | {offered:.1}");
            check(&label, offered, &admitted, 0.01 * offered, &mut failures);
        }
    }
    assert_eq!(over, 4, "816, 560, 522 and 522 operations/s are over 400");
    let throttled: f64 = share.iter().map(|p| (lambda * p - r).max(0.0)).sum();
    let availability: Vec<f64> = outs.iter().map(|o| o.metrics.availability()).collect();
    check(
        "availability | -",
        1.0 - throttled / lambda,
        &availability,
        0.002,
        &mut failures,
    );
    // Clients that retry throttles (3 tries, 10 ms exponential backoff)
    // change nothing but the load: an over-limit shard still admits r a
    // second, each admitted try answers one request, so the same requests
    // fail, after their last try.
    let retry =
        "datastores.users.retry={ attempts = 3, base = \"10ms\", retry_on = [\"rate-limited\"] }";
    let (_, retried) = run("data-shard-limit.toml", &[retry]);
    let availability: Vec<f64> = retried.iter().map(|o| o.metrics.availability()).collect();
    check(
        "availability, retrying throttles | -",
        1.0 - throttled / lambda,
        &availability,
        0.002,
        &mut failures,
    );
    // So do clients told when to retry (`shard.retry_after`): the retry
    // waits for the limit's next free slot, which the next arrival may
    // take, and the same requests fail.
    let (_, told) = run(
        "data-shard-limit.toml",
        &[retry, "datastores.users.shard.retry_after=true"],
    );
    let availability: Vec<f64> = told.iter().map(|o| o.metrics.availability()).collect();
    check(
        "availability, retrying throttles after their Retry-After | -",
        1.0 - throttled / lambda,
        &availability,
        0.002,
        &mut failures,
    );
    for o in retried.iter().chain(&told) {
        assert!(o.metrics.retries > 0, "throttles were retried");
        let t = o.metrics.measured.as_secs_f64();
        for (j, row) in o.shards.iter().enumerate() {
            let admitted = (row.requests - row.errors) as f64;
            if lambda * share[j] > r {
                assert!((admitted / t - r).abs() * t <= burst + 1.0, "shard {j}");
                // The retries land on the hot shards: more tries than reads.
                assert!(
                    row.requests as f64 > 1.2 * lambda * share[j] * t,
                    "shard {j}"
                );
            }
        }
    }
    // Each caller instance has its own retry budget towards the store, as
    // each instance's mesh proxy has its own. With nothing deposited
    // (`ratio = 0`) a budget lets through `min_per_s` retries per second of
    // its window's reserve, which under steady traffic lives between half
    // and 1.1 windows (tower's rotation, `policy/src/retry/budget.rs`): 20 to
    // 40 a second. The throttles wanting a retry (about 1100/s) are far
    // more, so four caller instances retry four times what one does, where
    // one budget shared by them would let the same number through.
    let budgeted = "datastores.users.retry={ attempts = 3, base = \"10ms\", retry_on = [\"rate-limited\"], budget = { ratio = 0.0, min_per_s = 20, window = \"1s\" } }";
    let per_s = |replicas: &str| -> Vec<f64> {
        let (_, outs) = run("data-shard-limit.toml", &[budgeted, replicas]);
        outs.iter()
            .map(|o| o.metrics.retries as f64 / o.metrics.measured.as_secs_f64())
            .collect()
    };
    let (one, four) = (
        per_s("services.api.replicas=1"),
        per_s("services.api.replicas=4"),
    );
    for (a, b) in one.iter().zip(&four) {
        assert!(
            (20.0..=40.0).contains(a),
            "{a} retries/s through one budget"
        );
        assert!(
            (b / a - 4.0).abs() < 0.1,
            "{b} retries/s through four budgets against {a} through one"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `shards_timeseries.csv` splits `shards.csv` interval by interval, and
/// an interval's figures are that interval's: on `data-shards.toml` at
/// 5-second intervals (the warm-up one whole interval, eleven measured),
/// each shard's busy fraction averages to its `shards.csv` utilization and
/// its operations add up to its measured ones (but for the few whose
/// request arrived just before the end). The busiest shard is an M/M/64
/// at 816 operations/s: no queueing to speak of (Erlang C below 1e-40),
/// so its utilization is 816 x 1 ms / 64 and each interval's p99 is the
/// exponential's, ln(100) x 1 ms.
#[test]
fn shard_time_series_add_up_to_shards_csv_and_follow_theory() {
    let (_, outs) = run("data-shards.toml", &["run.timeseries_interval=\"5s\""]);
    let (share, busiest) = shard_shares();
    for o in &outs {
        assert_eq!(
            o.shard_timeseries.len(),
            12 * 16,
            "12 intervals x 16 shards"
        );
        for (j, row) in o.shards.iter().enumerate() {
            let measured: Vec<_> = o
                .shard_timeseries
                .iter()
                .filter(|r| r.shard == j && r.t_s > o.warmup_s)
                .collect();
            assert_eq!(measured.len(), 11, "shard {j}");
            let busy = measured.iter().map(|r| r.utilization).sum::<f64>() / 11.0;
            assert!(
                (busy - row.utilization).abs() < 1e-9,
                "shard {j}: intervals {busy} vs {}",
                row.utilization
            );
            let ops: f64 = measured.iter().map(|r| r.requests_rps * 5.0).sum();
            assert!(
                (ops.round() - row.requests as f64).abs() <= 5.0,
                "shard {j}: intervals {ops} vs {}",
                row.requests
            );
            for r in &measured {
                assert_eq!((r.shed, r.queued), (0, 0), "64 workers never all busy");
                assert!(r.latency_p50_ms < r.latency_p99_ms, "{r:?}");
            }
        }
    }
    let mut failures = Vec::new();
    println!("| case | theory | simulated | 95 % CI ± | difference | pass |");
    println!("|---|---:|---:|---:|---:|---|");
    let lambda = 5000.0 * share[busiest];
    let xs: Vec<f64> = outs
        .iter()
        .map(|o| o.shards[busiest].utilization * 64.0)
        .collect();
    check(
        "busiest shard: busy workers = λ x 1 ms",
        lambda * 1e-3,
        &xs,
        0.01,
        &mut failures,
    );
    let xs: Vec<f64> = outs
        .iter()
        .map(|o| {
            let p99: Vec<f64> = o
                .shard_timeseries
                .iter()
                .filter(|r| r.shard == busiest && r.t_s > o.warmup_s)
                .map(|r| r.latency_p99_ms)
                .collect();
            p99.iter().sum::<f64>() / p99.len() as f64
        })
        .collect();
    check(
        "busiest shard: 5-s interval p99 = ln(100) ms",
        100f64.ln(),
        &xs,
        0.1,
        &mut failures,
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn pool_waits_are_erlang_c() {
    let (_, outs) = run("data-pool.toml", &[]);
    let theory = mmc_response_time(4, 320.0, 100.0) * 1e3;
    let xs: Vec<f64> = outs
        .iter()
        .map(|o| o.metrics.latency.mean_ns() / 1e6)
        .collect();
    let mut failures = Vec::new();
    println!("| case | Erlang C W (ms) | simulated | 95 % CI ± | difference | pass |");
    println!("|---|---:|---:|---:|---:|---|");
    check(
        "pool c=4, λ=320/s, 1/μ=10 ms",
        theory,
        &xs,
        0.02 * theory,
        &mut failures,
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn reads_pay_the_rtt_to_the_nearest_copy_and_writes_to_the_primary() {
    let mean_ms = |sets: &[&str]| {
        let (_, outs) = run("data-replicas.toml", sets);
        let m = &outs[0].metrics;
        assert!(m.requests > 3000 && m.ok == m.requests);
        (m.latency.mean_ns() / 1e6, outs)
    };
    let (reads, outs) = mean_ms(&[]);
    assert!((reads - 125.0).abs() < 1e-9, "reads: {reads} ms");
    let regions: Vec<&str> = outs[0]
        .shards
        .iter()
        .filter(|r| r.requests > 0)
        .map(|r| r.region.as_str())
        .collect();
    assert_eq!(
        regions,
        ["eu-west"],
        "only the nearest replica serves reads"
    );
    let (writes, _) = mean_ms(&["workload.read_fraction=0.0"]);
    assert!((writes - 205.0).abs() < 1e-9, "writes: {writes} ms");
    let (primary, _) = mean_ms(&["datastores.users.routing.reads=\"primary\""]);
    assert!(
        (primary - 205.0).abs() < 1e-9,
        "reads to the primary: {primary} ms"
    );
    println!("| route | RTT + read (ms) | simulated mean (ms) |");
    println!("|---|---:|---:|");
    println!("| read, nearest replica (eu-west) | 125 | {reads} |");
    println!("| write, primary (us-east) | 205 | {writes} |");
    println!("| read, routing.reads = \"primary\" | 205 | {primary} |");
}

/// Every write the primary finishes reaches the replica one way later (80
/// ms round trip us-east -> eu-west) and is applied in the apply time
/// (deterministic here): the replication lag is exact, for every write.
#[test]
fn every_write_reaches_the_replica_one_way_and_an_apply_later() {
    let lag = |sets: &[&str]| {
        let (_, outs) = run("data-replicas.toml", sets);
        let [primary, replica] = &outs[0].shards[..] else {
            panic!("two copies of one shard: {:?}", outs[0].shards.len());
        };
        assert_eq!(
            (primary.region.as_str(), replica.region.as_str()),
            ("us-east", "eu-west")
        );
        assert!(primary.requests > 3000, "{}", primary.requests);
        assert_eq!(
            replica.applied, primary.requests,
            "the replica applies every write"
        );
        assert_eq!((primary.applied, primary.replication_lag.count()), (0, 0));
        let l = &replica.replication_lag;
        assert_eq!(l.count(), replica.applied);
        (l.mean_ns() / 1e6, l.quantile_ms(0.99))
    };
    let writes = "workload.read_fraction=0.0";
    let (mean, p99) = lag(&[writes]);
    assert!(
        (mean - 45.0).abs() < 1e-9 && (p99 - 45.0).abs() < 0.05,
        "{mean} {p99}"
    );
    let apply = r#"datastores.users.shard.apply={ distribution = "deterministic", mean = "1ms" }"#;
    let (mean, _) = lag(&[writes, apply]);
    assert!(
        (mean - 41.0).abs() < 1e-9,
        "shard.apply sets the apply time: {mean}"
    );
    // Reads alone ship nothing.
    let (_, outs) = run("data-replicas.toml", &[]);
    assert!(outs[0].shards.iter().all(|r| r.applied == 0));
}

/// While the replica's region is dark (10 s to 15 s of 20 s), the writes
/// shipped to it are held; when it is back they are all applied, none
/// lost, each lagging by the time it waited: up to the outage's 5 s.
#[test]
fn writes_shipped_to_a_dark_replica_are_applied_when_it_is_back() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/validation/data-replicas.toml");
    let text = std::fs::read_to_string(&path).expect("the scenario")
        + "\n[[faults]]\ntype = \"region-outage\"\nregion = \"eu-west\"\nat = \"10s\"\nduration = \"5s\"\n";
    let loaded =
        headroom_models::load_str(&path, &text, &["workload.read_fraction=0.0".to_owned()])
            .expect("valid scenario");
    let out = run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("runs");
    let [primary, replica] = &out.shards[..] else {
        panic!("two copies of one shard");
    };
    assert!(primary.requests > 3000 && out.metrics.ok == out.metrics.requests);
    assert_eq!(replica.applied, primary.requests, "no write is lost");
    let lag = &replica.replication_lag;
    // A write shipped at t in [10 s - 40 ms, 15 s - 40 ms) waits until 15 s:
    // about a quarter of them, with lags spread up to 5 s (+ 5 ms apply).
    let held = |ms: f64| (lag.quantile_ms(ms) - 45.0).abs() > 1.0;
    assert!(!held(0.70) && held(0.80), "a quarter held");
    // The longest: shipped just before the outage, arriving into it, 5 s +
    // 40 ms + 5 ms (to the histogram's resolution).
    let max = lag.quantile_ms(1.0);
    assert!((4_950.0..=5_050.0).contains(&max), "longest lag {max} ms");
    let theory_mean = 0.75 * 45.0 + 0.25 * (2_500.0 + 5.0);
    let mean = lag.mean_ns() / 1e6;
    assert!(
        (mean - theory_mean).abs() < 0.05 * theory_mean,
        "mean lag {mean} ms"
    );
    // The interval series shows the lag where it happened.
    let series: Vec<(f64, f64)> = out
        .shard_timeseries
        .iter()
        .filter(|r| r.shard == 1)
        .map(|r| (r.t_s, r.replication_lag_p99_ms))
        .collect();
    assert!(series.iter().any(|&(_, p99)| p99 > 4_000.0), "{series:?}");
}

/// A store copy's region going dark fails what the copy holds, as an
/// instance's does: with 1 s writes (about 200 at us-east's shard at any
/// time), those at the shard when us-east goes dark at 5 s fail with a
/// reset, are its `errors` and are never shipped; every write it finished
/// is answered and applied at eu-west. And a replica's applies cut by its
/// region's outage are held and applied again from the start once it is
/// back: with 1 s applies, the last ones started before eu-west goes dark
/// end 11 to 12 s after their write (shipped from 3.96 s on, applied from
/// 15 s to 16 s), where a cut apply that went on would lag 11.04 s at most.
#[test]
fn a_dark_region_fails_what_its_store_copies_hold() {
    let writes = "workload.read_fraction=0.0";
    let long = r#"datastores.users.shard.write={ distribution = "deterministic", mean = "1s" }"#;
    let out = replicated_through_an_outage("", "us-east", &[writes, long]);
    let m = &out.metrics;
    let [east, west] = &out.shards[..] else {
        panic!("two copies of one shard");
    };
    // Poisson(200) writes at the shard at 5 s.
    assert!((140..=260).contains(&east.errors), "{}", east.errors);
    let done = east.requests - east.errors;
    assert_eq!(m.ok, done, "every write it finished is answered");
    assert_eq!(west.applied, done, "and applied, none of the cut ones");
    // Every answered write took 100 ms + 1 s + 100 ms.
    assert!((m.latency.mean_ns() / 1e6 - 1_200.0).abs() < 1e-6);
    // Failed: sent from 1.1 s before the outage to its end.
    assert!(
        (m.errors as f64 / 11.1 - 200.0).abs() < 15.0,
        "{}",
        m.errors
    );

    let apply = r#"datastores.users.shard.apply={ distribution = "deterministic", mean = "1s" }"#;
    let out = replicated_through_an_outage("", "eu-west", &[writes, apply]);
    let [east, west] = &out.shards[..] else {
        panic!("two copies of one shard");
    };
    assert_eq!(out.metrics.ok, out.metrics.requests);
    assert_eq!(west.applied, east.requests, "no write is lost");
    let longest = west.replication_lag.quantile_ms(1.0);
    assert!((11_500.0..=12_100.0).contains(&longest), "{longest} ms");

    // A try's store timeout still holds when it falls before the reset
    // reaches its caller: with 1 s reads and a 500 ms timeout, every read
    // fails by 500 ms after it was sent, those cut at eu-west at 5 s (60 ms
    // one way) too (the reset would take them up to 560 ms), and so do
    // the connects to the dark copy (100 ms).
    let out = replicated_through_an_outage(
        "timeout = \"500ms\"\n",
        "eu-west",
        &[
            r#"datastores.users.shard.read={ distribution = "deterministic", mean = "1s" }"#,
            r#"network.connect_timeout="100ms""#,
        ],
    );
    let m = &out.metrics;
    assert_eq!(m.ok, 0);
    assert!(m.timeouts > 1_000 && m.errors > 1_000, "{m:?}");
    let slowest = m.latency_all.quantile_ms(1.0);
    assert!((499.0..=505.0).contains(&slowest), "{slowest} ms");
}

/// `data-replicas.toml` (callers in ap-south, 200 requests/s; primary
/// us-east 200 ms away, replica eu-west 120 ms away; 5 ms operations) with
/// `extra` appended to its `[[datastores]]` table, a region outage from 5 s
/// to 15 s of 20 s, and `sets`.
fn replicated_through_an_outage(extra: &str, dark: &str, sets: &[&str]) -> RunOutput {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/validation/data-replicas.toml");
    let text = std::fs::read_to_string(&path).expect("the scenario")
        + extra
        + &format!(
            "\n[[faults]]\ntype = \"region-outage\"\nregion = \"{dark}\"\nat = \"5s\"\nduration = \"10s\"\n"
        );
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    let loaded = headroom_models::load_str(&path, &text, &sets).expect("valid scenario");
    run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("runs")
}

/// With `failover = { after = "2s" }`, the primary's region dark from 5 s
/// to 15 s: writes fail to connect for 2 s, then go to the promoted eu-west
/// replica for the rest of the run (us-east, back at 15 s, stays a
/// replica and applies every write eu-west took). Without it, writes fail
/// for the whole outage.
#[test]
fn a_store_failover_promotes_the_replica_after_its_delay() {
    let writes = "workload.read_fraction=0.0";
    let failover = "failover = { after = \"2s\" }\n";
    let out = replicated_through_an_outage(failover, "us-east", &[writes]);
    let [failover] = &out.store_failovers[..] else {
        panic!("one failover: {:?}", out.store_failovers);
    };
    let lost = failover.lost_writes;
    assert_eq!(
        failover,
        &headroom_models::report::StoreFailover {
            store: "users".into(),
            from: "us-east".into(),
            to: "eu-west".into(),
            dark_s: 5.0,
            at_s: 7.0,
            lost_writes: lost,
        }
    );
    // Lost: the writes whose shipment to eu-west was under way at 5 s (the
    // operations still on their way to us-east or at its shard then fail
    // with a reset): those whose work ended in the 40 ms (one way to
    // eu-west) before it, about 200 x 40 ms = 8.
    assert!((1..=20).contains(&lost), "{lost} writes lost");
    let m = &out.metrics;
    let [east, west] = &out.shards[..] else {
        panic!("two copies of one shard");
    };
    // 200 writes/s: 5 s at us-east, 2 s failing, 13 s at eu-west. Those
    // failing: sent from 105 ms before the outage (100 ms one way, 5 ms at
    // the shard: reset) to the promotion (refused to connect).
    let per_s = |n: u64, secs: f64| n as f64 / secs;
    assert!(
        (per_s(east.requests, 5.0) - 200.0).abs() < 20.0,
        "{}",
        east.requests
    );
    assert!(
        (per_s(m.errors, 2.105) - 200.0).abs() < 25.0,
        "{}",
        m.errors
    );
    assert!(
        (per_s(west.requests, 13.0) - 200.0).abs() < 12.0,
        "{}",
        west.requests
    );
    // us-east's errors: the writes at its shard when it went dark.
    let done = east.requests - east.errors;
    assert_eq!(m.requests, done + m.errors + west.requests);
    // Each copy applies every write the other finished, but for the lost:
    // us-east those of eu-west after its region is back, eu-west those
    // us-east finished first.
    assert_eq!((west.applied + lost, east.applied), (done, west.requests));
    // us-east's applies waited from promotion to 15 s: up to 8 s behind.
    let longest = east.replication_lag.quantile_ms(1.0);
    assert!((7_900.0..=8_100.0).contains(&longest), "{longest} ms");
    // Without failover: every write of the outage fails, none is promoted,
    // and none is lost: the writes in flight at the partition are applied
    // when it heals.
    let out = replicated_through_an_outage("", "us-east", &[writes]);
    assert!(out.store_failovers.is_empty());
    let east = &out.shards[0];
    assert_eq!(out.shards[1].applied, east.requests - east.errors);
    let held = out.shards[1].replication_lag.quantile_ms(1.0);
    assert!(
        held > 9_900.0,
        "the last write before the partition waited it out: {held} ms"
    );
    assert!(
        (per_s(out.metrics.errors, 10.105) - 200.0).abs() < 15.0,
        "{}",
        out.metrics.errors
    );
    assert_eq!(out.shards[1].requests, 0, "eu-west took no write");
}

/// With a `failover`, a read whose nearest copy is dark goes to the nearest
/// copy that is up (us-east, 200 ms away, for ap-south's callers when
/// eu-west is dark), at once and without a promotion; without one, it
/// fails to connect. Either way, the reads on their way to eu-west or at
/// its shard when it goes dark fail with a reset.
#[test]
fn a_store_failover_moves_reads_off_a_dark_copy_at_once() {
    let failover = "failover = { after = \"2s\" }\n";
    let out = replicated_through_an_outage(failover, "eu-west", &[]);
    assert!(
        out.store_failovers.is_empty(),
        "the primary never went dark"
    );
    let m = &out.metrics;
    let [east, west] = &out.shards[..] else {
        panic!("two copies of one shard");
    };
    // Reset: the reads sent in the 65 ms (60 ms one way, 5 ms at the
    // shard) before 5 s, about 13; those that had reached the shard are
    // its errors. Every other read is answered.
    let on_the_way = m.requests - east.requests - west.requests;
    assert_eq!(m.errors, on_the_way + west.errors);
    assert!((2..=30).contains(&m.errors), "{} reset", m.errors);
    assert_eq!(m.ok + m.errors, m.requests, "every other read answered");
    // Each reset reaches its caller at 5 s + 60 ms: 60 to 125 ms after it
    // was sent.
    let total = |h: &headroom_sim::stats::LatencyHistogram| h.mean_ns() * h.count() as f64;
    let reset_ms = (total(&m.latency_all) - total(&m.latency)) / m.errors as f64 / 1e6;
    assert!((60.0..125.0).contains(&reset_ms), "{reset_ms} ms");
    assert!(
        (east.requests as f64 / 10.0 - 200.0).abs() < 15.0,
        "{}",
        east.requests
    );
    assert_eq!(
        m.failovers, east.requests,
        "the reads that left eu-west failed over"
    );
    // Half the reads at 125 ms, half at 205 ms.
    let mean = m.latency.mean_ns() / 1e6;
    let theory =
        ((west.requests - west.errors) as f64 * 125.0 + east.requests as f64 * 205.0) / m.ok as f64;
    assert!((mean - theory).abs() < 1e-6, "{mean} against {theory}");
    let out = replicated_through_an_outage("", "eu-west", &[]);
    assert!(
        (out.metrics.errors as f64 / 10.0 - 200.0).abs() < 15.0,
        "{}",
        out.metrics.errors
    );
}

/// A read at a replica is stale when a write of its key has been shipped
/// to it and is not applied yet. With ample workers, each write of a key
/// stays unapplied for its lag L (one way, 40 ms, plus the apply),
/// independently of the others: the key's unapplied writes are an M/G/inf
/// population, Poisson with mean (lambda_w / K) E[L] whatever L's
/// distribution, and a read (an independent Poisson stream, PASTA) finds
/// none with probability exp(-lambda_w E[L] / K). Here lambda_w = 100/s
/// (half of 200 requests/s), K keys drawn uniformly.
#[test]
fn stale_reads_at_a_replica_follow_the_unapplied_writes_of_their_key() {
    let mut failures = Vec::new();
    println!("| case | theory | simulated | 95 % CI ± | difference | pass |");
    println!("|---|---:|---:|---:|---:|---|");
    let cases = [
        ("K = 10, apply 5 ms", 10, "5ms", "deterministic", 45.0),
        ("K = 100, apply 5 ms", 100, "5ms", "deterministic", 45.0),
        (
            "K = 10, apply exponential 20 ms",
            10,
            "20ms",
            "exponential",
            60.0,
        ),
    ];
    for (label, keys, apply, dist, lag_ms) in cases {
        let keys = format!("workload.keys.count={keys}");
        let apply = format!(
            r#"datastores.users.shard.apply={{ distribution = "{dist}", mean = "{apply}" }}"#
        );
        let (_, outs) = run(
            "data-replicas.toml",
            &[
                "workload.read_fraction=0.5",
                "run.replications=10",
                "run.warmup=\"1s\"",
                &keys,
                &apply,
            ],
        );
        let k: f64 = keys
            .rsplit('=')
            .next()
            .and_then(|k| k.parse().ok())
            .expect("K");
        let theory = 1.0 - (-100.0 * lag_ms / 1e3 / k).exp();
        let fractions: Vec<f64> = outs
            .iter()
            .map(|o| {
                let [primary, replica] = &o.shards[..] else {
                    panic!("two copies of one shard");
                };
                assert_eq!(primary.stale_reads, 0, "a primary reads its own writes");
                assert!(replica.requests > 1_500, "{}", replica.requests);
                let fraction =
                    replica.stale_reads as f64 / (replica.requests - replica.errors) as f64;
                // Every read goes to the replica, and there is no cache: the
                // run's stale reads are the replica's.
                assert_eq!(o.metrics.stale_read_ratio, Some(fraction));
                fraction
            })
            .collect();
        check(
            &format!("stale fraction, {label}"),
            theory,
            &fractions,
            0.01,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `data-stale.toml`: in-process caches (one TTL-only copy per instance,
/// T = 50 ms, 4 instances picked at random) serve values that another
/// instance's write made outdated until they expire. Per key, the stale
/// fraction of its reads is stale / (1 + hits) over an entry's life, with
/// the entry ended by its expiry or its own instance's write (derivation in
/// the scenario file). Also the hit ratio, hits / (1 + hits).
#[test]
fn in_process_caches_serve_stale_reads_until_their_ttl() {
    let (_, outs) = run("data-stale.toml", &[]);
    let (lambda, w, n, ttl) = (2000.0, 0.2, 4.0, 0.050);
    let (mut stale, mut hit) = (0.0, 0.0);
    for p in zipf(200, 0.8) {
        let (reads, writes) = (lambda * (1.0 - w) * p, lambda * w * p);
        let (own, others) = (writes / n, writes * (n - 1.0) / n);
        let life = |rate: f64| (1.0 - (-rate * ttl).exp()) / rate;
        let hits = reads / n * life(own);
        let stale_hits = reads / n * (life(own) - life(own + others));
        stale += p * stale_hits / (1.0 + hits);
        hit += p * hits / (1.0 + hits);
    }
    let mut failures = Vec::new();
    println!("| case | theory | simulated | 95 % CI ± | difference | pass |");
    println!("|---|---:|---:|---:|---:|---|");
    let ratios = |f: fn(&RunOutput) -> f64| outs.iter().map(f).collect::<Vec<_>>();
    check(
        "stale reads, 4 in-process copies, T=50ms, 20 % writes",
        stale,
        &ratios(|o| o.metrics.stale_read_ratio.expect("a datastore")),
        0.005,
        &mut failures,
    );
    // Every stale read is a stale hit of the one tier: of its hits, stale
    // / hit ([`TierHits::stale_hits`], `caches_timeseries.csv`'s
    // `stale_hit_ratio`).
    check(
        "stale hits / hits of the in-process tier, the same",
        stale / hit,
        &ratios(stale_hits_of_first_cache),
        0.005,
        &mut failures,
    );
    // `caches_timeseries.csv`'s `stale_hit_ratio`, interval by interval,
    // adds up to the same over the measured intervals (its lookups are
    // those made in the interval, the measured ones those of requests
    // that arrived after the warm-up: the same to within the edges).
    for o in &outs {
        let (mut stale, mut hits) = (0.0, 0.0);
        let secs = o.cache_timeseries[0].t_s;
        for r in o.cache_timeseries.iter().filter(|r| r.t_s > o.warmup_s) {
            let h = (r.lookups_rps * secs * r.hit_ratio).round();
            stale += (r.stale_hit_ratio * h).round();
            hits += h;
        }
        let whole = stale_hits_of_first_cache(o);
        assert!(
            (stale / hits - whole).abs() < 0.002,
            "intervals {} against {whole}",
            stale / hits
        );
        // `timeseries.csv`'s `stale_read_ratio` does too, weighted by the
        // interval's reads (80 % of its arrivals, every one answered).
        let (mut stale, mut reads) = (0.0, 0.0);
        for r in o.timeseries.iter().filter(|r| r.t_s > o.warmup_s) {
            let n = r.arrivals_rps * secs * 0.8;
            stale += r.stale_read_ratio * n;
            reads += n;
        }
        let whole = o.metrics.stale_read_ratio.expect("a datastore");
        assert!(
            (stale / reads - whole).abs() < 0.002,
            "intervals {} against {whole}",
            stale / reads
        );
    }
    check(
        "hit ratio, the same",
        hit,
        &ratios(|o| o.metrics.cache_hit_ratio),
        0.01,
        &mut failures,
    );
    // `slo.max_stale_read_ratio` judges each run's ratio (about 0.052).
    for (max, met) in [("0.04", false), ("0.06", true)] {
        let objective = format!("slo.max_stale_read_ratio={max}");
        let (_, outs) = run("data-stale.toml", &[&objective, "run.replications=2"]);
        for o in &outs {
            assert_eq!(
                o.metrics.slo_met, met,
                "{objective}: {:?}",
                o.metrics.stale_read_ratio
            );
        }
    }
    // Without writes nothing is ever stale; without the tier, nothing but
    // the store answers, and the primary is never stale.
    for sets in [
        &["workload.read_fraction=1.0", "run.replications=2"][..],
        &["datastores.users.cache=[]", "run.replications=2"][..],
    ] {
        let (_, outs) = run("data-stale.toml", sets);
        for o in &outs {
            assert_eq!(o.metrics.stale_read_ratio, Some(0.0), "{sets:?}");
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A warm start marks the entries its writes made outdated, so a run
/// measured from time zero reads as stale as one that simulated the same
/// time as a warm-up: `data-edge-ttl.toml` with 20 % writes, 10^5 keys,
/// max_age 10 s, the 5 s after 100 s of traffic, 40 replications each.
/// (Not against the steady-state formula: a TTL cache filled from empty
/// expires its popular keys in step, T after their first read, for many
/// cycles, and both runs start empty 100 s before their window.) Without
/// the warm start's marks the first run reads about 0.051 against 0.073.
#[test]
fn a_warm_start_carries_its_stale_entries_into_the_run() {
    let stale = |sets: &[&str]| -> Vec<f64> {
        let common = [
            "workload.read_fraction=0.8",
            "workload.keys.count=100000",
            "edge.cache.max_age=\"10s\"",
            "run.replications=40",
        ];
        let (_, outs) = run("data-edge-ttl.toml", &[&common[..], sets].concat());
        outs.iter()
            .map(|o| o.metrics.stale_read_ratio.expect("a datastore"))
            .collect()
    };
    let warm = ci95(&stale(&[
        "run.duration=\"5s\"",
        "run.warmup=\"0s\"",
        "run.cache_warm_start=\"100s\"",
    ]));
    let simulated = ci95(&stale(&["run.warmup=\"100s\"", "run.duration=\"105s\""]));
    // Two independent samples: the difference's 99.9 % bound, from the two
    // 95 % half-widths (t ~ 2.02 at 39 degrees of freedom, 3.56 at 99.9 %).
    let bound = 3.56 / 2.02 * warm.half_width.hypot(simulated.half_width);
    let diff = warm.mean - simulated.mean;
    println!(
        "| stale reads, warm start 100 s vs a simulated 100 s warm-up: 5 s | {:.4} | {:.4} | {:.4} | {diff:+.4} | {} |",
        simulated.mean,
        warm.mean,
        warm.half_width,
        if diff.abs() <= bound { "yes" } else { "NO" }
    );
    assert!(
        diff.abs() <= bound && diff.abs() < 0.01,
        "warm start {warm:?} vs simulated warm-up {simulated:?}"
    );
}

/// `data-stale-race.toml`: a shared tier D = 10 ms from its store, which
/// writes invalidate when their answer is back. A value the tier holds at
/// t is outdated exactly when a write committed in (t - D, t], independently
/// of whether it holds the key, so stale = hit ratio x (1 - e^{-w D}) with
/// w = 10 writes/s per key (derivation in the scenario file). Fills that
/// raced a write must be counted: without them the ratio is about 0.088.
#[test]
fn a_shared_tier_is_stale_between_a_commit_and_its_invalidation() {
    let (_, outs) = run("data-stale-race.toml", &[]);
    let theory = 1.0 - (-10.0f64 * 0.010).exp();
    let xs: Vec<f64> = outs
        .iter()
        .map(|o| o.metrics.stale_read_ratio.expect("a datastore") / o.metrics.cache_hit_ratio)
        .collect();
    let mut failures = Vec::new();
    println!("| case | theory | simulated | 95 % CI ± | difference | pass |");
    println!("|---|---:|---:|---:|---:|---|");
    check(
        "stale / hit, shared tier 10 ms from its store, 10 writes/s a key",
        theory,
        &xs,
        0.005,
        &mut failures,
    );
    // The same, counted at the tier.
    check(
        "stale hits / hits of the shared tier, the same",
        theory,
        &outs
            .iter()
            .map(stale_hits_of_first_cache)
            .collect::<Vec<_>>(),
        0.005,
        &mut failures,
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `data-edge-ttl.toml` with writes (20 %) and max_age T = 200 ms: writes
/// never reach the edge cache, so a cacheable key's entry serves its value
/// for T after the miss that fetched it; a hit at age a is stale if a write
/// came in (0, a]. Per cacheable key read at r_i and written at w_i, an
/// entry holds r_i T hits, r_i (T - (1 - e^{-w_i T}) / w_i) of them stale,
/// and its reads are 1 + r_i T: the stale fraction of all reads is
/// sum over cacheable keys of p_i (T - (1 - e^{-w_i T}) / w_i) / (T + 1 / r_i).
#[test]
fn an_edge_cache_serves_stale_reads_until_max_age() {
    let mut failures = Vec::new();
    println!("| case | theory | simulated | 95 % CI ± | difference | pass |");
    println!("|---|---:|---:|---:|---:|---|");
    let cases = [
        ("N=200, max_age=200ms", 200, 0.200, "200ms"),
        ("N=200, max_age=1s", 200, 1.0, "1s"),
    ];
    for (label, keys, ttl, max_age) in cases {
        let max_age = format!("edge.cache.max_age=\"{max_age}\"");
        let sets = ["workload.read_fraction=0.8", &max_age[..]];
        let (loaded, outs) = run("data-edge-ttl.toml", &sets);
        let edge = loaded.plan.data.edge_cache.expect("an edge cache");
        let (lambda, w) = (1000.0, 0.2);
        let (theory, hits): (f64, f64) = zipf(keys, 0.8)
            .into_iter()
            .enumerate()
            .filter(|&(k, _)| edge.cacheable(k as u64))
            .map(|(_, p)| {
                let (reads, writes) = (lambda * (1.0 - w) * p, lambda * w * p);
                let stale =
                    p * (ttl - (1.0 - (-writes * ttl).exp()) / writes) / (ttl + 1.0 / reads);
                (stale, p * ttl / (ttl + 1.0 / reads))
            })
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        let xs: Vec<f64> = outs
            .iter()
            .map(|o| o.metrics.stale_read_ratio.expect("a datastore"))
            .collect();
        check(
            &format!("stale reads, edge cache {label}, 20 % writes"),
            theory,
            &xs,
            0.01,
            &mut failures,
        );
        check(
            &format!("stale hits / hits of the edge cache, {label}"),
            theory / hits,
            &outs
                .iter()
                .map(stale_hits_of_first_cache)
                .collect::<Vec<_>>(),
            0.01,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The edge keeps a request's answer outdated only if a write of its key
/// committed after the request read it, not after the request arrived:
/// `data-edge-ttl.toml` (max_age 200 ms, 20 % writes) with 50 ms of work
/// before each request's read. A miss then fills the edge 50 ms after it
/// looked it up (the reads that miss meanwhile fill it again as they end),
/// with a value that is fresh when stored; a hit on an entry of age `a`
/// is stale with probability 1 - e^{-wa}, writes being a Poisson stream
/// that never touches the edge. The reference simulates each cacheable
/// key's reads and fills alone and sums that probability over its hits
/// (exact in expectation, so its own noise is small). Dating the fills
/// from arrival instead counts 0.099 (the build before this rule) against
/// the reference's 0.070.
#[test]
fn an_edge_fill_is_outdated_only_by_writes_after_its_read() {
    let (d, ttl, lambda, w) = (0.050, 0.200, 1000.0, 0.2);
    let sets = [
        "workload.read_fraction=0.8",
        "edge.cache.max_age=\"200ms\"",
        "services.api.work={ distribution = \"deterministic\", mean = \"50ms\" }",
    ];
    let (loaded, outs) = run("data-edge-ttl.toml", &sets);
    let edge = loaded.plan.data.edge_cache.expect("an edge cache");
    // Request end to fill: the work, then the store's 1 us read.
    let fill_after = d + 1e-6;
    let mut rng = headroom_sim::rng::stream(20261207, 0, "edge reference");
    let reference: f64 = zipf(200, 0.8)
        .into_iter()
        .enumerate()
        .filter(|&(k, _)| edge.cacheable(k as u64))
        .map(|(_, p)| {
            let (reads, writes) = (lambda * (1.0 - w) * p, lambda * w * p);
            let gap = Dist::Exponential {
                mean_ns: 1e9 / reads,
            };
            let n = 200_000;
            let (mut t, mut filled) = (0.0, f64::NEG_INFINITY);
            let mut fills = std::collections::VecDeque::new();
            let mut stale = 0.0;
            for _ in 0..n {
                t += gap.sample(&mut rng).as_secs_f64();
                while fills.front().is_some_and(|&f| f <= t) {
                    filled = fills.pop_front().expect("a fill");
                }
                if t <= filled + ttl {
                    stale += 1.0 - (-writes * (t - filled)).exp();
                } else {
                    fills.push_back(t + fill_after);
                }
            }
            p * stale / f64::from(n)
        })
        .sum();
    let xs: Vec<f64> = outs
        .iter()
        .map(|o| o.metrics.stale_read_ratio.expect("a datastore"))
        .collect();
    let mut failures = Vec::new();
    check(
        "stale reads, edge cache N=200, max_age=200ms, 50 ms before the read (reference)",
        reference,
        &xs,
        0.005,
        &mut failures,
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Of the hits of `o`'s first cache (the edge cache if any, else the
/// first tier) over the measured window, the fraction that were stale.
fn stale_hits_of_first_cache(o: &RunOutput) -> f64 {
    let t = &o.metrics.cache_tiers[0];
    t.stale_hits as f64 / t.hits as f64
}

/// A read replica applies every write on its shard's workers: with reads
/// and applies at 150/s each on c = 4 workers of mean 10 ms, it is M/M/4 at
/// 300/s (Erlang C), not at the 150 reads/s alone; the replication lag is
/// the one-way 40 ms plus the same sojourn. The primary, with the writes
/// alone, is M/M/4 at 150/s.
#[test]
fn a_replica_applies_every_write_as_m_m_c() {
    let (_, outs) = run("data-replica-apply.toml", &[]);
    let col = |copy: usize, f: fn(&headroom_models::ShardRow) -> f64| -> Vec<f64> {
        outs.iter().map(|o| f(&o.shards[copy])).collect()
    };
    let w = |lambda: f64| mmc_response_time(4, lambda, 100.0) * 1e3;
    let mut failures = Vec::new();
    println!("| case | theory | simulated | 95 % CI ± | difference | pass |");
    println!("|---|---:|---:|---:|---:|---|");
    let mean_ms = |r: &headroom_models::ShardRow| r.latency.mean_ns() / 1e6;
    let primary = col(0, mean_ms);
    check(
        "primary W (ms), M/M/4 at 150/s",
        w(150.0),
        &primary,
        0.02 * w(150.0),
        &mut failures,
    );
    let reads = col(1, mean_ms);
    check(
        "replica read W (ms), M/M/4 at 300/s",
        w(300.0),
        &reads,
        0.02 * w(300.0),
        &mut failures,
    );
    let lag = col(1, |r| r.replication_lag.mean_ns() / 1e6);
    let theory = 40.0 + w(300.0);
    check(
        "replication lag (ms), 40 + W",
        theory,
        &lag,
        0.02 * theory,
        &mut failures,
    );
    let busy = col(1, |r| r.utilization);
    check("replica busy, 300/400", 0.75, &busy, 0.01, &mut failures);
    let applied = col(1, |r| r.applied as f64 / r.requests as f64);
    check("applies per read", 1.0, &applied, 0.01, &mut failures);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A hand-computed bill: every data-tier price once, for one hour.
const PRICED: &str = r#"
[run]
duration = "1h"
replications = 1
seed = 7

[workload]
arrivals = { process = "poisson", rate = 1.0 }
keys = { count = 1 }
origin = { us-east = 1.0 }

[[regions]]
name = "us-east"
[[regions]]
name = "eu-west"

[network]
rtt = { us-east = { eu-west = "80ms" } }

[[services]]
name = "api"
regions = ["us-east"]
instance = { type = "m5.large", workers = 8 }
work = { distribution = "deterministic", mean = "1ms" }
calls = [ { data = "users" } ]
replicas = 2

[[datastores]]
name = "users"
shards = 4
shard = { workers = 8, read = { distribution = "deterministic", mean = "1ms" } }
primary = "us-east"
replicas = ["eu-west"]
object_size = "1MB"

[[datastores.cache]]
tier = "l1"
scope = "instance"
capacity = "1GB"

[[datastores.cache]]
tier = "hot"
storage = "memory"
scope = "region"
capacity = "2GB"

[[datastores.cache]]
tier = "warm"
storage = "kv"
scope = "global"
capacity = 1000

[[datastores.cache]]
tier = "cold"
storage = "object"
scope = "global"
capacity = "10GB"

[costs]
region_multipliers = { eu-west = 1.5 }
instance_types = { "m5.large" = { vcpu = 2, memory = "8GiB", hourly = 0.096 } }

[costs.data]
shard_hourly = 0.5
replica_hourly = 0.2
memory_per_gb_hour = 0.02
kv_per_million_ops = 1.0
kv_per_gb_month = 0.25
object_per_million_gets = 0.4
object_per_gb_month = 0.023
"#;

#[test]
fn data_tier_costs_match_a_hand_computation() {
    let loaded = headroom_models::load_str(Path::new("priced.toml"), PRICED, &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let out = run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("runs");
    // One hour:
    //   instances  2 x 0.096                          = 0.192
    //   shards     4 x 0.5 (us-east)                  = 2.0
    //   replicas   4 x 0.2 x 1.5 (eu-west)            = 1.2
    //   l1         instance scope: in the instance's memory = 0
    //   hot        1 caller region x 2 GB x 0.02       = 0.04
    //   warm       1000 items x 1 MB = 1 GB x 0.25 / 730
    //   cold       10 GB x 0.023 / 730
    //   usage      the one key's first read misses warm and cold (1 kv lookup,
    //              1 object get) and fills them (1 kv op); the second
    //              instance's first read hits hot: 2 x 1e-6 + 0.4e-6
    let expected = 0.192 + 2.0 + 1.2 + 0.04 + 0.25 / 730.0 + 0.23 / 730.0 + 2.4e-6;
    let m = &out.metrics;
    assert!(
        (m.cost_usd - expected).abs() < 1e-9,
        "{} vs {expected}",
        m.cost_usd
    );
    assert_eq!(
        (m.cost_usd * 100.0).round(),
        343.0,
        "to the cent: $3.43 an hour"
    );
    assert!((m.cost_per_month_usd - expected * 730.0).abs() < 1e-6);
    // The breakdown: the instances, the data tier (all but the instances),
    // no egress (no price, and every read stays in us-east).
    assert!((m.instance_cost_per_month_usd - 0.192 * 730.0).abs() < 1e-6);
    assert!((m.data_cost_per_month_usd - (expected - 0.192) * 730.0).abs() < 1e-6);
    assert_eq!(m.egress_cost_per_month_usd, 0.0);
    // The same bill line by line (`bill.csv`), each line the hour's figure
    // above: where each part is paid, and no line for the L1 (it lives in
    // the instances' memory) or for egress (no price).
    let lines: Vec<(&str, &str, &str, f64)> = out
        .bill
        .iter()
        .map(|l| {
            (
                l.kind.as_str(),
                l.component.as_str(),
                l.region.as_str(),
                l.cost_usd,
            )
        })
        .collect();
    let expected_lines = [
        ("instances", "api", "us-east", 0.192),
        ("shards", "users", "us-east", 2.0),
        ("replicas", "users", "eu-west", 1.2),
        ("cache_capacity", "users/hot", "us-east", 0.04),
        ("cache_capacity", "users/warm", "global", 0.25 / 730.0),
        ("cache_capacity", "users/cold", "global", 0.23 / 730.0),
        ("cache_operations", "users/warm", "global", 2e-6),
        ("cache_operations", "users/cold", "global", 0.4e-6),
    ];
    assert_eq!(lines.len(), expected_lines.len(), "{lines:?}");
    for (got, want) in lines.iter().zip(expected_lines) {
        assert_eq!((got.0, got.1, got.2), (want.0, want.1, want.2));
        assert!(
            (got.3 - want.3).abs() <= 1e-11 * want.3.max(1.0),
            "{got:?} vs {want:?}"
        );
    }
    let by_part = |part: &str| -> f64 {
        out.bill
            .iter()
            .filter(|l| l.kind.part() == part)
            .map(|l| l.cost_per_month_usd)
            .sum()
    };
    assert!((by_part("instances") - m.instance_cost_per_month_usd).abs() < 1e-6);
    assert!((by_part("data") - m.data_cost_per_month_usd).abs() < 1e-6);
    let tiers: Vec<f64> = m.cache_tiers.iter().map(|t| t.hit_ratio()).collect();
    assert_eq!(tiers[2], 0.0, "warm: its one lookup missed");
    assert!(tiers[0] > 0.99, "l1 answers everything after two misses");
}

/// Egress priced by hand: eu-west's clients call api, which runs in
/// us-east only, so each request's call crosses regions both ways and its
/// answer goes to the internet.
#[test]
fn egress_costs_match_a_hand_computation() {
    let scenario = r#"
[run]
duration = "200s"
warmup = "0s"
replications = 1
seed = 11

[workload]
arrivals = { process = "poisson", rate = 10.0 }
origin = { eu-west = 1.0 }
request_size = "2KB"
response_size = "100KB"

[[regions]]
name = "us-east"
[[regions]]
name = "eu-west"

[network]
rtt = { us-east = { eu-west = "80ms" } }

[[services]]
name = "api"
regions = ["us-east"]
instance = { type = "m5.large", workers = 8 }
work = { distribution = "deterministic", mean = "1ms" }
replicas = 2

[costs]
instance_types = { "m5.large" = { vcpu = 2, memory = "8GiB", hourly = 0.096 } }
egress = { inter_region_per_gb = 0.02, internet_per_gb = 0.09 }
"#;
    let loaded = headroom_models::load_str(Path::new("egress.toml"), scenario, &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let w = &loaded.plan.workload;
    let (req, resp) = (w.request_bytes as f64, w.response_bytes as f64);
    assert_eq!((req, resp), (2e3, 1e5));
    let out = run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("runs");
    let m = &out.metrics;
    assert!(
        m.ok > 1900 && m.ok == m.requests,
        "{} of {}",
        m.ok,
        m.requests
    );
    // Each answered request: its call there and back between the regions,
    // its answer to the internet. A request in flight at the end of the
    // window (81 ms a request at 10 a second: about 0.8 of them) paid for
    // its way there in it and for its answer after it.
    let per_request = (req + resp) * 0.02e-9 + resp * 0.09e-9;
    let month = 730.0 * 3600.0 / 200.0;
    let egress = m.egress_cost_per_month_usd;
    let answered = m.ok as f64 * per_request * month;
    let straddlers = 3.0;
    let answer = resp * (0.02e-9 + 0.09e-9) * month;
    assert!(
        egress <= answered * (1.0 + 1e-9) && egress >= answered - straddlers * answer,
        "{egress} vs {answered}"
    );
    assert!((m.instance_cost_per_month_usd - 2.0 * 0.096 * 730.0).abs() < 1e-6);
    assert_eq!(m.data_cost_per_month_usd, 0.0);
    let parts = m.instance_cost_per_month_usd + m.data_cost_per_month_usd + egress;
    assert!(
        (parts / m.cost_per_month_usd - 1.0).abs() < 1e-9,
        "{parts} vs {}",
        m.cost_per_month_usd
    );
    // By the region that sends the bytes (`bill.csv`): eu-west sends each
    // request to us-east and answers its clients from its edge; us-east
    // sends each answer back. Nothing else crosses a border.
    let line = |kind: &str, region: &str| -> f64 {
        let found: Vec<f64> = out
            .bill
            .iter()
            .filter(|l| l.kind.as_str() == kind && l.region == region)
            .map(|l| l.cost_per_month_usd)
            .collect();
        assert_eq!(found.len(), 1, "one {kind} line for {region}");
        found[0]
    };
    let ok = m.ok as f64;
    let within = |got: f64, per_answer: f64, in_flight: f64| {
        let answered = ok * per_answer * month;
        assert!(
            got <= (answered + in_flight * per_answer * month) * (1.0 + 1e-9)
                && got >= answered - straddlers * per_answer * month,
            "{got} vs {answered}"
        );
    };
    // A request sent in the window whose answer comes after it paid its
    // way there only.
    within(
        line("egress_inter_region", "eu-west"),
        req * 0.02e-9,
        straddlers,
    );
    within(line("egress_inter_region", "us-east"), resp * 0.02e-9, 0.0);
    within(line("egress_internet", "eu-west"), resp * 0.09e-9, 0.0);
    assert_eq!(line("egress_internet", "us-east"), 0.0, "no clients there");
    let sent: f64 = out
        .bill
        .iter()
        .filter(|l| l.kind.part() == "egress")
        .map(|l| l.cost_per_month_usd)
        .sum();
    assert!((sent / egress - 1.0).abs() < 1e-9, "{sent} vs {egress}");
}

/// Replication egress priced by hand: every write reaches the us-east
/// primary, which ships its object to each replica (eu-west, ap-south:
/// each copy is in a region of its own), so each write costs two objects
/// of inter-region egress, sent from us-east. Reads, from us-east's
/// callers, go to the primary and cross nothing.
#[test]
fn writes_pay_egress_to_each_replica_in_another_region() {
    let scenario = r#"
[run]
duration = "100s"
warmup = "0s"
replications = 1
seed = 3

[workload]
arrivals = { process = "poisson", rate = 20.0 }
keys = { count = 1000 }
read_fraction = 0.5
origin = { us-east = 1.0 }

[[regions]]
name = "us-east"
[[regions]]
name = "eu-west"
[[regions]]
name = "ap-south"

[network.rtt.us-east]
eu-west = "80ms"
ap-south = "190ms"
[network.rtt.eu-west]
ap-south = "120ms"

[[services]]
name = "api"
regions = ["us-east"]
instance = { type = "m5.large", workers = 8 }
work = { distribution = "deterministic", mean = "1ms" }
calls = [ { data = "users" } ]
replicas = 1

[[datastores]]
name = "users"
shards = 2
shard = { workers = 8, read = { distribution = "deterministic", mean = "1ms" }, write = { distribution = "deterministic", mean = "2ms" } }
primary = "us-east"
replicas = ["eu-west", "ap-south"]
routing = { writes = "primary", reads = "nearest-replica" }
object_size = "1MB"

[costs]
instance_types = { "m5.large" = { vcpu = 2, memory = "8GiB", hourly = 0.096 } }
egress = { inter_region_per_gb = 0.02 }
"#;
    let loaded = headroom_models::load_str(Path::new("replicated.toml"), scenario, &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let out = run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("runs");
    let m = &out.metrics;
    assert_eq!(m.ok, m.requests, "every request answered");
    // The writes the primary did: its shards' operations (reads go to the
    // us-east copies too, the nearest to us-east's callers: the primary
    // first, so the primary served every operation).
    let primary: u64 = out
        .shards
        .iter()
        .filter(|s| s.region == "us-east")
        .map(|s| s.requests)
        .sum();
    assert_eq!(primary, m.requests, "{:?}", out.shards);
    let usd = |kind: &str, region: &str| -> f64 {
        out.bill
            .iter()
            .find(|l| l.kind.as_str() == kind && l.region == region)
            .map_or(f64::NAN, |l| l.cost_usd)
    };
    let sent = usd("egress_inter_region", "us-east");
    let per_write = 2.0 * 1e6 * 0.02e-9;
    // Writes are about half the requests; a write counts where its work
    // ends, a request where it arrived: the two windows differ by at most
    // the few in flight at an edge.
    let writes = sent / per_write;
    assert!(
        (writes - writes.round()).abs() < 1e-6,
        "a whole number of writes: {writes}"
    );
    assert!(
        (writes - m.requests as f64 / 2.0).abs() < 4.0 * (m.requests as f64 / 4.0).sqrt(),
        "{writes} writes of {} requests",
        m.requests
    );
    for region in ["eu-west", "ap-south"] {
        assert_eq!(
            usd("egress_inter_region", region),
            0.0,
            "{region} sends nothing"
        );
    }
    assert!(
        (m.egress_cost_per_month_usd / (sent * 730.0 * 36.0) - 1.0).abs() < 1e-9,
        "the run's egress is the replication's alone"
    );
}

fn run_text(text: &str) -> RunOutput {
    let loaded = headroom_models::load_str(Path::new("timed.toml"), text, &[])
        .unwrap_or_else(|e| panic!("{e}"));
    run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("runs")
}

/// `datastores.*.timeout`: each try of an operation ends for its caller at
/// the timeout, while the store works on (its shard sees every try) and its
/// connection stays busy until the answer is back; the store's `retry`
/// retries timeouts. A timeout longer than every operation changes nothing.
#[test]
fn a_store_timeout_fails_each_try_at_its_deadline() {
    let near = |x: f64, y: f64| (x / y - 1.0).abs() <= 1.0 / 256.0;
    // Each request (answered or not) within the histogram's resolution of
    // `ms`.
    let every_request_takes = |m: &headroom_models::RunMetrics, ms: f64| {
        for q in [0.01, 0.99] {
            let x = m.latency_all.quantile_ms(q);
            assert!(near(x, ms), "quantile {q}: {x} ms, not {ms}");
        }
    };
    // No retry: every request fails at 1 ms + 20 ms (a 504: `timeouts`).
    // Five-second intervals, the warm-up the first.
    let o = run_text(
        &common::timed_store("timeout = \"20ms\"", "")
            .replace("seed = 5", "seed = 5\ntimeseries_interval = \"5s\""),
    );
    let m = &o.metrics;
    assert!(m.requests > 2500, "{}", m.requests);
    assert_eq!((m.timeouts, m.ok), (m.requests, 0));
    every_request_takes(m, 21.0);
    // The shard worked on every try all the same, 50 ms each.
    let shard = &o.shards[0];
    assert!(
        shard.requests.abs_diff(m.requests) <= 3,
        "{} {}",
        shard.requests,
        m.requests
    );
    assert!(near(shard.latency.quantile_ms(0.5), 50.0));
    // Every read of it was abandoned: 50 ms of its workers' time each,
    // for nobody (a few at the window's edges counted on the other side).
    let wasted = |shard: &headroom_models::report::ShardRow| {
        let expected = shard.requests as f64 * 0.050;
        assert!(
            (shard.wasted_work_s - expected).abs() <= 0.5,
            "{} s wasted, {expected} s expected",
            shard.wasted_work_s
        );
    };
    wasted(shard);
    // `shards_timeseries.csv` splits that waste interval by interval: the
    // measured intervals' add up to it.
    let series: Vec<f64> = o
        .shard_timeseries
        .iter()
        .filter(|r| r.t_s > o.warmup_s)
        .map(|r| r.wasted_work_s)
        .collect();
    assert_eq!(series.len(), 11, "eleven measured 5-s intervals");
    let sum: f64 = series.iter().sum();
    assert!(
        (sum - shard.wasted_work_s).abs() < 1e-9,
        "intervals {sum} vs {}",
        shard.wasted_work_s
    );
    assert!(
        series
            .iter()
            .all(|&w| (w / (50.0 * 5.0 * 0.050) - 1.0).abs() < 0.3),
        "about 50 reads/s x 5 s x 50 ms each: {series:?}"
    );
    // Three tries, 5 ms apart: 1 + 20 + 5 + 20 + 5 + 20 = 71 ms, and the
    // shard sees three tries a request.
    let retry = "retry = { attempts = 3, backoff = \"constant\", base = \"5ms\", jitter = \"none\", \
                 budget = { ratio = 1000.0 } }";
    let o = run_text(&common::timed_store("timeout = \"20ms\"", retry));
    let m = &o.metrics;
    assert_eq!((m.timeouts, m.ok), (m.requests, 0));
    every_request_takes(m, 71.0);
    assert!(
        m.retries.abs_diff(2 * m.requests) <= 6,
        "{} {}",
        m.retries,
        m.requests
    );
    let shard = &o.shards[0];
    wasted(shard);
    assert!(
        shard.requests.abs_diff(3 * m.requests) <= 9,
        "{} {}",
        shard.requests,
        m.requests
    );
    // A pooled connection is held for the whole 50 ms, not the 20 ms the
    // caller waited.
    let pool = "pool = { max = 100 }";
    let o = run_text(&common::timed_store("timeout = \"20ms\"", pool));
    let station = o
        .stations
        .iter()
        .find(|s| s.name.starts_with("the pools of store users"))
        .expect("a pool station");
    let held = station.held_s / station.requests as f64;
    assert!(near(held, 0.050), "{held} s a connection");
    // A timeout no operation reaches: the same run as none.
    let plain = run_text(&common::timed_store("", ""));
    let long = run_text(&common::timed_store("timeout = \"100ms\"", ""));
    assert_eq!(plain.metrics.cells(), long.metrics.cells());
    assert_eq!(long.shards[0].wasted_work_s, 0.0);
    assert_eq!(plain.metrics.ok, plain.metrics.requests);
}

/// The hit ratio of `o`'s cache `tier` (index into `runs.csv`'s cache
/// columns) in its first `caches_timeseries.csv` interval.
fn first_interval_ratio(o: &RunOutput, tier: usize) -> f64 {
    let tiers = o.metrics.cache_tiers.len();
    o.cache_timeseries[tier % tiers].hit_ratio
}

/// `data-warm-start.toml`: with `run.cache_warm_start`, an LRU tier over a
/// million Zipf keys, measured from time zero without a warm-up, is at
/// Che's steady state over the whole run and in its first 5 s; from a cold
/// start (the key left out), its first interval is far below and the cold-
/// cache check names it. The run's own draws are the same either way: the
/// warm start draws from streams of its own. Then the edge cache's TTL case
/// (`data-edge-ttl.toml` with a 10 s `max_age` over 10^5 keys): warm for
/// 100 s, its hit ratio from time zero is the TTL theory's.
#[test]
fn a_warm_start_measures_caches_at_their_steady_state_from_time_zero() {
    let mut failures = Vec::new();
    println!("| case | theory | simulated | 95 % CI ± | difference | pass |");
    println!("|---|---:|---:|---:|---:|---|");
    let (_, hit) = che_lru(&zipf(1_000_000, 0.9), 20_000.0);
    let (loaded, warm) = run("data-warm-start.toml", &[]);
    assert_eq!(loaded.plan.run.warmup, headroom_sim::Span::ZERO);
    let xs: Vec<f64> = warm.iter().map(tier_ratio).collect();
    check(
        "LRU C=20000 N=10^6 s=0.9, warm start 120 s: 0-30 s",
        hit,
        &xs,
        0.01,
        &mut failures,
    );
    let firsts: Vec<f64> = warm.iter().map(|o| first_interval_ratio(o, 0)).collect();
    check(
        "LRU, warm start 120 s: first 5 s",
        hit,
        &firsts,
        0.01,
        &mut failures,
    );
    assert!(
        headroom_models::report::cold_caches_of(&loaded.plan, &warm).is_empty(),
        "a warm cache is not named"
    );
    // Cold: the same run without the warm start ("0s" is none).
    let (cold_loaded, cold) = run("data-warm-start.toml", &["run.cache_warm_start=\"0s\""]);
    for (w, c) in warm.iter().zip(&cold) {
        assert_eq!(
            w.metrics.requests, c.metrics.requests,
            "the run's own draws"
        );
        let lookups = |o: &RunOutput| o.metrics.cache_tiers[0].lookups;
        assert_eq!(lookups(w), lookups(c), "every request looks the tier up");
        let first = first_interval_ratio(c, 0);
        assert!(first < hit - 0.1, "cold first interval {first} vs {hit}");
        assert!(
            tier_ratio(c) < hit - 0.01,
            "cold {} vs {hit}",
            tier_ratio(c)
        );
    }
    let mean = |f: &dyn Fn(&RunOutput) -> f64| cold.iter().map(f).sum::<f64>() / cold.len() as f64;
    println!(
        "| (cold start, for comparison: first 5 s {:.4}, 0-30 s {:.4}) | | | | | |",
        mean(&|o| first_interval_ratio(o, 0)),
        mean(&tier_ratio)
    );
    let named = headroom_models::report::cold_caches_of(&cold_loaded.plan, &cold);
    assert_eq!(named.len(), 1, "the cold tier is named: {named:?}");

    // The edge cache, a TTL cache: 10^5 keys, Zipf 0.8, 1000/s, half the
    // keys cacheable, T = 10 s; per key λT/(1+λT).
    let (loaded, outs) = run(
        "data-edge-ttl.toml",
        &[
            "workload.keys.count=100000",
            "edge.cache.max_age=\"10s\"",
            "run.duration=\"20s\"",
            "run.warmup=\"0s\"",
            "run.cache_warm_start=\"100s\"",
            "run.timeseries_interval=\"5s\"",
        ],
    );
    let edge = loaded.plan.data.edge_cache.expect("an edge cache");
    let (lambda, ttl) = (1000.0, 10.0);
    let (mut mass, mut hits) = (0.0, 0.0);
    for (k, p) in zipf(100_000, 0.8).into_iter().enumerate() {
        if edge.cacheable(k as u64) {
            let lt = lambda * p * ttl;
            mass += p;
            hits += p * lt / (1.0 + lt);
        }
    }
    let theory = hits / mass;
    let edge_ratio = |o: &RunOutput| o.metrics.cache_tiers[0].hit_ratio();
    let xs: Vec<f64> = outs.iter().map(edge_ratio).collect();
    check(
        "edge ttl N=10^5 s=0.8 λ=1000/s T=10s, warm start 100 s: 0-20 s",
        theory,
        &xs,
        0.01,
        &mut failures,
    );
    let firsts: Vec<f64> = outs.iter().map(|o| first_interval_ratio(o, 0)).collect();
    check(
        "edge ttl, warm start 100 s: first 5 s",
        theory,
        &firsts,
        0.01,
        &mut failures,
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
