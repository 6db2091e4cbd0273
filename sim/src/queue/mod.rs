//! The pending-event set: events ordered by `(time, sequence)`, so events at
//! equal times pop in the order they were scheduled.
//!
//! [`EventQueue`] is what the kernel and the models use. It wraps the fastest
//! of several designs, all of which implement [`PendingEvents`] and stay
//! compiled and tested so the comparison can be rerun
//! (`cargo bench -p headroom-sim --bench kernel`):
//!
//! - [`BinaryHeapQueue`]: `std::collections::BinaryHeap` of entries whose
//!   order is the packed `(time, seq)` key, reversed into a min-heap.
//! - [`DaryHeap`]: a `D`-ary implicit min-heap of small `Copy` entries
//!   (key and a slot index) with the payloads apart in a slab, so sifting
//!   moves 24-byte entries whatever the event type (`D` = 4 and 8 benchmarked).
//! - [`RadixHeap`]: a radix heap over the 64-bit time with 8-bit digits,
//!   per-bucket minima and a two-level occupancy bitmap. Buckets, and the
//!   list of events due now, are lists linked through nodes (time, link,
//!   payload) that stay where the push put them: moving an event between
//!   buckets rewrites two links, and a bucket holding one event (most of
//!   them, on a queue spread over time) becomes the due list without being
//!   walked. Lists stay in push order, so ties pop in scheduling order
//!   without storing the sequence number. It relies on times being
//!   monotone, which holds because the kernel never schedules in the past
//!   (see below). Storage is one node per event pending at the high-water
//!   mark. It costs the fewest instructions per event on the engine's
//!   queues (hundreds to thousands of pending events).
//! - [`ChunkedRadixHeap`]: the same radix heap with events copied through
//!   buckets made of 64-slot chunks (the kept design until 2026-12): more
//!   instructions per event, but its bucket walks read memory in order, so
//!   it wins past 10,000 to 30,000 pending events, where the linked design's
//!   walks chase pointers through memory larger than the caches.
//! - [`AdaptiveRadixHeap`]: **the kept design**. The linked radix heap until
//!   more than [`DENSE_AT`] (16,384) events are pending, then, once and for
//!   the rest of the run, the chunked one (the events move over in pop
//!   order, so the order is unchanged). It costs about 160 instructions per
//!   simulated request more than the linked heap alone in the engine (one
//!   test of the design per call) and removes the linked heap's 6x slowdown
//!   on large queues.
//!
//! # Contract shared by every design
//!
//! - `push(time, event)` gives the event the next sequence number (a `u64`
//!   counter, one per push since construction or the last `clear`; the radix
//!   heap keeps it implicit in push order).
//! - `pop()` removes and returns the event with the smallest `(time, seq)`;
//!   `pop_through(limit)` does the same only if that event's time is at most
//!   `limit` (the radix heaps without a second search; the others through
//!   `peek_time`).
//! - **Never schedule in the past**: `time` must be at least the time of the
//!   most recently popped event ([`PendingEvents::now`]; zero initially and
//!   after `clear`). Debug builds assert it; release builds clamp such a time
//!   to `now`, so the event runs next among those due now, and order stays
//!   deterministic. This is what lets [`RadixHeap`] work, and it is a bug in
//!   a model anyway.
//! - No allocation per event once the backing storage has grown to its
//!   high-water mark (the largest number of pending events; for the
//!   chunked radix heap, the most chunks in use at once), or was reserved by
//!   `with_capacity`. Storage keeps its capacity across `clear`.
//!
//! # Comparison
//!
//! **Engine.** Instructions per simulated request, `valgrind
//! --tool=callgrind headroom run <scenario> --replications 1 --threads 1`
//! (deterministic, load-independent): the scenario of the engine's graph
//! benchmark (`models/benches/graph.rs`) for 20 s at 8,000 requests/s
//! (160,777 requests), and `experiments/seed.toml` for 20 s without warm-up
//! (99,699 requests). Every design pops in the same order, so the outputs
//! are byte-identical whichever is kept.
//!
//! | design behind `EventQueue`                  | graph | seed  |
//! |---------------------------------------------|------:|------:|
//! | `ChunkedRadixHeap` as it was (2026-11)      | 9,181 | 8,712 |
//! | `ChunkedRadixHeap` with its one-event path  | 9,050 | 8,468 |
//! | `RadixHeap` (linked nodes)                  | 8,534 | 8,234 |
//! | `AdaptiveRadixHeap` (linked, chunked beyond 16,384 pending), with the policy and data-tier cuts of the same round | 8,153 | 7,840 |
//! | `RadixHeap` alone with those cuts            | 7,992 | 7,733 |
//!
//! Wall clock, graph scenario for 60 s of simulated time, the three
//! binaries alternated 7 times: medians 0.793 s (chunked, as it was),
//! 0.804 s (chunked with its one-event path) and 0.761 s (linked).
//!
//! **Hold model** (`cargo bench -p headroom-sim --bench kernel -- --warm-up-time
//! 1 --measurement-time 3`). The hold model keeps `N` events pending; one
//! step pops the minimum and pushes it back at its time plus an exponential
//! increment (mean 1 ms, drawn up front from a seeded PCG into a 64 Ki table
//! that the loop cycles through, so the RNG is not measured). One pop plus
//! one push counts as one event. The payload is a 16-byte `Copy` enum like
//! the models' events. Medians of criterion's samples, millions of events
//! per second, all designs in one run on a shared 2-core VM (AMD EPYC,
//! 2.6 GHz) under a load average of 5 from other builds, so every figure is
//! depressed (an earlier run on a quieter machine measured 18.7 for the
//! binary heap and 38.0 for the chunked radix heap at N = 1e3); compare
//! rows, not runs:
//!
//! | design                      | N = 1e3 | N = 1e5 | N = 1e6 |
//! |-----------------------------|--------:|--------:|--------:|
//! | `BinaryHeapQueue` (std)     |    12.8 |     4.3 |     1.0 |
//! | `DaryHeap<_, 4>`            |    15.2 |     6.0 |     1.7 |
//! | `DaryHeap<_, 8>`            |    12.2 |     5.7 |     2.0 |
//! | `RadixHeap`                 |    26.5 |    12.0 |     2.6 |
//! | `ChunkedRadixHeap`          |    27.0 |    20.8 |    14.2 |
//! | `EventQueue` (then = `RadixHeap`)|    25.0 |    11.1 |     2.1 |
//!
//! The heaps pay `log N` dependent, unpredictable comparisons and, past the
//! caches, a miss per level; a radix heap's work per event is bounded by its
//! 8 digit positions. At N = 1e3 the two radix heaps tie in this benchmark,
//! where every event takes the same path; in the engine, the linked one
//! does less work per event (above). Its weakness is large, dense queues:
//! at N = 1e5 and 1e6 (1 event per nanosecond) buckets hold thousands of
//! events whose walk is a chain of cache misses, while the chunked design
//! streams through its chunks (a separate run at N = 1e4 and 3e4 measured
//! 19.5 and 14.8 for the linked design, 14.3 and 17.9 for the chunked one).
//! The adaptive queue takes the better of the two (same command, 2026-12-01
//! 04:38 UTC, load average 1.0-1.3): `EventQueue` 39.1, 28.6 and 22.2 M
//! events/s at N = 1e3, 1e5 and 1e6, against 36.6, 18.0 and 3.6 for the
//! linked heap and 32.5, 29.5 and 22.1 for the chunked one.
//! Digits of 9 bits cost more instructions in the engine than 8 (graph
//! 8,653 against 8,621 before the one-event path was inlined into `pop`),
//! and so did forcing `push` inline into the engine's dozen call sites
//! (graph 8,895, seed 8,263 against 8,534 and 8,234);
//! digits of 2 to 6 bits were slower (more moves per event); a first version
//! with one 1-bit digit per bit position over a 128-bit `(time, seq)` key
//! reached 19 M events/s at N = 1e3, and one with a growable vector per
//! bucket was as fast as the chunked design but its memory crept up with
//! time (every bucket kept its own high-water mark).

