//! Odd input through the commands that read files the user hands them,
//! in a debug build (integer overflow panics here, where a release build
//! would wrap it into a wrong number):
//!
//! - `trace inspect`, `cache`, `fit`, `convert` and `replay` on valid but
//!   odd Headroom traces (times at 0 or near `u64::MAX`, all at one
//!   instant or days apart, sizes and latencies up to `u64::MAX`, names the
//!   scenario lacks);
//! - `recommend`, `plot` and `merge` on finished folders with one file
//!   edited after it was written (a cell, a line, the header, the
//!   manifest's JSON, the recommendation's TOML; cut, emptied or removed).
//!
//! Each command finishes (exit 0; a fitted workload passes `check`, a
//! converted trace reads back with as many rows) or is refused in one line
//! (exit 2) with nothing written and its input untouched. Never a panic,
//! nor another exit code. A failure prints the case and the command;
//! `HEADROOM_FUZZ_CASES` and `HEADROOM_FUZZ_FIRST` run a longer hunt.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{FuzzRng, fuzz_cases, headroom, headroom_ok, is_empty, s, shell_line, stderr, stdout};

/// Exit 0, or exit 2 with one `error:` line and nothing at `outputs`.
/// Returns whether it ran.
fn ran_or_refused(o: &Output, outputs: &[PathBuf], reproduce: &str) -> bool {
    let said = stderr(o);
    assert!(!said.contains("panicked"), "{said}\n{reproduce}");
    match o.status.code() {
        Some(0) => true,
        Some(2) => {
            let said = said.trim_end();
            // clap's own usage errors end with its usage lines.
            if !said.contains("Usage:") {
                assert_eq!(said.lines().count(), 1, "one line: {said}\n{reproduce}");
            }
            for vague in headroom_policy::config::VAGUE_WORDS {
                assert!(
                    !said.contains(vague),
                    "says what is accepted: {said}\n{reproduce}"
                );
            }
            assert!(said.starts_with("error: "), "{said}\n{reproduce}");
            for out in outputs {
                assert!(
                    !out.exists() || (out.is_dir() && is_empty(out)),
                    "{} written: {said}\n{reproduce}",
                    out.display()
                );
            }
            false
        }
        code => panic!("exit {code:?}: {said}\n{reproduce}"),
    }
}

/// Per command: the cases it ran and those it refused.
type Outcomes = BTreeMap<&'static str, (u32, u32)>;

fn count(outcomes: &mut Outcomes, command: &'static str, ran: bool) {
    let tally = outcomes.entry(command).or_default();
    if ran {
        tally.0 += 1;
    } else {
        tally.1 += 1;
    }
}

/// A valid Headroom trace CSV of odd shape, and its number of records.
fn odd_trace(rng: &mut FuzzRng) -> (String, usize) {
    let n = *rng.pick(&[1, 2, 3, 10, 200, 2000]);
    let mut t = *rng.pick(&[
        0,
        1,
        1_000_000_000,
        1_700_000_000_000_000_000,
        u64::MAX - 1_000_000_000_000,
        u64::MAX - 5_000,
    ]);
    let gaps = rng.below(6);
    let columns: Vec<&str> = headroom_traces::HEADER[1..]
        .iter()
        .copied()
        .filter(|_| rng.chance(0.5))
        .collect();
    let keys = *rng.pick(&[1, 2, 1000, 1 << 40]);
    let text_keys = rng.chance(0.3);
    let size: [&str; 5] = ["0", "1", "1000000000000", "18446744073709551615", ""];
    let size = *rng.pick(&size);
    let latency = *rng.pick(&["0", "5000000", "18446744073709551615", ""]);
    // The replay scenario's service is `api`, its one region `default`.
    let route = *rng.pick(&["api", "api", "other", "a b"]);
    let region = *rng.pick(&["default", "default", "eu"]);
    let mut text = std::iter::once("t_ns")
        .chain(columns.iter().copied())
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    for _ in 0..n {
        let mut row = vec![t.to_string()];
        for c in &columns {
            row.push(match *c {
                "key" => {
                    let k = rng.between(0, keys - 1);
                    if text_keys {
                        format!("/p/{k}")
                    } else {
                        k.to_string()
                    }
                }
                "op" => (*rng.pick(&["read", "write", ""])).to_owned(),
                "size_bytes" if size.is_empty() => rng.between(0, 10_000_000).to_string(),
                "size_bytes" => size.to_owned(),
                "client" => rng.below(5).to_string(),
                "region" => region.to_owned(),
                "route" => route.to_owned(),
                "status" => (*rng.pick(&["200", "503", "0", "65535"])).to_owned(),
                _ if latency.is_empty() => rng.between(0, 1_000_000_000).to_string(),
                _ => latency.to_owned(),
            });
        }
        text.push_str(&row.join(","));
        text.push('\n');
        let gap = match gaps {
            0 => 0,
            1 => 1,
            2 => rng.between(0, 2_000_000),
            3 => rng.between(0, 2_000_000_000),
            4 => rng.between(100_000_000_000_000, 10_000_000_000_000_000),
            _ => *rng.pick(&[0, 0, 0, 1_000_000, 60_000_000_000]),
        };
        t = t.saturating_add(gap);
    }
    (text, n)
}

