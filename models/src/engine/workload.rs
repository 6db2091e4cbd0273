//! Arrivals and the edge: the arrival process (Poisson, diurnal, MMPP, with
//! surges), each request's client, origin region and entry service, global
//! failover of clients to an edge region, the edge rate limit, and the root
//! call to the entry service.
//!
//! Arrival times come from one generator that handles every process alike:
//! within a segment where the rate is bounded by `bound` (segments end at
//! surge boundaries and MMPP state switches), the next candidate is
//! `t + Exp(bound)`; a candidate beyond the segment is discarded and drawing
//! restarts at the boundary (exact, because the exponential is memoryless);
//! a candidate inside is accepted with probability `rate(t) / bound`
//! (Lewis–Shedler thinning; always accepted for piecewise-constant rates).
//!
//! A trace workload is the other arrival source: [`super::replay`] streams
//! the trace, and each arrival carries what the trace says about its
//! request (key, operation, size, client, region, route); what it does not
//! say is drawn here as for any workload.

use rand::RngExt;

use headroom_cache::hint::prefetch_bytes;
use headroom_policy::concurrency::{AdaptiveConcurrency, Admission};
use headroom_policy::mesh::EdgeClient;
use headroom_policy::ratelimit::{KeyScope, RateDecision, RateLimiter, Warm};
use headroom_sim::dist::Dist;
use headroom_sim::rng::Stream;
use headroom_sim::slab::Id;
use headroom_sim::zipf::Zipf;
use headroom_sim::{Span, Timestamp};

use super::mesh::{ClientRef, NO_USER, Parent, Reply, Request};
use super::replay::{Replay, TraceRequest};
use super::{Event, RunError, World};
use crate::plan::workload::{Entry, Stage, Surge};
use crate::plan::{ArrivalPlan, Plan, PopularityPlan, RegionId, SessionLengthPlan, limits};

/// The most clients the edge rate limiter makes room for before the run.
const MAX_RESERVED_CLIENTS: u64 = 1 << 20;

/// The arrival generator and the edge's own state.
pub(super) struct Workload<'p> {
    arrivals: &'p ArrivalPlan,
    end: Timestamp,
    /// Surge boundaries (starts and ends), sorted, and the next one's index.
    boundaries: Vec<Timestamp>,
    next_boundary: usize,
    surges: &'p [Surge],
    /// MMPP: current state and when it ends.
    mmpp_state: usize,
    mmpp_switch: Timestamp,
    pub(super) clients: Sampler,
    /// The next three keyed arrivals' clients, drawn ahead
    /// ([`World::draw_client`]).
    next_clients: Option<[u64; 3]>,
    /// Whether requests need a client id (a per-client edge rate limit).
    keyed: bool,
    /// Inter-arrival times of a plain Poisson process (no surges): the
    /// common case skips the segment logic.
    constant: Option<Dist>,
    /// The trace being replayed (a trace workload, once started).
    pub(super) replay: Option<Replay<'p>>,
    /// The edge rate limiter, shared by every edge region.
    pub(super) limiter: Option<RateLimiter>,
    /// Per region, with `edge.adaptive_concurrency`: the gradient
    /// controller at its edge (empty without).
    pub(super) edge_limits: Vec<AdaptiveConcurrency>,
    /// The edge proxy of each region towards each entry service,
    /// `[region * entries + entry]`: its breaker and retry budget.
    pub(super) edge_clients: Vec<EdgeClient>,
    /// A closed workload's users' origin regions, by user.
    user_origins: Vec<u8>,
    /// A closed workload's population: users `0..active` are in it.
    active: u32,
    /// Per user: it has a request in flight or a send due (it has not
    /// left). A user asked to leave stays live until its next send.
    live: Vec<bool>,
    /// Open sessions, by session number (the number their requests carry
    /// as their user), and the numbers free for new sessions.
    sessions: Vec<Session>,
    free_sessions: Vec<u32>,
}

/// An open session of a partly-open workload.
#[derive(Clone, Copy, Debug)]
struct Session {
    /// Its client, for per-client limits (0 when nothing keys on clients).
    client: u64,
    /// When its first request was sent.
    started: Timestamp,
    /// Requests still to send after the one in flight.
    remaining: u32,
    /// Requests sent so far, the one in flight included.
    sent: u32,
    /// How long its user waits for an answer (`Span::MAX`: any time).
    patience: Span,
    /// Its origin region.
    origin: u8,
    /// Some request of it was not answered (in its user's patience).
    failed: bool,
}

