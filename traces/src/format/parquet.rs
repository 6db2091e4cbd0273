//! Parquet traces through polars (feature `parquet`): a streaming reader
//! that reads only the columns a [`Record`] needs, and a writer of
//! Headroom's trace schema (`headroom trace convert --out X.parquet`).
//!
//! The writer's columns are those of Headroom's trace CSV
//! ([`HEADER`](crate::HEADER)), typed: `t_ns`, `key`, `size_bytes`,
//! `client`, `latency_ns` `UInt64`; `op`, `region`, `route` `String`;
//! `status` `UInt16`; absent values are nulls. One row group per
//! [`ParquetWriter::ROW_GROUP_ROWS`] records, zstd compressed.
//!
//! The reader finds the same names, or the columns named by the options
//! `time-col`, `obj-id-col`, `obj-size-col`, `op-col`, `client-col`,
//! `region-col`, `route-col`, `status-col` and `latency-col` (a name, or a
//! 1-based number); `time-unit` (`s`, `ms`, `us`, `ns`) says what a numeric
//! time counts: nanoseconds for integers and seconds for floats unless
//! given. Timestamp and date columns are exact; text times are ISO 8601 or
//! decimal numbers in the time unit. Keys and clients are unsigned
//! integers, or text (and negative integers' decimal text) hashed as
//! [`key_of`] does for CSV. Only the mapped columns are decoded (column
//! projection), [`ParquetReader::CHUNK_ROWS`] rows at a time, so memory
//! stays flat in the trace's length: a file is memory-mapped
//! ([`ParquetReader::from_file`]); bytes handed over whole
//! ([`ParquetReader::from_bytes`], e.g. a gzip-wrapped file) are held.
//! Row numbers in errors are 1-based record numbers. Reading and writing
//! run on the calling thread (polars' thread pool is never used).

use std::fs::File;
use std::io::{Cursor, Write};

use headroom_policy::time::Timestamp;
use polars_core::prelude::{
    Column as PlColumn, DataFrame, DataType, IntoColumn, NewChunkedArray, PlSmallStr, Series,
    StringChunked, StringChunkedBuilder, TimeUnit, UInt16Chunked, UInt64Chunked,
};
use polars_io::SerReader;
use polars_io::mmap::MmapBytesReader;
use polars_io::parquet::read::{FileMetadata, ParallelStrategy};
use polars_io::parquet::write::BatchedWriter;

use crate::format::headroom::HEADER;
use crate::record::{key_of, parse_u64};
use crate::time::TimeFormat;
use crate::{Names, Op, Record, TraceError};

/// What each record field is read from: a column index of the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParquetMapping {
    /// Per field of [`HEADER`] order (`t_ns`, `key`, `op`, `size_bytes`,
    /// `client`, `region`, `route`, `status`, `latency_ns`): the column's
    /// name or 1-based number as given, `None` for the default (the
    /// field's own name, if the file has it).
    pub columns: [Option<String>; 9],
    /// Nanoseconds per unit of a numeric time column, when given.
    pub time_unit_ns: Option<u64>,
}

/// The option names [`ParquetMapping`] reads, in [`HEADER`] order.
pub const COLUMN_OPTIONS: [&str; 9] = [
    "time-col",
    "obj-id-col",
    "op-col",
    "obj-size-col",
    "client-col",
    "region-col",
    "route-col",
    "status-col",
    "latency-col",
];

/// Every option a Parquet trace takes.
pub const OPTIONS: [&str; 10] = [
    "time-col",
    "obj-id-col",
    "op-col",
    "obj-size-col",
    "client-col",
    "region-col",
    "route-col",
    "status-col",
    "latency-col",
    "time-unit",
];

/// The mapping given by options; `take(key)` removes and returns one.
///
/// # Errors
/// A `time-unit` other than `s`, `ms`, `us` or `ns`.
pub fn mapping(mut take: impl FnMut(&str) -> Option<String>) -> Result<ParquetMapping, TraceError> {
    let mut m = ParquetMapping::default();
    for (slot, key) in m.columns.iter_mut().zip(COLUMN_OPTIONS) {
        *slot = take(key);
    }
    if let Some(unit) = take("time-unit") {
        m.time_unit_ns = match TimeFormat::parse(&unit) {
            Some(TimeFormat::Epoch(ns)) => Some(ns),
            _ => {
                return Err(TraceError::Format(format!(
                    "trace option time-unit={unit:?}: expected s, ms, us or ns"
                )));
            }
        };
    }
    Ok(m)
}

