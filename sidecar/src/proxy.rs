//! One proxied request: executes the driver's decisions with hyper.
//!
//! The request path: check framing and size; match a route; read the body
//! (bounded); ask the driver to admit it (rate limit, then the upstream's
//! adaptive concurrency limit); then try, as the driver decides, until it
//! says deliver or give up. The response body streams back through
//! [`LoggedBody`], which records the access-log row and the latency when the
//! last byte has gone (or the client went away).
//!
//! A request admitted by an adaptive concurrency limit holds its slot in a
//! `SlotGuard`, which goes with the request (in its `Finish`) to the end of
//! its response: a response sent to its end is a latency sample
//! ([`Slot::complete`]), whether the upstream's or a local reply after
//! admission (a 504 timeout, a 503 open breaker, a 502), as Envoy's filter
//! samples every response it encodes to the end; every other end (a body
//! cut short, the client gone, the request's future dropped) cancels it,
//! exactly once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use headroom_policy::tables::Fallback;
use headroom_policy::time::{Span, Timestamp};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::access_log::{AccessLog, Op, Record, op_of};
use crate::clock::{Clock, duration};
use crate::config::Protocol;
use crate::conn_pool::{EndpointPool, Lease, SendError};
use crate::driver::{Admission, Driver, Next, Slot, TryDecision, TryOutcome, fnv1a64};
use crate::framing::Verdicts;
use crate::metrics::{Metrics, RouteMetrics, TryCounters};
use crate::plan::Plan;

/// Everything one config version needs to serve: the plan, its driver and
/// each worker's connections to every endpoint. Replaced as a whole by a reload; requests in
/// flight keep the version they started with.
pub struct Runtime {
    /// The checked config.
    pub plan: Plan,
    /// The decisions (held for microseconds, never across an await).
    pub driver: Mutex<Driver>,
    /// Connection pools, `pools[worker][upstream][endpoint]`: a worker's
    /// upstream connections are driven by its own event loop.
    pools: Vec<Vec<Vec<Arc<EndpointPool>>>>,
    /// Region labels per upstream and endpoint.
    regions: Vec<Vec<Arc<str>>>,
    /// Endpoint authorities per upstream, parsed once.
    authorities: Vec<Vec<Authority>>,
    /// The empty label (no route, no region), shared.
    empty: Arc<str>,
    /// Route patterns.
    route_names: Vec<Arc<str>>,
    /// Metric handles per route, then one for unrouted requests.
    route_metrics: Vec<RouteMetrics>,
    /// Try counters per upstream.
    try_metrics: Vec<TryCounters>,
}

