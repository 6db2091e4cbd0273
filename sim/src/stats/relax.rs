//! How long a system remembers: its relaxation time, estimated from the
//! replications' batch means, and how many relaxation times one replication
//! spans.
//!
//! A latency quantile's interval (sectioning, [`sectioned_quantile_ci95`])
//! takes each replication's own quantile as one draw. A replication that
//! spans few relaxation times sees few independent excursions of its queues:
//! most replications see none and a few see several, their quantiles are
//! skewed, and a Student-t interval over them covers the true value less
//! often than it claims (the coverage study in
//! `experiments/validation/README.md`). This module measures that span, so
//! that a report can say when it is short.
//!
//! Method. Each replication's measured window is cut into `B` equal batches;
//! a batch's value is the mean latency of the requests that arrived in it.
//! Every batch's mean over the replications is subtracted first: the
//! replications share the scenario's rate function, surges and faults, so
//! what they share is trend, not memory. The lag-1 autocorrelation `r` of
//! what is left is pooled over every replication's adjacent pairs. For a
//! process whose autocorrelation decays as `exp(-t / tau)`, the means of two
//! adjacent batches of length `Δ = x tau` correlate as
//!
//! ```text
//! r(x) = (1 - e^-x)^2 / (2 (x - 1 + e^-x)),
//! ```
//!
//! which falls from 1 (batches much shorter than `tau`) to about `1 / (2x)`
//! (batches much longer). Inverting it gives `tau = Δ / x`, and a
//! replication spans `B x` relaxation times. Queues do not forget at a single
//! exponential rate, so `tau` is a scale, not a law: what it is good for is
//! calibrated against coverage in the validation README.
//!
//! Under independence `r` is about 0 with a standard error of
//! `1 / sqrt(pairs)` (0.04 for 10 replications of 64 batches), far below
//! the correlations that mark a short run (with 64 batches, fewer than 100
//! relaxation times is `r` above 0.40).
//!
//! [`sectioned_quantile_ci95`]: super::sectioned_quantile_ci95

/// What [`relaxation`] measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Relaxation {
    /// Pooled lag-1 autocorrelation of the detrended batch means.
    pub lag1: f64,
    /// Adjacent pairs of batches it was pooled from.
    pub pairs: usize,
    /// The batches' length (any unit; `time` is in it).
    pub width: f64,
    /// Batches per replication.
    pub batches: usize,
    /// The relaxation time, in the unit of the batch width (0 when the
    /// batches are uncorrelated or anti-correlated).
    pub time: f64,
    /// Relaxation times one replication spans (infinite when `time` is 0).
    pub spans: f64,
}

/// The relaxation time of replications' batch-mean series, each of the same
/// length, batches `width` long (any unit; `time` comes back in it). A
/// batch with no value is NaN and drops out with its pairs; a batch with
/// fewer than two replications' values drops out of all of them.
///
/// `None` with fewer than two replications, series of unequal length or
/// shorter than three batches, no pair left, or no variation left after the
/// trend (identical replications: nothing to measure).
pub fn relaxation(series: &[&[f64]], width: f64) -> Option<Relaxation> {
    let b = series.first()?.len();
    if series.len() < 2 || b < 3 || series.iter().any(|s| s.len() != b) || width <= 0.0 {
        return None;
    }
    // The trend: each batch's mean over the replications that have it.
    let trend: Vec<f64> = (0..b)
        .map(|j| {
            let (sum, n) = series
                .iter()
                .map(|s| s[j])
                .filter(|x| x.is_finite())
                .fold((0.0, 0usize), |(sum, n), x| (sum + x, n + 1));
            if n >= 2 { sum / n as f64 } else { f64::NAN }
        })
        .collect();
    let (mut sq, mut values, mut cross, mut pairs) = (0.0f64, 0usize, 0.0f64, 0usize);
    for s in series {
        let residual = |j: usize| s[j] - trend[j];
        for j in 0..b {
            let e = residual(j);
            if !e.is_finite() {
                continue;
            }
            sq += e * e;
            values += 1;
            if j + 1 < b {
                let next = residual(j + 1);
                if next.is_finite() {
                    cross += e * next;
                    pairs += 1;
                }
            }
        }
    }
    if pairs == 0 || sq <= 0.0 || !sq.is_finite() {
        return None;
    }
    let lag1 = (cross / pairs as f64) / (sq / values as f64);
    Some(Relaxation::from_lag1(lag1, pairs, width, b))
}

