//! The world of one replication and its event loop.
//!
//! A run is pure: `(plan, replication)` determines every event. The world is
//! arrays of component state (deployments of a service in a region, their
//! instances) plus three slabs of in-flight records: client requests, calls
//! (one logical call from a caller to a service, across its retries) and
//! attempts (one try of a call at one instance). A request is a tree: its
//! root call goes from the edge to the entry service; an attempt runs local
//! work on a worker and then its service's steps, each step a call (or a
//! parallel fan-out of calls) whose answers it joins. Every resilience and
//! scaling decision is made by `headroom-policy`; this module only moves
//! events.
//!
//! Events are small `Copy` values naming the record they belong to by
//! generational id. Timers (per-try timeouts, backoff, health checks,
//! autoscaler syncs) are ordinary events; a timer whose record has ended is
//! recognised as stale when popped (its id no longer resolves, or its try
//! number no longer matches) and dropped, so nothing is ever cancelled.
//!
//! Concerns live in one module each: [`workload`] (arrivals and the edge),
//! [`mesh`] (calls, tries, work, steps), [`instance`] (instances,
//! deployments, booting and draining), [`routing`] (regions, failover,
//! health checks, outlier ejection), [`autoscaling`], [`faults`],
//! [`data`] (keys, cache tiers, shards, pools), [`warm`] (the caches' warm
//! start, before time 0), and [`stats`] (counters, time series, costs and
//! the run report).
//!
//! Handlers of rare events (boots, crashes, health checks, syncs, outages,
//! ticks, breaker and hedge timers, timeout lanes) are `#[inline(never)]`:
//! they stay out of the dispatch loop, so that the arrival and work paths
//! keep their values in registers.
//!
//! Arrivals stop at `run.duration`; everything in flight is then served to
//! completion (drained), so every arrival ends exactly once. Periodic timers
//! stop re-arming once the world is idle after the end. Should a record be
//! left in flight with nothing to end it (a bug), the run still ends: once
//! only those timers are left, the queue is dropped and the books report
//! what was left ([`Events`]).

mod autoscaling;
mod data;
mod faults;
mod hedge;
mod instance;
mod mesh;
mod replay;
mod routing;
mod stats;
mod synth;
#[cfg(test)]
mod tests;
mod timers;
mod warm;
mod workload;

use std::sync::atomic::{AtomicU64, Ordering};

use headroom_sim::Timestamp;
use headroom_sim::queue::EventQueue;
use headroom_sim::rng::{Stream, Streams};
use headroom_sim::slab::{Id, Slab};

use crate::plan::{Plan, ServiceId};
use crate::report::RunOutput;

use instance::{Deployment, Instance};
use mesh::{Attempt, Call, ClientRef, Reply, Request};
use routing::Routing;
use stats::Stats;
use workload::Workload;

pub use synth::{Synth, SynthRequest};
pub use warm::{KeepCopies, WarmSlot, WarmStarts};

