//! LRU: an open-addressing table whose slots are the cached objects, in
//! recency order by an access log (`recency.rs`).
//!
//! The other algorithms keep a hash index of node numbers and the objects
//! in nodes (`index.rs`, `arena.rs`): a lookup reads the key's index slot,
//! then its node, two dependent loads from memory once the cache outgrows
//! the CPU caches. LRU needs nothing but the key, size and log position of
//! an object (16 bytes), and its expiry in a cache with a TTL (24; see
//! [`Slot`]), so here the slot *is* the object: a hit
//! reads one random place in memory (the slot; the log's append and live
//! bit are sequential or cache-resident), a miss two (its slot and the
//! victim's, which the log knows ahead and the evictions before it
//! prefetch).
//!
//! Linear probing, home slot from the key's Fibonacci hash mapped onto
//! the table by a multiply (so a table of any size: one preallocated
//! for a capacity of `C` objects has exactly `2C` slots), load factor at
//! most 1/2 (at least 1/4 after growing, which doubles), deletion by
//! backward shift (no tombstones). The log names objects by slot, so a slot that
//! moves (a backward shift, a growth) renames its log entry
//! ([`Log::renumber`]): a store, which the CPU does not wait for.
//!
//! Sizes are stored in 32 bits; an object of 4 GiB or more keeps its size
//! in a side table by key (`sizes.rs`).

use crate::hint::{self, prefetch, prefetch_addr};
use crate::recency::{Log, Positions};
use crate::sizes::{self, BigSizes};
use crate::{Access, CacheSpec, Request, Room, Stats};

/// A key's hash for the table: Fibonacci hashing (a multiply by 2^64 over
/// the golden ratio), whose high bits, the ones [`Table::home`] uses, depend
/// on every bit of the key and spread consecutive keys evenly. One multiply,
/// where the index's finaliser takes a dozen instructions; it is also
/// recomputed for every slot a backward shift looks at.
#[inline]
fn hash(key: u64) -> u64 {
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// How far past the log's head the eviction hints look for victims.
const LOOK_AHEAD: usize = 512;

/// Which victim an eviction of [`Lru::access_batch`] starts loading: the
/// one `BATCH_VICTIM_AHEAD + 1` evictions on (the nearer ones' slots were
/// loaded by the evictions before). One request at a time ([`Lru::access`],
/// the simulator's tiers) an eviction loads the victim after next (1). A
/// batch keeps the slots of 16 requests loading besides, so a victim's slot
/// takes longer to arrive, and at 1 the eviction waits for it. Measured with
/// the batch loop of the cache bench, 1 M items, binaries alternated eight
/// times: 2 gives 1.13x on uniform keys (medians 17.3 and 19.5 M/s), Zipf
/// 0.9 and 1.0 unchanged within the machine's noise; one request at a time
/// it gave about 0.9x, the longer bitmap scan costing more than it hides.
const BATCH_VICTIM_AHEAD: usize = 2;

/// A slot's `pos` when the slot is empty (log positions are below it).
const EMPTY: u32 = u32::MAX;

/// A table slot: one cached object (its key, size and log position, and
/// its expiry in a cache with a TTL), or an empty slot (`pos == EMPTY`).
///
/// Two layouts, so that a cache pays for an expiry only if it has a TTL:
/// [`Plain`] (16 bytes) and [`Expiring`] (24). A cache without a TTL
/// fetches fewer lines per access (four slots to a line, none straddling
/// two, where a 24-byte slot straddles one time in four) and holds a third
/// less memory; where many requests are in flight at once
/// ([`Lru::access_batch`]), lines from memory are what limits the rate.
pub(crate) trait Slot: Copy + std::fmt::Debug {
    /// An empty slot.
    const VACANT: Self;
    /// A slot holding `key`, expiring at `expiry_ns`, its size 0 and its
    /// position `EMPTY` (both set next).
    fn new(key: u64, expiry_ns: u64) -> Self;
    fn key(&self) -> u64;
    /// Size in bytes, or `sizes::BIG` (read it with [`Table::size`]).
    fn size(&self) -> u32;
    fn size_mut(&mut self) -> &mut u32;
    /// The object's position in the log; `EMPTY` for an empty slot.
    fn pos(&self) -> u32;
    fn set_pos(&mut self, pos: u32);
    /// When the object expires, in nanoseconds; `u64::MAX` when it never
    /// does (so the freshness test needs no branch on the spec).
    fn expiry_ns(&self) -> u64;
    /// Sets the expiry; only a cache with a TTL (an [`Expiring`] slot)
    /// sets one.
    fn set_expiry_ns(&mut self, expiry_ns: u64);
}

/// The slot of a cache without a TTL: 16 bytes, aligned to 16 so that four
/// share a cache line and none straddles two.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(16))]
pub(crate) struct Plain {
    key: u64,
    size: u32,
    pos: u32,
}

/// The slot of a cache with a TTL: 24 bytes.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Expiring {
    key: u64,
    expiry_ns: u64,
    size: u32,
    pos: u32,
}

