//! Bad input in the service tier: each mistake is one message naming the
//! file, the key, the bad value and the fix; exit code 2; nothing written.

mod common;

use common::{expect_refused, headroom, headroom_ok, tempdir, write};

/// A valid three-service world in two regions with costs and a fault.
const BASE: &str = r#"[run]
duration = "1m"
replications = 1

[workload]
arrivals = { process = "poisson", rate = 100.0 }

[[regions]]
name = "us-east"
[[regions]]
name = "eu-west"

[network.rtt.us-east]
eu-west = "80ms"

[[services]]
name = "api"
instance = { type = "small", workers = 4 }
work = { distribution = "exponential", mean = "5ms" }
calls = [{ service = "auth" }, { parallel = [{ service = "db" }, { service = "auth" }] }]
replicas = 2

[[services]]
name = "auth"
instance = { type = "small", workers = 4 }
work = { distribution = "exponential", mean = "2ms" }
calls = [{ service = "db" }]
replicas = 2

[[services]]
name = "db"
instance = { type = "small", workers = 4 }
work = { distribution = "exponential", mean = "2ms" }
replicas = 2

[[faults]]
type = "errors"
target = "db"
rate = 0.01

[policy.mesh]
timeout = "1s"

[costs]
instance_types = { small = { vcpu = 2, memory = "4GiB", hourly = 0.08 } }
"#;

/// Runs BASE with `from` replaced by `to` (once; `from` must occur) as
/// `world.toml`, with `extra` arguments; see [`expect_refused`].
fn expect_error(name: &str, from: &str, to: &str, extra: &[&str], needles: &[&str]) {
    assert!(BASE.contains(from), "{name}: the base has no {from:?}");
    let dir = tempdir(&format!("service-bad-{name}"));
    let scenario = write(&dir, "world.toml", &BASE.replacen(from, to, 1));
    expect_refused(&scenario, extra, needles);
}

