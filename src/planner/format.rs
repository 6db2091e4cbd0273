//! Table file formats: CSV always, Parquet (through polars) when the
//! `parquet` cargo feature is built in (it is by default).
//!
//! A sweep writes its tables (`runs`, `timeseries`, `points`, `frontier`)
//! in every format of its [`Formats`] (`--format csv`, `parquet` or
//! `csv,parquet`). Both formats hold the same columns, in the same order,
//! with the same values: Parquet columns are typed (integers, floats,
//! booleans for flags, text) and read back to the very cell text CSV holds.

use serde::{Deserialize, Serialize};

use crate::InputError;
use crate::planner::table::{Column, Table};

/// One table file format.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values with a header line.
    #[default]
    Csv,
    /// Apache Parquet with typed columns (needs the `parquet` feature).
    Parquet,
}

impl Format {
    /// The `--format` spelling.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    /// The file name of table `stem` (`runs` -> `runs.csv`).
    pub fn file(self, stem: &str) -> String {
        format!("{stem}.{}", self.name())
    }

    /// Renders `table`.
    pub fn write(self, table: &Table) -> anyhow::Result<Vec<u8>> {
        match self {
            Format::Csv => table.to_csv(),
            Format::Parquet => parquet_write(table),
        }
    }

    /// Parses a table whose columns are `columns`; `what` names the file.
    pub fn read(self, bytes: &[u8], columns: Vec<Column>, what: &str) -> anyhow::Result<Table> {
        match self {
            Format::Csv => Table::from_csv(bytes, columns, what),
            Format::Parquet => parquet_read(bytes, columns, what),
        }
    }

    /// An error if this build cannot write the format.
    pub fn check_available(self) -> Result<(), InputError> {
        if self == Format::Parquet && !cfg!(feature = "parquet") {
            return Err(InputError(
                "--format parquet: this headroom was built without the `parquet` feature \
                 (cargo build --no-default-features); rebuild with default features or use \
                 --format csv"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The formats a sweep writes its tables in: at least one, each once, in
/// [`Format`] order. Serialized as `--format` spells it (`"csv"`,
/// `"csv,parquet"`), so a CSV sweep's manifest and `sweep_id` read as they
/// did before Parquet existed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Formats(Vec<Format>);

impl Default for Formats {
    fn default() -> Self {
        Formats(vec![Format::Csv])
    }
}

impl Formats {
    /// The set of `formats` (duplicates dropped); CSV when empty.
    pub fn new(formats: &[Format]) -> Formats {
        let mut all = formats.to_vec();
        all.sort();
        all.dedup();
        if all.is_empty() {
            return Formats::default();
        }
        Formats(all)
    }

    /// Every format, in order.
    pub fn iter(&self) -> impl Iterator<Item = Format> + '_ {
        self.0.iter().copied()
    }

    /// The format tables are read back from: CSV when written, else
    /// Parquet (both give the same cells).
    pub fn primary(&self) -> Format {
        self.0[0]
    }

    /// An error if this build cannot write one of them.
    pub fn check_available(&self) -> Result<(), InputError> {
        self.iter().try_for_each(Format::check_available)
    }

    /// Renders table `stem` in every format: `(file name, bytes)`.
    pub fn write(&self, stem: &str, table: &Table) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        self.iter()
            .map(|f| Ok((f.file(stem), f.write(table)?)))
            .collect()
    }
}

impl From<Formats> for String {
    fn from(f: Formats) -> String {
        f.iter().map(Format::name).collect::<Vec<_>>().join(",")
    }
}

impl TryFrom<String> for Formats {
    type Error = String;

    fn try_from(text: String) -> Result<Formats, String> {
        let formats = text
            .split(',')
            .map(|name| match name.trim() {
                "csv" => Ok(Format::Csv),
                "parquet" => Ok(Format::Parquet),
                other => Err(format!(
                    "unknown table format {other:?}; expected csv, parquet or csv,parquet"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Formats::new(&formats))
    }
}

#[cfg(feature = "parquet")]
fn parquet_write(table: &Table) -> anyhow::Result<Vec<u8>> {
    crate::planner::parquet::write(table)
}

#[cfg(feature = "parquet")]
fn parquet_read(bytes: &[u8], columns: Vec<Column>, what: &str) -> anyhow::Result<Table> {
    crate::planner::parquet::read(bytes, columns, what)
}

#[cfg(not(feature = "parquet"))]
fn parquet_write(_: &Table) -> anyhow::Result<Vec<u8>> {
    Err(Format::Parquet.check_available().unwrap_err().into())
}

#[cfg(not(feature = "parquet"))]
fn parquet_read(_: &[u8], _: Vec<Column>, what: &str) -> anyhow::Result<Table> {
    Err(InputError(format!(
        "{what}: {}",
        Format::Parquet.check_available().unwrap_err().0
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_a_sorted_set_spelled_as_on_the_command_line() {
        let both = Formats::new(&[Format::Parquet, Format::Csv, Format::Parquet]);
        assert_eq!(String::from(both.clone()), "csv,parquet");
        assert_eq!(both.primary(), Format::Csv);
        assert_eq!(Formats::new(&[]), Formats::default());
        assert_eq!(
            serde_json::to_string(&Formats::default()).unwrap(),
            "\"csv\"",
            "a CSV sweep's identity is unchanged"
        );
        let back: Formats = serde_json::from_str("\"parquet,csv\"").unwrap();
        assert_eq!(back, both);
        let only: Formats = serde_json::from_str("\"parquet\"").unwrap();
        assert_eq!(only.primary(), Format::Parquet);
        assert!(serde_json::from_str::<Formats>("\"arrow\"").is_err());
    }
}
