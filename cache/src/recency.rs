//! LRU's recency order as an access log.
//!
//! A doubly linked list keeps LRU order exactly but makes every hit touch
//! the node's two neighbours (two random cache lines) and every eviction
//! wait for the next victim, found by following a link from the last one
//! (a dependent load: eviction cannot go faster than one memory latency).
//! The log keeps the same order without links: every access appends the
//! node's number to a ring, the node remembers its position there
//! ([`Node::aux`](crate::arena::Node)), and a bitmap marks which positions
//! are still some node's latest (*live*). A hit clears its old bit and
//! appends; the LRU victim is the oldest live position, found by scanning
//! the bitmap from the ring's head. The ring holds node numbers in order,
//! so the victims of the next evictions are known long before they are
//! needed and their memory can be loaded ahead.
//!
//! The bitmap is an eighth of a byte per position and stays in the CPU's
//! cache; stale positions cost nothing but their four bytes in the ring.
//! When the ring is full and at least half of it is stale, it is rebuilt
//! with only its live positions, in order, into a ring four times as long
//! as the live count: the rebuild's cost (one write per live node) is
//! amortised over the appends since the last one, at least as many. When it
//! is full and mostly live (a cache filling up), it grows to four positions
//! per live entry in place, renumbering only the entries that had wrapped
//! around. Memory: about 16 bytes per cached object for the ring (four
//! positions of 4 bytes) and a bit per position.

use crate::arena::{Arena, NIL};

/// Positions per live entry after a rebuild.
const SPREAD: usize = 4;
/// The smallest ring.
const MIN_RING: usize = 64;

/// The access log of an LRU cache.
#[derive(Clone, Debug, Default)]
pub(crate) struct Log {
    /// Node numbers by position; `len()` is the ring's size.
    ring: Vec<u32>,
    /// One bit per position: set if it is its node's latest.
    live: Vec<u64>,
    /// Position of the oldest entry (live or stale).
    head: usize,
    /// Entries from `head` on, live and stale.
    len: usize,
    /// Live entries.
    live_count: usize,
}

impl Log {
    /// A log sized for `expected` objects without rebuilding.
    pub(crate) fn with_capacity(expected: usize) -> Self {
        let size = ring_size(expected);
        Log {
            ring: vec![NIL; size],
            live: vec![0; size.div_ceil(64)],
            head: 0,
            len: 0,
            live_count: 0,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.ring.capacity() * std::mem::size_of::<u32>()
            + self.live.capacity() * std::mem::size_of::<u64>()
    }

    /// Forgets every entry, keeping the allocation.
    pub(crate) fn clear(&mut self) {
        self.live.fill(0);
        self.head = 0;
        self.len = 0;
        self.live_count = 0;
    }

    /// Appends node `i` as the most recently used (a new object, or a hit
    /// after [`Log::forget`] of its old position).
    #[inline]
    pub(crate) fn push(&mut self, arena: &mut Arena, i: u32) {
        if self.len == self.ring.len() {
            self.make_room(arena);
        }
        let mut at = self.head + self.len;
        if at >= self.ring.len() {
            at -= self.ring.len();
        }
        self.ring[at] = i;
        self.live[at / 64] |= 1 << (at % 64);
        self.len += 1;
        self.live_count += 1;
        arena.get_mut(i).aux = at as u32;
    }

    /// Marks node `i`'s position stale (it was hit, or it leaves the cache).
    #[inline]
    pub(crate) fn forget(&mut self, arena: &Arena, i: u32) {
        let at = arena.get(i).aux as usize;
        self.live[at / 64] &= !(1 << (at % 64));
        self.live_count -= 1;
    }

    /// Moves node `i` to the most recently used end.
    #[inline]
    pub(crate) fn touch(&mut self, arena: &mut Arena, i: u32) {
        self.forget(arena, i);
        self.push(arena, i);
    }

    /// The least recently used node, dropping the stale entries before it;
    /// `None` if no entry is live.
    #[inline]
    pub(crate) fn oldest(&mut self) -> Option<u32> {
        let Some(at) = self.next_live(self.head, self.len) else {
            self.head = 0;
            self.len = 0;
            return None;
        };
        let skipped = distance(self.head, at, self.ring.len());
        self.head = at;
        self.len -= skipped;
        Some(self.ring[at])
    }

    /// The `n`-th live node from the oldest (0 = the oldest), looking at
    /// most `window` entries from the head and changing nothing: a guess of
    /// a later victim for prefetching.
    #[inline]
    pub(crate) fn upcoming(&self, n: usize, window: usize) -> Option<u32> {
        self.live_nodes(window).nth(n)
    }

    /// The live nodes among the first `count` entries from the head,
    /// oldest first.
    #[inline]
    fn live_nodes(&self, count: usize) -> impl Iterator<Item = u32> + '_ {
        let size = self.ring.len();
        let (mut from, mut left) = (self.head, self.len.min(count));
        std::iter::from_fn(move || {
            let at = self.next_live(from, left)?;
            left -= distance(from, at, size) + 1;
            from = if at + 1 == size { 0 } else { at + 1 };
            Some(self.ring[at])
        })
    }

    /// The first live position among the `count` positions from `from`.
    #[inline]
    fn next_live(&self, from: usize, count: usize) -> Option<usize> {
        let size = self.ring.len();
        let (mut at, mut left) = (from, count);
        while left > 0 {
            // The ring is whole words, so the bits of `at`'s word from
            // `at` on are all before the ring's end.
            let shift = at % 64;
            let bits = self.live[at / 64] >> shift;
            if bits != 0 {
                let found = bits.trailing_zeros() as usize;
                return (found < left).then_some(at + found);
            }
            let span = 64 - shift;
            if span >= left {
                return None;
            }
            left -= span;
            at += span;
            if at == size {
                at = 0;
            }
        }
        None
    }

