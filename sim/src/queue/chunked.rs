//! Event-queue design: the radix heap of [`super::RadixHeap`] with its
//! events copied through buckets made of 64-slot chunks instead of linked in
//! place; slower on small queues, faster past 10,000 to 30,000 pending events
//! (sequential walks instead of pointer chasing).

use std::collections::VecDeque;

use super::digits::{BUCKETS, Occupancy, bucket_of};
use super::{PendingEvents, admit_time};
use crate::Timestamp;

/// Slots per storage chunk: a bucket is a chain of chunks from one pool.
/// Larger chunks mean fewer hops between chunks but more slack in partly
/// filled ones; in the hold benchmark at N = 1e6, 32 gave 20, 64 gave 24 and
/// 128 gave 25 M events/s, with no difference at N = 1e3.
const CHUNK: usize = 64;
/// The null chunk index.
const NIL: usize = usize::MAX;

/// A multi-digit radix heap (after Ahuja, Mehlhorn, Orlin and Tarjan, 1990)
/// on event times, with each bucket a chain of chunks that events are copied
/// into; the kernel's design until the linked [`RadixHeap`](super::RadixHeap)
/// replaced it (see the [module docs](super) for the comparison).
///
/// `now` is the time of the most recently popped event and no pending time is
/// before it (the never-in-the-past rule). Events due exactly at `now` wait
/// in a FIFO ring. Any other event lives in the bucket named by the highest
/// 8-bit digit in which its time differs from `now` and by its own value of
/// that digit; bucket order is then time order. Popping takes the front of
/// the ring; when the ring is empty, the lowest non-empty bucket's minimum
/// time becomes the new `now`, and that bucket is redistributed into buckets
/// of lower digits (and the ring), so an event moves at most 8 times over its
/// life. Per-bucket minima are kept on insert and a two-level bitmap finds
/// the lowest non-empty bucket, so `pop` needs no search pass and
/// `peek_time` is O(1).
///
/// Ties pop in scheduling order without a sequence number: every bucket is
/// in push order, because a push appends the newest event and a
/// redistribution drains one bucket in order into buckets that are all empty
/// (they come before the lowest non-empty one). Events with equal times
/// always share a bucket, so they leave it in push order.
///
/// Memory: 2,048 bucket headers (64 KiB), the ring, and a slab of slots cut
/// into chunks of 64 that buckets chain together and return to a free list
/// when drained. At most `len / 64 + (non-empty buckets)` chunks are in use
/// at once, so the slab stays within `N / 64 + 2,048` chunks for `N` pending
/// events, and it stops growing once it has reached its high-water mark:
/// from then on no operation allocates. `with_capacity(n)` pre-allocates
/// chunks for `n` events.
#[derive(Debug, Clone)]
pub struct ChunkedRadixHeap<E> {
    /// Events due at `now`, in scheduling order.
    due: VecDeque<E>,
    /// A fixed-size array, so that indexing by a computed bucket number
    /// needs no bounds check.
    buckets: Box<[Bucket; BUCKETS]>,
    /// The chunks of slots; a slot holds `(time in ns, event)` while the
    /// event is pending. A chunk is an array, so a slot index below `CHUNK`
    /// needs no bounds check.
    slots: Vec<[Option<(u64, E)>; CHUNK]>,
    /// The chunk after each chunk, in its bucket's chain or the free list.
    next_chunk: Vec<usize>,
    /// Head of the free list of chunks.
    free_chunk: usize,
    /// Which buckets are non-empty.
    occupied: Occupancy,
    now: u64,
    len: usize,
}

/// A bucket: a chain of chunks, filled in push order.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// The smallest time in the bucket (`u64::MAX` when empty).
    min_ns: u64,
    /// First and last chunk of the chain (`NIL` when empty).
    head: usize,
    tail: usize,
    /// Slots used in the last chunk (the others are full).
    tail_len: usize,
}

const EMPTY_BUCKET: Bucket = Bucket {
    min_ns: u64::MAX,
    head: NIL,
    tail: NIL,
    tail_len: 0,
};

