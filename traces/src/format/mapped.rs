//! CSV traces whose columns are named by a mapping: libCacheSim's `csv`
//! format (columns by 1-based number, as its `-t "time-col=2,obj-id-col=5,..."`)
//! and timestamped CSVs with a header (columns by name, timestamps in a
//! [`TimeFormat`], as the Azure LLM inference trace).
//!
//! Keys and clients are integers or hashed text ([`key_of`](crate::key_of));
//! `op` accepts `read`/`get`/`r`/`head` and `write`/`set`/`put`/`w`/`post`/
//! `delete`/`update`/`patch` in any case.

use std::io::Read;

use headroom_policy::time::Timestamp;

use crate::record::{fnv1a64, key_of, parse_u64};
use crate::time::TimeFormat;
use crate::{Names, Op, Record, Source, TraceError};

/// A column: by 0-based position or by header name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Col {
    /// 0-based position.
    At(usize),
    /// Header name.
    Named(String),
}

/// Which column holds what, and how to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Field delimiter.
    pub delimiter: u8,
    /// Whether the first row is a header.
    pub has_header: bool,
    /// The time column (required).
    pub time: Col,
    /// How times are written; `None` = detect from the first row.
    pub time_format: Option<TimeFormat>,
    /// Object key.
    pub key: Option<Col>,
    /// Hash every key as text even when it looks like an integer
    /// (libCacheSim `obj-id-is-num=false`).
    pub hash_keys: bool,
    /// Size in bytes.
    pub size: Option<Col>,
    /// Operation.
    pub op: Option<Col>,
    /// Client.
    pub client: Option<Col>,
    /// Region.
    pub region: Option<Col>,
    /// Route.
    pub route: Option<Col>,
    /// Status code.
    pub status: Option<Col>,
    /// Latency in nanoseconds.
    pub latency_ns: Option<Col>,
}

impl Mapping {
    /// A mapping with only a time column.
    pub fn new(time: Col) -> Self {
        Mapping {
            delimiter: b',',
            has_header: true,
            time,
            time_format: None,
            key: None,
            hash_keys: false,
            size: None,
            op: None,
            client: None,
            region: None,
            route: None,
            status: None,
            latency_ns: None,
        }
    }
}

pub(crate) const FIELDS: usize = 9;
const NAMES: [&str; FIELDS] = [
    "time", "key", "size", "op", "client", "region", "route", "status", "latency",
];
/// The option that maps each field, in [`NAMES`] order.
pub(crate) const OPTIONS: [&str; FIELDS] = [
    "time-col",
    "obj-id-col",
    "obj-size-col",
    "op-col",
    "client-col",
    "region-col",
    "route-col",
    "status-col",
    "latency-col",
];

/// Streams [`Record`]s from a column-mapped CSV.
pub struct MappedReader<R: Read> {
    csv: csv::Reader<R>,
    row: csv::ByteRecord,
    /// Resolved positions and display names, in [`NAMES`] order.
    cols: [Option<(usize, String)>; FIELDS],
    /// Fields a row needs: one past the rightmost mapped column.
    width: usize,
    time_format: Option<TimeFormat>,
    hash_keys: bool,
    names: Names,
}

