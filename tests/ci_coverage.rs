//! Are Headroom's 95 % confidence intervals honest? A coverage study: the
//! same M/M/1 experiment (10 replications, intervals exactly as the run
//! summary and `points.csv` compute them with `metric_ci95`: Student t over
//! the replications for the mean, sectioning about the pooled quantile for
//! the p99) is run with many independent root seeds, and the fraction of
//! intervals that contain the true value is counted, for the mean response
//! time (`W = 1/(mu - lambda)`) and for the p99 (`ln(100)/(mu - lambda)`:
//! FCFS M/M/1 response times are exponential). The p99 interval Headroom
//! used before sectioning (Student t about the replications' mean p99) is
//! scored beside it.
//!
//! A calibrated procedure covers 95 % of the time. With `K` experiments the
//! count is Binomial(K, 0.95) when it is calibrated, so the test accepts
//! coverage within 3.29 binomial standard deviations of 0.95 (a 99.9 %
//! band): a failure means the intervals are too narrow (or needlessly
//! wide), not bad luck. Seeds are fixed, so the test is deterministic.
//!
//! Each experiment also reads how many relaxation times its replications
//! span, as the run summary does (`relaxation`); the CI test checks that
//! none of its calibrated experiments is warned of as short, and the longer
//! study tabulates the warning against coverage (the threshold's
//! calibration).
//!
//! `cargo test --release --test ci_coverage -- --nocapture` prints the table
//! in `experiments/validation/README.md`; `... -- --ignored --nocapture`
//! runs the longer study of run lengths and loads reported there.

use std::path::Path;
use std::sync::atomic::AtomicU64;

use headroom_models::report::{
    LATENCY_BATCHES, MIN_RELAXATION_SPANS, Pooled, StationLoad, bottleneck_of, metric_ci95,
};
use headroom_models::{load, run_replication};
use headroom_sim::exec::{Threads, run_indexed};
use headroom_sim::stats::{LatencyHistogram, SparseHistogram, quantile_ci95, relaxation};

/// Replications per experiment (each gives one interval).
const REPLICATIONS: u32 = 10;
/// Mean work of `experiments/validation/mm1.toml`, seconds.
const ES: f64 = 0.1;

/// One coverage study's result.
struct Coverage {
    experiments: usize,
    /// Intervals containing the true mean response time.
    mean_hits: usize,
    /// Intervals containing the true p99.
    p99_hits: usize,
    /// Mean over experiments of the simulated mean response time, seconds.
    mean_of_means: f64,
    /// Mean over experiments of the p99 estimate (the replications pooled,
    /// the interval's centre), seconds.
    mean_of_p99s: f64,
    /// Mean half-width of the p99 intervals, seconds.
    p99_half_width: f64,
    /// Intervals centred on the replications' mean p99 (Student t, the
    /// interval before sectioning) containing the true p99.
    mean_centred_hits: usize,
    /// Mean over experiments of the replications' mean p99, seconds.
    mean_of_mean_p99s: f64,
    /// Per experiment: relaxation times a replication spans (as the run
    /// summary measures them, `relaxation_of`, and by the heavy-traffic
    /// approximation at the queue, `bottleneck_of`) and whether its p99
    /// interval covered the true p99.
    spans: Vec<Spans>,
}

/// One experiment's short-run diagnostics.
#[derive(Clone, Copy)]
struct Spans {
    /// Measured from the batch means.
    measured: f64,
    /// By the heavy-traffic approximation.
    approx: f64,
    /// Whether the p99 interval covered the true p99.
    hit: bool,
}

impl Spans {
    /// What the warning reads: the fewer.
    fn either(&self) -> f64 {
        self.measured.min(self.approx)
    }
}

/// Warm-up of every replication (excluded from its statistics), minutes.
const WARMUP_MIN: u32 = 10;