const T_NS: usize = 0;
const KEY: usize = 1;
const OP: usize = 2;
const SIZE: usize = 3;
const CLIENT: usize = 4;
const REGION: usize = 5;
const ROUTE: usize = 6;
const STATUS: usize = 7;
const LATENCY: usize = 8;

/// A value that cannot become its field: the text shown and what is
/// accepted.
#[derive(Debug)]
struct Bad {
    value: String,
    expected: &'static str,
}

type Cell<T> = Result<Option<T>, Box<Bad>>;

fn bad<T>(value: impl ToString, expected: &'static str) -> Cell<T> {
    Err(Box::new(Bad {
        value: value.to_string(),
        expected,
    }))
}

/// One chunk of decoded columns, a field each (empty when not mapped).
#[derive(Default)]
struct Chunk {
    len: usize,
    time: Vec<Cell<u64>>,
    key: Vec<Cell<u64>>,
    op: Vec<Cell<Op>>,
    size: Vec<Cell<u64>>,
    client: Vec<Cell<u64>>,
    region: Option<StringChunked>,
    route: Option<StringChunked>,
    status: Vec<Cell<u16>>,
    latency: Vec<Cell<u64>>,
}

/// Streams [`Record`]s from a Parquet file, [`Self::CHUNK_ROWS`] rows at a
/// time, decoding only the mapped columns.
pub struct ParquetReader {
    input: Box<dyn MmapBytesReader>,
    metadata: std::sync::Arc<FileMetadata>,
    /// File column index per field, `None` when the field is absent.
    fields: [Option<usize>; 9],
    /// The distinct file columns decoded, ascending.
    projection: Vec<usize>,
    /// Column names, for errors.
    names_of: Vec<String>,
    time_unit_ns: u64,
    total: usize,
    offset: usize,
    chunk: Chunk,
    at: usize,
    row: u64,
    names: Names,
}

impl ParquetReader {
    /// Rows decoded at a time.
    pub const CHUNK_ROWS: usize = 1 << 16;

    /// A reader over an open file (memory-mapped: pages are read as they
    /// are needed).
    ///
    /// # Errors
    /// Not Parquet, unknown or unusable columns ([`TraceError::Header`]),
    /// I/O.
    pub fn from_file(file: File, mapping: &ParquetMapping) -> Result<Self, TraceError> {
        Self::new(Box::new(file), mapping)
    }

    /// A reader over a whole file's bytes.
    ///
    /// # Errors
    /// As [`Self::from_file`].
    pub fn from_bytes(bytes: Vec<u8>, mapping: &ParquetMapping) -> Result<Self, TraceError> {
        Self::new(Box::new(Cursor::new(bytes)), mapping)
    }

    fn new(
        mut input: Box<dyn MmapBytesReader>,
        mapping: &ParquetMapping,
    ) -> Result<Self, TraceError> {
        let mut probe = polars_io::parquet::read::ParquetReader::new(&mut input);
        let metadata = probe.get_metadata().map_err(not_parquet)?.clone();
        let schema = probe.schema().map_err(not_parquet)?;
        let names_of: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
        let mut fields = [None; 9];
        for (field, slot) in fields.iter_mut().enumerate() {
            *slot = find(&names_of, field, mapping.columns[field].as_deref())?;
        }
        if fields[T_NS].is_none() {
            return Err(header(
                &names_of,
                format!(
                    "no `t_ns` column; a Parquet trace needs `t_ns` (or --trace-opts \
                     time-col=NAME) and may have {}",
                    HEADER[1..].join(", ")
                ),
            ));
        }
        for (field, index) in fields.iter().enumerate() {
            if let Some(i) = *index {
                let dtype = DataType::from_arrow_field(
                    schema
                        .get_at_index(i)
                        .map(|(_, f)| f)
                        .ok_or_else(|| header(&names_of, format!("no column {}", i + 1)))?,
                );
                check_type(field, &dtype).map_err(|accepted| {
                    header(
                        &names_of,
                        format!(
                            "column `{}` ({}) has type {dtype}; expected {accepted}",
                            names_of[i], HEADER[field]
                        ),
                    )
                })?;
            }
        }
        let mut projection: Vec<usize> = fields.iter().flatten().copied().collect();
        projection.sort_unstable();
        projection.dedup();
        let total = metadata.num_rows;
        Ok(ParquetReader {
            input,
            metadata,
            fields,
            projection,
            names_of,
            time_unit_ns: mapping.time_unit_ns.unwrap_or(0),
            total,
            offset: 0,
            chunk: Chunk::default(),
            at: 0,
            row: 0,
            names: Names::new(),
        })
    }

