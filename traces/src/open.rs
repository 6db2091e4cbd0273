//! Picking a reader: transparent gzip and zstd, format detection from the
//! file name and the first bytes, `--format` overrides and format options
//! (`--trace-opts "key=value,..."`, with libCacheSim's option names for its
//! formats).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};

use headroom_policy::time::Span;

use crate::format::clf::{ClfReader, looks_like_clf};
use crate::format::headroom::CsvReader;
use crate::format::lines::{CountsReader, IndexCol, TxtReader};
use crate::format::mapped::{self, Col, MappedReader, Mapping};
use crate::format::oracle::OracleReader;
use crate::time::TimeFormat;
use crate::{Names, Record, Source, TraceError};

/// A trace format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// Headroom's trace CSV ([`crate::format::headroom`]).
    Headroom,
    /// libCacheSim `csv` with a column mapping.
    Csv,
    /// libCacheSim `txt`: one object id per line.
    Txt,
    /// libCacheSim `oracleGeneral` binary.
    OracleGeneral,
    /// NCSA Common or Combined Log Format.
    Clf,
    /// Requests per interval, one count per line or CSV row.
    Counts,
    /// CSV with a header, a timestamp column and named columns.
    Timestamped,
    /// Apache Parquet with named columns ([`crate::format::parquet`];
    /// needs the `parquet` feature).
    Parquet,
}

impl Format {
    /// Every format, as named on the command line.
    pub const NAMES: [&'static str; 8] = [
        "headroom",
        "csv",
        "txt",
        "oracleGeneral",
        "clf",
        "counts",
        "timestamped",
        "parquet",
    ];

    /// The command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Headroom => "headroom",
            Format::Csv => "csv",
            Format::Txt => "txt",
            Format::OracleGeneral => "oracleGeneral",
            Format::Clf => "clf",
            Format::Counts => "counts",
            Format::Timestamped => "timestamped",
            Format::Parquet => "parquet",
        }
    }

    /// Parses a command-line name (case-insensitive; `oracle-general`,
    /// `combined` and `ncsa` are accepted too).
    ///
    /// # Errors
    /// [`TraceError::Format`] listing the names.
    pub fn parse(name: &str) -> Result<Format, TraceError> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "headroom" => Format::Headroom,
            "csv" => Format::Csv,
            "txt" => Format::Txt,
            "oraclegeneral" | "oracle-general" => Format::OracleGeneral,
            "clf" | "combined" | "ncsa" => Format::Clf,
            "counts" => Format::Counts,
            "timestamped" => Format::Timestamped,
            "parquet" => Format::Parquet,
            _ => {
                return Err(TraceError::Format(format!(
                    "unknown trace format {name:?}; expected one of {}",
                    Self::NAMES.join(", ")
                )));
            }
        })
    }
}

/// A compression wrapper found from the magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Plain.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// Zstandard (`28 b5 2f fd`).
    Zstd,
}

/// `key=value` options of a format, comma-separated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FormatOptions(BTreeMap<String, String>);

impl FormatOptions {
    /// Parses `"k=v,k=v"` (spaces around items are ignored).
    ///
    /// # Errors
    /// An item without `=`.
    pub fn parse(text: &str) -> Result<Self, TraceError> {
        let mut map = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = item.split_once('=').ok_or_else(|| {
                TraceError::Format(format!("trace option {item:?} is not key=value"))
            })?;
            map.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
        Ok(FormatOptions(map))
    }

