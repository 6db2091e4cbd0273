//! `summary.md` of a sweep: the recommendation and why, the runners-up,
//! parameters ranked by effect, the frontier, every point, and how the
//! replications went.

use std::fmt::Write as _;

use crate::planner::analysis::Analysis;
use crate::planner::effects::ranked;
use crate::planner::exec::{Replications, Stop};
use crate::planner::points::{COST, INSTANCES, PointStats};
use crate::planner::slo::short;
use crate::planner::table::number;
use headroom_sim::stats::ci95;

/// Points listed in full in `summary.md` before it refers to `points.csv`.
const MAX_LISTED: usize = 60;
/// Runners-up listed.
const RUNNERS_UP: usize = 5;

/// Renders `summary.md`.
pub fn render(a: &Analysis<'_>) -> String {
    let mut s = String::new();
    header(a, &mut s);
    recommendation(a, &mut s);
    runners_up(a, &mut s);
    effects(a, &mut s);
    frontier(a, &mut s);
    s.push_str(&crate::planner::boundary::render(&a.points, &a.part.runs));
    all_points(a, &mut s);
    replications(a, &mut s);
    s
}

fn header(a: &Analysis<'_>, s: &mut String) {
    let m = &a.part.manifest;
    let id = &m.identity;
    let run = &id.scenario["run"];
    let text = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let _ = writeln!(s, "# Headroom sweep: {}\n", m.scenario_file);
    let mode = match id.mode {
        headroom_models::sweep::SweepMode::Grid => "grid",
        headroom_models::sweep::SweepMode::Random => "random sample",
        headroom_models::sweep::SweepMode::LatinHypercube => "Latin hypercube",
        headroom_models::sweep::SweepMode::Search => "tried by an adaptive search",
    };
    let params: Vec<String> = id.params.iter().map(|p| format!("`{p}`")).collect();
    let _ = writeln!(
        s,
        "{} points ({mode} over {}) × {}; duration {}, warm-up {} excluded{}, seed {}. \
         Common random numbers: replication r of every point draws from the same random \
         streams (an open workload's arrivals are the same at every point; a closed one's \
         follow each point's answers), so differences between points are the \
         configuration's. Sweep `{}`.\n",
        id.points.len(),
        params.join(", "),
        if id.mode == headroom_models::sweep::SweepMode::Search {
            search_replications(id.replications)
        } else {
            describe_replications(id.replications)
        },
        text(&run["duration"]),
        id.warmup,
        warm_start(run, &id.params),
        id.seed,
        crate::planner::part::short_id(&m.sweep_id),
    );
    let _ = writeln!(
        s,
        "SLO: {} — checked at the pessimistic end of each point's 95 % confidence interval \
         (upper end for latency and cost, lower end for availability).\n",
        a.slo.describe()
    );
}

/// `"; caches warm from D of requests"` when every point starts its caches
/// warm from the same span (`run.cache_warm_start`, not swept), else
/// nothing: as `run`'s header says it.
fn warm_start(run: &serde_json::Value, params: &[String]) -> String {
    let swept = params.iter().any(|p| p == "run.cache_warm_start");
    match run
        .get("cache_warm_start")
        .and_then(serde_json::Value::as_str)
    {
        Some(d) if !swept && d != "0s" => format!("; caches warm from {d} of requests"),
        _ => String::new(),
    }
}

/// Points whose replications span fewer than `MIN_RELAXATION_SPANS`
/// relaxation times ([`crate::planner::part::PointInfo::warning`]), with
/// how many they span; a point with no steady state ([`saturated`]) is not
/// one of them.
fn short_runs(a: &Analysis<'_>) -> Vec<(usize, f64)> {
    a.part
        .manifest
        .point_runs
        .iter()
        .filter(|p| !has_no_steady_state(p))
        .filter_map(|p| Some((p.point, p.spans()?)))
        .filter(|&(_, spans)| spans < headroom_models::report::MIN_RELAXATION_SPANS)
        .collect()
}

