//! Random draws shared by the balancers and the breaker's jitter: uniform
//! floats, unbiased bounded integers and distinct samples, all from a
//! caller-supplied `rand_core::Rng` so results depend only on the seed.

use rand_core::Rng;

/// Largest `choice_count` (candidates drawn per P2C pick).
pub const MAX_CHOICE_COUNT: usize = 16;

/// A uniform float in `[0, 1)` with 53 random bits (one `next_u64`).
#[inline]
pub(crate) fn unit_f64<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    (rng.next_u64() >> 11) as f64 * SCALE
}

/// A uniform integer in `[0, n)`; `n` must be at least 1 (callers check).
/// Lemire's multiply-and-reject method: unbiased, usually one `next_u64`.
#[inline]
pub(crate) fn below<R: Rng + ?Sized>(rng: &mut R, n: u64) -> u64 {
    debug_assert!(n > 0, "below(0) has no value");
    let n = n.max(1);
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as u64
}

/// Draws `min(k, n)` distinct positions from `0..n` into `out`, in a
/// uniformly random order (the order decides ties: the first drawn wins).
/// Returns how many were written; `k` is at most [`MAX_CHOICE_COUNT`].
///
/// For two draws this is tower's `sample_floyd2` rule (`a` in `0..n-1`, `b` in
/// `0..n`, `a = n-1` if they collide); otherwise Floyd's ordered sampling: the
/// `j`-th draw `t` in `0..=j` goes to the front if new, else `j` goes right
/// after `t`.
#[inline]
pub(crate) fn distinct<R: Rng + ?Sized>(
    rng: &mut R,
    n: usize,
    k: usize,
    out: &mut [usize; MAX_CHOICE_COUNT],
) -> usize {
    let k = k.min(n).min(MAX_CHOICE_COUNT);
    if k == 2 {
        let a = below(rng, n as u64 - 1) as usize;
        let b = below(rng, n as u64) as usize;
        out[0] = if a == b { n - 1 } else { a };
        out[1] = b;
        return 2;
    }
    let mut len = 0;
    for j in (n - k)..n {
        let t = below(rng, j as u64 + 1) as usize;
        match out[..len].iter().position(|&x| x == t) {
            Some(pos) => {
                // `t` is taken: `j` (not drawn before) goes right after it.
                out.copy_within(pos + 1..len, pos + 2);
                out[pos + 1] = j;
            }
            None => {
                out.copy_within(0..len, 1);
                out[0] = t;
            }
        }
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_pcg::Pcg64;

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut rng = Pcg64::seed_from_u64(3);
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            let v = below(&mut rng, 7);
            assert!(v < 7);
            seen[v as usize] += 1;
        }
        // Each value is expected 1000 times; 800 is far outside noise.
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        assert_eq!(below(&mut rng, 1), 0);
    }

    #[test]
    fn distinct_draws_are_distinct() {
        let mut rng = Pcg64::seed_from_u64(9);
        let mut out = [0; MAX_CHOICE_COUNT];
        for n in 1..20 {
            for k in 1..=MAX_CHOICE_COUNT {
                let len = distinct(&mut rng, n, k, &mut out);
                assert_eq!(len, k.min(n));
                let mut seen = out[..len].to_vec();
                seen.sort_unstable();
                seen.dedup();
                assert_eq!(seen.len(), len);
                assert!(seen.iter().all(|&i| i < n));
            }
        }
    }

    #[test]
    fn distinct_order_is_uniform() {
        // Every position is first about equally often, for P2C and for k = 3.
        let mut rng = Pcg64::seed_from_u64(11);
        let mut out = [0; MAX_CHOICE_COUNT];
        for k in [2, 3] {
            let mut first = [0u32; 4];
            for _ in 0..8_000 {
                distinct(&mut rng, 4, k, &mut out);
                first[out[0]] += 1;
            }
            // Expected 2000 each; 5 σ ≈ 190.
            assert!(
                first.iter().all(|&c| (1_800..=2_200).contains(&c)),
                "k={k}: {first:?}"
            );
        }
    }

    #[test]
    fn unit_is_in_unit_interval() {
        let mut rng = Pcg64::seed_from_u64(5);
        for _ in 0..1000 {
            let u = unit_f64(&mut rng);
            assert!((0.0..1.0).contains(&u));
        }
    }
}
