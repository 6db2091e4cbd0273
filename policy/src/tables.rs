//! The whole `[policy]` table: the one schema the scenario file and the
//! sidecar's config file share.
//!
//! ```toml
//! [policy.rate_limit.edge]              # any number of named limiters
//! strategy = "sliding-window"
//! window = "1m"
//! max = 100
//!
//! [policy.mesh]                         # defaults for every call edge
//! timeout = "5000ms"
//! retry = { attempts = 3, backoff = "exponential" }
//! circuit_breaker = { failure_rate_threshold = 0.5, open_duration = "30s" }
//! hedge = { percentile = 0.95, max_hedged = 1 }
//!
//! [policy.mesh.edges."checkout->payments"]   # per-edge overrides
//! timeout = "2s"
//!
//! [policy.autoscaler.api]               # any number of named autoscalers
//! min_replicas = 3
//! max_replicas = 100
//! target_rps = 1000.0
//!
//! [policy.adaptive_concurrency.api]    # named gradient controllers
//! min_rtt_interval = "60s"
//!
//! [policy.failover]
//! order = ["us-east", "us-west"]
//!
//! [policy.load_balancer]
//! algorithm = "least-connections"
//! ```
//!
//! [`PolicyConfig`] is the serde mirror; [`PolicyConfig::validate`] checks every
//! table once into [`Policies`], and every error names the full key
//! (`policy.mesh.edges."a->b".retry.attempts`), the value and the accepted
//! range.

use std::collections::BTreeMap;

use crate::autoscale::{AutoscalerConfig, AutoscalerSpec};
use crate::balance::{BalancerSpec, LoadBalancerConfig};
use crate::breaker::{BreakerConfig, BreakerSpec};
use crate::concurrency::{AdaptiveConcurrencyConfig, AdaptiveConcurrencySpec};
use crate::config::ConfigError;
use crate::health::{FailoverConfig, FailoverSpec};
use crate::hedge::{HedgeConfig, HedgePolicy};
use crate::ratelimit::{RateLimitConfig, RateLimitPolicy};
use crate::retry::{BudgetPolicy, RetryConfig, RetryPolicy};
use crate::time::Span;

/// Most named entries in one of `rate_limit`, `autoscaler` or `mesh.edges`.
pub const MAX_NAMED: usize = 4096;

/// The `[policy]` table as written.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(default, deny_unknown_fields)
)]
pub struct PolicyConfig {
    /// `[policy.rate_limit.NAME]`: named rate limiters (referenced by
    /// `[edge] rate_limit = "NAME"`).
    pub rate_limit: BTreeMap<String, RateLimitConfig>,
    /// `[policy.mesh]`: timeout, retry and circuit breaker of call edges.
    pub mesh: MeshConfig,
    /// `[policy.autoscaler.NAME]`: named autoscalers (referenced by a
    /// service's `autoscaler = "NAME"`).
    pub autoscaler: BTreeMap<String, AutoscalerConfig>,
    /// `[policy.adaptive_concurrency.NAME]`: named gradient controllers
    /// (referenced by a service's, or a sidecar upstream's,
    /// `adaptive_concurrency = "NAME"`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "BTreeMap::is_empty"))]
    pub adaptive_concurrency: BTreeMap<String, AdaptiveConcurrencyConfig>,
    /// `[policy.failover]`: regional failover.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub failover: Option<FailoverConfig>,
    /// `[policy.load_balancer]`: the default load balancer.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub load_balancer: Option<LoadBalancerConfig>,
}

/// `[policy.mesh]`: defaults for every call edge plus per-edge overrides.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(default, deny_unknown_fields)
)]
pub struct MeshConfig {
    /// Overall deadline of a call, all tries and backoff included (Envoy's
    /// route timeout). Absent or zero: no deadline (Envoy's 0 disables it).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub timeout: Option<Span>,
    /// Retry policy. Absent: no retries.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub retry: Option<RetryConfig>,
    /// Circuit breaker. Absent: none.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub circuit_breaker: Option<BreakerConfig>,
    /// What a caller answers when the breaker refuses a call. Absent: an
    /// error (503).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub fallback: Option<FallbackConfig>,
    /// Hedged requests. Absent: none.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub hedge: Option<HedgeConfig>,
    /// Overrides keyed by edge, `"caller->callee"`. Each field given
    /// replaces the default's field as a whole.
    pub edges: BTreeMap<String, EdgeConfig>,
}

