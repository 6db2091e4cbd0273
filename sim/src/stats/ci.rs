//! Confidence intervals for the mean of independent replications
//! (Student t).

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// A two-sided confidence interval for a mean: `mean ± half_width`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfidenceInterval {
    /// The sample mean (NaN when `n` is 0).
    pub mean: f64,
    /// Half the width of the interval (NaN when `n < 2`).
    pub half_width: f64,
    /// The number of samples.
    pub n: usize,
}

impl ConfidenceInterval {
    /// `mean - half_width`.
    pub fn lower(&self) -> f64 {
        self.mean - self.half_width
    }

    /// `mean + half_width`.
    pub fn upper(&self) -> f64 {
        self.mean + self.half_width
    }

    /// Whether `x` lies in the closed interval (false when it is undefined).
    pub fn contains(&self, x: f64) -> bool {
        self.lower() <= x && x <= self.upper()
    }

    /// `half_width / |mean|`, the precision usually asked of a simulation
    /// estimate (e.g. "within 5 %"); NaN when undefined, infinite when the
    /// mean is 0 and the half-width is not.
    pub fn relative_half_width(&self) -> f64 {
        self.half_width / self.mean.abs()
    }
}

/// The 95 % confidence interval for the mean of independent, identically
/// distributed samples (e.g. one value per replication):
/// `mean ± t(0.975, n - 1) × s / √n` with `s` the sample standard deviation.
/// `n = 0` gives NaN for both fields; `n = 1` gives a NaN half-width.
pub fn ci95(samples: &[f64]) -> ConfidenceInterval {
    confidence_interval(samples, 0.95)
}

/// The 95 % interval for the mean of a latency quantile read from one
/// [`LatencyHistogram`](super::LatencyHistogram) per replication: [`ci95`],
/// but never narrower than the histogram's resolution.
///
/// Each replication's quantile is the midpoint of a bucket, within
/// `x / 256` of the exact order statistic `x`
/// ([`MAX_RELATIVE_ERROR`](super::LatencyHistogram::MAX_RELATIVE_ERROR)).
/// When the replications agree closely they often land in the same bucket
/// and Student t alone would report a half-width of 0, claiming a precision
/// the histogram does not have; the half-width is therefore at least
/// `|mean| × MAX_RELATIVE_ERROR`. An undefined (NaN) half-width stays NaN.
pub fn quantile_ci95(samples: &[f64]) -> ConfidenceInterval {
    let mut ci = ci95(samples);
    let resolution = ci.mean.abs() * super::LatencyHistogram::MAX_RELATIVE_ERROR;
    if ci.half_width < resolution {
        ci.half_width = resolution;
    }
    ci
}

/// The 95 % interval for a latency quantile by **sectioning** (Nakayama
/// 2014, "Confidence intervals for quantiles using sectioning when applying
/// variance-reduction techniques", ACM TOMACS 24(4)): centred on `pooled`,
/// the quantile of every replication's observations together (their merged
/// histogram), with the replications' own quantiles `sections` giving the
/// width, `t(0.975, n - 1) × S / √n` with
/// `S² = Σ (x_i - pooled)² / (n - 1)`.
///
/// A quantile read from a short run is biased (low, for a tail quantile of
/// a queue that relaxes slowly): its expectation is not the quantile, and
/// the mean of `n` such values keeps the whole bias, which the Student-t
/// interval around it does not see (M/M/1 at rho 0.9, ten 10-minute
/// replications: p99 low by 14 %, and the interval covered the true p99 in
/// 58 % of experiments). The pooled quantile's bias is that of a run `n`
/// times as long. Measuring the spread about the centre rather than about
/// the sections' mean keeps the interval valid with the bias that remains.
///
/// Never narrower than the histogram's resolution, `|pooled| / 256`, as
/// [`quantile_ci95`]. `n < 2` gives a NaN half-width; a NaN `pooled` (no
/// observations) a NaN interval.
pub fn sectioned_quantile_ci95(pooled: f64, sections: &[f64]) -> ConfidenceInterval {
    let n = sections.len();
    if n < 2 || pooled.is_nan() {
        return ConfidenceInterval {
            mean: if n == 0 { f64::NAN } else { pooled },
            half_width: f64::NAN,
            n,
        };
    }
    let ss: f64 = sections.iter().map(|x| (x - pooled) * (x - pooled)).sum();
    let s = (ss / (n - 1) as f64).sqrt();
    let t = student_t_quantile(0.975, (n - 1) as f64);
    let resolution = pooled.abs() * super::LatencyHistogram::MAX_RELATIVE_ERROR;
    ConfidenceInterval {
        mean: pooled,
        half_width: (t * s / (n as f64).sqrt()).max(resolution),
        n,
    }
}

