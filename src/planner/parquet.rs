//! Parquet tables through polars (feature `parquet`): a [`Table`]'s typed
//! columns written as Parquet, and read back into the exact cell text CSV
//! holds, so a Parquet sweep merges byte-identically too.
//!
//! Column types: [`Kind::Int`] is `UInt64` (every engine count, `point`,
//! `replication` and the `u64` seed; a parameter with a negative value is
//! `Int64`), [`Kind::Float`] is `Float64` (`NaN` stays `NaN`), [`Kind::Flag`]
//! is `Boolean`, [`Kind::Str`] is `String`. A missing integer or flag (the
//! `NaN` cells of a failed replication) is a null. Files are zstd
//! compressed, one row group per 262 144 rows, encoded on the calling thread
//! (polars' own thread pool is never started, so `--threads` holds).

use std::io::Cursor;

use anyhow::{Context, bail};
use polars_core::prelude::{Column as PlColumn, DataFrame, DataType};
use polars_io::SerReader;
use polars_io::parquet::read::{ParallelStrategy, ParquetReader};
use polars_io::parquet::write::ParquetWriter;

use crate::planner::table::{Column, Kind, Table, float_cell};

/// Rows per row group: readers can skip through a large `timeseries`.
const ROW_GROUP_ROWS: usize = 1 << 18;

/// Renders `table` as a Parquet file.
pub fn write(table: &Table) -> anyhow::Result<Vec<u8>> {
    let columns = table
        .columns
        .iter()
        .enumerate()
        .map(|(j, c)| column(c, table.rows().map(|r| r.get(j))))
        .collect();
    let mut df = DataFrame::new(table.len(), columns).context("cannot build a Parquet table")?;
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes)
        .with_row_group_size(Some(ROW_GROUP_ROWS))
        .set_parallel(false)
        .finish(&mut df)
        .context("cannot render a Parquet table")?;
    Ok(bytes)
}

/// One typed column from its cells' text.
fn column<'a>(c: &Column, cells: impl Iterator<Item = &'a str> + Clone) -> PlColumn {
    let name = c.name.as_str().into();
    match c.kind {
        Kind::Int => {
            let unsigned: Vec<Option<u64>> = cells.clone().map(|s| s.parse().ok()).collect();
            // A cell that is neither u64 nor missing is a negative parameter.
            let negative = cells
                .clone()
                .zip(&unsigned)
                .any(|(s, u)| u.is_none() && s.parse::<i64>().is_ok());
            if negative {
                PlColumn::new(
                    name,
                    cells.map(|s| s.parse().ok()).collect::<Vec<Option<i64>>>(),
                )
            } else {
                PlColumn::new(name, unsigned)
            }
        }
        Kind::Float => PlColumn::new(
            name,
            cells
                .map(|s| s.parse::<f64>().unwrap_or(f64::NAN))
                .collect::<Vec<f64>>(),
        ),
        Kind::Flag => PlColumn::new(
            name,
            cells
                .map(|s| match s {
                    "1" => Some(true),
                    "0" => Some(false),
                    _ => None,
                })
                .collect::<Vec<Option<bool>>>(),
        ),
        Kind::Str => PlColumn::new(name, cells.collect::<Vec<&str>>()),
    }
}

/// Parses a Parquet file whose columns must be exactly `columns`; `what`
/// names it in errors.
pub fn read(bytes: &[u8], columns: Vec<Column>, what: &str) -> anyhow::Result<Table> {
    let df = ParquetReader::new(Cursor::new(bytes))
        .read_parallel(ParallelStrategy::None)
        .finish()
        .with_context(|| format!("{what}: not a readable Parquet file"))?;
    let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
    let expected: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    if names != expected {
        bail!(
            "{what}: its columns do not match its manifest (expected {} columns starting `{}`, found {} starting `{}`)",
            expected.len(),
            expected
                .iter()
                .take(4)
                .copied()
                .collect::<Vec<_>>()
                .join(","),
            names.len(),
            names.iter().take(4).copied().collect::<Vec<_>>().join(","),
        );
    }
    let text = columns
        .iter()
        .zip(df.columns())
        .map(|(c, column)| cells(column).with_context(|| format!("{what}: column `{}`", c.name)))
        .collect::<anyhow::Result<Vec<Vec<String>>>>()?;
    let mut table = Table::new(columns);
    for i in 0..df.height() {
        table.push_row(text.iter().map(|column| column[i].as_str()));
    }
    Ok(table)
}

