//! End-to-end tests of the `headroom` binary: outputs and their columns,
//! determinism across thread counts, overrides, and bad input.

mod common;

use common::{
    expect_refused, headroom, headroom_ok, mm1_short, read, s, stderr, stdout, tempdir, write,
};

const SMALL: &str = r#"
[run]
duration = "2m"
warmup = "10s"
replications = 4
seed = 7
timeseries_interval = "30s"

[workload]
arrivals = { process = "poisson", rate = 400.0 }

[[services]]
name = "api"
instance = { workers = 4, queue = 20 }
work = { distribution = "lognormal", mean = "8ms", cv = 1.5 }
replicas = 2
load_balancer = "least-connections"
"#;

#[test]
fn run_writes_every_output_with_the_contract_columns() {
    let dir = tempdir("run_outputs");
    let scenario = write(&dir, "small.toml", SMALL);
    let out = dir.join("out");
    headroom_ok(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    let header = runs.lines().next().unwrap();
    assert_eq!(
        header,
        "point,replication,seed,requests,ok,degraded,errors,rejected,timeouts,shed,availability,\
         throughput_rps,latency_mean_ms,latency_p50_ms,latency_p95_ms,latency_p99_ms,latency_p999_ms,\
         cpu_util_mean,replicas_mean,replicas_max,cache_hit_ratio,shard_max_load_ratio,breaker_open_s,\
         failovers,retries,hedges,wasted_work_s,cost_usd,cost_per_month_usd,\
         instance_cost_per_month_usd,data_cost_per_month_usd,egress_cost_per_month_usd,slo_met"
    );
    assert_eq!(runs.lines().count(), 1 + 4, "one row per replication");
    for (r, line) in runs.lines().skip(1).enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), header.split(',').count());
        assert_eq!(cells[0], "0");
        assert_eq!(cells[1], r.to_string());
        assert_eq!(cells[2], "7");
        let requests: u64 = cells[3].parse().unwrap();
        let ended: u64 = cells[4..10].iter().map(|c| c.parse::<u64>().unwrap()).sum();
        assert_eq!(requests, ended, "every measured arrival ends exactly once");
        // ~400/s over the 110 s measured window.
        assert!((35_000..53_000).contains(&requests), "{requests}");
    }
    let ts = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert_eq!(
        ts.lines().next().unwrap(),
        "point,replication,t_s,arrivals_rps,throughput_rps,latency_p99_ms,errors,rejected,replicas,\
         cpu_util,cache_hit_ratio,stale_read_ratio,breaker_open,healthy_regions,cost_usd_cum,retries,\
         wasted_work_s,trigger"
    );
    assert_eq!(
        ts.lines().count(),
        1 + 4 * 4,
        "4 intervals of 30 s per replication"
    );
    // No datastore: no read to judge stale.
    assert!(
        ts.lines()
            .skip(1)
            .all(|l| l.split(',').nth(11) == Some("NaN")),
        "{ts}"
    );
    let services = std::fs::read_to_string(out.join("services.csv")).unwrap();
    let header = services.lines().next().unwrap();
    assert_eq!(
        header,
        "point,replication,service,requests,errors,latency_mean_ms,latency_p50_ms,latency_p95_ms,\
         latency_p99_ms,utilization,cpu_util,replicas_mean,replicas_max,shed,concurrency_blocked,\
         concurrency_limit_mean,wasted_work_s"
    );
    assert_eq!(services.lines().count(), 1 + 4, "one row per replication");
    for (r, line) in runs.lines().skip(1).zip(services.lines().skip(1)) {
        let (run, api): (Vec<&str>, Vec<&str>) =
            (r.split(',').collect(), line.split(',').collect());
        assert_eq!(api.len(), header.split(',').count());
        assert_eq!(api[2], "api");
        // One service, no retries: its tries are the requests, and the
        // tries its full queues turned away are the requests shed; no
        // adaptive concurrency limit, so none blocked and no limit.
        assert_eq!((api[3], api[13]), (run[3], run[9]));
        assert_eq!((api[14], api[15]), ("0", "NaN"));
    }
    let per_service = std::fs::read_to_string(out.join("services_timeseries.csv")).unwrap();
    let header = per_service.lines().next().unwrap();
    assert_eq!(
        header,
        "point,replication,t_s,service,tries_rps,errors,shed,concurrency_blocked,\
         concurrency_limit_mean,latency_p50_ms,latency_p99_ms,utilization,cpu_util,replicas,\
         wasted_work_s,trigger"
    );
    assert_eq!(
        per_service.lines().count(),
        ts.lines().count(),
        "one row per interval and service"
    );
    for (system, line) in ts.lines().skip(1).zip(per_service.lines().skip(1)) {
        let (sys, api): (Vec<&str>, Vec<&str>) =
            (system.split(',').collect(), line.split(',').collect());
        assert_eq!(api.len(), header.split(',').count());
        // The same interval; one service without retries: its tries are
        // the arrivals, its CPU and instances the system's.
        assert_eq!(
            (api[0], api[1], api[2], api[3]),
            (sys[0], sys[1], sys[2], "api")
        );
        assert_eq!(api[4], sys[3], "tries = arrivals");
        assert_eq!((api[12], api[13], api[14]), (sys[9], sys[8], sys[16]));
        assert_eq!((api[7], api[8]), ("0", "NaN"), "no limit");
        let (util, cpu): (f64, f64) = (api[11].parse().unwrap(), api[12].parse().unwrap());
        assert!(cpu > 0.3 && cpu <= util && util < 1.0, "{line}");
        // In an interval without a failed try, the tries that ended are the
        // requests answered: the same p99.
        if api[5] == "0" {
            assert_eq!(api[10], sys[5], "{line}");
        }
        let (p50, p99): (f64, f64) = (api[9].parse().unwrap(), api[10].parse().unwrap());
        assert!(p50 > 1.0 && p50 < p99, "{line}");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["seed"], 7);
    assert_eq!(manifest["scenario"]["services"][0]["instance"]["queue"], 20);
    assert!(manifest["prng"].as_str().unwrap().contains("Pcg64"));
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("| latency_p99_ms |"));
    // One row per service: ~400 tries/s at about 0.4 of the workers held.
    let services = &summary[summary.find("\n## Services\n").expect("a services section")..];
    let api: Vec<&str> = services
        .lines()
        .find(|l| l.starts_with("| api | "))
        .expect("a row for api")
        .split(" | ")
        .collect();
    let mean = |cell: &str| cell.split(" ± ").next().unwrap().parse::<f64>().unwrap();
    assert!((390.0..410.0).contains(&mean(api[1])), "{api:?}");
    assert!((0.3..0.5).contains(&mean(api[4])), "{api:?}");
    assert!(
        mean(api[6]) >= mean(api[4]),
        "the busiest interval: {api:?}"
    );
    assert!(
        !services.contains("Most workers held"),
        "one service: no ranking"
    );
    // Its one call edge (the edge's call to api) has the run's figures:
    // edges.csv has its row, the summary no section.
    assert!(!summary.contains("## Call edges"), "{summary}");
    let edges = std::fs::read_to_string(out.join("edges.csv")).unwrap();
    let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    let keys: Vec<String> = edges
        .lines()
        .skip(1)
        .map(|l| l.split(',').take(4).collect::<Vec<_>>().join(","))
        .collect();
    let expected: Vec<String> = (0..runs.lines().count() - 1)
        .map(|r| format!("0,{r},edge,api"))
        .collect();
    assert_eq!(keys, expected, "{edges}");
}

