//! `run.cache_warm_start`: the caches start as the workload left them.
//!
//! A cache tier over many keys fills for as long as its characteristic time
//! or its TTL, often longer than a run's warm-up: measured from a cold
//! start, its hit ratio is low and the load behind it high
//! ([`crate::report::cold_caches`] names such a cache). A warm start gives
//! the caches, before time 0, the requests of the span `W` before it: the
//! workload's arrival process on `[-W, 0)` (a diurnal rate at its phase of
//! those times, an MMPP from its first state at `-W`), each request's
//! origin, entry service, key and read or write drawn as the run draws
//! them, from the warm start's own streams (so the run's own draws, and
//! everything but the caches, are those of a cold start).
//!
//! Each request then passes the edge cache and the cache tiers as it would
//! with every region healthy and nothing failing: it reaches its origin's
//! edge (or the edge failover's first choice), a cacheable read the edge
//! cache answers ends there, any other call goes to the callee's first
//! region in its failover order and to one of its deployment's initial
//! instances chosen at random (every load balancer spreads calls without
//! regard to the key, so each instance's copy of a tier sees the same key
//! stream as under it), and each `{ data = store }` step reads or writes
//! the request's key as `engine::data` does, filling or invalidating at the
//! request's own instant. No queue, delay, rate limit, retry, hedge or cost
//! is simulated, and nothing is counted: only cache contents change. At the
//! end every cache's clock moves back by `W` ([`headroom_cache::Cache::rebase`]),
//! so an entry filled at `-t` expires `t` before it would have at 0.
//!
//! What a warm start leaves out (failures, rate limits, the time a miss
//! takes to fill) differs from the run's path only by what the run itself
//! changes: the cold-cache check still reads the measured window's halves.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use rand::RngExt;

use headroom_sim::Span;
use headroom_sim::dist::Dist;
use headroom_sim::rng::{Stream, Streams};

use super::World;
use super::data::{WarmCaches, WarmOp};
use super::workload::{diurnal_rate, exp_span, next_mmpp_state, pick_cdf, pick_entry};
use crate::plan::service::Scaling;
use crate::plan::workload::ArrivalPlan;
use crate::plan::{Plan, RegionId, ServiceId, StepPlan};

/// The warm start's random streams, apart from the run's.
struct WarmRngs {
    arrivals: Stream,
    origin: Stream,
    edge: Stream,
    entry: Stream,
    keys: Stream,
    ops: Stream,
    instances: Stream,
}

impl WarmRngs {
    fn new(streams: &Streams) -> Self {
        WarmRngs {
            arrivals: streams.stream("warm-start/arrivals"),
            origin: streams.stream("warm-start/origin"),
            edge: streams.stream("warm-start/edge"),
            entry: streams.stream("warm-start/entry"),
            keys: streams.stream("warm-start/keys"),
            ops: streams.stream("warm-start/ops"),
            instances: streams.stream("warm-start/instances"),
        }
    }
}

/// The warm start's arrival times on its own clock: nanoseconds in
/// `[0, span)`, standing for `[-span, 0)`.
struct Arrivals<'p> {
    process: &'p ArrivalPlan,
    span_ns: u64,
    /// The clock of the last arrival (or candidate, when thinning).
    at_ns: u64,
    /// MMPP: the current state and when it ends.
    state: usize,
    switch_ns: u64,
}

impl<'p> Arrivals<'p> {
    fn new(process: &'p ArrivalPlan, span: Span, rng: &mut Stream) -> Self {
        let mut a = Arrivals {
            process,
            span_ns: span.as_nanos(),
            at_ns: 0,
            state: 0,
            switch_ns: u64::MAX,
        };
        if let ArrivalPlan::Mmpp { holding, .. } = process {
            a.switch_ns = exp_span(holding[0], rng).as_nanos();
        }
        a
    }

