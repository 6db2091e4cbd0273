//! Per-point statistics from `runs.csv` rows: the mean and 95 % confidence
//! half-width of every metric over a point's replications (`points.csv`),
//! and the Pareto frontier on cost and p99 latency (`frontier.csv`).

use headroom_models::report::metric_ci95;
use headroom_sim::stats::ConfidenceInterval;

use crate::planner::part::PointInfo;
use crate::planner::table::{Column, Kind, Row, Table, float_cell, number};

/// The columns of `runs.csv` before the sweep parameters.
pub const RUN_KEY_COLUMNS: [&str; 3] = ["point", "replication", "seed"];

/// Cost column the recommendation minimises and the frontier uses.
pub const COST: &str = "cost_per_month_usd";
/// Latency column of the frontier and the default SLO.
pub const P99: &str = "latency_p99_ms";
/// The mean number of instances: the ranking's key between points of equal
/// cost (without `[costs]`, every point costs 0).
pub const INSTANCES: &str = "replicas_mean";

/// One point's statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct PointStats {
    /// 0-based point index.
    pub point: usize,
    /// The parameter cells, as in `runs.csv`.
    pub values: Vec<String>,
    /// Replications summarised.
    pub replications: usize,
    /// Mean and 95 % CI of each metric, in column order.
    pub metrics: Vec<ConfidenceInterval>,
}

/// Statistics of every point, and the names that go with them.
#[derive(Clone, Debug, PartialEq)]
pub struct Points {
    /// Parameter columns (name = path).
    pub params: Vec<Column>,
    /// Metric names, in `runs.csv` order.
    pub metrics: Vec<String>,
    /// One entry per point, by index.
    pub points: Vec<PointStats>,
}

impl Points {
    /// Summarises `runs` (rows sorted by point then replication), whose
    /// columns are the key columns, `n_params` parameters, then metrics.
    /// `info` (the manifest's `point_runs`, by point) gives each point's pooled
    /// latency quantiles, the centres of their intervals ([`metric_ci95`]);
    /// a point without them is centred on its replications' mean.
    pub fn from_runs(runs: &Table, n_params: usize, info: &[PointInfo]) -> Points {
        let first_metric = RUN_KEY_COLUMNS.len() + n_params;
        let params = runs.columns[RUN_KEY_COLUMNS.len()..first_metric].to_vec();
        let metrics: Vec<String> = runs.columns[first_metric..]
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let mut points = Vec::new();
        let mut start = 0;
        while start < runs.len() {
            let key = runs.row(start).get(0);
            let end = (start..runs.len())
                .find(|&i| runs.row(i)[0] != *key)
                .unwrap_or(runs.len());
            let rows: Vec<Row<'_>> = (start..end).map(|i| runs.row(i)).collect();
            let point = key.parse().unwrap_or(points.len());
            // `point_runs` is in point order (checked when read).
            let pooled = info
                .binary_search_by_key(&point, |p| p.point)
                .ok()
                .and_then(|i| info[i].pooled());
            let stats = (first_metric..runs.columns.len())
                .map(|i| {
                    let xs: Vec<f64> = rows.iter().map(|r| number(&r[i])).collect();
                    metric_ci95(&runs.columns[i].name, &xs, pooled.as_ref())
                })
                .collect();
            points.push(PointStats {
                point,
                values: rows[0].to_vec(RUN_KEY_COLUMNS.len()..first_metric),
                replications: rows.len(),
                metrics: stats,
            });
            start = end;
        }
        Points {
            params,
            metrics,
            points,
        }
    }

    /// The position of metric `name`.
    pub fn metric(&self, name: &str) -> Option<usize> {
        self.metrics.iter().position(|m| m == name)
    }

    /// Metric `name` of point `p` (NaN interval if the metric is absent).
    pub fn ci(&self, p: &PointStats, name: &str) -> ConfidenceInterval {
        self.metric(name).map_or(
            ConfidenceInterval {
                mean: f64::NAN,
                half_width: f64::NAN,
                n: 0,
            },
            |i| p.metrics[i],
        )
    }

    /// `points.csv` for the points at `order` (indices into `points`):
    /// `point`, the parameters, `replications`, then `<metric>` and
    /// `<metric>_ci95` for each metric.
    pub fn table(&self, order: &[usize]) -> Table {
        let mut columns = vec![Column::new("point", Kind::Int)];
        columns.extend(self.params.iter().cloned());
        columns.push(Column::new("replications", Kind::Int));
        for m in &self.metrics {
            columns.push(Column::new(m.clone(), Kind::Float));
            columns.push(Column::new(format!("{m}_ci95"), Kind::Float));
        }
        let mut t = Table::new(columns);
        for &i in order {
            let p = &self.points[i];
            let mut row = vec![p.point.to_string()];
            row.extend(p.values.iter().cloned());
            row.push(p.replications.to_string());
            for ci in &p.metrics {
                row.push(float_cell(ci.mean));
                row.push(float_cell(ci.half_width));
            }
            t.push_row(row);
        }
        t
    }

