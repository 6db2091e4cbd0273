//! The config file: the `[sidecar]` table plus the scenario's `[policy]`
//! tables, parsed once into a checked [`Plan`].
//!
//! A scenario file (e.g. a sweep's `recommendation.toml`) with a `[sidecar]`
//! table added is a valid config as it is: the simulator's other top-level
//! tables are accepted and ignored, any other unknown key is an error, and
//! `[sidecar]` and `[policy]` deny unknown keys at every level. `[policy]` is
//! read with `headroom_policy::PolicyConfig`, exactly as the simulator reads
//! it. Every error names the file, the key path (with line and column when
//! TOML gives one), the bad value and what is accepted.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use headroom_policy::PolicyConfig;
use headroom_policy::time::Span;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::plan::{self, Plan};
use crate::span_text::{array_for_table, key_path_at, line_col, locate, table_written_as_array};

/// The whole config file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[sidecar]`: listeners, upstreams, routes, limits.
    pub sidecar: SidecarConfig,
    /// `[policy]`: the scenario's policy tables, read as the simulator reads
    /// them.
    #[serde(default)]
    pub policy: PolicyConfig,
    // The simulator's tables: accepted so that a scenario or a
    // `recommendation.toml` is a valid config, and ignored. (serde's
    // `flatten` cannot be combined with `deny_unknown_fields`, hence one
    // field each.)
    #[serde(default, rename = "run")]
    _run: Option<IgnoredAny>,
    #[serde(default, rename = "workload")]
    _workload: Option<IgnoredAny>,
    #[serde(default, rename = "regions")]
    _regions: Option<IgnoredAny>,
    #[serde(default, rename = "network")]
    _network: Option<IgnoredAny>,
    #[serde(default, rename = "services")]
    _services: Option<IgnoredAny>,
    #[serde(default, rename = "datastores")]
    _datastores: Option<IgnoredAny>,
    #[serde(default, rename = "edge")]
    _edge: Option<IgnoredAny>,
    #[serde(default, rename = "faults")]
    _faults: Option<IgnoredAny>,
    #[serde(default, rename = "costs")]
    _costs: Option<IgnoredAny>,
    #[serde(default, rename = "slo")]
    _slo: Option<IgnoredAny>,
    #[serde(default, rename = "sweep")]
    _sweep: Option<IgnoredAny>,
    #[serde(default, rename = "recovery")]
    _recovery: Option<IgnoredAny>,
}

/// The top-level keys a config file accepts.
pub const TOP_LEVEL_KEYS: [&str; 14] = [
    "sidecar",
    "policy",
    "run",
    "workload",
    "regions",
    "network",
    "services",
    "datastores",
    "edge",
    "faults",
    "costs",
    "slo",
    "sweep",
    "recovery",
];

/// The `[sidecar]` table. See `sidecar/README.md` for every key.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SidecarConfig {
    /// Proxy listener, `"ip:port"`. Default `"127.0.0.1:8080"`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Admin listener. Default `"127.0.0.1:9901"` (loopback).
    #[serde(default = "default_admin")]
    pub admin: SocketAddr,
    /// Allow `admin` on a non-loopback address. Default false.
    #[serde(default)]
    pub admin_allow_remote: bool,
    /// Name of the service this sidecar fronts: the caller in mesh edge
    /// names (`"SERVICE->UPSTREAM"`). Default `"sidecar"`.
    #[serde(default = "default_service")]
    pub service: String,
    /// Header carrying the client id for keyed limits; else the peer IP.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Access log path (trace CSV). Absent: no access log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<PathBuf>,
    /// Access-log records buffered before new ones are dropped (counted).
    #[serde(default = "default_access_log_buffer")]
    pub access_log_buffer: u32,
    /// Seed of the sidecar's one RNG. Absent: from the start time (logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Client connections held at once; more are closed on accept.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Largest request head (request line + headers), bytes.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: u32,
    /// Largest request body, bytes; larger gets 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// Largest request body that is buffered for retries; larger requests
    /// are sent once.
    #[serde(default = "default_retry_buffer_bytes")]
    pub retry_buffer_bytes: u64,
    /// Upstream connect timeout.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Span,
    /// How long SIGTERM waits for in-flight requests.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout: Span,
    /// How long a client connection may wait for its next complete request
    /// head (idle keep-alive time included) before it is closed.
    #[serde(default = "default_request_header_timeout")]
    pub request_header_timeout: Span,
    /// Threads serving requests, each with its own event loop, listening
    /// socket (`SO_REUSEPORT`) and upstream connections. Default: one per
    /// CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<u32>,
    /// `[policy.autoscaler.NAME]` whose decision `/metrics` reports as
    /// `headroom_desired_replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler: Option<String>,
    /// `[[sidecar.upstreams]]`.
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
    /// `[sidecar.routes]`: path pattern -> upstream name or route table.
    #[serde(default)]
    pub routes: BTreeMap<String, RouteConfig>,
}

