//! The `hedge` table of `[policy.mesh]` and of each edge ([`HedgeConfig`]),
//! and its checked form ([`HedgePolicy`]).

use crate::config::ConfigError;
use crate::retry::{BudgetConfig, BudgetPolicy, RetryOn};
use crate::time::{Span, Timestamp};

use super::{HedgeState, LatencyTracker};

/// Largest `max_hedged` (gRPC caps `maxAttempts` at 5 by default, i.e. 4
/// hedges; 16 leaves room for experiments).
pub const MAX_HEDGED: u32 = 16;

/// Largest `min_samples`.
pub const MAX_MIN_SAMPLES: u64 = 1_000_000_000;

/// The `hedge` table as written (`[policy.mesh] hedge = { ... }`). Every key
/// is optional, but `delay` or `percentile` must be given.
///
/// | key | default | accepted |
/// |---|---|---|
/// | `delay` | — | duration >= 0: a fixed hedge delay (gRPC `hedgingDelay`); with `percentile`, the delay used until `min_samples` latencies are readable |
/// | `percentile` | — | (0, 1]: hedge after this quantile of recent latencies (tower `Hedge`), e.g. 0.95 |
/// | `max_hedged` | `1` | 1..=16 hedges per call, on top of the original (gRPC `maxAttempts − 1`) |
/// | `min_samples` | `100` | 1..=10^9 readable latencies before the percentile is trusted (tower `min_data_points`); percentile only |
/// | `window` | `"10s"` | 1ms..=1h: latencies of one window are read during the next (tower `period`); percentile only |
/// | `retry_on` | the edge's `retry.retry_on`, else the retry default | outcomes that do not end the race (gRPC `nonFatalStatusCodes`); see [`RetryOn`] |
/// | `budget` | `{ ratio = 0.2, min_per_s = 10, window = "10s" }` | only on edges without `retry`: hedges draw on the retry budget when there is one |
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(deny_unknown_fields)
)]
pub struct HedgeConfig {
    /// Fixed delay before each hedge.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub delay: Option<Span>,
    /// Quantile of recent latencies after which to hedge.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub percentile: Option<f64>,
    /// Most hedges per call.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_hedged: Option<u64>,
    /// Readable latencies needed before the percentile applies.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub min_samples: Option<u64>,
    /// Rotation period of the latency histograms.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub window: Option<Span>,
    /// Outcomes after which the other attempts keep racing.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub retry_on: Option<Vec<String>>,
    /// The budget hedges draw on, for edges without a retry policy.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub budget: Option<BudgetConfig>,
}

/// When a hedge is due.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HedgeDelay {
    /// A fixed delay after the previous attempt of the call.
    Fixed(Span),
    /// A quantile of the latencies a [`LatencyTracker`] reads; `fallback`
    /// applies while fewer than `min_samples` are readable (no hedging when
    /// `None`, as tower).
    Percentile {
        /// The quantile in parts per million (950 000 = p95).
        quantile_ppm: u32,
        /// Readable latencies needed.
        min_samples: u64,
        /// The delay used until then.
        fallback: Option<Span>,
        /// The tracker's rotation period.
        window: Span,
    },
}

/// A checked [`HedgeConfig`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HedgePolicy {
    delay: HedgeDelay,
    max_hedged: u32,
    retry_on: RetryOn,
    budget: Option<BudgetPolicy>,
}

