//! Checked data tier: keys, `[[datastores]]` (shards, copies, read routing,
//! pool, object sizes), their cache tiers, `[edge] cache` and the data
//! tier's prices.
//!
//! Keys are numbered `0..count` (0 the most popular under Zipf). Everything
//! per key is derived from a hash of the key, never stored: its shard
//! (`fmix64(key) mod shards`), its object size and whether the edge may
//! cache it. [`mix64`] is MurmurHash3's 64-bit finaliser, a bijection, so
//! consecutive keys spread evenly.

use headroom_cache::{CacheSpec, Capacity, Eviction};
use headroom_policy::Policies;
use headroom_policy::pool::{PoolConfig, PoolPolicy};
use headroom_policy::ratelimit::{KeyScope, RateLimitPolicy};
use headroom_policy::retry::RetryPolicy;
use headroom_sim::Span;
use headroom_sim::dist::Dist;

use super::costs::BillKind;
use super::network::NetworkPlan;
use super::workload::{PopularityPlan, popularity};
use super::{Invalid, RegionId, ServicePlan, StepPlan, dist, valid_name};
use crate::scenario::{
    CapacityConfig, DatastoreConfig, ReadRouting, Scenario, Scope, SizeConfig, SizeDistConfig,
    Storage,
};

/// Most shards per store copy.
pub const MAX_SHARDS: u32 = 4096;
/// Most keys.
pub const MAX_KEYS: u64 = 1_000_000_000;
/// Most cache tiers per store.
pub const MAX_TIERS: usize = 8;
/// Most datastores.
pub const MAX_STORES: usize = 256;

/// Salts that make the per-key hashes independent of the shard hash.
const SIZE_SALT: u64 = 0x9E37_79B9_7F4A_7C15;
const EDGE_SALT: u64 = 0xD1B5_4A32_D192_ED03;

/// MurmurHash3's `fmix64`: the documented key hash (shards, sizes, edge
/// cacheability).
#[inline]
pub const fn mix64(key: u64) -> u64 {
    let mut h = key;
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^= h >> 33;
    h
}

