//! `[run]`: duration, warm-up, replications, seed, time-series interval.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

use headroom_sim::Span;

/// `[run]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Simulated time during which requests arrive. Required.
    pub duration: Span,
    /// Initial period excluded from statistics: a duration (requests
    /// arriving before it ends are not counted), or `"auto"` (MSER-5 chooses
    /// the truncation per replication). Default `"0s"`.
    #[serde(default)]
    pub warmup: Warmup,
    /// Independent replications: a count, or `{ min, max, precision }` to
    /// add replications until the 95 % CI half-width of p99 latency (and of
    /// cost) is within `precision` × mean. Default 5.
    #[serde(default)]
    pub replications: Replications,
    /// Root seed of every random stream. Default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Width of a `timeseries.csv` interval. Default `"1m"`.
    #[serde(default = "default_timeseries_interval")]
    pub timeseries_interval: Span,
    /// Start the caches warm: before time 0 the edge cache and every cache
    /// tier see this much of the workload's requests, as they would pass
    /// through them with nothing failing (`engine::warm`). Default none
    /// (`"0s"` is none too): the caches start empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_warm_start: Option<Span>,
    /// Requests allowed in the system at once before the run stops with an
    /// "unstable" error (protects memory when an unbounded queue grows
    /// without limit). Default 1,000,000.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u64,
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

/// `run.warmup`: a duration or `"auto"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warmup {
    /// Requests arriving before this are excluded.
    Fixed(Span),
    /// MSER-5 chooses the truncation per replication.
    Auto,
}

impl Default for Warmup {
    fn default() -> Self {
        Warmup::Fixed(Span::ZERO)
    }
}

impl Serialize for Warmup {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Warmup::Fixed(span) => span.serialize(serializer),
            Warmup::Auto => serializer.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for Warmup {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WarmupVisitor;
        impl Visitor<'_> for WarmupVisitor {
            type Value = Warmup;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"5m\", or \"auto\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Warmup, E> {
                if v == "auto" {
                    return Ok(Warmup::Auto);
                }
                Span::parse(v)
                    .map(Warmup::Fixed)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_str(WarmupVisitor)
    }
}

/// `run.replications`: a count, or the stop-on-precision rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Replications {
    /// Exactly this many.
    Fixed(u32),
    /// At least `min`, at most `max`, stopping once the relative 95 % CI
    /// half-width of p99 latency (and cost) is at most `precision`.
    Adaptive {
        /// Replications always run.
        min: u32,
        /// Replications never exceeded.
        max: u32,
        /// Target relative half-width (0.05 = ±5 % of the mean).
        precision: f64,
    },
}

impl Default for Replications {
    fn default() -> Self {
        Replications::Fixed(5)
    }
}

impl Serialize for Replications {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match *self {
            Replications::Fixed(n) => serializer.serialize_u32(n),
            Replications::Adaptive {
                min,
                max,
                precision,
            } => {
                let mut s = serializer.serialize_struct("Replications", 3)?;
                s.serialize_field("min", &min)?;
                s.serialize_field("max", &max)?;
                s.serialize_field("precision", &precision)?;
                s.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Replications {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ReplicationsVisitor;
        impl<'de> Visitor<'de> for ReplicationsVisitor {
            type Value = Replications;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "an integer from 1 to {}, or {{ min = N, max = N, precision = F }}",
                    crate::plan::limits::MAX_REPLICATIONS
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Replications, E> {
                u32::try_from(v)
                    .map(Replications::Fixed)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Replications, E> {
                u32::try_from(v)
                    .map(Replications::Fixed)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Replications, A::Error> {
                let (mut min, mut max, mut precision) = (None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "min" => min = Some(map.next_value::<u32>()?),
                        "max" => max = Some(map.next_value::<u32>()?),
                        "precision" => precision = Some(map.next_value::<f64>()?),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["min", "max", "precision"],
                            ));
                        }
                    }
                }
                Ok(Replications::Adaptive {
                    min: min.ok_or_else(|| de::Error::missing_field("min"))?,
                    max: max.ok_or_else(|| de::Error::missing_field("max"))?,
                    precision: precision.ok_or_else(|| de::Error::missing_field("precision"))?,
                })
            }
        }
        deserializer.deserialize_any(ReplicationsVisitor)
    }
}
