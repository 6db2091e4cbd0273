//! Sliding windows of call outcomes for the rate-based breaker: resilience4j's
//! count-based ring (`FixedSizeSlidingWindowMetrics`) and time-based window of
//! one-second buckets (`SlidingTimeWindowMetrics`), plus the threshold check.

use crate::time::Timestamp;

const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Threshold fractions are stored in parts per million.
pub(crate) const PPM: u64 = 1_000_000;

/// Aggregated outcomes of the calls inside a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failed: u64,
    pub(crate) slow: u64,
    pub(crate) slow_failed: u64,
}

impl Counts {
    #[inline]
    fn add(&mut self, failed: bool, slow: bool) {
        self.calls += 1;
        self.failed += u64::from(failed);
        self.slow += u64::from(slow);
        self.slow_failed += u64::from(failed && slow);
    }

    #[inline]
    fn remove_bucket(&mut self, bucket: &Bucket) {
        // Invariant: every bucket's counts are included in the totals.
        self.calls -= u64::from(bucket.calls);
        self.failed -= u64::from(bucket.failed);
        self.slow -= u64::from(bucket.slow);
        self.slow_failed -= u64::from(bucket.slow_failed);
    }
}

/// Trip thresholds: rates in parts per million (1..=`PPM`, as config
/// validation leaves them) and the minimum number of buffered calls before
/// rates are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Thresholds {
    pub(crate) failure_ppm: u64,
    pub(crate) slow_ppm: u64,
    pub(crate) min_calls: u64,
}

/// What a window says about its thresholds (resilience4j's `Result`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Fewer than `min_calls` buffered: rates are not computed.
    BelowMinimumCalls,
    /// Both rates are below their thresholds.
    BelowThresholds,
    /// The failure rate or the slow-call rate reached its threshold (`>=`).
    Exceeded,
}

impl Thresholds {
    /// Exact rational comparison: `failed / calls >= failure_ppm / 10^6`.
    #[inline]
    pub(crate) fn verdict(&self, counts: Counts) -> Verdict {
        if counts.calls == 0 || counts.calls < self.min_calls {
            return Verdict::BelowMinimumCalls;
        }
        if self.exceeds(counts) {
            Verdict::Exceeded
        } else {
            Verdict::BelowThresholds
        }
    }

    /// Whether `counts` (at least one call) reach a rate threshold.
    #[inline(always)]
    fn exceeds(&self, counts: Counts) -> bool {
        // Both sides are at most `calls × PPM` (`failed`, `slow` <= `calls`;
        // the thresholds <= PPM): u64 is exact up to 1.8 × 10^13 calls,
        // which a count window (<= 10^5) never nears; a long time window
        // with saturated buckets takes the u128 path.
        if counts.calls <= u64::MAX / PPM {
            counts.failed * PPM >= self.failure_ppm * counts.calls
                || counts.slow * PPM >= self.slow_ppm * counts.calls
        } else {
            let calls = u128::from(counts.calls);
            u128::from(counts.failed) * u128::from(PPM) >= u128::from(self.failure_ppm) * calls
                || u128::from(counts.slow) * u128::from(PPM) >= u128::from(self.slow_ppm) * calls
        }
    }
}

/// Bits per lane of [`CountWindow`]'s packed counters: a count window holds
/// at most `MAX_WINDOW_CALLS` (10^5 < 2^17) outcomes, so three lanes of 21
/// bits never carry into each other.
const LANE_BITS: u32 = 21;
const LANE_MASK: u64 = (1 << LANE_BITS) - 1;
/// What one outcome adds to the packed counters, by its flags: `failed` in
/// lane 0, `slow` in lane 1, `slow_failed` in lane 2.
const LANE_ADD: [u64; 4] = [
    0,
    1,
    1 << LANE_BITS,
    1 | (1 << LANE_BITS) | (1 << (2 * LANE_BITS)),
];
const _: () = assert!(
    (super::MAX_WINDOW_CALLS as u64) <= LANE_MASK
        && (super::MAX_HALF_OPEN_CALLS as u64) <= LANE_MASK
);

