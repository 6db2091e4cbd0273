//! Chart data from result tables: what each plot shows, independent of how
//! it is drawn.

use crate::planner::analysis::Analysis;
use crate::planner::points::{COST, INSTANCES};
use crate::planner::table::{Row, Table, number};
use headroom_sim::stats::ci95;

/// One chart: a file name, a title and what to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// File stem (`latency_over_time`).
    pub name: String,
    /// Title drawn above the plot.
    pub title: String,
    /// The content.
    pub kind: Kind,
}

/// A named line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// `(x, y)` in order of x.
    pub points: Vec<(f64, f64)>,
    /// Palette index of its colour; `None`: its position among the chart's
    /// lines.
    pub colour: Option<usize>,
    /// Drawn dashed: a second quantity of a group that shares a colour
    /// (a cache's fill beside its hit ratio).
    pub dashed: bool,
}

/// A value with a 95 % CI half-width (NaN if none).
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// Horizontal position.
    pub x: f64,
    /// Mean.
    pub y: f64,
    /// CI half-width of `y`.
    pub err: f64,
    /// Label for legends or axes.
    pub label: String,
}

/// One panel of a parameter-effect chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    /// Axis text of the metric.
    pub y_label: String,
    /// One marker per point.
    pub markers: Vec<Marker>,
    /// Mean per parameter value (averaged over the other parameters).
    pub level_means: Vec<(f64, f64)>,
}

/// One configuration's map: its label and `(x, y, recovered)` per cell
/// (category indices, fraction of replications that recovered).
pub type BoundaryPanel = (String, Vec<(usize, usize, f64)>);

/// What a chart draws.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Lines over a shared x axis; `faint` lines (individual replications)
    /// go underneath.
    Lines {
        /// x axis text.
        x_label: String,
        /// y axis text.
        y_label: String,
        /// Bold lines with a legend.
        series: Vec<Series>,
        /// Thin grey lines without a legend.
        faint: Vec<Vec<(f64, f64)>>,
        /// Shaded x ranges: the intervals a trigger (fault window, cache
        /// flush, surge) touched.
        spans: Vec<(f64, f64)>,
        /// A logarithmic y axis ([`log_if_wide`]).
        log_y: bool,
    },
    /// Two lines on their own y axes (left and right).
    TwinLines {
        /// x axis text.
        x_label: String,
        /// Left axis line.
        left: Series,
        /// Right axis line.
        right: Series,
    },
    /// Points with vertical CI bars, a frontier line, an optional horizontal
    /// limit and one highlighted point.
    Scatter {
        /// x axis text.
        x_label: String,
        /// y axis text.
        y_label: String,
        /// Every point.
        markers: Vec<Marker>,
        /// Frontier, in x order.
        frontier: Vec<(f64, f64)>,
        /// A horizontal line (value, legend text).
        limit: Option<(f64, String)>,
        /// Index into `markers` drawn larger.
        highlight: Option<usize>,
    },
    /// Bars with CI whiskers; `x` of each marker is ignored.
    Bars {
        /// y axis text.
        y_label: String,
        /// One bar each, labelled.
        bars: Vec<Marker>,
        /// A horizontal reference line (value, legend text).
        reference: Option<(f64, String)>,
    },
    /// Recovered / not-recovered maps side by side, one panel per
    /// configuration: a cell per (duration, magnitude) coloured by the
    /// fraction of replications that recovered.
    Boundary {
        /// x axis text (the trigger's duration).
        x_label: String,
        /// y axis text (the trigger's magnitude).
        y_label: String,
        /// x category names.
        xs: Vec<String>,
        /// y category names.
        ys: Vec<String>,
        /// One panel per configuration.
        panels: Vec<BoundaryPanel>,
    },
    /// One panel per metric against one parameter's values.
    Effect {
        /// x axis text (the parameter).
        x_label: String,
        /// Category names when the values are not numbers (x = index).
        categories: Option<Vec<String>>,
        /// One panel per metric.
        panels: Vec<Panel>,
    },
}

/// What the charts are made from.
pub struct PlotData<'a> {
    /// Short name of the scenario, for titles.
    pub title: String,
    /// `runs` rows (one per point and replication).
    pub runs: &'a Table,
    /// `timeseries` rows.
    pub timeseries: &'a Table,
    /// The point whose time series and cache tiers are drawn.
    pub focus: usize,
    /// How to call it in titles (`recommended point 4`).
    pub focus_label: String,
    /// The sweep's analysis, for sweep charts.
    pub sweep: Option<&'a Analysis<'a>>,
    /// `shards.csv` rows, when the run wrote them.
    pub shards: Option<&'a Table>,
    /// `regions.csv` rows, when the run wrote them.
    pub regions: Option<&'a Table>,
    /// `edges.csv` rows, when the run wrote them.
    pub edges: Option<&'a Table>,
    /// The SLO's p99 objective, ms, when the scenario has one.
    pub slo_p99_ms: Option<f64>,
    /// `services_timeseries.csv` rows, when the run wrote them.
    pub service_series: Option<&'a Table>,
    /// `regions_timeseries.csv` rows, when the run wrote them.
    pub region_series: Option<&'a Table>,
    /// `deployments_timeseries.csv` rows, when the run wrote them.
    pub deployment_series: Option<&'a Table>,
    /// `edges_timeseries.csv` rows, when the run wrote them.
    pub edge_series: Option<&'a Table>,
    /// `shards_timeseries.csv` rows, when the run wrote them.
    pub shard_series: Option<&'a Table>,
    /// `caches_timeseries.csv` rows, when the run wrote them.
    pub cache_series: Option<&'a Table>,
}

/// Every chart the data supports, and a reason for each one it does not.
pub fn charts(d: &PlotData<'_>) -> (Vec<Chart>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let mut add = |c: Result<Chart, String>| match c {
        Ok(c) => out.push(c),
        Err(why) => skipped.push(why),
    };
    add(latency_over_time(d));
    add(replicas_vs_arrivals(d));
    add(service_utilization(d));
    add(shard_utilization(d));
    add(replication_lag(d));
    add(cache_over_time(d));
    add(hit_ratio(d));
    add(shard_load(d));
    add(region_latency(d));
    add(region_over_time(d, RegionSeries::Availability));
    add(region_over_time(d, RegionSeries::P99));
    add(deployment_over_time(d, DeploymentSeries::Replicas));
    add(deployment_over_time(d, DeploymentSeries::Utilization));
    add(edge_bars(d, EdgeFigure::Retries));
    add(edge_bars(d, EdgeFigure::P99));
    add(edge_retries_over_time(d));
    if let Some(a) = d.sweep {
        add(cost_vs_p99(d, a));
        add(recovery_boundary(a));
        for j in 0..a.points.params.len() {
            add(effect(a, j));
        }
    }
    (out, skipped)
}

