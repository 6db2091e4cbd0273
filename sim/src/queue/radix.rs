//! Event-queue design (the kept one): a radix heap over the 64-bit time with
//! 8-bit digits, whose buckets are index-linked lists of nodes that never
//! move; ties kept in scheduling order; valid because the kernel never
//! schedules in the past.

use super::digits::{BUCKETS, Occupancy, bucket_of};
use super::{PendingEvents, admit_time};
use crate::Timestamp;

/// The null node index: the end of the free list, the head of an empty list.
const NIL: u32 = u32::MAX;

/// A multi-digit radix heap (after Ahuja, Mehlhorn, Orlin and Tarjan, 1990)
/// on event times.
///
/// `now` is the time of the most recently popped event and no pending time is
/// before it (the never-in-the-past rule). Events due exactly at `now` wait
/// in the `due` list, in scheduling order. Any other event lives in the
/// bucket named by the highest 8-bit digit in which its time differs from
/// `now` and by its own value of that digit; bucket order is then time
/// order. Popping takes the head of `due`; when `due` is empty, the lowest
/// non-empty bucket's minimum time becomes the new `now`, and that bucket is
/// redistributed into `due` and buckets of lower digits, so an event moves
/// at most 8 times over its life. Per-bucket minima are kept on insert and a
/// two-level bitmap finds the lowest non-empty bucket, so `pop` needs no
/// search pass and `peek_time` is O(1).
///
/// Every pending event has a node in `nodes`: its time, a link and the
/// payload, written once by `push` and read once by `pop`. `due` and the
/// buckets are lists linked through the nodes, so moving an event between
/// lists rewrites two links and never copies the payload; a bucket holding
/// a single event (the common case once the queue is spread over time)
/// becomes `due` without touching its node at all. The price is locality:
/// walking a long bucket follows links through memory, which loses to
/// [`ChunkedRadixHeap`](super::ChunkedRadixHeap) on dense queues of tens of
/// thousands of events (see the [module docs](super)).
///
/// Ties pop in scheduling order without a sequence number: every list is in
/// push order, because a push appends the newest event and a redistribution
/// walks one bucket in order and appends to lists that are all empty before
/// it starts (`due`, and buckets that come before the lowest non-empty one).
/// Events with equal times always share a list, so they leave it in push
/// order.
///
/// Memory: 2,048 bucket headers (32 KiB) and one node per event pending at
/// the high-water mark (freed nodes are reused through a free list), so once
/// the queue has reached its largest size, or the size given to
/// `with_capacity`, no operation allocates. Node indices are `u32`: at most
/// 2^32 - 1 events pend at once (`push` panics beyond that).
#[derive(Debug, Clone)]
pub struct RadixHeap<E> {
    /// Every node: a pending event, or a free node.
    nodes: Vec<Node<E>>,
    /// Head of the free list of nodes, linked through `Node::next`.
    free: u32,
    /// Events due at `now`, in scheduling order.
    due: List,
    /// A fixed-size array, so that indexing by a computed bucket number
    /// needs no bounds check.
    buckets: Box<[Bucket; BUCKETS]>,
    /// Which buckets are non-empty.
    occupied: Occupancy,
    now: u64,
    len: usize,
}

/// A pending event's time and its link to the next node of its list (or of
/// the free list).
#[derive(Debug, Clone)]
struct Node<E> {
    time_ns: u64,
    /// Stale in a list's tail: lists end at `List::tail`, so appending needs
    /// no write to terminate the list.
    next: u32,
    /// `None` while the node is free.
    event: Option<E>,
}

/// A FIFO list of nodes linked head to tail through `Node::next`; empty
/// when `head` is `NIL` (`tail` is then stale).
#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY_LIST: List = List {
    head: NIL,
    tail: NIL,
};

impl List {
    /// Appends node `i`.
    #[inline(always)]
    fn append<E>(&mut self, nodes: &mut [Node<E>], i: u32) {
        if self.head == NIL {
            self.head = i;
        } else {
            nodes[self.tail as usize].next = i;
        }
        self.tail = i;
    }
}

/// A bucket: its events' smallest time (meaningless when empty) and their
/// list.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    min_ns: u64,
    list: List,
}

const EMPTY_BUCKET: Bucket = Bucket {
    min_ns: u64::MAX,
    list: EMPTY_LIST,
};

