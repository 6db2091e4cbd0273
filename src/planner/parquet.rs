//! Parquet tables through polars: typed columns (integers, floats, booleans,
//! text) written from and read back into the exact cell text of a
//! [`Table`], so a Parquet sweep merges byte-identically too.

use std::io::Cursor;

use anyhow::{Context, bail};
use polars::prelude::{
    Column as PlColumn, DataFrame, DataType, ParquetReader, ParquetWriter, SerReader,
};

use crate::planner::table::{Column, Kind, Table, float_cell};

/// Renders `table` as a Parquet file.
pub fn write(table: &Table) -> anyhow::Result<Vec<u8>> {
    let mut columns = Vec::with_capacity(table.columns.len());
    for (j, c) in table.columns.iter().enumerate() {
        let cells = || table.rows.iter().map(|r| r[j].as_str());
        let name = c.name.as_str().into();
        let column = match c.kind {
            Kind::Int => {
                let signed: Vec<Option<i64>> = cells().map(|s| s.parse().ok()).collect();
                let unsigned: Vec<Option<u64>> = cells().map(|s| s.parse().ok()).collect();
                // Seeds are u64: keep them unsigned when they do not fit i64.
                let fits = signed
                    .iter()
                    .zip(&unsigned)
                    .all(|(s, u)| s.is_some() || u.is_none());
                if fits {
                    PlColumn::new(name, signed)
                } else {
                    PlColumn::new(name, unsigned)
                }
            }
            Kind::Float => PlColumn::new(
                name,
                cells()
                    .map(|s| s.parse::<f64>().unwrap_or(f64::NAN))
                    .collect::<Vec<f64>>(),
            ),
            Kind::Flag => PlColumn::new(
                name,
                cells()
                    .map(|s| s.parse::<u8>().ok().map(|b| b != 0))
                    .collect::<Vec<Option<bool>>>(),
            ),
            Kind::Str => PlColumn::new(name, cells().collect::<Vec<&str>>()),
        };
        columns.push(column);
    }
    let mut df =
        DataFrame::new(table.rows.len(), columns).context("cannot build a Parquet table")?;
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes)
        .finish(&mut df)
        .context("cannot render a Parquet table")?;
    Ok(bytes)
}

/// Parses a Parquet file whose columns must be exactly `columns`; `what`
/// names it in errors.
pub fn read(bytes: &[u8], columns: Vec<Column>, what: &str) -> anyhow::Result<Table> {
    let df = ParquetReader::new(Cursor::new(bytes))
        .finish()
        .with_context(|| format!("{what}: not a readable Parquet file"))?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let expected: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    if names != expected {
        bail!("{what}: its columns do not match its manifest");
    }
    let height = df.height();
    let mut cells: Vec<Vec<String>> = vec![Vec::with_capacity(columns.len()); height];
    for c in &columns {
        let series = df
            .column(&c.name)
            .with_context(|| format!("{what}: no column {}", c.name))?
            .as_materialized_series();
        let text: Vec<String> = match series.dtype() {
            DataType::Int64 => series.i64()?.into_iter().map(int_cell).collect(),
            DataType::UInt64 => series.u64()?.into_iter().map(int_cell).collect(),
            DataType::Float64 => series
                .f64()?
                .into_iter()
                .map(|x| float_cell(x.unwrap_or(f64::NAN)))
                .collect(),
            DataType::Boolean => series
                .bool()?
                .into_iter()
                .map(|b| b.map_or_else(|| "NaN".to_owned(), |b| u8::from(b).to_string()))
                .collect(),
            DataType::String => series
                .str()?
                .into_iter()
                .map(|s| s.unwrap_or_default().to_owned())
                .collect(),
            other => bail!("{what}: column {} has unexpected type {other}", c.name),
        };
        for (row, cell) in cells.iter_mut().zip(text) {
            row.push(cell);
        }
    }
    Ok(Table {
        columns,
        rows: cells,
    })
}

/// An integer cell; a missing value (a failed replication) is `NaN`, as in
/// CSV.
fn int_cell<T: ToString>(x: Option<T>) -> String {
    x.map_or_else(|| "NaN".to_owned(), |x| x.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_round_trip_is_exact() {
        let mut t = Table::new(vec![
            Column::new("seed", Kind::Int),
            Column::new("n", Kind::Int),
            Column::new("x", Kind::Float),
            Column::new("ok", Kind::Flag),
            Column::new("p", Kind::Str),
        ]);
        t.rows.push(vec![
            u64::MAX.to_string(),
            "3".into(),
            float_cell(0.1 + 0.2),
            "1".into(),
            "5ms".into(),
        ]);
        t.rows.push(vec![
            "7".into(),
            "NaN".into(),
            "NaN".into(),
            "0".into(),
            "a,b".into(),
        ]);
        let bytes = write(&t).unwrap();
        assert_eq!(&bytes[..4], b"PAR1");
        let back = read(&bytes, t.columns.clone(), "t.parquet").unwrap();
        assert_eq!(back, t);
        let wrong = read(&bytes, vec![Column::new("z", Kind::Int)], "t.parquet");
        assert!(wrong.unwrap_err().to_string().contains("t.parquet"));
    }
}
