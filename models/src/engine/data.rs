//! The data tier: a `{ data = "store" }` step reads or writes the request's
//! key through the store's cache tiers, a connection pool and a sharded,
//! replicated store; plus the edge cache.
//!
//! One data operation ([`DataOp`], in a slab) goes through these stages:
//!
//! 1. **Lookup** (reads only), when the step starts: the tiers are looked
//!    up in order in the copy the caller sees (its own for `scope =
//!    "instance"`, its region's, or the global one); each tier looked up
//!    adds its `latency`. A hit answers after the latencies so far; the
//!    tiers before it are filled when the answer arrives. The lookups read
//!    the caches' state at the step's start (tier latencies are far below
//!    TTLs, so the difference is immaterial).
//! 2. **Acquire**: with a `pool`, the caller instance's `policy::pool::Pool`
//!    for the store gives a connection now, queues the operation (FIFO), or
//!    rejects it; a connect takes `connect_time`; an acquire timeout or a
//!    failed connect fails the operation (503).
//! 3. **Shard**: writes go to the primary copy, reads to the copy the
//!    routing picks for the caller's region; the shard is
//!    `fmix64(key) mod shards`. The request travels half the round trip,
//!    waits for one of the shard's workers (FIFO; a full queue sheds it)
//!    and takes a read or write time.
//! 4. **Back**: half the round trip later the caller has the answer: the
//!    connection returns to the pool, a read fills the tiers it missed, a
//!    write invalidates the key (in the writer's own instance tier and in
//!    every shared copy; other instances' in-process copies keep it until
//!    their TTL, as real in-process caches do), and the step is done.
//!
//! Replication is asynchronous: when a write's work ends at the primary,
//! the primary ships it to each read replica, where it arrives one way
//! later and is **applied** by a worker of the same shard (the store's
//! `shard.apply` time), in FIFO order with that shard's reads. An apply
//! never fails: it waits however full the waiting room is (a relay log
//! drops nothing; reads that find the room full are shed), it is not
//! counted against the shard's rate limit, and while its replica's region
//! is dark it is held and applied once the region is back. A replica's
//! *replication lag* is the time from the write's end at the primary to
//! the end of its apply (`shards.csv`'s `replication_lag_*`). A read that
//! starts at a replica while a write of its key is shipped but not yet
//! applied there is *stale* (`shards.csv`'s `stale_reads`). So is a cache
//! entry that holds a value older than its key's last committed write
//! ([`stale`]); `runs.csv`'s `stale_read_ratio` counts the reads answered
//! with such a value, from either.
//!
//! Stores do not fail on their own. A region outage fails what the copies
//! there hold (operations get a reset, applies are held again) and makes
//! new operations to that region fail after the connect timeout, unless
//! the store has a `failover`: then reads leave a dark copy at once for
//! the nearest copy that is up, and once the primary's region has been
//! dark for `failover.after` the first copy that is up is promoted (writes
//! go there, and it ships them to the others; the old primary stays a
//! replica).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

mod stale;
use stale::{CopyName, Staleness, edge_copy, tier_copy};
#[cfg(test)]
pub(super) use stale::{PRUNING, Pruning};

use rand::RngExt;

use headroom_cache::Cache;
use headroom_policy::pool::{Acquire, ConnId, Pool, PoolAction};
use headroom_policy::ratelimit::{RateDecision, RateLimiter};
use headroom_policy::retry::{RetryBudget, RetryDecision, RetryPolicy, RetryState, TryOutcome};
use headroom_sim::dist::Dist;
use headroom_sim::rng::{Stream, Streams};
use headroom_sim::slab::{Id, Slab};
use headroom_sim::stats::LatencyHistogram;
use headroom_sim::zipf::Zipf;
use headroom_sim::{Span, Timestamp};

use super::mesh::{Parent, Reply, Request, Wire};
use super::stats::Transient;
use super::{Event, World};
use crate::plan::data::{DataPlan, EDGE_CACHE, EdgeCachePlan, StorePlan, hit_ratio_column, mix64};
use crate::plan::{Plan, RegionId, ServiceId, StepPlan, StoreId};
use crate::report::{
    CacheIntervalRow, ShardIntervalRow, ShardRow, StationLoad, StoreFailover, TierHits,
};
use crate::scenario::Scope;

/// Request flag: a store's cache tier was looked up for it.
pub(super) const LOOKED_UP: u8 = 1;
/// Request flag: some read of it went to a store.
pub(super) const STORE_READ: u8 = 2;
/// Request flag: answered by the edge cache.
pub(super) const EDGE_HIT: u8 = 4;
/// Request flag: admitted by its edge's adaptive
/// concurrency limit (a latency sample when it ends).
pub(super) const EDGE_LIMITED: u8 = 8;
/// Request flag: the edge cache was looked up for it.
pub(super) const EDGE_LOOKED_UP: u8 = 16;
/// Request flag: some read of it was answered with a value older than the
/// last committed write of its key ([`stale`]).
pub(super) const STALE: u8 = 32;

/// Nodes a tier copy preallocates (it grows on demand).
const RESERVE_ITEMS: u64 = 1024;

/// Where an operation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// A tier hit: answer when its latency has passed.
    Answer,
    /// Every tier missed (or a write): get a connection.
    Acquire,
    /// Waiting in the pool's queue.
    Queued,
    /// On the way to the shard.
    Arrive,
    /// At the shard (queued or working).
    AtShard,
    /// On the way back to the caller.
    Back,
    /// A write the primary ships to a replica, on its way there (or held
    /// while the region at either end is dark).
    Replicate,
    /// The shipped write at the replica's shard (queued or being applied).
    Apply,
}

/// One read or write of a key.
#[derive(Clone, Copy, Debug)]
struct DataOp {
    attempt: Id,
    instance: Id,
    key: u64,
    /// The object's size in bytes: the trace's, or the store's
    /// `object_size` of the key; 0 (not computed) for a read the first
    /// tier answered, which sends and fills nothing.
    size_bytes: u64,
    store: u16,
    copy: u8,
    /// For a shipped write, the copy that shipped it (its primary then).
    from: u8,
    /// The tier that hit, or the number of tiers when none did.
    tier_hit: u8,
    write: bool,
    measured: bool,
    stage: Stage,
    caller_region: RegionId,
    shard: u32,
    conn: Option<ConnId>,
    /// When its current try was sent (with a pool, when it got its
    /// connection: the same instant).
    sent: Timestamp,
    /// When it reached its shard; for a replica's apply, when its write's
    /// work ended at the primary (where its replication lag starts).
    arrived: Timestamp,
    failure: Option<Reply>,
    /// A throttled try's `Retry-After` (`shard.retry_after`): when the
    /// shard's rate limit would admit it (`Span::ZERO`: none). The store's
    /// `retry` waits that long instead of its backoff, as `policy::retry`
    /// does with a 429's header in the sidecar.
    retry_after: Span,
    /// Its tries so far, with the store's `retry` (for an operation that
    /// goes to the store).
    retry: Option<RetryState>,
    /// Its caller stopped waiting for it at its deadline: it goes on at the
    /// shard and holds its connection until its answer is back, which
    /// nobody reads.
    abandoned: bool,
    /// A read answered with an outdated value: a tier hit on a marked
    /// entry ([`stale`]), or a try that started at a replica's shard while
    /// a write of its key was shipped there and not yet applied (counted in
    /// `shards.csv` when the shard has served it).
    stale: bool,
    /// When a read's value was read: the tier lookups' instant, or when its
    /// try's work started at its shard (a fill is stale if a write of the
    /// key committed after it).
    read_at: Timestamp,
}

/// What a shard's worker does for an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    Read,
    Write,
    /// A replica's apply of a shipped write.
    Apply,
}

impl DataOp {
    /// The work it takes at its shard.
    #[inline]
    fn work(&self) -> Work {
        match (self.stage, self.write) {
            (Stage::Apply, _) => Work::Apply,
            (_, true) => Work::Write,
            (_, false) => Work::Read,
        }
    }

    /// Which try of the operation is (or was last) sent: 1 without the
    /// store's `retry`.
    fn try_number(&self) -> u32 {
        self.retry.map_or(1, |r| r.tries())
    }
}

/// One shard of one copy: a multi-worker FIFO station.
struct Shard {
    busy: u32,
    queue: VecDeque<Id>,
    /// Operations of measured requests that reached it, and those of them
    /// it shed (`shards.csv`).
    requests: u64,
    errors: u64,
    /// Of `errors`, those over its rate limit.
    throttled: u64,
    /// Measured requests' operations, merged in from `now_measured` as
    /// each time-series interval closes (and at the end).
    latency: LatencyHistogram,
    /// Busy worker-nanoseconds inside the measured window.
    busy_ns: f64,
    last: Timestamp,
    /// The current time-series interval (`shards_timeseries.csv`).
    now: ShardInterval,
    /// Its `shard.rate_limit`, if any.
    limiter: Option<RateLimiter>,
    /// Its most popular key ([`ShardRow::top_key`]; `u64::MAX`: none), and
    /// that key's measured operations that reached it.
    top_key: u64,
    top_ops: u64,
    /// Worker-nanoseconds of operations whose caller had stopped waiting
    /// (the store's `timeout`) when their work ended, those that ended in
    /// the measured window (a u128, as they can pass u64's 584 years).
    wasted_ns: u128,
    /// A replica's: writes of measured requests it applied, and their
    /// replication lag.
    applied: u64,
    lag: LatencyHistogram,
    /// A replica's: reads of measured requests it served that had started
    /// while a write of their key was shipped to it and not yet applied.
    stale: u64,
}

/// A shard's current time-series interval: every operation, measured or
/// not. An operation's latency is recorded once, into `measured` or
/// `other` by its request, so `shards.csv`'s histogram costs no second
/// record.
struct ShardInterval {
    requests: u64,
    shed: u64,
    throttled: u64,
    busy_ns: f64,
    /// Worker-nanoseconds of abandoned operations whose work ended in the
    /// interval.
    wasted_ns: u128,
    measured: LatencyHistogram,
    other: LatencyHistogram,
    /// The replication lag of every write applied in the interval.
    lag: LatencyHistogram,
}

impl ShardInterval {
    fn new() -> Self {
        ShardInterval {
            requests: 0,
            shed: 0,
            throttled: 0,
            busy_ns: 0.0,
            wasted_ns: 0,
            measured: LatencyHistogram::new(),
            other: LatencyHistogram::new(),
            lag: LatencyHistogram::new(),
        }
    }
}

/// Every cache as a warm start left it ([`DataState::warm_copy`]).
#[derive(Clone)]
pub(super) struct WarmCaches {
    /// `[store][tier]`, as [`DataState`]'s.
    tiers: Vec<Vec<Copies>>,
    /// Per edge region.
    edge: Vec<Option<Cache>>,
    /// Their entries marked stale.
    stale: Option<Staleness>,
}

/// The copies of one tier.
#[derive(Clone)]
enum Copies {
    /// One per caller instance, by slab index: (generation, cache).
    Instance(Vec<Option<(u32, Cache)>>),
    /// One per region (`scope = "region"`) or one (`"global"`), created on
    /// first use.
    Shared(Vec<Option<Cache>>),
}

impl Copies {
    /// The copy `instance` in `region` looks up, if it exists yet.
    fn get(&self, instance: Id, region: RegionId) -> Option<&Cache> {
        match self {
            Copies::Instance(v) => match v.get(instance.index() as usize) {
                Some(Some((generation, c))) if *generation == instance.generation() => Some(c),
                _ => None,
            },
            Copies::Shared(v) => v.get(shared_copy(v.len(), region)).and_then(Option::as_ref),
        }
    }

    /// Calls `f` with the copy `instance` in `region` looks up in each of
    /// `tiers`, skipping copies not created yet.
    fn each_of(tiers: &[Copies], instance: Id, region: RegionId, f: impl Fn(&Cache)) {
        tiers
            .iter()
            .filter_map(|copies| copies.get(instance, region))
            .for_each(f);
    }
}

/// The name ([`stale`]) of the copy of `store`'s tier `tier` that
/// `instance` in `region` uses, one of `copies`.
fn copy_name(copies: &Copies, store: usize, tier: usize, instance: Id, region: RegionId) -> u64 {
    let index = match copies {
        Copies::Instance(_) => instance.index() as usize,
        Copies::Shared(v) => shared_copy(v.len(), region),
    };
    tier_copy(store, tier, index, matches!(copies, Copies::Shared(_)))
}

/// Whether the cache `copy` names ([`stale`]) has an entry of `key`,
/// fresh or not (no expiry is below time 0): an instance copy by its slab
/// slot, whichever instance holds it now.
fn copy_holds(tiers: &[Vec<Copies>], edges: &[Option<Cache>], copy: CopyName, key: u64) -> bool {
    let cache = match copy {
        CopyName::Edge(region) => edges.get(region).and_then(Option::as_ref),
        CopyName::Tier { store, tier, index } => match tiers.get(store).and_then(|t| t.get(tier)) {
            Some(Copies::Instance(v)) => v.get(index).and_then(Option::as_ref).map(|(_, c)| c),
            Some(Copies::Shared(v)) => v.get(index).and_then(Option::as_ref),
            None => None,
        },
    };
    cache.is_some_and(|c| c.contains(0, key))
}

/// Which of a shared tier's `copies` serves `region`: its own with
/// `scope = "region"` (one per region), else the one global copy.
fn shared_copy(copies: usize, region: RegionId) -> usize {
    if copies == 1 { 0 } else { region.index() }
}