/// The accessors both slot layouts share (same field names).
macro_rules! shared_accessors {
    () => {
        #[inline(always)]
        fn key(&self) -> u64 {
            self.key
        }
        #[inline(always)]
        fn size(&self) -> u32 {
            self.size
        }
        #[inline(always)]
        fn size_mut(&mut self) -> &mut u32 {
            &mut self.size
        }
        #[inline(always)]
        fn pos(&self) -> u32 {
            self.pos
        }
        #[inline(always)]
        fn set_pos(&mut self, pos: u32) {
            self.pos = pos;
        }
    };
}

impl Slot for Plain {
    const VACANT: Self = Plain {
        key: 0,
        size: 0,
        pos: EMPTY,
    };
    #[inline(always)]
    fn new(key: u64, expiry_ns: u64) -> Self {
        debug_assert_eq!(expiry_ns, u64::MAX, "a cache without a TTL");
        Plain {
            key,
            size: 0,
            pos: EMPTY,
        }
    }
    shared_accessors!();
    #[inline(always)]
    fn expiry_ns(&self) -> u64 {
        u64::MAX
    }
    #[inline(always)]
    fn set_expiry_ns(&mut self, expiry_ns: u64) {
        debug_assert_eq!(expiry_ns, u64::MAX, "a cache without a TTL");
    }
}

impl Slot for Expiring {
    const VACANT: Self = Expiring {
        key: 0,
        expiry_ns: 0,
        size: 0,
        pos: EMPTY,
    };
    #[inline(always)]
    fn new(key: u64, expiry_ns: u64) -> Self {
        Expiring {
            key,
            expiry_ns,
            size: 0,
            pos: EMPTY,
        }
    }
    shared_accessors!();
    #[inline(always)]
    fn expiry_ns(&self) -> u64 {
        self.expiry_ns
    }
    #[inline(always)]
    fn set_expiry_ns(&mut self, expiry_ns: u64) {
        self.expiry_ns = expiry_ns;
    }
}

impl<S: Slot> Positions for [S] {
    #[inline]
    fn set_position(&mut self, entry: u32, at: u32) {
        self[entry as usize].set_pos(at);
    }

    #[inline]
    fn prefetch(&self, entry: u32) {
        prefetch(&self[entry as usize]);
    }
}

/// A table of `n` slots, checked: the log names slots in 32 bits.
fn table_size(n: usize) -> usize {
    assert!(
        n < u32::MAX as usize,
        "an LRU table of more than 2^32 - 1 slots"
    );
    n
}

/// The hash table of objects.
#[derive(Debug)]
struct Table<S> {
    slots: Vec<S>,
    len: usize,
    /// Sizes of 4 GiB or more, by key.
    big: BigSizes,
}

impl<S: Clone> Clone for Table<S> {
    fn clone(&self) -> Self {
        Table {
            slots: hint::copied(&self.slots),
            len: self.len,
            big: self.big.clone(),
        }
    }
}

impl<S: Slot> Table<S> {
    /// A table for `expected` objects without growing.
    fn with_capacity(expected: usize) -> Self {
        Table {
            slots: hint::filled(table_size(expected.max(4) * 2), S::VACANT),
            len: 0,
            big: BigSizes::default(),
        }
    }

