//! The data tier's tables: `workload.keys`, `[[datastores]]` (shards,
//! replicas, routing, connection pool, object sizes) with their
//! `[[datastores.cache]]` tiers, `[edge] cache` and `[costs.data]`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use headroom_sim::Span;

use super::dist::{DistConfig, QueueCapacity};
use super::workload::Popularity;
use crate::units::Bytes;
use headroom_policy::config::{StringOrTable, string_or_table};

/// `workload.keys`: which key each request reads or writes.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Distinct keys (1..=10^9). No per-key memory is kept.
    pub count: u64,
    /// How requests spread over keys. Default `"uniform"`.
    #[serde(default)]
    pub popularity: Popularity,
    /// Zipf exponent (> 0), required with `popularity = "zipf"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<f64>,
}

/// One `[[datastores]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatastoreConfig {
    /// Unique name; a `{ data = "NAME" }` step addresses it.
    pub name: String,
    /// Shards per copy (1..=4096). Default 1.
    #[serde(default = "one")]
    pub shards: u32,
    /// What the shard hash is computed over; informational (the request's
    /// key is the only key the simulator knows). Default `"key"`.
    #[serde(default = "default_shard_key")]
    pub shard_key: String,
    /// One shard: workers, waiting room and operation times.
    pub shard: ShardConfig,
    /// The region of the primary copy. Default: the first region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// Regions with a read replica (a full copy with the same shards).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<String>,
    /// Where reads and writes go.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// What happens when a copy's region goes dark. Absent: routing is
    /// static (reads and writes to a dark copy fail to connect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<StoreFailoverConfig>,
    /// The connection pool each caller instance keeps to the store. Absent:
    /// no pool (every operation has a connection at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<DataPoolConfig>,
    /// How long a caller waits for an operation sent on a connection
    /// (a store client's operation timeout) before it fails it with a
    /// timeout; the store still works on it. Absent: no timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Span>,
    /// How a caller retries a failed operation (a store client's retries:
    /// DynamoDB's SDKs retry throttles with backoff): `[policy.mesh]`'s
    /// `retry` table without `per_try_timeout` (a try's timeout is
    /// `timeout`). Absent: no retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<headroom_policy::retry::RetryConfig>,
    /// Size of the object stored under a key: a size (`"4KB"`) or a
    /// distribution of sizes; stable per key (derived from a hash of the
    /// key). Default `"1KB"`.
    #[serde(default = "default_object_size")]
    pub object_size: SizeConfig,
    /// `[[datastores.cache]]`: cache tiers in lookup order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache: Vec<CacheTierConfig>,
}

fn one() -> u32 {
    1
}
fn default_shard_key() -> String {
    "key".to_owned()
}
fn default_object_size() -> SizeConfig {
    SizeConfig::Fixed(Bytes::new(1_000))
}

/// `datastores.*.shard`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShardConfig {
    /// Operations served at once by one shard (>= 1).
    pub workers: u32,
    /// Waiting room per shard: an integer or `"unbounded"`; an operation
    /// that finds it full fails (503). Default `"unbounded"`.
    #[serde(default)]
    pub queue: QueueCapacity,
    /// Time of one read on a worker.
    pub read: DistConfig,
    /// Time of one write on a worker. Default: the read distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<DistConfig>,
    /// Time a read replica's shard takes to apply one write shipped from
    /// the primary, on one of its workers (beside its reads). Default: the
    /// write distribution (the replica redoes the write's storage work; a
    /// physical log replay is often cheaper: say so here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<DistConfig>,
    /// A `[policy.rate_limit.NAME]` (`key = "global"`) that every shard of
    /// every copy enforces on its own operations: one over the limit fails
    /// at once with 429 (a managed store's throughput per partition, such
    /// as DynamoDB's read and write units). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    /// A throttle says when the shard would admit the operation (the
    /// limit's `Retry-After`, as Cosmos DB's `x-ms-retry-after-ms`), and
    /// the store's `retry` waits that long instead of its backoff. Default
    /// false: a throttle says nothing (DynamoDB's
    /// `ProvisionedThroughputExceededException`). Needs `rate_limit`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retry_after: bool,
}