/// A caller instance's pool for one store.
struct PoolSlot {
    /// The instance's slab generation (a reused slot gets a new pool).
    epoch: u32,
    pool: Pool,
    armed: Option<Timestamp>,
}

/// A store's pools together over the measured window: what makes them a
/// queue of the system ([`crate::report::StationLoad`]).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PoolUse {
    /// Connection-nanoseconds held by operations.
    pub held_ns: f64,
    /// Operations that asked for a connection.
    pub requests: u64,
    /// Of those, refused (too many waiting) or never given one (acquire
    /// timeout, connect failure).
    pub shed: u64,
}

/// Draws keys by popularity.
enum Keys {
    Uniform(u64),
    Zipf(Zipf),
}

/// Per-tier counters over the measured window.
#[derive(Clone, Copy, Default)]
struct TierCount {
    hits: u64,
    misses: u64,
    /// Of `hits`, those that served an outdated value ([`stale`]).
    stale: u64,
}

impl TierCount {
    /// Counts one lookup.
    #[inline]
    fn add(&mut self, hit: bool) {
        self.hits += u64::from(hit);
        self.misses += u64::from(!hit);
    }
}

/// A cache's lookups by measured requests, in the first and the second
/// half of the measured window (by when the lookup happened; the drain's
/// in the second): the halves tell a cache that was still warming
/// ([`crate::report::cold_caches`]).
type Halves = [TierCount; 2];

/// With `warmup = "auto"`, the pilot pass's series of each cache's hit
/// ratio by lookup time, laid out as the measured counts are.
struct Pilot {
    edge: Option<Transient>,
    /// `[store][tier]`.
    tiers: Vec<Vec<Transient>>,
}

/// The sum of both halves.
fn whole([a, b]: Halves) -> TierCount {
    TierCount {
        hits: a.hits + b.hits,
        misses: a.misses + b.misses,
        stale: a.stale + b.stale,
    }
}

/// A warm-start request's data: its key, whether it writes it, and its
/// instant on the warm start's clock ([`super::warm`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct WarmOp {
    pub key: u64,
    pub write: bool,
    pub now_ns: u64,
    /// Where the warm start's clock ends (time 0 of the run).
    pub warm_end_ns: u64,
}

/// Whose copies a change of the tiers reaches: those `instance` in
/// `region` looks up, its own (instance-scope) ones only while it is
/// `alive` (a crashed caller's slab slot may hold its replacement).
#[derive(Clone, Copy, Debug)]
struct Caller {
    instance: Id,
    region: RegionId,
    alive: bool,
}

/// The data tier's state in a world.
pub(super) struct DataState {
    keys: Option<Keys>,
    read_fraction: f64,
    rng_keys: Stream,
    rng_ops: Stream,
    /// Per store: operation times, and its replicas' apply times.
    rng_store: Vec<Stream>,
    rng_apply: Vec<Stream>,
    /// Shipped writes held while the region they go to, or the one they
    /// come from, is dark, in the order they arrived.
    held_applies: Vec<Id>,
    /// Marked cache entries and the last commit of each written key, with
    /// a datastore ([`stale`]); and the measured requests answered after
    /// reading data, and those of them answered with an outdated value
    /// (`stale_read_ratio`).
    stale: Option<Staleness>,
    reads: u64,
    stale_reads: u64,
    /// The plan's edge cache, if any (which keys it may hold).
    edge_plan: Option<EdgeCachePlan>,
    /// The warm start leaves out the marks the run cannot reach
    /// ([`warm_marks_outlive`]); tests turn it off to check that.
    pub(super) skip_dead_marks: bool,
    /// Shipped writes not yet applied (on their way, held, queued or being
    /// applied), by key and copy ([`unapplied_at`]): a read that starts at
    /// the copy while its key has one reads a stale value.
    unapplied: HashMap<(u64, u32), u32, BuildHasherDefault<KeyHasher>>,
    /// Per store: the copy that is its primary (0 until a failover).
    primary: Vec<u8>,
    /// Promotions so far (`datastores.*.failover`).
    failovers: Vec<StoreFailover>,
    /// Per store with a `retry`: its backoff draws.
    retry_rngs: Vec<Option<Stream>>,
    /// `[instance slab index * stores + store]`: each caller instance's
    /// retry budget towards a store with a `retry`, with the instance's
    /// generation. A client library's retry quota is its process's, as a
    /// mesh edge's budget is its instance proxy's: a new instance in the
    /// slot starts with a fresh one.
    retry_budgets: Vec<Option<(u32, RetryBudget)>>,
    ops: Slab<DataOp>,
    /// The id of the operation in each slab slot (pool waiter ids are slot
    /// index and generation).
    op_ids: Vec<Id>,
    /// When the operation in each slab slot started its work at its shard,
    /// kept for stores with a `timeout` only: an abandoned operation's
    /// worker time is counted when its work ends.
    work_started: Vec<Timestamp>,
    /// The [`DataKey`] of the attempt in each slot of the attempt slab (set
    /// when the attempt is sent; kept beside the slab so that attempts of
    /// plans without stores stay as small as they were).
    attempt_keys: Vec<DataKey>,
    /// `[store][copy][shard]`, flattened from `shard_base[store]`.
    shards: Vec<Shard>,
    shard_base: Vec<usize>,
    /// `[store][tier]`.
    tiers: Vec<Vec<Copies>>,
    tier_counts: Vec<Vec<Halves>>,
    /// `[store][tier]`: every lookup of the current interval.
    tier_now: Vec<Vec<TierCount>>,
    /// `caches_timeseries.csv`'s rows so far.
    tier_rows: Vec<CacheIntervalRow>,
    /// `[instance slab index * stores + store]`.
    pools: Vec<Option<PoolSlot>>,
    /// Per store: its pools' use over the measured window.
    pool_use: Vec<PoolUse>,
    /// Per edge region.
    edge: Vec<Option<Cache>>,
    /// The edge cache's lookups by measured requests, and every lookup of
    /// the current interval.
    edge_counts: Halves,
    edge_now: TierCount,
    warmup_end: Timestamp,
    /// The middle of the measured window: lookups from then on count in
    /// the second of [`Halves`].
    middle: Timestamp,
    /// With `warmup = "auto"`: each cache's hit ratio by lookup time, for
    /// MSER-5.
    pilot: Option<Box<Pilot>>,
    end: Timestamp,
    looked: u64,
    cache_answered: u64,
    interval_looked: u64,
    interval_answered: u64,
    /// The interval's answered reads of a store's keys, and the stale ones.
    interval_reads: u64,
    interval_stale: u64,
    /// `shards_timeseries.csv`'s rows so far, and the current interval's
    /// start.
    interval_rows: Vec<ShardIntervalRow>,
    interval_start: Timestamp,
}

impl DataState {
    pub(super) fn new(plan: &Plan, streams: &Streams) -> Self {
        let data = &plan.data;
        let regions = plan.network.regions.len();
        let keys = data.uses_keys().then(|| match data.keys.zipf_s {
            None => Keys::Uniform(data.keys.count),
            Some(s) => match Zipf::new(data.keys.count, s) {
                Ok(z) => Keys::Zipf(z),
                Err(e) => unreachable!("checked Zipf parameters: {e}"),
            },
        });
        let mut shard_base = Vec::with_capacity(data.stores.len());
        let mut shards = Vec::new();
        for s in &data.stores {
            shard_base.push(shards.len());
            let top = match data.keys.zipf_s {
                Some(_) => most_popular_keys(s, data.keys.count),
                None => vec![u64::MAX; s.shards as usize],
            };
            for i in 0..s.copies.len() * s.shards as usize {
                shards.push(Shard {
                    top_key: top[i % s.shards as usize],
                    top_ops: 0,
                    wasted_ns: 0,
                    applied: 0,
                    lag: LatencyHistogram::new(),
                    stale: 0,
                    busy: 0,
                    queue: VecDeque::new(),
                    requests: 0,
                    errors: 0,
                    throttled: 0,
                    latency: LatencyHistogram::new(),
                    busy_ns: 0.0,
                    last: Timestamp::ZERO,
                    now: ShardInterval::new(),
                    limiter: s
                        .rate_limit
                        .as_ref()
                        .map(|p| RateLimiter::new(p, Timestamp::ZERO)),
                });
            }
        }
        let tiers = data
            .stores
            .iter()
            .map(|s| {
                s.tiers
                    .iter()
                    .map(|t| match t.scope {
                        Scope::Instance => Copies::Instance(Vec::new()),
                        Scope::Region => Copies::Shared((0..regions).map(|_| None).collect()),
                        Scope::Global => Copies::Shared(vec![None]),
                    })
                    .collect()
            })
            .collect();
        let tier_now: Vec<Vec<TierCount>> = data
            .stores
            .iter()
            .map(|s| vec![TierCount::default(); s.tiers.len()])
            .collect();
        DataState {
            keys,
            read_fraction: data.read_fraction,
            rng_keys: streams.stream("workload/keys"),
            rng_ops: streams.stream("workload/ops"),
            rng_store: data
                .stores
                .iter()
                .map(|s| streams.stream(&format!("datastores/{}/work", s.name)))
                .collect(),
            rng_apply: data
                .stores
                .iter()
                .map(|s| streams.stream(&format!("datastores/{}/apply", s.name)))
                .collect(),
            retry_rngs: data
                .stores
                .iter()
                .map(|s| {
                    s.retry
                        .as_ref()
                        .map(|_| streams.stream(&format!("datastores/{}/retry", s.name)))
                })
                .collect(),
            retry_budgets: Vec::new(),
            held_applies: Vec::new(),
            stale: (!data.stores.is_empty()).then(Staleness::default),
            reads: 0,
            stale_reads: 0,
            edge_plan: data.edge_cache,
            skip_dead_marks: true,
            unapplied: HashMap::default(),
            primary: vec![0; data.stores.len()],
            failovers: Vec::new(),
            ops: Slab::with_capacity(256),
            op_ids: Vec::new(),
            work_started: Vec::new(),
            attempt_keys: Vec::new(),
            shards,
            shard_base,
            tiers,
            tier_counts: tier_now
                .iter()
                .map(|t| vec![Halves::default(); t.len()])
                .collect(),
            tier_now,
            tier_rows: Vec::new(),
            pools: Vec::new(),
            pool_use: vec![PoolUse::default(); data.stores.len()],
            edge: (0..regions).map(|_| None).collect(),
            edge_counts: Halves::default(),
            edge_now: TierCount::default(),
            warmup_end: plan.run.warmup_end(),
            middle: plan.run.warmup_end() + Span::from_nanos(plan.run.measured().as_nanos() / 2),
            pilot: plan.run.auto_warmup.then(|| {
                let series = || Transient::new(plan.run.duration);
                Box::new(Pilot {
                    edge: data.edge_cache.as_ref().map(|_| series()),
                    tiers: data
                        .stores
                        .iter()
                        .map(|s| s.tiers.iter().map(|_| series()).collect())
                        .collect(),
                })
            }),
            end: plan.run.end(),
            looked: 0,
            cache_answered: 0,
            interval_looked: 0,
            interval_answered: 0,
            interval_reads: 0,
            interval_stale: 0,
            interval_rows: Vec::new(),
            interval_start: Timestamp::ZERO,
        }
    }

    /// Draws a request's key and whether it writes it (`(0, false)` when no
    /// part of the scenario uses keys, without drawing).
    pub(super) fn draw(&mut self) -> (u64, bool) {
        self.draw_with(None)
    }

    /// [`DataState::draw`] from the run's streams, or from `warm`'s (the
    /// cache warm start's own: the run's draws stay what they are without
    /// one).
    #[inline]
    pub(super) fn draw_with(&mut self, warm: Option<(&mut Stream, &mut Stream)>) -> (u64, bool) {
        let Some(keys) = &self.keys else {
            return (0, false);
        };
        let (rng_keys, rng_ops) = match warm {
            Some(streams) => streams,
            None => (&mut self.rng_keys, &mut self.rng_ops),
        };
        let key = match keys {
            Keys::Uniform(n) => rng_keys.random_range(0..*n),
            Keys::Zipf(z) => z.sample(rng_keys) - 1,
        };
        let write = self.read_fraction < 1.0 && rng_ops.random::<f64>() >= self.read_fraction;
        (key, write)
    }

    /// Warm start ([`super::warm`]): a request for `key` at the edge of
    /// `region` at `now_ns`, on the warm start's clock; whether the edge
    /// cache answers it (a cacheable read fetched within `max_age`).
    pub(super) fn warm_edge_answers(
        &mut self,
        edge: &EdgeCachePlan,
        region: RegionId,
        key: u64,
        now_ns: u64,
    ) -> bool {
        self.edge_copy(edge, region).get(now_ns, key)
    }

    /// Warm start: the edge of `region` keeps the answer to a cacheable
    /// read of `key` it missed (`stale`: an outdated value).
    pub(super) fn warm_edge_keeps(
        &mut self,
        edge: &EdgeCachePlan,
        region: RegionId,
        key: u64,
        (now_ns, stale): (u64, bool),
    ) {
        self.edge_copy(edge, region).insert(now_ns, key, 1);
        if let Some(st) = self.stale.as_mut() {
            st.set(edge_copy(region.index()), key, stale);
        }
    }

    /// The edge cache of `region`, created on first use.
    fn edge_copy(&mut self, edge: &EdgeCachePlan, region: RegionId) -> &mut Cache {
        self.edge[region.index()].get_or_insert_with(|| edge_cache(edge))
    }

