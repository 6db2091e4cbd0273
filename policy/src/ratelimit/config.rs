//! The `[policy.rate_limit.NAME]` table ([`RateLimitConfig`]) and its checked
//! form ([`RateLimitPolicy`]).

use super::keyed::MAX_KEYS_LIMIT;
use super::{Gcra, SlidingLog, TokenBucket, TwoWindow};
use crate::config::ConfigError;
use crate::time::{Span, Timestamp};

/// Default `max_keys` for `key = "client"`.
pub const DEFAULT_MAX_KEYS: u32 = 10_000;

/// The rate-limit strategy (`strategy = ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum RateLimitStrategy {
    /// `"token-bucket"`: Envoy's token bucket (`max_tokens`,
    /// `tokens_per_fill`, `fill_interval`).
    TokenBucket,
    /// `"gcra"`: governor's GCRA (`window`, `max`, optional `burst`).
    Gcra,
    /// `"sliding-window"`: sliding window (`window`, `max`, `algorithm`).
    SlidingWindow,
}

/// The sliding-window algorithm (`algorithm = ...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum WindowAlgorithm {
    /// `"log"` (default): exact log of admit instants.
    #[default]
    Log,
    /// `"two-window"`: weighted previous + current window counters.
    TwoWindow,
}

impl WindowAlgorithm {
    /// The name as written in configuration.
    pub fn name(self) -> &'static str {
        match self {
            WindowAlgorithm::Log => "log",
            WindowAlgorithm::TwoWindow => "two-window",
        }
    }
}

/// What a limit is counted per (`key = ...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum KeyScope {
    /// `"global"` (default): one limit shared by every client.
    #[default]
    Global,
    /// `"client"`: one limit per client id, at most `max_keys` held.
    Client,
}

/// The `[policy.rate_limit.NAME]` table as written.
///
/// | key | strategies | default | accepted |
/// |---|---|---|---|
/// | `strategy` | all | required | `"token-bucket"`, `"gcra"`, `"sliding-window"` |
/// | `max_tokens` | token-bucket | required | 1..=4294967295 |
/// | `tokens_per_fill` | token-bucket | 1 | 1..=4294967295 |
/// | `fill_interval` | token-bucket | required | duration > 0 |
/// | `window` | gcra, sliding-window | required | duration > 0 |
/// | `max` | gcra, sliding-window | required | 1..=4294967295 (log: 1..=1000000) |
/// | `burst` | gcra | `max` | 1..=4294967295 |
/// | `algorithm` | sliding-window | `"log"` | `"log"`, `"two-window"` |
/// | `key` | all | `"global"` | `"global"`, `"client"` |
/// | `max_keys` | all (used with `key = "client"`) | 10000 | 1..=10000000 |
/// | `shadow` | all | false | bool: count would-be rejections, admit all |
///
/// A key that belongs to another strategy is an error, not ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(deny_unknown_fields)
)]
pub struct RateLimitConfig {
    /// The strategy.
    pub strategy: RateLimitStrategy,
    /// Token bucket: capacity and initial fill.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_tokens: Option<u64>,
    /// Token bucket: tokens added per fill (default 1).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub tokens_per_fill: Option<u64>,
    /// Token bucket: time between fills.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub fill_interval: Option<Span>,
    /// GCRA / sliding window: the window `max` is counted over.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub window: Option<Span>,
    /// GCRA / sliding window: requests per window.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max: Option<u64>,
    /// GCRA: burst size (default `max`; one cell replenished every
    /// `window / max`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub burst: Option<u64>,
    /// Sliding window: the algorithm (default `"log"`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub algorithm: Option<WindowAlgorithm>,
    /// Global or per-client limit (default `"global"`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub key: Option<KeyScope>,
    /// Bound on client keys held (default 10000; ignored for `"global"`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_keys: Option<u64>,
    /// Shadow mode (default false).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub shadow: Option<bool>,
}

/// A validated algorithm with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlgorithmPolicy {
    /// Token bucket (epoch set when a limiter is built).
    TokenBucket(TokenBucket),
    /// GCRA.
    Gcra(Gcra),
    /// Exact sliding-window log.
    SlidingLog(SlidingLog),
    /// Two-window approximation.
    TwoWindow(TwoWindow),
}

/// A checked rate-limit table; build limiters from it with
/// [`super::RateLimiter::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitPolicy {
    algorithm: AlgorithmPolicy,
    scope: KeyScope,
    max_keys: u32,
    shadow: bool,
}

impl RateLimitPolicy {
    /// A policy from parts (`max_keys` is clamped to 1..=10000000).
    pub fn new(algorithm: AlgorithmPolicy, scope: KeyScope, max_keys: u32, shadow: bool) -> Self {
        RateLimitPolicy {
            algorithm,
            scope,
            max_keys: max_keys.clamp(1, MAX_KEYS_LIMIT as u32),
            shadow,
        }
    }

