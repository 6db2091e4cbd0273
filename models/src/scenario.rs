//! The scenario file's schema: serde structs that mirror the TOML exactly.
//!
//! Every table denies unknown keys, so a typo is an error rather than a
//! silently ignored setting. These structs hold what the planner wrote (with
//! defaults filled in); [`crate::plan`] turns them, once, into the checked
//! model the engine runs. Defaults are documented here and in
//! `experiments/README.md`.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;

use headroom_policy::balance::Algorithm;
use headroom_sim::Span;

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// `[run]`: how long, how many replications, which seed.
    pub run: RunConfig,
    /// `[workload]`: the traffic offered to the entry service.
    pub workload: WorkloadConfig,
    /// `[[services]]`: the services; the first is the entry point.
    pub services: Vec<ServiceConfig>,
    /// `[sweep]`: parameters to vary for `headroom sweep` (ignored by `run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<crate::sweep::SweepConfig>,
}

/// `[run]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Simulated time during which requests arrive. Required.
    pub duration: Span,
    /// Initial period excluded from statistics (requests arriving before it
    /// ends are not counted). Default `"0s"`.
    #[serde(default)]
    pub warmup: Span,
    /// Independent replications. Default 5.
    #[serde(default = "default_replications")]
    pub replications: u32,
    /// Root seed of every random stream. Default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Width of a `timeseries.csv` interval. Default `"1m"`.
    #[serde(default = "default_timeseries_interval")]
    pub timeseries_interval: Span,
    /// Requests allowed in the system at once before the run stops with an
    /// "unstable" error (protects memory when an unbounded queue grows
    /// without limit). Default 1,000,000.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u64,
}

fn default_replications() -> u32 {
    5
}
fn default_seed() -> u64 {
    1
}
fn default_timeseries_interval() -> Span {
    Span::from_secs(60)
}
fn default_max_in_flight() -> u64 {
    1_000_000
}

/// `[workload]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkloadConfig {
    /// The arrival process.
    pub arrivals: ArrivalsConfig,
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
}

/// One `[[services]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Unique name; also how `--set services.NAME.…` addresses it.
    pub name: String,
    /// What one instance is.
    pub instance: InstanceConfig,
    /// Service-time distribution of one request on one worker.
    pub work: DistConfig,
    /// Fixed number of instances. Default 1.
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// How requests are spread over instances: `"round-robin"` (default),
    /// `"random"`, `"least-connections"`, `"least-request"` (Envoy P2C) or
    /// `"peak-ewma"` (Linkerd), decided by [`headroom_policy::balance`].
    #[serde(default)]
    pub load_balancer: Algorithm,
}

fn default_replicas() -> u32 {
    1
}

/// `services.*.instance`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// Requests served at once (threads, or cores for `event-loop`). >= 1.
    pub workers: u32,
    /// Waiting room per instance: an integer (0 = none, Erlang B) or
    /// `"unbounded"`. A request that finds the queue full is shed.
    /// Default `"unbounded"`.
    #[serde(default)]
    pub queue: QueueCapacity,
    /// Concurrency model. Default `"threads"`.
    #[serde(default)]
    pub model: ConcurrencyModel,
}

/// A queue's capacity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueueCapacity {
    /// At most this many waiting requests per instance.
    Bounded(u64),
    /// No limit (the run's `max_in_flight` still applies).
    #[default]
    Unbounded,
}

/// `instance.model`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ConcurrencyModel {
    /// A worker is held while the request waits on downstream calls.
    #[default]
    Threads,
    /// The worker is released while waiting on downstream calls; `workers`
    /// are CPU cores.
    EventLoop,
}

/// A duration distribution, tagged by `distribution`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "distribution", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DistConfig {
    /// Exponential with mean `mean`.
    Exponential {
        /// Mean.
        mean: Span,
    },
    /// Always `mean`.
    Deterministic {
        /// The value.
        mean: Span,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        /// Smallest value.
        min: Span,
        /// Largest value.
        max: Span,
    },
    /// Lognormal with mean `mean` and either `cv` or `p99`.
    Lognormal {
        /// Mean.
        mean: Span,
        /// Coefficient of variation (standard deviation / mean).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cv: Option<f64>,
        /// 99th percentile.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        p99: Option<Span>,
    },
    /// Pareto with mean `mean` and tail index `shape` (> 1).
    Pareto {
        /// Mean.
        mean: Span,
        /// Shape (tail index).
        shape: f64,
    },
    /// Resampled observations from a file: one duration string per line
    /// (`#` comments and blank lines ignored); relative paths are relative to
    /// the scenario file.
    Empirical {
        /// The file.
        path: PathBuf,
    },
}

impl Serialize for QueueCapacity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            QueueCapacity::Bounded(n) => serializer.serialize_u64(*n),
            QueueCapacity::Unbounded => serializer.serialize_str("unbounded"),
        }
    }
}

impl<'de> Deserialize<'de> for QueueCapacity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QueueVisitor;
        impl Visitor<'_> for QueueVisitor {
            type Value = QueueCapacity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or \"unbounded\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<QueueCapacity, E> {
                Ok(QueueCapacity::Bounded(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<QueueCapacity, E> {
                u64::try_from(v)
                    .map(QueueCapacity::Bounded)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<QueueCapacity, E> {
                if v == "unbounded" {
                    Ok(QueueCapacity::Unbounded)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
        }
        deserializer.deserialize_any(QueueVisitor)
    }
}
