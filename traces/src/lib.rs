//! Headroom trace records and streaming readers and writers.
//!
//! A trace is a time-ordered sequence of requests. Headroom's own format is a
//! CSV with the header `t_ns,client,key,op,size_bytes` (the format the
//! sidecar's access log will write and `headroom replay` will read):
//!
//! | column | meaning |
//! |---|---|
//! | `t_ns` | arrival time, integer nanoseconds since the start of the trace, non-decreasing |
//! | `client` | client id (u64), for per-client rate limits |
//! | `key` | object key (u64), for caches and shards |
//! | `op` | `read` or `write` |
//! | `size_bytes` | request or object size in bytes |
//!
//! Readers are iterators over a `Read` they are handed: they never hold the
//! file, only the current row, so replaying a trace takes bounded memory.
//! Every error names the row (1-based, the header is row 1), the column, the
//! bad value and what is accepted.

use std::io::{Read, Write};

use headroom_policy::time::Timestamp;

/// The header of Headroom's trace CSV.
pub const HEADER: [&str; 5] = ["t_ns", "client", "key", "op", "size_bytes"];

/// One request of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// Arrival time since the start of the trace.
    pub at: Timestamp,
    /// Client id.
    pub client: u64,
    /// Object key.
    pub key: u64,
    /// Read or write.
    pub op: Op,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// A request's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A read (cacheable).
    Read,
    /// A write.
    Write,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
        }
    }
}

/// A trace that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The underlying reader or writer failed.
    #[error("trace I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A row is not valid.
    #[error("row {row}, column `{column}`: {value:?} is not {expected}")]
    Row {
        /// 1-based row (the header is row 1).
        row: u64,
        /// Column name.
        column: &'static str,
        /// The rejected text.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// The header is not Headroom's.
    #[error("row 1: header {found:?} is not the Headroom trace header {expected:?}")]
    Header {
        /// The header found.
        found: Vec<String>,
        /// The header expected.
        expected: Vec<&'static str>,
    },
}

impl From<csv::Error> for TraceError {
    fn from(e: csv::Error) -> Self {
        let row = e.position().map_or(0, |p| p.line());
        match e.into_kind() {
            csv::ErrorKind::Io(io) => TraceError::Io(io),
            other => TraceError::Row {
                row,
                column: "*",
                value: format!("{other:?}"),
                expected: "a CSV row of 5 fields".to_owned(),
            },
        }
    }
}

/// Streams [`Record`]s from Headroom's trace CSV.
pub struct Reader<R: Read> {
    csv: csv::Reader<R>,
    row: csv::StringRecord,
    last: Timestamp,
    header_checked: bool,
}

impl<R: Read> Reader<R> {
    /// A reader over `input`.
    pub fn new(input: R) -> Self {
        Reader {
            csv: csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(input),
            row: csv::StringRecord::new(),
            last: Timestamp::ZERO,
            header_checked: false,
        }
    }

    fn check_header(&mut self) -> Result<(), TraceError> {
        self.header_checked = true;
        if !self.csv.read_record(&mut self.row)? || self.row.iter().ne(HEADER.iter().copied()) {
            return Err(TraceError::Header {
                found: self.row.iter().map(str::to_owned).collect(),
                expected: HEADER.to_vec(),
            });
        }
        Ok(())
    }

    fn parse(&mut self) -> Result<Record, TraceError> {
        let row = self.row.position().map_or(0, |p| p.line());
        let field = |i: usize| self.row.get(i).unwrap_or("");
        let bad = |i: usize, expected: &str| TraceError::Row {
            row,
            column: HEADER[i],
            value: field(i).to_owned(),
            expected: expected.to_owned(),
        };
        if self.row.len() != HEADER.len() {
            return Err(TraceError::Row {
                row,
                column: "*",
                value: self.row.iter().collect::<Vec<_>>().join(","),
                expected: format!("a row of {} fields", HEADER.len()),
            });
        }
        let int = |i: usize| {
            field(i)
                .parse::<u64>()
                .map_err(|_| bad(i, "a non-negative integer"))
        };
        let at = Timestamp::from_nanos(int(0)?);
        if at < self.last {
            return Err(bad(
                0,
                &format!(
                    "a time at or after the previous row's ({} ns)",
                    self.last.as_nanos()
                ),
            ));
        }
        let op = match field(3) {
            "read" => Op::Read,
            "write" => Op::Write,
            _ => return Err(bad(3, "`read` or `write`")),
        };
        let record = Record {
            at,
            client: int(1)?,
            key: int(2)?,
            op,
            size_bytes: int(4)?,
        };
        self.last = at;
        Ok(record)
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Record, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.header_checked
            && let Err(e) = self.check_header()
        {
            return Some(Err(e));
        }
        match self.csv.read_record(&mut self.row) {
            Ok(true) => Some(self.parse()),
            Ok(false) => None,
            Err(e) => Some(Err(e.into())),
        }
    }
}

