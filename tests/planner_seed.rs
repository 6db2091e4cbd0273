//! The capacity planner's "done when": a sweep of `experiments/seed.toml`
//! over three parameters recommends a configuration whose SLO holds when it
//! is run again with fresh seeds.

mod common;

use std::path::Path;

use common::{headroom_ok, tempdir};

/// Column `name` of a CSV text as floats.
fn column(csv: &str, name: &str) -> Vec<f64> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no {name}"));
    lines
        .map(|l| l.split(',').nth(i).unwrap().parse().unwrap())
        .collect()
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[test]
fn seed_sweep_recommendation_holds_its_slo_with_fresh_seeds() {
    let dir = tempdir("planner_seed");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seed = std::fs::read_to_string(root.join("experiments/seed.toml")).unwrap();
    // The seed scenario with a sweep over three of its values. The API tier
    // alone is the planner's question here: one region, no data-tier step
    // (and no data-tier prices: the store is off the path), nothing answered
    // by the edge cache, and the autoscaler held at its
    // minimum (a target no instance reaches), so `min_replicas` is the fleet
    // size. Offered load is 10 busy cores (5000/s x 2 ms): 3-4 instances of
    // 2 cores cannot carry it, 4 cores each can, at a price. Prices and
    // objectives are set on the command line, as a planner would.
    let text = format!(
        "{seed}\n\
         [sweep]\nreplications = 3\n[sweep.params]\n\
         \"policy.autoscaler.api.min_replicas\" = [3, 4]\n\
         \"services.api.instance.workers\" = [2, 4]\n\
         \"services.api.instance.queue\" = [50, 200]\n"
    );
    let scenario = dir.join("seed-sweep.toml");
    std::fs::write(&scenario, text).unwrap();
    let out = dir.join("sweep");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    headroom_ok(&[
        "sweep",
        &s(&scenario),
        "--out",
        &s(&out),
        "--quiet",
        "--set",
        "run.duration=2m",
        "--set",
        "run.warmup=30s",
        // No data step is on the path: the caches' warm start would only
        // cost time.
        "--set",
        "run.cache_warm_start=0s",
        "--set",
        "slo={ p99 = \"30ms\", availability = 0.999 }",
        "--set",
        "policy.autoscaler.api.target_rps=1000000.0",
        "--set",
        "services.api.regions=[\"us-east\"]",
        "--set",
        "workload.origin={ us-east = 1.0 }",
        "--set",
        "services.api.calls=[]",
        "--set",
        "edge.cache.cacheable_fraction=0.0",
        "--set",
        "costs.data={}",
    ]);
    let points = std::fs::read_to_string(out.join("points.csv")).unwrap();
    assert_eq!(points.lines().count(), 1 + 8);
    let cost = column(&points, "cost_per_month_usd");
    assert!(cost.iter().all(|c| *c > 0.0), "costs are priced: {cost:?}");
    let rec = out.join("recommendation.toml");
    let text = std::fs::read_to_string(&rec).expect("a point meets the SLO");
    let point: usize = text
        .lines()
        .next()
        .unwrap()
        .split("point ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Not trivially the biggest: some cheaper point misses the SLO.
    let p99 = column(&points, "latency_p99_ms");
    let avail = column(&points, "availability");
    let cheaper_missing = (0..cost.len())
        .any(|i| i != point && cost[i] <= cost[point] && (p99[i] > 30.0 || avail[i] < 0.999));
    assert!(
        cheaper_missing,
        "point {point} is the cheapest that holds, and as cheap ones miss"
    );
    // Fresh seeds: the recommendation, run again, meets its objectives.
    let rerun = dir.join("rerun");
    headroom_ok(&[
        "run",
        &s(&rec),
        "--out",
        &s(&rerun),
        "--seed",
        "9001",
        "--replications",
        "3",
        "--quiet",
    ]);
    let runs = std::fs::read_to_string(rerun.join("runs.csv")).unwrap();
    let p99 = mean(&column(&runs, "latency_p99_ms"));
    let availability = mean(&column(&runs, "availability"));
    assert!(p99 <= 30.0, "fresh-seed p99 {p99} ms > 30 ms");
    assert!(
        availability >= 0.999,
        "fresh-seed availability {availability} < 0.999"
    );
}
