//! End-to-end tests of `headroom search` (and `headroom sweep` on a
//! `mode = "search"` table): the same answer as the grid with fewer runs,
//! byte-identical outputs at any thread count, budgets, the planted narrow
//! feasible region, the check of `monotone` declarations, and bad input
//! (exit code 2, nothing written). Scenarios are tiny: seconds of CPU.

mod common;

use std::path::Path;
use std::process::Output;

use common::{headroom, s, tempdir, write};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read(dir: &Path, name: &str) -> String {
    String::from_utf8(common::read(dir, name)).expect("outputs are UTF-8")
}

/// An M/M/c-like service: 400 requests/s of 10 ms exponential work (4 busy
/// workers), replicas x workers per replica; each replica costs the same.
const MMC: &str = r#"
[run]
duration = "30s"
warmup = "5s"
replications = 3
seed = 7

[workload]
arrivals = { process = "poisson", rate = 400.0 }

[[services]]
name = "api"
instance = { type = "small", workers = 2, queue = 200 }
work = { distribution = "exponential", mean = "10ms" }
replicas = 1

[costs]
instance_types = { small = { vcpu = 2, memory = "4GiB", hourly = 0.1 } }

[slo]
p99 = "80ms"
availability = 0.999

[sweep]
mode = "search"
monotone = ["services.api.replicas", "services.api.instance.workers"]
[sweep.params]
"services.api.replicas" = [1, 2, 3, 4, 5, 6]
"services.api.instance.workers" = [1, 2, 3, 4]
"#;