/// Whether a point's bottleneck is a saturated queue without a bound.
fn has_no_steady_state(p: &crate::planner::part::PointInfo) -> bool {
    p.bottleneck
        .as_ref()
        .is_some_and(|b| b.time_s.is_infinite())
}

/// Points with a saturated queue without a bound: no steady state, at any
/// run length ([`headroom_models::report::Bottleneck`]).
fn saturated(a: &Analysis<'_>) -> Vec<usize> {
    a.part
        .manifest
        .point_runs
        .iter()
        .filter(|p| has_no_steady_state(p))
        .map(|p| p.point)
        .collect()
}

/// The terminal's one-line warning when some points' replications were
/// short, or some points have no steady state (`summary.md` has the
/// details).
pub fn short_runs_warning(a: &Analysis<'_>) -> Option<String> {
    let (short, saturated) = (short_runs(a), saturated(a));
    let total = a.part.manifest.point_runs.len();
    let mut parts = Vec::new();
    if !short.is_empty() {
        parts.push(format!(
            "at {} of {total} points a replication spans fewer than {:.0} relaxation times of the latency, so their latency quantile intervals may be too narrow; lengthen the measured window",
            short.len(),
            headroom_models::report::MIN_RELAXATION_SPANS
        ));
    }
    if !saturated.is_empty() {
        parts.push(format!(
            "at {} of {total} points a queue is saturated and has no bound, so their latency has no steady state and grows with the measured window",
            saturated.len()
        ));
    }
    let cold = cold_points(a);
    if !cold.is_empty() {
        parts.push(format!(
            "at {} of {total} points a cache was still warming over the measured window, so their hit ratios understate the steady state; start the caches warm, or warm them longer (`run.cache_warm_start`), or lengthen the warm-up",
            cold.len()
        ));
    }
    (!parts.is_empty()).then(|| format!("warning: {} (see summary.md)", parts.join("; ")))
}

/// The short-run warning of point `point`, if its replications were short
/// ([`crate::planner::part::PointInfo::warning`]).
fn short_run(a: &Analysis<'_>, point: usize) -> Option<String> {
    point_info(a, point)?.warning()
}

/// What the manifest records of point `point`'s replications.
fn point_info<'a>(
    a: &'a Analysis<'_>,
    point: usize,
) -> Option<&'a crate::planner::part::PointInfo> {
    let info = &a.part.manifest.point_runs;
    let i = info.binary_search_by_key(&point, |p| p.point).ok()?;
    Some(&info[i])
}

/// Points with a cache still warming over the measured window
/// ([`crate::planner::part::PointInfo::cold_caches`]).
fn cold_points(a: &Analysis<'_>) -> Vec<usize> {
    a.part
        .manifest
        .point_runs
        .iter()
        .filter(|p| !p.cold_caches.is_empty())
        .map(|p| p.point)
        .collect()
}

/// The first [`MAX_LISTED`] of `items`, comma-separated, and `, ...` when
/// there are more.
fn listed(items: impl Iterator<Item = String>) -> String {
    let mut items = items.peekable();
    let mut text: Vec<String> = items.by_ref().take(MAX_LISTED).collect();
    if items.peek().is_some() {
        text.push("...".to_owned());
    }
    text.join(", ")
}

/// A search's replications: as many as settled each point, at most `max`.
fn search_replications(r: Replications) -> String {
    let max = match r {
        Replications::Fixed { count } => count,
        Replications::Precision { max, .. } => max,
    };
    format!("as many replications as settled each point, at most {max} (see Search)")
}

/// `5 replications per point` or the precision rule.
pub fn describe_replications(r: Replications) -> String {
    match r {
        Replications::Fixed { count } => format!("{count} replications per point"),
        Replications::Precision {
            min,
            max,
            precision,
        } => format!(
            "{min}–{max} replications per point, stopping when the 95 % CI half-widths of p99 \
             latency and cost are within {}% of their means",
            short(precision * 100.0)
        ),
    }
}

fn ci(a: &Analysis<'_>, p: &PointStats, metric: &str) -> String {
    let c = a.points.ci(p, metric);
    format!("{} ± {}", short(c.mean), short(c.half_width))
}