    /// The next arrival, or `None` at the end of the span.
    fn next(&mut self, rng: &mut Stream) -> Option<u64> {
        loop {
            match self.process {
                ArrivalPlan::Poisson { rate } => {
                    self.at_ns = self.at_ns.saturating_add(exp_ns(1e9 / rate, rng));
                    return (self.at_ns < self.span_ns).then_some(self.at_ns);
                }
                // Thinning at the peak rate, with the rate function at the
                // real time `at - span` (before 0).
                ArrivalPlan::Diurnal {
                    mean,
                    amplitude,
                    period,
                    phase,
                } => {
                    let peak = mean * (1.0 + amplitude);
                    self.at_ns = self.at_ns.saturating_add(exp_ns(1e9 / peak, rng));
                    if self.at_ns >= self.span_ns {
                        return None;
                    }
                    let t = self.at_ns as f64 - self.span_ns as f64;
                    let rate = diurnal_rate(*mean, *amplitude, *period, *phase, t);
                    if rng.random::<f64>() * peak < rate {
                        return Some(self.at_ns);
                    }
                }
                // Exponential gaps at the state's rate up to its switch (a
                // gap crossing it is redrawn from the switch, memoryless).
                ArrivalPlan::Mmpp { rates, holding } => {
                    let gap = exp_ns(1e9 / rates[self.state], rng);
                    let next = self.at_ns.saturating_add(gap);
                    if next < self.switch_ns {
                        self.at_ns = next;
                        return (next < self.span_ns).then_some(next);
                    }
                    self.at_ns = self.switch_ns;
                    if self.at_ns >= self.span_ns {
                        return None;
                    }
                    self.state = next_mmpp_state(self.state, rates.len(), rng);
                    let hold = exp_span(holding[self.state], rng).as_nanos();
                    self.switch_ns = self.at_ns.saturating_add(hold);
                }
                // Refused by the plan (`run::check_warm_start`).
                ArrivalPlan::Trace(_) | ArrivalPlan::Closed { .. } => return None,
            }
        }
    }
}

/// Requests drawn ahead of the one passing the caches.
const AHEAD: usize = 8;

/// A warm-start request drawn, not yet through the caches.
struct Pending {
    now_ns: u64,
    edge_region: RegionId,
    entry: ServiceId,
    key: u64,
    write: bool,
    /// A read the edge cache may answer.
    cacheable: bool,
}

/// An exponential draw of mean `mean_ns`, at least 1 ns.
fn exp_ns(mean_ns: f64, rng: &mut Stream) -> u64 {
    Dist::Exponential { mean_ns }.sample(rng).as_nanos().max(1)
}