impl<R: Read> MappedReader<R> {
    /// A reader over `input` with `mapping`; reads the header if there is one.
    ///
    /// # Errors
    /// A named column missing from the header, a column by name without a
    /// header, I/O errors, [`TraceError::Empty`].
    pub fn new(input: R, mapping: &Mapping) -> Result<Self, TraceError> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(mapping.delimiter)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(input);
        let mut header = csv::ByteRecord::new();
        if mapping.has_header && !csv.read_byte_record(&mut header)? {
            return Err(TraceError::Empty);
        }
        let specs = [
            Some(&mapping.time),
            mapping.key.as_ref(),
            mapping.size.as_ref(),
            mapping.op.as_ref(),
            mapping.client.as_ref(),
            mapping.region.as_ref(),
            mapping.route.as_ref(),
            mapping.status.as_ref(),
            mapping.latency_ns.as_ref(),
        ];
        let mut cols: [Option<(usize, String)>; FIELDS] = Default::default();
        for (slot, spec) in cols.iter_mut().zip(specs) {
            *slot = spec
                .map(|c| resolve(c, &header, mapping.has_header))
                .transpose()?;
        }
        let width = cols.iter().flatten().map(|(i, _)| i + 1).max().unwrap_or(0);
        Ok(MappedReader {
            csv,
            row: csv::ByteRecord::new(),
            cols,
            width,
            time_format: mapping.time_format,
            hash_keys: mapping.hash_keys,
            names: Names::new(),
        })
    }

    fn line(&self) -> u64 {
        self.row.position().map_or(0, csv::Position::line)
    }

    fn cell(&self, field: usize) -> Option<(&[u8], &str)> {
        let (i, name) = self.cols[field].as_ref()?;
        let cell = self.row.get(*i).unwrap_or(b"");
        (!cell.is_empty()).then_some((cell, name.as_str()))
    }

    fn int(&self, field: usize) -> Result<Option<u64>, TraceError> {
        match self.cell(field) {
            None => Ok(None),
            Some((c, name)) => parse_u64(c)
                .map(Some)
                .ok_or_else(|| TraceError::row(self.line(), name, c, "an unsigned integer")),
        }
    }

    /// A row too short for a mapped column: the first such column, named
    /// with its option (an empty cell is an absent value; a missing one is
    /// a column option that does not fit the trace).
    fn check_width(&self) -> Result<(), TraceError> {
        let len = self.row.len();
        if len >= self.width {
            return Ok(());
        }
        let (field, (i, name)) = self
            .cols
            .iter()
            .enumerate()
            .find_map(|(f, c)| c.as_ref().filter(|(i, _)| *i >= len).map(|c| (f, c)))
            .expect("a column past the row's end");
        Err(TraceError::Short {
            row: self.line(),
            found: len,
            column: if crate::error::is_unnamed(name) {
                format!("{}={}", OPTIONS[field], i + 1)
            } else {
                format!("`{name}` ({}={})", OPTIONS[field], i + 1)
            },
            needed: i + 1,
        })
    }

    fn parse(&mut self) -> Result<Record, TraceError> {
        self.check_width()?;
        let row = self.line();
        let (cell, name) = self.cell(0).ok_or_else(|| {
            let name = &self.cols[0].as_ref().expect("time column").1;
            TraceError::row(row, name, b"", "a timestamp (the time column is required)")
        })?;
        let format = match self.time_format {
            Some(f) => f,
            None => TimeFormat::detect(cell).ok_or_else(|| {
                TraceError::row(
                    row,
                    name,
                    cell,
                    format!("a timestamp in {}", TimeFormat::ACCEPTED),
                )
            })?,
        };
        let at = format
            .to_ns(cell)
            .ok_or_else(|| TraceError::row(row, name, cell, format.describe()))?;
        self.time_format = Some(format);
        let key = match self.cell(1) {
            None => 0,
            Some((c, _)) if self.hash_keys => fnv1a64(c),
            Some((c, _)) => key_of(c),
        };
        let op = match self.cell(3) {
            None => Op::Read,
            Some((c, name)) => parse_op(c).ok_or_else(|| {
                TraceError::row(
                    row,
                    name,
                    c,
                    "read/get/r/head or write/set/put/w/post/delete/update/patch",
                )
            })?,
        };
        let status = match self.int(7)? {
            None => None,
            Some(s) => Some(u16::try_from(s).map_err(|_| {
                TraceError::row(
                    row,
                    NAMES[7],
                    s.to_string().as_bytes(),
                    "a status code up to 65535",
                )
            })?),
        };
        let mut record = Record {
            at: Timestamp::from_nanos(at),
            key,
            op,
            size_bytes: self.int(2)?.unwrap_or(0),
            client: self.cell(4).map(|(c, _)| key_of(c)),
            region: None,
            route: None,
            status,
            latency_ns: self.int(8)?,
        };
        for field in [5, 6] {
            if let Some((i, name)) = &self.cols[field]
                && let Some(c) = self.row.get(*i).filter(|c| !c.is_empty())
            {
                let id = self.names.intern(c).map_err(|e| e.at(row, name, c))?;
                if field == 5 {
                    record.region = Some(id);
                } else {
                    record.route = Some(id);
                }
            }
        }
        Ok(record)
    }
}

fn resolve(
    col: &Col,
    header: &csv::ByteRecord,
    has_header: bool,
) -> Result<(usize, String), TraceError> {
    let found = || {
        header
            .iter()
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .collect()
    };
    match col {
        Col::At(i) => {
            let name = header.get(*i).map_or_else(
                || format!("column {}", i + 1),
                |h| String::from_utf8_lossy(h).into_owned(),
            );
            Ok((*i, name))
        }
        Col::Named(name) if !has_header => Err(TraceError::Format(format!(
            "column {name:?} is given by name but the trace has no header; give its number"
        ))),
        Col::Named(name) => header
            .iter()
            .position(|h| h == name.as_bytes())
            .map(|i| (i, name.clone()))
            .ok_or_else(|| TraceError::Header {
                found: found(),
                problem: format!("no column named {name:?}"),
            }),
    }
}