mod adaptive;
mod binary;
mod chunked;
mod dary;
mod digits;
mod radix;

pub use adaptive::{AdaptiveRadixHeap, DENSE_AT};
pub use binary::BinaryHeapQueue;
pub use chunked::ChunkedRadixHeap;
pub use dary::DaryHeap;
pub use radix::RadixHeap;

use crate::Timestamp;

/// A set of pending events ordered by `(time, seq)`; the interface every
/// queue design implements (see the [module docs](self) for the contract).
pub trait PendingEvents<E> {
    /// An empty queue with room for `n` events before it reallocates.
    fn with_capacity(n: usize) -> Self;
    /// Schedules `event` at `time` with the next sequence number. `time`
    /// must not be before [`now`](Self::now) (debug-asserted; clamped in
    /// release builds).
    fn push(&mut self, time: Timestamp, event: E);
    /// Removes the event with the smallest `(time, seq)`; `None` when empty.
    fn pop(&mut self) -> Option<(Timestamp, E)>;
    /// Like [`pop`](Self::pop), but only if that event's time is at most
    /// `limit`; else `None`, and nothing changes.
    fn pop_through(&mut self, limit: Timestamp) -> Option<(Timestamp, E)> {
        match self.peek_time() {
            Some(t) if t <= limit => self.pop(),
            _ => None,
        }
    }
    /// The time of the event `pop` would return, without removing it.
    fn peek_time(&self) -> Option<Timestamp>;
    /// The time of the most recently popped event (zero initially and after
    /// [`clear`](Self::clear)): the earliest time `push` accepts.
    fn now(&self) -> Timestamp;
    /// The number of pending events.
    fn len(&self) -> usize;
    /// Whether no event is pending.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Drops every pending event and resets the sequence counter and
    /// [`now`](Self::now) to zero; keeps the allocated capacity.
    fn clear(&mut self);
}

