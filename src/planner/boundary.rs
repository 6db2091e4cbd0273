//! The edge of metastability: in a sweep over a trigger's magnitude and
//! duration (a fault's `add`/`rate`, a surge's `multiplier`, and their
//! `duration`), which triggers each configuration (the other parameters)
//! recovers from, the largest one it survives, and why it does not recover
//! from the smallest one that breaks it. Read from `points` (the mean of
//! `recovered` over replications), so merged sweeps give the same answer.

use std::fmt::Write as _;

use headroom_models::recovery::{RECOVERY_COLUMNS, Signals, explain};

use crate::planner::points::{PointStats, Points};
use crate::planner::table::{Row, Table, number};

/// A trigger parameter's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Magnitude,
    Duration,
}

/// Which role a sweep parameter plays, if it shapes a trigger.
fn role(path: &str) -> Option<Role> {
    let parts = headroom_models::split_path(path).unwrap_or_default();
    let fault = parts.len() == 3 && parts[0] == "faults";
    let surge = parts.len() == 4 && parts[0] == "workload" && parts[1] == "surges";
    match (fault, surge, parts.last().copied()) {
        (true, _, Some("add" | "rate")) | (_, true, Some("multiplier")) => Some(Role::Magnitude),
        (true, _, Some("duration")) | (_, true, Some("duration")) => Some(Role::Duration),
        _ => None,
    }
}

/// One point of a configuration's map.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Point index.
    pub point: usize,
    /// Position on the magnitude axis (index into [`Boundary::magnitudes`]).
    pub magnitude: usize,
    /// Position on the duration axis (index into [`Boundary::durations`]).
    pub duration: usize,
    /// Fraction of replications that recovered (NaN if unmeasurable).
    pub recovered: f64,
}

/// One configuration: every point with the same non-trigger parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `path = value` of the other parameters (`all points` if none).
    pub label: String,
    /// Its points.
    pub cells: Vec<Cell>,
}

/// The recovered / not-recovered map of a sweep, per configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Boundary {
    /// The magnitude parameter's path and values (cell text), ascending.
    pub magnitude_param: String,
    /// Magnitude values, ascending by their number.
    pub magnitudes: Vec<String>,
    /// The duration parameter's path, if swept.
    pub duration_param: Option<String>,
    /// Duration values, ascending (one empty entry if not swept).
    pub durations: Vec<String>,
    /// Configurations, in order of first appearance.
    pub configs: Vec<Config>,
}

/// A parameter value as a number for ordering: a plain number, or a
/// duration string in seconds.
pub fn value_number(text: &str) -> f64 {
    text.trim()
        .parse::<f64>()
        .ok()
        .or_else(|| {
            headroom_sim::Span::parse(text.trim().trim_matches('"'))
                .ok()
                .map(|s| s.as_secs_f64())
        })
        .unwrap_or(f64::NAN)
}

fn sorted_values(points: &Points, j: usize) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    for p in &points.points {
        if !values.contains(&p.values[j]) {
            values.push(p.values[j].clone());
        }
    }
    values.sort_by(|a, b| value_number(a).total_cmp(&value_number(b)));
    values
}

impl Boundary {
    /// The map, if the sweep varies a trigger's magnitude (and optionally
    /// its duration) and `runs` has the `recovered` column.
    pub fn new(points: &Points) -> Option<Boundary> {
        points.metric("recovered")?;
        let roles: Vec<Option<Role>> = points.params.iter().map(|c| role(&c.name)).collect();
        let mag = roles.iter().position(|r| *r == Some(Role::Magnitude))?;
        let dur = roles.iter().position(|r| *r == Some(Role::Duration));
        let magnitudes = sorted_values(points, mag);
        let durations = dur.map_or_else(|| vec![String::new()], |d| sorted_values(points, d));
        let mut configs: Vec<Config> = Vec::new();
        for p in &points.points {
            let label = config_label(points, p, mag, dur);
            let cell = Cell {
                point: p.point,
                magnitude: magnitudes
                    .iter()
                    .position(|v| *v == p.values[mag])
                    .unwrap_or(0),
                duration: dur.map_or(0, |d| {
                    durations
                        .iter()
                        .position(|v| *v == p.values[d])
                        .unwrap_or(0)
                }),
                recovered: points.ci(p, "recovered").mean,
            };
            match configs.iter_mut().find(|c| c.label == label) {
                Some(c) => c.cells.push(cell),
                None => configs.push(Config {
                    label,
                    cells: vec![cell],
                }),
            }
        }
        Some(Boundary {
            magnitude_param: points.params[mag].name.clone(),
            magnitudes,
            duration_param: dur.map(|d| points.params[d].name.clone()),
            durations,
            configs,
        })
    }

    /// The trigger at `cell`, for people: `add = 100ms for 20s`.
    pub fn describe(&self, cell: &Cell) -> String {
        let m = format!(
            "{} = {}",
            leaf(&self.magnitude_param),
            self.magnitudes[cell.magnitude]
        );
        match &self.duration_param {
            Some(_) => format!("{m} for {}", self.durations[cell.duration]),
            None => m,
        }
    }

    /// Size of the trigger at `cell`: magnitude x duration (the excess it
    /// injects), for "largest".
    fn size(&self, cell: &Cell) -> f64 {
        let d = if self.duration_param.is_some() {
            value_number(&self.durations[cell.duration])
        } else {
            1.0
        };
        value_number(&self.magnitudes[cell.magnitude]) * d
    }

