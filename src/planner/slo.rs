//! The recommendation: which points meet the SLO at the pessimistic end of
//! their 95 % confidence intervals, and the cheapest of them.
//!
//! A latency or cost objective holds when the upper end of the metric's CI
//! is within it; availability holds when the lower end is. A point with one
//! replication has no CI and so cannot be certified. Among the points that
//! hold, the cheapest by mean `cost_per_month_usd` wins; ties go to the
//! fewer instances (mean `replicas_mean`: without `[costs]` every point
//! costs 0, and fewer instances is cheaper at any price), then to the lower
//! pessimistic p99, then to the lower point index.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::planner::points::{COST, INSTANCES, P99, PointStats, Points};

/// Service-level objectives a point must meet. `None` leaves a metric
/// unconstrained.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// p50 latency limit, ms.
    pub p50_ms: Option<f64>,
    /// p99 latency limit, ms.
    pub p99_ms: Option<f64>,
    /// p99.9 latency limit, ms.
    pub p999_ms: Option<f64>,
    /// Minimum availability, a fraction in `[0, 1]`.
    pub availability: Option<f64>,
    /// Cost limit, USD per month.
    pub max_cost_per_month_usd: Option<f64>,
    /// Minimum session availability, a fraction in `[0, 1]` (a workload
    /// with sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_availability: Option<f64>,
    /// Maximum `stale_read_ratio`, a fraction in `[0, 1]` (a scenario with
    /// a datastore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stale_read_ratio: Option<f64>,
    /// The latency and availability objectives hold for every client
    /// region (`slo.per_region`): judged on `runs.csv`'s `worst_region_*`
    /// columns instead of every client's pooled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_region: bool,
}

/// Which end of the CI is pessimistic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Smaller is better: the upper end must be within the limit.
    AtMost,
    /// Larger is better: the lower end must reach the limit.
    AtLeast,
}

/// One objective checked on one point.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// Metric column.
    pub metric: &'static str,
    /// How the limit applies.
    pub side: Side,
    /// The objective.
    pub limit: f64,
    /// The metric's mean.
    pub mean: f64,
    /// The pessimistic end of its 95 % CI (NaN without a CI).
    pub pessimistic: f64,
    /// Whether it holds.
    pub holds: bool,
}

impl Check {
    /// How far the pessimistic end is from the limit, as a factor: 1 at the
    /// limit, above 1 when it misses (2 = twice the latency or cost allowed,
    /// or for availability twice the unavailability allowed: 0.998 against
    /// 0.999), below 1 when it holds. Infinite without a CI (it cannot
    /// hold), so the closest point is one with an interval.
    pub fn shortfall(&self) -> f64 {
        let x = self.pessimistic;
        let factor = match self.side {
            Side::AtMost => x / self.limit,
            // Availability-like objectives (limit below 1): the failures
            // allowed, so 0.99 against 0.999 is 10x, not 1 % short.
            Side::AtLeast if self.limit < 1.0 => (1.0 - x) / (1.0 - self.limit),
            Side::AtLeast => self.limit / x,
        };
        if factor.is_nan() {
            f64::INFINITY
        } else {
            factor
        }
    }

    /// `latency_p99_ms 23.1 (CI upper) <= 25` or why not.
    pub fn describe(&self) -> String {
        let (op, end) = match (self.side, self.holds) {
            (Side::AtMost, true) => ("<=", "upper"),
            (Side::AtMost, false) => (">", "upper"),
            (Side::AtLeast, true) => (">=", "lower"),
            (Side::AtLeast, false) => ("<", "lower"),
        };
        if self.pessimistic.is_nan() {
            return format!(
                "{} has no confidence interval (estimate {}; needs >= 2 replications and a defined value)",
                self.metric,
                short(self.mean)
            );
        }
        format!(
            "{} {} (95 % CI {end} end) {op} {}",
            self.metric,
            short(self.pessimistic),
            short(self.limit)
        )
    }
}

impl Slo {
    /// Whether no objective is set.
    pub fn is_empty(&self) -> bool {
        *self == Slo::default()
    }

