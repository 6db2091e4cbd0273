//! The search's surrogate: Gaussian-process regression with a Matérn 5/2
//! kernel, one length scale per parameter (ARD), written out by hand.
//!
//! Why a GP: the search needs, for every untried point, a prediction *and*
//! how sure it is (to say "this point has a 3 % chance of being a cheaper
//! point that meets the SLO"), from a few dozen observations at most. A GP
//! gives both in closed form, is deterministic (no bootstrap draws), and at
//! this size costs microseconds: fitting is one Cholesky factorisation of a
//! k x k matrix (k = points tried), predicting is O(k) for the mean and
//! O(k^2) for the variance.
//!
//! Inputs are positions in `[0, 1]` per parameter (a value's rank along its
//! axis). Outputs are standardised (mean 0, variance 1) before fitting; each
//! observation carries its own noise variance (the squared standard error
//! of a mean over replications), so a point run with more replications pulls
//! harder. Length scales are chosen by maximising the log marginal
//! likelihood over a fixed grid ([`LENGTH_SCALES`]), one parameter at a
//! time (coordinate search, two sweeps): deterministic, and robust where a
//! gradient optimiser would need restarts.

/// Candidate length scales, in units of a parameter's whole range.
pub const LENGTH_SCALES: [f64; 6] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2];

/// Length scale used before there are enough observations to fit one.
pub const DEFAULT_LENGTH_SCALE: f64 = 0.4;

/// Added to the diagonal (in standardised units) for numerical stability.
const JITTER: f64 = 1e-8;

/// A fitted Gaussian process.
#[derive(Clone, Debug)]
pub struct Gp {
    /// The covariance's form.
    kind: Kernel,
    /// Training inputs.
    x: Vec<Vec<f64>>,
    /// Length scale per input dimension.
    length: Vec<f64>,
    /// Lower Cholesky factor of K + diag(noise), row-major k x k.
    chol: Vec<f64>,
    /// (K + diag(noise))^-1 (y - mean), standardised units.
    alpha: Vec<f64>,
    /// Mean of the raw outputs.
    offset: f64,
    /// Standard deviation of the raw outputs (1 if they are all equal).
    scale: f64,
    /// Log marginal likelihood of the standardised outputs.
    log_marginal: f64,
}

/// How the covariance combines the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Matérn 5/2 of the scaled distance over every parameter: any
    /// interaction (p99 depends on replicas x workers together).
    Product,
    /// The mean of one-parameter Matérn 5/2 kernels: the output is a sum of
    /// per-parameter effects, learnt from points that vary one parameter at
    /// a time. Right for log cost (price x count is a sum in logs), and it
    /// generalises across the grid from few points.
    Additive,
}

/// Matérn 5/2 correlation at scaled squared distance `r2`.
fn matern52(r2: f64) -> f64 {
    let s5r = (5.0 * r2).sqrt();
    (1.0 + s5r + 5.0 * r2 / 3.0) * (-s5r).exp()
}

/// The covariance of two inputs under `length` (unit variance).
fn kernel(kind: Kernel, a: &[f64], b: &[f64], length: &[f64]) -> f64 {
    let terms = a
        .iter()
        .zip(b)
        .zip(length)
        .map(|((x, y), l)| ((x - y) / l).powi(2));
    match kind {
        Kernel::Product => matern52(terms.sum()),
        Kernel::Additive => {
            let d = a.len().max(1) as f64;
            terms.map(matern52).sum::<f64>() / d
        }
    }
}

