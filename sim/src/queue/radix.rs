//! Event-queue design: a radix heap over the 128-bit `(time, seq)` key,
//! valid because keys are monotone (the kernel never schedules in the past).

use super::{PendingEvents, admit_time, key_time, pack};
use crate::Timestamp;

/// Number of buckets: one per bit position of a 128-bit key.
const BUCKETS: usize = 128;

/// A radix heap (Ahuja, Mehlhorn, Orlin and Tarjan, 1990) on the packed
/// `(time, seq)` key.
///
/// Every pending key is greater than `last`, the key of the most recently
/// popped event: times never go below it (the never-in-the-past rule) and the
/// sequence number always grows. A key lives in the bucket named by the
/// highest bit in which it differs from `last`. Popping takes the smallest
/// key from the lowest non-empty bucket and, with that key as the new `last`,
/// redistributes the rest of that bucket into strictly lower buckets; each
/// key moves at most 128 times over its life, and in practice a few times.
/// The minimum of each bucket is tracked on insert, so `pop` needs no
/// search pass and `peek_time` is O(1).
///
/// Bucket vectors keep their capacity: once each has grown to its
/// high-water mark, no operation allocates.
#[derive(Debug, Clone)]
pub struct RadixHeap<E> {
    buckets: Vec<Vec<(u128, E)>>,
    /// The smallest key in each bucket (`u128::MAX` when empty).
    bucket_min: [u128; BUCKETS],
    /// Bit `b` set when bucket `b` is non-empty.
    occupied: u128,
    /// The key of the most recently popped event (0 initially).
    last: u128,
    len: usize,
    /// Starts at 1 so that no key equals the initial `last` of 0.
    next_seq: u64,
}

impl<E> RadixHeap<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// The bucket of `key` (which is greater than `last`).
    #[inline(always)]
    fn bucket_of(key: u128, last: u128) -> usize {
        debug_assert!(key > last);
        // key != last, so the XOR has a set bit and leading_zeros <= 127.
        (BUCKETS - 1) - (key ^ last).leading_zeros() as usize
    }

    #[inline(always)]
    fn insert(&mut self, key: u128, event: E) {
        let b = Self::bucket_of(key, self.last);
        self.buckets[b].push((key, event));
        self.occupied |= 1 << b;
        if key < self.bucket_min[b] {
            self.bucket_min[b] = key;
        }
    }
}

impl<E> Default for RadixHeap<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> PendingEvents<E> for RadixHeap<E> {
    /// An empty queue; `n` is reserved in the top bucket (where a cold
    /// queue's first events land), the others grow as needed.
    fn with_capacity(n: usize) -> Self {
        let mut buckets: Vec<Vec<(u128, E)>> = (0..BUCKETS).map(|_| Vec::new()).collect();
        buckets[BUCKETS - 1].reserve(n);
        RadixHeap {
            buckets,
            bucket_min: [u128::MAX; BUCKETS],
            occupied: 0,
            last: 0,
            len: 0,
            next_seq: 1,
        }
    }

    #[inline]
    fn push(&mut self, time: Timestamp, event: E) {
        let key = pack(admit_time(time, key_time(self.last)), self.next_seq);
        // A u64 counter does not wrap: 2^64 pushes take centuries.
        self.next_seq += 1;
        self.insert(key, event);
        self.len += 1;
    }

    #[inline]
    fn pop(&mut self) -> Option<(Timestamp, E)> {
        if self.occupied == 0 {
            return None;
        }
        let b = self.occupied.trailing_zeros() as usize;
        let min = self.bucket_min[b];
        self.last = min;
        self.bucket_min[b] = u128::MAX;
        self.occupied &= !(1 << b);
        self.len -= 1;
        let mut bucket = std::mem::take(&mut self.buckets[b]);
        let mut popped = None;
        if bucket.len() == 1 {
            popped = bucket.pop().map(|(_, event)| event);
        } else {
            for (key, event) in bucket.drain(..) {
                if key == min {
                    popped = Some(event);
                } else {
                    // key > min = last and they agree above bit b, so the
                    // target bucket is below b: no bucket is drained twice.
                    self.insert(key, event);
                }
            }
        }
        // Put the emptied vector back so its capacity is reused.
        self.buckets[b] = bucket;
        // Invariant: bucket_min[b] is a key stored in bucket b.
        let event = popped.expect("the bucket minimum is in its bucket");
        Some((key_time(min), event))
    }

    #[inline]
    fn peek_time(&self) -> Option<Timestamp> {
        if self.occupied == 0 {
            return None;
        }
        let b = self.occupied.trailing_zeros() as usize;
        Some(key_time(self.bucket_min[b]))
    }

    fn now(&self) -> Timestamp {
        key_time(self.last)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn clear(&mut self) {
        for bucket in &mut self.buckets {
            bucket.clear();
        }
        self.bucket_min = [u128::MAX; BUCKETS];
        self.occupied = 0;
        self.last = 0;
        self.len = 0;
        self.next_seq = 1;
    }
}