impl HedgeConfig {
    /// Checks the table once. `edge_retry_on` is the `retry_on` of the
    /// edge's retry policy, if it has one (then `budget` must be absent:
    /// hedges share the retry budget).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key relative to the table.
    pub fn validate(&self, edge_retry_on: Option<RetryOn>) -> Result<HedgePolicy, ConfigError> {
        let delay = self.checked_delay()?;
        let max_hedged = self.max_hedged.unwrap_or(1);
        if !(1..=u64::from(MAX_HEDGED)).contains(&max_hedged) {
            return Err(ConfigError::new(
                "max_hedged",
                max_hedged,
                format!("an integer in 1..={MAX_HEDGED} (hedges per call, besides the original)"),
            ));
        }
        let retry_on = match (&self.retry_on, edge_retry_on) {
            (Some(names), _) => RetryOn::parse(names)?,
            (None, Some(inherited)) => inherited,
            (None, None) => RetryOn::default(),
        };
        let budget = match (&self.budget, edge_retry_on) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "budget",
                    "a table",
                    "no `budget` on an edge with `retry`: hedges draw on the retry budget \
                     (set `retry.budget`)",
                ));
            }
            (Some(b), None) => Some(b.validate()?),
            (None, Some(_)) => None,
            (None, None) => Some(BudgetPolicy::default()),
        };
        Ok(HedgePolicy {
            delay,
            // <= MAX_HEDGED, checked above.
            max_hedged: max_hedged as u32,
            retry_on,
            budget,
        })
    }

    fn checked_delay(&self) -> Result<HedgeDelay, ConfigError> {
        let Some(percentile) = self.percentile else {
            for (key, set) in [
                ("min_samples", self.min_samples.is_some()),
                ("window", self.window.is_some()),
            ] {
                if set {
                    return Err(ConfigError::new(
                        key,
                        "a value",
                        "no `".to_owned() + key + "` without `percentile`",
                    ));
                }
            }
            return match self.delay {
                Some(delay) => Ok(HedgeDelay::Fixed(delay)),
                None => Err(ConfigError::new(
                    "delay",
                    "nothing",
                    "`delay = \"50ms\"` (a fixed hedge delay) or `percentile = 0.95` \
                     (a quantile of recent latencies)",
                )),
            };
        };
        if !(percentile.is_finite() && percentile > 0.0 && percentile <= 1.0) {
            return Err(ConfigError::new(
                "percentile",
                percentile,
                "a quantile in (0, 1], e.g. 0.95",
            ));
        }
        // Whole parts per million, at least 1.
        let quantile_ppm = ((percentile * 1e6).round() as u32).max(1);
        let min_samples = self.min_samples.unwrap_or(100);
        if !(1..=MAX_MIN_SAMPLES).contains(&min_samples) {
            return Err(ConfigError::new(
                "min_samples",
                min_samples,
                format!("an integer in 1..={MAX_MIN_SAMPLES}"),
            ));
        }
        let window = self.window.unwrap_or(Span::from_secs(10));
        if !(Span::from_millis(1)..=Span::from_secs(3600)).contains(&window) {
            return Err(ConfigError::new(
                "window",
                format!("\"{window}\""),
                "a duration from 1ms to 1h",
            ));
        }
        Ok(HedgeDelay::Percentile {
            quantile_ppm,
            min_samples,
            fallback: self.delay,
            window,
        })
    }
}

impl HedgePolicy {
    /// A policy from checked parts: `max_hedged` in 1..=16; `budget` is the
    /// hedge's own budget (`None` when it shares the edge's retry budget).
    ///
    /// # Errors
    /// A [`ConfigError`] naming `max_hedged` or `percentile`.
    pub fn new(
        delay: HedgeDelay,
        max_hedged: u32,
        retry_on: RetryOn,
        budget: Option<BudgetPolicy>,
    ) -> Result<Self, ConfigError> {
        if !(1..=MAX_HEDGED).contains(&max_hedged) {
            return Err(ConfigError::new(
                "max_hedged",
                max_hedged,
                format!("an integer in 1..={MAX_HEDGED}"),
            ));
        }
        if let HedgeDelay::Percentile { quantile_ppm, .. } = delay
            && !(1..=1_000_000).contains(&quantile_ppm)
        {
            return Err(ConfigError::new(
                "percentile",
                f64::from(quantile_ppm) / 1e6,
                "a quantile in (0, 1]",
            ));
        }
        Ok(HedgePolicy {
            delay,
            max_hedged,
            retry_on,
            budget,
        })
    }

    /// When hedges are due.
    pub fn delay(&self) -> HedgeDelay {
        self.delay
    }

    /// Most hedges per call.
    pub fn max_hedged(&self) -> u32 {
        self.max_hedged
    }

    /// Outcomes that do not end the race.
    pub fn retry_on(&self) -> &RetryOn {
        &self.retry_on
    }

    /// The hedge's own budget, `None` when it draws on the edge's retry
    /// budget.
    pub fn budget(&self) -> Option<BudgetPolicy> {
        self.budget
    }

    /// A latency tracker for this policy's percentile, created at `now` (one
    /// per edge; unused with a fixed delay).
    pub fn tracker(&self, now: Timestamp) -> LatencyTracker {
        let window = match self.delay {
            HedgeDelay::Percentile { window, .. } => window,
            HedgeDelay::Fixed(_) => Span::from_secs(10),
        };
        LatencyTracker::new(window, now)
    }

    /// The hedge delay for a call starting at `now`: the fixed delay, the
    /// quantile of the tracker's readable latencies, the fallback while
    /// fewer than `min_samples` are readable, or `None` (no hedging).
    pub fn delay_at(&self, now: Timestamp, tracker: &mut LatencyTracker) -> Option<Span> {
        match self.delay {
            HedgeDelay::Fixed(delay) => Some(delay),
            HedgeDelay::Percentile {
                quantile_ppm,
                min_samples,
                fallback,
                ..
            } => {
                if tracker.samples(now) < min_samples {
                    fallback
                } else {
                    tracker.quantile(now, quantile_ppm)
                }
            }
        }
    }

    /// Starts the hedging of a call whose original attempt (attempt 0) is
    /// sent at `now`; `deadline` is the call's overall deadline
    /// (`Timestamp::MAX` without one): no hedge is sent at or after it.
    pub fn start(
        &self,
        now: Timestamp,
        deadline: Timestamp,
        tracker: &mut LatencyTracker,
    ) -> HedgeState {
        HedgeState::new(self, now, deadline, self.delay_at(now, tracker))
    }
}
