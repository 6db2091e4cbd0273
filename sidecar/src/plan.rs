//! The checked config: [`Plan`], built once from a [`ConfigFile`] by
//! [`check`]. Everything the proxy and the driver use comes from here, so
//! they never re-check a value.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use headroom_policy::autoscale::{AutoscalerSpec, MetricSpec};
use headroom_policy::balance::{BalancerSpec, MAX_ENDPOINTS};
use headroom_policy::concurrency::AdaptiveConcurrencySpec;
use headroom_policy::health::{FailoverSpec, HealthCheckSpec, MAX_PRIORITIES};
use headroom_policy::ratelimit::RateLimitPolicy;
use headroom_policy::tables::EdgePolicy;
use headroom_policy::time::Span;
use headroom_policy::{ConfigError, Policies};
use http::HeaderName;

use crate::config::{ConfigFile, Protocol, RouteConfig, RouteTable, ShadowConfig, SidecarConfig};

/// Most upstreams, routes and endpoints per upstream.
pub const MAX_UPSTREAMS: usize = 1024;
/// Most routes.
pub const MAX_ROUTES: usize = 4096;

/// The checked config.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `[sidecar]` as written, defaults filled in (served by `/config`).
    pub sidecar: SidecarConfig,
    /// The file's text (served by `/config`).
    pub text: String,
    /// Proxy listener.
    pub listen: SocketAddr,
    /// Admin listener.
    pub admin: SocketAddr,
    /// Client-id header (lower case).
    pub client_id: HeaderName,
    /// Access-log path, if any.
    pub access_log: Option<PathBuf>,
    /// Upstreams, by index.
    pub upstreams: Vec<UpstreamPlan>,
    /// Routes, most specific pattern first.
    pub routes: Vec<RoutePlan>,
    /// The checked `[policy]` table.
    pub policies: Policies,
    /// The load balancer of every upstream.
    pub balancer: BalancerSpec,
    /// Active health checks of every endpoint, if configured.
    pub health_check: Option<HealthCheckSpec>,
    /// `[policy.failover]`, if configured (region order, health checks).
    pub failover: Option<FailoverSpec>,
    /// Envoy's overprovisioning factor in percent (140 unless configured).
    pub overprovisioning_pct: u32,
    /// Envoy's panic threshold in percent (50 unless configured).
    pub panic_threshold_pct: u32,
    /// The autoscaler behind `headroom_desired_replicas`, if any.
    pub autoscaler: Option<(String, AutoscalerSpec)>,
}

/// One upstream.
#[derive(Clone, Debug)]
pub struct UpstreamPlan {
    /// Its name.
    pub name: String,
    /// Its endpoints; `priority` indexes `0..priorities`.
    pub endpoints: Vec<EndpointPlan>,
    /// Number of priority levels (max priority + 1).
    pub priorities: usize,
    /// Default mesh edge of routes to this upstream.
    pub edge_name: String,
    /// Its timeout, retry, breaker and fallback.
    pub edge: EdgePolicy,
    /// Protocol to the endpoints.
    pub protocol: Protocol,
    /// Health-check path.
    pub health_path: String,
    /// Adaptive concurrency limit, by name: one gradient controller for
    /// the upstream, shared by every worker.
    pub adaptive_concurrency: Option<(String, AdaptiveConcurrencySpec)>,
}

/// One endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointPlan {
    /// `host:port`.
    pub authority: String,
    /// Region label.
    pub region: String,
    /// Failover priority, 0 highest.
    pub priority: usize,
    /// Balancer weight.
    pub weight: u32,
}

/// One route.
#[derive(Clone, Debug)]
pub struct RoutePlan {
    /// The pattern as configured (the access log's `route`).
    pub pattern: String,
    /// How paths match.
    pub matcher: Matcher,
    /// Upstream index.
    pub upstream: usize,
    /// Rate limit, by name.
    pub rate_limit: Option<(String, RateLimitPolicy)>,
    /// Mesh edge name (routes to one upstream with one edge share its
    /// breaker and retry budget).
    pub edge_name: String,
    /// Timeout, retries, breaker and fallback.
    pub edge: EdgePolicy,
    /// Shadow policy set.
    pub shadow: Option<ShadowPlan>,
}