impl World<'_> {
    /// Fills the caches with the requests of `run.cache_warm_start` before
    /// time 0 (see the module). Call once the initial instances exist,
    /// before the first event.
    pub(super) fn warm_caches(&mut self, streams: &Streams) {
        let Some(span) = self.plan.run.cache_warm_start else {
            return;
        };
        let plan = self.plan;
        let w = &plan.workload;
        let mut rng = WarmRngs::new(streams);
        let mut arrivals = Arrivals::new(&w.arrivals, span, &mut rng.arrivals);
        // Requests are drawn `AHEAD` before they pass the caches, and the
        // memory of the copies each will look up first starts loading when
        // it is drawn: lookups in tiers of millions of keys are DRAM misses,
        // which then overlap. Each stream's draws are in request order
        // either way, so the outcome is the same.
        let mut ahead: VecDeque<Pending> = VecDeque::with_capacity(AHEAD);
        let mut drained = false;
        loop {
            while !drained && ahead.len() < AHEAD {
                match self.draw_warm_request(&mut arrivals, &mut rng) {
                    Some(p) => ahead.push_back(p),
                    None => drained = true,
                }
            }
            let Some(p) = ahead.pop_front() else {
                break;
            };
            let op = WarmOp {
                key: p.key,
                write: p.write,
                now_ns: p.now_ns,
                warm_end_ns: span.as_nanos(),
            };
            let edge = plan.data.edge_cache.as_ref().filter(|_| p.cacheable);
            if let Some(e) = edge
                && self
                    .data
                    .warm_edge_answers(e, p.edge_region, p.key, p.now_ns)
            {
                continue;
            }
            let stale = self.warm_call(p.entry, p.edge_region, op, &mut rng.instances);
            if let Some(e) = edge {
                self.data
                    .warm_edge_keeps(e, p.edge_region, p.key, (p.now_ns, stale));
            }
        }
        self.data.rebase_caches(span.as_nanos());
    }

    /// Draws the warm start's next request, and hints the memory of the
    /// edge copy and the shared tier copies it will look up first (`None`
    /// after the span).
    fn draw_warm_request(
        &mut self,
        arrivals: &mut Arrivals<'_>,
        rng: &mut WarmRngs,
    ) -> Option<Pending> {
        let w = &self.plan.workload;
        let now_ns = arrivals.next(&mut rng.arrivals)?;
        let origin = RegionId(pick_cdf(&w.origin_cdf, &mut rng.origin) as u8);
        let edge_region = self.routing.edge_region(origin, &mut rng.edge);
        let entry = w.entries[pick_entry(&w.entries, &mut rng.entry)].service;
        let (key, write) = self.data.draw_with(Some((&mut rng.keys, &mut rng.ops)));
        let cacheable = !write
            && self
                .plan
                .data
                .edge_cache
                .as_ref()
                .is_some_and(|e| e.cacheable(key));
        let region = self
            .routing
            .first_region(entry, edge_region)
            .unwrap_or(edge_region);
        self.data
            .prefetch_warm(key, edge_region, cacheable, region, write);
        Some(Pending {
            now_ns,
            edge_region,
            entry,
            key,
            write,
            cacheable,
        })
    }

    /// A warm-start call to `service` from `from`: to its first region, at
    /// a random initial instance, whose steps run in order (the call graph
    /// is acyclic, so the recursion ends). Returns whether a read of it was
    /// answered with an outdated value ([`DataState::warm_step`]).
    fn warm_call(
        &mut self,
        service: ServiceId,
        from: RegionId,
        op: WarmOp,
        rng: &mut Stream,
    ) -> bool {
        let Some(region) = self.routing.first_region(service, from) else {
            return false;
        };
        let n_regions = self.plan.network.regions.len();
        let d = &self.deployments[service.index() * n_regions + region.index()];
        let Some(&instance) = (match d.instances.len() {
            0 => None,
            1 => d.instances.first(),
            n => d.instances.get(rng.random_range(0..n)),
        }) else {
            return false;
        };
        let plan = self.plan;
        let mut stale = false;
        for step in &plan.services[service.index()].steps {
            match step {
                StepPlan::Data(store) => {
                    let store_plan = &plan.data.stores[store.index()];
                    stale |= self
                        .data
                        .warm_step(store_plan, *store, instance, region, op);
                }
                StepPlan::Call(_) | StepPlan::Parallel(_) => {
                    for t in step.targets() {
                        stale |= self.warm_call(t.service, region, op, rng);
                    }
                }
            }
        }
        stale
    }
}

/// What of `plan` its warm start depends on (`None` without one): `plan`
/// with every part the warm start never reads, and that does not shape the
/// caches or number the initial instances, set to one fixed value. Two
/// plans with equal keys leave the same caches in the same replication:
/// the warm start draws from the seed's streams, the workload, the routing
/// (regions, failover, the services' regions and steps), the initial
/// instances of each deployment and the stores' tiers, and reads nothing
/// else. What is not set here is kept, so a part added to the plan later
/// splits the sharing until it is known not to matter, never the reverse.
pub(crate) fn warm_key(plan: &Plan) -> Option<Plan> {
    plan.run.cache_warm_start?;
    let mut k = plan.clone();
    let run = &mut k.run;
    run.duration = Span::ZERO;
    run.warmup = Span::ZERO;
    run.auto_warmup = false;
    run.replications = 0;
    run.adaptive = None;
    run.interval = Span::ZERO;
    run.max_in_flight = 0;
    let none = || Dist::Deterministic { value_ns: 0 };
    for s in &mut k.services {
        s.workers = 0;
        s.queue = None;
        s.model = crate::scenario::ConcurrencyModel::default();
        s.work = none();
        s.boot_time = none();
        s.instance_type = None;
        s.adaptive_concurrency = None;
        // The autoscaler's only part in the warm start: how many it starts.
        s.scaling = Scaling::Fixed(s.scaling.initial());
        s.edges.iter_mut().for_each(no_mesh);
    }
    for st in &mut k.data.stores {
        st.shards = 1;
        st.copies.clear();
        st.read_copy.clear();
        st.workers = 0;
        st.queue = None;
        st.read = none();
        st.write = none();
        st.pool = None;
        st.rate_limit = None;
        st.retry = None;
        for t in &mut st.tiers {
            t.latency = Span::ZERO;
        }
    }
    k.edge_rate_limit = None;
    k.edge_adaptive_concurrency = None;
    let p = &mut k.policies;
    p.rate_limits.clear();
    p.edges.clear();
    p.autoscalers.clear();
    p.adaptive_concurrency.clear();
    no_mesh(&mut p.mesh);
    for e in &mut k.workload.entries {
        no_mesh(&mut e.policy);
    }
    k.faults.clear();
    k.costs = None;
    k.slo = None;
    let r = &mut k.recovery;
    r.triggers.clear();
    r.baseline_intervals = 0;
    r.hold_intervals = 0;
    r.goodput_tolerance = 0.0;
    r.p99_tolerance = 0.0;
    r.noise_sigmas = 0.0;
    r.max_instances = None;
    Some(k)
}

