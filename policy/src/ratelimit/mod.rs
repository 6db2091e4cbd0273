//! Rate limiting: Envoy's token bucket, governor's GCRA, two sliding windows,
//! per-client keyed limiters, and [`RateLimiter`], the one type drivers call.
//!
//! Every limiter is an [`Algorithm`] (immutable parameters) plus a per-key
//! `State`. [`Limiter`] pairs one algorithm with one state (a global limit);
//! [`Keyed`] holds a bounded number of per-client states. [`RateLimiter`] is
//! built from the checked `[policy.rate_limit.NAME]` table
//! ([`RateLimitConfig`] → [`RateLimitPolicy`]) and dispatches to the
//! configured strategy and scope.
//!
//! # Driver call order
//! 1. Build once: `let policy = config.validate()?;` then
//!    `let mut limiter = RateLimiter::new(&policy, now);`.
//! 2. For every request, call [`RateLimiter::check`] (or
//!    [`RateLimiter::check_n`] for weighted requests) with the request's
//!    arrival time and client id; act on the [`RateDecision`]
//!    (`Reject` → 429 with `Retry-After: retry_after`).
//! 3. Read [`RateLimiter::stats`] whenever convenient.
//!
//! Limiters have no timers (refill is computed lazily on access), so there is
//! no `poll_timeout`. `now` must be non-decreasing across calls; an earlier
//! `now` never panics, and each algorithm documents how it treats one.

mod client_index;
mod config;
mod gcra;
mod keyed;
mod sliding_window;
mod token_bucket;

use std::fmt;

use crate::time::{Span, Timestamp};

pub use config::{
    AlgorithmPolicy, KeyScope, RateLimitConfig, RateLimitPolicy, RateLimitStrategy, WindowAlgorithm,
};
pub use gcra::Gcra;
pub use keyed::{Keyed, KeyedStats, Warm};
pub use sliding_window::{LogState, SlidingLog, TwoWindow, TwoWindowState};
pub use token_bucket::{BucketState, TokenBucket};

/// The answer to one rate-limit check.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    /// The request conforms; its tokens/cells have been taken.
    Admit,
    /// The request does not conform and took nothing. Checking the same
    /// request again `retry_after` from now (with no other admits in
    /// between) admits it; any earlier check rejects it. Always > 0.
    Reject {
        /// How long to wait before the request would conform.
        retry_after: Span,
    },
}

impl RateDecision {
    /// Whether this is [`RateDecision::Admit`].
    #[inline]
    pub fn is_admit(self) -> bool {
        matches!(self, RateDecision::Admit)
    }
}

/// A request for more tokens/cells than the limiter can ever admit at once
/// (governor's `InsufficientCapacity`); waiting does not help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InsufficientCapacity {
    /// The largest `n` the limiter can ever admit in one check.
    pub max_n: u64,
}

impl fmt::Display for InsufficientCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request exceeds the limiter's capacity of {} per check",
            self.max_n
        )
    }
}

impl std::error::Error for InsufficientCapacity {}

/// No memory to prefetch (see [`Keyed::memory_for`]).
pub(crate) const NO_MEMORY: *const [u8] = std::ptr::slice_from_raw_parts(std::ptr::null(), 0);

/// The bytes of `value`, or [`NO_MEMORY`]: what [`Keyed::memory_for`]
/// names for a caller's prefetch.
pub(crate) fn memory_of<T>(value: Option<&T>) -> *const [u8] {
    value.map_or(NO_MEMORY, |v| {
        std::ptr::slice_from_raw_parts(std::ptr::from_ref(v).cast::<u8>(), std::mem::size_of::<T>())
    })
}

/// A rate-limiting algorithm: immutable parameters that act on a per-key
/// [`Algorithm::State`].
///
/// Implementations are pure functions of `(parameters, state, now, n)`.
pub trait Algorithm {
    /// The per-key state (a few words; the sliding log holds a bounded ring).
    type State: Clone + fmt::Debug;

    /// The state of a key first seen at `now` (full bucket / empty window).
    fn fresh(&self, now: Timestamp) -> Self::State;

    /// Checks `n` units all-or-nothing at `now` and, when admitted, takes them.
    /// `n = 0` is always admitted and changes nothing.
    ///
    /// # Errors
    /// [`InsufficientCapacity`] when `n > self.capacity()`; the state is
    /// unchanged.
    fn check_n(
        &self,
        state: &mut Self::State,
        now: Timestamp,
        n: u32,
    ) -> Result<RateDecision, InsufficientCapacity>;

    /// The largest `n` that [`Algorithm::check_n`] would admit at `now`
    /// (for `x-ratelimit-remaining`); does not change the state.
    fn remaining(&self, state: &Self::State, now: Timestamp) -> u64;

    /// The earliest instant from which `state`, left untouched, behaves
    /// exactly like [`Algorithm::fresh`] (keyed limiters evict such keys
    /// first: dropping them loses nothing).
    fn fresh_at(&self, state: &Self::State) -> Timestamp;