/// A uniform number in (0, 1) from a hash.
#[inline]
fn unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A dense datastore index (position in `[[datastores]]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreId(pub u16);

impl StoreId {
    /// As an array index.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// The checked data tier.
#[derive(Clone, Debug, PartialEq)]
pub struct DataPlan {
    /// How requests pick keys.
    pub keys: PopularityPlan,
    /// Fraction of requests that read (the rest write).
    pub read_fraction: f64,
    /// Stores, in `[[datastores]]` order (index = [`StoreId`]).
    pub stores: Vec<StorePlan>,
    /// The edge cache, if any.
    pub edge_cache: Option<EdgeCachePlan>,
}

/// The `store` and `tier` of the edge cache in the outputs (its
/// `caches_timeseries.csv` rows, its `runs.csv` column
/// `cache_edge_cache_hit_ratio`): after its table, `[edge.cache]`.
pub const EDGE_CACHE: (&str, &str) = ("edge", "cache");

/// The `runs.csv` column of a cache's hit ratio.
pub fn hit_ratio_column(store: &str, tier: &str) -> String {
    format!("cache_{store}_{tier}_hit_ratio")
}

/// One cache of a plan ([`DataPlan::caches`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheRef {
    /// The edge cache (`[edge.cache]`).
    Edge,
    /// Tier `tier` (its index in lookup order) of store `store`.
    Tier {
        /// The store.
        store: StoreId,
        /// The tier's index.
        tier: u8,
    },
}

impl DataPlan {
    /// Whether requests need keys (a store or an edge cache exists).
    pub fn uses_keys(&self) -> bool {
        !self.stores.is_empty() || self.edge_cache.is_some()
    }

    /// Every cache, in the outputs' order (`runs.csv`'s hit-ratio columns,
    /// `caches_timeseries.csv`'s rows within an interval): the edge cache
    /// first, where requests meet it, then each store's tiers in lookup
    /// order.
    pub fn caches(&self) -> Vec<CacheRef> {
        let edge = self.edge_cache.is_some().then_some(CacheRef::Edge);
        edge.into_iter()
            .chain(self.stores.iter().enumerate().flat_map(|(s, store)| {
                (0..store.tiers.len()).map(move |t| CacheRef::Tier {
                    store: StoreId(s as u16),
                    tier: t as u8,
                })
            }))
            .collect()
    }

    /// A cache's `store` and `tier` in the outputs ([`EDGE_CACHE`] for the
    /// edge cache).
    pub fn cache_names(&self, cache: CacheRef) -> (&str, &str) {
        match cache {
            CacheRef::Edge => EDGE_CACHE,
            CacheRef::Tier { store, tier } => {
                let s = &self.stores[store.index()];
                (&s.name, &s.tiers[usize::from(tier)].name)
            }
        }
    }
}

/// One checked store.
#[derive(Clone, Debug, PartialEq)]
pub struct StorePlan {
    /// Name.
    pub name: String,
    /// Shards per copy.
    pub shards: u32,
    /// Regions of the copies: the primary first, then the replicas.
    pub copies: Vec<RegionId>,
    /// Per caller region: the copy its reads go to.
    pub read_copy: Vec<u8>,
    /// Reads go to the primary (`routing.reads = "primary"`), wherever it
    /// is after a failover.
    pub reads_primary: bool,
    /// With `failover`: how long the primary's region is dark before a
    /// replica is promoted.
    pub failover_after: Option<Span>,
    /// Workers per shard.
    pub workers: u32,
    /// Waiting room per shard; `None` = unbounded.
    pub queue: Option<u64>,
    /// Time of a read.
    pub read: Dist,
    /// Time of a write.
    pub write: Dist,
    /// Time a replica's shard takes to apply a write from the primary.
    pub apply: Dist,
    /// The pool each caller instance keeps, if any.
    pub pool: Option<PoolPlan>,
    /// The limit each shard of each copy enforces on its operations.
    pub rate_limit: Option<RateLimitPolicy>,
    /// Whether a throttle carries the limit's `Retry-After`
    /// (`shard.retry_after`).
    pub throttle_retry_after: bool,
    /// How long a caller waits for an operation it sent (on a connection,
    /// if pooled) before it fails it with a timeout.
    pub timeout: Option<Span>,
    /// How callers retry a failed operation.
    pub retry: Option<RetryPolicy>,
    /// Object size per key.
    pub object_size: SizePlan,
    /// Cache tiers in lookup order.
    pub tiers: Vec<TierPlan>,
    /// Regions whose services call the store (region-scope tier copies).
    pub caller_regions: Vec<RegionId>,
}

impl StorePlan {
    /// The shard of `key`: `fmix64(key) mod shards`.
    #[inline]
    pub fn shard_of(&self, key: u64) -> u32 {
        (mix64(key) % u64::from(self.shards)) as u32
    }
}

/// A checked connection pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolPlan {
    /// The `policy::pool` policy.
    pub policy: PoolPolicy,
    /// Time a connect takes.
    pub connect_time: Span,
}

/// One checked cache tier.
#[derive(Clone, Debug, PartialEq)]
pub struct TierPlan {
    /// Name (`tier`).
    pub name: String,
    /// Storage class (prices).
    pub storage: Storage,
    /// Who shares a copy.
    pub scope: Scope,
    /// Algorithm, capacity and TTL for `headroom-cache`.
    pub spec: CacheSpec,
    /// Time of one lookup.
    pub latency: Span,
    /// Capacity in bytes (an item capacity times the mean object size), for
    /// prices.
    pub capacity_bytes: f64,
}

/// The edge cache.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EdgeCachePlan {
    /// `max_age`.
    pub max_age: Span,
    /// Fraction of keys whose reads are cacheable.
    pub cacheable_fraction: f64,
    /// Keys held per edge region.
    pub capacity: u64,
}

impl EdgeCachePlan {
    /// Whether reads of `key` may be cached at the edge (decided per key by
    /// a hash).
    #[inline]
    pub fn cacheable(&self, key: u64) -> bool {
        unit(mix64(key ^ EDGE_SALT)) < self.cacheable_fraction
    }
}

/// Object sizes: a quantile function evaluated at a per-key hash.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SizePlan {
    /// Every object this size.
    Fixed(u64),
    /// Uniform in `[min, max]`.
    Uniform {
        /// Bytes.
        min: u64,
        /// Bytes.
        max: u64,
    },
    /// Exponential.
    Exponential {
        /// Mean bytes.
        mean: f64,
    },
    /// Lognormal with log-mean `mu` and log-sd `sigma`.
    Lognormal {
        /// Mean of the log.
        mu: f64,
        /// Standard deviation of the log.
        sigma: f64,
    },
    /// Pareto with scale `xm` and shape.
    Pareto {
        /// Scale (smallest size).
        xm: f64,
        /// Tail index.
        shape: f64,
    },
}

impl SizePlan {
    /// The size of `key`'s object, bytes (>= 1): the distribution's
    /// quantile at `unit(fmix64(key ^ salt))`.
    #[inline]
    pub fn of_key(&self, key: u64) -> u64 {
        let u = || unit(mix64(key ^ SIZE_SALT));
        let x = match *self {
            SizePlan::Fixed(b) => return b.max(1),
            SizePlan::Uniform { min, max } => min as f64 + u() * (max - min) as f64,
            SizePlan::Exponential { mean } => -mean * (1.0 - u()).ln(),
            SizePlan::Lognormal { mu, sigma } => (mu + sigma * inverse_normal(u())).exp(),
            SizePlan::Pareto { xm, shape } => xm / (1.0 - u()).powf(1.0 / shape),
        };
        (x.round() as u64).max(1)
    }

    /// The mean size, bytes.
    pub fn mean(&self) -> f64 {
        match *self {
            SizePlan::Fixed(b) => b.max(1) as f64,
            SizePlan::Uniform { min, max } => (min + max) as f64 / 2.0,
            SizePlan::Exponential { mean } => mean,
            SizePlan::Lognormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            SizePlan::Pareto { xm, shape } => xm * shape / (shape - 1.0),
        }
    }
}

/// The standard normal quantile (Acklam's rational approximation, relative
/// error below 1.2e-9), for lognormal sizes.
fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

pub(super) fn plan(
    scenario: &Scenario,
    network: &NetworkPlan,
    services: &[ServicePlan],
    policies: &Policies,
    base_dir: &std::path::Path,
) -> Result<DataPlan, Invalid> {
    let w = &scenario.workload;
    let keys = match &w.keys {
        None => PopularityPlan {
            count: 1,
            zipf_s: None,
        },
        Some(k) => popularity("workload.keys", k.count, k.popularity, k.s, MAX_KEYS)?,
    };
    if !(w.read_fraction.is_finite() && (0.0..=1.0).contains(&w.read_fraction)) {
        return Err(Invalid::new(
            "workload.read_fraction",
            w.read_fraction,
            "a fraction in [0, 1] (0.9 = 90 % reads, 10 % writes)",
        ));
    }
    let configs = &scenario.datastores;
    if configs.len() > MAX_STORES {
        return Err(Invalid::new(
            "datastores",
            format!("{} stores", configs.len()),
            format!("at most {MAX_STORES}"),
        ));
    }
    let mut stores = Vec::with_capacity(configs.len());
    for (i, d) in configs.iter().enumerate() {
        let at = if d.name.is_empty() {
            i.to_string()
        } else {
            d.name.clone()
        };
        if !valid_name(&d.name) || configs[..i].iter().any(|o| o.name == d.name) {
            return Err(Invalid::new(
                format!("datastores.{at}.name"),
                format!("{:?}", d.name),
                "a unique, non-empty name of letters, digits, '-' and '_'",
            ));
        }
        let callers = caller_regions(services, i as u16);
        stores.push(store(d, network, callers, policies, base_dir)?);
    }
    let edge_cache = match scenario.edge.as_ref().and_then(|e| e.cache.as_ref()) {
        None => None,
        Some(c) => {
            if c.max_age.is_zero() {
                return Err(Invalid::new(
                    "edge.cache.max_age",
                    c.max_age,
                    "a positive duration such as \"300s\"",
                ));
            }
            if !(c.cacheable_fraction.is_finite() && (0.0..=1.0).contains(&c.cacheable_fraction)) {
                return Err(Invalid::new(
                    "edge.cache.cacheable_fraction",
                    c.cacheable_fraction,
                    "a fraction of keys in [0, 1]",
                ));
            }
            if !(1..=1 << 30).contains(&c.capacity) {
                return Err(Invalid::new(
                    "edge.cache.capacity",
                    c.capacity,
                    "a number of keys from 1 to 2^30",
                ));
            }
            Some(EdgeCachePlan {
                max_age: c.max_age,
                cacheable_fraction: c.cacheable_fraction,
                capacity: c.capacity,
            })
        }
    };
    let plan = DataPlan {
        keys,
        read_fraction: w.read_fraction,
        stores,
        edge_cache,
    };
    distinct_columns(&plan)?;
    Ok(plan)
}

/// Refuses two caches whose `runs.csv` hit-ratio columns would share a
/// name (`cache_a_b_c_hit_ratio` is store `a_b`'s tier `c` and store `a`'s
/// tier `b_c`; store `edge`'s tier `cache` is the edge cache's).
fn distinct_columns(plan: &DataPlan) -> Result<(), Invalid> {
    let caches = plan.caches();
    let column = |c: CacheRef| {
        let (store, tier) = plan.cache_names(c);
        hit_ratio_column(store, tier)
    };
    for (i, &cache) in caches.iter().enumerate() {
        let Some(&other) = caches[..i].iter().find(|&&o| column(o) == column(cache)) else {
            continue;
        };
        let (store, tier) = plan.cache_names(cache);
        let other = match other {
            CacheRef::Edge => "the edge cache's ([edge.cache])".to_owned(),
            CacheRef::Tier { .. } => {
                let (s, t) = plan.cache_names(other);
                format!("datastore {s:?}'s tier {t:?}")
            }
        };
        let column = column(cache);
        return Err(Invalid::new(
            format!("datastores.{store}.cache.{tier}.tier"),
            format!("{tier:?}"),
            format!(
                "a store and tier name whose runs.csv column differs from every other cache's: \
                 {column} is also {other}; rename the tier or the store"
            ),
        ));
    }
    Ok(())
}

/// Regions of the services with a `{ data = store }` step.
fn caller_regions(services: &[ServicePlan], store: u16) -> Vec<RegionId> {
    let mut regions: Vec<RegionId> = services
        .iter()
        .filter(|s| {
            s.steps
                .iter()
                .any(|st| matches!(st, StepPlan::Data(id) if id.0 == store))
        })
        .flat_map(|s| s.regions.iter().copied())
        .collect();
    regions.sort();
    regions.dedup();
    regions
}

fn store(
    d: &DatastoreConfig,
    network: &NetworkPlan,
    caller_regions: Vec<RegionId>,
    policies: &Policies,
    base_dir: &std::path::Path,
) -> Result<StorePlan, Invalid> {
    let key = |k: &str| format!("datastores.{}.{k}", d.name);
    if !(1..=MAX_SHARDS).contains(&d.shards) {
        return Err(Invalid::new(
            key("shards"),
            d.shards,
            format!("an integer from 1 to {MAX_SHARDS} (shards per copy)"),
        ));
    }
    if !(1..=super::limits::MAX_WORKERS).contains(&d.shard.workers) {
        return Err(Invalid::new(
            key("shard.workers"),
            d.shard.workers,
            format!("an integer from 1 to {}", super::limits::MAX_WORKERS),
        ));
    }
    let primary = match &d.primary {
        None => RegionId(0),
        Some(name) => network.resolve(&key("primary"), name)?,
    };
    let mut copies = vec![primary];
    for (i, name) in d.replicas.iter().enumerate() {
        let k = key(&format!("replicas.{i}"));
        let id = network.resolve(&k, name)?;
        if copies.contains(&id) {
            return Err(Invalid::new(
                k,
                format!("{name:?}"),
                "a region without another copy of the store (not the primary, not listed before)",
            ));
        }
        copies.push(id);
    }
    let read_copy = network
        .region_ids()
        .map(|r| match d.routing.reads {
            ReadRouting::Primary => 0,
            ReadRouting::NearestReplica => {
                let mut best = 0usize;
                for (c, &region) in copies.iter().enumerate() {
                    if network.rtt(r, region) < network.rtt(r, copies[best]) {
                        best = c;
                    }
                }
                best as u8
            }
        })
        .collect();
    let read = dist(&d.shard.read, &key("shard.read"), base_dir)?;
    let write = match &d.shard.write {
        Some(w) => dist(w, &key("shard.write"), base_dir)?,
        None => read.clone(),
    };
    let apply = match &d.shard.apply {
        Some(a) => dist(a, &key("shard.apply"), base_dir)?,
        None => write.clone(),
    };
    let pool = match &d.pool {
        None => None,
        Some(p) => {
            let config = PoolConfig {
                min: p.min,
                max: p.max,
                idle_timeout: p.idle_timeout,
                acquire_timeout: p.acquire_timeout,
                max_waiters: p.max_waiters,
                max_lifetime: p.max_lifetime,
            };
            let policy = config.validate().map_err(|e| {
                Invalid::new(
                    format!("{}.{}", key("pool"), e.key().trim_start_matches("pool.")),
                    e.value(),
                    e.expected(),
                )
            })?;
            Some(PoolPlan {
                policy,
                connect_time: p.connect_time,
            })
        }
    };
    let rate_limit = match &d.shard.rate_limit {
        None => None,
        Some(name) => {
            let k = key("shard.rate_limit");
            let policy = policies.rate_limits.get(name).ok_or_else(|| {
                super::unknown_name(&k, name, "policy.rate_limit", policies.rate_limits.keys())
            })?;
            if policy.scope() != KeyScope::Global {
                return Err(Invalid::new(
                    k,
                    format!("{name:?}"),
                    format!(
                        "a [policy.rate_limit.{name}] with key = \"global\": each shard counts \
                         its own operations, whichever client they serve"
                    ),
                ));
            }
            Some(*policy)
        }
    };
    if d.shard.retry_after && rate_limit.is_none() {
        return Err(Invalid::new(
            key("shard.retry_after"),
            "true",
            "a shard with a `rate_limit` (only a throttle carries a Retry-After), or false",
        ));
    }
    let retry = match &d.retry {
        None => None,
        Some(r) => {
            if let Some(p) = r.per_try_timeout {
                return Err(Invalid::new(
                    key("retry.per_try_timeout"),
                    format!("\"{p}\""),
                    format!(
                        "no per_try_timeout: each try of an operation times out after the \
                         store's own timeout; move it there ({} = \"{p}\")",
                        key("timeout")
                    ),
                ));
            }
            Some(r.validate(None).map_err(|e| {
                Invalid::new(
                    format!("{}.{}", key("retry"), e.key()),
                    e.value(),
                    e.expected(),
                )
            })?)
        }
    };
    let timeout = match d.timeout {
        Some(t) if t.is_zero() => {
            return Err(Invalid::new(
                key("timeout"),
                format!("\"{t}\""),
                "a duration above 0 (\"50ms\"), or no key for no timeout",
            ));
        }
        t => t,
    };
    let failover_after = match d.failover {
        Some(f) if f.after.is_zero() => {
            return Err(Invalid::new(
                key("failover.after"),
                format!("\"{}\"", f.after),
                "a duration above 0 (\"60s\"): how long the primary's region is dark before \
                 a replica is promoted",
            ));
        }
        Some(_) if copies.len() < 2 => {
            return Err(Invalid::new(
                key("failover"),
                "a table",
                "a store with at least one entry in `replicas`: failover promotes a replica",
            ));
        }
        f => f.map(|f| f.after),
    };
    let object_size = size_plan(&d.object_size, &key("object_size"))?;
    if d.cache.len() > MAX_TIERS {
        return Err(Invalid::new(
            key("cache"),
            format!("{} tiers", d.cache.len()),
            format!("at most {MAX_TIERS} tiers"),
        ));
    }
    let mut tiers = Vec::with_capacity(d.cache.len());
    for (i, t) in d.cache.iter().enumerate() {
        let at = if t.tier.is_empty() {
            i.to_string()
        } else {
            t.tier.clone()
        };
        let tk = |k: &str| format!("datastores.{}.cache.{at}.{k}", d.name);
        if !valid_name(&t.tier) || d.cache[..i].iter().any(|o| o.tier == t.tier) {
            return Err(Invalid::new(
                tk("tier"),
                format!("{:?}", t.tier),
                "a tier name unique in the store, of letters, digits, '-' and '_'",
            ));
        }
        let eviction = Eviction::parse(&t.eviction).map_err(|_| {
            Invalid::new(
                tk("eviction"),
                format!("{:?}", t.eviction),
                format!(
                    "one of {}",
                    Eviction::NAMES.map(|n| format!("{n:?}")).join(", ")
                ),
            )
        })?;
        let (capacity, capacity_bytes) = match t.capacity {
            CapacityConfig::Items(n) => (Capacity::Items(n), n as f64 * object_size.mean()),
            CapacityConfig::Size(b) => (Capacity::Bytes(b.get()), b.get() as f64),
        };
        if matches!(capacity, Capacity::Items(0) | Capacity::Bytes(0)) {
            return Err(Invalid::new(
                tk("capacity"),
                match t.capacity {
                    CapacityConfig::Items(_) => "0".to_owned(),
                    CapacityConfig::Size(b) => format!("{:?}", b.to_string()),
                },
                "a capacity of at least 1 item or 1 byte: an item count (100000) or a size (\"100MB\"); remove the tier to have no cache",
            ));
        }
        let mut spec = CacheSpec::new(eviction, capacity);
        if let Some(ttl) = t.ttl {
            if ttl.is_zero() {
                return Err(Invalid::new(
                    tk("ttl"),
                    ttl,
                    "a positive duration (leave `ttl` out for no expiry)",
                ));
            }
            spec = spec.with_ttl_ns(ttl.as_nanos());
        } else if eviction == Eviction::TtlOnly {
            return Err(Invalid::new(
                tk("ttl"),
                "missing",
                "a `ttl` with `eviction = \"ttl-only\"` (entries leave only by expiring)",
            ));
        }
        tiers.push(TierPlan {
            name: t.tier.clone(),
            storage: t.storage,
            scope: t.scope,
            spec,
            latency: t.latency,
            capacity_bytes,
        });
    }
    Ok(StorePlan {
        name: d.name.clone(),
        shards: d.shards,
        copies,
        read_copy,
        reads_primary: d.routing.reads == ReadRouting::Primary,
        failover_after,
        workers: d.shard.workers,
        queue: match d.shard.queue {
            crate::scenario::QueueCapacity::Bounded(n) => Some(n),
            crate::scenario::QueueCapacity::Unbounded => None,
        },
        read,
        write,
        apply,
        pool,
        rate_limit,
        throttle_retry_after: d.shard.retry_after,
        timeout,
        retry,
        object_size,
        tiers,
        caller_regions,
    })
}

