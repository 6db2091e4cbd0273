//! Peak-EWMA round-trip-time estimate with explicit timestamps (Linkerd's
//! `linkerd-ewma` crate): reads project the decay without mutating, a sample
//! above the projected estimate replaces it, lower samples are blended in.
//!
//! The decay uses `libm::exp` (a pure-Rust port of musl's), not the platform's
//! `exp`: platform libms may round differently in the last bit, which would let
//! a P2C comparison go the other way on another machine.

use crate::time::{Span, Timestamp};

/// An exponentially weighted moving average of RTT in nanoseconds, decaying
/// toward zero with time constant `decay`: a value `v` recorded at `t` reads
/// as `v × e^(−(now − t)/decay)` at `now`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ewma {
    value_ns: f64,
    decay_ns: f64,
    at: Timestamp,
}

impl Ewma {
    /// An estimate seeded with `initial` at `now` (Linkerd seeds each endpoint
    /// with `default_rtt`). `decay` below 1 ms is raised to 1 ms, as Linkerd does.
    pub fn new(initial: Span, decay: Span, now: Timestamp) -> Self {
        Ewma {
            value_ns: initial.as_nanos() as f64,
            decay_ns: decay.max(Span::from_millis(1)).as_nanos() as f64,
            at: now,
        }
    }

    /// The estimate projected to `now`, in nanoseconds (no decay if `now` is
    /// not after the last update).
    #[inline]
    pub fn get_at(&self, now: Timestamp) -> f64 {
        if now <= self.at {
            return self.value_ns;
        }
        let elapsed = (now - self.at).as_nanos() as f64;
        self.value_ns * libm::exp(-elapsed / self.decay_ns)
    }

    /// Blends `sample` in: `value × (1 − α) + sample × α` with
    /// `α = 1 − e^(−Δt/decay)`, Δt since the last update. Samples at or before
    /// the last update's timestamp are dropped (Linkerd's rule).
    #[inline]
    pub fn add(&mut self, sample: Span, now: Timestamp) {
        if now <= self.at {
            return;
        }
        let elapsed = (now - self.at).as_nanos() as f64;
        let alpha = 1.0 - libm::exp(-elapsed / self.decay_ns);
        self.value_ns = self.value_ns * (1.0 - alpha) + sample.as_nanos() as f64 * alpha;
        self.at = now;
    }

    /// Peak update: if `sample` exceeds the estimate projected to `now` it
    /// replaces it (and `now` becomes the decay reference), otherwise it is
    /// blended in with [`Ewma::add`].
    #[inline]
    pub fn add_peak(&mut self, sample: Span, now: Timestamp) {
        let sample_ns = sample.as_nanos() as f64;
        if self.get_at(now) < sample_ns {
            self.value_ns = sample_ns;
            self.at = now;
        } else {
            self.add(sample, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXP_NEG1: f64 = 0.367_879_441_171_442_33;

    fn t(secs: u64) -> Timestamp {
        Timestamp::ZERO + Span::from_secs(secs)
    }

    #[test]
    fn decays_by_e_per_time_constant() {
        let e = Ewma::new(Span::from_secs(1), Span::from_secs(10), t(1));
        assert_eq!(e.get_at(t(1)), 1e9);
        assert_eq!(e.get_at(t(0)), 1e9);
        assert!((e.get_at(t(11)) / 1e9 - EXP_NEG1).abs() < 1e-15);
    }

    #[test]
    fn add_blends_toward_the_sample() {
        // Linkerd's `test_decay`: 1.0 at t=1, add 0 at t=11 → e^-1.
        let mut e = Ewma::new(Span::from_secs(1), Span::from_secs(10), t(1));
        e.add(Span::ZERO, t(11));
        assert!((e.get_at(t(11)) / 1e9 - EXP_NEG1).abs() < 1e-15);
        // Samples at the same instant are dropped.
        e.add(Span::from_secs(99), t(11));
        assert!((e.get_at(t(11)) / 1e9 - EXP_NEG1).abs() < 1e-15);
    }

    #[test]
    fn peak_replaces_a_lower_estimate_and_blends_a_lower_sample() {
        let mut e = Ewma::new(Span::from_millis(30), Span::from_secs(10), t(0));
        e.add_peak(Span::from_secs(10), t(1));
        assert_eq!(e.get_at(t(1)), 10e9);
        // Linkerd's `test_add_peak_retains_higher_value`: a low sample 100 ms
        // later barely moves the estimate.
        e.add_peak(Span::from_secs(1), t(1) + Span::from_millis(100));
        let v = e.get_at(t(1) + Span::from_millis(100)) / 1e9;
        assert!(v > 9.0 && v < 10.0, "{v}");
        // After 25 s the decayed estimate (≈ 0.8 s) is below 1 s: replaced.
        e.add_peak(Span::from_secs(1), t(26));
        assert_eq!(e.get_at(t(26)), 1e9);
    }
}
