//! Checked `[workload]`: the arrival process, surges, clients, origins,
//! sizes and entry services.

use std::path::Path;

use headroom_policy::Policies;
use headroom_policy::tables::EdgePolicy;
use headroom_sim::dist::Dist;
use headroom_sim::{Span, Timestamp};

use super::network::NetworkPlan;
use super::service::ServicePlan;
use super::trace::TracePlan;
use super::{EDGE_CALLER, Invalid, ServiceId, limits};
use crate::scenario::{
    ArrivalsConfig, DistOrSpan, EntryConfig, Popularity, RunConfig, Scenario, SessionConfig,
    SessionLength, StageConfig, WorkloadConfig,
};

/// Checked workload.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadPlan {
    /// The base arrival process.
    pub arrivals: ArrivalPlan,
    /// Rate multipliers over windows.
    pub surges: Vec<Surge>,
    /// How requests spread over clients.
    pub clients: PopularityPlan,
    /// Cumulative origin weights per region (last = 1).
    pub origin_cdf: Vec<f64>,
    /// Bytes per request.
    pub request_bytes: u64,
    /// Bytes per response.
    pub response_bytes: u64,
    /// Entry services with cumulative weights (last = 1) and the edge's mesh
    /// policy towards each.
    pub entries: Vec<Entry>,
    /// Sessions: each arrival starts one (a partly-open workload).
    pub session: Option<SessionPlan>,
}

/// A checked `workload.session`.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionPlan {
    /// How many requests a session sends.
    pub length: SessionLengthPlan,
    /// Mean requests per session.
    pub mean_requests: f64,
    /// Think time between a response and the next request, mean > 0.
    pub think: Dist,
    /// Probability in `[0, 1]` that a session ends after a request that was
    /// not answered.
    pub abandon_after_failure: f64,
    /// A user's patience, drawn once per session (mean > 0); `None`: users
    /// wait for every outcome.
    pub patience: Option<Dist>,
}

impl SessionPlan {
    /// Seconds a session spends thinking on average, `(requests - 1) x mean
    /// think`: its mean span without the answers' time.
    pub fn mean_thinking_s(&self) -> f64 {
        (self.mean_requests - 1.0) * self.think.mean_ns() / 1e9
    }
}

/// The number of requests of a session.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SessionLengthPlan {
    /// Exactly this many (>= 1).
    Fixed(u32),
    /// After each request, the session goes on with this probability (in
    /// `[0, 1)`).
    Geometric {
        /// `1 - 1 / mean`.
        go_on: f64,
    },
}

/// One entry service.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The service.
    pub service: ServiceId,
    /// Cumulative weight.
    pub cdf: f64,
    /// The mesh policy of the call from the edge (`"edge->NAME"`).
    pub policy: EdgePolicy,
}

/// A checked arrival process.
#[derive(Clone, Debug, PartialEq)]
pub enum ArrivalPlan {
    /// Poisson at `rate` per second.
    Poisson {
        /// Requests per second.
        rate: f64,
    },
    /// Sinusoidal non-homogeneous Poisson.
    Diurnal {
        /// Mean rate per second.
        mean: f64,
        /// Relative amplitude `a` in [0, 1).
        amplitude: f64,
        /// Cycle length.
        period: Span,
        /// Cycle shift.
        phase: Span,
    },
    /// Markov-modulated Poisson.
    Mmpp {
        /// Rate per state, per second.
        rates: Vec<f64>,
        /// Mean holding time per state.
        holding: Vec<Span>,
    },
    /// A replayed trace.
    Trace(Box<TracePlan>),
    /// A closed population of users, each sending its next request a think
    /// time after the last one's outcome.
    Closed {
        /// Users at the start (each its own client).
        users: u32,
        /// Think time, mean > 0.
        think: Dist,
        /// Changes of the population, in time order, none overlapping.
        stages: Vec<Stage>,
    },
}

/// A change of a closed workload's population.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    /// When it starts.
    pub start: Timestamp,
    /// Users before.
    pub from: u32,
    /// Users after.
    pub to: u32,
    /// How long it takes: the `k`-th of the `|to - from|` users joins or
    /// leaves at `start + ramp k / |to - from|`.
    pub ramp: Span,
}