/// The pending-event set used by the kernel: the fastest design of the
/// comparison in the [module docs](self).
///
/// Call order for a driver: `push` the initial events, then loop on `pop`,
/// handling each event at its time and `push`ing the events it schedules at
/// that time or later. [`try_push`](Self::try_push) enforces an optional
/// limit on pending events; [`push`](Self::push) does not, because the
/// models bound their pending events through their own bounded entities
/// (in-flight requests, instances, timers).
///
/// ```
/// use headroom_sim::{EventQueue, Span, Timestamp};
///
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// enum Event { Arrival, Done(u32) }
///
/// let mut queue = EventQueue::with_capacity(16);
/// queue.push(Timestamp::from_nanos(50), Event::Done(1));
/// queue.push(Timestamp::from_nanos(10), Event::Arrival);
/// queue.push(Timestamp::from_nanos(50), Event::Done(2));
/// let mut seen = Vec::new();
/// while let Some((now, event)) = queue.pop() {
///     if event == Event::Arrival {
///         // Follow-ups are scheduled at `now` or later.
///         queue.push(now.saturating_add(Span::from_nanos(40)), Event::Done(3));
///     }
///     seen.push((now.as_nanos(), event));
/// }
/// // Equal times pop in scheduling order.
/// assert_eq!(
///     seen,
///     [(10, Event::Arrival), (50, Event::Done(1)), (50, Event::Done(2)), (50, Event::Done(3))]
/// );
/// ```
///
/// # The side slot
///
/// [`push_side`](Self::push_side) schedules an event like `push` but keeps
/// it in a single slot beside the heap: for one recurring stream of events
/// (the engine's arrivals) that is always pending, this saves the heap's
/// insertion and removal of every one. The order is exactly `push`'s: the
/// heap's events due at the side event's time were all pushed before it (a
/// later push at that very time first moves the side event into the heap,
/// behind them), so the side event pops once no heap event is due at or
/// before its time; a second `push_side` moves the first into the heap.
///
/// ```
/// use headroom_sim::{EventQueue, Timestamp};
///
/// let t = Timestamp::from_nanos;
/// let mut queue = EventQueue::with_capacity(4);
/// queue.push(t(5), 'a');
/// queue.push_side(t(5), 's');
/// queue.push(t(3), 'b');
/// queue.push(t(5), 'c'); // at the side event's time: it runs after 's'
/// let order: Vec<char> = std::iter::from_fn(|| queue.pop().map(|(_, e)| e)).collect();
/// assert_eq!(order, ['b', 'a', 's', 'c']);
/// ```
#[derive(Debug, Clone)]
pub struct EventQueue<E> {
    inner: Kept<E>,
    /// The side event (see the type's docs).
    side: Option<E>,
    /// Its time; `u64::MAX` when there is none (a push at that time then
    /// finds nothing to move).
    side_ns: u64,
    /// The time of the last side event popped (the queue's clock is the
    /// later of it and the heap's).
    side_popped_ns: u64,
    limit: usize,
}

/// The design behind [`EventQueue`]: the linked radix heap, moving to the
/// chunked one beyond [`DENSE_AT`] pending events.
type Kept<E> = AdaptiveRadixHeap<E>;

/// Returned by [`EventQueue::try_push`] when the queue holds its limit of
/// pending events; carries the rejected event back to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull<E> {
    /// The event that was not scheduled.
    pub event: E,
    /// The limit that was hit (number of pending events).
    pub limit: usize,
}