/// Runs `experiments` independent experiments of M/M/1 at `rho`, each
/// replication measured for `measured_min` minutes after the warm-up, root
/// seeds `base_seed + k`.
fn study(rho: f64, measured_min: u32, experiments: usize, base_seed: u64) -> Coverage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/validation/mm1.toml");
    let lambda = rho / ES;
    let plans: Vec<_> = (0..experiments)
        .map(|k| {
            let sets = [
                format!("workload.arrivals.rate={lambda}"),
                format!("run.duration=\"{}m\"", WARMUP_MIN + measured_min),
                format!("run.warmup=\"{WARMUP_MIN}m\""),
                format!("run.replications={REPLICATIONS}"),
                format!("run.seed={}", base_seed + k as u64),
            ];
            load(&path, &sets).expect("valid scenario").plan
        })
        .collect();
    let progress = AtomicU64::new(0);
    let reps = REPLICATIONS as usize;
    // One job per (experiment, replication); each replication's streams
    // come from its experiment's seed and its index, as in `headroom run`.
    type Run = (f64, f64, SparseHistogram, Vec<f64>, f64, Vec<StationLoad>);
    let runs: Vec<Run> = run_indexed(experiments * reps, Threads::All, |i| {
        let out = run_replication(&plans[i / reps], (i % reps) as u32, &progress)
            .expect("replication runs");
        let lat = &out.metrics.latency;
        let ms = |ns: f64| ns / 1e6;
        (
            ms(lat.mean_ns()),
            ms(lat.quantile_ns(0.99) as f64),
            lat.to_sparse(),
            out.latency_batches,
            out.latency_batch_s,
            out.stations,
        )
    })
    .expect("thread pool");
    // Milliseconds, as in `runs.csv`.
    let true_mean = 1e3 / (1.0 / ES - lambda);
    let true_p99 = 100f64.ln() * true_mean;
    let mut c = Coverage {
        experiments,
        mean_hits: 0,
        p99_hits: 0,
        mean_of_means: 0.0,
        mean_of_p99s: 0.0,
        p99_half_width: 0.0,
        mean_centred_hits: 0,
        mean_of_mean_p99s: 0.0,
        spans: Vec::new(),
    };
    let covers = |ci: headroom_sim::stats::ConfidenceInterval, x: f64| {
        usize::from((ci.mean - x).abs() <= ci.half_width)
    };
    for experiment in runs.chunks(reps) {
        let means: Vec<f64> = experiment.iter().map(|r| r.0).collect();
        let p99s: Vec<f64> = experiment.iter().map(|r| r.1).collect();
        let mut merged = LatencyHistogram::new();
        for r in experiment {
            merged.merge_sparse(&r.2);
        }
        let pooled = Pooled::of(&merged);
        let (m, p, before) = (
            metric_ci95("latency_mean_ms", &means, Some(&pooled)),
            metric_ci95("latency_p99_ms", &p99s, Some(&pooled)),
            quantile_ci95(&p99s),
        );
        c.mean_hits += covers(m, true_mean);
        c.p99_hits += covers(p, true_p99);
        let series: Vec<&[f64]> = experiment.iter().map(|r| r.3.as_slice()).collect();
        let measured = relaxation(&series, experiment[0].4).map_or(f64::NAN, |r| r.spans);
        let approx = bottleneck_of(
            experiment
                .iter()
                .map(|r| (r.5.as_slice(), r.4 * LATENCY_BATCHES as f64)),
        )
        .map_or(f64::NAN, |b| b.spans());
        c.spans.push(Spans {
            measured,
            approx,
            hit: covers(p, true_p99) == 1,
        });
        c.mean_centred_hits += covers(before, true_p99);
        c.mean_of_means += m.mean / 1e3 / experiments as f64;
        c.mean_of_p99s += p.mean / 1e3 / experiments as f64;
        c.mean_of_mean_p99s += before.mean / 1e3 / experiments as f64;
        c.p99_half_width += p.half_width / 1e3 / experiments as f64;
    }
    c
}

/// The 99.9 % band of a calibrated 95 % procedure's coverage over `k`
/// intervals.
fn band(k: usize) -> (f64, f64) {
    let sd = (0.95 * 0.05 / k as f64).sqrt();
    (0.95 - 3.29 * sd, 0.95 + 3.29 * sd)
}

fn row(rho: f64, measured_min: u32, c: &Coverage) -> String {
    let true_mean = 1.0 / (1.0 / ES - rho / ES);
    let true_p99 = 100f64.ln() * true_mean;
    let k = c.experiments as f64;
    format!(
        "| {rho} | {measured_min} min | {} | {:.1} % | {:+.2} % | {:.1} % | {:+.2} % | ±{:.2} % | {:.1} % | {:+.2} % |",
        c.experiments,
        100.0 * c.mean_hits as f64 / k,
        100.0 * (c.mean_of_means / true_mean - 1.0),
        100.0 * c.p99_hits as f64 / k,
        100.0 * (c.mean_of_p99s / true_p99 - 1.0),
        100.0 * c.p99_half_width / true_p99,
        100.0 * c.mean_centred_hits as f64 / k,
        100.0 * (c.mean_of_mean_p99s / true_p99 - 1.0),
    )
}

