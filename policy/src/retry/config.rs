//! The `[policy.mesh.retry]` table ([`RetryConfig`]) and its `budget`
//! sub-table ([`BudgetConfig`]).

use super::{Backoff, BackoffKind, BudgetPolicy, Jitter, RetryOn, RetryPolicy};
use crate::config::ConfigError;
use crate::time::Span;

/// Default first backoff delay (Envoy's `base_interval`).
pub const DEFAULT_BASE: Span = Span::from_millis(25);

/// The `[policy.mesh.retry]` table as written. Every key is optional.
///
/// | key | default | accepted |
/// |---|---|---|
/// | `attempts` | 3 | 1..=100, total tries including the first |
/// | `backoff` | `"exponential"` | `"constant"`, `"exponential"` |
/// | `base` | `"25ms"` | duration >= 0 |
/// | `max` | 10 × `base` (Envoy) | duration >= `base` |
/// | `multiplier` | 2.0 | 1..=100, only with `backoff = "exponential"` |
/// | `jitter` | `"full"` | `"none"`, `"full"`, `"equal"`, `"decorrelated"` |
/// | `retry_on` | `["gateway-error", "connect-failure", "reset"]` | see [`RetryOn`] |
/// | `per_try_timeout` | none | duration > 0 and < `[policy.mesh] timeout` |
/// | `budget` | `{ ratio = 0.2, min_per_s = 10, window = "10s" }` | see [`BudgetConfig`] |
///
/// The overall `timeout` lives at `[policy.mesh] timeout`; pass it to
/// [`RetryConfig::validate`].
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(deny_unknown_fields)
)]
pub struct RetryConfig {
    /// Total tries including the first.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub attempts: Option<u64>,
    /// Delay growth.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub backoff: Option<BackoffKind>,
    /// First delay.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub base: Option<Span>,
    /// Cap on every delay.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max: Option<Span>,
    /// Exponential growth factor.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub multiplier: Option<f64>,
    /// Randomisation of the delay.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub jitter: Option<Jitter>,
    /// Retryable outcomes.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub retry_on: Option<Vec<String>>,
    /// Bound on each try.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub per_try_timeout: Option<Span>,
    /// Retry budget.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub budget: Option<BudgetConfig>,
}

/// The `budget = { ratio, min_per_s, window }` sub-table (tower's
/// `TpsBudget`). Every key is optional.
///
/// | key | default | accepted |
/// |---|---|---|
/// | `ratio` | 0.2 | 0..=1000 retries per original request |
/// | `min_per_s` | 10 | 0..=2147483646 retries per second always allowed |
/// | `window` | `"10s"` | 1s..=60s, how long a deposit counts |
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(deny_unknown_fields)
)]
pub struct BudgetConfig {
    /// Retries per original request.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub ratio: Option<f64>,
    /// Retries per second always allowed.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub min_per_s: Option<u64>,
    /// How long a deposit counts.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub window: Option<Span>,
}

impl BudgetConfig {
    /// Validates the sub-table.
    ///
    /// # Errors
    /// A [`ConfigError`] with key `budget.ratio`, `budget.min_per_s` or
    /// `budget.window`.
    pub fn validate(&self) -> Result<BudgetPolicy, ConfigError> {
        let defaults = BudgetPolicy::default();
        BudgetPolicy::new(
            self.ratio.unwrap_or(defaults.ratio()),
            self.min_per_s.unwrap_or(u64::from(defaults.min_per_s())),
            self.window.unwrap_or(defaults.window()),
        )
        .map_err(|e| e.within("budget"))
    }
}

impl RetryConfig {
    /// Validates the table once. `timeout` is `[policy.mesh] timeout` (the
    /// overall deadline including every try and backoff); `None` or zero
    /// means none.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key (relative to the table),
    /// its value and the accepted range.
    pub fn validate(&self, timeout: Option<Span>) -> Result<RetryPolicy, ConfigError> {
        let attempts = self.attempts.unwrap_or(3);
        let attempts = u32::try_from(attempts).map_err(|_| {
            ConfigError::new(
                "attempts",
                attempts,
                "an integer from 1 to 100 (total tries, including the first)",
            )
        })?;
        let kind = self.backoff.unwrap_or_default();
        if let (BackoffKind::Constant, Some(m)) = (kind, self.multiplier) {
            return Err(ConfigError::new(
                "multiplier",
                m,
                "no `multiplier`: it is only used with backoff = \"exponential\"",
            ));
        }
        let base = self.base.unwrap_or(DEFAULT_BASE);
        let max = self.max.unwrap_or(base.saturating_mul(10));
        let backoff = Backoff::new(
            kind,
            base,
            max,
            self.multiplier.unwrap_or(2.0),
            self.jitter.unwrap_or_default(),
        )?;
        let retry_on = match &self.retry_on {
            Some(names) => RetryOn::parse(names)?,
            None => RetryOn::default(),
        };
        let budget = self.budget.clone().unwrap_or_default().validate()?;
        RetryPolicy::new(
            attempts,
            backoff,
            retry_on,
            self.per_try_timeout,
            timeout,
            budget,
        )
    }
}
