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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// The columns, in order.
    pub columns: Vec<Column>,
    /// The rows; each has one cell per column.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    /// The index of the column called `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Renders the table as CSV with a header line.
    pub fn to_csv(&self) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(self.columns.iter().map(|c| c.name.as_str()))?;
        for row in &self.rows {
            w.write_record(row)?;
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
            bail!(
                "{what}: the header does not match its manifest (expected {} columns starting `{}`, found {} starting `{}`)",
                expected.len(),
                expected
                    .iter()
                    .take(4)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(","),
                header.len(),
                header.iter().take(4).cloned().collect::<Vec<_>>().join(","),
            );
        }
        let mut rows = Vec::new();
        for (i, record) in r.records().enumerate() {
            let record = record.with_context(|| format!("{what}: row {}", i + 2))?;
            rows.push(record.iter().map(str::to_owned).collect());
        }
        Ok(Table { columns, rows })
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

    #[test]
    fn csv_round_trip_keeps_exact_floats() {
        let mut t = Table::new(vec![
            Column::new("a", Kind::Int),
            Column::new("b", Kind::Float),
            Column::new("c", Kind::Str),
        ]);
        let x = 0.1 + 0.2;
        t.rows.push(vec!["1".into(), float_cell(x), "a,b".into()]);
        t.rows
            .push(vec!["2".into(), float_cell(f64::NAN), "5ms".into()]);
        let bytes = t.to_csv().unwrap();
        let back = Table::from_csv(&bytes, t.columns.clone(), "t.csv").unwrap();
        assert_eq!(back, t);
        assert_eq!(number(&back.rows[0][1]).to_bits(), x.to_bits());
        assert!(number(&back.rows[1][1]).is_nan());
        let wrong = Table::from_csv(&bytes, vec![Column::new("z", Kind::Int)], "t.csv");
        assert!(wrong.unwrap_err().to_string().contains("t.csv"));
    }
}