/// `(parameter lines, cost mean)` of a recommendation.
fn recommended(dir: &Path) -> (Vec<String>, f64) {
    let rec = read(dir, "recommendation.toml");
    let params = rec
        .lines()
        .filter(|l| l.starts_with("#   "))
        .map(str::to_owned)
        .collect();
    let cost = rec
        .split("cost ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    (params, cost)
}

/// Data rows of a CSV without its first `skip` columns.
fn rows_without(csv: &str, skip: usize) -> Vec<String> {
    csv.lines()
        .skip(1)
        .map(|l| l.splitn(skip + 1, ',').nth(skip).unwrap().to_owned())
        .collect()
}

#[test]
fn search_matches_the_grid_with_fewer_runs_at_any_thread_count() {
    let dir = tempdir("search_matches_grid");
    let scenario = write(&dir, "mmc.toml", MMC);
    let grid = dir.join("grid");
    let o = headroom(&[
        "sweep",
        s(&scenario),
        "--set",
        "sweep.mode=\"grid\"",
        "--out",
        s(&grid),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let one = dir.join("search1");
    let o = headroom(&["search", s(&scenario), "--out", s(&one), "--threads", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("The search settled"), "{}", text(&o));
    // `sweep` on a search table runs the same search.
    let two = dir.join("search2");
    let o = headroom(&[
        "sweep",
        s(&scenario),
        "--out",
        s(&two),
        "--threads",
        "2",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for name in [
        "runs.csv",
        "timeseries.csv",
        "services.csv",
        "points.csv",
        "frontier.csv",
        "recommendation.toml",
        "summary.md",
        "search.csv",
        "manifest.json",
    ] {
        assert_eq!(read(&one, name), read(&two, name), "{name}: 1 vs 2 threads");
    }
    // The same recommendation, or one as cheap whose SLO holds.
    let (grid_params, grid_cost) = recommended(&grid);
    let (search_params, search_cost) = recommended(&one);
    assert!(
        grid_params == search_params || search_cost == grid_cost,
        "grid {grid_params:?} at {grid_cost} vs search {search_params:?} at {search_cost}"
    );
    // Fewer runs, every one of them a run the grid made too (common random
    // numbers: same replication, same values, same results).
    let grid_runs = read(&grid, "runs.csv");
    let search_runs = read(&one, "runs.csv");
    let (g, r) = (
        grid_runs.lines().count() - 1,
        search_runs.lines().count() - 1,
    );
    assert_eq!(g, 24 * 3);
    assert!(r * 2 <= g, "search {r} runs vs grid {g}");
    let grid_rows = rows_without(&grid_runs, 1);
    for row in rows_without(&search_runs, 1) {
        assert!(grid_rows.contains(&row), "not a grid run: {row}");
    }
    let search = read(&one, "search.csv");
    assert!(
        search.starts_with(
            "point,grid_index,services.api.replicas,services.api.instance.workers,batch,runs_before,reason,"
        ),
        "{search}"
    );
    assert_eq!(
        search.lines().count() - 1,
        read(&one, "points.csv").lines().count() - 1
    );
    assert!(search.contains("start: every monotone parameter at its most"));
    // Level probes: the ceiling of `replicas = 1` (4 workers) fails, which
    // settles every point with 1 replica; the ceiling of `replicas = 2` is
    // the answer (the surrogate alone gave it under a 5 % chance).
    let probe = |replicas: &str, verdict: &str| {
        search.lines().any(|l| {
            l.contains(&format!(
                "probe: `services.api.replicas = {replicas}` with every other monotone parameter \
                 at its most"
            )) && l.contains(verdict)
        })
    };
    assert!(probe("1", ",fails,"), "{search}");
    assert!(probe("2", ",holds,1,"), "{search}");
    assert!(r <= 16, "level probes: 16 runs (19 without them): {r}");
    assert!(search.lines().filter(|l| l.contains(",1,")).count() >= 1);
    let summary = read(&one, "summary.md");
    assert!(
        summary.contains("## Search") && summary.contains("fewer)"),
        "{summary}"
    );
    assert!(
        summary.contains("agree with the `monotone` declaration"),
        "{summary}"
    );
}

#[test]
fn a_budget_that_runs_out_gives_the_best_so_far_plainly() {
    let dir = tempdir("search_budget");
    let scenario = write(&dir, "mmc.toml", MMC);
    let out = dir.join("out");
    let o = headroom(&["search", s(&scenario), "--out", s(&out), "--max-runs", "5"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("The budget ran out (4 runs)"), "{t}");
    assert!(t.contains("not a settled one"), "{t}");
    assert_eq!(
        read(&out, "runs.csv").lines().count() - 1,
        4,
        "a new point needs 2 runs; 1 left is not spent"
    );
    assert!(read(&out, "summary.md").contains("The budget ran out"));
}

#[test]
fn an_slo_no_point_can_meet_is_an_error_naming_the_closest_point() {
    let dir = tempdir("search_unmeetable");
    let scenario = write(&dir, "mmc.toml", MMC);
    let out = dir.join("out");
    let o = headroom(&["search", s(&scenario), "--out", s(&out), "--slo-p99", "1ms"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("no point in range meets the SLO"), "{t}");
    assert!(
        t.contains("closest: point") && t.contains("latency_p99_ms"),
        "{t}"
    );
    // Monotonicity settles the whole space from the corner of most capacity.
    assert!(read(&out, "runs.csv").lines().count() - 1 <= 4);
    assert!(!out.join("recommendation.toml").exists());
}

#[test]
fn bad_search_input_exits_2_and_writes_nothing() {
    let dir = tempdir("search_bad_input");
    let cases: [(&str, String, &[&str]); 9] = [
        (
            "is not a swept parameter",
            MMC.replace(
                "monotone = [\"services.api.replicas\"",
                "monotone = [\"services.api.replica\"",
            ),
            &[],
        ),
        (
            "`sweep.max_runs`: 0",
            MMC.replace("mode = \"search\"", "mode = \"search\"\nmax_runs = 0"),
            &[],
        ),
        ("--max-runs 0", MMC.to_owned(), &["--max-runs", "0"]),
        ("--max-time 0s", MMC.to_owned(), &["--max-time", "0s"]),
        (
            "at least 2 replications",
            MMC.to_owned(),
            &["--replications", "1"],
        ),
        (
            "`sweep.batch`: 0",
            MMC.replace("mode = \"search\"", "mode = \"search\"\nbatch = 0"),
            &[],
        ),
        (
            "`sweep.cost_tolerance`: 0.5: a fraction of the best point's cost from 0 to 0.25",
            MMC.replace(
                "mode = \"search\"",
                "mode = \"search\"\ncost_tolerance = 0.5",
            ),
            &[],
        ),
        (
            "`sweep.cost_tolerance`: -0.01",
            MMC.to_owned(),
            &["--set", "sweep.cost_tolerance=-0.01"],
        ),
        (
            "cannot be split into shards",
            MMC.to_owned(),
            &["--shard", "1/2"],
        ),
    ];
    for (i, (expect, scenario, extra)) in cases.iter().enumerate() {
        let path = write(&dir, &format!("bad{i}.toml"), scenario);
        let out = dir.join(format!("out{i}"));
        let command = if extra.contains(&"--shard") {
            "sweep"
        } else {
            "search"
        };
        let mut args = vec![command, s(&path), "--out", s(&out)];
        args.extend_from_slice(extra);
        let o = headroom(&args);
        assert_eq!(o.status.code(), Some(2), "{expect}: {}", text(&o));
        assert!(text(&o).contains(expect), "{expect}: {}", text(&o));
        assert!(!out.exists(), "{expect}: nothing written");
    }
}

/// A planted narrow feasible region: the queue bound trades sheds
/// (availability) against waiting (p99). At 4 replicas of 1 worker (load
/// 1.1) nothing holds; at 5 (load 0.9) only a queue of 16 meets both
/// objectives (8 sheds too much, 32 waits too long); from 6 up, many do.
/// The queue axis is not monotone, so only the surrogate can find it.
const NARROW: &str = r#"
[run]
duration = "2m"
warmup = "5s"
replications = 3
seed = 3

[workload]
arrivals = { process = "poisson", rate = 450.0 }

[[services]]
name = "api"
instance = { type = "one", workers = 1, queue = 10 }
work = { distribution = "exponential", mean = "10ms" }
replicas = 5

[costs]
instance_types = { one = { vcpu = 1, memory = "2GiB", hourly = 0.05 } }

[slo]
p99 = "250ms"
availability = 0.99

[sweep]
mode = "search"
monotone = ["services.api.replicas"]
[sweep.params]
"services.api.replicas" = [4, 5, 6, 7, 8]
"services.api.instance.queue" = [1, 2, 4, 8, 16, 32, 64, 128]
"#;

#[test]
fn a_planted_narrow_feasible_region_is_found_or_reported_unsettled() {
    let dir = tempdir("search_narrow");
    let scenario = write(&dir, "narrow.toml", NARROW);
    let grid = dir.join("grid");
    let o = headroom(&[
        "sweep",
        s(&scenario),
        "--set",
        "sweep.mode=\"grid\"",
        "--out",
        s(&grid),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (grid_params, _) = recommended(&grid);
    assert_eq!(
        grid_params,
        [
            "#   services.api.replicas = 5",
            "#   services.api.instance.queue = 16"
        ],
        "the planted point is the grid's answer"
    );
    let out = dir.join("search");
    let o = headroom(&["search", s(&scenario), "--out", s(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("The search settled"), "{}", text(&o));
    assert_eq!(recommended(&out).0, grid_params, "{}", text(&o));
    // Cut short, it says it has not settled instead of claiming an answer.
    let short = dir.join("short");
    let o = headroom(&[
        "search",
        s(&scenario),
        "--out",
        s(&short),
        "--max-runs",
        "8",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("before the search settled") && text(&o).contains("not a settled one"),
        "{}",
        text(&o)
    );
}

#[test]
fn runs_that_contradict_a_monotone_declaration_are_reported() {
    // Declared monotone, but a longer queue makes p99 worse at this load.
    let dir = tempdir("search_monotone_check");
    let scenario = write(
        &dir,
        "wrong.toml",
        &NARROW
            .replace(
                "monotone = [\"services.api.replicas\"]",
                "monotone = [\"services.api.instance.queue\"]",
            )
            .replace(
                "\"services.api.replicas\" = [4, 5, 6, 7, 8]\n\"services.api.instance.queue\" = [1, 2, 4, 8, 16, 32, 64, 128]",
                "\"services.api.instance.queue\" = [2, 32]",
            ),
    );
    let out = dir.join("out");
    let o = headroom(&["search", s(&scenario), "--out", s(&out)]);
    let t = text(&o);
    assert!(
        t.contains("warning: monotone declaration contradicted") && t.contains("latency_p99_ms"),
        "{t}"
    );
    assert!(read(&out, "summary.md").contains("contradict the `monotone` declaration"));

    // The warning quotes each point's p99 estimate, the one points.csv
    // reports for it (the replications pooled, not the mean of their own
    // p99s), and the paired difference is centred on their difference.
    let line = t
        .lines()
        .find(|l| l.contains("is worse on latency_p99_ms"))
        .unwrap_or_else(|| panic!("no p99 contradiction in:\n{t}"));
    let number = |after: &str, upto: &str| -> f64 {
        let rest = &line[line.find(after).unwrap() + after.len()..];
        rest[..rest.find(upto).unwrap()].trim().parse().unwrap()
    };
    let point = |after: &str| number(after, " (") as usize;
    let (above, below) = (point("point "), point("is above point "));
    let (p_above, p_below) = (
        number("latency_p99_ms: ", " vs "),
        number(" vs ", " (paired"),
    );
    let difference = number("(paired difference ", ", 95 %");

    let points = read(&out, "points.csv");
    let mut rows = points.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let p99 = header.iter().position(|&c| c == "latency_p99_ms").unwrap();
    let estimate = |point: usize| -> f64 {
        rows.clone()
            .map(|r| r.split(',').collect::<Vec<_>>())
            .find(|r| r[0] == point.to_string())
            .unwrap_or_else(|| panic!("point {point} not in points.csv:\n{points}"))[p99]
            .parse()
            .unwrap()
    };
    // The prose's 4 significant digits (`planner::slo::short`).
    let four_digits = |x: f64| -> f64 {
        let decimals = (3 - x.abs().log10().floor() as i32).clamp(0, 9) as usize;
        format!("{x:.decimals$}").parse().unwrap()
    };
    let (e_above, e_below) = (estimate(above), estimate(below));
    assert_eq!(p_above, four_digits(e_above), "{line}\n{points}");
    assert_eq!(p_below, four_digits(e_below), "{line}\n{points}");
    assert_eq!(difference, four_digits(e_above - e_below), "{line}");
}

#[test]
fn points_that_tie_on_cost_are_not_chased_and_the_tolerance_is_stated() {
    // A queue bound that the load never reaches changes nothing, cost
    // included: wherever the SLO holds, both queue values of a point tie.
    let dir = tempdir("search_as_cheap");
    let scenario = write(
        &dir,
        "ties.toml",
        &MMC.replace(
            "\"services.api.instance.workers\" = [1, 2, 3, 4]",
            "\"services.api.instance.workers\" = [1, 2, 3, 4]\n\"services.api.instance.queue\" = [200, 400]",
        ),
    );
    let out = dir.join("out");
    let o = headroom(&["search", s(&scenario), "--out", s(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("The search settled") && t.contains("within 1 % of the cheapest point at 95 %"),
        "{t}"
    );
    let summary = read(&out, "summary.md");
    assert!(
        summary.contains("within 1 % of the cheapest point at 95 %")
            && summary.contains("cost tolerance of 1 %"),
        "{summary}"
    );
    // Same answer as the table without the queue axis: 2 x 4 workers.
    let (params, _) = recommended(&out);
    assert_eq!(
        params[..2],
        [
            "#   services.api.replicas = 2",
            "#   services.api.instance.workers = 4"
        ],
        "{params:?}"
    );
    // The other queue value of the answer costs the same: it cannot be
    // cheaper by more than 1 %, so it is neither proposed nor raced.
    let search = read(&out, "search.csv");
    let tries_of_the_answer = search
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(2) == Some("2") && l.split(',').nth(3) == Some("4"))
        .count();
    assert_eq!(tries_of_the_answer, 1, "{search}");
    // Every point settled on cost says against which point and how.
    for line in search
        .lines()
        .filter(|l| l.contains("as-cheap") || l.contains("costlier"))
    {
        assert!(
            line.contains("paired difference") && line.contains("95 % CI"),
            "{line}"
        );
    }
}