impl Stage {
    /// When the `step`-th user (1-based) of the change joins or leaves.
    pub fn step_at(&self, step: u32) -> Timestamp {
        let n = u128::from(self.from.abs_diff(self.to).max(1));
        let offset = self.ramp.as_nanos() as u128 * u128::from(step) / n;
        self.start + Span::from_nanos(offset as u64)
    }
}

impl ArrivalPlan {
    /// The most users a closed workload ever has.
    pub fn max_users(&self) -> Option<u32> {
        match self {
            ArrivalPlan::Closed { users, stages, .. } => {
                Some(stages.iter().map(|s| s.to).fold(*users, u32::max))
            }
            _ => None,
        }
    }

    /// The largest rate the base process reaches, per second; `None` for a
    /// closed workload, whose rate is whatever the system answers.
    pub fn peak_rate(&self) -> Option<f64> {
        Some(match self {
            ArrivalPlan::Poisson { rate } => *rate,
            ArrivalPlan::Diurnal {
                mean, amplitude, ..
            } => mean * (1.0 + amplitude),
            ArrivalPlan::Mmpp { rates, .. } => rates.iter().copied().fold(0.0, f64::max),
            // Bursts have no bound short of reading the trace again; its
            // mean is what the plan's rate limits can check.
            ArrivalPlan::Trace(t) => t.mean_rate(),
            ArrivalPlan::Closed { .. } => return None,
        })
    }
}

/// A surge window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Surge {
    /// Start.
    pub start: Timestamp,
    /// End (exclusive).
    pub end: Timestamp,
    /// Rate multiplier.
    pub multiplier: f64,
}

/// How draws spread over `count` items (numbered 0..count).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PopularityPlan {
    /// Items.
    pub count: u64,
    /// Zipf exponent; `None` = uniform.
    pub zipf_s: Option<f64>,
}