    pub(crate) fn take(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    pub(crate) fn done(self, format: Format, accepted: &[&str]) -> Result<(), TraceError> {
        match self.0.keys().next() {
            None => Ok(()),
            Some(k) => Err(TraceError::Format(format!(
                "format {} has no option {k:?}; accepted: {}",
                format.name(),
                if accepted.is_empty() {
                    "none".to_owned()
                } else {
                    accepted.join(", ")
                }
            ))),
        }
    }
}

/// Any format's reader, chosen at run time.
pub enum AnySource {
    /// Headroom CSV.
    Headroom(CsvReader<Input>),
    /// Column-mapped CSV (libCacheSim csv, timestamped).
    Mapped(MappedReader<Input>),
    /// libCacheSim txt.
    Txt(TxtReader<Input>),
    /// oracleGeneral.
    Oracle(OracleReader<Input>),
    /// Access log.
    Clf(ClfReader<Input>),
    /// Count series.
    Counts(CountsReader<Input>),
    /// Parquet.
    #[cfg(feature = "parquet")]
    Parquet(crate::format::parquet::ParquetReader),
}

/// The decompressed, buffered input every reader gets.
pub type Input = BufReader<Box<dyn Read + Send>>;

macro_rules! each {
    ($s:expr, $r:ident => $e:expr) => {
        match $s {
            AnySource::Headroom($r) => $e,
            AnySource::Mapped($r) => $e,
            AnySource::Txt($r) => $e,
            AnySource::Oracle($r) => $e,
            AnySource::Clf($r) => $e,
            AnySource::Counts($r) => $e,
            #[cfg(feature = "parquet")]
            AnySource::Parquet($r) => $e,
        }
    };
}

impl Source for AnySource {
    #[inline]
    fn read(&mut self) -> Result<Option<Record>, TraceError> {
        each!(self, r => Source::read(r))
    }

    fn row(&self) -> u64 {
        each!(self, r => Source::row(r))
    }

    fn names(&self) -> &Names {
        each!(self, r => Source::names(r))
    }

    fn timed(&self) -> bool {
        each!(self, r => Source::timed(r))
    }
}

/// What [`open`] found.
pub struct Opened {
    /// The reader.
    pub source: AnySource,
    /// The format used.
    pub format: Format,
    /// Whether it was detected (not given).
    pub detected: bool,
    /// The compression found.
    pub compression: Compression,
}

/// The UTF-8 byte order mark, skipped at the start of a text trace.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Opens a trace: undoes gzip or zstd compression (found from the magic
/// bytes), takes `format` or detects it from `name` (the file name) and the
/// first bytes, and builds its reader with `options`.
///
/// # Errors
/// Unknown or undetectable formats, bad options, headers, I/O.
pub fn open(
    input: Box<dyn Read + Send>,
    name: &str,
    format: Option<Format>,
    options: &str,
) -> Result<Opened, TraceError> {
    let mut raw = BufReader::with_capacity(1 << 16, input);
    let magic = raw.fill_buf()?;
    let compression = if magic.starts_with(&[0x1F, 0x8B]) {
        Compression::Gzip
    } else if magic.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        Compression::Zstd
    } else {
        Compression::None
    };
    let inner: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(raw)?),
    };
    let mut input = BufReader::with_capacity(1 << 16, inner);
    let head = input.fill_buf()?;
    let bom = head.starts_with(UTF8_BOM);
    let (format, detected) = match format {
        Some(f) => (f, false),
        None => (
            detect(name, head.strip_prefix(UTF8_BOM).unwrap_or(head))?,
            true,
        ),
    };
    if bom && !matches!(format, Format::OracleGeneral | Format::Parquet) {
        // Spreadsheet programs start a CSV they save with a byte order mark;
        // it is not part of the first column's name.
        input.consume(UTF8_BOM.len());
    }
    let options = FormatOptions::parse(options)?;
    let source = build(input, format, options)?;
    Ok(Opened {
        source,
        format,
        detected,
        compression,
    })
}

/// Opens a trace from an open file: a Parquet file (by `format`, or by its
/// name or magic bytes when `format` is `None`) is memory-mapped and decoded
/// a chunk at a time; anything else (a compressed Parquet file too) goes
/// through [`open`].
///
/// # Errors
/// As [`open`].
pub fn open_file(
    mut file: std::fs::File,
    name: &str,
    format: Option<Format>,
    options: &str,
) -> Result<Opened, TraceError> {
    use std::io::{Seek, SeekFrom};
    let mut magic = Vec::with_capacity(4);
    (&mut file).take(4).read_to_end(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    let parquet = match format {
        Some(f) => f == Format::Parquet,
        None => name.to_ascii_lowercase().ends_with(".parquet") || magic == b"PAR1",
    };
    let compressed =
        magic.starts_with(&[0x1F, 0x8B]) || magic.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]);
    if !parquet || compressed {
        return open(Box::new(file), name, format, options);
    }
    Ok(Opened {
        source: parquet_source(Whole::File(file), FormatOptions::parse(options)?)?,
        format: Format::Parquet,
        detected: format.is_none(),
        compression: Compression::None,
    })
}

