//! Headroom's own trace CSV: the schema, a streaming reader and a writer.
//!
//! The writer emits exactly this header, in this order ([`HEADER`]):
//!
//! ```text
//! t_ns,key,op,size_bytes,client,region,route,status,latency_ns
//! ```
//!
//! | column | type | meaning | absent (missing column or empty cell) |
//! |---|---|---|---|
//! | `t_ns` | u64 | arrival time in nanoseconds, absolute (Unix epoch) or relative; non-decreasing | **required** |
//! | `key` | u64 or text | object key; text (a URL path) is hashed with FNV-1a 64 ([`key_of`](crate::key_of)) | 0 |
//! | `op` | `read` / `write` | operation; writes invalidate caches | `read` |
//! | `size_bytes` | u64 | object or response size in bytes | 0 |
//! | `client` | u64 or text | client id for keyed limits; text is hashed like `key` | none |
//! | `region` | text | region the request entered | none |
//! | `route` | text | route (the sidecar's route name) | none |
//! | `status` | u16 | response status code | none |
//! | `latency_ns` | u64 | observed latency in nanoseconds | none |
//!
//! The reader finds columns by header name, in any order; only `t_ns` is
//! required, and columns it does not know are ignored (so the older header
//! `t_ns,client,key,op,size_bytes` reads unchanged). A row with a different
//! number of cells than the header is an error. Values are exact: no
//! surrounding spaces, `op` in lower case.
//!
//! Reading allocates nothing per row: rows go into one reused buffer, keys
//! and clients become `u64`s, and region and route names are interned in the
//! reader's [`Names`].

use std::io::{Read, Write};

use headroom_policy::time::Timestamp;

use crate::record::{format_u64, key_of, parse_u64};
use crate::{Names, Op, Record, TraceError};

/// The header Headroom's trace CSV writer emits.
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

/// Column positions found in a header; `None` = the column is absent.
#[derive(Clone, Copy, Debug, Default)]
struct Columns([Option<usize>; 9]);

const T_NS: usize = 0;
const KEY: usize = 1;
const OP: usize = 2;
const SIZE: usize = 3;
const CLIENT: usize = 4;
const REGION: usize = 5;
const ROUTE: usize = 6;
const STATUS: usize = 7;
const LATENCY: usize = 8;

impl Columns {
    fn from_header(header: &csv::ByteRecord) -> Result<Self, TraceError> {
        let found = || {
            header
                .iter()
                .map(|h| String::from_utf8_lossy(h).into_owned())
                .collect()
        };
        let mut cols = Columns::default();
        for (i, name) in header.iter().enumerate() {
            if let Some(field) = HEADER.iter().position(|h| h.as_bytes() == name) {
                if cols.0[field].is_some() {
                    return Err(TraceError::Header {
                        found: found(),
                        problem: format!("column `{}` appears twice", HEADER[field]),
                    });
                }
                cols.0[field] = Some(i);
            }
        }
        if cols.0[T_NS].is_none() {
            return Err(TraceError::Header {
                found: found(),
                problem: format!(
                    "no `t_ns` column; Headroom's trace CSV needs `t_ns` and may have {}",
                    HEADER[1..].join(", ")
                ),
            });
        }
        Ok(cols)
    }
}

/// Streams [`Record`]s from Headroom's trace CSV.
///
/// Construct with [`CsvReader::new`] (reads the header), then iterate.
/// Timestamps are passed through as written; ordering is checked by
/// [`Checked`](crate::Checked).
pub struct CsvReader<R: Read> {
    csv: csv::Reader<R>,
    row: csv::ByteRecord,
    cols: Columns,
    names: Names,
}