    /// The p99 latency column the sweep's tables, frontier, charts and
    /// ranking show and order by: every client's pooled (`latency_p99_ms`),
    /// or with `per_region` the worst client region's
    /// (`worst_region_p99_ms`), the one its objectives are judged on.
    pub fn latency_metric(&self) -> &'static str {
        if self.per_region {
            headroom_models::report::WORST_REGION_COLUMNS[1]
        } else {
            P99
        }
    }

    /// The availability column shown beside [`Slo::latency_metric`]:
    /// `availability`, or with `per_region` `worst_region_availability`.
    pub fn availability_metric(&self) -> &'static str {
        if self.per_region {
            headroom_models::report::WORST_REGION_COLUMNS[3]
        } else {
            "availability"
        }
    }

    /// The metrics of the objectives besides [`Slo::latency_metric`],
    /// [`Slo::availability_metric`] and the cost, in [`Slo::objectives`]'
    /// order: the columns the rankings add for them (a freshness objective
    /// shows `stale_read_ratio`).
    pub fn other_metrics(&self) -> Vec<&'static str> {
        let shown = [self.latency_metric(), self.availability_metric(), COST];
        self.objectives()
            .into_iter()
            .map(|(m, _, _)| m)
            .filter(|m| !shown.contains(m))
            .collect()
    }

    /// The objectives as `(metric, side, limit)`.
    pub fn objectives(&self) -> Vec<(&'static str, Side, f64)> {
        let mut out = Vec::new();
        let mut add = |m, s, v: Option<f64>| {
            if let Some(v) = v {
                out.push((m, s, v));
            }
        };
        // Per region, the worst region's values, in `WORST_REGION_COLUMNS`
        // order.
        let [p50, p99, p999, availability] = if self.per_region {
            headroom_models::report::WORST_REGION_COLUMNS
        } else {
            ["latency_p50_ms", P99, "latency_p999_ms", "availability"]
        };
        add(p50, Side::AtMost, self.p50_ms);
        add(p99, Side::AtMost, self.p99_ms);
        add(p999, Side::AtMost, self.p999_ms);
        add(availability, Side::AtLeast, self.availability);
        add(COST, Side::AtMost, self.max_cost_per_month_usd);
        add(
            "session_availability",
            Side::AtLeast,
            self.session_availability,
        );
        add(
            headroom_models::report::STALE_READ_COLUMN,
            Side::AtMost,
            self.max_stale_read_ratio,
        );
        out
    }

    /// One line for summaries: `p99 <= 25 ms, availability >= 0.999`.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "none".into();
        }
        let mut s = String::new();
        for (i, (m, side, v)) in self.objectives().into_iter().enumerate() {
            let op = if side == Side::AtMost { "<=" } else { ">=" };
            let _ = write!(s, "{}{m} {op} {}", if i > 0 { ", " } else { "" }, short(v));
        }
        s
    }

    /// Every objective checked on point `p`.
    pub fn check(&self, points: &Points, p: &PointStats) -> Vec<Check> {
        self.objectives()
            .into_iter()
            .map(|(metric, side, limit)| {
                let ci = points.ci(p, metric);
                let pessimistic = match side {
                    Side::AtMost => ci.upper(),
                    Side::AtLeast => ci.lower(),
                };
                let holds = match side {
                    Side::AtMost => pessimistic <= limit,
                    Side::AtLeast => pessimistic >= limit,
                };
                Check {
                    metric,
                    side,
                    limit,
                    mean: ci.mean,
                    pessimistic,
                    holds,
                }
            })
            .collect()
    }
}

/// Points ordered for the recommendation.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranking {
    /// Points (indices into `Points::points`) whose SLO holds, best first.
    pub qualifying: Vec<usize>,
    /// The others, cheapest first.
    pub failing: Vec<usize>,
}

