//! `headroom recommend`: re-rank a finished sweep under another SLO without
//! re-running it.

use std::fmt::Write as _;
use std::process::ExitCode;

use headroom_models::report::{SESSION_COLUMNS, STALE_READ_COLUMN};

use crate::InputError;
use crate::cli::RecommendArgs;
use crate::commands::merge::read_part;
use crate::commands::sweep::Needs;
use crate::output;
use crate::planner::analysis::Analysis;
use crate::planner::points::COST;
use crate::planner::recommendation;
use crate::planner::slo::short;

/// Rows of the ranking table printed on the terminal.
const SHOWN: usize = 10;

/// Re-ranks the sweep in `args.dir` and writes `recommendation.toml`.
pub fn run(args: RecommendArgs) -> anyhow::Result<ExitCode> {
    let part = read_part(&args.dir)?;
    if let Some(shard) = part.manifest.shard {
        return Err(InputError(format!(
            "{}: holds shard {shard} only; merge the shards first (`headroom merge DIR... --out DIR`)",
            args.dir.display()
        ))
        .into());
    }
    // The sweep's objectives, each flag given replacing its own.
    let mut slo = part.manifest.identity.slo.clone();
    args.slo.apply(&mut slo)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.dir.join("recommendation.toml"));
    // A file, checked before the analysis.
    output::output_file("--out", &out)?;
    let analysis = Analysis::new(&part, slo);
    let whose = format!("the scenario of the sweep in {}", args.dir.display());
    args.slo.refuse_unmeasured(&whose, |needs| match needs {
        Needs::Datastore => analysis.points.metric(STALE_READ_COLUMN).is_some(),
        Needs::Sessions => analysis.points.metric(SESSION_COLUMNS[1]).is_some(),
        Needs::Costs => part.manifest.identity.scenario.get("costs").is_some(),
    })?;
    match analysis.ranking.best() {
        Some(best) => {
            let text =
                recommendation::render(&part.manifest, &analysis.points, best, &analysis.slo)?;
            output::write_output("--out", &out, text.as_bytes())?;
        }
        None => {
            if out.exists() {
                std::fs::remove_file(&out)?;
            }
        }
    }
    print!("{}", table(&analysis));
    if let Some(warning) = crate::planner::summary::short_runs_warning(&analysis) {
        eprintln!("{warning}");
    }
    match analysis.ranking.best() {
        Some(_) => println!("wrote {}", out.display()),
        None => println!("no point meets the SLO; no recommendation written"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The ranking as a terminal table: the SLO, the recommendation and the
/// cheapest points with their CIs.
pub fn table(a: &Analysis<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "SLO: {} (pessimistic end of each 95 % CI)",
        a.slo.describe()
    );
    let pts = &a.points.points;
    match a.ranking.best() {
        Some(best) => {
            let p = &pts[best];
            let _ = writeln!(
                s,
                "recommended: point {}: {}",
                p.point,
                a.assignment(p, false)
            );
        }
        None => {
            let _ = write!(s, "recommended: none (no point meets the SLO)");
            if let Some(c) = a.ranking.closest(&a.points, &a.slo) {
                let p = &pts[c];
                let _ = write!(
                    s,
                    "; closest: point {}: {}: {}",
                    p.point,
                    a.assignment(p, false),
                    a.misses(p).join("; ")
                );
            }
            let _ = writeln!(s);
        }
    }
    let (latency, availability) = (a.slo.latency_metric(), a.slo.availability_metric());
    let (wl, wa) = (latency.len().max(18), availability.len().max(20));
    // Any other objective (a freshness limit, p50, sessions) in a column of
    // its own, after availability.
    let others = a.slo.other_metrics();
    let _ = write!(
        s,
        "{:>5} {:>6}  {:>22}  {:>wl$}  {:>wa$}",
        "rank", "point", "cost_per_month_usd", latency, availability
    );
    for m in &others {
        let _ = write!(s, "  {:>w$}", m, w = m.len().max(20));
    }
    let _ = writeln!(s, "  SLO");
    let order = a.ranking.qualifying.iter().map(|&i| (i, true));
    let rest = a.ranking.failing.iter().map(|&i| (i, false));
    for (rank, (i, holds)) in order.chain(rest).take(SHOWN).enumerate() {
        let p = &pts[i];
        let ci = |m: &str| {
            let c = a.points.ci(p, m);
            format!("{} ± {}", short(c.mean), short(c.half_width))
        };
        let _ = write!(
            s,
            "{:>5} {:>6}  {:>22}  {:>wl$}  {:>wa$}",
            rank + 1,
            p.point,
            ci(COST),
            ci(latency),
            ci(availability),
        );
        for m in &others {
            let _ = write!(s, "  {:>w$}", ci(m), w = m.len().max(20));
        }
        let _ = writeln!(s, "  {}", if holds { "holds" } else { "misses" });
    }
    if pts.len() > SHOWN {
        let _ = writeln!(s, "({} more points in points.csv)", pts.len() - SHOWN);
    }
    s
}