/// How far a latency objective's estimate may spread across the sweep's
/// points, relative to its lowest, for the sweep to count as not moving it.
const FLAT: f64 = 0.05;

/// What to do when no point meets the SLO. A latency objective that every
/// point misses by its estimate, and that varies by at most [`FLAT`] over
/// the points, is not bought by more of what the sweep varies: the advice
/// then says so instead of asking for more capacity.
fn advice(a: &Analysis<'_>) -> String {
    let relax = "or relax the SLO (`headroom recommend DIR --slo-p99 ...` re-ranks without \
                 re-running)";
    for (metric, _, limit) in a.slo.objectives() {
        let latency = headroom_models::report::is_histogram_quantile(metric)
            || (metric.starts_with("worst_region_p") && metric.ends_with("_ms"));
        if !latency {
            continue;
        }
        let estimates: Vec<f64> = a
            .points
            .points
            .iter()
            .map(|p| a.points.ci(p, metric).mean)
            .collect();
        if estimates.len() < 2 || estimates.iter().any(|x| !x.is_finite()) {
            continue;
        }
        let lo = estimates.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = estimates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if lo > limit && hi - lo <= FLAT * lo {
            return format!(
                "{metric} is {}-{} ms at every point (within {} %), above the limit of {} ms: \
                 what this sweep varies does not move it, so more of the same capacity will \
                 not meet the SLO. Find where the time goes (`services.csv`: each service's \
                 latency at each point; the work itself, queues, round trips between regions) \
                 and sweep that, {relax}.",
                short(lo),
                short(hi),
                short(FLAT * 100.0),
                short(limit)
            );
        }
    }
    format!(
        "Widen the sweep toward more capacity, add replications to narrow the intervals, \
         {relax}."
    )
}

fn recommendation(a: &Analysis<'_>, s: &mut String) {
    let _ = writeln!(s, "## Recommendation\n");
    let pts = &a.points.points;
    let Some(best) = a.ranking.best() else {
        let _ = writeln!(
            s,
            "**No point meets the SLO** at the pessimistic end of its confidence interval, so \
             there is no `recommendation.toml`. {}\n",
            advice(a)
        );
        let closest = a.ranking.closest(&a.points, &a.slo);
        let mut misses = |i: usize, what: &str| {
            let p = &pts[i];
            let _ = writeln!(
                s,
                "{what}, {} ({}), misses:\n",
                p.point,
                a.assignment(p, true)
            );
            for miss in a.misses(p) {
                let _ = writeln!(s, "- {miss}");
            }
            let _ = writeln!(s);
        };
        match a.ranking.failing.first() {
            Some(&cheapest) if closest == Some(cheapest) => {
                misses(
                    cheapest,
                    "The cheapest point, which also comes closest to the SLO",
                );
            }
            Some(&cheapest) => {
                misses(cheapest, "The cheapest point");
                if let Some(closest) = closest {
                    misses(
                        closest,
                        "The point that comes closest to the SLO (the smallest worst \
                         shortfall: latency or cost over its limit, or unavailability over \
                         the failures allowed)",
                    );
                }
            }
            None => {}
        }
        return;
    };
    let p = &pts[best];
    let _ = writeln!(s, "**Point {}**: {}.\n", p.point, a.assignment(p, true));
    let among = match a.ranking.qualifying.len() {
        1 => format!("the only point (of {}) whose SLO holds", pts.len()),
        n => format!(
            "the cheapest of the {n} points (of {}) whose SLO holds",
            pts.len()
        ),
    };
    let _ = writeln!(
        s,
        "Why: it is {among}, with cost_per_month_usd {} USD over {} replications. Its checks:\n",
        ci(a, p, COST),
        p.replications
    );
    let checks = a.slo.check(&a.points, p);
    if checks.is_empty() {
        let _ = writeln!(
            s,
            "- no SLO was given (scenario `[slo]`, `--slo-p99`, `--slo-availability`): every point \
             qualifies and the cheapest wins"
        );
    }
    for c in checks {
        let _ = writeln!(s, "- {} (estimate {})", c.describe(), short(c.mean));
    }
    client_regions(a, p.point, s);
    deployments(a, p.point, s);
    bill(a, p.point, s);
    call_edges(a, p.point, s);
    for text in crate::planner::recommendation::point_warnings(&a.part.manifest, p.point) {
        let _ = writeln!(s, "\n**Warning:** at this point, {text}.");
    }
    if let Some(text) = short_run(a, p.point) {
        let _ = writeln!(s, "\n**Warning:** at this point, {text}.");
    }
    if let Some(text) = point_info(a, p.point)
        .and_then(|i| headroom_models::report::cold_cache_text(&i.cold_caches))
    {
        let _ = writeln!(s, "\n**Warning:** at this point, {text}.");
    }
    let cost_of = |q: &PointStats| a.points.ci(q, COST).mean;
    let ties = a.ranking.qualifying[1..]
        .iter()
        .filter(|&&i| cost_of(&pts[i]) == cost_of(p))
        .count();
    if ties > 0 {
        let _ = writeln!(
            s,
            "\nIts cost ties with {ties} other qualifying point{}{}: among them it runs the fewest \
             instances (replicas_mean {}), then has the lowest {} (95 % CI upper end).",
            if ties == 1 { "" } else { "s" },
            if cost_of(p) == 0.0 {
                " (every point costs 0: the scenario has no `[costs]`)"
            } else {
                ""
            },
            ci(a, p, INSTANCES),
            a.slo.latency_metric()
        );
    }
    let cheaper: Vec<&PointStats> = a
        .ranking
        .failing
        .iter()
        .map(|&i| &pts[i])
        .filter(|q| a.points.ci(q, COST).mean <= a.points.ci(p, COST).mean)
        .take(RUNNERS_UP)
        .collect();
    if !cheaper.is_empty() {
        let _ = writeln!(s, "\nCheaper (or as cheap) points that miss the SLO:\n");
        let _ = writeln!(s, "| point | parameters | cost_per_month_usd | misses |");
        let _ = writeln!(s, "|---:|---|---:|---|");
        for q in cheaper {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                q.point,
                a.assignment(q, true),
                ci(a, q, COST),
                a.misses(q).join("; ")
            );
        }
    }
    let _ = writeln!(
        s,
        "\nThe scenario with these values is `recommendation.toml`.\n"
    );
}