/// A replication stopped before its end.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RunError {
    /// More requests were in flight than `run.max_in_flight` allows: the
    /// offered load exceeds capacity and an unbounded queue grew without
    /// limit.
    #[error(
        "unstable: {in_flight} requests in flight at t = {at_s:.3} s exceeds run.max_in_flight; \
         the offered load exceeds capacity and the queue grows without bound \
         (bound `instance.queue`, add capacity, or raise `run.max_in_flight`)"
    )]
    Unstable {
        /// Simulated seconds when the limit was hit.
        at_s: f64,
        /// Requests in flight then.
        in_flight: u64,
    },
    /// More sessions were open at once than the simulator holds: sessions
    /// start faster than they end.
    #[error(
        "{sessions} sessions open at t = {at_s:.3} s: sessions start faster than they end \
         (fewer requests per session, a shorter `workload.session.think`, or a lower \
         session rate)"
    )]
    TooManySessions {
        /// Simulated seconds when the limit was hit.
        at_s: f64,
        /// Sessions open then.
        sessions: u64,
    },
    /// A replayed trace could not be read during the run (it was checked
    /// when the scenario was loaded, so the file changed or I/O failed).
    #[error("trace replay: {message}")]
    Trace {
        /// What went wrong, naming the file.
        message: String,
    },
    /// Long after the end of arrivals, work was still in flight: draining
    /// it had taken more than 16 times the events of the arrival phase
    /// (and at least 2^24), as when a work
    /// or latency distribution is hours long in a run of seconds, and the
    /// periodic timers (health checks, autoscaler syncs, pool timers) would
    /// otherwise be simulated until it ends.
    #[error(
        "did not drain: {after_s:.0} simulated seconds after the end of arrivals, \
         {requests} requests, {tries} tries and {data_ops} data operations were still in flight; \
         {cause} (a unit slip, such as \"100000h\" for \"100ms\"?): shorten it, or lengthen `run.duration`"
    )]
    Undrained {
        /// Simulated seconds past the end of arrivals when the run stopped.
        after_s: f64,
        /// Requests still in flight.
        requests: u64,
        /// Tries still at an instance.
        tries: u64,
        /// Data operations still in flight.
        data_ops: u64,
        /// The likely cause: the request-path times longer than the whole
        /// run, named by their scenario keys
        /// ([`crate::Plan::times_longer_than_run`]), or a general hint when
        /// there are none.
        cause: String,
    },
    /// The engine's books did not balance: a bug in Headroom, never a
    /// property of the scenario.
    #[error(
        "internal error: replication {replication} does not conserve requests ({what}); \
         please report it with the scenario and seed"
    )]
    Conservation {
        /// The replication.
        replication: u32,
        /// What does not balance.
        what: String,
    },
}

/// A drain (the events after the end of arrivals, which serve what is
/// still in flight) may take this many times the events of the arrival
/// phase before the run stops with [`RunError::Undrained`]. An ordinary
/// drain serves one queue's worth of work and takes a small fraction of
/// them; its periodic timers stop once the world is idle.
const DRAIN_FACTOR: u64 = 16;

/// ... and at least this many events, so that a short run's drain is not
/// cut (16.8 M: a second or two of simulation).
const DRAIN_MIN_EVENTS: u64 = 1 << 24;

/// What [`RunError::Undrained`] names as the likely cause: the longest
/// request-path time longer than the run (and how many more there are), or
/// a general hint.
fn undrained_cause(plan: &Plan) -> String {
    let long = plan.times_longer_than_run();
    let Some((key, mean)) = long.first() else {
        return "some work, read, write or latency distribution is far longer than the run"
            .to_owned();
    };
    let run = plan.run.duration;
    let mut cause = format!(
        "`{key}` has a mean of {}, longer than the whole run ({run})",
        approx_duration(*mean)
    );
    match long.len() - 1 {
        0 => {}
        1 => cause.push_str(&format!(", and so has `{}`", long[1].0)),
        n => cause.push_str(&format!(", and so have {n} more (`{}`, ...)", long[1].0)),
    }
    cause
}

/// `ns` in the largest unit it is at least one of (h, m, s, ms, us, ns), to
/// three significant digits: `100000h`, `2.5ms`.
pub(crate) fn approx_duration(ns: f64) -> String {
    const UNITS: [(f64, &str); 6] = [
        (3.6e12, "h"),
        (6e10, "m"),
        (1e9, "s"),
        (1e6, "ms"),
        (1e3, "us"),
        (1.0, "ns"),
    ];
    let (scale, unit) = UNITS
        .into_iter()
        .find(|(scale, _)| ns >= *scale)
        .unwrap_or((1.0, "ns"));
    let value = ns / scale;
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{unit}")
}

/// Runs replication `replication` of `plan`.
///
/// `progress` accumulates simulated nanoseconds advanced (arrival phase only),
/// for a progress display; pass a fresh `AtomicU64` if unused.
pub fn run_replication(
    plan: &Plan,
    replication: u32,
    progress: &AtomicU64,
) -> Result<RunOutput, RunError> {
    run_replication_with(plan, replication, progress, None)
}