/// Rows of `table` for point `focus`, grouped by replication (in order).
fn by_replication(table: &Table, focus: usize) -> Vec<Vec<Row<'_>>> {
    let key = focus.to_string();
    let mut groups: Vec<(&str, Vec<Row<'_>>)> = Vec::new();
    for row in table.rows().filter(|r| r[0] == *key) {
        match groups.iter_mut().find(|(r, _)| **r == row[1]) {
            Some((_, g)) => g.push(row),
            None => groups.push((row.get(1), vec![row])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The rows of `groups` (one per replication) split by `label`: each label
/// in first-seen order, with its rows in each replication.
fn by_label<'t>(
    groups: &[Vec<Row<'t>>],
    label: impl Fn(&Row<'t>) -> String,
) -> Vec<(String, Vec<Vec<Row<'t>>>)> {
    let mut out: Vec<(String, Vec<Vec<Row<'t>>>)> = Vec::new();
    for (k, g) in groups.iter().enumerate() {
        for row in g {
            let l = label(row);
            let i = match out.iter().position(|(s, _)| *s == l) {
                Some(i) => i,
                None => {
                    out.push((l, vec![Vec::new(); groups.len()]));
                    out.len() - 1
                }
            };
            out[i].1[k].push(*row);
        }
    }
    out
}

/// Time axis: minutes when the run is longer than ten minutes.
fn time_axis(groups: &[Vec<Row<'_>>], t: usize) -> (f64, &'static str) {
    let end = groups
        .iter()
        .flat_map(|g| g.iter().map(|r| number(&r[t])))
        .fold(0.0, f64::max);
    if end > 600.0 {
        (60.0, "time (min)")
    } else {
        (1.0, "time (s)")
    }
}

/// How a line averaged over `n` replications is labelled: "mean of 3
/// replications", or "1 replication".
fn mean_of(n: usize) -> String {
    if n == 1 {
        "1 replication".into()
    } else {
        format!("mean of {n} replications")
    }
}

/// Mean over replications of column `c`, interval by interval.
fn mean_line(groups: &[Vec<Row<'_>>], t: usize, c: usize, scale: f64) -> Vec<(f64, f64)> {
    let lines: Vec<Vec<(f64, f64)>> = groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|r| (number(&r[t]) / scale, number(&r[c])))
                .collect()
        })
        .collect();
    mean_points(&lines)
}

/// Mean over replications' `lines`, point by point: at each index, the
/// first line's x there and the mean of the finite ys (no point where
/// none is).
fn mean_points(lines: &[Vec<(f64, f64)>]) -> Vec<(f64, f64)> {
    let len = lines.iter().map(Vec::len).max().unwrap_or(0);
    (0..len)
        .filter_map(|i| {
            let ys: Vec<f64> = lines
                .iter()
                .filter_map(|l| l.get(i))
                .map(|p| p.1)
                .filter(|y| y.is_finite())
                .collect();
            let x = lines.iter().find_map(|l| l.get(i))?.0;
            (!ys.is_empty()).then(|| (x, ys.iter().sum::<f64>() / ys.len() as f64))
        })
        .collect()
}

fn latency_over_time(d: &PlotData<'_>) -> Result<Chart, String> {
    let ts = d.timeseries;
    let t = ts
        .index("t_s")
        .ok_or("latency over time: timeseries has no t_s column")?;
    let groups = by_replication(ts, d.focus);
    if groups.is_empty() {
        return Err(format!(
            "latency over time: no time series for {}",
            d.focus_label
        ));
    }
    let (scale, x_label) = time_axis(&groups, t);
    let percentiles: Vec<(usize, &str)> = ts
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name.starts_with("latency_p") && c.name.ends_with("_ms"))
        .map(|(i, c)| (i, c.name.as_str()))
        .collect();
    let series: Vec<Series> = percentiles
        .iter()
        .map(|&(c, name)| Series {
            label: format!("{} ({})", percentile_name(name), mean_of(groups.len())),
            points: mean_line(&groups, t, c, scale),
            ..Series::default()
        })
        .collect();
    let faint = match percentiles.last() {
        Some(&(c, _)) => groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|r| (number(&r[t]) / scale, number(&r[c])))
                    .filter(|(_, y)| y.is_finite())
                    .collect()
            })
            .collect(),
        None => Vec::new(),
    };
    let log_y = log_if_wide(&series);
    Ok(Chart {
        name: "latency_over_time".into(),
        title: format!(
            "{}: latency percentiles per interval, {}",
            d.title, d.focus_label
        ),
        kind: Kind::Lines {
            x_label: x_label.into(),
            y_label: log_label("latency (ms)", log_y),
            series,
            faint,
            spans: trigger_spans(ts, groups.first().map_or(&[][..], Vec::as_slice), t, scale),
            log_y,
        },
    })
}

/// The x ranges of consecutive intervals marked `trigger` in one
/// replication's rows (each interval starts where the previous one ended).
fn trigger_spans(ts: &Table, rows: &[Row<'_>], t: usize, scale: f64) -> Vec<(f64, f64)> {
    let Some(c) = ts.index("trigger") else {
        return Vec::new();
    };
    let mut spans: Vec<(f64, f64)> = Vec::new();
    let mut start = 0.0;
    let mut open = false;
    for row in rows {
        let end = number(&row[t]) / scale;
        if number(&row[c]) == 1.0 {
            match spans.last_mut() {
                Some(last) if open => last.1 = end,
                _ => spans.push((start, end)),
            }
            open = true;
        } else {
            open = false;
        }
        start = end;
    }
    spans
}

/// The recovered / not-recovered map of a sweep over a trigger.
fn recovery_boundary(a: &Analysis<'_>) -> Result<Chart, String> {
    let b = crate::planner::boundary::Boundary::new(&a.points).ok_or(
        "recovery boundary: the sweep does not vary a fault's add/rate or a surge's multiplier \
         (with the recovery columns)",
    )?;
    let leaf = |p: &str| p.rsplit('.').next().unwrap_or(p).to_owned();
    Ok(Chart {
        name: "recovery_boundary".into(),
        title: "Recovered (green) / not recovered (red) by trigger size".into(),
        kind: Kind::Boundary {
            x_label: b
                .duration_param
                .as_deref()
                .map_or_else(String::new, |d| format!("trigger {}", leaf(d))),
            y_label: format!("trigger {}", leaf(&b.magnitude_param)),
            xs: b.durations.clone(),
            ys: b.magnitudes.clone(),
            panels: b
                .configs
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    (
                        // Full labels are in summary.md's table; long ones
                        // would overlap side by side.
                        if c.label.len() <= 40 {
                            c.label.clone()
                        } else {
                            format!("configuration {}", k + 1)
                        },
                        c.cells
                            .iter()
                            .map(|cell| (cell.duration, cell.magnitude, cell.recovered))
                            .collect(),
                    )
                })
                .collect(),
        },
    })
}

/// `latency_p99_ms` -> `p99`.
fn percentile_name(column: &str) -> String {
    column
        .trim_start_matches("latency_")
        .trim_end_matches("_ms")
        .to_owned()
}

fn replicas_vs_arrivals(d: &PlotData<'_>) -> Result<Chart, String> {
    let ts = d.timeseries;
    let (Some(t), Some(a), Some(r)) = (
        ts.index("t_s"),
        ts.index("arrivals_rps"),
        ts.index("replicas"),
    ) else {
        return Err("replicas vs arrivals: timeseries lacks t_s, arrivals_rps or replicas".into());
    };
    let groups = by_replication(ts, d.focus);
    if groups.is_empty() {
        return Err(format!(
            "replicas vs arrivals: no time series for {}",
            d.focus_label
        ));
    }
    let (scale, x_label) = time_axis(&groups, t);
    Ok(Chart {
        name: "replicas_vs_arrivals".into(),
        title: format!("{}: instances and offered load, {}", d.title, d.focus_label),
        kind: Kind::TwinLines {
            x_label: x_label.into(),
            left: Series {
                label: "arrivals (requests/s)".into(),
                points: mean_line(&groups, t, a, scale),
                ..Series::default()
            },
            right: Series {
                label: "instances".into(),
                points: mean_line(&groups, t, r, scale),
                ..Series::default()
            },
        },
    })
}

/// Each service's held workers over time: which tier saturates first.
fn service_utilization(d: &PlotData<'_>) -> Result<Chart, String> {
    let Some(st) = d.service_series else {
        return Err(
            "utilization per service: no services_timeseries.csv (`headroom run` writes it, \
             and `headroom sweep --service-timeseries`)"
                .into(),
        );
    };
    let (Some(t), Some(name), Some(u)) = (
        st.index("t_s"),
        st.index("service"),
        st.index("utilization"),
    ) else {
        return Err(
            "utilization per service: services_timeseries.csv lacks t_s, service or utilization"
                .into(),
        );
    };
    let Some((series, scale, x_label)) =
        lines_by_label(st, d.focus, |r| r.get(name).to_owned(), t, u)
    else {
        return Err(format!(
            "utilization per service: no service rows for {}",
            d.focus_label
        ));
    };
    Ok(Chart {
        name: "service_utilization".into(),
        title: format!("{}: workers held per service, {}", d.title, d.focus_label),
        kind: Kind::Lines {
            x_label: x_label.into(),
            y_label: "workers held (fraction)".into(),
            series,
            faint: Vec::new(),
            spans: system_spans(d, scale),
            log_y: false,
        },
    })
}

/// One line per `label` of the rows of `table` (first seen first): column
/// `c` of point `focus`, the mean over its replications interval by
/// interval against time column `t`; with the time axis's scale and label.
/// Labels whose lines are the same at every interval share one line,
/// labelled `a = b` (two regions whose autoscalers hold the same instances
/// would otherwise draw one line over the other, the first hidden).
/// `None` without a row of `focus`.
fn lines_by_label<'t>(
    table: &'t Table,
    focus: usize,
    label: impl Fn(&Row<'t>) -> String,
    t: usize,
    c: usize,
) -> Option<(Vec<Series>, f64, &'static str)> {
    let groups = by_replication(table, focus);
    let labels = by_label(&groups, label);
    if labels.is_empty() {
        return None;
    }
    let (scale, x_label) = time_axis(&groups, t);
    let mut series: Vec<Series> = Vec::new();
    for (name, rows) in &labels {
        let points = mean_line(rows, t, c, scale);
        match series.iter_mut().find(|s| s.points == points) {
            Some(same) => same.label = format!("{} = {name}", same.label),
            None => series.push(Series {
                label: name.clone(),
                points,
                ..Series::default()
            }),
        }
    }
    for s in &mut series {
        s.label = format!("{} ({})", s.label, mean_of(groups.len()));
    }
    Some((series, scale, x_label))
}

/// The trigger's intervals of the focus point's first replication, from the
/// system's series (whose intervals the per-service and per-shard series
/// share).
fn system_spans(d: &PlotData<'_>, scale: f64) -> Vec<(f64, f64)> {
    let system = by_replication(d.timeseries, d.focus);
    match d.timeseries.index("t_s") {
        Some(t) => trigger_spans(
            d.timeseries,
            system.first().map_or(&[][..], Vec::as_slice),
            t,
            scale,
        ),
        None => Vec::new(),
    }
}

/// What a client region's line over time shows.
#[derive(Clone, Copy)]
enum RegionSeries {
    /// `region_availability`: the fraction answered.
    Availability,
    /// `region_p99`: the answered requests' p99.
    P99,
}