/// [`warm_key`]'s one value of a call edge's policy (the warm start's
/// calls never fail, wait or retry).
fn no_mesh(e: &mut headroom_policy::tables::EdgePolicy) {
    e.timeout = None;
    e.retry = None;
    e.circuit_breaker = None;
    e.fallback = None;
    e.hedge = None;
}

/// Warm starts shared by the runs of a batch (a sweep's or a search's):
/// runs of one replication whose plans have the same [`warm_key`] (a sweep
/// over workers, shards, replicas, prices or mesh policies) warm their
/// caches once, and the others start from a copy. A copy is exact, so
/// every output is byte-identical to the runs' without sharing; only the
/// time changes (a warm start of hours of requests is most of a short
/// run's).
pub struct WarmStarts {
    /// Per run of the batch: its slot, if another run shares it.
    of_run: Vec<Option<usize>>,
    slots: Vec<WarmSlot>,
    /// Per slot, its runs in batch order (slots numbered in the order of
    /// their first runs).
    members: Vec<Vec<usize>>,
    /// Runs with a warm start.
    warm_runs: usize,
}

/// Whether a warm start's copy is kept for the runs sharing it.
#[derive(Clone, Copy, Debug)]
pub enum KeepCopies {
    /// When the memory `available` then (bytes, `None` if not known) holds
    /// the copy with room to spare: at least `threads + 1` times its size
    /// (every thread's run may still grow its caches to as much).
    /// Otherwise the runs warm their own, as without sharing, so sharing
    /// never needs much more memory than the runs themselves. Always when
    /// the available memory is not known.
    IfRoom {
        /// Threads running the batch.
        threads: usize,
        /// Reads the memory available now (the caller's: this crate reads
        /// nothing of the machine).
        available: fn() -> Option<u64>,
    },
    /// Never: each run warms its own caches (tests).
    Never,
}

impl KeepCopies {
    /// Whether to keep a copy of `bytes`.
    fn keep(self, bytes: usize) -> bool {
        match self {
            KeepCopies::Never => false,
            KeepCopies::IfRoom { threads, available } => {
                available().is_none_or(|available| available / (threads as u64 + 1) >= bytes as u64)
            }
        }
    }
}

