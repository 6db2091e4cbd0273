//! Output files: `runs.csv`, `timeseries.csv`, `services.csv`,
//! `services_timeseries.csv`, `deployments.csv`, `edges.csv`,
//! `edges_timeseries.csv`, `deployments_timeseries.csv`, `regions.csv`,
//! `regions_timeseries.csv`,
//! `shards.csv`, `shards_timeseries.csv`,
//! `caches_timeseries.csv`, `recovery.csv`, `summary.md`, `manifest.json`.
//!
//! Every file is rendered in memory first and then written to a temporary
//! file in the output folder and renamed into place, so a failure never
//! leaves a half-written output behind.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use headroom_models::recovery::{RECOVERY_CSV_COLUMNS, TriggerRecovery};
use headroom_models::report::{
    BILL_COLUMNS, CACHE_TIMESERIES_COLUMNS, DEPLOYMENT_COLUMNS, DEPLOYMENT_TIMESERIES_COLUMNS,
    EDGE_COLUMNS, EDGE_TIMESERIES_COLUMNS, REGION_COLUMNS, REGION_TIMESERIES_COLUMNS,
    RUN_METRIC_COLUMNS, SERVICE_COLUMNS, SERVICE_TIMESERIES_COLUMNS, SHARD_COLUMNS,
    SHARD_TIMESERIES_COLUMNS, SLO_MET_COLUMN, STORE_FAILOVER_COLUMNS, TIMESERIES_COLUMNS,
    summarize,
};
use headroom_models::{Loaded, RunOutput};
use headroom_sim::stats::{ConfidenceInterval, ci95};

/// Renders `runs.csv`: one row per (point, replication).
pub fn runs_csv(point: u64, seed: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["point", "replication", "seed"].map(String::from).to_vec();
    match outputs.first() {
        Some(o) => header.extend(o.metrics.column_names()),
        None => {
            header.extend(RUN_METRIC_COLUMNS.map(String::from));
            header.push(SLO_MET_COLUMN.to_owned());
        }
    }
    w.write_record(&header)?;
    for out in outputs {
        let mut row = vec![
            point.to_string(),
            out.replication.to_string(),
            seed.to_string(),
        ];
        row.extend(out.metrics.cells().iter().map(ToString::to_string));
        w.write_record(&row)?;
    }
    w.into_inner().context("cannot render runs.csv")
}

/// Renders a CSV of one row per (point, replication, item): the `columns`
/// header, then for each replication in order the rows `rows` makes of it,
/// each after the point and the replication. `name` names the file in the
/// error.
fn per_replication_csv(
    name: &str,
    columns: &[&str],
    point: u64,
    outputs: &[RunOutput],
    rows: impl for<'a> Fn(&'a RunOutput) -> Rows<'a>,
) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(columns)?;
    for out in outputs {
        for row in rows(out) {
            let mut record = vec![point.to_string(), out.replication.to_string()];
            record.extend(row);
            w.write_record(&record)?;
        }
    }
    w.into_inner()
        .with_context(|| format!("cannot render {name}"))
}

/// A replication's rows of one CSV, each without the point and the
/// replication.
type Rows<'a> = Box<dyn Iterator<Item = Vec<String>> + 'a>;

/// `cells` as CSV fields.
fn fields<T: ToString>(cells: &[T]) -> impl Iterator<Item = String> + '_ {
    cells.iter().map(ToString::to_string)
}

/// A row of text `keys`, then `cells`.
fn keyed_row<T: ToString>(keys: &[&str], cells: &[T]) -> Vec<String> {
    keys.iter()
        .map(|&k| k.to_owned())
        .chain(fields(cells))
        .collect()
}

/// Renders `timeseries.csv`: one row per (point, replication, interval).
pub fn timeseries_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv(
        "timeseries.csv",
        &TIMESERIES_COLUMNS,
        point,
        outputs,
        |out| {
            Box::new(
                out.timeseries
                    .iter()
                    .map(|row| fields(&row.cells()).collect()),
            )
        },
    )
}

/// Renders `services_timeseries.csv`: one row per (point, replication,
/// interval, service), services in `[[services]]` order within an interval.
pub fn services_timeseries_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv(
        "services_timeseries.csv",
        &SERVICE_TIMESERIES_COLUMNS,
        point,
        outputs,
        |out| {
            Box::new(
                out.service_timeseries
                    .iter()
                    .map(|row| row.text(&out.services).collect()),
            )
        },
    )
}

/// Renders `services.csv`: one row per (point, replication, service).
pub fn services_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv("services.csv", &SERVICE_COLUMNS, point, outputs, |out| {
        Box::new(out.services.iter().map(|row| {
            std::iter::once(row.service.clone())
                .chain(fields(&row.cells()))
                .collect()
        }))
    })
}

/// Renders `deployments.csv`: one row per (point, replication, service,
/// region it runs in), with two regions or more (the header alone
/// otherwise).
pub fn deployments_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv(
        "deployments.csv",
        &DEPLOYMENT_COLUMNS,
        point,
        outputs,
        |out| {
            Box::new(out.deployments.iter().map(|row| {
                [row.stats.service.clone(), row.region.clone()]
                    .into_iter()
                    .chain(fields(&row.cells()))
                    .collect()
            }))
        },
    )
}

/// Renders `edges.csv`: one row per (point, replication, call edge), the
/// edge's calls to the entry services first, then each service's callees.
pub fn edges_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv("edges.csv", &EDGE_COLUMNS, point, outputs, |out| {
        Box::new(out.edges.iter().map(|row| {
            [row.caller.clone(), row.callee.clone()]
                .into_iter()
                .chain(fields(&row.cells()))
                .collect()
        }))
    })
}

/// Renders `edges_timeseries.csv`: one row per (point, replication,
/// interval, call edge), edges in `edges.csv`'s order within an interval.
pub fn edges_timeseries_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv(
        "edges_timeseries.csv",
        &EDGE_TIMESERIES_COLUMNS,
        point,
        outputs,
        |out| {
            Box::new(
                out.edge_timeseries
                    .iter()
                    .map(|row| row.text(&out.edges).collect()),
            )
        },
    )
}

/// Renders `deployments_timeseries.csv`: one row per (point, replication,
/// interval, deployment), deployments in `deployments.csv`'s order within
/// an interval, with two regions or more (the header alone otherwise).
pub fn deployments_timeseries_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv(
        "deployments_timeseries.csv",
        &DEPLOYMENT_TIMESERIES_COLUMNS,
        point,
        outputs,
        |out| {
            Box::new(
                out.deployment_timeseries
                    .iter()
                    .map(|row| row.deployment_text(&out.deployments).collect()),
            )
        },
    )
}

/// Renders `regions.csv`: one row per (point, replication, client region),
/// with two regions or more (the header alone otherwise).
pub fn regions_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv("regions.csv", &REGION_COLUMNS, point, outputs, |out| {
        Box::new(out.regions.iter().map(|row| {
            std::iter::once(row.region.clone())
                .chain(fields(&row.cells()))
                .collect()
        }))
    })
}

/// Renders `regions_timeseries.csv`: one row per (point, replication,
/// interval, client region), regions in `[[regions]]` order within an
/// interval, with two regions or more (the header alone otherwise).
pub fn regions_timeseries_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv(
        "regions_timeseries.csv",
        &REGION_TIMESERIES_COLUMNS,
        point,
        outputs,
        |out| {
            Box::new(
                out.region_timeseries
                    .iter()
                    .map(|row| row.text(&out.regions).collect()),
            )
        },
    )
}

/// Renders `bill.csv`: one row per (point, replication, priced item), in
/// [`RunOutput::bill`]'s order (the header alone without `[costs]`).
pub fn bill_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv("bill.csv", &BILL_COLUMNS, point, outputs, |out| {
        Box::new(
            out.bill
                .iter()
                .map(|row| keyed_row(&row.keys(), &row.cells())),
        )
    })
}

/// Renders `store_failovers.csv`: one row per (point, replication, store
/// failover), in time order (the header alone without one).
pub fn store_failovers_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv(
        "store_failovers.csv",
        &STORE_FAILOVER_COLUMNS,
        point,
        outputs,
        |out| {
            Box::new(
                out.store_failovers
                    .iter()
                    .map(|f| keyed_row(&f.keys(), &f.cells())),
            )
        },
    )
}

