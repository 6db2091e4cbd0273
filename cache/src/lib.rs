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
//!   objects live in the slots of their hash table, `lru.rs`, in an order
//!   kept as an access log, `recency.rs`, not a linked list).
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
//! Memory is bounded by the capacity, never by the key space.
//!
//! - **LRU**: a 16-byte table slot per object (key, 32-bit size, log
//!   position; 24 bytes with a TTL, for the expiry time) at a load factor
//!   of 1/2 (a table preallocated for its capacity) down to 1/4 (one that
//!   grew, by doubling): 32 to 64 bytes (48 to 96 with a TTL); plus the
//!   access log, about 16.5 bytes (four 4-byte positions and their bits):
//!   **48.5 to 80.5 bytes per item, 64.5 to 112.5 with a TTL**; the lower
//!   figure for a cache of items preallocated for its capacity (the default
//!   up to 2^20 objects).
//! - **The others**: a 32-byte node (key, expiry time, size and queue links
//!   in one CPU cache line) plus 16 to 32 bytes of hash index (8-byte slots,
//!   load factor between 1/4 and 1/2): **48 to 64 bytes per item**.
//!   S3-FIFO adds its ghost queue, up to `0.9 C` weight of remembered keys
//!   at the same cost per key.
//!
//! The others cost the same with or without a TTL; an object of 4 GiB or
//! more keeps its size in a side table (16 bytes more). [`Cache::heap_bytes`]
//! reports the exact figure.
//!
//! # Speed
//!
//! No `HashMap` and no allocation per operation after warm-up. LRU: a hit
//! reads one random place in memory, its table slot (`lru.rs`), and the
//! next victims are known ahead (`recency.rs`). The others: a
//! purpose-built open-addressing index (`index.rs`) and index-linked queues
//! in flat arrays (`arena.rs`). A key is hashed once per request. See
//! `benches/cache.rs`.

mod arena;
mod ghost;
pub mod hint;
mod index;
mod lfu;
mod lru;
mod queues;
mod recency;
mod sizes;

use std::fmt;

use lru::{Expiring, Lru, Plain};
use queues::Queues;

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
    /// the stored size for [`Cache::get`]). u128: a trace's sizes are u64,
    /// and a few of the largest would overflow a u64 sum.
    pub byte_hits: u128,
    /// Bytes of the objects missed ([`Cache::access`] only; [`Cache::get`]
    /// does not know the size).
    pub byte_misses: u128,
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
        ratio(
            self.misses.into(),
            u128::from(self.hits) + u128::from(self.misses),
        )
    }

    /// Missed bytes over requested bytes (0 without bytes).
    pub fn byte_miss_ratio(&self) -> f64 {
        ratio(self.byte_misses, self.byte_hits + self.byte_misses)
    }
}

