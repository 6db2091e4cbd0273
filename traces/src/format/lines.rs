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

/// A per-interval count series: interval `i` (0-based) holding `c`
/// requests becomes `c` records spread evenly over it, at
/// `i * interval + (j + 1/2) * interval / c` for `j` in `0..c` (integer
/// nanoseconds), so per-interval counts are exact and nothing is random.
/// Each line is a count, or a CSV row whose `column` (0-based, default the
/// last) is the count; a first line that is not a number is a header.
/// Records have key 0 and no size. Memory is one line, whatever the counts.
pub struct CountsReader<R: BufRead> {
    input: R,
    line: Vec<u8>,
    row: u64,
    interval_ns: u64,
    column: Option<usize>,
    /// Current interval: index, count, next record within it.
    interval: u64,
    count: u64,
    emitted: u64,
    started: bool,
    names: Names,
}

impl<R: BufRead> CountsReader<R> {
    /// A reader of counts per `interval_ns` (> 0), in `column` (0-based; `None`
    /// = the last column).
    pub fn new(input: R, interval_ns: u64, column: Option<usize>) -> Self {
        CountsReader {
            input,
            line: Vec::new(),
            row: 0,
            interval_ns: interval_ns.max(1),
            column,
            interval: 0,
            count: 0,
            emitted: 0,
            started: false,
            names: Names::new(),
        }
    }

    fn cell(&self) -> &[u8] {
        let mut fields = self.line.split(|&b| b == b',');
        let cell = match self.column {
            Some(c) => fields.clone().nth(c).unwrap_or(b""),
            None => fields.next_back().unwrap_or(b""),
        };
        cell.trim_ascii()
    }
}

impl<R: BufRead> Source for CountsReader<R> {
    fn read(&mut self) -> Result<Option<Record>, TraceError> {
        while self.emitted == self.count {
            if !next_line(&mut self.input, &mut self.line)? {
                return Ok(None);
            }
            self.row += 1;
            let cell = self.cell();
            let Some(count) = parse_u64(cell) else {
                if self.row == 1 {
                    continue; // header
                }
                let column = self
                    .column
                    .map_or("count".to_owned(), |c| format!("column {}", c + 1));
                return Err(TraceError::row(
                    self.row,
                    &column,
                    cell,
                    "a request count (unsigned integer)",
                ));
            };
            if self.started {
                self.interval += 1;
            }
            self.started = true;
            self.count = count;
            self.emitted = 0;
        }
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

    #[test]
    fn counts_spread_evenly_and_keep_per_interval_totals() {
        let r = all(CountsReader::new("2\n0\n1\n".as_bytes(), 1_000, None)).unwrap();
        let t: Vec<u64> = r.iter().map(|r| r.at.as_nanos()).collect();
        assert_eq!(t, [250, 750, 2_500]);
        let csv = "minute_index,requests\n0,3\n1,0\n2,1\n";
        let r = all(CountsReader::new(csv.as_bytes(), 60_000_000_000, None)).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[3].at.as_nanos(), 150_000_000_000);
        let err = all(CountsReader::new("1\nx\n".as_bytes(), 1, None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 2, column `count`: \"x\" is not a request count (unsigned integer)"
        );
    }
}
