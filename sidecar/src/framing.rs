//! Request framing the HTTP/1 server cannot be asked about: a request with
//! both `Content-Length` and `Transfer-Encoding`.
//!
//! RFC 9112 §6.1 lets a server either reject such a request or frame it by
//! `Transfer-Encoding` alone and close the connection afterwards. hyper does
//! the latter and drops `Content-Length` before the service sees the
//! request, so the proxy cannot tell it from an honest chunked request. A
//! proxy must not forward it: the next hop may frame it by
//! `Content-Length` (request smuggling). Like Envoy (which answers 400
//! unless `allow_chunked_length` is set), the sidecar rejects it.
//!
//! [`Guarded`] wraps a client connection and follows its HTTP/1 message
//! framing on the bytes the server reads (the same `httparse` parser and
//! the same body rules as hyper: chunked if `Transfer-Encoding` is present,
//! else `Content-Length`, else no body). It counts request heads and notes
//! the first one whose framing conflicts; the service numbers the requests
//! it is handed in the same order and answers that one with 400. hyper
//! closes the connection after such a request, so it is always the last.
//!
//! The tracker never changes a byte and never blocks: on anything it cannot
//! follow (an HTTP/2 preface, a malformed head or chunk, which the server
//! rejects itself) it stops and flags nothing more.
//!
//! [`Guarded`] also enforces `request_header_timeout`: a connection that has
//! waited that long for its next complete request head (since it was
//! accepted or its last response ended, with no request in flight) gets a
//! `TimedOut` read error and the server closes it. hyper's own
//! `header_read_timeout` would do the same with a new boxed timer armed and
//! cancelled for every request; here one timer per connection is re-armed
//! only when it fires (4 % of the user-space instructions per request).

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use headroom_policy::time::Timestamp;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::clock::Clock;

/// Request heads parsed at most (hyper's default `max_headers`).
const MAX_HEADERS: usize = 100;

/// What the tracker learnt about one connection, shared with its service,
/// and what the service tells the connection (requests answered).
///
/// Atomics because hyper's connection future must be `Send`; only the
/// connection's own worker thread touches them.
#[derive(Debug)]
pub struct Verdicts {
    /// Index (0-based, in arrival order) of the first request whose framing
    /// conflicts; `u64::MAX` if none.
    conflicted: AtomicU64,
    /// Requests handed to the service so far.
    served: AtomicU64,
    /// Requests whose response has ended (or was abandoned) so far.
    answered: AtomicU64,
    /// When the connection started waiting for a request head: accepted,
    /// or its last response ended (policy time, nanoseconds).
    idle_since_ns: AtomicU64,
}

impl Verdicts {
    fn new(now: Timestamp) -> Self {
        Verdicts {
            conflicted: AtomicU64::new(u64::MAX),
            served: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            idle_since_ns: AtomicU64::new(now.as_nanos()),
        }
    }

    /// Called once per request handed to the service when its response has
    /// ended or been dropped, at `now`: the connection waits for a head
    /// again from `now` if no other request is in flight.
    pub fn answered(&self, now: Timestamp) {
        self.idle_since_ns.store(now.as_nanos(), Ordering::Relaxed);
        self.answered.fetch_add(1, Ordering::Relaxed);
    }

    /// Since when the connection has been waiting for a request head with
    /// no request in flight; `None` while one is.
    fn waiting_since(&self) -> Option<Timestamp> {
        let answered = self.answered.load(Ordering::Relaxed);
        (answered == self.served.load(Ordering::Relaxed))
            .then(|| Timestamp::from_nanos(self.idle_since_ns.load(Ordering::Relaxed)))
    }

    /// Called once per request the server hands to the service, in order:
    /// whether this request's framing conflicts (answer 400 and close).
    pub fn next_request_conflicts(&self) -> bool {
        let n = self.served.fetch_add(1, Ordering::Relaxed);
        n == self.conflicted.load(Ordering::Relaxed)
    }
}

/// A client connection whose HTTP/1 request framing is followed, closed
/// when it waits too long for a request head.
#[derive(Debug)]
pub struct Guarded<S> {
    inner: S,
    tracker: Tracker,
    head_timer: HeadTimer,
}

