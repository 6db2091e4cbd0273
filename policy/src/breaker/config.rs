//! The `[policy.mesh.circuit_breaker]` table ([`BreakerConfig`]) and its checked
//! form ([`BreakerSpec`]).

use std::fmt;

use crate::config::ConfigError;
use crate::time::Span;

use super::window::PPM;

/// Largest count-based window, in calls.
pub const MAX_WINDOW_CALLS: u32 = 100_000;
/// Largest time-based window, in seconds (one bucket per second).
pub const MAX_WINDOW_SECS: u64 = 3_600;
/// Largest `minimum_calls`.
pub const MAX_MINIMUM_CALLS: u32 = 1_000_000;
/// Largest `half_open_calls`.
pub const MAX_HALF_OPEN_CALLS: u32 = 10_000;
/// Largest `max_failures` (consecutive mode).
pub const MAX_CONSECUTIVE_FAILURES: u32 = 1_000_000;

/// How the breaker decides to open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum Mode {
    /// resilience4j: failure rate or slow-call rate over a sliding window.
    #[default]
    Rate,
    /// Linkerd failure accrual: `max_failures` consecutive failures.
    Consecutive,
}

/// The kind of sliding window in rate mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum WindowType {
    /// The last `window` calls.
    #[default]
    Count,
    /// The calls of the last `window` seconds, in one-second buckets.
    Time,
}

/// The `window` key: a number of calls (`window_type = "count"`) or a duration
/// string of whole seconds (`window_type = "time"`, e.g. `"60s"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowSize {
    /// A number of calls, written as an integer.
    Calls(u64),
    /// A duration, written as a string such as `"10s"`.
    Duration(Span),
}

impl fmt::Display for WindowSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowSize::Calls(n) => write!(f, "{n}"),
            WindowSize::Duration(span) => write!(f, "\"{span}\""),
        }
    }
}

/// The `[policy.mesh.circuit_breaker]` table as written. Every key is
/// optional; [`BreakerConfig::validate`] applies the defaults below and
/// checks the ranges.
///
/// | key | mode | default | accepted |
/// |---|---|---|---|
/// | `mode` | both | `"rate"` | `"rate"`, `"consecutive"` |
/// | `window_type` | rate | `"count"` | `"count"`, `"time"` |
/// | `window` | rate | `100` (count) / `"100s"` (time) | 1..=100000 calls / 1s..=3600s whole seconds |
/// | `failure_rate_threshold` | rate | `0.5` | fraction in (0, 1] |
/// | `slow_call_rate_threshold` | rate | `1.0` | fraction in (0, 1] |
/// | `slow_call_duration` | rate | `"60s"` | any duration; a call is slow if it lasts longer |
/// | `minimum_calls` | rate | `100` | 1..=1000000 (count windows clamp it to the window) |
/// | `open_duration` | rate | `"60s"` | > 0 |
/// | `open_duration_multiplier` | rate | `1.0` (constant) | finite, >= 1.0; above 1 the interval counts whole ms (resilience4j) and `open_duration` must be >= 1ms |
/// | `open_duration_max` | rate | none (no cap) | >= `open_duration` |
/// | `half_open_calls` | rate | `10` | 1..=10000 |
/// | `max_failures` | consecutive | `7` | 1..=1000000 |
/// | `min_penalty` | consecutive | `"1s"` | <= `max_penalty` |
/// | `max_penalty` | consecutive | `"1m"` | > 0 |
/// | `jitter` | consecutive | `0.5` | finite, 0..=100 |
///
/// Rate-mode defaults are resilience4j's `CircuitBreakerConfig` defaults;
/// consecutive-mode defaults are Linkerd's failure-accrual annotations. A key
/// of the other mode is an error, so a typo'd mode cannot silently ignore it.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(default, deny_unknown_fields)
)]
pub struct BreakerConfig {
    /// `"rate"` (default) or `"consecutive"`.
    pub mode: Option<Mode>,
    /// `"count"` (default) or `"time"`.
    pub window_type: Option<WindowType>,
    /// Window size: calls (count) or whole seconds as a duration string (time).
    pub window: Option<WindowSize>,
    /// Failure rate that opens the breaker, as a fraction in (0, 1].
    pub failure_rate_threshold: Option<f64>,
    /// Slow-call rate that opens the breaker, as a fraction in (0, 1].
    pub slow_call_rate_threshold: Option<f64>,
    /// A call lasting strictly longer than this is slow.
    pub slow_call_duration: Option<Span>,
    /// Calls that must be buffered before rates are computed.
    pub minimum_calls: Option<u32>,
    /// Time spent open before the first probe (the first interval).
    pub open_duration: Option<Span>,
    /// Growth factor of the open interval per consecutive opening.
    pub open_duration_multiplier: Option<f64>,
    /// Cap of the growing open interval.
    pub open_duration_max: Option<Span>,
    /// Probe calls permitted while half-open.
    pub half_open_calls: Option<u32>,
    /// Consecutive failures that open the breaker (consecutive mode).
    pub max_failures: Option<u32>,
    /// First open interval (consecutive mode).
    pub min_penalty: Option<Span>,
    /// Largest open interval (consecutive mode).
    pub max_penalty: Option<Span>,
    /// Jitter ratio: up to `jitter × interval` is added (consecutive mode).
    pub jitter: Option<f64>,
}