#[test]
fn outputs_are_byte_identical_at_any_thread_count() {
    let dir = tempdir("determinism");
    let scenario = write(&dir, "small.toml", SMALL);
    let mut outs = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = dir.join(format!("t{threads}"));
        headroom_ok(&[
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--threads",
            threads,
            "--quiet",
        ]);
        outs.push(out);
    }
    for file in [
        "runs.csv",
        "timeseries.csv",
        "services.csv",
        "services_timeseries.csv",
        "summary.md",
        "manifest.json",
    ] {
        let first = std::fs::read(outs[0].join(file)).unwrap();
        for other in &outs[1..] {
            assert_eq!(
                first,
                std::fs::read(other.join(file)).unwrap(),
                "{file} differs"
            );
        }
    }
}

#[test]
fn seed_and_overrides_change_the_run() {
    let dir = tempdir("overrides");
    let scenario = write(&dir, "small.toml", SMALL);
    let run = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let mut args = vec![
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ];
        args.extend(extra);
        headroom_ok(&args);
        std::fs::read_to_string(out.join("runs.csv")).unwrap()
    };
    let base = run("base", &[]);
    let seeded = run("seeded", &["--seed", "8"]);
    assert_ne!(base, seeded);
    assert!(seeded.lines().nth(1).unwrap().starts_with("0,0,8,"));
    let two = run(
        "two",
        &["--replications", "2", "--set", "services.api.replicas=3"],
    );
    assert_eq!(two.lines().count(), 3);
    // replicas_max is column 20 (1-based) of runs.csv.
    assert_eq!(two.lines().nth(1).unwrap().split(',').nth(19), Some("3"));
    let by_index = run(
        "by_index",
        &["--replications", "2", "--set", "services.0.replicas=3"],
    );
    assert_eq!(
        two, by_index,
        "an array element is addressed by name or index"
    );
}