/// Parses an operation name (any case).
pub fn parse_op(text: &[u8]) -> Option<Op> {
    let mut buf = [0u8; 8];
    if text.len() > buf.len() {
        return None;
    }
    for (b, t) in buf.iter_mut().zip(text) {
        *b = t.to_ascii_lowercase();
    }
    match &buf[..text.len()] {
        b"read" | b"get" | b"r" | b"head" => Some(Op::Read),
        b"write" | b"set" | b"put" | b"w" | b"post" | b"delete" | b"update" | b"patch" => {
            Some(Op::Write)
        }
        _ => None,
    }
}

impl<R: Read> Source for MappedReader<R> {
    fn read(&mut self) -> Result<Option<Record>, TraceError> {
        if !self.csv.read_byte_record(&mut self.row)? {
            return Ok(None);
        }
        self.parse().map(Some)
    }

    fn row(&self) -> u64 {
        self.line()
    }

    fn names(&self) -> &Names {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, m: &Mapping) -> Result<Vec<Record>, TraceError> {
        let mut r = MappedReader::new(text.as_bytes(), m)?;
        let mut out = Vec::new();
        while let Some(rec) = Source::read(&mut r)? {
            out.push(rec);
        }
        Ok(out)
    }

    #[test]
    fn libcachesim_csv_by_column_number() {
        // cloudPhysicsIO.csv: time col 2, obj-id col 5, size col 4.
        let mut m = Mapping::new(Col::At(1));
        m.key = Some(Col::At(4));
        m.size = Some(Col::At(3));
        m.time_format = TimeFormat::parse("s");
        let text = "version,time,op,size,lbn\n1,5633898,2a,512,42932745\n1,5633899,2a,4096,7\n";
        let r = read(text, &m).unwrap();
        assert_eq!(
            r[0],
            Record::new(
                Timestamp::from_nanos(5_633_898_000_000_000),
                42_932_745,
                512
            )
        );
        assert_eq!((r[1].key, r[1].size_bytes), (7, 4096));
        m.hash_keys = true;
        assert_eq!(read(text, &m).unwrap()[1].key, fnv1a64(b"7"));
    }

    #[test]
    fn timestamped_csv_by_name_with_detected_iso_times() {
        let mut m = Mapping::new(Col::Named("TIMESTAMP".into()));
        m.size = Some(Col::Named("ContextTokens".into()));
        let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
                    2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04.0319600,3180,8\n";
        let r = read(text, &m).unwrap();
        assert_eq!(r[1].at.as_nanos() - r[0].at.as_nanos(), 52_000_000);
        assert_eq!(r[0].size_bytes, 4808);
        let err = read("TIMESTAMP,ContextTokens\nyesterday,1\n", &m).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("row 2, column `TIMESTAMP`: \"yesterday\""),
            "{err}"
        );
        m.size = Some(Col::Named("tokens".into()));
        assert!(
            read(text, &m)
                .unwrap_err()
                .to_string()
                .contains("no column named \"tokens\"")
        );
    }

    #[test]
    fn ops_and_bad_cells() {
        let mut m = Mapping::new(Col::At(0));
        m.has_header = false;
        m.op = Some(Col::At(1));
        m.time_format = TimeFormat::parse("ms");
        let r = read("1,GET\n2,Put\n", &m).unwrap();
        assert_eq!(
            (r[0].op, r[1].op, r[1].at.as_nanos()),
            (Op::Read, Op::Write, 2_000_000)
        );
        let err = read("1,frob\n", &m).unwrap_err();
        assert!(
            err.to_string().starts_with("row 1, column 2: \"frob\""),
            "{err}"
        );
    }

    #[test]
    fn a_column_past_the_end_of_a_row_is_refused() {
        // Found by fuzzing: obj-id-col=99 read every key as empty (one key).
        let mut m = Mapping::new(Col::At(1));
        m.key = Some(Col::At(98));
        m.size = Some(Col::At(76));
        m.time_format = TimeFormat::parse("s");
        let err = read("a,b,c\n1,5,x\n", &m).unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 2 has 3 fields; obj-id-col=99 is field 99"
        );
        assert!(err.is_row_error());
        // A short row among full ones names its own row; an empty cell is
        // still an absent value.
        m.key = Some(Col::At(2));
        m.size = None;
        let err = read("a,b,c\n1,5,x\n1,6\n", &m).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("row 3 has 2 fields; `c` (obj-id-col=3) is field 3"),
            "{err}"
        );
        assert_eq!(read("a,b,c\n1,5,\n", &m).unwrap()[0].key, 0);
    }
}