/// Renders `shards.csv`: one row per (point, replication, store, copy,
/// shard).
pub fn shards_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv("shards.csv", &SHARD_COLUMNS, point, outputs, |out| {
        Box::new(out.shards.iter().map(|row| {
            [row.store.clone(), row.region.clone(), row.shard.to_string()]
                .into_iter()
                .chain(fields(&row.cells()))
                .collect()
        }))
    })
}

/// Renders `shards_timeseries.csv`: one row per (point, replication,
/// interval, store, copy, shard), shards in `shards.csv`'s order within an
/// interval.
pub fn shards_timeseries_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv(
        "shards_timeseries.csv",
        &SHARD_TIMESERIES_COLUMNS,
        point,
        outputs,
        |out| {
            Box::new(
                out.shard_timeseries
                    .iter()
                    .map(|row| row.text(&out.shards).collect()),
            )
        },
    )
}

/// Renders `caches_timeseries.csv`: one row per (point, replication,
/// interval, store, cache tier), stores and tiers in scenario order within
/// an interval.
pub fn caches_timeseries_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv(
        "caches_timeseries.csv",
        &CACHE_TIMESERIES_COLUMNS,
        point,
        outputs,
        |out| Box::new(out.cache_timeseries.iter().map(|row| row.text())),
    )
}

/// Renders `recovery.csv`: one row per (point, replication, trigger).
pub fn recovery_csv(point: u64, outputs: &[RunOutput]) -> anyhow::Result<Vec<u8>> {
    per_replication_csv(
        "recovery.csv",
        &RECOVERY_CSV_COLUMNS,
        point,
        outputs,
        |out| {
            Box::new(
                out.metrics
                    .recovery
                    .iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, t)| {
                        [i.to_string(), t.label.clone()]
                            .into_iter()
                            .chain(fields(&t.cells()))
                            .collect()
                    }),
            )
        },
    )
}

/// The `## Recovery` section of a run's `summary.md`: per trigger, how many
/// replications recovered and how fast, and for those that did not, the
/// loop that kept the system overloaded.
pub fn recovery_md(plan: &headroom_models::Plan, outputs: &[RunOutput]) -> String {
    let r = &plan.recovery;
    let mut s = String::new();
    if r.triggers.is_empty() {
        return s;
    }
    let interval = plan.run.interval.as_secs_f64();
    let _ = writeln!(
        s,
        "\n## Recovery\n\nBaseline: the {} intervals before each trigger (after the warm-up). \
         Recovered: from the first interval starting after the trigger's end, {} consecutive \
         {}-s intervals with goodput within {} % of the baseline and p99 at most {} % above it \
         (widened to {} standard deviations of the baseline's own noise). Means over \
         replications; recovery time over the replications that recovered.\n",
        r.baseline_intervals,
        r.hold_intervals,
        number(interval),
        number(r.goodput_tolerance * 100.0),
        number(r.p99_tolerance * 100.0),
        number(r.noise_sigmas),
    );
    let _ = writeln!(
        s,
        "| trigger | window (s) | recovered | recovery (s) | ±95% CI | peak error rate | excess p99 (ms) | wasted work (worker-s) |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|");
    for (k, trigger) in r.triggers.iter().enumerate() {
        let per: Vec<&TriggerRecovery> = outputs
            .iter()
            .filter_map(|o| o.metrics.recovery.as_ref()?.get(k))
            .collect();
        let wasted = ci95(&per.iter().map(|t| t.wasted_work_s).collect::<Vec<_>>()).mean;
        let _ = writeln!(
            s,
            "| {} | {}–{} | {} | {} |",
            trigger.label,
            number(trigger.start.as_secs_f64()),
            number(trigger.end.as_secs_f64()),
            recovery_cells(&per),
            number(wasted),
        );
    }
    s.push_str(&region_recovery_md(plan, outputs));
    for (k, trigger) in r.triggers.iter().enumerate() {
        let stuck: Vec<&TriggerRecovery> = outputs
            .iter()
            .filter_map(|o| o.metrics.recovery.as_ref()?.get(k))
            .filter(|t| t.recovered == 0.0)
            .collect();
        if stuck.is_empty() {
            continue;
        }
        let mut v = [0.0; 8];
        for (j, x) in v.iter_mut().enumerate() {
            *x = ci95(
                &stuck
                    .iter()
                    .map(|t| t.signals.values()[j])
                    .collect::<Vec<_>>(),
            )
            .mean;
        }
        let signals = headroom_models::recovery::Signals::from_values(v);
        let _ = writeln!(
            s,
            "\n### Why {} did not recover ({} of {} replications)\n",
            trigger.label,
            stuck.len(),
            outputs.len()
        );
        let mut lines = headroom_models::recovery::explain(&signals);
        // `explain` says retry amplification first and work for nobody
        // next, when they show; with a call graph, each is followed by
        // where it goes: the edges retrying, the services working.
        let first = outputs.first();
        let mut before_wasted = 0;
        if headroom_models::recovery::retries_amplified(&signals) {
            before_wasted += 1;
            if let Some(line) = first.and_then(|o| retries_by_edge(&o.edges, &stuck)) {
                lines.insert(before_wasted, line);
                before_wasted += 1;
            }
        }
        if headroom_models::recovery::work_wasted(&signals)
            && let Some(line) = first.and_then(|o| wasted_by_service(&o.services, &stuck))
        {
            lines.insert(before_wasted + 1, line);
        }
        for line in lines {
            let _ = writeln!(s, "- {line}");
        }
    }
    s
}

/// Where the retries after a trigger went, with a call graph (`edges`):
/// the edges sending at least 5 % of them (at most three, the most
/// first), each with its retries per request (means over the replications
/// `stuck`) and its share. `None` without a call graph or without
/// retries.
fn retries_by_edge(
    edges: &[headroom_models::EdgeRow],
    stuck: &[&TriggerRecovery],
) -> Option<String> {
    if edges.len() < 2 {
        return None;
    }
    let named: Vec<String> =
        largest_shares(edges.len(), stuck, |t| t.after_retries_by_edge.as_slice())?
            .into_iter()
            .map(|(e, x, share)| {
                format!(
                    "{} -> {} {x:.2} per request ({share:.0} %)",
                    edges[e].caller, edges[e].callee
                )
            })
            .collect();
    Some(format!(
        "where the retries go: {}; edges_timeseries.csv has each edge's retries per interval",
        named.join(", ")
    ))
}

/// Which services' workers were busy for nobody after a trigger: those
/// with at least 5 % of the wasted work (at most three, the most first),
/// each with its workers so held (means over the replications `stuck`)
/// and its share. `None` with one service or without wasted work.
fn wasted_by_service(
    services: &[headroom_models::ServiceRow],
    stuck: &[&TriggerRecovery],
) -> Option<String> {
    if services.len() < 2 {
        return None;
    }
    let named: Vec<String> = largest_shares(services.len(), stuck, |t| {
        t.after_wasted_work_by_service.as_slice()
    })?
    .into_iter()
    .map(|(i, x, share)| format!("{} {x:.1} workers ({share:.0} %)", services[i].service))
    .collect();
    Some(format!(
        "whose workers: {}; services_timeseries.csv has each service's wasted work per interval",
        named.join(", ")
    ))
}

/// Of `n` items with a figure per trigger (`of`), those holding at least
/// 5 % of the total of their means over `stuck`, at most three, the most
/// first: (index, mean, share in %). `None` when the total is not
/// positive.
fn largest_shares(
    n: usize,
    stuck: &[&TriggerRecovery],
    of: fn(&TriggerRecovery) -> &[f64],
) -> Option<Vec<(usize, f64, f64)>> {
    let mut means: Vec<(usize, f64)> = (0..n)
        .map(|i| {
            let xs: Vec<f64> = stuck.iter().filter_map(|t| of(t).get(i).copied()).collect();
            (i, ci95(&xs).mean)
        })
        .filter(|(_, x)| x.is_finite())
        .collect();
    let total: f64 = means.iter().map(|(_, x)| x).sum();
    if total <= 0.0 {
        return None;
    }
    means.sort_by(|a, b| b.1.total_cmp(&a.1));
    Some(
        means
            .into_iter()
            .filter(|(_, x)| *x >= 0.05 * total)
            .take(3)
            .map(|(i, x)| (i, x, 100.0 * x / total))
            .collect(),
    )
}