pub(super) fn plan(
    scenario: &Scenario,
    network: &NetworkPlan,
    services: &[ServicePlan],
    policies: &Policies,
    base_dir: &Path,
) -> Result<WorkloadPlan, Invalid> {
    let w = &scenario.workload;
    let arrivals = match &w.arrivals {
        ArrivalsConfig::Trace(c) => {
            if !w.surges.is_empty() {
                return Err(Invalid::new(
                    "workload.surges",
                    format!("{} surges", w.surges.len()),
                    "no surges with a trace workload (the trace has its own bursts; scale it \
                     with `scale_load` or replay part of it with `window`)",
                ));
            }
            ArrivalPlan::Trace(Box::new(super::trace::plan(
                c, base_dir, network, services,
            )?))
        }
        ArrivalsConfig::Closed {
            users,
            think,
            stages,
        } => closed(*users, think, stages, &scenario.run, w, base_dir)?,
        other => arrivals(other)?,
    };
    if w.surges.len() > limits::MAX_WINDOWS {
        return Err(Invalid::new(
            "workload.surges",
            format!("{} surges", w.surges.len()),
            format!("at most {}", limits::MAX_WINDOWS),
        ));
    }
    let mut surges = Vec::with_capacity(w.surges.len());
    let mut peak_multiplier = 1.0;
    for (i, s) in w.surges.iter().enumerate() {
        let key = |k: &str| format!("workload.surges.{i}.{k}");
        if s.at >= scenario.run.duration {
            return Err(Invalid::new(
                key("at"),
                s.at,
                format!(
                    "a start before the end of arrivals (`run.duration` = {})",
                    scenario.run.duration
                ),
            ));
        }
        if s.duration.is_zero() {
            return Err(Invalid::new(
                key("duration"),
                s.duration,
                "a positive duration",
            ));
        }
        if !(s.multiplier.is_finite() && s.multiplier > 0.0) {
            return Err(Invalid::new(
                key("multiplier"),
                s.multiplier,
                "a finite number > 0 (5.0 = five times the rate)",
            ));
        }
        peak_multiplier *= s.multiplier.max(1.0);
        surges.push(Surge {
            start: Timestamp::ZERO + s.at,
            end: Timestamp::ZERO + s.at + s.duration,
            multiplier: s.multiplier,
        });
    }
    let session = w
        .session
        .as_ref()
        .map(|c| session(c, &arrivals, base_dir))
        .transpose()?;
    let per_arrival = session.as_ref().map_or(1.0, |s| s.mean_requests);
    let peak = arrivals.peak_rate().map(|r| r * peak_multiplier);
    if let Some(peak) = peak
        && peak * per_arrival > limits::MAX_RATE
    {
        return Err(Invalid::new(
            "workload.arrivals",
            if per_arrival == 1.0 {
                format!("a peak rate of {peak:e}/s with surges")
            } else {
                format!(
                    "a peak rate of {peak:e} sessions/s with surges, of {per_arrival} requests \
                     each"
                )
            },
            format!(
                "a peak rate of at most {:e} requests per second",
                limits::MAX_RATE
            ),
        ));
    }
    // Sessions thinking at once at the peak rate (Little's law), held to
    // the bound on a closed workload's users.
    if let (Some(s), Some(peak)) = (&session, peak) {
        let thinking = peak * s.mean_thinking_s();
        if thinking > limits::MAX_USERS as f64 {
            return Err(Invalid::new(
                "workload.session",
                format!("{thinking:.3e} sessions thinking at once at the peak rate"),
                format!(
                    "at most {} sessions at once (peak sessions/s x (requests - 1) x mean \
                     think): fewer requests per session or a shorter think time",
                    limits::MAX_USERS
                ),
            ));
        }
    }
    let clients = match arrivals {
        // Each user is its own client.
        ArrivalPlan::Closed { .. } => PopularityPlan {
            count: u64::from(arrivals.max_users().unwrap_or(1)),
            zipf_s: None,
        },
        _ => {
            let c = w.clients.clone().unwrap_or_default();
            popularity(
                "workload.clients",
                c.count,
                c.popularity,
                c.s,
                limits::MAX_CLIENTS,
            )?
        }
    };
    let mut origin = vec![0.0; network.regions.len()];
    if w.origin.is_empty() {
        origin.fill(1.0);
    } else {
        for (name, &weight) in &w.origin {
            let key = format!("workload.origin.{name}");
            let id = network.resolve(&key, name)?;
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(Invalid::new(key, weight, "a finite weight >= 0"));
            }
            origin[id.index()] = weight;
        }
    }
    let origin_cdf = cdf(&origin).ok_or_else(|| {
        Invalid::new(
            "workload.origin",
            "weights summing to 0",
            "at least one region with a weight > 0",
        )
    })?;
    let mut entry_weights: Vec<(ServiceId, f64)> = match &w.entry {
        None => vec![(ServiceId(0), 1.0)],
        Some(EntryConfig::Service(name)) => vec![(resolve(services, "workload.entry", name)?, 1.0)],
        Some(EntryConfig::Mix(mix)) => {
            let mut v = Vec::with_capacity(mix.len());
            for (name, &weight) in mix {
                let key = format!("workload.entry.{name}");
                let id = resolve(services, &key, name)?;
                if !(weight.is_finite() && weight >= 0.0) {
                    return Err(Invalid::new(key, weight, "a finite weight >= 0"));
                }
                v.push((id, weight));
            }
            v
        }
    };
    // A trace's routes pick entry services of their own: each gets an edge
    // client, with no weight in the draw for requests without a route.
    if let ArrivalPlan::Trace(t) = &arrivals {
        for id in t.names.iter().filter_map(|n| n.entry) {
            if !entry_weights.iter().any(|(e, _)| *e == id) {
                entry_weights.push((id, 0.0));
            }
        }
    }
    entry_weights.sort_by_key(|(id, _)| *id);
    let weights: Vec<f64> = entry_weights.iter().map(|(_, w)| *w).collect();
    let entry_cdf = cdf(&weights).ok_or_else(|| {
        Invalid::new(
            "workload.entry",
            "weights summing to 0",
            "at least one service with a weight > 0",
        )
    })?;
    let entries = entry_weights
        .iter()
        .zip(entry_cdf)
        .map(|(&(service, _), cdf)| Entry {
            service,
            cdf,
            policy: policies
                .edge(EDGE_CALLER, &services[service.index()].name)
                .clone(),
        })
        .collect();
    Ok(WorkloadPlan {
        arrivals,
        surges,
        clients,
        origin_cdf,
        request_bytes: w.request_size.get(),
        response_bytes: w.response_size.get(),
        entries,
        session,
    })
}