impl<E> ChunkedRadixHeap<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Takes a chunk from the free list, or grows the slab by one.
    #[inline(always)]
    fn alloc_chunk(&mut self) -> usize {
        if self.free_chunk == NIL {
            return self.grow_slab();
        }
        let c = self.free_chunk;
        self.free_chunk = std::mem::replace(&mut self.next_chunk[c], NIL);
        c
    }

    /// Adds a chunk to the slab and returns it (the only allocation).
    #[cold]
    #[inline(never)]
    fn grow_slab(&mut self) -> usize {
        let c = self.next_chunk.len();
        self.slots.push(std::array::from_fn(|_| None));
        self.next_chunk.push(NIL);
        c
    }

    /// Files an event due after `now` into its bucket.
    #[inline(always)]
    fn insert(&mut self, time_ns: u64, event: E) {
        let b = bucket_of(time_ns, self.now);
        let Bucket { tail, tail_len, .. } = self.buckets[b];
        let (chunk, used) = if tail != NIL && tail_len < CHUNK {
            (tail, tail_len)
        } else {
            let c = self.alloc_chunk();
            if tail == NIL {
                self.buckets[b].head = c;
                self.occupied.set(b);
            } else {
                self.next_chunk[tail] = c;
            }
            (c, 0)
        };
        self.slots[chunk][used] = Some((time_ns, event));
        let bucket = &mut self.buckets[b];
        bucket.tail = chunk;
        bucket.tail_len = used + 1;
        // Branch-free: whether a new time is the bucket's minimum is random.
        bucket.min_ns = bucket.min_ns.min(time_ns);
    }

    /// Advances `now` to the earliest pending time and returns the first
    /// event scheduled for then; the others due then go to the ring, in
    /// order. Requires an empty ring and a non-empty bucket. Kept out of
    /// line so that `pop` stays small enough to inline.
    #[inline(never)]
    fn advance(&mut self) -> E {
        let b = self.occupied.take_lowest();
        let bucket = std::mem::replace(&mut self.buckets[b], EMPTY_BUCKET);
        let min = bucket.min_ns;
        self.now = min;
        if bucket.head == bucket.tail && bucket.tail_len == 1 {
            // A single event (the common case on a queue spread over time):
            // no loop, no ring.
            let c = bucket.head;
            let (_, event) = self.slots[c][0]
                .take()
                .expect("a bucket's minimum time belongs to one of its events");
            self.next_chunk[c] = self.free_chunk;
            self.free_chunk = c;
            return event;
        }
        let mut first = None;
        let mut c = bucket.head;
        while c != NIL {
            let used = if c == bucket.tail {
                bucket.tail_len
            } else {
                CHUNK
            };
            for slot in 0..used.min(CHUNK) {
                // Invariant: the first `used` slots of a chained chunk are
                // filled; `take` leaves the slot empty for reuse.
                let Some((time_ns, event)) = self.slots[c][slot].take() else {
                    continue;
                };
                if time_ns != min {
                    // time_ns > min = now, and both agree on this bucket's
                    // digit and every digit above, so the target bucket is a
                    // lower digit's: no bucket is drained twice, and chunk c
                    // is not on the free list while it is drained.
                    self.insert(time_ns, event);
                } else if first.is_none() {
                    first = Some(event);
                } else {
                    self.due.push_back(event);
                }
            }
            // Return the emptied chunk to the free list.
            let next = std::mem::replace(&mut self.next_chunk[c], self.free_chunk);
            self.free_chunk = c;
            c = next;
        }
        // Invariant: a bucket's min_ns is the time of one of its events.
        first.expect("a bucket's minimum time belongs to one of its events")
    }

    /// Links every chunk into the free list.
    fn free_all_chunks(&mut self) {
        let n_chunks = self.next_chunk.len();
        for (c, next) in self.next_chunk.iter_mut().enumerate() {
            *next = if c + 1 < n_chunks { c + 1 } else { NIL };
        }
        self.free_chunk = if n_chunks > 0 { 0 } else { NIL };
    }
}