/// What the recommended point's clients see, region by region
/// (`regions.csv`, with two regions or more): the SLO is judged on every
/// client pooled, which can hide a region whose clients miss it.
fn client_regions(a: &Analysis<'_>, point: usize, s: &mut String) {
    let t = &a.part.regions;
    let (Some(region), Some(requests), Some(availability)) = (
        t.index("region"),
        t.index("requests"),
        t.index("availability"),
    ) else {
        return;
    };
    // The latency objectives the SLO sets, each with its column.
    let latencies: Vec<(&str, usize, Option<f64>)> = [
        ("p50", "latency_p50_ms", a.slo.p50_ms),
        ("p99", "latency_p99_ms", a.slo.p99_ms),
        ("p99.9", "latency_p999_ms", a.slo.p999_ms),
    ]
    .into_iter()
    .filter_map(|(name, column, limit)| Some((name, t.index(column)?, limit)))
    .collect();
    let Some(&(_, p99, _)) = latencies.iter().find(|(name, ..)| *name == "p99") else {
        return;
    };
    // Per region with clients, in order: its rows, one per replication.
    let regions = point_rows_by(t, point, |r| {
        (number(&r[requests]) > 0.0).then(|| r.get(region))
    });
    if regions.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nIts clients by region (`regions.csv`; mean over the replications ± 95 % CI):\n\n\
         | client region | availability | p99 (ms) |\n|---|---:|---:|"
    );
    let of = |rows: &[crate::planner::table::Row<'_>], c: usize| {
        ci95(&rows.iter().map(|r| number(&r[c])).collect::<Vec<_>>())
    };
    let mut misses = Vec::new();
    for (name, rows) in &regions {
        let (av, lat) = (of(rows, availability), of(rows, p99));
        let _ = writeln!(
            s,
            "| {name} | {} ± {} | {} ± {} |",
            short(av.mean),
            short(av.half_width),
            short(lat.mean),
            short(lat.half_width)
        );
        let mut why = Vec::new();
        for &(objective, c, limit) in &latencies {
            let mean = of(rows, c).mean;
            if let Some(limit) = limit
                && (mean.is_nan() || mean > limit)
            {
                why.push(format!(
                    "{objective} {} ms > {} ms",
                    short(mean),
                    short(limit)
                ));
            }
        }
        if let Some(limit) = a.slo.availability
            && (av.mean.is_nan() || av.mean < limit)
        {
            why.push(format!(
                "availability {} < {}",
                short(av.mean),
                short(limit)
            ));
        }
        if !why.is_empty() {
            misses.push(format!("**{name}** ({})", why.join(", ")));
        }
    }
    if !misses.is_empty() {
        let _ = writeln!(
            s,
            "\nThe SLO holds for every client pooled, but on the estimates these clients miss it: \
             {}.",
            misses.join("; ")
        );
    }
}