    /// Starts loading slot `i` and the slots after it that a probe or a
    /// backward shift from it reads first: the slot's cache line and the
    /// next (a run goes on into the next line often, and a 24-byte slot may
    /// straddle two). Loading the next line only for a 16-byte slot that is
    /// the last of its line measured about 0.85x in the batch loop (1 M
    /// items, three key distributions, binaries alternated three times;
    /// 0.7-1.1x a run): the second line costs the memory system little, a
    /// missing one costs a probe a wait.
    #[inline]
    fn prefetch_run(&self, i: usize) {
        let slot = &self.slots[i];
        prefetch(slot);
        // One line on, which may be past the table's end: a prefetch of
        // any address is a harmless hint.
        prefetch_addr(std::ptr::from_ref(slot).cast::<u8>().wrapping_add(64));
    }

    /// The home slot of a hash: its high bits scaled onto the table
    /// (`hash * n / 2^64`, Lemire's multiply-shift reduction).
    #[inline]
    fn home(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.slots.len() as u128) >> 64) as usize
    }

    /// The slot after `i`, wrapping around.
    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() { 0 } else { i + 1 }
    }

    /// Slots from `from` forward to `to`, wrapping around.
    #[inline]
    fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.slots.len() - from
        }
    }

    /// The slot of `key` (whose hash is `hash`).
    #[inline]
    fn find(&self, hash: u64, key: u64) -> Option<usize> {
        let mut i = self.home(hash);
        loop {
            let slot = &self.slots[i];
            if slot.pos() == EMPTY {
                return None;
            }
            if slot.key() == key {
                return Some(i);
            }
            i = self.next(i);
        }
    }

    /// Adds an object whose key is absent and records it in `log` as the
    /// most recently used. Always inline: on every miss's path, and with
    /// `Lru::admit` in two versions the compiler would otherwise call it.
    #[inline(always)]
    fn insert(&mut self, log: &mut Log, hash: u64, key: u64, size: u64, expiry_ns: u64) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow(log);
        }
        let mut i = self.home(hash);
        while self.slots[i].pos() != EMPTY {
            i = self.next(i);
        }
        self.slots[i] = S::new(key, expiry_ns);
        self.set_size(i, size);
        self.len += 1;
        log.push(&mut self.slots[..], i as u32);
    }

    /// Empties slot `i` (its log position must already be forgotten),
    /// pulling the later members of its run back into the hole when their
    /// home allows it, and renaming them in `log`.
    #[inline]
    fn remove(&mut self, log: &mut Log, i: usize) {
        self.big.forget(self.slots[i].size(), self.slots[i].key());
        let mut hole = i;
        let mut j = self.next(i);
        loop {
            let slot = self.slots[j];
            if slot.pos() == EMPTY {
                break;
            }
            let home = self.home(hash(slot.key()));
            // The slot may fill the hole if the hole is not before its home
            // (cyclically): its distance from home is at least the hole's
            // distance from it.
            if self.distance(home, j) >= self.distance(hole, j) {
                self.slots[hole] = slot;
                log.renumber(slot.pos(), hole as u32);
                hole = j;
            }
            j = self.next(j);
        }
        self.slots[hole].set_pos(EMPTY);
        self.len -= 1;
    }

    /// Doubles the table, renaming every object in `log`.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, log: &mut Log) {
        let n = table_size(self.slots.len() * 2);
        let old = std::mem::replace(&mut self.slots, hint::filled(n, S::VACANT));
        for slot in old.into_iter().filter(|s| s.pos() != EMPTY) {
            let mut i = self.home(hash(slot.key()));
            while self.slots[i].pos() != EMPTY {
                i = self.next(i);
            }
            self.slots[i] = slot;
            log.renumber(slot.pos(), i as u32);
        }
    }

    /// Slot `i`'s object size in bytes.
    #[inline]
    fn size(&self, i: usize) -> u64 {
        self.big.get(self.slots[i].size(), self.slots[i].key())
    }

    /// Whether slot `i`'s size is `size` bytes.
    #[inline]
    fn has_size(&self, i: usize, size: u64) -> bool {
        sizes::holds(self.slots[i].size(), size)
    }

    /// Sets slot `i`'s size in bytes.
    #[inline]
    fn set_size(&mut self, i: usize, size: u64) {
        let slot = &mut self.slots[i];
        let key = slot.key();
        self.big.set(slot.size_mut(), key, size);
    }

    fn clear(&mut self) {
        self.slots.fill(S::VACANT);
        self.len = 0;
        self.big.clear();
    }

    fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<S>() + self.big.heap_bytes()
    }
}