impl<E> ChunkedRadixHeap<E> {
    /// Moves an empty queue's clock to `now`, as if an event at `now` had
    /// just been popped: the queue then takes over from another design whose
    /// clock reads `now` (see [`super::AdaptiveRadixHeap`]).
    pub(super) fn start_at(&mut self, now: Timestamp) {
        debug_assert_eq!(self.len, 0, "only an empty queue moves its clock");
        self.now = now.as_nanos();
    }
}

impl<E> Default for ChunkedRadixHeap<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> PendingEvents<E> for ChunkedRadixHeap<E> {
    /// An empty queue with chunks for `n` events in its slab.
    fn with_capacity(n: usize) -> Self {
        let n_chunks = n.div_ceil(CHUNK);
        let mut heap = ChunkedRadixHeap {
            due: VecDeque::new(),
            buckets: Box::new([EMPTY_BUCKET; BUCKETS]),
            slots: std::iter::repeat_with(|| std::array::from_fn(|_| None))
                .take(n_chunks)
                .collect(),
            next_chunk: vec![NIL; n_chunks],
            free_chunk: NIL,
            occupied: Occupancy::EMPTY,
            now: 0,
            len: 0,
        };
        heap.free_all_chunks();
        heap
    }

    #[inline]
    fn push(&mut self, time: Timestamp, event: E) {
        let time_ns = admit_time(time, Timestamp::from_nanos(self.now));
        if time_ns == self.now {
            self.due.push_back(event);
        } else {
            self.insert(time_ns, event);
        }
        self.len += 1;
    }

    #[inline]
    fn pop(&mut self) -> Option<(Timestamp, E)> {
        let event = match self.due.pop_front() {
            Some(event) => event,
            None if self.occupied.is_empty() => return None,
            None => self.advance(),
        };
        self.len -= 1;
        Some((Timestamp::from_nanos(self.now), event))
    }

    #[inline]
    fn peek_time(&self) -> Option<Timestamp> {
        if !self.due.is_empty() {
            return Some(Timestamp::from_nanos(self.now));
        }
        if self.occupied.is_empty() {
            return None;
        }
        let b = self.occupied.lowest();
        Some(Timestamp::from_nanos(self.buckets[b].min_ns))
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_nanos(self.now)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn clear(&mut self) {
        self.due.clear();
        self.buckets.fill(EMPTY_BUCKET);
        self.slots.fill_with(|| std::array::from_fn(|_| None));
        self.free_all_chunks();
        self.occupied = Occupancy::EMPTY;
        self.now = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Exp};

    use super::*;

    fn total_capacity(heap: &ChunkedRadixHeap<u32>) -> usize {
        heap.due.capacity() + heap.slots.capacity() * CHUNK
    }

    #[test]
    fn the_chunk_pool_stays_bounded_and_stops_growing() {
        const N: u32 = 1_000;
        let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
        let exp = Exp::new(1e-6).expect("rate is positive");
        let mut heap: ChunkedRadixHeap<u32> = ChunkedRadixHeap::with_capacity(N as usize);
        assert_eq!(heap.next_chunk.len(), (N as usize).div_ceil(CHUNK));
        for id in 0..N {
            heap.push(Timestamp::from_nanos(exp.sample(&mut rng) as u64), id);
        }
        let mut step = |heap: &mut ChunkedRadixHeap<u32>| {
            let (t, id) = heap.pop().expect("N events pending");
            let delta = crate::Span::from_nanos_f64(exp.sample(&mut rng));
            heap.push(t.saturating_add(delta), id);
        };
        for _ in 0..100_000 {
            step(&mut heap);
        }
        let warmed = total_capacity(&heap);
        for _ in 0..1_000_000 {
            step(&mut heap);
        }
        assert_eq!(heap.len(), N as usize);
        // The slab only grows to its high-water mark, which is bounded by
        // N / CHUNK + (non-empty buckets).
        assert!(heap.next_chunk.len() <= N as usize / CHUNK + 1 + BUCKETS);
        // Ten times more steps after warm-up grow the storage by under 10 %.
        let grown = total_capacity(&heap);
        assert!(grown * 10 < warmed * 11, "{warmed} -> {grown}");
    }
}