impl Runtime {
    /// A runtime for `plan` at `now` served by `workers` workers, its RNG
    /// seeded with `seed`.
    pub fn new(plan: Plan, now: Timestamp, seed: u64, metrics: &Metrics, workers: usize) -> Self {
        let driver = Mutex::new(Driver::new(&plan, now, seed));
        let connect_timeout = duration(plan.sidecar.connect_timeout);
        let pools = (0..workers.max(1))
            .map(|_| {
                plan.upstreams
                    .iter()
                    .map(|u| {
                        u.endpoints
                            .iter()
                            .map(|e| {
                                Arc::new(EndpointPool::new(
                                    &e.authority,
                                    u.protocol,
                                    connect_timeout,
                                ))
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let regions = plan
            .upstreams
            .iter()
            .map(|u| {
                u.endpoints
                    .iter()
                    .map(|e| Arc::from(e.region.as_str()))
                    .collect()
            })
            .collect();
        let authorities = plan
            .upstreams
            .iter()
            .map(|u| {
                u.endpoints
                    .iter()
                    .map(|e| e.authority.parse().expect("checked by the plan"))
                    .collect()
            })
            .collect();
        let route_names = plan
            .routes
            .iter()
            .map(|r| Arc::from(r.pattern.as_str()))
            .collect();
        let route_metrics = plan
            .routes
            .iter()
            .map(|r| r.pattern.as_str())
            .chain([""])
            .map(|r| metrics.route(r))
            .collect();
        let try_metrics = plan
            .upstreams
            .iter()
            .map(|u| metrics.tries(&u.name))
            .collect();
        Runtime {
            plan,
            driver,
            pools,
            regions,
            authorities,
            empty: Arc::from(""),
            route_names,
            route_metrics,
            try_metrics,
        }
    }

    /// The number of workers this runtime has connection pools for.
    pub fn workers(&self) -> usize {
        self.pools.len()
    }

    /// Worker `worker`'s connections to `endpoint` of `upstream`.
    pub fn pool(&self, worker: usize, upstream: usize, endpoint: usize) -> &Arc<EndpointPool> {
        &self.pools[worker.min(self.pools.len() - 1)][upstream][endpoint]
    }

    /// The request target sent to `endpoint` of `upstream`: origin-form
    /// for HTTP/1, absolute for h2c (hyper takes `:scheme` and
    /// `:authority` from it).
    pub fn target(&self, upstream: usize, endpoint: usize, path: PathAndQuery) -> Option<Uri> {
        if self.plan.upstreams[upstream].protocol == Protocol::Http1 {
            return Some(Uri::from(path));
        }
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(Scheme::HTTP);
        uri.authority = Some(self.authorities[upstream][endpoint].clone());
        uri.path_and_query = Some(path);
        Uri::from_parts(uri).ok()
    }

    /// Locks the driver (a poisoned lock is still consistent: every driver
    /// call completes without unwinding on valid inputs).
    pub fn driver(&self) -> MutexGuard<'_, Driver> {
        self.driver.lock().unwrap_or_else(|e| e.into_inner())
    }
}

thread_local! {
    /// The worker this thread serves as (0 for the main thread).
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the calling thread as worker `worker` (its requests use that
/// worker's upstream clients).
pub fn set_worker(worker: usize) {
    WORKER.with(|w| w.set(worker));
}

/// What every request needs from the process.
pub struct ProxyContext {
    /// The clock.
    pub clock: Clock,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The access log, if configured.
    pub access_log: Option<Arc<AccessLog>>,
}

/// The response body type of the proxy.
pub type ProxyBody = LoggedBody;

/// Hop-by-hop headers (RFC 9110 §7.6.1) never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

/// What every request on one client connection shares, computed once per
/// connection.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// Its IP, the client id of requests without the client-id header.
    ip: String,
    /// `x-forwarded-for` for requests that carry none.
    xff: HeaderValue,
    /// The connection's framing verdicts; told when each response ends.
    conn: Arc<Verdicts>,
}

impl Peer {
    /// The facts of a connection from `addr`, whose reads `conn` follows.
    pub fn new(addr: SocketAddr, conn: Arc<Verdicts>) -> Self {
        let ip = addr.ip().to_string();
        // An IP address is always a valid header value.
        let xff = HeaderValue::from_str(&ip).unwrap_or_else(|_| HeaderValue::from_static(""));
        Peer {
            addr,
            ip,
            xff,
            conn,
        }
    }
}

/// What a request needs from the process, its config version and its
/// client connection: one per connection and config version, shared by
/// that connection's requests.
///
/// Why one bundle: a request clones (and drops) one `Arc` whose count only
/// its own worker thread touches, instead of a handful of process-wide ones
/// (the context, the runtime, route and region labels, metric handles)
/// whose counts every worker would bounce between cores.
pub struct Served {
    /// Clock, metrics, access log.
    pub ctx: Arc<ProxyContext>,
    /// The config version.
    pub rt: Arc<Runtime>,
    /// The client connection.
    pub peer: Peer,
    /// The reload generation `rt` belongs to.
    pub generation: u64,
}

/// Serves one request with runtime `rt`; `framing_conflict`: the request
/// carried both `Content-Length` and `Transfer-Encoding` ([`crate::framing`]),
/// answered 400 and the connection closed.
pub async fn handle(
    served: Arc<Served>,
    req: Request<Incoming>,
    framing_conflict: bool,
) -> Result<Response<ProxyBody>, Infallible> {
    let (rt, clock, peer) = (&*served.rt, served.ctx.clock, &served.peer);
    let arrival = clock.now();
    let (mut parts, body) = req.into_parts();
    let client_header = parts
        .headers
        .get(&rt.plan.client_id)
        .filter(|v| v.to_str().is_ok())
        .cloned();
    let route = rt.plan.route_for(parts.uri.path());
    let mut log = Finish {
        served: served.clone(),
        arrival,
        uri: parts.uri.clone(),
        op: op_of(&parts.method),
        client_header,
        route,
        region: None,
        status: 0,
        head: parts.method == Method::HEAD,
        slot: None,
    };
    if framing_conflict {
        let mut resp = log.local(StatusCode::BAD_REQUEST, "bad request framing\n");
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(resp);
    }
    let Some(route) = route else {
        return Ok(log.local(StatusCode::NOT_FOUND, "no route\n"));
    };
    if let Some(status) = framing_error(&parts.headers, rt.plan.sidecar.max_body_bytes) {
        return Ok(log.local(status, "bad request framing\n"));
    }
    let body = if body.is_end_stream() {
        Bytes::new()
    } else {
        let max_body = usize::try_from(rt.plan.sidecar.max_body_bytes).unwrap_or(usize::MAX);
        // Boxed: most requests have no body, and this future would
        // otherwise enlarge every request's future.
        match Box::pin(Limited::new(body, max_body).collect()).await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Ok(log.local(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"));
            }
            Err(_) => return Ok(log.local(StatusCode::BAD_REQUEST, "bad request body\n")),
        }
    };
    let retryable =
        is_idempotent(&parts.method) && body.len() as u64 <= rt.plan.sidecar.retry_buffer_bytes;
    let client_key = fnv1a64(log.client().as_bytes());
    // Admission and the first try's decision under one hold of the driver
    // lock (one lock round trip between the workers' cores, not two).
    let (admission, mut first_try) = {
        let mut driver = rt.driver();
        match driver.handle_request(arrival, route, client_key, retryable) {
            Admission::Admit(mut call) => {
                let decision = driver.start_try(clock.now(), &mut call);
                (Admission::Admit(call), Some(decision))
            }
            limited => (limited, None),
        }
    };
    let mut call = match admission {
        Admission::Admit(call) => call,
        Admission::Limited { retry_after } => {
            let secs = retry_after.as_nanos().div_ceil(1_000_000_000).max(1);
            let mut resp = log.local(StatusCode::TOO_MANY_REQUESTS, "rate limited\n");
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return Ok(resp);
        }
        Admission::Blocked => {
            // Envoy's local reply, word for word.
            return Ok(log.local(StatusCode::SERVICE_UNAVAILABLE, "reached concurrency limit"));
        }
    };
    // From here every way out (a response, an early return, this future
    // dropped) ends the slot through the guard.
    let slots = [call.take_slot(), call.take_shadow_slot()];
    log.slot = slots
        .iter()
        .any(Option::is_some)
        .then_some(SlotGuard { slots, clock });
    let upstream = rt.plan.routes[route].upstream;
    let mut headers = Some(forward_headers(
        std::mem::take(&mut parts.headers),
        peer,
        parts.version,
    ));
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    // HTTP/1 upstreams need `Host`: an h2 client sends `:authority`
    // instead, an HTTP/1.0 client may send neither (then the endpoint's).
    let host = parts
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
    let worker = WORKER.with(std::cell::Cell::get);
    loop {
        let decision = match first_try.take() {
            Some(decision) => decision,
            None => rt.driver().start_try(clock.now(), &mut call),
        };
        let (endpoint, deadline) = match decision {
            TryDecision::Send { endpoint, deadline } => (endpoint, deadline),
            TryDecision::BreakerOpen(fallback) => return Ok(breaker_response(fallback, log)),
            TryDecision::NoEndpoint => {
                return Ok(log.local(StatusCode::SERVICE_UNAVAILABLE, "no healthy upstream\n"));
            }
        };
        log.region = Some((upstream, endpoint));
        let Some(uri) = rt.target(upstream, endpoint, path.clone()) else {
            return Ok(log.local(StatusCode::BAD_REQUEST, "bad request target\n"));
        };
        let mut req = Request::new(Full::new(body.clone()));
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = uri;
        // A call that cannot be retried has one try: no copy of the headers.
        *req.headers_mut() = if call.is_retryable() {
            headers.clone().unwrap_or_default()
        } else {
            headers.take().unwrap_or_default()
        };
        if !req.headers().contains_key(header::HOST) {
            let fallback = || HeaderValue::from_str(rt.authorities[upstream][endpoint].as_str());
            if let Some(v) = host.clone().or_else(|| fallback().ok()) {
                req.headers_mut().insert(header::HOST, v);
            }
        }
        let sent = rt.pool(worker, upstream, endpoint).send(req);
        let result = tokio::time::timeout_at(clock.instant(deadline), sent).await;
        let (outcome, response) = match result {
            Ok(Ok((resp, lease))) => (
                TryOutcome::Response {
                    status: resp.status().as_u16(),
                    retry_after: retry_after(resp.headers()),
                },
                Some((resp, lease)),
            ),
            Ok(Err(SendError::Connect)) => (TryOutcome::ConnectFailure, None),
            Ok(Err(SendError::Reset)) => (TryOutcome::Reset, None),
            Err(_) => (TryOutcome::Timeout, None),
        };
        rt.try_metrics[upstream].by_outcome[outcome_index(outcome)].inc();
        let next = rt.driver().handle_try_end(clock.now(), &mut call, outcome);
        match (next, response) {
            (Next::RetryAt { at }, _) => {
                tokio::time::sleep_until(clock.instant(at)).await;
            }
            (Next::Deliver(_), Some((resp, lease))) => return Ok(log.upstream(resp, lease)),
            (Next::Deliver(_), None) => {
                let (status, text) = match outcome {
                    TryOutcome::Timeout => (StatusCode::GATEWAY_TIMEOUT, "upstream timeout\n"),
                    TryOutcome::ConnectFailure => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "upstream connect failure\n",
                    ),
                    _ => (StatusCode::BAD_GATEWAY, "upstream reset\n"),
                };
                return Ok(log.local(status, text));
            }
        }
    }
}

fn breaker_response(fallback: Option<Fallback>, log: Finish) -> Response<ProxyBody> {
    let (status, body, content_type, tag) = match fallback {
        None => {
            return log.local(StatusCode::SERVICE_UNAVAILABLE, "circuit breaker open\n");
        }
        Some(Fallback::Degraded) => (200, String::new(), "text/plain".to_owned(), "degraded"),
        Some(Fallback::Response {
            status,
            body,
            content_type,
        }) => (status, body, content_type, "breaker-open"),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut resp = log.local(status, &body);
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp.headers_mut().insert(
        HeaderName::from_static("x-headroom-fallback"),
        HeaderValue::from_static(tag),
    );
    resp
}

/// Index into [`TryCounters::by_outcome`].
fn outcome_index(outcome: TryOutcome) -> usize {
    match outcome {
        TryOutcome::Response { .. } => 0,
        TryOutcome::Timeout => 1,
        TryOutcome::ConnectFailure => 2,
        TryOutcome::Reset => 3,
    }
}

/// A request whose framing a proxy must not forward (RFC 9112 §6.3):
/// both `Content-Length` and `Transfer-Encoding` (a smuggling vector),
/// several `Content-Length` headers, or a declared body above the limit.
fn framing_error(headers: &HeaderMap, max_body: u64) -> Option<StatusCode> {
    // One hashed lookup for the usual request without a body.
    let mut lengths = headers.get_all(header::CONTENT_LENGTH).iter();
    let first = lengths.next()?;
    if lengths.next().is_some() || headers.contains_key(header::TRANSFER_ENCODING) {
        return Some(StatusCode::BAD_REQUEST);
    }
    match first.to_str().ok().and_then(|s| s.parse::<u64>().ok()) {
        None => Some(StatusCode::BAD_REQUEST),
        Some(n) if n > max_body => Some(StatusCode::PAYLOAD_TOO_LARGE),
        Some(_) => None,
    }
}

/// RFC 9110 §9.2.2 idempotent methods.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Request headers for upstream: hop-by-hop ones (and those named in
/// `Connection`) removed, `x-forwarded-for` and `via` appended.
fn forward_headers(mut out: HeaderMap, peer: &Peer, version: Version) -> HeaderMap {
    strip_hop_by_hop(&mut out);
    let xff = match out.get("x-forwarded-for").map(HeaderValue::to_str) {
        Some(Ok(prior)) => HeaderValue::from_str(&format!("{prior}, {}", peer.ip)).ok(),
        Some(Err(_)) => None,
        None => Some(peer.xff.clone()),
    };
    if let Some(v) = xff {
        out.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    out.append(header::VIA, HeaderValue::from_static(via(version)));
    out
}

fn via(version: Version) -> &'static str {
    match version {
        Version::HTTP_2 => "2 headroom-sidecar",
        Version::HTTP_10 => "1.0 headroom-sidecar",
        _ => "1.1 headroom-sidecar",
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the (few) headers notes which hop-by-hop names are
    // present, instead of a hashed lookup per name: most requests carry
    // none, most upstream responses only `Connection: keep-alive`.
    let mut present = 0u8;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    // Names listed in `Connection` are hop-by-hop too; the usual one
    // (`keep-alive`) needs no list of its own.
    let mut named: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(header::CONNECTION) {
        let Ok(value) = value.to_str() else { continue };
        for token in value.split(',') {
            let Ok(name) = HeaderName::from_bytes(token.trim().as_bytes()) else {
                continue;
            };
            match HOP_BY_HOP.iter().position(|h| *h == name) {
                Some(i) => present |= 1 << i,
                None => named.push(name),
            }
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    for name in &named {
        headers.remove(name);
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not honoured).
fn retry_after(headers: &HeaderMap) -> Option<Span> {
    let secs: u64 = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Span::from_secs(secs.min(86_400)))
}

/// The facts of a request the access log and the metrics need when its
/// response ends.
struct Finish {
    served: Arc<Served>,
    arrival: Timestamp,
    /// The request target (its path is the access log's key).
    uri: Uri,
    op: Op,
    /// The client-id header, if the request carries one (valid text).
    client_header: Option<HeaderValue>,
    /// The route, if one matched.
    route: Option<usize>,
    /// The (upstream, endpoint) of the last try, if any was sent.
    region: Option<(usize, usize)>,
    status: u16,
    head: bool,
    /// The request's adaptive concurrency slots, if its upstream or its
    /// route's shadow set has a limit.
    slot: Option<SlotGuard>,
}

/// An admitted request's adaptive concurrency slots (the upstream's limit
/// and the route's shadow limit): reported with [`SlotGuard::end`], or
/// cancelled at the clock's time when dropped.
struct SlotGuard {
    slots: [Option<Slot>; 2],
    clock: Clock,
}

impl SlotGuard {
    /// The request ended at `now`; `complete`: its response went out to
    /// its end (a latency sample, as Envoy's filter samples at
    /// `encodeComplete`, local replies included), else a cancel.
    fn end(mut self, now: Timestamp, complete: bool) {
        for slot in self.slots.iter_mut().filter_map(Option::take) {
            if complete {
                slot.complete(now);
            } else {
                slot.cancel(now);
            }
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let now = self.clock.now();
        for slot in self.slots.iter_mut().filter_map(Option::take) {
            slot.cancel(now);
        }
    }
}

impl Finish {
    /// The client id: the client-id header, else the peer IP.
    fn client(&self) -> &str {
        self.client_header
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or(&self.served.peer.ip)
    }

    fn local(mut self, status: StatusCode, text: &str) -> Response<ProxyBody> {
        self.status = status.as_u16();
        let body = if self.head {
            Bytes::new()
        } else {
            Bytes::copy_from_slice(text.as_bytes())
        };
        let len = text.len();
        let mut resp = Response::new(LoggedBody::new(Inner::Local(Some(body)), self));
        *resp.status_mut() = status;
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        resp
    }

    /// The upstream's response, streamed back; `lease`: its HTTP/1
    /// connection, released when the body has been read to the end.
    fn upstream(mut self, resp: Response<Incoming>, lease: Option<Lease>) -> Response<ProxyBody> {
        self.status = resp.status().as_u16();
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        parts
            .headers
            .append(header::VIA, HeaderValue::from_static(via(parts.version)));
        Response::from_parts(parts, LoggedBody::new(Inner::Upstream(body, lease), self))
    }

    /// Records the request; `complete`: its response (the upstream's or a
    /// local reply) went out to its end.
    fn done(mut self, size_bytes: u64, complete: bool) {
        let now = self.served.ctx.clock.now();
        if let Some(guard) = self.slot.take() {
            guard.end(now, complete);
        }
        let (ctx, rt) = (&self.served.ctx, &self.served.rt);
        self.served.peer.conn.answered(now);
        let latency = now.saturating_since(self.arrival);
        let metrics = &rt.route_metrics[self.route.unwrap_or(rt.route_metrics.len() - 1)];
        metrics.record(self.status, latency.as_secs_f64());
        if let Some(log) = &ctx.access_log {
            log.log(Record {
                t_ns: ctx.clock.unix_nanos(self.arrival),
                key: self.uri.path().to_owned(),
                op: self.op,
                size_bytes,
                client: self.client().to_owned(),
                region: self
                    .region
                    .map_or_else(|| rt.empty.clone(), |(u, e)| rt.regions[u][e].clone()),
                route: self
                    .route
                    .map_or_else(|| rt.empty.clone(), |r| rt.route_names[r].clone()),
                status: self.status,
                latency_ns: latency.as_nanos(),
            });
        }
    }
}

enum Inner {
    Local(Option<Bytes>),
    /// The upstream body and, for HTTP/1, the connection it arrives on.
    Upstream(Incoming, Option<Lease>),
}

/// A response body that counts its bytes and, at its end (or when dropped
/// early), records the request in the metrics and the access log.
pub struct LoggedBody {
    inner: Inner,
    bytes: u64,
    finish: Option<Finish>,
}

impl LoggedBody {
    fn new(inner: Inner, finish: Finish) -> Self {
        LoggedBody {
            inner,
            bytes: 0,
            finish: Some(finish),
        }
    }

    /// Records the request; `complete`: the body went out to its end (an
    /// upstream body read to its end, so its connection can serve the next
    /// request; a local reply's one frame sent).
    fn end(&mut self, complete: bool) {
        if let Inner::Upstream(_, lease) = &mut self.inner
            && let Some(lease) = lease.take()
            && complete
        {
            lease.release();
        }
        if let Some(f) = self.finish.take() {
            f.done(self.bytes, complete);
        }
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        // hyper stops polling a body that reports its end, so a body read
        // to the end is often dropped rather than polled to `None`.
        let complete = match &self.inner {
            Inner::Upstream(body, _) => body.is_end_stream(),
            Inner::Local(data) => data.is_none(),
        };
        self.end(complete);
    }
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = match &mut this.inner {
            Inner::Local(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Inner::Upstream(body, _) => Pin::new(body).poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.bytes += d.len() as u64;
                }
            }
            Poll::Ready(None) => this.end(true),
            Poll::Ready(Some(Err(_))) => this.end(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Local(data) => data.is_none(),
            Inner::Upstream(body, _) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Local(Some(d)) => SizeHint::with_exact(d.len() as u64),
            Inner::Local(None) => SizeHint::with_exact(0),
            Inner::Upstream(body, _) => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_rejects_smuggling_shapes() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        assert_eq!(framing_error(&h, 100), None);
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        assert_eq!(framing_error(&h, 100), Some(StatusCode::BAD_REQUEST));
        let mut h = HeaderMap::new();
        h.append(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        h.append(header::CONTENT_LENGTH, HeaderValue::from_static("6"));
        assert_eq!(framing_error(&h, 100), Some(StatusCode::BAD_REQUEST));
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("500"));
        assert_eq!(framing_error(&h, 100), Some(StatusCode::PAYLOAD_TOO_LARGE));
    }

    #[test]
    fn framing_accepts_honest_shapes() {
        assert_eq!(framing_error(&HeaderMap::new(), 100), None);
        let mut h = HeaderMap::new();
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        assert_eq!(framing_error(&h, 100), None);
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("100"));
        assert_eq!(framing_error(&h, 100), None);
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1e3"));
        assert_eq!(framing_error(&h, 100), Some(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn hop_by_hop_removal_covers_every_listed_and_named_header() {
        // An upstream response: only `Connection: keep-alive` and its
        // `Keep-Alive` are hop-by-hop.
        let mut h = HeaderMap::new();
        h.insert(header::SERVER, HeaderValue::from_static("nginx"));
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=75"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("2"));
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "server"]);
        // Several `Connection` values, naming present, absent and standard
        // hop-by-hop headers; every fixed hop-by-hop name at once.
        let mut h = HeaderMap::new();
        h.append(header::CONNECTION, HeaderValue::from_static("close, X-A"));
        h.append(header::CONNECTION, HeaderValue::from_static("x-b ,Upgrade"));
        for name in &HOP_BY_HOP[1..] {
            h.insert(name.clone(), HeaderValue::from_static("1"));
        }
        h.insert("x-a", HeaderValue::from_static("1"));
        h.insert("x-c", HeaderValue::from_static("kept"));
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-c"]);
        // Nothing hop-by-hop: untouched.
        let mut h = HeaderMap::new();
        h.insert("x-c", HeaderValue::from_static("kept"));
        h.insert(header::HOST, HeaderValue::from_static("a"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn hop_by_hop_headers_are_removed_and_forwarding_added() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.1.1.1"));
        h.insert("x-app", HeaderValue::from_static("kept"));
        let (_, conn) = crate::framing::Guarded::new(
            tokio::io::empty(),
            16384,
            crate::clock::Clock::start(),
            std::time::Duration::from_secs(30),
        );
        let peer = Peer::new("127.0.0.9:5555".parse().unwrap(), conn);
        let out = forward_headers(h, &peer, Version::HTTP_11);
        assert!(out.get("x-secret").is_none());
        assert!(out.get(header::CONNECTION).is_none());
        assert!(out.get("keep-alive").is_none());
        assert_eq!(out["x-app"], "kept");
        assert_eq!(out["x-forwarded-for"], "10.1.1.1, 127.0.0.9");
        assert_eq!(out[header::VIA], "1.1 headroom-sidecar");
    }

    #[test]
    fn fnv1a64_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