/// A validated breaker configuration. Build one with
/// [`BreakerConfig::validate`]; creating breakers from it cannot fail.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerSpec {
    pub(crate) mode: ModeSpec,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ModeSpec {
    Rate(RateSpec),
    Consecutive(ConsecutiveSpec),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WindowSpec {
    Calls(u32),
    Seconds(u32),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RateSpec {
    pub(crate) window: WindowSpec,
    pub(crate) failure_ppm: u64,
    pub(crate) slow_ppm: u64,
    pub(crate) slow_call_duration: Span,
    pub(crate) minimum_calls: u32,
    pub(crate) open_duration: Span,
    pub(crate) multiplier: f64,
    pub(crate) open_duration_max: Span,
    pub(crate) half_open_calls: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ConsecutiveSpec {
    pub(crate) max_failures: u32,
    pub(crate) min_penalty: Span,
    pub(crate) max_penalty: Span,
    pub(crate) jitter: f64,
}

impl BreakerSpec {
    /// The configured mode.
    pub fn mode(&self) -> Mode {
        match self.mode {
            ModeSpec::Rate(_) => Mode::Rate,
            ModeSpec::Consecutive(_) => Mode::Consecutive,
        }
    }

    /// Probe calls permitted per half-open period (1 in consecutive mode).
    pub fn half_open_calls(&self) -> u32 {
        match &self.mode {
            ModeSpec::Rate(r) => r.half_open_calls,
            ModeSpec::Consecutive(_) => 1,
        }
    }
}

impl Default for BreakerSpec {
    /// The spec of an empty table: rate mode with resilience4j defaults.
    fn default() -> Self {
        match BreakerConfig::default().validate() {
            Ok(spec) => spec,
            // The defaults are constants inside every accepted range.
            Err(err) => unreachable!("default breaker config is valid: {err}"),
        }
    }
}

fn fraction(key: &str, value: Option<f64>, default: f64) -> Result<u64, ConfigError> {
    let v = value.unwrap_or(default);
    if !(v.is_finite() && v > 0.0 && v <= 1.0) {
        return Err(ConfigError::new(key, v, "a fraction in (0, 1], e.g. 0.5"));
    }
    // Rounded to parts per million; at least 1 ppm so a tiny fraction still trips.
    Ok(((v * PPM as f64).round() as u64).clamp(1, PPM))
}

fn in_range(key: &str, value: Option<u32>, default: u32, max: u32) -> Result<u32, ConfigError> {
    let v = value.unwrap_or(default);
    if v == 0 || v > max {
        return Err(ConfigError::new(key, v, format!("an integer in 1..={max}")));
    }
    Ok(v)
}

fn positive(key: &str, value: Option<Span>, default: Span) -> Result<Span, ConfigError> {
    let v = value.unwrap_or(default);
    if v.is_zero() {
        return Err(ConfigError::new(
            key,
            format!("\"{v}\""),
            "a duration greater than zero",
        ));
    }
    Ok(v)
}

fn only_in(mode: &str, key: &str, set: bool, value: impl fmt::Display) -> Result<(), ConfigError> {
    if set {
        return Err(ConfigError::new(
            key,
            value,
            format!("no value: this key applies only when mode = \"{mode}\""),
        ));
    }
    Ok(())
}

impl BreakerConfig {
    /// Applies defaults and checks every range, naming the first bad key.
    pub fn validate(&self) -> Result<BreakerSpec, ConfigError> {
        let mode = match self.mode.unwrap_or_default() {
            Mode::Rate => {
                self.reject_consecutive_keys()?;
                ModeSpec::Rate(self.validate_rate()?)
            }
            Mode::Consecutive => {
                self.reject_rate_keys()?;
                ModeSpec::Consecutive(self.validate_consecutive()?)
            }
        };
        Ok(BreakerSpec { mode })
    }

    fn reject_consecutive_keys(&self) -> Result<(), ConfigError> {
        let show = |v: Option<Span>| v.map(|s| format!("\"{s}\"")).unwrap_or_default();
        only_in(
            "consecutive",
            "max_failures",
            self.max_failures.is_some(),
            self.max_failures.unwrap_or_default(),
        )?;
        only_in(
            "consecutive",
            "min_penalty",
            self.min_penalty.is_some(),
            show(self.min_penalty),
        )?;
        only_in(
            "consecutive",
            "max_penalty",
            self.max_penalty.is_some(),
            show(self.max_penalty),
        )?;
        only_in(
            "consecutive",
            "jitter",
            self.jitter.is_some(),
            self.jitter.unwrap_or_default(),
        )
    }

    fn reject_rate_keys(&self) -> Result<(), ConfigError> {
        let checks: [(&str, Option<String>); 10] = [
            ("window_type", self.window_type.map(|w| format!("{w:?}"))),
            ("window", self.window.map(|w| w.to_string())),
            (
                "failure_rate_threshold",
                self.failure_rate_threshold.map(|v| v.to_string()),
            ),
            (
                "slow_call_rate_threshold",
                self.slow_call_rate_threshold.map(|v| v.to_string()),
            ),
            (
                "slow_call_duration",
                self.slow_call_duration.map(|v| format!("\"{v}\"")),
            ),
            ("minimum_calls", self.minimum_calls.map(|v| v.to_string())),
            (
                "open_duration",
                self.open_duration.map(|v| format!("\"{v}\"")),
            ),
            (
                "open_duration_multiplier",
                self.open_duration_multiplier.map(|v| v.to_string()),
            ),
            (
                "open_duration_max",
                self.open_duration_max.map(|v| format!("\"{v}\"")),
            ),
            (
                "half_open_calls",
                self.half_open_calls.map(|v| v.to_string()),
            ),
        ];
        for (key, value) in checks {
            if let Some(value) = value {
                only_in("rate", key, true, value)?;
            }
        }
        Ok(())
    }

    fn validate_window(&self) -> Result<WindowSpec, ConfigError> {
        match self.window_type.unwrap_or_default() {
            WindowType::Count => match self.window.unwrap_or(WindowSize::Calls(100)) {
                WindowSize::Calls(n) if n >= 1 && n <= u64::from(MAX_WINDOW_CALLS) => {
                    Ok(WindowSpec::Calls(n as u32))
                }
                other => Err(ConfigError::new(
                    "window",
                    other,
                    format!(
                        "a number of calls in 1..={MAX_WINDOW_CALLS} (an integer) when window_type = \"count\""
                    ),
                )),
            },
            WindowType::Time => {
                let default = WindowSize::Duration(Span::from_secs(100));
                match self.window.unwrap_or(default) {
                    WindowSize::Duration(span)
                        if !span.is_zero()
                            && span.as_nanos().is_multiple_of(1_000_000_000)
                            && span <= Span::from_secs(MAX_WINDOW_SECS) =>
                    {
                        Ok(WindowSpec::Seconds(
                            (span.as_nanos() / 1_000_000_000) as u32,
                        ))
                    }
                    other => Err(ConfigError::new(
                        "window",
                        other,
                        format!(
                            "a whole number of seconds from \"1s\" to \"{MAX_WINDOW_SECS}s\" (a duration string) when window_type = \"time\""
                        ),
                    )),
                }
            }
        }
    }

    fn validate_rate(&self) -> Result<RateSpec, ConfigError> {
        let window = self.validate_window()?;
        let failure_ppm = fraction("failure_rate_threshold", self.failure_rate_threshold, 0.5)?;
        let slow_ppm = fraction(
            "slow_call_rate_threshold",
            self.slow_call_rate_threshold,
            1.0,
        )?;
        let slow_call_duration = self.slow_call_duration.unwrap_or(Span::from_secs(60));
        let minimum_calls = in_range("minimum_calls", self.minimum_calls, 100, MAX_MINIMUM_CALLS)?;
        let open_duration = positive("open_duration", self.open_duration, Span::from_secs(60))?;
        let multiplier = self.open_duration_multiplier.unwrap_or(1.0);
        if !(multiplier.is_finite() && multiplier >= 1.0) {
            return Err(ConfigError::new(
                "open_duration_multiplier",
                multiplier,
                "a finite number >= 1.0 (1.0 keeps the open interval constant)",
            ));
        }
        if multiplier > 1.0 && open_duration < Span::from_millis(1) {
            // resilience4j's IntervalFunction counts whole milliseconds and
            // rejects an initial interval below 1 ms.
            return Err(ConfigError::new(
                "open_duration",
                format!("\"{open_duration}\""),
                "a duration of at least \"1ms\" when open_duration_multiplier > 1 \
                 (the exponential interval counts whole milliseconds)",
            ));
        }
        let open_duration_max = match self.open_duration_max {
            Some(max) if max < open_duration => {
                return Err(ConfigError::new(
                    "open_duration_max",
                    format!("\"{max}\""),
                    format!("a duration >= open_duration (\"{open_duration}\")"),
                ));
            }
            Some(max) => max,
            None => Span::MAX,
        };
        let half_open_calls = in_range(
            "half_open_calls",
            self.half_open_calls,
            10,
            MAX_HALF_OPEN_CALLS,
        )?;
        Ok(RateSpec {
            window,
            failure_ppm,
            slow_ppm,
            slow_call_duration,
            minimum_calls,
            open_duration,
            multiplier,
            open_duration_max,
            half_open_calls,
        })
    }

    fn validate_consecutive(&self) -> Result<ConsecutiveSpec, ConfigError> {
        let max_failures = in_range(
            "max_failures",
            self.max_failures,
            7,
            MAX_CONSECUTIVE_FAILURES,
        )?;
        let max_penalty = positive("max_penalty", self.max_penalty, Span::from_secs(60))?;
        let min_penalty = self.min_penalty.unwrap_or(Span::from_secs(1));
        if min_penalty > max_penalty {
            return Err(ConfigError::new(
                "min_penalty",
                format!("\"{min_penalty}\""),
                format!("a duration <= max_penalty (\"{max_penalty}\")"),
            ));
        }
        let jitter = self.jitter.unwrap_or(0.5);
        if !(jitter.is_finite() && (0.0..=100.0).contains(&jitter)) {
            return Err(ConfigError::new(
                "jitter",
                jitter,
                "a finite ratio in 0..=100 (0.5 adds up to half the interval)",
            ));
        }
        Ok(ConsecutiveSpec {
            max_failures,
            min_penalty,
            max_penalty,
            jitter,
        })
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::WindowSize;
    use crate::time::{ParseSpanError, Span};
    use serde::de::{self, Deserialize, Deserializer, Visitor};
    use serde::ser::{Serialize, Serializer};
    use std::fmt;

    impl Serialize for WindowSize {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            match self {
                WindowSize::Calls(n) => serializer.serialize_u64(*n),
                WindowSize::Duration(span) => span.serialize(serializer),
            }
        }
    }

    impl<'de> Deserialize<'de> for WindowSize {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct WindowVisitor;
            impl Visitor<'_> for WindowVisitor {
                type Value = WindowSize;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(
                        f,
                        "a number of calls (integer) or {}",
                        ParseSpanError::ACCEPTED
                    )
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<WindowSize, E> {
                    Ok(WindowSize::Calls(v))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<WindowSize, E> {
                    u64::try_from(v).map(WindowSize::Calls).map_err(|_| {
                        E::custom(format!("window = {v}: expected a positive number of calls"))
                    })
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<WindowSize, E> {
                    Span::parse(v).map(WindowSize::Duration).map_err(E::custom)
                }
            }
            deserializer.deserialize_any(WindowVisitor)
        }
    }
}