impl<R: Read> CsvReader<R> {
    /// A reader over `input`, which must start with a header row.
    ///
    /// # Errors
    /// [`TraceError::Empty`] if there is no header, [`TraceError::Header`] if
    /// it has no `t_ns` or a column twice, I/O errors.
    pub fn new(input: R) -> Result<Self, TraceError> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .buffer_capacity(1 << 16)
            .from_reader(input);
        let mut header = csv::ByteRecord::new();
        if !csv.read_byte_record(&mut header)? {
            return Err(TraceError::Empty);
        }
        let cols = Columns::from_header(&header)?;
        Ok(CsvReader {
            csv,
            row: csv::ByteRecord::new(),
            cols,
            names: Names::new(),
        })
    }

    /// The region and route names seen so far.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Gives the name table back (after reading, to resolve [`NameId`](crate::NameId)s).
    pub fn into_names(self) -> Names {
        self.names
    }

    /// The next record, `Ok(None)` at the end.
    ///
    /// # Errors
    /// A [`TraceError::Row`] names the bad cell; the reader can go on after it.
    pub fn read(&mut self) -> Result<Option<Record>, TraceError> {
        if !self.csv.read_byte_record(&mut self.row)? {
            return Ok(None);
        }
        self.parse().map(Some)
    }

    /// The 1-based line of the last row read.
    pub fn row(&self) -> u64 {
        self.row.position().map_or(0, csv::Position::line)
    }

    fn cell(&self, field: usize) -> Option<&[u8]> {
        self.cols.0[field]
            .and_then(|i| self.row.get(i))
            .filter(|c| !c.is_empty())
    }

    fn int(&self, field: usize) -> Result<Option<u64>, TraceError> {
        match self.cell(field) {
            None => Ok(None),
            Some(c) => parse_u64(c)
                .map(Some)
                .ok_or_else(|| self.bad(field, c, "an unsigned integer")),
        }
    }

    fn bad(&self, field: usize, value: &[u8], expected: &str) -> TraceError {
        TraceError::row(self.row(), HEADER[field], value, expected)
    }

    fn parse(&mut self) -> Result<Record, TraceError> {
        let at = self
            .int(T_NS)?
            .ok_or_else(|| self.bad(T_NS, b"", "an unsigned integer (t_ns is required)"))?;
        let op = match self.cell(OP) {
            None => Op::Read,
            Some(c) => Op::parse(c).ok_or_else(|| self.bad(OP, c, "`read` or `write`"))?,
        };
        let status = match self.int(STATUS)? {
            None => None,
            Some(s) => Some(u16::try_from(s).map_err(|_| {
                self.bad(
                    STATUS,
                    s.to_string().as_bytes(),
                    "a status code up to 65535",
                )
            })?),
        };
        let mut record = Record {
            at: Timestamp::from_nanos(at),
            key: self.cell(KEY).map_or(0, key_of),
            op,
            size_bytes: self.int(SIZE)?.unwrap_or(0),
            client: self.cell(CLIENT).map(key_of),
            region: None,
            route: None,
            status,
            latency_ns: self.int(LATENCY)?,
        };
        for (field, slot) in [(REGION, &mut record.region), (ROUTE, &mut record.route)] {
            if let Some(i) = self.cols.0[field] {
                let row = self.row.position().map_or(0, csv::Position::line);
                if let Some(c) = self.row.get(i).filter(|c| !c.is_empty()) {
                    *slot = Some(
                        self.names
                            .intern(c)
                            .map_err(|e| e.at(row, HEADER[field], c))?,
                    );
                }
            }
        }
        Ok(record)
    }
}

impl<R: Read> Iterator for CsvReader<R> {
    type Item = Result<Record, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read().transpose()
    }
}

impl<R: Read> crate::Source for CsvReader<R> {
    fn read(&mut self) -> Result<Option<Record>, TraceError> {
        CsvReader::read(self)
    }

    fn row(&self) -> u64 {
        CsvReader::row(self)
    }

    fn names(&self) -> &Names {
        &self.names
    }
}

/// One row to write with text fields, as a proxy sees a request (the
/// sidecar's access log): the key is the URL path, the client and the route
/// are names. Empty strings and `None` are written as empty cells (absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Row<'a> {
    /// Arrival time in nanoseconds (e.g. since the Unix epoch).
    pub t_ns: u64,
    /// Object key: an unsigned integer or any text (hashed on read).
    pub key: &'a str,
    /// Read or write.
    pub op: Op,
    /// Response or object size in bytes.
    pub size_bytes: Option<u64>,
    /// Client name or id.
    pub client: Option<&'a str>,
    /// Region.
    pub region: Option<&'a str>,
    /// Route.
    pub route: Option<&'a str>,
    /// Response status code.
    pub status: Option<u16>,
    /// Observed latency in nanoseconds.
    pub latency_ns: Option<u64>,
}