impl<E> RadixHeap<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// A node holding `event` at `time_ns`, from the free list or new; its
    /// `next` is stale.
    #[inline(always)]
    fn alloc(&mut self, time_ns: u64, event: E) -> u32 {
        let i = self.free;
        if i == NIL {
            return self.grow(time_ns, event);
        }
        let node = &mut self.nodes[i as usize];
        self.free = node.next;
        node.time_ns = time_ns;
        node.event = Some(event);
        i
    }

    /// Adds a node (the only allocation, amortised by `Vec`).
    #[cold]
    #[inline(never)]
    fn grow(&mut self, time_ns: u64, event: E) -> u32 {
        let i = u32::try_from(self.nodes.len())
            .ok()
            .filter(|&i| i != NIL)
            .expect("a radix heap holds at most 2^32 - 1 pending events");
        self.nodes.push(Node {
            time_ns,
            next: NIL,
            event: Some(event),
        });
        i
    }

    /// Files node `i`, due at `time_ns` > `now`, into its bucket.
    #[inline(always)]
    fn link(&mut self, i: u32, time_ns: u64) {
        let b = bucket_of(time_ns, self.now);
        let bucket = &mut self.buckets[b];
        if bucket.list.head == NIL {
            bucket.min_ns = time_ns;
            self.occupied.set(b);
        } else {
            // Branch-free: whether a new time is the bucket's minimum is random.
            bucket.min_ns = bucket.min_ns.min(time_ns);
        }
        bucket.list.append(&mut self.nodes, i);
    }

    /// Advances `now` to the earliest pending time, that of bucket `b` (the
    /// lowest non-empty one), and fills `due` with the events scheduled for
    /// then, in order. Requires an empty `due`. Inlined into `pop`: most buckets hold one event
    /// when the queue is spread over time, and that case is a few
    /// instructions; walking a longer bucket stays out of line.
    #[inline(always)]
    fn advance(&mut self, b: usize) {
        self.occupied.remove(b);
        let bucket = &mut self.buckets[b];
        let (min_ns, list) = (bucket.min_ns, bucket.list);
        // Emptied: `link` resets `min_ns` when it next files an event here.
        bucket.list.head = NIL;
        self.now = min_ns;
        if list.head == list.tail {
            // A single event: its time is the minimum, so it is due now.
            self.due = list;
        } else {
            self.redistribute(list);
        }
    }

    /// Moves the events of `list`, a bucket just emptied whose minimum time
    /// is now `now`, to `due` (those due now) or to buckets of lower digits.
    #[inline(never)]
    fn redistribute(&mut self, list: List) {
        let mut i = list.head;
        loop {
            let Node { time_ns, next, .. } = self.nodes[i as usize];
            if time_ns == self.now {
                self.due.append(&mut self.nodes, i);
            } else {
                // time_ns > now, and both agree on the emptied bucket's
                // digit and every digit above, so the target bucket is a
                // lower digit's: it comes before the emptied one and was
                // empty, and the emptied bucket is not appended to.
                self.link(i, time_ns);
            }
            if i == list.tail {
                return;
            }
            i = next;
        }
    }
}

impl<E> Default for RadixHeap<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> PendingEvents<E> for RadixHeap<E> {
    /// An empty queue with nodes for `n` events reserved.
    fn with_capacity(n: usize) -> Self {
        RadixHeap {
            nodes: Vec::with_capacity(n),
            free: NIL,
            due: EMPTY_LIST,
            buckets: Box::new([EMPTY_BUCKET; BUCKETS]),
            occupied: Occupancy::EMPTY,
            now: 0,
            len: 0,
        }
    }

    #[inline]
    fn push(&mut self, time: Timestamp, event: E) {
        let time_ns = admit_time(time, Timestamp::from_nanos(self.now));
        let i = self.alloc(time_ns, event);
        if time_ns == self.now {
            self.due.append(&mut self.nodes, i);
        } else {
            self.link(i, time_ns);
        }
        self.len += 1;
    }

    #[inline]
    fn pop(&mut self) -> Option<(Timestamp, E)> {
        self.pop_through(Timestamp::MAX)
    }

    #[inline]
    fn pop_through(&mut self, limit: Timestamp) -> Option<(Timestamp, E)> {
        if self.due.head == NIL {
            if self.occupied.is_empty() {
                return None;
            }
            let b = self.occupied.lowest();
            if self.buckets[b].min_ns > limit.as_nanos() {
                return None;
            }
            self.advance(b);
        } else if self.now > limit.as_nanos() {
            return None;
        }
        let i = self.due.head;
        let node = &mut self.nodes[i as usize];
        self.due.head = if i == self.due.tail { NIL } else { node.next };
        node.next = self.free;
        self.free = i;
        self.len -= 1;
        // Invariant: a node in a list holds an event.
        let event = node.event.take().expect("a listed node holds an event");
        Some((Timestamp::from_nanos(self.now), event))
    }

    #[inline]
    fn peek_time(&self) -> Option<Timestamp> {
        if self.due.head != NIL {
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
        self.nodes.clear();
        self.free = NIL;
        self.due = EMPTY_LIST;
        self.buckets.fill(EMPTY_BUCKET);
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

    #[test]
    fn storage_is_the_high_water_mark_and_stops_growing() {
        const N: u32 = 1_000;
        let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
        let exp = Exp::new(1e-6).expect("rate is positive");
        let mut heap: RadixHeap<u32> = RadixHeap::with_capacity(N as usize);
        let reserved = heap.nodes.capacity();
        for id in 0..N {
            heap.push(Timestamp::from_nanos(exp.sample(&mut rng) as u64), id);
        }
        for _ in 0..100_000 {
            let (t, id) = heap.pop().expect("N events pending");
            let delta = crate::Span::from_nanos_f64(exp.sample(&mut rng));
            heap.push(t.saturating_add(delta), id);
        }
        assert_eq!(heap.len(), N as usize);
        // One node per event pending at the high-water mark (N here), and
        // with_capacity(N) reserved them all: nothing was reallocated.
        assert_eq!(heap.nodes.len(), N as usize);
        assert_eq!(heap.nodes.capacity(), reserved);
        // Draining frees every node; reuse does not grow the storage.
        while heap.pop().is_some() {}
        for id in 0..N {
            heap.push(heap.now(), id);
        }
        assert_eq!(heap.nodes.len(), N as usize);
        assert!(heap.nodes.iter().all(|node| node.event.is_some()));
    }
}
