//! `headroom compare A B`: both scenarios with common random numbers
//! (replication r of each draws from the same random streams: the same
//! arrivals, for open workloads, and work draws) and, per
//! metric, the paired difference B - A with its 95 % confidence interval.
//!
//! Pairing removes the noise the two runs share, so a paired interval is
//! usually far narrower than the difference of two independent ones; the
//! table shows both widths.

use std::fmt::Write as _;
use std::process::ExitCode;

use headroom_models::Plan;
use headroom_models::report::{Pooled, metric_ci95, metric_difference_ci95};
use headroom_sim::exec::Threads;
use headroom_sim::stats::SparseHistogram;

use crate::cli::CompareArgs;
use crate::commands::sweep::metric_names;
use crate::output;
use crate::planner::exec::{
    Record, Replications, SeriesWanted, Watched, bottleneck, cold_caches, pooled, pooled_of,
    relaxation, run_points,
};
use crate::planner::slo::short;
use crate::planner::table::{Column, Kind, Table, float_cell};
use crate::progress::{Progress, show};

/// Runs both scenarios and prints (and with `--out`, writes) the paired
/// differences.
pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    // The `--set`s apply to both scenarios: an error from one names the
    // scenario it is about (a file's own errors name the file already).
    let load = |path: &std::path::Path, sets: &[String]| {
        headroom_models::load(path, sets).map_err(|e| {
            let message = e.to_string();
            let error = anyhow::Error::new(e);
            if message.starts_with("--set") {
                error.context(format!("scenario {}", path.display()))
            } else {
                error
            }
        })
    };
    // A's seed and replications are both scenarios' unless given; a
    // scenario's own mistake is named, not blamed on those `--set`s.
    let a0 = load(&args.a, &args.sets)?;
    let seed = args.seed.unwrap_or(a0.plan.run.seed);
    let reps = args.replications.unwrap_or(a0.plan.run.replications);
    let flags = [
        format!("run.seed={seed}"),
        format!("run.replications={reps}"),
    ];
    let a = crate::commands::load_flagged(&args.sets, &flags, |sets| load(&args.a, sets))?;
    let b = crate::commands::load_flagged(&args.sets, &flags, |sets| load(&args.b, sets))?;
    if let Some(out) = &args.out {
        output::check_out_dir(out)?;
    }
    let plans: Vec<&Plan> = vec![&a.plan, &b.plan];
    let names = metric_names(&a.plan);
    let names_b = metric_names(&b.plan);
    if names_b != names {
        let only = |x: &[String], y: &[String]| {
            let cols: Vec<&str> = x
                .iter()
                .filter(|c| !y.contains(c))
                .map(String::as_str)
                .collect();
            if cols.is_empty() {
                "none".to_owned()
            } else {
                cols.join(", ")
            }
        };
        return Err(crate::InputError(format!(
            "{} and {} produce different output columns (only in the first: {}; only in the \
             second: {}); compare needs the same metrics: the same cache tiers, both or \
             neither with sessions, both or neither with a fault or surge",
            args.a.display(),
            args.b.display(),
            only(&names, &names_b),
            only(&names_b, &names)
        ))
        .into());
    }
    let progress = Progress::new(2);
    let label = format!("compare {} vs {}", args.a.display(), args.b.display());
    let runs = show(&progress, args.quiet, &label, || {
        run_points(
            &plans,
            Replications::Fixed { count: reps },
            Watched {
                p99_metric: crate::planner::points::P99,
                p99: None,
                cost: None,
            },
            Threads::from_count(args.threads),
            SeriesWanted {
                component_latency: true,
                ..SeriesWanted::default()
            },
            &progress,
        )
    })?;
    let mut cells: [Vec<Vec<f64>>; 2] = [Vec::new(), Vec::new()];
    for (side, pr) in runs.iter().enumerate() {
        for (r, record) in pr.records.iter().enumerate() {
            let row = record.cells.as_ref().map_err(|e| {
                anyhow::anyhow!(
                    "{} replication {r} (seed {seed}) failed: {e}",
                    if side == 0 {
                        args.a.display()
                    } else {
                        args.b.display()
                    }
                )
            })?;
            cells[side].push(row.iter().map(|c| c.as_f64()).collect());
        }
    }
    // Short replications narrow a quantile's interval, and its paired
    // difference's, as in `run` (`short_run_text`).
    for (path, pr) in [&args.a, &args.b].into_iter().zip(&runs) {
        if let Some(text) = headroom_models::report::short_run_text(
            relaxation(&pr.records).as_ref(),
            bottleneck(&pr.records).as_ref(),
        ) {
            eprintln!("warning: {}: {text}", path.display());
        }
        // A cache still warming biases its side's hit ratios and the load
        // behind them, and so the difference, as in `run`.
        if let Some(text) = headroom_models::report::cold_cache_text(&cold_caches(&pr.records)) {
            eprintln!("warning: {}: {text}", path.display());
        }
    }
    let centres = [pooled(&runs[0].records), pooled(&runs[1].records)];
    let mut table = differences(
        &names,
        &cells[0],
        &cells[1],
        [centres[0].as_ref(), centres[1].as_ref()],
    );
    if let Some(regions) = region_differences(&runs[0].records, &runs[1].records) {
        table.append(&regions);
    } else {
        let (ra, rb) = (
            region_names(&runs[0].records),
            region_names(&runs[1].records),
        );
        if ra != rb && ra.len().max(rb.len()) >= 2 {
            eprintln!(
                "note: {} and {} have different client regions ({} against {}), so their \
                 regions' figures are not compared",
                args.a.display(),
                args.b.display(),
                list(&ra),
                list(&rb)
            );
        }
    }
    // Each deployment, call edge and bill line found on both sides; those on
    // one side only (a service moved into or out of a region, a call added
    // or dropped, a price or a replica added) have nothing to pair with: a
    // note says which.
    let (a, b) = (&runs[0].records, &runs[1].records);
    let (name_a, name_b) = (args.a.display().to_string(), args.b.display().to_string());
    for components in [&DEPLOYMENTS, &EDGES, &BILL] {
        if let Some(t) = components.differences(a, b) {
            table.append(&t);
        }
        if let Some(note) = components.one_sided_note(a, b, &name_a, &name_b) {
            eprintln!("{note}");
        }
    }
    print!(
        "{}",
        render(
            &table,
            &args.a.display().to_string(),
            &args.b.display().to_string(),
            reps,
            seed
        )
    );
    if let Some(out) = &args.out {
        output::write_owned(out, &[("compare.csv".into(), table.to_csv()?)])?;
        println!("wrote {}", out.join("compare.csv").display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Per metric: A's and B's estimates, the paired difference B - A with its
/// 95 % CI half-width, and the half-width of the unpaired difference. As
/// everywhere else ([`metric_ci95`], [`metric_difference_ci95`]), a latency
/// quantile is centred on each side's replications `pooled`, and its
/// intervals are never narrower than its histograms' resolution.
pub fn differences(
    names: &[String],
    a: &[Vec<f64>],
    b: &[Vec<f64>],
    pooled: [Option<&Pooled>; 2],
) -> Table {
    let mut t = Table::new(
        ["metric", "a", "b", "diff", "diff_ci95", "unpaired_ci95"]
            .iter()
            .enumerate()
            .map(|(i, n)| Column::new(*n, if i == 0 { Kind::Str } else { Kind::Float }))
            .collect(),
    );
    for (j, name) in names.iter().enumerate() {
        let xa: Vec<f64> = a.iter().map(|r| r[j]).collect();
        let xb: Vec<f64> = b.iter().map(|r| r[j]).collect();
        let d: Vec<f64> = xa.iter().zip(&xb).map(|(x, y)| y - x).collect();
        let (ca, cb) = (
            metric_ci95(name, &xa, pooled[0]),
            metric_ci95(name, &xb, pooled[1]),
        );
        let cd = metric_difference_ci95(name, ca.mean, cb.mean, &d);
        let unpaired = (ca.half_width.powi(2) + cb.half_width.powi(2)).sqrt();
        t.push_row(vec![
            name.clone(),
            float_cell(ca.mean),
            float_cell(cb.mean),
            float_cell(cd.mean),
            float_cell(cd.half_width),
            float_cell(unpaired),
        ]);
    }
    t
}

/// The client regions of a side's runs (`regions.csv`'s, in order; none
/// with fewer than two regions).
fn region_names(records: &[Record]) -> Vec<String> {
    records.first().map_or_else(Vec::new, |r| {
        r.regions.rows().map(|row| row.get(0).to_owned()).collect()
    })
}

/// `a, b, c`, or `none`.
fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The client-region metrics `compare` pairs (`regions.csv`'s columns).
const REGION_METRICS: [&str; 3] = ["availability", "latency_p50_ms", "latency_p99_ms"];

/// With the same client regions on both sides (two or more), per region
/// with clients `regions.<region>.<metric>` for [`REGION_METRICS`]: the
/// paired differences of the region's own figures (`regions.csv`), each
/// quantile centred on its side's region histograms pooled, as
/// [`differences`] does the run's. `None` otherwise.
fn region_differences(a: &[Record], b: &[Record]) -> Option<Table> {
    let regions = region_names(a);
    if regions.len() < 2 || regions != region_names(b) {
        return None;
    }
    let column = |name: &str| -> Option<usize> {
        headroom_models::report::REGION_COLUMNS[2..]
            .iter()
            .position(|c| *c == name)
    };
    let requests = column("requests")?;
    let columns: Vec<usize> = REGION_METRICS
        .iter()
        .map(|m| column(m))
        .collect::<Option<_>>()?;
    let metric_names: Vec<String> = REGION_METRICS.map(String::from).to_vec();
    let mut out: Option<Table> = None;
    for (g, region) in regions.iter().enumerate() {
        let cell = |r: &Record, c: usize| crate::planner::table::number(&r.regions.row(g)[c]);
        // A region without clients (it only serves) has nothing to compare.
        if a.iter().chain(b).all(|r| cell(r, requests) == 0.0) {
            continue;
        }
        let cells = |records: &[Record]| -> Vec<Vec<f64>> {
            let row = |r| columns.iter().map(|&c| cell(r, c)).collect();
            records.iter().map(row).collect()
        };
        let pooled = |records| pooled_of(records, |r: &Record| r.region_latency.get(g));
        let (pa, pb) = (pooled(a), pooled(b));
        let t = differences(
            &metric_names,
            &cells(a),
            &cells(b),
            [pa.as_ref(), pb.as_ref()],
        );
        let all = out.get_or_insert_with(|| Table::new(t.columns.clone()));
        for row in t.rows() {
            let name = format!("regions.{region}.{}", row.get(0));
            all.push_row(std::iter::once(name.as_str()).chain(row.iter().skip(1)));
        }
    }
    out
}

/// A per-component table of [`Record`] that `compare` pairs, component by
/// component: its rows keyed by their first `keys` cells (after `point,
/// replication`), named in the output `<prefix>.<name>.<metric>`.
struct Components {
    /// What the table holds, in notes.
    what: &'static str,
    prefix: &'static str,
    table: fn(&Record) -> &Table,
    /// The file's columns (`point, replication` first).
    columns: &'static [&'static str],
    keys: usize,
    /// A component's name in metric names, and in notes, from its key
    /// cells.
    name: fn(&[&str]) -> String,
    label: fn(&[&str]) -> String,
    metrics: &'static [&'static str],
    /// Each component's latency histograms, in the table's order, if it
    /// has them: its quantiles are centred on its replications pooled, as
    /// the run's and the regions' are.
    latency: Option<fn(&Record) -> &[SparseHistogram]>,
}

/// Deployments (with two regions or more): where a change moves
/// instances, load and cost between regions.
const DEPLOYMENTS: Components = Components {
    what: "deployments",
    prefix: "deployments",
    table: |r| &r.deployments,
    columns: &headroom_models::report::DEPLOYMENT_COLUMNS,
    keys: 2,
    name: |k| format!("{}.{}", k[0], k[1]),
    label: |k| format!("{} {}", k[0], k[1]),
    metrics: &[
        "utilization",
        "replicas_mean",
        "instance_cost_per_month_usd",
    ],
    latency: None,
};

/// Call edges: where a change moves retries, timeouts, a caller's wait and
/// its breakers' open time.
const EDGES: Components = Components {
    what: "call edges",
    prefix: "edges",
    table: |r| &r.edges,
    columns: &headroom_models::report::EDGE_COLUMNS,
    keys: 2,
    name: |k| format!("{}->{}", k[0], k[1]),
    label: |k| format!("{}->{}", k[0], k[1]),
    metrics: &[
        "retries",
        "try_timeouts",
        "latency_p99_ms",
        "breaker_open_s",
    ],
    latency: Some(|r| &r.edge_latency),
};

/// The bill's lines (with `[costs]`): which line of the month a change
/// moves, by what it prices and where.
const BILL: Components = Components {
    what: "bill lines",
    prefix: "bill",
    table: |r| &r.bill,
    columns: &headroom_models::report::BILL_COLUMNS,
    keys: 4,
    name: |k| format!("{}.{}.{}", k[1], k[2], k[3]),
    label: |k| format!("{} {} {}", k[1], k[2], k[3]),
    metrics: &["cost_per_month_usd"],
    latency: None,
};

impl Components {
    /// The components of a side's runs, named by `name` from their key
    /// cells, in the table's order.
    fn named(&self, records: &[Record], name: fn(&[&str]) -> String) -> Vec<String> {
        records.first().map_or_else(Vec::new, |r| {
            (self.table)(r)
                .rows()
                .map(|row| {
                    let keys: Vec<&str> = (0..self.keys).map(|k| row.get(k)).collect();
                    name(&keys)
                })
                .collect()
        })
    }

    /// Per component on both sides, `<prefix>.<name>.<metric>` for each of
    /// its metrics: the paired differences of the component's own figures.
    /// `None` when the sides share none.
    fn differences(&self, a: &[Record], b: &[Record]) -> Option<Table> {
        let columns: Vec<usize> = self
            .metrics
            .iter()
            .map(|m| self.columns[2..].iter().position(|c| c == m))
            .collect::<Option<_>>()?;
        let metric_names: Vec<String> = self.metrics.iter().map(|m| m.to_string()).collect();
        let (na, nb) = (self.named(a, self.name), self.named(b, self.name));
        let mut out: Option<Table> = None;
        for (i, name) in na.iter().enumerate() {
            let Some(j) = nb.iter().position(|n| n == name) else {
                continue;
            };
            let cells = |records: &[Record], at: usize| -> Vec<Vec<f64>> {
                records
                    .iter()
                    .map(|r| {
                        let row = (self.table)(r).row(at);
                        columns
                            .iter()
                            .map(|&c| crate::planner::table::number(&row[c]))
                            .collect()
                    })
                    .collect()
            };
            let pooled = |records, at: usize| {
                self.latency
                    .and_then(|h| pooled_of(records, |r: &Record| h(r).get(at)))
            };
            let (pa, pb) = (pooled(a, i), pooled(b, j));
            let t = differences(
                &metric_names,
                &cells(a, i),
                &cells(b, j),
                [pa.as_ref(), pb.as_ref()],
            );
            let all = out.get_or_insert_with(|| Table::new(t.columns.clone()));
            for row in t.rows() {
                let name = format!("{}.{name}.{}", self.prefix, row.get(0));
                all.push_row(std::iter::once(name.as_str()).chain(row.iter().skip(1)));
            }
        }
        out
    }

    /// The note naming the components found on one side only (which have
    /// nothing to pair with), if any.
    fn one_sided_note(
        &self,
        a: &[Record],
        b: &[Record],
        name_a: &str,
        name_b: &str,
    ) -> Option<String> {
        let (na, nb) = (self.named(a, self.label), self.named(b, self.label));
        let only = |x: &[String], y: &[String]| -> Vec<String> {
            x.iter().filter(|n| !y.contains(n)).cloned().collect()
        };
        let (only_a, only_b) = (only(&na, &nb), only(&nb, &na));
        (!only_a.is_empty() || !only_b.is_empty()).then(|| {
            format!(
                "note: {} only in {name_a} ({}) or only in {name_b} ({}) have nothing to pair \
                 with, so their figures are not compared",
                self.what,
                list(&only_a),
                list(&only_b)
            )
        })
    }
}

fn render(t: &Table, a: &str, b: &str, reps: u32, seed: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "A = {a}\nB = {b}\n{reps} paired replication{} (common random numbers, seed {seed}); B - A with 95 % CI",
        if reps == 1 { "" } else { "s" }
    );
    if reps < 2 {
        // One difference has no spread to estimate: the intervals are NaN.
        let _ = writeln!(
            s,
            "(one replication gives no confidence interval: pass --replications 2 or more)"
        );
    }
    let w = t.rows().map(|row| row.get(0).len()).fold(22, usize::max);
    let _ = writeln!(
        s,
        "{:<w$} {:>13} {:>13} {:>13} {:>11} {:>13}  differs",
        "metric", "A", "B", "B - A", "± paired", "± unpaired"
    );
    for row in t.rows() {
        let x = |i: usize| crate::planner::table::number(&row[i]);
        // No interval (one replication): "-", as in `run`'s summary.
        let ci = |i: usize| {
            if x(i).is_nan() {
                "-".to_owned()
            } else {
                short(x(i))
            }
        };
        let differs = if x(4).is_nan() {
            "-"
        } else if (x(3) - x(4) > 0.0) || (x(3) + x(4) < 0.0) {
            "yes"
        } else {
            "no"
        };
        let _ = writeln!(
            s,
            "{:<w$} {:>13} {:>13} {:>13} {:>11} {:>13}  {differs}",
            &row[0],
            short(x(1)),
            short(x(2)),
            short(x(3)),
            ci(4),
            ci(5)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use headroom_sim::stats::LatencyHistogram;

    use super::*;

    #[test]
    fn pairing_removes_shared_noise() {
        // B = A + 1 exactly, with A noisy: the paired CI is 0 wide, the
        // unpaired one is not.
        let a: Vec<Vec<f64>> = [10.0, 14.0, 9.0, 13.0].iter().map(|x| vec![*x]).collect();
        let b: Vec<Vec<f64>> = a.iter().map(|r| vec![r[0] + 1.0]).collect();
        let t = differences(&["m".into()], &a, &b, [None, None]);
        let row = t.row(0);
        assert_eq!(row[3], *"1");
        assert_eq!(row[4], *"0");
        assert!(crate::planner::table::number(&row[5]) > 3.0);
    }

    #[test]
    fn a_quantile_gap_inside_the_histograms_resolution_does_not_differ() {
        // Every replication's p99 is one bucket (1.05 ms near 250 ms) apart:
        // Student t on the differences alone says "0.6 ± 0", yet each side is
        // only known to within 1/256 of itself.
        let a: Vec<Vec<f64>> = [249.0, 251.0, 250.0, 252.0]
            .iter()
            .map(|x| vec![*x, *x])
            .collect();
        let b: Vec<Vec<f64>> = a.iter().map(|r| vec![r[0] + 0.6, r[1] + 0.6]).collect();
        let names = ["latency_p99_ms".to_owned(), "throughput_rps".to_owned()];
        let t = differences(&names, &a, &b, [None, None]);
        let x = |r: usize, i: usize| crate::planner::table::number(&t.row(r)[i]);
        let floor = (250.5 + 251.1) / 256.0;
        assert!((x(0, 4) - floor).abs() < 1e-9, "{}", x(0, 4));
        // The unpaired interval is floored on each side too.
        assert!(x(0, 5) >= (250.5_f64.powi(2) + 251.1_f64.powi(2)).sqrt() / 256.0);
        // Not a quantile: no floor, the pairing's zero width stands.
        assert_eq!(x(1, 4), 0.0);
        let shown = render(&t, "a.toml", "b.toml", 4, 7);
        let line = |m: &str| shown.lines().find(|l| l.starts_with(m)).unwrap().to_owned();
        assert!(line("latency_p99_ms").ends_with(" no"), "{shown}");
        assert!(line("throughput_rps").ends_with(" yes"), "{shown}");
    }

    #[test]
    fn quantiles_compare_the_pooled_values() {
        // Each side's p99 is its replications pooled (20 and 26), not the
        // mean of their own (15 and 16.5): the difference is 6, with the
        // spread of the paired differences about it.
        let a: Vec<Vec<f64>> = [14.0, 16.0].iter().map(|x| vec![*x, *x]).collect();
        let b: Vec<Vec<f64>> = [15.0, 18.0].iter().map(|x| vec![*x, *x]).collect();
        let pooled = |p99| Pooled {
            ms: [f64::NAN, f64::NAN, p99, f64::NAN],
        };
        let names = ["latency_p99_ms".to_owned(), "throughput_rps".to_owned()];
        let (pa, pb) = (pooled(20.0), pooled(26.0));
        let t = differences(&names, &a, &b, [Some(&pa), Some(&pb)]);
        let x = |r: usize, i: usize| crate::planner::table::number(&t.row(r)[i]);
        assert_eq!((x(0, 1), x(0, 2), x(0, 3)), (20.0, 26.0, 6.0));
        let d = [1.0, 2.0];
        let expect = headroom_sim::stats::sectioned_quantile_ci95(6.0, &d).half_width;
        assert_eq!(x(0, 4), expect);
        // Other metrics keep the means.
        assert_eq!((x(1, 1), x(1, 2), x(1, 3)), (15.0, 16.5, 1.5));
    }

    /// A replication whose call edges (`caller`, `callee`) each saw 100
    /// calls of one latency (ms): `edges.csv`'s p99 and the histogram.
    fn edge_record(edges: &[(&str, &str, f64)]) -> Record {
        use headroom_models::report::EDGE_COLUMNS;
        let columns = EDGE_COLUMNS[2..]
            .iter()
            .enumerate()
            .map(|(i, n)| Column::new(*n, if i < 2 { Kind::Str } else { Kind::Float }))
            .collect();
        let mut table = Table::new(columns);
        let mut latency = Vec::new();
        for &(caller, callee, ms) in edges {
            let cell = |c: &&str| match *c {
                "caller" => caller.to_owned(),
                "callee" => callee.to_owned(),
                "latency_p99_ms" => ms.to_string(),
                _ => "0".to_owned(),
            };
            table.push_row(EDGE_COLUMNS[2..].iter().map(cell));
            let mut h = LatencyHistogram::new();
            h.record_n((ms * 1e6) as u64, 100);
            latency.push(h.to_sparse());
        }
        Record {
            cells: Ok(Vec::new()),
            timeseries: Table::default(),
            services: Table::default(),
            series: Default::default(),
            shards: Table::default(),
            regions: Table::default(),
            deployments: Table::default(),
            edges: table,
            bill: Table::default(),
            warmup_s: 0.0,
            latency: None,
            region_latency: Vec::new(),
            edge_latency: latency,
            batches: (Vec::new(), 0.0),
            stations: Vec::new(),
            caches: Vec::new(),
        }
    }

    #[test]
    fn an_edges_quantiles_compare_its_replications_pooled() {
        // api->db's p99 is 10 ms in one replication and 30 ms in the other:
        // pooled (200 calls, half at 30 ms) it is 30 ms, where the mean of
        // the two is 20. B lists its edges in the other order, and its
        // api->db is 5 ms slower in each replication.
        let a = [
            edge_record(&[("edge", "api", 1.0), ("api", "db", 10.0)]),
            edge_record(&[("edge", "api", 1.0), ("api", "db", 30.0)]),
        ];
        let b = [
            edge_record(&[("api", "db", 15.0), ("edge", "api", 1.0)]),
            edge_record(&[("api", "db", 35.0), ("edge", "api", 1.0)]),
        ];
        let t = EDGES.differences(&a, &b).expect("shared edges");
        let row = |m: &str| -> Vec<f64> {
            let r = t.rows().find(|r| r.get(0) == m).expect(m);
            (1..4)
                .map(|i| crate::planner::table::number(r.get(i)))
                .collect()
        };
        let near = |x: f64, y: f64| (x / y - 1.0).abs() <= LatencyHistogram::MAX_RELATIVE_ERROR;
        let p99 = row("edges.api->db.latency_p99_ms");
        assert!(near(p99[0], 30.0) && near(p99[1], 35.0), "{p99:?}");
        assert!((p99[2] - (p99[1] - p99[0])).abs() < 1e-9, "{p99:?}");
        // Not a quantile: the mean of the replications.
        assert_eq!(row("edges.api->db.retries"), [0.0, 0.0, 0.0]);
        // Without histograms (a failed replication's), the mean of the
        // replications' own p99s.
        let mut bare = a.clone();
        bare[1].edge_latency.clear();
        let t = EDGES.differences(&bare, &b).expect("shared edges");
        let r = t
            .rows()
            .find(|r| r.get(0) == "edges.api->db.latency_p99_ms")
            .expect("p99 row");
        assert_eq!(crate::planner::table::number(r.get(1)), 20.0);
    }

    #[test]
    fn one_replication_says_why_there_is_no_interval() {
        let a = vec![vec![10.0]];
        let b = vec![vec![11.0]];
        let t = differences(&["m".into()], &a, &b, [None, None]);
        let one = render(&t, "a.toml", "b.toml", 1, 7);
        assert!(one.contains("pass --replications 2 or more"), "{one}");
        assert!(one.contains("1 paired replication ("), "{one}");
        let row = one.lines().last().unwrap();
        assert!(!row.contains("NaN"), "{one}");
        assert!(row.ends_with("-  -"), "{one}");
        let a = vec![vec![10.0], vec![12.0]];
        let b = vec![vec![11.0], vec![13.5]];
        let t = differences(&["m".into()], &a, &b, [None, None]);
        let two = render(&t, "a.toml", "b.toml", 2, 7);
        assert!(!two.contains("--replications"), "{two}");
    }
}