/// One trigger's recoveries over the replications `per`, as the recovery
/// tables show them: `recovered/measured | recovery (s) | ±95% CI | peak
/// error rate | excess p99 (ms)` (means over the replications; the
/// recovery time over those that recovered).
fn recovery_cells(per: &[&TriggerRecovery]) -> String {
    let mean =
        |f: fn(&TriggerRecovery) -> f64| ci95(&per.iter().map(|t| f(t)).collect::<Vec<_>>()).mean;
    let recovered = per.iter().filter(|t| t.recovered == 1.0).count();
    let measured = per.iter().filter(|t| !t.recovered.is_nan()).count();
    let times: Vec<f64> = per
        .iter()
        .filter(|t| t.recovered == 1.0)
        .map(|t| t.recovery_s)
        .collect();
    let ci = ci95(&times);
    format!(
        "{recovered}/{measured} | {} | {} | {} | {}",
        number(ci.mean),
        number(ci.half_width),
        number(mean(|t| t.peak_error_rate)),
        number(mean(|t| t.excess_p99_ms)),
    )
}

/// The `### By client region` part of the `## Recovery` section (with two
/// regions or more): the same rule on each client region's own series
/// ([`headroom_models::recovery::measure_regions`]), regions without
/// clients left out.
fn region_recovery_md(plan: &headroom_models::Plan, outputs: &[RunOutput]) -> String {
    let mut s = String::new();
    let Some(first) = outputs.first() else {
        return s;
    };
    let per_run: Vec<Vec<Vec<TriggerRecovery>>> = outputs
        .iter()
        .map(|o| headroom_models::recovery::measure_regions(&plan.recovery, o))
        .collect();
    let with_clients: Vec<usize> = (0..first.regions.len())
        .filter(|&g| outputs.iter().any(|o| o.regions[g].requests > 0))
        .collect();
    if with_clients.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "\n### By client region\n\nThe same rule on each client region's requests \
         (`regions_timeseries.csv`: its clients' answers per second and p99, wherever they were \
         served), from the region's own baseline: whose clients a trigger hurt, and how long \
         they waited for the system to come back for them.\n\n\
         | trigger | client region | recovered | recovery (s) | ±95% CI | peak error rate | excess p99 (ms) |\n\
         |---|---|---:|---:|---:|---:|---:|"
    );
    for (k, trigger) in plan.recovery.triggers.iter().enumerate() {
        for &g in &with_clients {
            let per: Vec<&TriggerRecovery> = per_run
                .iter()
                .filter_map(|run| run.get(g)?.get(k))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                trigger.label,
                first.regions[g].region,
                recovery_cells(&per)
            );
        }
    }
    s
}

/// The metrics shown in the terminal summary (all of them go to summary.md).
pub const HEADLINE: [&str; 26] = [
    "requests",
    "ok",
    "degraded",
    "errors",
    "rejected",
    "timeouts",
    "shed",
    "availability",
    "session_availability",
    "sessions_abandoned",
    "throughput_rps",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p99_ms",
    "latency_p999_ms",
    "cpu_util_mean",
    "replicas_mean",
    "cache_hit_ratio",
    "stale_read_ratio",
    "retries",
    "recovered",
    "recovery_s",
    "failovers",
    "breaker_open_s",
    "cost_per_month_usd",
    "slo_met",
];

/// A plain-text table of the headline metrics: estimate (the mean over
/// replications; for a latency quantile, the replications pooled) and 95 %
/// CI half-width.
pub fn summary_table(outputs: &[RunOutput]) -> String {
    let summary = summarize(outputs);
    let shown: Vec<_> = summary
        .iter()
        .filter(|(name, _)| HEADLINE.contains(&name.as_str()))
        .collect();
    let w = shown
        .iter()
        .map(|(name, _)| name.len())
        .fold(18, usize::max);
    let mut s = String::new();
    let _ = writeln!(s, "{:<w$} {:>16} {:>14}", "metric", "estimate", "±95% CI");
    for (name, ci) in shown {
        let _ = writeln!(
            s,
            "{:<w$} {:>16} {:>14}",
            name,
            number(ci.mean),
            number(ci.half_width)
        );
    }
    // With two regions or more, what each region's clients saw
    // (`summary.md` has the whole table).
    let served = client_regions(outputs);
    if !served.is_empty() {
        let w = served
            .iter()
            .map(|v| v.region.len())
            .fold("client region".len(), usize::max);
        let _ = writeln!(
            s,
            "{:<w$} {:>24} {:>24}",
            "client region", "availability", "p99 (ms)"
        );
        for v in served {
            let _ = writeln!(
                s,
                "{:<w$} {:>24} {:>24}",
                v.region,
                pm(&v.availability),
                pm(&v.latency_p99_ms)
            );
        }
    }
    s
}

/// The warm-up as excluded: `run.warmup`, or with `warmup = "auto"` the
/// truncation MSER-5 chose in each replication.
pub fn warmup_text(run: &headroom_models::plan::RunPlan, outputs: &[RunOutput]) -> String {
    if !run.auto_warmup {
        return run.warmup.to_string();
    }
    let chosen: Vec<String> = outputs
        .iter()
        .map(|o| {
            let mark = if o.warmup_at_limit { " (at limit)" } else { "" };
            format!("{:.1}s{mark}", o.warmup_s)
        })
        .collect();
    format!("auto: MSER-5 chose {}", chosen.join(", "))
}

/// `"; caches warm from D of requests"` with `run.cache_warm_start`, else
/// nothing: what the run's header says of how its caches started.
pub fn warm_start_text(run: &headroom_models::plan::RunPlan) -> String {
    run.cache_warm_start
        .map(|d| format!("; caches warm from {d} of requests"))
        .unwrap_or_default()
}

/// `summary.md`: the run, then every metric with its CI.
pub fn summary_md(loaded: &Loaded, outputs: &[RunOutput]) -> String {
    let run = &loaded.plan.run;
    let mut s = String::new();
    let _ = writeln!(s, "# Headroom run: {}\n", loaded.path.display());
    let _ = writeln!(
        s,
        "{} replication{}, duration {}, warm-up {} (excluded){}, seed {}. \
         Estimates with 95 % confidence half-widths: a mean over the replications \
         (Student t), or for a latency quantile the quantile of every replication's \
         requests pooled, with the spread of the replications' own quantiles about it \
         (sectioning).\n",
        run.replications,
        if run.replications == 1 { "" } else { "s" },
        run.duration,
        warmup_text(run, outputs),
        warm_start_text(run),
        run.seed
    );
    let _ = writeln!(s, "| metric | estimate | ±95% CI |");
    let _ = writeln!(s, "|---|---:|---:|");
    let summary = summarize(outputs);
    for (name, ci) in &summary {
        let _ = writeln!(
            s,
            "| {name} | {} | {} |",
            number(ci.mean),
            number(ci.half_width)
        );
    }
    if let Some(text) = bill_text(&summary) {
        let _ = writeln!(s, "\n{text}");
    }
    if let Some(text) = headroom_models::report::short_run_warning(outputs) {
        let _ = writeln!(s, "\n**Warning:** {text}.");
    }
    if let Some(text) = headroom_models::report::session_warmup_warning(&loaded.plan, outputs) {
        let _ = writeln!(s, "\n**Warning:** {text}.");
    }
    for text in headroom_models::plan::deadlines::retries_outliving_callers(&loaded.plan) {
        let _ = writeln!(s, "\n**Warning:** {text}.");
    }
    s.push_str(&regions_md(&loaded.plan, outputs));
    s.push_str(&services_md(outputs));
    s.push_str(&edges_md(outputs));
    s.push_str(&shards_md(outputs));
    s.push_str(&caches_md(&loaded.plan, outputs));
    s.push_str(&bill_md(outputs));
    s.push_str(&recovery_md(&loaded.plan, outputs));
    s
}

