//! Cache eviction algorithms: one implementation of LRU, FIFO, LFU, S3-FIFO
//! and TTL-only, shared by the simulator's cache tiers and the trace-driven
//! fast path (`headroom trace cache`).
//!
//! The semantics are libCacheSim's (`cache_get_base` and the algorithms in
//! `libCacheSim/cache/eviction/`), so miss counts on a trace match it
//! exactly:
//!
//! - [`Cache::access`]: look the key up; on a hit update the algorithm's
//!   state (and the stored size, see [`CacheSpec::update_size_on_hit`]); on a
//!   miss admit the object unless it is larger than the cache (then it is not
//!   cached at all), evicting until it fits.
//! - An entry inserted at `t` with a TTL `T` expires at `t + T` and is a miss
//!   (and dropped, counted in [`Stats::expirations`]) for lookups strictly
//!   after `t + T`, as libCacheSim's `exp_time < now`.
//! - **LRU**: a hit moves the object to the head; evict the tail (the
//!   order is kept as an access log, `recency.rs`, not a linked list).
//! - **FIFO**: hits change nothing; evict the oldest insertion.
//! - **LFU**: evict the least frequently used; **tie rule**: among those, the
//!   one that reached its frequency earliest (see `lfu.rs`).
//! - **S3-FIFO** (Yang et al., SOSP 2023, as libCacheSim's current
//!   `S3FIFO.c`): a small FIFO of 10 % of the capacity (`floor(0.1 C)`), a
//!   main FIFO of the rest, and a ghost FIFO of `floor(0.9 C)` remembering
//!   keys evicted from the small queue. New objects enter the small queue
//!   (the main queue if the key is in the ghost, or if the small queue is
//!   full before the first eviction); a hit increments a counter saturating
//!   at 3. Evicting: from the main queue if it is over its share or the
//!   small queue is empty, else from the small queue. The small queue's tail
//!   moves to the main queue if hit at least twice, else it is evicted into
//!   the ghost; the main queue's tail is reinserted with its counter
//!   decremented (2-bit CLOCK) while the counter is positive. Objects of at
//!   least the small queue's size are not admitted.
//! - **TTL-only**: entries live until they expire; when the cache is full,
//!   expired entries are dropped first and then the entry closest to expiry
//!   (the oldest insertion, since every entry has the same TTL) is evicted.
//!   Requires a TTL.
//!
//! Capacity is a number of items ([`Capacity::Items`]: every object weighs
//! one) or of bytes ([`Capacity::Bytes`]: an object weighs its size, and a
//! size of zero weighs one byte so the number of objects stays bounded).
//!
//! # Memory
//!
//! Memory is bounded by the capacity, never by the key space: per cached
//! object a 32-byte node (key, expiry time, size and queue links in one CPU
//! cache line) plus 16 to 32 bytes of hash index (8-byte slots, load factor
//! between 1/4 and 1/2): **48 to 64 bytes per item**, with or without a TTL
//! (an object of 4 GiB or more adds 12 bytes for its size). LRU adds its
//! access log, about 16.5 bytes per item (four 4-byte positions and their
//! bits): **65 to 81 bytes per item**. S3-FIFO adds its ghost queue, up to
//! `0.9 C` weight of remembered keys at the same cost per key. [`Cache::heap_bytes`] reports the exact figure.
//!
//! # Speed
//!
//! No `HashMap` and no allocation per operation after warm-up: a purpose-built
//! open-addressing index (`index.rs`), index-linked queues in flat arrays
//! (`arena.rs`), and for LRU an access log whose hits touch no other node
//! and whose next victims are known ahead (`recency.rs`). A key is hashed
//! once per request. See `benches/cache.rs`.

mod arena;
mod ghost;
mod index;
mod lfu;
mod prefetch;
mod recency;

use std::fmt;

use arena::{Arena, List, NIL};
use ghost::Ghost;
use index::{Index, Tag};
use lfu::Lfu;
use recency::Log;

/// An eviction algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Eviction {
    /// Least recently used.
    Lru,
    /// First in, first out.
    Fifo,
    /// Least frequently used (FIFO among equal frequencies).
    Lfu,
    /// S3-FIFO (small, main and ghost FIFO queues).
    S3Fifo,
    /// Entries live until their TTL expires.
    TtlOnly,
}

impl Eviction {
    /// Every algorithm, in the order of [`Eviction::NAMES`].
    pub const ALL: [Eviction; 5] = [
        Eviction::Lru,
        Eviction::Fifo,
        Eviction::Lfu,
        Eviction::S3Fifo,
        Eviction::TtlOnly,
    ];

