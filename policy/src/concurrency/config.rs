//! The `[policy.adaptive_concurrency.NAME]` table ([`AdaptiveConcurrencyConfig`])
//! and its checked form ([`AdaptiveConcurrencySpec`]).

use crate::config::ConfigError;
use crate::time::Span;

/// Largest `max_limit`, `min_concurrency` and `min_rtt_requests`.
pub const MAX_CONCURRENCY_LIMIT: u64 = 1_000_000;

/// Longest `update_interval` and `min_rtt_interval` (a day: longer ones are
/// a typo, and their jitter would not fit the arithmetic).
pub const MAX_INTERVAL: Span = Span::from_secs(86_400);

/// The table as written. Every key is optional; the defaults are Envoy's
/// (`envoy.extensions.filters.http.adaptive_concurrency.v3`), and where
/// Envoy requires a value, its documentation's example.
///
/// | key | default | accepted | Envoy |
/// |---|---|---|---|
/// | `update_interval` | `"100ms"` | 1ms..=1d: how often the limit is recomputed | `concurrency_limit_params.concurrency_update_interval` (required; doc example 100 ms) |
/// | `sample_percentile` | `0.5` | 0..=1: the quantile of a window's latencies that is its sampleRTT | `sample_aggregate_percentile` (50 %) |
/// | `max_limit` | `1000` | 1..=1000000 | `concurrency_limit_params.max_concurrency_limit` |
/// | `min_rtt_interval` | `"60s"` | 1ms..=1d: time between minRTT measurements | `min_rtt_calc_params.interval` (required; doc example 60 s) |
/// | `min_rtt_requests` | `50` | 1..=1000000 latencies per minRTT measurement | `min_rtt_calc_params.request_count` |
/// | `jitter` | `0.15` | 0..=1: a random fraction of `min_rtt_interval` added to each wait | `min_rtt_calc_params.jitter` (15 %) |
/// | `min_concurrency` | `3` | 1..=`max_limit`: the limit while minRTT is measured, and the floor | `min_rtt_calc_params.min_concurrency` |
/// | `buffer` | `0.25` | 0..=1: latency tolerated above minRTT before the limit shrinks | `min_rtt_calc_params.buffer` (25 %) |
/// | `min_rtt` | — | duration > 0: a fixed minRTT, never measured | `min_rtt_calc_params.fixed_value` |
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(deny_unknown_fields)
)]
pub struct AdaptiveConcurrencyConfig {
    /// How often the limit is recomputed from the window's latencies.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub update_interval: Option<Span>,
    /// The quantile of a window's latencies taken as its sampleRTT.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub sample_percentile: Option<f64>,
    /// The limit's ceiling.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_limit: Option<u64>,
    /// Time from one minRTT measurement to the next (plus jitter).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub min_rtt_interval: Option<Span>,
    /// Latencies that make one minRTT measurement.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub min_rtt_requests: Option<u64>,
    /// Fraction of `min_rtt_interval` drawn and added to each wait.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub jitter: Option<f64>,
    /// The limit while minRTT is measured, and the limit's floor.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub min_concurrency: Option<u64>,
    /// Fraction added to minRTT before comparing it with the sampleRTT.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub buffer: Option<f64>,
    /// A fixed minRTT: no measurement windows.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub min_rtt: Option<Span>,
}

/// A checked gradient controller configuration; build an
/// [`super::AdaptiveConcurrency`] from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveConcurrencySpec {
    pub(super) update_interval: Span,
    pub(super) sample_percentile: f64,
    pub(super) max_limit: u32,
    pub(super) min_rtt_interval: Span,
    pub(super) min_rtt_requests: u32,
    pub(super) jitter: f64,
    pub(super) min_concurrency: u32,
    pub(super) buffer: f64,
    pub(super) fixed_min_rtt: Option<Span>,
}