/// Checks `workload.session` with the arrival process it starts sessions
/// of.
fn session(
    c: &SessionConfig,
    arrivals: &ArrivalPlan,
    base_dir: &Path,
) -> Result<SessionPlan, Invalid> {
    match arrivals {
        ArrivalPlan::Poisson { .. } | ArrivalPlan::Diurnal { .. } | ArrivalPlan::Mmpp { .. } => {}
        ArrivalPlan::Trace(_) => {
            return Err(Invalid::new(
                "workload.session",
                "a session table with a trace workload",
                "no sessions with `process = \"trace\"`: a trace's records are its requests; \
                 remove `workload.session`",
            ));
        }
        ArrivalPlan::Closed { .. } => {
            return Err(Invalid::new(
                "workload.session",
                "a session table with a closed workload",
                "no sessions with `process = \"closed\"`, whose users send for the whole \
                 run; sessions start by a `poisson`, `diurnal` or `mmpp` process",
            ));
        }
    }
    let key = "workload.session.requests";
    let requests = c.requests;
    let length = match c.length {
        SessionLength::Fixed => {
            if requests.is_nan()
                || requests < 1.0
                || requests > f64::from(limits::MAX_SESSION_REQUESTS)
                || requests.fract() != 0.0
            {
                return Err(Invalid::new(
                    key,
                    requests,
                    format!(
                        "a whole number of requests from 1 to {} with `length = \"fixed\"`",
                        limits::MAX_SESSION_REQUESTS
                    ),
                ));
            }
            SessionLengthPlan::Fixed(requests as u32)
        }
        SessionLength::Geometric => {
            if requests.is_nan()
                || requests < 1.0
                || requests > f64::from(limits::MAX_SESSION_REQUESTS)
            {
                return Err(Invalid::new(
                    key,
                    requests,
                    format!(
                        "a mean number of requests from 1 to {} (1 = one request per session)",
                        limits::MAX_SESSION_REQUESTS
                    ),
                ));
            }
            SessionLengthPlan::Geometric {
                go_on: 1.0 - 1.0 / requests,
            }
        }
    };
    let think = super::dist_or_span(&c.think, "workload.session.think", base_dir)?;
    let mean = think.mean_ns();
    if mean.is_nan() || mean <= 0.0 {
        return Err(Invalid::new(
            "workload.session.think",
            "a mean of 0",
            "a think time with a mean > 0, such as \"30s\" or { distribution = \
             \"exponential\", mean = \"30s\" }",
        ));
    }
    let abandon = c.abandon_after_failure;
    if !(0.0..=1.0).contains(&abandon) {
        return Err(Invalid::new(
            "workload.session.abandon_after_failure",
            abandon,
            "a probability from 0 (sessions never give up) to 1 (a session ends at its \
             first request that is not answered)",
        ));
    }
    let patience = match &c.patience {
        None => None,
        Some(p) => {
            let key = "workload.session.patience";
            let patience = super::dist_or_span(p, key, base_dir)?;
            let mean = patience.mean_ns();
            if mean.is_nan() || mean <= 0.0 {
                return Err(Invalid::new(
                    key,
                    "a mean of 0",
                    "a patience with a mean > 0, such as \"3s\" or { distribution = \
                     \"exponential\", mean = \"3s\" }; leave it out for users who wait for \
                     every answer",
                ));
            }
            Some(patience)
        }
    };
    Ok(SessionPlan {
        length,
        mean_requests: requests,
        think,
        abandon_after_failure: abandon,
        patience,
    })
}