/// The system the fitted workloads and the replays run on.
const SYSTEM: &str = r#"
[run]
duration = "1s"
warmup = "0s"
replications = 1

[[services]]
name = "api"
instance = { workers = 4, queue = 100 }
work = { distribution = "exponential", mean = "1ms" }
replicas = 1
"#;

/// The records `trace inspect` counts in `trace`.
fn rows(trace: &Path) -> String {
    let o = headroom_ok(&["trace", "inspect", s(trace)]);
    let said = stdout(&o);
    let line = said.lines().find(|l| l.starts_with("rows ")).unwrap_or("");
    line.split_whitespace().nth(1).unwrap_or("").to_owned()
}

#[test]
fn odd_traces_through_the_trace_commands_finish_or_are_refused_in_one_line() {
    let dir = common::tempdir("cli_fuzz_traces");
    let scenario = common::write(&dir, "system.toml", SYSTEM);
    let cases = fuzz_cases(150);
    let mut outcomes = Outcomes::new();
    for case in cases.clone() {
        let mut rng = FuzzRng::new(case, "trace-fuzz");
        let (text, n) = odd_trace(&mut rng);
        let work = dir.join(format!("case-{case}"));
        std::fs::create_dir_all(&work).unwrap();
        let trace = common::write(&work, "t.csv", &text);
        let out = work.join("out");
        let out_csv = work.join("out.csv");
        let out_toml = work.join("out.toml");
        let command = *rng.pick(&["inspect", "cache", "fit", "convert", "replay"]);
        let (trace_arg, out_arg) = (s(&trace), s(&out));
        let (csv_arg, toml_arg) = (s(&out_csv), s(&out_toml));
        let mut args: Vec<&str> = match command {
            "inspect" => vec!["trace", "inspect", trace_arg],
            "cache" => vec![
                "trace",
                "cache",
                trace_arg,
                "--sizes",
                *rng.pick(&["1", "2,1000", "1KB,1GiB", "18446744073709551615"]),
                "--eviction",
                *rng.pick(&["lru", "fifo,lfu", "s3-fifo,lru"]),
                "--out",
                csv_arg,
            ],
            "fit" => vec!["trace", "fit", trace_arg, "--out", toml_arg],
            "convert" => vec!["trace", "convert", trace_arg, "--out", csv_arg],
            _ => vec![
                "replay",
                trace_arg,
                "--scenario",
                s(&scenario),
                "--out",
                out_arg,
                "--quiet",
                "--threads",
                "1",
            ],
        };
        if command == "inspect" && rng.chance(0.5) {
            args.extend(["--plot", out_arg]);
        }
        if command == "cache" && rng.chance(0.3) {
            args.push("--ignore-obj-size");
        }
        if command == "replay" {
            if rng.chance(0.3) {
                args.extend(["--scale-load", *rng.pick(&["0.5", "3"])]);
            }
            // One pass is at most 6,000 requests; a loop of 2 s at most
            // 6,000 a second (a pass of at least a second, no speedup): a
            // 1 ns window looped would be the simulator's largest rate.
            if rng.chance(0.3) {
                args.extend(["--loop", "--set", "run.duration=\"2s\""]);
                if rng.chance(0.3) {
                    args.extend(["--window", *rng.pick(&["..1s", "1s.."])]);
                }
            } else {
                if rng.chance(0.3) {
                    args.extend(["--speedup", *rng.pick(&["1e-3", "1000"])]);
                }
                if rng.chance(0.3) {
                    args.extend(["--window", *rng.pick(&["..1s", "1s..", "0s..1ns"])]);
                }
            }
        }
        if rng.chance(0.2) {
            args.extend(["--sort-window", *rng.pick(&["0s", "1ms", "1h"])]);
        }
        let reproduce = format!("case {case} ({n} records): {}", shell_line(&args));
        let o = headroom(&args);
        let ran = ran_or_refused(
            &o,
            &[out.clone(), out_csv.clone(), out_toml.clone()],
            &reproduce,
        );
        if ran && command == "fit" {
            // What fit writes is a `[workload]` a scenario takes.
            let fitted = std::fs::read_to_string(&out_toml).unwrap();
            let whole = common::write(&work, "fitted.toml", &format!("{fitted}\n{SYSTEM}"));
            let o = headroom(&["check", s(&whole)]);
            assert!(o.status.success(), "check: {}\n{reproduce}", stderr(&o));
        }
        if ran && command == "convert" {
            assert_eq!(rows(&out_csv), rows(&trace), "{reproduce}");
        }
        count(&mut outcomes, command, ran);
        let _ = std::fs::remove_dir_all(&work);
    }
    println!("ran, refused: {outcomes:?}");
    // In the default cases each command runs somewhere, and each but
    // convert and inspect (which take any valid trace) is refused somewhere.
    if cases == (0..150) {
        for (command, (ran, refused)) in &outcomes {
            assert!(*ran > 0, "{command} never ran: {outcomes:?}");
            assert!(
                *refused > 0 || *command == "convert" || *command == "inspect",
                "{command} never refused: {outcomes:?}"
            );
        }
    }
}

