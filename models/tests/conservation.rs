//! Invariants over many seeds and randomised configurations: every arrival
//! ends exactly once, memory is bounded by the queue limits, and a
//! replication is a pure function of (plan, replication).

use std::path::Path;
use std::sync::atomic::AtomicU64;

use headroom_models::{load_str, run_replication};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

/// A random but valid scenario: 1-4 replicas, 1-8 workers, bounded or
/// unbounded queues, any balancer, any work distribution, loads from light
/// to overloaded (overload only with bounded queues).
fn random_scenario(rng: &mut Pcg64, seed: u64) -> String {
    let workers: u32 = rng.random_range(1..=8);
    let replicas: u32 = rng.random_range(1..=4);
    let bounded = rng.random_bool(0.6);
    let queue = if bounded {
        rng.random_range(0..=10u32).to_string()
    } else {
        "\"unbounded\"".to_owned()
    };
    // Overload (rho up to 2) only when queues are bounded.
    let rho = if bounded {
        rng.random_range(0.1..2.0)
    } else {
        rng.random_range(0.1..0.8)
    };
    let lb = ["round-robin", "random", "least-connections"][rng.random_range(0..3usize)];
    let work = match rng.random_range(0..5u32) {
        0 => "{ distribution = \"exponential\", mean = \"10ms\" }",
        1 => "{ distribution = \"deterministic\", mean = \"10ms\" }",
        2 => "{ distribution = \"uniform\", min = \"1ms\", max = \"19ms\" }",
        3 => "{ distribution = \"lognormal\", mean = \"10ms\", cv = 3.0 }",
        _ => "{ distribution = \"pareto\", mean = \"10ms\", shape = 2.5 }",
    };
    let rate = rho * f64::from(workers * replicas) / 0.010;
    format!(
        r#"
[run]
duration = "20s"
warmup = "{warmup}s"
replications = 1
seed = {seed}
timeseries_interval = "3s"

[workload]
arrivals = {{ process = "poisson", rate = {rate} }}

[[services]]
name = "svc"
instance = {{ workers = {workers}, queue = {queue} }}
work = {work}
replicas = {replicas}
load_balancer = "{lb}"
"#,
        warmup = rng.random_range(0..5u32),
    )
}

#[test]
fn every_arrival_ends_exactly_once_over_many_seeds() {
    let mut rng = Pcg64::seed_from_u64(2026);
    for seed in 0..200u64 {
        let text = random_scenario(&mut rng, seed);
        let loaded = load_str(Path::new("random.toml"), &text, &[])
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let out = run_replication(&loaded.plan, 0, &AtomicU64::new(0))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let m = &out.metrics;
        assert_eq!(m.requests, m.ended(), "seed {seed}: {m:?}\n{text}");
        assert!(m.requests > 0, "seed {seed}");
        let bounded = !text.contains("unbounded");
        if bounded {
            let plan = &loaded.plan.services[0];
            // A request that finds every queue full stays in flight until its
            // 503 is delivered, an event at the same instant, and the
            // arrivals due at that very nanosecond come first (they were
            // scheduled before it): one more per arrival at the instant.
            // Two arrivals in one nanosecond are common at the highest rates
            // here (20 s x lambda x lambda x 1 ns = 0.8 a run at lambda =
            // 6400/s; seeds 200-6199 of this generator found one, seed 638,
            // 70 in flight with 68 places); three, once in about 190 000
            // runs at that rate (20 s x lambda x (lambda x 1 ns)^2).
            let capacity = u64::from(plan.scaling.initial())
                * (u64::from(plan.workers) + plan.queue.unwrap_or(0))
                + 2;
            assert!(
                out.peak_in_flight <= capacity,
                "seed {seed}: {} in flight exceeds replicas x (workers + queue) + 2 = {capacity}",
                out.peak_in_flight
            );
        }
        // Time series: arrivals over all intervals cover every arrival in
        // [0, duration), warm-up included.
        let mut prev_t = 0.0;
        let mut arrivals = 0.0;
        for row in &out.timeseries {
            arrivals += row.arrivals_rps * (row.t_s - prev_t);
            prev_t = row.t_s;
        }
        assert_eq!(prev_t, 20.0, "the last interval ends at the duration");
        assert!(
            arrivals.round() >= m.requests as f64,
            "seed {seed}: {arrivals} < {}",
            m.requests
        );
    }
}

#[test]
fn a_replication_is_a_pure_function_of_plan_and_index() {
    let mut rng = Pcg64::seed_from_u64(7);
    let text = random_scenario(&mut rng, 11);
    let loaded = load_str(Path::new("random.toml"), &text, &[]).unwrap();
    let a = run_replication(&loaded.plan, 3, &AtomicU64::new(0)).unwrap();
    let b = run_replication(&loaded.plan, 3, &AtomicU64::new(0)).unwrap();
    let c = run_replication(&loaded.plan, 4, &AtomicU64::new(0)).unwrap();
    assert_eq!(a.metrics.cells(), b.metrics.cells());
    // Bit for bit: as text, where NaN (an interval without a read has no
    // stale_read_ratio) equals NaN.
    assert_eq!(format!("{:?}", a.timeseries), format!("{:?}", b.timeseries));
    assert_ne!(a.metrics.cells(), c.metrics.cells());
}

#[test]
fn memory_stays_flat_as_duration_grows() {
    // A bounded system run 1x and 20x as long holds the same number of
    // request slots at most: requests are freed when they finish.
    let text = |duration: &str| {
        format!(
            r#"
[run]
duration = "{duration}"
replications = 1
timeseries_interval = "1h"
[workload]
arrivals = {{ process = "poisson", rate = 900.0 }}
[[services]]
name = "svc"
instance = {{ workers = 10, queue = 5 }}
work = {{ distribution = "exponential", mean = "10ms" }}
replicas = 1
"#
        )
    };
    let short = load_str(Path::new("short.toml"), &text("10m"), &[]).unwrap();
    let long = load_str(Path::new("long.toml"), &text("200m"), &[]).unwrap();
    let short = run_replication(&short.plan, 0, &AtomicU64::new(0)).unwrap();
    let long = run_replication(&long.plan, 0, &AtomicU64::new(0)).unwrap();
    assert!(long.metrics.requests > 15 * short.metrics.requests);
    assert!(short.peak_in_flight <= 16 && long.peak_in_flight <= 16);
}

