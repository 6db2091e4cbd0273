//! Every algorithm but LRU: FIFO, LFU, S3-FIFO and TTL-only, on a hash index
//! (`index.rs`) of nodes linked into queues (`arena.rs`).

use crate::arena::{Arena, List, NIL, Node};
use crate::ghost::Ghost;
use crate::index::{Index, Tag};
use crate::lfu::Lfu;
use crate::{
    Access, CacheSpec, Eviction, FREQ, IN_MAIN, Request, Room, S3FIFO_GHOST_RATIO,
    S3FIFO_MOVE_TO_MAIN_THRESHOLD, S3FIFO_SMALL_RATIO, Stats, hint,
};

/// Why no LRU arm is ever reached: [`crate::Cache`] makes LRU caches
/// `lru::Lru`.
const LRU_ELSEWHERE: &str = "an LRU cache is an lru::Lru, never Queues";

/// FIFO, LFU, S3-FIFO and TTL-only: the cache of every algorithm but LRU.
#[derive(Clone, Debug)]
pub(crate) struct Queues {
    spec: CacheSpec,
    room: Room,
    index: Index,
    arena: Arena,
    /// FIFO/TTL-only/LFU's queue; S3-FIFO's main queue.
    main: List,
    small: List,
    small_used: u64,
    main_used: u64,
    small_capacity: u64,
    main_capacity: u64,
    /// Whether an object was evicted since the cache was made or cleared:
    /// S3-FIFO's "before the first eviction" rule, and whether the
    /// eviction hints are worth their instructions (a cache still filling
    /// up evicts nothing).
    has_evicted: bool,
    ghost: Option<Box<Ghost>>,
    /// The key whose miss in [`Cache::get`] found it in the ghost.
    ghost_hit: Option<u64>,
    lfu: Lfu,
    stats: Stats,
}

impl Queues {
    /// An empty cache of a valid `spec` (not LRU) in `room`, sized for
    /// `expected` objects without growing.
    pub(crate) fn new(spec: &CacheSpec, room: Room, expected: usize) -> Self {
        let capacity = room.capacity;
        // libCacheSim: `(int64_t)C * ratio` truncates toward zero.
        let small_capacity = (capacity as f64 * S3FIFO_SMALL_RATIO) as u64;
        let ghost_capacity = (capacity as f64 * S3FIFO_GHOST_RATIO) as u64;
        let ghost = (spec.eviction == Eviction::S3Fifo && ghost_capacity > 0)
            .then(|| Box::new(Ghost::new(ghost_capacity, expected)));
        Queues {
            spec: *spec,
            room,
            index: Index::with_capacity(expected),
            arena: Arena::with_capacity(expected),
            main: List::default(),
            small: List::default(),
            small_used: 0,
            main_used: 0,
            small_capacity,
            main_capacity: capacity - small_capacity,
            has_evicted: false,
            ghost,
            ghost_hit: None,
            lfu: Lfu::default(),
            stats: Stats::default(),
        }
    }

    /// [`Cache::get`].
    pub(crate) fn get(&mut self, now_ns: u64, key: u64) -> bool {
        let tag = Tag::of(key);
        match self.lookup(now_ns, key, tag) {
            Some(i) => {
                self.stats.hits += 1;
                self.stats.byte_hits += u128::from(self.arena.size(i));
                true
            }
            None => {
                self.stats.misses += 1;
                if let Some(ghost) = &mut self.ghost {
                    self.ghost_hit = ghost.remove(tag, key).then_some(key);
                }
                false
            }
        }
    }

    /// [`Cache::insert`].
    pub(crate) fn insert(&mut self, now_ns: u64, key: u64, size_bytes: u64) {
        let tag = Tag::of(key);
        if let Some(i) = self.find(tag, key) {
            self.resize(i, size_bytes);
            if let Some(ttl) = self.spec.ttl_ns {
                self.arena.get_mut(i).expiry_ns = now_ns.saturating_add(ttl);
            }
            return;
        }
        let ghost_hit = match &mut self.ghost {
            Some(ghost) => self.ghost_hit.take() == Some(key) || ghost.remove(tag, key),
            None => false,
        };
        self.admit(now_ns, key, tag, size_bytes, ghost_hit);
    }

    /// [`Cache::access`].
    pub(crate) fn access(&mut self, now_ns: u64, key: u64, size_bytes: u64) -> Access {
        self.access_tagged(now_ns, key, Tag::of(key), size_bytes)
    }

