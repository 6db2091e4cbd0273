//! `[workload]`: the traffic offered at the edge: the arrival process,
//! surges, clients, origin regions, sizes and the entry service(s).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use headroom_sim::Span;

use crate::units::Bytes;
use headroom_policy::config::{StringOrTable, string_or_table};

/// `[workload]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkloadConfig {
    /// The arrival process.
    pub arrivals: ArrivalsConfig,
    /// `[[workload.surges]]`: windows in which the arrival rate is
    /// multiplied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub surges: Vec<SurgeConfig>,
    /// Who sends the requests (for per-client rate limits). Default 1000
    /// clients, uniform (filled in when a scenario is loaded); none with a
    /// closed workload, whose users are its clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<ClientsConfig>,
    /// Where clients are: region name -> weight. Default: equal weights over
    /// every region.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub origin: BTreeMap<String, f64>,
    /// Bytes sent with each request (egress cost). Default `"1KB"`.
    #[serde(default = "default_request_size")]
    pub request_size: Bytes,
    /// Bytes returned with each response (egress cost). Default `"10KB"`.
    #[serde(default = "default_response_size")]
    pub response_size: Bytes,
    /// The service clients call: a name, or a mix `{ api = 0.9, auth = 0.1 }`
    /// of weights. Default: the first service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryConfig>,
    /// Which key each request reads or writes (for `{ data = "store" }`
    /// steps). Default: one key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<super::data::KeysConfig>,
    /// Fraction of requests that read their key; the rest write it. Default
    /// 1.0.
    #[serde(default = "default_read_fraction")]
    pub read_fraction: f64,
    /// Sessions: each arrival of the (open) arrival process starts a
    /// session whose requests follow one another, each a think time after
    /// the last one's outcome. Default: none (each arrival is one request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionConfig>,
}

/// `workload.session`: a partly-open workload. Sessions arrive by the
/// arrival process; a session sends `requests` requests one at a time, each
/// a `think` time after the outcome of the one before, from one client and
/// one origin region.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Requests per session: the mean of a geometric number (>= 1), or the
    /// fixed number with `length = "fixed"` (an integer >= 1).
    pub requests: f64,
    /// How the number of requests varies. Default `"geometric"`.
    #[serde(default)]
    pub length: SessionLength,
    /// Time between a response and the session's next request: a duration
    /// (fixed) or a distribution table, with a mean > 0.
    pub think: super::dist::DistOrSpan,
    /// Probability that a session ends after a request that was not
    /// answered (an error, a timeout, a shed or a rejection), instead of
    /// going on: users who give up. Default 0.
    #[serde(default)]
    pub abandon_after_failure: f64,
    /// How long a session's user waits for an answer: drawn once per
    /// session (a duration, or a distribution table with a mean > 0); a
    /// request answered later (or not answered by then) makes the user
    /// leave when it runs out. Default: users wait for every outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<super::dist::DistOrSpan>,
}

/// `workload.session.length`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SessionLength {
    /// After each request the session goes on with probability
    /// `1 - 1 / requests`: a geometric number of requests with mean
    /// `requests` (memoryless, as in the partly-open model).
    #[default]
    Geometric,
    /// Exactly `requests` requests.
    Fixed,
}

fn default_read_fraction() -> f64 {
    1.0
}

fn default_request_size() -> Bytes {
    Bytes::new(1_000)
}
fn default_response_size() -> Bytes {
    Bytes::new(10_000)
}

/// `workload.arrivals`, tagged by `process`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "process", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ArrivalsConfig {
    /// Poisson arrivals: exponential inter-arrival times.
    Poisson {
        /// Mean arrival rate, requests per second (> 0).
        rate: f64,
    },
    /// A non-homogeneous Poisson process with a sinusoidal daily rate:
    /// `rate(t) = mean × (1 + a × sin(2π (t − phase) / period))` with
    /// `a = (peak_to_trough − 1) / (peak_to_trough + 1)`, so the peak rate
    /// is `peak_to_trough` times the trough rate.
    Diurnal {
        /// Mean rate, requests per second.
        mean: f64,
        /// Peak rate over trough rate (>= 1).
        peak_to_trough: f64,
        /// Length of one cycle. Default `"24h"`.
        #[serde(default = "default_period")]
        period: Span,
        /// Shift of the cycle: the rate crosses the mean upwards at `phase`.
        /// Default `"0s"`.
        #[serde(default)]
        phase: Span,
    },
    /// A Markov-modulated Poisson process: the process stays in a state for
    /// an exponential holding time (mean `holding`) and arrivals are Poisson
    /// at the state's rate; on leaving a state it moves to each other state
    /// with equal probability. Starts in the first state.
    Mmpp {
        /// The states (2..=64).
        states: Vec<MmppStateConfig>,
    },
    /// A recorded trace replayed as the arrivals (and keys, sizes, ops,
    /// clients, regions and routes where the trace has them).
    Trace(TraceArrivalsConfig),
    /// A closed workload: `users` clients, each with one request at a time.
    /// A user sends a request, waits for its outcome (answered, failed or
    /// rejected, plus the round trip to its edge), thinks for a `think`
    /// time, and sends the next; arrivals follow from how fast the system
    /// answers, as with load-test virtual users or interactive terminals.
    /// Each user is its own client (for per-client limits) and lives in one
    /// origin region, drawn from `workload.origin`.
    Closed {
        /// Concurrent users (1..=10^7).
        users: u64,
        /// Time between a response and the user's next request: a duration
        /// (fixed) or a distribution table, with a mean > 0.
        think: super::dist::DistOrSpan,
        /// Changes of the population over the run, in order: at `at` the
        /// number of users moves to `users`, evenly over `ramp`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stages: Vec<StageConfig>,
    },
}