/// A Parquet file as a reader gets it.
enum Whole {
    /// Open, to be mapped.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    File(std::fs::File),
    /// Read whole (it came through a decompressor or a plain `Read`).
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    Bytes(Vec<u8>),
}

#[cfg(feature = "parquet")]
fn parquet_source(whole: Whole, mut o: FormatOptions) -> Result<AnySource, TraceError> {
    use crate::format::parquet::{OPTIONS, ParquetReader, mapping};
    let m = mapping(|key| o.take(key))?;
    o.done(Format::Parquet, &OPTIONS)?;
    Ok(AnySource::Parquet(match whole {
        Whole::File(file) => ParquetReader::from_file(file, &m)?,
        Whole::Bytes(bytes) => ParquetReader::from_bytes(bytes, &m)?,
    }))
}

#[cfg(not(feature = "parquet"))]
fn parquet_source(_: Whole, _: FormatOptions) -> Result<AnySource, TraceError> {
    Err(TraceError::Format(
        "Parquet traces need the `parquet` feature, which this build lacks; rebuild with \
         default features, or convert the trace to Headroom's trace CSV"
            .to_owned(),
    ))
}

fn first_line(head: &[u8]) -> &[u8] {
    let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    head[..end].strip_suffix(b"\r").unwrap_or(&head[..end])
}

/// Detects the format from the file name (compression suffixes removed) and
/// the first bytes.
///
/// # Errors
/// [`TraceError::Empty`] for no bytes, [`TraceError::Format`] when the
/// format cannot be told, naming the choices.
pub fn detect(name: &str, head: &[u8]) -> Result<Format, TraceError> {
    let lower = name.to_ascii_lowercase();
    let base = ["gz", "zst", "zstd"]
        .iter()
        .find_map(|ext| lower.strip_suffix(&format!(".{ext}")))
        .unwrap_or(&lower);
    if base.contains("oraclegeneral") {
        return Ok(Format::OracleGeneral);
    }
    if base.ends_with(".parquet") || head.starts_with(b"PAR1") {
        return Ok(Format::Parquet);
    }
    if head.is_empty() {
        return Err(TraceError::Empty);
    }
    let line = first_line(head);
    let text = std::str::from_utf8(line)
        .ok()
        .filter(|_| !head.contains(&0));
    let Some(text) = text else {
        return Err(TraceError::Format(
            "binary content in no format known by its name; if it is libCacheSim \
             oracleGeneral give --format oracleGeneral"
                .to_owned(),
        ));
    };
    let header: Vec<String> = text
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if header.iter().any(|h| h == "t_ns") {
        return Ok(Format::Headroom);
    }
    if looks_like_clf(line) {
        return Ok(Format::Clf);
    }
    if header.iter().any(|h| is_count_column(h)) && header.len() <= 3 {
        return Ok(Format::Counts);
    }
    if header.iter().any(|h| is_time_column(h)) {
        return Ok(Format::Timestamped);
    }
    let integers = head
        .split(|&b| b == b'\n')
        .take(20)
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
        .all(|l| crate::parse_u64(l).is_some());
    if integers && base.ends_with(".txt") {
        return Ok(Format::Txt);
    }
    Err(TraceError::Format(format!(
        "cannot tell the trace format from its name and first line {text:?}; give \
         --format, one of {} (with --trace-opts for csv, e.g. \
         \"time-col=2,obj-id-col=5,obj-size-col=4,has-header=true\")",
        Format::NAMES.join(", ")
    )))
}

fn is_count_column(h: &str) -> bool {
    matches!(
        h,
        "requests" | "count" | "counts" | "requests_per_second" | "requests_per_minute"
    )
}

fn is_time_column(h: &str) -> bool {
    h == "time"
        || h == "timestamp"
        || h == "date"
        || h.ends_with("_time")
        || h.ends_with("timestamp")
}

fn bool_opt(o: &mut FormatOptions, key: &str) -> Result<Option<bool>, TraceError> {
    o.take(key)
        .map(|v| match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(TraceError::Format(format!(
                "trace option {key}={v:?}: expected true or false"
            ))),
        })
        .transpose()
}

