//! Retry backoff: constant or exponential delays, capped, with no, full,
//! equal or decorrelated jitter. Every delay lies in `[0, max]`.
//!
//! Formulas for retry number `r` (1 = the first retry), ceiling
//! `c(r) = min(base × multiplier^(r−1), max)` (exponential) or
//! `min(base, max)` (constant):
//! - `none`: `c(r)`;
//! - `full` (Envoy, gRPC A6, AWS "full jitter"): uniform in `[0, c(r)]`;
//! - `equal` (AWS "equal jitter"): `c(r) − ⌊c(r)/2⌋ + uniform[0, ⌊c(r)/2⌋]`;
//! - `decorrelated` (AWS "decorrelated jitter"): `min(max, uniform[base,
//!   3 × previous])`, `previous` being the last backoff delay (`base` before
//!   the first retry); it replaces `c(r)`, so `backoff`/`multiplier` do not
//!   apply.
//!
//! The exponential ceiling is computed by repeated multiplication rounded to
//! whole nanoseconds (no `powf`), so it is bit-identical on every platform.

use rand_core::Rng;

use crate::config::ConfigError;
use crate::time::Span;

/// How the un-jittered delay grows (`backoff = ...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum BackoffKind {
    /// `"constant"`: every retry waits `base`.
    Constant,
    /// `"exponential"` (default): `base × multiplier^(r−1)`, capped at `max`.
    #[default]
    Exponential,
}

/// How the delay is randomised (`jitter = ...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum Jitter {
    /// `"none"`: the ceiling itself.
    None,
    /// `"full"` (default, as Envoy): uniform in `[0, ceiling]`.
    #[default]
    Full,
    /// `"equal"`: half the ceiling plus uniform in `[0, half]`.
    Equal,
    /// `"decorrelated"`: `min(max, uniform[base, 3 × previous])`.
    Decorrelated,
}

/// Largest accepted `multiplier`.
pub const MAX_MULTIPLIER: f64 = 100.0;

/// Checked backoff parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    kind: BackoffKind,
    base: Span,
    max: Span,
    multiplier: f64,
    jitter: Jitter,
}

impl Backoff {
    /// A backoff with `0 <= base <= max` and `multiplier` in `[1, 100]`
    /// (only used by `Exponential`).
    ///
    /// # Errors
    /// A [`ConfigError`] naming `max` or `multiplier`.
    pub fn new(
        kind: BackoffKind,
        base: Span,
        max: Span,
        multiplier: f64,
        jitter: Jitter,
    ) -> Result<Self, ConfigError> {
        if max < base {
            return Err(ConfigError::new(
                "max",
                format!("\"{max}\""),
                format!("a duration >= base (\"{base}\")"),
            ));
        }
        if !(1.0..=MAX_MULTIPLIER).contains(&multiplier) {
            return Err(ConfigError::new(
                "multiplier",
                multiplier,
                "a number from 1 to 100",
            ));
        }
        Ok(Backoff {
            kind,
            base,
            max,
            multiplier,
            jitter,
        })
    }

    /// The growth kind.
    pub fn kind(&self) -> BackoffKind {
        self.kind
    }

    /// The first (un-jittered) delay.
    pub fn base(&self) -> Span {
        self.base
    }

    /// The cap on every delay.
    pub fn max(&self) -> Span {
        self.max
    }

    /// The exponential growth factor.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// The jitter kind.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The un-jittered delay `c(r)` before retry `retry` (1-based; 0 is
    /// treated as 1). At most `max`; the loop stops at the cap, so its cost
    /// is bounded by `retry` and by `log_multiplier(max / base)`.
    pub fn ceiling(&self, retry: u32) -> Span {
        let mut delay = self.base;
        if self.kind == BackoffKind::Exponential {
            for _ in 1..retry {
                if delay >= self.max {
                    break;
                }
                delay = delay.mul_f64(self.multiplier);
            }
        }
        delay.min(self.max)
    }

