//! End-to-end tests of `headroom sweep`, `merge` and `recommend`: outputs
//! and their columns, byte equality across thread counts and between a
//! sharded and an unsharded sweep, re-ranking, and bad input (exit code 2,
//! nothing written).

mod common;

use std::path::{Path, PathBuf};

use common::{
    headroom, headroom_env, headroom_ok, mm1_short, read, s, stderr, stdout, tempdir, write,
};

/// A small M/M/c-like service swept over replicas x workers (6 points).
const SWEEP: &str = r#"
[run]
duration = "1m"
warmup = "10s"
replications = 3
seed = 11
timeseries_interval = "20s"

[workload]
arrivals = { process = "poisson", rate = 300.0 }

[[services]]
name = "api"
instance = { workers = 4, queue = 50 }
work = { distribution = "exponential", mean = "10ms" }
replicas = 2

[sweep]
[sweep.params]
"services.api.replicas" = [1, 2, 3]
services.api.instance.workers = { from = 2, to = 4, step = 2 }
"#;

/// `headroom sweep SCENARIO --out OUT --service-timeseries ARGS... --quiet`
/// (every output there is; `default_sweeps_keep_no_service_time_series`
/// checks the sweep without it).
fn sweep(scenario: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "sweep",
        s(scenario),
        "--out",
        s(out),
        "--service-timeseries",
    ];
    all.extend_from_slice(args);
    all.push("--quiet");
    headroom(&all)
}

const OUTPUTS: [&str; 10] = [
    "runs.csv",
    "timeseries.csv",
    "services.csv",
    "services_timeseries.csv",
    "points.csv",
    "frontier.csv",
    "recommendation.toml",
    "summary.md",
    "report.html",
    "manifest.json",
];

#[test]
fn sweep_writes_every_output_identically_at_any_thread_count() {
    let dir = tempdir("sweep_outputs");
    let scenario = write(&dir, "s.toml", SWEEP);
    let mut outs = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = dir.join(format!("out{threads}"));
        let o = sweep(
            &scenario,
            &out,
            &["--threads", threads, "--slo-p99", "250ms"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        outs.push(out);
    }
    for name in OUTPUTS {
        assert_eq!(
            read(&outs[0], name),
            read(&outs[1], name),
            "{name}: 1 vs 2 threads"
        );
        assert_eq!(
            read(&outs[0], name),
            read(&outs[2], name),
            "{name}: 1 vs 3 threads"
        );
    }
    // A scenario without datastores has no shards to write.
    assert!(!outs[0].join("shards.csv").exists());
    let manifest = String::from_utf8(read(&outs[0], "manifest.json")).unwrap();
    assert!(!manifest.contains("shards_columns"), "{manifest}");
    let runs = String::from_utf8(read(&outs[0], "runs.csv")).unwrap();
    let header = runs.lines().next().unwrap();
    assert!(
        header.starts_with(
            "point,replication,seed,services.api.replicas,services.api.instance.workers,requests,ok,"
        ),
        "{header}"
    );
    assert!(
        header.ends_with(
            ",cost_usd,cost_per_month_usd,instance_cost_per_month_usd,data_cost_per_month_usd,\
             egress_cost_per_month_usd,slo_met"
        ),
        "{header}"
    );
    assert_eq!(
        runs.lines().count(),
        1 + 6 * 3,
        "one row per (point, replication)"
    );
    let points = String::from_utf8(read(&outs[0], "points.csv")).unwrap();
    let header = points.lines().next().unwrap();
    assert!(
        header.starts_with(
            "point,services.api.replicas,services.api.instance.workers,replications,requests,requests_ci95,"
        ),
        "{header}"
    );
    assert!(
        header.contains(",latency_p99_ms,latency_p99_ms_ci95,"),
        "{header}"
    );
    assert_eq!(points.lines().count(), 1 + 6);
    // Common random numbers: replication r sees the same arrivals at every
    // point, so `requests` (arrivals after the warm-up) match across points.
    let requests: Vec<(String, String)> = runs
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[1].to_owned(), c[5].to_owned())
        })
        .collect();
    for (r, req) in &requests {
        let same_r: Vec<&String> = requests
            .iter()
            .filter(|(q, _)| q == r)
            .map(|(_, n)| n)
            .collect();
        assert!(
            same_r.iter().all(|n| *n == req),
            "replication {r}: {same_r:?}"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&outs[0], "manifest.json")).unwrap();
    assert_eq!(manifest["command"], "sweep");
    assert_eq!(manifest["point_runs"].as_array().unwrap().len(), 6);
    assert!(manifest.get("shard").is_none());
    // A point's latency quantiles are its replications pooled (the manifest
    // keeps them), which lie between the replications' own.
    let column = |table: &str, name: &str| {
        let header: Vec<&str> = table.lines().next().unwrap().split(',').collect();
        header.iter().position(|c| *c == name).unwrap()
    };
    let (runs_p99, points_p99) = (
        column(&runs, "latency_p99_ms"),
        column(&points, "latency_p99_ms"),
    );
    for (p, line) in points.lines().skip(1).enumerate() {
        let estimate: f64 = line.split(',').nth(points_p99).unwrap().parse().unwrap();
        let pooled = manifest["point_runs"][p]["pooled_ms"]["latency_p99_ms"]
            .as_f64()
            .unwrap();
        assert_eq!(estimate, pooled, "point {p}");
        let own: Vec<f64> = runs
            .lines()
            .skip(1)
            .filter(|l| l.split(',').next() == Some(&p.to_string()))
            .map(|l| l.split(',').nth(runs_p99).unwrap().parse().unwrap())
            .collect();
        assert_eq!(own.len(), 3);
        let (lo, hi) = own
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(
            lo * (1.0 - 1.0 / 128.0) <= pooled && pooled <= hi * (1.0 + 1.0 / 128.0),
            "point {p}: pooled {pooled} outside the replications' {own:?}"
        );
    }
    let summary = String::from_utf8(read(&outs[0], "summary.md")).unwrap();
    assert!(
        summary.contains("## Recommendation") && summary.contains("## Parameters ranked by effect")
    );
}

