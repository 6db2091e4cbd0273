//! When a point is settled: its SLO verdict at 95 % from its replications,
//! and its cost rank against the best point from paired differences
//! (common random numbers: replication r of two points drew from the same
//! random streams, the same arrivals for an open workload, so their
//! difference has far less noise than either).
//!
//! The rules, for a point with k >= 2 replications (95 % Student-t CIs):
//! - **fails** when some objective is violated even at the *optimistic* end
//!   of its CI (p99 lower end above the limit, availability upper end
//!   below it), or a replication failed or left a metric undefined;
//! - **holds** when every objective holds at the *pessimistic* end (the
//!   grid's rule, so a settled "holds" is the grid's verdict at k
//!   replications);
//! - **open** otherwise, until `max` replications: then the grid's rule
//!   decides and a point still in doubt is **not certified** (it misses, as
//!   it would in the grid).
//!
//! And for cost, against the best point (the cheapest whose SLO holds), with
//! a tolerance `t` (a fraction of the best point's mean cost,
//! `sweep.cost_tolerance`), from the paired 95 % CI of `cost - best cost`:
//! - **costlier** when the CI is above 0;
//! - **as cheap** when its lower end is at or above `-t x best cost`: the point
//!   may cost a little less than the best, but not by more than the
//!   tolerance, so even if its SLO holds it cannot change the answer by more
//!   than `t`. Points that cost the same (the common case when cost is
//!   dominated by something every point pays) are settled this way instead
//!   of being raced to `max` replications for a tie.

use headroom_sim::stats::ci95;

use crate::planner::exec::Record;
use crate::planner::slo::{Side, Slo, short};

/// A point's SLO verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Still in doubt: more replications may settle it.
    Open,
    /// Every objective holds at the pessimistic end of its CI.
    Holds,
    /// Some objective is violated at the optimistic end (or a run failed).
    Fails,
    /// `max` replications ran and the pessimistic end still misses.
    Uncertified,
}

impl Verdict {
    /// The word in `search.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Open => "open",
            Verdict::Holds => "holds",
            Verdict::Fails => "fails",
            Verdict::Uncertified => "not-certified",
        }
    }
}

/// Where each objective's metric is in a record's cells.
#[derive(Clone, Debug)]
pub struct Objectives {
    /// `(metric, side, limit, cell index)` per objective.
    pub list: Vec<(&'static str, Side, f64, Option<usize>)>,
}

impl Objectives {
    /// The objectives of `slo`, located among `names` (the metric columns).
    pub fn new(slo: &Slo, names: &[String]) -> Objectives {
        Objectives {
            list: slo
                .objectives()
                .into_iter()
                .map(|(m, side, limit)| (m, side, limit, names.iter().position(|n| n == m)))
                .collect(),
        }
    }
}

/// Metric `index` of every record (NaN where a replication failed).
pub fn series(records: &[Record], index: Option<usize>) -> Vec<f64> {
    records
        .iter()
        .map(|r| match (&r.cells, index) {
            (Ok(cells), Some(i)) => cells[i].as_f64(),
            _ => f64::NAN,
        })
        .collect()
}

/// The verdict on a point from its `records`, with `max` replications at
/// most, and why in words.
pub fn judge(objectives: &Objectives, records: &[Record], max: u32) -> (Verdict, String) {
    if let Some((r, e)) = records
        .iter()
        .enumerate()
        .find_map(|(r, rec)| rec.cells.as_ref().err().map(|e| (r, e)))
    {
        return (Verdict::Fails, format!("replication {r} failed: {e}"));
    }
    if records.len() < 2 {
        return (Verdict::Open, "fewer than 2 replications".into());
    }
    let pooled = crate::planner::exec::pooled(records);
    let mut misses = Vec::new();
    for &(metric, side, limit, index) in &objectives.list {
        let xs = series(records, index);
        if index.is_none() || xs.iter().any(|x| x.is_nan()) {
            return (
                Verdict::Fails,
                format!("{metric} undefined (no successful requests to measure)"),
            );
        }
        let ci = headroom_models::report::metric_ci95(metric, &xs, pooled.as_ref());
        let (optimistic, pessimistic) = match side {
            Side::AtMost => (ci.lower(), ci.upper()),
            Side::AtLeast => (ci.upper(), ci.lower()),
        };
        let within = |x: f64| match side {
            Side::AtMost => x <= limit,
            Side::AtLeast => x >= limit,
        };
        let (end, other) = match side {
            Side::AtMost => ("lower", "upper"),
            Side::AtLeast => ("upper", "lower"),
        };
        if !within(optimistic) {
            let op = if side == Side::AtMost { ">" } else { "<" };
            return (
                Verdict::Fails,
                format!(
                    "{metric} 95 % CI {end} end {} {op} {} after {} replications",
                    short(optimistic),
                    short(limit),
                    records.len()
                ),
            );
        }
        if !within(pessimistic) {
            let op = if side == Side::AtMost { ">" } else { "<" };
            misses.push(format!(
                "{metric} 95 % CI {other} end {} {op} {}",
                short(pessimistic),
                short(limit)
            ));
        }
    }
    if misses.is_empty() {
        return (
            Verdict::Holds,
            format!(
                "every objective holds at the pessimistic end after {} replications",
                records.len()
            ),
        );
    }
    if records.len() >= max as usize {
        return (
            Verdict::Uncertified,
            format!(
                "in doubt after max = {max} replications: {}",
                misses.join("; ")
            ),
        );
    }
    (Verdict::Open, misses.join("; "))
}

/// The 95 % CI of the paired difference `a[r] - b[r]` over the replications
/// both have: `(mean, lower, upper)`, NaN with fewer than two pairs.
pub fn paired(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
    let n = a.len().min(b.len());
    let d: Vec<f64> = (0..n).map(|r| a[r] - b[r]).collect();
    if n < 2 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let ci = ci95(&d);
    (ci.mean, ci.lower(), ci.upper())
}

/// Where a point's cost stands against the best point's, once settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    /// The paired 95 % CI of the cost difference is above 0.
    Costlier,
    /// Not cheaper than the best by more than the tolerance at 95 %.
    AsCheap,
}

