//! Per-client limiters with a hard bound on the number of keys held and a
//! deterministic eviction order.
//!
//! governor's keyed limiters never forget a key unless the user calls
//! `retain_recent()` (governor#171); here the map is bounded by `max_keys`.
//! When a new client arrives and the map is full, one key is evicted:
//! 1. a key whose state is already equivalent to a fresh key (its
//!    [`Algorithm::fresh_at`] is `<= now`): dropping it changes no future
//!    decision; among several, the one that became fresh earliest (ties: the
//!    lowest internal slot); counted in [`KeyedStats::evicted_fresh`];
//! 2. otherwise the least-recently-used key (the one whose last check is
//!    oldest), which resets that client's limit early; counted in
//!    [`KeyedStats::evicted_active`].
//!
//! Lookups go through a `HashMap` with a fixed hasher that is never iterated;
//! the recency list and the fresh-at index are ordered structures, so the
//! eviction order depends only on the inputs. Cost per check: one hash
//! lookup, O(1) list update and, when the key's fresh-at instant moves, two
//! `BTreeSet` operations (O(log max_keys)).

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::{Algorithm, InsufficientCapacity, RateDecision};
use crate::time::{Span, Timestamp};

/// Largest `max_keys` accepted by configuration.
pub(crate) const MAX_KEYS_LIMIT: u64 = 10_000_000;

const NIL: u32 = u32::MAX;

/// Eviction counters of a [`Keyed`] limiter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyedStats {
    /// Keys evicted while equivalent to a fresh key (lossless).
    pub evicted_fresh: u64,
    /// Keys evicted while still limiting (least recently used).
    pub evicted_active: u64,
}

/// A fixed (unseeded) hasher for `u64` client ids: the SplitMix64 finalizer.
/// Deterministic across runs; the map is only ever probed, never iterated.
#[derive(Clone, Copy, Debug, Default)]
struct ClientHasher(u64);

impl Hasher for ClientHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.0 = z ^ (z >> 31);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type ClientMap = HashMap<u64, u32, BuildHasherDefault<ClientHasher>>;

#[derive(Clone, Debug)]
struct Slot<S> {
    client: u64,
    state: S,
    fresh_at: Timestamp,
    /// Towards the most recently used end.
    prev: u32,
    /// Towards the least recently used end.
    next: u32,
}

/// One [`Algorithm`] applied per client (`u64` id), holding at most
/// `max_keys` keys.
///
/// Call order: [`Keyed::new`] once, then [`Keyed::check`] /
/// [`Keyed::check_n`] per request with non-decreasing `now`. A client seen
/// for the first time (or again after eviction) starts from
/// [`Algorithm::fresh`]`(now)`.
#[derive(Clone, Debug)]
pub struct Keyed<A: Algorithm> {
    algorithm: A,
    max_keys: usize,
    index: ClientMap,
    slots: Vec<Slot<A::State>>,
    /// Most recently used slot.
    head: u32,
    /// Least recently used slot.
    tail: u32,
    by_fresh: BTreeSet<(Timestamp, u32)>,
    stats: KeyedStats,
}

impl<A: Algorithm> Keyed<A> {
    /// A keyed limiter holding at most `max_keys` clients (0 is treated as
    /// 1; configuration accepts 1..=10000000).
    pub fn new(algorithm: A, max_keys: u32) -> Self {
        Keyed {
            algorithm,
            max_keys: (max_keys.max(1) as usize).min(NIL as usize),
            index: ClientMap::default(),
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            by_fresh: BTreeSet::new(),
            stats: KeyedStats::default(),
        }
    }

    /// Checks one unit for `client` at `now`.
    #[inline]
    pub fn check(&mut self, now: Timestamp, client: u64) -> RateDecision {
        // Capacity >= 1 is a constructor invariant of every algorithm.
        self.check_n(now, client, 1)
            .unwrap_or(RateDecision::Reject {
                retry_after: Span::MAX,
            })
    }

    /// Checks `n` units for `client` at `now`, all or nothing.
    ///
    /// # Errors
    /// [`InsufficientCapacity`] when `n` exceeds the capacity; no key is
    /// created or touched.
    pub fn check_n(
        &mut self,
        now: Timestamp,
        client: u64,
        n: u32,
    ) -> Result<RateDecision, InsufficientCapacity> {
        if u64::from(n) > self.algorithm.capacity() {
            return Err(InsufficientCapacity {
                max_n: self.algorithm.capacity(),
            });
        }
        let idx = match self.index.get(&client) {
            Some(&idx) => {
                self.unlink(idx);
                self.push_front(idx);
                idx
            }
            None => self.insert(now, client),
        };
        let slot = &mut self.slots[idx as usize];
        let result = self.algorithm.check_n(&mut slot.state, now, n);
        let fresh_at = self.algorithm.fresh_at(&slot.state);
        if fresh_at != slot.fresh_at {
            self.by_fresh.remove(&(slot.fresh_at, idx));
            self.by_fresh.insert((fresh_at, idx));
            slot.fresh_at = fresh_at;
        }
        result
    }