impl Relaxation {
    /// What a pooled lag-1 correlation `lag1` of adjacent means of
    /// `batches` batches `width` long says (see the module's doc).
    pub fn from_lag1(lag1: f64, pairs: usize, width: f64, batches: usize) -> Relaxation {
        let x = batch_lengths(lag1);
        Relaxation {
            lag1,
            pairs,
            width,
            batches,
            time: if x.is_infinite() { 0.0 } else { width / x },
            spans: batches as f64 * x,
        }
    }

    /// A replication's measured window: `batches x width`.
    pub fn window(&self) -> f64 {
        self.batches as f64 * self.width
    }
}

/// The relaxation time of a queue of `workers` servers offered `load`
/// (arrival rate times mean service time over the workers: its
/// utilization, or more when it turns requests away), mean service time
/// `mean_service` (any unit; the result comes back in it) and squared
/// coefficient of variation `scv`, from its heavy-traffic diffusion:
/// independent of any run's data, so it flags a station whose replications
/// happened to miss its long excursions, which [`relaxation`] cannot.
///
/// The number in system moves as a Brownian motion with drift
/// `c mu (rho - 1)` and variance `c mu (rho ca^2 + cs^2)` per unit time;
/// reflected at 0, the integrated autocorrelation time of that motion is
/// its variance over the squared drift,
///
/// ```text
/// tau = E[S] (rho ca^2 + cs^2) / (c (1 - rho)^2),
/// ```
///
/// with arrivals taken as Poisson (`ca^2 = 1`). For the M/M/1 queue this
/// is `E[S] (1 + rho) / (1 - rho)^2`, exactly the integrated
/// autocorrelation time of its queue length (asymptotic variance
/// `2 rho (1 + rho) / (1 - rho)^4` over twice the variance
/// `rho / (1 - rho)^2`, time in `E[S]`): the time [`relaxation`] estimates.
/// A queue bounded at `queue` places cannot wander further than that: at
/// zero drift the motion reflected at both ends of `[0, K]` forgets in
/// `K^2 / (6 sigma^2)` (its cosine modes' decay times weighted by their
/// shares of the variance), so the time is the smaller of the two; an
/// overloaded bounded queue, pinned near full by its drift, forgets by
/// the same formula as an underloaded one. At `load >= 1` with no bound
/// it is infinite: there is no steady state to span. NaN when an input is
/// not a number or there are no workers.
pub fn heavy_traffic_relaxation(
    load: f64,
    workers: u32,
    mean_service: f64,
    scv: f64,
    queue: Option<u64>,
) -> f64 {
    if load.is_nan() || mean_service.is_nan() || scv.is_nan() || workers == 0 {
        return f64::NAN;
    }
    let rho = load.max(0.0);
    let c = f64::from(workers);
    // Variance of the motion per unit time, in c / E[S].
    let spread = rho + scv.max(0.0);
    let drift = 1.0 - rho;
    let free = if drift != 0.0 && (rho < 1.0 || queue.is_some()) {
        mean_service * spread / (c * drift * drift)
    } else {
        f64::INFINITY
    };
    match queue {
        Some(k) if spread > 0.0 => {
            let k = k as f64;
            free.min(k * k * mean_service / (6.0 * c * spread))
        }
        _ => free,
    }
}

/// The correlation of adjacent batch means of length `x` relaxation times
/// (see the module's doc).
fn adjacent_batch_correlation(x: f64) -> f64 {
    if x < 1e-5 {
        // The closed form cancels: 1 - 2x/3 + 5x^2/18 + O(x^3).
        return 1.0 - 2.0 * x / 3.0 + 5.0 * x * x / 18.0;
    }
    let m = (-x).exp_m1();
    m * m / (2.0 * (x + m))
}

