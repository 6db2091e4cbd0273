//! The access log: one row per request in Headroom's trace CSV (written by
//! `headroom_traces::CsvWriter`), from a dedicated thread fed through a
//! bounded queue.
//!
//! Header and columns (the trace format `headroom replay` reads):
//! `t_ns,key,op,size_bytes,client,region,route,status,latency_ns` —
//! Unix-epoch nanoseconds at arrival, the request path, `read` (GET, HEAD,
//! OPTIONS) or `write`, response body bytes, the client id, the upstream
//! endpoint's region (empty if none), the route pattern, the status sent,
//! and nanoseconds in the proxy.
//!
//! The request path never blocks on the log: [`AccessLog::log`] is a
//! `try_send`; when the writer falls behind the record is dropped and
//! counted. Rows are in completion order, so `t_ns` (arrival) can go
//! slightly backwards between rows; readers sort or shift as needed.
//!
//! A log file left by an earlier run is moved to `FILE.1` at start (one
//! generation kept), so every file starts with the header.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use headroom_traces::{CsvWriter, Row};
use http::Method;
use prometheus_client::metrics::counter::Counter;

/// The access log's header (Headroom's trace CSV).
pub use headroom_traces::HEADER;

/// One request as logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Unix-epoch nanoseconds at arrival.
    pub t_ns: u64,
    /// Request path.
    pub key: String,
    /// Read or write.
    pub op: Op,
    /// Response body bytes sent.
    pub size_bytes: u64,
    /// Client id (header value or peer IP).
    pub client: String,
    /// Region of the endpoint that answered (empty if none).
    pub region: Arc<str>,
    /// Route pattern (empty if no route matched).
    pub route: Arc<str>,
    /// Status sent to the client.
    pub status: u16,
    /// Nanoseconds from arrival to the end of the response.
    pub latency_ns: u64,
}

pub use headroom_traces::Op;

/// The operation of a request with `method`: GET, HEAD and OPTIONS read,
/// every other method writes.
pub fn op_of(method: &Method) -> Op {
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        Op::Read
    } else {
        Op::Write
    }
}

/// The sending side of the access log; cheap to share.
#[derive(Debug)]
pub struct AccessLog {
    tx: Mutex<Option<SyncSender<Record>>>,
    dropped: Counter,
}

/// The writer thread; join it after the last [`AccessLog`] is dropped to
/// flush every queued record.
#[derive(Debug)]
pub struct Writer(JoinHandle<io::Result<u64>>);

impl Writer {
    /// Waits for the writer to drain; returns the rows written.
    pub fn join(self) -> io::Result<u64> {
        self.0
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("access-log writer panicked")))
    }
}

impl AccessLog {
    /// Creates `path` (moving an existing non-empty file to `path.1`) and
    /// writes the header, with room for `capacity` queued records; `dropped`
    /// counts records dropped when the queue is full.
    ///
    /// Only a regular file named directly is moved aside and started
    /// afresh. Anything else — a symbolic link such as `/dev/stdout`, a
    /// FIFO, a device — is opened for appending, never renamed nor
    /// truncated: renaming `/dev/stdout` would move the link out of `/dev`
    /// (and the next open would create a regular file there), and
    /// truncating it would wipe a log the sidecar's stdout is redirected
    /// into.
    pub fn open(path: &Path, capacity: usize, dropped: Counter) -> io::Result<(AccessLog, Writer)> {
        let file = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_file() => {
                if m.len() > 0 {
                    let mut old = path.as_os_str().to_owned();
                    old.push(".1");
                    std::fs::rename(path, old)?;
                }
                File::create(path)?
            }
            Ok(_) => std::fs::OpenOptions::new().append(true).open(path)?,
            Err(_) => File::create(path)?,
        };
        let csv = CsvWriter::new(file).map_err(io::Error::other)?;
        let (tx, rx) = sync_channel(capacity);
        let handle = std::thread::Builder::new()
            .name("access-log".to_owned())
            .spawn(move || write_loop(csv, rx))?;
        Ok((
            AccessLog {
                tx: Mutex::new(Some(tx)),
                dropped,
            },
            Writer(handle),
        ))
    }

    /// Queues `record`; drops and counts it if the writer is behind.
    pub fn log(&self, record: Record) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let sent = match tx.as_ref() {
            Some(tx) => tx.try_send(record),
            None => Err(TrySendError::Disconnected(record)),
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = sent {
            self.dropped.inc();
        }
    }

    /// Stops accepting records; the writer drains the queue and ends.
    /// Records logged afterwards are dropped and counted.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// Pause of the writer between batches.
const BATCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

fn write_loop(mut csv: CsvWriter<File>, rx: Receiver<Record>) -> io::Result<u64> {
    let mut rows = 0u64;
    // Block for one record, then drain what is queued, flush, and pause:
    // rows reach the file within `BATCH_PAUSE`, and a busy proxy wakes this
    // thread once per batch instead of once per request (a request's
    // `try_send` only wakes a writer that is blocked in `recv`).
    while let Ok(first) = rx.recv() {
        write_row(&mut csv, &first)?;
        rows += 1;
        while let Ok(next) = rx.try_recv() {
            write_row(&mut csv, &next)?;
            rows += 1;
        }
        csv.flush().map_err(io::Error::other)?;
        std::thread::sleep(BATCH_PAUSE);
    }
    csv.finish().map_err(io::Error::other)?;
    Ok(rows)
}

fn write_row(csv: &mut CsvWriter<File>, r: &Record) -> io::Result<()> {
    let row = Row {
        t_ns: r.t_ns,
        key: &r.key,
        op: r.op,
        size_bytes: Some(r.size_bytes),
        client: Some(&r.client),
        region: Some(&r.region),
        route: Some(&r.route),
        status: Some(r.status),
        latency_ns: Some(r.latency_ns),
    };
    csv.write_row(&row).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64) -> Record {
        Record {
            t_ns: 1_700_000_000_000_000_000 + i,
            key: format!("/api/items/{i},x"),
            op: if i.is_multiple_of(2) {
                Op::Read
            } else {
                Op::Write
            },
            size_bytes: 10 * i,
            client: "10.0.0.1".to_owned(),
            region: Arc::from("us-east"),
            route: Arc::from("/api/*"),
            status: 200,
            latency_ns: 1000 + i,
        }
    }

    #[test]
    fn writes_header_and_rows_and_counts_drops() {
        let dir = std::env::temp_dir().join(format!("hr-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.csv");
        let _ = std::fs::remove_file(&path);
        let dropped = Counter::default();
        let (log, writer) = AccessLog::open(&path, 1024, dropped.clone()).unwrap();
        for i in 0..3 {
            log.log(record(i));
        }
        log.close();
        assert_eq!(writer.join().unwrap(), 3);
        log.log(record(4));
        assert_eq!(dropped.get(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER.join(","));
        assert_eq!(
            lines[2],
            "1700000000000000001,\"/api/items/1,x\",write,10,10.0.0.1,us-east,/api/*,200,1001"
        );
        // A restart moves the old log aside and starts a fresh one.
        let (log, writer) = AccessLog::open(&path, 1, dropped.clone()).unwrap();
        log.log(record(5));
        log.close();
        writer.join().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        let old = std::fs::read_to_string(dir.join("a.csv.1")).unwrap();
        assert_eq!(old.lines().count(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A log path that is a symbolic link (`/dev/stdout` is one, to
    /// `/proc/self/fd/1`) to a non-empty file: the link stays where it is,
    /// nothing is moved to `.1`, and the rows are appended after what the
    /// file held.
    #[cfg(unix)]
    #[test]
    fn a_linked_log_is_appended_to_not_moved_nor_truncated() {
        let dir = std::env::temp_dir().join(format!("hr-access-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("stdout.log");
        std::fs::write(&target, "started\n").unwrap();
        let link = dir.join("stdout");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let (log, writer) = AccessLog::open(&link, 16, Counter::default()).unwrap();
        log.log(record(1));
        log.close();
        assert_eq!(writer.join().unwrap(), 1);
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link is still a link"
        );
        assert!(!dir.join("stdout.1").exists(), "nothing moved aside");
        let text = std::fs::read_to_string(&target).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "started");
        assert_eq!(lines[1], HEADER.join(","));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