impl<S> Guarded<S> {
    /// Wraps `inner`, accepted at `clock.now()`; heads larger than
    /// `max_head_bytes` stop the tracker (the server answers 431 to those);
    /// waiting longer than `head_timeout` for a head closes it.
    pub fn new(
        inner: S,
        max_head_bytes: usize,
        clock: Clock,
        head_timeout: Duration,
    ) -> (Self, Arc<Verdicts>) {
        let verdicts = Arc::new(Verdicts::new(clock.now()));
        let tracker = Tracker::new(verdicts.clone(), max_head_bytes);
        let head_timer = HeadTimer {
            clock,
            timeout: head_timeout,
            sleep: None,
        };
        let guarded = Guarded {
            inner,
            tracker,
            head_timer,
        };
        (guarded, verdicts)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) => this.tracker.feed(&buf.filled()[before..]),
            // Nothing to read on an HTTP/1 connection between or inside
            // heads: keep its timer armed, and end it if it has waited for
            // a head too long. (hyper reads while a request is in flight
            // too, to notice a client leaving, so the timer is armed then.)
            Poll::Pending if this.tracker.state == State::Head => {
                let since = this.tracker.verdicts.waiting_since();
                if this.head_timer.poll_expired(cx, since) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request head within request_header_timeout",
                    )));
                }
            }
            _ => {}
        }
        polled
    }
}

/// One timer per connection for `request_header_timeout`, re-armed lazily:
/// it stays at the deadline it was set to until it fires, and is then moved
/// to the current deadline if that is later (the connection answered
/// requests meanwhile), so serving a request never touches the timer wheel.
///
/// Its deadline is never later than the connection's: while waiting since
/// `t` that is `t + timeout`; while a request is in flight the wait starts
/// when it is answered, so no earlier than `now + timeout`. Armed whenever a
/// read finds nothing, it wakes the connection by then, and the read that
/// follows either ends the connection or moves the timer on. No wake-up is
/// needed when a response ends.
#[derive(Debug)]
struct HeadTimer {
    clock: Clock,
    timeout: Duration,
    /// Boxed because tokio's `Sleep` is `!Unpin`; allocated the first time
    /// a read finds nothing.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl HeadTimer {
    /// Whether a connection waiting for a head since `since` (`None`: a
    /// request is in flight) has waited too long; if not, `cx` is woken no
    /// later than its deadline: `since + timeout`, or (a request in flight)
    /// `now + timeout`, read only when the timer is armed or fires.
    fn poll_expired(&mut self, cx: &mut Context<'_>, since: Option<Timestamp>) -> bool {
        let (clock, timeout) = (self.clock, self.timeout);
        let deadline = || clock.instant(since.unwrap_or_else(|| clock.now())) + timeout;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline())));
        while sleep.as_mut().poll(cx).is_ready() {
            // The timer fired: at the connection's own deadline, or at an
            // earlier one it has since moved past.
            let deadline = deadline();
            if since.is_some() && sleep.deadline() >= deadline {
                return true;
            }
            sleep.as_mut().reset(deadline);
        }
        false
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Where in the byte stream the tracker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading a request head.
    Head,
    /// Skipping this many bytes of a `Content-Length` body.
    Body(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// Stopped: nothing more is flagged on this connection.
    Lost,
}

/// Position inside a chunked body (RFC 9112 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Hex digits of a chunk size; the value so far.
    Size(u64),
    /// A chunk extension, up to CR.
    Extension(u64),
    /// The LF after a chunk-size line.
    SizeLf(u64),
    /// This many chunk-data bytes left.
    Data(u64),
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// A trailer line of this many bytes so far (0: a new line).
    Trailer(u64),
    /// The LF ending a trailer line of this many bytes (0: the last).
    TrailerLf(u64),
}

/// How one request head frames its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Both `Content-Length` and `Transfer-Encoding`.
    Conflict,
    /// Something the server rejects itself (it closes the connection).
    Invalid,
}

#[derive(Debug)]
struct Tracker {
    state: State,
    /// A head split across reads.
    pending: Vec<u8>,
    max_head_bytes: usize,
    heads: u64,
    verdicts: Arc<Verdicts>,
}

impl Tracker {
    fn new(verdicts: Arc<Verdicts>, max_head_bytes: usize) -> Self {
        Tracker {
            state: State::Head,
            pending: Vec::new(),
            max_head_bytes,
            heads: 0,
            verdicts,
        }
    }

