//! Keep-alive connections to upstream endpoints, one pool per worker and
//! endpoint, driven through hyper's connection API (`hyper::client::conn`).
//!
//! Why not hyper-util's pooled client: it keys a process-wide pool by
//! scheme and authority (a hashed lookup and a lock per request), wraps each
//! checkout in a future, and spawns a task per HTTP/1 response to put the
//! connection back once it is ready again. Here a worker owns its
//! connections (the lock is never contended: only that worker's thread
//! takes it), a request takes a ready connection (or opens one) and its
//! response body gives it back when the last byte has been read
//! ([`Lease::release`]); nothing is spawned per request. Each connection
//! still runs as one task (hyper's `Connection` future) on the worker that
//! opened it.
//!
//! HTTP/1: idle connections are reused last-in first-out (the warmest
//! first); one idle longer than [`IDLE_TIMEOUT`] is closed when the pool is
//! next touched, and at most [`MAX_IDLE`] are kept. h2c: one multiplexed
//! connection per endpoint and worker, reopened when it closes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::config::Protocol;

/// The request body type sent upstream (buffered, so a retry can resend it).
pub type UpstreamBody = Full<Bytes>;

/// Idle HTTP/1 connections kept per endpoint and worker (hyper-util's
/// `pool_max_idle_per_host` in the previous client).
pub const MAX_IDLE: usize = 1024;

/// How long an HTTP/1 connection may stay idle before it is closed
/// (hyper-util's default, above nginx's 75 s keep-alive so that the
/// upstream usually closes first).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a request got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// No connection could be opened (refused, unreachable, timed out).
    Connect,
    /// The connection failed after the request was handed to it.
    Reset,
}

/// A worker's connections to one endpoint.
#[derive(Debug)]
pub struct EndpointPool {
    /// `host:port`.
    authority: String,
    protocol: Protocol,
    connect_timeout: Duration,
    idle: Mutex<Idle>,
}

#[derive(Debug)]
enum Idle {
    /// Ready (or about to be) HTTP/1 senders, the most recently used last.
    H1(VecDeque<(http1::SendRequest<UpstreamBody>, Instant)>),
    /// The endpoint's h2c connection, if open.
    H2(Option<http2::SendRequest<UpstreamBody>>),
}

/// An HTTP/1 connection lent to one request until its response body has
/// been read to the end.
#[derive(Debug)]
pub struct Lease {
    pool: Arc<EndpointPool>,
    sender: http1::SendRequest<UpstreamBody>,
}

impl Lease {
    /// Gives the connection back for the next request. Call only once the
    /// response body has ended cleanly; a lease dropped instead closes its
    /// connection when hyper's connection task sees the body abandoned.
    pub fn release(self) {
        self.pool.put(self.sender, Instant::now());
    }
}

impl EndpointPool {
    /// An empty pool for `authority` (`host:port`).
    pub fn new(authority: &str, protocol: Protocol, connect_timeout: Duration) -> Self {
        EndpointPool {
            authority: authority.to_owned(),
            protocol,
            connect_timeout,
            idle: Mutex::new(match protocol {
                Protocol::Http1 => Idle::H1(VecDeque::new()),
                Protocol::H2c => Idle::H2(None),
            }),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Idle> {
        // Nothing panics while holding it; a poisoned pool is still valid.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `req` on a pooled connection, or on a new one. `req`'s URI must
    /// be origin-form for HTTP/1 and absolute for h2c, and an HTTP/1
    /// request must carry `Host`. With HTTP/1 the response comes with the
    /// connection's [`Lease`].
    pub async fn send(
        self: &Arc<Self>,
        req: Request<UpstreamBody>,
    ) -> Result<(Response<Incoming>, Option<Lease>), SendError> {
        match self.protocol {
            Protocol::Http1 => {
                // Boxed: opening a connection is rare, and its future would
                // otherwise make every request's future (moved a few times
                // per request) that much larger.
                let mut sender = match self.take_h1() {
                    Some(sender) => sender,
                    None => Box::pin(self.connect_h1()).await?,
                };
                let resp = sender
                    .send_request(req)
                    .await
                    .map_err(|_| SendError::Reset)?;
                let lease = Lease {
                    pool: self.clone(),
                    sender,
                };
                Ok((resp, Some(lease)))
            }
            Protocol::H2c => {
                let mut sender = match self.shared_h2() {
                    Some(sender) => sender,
                    None => Box::pin(self.connect_h2()).await?,
                };
                let resp = sender
                    .send_request(req)
                    .await
                    .map_err(|_| SendError::Reset)?;
                Ok((resp, None))
            }
        }
    }

    /// The most recently used ready HTTP/1 connection; closed ones and those
    /// idle too long are dropped on the way.
    fn take_h1(&self) -> Option<http1::SendRequest<UpstreamBody>> {
        let mut idle = self.idle();
        let Idle::H1(senders) = &mut *idle else {
            return None;
        };
        let mut i = senders.len();
        while i > 0 {
            i -= 1;
            if senders[i].0.is_ready() {
                return senders.remove(i).map(|(s, _)| s);
            }
            if senders[i].0.is_closed() {
                senders.remove(i);
            }
        }
        None
    }

    fn put(&self, sender: http1::SendRequest<UpstreamBody>, now: Instant) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle();
        let Idle::H1(senders) = &mut *idle else {
            return;
        };
        while senders
            .front()
            .is_some_and(|(_, since)| now.saturating_duration_since(*since) > IDLE_TIMEOUT)
        {
            senders.pop_front();
        }
        if senders.len() >= MAX_IDLE {
            senders.pop_front();
        }
        senders.push_back((sender, now));
    }

    fn shared_h2(&self) -> Option<http2::SendRequest<UpstreamBody>> {
        match &*self.idle() {
            Idle::H2(Some(sender)) if !sender.is_closed() => Some(sender.clone()),
            _ => None,
        }
    }

    async fn connect(&self) -> Result<TokioIo<TcpStream>, SendError> {
        let stream = tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect(self.authority.as_str()),
        )
        .await
        .map_err(|_| SendError::Connect)?
        .map_err(|_| SendError::Connect)?;
        // Requests and responses are small and latency-bound: no Nagle.
        let _ = stream.set_nodelay(true);
        Ok(TokioIo::new(stream))
    }

    async fn connect_h1(&self) -> Result<http1::SendRequest<UpstreamBody>, SendError> {
        let io = self.connect().await?;
        let (sender, conn) = http1::Builder::new()
            // One buffer and one `write` per request, as on the listener.
            .writev(false)
            .handshake(io)
            .await
            .map_err(|_| SendError::Connect)?;
        let authority = self.authority.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(endpoint = %authority, error = %e, "upstream connection ended");
            }
        });
        Ok(sender)
    }

    async fn connect_h2(&self) -> Result<http2::SendRequest<UpstreamBody>, SendError> {
        let io = self.connect().await?;
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .handshake(io)
            .await
            .map_err(|_| SendError::Connect)?;
        let authority = self.authority.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(endpoint = %authority, error = %e, "upstream h2c connection ended");
            }
        });
        if let Idle::H2(slot) = &mut *self.idle() {
            *slot = Some(sender.clone());
        }
        Ok(sender)
    }

    /// Idle HTTP/1 connections held (h2c: 1 while its connection is open).
    pub fn idle_count(&self) -> usize {
        match &*self.idle() {
            Idle::H1(senders) => senders.len(),
            Idle::H2(sender) => usize::from(sender.as_ref().is_some_and(|s| !s.is_closed())),
        }
    }
}