impl WarmStarts {
    /// The sharing among `runs`, each a plan and a replication, in batch
    /// order; copies kept as `keep` says.
    pub fn new<'p>(
        runs: impl IntoIterator<Item = (&'p Plan, u32)>,
        keep: KeepCopies,
    ) -> WarmStarts {
        // Keys by plan (a point's replications share its plan), then
        // groups of equal keys, found through a hash of their text and
        // checked whole.
        let mut keys: Vec<(*const Plan, Option<usize>)> = Vec::new();
        let mut groups: Vec<Plan> = Vec::new();
        let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut group_of = |plan: &Plan| -> Option<usize> {
            let ptr = std::ptr::from_ref(plan);
            if let Some(&(_, g)) = keys.iter().find(|(p, _)| *p == ptr) {
                return g;
            }
            let g = warm_key(plan).map(|key| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                format!("{key:?}").hash(&mut h);
                let same = by_hash.entry(h.finish()).or_default();
                match same.iter().find(|&&g| groups[g] == key) {
                    Some(&g) => g,
                    None => {
                        groups.push(key);
                        same.push(groups.len() - 1);
                        groups.len() - 1
                    }
                }
            });
            keys.push((ptr, g));
            g
        };
        let runs: Vec<Option<(usize, u32)>> = runs
            .into_iter()
            .map(|(plan, r)| group_of(plan).map(|g| (g, r)))
            .collect();
        // Every warm start's runs, then a slot for each with more than one.
        let mut by_start: HashMap<(usize, u32), usize> = HashMap::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        for (i, run) in runs.iter().enumerate() {
            if let Some(run) = run {
                let m = *by_start.entry(*run).or_insert_with(|| {
                    members.push(Vec::new());
                    members.len() - 1
                });
                members[m].push(i);
            }
        }
        members.retain(|m| m.len() > 1);
        let mut of_run = vec![None; runs.len()];
        for (slot, m) in members.iter().enumerate() {
            m.iter().for_each(|&i| of_run[i] = Some(slot));
        }
        WarmStarts {
            of_run,
            slots: members
                .iter()
                .map(|m| WarmSlot::new(m.len(), keep))
                .collect(),
            members,
            warm_runs: runs.iter().flatten().count(),
        }
    }

    /// The slot run `run` shares, if it shares one.
    pub fn slot(&self, run: usize) -> Option<&WarmSlot> {
        self.of_run
            .get(run)
            .copied()
            .flatten()
            .map(|s| &self.slots[s])
    }

    /// Runs with a warm start, and the warm starts they run: one per slot
    /// and one per run sharing none.
    pub fn counts(&self) -> (usize, usize) {
        let shared: usize = self.members.iter().map(Vec::len).sum();
        (self.warm_runs, self.warm_runs - shared + self.slots.len())
    }

    /// An order to start the runs in on `threads` threads, so that a slot's
    /// first run warms its caches while the others' runs start theirs and
    /// few copies are held at once: slots `threads` at a time, the first
    /// run of each, runs sharing nothing for the threads the batch leaves
    /// free (rather than waiting), then the batch's other runs in batch
    /// order; the runs sharing nothing left over last. Each run's output is
    /// the same in any order, and no run waits for one that has not
    /// started.
    pub fn order(&self, threads: usize) -> Vec<usize> {
        let threads = threads.max(1);
        let mut alone = (0..self.of_run.len()).filter(|&r| self.of_run[r].is_none());
        let mut order = Vec::with_capacity(self.of_run.len());
        for batch in self.members.chunks(threads) {
            order.extend(batch.iter().map(|m| m[0]));
            order.extend(alone.by_ref().take(threads - batch.len()));
            let start = order.len();
            order.extend(batch.iter().flat_map(|m| &m[1..]));
            order[start..].sort_unstable();
        }
        order.extend(alone);
        order
    }
}

/// One warm start shared by `users` runs: the first to come warms the
/// caches and leaves a copy, the others wait for it and take one; the copy
/// is freed when the last has taken it.
pub struct WarmSlot {
    users: usize,
    keep: KeepCopies,
    state: Mutex<SlotState>,
    ready: Condvar,
}

enum SlotState {
    /// No run has come yet.
    Empty,
    /// A run is warming the caches.
    Warming,
    /// The caches, for this many runs still to come.
    Ready(Arc<WarmCaches>, usize),
    /// Every run has taken its copy, or no copy was kept: a run that
    /// comes warms its own.
    Own,
}

