//! What the two radix heaps share: the bucket of a time (by its highest
//! 8-bit digit that differs from `now`) and the two-level occupancy bitmap
//! that finds the lowest non-empty bucket in two `trailing_zeros`.

/// Bits per digit: times are compared digit by digit, most significant first.
/// 8 beat 4, 5, 6 and 3 in the hold benchmark (fewer moves per event).
const DIGIT_BITS: u32 = 8;
/// Values a digit takes.
const DIGIT_VALUES: usize = 1 << DIGIT_BITS;
/// Digit positions in a 64-bit time.
const DIGITS: usize = 64_usize.div_ceil(DIGIT_BITS as usize);
/// One bucket per (digit position, digit value).
pub(super) const BUCKETS: usize = DIGITS * DIGIT_VALUES;
/// Words of the occupancy bitmap; the summary word has a bit per word.
const WORDS: usize = BUCKETS.div_ceil(64);
const _: () = assert!(WORDS <= 64, "the summary word covers at most 64 words");

/// The bucket of an event due at `time_ns` > `now`: the highest digit where
/// the two differ, and the event's value of that digit.
#[inline(always)]
pub(super) fn bucket_of(time_ns: u64, now: u64) -> usize {
    debug_assert!(time_ns > now);
    // time_ns != now, so the XOR has a set bit and leading_zeros <= 63.
    // (`& 63` is the identity here; it tells the optimiser that the bucket
    // number is in range.)
    let high_bit = (63 - (time_ns ^ now).leading_zeros()) & 63;
    let digit = high_bit / DIGIT_BITS;
    let value = (time_ns >> (digit * DIGIT_BITS)) as usize & (DIGIT_VALUES - 1);
    digit as usize * DIGIT_VALUES + value
}

/// Which buckets are non-empty.
#[derive(Debug, Clone)]
pub(super) struct Occupancy {
    /// Bit `b % 64` of word `b / 64` set when bucket `b` is non-empty.
    words: [u64; WORDS],
    /// Bit `w` set when word `w` of `words` is non-zero.
    summary: u64,
}

impl Occupancy {
    pub(super) const EMPTY: Occupancy = Occupancy {
        words: [0; WORDS],
        summary: 0,
    };

    /// Whether every bucket is empty.
    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.summary == 0
    }

    /// Marks bucket `b` non-empty.
    #[inline(always)]
    pub(super) fn set(&mut self, b: usize) {
        self.words[b / 64] |= 1 << (b % 64);
        self.summary |= 1 << (b / 64);
    }

    /// The lowest non-empty bucket; requires one (`!is_empty()`).
    #[inline(always)]
    pub(super) fn lowest(&self) -> usize {
        let w = self.summary.trailing_zeros() as usize;
        w * 64 + self.words[w].trailing_zeros() as usize
    }

    /// Marks the lowest non-empty bucket empty and returns it; requires one.
    #[inline(always)]
    pub(super) fn take_lowest(&mut self) -> usize {
        let b = self.lowest();
        self.remove(b);
        b
    }

    /// Marks bucket `b` empty.
    #[inline(always)]
    pub(super) fn remove(&mut self, b: usize) {
        self.words[b / 64] &= !(1 << (b % 64));
        if self.words[b / 64] == 0 {
            self.summary &= !(1 << (b / 64));
        }
    }
}
