//! Which parameters matter: each parameter's main effect on a metric, the
//! spread (largest minus smallest) of the metric's mean over the
//! parameter's levels, every level averaging over the other parameters.
//!
//! A grid gives each level the same mix of other parameters, so the spread
//! is the classic main effect of a full factorial design. Random and
//! Latin-hypercube sweeps have (nearly) one point per value; numeric
//! parameters with more than [`MAX_LEVELS`] distinct values are therefore
//! cut into [`BINS`] bins of equal point count, in value order.

use crate::planner::points::{PointStats, Points};
use crate::planner::table::number;

/// Most distinct values used as levels before binning.
pub const MAX_LEVELS: usize = 8;
/// Bins for parameters with many numeric values.
pub const BINS: usize = 5;

/// One parameter's effects.
#[derive(Clone, Debug, PartialEq)]
pub struct Effect {
    /// Parameter path.
    pub param: String,
    /// Spread of the mean per metric, in the order asked for (NaN if
    /// undefined, e.g. one level).
    pub spread: Vec<f64>,
    /// Levels compared (distinct values or bins).
    pub levels: usize,
}

/// The main effect of every parameter on each of `metrics`, in parameter
/// order.
pub fn effects(points: &Points, metrics: &[&str]) -> Vec<Effect> {
    (0..points.params.len())
        .map(|j| {
            let groups = levels(&points.points, j);
            let spread = metrics
                .iter()
                .map(|m| {
                    let means: Vec<f64> = groups
                        .iter()
                        .map(|g| mean(g.iter().map(|p| points.ci(p, m).mean)))
                        .filter(|x| x.is_finite())
                        .collect();
                    if means.len() < 2 {
                        f64::NAN
                    } else {
                        let max = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let min = means.iter().copied().fold(f64::INFINITY, f64::min);
                        max - min
                    }
                })
                .collect();
            Effect {
                param: points.params[j].name.clone(),
                spread,
                levels: groups.len(),
            }
        })
        .collect()
}

/// Indices into `effects` ranked by the spread of metric `k`, largest first
/// (undefined last, ties in parameter order).
pub fn ranked(effects: &[Effect], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..effects.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |i: usize| {
            let x = effects[i].spread[k];
            if x.is_nan() { f64::NEG_INFINITY } else { x }
        };
        key(b).total_cmp(&key(a)).then(a.cmp(&b))
    });
    order
}

/// The points grouped by level of parameter `j`.
fn levels(points: &[PointStats], j: usize) -> Vec<Vec<&PointStats>> {
    let mut distinct: Vec<&str> = Vec::new();
    for p in points {
        if !distinct.contains(&p.values[j].as_str()) {
            distinct.push(&p.values[j]);
        }
    }
    let numeric = distinct.iter().all(|v| number(v).is_finite());
    if distinct.len() <= MAX_LEVELS || !numeric {
        return distinct
            .iter()
            .map(|v| points.iter().filter(|p| p.values[j] == *v).collect())
            .collect();
    }
    let mut sorted: Vec<&PointStats> = points.iter().collect();
    sorted.sort_by(|a, b| number(&a.values[j]).total_cmp(&number(&b.values[j])));
    let n = sorted.len();
    (0..BINS)
        .map(|b| sorted[b * n / BINS..(b + 1) * n / BINS].to_vec())
        .filter(|g| !g.is_empty())
        .collect()
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::table::{Column, Kind, Table, float_cell};

    #[test]
    fn main_effects_of_a_full_factorial() {
        // y = 10 a + 1 b over a 2 x 3 grid: a's spread 10, b's 2.
        let mut t = Table::new(vec![
            Column::new("point", Kind::Int),
            Column::new("replication", Kind::Int),
            Column::new("seed", Kind::Int),
            Column::new("a", Kind::Int),
            Column::new("b", Kind::Int),
            Column::new("y", Kind::Float),
        ]);
        let mut p = 0;
        for a in 0..2 {
            for b in 0..3 {
                let y = f64::from(10 * a + b);
                t.push_row(vec![
                    p.to_string(),
                    "0".into(),
                    "1".into(),
                    a.to_string(),
                    b.to_string(),
                    float_cell(y),
                ]);
                p += 1;
            }
        }
        let points = Points::from_runs(&t, 2, &[]);
        let e = effects(&points, &["y", "missing"]);
        assert_eq!(e[0].spread[0], 10.0);
        assert_eq!(e[1].spread[0], 2.0);
        assert_eq!((e[0].levels, e[1].levels), (2, 3));
        assert!(e[0].spread[1].is_nan());
        assert_eq!(ranked(&e, 0), [0, 1]);
    }

    #[test]
    fn many_numeric_values_are_binned() {
        let mut t = Table::new(vec![
            Column::new("point", Kind::Int),
            Column::new("replication", Kind::Int),
            Column::new("seed", Kind::Int),
            Column::new("x", Kind::Float),
            Column::new("y", Kind::Float),
        ]);
        for i in 0..20 {
            let x = f64::from(i) / 2.0;
            t.push_row(vec![
                i.to_string(),
                "0".into(),
                "1".into(),
                float_cell(x),
                float_cell(x),
            ]);
        }
        let e = effects(&Points::from_runs(&t, 1, &[]), &["y"]);
        assert_eq!(e[0].levels, BINS);
        // Bin means: 0.75, 2.75, ..., 8.75 -> spread 8.
        assert_eq!(e[0].spread[0], 8.0);
    }
}