/// Resolves a `[[faults]]` entry's `store` and `tier` (`key(k)` names
/// them).
pub(super) fn resolve_tier(
    scenario: &Scenario,
    key: &dyn Fn(&str) -> String,
    store: &str,
    tier: &str,
) -> Result<(StoreId, u8), Invalid> {
    let stores = &scenario.datastores;
    let s = stores.iter().position(|d| d.name == store).ok_or_else(|| {
        super::unknown_name(
            &key("store"),
            store,
            "[[datastores]]",
            stores.iter().map(|d| &d.name),
        )
    })?;
    let tiers = &stores[s].cache;
    let t = tiers.iter().position(|c| c.tier == tier).ok_or_else(|| {
        let known: Vec<String> = tiers.iter().map(|c| format!("{:?}", c.tier)).collect();
        Invalid::new(
            key("tier"),
            format!("{tier:?}"),
            if known.is_empty() {
                format!("a cache tier of `{store}`, but it has none")
            } else {
                format!("a cache tier of `{store}`: {}", known.join(", "))
            },
        )
    })?;
    Ok((StoreId(s as u16), t as u8))
}

/// Prices of the data tier, resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataCostPlan {
    /// Capacity-priced USD per second: shards, replicas and the capacity of
    /// every tier copy (see [`cost_plan`]).
    pub fixed_usd_per_s: f64,
    /// USD per operation, `[store][tier]`: lookups, fills and invalidations
    /// of `kv` tiers; lookups of `object` tiers; 0 for `memory` tiers.
    pub lookup_usd: Vec<Vec<f64>>,
    /// USD per fill or invalidation, `[store][tier]` (`kv` only).
    pub write_usd: Vec<Vec<f64>>,
    /// `fixed_usd_per_s` item by item, for `bill.csv`: each store's shards
    /// and each replica of them, then each billed copy of each tier, in
    /// `[[datastores]]` and tier order.
    pub fixed: Vec<FixedCost>,
}