    /// The file's row count (from its footer).
    pub fn rows(&self) -> usize {
        self.total
    }

    /// Decodes the next chunk; false at the end.
    fn load(&mut self) -> Result<bool, TraceError> {
        if self.offset >= self.total {
            return Ok(false);
        }
        let n = Self::CHUNK_ROWS.min(self.total - self.offset);
        let mut reader = polars_io::parquet::read::ParquetReader::new(&mut self.input)
            .with_projection(Some(self.projection.clone()))
            .with_slice(Some((self.offset, n)))
            .read_parallel(ParallelStrategy::None);
        reader.set_metadata(self.metadata.clone());
        let df = reader.finish().map_err(|e| {
            TraceError::Format(format!(
                "Parquet rows {}..{}: cannot decode ({e})",
                self.offset + 1,
                self.offset + n
            ))
        })?;
        self.chunk = self.convert(&df, n)?;
        self.offset += n;
        self.at = 0;
        Ok(true)
    }

    fn column<'a>(&self, df: &'a DataFrame, field: usize) -> Option<&'a Series> {
        let i = self.fields[field]?;
        df.column(&self.names_of[i])
            .ok()
            .map(PlColumn::as_materialized_series)
    }

    fn convert(&self, df: &DataFrame, n: usize) -> Result<Chunk, TraceError> {
        let fail = |e: polars_core::error::PolarsError| TraceError::Format(format!("Parquet: {e}"));
        let mut chunk = Chunk {
            len: n,
            ..Chunk::default()
        };
        if let Some(s) = self.column(df, T_NS) {
            chunk.time = times(s, self.time_unit_ns).map_err(fail)?;
        }
        if let Some(s) = self.column(df, KEY) {
            chunk.key = keys(s).map_err(fail)?;
        }
        if let Some(s) = self.column(df, OP) {
            chunk.op = ops(s).map_err(fail)?;
        }
        if let Some(s) = self.column(df, SIZE) {
            chunk.size = unsigned(s).map_err(fail)?;
        }
        if let Some(s) = self.column(df, CLIENT) {
            chunk.client = keys(s).map_err(fail)?;
        }
        if let Some(s) = self.column(df, STATUS) {
            chunk.status = unsigned(s)
                .map_err(fail)?
                .into_iter()
                .map(|c| match c {
                    Ok(Some(v)) => u16::try_from(v)
                        .map(Some)
                        .or_else(|_| bad(v, "a status code up to 65535")),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                })
                .collect();
        }
        if let Some(s) = self.column(df, LATENCY) {
            chunk.latency = unsigned(s).map_err(fail)?;
        }
        chunk.region = self
            .column(df, REGION)
            .map(|s| s.str().cloned())
            .transpose()
            .map_err(fail)?
            .map(|c| c.rechunk().into_owned());
        chunk.route = self
            .column(df, ROUTE)
            .map(|s| s.str().cloned())
            .transpose()
            .map_err(fail)?
            .map(|c| c.rechunk().into_owned());
        Ok(chunk)
    }

    fn bad_row(&self, field: usize, b: &Bad) -> TraceError {
        let column = self.fields[field].map_or(HEADER[field], |i| self.names_of[i].as_str());
        TraceError::row(self.row, column, b.value.as_bytes(), b.expected)
    }

    /// The next record, `Ok(None)` at the end.
    ///
    /// # Errors
    /// A [`TraceError::Row`] names the bad cell (the reader can go on after
    /// it); a chunk that cannot be decoded is a [`TraceError::Format`].
    pub fn read(&mut self) -> Result<Option<Record>, TraceError> {
        if self.at >= self.chunk.len && !self.load()? {
            return Ok(None);
        }
        let i = self.at;
        self.at += 1;
        self.row += 1;
        let c = &self.chunk;
        let pick = |v: &[Cell<u64>], field: usize| -> Result<Option<u64>, TraceError> {
            match v.get(i) {
                None | Some(Ok(None)) => Ok(None),
                Some(Ok(Some(x))) => Ok(Some(*x)),
                Some(Err(b)) => Err(self.bad_row(field, b)),
            }
        };
        let at = pick(&c.time, T_NS)?.ok_or_else(|| {
            self.bad_row(
                T_NS,
                &Bad {
                    value: "null".into(),
                    expected: "a time (t_ns is required)",
                },
            )
        })?;
        let op = match c.op.get(i) {
            None | Some(Ok(None)) => Op::Read,
            Some(Ok(Some(op))) => *op,
            Some(Err(b)) => return Err(self.bad_row(OP, b)),
        };
        let status = match c.status.get(i) {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(s))) => Some(*s),
            Some(Err(b)) => return Err(self.bad_row(STATUS, b)),
        };
        let mut record = Record {
            at: Timestamp::from_nanos(at),
            key: pick(&c.key, KEY)?.unwrap_or(0),
            op,
            size_bytes: pick(&c.size, SIZE)?.unwrap_or(0),
            client: pick(&c.client, CLIENT)?,
            region: None,
            route: None,
            status,
            latency_ns: pick(&c.latency, LATENCY)?,
        };
        let row = self.row;
        for (field, names, slot) in [
            (REGION, &self.chunk.region, &mut record.region),
            (ROUTE, &self.chunk.route, &mut record.route),
        ] {
            if let Some(text) = names
                .as_ref()
                .and_then(|n| n.get(i))
                .filter(|t| !t.is_empty())
            {
                let column =
                    self.fields[field].map_or(HEADER[field], |j| self.names_of[j].as_str());
                *slot = Some(
                    self.names
                        .intern(text.as_bytes())
                        .map_err(|e| e.at(row, column, text.as_bytes()))?,
                );
            }
        }
        Ok(Some(record))
    }
}

