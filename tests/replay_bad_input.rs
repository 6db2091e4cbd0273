//! Bad input to `headroom replay` (the broken-file corpus in
//! `traces/samples/broken/`, a missing file, bad flags): exit code 2, one
//! message naming the trace and what is wrong, no output folder.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{expect_refused, headroom, root};

fn broken(name: &str) -> String {
    root()
        .join("traces/samples/broken")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A fresh scratch folder `replay-bad/NAME`, apart from other binaries'.
fn tempdir(name: &str) -> PathBuf {
    common::tempdir(&format!("replay-bad/{name}"))
}

fn scenario(dir: &Path) -> PathBuf {
    let path = dir.join("s.toml");
    std::fs::write(
        &path,
        r#"
[run]
duration = "1m"
warmup = "0s"
replications = 1

[workload]
arrivals = { process = "poisson", rate = 5.0 }

[[services]]
name = "api"
instance = { workers = 4, queue = "unbounded" }
work = { distribution = "exponential", mean = "1ms" }
replicas = 1
"#,
    )
    .unwrap();
    path
}

fn replay(name: &str, trace: &str, extra: &[&str]) -> (Output, PathBuf) {
    let dir = tempdir(name);
    let s = scenario(&dir);
    let out = dir.join("out");
    let mut args = vec![
        "replay",
        trace,
        "--scenario",
        s.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend(extra);
    (headroom(&args), out)
}

/// Exit 2, one `error:` line containing every needle, nothing written.
fn refused(name: &str, trace: &str, extra: &[&str], needles: &[&str]) {
    let (o, out) = replay(name, trace, extra);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{name}: {err}");
    assert_eq!(err.lines().count(), 1, "{name}: one message: {err}");
    assert!(err.starts_with("error: "), "{err}");
    // The flags became `--set workload.arrivals=...` inside; the message
    // speaks of what the user wrote.
    assert!(
        !err.contains("workload.arrivals"),
        "{name}: names the flags, not the table they became: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "{name}: {err:?} lacks {n:?}");
    }
    assert!(!out.exists(), "{name}: nothing written");
}

#[test]
fn a_missing_trace_is_named() {
    refused(
        "missing",
        &broken("no-such-trace.csv"),
        &[],
        &["no-such-trace.csv", "no such file"],
    );
}

#[test]
fn an_unknown_format_is_refused() {
    refused(
        "unknown",
        &broken("unknown.dat"),
        &[],
        &["unknown.dat", "--format"],
    );
    refused(
        "bad-flag",
        &broken("backwards.csv"),
        &["--format", "xml"],
        &["error: --format \"xml\": expected one of", "headroom"],
    );
}

#[test]
fn backwards_timestamps_are_refused_or_reordered_within_a_sort_window() {
    refused(
        "backwards",
        &broken("backwards.csv"),
        &[],
        &["backwards.csv", "row 4", "before the previous", "sort"],
    );
    let (o, out) = replay(
        "sorted",
        &broken("backwards.csv"),
        &["--sort-window", "1us"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    assert_eq!(runs.lines().nth(1).unwrap().split(',').nth(3), Some("4"));
}

#[test]
fn an_empty_trace_is_refused() {
    refused(
        "empty",
        &broken("empty.csv"),
        &[],
        &["empty.csv", "no records"],
    );
}

#[test]
fn a_bad_row_is_named_or_skipped() {
    refused(
        "bad-row",
        &broken("bad-row.csv"),
        &[],
        &["bad-row.csv", "row 3", "`op`", "delete"],
    );
    let (o, _) = replay("skipped", &broken("bad-row.csv"), &["--skip-bad-rows"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_truncated_binary_record_is_refused() {
    refused(
        "truncated",
        &broken("truncated.oracleGeneral.bin"),
        &[],
        &["truncated.oracleGeneral.bin", "record 5", "truncated"],
    );
}

#[test]
fn bad_replay_flags_are_named() {
    refused(
        "speedup",
        &broken("backwards.csv"),
        &["--speedup", "0", "--sort-window", "1us"],
        &["error: --speedup 0: expected", "> 0"],
    );
    refused(
        "window",
        &broken("backwards.csv"),
        &["--window", "5m..1m", "--sort-window", "1us"],
        &["error: --window \"5m..1m\": expected", "TO after FROM"],
    );
    refused(
        "shift",
        &broken("backwards.csv"),
        &["--scale-load", "2", "--shift", "1 s"],
        &["error: --shift: \"1 s\" is not a duration", "\"1.5s\""],
    );
    refused(
        "sort-window",
        &broken("backwards.csv"),
        &["--sort-window=-1s"],
        &["error: --sort-window: \"-1s\" is not a duration"],
    );
    refused(
        "format-name",
        &broken("backwards.csv"),
        &["--format", "json"],
        &["error: --format \"json\": expected one of headroom, csv"],
    );
}

/// A trace the scenario cannot serve (a `route` that is none of its
/// services, a `region` none of its regions) is named as the user gave it,
/// with the value and the names accepted.
#[test]
fn a_trace_naming_what_the_scenario_lacks_is_refused_by_its_path() {
    let dir = tempdir("names-trace");
    for (column, value, needles) in [
        (
            "route",
            "web",
            &[
                "`route` values name entry services",
                "\"web\" is not one of \"api\"",
            ][..],
        ),
        (
            "region",
            "eu",
            &[
                "`region` values are `[[regions]]` names",
                "\"eu\" is not one of \"default\"",
            ][..],
        ),
    ] {
        let trace = common::write(
            &dir,
            &format!("{column}.csv"),
            &format!("t_ns,{column}\n0,{value}\n1000000,{value}\n"),
        );
        let trace = trace.to_str().unwrap();
        let said: Vec<String> = [format!("error: trace {trace}: expected a trace whose")]
            .into_iter()
            .chain(needles.iter().map(|n| (*n).to_owned()))
            .collect();
        let said: Vec<&str> = said.iter().map(String::as_str).collect();
        refused(&format!("names-{column}"), trace, &[], &said);
    }
}

/// Times run to `u64::MAX` ns, but a pass of the trace lasts to the end of
/// its last record's minute: a trace whose last minute ends past that is
/// refused with the time and the way out (a record at `u64::MAX` gave an
/// error about a window nobody asked for, and overflowed in a debug
/// build); a window that ends replays what it holds.
#[test]
fn a_trace_ending_at_the_largest_time_is_refused_unless_windowed() {
    let dir = tempdir("largest-time");
    // Minute grid: the trace's time zero is 33.7 s before `u64::MAX`.
    let trace = common::write(
        &dir,
        "late.csv",
        &format!("t_ns\n{}\n{}\n", u64::MAX - 20_000_000_000, u64::MAX),
    );
    let trace = trace.to_str().unwrap();
    refused(
        "largest-time-refused",
        trace,
        &[],
        &[
            &format!(
                "error: trace {trace}: expected a trace whose last record's minute ends by the \
                 largest time"
            ),
            &format!("its last record is at {} ns", u64::MAX),
        ],
    );
    // `..30s` holds the first record (13.7 s after time zero), not the last.
    let (o, out) = replay("largest-time-windowed", trace, &["--window", "..30s"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = runs.lines().nth(1).unwrap().split(',').collect();
    let requests = header.iter().position(|c| *c == "requests").unwrap();
    assert_eq!(row[requests], "1", "{runs}");
}

/// Without `--loop` the replay's `run.duration` is one pass of the trace,
/// not the scenario's: a warmup longer than the scenario's duration but
/// shorter than the pass is taken (it was refused against the scenario's),
/// and an error about the duration says where it came from.
#[test]
fn the_duration_is_the_pass() {
    let dir = tempdir("pass");
    // Two minutes: records at 0 and 90 s; the scenario says 1m.
    let trace = common::write(&dir, "two-minutes.csv", "t_ns\n0\n90000000000\n");
    let (o, out) = replay(
        "pass-ok",
        trace.to_str().unwrap(),
        &["--set", "run.warmup=\"90s\""],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("runs.csv").is_file());
    refused(
        "pass-warmup",
        trace.to_str().unwrap(),
        &["--set", "run.warmup=\"3m\""],
        &[
            "`run.warmup` = 3m: expected a duration shorter than `run.duration` (2m)",
            "; without --loop a replay lasts one pass of the trace, 2m, its `run.duration`",
        ],
    );
}

/// A scenario whose `[workload.arrivals]` names a broken trace is refused
/// at its `path` key, and the advice names the table's keys (`format`,
/// `sort_window`), not the command-line flags it would need elsewhere.
#[test]
fn a_broken_trace_in_a_scenario_is_refused_in_the_scenarios_terms() {
    for (name, trace, needles) in [
        (
            "scenario-unknown",
            "unknown.dat",
            &["give `format`", "`options`"][..],
        ),
        (
            "scenario-backwards",
            "backwards.csv",
            &["`sort_window`"][..],
        ),
    ] {
        let dir = tempdir(name);
        let text = std::fs::read_to_string(scenario(&dir)).unwrap().replace(
            "arrivals = { process = \"poisson\", rate = 5.0 }",
            &format!(
                "arrivals = {{ process = \"trace\", path = {:?} }}",
                broken(trace)
            ),
        );
        let s = common::write(&dir, "s.toml", &text);
        let trace_needles = ["`workload.arrivals.path`", trace];
        let all: Vec<&str> = trace_needles.iter().chain(needles).copied().collect();
        let err = expect_refused(&s, &[], &all);
        assert!(!err.contains("--"), "{name}: no flag named: {err}");
    }
}

/// A scenario that starts its caches warm cannot take a trace's arrivals:
/// the requests before the trace's first are unknown. The message names
/// the key and how to turn it off.
#[test]
fn a_cache_warm_start_is_refused_with_a_replayed_trace() {
    let trace = root().join("traces/samples/nasa-http-1995/nasa_requests_per_minute.csv.gz");
    refused(
        "warm-start",
        trace.to_str().unwrap(),
        &[
            "--set",
            "edge.cache={ max_age = \"1m\", cacheable_fraction = 0.5 }",
            "--set",
            "run.cache_warm_start=\"1h\"",
        ],
        &[
            "`run.cache_warm_start` = 1h",
            "a replayed trace",
            "--set run.cache_warm_start=\"0s\"",
        ],
    );
}
