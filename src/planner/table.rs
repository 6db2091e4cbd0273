//! A results table: named, typed columns and rows of cells kept as the exact
//! text that goes into the CSV.
//!
//! Every derived output (points, frontier, recommendation, summary, plots)
//! is computed from this text, never from the in-memory floats that produced
//! it. Numbers are printed in Rust's shortest round-trip form, so parsing a
//! cell gives back the very same `f64`: a sweep merged from shard files is
//! byte-identical to one computed in a single process.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use headroom_models::report::Cell;

/// What a column holds (kept in manifests so that Parquet gets real types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Integers.
    Int,
    /// Floats (`NaN` when undefined).
    Float,
    /// `1` or `0`.
    Flag,
    /// Text.
    Str,
}

impl Kind {
    /// The kind of an engine cell.
    pub fn of(cell: &Cell) -> Kind {
        match cell {
            Cell::Int(_) => Kind::Int,
            Cell::Float(_) => Kind::Float,
            Cell::Flag(_) => Kind::Flag,
        }
    }
}

/// A named, typed column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Header text.
    pub name: String,
    /// What its cells hold.
    pub kind: Kind,
}

impl Column {
    /// A column called `name` holding `kind`.
    pub fn new(name: impl Into<String>, kind: Kind) -> Column {
        Column {
            name: name.into(),
            kind,
        }
    }
}

/// Columns and rows of cell text.
///
/// The cells are kept in one string, row after row, with the end of each
/// cell: a sweep's `timeseries` table holds a row per run and interval
/// (millions, for a large sweep at a fine interval), and a `String` per
/// cell cost about 2 KB per row where the text itself is about 70 bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// The columns, in order.
    pub columns: Vec<Column>,
    /// Every cell's text, row after row.
    text: String,
    /// Where each cell ends in `text`, row after row.
    ends: Vec<usize>,
    /// How many rows.
    rows: usize,
}

/// One row of a [`Table`]: its cells' text, `row[j]` or [`Row::get`].
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    text: &'a str,
    /// Where the row's first cell starts in `text`.
    start: usize,
    /// Where each of its cells ends.
    ends: &'a [usize],
}

impl<'a> Row<'a> {
    /// The number of cells (the table's column count).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the row has no cells (a table without columns).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Cell `j`'s text. Panics if `j` is not below [`Row::len`].
    pub fn get(&self, j: usize) -> &'a str {
        let start = if j == 0 { self.start } else { self.ends[j - 1] };
        &self.text[start..self.ends[j]]
    }

    /// The cells, in column order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        let row = *self;
        (0..row.len()).map(move |j| row.get(j))
    }

    /// The cells of columns `range`, as owned text.
    pub fn to_vec(self, range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|j| self.get(j).to_owned()).collect()
    }
}

