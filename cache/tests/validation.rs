//! The caches against cache theory (results table in
//! `experiments/validation/README.md`):
//!
//! - LRU under Zipf popularity against Che's approximation: the
//!   characteristic time `T` solves `sum_i (1 - exp(-p_i T)) = C` and the hit
//!   ratio is `sum_i p_i (1 - exp(-p_i T))`.
//! - FIFO against its characteristic-time approximation (the same as
//!   RANDOM's): `sum_i p_i T / (1 + p_i T) = C`, hit ratio
//!   `sum_i p_i * p_i T / (1 + p_i T)`.
//! - TTL-only against the per-key renewal result: a key requested as a
//!   Poisson process of rate `lambda` hits with probability
//!   `lambda T / (1 + lambda T)`.
//!
//! Simulated hit ratios come with 95 % confidence intervals from batch
//! means (20 batches, Student t); each check requires the CI half-width to be
//! below 0.003 (enough requests) and the distance to theory below 0.01 (the
//! required accuracy) plus nothing else: the approximation error of Che and
//! of the FIFO formula at these sizes is far below 0.01.

use headroom_cache::{Access, Cache, CacheSpec, Capacity, Eviction};
use headroom_sim::rng::stream;
use headroom_sim::stats::ci95;
use headroom_sim::zipf::Zipf;
use rand::RngExt;

fn zipf_pmf(n: u64, s: f64) -> Vec<f64> {
    let w: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
    let total: f64 = w.iter().sum();
    w.into_iter().map(|x| x / total).collect()
}

/// Solves `f(T) = c` for increasing `f` by bisection.
fn solve(f: impl Fn(f64) -> f64, c: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1.0);
    while f(hi) < c {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) < c { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// (T, hit ratio) of Che's approximation for LRU.
fn che_lru(p: &[f64], c: f64) -> (f64, f64) {
    let t = solve(|t| p.iter().map(|q| 1.0 - (-q * t).exp()).sum(), c);
    (t, p.iter().map(|q| q * (1.0 - (-q * t).exp())).sum())
}

/// (T, hit ratio) of the characteristic-time approximation for FIFO.
fn che_fifo(p: &[f64], c: f64) -> (f64, f64) {
    let t = solve(|t| p.iter().map(|q| q * t / (1.0 + q * t)).sum(), c);
    (t, p.iter().map(|q| q * q * t / (1.0 + q * t)).sum())
}

struct Row {
    alpha: f64,
    n: u64,
    c: u64,
    t_lru: f64,
    hit_lru: f64,
    t_fifo: f64,
    hit_fifo: f64,
}

fn table() -> Vec<Row> {
    include_str!("data/che-approximation-zipf.tsv")
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<f64> = l.split('\t').map(|x| x.parse().unwrap()).collect();
            Row {
                alpha: f[0],
                n: f[1] as u64,
                c: f[2] as u64,
                t_lru: f[3],
                hit_lru: f[4],
                t_fifo: f[5],
                hit_fifo: f[6],
            }
        })
        .collect()
}

#[test]
fn our_che_computation_matches_the_reference_table_and_the_icarus_anchor() {
    for r in table() {
        let p = zipf_pmf(r.n, r.alpha);
        let (t, h) = che_lru(&p, r.c as f64);
        assert!((t - r.t_lru).abs() < 1e-4 * r.t_lru && (h - r.hit_lru).abs() < 1e-6);
        let (t, h) = che_fifo(&p, r.c as f64);
        assert!((t - r.t_fifo).abs() < 1e-4 * r.t_fifo && (h - r.hit_fifo).abs() < 1e-6);
    }
    // icarus TestCheApproximation: alpha 0.8, N 100, C 40.
    let (t, h) = che_lru(&zipf_pmf(100, 0.8), 40.0);
    assert!(
        (72.1..=72.3).contains(&t) && (0.63..=0.66).contains(&h),
        "{t} {h}"
    );
}