/// [`run_replication`], whose caches' warm start `warm` may share with
/// other runs of the same batch ([`WarmStarts::slot`]); the output is the
/// same either way.
pub fn run_replication_with(
    plan: &Plan,
    replication: u32,
    progress: &AtomicU64,
    warm: Option<&WarmSlot>,
) -> Result<RunOutput, RunError> {
    prepare_replication(plan, replication, warm).run(progress)
}

/// A replication whose world is built and whose caches are warm
/// (`run.cache_warm_start`), ready to [`run`](Prepared::run), on this
/// thread or another: a batch can warm one replication's caches while
/// another runs ([`headroom_sim::exec::run_staged`]).
pub struct Prepared<'p> {
    world: World<'p>,
    replication: u32,
    /// `warmup = "auto"`: a copy of the warm caches for the second pass.
    kept: Option<data::WarmCaches>,
}

/// The first stage of [`run_replication_with`]: builds replication
/// `replication`'s world and warms its caches. Running the result gives
/// exactly what `run_replication_with` gives.
pub fn prepare_replication<'p>(
    plan: &'p Plan,
    replication: u32,
    warm: Option<&WarmSlot>,
) -> Prepared<'p> {
    let world = World::new(
        plan,
        replication,
        warm.map_or(WarmFrom::Run, WarmFrom::Shared),
    );
    // `warmup = "auto"` runs the replication twice: the second pass starts
    // from a copy of the first's warm caches.
    let kept = (plan.run.auto_warmup && plan.run.cache_warm_start.is_some())
        .then(|| world.data.warm_copy());
    Prepared {
        world,
        replication,
        kept,
    }
}

impl Prepared<'_> {
    /// Runs the replication; `progress` as [`run_replication`]'s.
    pub fn run(self, progress: &AtomicU64) -> Result<RunOutput, RunError> {
        let Prepared {
            mut world,
            replication,
            kept,
        } = self;
        let plan = world.plan;
        world.run(progress)?;
        let mut out = match world.stats.transient.take() {
            None => world.finish(replication),
            // `warmup = "auto"`: this was the pilot pass. MSER-5 picks a
            // truncation from its latency series and one from each cache's
            // hit ratio (a cache fills long after queues settle), the latest
            // wins, and the replication runs again with that warm-up: a
            // replication is a pure function of (plan, replication), so the
            // second pass sees exactly the same trajectory and measures it
            // after the truncation.
            Some(transient) => {
                let choice = auto_truncation(
                    headroom_sim::stats::mser5(&transient.series()),
                    world
                        .cache_transients()
                        .iter()
                        .map(|s| headroom_sim::stats::mser5(s)),
                );
                let truncation = choice.map_or(headroom_sim::Span::ZERO, |t| {
                    headroom_sim::Span::from_nanos(
                        transient.width().as_nanos() * t.observations as u64,
                    )
                });
                let mut measured = plan.clone();
                measured.run.auto_warmup = false;
                measured.run.warmup = truncation.min(headroom_sim::Span::from_nanos(
                    plan.run.duration.as_nanos() / 2,
                ));
                let warm = kept.map_or(WarmFrom::Run, WarmFrom::Copy);
                let mut world = World::new(&measured, replication, warm);
                world.run(&AtomicU64::new(0))?;
                let mut out = world.finish(replication);
                out.warmup_at_limit = choice.is_none_or(|t| t.at_limit);
                out
            }
        };
        if !plan.recovery.triggers.is_empty() {
            out.metrics.recovery = Some(crate::recovery::measure_run(&plan.recovery, &out));
        }
        match out.audit.violation() {
            None => Ok(out),
            Some(what) => Err(RunError::Conservation { replication, what }),
        }
    }
}

/// The truncation `warmup = "auto"` takes: the latest of MSER-5's on the
/// latency (`latency`) and on each cache's hit ratio (`caches`; a cache
/// never looked up has none), at its limit if any of them is. `None` when
/// the latency has none (too few answers), as before caches counted.
fn auto_truncation(
    latency: Option<headroom_sim::stats::Truncation>,
    caches: impl IntoIterator<Item = Option<headroom_sim::stats::Truncation>>,
) -> Option<headroom_sim::stats::Truncation> {
    let mut choice = latency?;
    for cache in caches.into_iter().flatten() {
        let at_limit = choice.at_limit || cache.at_limit;
        if cache.observations > choice.observations {
            choice = cache;
        }
        choice.at_limit = at_limit;
    }
    Some(choice)
}

