//! The shipped scenarios with random values written over their keys (as
//! `--set PATH=VALUE` does), both the keys each file writes and those it
//! leaves at their defaults: loading never panics, every refusal is one
//! line naming the file or the `--set` and saying what is accepted, and
//! every scenario accepted runs a short replication without panicking or
//! hanging.
//!
//! A failure prints the case's seed and the `headroom run` command that
//! reproduces it. `HEADROOM_FUZZ_CASES`, `HEADROOM_FUZZ_FIRST`,
//! `HEADROOM_FUZZ_SECONDS` (simulated seconds per run) and
//! `HEADROOM_FUZZ_WARM` (seconds of cache warm start) run a longer hunt;
//! what one finds goes into `the_cases_the_fuzz_found_pass`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use headroom_models::{load_str, run_replication};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

/// The scenarios mutated (every example but the trace replays, whose
/// traces take seconds to scan, and the sweep-only one), each with the
/// `--set`s that bring its timed events (a surge, a fault) inside the short
/// run of the test.
const SCENARIOS: [(&str, &[&str]); 14] = [
    ("cache-flush.toml", &["faults.0.at=\"2s\""]),
    ("cache-sizing.toml", &[]),
    ("concurrent-users.toml", &[]),
    (
        "flash-crowd.toml",
        &["workload.surges=[{ at = \"1s\", duration = \"2s\", multiplier = 5.0 }]"],
    ),
    ("hedging.toml", &[]),
    ("hot-shard.toml", &[]),
    (
        "region-outage.toml",
        &["faults.0.at=\"1s\"", "faults.0.duration=\"2s\""],
    ),
    (
        "retry-storm.toml",
        &["faults.0.at=\"1s\"", "faults.0.duration=\"1s\""],
    ),
    ("seed.toml", &[]),
    (
        "store-failover.toml",
        &[
            "faults.0.at=\"1s\"",
            "faults.0.duration=\"2s\"",
            "datastores.users.failover.after=\"500ms\"",
        ],
    ),
    ("sessions.toml", &[]),
    ("validation/errors-retry.toml", &[]),
    ("validation/fanout.toml", &[]),
    ("validation/hedge.toml", &[]),
];

/// Values that break assumptions: zero, negatives, extremes, NaN, empty and
/// malformed strings, wrong types, removal.
const VALUES: [&str; 31] = [
    "0",
    "-1",
    "1",
    "2",
    "65536",
    "2147483648",
    "9223372036854775807",
    "0.0",
    "-1.0",
    "nan",
    "inf",
    "1e-300",
    "1e300",
    "0.999999",
    "\"0s\"",
    "\"-1s\"",
    "\"1ns\"",
    "\"100000h\"",
    "\"\"",
    "\"abc\"",
    "\"1e9s\"",
    "\"5\"",
    "\"zzz\"",
    "\"lru\"",
    "\"zipf\"",
    "true",
    "[]",
    "{}",
    "[1, \"x\"]",
    "{ distribution = \"bogus\" }",
    "null",
];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments")
}

/// A key as a `--set` path writes it: quoted unless bare.
fn segment(key: &str) -> String {
    headroom_models::load::path_segment(key).into_owned()
}

/// Every settable path of `table` with its value: dotted keys, arrays of
/// tables addressed by an element's `name` (else its index), tables as well
/// as leaves. An inline array (`calls = [...]`) is one value.
fn paths(prefix: &str, table: &dyn toml_edit::TableLike, out: &mut Vec<(String, toml_edit::Item)>) {
    for (key, item) in table.iter() {
        let path = if prefix.is_empty() {
            segment(key)
        } else {
            format!("{prefix}.{}", segment(key))
        };
        if let Some(t) = item.as_table_like() {
            out.push((path.clone(), item.clone()));
            paths(&path, t, out);
        } else if let Some(array) = item.as_array_of_tables() {
            for (i, t) in array.iter().enumerate() {
                let name = t
                    .get("name")
                    .and_then(toml_edit::Item::as_str)
                    .map_or_else(|| i.to_string(), segment);
                paths(&format!("{path}.{name}"), t, out);
            }
        } else {
            out.push((path, item.clone()));
        }
    }
}

