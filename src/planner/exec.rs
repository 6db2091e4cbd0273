//! Runs the replications of many points in parallel, (point, replication)
//! pairs spread over rayon, results kept in index order.
//!
//! With a fixed replication count every pair runs in one wave. With
//! stop-on-precision (`replications = { min, max, precision }`) a point runs
//! `min` replications, then more in waves until the 95 % CI half-widths of
//! p99 latency and of cost are within `precision` x mean, or `max` is
//! reached. The rule is checked after each replication in index order, and
//! replications a wave ran past the stopping one are dropped, so the number
//! kept depends only on the results, never on `--threads` or on wave sizes.

use std::sync::atomic::Ordering;

use headroom_models::Plan;
use headroom_models::report::{
    Bottleneck, CACHE_TIMESERIES_COLUMNS, CacheHalves, Cell, ColdCache,
    DEPLOYMENT_TIMESERIES_COLUMNS, EDGE_TIMESERIES_COLUMNS, LATENCY_BATCHES, Pooled,
    REGION_TIMESERIES_COLUMNS, SHARD_TIMESERIES_COLUMNS, StationLoad, cache_halves, metric_ci95,
};
use headroom_models::{KeepCopies, WarmSlot, WarmStarts};
use headroom_sim::exec::{Threads, run_in_order, run_indexed};
use headroom_sim::stats::{LatencyHistogram, Relaxation, SparseHistogram};

use crate::planner::points::COST;
use crate::planner::table::{Column, Kind, Table};
use crate::progress::Progress;

/// How many replications each point gets.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum Replications {
    /// Exactly this many.
    Fixed {
        /// Replications per point.
        count: u32,
    },
    /// From `min` up to `max`, stopping once p99 latency and cost are known
    /// to within `precision` x mean (95 % CI half-width).
    Precision {
        /// Replications always run (>= 2).
        min: u32,
        /// Most replications.
        max: u32,
        /// Relative half-width target, e.g. 0.05.
        precision: f64,
    },
}

/// Why a point stopped adding replications.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// The fixed count ran.
    Fixed,
    /// The precision target was met.
    Precision,
    /// `max` came before the precision target.
    Max,
    /// A replication failed (an unbounded queue grew without limit); the
    /// point ran no more.
    Failed,
    /// An adaptive search settled the point (its SLO verdict or its cost
    /// rank known at 95 %) before `max`.
    Settled,
}

/// One replication's results.
#[derive(Clone, Debug)]
pub struct Record {
    /// The run metrics in column order, or why the replication failed.
    pub cells: Result<Vec<Cell>, String>,
    /// `timeseries.csv` rows (after `point, replication`), as their cell
    /// text: a sweep holds every run's until its end, and the text takes
    /// about a third of the memory of the engine's cells.
    pub timeseries: Table,
    /// `services.csv` rows (after `point, replication`): one per service.
    pub services: Table,
    /// Its per-component time series, those the sweep keeps.
    pub series: ComponentSeries,
    /// `shards.csv` rows (after `point, replication`): one per shard of
    /// each copy of each datastore.
    pub shards: Table,
    /// `regions.csv` rows (after `point, replication`): one per client
    /// region, with two regions or more.
    pub regions: Table,
    /// `deployments.csv` rows (after `point, replication`): one per
    /// service and region it runs in, with two regions or more.
    pub deployments: Table,
    /// `edges.csv` rows (after `point, replication`): one per call edge.
    pub edges: Table,
    /// `bill.csv` rows (after `point, replication`): one per priced item
    /// (none without `[costs]`).
    pub bill: Table,
    /// Statistics start this many simulated seconds into the run.
    pub warmup_s: f64,
    /// The replication's end-to-end latency histogram (measured window), to
    /// pool with its point's others: the centre of each latency quantile's
    /// interval ([`pooled`]). `None` when the replication failed.
    pub latency: Option<SparseHistogram>,
    /// Each client region's latency histogram (measured window, answered
    /// requests as its clients saw them), in `regions`' order: what
    /// `compare` pools per region. Empty unless asked for
    /// ([`SeriesWanted::component_latency`]), with fewer than two regions,
    /// or when the replication failed.
    pub region_latency: Vec<SparseHistogram>,
    /// Each call edge's latency histogram (measured window, calls as their
    /// callers saw them, however they ended), in `edges`' order: what
    /// `compare` pools per edge. Empty unless asked for
    /// ([`SeriesWanted::component_latency`]) or when the replication failed.
    pub edge_latency: Vec<SparseHistogram>,
    /// Mean latency (ms) per batch of the measured window
    /// ([`headroom_models::RunOutput::latency_batches`]; empty when the
    /// replication failed), and a batch's length in seconds: what
    /// [`relaxation`] reads.
    pub batches: (Vec<f64>, f64),
    /// Its queues and their loads
    /// ([`headroom_models::RunOutput::stations`]; empty when the
    /// replication failed): what [`bottleneck`] reads.
    pub stations: Vec<StationLoad>,
    /// Its caches' lookups by half of the measured window
    /// ([`headroom_models::report::cache_halves`]; empty when the load is
    /// not steady or the replication failed): what [`cold_caches`] reads.
    pub caches: Vec<CacheHalves>,
}