/// What the month's bill is made of (the means of `cost_per_month_usd`'s
/// parts, and their shares), `None` when it is 0 (no `[costs]`).
fn bill_text(summary: &[(String, ConfidenceInterval)]) -> Option<String> {
    let mean = |name: &str| {
        summary
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, ci)| ci.mean)
    };
    let total = mean("cost_per_month_usd").filter(|t| *t > 0.0)?;
    let parts = [
        ("instances", "instance_cost_per_month_usd"),
        ("the data tier", "data_cost_per_month_usd"),
        ("egress", "egress_cost_per_month_usd"),
    ]
    .map(|(what, column)| {
        let usd = mean(column).unwrap_or(f64::NAN);
        format!("{what} {} ({:.1} %)", number(usd), 100.0 * usd / total)
    });
    Some(format!(
        "**Bill:** {} USD a month: {}.",
        number(total),
        parts.join(", ")
    ))
}

/// Lines of the bill `summary.md` lists one by one; the rest it adds up.
const BILL_LINES_SHOWN: usize = 10;

/// `summary.md`'s Bill section (empty without `[costs]`): the month's bill
/// by region (each part of it), then its largest lines (`bill.csv`), each a
/// mean over the replications ± 95 % CI.
fn bill_md(outputs: &[RunOutput]) -> String {
    let Some(first) = outputs.iter().find(|o| !o.bill.is_empty()) else {
        return String::new();
    };
    // Every replication of a run has the same lines, in the same order.
    let lines = &first.bill;
    let per_line = |i: usize| -> Vec<f64> {
        outputs
            .iter()
            .filter_map(|o| o.bill.get(i).map(|l| l.cost_per_month_usd))
            .collect()
    };
    // A sum of lines, replication by replication.
    let sum_of = |pick: &dyn Fn(&headroom_models::BillRow) -> bool| -> ConfidenceInterval {
        let totals: Vec<f64> = outputs
            .iter()
            .filter(|o| o.bill.len() == lines.len())
            .map(|o| {
                o.bill
                    .iter()
                    .filter(|l| pick(l))
                    .map(|l| l.cost_per_month_usd)
                    .sum()
            })
            .collect();
        ci95(&totals)
    };
    let total = sum_of(&|_| true);
    if total.mean.is_nan() || total.mean <= 0.0 {
        return String::new();
    }
    let share = |usd: f64| format!("{:.1} %", 100.0 * usd / total.mean);
    let mut regions: Vec<&str> = Vec::new();
    for l in lines {
        if !regions.contains(&l.region.as_str()) {
            regions.push(&l.region);
        }
    }
    let mut s = String::from(
        "\n## Bill\n\nWhat the month costs (`bill.csv`: the measured window's costs scaled to a \
         month, as `cost_per_month_usd`), USD, ± 95 % CI over the replications. By region: each \
         region's instances, its part of the data tier (the shards and replicas there, its copies \
         of regional cache tiers and their operations; global tiers on a line of their own) and \
         the egress it sends (to other regions, and its edge's answers to clients).\n\n\
         | region | instances | data tier | egress | total | share |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for region in &regions {
        let part = |p: &'static str| sum_of(&|l| l.region == *region && l.kind.part() == p);
        let all = sum_of(&|l| l.region == *region);
        let _ = writeln!(
            s,
            "| {region} | {} | {} | {} | {} | {} |",
            pm(&part("instances")),
            pm(&part("data")),
            pm(&part("egress")),
            pm(&all),
            share(all.mean),
        );
    }
    let _ = writeln!(s, "| all | | | | {} | 100 % |", pm(&total));
    // The largest lines first (ties in `bill.csv`'s order).
    let mut order: Vec<(usize, ConfidenceInterval)> =
        (0..lines.len()).map(|i| (i, ci95(&per_line(i)))).collect();
    order.sort_by(|a, b| b.1.mean.total_cmp(&a.1.mean).then(a.0.cmp(&b.0)));
    let _ = write!(
        s,
        "\nIts largest lines:\n\n| part | kind | component | region | USD a month | share |\n\
         |---|---|---|---|---:|---:|\n"
    );
    for (i, ci) in order.iter().take(BILL_LINES_SHOWN) {
        let l = &lines[*i];
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            l.kind.part(),
            l.kind.as_str(),
            l.component,
            l.region,
            pm(ci),
            share(ci.mean),
        );
    }
    if order.len() > BILL_LINES_SHOWN {
        let rest: f64 = order[BILL_LINES_SHOWN..]
            .iter()
            .map(|(_, ci)| ci.mean)
            .sum();
        let _ = writeln!(
            s,
            "| | {} more lines | | | {} | {} |",
            order.len() - BILL_LINES_SHOWN,
            number(rest),
            share(rest),
        );
    }
    s
}

/// A summary cell: an estimate and its 95 % half-width.
/// `, X in its busiest interval`, or nothing when no interval lies wholly
/// inside the measured window (`run.timeseries_interval` too long for it).
fn busiest_interval(peak: f64) -> String {
    if peak.is_nan() {
        String::new()
    } else {
        format!(", {} in its busiest interval", number(peak))
    }
}

/// `mean ± half-width`; the mean alone when one replication gave it (no
/// interval), `-` when none did.
fn pm(ci: &ConfidenceInterval) -> String {
    match (ci.mean.is_nan(), ci.half_width.is_nan()) {
        (true, _) => "-".to_owned(),
        (false, true) => number(ci.mean),
        (false, false) => format!("{} ± {}", number(ci.mean), number(ci.half_width)),
    }
}

/// Each client region's figures ([`summarize_regions`]), with two regions or
/// more; a region without clients (it only serves) left out, having
/// nothing to show.
///
/// [`summarize_regions`]: headroom_models::report::summarize_regions
fn client_regions(outputs: &[RunOutput]) -> Vec<headroom_models::report::RegionSummary> {
    let mut regions = headroom_models::report::summarize_regions(outputs);
    regions.retain(|v| v.requests_rps.mean > 0.0);
    regions
}

/// The `## Client regions` section of a run's `summary.md` (with two
/// regions or more): what each region's clients saw, wherever they were
/// served, and those whose clients miss the SLO.
fn regions_md(plan: &headroom_models::Plan, outputs: &[RunOutput]) -> String {
    if outputs.first().is_none_or(|o| o.regions.is_empty()) {
        return String::new();
    }
    let mut s = String::from(
        "\n## Client regions\n\nThe requests of each region's clients over the measured window, \
         wherever they were served, ± 95 % CI over the replications (`regions.csv`): requests per \
         second, availability, the fraction that failed over to another region, and the p50, \
         p99 and p99.9 of the answered ones (pooled, as above; the round trip to an edge in \
         another region included). Regions without clients are left out.\n\n\
         | region | requests/s | availability | failed over | p50 (ms) | p99 (ms) | p99.9 (ms) |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    let served = client_regions(outputs);
    for v in &served {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            v.region,
            pm(&v.requests_rps),
            pm(&v.availability),
            pm(&v.failover_fraction),
            pm(&v.latency_p50_ms),
            pm(&v.latency_p99_ms),
            pm(&v.latency_p999_ms)
        );
    }
    // The run's SLO is judged on every client pooled; a region's clients
    // can miss it while the run meets it, or be the only ones missing it.
    if let Some(slo) = &plan.slo
        && (slo.p50.is_some()
            || slo.p99.is_some()
            || slo.p999.is_some()
            || slo.availability.is_some())
    {
        let misses: Vec<String> = served
            .iter()
            .filter_map(|v| {
                let why = v.slo_misses(slo);
                (!why.is_empty()).then(|| format!("**{}** ({})", v.region, why.join(", ")))
            })
            .collect();
        if misses.is_empty() {
            s.push_str(
                "\nEvery region's clients meet the SLO's latency and availability objectives \
                 (on the estimates).\n",
            );
        } else {
            let _ = writeln!(
                s,
                "\nClients that miss the SLO's latency or availability objectives (on the \
                 estimates): {}.",
                misses.join("; ")
            );
        }
    }
    s
}