/// One `[[sidecar.upstreams]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Unique name, used by routes.
    pub name: String,
    /// Its endpoints.
    pub endpoints: Vec<EndpointConfig>,
    /// Mesh edge whose timeout, retry and breaker apply. Default
    /// `"SERVICE->NAME"` (the mesh default if that edge is not listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    /// `"http1"` (default) or `"h2c"` (HTTP/2 with prior knowledge).
    #[serde(default)]
    pub protocol: Protocol,
    /// Path of active health checks. Default `"/health"`.
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// `[policy.adaptive_concurrency.NAME]` limiting this upstream's
    /// requests in flight (one controller per upstream and process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_concurrency: Option<String>,
}

/// The protocol spoken to an upstream.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1.
    #[default]
    Http1,
    /// HTTP/2 over cleartext with prior knowledge.
    H2c,
}

/// One endpoint of an upstream.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// `http://host:port` (an IP address and port; no path).
    pub url: String,
    /// Region name (failover priority from `[policy.failover] order`).
    #[serde(default)]
    pub region: String,
    /// Explicit priority (0 highest); overrides the region's position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Load-balancing weight. Default 1.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

/// A route: an upstream name, or a table.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum RouteConfig {
    /// `"/api/*" = "api"`.
    Upstream(String),
    /// `"/api/*" = { upstream = "api", rate_limit = "edge", ... }`.
    Table(RouteTable),
}

/// A string or a table, each read by its own form's rules, so that a bad
/// route gets that form's message (an unknown key of the table, say)
/// rather than an untagged enum's "did not match any variant".
impl<'de> Deserialize<'de> for RouteConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use headroom_policy::config::{StringOrTable, string_or_table};
        Ok(
            match string_or_table(
                deserializer,
                "an upstream name such as \"api\", or a route table such as \
                 { upstream = \"api\", rate_limit = \"edge\" }",
            )? {
                StringOrTable::String(name) => RouteConfig::Upstream(name),
                StringOrTable::Table(table) => RouteConfig::Table(table),
            },
        )
    }
}

/// The table form of a route.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    /// Upstream name.
    pub upstream: String,
    /// `[policy.rate_limit.NAME]` applied to this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    /// Mesh edge for this route's timeout and retries (default: the
    /// upstream's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    /// A policy set that decides without acting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowConfig>,
}

/// A shadow policy set: names in the same file's `[policy]` tables.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShadowConfig {
    /// A `[policy.rate_limit.NAME]` to trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    /// A mesh edge (timeout, retry, breaker) to trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    /// A `[policy.adaptive_concurrency.NAME]` to trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_concurrency: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9901))
}
fn default_service() -> String {
    "sidecar".to_owned()
}
fn default_client_id() -> String {
    "x-client-id".to_owned()
}
fn default_access_log_buffer() -> u32 {
    8_192
}
fn default_max_connections() -> u32 {
    10_000
}
fn default_max_header_bytes() -> u32 {
    16_384
}
fn default_max_body_bytes() -> u64 {
    10 * 1024 * 1024
}
fn default_retry_buffer_bytes() -> u64 {
    64 * 1024
}
fn default_connect_timeout() -> Span {
    Span::from_secs(1)
}
fn default_drain_timeout() -> Span {
    Span::from_secs(30)
}
fn default_request_header_timeout() -> Span {
    Span::from_secs(30)
}
fn default_health_path() -> String {
    "/health".to_owned()
}
fn default_weight() -> u32 {
    1
}

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read the config file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Invalid TOML, an unknown key, a wrong type or a value out of range.
    #[error("{location}: {message}")]
    Invalid {
        /// Where.
        location: Location,
        /// What is wrong and what is accepted.
        message: String,
    },
}

