//! The kernel's queue: the linked radix heap while few events are pending,
//! the chunked one once many are.
//!
//! The two designs give the same pop order (time, then scheduling order) and
//! differ only in speed: linking fixed slots is cheaper than copying events
//! between chunks while the queue fits the CPU caches (the engine's queues
//! hold hundreds to a few thousand events), but walking a long bucket's links
//! through memory larger than the caches is several times slower than
//! reading chunks in order (hold model, `sim/README.md`: 3.6 against 22 M
//! events/s at 1 M pending). So the queue starts linked and, the first time
//! more than [`DENSE_AT`] events are pending, moves every event to the
//! chunked design in pop order, which keeps their order exactly, and stays
//! there for the rest of the run (a run that once queued that many events
//! will likely do so again, and moving back and forth would cost more than
//! it saves). The move depends only on the number of pending events, so it
//! is as deterministic as the run.

use super::{ChunkedRadixHeap, PendingEvents, RadixHeap};
use crate::Timestamp;

/// Pending events beyond which an [`AdaptiveRadixHeap`] moves to the chunked
/// design: the hold model's crossover lies between 10 000 and 30 000.
pub const DENSE_AT: usize = 1 << 14;

/// A radix heap that is linked while small and chunked once more than
/// `DENSE` events are pending (see the [module docs](self); tests use a
/// small `DENSE` to exercise the move).
///
/// The linked heap is held inline and the chunked one behind a pointer that
/// is null until the move, so the common case pays one null test per call.
#[derive(Debug, Clone)]
pub struct AdaptiveRadixHeap<E, const DENSE: usize = DENSE_AT> {
    /// Holds the events until the move; empty (and unused) after it.
    linked: RadixHeap<E>,
    /// Holds the events after the move.
    chunked: Option<Box<ChunkedRadixHeap<E>>>,
}

impl<E, const DENSE: usize> AdaptiveRadixHeap<E, DENSE> {
    /// Whether the queue has moved to the chunked design.
    pub fn is_chunked(&self) -> bool {
        self.chunked.is_some()
    }

    /// Moves every pending event, in pop order, to a chunked queue whose
    /// clock continues from the linked one's.
    #[cold]
    #[inline(never)]
    fn make_chunked(&mut self) {
        let mut chunked = ChunkedRadixHeap::with_capacity(self.linked.len());
        chunked.start_at(self.linked.now());
        while let Some((time, event)) = self.linked.pop() {
            chunked.push(time, event);
        }
        // Give back the linked heap's slots.
        self.linked = RadixHeap::with_capacity(0);
        self.chunked = Some(Box::new(chunked));
    }
}

impl<E, const DENSE: usize> Default for AdaptiveRadixHeap<E, DENSE> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl<E, const DENSE: usize> PendingEvents<E> for AdaptiveRadixHeap<E, DENSE> {
    fn with_capacity(n: usize) -> Self {
        AdaptiveRadixHeap {
            linked: RadixHeap::with_capacity(n),
            chunked: None,
        }
    }

    #[inline]
    fn push(&mut self, time: Timestamp, event: E) {
        if let Some(q) = &mut self.chunked {
            return q.push(time, event);
        }
        self.linked.push(time, event);
        if self.linked.len() > DENSE {
            self.make_chunked();
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<(Timestamp, E)> {
        match &mut self.chunked {
            Some(q) => q.pop(),
            None => self.linked.pop(),
        }
    }

    #[inline]
    fn pop_through(&mut self, limit: Timestamp) -> Option<(Timestamp, E)> {
        match &mut self.chunked {
            Some(q) => q.pop_through(limit),
            None => self.linked.pop_through(limit),
        }
    }

    #[inline]
    fn peek_time(&self) -> Option<Timestamp> {
        match &self.chunked {
            Some(q) => q.peek_time(),
            None => self.linked.peek_time(),
        }
    }

    fn now(&self) -> Timestamp {
        match &self.chunked {
            Some(q) => q.now(),
            None => self.linked.now(),
        }
    }

    #[inline]
    fn len(&self) -> usize {
        match &self.chunked {
            Some(q) => q.len(),
            None => self.linked.len(),
        }
    }

    /// Empties the queue; it keeps its current design and capacity.
    fn clear(&mut self) {
        match &mut self.chunked {
            Some(q) => q.clear(),
            None => self.linked.clear(),
        }
    }
}