/// The recommended point's instances region by region (`deployments.csv`,
/// with two regions or more): how busy each region's instances of each
/// service are, how many there are, and what they cost.
fn deployments(a: &Analysis<'_>, point: usize, s: &mut String) {
    let t = &a.part.deployments;
    let (Some(service), Some(region), Some(held), Some(instances), Some(cost)) = (
        t.index("service"),
        t.index("region"),
        t.index("utilization"),
        t.index("replicas_mean"),
        t.index("instance_cost_per_month_usd"),
    ) else {
        return;
    };
    // Per deployment, in order: its rows, one per replication.
    let groups = point_rows_by(t, point, |r| Some((r.get(service), r.get(region))));
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nIts instances by region (`deployments.csv`; mean over the replications ± 95 % CI):\n\n\
         | service | region | held | instances | instances' cost/month (USD) |\n|---|---|---:|---:|---:|"
    );
    let of = |rows: &[crate::planner::table::Row<'_>], c: usize| {
        let v = ci95(&rows.iter().map(|r| number(&r[c])).collect::<Vec<_>>());
        format!("{} ± {}", short(v.mean), short(v.half_width))
    };
    for ((service, region), rows) in &groups {
        let _ = writeln!(
            s,
            "| {service} | {region} | {} | {} | {} |",
            of(rows, held),
            of(rows, instances),
            of(rows, cost)
        );
    }
}

/// Lines of the recommended point's bill the summary lists.
const BILL_LINES: usize = 5;

/// The recommended point's largest bill lines (`bill.csv`, with
/// `[costs]`): what its month is made of, line by line.
fn bill(a: &Analysis<'_>, point: usize, s: &mut String) {
    let t = &a.part.bill;
    let columns = ["part", "kind", "component", "region", "cost_per_month_usd"].map(|n| t.index(n));
    let [
        Some(part),
        Some(kind),
        Some(component),
        Some(region),
        Some(cost),
    ] = columns
    else {
        return;
    };
    // Per line, in `bill.csv`'s order: its rows, one per replication.
    let groups = point_rows_by(t, point, |r| {
        Some((r.get(part), r.get(kind), r.get(component), r.get(region)))
    });
    let mut lines: Vec<_> = groups
        .iter()
        .map(|(line, rows)| {
            let usd = ci95(&rows.iter().map(|r| number(&r[cost])).collect::<Vec<_>>());
            (line, usd)
        })
        .collect();
    let total: f64 = lines.iter().map(|(_, usd)| usd.mean).sum();
    if lines.is_empty() || total.is_nan() || total <= 0.0 {
        return;
    }
    // The largest first; ties in `bill.csv`'s order (the sort is stable).
    lines.sort_by(|x, y| y.1.mean.total_cmp(&x.1.mean));
    let _ = writeln!(
        s,
        "\nIts largest bill lines (`bill.csv`; USD a month, mean over the replications ± 95 % \
         CI, and their share of its {} USD):\n\n\
         | part | kind | component | region | USD a month | share |\n|---|---|---|---|---:|---:|",
        short(total)
    );
    for ((part, kind, component, region), usd) in lines.iter().take(BILL_LINES) {
        let _ = writeln!(
            s,
            "| {part} | {kind} | {component} | {region} | {} ± {} | {:.1} % |",
            short(usd.mean),
            short(usd.half_width),
            100.0 * usd.mean / total
        );
    }
    if lines.len() > BILL_LINES {
        let rest: f64 = lines[BILL_LINES..].iter().map(|(_, usd)| usd.mean).sum();
        let _ = writeln!(
            s,
            "| | {} more lines | | | {} | {:.1} % |",
            lines.len() - BILL_LINES,
            short(rest),
            100.0 * rest / total
        );
    }
}

