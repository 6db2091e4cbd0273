//! LRU's recency order as an access log.
//!
//! A doubly linked list keeps LRU order exactly but makes every hit touch
//! the entry's two neighbours (two random cache lines) and every eviction
//! wait for the next victim, found by following a link from the last one
//! (a dependent load: eviction cannot go faster than one memory latency).
//! The log keeps the same order without links: every access appends the
//! entry's number (its slot in the LRU table, `lru.rs`) to a ring, the
//! entry remembers its position there ([`Positions`]), and a bitmap marks
//! which positions are still some entry's latest (*live*). A hit clears its old bit and
//! appends; the LRU victim is the oldest live position, found by scanning
//! the bitmap from the ring's head. The ring holds entry numbers in order,
//! so the victims of the next evictions are known long before they are
//! needed and their memory can be loaded ahead.
//!
//! The bitmap is an eighth of a byte per position and stays in the CPU's
//! cache; stale positions cost nothing but their four bytes in the ring.
//! When the ring is full and at least half of it is stale, it is rebuilt
//! with only its live positions, in order, into a ring four times as long
//! as the live count: the rebuild's cost (one write per live entry) is
//! amortised over the appends since the last one, at least as many. When it
//! is full and mostly live (a cache filling up), it grows to four positions
//! per live entry in place, renumbering only the entries that had wrapped
//! around. Memory: about 16 bytes per cached object for the ring (four
//! positions of 4 bytes) and a bit per position.

use crate::hint;

/// An entry number that is none (a fresh ring's filler).
const NIL: u32 = u32::MAX;

/// Where the entries keep their positions in the log: the log records an
/// entry's new position when it appends it or moves it in a rebuild.
pub(crate) trait Positions {
    /// Entry `entry` is now at position `at`.
    fn set_position(&mut self, entry: u32, at: u32);
    /// Starts loading entry `entry`'s memory (a rebuild writes many).
    fn prefetch(&self, entry: u32);
}

/// Positions per live entry after a rebuild.
const SPREAD: usize = 4;
/// The smallest ring.
const MIN_RING: usize = 64;

/// The access log of an LRU cache.
#[derive(Debug, Default)]
pub(crate) struct Log {
    /// Entry numbers by position; `len()` is the ring's size.
    ring: Vec<u32>,
    /// One bit per position: set if it is its entry's latest.
    live: Vec<u64>,
    /// Position of the oldest entry (live or stale).
    head: usize,
    /// Entries from `head` on, live and stale.
    len: usize,
    /// Live entries.
    live_count: usize,
}

impl Clone for Log {
    fn clone(&self) -> Self {
        Log {
            ring: crate::hint::copied(&self.ring),
            live: self.live.clone(),
            head: self.head,
            len: self.len,
            live_count: self.live_count,
        }
    }
}

