//! `headroom search` (and `headroom sweep` on a `mode = "search"` table):
//! the sweep's question (the cheapest point whose SLO holds) answered with
//! only the runs needed, then the sweep's files from those runs plus
//! `search.csv`.
#![allow(clippy::disallowed_methods)] // the budget's `max_time` and the overhead line read the clock

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use headroom_models::sweep::{SearchSpace, SweepMode, cell, inline, search_space};
use headroom_sim::Span;
use headroom_sim::exec::Threads;

use crate::InputError;
use crate::cli::{SearchArgs, SweepArgs};
use crate::commands::run::default_out;
use crate::commands::sweep::{
    identity_of, metric_names, read_input, replications, scenario_slo, slo_from,
};
use crate::output;
use crate::planner::analysis::Analysis;
use crate::planner::exec::{PointRuns, Replications, Stop};
use crate::planner::format::Formats;
use crate::planner::part::{Part, PartSpec, manifest_bytes, merge};
use crate::planner::points::{COST, INSTANCES};
use crate::planner::search::driver::{Clock, Outcome, Search, Settings};
use crate::planner::search::report;
use crate::planner::search::verdict::{Objectives, Verdict};
use crate::planner::table::Kind;
use crate::progress::{Progress, show};

/// Runs per batch unless `sweep.batch` or `--batch` says otherwise.
const DEFAULT_BATCH: usize = 4;

/// Whether the scenario (with `sets`) asks for `mode = "search"`.
pub fn wanted(path: &Path, text: &str, sets: &[String]) -> bool {
    headroom_models::load_str(path, text, sets)
        .ok()
        .and_then(|l| l.scenario.sweep)
        .is_some_and(|s| s.mode == SweepMode::Search)
}

/// `headroom sweep` on a search table: the same flags, no sharding.
pub fn from_sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    if args.shard.is_some() || args.shards.is_some() {
        return Err(InputError(format!(
            "{}: mode = \"search\" chooses each batch from the results of the last, so it cannot \
             be split into shards; run it whole (`headroom search`), or use mode = \"grid\" to shard",
            args.scenario.display()
        ))
        .into());
    }
    run(SearchArgs {
        scenario: args.scenario,
        out: args.out,
        plan: args.plan,
        max_runs: None,
        max_time: None,
        batch: None,
        series: args.series,
    })
}

