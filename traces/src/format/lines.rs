//! Line-oriented formats: libCacheSim `txt` (one object id per line) and
//! per-interval count series (one request count per line or per CSV row, as
//! the NASA HTTP per-second and per-minute series).

use std::io::BufRead;

use headroom_policy::time::Timestamp;

use crate::record::{key_of, parse_u64};
use crate::{Names, Record, Source, TraceError};

/// Reads one line (without `\n` or `\r\n`) into `buf`; false at the end.
pub(crate) fn next_line<R: BufRead>(input: &mut R, buf: &mut Vec<u8>) -> Result<bool, TraceError> {
    buf.clear();
    if input.read_until(b'\n', buf)? == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(true)
}

/// libCacheSim `txt`: one object id per line (an integer, or text hashed
/// with FNV-1a). Records have no time (all at 0, [`Source::timed`] is
/// false) and no size; blank lines are skipped.
pub struct TxtReader<R: BufRead> {
    input: R,
    line: Vec<u8>,
    row: u64,
    names: Names,
}

impl<R: BufRead> TxtReader<R> {
    /// A reader over `input`.
    pub fn new(input: R) -> Self {
        TxtReader {
            input,
            line: Vec::new(),
            row: 0,
            names: Names::new(),
        }
    }
}

impl<R: BufRead> Source for TxtReader<R> {
    fn read(&mut self) -> Result<Option<Record>, TraceError> {
        loop {
            if !next_line(&mut self.input, &mut self.line)? {
                return Ok(None);
            }
            self.row += 1;
            let id = self.line.trim_ascii();
            if !id.is_empty() {
                return Ok(Some(Record::new(Timestamp::ZERO, key_of(id), 0)));
            }
        }
    }

    fn row(&self) -> u64 {
        self.row
    }

    fn names(&self) -> &Names {
        &self.names
    }

    fn timed(&self) -> bool {
        false
    }
}

/// The largest request count of one interval, per nanosecond of the
/// interval: one request per nanosecond, the simulator's maximum arrival
/// rate (`headroom_models::plan::limits::MAX_RATE`, 1e9 requests per
/// second) and the finest spacing records at integer nanoseconds can have.
/// A larger count is no trace a run could replay (it is most often a
/// timestamp or an id read as a count) and would take hours to expand.
pub const MAX_COUNT_PER_NS: u64 = 1;

/// Where a count series' interval index is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IndexCol {
    /// From the header: a column named `index`, `*_index`, `interval`,
    /// `minute`, `second` or `hour` (any case); without a header, the first
    /// of two or more columns when the count is in another.
    #[default]
    Auto,
    /// No index: rows are consecutive intervals.
    None,
    /// This column (0-based).
    At(usize),
}

/// A per-interval count series: interval `i` (0-based) holding `c`
/// requests becomes `c` records spread evenly over it, at
/// `i * interval + (j + 1/2) * interval / c` for `j` in `0..c` (integer
/// nanoseconds), so per-interval counts are exact and nothing is random.
/// Each line is a count, or a CSV row whose `column` (0-based, default the
/// last) is the count; a first line that is not a number is a header.
///
/// The interval index `i` is read from the index column ([`IndexCol`]), or
/// is the row's position when there is none. Indices are non-negative
/// integers that strictly increase; a skipped index is an interval with no
/// requests (series built by grouping requests per interval leave empty
/// intervals out). A count above one per nanosecond of the interval
/// ([`MAX_COUNT_PER_NS`]) is refused. Records have key 0 and no size.
/// Memory is one line, whatever the counts.
pub struct CountsReader<R: BufRead> {
    input: R,
    line: Vec<u8>,
    row: u64,
    interval_ns: u64,
    column: Option<usize>,
    index: IndexCol,
    /// Column names from the header, for messages.
    header: Vec<String>,
    /// Current interval: index, count, next record within it.
    interval: u64,
    count: u64,
    emitted: u64,
    started: bool,
    names: Names,
}