/// Ring of the last `size` outcomes (count-based window).
///
/// The failed, slow and slow-failed counts live in one `u64` of three
/// lanes, so recording an outcome (evict the oldest, add the newest) is two
/// table lookups and two additions, without branches on the outcome: the
/// breaker records every call it admits.
///
/// The window is judged against one [`Thresholds`], given at creation: once
/// full (its steady state) the call count is the window size, so the rate
/// thresholds are whole counts computed once ([`CountWindow::record_verdict`]).
#[derive(Clone, Debug)]
pub(crate) struct CountWindow {
    ring: Box<[u8]>,
    head: usize,
    /// Outcomes buffered, at most `ring.len()`.
    len: u64,
    packed: u64,
    /// The fewest failed calls of a full window that reach the failure rate
    /// threshold: `ceil(failure_ppm × size / PPM)`.
    full_failed: u64,
    /// The same for slow calls and the slow-call rate threshold.
    full_slow: u64,
}

impl CountWindow {
    /// A window of `size` calls judged against `thresholds`; `size` is at
    /// least 1 (config validation) and at most `LANE_MASK`, and the minimum
    /// number of calls is at most `size` (the breaker clamps it).
    pub(crate) fn new(size: usize, thresholds: &Thresholds) -> Self {
        debug_assert!(size as u64 <= LANE_MASK, "count window of {size} calls");
        let size = size.max(1);
        debug_assert!(thresholds.min_calls <= size as u64);
        // `ppm × size` <= 10^6 × 2^21: exact in u64.
        let whole = |ppm: u64| (ppm * size as u64).div_ceil(PPM);
        CountWindow {
            ring: vec![0; size].into_boxed_slice(),
            head: 0,
            len: 0,
            packed: 0,
            full_failed: whole(thresholds.failure_ppm),
            full_slow: whole(thresholds.slow_ppm),
        }
    }

    /// Records an outcome and judges the window against the thresholds it
    /// was created with: `thresholds.verdict(self.record(failed, slow))`.
    /// A full window holds `size` >= `min_calls` calls, and the test
    /// `failed × PPM >= failure_ppm × size` holds exactly when `failed >=
    /// full_failed` (the same for slow calls), so the full window compares
    /// two counts.
    ///
    /// One test (full or not) decides both how to record and how to judge.
    #[inline(always)]
    pub(crate) fn record_verdict(
        &mut self,
        failed: bool,
        slow: bool,
        thresholds: &Thresholds,
    ) -> Verdict {
        if !self.push(failed, slow) {
            return thresholds.verdict(self.counts());
        }
        let failed_calls = self.packed & LANE_MASK;
        let slow_calls = (self.packed >> LANE_BITS) & LANE_MASK;
        let verdict = if failed_calls >= self.full_failed || slow_calls >= self.full_slow {
            Verdict::Exceeded
        } else {
            Verdict::BelowThresholds
        };
        debug_assert_eq!(verdict, thresholds.verdict(self.counts()));
        verdict
    }

    #[inline(always)]
    pub(crate) fn record(&mut self, failed: bool, slow: bool) -> Counts {
        self.push(failed, slow);
        self.counts()
    }

    /// Records an outcome (the oldest leaves a full window); returns whether
    /// the window was full, so that the one test decides both how to record
    /// and how a caller judges.
    #[inline(always)]
    fn push(&mut self, failed: bool, slow: bool) -> bool {
        let flags = usize::from(failed) | (usize::from(slow) << 1);
        let n = self.ring.len();
        let slot = &mut self.ring[self.head];
        let evicted = usize::from(*slot & 3);
        *slot = flags as u8;
        self.head += 1;
        if self.head == n {
            self.head = 0;
        }
        if self.len != n as u64 {
            self.len += 1;
            self.packed += LANE_ADD[flags];
            return false;
        }
        // Invariant: the evicted outcome was added when it was recorded, so
        // no lane underflows.
        self.packed = self.packed - LANE_ADD[evicted] + LANE_ADD[flags];
        true
    }