/// The `## Services` section of a run's `summary.md`: each service over the
/// measured window, and the one holding the largest share of its workers.
fn services_md(outputs: &[RunOutput]) -> String {
    let services = headroom_models::report::summarize_services(outputs);
    if services.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n## Services\n\nEach service over the measured window, ± 95 % CI over the replications \
         (`services.csv`, `services_timeseries.csv`): tries reaching its instances, the fraction \
         that failed there, a try's p99 at the service (pooled, as above), the fraction of its \
         workers held (busy, or waiting on calls in the threads model) and computing, the \
         busiest interval's held fraction, and instances.\n\n\
         | service | tries/s | failed | try p99 (ms) | held | CPU | busiest interval held | instances |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for v in &services {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            v.service,
            pm(&v.tries_rps),
            pm(&v.error_fraction),
            pm(&v.latency_p99_ms),
            pm(&v.utilization),
            pm(&v.cpu_util),
            pm(&v.peak_utilization),
            pm(&v.replicas_mean)
        );
    }
    if services.len() > 1
        && let Some(top) = most_held(&services, |v| v)
    {
        let _ = writeln!(
            s,
            "\nMost workers held: **{}** ({} of them on average{}).",
            top.service,
            number(top.utilization.mean),
            busiest_interval(top.peak_utilization.mean)
        );
    }
    s.push_str(&deployments_md(outputs));
    s
}

/// Of `items`, the one whose figures (`figures`) hold the largest mean
/// fraction of their workers; `None` when none has a finite one.
fn most_held<T>(
    items: &[T],
    figures: impl Fn(&T) -> &headroom_models::report::ServiceSummary,
) -> Option<&T> {
    items
        .iter()
        .filter(|x| figures(x).utilization.mean.is_finite())
        .max_by(|a, b| {
            let held = |x: &T| figures(x).utilization.mean;
            held(a).total_cmp(&held(b))
        })
}

/// The `### By region` part of the `## Services` section (with two regions
/// or more): each service's instances in each region it runs in, what they
/// cost, and the region whose instances hold the largest share of their
/// workers.
fn deployments_md(outputs: &[RunOutput]) -> String {
    let deployments = headroom_models::report::summarize_deployments(outputs);
    if deployments.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n### By region\n\nEach service's instances in each region it runs in \
         (`deployments.csv`): the same figures, and what the instances cost per month (their \
         price at the measured mean count; egress and the data tier are the run's).\n\n\
         | service | region | tries/s | failed | try p99 (ms) | held | CPU | instances | instances' cost/month (USD) |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for d in &deployments {
        let v = &d.figures;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            v.service,
            d.region,
            pm(&v.tries_rps),
            pm(&v.error_fraction),
            pm(&v.latency_p99_ms),
            pm(&v.utilization),
            pm(&v.cpu_util),
            pm(&v.replicas_mean),
            pm(&d.instance_cost_per_month_usd)
        );
    }
    if deployments.len() > 1
        && let Some(top) = most_held(&deployments, |d| &d.figures)
    {
        let _ = writeln!(
            s,
            "\nMost workers held in one region: **{}** in **{}** ({} of them on average).",
            top.figures.service,
            top.region,
            number(top.figures.utilization.mean)
        );
    }
    s
}

/// The `## Call edges` section of a run's `summary.md`, with a call graph
/// (more than the edge's one call to an entry service, whose figures are
/// the run's): each edge's calls as its callers saw them (`edges.csv`),
/// and the edges that retried and hedged the most and kept their breakers
/// open the longest.
fn edges_md(outputs: &[RunOutput]) -> String {
    let edges = headroom_models::report::summarize_edges(outputs);
    if edges.len() < 2 {
        return String::new();
    }
    let mut s = String::from(
        "\n## Call edges\n\nEach call edge as its callers saw it (`edges.csv`), over the \
         measured window: a call is counted once, across its tries and backoffs.\n\n\
         | caller | callee | calls/s | retries/call | try timeouts/call | failed | refused | call p99 (ms) | breaker open (s) |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for e in &edges {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            e.caller,
            e.callee,
            pm(&e.calls_rps),
            pm(&e.retries_per_call),
            pm(&e.try_timeouts_per_call),
            pm(&e.failed_fraction),
            pm(&e.refused_fraction),
            pm(&e.latency_p99_ms),
            pm(&e.breaker_open_s)
        );
    }
    // The edge with the largest positive mean of each figure, if any.
    type Figure = fn(&headroom_models::report::EdgeSummary) -> f64;
    let tops: [(&str, Figure, &str); 3] = [
        ("Most retries", |e| e.retries_per_call.mean, "per call"),
        ("Most hedges", |e| e.hedges_per_call.mean, "per call"),
        (
            "Breakers open longest",
            |e| e.breaker_open_s.mean,
            "breaker-seconds",
        ),
    ];
    for (what, f, unit) in tops {
        let top = edges
            .iter()
            .filter(|e| f(e) > 0.0)
            .max_by(|a, b| f(a).total_cmp(&f(b)));
        if let Some(e) = top {
            let _ = writeln!(
                s,
                "\n{what}: **{} -> {}** ({} {unit}).",
                e.caller,
                e.callee,
                number(f(e))
            );
        }
    }
    s
}