impl Default for AdaptiveConcurrencySpec {
    /// Envoy's defaults (see [`AdaptiveConcurrencyConfig`]).
    fn default() -> Self {
        AdaptiveConcurrencySpec {
            update_interval: Span::from_millis(100),
            sample_percentile: 0.5,
            max_limit: 1000,
            min_rtt_interval: Span::from_secs(60),
            min_rtt_requests: 50,
            jitter: 0.15,
            min_concurrency: 3,
            buffer: 0.25,
            fixed_min_rtt: None,
        }
    }
}

fn interval(key: &str, span: Span) -> Result<Span, ConfigError> {
    if span < Span::from_millis(1) || span > MAX_INTERVAL {
        return Err(ConfigError::new(
            key,
            format!("\"{span}\""),
            "a duration from 1ms to 1d",
        ));
    }
    Ok(span)
}

fn fraction(key: &str, x: f64) -> Result<f64, ConfigError> {
    if !(0.0..=1.0).contains(&x) {
        return Err(ConfigError::new(key, x, "a number from 0 to 1"));
    }
    Ok(x)
}

fn count(key: &str, n: u64) -> Result<u32, ConfigError> {
    if !(1..=MAX_CONCURRENCY_LIMIT).contains(&n) {
        return Err(ConfigError::new(key, n, "an integer from 1 to 1000000"));
    }
    // At most 1_000_000, checked above.
    Ok(n as u32)
}

impl AdaptiveConcurrencyConfig {
    /// Checks every key against the ranges in the table above.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn validate(&self) -> Result<AdaptiveConcurrencySpec, ConfigError> {
        let d = AdaptiveConcurrencySpec::default();
        let max_limit = count(
            "max_limit",
            self.max_limit.unwrap_or(u64::from(d.max_limit)),
        )?;
        let min_concurrency = self.min_concurrency.unwrap_or(u64::from(d.min_concurrency));
        if !(1..=u64::from(max_limit)).contains(&min_concurrency) {
            return Err(ConfigError::new(
                "min_concurrency",
                min_concurrency,
                format!("an integer from 1 to max_limit ({max_limit})"),
            ));
        }
        let fixed_min_rtt = match self.min_rtt {
            Some(span) if span.is_zero() => {
                return Err(ConfigError::new(
                    "min_rtt",
                    format!("\"{span}\""),
                    "a duration > 0 (leave it out to measure minRTT)",
                ));
            }
            other => other,
        };
        Ok(AdaptiveConcurrencySpec {
            update_interval: interval(
                "update_interval",
                self.update_interval.unwrap_or(d.update_interval),
            )?,
            sample_percentile: fraction(
                "sample_percentile",
                self.sample_percentile.unwrap_or(d.sample_percentile),
            )?,
            max_limit,
            min_rtt_interval: interval(
                "min_rtt_interval",
                self.min_rtt_interval.unwrap_or(d.min_rtt_interval),
            )?,
            min_rtt_requests: count(
                "min_rtt_requests",
                self.min_rtt_requests
                    .unwrap_or(u64::from(d.min_rtt_requests)),
            )?,
            jitter: fraction("jitter", self.jitter.unwrap_or(d.jitter))?,
            // At most max_limit, checked above.
            min_concurrency: min_concurrency as u32,
            buffer: fraction("buffer", self.buffer.unwrap_or(d.buffer))?,
            fixed_min_rtt,
        })
    }
}

impl AdaptiveConcurrencySpec {
    /// The limit's floor, and the limit while minRTT is measured.
    pub fn min_concurrency(&self) -> u32 {
        self.min_concurrency
    }

    /// The limit's ceiling.
    pub fn max_limit(&self) -> u32 {
        self.max_limit
    }

    /// How often the limit is recomputed.
    pub fn update_interval(&self) -> Span {
        self.update_interval
    }

    /// The fixed minRTT, if minRTT is not measured.
    pub fn fixed_min_rtt(&self) -> Option<Span> {
        self.fixed_min_rtt
    }
}