    #[inline(always)]
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            calls: self.len,
            failed: self.packed & LANE_MASK,
            slow: (self.packed >> LANE_BITS) & LANE_MASK,
            slow_failed: self.packed >> (2 * LANE_BITS),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.packed = 0;
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    calls: u32,
    failed: u32,
    slow: u32,
    slow_failed: u32,
}

impl Bucket {
    #[inline]
    fn add(&mut self, failed: bool, slow: bool) {
        self.calls = self.calls.saturating_add(1);
        self.failed = self.failed.saturating_add(u32::from(failed));
        self.slow = self.slow.saturating_add(u32::from(slow));
        self.slow_failed = self.slow_failed.saturating_add(u32::from(failed && slow));
    }
}

/// `N` one-second buckets keyed by the second of `now` (time-based window):
/// the head bucket holds the current second, the others the `N - 1` before.
#[derive(Clone, Debug)]
pub(crate) struct TimeWindow {
    buckets: Box<[Bucket]>,
    head: usize,
    head_sec: u64,
    counts: Counts,
}

impl TimeWindow {
    /// A window of `seconds` buckets; `seconds` is at least 1 (config validation).
    pub(crate) fn new(seconds: usize) -> Self {
        TimeWindow {
            buckets: vec![Bucket::default(); seconds.max(1)].into_boxed_slice(),
            head: 0,
            head_sec: 0,
            counts: Counts::default(),
        }
    }

    /// Moves the head to the second of `now`, evicting buckets that left the
    /// window. A `now` earlier than the head's second records into the head.
    #[inline]
    fn advance(&mut self, now: Timestamp) {
        let sec = now.as_nanos() / NANOS_PER_SEC;
        if sec <= self.head_sec {
            return;
        }
        let n = self.buckets.len();
        // `min` with the bucket count keeps the loop bounded by the window size.
        let steps = (sec - self.head_sec).min(n as u64) as usize;
        for _ in 0..steps {
            self.head += 1;
            if self.head == n {
                self.head = 0;
            }
            let evicted = std::mem::take(&mut self.buckets[self.head]);
            self.counts.remove_bucket(&evicted);
        }
        self.head_sec = sec;
    }

    #[inline]
    pub(crate) fn record(&mut self, now: Timestamp, failed: bool, slow: bool) -> Counts {
        self.advance(now);
        self.buckets[self.head].add(failed, slow);
        self.counts.add(failed, slow);
        self.counts
    }

    /// The counts the window would hold at `now`, without moving it.
    pub(crate) fn counts_at(&self, now: Timestamp) -> Counts {
        let sec = now.as_nanos() / NANOS_PER_SEC;
        if sec <= self.head_sec {
            return self.counts;
        }
        let n = self.buckets.len();
        let steps = sec - self.head_sec;
        if steps >= n as u64 {
            return Counts::default();
        }
        let mut counts = self.counts;
        for step in 1..=steps as usize {
            counts.remove_bucket(&self.buckets[(self.head + step) % n]);
        }
        counts
    }

    pub(crate) fn clear(&mut self) {
        self.buckets.fill(Bucket::default());
        self.counts = Counts::default();
    }
}