/// The `## Cache tiers` section of a run's `summary.md`: each cache's load,
/// hit ratio and fill, and how long a tier took to refill after each flush.
/// The never-hit line leaves the edge cache out: it costs no latency.
fn caches_md(plan: &headroom_models::Plan, outputs: &[RunOutput]) -> String {
    let tiers = headroom_models::report::summarize_caches(plan, outputs);
    if tiers.is_empty() {
        return String::new();
    }
    // With a datastore, stale reads are counted: the share of each cache's
    // hits that served an outdated value says which cache they come from.
    let stale = tiers.iter().all(|c| c.stale_hit_ratio.is_some());
    let mut s = String::from(
        "\n## Cache tiers\n\nEach cache (the edge cache, if any, as store `edge`, tier `cache`), \
         ± 95 % CI over the replications (`caches_timeseries.csv`, `runs.csv`): lookups at it and its hit ratio over the \
         measured window (the measured requests'), ",
    );
    if stale {
        s.push_str(
            "the fraction of its hits that served a value older than their key's last \
             committed write (where `stale_read_ratio`'s stale reads come from), ",
        );
    }
    s.push_str(
        "its fill (objects, or bytes, over its \
         capacity, all copies together; expired objects count until dropped) at the warm-up \
         end and at its highest in the measured window, and after each `cache-flush` the \
         seconds until its fill was back to 99 % of the fill before (to the interval's end, in \
         the replications that got there).\n\n",
    );
    let (head, rule) = if stale {
        ("| stale hits ", "---:|")
    } else {
        ("", "")
    };
    let _ = writeln!(
        s,
        "| store | tier | lookups/s | hit ratio {head}| fill at warm-up end | highest fill | refill after flush |\n\
         |---|---|---:|---:|{rule}---:|---:|---|"
    );
    for c in &tiers {
        let refills = if c.refills.is_empty() {
            "-".to_owned()
        } else {
            c.refills
                .iter()
                .map(|r| {
                    format!(
                        "at {} s: {} s ({} of {})",
                        number(r.at_s),
                        pm(&r.seconds),
                        r.refilled,
                        r.of
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let stale_cell = c
            .stale_hit_ratio
            .as_ref()
            .map(|ci| format!(" {} |", pm(ci)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |{stale_cell} {} | {} | {} |",
            c.store,
            c.tier,
            pm(&c.lookups_rps),
            pm(&c.hit_ratio),
            pm(&c.fill_at_warmup),
            pm(&c.fill_peak),
            refills
        );
    }
    // A tier looked up but never hit costs every read through it its
    // latency (and its lookup price) for nothing.
    let never: Vec<String> = tiers
        .iter()
        .filter(|c| c.hits == 0 && c.lookups > 0 && !c.edge)
        .map(|c| {
            format!(
                "{} {} ({} lookups/s, each {} ms)",
                c.store,
                c.tier,
                number(c.lookups_rps.mean),
                number(c.latency_ms)
            )
        })
        .collect();
    if !never.is_empty() {
        let _ = writeln!(
            s,
            "\nNever hit in any replication: {}. Every read that reached {} paid its lookup and \
             went on below it; in this run {} adds latency and lookup cost without a hit. A tier \
             hits only keys the tiers above it have dropped (evicted, expired or invalidated) \
             and it still holds: with tiers above that keep keys longer than the run (a TTL or a \
             capacity the run does not reach), only a longer run shows what it saves.",
            never.join(", "),
            if never.len() == 1 { "it" } else { "them" },
            if never.len() == 1 { "the tier" } else { "each" },
        );
    }
    if let Some(text) = headroom_models::report::cold_cache_warning(plan, outputs) {
        let _ = writeln!(s, "\n**Warning:** {text}.");
    }
    s
}

/// The `## Shards` section of a run's `summary.md`: each copy of each
/// sharded store over the measured window, its busiest shard, and the one
/// copy whose busiest shard is the most loaded.
fn shards_md(outputs: &[RunOutput]) -> String {
    let copies = headroom_models::report::summarize_shards(outputs);
    if copies.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n## Shards\n\nEach copy of each sharded store over the measured window, ± 95 % CI over \
         the replications (`shards.csv`, `shards_timeseries.csv`): operations reaching its shards, \
         the fraction turned away (full queues, or over `shard.rate_limit`) and the fraction \
         throttled (over `shard.rate_limit`, 429; part of those turned away), and its busiest \
         shard (the most operations): its share of them, the fraction of its workers busy, its \
         busiest interval's, and an operation's p99 there (pooled, as above); and for a read \
         replica, the p99 replication lag over its shards: from a write's end at the primary to \
         the end of its apply at the replica (applies are in busy, not in operations), and the \
         fraction of the reads it served that were stale: started while a write of their key \
         had been shipped to it and was not applied yet.\n\n\
         | store | region | shards | operations/s | turned away | throttled | busiest shard | share | busy | busiest interval busy | p99 (ms) | replication lag p99 (ms) | stale reads |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in &copies {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.store,
            c.region,
            c.shards,
            pm(&c.ops_rps),
            pm(&c.shed_fraction),
            pm(&c.throttled_fraction),
            c.busiest,
            pm(&c.busiest_share),
            pm(&c.utilization),
            pm(&c.peak_utilization),
            pm(&c.latency_p99_ms),
            c.replication_lag_p99_ms.as_ref().map_or("-".to_owned(), pm),
            c.stale_read_fraction.as_ref().map_or("-".to_owned(), pm),
        );
    }
    if let Some(top) = copies
        .iter()
        .filter(|c| c.utilization.mean.is_finite())
        .max_by(|a, b| a.utilization.mean.total_cmp(&b.utilization.mean))
    {
        let _ = writeln!(
            s,
            "\nBusiest shard: **{} {} shard {}** ({} of the copy's operations, {} of its workers \
             busy on average{}).",
            top.store,
            top.region,
            top.busiest,
            number(top.busiest_share.mean),
            number(top.utilization.mean),
            busiest_interval(top.peak_utilization.mean)
        );
        if top.wasted_workers.mean > 0.0 {
            let _ = writeln!(
                s,
                "\nWork for nobody: {} of its workers on average served operations their callers \
                 had stopped waiting for (the store's `timeout`; `shards.csv` `wasted_work_s`): \
                 the store does not cancel them, so a timeout shorter than its queue fails the \
                 callers without freeing a worker.",
                pm(&top.wasted_workers),
            );
        }
        if let Some(key) = top.top_key
            && top.top_key_share.mean >= HOT_KEY_SHARE
        {
            let _ = writeln!(
                s,
                "\nIts most popular key, key {key}, makes {} of its operations ({} a second): one \
                 key's load stays on one shard whatever the shard count, so re-sharding cannot \
                 take that shard below it; a cache tier in front of the store, or splitting the \
                 key, can.",
                pm(&top.top_key_share),
                pm(&top.top_key_rps),
            );
        }
    }
    s.push_str(&store_failovers_md(outputs));
    s
}

/// `summary.md`'s line per store failover (`datastores.*.failover`): the
/// outage windows are the scenario's, so a failover happens at one instant
/// in every replication that has it; the writes it lost vary.
fn store_failovers_md(outputs: &[RunOutput]) -> String {
    use headroom_models::report::StoreFailover;
    let same = |a: &StoreFailover, b: &StoreFailover| {
        (&a.store, &a.from, &a.to, a.dark_s, a.at_s) == (&b.store, &b.from, &b.to, b.dark_s, b.at_s)
    };
    let mut s = String::new();
    let mut seen: Vec<&StoreFailover> = Vec::new();
    for f in outputs.iter().flat_map(|o| &o.store_failovers) {
        if seen.iter().any(|g| same(g, f)) {
            continue;
        }
        seen.push(f);
        let lost: Vec<u64> = outputs
            .iter()
            .filter_map(|o| o.store_failovers.iter().find(|g| same(g, f)))
            .map(|g| g.lost_writes)
            .collect();
        // `lost` holds `f`'s own count at least.
        let (min, max) = (lost.iter().min(), lost.iter().max());
        let lost_text = if min == max {
            format!("{}", min.unwrap_or(&0))
        } else {
            format!("{} to {}", min.unwrap_or(&0), max.unwrap_or(&0))
        };
        let _ = writeln!(
            s,
            "\nFailover: **{}**'s primary moved from {} to {} at {} s, {} s after {} went dark \
             (in {} of {} replications): writes went there from then on, and {} stayed a \
             replica, to apply them once its region was back. Lost: {lost_text} writes {} had \
             finished that never reached {} (shipped into the partition).",
            f.store,
            f.from,
            f.to,
            number(f.at_s),
            number(f.at_s - f.dark_s),
            f.from,
            lost.len(),
            outputs.len(),
            f.from,
            f.from,
            f.to,
        );
    }
    s
}

/// Smallest share of the busiest shard's operations that its most popular
/// key must make for `summary.md` to name it: below it, re-sharding still
/// spreads most of the shard's load.
const HOT_KEY_SHARE: f64 = 0.05;

/// `manifest.json`: what produced these files.
pub fn manifest_json(
    loaded: &Loaded,
    outputs: &[RunOutput],
    files: &[&str],
) -> anyhow::Result<Vec<u8>> {
    // The caches still warming over the measured window, as summary.md
    // names them: for a notebook to check before it reads a hit ratio.
    let cold = headroom_models::report::cold_caches_of(&loaded.plan, outputs);
    let manifest = serde_json::json!({
        "headroom_version": env!("CARGO_PKG_VERSION"),
        "git_sha": option_env!("HEADROOM_GIT_SHA"),
        "command": "run",
        "scenario_file": loaded.path.display().to_string(),
        "seed": loaded.plan.run.seed,
        "replications": loaded.plan.run.replications,
        "prng": headroom_sim::rng::PRNG_DESCRIPTION,
        "files": files,
        "cold_caches": cold,
        "scenario": loaded.scenario,
    });
    let mut bytes = serde_json::to_vec_pretty(&manifest).context("cannot render manifest.json")?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Formats a number for humans: integers as integers, others with 4
/// significant digits, NaN as "-".
fn number(x: f64) -> String {
    if x.is_nan() {
        "-".to_owned()
    } else if x == x.trunc() && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        let digits = if x == 0.0 {
            0
        } else {
            x.abs().log10().floor() as i32
        };
        let decimals = (3 - digits).clamp(0, 9) as usize;
        format!("{x:.decimals$}")
    }
}

/// An error unless `dir` is a folder or does not exist yet.
pub fn check_out_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(crate::InputError(format!(
            "--out {}: exists and is not a folder; give a folder path",
            dir.display()
        ))
        .into());
    }
    Ok(())
}

/// [`write_atomically`] for owned names.
pub fn write_owned(dir: &Path, files: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    replace_outputs(dir, files, &[])
}

/// Writes `files` into `dir` and removes any of `optional` that this run
/// did not produce (a stale `recommendation.toml` from an earlier sweep
/// must not survive one that found no recommendation).
pub fn replace_outputs(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    optional: &[&str],
) -> anyhow::Result<()> {
    let borrowed: Vec<(&str, Vec<u8>)> =
        files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let stale: Vec<&str> = optional
        .iter()
        .copied()
        .filter(|name| !files.iter().any(|(n, _)| n == name))
        .collect();
    write_and_prune(dir, &borrowed, &stale)
}

/// Checks an output file given with `flag`, before any work is done: the
/// path must end in a file name, must not be a folder, and every existing
/// folder above it must be a folder (missing ones are created when the file
/// is written). Returns where the output is staged: `.NAME.tmp` beside it,
/// renamed into place, or the path itself for a special file such as
/// `/dev/null` ([`Staged`]).
///
/// # Errors
/// [`InputError`] (exit code 2) naming the flag and the path.
pub fn output_file(flag: &str, path: &Path) -> Result<Staged, crate::InputError> {
    let bad = |why: &str| crate::InputError(format!("{flag} {}: {why}", path.display()));
    // `x/` names a folder too, though `Path::file_name` reads `x`.
    let names_folder = path
        .to_string_lossy()
        .ends_with(['/', std::path::MAIN_SEPARATOR]);
    let name = path
        .file_name()
        .filter(|_| !path.ends_with("..") && !names_folder)
        .ok_or_else(|| bad("not a file name"))?;
    if path.is_dir() {
        return Err(bad("is a folder; give a file name"));
    }
    if let Some(parent) = path.parent() {
        no_file_above(flag, path, parent)?;
    }
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    Ok(Staged::new(path, tmp))
}

/// Checks an output folder given with `flag` before any work: it must not be
/// a file, nor be below one.
///
/// # Errors
/// [`InputError`] (exit code 2) naming the flag and the path.
pub fn output_dir(flag: &str, path: &Path) -> Result<(), crate::InputError> {
    if path.exists() && !path.is_dir() {
        return Err(crate::InputError(format!(
            "{flag} {}: is a file; give a folder",
            path.display()
        )));
    }
    no_file_above(flag, path, path)
}

/// The nearest existing ancestor of `path` from `from` up must be a folder.
fn no_file_above(flag: &str, path: &Path, from: &Path) -> Result<(), crate::InputError> {
    let existing = from
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .find(|a| a.exists());
    match existing {
        Some(a) if !a.is_dir() => Err(crate::InputError(format!(
            "{flag} {}: {} is a file, not a folder",
            path.display(),
            a.display()
        ))),
        _ => Ok(()),
    }
}

/// Creates the folder that will hold `path`.
pub fn create_parent(flag: &str, path: &Path) -> anyhow::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir)
            .with_context(|| format!("{flag} {}: cannot create {}", path.display(), dir.display())),
        None => Ok(()),
    }
}