/// The two-sided confidence interval at `level` (in `(0, 1)`, e.g. 0.95) for
/// the mean, as [`ci95`]; a `level` outside `(0, 1)` gives a NaN half-width.
pub fn confidence_interval(samples: &[f64], level: f64) -> ConfidenceInterval {
    let n = samples.len();
    if n == 0 {
        return ConfidenceInterval {
            mean: f64::NAN,
            half_width: f64::NAN,
            n,
        };
    }
    let mean = mean_of(samples);
    if n < 2 || !(level > 0.0 && level < 1.0) {
        return ConfidenceInterval {
            mean,
            half_width: f64::NAN,
            n,
        };
    }
    let ss: f64 = samples.iter().map(|x| (x - mean) * (x - mean)).sum();
    let std_dev = (ss / (n - 1) as f64).sqrt();
    let t = student_t_quantile(0.5 + level / 2.0, (n - 1) as f64);
    ConfidenceInterval {
        mean,
        half_width: t * std_dev / (n as f64).sqrt(),
        n,
    }
}

/// The mean of a non-empty slice, as its first value plus the mean
/// deviation from it (a shifted sum, then one more pass for the squares in
/// [`confidence_interval`]). Identical values give that value exactly and
/// so a half-width of exactly 0: a plain sum rounds (five replications
/// costing 420.4800000000001 each summed to a mean of 420.48000000000013
/// and a "± 0.00000000000008" interval), and the shift also keeps the
/// deviations small where values share a large common part. A non-finite
/// first value falls back to the plain sum (`inf - inf` is NaN).
fn mean_of(samples: &[f64]) -> f64 {
    let n = samples.len() as f64;
    match samples.first() {
        Some(&shift) if shift.is_finite() => {
            shift + samples.iter().map(|x| x - shift).sum::<f64>() / n
        }
        _ => samples.iter().sum::<f64>() / n,
    }
}