    /// Warm start: a `{ data = store }` step of a request for `key` on
    /// `instance` in `region` at `now_ns`, as [`World::begin_data`] and
    /// [`World::update_tiers`] change the tiers when nothing fails: a read
    /// looks the tiers up in order and fills those before the one that
    /// answered (all of them when the store did); a write invalidates the
    /// key in the instance's copies and every shared copy, after marking
    /// the other copies that hold it ([`stale`]). Nothing is counted or
    /// priced. Returns whether a read was answered with an outdated value
    /// (a marked tier entry: the warm start's store has no replication lag,
    /// and its fills follow their reads at once).
    pub(super) fn warm_step(
        &mut self,
        plan: &StorePlan,
        store: StoreId,
        instance: Id,
        region: RegionId,
        op: WarmOp,
    ) -> bool {
        let WarmOp {
            key,
            write,
            now_ns,
            warm_end_ns,
        } = op;
        let s = store.index();
        let caller = Caller {
            instance,
            region,
            alive: true,
        };
        if write {
            self.mark_stale(s, key, now_ns, Some((plan, warm_end_ns)));
            self.invalidate(plan, s, caller, key);
            return false;
        }
        let tiers = &mut self.tiers[s];
        Copies::each_of(tiers, instance, region, |c| c.prefetch_slot(key));
        let mut answered = plan.tiers.len();
        for (t, copies) in tiers.iter_mut().enumerate() {
            if cache_of(copies, plan, t, instance, region).get(now_ns, key) {
                answered = t;
                break;
            }
        }
        let stale = answered < plan.tiers.len()
            && self.stale.as_ref().is_some_and(|st| {
                st.holds(
                    copy_name(&self.tiers[s][answered], s, answered, instance, region),
                    key,
                )
            });
        if answered > 0 {
            let size = plan.object_size.of_key(key);
            self.fill(plan, s, caller, (key, size), answered, (now_ns, stale));
        }
        stale
    }

    /// A write of `key` to `store` committed at `now_ns`: marks the entry
    /// of every cache copy that holds the key ([`stale`]): each instance's
    /// copies, the edge caches and, in the run, the shared tiers' copies.
    ///
    /// On the warm start (`warm`: the store's plan and the instant its
    /// clock ends at, time 0 of the run) the shared copies are left out
    /// (the writer invalidates them at once), and so is every copy whose
    /// mark cannot matter to the run ([`warm_marks_outlive`]).
    fn mark_stale(&mut self, store: usize, key: u64, now_ns: u64, warm: Option<(&StorePlan, u64)>) {
        let Some(st) = self.stale.as_mut() else {
            return;
        };
        let (tiers_kept, edge_kept) = match warm {
            Some((plan, end)) if self.skip_dead_marks => {
                warm_marks_outlive(plan, self.edge_plan.as_ref(), key, end - now_ns.min(end))
            }
            _ => (u64::MAX, true),
        };
        let tier_outlives = |t: usize| t >= 64 || tiers_kept & (1 << t) != 0;
        let with_shared = warm.is_none();
        // Each copy's slot is a likely cache miss: start loading them all
        // before the lookups, so that the misses overlap.
        let edge = edge_kept && self.edge_plan.is_some_and(|e| e.cacheable(key));
        for (t, copies) in self.tiers[store].iter().enumerate() {
            match copies {
                Copies::Instance(v) if tier_outlives(t) => {
                    v.iter().flatten().for_each(|(_, c)| c.prefetch_slot(key))
                }
                Copies::Shared(v) if with_shared => {
                    v.iter().flatten().for_each(|c| c.prefetch_slot(key))
                }
                Copies::Instance(_) | Copies::Shared(_) => {}
            }
        }
        if edge {
            self.edge
                .iter()
                .flatten()
                .for_each(|c| c.prefetch_slot(key));
        }
        for (t, copies) in self.tiers[store].iter().enumerate() {
            let shared = matches!(copies, Copies::Shared(_));
            let each = |i: usize, c: &Cache, st: &mut Staleness| {
                if c.contains(now_ns, key) {
                    st.mark(tier_copy(store, t, i, shared), key);
                }
            };
            match copies {
                Copies::Instance(v) if tier_outlives(t) => v
                    .iter()
                    .enumerate()
                    .for_each(|(i, c)| c.iter().for_each(|(_, c)| each(i, c, st))),
                Copies::Shared(v) if with_shared => v
                    .iter()
                    .enumerate()
                    .for_each(|(i, c)| c.iter().for_each(|c| each(i, c, st))),
                Copies::Instance(_) | Copies::Shared(_) => {}
            }
        }
        // Reads of a key that is not cacheable never reach the edge's.
        if edge {
            for (r, c) in self.edge.iter().enumerate() {
                if let Some(c) = c
                    && c.contains(now_ns, key)
                {
                    st.mark(edge_copy(r), key);
                }
            }
        }
        if st.marks_due() {
            let (tiers, edges) = (&self.tiers, &self.edge);
            st.prune_marks(|copy, key| copy_holds(tiers, edges, copy, key));
        }
    }

    /// Drops `key` from every tier of `store` as a write does: from every
    /// shared copy, and from the caller's own copies while it is alive.
    fn invalidate(&mut self, plan: &StorePlan, store: usize, caller: Caller, key: u64) {
        let stale = &mut self.stale;
        let mut unmark = |t: usize, i: usize, shared: bool| {
            if let Some(st) = stale.as_mut() {
                st.set(tier_copy(store, t, i, shared), key, false);
            }
        };
        for (t, copies) in self.tiers[store].iter_mut().enumerate() {
            match copies {
                Copies::Instance(_) if caller.alive => {
                    cache_of(copies, plan, t, caller.instance, caller.region).remove(key);
                    unmark(t, caller.instance.index() as usize, false);
                }
                Copies::Instance(_) => {}
                Copies::Shared(v) => {
                    for (i, c) in v.iter_mut().enumerate() {
                        if let Some(c) = c {
                            c.remove(key);
                            unmark(t, i, true);
                        }
                    }
                }
            }
        }
    }

    /// Stores `key` (of `size` bytes) at `now_ns` in the caller's copies of
    /// `store`'s tiers before tier `upto` (those a read missed before the
    /// one that answered); an instance-scope tier only while the caller is
    /// alive. `stale`: the value is already outdated ([`stale`]).
    fn fill(
        &mut self,
        plan: &StorePlan,
        store: usize,
        caller: Caller,
        (key, size): (u64, u64),
        upto: usize,
        (now_ns, stale): (u64, bool),
    ) {
        for (t, copies) in self.tiers[store][..upto].iter_mut().enumerate() {
            if caller.alive || plan.tiers[t].scope != Scope::Instance {
                cache_of(copies, plan, t, caller.instance, caller.region).insert(now_ns, key, size);
                if let Some(st) = self.stale.as_mut() {
                    let copy = copy_name(copies, store, t, caller.instance, caller.region);
                    st.set(copy, key, stale);
                }
            }
        }
    }

    /// Warm start: hints the memory of the copies a request for `key` will
    /// look up first: its edge region's edge copy (a `cacheable` read), and
    /// for a read, the slot of every shared tier copy serving `region`.
    /// Changes nothing.
    pub(super) fn prefetch_warm(
        &self,
        key: u64,
        edge_region: RegionId,
        cacheable: bool,
        region: RegionId,
        write: bool,
    ) {
        if cacheable && let Some(c) = &self.edge[edge_region.index()] {
            c.prefetch_slot(key);
        }
        if write {
            return;
        }
        for copies in self.tiers.iter().flatten() {
            if let Copies::Shared(v) = copies
                && let Some(c) = v.get(shared_copy(v.len(), region)).and_then(Option::as_ref)
            {
                c.prefetch_slot(key);
            }
        }
    }

    /// Warm start: moves every cache's clock back by `by_ns`, the warm
    /// start's span, so that what it filled at `[0, by_ns)` on its own
    /// clock is what the run finds at time 0 ([`Cache::rebase`]).
    pub(super) fn rebase_caches(&mut self, by_ns: u64) {
        for copies in self.tiers.iter_mut().flatten() {
            match copies {
                Copies::Instance(v) => v.iter_mut().flatten().for_each(|(_, c)| c.rebase(by_ns)),
                Copies::Shared(v) => v.iter_mut().flatten().for_each(|c| c.rebase(by_ns)),
            }
        }
        for c in self.edge.iter_mut().flatten() {
            c.rebase(by_ns);
        }
    }

    /// A copy of every cache (each tier's copies and the edge caches), as
    /// the warm start left them: what [`DataState::install_warm`] gives a
    /// world of a plan whose warm start is the same
    /// ([`super::warm::WarmStarts`]).
    pub(super) fn warm_copy(&self) -> WarmCaches {
        WarmCaches {
            tiers: self.tiers.clone(),
            edge: self.edge.clone(),
            stale: self.stale.clone(),
        }
    }

    /// Every pool's connects and discarded connections so far (tests).
    #[cfg(test)]
    pub(super) fn pool_churn(&self) -> (u64, u64) {
        self.pools.iter().flatten().fold((0, 0), |(c, d), p| {
            let stats = p.pool.stats();
            (c + stats.connects, d + stats.discarded)
        })
    }

    /// The stale-read bookkeeping's marks and remembered commits (tests).
    #[cfg(test)]
    pub(super) fn stale_entries(&self) -> Option<(usize, usize)> {
        self.stale.as_ref().map(|st| (st.marked(), st.commits()))
    }

    /// Heap bytes of [`DataState::warm_copy`]'s copy: every cache's.
    pub(super) fn warm_bytes(&self) -> usize {
        let tiers: usize = self
            .tiers
            .iter()
            .flatten()
            .map(|copies| match copies {
                Copies::Instance(v) => v.iter().flatten().map(|(_, c)| c.heap_bytes()).sum(),
                Copies::Shared(v) => v.iter().flatten().map(Cache::heap_bytes).sum::<usize>(),
            })
            .sum();
        tiers
            + self
                .edge
                .iter()
                .flatten()
                .map(Cache::heap_bytes)
                .sum::<usize>()
            + self.stale.as_ref().map_or(0, Staleness::heap_bytes)
    }

    /// Replaces every cache with `warm`'s, taken from a world of a plan
    /// whose warm start is this one's, right after it ran (the tiers'
    /// layout, by store, tier, region and instance slot, is then the
    /// same). Only the caches: no count or statistic of the run's is
    /// touched, as the warm start touches none.
    pub(super) fn install_warm(&mut self, warm: WarmCaches) {
        debug_assert_eq!(self.tiers.len(), warm.tiers.len());
        debug_assert_eq!(self.edge.len(), warm.edge.len());
        self.tiers = warm.tiers;
        self.edge = warm.edge;
        self.stale = warm.stale;
    }

    /// Whether a request whose key a trace gave writes it (`false` when no
    /// part of the scenario uses keys, without drawing).
    pub(super) fn draw_write(&mut self) -> bool {
        self.keys.is_some()
            && self.read_fraction < 1.0
            && self.rng_ops.random::<f64>() >= self.read_fraction
    }

    /// The work of abandoned operation `id` at shard `index` ends at `now`:
    /// its worker time went to nobody.
    #[cold]
    fn on_abandoned_work(&mut self, index: usize, id: Id, now: Timestamp) {
        let started = self.work_started[id.index() as usize];
        let wasted = u128::from((now - started).as_nanos());
        let shard = &mut self.shards[index];
        shard.now.wasted_ns += wasted;
        if now >= self.warmup_end && now < self.end {
            shard.wasted_ns += wasted;
        }
    }

    /// Shipped write `op` was applied at its copy, or lost on its way:
    /// one write fewer unapplied for its key there.
    fn applied_or_lost(&mut self, op: &DataOp) {
        let at = unapplied_at(op);
        if let Some(n) = self.unapplied.get_mut(&at) {
            *n -= 1;
            if *n == 0 {
                self.unapplied.remove(&at);
            }
        }
    }

    /// Puts `op` in the slab (and its id where [`DataState::op_of`] finds
    /// it); `None` when the slab is full.
    #[inline(always)]
    fn insert_op(&mut self, op: DataOp) -> Option<Id> {
        let Ok(id) = self.ops.insert(op) else {
            debug_assert!(false, "data op slab full");
            return None;
        };
        *slot_in(&mut self.op_ids, id.index() as usize, || id) = id;
        Some(id)
    }

    /// The live operation a pool waiter id names.
    fn op_of(&self, waiter: u64) -> Option<Id> {
        let id = *self.op_ids.get(waiter as u32 as usize)?;
        (self::waiter(id) == waiter && self.ops.get(id).is_some()).then_some(id)
    }

    /// Operations in flight.
    pub(super) fn in_flight(&self) -> usize {
        self.ops.len()
    }

    /// The end-to-end cache hit ratio (0 without lookups) and the stale
    /// read ratio (NaN without a read) of the interval since the last call,
    /// and resets them.
    pub(super) fn take_interval_ratios(&mut self) -> (f64, f64) {
        let hits = ratio(self.interval_answered, self.interval_looked);
        let stale = if self.interval_reads == 0 {
            f64::NAN
        } else {
            self.interval_stale as f64 / self.interval_reads as f64
        };
        self.interval_looked = 0;
        self.interval_answered = 0;
        self.interval_reads = 0;
        self.interval_stale = 0;
        (hits, stale)
    }