/// Writes `bytes` to `path` (checked with [`output_file`]) through its
/// temporary file, renamed into place; the temporary file is removed when
/// anything fails.
pub fn write_output(flag: &str, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let staged = output_file(flag, path)?;
    create_parent(flag, path)?;
    let result = std::fs::write(staged.write_path(), bytes).and_then(|()| staged.commit());
    result.map_err(|e| {
        staged.abandon();
        anyhow::anyhow!("{flag} {}: cannot write: {e}", path.display())
    })
}

/// The temporary files of the [`Staged`] outputs alive now: removed if the
/// process is interrupted ([`remove_staged_on_interrupt`]).
static STAGING: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn staging() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    STAGING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// On SIGINT, SIGTERM or SIGHUP, removes the temporary files of the outputs
/// being written and exits with 128 + the signal's number, as the signal
/// itself would have. Without it, Ctrl-C in a long `trace convert` or
/// `trace synth` left a hidden `.NAME.tmp` of up to the whole output
/// beside it. A finished output is never touched: its temporary file was
/// renamed into place. Call once, at start-up.
pub fn remove_staged_on_interrupt() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        // Signals keep their default action: the process just ends.
        return;
    };
    // A plain thread that only waits for a signal, outside the simulation.
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                for tmp in staging().drain(..) {
                    let _ = std::fs::remove_file(tmp);
                }
                std::process::exit(128 + signal);
            }
        });
}

/// An output file being written: its bytes go to a temporary file beside
/// it, moved into place by [`Staged::commit`]. A path that exists and is
/// not a regular file (`/dev/null`, a FIFO, `/dev/stdout`) is written
/// directly instead: a rename would replace the device with a file, and
/// nothing there is ever removed.
pub struct Staged {
    path: PathBuf,
    tmp: Option<PathBuf>,
}

impl Staged {
    /// `path`, written through `tmp` unless it is a special file.
    pub fn new(path: &Path, tmp: PathBuf) -> Staged {
        let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
        let tmp = (!special).then_some(tmp);
        if let Some(tmp) = &tmp {
            staging().push(tmp.clone());
        }
        Staged {
            path: path.to_owned(),
            tmp,
        }
    }

    /// Where the bytes are written.
    pub fn write_path(&self) -> &Path {
        self.tmp.as_deref().unwrap_or(&self.path)
    }

    /// Flushes `file` (opened at [`Staged::write_path`]) to disk before it
    /// is moved into place; a special file is not synced.
    pub fn sync(&self, file: &std::fs::File) -> std::io::Result<()> {
        match self.tmp {
            Some(_) => file.sync_all(),
            None => Ok(()),
        }
    }

    /// Moves the written file into place.
    pub fn commit(&self) -> std::io::Result<()> {
        match &self.tmp {
            Some(tmp) => std::fs::rename(tmp, &self.path),
            None => Ok(()),
        }
    }

    /// Removes the temporary file after a failure.
    pub fn abandon(&self) {
        if let Some(tmp) = &self.tmp {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

impl Drop for Staged {
    /// No longer a file an interrupt removes (committed, abandoned, or only
    /// a path check).
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp {
            let mut staging = staging();
            if let Some(i) = staging.iter().rposition(|t| t == tmp) {
                staging.swap_remove(i);
            }
        }
    }
}

/// Writes `files` (name, contents) into `dir`, creating it, each through a
/// temporary file renamed into place (a special file, directly: see
/// [`Staged`]).
pub fn write_atomically(dir: &Path, files: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
    write_and_prune(dir, files, &[])
}

/// [`write_atomically`], then removes the files of `stale` that exist in
/// `dir`, before an interrupt can end the process.
fn write_and_prune(dir: &Path, files: &[(&str, Vec<u8>)], stale: &[&str]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    // A folder where a file goes could not be replaced: say so before
    // anything is written.
    if let Some(path) = files
        .iter()
        .map(|(name, _)| dir.join(name))
        .find(|path| path.is_dir())
    {
        return Err(crate::InputError(format!(
            "{}: is a folder where an output file goes; remove it or give another --out; nothing written",
            path.display()
        ))
        .into());
    }
    let mut staged: Vec<Staged> = Vec::new();
    for (name, bytes) in files {
        let file = Staged::new(&dir.join(name), dir.join(format!(".{name}.tmp")));
        if let Err(e) = std::fs::write(file.write_path(), bytes) {
            staged.iter().for_each(Staged::abandon);
            file.abandon();
            return Err(e).with_context(|| format!("cannot write {}", file.write_path().display()));
        }
        staged.push(file);
    }
    // The interrupt handler takes this lock before it removes the staged
    // files and exits: held over the renames and the removals, an
    // interrupt waits for the last one, so the folder never holds some of
    // this run's files and some of the last run's.
    let committing = staging();
    for (i, file) in staged.iter().enumerate() {
        if let Err(e) = file.commit() {
            staged[i..].iter().for_each(Staged::abandon);
            return Err(e)
                .with_context(|| format!("cannot move {} into place", file.path.display()));
        }
    }
    for name in stale {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the stale {}", path.display()))?;
        }
    }
    drop(committing);
    Ok(())
}

#[cfg(test)]
mod tests {
    use headroom_sim::stats::ConfidenceInterval;

    use super::{bill_text, number};