/// The closed-state window of a rate-based breaker.
#[derive(Clone, Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    #[inline(always)]
    pub(crate) fn record(&mut self, now: Timestamp, failed: bool, slow: bool) -> Counts {
        match self {
            Window::Count(w) => w.record(failed, slow),
            Window::Time(w) => w.record(now, failed, slow),
        }
    }

    /// Records an outcome and judges the window against `thresholds` (for a
    /// count window, the thresholds it was created with).
    #[inline(always)]
    pub(crate) fn record_verdict(
        &mut self,
        now: Timestamp,
        failed: bool,
        slow: bool,
        thresholds: &Thresholds,
    ) -> Verdict {
        match self {
            Window::Count(w) => w.record_verdict(failed, slow, thresholds),
            Window::Time(w) => thresholds.verdict(w.record(now, failed, slow)),
        }
    }

    pub(crate) fn counts_at(&self, now: Timestamp) -> Counts {
        match self {
            Window::Count(w) => w.counts(),
            Window::Time(w) => w.counts_at(now),
        }
    }

    pub(crate) fn clear(&mut self) {
        match self {
            Window::Count(w) => w.clear(),
            Window::Time(w) => w.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Span;

    /// Thresholds for tests of the counts alone.
    const ANY: Thresholds = Thresholds {
        failure_ppm: PPM / 2,
        slow_ppm: PPM,
        min_calls: 1,
    };

    fn at_secs(s: u64) -> Timestamp {
        Timestamp::ZERO + Span::from_secs(s)
    }

    #[test]
    fn count_window_keeps_the_last_n_outcomes() {
        let mut w = CountWindow::new(3, &ANY);
        w.record(true, false);
        w.record(true, true);
        w.record(false, true);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 3,
                failed: 2,
                slow: 2,
                slow_failed: 1
            }
        );
        // The first failure falls out.
        let c = w.record(false, false);
        assert_eq!((c.calls, c.failed, c.slow, c.slow_failed), (3, 1, 2, 1));
        // The slow failure falls out.
        let c = w.record(false, false);
        assert_eq!((c.calls, c.failed, c.slow, c.slow_failed), (3, 0, 1, 0));
        w.clear();
        assert_eq!(w.counts(), Counts::default());
    }

    #[test]
    fn time_window_evicts_buckets_older_than_the_window() {
        let mut w = TimeWindow::new(3);
        w.record(at_secs(10), true, false);
        w.record(at_secs(11), false, false);
        w.record(at_secs(12), true, false);
        assert_eq!(w.counts.calls, 3);
        // Second 13: the bucket of second 10 leaves.
        assert_eq!(w.counts_at(at_secs(13)).calls, 2);
        assert_eq!(w.counts_at(at_secs(13)).failed, 1);
        let c = w.record(at_secs(13), false, false);
        assert_eq!((c.calls, c.failed), (3, 1));
        // Far in the future everything is gone.
        assert_eq!(w.counts_at(at_secs(100)), Counts::default());
        let c = w.record(at_secs(100), false, true);
        assert_eq!((c.calls, c.slow), (1, 1));
    }

    #[test]
    fn thresholds_compare_with_greater_or_equal() {
        let th = Thresholds {
            failure_ppm: 500_000,
            slow_ppm: PPM,
            min_calls: 2,
        };
        let counts = |calls, failed, slow| Counts {
            calls,
            failed,
            slow,
            slow_failed: 0,
        };
        assert_eq!(th.verdict(counts(1, 1, 0)), Verdict::BelowMinimumCalls);
        assert_eq!(th.verdict(counts(2, 1, 0)), Verdict::Exceeded);
        assert_eq!(th.verdict(counts(3, 1, 0)), Verdict::BelowThresholds);
        assert_eq!(th.verdict(counts(3, 0, 3)), Verdict::Exceeded);
        assert_eq!(th.verdict(counts(3, 0, 2)), Verdict::BelowThresholds);
    }

    /// The packed count window against the obvious reference: a queue of
    /// the last `size` outcomes, counted from scratch after every record.
    #[test]
    fn count_window_matches_a_recount_of_the_last_n_outcomes() {
        use rand_core::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
        for size in [1usize, 2, 3, 7, 100, 1000] {
            let mut w = CountWindow::new(size, &ANY);
            let mut last = std::collections::VecDeque::new();
            for i in 0..5 * size + 50 {
                let bits = rng.next_u32();
                // Mostly one kind at a time, so lanes run near full too.
                let (failed, slow) = if (i / size.max(7)) % 2 == 0 {
                    (bits & 7 != 0, bits & 8 != 0)
                } else {
                    (bits & 1 != 0, bits & 2 != 0)
                };
                let got = w.record(failed, slow);
                last.push_back((failed, slow));
                if last.len() > size {
                    last.pop_front();
                }
                let want = last.iter().fold(Counts::default(), |mut c, &(f, s)| {
                    c.add(f, s);
                    c
                });
                assert_eq!(got, want, "size {size}, record {i}");
                assert_eq!(w.counts(), want);
                if i == 3 * size {
                    w.clear();
                    last.clear();
                }
            }
        }
    }

    #[test]
    fn a_full_window_of_the_largest_size_keeps_every_lane_apart() {
        let size = crate::breaker::MAX_WINDOW_CALLS as usize;
        let mut w = CountWindow::new(size, &ANY);
        for _ in 0..size {
            w.record(true, true);
        }
        let all = Counts {
            calls: size as u64,
            failed: size as u64,
            slow: size as u64,
            slow_failed: size as u64,
        };
        assert_eq!(w.counts(), all);
        let c = w.record(false, true);
        assert_eq!(
            (c.failed, c.slow, c.slow_failed),
            (all.failed - 1, all.slow, all.slow_failed - 1)
        );
    }

    /// The u64 shortcut of the rate comparison agrees with exact u128
    /// arithmetic, including at the switch-over and past it.
    #[test]
    fn thresholds_agree_with_exact_rational_comparison() {
        use rand_core::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        let exact = |th: &Thresholds, c: Counts| {
            let calls = u128::from(c.calls);
            u128::from(c.failed) * u128::from(PPM) >= u128::from(th.failure_ppm) * calls
                || u128::from(c.slow) * u128::from(PPM) >= u128::from(th.slow_ppm) * calls
        };
        let edge = u64::MAX / PPM;
        for i in 0..20_000u64 {
            let th = Thresholds {
                failure_ppm: 1 + rng.next_u64() % PPM,
                slow_ppm: 1 + rng.next_u64() % PPM,
                min_calls: 1,
            };
            let calls = match i % 4 {
                0 => 1 + rng.next_u64() % 200,
                1 => edge - 2 + rng.next_u64() % 5,
                2 => rng.next_u64().max(1),
                _ => 1 + rng.next_u64() % 100_000,
            };
            let part = |r: u64| {
                if r.is_multiple_of(3) {
                    calls
                } else {
                    r % (calls + 1)
                }
            };
            let c = Counts {
                calls,
                failed: part(rng.next_u64()),
                slow: part(rng.next_u64()),
                slow_failed: 0,
            };
            let want = if exact(&th, c) {
                Verdict::Exceeded
            } else {
                Verdict::BelowThresholds
            };
            assert_eq!(th.verdict(c), want, "{th:?} {c:?}");
        }
    }

    /// A count window's verdict (whole-count thresholds once full) is the
    /// thresholds' verdict on its counts, for any size, rates and minimum.
    #[test]
    fn count_window_verdict_matches_the_thresholds_verdict() {
        use rand_core::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(17);
        for round in 0..400u64 {
            let size = match round % 4 {
                0 => 1 + (rng.next_u64() % 4) as usize,
                1 => 1 + (rng.next_u64() % 20) as usize,
                2 => 100,
                _ => 1 + (rng.next_u64() % 2000) as usize,
            };
            // Rates on and off whole multiples of 1 / size, 100 % included.
            let ppm = |r: u64| match r % 3 {
                0 => PPM,
                1 => (PPM / size as u64) * (1 + r % size as u64),
                _ => 1 + r % PPM,
            };
            let th = Thresholds {
                failure_ppm: ppm(rng.next_u64()),
                slow_ppm: ppm(rng.next_u64()),
                min_calls: rng.next_u64() % (size as u64 + 1),
            };
            let mut w = CountWindow::new(size, &th);
            let bias = rng.next_u64() % 8;
            for i in 0..3 * size + 10 {
                let bits = rng.next_u64();
                let (failed, slow) = (bits % 8 < bias, (bits >> 3) % 8 < bias / 2);
                let before = w.clone();
                let got = w.record_verdict(failed, slow, &th);
                let mut plain = before;
                let want = th.verdict(plain.record(failed, slow));
                assert_eq!(got, want, "{th:?} size {size} record {i}");
                assert_eq!(w.counts(), plain.counts());
            }
        }
    }
}