/// Odd cell values an edit puts in.
const CELLS: [&str; 16] = [
    "",
    "nan",
    "inf",
    "-1",
    "0",
    "1e308",
    "abc",
    "1.5",
    "99999999999999999999",
    "\"x,y\"",
    "\"",
    " 1",
    "true",
    "-1e308",
    "é",
    "1,2",
];

/// One random edit of the text of a table, manifest or recommendation.
fn edit(name: &str, text: &str, rng: &mut FuzzRng) -> String {
    if name.ends_with(".json") && rng.chance(0.85) {
        let mut json: serde_json::Value = serde_json::from_str(text).unwrap();
        edit_json(&mut json, rng);
        return serde_json::to_string_pretty(&json).unwrap();
    }
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        return "x\n".into();
    }
    let i = rng.below(lines.len());
    match rng.below(10) {
        0..=3 if name.ends_with(".csv") => {
            let mut cells: Vec<String> = lines[i].split(',').map(str::to_owned).collect();
            let j = rng.below(cells.len());
            cells[j] = if rng.chance(0.7) {
                (*rng.pick(&CELLS)).to_owned()
            } else {
                // A value from elsewhere in the file.
                let other = rng.pick(&lines).split(',').collect::<Vec<_>>();
                (*rng.pick(&other)).to_owned()
            };
            lines[i] = cells.join(",");
        }
        0..=3 => {
            if let Some((key, _)) = lines[i].split_once('=') {
                lines[i] = format!(
                    "{key}= {}",
                    *rng.pick(&["0", "-1", "\"abc\"", "nan", "[]", "{}"])
                );
            }
        }
        4 => {
            lines.remove(i);
        }
        5 => lines.insert(i, lines[i].clone()),
        6 => {
            let j = rng.below(lines.len());
            lines.swap(i, j);
        }
        7 => {
            let cut = rng.below(text.len() + 1);
            return text.get(..cut).unwrap_or(text).to_owned();
        }
        8 if name.ends_with(".csv") => {
            // A column dropped from every line.
            let j = rng.below(lines[0].split(',').count());
            for line in &mut lines {
                let kept: Vec<&str> = line
                    .split(',')
                    .enumerate()
                    .filter(|(k, _)| *k != j)
                    .map(|(_, c)| c)
                    .collect();
                *line = kept.join(",");
            }
        }
        _ => {
            return match rng.below(4) {
                0 => String::new(),
                1 => format!("\u{feff}{text}"),
                2 => text.replace('\n', "\r\n"),
                _ => format!("{text}garbage\n"),
            };
        }
    }
    lines.join("\n") + "\n"
}