impl Gp {
    /// Fits outputs `y` with noise variances `noise` (raw units squared) at
    /// inputs `x` under `length`. `None` if there are no observations or the
    /// matrix cannot be factorised even with extra jitter.
    pub fn fit(
        kind: Kernel,
        x: &[Vec<f64>],
        y: &[f64],
        noise: &[f64],
        length: &[f64],
    ) -> Option<Gp> {
        let k = x.len();
        if k == 0 {
            return None;
        }
        let offset = y.iter().sum::<f64>() / k as f64;
        let var = y.iter().map(|v| (v - offset).powi(2)).sum::<f64>() / k as f64;
        let scale = if var > 1e-24 { var.sqrt() } else { 1.0 };
        let ys: Vec<f64> = y.iter().map(|v| (v - offset) / scale).collect();
        let mut jitter = JITTER;
        for _ in 0..6 {
            let mut m = vec![0.0; k * k];
            for i in 0..k {
                for j in 0..=i {
                    let c = kernel(kind, &x[i], &x[j], length);
                    m[i * k + j] = c;
                    m[j * k + i] = c;
                }
                let n = if noise[i].is_finite() {
                    noise[i] / (scale * scale)
                } else {
                    0.0
                };
                m[i * k + i] += n + jitter;
            }
            if let Some(chol) = cholesky(&m, k) {
                let alpha = solve_upper(&chol, k, &solve_lower(&chol, k, &ys));
                let fit: f64 = ys.iter().zip(&alpha).map(|(a, b)| a * b).sum();
                let log_det: f64 = (0..k).map(|i| chol[i * k + i].ln()).sum();
                let log_marginal =
                    -0.5 * fit - log_det - 0.5 * k as f64 * (2.0 * std::f64::consts::PI).ln();
                return Some(Gp {
                    kind,
                    x: x.to_vec(),
                    length: length.to_vec(),
                    chol,
                    alpha,
                    offset,
                    scale,
                    log_marginal,
                });
            }
            jitter *= 100.0;
        }
        None
    }

    /// Fits with length scales chosen by marginal likelihood: the best
    /// common scale from [`LENGTH_SCALES`], then each dimension in turn over
    /// the grid, twice. Dimensions with one value keep the common scale.
    pub fn fit_ml(kind: Kernel, x: &[Vec<f64>], y: &[f64], noise: &[f64]) -> Option<Gp> {
        let d = x.first().map_or(0, Vec::len);
        let better = |a: &Option<Gp>, b: &Option<Gp>| match (a, b) {
            (Some(a), Some(b)) => a.log_marginal > b.log_marginal,
            (Some(_), None) => true,
            _ => false,
        };
        let mut best: Option<Gp> = None;
        for &l in &LENGTH_SCALES {
            let g = Gp::fit(kind, x, y, noise, &vec![l; d]);
            if better(&g, &best) {
                best = g;
            }
        }
        let varies: Vec<bool> = (0..d).map(|j| x.iter().any(|p| p[j] != x[0][j])).collect();
        for _ in 0..2 {
            for j in (0..d).filter(|&j| varies[j]) {
                let current = best.as_ref().map(|g| g.length.clone())?;
                for &l in &LENGTH_SCALES {
                    if l == current[j] {
                        continue;
                    }
                    let mut length = current.clone();
                    length[j] = l;
                    let g = Gp::fit(kind, x, y, noise, &length);
                    if better(&g, &best) {
                        best = g;
                    }
                }
            }
        }
        best
    }

    /// The length scales in use.
    pub fn length(&self) -> &[f64] {
        &self.length
    }

    /// The predictive mean and standard deviation (raw units) of the latent
    /// function at `at` (noise-free: what the mean over many replications
    /// would be).
    pub fn predict(&self, at: &[f64]) -> (f64, f64) {
        let k = self.x.len();
        let ks: Vec<f64> = self
            .x
            .iter()
            .map(|xi| kernel(self.kind, xi, at, &self.length))
            .collect();
        let mean: f64 = ks.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        let v = solve_lower(&self.chol, k, &ks);
        let var = (1.0 - v.iter().map(|x| x * x).sum::<f64>()).max(0.0);
        (self.offset + self.scale * mean, self.scale * var.sqrt())
    }
}

/// Lower Cholesky factor of the symmetric k x k matrix `m`, or `None` if it
/// is not positive definite.
fn cholesky(m: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let s: f64 = (0..j).map(|p| l[i * k + p] * l[j * k + p]).sum();
            if i == j {
                let d = m[i * k + i] - s;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[i * k + i] = d.sqrt();
            } else {
                l[i * k + j] = (m[i * k + j] - s) / l[j * k + j];
            }
        }
    }
    Some(l)
}

/// Solves L z = b for lower-triangular L.
fn solve_lower(l: &[f64], k: usize, b: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; k];
    for i in 0..k {
        let s: f64 = (0..i).map(|p| l[i * k + p] * z[p]).sum();
        z[i] = (b[i] - s) / l[i * k + i];
    }
    z
}

