//! End-to-end tests of the data tier through the `headroom` binary: the
//! outputs (`shards.csv`, the per-tier columns), determinism across thread
//! counts, and bad input (exit 2, one message naming the file, the key and
//! the fix, nothing written).

mod common;

use common::{expect_refused, headroom, headroom_ok, read, s, stderr, tempdir, timed_store, write};
use std::path::Path;

const SCENARIO: &str = r#"
[run]
duration = "20s"
warmup = "2s"
replications = 2
seed = 11

[workload]
arrivals = { process = "poisson", rate = 500.0 }
keys = { count = 10000, popularity = "zipf", s = 1.0 }
read_fraction = 0.9

[[regions]]
name = "us-east"
[[regions]]
name = "eu-west"

[network]
rtt = { us-east = { eu-west = "80ms" } }

[[services]]
name = "api"
instance = { workers = 32 }
work = { distribution = "exponential", mean = "1ms" }
calls = [ { data = "users" } ]
replicas = 2

[[datastores]]
name = "users"
shards = 8
shard = { workers = 4, read = { distribution = "exponential", mean = "2ms" } }
primary = "us-east"
replicas = ["eu-west"]
routing = { reads = "nearest-replica" }
pool = { min = 2, max = 16, idle_timeout = "30s", acquire_timeout = "10s", connect_time = "2ms" }

[[datastores.cache]]
tier = "l1"
scope = "instance"
capacity = 500
eviction = "lru"
ttl = "60s"

[[datastores.cache]]
tier = "hot"
storage = "kv"
capacity = "4MB"
eviction = "s3-fifo"
latency = "1ms"

[[faults]]
type = "cache-flush"
store = "users"
tier = "hot"
at = "10s"
"#;

#[test]
fn writes_shards_csv_and_tier_columns_identically_at_any_thread_count() {
    let dir = tempdir("data_outputs");
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let mut files = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.join(format!("out{threads}"));
        headroom_ok(&[
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--threads",
            threads,
            "--set",
            "run.timeseries_interval=\"1s\"",
            "--quiet",
        ]);
        let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
        files.push((
            read("runs.csv"),
            read("shards.csv"),
            read("timeseries.csv"),
            read("shards_timeseries.csv"),
            read("caches_timeseries.csv"),
            read("services_timeseries.csv"),
        ));
    }
    assert_eq!(files[0], files[1], "byte-identical at 1 and 2 threads");
    let (runs, shards, _, series, caches, services) = &files[0];
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    let at = |c: &str| header.iter().position(|h| *h == c).unwrap();
    assert_eq!(at("cache_users_l1_hit_ratio"), at("cache_hit_ratio") + 1);
    assert_eq!(at("cache_users_hot_hit_ratio"), at("cache_hit_ratio") + 2);
    assert_eq!(at("stale_read_ratio"), at("cache_hit_ratio") + 3);
    assert_eq!(at("shard_max_load_ratio"), at("cache_hit_ratio") + 4);
    let row: Vec<f64> = runs
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    let hit = row[at("cache_hit_ratio")];
    assert!(hit > 0.3 && hit < 1.0, "{hit}");
    assert!(row[at("shard_max_load_ratio")] > 1.0);
    let mut lines = shards.lines();
    assert_eq!(
        lines.next().unwrap(),
        "point,replication,store,region,shard,requests,errors,throttled,latency_mean_ms,latency_p50_ms,latency_p95_ms,latency_p99_ms,utilization,wasted_work_s,applied,replication_lag_mean_ms,replication_lag_p99_ms,stale_reads"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 2 replications x 2 copies x 8 shards.
    assert_eq!(rows.len(), 32);
    for row in &rows {
        // The eu-west replica applies the primary's writes, each at least
        // one way (40 ms) after its end there; the primary applies none.
        let (applied, lag): (u64, f64) = (row[14].parse().unwrap(), row[15].parse().unwrap());
        match row[3] {
            "us-east" => assert!(applied == 0 && lag.is_nan(), "{row:?}"),
            _ => assert!(applied > 0 && lag > 40.0, "{row:?}"),
        }
    }

    // shards_timeseries.csv: shards.csv's shards, second by second.
    let mut lines = series.lines();
    assert_eq!(
        lines.next().unwrap(),
        "point,replication,t_s,store,region,shard,requests_rps,shed,throttled,latency_p50_ms,latency_p99_ms,utilization,queued,wasted_work_s,replication_lag_p99_ms,trigger"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 2 replications x 20 intervals x 2 copies x 8 shards.
    assert_eq!(rows.len(), 640);
    let keys: Vec<String> = shards
        .lines()
        .skip(1)
        .map(|l| l.split(',').take(5).collect::<Vec<_>>().join(","))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let (replication, interval, shard) = (i / 320, i % 320 / 16, i % 16);
        assert_eq!(row[2], (interval + 1).to_string(), "{row:?}");
        // The same shard as shards.csv's row, in its order.
        let key = format!("{},{}", row[..2].join(","), row[3..6].join(","));
        assert_eq!(key, keys[replication * 16 + shard], "{row:?}");
        let busy: f64 = row[11].parse().unwrap();
        assert!((0.0..=1.0).contains(&busy), "{row:?}");
        // No store timeout: no work for nobody.
        assert_eq!(row[13], "0", "{row:?}");
        // A replication lag at the replica only (NaN in an interval
        // without an applied write).
        let lag: f64 = row[14].parse().unwrap();
        assert!(if row[4] == "us-east" {
            lag.is_nan()
        } else {
            lag.is_nan() || lag > 40.0
        });
        // The flush at 10 s marks the interval it starts, (10 s, 11 s].
        assert_eq!(row[15], if interval == 10 { "1" } else { "0" }, "{row:?}");
    }

    // caches_timeseries.csv: both tiers, second by second.
    let mut lines = caches.lines();
    assert_eq!(
        lines.next().unwrap(),
        "point,replication,t_s,store,tier,lookups_rps,hit_ratio,stale_hit_ratio,copies,items,fill,trigger"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 2 replications x 20 intervals x 2 tiers.
    assert_eq!(rows.len(), 80);
    let api_instances: Vec<&str> = services
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| r[3] == "api")
        .map(|r| r[13])
        .collect();
    let num = |x: &str| x.parse::<f64>().unwrap();
    for (i, pair) in rows.chunks(2).enumerate() {
        let (l1, hot) = (&pair[0], &pair[1]);
        assert_eq!((l1[4], hot[4]), ("l1", "hot"), "{pair:?}");
        assert_eq!(l1[2], (i % 20 + 1).to_string(), "{pair:?}");
        // Every instance has its own L1 (500 items at most); the hot tier
        // has one copy per region.
        assert_eq!(l1[8], api_instances[i], "{pair:?}");
        assert_eq!(hot[8], "2", "{pair:?}");
        assert!(num(l1[9]) <= 500.0 * num(l1[8]), "{pair:?}");
        for r in [l1, hot] {
            assert!((0.0..=1.0).contains(&num(r[10])), "{r:?}");
        }
        // The hot tier is looked up by exactly the L1's misses.
        let l1_lookups = num(l1[5]);
        let l1_misses = (l1_lookups * (1.0 - num(l1[6]))).round();
        assert_eq!(num(hot[5]), l1_misses, "{pair:?}");
        // The flush at 10 s empties the hot tier; the L1 is kept.
        if i % 20 == 9 {
            assert_eq!((hot[9], hot[10]), ("0", "0"), "{pair:?}");
            assert!(num(l1[9]) > 0.0, "{pair:?}");
        }
        assert_eq!(l1[11], if i % 20 == 10 { "1" } else { "0" }, "{pair:?}");
    }
}

