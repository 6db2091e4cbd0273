//! Headroom trace records and streaming trace readers and writers.
//!
//! A trace is a time-ordered sequence of requests. Every reader yields the
//! same [`Record`] (time, key, operation, size, and optionally client,
//! region, route, status and latency) and holds only the current row or
//! record, never the file, so reading a trace of any length takes bounded
//! memory. Readers are handed a `Read` (or, for Parquet, whose footer is at
//! the end, an open `File` to map: [`open_file`]); this crate opens no
//! files.
//!
//! Headroom's own format, written by the sidecar's access log and by
//! `headroom trace convert`, is a CSV whose schema is documented in
//! [`format::headroom`]. Format readers implement [`Source`]; [`Checked`]
//! wraps one to enforce time order (or reorder within a window), skip and
//! count bad rows on request, and refuse an empty trace.
//!
//! Every error names the row (1-based; for text formats the line, the header
//! being row 1; for binary formats the record number), the column, the bad
//! value and what is accepted.

mod check;
mod error;
pub mod format;
mod open;
mod record;
pub mod time;

pub use check::{CheckOptions, Checked, SORT_WINDOW_LIMIT, Source};
pub use error::TraceError;
pub use format::headroom::{CsvReader, CsvWriter, HEADER, Row};
pub use headroom_policy::time::Timestamp;
pub use open::{
    AnySource, Compression, Format, FormatOptions, Input, Opened, detect, open, open_file,
};
pub use record::{NameError, NameId, Names, Op, Record, fnv1a64, key_of, parse_u64};