    /// The largest `n` `client` could take at `now`; does not change state.
    pub fn remaining(&self, now: Timestamp, client: u64) -> u64 {
        match self.index.get(&client) {
            Some(&idx) => self
                .algorithm
                .remaining(&self.slots[idx as usize].state, now),
            None => self.algorithm.remaining(&self.algorithm.fresh(now), now),
        }
    }

    /// The state held for `client`, if any.
    pub fn state(&self, client: u64) -> Option<&A::State> {
        self.index
            .get(&client)
            .map(|&idx| &self.slots[idx as usize].state)
    }

    /// Number of keys held (<= `max_keys`).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The bound on keys held.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// The algorithm's parameters.
    pub fn algorithm(&self) -> &A {
        &self.algorithm
    }

    /// Eviction counters.
    pub fn stats(&self) -> KeyedStats {
        self.stats
    }

    /// Adds `client` in the fresh state, evicting one key if full; returns
    /// its slot, already at the most-recently-used end.
    fn insert(&mut self, now: Timestamp, client: u64) -> u32 {
        let state = self.algorithm.fresh(now);
        let fresh_at = self.algorithm.fresh_at(&state);
        let slot = Slot {
            client,
            state,
            fresh_at,
            prev: NIL,
            next: NIL,
        };
        let idx = if self.slots.len() < self.max_keys {
            // len < max_keys <= NIL, so the index fits in u32.
            self.slots.push(slot);
            (self.slots.len() - 1) as u32
        } else {
            let victim = self.evict(now);
            self.slots[victim as usize] = slot;
            victim
        };
        self.by_fresh.insert((fresh_at, idx));
        self.index.insert(client, idx);
        self.push_front(idx);
        idx
    }

    /// Removes the eviction victim from every index; returns its free slot.
    fn evict(&mut self, now: Timestamp) -> u32 {
        let victim = match self.by_fresh.first() {
            Some(&(fresh_at, idx)) if fresh_at <= now => {
                self.stats.evicted_fresh += 1;
                idx
            }
            _ => {
                self.stats.evicted_active += 1;
                self.tail
            }
        };
        // The map is full (max_keys >= 1), so `tail` is a live slot.
        let slot = &self.slots[victim as usize];
        self.by_fresh.remove(&(slot.fresh_at, victim));
        self.index.remove(&slot.client);
        self.unlink(victim);
        victim
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let slot = &self.slots[idx as usize];
            (slot.prev, slot.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, idx: u32) {
        let old_head = self.head;
        {
            let slot = &mut self.slots[idx as usize];
            slot.prev = NIL;
            slot.next = old_head;
        }
        match old_head {
            NIL => self.tail = idx,
            h => self.slots[h as usize].prev = idx,
        }
        self.head = idx;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Gcra;

    fn ms(v: u64) -> Timestamp {
        Timestamp::from_nanos(v * 1_000_000)
    }

    #[test]
    fn evicts_fresh_key_before_lru() {
        // One cell per 100 ms, burst 1: a key is fresh 100 ms after its admit.
        let gcra = Gcra::with_period(Span::from_millis(100), 1).expect("valid");
        let mut keyed = Keyed::new(gcra, 2);
        assert!(keyed.check(ms(0), 1).is_admit()); // fresh again at 100 ms
        assert!(keyed.check(ms(50), 2).is_admit()); // fresh again at 150 ms
        assert!(!keyed.check(ms(60), 1).is_admit()); // 1 is now MRU
        // At 120 ms key 1 (tat 100) is fresh although key 2 is the LRU.
        assert!(keyed.check(ms(120), 3).is_admit());
        assert_eq!(
            keyed.stats(),
            KeyedStats {
                evicted_fresh: 1,
                evicted_active: 0
            }
        );
        assert!(keyed.state(1).is_none());
        assert!(keyed.state(2).is_some());
        // At 130 ms nothing is fresh: the LRU (key 2) goes.
        assert!(keyed.check(ms(130), 4).is_admit());
        assert_eq!(
            keyed.stats(),
            KeyedStats {
                evicted_fresh: 1,
                evicted_active: 1
            }
        );
        assert!(keyed.state(2).is_none());
        assert_eq!(keyed.len(), 2);
    }

    #[test]
    fn capacity_error_creates_no_key() {
        let gcra = Gcra::with_period(Span::from_millis(100), 3).expect("valid");
        let mut keyed = Keyed::new(gcra, 2);
        assert_eq!(
            keyed.check_n(ms(0), 7, 4),
            Err(InsufficientCapacity { max_n: 3 })
        );
        assert!(keyed.is_empty());
        assert_eq!(keyed.remaining(ms(0), 7), 3);
    }
}