impl<E> EventQueue<E> {
    /// An empty queue without a limit on pending events.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty queue with room for `n` events before it reallocates.
    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            inner: Kept::with_capacity(n),
            side: None,
            side_ns: u64::MAX,
            side_popped_ns: 0,
            limit: usize::MAX,
        }
    }

    /// Sets the most events [`try_push`](Self::try_push) lets pend at once.
    pub fn set_limit(&mut self, max_pending: usize) {
        self.limit = max_pending;
    }

    /// The limit set by [`set_limit`](Self::set_limit) (`usize::MAX` if none).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Schedules `event` at `time` (not before [`now`](Self::now)) with the
    /// next sequence number.
    #[inline]
    pub fn push(&mut self, time: Timestamp, event: E) {
        // The heap clamps to its own clock; the last side event popped can
        // be later (see `now`).
        let time =
            Timestamp::from_nanos(admit_time(time, Timestamp::from_nanos(self.side_popped_ns)));
        if time.as_nanos() == self.side_ns {
            self.spill_side();
        }
        self.inner.push(time, event);
    }

    /// Schedules `event` at `time` (not before [`now`](Self::now)) with the
    /// next sequence number, in the side slot (see the type's docs); an
    /// event already there moves into the heap.
    #[inline]
    pub fn push_side(&mut self, time: Timestamp, event: E) {
        let time_ns = admit_time(time, self.now());
        if self.side.is_some() {
            self.spill_side();
        }
        self.side = Some(event);
        self.side_ns = time_ns;
    }

    /// Moves the side event, if any, into the heap, behind every event of
    /// its time there (all of which were pushed before it).
    #[cold]
    #[inline(never)]
    fn spill_side(&mut self) {
        if let Some(event) = self.side.take() {
            self.inner.push(Timestamp::from_nanos(self.side_ns), event);
        }
        self.side_ns = u64::MAX;
    }

    /// Like [`push`](Self::push), but refuses the event when the queue
    /// already holds [`limit`](Self::limit) events.
    #[inline]
    pub fn try_push(&mut self, time: Timestamp, event: E) -> Result<(), QueueFull<E>> {
        if self.len() >= self.limit {
            return Err(QueueFull {
                event,
                limit: self.limit,
            });
        }
        self.push(time, event);
        Ok(())
    }

    /// Removes and returns the event with the smallest `(time, seq)`: the
    /// earliest, and among equal times the first scheduled.
    #[inline]
    pub fn pop(&mut self) -> Option<(Timestamp, E)> {
        if self.side.is_none() {
            return self.inner.pop();
        }
        // Heap events due at the side event's time were pushed before it.
        if let Some(popped) = self.inner.pop_through(Timestamp::from_nanos(self.side_ns)) {
            return Some(popped);
        }
        let event = self.side.take()?;
        let time_ns = self.side_ns;
        self.side_ns = u64::MAX;
        self.side_popped_ns = time_ns;
        Some((Timestamp::from_nanos(time_ns), event))
    }

    /// The time of the next event, without removing it.
    #[inline]
    pub fn peek_time(&self) -> Option<Timestamp> {
        let heap = self.inner.peek_time();
        match self.side {
            None => heap,
            Some(_) => {
                let side = Timestamp::from_nanos(self.side_ns);
                Some(heap.map_or(side, |t| t.min(side)))
            }
        }
    }

    /// The time of the most recently popped event (zero initially and after
    /// [`clear`](Self::clear)).
    #[inline]
    pub fn now(&self) -> Timestamp {
        // Pops are in time order, so the later clock is the last pop's.
        self.inner
            .now()
            .max(Timestamp::from_nanos(self.side_popped_ns))
    }

    /// The number of pending events.
    #[inline]
    pub fn len(&self) -> usize {
        self.inner.len() + usize::from(self.side.is_some())
    }

    /// Whether no event is pending.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every pending event and resets the sequence counter and
    /// [`now`](Self::now); keeps the capacity and the limit.
    pub fn clear(&mut self) {
        self.inner.clear();
        self.side = None;
        self.side_ns = u64::MAX;
        self.side_popped_ns = 0;
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> PendingEvents<E> for EventQueue<E> {
    fn with_capacity(n: usize) -> Self {
        EventQueue::with_capacity(n)
    }
    fn push(&mut self, time: Timestamp, event: E) {
        EventQueue::push(self, time, event);
    }
    fn pop(&mut self) -> Option<(Timestamp, E)> {
        EventQueue::pop(self)
    }
    fn peek_time(&self) -> Option<Timestamp> {
        EventQueue::peek_time(self)
    }
    fn now(&self) -> Timestamp {
        EventQueue::now(self)
    }
    fn len(&self) -> usize {
        EventQueue::len(self)
    }
    fn clear(&mut self) {
        EventQueue::clear(self);
    }
}

/// The ordering key: time in the high 64 bits, sequence number in the low 64.
#[inline]
fn pack(time_ns: u64, seq: u64) -> u128 {
    (u128::from(time_ns) << 64) | u128::from(seq)
}

/// The time half of a packed key.
#[inline]
fn key_time(key: u128) -> Timestamp {
    // The shift leaves at most 64 significant bits, so the cast is lossless.
    Timestamp::from_nanos((key >> 64) as u64)
}

/// Applies the never-in-the-past rule: asserts in debug builds, clamps to
/// `now` in release builds.
#[inline]
fn admit_time(time: Timestamp, now: Timestamp) -> u64 {
    debug_assert!(
        time >= now,
        "event scheduled in the past: at {} ns, now is {} ns",
        time.as_nanos(),
        now.as_nanos()
    );
    time.max(now).as_nanos()
}

#[cfg(test)]
mod tests;