const HEADER: &str = "| rho | measured per replication (after a 10 min warm-up) | intervals | mean: coverage | mean: bias | p99: coverage | p99: bias | p99: mean half-width | p99 about the replications' mean (before): coverage | bias |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|";

#[test]
fn ninety_five_percent_intervals_cover_the_true_mean_and_p99_95_percent_of_the_time() {
    let experiments = 400;
    let c = study(0.7, 50, experiments, 7_000_000);
    println!("{HEADER}\n{}", row(0.7, 50, &c));
    let (lo, hi) = band(experiments);
    for (what, hits) in [("mean response time", c.mean_hits), ("p99", c.p99_hits)] {
        let coverage = hits as f64 / experiments as f64;
        assert!(
            (lo..=hi).contains(&coverage),
            "{what}: {hits} of {experiments} intervals cover the true value ({:.1} %), outside the 99.9 % band {:.1}-{:.1} % of a calibrated 95 % interval; reproduce: cargo test --release --test ci_coverage -- --nocapture",
            100.0 * coverage,
            100.0 * lo,
            100.0 * hi
        );
    }
    // The short-run warning (`relaxation_of`, `bottleneck_of`) stays
    // silent where the intervals are honest: no false alarm in 400
    // experiments.
    assert!(
        c.spans
            .iter()
            .all(|s| s.measured.is_finite() || s.measured == f64::INFINITY)
    );
    assert!(
        c.spans.iter().all(|s| s.approx.is_finite()),
        "every experiment has a bottleneck"
    );
    let warned: Vec<f64> = c
        .spans
        .iter()
        .map(Spans::either)
        .filter(|&x| x < MIN_RELAXATION_SPANS)
        .collect();
    assert!(
        warned.is_empty(),
        "{} of {experiments} calibrated experiments warned of as short (relaxation times spanned: {warned:?})",
        warned.len()
    );
}

/// The study behind the README's table: loads and run lengths.
#[test]
#[ignore = "minutes: run with --ignored --nocapture to print the README table"]
fn coverage_by_load_and_run_length() {
    println!("{HEADER}");
    let mut all = Vec::new();
    let mut by_row = Vec::new();
    for (rho, measured_min) in [
        (0.7, 10),
        (0.7, 110),
        (0.8, 10),
        (0.8, 30),
        (0.9, 10),
        (0.9, 30),
        (0.9, 110),
        (0.9, 600),
        (0.95, 30),
        (0.95, 110),
    ] {
        let c = study(rho, measured_min, 200, 9_000_000);
        println!("{}", row(rho, measured_min, &c));
        by_row.push((rho, measured_min, c.spans.clone()));
        all.extend(c.spans.iter().map(|s| (s.measured, s.hit)));
    }
    println!("\n{SPANS_HEADER}");
    for (rho, measured_min, spans) in &by_row {
        println!("{}", spans_row(*rho, *measured_min, spans));
    }
    println!(
        "\n| relaxation times a replication spans | experiments | p99 coverage |\n|---|---:|---:|"
    );
    let edges = [0.0, 12.5, 25.0, 50.0, 100.0, 200.0, f64::INFINITY];
    for w in edges.windows(2) {
        let inside: Vec<bool> = all
            .iter()
            .filter(|(x, _)| (w[0]..w[1]).contains(x))
            .map(|&(_, hit)| hit)
            .collect();
        if inside.is_empty() {
            continue;
        }
        let hits = inside.iter().filter(|&&h| h).count();
        println!(
            "| {}-{} | {} | {:.1} % |",
            w[0],
            w[1],
            inside.len(),
            100.0 * hits as f64 / inside.len() as f64
        );
    }
}

const SPANS_HEADER: &str = "| rho | measured per replication | relaxation times spanned, measured: p10 / median / p90 | measured, warned at 50 / 100 / 200 | heavy-traffic approximation: spanned | warned at 100: measured / either | p99 coverage, warned (either) | p99 coverage, not warned |\n|---:|---|---:|---:|---:|---:|---:|---:|";

