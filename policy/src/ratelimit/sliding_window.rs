//! Sliding-window limiters: the exact log ([`SlidingLog`]) and the two-window
//! weighted approximation ([`TwoWindow`]).
//!
//! Neither Envoy, governor nor tower ships a sliding window (tower's
//! `RateLimit` is a *fixed* window, which lets `2 × num` through across a
//! boundary; GCRA has no boundary burst but admits `burst + d / period` in
//! any `d`). These two give the scenario's `strategy = "sliding-window"`.

use std::collections::VecDeque;

use super::{Algorithm, InsufficientCapacity, NO_MEMORY, RateDecision, memory_of};
use crate::config::ConfigError;
use crate::time::{Span, Timestamp};

/// Largest `max` accepted by the exact log: the ring holds up to `max`
/// entries of 16 bytes per key.
pub const LOG_MAX_LIMIT: u64 = 1_000_000;

/// Exact sliding-window log: admits a request at `now` iff the admits in
/// `(now − window, now]` plus the request's `n` are at most `max`.
///
/// Boundary behaviour: an admit at `a` counts for checks at
/// `a <= now < a + window` and no longer at `now = a + window`. Hence every
/// half-open interval `[s, s + window)` holds at most `max` admits (tested),
/// while a closed interval `[s, s + window]` can hold `2 × max` (a full
/// window at `s`, another at `s + window`).
///
/// Memory: the ring stores one `(instant, count)` entry per admitting check
/// (checks at the same instant merge), so it never holds more than `max`
/// entries; up to two live in the key's state, more on the heap. `now`
/// earlier than the newest entry is recorded at the newest entry's instant,
/// keeping the ring sorted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlidingLog {
    window: Span,
    max: u64,
}

/// The per-key state of a [`SlidingLog`]: admit instants still in the window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogState {
    entries: Ring,
    count: u64,
}

impl LogState {
    /// Admitted units recorded (including ones that expired since the last
    /// access).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Ring entries held (<= `max`).
    pub fn entries(&self) -> usize {
        self.entries.len()
    }
}

/// Entries a log keeps in the key's own state before it moves to the heap.
/// Most clients of a per-client limit have one or two admits in the window
/// (the seed's 200 000 clients send one or two a minute), and keeping those
/// inline saves a cache miss per check on maps larger than the CPU caches.
const INLINE: usize = 2;

/// A FIFO of `(instant, count)` entries: inline while it holds at most
/// [`INLINE`], else a `VecDeque` (given back when the log empties).
#[derive(Clone, Debug)]
enum Ring {
    Inline {
        len: u8,
        items: [(Timestamp, u32); INLINE],
    },
    Heap(VecDeque<(Timestamp, u32)>),
}

impl Default for Ring {
    fn default() -> Self {
        Ring::Inline {
            len: 0,
            items: [(Timestamp::ZERO, 0); INLINE],
        }
    }
}

/// Equal when they hold the same entries, wherever they are stored.
impl PartialEq for Ring {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Ring {}

impl Ring {
    fn len(&self) -> usize {
        match self {
            Ring::Inline { len, .. } => usize::from(*len),
            Ring::Heap(v) => v.len(),
        }
    }

    fn front(&self) -> Option<&(Timestamp, u32)> {
        match self {
            Ring::Inline { len, items } => items[..usize::from(*len)].first(),
            Ring::Heap(v) => v.front(),
        }
    }

    fn pop_front(&mut self) {
        match self {
            Ring::Inline { len, items } => {
                if *len > 0 {
                    items.copy_within(1.., 0);
                    *len -= 1;
                }
            }
            Ring::Heap(v) => {
                v.pop_front();
                if v.is_empty() {
                    *self = Ring::default();
                }
            }
        }
    }

    fn back(&self) -> Option<&(Timestamp, u32)> {
        match self {
            Ring::Inline { len, items } => items[..usize::from(*len)].last(),
            Ring::Heap(v) => v.back(),
        }
    }

    fn back_mut(&mut self) -> Option<&mut (Timestamp, u32)> {
        match self {
            Ring::Inline { len, items } => items[..usize::from(*len)].last_mut(),
            Ring::Heap(v) => v.back_mut(),
        }
    }