    /// Adds busy time of `shard` up to `now`: to its interval's, and
    /// clipped to the measured window, to its measured.
    fn advance(&mut self, shard: usize, now: Timestamp) {
        let (w, e) = (self.warmup_end, self.end);
        let s = &mut self.shards[shard];
        let busy = f64::from(s.busy);
        s.now.busy_ns += busy * (now - s.last).as_nanos() as f64;
        let from = s.last.max(w);
        let to = now.min(e);
        if to > from {
            s.busy_ns += busy * (to - from).as_nanos() as f64;
        }
        s.last = now;
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The copy of tier `tier` that `instance` in `region` uses, created on
/// first use. Inlined into the lookups: creating a copy (rare) is
/// [`new_copy`], out of line, so that finding one needs no stack frame.
#[inline]
fn cache_of<'c>(
    copies: &'c mut Copies,
    plan: &StorePlan,
    tier: usize,
    instance: Id,
    region: RegionId,
) -> &'c mut Cache {
    match copies {
        Copies::Instance(v) => {
            let i = instance.index() as usize;
            let current = v.get(i).is_some_and(|slot| {
                slot.as_ref()
                    .is_some_and(|(g, _)| *g == instance.generation())
            });
            if !current {
                new_instance_copy(v, plan, tier, instance);
            }
            match &mut v[i] {
                Some((_, c)) => c,
                None => unreachable!("just filled"),
            }
        }
        Copies::Shared(v) => {
            let i = shared_copy(v.len(), region);
            let slot = &mut v[i];
            if slot.is_none() {
                *slot = Some(new_copy(plan, tier));
            }
            match slot {
                Some(c) => c,
                None => unreachable!("just filled"),
            }
        }
    }
}

/// `instance`'s retry budget towards store `store` (of `stores`), in its
/// slot of `budgets`: a fresh one when the slot is empty or an earlier
/// instance's.
fn retry_budget<'b>(
    budgets: &'b mut Vec<Option<(u32, RetryBudget)>>,
    stores: usize,
    instance: Id,
    store: usize,
    policy: &RetryPolicy,
    now: Timestamp,
) -> &'b mut RetryBudget {
    let generation = instance.generation();
    let slot = slot_in(budgets, instance.index() as usize * stores + store, || None);
    if slot.as_ref().is_some_and(|(g, _)| *g != generation) {
        *slot = None;
    }
    &mut slot
        .get_or_insert_with(|| (generation, RetryBudget::new(&policy.budget(), now)))
        .1
}

/// `v[i]`, after growing `v` with `fill` to hold it: the side tables kept
/// per slab slot (operations, attempts, instances) grow to the highest
/// slot used.
#[inline(always)]
fn slot_in<T>(v: &mut Vec<T>, i: usize, fill: impl FnMut() -> T) -> &mut T {
    if v.len() <= i {
        v.resize_with(i + 1, fill);
    }
    &mut v[i]
}

/// A new, empty copy of tier `tier`.
#[cold]
#[inline(never)]
fn new_copy(plan: &StorePlan, tier: usize) -> Cache {
    match Cache::with_reserve(&plan.tiers[tier].spec, RESERVE_ITEMS) {
        Ok(c) => c,
        Err(e) => unreachable!("checked cache spec: {e}"),
    }
}

/// Gives `instance` a new, empty copy of tier `tier` in its slot of `v`
/// (replacing a copy of an earlier instance in that slot).
#[cold]
#[inline(never)]
fn new_instance_copy(
    v: &mut Vec<Option<(u32, Cache)>>,
    plan: &StorePlan,
    tier: usize,
    instance: Id,
) {
    *slot_in(v, instance.index() as usize, || None) =
        Some((instance.generation(), new_copy(plan, tier)));
}

/// Calls `f` with every copy in `tiers` that finishing `op` changes: a
/// write invalidates every shared copy, a fill only the caller's; the
/// caller's own instance copy only while it is `caller_alive`.
#[inline]
fn each_changed(tiers: &[Copies], op: &DataOp, caller_alive: bool, f: impl Fn(&Cache)) {
    for copies in tiers {
        match copies {
            Copies::Instance(_) if !caller_alive => {}
            Copies::Shared(v) if op.write => v.iter().flatten().for_each(&f),
            copies => {
                if let Some(c) = copies.get(op.instance, op.caller_region) {
                    f(c);
                }
            }
        }
    }
}

fn waiter(op: Id) -> u64 {
    (u64::from(op.generation()) << 32) | u64::from(op.index())
}

/// The [`DataState::unapplied`] entry of `op`'s key at its copy.
fn unapplied_at(op: &DataOp) -> (u64, u32) {
    (op.key, (u32::from(op.store) << 8) | u32::from(op.copy))
}

/// Hashes [`DataState::unapplied`]'s (key, copy) pairs: each word mixed
/// in with `fmix64` (no per-process seed, and a handful of instructions).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = mix64(self.0 ^ n);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// What a request's data steps read or write, and whether it is measured
/// ([`Request::data`]). Every attempt of the request has a copy
/// ([`DataState::attempt_keys`]): a caller that stops waiting (a timeout, a
/// hedge answered first) does not cancel the work it started, so an attempt
/// can reach its data step after its request has ended, and its read or
/// write still loads the caches and the store.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct DataKey {
    pub key: u64,
    /// The object size a trace gives the key, bytes; 0 = the store's
    /// `object_size`.
    pub size_bytes: u64,
    pub write: bool,
    /// The request arrived after the warm-up: counted in statistics.
    pub measured: bool,
}