impl Log {
    /// A log sized for `expected` objects without rebuilding.
    pub(crate) fn with_capacity(expected: usize) -> Self {
        let size = ring_size(expected);
        Log {
            ring: hint::filled(size, NIL),
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

    /// Appends entry `i` as the most recently used (a new object, or a hit
    /// after [`Log::forget`] of its old position) and records its position.
    #[inline]
    pub(crate) fn push(&mut self, entries: &mut (impl Positions + ?Sized), i: u32) {
        if self.len == self.ring.len() {
            self.make_room(entries);
        }
        let mut at = self.head + self.len;
        if at >= self.ring.len() {
            at -= self.ring.len();
        }
        self.ring[at] = i;
        self.live[at / 64] |= 1 << (at % 64);
        self.len += 1;
        self.live_count += 1;
        entries.set_position(i, at as u32);
    }

    /// Marks position `at` stale (its entry was hit, or left the cache).
    #[inline]
    pub(crate) fn forget(&mut self, at: u32) {
        let at = at as usize;
        self.live[at / 64] &= !(1 << (at % 64));
        self.live_count -= 1;
    }

    /// Moves entry `i`, now at position `at`, to the most recently used end.
    #[inline]
    pub(crate) fn touch(&mut self, entries: &mut (impl Positions + ?Sized), i: u32, at: u32) {
        self.forget(at);
        self.push(entries, i);
    }

    /// The live entry at position `at` is now numbered `i` (the table moved
    /// it to another slot).
    #[inline]
    pub(crate) fn renumber(&mut self, at: u32, i: u32) {
        self.ring[at as usize] = i;
    }

    /// The least recently used entry, dropping the stale entries before it;
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

    /// The `n`-th live entry from the oldest (0 = the oldest), looking at
    /// most `window` entries from the head and changing nothing: a guess of
    /// a later victim for prefetching.
    #[inline]
    pub(crate) fn upcoming(&self, n: usize, window: usize) -> Option<u32> {
        self.live_entries(window).nth(n)
    }

    /// The live entries among the first `count` entries from the head,
    /// oldest first.
    #[inline]
    fn live_entries(&self, count: usize) -> impl Iterator<Item = u32> + '_ {
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
    fn make_room(&mut self, entries: &mut (impl Positions + ?Sized)) {
        if self.live_count * 2 <= self.ring.len() {
            self.compact(entries);
        } else {
            self.grow(entries);
        }
    }

    /// Compacts the ring to its live entries, in order, into a ring
    /// [`SPREAD`] times as long as their count (it grows or shrinks), and
    /// records each entry's new position: one write per live entry, after
    /// at least as many appends (half the ring was stale).
    fn compact(&mut self, entries: &mut (impl Positions + ?Sized)) {
        let mut order = Vec::with_capacity(self.live_count);
        order.extend(self.live_entries(self.len));
        debug_assert_eq!(order.len(), self.live_count);
        let new_size = ring_size(order.len() + 1);
        self.ring = hint::filled(new_size, NIL);
        self.live = vec![0; new_size.div_ceil(64)];
        const AHEAD: usize = 16;
        for (at, &i) in order.iter().enumerate() {
            if let Some(&next) = order.get(at + AHEAD) {
                entries.prefetch(next);
            }
            self.ring[at] = i;
            self.live[at / 64] |= 1 << (at % 64);
            entries.set_position(i, at as u32);
        }
        self.head = 0;
        self.len = order.len();
    }

    /// Grows a full ring that is mostly live (a cache filling up) to
    /// [`SPREAD`] positions per live entry. The entries from the head to
    /// the old end keep their positions; those that had wrapped around to
    /// the start move to just past the old end, and only those are
    /// recorded anew.
    fn grow(&mut self, entries: &mut (impl Positions + ?Sized)) {
        let size = self.ring.len();
        let new_size = ring_size(self.live_count + 1);
        debug_assert!(new_size > size);
        hint::grow_to(&mut self.ring, new_size, NIL);
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
            entries.set_position(i, to as u32);
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

    /// Positions by entry number.
    struct Table(Vec<u32>);

    impl Positions for Table {
        fn set_position(&mut self, entry: u32, at: u32) {
            self.0[entry as usize] = at;
        }
        fn prefetch(&self, _: u32) {}
    }

    /// The log against a `VecDeque` in recency order (front = oldest), over
    /// random touches, removals, evictions and renumberings (the table
    /// moving an entry to another slot), with rings small enough to wrap,
    /// compact and grow often (key spaces up to 400 keys and few evictions
    /// make the ring fill up mostly live and grow).
    #[test]
    fn log_order_is_recency_order() {
        proptest!(ProptestConfig::with_cases(300), |(
            ops in prop::collection::vec((0u8..5, 0usize..400), 1..2000),
            keys in 1usize..400,
            expected in 0usize..40,
        )| {
            let mut table = Table(vec![NIL; 400 + 2000]);
            let mut log = Log::with_capacity(expected);
            // Entry numbers in recency order, and each key's entry.
            let mut model: VecDeque<u32> = VecDeque::new();
            let mut entry: Vec<Option<u32>> = vec![None; keys];
            let mut key_of = vec![usize::MAX; table.0.len()];
            // Fresh entry numbers for renumbering, past the keys'.
            let mut fresh = 400;
            let mut peak = 0;
            for (op, key) in ops {
                let key = key % keys;
                match (op, entry[key]) {
                    // Access: touch if present, else add (entry = key).
                    (0 | 1, Some(i)) => {
                        let at = table.0[i as usize];
                        log.touch(&mut table, i, at);
                        model.retain(|&n| n != i);
                        model.push_back(i);
                    }
                    (0 | 1, None) => {
                        let i = key as u32;
                        log.push(&mut table, i);
                        entry[key] = Some(i);
                        key_of[i as usize] = key;
                        model.push_back(i);
                    }
                    // Remove.
                    (2, Some(i)) => {
                        log.forget(table.0[i as usize]);
                        model.retain(|&n| n != i);
                        entry[key] = None;
                    }
                    // Evict the oldest.
                    (3, _) => {
                        let victim = log.oldest();
                        prop_assert_eq!(victim, model.front().copied());
                        if let Some(i) = victim {
                            log.forget(table.0[i as usize]);
                            model.pop_front();
                            entry[key_of[i as usize]] = None;
                        }
                    }
                    // Renumber: the entry moves to a fresh number.
                    (4, Some(i)) if key as u32 == i => {
                        let j = fresh;
                        fresh += 1;
                        let at = table.0[i as usize];
                        table.0[j as usize] = at;
                        log.renumber(at, j);
                        entry[key] = Some(j);
                        key_of[j as usize] = key;
                        for n in model.iter_mut().filter(|n| **n == i) {
                            *n = j;
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