/// Draws an item index in `0..count` by popularity.
pub(super) enum Sampler {
    Uniform(u64),
    Zipf(Zipf),
}

impl Sampler {
    pub(super) fn new(p: &PopularityPlan) -> Sampler {
        match p.zipf_s {
            None => Sampler::Uniform(p.count),
            Some(s) => match Zipf::new(p.count, s) {
                Ok(z) => Sampler::Zipf(z),
                // The plan checked count and s against the sampler's ranges.
                Err(e) => unreachable!("checked Zipf parameters: {e}"),
            },
        }
    }

    pub(super) fn sample(&self, rng: &mut Stream) -> u64 {
        match self {
            Sampler::Uniform(n) => rng.random_range(0..*n),
            Sampler::Zipf(z) => z.sample(rng) - 1,
        }
    }
}

impl<'p> Workload<'p> {
    pub(super) fn new(plan: &'p Plan) -> Self {
        let w = &plan.workload;
        let mut boundaries: Vec<Timestamp> =
            w.surges.iter().flat_map(|s| [s.start, s.end]).collect();
        boundaries.sort();
        boundaries.dedup();
        Workload {
            arrivals: &w.arrivals,
            end: plan.run.end(),
            boundaries,
            next_boundary: 0,
            surges: &w.surges,
            mmpp_state: 0,
            mmpp_switch: Timestamp::ZERO,
            clients: Sampler::new(&w.clients),
            next_clients: None,
            keyed: plan
                .edge_rate_limit
                .as_ref()
                .is_some_and(|p| p.scope() == KeyScope::Client),
            constant: match w.arrivals {
                ArrivalPlan::Poisson { rate } if w.surges.is_empty() => Some(Dist::Exponential {
                    mean_ns: 1e9 / rate,
                }),
                _ => None,
            },
            replay: None,
            edge_limits: match &plan.edge_adaptive_concurrency {
                Some(spec) => plan
                    .network
                    .region_ids()
                    .map(|_| AdaptiveConcurrency::new(spec, Timestamp::ZERO))
                    .collect(),
                None => Vec::new(),
            },
            limiter: plan.edge_rate_limit.as_ref().map(|p| {
                let mut limiter = RateLimiter::new(p, Timestamp::ZERO);
                // Room for every client up front (at most 2^20; more grow
                // on demand), so that a run pays for no growth of the map.
                limiter.reserve_keys(w.clients.count.min(MAX_RESERVED_CLIENTS) as usize);
                limiter
            }),
            edge_clients: Vec::new(),
            user_origins: Vec::new(),
            active: 0,
            live: Vec::new(),
            sessions: Vec::new(),
            free_sessions: Vec::new(),
        }
    }

    /// One edge client per (region, entry service).
    pub(super) fn build_edge_clients(&mut self, plan: &Plan) {
        self.edge_clients = plan
            .network
            .region_ids()
            .flat_map(|_| plan.workload.entries.iter())
            .map(|e| EdgeClient::new(&e.policy, Timestamp::ZERO))
            .collect();
    }

    /// Starts the MMPP's first holding time, or the trace replay (call
    /// once, at time zero).
    pub(super) fn start(&mut self, rng: &mut Stream, mmpp_rng: &mut Stream) {
        match self.arrivals {
            ArrivalPlan::Mmpp { holding, .. } => {
                self.mmpp_switch = Timestamp::ZERO + exp_span(holding[0], mmpp_rng);
            }
            ArrivalPlan::Trace(trace) => self.replay = Some(Replay::new(trace, rng)),
            _ => {}
        }
    }

    /// The first arrival after `from` from whichever source the workload
    /// has, or `None` after the end of arrivals.
    pub(super) fn next_arrival(
        &mut self,
        from: Timestamp,
        rng: &mut Stream,
        mmpp_rng: &mut Stream,
    ) -> Result<Option<Timestamp>, RunError> {
        match &mut self.replay {
            None => Ok(self.next(from, rng, mmpp_rng)),
            Some(replay) => replay.next(self.end, rng).map_err(|e| RunError::Trace {
                message: format!("{}: {e}", replay.path().display()),
            }),
        }
    }