/// Where a new world's warm caches come from (`run.cache_warm_start`).
enum WarmFrom<'a> {
    /// Its own warm start (nothing without one).
    Run,
    /// A warm start it shares with other runs.
    Shared(&'a WarmSlot),
    /// A copy of the caches its own warm start would leave.
    Copy(data::WarmCaches),
    /// Its own warm start, marking every copy a write leaves outdated,
    /// even those the run cannot reach (tests).
    #[cfg(test)]
    RunMarkingAll,
}

/// Everything that happens, at a time.
#[derive(Clone, Copy, Debug)]
enum Event {
    /// The next client request arrives.
    Arrival,
    /// A closed workload's user sends its next request.
    Issue { user: u32 },
    /// A step of a closed workload's population stage.
    Population { stage: u16, step: u32 },
    /// A try reaches its instance.
    TryArrive { attempt: Id },
    /// An attempt's local work ends.
    WorkDone { attempt: Id },
    /// A try's outcome reaches its caller.
    TryResponse { call: Id, number: u32, reply: Reply },
    /// Deadlines of a timeout lane are due (see [`timers`]).
    Lane { lane: u8 },
    /// A call's backoff ends: send the next try.
    Retry { call: Id },
    /// A call's overall deadline, armed at its first retry (see
    /// [`mesh::Call::deferred_lane`]).
    CallDeadline { call: Id },
    /// A hedged call's hedge timer (see [`hedge`]).
    Hedge { call: Id },
    /// A call ends without a try (the breaker refused it), delivered as an
    /// event so that starting a call never finishes one synchronously.
    Refused { call: Id },
    /// A client whose edge is in a dark region gives up connecting
    /// (`network.connect_timeout` after it tried).
    Unreachable { request: Id },
    /// A breaker's open interval ends (eager Open -> HalfOpen).
    BreakerTimer { client: ClientRef },
    /// An instance finishes booting.
    Boot { instance: Id },
    /// An instance crashes.
    Crash { instance: Id },
    /// A deployment's health checker or outlier detector is due.
    HealthTimer { deployment: u32 },
    /// The region checks of the global failover are due.
    RegionCheck,
    /// A deployment's autoscaler syncs.
    Sync { deployment: u32 },
    /// A region outage starts.
    OutageStart { region: u8 },
    /// A region outage ends.
    OutageEnd { region: u8 },
    /// The warm-up ends: statistics start.
    WarmupEnd,
    /// A time-series interval ends.
    Tick,
    /// Arrivals end; the last interval closes.
    End,
    /// A data operation's next stage is due (see [`data`]).
    Data { op: Id },
    /// The timeout (`datastores.*.timeout`) of a data operation's try
    /// `number` is due, if it is still waited for.
    DataTimeout { op: Id, number: u32 },
    /// A pool connect finished.
    PoolConnected {
        slot: u32,
        epoch: u32,
        conn_index: u32,
        conn_generation: u32,
    },
    /// A pool's timer (waiter deadline, idle or lifetime expiry) is due.
    PoolTimer { slot: u32, epoch: u32 },
    /// A cache tier is flushed.
    CacheFlush { store: u16, tier: u8 },
    /// A store's failover is due: promote a replica if its primary's region
    /// has been dark since `datastores.*.failover.after` ago.
    Promote { store: u16 },
}

impl Event {
    /// Timers that re-arm themselves while anything is in flight (autoscaler
    /// syncs, health and region checks, pool timers, crashes). Every other
    /// event moves something in flight on or ends by itself, so a world
    /// with records in flight after the end whose queue holds nothing else
    /// can never drain (see [`Events`]).
    #[inline]
    fn is_housekeeping(&self) -> bool {
        matches!(
            self,
            Event::Sync { .. }
                | Event::HealthTimer { .. }
                | Event::RegionCheck
                | Event::PoolTimer { .. }
                | Event::Crash { .. }
        )
    }
}