/// The batch length, in relaxation times, whose adjacent means correlate
/// as `r`: infinite for `r <= 0`, 0 for `r >= 1`.
fn batch_lengths(r: f64) -> f64 {
    if r.is_nan() || r <= 0.0 {
        return f64::INFINITY;
    }
    if r >= 1.0 {
        return 0.0;
    }
    // `adjacent_batch_correlation` decreases in x; bisect on log x.
    let (mut lo, mut hi) = (-30.0f64, 60.0f64);
    if adjacent_batch_correlation(hi.exp()) >= r {
        return hi.exp();
    }
    if adjacent_batch_correlation(lo.exp()) <= r {
        return lo.exp();
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if adjacent_batch_correlation(mid.exp()) > r {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (0.5 * (lo + hi)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heavy_traffic_time_of_mm1_is_its_queue_lengths_integrated_autocorrelation_time() {
        // M/M/1, E[S] = 1: asymptotic variance of the time-average queue
        // length 2 rho (1 + rho) / (1 - rho)^4 (Whitt 1989, "Planning
        // queueing simulations"), stationary variance rho / (1 - rho)^2;
        // their ratio over 2 is the integrated autocorrelation time.
        for rho in [0.5f64, 0.7, 0.8, 0.9, 0.95, 0.99] {
            let asymptotic = 2.0 * rho * (1.0 + rho) / (1.0 - rho).powi(4);
            let variance = rho / ((1.0 - rho) * (1.0 - rho));
            let want = asymptotic / (2.0 * variance);
            let got = heavy_traffic_relaxation(rho, 1, 1.0, 1.0, None);
            assert!(
                (got - want).abs() <= 1e-9 * want,
                "rho {rho}: {got} vs {want}"
            );
            // Time scales with E[S]; c servers share the load.
            let scaled = heavy_traffic_relaxation(rho, 4, 0.1, 1.0, None);
            assert!((scaled - want * 0.1 / 4.0).abs() <= 1e-9 * want);
        }
        // Deterministic service remembers less than exponential.
        assert!(
            heavy_traffic_relaxation(0.9, 1, 1.0, 0.0, None)
                < heavy_traffic_relaxation(0.9, 1, 1.0, 1.0, None)
        );
    }

    #[test]
    fn a_bounded_queue_caps_the_heavy_traffic_time() {
        // Saturated and unbounded: no steady state.
        assert_eq!(
            heavy_traffic_relaxation(1.0, 2, 1.0, 1.0, None),
            f64::INFINITY
        );
        // Saturated behind 30 places: K^2 E[S] / (6 c (rho + cs^2)).
        let capped = heavy_traffic_relaxation(1.0, 2, 1.0, 1.0, Some(30));
        assert!((capped - 900.0 / 24.0).abs() < 1e-12, "{capped}");
        // Far from saturation the bound does not bind.
        assert_eq!(
            heavy_traffic_relaxation(0.5, 2, 1.0, 1.0, Some(30)),
            heavy_traffic_relaxation(0.5, 2, 1.0, 1.0, None)
        );
        assert!(heavy_traffic_relaxation(f64::NAN, 2, 1.0, 1.0, None).is_nan());
        assert!(heavy_traffic_relaxation(0.5, 0, 1.0, 1.0, None).is_nan());
    }
    use rand::{RngExt, SeedableRng};
    use rand_pcg::Pcg64;

    /// `reps` replications of an Ornstein-Uhlenbeck process (autocorrelation
    /// `exp(-t/tau)`), sampled every `dt` for `b` batches of `per` samples,
    /// plus `trend(j)` shared by every replication; the batch means.
    fn ou_batches(
        reps: usize,
        b: usize,
        per: usize,
        dt: f64,
        tau: f64,
        trend: impl Fn(usize) -> f64,
        seed: u64,
    ) -> Vec<Vec<f64>> {
        let mut rng = Pcg64::seed_from_u64(seed);
        let a = (-dt / tau).exp();
        let s = (1.0 - a * a).sqrt();
        let mut normal = move || {
            // Box-Muller: enough for a test.
            let (u1, u2): (f64, f64) = (rng.random(), rng.random());
            (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        };
        (0..reps)
            .map(|_| {
                let mut v = normal();
                (0..b)
                    .map(|j| {
                        let mut sum = 0.0;
                        for _ in 0..per {
                            v = a * v + s * normal();
                            sum += v;
                        }
                        sum / per as f64 + trend(j)
                    })
                    .collect()
            })
            .collect()
    }

    fn of(series: &[Vec<f64>], width: f64) -> Option<Relaxation> {
        let refs: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
        relaxation(&refs, width)
    }

    #[test]
    fn the_batch_correlation_falls_from_one_to_one_over_two_x() {
        assert!((adjacent_batch_correlation(1e-9) - 1.0).abs() < 1e-9);
        // The series below 1e-5 meets the closed form above it.
        let (below, above) = (
            adjacent_batch_correlation(0.99999e-5),
            adjacent_batch_correlation(1.00001e-5),
        );
        assert!((below - above).abs() < 1e-9, "{below} vs {above}");
        let x = 200.0;
        assert!((adjacent_batch_correlation(x) * 2.0 * x - 1.0).abs() < 0.01);
        let mut last = 1.0;
        for k in -20..40 {
            let r = adjacent_batch_correlation(1.3f64.powi(k));
            assert!(r < last && r > 0.0, "not decreasing at 1.3^{k}");
            last = r;
        }
        for x in [0.01, 0.3, 1.0, 4.0, 50.0] {
            let back = batch_lengths(adjacent_batch_correlation(x));
            assert!((back / x - 1.0).abs() < 1e-9, "{x} -> {back}");
        }
        assert_eq!(batch_lengths(0.0), f64::INFINITY);
        assert_eq!(batch_lengths(-0.2), f64::INFINITY);
        assert_eq!(batch_lengths(1.0), 0.0);
    }

    #[test]
    fn a_known_relaxation_time_is_recovered() {
        // tau = 40 s; batches of 10 s (x = 0.25) and of 100 s (x = 2.5).
        for (width, per) in [(10.0, 100), (100.0, 1000)] {
            let series = ou_batches(10, 64, per, width / per as f64, 40.0, |_| 0.0, 7);
            let r = of(&series, width).expect("measurable");
            assert!(
                (r.time / 40.0 - 1.0).abs() < 0.25,
                "batches of {width} s: tau {} (lag1 {})",
                r.time,
                r.lag1
            );
            assert!((r.spans - 64.0 * width / r.time).abs() < 1e-9);
            assert_eq!(r.pairs, 10 * 63);
        }
    }

    #[test]
    fn a_shared_trend_is_not_memory() {
        // Independent batches (tau far below the batch) on a large shared
        // wave, as a diurnal rate gives: without the detrending the wave
        // alone would read as a correlation near 1.
        let wave = |j: usize| 50.0 * (j as f64 / 64.0 * std::f64::consts::TAU).sin();
        let series = ou_batches(10, 64, 50, 1.0, 0.5, wave, 11);
        let r = of(&series, 50.0).expect("measurable");
        assert!(r.lag1.abs() < 0.15, "lag1 {}", r.lag1);
        assert!(r.spans > 500.0, "spans {}", r.spans);
    }

    #[test]
    fn gaps_drop_out_and_degenerate_input_measures_nothing() {
        let mut series = ou_batches(4, 16, 20, 1.0, 5.0, |_| 0.0, 3);
        series[0][3] = f64::NAN;
        series[2][8] = f64::NAN;
        let r = of(&series, 20.0).expect("measurable");
        assert_eq!(r.pairs, 4 * 15 - 4);
        // One replication, unequal lengths, too short, no variation.
        assert_eq!(of(&series[..1], 20.0), None);
        assert_eq!(of(&[vec![1.0; 16], vec![1.0; 15]], 1.0), None);
        assert_eq!(of(&[vec![1.0, 2.0], vec![2.0, 1.0]], 1.0), None);
        assert_eq!(of(&[vec![3.0; 16], vec![3.0; 16]], 1.0), None);
        // A batch only one replication has drops out for all.
        let lone = vec![vec![1.0, 2.0, f64::NAN, 1.5], vec![2.0, 1.0, 7.0, f64::NAN]];
        assert_eq!(of(&lone, 1.0).expect("measurable").pairs, 2);
    }
}
