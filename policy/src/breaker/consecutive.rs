//! Linkerd's failure-accrual pieces: the consecutive-failure counter and the
//! jittered exponential backoff that sets how long the breaker stays open
//! (`linkerd/exp-backoff`, the same formula as tower's `ExponentialBackoff`).

use rand_core::Rng;

use crate::balance::sample::unit_f64;
use crate::time::Span;

use super::config::ConsecutiveSpec;

/// Open interval for the `iteration`-th consecutive opening (0 = first):
/// `base = min(min_penalty × 2^iteration, max_penalty)`, plus a jitter drawn
/// uniformly from `[0, jitter × base)` and clipped so the total never exceeds
/// `max_penalty`. One `rng` draw when `jitter > 0`, none otherwise.
pub(crate) fn penalty<R: Rng + ?Sized>(
    spec: &ConsecutiveSpec,
    iteration: u32,
    rng: &mut R,
) -> Span {
    let base = match 2u64.checked_pow(iteration) {
        Some(factor) => spec.min_penalty.saturating_mul(factor),
        None => spec.max_penalty,
    }
    .min(spec.max_penalty);
    if spec.jitter == 0.0 {
        return base;
    }
    let jitter = base.mul_f64(unit_f64(rng) * spec.jitter);
    base + jitter.min(spec.max_penalty - base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_pcg::Pcg64;

    fn spec(jitter: f64) -> ConsecutiveSpec {
        ConsecutiveSpec {
            max_failures: 7,
            min_penalty: Span::from_secs(1),
            max_penalty: Span::from_secs(60),
            jitter,
        }
    }

    #[test]
    fn base_doubles_up_to_the_maximum() {
        let mut rng = Pcg64::seed_from_u64(1);
        let s = spec(0.0);
        let got: Vec<u64> = (0..9)
            .map(|i| penalty(&s, i, &mut rng).as_nanos() / 1_000_000_000)
            .collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(penalty(&s, u32::MAX, &mut rng), Span::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_ratio_and_cap() {
        let mut rng = Pcg64::seed_from_u64(7);
        let s = spec(0.5);
        for i in 0..10 {
            let base = Span::from_secs(1u64 << i.min(6)).min(Span::from_secs(60));
            for _ in 0..200 {
                let p = penalty(&s, i, &mut rng);
                assert!(p >= base, "{p} < {base}");
                assert!(p <= base.mul_f64(1.5), "{p} > 1.5 × {base}");
                assert!(p <= Span::from_secs(60));
            }
        }
    }
}