/// The recommended point's call edges (`edges.csv`), with a call graph
/// (more than the edge's one call to an entry service): per edge, its
/// retries and tries timed out per call, the fraction of its calls that
/// failed, a call's p99 and its breakers' open time.
fn call_edges(a: &Analysis<'_>, point: usize, s: &mut String) {
    let t = &a.part.edges;
    let columns = [
        "caller",
        "callee",
        "calls",
        "ok",
        "degraded",
        "retries",
        "try_timeouts",
        "latency_p99_ms",
        "breaker_open_s",
    ]
    .map(|name| t.index(name));
    let [
        Some(caller),
        Some(callee),
        Some(calls),
        Some(ok),
        Some(degraded),
        Some(retries),
        Some(timeouts),
        Some(p99),
        Some(open),
    ] = columns
    else {
        return;
    };
    let groups = point_rows_by(t, point, |r| Some((r.get(caller), r.get(callee))));
    if groups.len() < 2 {
        return;
    }
    let _ = writeln!(
        s,
        "\nIts call edges (`edges.csv`; mean over the replications ± 95 % CI):\n\n\
         | caller | callee | retries/call | try timeouts/call | failed | call p99 (ms) | breaker open (s) |\n\
         |---|---|---:|---:|---:|---:|---:|"
    );
    let of = |rows: &[crate::planner::table::Row<'_>],
              f: &dyn Fn(&crate::planner::table::Row<'_>) -> f64| {
        let v = ci95(&rows.iter().map(f).collect::<Vec<_>>());
        format!("{} ± {}", short(v.mean), short(v.half_width))
    };
    let per_call = |r: &crate::planner::table::Row<'_>, n: f64| n / number(&r[calls]);
    for ((caller, callee), rows) in &groups {
        let _ = writeln!(
            s,
            "| {caller} | {callee} | {} | {} | {} | {} | {} |",
            of(rows, &|r| per_call(r, number(&r[retries]))),
            of(rows, &|r| per_call(r, number(&r[timeouts]))),
            of(rows, &|r| {
                per_call(r, number(&r[calls]) - number(&r[ok]) - number(&r[degraded]))
            }),
            of(rows, &|r| number(&r[p99])),
            of(rows, &|r| number(&r[open])),
        );
    }
}

/// The rows of `t` (point first) of point `point` grouped by `key`, keys in
/// first-seen order, rows whose key is `None` left out.
fn point_rows_by<'t, K: PartialEq>(
    t: &'t crate::planner::table::Table,
    point: usize,
    key: impl Fn(&crate::planner::table::Row<'t>) -> Option<K>,
) -> Vec<(K, Vec<crate::planner::table::Row<'t>>)> {
    let point = point.to_string();
    let mut groups: Vec<(K, Vec<crate::planner::table::Row<'t>>)> = Vec::new();
    for row in t.rows().filter(|r| r[0] == *point) {
        let Some(k) = key(&row) else {
            continue;
        };
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, rows)) => rows.push(row),
            None => groups.push((k, vec![row])),
        }
    }
    groups
}