impl<R: BufRead> CountsReader<R> {
    /// A reader of counts per `interval_ns` (> 0), in `column` (0-based; `None`
    /// = the last column), with the interval index found by `index`.
    pub fn new(input: R, interval_ns: u64, column: Option<usize>, index: IndexCol) -> Self {
        CountsReader {
            input,
            line: Vec::new(),
            row: 0,
            interval_ns: interval_ns.max(1),
            column,
            index,
            header: Vec::new(),
            interval: 0,
            count: 0,
            emitted: 0,
            started: false,
            names: Names::new(),
        }
    }

    fn fields(&self) -> impl DoubleEndedIterator<Item = &[u8]> + Clone {
        self.line.split(|&b| b == b',')
    }

    /// The count column (0-based) of the current line.
    fn count_col(&self) -> usize {
        self.column
            .unwrap_or_else(|| self.fields().count().saturating_sub(1))
    }

    fn col_name(&self, i: usize, default: &str) -> String {
        match self.header.get(i) {
            Some(h) if !h.is_empty() => h.clone(),
            _ if self.fields().count() <= 1 => default.to_owned(),
            _ => format!("column {}", i + 1),
        }
    }

    /// The trimmed cell `i`, or a row error naming the row's width.
    fn cell(&self, i: usize, what: &str) -> Result<&[u8], TraceError> {
        let n = self.fields().count();
        match self.fields().nth(i) {
            Some(c) => Ok(c.trim_ascii()),
            None => Err(TraceError::Short {
                row: self.row,
                found: n,
                column: format!("the {what}"),
                needed: i + 1,
            }),
        }
    }

    /// Reads a header line: its names, and the index column by name.
    fn read_header(&mut self) {
        self.header = self
            .fields()
            .map(|h| String::from_utf8_lossy(h.trim_ascii()).into_owned())
            .collect();
        if self.index == IndexCol::Auto {
            let count_col = self.count_col();
            self.index = self
                .header
                .iter()
                .enumerate()
                .find(|&(i, h)| i != count_col && is_index_name(h))
                .map_or(IndexCol::None, |(i, _)| IndexCol::At(i));
        }
    }

    /// Parses the current line into (interval index, count).
    fn parse_row(&mut self) -> Result<(u64, u64), TraceError> {
        let count_col = self.count_col();
        if self.index == IndexCol::Auto {
            // No header: the first column indexes when there are several.
            self.index = if count_col > 0 {
                IndexCol::At(0)
            } else {
                IndexCol::None
            };
        }
        let cell = self.cell(count_col, "request count")?;
        let count = parse_u64(cell).ok_or_else(|| {
            TraceError::row(
                self.row,
                &self.col_name(count_col, "count"),
                cell,
                "a request count (unsigned integer)",
            )
        })?;
        let max = self.interval_ns.saturating_mul(MAX_COUNT_PER_NS);
        if count > max {
            return Err(TraceError::row(
                self.row,
                &self.col_name(count_col, "count"),
                cell,
                format!(
                    "a request count of at most {max} (one request per nanosecond of the \
                     {} interval: the simulator's maximum rate of 1e9 requests per second)",
                    headroom_policy::time::Span::from_nanos(self.interval_ns)
                ),
            ));
        }
        let index = match self.index {
            IndexCol::At(i) => {
                let cell = self.cell(i, "interval index")?;
                let name = self.col_name(i, "index");
                let index = parse_u64(cell).ok_or_else(|| {
                    TraceError::row(
                        self.row,
                        &name,
                        cell,
                        "an interval index (a non-negative integer; give --trace-opts \
                         index-col=N for another column, or index-col=none to take rows as \
                         consecutive intervals)",
                    )
                })?;
                if self.started && index <= self.interval {
                    return Err(TraceError::row(
                        self.row,
                        &name,
                        cell,
                        format!(
                            "an interval index after the previous row's {} (indices must \
                             strictly increase)",
                            self.interval
                        ),
                    ));
                }
                index
            }
            _ if self.started => self.interval + 1,
            _ => 0,
        };
        let end = (u128::from(index) + 1) * u128::from(self.interval_ns);
        if end > u128::from(u64::MAX) {
            let name = match self.index {
                IndexCol::At(i) => self.col_name(i, "index"),
                _ => "index".to_owned(),
            };
            return Err(TraceError::row(
                self.row,
                &name,
                index.to_string().as_bytes(),
                "an interval index whose interval ends within 584 years of time zero",
            ));
        }
        Ok((index, count))
    }
}