/// `[policy.mesh.edges."caller->callee"]`.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(default, deny_unknown_fields)
)]
pub struct EdgeConfig {
    /// Replaces the mesh timeout on this edge.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub timeout: Option<Span>,
    /// Replaces the mesh retry policy on this edge.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub retry: Option<RetryConfig>,
    /// Replaces the mesh circuit breaker on this edge.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub circuit_breaker: Option<BreakerConfig>,
    /// Replaces the mesh fallback on this edge.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub fallback: Option<FallbackConfig>,
    /// Replaces the mesh hedge policy on this edge.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub hedge: Option<HedgeConfig>,
}

/// `fallback = "degraded"` or `fallback = { status, body, content_type }`:
/// the answer a caller gives instead of an error when the circuit breaker
/// refuses a call.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(untagged))]
pub enum FallbackConfig {
    /// `"degraded"`.
    Named(String),
    /// A canned response.
    Response(FallbackResponseConfig),
}

/// A string or a table, each read by its own form's rules, so that a bad
/// value gets that form's message (`fallback.status`: expected u16) rather
/// than an untagged enum's "did not match any variant".
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for FallbackConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use crate::config::{StringOrTable, string_or_table};
        Ok(
            match string_or_table(
                deserializer,
                "\"degraded\" or a table { status, body, content_type }",
            )? {
                StringOrTable::String(name) => FallbackConfig::Named(name),
                StringOrTable::Table(response) => FallbackConfig::Response(response),
            },
        )
    }
}

/// `fallback = { status = 200, body = "...", content_type = "..." }`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(deny_unknown_fields)
)]
pub struct FallbackResponseConfig {
    /// HTTP status, 100..=599. Default 200.
    #[cfg_attr(feature = "serde", serde(default = "default_fallback_status"))]
    pub status: u16,
    /// Body. Default empty.
    #[cfg_attr(feature = "serde", serde(default))]
    pub body: String,
    /// `Content-Type` of the body. Default `"text/plain"`.
    #[cfg_attr(feature = "serde", serde(default = "default_content_type"))]
    pub content_type: String,
}

#[cfg(feature = "serde")]
fn default_fallback_status() -> u16 {
    200
}

#[cfg(feature = "serde")]
fn default_content_type() -> String {
    "text/plain".to_owned()
}

/// Most bytes in a fallback body.
pub const MAX_FALLBACK_BODY: usize = 64 * 1024;

/// A checked fallback. The simulator counts any fallback answer as
/// `degraded`; the sidecar sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// `"degraded"`: a 200 with an empty body and the header
    /// `x-headroom-fallback: degraded`.
    Degraded,
    /// A canned response.
    Response {
        /// HTTP status.
        status: u16,
        /// Body.
        body: String,
        /// `Content-Type`.
        content_type: String,
    },
}

impl FallbackConfig {
    /// Checks the value; keys in errors are relative (`fallback.status`).
    pub fn validate(&self) -> Result<Fallback, ConfigError> {
        match self {
            FallbackConfig::Named(name) if name == "degraded" => Ok(Fallback::Degraded),
            FallbackConfig::Named(name) => Err(ConfigError::new(
                "fallback",
                format!("{name:?}"),
                "\"degraded\" or a table { status, body, content_type }",
            )),
            FallbackConfig::Response(r) => {
                if !(100..=599).contains(&r.status) {
                    return Err(ConfigError::new(
                        "fallback.status",
                        r.status,
                        "an HTTP status from 100 to 599",
                    ));
                }
                if r.body.len() > MAX_FALLBACK_BODY {
                    return Err(ConfigError::new(
                        "fallback.body",
                        format!("{} bytes", r.body.len()),
                        format!("at most {MAX_FALLBACK_BODY} bytes"),
                    ));
                }
                Ok(Fallback::Response {
                    status: r.status,
                    body: r.body.clone(),
                    content_type: r.content_type.clone(),
                })
            }
        }
    }
}