    /// [`Cache::access`] of a key whose tag is already known.
    #[inline]
    fn access_tagged(&mut self, now_ns: u64, key: u64, tag: Tag, size_bytes: u64) -> Access {
        if let Some(i) = self.lookup(now_ns, key, tag) {
            self.stats.hits += 1;
            self.stats.byte_hits += u128::from(size_bytes);
            if self.spec.update_size_on_hit {
                self.resize(i, size_bytes);
            }
            return Access::Hit;
        }
        self.stats.misses += 1;
        self.stats.byte_misses += u128::from(size_bytes);
        let ghost_hit = match &mut self.ghost {
            Some(ghost) => ghost.remove(tag, key),
            None => false,
        };
        self.admit(now_ns, key, tag, size_bytes, ghost_hit);
        Access::Miss
    }

    /// [`Cache::access_batch`]. An access to a cache larger than the CPU
    /// caches waits on memory for a key's index slot, then its node, and on
    /// a miss for the victim and its slot. Each wait depends on the one
    /// before, so one request at a time leaves the memory system idle. Here
    /// request `i + 2D` has its slot prefetched and request `i + D` its node
    /// (found from the slot, now loaded), and after each access the next
    /// victim's slot and successor, so the loads of about `2D` requests
    /// overlap. A request's hash is computed once, when its slot is
    /// prefetched. Prefetches are hints: a guess that is stale by the time
    /// its request runs (a tag collided, a victim was hit) costs a load,
    /// never a wrong answer.
    pub(crate) fn access_batch(&mut self, requests: &[Request]) {
        const D: usize = 8;
        // A ring of the tags of requests `i .. i + 2D`.
        const RING: usize = 4 * D;
        let mut tags = [Tag::default(); RING];
        for (j, r) in requests.iter().take(2 * D).enumerate() {
            tags[j] = Tag::of(r.key);
            self.index.prefetch_home(tags[j]);
        }
        for (i, r) in requests.iter().enumerate() {
            if let Some(ahead) = requests.get(i + 2 * D) {
                let tag = Tag::of(ahead.key);
                tags[(i + 2 * D) % RING] = tag;
                self.index.prefetch_home(tag);
            }
            if i + D < requests.len()
                && let Some(node) = self.index.guess(tags[(i + D) % RING])
            {
                self.prefetch_node(node);
            }
            self.access_tagged(r.now_ns, r.key, tags[i % RING], r.size_bytes);
            self.prefetch_eviction();
        }
    }

    /// [`Cache::prefetch_slot`]: the key's index slot.
    #[inline]
    pub(crate) fn prefetch_slot(&self, key: u64) {
        self.index.prefetch_home(Tag::of(key));
    }

    /// [`Cache::prefetch_fill`]: the key's index slot and the nodes at the
    /// eviction end of the queues.
    #[inline]
    pub(crate) fn prefetch_fill(&self, key: u64) {
        self.index.prefetch_home(Tag::of(key));
        if !self.has_evicted {
            return;
        }
        for tail in [self.main.tail, self.small.tail] {
            self.prefetch_node(tail);
        }
    }

    /// [`Cache::prefetch_entry`]: `key`'s node, found through its index
    /// slot.
    #[inline]
    pub(crate) fn prefetch_entry(&self, key: u64) {
        if let Some(node) = self.index.guess(Tag::of(key)) {
            self.prefetch_node(node);
        }
    }

    #[inline]
    fn prefetch_node(&self, node: u32) {
        if let Some(n) = self.arena.nodes.get(node as usize) {
            hint::prefetch(n);
        }
    }

    /// [`Cache::prefetch_eviction`]: the tail nodes' index slots and the
    /// nodes that become the tails after them.
    #[inline]
    pub(crate) fn prefetch_eviction(&self) {
        if !self.has_evicted {
            return;
        }
        for tail in [self.main.tail, self.small.tail] {
            if let Some(n) = self.arena.nodes.get(tail as usize) {
                self.index.prefetch_home(Tag::of(n.key));
                self.prefetch_node(n.prev);
            }
        }
    }

    /// [`Cache::contains`].
    pub(crate) fn contains(&self, now_ns: u64, key: u64) -> bool {
        self.find(Tag::of(key), key)
            .is_some_and(|i| !self.is_expired(i, now_ns))
    }

    /// [`Cache::remove`].
    pub(crate) fn remove(&mut self, key: u64) -> bool {
        let tag = Tag::of(key);
        if let Some(ghost) = &mut self.ghost {
            ghost.remove(tag, key);
        }
        match self.find(tag, key) {
            Some(i) => {
                self.unlink(i);
                true
            }
            None => false,
        }
    }

