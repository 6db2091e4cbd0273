//! GCRA (generic cell rate algorithm) with governor's exact arithmetic
//! (`boinkor-net/governor`, `governor/src/gcra.rs`).
//!
//! Parameters: `t`, the emission interval (one cell replenished every `t`,
//! floored at 1 ns), and `tau = t × (burst − 1)`. The state is one instant,
//! the theoretical arrival time `tat` (a fresh key has `tat = 0`, which
//! decides exactly like governor's "absent → `t0`").
//!
//! A check of `n` cells at `t0`: `additional = t × (n − 1)`; if
//! `additional > tau` the request can never conform
//! ([`InsufficientCapacity`]); otherwise `earliest = (tat + additional) −
//! tau` (saturating at 0); deny if `t0 < earliest` (wait `earliest − t0`),
//! else admit and set `tat = max(tat, t0) + t + additional`.
//!
//! Admission bound (tested): any closed interval of length `d` admits at
//! most `burst + floor(d / t)` cells, and a fresh limiter reaches it by
//! admitting the whole burst at once (governor#39). There is no boundary
//! burst beyond that.

use super::{Algorithm, InsufficientCapacity, RateDecision};
use crate::config::ConfigError;
use crate::time::{Span, Timestamp};

/// GCRA parameters: a burst of `burst` cells, one cell replenished every
/// `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gcra {
    /// Emission interval in nanoseconds (>= 1).
    t: u64,
    /// Tolerance in nanoseconds: `t × (burst − 1)`.
    tau: u64,
}

impl Gcra {
    /// A limiter admitting `max` cells per `window` on average, with a burst
    /// of `burst` cells: `period = window / max` (integer nanoseconds,
    /// floored at 1 ns as governor's `Quota::with_period`).
    ///
    /// `window > 0`, `max` and `burst` in 1..=2^32−1 (governor's
    /// `NonZeroU32`).
    ///
    /// # Errors
    /// A [`ConfigError`] naming `window`, `max` or `burst`.
    pub fn new(window: Span, max: u64, burst: u64) -> Result<Self, ConfigError> {
        if window.is_zero() {
            return Err(ConfigError::new(
                "window",
                format!("\"{window}\""),
                "a duration > 0",
            ));
        }
        if !(1..=u64::from(u32::MAX)).contains(&max) {
            return Err(ConfigError::new(
                "max",
                max,
                "an integer from 1 to 4294967295",
            ));
        }
        Gcra::with_period(Span::from_nanos(window.as_nanos() / max), burst)
    }

    /// A limiter with emission interval `period` (floored at 1 ns) and burst
    /// `burst` (1..=2^32−1): governor's `Quota::with_period(period)
    /// .allow_burst(burst)`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `burst`.
    pub fn with_period(period: Span, burst: u64) -> Result<Self, ConfigError> {
        if !(1..=u64::from(u32::MAX)).contains(&burst) {
            return Err(ConfigError::new(
                "burst",
                burst,
                "an integer from 1 to 4294967295",
            ));
        }
        let t = period.as_nanos().max(1);
        Ok(Gcra {
            t,
            tau: t.saturating_mul(burst - 1),
        })
    }

    /// The emission interval: one cell is replenished every `period`.
    pub fn period(&self) -> Span {
        Span::from_nanos(self.t)
    }

    /// The tolerance `tau = period × (burst − 1)`.
    pub fn tau(&self) -> Span {
        Span::from_nanos(self.tau)
    }

    /// The burst size (cells a fresh limiter admits at once).
    pub fn burst(&self) -> u64 {
        1 + self.tau / self.t
    }
}

impl Algorithm for Gcra {
    /// The theoretical arrival time `tat`.
    type State = Timestamp;

    fn fresh(&self, _now: Timestamp) -> Timestamp {
        Timestamp::ZERO
    }