impl std::ops::Index<usize> for Row<'_> {
    type Output = str;

    fn index(&self, j: usize) -> &str {
        self.get(j)
    }
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            text: String::new(),
            ends: Vec::new(),
            rows: 0,
        }
    }

    /// The index of the column called `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends a row. Panics unless it has one cell per column (rows come
    /// from the sweep's own records or from CSV, whose reader refuses
    /// records of another length).
    pub fn push_row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.push_with(cells, |text, cell| text.push_str(cell.as_ref()));
    }

    /// Appends a row of values written with their `Display` (no `String`
    /// per cell). Panics unless it has one cell per column.
    pub fn push_display_row<D: std::fmt::Display>(&mut self, cells: impl IntoIterator<Item = D>) {
        use std::fmt::Write;
        // Writing to a `String` cannot fail.
        self.push_with(cells, |text, cell| {
            let _ = write!(text, "{cell}");
        });
    }

    /// Appends a row, each cell's text written by `put`.
    fn push_with<T>(
        &mut self,
        cells: impl IntoIterator<Item = T>,
        mut put: impl FnMut(&mut String, T),
    ) {
        let before = self.ends.len();
        for cell in cells {
            put(&mut self.text, cell);
            self.ends.push(self.text.len());
        }
        assert_eq!(
            self.ends.len() - before,
            self.columns.len(),
            "a row has one cell per column"
        );
        self.rows += 1;
    }

    /// Row `i`. Panics if `i` is not below [`Table::len`].
    pub fn row(&self, i: usize) -> Row<'_> {
        assert!(i < self.rows, "row {i} of {}", self.rows);
        let n = self.columns.len();
        let ends = &self.ends[i * n..(i + 1) * n];
        let start = if i * n == 0 { 0 } else { self.ends[i * n - 1] };
        Row {
            text: &self.text,
            start,
            ends,
        }
    }

    /// The rows, in order.
    pub fn rows(&self) -> impl DoubleEndedIterator<Item = Row<'_>> + ExactSizeIterator + Clone {
        (0..self.rows).map(move |i| self.row(i))
    }

    /// Appends the rows of `other`, which has the same number of columns:
    /// its text in one copy, its cell ends moved past this table's text.
    pub fn append(&mut self, other: &Table) {
        assert_eq!(
            other.columns.len(),
            self.columns.len(),
            "appended rows have one cell per column"
        );
        let base = self.text.len();
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|end| base + end));
        self.rows += other.rows;
    }

    /// The same table with its rows in order of `key` (stable: rows with
    /// equal keys keep their order).
    pub fn sorted_by_key<K: Ord>(&self, key: impl Fn(Row<'_>) -> K) -> Table {
        let mut order: Vec<usize> = (0..self.rows).collect();
        order.sort_by_cached_key(|&i| key(self.row(i)));
        let mut t = Table::new(self.columns.clone());
        t.text.reserve(self.text.len());
        t.ends.reserve(self.ends.len());
        for i in order {
            t.push_row(self.row(i).iter());
        }
        t
    }

    /// Bytes the table holds on the heap for its rows.
    #[cfg(test)]
    fn row_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }

    /// Renders the table as CSV with a header line.
    pub fn to_csv(&self) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(self.columns.iter().map(|c| c.name.as_str()))?;
        for row in self.rows() {
            w.write_record(row.iter())?;
        }
        w.into_inner().context("cannot render a CSV table")
    }

    /// Parses CSV text whose header must be exactly `columns`' names (the
    /// kinds come from the caller, e.g. a manifest). `what` names the file in
    /// errors.
    pub fn from_csv(bytes: &[u8], columns: Vec<Column>, what: &str) -> anyhow::Result<Table> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes);
        let header: Vec<String> = r
            .headers()
            .with_context(|| format!("{what}: cannot read the header"))?
            .iter()
            .map(str::to_owned)
            .collect();
        let expected: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        if header != expected {
            // The first column that differs, and what each side has there.
            let at = header
                .iter()
                .zip(&expected)
                .position(|(h, e)| h != e)
                .unwrap_or(header.len().min(expected.len()));
            let name = |c: Option<&str>| c.map_or_else(|| "nothing".to_owned(), quoted_cell);
            bail!(
                "{what}: the header does not match its manifest: column {} is {}, the manifest \
                 says {} (columns: {} in the file, {} in the manifest); the file was changed \
                 after it was written; nothing written",
                at + 1,
                name(header.get(at).map(String::as_str)),
                name(expected.get(at).copied()),
                header.len(),
                expected.len(),
            );
        }
        // The cells' text is shorter than the file and there are at most
        // as many rows as lines: room for both up front, so the table is
        // not reallocated as it grows, nor left with up to twice its size.
        let mut table = Table::new(columns);
        table.text.reserve(bytes.len());
        table
            .ends
            .reserve(bytes.iter().filter(|&&b| b == b'\n').count() * table.columns.len());
        let mut record = csv::StringRecord::new();
        let mut line = 2;
        while r.read_record(&mut record).map_err(|e| match e.kind() {
            csv::ErrorKind::UnequalLengths {
                pos,
                expected_len,
                len,
            } => anyhow::anyhow!(
                "{what}: line {} has {len} field{} where the header has {expected_len}; the \
                 file was changed after it was written; nothing written",
                pos.as_ref().map_or(line, csv::Position::line),
                if *len == 1 { "" } else { "s" }
            ),
            _ => anyhow::Error::new(e).context(format!("{what}: line {line}")),
        })? {
            table.push_row(record.iter());
            line += 1;
        }
        Ok(table)
    }
}

impl Table {
    /// Parses CSV text taking the columns from its header (all [`Kind::Str`]:
    /// for reading files whose kinds nobody recorded, such as a run's).
    pub fn from_csv_any(bytes: &[u8], what: &str) -> anyhow::Result<Table> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes);
        let columns = r
            .headers()
            .with_context(|| format!("{what}: cannot read the header"))?
            .iter()
            .map(|n| Column::new(n, Kind::Str))
            .collect::<Vec<_>>();
        Table::from_csv(bytes, columns, what)
    }
}

/// A cell's text as an error quotes it: in backticks, control characters
/// escaped and cut after 40 characters, so that a stray `"` that makes the
/// rest of a file one cell does not print the file.
fn quoted_cell(text: &str) -> String {
    const SHOWN: usize = 40;
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(SHOWN).collect();
    let more = chars.count();
    let head = head.escape_debug();
    if more == 0 {
        format!("`{head}`")
    } else {
        format!("`{head}...` ({more} more characters)")
    }
}

/// A cell's text as a float (`NaN` if it is not a number).
pub fn number(text: &str) -> f64 {
    text.parse::<f64>().unwrap_or(f64::NAN)
}

