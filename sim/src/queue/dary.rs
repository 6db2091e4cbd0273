//! Event-queue design: a `D`-ary implicit min-heap of small `Copy` nodes
//! (key and slot index), with the payloads apart in a slab.

use std::hint::select_unpredictable;

use super::{PendingEvents, admit_time, pack};
use crate::Timestamp;

/// A `D`-ary implicit min-heap ordered by `(time, seq)`.
///
/// The heap array holds 24-byte `Copy` nodes (time, sequence number, slot);
/// payloads sit in a slab of `Option<E>` indexed by slot, with a free list,
/// so sifting moves the same small nodes whatever the size of `E`, and a
/// wide node fan-out (`D` = 4 or 8) halves or thirds the depth of a binary
/// heap. Sifts move a hole instead of swapping. `D` must be at least 2.
#[derive(Debug, Clone)]
pub struct DaryHeap<E, const D: usize> {
    nodes: Vec<Node>,
    slots: Vec<Option<E>>,
    free: Vec<usize>,
    next_seq: u64,
    now: Timestamp,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    time_ns: u64,
    seq: u64,
    slot: usize,
}

impl Node {
    #[inline(always)]
    fn key(&self) -> u128 {
        pack(self.time_ns, self.seq)
    }
}

impl<E, const D: usize> DaryHeap<E, D> {
    const ARITY_OK: () = assert!(D >= 2, "a D-ary heap needs D >= 2");

    /// An empty queue.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Moves `node` from a hole at `hole` towards the root to its place.
    #[inline(always)]
    fn sift_up(&mut self, mut hole: usize, node: Node) {
        let key = node.key();
        while hole > 0 {
            let parent = (hole - 1) / D;
            let above = self.nodes[parent];
            if above.key() <= key {
                break;
            }
            self.nodes[hole] = above;
            hole = parent;
        }
        self.nodes[hole] = node;
    }

    /// Moves `node` from a hole at the root down to its place.
    ///
    /// Bottom-up ("Floyd") variant: the hole first follows the smallest
    /// children all the way to a leaf without comparing them with `node`
    /// (which came from the bottom of the heap and usually belongs near it),
    /// then `node` sifts up from there. The child selection is branch-free,
    /// which matters because with random keys its outcome is unpredictable.
    #[inline(always)]
    fn sift_down_from_root(&mut self, node: Node) {
        let len = self.nodes.len();
        let mut hole = 0;
        loop {
            let first = D * hole + 1;
            if first >= len {
                break;
            }
            let best = self.min_child(first, len);
            self.nodes[hole] = self.nodes[best];
            hole = best;
        }
        self.sift_up(hole, node);
    }

    /// The index of the smallest node among the children starting at `first`
    /// (which is `< len`).
    #[inline(always)]
    fn min_child(&self, first: usize, len: usize) -> usize {
        let mut best = 0;
        if let Some(group) = self.nodes[first..].first_chunk::<D>() {
            // A full group as an array: no bounds checks, an unrolled loop.
            let mut best_key = group[0].key();
            for (i, node) in group.iter().enumerate().skip(1) {
                let k = node.key();
                let less = k < best_key;
                best = select_unpredictable(less, i, best);
                best_key = select_unpredictable(less, k, best_key);
            }
        } else {
            let group = &self.nodes[first..len];
            let mut best_key = group[0].key();
            for (i, node) in group.iter().enumerate().skip(1) {
                let k = node.key();
                let less = k < best_key;
                best = select_unpredictable(less, i, best);
                best_key = select_unpredictable(less, k, best_key);
            }
        }
        first + best
    }
}

impl<E, const D: usize> Default for DaryHeap<E, D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E, const D: usize> PendingEvents<E> for DaryHeap<E, D> {
    fn with_capacity(n: usize) -> Self {
        let () = Self::ARITY_OK;
        DaryHeap {
            nodes: Vec::with_capacity(n),
            slots: Vec::with_capacity(n),
            free: Vec::with_capacity(n),
            next_seq: 0,
            now: Timestamp::ZERO,
        }
    }

    #[inline]
    fn push(&mut self, time: Timestamp, event: E) {
        let time_ns = admit_time(time, self.now);
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                self.slots.len() - 1
            }
        };
        let node = Node {
            time_ns,
            seq: self.next_seq,
            slot,
        };
        // A u64 counter does not wrap: 2^64 pushes take centuries.
        self.next_seq += 1;
        let hole = self.nodes.len();
        self.nodes.push(node);
        self.sift_up(hole, node);
    }

    #[inline]
    fn pop(&mut self) -> Option<(Timestamp, E)> {
        let last = self.nodes.pop()?;
        let top = match self.nodes.first() {
            Some(&top) => {
                self.sift_down_from_root(last);
                top
            }
            None => last,
        };
        // Invariant: every node's slot holds its payload until the node is
        // popped, here, which is the only place a slot is emptied.
        let event = self.slots[top.slot]
            .take()
            .expect("a pending node's slot holds its event");
        self.free.push(top.slot);
        self.now = Timestamp::from_nanos(top.time_ns);
        Some((self.now, event))
    }

    #[inline]
    fn peek_time(&self) -> Option<Timestamp> {
        self.nodes
            .first()
            .map(|node| Timestamp::from_nanos(node.time_ns))
    }

    fn now(&self) -> Timestamp {
        self.now
    }

    fn len(&self) -> usize {
        self.nodes.len()
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.slots.clear();
        self.free.clear();
        self.next_seq = 0;
        self.now = Timestamp::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holding_at_capacity_never_reallocates() {
        let mut heap: DaryHeap<u64, 4> = DaryHeap::with_capacity(100);
        let caps =
            |h: &DaryHeap<u64, 4>| (h.nodes.capacity(), h.slots.capacity(), h.free.capacity());
        let before = caps(&heap);
        for i in 0..100 {
            heap.push(Timestamp::from_nanos(i * 7 % 13), i);
        }
        for step in 0..10_000 {
            let (t, e) = heap.pop().expect("100 events pending");
            heap.push(t.saturating_add(crate::Span::from_nanos(step % 17)), e);
        }
        assert_eq!(caps(&heap), before);
        assert_eq!(heap.len(), 100);
    }
}