    #[inline]
    fn check_n(
        &self,
        tat: &mut Timestamp,
        now: Timestamp,
        n: u32,
    ) -> Result<RateDecision, InsufficientCapacity> {
        if n == 0 {
            return Ok(RateDecision::Admit);
        }
        let additional = self.t.saturating_mul(u64::from(n) - 1);
        if additional > self.tau {
            return Err(InsufficientCapacity {
                max_n: self.burst(),
            });
        }
        let earliest = tat
            .as_nanos()
            .saturating_add(additional)
            .saturating_sub(self.tau);
        if now.as_nanos() < earliest {
            return Ok(RateDecision::Reject {
                retry_after: Span::from_nanos(earliest - now.as_nanos()),
            });
        }
        let next = (*tat)
            .max(now)
            .as_nanos()
            .saturating_add(self.t)
            .saturating_add(additional);
        *tat = Timestamp::from_nanos(next);
        Ok(RateDecision::Admit)
    }

    fn remaining(&self, tat: &Timestamp, now: Timestamp) -> u64 {
        // n conforms iff now + tau >= tat + t × (n − 1).
        let horizon = now.as_nanos().saturating_add(self.tau);
        match horizon.checked_sub(tat.as_nanos()) {
            Some(slack) => (slack / self.t + 1).min(self.burst()),
            None => 0,
        }
    }

    fn fresh_at(&self, tat: &Timestamp) -> Timestamp {
        // For `now >= tat`, `max(tat, now) = now` and `earliest <= now` for
        // every admissible n: the same decisions and successor as a fresh key.
        *tat
    }

    fn capacity(&self) -> u64 {
        self.burst()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governor_per_second_quota() {
        // Quota::per_second(50): burst 50, one cell per 20 ms.
        let gcra = Gcra::new(Span::from_secs(1), 50, 50).expect("valid");
        assert_eq!(gcra.period(), Span::from_millis(20));
        assert_eq!(gcra.tau(), Span::from_millis(980));
        let mut tat = gcra.fresh(Timestamp::ZERO);
        let t0 = Timestamp::from_nanos(5_000_000_000);
        for _ in 0..50 {
            assert_eq!(gcra.check_n(&mut tat, t0, 1), Ok(RateDecision::Admit));
        }
        assert_eq!(
            gcra.check_n(&mut tat, t0, 1),
            Ok(RateDecision::Reject {
                retry_after: Span::from_millis(20)
            })
        );
        assert_eq!(gcra.remaining(&tat, t0 + Span::from_millis(40)), 2);
    }

    #[test]
    fn n_cells_all_or_nothing() {
        let gcra = Gcra::with_period(Span::from_millis(10), 5).expect("valid");
        let mut tat = gcra.fresh(Timestamp::ZERO);
        let t0 = Timestamp::from_nanos(1_000_000_000);
        assert_eq!(
            gcra.check_n(&mut tat, t0, 6),
            Err(InsufficientCapacity { max_n: 5 })
        );
        assert_eq!(gcra.check_n(&mut tat, t0, 3), Ok(RateDecision::Admit));
        // Two cells left; three need one more period.
        assert_eq!(
            gcra.check_n(&mut tat, t0, 3),
            Ok(RateDecision::Reject {
                retry_after: Span::from_millis(10)
            })
        );
        assert_eq!(gcra.check_n(&mut tat, t0, 2), Ok(RateDecision::Admit));
    }

    #[test]
    fn period_is_floored_at_one_nanosecond() {
        let gcra = Gcra::new(Span::from_nanos(10), 100, 1).expect("valid");
        assert_eq!(gcra.period(), Span::from_nanos(1));
        let err = Gcra::new(Span::from_secs(1), 0, 1).expect_err("max 0");
        assert_eq!(err.key(), "max");
        let err = Gcra::new(Span::from_secs(1), 1, 0).expect_err("burst 0");
        assert_eq!(err.key(), "burst");
    }
}