impl crate::Source for ParquetReader {
    fn read(&mut self) -> Result<Option<Record>, TraceError> {
        ParquetReader::read(self)
    }

    fn row(&self) -> u64 {
        self.row
    }

    fn names(&self) -> &Names {
        &self.names
    }
}

fn not_parquet(e: polars_core::error::PolarsError) -> TraceError {
    TraceError::Format(format!("not a readable Parquet file ({e})"))
}

fn header(found: &[String], problem: String) -> TraceError {
    TraceError::Header {
        found: found.to_vec(),
        problem,
    }
}

/// The file column of `field`: as given (name or 1-based number), else
/// the field's own name if present.
fn find(names: &[String], field: usize, given: Option<&str>) -> Result<Option<usize>, TraceError> {
    let Some(given) = given else {
        return Ok(names.iter().position(|n| n == HEADER[field]));
    };
    if let Some(i) = names.iter().position(|n| n == given) {
        return Ok(Some(i));
    }
    match given.parse::<usize>() {
        Ok(n) if (1..=names.len()).contains(&n) => Ok(Some(n - 1)),
        _ => Err(header(
            names,
            format!(
                "{}={given:?}: no such column (give a column name or a number from 1 to {})",
                COLUMN_OPTIONS[field],
                names.len()
            ),
        )),
    }
}

/// Whether a column of `dtype` can hold `field`; else what is accepted.
fn check_type(field: usize, dtype: &DataType) -> Result<(), &'static str> {
    let int = dtype.is_integer();
    let ok = match field {
        T_NS => {
            int || dtype.is_float()
                || matches!(
                    dtype,
                    DataType::Datetime(..) | DataType::Date | DataType::String
                )
        }
        KEY | CLIENT => int || matches!(dtype, DataType::String | DataType::Binary),
        OP | REGION | ROUTE => *dtype == DataType::String,
        _ => int || *dtype == DataType::String,
    };
    if ok {
        return Ok(());
    }
    Err(match field {
        T_NS => "an integer, float, timestamp, date or text time",
        KEY | CLIENT => "an integer or text",
        OP | REGION | ROUTE => "text",
        _ => "an unsigned integer",
    })
}

/// Unsigned integers (integer or decimal-text columns).
fn unsigned(s: &Series) -> polars_core::error::PolarsResult<Vec<Cell<u64>>> {
    const EXPECTED: &str = "an unsigned integer";
    let dtype = s.dtype();
    Ok(if dtype.is_unsigned_integer() {
        let s = s.cast(&DataType::UInt64)?;
        s.u64()?.iter().map(Ok).collect()
    } else if dtype.is_signed_integer() {
        let s = s.cast(&DataType::Int64)?;
        s.i64()?
            .iter()
            .map(|v| match v {
                None => Ok(None),
                Some(v) => u64::try_from(v).map(Some).or_else(|_| bad(v, EXPECTED)),
            })
            .collect()
    } else {
        s.str()?
            .iter()
            .map(|t| match t {
                None | Some("") => Ok(None),
                Some(t) => parse_u64(t.as_bytes())
                    .map(Some)
                    .map_or_else(|| bad(t, EXPECTED), Ok),
            })
            .collect()
    })
}