/// Each client region's availability or p99 over time (the means over
/// replications, interval by interval), triggers shaded: what a region
/// going dark costs its clients, and for how long, and what the others
/// pay. Regions without clients have no line.
fn region_over_time(d: &PlotData<'_>, what: RegionSeries) -> Result<Chart, String> {
    let (column, name, about, y_label) = match what {
        RegionSeries::Availability => (
            "availability",
            "region_availability",
            "availability per client region",
            "availability (answered / ended)",
        ),
        RegionSeries::P99 => (
            "latency_p99_ms",
            "region_p99",
            "p99 per client region",
            "p99 latency as the clients saw it (ms)",
        ),
    };
    let Some(rt) = d.region_series else {
        return Err(format!(
            "{about}: no regions_timeseries.csv (`headroom run` writes it)"
        ));
    };
    let (Some(t), Some(region), Some(c)) = (rt.index("t_s"), rt.index("region"), rt.index(column))
    else {
        return Err(format!(
            "{about}: regions_timeseries.csv lacks t_s, region or {column}"
        ));
    };
    let Some((mut series, scale, x_label)) =
        lines_by_label(rt, d.focus, |r| r.get(region).to_owned(), t, c)
    else {
        return Err(format!(
            "{about}: no region rows for {} (a scenario with two regions or more has them)",
            d.focus_label
        ));
    };
    series.retain(|s| !s.points.is_empty());
    if series.is_empty() {
        return Err(format!("{about}: no region's clients were answered"));
    }
    // Latencies through an outage span orders of magnitude; availability
    // stays linear (it reaches 0).
    let log_y = matches!(what, RegionSeries::P99) && log_if_wide(&series);
    Ok(Chart {
        name: name.into(),
        title: format!("{}: {about}, {}", d.title, d.focus_label),
        kind: Kind::Lines {
            x_label: x_label.into(),
            y_label: log_label(y_label, log_y),
            series,
            faint: Vec::new(),
            spans: system_spans(d, scale),
            log_y,
        },
    })
}

/// What a deployment's line over time shows.
#[derive(Clone, Copy)]
enum DeploymentSeries {
    /// `deployment_replicas`: its instances.
    Replicas,
    /// `deployment_utilization`: the fraction of its workers held.
    Utilization,
}

/// Each service's instances, or held workers, in each region it runs in
/// over time (the means over replications, interval by interval), triggers
/// shaded: each region's autoscaler chasing its own clients' load, and the
/// region whose instances run hot while the service's pooled figure
/// hides it.
fn deployment_over_time(d: &PlotData<'_>, what: DeploymentSeries) -> Result<Chart, String> {
    let (column, name, about, y_label) = match what {
        DeploymentSeries::Replicas => (
            "replicas",
            "deployment_replicas",
            "instances per service and region",
            "instances",
        ),
        DeploymentSeries::Utilization => (
            "utilization",
            "deployment_utilization",
            "workers held per service and region",
            "workers held (fraction)",
        ),
    };
    let Some(dt) = d.deployment_series else {
        return Err(format!(
            "{about}: no deployments_timeseries.csv (`headroom run` writes it, and `headroom \
             sweep --deployment-timeseries`)"
        ));
    };
    let columns = ["t_s", "service", "region", column].map(|c| dt.index(c));
    let [Some(t), Some(service), Some(region), Some(c)] = columns else {
        return Err(format!(
            "{about}: deployments_timeseries.csv lacks t_s, service, region or {column}"
        ));
    };
    let label = |r: &Row<'_>| format!("{} {}", r.get(service), r.get(region));
    let Some((series, scale, x_label)) = lines_by_label(dt, d.focus, label, t, c) else {
        return Err(format!(
            "{about}: no deployment rows for {} (a scenario with two regions or more has them)",
            d.focus_label
        ));
    };
    Ok(Chart {
        name: name.into(),
        title: format!("{}: {about}, {}", d.title, d.focus_label),
        kind: Kind::Lines {
            x_label: x_label.into(),
            y_label: y_label.into(),
            series,
            faint: Vec::new(),
            spans: system_spans(d, scale),
            log_y: false,
        },
    })
}

/// Each call edge's retries sent per second over time (the means over
/// replications, interval by interval), triggers shaded: which edge a
/// retry storm starts on, when, and whether it stops when its trigger
/// does. Edges that never retried have no line.
fn edge_retries_over_time(d: &PlotData<'_>) -> Result<Chart, String> {
    let about = "retries per second per call edge";
    let Some(et) = d.edge_series else {
        return Err(format!(
            "{about}: no edges_timeseries.csv (`headroom run` writes it, and `headroom sweep \
             --edge-timeseries`)"
        ));
    };
    let columns = ["t_s", "caller", "callee", "retries"].map(|c| et.index(c));
    let [Some(t), Some(caller), Some(callee), Some(c)] = columns else {
        return Err(format!(
            "{about}: edges_timeseries.csv lacks t_s, caller, callee or retries"
        ));
    };
    let label = |r: &Row<'_>| format!("{} -> {}", r.get(caller), r.get(callee));
    if by_label(&by_replication(et, d.focus), label).len() == 1 {
        return Err(format!(
            "{about}: no call graph (the edge's one call is the run's, in timeseries.csv)"
        ));
    }
    let Some((mut series, scale, x_label)) = lines_by_label(et, d.focus, label, t, c) else {
        return Err(format!("{about}: no edge rows for {}", d.focus_label));
    };
    // An interval's retries over its width (the last one may be shorter).
    for s in &mut series {
        let mut start = 0.0;
        for p in &mut s.points {
            let width = (p.0 - start) * scale;
            start = p.0;
            p.1 /= width;
        }
    }
    series.retain(|s| s.points.iter().any(|&(_, y)| y > 0.0));
    if series.is_empty() {
        return Err(format!("{about}: no call edge retried"));
    }
    Ok(Chart {
        name: "edge_retries_over_time".into(),
        title: format!("{}: {about}, {}", d.title, d.focus_label),
        kind: Kind::Lines {
            x_label: x_label.into(),
            y_label: "retries sent per second".into(),
            series,
            faint: Vec::new(),
            spans: system_spans(d, scale),
            log_y: false,
        },
    })
}

/// Each cache's hit ratio and fill over time (the means over replications,
/// interval by interval), one colour per cache, its fill dashed: a flushed
/// tier empties and refills, and its hit ratio comes back before it is
/// full.
fn cache_over_time(d: &PlotData<'_>) -> Result<Chart, String> {
    let Some(ct) = d.cache_series else {
        return Err(
            "cache tiers over time: no caches_timeseries.csv (`headroom run` writes it for a \
             scenario with a cache, and `headroom sweep --cache-timeseries`)"
                .into(),
        );
    };
    let columns = ["t_s", "store", "tier", "hit_ratio", "fill"].map(|c| ct.index(c));
    let [Some(t), Some(store), Some(tier), Some(hit), Some(fill)] = columns else {
        return Err(
            "cache tiers over time: caches_timeseries.csv lacks t_s, store, tier, hit_ratio or \
             fill"
                .into(),
        );
    };
    let groups = by_replication(ct, d.focus);
    let tiers = by_label(&groups, |r| format!("{} {}", r.get(store), r.get(tier)));
    if tiers.is_empty() {
        return Err(format!(
            "cache tiers over time: no tier rows for {}",
            d.focus_label
        ));
    }
    let (scale, x_label) = time_axis(&groups, t);
    let mut series = Vec::new();
    // A colour per cache: its hit ratio solid, its fill dashed.
    for (k, (name, rows)) in tiers.iter().enumerate() {
        for (what, c, dashed) in [("hit ratio", hit, false), ("fill", fill, true)] {
            series.push(Series {
                label: format!("{name} {what} ({})", mean_of(groups.len())),
                points: mean_line(rows, t, c, scale),
                colour: Some(k),
                dashed,
            });
        }
    }
    Ok(Chart {
        name: "cache_over_time".into(),
        title: format!(
            "{}: caches' hit ratio (solid) and fill (dashed), {}",
            d.title, d.focus_label
        ),
        kind: Kind::Lines {
            x_label: x_label.into(),
            y_label: "fraction".into(),
            series,
            faint: Vec::new(),
            spans: system_spans(d, scale),
            log_y: false,
        },
    })
}

/// Shards drawn one by one in [`shard_utilization`]; the rest are one line.
const SHARD_LINES: usize = 5;