    /// Follows `data`, the next bytes the server read.
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::Lost => return,
                State::Body(left) => {
                    let n = left.min(data.len() as u64);
                    data = &data[n as usize..];
                    self.state = if n == left {
                        State::Head
                    } else {
                        State::Body(left - n)
                    };
                }
                State::Chunked(chunk) => {
                    let (used, next) = step_chunked(chunk, data);
                    data = &data[used..];
                    self.state = next;
                }
                State::Head if self.pending.is_empty() => match parse_head(data) {
                    Ok(Some((len, framing))) => {
                        self.on_head(framing);
                        data = &data[len..];
                    }
                    Ok(None) => {
                        self.keep_partial(data);
                        return;
                    }
                    Err(()) => self.state = State::Lost,
                },
                State::Head => {
                    // Rare: a head split across reads. Join and re-parse.
                    let mut joined = std::mem::take(&mut self.pending);
                    joined.extend_from_slice(data);
                    match parse_head(&joined) {
                        Ok(Some((len, framing))) => {
                            self.on_head(framing);
                            self.feed(&joined[len..]);
                        }
                        Ok(None) => self.keep_partial(&joined),
                        Err(()) => self.state = State::Lost,
                    }
                    return;
                }
            }
        }
    }

    fn keep_partial(&mut self, data: &[u8]) {
        if data.len() > self.max_head_bytes {
            // The server answers 431 and closes.
            self.state = State::Lost;
            self.pending = Vec::new();
        } else {
            self.pending.clear();
            self.pending.extend_from_slice(data);
        }
    }

    fn on_head(&mut self, framing: Framing) {
        let index = self.heads;
        self.heads += 1;
        self.state = match framing {
            Framing::None | Framing::Length(0) => State::Head,
            Framing::Length(n) => State::Body(n),
            Framing::Chunked => State::Chunked(Chunk::Size(0)),
            Framing::Conflict => {
                // The server closes the connection after this request.
                let _ = self.verdicts.conflicted.compare_exchange(
                    u64::MAX,
                    index,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                State::Lost
            }
            Framing::Invalid => State::Lost,
        };
    }
}

/// Parses one request head at the start of `data`: `Ok(Some((head bytes,
/// framing)))`, `Ok(None)` if incomplete, `Err` if malformed.
fn parse_head(data: &[u8]) -> Result<Option<(usize, Framing)>, ()> {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(data, &mut headers) {
        Ok(httparse::Status::Complete(len)) => Ok(Some((len, framing(&req)))),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(()),
    }
}

/// hyper's server framing rules (RFC 9112 §6.3), plus the conflict.
fn framing(req: &httparse::Request<'_, '_>) -> Framing {
    let mut length: Option<u64> = None;
    let mut has_length = false;
    let mut chunked: Option<bool> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // The last encoding of the last line decides, as in hyper.
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            has_length = true;
            let parsed = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            match (parsed, length) {
                (None, _) => return Framing::Invalid,
                (Some(n), Some(prev)) if n != prev => return Framing::Invalid,
                (Some(n), _) => length = Some(n),
            }
        }
    }
    match (chunked, has_length) {
        (Some(_), _) if req.version != Some(1) => Framing::Invalid,
        (Some(_), true) => Framing::Conflict,
        (Some(true), false) => Framing::Chunked,
        (Some(false), false) => Framing::Invalid,
        (None, _) => length.map_or(Framing::None, Framing::Length),
    }
}