/// Hit ratio of `eviction` with capacity `c` under Zipf(`n`, `s`) requests:
/// (mean, CI half-width) over 20 batches after a warm-up.
fn simulate(eviction: Eviction, n: u64, s: f64, c: u64, requests: u64) -> (f64, f64) {
    let mut rng = stream(42, 0, &format!("validation/{eviction}/{n}/{s}/{c}"));
    let z = Zipf::new(n, s).unwrap();
    let mut cache = Cache::new(&CacheSpec::new(eviction, Capacity::Items(c))).unwrap();
    for _ in 0..requests / 4 {
        cache.access(0, z.sample(&mut rng), 1);
    }
    let batches = 20;
    let per = requests / batches;
    let ratios: Vec<f64> = (0..batches)
        .map(|_| {
            let hits = (0..per)
                .filter(|_| cache.access(0, z.sample(&mut rng), 1) == Access::Hit)
                .count();
            hits as f64 / per as f64
        })
        .collect();
    let ci = ci95(&ratios);
    (ci.mean, ci.half_width)
}

fn check(eviction: Eviction, theory: impl Fn(&Row) -> f64) {
    println!("| {eviction} | alpha | N | C | theory | simulated | 95 % CI +- | diff |");
    for r in table()
        .iter()
        .filter(|r| r.n == 1000 || (r.n == 10_000 && r.c >= 1000))
    {
        let want = theory(r);
        let (got, hw) = simulate(eviction, r.n, r.alpha, r.c, 1_000_000);
        println!(
            "| | {} | {} | {} | {want:.4} | {got:.4} | {hw:.4} | {:+.4} |",
            r.alpha,
            r.n,
            r.c,
            got - want
        );
        assert!(hw < 0.003, "CI too wide: {hw}");
        assert!(
            (got - want).abs() < 0.01,
            "{eviction} alpha {} N {} C {}: {got} vs {want}",
            r.alpha,
            r.n,
            r.c
        );
    }
}

#[test]
fn lru_matches_che_within_0_01() {
    check(Eviction::Lru, |r| r.hit_lru);
}

#[test]
fn fifo_matches_its_characteristic_time_approximation_within_0_01() {
    check(Eviction::Fifo, |r| r.hit_fifo);
}

#[test]
fn ttl_only_matches_lambda_t_over_one_plus_lambda_t_per_key() {
    // 200 keys, Zipf 0.8 popularity, Poisson arrivals at 1000/s, TTL 20 ms,
    // capacity never reached.
    let (n, s, rate, ttl_s) = (200u64, 0.8, 1000.0, 0.02);
    let p = zipf_pmf(n, s);
    let z = Zipf::new(n, s).unwrap();
    let spec =
        CacheSpec::new(Eviction::TtlOnly, Capacity::Items(n)).with_ttl_ns((ttl_s * 1e9) as u64);
    let mut cache = Cache::new(&spec).unwrap();
    let mut rng = stream(42, 0, "validation/ttl-only");
    let (mut t, requests) = (0.0f64, 4_000_000u64);
    let mut hits = vec![0u64; n as usize];
    let mut seen = vec![0u64; n as usize];
    for _ in 0..requests {
        let u: f64 = rng.random();
        t += -(1.0 - u).ln() / rate;
        let k = z.sample(&mut rng);
        let hit = cache.access((t * 1e9) as u64, k, 1) == Access::Hit;
        seen[(k - 1) as usize] += 1;
        hits[(k - 1) as usize] += u64::from(hit);
    }
    println!("| key | lambda T | theory | simulated | 95 % CI +- |");
    for k in [1usize, 2, 5, 20, 100] {
        let lt = rate * p[k - 1] * ttl_s;
        let want = lt / (1.0 + lt);
        let got = hits[k - 1] as f64 / seen[k - 1] as f64;
        // Binomial standard error (successive requests of a key are nearly
        // independent at these rates); 4 standard errors plus the 1-ns time
        // rounding's effect, which is negligible.
        let se = (want * (1.0 - want) / seen[k - 1] as f64).sqrt();
        println!(
            "| {k} | {lt:.3} | {want:.4} | {got:.4} | {:.4} |",
            1.96 * se
        );
        assert!(
            (got - want).abs() < 4.0 * se + 1e-3,
            "key {k}: {got} vs {want} (se {se})"
        );
    }
    let want: f64 = p
        .iter()
        .map(|q| {
            let lt = rate * q * ttl_s;
            q * lt / (1.0 + lt)
        })
        .sum();
    let got = hits.iter().sum::<u64>() as f64 / requests as f64;
    println!("| all | | {want:.4} | {got:.4} | |");
    assert!((got - want).abs() < 0.005, "{got} vs {want}");
}