    /// The largest `n` ever admissible in one check.
    fn capacity(&self) -> u64;

    /// Memory outside `state` itself that a check reads first (a log's
    /// entries once they have moved to the heap), for a caller's prefetch
    /// ([`Keyed::memory_for`]); empty for states held inline.
    fn out_of_line(_state: &Self::State) -> *const [u8] {
        NO_MEMORY
    }
}

/// One algorithm over one state: a global (unkeyed) limiter.
///
/// Call order: [`Limiter::new`] once, then [`Limiter::check`] /
/// [`Limiter::check_n`] per request with non-decreasing `now`.
#[derive(Clone, Debug)]
pub struct Limiter<A: Algorithm> {
    algorithm: A,
    state: A::State,
}

impl<A: Algorithm> Limiter<A> {
    /// A limiter in the fresh state at `now` (a full bucket, an empty window).
    pub fn new(algorithm: A, now: Timestamp) -> Self {
        let state = algorithm.fresh(now);
        Limiter { algorithm, state }
    }

    /// Checks one unit at `now`.
    #[inline]
    pub fn check(&mut self, now: Timestamp) -> RateDecision {
        // Every algorithm's capacity is >= 1 (a constructor invariant), so
        // the error arm is unreachable; it still answers "reject forever".
        self.algorithm
            .check_n(&mut self.state, now, 1)
            .unwrap_or(RateDecision::Reject {
                retry_after: Span::MAX,
            })
    }

    /// Checks `n` units at `now`, all or nothing.
    ///
    /// # Errors
    /// [`InsufficientCapacity`] when `n` exceeds the capacity.
    #[inline]
    pub fn check_n(
        &mut self,
        now: Timestamp,
        n: u32,
    ) -> Result<RateDecision, InsufficientCapacity> {
        self.algorithm.check_n(&mut self.state, now, n)
    }

    /// The largest `n` admissible at `now`.
    pub fn remaining(&self, now: Timestamp) -> u64 {
        self.algorithm.remaining(&self.state, now)
    }

    /// The algorithm's parameters.
    pub fn algorithm(&self) -> &A {
        &self.algorithm
    }

    /// The current state (as of the last check).
    pub fn state(&self) -> &A::State {
        &self.state
    }
}

/// Counters of a [`RateLimiter`]; all are totals since construction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitStats {
    /// Checks answered `Admit` because they conformed.
    pub admitted: u64,
    /// Checks answered `Reject` (never counted in shadow mode).
    pub rejected: u64,
    /// Shadow mode only: checks that would have been rejected but were
    /// answered `Admit` (Envoy's `enabled` minus `enforced`).
    pub shadow_admitted: u64,
    /// `check_n` calls that failed with [`InsufficientCapacity`].
    pub insufficient_capacity: u64,
    /// Keyed scope: keys evicted while equivalent to a fresh key (lossless).
    pub evicted_fresh: u64,
    /// Keyed scope: keys evicted while still limiting (least recently used);
    /// each one resets a client's limit early.
    pub evicted_active: u64,
}

/// The configured limiter: one strategy, global or per client, optionally in
/// shadow mode. Built from a [`RateLimitPolicy`]; see the module docs for the
/// call order.
///
/// In shadow mode every check updates the state exactly as if enforced (a
/// would-be rejection takes nothing), then answers `Admit` and counts
/// [`RateLimitStats::shadow_admitted`].
#[derive(Clone, Debug)]
pub struct RateLimiter {
    inner: Inner,
    shadow: bool,
    stats: RateLimitStats,
}

#[derive(Clone, Debug)]
enum Inner {
    TokenBucket(Limiter<TokenBucket>),
    Gcra(Limiter<Gcra>),
    SlidingLog(Limiter<SlidingLog>),
    TwoWindow(Limiter<TwoWindow>),
    KeyedTokenBucket(Keyed<TokenBucket>),
    KeyedGcra(Keyed<Gcra>),
    KeyedSlidingLog(Keyed<SlidingLog>),
    KeyedTwoWindow(Keyed<TwoWindow>),
}

/// Runs `$body` with `$l` bound to the global limiter or `$k` to the keyed one.
macro_rules! dispatch {
    ($inner:expr, global $l:ident => $g:expr, keyed $k:ident => $kb:expr) => {
        match $inner {
            Inner::TokenBucket($l) => $g,
            Inner::Gcra($l) => $g,
            Inner::SlidingLog($l) => $g,
            Inner::TwoWindow($l) => $g,
            Inner::KeyedTokenBucket($k) => $kb,
            Inner::KeyedGcra($k) => $kb,
            Inner::KeyedSlidingLog($k) => $kb,
            Inner::KeyedTwoWindow($k) => $kb,
        }
    };
}

