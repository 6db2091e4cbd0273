//! Recent latencies for percentile hedge delays: tower's `RotatingHistogram`
//! (two histograms, written one period and read the next) over a fixed-size
//! log-linear histogram, so memory is bounded and a percentile is computed
//! once per rotation, not once per call.

use crate::time::{Span, Timestamp};

/// Linear sub-buckets per power of two (relative bucket width ≤ 1/64).
const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Values below this are counted exactly.
const EXACT: u64 = 2 << SUB_BITS;
/// Latencies are clamped to below `2^MAX_EXP` ns (about 78 hours).
const MAX_EXP: u32 = 48;
const BUCKETS: usize = EXACT as usize + (MAX_EXP - SUB_BITS - 1) as usize * SUB;

/// A log-linear latency histogram in nanoseconds: exact below 128 ns, then 64
/// buckets per power of two, so a reported value is at most 1/64 (1.6 %)
/// above the true one (HdrHistogram's layout with two significant binary
/// digits fewer than tower's three decimal ones).
///
/// The buckets (11 KiB) are allocated at the first record, so a tracker that
/// is never written (a fixed hedge delay; one per caller and edge in the
/// simulator) costs a few words.
#[derive(Clone, Debug)]
struct Histogram {
    /// Empty until the first record, then `BUCKETS` long.
    counts: Vec<u32>,
    total: u64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: Vec::new(),
            total: 0,
        }
    }

    fn clear(&mut self) {
        if self.total > 0 {
            self.counts.fill(0);
            self.total = 0;
        }
    }

    #[inline]
    fn record(&mut self, value_ns: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        let bucket = &mut self.counts[bucket_of(value_ns)];
        // A full bucket stops counting rather than wrapping (4 × 10^9
        // latencies in one window).
        if *bucket < u32::MAX {
            *bucket += 1;
            self.total += 1;
        }
    }

    /// The highest value of the bucket holding the `rank`-th smallest
    /// recorded value (1-based), as HdrHistogram's `value_at_quantile`
    /// reports the highest equivalent value.
    fn value_at_rank(&self, rank: u64) -> u64 {
        let mut seen = 0u64;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += u64::from(count);
            if seen >= rank {
                return highest_of(index);
            }
        }
        highest_of(BUCKETS - 1)
    }
}