/// Keys and clients: unsigned integers as they are, text and negative
/// integers hashed as the CSV reader does ([`key_of`]).
fn keys(s: &Series) -> polars_core::error::PolarsResult<Vec<Cell<u64>>> {
    let dtype = s.dtype();
    Ok(if dtype.is_unsigned_integer() {
        let s = s.cast(&DataType::UInt64)?;
        s.u64()?.iter().map(Ok).collect()
    } else if dtype.is_signed_integer() {
        let s = s.cast(&DataType::Int64)?;
        s.i64()?
            .iter()
            .map(|v| {
                Ok(
                    v.map(|v| {
                        u64::try_from(v).unwrap_or_else(|_| key_of(v.to_string().as_bytes()))
                    }),
                )
            })
            .collect()
    } else if *dtype == DataType::Binary {
        s.binary()?
            .iter()
            .map(|b| Ok(b.filter(|b| !b.is_empty()).map(key_of)))
            .collect()
    } else {
        s.str()?
            .iter()
            .map(|t| Ok(t.filter(|t| !t.is_empty()).map(|t| key_of(t.as_bytes()))))
            .collect()
    })
}

/// `read` or `write`.
fn ops(s: &Series) -> polars_core::error::PolarsResult<Vec<Cell<Op>>> {
    Ok(s.str()?
        .iter()
        .map(|t| match t {
            None | Some("") => Ok(None),
            Some(t) => Op::parse(t.as_bytes())
                .map(Some)
                .map_or_else(|| bad(t, "`read` or `write`"), Ok),
        })
        .collect())
}

/// Times in nanoseconds; `unit_ns` (0: the default) scales numbers.
fn times(s: &Series, unit_ns: u64) -> polars_core::error::PolarsResult<Vec<Cell<u64>>> {
    const EXPECTED: &str = "a time at or after 0 (1970-01-01 for dates)";
    let scale = |v: i64, per: u64| -> Cell<u64> {
        u64::try_from(v)
            .ok()
            .and_then(|v| v.checked_mul(per))
            .map_or_else(|| bad(v, EXPECTED), |ns| Ok(Some(ns)))
    };
    let dtype = s.dtype().clone();
    Ok(match dtype {
        DataType::Datetime(unit, _) => {
            let per = match unit {
                TimeUnit::Nanoseconds => 1,
                TimeUnit::Microseconds => 1_000,
                TimeUnit::Milliseconds => 1_000_000,
            };
            let s = s.to_physical_repr().cast(&DataType::Int64)?;
            s.i64()?
                .iter()
                .map(|v| v.map_or(Ok(None), |v| scale(v, per)))
                .collect()
        }
        DataType::Date => {
            let s = s.to_physical_repr().cast(&DataType::Int64)?;
            s.i64()?
                .iter()
                .map(|v| v.map_or(Ok(None), |v| scale(v, 86_400_000_000_000)))
                .collect()
        }
        d if d.is_float() => {
            let per = if unit_ns == 0 { 1_000_000_000 } else { unit_ns } as f64;
            let s = s.cast(&DataType::Float64)?;
            s.f64()?
                .iter()
                .map(|v| match v {
                    None => Ok(None),
                    Some(v) if v >= 0.0 && (v * per) < u64::MAX as f64 => {
                        Ok(Some((v * per) as u64))
                    }
                    Some(v) => bad(v, EXPECTED),
                })
                .collect()
        }
        d if d.is_signed_integer() => {
            let per = unit_ns.max(1);
            let s = s.cast(&DataType::Int64)?;
            s.i64()?
                .iter()
                .map(|v| v.map_or(Ok(None), |v| scale(v, per)))
                .collect()
        }
        d if d.is_integer() => {
            let per = unit_ns.max(1);
            unsigned(s)?
                .into_iter()
                .map(|c| match c {
                    Ok(Some(v)) => v
                        .checked_mul(per)
                        .map(Some)
                        .map_or_else(|| bad(v, EXPECTED), Ok),
                    other => other,
                })
                .collect()
        }
        _ => {
            let number = TimeFormat::Epoch(if unit_ns == 0 { 1_000_000_000 } else { unit_ns });
            s.str()?
                .iter()
                .map(|t| match t {
                    None | Some("") => Ok(None),
                    Some(t) => TimeFormat::Iso
                        .to_ns(t.as_bytes())
                        .or_else(|| number.to_ns(t.as_bytes()))
                        .map_or_else(
                            || bad(t, "an ISO 8601 date-time or a decimal number"),
                            |ns| Ok(Some(ns)),
                        ),
                })
                .collect()
        }
    })
}