impl RateLimiter {
    /// A limiter for `policy`, fresh at `now`. Token buckets start full and
    /// their fill timer is anchored at `now` (for the keyed scope, one timer
    /// shared by every key, as Envoy's descriptor buckets).
    pub fn new(policy: &RateLimitPolicy, now: Timestamp) -> Self {
        let max_keys = policy.max_keys();
        let inner = match (policy.algorithm(), policy.scope()) {
            (AlgorithmPolicy::TokenBucket(a), KeyScope::Global) => {
                Inner::TokenBucket(Limiter::new(a.with_epoch(now), now))
            }
            (AlgorithmPolicy::Gcra(a), KeyScope::Global) => Inner::Gcra(Limiter::new(a, now)),
            (AlgorithmPolicy::SlidingLog(a), KeyScope::Global) => {
                Inner::SlidingLog(Limiter::new(a, now))
            }
            (AlgorithmPolicy::TwoWindow(a), KeyScope::Global) => {
                Inner::TwoWindow(Limiter::new(a, now))
            }
            (AlgorithmPolicy::TokenBucket(a), KeyScope::Client) => {
                Inner::KeyedTokenBucket(Keyed::new(a.with_epoch(now), max_keys))
            }
            (AlgorithmPolicy::Gcra(a), KeyScope::Client) => {
                Inner::KeyedGcra(Keyed::new(a, max_keys))
            }
            (AlgorithmPolicy::SlidingLog(a), KeyScope::Client) => {
                Inner::KeyedSlidingLog(Keyed::new(a, max_keys))
            }
            (AlgorithmPolicy::TwoWindow(a), KeyScope::Client) => {
                Inner::KeyedTwoWindow(Keyed::new(a, max_keys))
            }
        };
        RateLimiter {
            inner,
            shadow: policy.shadow(),
            stats: RateLimitStats::default(),
        }
    }

    /// Checks one request of `client` at `now` (`client` is ignored for the
    /// global scope).
    #[inline]
    pub fn check(&mut self, now: Timestamp, client: u64) -> RateDecision {
        // Capacity >= 1 is a constructor invariant of every algorithm, so
        // `check_n(.., 1)` never fails; the fallback still rejects.
        self.check_n(now, client, 1)
            .unwrap_or(RateDecision::Reject {
                retry_after: Span::MAX,
            })
    }

    /// Makes room for `keys` clients in a keyed limiter (at most its
    /// `max_keys`) before the first check: a sizing hint for a driver that
    /// knows how many clients to expect (see [`Keyed::reserve`]); nothing
    /// for a global limiter. Decisions do not depend on it.
    pub fn reserve_keys(&mut self, keys: usize) {
        dispatch!(&mut self.inner, global _l => {}, keyed k => k.reserve(keys));
    }

    /// The memory a check of `client` reads at `stage`, to prefetch
    /// ([`Keyed::memory_for`]); empty for a global limiter.
    #[inline]
    pub fn memory_for(&self, client: u64, stage: Warm) -> *const [u8] {
        dispatch!(&self.inner,
            global _l => NO_MEMORY,
            keyed k => k.memory_for(client, stage))
    }

    /// Checks `n` units for `client` at `now`, all or nothing.
    ///
    /// # Errors
    /// [`InsufficientCapacity`] when `n` can never be admitted (counted in
    /// [`RateLimitStats::insufficient_capacity`], also in shadow mode).
    #[inline]
    pub fn check_n(
        &mut self,
        now: Timestamp,
        client: u64,
        n: u32,
    ) -> Result<RateDecision, InsufficientCapacity> {
        let result = dispatch!(&mut self.inner,
            global l => l.check_n(now, n),
            keyed k => k.check_n(now, client, n));
        match result {
            Ok(RateDecision::Admit) => self.stats.admitted += 1,
            Ok(RateDecision::Reject { .. }) if self.shadow => {
                self.stats.shadow_admitted += 1;
                return Ok(RateDecision::Admit);
            }
            Ok(RateDecision::Reject { .. }) => self.stats.rejected += 1,
            Err(_) => self.stats.insufficient_capacity += 1,
        }
        result
    }

    /// The largest `n` that `client` could take at `now` (for
    /// `x-ratelimit-remaining`); does not change any state.
    pub fn remaining(&self, now: Timestamp, client: u64) -> u64 {
        dispatch!(&self.inner,
            global l => l.remaining(now),
            keyed k => k.remaining(now, client))
    }

    /// Whether this limiter only counts (shadow mode).
    pub fn is_shadow(&self) -> bool {
        self.shadow
    }

    /// Number of client keys currently held (1 for the global scope).
    pub fn keys_held(&self) -> usize {
        dispatch!(&self.inner, global _l => 1, keyed k => k.len())
    }

    /// Counters since construction.
    pub fn stats(&self) -> RateLimitStats {
        let mut stats = self.stats;
        let keyed = dispatch!(&self.inner,
            global _l => KeyedStats::default(),
            keyed k => k.stats());
        stats.evicted_fresh = keyed.evicted_fresh;
        stats.evicted_active = keyed.evicted_active;
        stats
    }
}
