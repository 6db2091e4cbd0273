//! Unit tests: every algorithm against a literal, slow transcription of
//! libCacheSim's logic (queues as `VecDeque`s, linear scans), on random
//! request sequences with removals and flushes.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

/// One object in the reference model.
#[derive(Clone, Copy, Debug)]
struct Obj {
    key: u64,
    size: u64,
    /// LFU: frequency; S3-FIFO: clock counter.
    freq: u64,
    /// LFU: when the object reached its frequency.
    since: u64,
}

/// The reference model: queues front = newest.
struct Model {
    eviction: Eviction,
    capacity: u64,
    by_bytes: bool,
    small: VecDeque<Obj>,
    main: VecDeque<Obj>,
    ghost: VecDeque<(u64, u64)>,
    small_cap: u64,
    ghost_cap: u64,
    has_evicted: bool,
    clock: u64,
}

impl Model {
    fn new(spec: &CacheSpec) -> Self {
        let (capacity, by_bytes) = match spec.capacity {
            Capacity::Items(n) => (n, false),
            Capacity::Bytes(n) => (n, true),
        };
        Model {
            eviction: spec.eviction,
            capacity,
            by_bytes,
            small: VecDeque::new(),
            main: VecDeque::new(),
            ghost: VecDeque::new(),
            small_cap: (capacity as f64 * 0.1) as u64,
            ghost_cap: (capacity as f64 * 0.9) as u64,
            has_evicted: false,
            clock: 0,
        }
    }

    fn w(&self, size: u64) -> u64 {
        if self.by_bytes { size.max(1) } else { 1 }
    }

    fn used(q: &VecDeque<Obj>, m: &Model) -> u64 {
        q.iter().map(|o| m.w(o.size)).sum()
    }

    fn total(&self) -> u64 {
        Self::used(&self.small, self) + Self::used(&self.main, self)
    }

    fn access(&mut self, key: u64, size: u64) -> bool {
        self.clock += 1;
        let clock = self.clock;
        if let Some(p) = self.small.iter().position(|o| o.key == key) {
            self.small[p].freq += 1;
            self.small[p].size = size;
            return true;
        }
        let ghost_hit = match self.ghost.iter().position(|g| g.0 == key) {
            Some(p) if self.eviction == Eviction::S3Fifo => {
                self.ghost.remove(p);
                true
            }
            _ => false,
        };
        if let Some(p) = self.main.iter().position(|o| o.key == key) {
            let mut o = self.main[p];
            o.size = size;
            match self.eviction {
                Eviction::Lru => {
                    self.main.remove(p);
                    self.main.push_front(o);
                }
                Eviction::Lfu => {
                    o.freq += 1;
                    o.since = clock;
                    self.main[p] = o;
                }
                Eviction::S3Fifo => {
                    o.freq += 1;
                    self.main[p] = o;
                }
                _ => self.main[p] = o,
            }
            return true;
        }
        let w = self.w(size);
        let s3 = self.eviction == Eviction::S3Fifo;
        if w > self.capacity || (s3 && w > self.small_cap) {
            return false;
        }
        while self.total() + w > self.capacity {
            self.evict();
        }
        let o = Obj {
            key,
            size,
            freq: if self.eviction == Eviction::Lfu { 1 } else { 0 },
            since: clock,
        };
        if !s3 || ghost_hit {
            self.main.push_front(o);
        } else if w >= self.small_cap {
        } else if !self.has_evicted && Self::used(&self.small, self) >= self.small_cap {
            self.main.push_front(o);
        } else {
            self.small.push_front(o);
        }
        false
    }