#[test]
fn the_base_world_runs() {
    let dir = tempdir("service-bad-base");
    let scenario = dir.join("world.toml");
    std::fs::write(&scenario, BASE).unwrap();
    let out = dir.join("out");
    headroom_ok(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(out.join("services.csv").exists());
}

#[test]
fn a_region_named_global_is_refused() {
    expect_error(
        "region-global",
        "name = \"eu-west\"",
        "name = \"global\"",
        &[],
        &[
            "`regions.1.name`",
            "\"global\"",
            "a name other than \"global\" (`bill.csv`",
        ],
    );
}

#[test]
fn a_call_to_an_unknown_service_lists_the_services() {
    expect_error(
        "unknown-callee",
        r#"calls = [{ service = "db" }]"#,
        r#"calls = [{ service = "dbb" }]"#,
        &[],
        &[
            "`services.auth.calls.0.service`",
            "\"dbb\"",
            "\"api\", \"auth\", \"db\"",
        ],
    );
}

#[test]
fn a_parallel_branch_that_is_not_a_service_call_is_named_for_what_it_is() {
    expect_error(
        "parallel-data-branch",
        r#"{ parallel = [{ service = "db" }, { service = "auth" }] }"#,
        r#"{ parallel = [{ service = "db" }, { data = "users" }] }"#,
        &[],
        &[
            "`services.api.calls.1.parallel.1`",
            "a data step (`data = \"users\"`)",
            "a branch of a parallel step calls one service",
        ],
    );
    expect_error(
        "parallel-nested",
        r#"{ parallel = [{ service = "db" }, { service = "auth" }] }"#,
        r#"{ parallel = [{ service = "db" }, { parallel = [{ service = "auth" }] }] }"#,
        &[],
        &[
            "`services.api.calls.1.parallel.1`",
            "a nested parallel step",
        ],
    );
}

#[test]
fn a_cycle_is_named_with_its_path() {
    expect_error(
        "cycle",
        "name = \"db\"\ninstance",
        "name = \"db\"\ncalls = [{ service = \"api\" }]\ninstance",
        &[],
        &[
            "`services.db.calls`",
            "api -> auth -> db -> api",
            "without cycles",
        ],
    );
}

#[test]
fn an_unknown_autoscaler_policy_is_named() {
    expect_error(
        "unknown-policy",
        "replicas = 2\n\n[[services]]\nname = \"auth\"",
        "autoscaler = \"nope\"\n\n[[services]]\nname = \"auth\"",
        &[],
        &["`services.api.autoscaler`", "\"nope\"", "policy.autoscaler"],
    );
}

#[test]
fn an_unknown_adaptive_concurrency_policy_is_named_with_the_known_ones() {
    expect_error(
        "unknown-adaptive-concurrency",
        "[policy.mesh]",
        "[policy.adaptive_concurrency.db-limit]\n[policy.mesh]",
        &["--set", "services.db.adaptive_concurrency=\"db\""],
        &[
            "`services.db.adaptive_concurrency`",
            "\"db\"",
            "policy.adaptive_concurrency",
            "db-limit",
        ],
    );
}

#[test]
fn an_unknown_edge_adaptive_concurrency_policy_is_named_with_the_known_ones() {
    expect_error(
        "unknown-edge-adaptive-concurrency",
        "[policy.mesh]",
        "[edge]\nadaptive_concurrency = \"gateway\"\n[policy.adaptive_concurrency.ingress]\n[policy.mesh]",
        &[],
        &[
            "`edge.adaptive_concurrency`",
            "\"gateway\"",
            "policy.adaptive_concurrency",
            "ingress",
        ],
    );
}

#[test]
fn a_bad_adaptive_concurrency_value_names_its_full_key() {
    expect_error(
        "bad-adaptive-concurrency",
        "[policy.mesh]",
        "[policy.adaptive_concurrency.db]\nbuffer = 1.5\n[policy.mesh]",
        &[],
        &[
            "`policy.adaptive_concurrency.db.buffer`",
            "1.5",
            "a number from 0 to 1",
        ],
    );
    expect_error(
        "floor-above-ceiling",
        "[policy.mesh]",
        "[policy.adaptive_concurrency.db]\nmax_limit = 10\nmin_concurrency = 20\n[policy.mesh]",
        &[],
        &[
            "`policy.adaptive_concurrency.db.min_concurrency`",
            "20",
            "max_limit (10)",
        ],
    );
}

#[test]
fn an_unknown_rate_limit_policy_is_named() {
    expect_error(
        "unknown-rate-limit",
        "[policy.mesh]",
        "[edge]\nrate_limit = \"nope\"\n[policy.mesh]",
        &[],
        &["`edge.rate_limit`", "\"nope\"", "policy.rate_limit"],
    );
}

#[test]
fn an_unknown_region_is_named_with_the_regions() {
    expect_error(
        "unknown-region",
        "name = \"db\"\ninstance",
        "name = \"db\"\nregions = [\"eu-west\", \"ap-south\"]\ninstance",
        &[],
        &[
            "`services.db.regions.1`",
            "\"ap-south\"",
            "\"us-east\", \"eu-west\"",
        ],
    );
}

#[test]
fn an_unknown_instance_type_is_named() {
    expect_error(
        "unknown-instance-type",
        "type = \"small\", workers = 4 }\nwork = { distribution = \"exponential\", mean = \"5ms\" }",
        "type = \"large\", workers = 4 }\nwork = { distribution = \"exponential\", mean = \"5ms\" }",
        &[],
        &[
            "`services.api.instance.type`",
            "\"large\"",
            "costs.instance_types",
            "\"small\"",
        ],
    );
}

#[test]
fn a_missing_rtt_pair_says_what_to_add() {
    expect_error(
        "missing-rtt",
        "[[regions]]\nname = \"eu-west\"",
        "[[regions]]\nname = \"eu-west\"\n[[regions]]\nname = \"ap-south\"",
        &[],
        &[
            "`network.rtt.us-east.ap-south`",
            "missing",
            "add `ap-south = ",
        ],
    );
}

#[test]
fn replicas_and_autoscaler_are_exclusive_and_one_is_required() {
    expect_error(
        "both",
        "replicas = 2\n\n[[services]]\nname = \"auth\"",
        "replicas = 2\nautoscaler = \"x\"\n\n[[services]]\nname = \"auth\"",
        &[],
        &["`services.api.autoscaler`", "not both"],
    );
    expect_error(
        "neither",
        "replicas = 2\n\n[[services]]\nname = \"auth\"",
        "\n[[services]]\nname = \"auth\"",
        &[],
        &[
            "`services.api.replicas`",
            "missing",
            "autoscaler = \"NAME\"",
        ],
    );
}

#[test]
fn a_fault_on_an_unknown_target_is_named() {
    expect_error(
        "fault-target",
        "target = \"db\"",
        "target = \"cache\"",
        &[],
        &[
            "`faults.0.target`",
            "\"cache\"",
            "\"api\", \"auth\", \"db\"",
        ],
    );
    expect_error(
        "fault-region",
        "type = \"errors\"\ntarget = \"db\"",
        "type = \"region-outage\"\nregion = \"mars\"\nat = \"1s\"\nduration = \"1s\"\n[[faults]]\ntype = \"errors\"\ntarget = \"db\"",
        &[],
        &["`faults.0.region`", "\"mars\""],
    );
}

#[test]
fn a_set_path_that_does_not_exist_is_named() {
    expect_error(
        "set-path",
        "[policy.mesh]",
        "[policy.mesh]",
        &["--set", "services.web.replicas=2"],
        &["services.web.replicas", "does not exist"],
    );
    expect_error(
        "set-field",
        "[policy.mesh]",
        "[policy.mesh]",
        &["--set", "services.api.instance.threads=3"],
        &[
            "`services.api.instance.threads`",
            "unknown field",
            "`workers`",
        ],
    );
    // Removing a key that is not there.
    expect_error(
        "set-remove",
        "[policy.mesh]",
        "[policy.mesh]",
        &["--set", "services.api.instance.threads=null"],
        &["`services.api.instance.threads`", "nothing to remove"],
    );
}

#[test]
fn an_override_for_an_edge_that_does_not_exist_is_named() {
    expect_error(
        "mesh-edge",
        "timeout = \"1s\"",
        "timeout = \"1s\"\n[policy.mesh.edges.\"db->api\"]\ntimeout = \"2s\"",
        &[],
        &["policy.mesh.edges.\"db->api\"", "`db` does not call `api`"],
    );
}

/// Runs BASE with `from` replaced by `to` at `threads`; returns runs.csv
/// and services.csv.
fn run_variant(name: &str, from: &str, to: &str, threads: &str) -> (String, String) {
    assert!(BASE.contains(from), "{name}: the base has no {from:?}");
    let dir = tempdir(name);
    let scenario = dir.join("world.toml");
    std::fs::write(&scenario, BASE.replacen(from, to, 1)).unwrap();
    let out = dir.join("out");
    let o = headroom(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--replications",
        "3",
        "--threads",
        threads,
        "--quiet",
    ]);
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    (read("runs.csv"), read("services.csv"))
}