/// The event queue, counting the housekeeping timers it holds
/// ([`Event::is_housekeeping`]). A record left in flight with no event to
/// end it (a bug) would keep those timers re-arming forever after the end,
/// and the run would never return; counting them lets the loop see that
/// nothing else is left and stop, and the books then report what was left
/// ([`RunError::Conservation`]). Housekeeping timers are scheduled with
/// their own method, so the other events' paths pay nothing for the count
/// (debug builds check that every event is scheduled with the right one).
struct Events {
    queue: EventQueue<Event>,
    housekeeping: usize,
}

impl Events {
    fn with_capacity(n: usize) -> Self {
        Events {
            queue: EventQueue::with_capacity(n),
            housekeeping: 0,
        }
    }

    /// Schedules `event`, not a housekeeping timer, at `time` (see
    /// [`EventQueue::push`]).
    #[inline]
    fn push(&mut self, time: Timestamp, event: Event) {
        debug_assert!(
            !event.is_housekeeping(),
            "{event:?} is scheduled with push_housekeeping"
        );
        self.queue.push(time, event);
    }

    /// Schedules `event`, not a housekeeping timer, at `time` on the side
    /// lane (see [`EventQueue::push_side`]).
    #[inline]
    fn push_side(&mut self, time: Timestamp, event: Event) {
        debug_assert!(
            !event.is_housekeeping(),
            "{event:?} is scheduled with push_housekeeping"
        );
        self.queue.push_side(time, event);
    }

    /// Schedules a housekeeping timer at `time`.
    fn push_housekeeping(&mut self, time: Timestamp, event: Event) {
        debug_assert!(event.is_housekeeping(), "{event:?} is scheduled with push");
        self.housekeeping += 1;
        self.queue.push(time, event);
    }

    /// Takes the next event. A housekeeping timer is handled by
    /// [`World::on_housekeeping`], which takes it off the count (there, so
    /// that no other event's kind is tested twice).
    #[inline]
    fn pop(&mut self) -> Option<(Timestamp, Event)> {
        self.queue.pop()
    }
}

/// Named random streams: one per component, so adding a component never
/// changes another's draws, and replication r of every sweep point draws the
/// same arrivals (common random numbers).
struct Rngs {
    arrivals: Stream,
    mmpp: Stream,
    clients: Stream,
    origin: Stream,
    entry: Stream,
    edge: Stream,
    /// Sessions' lengths, drawn as they start (so replication r of every
    /// sweep point starts the same sessions), and their think times.
    session_lengths: Stream,
    session_think: Stream,
    /// Whether a session whose request failed gives up, and how patient
    /// each session's user is (drawn as it starts).
    session_abandon: Stream,
    session_patience: Stream,
    /// Per service: work, boot, faults, mesh (retry jitter), routing.
    services: Vec<ServiceRngs>,
    /// Per region, with `edge.adaptive_concurrency`: its edge controller's
    /// minRTT jitter.
    edge_concurrency: Vec<Stream>,
}

struct ServiceRngs {
    work: Stream,
    boot: Stream,
    faults: Stream,
    crash: Stream,
    mesh: Stream,
    routing: Stream,
    /// Adaptive concurrency's minRTT jitter.
    pub(super) concurrency: Stream,
}

impl Rngs {
    /// The stream an edge client draws its retry jitter and hedge choices
    /// from: the edge's own, or its calling service's `mesh` stream.
    fn mesh(&mut self, client: mesh::ClientRef) -> &mut Stream {
        match client {
            mesh::ClientRef::Edge { .. } => &mut self.edge,
            mesh::ClientRef::Instance { service, .. } => {
                &mut self.services[usize::from(service)].mesh
            }
        }
    }