/// A replication's per-component time series (rows after `point,
/// replication`), each empty unless the sweep keeps it ([`SeriesWanted`]).
#[derive(Clone, Debug, Default)]
pub struct ComponentSeries {
    /// `services_timeseries.csv`'s: one per interval and service.
    pub services: Table,
    /// `shards_timeseries.csv`'s: one per interval and shard of each copy.
    pub shards: Table,
    /// `caches_timeseries.csv`'s: one per interval and cache.
    pub caches: Table,
    /// `regions_timeseries.csv`'s: one per interval and client region.
    pub regions: Table,
    /// `deployments_timeseries.csv`'s: one per interval and deployment.
    pub deployments: Table,
    /// `edges_timeseries.csv`'s: one per interval and call edge.
    pub edges: Table,
}

/// Which per-component time series a sweep keeps (`--service-timeseries`,
/// `--shard-timeseries`, `--cache-timeseries`, `--region-timeseries`,
/// `--deployment-timeseries`, `--edge-timeseries`): each is a row per run, interval and
/// component, often the largest table of a sweep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeriesWanted {
    /// Per service.
    pub services: bool,
    /// Per datastore shard.
    pub shards: bool,
    /// Per cache.
    pub caches: bool,
    /// Per client region.
    pub regions: bool,
    /// Per deployment (service and region it runs in).
    pub deployments: bool,
    /// Per call edge.
    pub edges: bool,
    /// Each client region's and each call edge's latency histogram
    /// ([`Record::region_latency`], [`Record::edge_latency`]: `compare`
    /// pools them; a sweep would hold one per region and edge per run).
    pub component_latency: bool,
}

/// How many relaxation times `records`' measured windows span
/// ([`headroom_models::report::relaxation_of`]), `None` if a replication
/// failed (its batches are empty) or there is nothing to measure.
pub fn relaxation(records: &[Record]) -> Option<Relaxation> {
    headroom_models::report::relaxation_of_batches(
        records
            .iter()
            .map(|r| (r.batches.0.as_slice(), r.batches.1)),
    )
}

/// The queue of `records` that remembers longest, by the heavy-traffic
/// approximation ([`headroom_models::report::bottleneck_of`]), `None` if a
/// replication failed or measured no stations.
pub fn bottleneck(records: &[Record]) -> Option<Bottleneck> {
    headroom_models::report::bottleneck_of(
        records
            .iter()
            .map(|r| (r.stations.as_slice(), r.batches.1 * LATENCY_BATCHES as f64)),
    )
}

/// The caches of `records` that were still warming over the measured
/// window ([`headroom_models::report::cold_caches`]).
pub fn cold_caches(records: &[Record]) -> Vec<ColdCache> {
    headroom_models::report::cold_caches(records.iter().map(|r| r.caches.as_slice()))
}

/// The latency quantiles of `records` pooled (their histograms merged), or
/// `None` if there are none or one has no histogram (a failed replication).
pub fn pooled(records: &[Record]) -> Option<Pooled> {
    pooled_of(records, |r| r.latency.as_ref())
}