/// The busiest shards' busy workers over time (the mean over replications,
/// interval by interval), busiest first by their mean over the run, and
/// the mean of the other shards as one line: a hot shard, or the herd a
/// flushed cache tier sends to the store, over time.
fn shard_utilization(d: &PlotData<'_>) -> Result<Chart, String> {
    let Some(st) = d.shard_series else {
        return Err(
            "utilization per shard: no shards_timeseries.csv (`headroom run` writes it for a \
             scenario with a sharded datastore, and `headroom sweep --shard-timeseries`)"
                .into(),
        );
    };
    let columns = ["t_s", "store", "region", "shard", "utilization"].map(|c| st.index(c));
    let [Some(t), Some(store), Some(region), Some(shard), Some(u)] = columns else {
        return Err(
            "utilization per shard: shards_timeseries.csv lacks t_s, store, region, shard or \
             utilization"
                .into(),
        );
    };
    let groups = by_replication(st, d.focus);
    // Per shard, in first-seen order: its rows in each replication.
    let shards = by_label(&groups, |r| {
        format!("{} {} shard {}", r.get(store), r.get(region), r.get(shard))
    });
    if shards.is_empty() {
        return Err(format!(
            "utilization per shard: no shard rows for {}",
            d.focus_label
        ));
    }
    let (scale, x_label) = time_axis(&groups, t);
    let lines: Vec<Vec<(f64, f64)>> = shards
        .iter()
        .map(|(_, rows)| mean_line(rows, t, u, scale))
        .collect();
    let mean = |i: usize| lines[i].iter().map(|p| p.1).sum::<f64>() / lines[i].len().max(1) as f64;
    // Busiest first; ties keep the file's order.
    let mut order: Vec<usize> = (0..shards.len()).collect();
    order.sort_by(|&a, &b| mean(b).total_cmp(&mean(a)));
    let (top, rest) = order.split_at(order.len().min(SHARD_LINES));
    let mut series: Vec<Series> = top
        .iter()
        .map(|&i| Series {
            label: format!("{} ({})", shards[i].0, mean_of(groups.len())),
            points: lines[i].clone(),
            ..Series::default()
        })
        .collect();
    if !rest.is_empty() {
        // Each (replication, shard) of the rest is one group of rows.
        let others: Vec<Vec<Row<'_>>> = rest
            .iter()
            .flat_map(|&i| shards[i].1.iter().cloned())
            .collect();
        series.push(Series {
            label: format!("mean of the other {} shards", rest.len()),
            points: mean_line(&others, t, u, scale),
            ..Series::default()
        });
    }
    Ok(Chart {
        name: "shard_utilization".into(),
        title: format!(
            "{}: busiest shards' workers busy, {}",
            d.title, d.focus_label
        ),
        kind: Kind::Lines {
            x_label: x_label.into(),
            y_label: "workers busy (fraction)".into(),
            series,
            faint: Vec::new(),
            spans: system_spans(d, scale),
            log_y: false,
        },
    })
}

/// Each read replica's replication lag over time: per interval, the p99
/// of its slowest shard (the largest of its shards'
/// `replication_lag_p99_ms`), the mean over the replications where it
/// applied a write, triggers shaded: how far a replica falls behind, and
/// for how long, through an outage or a surge of writes (on a log axis
/// when the lags span two orders of magnitude). Copies that never
/// applied a write (primaries) have no line; an interval without an apply
/// (the replica's region dark) has no point.
fn replication_lag(d: &PlotData<'_>) -> Result<Chart, String> {
    let Some(st) = d.shard_series else {
        return Err(
            "replication lag: no shards_timeseries.csv (`headroom run` writes it for a scenario \
             with a sharded datastore, and `headroom sweep --shard-timeseries`)"
                .into(),
        );
    };
    let columns = ["t_s", "store", "region", "replication_lag_p99_ms"].map(|c| st.index(c));
    let [Some(t), Some(store), Some(region), Some(lag)] = columns else {
        return Err(
            "replication lag: shards_timeseries.csv lacks t_s, store, region or \
             replication_lag_p99_ms"
                .into(),
        );
    };
    let groups = by_replication(st, d.focus);
    let copies = by_label(&groups, |r| format!("{} {}", r.get(store), r.get(region)));
    let (scale, x_label) = time_axis(&groups, t);
    let series: Vec<Series> = copies
        .iter()
        .filter_map(|(label, reps)| {
            // Per replication, interval by interval (a copy's shards are
            // consecutive rows of an interval): its slowest shard's p99.
            let worst: Vec<Vec<(f64, f64)>> = reps
                .iter()
                .map(|rows| {
                    let mut line: Vec<(f64, f64)> = Vec::new();
                    for r in rows {
                        let (x, y) = (number(&r[t]) / scale, number(&r[lag]));
                        match line.last_mut() {
                            Some(last) if last.0 == x => last.1 = max_finite(last.1, y),
                            _ => line.push((x, y)),
                        }
                    }
                    line
                })
                .collect();
            let points = mean_points(&worst);
            (!points.is_empty()).then(|| Series {
                label: format!("{label}, slowest shard ({})", mean_of(groups.len())),
                points,
                ..Series::default()
            })
        })
        .collect();
    if series.is_empty() {
        return Err(format!(
            "replication lag: no read replica applied a write in {}",
            d.focus_label
        ));
    }
    let log_y = log_if_wide(&series);
    Ok(Chart {
        name: "replication_lag".into(),
        title: format!(
            "{}: read replicas' replication lag, {}",
            d.title, d.focus_label
        ),
        kind: Kind::Lines {
            x_label: x_label.into(),
            y_label: log_label("replication lag p99 (ms)", log_y),
            series,
            faint: Vec::new(),
            spans: system_spans(d, scale),
            log_y,
        },
    })
}

/// How many times the largest value a line chart's smallest must be below
/// for its y axis to be logarithmic: a replica's lag of milliseconds and
/// of minutes through an outage, or a p99 of 20 ms and of seconds, each
/// readable.
pub const LOG_AXIS_SPAN: f64 = 100.0;

/// Whether `series` call for a logarithmic y axis: every finite value above
/// 0 (a log axis cannot place 0), and the largest at least
/// [`LOG_AXIS_SPAN`] times the smallest.
pub fn log_if_wide(series: &[Series]) -> bool {
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite());
    let (lo, hi, positive) = ys.fold((f64::INFINITY, 0.0_f64, true), |(lo, hi, pos), y| {
        (lo.min(y), hi.max(y), pos && y > 0.0)
    });
    positive && lo.is_finite() && hi >= LOG_AXIS_SPAN * lo
}

/// `label`, with "(ms)" made "(ms, log scale)" on a log axis.
fn log_label(label: &str, log_y: bool) -> String {
    if log_y {
        label.replace("(ms)", "(ms, log scale)")
    } else {
        label.to_owned()
    }
}

/// The larger of `a` and `b` that is finite (NaN when neither is).
fn max_finite(a: f64, b: f64) -> f64 {
    match (a.is_finite(), b.is_finite()) {
        (true, true) => a.max(b),
        (true, false) => a,
        _ => b,
    }
}

/// Mean and CI of column `c` over the focus point's replications.
fn focus_ci(d: &PlotData<'_>, c: usize) -> (f64, f64) {
    let key = d.focus.to_string();
    let xs: Vec<f64> = d
        .runs
        .rows()
        .filter(|r| r[0] == *key)
        .map(|r| number(&r[c]))
        .collect();
    let ci = ci95(&xs);
    (ci.mean, ci.half_width)
}

/// Label of the end-to-end hit ratio bar (`cache_hit_ratio`: the edge
/// cache's answers and the tiers').
const ANY_CACHE: &str = "any cache";

fn hit_ratio(d: &PlotData<'_>) -> Result<Chart, String> {
    let tiers: Vec<(usize, String)> = d
        .runs
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name.starts_with("cache_") && c.name.ends_with("_hit_ratio"))
        .map(|(i, c)| {
            let tier = if c.name == "cache_hit_ratio" {
                ANY_CACHE.to_owned()
            } else {
                c.name
                    .trim_start_matches("cache_")
                    .trim_end_matches("_hit_ratio")
                    .to_owned()
            };
            (i, tier)
        })
        .collect();
    let bars: Vec<Marker> = tiers
        .iter()
        .map(|(c, tier)| {
            let (y, err) = focus_ci(d, *c);
            Marker {
                x: 0.0,
                y,
                err,
                label: tier.clone(),
            }
        })
        .collect();
    let per_tier = bars.iter().filter(|b| b.label != ANY_CACHE).count();
    if per_tier == 0 && bars.iter().all(|b| b.y == 0.0 || b.y.is_nan()) {
        return Err("hit ratio per cache tier: the scenario has no cache tiers".into());
    }
    Ok(Chart {
        name: "cache_hit_ratio".into(),
        title: format!(
            "{}: cache hit ratio, end to end and per cache, {}",
            d.title, d.focus_label
        ),
        kind: Kind::Bars {
            y_label: "hit ratio".into(),
            bars,
            reference: None,
        },
    })
}

fn shard_load(d: &PlotData<'_>) -> Result<Chart, String> {
    let Some(shards) = d.shards else {
        return Err("per-shard load: no shards.csv (the scenario has no sharded datastore)".into());
    };
    let (Some(name), Some(req)) = (
        shards.index("shard").or_else(|| shards.index("name")),
        shards.index("requests"),
    ) else {
        return Err("per-shard load: shards.csv lacks shard and requests columns".into());
    };
    let key = d.focus.to_string();
    let rows: Vec<_> = shards.rows().filter(|r| r[0] == *key).collect();
    // A shard is named by its number, after its store when there are
    // several and its copy's region when there are several: each copy's
    // shard is a bar of its own.
    let column_if_varied = |column: &str| {
        shards.index(column).filter(|&c| {
            rows.iter()
                .map(|r| &r[c])
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                > 1
        })
    };
    let prefixes: Vec<usize> = ["store", "region"]
        .into_iter()
        .filter_map(column_if_varied)
        .collect();
    let mut labels: Vec<String> = Vec::new();
    let mut values: Vec<Vec<f64>> = Vec::new();
    for row in rows {
        let label = prefixes
            .iter()
            .map(|&c| &row[c])
            .chain([&row[name]])
            .collect::<Vec<_>>()
            .join(" ");
        match labels.iter().position(|l| *l == label) {
            Some(i) => values[i].push(number(&row[req])),
            None => {
                labels.push(label);
                values.push(vec![number(&row[req])]);
            }
        }
    }
    if labels.is_empty() {
        return Err(format!(
            "per-shard load: no shard rows for {}",
            d.focus_label
        ));
    }
    let bars = mean_bars(labels, &values);
    let mean = bars.iter().map(|b| b.y).sum::<f64>() / bars.len() as f64;
    Ok(Chart {
        name: "shard_load".into(),
        title: format!("{}: requests per shard, {}", d.title, d.focus_label),
        kind: Kind::Bars {
            y_label: "requests per replication".into(),
            bars,
            reference: Some((mean, "mean shard".into())),
        },
    })
}

