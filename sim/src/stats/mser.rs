//! MSER-5: where the initial transient of a simulation output series ends.
//!
//! The Marginal Standard Error Rule (White 1997; White, Cobb & Spratt 2000)
//! truncates the first `d` observations of a series at the `d` that
//! minimises the marginal standard error of the mean of what is left,
//!
//! ```text
//! Z(d) = sum_{j=d}^{k-1} (Y_j - mean(Y_d..Y_{k-1}))^2 / (k - d)^2,
//! ```
//!
//! with `d` searched over the first half of the series. MSER-5 applies it to
//! the means `Y_j` of non-overlapping batches of 5 observations (a trailing
//! partial batch is ignored), which smooths the statistic; it is the
//! warm-up rule Franklin & White (2008) and Hoad, Robinson & Davies (2010)
//! found the most reliable. A minimum at the end of the searched half means
//! the series is too short to have settled; [`Truncation::at_limit`] says so.
//!
//! A pure function of the series: no state, no allocation beyond the batch
//! means.

/// The truncation MSER chose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Truncation {
    /// Batches to discard.
    pub batches: usize,
    /// Observations to discard (`batches x batch size`).
    pub observations: usize,
    /// `Z(d)` at the chosen `d`.
    pub statistic: f64,
    /// The minimum lies at the largest `d` searched: the transient may not
    /// have ended within the series (run longer).
    pub at_limit: bool,
}

/// MSER with batches of 5 observations.
pub fn mser5(series: &[f64]) -> Option<Truncation> {
    mser(series, 5)
}

/// MSER over the means of non-overlapping batches of `batch` observations.
/// `None` if there are fewer than two full batches, `batch` is 0, or a value
/// is not finite. Ties go to the smallest truncation.
pub fn mser(series: &[f64], batch: usize) -> Option<Truncation> {
    if batch == 0 || series.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let k = series.len() / batch;
    if k < 2 {
        return None;
    }
    let means: Vec<f64> = series[..k * batch]
        .chunks_exact(batch)
        .map(|c| c.iter().sum::<f64>() / batch as f64)
        .collect();
    // The largest d searched: the first half of the batches.
    let last = k / 2;
    // Backward Welford over the batch means: after adding Y_d, `m2` is the
    // sum of squared deviations of Y_d..Y_{k-1} from their mean.
    let mut z = vec![0.0; last + 1];
    let (mut mean, mut m2, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for d in (0..k).rev() {
        n += 1.0;
        let delta = means[d] - mean;
        mean += delta / n;
        m2 += delta * (means[d] - mean);
        if d <= last {
            z[d] = m2 / (n * n);
        }
    }
    let mut best = 0;
    for d in 1..=last {
        if z[d] < z[best] {
            best = d;
        }
    }
    Some(Truncation {
        batches: best,
        observations: best * batch,
        statistic: z[best],
        at_limit: best == last && last > 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn hand_computed_example() {
        // Batch means 9, 5, 3, 3, 4, 2 (each batch is Y-2, Y-1, Y, Y+1, Y+2),
        // plus three trailing observations that do not fill a batch.
        // Z(0) = 31.333/36 = 0.8704, Z(1) = 5.2/25 = 0.208,
        // Z(2) = 2/16 = 0.125, Z(3) = 2/9 = 0.2222 -> d = 2.
        let mut series = Vec::new();
        for y in [9.0, 5.0, 3.0, 3.0, 4.0, 2.0] {
            series.extend([y - 2.0, y - 1.0, y, y + 1.0, y + 2.0]);
        }
        series.extend([1000.0, 1000.0, 1000.0]);
        let t = mser5(&series).unwrap();
        assert_eq!(t.batches, 2);
        assert_eq!(t.observations, 10);
        assert!((t.statistic - 0.125).abs() < 1e-12, "{t:?}");
        assert!(!t.at_limit);
        // Batch size 1 sees the raw values: [10, 0, 0, 0] -> Z(0) = 75/16,
        // Z(1) = Z(2) = 0; ties go to the smaller truncation.
        let t = mser(&[10.0, 0.0, 0.0, 0.0], 1).unwrap();
        assert_eq!((t.batches, t.statistic), (1, 0.0));
    }

    #[test]
    fn too_short_or_invalid_series() {
        assert_eq!(mser5(&[1.0; 9]), None);
        assert_eq!(mser(&[1.0, 2.0], 0), None);
        assert_eq!(mser5(&[f64::NAN; 20]), None);
        let t = mser5(&[1.0; 10]).unwrap();
        assert_eq!(
            (t.batches, t.statistic),
            (0, 0.0),
            "a constant series needs no truncation"
        );
    }

    /// AR(1) noise around 100 (phi 0.5, sd 5) plus an initial bias of
    /// `bias` decaying with time constant `tau` observations.
    fn series(seed: u64, n: usize, bias: f64, tau: f64) -> Vec<f64> {
        let mut rng = crate::rng::stream(seed, 0, "mser-test");
        let mut noise = 0.0;
        (0..n)
            .map(|i| {
                // Sum of 12 uniforms - 6: approximately standard normal.
                let z: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
                noise = 0.5 * noise + 5.0 * z;
                100.0 + noise + bias * (-(i as f64) / tau).exp()
            })
            .collect()
    }

    #[test]
    fn planted_transient_is_cut_and_the_rest_kept() {
        for seed in 0..20 {
            let xs = series(seed, 2000, 100.0, 50.0);
            let t = mser5(&xs).unwrap();
            // The bias is 100 e^{-i/50}: below one noise sd (~5.8) past
            // i = 142, below a tenth of it past ~260.
            assert!(
                (50..=600).contains(&t.observations),
                "seed {seed}: truncated {} of 2000",
                t.observations
            );
            assert!(!t.at_limit);
            let rest = &xs[t.observations..];
            let mean = rest.iter().sum::<f64>() / rest.len() as f64;
            // Bias left after truncation at >= 50: < 100 e^{-1} x 50 / 1950.
            assert!((mean - 100.0).abs() < 2.5, "seed {seed}: mean {mean}");
            let untruncated = xs.iter().sum::<f64>() / xs.len() as f64;
            assert!(
                untruncated - 100.0 > 2.0,
                "the transient biases the raw mean"
            );
        }
    }

    #[test]
    fn stationary_series_keeps_most_of_its_data() {
        let mut cuts = Vec::new();
        for seed in 100..120 {
            let t = mser5(&series(seed, 2000, 0.0, 1.0)).unwrap();
            cuts.push(t.observations);
        }
        cuts.sort_unstable();
        assert!(
            cuts[10] <= 200,
            "median truncation {} of 2000: {cuts:?}",
            cuts[10]
        );
    }

    #[test]
    fn a_series_still_drifting_is_flagged() {
        // A transient longer than the series: the minimum sits at the limit.
        let xs: Vec<f64> = (0..200).map(|i| 1000.0 - f64::from(i)).collect();
        let t = mser5(&xs).unwrap();
        assert!(t.at_limit, "{t:?}");
        assert_eq!(t.batches, 20);
    }
}
