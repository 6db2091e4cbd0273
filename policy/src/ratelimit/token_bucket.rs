//! Envoy's token bucket (`envoy.type.v3.TokenBucket`) with a lazy refill that
//! equals Envoy's timer-driven refill exactly.
//!
//! Envoy used to add `tokens_per_fill` on a timer every `fill_interval`
//! (capped at `max_tokens`); since envoyproxy/envoy#35207 it refills lazily on
//! access. Here the fill instants are the grid `epoch + k × fill_interval`
//! (`k >= 1`). On access at `now`, every fill instant `<= now` not yet applied
//! adds `tokens_per_fill`, capped at `max_tokens`; the partial interval is
//! carried because the next fill instant stays on the grid. Since capped
//! additions compose (`min(max, min(max, x + a) + b) = min(max, x + a + b)`
//! for non-negative `a`, `b`), the result is exactly the timer-driven one and
//! does not depend on how often the bucket is checked.
//!
//! Boundary: a fill scheduled at exactly `now` is applied before a request
//! at `now`.

use super::{Algorithm, InsufficientCapacity, RateDecision};
use crate::config::ConfigError;
use crate::time::{Span, Timestamp};

/// Largest `max_tokens` / `tokens_per_fill` accepted (Envoy's fields are
/// `uint32`).
pub(crate) const MAX_TOKENS_LIMIT: u64 = u32::MAX as u64;

/// Token-bucket parameters: capacity `max_tokens` (also the initial fill),
/// `tokens_per_fill` added every `fill_interval` on the grid anchored at
/// `epoch`.
///
/// Admission bound (tested): over any closed interval of length `t > 0`, at
/// most `max_tokens + tokens_per_fill × ceil(t / fill_interval)` tokens are
/// taken, and this bound is reached. (With `floor` instead of `ceil` it fails
/// for intervals that contain a fill instant but are shorter than one
/// interval.)
///
/// Envoy rejects `fill_interval < 50ms` ("to not re-fill too frequently",
/// a timer-cost concern); a lazy refill has no timer, so any
/// `fill_interval >= 1ns` is accepted. Keep `fill_interval >= 50ms` for
/// configs that must also load in Envoy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    max_tokens: u64,
    tokens_per_fill: u64,
    fill_interval: Span,
    epoch: Timestamp,
}

/// The per-key state of a [`TokenBucket`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketState {
    tokens: u64,
    /// The first fill instant not yet applied: `epoch + k × fill_interval`.
    next_fill: Timestamp,
}

impl BucketState {
    /// Tokens held as of the last access (fills since then not applied).
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// The first fill instant not yet applied.
    pub fn next_fill(&self) -> Timestamp {
        self.next_fill
    }
}

impl TokenBucket {
    /// A bucket of `max_tokens` (1..=2^32−1) refilled with `tokens_per_fill`
    /// (1..=2^32−1, Envoy's default is 1) every `fill_interval` (> 0), fill
    /// instants anchored at `epoch` (normally the creation time).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the out-of-range parameter.
    pub fn new(
        max_tokens: u64,
        tokens_per_fill: u64,
        fill_interval: Span,
        epoch: Timestamp,
    ) -> Result<Self, ConfigError> {
        if !(1..=MAX_TOKENS_LIMIT).contains(&max_tokens) {
            return Err(ConfigError::new(
                "max_tokens",
                max_tokens,
                "an integer from 1 to 4294967295",
            ));
        }
        if !(1..=MAX_TOKENS_LIMIT).contains(&tokens_per_fill) {
            return Err(ConfigError::new(
                "tokens_per_fill",
                tokens_per_fill,
                "an integer from 1 to 4294967295",
            ));
        }
        if fill_interval.is_zero() {
            return Err(ConfigError::new(
                "fill_interval",
                format!("\"{fill_interval}\""),
                "a duration > 0",
            ));
        }
        Ok(TokenBucket {
            max_tokens,
            tokens_per_fill,
            fill_interval,
            epoch,
        })
    }

    /// The same bucket with its fill grid anchored at `epoch`.
    #[must_use]
    pub fn with_epoch(self, epoch: Timestamp) -> Self {
        TokenBucket { epoch, ..self }
    }

    /// Capacity and initial fill.
    pub fn max_tokens(&self) -> u64 {
        self.max_tokens
    }

    /// Tokens added at each fill instant.
    pub fn tokens_per_fill(&self) -> u64 {
        self.tokens_per_fill
    }

    /// Time between fill instants.
    pub fn fill_interval(&self) -> Span {
        self.fill_interval
    }

    /// The anchor of the fill grid.
    pub fn epoch(&self) -> Timestamp {
        self.epoch
    }