    fn new(plan: &Plan, streams: &Streams) -> Self {
        Rngs {
            arrivals: streams.stream("workload/arrivals"),
            mmpp: streams.stream("workload/mmpp"),
            clients: streams.stream("workload/clients"),
            origin: streams.stream("workload/origin"),
            entry: streams.stream("workload/entry"),
            edge: streams.stream("edge"),
            edge_concurrency: match plan.edge_adaptive_concurrency {
                Some(_) => plan
                    .network
                    .region_ids()
                    .map(|r| {
                        let name = plan.network.name(r);
                        streams.stream(&format!("edge/{name}/adaptive_concurrency"))
                    })
                    .collect(),
                None => Vec::new(),
            },
            session_lengths: streams.stream("workload/session-lengths"),
            session_think: streams.stream("workload/session-think"),
            session_abandon: streams.stream("workload/session-abandon"),
            session_patience: streams.stream("workload/session-patience"),
            services: plan
                .services
                .iter()
                .map(|s| {
                    let name = &s.name;
                    ServiceRngs {
                        work: streams.stream(&format!("services/{name}/work")),
                        boot: streams.stream(&format!("services/{name}/boot")),
                        faults: streams.stream(&format!("services/{name}/faults")),
                        crash: streams.stream(&format!("services/{name}/crash")),
                        mesh: streams.stream(&format!("services/{name}/mesh")),
                        routing: streams.stream(&format!("services/{name}/load_balancer")),
                        concurrency: streams
                            .stream(&format!("services/{name}/adaptive_concurrency")),
                    }
                })
                .collect(),
        }
    }
}

struct World<'p> {
    plan: &'p Plan,
    now: Timestamp,
    events: Events,
    rng: Rngs,
    workload: Workload<'p>,
    requests: Slab<Request>,
    calls: Slab<Call>,
    /// Hedged calls' tries in flight (named by `Call::hedge`).
    hedges: Slab<hedge::Hedge>,
    attempts: Slab<Attempt>,
    instances: Slab<Instance>,
    /// `deployments[service * regions + region]`.
    deployments: Vec<Deployment>,
    routing: Routing,
    lanes: timers::Lanes,
    faults: faults::Faults<'p>,
    /// Per service: whether a try meets anything at its instance before a
    /// worker or the queue (an adaptive concurrency limit, an errors
    /// fault): one check on every try's path (`mesh::admit`).
    gated: Vec<bool>,
    stats: Stats,
    data: data::DataState,
    /// Arrivals still happen (before `run.duration`).
    arrivals_open: bool,
    /// Conservation books.
    audit: crate::report::Audit,
}