/// One random leaf of `json` removed or given another value.
fn edit_json(json: &mut serde_json::Value, rng: &mut FuzzRng) {
    use serde_json::Value;
    let mut at = json;
    loop {
        let len = match at {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        if len == 0 {
            break;
        }
        let k = rng.below(len);
        let leaf = match at {
            Value::Object(m) => !m.values().nth(k).unwrap().is_object(),
            Value::Array(a) => !a[k].is_object() && !a[k].is_array(),
            _ => unreachable!(),
        };
        if leaf || rng.chance(0.25) {
            let odd = [
                Value::Null,
                Value::from(0),
                Value::from(-1),
                Value::from(1.5),
                Value::from(u64::MAX),
                Value::from("abc"),
                Value::from(true),
                Value::Array(Vec::new()),
            ];
            match at {
                Value::Object(m) if rng.chance(0.3) => {
                    let key = m.keys().nth(k).unwrap().clone();
                    m.remove(&key);
                }
                Value::Object(m) => *m.values_mut().nth(k).unwrap() = rng.pick(&odd).clone(),
                Value::Array(a) if rng.chance(0.3) => {
                    a.remove(k);
                }
                Value::Array(a) => a[k] = rng.pick(&odd).clone(),
                _ => unreachable!(),
            }
            return;
        }
        at = match at {
            Value::Object(m) => m.values_mut().nth(k).unwrap(),
            Value::Array(a) => &mut a[k],
            _ => unreachable!(),
        };
    }
}

/// Every file of `dir`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn edited_folders_are_read_or_refused_in_one_line() {
    let dir = common::tempdir("cli_fuzz_folders");
    // A sweep with regions (deployments, regions), its three shards, and a
    // run of the region outage (every table a run writes but the shards').
    let sweep = dir.join("sweep");
    let short = [
        "--set",
        "run.duration=\"10s\"",
        "--set",
        "run.warmup=\"1s\"",
    ];
    let far = "experiments/sweeps/far-clients.toml";
    let mut args = vec!["sweep", far, "--out", s(&sweep), "--quiet"];
    args.extend(short);
    headroom_ok(&args);
    let shards: Vec<PathBuf> = (1..=3).map(|i| dir.join(format!("shard{i}"))).collect();
    for (i, shard) in shards.iter().enumerate() {
        let split = format!("{}/3", i + 1);
        let mut args = vec![
            "sweep",
            far,
            "--out",
            s(shard),
            "--quiet",
            "--shard",
            &split,
        ];
        args.extend(short);
        headroom_ok(&args);
    }
    let run = dir.join("run");
    let mut args = vec![
        "run",
        "experiments/region-outage.toml",
        "--out",
        s(&run),
        "--quiet",
    ];
    args.extend(["--replications", "2"]);
    headroom_ok(&args);
    let cases = fuzz_cases(120);
    let mut outcomes = Outcomes::new();
    for case in cases.clone() {
        let mut rng = FuzzRng::new(case, "folder-fuzz");
        let work = dir.join(format!("case-{case}"));
        let command = *rng.pick(&["recommend", "plot", "merge"]);
        let sources: Vec<&Path> = match command {
            "merge" => shards.iter().map(PathBuf::as_path).collect(),
            "plot" => vec![if rng.chance(0.5) { &sweep } else { &run }],
            _ => vec![&sweep],
        };
        let copies: Vec<PathBuf> = (0..sources.len())
            .map(|i| work.join(format!("in{i}")))
            .collect();
        for (from, to) in sources.iter().zip(&copies) {
            copy_dir(from, to);
        }
        let victim = rng.pick(&copies).clone();
        let mut files: Vec<String> = snapshot(&victim)
            .into_keys()
            .filter(|f| f.ends_with(".csv") || f.ends_with(".json") || f.ends_with(".toml"))
            .collect();
        files.sort();
        let file = rng.pick(&files).clone();
        let path = victim.join(&file);
        if rng.chance(0.04) {
            std::fs::remove_file(&path).unwrap();
        } else {
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, edit(&file, &text, &mut rng)).unwrap();
        }
        let before: Vec<_> = copies.iter().map(|c| snapshot(c)).collect();
        let out = work.join("out");
        let recommendation = work.join("recommendation.toml");
        let mut args: Vec<&str> = vec![command];
        args.extend(copies.iter().map(|c| s(c)));
        match command {
            "recommend" => {
                args.extend(["--out", s(&recommendation)]);
                args.extend(*rng.pick(&[
                    &["--slo-p99", "30ms"][..],
                    &["--slo-availability", "0.5"],
                    &["--slo-max-cost-per-month", "100"],
                    &[],
                ]));
            }
            _ => args.extend(["--out", s(&out), "--quiet"]),
        }
        let reproduce = format!(
            "case {case}: {file} of {} edited: {}",
            victim.display(),
            shell_line(&args)
        );
        let o = headroom(&args);
        let ran = ran_or_refused(&o, &[out.clone(), recommendation.clone()], &reproduce);
        for (copy, before) in copies.iter().zip(&before) {
            assert!(snapshot(copy) == *before, "input changed\n{reproduce}");
        }
        count(&mut outcomes, command, ran);
        let _ = std::fs::remove_dir_all(&work);
    }
    println!("ran, refused: {outcomes:?}");
    if cases == (0..120) {
        for (command, (ran, refused)) in &outcomes {
            assert!(*ran > 0 && *refused > 0, "{command}: {outcomes:?}");
        }
    }
}