/// The latency quantiles of `histogram` of every record pooled, `None`
/// without records or when one has no such histogram.
pub fn pooled_of<'r>(
    records: &'r [Record],
    histogram: impl Fn(&'r Record) -> Option<&'r SparseHistogram>,
) -> Option<Pooled> {
    if records.is_empty() {
        return None;
    }
    let mut merged = LatencyHistogram::new();
    for r in records {
        merged.merge_sparse(histogram(r)?);
    }
    Some(Pooled::of(&merged))
}

/// For each `k` in `1..=records.len()`, the quantiles of the first `k`
/// records pooled (entry `k - 1`), `None` from the first record without a
/// histogram on.
pub fn pooled_prefixes(records: &[Record]) -> Vec<Option<Pooled>> {
    let mut merged = LatencyHistogram::new();
    let mut whole = true;
    records
        .iter()
        .map(|r| {
            match &r.latency {
                Some(h) if whole => merged.merge_sparse(h),
                _ => whole = false,
            }
            whole.then(|| Pooled::of(&merged))
        })
        .collect()
}

/// A point's replications, in index order.
#[derive(Clone, Debug)]
pub struct PointRuns {
    /// One record per replication kept.
    pub records: Vec<Record>,
    /// Why it stopped.
    pub stop: Stop,
}

/// Where the precision rule finds p99 latency and cost in a record's cells.
#[derive(Clone, Copy, Debug)]
pub struct Watched {
    /// The p99 column the precision rule watches: the SLO's
    /// ([`crate::planner::slo::Slo::latency_metric`]), `latency_p99_ms` or
    /// with `slo.per_region` `worst_region_p99_ms`.
    pub p99_metric: &'static str,
    /// Index of `p99_metric`.
    pub p99: Option<usize>,
    /// Index of `cost_per_month_usd`.
    pub cost: Option<usize>,
}

/// Runs every point of `plans` under `reps` on `threads` threads, keeping
/// the per-component time series `series`.
pub fn run_points(
    plans: &[&Plan],
    reps: Replications,
    watched: Watched,
    threads: Threads,
    series: SeriesWanted,
    progress: &Progress,
) -> anyhow::Result<Vec<PointRuns>> {
    let (first, limit) = match reps {
        Replications::Fixed { count } => (count, count),
        Replications::Precision { min, max, .. } => (min, max),
    };
    let mut runs: Vec<PointRuns> = plans
        .iter()
        .map(|_| PointRuns {
            records: Vec::new(),
            stop: Stop::Fixed,
        })
        .collect();
    let mut open: Vec<bool> = vec![true; plans.len()];
    let mut target: Vec<u32> = vec![first; plans.len()];
    // Record counts at which the stop rule already failed, per point.
    let mut checked: Vec<usize> = vec![0; plans.len()];
    loop {
        let jobs: Vec<(usize, u32)> = (0..plans.len())
            .filter(|&i| open[i])
            .flat_map(|i| (runs[i].records.len() as u32..target[i]).map(move |r| (i, r)))
            .collect();
        if jobs.is_empty() {
            break;
        }
        let added: u64 = jobs
            .iter()
            .map(|&(i, _)| plans[i].run.duration.as_nanos())
            .sum();
        progress.grow(added);
        let results = run_sharing(
            &jobs,
            |i| plans[i],
            threads,
            |j, warm| {
                let (i, r) = jobs[j];
                replicate(plans[i], r, series, progress, warm)
            },
        )?;
        for (&(i, _), record) in jobs.iter().zip(results) {
            runs[i].records.push(record);
        }
        for i in 0..plans.len() {
            if !open[i] {
                continue;
            }
            let decision = decide(&runs[i].records, reps, watched, checked[i], threads);
            checked[i] = runs[i].records.len();
            match decision {
                Decision::Stop(keep, stop) => {
                    runs[i].records.truncate(keep);
                    runs[i].stop = stop;
                    open[i] = false;
                    progress.points_done.fetch_add(1, Ordering::Relaxed);
                }
                Decision::More(n) => target[i] = (runs[i].records.len() as u32 + n).min(limit),
            }
        }
    }
    Ok(runs)
}