#[test]
fn check_prints_the_resolved_scenario() {
    let dir = tempdir("check");
    let scenario = write(&dir, "small.toml", SMALL);
    let o = headroom_ok(&["check", scenario.to_str().unwrap(), "--set", "run.seed=99"]);
    let text = stdout(&o);
    assert!(text.contains("seed = 99"), "{text}");
    assert!(
        text.contains("max_in_flight = 1000000"),
        "defaults are filled in: {text}"
    );
    assert!(text.contains("model = \"threads\""), "{text}");
}

/// A valid scenario whose callee retries past its caller's per-try
/// timeout: `check` accepts it (exit 0, the resolved scenario on stdout)
/// and warns on stderr, naming both edges; `run` warns too, unless
/// `--quiet`, and so do its `summary.md`, a sweep (once for all its
/// points) and its `recommendation.toml` and `summary.md`; without the per-try timeout upstream there is
/// nothing to say.
#[test]
fn check_and_run_warn_of_retries_that_outlive_their_caller() {
    let dir = tempdir("check_deadlines");
    let text = format!(
        "{}\n[policy.mesh.edges.\"edge->api\"]\ntimeout = \"2s\"\n\
         retry = {{ attempts = 2, per_try_timeout = \"100ms\" }}\n",
        common::flaky_db(3)
    )
    .replace(
        "jitter = \"none\" }",
        "jitter = \"none\", per_try_timeout = \"200ms\" }",
    );
    let scenario = write(&dir, "s.toml", &text);
    let o = headroom_ok(&["check", s(&scenario)]);
    assert!(stdout(&o).contains("[policy.mesh"), "{}", stdout(&o));
    let warning = stderr(&o);
    assert!(
        warning.starts_with("warning: ")
            && warning.contains(
                "edge -> api stops waiting for a try after 100ms (its per_try_timeout), but \
                 api's retried calls can last longer: api -> db up to 602ms (its tries and \
                 backoffs)"
            ),
        "{warning}"
    );
    let out = dir.join("out");
    let o = headroom_ok(&["run", s(&scenario), "--out", s(&out)]);
    assert!(
        stderr(&o).contains("edge -> api stops waiting"),
        "{}",
        stderr(&o)
    );
    let o = headroom_ok(&["run", s(&scenario), "--out", s(&out), "--quiet"]);
    assert_eq!(stderr(&o), "");
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(
        summary.contains("\n**Warning:** edge -> api stops waiting for a try after 100ms"),
        "{summary}"
    );
    // A sweep's recommended point carries it into recommendation.toml,
    // whose policies the sidecar would run.
    let swept = write(
        &dir,
        "swept.toml",
        &format!("{text}\n[sweep]\n[sweep.params]\n\"services.db.replicas\" = [1, 2]\n"),
    );
    // A search says it of the points it tried.
    for (command, said_as) in [("sweep", "every point"), ("search", "every point tried")] {
        let out = dir.join(command);
        let o = headroom_ok(&[command, s(&swept), "--out", s(&out)]);
        let err = stderr(&o);
        let said: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: ")).collect();
        assert_eq!(said.len(), 1, "{command}: {said:?}");
        assert!(
            said[0].starts_with(&format!("warning: at {said_as}: edge -> api stops waiting")),
            "{command}: {said:?}"
        );
        let recommendation = String::from_utf8(read(&out, "recommendation.toml")).unwrap();
        assert!(
            recommendation.contains("\n# Warning: edge -> api stops waiting for a try after 100ms"),
            "{command}: {recommendation}"
        );
        let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
        assert!(
            summary.contains("\n**Warning:** at this point, edge -> api stops waiting"),
            "{command}: {summary}"
        );
    }
    let out = dir.join("search");
    let o = headroom_ok(&["search", s(&swept), "--out", s(&out), "--quiet"]);
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    let fits = write(&dir, "fits.toml", &common::flaky_db(3));
    assert_eq!(stderr(&headroom_ok(&["check", s(&fits)])), "");
}