/// A float as a cell: Rust's shortest round-trip form, `NaN` when undefined.
pub fn float_cell(x: f64) -> String {
    Cell::Float(x).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file edited after it was written is refused naming the line or the
    /// column that is off, not with the CSV reader's own words.
    #[test]
    fn an_edited_file_is_named_by_its_line_or_column() {
        let columns = || {
            vec![
                Column::new("point", Kind::Str),
                Column::new("p99", Kind::Str),
            ]
        };
        let err = Table::from_csv(b"point,p99\n0,1.5\n1\n", columns(), "runs.csv")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "runs.csv: line 3 has 1 field where the header has 2; the file was changed after \
             it was written; nothing written"
        );
        let err = Table::from_csv(b"point,p95\n0,1.5\n", columns(), "runs.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "runs.csv: the header does not match its manifest: column 2 is `p95`, the \
                 manifest says `p99` (columns: 2 in the file, 2 in the manifest)"
            ),
            "{err}"
        );
        let err = Table::from_csv(b"point\n0\n", columns(), "runs.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column 2 is nothing, the manifest says `p99` (columns: 1 in the file"),
            "{err}"
        );
        // A stray quote in the header makes the rest of the file one cell:
        // the error quotes its start, on one line.
        let rows = "\n0,1.5".repeat(100);
        let err = Table::from_csv(
            format!("point,\"p99{rows}\n").as_bytes(),
            columns(),
            "runs.csv",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "column 2 is `p99\\n0,1.5\\n0,1.5\\n0,1.5\\n0,1.5\\n0,1.5\\n0,1.5\\n...` (564 \
                 more characters), the manifest says `p99`"
            ),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }

    /// A sweep's time series is millions of rows of short cells: a row
    /// costs its text and one offset per cell, not an allocation per cell
    /// (a `Vec<String>` row of 15 cells took about 2 KB).
    #[test]
    fn rows_cost_their_text_and_an_offset_per_cell() {
        let columns: Vec<Column> = (0..15)
            .map(|j| Column::new(format!("c{j}"), Kind::Float))
            .collect();
        let mut csv = columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(",");
        csv.push('\n');
        let rows = 20_000;
        for i in 0..rows {
            let row: Vec<String> = (0..15)
                .map(|j| float_cell(f64::from(i * 15 + j) / 7.0))
                .collect();
            csv.push_str(&row.join(","));
            csv.push('\n');
        }
        let t = Table::from_csv(csv.as_bytes(), columns, "ts.csv").unwrap();
        assert_eq!(t.len(), rows as usize);
        assert_eq!(t.row(7).get(3), float_cell(f64::from(7 * 15 + 3) / 7.0));
        let text = csv.len();
        let cells = (rows as usize + 1) * 15;
        assert!(
            t.row_bytes() <= text + cells * std::mem::size_of::<usize>(),
            "{} bytes for {text} bytes of CSV",
            t.row_bytes()
        );
    }

    #[test]
    fn csv_round_trip_keeps_exact_floats() {
        let mut t = Table::new(vec![
            Column::new("a", Kind::Int),
            Column::new("b", Kind::Float),
            Column::new("c", Kind::Str),
        ]);
        let x = 0.1 + 0.2;
        t.push_row(["1".to_owned(), float_cell(x), "a,b".to_owned()]);
        t.push_row(["2".to_owned(), float_cell(f64::NAN), "5ms".to_owned()]);
        let bytes = t.to_csv().unwrap();
        let back = Table::from_csv(&bytes, t.columns.clone(), "t.csv").unwrap();
        assert_eq!(back, t);
        assert_eq!(number(&back.row(0)[1]).to_bits(), x.to_bits());
        assert!(number(&back.row(1)[1]).is_nan());
        assert_eq!(
            back.row(0).iter().collect::<Vec<_>>(),
            ["1", "0.30000000000000004", "a,b"]
        );
        let sorted = back.sorted_by_key(|r| std::cmp::Reverse(r[0].to_owned()));
        assert_eq!(sorted.row(0)[2], *"5ms");
        assert_eq!(sorted.row(1)[2], *"a,b");
        // Appending keeps every cell: the same as pushing the rows again.
        let mut twice = back.clone();
        twice.append(&sorted);
        let mut pushed = back.clone();
        for row in sorted.rows() {
            pushed.push_row(row.iter());
        }
        assert_eq!(twice, pushed);
        assert_eq!(twice.len(), 4);
        assert_eq!(twice.row(2).iter().collect::<Vec<_>>(), ["2", "NaN", "5ms"]);
        let wrong = Table::from_csv(&bytes, vec![Column::new("z", Kind::Int)], "t.csv");
        assert!(wrong.unwrap_err().to_string().contains("t.csv"));
    }
}