impl Ranking {
    /// Ranks `points` under `slo`.
    pub fn new(points: &Points, slo: &Slo) -> Ranking {
        let key = |i: usize| {
            let p = &points.points[i];
            RankKey::new(
                points.ci(p, COST).mean,
                points.ci(p, INSTANCES).mean,
                points.ci(p, slo.latency_metric()).upper(),
                i,
            )
        };
        let mut all: Vec<usize> = (0..points.points.len()).collect();
        all.sort_by_cached_key(|&i| key(i));
        let (qualifying, failing) = all
            .into_iter()
            .partition(|&i| slo.check(points, &points.points[i]).iter().all(|c| c.holds));
        Ranking {
            qualifying,
            failing,
        }
    }

    /// The recommended point, if any holds its SLO.
    pub fn best(&self) -> Option<usize> {
        self.qualifying.first().copied()
    }

    /// Among the failing points, the one that comes closest to its SLO: the
    /// smallest worst [`Check::shortfall`] over the objectives, the cheaper
    /// on a tie. Where no point holds, it shows what the sweep can reach
    /// (the cheapest failing point is often far off).
    pub fn closest(&self, points: &Points, slo: &Slo) -> Option<usize> {
        let worst = |i: usize| {
            slo.check(points, &points.points[i])
                .iter()
                .map(Check::shortfall)
                .fold(0.0, f64::max)
        };
        // `min_by` keeps the first of equals: `failing` is cheapest first.
        self.failing
            .iter()
            .map(|&i| (i, worst(i)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }
}

/// The order of the recommendation, shared by the sweep's ranking and the
/// search's best point: mean cost, then mean instances, then pessimistic
/// (upper) p99, then point number. An undefined (NaN) value ranks last.
#[derive(Clone, Copy, Debug)]
pub struct RankKey {
    cost: f64,
    instances: f64,
    p99_upper: f64,
    point: usize,
}

impl RankKey {
    /// The key of point number `point` (its index in the sweep's grid).
    pub fn new(cost: f64, instances: f64, p99_upper: f64, point: usize) -> RankKey {
        RankKey {
            cost: nan_last(cost),
            instances: nan_last(instances),
            p99_upper: nan_last(p99_upper),
            point,
        }
    }
}

impl Ord for RankKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.cost
            .total_cmp(&other.cost)
            .then(self.instances.total_cmp(&other.instances))
            .then(self.p99_upper.total_cmp(&other.p99_upper))
            .then(self.point.cmp(&other.point))
    }
}

impl PartialOrd for RankKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for RankKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for RankKey {}

fn nan_last(x: f64) -> f64 {
    if x.is_nan() { f64::INFINITY } else { x }
}