/// The `hedges` cells of runs.csv.
fn hedges(runs: &str) -> Vec<u64> {
    let mut lines = runs.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|&c| c == "hedges")
        .expect("a hedges column");
    lines
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn hedged_edges_run_deterministically_at_any_thread_count() {
    // A mesh-wide percentile hedge, and a per-edge fixed one that replaces
    // it on `api->db`.
    let to = "timeout = \"1s\"\nhedge = { percentile = 0.9, min_samples = 20, window = \"2s\", delay = \"10ms\" }\n[policy.mesh.edges.\"api->db\"]\nhedge = { delay = \"3ms\", max_hedged = 2 }";
    let (one, services_one) = run_variant("hedge-1", "timeout = \"1s\"", to, "1");
    let (three, services_three) = run_variant("hedge-3", "timeout = \"1s\"", to, "3");
    assert_eq!(one, three, "runs.csv is byte-identical at 1 and 3 threads");
    assert_eq!(services_one, services_three);
    assert!(
        hedges(&one).iter().all(|&h| h > 0),
        "hedges were sent: {one}"
    );
    let (plain, _) = run_variant("hedge-none", "rate = 0.01", "rate = 0.01", "2");
    assert!(hedges(&plain).iter().all(|&h| h == 0), "{plain}");
}

/// The `shed` cells of runs.csv.
fn shed(runs: &str) -> Vec<u64> {
    let mut lines = runs.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|&c| c == "shed")
        .expect("a shed column");
    lines
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn adaptive_concurrency_runs_deterministically_at_any_thread_count() {
    // A limiter in front of every db instance with short windows and a
    // jittered measurement interval (the jitter draws from the run's
    // streams): it sheds during its measurements at concurrency 1.
    let from = "replicas = 2\n\n[[faults]]";
    let to = "replicas = 2\nadaptive_concurrency = \"db\"\n\n[policy.adaptive_concurrency.db]\nmin_concurrency = 1\nmin_rtt_interval = \"5s\"\njitter = 0.5\nupdate_interval = \"50ms\"\nmin_rtt_requests = 20\n\n[[faults]]";
    let (one, services_one) = run_variant("adaptive-1", from, to, "1");
    let (three, services_three) = run_variant("adaptive-3", from, to, "3");
    assert_eq!(one, three, "runs.csv is byte-identical at 1 and 3 threads");
    assert_eq!(services_one, services_three);
    let (plain, _) = run_variant("adaptive-none", from, from, "2");
    assert!(shed(&plain).iter().all(|&n| n == 0), "{plain}");
    assert!(shed(&one).iter().all(|&n| n > 0), "the limiter shed: {one}");
}