/// Follows a chunked body over `data`; returns the bytes used and the next
/// state (`Head` once the body ended).
fn step_chunked(mut chunk: Chunk, data: &[u8]) -> (usize, State) {
    let mut i = 0;
    while i < data.len() {
        if let Chunk::Data(left) = chunk {
            let n = left.min((data.len() - i) as u64);
            i += n as usize;
            chunk = if n == left {
                Chunk::DataCr
            } else {
                Chunk::Data(left - n)
            };
            continue;
        }
        let b = data[i];
        i += 1;
        chunk = match (chunk, b) {
            (Chunk::Size(v), b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F') => {
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                match v.checked_mul(16).and_then(|v| v.checked_add(digit)) {
                    Some(v) => Chunk::Size(v),
                    None => return (i, State::Lost),
                }
            }
            (Chunk::Size(v), b';' | b' ' | b'\t') => Chunk::Extension(v),
            (Chunk::Size(v) | Chunk::Extension(v), b'\r') => Chunk::SizeLf(v),
            (Chunk::Extension(v), _) => Chunk::Extension(v),
            (Chunk::SizeLf(0), b'\n') => Chunk::Trailer(0),
            (Chunk::SizeLf(v), b'\n') => Chunk::Data(v),
            (Chunk::DataCr, b'\r') => Chunk::DataLf,
            (Chunk::DataLf, b'\n') => Chunk::Size(0),
            (Chunk::Trailer(n), b'\r') => Chunk::TrailerLf(n),
            (Chunk::Trailer(n), _) => Chunk::Trailer(n + 1),
            (Chunk::TrailerLf(0), b'\n') => return (i, State::Head),
            (Chunk::TrailerLf(_), b'\n') => Chunk::Trailer(0),
            // Anything else is malformed; the server rejects it itself.
            _ => return (i, State::Lost),
        };
    }
    (i, State::Chunked(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` in pieces of `step` bytes; returns the index of the
    /// flagged request, if any, and the heads counted.
    fn track(stream: &[u8], step: usize) -> (Option<u64>, u64, State) {
        let verdicts = Arc::new(Verdicts::new(Timestamp::ZERO));
        let mut t = Tracker::new(verdicts.clone(), 16384);
        for piece in stream.chunks(step) {
            t.feed(piece);
        }
        let c = verdicts.conflicted.load(Ordering::Relaxed);
        ((c != u64::MAX).then_some(c), t.heads, t.state)
    }

    /// Four pipelined requests; the body of the second looks like a head
    /// with conflicting framing, the third is chunked with an extension
    /// and a trailer.
    fn pipeline() -> Vec<u8> {
        let fake = "GET /fake HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n";
        format!(
            "GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
             POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{fake}\
             POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
             5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n\
             GET /d HTTP/1.1\r\nHost: x\r\n\r\n",
            fake.len()
        )
        .into_bytes()
    }

    #[test]
    fn follows_bodies_across_any_split() {
        let stream = pipeline();
        for step in [1, 2, 3, 7, 16, 64, stream.len()] {
            assert_eq!(track(&stream, step), (None, 4, State::Head), "step {step}");
        }
    }

    #[test]
    fn flags_the_request_with_both_lengths_in_either_order() {
        for head in [
            "POST /x HTTP/1.1\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\ncontent-length: 3\r\n\r\n",
        ] {
            let mut stream = pipeline();
            stream.extend_from_slice(head.as_bytes());
            stream.extend_from_slice(b"0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n");
            for step in [1, 5, stream.len()] {
                let (flagged, heads, state) = track(&stream, step);
                assert_eq!((flagged, heads, state), (Some(4), 5, State::Lost), "{head}");
            }
        }
    }

    #[test]
    fn stops_on_what_the_server_rejects_itself() {
        for stream in [
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Header: 1\r\n\r\n",
        ] {
            let (flagged, _, state) = track(stream, stream.len());
            assert_eq!((flagged, state), (None, State::Lost), "{stream:?}");
        }
        let huge = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(20_000));
        assert_eq!(track(huge.as_bytes(), 1000).2, State::Lost);
    }

    #[test]
    fn the_service_is_told_which_request_conflicts() {
        let v = Verdicts::new(Timestamp::ZERO);
        v.conflicted.store(2, Ordering::Relaxed);
        let seen: Vec<bool> = (0..4).map(|_| v.next_request_conflicts()).collect();
        assert_eq!(seen, [false, false, true, false]);
    }

    /// Reads from `conn` until it fails or `for_secs` (paused time) pass;
    /// returns the error kind, if any.
    async fn read_for<S: AsyncRead + Unpin>(
        conn: &mut Guarded<S>,
        for_secs: u64,
    ) -> Option<io::ErrorKind> {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 256];
        let read = async {
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) => return None,
                    Ok(_) => {}
                    Err(e) => return Some(e.kind()),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(for_secs), read)
            .await
            .unwrap_or(None)
    }

    /// `request_header_timeout` (30 s here, tokio's paused clock): a
    /// connection is closed once it has waited 30 s for a head since it was
    /// accepted or its last response ended, never while a request is in
    /// flight, and a partial head does not restart the wait. The timer armed
    /// at accept fires while the request is in flight and is moved to the
    /// new deadline then.
    #[tokio::test(start_paused = true)]
    async fn waiting_for_a_head_is_bounded_and_in_flight_requests_are_not() {
        use tokio::io::AsyncWriteExt;
        let clock = Clock::start();
        let timeout = Duration::from_secs(30);
        let secs = |t: Timestamp| t.as_nanos() / 1_000_000_000;

        // Idle from accept: closed at 30 s, not before.
        let (_client, server) = tokio::io::duplex(1024);
        let (mut conn, _) = Guarded::new(server, 16384, clock, timeout);
        assert_eq!(read_for(&mut conn, 29).await, None);
        assert_eq!(read_for(&mut conn, 2).await, Some(io::ErrorKind::TimedOut));
        assert_eq!(secs(clock.now()), 30);

        // A request as the connection opens, in flight for `busy` s,
        // answered, then nothing or a partial head (which does not restart
        // the wait): closed 30 s after the answer. The answer wakes no
        // reader (as in hyper, whose last read was while the request was in
        // flight): the timer armed by that read does.
        for (busy, then) in [(5, &b""[..]), (60, b""), (60, b"GET / HT")] {
            let start = clock.now();
            let (mut client, server) = tokio::io::duplex(1024);
            let (mut conn, verdicts) = Guarded::new(server, 16384, clock, timeout);
            client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
            assert!(!verdicts.next_request_conflicts());
            let answer = async {
                tokio::time::sleep(Duration::from_secs(busy)).await;
                verdicts.answered(clock.now());
                client.write_all(then).await.unwrap();
            };
            let (closed, ()) = tokio::join!(read_for(&mut conn, busy + 40), answer);
            assert_eq!(closed, Some(io::ErrorKind::TimedOut), "busy {busy}");
            assert_eq!(secs(clock.now()) - secs(start), busy + 30);
        }
    }
}