    fn push_back(&mut self, entry: (Timestamp, u32)) {
        match self {
            Ring::Inline { len, items } if usize::from(*len) < INLINE => {
                items[usize::from(*len)] = entry;
                *len += 1;
            }
            Ring::Inline { items, .. } => {
                let mut v = VecDeque::with_capacity(2 * INLINE);
                v.extend(items.iter().copied());
                v.push_back(entry);
                *self = Ring::Heap(v);
            }
            Ring::Heap(v) => v.push_back(entry),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &(Timestamp, u32)> {
        let (a, b): (&[_], &[_]) = match self {
            Ring::Inline { len, items } => (&items[..usize::from(*len)], &[]),
            Ring::Heap(v) => v.as_slices(),
        };
        a.iter().chain(b)
    }
}

fn check_window(window: Span) -> Result<(), ConfigError> {
    if window.is_zero() {
        return Err(ConfigError::new(
            "window",
            format!("\"{window}\""),
            "a duration > 0",
        ));
    }
    Ok(())
}

impl SlidingLog {
    /// At most `max` (1..=1000000) units in any `window` (> 0).
    ///
    /// # Errors
    /// A [`ConfigError`] naming `window` or `max`.
    pub fn new(window: Span, max: u64) -> Result<Self, ConfigError> {
        check_window(window)?;
        if !(1..=LOG_MAX_LIMIT).contains(&max) {
            return Err(ConfigError::new(
                "max",
                max,
                "an integer from 1 to 1000000 for algorithm = \"log\" \
                 (use algorithm = \"two-window\" for larger limits)",
            ));
        }
        Ok(SlidingLog { window, max })
    }

    /// The window length.
    pub fn window(&self) -> Span {
        self.window
    }

    /// Units admitted per window.
    pub fn max(&self) -> u64 {
        self.max
    }

    fn expire(&self, state: &mut LogState, now: Timestamp) {
        while let Some(&(at, count)) = state.entries.front() {
            if at + self.window > now {
                break;
            }
            state.entries.pop_front();
            state.count -= u64::from(count);
        }
    }
}

impl Algorithm for SlidingLog {
    type State = LogState;

    /// The oldest entry of a log kept on the heap (the first a check reads).
    fn out_of_line(state: &LogState) -> *const [u8] {
        match &state.entries {
            Ring::Heap(v) => memory_of(v.front()),
            Ring::Inline { .. } => NO_MEMORY,
        }
    }

    fn fresh(&self, _now: Timestamp) -> LogState {
        LogState::default()
    }

    fn check_n(
        &self,
        state: &mut LogState,
        now: Timestamp,
        n: u32,
    ) -> Result<RateDecision, InsufficientCapacity> {
        if u64::from(n) > self.max {
            return Err(InsufficientCapacity { max_n: self.max });
        }
        if n == 0 {
            return Ok(RateDecision::Admit);
        }
        self.expire(state, now);
        if state.count + u64::from(n) <= self.max {
            match state.entries.back_mut() {
                // Same instant (or a regressed clock): merge into the newest
                // entry. The sum stays <= max <= u32::MAX.
                Some((at, count)) if *at >= now => *count += n,
                _ => state.entries.push_back((now, n)),
            }
            state.count += u64::from(n);
            return Ok(RateDecision::Admit);
        }
        // The oldest entries must expire until `n` fits; `count + n - max <=
        // count` because `n <= max`, so the walk always ends inside the ring.
        let need = state.count + u64::from(n) - self.max;
        let mut freed = 0;
        let mut at = now;
        for &(entry_at, count) in state.entries.iter() {
            freed += u64::from(count);
            if freed >= need {
                at = entry_at + self.window;
                break;
            }
        }
        Ok(RateDecision::Reject {
            retry_after: at - now,
        })
    }

    fn remaining(&self, state: &LogState, now: Timestamp) -> u64 {
        let expired: u64 = state
            .entries
            .iter()
            .take_while(|(at, _)| *at + self.window <= now)
            .map(|(_, count)| u64::from(*count))
            .sum();
        self.max - (state.count - expired)
    }

    fn fresh_at(&self, state: &LogState) -> Timestamp {
        state
            .entries
            .back()
            .map_or(Timestamp::ZERO, |(at, _)| *at + self.window)
    }

    fn capacity(&self) -> u64 {
        self.max
    }
}

/// Two-window weighted approximation (the "sliding window counter" of
/// Cloudflare and many gateways): fixed windows `[k·W, (k+1)·W)` aligned to
/// the epoch; a request of `n` at elapsed `e` into window `k` is admitted iff
/// `prev × (W − e) / W + cur + n <= max`, where `prev` and `cur` are the
/// admits in windows `k − 1` and `k`. The test is done in exact integer
/// arithmetic (`prev·(W − e) + (cur + n)·W <= max·W`), so there is no
/// rounding.
///
/// Guarantees (tested): every aligned window admits at most `max`; a sliding
/// window `[s, s + W)` that reaches `d` nanoseconds into window `k` admits at
/// most `max + A·(d − 1)/W`, where `A` is window `k − 1`'s count. Since
/// `A <= max` and `d <= W`, any sliding window admits at most `2·max − 1`
/// — the worst case is a full window followed by requests near the end of the
/// next. It needs two counters per key instead of a ring of `max` instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwoWindow {
    window: u64,
    max: u64,
}

/// The per-key state of a [`TwoWindow`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TwoWindowState {
    /// Index `k` of the current window.
    index: u64,
    previous: u64,
    current: u64,
}

impl TwoWindowState {
    /// Index `k` of the current window `[k·W, (k+1)·W)`.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Units admitted in window `k − 1`.
    pub fn previous(&self) -> u64 {
        self.previous
    }