    fn evict(&mut self) {
        match self.eviction {
            Eviction::Lfu => {
                let p = (0..self.main.len())
                    .min_by_key(|&p| (self.main[p].freq, self.main[p].since))
                    .unwrap();
                self.main.remove(p);
            }
            Eviction::S3Fifo => {
                self.has_evicted = true;
                let main_cap = self.capacity - self.small_cap;
                if Self::used(&self.main, self) > main_cap || self.small.is_empty() {
                    while let Some(mut o) = self.main.pop_back() {
                        if o.freq >= 1 {
                            o.freq = o.freq.min(3) - 1;
                            self.main.push_front(o);
                        } else {
                            break;
                        }
                    }
                } else {
                    while let Some(mut o) = self.small.pop_back() {
                        if o.freq >= 2 {
                            o.freq = 0;
                            self.main.push_front(o);
                        } else {
                            let w = self.w(o.size);
                            if w <= self.ghost_cap {
                                while self.ghost.iter().map(|g| g.1).sum::<u64>() + w
                                    > self.ghost_cap
                                {
                                    self.ghost.pop_back();
                                }
                                self.ghost.push_front((o.key, w));
                            }
                            break;
                        }
                    }
                }
            }
            _ => {
                self.main.pop_back();
            }
        }
    }

    fn remove(&mut self, key: u64) {
        self.small.retain(|o| o.key != key);
        self.main.retain(|o| o.key != key);
        self.ghost.retain(|g| g.0 != key);
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Access(u64, u64),
    Remove(u64),
    Clear,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        40 => (0u64..40, 1u64..6).prop_map(|(k, s)| Op::Access(k, s)),
        2 => (0u64..40).prop_map(Op::Remove),
        1 => Just(Op::Clear),
    ];
    prop::collection::vec(op, 1..400)
}