/// Solves L^T z = b for lower-triangular L.
fn solve_upper(l: &[f64], k: usize, b: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; k];
    for i in (0..k).rev() {
        let s: f64 = (i + 1..k).map(|p| l[p * k + i] * z[p]).sum();
        z[i] = (b[i] - s) / l[i * k + i];
    }
    z
}

/// The standard normal CDF (erfc with Numerical Recipes' Chebyshev fit,
/// relative error below 1.2e-7: ample for ranking proposals).
pub fn normal_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// The standard normal density.
pub fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_observations_and_is_unsure_far_from_them() {
        // y = 3 x^2 on five points, nearly noise-free.
        let x: Vec<Vec<f64>> = (0..5).map(|i| vec![i as f64 / 4.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| 3.0 * p[0] * p[0]).collect();
        let noise = vec![1e-10; 5];
        let g = Gp::fit_ml(Kernel::Product, &x, &y, &noise).unwrap();
        for (p, v) in x.iter().zip(&y) {
            let (m, s) = g.predict(p);
            assert!((m - v).abs() < 1e-3, "at {p:?}: {m} vs {v}");
            assert!(s < 1e-2, "sd at data {s}");
        }
        let (m, _) = g.predict(&[0.375]);
        assert!((m - 3.0 * 0.375f64.powi(2)).abs() < 0.05, "between: {m}");
        let (_, near) = g.predict(&[0.6]);
        let (_, far) = g.predict(&[3.0]);
        assert!(far > 10.0 * near, "sd grows away from data: {near} {far}");
    }

    #[test]
    fn irrelevant_dimensions_get_long_length_scales() {
        // y depends on the first input only.
        let mut x = Vec::new();
        for i in 0..4 {
            for j in 0..4 {
                x.push(vec![i as f64 / 3.0, j as f64 / 3.0]);
            }
        }
        let y: Vec<f64> = x.iter().map(|p| (4.0 * p[0]).sin()).collect();
        let g = Gp::fit_ml(Kernel::Product, &x, &y, &vec![1e-6; x.len()]).unwrap();
        assert!(g.length()[1] > g.length()[0], "{:?}", g.length());
    }

    #[test]
    fn an_additive_kernel_predicts_unseen_combinations_of_seen_effects() {
        // log cost = a(x0) + b(x1) on a 5 x 5 grid, observed on a cross and
        // one corner only; the far combination (1, 1) follows.
        let f = |p: &[f64]| (1.0 + 4.0 * p[0]).ln() + 2.0 * p[1];
        let mut x = Vec::new();
        for i in 0..5 {
            x.push(vec![i as f64 / 4.0, 0.0]);
            x.push(vec![0.0, i as f64 / 4.0]);
        }
        x.push(vec![0.5, 0.5]);
        let y: Vec<f64> = x.iter().map(|p| f(p)).collect();
        let noise = vec![1e-8; x.len()];
        let at = [1.0, 1.0];
        let add = Gp::fit_ml(Kernel::Additive, &x, &y, &noise).unwrap();
        let prod = Gp::fit_ml(Kernel::Product, &x, &y, &noise).unwrap();
        let err = |g: &Gp| (g.predict(&at).0 - f(&at)).abs();
        assert!(err(&add) < 0.05, "additive off by {}", err(&add));
        assert!(err(&add) < err(&prod), "{} vs {}", err(&add), err(&prod));
    }

    #[test]
    fn noisy_observations_are_smoothed() {
        let x: Vec<Vec<f64>> = (0..4).map(|i| vec![i as f64 / 3.0]).collect();
        let y = [1.0, 1.2, 0.8, 1.0];
        let tight = Gp::fit(Kernel::Product, &x, &y, &[1e-8; 4], &[0.4]).unwrap();
        let loose = Gp::fit(Kernel::Product, &x, &y, &[1.0; 4], &[0.4]).unwrap();
        let at = [1.0 / 3.0];
        assert!((tight.predict(&at).0 - 1.2).abs() < 1e-3);
        assert!((loose.predict(&at).0 - 1.0).abs() < (tight.predict(&at).0 - 1.0).abs());
    }

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.644_854) - 0.05).abs() < 1e-6);
        assert!(normal_cdf(-40.0) >= 0.0 && normal_cdf(40.0) <= 1.0);
        assert!((normal_pdf(0.0) - 0.398_942_28).abs() < 1e-8);
    }
}
