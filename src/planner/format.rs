//! Table file formats. CSV is what every command writes and reads; the
//! Parquet writer (polars, behind a cargo feature) is not built in yet, so
//! `--format parquet` is refused with exit code 2 and nothing written.

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
        if self == Format::Parquet {
            return Err(crate::InputError(
                "--format parquet: Parquet output is not built into this headroom yet; use --format csv".into(),
            ));
        }
        Ok(())
    }
}

fn parquet_write(_: &Table) -> anyhow::Result<Vec<u8>> {
    Err(Format::Parquet.check_available().unwrap_err().into())
}

fn parquet_read(_: &[u8], _: Vec<Column>, _: &str) -> anyhow::Result<Table> {
    Err(Format::Parquet.check_available().unwrap_err().into())
}