/// Writes Headroom's trace CSV: the [`HEADER`] first, then one row per
/// [`CsvWriter::write`] or [`CsvWriter::write_row`]. Output is buffered;
/// [`CsvWriter::flush`] pushes it out (a proxy calls it periodically),
/// [`CsvWriter::finish`] flushes and returns the output.
pub struct CsvWriter<W: Write> {
    csv: csv::Writer<W>,
}

impl<W: Write> CsvWriter<W> {
    /// A writer to `output`; the header is written immediately.
    ///
    /// # Errors
    /// I/O errors.
    pub fn new(output: W) -> Result<Self, TraceError> {
        let mut csv = csv::WriterBuilder::new()
            .buffer_capacity(1 << 16)
            .from_writer(output);
        csv.write_record(HEADER)?;
        Ok(CsvWriter { csv })
    }

    /// Appends `record`; `names` resolves its region and route (the table of
    /// the reader it came from).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&mut self, record: &Record, names: &Names) -> Result<(), TraceError> {
        let mut buf = [0; 20];
        let csv = &mut self.csv;
        csv.write_field(format_u64(record.at.as_nanos(), &mut buf))?;
        csv.write_field(format_u64(record.key, &mut buf))?;
        csv.write_field(record.op.as_str())?;
        csv.write_field(format_u64(record.size_bytes, &mut buf))?;
        write_opt(csv, record.client, &mut buf)?;
        csv.write_field(record.region.map_or("", |id| names.name(id)))?;
        csv.write_field(record.route.map_or("", |id| names.name(id)))?;
        write_opt(csv, record.status.map(u64::from), &mut buf)?;
        write_opt(csv, record.latency_ns, &mut buf)?;
        csv.write_record(None::<&[u8]>)?;
        Ok(())
    }

    /// Appends a row given as text (see [`Row`]).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_row(&mut self, row: &Row<'_>) -> Result<(), TraceError> {
        let mut buf = [0; 20];
        let csv = &mut self.csv;
        csv.write_field(format_u64(row.t_ns, &mut buf))?;
        csv.write_field(row.key)?;
        csv.write_field(row.op.as_str())?;
        write_opt(csv, row.size_bytes, &mut buf)?;
        csv.write_field(row.client.unwrap_or(""))?;
        csv.write_field(row.region.unwrap_or(""))?;
        csv.write_field(row.route.unwrap_or(""))?;
        write_opt(csv, row.status.map(u64::from), &mut buf)?;
        write_opt(csv, row.latency_ns, &mut buf)?;
        csv.write_record(None::<&[u8]>)?;
        Ok(())
    }

    /// Writes buffered rows to the output.
    ///
    /// # Errors
    /// I/O errors.
    pub fn flush(&mut self) -> Result<(), TraceError> {
        self.csv.flush()?;
        Ok(())
    }

    /// Flushes and returns the output.
    ///
    /// # Errors
    /// I/O errors.
    pub fn finish(self) -> Result<W, TraceError> {
        self.csv
            .into_inner()
            .map_err(|e| TraceError::Io(e.into_error()))
    }
}