    /// The configuration names: `lru`, `fifo`, `lfu`, `s3-fifo`, `ttl-only`.
    pub const NAMES: [&'static str; 5] = ["lru", "fifo", "lfu", "s3-fifo", "ttl-only"];

    /// The configuration name.
    pub const fn name(self) -> &'static str {
        match self {
            Eviction::Lru => "lru",
            Eviction::Fifo => "fifo",
            Eviction::Lfu => "lfu",
            Eviction::S3Fifo => "s3-fifo",
            Eviction::TtlOnly => "ttl-only",
        }
    }

    /// Parses a configuration name.
    ///
    /// # Errors
    /// [`SpecError::UnknownEviction`] naming the accepted names.
    pub fn parse(name: &str) -> Result<Eviction, SpecError> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| SpecError::UnknownEviction(name.to_owned()))
    }
}

impl fmt::Display for Eviction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How much a cache holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capacity {
    /// A number of objects, whatever their size.
    Items(u64),
    /// A number of bytes (the sum of the cached objects' sizes).
    Bytes(u64),
}

/// What a cache is: its algorithm, capacity and TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CacheSpec {
    /// The eviction algorithm.
    pub eviction: Eviction,
    /// The capacity.
    pub capacity: Capacity,
    /// Time to live of every entry, in nanoseconds; `None` = no expiry.
    pub ttl_ns: Option<u64>,
    /// Whether a hit through [`Cache::access`] with a different size
    /// replaces the stored size (libCacheSim before 2023 and the issue's
    /// contract: `true`, the default); libCacheSim since then keeps the size
    /// of the first miss (`false`).
    pub update_size_on_hit: bool,
}

impl CacheSpec {
    /// A cache without TTL that updates sizes on hits.
    pub const fn new(eviction: Eviction, capacity: Capacity) -> Self {
        CacheSpec {
            eviction,
            capacity,
            ttl_ns: None,
            update_size_on_hit: true,
        }
    }

    /// The same spec with entries expiring `ttl_ns` after insertion.
    pub const fn with_ttl_ns(mut self, ttl_ns: u64) -> Self {
        self.ttl_ns = Some(ttl_ns);
        self
    }
}

/// A spec that cannot make a cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecError {
    /// The capacity is zero.
    ZeroCapacity,
    /// A TTL of zero.
    ZeroTtl,
    /// `ttl-only` without a TTL.
    TtlOnlyWithoutTtl,
    /// An eviction name that is not known.
    UnknownEviction(String),
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::ZeroCapacity => f.write_str("a cache capacity must be at least 1"),
            SpecError::ZeroTtl => f.write_str("a TTL must be positive"),
            SpecError::TtlOnlyWithoutTtl => {
                f.write_str("eviction `ttl-only` needs a `ttl` (entries leave only by expiring)")
            }
            SpecError::UnknownEviction(name) => write!(
                f,
                "unknown eviction {name:?}; expected one of {}",
                Eviction::NAMES.join(", ")
            ),
        }
    }
}

impl std::error::Error for SpecError {}

/// The outcome of [`Cache::access`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The object was cached.
    Hit,
    /// It was not (and has been admitted if it fits).
    Miss,
}

/// One request for [`Cache::access_batch`]: the arguments of
/// [`Cache::access`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// When, in nanoseconds.
    pub now_ns: u64,
    /// The object's key.
    pub key: u64,
    /// The object's size in bytes.
    pub size_bytes: u64,
}

/// Counters since the cache was made (kept across [`Cache::clear`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lookups that found the object.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Bytes of the objects hit (the request's size for [`Cache::access`],
    /// the stored size for [`Cache::get`]).
    pub byte_hits: u64,
    /// Bytes of the objects missed ([`Cache::access`] only; [`Cache::get`]
    /// does not know the size).
    pub byte_misses: u64,
    /// Objects removed to make room.
    pub evictions: u64,
    /// Objects dropped because their TTL had passed.
    pub expirations: u64,
    /// Objects not admitted because they are larger than the cache allows.
    pub rejected: u64,
}

impl Stats {
    /// Misses over lookups (0 without lookups).
    pub fn miss_ratio(&self) -> f64 {
        ratio(self.misses, self.hits + self.misses)
    }