impl World<'_> {
    /// Keeps the [`DataKey`] of `attempt_id`, a new try of `call_id`, taken
    /// from the caller: the request of a root call, or the attempt whose
    /// step makes the call (alive while its calls can send tries: it waits
    /// for them, and an attempt that ends early takes its instance's proxy
    /// with it).
    pub(super) fn keep_data_key(&mut self, attempt_id: Id, call_id: Id) {
        let keys = &self.data.attempt_keys;
        let from = self.calls.get(call_id).and_then(|c| match c.parent {
            Parent::Root(req) => self.requests.get(req).map(|r| r.data),
            Parent::Step(caller) => self
                .attempts
                .get(caller)
                .map(|_| keys[caller.index() as usize]),
        });
        debug_assert!(from.is_some(), "a call sending a try has a live caller");
        let slot = attempt_id.index() as usize;
        *slot_in(&mut self.data.attempt_keys, slot, DataKey::default) = from.unwrap_or_default();
    }

    /// The [`DataKey`] of a live attempt.
    fn data_key(&self, attempt_id: Id) -> DataKey {
        self.data.attempt_keys[attempt_id.index() as usize]
    }

    /// Hints the memory system with the cache-tier index slots that the
    /// first step of `attempt_id` will look up, if that step reads a store:
    /// called when the attempt's local work begins, so the slots (DRAM
    /// misses in tiers of millions of keys) load while other events run.
    /// Changes nothing.
    pub(super) fn prefetch_data_step(&self, attempt_id: Id, service: ServiceId) {
        let Some(&StepPlan::Data(store)) = self.plan.services[service.index()].steps.first() else {
            return;
        };
        let Some(a) = self.attempts.get(attempt_id) else {
            return;
        };
        let DataKey { key, write, .. } = self.data_key(attempt_id);
        if write {
            return;
        }
        Copies::each_of(&self.data.tiers[store.index()], a.instance, a.region, |c| {
            c.prefetch_slot(key);
        });
    }

    /// Starts a `{ data = store }` step of `attempt_id` (the attempt's
    /// `pending` is already 1).
    pub(super) fn begin_data(&mut self, attempt_id: Id, store: StoreId) {
        let now = self.now;
        let Some(a) = self.attempts.get(attempt_id) else {
            return;
        };
        let (request, instance, region) = (a.request, a.instance, a.region);
        let DataKey {
            key,
            size_bytes,
            write,
            measured,
        } = self.data_key(attempt_id);
        // The request's cache bookkeeping, while it has not ended.
        let mut flags = 0;
        let plan = &self.plan.data.stores[store.index()];
        let mut tier_hit = plan.tiers.len();
        let mut wait = Span::ZERO;
        let mut stale = false;
        if !write {
            let data = &mut self.data;
            // The tiers are looked up one after the other, each a likely
            // cache miss: start loading every tier's slot, then its entry,
            // so that the loads overlap. (A first step's slots were already
            // hinted when the work began; a later data step's were not.)
            let tiers = &data.tiers[store.index()];
            Copies::each_of(tiers, instance, region, |c| c.prefetch_slot(key));
            Copies::each_of(tiers, instance, region, |c| c.prefetch_entry(key));
            for (t, tier) in plan.tiers.iter().enumerate() {
                wait += tier.latency;
                let cache = cache_of(&mut data.tiers[store.index()][t], plan, t, instance, region);
                let hit = cache.get(now.as_nanos(), key);
                data.tier_now[store.index()][t].add(hit);
                if let Some(pilot) = &mut data.pilot {
                    pilot.tiers[store.index()][t].add(now, f64::from(u8::from(hit)));
                }
                if measured {
                    let half = usize::from(now >= data.middle);
                    data.tier_counts[store.index()][t][half].add(hit);
                }
                if let Some(costs) = &self.plan.costs {
                    let usd = costs.data.lookup_usd[store.index()][t];
                    if usd != 0.0 {
                        let copy = (tier.scope != Scope::Global).then_some(region);
                        self.stats.on_usage_usd(now, store.index(), t, copy, usd);
                    }
                }
                if hit {
                    tier_hit = t;
                    let copies = &data.tiers[store.index()][t];
                    stale = data.stale.as_ref().is_some_and(|st| {
                        st.holds(copy_name(copies, store.index(), t, instance, region), key)
                    });
                    if stale {
                        data.tier_now[store.index()][t].stale += 1;
                        if measured {
                            let half = usize::from(now >= data.middle);
                            data.tier_counts[store.index()][t][half].stale += 1;
                        }
                    }
                    break;
                }
            }
            if !plan.tiers.is_empty() {
                flags |= LOOKED_UP;
            }
            if tier_hit == plan.tiers.len() {
                flags |= STORE_READ;
            }
        }
        if flags != 0
            && let Some(r) = self.requests.get_mut(request)
        {
            r.flags |= flags;
        }
        // The size matters only to what travels to a store or fills a tier:
        // a hit in the first tier needs neither (and skips the quantile).
        let size_bytes = if size_bytes > 0 {
            size_bytes
        } else if write || tier_hit > 0 {
            plan.object_size.of_key(key)
        } else {
            0
        };
        let mut op = DataOp {
            attempt: attempt_id,
            instance,
            key,
            size_bytes,
            store: store.0,
            copy: 0,
            from: 0,
            tier_hit: tier_hit as u8,
            write,
            measured,
            stage: if tier_hit < plan.tiers.len() {
                Stage::Answer
            } else {
                Stage::Acquire
            },
            caller_region: region,
            shard: plan.shard_of(key),
            conn: None,
            sent: Timestamp::ZERO,
            arrived: now,
            failure: None,
            retry_after: Span::ZERO,
            retry: None,
            abandoned: false,
            stale,
            read_at: now,
        };
        if op.stage == Stage::Acquire
            && let Some(policy) = &plan.retry
        {
            let stores = self.plan.data.stores.len();
            let budget = retry_budget(
                &mut self.data.retry_budgets,
                stores,
                instance,
                store.index(),
                policy,
                now,
            );
            op.retry = Some(policy.start(now, budget));
        }
        let Some(id) = self.data.insert_op(op) else {
            return;
        };
        if wait.is_zero() && op.stage == Stage::Acquire {
            self.acquire(id);
        } else {
            self.events.push(now + wait, Event::Data { op: id });
        }
    }

    /// The deadline of try `number` of `id`: unless it was answered or
    /// retried meanwhile, its caller stops waiting. The operation goes on
    /// without it (abandoned), and the caller's side of it continues as a
    /// new operation that failed with a timeout: retried if the store's
    /// `retry` allows, else the step's failure.
    #[inline(never)]
    pub(super) fn on_data_timeout(&mut self, id: Id, number: u32) {
        let Some(op) = self.data.ops.get_mut(id) else {
            return;
        };
        let in_flight = matches!(op.stage, Stage::Arrive | Stage::AtShard | Stage::Back);
        if op.abandoned || !in_flight || op.try_number() != number {
            return;
        }
        op.abandoned = true;
        let caller = DataOp {
            stage: Stage::Back,
            conn: None,
            failure: Some(Reply::timeout()),
            retry_after: Span::ZERO,
            abandoned: false,
            ..*op
        };
        if let Some(id) = self.data.insert_op(caller) {
            self.finish_op(id);
        }
    }

    /// An operation's next stage is due.
    pub(super) fn on_data(&mut self, id: Id) {
        let Some(op) = self.data.ops.get(id) else {
            return;
        };
        match op.stage {
            Stage::Back if op.abandoned => self.drop_abandoned(id),
            Stage::Answer | Stage::Back => self.finish_op(id),
            Stage::Acquire => self.acquire(id),
            Stage::Arrive => self.arrive_at_shard(id),
            Stage::AtShard => self.shard_done(id),
            Stage::Replicate => self.arrive_at_replica(id),
            Stage::Apply => self.applied(id),
            Stage::Queued => {}
        }
    }

    /// Gets a connection for `id` (or goes straight on without a pool).
    fn acquire(&mut self, id: Id) {
        let now = self.now;
        let Some(op) = self.data.ops.get_mut(id) else {
            return;
        };
        let store = usize::from(op.store);
        let instance = op.instance;
        if self.instances.get(instance).is_none() {
            // Its caller crashed while the operation waited (a tier's
            // latency, a retry's backoff): nothing sends it.
            self.fail_op(id, Reply::error(503));
            return;
        }
        if self.plan.data.stores[store].pool.is_none() {
            self.send(id);
            return;
        }
        op.stage = Stage::Queued;
        let measured = op.measured;
        self.data.pool_use[store].requests += u64::from(measured);
        let slot = self.pool_slot(instance, store);
        let Some(p) = self.data.pools[slot].as_mut() else {
            return;
        };
        match p.pool.acquire(now, waiter(id)) {
            Acquire::Acquired(conn) => {
                if let Some(op) = self.data.ops.get_mut(id) {
                    op.conn = Some(conn);
                }
                self.send(id);
            }
            Acquire::Queued { .. } => {}
            Acquire::Rejected(_) => {
                self.data.pool_use[store].shed += u64::from(measured);
                self.fail_op(id, Reply::error(503));
            }
        }
        self.drain_pool(slot);
    }

    /// The pool slot of `instance` for `store`, created (with its `min`
    /// connects) on first use by this instance.
    fn pool_slot(&mut self, instance: Id, store: usize) -> usize {
        let stores = self.plan.data.stores.len();
        let slot = instance.index() as usize * stores + store;
        let pools = &mut self.data.pools;
        slot_in(pools, slot, || None);
        if pools[slot]
            .as_ref()
            .is_none_or(|p| p.epoch != instance.generation())
        {
            if let Some(old) = pools[slot].take() {
                // The pool of a crashed instance whose slab slot is reused:
                // operations still waiting in it fail (its timers die with
                // it). Rare (once per replaced caller), so a scan is fine.
                let waiting: Vec<Id> = self
                    .data
                    .ops
                    .iter()
                    .filter(|(_, op)| {
                        op.stage == Stage::Queued
                            && op.instance.index() == instance.index()
                            && op.instance.generation() == old.epoch
                            && usize::from(op.store) == store
                    })
                    .map(|(id, _)| id)
                    .collect();
                for id in waiting {
                    self.fail_op(id, Reply::error(503));
                }
            }
            let pools = &mut self.data.pools;
            let Some(plan) = &self.plan.data.stores[store].pool else {
                unreachable!("pool_slot is only called for stores with a pool")
            };
            pools[slot] = Some(PoolSlot {
                epoch: instance.generation(),
                pool: Pool::new(&plan.policy, self.now),
                armed: None,
            });
            self.drain_pool(slot);
        }
        slot
    }

    /// Performs the pool's actions and re-arms its timer.
    fn drain_pool(&mut self, slot: usize) {
        let now = self.now;
        loop {
            let Some(p) = self.data.pools[slot].as_mut() else {
                return;
            };
            let epoch = p.epoch;
            let Some(action) = p.pool.poll_action() else {
                if self.is_idle() {
                    return;
                }
                let Some(p) = self.data.pools[slot].as_mut() else {
                    return;
                };
                if let Some(at) = p.pool.poll_timeout().map(|at| at.max(now))
                    && p.armed.is_none_or(|armed| armed > at || armed < now)
                {
                    p.armed = Some(at);
                    self.events.push_housekeeping(
                        at,
                        Event::PoolTimer {
                            slot: slot as u32,
                            epoch,
                        },
                    );
                }
                return;
            };
            match action {
                PoolAction::Connect(conn) => {
                    let stores = self.plan.data.stores.len();
                    let connect = self.plan.data.stores[slot % stores]
                        .pool
                        .map_or(Span::ZERO, |p| p.connect_time);
                    let raw = conn.to_u64();
                    self.events.push(
                        now + connect,
                        Event::PoolConnected {
                            slot: slot as u32,
                            epoch,
                            conn_index: raw as u32,
                            conn_generation: (raw >> 32) as u32,
                        },
                    );
                }
                PoolAction::Close(_) => {}
                PoolAction::Expired { waiter } | PoolAction::Failed { waiter } => {
                    if let Some(id) = self.data.op_of(waiter) {
                        if let Some(op) = self.data.ops.get(id)
                            && op.measured
                        {
                            self.data.pool_use[usize::from(op.store)].shed += 1;
                        }
                        self.fail_op(id, Reply::error(503));
                    }
                }
            }
        }
    }

    /// A pool's timer fired.
    pub(super) fn on_pool_timer(&mut self, slot: u32, epoch: u32) {
        let now = self.now;
        let slot = slot as usize;
        let Some(p) = self.data.pools.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if p.epoch != epoch || p.armed != Some(now) {
            return;
        }
        p.armed = None;
        p.pool.handle_timeout(now);
        self.drain_pool(slot);
    }

    /// A connect finished: the connection goes to the oldest waiter.
    pub(super) fn on_pool_connected(&mut self, slot: u32, epoch: u32, conn: ConnId) {
        let now = self.now;
        let slot = slot as usize;
        let Some(p) = self.data.pools.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if p.epoch != epoch {
            return;
        }
        if let Ok(Some(handoff)) = p.pool.handle_connected(now, conn) {
            self.handoff(handoff.waiter, handoff.conn);
        }
        self.drain_pool(slot);
    }

    /// A waiting operation got connection `conn`: send it.
    fn handoff(&mut self, waiter: u64, conn: ConnId) {
        let id = self.data.op_of(waiter);
        if let Some(id) = id
            && let Some(op) = self.data.ops.get_mut(id)
            && op.stage == Stage::Queued
        {
            op.conn = Some(conn);
            self.send(id);
        }
    }

    /// Sends `id` to its shard: half the round trip to the copy's region.
    fn send(&mut self, id: Id) {
        let now = self.now;
        let Some(op) = self.data.ops.get_mut(id) else {
            return;
        };
        op.sent = now;
        op.stale = false;
        let s = usize::from(op.store);
        let store = &self.plan.data.stores[s];
        let moved;
        (op.copy, moved) = if op.write {
            (self.data.primary[s], false)
        } else {
            read_copy(
                store,
                self.data.primary[s],
                op.caller_region,
                |r| self.faults.region_up(r),
                &self.plan.network,
            )
        };
        let region = store.copies[usize::from(op.copy)];
        if moved
            && let Some(a) = self.attempts.get(op.attempt)
            && let Some(r) = self.requests.get_mut(a.request)
        {
            // A hop away from its preferred copy: the request failed over
            // (`runs.csv`'s `failovers`).
            r.failed_over = true;
        }
        if let Some(timeout) = store.timeout {
            let number = op.try_number();
            self.events
                .push(now + timeout, Event::DataTimeout { op: id, number });
        }
        if !self.faults.region_up(region) {
            op.stage = Stage::Back;
            op.failure = Some(Reply::connect_failure());
            let at = now + self.plan.network.connect_timeout;
            self.events.push(at, Event::Data { op: id });
            return;
        }
        op.stage = Stage::Arrive;
        if op.write && region != op.caller_region {
            let bytes = op.size_bytes;
            self.stats
                .on_inter_region_bytes(now, op.caller_region, bytes);
        }
        let delay = self.plan.network.one_way(op.caller_region, region);
        if delay.is_zero() {
            self.arrive_at_shard(id);
        } else {
            self.events.push(now + delay, Event::Data { op: id });
        }
    }

    fn shard_index(&self, op: &DataOp) -> usize {
        self.copy_shards(usize::from(op.store), usize::from(op.copy))
            .start
            + op.shard as usize
    }

    /// The shards of `store`'s copy `copy`, as indices into the flattened
    /// shard table.
    fn copy_shards(&self, store: usize, copy: usize) -> std::ops::Range<usize> {
        let n = self.plan.data.stores[store].shards as usize;
        let base = self.data.shard_base[store] + copy * n;
        base..base + n
    }

    /// The operation reaches its shard: be throttled by its rate limit,
    /// work, wait, or be shed.
    fn arrive_at_shard(&mut self, id: Id) {
        let now = self.now;
        let Some(op) = self.data.ops.get(id).copied() else {
            return;
        };
        let store = &self.plan.data.stores[usize::from(op.store)];
        let index = self.shard_index(&op);
        if let Some(o) = self.data.ops.get_mut(id) {
            o.stage = Stage::AtShard;
            o.arrived = now;
        }
        let in_window = op.measured;
        let shard = &mut self.data.shards[index];
        shard.requests += u64::from(in_window);
        shard.top_ops += u64::from(in_window && op.key == shard.top_key);
        shard.now.requests += 1;
        if let Some(limiter) = shard.limiter.as_mut()
            && let RateDecision::Reject { retry_after } = limiter.check(now, 0)
        {
            // Over the shard's throughput: refused before any work, with
            // (`shard.retry_after`) when it would admit the try.
            shard.errors += u64::from(in_window);
            shard.throttled += u64::from(in_window);
            shard.now.shed += 1;
            shard.now.throttled += 1;
            if store.throttle_retry_after
                && let Some(o) = self.data.ops.get_mut(id)
            {
                o.retry_after = retry_after;
            }
            self.back_with(id, Some(Reply::error(429)));
            return;
        }
        if shard.busy < store.workers {
            self.data.advance(index, now);
            self.data.shards[index].busy += 1;
            self.start_shard_work(id, op.store, op.work());
        } else if store.queue.is_none_or(|q| (shard.queue.len() as u64) < q) {
            self.data.shards[index].queue.push_back(id);
        } else {
            let shard = &mut self.data.shards[index];
            shard.errors += u64::from(in_window);
            shard.now.shed += 1;
            self.back_with(id, Some(Reply::shed()));
        }
    }

    /// A worker of `store`'s shard starts on `id`, `work` long.
    fn start_shard_work(&mut self, id: Id, store: u16, work: Work) {
        let s = usize::from(store);
        let plan = &self.plan.data.stores[s];
        let work = match work {
            Work::Read => {
                if !self.data.unapplied.is_empty() {
                    self.count_if_stale(id);
                }
                if let Some(op) = self.data.ops.get_mut(id) {
                    op.read_at = self.now;
                }
                plan.read.sample(&mut self.data.rng_store[s])
            }
            Work::Write => plan.write.sample(&mut self.data.rng_store[s]),
            Work::Apply => plan.apply.sample(&mut self.data.rng_apply[s]),
        };
        if plan.timeout.is_some() {
            let slot = id.index() as usize;
            *slot_in(&mut self.data.work_started, slot, || Timestamp::ZERO) = self.now;
        }
        self.events.push(self.now + work, Event::Data { op: id });
    }

    /// Read `id` starts at its shard: stale if a write of its key was
    /// shipped to its copy and is not applied yet (counted once the shard
    /// has served it, [`World::shard_done`]).
    #[inline(never)]
    fn count_if_stale(&mut self, id: Id) {
        let unapplied = &self.data.unapplied;
        if let Some(op) = self.data.ops.get_mut(id) {
            op.stale = unapplied.contains_key(&unapplied_at(op));
        }
    }

    /// The shard finished `id`: its worker takes the next queued operation,
    /// and the answer travels back.
    fn shard_done(&mut self, id: Id) {
        let now = self.now;
        let Some(op) = self.data.ops.get(id).copied() else {
            return;
        };
        let index = self.shard_index(&op);
        let interval = &mut self.data.shards[index].now;
        let latency = if op.measured {
            &mut interval.measured
        } else {
            &mut interval.other
        };
        latency.record((now - op.arrived).as_nanos());
        if op.abandoned {
            self.data.on_abandoned_work(index, id, now);
        }
        if op.write {
            self.replicate(&op);
            self.data
                .mark_stale(usize::from(op.store), op.key, now.as_nanos(), None);
            if let Some(st) = self.data.stale.as_mut() {
                st.commit(usize::from(op.store), op.key, now);
                if st.commits_due() {
                    self.prune_commits();
                }
            }
        }
        self.data.shards[index].stale += u64::from(op.stale && op.measured);
        self.pass_shard_worker(index);
        self.back_with(id, None);
    }

    /// A worker of shard `index` is free: the next queued operation takes
    /// it, else the shard has one more idle worker.
    #[inline]
    fn pass_shard_worker(&mut self, index: usize) {
        match self.data.shards[index].queue.pop_front() {
            Some(next) => {
                if let Some((store, work)) = self.data.ops.get(next).map(|o| (o.store, o.work())) {
                    self.start_shard_work(next, store, work);
                }
            }
            None => {
                self.data.advance(index, self.now);
                self.data.shards[index].busy -= 1;
            }
        }
    }

    /// The primary ships write `op`, whose work has just ended, to each
    /// replica (each in a region of its own: the plan checks): the
    /// object's bytes leave the primary's region, and the write arrives
    /// one way later to be applied there.
    fn replicate(&mut self, op: &DataOp) {
        let now = self.now;
        let copies = &self.plan.data.stores[usize::from(op.store)].copies;
        let from = copies[usize::from(op.copy)];
        for (c, &region) in copies.iter().enumerate() {
            if c == usize::from(op.copy) {
                continue;
            }
            self.stats.on_inter_region_bytes(now, from, op.size_bytes);
            let shipped = DataOp {
                copy: c as u8,
                from: op.copy,
                stage: Stage::Replicate,
                conn: None,
                arrived: now,
                failure: None,
                retry_after: Span::ZERO,
                retry: None,
                abandoned: false,
                ..*op
            };
            let Some(id) = self.data.insert_op(shipped) else {
                return;
            };
            *self
                .data
                .unapplied
                .entry(unapplied_at(&shipped))
                .or_insert(0) += 1;
            let delay = self.plan.network.one_way(from, region);
            self.events.push(now + delay, Event::Data { op: id });
        }
    }

    /// `region` has gone dark: each store with a `failover` whose primary
    /// is there is due to promote a replica `failover.after` from now.
    pub(super) fn arm_store_failovers(&mut self, region: RegionId) {
        for (s, store) in self.plan.data.stores.iter().enumerate() {
            if let Some(after) = store.failover_after
                && store.copies[usize::from(self.data.primary[s])] == region
            {
                let store = s as u16;
                self.events.push(self.now + after, Event::Promote { store });
            }
        }
    }

    /// A store's failover is due: if its primary's region has been dark
    /// since `failover.after` ago, the first copy (in `[primary,
    /// replicas...]` order) whose region is up becomes the primary: new
    /// writes go there and it ships them to every other copy, the old
    /// primary included (which applies them once its region is back, and
    /// stays a replica). None is promoted when no copy is up.
    #[inline(never)]
    pub(super) fn on_promote(&mut self, store: u16) {
        let s = usize::from(store);
        let plan = &self.plan.data.stores[s];
        let Some(after) = plan.failover_after else {
            return;
        };
        let old = usize::from(self.data.primary[s]);
        let since = self.now - after;
        if self.faults.dark_since(plan.copies[old]) != Some(since) {
            // Back, or dark again since a later outage (whose own
            // promotion is due later).
            return;
        }
        let Some(new) =
            (0..plan.copies.len()).find(|&c| c != old && self.faults.region_up(plan.copies[c]))
        else {
            return;
        };
        self.data.primary[s] = new as u8;
        let name = |c: usize| self.plan.network.name(plan.copies[c]).to_owned();
        self.data.failovers.push(StoreFailover {
            store: plan.name.clone(),
            from: name(old),
            to: name(new),
            dark_s: since.as_secs_f64(),
            at_s: self.now.as_secs_f64(),
            lost_writes: 0,
        });
        // The writes the old primary shipped that its partition held are
        // lost: the new primary never receives them.
        let ops = &self.data.ops;
        let mut lost = Vec::new();
        self.data.held_applies.retain(|&id| {
            let from_old = ops
                .get(id)
                .is_some_and(|o| usize::from(o.store) == s && usize::from(o.from) == old);
            if from_old {
                lost.push(id);
            }
            !from_old
        });
        for id in lost {
            self.lose_shipment(id);
        }
    }

    /// A write shipped by a primary that was replaced before it arrived is
    /// lost: dropped, and counted against the store's last failover if it
    /// was on its way to the copy promoted then (the writes a failover
    /// loses; its shipments to other replicas are dropped with it, as a
    /// replica re-syncs from the new primary).
    #[cold]
    fn lose_shipment(&mut self, id: Id) {
        let Some(op) = self.data.ops.remove(id) else {
            return;
        };
        self.data.applied_or_lost(&op);
        let s = usize::from(op.store);
        if op.copy != self.data.primary[s] {
            return;
        }
        // Bound for the current primary: promoted by the store's last
        // failover.
        let name = &self.plan.data.stores[s].name;
        if let Some(f) = self
            .data
            .failovers
            .iter_mut()
            .rev()
            .find(|f| &f.store == name)
        {
            f.lost_writes += 1;
        }
    }

    /// A shipped write reaches its replica: held while the replica's
    /// region, or the region of the copy that shipped it, is dark (a
    /// partition cuts a replication stream mid-flight; it resumes when both
    /// ends are back), else applied by a free worker of its shard or queued
    /// (however full the queue: it is never shed). A write from a primary
    /// that has since been replaced is lost ([`World::lose_shipment`]).
    fn arrive_at_replica(&mut self, id: Id) {
        let now = self.now;
        let Some(op) = self.data.ops.get_mut(id) else {
            return;
        };
        let s = usize::from(op.store);
        let store = &self.plan.data.stores[s];
        let from_up = self.faults.region_up(store.copies[usize::from(op.from)]);
        if !from_up && op.from != self.data.primary[s] {
            self.lose_shipment(id);
            return;
        }
        if !from_up || !self.faults.region_up(store.copies[usize::from(op.copy)]) {
            self.data.held_applies.push(id);
            return;
        }
        op.stage = Stage::Apply;
        let op = *op;
        let index = self.shard_index(&op);
        if self.data.shards[index].busy < store.workers {
            self.data.advance(index, now);
            self.data.shards[index].busy += 1;
            self.start_shard_work(id, op.store, Work::Apply);
        } else {
            self.data.shards[index].queue.push_back(id);
        }
    }

    /// A replica's shard has applied `id`: its replication lag is recorded,
    /// and its worker takes the next queued operation.
    fn applied(&mut self, id: Id) {
        let Some(op) = self.data.ops.remove(id) else {
            return;
        };
        self.data.applied_or_lost(&op);
        let index = self.shard_index(&op);
        let lag = (self.now - op.arrived).as_nanos();
        let shard = &mut self.data.shards[index];
        shard.now.lag.record(lag);
        if op.measured {
            shard.applied += 1;
            shard.lag.record(lag);
        }
        self.pass_shard_worker(index);
    }

    /// `region` has gone dark: its store copies fail what they hold, as its
    /// instances do. Every operation on its way to one of their shards or
    /// at one (queued or working) fails for its caller with a connection
    /// reset, learned one way later (or its try's `timeout` first, if that
    /// falls sooner), and counts in the shard's `errors` if it had reached
    /// it; an abandoned one is dropped and gives its connection back (its
    /// work so far was wasted). A replica's applies there (queued or
    /// working) are held again, to be applied from the start once the
    /// region is back (a relay log replays from its last applied write).
    /// The shards are left idle and empty. Answers already on their way
    /// back arrive.
    #[cold]
    pub(super) fn on_store_region_dark(&mut self, region: RegionId) {
        let now = self.now;
        let stores = &self.plan.data.stores;
        let cut: Vec<Id> = self
            .data
            .ops
            .iter()
            .filter(|(_, op)| {
                matches!(op.stage, Stage::Arrive | Stage::AtShard | Stage::Apply)
                    && stores[usize::from(op.store)].copies[usize::from(op.copy)] == region
            })
            .map(|(id, _)| id)
            .collect();
        if cut.is_empty() {
            return;
        }
        let mut queued = std::collections::HashSet::new();
        for (s, store) in stores.iter().enumerate() {
            for (c, _) in store
                .copies
                .iter()
                .enumerate()
                .filter(|&(_, &r)| r == region)
            {
                for index in self.copy_shards(s, c) {
                    self.data.advance(index, now);
                    let shard = &mut self.data.shards[index];
                    shard.busy = 0;
                    queued.extend(shard.queue.drain(..));
                }
            }
        }
        let mut held = Vec::new();
        for id in cut {
            let Some(op) = self.data.ops.remove(id) else {
                continue;
            };
            let working = op.stage != Stage::Arrive && !queued.contains(&id);
            if op.stage == Stage::Apply {
                held.push(DataOp {
                    stage: Stage::Replicate,
                    ..op
                });
                continue;
            }
            let index = self.shard_index(&op);
            if op.stage == Stage::AtShard {
                let shard = &mut self.data.shards[index];
                shard.errors += u64::from(op.measured);
                shard.now.shed += 1;
            }
            // Reset, whether or not its caller still waits: its connection
            // is dropped when it is given back.
            let reset = DataOp {
                stage: Stage::Back,
                failure: Some(Reply::reset()),
                ..op
            };
            if op.abandoned {
                if working {
                    self.data.on_abandoned_work(index, id, now);
                }
                self.release_conn(&reset);
                continue;
            }
            let Some(id) = self.data.insert_op(reset) else {
                continue;
            };
            let store = &self.plan.data.stores[usize::from(op.store)];
            let back = now + self.plan.network.one_way(region, op.caller_region);
            if let Some(timeout) = store.timeout
                && op.sent + timeout < back
            {
                // Its caller times out before the reset reaches it: the
                // reset is then an abandoned try's answer.
                let number = op.try_number();
                self.events
                    .push(op.sent + timeout, Event::DataTimeout { op: id, number });
            }
            self.events.push(back, Event::Data { op: id });
        }
        // Held again in the order they were shipped.
        held.sort_by_key(|op| op.arrived);
        for op in held {
            if let Some(id) = self.data.insert_op(op) {
                self.data.held_applies.push(id);
            }
        }
    }

    /// `region` is reachable again: the shipped writes held for it (to or
    /// from it) whose two ends are both up arrive now, in the order they
    /// were shipped.
    pub(super) fn release_held_applies(&mut self, region: RegionId) {
        if self.data.held_applies.is_empty() || !self.faults.region_up(region) {
            return;
        }
        let now = self.now;
        let stores = &self.plan.data.stores;
        let ops = &self.data.ops;
        let faults = &self.faults;
        let mut back = Vec::new();
        self.data.held_applies.retain(|&id| {
            let Some(op) = ops.get(id) else {
                return false;
            };
            let copies = &stores[usize::from(op.store)].copies;
            let ends = [copies[usize::from(op.copy)], copies[usize::from(op.from)]];
            let ready = ends.contains(&region) && ends.iter().all(|&r| faults.region_up(r));
            if ready {
                back.push(id);
            }
            !ready
        });
        for id in back {
            self.events.push(now, Event::Data { op: id });
        }
    }

    /// The answer (or `failure`) travels back to the caller.
    fn back_with(&mut self, id: Id, failure: Option<Reply>) {
        let now = self.now;
        let Some(op) = self.data.ops.get_mut(id) else {
            return;
        };
        op.stage = Stage::Back;
        op.failure = failure;
        let store = &self.plan.data.stores[usize::from(op.store)];
        let region = store.copies[usize::from(op.copy)];
        if !op.write && failure.is_none() && region != op.caller_region {
            let bytes = op.size_bytes;
            self.stats.on_inter_region_bytes(now, region, bytes);
        }
        let delay = self.plan.network.one_way(region, op.caller_region);
        self.events.push(now + delay, Event::Data { op: id });
    }

    /// Fails `id` before it reached a shard (pool rejection, acquire
    /// timeout, connect failure): the caller learns it at once.
    fn fail_op(&mut self, id: Id, reply: Reply) {
        let Some(op) = self.data.ops.get_mut(id) else {
            return;
        };
        op.stage = Stage::Back;
        op.failure = Some(reply);
        self.events.push(self.now, Event::Data { op: id });
    }

    /// Forgets the commits no read still in flight can ask about
    /// ([`Staleness::prune_commits`]): those at or before the earliest
    /// arrival of a request or an operation in flight (a read's value is
    /// read after its operation arrived, and an operation after its
    /// request; requests and operations to come arrive after now).
    #[inline(never)]
    fn prune_commits(&mut self) {
        let horizon = self
            .requests
            .iter()
            .map(|(_, r)| r.arrival)
            .chain(self.data.ops.iter().map(|(_, op)| op.arrived))
            .fold(self.now, Timestamp::min);
        if let Some(st) = self.data.stale.as_mut() {
            st.prune_commits(horizon);
        }
    }

    /// The caller has the answer: return the connection, fill or
    /// invalidate the tiers, and end the step.
    fn finish_op(&mut self, id: Id) {
        if self.retry_op(id) {
            return;
        }
        let Some(op) = self.data.ops.remove(id) else {
            return;
        };
        let store = &self.plan.data.stores[usize::from(op.store)];
        self.release_conn(&op);
        let reply = match op.failure {
            Some(f) => f,
            None => {
                self.update_tiers(&op, store);
                // The request learns a stale read and, for a key the edge
                // caches, when its earliest read read
                // ([`Request::first_read`]; only the edge's fill asks).
                let edge = !op.write
                    && self.data.stale.is_some()
                    && self.data.edge_plan.is_some_and(|e| e.cacheable(op.key));
                if (op.stale || edge)
                    && let Some(a) = self.attempts.get(op.attempt)
                    && let Some(r) = self.requests.get_mut(a.request)
                {
                    if op.stale {
                        r.flags |= STALE;
                    }
                    if edge {
                        r.first_read = r.first_read.min(op.read_at);
                    }
                }
                Reply::ok(false)
            }
        };
        self.on_child_done(op.attempt, reply);
    }

    /// The answer of a try its caller stopped waiting for is back: nobody
    /// reads it, and its connection goes back to the pool.
    #[inline(never)]
    fn drop_abandoned(&mut self, id: Id) {
        if let Some(op) = self.data.ops.remove(id) {
            self.release_conn(&op);
        }
    }

    /// Returns the connection `op` held, if any, to its pool, which drops
    /// it if it was reset.
    fn release_conn(&mut self, op: &DataOp) {
        let now = self.now;
        let Some(conn) = op.conn else {
            return;
        };
        let (from, to) = (op.sent.max(self.data.warmup_end), now.min(self.data.end));
        if to > from {
            self.data.pool_use[usize::from(op.store)].held_ns += (to - from).as_nanos() as f64;
        }
        let slot = self.pool_slot_of(op.instance, usize::from(op.store));
        if let Some(slot) = slot
            && let Some(p) = self.data.pools[slot].as_mut()
        {
            // A reset connection is dead: the pool drops it and connects
            // anew, for its waiters and up to `min` (`connect_time` each).
            if op.failure.is_some_and(|f| f.wire == Wire::Reset) {
                let _ = p.pool.discard(now, conn);
            } else if let Ok(Some(h)) = p.pool.release(now, conn) {
                self.handoff(h.waiter, h.conn);
            }
            self.drain_pool(slot);
        }
    }

    /// A failed try of `id` whose store retries it (`datastores.*.retry`,
    /// through `policy::retry`: retryable, attempts and budget left): its
    /// connection goes back to the pool and the operation starts over,
    /// from the pool, after the backoff. Returns whether it did.
    fn retry_op(&mut self, id: Id) -> bool {
        let now = self.now;
        let Some(op) = self.data.ops.get(id).copied() else {
            return false;
        };
        let (Some(failure), Some(mut state)) = (op.failure, op.retry) else {
            return false;
        };
        let store = usize::from(op.store);
        let (Some(policy), Some(rng)) = (
            &self.plan.data.stores[store].retry,
            &mut self.data.retry_rngs[store],
        ) else {
            return false;
        };
        let stores = self.plan.data.stores.len();
        let budget = retry_budget(
            &mut self.data.retry_budgets,
            stores,
            op.instance,
            store,
            policy,
            now,
        );
        let outcome = match failure.outcome() {
            TryOutcome::Response { status, .. } if !op.retry_after.is_zero() => {
                TryOutcome::Response {
                    status,
                    retry_after: Some(op.retry_after),
                }
            }
            outcome => outcome,
        };
        let retry_at = match state.handle_outcome(policy, now, outcome, budget, rng) {
            RetryDecision::RetryAt { at, .. } => Some(at),
            RetryDecision::Done | RetryDecision::GiveUp(_) => None,
        };
        if retry_at.is_some() {
            self.release_conn(&op);
        }
        let Some(o) = self.data.ops.get_mut(id) else {
            return false;
        };
        o.retry = Some(state);
        let Some(at) = retry_at else {
            return false;
        };
        o.stage = Stage::Acquire;
        o.failure = None;
        o.retry_after = Span::ZERO;
        o.conn = None;
        self.stats.on_retry(now, None);
        self.events.push(at, Event::Data { op: id });
        true
    }

    fn pool_slot_of(&self, instance: Id, store: usize) -> Option<usize> {
        let slot = instance.index() as usize * self.plan.data.stores.len() + store;
        self.data
            .pools
            .get(slot)
            .and_then(Option::as_ref)
            .is_some_and(|p| p.epoch == instance.generation())
            .then_some(slot)
    }

    /// A read fills the tiers before the one that answered; a write
    /// invalidates the key.
    fn update_tiers(&mut self, op: &DataOp, store: &StorePlan) {
        let now = self.now;
        let s = usize::from(op.store);
        let size = op.size_bytes;
        let costs = self.plan.costs.as_ref().map(|c| &c.data.write_usd[s]);
        // A caller instance that crashed meanwhile has no in-process copy to
        // update (its slab slot may already hold its replacement).
        let caller_alive = self.instances.get(op.instance).is_some();
        self.hint_update(op, store, caller_alive);
        let caller = Caller {
            instance: op.instance,
            region: op.caller_region,
            alive: caller_alive,
        };
        let charged = if op.write {
            self.data.invalidate(store, s, caller, op.key);
            store.tiers.len()
        } else {
            let upto = usize::from(op.tier_hit);
            // Outdated when read, or a write of the key committed since.
            let stale = op.stale
                || self
                    .data
                    .stale
                    .as_ref()
                    .is_some_and(|st| st.committed_after(s, op.key, op.read_at));
            self.data.fill(
                store,
                s,
                caller,
                (op.key, size),
                upto,
                (now.as_nanos(), stale),
            );
            upto
        };
        if let Some(c) = costs {
            // A write pays every tier's; a fill each tier it stored in.
            for (t, tier) in store.tiers[..charged].iter().enumerate() {
                if c[t] != 0.0 && (op.write || caller_alive || tier.scope != Scope::Instance) {
                    let copy = (tier.scope != Scope::Global).then_some(op.caller_region);
                    self.stats.on_usage_usd(now, s, t, copy, c[t]);
                }
            }
        }
    }

    /// Hints the memory of every cache copy [`World::update_tiers`] is
    /// about to change, in two passes (what each change reads first, then
    /// what that leads to), so that the copies' misses overlap instead of
    /// coming one after another. Changes nothing.
    fn hint_update(&self, op: &DataOp, store: &StorePlan, caller_alive: bool) {
        let tiers = &self.data.tiers[usize::from(op.store)];
        let count = if op.write {
            store.tiers.len()
        } else {
            usize::from(op.tier_hit)
        };
        let (tiers, key) = (&tiers[..count], op.key);
        if op.write {
            each_changed(tiers, op, caller_alive, |c| c.prefetch_slot(key));
            each_changed(tiers, op, caller_alive, |c| c.prefetch_entry(key));
        } else {
            each_changed(tiers, op, caller_alive, |c| c.prefetch_fill(key));
            each_changed(tiers, op, caller_alive, Cache::prefetch_eviction);
        }
    }

    /// Schedules the cache-flush faults.
    pub(super) fn schedule_data_faults(&mut self) {
        for f in &self.plan.faults {
            if let crate::plan::FaultPlan::CacheFlush { store, tier, at } = f {
                self.events.push(
                    *at,
                    Event::CacheFlush {
                        store: store.0,
                        tier: *tier,
                    },
                );
            }
        }
    }

    /// Empties every copy of a tier.
    #[inline(never)]
    pub(super) fn on_cache_flush(&mut self, store: u16, tier: u8) {
        match &mut self.data.tiers[usize::from(store)][usize::from(tier)] {
            Copies::Instance(v) => v.iter_mut().flatten().for_each(|(_, c)| c.clear()),
            Copies::Shared(v) => v.iter_mut().flatten().for_each(Cache::clear),
        }
    }

    /// The edge cache answers a cacheable read fetched within `max_age`.
    /// Returns whether it did (the request then ended).
    pub(super) fn edge_cache_answers(&mut self, req: Id) -> bool {
        let Some(edge) = &self.plan.data.edge_cache else {
            return false;
        };
        let Some(r) = self.requests.get_mut(req) else {
            return false;
        };
        if r.data.write || !edge.cacheable(r.data.key) {
            return false;
        }
        r.flags |= EDGE_LOOKED_UP;
        let data = &mut self.data;
        let hit = data
            .edge_copy(edge, RegionId(r.edge))
            .get(self.now.as_nanos(), r.data.key);
        data.edge_now.add(hit);
        if let Some(edge) = data.pilot.as_mut().and_then(|p| p.edge.as_mut()) {
            edge.add(self.now, f64::from(u8::from(hit)));
        }
        if r.data.measured {
            data.edge_counts[usize::from(self.now >= data.middle)].add(hit);
        }
        if hit {
            r.flags |= EDGE_HIT;
            if data
                .stale
                .as_ref()
                .is_some_and(|st| st.holds(edge_copy(usize::from(r.edge)), r.data.key))
            {
                r.flags |= STALE;
                data.edge_now.stale += 1;
                if r.data.measured {
                    data.edge_counts[usize::from(self.now >= data.middle)].stale += 1;
                }
            }
            self.finish_request(req, Reply::ok(false));
            true
        } else {
            false
        }
    }

    /// A request ended: count it for the cache hit ratio and let the edge
    /// keep a fetched cacheable read.
    pub(super) fn on_request_data_end(&mut self, r: &Request, reply: Reply) {
        let ok = reply.cause == super::mesh::Cause::Ok;
        if r.flags & (LOOKED_UP | EDGE_LOOKED_UP) != 0 {
            // By the edge, or by the tiers (every read that looked them up
            // was answered by one): a request that missed the edge and
            // never reached a tier was answered by the services.
            let by_tiers = r.flags & LOOKED_UP != 0 && r.flags & STORE_READ == 0;
            let answered = ok && (r.flags & EDGE_HIT != 0 || by_tiers);
            if r.data.measured {
                self.data.looked += 1;
                self.data.cache_answered += u64::from(answered);
            }
            if self.now < self.data.end {
                self.data.interval_looked += 1;
                self.data.interval_answered += u64::from(answered);
            }
        }
        if ok && !r.data.write && r.flags & (LOOKED_UP | EDGE_LOOKED_UP | STORE_READ) != 0 {
            let stale = u64::from(r.flags & STALE != 0);
            if r.data.measured {
                self.data.reads += 1;
                self.data.stale_reads += stale;
            }
            if self.now < self.data.end {
                self.data.interval_reads += 1;
                self.data.interval_stale += stale;
            }
        }
        if let Some(edge) = &self.plan.data.edge_cache
            && ok
            && r.flags & EDGE_HIT == 0
            && !r.data.write
            && edge.cacheable(r.data.key)
        {
            let now = self.now;
            let data = &mut self.data;
            data.edge_copy(edge, RegionId(r.edge))
                .insert(now.as_nanos(), r.data.key, 1);
            if let Some(st) = data.stale.as_mut() {
                // Outdated if a read of it was, or if a write of the key
                // committed after its earliest read read (an answer that
                // read no data: after the request arrived).
                let since = if r.first_read == Timestamp::MAX {
                    r.arrival
                } else {
                    r.first_read
                };
                let stores = self.plan.data.stores.len();
                let stale = r.flags & STALE != 0
                    || (0..stores).any(|s| st.committed_after(s, r.data.key, since));
                st.set(edge_copy(usize::from(r.edge)), r.data.key, stale);
            }
        }
    }

    /// Closes the data tier's time-series interval at `now` (the
    /// interval's `trigger` flag as `timeseries.csv` has it): one
    /// `shards_timeseries.csv` row per shard, in `shards.csv`'s order, and
    /// one `caches_timeseries.csv` row per cache tier, stores and tiers in
    /// scenario order.
    pub(super) fn close_data_interval(&mut self, trigger: bool) {
        let now = self.now;
        let secs = (now - self.data.interval_start).as_secs_f64();
        self.data.interval_start = now;
        self.close_tier_interval(now, secs, trigger);
        for (s, store) in self.plan.data.stores.iter().enumerate() {
            let base = self.data.shard_base[s];
            let n = store.copies.len() * store.shards as usize;
            for index in base..base + n {
                self.data.advance(index, now);
                let shard = &mut self.data.shards[index];
                let iv = &mut shard.now;
                shard.latency.merge(&iv.measured);
                iv.measured.merge(&iv.other);
                let [p50, p99] = [0.5, 0.99].map(|q| iv.measured.quantile_ms(q));
                let lag_p99 = iv.lag.quantile_ms(0.99);
                let capacity_ns = secs * 1e9 * f64::from(store.workers);
                self.data.interval_rows.push(ShardIntervalRow {
                    t_s: now.as_secs_f64(),
                    shard: index,
                    requests_rps: iv.requests as f64 / secs,
                    shed: iv.shed,
                    throttled: iv.throttled,
                    latency_p50_ms: p50,
                    latency_p99_ms: p99,
                    utilization: if capacity_ns > 0.0 {
                        iv.busy_ns / capacity_ns
                    } else {
                        f64::NAN
                    },
                    queued: shard.queue.len() as u64,
                    wasted_work_s: iv.wasted_ns as f64 / 1e9,
                    replication_lag_p99_ms: lag_p99,
                    trigger,
                });
                iv.requests = 0;
                iv.shed = 0;
                iv.throttled = 0;
                iv.busy_ns = 0.0;
                iv.wasted_ns = 0;
                iv.measured.clear();
                iv.other.clear();
                iv.lag.clear();
            }
        }
    }

    /// One `caches_timeseries.csv` row per cache for the interval of
    /// `secs` ending at `now`, the edge cache's first, then each tier of
    /// each store: its lookups and hits, and how full its live copies are
    /// (an instance's copy while the instance lives; a shared copy, or an
    /// edge region's, once created).
    fn close_tier_interval(&mut self, now: Timestamp, secs: f64, trigger: bool) {
        let t_s = now.as_secs_f64();
        if let Some(edge) = &self.plan.data.edge_cache {
            let count = std::mem::take(&mut self.data.edge_now);
            let copies = self.data.edge.iter().flatten();
            let items = copies.clone().map(Cache::len).sum();
            let held = Held {
                copies: copies.count() as u64,
                items,
                used: u128::from(items),
                capacity: edge.capacity,
            };
            let row = cache_row(EDGE_CACHE, count, held, t_s, secs, trigger);
            self.data.tier_rows.push(row);
        }
        for (s, store) in self.plan.data.stores.iter().enumerate() {
            for (t, tier) in store.tiers.iter().enumerate() {
                let count = std::mem::take(&mut self.data.tier_now[s][t]);
                let (mut copies, mut items, mut bytes) = (0u64, 0u64, 0u128);
                let add = |c: &Cache| {
                    copies += 1;
                    items += c.len();
                    bytes += c.used_bytes();
                };
                let all = &self.data.tiers[s][t];
                match all {
                    Copies::Instance(_) => self
                        .instances
                        .iter()
                        .filter_map(|(id, i)| all.get(id, i.region))
                        .for_each(add),
                    Copies::Shared(v) => v.iter().flatten().for_each(add),
                }
                let (used, capacity) = match tier.spec.capacity {
                    headroom_cache::Capacity::Items(n) => (u128::from(items), n),
                    headroom_cache::Capacity::Bytes(n) => (bytes, n),
                };
                let held = Held {
                    copies,
                    items,
                    used,
                    capacity,
                };
                let names = (store.name.as_str(), tier.name.as_str());
                let row = cache_row(names, count, held, t_s, secs, trigger);
                self.data.tier_rows.push(row);
            }
        }
    }

    /// With `warmup = "auto"`: each cache's hit ratio by lookup time over
    /// the pilot pass, in [`DataPlan::caches`]' order (empty for a cache
    /// never looked up).
    pub(super) fn cache_transients(&self) -> Vec<Vec<f64>> {
        let Some(p) = &self.data.pilot else {
            return Vec::new();
        };
        p.edge
            .iter()
            .chain(p.tiers.iter().flatten())
            .map(Transient::series)
            .collect()
    }

    /// The data tier's results: the end-to-end and per-tier hit ratios,
    /// the busiest shard's load over the mean's, one row per shard, and
    /// the shards' time series.
    pub(super) fn data_results(&mut self) -> DataResults {
        let plan: &DataPlan = &self.plan.data;
        let measured_ns = self.plan.run.measured().as_nanos() as f64;
        let end = self.data.end;
        let mut tiers = Vec::new();
        if plan.edge_cache.is_some() {
            let (store, tier) = EDGE_CACHE;
            tiers.push(tier_hits(
                hit_ratio_column(store, tier),
                self.data.edge_counts,
            ));
        }
        let mut rows = Vec::new();
        let mut stations = Vec::new();
        let mut max_ratio: f64 = 0.0;
        for (s, store) in plan.stores.iter().enumerate() {
            for (t, tier) in store.tiers.iter().enumerate() {
                let column = hit_ratio_column(&store.name, &tier.name);
                tiers.push(tier_hits(column, self.data.tier_counts[s][t]));
            }
            let n = store.shards as usize;
            let mut per_shard = vec![0u64; n];
            // The primary serves the writes and (approximately) its share
            // of the reads: the mixture's variation.
            let primary_scv = mixture_scv(plan.read_fraction, &store.read, &store.write);
            let replica_scv = store.read.scv();
            for (c, &region) in store.copies.iter().enumerate() {
                for (k, load) in per_shard.iter_mut().enumerate() {
                    let index = self.data.shard_base[s] + c * n + k;
                    self.data.advance(index, end);
                    // Measured requests' operations that ended after the
                    // last interval closed (the drain).
                    let sh = &mut self.data.shards[index];
                    sh.latency.merge(&sh.now.measured);
                    let sh = &self.data.shards[index];
                    *load += sh.requests;
                    // A replica's shard serves reads and applies writes.
                    let scv = if c == 0 {
                        primary_scv
                    } else if sh.applied == 0 {
                        replica_scv
                    } else {
                        let reads = sh.requests as f64 / (sh.requests + sh.applied) as f64;
                        mixture_scv(reads, &store.read, &store.apply)
                    };
                    stations.push(StationLoad {
                        name: format!(
                            "store {} shard {k} ({})",
                            store.name,
                            self.plan.network.name(region)
                        ),
                        workers: store.workers,
                        queue: store.queue,
                        max_wait_s: None,
                        scv,
                        held_s: sh.busy_ns / 1e9,
                        capacity_s: measured_ns * f64::from(store.workers) / 1e9,
                        requests: sh.requests + sh.applied,
                        shed: sh.errors,
                    });
                    rows.push(ShardRow {
                        store: store.name.clone(),
                        region: self.plan.network.name(region).to_owned(),
                        shard: k as u32,
                        requests: sh.requests,
                        top_key: (sh.top_key != u64::MAX).then_some(sh.top_key),
                        top_key_requests: sh.top_ops,
                        errors: sh.errors,
                        throttled: sh.throttled,
                        wasted_work_s: sh.wasted_ns as f64 / 1e9,
                        applied: sh.applied,
                        stale_reads: sh.stale,
                        replication_lag: sh.lag.clone(),
                        latency: sh.latency.clone(),
                        utilization: if measured_ns > 0.0 {
                            sh.busy_ns / (measured_ns * f64::from(store.workers))
                        } else {
                            f64::NAN
                        },
                    });
                }
            }
            let total: u64 = per_shard.iter().sum();
            if total > 0 {
                let mean = total as f64 / n as f64;
                let max = per_shard.iter().copied().max().unwrap_or(0) as f64;
                max_ratio = max_ratio.max(max / mean);
            }
        }
        DataResults {
            cache_hit_ratio: ratio(self.data.cache_answered, self.data.looked),
            stale_read_ratio: self
                .data
                .stale
                .as_ref()
                .map(|_| ratio(self.data.stale_reads, self.data.reads)),
            tiers,
            shard_max_load_ratio: max_ratio,
            shards: rows,
            shard_timeseries: std::mem::take(&mut self.data.interval_rows),
            failovers: std::mem::take(&mut self.data.failovers),
            cache_timeseries: std::mem::take(&mut self.data.tier_rows),
            stations,
            pool_use: std::mem::take(&mut self.data.pool_use),
        }
    }
}

