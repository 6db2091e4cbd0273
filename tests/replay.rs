//! Trace replay: the arrivals a replay produces are the trace's (count,
//! per-minute counts, times), `speedup` compresses time, `scale_load` thins
//! within binomial bounds or superposes whole copies, `loop` and `window`
//! cut or repeat passes; a synthetic trace replayed through its own scenario
//! reproduces the run; outputs do not depend on `--threads`.
//!
//! Exact arrival times come from [`Synth`], which runs the engine's arrival
//! source without the rest of the world; counts through the binary come
//! from `runs.csv` and `timeseries.csv`.

mod common;

use std::path::{Path, PathBuf};

use common::{headroom, root};
use headroom_models::engine::Synth;
use headroom_traces::{CheckOptions, Checked};

const AZURE: &str = "traces/samples/azure-llm-inference-2023/AzureLLMInferenceTrace_code.csv";
const NASA: &str = "traces/samples/nasa-http-1995/nasa_requests_per_minute.csv.gz";
const MINUTE_NS: u64 = 60_000_000_000;

/// A fresh scratch folder `replay/NAME`, apart from other binaries' folders.
fn tempdir(name: &str) -> PathBuf {
    common::tempdir(&format!("replay/{name}"))
}

/// A system far from saturation, so every arrival is served.
fn scenario(dir: &Path, arrivals: &str) -> PathBuf {
    let path = dir.join("s.toml");
    let text = format!(
        r#"
[run]
duration = "1h"
warmup = "0s"
replications = 2
seed = 11
timeseries_interval = "1m"

[workload]
arrivals = {arrivals}

[[services]]
name = "api"
instance = {{ workers = 64, queue = "unbounded" }}
work = {{ distribution = "exponential", mean = "5ms" }}
replicas = 1
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn trace_arrivals(extra: &str) -> String {
    let path = root().join(AZURE);
    format!(
        "{{ process = \"trace\", path = {:?}{extra} }}",
        path.to_str().unwrap()
    )
}

/// The trace's record times (ns), read directly.
fn trace_times(rel: &str) -> Vec<u64> {
    let file = std::fs::File::open(root().join(rel)).unwrap();
    let opened = headroom_traces::open(Box::new(file), rel, None, "").unwrap();
    Checked::new(opened.source, CheckOptions::default())
        .map(|r| r.unwrap().at.as_nanos())
        .collect()
}

/// Arrival times (ns) of replication `r` of the scenario at `path`.
fn arrivals(path: &Path, sets: &[String], r: u32) -> Vec<u64> {
    let loaded = headroom_models::load(path, sets).unwrap();
    Synth::new(&loaded.plan, r)
        .map(|q| q.unwrap().at.as_nanos())
        .collect()
}

fn per_minute(times: &[u64]) -> Vec<u64> {
    let mut counts = Vec::new();
    for &t in times {
        let m = (t / MINUTE_NS) as usize;
        if counts.len() <= m {
            counts.resize(m + 1, 0);
        }
        counts[m] += 1;
    }
    counts
}

#[test]
fn replay_yields_exactly_the_trace_arrivals() {
    let dir = tempdir("exact");
    let s = scenario(&dir, &trace_arrivals(""));
    let trace = trace_times(AZURE);
    let origin = trace[0] - trace[0] % MINUTE_NS;
    let expected: Vec<u64> = trace.iter().map(|t| t - origin).collect();
    assert_eq!(arrivals(&s, &[], 0), expected);
    // Every replication replays the same arrivals.
    assert_eq!(arrivals(&s, &[], 1), expected);
    // The same through the binary: one pass, the trace's count in runs.csv
    // and its per-minute counts in timeseries.csv.
    let out = dir.join("out");
    let o = headroom(&[
        "replay",
        AZURE,
        "--scenario",
        s.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    for row in runs.lines().skip(1) {
        assert_eq!(
            row.split(',').nth(3),
            Some(trace.len().to_string().as_str())
        );
    }
    let series = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    let counts: Vec<u64> = series
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) == Some("0"))
        .map(|l| {
            let rps: f64 = l.split(',').nth(3).unwrap().parse().unwrap();
            (rps * 60.0).round() as u64
        })
        .collect();
    let mut expected_counts = per_minute(&expected);
    expected_counts.resize(counts.len(), 0);
    assert_eq!(counts, expected_counts);
}

#[test]
fn speedup_two_halves_the_span() {
    let dir = tempdir("speedup");
    let s = scenario(&dir, &trace_arrivals(", speedup = 2.0"));
    let base = arrivals(&scenario(&tempdir("speedup1"), &trace_arrivals("")), &[], 0);
    let fast = arrivals(&s, &[], 0);
    assert_eq!(fast.len(), base.len());
    let span = |v: &[u64]| v[v.len() - 1] - v[0];
    // Each time is rounded to the nanosecond: the span is within 1 ns.
    assert!(span(&fast).abs_diff(span(&base) / 2) <= 1);
    for (f, b) in fast.iter().zip(&base) {
        assert!(f.abs_diff(b / 2) <= 1);
    }
}

/// `scale_load = 0.5` keeps each of the N records independently with
/// probability 1/2: the count is Binomial(N, 1/2), mean N/2, standard
/// deviation sqrt(N)/2 (47 for N = 8819). Five standard deviations fail a
/// correct replay with probability 6e-7 per replication; the thinned
/// trace is a subsequence of the trace, different per replication and the
/// same at every sweep point (common random numbers).
#[test]
fn half_load_keeps_half_the_arrivals_within_binomial_bounds() {
    let dir = tempdir("thin");
    let s = scenario(&dir, &trace_arrivals(", scale_load = 0.5"));
    let full: std::collections::BTreeSet<u64> =
        arrivals(&scenario(&tempdir("thin1"), &trace_arrivals("")), &[], 0)
            .into_iter()
            .collect();
    let n = full.len() as f64;
    let sd = n.sqrt() / 2.0;
    let mut seen = Vec::new();
    for r in 0..4 {
        let kept = arrivals(&s, &[], r);
        let k = kept.len() as f64;
        assert!(
            (k - n / 2.0).abs() <= 5.0 * sd,
            "replication {r}: {k} of {n}"
        );
        assert!(kept.iter().all(|t| full.contains(t)));
        seen.push(kept);
    }
    assert_ne!(seen[0], seen[1]);
    // Another configuration of the system sees the same thinned arrivals.
    let other = arrivals(&s, &["services.api.replicas=3".to_owned()], 0);
    assert_eq!(other, seen[0]);
}

/// `scale_load = 2` superposes two whole copies: exactly 2N arrivals, each
/// record's time once as is and once shifted by less than `shift`; 2.5 adds
/// a third copy thinned to half (2N + Binomial(N, 1/2)).
#[test]
fn scaled_up_load_superposes_whole_shifted_copies() {
    let dir = tempdir("scale");
    let trace = arrivals(&scenario(&tempdir("scale1"), &trace_arrivals("")), &[], 0);
    let n = trace.len();
    let two = arrivals(
        &scenario(&dir, &trace_arrivals(", scale_load = 2.0, shift = \"10s\"")),
        &[],
        0,
    );
    assert_eq!(two.len(), 2 * n);
    assert!(two.windows(2).all(|w| w[0] <= w[1]), "time order");
    assert_eq!(per_minute(&two).iter().sum::<u64>(), 2 * n as u64);
    let dir = tempdir("scale25");
    let k = arrivals(
        &scenario(&dir, &trace_arrivals(", scale_load = 2.5")),
        &[],
        0,
    )
    .len() as f64;
    let sd = (n as f64).sqrt() / 2.0;
    assert!((k - 2.5 * n as f64).abs() <= 5.0 * sd, "{k}");
}

#[test]
fn window_and_loop_cut_and_repeat_passes() {
    let trace = arrivals(&scenario(&tempdir("w0"), &trace_arrivals("")), &[], 0);
    let in_window: Vec<u64> = trace
        .iter()
        .filter(|&&t| (10 * MINUTE_NS..20 * MINUTE_NS).contains(&t))
        .map(|t| t - 10 * MINUTE_NS)
        .collect();
    let w = arrivals(
        &scenario(&tempdir("w1"), &trace_arrivals(", window = \"10m..20m\"")),
        &[],
        0,
    );
    assert_eq!(w, in_window);
    // Looping a 10-minute window for an hour: six passes, each the window.
    let looped = arrivals(
        &scenario(
            &tempdir("w2"),
            &trace_arrivals(", window = \"10m..20m\", loop = true"),
        ),
        &[],
        0,
    );
    assert_eq!(looped.len(), 6 * in_window.len());
    assert_eq!(&looped[..in_window.len()], &in_window[..]);
    let second: Vec<u64> = looped[in_window.len()..2 * in_window.len()]
        .iter()
        .map(|t| t - 10 * MINUTE_NS)
        .collect();
    assert_eq!(second, in_window);
}

/// A count series (NASA, per minute) replays with exactly its per-minute
/// counts, here over the launch day's busiest hour.
#[test]
fn count_series_replays_its_per_minute_counts() {
    let dir = tempdir("nasa");
    let path = root().join(NASA);
    let s = scenario(
        &dir,
        &format!(
            "{{ process = \"trace\", path = {:?}, window = \"17280m..17340m\" }}",
            path.to_str().unwrap()
        ),
    );
    let times = trace_times(NASA);
    let from = 12 * 1440 * MINUTE_NS;
    let window: Vec<u64> = times
        .iter()
        .filter(|&&t| (from..from + 60 * MINUTE_NS).contains(&t))
        .map(|t| t - from)
        .collect();
    let got = arrivals(&s, &[], 0);
    assert_eq!(per_minute(&got), per_minute(&window));
    assert_eq!(got.len(), window.len());
}

/// `trace synth` writes the requests a run receives; replaying that trace
/// through the same scenario reproduces the run byte for byte, at any
/// thread count.
#[test]
fn a_synthetic_trace_replays_into_the_same_run() {
    let dir = tempdir("synth");
    let s = dir.join("s.toml");
    std::fs::write(
        &s,
        r#"
[run]
duration = "3m"
warmup = "0s"
replications = 1
seed = 5
timeseries_interval = "30s"

[workload]
arrivals = { process = "mmpp", states = [ { rate = 200.0, holding = "20s" }, { rate = 800.0, holding = "10s" } ] }
keys = { count = 5000, popularity = "zipf", s = 0.9 }
read_fraction = 0.9

[[regions]]
name = "east"
[[regions]]
name = "west"

[network.rtt.east]
west = "60ms"

[[services]]
name = "api"
regions = ["east", "west"]
instance = { workers = 32, queue = "unbounded" }
work = { distribution = "lognormal", mean = "4ms", cv = 1.5 }
calls = [ { data = "users" } ]
replicas = 2

[[datastores]]
name = "users"
shards = 4
shard = { workers = 8, read = { distribution = "exponential", mean = "1ms" } }
object_size = "2KiB"

[[datastores.cache]]
tier = "l1"
storage = "memory"
scope = "instance"
capacity = 500
eviction = "lru"
"#,
    )
    .unwrap();
    let trace = dir.join("synth.csv");
    let o = headroom(&[
        "trace",
        "synth",
        s.to_str().unwrap(),
        "--out",
        trace.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.starts_with("t_ns,key,op,size_bytes,client,region,route,status,latency_ns\n"));
    assert!(text.contains(",write,") && text.contains(",west,api,"));
    let run = |args: &[&str], out: &Path| {
        let mut all = args.to_vec();
        all.extend(["--out", out.to_str().unwrap(), "-q"]);
        let o = headroom(&all);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(out.join("runs.csv")).unwrap()
    };
    let direct = run(&["run", s.to_str().unwrap()], &dir.join("run"));
    let replayed = run(
        &[
            "replay",
            trace.to_str().unwrap(),
            "--scenario",
            s.to_str().unwrap(),
            "--threads",
            "1",
        ],
        &dir.join("replay1"),
    );
    assert_eq!(
        String::from_utf8_lossy(&replayed),
        String::from_utf8_lossy(&direct)
    );
    let replayed2 = run(
        &[
            "replay",
            trace.to_str().unwrap(),
            "--scenario",
            s.to_str().unwrap(),
            "--threads",
            "2",
            "--replications",
            "3",
            "--scale-load",
            "1.5",
        ],
        &dir.join("replay2"),
    );
    let replayed3 = run(
        &[
            "replay",
            trace.to_str().unwrap(),
            "--scenario",
            s.to_str().unwrap(),
            "--threads",
            "3",
            "--replications",
            "3",
            "--scale-load",
            "1.5",
        ],
        &dir.join("replay3"),
    );
    assert_eq!(replayed2, replayed3);
}