    /// Units admitted in window `k`.
    pub fn current(&self) -> u64 {
        self.current
    }
}

impl TwoWindow {
    /// About `max` (1..=2^32−1) units per `window` (> 0).
    ///
    /// # Errors
    /// A [`ConfigError`] naming `window` or `max`.
    pub fn new(window: Span, max: u64) -> Result<Self, ConfigError> {
        check_window(window)?;
        if !(1..=u64::from(u32::MAX)).contains(&max) {
            return Err(ConfigError::new(
                "max",
                max,
                "an integer from 1 to 4294967295",
            ));
        }
        Ok(TwoWindow {
            window: window.as_nanos(),
            max,
        })
    }

    /// The window length.
    pub fn window(&self) -> Span {
        Span::from_nanos(self.window)
    }

    /// Units admitted per window (approximately, see the type docs).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Moves `state` to the window holding `now`; returns the elapsed time
    /// into it (0 if `now` went back before the current window).
    #[inline]
    fn roll(&self, state: &mut TwoWindowState, now: Timestamp) -> u64 {
        let k = now.as_nanos() / self.window;
        if k > state.index {
            state.previous = if k == state.index + 1 {
                state.current
            } else {
                0
            };
            state.current = 0;
            state.index = k;
        }
        now.as_nanos()
            .saturating_sub(state.index * self.window)
            .min(self.window - 1)
    }

    #[inline]
    fn fits(&self, previous: u64, current_plus_n: u64, elapsed: u64) -> bool {
        let w = u128::from(self.window);
        u128::from(previous) * (w - u128::from(elapsed)) + u128::from(current_plus_n) * w
            <= u128::from(self.max) * w
    }

    /// The earliest elapsed time `e >= 0` in a window with counts `previous`
    /// and `current` at which `n` fits, if any before the window ends.
    fn earliest_in_window(&self, previous: u64, current: u64, n: u64) -> Option<u64> {
        let room = self.max.checked_sub(current + n)?;
        if previous == 0 {
            return Some(0);
        }
        // prev·(W − e) <= room·W  ⇔  e >= W − room·W / prev.
        let w = u128::from(self.window);
        let slack = u128::from(room) * w / u128::from(previous);
        let e = w.saturating_sub(slack);
        (e < w).then_some(e as u64)
    }

    /// When a rejected `n` fits, counting only the passage of time.
    fn retry_at(&self, state: &TwoWindowState, elapsed: u64, n: u64) -> u64 {
        let start = state.index.saturating_mul(self.window);
        if let Some(e) = self.earliest_in_window(state.previous, state.current, n) {
            return start.saturating_add(e.max(elapsed));
        }
        let next = start.saturating_add(self.window);
        match self.earliest_in_window(state.current, 0, n) {
            Some(e) => next.saturating_add(e),
            // Two windows on, both counts are zero and `n <= max` fits.
            None => next.saturating_add(self.window),
        }
    }
}

impl Algorithm for TwoWindow {
    type State = TwoWindowState;

    fn fresh(&self, now: Timestamp) -> TwoWindowState {
        TwoWindowState {
            index: now.as_nanos() / self.window,
            previous: 0,
            current: 0,
        }
    }

    #[inline]
    fn check_n(
        &self,
        state: &mut TwoWindowState,
        now: Timestamp,
        n: u32,
    ) -> Result<RateDecision, InsufficientCapacity> {
        let n = u64::from(n);
        if n > self.max {
            return Err(InsufficientCapacity { max_n: self.max });
        }
        let elapsed = self.roll(state, now);
        if self.fits(state.previous, state.current + n, elapsed) {
            state.current += n;
            return Ok(RateDecision::Admit);
        }
        let at = self.retry_at(state, elapsed, n);
        Ok(RateDecision::Reject {
            retry_after: Span::from_nanos(at.saturating_sub(now.as_nanos())),
        })
    }

