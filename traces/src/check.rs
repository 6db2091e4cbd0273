//! The checks every trace gets, whatever its format: time order (or bounded
//! reordering), skipping bad rows on request, and refusing an empty trace.
//!
//! Format readers implement [`Source`]; [`Checked`] wraps one and is what
//! consumers iterate.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::{Names, Record, TraceError};

/// A format reader: yields records in file order and knows where it is.
pub trait Source {
    /// The next record in file order, `Ok(None)` at the end. After a
    /// [`TraceError::Row`] error the source can be read on (the row is
    /// skipped); after any other error it must not be.
    ///
    /// # Errors
    /// Bad rows, bad records, I/O.
    fn read(&mut self) -> Result<Option<Record>, TraceError>;

    /// 1-based row (line, or record number for binary formats) of the last
    /// record read.
    fn row(&self) -> u64;

    /// Region and route names seen so far.
    fn names(&self) -> &Names;

    /// Whether records carry real timestamps (false for formats that are a
    /// bare sequence of keys, whose records are all at time zero).
    fn timed(&self) -> bool {
        true
    }
}

/// How [`Checked`] treats imperfect input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// Skip rows with bad values and count them, instead of failing on the
    /// first.
    pub skip_bad_rows: bool,
    /// Reorder records whose timestamps go back by at most this many
    /// nanoseconds; `None` = timestamps must be non-decreasing.
    pub sort_window_ns: Option<u64>,
}

/// At most this many records are held to reorder within a sort window.
pub const SORT_WINDOW_LIMIT: usize = 1 << 22;

/// A [`Source`] with the checks applied: iterate it for records in
/// non-decreasing time order.
pub struct Checked<S> {
    source: S,
    options: CheckOptions,
    last_ns: u64,
    records: u64,
    skipped: u64,
    first_skipped: Option<String>,
    window: BinaryHeap<Reverse<Pending>>,
    latest_ns: u64,
    seq: u64,
    /// The source has ended (windowed mode drains the window after it).
    ended: bool,
    empty_reported: bool,
}

impl<S: Source> Checked<S> {
    /// Wraps `source`.
    pub fn new(source: S, options: CheckOptions) -> Self {
        Checked {
            source,
            options,
            last_ns: 0,
            records: 0,
            skipped: 0,
            first_skipped: None,
            window: BinaryHeap::new(),
            latest_ns: 0,
            seq: 0,
            ended: false,
            empty_reported: false,
        }
    }

    /// Rows skipped as bad so far (with `skip_bad_rows`).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The error of the first skipped row, for the report.
    pub fn first_skipped(&self) -> Option<&str> {
        self.first_skipped.as_deref()
    }

    /// Records yielded so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The region and route names seen so far.
    pub fn names(&self) -> &Names {
        self.source.names()
    }

    /// Whether the records carry real timestamps.
    pub fn timed(&self) -> bool {
        self.source.timed()
    }

    /// The wrapped source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The next record in time order, `Ok(None)` at the end.
    ///
    /// # Errors
    /// [`TraceError::Empty`] at the end of a trace without records; the
    /// source's errors (row errors only when not skipping); time order
    /// violations.
    pub fn read(&mut self) -> Result<Option<Record>, TraceError> {
        let next = match self.options.sort_window_ns {
            None => self.read_in_order()?,
            Some(window_ns) => self.read_windowed(window_ns)?,
        };
        match next {
            Some(record) => {
                self.records += 1;
                Ok(Some(record))
            }
            None if self.records == 0 && !self.empty_reported => {
                self.empty_reported = true;
                Err(TraceError::Empty)
            }
            None => Ok(None),
        }
    }

    fn read_good(&mut self) -> Result<Option<Record>, TraceError> {
        loop {
            match self.source.read() {
                Err(e) if self.options.skip_bad_rows && e.is_row_error() => {
                    self.skipped += 1;
                    if self.first_skipped.is_none() {
                        self.first_skipped = Some(e.to_string());
                    }
                }
                other => return other,
            }
        }
    }

    fn read_in_order(&mut self) -> Result<Option<Record>, TraceError> {
        let Some(record) = self.read_good()? else {
            return Ok(None);
        };
        let at_ns = record.at.as_nanos();
        if at_ns < self.last_ns {
            return Err(TraceError::Backwards {
                row: self.source.row(),
                at_ns,
                previous_ns: self.last_ns,
            });
        }
        self.last_ns = at_ns;
        Ok(Some(record))
    }