/// A column's values as cell text (nulls as `NaN`, as CSV writes them).
fn cells(column: &PlColumn) -> anyhow::Result<Vec<String>> {
    let series = column.as_materialized_series();
    let missing = || "NaN".to_owned();
    Ok(match series.dtype() {
        DataType::UInt64 => series
            .u64()?
            .iter()
            .map(|x| x.map_or_else(missing, |x| x.to_string()))
            .collect(),
        DataType::Int64 => series
            .i64()?
            .iter()
            .map(|x| x.map_or_else(missing, |x| x.to_string()))
            .collect(),
        DataType::Float64 => series
            .f64()?
            .iter()
            .map(|x| float_cell(x.unwrap_or(f64::NAN)))
            .collect(),
        DataType::Boolean => series
            .bool()?
            .iter()
            .map(|b| b.map_or_else(missing, |b| u8::from(b).to_string()))
            .collect(),
        DataType::String => series
            .str()?
            .iter()
            .map(|s| s.unwrap_or_default().to_owned())
            .collect(),
        other => bail!("unexpected type {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new(vec![
            Column::new("seed", Kind::Int),
            Column::new("delta", Kind::Int),
            Column::new("x", Kind::Float),
            Column::new("ok", Kind::Flag),
            Column::new("p", Kind::Str),
        ]);
        t.push_row([
            u64::MAX.to_string(),
            "-3".to_owned(),
            float_cell(0.1 + 0.2),
            "1".to_owned(),
            "5ms".to_owned(),
        ]);
        t.push_row([
            "7".to_owned(),
            "NaN".to_owned(),
            "NaN".to_owned(),
            "NaN".to_owned(),
            "a,b".to_owned(),
        ]);
        t.push_row([
            "0".to_owned(),
            "4".to_owned(),
            float_cell(-1e-300),
            "0".to_owned(),
            String::new(),
        ]);
        t
    }

    #[test]
    fn parquet_round_trip_is_exact() {
        let t = table();
        let bytes = write(&t).unwrap();
        assert_eq!(&bytes[..4], b"PAR1");
        assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
        let back = read(&bytes, t.columns.clone(), "t.parquet").unwrap();
        assert_eq!(back, t);
        assert_eq!(write(&t).unwrap(), bytes, "rendering is deterministic");
    }

    #[test]
    fn columns_are_typed() {
        let t = table();
        let df = ParquetReader::new(Cursor::new(write(&t).unwrap()))
            .finish()
            .unwrap();
        let types: Vec<String> = df.dtypes().iter().map(ToString::to_string).collect();
        assert_eq!(types, ["u64", "i64", "f64", "bool", "str"]);
        assert_eq!(df.column("ok").unwrap().null_count(), 1);
        assert_eq!(df.column("delta").unwrap().null_count(), 1);
    }

    #[test]
    fn a_file_of_other_columns_is_refused_by_name() {
        let bytes = write(&table()).unwrap();
        let wrong = read(&bytes, vec![Column::new("z", Kind::Int)], "t.parquet");
        let err = format!("{:#}", wrong.unwrap_err());
        assert!(
            err.contains("t.parquet") && err.contains("do not match"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            read(b"PAR1 not really", vec![], "b.parquet").unwrap_err()
        );
        assert!(
            err.contains("b.parquet: not a readable Parquet file"),
            "{err}"
        );
    }
}
