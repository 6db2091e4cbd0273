//! Parquet outputs and traces end to end (feature `parquet`): a sweep's
//! Parquet tables read back with polars equal its CSV tables (names, types,
//! values); Parquet sweeps are byte-identical across thread counts and
//! shards and analyse exactly as CSV sweeps do; `trace convert` to Parquet
//! and back is lossless; a broken Parquet trace exits 2 writing nothing.
#![cfg(feature = "parquet")]

mod common;

use std::io::Cursor;
use std::path::Path;
use std::process::Output;

use polars_core::prelude::{AnyValue, DataFrame};
use polars_io::SerReader;
use polars_io::parquet::read::ParquetReader;

use common::{headroom, headroom_ok as ok, read, s, tempdir};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// 6 points x 3 replications; one point (1 replica, 1 worker, a bounded
/// queue) sheds load, so flags and errors take both values.
const SWEEP: &str = r#"
[run]
duration = "40s"
warmup = "5s"
replications = 3
seed = 5
timeseries_interval = "10s"

[workload]
arrivals = { process = "poisson", rate = 200.0 }

[[services]]
name = "api"
instance = { workers = 2, queue = 20 }
work = { distribution = "exponential", mean = "8ms" }
replicas = 1

[slo]
p99 = "60ms"

[sweep]
[sweep.params]
"services.api.replicas" = [1, 2, 3]
"services.api.instance.workers" = [1, 2]
"#;

const TABLES: [&str; 6] = [
    "runs",
    "timeseries",
    "services",
    "services_timeseries",
    "points",
    "frontier",
];

fn parquet(dir: &Path, stem: &str) -> DataFrame {
    ParquetReader::new(Cursor::new(read(dir, &format!("{stem}.parquet"))))
        .finish()
        .unwrap_or_else(|e| panic!("{stem}.parquet: {e}"))
}

/// A Parquet cell as CSV writes it (`NaN` for a missing number).
fn cell(v: AnyValue<'_>) -> String {
    match v {
        AnyValue::Null => "NaN".into(),
        AnyValue::UInt64(x) => x.to_string(),
        AnyValue::Int64(x) => x.to_string(),
        AnyValue::Boolean(b) => u8::from(b).to_string(),
        AnyValue::String(t) => t.to_owned(),
        AnyValue::Float64(x) if x.is_nan() => "NaN".into(),
        // The CSV cell is Rust's shortest round-trip text of this f64.
        AnyValue::Float64(x) => format!("{x}"),
        other => panic!("unexpected Parquet value {other:?}"),
    }
}

/// Reads `dir/STEM.parquet` and checks it holds `dir/STEM.csv`: the same
/// column names in order, the same rows, every cell as CSV writes it.
fn same_as_csv(dir: &Path, stem: &str) -> DataFrame {
    let df = parquet(dir, stem);
    let csv_bytes = read(dir, &format!("{stem}.csv"));
    let mut csv = csv::Reader::from_reader(csv_bytes.as_slice());
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, header, "{stem}: column names and order");
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(df.height(), rows.len(), "{stem}: rows");
    assert!(!rows.is_empty(), "{stem}: no rows");
    for (j, column) in df.columns().iter().enumerate() {
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(
                cell(column.get(i).unwrap()),
                row[j],
                "{stem}: row {i}, column {}",
                header[j]
            );
        }
    }
    df
}

#[test]
fn parquet_tables_equal_the_csv_tables() {
    let dir = tempdir("parquet_equals_csv");
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, SWEEP).unwrap();
    let out = dir.join("both");
    ok(&[
        "sweep",
        s(&scenario),
        "--out",
        s(&out),
        "--format",
        "csv,parquet",
        "--service-timeseries",
        "--quiet",
    ]);
    let manifest: serde_json::Value = serde_json::from_slice(&read(&out, "manifest.json")).unwrap();
    assert_eq!(manifest["identity"]["format"], "csv,parquet");
    let kinds: Vec<(String, String)> = manifest["runs_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().into(),
                c["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    for stem in TABLES {
        let df = same_as_csv(&out, stem);
        if stem == "runs" {
            let types: Vec<String> = df.dtypes().iter().map(ToString::to_string).collect();
            for ((name, kind), dtype) in kinds.iter().zip(&types) {
                let want = match kind.as_str() {
                    "int" => "u64",
                    "float" => "f64",
                    "flag" => "bool",
                    _ => "str",
                };
                assert_eq!(dtype, want, "runs.{name} is {kind}");
            }
            let slo = df.column("slo_met").unwrap().bool().unwrap().clone();
            assert!(
                slo.any() && !slo.all(),
                "the sweep has points that meet and miss the SLO"
            );
        }
    }
}