/// `datastores.*.failover`: a managed store's failover (Aurora's,
/// Cloud SQL's): reads leave a dark copy at once for the nearest copy whose
/// region is up, and a replica is promoted once the primary's region has
/// been dark for `after`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreFailoverConfig {
    /// How long the primary's region is dark before the first replica (in
    /// `replicas` order) whose region is up becomes the primary (> 0).
    pub after: Span,
}

/// `datastores.*.routing`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Where writes go: only `"primary"`.
    #[serde(default)]
    pub writes: WriteRouting,
    /// Where reads go. Default `"primary"`.
    #[serde(default)]
    pub reads: ReadRouting,
}

/// `routing.writes`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum WriteRouting {
    /// Every write goes to the primary.
    #[default]
    Primary,
}

/// `routing.reads`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ReadRouting {
    /// Every read goes to the primary.
    #[default]
    Primary,
    /// A read goes to the copy (primary or replica) with the smallest
    /// round-trip time from the caller's region (ties: the primary, then
    /// replicas in `replicas` order).
    NearestReplica,
}

/// `datastores.*.pool`: `policy::pool`'s table plus the time a connect
/// takes.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataPoolConfig {
    /// Connections kept open. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// Most open + opening connections. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// Idle time before a connection above `min` closes. Default `"10m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Span>,
    /// Longest wait for a connection; past it the operation fails (503).
    /// Default `"30s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquire_timeout: Option<Span>,
    /// Most queued acquirers. Default 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_waiters: Option<u64>,
    /// Connection age at which it is replaced. Default `"30m"`; `"0s"` =
    /// no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime: Option<Span>,
    /// Time to open a connection (TCP + TLS + auth, their round trips
    /// included: a pool's connection is to the store, not to one of its
    /// copies, so no region's round trip is added). Default `"0s"`.
    #[serde(default)]
    pub connect_time: Span,
}

/// One `[[datastores.cache]]` tier.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CacheTierConfig {
    /// Unique name within the store (`"l1"`, `"hot"`).
    pub tier: String,
    /// What holds it (prices differ). Default `"memory"`.
    #[serde(default)]
    pub storage: Storage,
    /// Who shares one copy. Default `"region"`.
    #[serde(default)]
    pub scope: Scope,
    /// An item count (`100000`) or a size (`"100MB"`).
    pub capacity: CapacityConfig,
    /// `"lru"`, `"fifo"`, `"lfu"`, `"s3-fifo"` or `"ttl-only"`. Default
    /// `"lru"`.
    #[serde(default = "default_eviction", deserialize_with = "eviction_name")]
    pub eviction: String,
    /// Time to live of an entry. Default: none (required by `ttl-only`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Span>,
    /// Time of one lookup (hit or miss), the round trip included. Default
    /// `"0s"`.
    #[serde(default)]
    pub latency: Span,
}

fn default_eviction() -> String {
    "lru".to_owned()
}

/// `eviction`, read as a string: a value of another type is refused with
/// the names it takes (`eviction = 7`: expected one of "lru", ...). Which
/// string is a name is checked with the plan, which says the same.
fn eviction_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct Name;
    impl Visitor<'_> for Name {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let names = headroom_cache::Eviction::NAMES.map(|n| format!("{n:?}"));
            write!(f, "one of {}", names.join(", "))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
    }
    deserializer.deserialize_string(Name)
}

/// `cache.storage`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Storage {
    /// In-memory (process memory or a memory cache cluster): priced per
    /// GB-hour of capacity.
    #[default]
    Memory,
    /// A key-value service: priced per million operations and GB-month.
    Kv,
    /// An object store: priced per million gets and GB-month.
    Object,
}

/// `cache.scope`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// One copy per caller instance (an in-process cache).
    Instance,
    /// One copy per region of the callers.
    #[default]
    Region,
    /// One copy for everyone.
    Global,
}

