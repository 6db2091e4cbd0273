//! Distributions and queue capacities: value types shared by several tables.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;

use headroom_policy::config::{StringOrTable, string_or_table};
use headroom_sim::Span;

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

/// A duration written either as a plain string (`"30s"`, a fixed value) or
/// as a distribution table. Used where a fixed value is the common case
/// (`boot_time`, a latency fault's `add`).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum DistOrSpan {
    /// A fixed duration.
    Fixed(Span),
    /// A distribution.
    Dist(DistConfig),
}

impl<'de> Deserialize<'de> for DistOrSpan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = string_or_table(
            deserializer,
            "a duration such as \"30s\", or a distribution table such as \
             { distribution = \"exponential\", mean = \"30s\" }",
        )?;
        Ok(match value {
            StringOrTable::String(span) => DistOrSpan::Fixed(span),
            StringOrTable::Table(dist) => DistOrSpan::Dist(dist),
        })
    }
}

impl Default for DistOrSpan {
    fn default() -> Self {
        DistOrSpan::Fixed(Span::ZERO)
    }
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
