//! The running sidecar: listeners, connection limits, the health-check and
//! timer loop, reload (SIGHUP, `POST /reload`) and graceful shutdown
//! (SIGTERM, SIGINT).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use headroom_policy::health::CheckResult;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, Semaphore, watch};

use crate::access_log::{AccessLog, Writer};
use crate::clock::{Clock, duration};
use crate::config;
use crate::conn_pool::SendError;
use crate::framing::Guarded;
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::proxy::{self, Peer, ProxyContext, Runtime, Served};

/// Process-wide state shared by the proxy, the admin listener and the
/// background loops.
pub struct Shared {
    /// Per-request context (clock, metrics, access log).
    pub ctx: Arc<ProxyContext>,
    /// The running config version.
    current: RwLock<Arc<Runtime>>,
    /// Bumped after every reload swapped `current`: a connection re-reads
    /// `current` only when this moved (a load, not a lock, per request).
    generation: AtomicU64,
    /// The config file (re-read on reload).
    pub config_path: PathBuf,
    /// The RNG seed of every driver.
    pub seed: u64,
    /// False while draining.
    pub ready: AtomicBool,
    /// Wakes the timer loop (reload, check results).
    pub wake: Notify,
    /// Serialises reloads.
    reloading: tokio::sync::Mutex<()>,
}

impl Shared {
    /// The running config version.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.ctx.metrics
    }

    /// What the next request on a connection from `peer` needs, with the
    /// running config version.
    fn served(&self, peer: Peer) -> Served {
        // The generation first: a reload swaps `current` before bumping it,
        // so the runtime read after is at least as new as the generation.
        let generation = self.generation.load(Ordering::Acquire);
        Served {
            ctx: self.ctx.clone(),
            rt: self.runtime(),
            peer,
            generation,
        }
    }

    /// `slot` (a connection's bundle) refreshed if a reload happened since
    /// it was made.
    fn refresh(&self, slot: &mut Arc<Served>) -> Arc<Served> {
        if slot.generation != self.generation.load(Ordering::Acquire) {
            *slot = Arc::new(self.served(slot.peer.clone()));
        }
        slot.clone()
    }

    /// Re-reads the config file. An invalid file (or one that changes the
    /// listeners) is refused with the reason and the running config kept.
    /// Requests in flight finish with the config they started with.
    pub async fn reload(&self) -> Result<(), String> {
        let _one = self.reloading.lock().await;
        let result = self.try_reload();
        self.metrics().count_reload(result.is_ok());
        match &result {
            Ok(()) => tracing::info!(config = %self.config_path.display(), "config reloaded"),
            Err(e) => tracing::warn!(error = %e, "reload refused; running config kept"),
        }
        result
    }

    fn try_reload(&self) -> Result<(), String> {
        let plan = config::load(&self.config_path).map_err(|e| e.to_string())?;
        let old = self.runtime();
        for (key, was, now) in [
            ("listen", old.plan.listen, plan.listen),
            ("admin", old.plan.admin, plan.admin),
        ] {
            if was != now {
                return Err(format!(
                    "{}: `sidecar.{key}` changed from {was} to {now}; restart to change listeners",
                    self.config_path.display()
                ));
            }
        }
        if old.plan.access_log != plan.access_log {
            return Err(format!(
                "{}: `sidecar.access_log` changed; restart to change the access log",
                self.config_path.display()
            ));
        }
        let fresh = Arc::new(Runtime::new(
            plan,
            self.ctx.clock.now(),
            self.seed,
            self.metrics(),
            old.workers(),
        ));
        {
            let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
            self.metrics().retire(&old.plan, &old.driver());
            *current = fresh;
        }
        self.generation.fetch_add(1, Ordering::Release);
        self.wake.notify_one();
        Ok(())
    }
}