/// Each store's connection pools as one queue of the system: a caller
/// instance's pool is `max` servers (connections) with at most
/// `max_waiters` waiting, none longer than `acquire_timeout`; their
/// capacity is `max` times the instance-seconds of the services with a
/// step on the store (`services`: the services' stations, in plan order).
/// A hold is an operation's time on its connection, taken as exponential.
pub(super) fn pool_stations(
    plan: &Plan,
    services: &[StationLoad],
    uses: &[PoolUse],
) -> Vec<StationLoad> {
    plan.data
        .stores
        .iter()
        .zip(uses)
        .enumerate()
        .filter_map(|(s, (store, use_))| {
            let pool = store.pool.as_ref()?;
            let instance_s: f64 = plan
                .services
                .iter()
                .zip(services)
                .filter(|(p, _)| {
                    p.steps
                        .iter()
                        .any(|step| matches!(step, StepPlan::Data(id) if id.index() == s))
                })
                .map(|(p, st)| st.capacity_s / f64::from(p.workers.max(1)))
                .sum();
            let max = pool.policy.max();
            Some(StationLoad {
                name: format!("the pools of store {} (one a caller instance)", store.name),
                workers: max,
                queue: Some(u64::from(pool.policy.max_waiters())),
                max_wait_s: Some(pool.policy.acquire_timeout().as_secs_f64()),
                scv: 1.0,
                held_s: use_.held_ns / 1e9,
                capacity_s: f64::from(max) * instance_s,
                requests: use_.requests,
                shed: use_.shed,
            })
        })
        .collect()
}