/// The short-run diagnostics on one row's experiments: the relaxation
/// times the batch means read, how many a threshold of 50, 100 or 200
/// warns of, the approximation's span, how many the warning (the fewer of
/// the two below `MIN_RELAXATION_SPANS`) names, and coverage on each side.
fn spans_row(rho: f64, measured_min: u32, spans: &[Spans]) -> String {
    let mut xs: Vec<f64> = spans.iter().map(|s| s.measured).collect();
    xs.sort_by(f64::total_cmp);
    let at = |q: f64| xs[((xs.len() - 1) as f64 * q).round() as usize];
    let warned_at = |t: f64| xs.iter().filter(|&&x| x < t).count();
    let mut approx: Vec<f64> = spans.iter().map(|s| s.approx).collect();
    approx.sort_by(f64::total_cmp);
    let side = |warned: bool| {
        let v: Vec<bool> = spans
            .iter()
            .filter(|s| (s.either() < MIN_RELAXATION_SPANS) == warned)
            .map(|s| s.hit)
            .collect();
        if v.is_empty() {
            "-".to_owned()
        } else {
            format!(
                "{:.1} % of {}",
                100.0 * v.iter().filter(|&&h| h).count() as f64 / v.len() as f64,
                v.len()
            )
        }
    };
    format!(
        "| {rho} | {measured_min} min | {:.0} / {:.0} / {:.0} | {} / {} / {} of {} | {:.0} to {:.0} | {} / {} | {} | {} |",
        at(0.1),
        at(0.5),
        at(0.9),
        warned_at(50.0),
        warned_at(100.0),
        warned_at(200.0),
        spans.len(),
        approx[0],
        approx[approx.len() - 1],
        warned_at(MIN_RELAXATION_SPANS),
        spans
            .iter()
            .filter(|s| s.either() < MIN_RELAXATION_SPANS)
            .count(),
        side(true),
        side(false),
    )
}

/// Queues other than M/M/1: the heavy-traffic approximation's relaxation
/// time (`bottleneck_of`) against the one the batch means measure
/// (`relaxation`), median over `experiments` experiments of 10
/// replications measured for about 150 approximated relaxation times.
fn measured_against_approximated(scenario: &str, experiments: usize) -> (f64, f64, f64, f64) {
    let plans: Vec<_> = (0..experiments)
        .map(|k| {
            let text = scenario.replace("SEED", &(11_000_000 + k as u64).to_string());
            headroom_models::load_str(Path::new("queue.toml"), &text, &[])
                .expect("valid scenario")
                .plan
        })
        .collect();
    let progress = AtomicU64::new(0);
    let reps = REPLICATIONS as usize;
    let runs: Vec<(Vec<f64>, f64, Vec<StationLoad>)> =
        run_indexed(experiments * reps, Threads::All, |i| {
            let out = run_replication(&plans[i / reps], (i % reps) as u32, &progress)
                .expect("replication runs");
            (out.latency_batches, out.latency_batch_s, out.stations)
        })
        .expect("thread pool");
    let (mut measured, mut approx) = (Vec::new(), Vec::new());
    for experiment in runs.chunks(reps) {
        let series: Vec<&[f64]> = experiment.iter().map(|r| r.0.as_slice()).collect();
        if let Some(r) = relaxation(&series, experiment[0].1) {
            measured.push(r.time);
        }
        let b = bottleneck_of(
            experiment
                .iter()
                .map(|r| (r.2.as_slice(), r.1 * LATENCY_BATCHES as f64)),
        )
        .expect("a bottleneck");
        approx.push(b.time_s);
    }
    measured.sort_by(f64::total_cmp);
    approx.sort_by(f64::total_cmp);
    let at = |v: &[f64], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (
        at(&measured, 0.1),
        at(&measured, 0.5),
        at(&measured, 0.9),
        at(&approx, 0.5),
    )
}

/// A scenario of 10 replications measured for `measured` after `warmup`,
/// Poisson arrivals at `rate`, and `system` (its services and stores);
/// `SEED` stands for the seed.
fn queue_scenario(measured: &str, warmup: &str, rate: f64, system: &str) -> String {
    format!(
        "[run]\nduration = \"{measured}\"\nwarmup = \"{warmup}\"\nreplications = 10\nseed = SEED\n\
         [workload]\narrivals = {{ process = \"poisson\", rate = {rate} }}\n{system}"
    )
}

/// One service `s`, `workers` workers an instance and `replicas`
/// instances, unbounded queues, `work` (an inline distribution table).
fn one_service(workers: u32, replicas: u32, work: &str) -> String {
    format!(
        "[[services]]\nname = \"s\"\ninstance = {{ workers = {workers}, queue = \"unbounded\" }}\n\
         work = {work}\nreplicas = {replicas}\n"
    )
}

