//! Service-time and inter-arrival distributions, sampled in integer nanoseconds.
//!
//! These are the distributions of DESIGN §3 (`exponential`, `deterministic`,
//! `uniform`, `lognormal` by mean and cv or by p99, `pareto`, `empirical`),
//! parameterised the way a planner writes them (by mean and shape) and
//! converted once, at construction, into the parameters the samplers need.
//! Sampling goes through `rand`/`rand_distr` (ziggurat exponential and normal)
//! and rounds to the nearest nanosecond.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp1, StandardNormal};
use std::fmt;

use crate::Span;

/// The standard normal quantile at 0.99, used to fit a lognormal to a p99.
pub const Z_99: f64 = 2.326_347_874_040_841;

/// A distribution of durations, ready to sample.
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    /// Exponential with the given mean (ns).
    Exponential {
        /// Mean in nanoseconds.
        mean_ns: f64,
    },
    /// Always the same value.
    Deterministic {
        /// The value in nanoseconds.
        value_ns: u64,
    },
    /// Uniform over the integers `[min_ns, max_ns]`.
    Uniform {
        /// Smallest value, ns.
        min_ns: u64,
        /// Largest value, ns.
        max_ns: u64,
    },
    /// `exp(N(mu, sigma^2))` nanoseconds.
    Lognormal {
        /// Mean of the underlying normal (log-nanoseconds).
        mu: f64,
        /// Standard deviation of the underlying normal.
        sigma: f64,
    },
    /// Pareto (type I) with scale `scale_ns` and shape `shape` (> 1).
    Pareto {
        /// Scale (minimum value), ns.
        scale_ns: f64,
        /// Shape (tail index) alpha.
        shape: f64,
    },
    /// Resampling of observed values (the empirical distribution itself).
    Empirical {
        /// The observed values, ns, in the order given.
        values_ns: Vec<u64>,
    },
}

/// Parameters that cannot make a distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct DistError {
    /// The offending parameter's name (`"mean"`, `"cv"`, ...).
    pub param: &'static str,
    /// The rejected value, as text.
    pub value: String,
    /// What is accepted.
    pub expected: &'static str,
}