/// Whether a header name is an interval index's.
fn is_index_name(h: &str) -> bool {
    let h = h.to_ascii_lowercase();
    h == "index"
        || h.ends_with("_index")
        || matches!(h.as_str(), "interval" | "minute" | "second" | "hour")
}

impl<R: BufRead> Source for CountsReader<R> {
    fn read(&mut self) -> Result<Option<Record>, TraceError> {
        while self.emitted == self.count {
            if !next_line(&mut self.input, &mut self.line)? {
                return Ok(None);
            }
            self.row += 1;
            if self.row == 1 {
                let cell = self.fields().nth(self.count_col()).unwrap_or(b"");
                if parse_u64(cell.trim_ascii()).is_none() {
                    self.read_header();
                    continue;
                }
            }
            if self.line.trim_ascii().is_empty() {
                continue;
            }
            let (index, count) = self.parse_row()?;
            self.interval = index;
            self.started = true;
            self.count = count;
            self.emitted = 0;
        }
        // Cannot overflow: `parse_row` checked that the interval ends in u64.
        let start = u128::from(self.interval) * u128::from(self.interval_ns);
        let offset = (2 * u128::from(self.emitted) + 1) * u128::from(self.interval_ns)
            / (2 * u128::from(self.count));
        self.emitted += 1;
        let at = u64::try_from(start + offset)
            .map_err(|_| TraceError::Format("count series longer than 584 years".to_owned()))?;
        Ok(Some(Record::new(Timestamp::from_nanos(at), 0, 0)))
    }

    fn row(&self) -> u64 {
        self.row
    }

