//! The one error type of trace reading and writing.
//!
//! Every variant names where the problem is (row and column, or record and
//! byte offset), the bad value and what is accepted; the caller adds the file
//! name. Row numbers are 1-based: for text formats they are line numbers
//! (the header, when there is one, is row 1); for binary formats they are
//! record numbers.

/// A trace that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The underlying reader or writer failed (the error is in the message,
    /// not a `source`: an error chain printed with its causes would repeat
    /// it).
    #[error("trace I/O: {0}")]
    Io(std::io::Error),
    /// A row or record has a bad value.
    #[error("row {row}, {}: {value:?} is not {expected}", column_phrase(column))]
    Row {
        /// 1-based row (line for text, record number for binary formats).
        row: u64,
        /// Column (or binary field) name.
        column: String,
        /// The rejected text (cut to 200 bytes).
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A row ends before a column the format reads.
    #[error("row {row} has {found} {}; {column} is field {needed}", if *found == 1 { "field" } else { "fields" })]
    Short {
        /// 1-based row.
        row: u64,
        /// Fields in the row.
        found: usize,
        /// The column that is missing, as the reader names it (`` `time`
        /// (time-col=2) ``, "the object id").
        column: String,
        /// The 1-based field it is.
        needed: usize,
    },
    /// The header cannot be used.
    #[error("header {found:?}: {problem}")]
    Header {
        /// The header found.
        found: Vec<String>,
        /// What is wrong and what is accepted.
        problem: String,
    },
    /// A timestamp is earlier than the one before it.
    #[error(
        "row {row}: time {at_ns} ns is before the previous record's {previous_ns} ns; \
         timestamps must not go backwards (sort the trace, or allow reordering within \
         a window with --sort-window D)"
    )]
    Backwards {
        /// 1-based row of the offending record.
        row: u64,
        /// Its time.
        at_ns: u64,
        /// The previous record's time.
        previous_ns: u64,
    },
    /// A record arrives later than a sort window can reorder.
    #[error(
        "row {row}: time {at_ns} ns is more than the sort window ({window_ns} ns) before \
         the latest time seen ({latest_ns} ns); widen --sort-window"
    )]
    OutsideSortWindow {
        /// 1-based row of the offending record.
        row: u64,
        /// Its time.
        at_ns: u64,
        /// The latest time read so far.
        latest_ns: u64,
        /// The window.
        window_ns: u64,
    },
    /// A binary trace ends in the middle of a record.
    #[error(
        "record {record} (byte offset {offset}) is truncated: {got} of {record_len} bytes; \
         the file is cut short or is not in this format"
    )]
    Truncated {
        /// 1-based number of the incomplete record.
        record: u64,
        /// Byte offset where it starts.
        offset: u64,
        /// Bytes present.
        got: usize,
        /// Bytes a record has.
        record_len: usize,
    },
    /// The trace has no records.
    #[error("the trace has no records")]
    Empty,
    /// The format or its options are not usable.
    #[error("{0}")]
    Format(String),
}

impl From<std::io::Error> for TraceError {
    fn from(e: std::io::Error) -> Self {
        TraceError::Io(e)
    }
}

impl TraceError {
    /// A [`TraceError::Row`], with `value` shown lossily and cut to 200 bytes.
    pub fn row(row: u64, column: &str, value: &[u8], expected: impl Into<String>) -> Self {
        let shown = &value[..value.len().min(200)];
        TraceError::Row {
            row,
            column: column.to_owned(),
            value: String::from_utf8_lossy(shown).into_owned(),
            expected: expected.into(),
        }
    }

    /// Whether this error concerns one row only, so that a reader can skip
    /// the row and go on (`--skip-bad-rows`).
    pub fn is_row_error(&self) -> bool {
        matches!(self, TraceError::Row { .. } | TraceError::Short { .. })
    }
}

/// Whether `column` is the name the readers give a column without a header
/// name: its 1-based position, `column 4`.
pub(crate) fn is_unnamed(column: &str) -> bool {
    column
        .strip_prefix("column ")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// How a message names a column: ``column `size` `` by its header name,
/// `column 4` by its position when it has no name.
fn column_phrase(column: &str) -> String {
    if is_unnamed(column) {
        column.to_owned()
    } else {
        format!("column `{column}`")
    }
}

impl From<csv::Error> for TraceError {
    fn from(e: csv::Error) -> Self {
        let row = e.position().map_or(0, csv::Position::line);
        match e.into_kind() {
            csv::ErrorKind::Io(io) => TraceError::Io(io),
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => TraceError::Row {
                row,
                column: "*".to_owned(),
                value: format!("{len} fields"),
                expected: format!("a row of {expected_len} fields, as the header"),
            },
            csv::ErrorKind::Utf8 { err, .. } => TraceError::Row {
                row,
                column: format!("field {}", err.field() + 1),
                value: "invalid UTF-8".to_owned(),
                expected: "UTF-8 text".to_owned(),
            },
            other => TraceError::Row {
                row,
                column: "*".to_owned(),
                value: format!("{other:?}"),
                expected: "a CSV row".to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TraceError;

    #[test]
    fn an_io_error_is_named_once() {
        let e = TraceError::from(std::io::Error::other("disk on fire"));
        // In the message and not also a `source`, which a printed error
        // chain would repeat.
        assert_eq!(e.to_string(), "trace I/O: disk on fire");
        assert!(std::error::Error::source(&e).is_none());
    }
}