/// A sweep of a sharded store writes its `shards` table in Parquet as in
/// CSV, with the store and region as strings and the shard as a number.
#[test]
fn a_sweeps_shards_table_in_parquet_equals_its_csv() {
    let dir = tempdir("parquet_shards");
    let scenario = dir.join("s.toml");
    let store = concat!(
        "replicas = 1\ncalls = [ { data = \"users\" } ]\n\n",
        "[[datastores]]\nname = \"users\"\nshards = 3\n",
        "shard = { workers = 4, read = { distribution = \"exponential\", mean = \"1ms\" } }\n",
    );
    let text = SWEEP
        .replace("replicas = 1\n", store)
        .replace("[slo]", "[workload.keys]\ncount = 1000\n\n[slo]");
    std::fs::write(&scenario, text).unwrap();
    let out = dir.join("both");
    ok(&[
        "sweep",
        s(&scenario),
        "--out",
        s(&out),
        "--format",
        "csv,parquet",
        "--shard-timeseries",
        "--quiet",
    ]);
    let df = same_as_csv(&out, "shards");
    let types: Vec<String> = df.dtypes().iter().map(ToString::to_string).collect();
    assert_eq!(
        types,
        [
            "u64", "u64", "str", "str", "u64", "u64", "u64", "u64", "f64", "f64", "f64", "f64",
            "f64", "f64", "u64", "f64", "f64", "u64"
        ]
    );
    assert_eq!(df.height(), 6 * 3 * 3, "6 points, 3 replications, 3 shards");
    // The shards' time series, typed as the sweep writes them.
    let df = same_as_csv(&out, "shards_timeseries");
    let types: Vec<String> = df.dtypes().iter().map(ToString::to_string).collect();
    assert_eq!(
        types,
        [
            "u64", "u64", "f64", "str", "str", "u64", "f64", "u64", "u64", "f64", "f64", "f64",
            "u64", "f64", "f64", "bool"
        ]
    );
    assert_eq!(
        df.height() % (6 * 3 * 3),
        0,
        "every run's shards per interval"
    );
}

#[test]
fn parquet_sweeps_are_deterministic_and_analyse_as_csv_sweeps_do() {
    let dir = tempdir("parquet_sweeps");
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, SWEEP).unwrap();
    let sweep = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "sweep",
            s(&scenario),
            "--out",
            s(out),
            "--service-timeseries",
            "--quiet",
        ];
        args.extend(extra);
        ok(&args);
    };
    let (one, two, csv) = (dir.join("one"), dir.join("two"), dir.join("csv"));
    sweep(&one, &["--format", "parquet", "--threads", "1"]);
    sweep(&two, &["--format", "parquet", "--threads", "2"]);
    sweep(&csv, &["--threads", "2"]);
    let mut shards = Vec::new();
    for k in 1..=3 {
        let out = dir.join(format!("shard{k}"));
        sweep(&out, &["--format", "parquet", "--shard", &format!("{k}/3")]);
        assert!(out.join("runs.parquet").exists() && !out.join("runs.csv").exists());
        shards.push(out);
    }
    let merged = dir.join("merged");
    ok(&[
        "merge",
        s(&shards[2]),
        s(&shards[0]),
        s(&shards[1]),
        "--out",
        s(&merged),
        "--quiet",
    ]);
    let manifest: serde_json::Value = serde_json::from_slice(&read(&one, "manifest.json")).unwrap();
    let files: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for stem in TABLES {
        assert!(
            files.contains(&format!("{stem}.parquet").as_str()),
            "{files:?}"
        );
    }
    for name in files {
        assert_eq!(read(&one, name), read(&two, name), "{name}: 1 vs 2 threads");
        assert_eq!(
            read(&one, name),
            read(&merged, name),
            "{name}: merged shards"
        );
    }
    // Parquet and CSV sweeps reach the same conclusions, byte for byte but
    // for the sweep id (the format is part of a sweep's identity).
    let id = |dir: &Path| {
        let m: serde_json::Value = serde_json::from_slice(&read(dir, "manifest.json")).unwrap();
        m["sweep_id"].as_str().unwrap()[..12].to_owned()
    };
    let (pq_id, csv_id) = (id(&one), id(&csv));
    assert_ne!(pq_id, csv_id);
    for name in ["recommendation.toml", "summary.md"] {
        let csv_text = text(&read(&csv, name)).replace(&csv_id, &pq_id);
        assert_eq!(text(&read(&one, name)), csv_text, "{name}: parquet vs csv");
    }
    // A Parquet-only sweep can be re-ranked and plotted.
    let reranked = dir.join("reranked.toml");
    ok(&[
        "recommend",
        s(&one),
        "--slo-p99",
        "1s",
        "--out",
        s(&reranked),
    ]);
    assert!(
        std::fs::read_to_string(&reranked)
            .unwrap()
            .contains("[[services]]")
    );
}