    /// Indices of the Pareto-optimal points on (mean `x`, mean `latency`),
    /// both minimised, lowest `x` first: the frontier of `frontier.csv` is on
    /// cost per month and the SLO's p99 column
    /// ([`crate::planner::slo::Slo::latency_metric`]). Points where either
    /// is undefined are left out; of points with equal values the first is
    /// kept.
    pub fn frontier_on(&self, x: &str, latency: &str) -> Vec<usize> {
        let mut candidates: Vec<(f64, f64, usize)> = self
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| (self.ci(p, x).mean, self.ci(p, latency).mean, i))
            .filter(|(c, l, _)| c.is_finite() && l.is_finite())
            .collect();
        candidates.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then(a.1.total_cmp(&b.1))
                .then(a.2.cmp(&b.2))
        });
        let mut best = f64::INFINITY;
        let mut out = Vec::new();
        for (_, latency, i) in candidates {
            if latency < best {
                best = latency;
                out.push(i);
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A runs table with one parameter `x` and metrics `cost_per_month_usd`
    /// and `latency_p99_ms`: one `(x, [(cost, p99)...])` per point.
    pub(crate) fn runs(points: &[(&str, &[(f64, f64)])]) -> Table {
        let rows: Vec<(&str, Vec<Vec<f64>>)> = points
            .iter()
            .map(|(x, reps)| (*x, reps.iter().map(|&(c, p)| vec![c, p]).collect()))
            .collect();
        table(&[COST, P99], &rows)
    }

    /// A `runs.csv` with one string parameter `x` and the float `metrics`:
    /// per point, its value of `x` and one row of metrics per replication.
    pub(crate) fn table(metrics: &[&str], points: &[(&str, Vec<Vec<f64>>)]) -> Table {
        let mut columns = vec![
            Column::new("point", Kind::Int),
            Column::new("replication", Kind::Int),
            Column::new("seed", Kind::Int),
            Column::new("x", Kind::Str),
        ];
        columns.extend(metrics.iter().map(|m| Column::new(*m, Kind::Float)));
        let mut t = Table::new(columns);
        for (p, (x, reps)) in points.iter().enumerate() {
            for (r, values) in reps.iter().enumerate() {
                let mut row = vec![p.to_string(), r.to_string(), "1".into(), (*x).into()];
                row.extend(values.iter().map(|v| float_cell(*v)));
                t.push_row(row);
            }
        }
        t
    }

    #[test]
    fn means_and_half_widths_per_point() {
        let t = runs(&[("a", &[(1.0, 10.0), (3.0, 14.0)]), ("b", &[(5.0, 1.0)])]);
        let p = Points::from_runs(&t, 1, &[]);
        assert_eq!(p.points.len(), 2);
        assert_eq!(p.points[0].replications, 2);
        let cost = p.ci(&p.points[0], COST);
        assert_eq!(cost.mean, 2.0);
        // t(0.975, 1) = 12.706; s = sqrt(2); half-width = 12.706 * sqrt(2) / sqrt(2).
        assert!((cost.half_width - 12.706_204_736).abs() < 1e-6, "{cost:?}");
        assert!(
            p.ci(&p.points[1], COST).half_width.is_nan(),
            "one replication"
        );
        let table = p.table(&[0, 1]);
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "point",
                "x",
                "replications",
                COST,
                "cost_per_month_usd_ci95",
                P99,
                "latency_p99_ms_ci95"
            ]
        );
        assert_eq!(table.row(1).to_vec(0..4), ["1", "b", "1", "5"]);
        assert_eq!(table.row(1)[4], *"NaN");
    }

    #[test]
    fn frontier_is_pareto_on_cost_and_p99() {
        // (cost, p99): a (1, 50) b (2, 40) c (2, 45: dominated by b)
        // d (3, 40: dominated by b) e (4, 10) f (NaN: left out).
        let t = runs(&[
            ("a", &[(1.0, 50.0)]),
            ("b", &[(2.0, 40.0)]),
            ("c", &[(2.0, 45.0)]),
            ("d", &[(3.0, 40.0)]),
            ("e", &[(4.0, 10.0)]),
            ("f", &[(f64::NAN, 1.0)]),
        ]);
        let p = Points::from_runs(&t, 1, &[]);
        assert_eq!(p.frontier_on(COST, P99), [0, 1, 4]);
        // On another metric: (instances, p99), cost left aside.
        let rows: Vec<(&str, Vec<Vec<f64>>)> = [(3.0, 10.0), (1.0, 30.0), (2.0, 20.0), (2.0, 25.0)]
            .iter()
            .map(|&(instances, p99)| ("x", vec![vec![0.0, instances, p99]]))
            .collect();
        let p = Points::from_runs(&table(&[COST, INSTANCES, P99], &rows), 1, &[]);
        assert_eq!(p.frontier_on(INSTANCES, P99), [1, 2, 0]);
    }
}