/// The bucket of `value_ns` (clamped below `2^MAX_EXP`).
#[inline]
fn bucket_of(value_ns: u64) -> usize {
    let v = value_ns.min((1 << MAX_EXP) - 1);
    if v < EXACT {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS + 1
    let shift = exp - SUB_BITS;
    let sub = ((v >> shift) as usize) & (SUB - 1);
    EXACT as usize + (exp - SUB_BITS - 1) as usize * SUB + sub
}

/// The highest value that falls in bucket `index`.
fn highest_of(index: usize) -> u64 {
    if index < EXACT as usize {
        return index as u64;
    }
    let rel = index - EXACT as usize;
    let exp = (rel / SUB) as u32 + SUB_BITS + 1;
    let sub = (rel % SUB) as u64;
    let shift = exp - SUB_BITS;
    ((SUB as u64 + sub) << shift) + (1 << shift) - 1
}

/// Latencies of the recent past, for [`super::HedgePolicy`]'s percentile
/// delay: one per call edge (shared by every call on it), like tower's
/// `Hedge` histogram.
///
/// Latencies recorded during one `window` are read during the next (tower's
/// `RotatingHistogram`): reads see a whole window of data, and a window with
/// no calls followed by reads clears everything (two rotations at once).
/// Windows are anchored at creation and advance in whole periods.
#[derive(Clone, Debug)]
pub struct LatencyTracker {
    read: Histogram,
    write: Histogram,
    rotated_at: Timestamp,
    window: Span,
    /// The quantile cached for the current read histogram: (ppm, value).
    cached: Option<(u32, Span)>,
}

impl LatencyTracker {
    /// An empty tracker whose first window starts at `now`. `window` below
    /// 1 ns is raised to 1 ns.
    pub fn new(window: Span, now: Timestamp) -> Self {
        LatencyTracker {
            read: Histogram::new(),
            write: Histogram::new(),
            rotated_at: now,
            window: window.max(Span::from_nanos(1)),
            cached: None,
        }
    }

    /// Records the latency of a response at `now` (the time from sending the
    /// attempt to its response).
    #[inline]
    pub fn record(&mut self, now: Timestamp, latency: Span) {
        self.maybe_rotate(now);
        self.write.record(latency.as_nanos());
    }

    /// Latencies readable at `now`: those recorded in the previous window.
    pub fn samples(&mut self, now: Timestamp) -> u64 {
        self.maybe_rotate(now);
        self.read.total
    }

    /// The `quantile_ppm`-th quantile (parts per million, 1..=1 000 000) of
    /// the latencies readable at `now`, or `None` if there are none. The
    /// value is the highest of its bucket (≤ 1.6 % above the exact
    /// quantile); rank `max(1, ceil(q × n))` of `n` values.
    pub fn quantile(&mut self, now: Timestamp, quantile_ppm: u32) -> Option<Span> {
        self.maybe_rotate(now);
        let n = self.read.total;
        if n == 0 {
            return None;
        }
        if let Some((ppm, value)) = self.cached
            && ppm == quantile_ppm
        {
            return Some(value);
        }
        let ppm = u64::from(quantile_ppm.clamp(1, 1_000_000));
        // ceil(ppm × n / 10^6) without overflow: n < 2^64 / 10^6 in practice,
        // and u128 keeps it exact regardless.
        let rank = (u128::from(ppm) * u128::from(n)).div_ceil(1_000_000).max(1) as u64;
        let value = Span::from_nanos(self.read.value_at_rank(rank));
        self.cached = Some((quantile_ppm, value));
        Some(value)
    }

    /// tower's `maybe_rotate`: one elapsed window moves the write histogram
    /// to read; two or more clear both.
    #[inline]
    fn maybe_rotate(&mut self, now: Timestamp) {
        let elapsed = now.saturating_since(self.rotated_at).as_nanos();
        let window = self.window.as_nanos();
        if elapsed < window {
            return;
        }
        let rotations = elapsed / window;
        if rotations >= 2 {
            self.read.clear();
            self.write.clear();
        } else {
            std::mem::swap(&mut self.read, &mut self.write);
            self.write.clear();
        }
        self.cached = None;
        self.rotated_at += Span::from_nanos(rotations.saturating_mul(window));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at_ms(ms: u64) -> Timestamp {
        Timestamp::ZERO + Span::from_millis(ms)
    }

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut previous_high = None;
        for index in 0..BUCKETS {
            let high = highest_of(index);
            let low = previous_high.map_or(0, |h: u64| h + 1);
            assert_eq!(bucket_of(low), index, "low end of {index}");
            assert_eq!(bucket_of(high), index, "high end of {index}");
            assert!(high - low <= low / 64, "bucket {index}: {low}..={high}");
            previous_high = Some(high);
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn reads_the_previous_window() {
        let mut t = LatencyTracker::new(Span::from_secs(10), at_ms(0));
        for ms in 1..=100 {
            t.record(at_ms(ms), Span::from_millis(ms));
        }
        // Still in the first window: nothing readable yet.
        assert_eq!(t.quantile(at_ms(9_999), 500_000), None);
        // The second window reads the first: p50 is the 50th value, 50 ms
        // (reported as its bucket's top, within 1/64).
        let p50 = t.quantile(at_ms(10_000), 500_000).expect("data");
        assert!(
            p50 >= Span::from_millis(50) && p50 <= Span::from_millis(50).mul_f64(1.0 + 1.0 / 64.0)
        );
        let p100 = t.quantile(at_ms(10_000), 1_000_000).expect("data");
        assert!(p100 >= Span::from_millis(100));
        assert_eq!(t.samples(at_ms(19_999)), 100);
        // A quiet window later the data is gone (tower rotates it out) ...
        assert_eq!(t.samples(at_ms(20_000)), 0);
        // ... and after two windows without a read both are cleared.
        t.record(at_ms(20_500), Span::from_millis(3));
        assert_eq!(t.samples(at_ms(40_000)), 0);
    }

    proptest! {
        /// The reported quantile is the bucket top of the exact rank-th value:
        /// never below it, at most 1/64 above.
        #[test]
        fn quantile_brackets_the_exact_order_statistic(
            mut values in prop::collection::vec(0u64..10_000_000_000, 1..300),
            ppm in 1u32..=1_000_000,
        ) {
            let mut t = LatencyTracker::new(Span::from_secs(1), Timestamp::ZERO);
            for &v in &values {
                t.record(Timestamp::ZERO, Span::from_nanos(v));
            }
            let got = t.quantile(Timestamp::ZERO + Span::from_secs(1), ppm).expect("data").as_nanos();
            values.sort_unstable();
            let rank = (u128::from(ppm) * values.len() as u128).div_ceil(1_000_000).max(1) as usize;
            let exact = values[rank - 1];
            prop_assert!(got >= exact, "{} < {}", got, exact);
            prop_assert!(got - exact <= exact / 64, "{} vs {}", got, exact);
        }
    }
}