    /// Missed bytes over requested bytes (0 without bytes).
    pub fn byte_miss_ratio(&self) -> f64 {
        ratio(self.byte_misses, self.byte_hits + self.byte_misses)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// S3-FIFO: share of the capacity for the small queue.
pub const S3FIFO_SMALL_RATIO: f64 = 0.10;
/// S3-FIFO: ghost queue capacity over the cache capacity.
pub const S3FIFO_GHOST_RATIO: f64 = 0.90;
/// S3-FIFO: hits in the small queue needed to move to the main queue.
pub const S3FIFO_MOVE_TO_MAIN_THRESHOLD: u32 = 2;

/// S3-FIFO node word: bit 8 = in the main queue, bits 0..8 = hit counter.
const IN_MAIN: u32 = 1 << 8;
const FREQ: u32 = 0xFF;

/// How far past the LRU log's head the eviction hints look for victims.
const LOOK_AHEAD: usize = 512;

/// Preallocate at most this many nodes; beyond it the arrays grow on demand.
const PREALLOCATE: u64 = 1 << 20;

/// A cache. See the crate documentation for the algorithms.
#[derive(Clone, Debug)]
pub struct Cache {
    spec: CacheSpec,
    /// Capacity in weight units (items or bytes).
    capacity: u64,
    by_bytes: bool,
    used: u64,
    used_bytes: u64,
    index: Index,
    arena: Arena,
    /// LRU's recency order.
    log: Log,
    /// FIFO/TTL-only queue; S3-FIFO's main queue.
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

impl Cache {
    /// An empty cache.
    ///
    /// # Errors
    /// A zero capacity or TTL, or `ttl-only` without a TTL.
    pub fn new(spec: &CacheSpec) -> Result<Cache, SpecError> {
        Self::with_reserve(spec, PREALLOCATE)
    }

    /// An empty cache that preallocates room for at most `items` objects
    /// (it grows on demand beyond). A simulator holding many copies of a
    /// tier (one per instance) reserves little so memory follows what is
    /// actually cached, never the capacity of copies that stay cold.
    ///
    /// # Errors
    /// As [`Cache::new`].
    pub fn with_reserve(spec: &CacheSpec, items: u64) -> Result<Cache, SpecError> {
        let (capacity, by_bytes) = match spec.capacity {
            Capacity::Items(n) => (n, false),
            Capacity::Bytes(n) => (n, true),
        };
        if capacity == 0 {
            return Err(SpecError::ZeroCapacity);
        }
        if spec.ttl_ns == Some(0) {
            return Err(SpecError::ZeroTtl);
        }
        if spec.eviction == Eviction::TtlOnly && spec.ttl_ns.is_none() {
            return Err(SpecError::TtlOnlyWithoutTtl);
        }
        let expected = if by_bytes {
            1024.min(items)
        } else {
            capacity.min(items)
        } as usize;
        // libCacheSim: `(int64_t)C * ratio` truncates toward zero.
        let small_capacity = (capacity as f64 * S3FIFO_SMALL_RATIO) as u64;
        let ghost_capacity = (capacity as f64 * S3FIFO_GHOST_RATIO) as u64;
        let ghost = (spec.eviction == Eviction::S3Fifo && ghost_capacity > 0)
            .then(|| Box::new(Ghost::new(ghost_capacity, expected)));
        Ok(Cache {
            spec: *spec,
            capacity,
            by_bytes,
            used: 0,
            used_bytes: 0,
            index: Index::with_capacity(expected),
            arena: Arena::with_capacity(expected),
            log: if spec.eviction == Eviction::Lru {
                Log::with_capacity(expected)
            } else {
                Log::default()
            },
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
        })
    }

    /// The spec the cache was made from.
    pub fn spec(&self) -> &CacheSpec {
        &self.spec
    }

    /// Looks `key` up at `now_ns`. A hit updates the algorithm's state
    /// (recency, frequency); an expired entry is dropped and is a miss. A miss
    /// changes nothing else: call [`Cache::insert`] when the object has been
    /// fetched.
    pub fn get(&mut self, now_ns: u64, key: u64) -> bool {
        let tag = Tag::of(key);
        match self.lookup(now_ns, key, tag) {
            Some(i) => {
                self.stats.hits += 1;
                self.stats.byte_hits += self.arena.size(i);
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

    /// Stores `key` of `size_bytes` at `now_ns` (expiring at `now_ns + ttl`
    /// when the spec has a TTL), evicting as needed; an object larger than
    /// the cache allows is not stored (counted in [`Stats::rejected`]). If
    /// the key is already cached, its size and expiry are replaced and its
    /// place in the eviction order is kept (a refill is not an access).
    pub fn insert(&mut self, now_ns: u64, key: u64, size_bytes: u64) {
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

    /// A request for `key` of `size_bytes` at `now_ns`, as libCacheSim's
    /// `cache->get`: a hit updates the state (and the stored size if
    /// [`CacheSpec::update_size_on_hit`]); a miss admits the object.
    pub fn access(&mut self, now_ns: u64, key: u64, size_bytes: u64) -> Access {
        self.access_tagged(now_ns, key, Tag::of(key), size_bytes)
    }

    /// [`Cache::access`] of a key whose tag is already known.
    #[inline]
    fn access_tagged(&mut self, now_ns: u64, key: u64, tag: Tag, size_bytes: u64) -> Access {
        if let Some(i) = self.lookup(now_ns, key, tag) {
            self.stats.hits += 1;
            self.stats.byte_hits += size_bytes;
            if self.spec.update_size_on_hit {
                self.resize(i, size_bytes);
            }
            return Access::Hit;
        }
        self.stats.misses += 1;
        self.stats.byte_misses += size_bytes;
        let ghost_hit = match &mut self.ghost {
            Some(ghost) => ghost.remove(tag, key),
            None => false,
        };
        self.admit(now_ns, key, tag, size_bytes, ghost_hit);
        Access::Miss
    }

    /// [`Cache::access`] for each request in order, with the memory of later
    /// requests loaded while earlier ones run: the same outcomes, state and
    /// statistics as calling `access` one by one, several times the
    /// throughput once the cache outgrows the CPU caches (see
    /// `benches/cache.rs`). A trace replay feeds it chunks of requests.
    ///
    /// An access to a cache larger than the CPU caches waits on memory for a
    /// key's index slot, then its node, and on a miss for the victim and
    /// its slot. Each wait depends on the one before, so one request at a
    /// time leaves the memory system idle. Here request `i + 2D` has its
    /// slot prefetched and request `i + D` its node (found from the slot,
    /// now loaded), and after each access the next victim's slot and
    /// successor (LRU: each eviction loads the next victim's slot and the
    /// node of the one after it itself), so the loads of about `2D`
    /// requests overlap. A request's hash is computed once, when its slot
    /// is prefetched. Prefetches are hints: a guess that is stale by the
    /// time its request runs (a tag collided, a victim was hit) costs a
    /// load, never a wrong answer.
    pub fn access_batch(&mut self, requests: &[Request]) {
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

    /// Starts loading the first memory a later [`Cache::get`] or
    /// [`Cache::insert`] of `key` reads: its index slot. A hint for callers
    /// that know their keys ahead (the simulator knows a request's key when
    /// its work starts, milliseconds of simulated time before the lookup):
    /// it changes nothing, and a wrong guess costs one load.
    #[inline]
    pub fn prefetch_slot(&self, key: u64) {
        self.index.prefetch_home(Tag::of(key));
    }

    /// Starts loading what an [`Cache::insert`] of a missing `key` reads
    /// first: its index slot and the nodes at the eviction end of the
    /// queues. Follow it with [`Cache::prefetch_eviction`] once those have
    /// had time to arrive. A hint, as [`Cache::prefetch_slot`]; the
    /// eviction end is skipped while the cache has never been full (it is
    /// still filling up, and an insert evicts nothing).
    #[inline]
    pub fn prefetch_fill(&self, key: u64) {
        self.index.prefetch_home(Tag::of(key));
        if !self.has_evicted {
            return;
        }
        if self.spec.eviction == Eviction::Lru {
            if let Some(victim) = self.log.upcoming(0, LOOK_AHEAD) {
                self.prefetch_node(victim);
            }
            return;
        }
        for tail in [self.main.tail, self.small.tail] {
            self.prefetch_node(tail);
        }
    }

    /// Starts loading `key`'s node, found through its index slot (which
    /// this reads: call [`Cache::prefetch_slot`] first, early enough for the
    /// slot to have arrived). Calling it for several caches before looking
    /// any of them up overlaps their loads. A hint, as
    /// [`Cache::prefetch_slot`].
    #[inline]
    pub fn prefetch_entry(&self, key: u64) {
        if let Some(node) = self.index.guess(Tag::of(key)) {
            self.prefetch_node(node);
        }
    }

    #[inline]
    fn prefetch_node(&self, node: u32) {
        if let Some(n) = self.arena.nodes.get(node as usize) {
            prefetch::prefetch(n);
        }
    }

    /// Starts loading what the next eviction touches beyond the tail nodes
    /// (which this reads: call [`Cache::prefetch_fill`] first): the victim's
    /// index slot and the node that becomes the tail after it. A hint, as
    /// [`Cache::prefetch_slot`]; nothing while the cache has never been
    /// full, and nothing for LRU, whose evictions load the next victim's
    /// slot and the node of the one after it as they go.
    #[inline]
    pub fn prefetch_eviction(&self) {
        if !self.has_evicted {
            return;
        }
        if self.spec.eviction == Eviction::Lru {
            // Each eviction loads what the next ones read (see `evict`).
            return;
        }
        for tail in [self.main.tail, self.small.tail] {
            if let Some(n) = self.arena.nodes.get(tail as usize) {
                self.index.prefetch_home(Tag::of(n.key));
                self.prefetch_node(n.prev);
            }
        }
    }

    /// Whether `key` is cached and fresh at `now_ns`, changing nothing.
    pub fn contains(&self, now_ns: u64, key: u64) -> bool {
        self.find(Tag::of(key), key)
            .is_some_and(|i| !self.is_expired(i, now_ns))
    }

    /// Drops `key` (a write invalidates it); true if it was cached. Also
    /// forgets it in S3-FIFO's ghost queue.
    pub fn remove(&mut self, key: u64) -> bool {
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

    /// Empties the cache (the cache-flush fault); statistics are kept.
    pub fn clear(&mut self) {
        self.index.clear();
        self.arena.clear();
        self.log.clear();
        self.main = List::default();
        self.small = List::default();
        self.lfu.clear();
        if let Some(ghost) = &mut self.ghost {
            ghost.clear();
        }
        self.used = 0;
        self.used_bytes = 0;
        self.small_used = 0;
        self.main_used = 0;
        self.has_evicted = false;
        self.ghost_hit = None;
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of cached objects (expired ones included until dropped).
    pub fn len(&self) -> u64 {
        self.index.len() as u64
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    /// Sum of the cached objects' sizes.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Bytes of heap the cache holds (index, nodes, ghost).
    pub fn heap_bytes(&self) -> usize {
        self.index.heap_bytes()
            + self.arena.heap_bytes()
            + self.log.heap_bytes()
            + self.lfu.heap_bytes()
            + self.ghost.as_ref().map_or(0, |g| g.heap_bytes())
    }

    #[inline]
    fn find(&self, tag: Tag, key: u64) -> Option<u32> {
        let arena = &self.arena;
        self.index.find(tag, key, |n| arena.get(n).key)
    }

    #[inline]
    fn weight(&self, size_bytes: u64) -> u64 {
        if self.by_bytes { size_bytes.max(1) } else { 1 }
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
            Eviction::Lru => self.log.touch(&mut self.arena, i),
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
        let (w_old, w_new) = (self.weight(old), self.weight(size_bytes));
        self.used = self.used - w_old + w_new;
        self.used_bytes = self.used_bytes - old + size_bytes;
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
        let w = self.weight(size_bytes);
        let s3 = self.spec.eviction == Eviction::S3Fifo;
        if w > self.capacity || (s3 && w > self.small_capacity) {
            self.stats.rejected += 1;
            return;
        }
        if self.spec.eviction == Eviction::TtlOnly {
            self.drop_expired_tail(now_ns);
        }
        while self.used + w > self.capacity {
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
        self.used += w;
        self.used_bytes += size_bytes;
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
            Eviction::Lru => self.log.push(&mut self.arena, i),
            Eviction::Fifo | Eviction::TtlOnly => {
                self.main.push_head(&mut self.arena, i);
            }
        }
    }

    /// Removes one object to make room.
    fn evict(&mut self, now_ns: u64) {
        self.has_evicted = true;
        match self.spec.eviction {
            Eviction::Lru => {
                let victim = self.log.oldest().expect("a full cache has a victim");
                self.evict_node(victim, now_ns);
                // The next victims are known: start loading the next one's
                // index slot (its node was loaded by the eviction before)
                // and the node of the one after it.
                if let Some(next) = self.log.upcoming(0, LOOK_AHEAD) {
                    self.index.prefetch_home(Tag::of(self.arena.get(next).key));
                }
                if let Some(after) = self.log.upcoming(1, LOOK_AHEAD) {
                    self.prefetch_node(after);
                }
            }
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
            let w = self.weight(self.arena.size(t));
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
        let w = self.weight(size);
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
            Eviction::Lru => self.log.forget(&self.arena, i),
            Eviction::Fifo | Eviction::TtlOnly => {
                self.main.unlink(&mut self.arena, i);
            }
        }
        self.used -= w;
        self.used_bytes -= size;
        self.arena.free(i);
    }
}

use arena::Node;

#[cfg(test)]
mod tests;