enum Decision {
    /// Keep this many records and stop.
    Stop(usize, Stop),
    /// Run this many more.
    More(u32),
}

/// The stop rule, checked in index order over the records of one point.
fn decide(
    records: &[Record],
    reps: Replications,
    watched: Watched,
    checked: usize,
    threads: Threads,
) -> Decision {
    if let Some(k) = records.iter().position(|r| r.cells.is_err()) {
        return Decision::Stop(k + 1, Stop::Failed);
    }
    let Replications::Precision {
        min,
        max,
        precision,
    } = reps
    else {
        return Decision::Stop(records.len(), Stop::Fixed);
    };
    let series = |index: Option<usize>| -> Vec<f64> {
        records
            .iter()
            .map(|r| match (&r.cells, index) {
                (Ok(cells), Some(i)) => cells[i].as_f64(),
                _ => 0.0,
            })
            .collect()
    };
    let (p99, cost) = (series(watched.p99), series(watched.cost));
    let pooled = pooled_prefixes(records);
    // Counts up to `checked` failed the rule in earlier waves.
    let from = (min as usize).max(checked + 1);
    let name = watched.p99_metric;
    if let Some(k) = stop_at(&[(name, &p99), (COST, &cost)], &pooled, precision, from) {
        return Decision::Stop(k, Stop::Precision);
    }
    if records.len() >= max as usize {
        return Decision::Stop(max as usize, Stop::Max);
    }
    let last = pooled.last().copied().flatten();
    Decision::More(wave(name, &p99, last.as_ref(), precision, max, threads))
}

/// The first `k >= from` (1-based count) at which every series' 95 % CI
/// half-width over its first `k` values is within `precision` x |centre|.
/// Series are `(runs.csv column, values)`; `pooled[k - 1]` holds the first
/// `k` replications' latency quantiles pooled, the centres of the quantile
/// series' intervals ([`metric_ci95`]; an entry that is `None` or missing
/// leaves them on the replications' mean). A latency quantile's interval is
/// never narrower than its histogram's resolution, so a precision finer
/// than that is never reached.
pub fn stop_at(
    series: &[(&str, &[f64])],
    pooled: &[Option<Pooled>],
    precision: f64,
    from: usize,
) -> Option<usize> {
    let n = series.iter().map(|(_, s)| s.len()).min().unwrap_or(0);
    (from.max(2)..=n).find(|&k| {
        let centres = pooled.get(k - 1).copied().flatten();
        series.iter().all(|&(name, s)| {
            let ci = metric_ci95(name, &s[..k], centres.as_ref());
            ci.half_width <= precision * ci.mean.abs()
        })
    })
}

/// How many more replications to run: the classic estimate
/// `n (h / target)^2 - n` from the current relative half-width `h` of the
/// p99 column `name` (centred on `pooled` when it is a pooled quantile), at
/// least one, at least enough to keep the threads busy, at most up to `max`.
fn wave(
    name: &str,
    p99: &[f64],
    pooled: Option<&Pooled>,
    precision: f64,
    max: u32,
    threads: Threads,
) -> u32 {
    let n = p99.len() as f64;
    let relative = metric_ci95(name, p99, pooled).relative_half_width();
    let needed = if relative.is_finite() {
        (n * (relative / precision).powi(2) - n).ceil()
    } else {
        n
    };
    let busy = match threads {
        Threads::Exactly(t) => t.get() as f64,
        Threads::All => std::thread::available_parallelism().map_or(1.0, |t| t.get() as f64),
    };
    let room = f64::from(max) - n;
    needed.max(1.0).max(busy.min(room)).min(room).max(1.0) as u32
}

/// A run's time series as a table of the columns after `point,
/// replication`, typed by its first row's cells (floats when it has none).
fn series_table(rows: &[headroom_models::report::IntervalRow]) -> Table {
    let kinds = rows
        .first()
        .map(|row| row.cells().iter().map(Kind::of).collect());
    let mut t = typed_table(&headroom_models::report::TIMESERIES_COLUMNS[2..], kinds);
    for row in rows {
        t.push_display_row(row.cells());
    }
    t
}