/// An LRU cache.
#[derive(Clone, Debug)]
pub(crate) struct Lru<S> {
    spec: CacheSpec,
    room: Room,
    /// Whether an object was evicted since the cache was made or cleared
    /// (whether the eviction hints are worth their instructions).
    has_evicted: bool,
    table: Table<S>,
    log: Log,
    stats: Stats,
}

impl<S: Slot> Lru<S> {
    /// An empty cache of a valid LRU `spec` in `room`,
    /// sized for `expected` objects without growing.
    pub(crate) fn new(spec: &CacheSpec, room: Room, expected: usize) -> Self {
        Lru {
            spec: *spec,
            room,
            has_evicted: false,
            table: Table::with_capacity(expected),
            log: Log::with_capacity(expected),
            stats: Stats::default(),
        }
    }

    /// [`crate::Cache::get`].
    pub(crate) fn get(&mut self, now_ns: u64, key: u64) -> bool {
        match self.lookup(now_ns, key, hash(key)) {
            Some(i) => {
                self.stats.hits += 1;
                self.stats.byte_hits += u128::from(self.table.size(i));
                true
            }
            None => {
                self.stats.misses += 1;
                false
            }
        }
    }

    /// [`crate::Cache::insert`].
    pub(crate) fn insert(&mut self, now_ns: u64, key: u64, size_bytes: u64) {
        let hash = hash(key);
        if let Some(i) = self.table.find(hash, key) {
            self.resize(i, size_bytes);
            if let Some(ttl) = self.spec.ttl_ns {
                self.table.slots[i].set_expiry_ns(now_ns.saturating_add(ttl));
            }
            return;
        }
        self.admit::<1>(now_ns, key, hash, size_bytes);
    }

    /// [`crate::Cache::access`].
    pub(crate) fn access(&mut self, now_ns: u64, key: u64, size_bytes: u64) -> Access {
        self.access_hashed::<1>(now_ns, key, hash(key), size_bytes)
    }

    /// [`Lru::access`] of a key whose hash is already known; evictions
    /// prefetch the victim `VICTIM_AHEAD + 1` evictions on ([`Lru::evict`]).
    #[inline(always)]
    fn access_hashed<const VICTIM_AHEAD: usize>(
        &mut self,
        now_ns: u64,
        key: u64,
        hash: u64,
        size_bytes: u64,
    ) -> Access {
        if let Some(i) = self.lookup(now_ns, key, hash) {
            self.stats.hits += 1;
            self.stats.byte_hits += u128::from(size_bytes);
            if self.spec.update_size_on_hit {
                self.resize(i, size_bytes);
            }
            return Access::Hit;
        }
        self.stats.misses += 1;
        self.stats.byte_misses += u128::from(size_bytes);
        self.admit::<VICTIM_AHEAD>(now_ns, key, hash, size_bytes);
        Access::Miss
    }

    /// [`crate::Cache::access_batch`]: request `i + D` has its slot
    /// prefetched while request `i` runs (its hash computed once, then),
    /// and each eviction prefetches the slot of a victim further on
    /// ([`BATCH_VICTIM_AHEAD`]), so the loads of about `D` requests overlap.
    pub(crate) fn access_batch(&mut self, requests: &[Request]) {
        const D: usize = 16;
        // A ring of the hashes of requests `i .. i + D`.
        const RING: usize = 2 * D;
        let mut hashes = [0u64; RING];
        for (j, r) in requests.iter().take(D).enumerate() {
            hashes[j] = hash(r.key);
            self.prefetch_home(hashes[j]);
        }
        for (i, r) in requests.iter().enumerate() {
            if let Some(ahead) = requests.get(i + D) {
                let hash = hash(ahead.key);
                hashes[(i + D) % RING] = hash;
                self.prefetch_home(hash);
            }
            self.access_hashed::<BATCH_VICTIM_AHEAD>(
                r.now_ns,
                r.key,
                hashes[i % RING],
                r.size_bytes,
            );
        }
    }

