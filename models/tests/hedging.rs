//! Hedged requests through the engine against their closed form
//! (`experiments/validation/hedge.toml`): on an idle callee a request's
//! latency is the minimum of the original try and the hedge sent `d` later,
//! `T = min(X1, d + X2)` with `X1, X2` independent. Also: a replication
//! with hedged edges is a pure function of (plan, replication).
//!
//! Derivation, for exponential work with mean `m`: `P(T > t) = e^{-t/m}`
//! for `t < d` and `e^{-(2t - d)/m}` for `t >= d`. Integrating the survival
//! function, `E[T] = m (1 - e^{-d/m}/2)` and
//! `E[T^2] = 2m^2 - e^{-d/m} (1.5 m^2 + m d)`; the `p`-quantile above `d` is
//! `(d - m ln(1 - p)) / 2`, where the density is `(2/m)(1 - p)`. A hedge is
//! sent when the original is still running at `d`: `P = e^{-d/m}`.
//!
//! Tolerances: 4.5 standard errors (mean: `sqrt(Var T / n)`; quantile:
//! `sqrt(p(1-p)/n) / density`; hedge fraction: binomial), so each check fails
//! by sampling error alone with probability below 1e-5; the quantile also
//! allows the latency histogram's 1 % relative error.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use headroom_models::engine::run_replication;
use headroom_models::load::load;
use headroom_models::report::RunMetrics;

const M_MS: f64 = 10.0;
const Z: f64 = 4.5;

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments/validation/hedge.toml")
}

fn run(sets: &[&str]) -> RunMetrics {
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    let loaded = load(&scenario(), &sets).expect("valid scenario");
    run_replication(&loaded.plan, 0, &AtomicU64::new(0))
        .expect("books balance")
        .metrics
}

struct Theory {
    mean_ms: f64,
    sd_ms: f64,
    p99_ms: f64,
    density_at_p99: f64,
    hedge_fraction: f64,
}

fn theory(d_ms: f64) -> Theory {
    let m = M_MS;
    let tail = (-d_ms / m).exp();
    let mean = m * (1.0 - tail / 2.0);
    let second = 2.0 * m * m - tail * (1.5 * m * m + m * d_ms);
    let p99 = (d_ms + m * 100f64.ln()) / 2.0;
    assert!(p99 >= d_ms, "the quantile is in the hedged branch");
    Theory {
        mean_ms: mean,
        sd_ms: (second - mean * mean).sqrt(),
        p99_ms: p99,
        density_at_p99: 2.0 / m * 0.01,
        hedge_fraction: tail,
    }
}

/// Checks one delay; returns the simulated mean for the caller's use.
fn check(d_ms: f64, sets: &[&str]) -> f64 {
    let t = theory(d_ms);
    let m = run(sets);
    let n = m.requests as f64;
    assert_eq!(m.ok, m.requests, "an idle callee answers everything");
    let mean = m.latency.mean_ns() / 1e6;
    let mean_tol = Z * t.sd_ms / n.sqrt();
    let p99 = m.latency.quantile_ns(0.99) as f64 / 1e6;
    let p99_tol = Z * (0.99f64 * 0.01 / n).sqrt() / t.density_at_p99 + 0.01 * t.p99_ms;
    let fraction = m.hedges as f64 / n;
    let fraction_tol = Z * (t.hedge_fraction * (1.0 - t.hedge_fraction) / n).sqrt() + 1.0 / n;
    println!(
        "| d = {d_ms} ms | mean {:.3} ms ({mean:.3} ± {mean_tol:.3}) | p99 {:.2} ms ({p99:.2} ± {p99_tol:.2}) | hedges/request {:.4} ({fraction:.4} ± {fraction_tol:.4}) | n = {n} |",
        t.mean_ms, t.p99_ms, t.hedge_fraction
    );
    assert!(
        (mean - t.mean_ms).abs() <= mean_tol,
        "d = {d_ms} ms: mean {mean} ms, theory {} ± {mean_tol}",
        t.mean_ms
    );
    assert!(
        (p99 - t.p99_ms).abs() <= p99_tol,
        "d = {d_ms} ms: p99 {p99} ms, theory {} ± {p99_tol}",
        t.p99_ms
    );
    assert!(
        (fraction - t.hedge_fraction).abs() <= fraction_tol,
        "d = {d_ms} ms: {fraction} hedges per request, theory {} ± {fraction_tol}",
        t.hedge_fraction
    );
    mean
}

#[test]
fn a_fixed_delay_hedge_gives_the_min_of_two_tries() {
    check(5.0, &[]);
}

/// With `d = 0` both tries start together: the mean halves (the minimum
/// of two exponentials), and every request is hedged.
#[test]
fn a_zero_delay_hedge_halves_the_mean() {
    let mean = check(0.0, &["policy.mesh.hedge.delay=\"0ms\""]);
    // Without hedging (a delay no request reaches) the mean is m: the
    // hedged world is far outside that.
    let plain = run(&["policy.mesh.hedge.delay=\"1h\""]);
    let plain_mean = plain.latency.mean_ns() / 1e6;
    assert_eq!(plain.hedges, 0);
    assert!(
        (plain_mean - M_MS).abs() <= Z * M_MS / (plain.requests as f64).sqrt(),
        "unhedged mean {plain_mean} ms, theory {M_MS}"
    );
    assert!(mean < 0.55 * plain_mean, "{mean} vs {plain_mean}");
}

/// Same plan and replication, same metrics, with hedges (timers, cancels,
/// the percentile tracker) in play.
#[test]
fn a_hedged_replication_is_a_pure_function_of_its_inputs() {
    let sets = [
        "run.duration=\"5s\"",
        "policy.mesh.hedge={ percentile = 0.9, min_samples = 20, window = \"500ms\", max_hedged = 2 }",
    ];
    let a = run(&sets);
    let b = run(&sets);
    assert!(a.hedges > 0, "percentile hedges were sent");
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}