#[test]
fn an_edge_adaptive_concurrency_limit_runs_deterministically_at_any_thread_count() {
    // A controller at the edge with short windows and jittered
    // measurements (the jitter draws from the edge's stream): it sheds
    // during its measurements at concurrency 2.
    let from = "[policy.mesh]";
    let to = "[edge]\nadaptive_concurrency = \"gateway\"\n\n[policy.adaptive_concurrency.gateway]\nmin_concurrency = 2\nmin_rtt_interval = \"5s\"\njitter = 0.5\nupdate_interval = \"50ms\"\nmin_rtt_requests = 20\n\n[policy.mesh]";
    let (one, services_one) = run_variant("edge-adaptive-1", from, to, "1");
    let (three, services_three) = run_variant("edge-adaptive-3", from, to, "3");
    assert_eq!(one, three, "runs.csv is byte-identical at 1 and 3 threads");
    assert_eq!(services_one, services_three);
    let (plain, _) = run_variant("edge-adaptive-none", from, from, "2");
    assert!(shed(&plain).iter().all(|&n| n == 0), "{plain}");
    assert!(shed(&one).iter().all(|&n| n > 0), "the edge shed: {one}");
    assert_ne!(one, plain);
}

#[test]
fn a_bad_hedge_table_is_named_with_its_key() {
    expect_error(
        "hedge-max",
        "timeout = \"1s\"",
        "timeout = \"1s\"\nhedge = { delay = \"50ms\", max_hedged = 40 }",
        &[],
        &["policy.mesh.hedge.max_hedged", "40", "1..=16"],
    );
    expect_error(
        "hedge-edge-delay",
        "timeout = \"1s\"",
        "timeout = \"1s\"\n[policy.mesh.edges.\"api->auth\"]\nhedge = { max_hedged = 2 }",
        &[],
        &["policy.mesh.edges.\"api->auth\".hedge.delay", "percentile"],
    );
}

#[test]
fn a_sub_millisecond_health_check_interval_is_refused() {
    // Envoy reads health-check durations in whole milliseconds; a 1 ns
    // interval would also make the run check every instance a billion
    // times per simulated second, a run that never ends.
    expect_error(
        "health-interval",
        "timeout = \"1s\"",
        "timeout = \"1s\"\n[policy.load_balancer]\nhealth_check = { interval = \"1ns\" }",
        &[],
        &[
            "policy.load_balancer.health_check.interval",
            "\"1ns\"",
            "at least \"1ms\"",
        ],
    );
    expect_error(
        "outlier-interval",
        "timeout = \"1s\"",
        "timeout = \"1s\"\n[policy.load_balancer]\noutlier_detection = { interval = \"100us\" }",
        &[],
        &[
            "policy.load_balancer.outlier_detection.interval",
            "\"100us\"",
        ],
    );
}

/// Keys written as a string or a table (`boot_time`, `workload.entry`, a
/// breaker's `fallback`): a bad value of either form gets that form's own
/// message, never serde's "did not match any variant of untagged enum".
#[test]
fn a_string_or_table_value_names_what_is_wrong_in_its_form() {
    let replicas = "calls = [{ service = \"db\" }]\nreplicas = 2";
    expect_error(
        "boot-time-no-unit",
        replicas,
        "calls = [{ service = \"db\" }]\nreplicas = 2\nboot_time = \"30\"",
        &[],
        &[
            "`services.auth.boot_time`",
            "\"30\" is not a duration",
            "\"1.5s\"",
        ],
    );
    expect_error(
        "boot-time-distribution",
        replicas,
        "calls = [{ service = \"db\" }]\nreplicas = 2\nboot_time = { distribution = \"normal\", mean = \"30s\" }",
        &[],
        &[
            "`services.auth.boot_time.distribution`",
            "unknown variant `normal`",
            "`lognormal`",
        ],
    );
    expect_error(
        "boot-time-type",
        replicas,
        "calls = [{ service = \"db\" }]\nreplicas = 2\nboot_time = 30",
        &[],
        &[
            "`services.auth.boot_time`",
            "integer `30`",
            "a duration such as \"30s\"",
        ],
    );
    let arrivals = "arrivals = { process = \"poisson\", rate = 100.0 }";
    expect_error(
        "entry-weight",
        arrivals,
        "arrivals = { process = \"poisson\", rate = 100.0 }\nentry = { api = \"most\" }",
        &[],
        &["`workload.entry.api`", "string \"most\"", "a number"],
    );
    expect_error(
        "entry-type",
        arrivals,
        "arrivals = { process = \"poisson\", rate = 100.0 }\nentry = 1",
        &[],
        &["`workload.entry`", "integer `1`", "a request mix"],
    );
    expect_error(
        "fallback-status",
        "timeout = \"1s\"",
        "timeout = \"1s\"\nfallback = { status = \"ok\" }",
        &[],
        &["`policy.mesh.fallback.status`", "string \"ok\""],
    );
    expect_error(
        "fallback-key",
        "timeout = \"1s\"",
        "timeout = \"1s\"\nfallback = { code = 200 }",
        &[],
        &[
            "`policy.mesh.fallback.code`",
            "unknown field `code`",
            "`status`",
        ],
    );
}