    /// The largest trigger that every replication of `config` recovered
    /// from (by magnitude x duration, then magnitude).
    pub fn largest_survived<'c>(&self, config: &'c Config) -> Option<&'c Cell> {
        config
            .cells
            .iter()
            .filter(|c| c.recovered == 1.0)
            .max_by(|a, b| {
                self.size(a)
                    .total_cmp(&self.size(b))
                    .then(a.magnitude.cmp(&b.magnitude))
            })
    }

    /// The smallest trigger some replication of `config` did not recover
    /// from.
    pub fn smallest_broken<'c>(&self, config: &'c Config) -> Option<&'c Cell> {
        config
            .cells
            .iter()
            .filter(|c| c.recovered < 1.0)
            .min_by(|a, b| {
                self.size(a)
                    .total_cmp(&self.size(b))
                    .then(a.magnitude.cmp(&b.magnitude))
            })
    }
}

fn leaf(path: &str) -> &str {
    headroom_models::split_path(path)
        .and_then(|segs| segs.last().copied())
        .unwrap_or(path)
}

fn config_label(points: &Points, p: &PointStats, mag: usize, dur: Option<usize>) -> String {
    let parts: Vec<String> = points
        .params
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != mag && Some(j) != dur)
        .map(|(j, c)| format!("{} = {}", c.name, p.values[j]))
        .collect();
    if parts.is_empty() {
        "all points".to_owned()
    } else {
        parts.join(", ")
    }
}

/// The loop signals of point `p`: per counter, the mean over the
/// replications that did not recover (the others have no "after" span).
fn signals(points: &Points, runs: &Table, p: &PointStats) -> Signals {
    let key = p.point.to_string();
    let rec = runs.index("recovered");
    let stuck: Vec<Row<'_>> = runs
        .rows()
        .filter(|r| r[0] == *key && rec.is_some_and(|c| number(&r[c]) == 0.0))
        .collect();
    let mut v = [f64::NAN; 8];
    for (x, name) in v.iter_mut().zip(&RECOVERY_COLUMNS[5..]) {
        let Some(c) = runs.index(name) else {
            *x = points.ci(p, name).mean;
            continue;
        };
        let finite: Vec<f64> = stuck
            .iter()
            .map(|r| number(&r[c]))
            .filter(|y| y.is_finite())
            .collect();
        if !finite.is_empty() {
            *x = finite.iter().sum::<f64>() / finite.len() as f64;
        }
    }
    Signals::from_values(v)
}

/// The `## Recovery boundary` section of a sweep's `summary.md` (empty if
/// the sweep does not vary a trigger or has no recovery columns).
pub fn render(points: &Points, runs: &Table) -> String {
    let Some(b) = Boundary::new(points) else {
        return String::new();
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Recovery boundary\n\nThe sweep varies the trigger's `{}`{}. A trigger is survived \
         when every replication recovered (`recovered` = 1: goodput and p99 back within \
         tolerance of the baseline and held, `[recovery]`); the largest survived is the one \
         with the largest magnitude x duration. Plot: `recovery_boundary.png` (`--plots`).\n",
        b.magnitude_param,
        b.duration_param
            .as_ref()
            .map_or(String::new(), |d| format!(" and `{d}`")),
    );
    let _ = writeln!(
        s,
        "| # | configuration | largest trigger survived | smallest trigger not survived |"
    );
    let _ = writeln!(s, "|---|---|---|---|");
    for (k, c) in b.configs.iter().enumerate() {
        let survived = b
            .largest_survived(c)
            .map_or_else(|| "none".to_owned(), |cell| b.describe(cell));
        let broken = b.smallest_broken(c).map_or_else(
            || "none (every trigger survived)".to_owned(),
            |cell| {
                format!(
                    "{} ({:.0} % of replications recovered)",
                    b.describe(cell),
                    cell.recovered * 100.0
                )
            },
        );
        let _ = writeln!(s, "| {} | {} | {survived} | {broken} |", k + 1, c.label);
    }
    for c in &b.configs {
        let Some(cell) = b.smallest_broken(c) else {
            continue;
        };
        let Some(p) = points.points.iter().find(|p| p.point == cell.point) else {
            continue;
        };
        let _ = writeln!(
            s,
            "\n### Why {} does not recover from {} (point {}; counters of the replications that did not)\n",
            c.label,
            b.describe(cell),
            cell.point
        );
        for line in explain(&signals(points, runs, p)) {
            let _ = writeln!(s, "- {line}");
        }
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_of_trigger_paths() {
        assert_eq!(role("faults.0.add"), Some(Role::Magnitude));
        assert_eq!(role("faults.1.rate"), Some(Role::Magnitude));
        assert_eq!(role("faults.0.duration"), Some(Role::Duration));
        assert_eq!(role("workload.surges.0.multiplier"), Some(Role::Magnitude));
        assert_eq!(role("workload.surges.0.duration"), Some(Role::Duration));
        assert_eq!(role("services.api.replicas"), None);
        assert_eq!(role("faults.0.at"), None);
    }

    #[test]
    fn values_order_as_numbers_and_durations() {
        assert_eq!(value_number("2.5"), 2.5);
        assert_eq!(value_number("100ms"), 0.1);
        assert_eq!(value_number("1m"), 60.0);
        assert!(value_number("x").is_nan());
    }
}