/// A random but valid multi-service scenario: 1-5 services in an acyclic
/// call graph (service i calls only services after it) with sequential and
/// parallel steps, both concurrency models, fixed or autoscaled replicas in
/// 1-3 regions with RTTs and sometimes a failover policy, mesh timeouts
/// (overall and per try), retries with or without a budget, hedged calls,
/// breakers in both modes, fallbacks, an edge rate limit, adaptive
/// concurrency limits at instances and at the edge, and faults: errors, latency,
/// instance crashes and region outages.
/// `[policy.adaptive_concurrency.NAME]` with random short windows and a
/// floor below `floor_below`, then the lines `extra`.
fn random_controller(rng: &mut Pcg64, name: &str, floor_below: u32, extra: &str) -> String {
    format!(
        "[policy.adaptive_concurrency.{name}]\nupdate_interval = \"{}ms\"\nmin_rtt_interval = \"{}s\"\nmin_rtt_requests = {}\nmin_concurrency = {}\njitter = {:.2}\n{extra}",
        rng.random_range(10..500u32),
        rng.random_range(1..10u32),
        rng.random_range(1..60u32),
        rng.random_range(1..floor_below),
        rng.random_range(0.0..0.5f64),
    )
}

fn random_world(rng: &mut Pcg64, seed: u64) -> String {
    let mut s = String::new();
    let duration = rng.random_range(10..=40u32);
    let regions = rng.random_range(1..=3usize);
    let names = ["r0", "r1", "r2"];
    s += &format!(
        "[run]\nduration = \"{duration}s\"\nwarmup = \"{}s\"\nreplications = 1\nseed = {seed}\ntimeseries_interval = \"2s\"\n\n",
        rng.random_range(0..4u32)
    );
    s += &format!(
        "[workload]\narrivals = {{ process = \"poisson\", rate = {} }}\nclients = {{ count = {}, popularity = \"zipf\", s = 1.1 }}\n",
        rng.random_range(20.0..400.0f64),
        rng.random_range(1..=50u32)
    );
    let n = rng.random_range(1..=5usize);
    if n > 1 && rng.random_bool(0.3) {
        s += "entry = { s0 = 0.7, s1 = 0.3 }\n";
    }
    s += "\n";
    if regions > 1 {
        for r in &names[..regions] {
            s += &format!("[[regions]]\nname = \"{r}\"\n");
        }
        for a in 0..regions {
            let pairs: Vec<String> = (a + 1..regions)
                .map(|b| format!("{} = \"{}ms\"", names[b], rng.random_range(1..80u32)))
                .collect();
            if !pairs.is_empty() {
                s += &format!("[network.rtt.{}]\n{}\n", names[a], pairs.join("\n"));
            }
        }
        s += "\n";
    }
    let mut autoscalers = Vec::new();
    // Adaptive concurrency draws from its own stream, so the worlds without
    // it are the ones this test always drew.
    let mut limit_rng = Pcg64::seed_from_u64(0xAC_0C ^ seed);
    let mut limited = Vec::new();
    for i in 0..n {
        let model = if rng.random_bool(0.5) {
            "threads"
        } else {
            "event-loop"
        };
        let queue = if rng.random_bool(0.5) {
            rng.random_range(0..20u32).to_string()
        } else {
            "\"unbounded\"".to_owned()
        };
        s += &format!(
            "[[services]]\nname = \"s{i}\"\ninstance = {{ workers = {}, queue = {queue}, model = \"{model}\" }}\nwork = {{ distribution = \"exponential\", mean = \"{}ms\" }}\n",
            rng.random_range(2..=40u32),
            rng.random_range(1..=8u32)
        );
        if regions > 1 && rng.random_bool(0.3) {
            s += "regions = [\"r0\", \"r1\"]\n";
        }
        if rng.random_bool(0.3) {
            s += &format!(
                "autoscaler = \"a{i}\"\nboot_time = \"{}s\"\n",
                rng.random_range(0..5u32)
            );
            autoscalers.push(i);
        } else {
            s += &format!("replicas = {}\n", rng.random_range(1..=3u32));
        }
        let steps: Vec<String> = (0..rng.random_range(0..=2u32))
            .filter_map(|_| {
                let later: Vec<usize> = (i + 1..n).collect();
                if later.is_empty() {
                    return None;
                }
                let pick = |rng: &mut Pcg64| later[rng.random_range(0..later.len())];
                Some(if rng.random_bool(0.3) && later.len() > 1 {
                    let (a, b) = (pick(rng), pick(rng));
                    format!("{{ parallel = [{{ service = \"s{a}\" }}, {{ service = \"s{b}\" }}] }}")
                } else {
                    format!("{{ service = \"s{}\" }}", pick(rng))
                })
            })
            .collect();
        if !steps.is_empty() {
            s += &format!("calls = [{}]\n", steps.join(", "));
        }
        if limit_rng.random_bool(0.3) {
            s += &format!("adaptive_concurrency = \"c{i}\"\n");
            limited.push(i);
        }
        s += "\n";
    }
    for i in limited {
        // Short intervals and few minRTT requests, so that a world of tens
        // of seconds goes through every phase: measurements, updates,
        // the floor, and a fixed minRTT.
        let fixed = if limit_rng.random_bool(0.3) {
            format!("min_rtt = \"{}ms\"\n", limit_rng.random_range(1..20u32))
        } else {
            String::new()
        };
        s += &random_controller(&mut limit_rng, &format!("c{i}"), 5, &fixed);
    }
    for i in autoscalers {
        s += &format!(
            "[policy.autoscaler.a{i}]\nmin_replicas = 1\nmax_replicas = 6\ntarget_rps = {}\nsync_period = \"2s\"\n",
            rng.random_range(20..200u32)
        );
    }
    s += "[policy.mesh]\n";
    let timeout = rng.random_range(20..2000u32);
    s += &format!("timeout = \"{timeout}ms\"\n");
    let has_retry = rng.random_bool(0.7);
    if has_retry {
        let budget = if rng.random_bool(0.5) {
            "budget = { ratio = 1000.0, min_per_s = 1000000 }".to_owned()
        } else {
            "budget = { ratio = 0.2, min_per_s = 5 }".to_owned()
        };
        let per_try = if rng.random_bool(0.5) {
            // Below the overall timeout, as the scenario requires.
            format!(
                "per_try_timeout = \"{}ms\", ",
                rng.random_range(5..200u32.min(timeout))
            )
        } else {
            String::new()
        };
        s += &format!(
            "retry = {{ attempts = {}, backoff = \"exponential\", base = \"2ms\", {per_try}retry_on = [\"5xx\", \"timeout\"], {budget} }}\n",
            rng.random_range(1..=4u32)
        );
    }
    match rng.random_range(0..3u32) {
        0 => {
            s += "circuit_breaker = { mode = \"consecutive\", max_failures = 3, min_penalty = \"200ms\", max_penalty = \"2s\" }\n"
        }
        1 => {
            s += "circuit_breaker = { failure_rate_threshold = 0.5, minimum_calls = 10, window = 20, open_duration = \"1s\", half_open_calls = 2 }\n"
        }
        _ => {}
    }
    if rng.random_bool(0.3) {
        s += "fallback = \"degraded\"\n";
    }
    if rng.random_bool(0.4) {
        s += &random_hedge(rng, has_retry);
    }
    let edge_rate = rng.random_bool(0.3);
    // Its own stream, so the worlds without it stay as they were.
    let edge_limit = limit_rng.random_bool(0.2);
    if edge_rate || edge_limit {
        s += "\n[edge]\n";
    }
    if edge_limit {
        s += "adaptive_concurrency = \"edge\"\n";
    }
    if edge_rate {
        s += "rate_limit = \"rl\"\n[policy.rate_limit.rl]\nstrategy = \"sliding-window\"\nwindow = \"1s\"\nmax = 20\nkey = \"client\"\n";
    }
    if edge_limit {
        s += &random_controller(&mut limit_rng, "edge", 8, "");
    }
    if rng.random_bool(0.4) {
        s += "\n[policy.load_balancer]\nalgorithm = \"least-connections\"\nhealth_check = { interval = \"1s\", timeout = \"200ms\" }\n";
    }
    if regions > 1 && rng.random_bool(0.6) {
        s += "\n[policy.failover]\norder = [\"r0\", \"r1\"]\nhealth_check = { interval = \"1s\", timeout = \"100ms\", unhealthy_threshold = 2 }\n";
    }
    for _ in 0..rng.random_range(0..=3u32) {
        let target = rng.random_range(0..n);
        let at = rng.random_range(0..duration);
        let length = rng.random_range(1..=10u32);
        s += &match rng.random_range(0..4u32) {
            0 => format!(
                "\n[[faults]]\ntype = \"errors\"\ntarget = \"s{target}\"\nrate = {}\nat = \"{at}s\"\nduration = \"{length}s\"\n",
                rng.random_range(0.05..0.9f64)
            ),
            1 => format!(
                "\n[[faults]]\ntype = \"latency\"\ntarget = \"s{target}\"\nadd = \"{}ms\"\nat = \"{at}s\"\nduration = \"{length}s\"\n",
                rng.random_range(1..300u32)
            ),
            2 => format!(
                "\n[[faults]]\ntype = \"instance-crash\"\nservice = \"s{target}\"\nmtbf = \"{}s\"\n",
                rng.random_range(2..30u32)
            ),
            _ if regions > 1 => format!(
                "\n[[faults]]\ntype = \"region-outage\"\nregion = \"r{}\"\nat = \"{at}s\"\nduration = \"{length}s\"\n",
                rng.random_range(0..regions)
            ),
            _ => String::new(),
        };
    }
    s
}