/// The base world's open arrivals, for the closed-workload variants.
const POISSON: &str = r#"arrivals = { process = "poisson", rate = 100.0 }"#;

#[test]
fn a_bad_closed_workload_is_named_with_its_key() {
    let closed = |rest: &str| format!("arrivals = {{ process = \"closed\", {rest} }}");
    expect_error(
        "closed-no-users",
        POISSON,
        &closed("users = 0, think = \"1s\""),
        &[],
        &[
            "`workload.arrivals.users`",
            "= 0",
            "an integer from 1 to 10000000 (or 0 with a stage that brings users in)",
        ],
    );
    expect_error(
        "closed-stage-after-the-end",
        POISSON,
        &closed("users = 10, think = \"1s\", stages = [{ at = \"2m\", users = 20 }]"),
        &[],
        &[
            "`workload.arrivals.stages.0.at`",
            "2m",
            "before the end of arrivals",
        ],
    );
    expect_error(
        "closed-stages-overlap",
        POISSON,
        &closed(
            "users = 10, think = \"1s\", stages = [{ at = \"10s\", users = 20, ramp = \"20s\" }, \
             { at = \"20s\", users = 5 }]",
        ),
        &[],
        &[
            "`workload.arrivals.stages.1.at`",
            "= 20s",
            "at or after 30s",
            "do not overlap",
        ],
    );
    expect_error(
        "closed-stage-too-many-users",
        POISSON,
        &closed("users = 10, think = \"1s\", stages = [{ at = \"10s\", users = 20000000 }]"),
        &[],
        &[
            "`workload.arrivals.stages.0.users`",
            "20000000",
            "0 to 10000000",
        ],
    );
    expect_error(
        "closed-stage-unknown-key",
        POISSON,
        &closed("users = 10, think = \"1s\", stages = [{ at = \"10s\", target = 20 }]"),
        &[],
        &["unknown field `target`", "`users`"],
    );
    expect_error(
        "closed-too-many-users",
        POISSON,
        &closed("users = 20000000, think = \"1s\""),
        &[],
        &["`workload.arrivals.users`", "20000000", "10000000"],
    );
    expect_error(
        "closed-no-think",
        POISSON,
        &closed("users = 10"),
        &[],
        &["`workload.arrivals`", "missing field `think`"],
    );
    expect_error(
        "closed-zero-think",
        POISSON,
        &closed("users = 10, think = \"0s\""),
        &[],
        &["`workload.arrivals.think`", "a mean > 0", "\"1us\""],
    );
    expect_error(
        "closed-zero-mean-think",
        POISSON,
        &closed("users = 10, think = { distribution = \"uniform\", min = \"0s\", max = \"0s\" }"),
        &[],
        &["`workload.arrivals.think`", "a mean of 0"],
    );
    expect_error(
        "closed-with-a-rate",
        POISSON,
        &closed("users = 10, think = \"1s\", rate = 5.0"),
        &[],
        &["unknown field `rate`", "`users`, `think`"],
    );
    expect_error(
        "closed-with-clients",
        POISSON,
        &format!(
            "{}\nclients = {{ count = 5 }}",
            closed("users = 10, think = \"1s\"")
        ),
        &[],
        &["`workload.clients`", "each of its users is its own client"],
    );
    expect_error(
        "closed-with-a-surge",
        POISSON,
        &format!(
            "{}\n[[workload.surges]]\nat = \"10s\"\nduration = \"5s\"\nmultiplier = 2.0",
            closed("users = 10, think = \"1s\"")
        ),
        &[],
        &[
            "`workload.surges`",
            "no surges with a closed workload",
            "`workload.arrivals.users`",
        ],
    );
}