    #[inline]
    fn prefetch_home(&self, hash: u64) {
        self.table.prefetch_run(self.table.home(hash));
    }

    /// [`crate::Cache::prefetch_slot`]: the key's slot, which is its object.
    #[inline]
    pub(crate) fn prefetch_slot(&self, key: u64) {
        self.prefetch_home(hash(key));
    }

    /// [`crate::Cache::prefetch_fill`]: the key's slot and the next
    /// victim's.
    #[inline]
    pub(crate) fn prefetch_fill(&self, key: u64) {
        self.prefetch_home(hash(key));
        if self.has_evicted
            && let Some(victim) = self.log.upcoming(0, LOOK_AHEAD)
        {
            prefetch(&self.table.slots[victim as usize]);
        }
    }

    /// [`crate::Cache::contains`].
    pub(crate) fn contains(&self, now_ns: u64, key: u64) -> bool {
        self.table
            .find(hash(key), key)
            .is_some_and(|i| self.table.slots[i].expiry_ns() >= now_ns)
    }

    /// [`crate::Cache::remove`].
    pub(crate) fn remove(&mut self, key: u64) -> bool {
        match self.table.find(hash(key), key) {
            Some(i) => {
                self.unlink(i);
                true
            }
            None => false,
        }
    }

    /// [`crate::Cache::rebase`]: every stored expiry moves back (an LRU
    /// without a TTL stores none).
    pub(crate) fn rebase(&mut self, by_ns: u64) {
        if self.spec.ttl_ns.is_none() {
            return;
        }
        for slot in self.table.slots.iter_mut().filter(|s| s.pos() != EMPTY) {
            let e = slot.expiry_ns();
            if e != u64::MAX {
                slot.set_expiry_ns(e.saturating_sub(by_ns));
            }
        }
    }

    /// [`crate::Cache::clear`].
    pub(crate) fn clear(&mut self) {
        self.table.clear();
        self.log.clear();
        self.room.clear();
        self.has_evicted = false;
    }

    pub(crate) fn spec(&self) -> &CacheSpec {
        &self.spec
    }

    pub(crate) fn stats(&self) -> Stats {
        self.stats
    }

    pub(crate) fn len(&self) -> u64 {
        self.table.len as u64
    }

    pub(crate) fn used_bytes(&self) -> u128 {
        self.room.used_bytes
    }