/// A checked shadow policy set.
#[derive(Clone, Debug)]
pub struct ShadowPlan {
    /// Shadow rate limit.
    pub rate_limit: Option<(String, RateLimitPolicy)>,
    /// Shadow edge (timeout, retry, breaker).
    pub edge: Option<(String, EdgePolicy)>,
    /// Shadow adaptive concurrency limit (one gradient controller for the
    /// route).
    pub adaptive_concurrency: Option<(String, AdaptiveConcurrencySpec)>,
}

/// A path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// `"/a/b"`: exactly this path.
    Exact(String),
    /// `"/a/*"`: `/a` itself and everything under `/a/`.
    Subtree(String),
    /// `"/a*"`: every path starting with `/a`.
    Prefix(String),
}

impl Matcher {
    fn parse(pattern: &str) -> Option<Matcher> {
        if !pattern.starts_with('/') || pattern[..pattern.len() - 1].contains('*') {
            return None;
        }
        Some(if let Some(base) = pattern.strip_suffix("/*") {
            Matcher::Subtree(base.to_owned())
        } else if let Some(prefix) = pattern.strip_suffix('*') {
            Matcher::Prefix(prefix.to_owned())
        } else {
            Matcher::Exact(pattern.to_owned())
        })
    }

    /// Whether `path` (without query) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Matcher::Exact(p) => path == p,
            Matcher::Subtree(base) => path
                .strip_prefix(base.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            Matcher::Prefix(p) => path.starts_with(p.as_str()),
        }
    }

    /// Ordering key: exact before wildcard, longer before shorter.
    fn specificity(&self) -> (u8, usize) {
        match self {
            Matcher::Exact(p) => (2, p.len()),
            Matcher::Subtree(p) | Matcher::Prefix(p) => (1, p.len()),
        }
    }
}

impl Plan {
    /// The route for `path`, if any.
    pub fn route_for(&self, path: &str) -> Option<usize> {
        self.routes.iter().position(|r| r.matcher.matches(path))
    }
}

fn err(key: impl Into<String>, value: impl std::fmt::Display, expected: &str) -> ConfigError {
    ConfigError::new(key, value, expected)
}

/// Checks the parsed file. Keys in errors are full dotted paths.
pub fn check(file: &ConfigFile, text: &str) -> Result<Plan, ConfigError> {
    let policies = file.policy.validate()?;
    let sc = &file.sidecar;
    check_limits(sc)?;
    let client_id =
        HeaderName::from_bytes(sc.client_id.to_ascii_lowercase().as_bytes()).map_err(|_| {
            err(
                "sidecar.client_id",
                format!("{:?}", sc.client_id),
                "an HTTP header name such as \"x-client-id\"",
            )
        })?;
    let failover = policies.failover.clone();
    let (overprovisioning_pct, panic_threshold_pct) = failover.as_ref().map_or((140, 50), |f| {
        (f.overprovisioning_pct, f.panic_threshold_pct)
    });
    let health_check = policies
        .load_balancer
        .as_ref()
        .and_then(|b| b.health_check.clone())
        .or_else(|| {
            policies
                .failover
                .as_ref()
                .and_then(|f| f.health_check.clone())
        });
    let balancer = policies
        .load_balancer
        .clone()
        .unwrap_or_else(|| BalancerSpec::with_algorithm(Default::default()));
    let upstreams = check_upstreams(sc, &policies, failover.as_ref())?;
    let routes = check_routes(sc, &policies, &upstreams)?;
    let autoscaler = check_autoscaler(sc, &policies)?;
    Ok(Plan {
        sidecar: sc.clone(),
        text: text.to_owned(),
        listen: sc.listen,
        admin: sc.admin,
        client_id,
        access_log: sc.access_log.clone(),
        upstreams,
        routes,
        policies,
        balancer,
        health_check,
        failover,
        overprovisioning_pct,
        panic_threshold_pct,
        autoscaler,
    })
}