/// One capacity-priced item of the data tier.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FixedCost {
    /// [`BillKind::Shards`], [`BillKind::Replicas`] or
    /// [`BillKind::CacheCapacity`].
    pub kind: super::costs::BillKind,
    /// Its store.
    pub store: StoreId,
    /// Its tier (cache capacity only).
    pub tier: Option<u8>,
    /// Where it runs: a copy's region, a region-scoped tier's caller
    /// region; `None` for a global tier.
    pub region: Option<RegionId>,
    /// What it costs, USD per second.
    pub usd_per_s: f64,
}

/// Resolves `[costs.data]`:
///
/// - shards: `shards × shard_hourly × m(primary) + Σ_replicas shards ×
///   replica_hourly × m(replica)` per hour, `m` the region multiplier;
/// - a tier's copies: one per caller region (`scope = "region"`), one
///   (`"global"`), none billed for `"instance"` (it lives in the caller's
///   own memory, paid with its instance type);
/// - per copy and hour: `memory`: `GB × memory_per_gb_hour`; `kv`: `GB ×
///   kv_per_gb_month / 730`; `object`: `GB × object_per_gb_month / 730`,
///   where GB is the tier's capacity (an item capacity times the mean
///   object size) over 10^9;
/// - per operation: `kv`: `kv_per_million_ops / 10^6` per lookup, fill and
///   invalidation; `object`: `object_per_million_gets / 10^6` per lookup.
pub(super) fn cost_plan(
    c: &crate::scenario::DataCostsConfig,
    multipliers: &[f64],
    data: &DataPlan,
) -> Result<DataCostPlan, Invalid> {
    let prices = [
        ("shard_hourly", c.shard_hourly),
        ("replica_hourly", c.replica_hourly),
        ("memory_per_gb_hour", c.memory_per_gb_hour),
        ("kv_per_million_ops", c.kv_per_million_ops),
        ("kv_per_gb_month", c.kv_per_gb_month),
        ("object_per_million_gets", c.object_per_million_gets),
        ("object_per_gb_month", c.object_per_gb_month),
    ];
    for (k, v) in prices {
        if !(v.is_finite() && v >= 0.0) {
            return Err(Invalid::new(
                format!("costs.data.{k}"),
                v,
                "a price in USD >= 0",
            ));
        }
    }
    let mut hourly = 0.0;
    let mut lookup_usd = Vec::with_capacity(data.stores.len());
    let mut write_usd = Vec::with_capacity(data.stores.len());
    let mut fixed = Vec::new();
    for (store, s) in data.stores.iter().enumerate() {
        let store = StoreId(store as u16);
        for (i, r) in s.copies.iter().enumerate() {
            let (price, kind) = if i == 0 {
                (c.shard_hourly, BillKind::Shards)
            } else {
                (c.replica_hourly, BillKind::Replicas)
            };
            let copy = f64::from(s.shards) * price * multipliers[r.index()];
            hourly += copy;
            fixed.push(FixedCost {
                kind,
                store,
                tier: None,
                region: Some(*r),
                usd_per_s: copy / 3600.0,
            });
        }
        let mut lookups = Vec::with_capacity(s.tiers.len());
        let mut writes = Vec::with_capacity(s.tiers.len());
        for (tier, t) in s.tiers.iter().enumerate() {
            let copies = match t.scope {
                Scope::Instance => 0.0,
                Scope::Region => s.caller_regions.len() as f64,
                Scope::Global => 1.0,
            };
            let gb = t.capacity_bytes / 1e9;
            let (per_gb_hour, lookup, write) = match t.storage {
                Storage::Memory => (c.memory_per_gb_hour, 0.0, 0.0),
                Storage::Kv => (
                    c.kv_per_gb_month / super::costs::HOURS_PER_MONTH,
                    c.kv_per_million_ops / 1e6,
                    c.kv_per_million_ops / 1e6,
                ),
                Storage::Object => (
                    c.object_per_gb_month / super::costs::HOURS_PER_MONTH,
                    c.object_per_million_gets / 1e6,
                    0.0,
                ),
            };
            hourly += copies * gb * per_gb_hour;
            let regions: Vec<Option<RegionId>> = match t.scope {
                Scope::Instance => Vec::new(),
                Scope::Region => s.caller_regions.iter().copied().map(Some).collect(),
                Scope::Global => vec![None],
            };
            for region in regions {
                fixed.push(FixedCost {
                    kind: BillKind::CacheCapacity,
                    store,
                    tier: Some(tier as u8),
                    region,
                    usd_per_s: gb * per_gb_hour / 3600.0,
                });
            }
            lookups.push(lookup);
            writes.push(write);
        }
        lookup_usd.push(lookups);
        write_usd.push(writes);
    }
    Ok(DataCostPlan {
        fixed_usd_per_s: hourly / 3600.0,
        lookup_usd,
        write_usd,
        fixed,
    })
}