    /// Room for one more entry in a full ring: compacted to its live
    /// entries if at least half are stale, else grown in place.
    #[cold]
    #[inline(never)]
    fn make_room(&mut self, arena: &mut Arena) {
        if self.live_count * 2 <= self.ring.len() {
            self.compact(arena);
        } else {
            self.grow(arena);
        }
    }

    /// Compacts the ring to its live entries, in order, into a ring
    /// [`SPREAD`] times as long as their count (it grows or shrinks), and
    /// records each node's new position: one write per live node, after
    /// at least as many appends (half the ring was stale).
    fn compact(&mut self, arena: &mut Arena) {
        let mut nodes = Vec::with_capacity(self.live_count);
        nodes.extend(self.live_nodes(self.len));
        debug_assert_eq!(nodes.len(), self.live_count);
        let new_size = ring_size(nodes.len() + 1);
        self.ring = vec![NIL; new_size];
        self.live = vec![0; new_size.div_ceil(64)];
        const AHEAD: usize = 16;
        for (at, &i) in nodes.iter().enumerate() {
            if let Some(&next) = nodes.get(at + AHEAD) {
                crate::prefetch::prefetch(arena.get(next));
            }
            self.ring[at] = i;
            self.live[at / 64] |= 1 << (at % 64);
            arena.get_mut(i).aux = at as u32;
        }
        self.head = 0;
        self.len = nodes.len();
    }

    /// Grows a full ring that is mostly live (a cache filling up) to
    /// [`SPREAD`] positions per live entry. The entries from the head to
    /// the old end keep their positions; those that had wrapped around to
    /// the start move to just past the old end, and only those are
    /// renumbered.
    fn grow(&mut self, arena: &mut Arena) {
        let size = self.ring.len();
        let new_size = ring_size(self.live_count + 1);
        debug_assert!(new_size > size);
        self.ring.resize(new_size, NIL);
        self.live.resize(new_size.div_ceil(64), 0);
        // The ring is full, so the entries at `0 .. head` are its newest.
        for at in 0..self.head {
            let bit = 1 << (at % 64);
            if self.live[at / 64] & bit == 0 {
                continue;
            }
            self.live[at / 64] &= !bit;
            let to = size + at;
            let i = self.ring[at];
            self.ring[to] = i;
            self.live[to / 64] |= 1 << (to % 64);
            arena.get_mut(i).aux = to as u32;
        }
    }
}

/// Positions from `from` to `to` going forward in a ring of `size`.
#[inline]
fn distance(from: usize, to: usize, size: usize) -> usize {
    if to >= from {
        to - from
    } else {
        to + size - from
    }
}

/// The ring size for `live` entries: [`SPREAD`] positions each, a multiple
/// of 64 (whole bitmap words), at least [`MIN_RING`].
fn ring_size(live: usize) -> usize {
    let size = (live * SPREAD).max(MIN_RING).next_multiple_of(64);
    assert!(
        size <= u32::MAX as usize,
        "an LRU log of more than 2^32 positions"
    );
    size
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    /// The log against a `VecDeque` in recency order (front = oldest), over
    /// random touches, removals and evictions, with rings small enough to
    /// wrap, compact and grow often (key spaces up to 400 keys and few
    /// evictions make the ring fill up mostly live and grow).
    #[test]
    fn log_order_is_recency_order() {
        proptest!(ProptestConfig::with_cases(300), |(
            ops in prop::collection::vec((0u8..4, 0usize..400), 1..2000),
            keys in 1usize..400,
            expected in 0usize..40,
        )| {
            let mut arena = Arena::with_capacity(0);
            let mut log = Log::with_capacity(expected);
            let mut model: VecDeque<u32> = VecDeque::new();
            let mut nodes: Vec<Option<u32>> = vec![None; keys];
            let mut peak = 0;
            for (op, key) in ops {
                let key = key % keys;
                match (op, nodes[key]) {
                    // Access: touch if present, else add.
                    (0 | 1, Some(i)) => {
                        log.touch(&mut arena, i);
                        model.retain(|&n| n != i);
                        model.push_back(i);
                    }
                    (0 | 1, None) => {
                        let i = arena.alloc(key as u64, 1, 0);
                        log.push(&mut arena, i);
                        nodes[key] = Some(i);
                        model.push_back(i);
                    }
                    // Remove.
                    (2, Some(i)) => {
                        log.forget(&arena, i);
                        model.retain(|&n| n != i);
                        nodes[key] = None;
                        arena.free(i);
                    }
                    // Evict the oldest.
                    (3, _) => {
                        let victim = log.oldest();
                        prop_assert_eq!(victim, model.front().copied());
                        if let Some(i) = victim {
                            log.forget(&arena, i);
                            model.pop_front();
                            nodes[arena.get(i).key as usize] = None;
                            arena.free(i);
                        }
                    }
                    _ => {}
                }
                for (n, &want) in model.iter().enumerate().take(5) {
                    prop_assert_eq!(log.upcoming(n, usize::MAX), Some(want));
                }
                prop_assert_eq!(log.upcoming(model.len(), usize::MAX), None);
                // Memory follows the most objects ever held, not the
                // number of accesses.
                peak = peak.max(model.len());
                prop_assert!(log.ring.len() <= ring_size(peak.max(expected) + 1));
            }
        });
    }
}