/// Runs a bad scenario (`bad.toml`, or a missing `missing.toml` when
/// `scenario_text` is `None`) with `extra` flags; see [`expect_refused`].
fn expect_input_error(name: &str, scenario_text: Option<&str>, extra: &[&str], needles: &[&str]) {
    let dir = tempdir(name);
    let scenario = match scenario_text {
        Some(text) => write(&dir, "bad.toml", text),
        None => dir.join("missing.toml"),
    };
    expect_refused(&scenario, extra, needles);
}

#[test]
fn unknown_key_is_named_with_its_line_and_column() {
    let text = SMALL.replace("seed = 7", "seed = 7\nreplicaitons = 3");
    expect_input_error(
        "unknown_key",
        Some(&text),
        &[],
        &[
            "bad.toml:7:1",
            "`run.replicaitons`",
            "unknown field",
            "replications",
        ],
    );
}

#[test]
fn bad_duration_is_named_with_the_accepted_forms() {
    let text = SMALL.replace("duration = \"2m\"", "duration = \"5 minutes\"");
    expect_input_error(
        "bad_duration",
        Some(&text),
        &[],
        &[
            "bad.toml:3:12",
            "`run.duration`",
            "\"5 minutes\"",
            "\"250us\"",
            "ms, s, m, h or d",
        ],
    );
}

#[test]
fn negative_rate_is_rejected() {
    let text = SMALL.replace("rate = 400.0", "rate = -5.0");
    expect_input_error(
        "negative_rate",
        Some(&text),
        &[],
        &["bad.toml:10:35", "`workload.arrivals.rate` = -5", "> 0"],
    );
}

#[test]
fn zero_workers_is_rejected() {
    let text = SMALL.replace("workers = 4", "workers = 0");
    expect_input_error(
        "zero_workers",
        Some(&text),
        &[],
        &[
            "bad.toml:14:14",
            "`services.api.instance.workers` = 0",
            "from 1 to",
        ],
    );
}