/// A replication's per-service rows as a table of the columns after
/// `point, replication` (`service`, then the counts and measures), typed
/// by its first row's cells.
fn services_table(rows: &[headroom_models::report::ServiceRow]) -> Table {
    let columns = &headroom_models::report::SERVICE_COLUMNS[2..];
    named_table(columns, rows, |row| ([&row.service], row.cells()))
}

/// `rows` as a table of `columns`: each row's names, then its cells, as
/// `row` gives them; typed by the first row's cells (the names strings).
fn named_table<R, const K: usize, const N: usize>(
    columns: &[&str],
    rows: &[R],
    row: impl Fn(&R) -> ([&str; K], [Cell; N]),
) -> Table {
    let kinds = rows.first().map(|r| {
        [Kind::Str; K]
            .into_iter()
            .chain(row(r).1.iter().map(Kind::of))
            .collect()
    });
    let mut t = typed_table(columns, kinds);
    for r in rows {
        let (names, cells) = row(r);
        let names = names.into_iter().map(str::to_owned);
        t.push_row(names.chain(cells.iter().map(Cell::to_string)));
    }
    t
}

/// A replication's per-service time series as a table of the columns
/// after `point, replication` (`t_s`, `service`, then the counts and
/// measures), typed by its first row's cells.
fn service_series_table(out: &headroom_models::RunOutput) -> Table {
    let kinds = out.service_timeseries.first().map(|row| {
        [Kind::Float, Kind::Str]
            .into_iter()
            .chain(row.cells().iter().map(Kind::of))
            .collect()
    });
    let mut t = typed_table(
        &headroom_models::report::SERVICE_TIMESERIES_COLUMNS[2..],
        kinds,
    );
    for row in &out.service_timeseries {
        t.push_row(row.text(&out.services));
    }
    t
}

/// Kinds of `shards_timeseries.csv`'s columns after `point, replication`.
pub(crate) const SHARD_SERIES_KINDS: [Kind; SHARD_TIMESERIES_COLUMNS.len() - 2] = {
    use Kind::{Flag, Float, Int, Str};
    [
        Float, Str, Str, Int, Float, Int, Int, Float, Float, Float, Int, Float, Float, Flag,
    ]
};

/// Kinds of `caches_timeseries.csv`'s columns after `point, replication`.
pub(crate) const CACHE_SERIES_KINDS: [Kind; CACHE_TIMESERIES_COLUMNS.len() - 2] = {
    use Kind::{Flag, Float, Int, Str};
    [Float, Str, Str, Float, Float, Float, Int, Int, Float, Flag]
};

/// Kinds of `regions_timeseries.csv`'s columns after `point, replication`.
pub(crate) const REGION_SERIES_KINDS: [Kind; REGION_TIMESERIES_COLUMNS.len() - 2] = {
    use Kind::{Flag, Float, Int, Str};
    [
        Float, Str, Float, Float, Float, Int, Int, Int, Float, Float, Flag,
    ]
};

/// A replication's per-client-region time series as a table of the columns
/// after `point, replication` (`t_s`, `region`, then the counts and
/// measures).
fn region_series_table(out: &headroom_models::RunOutput) -> Table {
    let kinds = REGION_SERIES_KINDS.to_vec();
    let mut t = typed_table(&REGION_TIMESERIES_COLUMNS[2..], Some(kinds));
    for row in &out.region_timeseries {
        t.push_row(row.text(&out.regions));
    }
    t
}

/// Kinds of `deployments_timeseries.csv`'s columns after `point,
/// replication`: `services_timeseries.csv`'s with the region's name.
pub(crate) const DEPLOYMENT_SERIES_KINDS: [Kind; DEPLOYMENT_TIMESERIES_COLUMNS.len() - 2] = {
    use Kind::{Flag, Float, Int, Str};
    [
        Float, Str, Str, Float, Int, Int, Int, Float, Float, Float, Float, Float, Int, Float, Flag,
    ]
};

