//! Table file formats: CSV always, Parquet (through polars) when the
//! `parquet` feature is built in (it is by default).

use serde::{Deserialize, Serialize};

use crate::planner::table::{Column, Table};

/// How tables are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values with a header line.
    #[default]
    Csv,
    /// Apache Parquet with typed columns (needs the `parquet` feature).
    Parquet,
}

impl Format {
    /// The file name of table `stem` (`runs` -> `runs.csv`).
    pub fn file(self, stem: &str) -> String {
        match self {
            Format::Csv => format!("{stem}.csv"),
            Format::Parquet => format!("{stem}.parquet"),
        }
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
    pub fn check_available(self) -> Result<(), crate::InputError> {
        if self == Format::Parquet && !cfg!(feature = "parquet") {
            return Err(crate::InputError(
                "--format parquet: this headroom was built without the `parquet` feature; rebuild with default features or use --format csv".into(),
            ));
        }
        Ok(())
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
fn parquet_read(_: &[u8], _: Vec<Column>, _: &str) -> anyhow::Result<Table> {
    Err(Format::Parquet.check_available().unwrap_err().into())
}