    fn names(&self) -> &Names {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all<S: Source>(mut s: S) -> Result<Vec<Record>, TraceError> {
        let mut v = Vec::new();
        while let Some(r) = s.read()? {
            v.push(r);
        }
        Ok(v)
    }

    #[test]
    fn txt_ids_are_keys_without_time() {
        let r = all(TxtReader::new("5\n/a\n\n5\r\n".as_bytes())).unwrap();
        assert_eq!(
            r.iter().map(|r| r.key).collect::<Vec<_>>(),
            [5, crate::fnv1a64(b"/a"), 5]
        );
        assert!(!TxtReader::new(&b""[..]).timed());
    }

    const MINUTE: u64 = 60_000_000_000;

    fn counts(text: &str, index: IndexCol) -> Result<Vec<u64>, TraceError> {
        let r = all(CountsReader::new(text.as_bytes(), MINUTE, None, index))?;
        Ok(r.iter().map(|r| r.at.as_nanos()).collect())
    }

    #[test]
    fn counts_spread_evenly_and_keep_per_interval_totals() {
        let r = all(CountsReader::new(
            "2\n0\n1\n".as_bytes(),
            1_000,
            None,
            IndexCol::Auto,
        ))
        .unwrap();
        let t: Vec<u64> = r.iter().map(|r| r.at.as_nanos()).collect();
        assert_eq!(t, [250, 750, 2_500]);
        let csv = "minute_index,requests\n0,3\n1,0\n2,1\n";
        let r = all(CountsReader::new(
            csv.as_bytes(),
            MINUTE,
            None,
            IndexCol::Auto,
        ))
        .unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[3].at.as_nanos(), 150_000_000_000);
        let err = all(CountsReader::new(
            "1\nx\n".as_bytes(),
            1,
            None,
            IndexCol::Auto,
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 2, column `count`: \"x\" is not a request count (unsigned integer)"
        );
    }

    #[test]
    fn a_count_above_one_per_nanosecond_is_refused_before_any_record() {
        // Found by fuzzing: a trillion requests in a minute expanded for
        // hours (and `trace convert` filled the disk).
        let err = counts(
            "minute_index,requests\n0,1000000000000\n1,5\n",
            IndexCol::Auto,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "row 2, column `requests`: \"1000000000000\" is not a request count of at most \
             60000000000 (one request per nanosecond of the 1m interval: the simulator's \
             maximum rate of 1e9 requests per second)"
        );
        // The bound itself is accepted (one record per nanosecond).
        let r = all(CountsReader::new("4\n".as_bytes(), 4, None, IndexCol::Auto)).unwrap();
        assert_eq!(
            r.iter().map(|r| r.at.as_nanos()).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        // A Unix timestamp in ns read as a per-second count.
        let err = all(CountsReader::new(
            "t_ns,key\n1700000000000000000,5\n".as_bytes(),
            1_000_000_000,
            Some(0),
            IndexCol::Auto,
        ))
        .unwrap_err();
        assert!(err.to_string().starts_with("row 2, column `t_ns`"), "{err}");
    }

    #[test]
    fn the_index_column_places_intervals_and_a_gap_is_empty_intervals() {
        // Minute 10, not minute 1: the nine minutes between had no requests.
        let t = counts("minute_index,requests\n0,1\n10,1\n", IndexCol::Auto).unwrap();
        assert_eq!(t, [MINUTE / 2, 10 * MINUTE + MINUTE / 2]);
        // Without a header the first of two columns is the index.
        assert_eq!(
            counts("3,1\n", IndexCol::Auto).unwrap(),
            [3 * MINUTE + MINUTE / 2]
        );
        // index-col=none: rows are consecutive whatever the first column says.
        let t = counts("minute_index,requests\n0,1\n10,1\n", IndexCol::None).unwrap();
        assert_eq!(t, [MINUTE / 2, MINUTE + MINUTE / 2]);
        // A header with no index name: rows are consecutive.
        let t = counts("day,requests\nmon,1\ntue,1\n", IndexCol::Auto).unwrap();
        assert_eq!(t, [MINUTE / 2, MINUTE + MINUTE / 2]);
        // Both columns named by number.
        let r = all(CountsReader::new(
            "requests,slot\n1,4\n".as_bytes(),
            MINUTE,
            Some(0),
            IndexCol::At(1),
        ))
        .unwrap();
        assert_eq!(r[0].at.as_nanos(), 4 * MINUTE + MINUTE / 2);
    }

    #[test]
    fn backwards_duplicate_and_negative_indices_are_refused() {
        let msg = |text: &str| counts(text, IndexCol::Auto).unwrap_err().to_string();
        assert_eq!(
            msg("minute_index,requests\n5,1\n3,1\n"),
            "row 3, column `minute_index`: \"3\" is not an interval index after the previous \
             row's 5 (indices must strictly increase)"
        );
        assert!(
            msg("minute_index,requests\n5,1\n5,1\n").starts_with(
                "row 3, column `minute_index`: \"5\" is not an interval index after the previous"
            ),
            "{}",
            msg("minute_index,requests\n5,1\n5,1\n")
        );
        assert!(
            msg("minute_index,requests\n0,1\n-1,1\n")
                .starts_with("row 3, column `minute_index`: \"-1\" is not an interval index"),
            "{}",
            msg("minute_index,requests\n0,1\n-1,1\n")
        );
        // An index whose interval would end past u64 nanoseconds.
        assert!(
            msg("minute_index,requests\n0,1\n400000000,1\n").contains("within 584 years"),
            "{}",
            msg("minute_index,requests\n0,1\n400000000,1\n")
        );
        // A count column past the row's end.
        let err = all(CountsReader::new(
            "a,b\n1,2\n".as_bytes(),
            1,
            Some(4),
            IndexCol::None,
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(err, "row 2 has 2 fields; the request count is field 5");
    }

    #[test]
    fn a_skipped_bad_row_leaves_the_series_in_order() {
        use crate::{CheckOptions, Checked};
        let text = "minute_index,requests\n0,1\n0,1\n2,1\n";
        let reader = CountsReader::new(text.as_bytes(), MINUTE, None, IndexCol::Auto);
        let mut c = Checked::new(
            reader,
            CheckOptions {
                skip_bad_rows: true,
                sort_window_ns: None,
            },
        );
        let mut t = Vec::new();
        while let Some(r) = c.read().unwrap() {
            t.push(r.at.as_nanos());
        }
        assert_eq!(t, [MINUTE / 2, 2 * MINUTE + MINUTE / 2]);
        assert_eq!(c.skipped(), 1);
    }
}