/// A replication's per-deployment time series as a table of the columns
/// after `point, replication` (`t_s`, `service`, `region`, then the counts
/// and measures).
fn deployment_series_table(out: &headroom_models::RunOutput) -> Table {
    let kinds = DEPLOYMENT_SERIES_KINDS.to_vec();
    let mut t = typed_table(&DEPLOYMENT_TIMESERIES_COLUMNS[2..], Some(kinds));
    for row in &out.deployment_timeseries {
        t.push_row(row.deployment_text(&out.deployments));
    }
    t
}

/// Kinds of `edges_timeseries.csv`'s columns after `point, replication`.
pub(crate) const EDGE_SERIES_KINDS: [Kind; EDGE_TIMESERIES_COLUMNS.len() - 2] = {
    use Kind::{Flag, Float, Int, Str};
    [
        Float, Str, Str, Float, Float, Int, Int, Int, Int, Int, Int, Float, Float, Int, Flag,
    ]
};

/// A replication's per-edge time series as a table of the columns after
/// `point, replication` (`t_s`, `caller`, `callee`, then the counts and
/// measures).
fn edge_series_table(out: &headroom_models::RunOutput) -> Table {
    let kinds = EDGE_SERIES_KINDS.to_vec();
    let mut t = typed_table(&EDGE_TIMESERIES_COLUMNS[2..], Some(kinds));
    for row in &out.edge_timeseries {
        t.push_row(row.text(&out.edges));
    }
    t
}

/// A replication's per-shard time series as a table of the columns after
/// `point, replication` (`t_s`, `store`, `region`, `shard`, then the
/// counts and measures).
fn shard_series_table(out: &headroom_models::RunOutput) -> Table {
    let kinds = SHARD_SERIES_KINDS.to_vec();
    let mut t = typed_table(&SHARD_TIMESERIES_COLUMNS[2..], Some(kinds));
    for row in &out.shard_timeseries {
        t.push_row(row.text(&out.shards));
    }
    t
}

/// A replication's per-cache time series as a table of the columns after
/// `point, replication` (`t_s`, `store`, `tier`, then the counts and
/// measures).
fn cache_series_table(out: &headroom_models::RunOutput) -> Table {
    let kinds = CACHE_SERIES_KINDS.to_vec();
    let mut t = typed_table(&CACHE_TIMESERIES_COLUMNS[2..], Some(kinds));
    for row in &out.cache_timeseries {
        t.push_row(row.text());
    }
    t
}

/// A replication's per-region rows as a table of the columns after
/// `point, replication` (`region`, then the counts and measures), typed by
/// its first row's cells.
fn regions_table(rows: &[headroom_models::report::RegionRow]) -> Table {
    let columns = &headroom_models::report::REGION_COLUMNS[2..];
    named_table(columns, rows, |row| ([&row.region], row.cells()))
}

/// A replication's per-deployment rows as a table of the columns after
/// `point, replication` (`service`, `region`, then the counts and
/// measures), typed by its first row's cells.
fn deployments_table(rows: &[headroom_models::DeploymentRow]) -> Table {
    let columns = &headroom_models::report::DEPLOYMENT_COLUMNS[2..];
    named_table(columns, rows, |row| {
        ([&row.stats.service, &row.region], row.cells())
    })
}

/// A replication's per-edge rows as a table of the columns after `point,
/// replication` (`caller`, `callee`, then the counts and measures), typed
/// by its first row's cells.
fn edges_table(rows: &[headroom_models::EdgeRow]) -> Table {
    let columns = &headroom_models::report::EDGE_COLUMNS[2..];
    named_table(columns, rows, |row| {
        ([&row.caller, &row.callee], row.cells())
    })
}

/// A replication's bill as a table of the columns after `point,
/// replication` (`part`, `kind`, `component`, `region`, then its costs).
fn bill_table(rows: &[headroom_models::BillRow]) -> Table {
    let columns = &headroom_models::report::BILL_COLUMNS[2..];
    named_table(columns, rows, |row| (row.keys(), row.cells()))
}