/// A number with 4 significant digits for prose; below 1e-6 in scientific
/// notation (`7.891e-14`), where fixed decimals would need more than 9 and
/// a nonzero value would print as `0.000000000`.
pub fn short(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == x.trunc() && x.abs() < 1e9 {
        return format!("{x:.0}");
    }
    let digits = if x == 0.0 {
        0
    } else {
        x.abs().log10().floor() as i32
    };
    if digits < -6 {
        return format!("{x:.3e}");
    }
    let decimals = (3 - digits).clamp(0, 9) as usize;
    format!("{x:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::points::tests::runs;

    #[test]
    fn short_keeps_four_significant_digits_at_every_scale() {
        for (x, shown) in [
            (0.0, "0"),
            (420.0, "420"),
            (420.48, "420.5"),
            (-3.137_2, "-3.137"),
            (0.000_078_96, "0.00007896"),
            (0.000_001_234_4, "0.000001234"),
            // Fixed decimals would print these as 0.000000000.
            (7.891_131_6e-14, "7.891e-14"),
            (-1.926_5e-17, "-1.927e-17"),
            (1.5e12, "1500000000000"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(short(x), shown, "{x}");
        }
    }

    fn points() -> Points {
        // (cost, p99) per replication.
        let t = runs(&[
            // Cheapest, but p99 CI upper end above 25 (mean 22, wide CI).
            ("cheap", &[(100.0, 16.0), (100.0, 28.0)]),
            // Mean 24 with a narrow CI: upper end 24 + 12.7 * 0.1 = 25.27 > 25.
            ("edge", &[(150.0, 23.9), (150.0, 24.1)]),
            // Holds: mean 20, upper end ~21.3.
            ("good", &[(200.0, 19.9), (200.0, 20.1)]),
            // Holds too, more expensive.
            ("rich", &[(300.0, 10.0), (300.0, 10.0)]),
            // One replication: no CI.
            ("single", &[(50.0, 5.0)]),
        ]);
        Points::from_runs(&t, 1, &[])
    }

    #[test]
    fn cheapest_point_whose_slo_holds_at_the_pessimistic_end() {
        let p = points();
        let slo = Slo {
            p99_ms: Some(25.0),
            ..Slo::default()
        };
        let r = Ranking::new(&p, &slo);
        assert_eq!(r.best(), Some(2), "{r:?}");
        assert_eq!(r.qualifying, [2, 3]);
        assert_eq!(r.failing, [4, 0, 1], "cheapest first");
        let edge = slo.check(&p, &p.points[1]);
        assert!(!edge[0].holds && edge[0].mean < 25.0, "mean within, CI not");
        assert!(
            edge[0].describe().contains("> 25"),
            "{}",
            edge[0].describe()
        );
        let single = slo.check(&p, &p.points[4]);
        assert!(single[0].describe().contains("no confidence interval"));
    }

    #[test]
    fn looser_slo_and_cost_cap_change_the_answer() {
        let p = points();
        let loose = Slo {
            p99_ms: Some(100.0),
            ..Slo::default()
        };
        assert_eq!(
            Ranking::new(&p, &loose).best(),
            Some(0),
            "cheap qualifies now"
        );
        let capped = Slo {
            p99_ms: Some(25.0),
            max_cost_per_month_usd: Some(180.0),
            ..Slo::default()
        };
        assert_eq!(Ranking::new(&p, &capped).best(), None);
        assert_eq!(
            loose.describe(),
            "latency_p99_ms <= 100",
            "described for summaries"
        );
        // A freshness objective is judged on `stale_read_ratio`, at most.
        let fresh = Slo {
            max_stale_read_ratio: Some(0.01),
            ..loose
        };
        assert_eq!(
            fresh.objectives().last(),
            Some(&("stale_read_ratio", Side::AtMost, 0.01))
        );
        assert_eq!(
            fresh.describe(),
            "latency_p99_ms <= 100, stale_read_ratio <= 0.01000"
        );
        // The rankings show it beside p99, availability and cost; those
        // three are never repeated.
        assert_eq!(fresh.other_metrics(), ["stale_read_ratio"]);
        let all = Slo {
            p50_ms: Some(5.0),
            p999_ms: Some(500.0),
            availability: Some(0.999),
            max_cost_per_month_usd: Some(180.0),
            session_availability: Some(0.99),
            per_region: true,
            ..fresh
        };
        assert_eq!(
            all.other_metrics(),
            [
                "worst_region_p50_ms",
                "worst_region_p999_ms",
                "session_availability",
                "stale_read_ratio"
            ]
        );
        assert!(loose.other_metrics().is_empty());
    }

    #[test]
    fn equal_costs_go_to_the_fewest_instances_then_the_lower_p99() {
        // No `[costs]`: every point costs 0. (instances, p99) per point, two
        // replications each, all within the SLO.
        let rows: Vec<(&str, Vec<Vec<f64>>)> = [(3.0, 10.0), (1.0, 30.0), (2.0, 20.0), (1.0, 25.0)]
            .iter()
            .map(|&(instances, p99)| ("x", vec![vec![0.0, instances, p99]; 2]))
            .collect();
        let t = crate::planner::points::tests::table(&[COST, INSTANCES, P99], &rows);
        let p = Points::from_runs(&t, 1, &[]);
        let slo = Slo {
            p99_ms: Some(50.0),
            ..Slo::default()
        };
        let r = Ranking::new(&p, &slo);
        assert_eq!(
            r.qualifying,
            [3, 1, 2, 0],
            "fewest instances, then lower p99"
        );
        assert_eq!(r.best(), Some(3));
    }

    #[test]
    fn the_rank_key_orders_cost_instances_p99_then_point_with_nan_last() {
        let k = RankKey::new;
        assert!(k(1.0, 9.0, 90.0, 9) < k(2.0, 1.0, 1.0, 0), "cost first");
        assert!(k(1.0, 2.0, 90.0, 9) < k(1.0, 3.0, 1.0, 0), "then instances");
        assert!(k(1.0, 2.0, 10.0, 9) < k(1.0, 2.0, 20.0, 0), "then p99");
        // A full tie goes to the lower point number.
        assert!(k(1.0, 2.0, 10.0, 3) < k(1.0, 2.0, 10.0, 7));
        let mut keys = [k(0.0, 1.0, 5.0, 7), k(0.0, 1.0, 5.0, 3)];
        keys.sort();
        assert_eq!(keys[0].point, 3);
        // An undefined value ranks last, as an infinite one.
        assert!(k(f64::MAX, 1.0, 1.0, 0) < k(f64::NAN, 1.0, 1.0, 0));
        assert!(k(1.0, 1.0, f64::MAX, 9) < k(1.0, 1.0, f64::NAN, 0));
        assert_eq!(k(1.0, 1.0, f64::NAN, 4), k(1.0, 1.0, f64::INFINITY, 4));
    }

    #[test]
    fn no_slo_picks_the_cheapest_certified_or_not() {
        let p = points();
        let r = Ranking::new(&p, &Slo::default());
        assert_eq!(r.best(), Some(4));
        assert!(r.failing.is_empty());
    }

    #[test]
    fn a_shortfall_is_the_factor_by_which_the_pessimistic_end_misses() {
        let check = |side, limit, pessimistic| Check {
            metric: "m",
            side,
            limit,
            mean: pessimistic,
            pessimistic,
            holds: false,
        };
        let close = |c: Check, want: f64| {
            let got = c.shortfall();
            assert!((got - want).abs() < 1e-9, "{c:?}: {got} != {want}");
        };
        close(check(Side::AtMost, 200.0, 400.0), 2.0);
        close(check(Side::AtMost, 200.0, 100.0), 0.5);
        // Availability: the unavailability over the failures allowed.
        close(check(Side::AtLeast, 0.999, 0.998), 2.0);
        close(check(Side::AtLeast, 0.999, 0.99), 10.0);
        close(check(Side::AtLeast, 0.999, 1.0), 0.0);
        // A floor above 1 (a throughput): the limit over the value.
        close(check(Side::AtLeast, 100.0, 50.0), 2.0);
        // No CI: it cannot hold, so it is never the closest.
        assert_eq!(
            check(Side::AtMost, 200.0, f64::NAN).shortfall(),
            f64::INFINITY
        );
    }

    #[test]
    fn the_closest_failing_point_is_the_smallest_worst_shortfall_not_the_cheapest() {
        let p = points();
        let slo = Slo {
            p99_ms: Some(5.0),
            ..Slo::default()
        };
        let r = Ranking::new(&p, &slo);
        assert_eq!(r.best(), None);
        assert_eq!(r.failing, [4, 0, 1, 2, 3], "cheapest first");
        // Point 4 has no CI; 0, 1, 2 miss by ~20x, ~5x, ~4.3x; 3 by 2x.
        assert_eq!(r.closest(&p, &slo), Some(3));
        // With a cost cap as well, the worst objective counts: 3 costs
        // 300 / 160 = 1.9x the cap and misses p99 by 10 / 9 = 1.1x, 2
        // misses p99 by ~21.3 / 9 = 2.4x.
        let capped = Slo {
            p99_ms: Some(9.0),
            max_cost_per_month_usd: Some(160.0),
            ..Slo::default()
        };
        let r = Ranking::new(&p, &capped);
        assert_eq!(r.closest(&p, &capped), Some(3));
        let tighter = Slo {
            max_cost_per_month_usd: Some(100.0),
            ..capped
        };
        // Now 3 costs 3x the cap, 2 costs 2x and misses p99 by 2.4x: 2.
        let r = Ranking::new(&p, &tighter);
        assert_eq!(r.closest(&p, &tighter), Some(2));
        // Every point holds: nothing is closest.
        let none = Slo::default();
        assert_eq!(Ranking::new(&p, &none).closest(&p, &none), None);
    }
}