fn write_opt<W: Write>(
    csv: &mut csv::Writer<W>,
    value: Option<u64>,
    buf: &mut [u8; 20],
) -> Result<(), csv::Error> {
    match value {
        Some(v) => csv.write_field(format_u64(v, buf)),
        None => csv.write_field(b""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fnv1a64;

    fn read_all(text: &str) -> (Vec<Record>, Names) {
        let mut r = CsvReader::new(text.as_bytes()).unwrap();
        let records = r.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
        (records, r.into_names())
    }

    #[test]
    fn writer_emits_the_documented_header_and_round_trips() {
        let mut names = Names::new();
        let east = names.intern(b"us-east").unwrap();
        let api = names.intern(b"api").unwrap();
        let full = Record {
            at: Timestamp::from_nanos(1_700_000_000_000_000_000),
            key: 42,
            op: Op::Write,
            size_bytes: 512,
            client: Some(7),
            region: Some(east),
            route: Some(api),
            status: Some(503),
            latency_ns: Some(1_250_000),
        };
        let bare = Record::new(Timestamp::from_nanos(1_700_000_000_000_000_001), 9, 0);
        let mut w = CsvWriter::new(Vec::new()).unwrap();
        w.write(&full, &names).unwrap();
        w.write(&bare, &names).unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            "t_ns,key,op,size_bytes,client,region,route,status,latency_ns\n\
             1700000000000000000,42,write,512,7,us-east,api,503,1250000\n\
             1700000000000000001,9,read,0,,,,,\n"
        );
        let (back, names_back) = read_all(&text);
        assert_eq!(back, vec![full, bare]);
        assert_eq!(names_back.iter().collect::<Vec<_>>(), ["us-east", "api"]);
    }

    #[test]
    fn text_rows_hash_keys_and_clients_and_quote_commas() {
        let mut w = CsvWriter::new(Vec::new()).unwrap();
        let row = Row {
            t_ns: 5,
            key: "/api/users/7,8",
            op: Op::Read,
            size_bytes: Some(120),
            client: Some("tenant-a"),
            region: Some("eu-west"),
            route: Some("users"),
            status: Some(200),
            latency_ns: Some(900),
        };
        w.write_row(&row).unwrap();
        w.write_row(&Row {
            t_ns: 6,
            key: "",
            ..Row::default()
        })
        .unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        assert!(text.contains("5,\"/api/users/7,8\",read,120,tenant-a,eu-west,users,200,900\n"));
        let (back, names) = read_all(&text);
        assert_eq!(back[0].key, fnv1a64(b"/api/users/7,8"));
        assert_eq!(back[0].client, Some(fnv1a64(b"tenant-a")));
        assert_eq!(names.name(back[0].region.unwrap()), "eu-west");
        assert_eq!(names.name(back[0].route.unwrap()), "users");
        assert_eq!(
            (back[1].key, back[1].size_bytes, back[1].client),
            (0, 0, None)
        );
    }

    #[test]
    fn columns_are_found_by_name_and_only_t_ns_is_required() {
        // The original five-column header.
        let (r, _) = read_all("t_ns,client,key,op,size_bytes\n0,3,1,read,512\n5,3,2,write,7\n");
        assert_eq!(r[1].op, Op::Write);
        assert_eq!((r[0].client, r[0].key, r[0].size_bytes), (Some(3), 1, 512));
        // Any order, unknown columns ignored, t_ns alone is enough.
        let (r, _) = read_all("extra,size_bytes,t_ns\nx,10,3\n");
        assert_eq!(r[0], Record::new(Timestamp::from_nanos(3), 0, 10));
        let (r, _) = read_all("t_ns\n1\n2\n");
        assert_eq!(r.len(), 2);
        assert_eq!(r[1], Record::new(Timestamp::from_nanos(2), 0, 0));
    }

    #[test]
    fn bad_cells_name_row_column_value_and_what_is_accepted() {
        let err = |text: &str| {
            CsvReader::new(text.as_bytes())
                .and_then(|mut r| r.read().map(|_| ()))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("t_ns,op\n10,delete\n"),
            "row 2, column `op`: \"delete\" is not `read` or `write`"
        );
        assert_eq!(
            err("t_ns,key\n-3,1\n"),
            "row 2, column `t_ns`: \"-3\" is not an unsigned integer"
        );
        assert_eq!(
            err("t_ns,key\n,1\n"),
            "row 2, column `t_ns`: \"\" is not an unsigned integer (t_ns is required)"
        );
        assert_eq!(
            err("t_ns,status\n1,70000\n"),
            "row 2, column `status`: \"70000\" is not a status code up to 65535"
        );
        assert!(
            err("t_ns,key\n1,2,3\n").contains("row 2"),
            "{}",
            err("t_ns,key\n1,2,3\n")
        );
        assert!(err("time,key\n1,2\n").contains("no `t_ns` column"));
        assert!(err("t_ns,key,t_ns\n1,2,3\n").contains("`t_ns` appears twice"));
        assert_eq!(err(""), "the trace has no records");
    }

    #[test]
    fn a_bad_row_can_be_skipped() {
        let mut r = CsvReader::new("t_ns,op\n1,read\n2,oops\n3,write\n".as_bytes()).unwrap();
        assert!(r.read().unwrap().is_some());
        assert!(r.read().unwrap_err().is_row_error());
        assert_eq!(r.read().unwrap().unwrap().op, Op::Write);
        assert!(r.read().unwrap().is_none());
    }
}
