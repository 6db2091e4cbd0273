//! Validation against queueing theory: M/M/1, M/M/c (Erlang C), M/D/1 and
//! M/G/1 with lognormal work (Pollaczek–Khinchine), M/M/c/c blocking
//! (Erlang B), each at several loads up to rho = 0.9.
//!
//! Each case runs `experiments/validation/<file>.toml` with the load (and a
//! run length that keeps the confidence interval tight) set by overrides,
//! computes the analytic value from the formula, and requires it to lie
//! inside the Student-t 95 % confidence interval of the replication means
//! and within 2 % of the simulated mean. Seeds are fixed, so the test is
//! deterministic. `cargo test --test validation -- --nocapture` prints the
//! table in `experiments/validation/README.md`.

use std::path::Path;
use std::sync::atomic::AtomicU64;

use headroom_models::{Loaded, RunOutput, load, run_replication};
use headroom_sim::exec::{Threads, run_indexed};
use headroom_sim::stats::{ConfidenceInterval, ci95};
use headroom_sim::theory::{erlang_b, mg1_response_time, mmc_response_time};

/// What a case measures.
#[derive(Clone, Copy)]
enum Measure {
    /// Mean response time of ok requests, seconds.
    MeanResponse,
    /// Fraction of requests shed.
    Blocking,
}

struct Case {
    name: String,
    file: &'static str,
    sets: Vec<String>,
    measure: Measure,
    analytic: f64,
}

const ES: f64 = 0.1; // every validation scenario has mean work 100 ms

fn queue_case(file: &'static str, model: &str, c: u32, rho: f64, scv: f64, hours: u32) -> Case {
    let lambda = rho * f64::from(c) / ES;
    let analytic = if c == 1 {
        mg1_response_time(lambda, ES, scv)
    } else {
        mmc_response_time(c, lambda, 1.0 / ES)
    };
    Case {
        name: format!("{model} rho={rho}"),
        file,
        sets: vec![
            format!("workload.arrivals.rate={lambda}"),
            format!("run.duration=\"{hours}h\""),
        ],
        measure: Measure::MeanResponse,
        analytic,
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // Run lengths grow as (1 - rho)^-2, the growth of the variance of the
    // mean response time, so every case gets a comparably tight interval.
    for (rho, hours) in [(0.5, 30), (0.7, 80), (0.9, 500)] {
        cases.push(queue_case("mm1.toml", "M/M/1", 1, rho, 1.0, hours));
    }
    for (rho, hours) in [(0.5, 8), (0.7, 16), (0.9, 100)] {
        cases.push(queue_case("mmc4.toml", "M/M/4", 4, rho, 1.0, hours));
    }
    for (rho, hours) in [(0.7, 4), (0.9, 20)] {
        cases.push(queue_case("mmc16.toml", "M/M/16", 16, rho, 1.0, hours));
    }
    for (rho, hours) in [(0.5, 20), (0.7, 40), (0.9, 250)] {
        cases.push(queue_case("md1.toml", "M/D/1", 1, rho, 0.0, hours));
    }
    for (rho, hours) in [(0.5, 60), (0.7, 150), (0.9, 1000)] {
        cases.push(queue_case(
            "mg1-lognormal.toml",
            "M/G/1 lognormal cv=2",
            1,
            rho,
            4.0,
            hours,
        ));
    }
    for (a, hours) in [(5.0, 10), (7.0, 10), (9.0, 10)] {
        let lambda = a / ES;
        cases.push(Case {
            name: format!("M/M/10/10 a={a}"),
            file: "erlang-b.toml",
            sets: vec![
                format!("workload.arrivals.rate={lambda}"),
                format!("run.duration=\"{hours}h\""),
            ],
            measure: Measure::Blocking,
            analytic: erlang_b(10, a),
        });
    }
    cases
}

fn run_case(case: &Case) -> (Loaded, ConfidenceInterval) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments/validation")
        .join(case.file);
    let loaded = load(&path, &case.sets).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let progress = AtomicU64::new(0);
    let outputs: Vec<RunOutput> =
        run_indexed(loaded.plan.run.replications as usize, Threads::All, |r| {
            run_replication(&loaded.plan, r as u32, &progress)
        })
        .expect("thread pool")
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{}: {e}", case.name)))
        .collect();
    let samples: Vec<f64> = outputs
        .iter()
        .map(|o| match case.measure {
            Measure::MeanResponse => o.metrics.latency.mean_ns() / 1e9,
            Measure::Blocking => o.metrics.shed as f64 / o.metrics.requests as f64,
        })
        .collect();
    (loaded, ci95(&samples))
}

#[test]
fn queueing_theory() {
    let mut failures = Vec::new();
    println!("| case | analytic | simulated mean | 95 % CI | relative error | inside CI |");
    println!("|---|---:|---:|---:|---:|:---:|");
    for case in cases() {
        let (loaded, ci) = run_case(&case);
        let rel = (ci.mean - case.analytic) / case.analytic;
        let inside = (ci.mean - case.analytic).abs() <= ci.half_width;
        let unit = match case.measure {
            Measure::MeanResponse => "s",
            Measure::Blocking => "",
        };
        println!(
            "| {} | {:.5}{unit} | {:.5}{unit} | ±{:.5} | {:+.2} % | {} |",
            case.name,
            case.analytic,
            ci.mean,
            ci.half_width,
            100.0 * rel,
            if inside { "yes" } else { "NO" }
        );
        if !inside || rel.abs() > 0.02 {
            failures.push(format!(
                "{}: analytic {} vs simulated {} ± {} (relative error {:+.3} %); reproduce: headroom run experiments/validation/{} {} --seed {}",
                case.name,
                case.analytic,
                ci.mean,
                ci.half_width,
                100.0 * rel,
                case.file,
                case.sets.iter().map(|s| format!("--set '{s}'")).collect::<Vec<_>>().join(" "),
                loaded.plan.run.seed
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "validation failures:\n{}",
        failures.join("\n")
    );
}
