//! End-to-end tests: the `headroom-sidecar` binary between a test client and
//! real upstream servers, all on 127.0.0.1. Decisions are checked with exact
//! counts; waits use generous liveness bounds, never timing assertions
//! tighter than the configured policy.
// Like the sidecar, these tests run in real time (wall-clock checks of the
// access log's timestamps and of liveness bounds).
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Mode, PATIENCE, Sidecar, Upstream, eventually, metric_value, run_binary};
use http::Request;
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn base(upstreams: &str, routes: &str, policy: &str) -> String {
    base_with("", upstreams, routes, policy)
}

/// [`base`] with more `[sidecar]` keys (`sidecar`: whole lines).
fn base_with(sidecar: &str, upstreams: &str, routes: &str, policy: &str) -> String {
    format!(
        "[sidecar]\nlisten = \"@LISTEN@\"\nadmin = \"@ADMIN@\"\nseed = 42\n{sidecar}\
         access_log = \"@DIR@/access.csv\"\n\n{upstreams}\n[sidecar.routes]\n{routes}\n{policy}\n"
    )
}

fn upstream(name: &str, urls: &[(&str, &str)]) -> String {
    let eps: Vec<String> = urls
        .iter()
        .map(|(url, region)| format!("{{ url = \"{url}\", region = \"{region}\" }}"))
        .collect();
    format!(
        "[[sidecar.upstreams]]\nname = \"{name}\"\nendpoints = [{}]\n",
        eps.join(", ")
    )
}