/// The checked `[policy]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct Policies {
    /// Named rate limiters.
    pub rate_limits: BTreeMap<String, RateLimitPolicy>,
    /// The mesh default for every edge.
    pub mesh: EdgePolicy,
    /// Per-edge policies (already merged with the default), keyed by
    /// `(caller, callee)`.
    pub edges: BTreeMap<(String, String), EdgePolicy>,
    /// Named autoscalers.
    pub autoscalers: BTreeMap<String, AutoscalerSpec>,
    /// Named gradient controllers.
    pub adaptive_concurrency: BTreeMap<String, AdaptiveConcurrencySpec>,
    /// Regional failover, if configured.
    pub failover: Option<FailoverSpec>,
    /// The default load balancer, if configured.
    pub load_balancer: Option<BalancerSpec>,
}

/// The checked policy of one call edge.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgePolicy {
    /// Overall deadline, if any.
    pub timeout: Option<Span>,
    /// Retries, if any (its deadline is `timeout`).
    pub retry: Option<RetryPolicy>,
    /// Circuit breaker, if any.
    pub circuit_breaker: Option<BreakerSpec>,
    /// Answer when the breaker refuses a call, if any.
    pub fallback: Option<Fallback>,
    /// Hedged requests, if any (they draw on [`EdgePolicy::budget`]).
    pub hedge: Option<HedgePolicy>,
}

impl EdgePolicy {
    /// The retry budget shared by the edge's retries and hedges: the retry
    /// policy's, else the hedge policy's own; `None` when the edge does
    /// neither.
    pub fn budget(&self) -> Option<BudgetPolicy> {
        self.retry
            .as_ref()
            .map(RetryPolicy::budget)
            .or_else(|| self.hedge.as_ref().and_then(HedgePolicy::budget))
    }
}

impl Policies {
    /// The policy of the edge `caller -> callee`: its override if one exists,
    /// else the mesh default.
    pub fn edge(&self, caller: &str, callee: &str) -> &EdgePolicy {
        self.edges
            .get(&(caller.to_owned(), callee.to_owned()))
            .unwrap_or(&self.mesh)
    }
}

impl PolicyConfig {
    /// Checks every table. Keys in errors are full paths under `policy`.
    pub fn validate(&self) -> Result<Policies, ConfigError> {
        let rate_limits = named(
            &self.rate_limit,
            "policy.rate_limit",
            RateLimitConfig::validate,
        )?;
        let autoscalers = named(
            &self.autoscaler,
            "policy.autoscaler",
            AutoscalerConfig::validate,
        )?;
        let adaptive_concurrency = named(
            &self.adaptive_concurrency,
            "policy.adaptive_concurrency",
            AdaptiveConcurrencyConfig::validate,
        )?;
        let mesh = edge_policy(
            EdgeParts {
                timeout: self.mesh.timeout,
                retry: self.mesh.retry.as_ref(),
                breaker: self.mesh.circuit_breaker.as_ref(),
                hedge: self.mesh.hedge.as_ref().map(|h| (h, "policy.mesh")),
                fallback: self.mesh.fallback.as_ref(),
            },
            "policy.mesh",
        )?;
        if self.mesh.edges.len() > MAX_NAMED {
            return Err(too_many("policy.mesh.edges", self.mesh.edges.len()));
        }
        let mut edges = BTreeMap::new();
        for (name, edge) in &self.mesh.edges {
            let table = format!("policy.mesh.edges.\"{name}\"");
            let (caller, callee) = parse_edge(name).ok_or_else(|| {
                ConfigError::new(
                    "policy.mesh.edges",
                    format!("{name:?}"),
                    "an edge name \"caller->callee\" of two non-empty service names",
                )
            })?;
            // An inherited hedge table is reported at its own key if it
            // does not fit this edge (e.g. its `budget` next to the edge's
            // `retry`).
            let hedge = match (&edge.hedge, &self.mesh.hedge) {
                (Some(h), _) => Some((h, table.as_str())),
                (None, Some(h)) => Some((h, "policy.mesh")),
                (None, None) => None,
            };
            let policy = edge_policy(
                EdgeParts {
                    timeout: edge.timeout.or(self.mesh.timeout),
                    retry: edge.retry.as_ref().or(self.mesh.retry.as_ref()),
                    breaker: edge
                        .circuit_breaker
                        .as_ref()
                        .or(self.mesh.circuit_breaker.as_ref()),
                    hedge,
                    fallback: edge.fallback.as_ref().or(self.mesh.fallback.as_ref()),
                },
                &table,
            )?;
            edges.insert((caller.to_owned(), callee.to_owned()), policy);
        }
        let failover = self
            .failover
            .as_ref()
            .map(|f| f.validate().map_err(|e| e.within("policy.failover")))
            .transpose()?;
        let load_balancer = self
            .load_balancer
            .as_ref()
            .map(|b| b.validate().map_err(|e| e.within("policy.load_balancer")))
            .transpose()?;
        Ok(Policies {
            rate_limits,
            mesh,
            edges,
            autoscalers,
            adaptive_concurrency,
            failover,
            load_balancer,
        })
    }
}

