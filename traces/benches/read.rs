//! Trace reading throughput (rows/s): oracleGeneral and Headroom CSV, with
//! the format reader alone and through `open` + `Checked` (what the CLI
//! does), from memory so the disk is not measured.
//!
//! `cargo bench -p headroom-traces --bench read -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io::Cursor;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use headroom_traces::format::oracle::{OracleReader, encode};
use headroom_traces::{CheckOptions, Checked, CsvReader, CsvWriter, Names, Record, Timestamp};

const ROWS: u64 = 1_000_000;

fn records() -> impl Iterator<Item = Record> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..ROWS).map(move |i| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        Record::new(Timestamp::from_nanos(i * 1_000_000), x % 1_000_000, 4096)
    })
}

fn read(c: &mut Criterion) {
    let oracle: Vec<u8> = records().flat_map(|r| encode(&r, -1)).collect();
    let mut w = CsvWriter::new(Vec::new()).unwrap();
    let names = Names::new();
    for r in records() {
        w.write(&r, &names).unwrap();
    }
    let csv = w.finish().unwrap();
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(10);
    group.bench_function("oracleGeneral/reader", |b| {
        b.iter(|| {
            let mut r = OracleReader::new(oracle.as_slice());
            let mut sum = 0u64;
            while let Some(rec) = r.read().unwrap() {
                sum = sum.wrapping_add(rec.key);
            }
            black_box(sum)
        })
    });
    group.bench_function("oracleGeneral/open+checked", |b| {
        b.iter(|| {
            let o = headroom_traces::open(
                Box::new(Cursor::new(oracle.clone())),
                "t.oracleGeneral",
                None,
                "",
            )
            .unwrap();
            let mut r = Checked::new(o.source, CheckOptions::default());
            let mut sum = 0u64;
            while let Some(rec) = r.read().unwrap() {
                sum = sum.wrapping_add(rec.key);
            }
            black_box(sum)
        })
    });
    group.bench_function("headroom-csv/reader", |b| {
        b.iter(|| {
            let mut r = CsvReader::new(csv.as_slice()).unwrap();
            let mut sum = 0u64;
            while let Some(rec) = r.read().unwrap() {
                sum = sum.wrapping_add(rec.key);
            }
            black_box(sum)
        })
    });
    group.bench_function("headroom-csv/open+checked", |b| {
        b.iter(|| {
            let o = headroom_traces::open(Box::new(Cursor::new(csv.clone())), "t.csv", None, "")
                .unwrap();
            let mut r = Checked::new(o.source, CheckOptions::default());
            let mut sum = 0u64;
            while let Some(rec) = r.read().unwrap() {
                sum = sum.wrapping_add(rec.key);
            }
            black_box(sum)
        })
    });
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