#[test]
fn recommendation_is_a_complete_scenario_that_runs() {
    let dir = tempdir("sweep_recommendation");
    // Work drawn from a file named relative to the scenario's folder: the
    // recommendation, in another folder, must still find it.
    std::fs::create_dir_all(dir.join("data")).unwrap();
    write(&dir, "data/work.txt", "5ms\n10ms\n15ms\n");
    let scenario = write(
        &dir,
        "s.toml",
        &SWEEP.replace(
            r#"work = { distribution = "exponential", mean = "10ms" }"#,
            r#"work = { distribution = "empirical", path = "data/work.txt" }"#,
        ),
    );
    let out = dir.join("out");
    let o = sweep(&scenario, &out, &["--slo-p99", "250ms"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rec = out.join("recommendation.toml");
    let text = std::fs::read_to_string(&rec).unwrap();
    assert!(
        !text.contains("[sweep"),
        "the sweep table is dropped:\n{text}"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&read(&out, "manifest.json")).unwrap();
    // The recommended point's values are in the scenario.
    let first = text.lines().next().unwrap();
    let point: usize = first
        .split("point ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let values = manifest["identity"]["points"][point].as_array().unwrap();
    let scenario: toml::Table = toml::from_str(&text).unwrap();
    let api = &scenario["services"].as_array().unwrap()[0];
    assert_eq!(api["replicas"].to_string(), values[0].as_str().unwrap());
    assert_eq!(
        api["instance"]["workers"].to_string(),
        values[1].as_str().unwrap()
    );
    // No `[costs]`: every point costs 0, and of the points that hold, the
    // one with the fewest instances wins (not the lowest p99, which is at 3).
    assert_eq!(api["replicas"].to_string(), "1", "{text}");
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(
        summary.contains("the scenario has no `[costs]`): among them it runs the fewest instances"),
        "{summary}"
    );
    // The SLO it was chosen under (`--slo-p99`; the file has none).
    assert_eq!(scenario["slo"]["p99"].as_str(), Some("250ms"), "{text}");
    let work = std::fs::canonicalize(dir.join("data/work.txt")).unwrap();
    assert_eq!(api["work"]["path"].as_str(), work.to_str(), "{text}");
    assert!(
        text.contains("here as absolute paths: data/work.txt."),
        "{text}"
    );
    let run_out = dir.join("rerun");
    let o = headroom(&["run", s(&rec), "--out", s(&run_out), "--quiet"]);
    assert!(
        o.status.success(),
        "the recommendation runs: {}",
        stderr(&o)
    );
    // The sweep's per-service rows of that point are the run's (the same
    // seed and streams), `point` aside.
    let swept = String::from_utf8(read(&out, "services.csv")).unwrap();
    let rerun = String::from_utf8(read(&run_out, "services.csv")).unwrap();
    assert_eq!(swept.lines().next(), rerun.lines().next());
    let point_rows = rows_of(&swept, &point.to_string());
    assert_eq!(point_rows.len(), 3, "{swept}");
    assert_eq!(point_rows, rows_of(&rerun, "0"), "{swept}\n{rerun}");
    // And so are its per-service time series.
    let swept = String::from_utf8(read(&out, "services_timeseries.csv")).unwrap();
    let rerun = String::from_utf8(read(&run_out, "services_timeseries.csv")).unwrap();
    assert_eq!(swept.lines().next(), rerun.lines().next());
    let point_rows = rows_of(&swept, &point.to_string());
    assert_eq!(
        point_rows.len(),
        3 * 3,
        "3 replications of 3 intervals: {swept}"
    );
    assert_eq!(point_rows, rows_of(&rerun, "0"), "{swept}\n{rerun}");
    // It judges `slo_met` by that SLO: the column is there and 1.
    let runs = String::from_utf8(read(&run_out, "runs.csv")).unwrap();
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    let slo_met = header.iter().position(|&c| c == "slo_met").unwrap();
    for row in runs.lines().skip(1) {
        assert_eq!(row.split(',').nth(slo_met), Some("1"), "{runs}");
    }
}

#[test]
fn recommend_reranks_without_rerunning() {
    let dir = tempdir("sweep_recommend");
    let scenario = write(&dir, "s.toml", SWEEP);
    let out = dir.join("out");
    let o = sweep(&scenario, &out, &["--slo-p99", "1ms"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !out.join("recommendation.toml").exists(),
        "nothing meets a 1 ms p99"
    );
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(
        summary.contains("The cheapest point, ")
            && summary.contains("The point that comes closest to the SLO"),
        "the cheapest point (one replica) is not the closest: {summary}"
    );
    let runs_before = read(&out, "runs.csv");
    let o = headroom_ok(&["recommend", s(&out), "--slo-p99", "10s"]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("recommended: point"), "{table}");
    let loose = std::fs::read_to_string(out.join("recommendation.toml")).unwrap();
    assert!(loose.contains("latency_p99_ms <= 10000"), "{loose}");
    let loose_slo: toml::Table = toml::from_str(&loose).unwrap();
    assert_eq!(loose_slo["slo"]["p99"].as_str(), Some("10s"), "{loose}");
    // A tighter SLO moves the recommendation to a bigger point or to none.
    let o = headroom(&["recommend", s(&out), "--slo-p99", "1ms"]);
    assert!(o.status.success());
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("recommended: none"), "{table}");
    // The closest point is one of the three-replica ones (the lowest p99),
    // not the cheapest failing one.
    assert!(
        table.contains("; closest: point ") && table.contains("replicas = 3, "),
        "{table}"
    );
    assert!(
        !out.join("recommendation.toml").exists(),
        "a stale recommendation is removed"
    );
    // No datastore: no freshness objective to re-rank under.
    let o = headroom(&["recommend", s(&out), "--slo-max-stale-read-ratio", "0.01"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("of the sweep in ") && stderr(&o).contains("has no [[datastores]]"),
        "{}",
        stderr(&o)
    );
    // Nor a cost objective without prices.
    let o = headroom(&["recommend", s(&out), "--slo-max-cost-per-month", "100"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("has no [costs]"), "{}", stderr(&o));
    assert_eq!(read(&out, "runs.csv"), runs_before, "nothing re-ran");
}

fn sweep_shards(dir: &Path, scenario: &Path, n: u32, extra: &[&str]) -> Vec<PathBuf> {
    (1..=n)
        .map(|k| {
            let out = dir.join(format!("shard{k}"));
            let shard = format!("{k}/{n}");
            let mut args = vec![
                "sweep",
                s(scenario),
                "--out",
                s(&out),
                "--shard",
                &shard,
                "--service-timeseries",
                "--quiet",
            ];
            args.extend(extra);
            headroom_ok(&args);
            out
        })
        .collect()
}

#[test]
fn merged_shards_equal_the_unsharded_sweep_byte_for_byte() {
    let dir = tempdir("sweep_merge");
    let scenario = write(&dir, "s.toml", SWEEP);
    let whole = dir.join("whole");
    let o = sweep(&scenario, &whole, &["--slo-p99", "250ms"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shards = sweep_shards(&dir, &scenario, 4, &["--slo-p99", "250ms"]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&shards[1], "manifest.json")).unwrap();
    assert_eq!(manifest["shard"]["index"], 2);
    assert_eq!(
        manifest["point_runs"].as_array().unwrap().len(),
        2,
        "points 1 and 5 of 6"
    );
    let merged = dir.join("merged");
    // Any order of folders.
    headroom_ok(&[
        "merge",
        s(&shards[2]),
        s(&shards[0]),
        s(&shards[3]),
        s(&shards[1]),
        "--out",
        s(&merged),
        "--quiet",
    ]);
    for name in OUTPUTS {
        assert!(read(&whole, name) == read(&merged, name), "{name} differs");
    }
    // The same split chosen from a Slurm array's environment.
    let slurm = dir.join("slurm2");
    let o = headroom_env(
        &[
            "sweep",
            s(&scenario),
            "--out",
            s(&slurm),
            "--slo-p99",
            "250ms",
            "--service-timeseries",
            "--quiet",
        ],
        &[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for name in [
        "runs.csv",
        "timeseries.csv",
        "services.csv",
        "services_timeseries.csv",
        "manifest.json",
    ] {
        assert_eq!(read(&slurm, name), read(&shards[1], name), "{name}");
    }
    // And from a Kubernetes Indexed Job's.
    let k8s = dir.join("k8s4");
    let o = headroom_env(
        &[
            "sweep",
            s(&scenario),
            "--out",
            s(&k8s),
            "--shards",
            "4",
            "--slo-p99",
            "250ms",
            "--service-timeseries",
            "--quiet",
        ],
        &[("JOB_COMPLETION_INDEX", "3")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read(&k8s, "runs.csv"), read(&shards[3], "runs.csv"));
}

/// One sharded store behind one service, swept over its shard count.
const DATA_SWEEP: &str = r#"
[run]
duration = "20s"
warmup = "2s"
replications = 2
seed = 5

[workload]
arrivals = { process = "poisson", rate = 800.0 }
keys = { count = 5000, popularity = "zipf", s = 1.1 }
read_fraction = 0.9

[[services]]
name = "api"
instance = { workers = 16 }
work = { distribution = "exponential", mean = "1ms" }
calls = [ { data = "users" } ]
replicas = 2

[[datastores]]
name = "users"
shards = 4
shard = { workers = 2, queue = 20, read = { distribution = "exponential", mean = "2ms" } }

[sweep]
[sweep.params]
"datastores.users.shards" = [2, 6]
"#;

/// `headroom run` of `scenario` at point 1 of [`DATA_SWEEP`] (6 shards).
fn run_at_six_shards(dir: &Path, scenario: &Path) -> PathBuf {
    let run_out = dir.join("run6");
    headroom_ok(&[
        "run",
        s(scenario),
        "--out",
        s(&run_out),
        "--set",
        "datastores.users.shards=6",
        "--quiet",
    ]);
    run_out
}

/// The rows of CSV `text` whose `point` is `point`, without it.
fn rows_of(text: &str, point: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_once(',').filter(|(p, _)| *p == point))
        .map(|(_, rest)| rest.to_owned())
        .collect()
}

/// Sweeps `scenario` into `dir/whole` on every thread and into `dir/one` on
/// one; `file` is byte-identical in both. The first folder and `file`'s
/// text.
fn swept_at_any_thread_count(dir: &Path, scenario: &Path, file: &str) -> (PathBuf, String) {
    let whole = dir.join("whole");
    let o = sweep(scenario, &whole, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let one = dir.join("one");
    let o = sweep(scenario, &one, &["--threads", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read(&whole, file),
        read(&one, file),
        "{file}: 1 thread vs all"
    );
    let text = String::from_utf8(read(&whole, file)).unwrap();
    (whole, text)
}

#[test]
fn a_sweep_of_a_sharded_store_writes_each_points_shards_as_run_does() {
    let dir = tempdir("sweep_data");
    let scenario = write(&dir, "s.toml", DATA_SWEEP);
    let (whole, swept) = swept_at_any_thread_count(&dir, &scenario, "shards.csv");
    // Two replications of 2 and of 6 shards, each run's together in order.
    let keys: Vec<(String, usize)> = swept
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (format!("{},{}", f[0], f[1]), f[4].parse().unwrap())
        })
        .collect();
    let expect: Vec<(String, usize)> = [(0, 2), (1, 6)]
        .into_iter()
        .flat_map(|(p, n)| (0..2).flat_map(move |r| (0..n).map(move |k| (format!("{p},{r}"), k))))
        .collect();
    assert_eq!(keys, expect, "{swept}");
    // A point's rows are the run's at that point (the same streams), the
    // header too, `point` aside.
    let run_out = run_at_six_shards(&dir, &scenario);
    let rerun = String::from_utf8(read(&run_out, "shards.csv")).unwrap();
    assert_eq!(swept.lines().next(), rerun.lines().next());
    assert_eq!(
        rows_of(&swept, "1"),
        rows_of(&rerun, "0"),
        "{swept}\n{rerun}"
    );
    // The hotter shards at 2 shards than at 6: the busiest shard's
    // utilization falls as the store is split finer.
    let utilization = swept
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "utilization")
        .expect("a utilization column")
        - 1; // `rows_of` drops the point
    let busiest = |point: &str| {
        rows_of(&swept, point)
            .iter()
            .map(|r| {
                r.split(',')
                    .nth(utilization)
                    .unwrap()
                    .parse::<f64>()
                    .unwrap()
            })
            .fold(0.0, f64::max)
    };
    assert!(busiest("0") > busiest("1"), "{swept}");
    // `headroom plot` draws the shards of the point it shows (the
    // recommended one, 6 shards), in the report too.
    let charts = dir.join("charts");
    headroom_ok(&["plot", s(&whole), "--out", s(&charts)]);
    let svg = String::from_utf8(read(&charts, "shard_load.svg")).unwrap();
    assert!(
        svg.contains("requests per shard, recommended point 1"),
        "{svg}"
    );
    let report = String::from_utf8(read(&whole, "report.html")).unwrap();
    assert!(report.contains("requests per shard, recommended point 1"));
    // Shards of the sweep merge to the same file.
    let names = ["shards.csv", "runs.csv", "manifest.json"];
    merges_to(&dir, &scenario, &whole, &[], &names);
    // A folder whose shards.csv lost a run's rows is refused, not ranked.
    refused_without(
        &dir,
        &whole,
        "shards.csv",
        "0,0,",
        "shards.csv: no shard of point 0, replication 0, which finished",
    );
}

/// Checks that the two shards of `scenario`'s sweep with `flags`, merged,
/// give the files `names` of the unsharded sweep in `whole`.
fn merges_to(dir: &Path, scenario: &Path, whole: &Path, flags: &[&str], names: &[&str]) {
    let parts = sweep_shards(dir, scenario, 2, flags);
    let merged = dir.join("merged");
    headroom_ok(&[
        "merge",
        s(&parts[1]),
        s(&parts[0]),
        "--out",
        s(&merged),
        "--quiet",
    ]);
    for name in names {
        assert!(read(whole, name) == read(&merged, name), "{name} differs");
    }
}

/// Checks that a copy of the sweep folder `whole` whose `file` lost its
/// rows starting with `prefix` is refused with `needle`, not ranked.
fn refused_without(dir: &Path, whole: &Path, file: &str, prefix: &str, needle: &str) {
    let edited = dir.join("edited");
    std::fs::create_dir_all(&edited).unwrap();
    for entry in std::fs::read_dir(whole).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), edited.join(entry.file_name())).unwrap();
    }
    let text = String::from_utf8(read(whole, file)).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with(prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(edited.join(file), kept).unwrap();
    let again = dir.join("again");
    refused(
        &["recommend", s(&edited), "--out", s(&again)],
        &again,
        &[needle],
    );
}

/// `--shard-timeseries` and `--cache-timeseries`: a point's rows are those
/// of `headroom run` at that point, shards of the sweep merge to the same
/// files, `headroom plot` draws the recommended point's, a folder that
/// lost a run's rows is refused, and a scenario without the component
/// refuses the flag. Without the flags, nothing changes.
#[test]
fn a_sweep_keeps_shard_and_cache_time_series_on_request() {
    let dir = tempdir("sweep_data_series");
    let cached = DATA_SWEEP
        .replace("seed = 5", "seed = 5\ntimeseries_interval = \"2s\"")
        .replace(
            "[sweep]",
            "[[datastores.cache]]\ntier = \"l1\"\ncapacity = 200\n\n[sweep]",
        );
    let scenario = write(&dir, "s.toml", &cached);
    let flags = ["--shard-timeseries", "--cache-timeseries"];
    let whole = dir.join("whole");
    let o = sweep(&scenario, &whole, &flags);
    assert!(o.status.success(), "{}", stderr(&o));
    let run_out = run_at_six_shards(&dir, &scenario);
    for (name, per_interval) in [
        ("shards_timeseries.csv", [2, 6]),
        ("caches_timeseries.csv", [1, 1]),
    ] {
        let swept = String::from_utf8(read(&whole, name)).unwrap();
        let rerun = String::from_utf8(read(&run_out, name)).unwrap();
        assert_eq!(swept.lines().next(), rerun.lines().next(), "{name}");
        // 2 replications x 10 two-second intervals x the components.
        for (point, n) in ["0", "1"].into_iter().zip(per_interval) {
            assert_eq!(
                rows_of(&swept, point).len(),
                2 * 10 * n,
                "{name} point {point}"
            );
        }
        assert_eq!(rows_of(&swept, "1"), rows_of(&rerun, "0"), "{name}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&whole, "manifest.json")).unwrap();
    assert_eq!(manifest["identity"]["shard_timeseries"], true);
    assert_eq!(manifest["identity"]["cache_timeseries"], true);
    // The sweep's charts: the recommended point's shards and cache.
    let charts = dir.join("charts");
    headroom_ok(&["plot", s(&whole), "--out", s(&charts)]);
    for (chart, title) in [
        (
            "shard_utilization.svg",
            "busiest shards&apos; workers busy, recommended point 1",
        ),
        ("cache_over_time.svg", "fill (dashed), recommended point 1"),
    ] {
        let svg = String::from_utf8(read(&charts, chart)).unwrap();
        assert!(svg.contains(title), "{chart}: {svg}");
    }
    // Shards of the sweep merge to the same files.
    let names = [
        "shards_timeseries.csv",
        "caches_timeseries.csv",
        "manifest.json",
    ];
    merges_to(&dir, &scenario, &whole, &flags, &names);
    // A folder whose cache series lost a run's rows is refused.
    refused_without(
        &dir,
        &whole,
        "caches_timeseries.csv",
        "1,1,",
        "caches_timeseries.csv: no cache interval of point 1, replication 1, which finished",
    );
    // Without the flags the sweep is the one it was: no such files, no
    // such identity keys.
    let plain = dir.join("plain");
    let o = sweep(&scenario, &plain, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!plain.join("shards_timeseries.csv").exists());
    assert!(!plain.join("caches_timeseries.csv").exists());
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&plain, "manifest.json")).unwrap();
    assert!(manifest["identity"].get("shard_timeseries").is_none());
    assert!(manifest.get("cache_series_columns").is_none());
    // A scenario without stores or caches refuses either flag.
    let storeless = write(&dir, "plain.toml", SWEEP);
    for (flag, lacks) in [
        ("--shard-timeseries", "has no [[datastores]]"),
        (
            "--cache-timeseries",
            "has no cache ([[datastores.cache]] tier or [edge.cache])",
        ),
    ] {
        let out = dir.join("refused");
        let msg = refused(
            &["sweep", s(&storeless), "--out", s(&out), flag],
            &out,
            &[flag, lacks],
        );
        assert!(msg.contains("plain.toml"), "{msg}");
    }
}

/// Runs `args`, expects exit code 2, a message containing every one of
/// `needles`, and no `out` folder; returns the message.
fn refused(args: &[&str], out: &Path, needles: &[&str]) -> String {
    let o = headroom(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected {n:?} in: {err}");
    }
    assert!(!out.exists(), "{args:?}: wrote {}", out.display());
    err
}

#[test]
fn merge_refuses_mismatched_incomplete_or_duplicate_shards() {
    let dir = tempdir("sweep_merge_bad");
    let scenario = write(&dir, "s.toml", SWEEP);
    let shards = sweep_shards(&dir, &scenario, 3, &[]);
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let seeded = sweep_shards(&other, &scenario, 3, &["--seed", "99"]);
    let out = dir.join("merged");
    refused(
        &["merge", s(&shards[0]), s(&shards[1]), "--out", s(&out)],
        &out,
        &["incomplete", "shard 3 of 3 missing"],
    );
    refused(
        &[
            "merge",
            s(&shards[0]),
            s(&seeded[1]),
            s(&shards[2]),
            "--out",
            s(&out),
        ],
        &out,
        &["not shards of one sweep", "shard2"],
    );
    refused(
        &[
            "merge",
            s(&shards[0]),
            s(&shards[0]),
            s(&shards[2]),
            "--out",
            s(&out),
        ],
        &out,
        &["both shard 1/3"],
    );
    let two = sweep_shards(&dir.join("two"), &scenario, 2, &[]);
    refused(
        &[
            "merge",
            s(&shards[0]),
            s(&two[1]),
            s(&shards[2]),
            "--out",
            s(&out),
        ],
        &out,
        &["shards must come from one split"],
    );
    refused(
        &["merge", s(&dir), "--out", s(&out)],
        &out,
        &["no manifest.json"],
    );
    // Merging into one of the shards would replace its files.
    let o = headroom(&[
        "merge",
        s(&shards[0]),
        s(&shards[1]),
        s(&shards[2]),
        "--out",
        s(&shards[1]),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is the input folder"), "{}", stderr(&o));
    assert!(shards[1].join("manifest.json").exists());
    std::fs::remove_file(shards[1].join("runs.csv")).unwrap();
    refused(
        &[
            "merge",
            s(&shards[0]),
            s(&shards[1]),
            s(&shards[2]),
            "--out",
            s(&out),
        ],
        &out,
        &["runs.csv", "cannot read"],
    );
}

/// A sweep folder edited after it was written (a cell, a row, the
/// manifest) is refused by `recommend`, `merge` and `plot` with exit code 2
/// and the file, line and value; the analysis never ranks it, and an
/// existing recommendation is left as it was.
#[test]
fn an_edited_sweep_folder_is_refused_not_ranked() {
    let dir = tempdir("sweep_edited");
    let scenario = write(&dir, "s.toml", SWEEP);
    let whole = dir.join("whole");
    let o = sweep(&scenario, &whole, &["--slo-p99", "10s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = |name: &str| String::from_utf8(read(&whole, name)).unwrap();
    let runs = text("runs.csv");
    let manifest = text("manifest.json");
    let recommendation = read(&whole, "recommendation.toml");
    let lines: Vec<&str> = runs.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let p99 = header.iter().position(|c| *c == "latency_p99_ms").unwrap();
    // `lines[i]` is line i + 1 of the file.
    let edit_cell = |line: usize, column: usize, value: &str| {
        let mut rows: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        let mut cells: Vec<&str> = lines[line].split(',').collect();
        cells[column] = value;
        rows[line] = cells.join(",");
        rows.join("\n") + "\n"
    };
    let without_line = |line: usize| {
        let mut rows: Vec<&str> = lines.clone();
        rows.remove(line);
        rows.join("\n") + "\n"
    };
    let timeseries = text("timeseries.csv");
    let ts_lines: Vec<&str> = timeseries.lines().collect();
    let services = text("services.csv");
    let services_lines: Vec<&str> = services.lines().collect();
    let series = text("services_timeseries.csv");
    let series_lines: Vec<&str> = series.lines().collect();
    let replicas = lines[4].split(',').nth(3).unwrap();
    let other_replicas = if replicas == "1" { "3" } else { "1" };
    let p99_as_text = manifest.replacen(
        "\"name\": \"latency_p99_ms\",\n      \"kind\": \"float\"",
        "\"name\": \"latency_p99_ms\",\n      \"kind\": \"str\"",
        1,
    );
    assert_ne!(p99_as_text, manifest);
    let edits: Vec<(&str, String, Vec<&str>)> = vec![
        // A parameter cell that is not the point's value.
        (
            "runs.csv",
            edit_cell(4, 3, other_replicas),
            vec![
                "runs.csv: line 5, column `services.api.replicas`",
                "point 1's value",
            ],
        ),
        // A metric made text, outside the identity's digest.
        (
            "manifest.json",
            p99_as_text,
            vec!["manifest.json: metric `latency_p99_ms` has kind text"],
        ),
        // A value of another JSON type: said in JSON's words (an array),
        // not serde's (a sequence).
        (
            "manifest.json",
            manifest.replacen(
                "\"headroom_version\": ",
                "\"headroom_version\": [], \"_\": ",
                1,
            ),
            vec!["manifest.json: not a sweep manifest (invalid type: array, expected a string"],
        ),
        // An interval duplicated, moved to the end, or every interval
        // deleted.
        (
            "timeseries.csv",
            timeseries.replacen(ts_lines[1], &format!("{}\n{}", ts_lines[1], ts_lines[1]), 1),
            vec!["timeseries.csv: line 3: `t_s` = 20 does not follow the run's previous interval"],
        ),
        (
            "timeseries.csv",
            format!("{timeseries}{}\n", ts_lines[1]),
            vec![
                "point 0, replication 0 is not a run manifest.json records, or comes out of order",
            ],
        ),
        (
            "timeseries.csv",
            format!("{}\n", ts_lines[0]),
            vec!["timeseries.csv: no interval of point 0, replication 0"],
        ),
        // A service row moved to the end, or a count that is not one.
        (
            "services.csv",
            format!("{services}{}\n", services_lines[1]),
            vec![
                "services.csv: line 20: point 0, replication 0 is not a run manifest.json records, or comes out of order",
            ],
        ),
        (
            "services.csv",
            services.replacen(",api,", ",api,-3", 1),
            vec!["services.csv: line 2, column `requests`"],
        ),
        (
            "services.csv",
            format!("{}\n", services_lines[0]),
            vec!["services.csv: no service of point 0, replication 0"],
        ),
        // The same for the per-service time series.
        (
            "services_timeseries.csv",
            format!("{series}{}\n", series_lines[1]),
            vec!["services_timeseries.csv: line 56: point 0, replication 0 is not a run"],
        ),
        (
            "services_timeseries.csv",
            series.replacen(",api,", ",api,x", 1),
            vec!["services_timeseries.csv: line 2, column `tries_rps`"],
        ),
        (
            "services_timeseries.csv",
            format!("{}\n", series_lines[0]),
            vec!["services_timeseries.csv: no service interval of point 0, replication 0"],
        ),
        // A point the manifest does not have (it made the analysis panic).
        (
            "runs.csv",
            edit_cell(4, 0, "99"),
            vec![
                "runs.csv: line 5: point 99, replication 0",
                "point 1, replication 0",
            ],
        ),
        // A cell that is not a number (it was ranked as missing).
        (
            "runs.csv",
            edit_cell(4, p99, "abc"),
            vec![
                "runs.csv: line 5, column `latency_p99_ms`: \"abc\"",
                "a number",
            ],
        ),
        // A replication deleted, or the file cut to its header.
        (
            "runs.csv",
            without_line(3),
            vec!["runs.csv: 17 rows", "18 runs"],
        ),
        (
            "runs.csv",
            format!("{}\n", lines[0]),
            vec!["runs.csv: 0 rows"],
        ),
        // A number not as the sweep writes it: the same value in another
        // spelling (merged files would no longer be byte-identical), or a
        // count below zero.
        (
            "runs.csv",
            edit_cell(
                4,
                p99,
                &format!("+{}", lines[4].split(',').nth(p99).unwrap()),
            ),
            vec!["line 5, column `latency_p99_ms`", "as the sweep writes it"],
        ),
        (
            "runs.csv",
            edit_cell(
                4,
                header.iter().position(|c| *c == "requests").unwrap(),
                "-5",
            ),
            vec!["line 5, column `requests`: \"-5\"", "a whole number >= 0"],
        ),
        // A metric the ranking reads outside its range.
        (
            "runs.csv",
            edit_cell(
                4,
                header.iter().position(|c| *c == "availability").unwrap(),
                "2",
            ),
            vec![
                "line 5, column `availability`: \"2\"",
                "a fraction from 0 to 1",
            ],
        ),
        (
            "runs.csv",
            edit_cell(4, p99, "-1"),
            vec!["line 5, column `latency_p99_ms`: \"-1\"", "a number >= 0"],
        ),
        // The sweep's seed changed in a row.
        (
            "runs.csv",
            edit_cell(2, 2, "12"),
            vec!["line 3: `seed` = 12", "seed is 11"],
        ),
        // The identity edited: a parameter's value, or the parameters.
        (
            "manifest.json",
            manifest.replacen("\"1\"", "\"0\"", 1),
            vec![
                "manifest.json: `sweep_id`",
                "not the digest",
                "changed after the sweep wrote it",
            ],
        ),
        (
            "manifest.json",
            manifest.replacen("\"command\": \"sweep\"", "\"command\": \"search\"", 1),
            vec!["manifest.json: `command` = \"search\""],
        ),
        // The per-service time series' columns of another build.
        (
            "manifest.json",
            manifest.replacen("\"name\": \"tries_rps\"", "\"name\": \"tries\"", 1),
            vec![
                "manifest.json: `service_series_columns` has column `tries` where this build writes `tries_rps`",
            ],
        ),
        // The services columns of another build (outside the digest).
        (
            "manifest.json",
            manifest.replacen(
                "\"name\": \"concurrency_limit_mean\"",
                "\"name\": \"limit_mean\"",
                1,
            ),
            vec![
                "manifest.json: `services_columns` has column `limit_mean` where this build writes `concurrency_limit_mean`",
                "changed after the sweep wrote it",
            ],
        ),
        // A pooled quantile edited: negative, or one the sweep never writes.
        (
            "manifest.json",
            manifest.replacen("\"latency_p99_ms\": ", "\"latency_p99_ms\": -", 1),
            vec![
                "manifest.json: point 0: `pooled_ms.latency_p99_ms` = -",
                "a latency in ms (>= 0) or null",
            ],
        ),
        (
            "manifest.json",
            manifest.replacen("\"latency_p99_ms\": ", "\"latency_p98_ms\": ", 1),
            vec!["manifest.json: point 0: `pooled_ms` has `latency_p98_ms`"],
        ),
        // The relaxation measurement with a batch length below zero.
        (
            "manifest.json",
            manifest.replacen("\"batch_s\": ", "\"batch_s\": -", 1),
            vec![
                "manifest.json: point 0: `relaxation` = ",
                "a batch length in s (> 0)",
            ],
        ),
        // The bottleneck's approximation with a utilization above 1.
        (
            "manifest.json",
            manifest.replacen("\"utilization\": ", "\"utilization\": 1", 1),
            vec![
                "manifest.json: point 0: `bottleneck` = { utilization = 1",
                "a utilization in [0, 1]",
            ],
        ),
    ];
    let out = dir.join("merged");
    for (file, text, needles) in &edits {
        std::fs::write(whole.join(file), text).unwrap();
        for args in [
            vec!["recommend", s(&whole)],
            vec!["merge", s(&whole), "--out", s(&out)],
            vec!["plot", s(&whole), "--out", s(&out)],
        ] {
            let err = refused(&args, &out, needles);
            assert_eq!(err.lines().count(), 1, "{args:?}: one message: {err}");
        }
        assert_eq!(
            read(&whole, "recommendation.toml"),
            recommendation,
            "{file}: the recommendation is left as it was"
        );
        std::fs::write(whole.join("runs.csv"), &runs).unwrap();
        std::fs::write(whole.join("manifest.json"), &manifest).unwrap();
        std::fs::write(whole.join("timeseries.csv"), &timeseries).unwrap();
        std::fs::write(whole.join("services.csv"), &services).unwrap();
        std::fs::write(whole.join("services_timeseries.csv"), &series).unwrap();
    }
    // Restored, the folder is read again.
    headroom_ok(&["recommend", s(&whole)]);
    // A folder where a chart goes is named before any chart is drawn (one
    // PNG was written, and a temporary file left, before).
    let charts = dir.join("charts");
    std::fs::create_dir_all(charts.join("latency_over_time.svg")).unwrap();
    let o = headroom(&["plot", s(&whole), "--out", s(&charts)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("latency_over_time.svg: is a folder"),
        "{}",
        stderr(&o)
    );
    let left: Vec<_> = std::fs::read_dir(&charts).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing written beside the folder: {left:?}");
    // `--out` must name a file: a folder, `/` or `..` is refused (it wrote
    // `./recommendation.toml` and said "wrote /").
    let slash = format!("{}/", s(&dir.join("new")));
    for (bad, why) in [
        (s(&dir), "is a folder; give a file name"),
        ("/", "not a file name"),
        ("..", "not a file name"),
        (&slash, "not a file name"),
    ] {
        let o = headroom(&["recommend", s(&whole), "--out", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("--out {bad}: {why}")),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn bad_sweeps_are_refused_with_exit_code_2_and_nothing_written() {
    let dir = tempdir("sweep_bad");
    let out = dir.join("out");
    let case = |name: &str, table: &str| {
        write(&dir, name, &SWEEP.replace(
        "[sweep]\n[sweep.params]\n\"services.api.replicas\" = [1, 2, 3]\nservices.api.instance.workers = { from = 2, to = 4, step = 2 }\n",
        table,
    ))
    };
    let typo = case(
        "typo.toml",
        "[sweep.params]\n\"services.api.replicaz\" = [1, 2]\n",
    );
    refused(
        &["sweep", s(&typo), "--out", s(&out)],
        &out,
        &[
            "typo.toml",
            "services.api.replicaz",
            "closest valid paths: services.api.replicas",
        ],
    );
    let empty = case(
        "empty.toml",
        "[sweep.params]\n\"services.api.replicas\" = []\n",
    );
    refused(
        &["sweep", s(&empty), "--out", s(&out)],
        &out,
        &["empty.toml", "services.api.replicas", "empty"],
    );
    let wrong = case(
        "wrong.toml",
        "[sweep.params]\n\"services.api.replicas\" = [2, \"four\"]\n",
    );
    let err = refused(
        &["sweep", s(&wrong), "--out", s(&out)],
        &out,
        &["sweep point 1", "services.api.replicas", "\"four\""],
    );
    // The loader's message once, not repeated as the error's cause.
    assert_eq!(err.matches("\"four\"").count(), 2, "{err}");
    // Where the bad value is written: line and column of `"four"`.
    let text = std::fs::read_to_string(&wrong).unwrap();
    let offset = text.find("\"four\"").unwrap();
    let line = text[..offset].matches('\n').count() + 1;
    let col = offset - text[..offset].rfind('\n').map_or(0, |n| n + 1) + 1;
    assert!(err.contains(&format!("wrong.toml:{line}:{col}: ")), "{err}");
    let range = case(
        "range.toml",
        "[sweep.params]\n\"services.api.replicas\" = { from = 4, to = 1, step = 1 }\n",
    );
    refused(&["sweep", s(&range), "--out", s(&out)], &out, &["above"]);
    let none = write(&dir, "none.toml", &SWEEP[..SWEEP.find("[sweep]").unwrap()]);
    refused(
        &["sweep", s(&none), "--out", s(&out)],
        &out,
        &["no [sweep] table"],
    );
    let good = write(&dir, "good.toml", SWEEP);
    refused(
        &["sweep", s(&good), "--out", s(&out), "--shard", "4/3"],
        &out,
        &["--shard 4/3", "1 <= K <= N"],
    );
    refused(
        &["sweep", s(&good), "--out", s(&out), "--shards", "3"],
        &out,
        &["--shards 3 needs a shard index"],
    );
    refused(
        &[
            "sweep",
            s(&good),
            "--out",
            s(&out),
            "--slo-availability",
            "1.5",
        ],
        &out,
        &["--slo-availability"],
    );
    refused(
        &["sweep", s(&good), "--out", s(&out), "--slo-p99", "fast"],
        &out,
        &["--slo-p99"],
    );
    let stale = "--slo-max-stale-read-ratio";
    refused(
        &["sweep", s(&good), "--out", s(&out), stale, "1.5"],
        &out,
        &["--slo-max-stale-read-ratio 1.5", "a fraction in [0, 1]"],
    );
    // Without a datastore no read is counted stale.
    refused(
        &["sweep", s(&good), "--out", s(&out), stale, "0.01"],
        &out,
        &["--slo-max-stale-read-ratio", "no [[datastores]]"],
    );
    for (flag, value, needle) in [
        ("--slo-p50", "soon", "--slo-p50"),
        (
            "--slo-p999",
            "0s",
            "--slo-p999 0s: expected a latency above 0",
        ),
        ("--slo-availability", "0", "a fraction in (0, 1]"),
        ("--slo-session-availability", "1.2", "a fraction in (0, 1]"),
        (
            "--slo-max-cost-per-month",
            "-1",
            "a cost in USD per month >= 0",
        ),
        // What SWEEP does not measure: no sessions, and no prices (every
        // point would cost 0).
        (
            "--slo-session-availability",
            "0.99",
            "the scenario has no sessions (`workload.session`)",
        ),
        (
            "--slo-max-cost-per-month",
            "100",
            "the scenario has no [costs], so every point costs 0",
        ),
    ] {
        refused(
            &["sweep", s(&good), "--out", s(&out), flag, value],
            &out,
            &[flag, needle],
        );
    }
}

#[test]
fn plots_and_report_of_a_sweep_and_of_a_run() {
    let dir = tempdir("sweep_plots");
    let scenario = write(&dir, "s.toml", SWEEP);
    let out = dir.join("out");
    let o = sweep(&scenario, &out, &["--slo-p99", "250ms", "--plots"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for stem in [
        "latency_over_time",
        "replicas_vs_arrivals",
        "service_utilization",
        // No `[costs]`: instances stand in for cost.
        "instances_vs_p99",
        "effect_services.api.replicas",
        "effect_services.api.instance.workers",
    ] {
        let png = read(&out, &format!("{stem}.png"));
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png");
        let svg = String::from_utf8(read(&out, &format!("{stem}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<text"),
            "{stem}.svg has text"
        );
    }
    // No cache tiers and no shards in this scenario: those charts are
    // skipped, not drawn empty; nor is cost, which is 0 at every point.
    assert!(!out.join("cache_hit_ratio.png").exists());
    assert!(!out.join("cost_vs_p99.png").exists());
    let svg = String::from_utf8(read(&out, "instances_vs_p99.svg")).unwrap();
    assert!(svg.contains("no [costs]"), "the title says why");
    let report = String::from_utf8(read(&out, "report.html")).unwrap();
    assert!(report.starts_with("<!DOCTYPE html>"));
    assert_eq!(report.matches("<svg").count(), 6, "every chart inline");
    assert!(report.contains("recommendation.toml") && report.contains("<table>"));
    assert!(
        !report.contains("src=\"http") && !report.contains("<script"),
        "self-contained"
    );
    // `headroom plot` on a run folder.
    let run_out = dir.join("run");
    headroom_ok(&["run", s(&scenario), "--out", s(&run_out), "--quiet"]);
    let o = headroom_ok(&["plot", s(&run_out), "--out", s(&dir.join("run_plots"))]);
    assert!(dir.join("run_plots/latency_over_time.png").exists());
    let svg = String::from_utf8(read(&dir, "run_plots/service_utilization.svg")).unwrap();
    assert!(svg.contains("api (mean of"), "one line per service");
    assert!(String::from_utf8_lossy(&o.stderr).contains("skipped: hit ratio per cache tier"));
    // A run folder's table edited after it was written is bad input, as in
    // a sweep's folder: exit code 2, the file and line, no chart.
    let runs = String::from_utf8(read(&run_out, "runs.csv")).unwrap();
    std::fs::write(
        run_out.join("runs.csv"),
        runs.trim_end().to_owned() + ",1\n",
    )
    .unwrap();
    let edited = dir.join("edited_plots");
    let said = refused(&["plot", s(&run_out), "--out", s(&edited)], &edited, &[]);
    assert!(
        said.contains(&format!("runs.csv: line {} has", runs.lines().count()))
            && said.contains("changed after it was written"),
        "{said}"
    );
    // With prices, cost is the x axis.
    let priced = SWEEP
        .replace(
            "instance = { workers = 4, queue = 50 }",
            "instance = { type = \"small\", workers = 4, queue = 50 }",
        )
        .replace(
            "[sweep]",
            "[costs]\ninstance_types = { small = { vcpu = 2, memory = \"4GiB\", hourly = 0.1 } }\n\n[sweep]",
        );
    let scenario = write(&dir, "priced.toml", &priced);
    let out = dir.join("priced");
    let o = sweep(&scenario, &out, &["--slo-p99", "250ms", "--plots"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = String::from_utf8(read(&out, "cost_vs_p99.svg")).unwrap();
    assert!(svg.contains("cost (USD per month)"), "cost on the x axis");
    assert!(!out.join("instances_vs_p99.png").exists());
}

/// A sweep in which no point meets the SLO still writes its report, with the
/// base scenario in place of a recommendation, even when the scenario has
/// options left unset (the breaker's here, `null` in the manifest's JSON,
/// which TOML cannot write as it is).
#[test]
fn a_sweep_no_point_of_which_meets_the_slo_reports_the_base_scenario() {
    let dir = tempdir("sweep_infeasible");
    let text = format!(
        "{SWEEP}\n[policy.mesh]\ncircuit_breaker = {{ failure_rate_threshold = 0.5, open_duration = \"30s\" }}\n"
    );
    let scenario = write(&dir, "s.toml", &text);
    let out = dir.join("out");
    let o = sweep(&scenario, &out, &["--slo-p99", "1us"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = String::from_utf8(read(&out, "report.html")).unwrap();
    assert!(report.contains("<h2>Base scenario</h2>"), "{report}");
    assert!(report.contains("failure_rate_threshold = 0.5"), "{report}");
    assert!(!report.contains("<h2>recommendation.toml</h2>"));
}

#[test]
fn a_latency_the_sweep_does_not_move_is_not_sent_to_more_capacity() {
    // At 20 requests/s every point is idle: p99 is the work's own tail
    // (about 46 ms) whatever the replicas, and a 10 ms p99 needs a change
    // elsewhere, not more of the same.
    let dir = tempdir("sweep_floor");
    let text = SWEEP.replace("rate = 300.0", "rate = 20.0");
    let scenario = write(&dir, "s.toml", &text);
    let out = dir.join("out");
    let o = sweep(&scenario, &out, &["--slo-p99", "10ms"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(
        summary.contains("latency_p99_ms is ")
            && summary.contains("at every point (within 5 %), above the limit of 10 ms")
            && summary.contains("more of the same capacity will not meet the SLO")
            && summary.contains("`services.csv`: each service's latency at each point"),
        "{summary}"
    );
    assert!(out.join("services.csv").exists());
    assert!(!summary.contains("Widen the sweep"), "{summary}");
    // Where capacity does move p99, the advice is to widen the sweep.
    let busy = dir.join("busy");
    let o = sweep(
        &write(&dir, "busy.toml", SWEEP),
        &busy,
        &["--slo-p99", "1ms"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = String::from_utf8(read(&busy, "summary.md")).unwrap();
    assert!(
        summary.contains("Widen the sweep toward more capacity"),
        "{summary}"
    );
}

#[test]
fn compare_reports_paired_differences() {
    let dir = tempdir("compare");
    let base = &SWEEP[..SWEEP.find("[sweep]").unwrap()];
    let a = write(&dir, "a.toml", base);
    let b = write(
        &dir,
        "b.toml",
        &base.replace("replicas = 2", "replicas = 3"),
    );
    let out = dir.join("out");
    headroom_ok(&["compare", s(&a), s(&b), "--out", s(&out), "--quiet"]);
    let csv = String::from_utf8(read(&out, "compare.csv")).unwrap();
    assert!(
        csv.starts_with("metric,a,b,diff,diff_ci95,unpaired_ci95\n"),
        "{csv}"
    );
    let row = |m: &str| -> Vec<String> {
        csv.lines()
            .find(|l| l.starts_with(&format!("{m},")))
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect()
    };
    // Common random numbers: the same arrivals in A and B.
    assert_eq!(row("requests")[3], "0");
    assert_eq!(row("requests")[4], "0");
    assert_eq!(row("replicas_mean")[3], "1");
    // One more replica lowers utilisation in every replication: the paired
    // interval excludes zero and is narrower than the unpaired one.
    let cpu = row("cpu_util_mean");
    let (d, hw, unpaired): (f64, f64, f64) = (
        cpu[3].parse().unwrap(),
        cpu[4].parse().unwrap(),
        cpu[5].parse().unwrap(),
    );
    assert!(d + hw < 0.0, "{cpu:?}");
    assert!(hw < unpaired, "{cpu:?}");
    // One region: no per-region rows.
    assert!(!csv.contains("\nregions."), "{csv}");
}

/// The numbers of `compare.csv`'s row for metric `m` (`csv`, its text):
/// `[a, b, diff, diff_ci95, unpaired_ci95]`.
fn compare_row(csv: &str, m: &str) -> Vec<f64> {
    let line = csv
        .lines()
        .find(|l| l.starts_with(&format!("{m},")))
        .unwrap_or_else(|| panic!("no {m}: {csv}"));
    line.split(',')
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect()
}

/// With two regions, `compare` pairs each deployment's held fraction,
/// instances and their cost: a second instance per region halves each
/// region's held fraction and doubles its instances and their cost, each
/// region at its own price; a deployment on one side only is named in a
/// note.
#[test]
fn compare_pairs_each_deployments_figures() {
    let dir = tempdir("compare-deployments");
    let base = r#"
[run]
duration = "2m"
warmup = "20s"
replications = 3
seed = 11

[workload]
arrivals = { process = "poisson", rate = 400.0 }
origin = { east = 0.6, west = 0.4 }

[[regions]]
name = "east"
[[regions]]
name = "west"

[network.rtt.east]
west = "60ms"

[[services]]
name = "api"
instance = { type = "small", workers = 4, queue = "unbounded" }
work = { distribution = "exponential", mean = "5ms" }
replicas = 1

[costs]
instance_types = { small = { vcpu = 4, memory = "8GiB", hourly = 0.10 } }
region_multipliers = { east = 1.0, west = 1.5 }
"#;
    let a = write(&dir, "a.toml", base);
    let b = write(
        &dir,
        "b.toml",
        &base.replace("replicas = 1", "replicas = 2"),
    );
    let out = dir.join("out");
    headroom_ok(&["compare", s(&a), s(&b), "--out", s(&out), "--quiet"]);
    let csv = String::from_utf8(read(&out, "compare.csv")).unwrap();
    let row = |m: &str| compare_row(&csv, m);
    let names: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("deployments."))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "deployments.api.east.utilization",
            "deployments.api.east.replicas_mean",
            "deployments.api.east.instance_cost_per_month_usd",
            "deployments.api.west.utilization",
            "deployments.api.west.replicas_mean",
            "deployments.api.west.instance_cost_per_month_usd",
        ],
        "{csv}"
    );
    // [a, b, diff, diff_ci95, unpaired_ci95]
    for (region, rate, usd) in [("east", 240.0, 73.0), ("west", 160.0, 109.5)] {
        let held = row(&format!("deployments.api.{region}.utilization"));
        let rho = rate * 0.005 / 4.0;
        assert!((held[0] / rho - 1.0).abs() < 0.05, "{region}: {held:?}");
        assert!(
            (held[1] / (rho / 2.0) - 1.0).abs() < 0.05,
            "{region}: {held:?}"
        );
        assert!(held[2] + held[3] < 0.0, "{region}: {held:?}");
        let instances = row(&format!("deployments.api.{region}.replicas_mean"));
        assert_eq!(&instances[..3], [1.0, 2.0, 1.0], "{region}");
        let cost = row(&format!(
            "deployments.api.{region}.instance_cost_per_month_usd"
        ));
        assert_eq!(&cost[..3], [usd, 2.0 * usd, usd], "{region}");
        // The same cost as the bill's line for the deployment.
        let line = row(&format!("bill.instances.api.{region}.cost_per_month_usd"));
        assert_eq!(&line[..3], [usd, 2.0 * usd, usd], "{region}");
    }
    // The service moved out of west on one side: east's deployments are
    // paired, and a note names west's, which has nothing to pair with.
    let c = write(
        &dir,
        "c.toml",
        &base.replace("name = \"api\"\n", "name = \"api\"\nregions = [\"east\"]\n"),
    );
    let out = dir.join("out-c");
    let o = headroom_ok(&["compare", s(&a), s(&c), "--out", s(&out), "--quiet"]);
    let note = stderr(&o);
    assert!(
        note.contains("note: deployments only in ")
            && note.contains("(api west) or only in ")
            && note.contains("(none) have nothing to pair with"),
        "{note}"
    );
    assert!(
        note.contains("note: bill lines only in ")
            && note.contains("(instances api west) or only in "),
        "{note}"
    );
    let csv = String::from_utf8(read(&out, "compare.csv")).unwrap();
    assert!(
        csv.contains("\ndeployments.api.east.utilization,")
            && !csv.contains("\ndeployments.api.west."),
        "{csv}"
    );
}

/// With the same client regions on both sides, `compare` pairs each
/// region's availability and latency quantiles too: a faster health check
/// answers more of the dark region's clients, the others' are the same
/// requests answered alike, and a region's quantile is centred on its
/// replications pooled, as `run`'s summary has it.
#[test]
fn compare_pairs_each_client_regions_figures() {
    let dir = tempdir("compare-regions");
    let base = &REGION_SWEEP[..REGION_SWEEP.find("[sweep]").unwrap()];
    let a = write(&dir, "a.toml", base);
    let b = write(
        &dir,
        "b.toml",
        &base.replace("interval = \"10s\", timeout", "interval = \"5s\", timeout"),
    );
    let out = dir.join("out");
    let o = headroom_ok(&["compare", s(&a), s(&b), "--out", s(&out)]);
    assert!(
        stdout(&o).contains("regions.us-east.availability"),
        "{}",
        stdout(&o)
    );
    let csv = String::from_utf8(read(&out, "compare.csv")).unwrap();
    let row = |m: &str| compare_row(&csv, m);
    let names: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("regions."))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(names.len(), 3 * 3, "{csv}");
    // [a, b, diff, diff_ci95, unpaired_ci95]
    let east = row("regions.us-east.availability");
    assert!(east[2] - east[3] > 0.0, "B fails over sooner: {east:?}");
    for region in ["us-west", "eu-west"] {
        let same = row(&format!("regions.{region}.availability"));
        assert_eq!((same[0], same[1], same[2]), (1.0, 1.0, 0.0), "{region}");
    }
    // A's us-east p99 is the pooled one `run` reports for A.
    let run = dir.join("run-a");
    headroom_ok(&["run", s(&a), "--out", s(&run), "--quiet"]);
    let summary = String::from_utf8(read(&run, "summary.md")).unwrap();
    let cells: Vec<&str> = summary
        .lines()
        .find(|l| l.starts_with("| us-east | "))
        .unwrap()
        .split(" | ")
        .collect();
    let pooled: f64 = cells[5].split(" ± ").next().unwrap().parse().unwrap();
    let p99 = row("regions.us-east.latency_p99_ms")[0];
    assert!((p99 / pooled - 1.0).abs() < 1e-3, "{p99} vs {pooled}");
    // Different regions on the two sides: the run's metrics are compared,
    // the regions' are not, and the note says why.
    let c = write(&dir, "c.toml", &base.replace("eu-west", "ap-south"));
    let out = dir.join("out-c");
    let o = headroom_ok(&["compare", s(&a), s(&c), "--out", s(&out), "--quiet"]);
    let note = stderr(&o);
    assert!(
        note.contains(
            "have different client regions (us-east, us-west, eu-west against us-east, \
             us-west, ap-south), so their regions' figures are not compared"
        ),
        "{note}"
    );
    let csv = String::from_utf8(read(&out, "compare.csv")).unwrap();
    assert!(
        csv.contains("\navailability,") && !csv.contains("\nregions."),
        "{csv}"
    );
}

#[test]
fn compare_names_the_columns_one_side_lacks() {
    let dir = tempdir("compare-columns");
    let base = &SWEEP[..SWEEP.find("[sweep]").unwrap()];
    let a = write(&dir, "a.toml", base);
    // The same load as sessions: 30 sessions/s of 10 requests.
    let b = write(
        &dir,
        "b.toml",
        &base.replace(
            "arrivals = { process = \"poisson\", rate = 300.0 }",
            "arrivals = { process = \"poisson\", rate = 30.0 }\nsession = { requests = 10, \
             think = \"1s\" }",
        ),
    );
    let out = dir.join("out");
    let o = headroom(&["compare", s(&a), s(&b), "--out", s(&out), "--quiet"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("only in the first: none")
            && err.contains(
                "only in the second: sessions, session_availability, session_requests_mean, \
                 session_duration_mean_s, sessions_abandoned"
            )
            && err.contains("both or neither with sessions"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn shell_completions() {
    for shell in ["bash", "zsh", "fish"] {
        let o = headroom(&["completions", shell]);
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("sweep") && text.contains("merge") && text.contains("--shard"),
            "{shell}"
        );
    }
    let o = headroom(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_budget_equal_to_the_cost_holds() {
    // Three instances at 0.192 USD/h cost 420.48 USD a 730-hour month. In
    // binary floating point the product is 420.4800000000001, over this
    // budget, and the engine's integral over the run 420.4799999999999;
    // kept to 12 significant digits, both are the 420.48 written here.
    let dir = tempdir("budget");
    let scenario = write(
        &dir,
        "s.toml",
        r#"
[run]
duration = "1m"
warmup = "10s"
replications = 2
seed = 5

[workload]
arrivals = { process = "poisson", rate = 50.0 }

[[services]]
name = "api"
instance = { type = "m", workers = 4, queue = 50 }
work = { distribution = "exponential", mean = "10ms" }
replicas = 3

[costs]
instance_types = { "m" = { vcpu = 2, memory = "4GiB", hourly = 0.192 } }

[slo]
max_cost_per_month = 420.48

[sweep]
params = { "services.api.replicas" = [3, 4] }
"#,
    );
    assert_ne!(3.0 * 0.192 * 730.0, 420.48);
    let out = dir.join("out");
    headroom_ok(&["run", s(&scenario), "--out", s(&out), "--quiet"]);
    let runs = String::from_utf8(read(&out, "runs.csv")).unwrap();
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|c| *c == name).unwrap();
    for line in runs.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[at("cost_per_month_usd")], "420.48", "{line}");
        assert_eq!(cells[at("slo_met")], "1", "{line}");
    }
    // The planner's verdict on the same point, at the interval's upper end.
    let swept = dir.join("swept");
    let o = sweep(&scenario, &swept, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = headroom_ok(&["recommend", s(&swept)]);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(said.contains("recommended: point 0"), "{said}");
    // The budget from the command line: under the three instances' cost
    // nothing holds; with room, a p50 objective joins the ranking's
    // columns and decides.
    let said = recommended(&["recommend", s(&swept), "--slo-max-cost-per-month", "400"]);
    assert!(
        said.contains("cost_per_month_usd <= 400") && said.contains("recommended: none"),
        "{said}"
    );
    let budget = ["recommend", s(&swept), "--slo-max-cost-per-month", "600"];
    let said = recommended(&[&budget[..], &["--slo-p50", "1ms"]].concat());
    assert!(
        said.contains("latency_p50_ms <= 1") && said.contains("recommended: none"),
        "{said}"
    );
    let said = recommended(&[&budget[..], &["--slo-p50", "1s"]].concat());
    assert!(said.contains("recommended: point 0"), "{said}");
    let header = ranking_header(&said);
    assert!(
        header.contains(" cost_per_month_usd ") && header.contains(" latency_p50_ms "),
        "{said}"
    );
}

/// The standard output of `headroom ARGS...` (which must succeed).
fn recommended(args: &[&str]) -> String {
    String::from_utf8_lossy(&headroom_ok(args).stdout).into_owned()
}

/// The header line of the ranking table `recommend` prints.
fn ranking_header(said: &str) -> &str {
    said.lines()
        .find(|l| l.trim_start().starts_with("rank "))
        .unwrap_or_else(|| panic!("no ranking table: {said}"))
}

/// `--slo-session-availability`: one request in a hundred fails, so a
/// session (a geometric number of requests, mean 10) is answered whole
/// about 0.1 x 0.99 / (1 - 0.9 x 0.99) = 0.91 of the time while 0.99 of
/// requests are (these one-minute runs measure about 0.92). The request
/// objective holds and the session one decides.
#[test]
fn a_session_objective_from_the_command_line_judges_sessions() {
    let dir = tempdir("sweep_session_slo");
    let scenario = write(
        &dir,
        "s.toml",
        &SWEEP
            .replace(
                "arrivals = { process = \"poisson\", rate = 300.0 }",
                "arrivals = { process = \"poisson\", rate = 30.0 }\nsession = { requests = 10, \
             think = \"1s\" }",
            )
            .replace(
                "[sweep]",
                "[[faults]]\ntype = \"errors\"\ntarget = \"api\"\nrate = 0.01\n\n[sweep]",
            ),
    );
    let out = dir.join("out");
    let o = sweep(
        &scenario,
        &out,
        &[
            "--slo-availability",
            "0.98",
            "--slo-session-availability",
            "0.95",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("recommendation.toml").exists(), "0.92 < 0.95");
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(
        summary.contains("session_availability >= 0.95"),
        "{summary}"
    );
    let said = recommended(&["recommend", s(&out), "--slo-session-availability", "0.85"]);
    assert!(said.contains("recommended: point"), "{said}");
    let header = ranking_header(&said);
    assert!(
        header.contains(" availability ") && header.contains(" session_availability "),
        "{said}"
    );
    let rec = std::fs::read_to_string(out.join("recommendation.toml")).unwrap();
    let rec: toml::Table = toml::from_str(&rec).unwrap();
    assert_eq!(rec["slo"]["session_availability"].as_float(), Some(0.85));
    assert_eq!(rec["slo"]["availability"].as_float(), Some(0.98));
}

#[test]
fn a_parameter_under_a_table_the_scenario_leaves_out_is_swept() {
    // SWEEP has no `[policy]`: the parameter's table is made for each point
    // (as `--set` makes it), and the recommendation carries it.
    let dir = tempdir("sweep_missing_table");
    let scenario = write(
        &dir,
        "s.toml",
        &SWEEP.replace(
            "services.api.instance.workers = { from = 2, to = 4, step = 2 }",
            r#""policy.mesh.timeout" = ["1s", "2s"]"#,
        ),
    );
    let out = dir.join("out");
    let o = sweep(&scenario, &out, &["--slo-p99", "250ms"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(out.join("recommendation.toml")).unwrap();
    let rec: toml::Table = toml::from_str(&text).unwrap();
    let timeout = rec["policy"]["mesh"]["timeout"].as_str();
    assert!(matches!(timeout, Some("1s" | "2s")), "{text}");
    headroom_ok(&["check", s(&out.join("recommendation.toml"))]);
}

#[test]
fn points_whose_replications_are_short_are_named_and_stay_named_on_reread() {
    let dir = tempdir("sweep_short_runs");
    // M/M/1 at rho 0.95 (one replica) or two replicas at about 0.48 each,
    // 10 replications of 10 measured minutes: the busy queue spans few
    // relaxation times (tests/cli.rs runs it through `run`), the other
    // forgets within seconds. Without `[costs]` the fewest instances win:
    // the recommended point is the short one.
    let base = mm1_short(9.5);
    let sweep_table = "\n[sweep]\n[sweep.params]\n\"services.server.replicas\" = [1, 2]\n";
    let scenario = write(&dir, "s.toml", &format!("{base}{sweep_table}"));
    let out = dir.join("out");
    let o = headroom_ok(&["sweep", s(&scenario), "--out", s(&out)]);
    let warning = "warning: at 1 of 2 points a replication spans fewer than 100 relaxation times";
    assert!(stderr(&o).contains(warning), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("recommended: point 0"),
        "{}",
        stdout(&o)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&read(&out, "manifest.json")).unwrap();
    let lag1 = |p: usize| {
        manifest["point_runs"][p]["relaxation"]["lag1"]
            .as_f64()
            .unwrap_or_else(|| panic!("point {p} has no relaxation: {manifest}"))
    };
    assert!(lag1(0) > 0.5, "one replica: lag1 {}", lag1(0));
    assert!(lag1(1) < 0.3, "two replicas: lag1 {}", lag1(1));
    // The heavy-traffic approximation at the busiest queue, kept beside
    // it: the one replica's (rho 0.95: 0.1 s x 1.95 / 0.05^2, about 78 s,
    // 8 in 10 minutes) and the two replicas' (rho 0.48: about 0.5 s).
    let bottleneck = |p: usize| &manifest["point_runs"][p]["bottleneck"];
    let spans = |p: usize| {
        let b = bottleneck(p);
        b["window_s"].as_f64().unwrap() / b["time_s"].as_f64().unwrap()
    };
    assert_eq!(bottleneck(0)["station"], "service server", "{manifest}");
    assert!((4.0..16.0).contains(&spans(0)), "{}", bottleneck(0));
    assert!(spans(1) > 500.0, "{}", bottleneck(1));
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(
        summary.contains("**Short replications.** At 1 of 2 points")
            && summary.contains("relaxation times spanned: 0 (")
            && summary.contains("**Warning:** at this point, latency quantile intervals"),
        "{summary}"
    );
    // `recommend` and `merge` read the measurement back from the manifest.
    let o = headroom_ok(&["recommend", s(&out)]);
    assert!(stderr(&o).contains(warning), "{}", stderr(&o));
    let merged = dir.join("merged");
    let o = headroom_ok(&["merge", s(&out), "--out", s(&merged)]);
    assert!(stderr(&o).contains(warning), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8(read(&merged, "summary.md")).unwrap(),
        summary
    );
    // `compare` of the two points warns of the short side only.
    let a = write(&dir, "a.toml", &base);
    let b = write(
        &dir,
        "b.toml",
        &base.replace("replicas = 1", "replicas = 2"),
    );
    let o = headroom_ok(&["compare", s(&a), s(&b), "--quiet"]);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "warning: {}: latency quantile intervals may be too narrow",
            s(&a)
        )) && !err.contains(s(&b)),
        "{err}"
    );
}

#[test]
fn points_with_a_saturated_unbounded_queue_are_named_as_having_no_steady_state() {
    let dir = tempdir("sweep_saturated");
    // One replica offered 1.2 with an unbounded queue, or two at 0.6.
    let base = mm1_short(12.0).replace("replications = 10", "replications = 3");
    let sweep_table = "\n[sweep]\n[sweep.params]\n\"services.server.replicas\" = [1, 2]\n";
    let scenario = write(&dir, "s.toml", &format!("{base}{sweep_table}"));
    let out = dir.join("out");
    let o = headroom_ok(&["sweep", s(&scenario), "--out", s(&out)]);
    assert!(
        stderr(&o).contains(
            "warning: at 1 of 2 points a queue is saturated and has no bound, so their latency has no steady state"
        ) && !stderr(&o).contains("relaxation times"),
        "{}",
        stderr(&o)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&read(&out, "manifest.json")).unwrap();
    let b = &manifest["point_runs"][0]["bottleneck"];
    assert!(b["time_s"].is_null() && b["utilization"] == 1.0, "{b}");
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(
        summary.contains(
            "**No steady state.** At 1 of 2 points a queue is saturated and has no bound (points 0)"
        ) && !summary.contains("**Short replications.**"),
        "{summary}"
    );
    // Read back from the manifest (its null time is infinite again).
    let o = headroom_ok(&["recommend", s(&out)]);
    assert!(
        stderr(&o).contains("a queue is saturated"),
        "{}",
        stderr(&o)
    );
}

/// Without `--service-timeseries` a sweep keeps no per-service time series
/// (it would hold every run's until the end): no file, no columns, no
/// chart, and the identity (so the sweep id) of a sweep before the flag
/// existed; with it the sweep is another one, whose shards do not merge
/// with these. An adaptive search keeps them with the flag too.
#[test]
fn default_sweeps_keep_no_service_time_series() {
    let dir = tempdir("sweep_no_service_series");
    let scenario = write(&dir, "s.toml", SWEEP);
    let out = dir.join("out");
    headroom_ok(&[
        "sweep",
        s(&scenario),
        "--out",
        s(&out),
        "--plots",
        "--quiet",
    ]);
    assert!(!out.join("services_timeseries.csv").exists());
    assert!(!out.join("service_utilization.png").exists());
    assert!(out.join("latency_over_time.png").exists());
    let manifest: serde_json::Value = serde_json::from_slice(&read(&out, "manifest.json")).unwrap();
    assert!(manifest["identity"].get("service_timeseries").is_none());
    assert!(
        manifest["service_series_columns"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let with = dir.join("with");
    let o = sweep(&scenario, &with, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let other: serde_json::Value = serde_json::from_slice(&read(&with, "manifest.json")).unwrap();
    assert_eq!(other["identity"]["service_timeseries"], true);
    assert_ne!(manifest["sweep_id"], other["sweep_id"]);
    // Everything else is the same sweep's.
    for name in ["runs.csv", "timeseries.csv", "services.csv", "points.csv"] {
        assert_eq!(read(&out, name), read(&with, name), "{name}");
    }
    // An adaptive search keeps them too with the flag: the same search,
    // plus one row per (point tried, replication, interval, service).
    let searched = write(
        &dir,
        "search.toml",
        &SWEEP.replace("[sweep]", "[sweep]\nmode = \"search\""),
    );
    let (plain, series) = (dir.join("search"), dir.join("search_series"));
    for (out, extra) in [(&plain, None), (&series, Some("--service-timeseries"))] {
        let mut args = vec!["sweep", s(&searched), "--out", s(out), "--quiet"];
        args.extend(extra);
        headroom_ok(&args);
    }
    assert!(!plain.join("services_timeseries.csv").exists());
    for name in ["runs.csv", "timeseries.csv", "services.csv"] {
        assert_eq!(read(&plain, name), read(&series, name), "{name}");
    }
    let runs = String::from_utf8(read(&series, "runs.csv")).unwrap();
    let timeseries = String::from_utf8(read(&series, "timeseries.csv")).unwrap();
    let per_service = String::from_utf8(read(&series, "services_timeseries.csv")).unwrap();
    let keys = |text: &str| -> Vec<String> {
        text.lines()
            .skip(1)
            .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
            .collect()
    };
    // One service: its rows are the system's intervals, run by run.
    assert_eq!(keys(&per_service), keys(&timeseries));
    assert!(runs.lines().count() > 2, "{runs}");
}

/// Clients in three regions; us-east goes dark for a minute; swept over
/// the health check's interval (2 points).
const REGION_SWEEP: &str = r#"
[run]
duration = "3m"
warmup = "20s"
replications = 2
seed = 5
timeseries_interval = "10s"

[workload]
arrivals = { process = "poisson", rate = 300.0 }
origin = { us-east = 0.5, us-west = 0.3, eu-west = 0.2 }

[[regions]]
name = "us-east"
[[regions]]
name = "us-west"
[[regions]]
name = "eu-west"

[network.rtt.us-east]
us-west = "65ms"
eu-west = "75ms"
[network.rtt.us-west]
eu-west = "130ms"

[[services]]
name = "api"
instance = { workers = 8, queue = 100 }
work = { distribution = "exponential", mean = "5ms" }
replicas = 2

[policy.failover]
order = ["us-east", "us-west", "eu-west"]
health_check = { interval = "10s", timeout = "2s", unhealthy_threshold = 3, healthy_threshold = 2 }

[[faults]]
type = "region-outage"
region = "us-east"
at = "1m"
duration = "1m"

[slo]
availability = 0.999

[sweep]
[sweep.params]
"policy.failover.health_check.interval" = ["5s", "10s"]
"#;

/// `headroom run` of `REGION_SWEEP`'s point 1 (a 10-s health check) into
/// `dir/name`, with `extra` flags.
fn run_at_ten_seconds(dir: &Path, scenario: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut args = vec![
        "run",
        s(scenario),
        "--out",
        s(&out),
        "--set",
        "policy.failover.health_check.interval=\"10s\"",
        "--quiet",
    ];
    args.extend(extra);
    headroom_ok(&args);
    out
}

/// A sweep of a scenario with several regions writes `regions.csv`: each
/// run's client regions together, in `[[regions]]` order; a point's rows
/// are `headroom run`'s at that point; the dark region's clients hold the
/// failures, and a faster health check fails fewer; shards of the sweep
/// merge to the same file, and a folder that lost a run's rows is refused.
#[test]
fn a_sweep_with_regions_writes_each_points_clients_by_region_as_run_does() {
    let dir = tempdir("sweep_regions");
    let scenario = write(&dir, "s.toml", REGION_SWEEP);
    let (whole, swept) = swept_at_any_thread_count(&dir, &scenario, "regions.csv");
    let header = swept.lines().next().unwrap();
    assert_eq!(
        header,
        "point,replication,region,requests,ok,degraded,errors,rejected,timeouts,shed,\
         availability,failovers,latency_mean_ms,latency_p50_ms,latency_p95_ms,\
         latency_p99_ms,latency_p999_ms"
    );
    let rows: Vec<Vec<&str>> = swept
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let keys: Vec<String> = rows.iter().map(|f| f[..3].join(",")).collect();
    let expect: Vec<String> = (0..2)
        .flat_map(|p| {
            (0..2).flat_map(move |r| {
                ["us-east", "us-west", "eu-west"]
                    .into_iter()
                    .map(move |g| format!("{p},{r},{g}"))
            })
        })
        .collect();
    assert_eq!(keys, expect, "{swept}");
    // Each run's regions add up to its runs.csv row.
    let runs = String::from_utf8(read(&whole, "runs.csv")).unwrap();
    let runs_header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    let col = |name: &str| runs_header.iter().position(|c| *c == name).unwrap();
    for line in runs.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let key = format!("{},{},", f[0], f[1]);
        let of_run: Vec<&Vec<&str>> = rows
            .iter()
            .filter(|r| format!("{},{},", r[0], r[1]) == key)
            .collect();
        for (name, k) in [("requests", 3), ("ok", 4), ("errors", 6), ("failovers", 11)] {
            let sum: u64 = of_run.iter().map(|r| r[k].parse::<u64>().unwrap()).sum();
            assert_eq!(sum.to_string(), f[col(name)], "{name} of run {key}");
        }
    }
    // The dark region's clients fail; the others' are all answered.
    let errors = |p: &str, region: &str| -> u64 {
        rows.iter()
            .filter(|r| r[0] == p && r[2] == region)
            .map(|r| r[6].parse::<u64>().unwrap())
            .sum()
    };
    for p in ["0", "1"] {
        assert!(errors(p, "us-east") > 0, "{swept}");
        assert_eq!(errors(p, "us-west") + errors(p, "eu-west"), 0, "{swept}");
    }
    assert!(errors("0", "us-east") < errors("1", "us-east"), "{swept}");
    // A point's rows are the run's at that point, the header too.
    let run_out = run_at_ten_seconds(&dir, &scenario, "run10", &[]);
    let rerun = String::from_utf8(read(&run_out, "regions.csv")).unwrap();
    // Its series by region: every region of every interval of every
    // replication, in order, and the same at any thread count.
    let series = String::from_utf8(read(&run_out, "regions_timeseries.csv")).unwrap();
    let timeseries = String::from_utf8(read(&run_out, "timeseries.csv")).unwrap();
    let names: Vec<&str> = series
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap())
        .collect();
    assert_eq!(names.len(), 3 * (timeseries.lines().count() - 1));
    assert!(
        names
            .chunks(3)
            .all(|c| c == ["us-east", "us-west", "eu-west"]),
        "{series}"
    );
    let threads = run_at_ten_seconds(&dir, &scenario, "run10-threads", &["--threads", "1"]);
    // The terminal's table ends with each region's clients.
    let o = headroom_ok(&["run", s(&scenario), "--out", s(&dir.join("loud"))]);
    let table = stdout(&o);
    let tail: Vec<&str> = table.lines().rev().skip(1).take(4).collect();
    assert!(tail[3].starts_with("client region"), "{table}");
    for (line, region) in tail[..3]
        .iter()
        .rev()
        .zip(["us-east", "us-west", "eu-west"])
    {
        assert!(line.starts_with(region) && line.contains(" ± "), "{table}");
    }
    for file in ["regions.csv", "regions_timeseries.csv"] {
        assert_eq!(read(&run_out, file), read(&threads, file), "{file}");
    }
    assert_eq!(swept.lines().next(), rerun.lines().next());
    assert_eq!(
        rows_of(&swept, "1"),
        rows_of(&rerun, "0"),
        "{swept}\n{rerun}"
    );
    let summary = String::from_utf8(read(&run_out, "summary.md")).unwrap();
    assert!(summary.contains("## Client regions"), "{summary}");
    // Recovery by client region: the dark region's clients lost requests,
    // the others none, and every region's clients recovered.
    let recovery = summary
        .split("### By client region")
        .nth(1)
        .unwrap_or_else(|| panic!("{summary}"));
    let rows: Vec<Vec<&str>> = recovery
        .lines()
        .filter(|l| l.starts_with("| fault 0"))
        .map(|l| l.split(" | ").collect())
        .collect();
    assert_eq!(rows.len(), 3, "{recovery}");
    for (row, region) in rows.iter().zip(["us-east", "us-west", "eu-west"]) {
        assert_eq!((row[1], row[2]), (region, "2/2"), "{recovery}");
        let peak: f64 = row[5].parse().unwrap();
        assert_eq!(peak > 0.0, region == "us-east", "{recovery}");
    }
    assert!(summary.contains("| eu-west | "), "{summary}");
    // The dark region's clients alone miss the SLO's availability.
    let misses = summary
        .lines()
        .find(|l| l.starts_with("Clients that miss the SLO"))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(misses.contains("**us-east** (availability 0."), "{misses}");
    assert!(
        !misses.contains("us-west") && !misses.contains("eu-west"),
        "{misses}"
    );
    // `headroom plot` draws the regions' p99s, of the run and of the
    // sweep's point it shows.
    let charts = dir.join("charts");
    headroom_ok(&["plot", s(&run_out), "--out", s(&charts), "--quiet"]);
    let svg = String::from_utf8(read(&charts, "region_latency.svg")).unwrap();
    assert!(
        svg.contains("p99 by client region, all replications"),
        "{svg}"
    );
    let charts = dir.join("sweep-charts");
    headroom_ok(&["plot", s(&whole), "--out", s(&charts), "--quiet"]);
    let svg = String::from_utf8(read(&charts, "region_latency.svg")).unwrap();
    assert!(svg.contains("p99 by client region, point 0"), "{svg}");
    // Shards of the sweep merge to the same file.
    merges_to(
        &dir,
        &scenario,
        &whole,
        &[],
        &["regions.csv", "runs.csv", "manifest.json"],
    );
    // A folder whose regions.csv lost a run's rows is refused, not ranked.
    refused_without(
        &dir,
        &whole,
        "regions.csv",
        "1,1,",
        "regions.csv: no region of point 1, replication 1, which finished",
    );
}

/// A sweep of a scenario with several regions writes `deployments.csv`:
/// each run's service in each region it runs in, in order, adding up to
/// the run's `services.csv` row; a point's rows are `headroom run`'s at that
/// point (at any thread count); both summaries show them; shards of the
/// sweep merge to the same file, and a folder that lost a run's rows is
/// refused.
#[test]
fn a_sweep_with_regions_writes_each_points_deployments_as_run_does() {
    let dir = tempdir("sweep_deployments");
    let scenario = write(&dir, "s.toml", REGION_SWEEP);
    let (whole, swept) = swept_at_any_thread_count(&dir, &scenario, "deployments.csv");
    assert_eq!(
        swept.lines().next().unwrap(),
        "point,replication,service,region,requests,errors,latency_mean_ms,latency_p50_ms,\
         latency_p95_ms,latency_p99_ms,utilization,cpu_util,replicas_mean,replicas_max,shed,\
         concurrency_blocked,concurrency_limit_mean,wasted_work_s,instance_cost_per_month_usd"
    );
    let rows: Vec<Vec<&str>> = swept
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let keys: Vec<String> = rows.iter().map(|f| f[..4].join(",")).collect();
    let expect: Vec<String> = (0..2)
        .flat_map(|p| {
            (0..2).flat_map(move |r| {
                ["us-east", "us-west", "eu-west"]
                    .into_iter()
                    .map(move |g| format!("{p},{r},api,{g}"))
            })
        })
        .collect();
    assert_eq!(keys, expect, "{swept}");
    // Each run's deployments add up to its services.csv row.
    let services = String::from_utf8(read(&whole, "services.csv")).unwrap();
    for line in services.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let of_run = rows.iter().filter(|r| r[0] == f[0] && r[1] == f[1]);
        for (name, mine, whole) in [("requests", 4, 3), ("errors", 5, 4)] {
            let sum: u64 = of_run
                .clone()
                .map(|r| r[mine].parse::<u64>().unwrap())
                .sum();
            assert_eq!(sum.to_string(), f[whole], "{name} of run {},{}", f[0], f[1]);
        }
    }
    // A point's rows are the run's at that point, at any thread count.
    let run_out = run_at_ten_seconds(&dir, &scenario, "run10", &[]);
    let threads = run_at_ten_seconds(&dir, &scenario, "run10-threads", &["--threads", "1"]);
    let rerun = String::from_utf8(read(&run_out, "deployments.csv")).unwrap();
    for file in ["deployments.csv", "deployments_timeseries.csv"] {
        assert_eq!(read(&run_out, file), read(&threads, file), "{file}");
    }
    // The run's series by deployment: every deployment of every interval
    // of every replication, in order.
    let series = String::from_utf8(read(&run_out, "deployments_timeseries.csv")).unwrap();
    let timeseries = String::from_utf8(read(&run_out, "timeseries.csv")).unwrap();
    let names: Vec<String> = series
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(3).take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(names.len(), 3 * (timeseries.lines().count() - 1));
    assert!(
        names
            .chunks(3)
            .all(|c| c == ["api us-east", "api us-west", "api eu-west"]),
        "{series}"
    );
    assert_eq!(swept.lines().next(), rerun.lines().next());
    assert_eq!(
        rows_of(&swept, "1"),
        rows_of(&rerun, "0"),
        "{swept}\n{rerun}"
    );
    // The run's summary has a row per region under Services; the sweep's
    // shows the recommended point's.
    let summary = String::from_utf8(read(&run_out, "summary.md")).unwrap();
    let by_region = summary
        .split("### By region")
        .nth(1)
        .unwrap_or_else(|| panic!("{summary}"));
    for region in ["us-east", "us-west", "eu-west"] {
        assert!(
            by_region.contains(&format!("| api | {region} | ")),
            "{by_region}"
        );
    }
    assert!(
        by_region.contains("Most workers held in one region: **api** in **"),
        "{by_region}"
    );
    let lenient = dir.join("lenient");
    let o = sweep(&scenario, &lenient, &["--slo-availability", "0.5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = String::from_utf8(read(&lenient, "summary.md")).unwrap();
    let instances = summary
        .split("Its instances by region")
        .nth(1)
        .unwrap_or_else(|| panic!("{summary}"));
    for region in ["us-east", "us-west", "eu-west"] {
        assert!(
            instances.contains(&format!("| api | {region} | ")),
            "{instances}"
        );
    }
    // Shards of the sweep merge to the same file.
    merges_to(
        &dir,
        &scenario,
        &whole,
        &[],
        &["deployments.csv", "runs.csv", "manifest.json"],
    );
    // A folder whose deployments.csv lost a run's rows is refused.
    refused_without(
        &dir,
        &whole,
        "deployments.csv",
        "1,1,",
        "deployments.csv: no deployment of point 1, replication 1, which finished",
    );
}

/// `--region-timeseries`: every point's `regions_timeseries`, a point's
/// rows those of `headroom run` at that point; shards of the sweep merge to
/// the same file, `headroom plot` draws the shown point's regions over
/// time, a folder that lost a run's rows is refused, and a scenario with
/// one region refuses the flag.
#[test]
fn a_sweep_keeps_region_time_series_on_request() {
    keeps_series_on_request(
        "sweep_region_series",
        (
            "--region-timeseries",
            "regions_timeseries",
            "region_timeseries",
        ),
        &["region_availability", "region_p99"],
        "per client region, point 0",
        "no region interval",
    );
}

/// `--deployment-timeseries`: as `--region-timeseries`, of every point's
/// `deployments_timeseries` (the charts `deployment_replicas` and
/// `deployment_utilization`).
#[test]
fn a_sweep_keeps_deployment_time_series_on_request() {
    keeps_series_on_request(
        "sweep_deployment_series",
        (
            "--deployment-timeseries",
            "deployments_timeseries",
            "deployment_timeseries",
        ),
        &["deployment_replicas", "deployment_utilization"],
        "per service and region, point 0",
        "no deployment interval",
    );
}

/// A sweep of `REGION_SWEEP` with `flag` writes `stem`.csv for every point,
/// three rows (regions, or api's deployments) per interval, a point's rows
/// those of `headroom run` at that point, and its manifest's identity says
/// so (`key`); `headroom plot` draws `charts` (titles containing `title`);
/// shards of the sweep merge to the same file, a folder that lost a run's
/// rows is refused (`what` of the run missing), and a scenario with one
/// region refuses the flag.
fn keeps_series_on_request(
    name: &str,
    (flag, stem, key): (&str, &str, &str),
    charts: &[&str],
    title: &str,
    what: &str,
) {
    let dir = tempdir(name);
    let scenario = write(&dir, "s.toml", REGION_SWEEP);
    let flags = [flag];
    let whole = dir.join("whole");
    let o = sweep(&scenario, &whole, &flags);
    assert!(o.status.success(), "{}", stderr(&o));
    let file = format!("{stem}.csv");
    let swept = String::from_utf8(read(&whole, &file)).unwrap();
    let run_out = run_at_ten_seconds(&dir, &scenario, "run10", &[]);
    let rerun = String::from_utf8(read(&run_out, &file)).unwrap();
    assert_eq!(swept.lines().next(), rerun.lines().next());
    // 2 replications x 18 ten-second intervals x 3 regions.
    for point in ["0", "1"] {
        assert_eq!(rows_of(&swept, point).len(), 2 * 18 * 3, "{swept}");
    }
    assert_eq!(rows_of(&swept, "1"), rows_of(&rerun, "0"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&whole, "manifest.json")).unwrap();
    assert_eq!(manifest["identity"][key], true);
    let out = dir.join("charts");
    headroom_ok(&["plot", s(&whole), "--out", s(&out), "--quiet"]);
    for chart in charts {
        let svg = String::from_utf8(read(&out, &format!("{chart}.svg"))).unwrap();
        assert!(svg.contains(title), "{chart}: {svg}");
    }
    merges_to(&dir, &scenario, &whole, &flags, &[&file, "manifest.json"]);
    refused_without(
        &dir,
        &whole,
        &file,
        "1,1,",
        &format!("{file}: {what} of point 1, replication 1, which finished"),
    );
    let one_region = write(&dir, "plain.toml", SWEEP);
    let out = dir.join("refused");
    refused(
        &["sweep", s(&one_region), "--out", s(&out), flag],
        &out,
        &[flag, "plain.toml has fewer than two [[regions]]"],
    );
}

/// With one region (or none declared), `headroom run` writes the headers of
/// `regions.csv`, `deployments.csv` and their time series alone and its summary has no regions
/// section; a sweep writes neither.
#[test]
fn one_region_writes_no_region_rows() {
    let dir = tempdir("sweep_one_region");
    let scenario = write(&dir, "s.toml", SWEEP);
    let out = dir.join("run");
    headroom_ok(&["run", s(&scenario), "--out", s(&out), "--quiet"]);
    let text = String::from_utf8(read(&out, "regions.csv")).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("point,replication,region,requests,"));
    let text = String::from_utf8(read(&out, "regions_timeseries.csv")).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("point,replication,t_s,region,requests_rps,"));
    let text = String::from_utf8(read(&out, "deployments.csv")).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("point,replication,service,region,requests,"));
    let text = String::from_utf8(read(&out, "deployments_timeseries.csv")).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("point,replication,t_s,service,region,tries_rps,"));
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(!summary.contains("Client regions"));
    assert!(!summary.contains("### By region"));
    let o = headroom_ok(&["run", s(&scenario), "--out", s(&dir.join("loud"))]);
    assert!(!stdout(&o).contains("client region"), "{}", stdout(&o));
    let swept = dir.join("swept");
    let o = sweep(&scenario, &swept, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!swept.join("regions.csv").exists());
    assert!(!swept.join("deployments.csv").exists());
    let manifest = String::from_utf8(read(&swept, "manifest.json")).unwrap();
    assert!(!manifest.contains("regions_columns"), "{manifest}");
    assert!(!manifest.contains("deployments_columns"), "{manifest}");
}

/// Clients in two regions; the service runs in one, and 0.5 % of the
/// clients are an ocean away: the pooled p99 meets the SLO, theirs does
/// not.
const FAR_CLIENTS_SWEEP: &str = r#"
[run]
duration = "40s"
warmup = "5s"
replications = 3
seed = 9

[workload]
arrivals = { process = "poisson", rate = 1000.0 }
origin = { east = 0.995, west = 0.005 }

[[regions]]
name = "east"
[[regions]]
name = "west"

[network.rtt.east]
west = "60ms"

[[services]]
name = "api"
regions = ["east"]
instance = { workers = 8, queue = 100 }
work = { distribution = "exponential", mean = "5ms" }
replicas = 1

[slo]
p99 = "50ms"

[sweep]
[sweep.params]
"services.api.replicas" = [1, 2]
"#;

/// A sweep's recommendation lists its clients by region and names those
/// who miss the SLO that every client pooled meets; without such a region
/// it lists them and names none.
#[test]
fn a_recommendation_names_the_client_regions_that_miss_its_slo() {
    let dir = tempdir("sweep_far_clients");
    let scenario = write(&dir, "s.toml", FAR_CLIENTS_SWEEP);
    let out = dir.join("out");
    let o = sweep(&scenario, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    let rec = summary
        .split("## Recommendation")
        .nth(1)
        .and_then(|r| r.split("## Runners-up").next())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(rec.contains("**Point 0**"), "{rec}");
    assert!(
        rec.contains("| client region | availability | p99 (ms) |"),
        "{rec}"
    );
    assert!(rec.contains("| east | 1 ± 0 | "), "{rec}");
    let misses = rec
        .lines()
        .find(|l| l.starts_with("The SLO holds for every client pooled"))
        .unwrap_or_else(|| panic!("{rec}"));
    assert!(misses.contains("**west** (p99 "), "{misses}");
    assert!(misses.ends_with("ms > 50 ms)."), "{misses}");
    assert!(!misses.contains("east"), "{misses}");
    // With an objective every region meets, the regions are listed and
    // none is named.
    let out = dir.join("loose");
    let o = sweep(&scenario, &out, &["--slo-p99", "500ms"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(summary.contains("| west | 1 ± 0 | "), "{summary}");
    assert!(!summary.contains("these clients miss it"), "{summary}");
}

/// `slo.per_region`: the objectives hold for every client region, judged
/// on the worst region's values. Serving the far clients from their own
/// region is then what meets the p99 the pooled clients meet either way;
/// `runs.csv` carries the worst region's values and judges `slo_met` on
/// them.
#[test]
fn a_per_region_slo_is_met_by_serving_every_regions_clients() {
    let dir = tempdir("sweep_per_region_slo");
    let text = FAR_CLIENTS_SWEEP
        .replace("p99 = \"50ms\"", "p99 = \"50ms\"\nper_region = true")
        .replace(
            "\"services.api.replicas\" = [1, 2]",
            "\"services.api.regions\" = [[\"east\"], [\"east\", \"west\"]]",
        );
    let scenario = write(&dir, "s.toml", &text);
    let out = dir.join("out");
    let o = sweep(&scenario, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(
        summary.contains("**Point 1**: `services.api.regions = [\"east\", \"west\"]`"),
        "{summary}"
    );
    assert!(summary.contains("- worst_region_p99_ms "), "{summary}");
    // Every table shows the worst region's p99 and availability, the
    // values the objectives are judged on, and the frontier is on them.
    let p99_of_point_0 = |summary: &str, latency: &str| -> f64 {
        let table = summary
            .split("## Points")
            .nth(1)
            .unwrap_or_else(|| panic!("{summary}"));
        let header = table.lines().find(|l| l.starts_with("| point |")).unwrap();
        let column = header.split(" | ").position(|c| c == latency);
        let column = column.unwrap_or_else(|| panic!("{header}"));
        let row = table.lines().find(|l| l.starts_with("| 0 |")).unwrap();
        let cell = row.split(" | ").nth(column).unwrap();
        cell.split(" ± ").next().unwrap().parse().unwrap()
    };
    assert!(
        p99_of_point_0(&summary, "worst_region_p99_ms") > 50.0,
        "{summary}"
    );
    assert!(
        summary
            .contains("| worst_region_p99_ms | worst_region_availability | cost_per_month_usd |"),
        "{summary}"
    );
    assert!(
        summary.contains("## Pareto frontier (cost_per_month_usd vs worst_region_p99_ms)"),
        "{summary}"
    );
    let listed = stdout(&headroom_ok(&["recommend", s(&out)]));
    assert!(
        listed.contains("worst_region_p99_ms  worst_region_availability  SLO"),
        "{listed}"
    );
    // Point 0 meets the p99 pooled, and misses it for its far clients.
    let runs = String::from_utf8(read(&out, "runs.csv")).unwrap();
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (pooled, worst, met) = (
        col("latency_p99_ms"),
        col("worst_region_p99_ms"),
        col("slo_met"),
    );
    assert_eq!(
        header[header.len() - 5..],
        [
            "worst_region_p50_ms",
            "worst_region_p99_ms",
            "worst_region_p999_ms",
            "worst_region_availability",
            "slo_met"
        ]
    );
    // The parameter's cell is quoted (`"[""east""]"`): split on the text
    // after it.
    for line in runs.lines().skip(1) {
        let (head, rest) = line.split_once("]\",").unwrap();
        let point = head.split(',').next().unwrap();
        let f: Vec<&str> = rest.split(',').collect();
        let at = |c: usize| f[c - 4].parse::<f64>().unwrap();
        assert!(at(pooled) < 50.0, "{line}");
        let expect_met = if point == "0" { "0" } else { "1" };
        assert_eq!(f[met - 4], expect_met, "{line}");
        if point == "0" {
            assert!(at(worst) > 50.0, "{line}");
        }
    }
    // Without per_region, the pooled p99 lets the cheaper point 0 through.
    let loose = dir.join("pooled");
    let scenario = write(
        &dir,
        "pooled.toml",
        &text.replace("per_region = true\n", ""),
    );
    let o = sweep(&scenario, &loose, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = String::from_utf8(read(&loose, "summary.md")).unwrap();
    assert!(
        summary.contains("**Point 0**: `services.api.regions = [\"east\"]`"),
        "{summary}"
    );
    assert!(
        p99_of_point_0(&summary, "latency_p99_ms") < 50.0,
        "{summary}"
    );
    let runs = String::from_utf8(read(&loose, "runs.csv")).unwrap();
    assert!(!runs.contains("worst_region"), "{runs}");
}

/// A sweep writes `edges.csv`: each run's call edges, the edge's call to
/// api first, in the columns `headroom run` writes; a point's rows are the
/// run's at that point (at any thread count); the edges' retries are the
/// run's; shards of the sweep merge to the same file, and a folder that
/// lost a run's rows is refused.
#[test]
fn a_sweep_writes_each_points_call_edges_as_run_does() {
    let dir = tempdir("sweep_edges");
    // api's flaky database, swept over its instances.
    let text = format!(
        "{}\n[sweep]\n[sweep.params]\n\"services.db.replicas\" = [1, 2]\n",
        common::flaky_db(3)
    );
    let scenario = write(&dir, "s.toml", &text);
    let (whole, swept) = swept_at_any_thread_count(&dir, &scenario, "edges.csv");
    assert_eq!(
        swept.lines().next().unwrap(),
        headroom_models::report::EDGE_COLUMNS.join(",")
    );
    let rows: Vec<Vec<&str>> = swept
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let keys: Vec<String> = rows.iter().map(|f| f[..4].join(",")).collect();
    let expect: Vec<String> = (0..2)
        .flat_map(|p| {
            (0..2).flat_map(move |r| [format!("{p},{r},edge,api"), format!("{p},{r},api,db")])
        })
        .collect();
    assert_eq!(keys, expect, "{swept}");
    // The edges' retries are each run's (api -> db sends them all).
    let runs = String::from_utf8(read(&whole, "runs.csv")).unwrap();
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    let at = header.iter().position(|c| *c == "retries").unwrap();
    for line in runs.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let of_run: Vec<&Vec<&str>> = rows
            .iter()
            .filter(|r| r[0] == f[0] && r[1] == f[1])
            .collect();
        let retries: Vec<&str> = of_run.iter().map(|r| r[12]).collect();
        assert_eq!(retries[0], "0", "the edge's call to api is not retried");
        assert_eq!(retries[1], f[at], "run {},{}", f[0], f[1]);
        assert_ne!(f[at], "0");
    }
    // The summary lists the recommended point's call edges.
    let summary = String::from_utf8(read(&whole, "summary.md")).unwrap();
    let edges = summary
        .split("Its call edges")
        .nth(1)
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(edges.contains("\n| edge | api | 0 ± 0 | "), "{edges}");
    assert!(edges.contains("\n| api | db | 0.2"), "{edges}");
    // The charts bar the recommended point's edges.
    let charts = dir.join("charts");
    headroom_ok(&["plot", s(&whole), "--out", s(&charts), "--quiet"]);
    for chart in ["edge_retries.svg", "edge_latency.svg"] {
        let svg = String::from_utf8(read(&charts, chart)).unwrap();
        assert!(
            svg.contains("api -&gt; db") || svg.contains("api -> db"),
            "{chart}"
        );
    }
    // A point's rows are the run's at that point.
    let run_out = run_with_two_dbs(&dir, &scenario);
    let rerun = String::from_utf8(read(&run_out, "edges.csv")).unwrap();
    assert_eq!(swept.lines().next(), rerun.lines().next());
    assert_eq!(
        rows_of(&swept, "1"),
        rows_of(&rerun, "0"),
        "{swept}\n{rerun}"
    );
    merges_to(
        &dir,
        &scenario,
        &whole,
        &[],
        &["edges.csv", "runs.csv", "manifest.json"],
    );
    refused_without(
        &dir,
        &whole,
        "edges.csv",
        "1,1,",
        "edges.csv: no edge of point 1, replication 1, which finished",
    );
}

/// Runs `scenario` (a flaky database swept over its instances) with two
/// database instances, as its point 1: the output folder.
fn run_with_two_dbs(dir: &Path, scenario: &Path) -> PathBuf {
    let out = dir.join("run-db2");
    headroom_ok(&[
        "run",
        s(scenario),
        "--out",
        s(&out),
        "--set",
        "services.db.replicas=2",
        "--quiet",
    ]);
    out
}

/// `--edge-timeseries`: every point's `edges_timeseries`, in the columns
/// `headroom run` writes, a point's rows the run's at that point (at any
/// thread count); `headroom plot` draws the shown point's edges' retries
/// over time; shards of the sweep merge to the same file, a folder that
/// lost a run's rows is refused, and a sweep without the flag writes none.
#[test]
fn a_sweep_keeps_edge_time_series_on_request() {
    let dir = tempdir("sweep_edge_series");
    let text = format!(
        "{}\n[sweep]\n[sweep.params]\n\"services.db.replicas\" = [1, 2]\n",
        common::flaky_db(3).replace(
            "warmup = \"10s\"",
            "warmup = \"10s\"\ntimeseries_interval = \"10s\""
        )
    );
    let scenario = write(&dir, "s.toml", &text);
    let flags = ["--edge-timeseries"];
    let whole = dir.join("whole");
    let one = dir.join("one");
    for (out, threads) in [(&whole, "2"), (&one, "1")] {
        let mut args = flags.to_vec();
        args.extend(["--threads", threads]);
        let o = sweep(&scenario, out, &args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let file = "edges_timeseries.csv";
    assert!(
        read(&whole, file) == read(&one, file),
        "{file}: 1 thread vs 2"
    );
    let swept = String::from_utf8(read(&whole, file)).unwrap();
    assert_eq!(
        swept.lines().next().unwrap(),
        headroom_models::report::EDGE_TIMESERIES_COLUMNS.join(",")
    );
    // 2 replications x 6 ten-second intervals x 2 edges.
    for point in ["0", "1"] {
        assert_eq!(rows_of(&swept, point).len(), 2 * 6 * 2, "{swept}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&whole, "manifest.json")).unwrap();
    assert_eq!(manifest["identity"]["edge_timeseries"], true);
    let run_out = run_with_two_dbs(&dir, &scenario);
    let rerun = String::from_utf8(read(&run_out, file)).unwrap();
    assert_eq!(rows_of(&swept, "1"), rows_of(&rerun, "0"));
    let charts = dir.join("charts");
    headroom_ok(&["plot", s(&whole), "--out", s(&charts), "--quiet"]);
    let svg = String::from_utf8(read(&charts, "edge_retries_over_time.svg")).unwrap();
    assert!(
        svg.contains("api -&gt; db") || svg.contains("api -> db"),
        "{svg}"
    );
    merges_to(&dir, &scenario, &whole, &flags, &[file, "manifest.json"]);
    refused_without(
        &dir,
        &whole,
        file,
        "1,1,",
        &format!("{file}: no edge interval of point 1, replication 1, which finished"),
    );
    let plain = dir.join("plain");
    let o = sweep(&scenario, &plain, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!plain.join(file).exists());
}

/// `compare` pairs each call edge's retries, tries timed out, p99 and
/// breaker time: a third try on api's edge to a flaky database sends more
/// retries there (about p + p^2 against p per call) and none on the edge's
/// call to api; an edge on one side only is named in a note.
#[test]
fn compare_pairs_each_call_edges_figures() {
    let dir = tempdir("compare-edges");
    let base = common::flaky_db(2);
    let a = write(&dir, "a.toml", &base);
    let b = write(&dir, "b.toml", &common::flaky_db(3));
    let out = dir.join("out");
    let compare = |b: &Path, out: &Path| {
        headroom_ok(&[
            "compare",
            s(&a),
            s(b),
            "--replications",
            "3",
            "--out",
            s(out),
            "--quiet",
        ])
    };
    compare(&b, &out);
    let csv = String::from_utf8(read(&out, "compare.csv")).unwrap();
    let names: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("edges."))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let expect: Vec<String> = ["edge->api", "api->db"]
        .iter()
        .flat_map(|e| {
            [
                "retries",
                "try_timeouts",
                "latency_p99_ms",
                "breaker_open_s",
            ]
            .map(|m| format!("edges.{e}.{m}"))
        })
        .collect();
    assert_eq!(names, expect, "{csv}");
    // [a, b, diff, diff_ci95, unpaired_ci95]
    let row = |m: &str| compare_row(&csv, m);
    assert_eq!(&row("edges.edge->api.retries")[..3], [0.0, 0.0, 0.0]);
    let retries = row("edges.api->db.retries");
    // 50 s at 200 calls/s: about 2000 retries with two tries, 2400 with three.
    assert!((retries[0] / 2000.0 - 1.0).abs() < 0.1, "{retries:?}");
    assert!((retries[1] / 2400.0 - 1.0).abs() < 0.1, "{retries:?}");
    assert!(retries[2] - retries[3] > 0.0, "{retries:?}");
    // api stops calling db on one side: its edge is named, not paired.
    let c = write(
        &dir,
        "c.toml",
        &base
            .replace("calls = [ { service = \"db\" } ]\n", "")
            .replace("[policy.mesh.edges.\"api->db\"]\n", "[policy.mesh]\n"),
    );
    let out = dir.join("out-c");
    let note = stderr(&compare(&c, &out));
    assert!(
        note.contains("note: call edges only in ")
            && note.contains("(api->db) or only in ")
            && note.contains("(none) have nothing to pair with"),
        "{note}"
    );
    let csv = String::from_utf8(read(&out, "compare.csv")).unwrap();
    assert!(
        csv.contains("\nedges.edge->api.retries,") && !csv.contains("\nedges.api->db."),
        "{csv}"
    );
}

/// A sweep of a priced scenario writes `bill.csv`: each run's lines
/// together, a point's the same as `headroom run`'s at that point (the
/// shards' line follows the swept shard count); shards of the sweep merge
/// to the same file, a folder that lost a run's lines is refused, and a
/// scenario without `[costs]` has no bill.
#[test]
fn a_sweep_of_a_priced_scenario_writes_each_points_bill_as_run_does() {
    let dir = tempdir("sweep_bill");
    let priced = DATA_SWEEP
        .replace(
            "instance = { workers = 16 }",
            "instance = { type = \"small\", workers = 16 }",
        )
        .replace(
            "[sweep]",
            "[costs]\ninstance_types = { small = { vcpu = 2, memory = \"4GiB\", hourly = 0.1 } }\n\
             [costs.data]\nshard_hourly = 0.5\n\n[sweep]",
        );
    let scenario = write(&dir, "s.toml", &priced);
    let (whole, swept) = swept_at_any_thread_count(&dir, &scenario, "bill.csv");
    assert_eq!(
        swept.lines().next(),
        Some("point,replication,part,kind,component,region,cost_usd,cost_per_month_usd")
    );
    // Per run: the api's instances, then the store's shards; 2 and 6
    // shards at 0.5 USD an hour for the 18 measured seconds.
    let lines: Vec<Vec<&str>> = swept
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(lines.len(), 2 * 2 * 2, "{swept}");
    for (i, line) in lines.iter().enumerate() {
        let (point, replication) = (i / 4, i / 2 % 2);
        assert_eq!(line[..2], [point.to_string(), replication.to_string()]);
        let (kind, component, month) = if i % 2 == 0 {
            ("instances", "api", 2.0 * 0.1 * 730.0)
        } else {
            ("shards", "users", [2.0, 6.0][point] * 0.5 * 730.0)
        };
        assert_eq!(line[3..5], [kind, component], "{swept}");
        let got: f64 = line[7].parse().unwrap();
        assert!((got - month).abs() < 1e-6, "{line:?}: {got} vs {month}");
    }
    // No SLO: the cheaper point, 2 shards, is recommended; the summary
    // lists its bill's lines, the largest first.
    let summary = String::from_utf8(read(&whole, "summary.md")).unwrap();
    assert!(
        summary.contains(
            "| data | shards | users | default | 730 ± 0 | 83.3 % |\n\
             | instances | instances | api | default | 146 ± 0 | 16.7 % |\n"
        ),
        "{summary}"
    );
    let run_out = run_at_six_shards(&dir, &scenario);
    let rerun = String::from_utf8(read(&run_out, "bill.csv")).unwrap();
    assert_eq!(
        rows_of(&swept, "1"),
        rows_of(&rerun, "0"),
        "{swept}\n{rerun}"
    );
    let names = ["bill.csv", "runs.csv", "manifest.json"];
    merges_to(&dir, &scenario, &whole, &[], &names);
    refused_without(
        &dir,
        &whole,
        "bill.csv",
        "1,0,",
        "bill.csv: no bill line of point 1, replication 0, which finished",
    );
    let unpriced = write(&dir, "unpriced.toml", DATA_SWEEP);
    let plain = dir.join("plain");
    let o = sweep(&unpriced, &plain, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!plain.join("bill.csv").exists());
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&plain, "manifest.json")).unwrap();
    assert!(manifest.get("bill_columns").is_none());
}

/// A float that a parser rounding to the nearest double only most of the
/// time reads off by an ulp: the manifest reads back to the sweep's own
/// identity, so the sweep finishes and `recommend` re-ranks it (before
/// serde_json's `float_roundtrip`, its `sweep_id` failed to verify: "the
/// file was changed after the sweep wrote it").
#[test]
fn a_float_parameter_reads_back_from_the_manifest_exactly() {
    let dir = tempdir("sweep_float_roundtrip");
    let text = SWEEP
        .replace(
            "work = { distribution = \"exponential\", mean = \"10ms\" }",
            "work = { distribution = \"lognormal\", mean = \"10ms\", cv = 1.0 }",
        )
        .replace(
            "\"services.api.replicas\" = [1, 2, 3]\nservices.api.instance.workers = { from = 2, to = 4, step = 2 }",
            "\"services.api.work.cv\" = [0.9900000000000001, 1.5]",
        );
    assert!(text.contains("0.9900000000000001"));
    let scenario = write(&dir, "s.toml", &text);
    let out = dir.join("out");
    let o = sweep(&scenario, &out, &["--replications", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let points = String::from_utf8(read(&out, "points.csv")).unwrap();
    assert!(points.contains("\n0,0.9900000000000001,"), "{points}");
    headroom_ok(&["recommend", s(&out), "--slo-p99", "1s"]);
}