    /// [`crate::Cache::heap_bytes`]: the table and the log.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.heap_bytes() + self.log.heap_bytes()
    }

    /// Finds `key` for a request: drops it if expired, else moves it to the
    /// most recently used end.
    #[inline(always)]
    fn lookup(&mut self, now_ns: u64, key: u64, hash: u64) -> Option<usize> {
        let i = self.table.find(hash, key)?;
        let slot = self.table.slots[i];
        let (expiry_ns, pos) = (slot.expiry_ns(), slot.pos());
        if expiry_ns < now_ns {
            self.stats.expirations += 1;
            self.unlink(i);
            return None;
        }
        self.log.touch(&mut self.table.slots[..], i as u32, pos);
        Some(i)
    }

    /// Sets slot `i`'s size (a hit or refill of another size); the common
    /// case, the same size again, inline.
    #[inline]
    fn resize(&mut self, i: usize, size_bytes: u64) {
        if !self.table.has_size(i, size_bytes) {
            self.resize_to(i, size_bytes);
        }
    }

    #[inline(never)]
    fn resize_to(&mut self, i: usize, size_bytes: u64) {
        let old = self.table.size(i);
        self.room.resize(old, size_bytes);
        self.table.set_size(i, size_bytes);
    }

    /// Admits a missed object (libCacheSim's `can_insert`, evict loop,
    /// `insert`).
    #[inline]
    fn admit<const VICTIM_AHEAD: usize>(
        &mut self,
        now_ns: u64,
        key: u64,
        hash: u64,
        size_bytes: u64,
    ) {
        let w = self.room.weight(size_bytes);
        if w > self.room.capacity {
            self.stats.rejected += 1;
            return;
        }
        while self.room.is_full_for(w) {
            self.evict::<VICTIM_AHEAD>(now_ns);
        }
        let expiry_ns = self
            .spec
            .ttl_ns
            .map_or(u64::MAX, |ttl| now_ns.saturating_add(ttl));
        self.table
            .insert(&mut self.log, hash, key, size_bytes, expiry_ns);
        self.room.add(size_bytes);
    }

    /// Removes the least recently used object, then starts loading the slot
    /// of the victim `VICTIM_AHEAD + 1` evictions on (the nearer ones' were
    /// loaded by the evictions before this one).
    #[inline]
    fn evict<const VICTIM_AHEAD: usize>(&mut self, now_ns: u64) {
        self.has_evicted = true;
        let victim = self.log.oldest().expect("a full cache has a victim") as usize;
        if self.table.slots[victim].expiry_ns() < now_ns {
            self.stats.expirations += 1;
        } else {
            self.stats.evictions += 1;
        }
        self.unlink(victim);
        if let Some(after) = self.log.upcoming(VICTIM_AHEAD, LOOK_AHEAD) {
            self.table.prefetch_run(after as usize);
        }
    }

    /// Takes slot `i`'s object out of the log, the table and the accounting.
    #[inline]
    fn unlink(&mut self, i: usize) {
        let size = self.table.size(i);
        self.log.forget(self.table.slots[i].pos());
        self.room.take(size);
        self.table.remove(&mut self.log, i);
    }

    /// The mean number of slots a lookup of a cached key reads (tests).
    #[cfg(test)]
    pub(crate) fn mean_probe(&self) -> f64 {
        let t = &self.table;
        let total: usize = (0..t.slots.len())
            .filter(|&i| t.slots[i].pos() != EMPTY)
            .map(|i| t.distance(t.home(hash(t.slots[i].key())), i) + 1)
            .sum();
        total as f64 / t.len as f64
    }

    /// Checks the table and log against each other (tests).
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let live: Vec<usize> = (0..self.table.slots.len())
            .filter(|&i| self.table.slots[i].pos() != EMPTY)
            .collect();
        assert_eq!(live.len(), self.table.len);
        for &i in &live {
            let slot = self.table.slots[i];
            assert_eq!(self.table.find(hash(slot.key()), slot.key()), Some(i));
        }
        let order: Vec<u32> = (0..live.len())
            .map(|n| self.log.upcoming(n, usize::MAX).expect("a live entry"))
            .collect();
        let mut sorted: Vec<usize> = order.iter().map(|&i| i as usize).collect();
        sorted.sort_unstable();
        assert_eq!(sorted, live, "the log names every object once");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Capacity, Eviction, Room};

    /// Fibonacci hashing spreads structured keys as well as random ones: at
    /// load 1/2, linear probing reads about 1.5 slots per successful lookup
    /// for a random hash (Knuth); sequential ids, ids in the high bits and
    /// strided ids must not cluster beyond that.
    #[test]
    fn structured_keys_do_not_cluster() {
        type Pattern = (&'static str, fn(u64) -> u64);
        let patterns: [Pattern; 5] = [
            ("sequential", |i| i),
            ("stride 2^20", |i| i << 20),
            ("stride 2^32", |i| i << 32),
            ("stride 2^50", |i| i << 50),
            ("stride 1000", |i| i * 1000),
        ];
        for (name, key) in patterns {
            let spec = CacheSpec::new(Eviction::Lru, Capacity::Items(8192));
            let mut lru = Lru::<Plain>::new(&spec, Room::new(8192, false), 8192);
            for i in 0..8192 {
                lru.access(0, key(i), 1);
            }
            assert_eq!(lru.len(), 8192);
            let mean = lru.mean_probe();
            assert!(mean < 1.6, "{name}: {mean} slots per lookup");
        }
    }
}