fn ratio(part: u128, whole: u128) -> f64 {
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

/// Preallocate at most this many objects; beyond it the arrays grow on
/// demand.
const PREALLOCATE: u64 = 1 << 20;

/// A cache. See the crate documentation for the algorithms.
#[derive(Clone, Debug)]
pub struct Cache(Store);

/// LRU has a store of its own (`lru.rs`), whose slots hold an expiry only
/// with a TTL; the other algorithms share one (`queues.rs`). LRU with a TTL
/// comes first: the compiler tests the variants in order, and that is the
/// simulator's tiers' store, called several times per request (a batch
/// dispatches once per batch).
#[derive(Clone, Debug)]
enum Store {
    LruTtl(Lru<Expiring>),
    Lru(Lru<Plain>),
    Queues(Queues),
}

/// A cache's capacity and how much of it its objects use, in weight units:
/// one per object ([`Capacity::Items`]) or its size, at least 1
/// ([`Capacity::Bytes`]); and the sum of their sizes.
#[derive(Clone, Copy, Debug)]
struct Room {
    capacity: u64,
    by_bytes: bool,
    used: u64,
    /// u128: with a capacity in objects, their sizes (u64 each) can sum
    /// past `u64::MAX`.
    used_bytes: u128,
}

impl Room {
    fn new(capacity: u64, by_bytes: bool) -> Self {
        Room {
            capacity,
            by_bytes,
            used: 0,
            used_bytes: 0,
        }
    }

    /// The weight of an object of `size_bytes`.
    #[inline]
    fn weight(&self, size_bytes: u64) -> u64 {
        if self.by_bytes { size_bytes.max(1) } else { 1 }
    }

    /// Whether an object of weight `w` would overflow the capacity.
    #[inline]
    fn is_full_for(&self, w: u64) -> bool {
        // A sum past `u64::MAX` is past any capacity.
        self.used
            .checked_add(w)
            .is_none_or(|used| used > self.capacity)
    }

    /// An object of `size_bytes` comes in.
    #[inline]
    fn add(&mut self, size_bytes: u64) {
        self.used += self.weight(size_bytes);
        self.used_bytes += u128::from(size_bytes);
    }

    /// An object of `size_bytes` leaves.
    #[inline]
    fn take(&mut self, size_bytes: u64) {
        self.used -= self.weight(size_bytes);
        self.used_bytes -= u128::from(size_bytes);
    }

    /// An object's size changes from `old` to `new` bytes.
    #[inline]
    fn resize(&mut self, old: u64, new: u64) {
        self.take(old);
        self.add(new);
    }

    fn clear(&mut self) {
        self.used = 0;
        self.used_bytes = 0;
    }
}

/// `$body` with `$c` bound to the cache's store, whichever it is.
macro_rules! with_store {
    ($store:expr, $c:ident => $body:expr) => {
        match $store {
            Store::LruTtl($c) => $body,
            Store::Lru($c) => $body,
            Store::Queues($c) => $body,
        }
    };
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
        let room = Room::new(capacity, by_bytes);
        Ok(Cache(match spec.eviction {
            Eviction::Lru if spec.ttl_ns.is_none() => Store::Lru(Lru::new(spec, room, expected)),
            Eviction::Lru => Store::LruTtl(Lru::new(spec, room, expected)),
            _ => Store::Queues(Queues::new(spec, room, expected)),
        }))
    }

    /// The spec the cache was made from.
    pub fn spec(&self) -> &CacheSpec {
        with_store!(&self.0, c => c.spec())
    }

    /// Looks `key` up at `now_ns`. A hit updates the algorithm's state
    /// (recency, frequency); an expired entry is dropped and is a miss. A miss
    /// changes nothing else: call [`Cache::insert`] when the object has been
    /// fetched.
    pub fn get(&mut self, now_ns: u64, key: u64) -> bool {
        with_store!(&mut self.0, c => c.get(now_ns, key))
    }

    /// Stores `key` of `size_bytes` at `now_ns` (expiring at `now_ns + ttl`
    /// when the spec has a TTL), evicting as needed; an object larger than
    /// the cache allows is not stored (counted in [`Stats::rejected`]). If
    /// the key is already cached, its size and expiry are replaced and its
    /// place in the eviction order is kept (a refill is not an access).
    pub fn insert(&mut self, now_ns: u64, key: u64, size_bytes: u64) {
        with_store!(&mut self.0, c => c.insert(now_ns, key, size_bytes))
    }

    /// A request for `key` of `size_bytes` at `now_ns`, as libCacheSim's
    /// `cache->get`: a hit updates the state (and the stored size if
    /// [`CacheSpec::update_size_on_hit`]); a miss admits the object.
    pub fn access(&mut self, now_ns: u64, key: u64, size_bytes: u64) -> Access {
        with_store!(&mut self.0, c => c.access(now_ns, key, size_bytes))
    }

    /// [`Cache::access`] for each request in order, with the memory of later
    /// requests loaded while earlier ones run: the same outcomes, state and
    /// statistics as calling `access` one by one, several times the
    /// throughput once the cache outgrows the CPU caches (see
    /// `benches/cache.rs`). A trace replay feeds it chunks of requests.
    ///
    /// An access waits on memory for what it reads (LRU: the key's slot, and
    /// on a miss the victim's; the other algorithms: the key's index slot,
    /// then its node, and on a miss the victim's node and slot). One request
    /// at a time leaves the memory system idle while it waits; here the
    /// memory of the next requests is prefetched while earlier ones run
    /// (each request's hash computed once, then), and the next victims'
    /// after each access. Prefetches are hints: a guess that is stale by the
    /// time its request runs (a tag collided, a victim was hit) costs a
    /// load, never a wrong answer.
    pub fn access_batch(&mut self, requests: &[Request]) {
        with_store!(&mut self.0, c => c.access_batch(requests))
    }

    /// Starts loading the first memory a later [`Cache::get`] or
    /// [`Cache::insert`] of `key` reads: its slot (LRU: its object). A hint
    /// for callers that know their keys ahead (the simulator knows a
    /// request's key when its work starts, milliseconds of simulated time
    /// before the lookup): it changes nothing, and a wrong guess costs one
    /// load. Always inline (and [`Cache::prefetch_fill`]): a few
    /// instructions on the simulator's path for every tier of every read,
    /// which the compiler stopped inlining once LRU had two slot layouts
    /// (72 instructions per request of the seed scenario).
    #[inline(always)]
    pub fn prefetch_slot(&self, key: u64) {
        with_store!(&self.0, c => c.prefetch_slot(key))
    }

    /// Starts loading what an [`Cache::insert`] of a missing `key` reads
    /// first: its slot and the eviction end (LRU: the next victim's slot;
    /// the others: the tail nodes of the queues). Follow it with
    /// [`Cache::prefetch_eviction`] once those have had time to arrive. A
    /// hint, as [`Cache::prefetch_slot`]; the eviction end is skipped while
    /// the cache has never been full (it is still filling up, and an insert
    /// evicts nothing).
    #[inline(always)]
    pub fn prefetch_fill(&self, key: u64) {
        with_store!(&self.0, c => c.prefetch_fill(key))
    }

    /// Starts loading `key`'s node, found through its index slot (which
    /// this reads: call [`Cache::prefetch_slot`] first, early enough for the
    /// slot to have arrived). Calling it for several caches before looking
    /// any of them up overlaps their loads. A hint, as
    /// [`Cache::prefetch_slot`]; nothing for LRU, whose slot is the object.
    #[inline]
    pub fn prefetch_entry(&self, key: u64) {
        if let Store::Queues(c) = &self.0 {
            c.prefetch_entry(key);
        }
    }

    /// Starts loading what the next eviction touches beyond the tail nodes
    /// (which this reads: call [`Cache::prefetch_fill`] first): the victim's
    /// index slot and the node that becomes the tail after it. A hint, as
    /// [`Cache::prefetch_slot`]; nothing while the cache has never been
    /// full, and nothing for LRU, whose evictions load the slots of the
    /// next victims as they go.
    #[inline]
    pub fn prefetch_eviction(&self) {
        if let Store::Queues(c) = &self.0 {
            c.prefetch_eviction();
        }
    }

    /// Whether `key` is cached and fresh at `now_ns`, changing nothing.
    pub fn contains(&self, now_ns: u64, key: u64) -> bool {
        with_store!(&self.0, c => c.contains(now_ns, key))
    }

    /// Drops `key` (a write invalidates it); true if it was cached. Also
    /// forgets it in S3-FIFO's ghost queue.
    pub fn remove(&mut self, key: u64) -> bool {
        with_store!(&mut self.0, c => c.remove(key))
    }

    /// Moves the cache's clock back by `by_ns`: an entry expiring at `e`
    /// expires at `e - by_ns` afterwards, and nothing else changes (contents,
    /// eviction order, frequencies, statistics). What a cache filled at times
    /// in `[0, by_ns)` holds is then what it would hold at time 0 had it been
    /// filled at times in `[-by_ns, 0)`: the simulator's warm start
    /// (`run.cache_warm_start`). An entry that had expired by `by_ns` keeps
    /// its place (as it would have: it leaves when looked up or evicted) and
    /// expires at 0, so a lookup at any later time misses it; only a lookup
    /// at exactly 0 would still find it.
    pub fn rebase(&mut self, by_ns: u64) {
        with_store!(&mut self.0, c => c.rebase(by_ns))
    }

    /// Empties the cache (the cache-flush fault); statistics are kept.
    pub fn clear(&mut self) {
        with_store!(&mut self.0, c => c.clear())
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        with_store!(&self.0, c => c.stats())
    }

    /// Number of cached objects (expired ones included until dropped).
    pub fn len(&self) -> u64 {
        with_store!(&self.0, c => c.len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of the cached objects' sizes.
    pub fn used_bytes(&self) -> u128 {
        with_store!(&self.0, c => c.used_bytes())
    }

    /// Bytes of heap the cache holds (LRU: table and access log; the
    /// others: index, nodes, LFU buckets, ghost).
    pub fn heap_bytes(&self) -> usize {
        with_store!(&self.0, c => c.heap_bytes())
    }

    /// Checks the store's internal consistency (tests).
    #[cfg(test)]
    fn check(&self) {
        match &self.0 {
            Store::Lru(c) => c.check(),
            Store::LruTtl(c) => c.check(),
            Store::Queues(_) => {}
        }
    }
}

#[cfg(test)]
mod tests;