    fn read_windowed(&mut self, window_ns: u64) -> Result<Option<Record>, TraceError> {
        loop {
            if let Some(Reverse(top)) = self.window.peek()
                && (self.ended || top.at_ns.saturating_add(window_ns) <= self.latest_ns)
            {
                let Reverse(p) = self.window.pop().expect("peeked");
                return Ok(Some(p.record));
            }
            if self.ended {
                return Ok(None);
            }
            let Some(record) = self.read_good()? else {
                self.ended = true;
                continue;
            };
            let at_ns = record.at.as_nanos();
            if at_ns.saturating_add(window_ns) < self.latest_ns {
                return Err(TraceError::OutsideSortWindow {
                    row: self.source.row(),
                    at_ns,
                    latest_ns: self.latest_ns,
                    window_ns,
                });
            }
            if self.window.len() >= SORT_WINDOW_LIMIT {
                return Err(TraceError::Format(format!(
                    "the sort window holds more than {SORT_WINDOW_LIMIT} records; use a \
                     shorter --sort-window or sort the trace first"
                )));
            }
            self.latest_ns = self.latest_ns.max(at_ns);
            self.seq += 1;
            self.window.push(Reverse(Pending {
                at_ns,
                seq: self.seq,
                record,
            }));
        }
    }
}

impl<S: Source> Iterator for Checked<S> {
    type Item = Result<Record, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read().transpose()
    }
}

/// A record waiting in the sort window, ordered by time then arrival.
struct Pending {
    at_ns: u64,
    seq: u64,
    record: Record,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ns, self.seq) == (other.at_ns, other.seq)
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at_ns, self.seq).cmp(&(other.at_ns, other.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CsvReader;

    fn checked(text: &str, options: CheckOptions) -> Checked<CsvReader<&[u8]>> {
        Checked::new(CsvReader::new(text.as_bytes()).unwrap(), options)
    }

    fn times(c: &mut Checked<CsvReader<&[u8]>>) -> Result<Vec<u64>, TraceError> {
        c.by_ref().map(|r| r.map(|r| r.at.as_nanos())).collect()
    }

    #[test]
    fn backwards_time_is_an_error_naming_the_row() {
        let mut c = checked("t_ns\n10\n20\n15\n", CheckOptions::default());
        let err = times(&mut c).unwrap_err();
        assert!(matches!(
            err,
            TraceError::Backwards {
                row: 4,
                at_ns: 15,
                previous_ns: 20
            }
        ));
        assert!(err.to_string().contains("--sort-window"));
    }

    #[test]
    fn a_sort_window_reorders_stably_and_bounds_the_lateness() {
        let options = CheckOptions {
            sort_window_ns: Some(10),
            ..CheckOptions::default()
        };
        let mut c = checked("t_ns,key\n10,1\n20,2\n15,3\n15,4\n40,5\n31,6\n", options);
        let records: Vec<Record> = c.by_ref().collect::<Result<_, _>>().unwrap();
        let order: Vec<(u64, u64)> = records.iter().map(|r| (r.at.as_nanos(), r.key)).collect();
        assert_eq!(
            order,
            [(10, 1), (15, 3), (15, 4), (20, 2), (31, 6), (40, 5)]
        );
        let mut c = checked("t_ns\n10\n30\n19\n", options);
        let err = times(&mut c).unwrap_err();
        assert!(
            matches!(err, TraceError::OutsideSortWindow { row: 4, .. }),
            "{err}"
        );
    }

    #[test]
    fn bad_rows_fail_or_are_skipped_and_counted() {
        let text = "t_ns,op\n1,read\n2,oops\n3,nope\n4,write\n";
        let mut c = checked(text, CheckOptions::default());
        assert!(times(&mut c).unwrap_err().is_row_error());
        let options = CheckOptions {
            skip_bad_rows: true,
            ..CheckOptions::default()
        };
        let mut c = checked(text, options);
        assert_eq!(times(&mut c).unwrap(), [1, 4]);
        assert_eq!(c.skipped(), 2);
        assert!(c.first_skipped().unwrap().starts_with("row 3, column `op`"));
    }

    #[test]
    fn an_empty_trace_is_an_error_once() {
        for options in [
            CheckOptions::default(),
            CheckOptions {
                sort_window_ns: Some(5),
                skip_bad_rows: true,
            },
        ] {
            let mut c = checked("t_ns,key\n", options);
            assert!(matches!(c.next(), Some(Err(TraceError::Empty))));
            assert!(c.next().is_none());
        }
    }
}