#[test]
fn missing_file_is_named() {
    expect_input_error(
        "missing_file",
        None,
        &[],
        &["missing.toml", "cannot read the scenario file"],
    );
    // The cause is printed once, not once more as the error's source.
    let dir = tempdir("missing_file_once");
    let o = headroom(&["check", dir.join("missing.toml").to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

#[test]
fn bad_override_is_named() {
    expect_input_error(
        "bad_set_path",
        Some(SMALL),
        &["--set", "services.web.replicas=2"],
        &["--set services.web.replicas=2", "does not exist"],
    );
    expect_input_error(
        "bad_set_value",
        Some(SMALL),
        &["--set", "services.api.replicas=0"],
        &[
            "error: --set services.api.replicas=0: `services.api.replicas` = 0",
            "from 1 to",
        ],
    );
    // A key the schema does not know, added by a set: named by the set, not
    // by a line of the file that does not hold it.
    expect_input_error(
        "bad_set_key",
        Some(SMALL),
        &["--set", "workload.rate=5"],
        &[
            "error: --set workload.rate=5: `workload.rate`",
            "unknown field",
        ],
    );
}

#[test]
fn a_bad_replications_flag_is_named_as_the_flag() {
    let dir = tempdir("bad_replications_flag");
    let scenario = write(&dir, "small.toml", SMALL);
    let out = dir.join("out");
    for n in ["0", "100001", "two"] {
        // clap's own message: an error line, then a hint to `--help`.
        let o = headroom(&[
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--replications",
            n,
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{n}: {err}");
        assert!(err.contains("--replications"), "{n}: {err}");
        assert!(err.contains("from 1 to 100000"), "{n}: {err}");
        assert!(!out.exists(), "{n}: nothing is written");
    }
}

#[test]
fn unknown_distribution_and_queue_forms_are_rejected() {
    let text = SMALL.replace("distribution = \"lognormal\"", "distribution = \"weibull\"");
    expect_input_error(
        "bad_distribution",
        Some(&text),
        &[],
        &["`services.api.work.distribution`", "weibull", "exponential"],
    );
    let text = SMALL.replace("queue = 20", "queue = \"infinite\"");
    expect_input_error(
        "bad_queue",
        Some(&text),
        &[],
        &["`services.api.instance.queue`", "\"unbounded\""],
    );
}

/// `headroom run` of `text` stops at run time: exit 1, stderr holds every
/// needle and the command that reproduces the failed replication, and no
/// output is written.
fn expect_runtime_error(name: &str, text: &str, needles: &[&str]) {
    let dir = tempdir(name);
    let scenario = write(&dir, &format!("{name}.toml"), text);
    let out = dir.join("out");
    let o = headroom(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{name}: {err}");
    for needle in needles.iter().chain(&["reproduce with: headroom run"]) {
        assert!(err.contains(needle), "{name}: no {needle:?} in {err}");
    }
    assert!(!out.exists(), "{name}: wrote {}", out.display());
}

#[test]
fn unstable_system_is_a_runtime_error_with_a_reproduce_command() {
    let text = SMALL
        .replace("queue = 20", "queue = \"unbounded\"")
        .replace("rate = 400.0", "rate = 4000.0")
        .replace("seed = 7", "seed = 7\nmax_in_flight = 1000");
    expect_runtime_error("unstable", &text, &["unstable"]);
}

/// A unit slip that makes the work hours long in a run of seconds: the run
/// stops (it would otherwise simulate tens of thousands of hours of
/// autoscaler syncs while the abandoned tries finish), says why, and
/// writes nothing.
#[test]
fn a_run_that_cannot_drain_is_a_runtime_error_not_a_hang() {
    let text = SMALL
        .replace("duration = \"2m\"", "duration = \"4s\"")
        .replace("warmup = \"10s\"", "warmup = \"0s\"")
        .replace("replications = 4", "replications = 1")
        .replace("mean = \"8ms\", cv = 1.5", "mean = \"100000h\", cv = 1.5")
        .replace("replicas = 2", "autoscaler = \"api\"")
        + "\n[policy.autoscaler.api]\nmin_replicas = 2\nmax_replicas = 4\ntarget_cpu_utilization = 0.7\n\n[policy.mesh]\ntimeout = \"1s\"\n";
    expect_runtime_error(
        "undrained",
        &text,
        &[
            "did not drain",
            "`services.api.work` has a mean of 100000h, longer than the whole run (4s)",
            "\"100000h\" for \"100ms\"",
        ],
    );
}

#[test]
fn a_flag_is_not_blamed_for_the_scenario_s_own_mistake() {
    // `--seed` is applied as a `--set run.seed`; a scenario without `[run]`
    // is named for that, not the `--set` the user never typed.
    let no_run = format!("[workload]{}", SMALL.split("[workload]").nth(1).unwrap());
    expect_input_error(
        "flag_no_run",
        Some(&no_run),
        &["--seed", "5", "--replications", "3"],
        &["bad.toml", "missing field `run`"],
    );
    let err = {
        let dir = tempdir("flag_no_run_compare");
        let a = write(&dir, "a.toml", SMALL);
        let b = write(&dir, "b.toml", &no_run);
        let o = headroom(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        stderr(&o)
    };
    assert!(
        err.contains("b.toml") && err.contains("missing field `run`"),
        "{err}"
    );
    assert!(!err.contains("--set"), "{err}");
    // The same for `search`, and for `sweep` on a search table (it hands
    // over to the search).
    let search = format!(
        "{no_run}\n[slo]\np99 = \"1s\"\n[sweep]\nmode = \"search\"\n\
         [sweep.params]\n\"services.api.replicas\" = [1, 2]\n"
    );
    for command in ["search", "sweep"] {
        let dir = tempdir(&format!("flag_no_run_{command}"));
        let scenario = write(&dir, "s.toml", &search);
        let out = dir.join("out");
        let o = headroom(&[
            command,
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--seed",
            "5",
            "--replications",
            "2",
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{command}: {err}");
        assert!(
            err.contains("s.toml") && err.contains("missing field `run`"),
            "{command}: {err}"
        );
        assert!(!err.contains("--set"), "{command}: {err}");
        assert!(!out.exists(), "{command}");
    }
    // A `--set` applies to both scenarios: its error names the one it fails.
    let dir = tempdir("compare_set_names_scenario");
    let a = write(&dir, "a.toml", SMALL);
    let other = SMALL.replacen("name = \"api\"", "name = \"front\"", 1);
    assert_ne!(other, SMALL);
    let b = write(&dir, "b.toml", &other);
    let o = headroom(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--set",
        "services.api.replicas=2",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!("error: scenario {}: --set", b.display())),
        "{err}"
    );
}

#[test]
fn seed_and_threads_flags_are_bounded() {
    // A seed must be a TOML integer (`run.seed`); a huge thread count only
    // stalled while rayon started every thread.
    for (flag, value, needle) in [
        ("--seed", "18446744073709551615", "0 to 9223372036854775807"),
        ("--threads", "5000", "0 (one per core) to 4096"),
    ] {
        let dir = tempdir("bounded_flags");
        let scenario = write(&dir, "s.toml", SMALL);
        let o = headroom(&["run", scenario.to_str().unwrap(), flag, value]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{flag}: {err}");
        assert!(err.contains(needle) && err.contains(value), "{flag}: {err}");
    }
}

#[test]
fn a_reader_that_stops_reading_ends_the_command_quietly() {
    // `headroom check BIG | head -1`: the resolved scenario is far larger
    // than a pipe's buffer, so the command is still writing when the reader
    // goes away. It stops with 141 (128 + SIGPIPE), as a Unix tool does; it
    // panicked with "failed printing to stdout: Broken pipe" (exit 101).
    let dir = tempdir("closed_pipe");
    let mut text = SMALL.to_owned();
    for i in 0..600 {
        text.push_str(&format!(
            "\n[[services]]\nname = \"extra{i}\"\ninstance = {{ workers = 4 }}\n\
             work = {{ distribution = \"exponential\", mean = \"1ms\" }}\nreplicas = 1\n"
        ));
    }
    let scenario = write(&dir, "big.toml", &text);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["check", scenario.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(141), "{err}");
    assert!(err.is_empty(), "no panic report: {err}");
}

#[test]
fn completions_into_a_closed_pipe_end_quietly() {
    // `headroom completions bash | (read l)`: the script (36 KB) fits a
    // pipe's buffer, so only a reader gone before the write shows the
    // failure; here the pipe has no reader from the start. clap_complete
    // panicked on the write error (exit 101).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["completions", "bash"])
        .stdout(writer)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(141), "{err}");
    assert!(err.is_empty(), "no panic report: {err}");
}

#[test]
fn an_output_that_is_a_special_file_is_written_not_replaced() {
    // `--out /dev/null` was replaced by a regular file: the output was
    // written beside it and renamed over the device. A FIFO stands in for
    // the device here: it must still be a FIFO afterwards, and its reader
    // gets the bytes.
    use std::os::unix::fs::FileTypeExt;
    let dir = tempdir("special_out");
    let scenario = write(&dir, "s.toml", SMALL);
    let fifo = dir.join("out.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for args in [
        vec!["trace", "synth", scenario.to_str().unwrap(), "--out"],
        vec![
            "trace",
            "convert",
            "traces/samples/nasa-http-1995/nasa_requests_per_minute.csv.gz",
            "--out",
        ],
    ] {
        let path = fifo.clone();
        #[allow(clippy::disallowed_methods)] // a reader for the FIFO, joined below
        let reader = std::thread::spawn(move || std::fs::read(path).unwrap());
        let mut all = args.clone();
        all.push(fifo.to_str().unwrap());
        headroom_ok(&all);
        let meta = std::fs::symlink_metadata(&fifo).unwrap();
        assert!(
            meta.file_type().is_fifo(),
            "{args:?}: the FIFO was replaced"
        );
        let bytes = reader.join().unwrap();
        assert!(
            bytes.starts_with(b"t_ns,"),
            "{args:?}: {:?}",
            &bytes[..bytes.len().min(40)]
        );
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{args:?}: {left:?}");
    }
}

#[test]
fn replications_short_against_the_relaxation_time_are_warned_of() {
    let dir = tempdir("short_runs");
    // rho = 0.95: the queue relaxes over minutes, and 10 minutes span few
    // relaxation times (the coverage study: 76.5 % p99 coverage at 30 min).
    let scenario = write(&dir, "busy.toml", &mm1_short(9.5));
    let out = dir.join("busy");
    let o = headroom_ok(&["run", s(&scenario), "--out", s(&out)]);
    let err = stderr(&o);
    let warning = err
        .lines()
        .find(|l| l.starts_with("warning: latency quantile intervals may be too narrow"))
        .unwrap_or_else(|| panic!("no short-run warning:\n{err}"));
    // "... spans only N relaxation times, fewer than the 100 ..."
    let spans: f64 = warning
        .split("spans only ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no span count in: {warning}"));
    assert!(spans < 100.0, "{warning}");
    assert!(warning.contains("10m measured window"), "{warning}");
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(
        summary.contains("**Warning:** latency quantile intervals may be too narrow"),
        "{summary}"
    );
    // rho = 0.5: the queue forgets within seconds; no warning.
    let scenario = write(&dir, "light.toml", &mm1_short(5.0));
    let out = dir.join("light");
    let o = headroom_ok(&["run", s(&scenario), "--out", s(&out)]);
    assert!(!stderr(&o).contains("too narrow"), "{}", stderr(&o));
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(!summary.contains("Warning"), "{summary}");
}

#[test]
fn a_busy_queue_is_judged_by_its_load_when_the_replications_cannot_tell() {
    let dir = tempdir("short_by_load");
    // One replication: no batch means to correlate across replications,
    // but the queue's measured load still says how long it remembers
    // (rho 0.95: about 78 s, so 10 minutes span about 8; this replication
    // carried 0.93, and spans 14).
    let one = mm1_short(9.5).replace("replications = 10", "replications = 1");
    let scenario = write(&dir, "one.toml", &one);
    let out = dir.join("one");
    let o = headroom_ok(&["run", s(&scenario), "--out", s(&out)]);
    let err = stderr(&o);
    assert!(
        err.contains(
            "warning: latency quantile intervals may be too narrow: service server runs at utilization 0.9"
        ) && err.contains("(1 worker an instance, ")
            && err.contains("(heavy-traffic approximation)")
            && err.contains("10m measured window spans only"),
        "{err}"
    );
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(
        summary.contains("(heavy-traffic approximation)"),
        "{summary}"
    );
    // Overloaded with an unbounded queue: no steady state at all.
    let over = write(&dir, "over.toml", &mm1_short(12.0));
    let o = headroom_ok(&["run", s(&over), "--out", s(&dir.join("over"))]);
    assert!(
        stderr(&o).contains(
            "warning: latency has no steady state: service server is saturated (utilization 1.00, 1 worker an instance) and its queue has no bound"
        ),
        "{}",
        stderr(&o)
    );
    // The same overload behind a queue of 20 sheds a sixth, and the queue,
    // pinned near full, forgets within seconds: no warning.
    let bounded = write(
        &dir,
        "bounded.toml",
        &mm1_short(12.0).replace("queue = \"unbounded\"", "queue = 20"),
    );
    let o = headroom_ok(&["run", s(&bounded), "--out", s(&dir.join("bounded"))]);
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

/// `summary.md` names the tier that holds the largest share of its
/// workers: here the database (80 % busy) behind a light API tier.
#[test]
fn the_summary_names_the_busiest_tier() {
    let dir = tempdir("busiest_tier");
    let text = r#"
[run]
duration = "1m"
warmup = "10s"
replications = 2
timeseries_interval = "10s"

[workload]
arrivals = { process = "poisson", rate = 200.0 }

[[services]]
name = "api"
instance = { workers = 16, model = "event-loop" }
work = { distribution = "exponential", mean = "1ms" }
calls = [ { service = "db" } ]
replicas = 1

[[services]]
name = "db"
instance = { workers = 5 }
work = { distribution = "exponential", mean = "20ms" }
replicas = 1
"#;
    let scenario = write(&dir, "two.toml", text);
    let out = dir.join("out");
    headroom_ok(&["run", s(&scenario), "--out", s(&out), "--quiet"]);
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    let services = summary.split("## Call edges").next().unwrap_or_default();
    let rows: Vec<&str> = services
        .lines()
        .filter(|l| l.starts_with("| api | ") || l.starts_with("| db | "))
        .collect();
    assert_eq!(rows.len(), 2, "{summary}");
    assert!(
        summary.contains("Most workers held: **db** (0.7")
            || summary.contains("Most workers held: **db** (0.8"),
        "{summary}"
    );
}

/// `edges.csv` has a row per call edge and replication (the edge's call to
/// the entry service first), and `summary.md`'s `## Call edges` names the
/// edge that retried the most: here api's calls to a flaky database, which
/// the edge's own call to api never retries.
#[test]
fn the_summary_names_the_edge_that_retries() {
    let dir = tempdir("edge_retries");
    let text = common::flaky_db(3);
    let scenario = write(&dir, "edges.toml", &text);
    let out = dir.join("out");
    headroom_ok(&["run", s(&scenario), "--out", s(&out), "--quiet"]);
    let edges = String::from_utf8(read(&out, "edges.csv")).unwrap();
    let mut lines = edges.lines();
    assert_eq!(
        lines.next(),
        Some(headroom_models::report::EDGE_COLUMNS.join(",").as_str())
    );
    let keys: Vec<String> = lines
        .map(|l| l.split(',').take(4).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(
        keys,
        ["0,0,edge,api", "0,0,api,db", "0,1,edge,api", "0,1,api,db"]
    );
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    let section = summary
        .split("## Call edges")
        .nth(1)
        .unwrap_or_else(|| panic!("no call edges section: {summary}"));
    assert!(section.contains("\n| edge | api | "), "{section}");
    assert!(section.contains("\n| api | db | "), "{section}");
    // About p + p^2 = 0.24 retries per call.
    assert!(
        section.contains("Most retries: **api -> db** (0.2"),
        "{section}"
    );
}

/// A retry storm that outlives its trigger (`recovery-retries.toml`): the
/// summary's "Why ... did not recover" names the edge the retries go on,
/// right after the retry amplification, and the service whose workers the
/// abandoned tries hold, right after the work for nobody.
#[test]
fn the_summary_names_the_edge_a_storm_retries_on() {
    let dir = tempdir("storm_edge");
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments/validation/recovery-retries.toml");
    let out = dir.join("out");
    headroom_ok(&["run", s(&scenario), "--out", s(&out), "--quiet"]);
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    let why = summary
        .split("did not recover (2 of 2 replications)")
        .nth(1)
        .unwrap_or_else(|| panic!("no storm: {summary}"));
    let lines: Vec<&str> = why.lines().filter(|l| l.starts_with("- ")).collect();
    assert!(lines[0].starts_with("- retry amplification: 2.0"), "{why}");
    assert!(
        lines[1].starts_with("- where the retries go: api -> db 2.0")
            && lines[1].contains("per request (100 %)"),
        "{why}"
    );
    // And, after the abandoned work, whose workers it holds.
    assert!(lines[2].starts_with("- work for nobody: "), "{why}");
    assert!(
        lines[3].starts_with("- whose workers: db ") && lines[3].contains(" workers (100 %);"),
        "{why}"
    );
}

/// `edges_timeseries.csv` has a row per interval, call edge and
/// replication, edges in `edges.csv`'s order within an interval; an edge's
/// intervals after the warm-up add up to its `edges.csv` row.
#[test]
fn the_edges_time_series_adds_up_to_each_edges_row() {
    let dir = tempdir("edge_series");
    let scenario = write(&dir, "edges.toml", &common::flaky_db(3));
    let out = dir.join("out");
    headroom_ok(&[
        "run",
        s(&scenario),
        "--out",
        s(&out),
        "--quiet",
        "--set",
        "run.timeseries_interval=\"5s\"",
    ]);
    let csv_rows = |file: &str| -> Vec<Vec<String>> {
        String::from_utf8(read(&out, file))
            .unwrap()
            .lines()
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect()
    };
    let series = csv_rows("edges_timeseries.csv");
    let header: Vec<&str> = series[0].iter().map(String::as_str).collect();
    assert_eq!(header, headroom_models::report::EDGE_TIMESERIES_COLUMNS);
    let col = |name: &str| header.iter().position(|&c| c == name).unwrap();
    // 12 intervals of 5 s, 2 edges, 2 replications.
    assert_eq!(series.len() - 1, 12 * 2 * 2);
    let keys: Vec<String> = series[1..5].iter().map(|r| r[..5].join(",")).collect();
    assert_eq!(
        keys,
        [
            "0,0,5,edge,api",
            "0,0,5,api,db",
            "0,0,10,edge,api",
            "0,0,10,api,db"
        ]
    );
    let edges = csv_rows("edges.csv");
    let edge_col = |name: &str| edges[0].iter().position(|c| c == name).unwrap();
    for row in &edges[1..] {
        let (replication, caller, callee) = (&row[1], &row[2], &row[3]);
        let mine = series[1..]
            .iter()
            .filter(|r| &r[1] == replication && &r[3] == caller && &r[4] == callee)
            .filter(|r| r[col("t_s")].parse::<f64>().unwrap() > 10.0);
        let (mut calls, mut retries) = (0.0, 0);
        for r in mine {
            calls += r[col("calls_rps")].parse::<f64>().unwrap() * 5.0;
            retries += r[col("retries")].parse::<u64>().unwrap();
        }
        let whole = |name: &str| row[edge_col(name)].parse::<u64>().unwrap();
        assert_eq!(calls.round() as u64, whole("calls"), "{row:?}");
        assert_eq!(retries, whole("retries"), "{row:?}");
        assert_eq!(retries > 0, callee == "db", "{row:?}");
    }
}
