//! The admin listener (loopback by default): `/metrics`, `/health`,
//! `/ready`, `/config` and `POST /reload`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use headroom_policy::breaker::BreakerState;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

use crate::server::Shared;

/// Serves the admin endpoints on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| respond(shared.clone(), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    resp
}

async fn respond(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let resp = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            let rt = shared.runtime();
            let text = shared.metrics().encode(&rt.plan, &rt.driver());
            reply(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            )
        }
        (&Method::GET, "/health") => health(&shared),
        (&Method::GET, "/ready") => {
            if shared.ready.load(Ordering::SeqCst) {
                reply(StatusCode::OK, TEXT, "ready\n".to_owned())
            } else {
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    TEXT,
                    "draining\n".to_owned(),
                )
            }
        }
        (&Method::GET, "/config") => {
            let rt = shared.runtime();
            reply(StatusCode::OK, "application/toml", rt.plan.text.clone())
        }
        (&Method::POST, "/reload") => match shared.reload().await {
            Ok(()) => reply(StatusCode::OK, TEXT, "reloaded\n".to_owned()),
            Err(e) => reply(
                StatusCode::BAD_REQUEST,
                TEXT,
                format!("reload refused; running config kept: {e}\n"),
            ),
        },
        (_, "/metrics" | "/health" | "/ready" | "/config" | "/reload") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "GET /metrics, /health, /ready, /config; POST /reload\n".to_owned(),
        ),
        _ => reply(StatusCode::NOT_FOUND, TEXT, "not found\n".to_owned()),
    };
    Ok(resp)
}

/// `healthy` (200) when every upstream has an eligible endpoint and no open
/// breaker; `degraded` (503) otherwise; one check per upstream in the body.
fn health(shared: &Shared) -> Response<Full<Bytes>> {
    let rt = shared.runtime();
    let driver = rt.driver();
    let mut all_ok = true;
    let checks: Vec<_> = rt
        .plan
        .upstreams
        .iter()
        .enumerate()
        .map(|(u, up)| {
            let eligible = (0..up.endpoints.len())
                .filter(|&e| driver.is_eligible(u, e))
                .count();
            let breakers: Vec<_> = driver
                .edges()
                .filter(|&(up, ..)| up == u)
                .filter_map(|(_, name, state, _)| state.map(|s| (name.to_owned(), s)))
                .collect();
            let open = breakers.iter().any(|(_, s)| *s == BreakerState::Open);
            let ok = eligible > 0 && !open;
            all_ok &= ok;
            json!({
                "upstream": up.name,
                "status": if ok { "healthy" } else { "degraded" },
                "eligible_endpoints": eligible,
                "endpoints": up.endpoints.len(),
                "breakers": breakers
                    .iter()
                    .map(|(edge, s)| json!({ "edge": edge, "state": s.to_string() }))
                    .collect::<Vec<_>>(),
                "priority_loads": driver.priority_loads(u),
            })
        })
        .collect();
    let status = if all_ok { "healthy" } else { "degraded" };
    let body = json!({ "status": status, "checks": checks });
    let code = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    reply(code, "application/json", format!("{body:#}\n"))
}