/// One bar per label: the mean of its values with their 95 % CI; a label
/// without values has none.
fn mean_bars(labels: Vec<String>, values: &[Vec<f64>]) -> Vec<Marker> {
    labels
        .into_iter()
        .zip(values)
        .filter(|(_, xs)| !xs.is_empty())
        .map(|(label, xs)| {
            let ci = ci95(xs);
            Marker {
                x: 0.0,
                y: ci.mean,
                err: ci.half_width,
                label,
            }
        })
        .collect()
}

/// What [`edge_bars`] draws for each call edge.
#[derive(Clone, Copy)]
enum EdgeFigure {
    /// Retries sent per call (`edge_retries`).
    Retries,
    /// A call's p99 as its caller saw it (`edge_latency`), against the
    /// SLO's p99.
    P99,
}

/// Each call edge's retries per call, or a call's p99, the mean of its
/// replications' with its 95 % CI (`edges.csv`): which edge amplifies the
/// load or makes its callers wait. With a call graph only (more than the
/// edge's one call to an entry service).
fn edge_bars(d: &PlotData<'_>, what: EdgeFigure) -> Result<Chart, String> {
    let (name, title, y_label) = match what {
        EdgeFigure::Retries => ("edge_retries", "retries per call", "retries per call"),
        EdgeFigure::P99 => (
            "edge_latency",
            "a call's p99",
            "a call's p99 (ms), as its caller saw it",
        ),
    };
    let Some(edges) = d.edges else {
        return Err(format!("{title} by call edge: no edges.csv"));
    };
    let columns =
        ["caller", "callee", "calls", "retries", "latency_p99_ms"].map(|c| edges.index(c));
    let [
        Some(caller),
        Some(callee),
        Some(calls),
        Some(retries),
        Some(p99),
    ] = columns
    else {
        return Err(format!(
            "{title} by call edge: edges.csv lacks caller, callee, calls, retries or latency_p99_ms"
        ));
    };
    let key = d.focus.to_string();
    let mut labels: Vec<String> = Vec::new();
    let mut values: Vec<Vec<f64>> = Vec::new();
    for row in edges.rows().filter(|r| r[0] == *key) {
        let label = format!("{} -> {}", &row[caller], &row[callee]);
        let i = match labels.iter().position(|l| *l == label) {
            Some(i) => i,
            None => {
                labels.push(label);
                values.push(Vec::new());
                labels.len() - 1
            }
        };
        // An edge without calls in a replication has neither figure.
        let v = match what {
            EdgeFigure::Retries => number(&row[retries]) / number(&row[calls]),
            EdgeFigure::P99 => number(&row[p99]),
        };
        if v.is_finite() {
            values[i].push(v);
        }
    }
    if labels.len() < 2 {
        return Err(format!(
            "{title} by call edge: no call graph (the edge's call to its entry service alone)"
        ));
    }
    let bars = mean_bars(labels, &values);
    let reference = match what {
        EdgeFigure::Retries => None,
        EdgeFigure::P99 => d.slo_p99_ms.map(|v| (v, format!("SLO p99 {v} ms"))),
    };
    Ok(Chart {
        name: name.into(),
        title: format!("{}: {title} by call edge, {}", d.title, d.focus_label),
        kind: Kind::Bars {
            y_label: y_label.into(),
            bars,
            reference,
        },
    })
}

/// Each client region's p99, the mean of its replications' with its 95 %
/// CI, against the SLO's p99 when there is one: whose clients a run's
/// pooled p99 hides (`regions.csv`).
fn region_latency(d: &PlotData<'_>) -> Result<Chart, String> {
    let none =
        "p99 by client region: no regions.csv rows (the scenario has fewer than two regions)";
    let Some(regions) = d.regions else {
        return Err(none.into());
    };
    let (Some(region), Some(p99)) = (regions.index("region"), regions.index("latency_p99_ms"))
    else {
        return Err(
            "p99 by client region: regions.csv lacks region and latency_p99_ms columns".into(),
        );
    };
    if regions.is_empty() {
        return Err(none.into());
    }
    let key = d.focus.to_string();
    let mut labels: Vec<String> = Vec::new();
    let mut values: Vec<Vec<f64>> = Vec::new();
    for row in regions.rows().filter(|r| r[0] == *key) {
        let i = match labels.iter().position(|l| *l == row[region]) {
            Some(i) => i,
            None => {
                labels.push(row[region].to_owned());
                values.push(Vec::new());
                labels.len() - 1
            }
        };
        // A replication in which none of the region's requests was
        // answered has no p99 (a region without clients has none at all).
        let v = number(&row[p99]);
        if v.is_finite() {
            values[i].push(v);
        }
    }
    let bars = mean_bars(labels, &values);
    if bars.is_empty() {
        return Err(format!(
            "p99 by client region: no answered request in any region for {}",
            d.focus_label
        ));
    }
    Ok(Chart {
        name: "region_latency".into(),
        title: format!("{}: p99 by client region, {}", d.title, d.focus_label),
        kind: Kind::Bars {
            y_label: "p99 latency (ms)".into(),
            bars,
            reference: d.slo_p99_ms.map(|v| (v, format!("SLO p99 {v} ms"))),
        },
    })
}

/// Cost per month against p99, with the Pareto frontier; without `[costs]`
/// (every point costs 0, so every point would sit on one vertical line)
/// the mean number of instances stands in for cost, as it does in the
/// recommendation's ranking.
fn cost_vs_p99(d: &PlotData<'_>, a: &Analysis<'_>) -> Result<Chart, String> {
    let pts = &a.points;
    let unpriced = pts.points.iter().all(|p| {
        let cost = pts.ci(p, COST).mean;
        cost == 0.0 || cost.is_nan()
    });
    let x_metric = if unpriced { INSTANCES } else { COST };
    let latency = a.slo.latency_metric();
    let markers: Vec<Marker> = pts
        .points
        .iter()
        .map(|p| {
            let x = pts.ci(p, x_metric);
            let p99 = pts.ci(p, latency);
            Marker {
                x: x.mean,
                y: p99.mean,
                err: p99.half_width,
                label: format!("point {}", p.point),
            }
        })
        .collect();
    if markers
        .iter()
        .all(|m| !(m.x.is_finite() && m.y.is_finite()))
    {
        return Err(format!(
            "{x_metric} vs p99: no point has both a {x_metric} and a p99"
        ));
    }
    let frontier = if unpriced {
        pts.frontier_on(INSTANCES, latency)
    } else {
        a.frontier.clone()
    };
    let frontier = frontier
        .iter()
        .map(|&i| (markers[i].x, markers[i].y))
        .collect();
    let (name, what, x_label) = if unpriced {
        (
            "instances_vs_p99",
            "instances vs p99 latency (no [costs]: every point costs 0)",
            "instances (mean replicas_mean)",
        )
    } else {
        ("cost_vs_p99", "cost vs p99 latency", "cost (USD per month)")
    };
    Ok(Chart {
        name: name.into(),
        title: format!("{}: {what}, {} points", d.title, markers.len()),
        kind: Kind::Scatter {
            x_label: x_label.into(),
            y_label: format!("{}, estimate ± 95 % CI", p99_label(&a.slo)),
            markers,
            frontier,
            limit: a.slo.p99_ms.map(|v| (v, format!("SLO p99 {v} ms"))),
            highlight: a.ranking.best(),
        },
    })
}

/// The axis label of the SLO's p99 column ([`Slo::latency_metric`]).
///
/// [`Slo::latency_metric`]: crate::planner::slo::Slo::latency_metric
fn p99_label(slo: &crate::planner::slo::Slo) -> String {
    if slo.per_region {
        "worst client region's p99 latency (ms)".into()
    } else {
        "p99 latency (ms)".into()
    }
}

fn effect(a: &Analysis<'_>, j: usize) -> Result<Chart, String> {
    let pts = &a.points;
    let param = pts.params[j].name.clone();
    let values: Vec<&str> = pts.points.iter().map(|p| p.values[j].as_str()).collect();
    let numeric = values.iter().all(|v| number(v).is_finite());
    let mut categories: Vec<String> = Vec::new();
    if !numeric {
        for v in &values {
            if !categories.iter().any(|c| c == v) {
                categories.push((*v).to_owned());
            }
        }
    }
    let x_of = |v: &str| -> f64 {
        if numeric {
            number(v)
        } else {
            categories.iter().position(|c| c == v).unwrap_or(0) as f64
        }
    };
    let latency_label = p99_label(&a.slo);
    let panels = [
        (a.slo.latency_metric(), latency_label.as_str()),
        (COST, "cost (USD per month)"),
    ]
    .iter()
    .map(|(metric, label)| {
        let markers: Vec<Marker> = pts
            .points
            .iter()
            .map(|p| {
                let ci = pts.ci(p, metric);
                Marker {
                    x: x_of(&p.values[j]),
                    y: ci.mean,
                    err: ci.half_width,
                    label: format!("point {}", p.point),
                }
            })
            .collect();
        let mut xs: Vec<f64> = markers.iter().map(|m| m.x).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let level_means = xs
            .iter()
            .filter_map(|&x| {
                let ys: Vec<f64> = markers
                    .iter()
                    .filter(|m| m.x == x && m.y.is_finite())
                    .map(|m| m.y)
                    .collect();
                (!ys.is_empty()).then(|| (x, ys.iter().sum::<f64>() / ys.len() as f64))
            })
            .collect();
        Panel {
            y_label: (*label).into(),
            markers,
            level_means,
        }
    })
    .collect();
    Ok(Chart {
        name: format!("effect_{}", file_safe(&param)),
        title: format!("effect of {param} (estimate ± 95 % CI per point; line: mean per value)"),
        kind: Kind::Effect {
            x_label: param,
            categories: (!numeric).then_some(categories),
            panels,
        },
    })
}

