//! Test harness: real upstream HTTP servers on 127.0.0.1 that can be told to
//! fail, slow down or die, and the `headroom-sidecar` binary run as a child
//! process with a config written for the test.
#![allow(dead_code)] // each test binary uses part of the harness

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Liveness bound for anything a test waits for (generous: a loaded
/// 2-core machine may be slow; decisions are checked exactly, not timed).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// What an upstream does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 200 with the upstream's name as the body.
    Ok,
    /// This status, name as the body.
    Status(u16),
    /// Wait, then 200.
    Delay(Duration),
}

/// Shared state of an upstream.
#[derive(Debug)]
pub struct UpState {
    /// Name (the response body).
    pub name: String,
    /// Current behaviour of non-health requests.
    pub mode: Mutex<Mode>,
    /// Whether `/health` answers 200 (else 503).
    pub healthy: Mutex<bool>,
    /// Non-health requests received.
    pub hits: AtomicU64,
    /// Health checks received.
    pub checks: AtomicU64,
    /// Headers of the last non-health request.
    pub last_headers: Mutex<Option<HeaderMap>>,
    /// Protocol version of the last request.
    pub last_version: Mutex<Option<http::Version>>,
    /// Paths of the non-health requests received, in order.
    pub paths: Mutex<Vec<String>>,
    /// TCP connections accepted.
    pub connections: AtomicU64,
}

/// A real HTTP/1.1 + h2c server on loopback.
pub struct Upstream {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state.
    pub state: Arc<UpState>,
    task: Option<JoinHandle<()>>,
}

