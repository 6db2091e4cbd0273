//! Latency histogram: log-linear buckets over `u64` nanoseconds with a fixed
//! memory footprint, exact counts, mean, min and max, and mergeable.

/// Bits of precision per power of two: each octave `[2^e, 2^(e+1))` above
/// the exact range is split into `2^SUB_BITS` equal buckets.
const SUB_BITS: u32 = 7;
/// Buckets per octave.
const SUB: usize = 1 << SUB_BITS;
/// Number of buckets: values below `2 * SUB` get one bucket each, then one
/// group of `SUB` buckets per octave up to `2^64`.
const BUCKETS: usize = (64 - SUB_BITS as usize) * SUB + SUB;

/// A latency histogram over `u64` nanoseconds, like HdrHistogram with fixed
/// precision: values below [`EXACT_BELOW_NS`](Self::EXACT_BELOW_NS) (256 ns)
/// have a bucket each; above, each power of two `[2^e, 2^(e+1))` is split into
/// 128 equal buckets, so a bucket's width is at most 1/128 of its lower bound.
/// The whole `u64` range is covered by 7,424 buckets (58 KiB), allocated once
/// in [`new`](Self::new); recording is O(1) and never allocates.
///
/// Count, sum, minimum and maximum are tracked exactly, so
/// [`mean_ns`](Self::mean_ns), [`min_ns`](Self::min_ns) and
/// [`max_ns`](Self::max_ns) are exact; [`merge`](Self::merge) is exact too
/// (merging equals recording everything into one histogram).
///
/// # Quantiles: rank rule and guarantee
///
/// [`quantile_ns(q)`](Self::quantile_ns) uses the **nearest-rank** rule: with
/// `n` recorded values sorted ascending as `x_1 <= ... <= x_n`, the
/// `q`-quantile is `x_r` with `r = ceil(q * n)` (evaluated in `f64`) clamped
/// to `[1, n]`; so `q = 0` is the minimum and `q = 1` the maximum. The
/// histogram returns the midpoint of the bucket holding `x_r`, clamped to
/// `[min, max]`, and guarantees
///
/// `|quantile_ns(q) - x_r| <= x_r / 256`  (relative error at most 0.39 %),
///
/// with `quantile_ns(q) == x_r` exactly when `x_r < 256` and when `r` is 1
/// or `n` (so for `q = 0` and `q = 1`).
///
/// Counts saturate at `u64::MAX` and the sum at `u128::MAX` instead of
/// wrapping (neither is reachable in practice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: Box<[u64]>,
    count: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl LatencyHistogram {
    /// Values below this many nanoseconds are stored exactly.
    pub const EXACT_BELOW_NS: u64 = 2 * SUB as u64;
    /// The largest relative error of a quantile (see the type's docs): 1/256.
    pub const MAX_RELATIVE_ERROR: f64 = 1.0 / (2 * SUB) as f64;
    /// The fixed number of buckets.
    pub const BUCKETS: usize = BUCKETS;

    /// An empty histogram (allocates its fixed bucket array).
    pub fn new() -> Self {
        LatencyHistogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    /// Records one value, in nanoseconds.
    ///
    /// Plain adds where [`record_n`](Self::record_n) saturates (on every
    /// latency's path): below a saturated `count`, no add can wrap. Every
    /// bucket's count is at most `count`, and the sum at most `count *
    /// u64::MAX`, whose next value keeps it under `(2^64 - 1)^2 < 2^128`.
    #[inline]
    pub fn record(&mut self, value_ns: u64) {
        if self.count == u64::MAX {
            self.record_n(value_ns, 1);
            return;
        }
        self.counts[bucket_of(value_ns)] += 1;
        self.count += 1;
        self.sum_ns += u128::from(value_ns);
        self.min_ns = self.min_ns.min(value_ns);
        self.max_ns = self.max_ns.max(value_ns);
    }

    /// Records `count` occurrences of `value_ns`; a `count` of 0 changes
    /// nothing.
    #[inline]
    pub fn record_n(&mut self, value_ns: u64, count: u64) {
        if count == 0 {
            return;
        }
        let slot = &mut self.counts[bucket_of(value_ns)];
        *slot = slot.saturating_add(count);
        self.count = self.count.saturating_add(count);
        let added = u128::from(value_ns) * u128::from(count);
        self.sum_ns = self.sum_ns.saturating_add(added);
        self.min_ns = self.min_ns.min(value_ns);
        self.max_ns = self.max_ns.max(value_ns);
    }

    /// The number of recorded values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The exact sum of the recorded values, in nanoseconds.
    pub fn sum_ns(&self) -> u128 {
        self.sum_ns
    }

    /// The exact mean of the recorded values, in nanoseconds (the exact sum
    /// divided by the count, rounded once to `f64`); 0 when empty.
    pub fn mean_ns(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        self.sum_ns as f64 / self.count as f64
    }

    /// The smallest recorded value, in nanoseconds; 0 when empty.
    pub fn min_ns(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min_ns }
    }

    /// The largest recorded value, in nanoseconds; 0 when empty.
    pub fn max_ns(&self) -> u64 {
        self.max_ns
    }

    /// The nearest-rank `q`-quantile, in nanoseconds, within 1/256 of the
    /// exact one (see the type's docs for the rule and the guarantee); 0 when
    /// empty. `q` is clamped to `[0, 1]`; NaN counts as 0. Costs one pass
    /// over the buckets.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = nearest_rank(q, self.count);
        // The extreme ranks are known exactly.
        if rank == 1 {
            return self.min_ns;
        }
        if rank == self.count {
            return self.max_ns;
        }
        let mut seen = 0_u64;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(n);
            if seen >= rank {
                let (lo, hi) = bucket_bounds(bucket);
                let mid = lo + (hi - lo) / 2;
                return mid.clamp(self.min_ns, self.max_ns);
            }
        }
        // Unreachable while the bucket counts sum to `count`; the maximum is
        // the right answer for the top rank anyway.
        self.max_ns
    }

    /// The nearest-rank `q`-quantile in milliseconds, as
    /// [`quantile_ns`](Self::quantile_ns); NaN when empty, so an empty
    /// interval or shard reads as "no data" rather than as zero latency.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.quantile_ns(q) as f64 / 1e6
        }
    }

    /// The buckets that can hold a value: from the minimum's to the
    /// maximum's (every count is written by `record_n`, `merge` or
    /// `merge_sparse`, which keep both), none when empty. A latency
    /// distribution spans a few octaves: a few hundred of the 7,424.
    fn occupied(&self) -> std::ops::Range<usize> {
        if self.count == 0 {
            0..0
        } else {
            bucket_of(self.min_ns)..bucket_of(self.max_ns) + 1
        }
    }

    /// Adds every value recorded in `other` to `self`; exact. Costs a pass
    /// over `other`'s occupied buckets.
    pub fn merge(&mut self, other: &Self) {
        let range = other.occupied();
        for (mine, &theirs) in self.counts[range.clone()]
            .iter_mut()
            .zip(&other.counts[range])
        {
            *mine = mine.saturating_add(theirs);
        }
        self.count = self.count.saturating_add(other.count);
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Forgets every recorded value (keeps the bucket array). Costs a pass
    /// over the occupied buckets.
    pub fn clear(&mut self) {
        let range = self.occupied();
        self.counts[range].fill(0);
        self.count = 0;
        self.sum_ns = 0;
        self.min_ns = u64::MAX;
        self.max_ns = 0;
    }
}