    /// Applies every fill instant `<= now`.
    #[inline]
    fn refill(&self, state: &mut BucketState, now: Timestamp) {
        if now < state.next_fill {
            return;
        }
        let interval = self.fill_interval.as_nanos(); // > 0 by construction
        let fills = (now - state.next_fill).as_nanos() / interval + 1;
        state.tokens = state
            .tokens
            .saturating_add(fills.saturating_mul(self.tokens_per_fill))
            .min(self.max_tokens);
        state.next_fill += Span::from_nanos(fills.saturating_mul(interval));
    }

    /// The `k`-th fill instant from `next_fill` (`k >= 1`; `k = 1` is
    /// `next_fill` itself).
    fn fill_instant(&self, next_fill: Timestamp, k: u64) -> Timestamp {
        next_fill + self.fill_interval.saturating_mul(k.saturating_sub(1))
    }
}

impl Algorithm for TokenBucket {
    type State = BucketState;

    fn fresh(&self, now: Timestamp) -> BucketState {
        let interval = self.fill_interval.as_nanos();
        let elapsed_fills = (now - self.epoch).as_nanos() / interval;
        BucketState {
            tokens: self.max_tokens,
            next_fill: self.epoch
                + self
                    .fill_interval
                    .saturating_mul(elapsed_fills.saturating_add(1)),
        }
    }

    #[inline]
    fn check_n(
        &self,
        state: &mut BucketState,
        now: Timestamp,
        n: u32,
    ) -> Result<RateDecision, InsufficientCapacity> {
        let n = u64::from(n);
        if n > self.max_tokens {
            return Err(InsufficientCapacity {
                max_n: self.max_tokens,
            });
        }
        self.refill(state, now);
        if state.tokens >= n {
            state.tokens -= n;
            return Ok(RateDecision::Admit);
        }
        // After the refill `next_fill > now`, so the wait is > 0.
        let fills = (n - state.tokens).div_ceil(self.tokens_per_fill);
        let at = self.fill_instant(state.next_fill, fills);
        Ok(RateDecision::Reject {
            retry_after: at - now,
        })
    }

    fn remaining(&self, state: &BucketState, now: Timestamp) -> u64 {
        let mut state = *state;
        self.refill(&mut state, now);
        state.tokens
    }

    fn fresh_at(&self, state: &BucketState) -> Timestamp {
        if state.tokens >= self.max_tokens {
            return Timestamp::ZERO;
        }
        let fills = (self.max_tokens - state.tokens).div_ceil(self.tokens_per_fill);
        self.fill_instant(state.next_fill, fills)
    }

    fn capacity(&self) -> u64 {
        self.max_tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Timestamp {
        Timestamp::from_nanos(v * 1_000_000)
    }

    #[test]
    fn refill_is_independent_of_access_pattern() {
        let bucket = TokenBucket::new(10, 3, Span::from_millis(100), ms(0)).expect("valid");
        let mut often = bucket.fresh(ms(0));
        let mut rarely = bucket.fresh(ms(0));
        assert_eq!(
            bucket.check_n(&mut often, ms(0), 10),
            Ok(RateDecision::Admit)
        );
        assert_eq!(
            bucket.check_n(&mut rarely, ms(0), 10),
            Ok(RateDecision::Admit)
        );
        for t in 1..=350 {
            assert_eq!(
                bucket.remaining(&often, ms(t)),
                bucket.remaining(&rarely, ms(t))
            );
            let _ = bucket.check_n(&mut often, ms(t), 0);
        }
        // Fills at 100, 200, 300 ms: 9 tokens, next fill at 400 ms.
        assert_eq!(bucket.remaining(&rarely, ms(350)), 9);
        assert_eq!(
            bucket.check_n(&mut rarely, ms(350), 10),
            Ok(RateDecision::Reject {
                retry_after: Span::from_millis(50)
            })
        );
    }

    #[test]
    fn fresh_key_is_on_the_shared_grid() {
        let bucket = TokenBucket::new(5, 1, Span::from_millis(100), ms(0)).expect("valid");
        let state = bucket.fresh(ms(250));
        assert_eq!(state.next_fill(), ms(300));
        assert_eq!(state.tokens(), 5);
        let mut used = state;
        assert!(
            bucket
                .check_n(&mut used, ms(250), 2)
                .expect("fits")
                .is_admit()
        );
        assert_eq!(bucket.fresh_at(&used), ms(400));
        assert_eq!(bucket.fresh_at(&state), Timestamp::ZERO);
    }

    #[test]
    fn rejects_bad_parameters() {
        let err = TokenBucket::new(0, 1, Span::from_secs(1), ms(0)).expect_err("zero");
        assert_eq!(err.key(), "max_tokens");
        let err = TokenBucket::new(1, 0, Span::from_secs(1), ms(0)).expect_err("zero");
        assert_eq!(err.key(), "tokens_per_fill");
        let err = TokenBucket::new(1, 1, Span::ZERO, ms(0)).expect_err("zero");
        assert_eq!(err.key(), "fill_interval");
        assert_eq!(err.value(), "\"0s\"");
    }
}