/// The cold-start herd a flushed tier sends to the store shows in
/// `shards_timeseries.csv`: without the L1 in front, with 1000 keys and no
/// writes, the hot tier answers most reads by its flush at 10 s (0.85 to
/// 0.89 of them in the seconds before; 0.48 in the second after), and in the second
/// after it the shards serve more than twice the reads of the second
/// before; `--plots` draws the busiest shards over time.
#[test]
fn a_flushed_tier_sends_its_herd_to_the_shards() {
    let dir = tempdir("data_herd");
    let scenario = dir.join("s.toml");
    let l1 = "[[datastores.cache]]\ntier = \"l1\"\nscope = \"instance\"\ncapacity = 500\neviction = \"lru\"\nttl = \"60s\"\n";
    let text = with(l1, "")
        .replacen("capacity = \"4MB\"", "capacity = \"64MB\"", 1)
        .replacen("count = 10000", "count = 1000", 1)
        .replacen("read_fraction = 0.9", "read_fraction = 1.0", 1);
    std::fs::write(&scenario, text).unwrap();
    let out = dir.join("out");
    headroom_ok(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "run.timeseries_interval=\"1s\"",
        "--plots",
        "--quiet",
    ]);
    // The chart of the busiest shards over time: five of the 16 (two
    // copies of 8) one by one, the rest as one line.
    let svg = std::fs::read_to_string(out.join("shard_utilization.svg")).unwrap();
    assert!(
        svg.contains("shard") && svg.contains("mean of the other 11 shards"),
        "{svg}"
    );
    // The hot tier's hit ratio and fill over time.
    let svg = std::fs::read_to_string(out.join("cache_over_time.svg")).unwrap();
    assert!(
        svg.contains("users hot hit ratio (mean of 2 replications)")
            && svg.contains("users hot fill (mean of 2 replications)"),
        "{svg}"
    );
    // No writes, so no replica lag to draw.
    assert!(!out.join("replication_lag.svg").exists());
    // summary.md's Shards section: one row per copy, naming the shard
    // with the most operations (shards.csv, summed over the replications),
    // whose busiest interval (the herd's) is busier than its average.
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let shards = std::fs::read_to_string(out.join("shards.csv")).unwrap();
    for region in ["us-east", "eu-west"] {
        let mut ops = [0u64; 8];
        for l in shards.lines().skip(1) {
            let r: Vec<&str> = l.split(',').collect();
            if r[3] == region {
                ops[r[4].parse::<usize>().unwrap()] += r[5].parse::<u64>().unwrap();
            }
        }
        let busiest = (0..8).rev().max_by_key(|&k| ops[k]).unwrap();
        let row = summary
            .lines()
            .find(|l| l.starts_with(&format!("| users | {region} | 8 |")))
            .unwrap_or_else(|| panic!("{region}: {summary}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[7], busiest.to_string(), "{row}");
        let mean = |cell: &str| cell.split(" ± ").next().unwrap().parse::<f64>().unwrap();
        assert!(mean(cells[10]) > mean(cells[9]), "{row}");
        // Reads only: no copy applied a write, so none has a lag.
        assert_eq!(cells[12], "-", "{row}");
    }
    assert!(summary.contains("\nBusiest shard: **users "), "{summary}");
    // summary.md's Cache tiers section (a store: with a stale hits
    // column): the hot tier's fill at the warm-up end (2 s) and how long after the flush at 10 s its fill was back to
    // 99 % of the fill before, as caches_timeseries.csv has them.
    let caches = std::fs::read_to_string(out.join("caches_timeseries.csv")).unwrap();
    let fill_at = |replication: &str, t: f64| -> f64 {
        caches
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|r| r[1] == replication && r[2].parse::<f64>().unwrap() == t)
            .map(|r| r[10].parse().unwrap())
            .unwrap()
    };
    let refill = |replication: &str| -> Option<f64> {
        let before = fill_at(replication, 9.0);
        (10..=20)
            .map(f64::from)
            .find(|&t| fill_at(replication, t) >= 0.99 * before)
            .map(|t| t - 10.0)
    };
    let row = summary
        .lines()
        .find(|l| l.starts_with("| users | hot |"))
        .unwrap_or_else(|| panic!("{summary}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let first = |cell: &str| cell.split(' ').next().unwrap().parse::<f64>().unwrap();
    let warm = (fill_at("0", 2.0) + fill_at("1", 2.0)) / 2.0;
    assert!((first(cells[6]) - warm).abs() <= 1e-3 * warm, "{row}");
    let done: Vec<f64> = ["0", "1"].into_iter().filter_map(refill).collect();
    let refill_cell = cells[8];
    assert!(
        refill_cell.starts_with("at 10 s: ")
            && refill_cell.ends_with(&format!("({} of 2)", done.len())),
        "{row}"
    );
    if !done.is_empty() {
        let mean = done.iter().sum::<f64>() / done.len() as f64;
        let shown: f64 = refill_cell["at 10 s: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((shown - mean).abs() <= 1e-3 * mean, "{row}: {done:?}");
    }
    let series = std::fs::read_to_string(out.join("shards_timeseries.csv")).unwrap();
    let rows: Vec<Vec<&str>> = series
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let reads = |replication: &str, t: &str| -> f64 {
        rows.iter()
            .filter(|r| r[1] == replication && r[2] == t)
            .map(|r| r[6].parse::<f64>().unwrap())
            .sum()
    };
    for replication in ["0", "1"] {
        let (before, after) = (reads(replication, "10"), reads(replication, "11"));
        assert!(
            before > 0.0 && after > 2.0 * before,
            "replication {replication}: {before} -> {after} reads/s"
        );
    }
}

/// A tier below one that holds every key (1000 keys, room for 2000, no
/// TTL) only sees keys never read before: it never hits, and summary.md
/// says so, with its lookups and latency; a tier that hits is not named.
#[test]
fn a_tier_that_never_hits_is_named_in_the_summary() {
    let dir = tempdir("data_never_hit");
    let text = r#"
[run]
duration = "20s"
warmup = "2s"
replications = 2
seed = 3

[workload]
arrivals = { process = "poisson", rate = 500.0 }
keys = { count = 1000, popularity = "zipf", s = 1.0 }

[[services]]
name = "api"
instance = { workers = 32 }
work = { distribution = "exponential", mean = "1ms" }
calls = [ { data = "users" } ]
replicas = 1

[[datastores]]
name = "users"
shard = { workers = 8, read = { distribution = "exponential", mean = "2ms" } }

[[datastores.cache]]
tier = "big"
scope = "global"
capacity = 2000
eviction = "lru"

[[datastores.cache]]
tier = "below"
scope = "global"
capacity = 100
eviction = "lru"
latency = "3ms"
"#;
    let scenario = write(&dir, "s.toml", text);
    let out = dir.join("out");
    headroom_ok(&["run", s(&scenario), "--out", s(&out), "--quiet"]);
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    let line = summary
        .lines()
        .find(|l| l.starts_with("Never hit in any replication: "))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(
        line.contains("users below (") && line.contains(" lookups/s, each 3 ms)"),
        "{line}"
    );
    assert!(!line.contains("users big"), "{line}");
    let row = summary
        .lines()
        .find(|l| l.starts_with("| users | below |"))
        .unwrap();
    assert!(row.contains("| 0 ± 0 |"), "{row}");
}

/// A global LRU of 20,000 items over a million Zipf(0.9) keys at 2000
/// reads/s: it fills in about ten seconds and its hit ratio creeps up for
/// tens more (0.443 measured from the start, 0.461 after a 40 s warm-up).
const WARMING: &str = r#"
[run]
duration = "80s"
warmup = "0s"
replications = 3
seed = 5

[workload]
arrivals = { process = "poisson", rate = 2000.0 }
keys = { count = 1000000, popularity = "zipf", s = 0.9 }

[[services]]
name = "api"
instance = { workers = 64, model = "event-loop" }
work = { distribution = "exponential", mean = "100us" }
calls = [ { data = "users" } ]
replicas = 1

[[datastores]]
name = "users"
shard = { workers = 64, read = { distribution = "exponential", mean = "1ms" } }

[[datastores.cache]]
tier = "l1"
scope = "global"
capacity = 20000
eviction = "lru"
"#;

/// The first line of `text` that holds `needle`, if any.
fn line_with<'a>(text: &'a str, needle: &str) -> Option<&'a str> {
    text.lines().find(|l| l.contains(needle))
}

/// A cache measured from a cold start is named, with its two halves'
/// hit ratios, on the terminal and in summary.md; after a long enough
/// warm-up, or under a load that changes on purpose, it is not.
#[test]
fn a_cache_still_warming_is_named() {
    let dir = tempdir("data_cold_cache");
    let scenario = write(&dir, "s.toml", WARMING);
    let out = dir.join("cold");
    let o = headroom_ok(&["run", s(&scenario), "--out", s(&out)]);
    let err = stderr(&o);
    let line = line_with(&err, "still warming").unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.starts_with("warning: a cache was still warming, its hit ratio rising"),
        "{line}"
    );
    // The halves: about 0.43 and 0.46, a rise of about 0.03.
    let halves = line
        .split("users/l1 ")
        .nth(1)
        .and_then(|t| t.split(" (+").next())
        .unwrap_or_else(|| panic!("{line}"));
    let (first, second) = halves
        .split_once(" -> ")
        .unwrap_or_else(|| panic!("{line}"));
    let (first, second): (f64, f64) = (first.parse().unwrap(), second.parse().unwrap());
    assert!(
        (0.40..0.45).contains(&first) && (0.45..0.48).contains(&second),
        "{line}"
    );
    assert!(!line.contains("at the longest"), "no TTL, no bound: {line}");
    assert!(
        line.contains("Start the caches warm, or warm them longer, with `run.cache_warm_start`"),
        "{line}"
    );
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    let warning = line_with(&summary, "still warming").unwrap_or_else(|| panic!("{summary}"));
    assert!(warning.starts_with("**Warning:** a cache was"), "{warning}");
    assert!(warning.contains(halves), "{warning}");
    // manifest.json has it for notebooks.
    let manifest: serde_json::Value = serde_json::from_slice(&read(&out, "manifest.json")).unwrap();
    let cold = &manifest["cold_caches"];
    assert_eq!(cold[0]["name"], "users/l1", "{cold}");
    let (a, b) = (
        cold[0]["first"].as_f64().unwrap(),
        cold[0]["second"].as_f64().unwrap(),
    );
    assert_eq!(format!("{a:.3} -> {b:.3}"), halves, "{cold}");
    assert!(cold[0]["ttl_s"].is_null(), "{cold}");

    // Warmed for 40 s, its halves agree within a point: no warning.
    let out = dir.join("warm");
    let o = headroom_ok(&[
        "run",
        s(&scenario),
        "--out",
        s(&out),
        "--set",
        "run.warmup=\"40s\"",
    ]);
    assert!(!stderr(&o).contains("still warming"), "{}", stderr(&o));
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(!summary.contains("still warming"), "{summary}");
    let manifest: serde_json::Value = serde_json::from_slice(&read(&out, "manifest.json")).unwrap();
    assert_eq!(manifest["cold_caches"], serde_json::json!([]));

    // A diurnal load moves hit ratios on purpose: no warning either.
    let out = dir.join("diurnal");
    let o = headroom_ok(&[
        "run",
        s(&scenario),
        "--out",
        s(&out),
        "--set",
        "workload.arrivals={ process = \"diurnal\", mean = 2000.0, peak_to_trough = 1.5, period = \"80s\" }",
    ]);
    assert!(!stderr(&o).contains("still warming"), "{}", stderr(&o));
}