/// The squared coefficient of variation of a read (`read`) with
/// probability `read_fraction`, else a write (`write`).
fn mixture_scv(read_fraction: f64, read: &Dist, write: &Dist) -> f64 {
    let (f, g) = (read_fraction, 1.0 - read_fraction);
    let (mr, mw) = (read.mean_ns(), write.mean_ns());
    let mean = f * mr + g * mw;
    if mean <= 0.0 {
        return 0.0;
    }
    let second = f * mr * mr * (1.0 + read.scv()) + g * mw * mw * (1.0 + write.scv());
    second / (mean * mean) - 1.0
}

/// What a cache's live copies hold at an interval's end.
struct Held {
    copies: u64,
    items: u64,
    /// Items, or bytes for a capacity in bytes (u128: summed over copies
    /// of up to `u64::MAX` bytes each).
    used: u128,
    /// Of one copy, in `used`'s unit.
    capacity: u64,
}

/// A cache's [`TierHits`] from its measured lookups.
fn tier_hits(column: String, halves: Halves) -> TierHits {
    let c = whole(halves);
    let first = halves[0];
    TierHits {
        column,
        hits: c.hits,
        stale_hits: c.stale,
        lookups: c.hits + c.misses,
        first_half_hits: first.hits,
        first_half_lookups: first.hits + first.misses,
    }
}

