//! `headroom-sidecar`: a reverse proxy that enforces, in production, exactly
//! the policies Headroom simulates.
//!
//! Every decision (rate limit, adaptive concurrency, timeout, retry,
//! breaker, balancing, health, failover, autoscaling) is made by
//! `headroom-policy` inside the sans-IO [`driver::Driver`]; the async code
//! in [`proxy`], [`server`] and [`admin`] only executes its decisions. Time reaches the policies through
//! [`clock`] alone and randomness from one seeded PCG stream.
//!
//! Module map: [`config`] (the file) → [`plan`] (checked) → [`driver`]
//! (decisions; [`upstream`] and [`autoscale`] hold per-upstream and
//! autoscaler state) → [`proxy`] (one request, sent upstream through
//! [`conn_pool`], each worker's keep-alive connections) and [`server`]
//! (listeners, reload, shutdown, health-check loop); [`admin`] and [`metrics`] expose
//! the state; [`access_log`] writes the trace CSV; [`framing`] follows HTTP/1 request
//! framing to reject requests with both `Content-Length` and
//! `Transfer-Encoding`.

pub mod access_log;
pub mod admin;
pub mod autoscale;
pub mod clock;
pub mod config;
pub mod conn_pool;
pub mod driver;
pub mod framing;
pub mod metrics;
pub mod plan;
pub mod proxy;
pub mod server;
mod span_text;
pub mod upstream;