    fn remaining(&self, state: &TwoWindowState, now: Timestamp) -> u64 {
        let mut state = *state;
        let elapsed = self.roll(&mut state, now);
        let w = u128::from(self.window);
        let budget = (u128::from(self.max) * w)
            .saturating_sub(u128::from(state.previous) * (w - u128::from(elapsed)))
            / w;
        // budget <= max, so it fits in u64.
        (budget as u64).saturating_sub(state.current)
    }

    fn fresh_at(&self, state: &TwoWindowState) -> Timestamp {
        let windows_left = if state.current > 0 {
            2
        } else if state.previous > 0 {
            1
        } else {
            return Timestamp::ZERO;
        };
        Timestamp::from_nanos(
            state
                .index
                .saturating_add(windows_left)
                .saturating_mul(self.window),
        )
    }

    fn capacity(&self) -> u64 {
        self.max
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// The inline-first ring is a FIFO: after any pushes, pops and
        /// merges it holds what a `VecDeque` holds, and it gives its heap
        /// storage back when it empties.
        #[test]
        fn ring_is_a_fifo(ops in proptest::collection::vec(0u8..4, 0..200)) {
            let mut ring = Ring::default();
            let mut model: VecDeque<(Timestamp, u32)> = VecDeque::new();
            for (i, op) in ops.into_iter().enumerate() {
                let entry = (Timestamp::from_nanos(i as u64), i as u32);
                match op {
                    0 | 1 => {
                        ring.push_back(entry);
                        model.push_back(entry);
                    }
                    2 => {
                        ring.pop_front();
                        model.pop_front();
                    }
                    _ => {
                        if let (Some(r), Some(m)) = (ring.back_mut(), model.back_mut()) {
                            r.1 += 1;
                            m.1 += 1;
                        }
                    }
                }
                proptest::prop_assert_eq!(ring.len(), model.len());
                proptest::prop_assert!(ring.iter().eq(model.iter()));
                proptest::prop_assert_eq!(ring.front(), model.front());
                proptest::prop_assert_eq!(ring.back(), model.back());
                if model.is_empty() {
                    let inline = matches!(ring, Ring::Inline { .. });
                    proptest::prop_assert!(inline, "an empty ring keeps no heap storage");
                }
            }
        }
    }
    use super::*;

    fn s(v: u64) -> Timestamp {
        Timestamp::from_nanos(v * 1_000_000_000)
    }

    #[test]
    fn log_expires_exactly_at_window_end() {
        let log = SlidingLog::new(Span::from_secs(10), 2).expect("valid");
        let mut st = log.fresh(s(0));
        assert!(log.check_n(&mut st, s(1), 1).expect("fits").is_admit());
        assert!(log.check_n(&mut st, s(2), 1).expect("fits").is_admit());
        assert_eq!(
            log.check_n(&mut st, s(5), 1),
            Ok(RateDecision::Reject {
                retry_after: Span::from_secs(6)
            })
        );
        assert!(log.check_n(&mut st, s(11), 1).expect("fits").is_admit());
        assert_eq!(st.entries(), 2);
        assert_eq!(
            log.check_n(&mut st, s(11), 2),
            Ok(RateDecision::Reject {
                retry_after: Span::from_secs(10)
            })
        );
    }

    #[test]
    fn two_window_weights_previous_window() {
        let tw = TwoWindow::new(Span::from_secs(10), 10).expect("valid");
        let mut st = tw.fresh(s(0));
        for _ in 0..10 {
            assert!(tw.check_n(&mut st, s(9), 1).expect("fits").is_admit());
        }
        // At 12 s: 10 × 8/10 = 8 carried, so 2 fit.
        assert_eq!(tw.remaining(&st, s(12)), 2);
        assert!(tw.check_n(&mut st, s(12), 2).expect("fits").is_admit());
        // Next fits when 10·(10 − e)/10 + 2 + 1 <= 10 → e >= 3 s.
        assert_eq!(
            tw.check_n(&mut st, s(12), 1),
            Ok(RateDecision::Reject {
                retry_after: Span::from_secs(1)
            })
        );
        assert_eq!(tw.fresh_at(&st), s(30));
    }
}