/// One change of a closed workload's population: from `at`, the users
/// number moves to `users` one at a time, evenly over `ramp` (at once when
/// `ramp` is zero).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Start of the change.
    pub at: Span,
    /// Users once it is done (0..=10^7).
    pub users: u64,
    /// How long the change takes. Default `"0s"`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ramp: Span,
}

fn is_zero(span: &Span) -> bool {
    span.is_zero()
}

/// `workload.arrivals = { process = "trace", path, ... }`: replay a trace.
///
/// Trace time zero is the first record's time rounded down to a whole
/// minute (so per-minute series of the run and of the trace line up);
/// `window` offsets count from there.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TraceArrivalsConfig {
    /// The trace file, relative to the scenario file's folder.
    pub path: String,
    /// Its format (`headroom`, `csv`, `txt`, `oracleGeneral`, `clf`,
    /// `counts`, `timestamped`); default: detected from name and content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Format options, `"key=value,..."` (as `--trace-opts`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub options: String,
    /// Time compression: 2.0 replays the trace twice as fast (> 0).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub speedup: f64,
    /// Load factor: below 1 keeps each request with this probability
    /// (Bernoulli thinning); above 1 superposes `floor(x)` copies of the
    /// trace (plus one thinned by the fraction), each but the first shifted
    /// by a uniform random offset in `[0, shift)`, wrapping around the
    /// trace's span. Keys are kept, so key popularity is the trace's.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub scale_load: f64,
    /// Largest time shift of a superposed copy (`scale_load > 1`), in trace
    /// time. Default `"1s"`.
    #[serde(default = "default_shift")]
    pub shift: Span,
    /// Start over at the end of the trace until `run.duration`.
    #[serde(default, rename = "loop", skip_serializing_if = "std::ops::Not::not")]
    pub repeat: bool,
    /// Only the part `"FROM..TO"` of the trace (durations from trace time
    /// zero; either end may be left out: `"2h.."`, `"..30m"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// Reorder records that go back in time by at most this much.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_window: Option<Span>,
    /// Skip rows with bad values instead of refusing the trace.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_bad_rows: bool,
}

fn one() -> f64 {
    1.0
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

fn default_shift() -> Span {
    Span::from_secs(1)
}

fn default_period() -> Span {
    Span::from_secs(86_400)
}

/// One MMPP state.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MmppStateConfig {
    /// Arrival rate in this state, requests per second (>= 0).
    pub rate: f64,
    /// Mean time spent in this state (> 0).
    pub holding: Span,
}

/// `[[workload.surges]]`: `rate × multiplier` in `[at, at + duration)`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SurgeConfig {
    /// Start.
    pub at: Span,
    /// Length (> 0).
    pub duration: Span,
    /// Rate multiplier (> 0; overlapping surges multiply).
    pub multiplier: f64,
}

/// `workload.clients`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientsConfig {
    /// Distinct clients (1..=10^9). Default 1000.
    #[serde(default = "default_clients")]
    pub count: u64,
    /// How requests spread over clients. Default `"uniform"`.
    #[serde(default)]
    pub popularity: Popularity,
    /// Zipf exponent (> 0), required with `popularity = "zipf"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<f64>,
}

fn default_clients() -> u64 {
    1000
}

impl Default for ClientsConfig {
    fn default() -> Self {
        ClientsConfig {
            count: default_clients(),
            popularity: Popularity::Uniform,
            s: None,
        }
    }
}

/// How draws spread over `count` items.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Popularity {
    /// Every item equally likely.
    #[default]
    Uniform,
    /// Item k (1-based) with probability proportional to `1 / k^s`.
    Zipf,
}

/// `workload.entry`: one service, or a weighted mix.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum EntryConfig {
    /// Every request enters at this service.
    Service(String),
    /// Service name -> weight.
    Mix(BTreeMap<String, f64>),
}

impl<'de> Deserialize<'de> for EntryConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = string_or_table(
            deserializer,
            "a service name such as \"api\", or a request mix of service names \
             and weights such as { api = 0.9, auth = 0.1 }",
        )?;
        Ok(match value {
            StringOrTable::String(name) => EntryConfig::Service(name),
            StringOrTable::Table(mix) => EntryConfig::Mix(mix),
        })
    }
}
