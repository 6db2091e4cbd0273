//! What a search adds to a sweep's outputs: `search.csv` (every point tried,
//! in order, why it was tried and when it was settled), the "Search"
//! section of `summary.md` (runs against the grid's, why it stopped, how
//! sure the answer is), and the check of the `monotone` declarations
//! against the runs.

use std::fmt::Write as _;

use headroom_models::report::{metric_ci95, metric_difference_ci95};
use headroom_models::sweep::{SearchSpace, cell, inline};

use crate::planner::exec::pooled;
use crate::planner::search::driver::{End, Outcome, THRESHOLD};
use crate::planner::search::verdict::{Objectives, series};
use crate::planner::slo::{Side, short};
use crate::planner::table::{Column, Kind, Table, float_cell};

/// `search.csv`: one row per point tried, in the order tried.
pub fn table(space: &SearchSpace, outcome: &Outcome, kinds: &[Kind]) -> Table {
    let mut columns = vec![
        Column::new("point", Kind::Int),
        Column::new("grid_index", Kind::Int),
    ];
    for (p, k) in space.params.iter().zip(kinds) {
        columns.push(Column::new(p.clone(), *k));
    }
    for (name, kind) in [
        ("batch", Kind::Int),
        ("runs_before", Kind::Int),
        ("reason", Kind::Str),
        ("p_feasible", Kind::Float),
        ("predicted_cost_per_month_usd", Kind::Float),
        ("chance_cheaper_feasible", Kind::Float),
        ("replications", Kind::Int),
        ("verdict", Kind::Str),
        ("best", Kind::Flag),
        ("settled_batch", Kind::Int),
        ("settled_after_runs", Kind::Int),
        ("why", Kind::Str),
    ] {
        columns.push(Column::new(name, kind));
    }
    let mut t = Table::new(columns);
    for (i, p) in outcome.tried.iter().enumerate() {
        let mut row = vec![i.to_string(), p.index.to_string()];
        row.extend(p.values.iter().map(cell));
        let pred = |f: fn(&crate::planner::search::surrogate::Prediction) -> f64| {
            p.prediction
                .as_ref()
                .map_or_else(|| "NaN".to_owned(), |x| float_cell(f(x)))
        };
        let verdict = match (&p.rank, p.verdict.name()) {
            (Some((rank, _)), v) => format!("{v}, {}", rank.name()),
            (None, v) => v.to_owned(),
        };
        let why = match &p.rank {
            Some((_, c)) => format!("{}; {c}", p.why),
            None => p.why.clone(),
        };
        row.extend([
            p.batch.to_string(),
            p.runs_before.to_string(),
            p.reason.clone(),
            pred(|x| x.p_feasible),
            pred(|x| x.cost),
            pred(|x| x.chance),
            p.records.len().to_string(),
            verdict,
            u8::from(outcome.best == Some(i)).to_string(),
            p.settled.map_or(String::new(), |s| s.0.to_string()),
            p.settled.map_or(String::new(), |s| s.1.to_string()),
            why,
        ]);
        t.push_row(row);
    }
    t
}

