//! Random `[sweep]` tables over the shipped scenarios' keys (those each
//! file leaves at their defaults too), run through the CLI (`headroom
//! sweep`, or `headroom search` for `mode = "search"`) in short runs: a sweep finishes (exit 0, its `points.csv` written) or is
//! refused in one line that says what is accepted (exit 2, nothing written
//! but the runs of a search no point of which meets the SLO, which it
//! names). Never a panic, nor another exit code.
//!
//! A failure prints the case and the command that reproduces it.
//! `HEADROOM_FUZZ_CASES` and `HEADROOM_FUZZ_FIRST` run a longer hunt.

mod common;

use common::{FuzzRng, fuzz_cases, headroom, is_empty, root, shell_line, stderr, tempdir};

/// Scenarios with a `[sweep]` or worth sweeping, whose timed events (if
/// any) fall inside the short runs.
const SCENARIOS: [&str; 7] = [
    "experiments/sweeps/small.toml",
    "experiments/sweeps/far-clients.toml",
    "experiments/search/data.toml",
    "experiments/search/mmc.toml",
    "experiments/cache-sizing.toml",
    "experiments/sessions.toml",
    "experiments/hedging.toml",
];

/// Values that break assumptions, mixed into the lists.
const BAD: [&str; 14] = [
    "0", "-1", "65536", "0.0", "-1.0", "nan", "1e300", "\"0s\"", "\"1ns\"", "\"\"", "\"abc\"",
    "true", "[]", "{}",
];

type Rng = FuzzRng;

/// A value near `v`, as a planner would sweep it (TOML text).
fn nearby(v: &toml::Value, rng: &mut Rng) -> String {
    use toml::Value::{Boolean, Float, Integer, String};
    let near = match v {
        Integer(i) => Integer(*rng.pick(&[i.saturating_mul(2), i / 2, i.saturating_add(1), 1])),
        Float(x) => Float(*rng.pick(&[x * 2.0, x / 2.0, x * 0.9])),
        Boolean(b) => Boolean(!b),
        String(s) if s.ends_with('s') || s.ends_with('m') => {
            String((*rng.pick(&["1ms", "50ms", "1s", "30s"])).to_owned())
        }
        other => other.clone(),
    };
    headroom_models::sweep::inline(&near)
}

/// The `[sweep]` table of case `rng` over `leaves`, as one inline table,
/// and whether it is a search.
fn sweep_table(leaves: &[(String, toml::Value)], rng: &mut Rng) -> (String, bool) {
    let mut params = Vec::new();
    for _ in 0..=rng.below(3) {
        let (path, value) = rng.pick(leaves);
        let count = 1 + rng.below(4);
        let values: Vec<String> = (0..count)
            .map(|_| {
                if rng.chance(0.8) {
                    nearby(value, rng)
                } else {
                    (*rng.pick(&BAD)).to_owned()
                }
            })
            .collect();
        params.push(format!("{path:?} = [{}]", values.join(", ")));
    }
    let mode = *rng.pick(&["grid", "grid", "random", "latin-hypercube", "search"]);
    let mut table = format!("mode = {mode:?}, params = {{ {} }}", params.join(", "));
    if matches!(mode, "random" | "latin-hypercube") {
        table.push_str(&format!(", samples = {}", rng.pick(&[1, 2, 3])));
    }
    if rng.chance(0.3) {
        let r = *rng.pick(&["2", "3", "{ min = 2, max = 3, precision = 0.1 }"]);
        table.push_str(&format!(", replications = {r}"));
    }
    if mode == "search" {
        table.push_str(&format!(", max_runs = {}", rng.pick(&[4, 8])));
    }
    (format!("sweep={{ {table} }}"), mode == "search")
}

#[test]
fn random_sweeps_over_the_examples_finish_or_are_refused_in_one_line() {
    let cases = fuzz_cases(200);
    let dir = tempdir("sweep_fuzz");
    let (mut ran, mut refused) = (0, 0);
    for case in cases.clone() {
        let mut rng = Rng::new(case, "sweep-fuzz");
        let file = *rng.pick(&SCENARIOS);
        // Every key of the resolved scenario, those the file leaves at
        // their defaults too.
        let loaded = headroom_models::load(&root().join(file), &[]).unwrap();
        let mut all = headroom_models::sweep::scenario_leaves(&loaded.scenario);
        all.retain(|(p, _)| !p.starts_with("run."));
        let (sweep, search) = sweep_table(&all, &mut rng);
        let out = dir.join(format!("case-{case}"));
        let mut args = vec![
            if search { "search" } else { "sweep" },
            file,
            "--threads",
            "2",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ];
        let sets = [
            "run.duration=\"3s\"",
            "run.warmup=\"0s\"",
            "run.cache_warm_start=\"0s\"",
            "run.replications=2",
            sweep.as_str(),
        ];
        for set in &sets {
            args.extend(["--set", set]);
        }
        let reproduce = format!("case {case}: {}", shell_line(&args));
        let o = headroom(&args);
        let said = stderr(&o);
        assert!(!said.contains("panicked"), "{said}\n{reproduce}");
        match o.status.code() {
            Some(0) => {
                assert!(
                    out.join("points.csv").is_file(),
                    "no points.csv\n{reproduce}"
                );
                ran += 1;
            }
            Some(2) => {
                let said = said.trim_end();
                assert_eq!(said.lines().count(), 1, "one line: {said}\n{reproduce}");
                assert!(said.starts_with("error: "), "{said}\n{reproduce}");
                for vague in headroom_policy::config::VAGUE_WORDS {
                    assert!(
                        !said.contains(vague),
                        "says what is accepted: {said}\n{reproduce}"
                    );
                }
                // A search no point of which meets the SLO keeps its runs,
                // and says where.
                if !said.contains("the runs are in") {
                    assert!(is_empty(&out), "wrote output: {said}\n{reproduce}");
                }
                refused += 1;
            }
            code => panic!("exit {code:?}: {said}\n{reproduce}"),
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    println!("{ran} ran, {refused} refused");
    // Both sides are exercised.
    let cases = cases.end - cases.start;
    assert!(ran >= cases / 5, "{ran} ran of {cases}");
    assert!(refused >= cases / 5, "{refused} refused of {cases}");
}