/// `services.api.replicas` -> `services.api.replicas`; anything but
/// letters, digits, `.`, `-`, `_` becomes `_`.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(csv: &str) -> Table {
        Table::from_csv_any(csv.as_bytes(), "test").unwrap()
    }

    /// A line's points, y rounded to 1e-9 (means of tenths).
    fn rounded(series: &Series) -> Vec<(f64, f64)> {
        series
            .points
            .iter()
            .map(|&(x, y)| (x, (y * 1e9).round() / 1e9))
            .collect()
    }

    /// Plot data of a run folder (point 0, all replications) with the
    /// given per-service and per-shard series.
    fn run_data<'a>(
        runs: &'a Table,
        ts: &'a Table,
        service_series: Option<&'a Table>,
        shard_series: Option<&'a Table>,
    ) -> PlotData<'a> {
        PlotData {
            title: "t".into(),
            runs,
            timeseries: ts,
            focus: 0,
            focus_label: "all replications".into(),
            sweep: None,
            shards: None,
            regions: None,
            edges: None,
            slo_p99_ms: None,
            region_series: None,
            deployment_series: None,
            edge_series: None,
            service_series,
            shard_series,
            cache_series: None,
        }
    }

    /// One line per service, the mean over replications interval by
    /// interval; the trigger's intervals shaded from the system's series.
    #[test]
    fn service_utilization_draws_each_service_over_time() {
        let runs = table("point,replication,seed,requests\n0,0,1,10\n0,1,1,10\n");
        let ts = table(
            "point,replication,t_s,arrivals_rps,trigger\n\
             0,0,10,1,0\n0,0,20,1,1\n0,0,30,1,0\n\
             0,1,10,1,0\n0,1,20,1,1\n0,1,30,1,0\n",
        );
        let st = table(
            "point,replication,t_s,service,utilization\n\
             0,0,10,api,0.2\n0,0,10,db,0.5\n0,0,20,api,0.4\n0,0,20,db,1\n0,0,30,api,0.2\n0,0,30,db,0.5\n\
             0,1,10,api,0.4\n0,1,10,db,0.7\n0,1,20,api,0.6\n0,1,20,db,1\n0,1,30,api,NaN\n0,1,30,db,0.7\n",
        );
        let mut d = run_data(&runs, &ts, Some(&st), None);
        let chart = service_utilization(&d).unwrap();
        let Kind::Lines { series, spans, .. } = chart.kind else {
            panic!("{chart:?}")
        };
        let line = |i: usize| rounded(&series[i]);
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].label, "api (mean of 2 replications)");
        assert_eq!(line(0), [(10.0, 0.3), (20.0, 0.5), (30.0, 0.2)]);
        assert_eq!(series[1].label, "db (mean of 2 replications)");
        assert_eq!(line(1), [(10.0, 0.6), (20.0, 1.0), (30.0, 0.6)]);
        assert_eq!(spans, [(10.0, 20.0)]);
        // A sweep's folder has no per-service series: skipped, with why.
        d.service_series = None;
        let why = service_utilization(&d).unwrap_err();
        assert!(why.contains("no services_timeseries.csv"), "{why}");
    }

    /// One line per deployment (service and region), the mean over
    /// replications interval by interval, of its instances or its held
    /// fraction; the trigger's intervals shaded; skipped, with why, without
    /// the file.
    #[test]
    fn deployment_over_time_draws_each_service_in_each_region() {
        let (runs, ts) = two_intervals();
        let dt = table(
            "point,replication,t_s,service,region,utilization,replicas\n\
             0,0,10,api,east,0.2,3\n0,0,10,api,west,0.1,3\n0,0,10,api,north,0.2,3\n\
             0,0,20,api,east,0.8,4\n0,0,20,api,west,0.1,3\n0,0,20,api,north,0.2,3\n\
             0,1,10,api,east,0.4,3\n0,1,10,api,west,0.3,3\n0,1,10,api,north,0.2,3\n\
             0,1,20,api,east,0.6,6\n0,1,20,api,west,0.1,3\n0,1,20,api,north,0.1,3\n",
        );
        let mut d = run_data(&runs, &ts, None, None);
        d.deployment_series = Some(&dt);
        let lines = |what| {
            let chart = deployment_over_time(&d, what).unwrap();
            let Kind::Lines { series, spans, .. } = chart.kind else {
                panic!("{chart:?}")
            };
            assert_eq!(spans, [(10.0, 20.0)]);
            series
        };
        // west's and north's instances are the same at every interval: one
        // line for both, not one hidden under the other.
        let replicas = lines(DeploymentSeries::Replicas);
        assert_eq!(replicas.len(), 2);
        assert_eq!(replicas[0].label, "api east (mean of 2 replications)");
        assert_eq!(rounded(&replicas[0]), [(10.0, 3.0), (20.0, 5.0)]);
        assert_eq!(
            replicas[1].label,
            "api west = api north (mean of 2 replications)"
        );
        assert_eq!(rounded(&replicas[1]), [(10.0, 3.0), (20.0, 3.0)]);
        // Their held workers differ: a line each.
        let held = lines(DeploymentSeries::Utilization);
        assert_eq!(held.len(), 3);
        assert_eq!(rounded(&held[0]), [(10.0, 0.3), (20.0, 0.7)]);
        assert_eq!(rounded(&held[1]), [(10.0, 0.2), (20.0, 0.1)]);
        assert_eq!(rounded(&held[2]), [(10.0, 0.2), (20.0, 0.15)]);
        d.deployment_series = None;
        let why = deployment_over_time(&d, DeploymentSeries::Replicas).unwrap_err();
        assert!(why.contains("no deployments_timeseries.csv"), "{why}");
    }

    /// `runs.csv` and `timeseries.csv` of two replications of two 10-s
    /// intervals, the second touched by a trigger.
    fn two_intervals() -> (Table, Table) {
        let runs = table("point,replication,seed,requests\n0,0,1,10\n0,1,1,10\n");
        let ts = table(
            "point,replication,t_s,arrivals_rps,trigger\n\
             0,0,10,1,0\n0,0,20,1,1\n0,1,10,1,0\n0,1,20,1,1\n",
        );
        (runs, ts)
    }

    /// One line per client region, the mean over replications interval by
    /// interval (an interval where a replication answered none of the
    /// region's clients leaves it out of the p99's mean); a region without
    /// clients has no line; the trigger's intervals shaded.
    #[test]
    fn region_over_time_draws_each_client_region() {
        let (runs, ts) = two_intervals();
        let rt = table(
            "point,replication,t_s,region,availability,latency_p99_ms\n\
             0,0,10,east,1,20\n0,0,10,west,NaN,NaN\n0,0,20,east,0.5,100\n0,0,20,west,NaN,NaN\n\
             0,1,10,east,1,30\n0,1,10,west,NaN,NaN\n0,1,20,east,0,NaN\n0,1,20,west,NaN,NaN\n",
        );
        let mut d = run_data(&runs, &ts, None, None);
        d.region_series = Some(&rt);
        let lines = |what| {
            let chart = region_over_time(&d, what).unwrap();
            let Kind::Lines { series, spans, .. } = chart.kind else {
                panic!("{chart:?}")
            };
            assert_eq!(spans, [(10.0, 20.0)]);
            series
        };
        let availability = lines(RegionSeries::Availability);
        assert_eq!(availability.len(), 1);
        assert_eq!(availability[0].label, "east (mean of 2 replications)");
        assert_eq!(rounded(&availability[0]), [(10.0, 1.0), (20.0, 0.25)]);
        let p99 = lines(RegionSeries::P99);
        assert_eq!(rounded(&p99[0]), [(10.0, 25.0), (20.0, 100.0)]);
        // Without the file (a sweep's folder), or with one region, skipped
        // with why.
        d.region_series = None;
        let why = region_over_time(&d, RegionSeries::P99).unwrap_err();
        assert!(why.contains("no regions_timeseries.csv"), "{why}");
        let header = table("point,replication,t_s,region,availability,latency_p99_ms\n");
        d.region_series = Some(&header);
        let why = region_over_time(&d, RegionSeries::Availability).unwrap_err();
        assert!(why.contains("two regions or more"), "{why}");
    }

    /// One bar for the end-to-end ratio, then one per cache, the edge's
    /// first, each the mean over the focus's replications.
    #[test]
    fn hit_ratio_bars_the_end_to_end_ratio_and_each_cache() {
        let runs = table(
            "point,replication,seed,cache_hit_ratio,cache_edge_cache_hit_ratio,cache_users_l1_hit_ratio\n\
             0,0,1,0.5,0.2,0.4\n0,1,1,0.7,0.4,0.6\n",
        );
        let ts = table("point,replication,t_s,arrivals_rps,trigger\n0,0,10,1,0\n0,1,10,1,0\n");
        let chart = hit_ratio(&run_data(&runs, &ts, None, None)).unwrap();
        let Kind::Bars { bars, .. } = chart.kind else {
            panic!("{chart:?}")
        };
        let bars: Vec<(&str, f64)> = bars
            .iter()
            .map(|b| (b.label.as_str(), (b.y * 1e9).round() / 1e9))
            .collect();
        assert_eq!(
            bars,
            [("any cache", 0.6), ("edge_cache", 0.3), ("users_l1", 0.5)]
        );
    }

    /// Per tier, its hit ratio and fill, each the mean over replications
    /// (an interval without a lookup leaves its replication out).
    #[test]
    fn cache_over_time_draws_each_tier_s_hit_ratio_and_fill() {
        let (runs, ts) = two_intervals();
        let ct = table(
            "point,replication,t_s,store,tier,hit_ratio,fill\n\
             0,0,10,users,l1,0.5,1\n0,0,10,users,hot,0.2,0.5\n\
             0,0,20,users,l1,0.7,1\n0,0,20,users,hot,NaN,0\n\
             0,1,10,users,l1,0.6,1\n0,1,10,users,hot,0.4,0.7\n\
             0,1,20,users,l1,0.8,1\n0,1,20,users,hot,0.1,0.1\n",
        );
        let mut d = run_data(&runs, &ts, None, None);
        d.cache_series = Some(&ct);
        let chart = cache_over_time(&d).unwrap();
        assert_eq!(chart.name, "cache_over_time");
        let Kind::Lines { series, spans, .. } = chart.kind else {
            panic!("{chart:?}")
        };
        let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "users l1 hit ratio (mean of 2 replications)",
                "users l1 fill (mean of 2 replications)",
                "users hot hit ratio (mean of 2 replications)",
                "users hot fill (mean of 2 replications)",
            ]
        );
        // A colour per tier, its fill dashed.
        let styles: Vec<(Option<usize>, bool)> =
            series.iter().map(|s| (s.colour, s.dashed)).collect();
        assert_eq!(
            styles,
            [
                (Some(0), false),
                (Some(0), true),
                (Some(1), false),
                (Some(1), true)
            ]
        );
        assert_eq!(rounded(&series[0]), [(10.0, 0.55), (20.0, 0.75)]);
        assert_eq!(rounded(&series[2]), [(10.0, 0.3), (20.0, 0.1)]);
        assert_eq!(rounded(&series[3]), [(10.0, 0.6), (20.0, 0.05)]);
        assert_eq!(spans, [(10.0, 20.0)]);
        d.cache_series = None;
        let why = cache_over_time(&d).unwrap_err();
        assert!(why.contains("no caches_timeseries.csv"), "{why}");
    }

    /// One bar per client region, the mean of its replications' p99s (a
    /// replication without an answered request left out), against the
    /// SLO's p99; without regions the chart is skipped, with why.
    #[test]
    fn region_latency_draws_each_client_region_against_the_slo() {
        let runs = table("point,replication,seed,requests\n0,0,1,10\n0,1,1,10\n");
        let ts = table("point,replication,t_s,arrivals_rps\n0,0,10,1\n0,1,10,1\n");
        let regions = table(
            "point,replication,region,requests,latency_p99_ms\n\
             0,0,us-east,10,30\n0,0,ap-south,5,190\n0,0,eu-west,0,NaN\n\
             0,1,us-east,10,32\n0,1,ap-south,5,NaN\n0,1,eu-west,0,NaN\n",
        );
        let mut d = run_data(&runs, &ts, None, None);
        assert!(
            region_latency(&d)
                .unwrap_err()
                .contains("fewer than two regions")
        );
        d.regions = Some(&regions);
        d.slo_p99_ms = Some(100.0);
        let chart = region_latency(&d).unwrap();
        assert_eq!(chart.name, "region_latency");
        let Kind::Bars {
            bars, reference, ..
        } = chart.kind
        else {
            panic!("{chart:?}")
        };
        let got: Vec<(&str, f64)> = bars.iter().map(|b| (b.label.as_str(), b.y)).collect();
        assert_eq!(got, [("us-east", 31.0), ("ap-south", 190.0)]);
        assert!(bars[0].err > 0.0 && bars[1].err.is_nan(), "{bars:?}");
        assert_eq!(reference, Some((100.0, "SLO p99 100 ms".into())));
    }

    /// One bar per call edge of the focus point: its retries per call, or
    /// a call's p99 against the SLO, each the mean of its replications';
    /// without a call graph, no chart.
    #[test]
    fn edge_bars_draw_each_call_edge() {
        let runs = table("point,replication,seed,requests\n0,0,1,10\n0,1,1,10\n");
        let ts = table("point,replication,t_s,arrivals_rps\n0,0,10,1\n0,1,10,1\n");
        let edges = table(
            "point,replication,caller,callee,calls,retries,latency_p99_ms\n\
             0,0,edge,api,100,0,50\n0,0,api,db,100,20,40\n\
             0,1,edge,api,100,0,54\n0,1,api,db,100,30,44\n\
             1,0,edge,api,100,0,9\n1,0,api,db,100,90,9\n",
        );
        let mut d = run_data(&runs, &ts, None, None);
        assert!(
            edge_bars(&d, EdgeFigure::Retries)
                .unwrap_err()
                .contains("no edges.csv")
        );
        d.edges = Some(&edges);
        d.slo_p99_ms = Some(60.0);
        let bars_of = |what| {
            let chart = edge_bars(&d, what).unwrap();
            let Kind::Bars {
                bars, reference, ..
            } = chart.kind
            else {
                panic!("{chart:?}")
            };
            let got: Vec<(String, f64)> = bars.iter().map(|b| (b.label.clone(), b.y)).collect();
            (chart.name, got, reference)
        };
        let (name, got, reference) = bars_of(EdgeFigure::Retries);
        assert_eq!(name, "edge_retries");
        assert_eq!(
            got,
            [
                ("edge -> api".to_owned(), 0.0),
                ("api -> db".to_owned(), 0.25)
            ]
        );
        assert_eq!(reference, None);
        let (name, got, reference) = bars_of(EdgeFigure::P99);
        assert_eq!(name, "edge_latency");
        assert_eq!(
            got,
            [
                ("edge -> api".to_owned(), 52.0),
                ("api -> db".to_owned(), 42.0)
            ]
        );
        assert_eq!(reference, Some((60.0, "SLO p99 60 ms".into())));
        // The edge's one call alone is no call graph.
        let single = table(
            "point,replication,caller,callee,calls,retries,latency_p99_ms\n0,0,edge,api,100,0,50\n",
        );
        d.edges = Some(&single);
        assert!(
            edge_bars(&d, EdgeFigure::P99)
                .unwrap_err()
                .contains("no call graph")
        );
    }

    /// One line per call edge that retried, its retries per second (the
    /// last, shorter interval's over its own width), the mean over
    /// replications; none without a call graph or without retries.
    #[test]
    fn edge_retries_over_time_draws_each_retrying_edge() {
        let runs = table("point,replication,seed,requests\n0,0,1,10\n0,1,1,10\n");
        let ts = table(
            "point,replication,t_s,arrivals_rps,trigger\n\
             0,0,10,1,0\n0,0,15,1,1\n0,1,10,1,0\n0,1,15,1,1\n",
        );
        let series = table(
            "point,replication,t_s,caller,callee,retries\n\
             0,0,10,edge,api,0\n0,0,10,api,db,20\n0,0,15,edge,api,0\n0,0,15,api,db,50\n\
             0,1,10,edge,api,0\n0,1,10,api,db,40\n0,1,15,edge,api,0\n0,1,15,api,db,30\n",
        );
        let mut d = run_data(&runs, &ts, None, None);
        assert!(
            edge_retries_over_time(&d)
                .unwrap_err()
                .contains("no edges_timeseries.csv")
        );
        d.edge_series = Some(&series);
        let chart = edge_retries_over_time(&d).unwrap();
        assert_eq!(chart.name, "edge_retries_over_time");
        let Kind::Lines {
            series: lines,
            spans,
            ..
        } = chart.kind
        else {
            panic!("{chart:?}")
        };
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].label, "api -> db (mean of 2 replications)");
        // (20 + 40) / 2 over 10 s, then (50 + 30) / 2 over 5 s.
        assert_eq!(rounded(&lines[0]), [(10.0, 3.0), (15.0, 8.0)]);
        assert_eq!(spans, [(10.0, 15.0)]);
        let quiet = table(
            "point,replication,t_s,caller,callee,retries\n\
             0,0,10,edge,api,0\n0,0,10,api,db,0\n",
        );
        d.edge_series = Some(&quiet);
        assert!(
            edge_retries_over_time(&d)
                .unwrap_err()
                .contains("no call edge retried")
        );
        let single = table("point,replication,t_s,caller,callee,retries\n0,0,10,edge,api,5\n");
        d.edge_series = Some(&single);
        assert!(
            edge_retries_over_time(&d)
                .unwrap_err()
                .contains("no call graph")
        );
    }

    /// One bar per shard of each copy, a copy's region named when there
    /// are several, each bar the mean of its own replications.
    #[test]
    fn shard_load_draws_each_copy_s_shards_apart() {
        let runs = table("point,replication,seed,requests\n0,0,1,10\n0,1,1,10\n");
        let ts = table("point,replication,t_s,arrivals_rps\n0,0,10,1\n0,1,10,1\n");
        let shards = table(
            "point,replication,store,region,shard,requests\n\
             0,0,users,us-east,0,100\n0,0,users,us-east,1,10\n\
             0,0,users,eu-west,0,50\n0,0,users,eu-west,1,5\n\
             0,1,users,us-east,0,120\n0,1,users,us-east,1,12\n\
             0,1,users,eu-west,0,60\n0,1,users,eu-west,1,7\n",
        );
        let mut d = run_data(&runs, &ts, None, None);
        d.shards = Some(&shards);
        let chart = shard_load(&d).unwrap();
        let Kind::Bars { bars, .. } = chart.kind else {
            panic!("{chart:?}")
        };
        let got: Vec<(&str, f64)> = bars.iter().map(|b| (b.label.as_str(), b.y)).collect();
        assert_eq!(
            got,
            [
                ("us-east 0", 110.0),
                ("us-east 1", 11.0),
                ("eu-west 0", 55.0),
                ("eu-west 1", 6.0)
            ]
        );
    }

    /// The busiest shards one line each, busiest first by their mean over
    /// the run, the rest as one mean line; a run without a sharded store
    /// skips the chart, with why.
    #[test]
    fn shard_utilization_draws_the_busiest_shards_and_the_rest() {
        let (runs, ts) = two_intervals();
        // Seven shards: shard k busy k/10 in the first interval and
        // k/10 + 0.1 in the second, replication 1 0.2 above replication 0
        // for shard 6 only.
        let mut csv = String::from("point,replication,t_s,store,region,shard,utilization\n");
        for r in 0..2 {
            for (i, t) in [10, 20].iter().enumerate() {
                for k in 0..7 {
                    let mut u = k as f64 / 10.0 + i as f64 / 10.0;
                    if k == 6 && r == 1 {
                        u += 0.2;
                    }
                    csv.push_str(&format!("0,{r},{t},users,us-east,{k},{u}\n"));
                }
            }
        }
        let st = table(&csv);
        let mut d = run_data(&runs, &ts, None, Some(&st));
        let chart = shard_utilization(&d).unwrap();
        assert_eq!(chart.name, "shard_utilization");
        let Kind::Lines { series, spans, .. } = chart.kind else {
            panic!("{chart:?}")
        };
        let line = |i: usize| rounded(&series[i]);
        assert_eq!(series.len(), SHARD_LINES + 1);
        let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "users us-east shard 6 (mean of 2 replications)",
                "users us-east shard 5 (mean of 2 replications)",
                "users us-east shard 4 (mean of 2 replications)",
                "users us-east shard 3 (mean of 2 replications)",
                "users us-east shard 2 (mean of 2 replications)",
                "mean of the other 2 shards",
            ]
        );
        assert_eq!(line(0), [(10.0, 0.7), (20.0, 0.8)]);
        assert_eq!(line(4), [(10.0, 0.2), (20.0, 0.3)]);
        // Shards 0 and 1 over both replications.
        assert_eq!(line(5), [(10.0, 0.05), (20.0, 0.15)]);
        assert_eq!(spans, [(10.0, 20.0)]);
        assert_eq!(mean_of(1), "1 replication");
        d.shard_series = None;
        let why = shard_utilization(&d).unwrap_err();
        assert!(why.contains("no shards_timeseries.csv"), "{why}");
    }

    /// One line per read replica: its slowest shard's p99 lag interval by
    /// interval, the mean over the replications with a value there; a
    /// primary (NaN throughout) has none, and a run whose replicas applied
    /// nothing skips the chart, with why.
    #[test]
    fn replication_lag_draws_each_replica_s_slowest_shard() {
        let (runs, ts) = two_intervals();
        let st = table(
            "point,replication,t_s,store,region,shard,replication_lag_p99_ms\n\
             0,0,10,users,us-east,0,NaN\n0,0,10,users,us-east,1,NaN\n\
             0,0,10,users,eu-west,0,45\n0,0,10,users,eu-west,1,50\n\
             0,0,20,users,us-east,0,NaN\n0,0,20,users,us-east,1,NaN\n\
             0,0,20,users,eu-west,0,NaN\n0,0,20,users,eu-west,1,5000\n\
             0,1,10,users,us-east,0,NaN\n0,1,10,users,us-east,1,NaN\n\
             0,1,10,users,eu-west,0,60\n0,1,10,users,eu-west,1,40\n\
             0,1,20,users,us-east,0,NaN\n0,1,20,users,us-east,1,NaN\n\
             0,1,20,users,eu-west,0,NaN\n0,1,20,users,eu-west,1,NaN\n",
        );
        let mut d = run_data(&runs, &ts, None, Some(&st));
        let chart = replication_lag(&d).unwrap();
        assert_eq!(chart.name, "replication_lag");
        let Kind::Lines { series, spans, .. } = chart.kind else {
            panic!("{chart:?}")
        };
        let [line] = &series[..] else {
            panic!("one replica: {series:?}")
        };
        assert_eq!(
            line.label,
            "users eu-west, slowest shard (mean of 2 replications)"
        );
        // 10 s: max(45, 50) and max(60, 40), averaged; 20 s: replication
        // 0's alone.
        assert_eq!(rounded(line), [(10.0, 55.0), (20.0, 5000.0)]);
        assert_eq!(spans, [(10.0, 20.0)]);
        let none = table(
            "point,replication,t_s,store,region,shard,replication_lag_p99_ms\n\
             0,0,10,users,us-east,0,NaN\n0,1,10,users,us-east,0,NaN\n",
        );
        d.shard_series = Some(&none);
        let why = replication_lag(&d).unwrap_err();
        assert!(why.contains("no read replica applied a write"), "{why}");
    }

    /// Latency over time and the client regions' p99 take a log axis when
    /// an outage takes p99 from 20 ms to 5 s; the regions' availability
    /// never does (it can reach 0).
    #[test]
    fn latency_through_an_outage_is_drawn_on_a_log_axis() {
        let (runs, _) = two_intervals();
        let ts = |late: &str| {
            table(&format!(
                "point,replication,t_s,latency_p99_ms,trigger\n\
                 0,0,10,20,0\n0,0,20,{late},1\n"
            ))
        };
        let log = |c: &Chart| matches!(c.kind, Kind::Lines { log_y: true, .. });
        let (calm, outage) = (ts("500"), ts("5000"));
        let chart = |t: &Table| latency_over_time(&run_data(&runs, t, None, None)).unwrap();
        assert!(!log(&chart(&calm)) && log(&chart(&outage)));
        let text = crate::plot::svg(&chart(&outage)).unwrap();
        assert!(text.contains("latency (ms, log scale)"), "{text}");
        let rt = table(
            "point,replication,t_s,region,availability,latency_p99_ms\n\
             0,0,10,east,1,20\n0,0,20,east,0.01,5000\n",
        );
        let mut d = run_data(&runs, &calm, None, None);
        d.region_series = Some(&rt);
        assert!(log(&region_over_time(&d, RegionSeries::P99).unwrap()));
        assert!(!log(
            &region_over_time(&d, RegionSeries::Availability).unwrap()
        ));
    }

    /// The lag chart's y axis is logarithmic when its lags span two orders
    /// of magnitude (55 ms and 6 s), linear when they span less (55 ms and
    /// 5 s) or a value is 0, which a log axis cannot place; drawn, the log
    /// axis has its decades as ticks.
    #[test]
    fn a_lag_spanning_two_orders_of_magnitude_is_drawn_on_a_log_axis() {
        let (runs, ts) = two_intervals();
        let lags = |late: &str| {
            table(&format!(
                "point,replication,t_s,store,region,shard,replication_lag_p99_ms\n\
                 0,0,10,users,eu-west,0,55\n0,0,20,users,eu-west,0,{late}\n"
            ))
        };
        let chart = |st: &Table| {
            let d = run_data(&runs, &ts, None, Some(st));
            replication_lag(&d).unwrap()
        };
        let log = |c: &Chart| matches!(c.kind, Kind::Lines { log_y: true, .. });
        let (narrow, wide) = (chart(&lags("5000")), chart(&lags("6000")));
        assert!(!log(&narrow) && log(&wide));
        let flat = |points: Vec<(f64, f64)>| Series {
            points,
            ..Series::default()
        };
        assert!(!log_if_wide(&[flat(vec![(0.0, 0.0), (1.0, 6000.0)])]));
        assert!(log_if_wide(&[
            flat(vec![(0.0, 1.0)]),
            flat(vec![(1.0, 100.0)])
        ]));
        assert!(!log_if_wide(&[]));
        let text = crate::plot::svg(&wide).unwrap();
        assert!(
            text.contains("replication lag p99 (ms, log scale)"),
            "{text}"
        );
        for decade in [">\n100\n</text>", ">\n1000\n</text>"] {
            assert!(text.contains(decade), "no tick {decade}: {text}");
        }
        let text = crate::plot::svg(&narrow).unwrap();
        assert!(!text.contains("log scale"));
    }
}