impl Rank {
    /// The word in `search.csv`'s verdict column.
    pub fn name(self) -> &'static str {
        match self {
            Rank::Costlier => "costlier",
            Rank::AsCheap => "as-cheap",
        }
    }
}

/// A settled cost rank with the figures behind it (USD per month).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostRank {
    /// Costlier, or as cheap.
    pub rank: Rank,
    /// Mean paired difference `cost - best cost`.
    pub mean: f64,
    /// Its 95 % CI.
    pub lower: f64,
    /// Its 95 % CI.
    pub upper: f64,
    /// The tolerance in money: `tolerance x` the best point's mean cost.
    pub margin: f64,
}

/// The cost rank of a point with per-replication costs `mine` against the
/// best point's `best` (replication `r` of each paired: common random
/// numbers), with `tolerance` a fraction of the best's mean cost; `None`
/// while it is in doubt (or with fewer than two common replications).
pub fn cost_rank(mine: &[f64], best: &[f64], tolerance: f64) -> Option<CostRank> {
    let (mean, lower, upper) = paired(mine, best);
    let margin = tolerance * ci95(best).mean.abs();
    if lower.is_nan() || margin.is_nan() {
        return None;
    }
    let rank = if lower > 0.0 {
        Rank::Costlier
    } else if lower >= -margin {
        Rank::AsCheap
    } else {
        return None;
    };
    Some(CostRank {
        rank,
        mean,
        lower,
        upper,
        margin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom_models::report::Cell;

    fn records(rows: &[(f64, f64)]) -> Vec<Record> {
        rows.iter()
            .map(|&(p99, avail)| Record {
                cells: Ok(vec![Cell::Float(p99), Cell::Float(avail)]),
                timeseries: crate::planner::table::Table::default(),
                services: crate::planner::table::Table::default(),
                series: Default::default(),
                shards: crate::planner::table::Table::default(),
                regions: crate::planner::table::Table::default(),
                deployments: crate::planner::table::Table::default(),
                edges: crate::planner::table::Table::default(),
                bill: crate::planner::table::Table::default(),
                warmup_s: 0.0,
                latency: None,
                region_latency: Vec::new(),
                edge_latency: Vec::new(),
                batches: (Vec::new(), 0.0),
                stations: Vec::new(),
                caches: Vec::new(),
            })
            .collect()
    }

    fn objectives() -> Objectives {
        let slo = Slo {
            p99_ms: Some(30.0),
            availability: Some(0.999),
            ..Slo::default()
        };
        Objectives::new(&slo, &["latency_p99_ms".into(), "availability".into()])
    }

    #[test]
    fn verdicts_at_the_ends_of_the_interval() {
        let o = objectives();
        // Far above the limit even at the optimistic end: fails at 2 (with
        // one degree of freedom t = 12.7, so the two runs must agree closely).
        let (v, why) = judge(&o, &records(&[(80.0, 1.0), (81.0, 1.0)]), 5);
        assert_eq!(v, Verdict::Fails, "{why}");
        assert!(why.contains("lower end") && why.contains("> 30"), "{why}");
        // Far below: holds at 2.
        let (v, _) = judge(&o, &records(&[(10.0, 1.0), (10.5, 1.0)]), 5);
        assert_eq!(v, Verdict::Holds);
        // Straddles the limit: open, then not certified at max.
        let near = records(&[(25.0, 1.0), (33.0, 1.0)]);
        assert_eq!(judge(&o, &near, 5).0, Verdict::Open);
        let (v, why) = judge(&o, &near, 2);
        assert_eq!(v, Verdict::Uncertified);
        assert!(why.contains("max = 2"), "{why}");
        // Availability is checked at its own ends.
        let (v, why) = judge(&o, &records(&[(10.0, 0.9), (10.0, 0.91)]), 5);
        assert_eq!(v, Verdict::Fails);
        assert!(
            why.contains("availability") && why.contains("upper end"),
            "{why}"
        );
        // One replication settles nothing; an undefined p99 fails.
        assert_eq!(judge(&o, &records(&[(1.0, 1.0)]), 5).0, Verdict::Open);
        let (v, _) = judge(&o, &records(&[(f64::NAN, 0.0), (f64::NAN, 0.0)]), 5);
        assert_eq!(v, Verdict::Fails);
    }

    #[test]
    fn a_failed_replication_fails_the_point() {
        let mut r = records(&[(10.0, 1.0)]);
        r.push(Record {
            cells: Err("queue grew without bound".into()),
            timeseries: crate::planner::table::Table::default(),
            services: crate::planner::table::Table::default(),
            series: Default::default(),
            shards: crate::planner::table::Table::default(),
            regions: crate::planner::table::Table::default(),
            deployments: crate::planner::table::Table::default(),
            edges: crate::planner::table::Table::default(),
            bill: crate::planner::table::Table::default(),
            warmup_s: 0.0,
            latency: None,
            region_latency: Vec::new(),
            edge_latency: Vec::new(),
            batches: (Vec::new(), 0.0),
            stations: Vec::new(),
            caches: Vec::new(),
        });
        let (v, why) = judge(&objectives(), &r, 5);
        assert_eq!(v, Verdict::Fails);
        assert!(why.contains("replication 1 failed"), "{why}");
    }

    #[test]
    fn paired_differences_cancel_common_noise() {
        // Both points share the replication-to-replication swing (common
        // random numbers); b is 1 more everywhere.
        let a = [100.0, 140.0, 90.0, 120.0];
        let b = [101.0, 141.0, 91.0, 121.0];
        let (mean, lower, upper) = paired(&b, &a);
        assert_eq!((mean, lower, upper), (1.0, 1.0, 1.0));
        // Unpaired, the intervals of a and b overlap widely.
        assert!(ci95(&b).lower() < ci95(&a).upper());
        assert!(paired(&a[..1], &b[..1]).0.is_nan());
    }

    #[test]
    fn cost_rank_settles_costlier_and_as_cheap_points_only() {
        // The best costs about 6000 a month with a +-300 swing from
        // replication to replication that every point shares.
        let best = [6000.0, 6300.0, 5700.0];
        let shifted = |d: [f64; 3]| [best[0] + d[0], best[1] + d[1], best[2] + d[2]];
        // 124 USD more, paired: costlier at any tolerance.
        let dear = shifted([124.0, 125.0, 123.0]);
        let r = cost_rank(&dear, &best, 0.01).unwrap();
        assert_eq!(r.rank, Rank::Costlier);
        assert!(r.lower > 0.0 && (r.mean - 124.0).abs() < 1e-9, "{r:?}");
        assert_eq!(cost_rank(&dear, &best, 0.0).unwrap().rank, Rank::Costlier);
        // A tie to within cents: as cheap under 1 % (60 USD), in doubt at 0.
        let tie = shifted([0.02, -0.01, 0.0]);
        let r = cost_rank(&tie, &best, 0.01).unwrap();
        assert_eq!(r.rank, Rank::AsCheap);
        assert!((r.margin - 60.0).abs() < 1e-9, "{r:?}");
        assert_eq!(cost_rank(&tie, &best, 0.0), None);
        // An exact tie (cost that does not depend on the point's noise) is
        // as cheap even at tolerance 0: nothing cheaper is possible.
        let r = cost_rank(&best, &best, 0.0).unwrap();
        assert_eq!((r.rank, r.lower, r.upper), (Rank::AsCheap, 0.0, 0.0));
        // 40 USD cheaper (under the 60 USD margin) but paired tightly: the
        // CI rules out "cheaper by more than 60", so it cannot matter.
        let bit = shifted([-40.0, -41.0, -39.0]);
        assert_eq!(cost_rank(&bit, &best, 0.01).unwrap().rank, Rank::AsCheap);
        // 100 USD cheaper: past the margin, in doubt (it may be the answer).
        assert_eq!(
            cost_rank(&shifted([-100.0, -101.0, -99.0]), &best, 0.01),
            None
        );
        // Small mean difference but a wide paired CI (no common noise):
        // the CI reaches past -60, so it stays in doubt.
        let noisy = shifted([200.0, -200.0, 0.0]);
        assert_eq!(cost_rank(&noisy, &best, 0.01), None);
        // Fewer than two common replications settle nothing.
        assert_eq!(cost_rank(&dear[..1], &best, 0.01), None);
    }
}