fn named<C, S>(
    tables: &BTreeMap<String, C>,
    path: &str,
    validate: impl Fn(&C) -> Result<S, ConfigError>,
) -> Result<BTreeMap<String, S>, ConfigError> {
    if tables.len() > MAX_NAMED {
        return Err(too_many(path, tables.len()));
    }
    tables
        .iter()
        .map(|(name, c)| {
            if !valid_name(name) {
                return Err(ConfigError::new(
                    path,
                    format!("{name:?}"),
                    "names of letters, digits, '-' and '_'",
                ));
            }
            validate(c)
                .map(|s| (name.clone(), s))
                .map_err(|e| e.within(&format!("{path}.{name}")))
        })
        .collect()
}

/// The merged tables of one edge; `hedge` carries the table path it was
/// written under.
struct EdgeParts<'a> {
    timeout: Option<Span>,
    retry: Option<&'a RetryConfig>,
    breaker: Option<&'a BreakerConfig>,
    hedge: Option<(&'a HedgeConfig, &'a str)>,
    fallback: Option<&'a FallbackConfig>,
}

fn edge_policy(parts: EdgeParts<'_>, table: &str) -> Result<EdgePolicy, ConfigError> {
    let EdgeParts {
        timeout,
        retry,
        breaker,
        hedge,
        fallback,
    } = parts;
    let timeout = timeout.filter(|t| !t.is_zero());
    let retry = retry
        .map(|r| {
            r.validate(timeout)
                .map_err(|e| e.within(&format!("{table}.retry")))
        })
        .transpose()?;
    let circuit_breaker = breaker
        .map(|b| {
            b.validate()
                .map_err(|e| e.within(&format!("{table}.circuit_breaker")))
        })
        .transpose()?;
    let fallback = fallback
        .map(|f| f.validate().map_err(|e| e.within(table)))
        .transpose()?;
    let hedge = hedge
        .map(|(h, at)| {
            h.validate(retry.as_ref().map(|r| *r.retry_on()))
                .map_err(|e| {
                    let e = e.within(&format!("{at}.hedge"));
                    if at == table {
                        e
                    } else {
                        // Inherited: say which edge it does not fit.
                        let expected = format!("{} (as inherited by `{table}`)", e.expected());
                        ConfigError::new(e.key(), e.value(), expected)
                    }
                })
        })
        .transpose()?;
    Ok(EdgePolicy {
        timeout,
        retry,
        circuit_breaker,
        fallback,
        hedge,
    })
}

fn too_many(path: &str, n: usize) -> ConfigError {
    ConfigError::new(
        path,
        format!("{n} entries"),
        format!("at most {MAX_NAMED} entries"),
    )
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn parse_edge(name: &str) -> Option<(&str, &str)> {
    let (caller, callee) = name.split_once("->")?;
    (valid_name(caller) && valid_name(callee)).then_some((caller, callee))
}
