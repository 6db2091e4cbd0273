//! The access log: one row per request in Headroom's trace CSV, written by a
//! dedicated thread through a bounded queue.
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

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use http::Method;
use prometheus_client::metrics::counter::Counter;

/// The access log's header.
pub const HEADER: [&str; 9] = [
    "t_ns",
    "key",
    "op",
    "size_bytes",
    "client",
    "region",
    "route",
    "status",
    "latency_ns",
];

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

/// A request's operation, from its method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// GET, HEAD, OPTIONS.
    Read,
    /// Every other method.
    Write,
}

impl Op {
    /// The operation of `method`.
    pub fn of(method: &Method) -> Op {
        if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
            Op::Read
        } else {
            Op::Write
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
        }
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
    /// Opens (appends to) `path`, writing the header if the file is empty,
    /// with room for `capacity` queued records; `dropped` counts records
    /// dropped when the queue is full.
    pub fn open(path: &Path, capacity: usize, dropped: Counter) -> io::Result<(AccessLog, Writer)> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let empty = file.metadata()?.len() == 0;
        let (tx, rx) = sync_channel(capacity);
        let handle = std::thread::Builder::new()
            .name("access-log".to_owned())
            .spawn(move || write_loop(BufWriter::new(file), empty, rx))?;
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

fn write_loop<W: Write>(out: W, header: bool, rx: Receiver<Record>) -> io::Result<u64> {
    let mut csv = csv::WriterBuilder::new().has_headers(false).from_writer(out);
    if header {
        csv.write_record(HEADER)?;
    }
    let mut rows = 0u64;
    let mut numbers = [itoa_buf(), itoa_buf(), itoa_buf(), itoa_buf()];
    // Block for one record, then drain what is queued, then flush: rows
    // reach the file within one batch, and a busy proxy writes in batches.
    while let Ok(first) = rx.recv() {
        write_row(&mut csv, &first, &mut numbers)?;
        rows += 1;
        while let Ok(next) = rx.try_recv() {
            write_row(&mut csv, &next, &mut numbers)?;
            rows += 1;
        }
        csv.flush()?;
    }
    csv.flush()?;
    Ok(rows)
}

fn itoa_buf() -> String {
    String::with_capacity(20)
}

fn write_row<W: Write>(
    csv: &mut csv::Writer<W>,
    r: &Record,
    numbers: &mut [String; 4],
) -> io::Result<()> {
    use std::fmt::Write as _;
    for n in numbers.iter_mut() {
        n.clear();
    }
    let [t, size, status, latency] = numbers;
    let _ = write!(t, "{}", r.t_ns);
    let _ = write!(size, "{}", r.size_bytes);
    let _ = write!(status, "{}", r.status);
    let _ = write!(latency, "{}", r.latency_ns);
    csv.write_record([
        t.as_str(),
        r.key.as_str(),
        r.op.as_str(),
        size.as_str(),
        r.client.as_str(),
        &r.region,
        &r.route,
        status.as_str(),
        latency.as_str(),
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64) -> Record {
        Record {
            t_ns: 1_700_000_000_000_000_000 + i,
            key: format!("/api/items/{i},x"),
            op: if i % 2 == 0 { Op::Read } else { Op::Write },
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
        // Appending keeps one header.
        let (log, writer) = AccessLog::open(&path, 1, dropped.clone()).unwrap();
        log.log(record(5));
        log.close();
        writer.join().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("t_ns").count(), 1);
        assert_eq!(text.lines().count(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