/// Runs the sidecar for `plan` (read from `config_path`) until SIGTERM or
/// SIGINT, then drains. Call on a current-thread runtime: it serves as
/// worker 0 and runs the admin listener, the timers and the signals; the
/// other workers get a thread and a current-thread runtime each (thread per
/// core: a request, its upstream connection and its timers stay on one
/// thread). Returns once every in-flight request finished or the drain
/// deadline passed.
pub async fn run(plan: Plan, config_path: PathBuf) -> anyhow::Result<()> {
    let clock = Clock::start();
    let seed = plan.sidecar.seed.unwrap_or_else(|| clock.seed());
    let metrics = Arc::new(Metrics::default());
    let (access_log, writer) = open_access_log(&plan, &metrics)?;
    let workers = worker_count(&plan);
    let mut listeners = bind_listeners(plan.listen, workers)?;
    let admin = TcpListener::bind(plan.admin)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {} (admin): {e}", plan.admin))?;
    tracing::info!(listen = %plan.listen, admin = %plan.admin, seed, workers, "headroom-sidecar started");
    let limits = Limits {
        permits: Arc::new(Semaphore::new(plan.sidecar.max_connections as usize)),
        max_header_bytes: plan.sidecar.max_header_bytes as usize,
        header_timeout: duration(plan.sidecar.request_header_timeout),
        drain: duration(plan.sidecar.drain_timeout),
    };
    let runtime = Arc::new(Runtime::new(plan, clock.now(), seed, &metrics, workers));
    let shared = Arc::new(Shared {
        ctx: Arc::new(ProxyContext {
            clock,
            metrics,
            access_log,
        }),
        current: RwLock::new(runtime),
        generation: AtomicU64::new(0),
        config_path,
        seed,
        ready: AtomicBool::new(true),
        wake: Notify::new(),
        reloading: tokio::sync::Mutex::new(()),
    });
    let (stop, stopped) = watch::channel(false);
    let mut threads = Vec::new();
    for (worker, listener) in listeners.drain(1..).enumerate() {
        let listener = listener.into_std()?;
        let (shared, stopped, limits) = (shared.clone(), stopped.clone(), limits.clone());
        let thread = std::thread::Builder::new()
            .name(format!("worker-{}", worker + 1))
            .spawn(move || -> anyhow::Result<()> {
                proxy::set_worker(worker + 1);
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let listener = TcpListener::from_std(listener)?;
                    serve(listener, shared, stopped, limits).await;
                    Ok(())
                })
            })?;
        threads.push(thread);
    }
    let first = listeners.pop().expect("one listener per worker");
    let worker0 = tokio::spawn(serve(first, shared.clone(), stopped, limits));
    let timers = tokio::spawn(timer_loop(shared.clone()));
    let admin_task = tokio::spawn(crate::admin::serve(admin, shared.clone()));
    let hup = tokio::spawn(reload_on_sighup(shared.clone()));
    wait_for_shutdown_signal().await?;
    shared.ready.store(false, Ordering::SeqCst);
    let _ = stop.send(true);
    let _ = worker0.await;
    for thread in threads {
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "worker failed"),
            _ => tracing::error!("worker panicked"),
        }
    }
    timers.abort();
    admin_task.abort();
    hup.abort();
    finish_access_log(shared, writer);
    Ok(())
}

/// `sidecar.workers`, else one per CPU.
fn worker_count(plan: &Plan) -> usize {
    plan.sidecar.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    )
}

/// One listening socket per worker on `addr` (`SO_REUSEPORT`: the kernel
/// spreads connections over them).
fn bind_listeners(addr: SocketAddr, workers: usize) -> anyhow::Result<Vec<TcpListener>> {
    (0..workers)
        .map(|_| {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            if workers > 1 {
                socket.set_reuseport(true)?;
            }
            socket.bind(addr)?;
            socket.listen(1024)
        })
        .collect::<std::io::Result<_>>()
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Per-worker copies of the connection limits.
#[derive(Clone)]
struct Limits {
    /// `max_connections`, shared by every worker.
    permits: Arc<Semaphore>,
    max_header_bytes: usize,
    /// `request_header_timeout`.
    header_timeout: Duration,
    drain: Duration,
}

async fn wait_for_shutdown_signal() -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// One worker: accepts on `listener` until `stopped`, then drains its
/// connections up to the drain deadline.
async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
    limits: Limits,
) {
    let graceful = GracefulShutdown::new();
    let heartbeat = tokio::spawn(heartbeat());
    accept_loop(&listener, &shared, &graceful, stopped, &limits).await;
    drop(listener);
    tracing::debug!(
        in_flight_connections = graceful.count(),
        "draining, deadline {:?}",
        limits.drain
    );
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain deadline passed; closing remaining connections");
    }
    heartbeat.abort();
}

/// How far ahead a worker's timer driver may sleep at most ([`heartbeat`]).
pub const HEARTBEAT: Duration = Duration::from_millis(100);