fn runners_up(a: &Analysis<'_>, s: &mut String) {
    let rest: Vec<usize> = a
        .ranking
        .qualifying
        .iter()
        .skip(1)
        .take(RUNNERS_UP)
        .copied()
        .collect();
    if rest.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Runners-up\n");
    let (latency, availability) = (a.slo.latency_metric(), a.slo.availability_metric());
    let others = a.slo.other_metrics();
    let _ = writeln!(
        s,
        "| rank | point | parameters | cost_per_month_usd | {latency} | {availability} |{}",
        other_heads(&others)
    );
    let _ = writeln!(
        s,
        "|---:|---:|---|---:|---:|---:|{}",
        "---:|".repeat(others.len())
    );
    for (rank, i) in rest.into_iter().enumerate() {
        let p = &a.points.points[i];
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |{}",
            rank + 2,
            p.point,
            a.assignment(p, true),
            ci(a, p, COST),
            ci(a, p, latency),
            ci(a, p, availability),
            other_cells(a, p, &others)
        );
    }
    let _ = writeln!(s);
}

fn effects(a: &Analysis<'_>, s: &mut String) {
    let _ = writeln!(s, "## Parameters ranked by effect\n");
    let _ = writeln!(
        s,
        "Effect = spread (largest minus smallest) of a metric's mean over the parameter's values, \
         each value averaged over the other parameters (numeric parameters with more than 8 \
         distinct values are cut into 5 bins). Ranked by effect on {}.\n",
        a.effect_metrics()[0]
    );
    let _ = writeln!(
        s,
        "| rank | parameter | levels | effect on {} | effect on {} | rank by cost |",
        a.effect_metrics()[0],
        a.effect_metrics()[1]
    );
    let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|");
    let by_p99 = ranked(&a.effects, 0);
    let by_cost = ranked(&a.effects, 1);
    for (rank, &i) in by_p99.iter().enumerate() {
        let e = &a.effects[i];
        let cost_rank = by_cost.iter().position(|&j| j == i).unwrap_or(i) + 1;
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} | {} | {} |",
            rank + 1,
            e.param,
            e.levels,
            short(e.spread[0]),
            short(e.spread[1]),
            cost_rank
        );
    }
    let _ = writeln!(s);
}

fn frontier(a: &Analysis<'_>, s: &mut String) {
    let latency = a.slo.latency_metric();
    let _ = writeln!(s, "## Pareto frontier (cost_per_month_usd vs {latency})\n");
    let _ = writeln!(s, "| point | parameters | cost_per_month_usd | {latency} |");
    let _ = writeln!(s, "|---:|---|---:|---:|");
    for &i in &a.frontier {
        let p = &a.points.points[i];
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            p.point,
            a.assignment(p, true),
            ci(a, p, COST),
            ci(a, p, latency)
        );
    }
    let _ = writeln!(s);
}

fn all_points(a: &Analysis<'_>, s: &mut String) {
    let pts = &a.points.points;
    let _ = writeln!(s, "## Points\n");
    if pts.len() > MAX_LISTED {
        let _ = writeln!(
            s,
            "{} points: see `points` (first {MAX_LISTED} below).\n",
            pts.len()
        );
    }
    let id = &a.part.manifest.identity;
    let params: Vec<String> = id.params.iter().map(|p| format!("`{p}`")).collect();
    let (latency, availability) = (a.slo.latency_metric(), a.slo.availability_metric());
    let others = a.slo.other_metrics();
    let _ = writeln!(
        s,
        "| point | {} | replications | {latency} | {availability} |{} cost_per_month_usd | SLO holds |",
        params.join(" | "),
        other_heads(&others)
    );
    let _ = writeln!(
        s,
        "|---:|{}---:|---:|---:|{}---:|:-:|",
        "---|".repeat(params.len()),
        "---:|".repeat(others.len())
    );
    for p in pts.iter().take(MAX_LISTED) {
        let holds = a.ranking.qualifying.contains(&(p.point));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |{} {} | {} |",
            p.point,
            id.points[p.point].join(" | "),
            p.replications,
            ci(a, p, latency),
            ci(a, p, availability),
            other_cells(a, p, &others),
            ci(a, p, COST),
            if holds { "yes" } else { "no" }
        );
    }
    let _ = writeln!(s);
}

/// The header cells of the SLO's [`Slo::other_metrics`], each ` name |`.
fn other_heads(others: &[&str]) -> String {
    others.iter().map(|m| format!(" {m} |")).collect()
}