    /// [`Cache::rebase`]: every node's expiry moves back (free nodes'
    /// too, harmlessly: a node's expiry is set when it is allocated).
    pub(crate) fn rebase(&mut self, by_ns: u64) {
        if self.spec.ttl_ns.is_some() {
            for node in &mut self.arena.nodes {
                node.expiry_ns = node.expiry_ns.saturating_sub(by_ns);
            }
        }
    }

    /// [`Cache::clear`].
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.arena.clear();
        self.main = List::default();
        self.small = List::default();
        self.lfu.clear();
        if let Some(ghost) = &mut self.ghost {
            ghost.clear();
        }
        self.room.clear();
        self.small_used = 0;
        self.main_used = 0;
        self.has_evicted = false;
        self.ghost_hit = None;
    }

    /// LFU: the frequency of `key`, if cached (tests).
    #[cfg(test)]
    pub(crate) fn lfu_freq(&self, key: u64) -> Option<u64> {
        let i = self.find(Tag::of(key), key)?;
        Some(self.lfu.freq(&self.arena, i))
    }

    pub(crate) fn spec(&self) -> &CacheSpec {
        &self.spec
    }

    pub(crate) fn stats(&self) -> Stats {
        self.stats
    }

    pub(crate) fn len(&self) -> u64 {
        self.index.len() as u64
    }

    pub(crate) fn used_bytes(&self) -> u128 {
        self.room.used_bytes
    }

    /// [`Cache::heap_bytes`]: index, nodes, LFU buckets, ghost.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.index.heap_bytes()
            + self.arena.heap_bytes()
            + self.lfu.heap_bytes()
            + self.ghost.as_ref().map_or(0, |g| g.heap_bytes())
    }

    #[inline]
    fn find(&self, tag: Tag, key: u64) -> Option<u32> {
        let arena = &self.arena;
        self.index.find(tag, key, |n| arena.get(n).key)
    }

    #[inline]
    fn is_expired(&self, i: u32, now_ns: u64) -> bool {
        self.spec.ttl_ns.is_some() && self.arena.get(i).expiry_ns < now_ns
    }

    /// Finds `key` for a request: drops it if expired, else records the hit
    /// with the algorithm.
    #[inline(always)]
    fn lookup(&mut self, now_ns: u64, key: u64, tag: Tag) -> Option<u32> {
        let i = self.find(tag, key)?;
        if self.is_expired(i, now_ns) {
            self.stats.expirations += 1;
            self.unlink(i);
            return None;
        }
        match self.spec.eviction {
            Eviction::Lru => unreachable!("{LRU_ELSEWHERE}"),
            Eviction::Fifo | Eviction::TtlOnly => {}
            Eviction::Lfu => self.lfu.hit(&mut self.arena, i),
            Eviction::S3Fifo => {
                let n = self.arena.get_mut(i);
                if n.aux & FREQ < FREQ {
                    n.aux += 1;
                }
            }
        }
        Some(i)
    }

    /// Sets node `i`'s size (a hit or refill of another size); the common
    /// case, the same size again, inline.
    #[inline]
    fn resize(&mut self, i: u32, size_bytes: u64) {
        if !self.arena.has_size(i, size_bytes) {
            self.resize_to(i, size_bytes);
        }
    }

    #[inline(never)]
    fn resize_to(&mut self, i: u32, size_bytes: u64) {
        let old = self.arena.size(i);
        if old == size_bytes {
            return;
        }
        let (w_old, w_new) = (self.room.weight(old), self.room.weight(size_bytes));
        self.room.resize(old, size_bytes);
        if self.spec.eviction == Eviction::S3Fifo {
            if self.arena.get(i).aux & IN_MAIN != 0 {
                self.main_used = self.main_used - w_old + w_new;
            } else {
                self.small_used = self.small_used - w_old + w_new;
            }
        }
        self.arena.set_size(i, size_bytes);
    }

    /// Admits a missed object (libCacheSim's `can_insert`, evict loop,
    /// `insert`).
    fn admit(&mut self, now_ns: u64, key: u64, tag: Tag, size_bytes: u64, ghost_hit: bool) {
        let w = self.room.weight(size_bytes);
        let s3 = self.spec.eviction == Eviction::S3Fifo;
        if w > self.room.capacity || (s3 && w > self.small_capacity) {
            self.stats.rejected += 1;
            return;
        }
        if self.spec.eviction == Eviction::TtlOnly {
            self.drop_expired_tail(now_ns);
        }
        while self.room.is_full_for(w) {
            self.evict(now_ns);
        }
        let into_main = if s3 {
            if ghost_hit {
                true
            } else if w >= self.small_capacity {
                // libCacheSim evicts first, then declines to insert.
                self.stats.rejected += 1;
                return;
            } else {
                !self.has_evicted && self.small_used >= self.small_capacity
            }
        } else {
            true
        };
        let expiry_ns = self.spec.ttl_ns.map_or(0, |ttl| now_ns.saturating_add(ttl));
        let i = self.arena.alloc(key, size_bytes, expiry_ns);
        self.index.insert(tag, i);
        self.room.add(size_bytes);
        match self.spec.eviction {
            Eviction::Lfu => self.lfu.insert(&mut self.arena, i),
            Eviction::S3Fifo if !into_main => {
                self.small.push_head(&mut self.arena, i);
                self.small_used += w;
            }
            Eviction::S3Fifo => {
                self.arena.get_mut(i).aux = IN_MAIN;
                self.main.push_head(&mut self.arena, i);
                self.main_used += w;
            }
            Eviction::Lru => unreachable!("{LRU_ELSEWHERE}"),
            Eviction::Fifo | Eviction::TtlOnly => {
                self.main.push_head(&mut self.arena, i);
            }
        }
    }

    /// Removes one object to make room.
    fn evict(&mut self, now_ns: u64) {
        self.has_evicted = true;
        match self.spec.eviction {
            Eviction::Lru => unreachable!("{LRU_ELSEWHERE}"),
            Eviction::Fifo | Eviction::TtlOnly => {
                let victim = self.main.tail;
                self.evict_node(victim, now_ns);
            }
            Eviction::Lfu => {
                let victim = self.lfu.victim().expect("a full cache has a victim");
                self.evict_node(victim, now_ns);
            }
            Eviction::S3Fifo => {
                if self.main_used > self.main_capacity || self.small.is_empty() {
                    self.evict_main(now_ns);
                } else {
                    self.evict_small(now_ns);
                }
            }
        }
    }

    fn evict_small(&mut self, now_ns: u64) {
        while !self.small.is_empty() {
            let t = self.small.tail;
            let node = *self.arena.get(t);
            let w = self.room.weight(self.arena.size(t));
            if node.aux & FREQ >= S3FIFO_MOVE_TO_MAIN_THRESHOLD {
                self.small.unlink(&mut self.arena, t);
                self.main.push_head(&mut self.arena, t);
                self.arena.get_mut(t).aux = IN_MAIN;
                self.small_used -= w;
                self.main_used += w;
            } else {
                if let Some(ghost) = &mut self.ghost {
                    ghost.add(node.key, w);
                }
                self.evict_node(t, now_ns);
                return;
            }
        }
    }

    fn evict_main(&mut self, now_ns: u64) {
        while !self.main.is_empty() {
            let t = self.main.tail;
            let freq = self.arena.get(t).aux & FREQ;
            if freq >= 1 {
                self.main.move_to_head(&mut self.arena, t);
                self.arena.get_mut(t).aux = IN_MAIN | (freq.min(3) - 1);
            } else {
                self.evict_node(t, now_ns);
                return;
            }
        }
    }

    fn evict_node(&mut self, i: u32, now_ns: u64) {
        debug_assert_ne!(i, NIL);
        if self.is_expired(i, now_ns) {
            self.stats.expirations += 1;
        } else {
            self.stats.evictions += 1;
        }
        self.unlink(i);
    }

    /// TTL-only: entries expire in insertion order, so expired ones sit at
    /// the tail.
    fn drop_expired_tail(&mut self, now_ns: u64) {
        while self.main.tail != NIL && self.is_expired(self.main.tail, now_ns) {
            self.stats.expirations += 1;
            self.unlink(self.main.tail);
        }
    }

    /// Takes node `i` out of the index, its queue and the accounting.
    fn unlink(&mut self, i: u32) {
        let Node { key, aux, .. } = *self.arena.get(i);
        let size = self.arena.size(i);
        let w = self.room.weight(size);
        self.index.remove(Tag::of(key), i);
        match self.spec.eviction {
            Eviction::Lfu => self.lfu.remove(&mut self.arena, i),
            Eviction::S3Fifo if aux & IN_MAIN == 0 => {
                self.small.unlink(&mut self.arena, i);
                self.small_used -= w;
            }
            Eviction::S3Fifo => {
                self.main.unlink(&mut self.arena, i);
                self.main_used -= w;
            }
            Eviction::Lru => unreachable!("{LRU_ELSEWHERE}"),
            Eviction::Fifo | Eviction::TtlOnly => {
                self.main.unlink(&mut self.arena, i);
            }
        }
        self.room.take(size);
        self.arena.free(i);
    }
}
