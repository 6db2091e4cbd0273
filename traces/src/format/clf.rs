//! NCSA Common and Combined Log Format (Apache and nginx access logs):
//!
//! ```text
//! host ident authuser [01/Jul/1995:00:00:01 -0400] "GET /history/apollo/ HTTP/1.0" 200 6245 ["referer" "agent"]
//! ```
//!
//! A line becomes a record at the bracketed time, keyed by the FNV-1a hash of
//! the request path ([`key_of`](crate::key_of)), with `size_bytes` the
//! response bytes (`-` = 0), `client` the hashed host, `status`, and `op`
//! read for GET, HEAD and OPTIONS, write for every other method. A request
//! with a single token (`"GET"` or a bare path, as in old logs) uses it as
//! the path.

use std::io::BufRead;

use headroom_policy::time::Timestamp;

use super::lines::next_line;
use crate::record::{key_of, parse_u64};
use crate::time::TimeFormat;
use crate::{Names, Op, Record, Source, TraceError};

/// Streams [`Record`]s from an access log.
pub struct ClfReader<R: BufRead> {
    input: R,
    line: Vec<u8>,
    row: u64,
    names: Names,
}

impl<R: BufRead> ClfReader<R> {
    /// A reader over `input`.
    pub fn new(input: R) -> Self {
        ClfReader {
            input,
            line: Vec::new(),
            row: 0,
            names: Names::new(),
        }
    }
}

/// Whether `line` looks like an access-log line (for format detection).
pub fn looks_like_clf(line: &[u8]) -> bool {
    parse(line, 0).is_ok()
}

fn find(hay: &[u8], from: usize, needle: u8) -> Option<usize> {
    hay.get(from..)?
        .iter()
        .position(|&b| b == needle)
        .map(|i| i + from)
}

fn parse(line: &[u8], row: u64) -> Result<Record, TraceError> {
    let bad =
        |column: &str, value: &[u8], expected: &str| TraceError::row(row, column, value, expected);
    let host_end = find(line, 0, b' ').ok_or_else(|| bad("line", line, "an access-log line"))?;
    let open = find(line, host_end, b'[').ok_or_else(|| bad("time", line, "a [date] field"))?;
    let close = find(line, open, b']').ok_or_else(|| bad("time", line, "a [date] field"))?;
    let date = &line[open + 1..close];
    let at = TimeFormat::Clf
        .to_ns(date)
        .ok_or_else(|| bad("time", date, TimeFormat::Clf.describe()))?;
    let q1 = find(line, close, b'"')
        .ok_or_else(|| bad("request", &line[close..], "a quoted request"))?;
    // The request ends at the quote followed by ` <status> `.
    let mut q2 = q1;
    let (status, rest) = loop {
        q2 = find(line, q2 + 1, b'"')
            .ok_or_else(|| bad("request", &line[q1..], "a quoted request"))?;
        let after = line[q2 + 1..].trim_ascii_start();
        let end = after.iter().position(|&b| b == b' ').unwrap_or(after.len());
        if let Some(s) = parse_u64(&after[..end]).filter(|s| (100..1000).contains(s)) {
            break (s as u16, &after[end..]);
        }
    };
    let request = &line[q1 + 1..q2];
    let mut tokens = request.split(|&b| b == b' ').filter(|t| !t.is_empty());
    let first = tokens.next().unwrap_or(b"");
    let (method, path) = match tokens.next() {
        Some(path) => (first, path),
        None => (&b"GET"[..], first),
    };
    let op = match method {
        b"GET" | b"HEAD" | b"OPTIONS" => Op::Read,
        _ => Op::Write,
    };
    let bytes = rest.trim_ascii_start();
    let bytes = &bytes[..bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len())];
    let size_bytes = match bytes {
        b"-" | b"" => 0,
        b => parse_u64(b).ok_or_else(|| bad("bytes", b, "a byte count or `-`"))?,
    };
    Ok(Record {
        at: Timestamp::from_nanos(at),
        key: key_of(path),
        op,
        size_bytes,
        client: Some(key_of(&line[..host_end])),
        region: None,
        route: None,
        status: Some(status),
        latency_ns: None,
    })
}

impl<R: BufRead> Source for ClfReader<R> {
    fn read(&mut self) -> Result<Option<Record>, TraceError> {
        loop {
            if !next_line(&mut self.input, &mut self.line)? {
                return Ok(None);
            }
            self.row += 1;
            if !self.line.trim_ascii().is_empty() {
                return parse(&self.line, self.row).map(Some);
            }
        }
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
    use crate::fnv1a64;

    #[test]
    fn common_and_combined_lines() {
        let log = "199.72.81.55 - - [01/Jul/1995:00:00:01 -0400] \"GET /history/apollo/ HTTP/1.0\" 200 6245\n\
                   10.0.0.1 - frank [01/Jul/1995:00:00:02 -0400] \"POST /api/x?y=\\\"z\\\" HTTP/1.1\" 503 - \"http://r/\" \"curl/8\"\n\
                   unicomp6.unicomp.net - - [01/Jul/1995:00:00:06 -0400] \"GET /shuttle/countdown/\" 304 0\n";
        let mut r = ClfReader::new(log.as_bytes());
        let a = r.read().unwrap().unwrap();
        assert_eq!(a.at.as_nanos(), 804_571_201_000_000_000);
        assert_eq!(
            (a.key, a.size_bytes, a.status, a.op),
            (fnv1a64(b"/history/apollo/"), 6245, Some(200), Op::Read)
        );
        assert_eq!(a.client, Some(fnv1a64(b"199.72.81.55")));
        let b = r.read().unwrap().unwrap();
        assert_eq!((b.op, b.status, b.size_bytes), (Op::Write, Some(503), 0));
        assert_eq!(b.key, fnv1a64(b"/api/x?y=\\\"z\\\""));
        let c = r.read().unwrap().unwrap();
        assert_eq!(
            (c.key, c.status),
            (fnv1a64(b"/shuttle/countdown/"), Some(304))
        );
        assert!(r.read().unwrap().is_none());
    }

    #[test]
    fn malformed_lines_name_the_row_and_field() {
        let log = "h - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 1\nh - - [31/Foo/1995:00:00:01 -0400] \"GET /\" 200 1\n";
        let mut r = ClfReader::new(log.as_bytes());
        assert!(r.read().unwrap().is_some());
        let err = r.read().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("row 2, column `time`: \"31/Foo/1995:00:00:01 -0400\""),
            "{err}"
        );
        assert!(err.is_row_error());
        assert!(!looks_like_clf(b"t_ns,key"));
    }
}
