//! Running mean and variance (Welford's update, Chan et al.'s merge).

/// Streaming mean and sample variance of `f64` observations, numerically
/// stable (Welford 1962), mergeable across partitions with the parallel
/// formula of Chan, Golub and LeVeque (1979).
///
/// Observations must be finite; a NaN or infinity poisons the results.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Welford {
    count: u64,
    mean: f64,
    /// Sum of squared deviations from the running mean.
    m2: f64,
}

impl Welford {
    /// No observations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one observation.
    #[inline]
    pub fn push(&mut self, x: f64) {
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The mean; NaN when there are no observations.
    pub fn mean(&self) -> f64 {
        if self.count == 0 { f64::NAN } else { self.mean }
    }

    /// The sample variance (divisor `n - 1`); NaN when `n < 2`.
    pub fn variance(&self) -> f64 {
        if self.count < 2 {
            f64::NAN
        } else {
            self.m2 / (self.count - 1) as f64
        }
    }

    /// The sample standard deviation; NaN when `n < 2`.
    pub fn std_dev(&self) -> f64 {
        self.variance().sqrt()
    }

    /// Folds `other`'s observations into `self`; the result equals (up to
    /// rounding) pushing every observation into one accumulator.
    pub fn merge(&mut self, other: &Self) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let n_a = self.count as f64;
        let n_b = other.count as f64;
        let n = n_a + n_b;
        let delta = other.mean - self.mean;
        self.mean += delta * (n_b / n);
        self.m2 += other.m2 + delta * delta * (n_a * n_b / n);
        self.count += other.count;
    }
}

#[cfg(test)]
mod tests {
    use approx::assert_relative_eq;
    use proptest::prelude::*;

    use super::Welford;

    fn two_pass(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
        (mean, ss / (n - 1.0))
    }

    #[test]
    fn empty_and_single_observation_give_nan_where_undefined() {
        let mut w = Welford::new();
        assert_eq!(w.count(), 0);
        assert!(w.mean().is_nan());
        assert!(w.variance().is_nan());
        w.push(4.0);
        assert_eq!(w.mean(), 4.0);
        assert!(w.variance().is_nan());
        assert!(w.std_dev().is_nan());
    }

    #[test]
    fn matches_a_hand_computed_example() {
        let mut w = Welford::new();
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            w.push(x);
        }
        assert_eq!(w.count(), 8);
        assert_relative_eq!(w.mean(), 5.0);
        // Sum of squared deviations is 32; sample variance 32 / 7.
        assert_relative_eq!(w.variance(), 32.0 / 7.0, max_relative = 1e-15);
        assert_relative_eq!(w.std_dev(), (32.0_f64 / 7.0).sqrt(), max_relative = 1e-15);
    }

    #[test]
    fn stays_accurate_with_a_large_offset() {
        // The naive sum-of-squares formula loses every digit here.
        let mut w = Welford::new();
        for x in [4.0, 7.0, 13.0, 16.0] {
            w.push(1e9 + x);
        }
        assert_relative_eq!(w.mean(), 1e9 + 10.0);
        assert_relative_eq!(w.variance(), 30.0, max_relative = 1e-9);
    }

    proptest! {
        #[test]
        fn agrees_with_the_two_pass_formula_and_merges(
            xs in prop::collection::vec(-1e6_f64..1e6, 2..300),
            cut in any::<prop::sample::Index>(),
        ) {
            let (mean, var) = two_pass(&xs);
            let mut all = Welford::new();
            xs.iter().for_each(|&x| all.push(x));
            prop_assert_eq!(all.count(), xs.len() as u64);
            prop_assert!((all.mean() - mean).abs() <= 1e-9 * (1.0 + mean.abs()));
            prop_assert!((all.variance() - var).abs() <= 1e-9 * (1.0 + var));

            let (left, right) = xs.split_at(cut.index(xs.len() + 1));
            let mut a = Welford::new();
            let mut b = Welford::new();
            left.iter().for_each(|&x| a.push(x));
            right.iter().for_each(|&x| b.push(x));
            a.merge(&b);
            prop_assert_eq!(a.count(), all.count());
            prop_assert!((a.mean() - mean).abs() <= 1e-9 * (1.0 + mean.abs()));
            prop_assert!((a.variance() - var).abs() <= 1e-9 * (1.0 + var));
        }
    }
}