/// Checks `workload.arrivals = { process = "closed", users, think }`.
fn closed(
    users: u64,
    think: &DistOrSpan,
    stage_configs: &[StageConfig],
    run: &RunConfig,
    w: &WorkloadConfig,
    base_dir: &Path,
) -> Result<ArrivalPlan, Invalid> {
    // Zero users at the start is a population that stages bring in.
    if users > limits::MAX_USERS || (users == 0 && stage_configs.iter().all(|s| s.users == 0)) {
        return Err(Invalid::new(
            "workload.arrivals.users",
            users,
            format!(
                "an integer from 1 to {} (or 0 with a stage that brings users in)",
                limits::MAX_USERS
            ),
        ));
    }
    let think = super::dist_or_span(think, "workload.arrivals.think", base_dir)?;
    let think_mean_ns = think.mean_ns();
    if think_mean_ns.is_nan() || think_mean_ns <= 0.0 {
        return Err(Invalid::new(
            "workload.arrivals.think",
            "a mean of 0",
            "a think time with a mean > 0, such as \"5s\" or { distribution = \"exponential\", \
             mean = \"5s\" } (a user that sent again at the instant a request failed could \
             send forever without time passing; \"1us\" approximates no think time where no \
             request fails at once)",
        ));
    }
    if !w.surges.is_empty() {
        return Err(Invalid::new(
            "workload.surges",
            format!("{} surges", w.surges.len()),
            "no surges with a closed workload (its users send as fast as the system answers \
             and they think; for more load, raise `workload.arrivals.users`)",
        ));
    }
    if let Some(clients) = &w.clients {
        return Err(Invalid::new(
            "workload.clients",
            format!("{} clients", clients.count),
            "no [workload.clients] with a closed workload: each of its users is its own \
             client; remove the table",
        ));
    }
    if stage_configs.len() > limits::MAX_WINDOWS {
        return Err(Invalid::new(
            "workload.arrivals.stages",
            format!("{} stages", stage_configs.len()),
            format!("at most {}", limits::MAX_WINDOWS),
        ));
    }
    let mut stages = Vec::with_capacity(stage_configs.len());
    let (mut from, mut free_from) = (users as u32, Span::ZERO);
    for (i, s) in stage_configs.iter().enumerate() {
        let key = |k: &str| format!("workload.arrivals.stages.{i}.{k}");
        if s.users > limits::MAX_USERS {
            return Err(Invalid::new(
                key("users"),
                s.users,
                format!("an integer from 0 to {}", limits::MAX_USERS),
            ));
        }
        if s.at >= run.duration {
            return Err(Invalid::new(
                key("at"),
                s.at,
                format!(
                    "a start before the end of arrivals (`run.duration` = {})",
                    run.duration
                ),
            ));
        }
        if s.at < free_from {
            return Err(Invalid::new(
                key("at"),
                s.at,
                format!(
                    "a start at or after {free_from}, when the stage before it ends (stages \
                     are in time order and do not overlap)"
                ),
            ));
        }
        stages.push(Stage {
            start: Timestamp::ZERO + s.at,
            from,
            to: s.users as u32,
            ramp: s.ramp,
        });
        from = s.users as u32;
        free_from = s.at + s.ramp;
    }
    let plan = ArrivalPlan::Closed {
        users: users as u32,
        think,
        stages,
    };
    // Each user has at most one request in flight.
    let most = plan.max_users().unwrap_or(0);
    if u64::from(most) > run.max_in_flight {
        return Err(Invalid::new(
            "workload.arrivals.users",
            format!("{most} users at most"),
            format!(
                "at most `run.max_in_flight` = {} users, as each can have a request in flight \
                 (raise `run.max_in_flight`)",
                run.max_in_flight
            ),
        ));
    }
    // Users that never wait send once a think time: the most a population
    // can ask for, held to the rate limit of open workloads.
    let rate = f64::from(most) * 1e9 / think_mean_ns;
    if rate > limits::MAX_RATE {
        return Err(Invalid::new(
            "workload.arrivals.think",
            format!(
                "{most} users thinking {:.3e} s on average",
                think_mean_ns / 1e9
            ),
            format!(
                "a think time whose mean keeps users / mean think at most {:e} requests per \
                 second",
                limits::MAX_RATE
            ),
        ));
    }
    Ok(plan)
}

fn resolve(services: &[ServicePlan], key: &str, name: &str) -> Result<ServiceId, Invalid> {
    services
        .iter()
        .position(|s| s.name == name)
        .map(|i| ServiceId(i as u16))
        .ok_or_else(|| {
            super::unknown_name(key, name, "[[services]]", services.iter().map(|s| &s.name))
        })
}

/// Cumulative weights ending at exactly 1, or `None` if they sum to 0.
fn cdf(weights: &[f64]) -> Option<Vec<f64>> {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mut acc = 0.0;
    let mut out: Vec<f64> = weights
        .iter()
        .map(|w| {
            acc += w;
            acc / total
        })
        .collect();
    // The last positive weight's entry closes the distribution exactly.
    if let Some(last) = weights.iter().rposition(|&w| w > 0.0) {
        out[last..].fill(1.0);
    }
    Some(out)
}