/// Upstream connections are kept alive and reused (HTTP/1 keep-alive per
/// worker), a try that times out closes its connection (HTTP/1 cannot
/// abandon a response and keep the connection), and the next request opens
/// a fresh one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_reused_and_a_timed_out_one_is_replaced() {
    let up = Upstream::start("api").await;
    let config = base_with(
        "workers = 1\n",
        &upstream("api", &[(&up.url(), "us-east")]),
        "\"/api/*\" = \"api\"",
        "[policy.mesh]\ntimeout = \"300ms\"\nretry = { attempts = 1 }\n",
    );
    let mut sc = Sidecar::start(&config).await;
    for i in 0..20 {
        let r = sc.get(&format!("/api/items/{i}"), None).await;
        assert_eq!((r.status, r.body.as_str()), (200, "api"));
    }
    for _ in 0..5 {
        let post = Request::post(format!("http://{}/api/items", sc.listen))
            .body(Full::new(Bytes::from_static(b"hello")))
            .unwrap();
        assert_eq!(sc.request(post).await.unwrap().status, 200);
    }
    assert_eq!(up.hits(), 25);
    assert_eq!(up.connections(), 1, "one kept-alive upstream connection");
    up.set_mode(Mode::Delay(Duration::from_secs(2)));
    assert_eq!(sc.get("/api/slow", None).await.status, 504);
    up.set_mode(Mode::Ok);
    for _ in 0..3 {
        assert_eq!(sc.get("/api/items/1", None).await.status, 200);
    }
    assert_eq!(
        up.connections(),
        2,
        "the timed-out connection is closed, one new connection serves the rest"
    );
    sc.signal("TERM");
    assert!(sc.wait_exit().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_forwards_and_logs() {
    let up = Upstream::start("api").await;
    let config = base(
        &upstream("api", &[(&up.url(), "us-east")]),
        "\"/api/*\" = \"api\"",
        "",
    );
    let mut sc = Sidecar::start(&config).await;
    for i in 0..5 {
        let r = sc.get(&format!("/api/items/{i}?x=1"), Some("alice")).await;
        assert_eq!((r.status, r.body.as_str()), (200, "api"));
        assert_eq!(r.headers["via"], "1.1 headroom-sidecar");
    }
    let seen = up.state.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["via"], "1.1 headroom-sidecar");
    assert_eq!(seen["x-client-id"], "alice");
    assert_eq!(sc.get("/elsewhere", None).await.status, 404);
    // A POST is a write.
    let post = Request::post(format!("http://{}/api/items", sc.listen))
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    assert_eq!(sc.request(post).await.unwrap().status, 200);
    assert_eq!(up.hits(), 6);
    assert_eq!(
        sc.metric("headroom_requests_total{route=\"/api/*\",status=\"200\"}")
            .await,
        6.0
    );
    sc.signal("TERM");
    assert!(sc.wait_exit().await.success());
    // Round trip: the trace reader reads the access log back row for row.
    let log = std::fs::read_to_string(sc.dir.join("access.csv")).unwrap();
    assert!(log.starts_with("t_ns,key,op,size_bytes,client,region,route,status,latency_ns\n"));
    let mut reader = headroom_traces::CsvReader::new(log.as_bytes()).unwrap();
    let mut records = Vec::new();
    while let Some(r) = reader.read().unwrap() {
        records.push(r);
    }
    let names = reader.into_names();
    assert_eq!(records.len(), 7, "every request is one row");
    let first = &records[0];
    assert_eq!(first.key, headroom_traces::key_of(b"/api/items/0"));
    assert_eq!(first.op, headroom_traces::Op::Read);
    assert_eq!(first.size_bytes, 3);
    assert_eq!(first.client, Some(headroom_traces::key_of(b"alice")));
    assert_eq!(first.region.map(|id| names.name(id)), Some("us-east"));
    assert_eq!(first.route.map(|id| names.name(id)), Some("/api/*"));
    assert_eq!(first.status, Some(200));
    assert!(first.latency_ns.is_some_and(|ns| ns > 0));
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(first.at.as_nanos() <= now_ns && first.at.as_nanos() > now_ns - 600_000_000_000);
    let unrouted = &records[5];
    assert_eq!(unrouted.key, headroom_traces::key_of(b"/elsewhere"));
    assert_eq!(
        (unrouted.status, unrouted.region, unrouted.route),
        (Some(404), None, None)
    );
    let post = &records[6];
    assert_eq!(
        (post.op, post.status),
        (headroom_traces::Op::Write, Some(200))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_at_threshold_and_half_open_probe_closes_it() {
    let up = Upstream::start("api").await;
    // Count window of 4 calls, opens at >= 50 % failures, one probe.
    let policy = "[policy.mesh]\ncircuit_breaker = { window = 4, minimum_calls = 4, \
                  failure_rate_threshold = 0.5, open_duration = \"400ms\", half_open_calls = 1 }\n";
    let config = base(
        &upstream("api", &[(&up.url(), "us-east")]),
        "\"/*\" = \"api\"",
        policy,
    );
    let sc = Sidecar::start(&config).await;
    // Two successes, then failures: the 4th call makes 2/4 = 50 % >= 50 %.
    assert_eq!(sc.get("/a", None).await.status, 200);
    assert_eq!(sc.get("/a", None).await.status, 200);
    up.set_mode(Mode::Status(500));
    assert_eq!(sc.get("/a", None).await.status, 500);
    assert_eq!(sc.get("/a", None).await.status, 500);
    assert_eq!(up.hits(), 4);
    let open = "headroom_breaker_state{upstream=\"api\",edge=\"sidecar->api\",state=\"open\"}";
    assert_eq!(sc.metric(open).await, 1.0);
    // Open: rejected without reaching the upstream.
    for _ in 0..3 {
        let r = sc.get("/a", None).await;
        assert_eq!((r.status, r.body.as_str()), (503, "circuit breaker open\n"));
    }
    assert_eq!(up.hits(), 4);
    assert_eq!(
        sc.metric("headroom_breaker_rejected_total{route=\"/*\"}")
            .await,
        3.0
    );
    // After open_duration, one probe succeeds and closes the breaker.
    up.set_mode(Mode::Ok);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(sc.get("/a", None).await.status, 200);
    assert_eq!(up.hits(), 5);
    let closed = "headroom_breaker_state{upstream=\"api\",edge=\"sidecar->api\",state=\"closed\"}";
    assert_eq!(sc.metric(closed).await, 1.0);
    assert_eq!(sc.get("/a", None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_fallback_response() {
    let up = Upstream::start("api").await;
    let ups = upstream("api", &[(&up.url(), "us-east")]);
    let policy = "[policy.mesh]\nfallback = { status = 200, body = \"cached\" }\n\
                  circuit_breaker = { mode = \"consecutive\", max_failures = 2, \
                  min_penalty = \"1m\", max_penalty = \"1m\", jitter = 0.0 }\n";
    let sc = Sidecar::start(&base(&ups, "\"/*\" = \"api\"", policy)).await;
    up.set_mode(Mode::Status(503));
    assert_eq!(sc.get("/", None).await.status, 503);
    assert_eq!(sc.get("/", None).await.status, 503);
    let r = sc.get("/", None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "cached"));
    assert_eq!(r.headers["x-headroom-fallback"], "breaker-open");
    assert_eq!(up.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_times_out_with_retries_within_budget() {
    let up = Upstream::start("api").await;
    up.set_mode(Mode::Delay(Duration::from_secs(5)));
    let policy = "[policy.mesh]\ntimeout = \"600ms\"\n\
                  retry = { attempts = 3, per_try_timeout = \"150ms\", backoff = \"constant\", \
                  base = \"10ms\", jitter = \"none\", retry_on = [\"5xx\"] }\n";
    let sc = Sidecar::start(&base(
        &upstream("api", &[(&up.url(), "us-east")]),
        "\"/*\" = \"api\"",
        policy,
    ))
    .await;
    let start = std::time::Instant::now();
    let r = sc.get("/slow", None).await;
    assert_eq!(r.status, 504);
    // Three tries of 150 ms plus two 10 ms backoffs: at least 470 ms.
    assert!(start.elapsed() >= Duration::from_millis(470));
    eventually("three tries reached the upstream", || async {
        up.hits() == 3
    })
    .await;
    assert_eq!(sc.metric("headroom_retries_total{route=\"/*\"}").await, 2.0);
    let timeouts = "headroom_upstream_tries_total{upstream=\"api\",outcome=\"timeout\"}";
    assert_eq!(sc.metric(timeouts).await, 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_budget_bounds_retries_exactly() {
    let up = Upstream::start("api").await;
    up.set_mode(Mode::Status(503));
    // ratio 0.1: each request deposits 1, each retry withdraws 10; no
    // reserve. Ten requests fund exactly one retry (on the tenth).
    let policy = "[policy.mesh]\nretry = { attempts = 3, backoff = \"constant\", base = \"1ms\", \
                  jitter = \"none\", budget = { ratio = 0.1, min_per_s = 0, window = \"60s\" } }\n";
    let sc = Sidecar::start(&base(
        &upstream("api", &[(&up.url(), "us-east")]),
        "\"/*\" = \"api\"",
        policy,
    ))
    .await;
    for _ in 0..10 {
        assert_eq!(sc.get("/", None).await.status, 503);
    }
    assert_eq!(up.hits(), 11);
    assert_eq!(sc.metric("headroom_retries_total{route=\"/*\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_counts_exactly_per_client() {
    let up = Upstream::start("api").await;
    let routes = "\"/api/*\" = { upstream = \"api\", rate_limit = \"per-client\" }";
    let policy = "[policy.rate_limit.per-client]\nstrategy = \"sliding-window\"\nwindow = \"1m\"\n\
                  max = 3\nkey = \"client\"\n";
    let sc = Sidecar::start(&base(
        &upstream("api", &[(&up.url(), "us-east")]),
        routes,
        policy,
    ))
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(sc.get("/api/x", Some("alice")).await);
    }
    let codes: Vec<u16> = statuses.iter().map(|r| r.status).collect();
    assert_eq!(codes, [200, 200, 200, 429, 429]);
    let retry_after: u64 = statuses[3].headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    for _ in 0..3 {
        assert_eq!(sc.get("/api/x", Some("bob")).await.status, 200);
    }
    assert_eq!(sc.get("/api/x", Some("bob")).await.status, 429);
    assert_eq!(up.hits(), 6);
    assert_eq!(
        sc.metric("headroom_rate_limited_total{route=\"/api/*\"}")
            .await,
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_region_fails_over_within_the_check_bound_and_fails_back() {
    let mut east = Upstream::start("east").await;
    let west = Upstream::start("west").await;
    // A killed upstream refuses the check's connection at once, so the
    // timeout does not bound detection here; it is generous so that a check
    // delayed on a loaded CI machine does not mark a live east unhealthy
    // (at 100 ms it did, once in five runs).
    let policy = "[policy.failover]\norder = [\"us-east\", \"us-west\"]\n\
                  health_check = { interval = \"100ms\", timeout = \"2s\", \
                  unhealthy_threshold = 1, healthy_threshold = 1 }\n";
    let sc = Sidecar::start(&base(
        &upstream("api", &[(&east.url(), "us-east"), (&west.url(), "us-west")]),
        "\"/*\" = \"api\"",
        policy,
    ))
    .await;
    eventually("east serves", || async {
        sc.get("/", None).await.body == "east"
    })
    .await;
    for _ in 0..5 {
        assert_eq!(sc.get("/", None).await.body, "east");
    }
    east.kill();
    // Detection bound: the next check is due within `interval` and fails at
    // once (connection refused); one failure suffices.
    let killed = std::time::Instant::now();
    eventually("fail over to west", || async {
        sc.get("/", None).await.body == "west"
    })
    .await;
    let took = killed.elapsed();
    for _ in 0..5 {
        assert_eq!(sc.get("/", None).await.body, "west");
    }
    assert!(took < Duration::from_millis(200) + PATIENCE / 4, "{took:?}");
    let healthy_east = "headroom_healthy_endpoints{upstream=\"api\",region=\"us-east\"}";
    assert_eq!(sc.metric(healthy_east).await, 0.0);
    east.revive().await;
    eventually("fail back to east", || async {
        sc.get("/", None).await.body == "east"
    })
    .await;
    for _ in 0..5 {
        assert_eq!(sc.get("/", None).await.body, "east");
    }
    assert_eq!(sc.metric(healthy_east).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_counts_exactly_the_hand_computed_decisions() {
    let up = Upstream::start("api").await;
    up.set_mode(Mode::Status(503));
    let routes = "\"/*\" = { upstream = \"api\", shadow = { rate_limit = \"candidate\", \
                  edge = \"sidecar->candidate\" } }";
    let policy = "[policy.rate_limit.candidate]\nstrategy = \"sliding-window\"\nwindow = \"1m\"\nmax = 4\n\
                  [policy.mesh.edges.\"sidecar->candidate\"]\n\
                  circuit_breaker = { mode = \"consecutive\", max_failures = 2, min_penalty = \"1m\", \
                  max_penalty = \"1m\", jitter = 0.0 }\n\
                  retry = { attempts = 2, retry_on = [\"5xx\"], budget = { min_per_s = 100 } }\n";
    let sc = Sidecar::start(&base(
        &upstream("api", &[(&up.url(), "us-east")]),
        routes,
        policy,
    ))
    .await;
    // Enforced: no limit, no breaker, no retry: six 503s, six tries.
    for _ in 0..6 {
        assert_eq!(sc.get("/", None).await.status, 503);
    }
    assert_eq!(up.hits(), 6);
    // By hand: requests 1-2 fail in the shadow breaker (it opens on the
    // 2nd) and the shadow would retry both; 3-4 the open shadow breaker
    // would reject; 5-6 the shadow limiter (4 per minute) would reject.
    let text = sc.admin_get("/metrics").await.unwrap().body;
    let d = |k: &str| {
        metric_value(
            &text,
            &format!("headroom_shadow_disagreements_total{{route=\"/*\",decision=\"{k}\"}}"),
        )
    };
    assert_eq!(d("would-limit"), 2.0);
    assert_eq!(d("would-open"), 1.0);
    assert_eq!(d("would-reject"), 2.0);
    assert_eq!(d("would-retry"), 2.0);
    assert_eq!(d("would-admit"), 0.0);
    assert_eq!(d("would-not-retry"), 0.0);
    assert_eq!(
        metric_value(&text, "headroom_retries_total{route=\"/*\"}"),
        0.0
    );
    assert_eq!(
        metric_value(&text, "headroom_rate_limited_total{route=\"/*\"}"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_valid_and_invalid() {
    let up = Upstream::start("api").await;
    let ups = upstream("api", &[(&up.url(), "us-east")]);
    let sc = Sidecar::start(&base(&ups, "\"/v1/*\" = \"api\"", "")).await;
    assert_eq!(sc.get("/v2/x", None).await.status, 404);
    let text = std::fs::read_to_string(&sc.config).unwrap();
    // A request in flight across the reload finishes with the config it
    // started with, although the new one drops its route.
    up.set_mode(Mode::Delay(Duration::from_millis(500)));
    let listen = sc.listen;
    let in_flight = tokio::spawn(async move {
        let mut s = TcpStream::connect(listen).await.unwrap();
        s.write_all(b"GET /v1/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    });
    eventually("the slow request in flight", || async { up.hits() == 1 }).await;
    // Valid: a new route appears.
    std::fs::write(&sc.config, text.replace("\"/v1/*\"", "\"/v2/*\"")).unwrap();
    let r = sc.admin_req("POST", "/reload").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let out = in_flight.await.unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200") && out.ends_with("api"),
        "{out}"
    );
    up.set_mode(Mode::Ok);
    assert_eq!(sc.get("/v1/x", None).await.status, 404);
    assert_eq!(sc.get("/v2/x", None).await.status, 200);
    // Invalid: refused with the key and the fix; the running config stays.
    std::fs::write(
        &sc.config,
        text.replace("\"/v1/*\" = \"api\"", "\"/v3/*\" = \"nope\""),
    )
    .unwrap();
    let r = sc.admin_req("POST", "/reload").await.unwrap();
    assert_eq!(r.status, 400);
    assert!(r.body.contains("sidecar.routes.\"/v3/*\""), "{}", r.body);
    assert!(r.body.contains("[[sidecar.upstreams]]"), "{}", r.body);
    assert_eq!(sc.get("/v2/x", None).await.status, 200);
    // SIGHUP reloads too.
    std::fs::write(&sc.config, text.replace("\"/v1/*\"", "\"/v4/*\"")).unwrap();
    sc.signal("HUP");
    eventually("SIGHUP reload", || async {
        sc.get("/v4/x", None).await.status == 200
    })
    .await;
    assert_eq!(sc.get("/v2/x", None).await.status, 404);
    assert_eq!(
        sc.metric("headroom_reloads_total{result=\"ok\"}").await,
        2.0
    );
    assert_eq!(
        sc.metric("headroom_reloads_total{result=\"refused\"}")
            .await,
        1.0
    );
    let config = sc.admin_get("/config").await.unwrap().body;
    assert!(config.contains("/v4/*"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests() {
    let up = Upstream::start("api").await;
    up.set_mode(Mode::Delay(Duration::from_millis(700)));
    let mut sc = Sidecar::start(&base(
        &upstream("api", &[(&up.url(), "us-east")]),
        "\"/*\" = \"api\"",
        "",
    ))
    .await;
    let listen = sc.listen;
    let mut in_flight = Vec::new();
    for i in 0..5 {
        in_flight.push(tokio::spawn(async move {
            // One connection per request, so each is in flight on its own.
            let mut s = TcpStream::connect(listen).await.unwrap();
            let req = format!("GET /{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        }));
    }
    eventually("all five in flight", || async { up.hits() == 5 }).await;
    sc.signal("TERM");
    for task in in_flight {
        let out = task.await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.ends_with("api"));
    }
    let status = sc.wait_exit().await;
    assert!(status.success(), "{status:?}\n{}", sc.stderr());
    assert!(TcpStream::connect(listen).await.is_err());
}

/// A non-loopback IPv4 address of this machine, if it has one.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    // Connecting a UDP socket sends nothing; it only picks a source address.
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_is_loopback_only_by_default() {
    let up = Upstream::start("api").await;
    let sc = Sidecar::start(&base(
        &upstream("api", &[(&up.url(), "us-east")]),
        "\"/*\" = \"api\"",
        "",
    ))
    .await;
    assert_eq!(sc.admin_get("/ready").await.unwrap().status, 200);
    if let Some(ip) = non_loopback_ip() {
        let addr = std::net::SocketAddr::new(ip, sc.admin.port());
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "admin reachable on {addr}"
        );
    }
    // Asking for a non-loopback admin address is refused at load time.
    let dir = common::scratch_dir();
    let path = dir.join("remote.toml");
    let text = std::fs::read_to_string(&sc.config).unwrap().replace(
        &format!("admin = \"{}\"", sc.admin),
        "admin = \"0.0.0.0:9901\"",
    );
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = run_binary(&["--config", path.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`sidecar.admin`") && err.contains("admin_allow_remote"),
        "{err}"
    );
}

/// Writes `bytes` on a fresh connection and returns what comes back up to
/// the end of the response head (or until the server closes).
async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read_head = async {
        while !out.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(PATIENCE, read_head).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_4xx_and_the_proxy_stays_up() {
    let up = Upstream::start("api").await;
    let sc = Sidecar::start(&base(
        &upstream("api", &[(&up.url(), "us-east")]),
        "\"/*\" = \"api\"",
        "",
    ))
    .await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let cases: [(&str, Vec<u8>); 4] = [
        ("oversized headers", big.into_bytes()),
        (
            "bad chunked encoding",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
        (
            "conflicting content-lengths",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"
                .to_vec(),
        ),
        (
            "obfuscated transfer-encoding",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"
                .to_vec(),
        ),
    ];
    for (what, bytes) in cases {
        let out = raw(sc.listen, &bytes).await;
        let status: u16 = out
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{what}: no status in {out:?}"));
        assert!((400..500).contains(&status), "{what}: {out}");
    }
    assert_eq!(up.hits(), 0, "nothing malformed reached the upstream");
    // Smuggling attempts with both Content-Length and Transfer-Encoding
    // (CL.TE and TE.CL, after an honest request on the same connection):
    // 400 and the connection closed, so the bytes after the chunked body
    // never become a second request, and nothing reaches the upstream.
    let honest = "GET /first HTTP/1.1\r\nHost: x\r\n\r\n";
    for (what, head) in [
        (
            "CL.TE",
            "POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
        (
            "TE.CL",
            "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        ),
    ] {
        let attempt = format!("{honest}{head}0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
        let out = raw_all(sc.listen, attempt.as_bytes()).await;
        let statuses: Vec<&str> = out
            .match_indices("HTTP/1.1 ")
            .map(|(i, _)| &out[i + 9..i + 12])
            .collect();
        assert_eq!(statuses, ["200", "400"], "{what}: {out}");
        assert!(
            out.to_ascii_lowercase().contains("connection: close"),
            "{what}: {out}"
        );
    }
    assert_eq!(
        sc.get("/fine", None).await.status,
        200,
        "the proxy stays up"
    );
    let paths = up.state.paths.lock().unwrap().clone();
    assert_eq!(
        paths,
        ["/first", "/first", "/fine"],
        "only honest requests went upstream"
    );
    assert_eq!(
        sc.metric("headroom_requests_total{route=\"/*\",status=\"400\"}")
            .await,
        3.0,
        "the bad chunk and the two attempts (hyper answers the others itself)"
    );
}

/// Writes `bytes` on a fresh connection and reads until the server closes
/// it (bounded by `PATIENCE`).
async fn raw_all(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_both_sides() {
    let up = Upstream::start("api").await;
    let ups = format!(
        "{}protocol = \"h2c\"\n",
        upstream("api", &[(&up.url(), "us-east")])
    );
    let sc = Sidecar::start(&base(&ups, "\"/*\" = \"api\"", "")).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    for _ in 0..3 {
        let resp = client
            .get(format!("http://{}/h2", sc.listen).parse().unwrap())
            .await
            .unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(
        *up.state.last_version.lock().unwrap(),
        Some(http::Version::HTTP_2)
    );
    assert_eq!(up.hits(), 3);
}

#[test]
fn check_config_exit_codes_and_messages() {
    let dir = common::scratch_dir();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[run]\nduration = \"1h\"\n[workload]\narrivals = { process = \"poisson\", rate = 5.0 }\n\
         [sidecar]\n[[sidecar.upstreams]]\nname = \"a\"\nendpoints = [{ url = \"http://127.0.0.1:1\" }]\n\
         [sidecar.routes]\n\"/*\" = \"a\"\n",
    )
    .unwrap();
    let (code, out, err) = run_binary(&["--config", good.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok (1 routes, 1 upstreams)"));
    let cases = [
        ("[sidecar]\nlisten = \"nope\"\n", "`sidecar.listen`"),
        ("[sidecar]\nbogus = 1\n", "`sidecar.bogus`"),
        ("[sidecar]\n[stuff]\n", "unknown field `stuff`"),
        (
            "[sidecar]\n[[sidecar.upstreams]]\nname = \"a\"\nendpoints = [{ url = \"ftp://x\" }]\n",
            "`sidecar.upstreams[0].endpoints[0].url`",
        ),
        (
            "[sidecar]\n[[sidecar.upstreams]]\nname = \"a\"\nendpoints = [{ url = \"http://127.0.0.1:1\" }]\n\
             [sidecar.routes]\n\"/*\" = \"a\"\n[policy.mesh]\nretry = { attempts = 0 }\n",
            "`policy.mesh.retry.attempts` = 0",
        ),
        (
            "[sidecar]\n[policy.rate_limit.edge]\nstrategy = \"sliding-window\"\nwindow = \"1m\"\nmax = 1.5\n",
            "`policy.rate_limit.edge.max`: invalid type: floating point `1.5`, expected a whole number >= 0",
        ),
        // Serde would read the array as the table's fields in order.
        (
            "[sidecar]\n[policy.mesh]\nretry = [5]\n",
            "bad6.toml:3:9: `policy.mesh.retry`: invalid type: array, expected a table",
        ),
        // ... also when serde fails on its elements (it said "expected a
        // whole number", the first field's type).
        (
            "[sidecar]\n[policy.mesh]\nretry = [\"x\"]\n",
            "bad7.toml:3:9: `policy.mesh.retry`: invalid type: array, expected a table",
        ),
        // A shadow set naming an undefined controller, or nothing to trial.
        (
            "[sidecar]\n[[sidecar.upstreams]]\nname = \"a\"\nendpoints = [{ url = \"http://127.0.0.1:1\" }]\n\
             [sidecar.routes]\n\"/*\" = { upstream = \"a\", shadow = { adaptive_concurrency = \"nope\" } }\n",
            "`sidecar.routes.\"/*\".shadow.adaptive_concurrency` = \"nope\"",
        ),
        (
            "[sidecar]\n[[sidecar.upstreams]]\nname = \"a\"\nendpoints = [{ url = \"http://127.0.0.1:1\" }]\n\
             [sidecar.routes]\n\"/*\" = { upstream = \"a\", shadow = {} }\n",
            "an `edge` and/or an `adaptive_concurrency` to trial",
        ),
        // A route is a name or a table; each form is read by its own rules
        // (an untagged enum said "did not match any variant").
        (
            "[sidecar]\n[sidecar.routes]\n\"/*\" = { upstrem = \"a\" }\n",
            "unknown field `upstrem`, expected one of `upstream`",
        ),
        // A key that takes one of a few names, given another type, lists
        // them (toml said "wanted string or table").
        (
            "[sidecar]\n[policy.load_balancer]\nalgorithm = 7\n",
            "`policy.load_balancer.algorithm`: invalid type: integer `7`, expected one of \
             `round-robin`, `random`, `least-connections`, `least-request`, `peak-ewma`",
        ),
        (
            "[sidecar]\n[policy.load_balancer]\nalgorithm = []\n",
            "`policy.load_balancer.algorithm`: invalid type: array, expected one of",
        ),
        (
            "[sidecar]\nlisten = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:2\"\n",
            ":3:1: duplicate key `listen`: each key is given once in its table",
        ),
        (
            "[sidecar]\n[sidecar.routes]\n\"/*\" = 5\n",
            "invalid type: integer `5`, expected an upstream name such as \"api\", or a route table",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let (code, _, err) = run_binary(&["--config", path.to_str().unwrap(), "--check-config"]);
        assert_eq!(code, 2, "case {i}: {err}");
        assert!(err.contains(expected), "case {i}: {err}");
        assert!(err.contains(&format!("bad{i}.toml")), "case {i}: {err}");
    }
    let (code, _, _) = run_binary(&["--config", "/nonexistent/x.toml"]);
    assert_eq!(code, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_and_connection_limits() {
    let up = Upstream::start("api").await;
    let config = base_with(
        "max_body_bytes = 100\nretry_buffer_bytes = 50\nmax_connections = 2\n",
        &upstream("api", &[(&up.url(), "us-east")]),
        "\"/*\" = \"api\"",
        "",
    );
    let sc = Sidecar::start(&config).await;
    // Raw connections only: the test client's keep-alive pool would hold
    // connections of its own.
    // Each of the first two connections is answered once (keep-alive), so
    // a worker has accepted it and holds its permit before the third
    // arrives: with one listener per worker, a connection still waiting in
    // another worker's backlog holds nothing yet.
    let mut a = TcpStream::connect(sc.listen).await.unwrap();
    let mut b = TcpStream::connect(sc.listen).await.unwrap();
    for conn in [&mut a, &mut b] {
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"api") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "kept-alive connection answered");
            got.extend_from_slice(&buf[..n]);
        }
    }
    let out = raw(sc.listen, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(out, "", "a third connection is closed without an answer");
    drop((a, b));
    let post = |n: usize| {
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n{}",
            "x".repeat(n)
        )
    };
    eventually("connections freed", || async {
        raw(sc.listen, post(100).as_bytes())
            .await
            .starts_with("HTTP/1.1 200")
    })
    .await;
    assert!(
        raw(sc.listen, post(101).as_bytes())
            .await
            .starts_with("HTTP/1.1 413")
    );
    // Chunked (no Content-Length): the limit holds while reading.
    let chunked = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{}\r\n0\r\n\r\n",
        150,
        "y".repeat(150)
    );
    assert!(
        raw(sc.listen, chunked.as_bytes())
            .await
            .starts_with("HTTP/1.1 413")
    );
    // The two kept-alive GETs and the one POST within the limit.
    assert_eq!(up.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desired_replicas_follow_observed_load() {
    let up = Upstream::start("api").await;
    let policy = "[policy.autoscaler.api]\nmin_replicas = 1\nmax_replicas = 10\n\
                  target_rps = 5.0\nsync_period = \"1s\"\n";
    let config = base_with(
        "autoscaler = \"api\"\n",
        &upstream("api", &[(&up.url(), "us-east")]),
        "\"/*\" = \"api\"",
        policy,
    );
    let sc = Sidecar::start(&config).await;
    assert_eq!(sc.metric("headroom_desired_replicas").await, 1.0);
    // Far above 5 rps per replica: the HPA scales up, by at most
    // max(2 x current, 4) per sync (its legacy rate limit), never above 10.
    eventually("scale-up", || async {
        for _ in 0..20 {
            sc.get("/", None).await;
        }
        sc.metric("headroom_desired_replicas").await >= 4.0
    })
    .await;
    assert!(sc.metric("headroom_desired_replicas").await <= 10.0);
}

/// Reads from `s` until the server closes it (end of file or reset), up to
/// `PATIENCE`; returns everything read and whether it closed.
async fn read_until_closed(s: &mut TcpStream) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// `request_header_timeout`: a client connection that sends nothing, or
/// half a head, or stays idle after its response, is closed once it has
/// waited that long (never sooner); one whose request is in flight for
/// longer (a slow upstream) is not, and gets its response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_waiting_for_a_request_head_are_closed_at_the_timeout() {
    let up = Upstream::start("api").await;
    let config = base_with(
        "request_header_timeout = \"400ms\"\n",
        &upstream("api", &[(&up.url(), "us-east")]),
        "\"/*\" = \"api\"",
        "",
    );
    let sc = Sidecar::start(&config).await;
    let timeout = Duration::from_millis(400);
    for sent in [&b""[..], b"GET / HTTP/1.1\r\nHost: x\r\n"] {
        // Taken before connecting: the sidecar's clock for the connection
        // starts when it accepts it, which can come before this task is
        // woken by the finished connect (it did, by 0.7 ms, on a loaded
        // CI machine).
        let opened = std::time::Instant::now();
        let mut s = TcpStream::connect(sc.listen).await.unwrap();
        s.write_all(sent).await.unwrap();
        let (got, closed) = read_until_closed(&mut s).await;
        assert!(closed, "closed after sending {sent:?}");
        assert!(opened.elapsed() >= timeout, "{:?}", opened.elapsed());
        assert!(!got.contains("200"), "{got}");
    }
    // In flight for 1 s (the upstream's delay), then idle: the response
    // arrives, and the connection is closed a timeout after it.
    up.set_mode(Mode::Delay(Duration::from_secs(1)));
    let mut s = TcpStream::connect(sc.listen).await.unwrap();
    // Before writing, for the same reason: the upstream's delay starts
    // when the request reaches it.
    let sent = std::time::Instant::now();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (got, closed) = read_until_closed(&mut s).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(got.ends_with("api"), "{got}");
    assert!(closed);
    assert!(sent.elapsed() >= Duration::from_secs(1) + timeout);
}

/// `[policy.adaptive_concurrency.api]` holding the limit at one request in
/// flight: the floor is 1 and, against a fixed 10 ms minRTT, every sample
/// of these tests' slow upstream halves the limit (to the floor).
const ONE_IN_FLIGHT: &str = "[policy.adaptive_concurrency.api]\nmin_concurrency = 1\n\
                             min_rtt = \"10ms\"\n";

/// Upstream `api` at `url` behind `adaptive_concurrency = "api"`.
fn limited_upstream(url: &str) -> String {
    format!(
        "{}adaptive_concurrency = \"api\"\n",
        upstream("api", &[(url, "us-east")])
    )
}

/// Sends `GET path` on a connection of its own and returns the stream
/// (the response is not read).
async fn send_raw_get(listen: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(listen).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

/// Sends `GET /slow` on a connection of its own and returns, once it is
/// at the upstream (the first request there), the task that reads its
/// whole response.
async fn hold_one_request(sc: &Sidecar, up: &Upstream) -> tokio::task::JoinHandle<String> {
    let listen = sc.listen;
    let slow = tokio::spawn(async move {
        let mut s = send_raw_get(listen, "/slow").await;
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    });
    eventually("the first request at the upstream", || async {
        up.hits() == 1
    })
    .await;
    slow
}

const OUTSTANDING: &str = "headroom_adaptive_concurrency_outstanding{upstream=\"api\"}";
const BLOCKED: &str = "headroom_adaptive_concurrency_blocked_total{upstream=\"api\"}";

/// With one request in flight allowed, a second concurrent request gets
/// Envoy's 503 "reached concurrency limit" without reaching the upstream
/// (counted); once the first has completed, the next is forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_concurrency_blocks_a_request_over_the_limit() {
    let up = Upstream::start("api").await;
    up.set_mode(Mode::Delay(Duration::from_millis(800)));
    let sc = Sidecar::start(&base(
        &limited_upstream(&up.url()),
        "\"/*\" = \"api\"",
        ONE_IN_FLIGHT,
    ))
    .await;
    let slow = hold_one_request(&sc, &up).await;
    assert_eq!(sc.metric(OUTSTANDING).await, 1.0);
    let r = sc.get("/second", None).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (503, "reached concurrency limit")
    );
    assert_eq!(up.hits(), 1, "a blocked request never reaches the upstream");
    assert_eq!(sc.metric(BLOCKED).await, 1.0);
    assert_eq!(
        sc.metric("headroom_requests_total{route=\"/*\",status=\"503\"}")
            .await,
        1.0
    );
    let out = slow.await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("api"), "{out}");
    // The slot is given back when the response's last byte has gone.
    eventually("the first request's slot given back", || async {
        sc.metric(OUTSTANDING).await == 0.0
    })
    .await;
    up.set_mode(Mode::Ok);
    let r = sc.get("/third", None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "api"));
    assert_eq!(up.hits(), 2);
    let text = sc.admin_get("/metrics").await.unwrap().body;
    assert_eq!(common::metric_value(&text, BLOCKED), 1.0);
    let limit = "headroom_adaptive_concurrency_limit{upstream=\"api\"}";
    assert_eq!(common::metric_value(&text, limit), 1.0);
    let min_rtt = "headroom_adaptive_concurrency_min_rtt_seconds{upstream=\"api\"}";
    assert_eq!(common::metric_value(&text, min_rtt), 0.01);
    // Complete responses are latency samples: past the update interval
    // (100 ms), the next request's arrival closes a window that holds them.
    let sample_rtt = "headroom_adaptive_concurrency_sample_rtt_seconds{upstream=\"api\"}";
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(sc.get("/fourth", None).await.status, 200);
    assert!(sc.metric(sample_rtt).await > 0.0);
}

/// A request whose client goes away while the upstream holds it gives its
/// slot back at once (not when the upstream answers, 30 s later): the next
/// request is forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_concurrency_slot_of_a_cancelled_request_is_freed() {
    let up = Upstream::start("api").await;
    up.set_mode(Mode::Delay(Duration::from_secs(30)));
    let sc = Sidecar::start(&base(
        &limited_upstream(&up.url()),
        "\"/*\" = \"api\"",
        &format!("{ONE_IN_FLIGHT}[policy.mesh]\ntimeout = \"60s\"\n"),
    ))
    .await;
    let held = send_raw_get(sc.listen, "/held").await;
    eventually("the request at the upstream", || async { up.hits() == 1 }).await;
    assert_eq!(sc.metric(OUTSTANDING).await, 1.0);
    assert_eq!(sc.get("/over", None).await.status, 503);
    // The client goes away mid-flight; the upstream still holds the
    // request (for 30 s, longer than the wait below).
    drop(held);
    eventually("the cancelled request's slot given back", || async {
        sc.metric(OUTSTANDING).await == 0.0
    })
    .await;
    up.set_mode(Mode::Ok);
    let r = sc.get("/next", None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "api"));
    assert_eq!(up.hits(), 2);
    assert_eq!(sc.metric(BLOCKED).await, 1.0);
}

/// An upstream naming an adaptive concurrency limit that is not defined:
/// one error naming the key, the bad value and the defined names; exit 2.
#[test]
fn unknown_adaptive_concurrency_name_is_a_config_error() {
    let dir = common::scratch_dir();
    let path = dir.join("limit.toml");
    std::fs::write(
        &path,
        format!(
            "[sidecar]\n{}adaptive_concurrency = \"nope\"\n[sidecar.routes]\n\"/*\" = \"api\"\n\
             {ONE_IN_FLIGHT}",
            upstream("api", &[("http://127.0.0.1:1", "us-east")])
        ),
    )
    .unwrap();
    let (code, _, err) = run_binary(&["--config", path.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("limit.toml:5:1: `sidecar.upstreams[0].adaptive_concurrency` = \"nope\""),
        "{err}"
    );
    assert!(
        err.contains("[policy.adaptive_concurrency] ([\"api\"])"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// A local reply after admission is a latency sample, as Envoy's filter
/// samples every response it encodes to the end: a request that times out
/// (504 at 300 ms) gives its slot back with a sample of about 300 ms, and
/// the window that holds it sets sampleRTT to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_concurrency_samples_a_timed_out_request() {
    let up = Upstream::start("api").await;
    up.set_mode(Mode::Delay(Duration::from_secs(5)));
    let sc = Sidecar::start(&base(
        &limited_upstream(&up.url()),
        "\"/*\" = \"api\"",
        &format!("{ONE_IN_FLIGHT}[policy.mesh]\ntimeout = \"300ms\"\nretry = {{ attempts = 1 }}\n"),
    ))
    .await;
    let r = sc.get("/slow", None).await;
    assert_eq!(r.status, 504, "{}", r.body);
    eventually("the timed-out request's slot given back", || async {
        sc.metric(OUTSTANDING).await == 0.0
    })
    .await;
    // Past the update interval (100 ms), the next request's arrival closes
    // the window that holds the 504's sample.
    tokio::time::sleep(Duration::from_millis(250)).await;
    up.set_mode(Mode::Ok);
    let r = sc.get("/next", None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "api"));
    let sample_rtt = "headroom_adaptive_concurrency_sample_rtt_seconds{upstream=\"api\"}";
    let rtt = sc.metric(sample_rtt).await;
    assert!((0.3..1.0).contains(&rtt), "sampleRTT {rtt}");
}

/// A route's shadow adaptive concurrency limit trials a controller without
/// acting: with one request in flight allowed, a concurrent request is
/// forwarded all the same and counted as `would-block`, and the shadow
/// controller's state is on `/metrics` by route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_adaptive_concurrency_limit_counts_without_blocking() {
    let up = Upstream::start("api").await;
    up.set_mode(Mode::Delay(Duration::from_millis(800)));
    let sc = Sidecar::start(&base(
        &upstream("api", &[(&up.url(), "us-east")]),
        "\"/*\" = { upstream = \"api\", shadow = { adaptive_concurrency = \"api\" } }",
        ONE_IN_FLIGHT,
    ))
    .await;
    let slow = hold_one_request(&sc, &up).await;
    let shadow_outstanding = "headroom_shadow_adaptive_concurrency_outstanding{route=\"/*\"}";
    assert_eq!(sc.metric(shadow_outstanding).await, 1.0);
    let r = sc.get("/second", None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "api"), "never blocked");
    assert_eq!(up.hits(), 2);
    assert!(slow.await.unwrap().starts_with("HTTP/1.1 200"));
    eventually("the shadow slot given back", || async {
        sc.metric(shadow_outstanding).await == 0.0
    })
    .await;
    let text = sc.admin_get("/metrics").await.unwrap().body;
    let would = |d: &str| {
        common::metric_value(
            &text,
            &format!("headroom_shadow_disagreements_total{{route=\"/*\",decision=\"{d}\"}}"),
        )
    };
    assert_eq!((would("would-block"), would("would-forward")), (1.0, 0.0));
    let limit = "headroom_shadow_adaptive_concurrency_limit{route=\"/*\"}";
    assert_eq!(common::metric_value(&text, limit), 1.0);
    assert!(
        !text.contains("headroom_adaptive_concurrency_limit{"),
        "nothing enforced: {text}"
    );
}