/// Writes records as a Parquet trace of Headroom's schema, a row group
/// every [`Self::ROW_GROUP_ROWS`] records.
pub struct ParquetWriter<W: Write> {
    out: BatchedWriter<W>,
    buffer: Buffer,
}

/// Records waiting for the next row group, column by column.
#[derive(Default)]
struct Buffer {
    t_ns: Vec<u64>,
    key: Vec<u64>,
    write: Vec<bool>,
    size: Vec<u64>,
    client: Vec<Option<u64>>,
    region: Vec<Option<crate::NameId>>,
    route: Vec<Option<crate::NameId>>,
    status: Vec<Option<u16>>,
    latency: Vec<Option<u64>>,
}

impl<W: Write> ParquetWriter<W> {
    /// Records per row group.
    pub const ROW_GROUP_ROWS: usize = 1 << 17;

    /// A writer to `output`.
    ///
    /// # Errors
    /// The schema cannot be set up (a polars error, as [`TraceError::Format`]).
    pub fn new(output: W) -> Result<Self, TraceError> {
        let empty = Buffer::default().frame(&Names::new())?;
        let out = polars_io::parquet::write::ParquetWriter::new(output)
            .set_parallel(false)
            .batched(empty.schema())
            .map_err(write_error)?;
        Ok(ParquetWriter {
            out,
            buffer: Buffer::default(),
        })
    }

    /// Appends `record`; `names` resolves its region and route (the table
    /// of the reader it came from, which must outlive the next row group).
    ///
    /// # Errors
    /// I/O and encoding errors when a row group is written.
    pub fn write(&mut self, record: &Record, names: &Names) -> Result<(), TraceError> {
        let b = &mut self.buffer;
        b.t_ns.push(record.at.as_nanos());
        b.key.push(record.key);
        b.write.push(record.op == Op::Write);
        b.size.push(record.size_bytes);
        b.client.push(record.client);
        b.region.push(record.region);
        b.route.push(record.route);
        b.status.push(record.status);
        b.latency.push(record.latency_ns);
        if b.t_ns.len() >= Self::ROW_GROUP_ROWS {
            self.flush(names)?;
        }
        Ok(())
    }

    fn flush(&mut self, names: &Names) -> Result<(), TraceError> {
        if self.buffer.t_ns.is_empty() {
            return Ok(());
        }
        let df = std::mem::take(&mut self.buffer).frame(names)?;
        self.out.write_batch(&df).map_err(write_error)
    }

    /// Writes the last row group and the footer.
    ///
    /// # Errors
    /// I/O and encoding errors.
    pub fn finish(mut self, names: &Names) -> Result<(), TraceError> {
        self.flush(names)?;
        self.out.finish().map_err(write_error)?;
        Ok(())
    }
}

impl Buffer {
    fn frame(self, names: &Names) -> Result<DataFrame, TraceError> {
        let n = self.t_ns.len();
        let text = |name: &str, ids: &[Option<crate::NameId>]| {
            let mut b = StringChunkedBuilder::new(PlSmallStr::from(name), ids.len());
            for id in ids {
                match id {
                    Some(id) => b.append_value(names.name(*id)),
                    None => b.append_null(),
                }
            }
            b.finish().into_column()
        };
        let op: StringChunked = self
            .write
            .iter()
            .map(|&w| Some(if w { "write" } else { "read" }))
            .collect();
        let columns = vec![
            UInt64Chunked::from_vec(HEADER[T_NS].into(), self.t_ns).into_column(),
            UInt64Chunked::from_vec(HEADER[KEY].into(), self.key).into_column(),
            op.with_name(HEADER[OP].into()).into_column(),
            UInt64Chunked::from_vec(HEADER[SIZE].into(), self.size).into_column(),
            UInt64Chunked::from_slice_options(HEADER[CLIENT].into(), &self.client).into_column(),
            text(HEADER[REGION], &self.region),
            text(HEADER[ROUTE], &self.route),
            UInt16Chunked::from_slice_options(HEADER[STATUS].into(), &self.status).into_column(),
            UInt64Chunked::from_slice_options(HEADER[LATENCY].into(), &self.latency).into_column(),
        ];
        DataFrame::new(n, columns).map_err(write_error)
    }
}