/// A cache started warm (`run.cache_warm_start`) is measured at its steady
/// state from time zero, with no warm-up: not named, and its hit ratio that
/// of the cold run's second half or above; the run's requests are the same
/// (the warm start draws from streams of its own).
#[test]
fn a_cache_started_warm_is_not_named() {
    let dir = tempdir("data_warm_start");
    let scenario = write(&dir, "s.toml", WARMING);
    // runs.csv's header and rows.
    let table = |out: &std::path::Path| {
        let text = String::from_utf8(read(out, "runs.csv")).unwrap();
        let mut rows = csv::Reader::from_reader(text.as_bytes());
        let header = rows.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
        (header, rows)
    };
    let runs = |out: &std::path::Path| {
        let (header, rows) = table(out);
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let (hit, requests) = (col("cache_users_l1_hit_ratio"), col("requests"));
        rows.iter()
            .map(|r| (r[hit].parse::<f64>().unwrap(), r[requests].to_owned()))
            .collect::<Vec<_>>()
    };
    let cold = dir.join("cold");
    headroom_ok(&["run", s(&scenario), "--out", s(&cold)]);
    let warm = dir.join("warm");
    let o = headroom_ok(&[
        "run",
        s(&scenario),
        "--out",
        s(&warm),
        "--set",
        "run.cache_warm_start=\"60s\"",
    ]);
    assert!(!stderr(&o).contains("still warming"), "{}", stderr(&o));
    // The header says how the caches started, on the terminal and in
    // summary.md.
    let said = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(
        said.contains("(warm-up 0s excluded; caches warm from 1m of requests)"),
        "{said}"
    );
    let summary = String::from_utf8(read(&warm, "summary.md")).unwrap();
    assert!(
        summary.contains("warm-up 0s (excluded); caches warm from 1m of requests, seed 5"),
        "{summary}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&warm, "manifest.json")).unwrap();
    assert_eq!(manifest["cold_caches"], serde_json::json!([]));
    // A sweep whose points all start warm says so in its header.
    let text = format!(
        "{}\n[sweep]\n[sweep.params]\n\"run.warmup\" = [\"0s\", \"10s\"]\n",
        WARMING.replacen("[run]\n", "[run]\ncache_warm_start = \"60s\"\n", 1)
    );
    let sweep = dir.join("sweep");
    let o = headroom_ok(&[
        "sweep",
        s(&write(&dir, "sweep.toml", &text)),
        "--out",
        s(&sweep),
    ]);
    // The warm-up is not part of the warm start: the two points share
    // each replication's.
    let said = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(
        said.contains("caches: 3 warm starts for 6 runs (points whose warm start is the same"),
        "{said}"
    );
    let summary = String::from_utf8(read(&sweep, "summary.md")).unwrap();
    assert!(
        summary.contains("excluded; caches warm from 1m of requests, seed 5."),
        "{summary}"
    );
    // With shared warm starts the first point's rows are the stand-alone
    // run's, every column of it.
    let (run_header, run_rows) = table(&warm);
    let (sweep_header, sweep_rows) = table(&sweep);
    let point_0: Vec<_> = sweep_rows.iter().filter(|r| &r[0] == "0").collect();
    assert_eq!(point_0.len(), run_rows.len());
    for (mine, theirs) in run_rows.iter().zip(point_0) {
        for (name, value) in run_header.iter().zip(mine) {
            let at = sweep_header.iter().position(|h| h == name).unwrap();
            assert_eq!(value, &theirs[at], "{name}");
        }
    }
    for ((w, wn), (c, cn)) in runs(&warm).into_iter().zip(runs(&cold)) {
        assert_eq!(wn, cn, "the same requests");
        // Cold: about 0.44 over the run (0.43, then 0.46); warm: 0.46.
        assert!(
            w > c + 0.01 && (0.45..0.47).contains(&w),
            "warm {w}, cold {c}"
        );
    }
}

/// `compare` names a side whose cache was still warming, and only that
/// side: here a cold start against the same scenario started warm, whose
/// paired difference in hit ratio is the cold start's bias.
#[test]
fn compare_names_the_side_whose_cache_was_warming() {
    let dir = tempdir("data_compare_warm");
    let cold = write(&dir, "cold.toml", WARMING);
    let warm = write(
        &dir,
        "warm.toml",
        &WARMING.replacen("[run]\n", "[run]\ncache_warm_start = \"60s\"\n", 1),
    );
    let out = dir.join("out");
    let o = headroom_ok(&["compare", s(&cold), s(&warm), "--out", s(&out), "--quiet"]);
    let err = stderr(&o);
    let named: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("still warming"))
        .collect();
    assert_eq!(named.len(), 1, "{err}");
    assert!(
        named[0].starts_with(&format!(
            "warning: {}: a cache was still warming",
            cold.display()
        )),
        "{err}"
    );
    let table = String::from_utf8(read(&out, "compare.csv")).unwrap();
    let row = table
        .lines()
        .find(|l| l.starts_with("cache_users_l1_hit_ratio,"))
        .unwrap_or_else(|| panic!("{table}"));
    let diff: f64 = row.split(',').nth(3).unwrap().parse().unwrap();
    assert!((0.01..0.03).contains(&diff), "warm minus cold: {row}");
}