    /// The algorithm and its parameters.
    pub fn algorithm(&self) -> AlgorithmPolicy {
        self.algorithm
    }

    /// Global or per client.
    pub fn scope(&self) -> KeyScope {
        self.scope
    }

    /// Bound on client keys held.
    pub fn max_keys(&self) -> u32 {
        self.max_keys
    }

    /// Whether rejections are only counted.
    pub fn shadow(&self) -> bool {
        self.shadow
    }
}

/// `key` must not be set for this strategy.
fn forbid<T: std::fmt::Display>(
    key: &str,
    value: Option<T>,
    allowed: &str,
) -> Result<(), ConfigError> {
    match value {
        Some(v) => Err(ConfigError::new(
            key,
            v,
            format!("no `{key}`: it is only used with {allowed}"),
        )),
        None => Ok(()),
    }
}

fn require<T>(key: &str, value: Option<T>, strategy: &str) -> Result<T, ConfigError> {
    value.ok_or_else(|| {
        ConfigError::new(
            key,
            "(missing)",
            format!("a value: `{key}` is required with strategy = \"{strategy}\""),
        )
    })
}

fn quoted(span: Option<Span>) -> Option<String> {
    span.map(|s| format!("\"{s}\""))
}

impl RateLimitConfig {
    /// Validates every key once and returns the checked policy.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key (relative to the table;
    /// add the table path with [`ConfigError::within`]), its value and the
    /// accepted range.
    pub fn validate(&self) -> Result<RateLimitPolicy, ConfigError> {
        let algorithm = match self.strategy {
            RateLimitStrategy::TokenBucket => self.check_token_bucket()?,
            RateLimitStrategy::Gcra => self.check_gcra()?,
            RateLimitStrategy::SlidingWindow => self.check_sliding_window()?,
        };
        let max_keys = self.max_keys.unwrap_or(u64::from(DEFAULT_MAX_KEYS));
        if !(1..=MAX_KEYS_LIMIT).contains(&max_keys) {
            return Err(ConfigError::new(
                "max_keys",
                max_keys,
                "an integer from 1 to 10000000",
            ));
        }
        Ok(RateLimitPolicy {
            algorithm,
            scope: self.key.unwrap_or_default(),
            // <= 10_000_000, checked above.
            max_keys: max_keys as u32,
            shadow: self.shadow.unwrap_or(false),
        })
    }

    fn check_token_bucket(&self) -> Result<AlgorithmPolicy, ConfigError> {
        const OTHERS: &str = "strategy = \"gcra\" or \"sliding-window\"";
        forbid("window", quoted(self.window), OTHERS)?;
        forbid("max", self.max, OTHERS)?;
        forbid("burst", self.burst, "strategy = \"gcra\"")?;
        forbid(
            "algorithm",
            self.algorithm.map(|a| format!("\"{}\"", a.name())),
            "strategy = \"sliding-window\"",
        )?;
        let max_tokens = require("max_tokens", self.max_tokens, "token-bucket")?;
        let fill_interval = require("fill_interval", self.fill_interval, "token-bucket")?;
        let bucket = TokenBucket::new(
            max_tokens,
            self.tokens_per_fill.unwrap_or(1),
            fill_interval,
            Timestamp::ZERO,
        )?;
        Ok(AlgorithmPolicy::TokenBucket(bucket))
    }

    fn forbid_token_bucket_keys(&self) -> Result<(), ConfigError> {
        const TB: &str = "strategy = \"token-bucket\"";
        forbid("max_tokens", self.max_tokens, TB)?;
        forbid("tokens_per_fill", self.tokens_per_fill, TB)?;
        forbid("fill_interval", quoted(self.fill_interval), TB)
    }

    fn check_gcra(&self) -> Result<AlgorithmPolicy, ConfigError> {
        self.forbid_token_bucket_keys()?;
        forbid(
            "algorithm",
            self.algorithm.map(|a| format!("\"{}\"", a.name())),
            "strategy = \"sliding-window\"",
        )?;
        let window = require("window", self.window, "gcra")?;
        let max = require("max", self.max, "gcra")?;
        let gcra = Gcra::new(window, max, self.burst.unwrap_or(max))?;
        Ok(AlgorithmPolicy::Gcra(gcra))
    }

    fn check_sliding_window(&self) -> Result<AlgorithmPolicy, ConfigError> {
        self.forbid_token_bucket_keys()?;
        forbid("burst", self.burst, "strategy = \"gcra\"")?;
        let window = require("window", self.window, "sliding-window")?;
        let max = require("max", self.max, "sliding-window")?;
        Ok(match self.algorithm.unwrap_or_default() {
            WindowAlgorithm::Log => AlgorithmPolicy::SlidingLog(SlidingLog::new(window, max)?),
            WindowAlgorithm::TwoWindow => AlgorithmPolicy::TwoWindow(TwoWindow::new(window, max)?),
        })
    }
}