#[test]
fn a_closed_workload_runs_deterministically_at_any_thread_count() {
    // 60 users against the base world, whose db fails 1 % of its tries.
    let to = r#"arrivals = { process = "closed", users = 60, think = { distribution = "exponential", mean = "500ms" } }"#;
    let (one, services_one) = run_variant("closed-1", POISSON, to, "1");
    let (three, services_three) = run_variant("closed-3", POISSON, to, "3");
    assert_eq!(one, three, "runs.csv is byte-identical at 1 and 3 threads");
    assert_eq!(services_one, services_three);
    // 60 users thinking 0.5 s send about 60 / (0.5 s + R) requests a second.
    let header: Vec<&str> = one.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|&c| c == "requests").unwrap();
    for line in one.lines().skip(1) {
        let requests: f64 = line.split(',').nth(col).unwrap().parse().unwrap();
        let rate = requests / 60.0;
        assert!(
            (105.0..=120.0).contains(&rate),
            "{rate}/s from 60 users: {one}"
        );
    }
}

#[test]
fn a_closed_population_is_held_to_what_the_run_can_carry() {
    let closed = |rest: &str| format!("arrivals = {{ process = \"closed\", {rest} }}");
    // More users than requests may be in flight.
    expect_error(
        "closed-over-max-in-flight",
        POISSON,
        &closed("users = 2000000, think = \"1s\""),
        &[],
        &[
            "`workload.arrivals.users`",
            "2000000 users at most",
            "`run.max_in_flight` = 1000000",
        ],
    );
    // Users that could send faster than the simulator's rate limit.
    expect_error(
        "closed-over-max-rate",
        POISSON,
        &closed("users = 1000000, think = \"1us\""),
        &[],
        &[
            "`workload.arrivals.think`",
            "at most 1e9 requests per second",
        ],
    );
}