/// A place in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub line_col: Option<(usize, usize)>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col {
            Some((line, col)) => write!(f, "{}:{line}:{col}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// Reads and checks the config file at `path`.
pub fn load(path: &Path) -> Result<Plan, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    load_str(path, &text)
}

/// Checks config `text`; `path` names the file in errors.
pub fn load_str(path: &Path, text: &str) -> Result<Plan, ConfigError> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| {
        // An array where a table belongs, whose elements serde failed to
        // read as the table's fields, is named as such (see below).
        let fails_as_map = |edited: &str, at: usize| {
            toml::from_str::<ConfigFile>(edited).is_err_and(|e| {
                e.span().is_some_and(|s| s.start == at) && e.message().contains("invalid type: map")
            })
        };
        let array = e
            .span()
            .and_then(|s| table_written_as_array(text, s.start, fails_as_map));
        let offset = array.or(e.span().map(|s| s.start));
        // toml reads integers up to u64::MAX, toml_edit (which finds the
        // key) only to i64::MAX: such a value is written over with `0` for
        // the lookup (nothing before it moves).
        let keyable = e
            .span()
            .filter(|_| toml_edit::Document::parse(text).is_err())
            .and_then(|s| headroom_policy::config::integer_written_over(text, s))
            .unwrap_or_else(|| text.to_owned());
        let key = offset.and_then(|o| key_path_at(&keyable, o));
        let mut message = match array {
            Some(_) => "invalid type: array, expected a table".to_owned(),
            None => headroom_policy::config::in_words(e.message().trim_end()),
        };
        let reparse = |probed: &str| {
            toml::from_str::<ConfigFile>(probed)
                .err()
                .map(|e| e.message().to_owned())
        };
        // Only where serde failed at the value itself, not inside an array
        // written for a table.
        if let Some(choices) = e
            .span()
            .filter(|s| offset == Some(s.start))
            .and_then(|s| headroom_policy::config::names_misread(text, s, &message, reparse))
        {
            message = choices;
        }
        message = headroom_policy::config::duplicate_named(text, offset, message);
        if message.starts_with("unknown field") && key.as_ref().is_none_or(|k| !k.contains('.')) {
            message = format!(
                "{message}; a config file holds `[sidecar]`, `[policy]` and the simulator's \
                 tables ({})",
                TOP_LEVEL_KEYS[2..].join(", ")
            );
        }
        let message = match key {
            Some(key) => format!("`{key}`: {message}"),
            None => message,
        };
        ConfigError::Invalid {
            location: Location {
                file: path.to_owned(),
                line_col: offset.map(|o| line_col(text, o)),
            },
            message,
        }
    })?;
    // As the simulator's loader: an array where a table belongs is refused,
    // not read as the table's fields in order.
    let resolved = || -> Option<toml::Table> {
        let mut t = toml::Table::new();
        t.insert("sidecar".into(), toml::Value::try_from(&file.sidecar).ok()?);
        t.insert("policy".into(), toml::Value::try_from(&file.policy).ok()?);
        Some(t)
    };
    if let Some(offset) = resolved().and_then(|resolved| array_for_table(text, &resolved)) {
        let message = "invalid type: array, expected a table";
        return Err(ConfigError::Invalid {
            location: Location {
                file: path.to_owned(),
                line_col: Some(line_col(text, offset)),
            },
            message: match key_path_at(text, offset) {
                Some(key) => format!("`{key}`: {message}"),
                None => message.to_owned(),
            },
        });
    }
    plan::check(&file, text).map_err(|invalid| ConfigError::Invalid {
        location: Location {
            file: path.to_owned(),
            line_col: locate(text, invalid.key()).map(|o| line_col(text, o)),
        },
        message: invalid.to_string(),
    })
}