fn agrees(spec: CacheSpec, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut cache = Cache::new(&spec).unwrap();
    let mut model = Model::new(&spec);
    for (t, op) in ops.iter().enumerate() {
        match *op {
            Op::Access(k, s) => {
                let hit = cache.access(t as u64, k, s) == Access::Hit;
                prop_assert_eq!(hit, model.access(k, s), "op {} {:?}", t, op);
            }
            Op::Remove(k) => {
                cache.remove(k);
                model.remove(k);
            }
            Op::Clear => {
                cache.clear();
                model = Model::new(&spec);
            }
        }
        cache.check();
        let n = (model.small.len() + model.main.len()) as u64;
        prop_assert_eq!(cache.len(), n);
        let bytes: u128 = model
            .small
            .iter()
            .chain(&model.main)
            .map(|o| u128::from(o.size))
            .sum();
        prop_assert_eq!(cache.used_bytes(), bytes);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_algorithm_matches_the_reference(
        ops in ops(),
        items in 1u64..30,
        bytes in 1u64..80,
        by_bytes in any::<bool>(),
    ) {
        let capacity = if by_bytes { Capacity::Bytes(bytes) } else { Capacity::Items(items) };
        for eviction in [Eviction::Lru, Eviction::Fifo, Eviction::Lfu, Eviction::S3Fifo] {
            agrees(CacheSpec::new(eviction, capacity), &ops)?;
        }
    }

    /// Objects of 4 GiB and more keep their size in the arena's side table:
    /// the same operations with every size (and the byte capacity) scaled by
    /// 2^31, so that sizes straddle `u32::MAX`, still match the reference.
    #[test]
    fn sizes_beyond_32_bits_match_the_reference(
        ops in ops(),
        bytes in 1u64..80,
    ) {
        const SCALE: u64 = 1 << 31;
        let scaled: Vec<Op> = ops
            .iter()
            .map(|op| match *op {
                Op::Access(k, s) => Op::Access(k, s * SCALE),
                other => other,
            })
            .collect();
        let capacity = Capacity::Bytes(bytes * SCALE);
        for eviction in [Eviction::Lru, Eviction::Fifo, Eviction::Lfu, Eviction::S3Fifo] {
            agrees(CacheSpec::new(eviction, capacity), &scaled)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// LRU keeps an expiry in its slots only with a TTL (a second slot
    /// layout): with a TTL that no request reaches, it must answer every
    /// request, batched or not, exactly as without one, through removals,
    /// flushes and table growth.
    #[test]
    fn lru_with_an_unreached_ttl_is_lru_without_one(
        ops in ops(),
        items in 1u64..30,
        bytes in 1u64..80,
        by_bytes in any::<bool>(),
        reserve in 1u64..40,
    ) {
        let capacity = if by_bytes { Capacity::Bytes(bytes) } else { Capacity::Items(items) };
        let spec = CacheSpec::new(Eviction::Lru, capacity);
        let mut plain = Cache::with_reserve(&spec, reserve).unwrap();
        let mut expiring = Cache::with_reserve(&spec.with_ttl_ns(u64::MAX / 2), reserve).unwrap();
        let mut batched = Cache::with_reserve(&spec.with_ttl_ns(u64::MAX / 2), reserve).unwrap();
        for (t, op) in ops.iter().enumerate() {
            match *op {
                Op::Access(k, s) => {
                    let t = t as u64;
                    let want = plain.access(t, k, s);
                    prop_assert_eq!(expiring.access(t, k, s), want, "op {} {:?}", t, op);
                    batched.access_batch(&[Request { now_ns: t, key: k, size_bytes: s }]);
                }
                Op::Remove(k) => {
                    let want = plain.remove(k);
                    prop_assert_eq!(expiring.remove(k), want);
                    prop_assert_eq!(batched.remove(k), want);
                }
                Op::Clear => {
                    plain.clear();
                    expiring.clear();
                    batched.clear();
                }
            }
            expiring.check();
            batched.check();
            for other in [&expiring, &batched] {
                prop_assert_eq!(plain.stats(), other.stats());
                prop_assert_eq!(plain.len(), other.len());
                prop_assert_eq!(plain.used_bytes(), other.used_bytes());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// The prefetch hints change nothing: a cache hinted before every access
    /// (with the key and with a key from elsewhere in the sequence) gives
    /// the same outcomes, statistics and size as one that is not.
    #[test]
    fn prefetch_hints_change_nothing(
        reqs in prop::collection::vec((0u64..60, 1u64..6), 1..400),
        items in 1u64..40,
    ) {
        for eviction in Eviction::ALL {
            let mut spec = CacheSpec::new(eviction, Capacity::Items(items));
            if eviction == Eviction::TtlOnly {
                spec = spec.with_ttl_ns(25);
            }
            let mut plain = Cache::new(&spec).unwrap();
            let mut hinted = Cache::new(&spec).unwrap();
            for (t, &(key, size)) in reqs.iter().enumerate() {
                let other = reqs[(t * 7) % reqs.len()].0;
                for k in [key, other] {
                    hinted.prefetch_slot(k);
                    hinted.prefetch_entry(k);
                    hinted.prefetch_fill(k);
                }
                hinted.prefetch_eviction();
                let t = t as u64;
                prop_assert_eq!(plain.access(t, key, size), hinted.access(t, key, size));
            }
            prop_assert_eq!(plain.stats(), hinted.stats());
            prop_assert_eq!(plain.len(), hinted.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// `access_batch` is `access` in order: the same statistics after every
    /// batch, and the same state (the same outcomes for every later access).
    #[test]
    fn access_batch_is_access_in_order(
        reqs in prop::collection::vec((0u64..60, 1u64..6, 0u64..3), 1..600),
        cuts in prop::collection::vec(0usize..600, 0..6),
        items in 1u64..40,
        ttl in prop::option::of(1u64..50),
        follow in prop::collection::vec((0u64..60, 1u64..6), 1..200),
    ) {
        let mut now = 0;
        let reqs: Vec<Request> = reqs
            .iter()
            .map(|&(key, size_bytes, dt)| {
                now += dt;
                Request { now_ns: now, key, size_bytes }
            })
            .collect();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(reqs.len())).collect();
        cuts.extend([0, reqs.len()]);
        cuts.sort_unstable();
        for eviction in Eviction::ALL {
            let mut spec = CacheSpec::new(eviction, Capacity::Items(items));
            if let Some(t) = ttl {
                spec = spec.with_ttl_ns(t);
            } else if eviction == Eviction::TtlOnly {
                spec = spec.with_ttl_ns(25);
            }
            let mut one = Cache::new(&spec).unwrap();
            let mut batched = Cache::new(&spec).unwrap();
            for w in cuts.windows(2) {
                for r in &reqs[w[0]..w[1]] {
                    one.access(r.now_ns, r.key, r.size_bytes);
                }
                batched.access_batch(&reqs[w[0]..w[1]]);
                prop_assert_eq!(one.stats(), batched.stats(), "{} after {}", eviction, w[1]);
                prop_assert_eq!(one.len(), batched.len());
            }
            for (j, &(key, size)) in follow.iter().enumerate() {
                let t = now + j as u64;
                prop_assert_eq!(one.access(t, key, size), batched.access(t, key, size));
            }
        }
    }
}

#[test]
fn lfu_ties_evict_the_object_that_reached_the_frequency_first() {
    let mut c = Cache::new(&CacheSpec::new(Eviction::Lfu, Capacity::Items(3))).unwrap();
    for k in [1, 2, 3] {
        c.access(0, k, 1);
    }
    // 3 then 1 reach frequency 2; 2 stays at 1.
    c.access(1, 3, 1);
    c.access(2, 1, 1);
    c.access(3, 4, 1); // evicts 2 (the only frequency-1 object)
    assert!(!c.contains(3, 2));
    c.access(4, 4, 1); // 4 reaches 2 after 3 and 1
    c.access(5, 5, 1); // all at 2: evicts 3, first to reach 2
    assert!(!c.contains(5, 3));
    assert!(c.contains(5, 1) && c.contains(5, 4) && c.contains(5, 5));
    let Store::Queues(q) = &c.0 else {
        unreachable!("an LFU cache")
    };
    assert_eq!(q.lfu_freq(1), Some(2));
}

#[test]
fn ttl_expires_after_the_ttl_and_counts() {
    let spec = CacheSpec::new(Eviction::Lru, Capacity::Items(10)).with_ttl_ns(100);
    let mut c = Cache::new(&spec).unwrap();
    assert_eq!(c.access(0, 1, 8), Access::Miss);
    assert_eq!(
        c.access(100, 1, 8),
        Access::Hit,
        "still fresh at exactly t + ttl"
    );
    assert_eq!(c.access(101, 1, 8), Access::Miss, "expired after t + ttl");
    assert_eq!(c.stats().expirations, 1);
    assert!(c.get(150, 1));
    assert!(!c.get(202, 1));
    assert_eq!(c.len(), 0);
}

#[test]
fn ttl_only_drops_expired_entries_then_the_oldest_at_capacity() {
    let spec = CacheSpec::new(Eviction::TtlOnly, Capacity::Items(2)).with_ttl_ns(10);
    let mut c = Cache::new(&spec).unwrap();
    c.access(0, 1, 1);
    c.access(5, 2, 1);
    c.access(6, 3, 1); // full: evicts 1 (earliest expiry), not expired yet
    assert_eq!((c.stats().evictions, c.stats().expirations), (1, 0));
    assert!(c.get(6, 2) && c.get(6, 3));
    c.access(16, 4, 1); // 2 expired at 15: dropped as an expiration
    assert_eq!((c.stats().evictions, c.stats().expirations), (1, 1));
    assert!(Cache::new(&CacheSpec::new(Eviction::TtlOnly, Capacity::Items(2))).is_err());
}

#[test]
fn objects_larger_than_the_cache_are_not_admitted() {
    let mut c = Cache::new(&CacheSpec::new(Eviction::Lru, Capacity::Bytes(100))).unwrap();
    c.access(0, 1, 60);
    assert_eq!(c.access(1, 2, 101), Access::Miss);
    assert_eq!(c.stats().rejected, 1);
    assert!(c.contains(1, 1), "a rejected object evicts nothing");
    // A hit with a new size updates the stored size.
    assert_eq!(c.access(2, 1, 90), Access::Hit);
    assert_eq!(c.used_bytes(), 90);
}

#[test]
fn get_then_insert_uses_s3fifo_ghost_like_access() {
    let spec = CacheSpec::new(Eviction::S3Fifo, Capacity::Items(20));
    let mut a = Cache::new(&spec).unwrap();
    let mut b = Cache::new(&spec).unwrap();
    let mut x = 12_345u64;
    for t in 0..5_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = x % 60;
        let hit_a = a.access(t, key, 1) == Access::Hit;
        let hit_b = b.get(t, key);
        if !hit_b {
            b.insert(t, key, 1);
        }
        assert_eq!(hit_a, hit_b, "request {t}");
    }
}

#[test]
fn insert_of_a_cached_key_refreshes_size_and_expiry_only() {
    let spec = CacheSpec::new(Eviction::Fifo, Capacity::Items(2)).with_ttl_ns(10);
    let mut c = Cache::new(&spec).unwrap();
    c.insert(0, 1, 5);
    c.insert(1, 2, 5);
    c.insert(8, 1, 7); // refresh: expiry 18, FIFO position unchanged
    assert_eq!(c.used_bytes(), 12);
    c.insert(9, 3, 1); // evicts 1, the oldest insertion
    assert!(!c.contains(9, 1) && c.contains(9, 2));
    assert_eq!(
        c.stats().hits + c.stats().misses,
        0,
        "insert is not a lookup"
    );
}

#[test]
fn clear_empties_and_keeps_stats() {
    let mut c = Cache::new(&CacheSpec::new(Eviction::S3Fifo, Capacity::Items(100))).unwrap();
    for k in 0..500 {
        c.access(k, k % 150, 1);
    }
    let before = c.stats();
    c.clear();
    assert_eq!((c.len(), c.used_bytes()), (0, 0));
    assert_eq!(c.stats(), before);
    assert_eq!(c.access(0, 1, 1), Access::Miss);
}

#[test]
fn memory_is_bounded_by_capacity_not_by_keys() {
    let mut c = Cache::new(&CacheSpec::new(Eviction::Lru, Capacity::Items(1000))).unwrap();
    for k in 0..200_000u64 {
        c.access(k, k, 1);
    }
    assert_eq!(c.len(), 1000);
    // LRU preallocated for its capacity: 32 (16-byte slots at load 1/2) +
    // 16.5 (the access log, and its ring's rounding to whole bitmap words).
    let per_item = c.heap_bytes() as f64 / 1000.0;
    assert!(per_item <= 48.7, "{per_item} bytes per item");
    // Hits do not grow the log: it is compacted to its live entries.
    for k in 0..1_000_000u64 {
        c.access(k, 199_000 + k % 10, 1);
    }
    assert_eq!(c.stats().misses, 200_000);
    assert_eq!(c.heap_bytes() as f64 / 1000.0, per_item);
    // Without the log (the other algorithms): 48 to 64.
    let mut c = Cache::new(&CacheSpec::new(Eviction::Fifo, Capacity::Items(1000))).unwrap();
    for k in 0..200_000u64 {
        c.access(k, k, 1);
    }
    assert!(c.heap_bytes() <= 64 * 1000, "{} bytes", c.heap_bytes());
    assert_eq!(std::mem::size_of::<arena::Node>(), 32);
    // Aligned so that a node never straddles two 64-byte cache lines.
    assert_eq!(std::mem::align_of::<arena::Node>(), 32);
    // An LRU slot: 16 bytes, aligned so that it never straddles two lines;
    // 24 with an expiry (a TTL).
    assert_eq!(std::mem::size_of::<lru::Plain>(), 16);
    assert_eq!(std::mem::align_of::<lru::Plain>(), 16);
    assert_eq!(std::mem::size_of::<lru::Expiring>(), 24);
}

/// The worst case of the stated bound: an LRU table that has just doubled
/// (load a little over 1/4): 64 + 16.5 bytes per item, 96 + 16.5 with a
/// TTL.
#[test]
fn a_grown_lru_table_stays_within_its_bound() {
    for (ttl, doubled, bound) in [(None, 60.0, 80.5), (Some(1 << 40), 90.0, 112.5)] {
        let mut spec = CacheSpec::new(Eviction::Lru, Capacity::Items(520));
        if let Some(ttl) = ttl {
            spec = spec.with_ttl_ns(ttl);
        }
        let mut c = Cache::with_reserve(&spec, 16).unwrap();
        for k in 0..100_000u64 {
            c.access(k, k, 1);
        }
        assert_eq!(c.len(), 520);
        let per_item = c.heap_bytes() as f64 / 520.0;
        assert!(
            per_item > doubled,
            "ttl {ttl:?}: the table doubled: {per_item} bytes per item"
        );
        assert!(
            per_item <= bound + 0.5,
            "ttl {ttl:?}: {per_item} bytes per item"
        );
    }
}

/// A TTL costs LRU 8 bytes per slot (the expiry), 16 per item at load 1/2,
/// and nothing else: 64.5 bytes per item preallocated.
#[test]
fn a_ttl_costs_its_expiry_per_item() {
    let spec = CacheSpec::new(Eviction::Lru, Capacity::Items(1000)).with_ttl_ns(1_000_000);
    let mut c = Cache::new(&spec).unwrap();
    for k in 0..200_000u64 {
        c.access(k, k, 1);
    }
    assert_eq!(c.len(), 1000);
    let per_item = c.heap_bytes() as f64 / 1000.0;
    assert!(per_item <= 64.7, "{per_item} bytes per item");
    assert!(per_item >= 64.0, "{per_item} bytes per item");
}

#[test]
fn spec_errors_name_the_problem() {
    assert_eq!(
        Cache::new(&CacheSpec::new(Eviction::Lru, Capacity::Bytes(0))).unwrap_err(),
        SpecError::ZeroCapacity
    );
    assert_eq!(
        Eviction::parse("arc").unwrap_err().to_string(),
        "unknown eviction \"arc\"; expected one of lru, fifo, lfu, s3-fifo, ttl-only"
    );
    assert_eq!(Eviction::parse("s3-fifo"), Ok(Eviction::S3Fifo));
}

#[test]
fn a_small_reserve_grows_and_behaves_like_a_full_preallocation() {
    for eviction in [
        Eviction::Lru,
        Eviction::Fifo,
        Eviction::Lfu,
        Eviction::S3Fifo,
    ] {
        let spec = CacheSpec::new(eviction, Capacity::Items(100_000));
        let mut full = Cache::new(&spec).unwrap();
        let mut small = Cache::with_reserve(&spec, 16).unwrap();
        assert!(
            small.heap_bytes() < 4096,
            "{eviction}: {}",
            small.heap_bytes()
        );
        let mut x = 12345u64;
        for t in 0..300_000u64 {
            // A skewed key stream: xorshift, folded onto 200 000 keys.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x % 200_000) * (x % 7 + 1) % 200_000;
            assert_eq!(
                full.access(t, key, 1),
                small.access(t, key, 1),
                "{eviction} at {t}"
            );
        }
        assert_eq!(full.stats(), small.stats());
        assert_eq!(full.len(), small.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// `rebase` moves a cache's clock and nothing else: a cache that serves
    /// a first stretch of requests at `t`, is rebased by `b`, then serves a
    /// second stretch at `s >= 1`, answers every request, and ends with the
    /// same contents and statistics, as a cache never rebased that serves
    /// the first stretch at `t + k - b` and the second at `s + k` (its clock
    /// `k` ahead). Every algorithm, with TTLs short enough that entries
    /// expire before the rebase, across it and after it.
    #[test]
    fn a_rebased_cache_is_the_same_cache_on_a_shifted_clock(
        first in prop::collection::vec((0u64..40, 1u64..6, 0u64..20), 1..200),
        second in prop::collection::vec((0u64..40, 1u64..6, 1u64..20), 1..200),
        items in 1u64..30,
        ttl in 1u64..60,
        by_bytes in any::<bool>(),
    ) {
        let capacity = if by_bytes { Capacity::Bytes(items * 3) } else { Capacity::Items(items) };
        // The first stretch's times rise by 0..20 a request; the rebase is
        // where it ends, so its early entries expired long before.
        let firsts: Vec<u64> = first.iter().scan(0, |t, &(_, _, dt)| { *t += dt; Some(*t) }).collect();
        let b = firsts.last().copied().unwrap_or(0) + 1;
        let k = b + 1000;
        for eviction in Eviction::ALL {
            let spec = CacheSpec::new(eviction, capacity).with_ttl_ns(ttl);
            let mut rebased = Cache::new(&spec).unwrap();
            let mut shifted = Cache::new(&spec).unwrap();
            for (&(key, size, _), &t) in first.iter().zip(&firsts) {
                let want = shifted.access(t + k - b, key, size);
                prop_assert_eq!(rebased.access(t, key, size), want);
            }
            rebased.rebase(b);
            let mut s = 0;
            for (i, &(key, size, dt)) in second.iter().enumerate() {
                s += dt;
                if i % 5 == 4 {
                    // The simulator's way: a lookup, then a fill on a miss.
                    let want = shifted.get(s + k, key);
                    prop_assert_eq!(rebased.get(s, key), want, "{:?} get at {}", eviction, s);
                    if !want {
                        shifted.insert(s + k, key, size);
                        rebased.insert(s, key, size);
                    }
                } else {
                    let want = shifted.access(s + k, key, size);
                    prop_assert_eq!(rebased.access(s, key, size), want, "{:?} at {}", eviction, s);
                }
                rebased.check();
            }
            prop_assert_eq!(rebased.stats(), shifted.stats());
            prop_assert_eq!(rebased.len(), shifted.len());
            prop_assert_eq!(rebased.used_bytes(), shifted.used_bytes());
            for key in 0..40 {
                prop_assert_eq!(rebased.contains(s + 1, key), shifted.contains(s + k + 1, key));
            }
        }
    }
}

/// An entry's expiry moves back by the rebase: inserted at 100 with a TTL of
/// 50 and rebased by 120, it is fresh until 30 and missed after; one that
/// expired before the rebase is missed at any later time.
#[test]
fn rebase_moves_every_expiry_back() {
    for eviction in Eviction::ALL {
        let spec = CacheSpec::new(eviction, Capacity::Items(100)).with_ttl_ns(50);
        let mut c = Cache::new(&spec).unwrap();
        c.insert(10, 1, 1); // expires at 60, before the rebase
        c.insert(100, 2, 1); // expires at 150
        c.rebase(120);
        assert!(c.contains(30, 2), "{eviction:?}");
        assert!(!c.contains(31, 2), "{eviction:?}");
        assert!(!c.contains(1, 1), "{eviction:?}");
        // The expired entry keeps its place (TTL-only drops expired entries
        // when it admits one, as before the rebase).
        let kept = if eviction == Eviction::TtlOnly { 1 } else { 2 };
        assert_eq!(c.len(), kept, "{eviction:?}");
        assert!(c.get(30, 2), "{eviction:?}");
        assert!(!c.get(31, 2), "{eviction:?}");
    }
    // Without a TTL nothing expires, before or after.
    let mut c = Cache::new(&CacheSpec::new(Eviction::Lru, Capacity::Items(10))).unwrap();
    c.insert(10, 1, 1);
    c.rebase(1 << 40);
    assert!(c.get(1 << 50, 1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A clone is the same cache from then on: a cache that serves a first
    /// stretch of requests, is cloned, and serves a second stretch answers
    /// every request of it as its clone does, and both end with the same
    /// contents and statistics. Every algorithm, with and without a TTL,
    /// from a small reserve so that the tables grow after the copy too.
    #[test]
    fn a_cloned_cache_answers_as_its_original(
        first in prop::collection::vec((0u64..400, 1u64..6, 0u64..20), 1..300),
        second in prop::collection::vec((0u64..400, 1u64..6, 0u64..20), 1..300),
        items in 1u64..300,
        ttl in prop::option::of(1u64..200),
        by_bytes in any::<bool>(),
    ) {
        let capacity = if by_bytes { Capacity::Bytes(items * 3) } else { Capacity::Items(items) };
        for eviction in Eviction::ALL {
            let mut spec = CacheSpec::new(eviction, capacity);
            match ttl {
                Some(ttl) => spec = spec.with_ttl_ns(ttl),
                None if eviction == Eviction::TtlOnly => continue,
                None => {}
            }
            let mut original = Cache::with_reserve(&spec, 4).unwrap();
            let mut t = 0;
            for &(key, size, dt) in &first {
                t += dt;
                original.access(t, key, size);
            }
            let mut copy = original.clone();
            copy.check();
            for (i, &(key, size, dt)) in second.iter().enumerate() {
                t += dt;
                if i % 3 == 2 {
                    original.remove(key);
                    copy.remove(key);
                } else {
                    let want = original.access(t, key, size);
                    prop_assert_eq!(copy.access(t, key, size), want, "{:?} at {}", eviction, t);
                }
                copy.check();
            }
            prop_assert_eq!(copy.stats(), original.stats());
            prop_assert_eq!(copy.len(), original.len());
            prop_assert_eq!(copy.used_bytes(), original.used_bytes());
            for key in 0..400 {
                prop_assert_eq!(copy.contains(t, key), original.contains(t, key));
            }
        }
    }
}

/// A trace's sizes are u64: the byte counters sum them without overflow,
/// and the byte miss ratio is exact, in every eviction.
#[test]
fn byte_counters_hold_sums_of_the_largest_sizes() {
    for eviction in Eviction::ALL {
        let spec = CacheSpec::new(eviction, Capacity::Items(100)).with_ttl_ns(1_000);
        let mut c = Cache::new(&spec).unwrap();
        for t in 0..3 {
            c.access(t, 1, u64::MAX);
        }
        c.access(3, 2, 1);
        let s = c.stats();
        assert_eq!((s.hits, s.misses), (2, 2), "{eviction:?}");
        assert_eq!(s.byte_hits, 2 * u128::from(u64::MAX), "{eviction:?}");
        assert_eq!(s.byte_misses, u128::from(u64::MAX) + 1, "{eviction:?}");
        let expected = (u64::MAX as f64 + 1.0) / (3.0 * u64::MAX as f64 + 1.0);
        assert_eq!(s.byte_miss_ratio(), expected, "{eviction:?}");
    }
}

/// A capacity of `u64::MAX` bytes: an object that would take the use past
/// it evicts (the sum is not wrapped around to a small one).
#[test]
fn a_capacity_of_the_largest_size_evicts_rather_than_wraps() {
    for eviction in [Eviction::Lru, Eviction::Fifo, Eviction::Lfu] {
        let mut c = Cache::new(&CacheSpec::new(eviction, Capacity::Bytes(u64::MAX))).unwrap();
        c.access(0, 1, u64::MAX - 10);
        assert!(c.contains(0, 1), "{eviction:?}");
        c.access(1, 2, 100);
        assert!(c.contains(1, 2) && !c.contains(1, 1), "{eviction:?}");
        assert_eq!(c.used_bytes(), 100, "{eviction:?}");
    }
}
