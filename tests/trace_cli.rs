//! End-to-end tests of `headroom trace ...`: the fast path's output contract
//! on the real samples, conversion round trips, and the broken-file corpus
//! (`traces/samples/broken/`): exit code 2, one message naming the problem,
//! nothing written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sample(rel: &str) -> PathBuf {
    root().join("traces/samples").join(rel)
}

fn headroom(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    // Under the target directory (cleaned with it), not the system's
    // temporary directory, where every run would leave a directory behind.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trace-cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn trace_cache_prints_the_contract_columns_and_libcachesim_counts() {
    let bin = sample("cloudphysics-io/cloudPhysicsIO.oracleGeneral.bin");
    let out = headroom(&[
        "trace",
        "cache",
        bin.to_str().unwrap(),
        "--eviction",
        "lru,fifo",
        "--sizes",
        "128MiB,1GiB",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "eviction,size,requests,misses,miss_ratio,byte_miss_ratio"
    );
    assert!(
        lines[1].starts_with("lru,128MiB,113872,93374,0.819991,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("lru,1GiB,113872,71704,0.629689,"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("fifo,128MiB,113872,93403,"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].starts_with("fifo,1GiB,113872,72140,"),
        "{}",
        lines[4]
    );
    // Plain integers (or --ignore-obj-size) are object counts.
    let out = headroom(&[
        "trace",
        "cache",
        bin.to_str().unwrap(),
        "--sizes",
        "1000",
        "--ignore-obj-size",
    ]);
    assert!(
        text(&out.stdout).contains("lru,1000,113872,94823,"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn libcachesim_csv_with_column_options_reads_the_csv_sample() {
    let csv = sample("cloudphysics-io/cloudPhysicsIO.csv");
    let out = headroom(&[
        "trace",
        "inspect",
        csv.to_str().unwrap(),
        "--format",
        "csv",
        "--trace-opts",
        "time-col=2,obj-id-col=5,obj-size-col=4,has-header=true",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("rows             113872"), "{s}");
    assert!(s.contains("distinct keys    48974"), "{s}");
    assert!(
        s.contains("working set      distinct keys per hour: first 35117"),
        "{s}"
    );
}

#[test]
fn convert_round_trips_into_the_same_cache_results() {
    let bin = sample("cloudphysics-io/cloudPhysicsIO.oracleGeneral.bin");
    let out_csv = tmp("cloud.csv");
    let out = headroom(&[
        "trace",
        "convert",
        bin.to_str().unwrap(),
        "--out",
        out_csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let head = std::fs::read_to_string(&out_csv).unwrap();
    assert!(head.starts_with("t_ns,key,op,size_bytes,client,region,route,status,latency_ns\n"));
    let a = headroom(&[
        "trace",
        "cache",
        bin.to_str().unwrap(),
        "--eviction",
        "s3-fifo,lfu",
        "--sizes",
        "256MiB",
    ]);
    let b = headroom(&[
        "trace",
        "cache",
        out_csv.to_str().unwrap(),
        "--eviction",
        "s3-fifo,lfu",
        "--sizes",
        "256MiB",
    ]);
    assert_eq!(text(&a.stdout), text(&b.stdout));
}

#[test]
fn inspect_and_fit_read_the_azure_and_nasa_samples() {
    let azure = sample("azure-llm-inference-2023/AzureLLMInferenceTrace_code.csv");
    let out = headroom(&["trace", "inspect", azure.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains("(timestamped)") && s.contains("rows             8819"),
        "{s}"
    );
    let nasa = sample("nasa-http-1995/nasa_requests_per_minute.csv.gz");
    let dir = tmp("plots");
    let out = headroom(&[
        "trace",
        "inspect",
        nasa.to_str().unwrap(),
        "--plot",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        std::fs::read_to_string(dir.join("rate.svg"))
            .unwrap()
            .contains("Arrival rate")
    );
    assert!(
        std::fs::read_to_string(dir.join("popularity.svg"))
            .unwrap()
            .contains("Key popularity")
    );
    let out = headroom(&["trace", "fit", nasa.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("[workload]\narrivals = { process = "), "{s}");
}

/// Runs a command that must fail with exit code 2, a message containing
/// `expect`, and no output file.
fn fails(args: &[&str], out: &Path, expect: &str) {
    let o = headroom(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains(expect), "{args:?}: {err}");
    assert!(!out.exists(), "{} was written", out.display());
}

#[test]
fn broken_traces_exit_2_with_one_message_and_write_nothing() {
    let b = |f: &str| sample(&format!("broken/{f}")).to_str().unwrap().to_owned();
    let out = tmp("never.csv");
    let o = out.to_str().unwrap();
    fails(
        &[
            "trace",
            "convert",
            &b("truncated.oracleGeneral.bin"),
            "--out",
            o,
        ],
        &out,
        "record 5 (byte offset 96) is truncated: 4 of 24 bytes",
    );
    fails(
        &["trace", "convert", &b("backwards.csv"), "--out", o],
        &out,
        "row 4: time 15 ns is before the previous record's 20 ns",
    );
    fails(
        &["trace", "convert", &b("bad-row.csv"), "--out", o],
        &out,
        "row 3, column `op`: \"delete\" is not `read` or `write`",
    );
    fails(
        &["trace", "convert", &b("empty.csv"), "--out", o],
        &out,
        "the trace has no records",
    );
    fails(
        &["trace", "convert", &b("unknown.dat"), "--out", o],
        &out,
        "cannot tell the trace format",
    );
    fails(
        &[
            "trace",
            "cache",
            &b("bad-row.csv"),
            "--sizes",
            "10",
            "--out",
            o,
        ],
        &out,
        "bad-row.csv",
    );
    fails(
        &[
            "trace",
            "convert",
            &b("bad-row.csv"),
            "--format",
            "arrow",
            "--out",
            o,
        ],
        &out,
        "unknown trace format",
    );
    fails(
        &[
            "trace",
            "cache",
            &b("bad-row.csv"),
            "--sizes",
            "10",
            "--eviction",
            "arc",
        ],
        &out,
        "unknown eviction",
    );
}

#[test]
fn skip_bad_rows_and_sort_window_recover() {
    let out = tmp("fixed.csv");
    let o = headroom(&[
        "trace",
        "convert",
        sample("broken/bad-row.csv").to_str().unwrap(),
        "--skip-bad-rows",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("skipped 1 bad rows (first: row 3, column `op`"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3);
    let o = headroom(&[
        "trace",
        "convert",
        sample("broken/backwards.csv").to_str().unwrap(),
        "--sort-window",
        "10ns",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rows: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l[..2].to_owned())
        .collect();
    assert_eq!(rows, ["10", "15", "20", "30"]);
    // A trace shorter than the fast path's lookahead: every request counted.
    let o = headroom(&[
        "trace",
        "cache",
        sample("broken/backwards.csv").to_str().unwrap(),
        "--sort-window",
        "10ns",
        "--sizes",
        "2",
    ]);
    assert_eq!(
        text(&o.stdout).lines().nth(1),
        Some("lru,2,4,4,1.000000,1.000000")
    );
}