fn write_error(e: polars_core::error::PolarsError) -> TraceError {
    TraceError::Format(format!("cannot write Parquet: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckOptions, Checked};

    fn records(n: u64) -> (Vec<Record>, Names) {
        let mut names = Names::new();
        let eu = names.intern(b"eu").unwrap();
        let api = names.intern(b"/api").unwrap();
        let rs = (0..n)
            .map(|i| Record {
                at: Timestamp::from_nanos(1_000 * i),
                key: i % 97,
                op: if i % 5 == 0 { Op::Write } else { Op::Read },
                size_bytes: 4096 + i,
                client: (i % 3 == 0).then_some(u64::MAX - i),
                region: (i % 2 == 0).then_some(eu),
                route: (i % 7 == 0).then_some(api),
                status: (i % 4 == 0).then_some(200),
                latency_ns: (i % 6 == 0).then_some(i * 10),
            })
            .collect();
        (rs, names)
    }

    fn written(rs: &[Record], names: &Names) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut w = ParquetWriter::new(&mut bytes).unwrap();
        for r in rs {
            w.write(r, names).unwrap();
        }
        w.finish(names).unwrap();
        bytes
    }

    fn read_all(mut r: ParquetReader) -> (Vec<Record>, Names) {
        let mut out = Vec::new();
        while let Some(rec) = r.read().unwrap() {
            out.push(rec);
        }
        (out, r.names)
    }

    /// Compares records field by field, names resolved.
    fn same(a: &[Record], an: &Names, b: &[Record], bn: &Names) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            let name = |n: &Names, id: Option<crate::NameId>| id.map(|id| n.name(id).to_owned());
            assert_eq!(
                (
                    x.at,
                    x.key,
                    x.op,
                    x.size_bytes,
                    x.client,
                    x.status,
                    x.latency_ns
                ),
                (
                    y.at,
                    y.key,
                    y.op,
                    y.size_bytes,
                    y.client,
                    y.status,
                    y.latency_ns
                )
            );
            assert_eq!(name(an, x.region), name(bn, y.region));
            assert_eq!(name(an, x.route), name(bn, y.route));
        }
    }

    #[test]
    fn records_round_trip_across_row_groups_and_chunks() {
        // More than a row group and a read chunk, ending mid-chunk.
        let n = (ParquetWriter::<Vec<u8>>::ROW_GROUP_ROWS + ParquetReader::CHUNK_ROWS + 5) as u64;
        let (rs, names) = records(n);
        let bytes = written(&rs, &names);
        assert_eq!(&bytes[..4], b"PAR1");
        let reader = ParquetReader::from_bytes(bytes, &ParquetMapping::default()).unwrap();
        assert_eq!(reader.rows() as u64, n);
        let (back, back_names) = read_all(reader);
        same(&rs, &names, &back, &back_names);
    }

    #[test]
    fn the_writer_types_every_column() {
        let (rs, names) = records(10);
        let df = polars_io::parquet::read::ParquetReader::new(Cursor::new(written(&rs, &names)))
            .finish()
            .unwrap();
        let got: Vec<(String, String)> = df
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.dtype().to_string()))
            .collect();
        let want = [
            ("t_ns", "u64"),
            ("key", "u64"),
            ("op", "str"),
            ("size_bytes", "u64"),
            ("client", "u64"),
            ("region", "str"),
            ("route", "str"),
            ("status", "u16"),
            ("latency_ns", "u64"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(df.column("client").unwrap().null_count(), 6);
    }

    /// A file of other columns, other types and other names, as a user's
    /// own Parquet export would be.
    fn foreign() -> Vec<u8> {
        let ms: Vec<i64> = vec![1_700_000_000_000, 1_700_000_000_250, 1_700_000_001_000];
        let when = polars_core::prelude::Int64Chunked::from_vec("when".into(), ms)
            .into_datetime(TimeUnit::Milliseconds, None)
            .into_column();
        let path = StringChunked::from_slice("path".into(), &["/a", "/b", "7"]).into_column();
        let bytes_col =
            polars_core::prelude::Int32Chunked::from_slice("bytes".into(), &[10, 20, 30])
                .into_column();
        let junk =
            polars_core::prelude::Float64Chunked::from_slice("junk".into(), &[0.5, 1.5, 2.5])
                .into_column();
        let mut df = DataFrame::new(3, vec![junk, when, path, bytes_col]).unwrap();
        let mut out = Vec::new();
        polars_io::parquet::write::ParquetWriter::new(&mut out)
            .finish(&mut df)
            .unwrap();
        out
    }

    #[test]
    fn mapped_columns_are_projected_and_converted() {
        let opts = FormatOptionsLike(&[
            ("time-col", "when"),
            ("obj-id-col", "path"),
            ("obj-size-col", "4"),
        ]);
        let m = mapping(|k| opts.take(k)).unwrap();
        let reader = ParquetReader::from_bytes(foreign(), &m).unwrap();
        assert_eq!(
            reader.projection,
            [1, 2, 3],
            "the float column is never decoded"
        );
        let (rs, _) = read_all(reader);
        let at: Vec<u64> = rs.iter().map(|r| r.at.as_nanos()).collect();
        assert_eq!(
            at,
            [
                1_700_000_000_000_000_000,
                1_700_000_000_250_000_000,
                1_700_000_001_000_000_000
            ]
        );
        assert_eq!(rs[0].key, key_of(b"/a"));
        assert_eq!(rs[2].key, 7, "decimal text keys are numbers, as in CSV");
        assert_eq!(rs[1].size_bytes, 20);
    }

    struct FormatOptionsLike<'a>(&'a [(&'a str, &'a str)]);

    impl FormatOptionsLike<'_> {
        fn take(&self, key: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn unusable_files_and_columns_are_named() {
        let err = |bytes: Vec<u8>, opts: &[(&str, &str)]| {
            let o = FormatOptionsLike(opts);
            let m = mapping(|k| o.take(k))?;
            ParquetReader::from_bytes(bytes, &m).map(|_| ())
        };
        let e = err(foreign(), &[]).unwrap_err().to_string();
        assert!(
            e.contains("no `t_ns` column") && e.contains("time-col"),
            "{e}"
        );
        let e = err(foreign(), &[("time-col", "nope")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("time-col=\"nope\": no such column"), "{e}");
        let e = err(foreign(), &[("time-col", "when"), ("op-col", "bytes")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column `bytes` (op) has type i32; expected text"),
            "{e}"
        );
        let e = err(b"PAR1 but no footer".to_vec(), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a readable Parquet file"), "{e}");
        let e = err(foreign(), &[("time-unit", "fortnights")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("time-unit=\"fortnights\""), "{e}");
    }

    #[test]
    fn bad_cells_are_row_errors_the_checks_can_skip() {
        let t = polars_core::prelude::Int64Chunked::from_slice("t_ns".into(), &[1, -5, 3])
            .into_column();
        let op = StringChunked::from_slice("op".into(), &["read", "read", "delete"]).into_column();
        let mut df = DataFrame::new(3, vec![t, op]).unwrap();
        let mut bytes = Vec::new();
        polars_io::parquet::write::ParquetWriter::new(&mut bytes)
            .finish(&mut df)
            .unwrap();
        let mut r = ParquetReader::from_bytes(bytes.clone(), &ParquetMapping::default()).unwrap();
        assert_eq!(r.read().unwrap().unwrap().at.as_nanos(), 1);
        let e = r.read().unwrap_err();
        assert!(e.is_row_error());
        assert_eq!(
            e.to_string(),
            "row 2, column `t_ns`: \"-5\" is not a time at or after 0 (1970-01-01 for dates)"
        );
        let e = r.read().unwrap_err().to_string();
        assert_eq!(e, "row 3, column `op`: \"delete\" is not `read` or `write`");
        assert!(r.read().unwrap().is_none());
        let reader = ParquetReader::from_bytes(bytes, &ParquetMapping::default()).unwrap();
        let mut checked = Checked::new(
            reader,
            CheckOptions {
                skip_bad_rows: true,
                sort_window_ns: None,
            },
        );
        let mut n = 0;
        while checked.read().unwrap().is_some() {
            n += 1;
        }
        assert_eq!((n, checked.skipped()), (1, 2));
        let first = checked.first_skipped().unwrap();
        assert!(first.starts_with("row 2, column `t_ns`"), "{first}");
    }
}
