//! The `pool = { min, max, idle_timeout, acquire_timeout, max_waiters,
//! max_lifetime }` table ([`PoolConfig`]) and its checked form
//! ([`PoolPolicy`]).

use crate::config::ConfigError;
use crate::time::Span;

/// Largest accepted `max` and `max_waiters`.
pub const POOL_LIMIT: u64 = 1_000_000;

/// The `pool` table as written. Every key is optional.
///
/// | key | default | accepted |
/// |---|---|---|
/// | `min` | 0 | 0..=`max`: connections kept open (opened at start) |
/// | `max` | 10 (bb8/r2d2) | 1..=1000000: open + opening connections |
/// | `idle_timeout` | `"10m"` (bb8/r2d2) | duration > 0: idle time before a connection above `min` is closed |
/// | `acquire_timeout` | `"30s"` (bb8/r2d2) | duration > 0: longest wait for a connection |
/// | `max_waiters` | 1024 (Envoy `max_pending_requests`) | 1..=1000000 |
/// | `max_lifetime` | `"30m"` (bb8/r2d2) | duration >= 1s: a connection is closed once this old (at release, or at once if idle); `"0s"` = no limit |
///
/// The scenario's reference pool is `{ min = 10, max = 100, idle_timeout =
/// "30s", acquire_timeout = "10s" }`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(deny_unknown_fields)
)]
pub struct PoolConfig {
    /// Connections kept open.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub min: Option<u64>,
    /// Bound on open + opening connections.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max: Option<u64>,
    /// Idle time before a connection above `min` is closed.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub idle_timeout: Option<Span>,
    /// Longest wait for a connection.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub acquire_timeout: Option<Span>,
    /// Bound on queued acquirers.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_waiters: Option<u64>,
    /// Age at which a connection is closed and replaced (`"0s"`: never).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_lifetime: Option<Span>,
}

/// Default `max_lifetime` (bb8's and r2d2's 30 minutes).
pub const DEFAULT_MAX_LIFETIME: Span = Span::from_secs(1_800);

/// Shortest `max_lifetime` the table accepts (other than `"0s"`): a
/// connection replaced sooner is a reconnect storm, not a pool, and with an
/// instant connect it would be replaced without end (HikariCP refuses
/// anything under 30 s).
pub const MIN_MAX_LIFETIME: Span = Span::from_secs(1);

/// Checked pool limits; build a [`super::Pool`] from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolPolicy {
    min: u32,
    max: u32,
    idle_timeout: Span,
    acquire_timeout: Span,
    max_waiters: u32,
    max_lifetime: Option<Span>,
}

fn positive(key: &str, span: Span) -> Result<Span, ConfigError> {
    if span.is_zero() {
        return Err(ConfigError::new(
            key,
            format!("\"{span}\""),
            "a duration > 0",
        ));
    }
    Ok(span)
}

impl PoolPolicy {
    /// Limits with `1 <= max <= 1000000`, `min <= max`, both timeouts > 0,
    /// `1 <= max_waiters <= 1000000`, and no `max_lifetime` (add one with
    /// [`PoolPolicy::with_max_lifetime`]; the `pool` table defaults to
    /// [`DEFAULT_MAX_LIFETIME`]).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the bad key.
    pub fn new(
        min: u64,
        max: u64,
        idle_timeout: Span,
        acquire_timeout: Span,
        max_waiters: u64,
    ) -> Result<Self, ConfigError> {
        if !(1..=POOL_LIMIT).contains(&max) {
            return Err(ConfigError::new("max", max, "an integer from 1 to 1000000"));
        }
        if min > max {
            return Err(ConfigError::new(
                "min",
                min,
                format!("an integer from 0 to max ({max})"),
            ));
        }
        if !(1..=POOL_LIMIT).contains(&max_waiters) {
            return Err(ConfigError::new(
                "max_waiters",
                max_waiters,
                "an integer from 1 to 1000000",
            ));
        }
        Ok(PoolPolicy {
            // All three are <= 1_000_000, checked above.
            min: min as u32,
            max: max as u32,
            idle_timeout: positive("idle_timeout", idle_timeout)?,
            acquire_timeout: positive("acquire_timeout", acquire_timeout)?,
            max_waiters: max_waiters as u32,
            max_lifetime: None,
        })
    }

    /// The same limits with connections closed once `max_lifetime` old
    /// (`None` or zero: never).
    #[must_use]
    pub fn with_max_lifetime(mut self, max_lifetime: Option<Span>) -> Self {
        self.max_lifetime = max_lifetime.filter(|l| !l.is_zero());
        self
    }

    /// Age at which a connection is closed and replaced, if any.
    pub fn max_lifetime(&self) -> Option<Span> {
        self.max_lifetime
    }

    /// Connections kept open.
    pub fn min(&self) -> u32 {
        self.min
    }

    /// Bound on open + opening connections.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Idle time before a connection above `min` is closed.
    pub fn idle_timeout(&self) -> Span {
        self.idle_timeout
    }

    /// Longest wait for a connection.
    pub fn acquire_timeout(&self) -> Span {
        self.acquire_timeout
    }

    /// Bound on queued acquirers.
    pub fn max_waiters(&self) -> u32 {
        self.max_waiters
    }
}

impl PoolConfig {
    /// Validates the table once.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key, its value and the
    /// accepted range.
    pub fn validate(&self) -> Result<PoolPolicy, ConfigError> {
        if let Some(lifetime) = self.max_lifetime
            && !lifetime.is_zero()
            && lifetime < MIN_MAX_LIFETIME
        {
            return Err(ConfigError::new(
                "max_lifetime",
                format!("\"{lifetime}\""),
                format!("a duration of at least {MIN_MAX_LIFETIME}, or \"0s\" for no limit"),
            ));
        }
        PoolPolicy::new(
            self.min.unwrap_or(0),
            self.max.unwrap_or(10),
            self.idle_timeout.unwrap_or(Span::from_secs(600)),
            self.acquire_timeout.unwrap_or(Span::from_secs(30)),
            self.max_waiters.unwrap_or(1024),
        )
        .map(|p| p.with_max_lifetime(Some(self.max_lifetime.unwrap_or(DEFAULT_MAX_LIFETIME))))
    }
}