/// The queues of
/// `the_approximation_tracks_the_measured_relaxation_time_beyond_mm1`: a
/// name and the scenario. Each is measured for about 150 of its
/// approximated relaxation times.
fn other_queues() -> Vec<(&'static str, String)> {
    let exp = r#"{ distribution = "exponential", mean = "100ms" }"#;
    let caller = |model: &str, work: &str, callee: &str| {
        format!(
            "[[services]]\nname = \"a\"\ninstance = {{ workers = 1, queue = \"unbounded\"{model} }}\n\
             work = {work}\ncalls = [ {{ service = \"b\" }} ]\nreplicas = 1\n\
             [[services]]\nname = \"b\"\ninstance = {callee}\nwork = "
        )
    };
    vec![
        (
            "M/M/4, rho 0.9",
            queue_scenario("22m", "10m", 36.0, &one_service(4, 1, exp)),
        ),
        (
            "M/D/1, rho 0.9",
            queue_scenario(
                "33m",
                "10m",
                9.0,
                &one_service(
                    1,
                    1,
                    r#"{ distribution = "deterministic", mean = "100ms" }"#,
                ),
            ),
        ),
        (
            "M/G/1 (lognormal, cv 2), rho 0.8",
            queue_scenario(
                "40m",
                "10m",
                8.0,
                &one_service(
                    1,
                    1,
                    r#"{ distribution = "lognormal", mean = "100ms", cv = 2.0 }"#,
                ),
            ),
        ),
        (
            "tandem M/M/1 -> M/M/1, rho 0.9 and 0.9",
            queue_scenario(
                "58m",
                "10m",
                9.0,
                &format!(
                    "{}{exp}\nreplicas = 1\n",
                    caller(
                        r#", model = "event-loop""#,
                        exp,
                        r#"{ workers = 1, queue = "unbounded", model = "event-loop" }"#
                    )
                ),
            ),
        ),
        (
            "thread-model caller (hold: 30 ms work + 20 ms call), rho 0.9",
            queue_scenario(
                "34m",
                "10m",
                18.0,
                &format!(
                    "{}{}\nreplicas = 1\n",
                    caller(
                        "",
                        r#"{ distribution = "exponential", mean = "30ms" }"#,
                        "{ workers = 1000 }"
                    ),
                    r#"{ distribution = "deterministic", mean = "20ms" }"#
                ),
            ),
        ),
        (
            "a pool of 4 connections to a store (M/M/4 waiting for one), rho 0.9",
            queue_scenario(
                "92s",
                "20s",
                360.0,
                r#"[[services]]
name = "api"
instance = { workers = 100000, model = "event-loop" }
work = { distribution = "deterministic", mean = "0s" }
calls = [ { data = "users" } ]
replicas = 1
[[datastores]]
name = "users"
shard = { workers = 100000, read = { distribution = "exponential", mean = "10ms" } }
pool = { min = 4, max = 4, idle_timeout = "1h", acquire_timeout = "1h", max_waiters = 1000000, max_lifetime = "0s" }
"#,
            ),
        ),
        (
            "4 instances of M/M/1 behind round-robin, rho 0.9",
            queue_scenario("58m", "10m", 36.0, &one_service(1, 4, exp)),
        ),
    ]
}

/// The table in `experiments/validation/README.md` on the approximation
/// beyond M/M/1: it stays within a factor of 1.6 of the measured time (the
/// median of 40 measurements, itself known to about 12 %), over, where its
/// assumptions overstate the variation (a thread-model caller's hold taken
/// as exponential, round-robin's regular arrivals as Poisson), or under
/// (heavy-tailed work short of heavy traffic; a network with two equal
/// bottlenecks, which remembers a little longer than either).
#[test]
fn the_approximation_tracks_the_measured_relaxation_time_beyond_mm1() {
    println!(
        "| queue | measured: p10 / median / p90 | heavy-traffic approximation | ratio |\n|---|---:|---:|---:|"
    );
    let mut off = Vec::new();
    for (name, scenario) in other_queues() {
        let (p10, median, p90, approx) = measured_against_approximated(&scenario, 40);
        let ratio = approx / median;
        println!("| {name} | {p10:.1} / {median:.1} / {p90:.1} s | {approx:.1} s | {ratio:.2} |");
        if !(1.0 / 1.6..=1.6).contains(&ratio) {
            off.push(format!(
                "{name}: {approx:.1} s against {median:.1} s measured"
            ));
        }
    }
    assert!(
        off.is_empty(),
        "the heavy-traffic approximation is off by more than 1.6x: {off:?}; reproduce: cargo test --release --test ci_coverage -- --nocapture"
    );
}
