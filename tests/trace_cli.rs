//! End-to-end tests of `headroom trace ...`: the fast path's output contract
//! on the real samples, conversion round trips, and the broken-file corpus
//! (`traces/samples/broken/`): exit code 2, one message naming the problem,
//! nothing written.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{headroom, root};

fn sample(rel: &str) -> PathBuf {
    root().join("traces/samples").join(rel)
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

/// Writes `text` to a fresh file under the test directory.
fn write(name: &str, text: &str) -> PathBuf {
    let path = tmp(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// No file in `dir` whose name ends in `.tmp`.
fn no_temp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".tmp"),
            "{name} was left in {}",
            dir.display()
        );
    }
}

#[test]
fn a_huge_count_is_refused_at_once_by_every_trace_command() {
    // Found by fuzzing: every command expanded 10^12 records (never
    // finishing); convert filled the disk with its temporary file.
    let dir = tmp("huge-count");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join("c.csv");
    std::fs::write(&c, "minute_index,requests\n0,1000000000000\n1,5\n").unwrap();
    let c = c.to_str().unwrap();
    let out = dir.join("o.csv");
    let o = out.to_str().unwrap();
    let expect = "c.csv: row 2, column `requests`: \"1000000000000\" is not a request count of \
                  at most 60000000000";
    fails(&["trace", "inspect", c], &out, expect);
    fails(&["trace", "convert", c, "--out", o], &out, expect);
    fails(
        &["trace", "cache", c, "--sizes", "10", "--out", o],
        &out,
        expect,
    );
    fails(&["trace", "fit", c, "--out", o], &out, expect);
    no_temp_files(&dir);
    // A Headroom trace read as counts: its times are no counts.
    let t = write("times.csv", "t_ns,key\n1700000000000000000,1\n");
    fails(
        &[
            "trace",
            "inspect",
            t.to_str().unwrap(),
            "--format",
            "counts",
            "--trace-opts",
            "count-col=1",
        ],
        &out,
        "row 2, column `t_ns`: \"1700000000000000000\" is not a request count of at most \
         1000000000",
    );
}