fn check_limits(sc: &SidecarConfig) -> Result<(), ConfigError> {
    if !sc.admin.ip().is_loopback() && !sc.admin_allow_remote {
        return Err(err(
            "sidecar.admin",
            format!("\"{}\"", sc.admin),
            "a loopback address such as \"127.0.0.1:9901\" (set `admin_allow_remote = true` \
             to expose the admin listener)",
        ));
    }
    if sc.listen == sc.admin {
        return Err(err(
            "sidecar.admin",
            format!("\"{}\"", sc.admin),
            "an address other than `listen`",
        ));
    }
    let ranges: [(&str, u64, u64, u64); 6] = [
        ("workers", u64::from(sc.workers.unwrap_or(1)), 1, 256),
        (
            "max_connections",
            u64::from(sc.max_connections),
            1,
            1_000_000,
        ),
        (
            "max_header_bytes",
            u64::from(sc.max_header_bytes),
            8192,
            1 << 20,
        ),
        ("max_body_bytes", sc.max_body_bytes, 0, 1 << 30),
        (
            "retry_buffer_bytes",
            sc.retry_buffer_bytes,
            0,
            sc.max_body_bytes,
        ),
        (
            "access_log_buffer",
            u64::from(sc.access_log_buffer),
            1,
            10_000_000,
        ),
    ];
    for (key, value, lo, hi) in ranges {
        if !(lo..=hi).contains(&value) {
            return Err(err(
                format!("sidecar.{key}"),
                value,
                &format!("an integer in {lo}..={hi}"),
            ));
        }
    }
    for (key, span) in [
        ("connect_timeout", sc.connect_timeout),
        ("drain_timeout", sc.drain_timeout),
        ("request_header_timeout", sc.request_header_timeout),
    ] {
        if span.is_zero() || span > Span::from_secs(3600) {
            return Err(err(
                format!("sidecar.{key}"),
                format!("\"{span}\""),
                "a duration > 0 and <= \"1h\"",
            ));
        }
    }
    if !valid_name(&sc.service) {
        return Err(err(
            "sidecar.service",
            format!("{:?}", sc.service),
            "a name of letters, digits, '-' and '_'",
        ));
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Resolves a mesh edge name: a listed edge, or (for the implicit default
/// name) the mesh default.
fn resolve_edge(
    policies: &Policies,
    name: &str,
    explicit: bool,
    key: &str,
) -> Result<EdgePolicy, ConfigError> {
    let listed = name
        .split_once("->")
        .and_then(|(a, b)| policies.edges.get(&(a.to_owned(), b.to_owned())));
    match listed {
        Some(edge) => Ok(edge.clone()),
        None if !explicit => Ok(policies.mesh.clone()),
        None => {
            let known: Vec<String> = policies
                .edges
                .keys()
                .map(|(a, b)| format!("\"{a}->{b}\""))
                .collect();
            Err(err(
                key,
                format!("{name:?}"),
                &format!(
                    "an edge listed under [policy.mesh.edges] ({})",
                    if known.is_empty() {
                        "none is".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ))
        }
    }
}

fn check_upstreams(
    sc: &SidecarConfig,
    policies: &Policies,
    failover: Option<&FailoverSpec>,
) -> Result<Vec<UpstreamPlan>, ConfigError> {
    if sc.upstreams.is_empty() || sc.upstreams.len() > MAX_UPSTREAMS {
        return Err(err(
            "sidecar.upstreams",
            format!("{} entries", sc.upstreams.len()),
            &format!("1..={MAX_UPSTREAMS} [[sidecar.upstreams]] tables"),
        ));
    }
    let mut out: Vec<UpstreamPlan> = Vec::new();
    for (i, up) in sc.upstreams.iter().enumerate() {
        let at = format!("sidecar.upstreams[{i}]");
        if !valid_name(&up.name) || out.iter().any(|u| u.name == up.name) {
            return Err(err(
                format!("{at}.name"),
                format!("{:?}", up.name),
                "a unique name of letters, digits, '-' and '_'",
            ));
        }
        if up.endpoints.is_empty() || up.endpoints.len() > MAX_ENDPOINTS {
            return Err(err(
                format!("{at}.endpoints"),
                format!("{} entries", up.endpoints.len()),
                &format!("1..={MAX_ENDPOINTS} endpoints {{ url, region, priority }}"),
            ));
        }
        let mut endpoints = Vec::with_capacity(up.endpoints.len());
        for (j, ep) in up.endpoints.iter().enumerate() {
            let key = format!("{at}.endpoints[{j}]");
            endpoints.push(check_endpoint(ep, failover, &key)?);
        }
        let priorities = endpoints.iter().map(|e| e.priority).max().unwrap_or(0) + 1;
        let (edge_name, explicit) = match &up.edge {
            Some(name) => (name.clone(), true),
            None => (format!("{}->{}", sc.service, up.name), false),
        };
        let edge = resolve_edge(policies, &edge_name, explicit, &format!("{at}.edge"))?;
        if !up.health_path.starts_with('/') {
            return Err(err(
                format!("{at}.health_path"),
                format!("{:?}", up.health_path),
                "a path starting with '/'",
            ));
        }
        let adaptive_concurrency =
            named_concurrency(policies, up.adaptive_concurrency.as_deref(), &at)?;
        out.push(UpstreamPlan {
            name: up.name.clone(),
            endpoints,
            priorities,
            edge_name,
            edge,
            protocol: up.protocol,
            health_path: up.health_path.clone(),
            adaptive_concurrency,
        });
    }
    Ok(out)
}

fn check_endpoint(
    ep: &crate::config::EndpointConfig,
    failover: Option<&FailoverSpec>,
    key: &str,
) -> Result<EndpointPlan, ConfigError> {
    let uri: http::Uri = ep.url.parse().map_err(|_| {
        err(
            format!("{key}.url"),
            format!("{:?}", ep.url),
            "an URL \"http://host:port\"",
        )
    })?;
    let plain = uri.scheme_str() == Some("http")
        && uri.authority().is_some_and(|a| a.port_u16().is_some())
        && uri.path_and_query().is_none_or(|p| p.as_str() == "/");
    let Some(authority) = uri.authority().filter(|_| plain) else {
        return Err(err(
            format!("{key}.url"),
            format!("{:?}", ep.url),
            "an URL \"http://host:port\" (http, an explicit port, no path)",
        ));
    };
    let priority = match (ep.priority, failover) {
        (Some(p), _) => p as usize,
        (None, None) => 0,
        (None, Some(failover)) => failover.priority_of(&ep.region).ok_or_else(|| {
            err(
                format!("{key}.region"),
                format!("{:?}", ep.region),
                &format!(
                    "a region listed in [policy.failover] order {:?}, or an explicit `priority`",
                    failover.order
                ),
            )
        })?,
    };
    if priority >= MAX_PRIORITIES {
        return Err(err(
            format!("{key}.priority"),
            priority,
            &format!("an integer in 0..{MAX_PRIORITIES}"),
        ));
    }
    Ok(EndpointPlan {
        authority: authority.to_string(),
        region: ep.region.clone(),
        priority,
        weight: ep.weight.max(1),
    })
}

fn check_routes(
    sc: &SidecarConfig,
    policies: &Policies,
    upstreams: &[UpstreamPlan],
) -> Result<Vec<RoutePlan>, ConfigError> {
    if sc.routes.is_empty() || sc.routes.len() > MAX_ROUTES {
        return Err(err(
            "sidecar.routes",
            format!("{} entries", sc.routes.len()),
            &format!("1..={MAX_ROUTES} entries \"/prefix/*\" = \"upstream\""),
        ));
    }
    let mut routes = Vec::with_capacity(sc.routes.len());
    for (pattern, route) in &sc.routes {
        let at = format!("sidecar.routes.\"{pattern}\"");
        let matcher = Matcher::parse(pattern).ok_or_else(|| {
            err(
                &at,
                format!("{pattern:?}"),
                "a path pattern \"/exact\", \"/subtree/*\" or \"/prefix*\" ('*' only at the end)",
            )
        })?;
        let table = match route {
            RouteConfig::Upstream(name) => RouteTable {
                upstream: name.clone(),
                rate_limit: None,
                edge: None,
                shadow: None,
            },
            RouteConfig::Table(t) => t.clone(),
        };
        let upstream = upstreams
            .iter()
            .position(|u| u.name == table.upstream)
            .ok_or_else(|| {
                let names: Vec<&str> = upstreams.iter().map(|u| u.name.as_str()).collect();
                err(
                    if matches!(route, RouteConfig::Table(_)) {
                        format!("{at}.upstream")
                    } else {
                        at.clone()
                    },
                    format!("{:?}", table.upstream),
                    &format!("the name of a [[sidecar.upstreams]] entry ({names:?})"),
                )
            })?;
        let rate_limit = named_limit(policies, table.rate_limit.as_deref(), &at, "rate_limit")?;
        let (edge_name, edge) = match &table.edge {
            Some(name) => (
                name.clone(),
                resolve_edge(policies, name, true, &format!("{at}.edge"))?,
            ),
            None => (
                upstreams[upstream].edge_name.clone(),
                upstreams[upstream].edge.clone(),
            ),
        };
        let shadow = table
            .shadow
            .as_ref()
            .map(|s| check_shadow(policies, s, &at))
            .transpose()?;
        routes.push(RoutePlan {
            pattern: pattern.clone(),
            matcher,
            upstream,
            rate_limit,
            edge_name,
            edge,
            shadow,
        });
    }
    // Stable sort: equal specificity keeps the file's (sorted) order.
    routes.sort_by_key(|r| std::cmp::Reverse(r.matcher.specificity()));
    Ok(routes)
}

fn named_limit(
    policies: &Policies,
    name: Option<&str>,
    at: &str,
    key: &str,
) -> Result<Option<(String, RateLimitPolicy)>, ConfigError> {
    let Some(name) = name else { return Ok(None) };
    match policies.rate_limits.get(name) {
        Some(p) => Ok(Some((name.to_owned(), *p))),
        None => {
            let known: Vec<&String> = policies.rate_limits.keys().collect();
            Err(err(
                format!("{at}.{key}"),
                format!("{name:?}"),
                &format!("a limiter defined under [policy.rate_limit] ({known:?})"),
            ))
        }
    }
}

/// Resolves an upstream's `adaptive_concurrency = "NAME"`.
fn named_concurrency(
    policies: &Policies,
    name: Option<&str>,
    at: &str,
) -> Result<Option<(String, AdaptiveConcurrencySpec)>, ConfigError> {
    let Some(name) = name else { return Ok(None) };
    match policies.adaptive_concurrency.get(name) {
        Some(spec) => Ok(Some((name.to_owned(), *spec))),
        None => {
            let known: Vec<&String> = policies.adaptive_concurrency.keys().collect();
            Err(err(
                format!("{at}.adaptive_concurrency"),
                format!("{name:?}"),
                &format!("a controller defined under [policy.adaptive_concurrency] ({known:?})"),
            ))
        }
    }
}

fn check_shadow(
    policies: &Policies,
    shadow: &ShadowConfig,
    at: &str,
) -> Result<ShadowPlan, ConfigError> {
    let at = format!("{at}.shadow");
    if shadow.rate_limit.is_none() && shadow.edge.is_none() && shadow.adaptive_concurrency.is_none()
    {
        return Err(err(
            &at,
            "{}",
            "a table naming a `rate_limit`, an `edge` and/or an `adaptive_concurrency` to trial",
        ));
    }
    let rate_limit = named_limit(policies, shadow.rate_limit.as_deref(), &at, "rate_limit")?;
    let edge = shadow
        .edge
        .as_ref()
        .map(|name| {
            resolve_edge(policies, name, true, &format!("{at}.edge")).map(|e| (name.clone(), e))
        })
        .transpose()?;
    let adaptive_concurrency =
        named_concurrency(policies, shadow.adaptive_concurrency.as_deref(), &at)?;
    Ok(ShadowPlan {
        rate_limit,
        edge,
        adaptive_concurrency,
    })
}

fn check_autoscaler(
    sc: &SidecarConfig,
    policies: &Policies,
) -> Result<Option<(String, AutoscalerSpec)>, ConfigError> {
    let Some(name) = &sc.autoscaler else {
        return Ok(None);
    };
    let known: BTreeMap<_, _> = policies.autoscalers.iter().collect();
    let spec = known.get(name).ok_or_else(|| {
        err(
            "sidecar.autoscaler",
            format!("{name:?}"),
            &format!(
                "an autoscaler defined under [policy.autoscaler] ({:?})",
                known.keys().collect::<Vec<_>>()
            ),
        )
    })?;
    let observes_rps = spec
        .metrics()
        .iter()
        .any(|m| matches!(m, MetricSpec::Pods { name, .. } if name == "rps"));
    if !observes_rps {
        return Err(err(
            format!("policy.autoscaler.{name}"),
            "(no target_rps)",
            "an autoscaler with `target_rps`: the sidecar observes requests per second, \
             not CPU",
        ));
    }
    Ok(Some((name.clone(), (*spec).clone())))
}