/// `world` with its open arrivals and clients replaced by `users` users
/// thinking an exponential time of mean `think_ms`, and `stages`.
fn closed_world(world: &str, users: u32, think_ms: u32, stages: &str) -> String {
    world
        .lines()
        .filter(|l| !l.starts_with("clients = "))
        .map(|l| {
            if l.starts_with("arrivals = ") {
                format!(
                    "arrivals = {{ process = \"closed\", users = {users}, think = \
                     {{ distribution = \"exponential\", mean = \"{think_ms}ms\" }}, \
                     stages = [{stages}] }}"
                )
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `world` whose arrivals start sessions of `length` (the table's
/// `requests` and `length` keys) thinking an exponential time of mean
/// `think_ms`, at a third of the world's rate (so the request rate stays
/// about what it was).
fn session_world(world: &str, length: &str, think_ms: u32) -> String {
    world
        .lines()
        .map(
            |l| match l.strip_prefix("arrivals = { process = \"poisson\", rate = ") {
                Some(rest) => {
                    let rate: f64 = rest.trim_end_matches(" }").parse().expect("a rate");
                    format!(
                        "arrivals = {{ process = \"poisson\", rate = {} }}\nsession = {{ {length}, \
                     think = {{ distribution = \"exponential\", mean = \"{think_ms}ms\" }} }}",
                        rate / 3.0
                    )
                }
                None => l.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `hedge` table for `[policy.mesh]`: a fixed delay (zero included) or a
/// percentile with a fallback, 1-3 hedges, sometimes racing on timeouts;
/// its own budget (generous or tight) on edges without retries.
fn random_hedge(rng: &mut Pcg64, has_retry: bool) -> String {
    let delay = if rng.random_bool(0.5) {
        format!("delay = \"{}ms\"", rng.random_range(0..30u32))
    } else {
        format!(
            "percentile = {}, min_samples = {}, window = \"1s\", delay = \"{}ms\"",
            rng.random_range(0.5..0.99f64),
            rng.random_range(1..50u32),
            rng.random_range(1..30u32)
        )
    };
    let retry_on = if rng.random_bool(0.5) {
        ", retry_on = [\"5xx\", \"timeout\", \"reset\"]"
    } else {
        ""
    };
    let budget = match (has_retry, rng.random_bool(0.5)) {
        (true, _) => "",
        (false, true) => ", budget = { ratio = 1000.0, min_per_s = 1000000 }",
        (false, false) => ", budget = { ratio = 0.1, min_per_s = 2 }",
    };
    format!(
        "hedge = {{ {delay}, max_hedged = {}{retry_on}{budget} }}\n",
        rng.random_range(1..=3u32)
    )
}

/// Every arrival ends exactly once (and nothing is left in flight, held or
/// queued) in 200 random multi-service worlds with retries, timeouts,
/// breakers, crashes and outages. The engine's own audit is checked by
/// `run_replication`; this test also checks the reported outcome counts.
#[test]
fn every_arrival_ends_exactly_once_in_random_worlds() {
    let only = std::env::var("HEADROOM_CONSERVATION_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    let mut failures = Vec::new();
    let mut session_worlds = 0;
    // Worlds where some service's call edge retried, hedged, kept a breaker
    // open, and timed a try out.
    let mut edge_worlds = [0u32; 4];
    let mut wasted_worlds = 0u32;
    for seed in 0..200u64 {
        if only.is_some_and(|o| o != seed) {
            continue;
        }
        let mut rng = Pcg64::seed_from_u64(0xC0_5E ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut text = random_world(&mut rng, seed);
        // About a third of the worlds have a closed workload instead, drawn
        // from a stream of their own so that the open worlds stay as they
        // were.
        let mut closed_rng = Pcg64::seed_from_u64(0xC1_05ED ^ seed);
        let users = closed_rng
            .random_bool(0.3)
            .then(|| closed_rng.random_range(1..=300u32));
        if let Some(users) = users {
            let think_ms = closed_rng.random_range(1..=500u32);
            // 0-2 stages moving the population within the first 10 s.
            let mut at = 0;
            let stages: Vec<String> = (0..closed_rng.random_range(0..=2u32))
                .map(|_| {
                    at += closed_rng.random_range(0..5u32);
                    let ramp = closed_rng.random_range(0..3u32);
                    let stage = format!(
                        "{{ at = \"{at}s\", users = {}, ramp = \"{ramp}s\" }}",
                        closed_rng.random_range(0..=300u32)
                    );
                    at += ramp;
                    stage
                })
                .collect();
            text = closed_world(&text, users, think_ms, &stages.join(", "));
        } else {
            // About a third of the open worlds start sessions instead of
            // single requests, again from a stream of their own.
            let mut session_rng = Pcg64::seed_from_u64(0x5E_5510 ^ seed);
            if session_rng.random_bool(0.35) {
                let length = if session_rng.random_bool(0.5) {
                    format!(
                        "requests = {}, length = \"fixed\"",
                        session_rng.random_range(1..=6u32)
                    )
                } else {
                    format!("requests = {:.2}", session_rng.random_range(1.0..4.0f64))
                };
                let think_ms = session_rng.random_range(1..=300u32);
                // Half of them with users who give up after a failure.
                let length = if session_rng.random_bool(0.5) {
                    format!(
                        "{length}, abandon_after_failure = {:.2}",
                        session_rng.random_range(0.0..=1.0f64)
                    )
                } else {
                    length
                };
                // And half with users who leave when an answer is slow.
                let length = if session_rng.random_bool(0.5) {
                    format!(
                        "{length}, patience = {{ distribution = \"exponential\", mean = \"{}ms\" }}",
                        session_rng.random_range(1..=200u32)
                    )
                } else {
                    length
                };
                text = session_world(&text, &length, think_ms);
                assert!(
                    text.contains("\nsession = "),
                    "seed {seed}: no arrivals line"
                );
                session_worlds += 1;
            }
        }
        let reproduce = format!(
            "HEADROOM_CONSERVATION_SEED={seed} cargo test -p headroom-models --test conservation every_arrival_ends_exactly_once_in_random_worlds -- --nocapture"
        );
        if only.is_some() {
            println!("{text}");
        }
        let loaded = match load_str(Path::new("random-world.toml"), &text, &[]) {
            Ok(l) => l,
            Err(e) => {
                failures.push(format!(
                    "seed {seed}: invalid scenario: {e}\n{text}\nreproduce: {reproduce}"
                ));
                continue;
            }
        };
        match run_replication(&loaded.plan, 0, &AtomicU64::new(0)) {
            Err(e) => failures.push(format!("seed {seed}: {e}\n{text}\nreproduce: {reproduce}")),
            Ok(out) => {
                let m = &out.metrics;
                let a = &out.audit;
                if a.violation().is_some() || m.requests != m.ended() || a.arrivals == 0 {
                    failures.push(format!(
                        "seed {seed}: {a:?} {m:?}\n{text}\nreproduce: {reproduce}"
                    ));
                }
                // A session given up had a failure; each sent a request
                // (sums of the same weights, to their rounding).
                let over = |a: f64, b: f64| a > b * (1.0 + 1e-12);
                if let Some(s) = m.sessions
                    && (s.abandoned > s.sessions
                        || over(s.answered + s.given_up, s.weight)
                        || over(s.weight, s.requests))
                {
                    failures.push(format!(
                        "seed {seed}: sessions {s:?}\n{text}\nreproduce: {reproduce}"
                    ));
                }
                // Per service: the limit's refusals are among the tries
                // shed, those among the failed, those among the tries; a
                // limit was met only where one is configured, and stays
                // within its floor and ceiling (Envoy's default 1000).
                for (row, plan) in out.services.iter().zip(&loaded.plan.services) {
                    let limited = plan.adaptive_concurrency.is_some();
                    let limit = row.concurrency_limit_mean;
                    let in_range = if limited {
                        row.requests == 0 || (1.0..=1000.0).contains(&limit)
                    } else {
                        limit.is_nan() && row.concurrency_blocked == 0
                    };
                    if row.concurrency_blocked > row.shed
                        || row.shed > row.errors
                        || row.errors > row.requests
                        || !in_range
                    {
                        failures.push(format!(
                            "seed {seed}: service {}: {} tries, {} errors, {} shed, {} blocked, \
                             limit met {limit}\n{text}\nreproduce: {reproduce}",
                            row.service,
                            row.requests,
                            row.errors,
                            row.shed,
                            row.concurrency_blocked
                        ));
                    }
                }
                // Each abandoned try's worker time is its service's, and
                // its deployment's: they add up to the run's.
                let by_service: f64 = out.services.iter().map(|r| r.wasted_work_s).sum();
                let by_deployment: f64 =
                    out.deployments.iter().map(|d| d.stats.wasted_work_s).sum();
                let total = m.wasted_work_s;
                let near = |x: f64| (x - total).abs() <= 1e-9 * total.max(1.0);
                if !near(by_service) || !(out.deployments.is_empty() || near(by_deployment)) {
                    failures.push(format!(
                        "seed {seed}: wasted work {total} s, by service {by_service}, by \
                         deployment {by_deployment}\n{text}\nreproduce: {reproduce}"
                    ));
                }
                wasted_worlds += u32::from(total > 0.0);
                if let Some(why) = deployment_fault(&out, &loaded.plan) {
                    failures.push(format!(
                        "seed {seed}: {why}\n{text}\nreproduce: {reproduce}"
                    ));
                }
                let busy_edges = |f: fn(&headroom_models::EdgeRow) -> bool| {
                    u32::from(out.edges.iter().any(|e| e.caller != "edge" && f(e)))
                };
                edge_worlds[0] += busy_edges(|e| e.retries > 0);
                edge_worlds[1] += busy_edges(|e| e.hedges > 0);
                edge_worlds[2] += busy_edges(|e| e.breaker_open_s > 0.0);
                edge_worlds[3] += busy_edges(|e| e.try_timeouts > 0);
                if let Some(why) = edge_fault(&out, &loaded.plan) {
                    failures.push(format!(
                        "seed {seed}: {why}\n{text}\nreproduce: {reproduce}"
                    ));
                }
                if let Some(why) = edge_series_fault(&out, &loaded.plan) {
                    failures.push(format!(
                        "seed {seed}: {why}\n{text}\nreproduce: {reproduce}"
                    ));
                }
                if let Some(why) = service_series_fault(&out) {
                    failures.push(format!(
                        "seed {seed}: {why}\n{text}\nreproduce: {reproduce}"
                    ));
                }
                // A closed population never has more requests in flight
                // than users.
                if let Some(users) = loaded.plan.workload.arrivals.max_users()
                    && out.peak_in_flight > u64::from(users)
                {
                    failures.push(format!(
                        "seed {seed}: {} requests in flight at once from {users} users\n{text}\n\
                         reproduce: {reproduce}",
                        out.peak_in_flight
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 200 worlds fail:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        only.is_some() || session_worlds >= 30,
        "{session_worlds} worlds with sessions"
    );
    // (102 of 200 when written.)
    assert!(
        only.is_some() || wasted_worlds >= 30,
        "{wasted_worlds} worlds wasted work"
    );
    // Each per-edge figure is checked where it happens (43, 47, 45 and 30
    // worlds of 200 when written).
    assert!(
        only.is_some() || edge_worlds.iter().all(|&n| n >= 15),
        "worlds whose services' edges retried, hedged, kept breakers open, timed tries out: \
         {edge_worlds:?}"
    );
}

/// What is wrong with a replication's call edges (`edges.csv`), if
/// anything: one row per entry service and per service's callee, in order;
/// each row's outcomes adding up to its calls, one latency per call, its
/// refusals among its errors and fallbacks; the edges' hedges and breaker
/// time adding up to the run's, their retries too (the run's also count
/// datastore retries).
fn edge_fault(out: &headroom_models::RunOutput, plan: &headroom_models::Plan) -> Option<String> {
    let name = |s: headroom_models::plan::ServiceId| plan.services[s.index()].name.as_str();
    let expected: Vec<(&str, &str)> = plan
        .workload
        .entries
        .iter()
        .map(|e| ("edge", name(e.service)))
        .chain(
            plan.services
                .iter()
                .flat_map(|p| p.callees.iter().map(move |&c| (p.name.as_str(), name(c)))),
        )
        .collect();
    let got: Vec<(&str, &str)> = out
        .edges
        .iter()
        .map(|e| (e.caller.as_str(), e.callee.as_str()))
        .collect();
    if got != expected {
        return Some(format!("edges {got:?}, expected {expected:?}"));
    }
    for e in &out.edges {
        let outcomes = e.ok + e.degraded + e.errors + e.timeouts + e.shed + e.rejected;
        if outcomes != e.calls
            || e.latency.count() != e.calls
            || e.refused > e.errors + e.degraded
            || e.breaker_open_s < 0.0
        {
            return Some(format!("edge {}->{}: {e:?}", e.caller, e.callee));
        }
    }
    let m = &out.metrics;
    let retries: u64 = out.edges.iter().map(|e| e.retries).sum();
    let hedges: u64 = out.edges.iter().map(|e| e.hedges).sum();
    let open: f64 = out.edges.iter().map(|e| e.breaker_open_s).sum();
    let retries_wrong = if plan.data.stores.is_empty() {
        retries != m.retries
    } else {
        retries > m.retries
    };
    if retries_wrong
        || hedges != m.hedges
        || (open - m.breaker_open_s).abs() > 1e-6 * m.breaker_open_s.max(1.0)
    {
        return Some(format!(
            "edges: {retries} retries, {hedges} hedges, {open} breaker-s; the run's {}, {}, {}",
            m.retries, m.hedges, m.breaker_open_s
        ));
    }
    None
}

/// What is wrong with a replication's deployments (`deployments.csv`), if
/// anything: with two regions or more, one row per service and region it
/// runs in, in order; per service, the tries, errors, sheds, refusals and
/// latencies of its deployments adding up to its own exactly, their mean
/// instances to its mean, and its most instances at once between their
/// largest and their sum; and so interval by interval
/// (`deployments_timeseries.csv`). None with one region, and no rows.
fn deployment_fault(
    out: &headroom_models::RunOutput,
    plan: &headroom_models::Plan,
) -> Option<String> {
    let regions = &plan.network.regions;
    let expected: Vec<(&str, &str)> = if regions.len() < 2 {
        Vec::new()
    } else {
        plan.services
            .iter()
            .flat_map(|s| {
                plan.network
                    .region_ids()
                    .filter(|&r| s.runs_in(r))
                    .map(|r| (s.name.as_str(), plan.network.name(r)))
            })
            .collect()
    };
    let got: Vec<(&str, &str)> = out
        .deployments
        .iter()
        .map(|d| (d.stats.service.as_str(), d.region.as_str()))
        .collect();
    if got != expected {
        return Some(format!("deployments {got:?}, expected {expected:?}"));
    }
    if expected.is_empty() {
        return (!out.deployment_timeseries.is_empty())
            .then(|| "deployment interval rows with one region".to_owned());
    }
    // Their time series: every deployment of every interval, in order, at
    // the run's intervals; per interval, each service's counts and
    // instances its deployments' added up, its tries per second too.
    let (n, services) = (expected.len(), out.services.len());
    if out.deployment_timeseries.len() != out.timeseries.len() * n {
        return Some(format!(
            "{} deployment intervals for {} intervals of {n} deployments",
            out.deployment_timeseries.len(),
            out.timeseries.len()
        ));
    }
    for (k, iv) in out.timeseries.iter().enumerate() {
        let rows = &out.deployment_timeseries[k * n..(k + 1) * n];
        for (i, whole) in out.service_timeseries[k * services..(k + 1) * services]
            .iter()
            .enumerate()
        {
            let parts: Vec<_> = rows
                .iter()
                .filter(|r| out.deployments[r.service].stats.service == out.services[i].service)
                .collect();
            let sum = |f: fn(&headroom_models::report::ServiceIntervalRow) -> u64| -> u64 {
                parts.iter().map(|r| f(r)).sum()
            };
            let tries: f64 = parts.iter().map(|r| r.tries_rps).sum();
            if sum(|r| r.errors) != whole.errors
                || sum(|r| r.shed) != whole.shed
                || sum(|r| r.concurrency_blocked) != whole.concurrency_blocked
                || sum(|r| r.replicas) != whole.replicas
                || (tries - whole.tries_rps).abs() > 1e-9 * whole.tries_rps.max(1.0)
            {
                return Some(format!(
                    "interval {k}, service {}: {whole:?}, its deployments' {parts:?}",
                    out.services[i].service
                ));
            }
        }
        for (j, r) in rows.iter().enumerate() {
            if r.t_s != iv.t_s || r.service != j || r.trigger != iv.trigger {
                return Some(format!(
                    "interval {k}, deployment {j}: {r:?} (interval {iv:?})"
                ));
            }
        }
    }
    for row in &out.services {
        let parts: Vec<_> = out
            .deployments
            .iter()
            .filter(|d| d.stats.service == row.service)
            .map(|d| &d.stats)
            .collect();
        let sum = |f: fn(&headroom_models::report::ServiceRow) -> u64| -> u64 {
            parts.iter().map(|d| f(d)).sum()
        };
        let counts = [
            sum(|r| r.requests),
            sum(|r| r.errors),
            sum(|r| r.shed),
            sum(|r| r.concurrency_blocked),
            sum(|r| r.latency.count()),
        ];
        let whole = [
            row.requests,
            row.errors,
            row.shed,
            row.concurrency_blocked,
            row.latency.count(),
        ];
        let mean: f64 = parts.iter().map(|d| d.replicas_mean).sum();
        let largest = parts.iter().map(|d| d.replicas_max).max().unwrap_or(0);
        let fraction = |x: f64| x.is_nan() || (0.0..=1.0 + 1e-9).contains(&x);
        if counts != whole
            || (mean - row.replicas_mean).abs() > 1e-6 * row.replicas_mean.max(1.0)
            || row.replicas_max < largest
            || row.replicas_max > sum(|r| r.replicas_max)
            || parts
                .iter()
                .any(|d| !fraction(d.utilization) || d.cpu_util > d.utilization + 1e-9)
        {
            return Some(format!(
                "service {}: [tries, errors, shed, blocked, latencies] {whole:?}, its \
                 deployments' {counts:?}; instances mean {} max {}, deployments' {mean} and \
                 {:?}",
                row.service,
                row.replicas_mean,
                row.replicas_max,
                parts.iter().map(|d| d.replicas_max).collect::<Vec<_>>()
            ));
        }
    }
    None
}

/// What is wrong with a replication's per-edge time series
/// (`edges_timeseries.csv`), if anything: one row per (interval, edge) at
/// the intervals of `timeseries`; in each, its calls their answers, errors
/// and refusals, and over the edges the run's open breakers and its
/// retries (all of them without a datastore, no more with one); over the
/// intervals inside the measured window, no more calls, errors, refusals,
/// retries, hedges or timed-out tries than `edges.csv` counts, over those
/// touching it no fewer.
fn edge_series_fault(
    out: &headroom_models::RunOutput,
    plan: &headroom_models::Plan,
) -> Option<String> {
    let n = out.edges.len();
    if out.edge_timeseries.len() != out.timeseries.len() * n {
        return Some(format!(
            "{} edge intervals for {} intervals of {n} edges",
            out.edge_timeseries.len(),
            out.timeseries.len()
        ));
    }
    let w = out.warmup_s;
    // Per edge: [calls, errors, rejected, refused, retries, hedges,
    // try_timeouts] inside and touching.
    let mut inside = vec![[0u64; 7]; n];
    let mut touching = vec![[0u64; 7]; n];
    let mut start = 0.0;
    for (k, iv) in out.timeseries.iter().enumerate() {
        let rows = &out.edge_timeseries[k * n..(k + 1) * n];
        let retries: u64 = rows.iter().map(|r| r.retries).sum();
        let open: u64 = rows.iter().map(|r| r.breaker_open).sum();
        let retries_wrong = if plan.data.stores.is_empty() {
            retries != iv.retries
        } else {
            retries > iv.retries
        };
        if retries_wrong || open != iv.breaker_open {
            return Some(format!(
                "interval {k}: the edges' {retries} retries and {open} open breakers; \
                 the run's {} and {}",
                iv.retries, iv.breaker_open
            ));
        }
        let count = |rps: f64| (rps * (iv.t_s - start)).round() as u64;
        for (i, r) in rows.iter().enumerate() {
            let calls = count(r.calls_rps);
            if r.t_s != iv.t_s
                || r.edge != i
                || r.trigger != iv.trigger
                || calls != count(r.answered_rps) + r.errors + r.rejected
                || r.refused > calls
                || r.latency_p50_ms > r.latency_p99_ms
                || r.latency_p50_ms.is_nan() != (calls == 0)
            {
                return Some(format!("interval {k}, edge {i}: {r:?} (interval {iv:?})"));
            }
            let counts = [
                calls,
                r.errors,
                r.rejected,
                r.refused,
                r.retries,
                r.hedges,
                r.try_timeouts,
            ];
            for j in 0..7 {
                if start >= w - 1e-9 {
                    inside[i][j] += counts[j];
                }
                if iv.t_s > w {
                    touching[i][j] += counts[j];
                }
            }
        }
        start = iv.t_s;
    }
    for (i, e) in out.edges.iter().enumerate() {
        let measured = [
            e.calls,
            e.errors + e.timeouts + e.shed,
            e.rejected,
            e.refused,
            e.retries,
            e.hedges,
            e.try_timeouts,
        ];
        for j in 0..7 {
            if inside[i][j] > measured[j] || measured[j] > touching[i][j] {
                return Some(format!(
                    "edge {}->{}: [calls, errors, rejected, refused, retries, hedges, \
                     try_timeouts] measured {measured:?}, over intervals inside the window \
                     {:?}, touching it {:?}",
                    e.caller, e.callee, inside[i], touching[i]
                ));
            }
        }
    }
    None
}

/// What is wrong with a replication's per-service time series, if anything:
/// one row per (interval, service) at the intervals of `timeseries`; in
/// each, the limit's refusals among the tries shed and the utilizations
/// fractions with the CPU's among the held; and over the intervals inside
/// the measured window, no more tries, errors, sheds or refusals than
/// `services.csv` counts, over those touching it no fewer.
fn service_series_fault(out: &headroom_models::RunOutput) -> Option<String> {
    let n = out.services.len();
    if out.service_timeseries.len() != out.timeseries.len() * n {
        return Some(format!(
            "{} service intervals for {} intervals of {n} services",
            out.service_timeseries.len(),
            out.timeseries.len()
        ));
    }
    let w = out.warmup_s;
    // Per service: [tries, errors, shed, blocked] inside and touching.
    let mut inside = vec![[0u64; 4]; n];
    let mut touching = vec![[0u64; 4]; n];
    let mut start = 0.0;
    for (k, iv) in out.timeseries.iter().enumerate() {
        for (i, r) in out.service_timeseries[k * n..(k + 1) * n]
            .iter()
            .enumerate()
        {
            let fraction = |x: f64| x.is_nan() || (0.0..=1.0 + 1e-9).contains(&x);
            if r.t_s != iv.t_s
                || r.service != i
                || r.trigger != iv.trigger
                || r.concurrency_blocked > r.shed
                || !fraction(r.utilization)
                || !fraction(r.cpu_util)
                || r.cpu_util > r.utilization + 1e-9
                || r.latency_p50_ms > r.latency_p99_ms
                || r.latency_p50_ms.is_nan() != r.latency_p99_ms.is_nan()
            {
                return Some(format!(
                    "interval {k}, service {i}: {r:?} (interval {iv:?})"
                ));
            }
            let tries = (r.tries_rps * (iv.t_s - start)).round() as u64;
            let counts = [tries, r.errors, r.shed, r.concurrency_blocked];
            for j in 0..4 {
                if start >= w - 1e-9 {
                    inside[i][j] += counts[j];
                }
                if iv.t_s > w {
                    touching[i][j] += counts[j];
                }
            }
        }
        // The interval's abandoned tries are its services'.
        let wasted: f64 = out.service_timeseries[k * n..(k + 1) * n]
            .iter()
            .map(|r| r.wasted_work_s)
            .sum();
        if (wasted - iv.wasted_work_s).abs() > 1e-9 * iv.wasted_work_s.max(1.0) {
            return Some(format!(
                "interval {k}: services wasted {wasted} s, the interval {} s",
                iv.wasted_work_s
            ));
        }
        start = iv.t_s;
    }
    for (i, row) in out.services.iter().enumerate() {
        let measured = [row.requests, row.errors, row.shed, row.concurrency_blocked];
        for j in 0..4 {
            if inside[i][j] > measured[j] || measured[j] > touching[i][j] {
                return Some(format!(
                    "service {}: [tries, errors, shed, blocked] measured {measured:?}, \
                     over intervals inside the window {:?}, touching it {:?}",
                    row.service, inside[i], touching[i]
                ));
            }
        }
    }
    None
}

/// A closed population sends its next request after every outcome of the
/// last (answered, failed, timed out, rejected by its per-client limit,
/// shed by a full queue): over a long run, Little's law on the users holds,
/// `N = X (R + Z)` with R the mean time to any outcome, and no more than N
/// requests are ever in flight.
#[test]
fn a_closed_population_cycles_through_every_outcome() {
    let text = r#"
[run]
duration = "1h"
warmup = "1m"
replications = 1
seed = 5

[workload]
arrivals = { process = "closed", users = 40, think = { distribution = "exponential", mean = "200ms" } }

[edge]
rate_limit = "per-user"

[[services]]
name = "api"
instance = { workers = 4, queue = 4 }
work = { distribution = "exponential", mean = "20ms" }
calls = [{ service = "db" }]
replicas = 2

[[services]]
name = "db"
instance = { workers = 2, queue = 8 }
work = { distribution = "lognormal", mean = "15ms", cv = 2.0 }
replicas = 2

[[faults]]
type = "errors"
target = "db"
rate = 0.2

[policy.rate_limit.per-user]
strategy = "token-bucket"
max_tokens = 3
tokens_per_fill = 3
fill_interval = "1s"
key = "client"

[policy.mesh]
timeout = "60ms"
retry = { attempts = 2, backoff = "exponential", base = "5ms" }
"#;
    let loaded = load_str(Path::new("closed.toml"), text, &[]).unwrap();
    let out = run_replication(&loaded.plan, 0, &AtomicU64::new(0)).unwrap();
    let m = &out.metrics;
    assert_eq!(m.requests, m.ended(), "{m:?}");
    // Every kind of outcome happened, and each was followed by a request.
    for (what, n) in [
        ("ok", m.ok),
        ("errors", m.errors),
        ("timeouts", m.timeouts),
        ("rejected", m.rejected),
        ("shed", m.shed),
    ] {
        assert!(n > 100, "{what}: {n} of {}", m.requests);
    }
    assert!(out.peak_in_flight <= 40, "{}", out.peak_in_flight);
    let x = m.requests as f64 / m.measured.as_secs_f64();
    let cycle = m.latency_all.mean_ns() / 1e9 + 0.2;
    let little = x * cycle;
    assert!(
        (little - 40.0).abs() < 0.4,
        "X (R + Z) = {x} x {cycle} = {little}, not the 40 users"
    );
}

/// A 4-second world whose autoscaler syncs every 15 s and whose work has
/// mean `work`; `timeout`: a mesh timeout for every call.
fn long_work_world(work: &str, timeout: bool) -> String {
    let mesh = if timeout {
        "\n[policy.mesh]\ntimeout = \"1s\"\n"
    } else {
        ""
    };
    format!(
        r#"
[run]
duration = "4s"
replications = 1

[workload]
arrivals = {{ process = "poisson", rate = 100 }}

[[services]]
name = "api"
instance = {{ workers = 8, queue = 100 }}
work = {{ distribution = "exponential", mean = "{work}" }}
autoscaler = "api"

[policy.autoscaler.api]
min_replicas = 2
max_replicas = 4
target_cpu_utilization = 0.7
{mesh}"#
    )
}

/// A drain that takes simulated hours but few events is served to the end:
/// every arrival ends, and the slowest long after the run.
#[test]
fn a_long_drain_is_served_not_cut() {
    let text = long_work_world("10m", false);
    let loaded = load_str(Path::new("long.toml"), &text, &[]).expect("valid");
    let out = run_replication(&loaded.plan, 0, &AtomicU64::new(0)).expect("drains");
    let m = &out.metrics;
    assert_eq!(m.requests, m.ended());
    assert!(m.requests > 300, "{}", m.requests);
    // 400 exponential works of mean 10 min behind 16 workers: the last
    // ends hours after the 4-second run.
    assert!(m.latency.max_ns() > 3_600_000_000_000, "{m:?}");
}

/// Work hours long in a run of seconds: after its requests time out, its
/// tries would hold their workers for about 70 000 simulated hours of
/// autoscaler syncs. The run stops with `Undrained`, saying what is left,
/// instead of simulating them.
#[test]
fn a_runaway_drain_stops_with_an_undrained_error() {
    let text = long_work_world("100000h", true);
    let loaded = load_str(Path::new("runaway.toml"), &text, &[]).expect("valid");
    match run_replication(&loaded.plan, 0, &AtomicU64::new(0)) {
        Err(headroom_models::RunError::Undrained {
            after_s,
            requests,
            tries,
            data_ops,
            cause,
        }) => {
            assert!(after_s > 3600.0, "{after_s}");
            // Every request timed out; the tries behind them work on.
            assert_eq!((requests, data_ops), (0, 0));
            assert!(tries > 0);
            // The error names the time that keeps it from draining.
            assert_eq!(
                cause,
                "`services.api.work` has a mean of 100000h, longer than the whole run (4s)"
            );
        }
        other => panic!("expected Undrained, got {other:?}"),
    }
}