/// Keeps a timer at most [`HEARTBEAT`] ahead on this worker, forever.
///
/// Why: tokio's timer driver, when a new timer is earlier than the one it
/// planned to wake for when it last parked, wakes itself through its eventfd
/// (a `write` syscall and an extra `epoll_wait` round). Without a heartbeat
/// that is most requests: a worker with no try in flight parks until a
/// connection's request-header timer (`request_header_timeout`, 30 s by
/// default), and the next request's try deadline
/// (seconds away) is earlier. With a timer never more than 100 ms ahead, a
/// try deadline is earlier only when it is under 100 ms away. Costs one
/// wake-up per worker every 100 ms.
async fn heartbeat() {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

fn open_access_log(
    plan: &Plan,
    metrics: &Metrics,
) -> anyhow::Result<(Option<Arc<AccessLog>>, Option<Writer>)> {
    let Some(path) = &plan.access_log else {
        return Ok((None, None));
    };
    let (log, writer) = AccessLog::open(
        path,
        plan.sidecar.access_log_buffer as usize,
        metrics.access_log_dropped.clone(),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the access log {}: {e}", path.display()))?;
    Ok((Some(Arc::new(log)), Some(writer)))
}

fn finish_access_log(shared: Arc<Shared>, writer: Option<Writer>) {
    // Requests still running past the drain deadline may hold `shared`;
    // close the queue explicitly so the writer drains and ends.
    if let Some(log) = &shared.ctx.access_log {
        log.close();
    }
    if let Some(w) = writer {
        match w.join() {
            Ok(rows) => tracing::info!(rows, "access log flushed"),
            Err(e) => tracing::error!(error = %e, "access log writer failed"),
        }
    }
}

async fn accept_loop(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    graceful: &GracefulShutdown,
    mut stopped: watch::Receiver<bool>,
    limits: &Limits,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(limits.max_header_bytes)
        // Head and body copied into one buffer and sent with one `write`:
        // fewer instructions than hyper's queue of buffers for `writev`
        // (see "Performance" in the README).
        .writev(false)
        // `request_header_timeout` is enforced by `Guarded`, with one
        // timer per connection instead of hyper's one per request.
        .header_read_timeout(None);
    builder.http2().timer(TokioTimer::new());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|&stop| stop) => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = limits.permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection limit reached; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let (stream, verdicts) = Guarded::new(
            stream,
            limits.max_header_bytes,
            shared.ctx.clock,
            limits.header_timeout,
        );
        // The connection's requests run on this worker only: the bundle's
        // count never leaves this core.
        let served = RefCell::new(Arc::new(shared.served(Peer::new(peer, verdicts.clone()))));
        let service = service_fn(move |req: Request<Incoming>| {
            let conflict = verdicts.next_request_conflicts();
            let served = shared.refresh(&mut served.borrow_mut());
            proxy::handle(served, req, conflict)
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
}

async fn reload_on_sighup(shared: Arc<Shared>) {
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler; reload with POST /reload");
        return;
    };
    while hup.recv().await.is_some() {
        let _ = shared.reload().await;
    }
}

/// Wakes at the driver's next timer, fires it, and sends the health checks
/// it asks for.
async fn timer_loop(shared: Arc<Shared>) {
    let mut probes = Vec::new();
    loop {
        let rt = shared.runtime();
        let clock = shared.ctx.clock;
        let next = rt.driver().poll_timeout();
        let sleep = match next {
            Some(t) => tokio::time::sleep_until(clock.instant(t)),
            None => tokio::time::sleep(Duration::from_secs(3600)),
        };
        tokio::select! {
            () = sleep => {}
            () = shared.wake.notified() => continue,
        }
        probes.clear();
        rt.driver().handle_timeout(clock.now(), &mut probes);
        for &(upstream, endpoint) in &probes {
            tokio::spawn(health_check(shared.clone(), rt.clone(), upstream, endpoint));
        }
    }
}

async fn health_check(shared: Arc<Shared>, rt: Arc<Runtime>, upstream: usize, endpoint: usize) {
    let up = &rt.plan.upstreams[upstream];
    let timeout = rt
        .plan
        .health_check
        .as_ref()
        .map_or(Duration::from_secs(5), |h| duration(h.timeout));
    let target = http::uri::PathAndQuery::try_from(up.health_path.as_str())
        .ok()
        .and_then(|path| rt.target(upstream, endpoint, path));
    let result = match target {
        Some(uri) => check_once(&rt, upstream, endpoint, uri, timeout).await,
        None => CheckResult::Failed,
    };
    let now = shared.ctx.clock.now();
    rt.driver()
        .handle_check_result(now, upstream, endpoint, result);
    tracing::debug!(upstream = %up.name, endpoint = %up.endpoints[endpoint].authority, ?result, "health check");
    shared.wake.notify_one();
}

async fn check_once(
    rt: &Runtime,
    upstream: usize,
    endpoint: usize,
    uri: Uri,
    timeout: Duration,
) -> CheckResult {
    let mut req = Request::new(Full::default());
    *req.uri_mut() = uri;
    let authority = &rt.plan.upstreams[upstream].endpoints[endpoint].authority;
    if let Ok(host) = http::HeaderValue::from_str(authority) {
        req.headers_mut().insert(http::header::HOST, host);
    }
    req.headers_mut().insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static("headroom-sidecar-health"),
    );
    let pool = rt.pool(0, upstream, endpoint);
    let checked = tokio::time::timeout(timeout, async {
        let (resp, lease) = pool.send(req).await?;
        let ok = resp.status().is_success();
        // Read the body to its end so the connection can be reused.
        let read = resp.into_body().collect().await.is_ok();
        if let (true, Some(lease)) = (read, lease) {
            lease.release();
        }
        Ok::<_, SendError>(ok)
    });
    match checked.await {
        Ok(Ok(true)) => CheckResult::Passed,
        Ok(Ok(false)) => CheckResult::Unhealthy,
        Ok(Err(_)) => CheckResult::Failed,
        Err(_) => CheckResult::TimedOut,
    }
}
