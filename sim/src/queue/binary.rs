//! Event-queue design: `std::collections::BinaryHeap` ordered by the packed
//! `(time, seq)` key (the baseline of the comparison).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{PendingEvents, admit_time, key_time, pack};
use crate::Timestamp;

/// A min-queue on `std::collections::BinaryHeap`: each entry carries its
/// packed `(time, seq)` key and its payload; the entry order is the key order
/// reversed, so the max-heap pops the smallest key.
#[derive(Debug, Clone)]
pub struct BinaryHeapQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
    now: Timestamp,
}

#[derive(Debug, Clone)]
struct Entry<E> {
    key: u128,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: the smallest key is the heap's maximum.
        other.key.cmp(&self.key)
    }
}

impl<E> BinaryHeapQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }
}

impl<E> Default for BinaryHeapQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> PendingEvents<E> for BinaryHeapQueue<E> {
    fn with_capacity(n: usize) -> Self {
        BinaryHeapQueue {
            heap: BinaryHeap::with_capacity(n),
            next_seq: 0,
            now: Timestamp::ZERO,
        }
    }

    #[inline]
    fn push(&mut self, time: Timestamp, event: E) {
        let key = pack(admit_time(time, self.now), self.next_seq);
        // A u64 counter does not wrap: 2^64 pushes take centuries.
        self.next_seq += 1;
        self.heap.push(Entry { key, event });
    }

    #[inline]
    fn pop(&mut self) -> Option<(Timestamp, E)> {
        let Entry { key, event } = self.heap.pop()?;
        self.now = key_time(key);
        Some((self.now, event))
    }

    #[inline]
    fn peek_time(&self) -> Option<Timestamp> {
        self.heap.peek().map(|entry| key_time(entry.key))
    }

    fn now(&self) -> Timestamp {
        self.now
    }

    fn len(&self) -> usize {
        self.heap.len()
    }

    fn clear(&mut self) {
        self.heap.clear();
        self.next_seq = 0;
        self.now = Timestamp::ZERO;
    }
}
