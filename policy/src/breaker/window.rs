//! Sliding windows of call outcomes for the rate-based breaker: resilience4j's
//! count-based ring (`FixedSizeSlidingWindowMetrics`) and time-based window of
//! one-second buckets (`SlidingTimeWindowMetrics`), plus the threshold check.

use crate::time::Timestamp;

const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Threshold fractions are stored in parts per million.
pub(crate) const PPM: u64 = 1_000_000;

const FAILED: u8 = 1;
const SLOW: u8 = 2;

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
    fn remove_flags(&mut self, flags: u8) {
        let failed = flags & FAILED != 0;
        let slow = flags & SLOW != 0;
        // Invariant: the removed outcome was added earlier, so nothing underflows.
        self.calls -= 1;
        self.failed -= u64::from(failed);
        self.slow -= u64::from(slow);
        self.slow_failed -= u64::from(failed && slow);
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

/// Trip thresholds: rates in parts per million and the minimum number of
/// buffered calls before rates are computed.
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
        let calls = u128::from(counts.calls);
        let failed = u128::from(counts.failed) * u128::from(PPM);
        let slow = u128::from(counts.slow) * u128::from(PPM);
        if failed >= u128::from(self.failure_ppm) * calls
            || slow >= u128::from(self.slow_ppm) * calls
        {
            Verdict::Exceeded
        } else {
            Verdict::BelowThresholds
        }
    }
}

/// Ring of the last `size` outcomes (count-based window).
#[derive(Clone, Debug)]
pub(crate) struct CountWindow {
    ring: Box<[u8]>,
    head: usize,
    len: usize,
    counts: Counts,
}

impl CountWindow {
    /// A window of `size` calls; `size` is at least 1 (config validation).
    pub(crate) fn new(size: usize) -> Self {
        CountWindow {
            ring: vec![0; size.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
            counts: Counts::default(),
        }
    }

    #[inline(always)]
    pub(crate) fn record(&mut self, failed: bool, slow: bool) -> Counts {
        let flags = (u8::from(failed) * FAILED) | (u8::from(slow) * SLOW);
        if self.len == self.ring.len() {
            self.counts.remove_flags(self.ring[self.head]);
        } else {
            self.len += 1;
        }
        self.ring[self.head] = flags;
        self.head += 1;
        if self.head == self.ring.len() {
            self.head = 0;
        }
        self.counts.add(failed, slow);
        self.counts
    }

    pub(crate) fn counts(&self) -> Counts {
        self.counts
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.counts = Counts::default();
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

    fn at_secs(s: u64) -> Timestamp {
        Timestamp::ZERO + Span::from_secs(s)
    }

    #[test]
    fn count_window_keeps_the_last_n_outcomes() {
        let mut w = CountWindow::new(3);
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
}