/// Runs the search and writes its outputs.
pub fn run(args: SearchArgs) -> anyhow::Result<ExitCode> {
    Formats::new(&args.plan.format).check_available()?;
    let (text, sets) = read_input(
        &args.scenario,
        &args.plan.sets,
        args.plan.seed,
        args.plan.replications,
    )?;
    let (own, flags) = sets.split_at(args.plan.sets.len());
    let space = crate::commands::load_flagged(own, flags, |sets| {
        search_space(&args.scenario, &text, sets)
    })?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_search_out(&args.scenario));
    output::check_out_dir(&out)?;
    let slo = slo_from(scenario_slo(&space.base.plan), &args.plan, &space.base.plan)?;
    let settings = settings(&args, &space)?;
    let max_time = max_time(&args, &space)?;
    let names = metric_names(&space.base.plan);
    let objectives = Objectives::new(&slo, &names);
    let keys = (
        names.iter().position(|n| n == COST),
        names.iter().position(|n| n == INSTANCES),
        names.iter().position(|n| n == slo.latency_metric()),
    );
    let progress = Progress::new(0);
    let label = format!("search {}", args.scenario.display());
    let started = Instant::now();
    let clock = Clock {
        time_up: &|| max_time.is_some_and(|t| started.elapsed().as_nanos() >= u128::from(t)),
        seconds: &|| started.elapsed().as_secs_f64(),
    };
    let outcome = show(&progress, args.plan.quiet, &label, || {
        Search::new(
            &space,
            objectives.clone(),
            keys,
            slo.latency_metric(),
            settings,
        )
        .run(&progress, &clock)
    })?;
    let files = outputs(&args, &space, &outcome, &slo, &objectives, keys.0, settings)?;
    output::replace_outputs(&out, &files.files, &["recommendation.toml"])?;
    if args.plan.plots {
        crate::commands::plot::plot_dir(&out, &out, args.plan.quiet)?;
    }
    if !args.plan.quiet {
        let warned = outcome.tried.iter().map(|t| {
            let texts = headroom_models::plan::deadlines::retries_outliving_callers(&t.plan);
            (t.index, texts)
        });
        for line in crate::commands::sweep::points_warned(warned, outcome.tried.len(), true) {
            eprintln!("warning: {line}");
        }
        print!("{}", files.table);
        if let Some(warning) = &files.short_runs {
            eprintln!("{warning}");
        }
        println!("{}", files.conclusion);
        for v in &files.violations {
            println!("warning: monotone declaration contradicted: {v}");
        }
        println!(
            "{} runs ({} points tried) where the grid would make {}; simulation {:.2} s, \
             search overhead {:.3} s ({:.2} %)",
            outcome.runs,
            outcome.tried.len(),
            (outcome.lattice.len() as u64).saturating_mul(u64::from(settings.max)),
            outcome.simulate_s,
            outcome.overhead_s,
            100.0 * outcome.overhead_s / outcome.simulate_s.max(1e-9)
        );
        println!("wrote {}", out.display());
    }
    if outcome.best.is_none() && outcome.end == crate::planner::search::driver::End::Settled {
        let closest = report::closest(&objectives, &outcome).map_or(String::new(), |(i, why)| {
            format!(
                "; closest: point {i} ({}): {why}",
                headroom_models::sweep::assignment(&space.params, &outcome.tried[i].values)
            )
        });
        eprintln!(
            "error: {}: no point in range meets the SLO ({}){closest}. Widen the ranges toward \
             more capacity or relax the SLO; the runs are in {}",
            args.scenario.display(),
            slo.describe(),
            out.display()
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// `out/<stem>-search`.
fn default_search_out(scenario: &Path) -> PathBuf {
    let mut dir = default_out(scenario);
    let stem = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.set_file_name(format!("{stem}-search"));
    dir
}

/// Replications, batch and budget from flags, then `[sweep]`, then
/// defaults; a budget or batch that cannot work is an input error.
fn settings(args: &SearchArgs, space: &SearchSpace) -> anyhow::Result<Settings> {
    let file = args.scenario.display();
    let (first, max) = match replications(&space.base.plan) {
        Replications::Fixed { count } => (count.min(2), count),
        Replications::Precision { min, max, .. } => (min.max(2).min(max), max),
    };
    if max < 2 {
        return Err(InputError(format!(
            "{file}: a search needs at least 2 replications per point (a confidence interval \
             needs two), but replications = {max}; set `sweep.replications` or --replications to \
             2 or more"
        ))
        .into());
    }
    let points = space.levels.iter().map(Vec::len).product::<usize>() as u64;
    let max_runs = match args.max_runs.or(space.config.max_runs) {
        Some(0) => {
            return Err(InputError(format!(
                "--max-runs 0: a search needs a budget of at least {first} runs (one point's first \
                 replications)"
            ))
            .into());
        }
        Some(n) if n < u64::from(first) => {
            return Err(InputError(format!(
                "{file}: max_runs = {n} is below one point's first replications ({first}); give \
                 at least {first}"
            ))
            .into());
        }
        Some(n) => n,
        None => points.saturating_mul(u64::from(max)),
    };
    let batch = args
        .batch
        .or(space.config.batch)
        .map_or(DEFAULT_BATCH, |b| b as usize);
    if batch < first as usize {
        return Err(InputError(format!(
            "{file}: batch = {batch} is below one point's first replications ({first}); give at \
             least {first}"
        ))
        .into());
    }
    Ok(Settings {
        first,
        max,
        batch,
        max_runs,
        seed: space.base.plan.run.seed,
        cost_tolerance: space
            .config
            .cost_tolerance
            .unwrap_or(headroom_models::sweep::DEFAULT_COST_TOLERANCE),
        threads: Threads::from_count(args.plan.threads),
        series: super::sweep::series_wanted(&args.series, &args.scenario, &space.base.plan)?,
    })
}

/// `--max-time` or `sweep.max_time`, in nanoseconds.
fn max_time(args: &SearchArgs, space: &SearchSpace) -> anyhow::Result<Option<u64>> {
    let span = match &args.max_time {
        Some(text) => {
            Some(Span::parse(text).map_err(|e| InputError(format!("--max-time {text}: {e}")))?)
        }
        None => space.config.max_time,
    };
    if span.is_some_and(|s| s.as_nanos() == 0) {
        return Err(InputError(
            "--max-time 0s: a search needs time to run; give a positive duration such as 10m"
                .into(),
        )
        .into());
    }
    Ok(span.map(|s| s.as_nanos()))
}

/// The files, and what the command prints.
struct Files {
    files: Vec<(String, Vec<u8>)>,
    table: String,
    /// The short-replications warning, if any point's were short.
    short_runs: Option<String>,
    conclusion: String,
    violations: Vec<String>,
}

fn outputs(
    args: &SearchArgs,
    space: &SearchSpace,
    outcome: &Outcome,
    slo: &crate::planner::slo::Slo,
    objectives: &Objectives,
    cost: Option<usize>,
    settings: Settings,
) -> anyhow::Result<Files> {
    let base = &space.base;
    let points = outcome
        .tried
        .iter()
        .map(|t| t.values.iter().map(inline).collect())
        .collect();
    let mut identity = identity_of(
        base,
        SweepMode::Search,
        space.params.clone(),
        points,
        slo.clone(),
        Formats::new(&args.plan.format),
    )?;
    identity.set_series(settings.series);
    let param_cells: Vec<Vec<String>> = outcome
        .tried
        .iter()
        .map(|t| t.values.iter().map(cell).collect())
        .collect();
    let param_kinds: Vec<Kind> = (0..space.params.len())
        .map(|j| {
            let column = space.levels[j].iter();
            if column.clone().all(toml::Value::is_integer) {
                Kind::Int
            } else if column.clone().all(toml::Value::is_float) {
                Kind::Float
            } else {
                Kind::Str
            }
        })
        .collect();
    let names = metric_names(&base.plan);
    let timeseries_names = headroom_models::report::TIMESERIES_COLUMNS;
    let spec = PartSpec {
        identity,
        scenario_file: args.scenario.display().to_string(),
        shard: None,
        metric_names: &names,
        timeseries_names: &timeseries_names,
        param_cells: &param_cells,
        param_kinds: &param_kinds,
    };
    let runs: Vec<PointRuns> = outcome
        .tried
        .iter()
        .map(|t| PointRuns {
            records: t.records.clone(),
            stop: if t.records.iter().any(|r| r.cells.is_err()) {
                Stop::Failed
            } else if t.records.len() >= settings.max as usize {
                Stop::Max
            } else {
                Stop::Settled
            },
        })
        .collect();
    let ids: Vec<usize> = (0..outcome.tried.len()).collect();
    let part = Part::build(spec, &ids, runs)?;
    // The sweep's path: render, read back, merge, analyse.
    let rendered = part.to_files()?;
    let name = args.scenario.display().to_string();
    let reread = Part::from_files(&name, |f| {
        rendered
            .iter()
            .find(|(n, _)| n == f)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| anyhow::anyhow!("{f} missing"))
    })?;
    let merged = merge(vec![reread], &[name])?;
    let analysis = Analysis::new(&merged, slo.clone());
    debug_assert_eq!(
        analysis.ranking.best(),
        outcome.best,
        "the search's best is the recommendation"
    );
    debug_assert!(
        outcome
            .best
            .is_none_or(|b| outcome.tried[b].verdict == Verdict::Holds)
    );
    let conclusion = report::conclusion(space, outcome, settings.max);
    let violations = report::monotone_violations(space, outcome, objectives, cost);
    let section = report::section(space, outcome, &conclusion, &violations, settings.max);
    let mut files: Vec<(String, Vec<u8>)> = analysis
        .files()?
        .into_iter()
        .filter(|(n, _)| n != "manifest.json")
        .map(|(n, bytes)| {
            if n == "summary.md" {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let at = text.find("## Recommendation").unwrap_or(text.len());
                let mut s = text[..at].to_owned();
                s.push_str(&section);
                s.push_str(&text[at..]);
                (n, s.into_bytes())
            } else {
                (n, bytes)
            }
        })
        .collect();
    let search_table = report::table(space, outcome, &param_kinds);
    files.extend(Formats::new(&args.plan.format).write("search", &search_table)?);
    let mut manifest = merged.manifest.clone();
    manifest.files = files.iter().map(|(n, _)| n.clone()).collect();
    manifest.files.push("manifest.json".into());
    files.push(("manifest.json".into(), manifest_bytes(&manifest)?));
    Ok(Files {
        files,
        table: crate::commands::recommend::table(&analysis),
        short_runs: crate::planner::summary::short_runs_warning(&analysis),
        conclusion,
        violations,
    })
}