impl fmt::Display for DistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` = {}: expected {}",
            self.param, self.value, self.expected
        )
    }
}

impl std::error::Error for DistError {}

fn err(param: &'static str, value: impl fmt::Display, expected: &'static str) -> DistError {
    DistError {
        param,
        value: value.to_string(),
        expected,
    }
}

impl Dist {
    /// Exponential with mean `mean` (> 0).
    pub fn exponential(mean: Span) -> Result<Dist, DistError> {
        if mean.is_zero() {
            return Err(err("mean", mean, "a positive duration"));
        }
        Ok(Dist::Exponential {
            mean_ns: mean.as_nanos() as f64,
        })
    }

    /// Always `value`.
    pub fn deterministic(value: Span) -> Dist {
        Dist::Deterministic {
            value_ns: value.as_nanos(),
        }
    }

    /// Uniform over `[min, max]`.
    pub fn uniform(min: Span, max: Span) -> Result<Dist, DistError> {
        if max < min {
            return Err(err("max", max, "a duration not below `min`"));
        }
        Ok(Dist::Uniform {
            min_ns: min.as_nanos(),
            max_ns: max.as_nanos(),
        })
    }

    /// Lognormal with mean `mean` (> 0) and coefficient of variation `cv`
    /// (> 0): `sigma^2 = ln(1 + cv^2)`, `mu = ln(mean) - sigma^2 / 2`.
    pub fn lognormal_cv(mean: Span, cv: f64) -> Result<Dist, DistError> {
        if mean.is_zero() {
            return Err(err("mean", mean, "a positive duration"));
        }
        if !(cv.is_finite() && cv > 0.0) {
            return Err(err("cv", cv, "a finite number > 0"));
        }
        let sigma2 = (1.0 + cv * cv).ln();
        Ok(Dist::Lognormal {
            mu: (mean.as_nanos() as f64).ln() - sigma2 / 2.0,
            sigma: sigma2.sqrt(),
        })
    }

    /// Lognormal with mean `mean` and 99th percentile `p99`. Solves
    /// `ln p99 = mu + z99 sigma` with `mu = ln mean - sigma^2 / 2` for the
    /// smaller root `sigma = z99 - sqrt(z99^2 - 2 ln(p99 / mean))`, which
    /// exists when `mean < p99 <= mean * e^(z99^2 / 2)` (about 14.97 x mean).
    pub fn lognormal_p99(mean: Span, p99: Span) -> Result<Dist, DistError> {
        if mean.is_zero() {
            return Err(err("mean", mean, "a positive duration"));
        }
        let m = mean.as_nanos() as f64;
        let q = p99.as_nanos() as f64;
        let ratio_ln = (q / m).ln();
        let disc = Z_99 * Z_99 - 2.0 * ratio_ln;
        if q <= m || disc < 0.0 {
            return Err(err(
                "p99",
                p99,
                "a duration above `mean` and at most 14.97 x `mean` (a lognormal's p99/mean ratio is at most e^(z99^2/2))",
            ));
        }
        let sigma = Z_99 - disc.sqrt();
        Ok(Dist::Lognormal {
            mu: m.ln() - sigma * sigma / 2.0,
            sigma,
        })
    }

    /// Pareto with mean `mean` (> 0) and shape `shape` (> 1, so the mean
    /// exists): scale = `mean (shape - 1) / shape`.
    pub fn pareto(mean: Span, shape: f64) -> Result<Dist, DistError> {
        if mean.is_zero() {
            return Err(err("mean", mean, "a positive duration"));
        }
        if !(shape.is_finite() && shape > 1.0) {
            return Err(err(
                "shape",
                shape,
                "a finite number > 1 (the mean is infinite otherwise)",
            ));
        }
        Ok(Dist::Pareto {
            scale_ns: mean.as_nanos() as f64 * (shape - 1.0) / shape,
            shape,
        })
    }

    /// Resamples `values` (at least one).
    pub fn empirical(values: Vec<Span>) -> Result<Dist, DistError> {
        if values.is_empty() {
            return Err(err("path", "an empty file", "at least one value"));
        }
        Ok(Dist::Empirical {
            values_ns: values.into_iter().map(Span::as_nanos).collect(),
        })
    }

    /// The distribution's mean in nanoseconds (exact, from the parameters).
    pub fn mean_ns(&self) -> f64 {
        match self {
            Dist::Exponential { mean_ns } => *mean_ns,
            Dist::Deterministic { value_ns } => *value_ns as f64,
            Dist::Uniform { min_ns, max_ns } => (*min_ns as f64 + *max_ns as f64) / 2.0,
            Dist::Lognormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            Dist::Pareto { scale_ns, shape } => scale_ns * shape / (shape - 1.0),
            Dist::Empirical { values_ns } => {
                values_ns.iter().map(|&v| v as f64).sum::<f64>() / values_ns.len() as f64
            }
        }
    }

    /// The squared coefficient of variation `Var / mean^2` (infinite for a
    /// Pareto with shape <= 2). Pollaczek-Khinchine needs it.
    pub fn scv(&self) -> f64 {
        match self {
            Dist::Exponential { .. } => 1.0,
            Dist::Deterministic { .. } => 0.0,
            Dist::Uniform { min_ns, max_ns } => {
                // Discrete uniform over n = max - min + 1 integers.
                let n = (*max_ns - *min_ns) as f64 + 1.0;
                let var = (n * n - 1.0) / 12.0;
                let m = self.mean_ns();
                if m == 0.0 { 0.0 } else { var / (m * m) }
            }
            Dist::Lognormal { sigma, .. } => (sigma * sigma).exp_m1(),
            Dist::Pareto { shape, .. } => {
                if *shape <= 2.0 {
                    f64::INFINITY
                } else {
                    1.0 / (shape * (shape - 2.0))
                }
            }
            Dist::Empirical { values_ns } => {
                let m = self.mean_ns();
                let n = values_ns.len() as f64;
                let var = values_ns
                    .iter()
                    .map(|&v| (v as f64 - m).powi(2))
                    .sum::<f64>()
                    / n;
                if m == 0.0 { 0.0 } else { var / (m * m) }
            }
        }
    }

    /// Draws one value, rounded to the nearest nanosecond.
    ///
    /// The exponential, the most common work and interarrival law, is drawn
    /// inline at the call site; the others in [`Dist::sample_other`].
    #[inline(always)]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Span {
        match self {
            Dist::Exponential { mean_ns } => {
                let e: f64 = Exp1.sample(rng);
                Span::from_nanos_f64(e * mean_ns)
            }
            _ => self.sample_other(rng),
        }
    }

    /// [`Dist::sample`] for every law but the exponential.
    #[inline(never)]
    fn sample_other<R: Rng + ?Sized>(&self, rng: &mut R) -> Span {
        match self {
            // Drawn inline by `sample`, never here.
            Dist::Exponential { .. } => self.sample(rng),
            Dist::Deterministic { value_ns } => Span::from_nanos(*value_ns),
            Dist::Uniform { min_ns, max_ns } => {
                Span::from_nanos(rng.random_range(*min_ns..=*max_ns))
            }
            Dist::Lognormal { mu, sigma } => {
                let z: f64 = StandardNormal.sample(rng);
                Span::from_nanos_f64((mu + sigma * z).exp())
            }
            Dist::Pareto { scale_ns, shape } => {
                // Inverse CDF with U in (0, 1]: never divides by zero.
                let u: f64 = 1.0 - rng.random::<f64>();
                Span::from_nanos_f64(scale_ns * u.powf(-1.0 / shape))
            }
            Dist::Empirical { values_ns } => {
                let i = rng.random_range(0..values_ns.len());
                Span::from_nanos(values_ns[i])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn sample_mean_scv(d: &Dist, n: usize) -> (f64, f64) {
        let mut rng = stream(1, 0, "dist-test");
        let xs: Vec<f64> = (0..n)
            .map(|_| d.sample(&mut rng).as_nanos() as f64)
            .collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        (mean, var / (mean * mean))
    }

    /// Sample mean within 5 standard errors (derived from the distribution's
    /// own variance) of the analytic mean, for every finite-variance family.
    #[test]
    fn sample_means_match_parameters() {
        let ms = Span::from_millis(100);
        let cases = vec![
            Dist::exponential(ms).unwrap(),
            Dist::deterministic(ms),
            Dist::uniform(Span::from_millis(50), Span::from_millis(150)).unwrap(),
            Dist::lognormal_cv(ms, 1.5).unwrap(),
            Dist::lognormal_p99(ms, Span::from_millis(400)).unwrap(),
            Dist::pareto(ms, 3.5).unwrap(),
            Dist::empirical(vec![Span::from_millis(10), Span::from_millis(190)]).unwrap(),
        ];
        let n = 400_000;
        for d in cases {
            let (mean, scv) = sample_mean_scv(&d, n);
            let se = d.mean_ns() * d.scv().sqrt() / (n as f64).sqrt();
            assert!(
                (mean - d.mean_ns()).abs() <= 5.0 * se + 1.0,
                "{d:?}: sample mean {mean} vs {}",
                d.mean_ns()
            );
            if d.scv() > 0.0 && d.scv() < 4.0 {
                assert!(
                    (scv - d.scv()).abs() / d.scv() < 0.1,
                    "{d:?}: scv {scv} vs {}",
                    d.scv()
                );
            }
        }
    }

    #[test]
    fn lognormal_p99_fit_hits_the_quantile() {
        let d = Dist::lognormal_p99(Span::from_millis(100), Span::from_millis(400)).unwrap();
        let Dist::Lognormal { mu, sigma } = d else {
            unreachable!()
        };
        assert!(((mu + Z_99 * sigma).exp() - 400e6).abs() < 1.0);
        assert!((d.mean_ns() - 100e6).abs() < 1e-3);
    }

    #[test]
    fn lognormal_cv_has_that_cv() {
        let d = Dist::lognormal_cv(Span::from_millis(20), 2.0).unwrap();
        assert!((d.scv() - 4.0).abs() < 1e-12);
        assert!((d.mean_ns() - 20e6).abs() < 1e-3);
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert_eq!(Dist::exponential(Span::ZERO).unwrap_err().param, "mean");
        assert_eq!(
            Dist::lognormal_cv(Span::from_millis(1), -1.0)
                .unwrap_err()
                .param,
            "cv"
        );
        assert_eq!(
            Dist::lognormal_cv(Span::from_millis(1), f64::NAN)
                .unwrap_err()
                .param,
            "cv"
        );
        assert_eq!(
            Dist::lognormal_p99(Span::from_millis(10), Span::from_millis(5))
                .unwrap_err()
                .param,
            "p99"
        );
        assert_eq!(
            Dist::lognormal_p99(Span::from_millis(10), Span::from_millis(200))
                .unwrap_err()
                .param,
            "p99"
        );
        assert_eq!(
            Dist::pareto(Span::from_millis(10), 1.0).unwrap_err().param,
            "shape"
        );
        assert_eq!(
            Dist::uniform(Span::from_millis(2), Span::from_millis(1))
                .unwrap_err()
                .param,
            "max"
        );
        assert_eq!(Dist::empirical(vec![]).unwrap_err().param, "path");
    }

    #[test]
    fn deterministic_and_uniform_bounds() {
        let mut rng = stream(1, 0, "bounds");
        let d = Dist::uniform(Span::from_nanos(5), Span::from_nanos(7)).unwrap();
        let mut seen = [false; 3];
        for _ in 0..1000 {
            let v = d.sample(&mut rng).as_nanos();
            assert!((5..=7).contains(&v));
            seen[(v - 5) as usize] = true;
        }
        assert_eq!(seen, [true; 3]);
        assert_eq!(
            Dist::deterministic(Span::from_nanos(9)).sample(&mut rng),
            Span::from_nanos(9)
        );
    }
}