/// A plausible value near `item`'s: the kind a planner tries (twice, half,
/// one more, another duration), so that many cases are accepted and run.
fn nearby(item: &toml_edit::Item, rng: &mut Pcg64) -> String {
    let pick =
        |rng: &mut Pcg64, options: &[String]| options[rng.random_range(0..options.len())].clone();
    match item.as_value() {
        Some(toml_edit::Value::Integer(i)) => {
            let i = *i.value();
            pick(
                rng,
                &[i.saturating_mul(2), i / 2, i.saturating_add(1), 1].map(|v| v.to_string()),
            )
        }
        Some(toml_edit::Value::Float(f)) => {
            let f = *f.value();
            pick(rng, &[f * 2.0, f / 2.0, f * 0.9].map(|v| format!("{v:?}")))
        }
        Some(toml_edit::Value::Boolean(b)) => (!*b.value()).to_string(),
        Some(toml_edit::Value::String(s))
            if s.value().ends_with('s') || s.value().ends_with('m') =>
        {
            pick(
                rng,
                &["\"1ms\"", "\"50ms\"", "\"1s\"", "\"30s\""].map(str::to_owned),
            )
        }
        Some(v) => v.to_string().trim().to_owned(),
        None => "{}".to_owned(),
    }
}

/// Loads `path` (holding `text`) with `sets`: a refusal must be one line
/// naming the file or the `--set` and saying what is accepted; a scenario
/// accepted runs one replication, which may refuse (an unstable system is
/// an answer) but must neither panic nor hang. Whether it ran; a failure
/// says `reproduce`.
fn check(path: &Path, text: &str, sets: &[String], reproduce: &str) -> bool {
    match load_str(path, text, sets) {
        Err(e) => {
            let said = e.to_string();
            assert_eq!(said.lines().count(), 1, "one line: {said}\n{reproduce}");
            assert!(
                said.starts_with("--set ") || said.starts_with(&path.display().to_string()),
                "names the file or the --set: {said}\n{reproduce}"
            );
            // serde's and toml's words, which name no accepted value or are
            // Rust's rather than TOML's.
            for vague in headroom_policy::config::VAGUE_WORDS {
                assert!(
                    !said.contains(vague),
                    "says what is accepted: {said}\n{reproduce}"
                );
            }
            false
        }
        Ok(loaded) => {
            println!("{reproduce}");
            let (done, finished) = std::sync::mpsc::channel();
            // One run on its own thread, so that a hang is seen (the
            // watchdog is this thread's wait), not parallel simulation.
            #[allow(clippy::disallowed_methods)]
            let run = std::thread::spawn(move || {
                let _ = run_replication(&loaded.plan, 0, &AtomicU64::new(0));
                let _ = done.send(());
            });
            let hang = hang();
            match finished.recv_timeout(hang) {
                Ok(()) => run.join().unwrap(),
                // The sender dropped without sending: the run panicked.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("panicked\n{reproduce}")
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("still running after {hang:?}\n{reproduce}")
                }
            }
            true
        }
    }
}

/// A whole number from the environment variable `name`, else `default`.
fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?}: a whole number"))
    })
}

/// Cases run: `HEADROOM_FUZZ_CASES` (default 1000) from
/// `HEADROOM_FUZZ_FIRST` (default 0), so a long hunt runs other seeds with
/// the same test.
fn case_range() -> std::ops::Range<u64> {
    let first = env_number("HEADROOM_FUZZ_FIRST", 0);
    first..first + env_number("HEADROOM_FUZZ_CASES", 1000)
}

/// Simulated seconds of each case's run: `HEADROOM_FUZZ_SECONDS`, default
/// 4 (the scenarios' timed events are moved inside the first 4 s).
fn run_seconds() -> u64 {
    env_number("HEADROOM_FUZZ_SECONDS", 4).max(4)
}

/// Simulated seconds of cache warm start before each case's run:
/// `HEADROOM_FUZZ_WARM`, default 0 (cold; the seed's own warm start replays
/// hours of requests). Scenarios that cannot be warmed start cold.
fn warm_seconds() -> u64 {
    env_number("HEADROOM_FUZZ_WARM", 0)
}

/// The longest a short replication may take before the case counts as a
/// hang: 120 s per 4 simulated seconds (every accepted case of 4 s so far
/// took under a second).
fn hang() -> std::time::Duration {
    std::time::Duration::from_secs(30 * run_seconds())
}