impl LatencyHistogram {
    /// The non-empty buckets only, with the exact count, sum and extremes:
    /// what a finished replication keeps to be pooled with others
    /// ([`merge_sparse`](Self::merge_sparse)). A latency distribution spans
    /// a few octaves, and each non-empty bucket is stored in about 3 bytes
    /// (see [`SparseHistogram`]), so this is a few KiB where the full array
    /// is 58 KiB.
    pub fn to_sparse(&self) -> SparseHistogram {
        let mut encoded = Vec::new();
        let mut next = 0_usize;
        for (bucket, &n) in self.counts.iter().enumerate() {
            if n != 0 {
                push_varint(&mut encoded, (bucket - next) as u64);
                push_varint(&mut encoded, n);
                next = bucket + 1;
            }
        }
        encoded.shrink_to_fit();
        SparseHistogram {
            encoded,
            count: self.count,
            sum_ns: self.sum_ns,
            min_ns: self.min_ns,
            max_ns: self.max_ns,
        }
    }

    /// Adds every value of `other` to `self`; exact, the same as
    /// [`merge`](Self::merge) with the histogram `other` came from.
    pub fn merge_sparse(&mut self, other: &SparseHistogram) {
        let mut bytes = other.encoded.as_slice();
        let mut next = 0_usize;
        while !bytes.is_empty() {
            // `to_sparse` wrote whole pairs of in-range buckets: the
            // encoding never leaves this module.
            let bucket = next + take_varint(&mut bytes) as usize;
            let n = take_varint(&mut bytes);
            let slot = &mut self.counts[bucket];
            *slot = slot.saturating_add(n);
            next = bucket + 1;
        }
        self.count = self.count.saturating_add(other.count);
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }
}

