//! The shipped scenarios with random values written over their keys (as
//! `--set PATH=VALUE` does): loading never panics, every refusal is one
//! line naming the file or the `--set`, and every scenario accepted runs a
//! short replication without panicking.
//!
//! A failure prints the case's seed and the `headroom run` command that
//! reproduces it.

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
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
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

#[test]
fn random_values_over_the_examples_are_refused_in_one_line_or_run() {
    let cases = 1000u64;
    let (mut refused, mut ran) = (0, 0);
    for case in 0..cases {
        let mut rng = Pcg64::seed_from_u64(case);
        let (name, timed) = SCENARIOS[rng.random_range(0..SCENARIOS.len())];
        let path = examples().join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: toml_edit::DocumentMut = text.parse().unwrap();
        let mut all = Vec::new();
        paths("", doc.as_table(), &mut all);
        // `run` stays short and `[sweep]` is not read by `run`.
        all.retain(|(p, _)| !p.starts_with("sweep") && !p.starts_with("run"));
        let mut sets: Vec<String> = [
            "run.duration=\"4s\"",
            "run.warmup=\"0s\"",
            "run.replications=1",
            // The seed's warm start replays hours of requests.
            "run.cache_warm_start=\"0s\"",
        ]
        .iter()
        .chain(timed)
        .map(|s| (*s).to_owned())
        .collect();
        for _ in 0..rng.random_range(1..=3) {
            let (key, item) = &all[rng.random_range(0..all.len())];
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
        match load_str(&path, &text, &sets) {
            Err(e) => {
                let said = e.to_string();
                assert_eq!(said.lines().count(), 1, "one line: {said}\n{reproduce}");
                assert!(
                    said.starts_with("--set ") || said.starts_with(&path.display().to_string()),
                    "names the file or the --set: {said}\n{reproduce}"
                );
                // serde's and toml's words, which name no accepted value
                // or are Rust's rather than TOML's.
                for vague in headroom_policy::config::VAGUE_WORDS {
                    assert!(
                        !said.contains(vague),
                        "says what is accepted: {said}\n{reproduce}"
                    );
                }
                refused += 1;
            }
            Ok(loaded) => {
                // A refusal at run time (an unstable system) is an answer;
                // a panic is not, and fails the test with `reproduce`.
                println!("{reproduce}");
                let _ = run_replication(&loaded.plan, 0, &AtomicU64::new(0));
                ran += 1;
            }
        }
    }
    println!("{refused} refused, {ran} ran");
    // Both sides are exercised (the values are mostly bad).
    assert!(refused > cases / 3, "{refused} refused of {cases}");
    assert!(ran > cases / 5, "{ran} ran of {cases}");
}