/// A cache capacity: an item count or a size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapacityConfig {
    /// This many objects.
    Items(u64),
    /// This many bytes of objects.
    Size(Bytes),
}

impl Serialize for CapacityConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            CapacityConfig::Items(n) => serializer.serialize_u64(*n),
            CapacityConfig::Size(b) => b.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for CapacityConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CapacityVisitor;
        impl Visitor<'_> for CapacityVisitor {
            type Value = CapacityConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an item count (100000) or a size (\"100MB\")")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<CapacityConfig, E> {
                Ok(CapacityConfig::Items(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<CapacityConfig, E> {
                u64::try_from(v)
                    .map(CapacityConfig::Items)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CapacityConfig, E> {
                Bytes::parse(v)
                    .map(CapacityConfig::Size)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(CapacityVisitor)
    }
}

/// An object size: fixed, or a distribution (each key keeps the size its
/// hash picks).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum SizeConfig {
    /// Every object has this size.
    Fixed(Bytes),
    /// Sizes spread by a distribution.
    Dist(SizeDistConfig),
}

impl<'de> Deserialize<'de> for SizeConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = string_or_table(
            deserializer,
            "a size such as \"4KB\", or a distribution table such as \
             { distribution = \"lognormal\", mean = \"4KB\", cv = 1.0 }",
        )?;
        Ok(match value {
            StringOrTable::String(bytes) => SizeConfig::Fixed(bytes),
            StringOrTable::Table(dist) => SizeConfig::Dist(dist),
        })
    }
}

/// A size distribution, tagged by `distribution`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "distribution", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SizeDistConfig {
    /// Uniform between `min` and `max`.
    Uniform {
        /// Smallest size.
        min: Bytes,
        /// Largest size.
        max: Bytes,
    },
    /// Exponential with mean `mean`.
    Exponential {
        /// Mean size.
        mean: Bytes,
    },
    /// Lognormal with mean `mean` and coefficient of variation `cv`.
    Lognormal {
        /// Mean size.
        mean: Bytes,
        /// Standard deviation over mean (> 0).
        cv: f64,
    },
    /// Pareto with mean `mean` and tail index `shape` (> 1).
    Pareto {
        /// Mean size.
        mean: Bytes,
        /// Tail index.
        shape: f64,
    },
}

/// `[edge] cache`: a CDN or edge proxy cache in front of the entry service.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EdgeCacheConfig {
    /// How long a fetched response may be served from the edge
    /// (`Cache-Control: max-age`).
    pub max_age: Span,
    /// Fraction of keys whose reads are cacheable (chosen per key by a
    /// hash, so a key is always or never cacheable), in [0, 1].
    pub cacheable_fraction: f64,
    /// Keys each edge region holds at most (TTL-only eviction). Default
    /// 1000000.
    #[serde(default = "default_edge_capacity")]
    pub capacity: u64,
}

fn default_edge_capacity() -> u64 {
    1_000_000
}

/// `[costs.data]`: prices of the data tier. Every key defaults to 0.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataCostsConfig {
    /// USD per primary shard-hour.
    #[serde(default)]
    pub shard_hourly: f64,
    /// USD per replica shard-hour.
    #[serde(default)]
    pub replica_hourly: f64,
    /// `memory` tiers: USD per GB-hour of capacity.
    #[serde(default)]
    pub memory_per_gb_hour: f64,
    /// `kv` tiers: USD per million operations (lookups, fills,
    /// invalidations).
    #[serde(default)]
    pub kv_per_million_ops: f64,
    /// `kv` tiers: USD per GB-month of capacity.
    #[serde(default)]
    pub kv_per_gb_month: f64,
    /// `object` tiers: USD per million gets (lookups).
    #[serde(default)]
    pub object_per_million_gets: f64,
    /// `object` tiers: USD per GB-month of capacity.
    #[serde(default)]
    pub object_per_gb_month: f64,
}