fn delimiter(o: &mut FormatOptions) -> Result<u8, TraceError> {
    Ok(match o.take("delimiter").as_deref() {
        None | Some("comma") | Some(",") => b',',
        Some("tab") | Some("\\t") => b'\t',
        Some("space") => b' ',
        Some(d) if d.len() == 1 => d.as_bytes()[0],
        Some(d) => {
            return Err(TraceError::Format(format!(
                "trace option delimiter={d:?}: expected one character, comma, tab or space"
            )));
        }
    })
}

/// A column option: a 1-based number (libCacheSim) or a header name.
fn col(o: &mut FormatOptions, key: &str) -> Result<Option<Col>, TraceError> {
    o.take(key)
        .map(|v| match v.parse::<usize>() {
            Ok(0) => Err(TraceError::Format(format!(
                "trace option {key}=0: columns are numbered from 1"
            ))),
            Ok(n) => Ok(Col::At(n - 1)),
            Err(_) => Ok(Col::Named(v)),
        })
        .transpose()
}

fn time_format(o: &mut FormatOptions) -> Result<Option<TimeFormat>, TraceError> {
    match o.take("time-format").as_deref() {
        None | Some("auto") => Ok(None),
        Some(f) => TimeFormat::parse(f).map(Some).ok_or_else(|| {
            TraceError::Format(format!(
                "trace option time-format={f:?}: expected auto, {}",
                TimeFormat::ACCEPTED
            ))
        }),
    }
}

/// The mapped format's options other than its column options.
const MAPPED_OTHER_OPTIONS: [&str; 5] = [
    "has-header",
    "delimiter",
    "obj-id-is-num",
    "time-format",
    "time-unit",
];

/// Every option of the mapped format: the column options (one list, in
/// `format::mapped`), then the others.
const MAPPED_OPTIONS: [&str; mapped::FIELDS + MAPPED_OTHER_OPTIONS.len()] = {
    let mut all = [""; mapped::FIELDS + MAPPED_OTHER_OPTIONS.len()];
    let mut i = 0;
    while i < mapped::FIELDS {
        all[i] = mapped::OPTIONS[i];
        i += 1;
    }
    let mut j = 0;
    while j < MAPPED_OTHER_OPTIONS.len() {
        all[mapped::FIELDS + j] = MAPPED_OTHER_OPTIONS[j];
        j += 1;
    }
    all
};

fn mapping(o: &mut FormatOptions, format: Format, head: &[u8]) -> Result<Mapping, TraceError> {
    let time = match col(o, "time-col")? {
        Some(c) => c,
        None if format == Format::Timestamped => {
            let line = std::str::from_utf8(first_line(head)).unwrap_or("");
            let name = line
                .split(',')
                .map(str::trim)
                .find(|h| is_time_column(&h.to_ascii_lowercase()))
                .ok_or_else(|| {
                    TraceError::Format(
                        "no time column found by name; give --trace-opts time-col=NAME".to_owned(),
                    )
                })?;
            Col::Named(name.to_owned())
        }
        None => {
            return Err(TraceError::Format(
                "format csv needs --trace-opts time-col=N (and obj-id-col, obj-size-col, \
                 has-header as libCacheSim's -t)"
                    .to_owned(),
            ));
        }
    };
    let mut m = Mapping::new(time);
    m.delimiter = delimiter(o)?;
    m.has_header = bool_opt(o, "has-header")?.unwrap_or(format == Format::Timestamped);
    m.key = col(o, "obj-id-col")?;
    m.size = col(o, "obj-size-col")?;
    m.op = col(o, "op-col")?;
    m.client = col(o, "client-col")?;
    m.region = col(o, "region-col")?;
    m.route = col(o, "route-col")?;
    m.status = col(o, "status-col")?;
    m.latency_ns = col(o, "latency-col")?;
    m.hash_keys = !bool_opt(o, "obj-id-is-num")?.unwrap_or(true);
    m.time_format = time_format(o)?;
    if let Some(unit) = o.take("time-unit") {
        m.time_format = Some(
            TimeFormat::parse(&unit)
                .filter(|f| matches!(f, TimeFormat::Epoch(_)))
                .ok_or_else(|| {
                    TraceError::Format(format!(
                        "trace option time-unit={unit:?}: expected s, ms, us or ns"
                    ))
                })?,
        );
    }
    if format == Format::Csv && m.time_format.is_none() {
        // libCacheSim reads csv times as numbers; Headroom takes them as seconds.
        m.time_format = TimeFormat::parse("s");
    }
    Ok(m)
}