/// The cells of the SLO's [`Slo::other_metrics`] at point `p`, each
/// ` value |`.
fn other_cells(a: &Analysis<'_>, p: &PointStats, others: &[&str]) -> String {
    others
        .iter()
        .map(|m| format!(" {} |", ci(a, p, m)))
        .collect()
}

fn replications(a: &Analysis<'_>, s: &mut String) {
    let info = &a.part.manifest.point_runs;
    let _ = writeln!(s, "## Replications and warm-up\n");
    let count = |stop: Stop| info.iter().filter(|p| p.stop == stop).count();
    let total: usize = info.iter().map(|p| p.replications).sum();
    let _ = writeln!(s, "{total} replications in all.");
    if let Replications::Precision { max, .. } = a.part.manifest.identity.replications {
        let maxed: Vec<String> = info
            .iter()
            .filter(|p| p.stop == Stop::Max)
            .map(|p| p.point.to_string())
            .collect();
        let _ = writeln!(
            s,
            "{} points met the precision target; {} reached max = {max} first{}.",
            count(Stop::Precision),
            maxed.len(),
            if maxed.is_empty() {
                String::new()
            } else {
                format!(" (points {})", maxed.join(", "))
            }
        );
    }
    for p in info.iter().filter(|p| p.stop == Stop::Failed) {
        let _ = writeln!(
            s,
            "\nPoint {} failed and counts as missing its SLO: {}",
            p.point,
            p.error.as_deref().unwrap_or("unknown error")
        );
    }
    let saturated = saturated(a);
    if !saturated.is_empty() {
        let _ = writeln!(
            s,
            "\n**No steady state.** At {} of {} points a queue is saturated and has no bound \
             (points {}): its backlog grows for as long as the run lasts, so their latency \
             figures describe this run length only. Add capacity or bound the queue.",
            saturated.len(),
            info.len(),
            listed(saturated.iter().map(usize::to_string)),
        );
    }
    let short_runs = short_runs(a);
    if !short_runs.is_empty() {
        let _ = writeln!(
            s,
            "\n**Short replications.** At {} of {} points a replication's measured window spans \
             fewer than {:.0} relaxation times of the latency, measured from its batch means or \
             approximated at its busiest queue (points, with the relaxation times spanned: \
             {}): their latency quantile intervals may be too narrow, since most replications \
             see few of the queues' long excursions. Lengthen the measured window; more \
             replications do not fix this.",
            short_runs.len(),
            info.len(),
            headroom_models::report::MIN_RELAXATION_SPANS,
            listed(
                short_runs
                    .iter()
                    .map(|(point, spans)| format!("{point} ({spans:.0})"))
            ),
        );
    }
    let cold = cold_points(a);
    if !cold.is_empty() {
        let _ = writeln!(
            s,
            "\n**Caches still warming.** At {} of {} points a cache's hit ratio rose from the \
             measured window's first half to its second by at least {} and beyond its noise \
             (points {}): those caches started empty and were still filling when the warm-up \
             ended, so their hit ratios understate the steady state and the load behind them is \
             overstated. Lengthen `run.warmup` until `caches_timeseries.csv` (`--cache-timeseries`) \
             levels off.",
            cold.len(),
            info.len(),
            headroom_models::report::COLD_CACHE_RISE,
            listed(cold.iter().map(usize::to_string)),
        );
    }
    let warmups: Vec<f64> = info
        .iter()
        .flat_map(|p| p.warmup_s.iter().copied())
        .collect();
    if !warmups.is_empty() {
        let min = warmups.iter().copied().fold(f64::INFINITY, f64::min);
        let max = warmups.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let rule = &a.part.manifest.identity.warmup;
        if min == max {
            let _ = writeln!(
                s,
                "\nWarm-up ({rule}): {} s excluded from every replication.",
                short(min)
            );
        } else {
            let _ = writeln!(
                s,
                "\nWarm-up ({rule}): between {} s and {} s excluded per replication (each one's truncation is in manifest.json).",
                short(min),
                short(max)
            );
        }
    }
}