/// A replication's per-shard rows as a table of the columns after
/// `point, replication` (`store`, `region`, `shard`, then the counts and
/// measures), typed by its first row's cells.
fn shards_table(rows: &[headroom_models::report::ShardRow]) -> Table {
    let kinds = rows.first().map(|row| {
        [Kind::Str, Kind::Str, Kind::Int]
            .into_iter()
            .chain(row.cells().iter().map(Kind::of))
            .collect()
    });
    let mut t = typed_table(&headroom_models::report::SHARD_COLUMNS[2..], kinds);
    for row in rows {
        let keys = [row.store.clone(), row.region.clone(), row.shard.to_string()];
        t.push_row(keys.into_iter().chain(row.cells().map(|c| c.to_string())));
    }
    t
}

/// An empty table of the columns `names` of `kinds` (floats when `None`:
/// a table without rows, whose kinds nothing reads).
fn typed_table(names: &[&str], kinds: Option<Vec<Kind>>) -> Table {
    let kinds = kinds.unwrap_or_else(|| vec![Kind::Float; names.len()]);
    let columns = names
        .iter()
        .zip(kinds)
        .map(|(name, kind)| Column::new(*name, kind))
        .collect();
    Table::new(columns)
}

/// `table()` if `wanted`, else an empty table.
fn keep(wanted: bool, table: impl FnOnce() -> Table) -> Table {
    if wanted { table() } else { Table::default() }
}

/// Runs `job(j, warm)` for every job `j` of `jobs` (a plan index and a
/// replication; `plan` maps the index to its plan) on `threads` threads,
/// results in job order. Jobs whose caches' warm starts are the same share
/// one ([`WarmStarts`]): they start in an order where the warm start waited
/// on comes first; without any to share they run as [`run_indexed`] runs
/// them.
pub(crate) fn run_sharing<'p, R: Send>(
    jobs: &[(usize, u32)],
    plan: impl Fn(usize) -> &'p Plan,
    threads: Threads,
    job: impl Fn(usize, Option<&WarmSlot>) -> R + Sync + Send,
) -> anyhow::Result<Vec<R>> {
    let count = threads.count(jobs.len());
    let keep = KeepCopies::IfRoom {
        threads: count,
        available: available_memory,
    };
    let warm = WarmStarts::new(jobs.iter().map(|&(i, r)| (plan(i), r)), keep);
    let (runs, warm_starts) = warm.counts();
    Ok(if warm_starts < runs {
        run_in_order(&warm.order(count), threads, |j| job(j, warm.slot(j)))?
    } else {
        run_indexed(jobs.len(), threads, |j| job(j, None))?
    })
}