/// Appends `x` in LEB128: 7 bits per byte, low bits first, the top bit set
/// on every byte but the last.
fn push_varint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// Reads one LEB128 value written by [`push_varint`] off the front of
/// `bytes`.
fn take_varint(bytes: &mut &[u8]) -> u64 {
    let mut x = 0_u64;
    let mut shift = 0;
    loop {
        let (&byte, rest) = bytes.split_first().expect("a whole varint");
        *bytes = rest;
        x |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return x;
        }
        shift += 7;
    }
}

/// A [`LatencyHistogram`]'s non-empty buckets, from
/// [`to_sparse`](LatencyHistogram::to_sparse); read back by
/// [`merge_sparse`](LatencyHistogram::merge_sparse).
///
/// A sweep keeps one per replication until its points are reported, so it
/// is packed: each non-empty bucket, in bucket order, as two LEB128
/// varints, the number of empty buckets skipped since the previous one and
/// its count. Neighbouring buckets of a latency distribution are mostly
/// both non-empty and counts are mostly below 16,384, so a bucket takes
/// about 3 bytes (a `(u32, u64)` pair took 16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseHistogram {
    /// `(skipped, count)` of every non-empty bucket, varint-encoded.
    encoded: Vec<u8>,
    count: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl SparseHistogram {
    /// The number of recorded values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The bytes its buckets take on the heap.
    pub fn encoded_bytes(&self) -> usize {
        self.encoded.len()
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The nearest rank of the `q`-quantile among `n >= 1` values:
/// `ceil(q * n)` in `f64`, clamped to `[1, n]`; `q` outside `[0, 1]` is
/// clamped and NaN counts as 0.
pub fn nearest_rank(q: f64, n: u64) -> u64 {
    let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
    // `as` saturates: the product is in [0, n] and the cast cannot wrap.
    let rank = (q * n as f64).ceil() as u64;
    rank.clamp(1, n.max(1))
}

/// The bucket of a value: `shift * SUB + (value >> shift)`, where `shift` is
/// how far the value's top bit is above the `2 * SUB` exact range.
#[inline]
fn bucket_of(value_ns: u64) -> usize {
    // `| 1` keeps the top-bit position defined for 0 (it is 0 either way).
    let top_bit = 63 - (value_ns | 1).leading_zeros();
    let shift = top_bit.saturating_sub(SUB_BITS);
    shift as usize * SUB + (value_ns >> shift) as usize
}

/// The inclusive value range `[lo, hi]` of a bucket.
fn bucket_bounds(bucket: usize) -> (u64, u64) {
    if bucket < 2 * SUB {
        return (bucket as u64, bucket as u64);
    }
    let shift = bucket / SUB - 1;
    let mantissa = (bucket - shift * SUB) as u64;
    let lo = mantissa << shift;
    // mantissa < 2 * SUB, so lo + width - 1 <= u64::MAX.
    (lo, lo + ((1_u64 << shift) - 1))
}

#[cfg(test)]
#[path = "histogram_tests.rs"]
mod tests;