/// Writes [`Record`]s as Headroom's trace CSV.
pub struct Writer<W: Write> {
    csv: csv::Writer<W>,
}

impl<W: Write> Writer<W> {
    /// A writer to `output`; writes the header immediately.
    pub fn new(output: W) -> Result<Self, TraceError> {
        let mut csv = csv::Writer::from_writer(output);
        csv.write_record(HEADER)?;
        Ok(Writer { csv })
    }

    /// Appends one record.
    pub fn write(&mut self, r: &Record) -> Result<(), TraceError> {
        self.csv.write_record([
            r.at.as_nanos().to_string().as_str(),
            r.client.to_string().as_str(),
            r.key.to_string().as_str(),
            r.op.as_str(),
            r.size_bytes.to_string().as_str(),
        ])?;
        Ok(())
    }

    /// Flushes and returns the output.
    pub fn finish(self) -> Result<W, TraceError> {
        self.csv
            .into_inner()
            .map_err(|e| TraceError::Io(e.into_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u64, key: u64, op: Op) -> Record {
        Record {
            at: Timestamp::from_nanos(t),
            client: 3,
            key,
            op,
            size_bytes: 512,
        }
    }

    #[test]
    fn round_trip() {
        let records = vec![
            rec(0, 1, Op::Read),
            rec(5, 2, Op::Write),
            rec(5, 1, Op::Read),
        ];
        let mut w = Writer::new(Vec::new()).unwrap();
        for r in &records {
            w.write(r).unwrap();
        }
        let bytes = w.finish().unwrap();
        assert!(bytes.starts_with(b"t_ns,client,key,op,size_bytes\n0,3,1,read,512\n"));
        let back: Vec<Record> = Reader::new(bytes.as_slice())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, records);
    }

    #[test]
    fn errors_name_row_column_and_value() {
        let text = "t_ns,client,key,op,size_bytes\n10,1,1,read,5\n5,1,1,read,5\n";
        let err = Reader::new(text.as_bytes()).nth(1).unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 3, column `t_ns`: \"5\" is not a time at or after the previous row's (10 ns)"
        );
        let text = "t_ns,client,key,op,size_bytes\n10,1,1,delete,5\n";
        let err = Reader::new(text.as_bytes()).next().unwrap().unwrap_err();
        assert!(
            err.to_string()
                .contains("column `op`: \"delete\" is not `read` or `write`"),
            "{err}"
        );
        let text = "time,client\n";
        let err = Reader::new(text.as_bytes()).next().unwrap().unwrap_err();
        assert!(matches!(err, TraceError::Header { .. }));
        let text = "t_ns,client,key,op,size_bytes\n10,1,-1,read,5\n";
        let err = Reader::new(text.as_bytes()).next().unwrap().unwrap_err();
        assert!(
            err.to_string()
                .contains("column `key`: \"-1\" is not a non-negative integer"),
            "{err}"
        );
    }

    #[test]
    fn reading_streams_with_bounded_memory() {
        // A reader over a generated stream never materialises the input.
        struct Gen {
            i: u64,
            n: u64,
            buf: Vec<u8>,
            pos: usize,
        }
        impl Read for Gen {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                if self.pos == self.buf.len() {
                    if self.i > self.n {
                        return Ok(0);
                    }
                    self.buf = if self.i == 0 {
                        b"t_ns,client,key,op,size_bytes\n".to_vec()
                    } else {
                        format!("{},0,{},read,1\n", self.i, self.i % 97).into_bytes()
                    };
                    self.pos = 0;
                    self.i += 1;
                }
                let k = out.len().min(self.buf.len() - self.pos);
                out[..k].copy_from_slice(&self.buf[self.pos..self.pos + k]);
                self.pos += k;
                Ok(k)
            }
        }
        let n = 200_000;
        let mut count = 0u64;
        for r in Reader::new(Gen {
            i: 0,
            n,
            buf: Vec::new(),
            pos: 0,
        }) {
            assert_eq!(r.unwrap().key, (count + 1) % 97);
            count += 1;
        }
        assert_eq!(count, n);
    }
}