impl Upstream {
    /// Starts `name` on a free port.
    pub async fn start(name: &str) -> Upstream {
        let state = Arc::new(UpState {
            name: name.to_owned(),
            mode: Mutex::new(Mode::Ok),
            healthy: Mutex::new(true),
            hits: AtomicU64::new(0),
            checks: AtomicU64::new(0),
            last_headers: Mutex::new(None),
            last_version: Mutex::new(None),
            paths: Mutex::new(Vec::new()),
            connections: AtomicU64::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve(listener, state.clone()));
        Upstream {
            addr,
            state,
            task: Some(task),
        }
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes what requests get.
    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Non-health requests received so far.
    pub fn hits(&self) -> u64 {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Kills the server: the listener and every open connection close.
    pub fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Starts again on the same port (after [`Upstream::kill`]).
    pub async fn revive(&mut self) {
        self.kill();
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot rebind {}: {e}", self.addr),
            }
        };
        self.task = Some(tokio::spawn(serve(listener, self.state.clone())));
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn serve(listener: TcpListener, state: Arc<UpState>) {
    // Dropping the set (when this task is aborted) aborts every connection.
    let mut conns = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        state.connections.fetch_add(1, Ordering::SeqCst);
        let state = state.clone();
        conns.spawn(async move {
            let service = service_fn(move |req| answer(state.clone(), req));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while conns.try_join_next().is_some() {}
    }
}

async fn answer(
    state: Arc<UpState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    if req.uri().path() == "/health" {
        state.checks.fetch_add(1, Ordering::SeqCst);
        let ok = *state.healthy.lock().unwrap();
        let status = if ok { 200 } else { 503 };
        return Ok(reply(status, "health"));
    }
    state.hits.fetch_add(1, Ordering::SeqCst);
    *state.last_headers.lock().unwrap() = Some(req.headers().clone());
    *state.last_version.lock().unwrap() = Some(req.version());
    state
        .paths
        .lock()
        .unwrap()
        .push(req.uri().path().to_owned());
    let mode = *state.mode.lock().unwrap();
    let _ = req.into_body().collect().await;
    Ok(match mode {
        Mode::Ok => reply(200, &state.name),
        Mode::Status(s) => reply(s, &state.name),
        Mode::Delay(d) => {
            tokio::time::sleep(d).await;
            reply(200, &state.name)
        }
    })
}

fn reply(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_owned())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp
}

/// A free loopback port (bound, then released).
pub fn free_addr() -> SocketAddr {
    let l = StdListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A fresh scratch directory for one test.
pub fn scratch_dir() -> PathBuf {
    let n = DIRS.fetch_add(1, Ordering::SeqCst);
    // Under the target directory (cleaned with it), not the system's
    // temporary directory, where every run would leave directories behind.
    // Numbered per process: each test binary counts from 0, so the binary's
    // name keeps two binaries running at once apart.
    let exe = std::env::current_exe().unwrap();
    let binary = exe.file_stem().unwrap().to_string_lossy().into_owned();
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sidecar-{binary}-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_headroom-sidecar")
}

/// A response as a test sees it.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub body: String,
}

/// How a sidecar's start ended.
enum Ready {
    /// `/ready` answers 200.
    Yes,
    /// It exited because a port was taken: start again on others.
    CannotListen,
}

/// A running sidecar process.
pub struct Sidecar {
    child: Child,
    /// Proxy address.
    pub listen: SocketAddr,
    /// Admin address.
    pub admin: SocketAddr,
    /// The config file.
    pub config: PathBuf,
    /// The scratch directory.
    pub dir: PathBuf,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Sidecar {
    /// Writes `config` (with `@LISTEN@`, `@ADMIN@` and `@DIR@` replaced)
    /// and starts the sidecar; returns once `/ready` answers.
    ///
    /// The two ports are found free by binding port 0 and closing it, so
    /// another test can take one before the sidecar binds it: a sidecar
    /// that exits because it cannot listen is started again on fresh ports
    /// (a few times), and one that exits for any other reason fails the
    /// test at once with its log.
    pub async fn start(config: &str) -> Sidecar {
        const BIND_TRIES: usize = 5;
        for _ in 0..BIND_TRIES {
            // A directory per try: a failed try's is removed with it.
            let dir = scratch_dir();
            let listen = free_addr();
            let admin = free_addr();
            let text = config
                .replace("@LISTEN@", &listen.to_string())
                .replace("@ADMIN@", &admin.to_string())
                .replace("@DIR@", &dir.display().to_string());
            let path = dir.join("sidecar.toml");
            std::fs::write(&path, text).unwrap();
            let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
            let child = Command::new(binary())
                .arg("--config")
                .arg(&path)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut sidecar = Sidecar {
                child,
                listen,
                admin,
                config: path,
                dir,
                client: Client::builder(TokioExecutor::new()).build_http(),
            };
            match sidecar.wait_ready().await {
                Ready::Yes => return sidecar,
                Ready::CannotListen => continue,
            }
        }
        panic!("sidecar could not listen on a free port in {BIND_TRIES} tries");
    }

    /// Waits for `/ready`; a sidecar that exits first is a failure, unless
    /// it could not listen.
    async fn wait_ready(&mut self) -> Ready {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(r) = self.admin_get("/ready").await
                && r.status == 200
            {
                return Ready::Yes;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.stderr();
                if log.contains("cannot listen on") {
                    return Ready::CannotListen;
                }
                panic!("sidecar exited ({status}) before it was ready: {log}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "sidecar not ready: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The sidecar's log so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Sends a request through the proxy.
    pub async fn request(&self, req: Request<Full<Bytes>>) -> Result<Reply, String> {
        let resp = tokio::time::timeout(PATIENCE, self.client.request(req))
            .await
            .map_err(|_| "request timed out".to_owned())?
            .map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// GET `path` through the proxy with optional client id.
    pub async fn get(&self, path: &str, client: Option<&str>) -> Reply {
        let mut req = Request::get(format!("http://{}{path}", self.listen));
        if let Some(c) = client {
            req = req.header("x-client-id", c);
        }
        self.request(req.body(Full::default()).unwrap())
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.stderr()))
    }

    /// A request to the admin listener.
    pub async fn admin_req(&self, method: &str, path: &str) -> Result<Reply, String> {
        let req = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.admin))
            .body(Full::default())
            .unwrap();
        self.request(req).await
    }

    /// GET on the admin listener.
    pub async fn admin_get(&self, path: &str) -> Result<Reply, String> {
        self.admin_req("GET", path).await
    }

    /// The value of the metric line starting with `series` (name and
    /// labels exactly as exposed), or 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.admin_get("/metrics").await.unwrap().body;
        metric_value(&text, series)
    }

    /// Sends `signal` (e.g. "TERM", "HUP").
    pub fn signal(&self, signal: &str) {
        // The shell's builtin `kill`: no dependency on procps.
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -{signal} {}", self.child.id()))
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "sidecar did not exit"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The value of `series` in an OpenMetrics text (0 if absent).
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(series)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
        .unwrap_or(0.0)
}

/// Polls `cond` every 20 ms until it holds or [`PATIENCE`] passes.
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the binary with `args`; returns (exit code, stdout, stderr).
pub fn run_binary(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