/// A sweep records each point's cold caches in its manifest and lists the
/// points in summary.md; the terminal counts them. The second point warms
/// the cache up: by a warm-up, or by a warm start.
#[test]
fn a_sweep_lists_its_points_with_a_cache_still_warming() {
    let dir = tempdir("data_cold_sweep");
    for (name, param) in [
        ("warmup", r#""run.warmup" = ["0s", "40s"]"#),
        ("warm_start", r#""run.cache_warm_start" = ["0s", "60s"]"#),
    ] {
        sweep_names_the_cold_point(&dir.join(name), param);
    }
}

fn sweep_names_the_cold_point(dir: &std::path::Path, param: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let text = format!("{WARMING}\n[sweep]\n[sweep.params]\n{param}\n");
    let scenario = write(dir, "s.toml", &text);
    let out = dir.join("out");
    let o = headroom_ok(&["sweep", s(&scenario), "--out", s(&out)]);
    let err = stderr(&o);
    assert!(
        err.contains("at 1 of 2 points a cache was still warming over the measured window"),
        "{err}"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&read(&out, "manifest.json")).unwrap();
    let points = manifest["point_runs"].as_array().expect("point_runs");
    let cold = &points[0]["cold_caches"];
    assert_eq!(cold[0]["name"], "users/l1", "{cold}");
    assert!(cold[0]["rise"].as_f64().unwrap() > 0.01, "{cold}");
    assert!(points[1].get("cold_caches").is_none(), "{}", points[1]);
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(
        !summary.contains("caches warm from"),
        "no one warm start at every point"
    );
    let note =
        line_with(&summary, "**Caches still warming.**").unwrap_or_else(|| panic!("{summary}"));
    assert!(
        note.contains("At 1 of 2 points") && note.contains("(points 0)"),
        "{note}"
    );
}

/// A freshness objective is shown where the SLO is judged: `headroom run`'s
/// terminal table has the tiers' hit and stale-read ratios, and a sweep
/// under `slo.max_stale_read_ratio` ranks its points with a
/// `stale_read_ratio` column on the terminal and in summary.md's tables.
/// Four instances with an in-process TTL tier over 200 keys and 20 %
/// writes (`data-stale.toml`): stale reads grow with the TTL, about 0.05
/// at 50 ms.
#[test]
fn a_freshness_objective_is_shown_in_the_rankings() {
    let dir = tempdir("data_freshness_ranking");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/validation/data-stale.toml");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("duration = \"300s\"", "duration = \"20s\"")
        .replace("replications = 5", "replications = 2")
        + "\n[slo]\nmax_stale_read_ratio = 0.03\n";
    let text = &text;
    let scenario = write(&dir, "s.toml", text);
    let o = headroom_ok(&["run", s(&scenario), "--out", s(&dir.join("run"))]);
    let said = String::from_utf8(o.stdout.clone()).unwrap();
    for metric in ["cache_hit_ratio", "stale_read_ratio"] {
        let row = line_with(&said, metric).unwrap_or_else(|| panic!("{said}"));
        let estimate: f64 = row.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(estimate > 0.01 && estimate < 0.5, "{row}");
    }

    let swept = format!(
        "{text}\n[sweep]\n[sweep.params]\n\"datastores.users.cache.l1.ttl\" = [\"5ms\", \"50ms\", \"200ms\"]\n"
    );
    let scenario = write(&dir, "sweep.toml", &swept);
    let out = dir.join("sweep");
    let o = headroom_ok(&["sweep", s(&scenario), "--out", s(&out)]);
    let said = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(said.contains("SLO: stale_read_ratio <= 0.03000"), "{said}");
    let header = line_with(&said, "cost_per_month_usd").unwrap_or_else(|| panic!("{said}"));
    let cols: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        cols[cols.len() - 2..],
        ["stale_read_ratio", "SLO"],
        "{header}"
    );
    // Ranked: the 5 ms point (about 0.005 stale) alone holds; each row
    // shows its ratio, which grows with the TTL.
    let rows: Vec<&str> = said
        .lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take(3)
        .collect();
    let ratio = |row: &str| -> f64 {
        let cells: Vec<&str> = row.split_whitespace().collect();
        cells[cells.len() - 4].parse().unwrap()
    };
    assert!(
        rows[0].ends_with("holds") && rows[0].split_whitespace().nth(1) == Some("0"),
        "{said}"
    );
    assert!(rows[1..].iter().all(|r| r.ends_with("misses")), "{said}");
    assert!(ratio(rows[0]) < 0.03, "{said}");
    assert!(ratio(rows[1]) < ratio(rows[2]), "{said}");

    // summary.md: the points table and the runners-up (none here: one
    // point holds) have the column; every row has as many cells as its
    // header.
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    let table: Vec<&str> = summary
        .lines()
        .skip_while(|l| !l.starts_with("| point | `datastores.users.cache.l1.ttl`"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(table.len(), 5, "{summary}");
    assert!(
        table[0].contains("| availability | stale_read_ratio | cost_per_month_usd |"),
        "{}",
        table[0]
    );
    let cells = |l: &str| l.matches('|').count();
    assert!(
        table.iter().all(|l| cells(l) == cells(table[0])),
        "{summary}"
    );
    assert!(
        table[2].ends_with("| yes |") && table[3].ends_with("| no |"),
        "{summary}"
    );

    // `recommend` re-ranks under a looser freshness objective: the 50 ms
    // TTL (about 0.05) now holds too, the 200 ms one (about 0.17) not.
    let o = headroom_ok(&["recommend", s(&out), "--slo-max-stale-read-ratio", "0.1"]);
    let said = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(said.contains("SLO: stale_read_ratio <= 0.1000"), "{said}");
    let holds = |point: &str| {
        said.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(point))
            .unwrap_or_else(|| panic!("{said}"))
            .ends_with("holds")
    };
    assert_eq!(
        [holds("0"), holds("1"), holds("2")],
        [true, true, false],
        "{said}"
    );
    let o = headroom(&["recommend", s(&out), "--slo-max-stale-read-ratio", "1.5"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("a fraction in [0, 1]"),
        "{}",
        stderr(&o)
    );
}

/// summary.md names the busiest shard's most popular key when it makes a
/// large share of the shard's operations (Zipf 1.0 over 1000 keys on 16
/// shards: key 0 makes 0.82 of shard 0's), and not under uniform keys.
#[test]
fn the_busiest_shard_s_hot_key_is_named() {
    let dir = tempdir("data_hot_key");
    let text = r#"
[run]
duration = "10s"
warmup = "1s"
replications = 2
seed = 7

[workload]
arrivals = { process = "poisson", rate = 2000.0 }
keys = { count = 1000, popularity = "zipf", s = 1.0 }

[[services]]
name = "api"
instance = { workers = 64, model = "event-loop" }
work = { distribution = "exponential", mean = "100us" }
calls = [ { data = "users" } ]
replicas = 1

[[datastores]]
name = "users"
shards = 16
shard = { workers = 8, read = { distribution = "exponential", mean = "1ms" } }
"#;
    let scenario = write(&dir, "s.toml", text);
    let out = dir.join("zipf");
    headroom_ok(&["run", s(&scenario), "--out", s(&out), "--quiet"]);
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    let line = line_with(&summary, "Its most popular key").unwrap_or_else(|| panic!("{summary}"));
    assert!(
        line.starts_with("Its most popular key, key 0, makes 0.8"),
        "{line}"
    );
    assert!(
        line.contains("re-sharding cannot take that shard below it"),
        "{line}"
    );
    let out = dir.join("uniform");
    headroom_ok(&[
        "run",
        s(&scenario),
        "--out",
        s(&out),
        "--quiet",
        "--set",
        "workload.keys={ count = 1000, popularity = \"uniform\" }",
    ]);
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(summary.contains("Busiest shard: "), "{summary}");
    assert!(!summary.contains("most popular key"), "{summary}");

    // shards.csv's `throttled` counts the operations over the shard's
    // rate limit apart from those its full queue sheds: shard 0 (offered
    // about 330 reads/s) admits 150/s to one worker of 5 ms that holds one
    // waiting, so it both throttles and sheds.
    let limited = format!(
        "{}\n[policy.rate_limit.partition]\nstrategy = \"gcra\"\nwindow = \"1s\"\nmax = 150\nburst = 10\n",
        text.replace(
            "shard = { workers = 8, read = { distribution = \"exponential\", mean = \"1ms\" } }",
            "shard = { rate_limit = \"partition\", queue = 1, workers = 1, read = { distribution = \"exponential\", mean = \"5ms\" } }"
        )
    );
    let scenario = write(&dir, "limited.toml", &limited);
    let out = dir.join("limited");
    headroom_ok(&["run", s(&scenario), "--out", s(&out), "--quiet"]);
    let shards = String::from_utf8(read(&out, "shards.csv")).unwrap();
    let row: Vec<&str> = shards.lines().nth(1).unwrap().split(',').collect();
    let (errors, throttled): (u64, u64) = (row[6].parse().unwrap(), row[7].parse().unwrap());
    assert!(throttled > 0 && errors > throttled, "{row:?}");
    let series = String::from_utf8(read(&out, "shards_timeseries.csv")).unwrap();
    let (shed, throttled) = series
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| r[5] == "0")
        .fold((0u64, 0u64), |(a, b), r| {
            (
                a + r[7].parse::<u64>().unwrap(),
                b + r[8].parse::<u64>().unwrap(),
            )
        });
    assert!(throttled > 0 && shed > throttled, "{shed} {throttled}");
    let summary = String::from_utf8(read(&out, "summary.md")).unwrap();
    assert!(
        summary.contains("| turned away | throttled | busiest shard |"),
        "{summary}"
    );
}

/// A store client's retries (`datastores.*.retry`) against a shard that
/// admits one operation a second (GCRA, burst 1), traced exactly: request
/// A at 0 s is admitted; request B at 0.1 s is throttled (429) and retried
/// every 250 ms (constant backoff, no jitter): throttled at 0.35, 0.6 and
/// 0.85 s, admitted at 1.1 s, one second after A. With one try fewer, B
/// gives up with the 429. With `shard.retry_after`, the throttle says when
/// the shard would admit B, 0.9 s later, and its one retry waits exactly
/// that instead of the backoff (as `policy::retry` does with a 429's
/// `Retry-After` in the sidecar): admitted at 1 s.
#[test]
fn store_retries_back_off_until_the_shard_admits() {
    let dir = tempdir("data_store_retry");
    write(&dir, "t.csv", "t_ns,key\n0,7\n100000000,7\n");
    let scenario = |attempts: u32, retry_after: bool| {
        format!(
            r#"
[run]
duration = "5s"
warmup = "0s"
replications = 1

[workload]
arrivals = {{ process = "trace", path = "t.csv" }}

[[services]]
name = "api"
instance = {{ workers = 4, model = "event-loop" }}
work = {{ distribution = "deterministic", mean = "1us" }}
calls = [ {{ data = "users" }} ]
replicas = 1

[[datastores]]
name = "users"
shard = {{ workers = 4, read = {{ distribution = "deterministic", mean = "1ms" }}, rate_limit = "one", retry_after = {retry_after} }}
retry = {{ attempts = {attempts}, backoff = "constant", base = "250ms", jitter = "none", retry_on = ["rate-limited"] }}

[policy.rate_limit.one]
strategy = "gcra"
window = "1s"
max = 1
"#
        )
    };
    let run = |attempts: u32, retry_after: bool| {
        let name = format!("{attempts}-{retry_after}");
        let file = write(
            &dir,
            &format!("s{name}.toml"),
            &scenario(attempts, retry_after),
        );
        let out = dir.join(format!("out{name}"));
        headroom_ok(&["run", s(&file), "--out", s(&out), "--quiet"]);
        let cells = |name: &str| -> Vec<(String, String)> {
            let text = String::from_utf8(read(&out, name)).unwrap();
            let mut lines = text.lines();
            let header: Vec<String> = lines
                .next()
                .unwrap()
                .split(',')
                .map(str::to_owned)
                .collect();
            header
                .into_iter()
                .zip(lines.next().unwrap().split(',').map(str::to_owned))
                .collect()
        };
        (cells("runs.csv"), cells("shards.csv"))
    };
    let get = |cells: &[(String, String)], name: &str| -> f64 {
        cells
            .iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .parse()
            .unwrap()
    };
    // (requests, errors, retries), (operations, errors) at the shard, and
    // the p99 in ms, of a run.
    let outcome = |attempts: u32, retry_after: bool| {
        let (runs, shards) = run(attempts, retry_after);
        (
            ["requests", "errors", "retries"].map(|c| get(&runs, c)),
            ["requests", "errors"].map(|c| get(&shards, c)),
            get(&runs, "latency_p99_ms"),
        )
    };
    // Five tries: B's fifth is admitted, 1 s + 1 ms + 1 us after it came.
    let (requests, shard, p99) = outcome(5, false);
    assert_eq!((requests, shard), ([2.0, 0.0, 4.0], [6.0, 4.0]));
    assert!((p99 - 1001.001).abs() < 0.01 * 1001.0, "{p99}");
    // Four: B's last try, at 0.85 s, is throttled too, and B fails.
    let (requests, shard, _) = outcome(4, false);
    assert_eq!((requests, shard), ([2.0, 1.0, 3.0], [5.0, 4.0]));
    // With the throttle's Retry-After, five tries allowed and two used:
    // B's second is admitted 0.9 s + 1 ms of work after it came.
    let (requests, shard, p99) = outcome(5, true);
    assert_eq!((requests, shard), ([2.0, 0.0, 1.0], [3.0, 1.0]));
    assert!((p99 - 901.0).abs() < 0.01 * 901.0, "{p99}");
    // One try: B fails with the 429.
    let (requests, shard, _) = outcome(1, true);
    assert_eq!((requests, shard), ([2.0, 1.0, 0.0], [2.0, 1.0]));
}

/// Runs `text` as `bad.toml`; see [`expect_refused`].
fn expect_input_error(name: &str, text: &str, needles: &[&str]) {
    let dir = tempdir(&format!("data_{name}"));
    expect_refused(&write(&dir, "bad.toml", text), &[], needles);
}

fn with(from: &str, to: &str) -> String {
    assert!(SCENARIO.contains(from), "{from}");
    SCENARIO.replacen(from, to, 1)
}

#[test]
fn unknown_store_in_a_data_step() {
    expect_input_error(
        "unknown_store",
        &with(r#"{ data = "users" }"#, r#"{ data = "orders" }"#),
        &[
            "`services.api.calls.0.data` = \"orders\"",
            "[[datastores]]",
            "\"users\"",
        ],
    );
}

#[test]
fn zero_capacity_tier() {
    expect_input_error(
        "zero_capacity",
        &with("capacity = 500", "capacity = 0"),
        &[
            "`datastores.users.cache.l1.capacity` = 0",
            "at least 1 item or 1 byte",
            "remove the tier",
        ],
    );
}

#[test]
fn unknown_eviction() {
    expect_input_error(
        "unknown_eviction",
        &with(r#"eviction = "s3-fifo""#, r#"eviction = "arc""#),
        &[
            "`datastores.users.cache.hot.eviction` = \"arc\"",
            "\"lru\", \"fifo\", \"lfu\", \"s3-fifo\", \"ttl-only\"",
        ],
    );
    // A value of another type lists the names too (it said only "expected a
    // string").
    expect_input_error(
        "eviction_not_a_string",
        &with(r#"eviction = "s3-fifo""#, "eviction = 7"),
        &[
            "`datastores.users.cache.hot.eviction`: invalid type: integer `7`",
            "expected one of \"lru\", \"fifo\", \"lfu\", \"s3-fifo\", \"ttl-only\"",
        ],
    );
}

#[test]
fn zipf_exponent_not_positive() {
    expect_input_error(
        "zipf_s",
        &with("s = 1.0 }", "s = 0.0 }"),
        &["`workload.keys.s` = 0", "Zipf exponent > 0"],
    );
    expect_input_error(
        "zipf_s_negative",
        &with("s = 1.0 }", "s = -1.5 }"),
        &["`workload.keys.s` = -1.5", "Zipf exponent > 0"],
    );
}

#[test]
fn two_caches_with_one_column_name() {
    // Store `edge`'s tier `cache` would write the edge cache's column.
    let edge = SCENARIO.replace(r#""users""#, r#""edge""#).replacen(
        r#"tier = "l1""#,
        r#"tier = "cache""#,
        1,
    ) + "\n[edge.cache]\nmax_age = \"60s\"\ncacheable_fraction = 0.5\n";
    expect_input_error(
        "edge_column",
        &edge,
        &[
            "`datastores.edge.cache.cache.tier` = \"cache\"",
            "cache_edge_cache_hit_ratio is also the edge cache's ([edge.cache])",
            "rename the tier or the store",
        ],
    );
    // Store `users_l1`'s tier `hot` and store `users`' tier `l1_hot`.
    let second = "\n[[datastores]]\nname = \"users_l1\"\nshard = { workers = 1, read = \
                  { distribution = \"exponential\", mean = \"1ms\" } }\n\
                  [[datastores.cache]]\ntier = \"hot\"\ncapacity = 10\n";
    expect_input_error(
        "store_column",
        &(with(r#"tier = "hot""#, r#"tier = "l1_hot""#)
            .replace(r#"tier = "hot""#, r#"tier = "l1_hot""#)
            + second),
        &[
            "`datastores.users_l1.cache.hot.tier` = \"hot\"",
            "cache_users_l1_hot_hit_ratio is also datastore \"users\"'s tier \"l1_hot\"",
        ],
    );
}

#[test]
fn shard_rate_limit_unknown_or_per_client() {
    let shard = r#"mean = "2ms" } }"#;
    let limited = r#"mean = "2ms" }, rate_limit = "partition" }"#;
    expect_input_error(
        "shard_limit_unknown",
        &with(shard, limited),
        &[
            "`datastores.users.shard.rate_limit` = \"partition\"",
            "policy.rate_limit",
        ],
    );
    let per_client = with(shard, limited)
        + "\n[policy.rate_limit.partition]\nstrategy = \"gcra\"\nwindow = \"1s\"\nmax = 100\n\
           key = \"client\"\n";
    expect_input_error(
        "shard_limit_client",
        &per_client,
        &[
            "`datastores.users.shard.rate_limit` = \"partition\"",
            "key = \"global\"",
            "each shard counts its own operations",
        ],
    );
    // Only a throttle carries a Retry-After.
    expect_input_error(
        "shard_retry_after_unlimited",
        &with(shard, r#"mean = "2ms" }, retry_after = true }"#),
        &[
            "`datastores.users.shard.retry_after` = true",
            "a shard with a `rate_limit`",
        ],
    );
}

#[test]
fn store_retry_with_a_per_try_timeout_or_a_bad_key_and_a_zero_timeout() {
    let store = "routing = { reads = \"nearest-replica\" }";
    expect_input_error(
        "store_retry_per_try",
        &with(
            store,
            &format!("retry = {{ per_try_timeout = \"1s\" }}\n{store}"),
        ),
        &[
            "`datastores.users.retry.per_try_timeout` = \"1s\"",
            "each try of an operation times out after the store's own timeout",
            "datastores.users.timeout = \"1s\"",
        ],
    );
    expect_input_error(
        "store_timeout_zero",
        &with(store, &format!("timeout = \"0s\"\n{store}")),
        &["`datastores.users.timeout` = \"0s\"", "a duration above 0"],
    );
    expect_input_error(
        "store_retry_attempts",
        &with(store, &format!("retry = {{ attempts = 0 }}\n{store}")),
        &["`datastores.users.retry.attempts` = 0"],
    );
}

#[test]
fn a_bad_apply_time() {
    let shard = r#"mean = "2ms" } }"#;
    expect_input_error(
        "apply_shape",
        &with(
            shard,
            r#"mean = "2ms" }, apply = { distribution = "pareto", mean = "1ms", shape = 0.5 } }"#,
        ),
        &["`datastores.users.shard.apply.shape` = 0.5", "> 1"],
    );
    expect_input_error(
        "apply_distribution",
        &with(
            shard,
            r#"mean = "2ms" }, apply = { distribution = "normal", mean = "1ms" } }"#,
        ),
        &[
            "`datastores.users.shard.apply.distribution`",
            "unknown variant `normal`",
            "`exponential`",
        ],
    );
}

#[test]
fn a_bad_store_failover() {
    let routing = "routing = { reads = \"nearest-replica\" }";
    expect_input_error(
        "failover_zero",
        &with(
            routing,
            &format!("{routing}\nfailover = {{ after = \"0s\" }}"),
        ),
        &[
            "`datastores.users.failover.after` = \"0s\"",
            "a duration above 0",
        ],
    );
    expect_input_error(
        "failover_no_replica",
        &with(
            routing,
            &format!("{routing}\nfailover = {{ after = \"1m\" }}"),
        )
        .replace("replicas = [\"eu-west\"]\n", ""),
        &[
            "`datastores.users.failover`",
            "at least one entry in `replicas`",
        ],
    );
}

#[test]
fn too_many_shards() {
    expect_input_error(
        "shards",
        &with("shards = 8", "shards = 100000"),
        &["`datastores.users.shards` = 100000", "from 1 to 4096"],
    );
}

#[test]
fn replica_in_an_undeclared_region() {
    expect_input_error(
        "replica_region",
        &with(r#"replicas = ["eu-west"]"#, r#"replicas = ["ap-south"]"#),
        &[
            "`datastores.users.replicas.0` = \"ap-south\"",
            "[[regions]]",
            "\"us-east\", \"eu-west\"",
        ],
    );
}

#[test]
fn flush_of_an_unknown_tier() {
    expect_input_error(
        "flush_tier",
        &with(
            r#"tier = "hot"
at"#,
            r#"tier = "warm"
at"#,
        ),
        &["`faults.0.tier` = \"warm\"", "\"l1\", \"hot\""],
    );
}

#[test]
fn ttl_only_without_ttl_and_bad_pool() {
    expect_input_error(
        "ttl_only",
        &with(r#"eviction = "s3-fifo""#, r#"eviction = "ttl-only""#),
        &["`datastores.users.cache.hot.ttl` = missing", "ttl-only"],
    );
    expect_input_error(
        "pool_min",
        &with("min = 2, max = 16", "min = 20, max = 16"),
        &["`datastores.users.pool.min` = 20"],
    );
    // A lifetime under a second replaces connections without end.
    expect_input_error(
        "pool_lifetime",
        &with(
            "min = 2, max = 16",
            "min = 2, max = 16, max_lifetime = \"1ns\"",
        ),
        &[
            "`datastores.users.pool.max_lifetime` = \"1ns\"",
            "at least 1s, or \"0s\" for no limit",
        ],
    );
}

/// `object_size` is a size or a distribution table: a bad value of either
/// form gets that form's message, not "did not match any variant".
#[test]
fn a_bad_object_size_names_what_is_wrong_in_its_form() {
    let primary = "primary = \"us-east\"";
    expect_input_error(
        "size_no_unit",
        &with(primary, &format!("object_size = \"12\"\n{primary}")),
        &["`datastores.users.object_size`", "\"12\"", "\"100MB\""],
    );
    expect_input_error(
        "size_unknown_distribution",
        &with(
            primary,
            &format!("object_size = {{ distribution = \"zipf\", mean = \"4KB\" }}\n{primary}"),
        ),
        &[
            "`datastores.users.object_size.distribution`",
            "unknown variant `zipf`",
            "`lognormal`",
        ],
    );
    expect_input_error(
        "size_wrong_type",
        &with(primary, &format!("object_size = 4096\n{primary}")),
        &[
            "`datastores.users.object_size`",
            "integer `4096`",
            "a size such as \"4KB\"",
        ],
    );
}

#[test]
fn a_warm_start_needs_a_cache_a_rate_and_a_bound() {
    let warm = |text: &str, span: &str| {
        text.replacen(
            "[run]\n",
            &format!("[run]\ncache_warm_start = \"{span}\"\n"),
            1,
        )
    };
    let no_cache = WARMING.split("[[datastores.cache]]").next().unwrap();
    expect_input_error(
        "warm_start_no_cache",
        &warm(no_cache, "1h"),
        &[
            "`run.cache_warm_start` = 1h",
            "a scenario with a cache to warm",
            "leave the key out",
        ],
    );
    expect_input_error(
        "warm_start_closed",
        &warm(
            &WARMING.replace(
                r#"arrivals = { process = "poisson", rate = 2000.0 }"#,
                r#"arrivals = { process = "closed", users = 10, think = "1s" }"#,
            ),
            "1h",
        ),
        &[
            "`run.cache_warm_start` = 1h",
            "arrivals at a known rate (poisson, diurnal or mmpp)",
            "a replayed trace or a closed workload are unknown",
            "`run.warmup` instead",
        ],
    );
    expect_input_error(
        "warm_start_sessions",
        &warm(
            &WARMING.replace(
                "keys = {",
                "session = { requests = 5, think = \"2s\" }\nkeys = {",
            ),
            "1h",
        ),
        &[
            "`run.cache_warm_start` = 1h",
            "open arrivals without sessions",
            "`run.warmup` instead",
        ],
    );
    expect_input_error(
        "warm_start_too_long",
        &warm(WARMING, "2000d"),
        &[
            "`run.cache_warm_start`",
            "at most 10000000000 requests",
            "rate of 2000 a second",
        ],
    );
    expect_input_error(
        "warm_start_not_a_duration",
        &WARMING.replacen("[run]\n", "[run]\ncache_warm_start = 60\n", 1),
        &["run.cache_warm_start"],
    );
}

/// `headroom run` warms one replication's caches while another runs
/// (`run_staged`): five replications of the seed (every kind of cache, a
/// warm start) give the same bytes in every output file on one, two and
/// three threads, whichever thread warmed a replication and whichever ran
/// it.
#[test]
fn warm_started_replications_are_byte_identical_at_any_thread_count() {
    let dir = tempdir("staged-warm-starts");
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/seed.toml");
    let mut outputs = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = dir.join(format!("out{threads}"));
        headroom_ok(&[
            "run",
            seed,
            "--out",
            out.to_str().unwrap(),
            "--threads",
            threads,
            "--replications",
            "5",
            "--set",
            "run.duration=\"2s\"",
            "--set",
            "run.warmup=\"0s\"",
            "--set",
            "run.cache_warm_start=\"30s\"",
            "--set",
            "workload.arrivals.rate=300",
            "--quiet",
        ]);
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap() != "manifest.json")
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        outputs.push(files);
    }
    assert!(outputs[0].len() >= 10, "{} files", outputs[0].len());
    let runs = &outputs[0].iter().find(|(n, _)| n == "runs.csv").unwrap().1;
    assert_eq!(
        String::from_utf8_lossy(runs).lines().count(),
        6,
        "five replications"
    );
    assert!(outputs[0] == outputs[1], "1 and 2 threads differ");
    assert!(outputs[0] == outputs[2], "1 and 3 threads differ");
}

/// `summary.md` says when the busiest shard works for nobody: reads of 50
/// ms at 50 a second, abandoned by their callers after 20 ms, keep 2.5 of
/// its workers busy on average; with no timeout it says nothing.
#[test]
fn summary_names_the_busiest_shards_work_for_nobody() {
    let dir = tempdir("store-timeout-summary");
    let summary = |name: &str, timeout: &str| {
        two_replications_summary(&dir, name, &timed_store(timeout, ""), &[])
    };
    let timed = summary("timed", "timeout = \"20ms\"");
    let line = timed
        .lines()
        .find(|l| l.starts_with("Work for nobody: "))
        .unwrap_or_else(|| panic!("{timed}"));
    let workers: f64 = line["Work for nobody: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((workers - 2.5).abs() < 0.15, "{line}");
    assert!(line.contains("the store's `timeout`"), "{line}");
    let plain = summary("plain", "");
    assert!(!plain.contains("Work for nobody"), "{plain}");
}

/// The `summary.md` of 2 replications of scenario `text` (written to
/// `dir/name.toml`) with the further arguments `args`.
fn two_replications_summary(
    dir: &std::path::Path,
    name: &str,
    text: &str,
    args: &[&str],
) -> String {
    let path = write(dir, &format!("{name}.toml"), text);
    let out = dir.join(name);
    let mut argv = vec![
        "run",
        s(&path),
        "--out",
        s(&out),
        "--replications",
        "2",
        "--quiet",
    ];
    argv.extend_from_slice(args);
    headroom_ok(&argv);
    String::from_utf8(read(&out, "summary.md")).unwrap()
}

/// summary.md names a store's failover: the replica promoted, when, and
/// how long after its primary's region went dark, in every replication;
/// store_failovers.csv has it as one row per replication, with the writes
/// each lost (the range summary.md gives). Without a failover, the file
/// is its header.
#[test]
fn summary_names_a_store_failover() {
    let dir = tempdir("store-failover-summary");
    let scenario = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("experiments/validation/data-replicas.toml"),
    )
    .unwrap()
        + "failover = { after = \"2s\" }\n\n[[faults]]\ntype = \"region-outage\"\n\
           region = \"us-east\"\nat = \"5s\"\nduration = \"10s\"\n";
    let sets = ["--set", "workload.read_fraction=0.5"];
    let summary = two_replications_summary(&dir, "failover", &scenario, &sets);
    assert!(
        summary.contains(
            "\nFailover: **users**'s primary moved from us-east to eu-west at 7 s, 2 s after \
             us-east went dark (in 2 of 2 replications)"
        ) && summary.contains(
            " writes us-east had finished that never reached eu-west (shipped \
             into the partition).",
        ),
        "{summary}"
    );
    let csv = String::from_utf8(read(&dir.join("failover"), "store_failovers.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("point,replication,store,from_region,to_region,dark_s,promoted_s,lost_writes")
    );
    let lost: Vec<u64> = lines
        .enumerate()
        .map(|(r, line)| {
            let (head, lost) = line.rsplit_once(',').expect("cells");
            assert_eq!(head, format!("0,{r},users,us-east,eu-west,5,7"));
            lost.parse().expect("a count")
        })
        .collect();
    assert_eq!(lost.len(), 2, "{csv}");
    let (min, max) = (lost.iter().min().unwrap(), lost.iter().max().unwrap());
    let range = if min == max {
        format!("Lost: {min} writes")
    } else {
        format!("Lost: {min} to {max} writes")
    };
    assert!(summary.contains(&range), "{range}: {summary}");
    // The same bytes on one thread.
    let one = [&sets[..], &["--threads", "1", "--plots"]].concat();
    two_replications_summary(&dir, "failover1", &scenario, &one);
    let again = String::from_utf8(read(&dir.join("failover1"), "store_failovers.csv")).unwrap();
    assert_eq!(csv, again, "byte-identical at any thread count");
    // Both copies' lag over time: eu-west's until the promotion, us-east's
    // (a replica since) once its region is back.
    let svg = String::from_utf8(read(&dir.join("failover1"), "replication_lag.svg")).unwrap();
    for copy in ["eu-west", "us-east"] {
        assert!(
            svg.contains(&format!(
                "users {copy}, slowest shard (mean of 2 replications)"
            )),
            "{copy}: {svg}"
        );
    }
    // No failover: the header alone.
    let plain = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("experiments/validation/data-replicas.toml"),
    )
    .unwrap();
    two_replications_summary(&dir, "static", &plain, &[]);
    let csv = String::from_utf8(read(&dir.join("static"), "store_failovers.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1, "{csv}");
}

/// A priced world in three regions: api in two of them behind a regional
/// cache tier and a global `kv` tier, a store with a replica, and egress.
const PRICED: &str = r#"
[run]
duration = "30s"
warmup = "5s"
replications = 3
seed = 5

[workload]
arrivals = { process = "poisson", rate = 300.0 }
keys = { count = 5000, popularity = "zipf", s = 0.9 }
read_fraction = 0.9
origin = { us-east = 0.5, eu-west = 0.3, ap-south = 0.2 }
request_size = "2KB"
response_size = "20KB"

[[regions]]
name = "us-east"
[[regions]]
name = "eu-west"
[[regions]]
name = "ap-south"

[network.rtt.us-east]
eu-west = "80ms"
ap-south = "190ms"
[network.rtt.eu-west]
ap-south = "120ms"

[[services]]
name = "api"
regions = ["us-east", "eu-west"]
instance = { type = "m5.large", workers = 16 }
work = { distribution = "exponential", mean = "2ms" }
calls = [ { data = "users" } ]
replicas = 2

[[datastores]]
name = "users"
shards = 4
shard = { workers = 8, read = { distribution = "exponential", mean = "1ms" }, write = { distribution = "exponential", mean = "3ms" } }
primary = "us-east"
replicas = ["eu-west"]
routing = { writes = "primary", reads = "nearest-replica" }
object_size = "4KB"

[[datastores.cache]]
tier = "hot"
storage = "memory"
scope = "region"
capacity = 1000
ttl = "60s"

[[datastores.cache]]
tier = "warm"
storage = "kv"
scope = "global"
capacity = 3000
latency = "1ms"

[costs]
region_multipliers = { eu-west = 1.1 }
instance_types = { "m5.large" = { vcpu = 2, memory = "8GiB", hourly = 0.096 } }
egress = { inter_region_per_gb = 0.02, internet_per_gb = 0.09 }

[costs.data]
shard_hourly = 0.5
replica_hourly = 0.2
memory_per_gb_hour = 0.02
kv_per_million_ops = 1.0
kv_per_gb_month = 0.25
"#;

/// `bill.csv`: the bill line by line, each replication's lines adding up to
/// its `runs.csv` cost and each part to its column; byte-identical at any
/// thread count; `summary.md`'s Bill section by region.
#[test]
fn the_bill_adds_up_line_by_line_at_any_thread_count() {
    let dir = tempdir("bill");
    let scenario = write(&dir, "priced.toml", PRICED);
    let mut outs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.join(format!("t{threads}"));
        headroom_ok(&[
            "run",
            s(&scenario),
            "--out",
            s(&out),
            "--threads",
            threads,
            "--quiet",
        ]);
        outs.push(out);
    }
    let bill = String::from_utf8(read(&outs[0], "bill.csv")).unwrap();
    assert_eq!(
        bill.as_bytes(),
        read(&outs[1], "bill.csv"),
        "byte-identical"
    );
    let mut lines = bill.lines();
    assert_eq!(
        lines.next(),
        Some("point,replication,part,kind,component,region,cost_usd,cost_per_month_usd")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // Per replication: api in its two regions, the shards and the replica,
    // the hot tier's copy in each caller region, the warm tier's capacity
    // and operations, and each region's two kinds of egress.
    let first: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| r[1] == "0")
        .map(|r| (r[3], r[4], r[5]))
        .collect();
    assert_eq!(
        first,
        [
            ("instances", "api", "us-east"),
            ("instances", "api", "eu-west"),
            ("shards", "users", "us-east"),
            ("replicas", "users", "eu-west"),
            ("cache_capacity", "users/hot", "us-east"),
            ("cache_capacity", "users/hot", "eu-west"),
            ("cache_capacity", "users/warm", "global"),
            ("cache_operations", "users/warm", "global"),
            ("egress_inter_region", "network", "us-east"),
            ("egress_inter_region", "network", "eu-west"),
            ("egress_inter_region", "network", "ap-south"),
            ("egress_internet", "network", "us-east"),
            ("egress_internet", "network", "eu-west"),
            ("egress_internet", "network", "ap-south"),
        ]
    );
    let runs = String::from_utf8(read(&outs[0], "runs.csv")).unwrap();
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut totals = Vec::new();
    for (r, line) in runs.lines().skip(1).enumerate() {
        let cells: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let sum = |part: Option<&str>, column: usize| -> f64 {
            rows.iter()
                .filter(|row| row[1] == r.to_string() && part.is_none_or(|p| row[2] == p))
                .map(|row| row[column].parse::<f64>().unwrap())
                .sum()
        };
        let close = |a: f64, b: f64, what: &str| {
            assert!(
                (a / b - 1.0).abs() < 1e-9,
                "replication {r} {what}: {a} vs {b}"
            );
        };
        close(sum(None, 6), cells[col("cost_usd")], "cost_usd");
        close(sum(None, 7), cells[col("cost_per_month_usd")], "total");
        for (part, column) in [
            ("instances", "instance_cost_per_month_usd"),
            ("data", "data_cost_per_month_usd"),
            ("egress", "egress_cost_per_month_usd"),
        ] {
            close(sum(Some(part), 7), cells[col(column)], part);
        }
        // ap-south runs no api: its edge sends its clients' requests to
        // another region and answers them, so it pays egress alone.
        let ap_south: f64 = rows
            .iter()
            .filter(|row| row[1] == r.to_string() && row[5] == "ap-south")
            .map(|row| row[7].parse::<f64>().unwrap())
            .sum();
        assert!(ap_south > 0.0, "ap-south's edge answers its clients");
        totals.push(cells[col("cost_per_month_usd")]);
    }
    assert_eq!(totals.len(), 3);
    let summary = String::from_utf8(read(&outs[0], "summary.md")).unwrap();
    let section = &summary[summary.find("\n## Bill\n").expect("a Bill section")..];
    for region in ["us-east", "eu-west", "ap-south", "global", "all"] {
        assert!(
            section.contains(&format!("\n| {region} | ")),
            "{region} in {section}"
        );
    }
    assert!(
        section.contains("| data | shards | users | us-east | 1460 ± 0 |"),
        "4 shards at 0.5 USD an hour: {section}"
    );
}