    /// Product of the multipliers of the surges containing `t`.
    fn surge_multiplier(&self, t: Timestamp) -> f64 {
        self.surges
            .iter()
            .filter(|s| s.start <= t && t < s.end)
            .map(|s| s.multiplier)
            .product()
    }

    /// The rate at `t` and an upper bound of it until `segment_end`.
    fn rate(&self, t: Timestamp) -> (f64, f64) {
        let m = self.surge_multiplier(t);
        match self.arrivals {
            ArrivalPlan::Poisson { rate } => (rate * m, rate * m),
            ArrivalPlan::Diurnal {
                mean,
                amplitude,
                period,
                phase,
            } => {
                let r = diurnal_rate(*mean, *amplitude, *period, *phase, t.as_nanos() as f64);
                (r * m, mean * (1.0 + amplitude) * m)
            }
            ArrivalPlan::Mmpp { rates, .. } => {
                let r = rates[self.mmpp_state] * m;
                (r, r)
            }
            // Replayed by `next_arrival`, or sent by users; never by rate.
            ArrivalPlan::Trace(_) | ArrivalPlan::Closed { .. } => (0.0, 0.0),
        }
    }

    /// The end of the segment containing `t`: the next surge boundary or
    /// MMPP switch after `t`, or the end of arrivals.
    fn segment_end(&mut self, t: Timestamp) -> Timestamp {
        while self.next_boundary < self.boundaries.len() && self.boundaries[self.next_boundary] <= t
        {
            self.next_boundary += 1;
        }
        let mut end = self.end;
        if let Some(&b) = self.boundaries.get(self.next_boundary) {
            end = end.min(b);
        }
        if matches!(self.arrivals, ArrivalPlan::Mmpp { .. }) {
            end = end.min(self.mmpp_switch);
        }
        end
    }

    /// The first arrival after `from`, or `None` after the end of arrivals.
    fn next(
        &mut self,
        from: Timestamp,
        rng: &mut Stream,
        mmpp_rng: &mut Stream,
    ) -> Option<Timestamp> {
        if let Some(gap) = &self.constant {
            let t = from + gap.sample(rng);
            return (t < self.end).then_some(t);
        }
        let mut t = from;
        loop {
            if t >= self.end {
                return None;
            }
            if let ArrivalPlan::Mmpp { rates, holding } = self.arrivals {
                while self.mmpp_switch <= t {
                    self.mmpp_state = next_mmpp_state(self.mmpp_state, rates.len(), mmpp_rng);
                    self.mmpp_switch += exp_span(holding[self.mmpp_state], mmpp_rng);
                }
            }
            let segment_end = self.segment_end(t);
            let (_, bound) = self.rate(t);
            if bound <= 0.0 {
                t = segment_end;
                continue;
            }
            let candidate = t + Dist::Exponential {
                mean_ns: 1e9 / bound,
            }
            .sample(rng);
            if candidate >= segment_end {
                t = segment_end;
                continue;
            }
            t = candidate;
            let (rate, _) = self.rate(t);
            if rate >= bound || rng.random::<f64>() * bound < rate {
                return Some(t);
            }
        }
    }
}

/// A diurnal process's rate at `t_ns` nanoseconds (negative before the run,
/// for the cache warm start): `mean (1 + a sin(2 pi (t - phase) / period))`.
pub(super) fn diurnal_rate(mean: f64, amplitude: f64, period: Span, phase: Span, t_ns: f64) -> f64 {
    let x = (t_ns - phase.as_nanos() as f64) / period.as_nanos() as f64;
    mean * (1.0 + amplitude * (std::f64::consts::TAU * x).sin())
}

pub(super) fn exp_span(mean: Span, rng: &mut Stream) -> Span {
    Dist::Exponential {
        mean_ns: mean.as_nanos() as f64,
    }
    .sample(rng)
    .max(Span::from_nanos(1))
}

pub(super) fn next_mmpp_state(current: usize, states: usize, rng: &mut Stream) -> usize {
    let k = rng.random_range(0..states - 1);
    if k >= current { k + 1 } else { k }
}

/// The entry service a client request calls, by the entries' weights
/// (drawing only when there is a choice).
pub(super) fn pick_entry(entries: &[Entry], rng: &mut Stream) -> usize {
    if entries.len() == 1 {
        return 0;
    }
    let u: f64 = rng.random();
    entries
        .iter()
        .position(|e| u < e.cdf)
        .unwrap_or(entries.len() - 1)
}