#[test]
fn a_count_series_index_places_its_intervals() {
    // Found by fuzzing: minute 10 was read as minute 1 (span 119 s, 1.008
    // req/s). 120 requests over minutes 0 and 10: 659 s from the first to
    // the last, 0.182 req/s.
    let gap = write("gap.csv", "minute_index,requests\n0,60\n10,60\n");
    let out = headroom(&["trace", "inspect", gap.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains("span             659.000 s") && s.contains("mean rate        0.182 req/s"),
        "{s}"
    );
    let never = tmp("never-index.csv");
    for (name, body, expect) in [
        (
            "backwards.csv",
            "minute_index,requests\n0,1\n5,1\n3,1\n",
            "row 4, column `minute_index`: \"3\" is not an interval index after the previous \
             row's 5",
        ),
        (
            "duplicate.csv",
            "minute_index,requests\n0,1\n0,1\n",
            "row 3, column `minute_index`: \"0\" is not an interval index after",
        ),
        (
            "negative.csv",
            "minute_index,requests\n-1,1\n",
            "row 2, column `minute_index`: \"-1\" is not an interval index (a non-negative \
             integer",
        ),
    ] {
        let f = write(name, body);
        let f = f.to_str().unwrap();
        fails(&["trace", "inspect", f], &never, expect);
        fails(
            &["trace", "convert", f, "--out", never.to_str().unwrap()],
            &never,
            expect,
        );
    }
}

#[test]
fn a_mapped_column_past_the_end_of_a_row_exits_2() {
    // Found by fuzzing: obj-id-col=99 read every key as empty and exited 0.
    let f = write("short-rows.csv", "a,b,c\n1,x,5\n2,y,6\n");
    let never = tmp("never-cols.csv");
    for (opts, expect) in [
        (
            "has-header=true,time-col=1,obj-id-col=99,obj-size-col=77",
            "short-rows.csv: row 2 has 3 fields; obj-id-col=99 is field 99",
        ),
        (
            "has-header=true,time-col=1,obj-id-col=2,op-col=4",
            "short-rows.csv: row 2 has 3 fields; op-col=4 is field 4",
        ),
    ] {
        fails(
            &[
                "trace",
                "inspect",
                f.to_str().unwrap(),
                "--format",
                "csv",
                "--trace-opts",
                opts,
            ],
            &never,
            expect,
        );
    }
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let f = write("bom.csv", "\u{feff}t_ns,key\n1,2\n5,3\n");
    let out = headroom(&["trace", "inspect", f.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains("(headroom)") && s.contains("rows             2"),
        "{s}"
    );
}

/// `n` requests evenly over `span_s` seconds (the fuzzing recipe).
fn even_trace(name: &str, n: u64, span_s: f64) -> PathBuf {
    let mut body = String::from("t_ns,key\n");
    for i in 0..n {
        let t = (i as f64 * span_s * 1e9 / n as f64) as u64;
        body.push_str(&format!("{t},k{}\n", i % 10));
    }
    write(name, &body)
}

#[test]
fn fit_weighs_a_partial_last_second_and_writes_what_check_accepts() {
    // Found by fuzzing: 1000 requests over 1.01 s were fitted at 500/s
    // (inspect: 991/s); 10,000 over 10.01 s gave an MMPP state
    // `{ rate = 9, holding = "0s" }` that `check` refused.
    let short = even_trace("short.csv", 1000, 1.01);
    let out = headroom(&["trace", "fit", short.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains("arrivals = { process = \"poisson\", rate = 991.000000 }"),
        "{s}"
    );
    let seed = root().join("experiments/seed.toml");
    for (name, n, span) in [("short.csv", 1000, 1.01), ("short10.csv", 10_000, 10.01)] {
        let f = even_trace(name, n, span);
        let out = headroom(&["trace", "fit", f.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let s = text(&out.stdout);
        let arrivals = s
            .lines()
            .find_map(|l| l.strip_prefix("arrivals = "))
            .unwrap_or_else(|| panic!("{s}"));
        assert!(!arrivals.contains("rate = 9.0"), "{arrivals}");
        let check = headroom(&[
            "check",
            seed.to_str().unwrap(),
            "--set",
            &format!("workload.arrivals={arrivals}"),
        ]);
        assert!(
            check.status.success(),
            "{arrivals}: {}",
            text(&check.stderr)
        );
    }
    // Every record at one instant: no rate to fit.
    let one = write("instant.csv", "t_ns,key\n5,1\n5,2\n");
    fails(
        &["trace", "fit", one.to_str().unwrap()],
        &tmp("never-fit.toml"),
        "instant.csv: every record is at one instant",
    );
}

#[test]
fn trace_cache_lists_only_the_evictions_it_takes() {
    // Found by fuzzing: the list named ttl-only, which trace cache refuses.
    let f = write("evict.csv", "t_ns,key\n1,1\n2,2\n");
    for (eviction, expect) in [
        (
            "bogus",
            "--eviction \"bogus\": unknown eviction; trace cache takes lru, fifo, lfu, s3-fifo",
        ),
        (
            "ttl-only",
            "--eviction ttl-only needs a TTL; trace cache takes lru, fifo, lfu, s3-fifo",
        ),
        (
            ",",
            "--eviction: give at least one of lru, fifo, lfu, s3-fifo",
        ),
    ] {
        let o = headroom(&[
            "trace",
            "cache",
            f.to_str().unwrap(),
            "--sizes",
            "1",
            "--eviction",
            eviction,
        ]);
        assert_eq!(o.status.code(), Some(2));
        let err = text(&o.stderr);
        assert!(err.contains(expect) && !err.contains("ttl-only,"), "{err}");
    }
    // Every listed one runs.
    let o = headroom(&[
        "trace",
        "cache",
        f.to_str().unwrap(),
        "--sizes",
        "1",
        "--eviction",
        "lru,fifo,lfu,s3-fifo",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// Sizes are u64: `trace inspect` and `trace cache` sum the largest
/// without overflow (found by fuzzing: a debug build panicked, a release
/// build wrapped the byte total around).
#[test]
fn the_largest_sizes_sum_exactly() {
    let max = u64::MAX;
    let f = write(
        "largest.csv",
        &format!("t_ns,key,size_bytes\n1,1,{max}\n2,1,{max}\n3,2,1\n"),
    );
    let o = headroom(&["trace", "inspect", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let said = text(&o.stdout);
    let total = 2 * u128::from(max) + 1;
    assert!(
        said.contains(&format!("bytes requested  {total}\n")),
        "{said}"
    );
    // 2 objects of capacity: the second request of key 1 hits.
    let o = headroom(&["trace", "cache", f.to_str().unwrap(), "--sizes", "2"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let ratio = (u64::MAX as f64 + 1.0) / (2.0 * u64::MAX as f64 + 1.0);
    assert_eq!(
        text(&o.stdout).lines().nth(1).unwrap(),
        format!("lru,2,3,2,0.666667,{ratio:.6}")
    );
}

/// A trace longer than `trace fit` bins is refused with the record that
/// passes the limit, the limit and the way out.
#[test]
fn fit_names_the_record_past_its_span() {
    let f = write("long.csv", "t_ns\n0\n1000000000\n20000000000000000\n");
    let o = headroom(&["trace", "fit", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr),
        format!(
            "error: {}: record 3 is 20000000 s after the first; trace fit counts arrivals per \
             second over at most 10000000 s (about 115 days): fit a part of the trace\n",
            f.display()
        )
    );
}

/// Runs the binary in `dir`.
fn headroom_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

#[test]
fn bad_output_paths_exit_2_naming_the_path_before_any_work() {
    // Found by fuzzing: `--out .` exited 1 leaving `..tmp`; a `--plot` that
    // is a folder left `d.svg.tmp`; `--plot nope/x.svg` exited 1; `inspect
    // --plot FILE` said only "File exists (os error 17)".
    let dir = tmp("out-paths");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("d.svg")).unwrap();
    std::fs::create_dir_all(dir.join("plots/rate.svg")).unwrap();
    let trace = dir.join("t.csv");
    std::fs::write(&trace, "t_ns,key\n1,1\n2,2\n").unwrap();
    let t = trace.to_str().unwrap();
    let cache = ["trace", "cache", t, "--sizes", "1"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            [&cache[..], &["--out", "."]].concat(),
            "--out .: not a file name",
        ),
        (
            vec!["trace", "fit", t, "--out", "."],
            "--out .: not a file name",
        ),
        (
            vec!["trace", "fit", t, "--out", ".."],
            "--out ..: not a file name",
        ),
        (
            vec!["trace", "convert", t, "--out", "d.svg"],
            "--out d.svg: is a folder; give a file name",
        ),
        (
            [&cache[..], &["--plot", "d.svg"]].concat(),
            "--plot d.svg: is a folder; give a file name",
        ),
        (
            [&cache[..], &["--out", "t.csv/x.csv"]].concat(),
            "--out t.csv/x.csv: t.csv is a file, not a folder",
        ),
        (
            vec!["trace", "inspect", t, "--plot", "t.csv"],
            "--plot t.csv: is a file; give a folder",
        ),
        (
            vec!["trace", "inspect", t, "--plot", "plots"],
            "--plot plots/rate.svg: is a folder; give a file name",
        ),
    ];
    for (args, expect) in &cases {
        let o = headroom_in(&dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
        // One line, before the trace was read.
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        no_temp_files(&dir);
        no_temp_files(&dir.join("d.svg"));
    }
    // A missing folder is created, as for --out.
    let o = headroom_in(
        &dir,
        &[&cache[..], &["--plot", "nope/x.svg", "--out", "nope/m.csv"]].concat(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(dir.join("nope/x.svg").is_file() && dir.join("nope/m.csv").is_file());
    no_temp_files(&dir.join("nope"));
}

/// Ctrl-C (SIGINT) or a kill (SIGTERM) in the middle of a long `trace
/// synth` removes its temporary file, leaves no output and exits with
/// 128 + the signal's number. The run is bounded: the command is stopped
/// as soon as its temporary file has grown, and killed outright if it
/// does not end within 20 s of the signal.
#[cfg(unix)]
#[test]
#[allow(clippy::disallowed_methods)] // the wall clock only bounds the wait
fn an_interrupted_trace_command_leaves_no_temporary_file() {
    use std::time::{Duration, Instant};
    let dir = tmp("interrupted");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A billion requests: far more than the test ever lets it write.
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        "[run]\nduration = \"1000s\"\nreplications = 1\n\n\
         [workload]\narrivals = { process = \"poisson\", rate = 1000000.0 }\n\n\
         [[services]]\nname = \"api\"\ninstance = { workers = 4 }\n\
         work = { distribution = \"exponential\", mean = \"1ms\" }\nreplicas = 1\n",
    )
    .unwrap();
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let out = dir.join("t.csv");
        let staged = dir.join(".t.csv.tmp");
        let mut child = Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(["trace", "synth", scenario.to_str().unwrap(), "--out"])
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::fs::metadata(&staged).map_or(0, |m| m.len()) < 1 << 20 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{signal}: no temporary file grew"
            );
            assert!(child.try_wait().unwrap().is_none(), "{signal}: it ended");
            std::thread::sleep(Duration::from_millis(10));
        }
        let sent = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let signalled = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if signalled.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("{signal}: still running 20 s after the signal");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(code), "{signal}: {status:?}");
        assert!(!staged.exists(), "{signal}: the temporary file was left");
        assert!(!out.exists(), "{signal}: an output was written");
        no_temp_files(&dir);
    }
}