/// The memory available for new allocations now, in bytes, where known
/// (`/proc/meminfo`'s `MemAvailable`, Linux).
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// One replication of one point, as a sweep (or a search) records it; of
/// its per-component time series, those in `series`; its caches' warm
/// start shared through `warm`, if given.
pub(crate) fn replicate(
    plan: &Plan,
    r: u32,
    series: SeriesWanted,
    progress: &Progress,
    warm: Option<&WarmSlot>,
) -> Record {
    let warmup_s = plan.run.warmup.as_secs_f64();
    match headroom_models::run_replication_with(plan, r, &progress.sim_ns, warm) {
        Ok(out) => Record {
            cells: Ok(out.metrics.cells()),
            timeseries: series_table(&out.timeseries),
            services: services_table(&out.services),
            shards: shards_table(&out.shards),
            regions: regions_table(&out.regions),
            deployments: deployments_table(&out.deployments),
            edges: edges_table(&out.edges),
            bill: bill_table(&out.bill),
            series: ComponentSeries {
                services: keep(series.services, || service_series_table(&out)),
                shards: keep(series.shards, || shard_series_table(&out)),
                caches: keep(series.caches, || cache_series_table(&out)),
                regions: keep(series.regions, || region_series_table(&out)),
                deployments: keep(series.deployments, || deployment_series_table(&out)),
                edges: keep(series.edges, || edge_series_table(&out)),
            },
            warmup_s,
            latency: Some(out.metrics.latency.to_sparse()),
            region_latency: if series.component_latency {
                out.regions.iter().map(|r| r.latency.to_sparse()).collect()
            } else {
                Vec::new()
            },
            edge_latency: if series.component_latency {
                out.edges.iter().map(|e| e.latency.to_sparse()).collect()
            } else {
                Vec::new()
            },
            caches: cache_halves(plan, &out),
            batches: (out.latency_batches, out.latency_batch_s),
            stations: out.stations,
        },
        Err(e) => Record {
            cells: Err(e.to_string()),
            timeseries: Table::default(),
            services: Table::default(),
            series: ComponentSeries::default(),
            shards: Table::default(),
            regions: Table::default(),
            deployments: Table::default(),
            edges: Table::default(),
            bill: Table::default(),
            warmup_s,
            latency: None,
            region_latency: Vec::new(),
            edge_latency: Vec::new(),
            batches: (Vec::new(), 0.0),
            stations: Vec::new(),
            caches: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use headroom_sim::stats::ci95;

    use super::*;
    use crate::planner::points::P99;

    #[test]
    fn stop_rule_checks_in_index_order() {
        // Values settle: the CI of the first k shrinks as k grows.
        let xs = [10.0, 12.0, 11.0, 11.0, 11.0, 11.0, 11.0, 11.0];
        let flat = [0.0; 8];
        let k = stop_at(&[(COST, &xs), (COST, &flat)], &[], 0.05, 2).unwrap();
        let ci = ci95(&xs[..k]);
        assert!(ci.half_width <= 0.05 * ci.mean);
        let before = ci95(&xs[..k - 1]);
        assert!(
            before.half_width > 0.05 * before.mean,
            "k is the first that holds"
        );
        // Starting later never goes back; an impossible target never stops.
        assert_eq!(stop_at(&[(COST, &xs)], &[], 0.05, k + 1), Some(k + 1));
        assert_eq!(stop_at(&[(COST, &xs)], &[], 0.0, 2), None);
        // A series that is all zeros is known exactly.
        assert_eq!(stop_at(&[(P99, &flat)], &[], 0.01, 2), Some(2));
        // Identical p99s (one histogram bucket) are known only to the
        // histogram's resolution, 1/256: a finer precision is never met.
        let same = [150.0; 8];
        assert_eq!(stop_at(&[(COST, &same)], &[], 0.001, 2), Some(2));
        assert_eq!(stop_at(&[(P99, &same)], &[], 0.001, 2), None);
        assert_eq!(stop_at(&[(P99, &same)], &[], 0.005, 2), Some(2));
        // The same p99s about a pooled p99 of 12: the spread about the
        // centre (2 in each) is the width, and 5 % is never met (at k = 8,
        // 2.365 x 2 / sqrt(8) = 1.67, 14 % of 12).
        let centre = Some(Pooled {
            ms: [f64::NAN, f64::NAN, 12.0, f64::NAN],
        });
        let biased = [10.0; 8];
        assert_eq!(stop_at(&[(P99, &biased)], &[centre; 8], 0.05, 2), None);
        assert_eq!(stop_at(&[(P99, &biased)], &[centre; 8], 0.2, 2), Some(6));
        assert_eq!(stop_at(&[(P99, &biased)], &[], 0.05, 2), Some(2));
    }

    #[test]
    fn waves_estimate_the_remaining_replications() {
        // Relative half-width 0.2 at n = 4 for a 0.1 target: ~4 x 4 - 4 = 12.
        let xs = [8.0, 12.0, 10.0, 10.0];
        let h = ci95(&xs).relative_half_width();
        let expect = (4.0 * (h / 0.1f64).powi(2) - 4.0).ceil() as u32;
        let one = Threads::from_count(1);
        assert_eq!(wave(P99, &xs, None, 0.1, 1000, one), expect);
        assert_eq!(wave(P99, &xs, None, 0.1, 6, one), 2, "capped at max");
        assert_eq!(
            wave(P99, &xs, None, 10.0, 1000, Threads::from_count(3)),
            3,
            "keeps threads busy"
        );
    }
}