#[test]
fn trace_convert_to_parquet_and_back_is_lossless() {
    let dir = tempdir("parquet_traces");
    let sample = "traces/samples/cloudphysics-io/cloudPhysicsIO.oracleGeneral.bin";
    let (direct, pq, back) = (
        dir.join("direct.csv"),
        dir.join("t.parquet"),
        dir.join("back.csv"),
    );
    ok(&["trace", "convert", sample, "--out", s(&direct)]);
    ok(&["trace", "convert", sample, "--out", s(&pq)]);
    assert_eq!(&read(&dir, "t.parquet")[..4], b"PAR1");
    let o = ok(&["trace", "convert", s(&pq), "--out", s(&back)]);
    assert!(
        text(&o.stderr).contains("113872 rows (parquet)"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        read(&dir, "direct.csv") == read(&dir, "back.csv"),
        "CSV -> Parquet -> CSV differs"
    );
    // The same statistics from either file.
    let a = ok(&["trace", "inspect", s(&direct)]);
    let b = ok(&["trace", "inspect", s(&pq)]);
    let body = |o: &Output| {
        text(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with("trace "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(body(&a), body(&b));
    assert!(text(&b.stdout).contains("(parquet)"), "{}", text(&b.stdout));
    // Column projection with options on a file of other names: the
    // converted Parquet read with its time column given by number.
    let c = ok(&[
        "trace",
        "cache",
        s(&pq),
        "--trace-opts",
        "time-col=1,obj-id-col=key,obj-size-col=size_bytes",
        "--sizes",
        "128MiB",
    ]);
    assert!(
        text(&c.stdout).contains("lru,128MiB,113872,93374,"),
        "libCacheSim's LRU count from the Parquet trace: {}",
        text(&c.stdout)
    );
}

#[test]
fn a_broken_parquet_trace_exits_2_and_writes_nothing() {
    let dir = tempdir("parquet_broken");
    let pq = dir.join("t.parquet");
    ok(&[
        "trace",
        "convert",
        "traces/samples/broken/backwards.csv",
        "--sort-window",
        "10ns",
        "--out",
        s(&pq),
    ]);
    let bytes = read(&dir, "t.parquet");
    let cut = dir.join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = dir.join("never.csv");
    let o = headroom(&["trace", "convert", s(&cut), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("cut.parquet") && err.contains("not a readable Parquet file"),
        "{err}"
    );
    assert!(!out.exists());
    let o = headroom(&[
        "trace",
        "convert",
        s(&pq),
        "--trace-opts",
        "time-col=when",
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("time-col=\"when\": no such column"),
        "{}",
        text(&o.stderr)
    );
    assert!(!out.exists());
}

/// A sweep of a priced scenario with two regions writes its `regions` and
/// `deployments` tables, its call edges and its bill (and with `--region-timeseries`,
/// `--deployment-timeseries` and `--edge-timeseries` their time series) in
/// Parquet as in CSV, the names strings and the counts whole numbers.
#[test]
fn a_sweeps_regions_table_in_parquet_equals_its_csv() {
    let dir = tempdir("parquet_regions");
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        r#"
[run]
duration = "40s"
warmup = "5s"
replications = 2
seed = 3

[workload]
arrivals = { process = "poisson", rate = 200.0 }
origin = { east = 0.6, west = 0.4 }

[[regions]]
name = "east"
[[regions]]
name = "west"

[network.rtt.east]
west = "60ms"

[[services]]
name = "api"
instance = { type = "small", workers = 4, queue = 50 }
work = { distribution = "exponential", mean = "5ms" }
replicas = 1

[costs]
instance_types = { small = { vcpu = 2, memory = "4GiB", hourly = 0.1 } }
egress = { inter_region_per_gb = 0.02, internet_per_gb = 0.09 }

[sweep]
[sweep.params]
"services.api.replicas" = [1, 2]
"#,
    )
    .unwrap();
    let out = dir.join("both");
    ok(&[
        "sweep",
        s(&scenario),
        "--out",
        s(&out),
        "--format",
        "csv,parquet",
        "--region-timeseries",
        "--deployment-timeseries",
        "--edge-timeseries",
        "--quiet",
    ]);
    let df = same_as_csv(&out, "regions");
    let types: Vec<String> = df.dtypes().iter().map(ToString::to_string).collect();
    assert_eq!(
        types,
        [
            "u64", "u64", "str", "u64", "u64", "u64", "u64", "u64", "u64", "u64", "f64", "u64",
            "f64", "f64", "f64", "f64", "f64"
        ]
    );
    assert_eq!(
        df.height(),
        2 * 2 * 2,
        "2 points, 2 replications, 2 regions"
    );
    // Their time series, typed as the sweep writes them.
    let df = same_as_csv(&out, "regions_timeseries");
    let types: Vec<String> = df.dtypes().iter().map(ToString::to_string).collect();
    assert_eq!(
        types,
        [
            "u64", "u64", "f64", "str", "f64", "f64", "f64", "u64", "u64", "u64", "f64", "f64",
            "bool"
        ]
    );
    assert_eq!(
        df.height() % (2 * 2 * 2),
        0,
        "every run's regions per interval"
    );
    // Its deployments: the service and the region strings, the counts
    // whole numbers.
    let df = same_as_csv(&out, "deployments");
    let types: Vec<String> = df.dtypes().iter().map(ToString::to_string).collect();
    assert_eq!(
        types,
        [
            "u64", "u64", "str", "str", "u64", "u64", "f64", "f64", "f64", "f64", "f64", "f64",
            "f64", "u64", "u64", "u64", "f64", "f64", "f64"
        ]
    );
    assert_eq!(
        df.height(),
        2 * 2 * 2,
        "2 points, 2 replications, api in 2 regions"
    );
    // And their time series.
    let df = same_as_csv(&out, "deployments_timeseries");
    let types: Vec<String> = df.dtypes().iter().map(ToString::to_string).collect();
    assert_eq!(
        types,
        [
            "u64", "u64", "f64", "str", "str", "f64", "u64", "u64", "u64", "f64", "f64", "f64",
            "f64", "f64", "u64", "f64", "bool"
        ]
    );
    assert_eq!(
        df.height() % (2 * 2 * 2),
        0,
        "every run's deployments per interval"
    );
    // Its call edges: caller and callee strings, the counts whole numbers.
    let df = same_as_csv(&out, "edges");
    let types: Vec<String> = df.dtypes().iter().map(ToString::to_string).collect();
    assert_eq!(
        types,
        [
            "u64", "u64", "str", "str", "u64", "u64", "u64", "u64", "u64", "u64", "u64", "u64",
            "u64", "u64", "u64", "f64", "f64", "f64", "f64", "f64"
        ]
    );
    assert_eq!(df.height(), 2 * 2, "2 points, 2 replications, one edge");
    // And their time series.
    let df = same_as_csv(&out, "edges_timeseries");
    let types: Vec<String> = df.dtypes().iter().map(ToString::to_string).collect();
    assert_eq!(
        types,
        [
            "u64", "u64", "f64", "str", "str", "f64", "f64", "u64", "u64", "u64", "u64", "u64",
            "u64", "f64", "f64", "u64", "bool"
        ]
    );
    assert_eq!(df.height() % (2 * 2), 0, "every run's edge per interval");
    // Its bill: the line's names strings, its costs floats.
    let df = same_as_csv(&out, "bill");
    let types: Vec<String> = df.dtypes().iter().map(ToString::to_string).collect();
    assert_eq!(
        types,
        ["u64", "u64", "str", "str", "str", "str", "f64", "f64"]
    );
    assert_eq!(
        df.height(),
        2 * 2 * 6,
        "2 points, 2 replications: api in 2 regions, 2 kinds of egress from each"
    );
}