/// The `p`-quantile of Student's t distribution with `dof` degrees of
/// freedom (e.g. `student_t_quantile(0.975, 9) = 2.262157`). `dof = ∞`
/// gives the standard normal quantile. NaN when `p` is outside `[0, 1]` or
/// `dof` is not positive; `±∞` at `p = 0` and `p = 1`.
pub fn student_t_quantile(p: f64, dof: f64) -> f64 {
    // statrs asserts p ∈ [0, 1], so the range is checked here first.
    if !(0.0..=1.0).contains(&p) || dof.is_nan() || dof <= 0.0 {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if dof.is_infinite() {
        return match Normal::new(0.0, 1.0) {
            Ok(normal) => normal.inverse_cdf(p),
            Err(_) => f64::NAN,
        };
    }
    match StudentsT::new(0.0, 1.0, dof) {
        Ok(t) => t.inverse_cdf(p),
        Err(_) => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    use rand_pcg::Pcg64;

    use super::{
        ci95, confidence_interval, quantile_ci95, sectioned_quantile_ci95, student_t_quantile,
    };

    #[test]
    fn sectioning_centres_on_the_pooled_quantile_and_measures_spread_about_it() {
        // t(0.975, 3) = 3.182446; deviations from 10: -2, 0, 1, 3 -> S^2 = 14/3.
        let ci = sectioned_quantile_ci95(10.0, &[8.0, 10.0, 11.0, 13.0]);
        assert_eq!(ci.mean, 10.0);
        assert_eq!(ci.n, 4);
        assert_abs_diff_eq!(
            ci.half_width,
            3.182_446 * (14.0_f64 / 3.0).sqrt() / 2.0,
            epsilon = 1e-5
        );
        // Sections that agree with each other but not with the pooled value
        // (a short run's bias) give a width of that disagreement, where
        // Student t around their own mean would give the resolution floor.
        let biased = sectioned_quantile_ci95(10.0, &[9.0, 9.0, 9.0]);
        assert_eq!(biased.mean, 10.0);
        // Deviations -1, -1, -1: S^2 = 3/2; t(0.975, 2) = 4.302653.
        assert_abs_diff_eq!(
            biased.half_width,
            4.302_653 * 1.5f64.sqrt() / 3f64.sqrt(),
            epsilon = 1e-5
        );
        assert_eq!(quantile_ci95(&[9.0, 9.0, 9.0]).half_width, 9.0 / 256.0);
        // Agreement everywhere: the histogram's resolution, not 0.
        let same = sectioned_quantile_ci95(150.0, &[150.0; 5]);
        assert_eq!((same.mean, same.half_width), (150.0, 150.0 / 256.0));
        // Undefined cases.
        assert!(sectioned_quantile_ci95(1.0, &[1.0]).half_width.is_nan());
        assert_eq!(sectioned_quantile_ci95(1.0, &[1.0]).mean, 1.0);
        assert!(sectioned_quantile_ci95(1.0, &[]).mean.is_nan());
        assert!(
            sectioned_quantile_ci95(f64::NAN, &[1.0, 2.0])
                .half_width
                .is_nan()
        );
    }

    #[test]
    fn t_quantiles_match_published_tables() {
        // Two-sided 95 % critical values (p = 0.975).
        for (dof, t) in [
            (1.0, 12.706_205),
            (2.0, 4.302_653),
            (4.0, 2.776_445),
            (9.0, 2.262_157),
            (19.0, 2.093_024),
            (29.0, 2.045_230),
            (100.0, 1.983_972),
        ] {
            assert_abs_diff_eq!(student_t_quantile(0.975, dof), t, epsilon = 1e-5);
        }
        assert_abs_diff_eq!(student_t_quantile(0.995, 9.0), 3.249_836, epsilon = 1e-5);
        assert_abs_diff_eq!(student_t_quantile(0.025, 9.0), -2.262_157, epsilon = 1e-5);
        assert_abs_diff_eq!(student_t_quantile(0.5, 3.0), 0.0, epsilon = 1e-12);
        assert_abs_diff_eq!(
            student_t_quantile(0.975, f64::INFINITY),
            1.959_964,
            epsilon = 1e-6
        );
    }

    #[test]
    fn t_quantile_rejects_invalid_arguments() {
        assert!(student_t_quantile(1.5, 9.0).is_nan());
        assert!(student_t_quantile(-0.1, 9.0).is_nan());
        assert!(student_t_quantile(f64::NAN, 9.0).is_nan());
        assert!(student_t_quantile(0.975, 0.0).is_nan());
        assert!(student_t_quantile(0.975, f64::NAN).is_nan());
        assert_eq!(student_t_quantile(1.0, 5.0), f64::INFINITY);
        assert_eq!(student_t_quantile(0.0, 5.0), f64::NEG_INFINITY);
    }

    #[test]
    fn ci95_matches_a_hand_computation() {
        // Mean 5, sample sd sqrt(32/7), n = 8: t(0.975, 7) = 2.364624.
        let ci = ci95(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(ci.n, 8);
        assert_abs_diff_eq!(ci.mean, 5.0, epsilon = 1e-12);
        let hw = 2.364_624 * (32.0_f64 / 7.0).sqrt() / 8.0_f64.sqrt();
        assert_abs_diff_eq!(ci.half_width, hw, epsilon = 1e-5);
        assert_abs_diff_eq!(ci.lower(), 5.0 - hw, epsilon = 1e-5);
        assert_abs_diff_eq!(ci.upper(), 5.0 + hw, epsilon = 1e-5);
        assert!(ci.contains(5.0) && !ci.contains(7.0));
        assert_abs_diff_eq!(ci.relative_half_width(), hw / 5.0, epsilon = 1e-6);
    }

    #[test]
    fn too_few_samples_give_nan() {
        let empty = ci95(&[]);
        assert!(empty.mean.is_nan() && empty.half_width.is_nan());
        assert_eq!(empty.n, 0);
        let one = ci95(&[3.5]);
        assert_eq!(one.mean, 3.5);
        assert!(one.half_width.is_nan());
        assert!(!one.contains(3.5));
        assert!(confidence_interval(&[1.0, 2.0], 1.0).half_width.is_nan());
        // Identical samples: a zero-width interval.
        assert_eq!(ci95(&[2.0, 2.0, 2.0]).half_width, 0.0);
    }

    #[test]
    fn identical_samples_give_their_value_and_a_zero_width_exactly() {
        // A fixed fleet's monthly cost is the same in every replication;
        // a plain sum over five of these rounds to 420.48000000000013.
        for x in [420.480_000_000_000_1, 0.1, 1.0 / 3.0, 1e300, -7.25e-9] {
            for n in [2, 3, 5, 7, 10, 31] {
                let ci = ci95(&vec![x; n]);
                assert_eq!(ci.mean, x, "{x} x {n}");
                assert_eq!(ci.half_width, 0.0, "{x} x {n}");
            }
        }
        // Non-finite values keep the plain sum's answers.
        assert_eq!(ci95(&[f64::INFINITY, 1.0]).mean, f64::INFINITY);
        assert_eq!(ci95(&[1.0, f64::INFINITY]).mean, f64::INFINITY);
        assert!(ci95(&[f64::NAN, 1.0]).mean.is_nan());
        // And the shift changes nothing else: a large common part.
        let ci = ci95(&[1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0]);
        assert_eq!(ci.mean, 1e9 + 2.0);
        assert_abs_diff_eq!(ci.half_width, 4.302_653 / 3.0_f64.sqrt(), epsilon = 1e-5);
    }

    #[test]
    fn quantile_intervals_are_never_narrower_than_the_histogram() {
        // Replications in one bucket: Student t says 0, the histogram's
        // resolution says 1/256 of the value.
        let same = quantile_ci95(&[150.0, 150.0, 150.0]);
        assert_eq!(same.mean, 150.0);
        assert_abs_diff_eq!(same.half_width, 150.0 / 256.0, epsilon = 1e-12);
        // Spread wider than the resolution: exactly Student t.
        let wide = [140.0, 150.0, 160.0];
        assert_eq!(quantile_ci95(&wide), ci95(&wide));
        // Negative means (differences) use |mean|; undefined stays undefined.
        assert_abs_diff_eq!(
            quantile_ci95(&[-2.56, -2.56]).half_width,
            0.01,
            epsilon = 1e-12
        );
        assert!(quantile_ci95(&[5.0]).half_width.is_nan());
        assert!(quantile_ci95(&[]).mean.is_nan());
    }

    #[test]
    fn ci95_covers_the_true_mean_about_95_percent_of_the_time() {
        const SETS: usize = 2_000;
        let (mu, sigma) = (10.0, 3.0);
        let normal = Normal::new(mu, sigma).expect("valid parameters");
        let mut rng = Pcg64::seed_from_u64(0xC1_95);
        let mut covered = 0;
        let mut samples = [0.0; 10];
        for _ in 0..SETS {
            for x in &mut samples {
                *x = normal.sample(&mut rng);
            }
            if ci95(&samples).contains(mu) {
                covered += 1;
            }
        }
        let coverage = covered as f64 / SETS as f64;
        // Binomial standard error of a 95 % proportion over 2000 sets is
        // 0.0049; allow four of them (false failure odds ~ 6e-5).
        let se = (0.95 * 0.05 / SETS as f64).sqrt();
        assert!((coverage - 0.95).abs() <= 4.0 * se, "coverage {coverage}");
        // A 50 % interval covers about half the time: the level is used.
        let mut rng = Pcg64::seed_from_u64(0xC1_50);
        let mut covered_50 = 0;
        for _ in 0..SETS {
            for x in &mut samples {
                *x = normal.sample(&mut rng);
            }
            if confidence_interval(&samples, 0.5).contains(mu) {
                covered_50 += 1;
            }
        }
        let coverage_50 = covered_50 as f64 / SETS as f64;
        let se_50 = (0.5 * 0.5 / SETS as f64).sqrt();
        assert!(
            (coverage_50 - 0.5).abs() <= 4.0 * se_50,
            "coverage {coverage_50}"
        );
    }
}