fn build(mut input: Input, format: Format, mut o: FormatOptions) -> Result<AnySource, TraceError> {
    let source = match format {
        Format::Headroom => {
            o.done(format, &[])?;
            AnySource::Headroom(CsvReader::new(input)?)
        }
        Format::OracleGeneral => {
            o.done(format, &[])?;
            AnySource::Oracle(OracleReader::new(input))
        }
        Format::Txt => {
            o.done(format, &[])?;
            AnySource::Txt(TxtReader::new(input))
        }
        Format::Clf => {
            o.done(format, &[])?;
            AnySource::Clf(ClfReader::new(input))
        }
        Format::Counts => {
            let head = first_line(input.fill_buf()?).to_ascii_lowercase();
            let guess = if head.windows(6).any(|w| w == b"minute") {
                Some("1m")
            } else if head.windows(4).any(|w| w == b"hour") {
                Some("1h")
            } else {
                None
            };
            let interval = o.take("interval").or(guess.map(str::to_owned));
            let interval = interval.as_deref().unwrap_or("1s");
            let span = Span::parse(interval).map_err(|e| {
                TraceError::Format(format!("trace option interval={interval:?}: {e}"))
            })?;
            if span.is_zero() {
                return Err(TraceError::Format(
                    "trace option interval must be positive".into(),
                ));
            }
            let column = match col(&mut o, "count-col")? {
                None => None,
                Some(Col::At(i)) => Some(i),
                Some(Col::Named(n)) => {
                    return Err(TraceError::Format(format!(
                        "trace option count-col={n:?}: give the column's number"
                    )));
                }
            };
            let index = match o.take("index-col").as_deref() {
                None => IndexCol::Auto,
                Some(v) if v.eq_ignore_ascii_case("none") => IndexCol::None,
                Some(v) => match v.parse::<usize>() {
                    Ok(n) if n > 0 => IndexCol::At(n - 1),
                    _ => {
                        return Err(TraceError::Format(format!(
                            "trace option index-col={v:?}: give the column's number (from 1) \
                             or none"
                        )));
                    }
                },
            };
            o.done(format, &["interval", "count-col", "index-col"])?;
            AnySource::Counts(CountsReader::new(input, span.as_nanos(), column, index))
        }
        Format::Parquet => {
            // A Parquet footer is at the end: hold the whole (decompressed)
            // file. `open_file` maps a plain file instead.
            let mut bytes = Vec::new();
            input.read_to_end(&mut bytes)?;
            parquet_source(Whole::Bytes(bytes), o)?
        }
        Format::Csv | Format::Timestamped => {
            let head = input.fill_buf()?.to_vec();
            let m = mapping(&mut o, format, &head)?;
            o.done(format, &MAPPED_OPTIONS)?;
            AnySource::Mapped(MappedReader::new(input, &m)?)
        }
    };
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_bytes(
        bytes: Vec<u8>,
        name: &str,
        format: Option<Format>,
        opts: &str,
    ) -> Result<Opened, TraceError> {
        open(Box::new(std::io::Cursor::new(bytes)), name, format, opts)
    }

    fn count(mut o: Opened) -> u64 {
        let mut n = 0;
        while o.source.read().unwrap().is_some() {
            n += 1;
        }
        n
    }

    #[test]
    fn detects_formats_from_names_and_content() {
        let d = |name: &str, head: &str| detect(name, head.as_bytes()).map(Format::name);
        assert_eq!(d("x.csv", "t_ns,key\n1,2\n").unwrap(), "headroom");
        assert_eq!(
            d("trace.oracleGeneral.bin.zst", "").unwrap(),
            "oracleGeneral"
        );
        assert_eq!(
            d(
                "a.log",
                "h - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 1\n"
            )
            .unwrap(),
            "clf"
        );
        assert_eq!(
            d("n.csv", "minute_index,requests\n0,42\n").unwrap(),
            "counts"
        );
        assert_eq!(
            d(
                "az.csv",
                "TIMESTAMP,ContextTokens\n2023-11-16 18:17:03.97,4\n"
            )
            .unwrap(),
            "timestamped"
        );
        assert_eq!(d("ids.txt", "5\n7\n").unwrap(), "txt");
        let err = d("ids.dat", "5\n7\n").unwrap_err().to_string();
        assert!(
            err.contains("cannot tell the trace format") && err.contains("--format"),
            "{err}"
        );
        assert_eq!(d("x.parquet", "").unwrap(), "parquet");
        assert_eq!(d("x.bin", "PAR1").unwrap(), "parquet");
        assert!(matches!(detect("e.csv", b""), Err(TraceError::Empty)));
        assert!(
            Format::parse("arrow")
                .unwrap_err()
                .to_string()
                .contains("expected one of headroom")
        );
    }

    #[test]
    fn a_utf8_byte_order_mark_is_skipped_in_text_traces() {
        let text = b"\xEF\xBB\xBFt_ns,key\n1,2\n3,4\n".to_vec();
        let o = open_bytes(text.clone(), "bom.csv", None, "").unwrap();
        assert_eq!(o.format, Format::Headroom);
        assert_eq!(count(o), 2);
        let o = open_bytes(text, "bom.csv", Some(Format::Headroom), "").unwrap();
        assert_eq!(count(o), 2);
        let text = b"\xEF\xBB\xBFminute_index,requests\n0,1\n2,1\n".to_vec();
        let mut o = open_bytes(text, "bom.csv", None, "").unwrap();
        assert_eq!(o.format, Format::Counts);
        // The index column is found by name, past the mark: minute 2.
        o.source.read().unwrap();
        assert_eq!(
            o.source.read().unwrap().unwrap().at.as_nanos(),
            150_000_000_000
        );
        // Without a header the first count is data, not a header.
        let text = b"\xEF\xBB\xBF2\n1\n".to_vec();
        assert_eq!(
            count(open_bytes(text, "c", Some(Format::Counts), "").unwrap()),
            3
        );
        let text = b"\xEF\xBB\xBF5\n7\n".to_vec();
        let mut o = open_bytes(text, "ids.txt", None, "").unwrap();
        assert_eq!(o.format, Format::Txt);
        assert_eq!(o.source.read().unwrap().unwrap().key, 5);
    }

    #[test]
    fn gzip_and_zstd_are_transparent() {
        use std::io::Write;
        let text = b"t_ns,key\n1,2\n3,4\n".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        let o = open_bytes(gz.finish().unwrap(), "t.csv.gz", None, "").unwrap();
        assert_eq!(
            (o.compression, o.format),
            (Compression::Gzip, Format::Headroom)
        );
        assert_eq!(count(o), 2);
        let zst = zstd::encode_all(text.as_slice(), 3).unwrap();
        let o = open_bytes(zst, "t.csv.zst", None, "").unwrap();
        assert_eq!(o.compression, Compression::Zstd);
        assert_eq!(count(o), 2);
    }

    #[test]
    fn options_map_columns_and_unknown_options_are_named() {
        let text = b"version,time,op,size,lbn\n1,5,2a,512,42\n".to_vec();
        let opts = "time-col=2, obj-id-col=5, obj-size-col=4, has-header=true";
        let mut o = open_bytes(text.clone(), "c.csv", Some(Format::Csv), opts).unwrap();
        let r = o.source.read().unwrap().unwrap();
        assert_eq!(
            (r.at.as_nanos(), r.key, r.size_bytes),
            (5_000_000_000, 42, 512)
        );
        let err = open_bytes(
            text.clone(),
            "c.csv",
            Some(Format::Csv),
            "time-col=2,obj-col=5",
        )
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("format csv has no option \"obj-col\""),
            "{err}"
        );
        // The accepted list is every option the format reads, in order.
        assert!(
            err.to_string().ends_with(
                "accepted: time-col, obj-id-col, obj-size-col, op-col, client-col, region-col, \
                 route-col, status-col, latency-col, has-header, delimiter, obj-id-is-num, \
                 time-format, time-unit"
            ),
            "{err}"
        );
        let err = open_bytes(text, "c.csv", Some(Format::Csv), "")
            .err()
            .unwrap();
        assert!(err.to_string().contains("time-col"), "{err}");
    }
}