    /// The edges sending at least 5 % of the retries after a trigger, the
    /// most first, with their means over the replications; nothing without
    /// a call graph or without retries.
    /// A trigger not recovered from, with these retries per edge and
    /// wasted work per service after it.
    fn stuck_after(
        by_edge: Vec<f64>,
        by_service: Vec<f64>,
    ) -> headroom_models::recovery::TriggerRecovery {
        headroom_models::recovery::TriggerRecovery {
            label: "fault 0".into(),
            start_s: 40.0,
            end_s: 50.0,
            baseline_goodput_rps: 100.0,
            baseline_p99_ms: 10.0,
            recovered: 0.0,
            recovery_s: f64::NAN,
            peak_error_rate: 1.0,
            excess_p99_ms: 100.0,
            wasted_work_s: 0.0,
            signals: headroom_models::recovery::Signals::from_values([f64::NAN; 8]),
            after_retries_by_edge: by_edge,
            after_wasted_work_by_service: by_service,
        }
    }

    #[test]
    fn the_edges_a_storm_retries_on_are_named_with_their_share() {
        let edge = |caller: &str, callee: &str| headroom_models::EdgeRow {
            caller: caller.into(),
            callee: callee.into(),
            calls: 0,
            ok: 0,
            degraded: 0,
            errors: 0,
            timeouts: 0,
            shed: 0,
            rejected: 0,
            refused: 0,
            retries: 0,
            hedges: 0,
            try_timeouts: 0,
            latency: headroom_sim::stats::LatencyHistogram::new(),
            breaker_open_s: 0.0,
        };
        let stuck = |by_edge: Vec<f64>| stuck_after(by_edge, Vec::new());
        let edges = [edge("edge", "api"), edge("api", "db"), edge("api", "cache")];
        let (a, b) = (stuck(vec![0.0, 1.5, 0.02]), stuck(vec![0.0, 2.5, 0.06]));
        // Means 0, 2.0 and 0.04 of 2.04: the cache's 2 % is left out.
        assert_eq!(
            super::retries_by_edge(&edges, &[&a, &b]).unwrap(),
            "where the retries go: api -> db 2.00 per request (98 %); edges_timeseries.csv has \
             each edge's retries per interval"
        );
        let (a, b) = (stuck(vec![0.5, 1.5, 0.0]), stuck(vec![0.5, 1.5, 0.0]));
        assert_eq!(
            super::retries_by_edge(&edges, &[&a, &b]).unwrap(),
            "where the retries go: api -> db 1.50 per request (75 %), edge -> api 0.50 per \
             request (25 %); edges_timeseries.csv has each edge's retries per interval"
        );
        let none = stuck(vec![0.0, 0.0, 0.0]);
        assert_eq!(super::retries_by_edge(&edges, &[&none]), None);
        let one = stuck(vec![2.0]);
        assert_eq!(super::retries_by_edge(&edges[..1], &[&one]), None);
    }

    /// The services holding abandoned work after a trigger, as the edges
    /// retrying are named: 5 % or more of it, the most first.
    #[test]
    fn the_wasted_work_after_a_trigger_is_named_by_service() {
        let stuck = |by_service: Vec<f64>| stuck_after(Vec::new(), by_service);
        let service = |name: &str| headroom_models::ServiceRow {
            service: name.into(),
            requests: 0,
            errors: 0,
            latency: headroom_sim::stats::LatencyHistogram::new(),
            utilization: 0.0,
            cpu_util: 0.0,
            replicas_mean: 1.0,
            replicas_max: 1,
            shed: 0,
            concurrency_blocked: 0,
            concurrency_limit_mean: f64::NAN,
            wasted_work_s: 0.0,
        };
        let services = [service("api"), service("db"), service("cache")];
        let (a, b) = (stuck(vec![1.0, 8.0, 0.1]), stuck(vec![3.0, 12.0, 0.3]));
        // Means 2, 10 and 0.2 of 12.2: the cache's 1.6 % is left out.
        assert_eq!(
            super::wasted_by_service(&services, &[&a, &b]).unwrap(),
            "whose workers: db 10.0 workers (82 %), api 2.0 workers (16 %); \
             services_timeseries.csv has each service's wasted work per interval"
        );
        assert_eq!(
            super::wasted_by_service(&services, &[&stuck(vec![0.0; 3])]),
            None
        );
        assert_eq!(
            super::wasted_by_service(&services[..1], &[&stuck(vec![4.0])]),
            None
        );
    }

    /// What the interrupt handler sees once it holds the staging lock is a
    /// whole output: every file from one run, never a mix of this run's
    /// renamed files and the last run's, nor a stale optional file (here
    /// written by even runs only) beside another run's (the handler then
    /// exits).
    #[test]
    fn an_interrupt_never_sees_a_half_committed_output() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = std::env::temp_dir().join(format!("headroom-commit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let names: Vec<String> = (0..16).map(|i| format!("f{i}.csv")).collect();
        let run = |g: u32| {
            let mut files: Vec<(String, Vec<u8>)> = names
                .iter()
                .map(|n| (n.clone(), g.to_string().into_bytes()))
                .collect();
            if g.is_multiple_of(2) {
                files.push(("opt.toml".to_owned(), g.to_string().into_bytes()));
            }
            super::replace_outputs(&dir, &files, &["opt.toml"]).expect("writes");
        };
        run(0);
        let done = AtomicBool::new(false);
        let (mut looks, mut seen) = (0u32, std::collections::BTreeSet::new());
        std::thread::scope(|scope| {
            scope.spawn(|| {
                (1..=200).for_each(run);
                done.store(true, Ordering::Release);
            });
            while !done.load(Ordering::Acquire) {
                let handler = super::staging();
                let read = |n: &str| std::fs::read_to_string(dir.join(n));
                let contents: std::collections::BTreeSet<String> =
                    names.iter().map(|n| read(n).expect("reads")).collect();
                assert_eq!(contents.len(), 1, "a mixed output: {contents:?}");
                let g: u32 = contents.first().unwrap().parse().unwrap();
                match read("opt.toml") {
                    Ok(opt) => assert_eq!(opt.parse::<u32>().unwrap(), g, "a stale file"),
                    Err(_) => assert!(!g.is_multiple_of(2), "run {g}'s file is missing"),
                }
                seen.insert(g);
                looks += 1;
                drop(handler);
                // Leave the writer the lock (the mutex is not fair).
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert!(looks > 10 && seen.len() > 2, "{looks} looks at {seen:?}");
    }

    #[test]
    fn the_bill_names_each_part_and_its_share() {
        let ci = |mean| ConfidenceInterval {
            mean,
            half_width: 1.0,
            n: 5,
        };
        let summary = |total: f64| {
            [
                ("cost_per_month_usd", total),
                ("instance_cost_per_month_usd", 1545.0),
                ("data_cost_per_month_usd", 12680.0),
                ("egress_cost_per_month_usd", 5959.0),
            ]
            .map(|(n, x)| (n.to_owned(), ci(x)))
        };
        assert_eq!(
            bill_text(&summary(20184.0)).as_deref(),
            Some(
                "**Bill:** 20184 USD a month: instances 1545 (7.7 %), the data tier 12680 \
                 (62.8 %), egress 5959 (29.5 %)."
            )
        );
        // Without prices there is no bill.
        assert_eq!(bill_text(&summary(0.0)), None);
    }

    #[test]
    fn numbers_for_humans() {
        assert_eq!(number(f64::NAN), "-");
        assert_eq!(number(12345.0), "12345");
        assert_eq!(number(0.123456), "0.1235");
        assert_eq!(number(123.456), "123.5");
        assert_eq!(number(0.0), "0");
    }

    /// An interval is shown as one; a single replication's mean alone, not
    /// "± -"; no value as `-`; a busiest interval only when there is one.
    #[test]
    fn intervals_for_humans() {
        use headroom_sim::stats::ConfidenceInterval;
        let ci = |mean, half_width| ConfidenceInterval {
            mean,
            half_width,
            n: 2,
        };
        assert_eq!(super::pm(&ci(0.5, 0.01)), "0.5000 ± 0.01000");
        assert_eq!(super::pm(&ci(0.5, f64::NAN)), "0.5000");
        assert_eq!(super::pm(&ci(f64::NAN, f64::NAN)), "-");
        assert_eq!(
            super::busiest_interval(0.75),
            ", 0.7500 in its busiest interval"
        );
        assert_eq!(super::busiest_interval(f64::NAN), "");
    }
}