/// Index of the first cumulative weight above a uniform draw.
pub(super) fn pick_cdf(cdf: &[f64], rng: &mut Stream) -> usize {
    if cdf.len() == 1 {
        return 0;
    }
    let u: f64 = rng.random();
    cdf.iter().position(|&c| u < c).unwrap_or(cdf.len() - 1)
}

impl World<'_> {
    pub(super) fn schedule_first_arrival(&mut self) -> Result<(), RunError> {
        if let ArrivalPlan::Closed { users, stages, .. } = &self.plan.workload.arrivals {
            self.start_users(*users, stages);
            return Ok(());
        }
        self.workload
            .start(&mut self.rng.arrivals, &mut self.rng.mmpp);
        if let Some(t) = self.workload.next_arrival(
            Timestamp::ZERO,
            &mut self.rng.arrivals,
            &mut self.rng.mmpp,
        )? {
            self.events.push_side(t, Event::Arrival);
        }
        Ok(())
    }

    /// A closed workload's users: every user the run will ever have gets
    /// its origin region; the first `users` join at time zero, and the
    /// first stage's first step is due.
    fn start_users(&mut self, users: u32, stages: &[Stage]) {
        let cdf = &self.plan.workload.origin_cdf;
        let most = self.plan.workload.arrivals.max_users().unwrap_or(users);
        self.workload.user_origins = (0..most)
            .map(|_| pick_cdf(cdf, &mut self.rng.origin) as u8)
            .collect();
        self.workload.live = vec![false; most as usize];
        for _ in 0..users {
            self.user_joins();
        }
        if let Some(first) = stages.first() {
            self.schedule_step(0, first, 1);
        }
    }

    /// One more user joins the population. A user that has not left yet
    /// (it had been asked to, but has not sent since) just stays; any
    /// other starts thinking now, a uniform fraction of a think time before
    /// its first request (for a fixed think time, the users' phases spread
    /// evenly, as in the steady state; for a random one, none send
    /// together).
    fn user_joins(&mut self) {
        let ArrivalPlan::Closed { think, .. } = &self.plan.workload.arrivals else {
            return;
        };
        let user = self.workload.active;
        self.workload.active += 1;
        let live = &mut self.workload.live[user as usize];
        if *live {
            return;
        }
        let fraction: f64 = self.rng.arrivals.random();
        let at = self.now + think.sample(&mut self.rng.arrivals).mul_f64(fraction);
        if at < self.plan.run.end() {
            *live = true;
            self.events.push(at, Event::Issue { user });
        }
    }

    /// Schedules step `step` (1-based) of stage `index`, or, for a change
    /// without a ramp, the whole change at its start.
    fn schedule_step(&mut self, index: usize, stage: &Stage, step: u32) {
        let at = if stage.ramp.is_zero() {
            stage.start
        } else {
            stage.step_at(step)
        };
        if at < self.plan.run.end() {
            self.events.push(
                at,
                Event::Population {
                    stage: index as u16,
                    step,
                },
            );
        }
    }

    /// A step of a population stage is due: a user joins or (the one with
    /// the highest number) is asked to leave, which it does at its next
    /// send, after the outcome of the request it has in flight. A stage
    /// without a ramp takes all its steps now. Then the next step, or the
    /// next stage's first, is scheduled.
    pub(super) fn on_population(&mut self, index: u16, step: u32) {
        let ArrivalPlan::Closed { stages, .. } = &self.plan.workload.arrivals else {
            return;
        };
        let stage = &stages[usize::from(index)];
        let steps = stage.from.abs_diff(stage.to);
        let last = if stage.ramp.is_zero() { steps } else { step };
        for _ in step..=last.min(steps) {
            if stage.to > stage.from {
                self.user_joins();
            } else {
                self.workload.active -= 1;
            }
        }
        if last < steps {
            self.schedule_step(usize::from(index), stage, last + 1);
        } else if let Some(next) = stages.get(usize::from(index) + 1) {
            self.schedule_step(usize::from(index) + 1, next, 1);
        }
    }

    /// A request of `user` ended (`answered` or not) `latency` after its
    /// user sent it; the user gets the outcome `rtt` after the edge gave
    /// it. A closed workload's user thinks, then sends again if arrivals
    /// are still open; a session's goes on, ends, or gives up.
    pub(super) fn user_thinks(&mut self, user: u32, rtt: Span, answered: bool, latency: Span) {
        if let Some(session) = &self.plan.workload.session {
            let s = &mut self.workload.sessions[user as usize];
            // A user whose patience ran out before the outcome left then,
            // whatever the outcome. One with requests left after a failure
            // gives up by a draw made for failures alone, from its own
            // stream, so the sessions, their lengths and their think times
            // stay those of every other sweep point.
            let impatient = latency > s.patience;
            s.failed |= !answered || impatient;
            let gives_up = s.remaining > 0
                && (impatient
                    || (!answered
                        && session.abandon_after_failure > 0.0
                        && self.rng.session_abandon.random::<f64>()
                            < session.abandon_after_failure));
            if s.remaining > 0 && !gives_up {
                let at = self.now + rtt + session.think.sample(&mut self.rng.session_think);
                if at < self.plan.run.end() {
                    s.remaining -= 1;
                    s.sent += 1;
                    self.events.push(at, Event::Issue { user });
                    return;
                }
                // The end of arrivals cuts the session short: it would
                // have ended after the measured window, so it is not
                // counted there.
            } else if self.now >= self.plan.run.warmup_end() && self.now < self.plan.run.end() {
                // The session ends: its user has the last answer a round
                // trip from now, or left when its patience ran out.
                // Sessions are measured by when they end, not by when they
                // start: in a steady state the sessions that end in a
                // window are a fair sample of all of them, where those that
                // start in it would include the last ones, cut short.
                let left_at = if impatient {
                    self.now + rtt - latency + s.patience
                } else {
                    self.now + rtt
                };
                let s = *s;
                self.stats.on_session_end(
                    self.now - s.started,
                    s.sent,
                    left_at - s.started,
                    s.failed,
                    gives_up,
                );
            }
            self.workload.free_sessions.push(user);
            return;
        }
        let ArrivalPlan::Closed { think, .. } = &self.plan.workload.arrivals else {
            return;
        };
        let at = self.now + rtt + think.sample(&mut self.rng.arrivals);
        if at < self.plan.run.end() {
            self.events.push(at, Event::Issue { user });
        } else {
            self.workload.live[user as usize] = false;
        }
    }

    /// A closed workload's user sends a request: as an arrival, from its
    /// own region, as its own client.
    pub(super) fn on_issue(&mut self, user: u32) -> Result<(), RunError> {
        if self.plan.workload.session.is_some() {
            let s = self.workload.sessions[user as usize];
            return self.enter(TraceRequest::NONE, s.client, RegionId(s.origin), user);
        }
        // Asked to leave by a stage: it goes.
        if user >= self.workload.active {
            self.workload.live[user as usize] = false;
            return Ok(());
        }
        let origin = RegionId(self.workload.user_origins[user as usize]);
        self.enter(TraceRequest::NONE, u64::from(user), origin, user)
    }

    /// A client request arrives: draw its attributes, schedule the next
    /// arrival, then let it in ([`World::enter`]).
    pub(super) fn on_arrival(&mut self) -> Result<(), RunError> {
        let now = self.now;
        // The trace request this arrival stands for, taken before the next
        // one is read.
        let traced = self.workload.replay.as_mut().and_then(|r| r.next.take());
        if let Some(t) =
            self.workload
                .next_arrival(now, &mut self.rng.arrivals, &mut self.rng.mmpp)?
        {
            self.events.push_side(t, Event::Arrival);
        }
        let traced = traced.unwrap_or(TraceRequest::NONE);
        let w = &self.plan.workload;
        let client = match traced.client {
            _ if !self.workload.keyed => 0,
            Some(c) => c,
            None => self.draw_client(),
        };
        let origin = match traced.region {
            Some(r) => r,
            None => RegionId(pick_cdf(&w.origin_cdf, &mut self.rng.origin) as u8),
        };
        let user = match &w.session {
            None => NO_USER,
            Some(session) => {
                self.open_session(session.length, session.patience.as_ref(), client, origin)?
            }
        };
        self.enter(traced, client, origin, user)
    }

    /// A session starts with the arrival of its first request, from
    /// `client` in `origin`: it draws its length and takes a free number.
    fn open_session(
        &mut self,
        length: SessionLengthPlan,
        patience: Option<&Dist>,
        client: u64,
        origin: RegionId,
    ) -> Result<u32, RunError> {
        let remaining = match length {
            SessionLengthPlan::Fixed(n) => n - 1,
            SessionLengthPlan::Geometric { go_on } => {
                // Inversion: the requests after the first are geometric on
                // {0, 1, ...} with success probability 1 - go_on.
                if go_on <= 0.0 {
                    0
                } else {
                    let u: f64 = self.rng.session_lengths.random();
                    let k = ((1.0 - u).ln() / go_on.ln()).floor();
                    // A session of more than 2^32 - 2 requests outlives any
                    // run at the rates the plan allows.
                    k.min(f64::from(u32::MAX - 1)) as u32
                }
            }
        };
        let patience = patience.map_or(Span::MAX, |p| p.sample(&mut self.rng.session_patience));
        let session = Session {
            client,
            started: self.now,
            remaining,
            sent: 1,
            patience,
            origin: origin.0,
            failed: false,
        };
        let w = &mut self.workload;
        if let Some(number) = w.free_sessions.pop() {
            w.sessions[number as usize] = session;
            return Ok(number);
        }
        if w.sessions.len() as u64 >= limits::MAX_USERS {
            return Err(RunError::TooManySessions {
                at_s: self.now.as_secs_f64(),
                sessions: w.sessions.len() as u64,
            });
        }
        w.sessions.push(session);
        Ok(w.sessions.len() as u32 - 1)
    }

    /// A request from `client` in `origin` arrives at the edge: pick its
    /// entry service and edge region, draw its key, apply the edge cache
    /// and rate limit, and start the root call to the entry service.
    fn enter(
        &mut self,
        traced: TraceRequest,
        client: u64,
        origin: RegionId,
        user: u32,
    ) -> Result<(), RunError> {
        let now = self.now;
        let w = &self.plan.workload;
        let entry_index = if let Some(service) = traced.entry {
            // The plan gave every route's service an entry.
            w.entries
                .iter()
                .position(|e| e.service == service)
                .unwrap_or(0)
        } else {
            pick_entry(&w.entries, &mut self.rng.entry)
        };
        let entry = w.entries[entry_index].service;
        let measured = now >= self.plan.run.warmup_end();
        self.stats.on_arrival(now, measured);
        self.audit.arrivals += 1;

        if self.requests.len() as u64 >= self.plan.run.max_in_flight {
            return Err(self.unstable());
        }
        let edge_region = self.routing.edge_region(origin, &mut self.rng.edge);
        let (key, write) = match (traced.key, traced.write) {
            (Some(k), Some(w)) => (k, w),
            (Some(k), None) => (k, self.data.draw_write()),
            (None, _) => {
                let (k, w) = self.data.draw();
                (k, traced.write.unwrap_or(w))
            }
        };
        let request = Request {
            arrival: now,
            failed_over: edge_region != origin,
            client_rtt: self.plan.network.rtt(origin, edge_region),
            data: super::data::DataKey {
                key,
                size_bytes: traced.size_bytes,
                write,
                measured,
            },
            edge: edge_region.0,
            origin: origin.0,
            flags: 0,
            user,
            first_read: Timestamp::MAX,
        };
        let req = self.requests.insert(request).map_err(|_| self.unstable())?;
        // The client reaches no edge in a dark region: nothing answers its
        // connect, and it gives up after the connect timeout, which is the
        // whole wait (no round trip follows; a closed workload's user
        // thinks from then on).
        if !self.faults.region_up(edge_region) {
            if let Some(r) = self.requests.get_mut(req) {
                r.client_rtt = Span::ZERO;
            }
            let at = now + self.plan.network.connect_timeout;
            self.events.push(at, Event::Unreachable { request: req });
            return Ok(());
        }
        if self.edge_cache_answers(req) {
            return Ok(());
        }
        if let Some(limiter) = &mut self.workload.limiter
            && let RateDecision::Reject { .. } = limiter.check(now, client)
        {
            self.finish_request(req, Reply::rejected());
            return Ok(());
        }
        if !self.workload.edge_limits.is_empty() && !self.pass_edge_limit(req, edge_region) {
            return Ok(());
        }
        let client_ref = ClientRef::Edge {
            region: edge_region.0,
            entry: entry_index as u16,
        };
        self.start_call(Parent::Root(req), req, entry, edge_region, client_ref);
        Ok(())
    }

    /// The request meets its edge region's adaptive concurrency limit
    /// (after the rate limit, as an ingress Envoy's filters): refused, it
    /// ends as shed (503, "reached concurrency limit"); admitted, it is
    /// marked for a latency sample when it ends. Returns whether it goes on.
    #[inline(never)]
    fn pass_edge_limit(&mut self, req: Id, edge_region: RegionId) -> bool {
        let limit = &mut self.workload.edge_limits[edge_region.index()];
        if limit.handle_request(self.now) == Admission::Block {
            self.finish_request(req, Reply::shed());
            return false;
        }
        if let Some(r) = self.requests.get_mut(req) {
            r.flags |= super::data::EDGE_LIMITED;
        }
        true
    }

    /// A request its edge's adaptive concurrency limit admitted has ended:
    /// its time at the edge (arrival to response, every outcome, as Envoy
    /// samples every response it sends) is a latency sample.
    #[inline(never)]
    pub(super) fn sample_edge_limit(&mut self, edge: u8, arrival: Timestamp) {
        let limit = &mut self.workload.edge_limits[usize::from(edge)];
        limit.handle_response(
            self.now,
            arrival,
            &mut self.rng.edge_concurrency[usize::from(edge)],
        );
    }

    /// The client of a keyed arrival, from the stream's draws in order,
    /// each drawn three arrivals ahead. A map of 200 000 clients is outside
    /// the CPU caches, and a check would wait for up to three misses in
    /// turn: the client's map entry, the slot it names, and a busy client's
    /// log on the heap. Here the entry of the client three arrivals ahead is
    /// prefetched, the slot of the one two ahead (its entry prefetched an
    /// arrival ago) and the log of the next one (its slot prefetched an
    /// arrival ago), each a whole inter-arrival (thousands of instructions)
    /// before it is read. The stream gives the same clients as drawing each
    /// at its arrival.
    fn draw_client(&mut self) -> u64 {
        let mut draw = || self.workload.clients.sample(&mut self.rng.clients);
        let [client, next, second] = match self.workload.next_clients {
            Some(ahead) => ahead,
            None => [draw(), draw(), draw()],
        };
        let third = draw();
        self.workload.next_clients = Some([next, second, third]);
        if let Some(limiter) = &self.workload.limiter {
            prefetch_bytes(limiter.memory_for(next, Warm::State));
            prefetch_bytes(limiter.memory_for(second, Warm::Slot));
            prefetch_bytes(limiter.memory_for(third, Warm::Index));
        }
        client
    }

    pub(super) fn unstable(&self) -> RunError {
        RunError::Unstable {
            at_s: self.now.as_secs_f64(),
            in_flight: self.requests.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use headroom_sim::rng::Streams;

    use super::*;
    use crate::engine::World;

    /// Drawing each keyed arrival's client three arrivals ahead (to prefetch
    /// its limiter memory) gives the stream's clients in the stream's order,
    /// as drawing each at its arrival would; and the limiter names real
    /// memory for them once it holds them.
    #[test]
    fn clients_drawn_ahead_are_the_streams_clients_in_order() {
        let text = r#"
[run]
duration = "10s"
seed = 7

[workload]
arrivals = { process = "poisson", rate = 100 }
clients = { count = 5000, popularity = "zipf", s = 0.8 }

[edge]
rate_limit = "per-client"

[[services]]
name = "api"
instance = { workers = 4 }
work = { distribution = "exponential", mean = "1ms" }
replicas = 1

[policy.rate_limit.per-client]
strategy = "sliding-window"
window = "1m"
max = 10
key = "client"
max_keys = 10000
"#;
        let loaded = crate::load_str(Path::new("ahead.toml"), text, &[]).expect("loads");
        let plan = &loaded.plan;
        let mut world = World::new(plan, 3, crate::engine::WarmFrom::Run);
        assert!(world.workload.keyed);
        let streams = Streams::new(plan.run.seed, 3);
        let mut stream = streams.stream("workload/clients");
        let sampler = Sampler::new(&plan.workload.clients);
        let now = Timestamp::ZERO;
        for i in 0..2000 {
            let client = world.draw_client();
            assert_eq!(client, sampler.sample(&mut stream), "arrival {i}");
            let limiter = world.workload.limiter.as_mut().expect("a keyed limit");
            let _decision = limiter.check(now, client);
            // A client the limiter holds has a slot to name.
            assert!(!limiter.memory_for(client, Warm::Slot).is_empty());
            let next = world.workload.next_clients.expect("drawn ahead")[0];
            assert!(!limiter.memory_for(next, Warm::Index).is_empty());
        }
    }
}