fn size_plan(config: &SizeConfig, key: &str) -> Result<SizePlan, Invalid> {
    let positive = |k: &str, b: crate::units::Bytes| {
        if b.get() == 0 {
            Err(Invalid::new(
                format!("{key}.{k}"),
                format!("{:?}", b.to_string()),
                "a size of at least 1 byte",
            ))
        } else {
            Ok(b.get() as f64)
        }
    };
    Ok(match config {
        SizeConfig::Fixed(b) => SizePlan::Fixed(positive("", *b).map_err(|mut e| {
            e.key = key.to_owned();
            e
        })? as u64),
        SizeConfig::Dist(SizeDistConfig::Uniform { min, max }) => {
            if min > max {
                return Err(Invalid::new(
                    format!("{key}.max"),
                    format!("{:?}", max.to_string()),
                    format!("a size >= min ({min})"),
                ));
            }
            SizePlan::Uniform {
                min: min.get(),
                max: max.get(),
            }
        }
        SizeConfig::Dist(SizeDistConfig::Exponential { mean }) => SizePlan::Exponential {
            mean: positive("mean", *mean)?,
        },
        SizeConfig::Dist(SizeDistConfig::Lognormal { mean, cv }) => {
            let m = positive("mean", *mean)?;
            if !(cv.is_finite() && *cv > 0.0) {
                return Err(Invalid::new(format!("{key}.cv"), cv, "a finite cv > 0"));
            }
            let sigma2 = (1.0 + cv * cv).ln();
            SizePlan::Lognormal {
                mu: m.ln() - sigma2 / 2.0,
                sigma: sigma2.sqrt(),
            }
        }
        SizeConfig::Dist(SizeDistConfig::Pareto { mean, shape }) => {
            let m = positive("mean", *mean)?;
            if !(shape.is_finite() && *shape > 1.0) {
                return Err(Invalid::new(
                    format!("{key}.shape"),
                    shape,
                    "a tail index > 1 (the mean must exist)",
                ));
            }
            SizePlan::Pareto {
                xm: m * (shape - 1.0) / shape,
                shape: *shape,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_their_distribution_and_are_stable_per_key() {
        let lognormal = SizePlan::Lognormal {
            mu: (4000f64).ln() - (2f64).ln() / 2.0,
            sigma: (2f64).ln().sqrt(),
        };
        let n = 200_000u64;
        let mean: f64 = (0..n).map(|k| lognormal.of_key(k) as f64).sum::<f64>() / n as f64;
        // cv = 1: the standard error of the mean is 4000 / sqrt(n) ~ 9 bytes.
        assert!((mean - 4000.0).abs() < 60.0, "mean {mean}");
        assert_eq!(lognormal.of_key(17), lognormal.of_key(17));
        let pareto = SizePlan::Pareto {
            xm: 1000.0,
            shape: 3.0,
        };
        assert!((0..1000).all(|k| pareto.of_key(k) >= 1000));
        assert!((inverse_normal(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((inverse_normal(0.001) + 3.090_232_306).abs() < 1e-8);
    }

    #[test]
    fn edge_cacheability_is_a_fraction_of_keys() {
        let e = EdgeCachePlan {
            max_age: Span::from_secs(1),
            cacheable_fraction: 0.3,
            capacity: 10,
        };
        let n = 100_000u64;
        let c = (0..n).filter(|&k| e.cacheable(k)).count() as f64 / n as f64;
        assert!((c - 0.3).abs() < 0.006, "{c}");
    }
}