fn arrivals(a: &ArrivalsConfig) -> Result<ArrivalPlan, Invalid> {
    let rate_ok = |r: f64| r.is_finite() && r > 0.0 && r <= limits::MAX_RATE;
    let rate_expected = format!(
        "a number of requests per second > 0 and <= {:e}",
        limits::MAX_RATE
    );
    match a {
        ArrivalsConfig::Poisson { rate } => {
            if !rate_ok(*rate) {
                return Err(Invalid::new("workload.arrivals.rate", rate, rate_expected));
            }
            Ok(ArrivalPlan::Poisson { rate: *rate })
        }
        ArrivalsConfig::Diurnal {
            mean,
            peak_to_trough,
            period,
            phase,
        } => {
            if !rate_ok(*mean) {
                return Err(Invalid::new("workload.arrivals.mean", mean, rate_expected));
            }
            if !(peak_to_trough.is_finite() && *peak_to_trough >= 1.0) {
                return Err(Invalid::new(
                    "workload.arrivals.peak_to_trough",
                    peak_to_trough,
                    "a finite ratio >= 1 (3.0 = the peak is three times the trough)",
                ));
            }
            if period.is_zero() {
                return Err(Invalid::new(
                    "workload.arrivals.period",
                    period,
                    "a positive duration such as \"24h\"",
                ));
            }
            Ok(ArrivalPlan::Diurnal {
                mean: *mean,
                amplitude: (peak_to_trough - 1.0) / (peak_to_trough + 1.0),
                period: *period,
                phase: *phase,
            })
        }
        ArrivalsConfig::Trace(_) | ArrivalsConfig::Closed { .. } => {
            unreachable!("trace and closed arrivals are planned by `plan`")
        }
        ArrivalsConfig::Mmpp { states } => {
            if !(2..=limits::MAX_MMPP_STATES).contains(&states.len()) {
                return Err(Invalid::new(
                    "workload.arrivals.states",
                    format!("{} states", states.len()),
                    format!("2 to {} states", limits::MAX_MMPP_STATES),
                ));
            }
            let mut rates = Vec::with_capacity(states.len());
            let mut holding = Vec::with_capacity(states.len());
            for (i, s) in states.iter().enumerate() {
                if !(s.rate.is_finite() && s.rate >= 0.0 && s.rate <= limits::MAX_RATE) {
                    return Err(Invalid::new(
                        format!("workload.arrivals.states.{i}.rate"),
                        s.rate,
                        format!("a rate >= 0 and <= {:e} per second", limits::MAX_RATE),
                    ));
                }
                if s.holding.is_zero() {
                    return Err(Invalid::new(
                        format!("workload.arrivals.states.{i}.holding"),
                        s.holding,
                        "a positive mean holding time",
                    ));
                }
                rates.push(s.rate);
                holding.push(s.holding);
            }
            if rates.iter().all(|&r| r == 0.0) {
                return Err(Invalid::new(
                    "workload.arrivals.states",
                    "every rate 0",
                    "at least one state with a rate > 0",
                ));
            }
            Ok(ArrivalPlan::Mmpp { rates, holding })
        }
    }
}

/// Checks a `{ count, popularity, s }` table.
pub(crate) fn popularity(
    table: &str,
    count: u64,
    popularity: Popularity,
    s: Option<f64>,
    max: u64,
) -> Result<PopularityPlan, Invalid> {
    if !(1..=max).contains(&count) {
        return Err(Invalid::new(
            format!("{table}.count"),
            count,
            format!("an integer from 1 to {max}"),
        ));
    }
    let zipf_s = match (popularity, s) {
        (Popularity::Uniform, None) => None,
        (Popularity::Uniform, Some(s)) => {
            return Err(Invalid::new(
                format!("{table}.s"),
                s,
                "no `s` with `popularity = \"uniform\"` (it is the Zipf exponent)",
            ));
        }
        (Popularity::Zipf, Some(s)) if s.is_finite() && s > 0.0 && s <= 10.0 => Some(s),
        (Popularity::Zipf, Some(s)) => {
            return Err(Invalid::new(
                format!("{table}.s"),
                s,
                "a Zipf exponent > 0 and <= 10",
            ));
        }
        (Popularity::Zipf, None) => {
            return Err(Invalid::new(
                format!("{table}.s"),
                "missing",
                "`s = F`, the Zipf exponent (> 0), with `popularity = \"zipf\"`",
            ));
        }
    };
    Ok(PopularityPlan { count, zipf_s })
}