impl<'p> World<'p> {
    fn new(plan: &'p Plan, replication: u32, warm: WarmFrom<'_>) -> Self {
        let streams = Streams::new(plan.run.seed, u64::from(replication));
        let rng = Rngs::new(plan, &streams);
        let faults = faults::Faults::new(plan);
        let gated = plan
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.adaptive_concurrency.is_some() || faults.has_errors(ServiceId(i as u16))
            })
            .collect();
        let mut world = World {
            plan,
            now: Timestamp::ZERO,
            events: Events::with_capacity(4096),
            rng,
            workload: Workload::new(plan),
            requests: Slab::with_capacity(1024),
            calls: Slab::with_capacity(1024),
            hedges: Slab::with_capacity(0),
            attempts: Slab::with_capacity(1024),
            instances: Slab::with_capacity(64),
            deployments: Vec::new(),
            routing: Routing::new(plan),
            lanes: timers::Lanes::new(plan),
            faults,
            gated,
            stats: Stats::new(plan),
            data: data::DataState::new(plan, &streams),
            arrivals_open: true,
            audit: crate::report::Audit::default(),
        };
        if let Some(c) = &plan.costs {
            world
                .stats
                .on_data_cost_rate(Timestamp::ZERO, c.data.fixed_usd_per_s);
        }
        world.build_deployments();
        match warm {
            WarmFrom::Run => world.warm_caches(&streams),
            WarmFrom::Shared(slot) if plan.run.cache_warm_start.is_some() => {
                slot.warm(&mut world, &streams);
            }
            WarmFrom::Shared(_) => {}
            WarmFrom::Copy(caches) => world.data.install_warm(caches),
            #[cfg(test)]
            WarmFrom::RunMarkingAll => {
                world.data.skip_dead_marks = false;
                world.warm_caches(&streams);
            }
        }
        world
    }

    fn run(&mut self, progress: &AtomicU64) -> Result<(), RunError> {
        let run = &self.plan.run;
        self.schedule_first_arrival()?;
        if !run.warmup.is_zero() {
            self.events.push(run.warmup_end(), Event::WarmupEnd);
        }
        if run.interval < run.duration {
            self.events
                .push(Timestamp::ZERO + run.interval, Event::Tick);
        }
        self.events.push(run.end(), Event::End);
        self.schedule_faults();
        self.schedule_data_faults();
        self.routing
            .arm_region_checks(&mut self.events, Timestamp::ZERO);

        const PROGRESS_EVERY: u32 = 1 << 16;
        let mut until_progress = PROGRESS_EVERY;
        let mut reported = Timestamp::ZERO;
        // Batches of `PROGRESS_EVERY` events before and after the end of
        // arrivals, for the drain's limit (`RunError::Undrained`).
        let (mut batches_before, mut batches_after) = (0u64, 0u64);
        let min_batches = DRAIN_MIN_EVENTS / u64::from(PROGRESS_EVERY);
        while let Some((now, event)) = self.events.pop() {
            self.now = now;
            self.dispatch(event)?;
            until_progress -= 1;
            if until_progress == 0 {
                until_progress = PROGRESS_EVERY;
                if now < run.end() {
                    batches_before += 1;
                } else {
                    batches_after += 1;
                    if batches_after > min_batches.max(DRAIN_FACTOR * batches_before) {
                        return Err(self.undrained());
                    }
                }
                let at = now.min(run.end());
                progress.fetch_add((at - reported).as_nanos(), Ordering::Relaxed);
                reported = at;
            }
        }
        progress.fetch_add((run.end() - reported).as_nanos(), Ordering::Relaxed);
        Ok(())
    }

    #[cold]
    fn undrained(&self) -> RunError {
        RunError::Undrained {
            after_s: (self.now - self.plan.run.end()).as_secs_f64(),
            requests: self.requests.len() as u64,
            tries: self.attempts.len() as u64,
            data_ops: self.data.in_flight() as u64,
            cause: undrained_cause(self.plan),
        }
    }

    /// One event's handler. Inlined into [`World::run`], its one caller: as
    /// a call of its own it costs about 25 instructions an event (saving
    /// and restoring the loop's registers), which the compiler stopped
    /// paying once, then paid again when an unrelated handler grew.
    #[inline(always)]
    fn dispatch(&mut self, event: Event) -> Result<(), RunError> {
        match event {
            Event::Arrival => return self.on_arrival(),
            Event::Issue { user } => return self.on_issue(user),
            Event::Population { stage, step } => self.on_population(stage, step),
            Event::TryArrive { attempt } => self.on_try_arrive(attempt),
            Event::WorkDone { attempt } => self.on_work_done(attempt),
            Event::TryResponse {
                call,
                number,
                reply,
            } => self.deliver(call, number, reply),
            Event::Lane { lane } => self.on_lane(lane),
            Event::Retry { call } => self.send_try(call),
            Event::CallDeadline { call } => self.on_call_deadline(call),
            Event::Hedge { call } => self.on_hedge_timer(call),
            Event::Refused { call } => self.on_refused(call),
            Event::Unreachable { request } => {
                self.finish_request(request, mesh::Reply::connect_failure())
            }
            Event::BreakerTimer { client } => self.on_breaker_timer(client),
            Event::Boot { instance } => self.on_boot(instance),
            Event::OutageStart { region } => self.on_outage_start(region),
            Event::OutageEnd { region } => self.on_outage_end(region),
            Event::WarmupEnd => self.on_warmup_end(),
            Event::Tick => self.on_tick(),
            Event::End => self.on_end(),
            Event::Data { op } => self.on_data(op),
            Event::DataTimeout { op, number } => self.on_data_timeout(op, number),
            Event::PoolConnected {
                slot,
                epoch,
                conn_index,
                conn_generation,
            } => {
                let conn = headroom_policy::pool::ConnId::from_u64(
                    (u64::from(conn_generation) << 32) | u64::from(conn_index),
                );
                self.on_pool_connected(slot, epoch, conn);
            }
            Event::CacheFlush { store, tier } => self.on_cache_flush(store, tier),
            Event::Promote { store } => self.on_promote(store),
            Event::Sync { .. }
            | Event::HealthTimer { .. }
            | Event::RegionCheck
            | Event::PoolTimer { .. }
            | Event::Crash { .. } => self.on_housekeeping(event),
        }
        Ok(())
    }

    /// A housekeeping timer ([`Event::is_housekeeping`]) is due. After the
    /// end, a world that is not idle but has only housekeeping timers left
    /// can never drain: the queue is dropped so that the run stops, and the
    /// books then say what was left in flight ([`RunError::Conservation`])
    /// instead of the run never returning.
    #[inline(never)]
    fn on_housekeeping(&mut self, event: Event) {
        match event {
            Event::Sync { deployment } => self.on_sync(deployment),
            Event::HealthTimer { deployment } => self.on_health_timer(deployment),
            Event::RegionCheck => self.on_region_check(),
            Event::PoolTimer { slot, epoch } => self.on_pool_timer(slot, epoch),
            Event::Crash { instance } => self.on_crash(instance),
            _ => unreachable!("not a housekeeping timer: {event:?}"),
        }
        let events = &mut self.events;
        events.housekeeping -= 1;
        if events.queue.len() == events.housekeeping && !self.arrivals_open && !self.is_idle() {
            self.events.queue.clear();
            self.events.housekeeping = 0;
        }
    }

    /// After the end of arrivals with nothing in flight: periodic timers
    /// stop re-arming so the event queue empties.
    fn is_idle(&self) -> bool {
        !self.arrivals_open
            && self.requests.is_empty()
            && self.attempts.is_empty()
            && self.data.in_flight() == 0
    }

    #[inline(never)]
    fn on_warmup_end(&mut self) {
        self.stats.on_warmup_end(self.now);
    }

    #[inline(never)]
    fn on_tick(&mut self) {
        self.close_interval();
        let next = self.now + self.plan.run.interval;
        if next < self.plan.run.end() {
            self.events.push(next, Event::Tick);
        }
    }

    #[inline(never)]
    fn on_end(&mut self) {
        self.close_interval();
        self.stats.on_end(self.now);
        self.arrivals_open = false;
    }

    fn close_interval(&mut self) {
        let healthy_regions = self.routing.healthy_regions(&self.faults);
        let trigger = self.stats.close_interval(self.now, healthy_regions);
        self.close_data_interval(trigger);
        let (hits, stale) = self.data.take_interval_ratios();
        self.stats.set_interval_data_ratios(hits, stale);
    }

    fn finish(mut self, replication: u32) -> RunOutput {
        let peak = self.requests.slots() as u64;
        let mut audit = self.audit;
        audit.requests_left = self.requests.len() as u64;
        // A hedged call's record lives and dies with the call.
        audit.calls_left = (self.calls.len() + self.hedges.len()) as u64;
        audit.attempts_left = self.attempts.len() as u64;
        for (_, i) in self.instances.iter() {
            audit.workers_held += u64::from(i.busy);
            audit.queued += i.queue.len() as u64;
        }
        let data = self.data_results();
        let mut out = self
            .stats
            .finish(self.plan, replication, peak, data.stale_read_ratio);
        out.audit = audit;
        out.metrics.cache_hit_ratio = data.cache_hit_ratio;
        out.metrics.cache_tiers = data.tiers;
        out.metrics.shard_max_load_ratio = data.shard_max_load_ratio;
        out.shards = data.shards;
        out.shard_timeseries = data.shard_timeseries;
        out.cache_timeseries = data.cache_timeseries;
        out.store_failovers = data.failovers;
        // A run with a trigger or a closed workload measures no stations
        // (`Stats::finish`).
        if !out.stations.is_empty() {
            let pools = data::pool_stations(self.plan, &out.stations, &data.pool_use);
            out.stations.extend(data.stations);
            out.stations.extend(pools);
        }
        out
    }
}