#[test]
fn random_values_over_the_examples_are_refused_in_one_line_or_run() {
    let range = case_range();
    let cases = range.end - range.start;
    let (mut refused, mut ran) = (0, 0);
    for case in range {
        let mut rng = Pcg64::seed_from_u64(case);
        let (name, timed) = SCENARIOS[rng.random_range(0..SCENARIOS.len())];
        let path = examples().join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: toml_edit::DocumentMut = text.parse().unwrap();
        let mut base: Vec<String> = [
            format!("run.duration=\"{}s\"", run_seconds()),
            "run.warmup=\"0s\"".to_owned(),
            "run.replications=1".to_owned(),
            // The seed's warm start replays hours of requests.
            format!("run.cache_warm_start=\"{}s\"", warm_seconds()),
        ]
        .into_iter()
        .chain(timed.iter().map(|s| (*s).to_owned()))
        .collect();
        // A scenario without a cache, or whose workload cannot be warmed,
        // starts cold.
        if load_str(&path, &text, &base).is_err() {
            base[3] = "run.cache_warm_start=\"0s\"".to_owned();
        }
        // The keys the file writes, and those it leaves at their defaults
        // (every key of the resolved scenario that the file does not write).
        let mut written = Vec::new();
        paths("", doc.as_table(), &mut written);
        let resolved = load_str(&path, &text, &base).unwrap().scenario;
        let resolved: toml_edit::DocumentMut = toml::to_string(&resolved).unwrap().parse().unwrap();
        let mut defaulted = Vec::new();
        paths("", resolved.as_table(), &mut defaulted);
        defaulted.retain(|(p, _)| !written.iter().any(|(w, _)| w == p));
        // `run` stays short and `[sweep]` is not read by `run`.
        for keys in [&mut written, &mut defaulted] {
            keys.retain(|(p, _)| !p.starts_with("sweep") && !p.starts_with("run"));
        }
        let mut sets = base;
        for _ in 0..rng.random_range(1..=3) {
            let keys = if defaulted.is_empty() || rng.random_bool(0.5) {
                &written
            } else {
                &defaulted
            };
            let (key, item) = &keys[rng.random_range(0..keys.len())];
            let value = if rng.random_bool(0.5) {
                nearby(item, &mut rng)
            } else {
                VALUES[rng.random_range(0..VALUES.len())].to_owned()
            };
            sets.push(format!("{key}={value}"));
        }
        let reproduce = format!(
            "case {case}: headroom run {} {}",
            path.display(),
            sets.iter()
                .map(|s| format!("--set '{s}'"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if check(&path, &text, &sets, &reproduce) {
            ran += 1;
        } else {
            refused += 1;
        }
    }
    println!("{refused} refused, {ran} ran");
    // Both sides are exercised (the values are mostly bad).
    assert!(refused > cases / 3, "{refused} refused of {cases}");
    assert!(ran > cases / 5, "{ran} ran of {cases}");
}

/// Every key of a resolved scenario, defaults included, set with `--set` to
/// the value it resolved to, loads to the same scenario: the paths a sweep
/// checks its parameters against are settable, and a default written out
/// means what leaving it out means.
#[test]
fn every_resolved_key_set_to_its_own_value_changes_nothing() {
    let mut checked = 0;
    for (name, timed) in SCENARIOS {
        let path = examples().join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let base: Vec<String> = ["run.warmup=\"0s\"", "run.cache_warm_start=\"0s\""]
            .iter()
            .chain(timed)
            .map(|s| (*s).to_owned())
            .collect();
        let resolved = toml::to_string(&load_str(&path, &text, &base).unwrap().scenario).unwrap();
        let doc: toml_edit::DocumentMut = resolved.parse().unwrap();
        let mut all = Vec::new();
        paths("", doc.as_table(), &mut all);
        for (key, item) in &all {
            let Some(value) = item.as_value() else {
                continue;
            };
            let mut sets = base.clone();
            sets.push(format!("{key}={}", value.to_string().trim()));
            let again = load_str(&path, &text, &sets)
                .unwrap_or_else(|e| panic!("{name}: --set '{}': {e}", sets.last().unwrap()));
            assert_eq!(
                toml::to_string(&again.scenario).unwrap(),
                resolved,
                "{name}: --set '{}'",
                sets.last().unwrap()
            );
            checked += 1;
        }
    }
    assert!(checked > 500, "{checked} keys");
}

/// Cases the fuzz found with a larger `HEADROOM_FUZZ_CASES`, kept as they
/// were found (the case numbers change meaning when the fuzz changes).
#[test]
fn the_cases_the_fuzz_found_pass() {
    let found: &[(&str, &[&str], bool)] = &[
        // Abandoned work past u64 nanoseconds (584 years) in total.
        (
            "validation/hedge.toml",
            &[
                "run.duration=\"4s\"",
                "run.warmup=\"0s\"",
                "services.api.work.mean=\"100000h\"",
            ],
            true,
        ),
        // A name of the wrong type inside a tagged table inside another.
        (
            "concurrent-users.toml",
            &["workload.arrivals.think.distribution=nan"],
            false,
        ),
        (
            "concurrent-users.toml",
            &["workload.arrivals.think.distribution=[1, \"x\"]"],
            false,
        ),
        (
            "concurrent-users.toml",
            &["workload.arrivals.think.distribution=1e300"],
            false,
        ),
    ];
    for (name, sets, runs) in found {
        let path = examples().join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
        let reproduce = format!("{name} {sets:?}");
        assert_eq!(check(&path, &text, &sets, &reproduce), *runs, "{reproduce}");
    }
}