/// The values of lattice point `index` as `path = value, ...`.
fn assignment(space: &SearchSpace, outcome: &Outcome, index: usize) -> String {
    let c = outcome.lattice.coords(index);
    space
        .params
        .iter()
        .zip(c)
        .enumerate()
        .map(|(j, (p, v))| format!("`{p} = {}`", inline(&space.levels[j][v])))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The paragraph saying why the search stopped and how sure its answer is;
/// also printed by the command.
pub fn conclusion(space: &SearchSpace, outcome: &Outcome, max_reps: u32) -> String {
    let mut s = String::new();
    let best = outcome.best.map(|b| (b, &outcome.tried[b]));
    let tolerance = short(100.0 * outcome.cost_tolerance);
    match outcome.end {
        End::Settled => {
            let _ = write!(
                s,
                "The search settled: every tried point has its SLO verdict or its cost rank at 95 % \
                 confidence (costlier than the best, or not cheaper by more than the cost tolerance \
                 of {tolerance} %), and every untried point is settled by monotonicity or given \
                 less than a {} % chance by the surrogate of being a point whose SLO holds and \
                 that is cheaper than the best by more than {tolerance} %",
                short(100.0 * THRESHOLD)
            );
            match outcome.top_untried {
                Some((chance, i)) => {
                    let _ = write!(
                        s,
                        " (the likeliest, {}, {} %).",
                        assignment(space, outcome, i),
                        short(100.0 * chance)
                    );
                }
                None => s.push('.'),
            }
        }
        End::Budget | End::Time => {
            let what = if outcome.end == End::Budget {
                format!("The budget ran out ({} runs)", outcome.runs)
            } else {
                format!("max_time ran out after {} runs", outcome.runs)
            };
            let doubt = outcome.tried.iter().filter(|t| t.settled.is_none()).count();
            let _ = write!(
                s,
                "{what} before the search settled: {doubt} tried point{} still in doubt",
                if doubt == 1 { " is" } else { "s are" }
            );
            match outcome.top_untried {
                Some((chance, i)) if chance >= THRESHOLD => {
                    let _ = write!(
                        s,
                        ", and the surrogate gives the untried point {} a {} % chance of being a \
                         cheaper point whose SLO holds.",
                        assignment(space, outcome, i),
                        short(100.0 * chance)
                    );
                }
                _ => s.push('.'),
            }
            s.push_str(" The answer below is the best so far, not a settled one.");
        }
    }
    s.push_str("\n\n");
    match best {
        Some((b, t)) => {
            let confirmed = if t.records.len() >= max_reps as usize {
                format!(
                    "over all {} replications (the numbers a grid sweep reports for it)",
                    t.records.len()
                )
            } else {
                format!(
                    "over {} replications, not yet confirmed with max = {max_reps}",
                    t.records.len()
                )
            };
            let _ = write!(
                s,
                "Best: point {b} ({}): its SLO holds at the pessimistic end of its 95 % CI {confirmed}.",
                assignment(space, outcome, t.index)
            );
            if outcome.end == End::Settled {
                let _ = write!(
                    s,
                    " The recommendation is within {tolerance} % of the cheapest point at 95 % \
                     (`sweep.cost_tolerance`; by paired CIs for the points tried, in the \
                     surrogate's judgement for the others)."
                );
            }
        }
        None => {
            let _ = write!(
                s,
                "No point tried meets the SLO at the pessimistic end of its 95 % CI."
            );
            if outcome.end == End::Settled {
                let _ = write!(
                    s,
                    " None in range can: every point is settled as missing it (by its runs, by \
                     monotonicity, or by the surrogate at 95 %)."
                );
            }
        }
    }
    s
}

/// The closest tried point to meeting the SLO, and what it misses: the
/// point whose worst objective's estimate (the centre of its interval,
/// [`metric_ci95`]) is nearest its limit (relative).
pub fn closest(objectives: &Objectives, outcome: &Outcome) -> Option<(usize, String)> {
    let mut best: Option<(f64, usize, String)> = None;
    for (i, t) in outcome.tried.iter().enumerate() {
        let mut worst = 0.0f64;
        let mut misses = Vec::new();
        let pooled = pooled(&t.records);
        for &(metric, side, limit, index) in &objectives.list {
            let xs = series(&t.records, index);
            let mean = metric_ci95(metric, &xs, pooled.as_ref()).mean;
            let gap = match side {
                Side::AtMost => (mean - limit) / limit.abs().max(1e-12),
                Side::AtLeast => (limit - mean) / (1.0 - limit).abs().max(1e-12),
            };
            let gap = if gap.is_nan() { f64::INFINITY } else { gap };
            if gap > 0.0 {
                let op = if side == Side::AtMost { ">" } else { "<" };
                misses.push(format!("{metric} {} {op} {}", short(mean), short(limit)));
            }
            worst = worst.max(gap);
        }
        if best.as_ref().is_none_or(|(w, _, _)| worst < *w) {
            let text = if misses.is_empty() {
                t.why.clone()
            } else {
                format!("estimated {}", misses.join(", "))
            };
            best = Some((worst, i, text));
        }
    }
    best.map(|(_, i, text)| (i, text))
}

/// Pairs of tried points that contradict a `monotone` declaration: a point
/// above another (more of a monotone parameter, the rest equal) that is
/// worse on an objective or cheaper, beyond noise (paired 95 % CI) and by
/// more than 1 % (0.01 percentage points of availability, 0.1 % of cost).
pub fn monotone_violations(
    space: &SearchSpace,
    outcome: &Outcome,
    objectives: &Objectives,
    cost: Option<usize>,
) -> Vec<String> {
    let mut out = Vec::new();
    let l = &outcome.lattice;
    let centres: Vec<_> = outcome.tried.iter().map(|t| pooled(&t.records)).collect();
    for (a, pa) in outcome.tried.iter().enumerate() {
        let ca = l.coords(pa.index);
        for (b, pb) in outcome.tried.iter().enumerate() {
            if a == b || !l.at_or_above(&ca, &l.coords(pb.index)) {
                continue;
            }
            let mut checks: Vec<(&str, Side, Option<usize>)> = objectives
                .list
                .iter()
                .map(|&(m, side, _, i)| (m, side, i))
                .collect();
            checks.push(("cost_per_month_usd", Side::AtLeast, cost));
            for (metric, side, index) in checks {
                let (xa, xb) = (series(&pa.records, index), series(&pb.records, index));
                let (ea, eb) = (
                    metric_ci95(metric, &xa, centres[a].as_ref()).mean,
                    metric_ci95(metric, &xb, centres[b].as_ref()).mean,
                );
                let d: Vec<f64> = xb.iter().zip(&xa).map(|(y, x)| y - x).collect();
                // Fewer than 2 pairs: NaN ends, never "worse".
                let diff = metric_difference_ci95(metric, ea, eb, &d);
                let (mean, lower, upper) = (diff.mean, diff.lower(), diff.upper());
                let tolerance = match (metric, side) {
                    ("availability" | "worst_region_availability", _) => 1e-4,
                    ("cost_per_month_usd", _) => 1e-3 * ea.abs(),
                    _ => 1e-2 * ea.abs(),
                };
                let worse = match side {
                    Side::AtMost => lower > 0.0 && mean > tolerance,
                    Side::AtLeast => upper < 0.0 && mean < -tolerance,
                };
                if worse {
                    let what = if metric == "cost_per_month_usd" {
                        "costs less"
                    } else {
                        "is worse on"
                    };
                    out.push(format!(
                        "point {b} ({}) is above point {a} ({}) in the monotone parameters but {what} \
                         {metric}: {} vs {} (paired difference {}, 95 % CI [{}, {}])",
                        assignment(space, outcome, pb.index),
                        assignment(space, outcome, pa.index),
                        short(eb),
                        short(ea),
                        short(mean),
                        short(lower),
                        short(upper)
                    ));
                }
            }
        }
    }
    out
}

/// The "Search" section of `summary.md`.
pub fn section(
    space: &SearchSpace,
    outcome: &Outcome,
    conclusion: &str,
    violations: &[String],
    max_reps: u32,
) -> String {
    let mut s = String::new();
    let n = outcome.lattice.len() as u64;
    let grid_runs = n.saturating_mul(u64::from(max_reps));
    let _ = writeln!(s, "## Search\n");
    let monotone: Vec<String> = space
        .params
        .iter()
        .zip(&space.monotone)
        .filter(|(_, m)| **m)
        .map(|(p, _)| format!("`{p}`"))
        .collect();
    let _ = writeln!(
        s,
        "Adaptive search over the {n} points of the grid ({}): **{} runs** in {} batches, where \
         the grid would make {n} x {max_reps} = {grid_runs} ({}x fewer). {} points tried (see \
         `search.csv` for the order, why, and when each was settled); {} untried points settled \
         by monotonicity: {} below a point that fails, {} above a point that holds. Declared \
         monotone: {}.\n",
        space
            .levels
            .iter()
            .map(|l| l.len().to_string())
            .collect::<Vec<_>>()
            .join(" x "),
        outcome.runs,
        outcome.batches,
        short(grid_runs as f64 / outcome.runs.max(1) as f64),
        outcome.tried.len(),
        outcome.pruned_below + outcome.pruned_above,
        outcome.pruned_below,
        outcome.pruned_above,
        if monotone.is_empty() {
            "none".to_owned()
        } else {
            monotone.join(", ")
        }
    );
    let _ = writeln!(s, "{conclusion}\n");
    if !monotone.is_empty() {
        if violations.is_empty() {
            let _ = writeln!(
                s,
                "The runs agree with the `monotone` declaration: no tried point above another is \
                 worse on an objective or cheaper beyond noise.\n"
            );
        } else {
            let _ = writeln!(
                s,
                "**Warning: the runs contradict the `monotone` declaration**, so pruning by it may \
                 have settled points wrongly; remove the parameter from `monotone` and search \
                 again:\n"
            );
            for v in violations.iter().take(10) {
                let _ = writeln!(s, "- {v}");
            }
            if violations.len() > 10 {
                let _ = writeln!(s, "- ... and {} more", violations.len() - 10);
            }
            let _ = writeln!(s);
        }
    }
    let _ = writeln!(
        s,
        "How it decides: a point is settled when its SLO verdict is known at 95 % (it fails even \
         at the optimistic end of a CI, or holds at the pessimistic end) or when its cost rank \
         against the best point is settled: the paired 95 % CI of the cost difference (common \
         random numbers) is above 0 (costlier) or rules out its being cheaper by more than {} % of \
         the best point's cost (as cheap: within the cost tolerance, `sweep.cost_tolerance`); \
         points in \
         doubt get one more replication per batch, cheapest first. New points come from level \
         probes along each monotone parameter in the best point's slice (bisecting its levels by \
         their point of most capacity, then each live level's dearest point that could still \
         beat the best on cost: a probe that fails settles everything below it), then from a \
         Gaussian-process surrogate (constrained expected improvement), until no untried point \
         has a {} % chance of holding its SLO at a cost more than {} % below the best. Only \
         `max_runs` makes a search reproducible: with `max_time` the path depends on the \
         machine's speed.\n",
        short(100.0 * outcome.cost_tolerance),
        short(100.0 * THRESHOLD),
        short(100.0 * outcome.cost_tolerance)
    );
    s
}
