//! `headroom sweep`: every point of a scenario's `[sweep]` table x its
//! replications, in parallel, then points, frontier, recommendation,
//! summary and report; or, with `--shard K/N`, one shard's raw results for
//! `headroom merge`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use headroom_models::plan::costs::SloValue;
use headroom_models::sweep::{SweepMode, SweepPlan, cell, inline};
use headroom_models::{KeepCopies, Loaded, Plan, WarmStarts};
use headroom_sim::exec::Threads;

use crate::InputError;
use crate::cli::{PlanArgs, SloArgs, SweepArgs};
use crate::commands::run::default_out;
use crate::output;
use crate::planner::analysis::Analysis;
use crate::planner::exec::{Replications, SeriesWanted, Watched, run_points};
use crate::planner::format::Formats;
use crate::planner::part::{Identity, Part, PartSpec, merge};
use crate::planner::points::COST;
use crate::planner::shard::Shard;
use crate::planner::slo::Slo;
use crate::planner::table::Kind;
use crate::progress::{Progress, show};

/// Runs the sweep (or this process's shard of it) and writes the outputs.
pub fn run(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let formats = Formats::new(&args.plan.format);
    formats.check_available()?;
    let (text, sets) = read_input(
        &args.scenario,
        &args.plan.sets,
        args.plan.seed,
        args.plan.replications,
    )?;
    if crate::commands::search::wanted(&args.scenario, &text, &sets) {
        return crate::commands::search::from_sweep(args);
    }
    let (own, flags) = sets.split_at(args.plan.sets.len());
    let sweep = crate::commands::load_flagged(own, flags, |sets| {
        headroom_models::sweep::plan(&args.scenario, &text, sets)
    })?;
    let shard = Shard::resolve(args.shard.as_deref(), args.shards, |k| {
        std::env::var(k).ok()
    })
    .map_err(InputError)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_sweep_out(&args.scenario, shard));
    output::check_out_dir(&out)?;
    let slo = slo_from(scenario_slo(&sweep.base.plan), &args.plan, &sweep.base.plan)?;
    let series = series_wanted(&args.series, &args.scenario, &sweep.base.plan)?;
    let mut identity = identity(&sweep, slo.clone(), formats)?;
    identity.set_series(series);
    let ids = shard.unwrap_or(Shard::ALL).points(sweep.points.len());
    let plans: Vec<&Plan> = ids.iter().map(|&i| &sweep.points[i].plan).collect();
    let names = metric_names(&sweep.base.plan);
    let watched = Watched {
        p99_metric: slo.latency_metric(),
        p99: names.iter().position(|n| n == slo.latency_metric()),
        cost: names.iter().position(|n| n == COST),
    };
    let progress = Progress::new(ids.len() as u64);
    let label = format!(
        "sweep {}{}",
        args.scenario.display(),
        shard.map_or(String::new(), |s| format!(" shard {s}"))
    );
    let threads = Threads::from_count(args.plan.threads);
    if !args.plan.quiet {
        warm_starts_line(&plans, identity.replications);
        let warned = ids.iter().zip(&plans).map(|(&point, plan)| {
            let texts = headroom_models::plan::deadlines::retries_outliving_callers(plan);
            (point, texts)
        });
        for line in points_warned(warned, ids.len(), false) {
            eprintln!("warning: {line}");
        }
    }
    let runs = show(&progress, args.plan.quiet, &label, || {
        run_points(
            &plans,
            identity.replications,
            watched,
            threads,
            series,
            &progress,
        )
    })?;
    let (param_cells, param_kinds) = param_columns(&sweep);
    let timeseries_names = headroom_models::report::TIMESERIES_COLUMNS;
    let spec = PartSpec {
        identity,
        scenario_file: args.scenario.display().to_string(),
        shard,
        metric_names: &names,
        timeseries_names: &timeseries_names,
        param_cells: &param_cells,
        param_kinds: &param_kinds,
    };
    let part = Part::build(spec, &ids, runs)?;
    let failed = part
        .manifest
        .point_runs
        .iter()
        .filter(|p| p.error.is_some())
        .count();
    if let Some(shard) = shard {
        output::write_owned(&out, &part.to_files()?)?;
        if !args.plan.quiet {
            println!(
                "shard {shard}: {} of {} points; merge all {} shards with `headroom merge DIR... --out DIR`",
                ids.len(),
                sweep.points.len(),
                shard.count
            );
            println!("wrote {}", out.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    // The whole sweep takes the same path as `headroom merge`: render the
    // one part, read it back, merge, analyse.
    let files = part.to_files()?;
    drop(part);
    let name = out.display().to_string();
    let reread = Part::from_files(&name, |f| {
        files
            .iter()
            .find(|(n, _)| n == f)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| anyhow::anyhow!("{f} missing"))
    })?;
    drop(files);
    let merged = merge(vec![reread], &[name])?;
    let analysis = Analysis::new(&merged, slo);
    let files = analysis.files()?;
    output::replace_outputs(&out, &files, &["recommendation.toml"])?;
    if args.plan.plots {
        crate::commands::plot::plot_dir(&out, &out, args.plan.quiet)?;
    }
    if !args.plan.quiet {
        print!("{}", crate::commands::recommend::table(&analysis));
        if let Some(warning) = crate::planner::summary::short_runs_warning(&analysis) {
            eprintln!("{warning}");
        }
        if failed > 0 {
            println!("{failed} points failed (see summary.md); they count as missing the SLO");
        }
        println!("wrote {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `out/<stem>-sweep`, and `out/<stem>-sweep/shard-K-of-N` for a shard.
fn default_sweep_out(scenario: &Path, shard: Option<Shard>) -> PathBuf {
    let mut dir = default_out(scenario);
    let stem = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.set_file_name(format!("{stem}-sweep"));
    match shard {
        Some(s) => dir.join(format!("shard-{}-of-{}", s.index, s.count)),
        None => dir,
    }
}

/// The metric columns of `runs.csv` for a plan, in order.
pub fn metric_names(plan: &Plan) -> Vec<String> {
    headroom_models::run_columns(plan)
}

/// The scenario's `[slo]` as the planner's objectives.
pub fn scenario_slo(plan: &Plan) -> Slo {
    let ms = |s: Option<headroom_sim::Span>| s.map(|s| s.as_nanos() as f64 / 1e6);
    match &plan.slo {
        Some(slo) => Slo {
            p50_ms: ms(slo.p50),
            p99_ms: ms(slo.p99),
            p999_ms: ms(slo.p999),
            availability: slo.availability,
            max_cost_per_month_usd: slo.max_cost_per_month,
            session_availability: slo.session_availability,
            max_stale_read_ratio: slo.max_stale_read_ratio,
            per_region: slo.per_region,
        },
        None => Slo::default(),
    }
}

/// The replication rule of a plan.
pub fn replications(plan: &Plan) -> Replications {
    match plan.run.adaptive {
        Some(a) => Replications::Precision {
            min: a.min,
            max: plan.run.replications,
            precision: a.precision,
        },
        None => Replications::Fixed {
            count: plan.run.replications,
        },
    }
}

/// The per-component time series `args` asks for, refused (exit 2) for
/// components the scenario `file` (planned as `plan`) does not have.
pub fn series_wanted(
    args: &crate::cli::SeriesArgs,
    file: &std::path::Path,
    plan: &Plan,
) -> anyhow::Result<SeriesWanted> {
    let refuse = |flag: &str, lacks: &str| -> anyhow::Result<SeriesWanted> {
        Err(InputError(format!(
            "{flag}: {} has {lacks}, so there is no such series to write; drop the flag",
            file.display()
        ))
        .into())
    };
    if args.shard_timeseries && plan.data.stores.is_empty() {
        return refuse("--shard-timeseries", "no [[datastores]]");
    }
    if args.cache_timeseries && plan.data.caches().is_empty() {
        return refuse(
            "--cache-timeseries",
            "no cache ([[datastores.cache]] tier or [edge.cache])",
        );
    }
    if args.region_timeseries && plan.network.regions.len() < 2 {
        return refuse("--region-timeseries", "fewer than two [[regions]]");
    }
    if args.deployment_timeseries && plan.network.regions.len() < 2 {
        return refuse("--deployment-timeseries", "fewer than two [[regions]]");
    }
    Ok(SeriesWanted {
        services: args.service_timeseries,
        shards: args.shard_timeseries,
        caches: args.cache_timeseries,
        regions: args.region_timeseries,
        deployments: args.deployment_timeseries,
        edges: args.edge_timeseries,
        component_latency: false,
    })
}

/// `base` with the objectives given on the command line replacing its
/// own, each checked, and refused when `plan` does not measure its metric.
pub fn slo_from(base: Slo, flags: &PlanArgs, plan: &Plan) -> anyhow::Result<Slo> {
    let mut slo = base;
    flags.slo.apply(&mut slo)?;
    flags
        .slo
        .refuse_unmeasured("the scenario", |needs| match needs {
            Needs::Datastore => !plan.data.stores.is_empty(),
            Needs::Sessions => plan.workload.session.is_some(),
            Needs::Costs => plan.costs.is_some(),
        })?;
    Ok(slo)
}

/// What a scenario needs for an objective's metric to be measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// `stale_read_ratio`: reads of a store's keys.
    Datastore,
    /// `session_availability`: a workload of sessions.
    Sessions,
    /// `cost_per_month_usd`: prices (without them every point costs 0).
    Costs,
}

impl Needs {
    /// Why the flag cannot be judged without it, and what to do.
    fn missing(self) -> &'static str {
        match self {
            Needs::Datastore => {
                "has no [[datastores]], so no read is counted stale; drop the flag or add a \
                 datastore"
            }
            Needs::Sessions => {
                "has no sessions (`workload.session`), so no session is counted; drop the \
                 flag, or use --slo-availability (the fraction of requests answered)"
            }
            Needs::Costs => {
                "has no [costs], so every point costs 0 and the objective says nothing; drop \
                 the flag or price the scenario ([costs])"
            }
        }
    }
}

impl SloArgs {
    /// Sets the objectives given in `slo`, each checked.
    pub fn apply(&self, slo: &mut Slo) -> anyhow::Result<()> {
        let latency = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<f64>> {
            let Some(text) = v else {
                return Ok(None);
            };
            let span =
                headroom_sim::Span::parse(text).map_err(|e| InputError(format!("{flag}: {e}")))?;
            if span.as_nanos() == 0 {
                return Err(InputError(format!(
                    "{flag} {text}: expected a latency above 0, e.g. 25ms"
                ))
                .into());
            }
            Ok(Some(span.as_nanos() as f64 / 1e6))
        };
        // The values `[slo]` accepts.
        let value = |flag: &str, v: Option<f64>, kind: SloValue| -> anyhow::Result<Option<f64>> {
            v.map(|v| {
                kind.check(v)
                    .map_err(|accepted| InputError(format!("{flag} {v}: expected {accepted}")))
            })
            .transpose()
            .map_err(Into::into)
        };
        if let Some(v) = latency("--slo-p50", &self.slo_p50)? {
            slo.p50_ms = Some(v);
        }
        if let Some(v) = latency("--slo-p99", &self.slo_p99)? {
            slo.p99_ms = Some(v);
        }
        if let Some(v) = latency("--slo-p999", &self.slo_p999)? {
            slo.p999_ms = Some(v);
        }
        let availability = SloValue::Availability;
        if let Some(a) = value("--slo-availability", self.slo_availability, availability)? {
            slo.availability = Some(a);
        }
        let session = self.slo_session_availability;
        if let Some(a) = value("--slo-session-availability", session, availability)? {
            slo.session_availability = Some(a);
        }
        let stale = self.slo_max_stale_read_ratio;
        if let Some(r) = value(
            "--slo-max-stale-read-ratio",
            stale,
            SloValue::StaleReadRatio,
        )? {
            slo.max_stale_read_ratio = Some(r);
        }
        let cost = self.slo_max_cost_per_month;
        if let Some(c) = value("--slo-max-cost-per-month", cost, SloValue::CostPerMonth)? {
            slo.max_cost_per_month_usd = Some(c);
        }
        Ok(())
    }

    /// Refuses the first flag given whose metric is not measured: `whose`
    /// names what lacks it ("the scenario"), `has` says what it has.
    pub fn refuse_unmeasured(
        &self,
        whose: &str,
        has: impl Fn(Needs) -> bool,
    ) -> anyhow::Result<()> {
        let given = [
            (
                "--slo-session-availability",
                self.slo_session_availability.is_some(),
                Needs::Sessions,
            ),
            (
                "--slo-max-stale-read-ratio",
                self.slo_max_stale_read_ratio.is_some(),
                Needs::Datastore,
            ),
            (
                "--slo-max-cost-per-month",
                self.slo_max_cost_per_month.is_some(),
                Needs::Costs,
            ),
        ];
        match given
            .into_iter()
            .find(|&(_, set, needs)| set && !has(needs))
        {
            Some((flag, _, needs)) => {
                Err(InputError(format!("{flag}: {whose} {}", needs.missing())).into())
            }
            None => Ok(()),
        }
    }
}

fn identity(sweep: &SweepPlan, slo: Slo, format: Formats) -> anyhow::Result<Identity> {
    let mode = sweep.base.scenario.sweep.as_ref().map(|c| c.mode);
    let points = sweep
        .points
        .iter()
        .map(|p| p.values.iter().map(inline).collect())
        .collect();
    identity_of(
        &sweep.base,
        mode.unwrap_or_default(),
        sweep.params.clone(),
        points,
        slo,
        format,
    )
}

/// What makes a sweep's (or a search's) parts the same sweep: the resolved
/// base scenario, the points as inline TOML values, and the settings that
/// change numbers.
pub(crate) fn identity_of(
    base: &Loaded,
    mode: SweepMode,
    params: Vec<String>,
    points: Vec<Vec<String>>,
    slo: Slo,
    format: Formats,
) -> anyhow::Result<Identity> {
    Ok(Identity {
        headroom_version: env!("CARGO_PKG_VERSION").into(),
        git_sha: option_env!("HEADROOM_GIT_SHA").map(str::to_owned),
        seed: base.plan.run.seed,
        mode,
        params,
        points,
        replications: replications(&base.plan),
        warmup: if base.plan.run.auto_warmup {
            "auto".into()
        } else {
            base.plan.run.warmup.to_string()
        },
        slo,
        format,
        service_timeseries: false,
        shard_timeseries: false,
        cache_timeseries: false,
        region_timeseries: false,
        deployment_timeseries: false,
        edge_timeseries: false,
        scenario: serde_json::to_value(&base.scenario)?,
    })
}

/// Per point the parameter cells, and per parameter its column kind.
fn param_columns(sweep: &SweepPlan) -> (Vec<Vec<String>>, Vec<Kind>) {
    let cells = sweep
        .points
        .iter()
        .map(|p| p.values.iter().map(cell).collect())
        .collect();
    let kinds = (0..sweep.params.len())
        .map(|j| {
            let column = sweep.points.iter().map(|p| &p.values[j]);
            if column.clone().all(toml::Value::is_integer) {
                Kind::Int
            } else if column.clone().all(toml::Value::is_float) {
                Kind::Float
            } else {
                Kind::Str
            }
        })
        .collect();
    (cells, kinds)
}

/// The scenario's text and its `--set` overrides with `--seed` and
/// `--replications` applied, as `sweep` and `search` both read them.
pub(crate) fn read_input(
    scenario: &Path,
    sets: &[String],
    seed: Option<u64>,
    replications: Option<u32>,
) -> anyhow::Result<(String, Vec<String>)> {
    let text = std::fs::read_to_string(scenario).map_err(|e| {
        InputError(format!(
            "{}: cannot read the scenario file: {e}",
            scenario.display()
        ))
    })?;
    let mut sets = sets.to_vec();
    if let Some(seed) = seed {
        sets.push(format!("run.seed={seed}"));
    }
    if let Some(n) = replications {
        sets.push(format!("run.replications={n}"));
        sets.push(format!("sweep.replications={n}"));
    }
    Ok((text, sets))
}

/// Says how many warm starts a sweep of fixed replications runs for its
/// runs when points share them (`headroom_models::WarmStarts`): why a
/// sweep of a warm-started scenario takes less than its points times a
/// run, and holds copies.
/// Each distinct warning of the points `warned` (point index, its
/// warnings), once, with the points it holds at: "at every point: ..." when
/// it holds at all `total`, else "at points 0, 2 and 4 of 8: ..." (the
/// first six named). A search's points are those it `tried` ("at every
/// point tried", "at points 3 and 17, 2 of 5 tried").
pub(crate) fn points_warned(
    warned: impl IntoIterator<Item = (usize, Vec<String>)>,
    total: usize,
    tried: bool,
) -> Vec<String> {
    let mut texts: Vec<(String, Vec<usize>)> = Vec::new();
    for (point, warnings) in warned {
        for text in warnings {
            match texts.iter_mut().find(|(t, _)| *t == text) {
                Some((_, points)) => points.push(point),
                None => texts.push((text, vec![point])),
            }
        }
    }
    texts
        .into_iter()
        .map(|(text, mut points)| {
            points.sort_unstable();
            if points.len() == total {
                let tried = if tried { " tried" } else { "" };
                return format!("at every point{tried}: {text}");
            }
            let mut named: Vec<String> = points.iter().take(6).map(ToString::to_string).collect();
            if points.len() > 6 {
                named.push(format!("{} more", points.len() - 6));
            }
            let list = match named.split_last() {
                Some((last, [])) => last.clone(),
                Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                None => String::new(),
            };
            let noun = if points.len() == 1 { "point" } else { "points" };
            if tried {
                format!(
                    "at {noun} {list}, {} of {total} tried: {text}",
                    points.len()
                )
            } else {
                format!("at {noun} {list} of {total}: {text}")
            }
        })
        .collect()
}

fn warm_starts_line(plans: &[&Plan], reps: Replications) {
    let Replications::Fixed { count } = reps else {
        return;
    };
    let runs = plans.iter().flat_map(|p| (0..count).map(move |r| (*p, r)));
    let (warm, starts) = WarmStarts::new(runs, KeepCopies::Never).counts();
    if starts < warm {
        println!(
            "caches: {starts} warm starts for {warm} runs (points whose warm start is the same share it, memory permitting)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::points_warned;

    /// A warning of every point is said once as such; one of some points
    /// names them, the first six, and counts the rest.
    #[test]
    fn each_warning_is_said_once_with_its_points() {
        let w = |texts: &[&str]| texts.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
        let lines = points_warned(
            [
                (0, w(&["a", "b"])),
                (1, w(&["a"])),
                (2, w(&["a", "b"])),
                (3, w(&["a", "c"])),
            ],
            4,
            false,
        );
        assert_eq!(
            lines,
            [
                "at every point: a",
                "at points 0 and 2 of 4: b",
                "at point 3 of 4: c"
            ]
        );
        let many = points_warned((0..9).map(|p| (p, w(&["d"]))), 10, false);
        assert_eq!(many, ["at points 0, 1, 2, 3, 4, 5 and 3 more of 10: d"]);
        assert!(points_warned([(0, Vec::new())], 1, false).is_empty());
        // A search names the lattice points it tried.
        let tried = points_warned([(17, w(&["e"])), (3, w(&["e", "f"]))], 2, true);
        assert_eq!(
            tried,
            ["at every point tried: e", "at point 3, 1 of 2 tried: f"]
        );
        let some = points_warned([(17, w(&["g"])), (3, w(&["g"])), (9, w(&[]))], 3, true);
        assert_eq!(some, ["at points 3 and 17, 2 of 3 tried: g"]);
    }
}