impl WarmSlot {
    fn new(users: usize, keep: KeepCopies) -> WarmSlot {
        WarmSlot {
            users,
            keep,
            state: Mutex::new(SlotState::Empty),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives `world` its warm caches: warms them if it is the first run to
    /// come (leaving a copy for the others when there is room for one),
    /// else waits for the first and takes a copy, or warms its own when
    /// none was left.
    pub(super) fn warm(&self, world: &mut World<'_>, streams: &Streams) {
        let mut state = self.lock();
        loop {
            match &mut *state {
                SlotState::Empty => {
                    *state = SlotState::Warming;
                    drop(state);
                    // Should the warm start not finish, the next run to
                    // come warms the caches instead of waiting forever.
                    let mut reset = ResetOnUnwind(Some(self));
                    world.warm_caches(streams);
                    let next = if self.keep.keep(world.data.warm_bytes()) {
                        SlotState::Ready(Arc::new(world.data.warm_copy()), self.users - 1)
                    } else {
                        SlotState::Own
                    };
                    reset.0 = None;
                    *self.lock() = next;
                    self.ready.notify_all();
                    return;
                }
                SlotState::Warming => {
                    state = self
                        .ready
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                SlotState::Ready(caches, left) => {
                    let caches = Arc::clone(caches);
                    *left -= 1;
                    if *left == 0 {
                        *state = SlotState::Own;
                    }
                    drop(state);
                    // The last run takes the copy itself once no other
                    // holds it.
                    let caches = Arc::try_unwrap(caches).unwrap_or_else(|c| (*c).clone());
                    world.data.install_warm(caches);
                    return;
                }
                SlotState::Own => {
                    drop(state);
                    world.warm_caches(streams);
                    return;
                }
            }
        }
    }
}

/// Puts a slot back to [`SlotState::Empty`] if its warm start unwinds.
struct ResetOnUnwind<'s>(Option<&'s WarmSlot>);

impl Drop for ResetOnUnwind<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.0 {
            *slot.lock() = SlotState::Empty;
            slot.ready.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::Path;
    use std::sync::atomic::AtomicU64;

    use headroom_sim::exec::{Threads, run_in_order};

    /// The seed (every kind of cache: an instance-scope L1, region and
    /// global tiers, the edge cache; writes; four regions; an autoscaled
    /// API tier), shortened: 2 s at 300 requests/s after a 30 s warm start.
    fn seed(sets: &[&str]) -> Plan {
        let mut all: Vec<String> = [
            "run.duration=\"2s\"",
            "run.warmup=\"0s\"",
            "run.cache_warm_start=\"30s\"",
            "workload.arrivals.rate=300",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        all.extend(sets.iter().map(|s| (*s).to_owned()));
        let text = include_str!("../../../experiments/seed.toml");
        match crate::load_str(Path::new("experiments/seed.toml"), text, &all) {
            Ok(loaded) => loaded.plan,
            Err(e) => panic!("{e}"),
        }
    }

    /// A run's whole output, as text (every field, floats exactly).
    fn output(plan: &Plan, r: u32, warm: Option<&WarmSlot>) -> String {
        match super::super::run_replication_with(plan, r, &AtomicU64::new(0), warm) {
            Ok(out) => format!("{out:?}"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_key_keeps_what_the_warm_start_reads_and_nothing_else() {
        let base = warm_key(&seed(&[])).expect("a warm start");
        let same = [
            "services.api.instance.workers=4",
            "datastores.users.shards=4",
            "datastores.users.replicas=[\"us-west\"]",
            "policy.autoscaler.api.max_replicas=7",
            "policy.mesh.timeout=\"1s\"",
            "run.duration=\"9s\"",
            "run.warmup=\"1s\"",
        ];
        for set in same {
            let k = warm_key(&seed(&[set])).expect("a warm start");
            assert!(k == base, "{set} splits");
        }
        let different = [
            "policy.autoscaler.api.min_replicas=2",
            "datastores.users.cache.0.capacity=\"1MB\"",
            "run.seed=43",
            "run.cache_warm_start=\"31s\"",
            "workload.read_fraction=0.9",
            "workload.arrivals.rate=301",
        ];
        for set in different {
            assert!(
                warm_key(&seed(&[set])) != Some(base.clone()),
                "{set} shares"
            );
        }
        assert!(warm_key(&seed(&["run.cache_warm_start=\"0s\""])).is_none());
    }

    /// Runs sharing warm starts (on two threads, in the order the sharing
    /// asks for) give every output of the same runs each warming its own
    /// caches: points that differ in what the warm start never reads share
    /// one per replication, the others their own.
    #[test]
    fn runs_sharing_a_warm_start_give_the_outputs_of_runs_warming_their_own() {
        let plans = [
            seed(&[]),
            seed(&["services.api.instance.workers=4"]),
            seed(&[
                "datastores.users.shards=4",
                "datastores.users.replicas=[\"us-west\"]",
            ]),
            seed(&["policy.autoscaler.api.min_replicas=2"]),
            seed(&[
                "policy.autoscaler.api.min_replicas=2",
                "services.api.instance.workers=4",
            ]),
            seed(&["datastores.users.cache.0.capacity=\"1MB\""]),
        ];
        let runs: Vec<(usize, u32)> = (0..plans.len()).flat_map(|p| [(p, 0), (p, 1)]).collect();
        let warm = WarmStarts::new(
            runs.iter().map(|&(p, r)| (&plans[p], r)),
            KeepCopies::IfRoom {
                threads: 2,
                available: || None,
            },
        );
        // Three groups (0-2, 3-4, 5) of two replications: 6 warm starts
        // for 12 runs, two of them not shared (point 5's).
        assert_eq!(warm.counts(), (12, 6));
        assert!(warm.slot(10).is_none() && warm.slot(11).is_none());
        let shared = run_in_order(&warm.order(2), Threads::from_count(2), |j| {
            let (p, r) = runs[j];
            output(&plans[p], r, warm.slot(j))
        })
        .expect("threads");
        for (&(p, r), got) in runs.iter().zip(&shared) {
            assert!(
                *got == output(&plans[p], r, None),
                "point {p} replication {r} differs"
            );
        }
        // Not a vacuous comparison: the groups' caches differ.
        assert!(shared[0] != shared[6] && shared[0] != shared[10]);
        // Without room for a copy, the runs sharing a slot warm their own.
        let own = WarmStarts::new(runs.iter().map(|&(p, r)| (&plans[p], r)), KeepCopies::Never);
        let unshared = run_in_order(&own.order(2), Threads::from_count(2), |j| {
            let (p, r) = runs[j];
            output(&plans[p], r, own.slot(j))
        })
        .expect("threads");
        assert!(unshared == shared);
    }

    /// The order starts every run once, each slot's first run before its
    /// others, at most `threads` slots' firsts before their others, and
    /// fills a batch's free threads with runs sharing nothing.
    #[test]
    fn the_order_starts_the_warming_runs_first_and_fills_free_threads() {
        let a = seed(&[]);
        let b = seed(&["policy.autoscaler.api.min_replicas=2"]);
        let c = seed(&["datastores.users.cache.0.capacity=\"1MB\""]);
        // Points a, a', b, b', c (c shares with no one), 2 replications,
        // point-major as a sweep lists them: slots (a, 0), (a, 1), (b, 0),
        // (b, 1); runs 8 and 9 alone.
        let points = [&a, &a, &b, &b, &c];
        let runs: Vec<(&Plan, u32)> = points.iter().flat_map(|p| [(*p, 0), (*p, 1)]).collect();
        let warm = WarmStarts::new(runs.iter().copied(), KeepCopies::Never);
        assert_eq!(warm.counts(), (10, 6));
        assert_eq!(warm.order(2), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(warm.order(3), [0, 1, 4, 2, 3, 6, 5, 8, 9, 7]);
        assert_eq!(warm.order(8), [0, 1, 4, 5, 8, 9, 2, 3, 6, 7]);
        for threads in 1..6 {
            let order = warm.order(threads);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>(), "{threads}");
            let at = |run: usize| order.iter().position(|&r| r == run);
            for (first, other) in [(0, 2), (1, 3), (4, 6), (5, 7)] {
                assert!(at(first) < at(other), "{threads}: {order:?}");
            }
        }
    }

    #[test]
    fn a_copy_is_kept_only_with_room_for_it() {
        // Three threads: a copy needs four times its size available.
        let with = |available: fn() -> Option<u64>| KeepCopies::IfRoom {
            threads: 3,
            available,
        };
        assert!(with(|| Some(4 << 30)).keep(1 << 30));
        assert!(!with(|| Some(4 << 30)).keep((1 << 30) + 1));
        assert!(with(|| None).keep(usize::MAX), "not known: kept");
        assert!(!KeepCopies::Never.keep(0));
    }

    /// A world given a copy of the caches its warm start leaves (as the
    /// second pass of `warmup = "auto"` is) runs as one that warmed its own.
    #[test]
    fn a_copy_of_the_warm_caches_runs_as_the_warm_start() {
        let plan = seed(&[]);
        let run = |warm: super::super::WarmFrom<'_>| {
            let mut world = World::new(&plan, 1, warm);
            world.run(&AtomicU64::new(0)).expect("runs");
            format!("{:?}", world.finish(1))
        };
        let first = World::new(&plan, 1, super::super::WarmFrom::Run);
        let copied = run(super::super::WarmFrom::Copy(first.data.warm_copy()));
        assert!(copied == run(super::super::WarmFrom::Run));
        assert!(
            copied
                != run(super::super::WarmFrom::Copy(
                    World::new(&plan, 0, super::super::WarmFrom::Run)
                        .data
                        .warm_copy()
                ))
        );
    }

    /// Arrival times of `process` over a warm start of `span_s` seconds.
    fn times(process: &ArrivalPlan, span_s: u64) -> Vec<u64> {
        let mut rng = headroom_sim::rng::stream(7, 0, "warm-start/arrivals");
        let mut a = Arrivals::new(process, Span::from_secs(span_s), &mut rng);
        std::iter::from_fn(|| a.next(&mut rng)).collect()
    }

    /// Checks a Poisson-like count against its mean within 4.5 standard
    /// deviations (`sd` given, or the Poisson one).
    fn near(label: &str, count: usize, mean: f64, sd: Option<f64>) {
        let sd = sd.unwrap_or(mean.sqrt());
        let count = count as f64;
        assert!(
            (count - mean).abs() < 4.5 * sd,
            "{label}: {count} vs {mean} ± {sd}"
        );
    }

    #[test]
    fn warm_arrivals_follow_the_rate_before_time_zero() {
        let poisson = times(&ArrivalPlan::Poisson { rate: 1000.0 }, 100);
        near("poisson", poisson.len(), 100_000.0, None);
        assert!(poisson.windows(2).all(|w| w[0] < w[1]), "increasing");
        assert!(
            poisson.iter().all(|&t| t < 100_000_000_000),
            "within the span"
        );

        // Rate 1000 (1 + 0.5 sin(2 pi t / 100 s)) on [-100 s, 0): the first
        // half, [-100, -50), has 50 000 + 500 x 100 / pi arrivals on
        // average, the second 50 000 - 500 x 100 / pi.
        let diurnal = times(
            &ArrivalPlan::Diurnal {
                mean: 1000.0,
                amplitude: 0.5,
                period: Span::from_secs(100),
                phase: Span::ZERO,
            },
            100,
        );
        let first = diurnal.iter().filter(|&&t| t < 50_000_000_000).count();
        let swing = 500.0 * 100.0 / std::f64::consts::PI;
        near("diurnal, first half", first, 50_000.0 + swing, None);
        near(
            "diurnal, second half",
            diurnal.len() - first,
            50_000.0 - swing,
            None,
        );

        // Two states of 100/s and 1900/s held 10 s each on average: 1000/s
        // in the long run. Its count over 2000 s varies by the states'
        // holding times: about 200 holdings of rate 900 away from the mean
        // for 10 s each, sd ~ sqrt(200) x 900 x 10.
        let mmpp = times(
            &ArrivalPlan::Mmpp {
                rates: vec![100.0, 1900.0],
                holding: vec![Span::from_secs(10), Span::from_secs(10)],
            },
            2000,
        );
        near(
            "mmpp",
            mmpp.len(),
            2_000_000.0,
            Some(200f64.sqrt() * 9000.0),
        );
    }
}