/// `headroom trace synth` of BASE with `from` replaced by `to`: exit 2,
/// one line naming the file and containing `needle`, nothing written.
fn expect_synth_refusal(name: &str, to: &str, needle: &str) {
    let dir = tempdir(name);
    let scenario = dir.join("world.toml");
    std::fs::write(&scenario, BASE.replacen(POISSON, to, 1)).unwrap();
    let out = dir.join("trace.csv");
    let o = headroom(&[
        "trace",
        "synth",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = common::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{name}: {err}");
    assert_eq!(err.lines().count(), 1, "{name}: {err}");
    assert!(err.contains("world.toml"), "{name}: {err}");
    assert!(
        err.contains(needle),
        "{name}: {err:?} should mention {needle:?}"
    );
    assert!(!out.exists(), "{name}: nothing written");
}

#[test]
fn trace_synth_refuses_a_closed_workload_and_writes_nothing() {
    expect_synth_refusal(
        "service-bad-closed-synth",
        r#"arrivals = { process = "closed", users = 10, think = "1s" }"#,
        "closed workload",
    );
}

#[test]
fn a_bad_session_table_is_named_with_its_key() {
    let session = |rest: &str| format!("{POISSON}\nsession = {{ {rest} }}");
    expect_error(
        "session-no-requests",
        POISSON,
        &session("requests = 0, think = \"1s\""),
        &[],
        &[
            "`workload.session.requests`",
            "= 0",
            "a mean number of requests from 1 to 1000000",
        ],
    );
    expect_error(
        "session-fixed-fraction",
        POISSON,
        &session("requests = 2.5, length = \"fixed\", think = \"1s\""),
        &[],
        &[
            "`workload.session.requests`",
            "= 2.5",
            "a whole number of requests from 1 to 1000000 with `length = \"fixed\"`",
        ],
    );
    expect_error(
        "session-unknown-length",
        POISSON,
        &session("requests = 3, length = \"poisson\", think = \"1s\""),
        &[],
        &["`workload.session.length`", "poisson", "geometric", "fixed"],
    );
    expect_error(
        "session-no-think",
        POISSON,
        &session("requests = 3"),
        &[],
        &["workload.session", "think"],
    );
    expect_error(
        "session-zero-think",
        POISSON,
        &session("requests = 3, think = \"0s\""),
        &[],
        &["`workload.session.think`", "a mean > 0"],
    );
    expect_error(
        "session-unknown-key",
        POISSON,
        &session("requests = 3, think = \"1s\", pages = 3"),
        &[],
        &["workload.session", "pages"],
    );
    expect_error(
        "session-closed",
        POISSON,
        "arrivals = { process = \"closed\", users = 10, think = \"1s\" }\nsession = { \
             requests = 3, think = \"1s\" }",
        &[],
        &[
            "`workload.session`",
            "no sessions with `process = \"closed\"`",
        ],
    );
    expect_error(
        "session-abandon-above-one",
        POISSON,
        &session("requests = 3, think = \"1s\", abandon_after_failure = 1.5"),
        &[],
        &[
            "`workload.session.abandon_after_failure`",
            "= 1.5",
            "a probability from 0",
        ],
    );
    expect_error(
        "session-abandon-negative",
        POISSON,
        &session("requests = 3, think = \"1s\", abandon_after_failure = -0.1"),
        &[],
        &["`workload.session.abandon_after_failure`", "= -0.1"],
    );
    expect_error(
        "session-zero-patience",
        POISSON,
        &session("requests = 3, think = \"1s\", patience = \"0s\""),
        &[],
        &[
            "`workload.session.patience`",
            "a patience with a mean > 0",
            "leave it out",
        ],
    );
    // A session objective needs sessions, and is a fraction.
    expect_error(
        "session-slo-without-sessions",
        POISSON,
        &format!("{POISSON}\n[slo]\nsession_availability = 0.99"),
        &[],
        &[
            "`slo.session_availability`",
            "= 0.99",
            "add `workload.session`",
            "`slo.availability`",
        ],
    );
    expect_error(
        "session-slo-above-one",
        POISSON,
        &format!(
            "{}\n[slo]\nsession_availability = 1.2",
            session("requests = 3, think = \"1s\"")
        ),
        &[],
        &[
            "`slo.session_availability`",
            "= 1.2",
            "a fraction in (0, 1]",
        ],
    );
    // A freshness objective is a fraction, of reads of a datastore's keys.
    expect_error(
        "stale-slo-without-datastore",
        POISSON,
        &format!("{POISSON}\n[slo]\nmax_stale_read_ratio = 0.01"),
        &[],
        &["`slo.max_stale_read_ratio`", "= 0.01", "[[datastores]]"],
    );
    expect_error(
        "stale-slo-above-one",
        POISSON,
        &format!("{POISSON}\n[slo]\nmax_stale_read_ratio = 1.5"),
        &[],
        &[
            "`slo.max_stale_read_ratio`",
            "= 1.5",
            "a fraction in [0, 1]",
        ],
    );
    // A cost objective needs prices: without them every configuration
    // costs 0 and it holds for all.
    let costs = &BASE[BASE.find("[costs]").unwrap()..];
    let unpriced = BASE
        .replacen(costs, "[slo]\nmax_cost_per_month = 500.0\n", 1)
        .replace("type = \"small\", ", "");
    let dir = tempdir("service-bad-cost-slo-without-costs");
    expect_refused(
        &write(&dir, "world.toml", &unpriced),
        &[],
        &["`slo.max_cost_per_month`", "= 500", "add [costs]"],
    );
    // Sessions that would keep more than 10^7 of them open at once.
    expect_error(
        "session-too-many-open",
        POISSON,
        &session("requests = 1000, think = \"1h\""),
        &[],
        &[
            "`workload.session`",
            "sessions thinking at once",
            "at most 10000000",
        ],
    );
    // Sessions whose requests come faster than the simulator's rate limit.
    expect_error(
        "session-over-max-rate",
        POISSON,
        "arrivals = { process = \"poisson\", rate = 1e6 }\nsession = { requests = 2000, \
             think = \"1us\" }",
        &[],
        &[
            "`workload.arrivals`",
            "sessions/s",
            "at most 1e9 requests per second",
        ],
    );
}

#[test]
fn sessions_run_deterministically_at_any_thread_count() {
    // 20 sessions/s of 6 requests on average against the base world, whose
    // db fails 1 % of its tries, each session from one of 50 clients that
    // an edge limit of 20 requests a second each keys on; half the users
    // give up after a failure, and some leave when an answer is slow.
    let to = "arrivals = { process = \"poisson\", rate = 20.0 }\nsession = { requests = 6, \
         think = { distribution = \"exponential\", mean = \"200ms\" }, \
         abandon_after_failure = 0.5, patience = { distribution = \"exponential\", mean = \
         \"5s\" } }\nclients = { \
         count = 50 }\n[edge]\nrate_limit = \"per-client\"\n[policy.rate_limit.per-client]\n\
         strategy = \"sliding-window\"\nwindow = \"1s\"\nmax = 20\nkey = \"client\""
        .to_owned();
    let (one, services_one) = run_variant("sessions-1", POISSON, &to, "1");
    let (three, services_three) = run_variant("sessions-3", POISSON, &to, "3");
    assert_eq!(one, three, "runs.csv is byte-identical at 1 and 3 threads");
    assert_eq!(services_one, services_three);
    // 20 sessions/s of 6 requests: 120 requests/s.
    let header: Vec<&str> = one.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|&c| c == name).unwrap();
    for line in one.lines().skip(1) {
        let cell = |name: &str| -> f64 { line.split(',').nth(col(name)).unwrap().parse().unwrap() };
        let rate = cell("requests") / 60.0;
        assert!((100.0..=140.0).contains(&rate), "{rate}/s: {one}");
        // About 1,200 sessions, some spoiled by the db's errors, and about
        // half of those with requests left given up.
        assert!((1000.0..=1400.0).contains(&cell("sessions")), "{one}");
        let (answered, abandoned) = (cell("session_availability"), cell("sessions_abandoned"));
        assert!(answered > 0.8 && answered < 1.0, "{one}");
        assert!(
            abandoned > 0.0 && abandoned < (1.0 - answered) * cell("sessions"),
            "{one}"
        );
    }
}

/// A warm-up shorter than a session's mean span (here (6 - 1) x 10 s =
/// 50 s) is warned of, on the terminal and in `summary.md`; a longer one
/// is not. So is a run shorter than ten spans (here 2 minutes), and a
/// 9-minute run with a minute's warm-up is warned of neither.
#[test]
fn a_warm_up_shorter_than_a_session_is_warned_of() {
    let dir = tempdir("service-session-warmup");
    let scenario = dir.join("world.toml");
    let to = format!(
        "{POISSON}\nsession = {{ requests = 6, think = {{ distribution = \"exponential\", \
         mean = \"10s\" }} }}"
    );
    std::fs::write(&scenario, BASE.replacen(POISSON, &to, 1)).unwrap();
    // (warm-up, duration, warned of the warm-up, of the duration)
    for (warmup, duration, warned, short) in [
        ("5s", "2m", true, true),
        ("55s", "2m", false, true),
        ("1m", "9m", false, false),
    ] {
        let out = dir.join(format!("out-{warmup}"));
        let o = headroom(&[
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--set",
            &format!("run.warmup=\"{warmup}\""),
            "--set",
            &format!("run.duration=\"{duration}\""),
        ]);
        let err = common::stderr(&o);
        assert!(o.status.success(), "{err}");
        let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
        let text = "the warm-up (5.0 s) is shorter than a session's mean span";
        assert_eq!(err.contains(text), warned, "{warmup}: {err}");
        assert_eq!(summary.contains(text), warned, "{warmup}: {summary}");
        assert_eq!(
            err.contains("= 50.0 s): sessions start from none open"),
            warned,
            "{err}"
        );
        // Two minutes are fewer than ten sessions' spans.
        let text = "the run (120.0 s) lasts fewer than 10 times a session's mean span (50.0 s)";
        assert_eq!(err.contains(text), short, "{duration}: {err}");
        assert_eq!(err.contains("session"), warned || short, "{err}");
    }
}

#[test]
fn trace_synth_refuses_sessions_and_writes_nothing() {
    expect_synth_refusal(
        "service-bad-session-synth",
        &format!("{POISSON}\nsession = {{ requests = 3, think = \"1s\" }}"),
        "`workload.session`",
    );
}

/// An SLO per client region needs clients in two regions or more.
#[test]
fn an_slo_per_region_needs_two_regions() {
    expect_error(
        "slo-per-region-one-region",
        "[[regions]]\nname = \"us-east\"\n[[regions]]\nname = \"eu-west\"\n\n[network.rtt.us-east]\neu-west = \"80ms\"\n",
        "[[regions]]\nname = \"us-east\"\n\n[slo]\np99 = \"1s\"\nper_region = true\n",
        &[],
        &[
            "`slo.per_region`",
            "true with 1 [[regions]]",
            "two [[regions]] or more",
            "`per_region = false`",
        ],
    );
}