    /// The delay before retry `retry` (1-based), given the previous backoff
    /// delay `previous` (`Span::ZERO` before the first retry; only
    /// decorrelated jitter uses it). Always within `[0, max]`.
    pub fn delay(&self, retry: u32, previous: Span, rng: &mut impl Rng) -> Span {
        match self.jitter {
            Jitter::None => self.ceiling(retry),
            Jitter::Full => Span::from_nanos(uniform(rng, 0, self.ceiling(retry).as_nanos())),
            Jitter::Equal => {
                let ceiling = self.ceiling(retry).as_nanos();
                let half = ceiling / 2;
                Span::from_nanos(ceiling - half + uniform(rng, 0, half))
            }
            Jitter::Decorrelated => {
                let previous = if previous.is_zero() {
                    self.base
                } else {
                    previous
                };
                let high = previous.saturating_mul(3).max(self.base);
                Span::from_nanos(uniform(rng, self.base.as_nanos(), high.as_nanos())).min(self.max)
            }
        }
    }
}

/// A uniform draw in `[low, high]` (inclusive; `low` if `high <= low`) from
/// one `next_u64`, by Lemire's widening multiply (bias < 2^−64 × range).
pub(crate) fn uniform(rng: &mut impl Rng, low: u64, high: u64) -> u64 {
    if high <= low {
        return low;
    }
    let span = high - low;
    if span == u64::MAX {
        return rng.next_u64();
    }
    let draw = (u128::from(rng.next_u64()) * u128::from(span + 1)) >> 64;
    // draw < span + 1 <= u64::MAX, so the cast is exact.
    low + draw as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_pcg::Pcg64;

    fn ms(v: u64) -> Span {
        Span::from_millis(v)
    }

    #[test]
    fn exponential_ceiling_caps() {
        let b = Backoff::new(BackoffKind::Exponential, ms(25), ms(250), 2.0, Jitter::None)
            .expect("valid");
        let got: Vec<Span> = (1..=6).map(|r| b.ceiling(r)).collect();
        assert_eq!(got, [ms(25), ms(50), ms(100), ms(200), ms(250), ms(250)]);
        let c =
            Backoff::new(BackoffKind::Constant, ms(40), ms(250), 2.0, Jitter::None).expect("valid");
        assert_eq!(c.ceiling(5), ms(40));
    }

    #[test]
    fn jittered_delays_stay_in_range() {
        let mut rng = Pcg64::new(7, 11);
        for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
            let b = Backoff::new(BackoffKind::Exponential, ms(10), ms(300), 3.0, jitter)
                .expect("valid");
            let mut previous = Span::ZERO;
            for retry in 1..50 {
                let d = b.delay(retry, previous, &mut rng);
                assert!(d <= ms(300), "{jitter:?} {d}");
                if jitter == Jitter::Equal {
                    let c = b.ceiling(retry).as_nanos();
                    assert!(d.as_nanos() >= c - c / 2);
                }
                if jitter == Jitter::Decorrelated {
                    assert!(d >= ms(10));
                }
                previous = d;
            }
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        let err = Backoff::new(BackoffKind::Exponential, ms(10), ms(5), 2.0, Jitter::Full)
            .expect_err("max < base");
        assert_eq!(err.key(), "max");
        let err = Backoff::new(BackoffKind::Exponential, ms(1), ms(5), 0.5, Jitter::Full)
            .expect_err("multiplier");
        assert_eq!(err.key(), "multiplier");
        let err = Backoff::new(
            BackoffKind::Exponential,
            ms(1),
            ms(5),
            f64::NAN,
            Jitter::Full,
        )
        .expect_err("NaN");
        assert_eq!(err.value(), "NaN");
    }

    #[test]
    fn uniform_covers_both_ends() {
        let mut rng = Pcg64::new(1, 2);
        let draws: Vec<u64> = (0..200).map(|_| uniform(&mut rng, 3, 5)).collect();
        assert!(draws.iter().all(|d| (3..=5).contains(d)));
        assert!(draws.contains(&3) && draws.contains(&5));
        assert_eq!(uniform(&mut rng, 9, 9), 9);
    }
}