/// A cache's `caches_timeseries.csv` row for the interval of `secs` ending
/// at `t_s`.
fn cache_row(
    (store, tier): (&str, &str),
    count: TierCount,
    held: Held,
    t_s: f64,
    secs: f64,
    trigger: bool,
) -> CacheIntervalRow {
    let lookups = count.hits + count.misses;
    CacheIntervalRow {
        t_s,
        store: store.to_owned(),
        tier: tier.to_owned(),
        lookups_rps: lookups as f64 / secs,
        hit_ratio: if lookups == 0 {
            f64::NAN
        } else {
            count.hits as f64 / lookups as f64
        },
        stale_hit_ratio: if count.hits == 0 {
            f64::NAN
        } else {
            count.stale as f64 / count.hits as f64
        },
        copies: held.copies,
        items: held.items,
        fill: if held.copies == 0 {
            f64::NAN
        } else {
            held.used as f64 / (held.copies as f64 * held.capacity as f64)
        },
        trigger,
    }
}

/// Each shard's most popular key of `store` with Zipf keys over `count`
/// (keys are ranks, key 0 the most popular): the first key of the first
/// 2^20 that maps to it (`u64::MAX` when none does: more shards than those
/// keys reach). About `shards x ln(shards)` keys are hashed.
fn most_popular_keys(store: &StorePlan, count: u64) -> Vec<u64> {
    let n = store.shards as usize;
    let mut top = vec![u64::MAX; n];
    let mut left = n;
    for key in 0..count.min(1 << 20) {
        let slot = &mut top[store.shard_of(key) as usize];
        if *slot == u64::MAX {
            *slot = key;
            left -= 1;
            if left == 0 {
                break;
            }
        }
    }
    top
}

/// What [`World::data_results`] returns.
pub(super) struct DataResults {
    pub cache_hit_ratio: f64,
    /// With a datastore: of the measured reads answered, the fraction
    /// answered with an outdated value (`runs.csv`'s `stale_read_ratio`).
    pub stale_read_ratio: Option<f64>,
    pub tiers: Vec<TierHits>,
    pub shard_max_load_ratio: f64,
    pub shards: Vec<ShardRow>,
    pub shard_timeseries: Vec<ShardIntervalRow>,
    pub cache_timeseries: Vec<CacheIntervalRow>,
    /// Every shard as a queue ([`crate::report::StationLoad`]).
    pub stations: Vec<StationLoad>,
    /// Per store: its pools' use.
    pub pool_use: Vec<PoolUse>,
    /// Its stores' failovers, in time order.
    pub failovers: Vec<StoreFailover>,
}

/// The copy a read from `caller` goes to, and whether that is not its
/// preferred one: the primary's (`primary`, after any failover) with
/// `routing.reads = "primary"`, else the nearest copy's; with a
/// `failover`, a dark nearest copy gives way to the nearest copy whose
/// region is `up` (ties: copy order), if any.
fn read_copy(
    store: &StorePlan,
    primary: u8,
    caller: RegionId,
    up: impl Fn(RegionId) -> bool,
    network: &crate::plan::network::NetworkPlan,
) -> (u8, bool) {
    if store.reads_primary {
        return (primary, false);
    }
    let nearest = store.read_copy[caller.index()];
    if store.failover_after.is_none() || up(store.copies[usize::from(nearest)]) {
        return (nearest, false);
    }
    store
        .copies
        .iter()
        .enumerate()
        .filter(|&(_, &r)| up(r))
        .min_by_key(|&(_, &r)| network.rtt(caller, r))
        .map_or((nearest, false), |(c, _)| (c as u8, true))
}

/// Which copies a warm-start write of `key` must mark, `left_ns` before
/// the warm start's end (time 0 of the run): a bit per tier of `plan`
/// (tier `t` at bit `t`), and whether the edge's.
///
/// A copy that holds the key now got it now or before, so its entry
/// expires within its TTL. A mark matters to the run only if the entry,
/// or an entry a stale hit on it fills, can still be found at time 0: a
/// stale hit fills the tiers above the one it hit and, for a key the edge
/// caches, the edge, whose entries live their own TTLs from then on. So a
/// tier's mark lives its TTL plus the longest life of what its hits fill
/// (the edge's `max_age` for a cacheable key, the tiers above), and it is
/// skipped when that ends before time 0. A tier without a TTL is always
/// marked. (Only a lookup at exactly time 0 could find an entry that
/// expired before it: [`headroom_cache::Cache::rebase`] makes such an
/// entry expire at 0.) With the seed's 60 s in-process TTL, 1 h `max_age`
/// and 3 h warm start, the in-process copies of the keys the edge does not
/// cache are marked only in the last minute.
pub(super) fn warm_marks_outlive(
    plan: &StorePlan,
    edge: Option<&crate::plan::data::EdgeCachePlan>,
    key: u64,
    left_ns: u64,
) -> (u64, bool) {
    let edge_life = edge
        .filter(|e| e.cacheable(key))
        .map_or(0, |e| e.max_age.as_nanos());
    let mut kept = 0;
    let mut above = edge_life;
    for (t, tier) in plan.tiers.iter().enumerate().take(64) {
        let life = tier
            .spec
            .ttl_ns
            .map_or(u64::MAX, |ttl| ttl.saturating_add(above));
        if life >= left_ns {
            kept |= 1 << t;
        }
        above = above.max(life);
    }
    (kept, edge_life >= left_ns)
}

fn edge_cache(edge: &crate::plan::data::EdgeCachePlan) -> Cache {
    let spec = headroom_cache::CacheSpec::new(
        headroom_cache::Eviction::TtlOnly,
        headroom_cache::Capacity::Items(edge.capacity),
    )
    .with_ttl_ns(edge.max_age.as_nanos());
    match Cache::with_reserve(&spec, RESERVE_ITEMS) {
        Ok(c) => c,
        Err(e) => unreachable!("checked edge cache: {e}"),
    }
}
