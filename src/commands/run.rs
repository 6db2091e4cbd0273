//! `headroom run`: every replication of one scenario.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use headroom_models::{Loaded, RunOutput, prepare_replication};
use headroom_sim::exec::{Threads, run_staged};

use crate::InputError;
use crate::cli::RunArgs;
use crate::output;
use crate::progress::with_progress;

/// A validated `run` invocation.
struct RunPlan {
    loaded: Loaded,
    out: PathBuf,
    threads: Threads,
    plots: bool,
    quiet: bool,
    /// The flags that reproduce this run, for error messages.
    reproduce: String,
}

/// Runs the scenario and writes the outputs.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let plan = plan(args)?;
    if !plan.quiet {
        for text in headroom_models::plan::deadlines::retries_outliving_callers(&plan.loaded.plan) {
            eprintln!("warning: {text}");
        }
    }
    let run = &plan.loaded.plan.run;
    let total = u64::from(run.replications).saturating_mul(run.duration.as_nanos());
    let label = format!("{} × {}", run.replications, run.duration);
    let results = with_progress(total, plan.quiet, &label, |progress| {
        // A replication's caches warm (`run.cache_warm_start`) while
        // another runs.
        run_staged(
            run.replications as usize,
            plan.threads,
            |r| prepare_replication(&plan.loaded.plan, r as u32, None),
            |_, prepared| prepared.run(progress),
        )
    })?;
    let mut outputs: Vec<RunOutput> = Vec::with_capacity(results.len());
    for (r, result) in results.into_iter().enumerate() {
        let out = result.with_context(|| {
            format!(
                "replication {r} (seed {}) failed; reproduce with: {}",
                run.seed, plan.reproduce
            )
        })?;
        outputs.push(out);
    }
    let files = [
        ("runs.csv", output::runs_csv(0, run.seed, &outputs)?),
        ("timeseries.csv", output::timeseries_csv(0, &outputs)?),
        ("services.csv", output::services_csv(0, &outputs)?),
        (
            "services_timeseries.csv",
            output::services_timeseries_csv(0, &outputs)?,
        ),
        ("deployments.csv", output::deployments_csv(0, &outputs)?),
        ("edges.csv", output::edges_csv(0, &outputs)?),
        (
            "edges_timeseries.csv",
            output::edges_timeseries_csv(0, &outputs)?,
        ),
        (
            "deployments_timeseries.csv",
            output::deployments_timeseries_csv(0, &outputs)?,
        ),
        ("regions.csv", output::regions_csv(0, &outputs)?),
        (
            "regions_timeseries.csv",
            output::regions_timeseries_csv(0, &outputs)?,
        ),
        ("shards.csv", output::shards_csv(0, &outputs)?),
        (
            "store_failovers.csv",
            output::store_failovers_csv(0, &outputs)?,
        ),
        (
            "shards_timeseries.csv",
            output::shards_timeseries_csv(0, &outputs)?,
        ),
        (
            "caches_timeseries.csv",
            output::caches_timeseries_csv(0, &outputs)?,
        ),
        ("recovery.csv", output::recovery_csv(0, &outputs)?),
        ("bill.csv", output::bill_csv(0, &outputs)?),
        (
            "summary.md",
            output::summary_md(&plan.loaded, &outputs).into_bytes(),
        ),
    ];
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let manifest = output::manifest_json(&plan.loaded, &outputs, &names)?;
    let mut all: Vec<(&str, Vec<u8>)> = files.into_iter().collect();
    all.push(("manifest.json", manifest));
    output::write_atomically(&plan.out, &all)?;
    if plan.plots {
        crate::commands::plot::plot_dir(&plan.out, &plan.out, plan.quiet)?;
    }
    if !plan.quiet {
        println!(
            "{}: {} replications × {} (warm-up {} excluded{}), seed {}",
            plan.loaded.path.display(),
            run.replications,
            run.duration,
            output::warmup_text(run, &outputs),
            output::warm_start_text(run),
            run.seed
        );
        if outputs.iter().any(|o| o.warmup_at_limit) {
            eprintln!(
                "warning: warm-up \"auto\": MSER-5 found no end of the initial transient in the first half of some replications; run longer"
            );
        }
        if let Some(text) = headroom_models::report::short_run_warning(&outputs) {
            eprintln!("warning: {text}");
        }
        if let Some(text) =
            headroom_models::report::session_warmup_warning(&plan.loaded.plan, &outputs)
        {
            eprintln!("warning: {text}");
        }
        if let Some(text) = headroom_models::report::cold_cache_warning(&plan.loaded.plan, &outputs)
        {
            eprintln!("warning: {text}");
        }
        print!("{}", output::summary_table(&outputs));
        println!("wrote {}", plan.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn plan(args: RunArgs) -> anyhow::Result<RunPlan> {
    let mut flags = Vec::new();
    if let Some(seed) = args.run.seed {
        flags.push(format!("run.seed={seed}"));
    }
    if let Some(n) = args.run.replications {
        flags.push(format!("run.replications={n}"));
    }
    let loaded = crate::commands::load_flagged(&args.run.sets, &flags, |sets| {
        headroom_models::load(&args.scenario, sets)
    })?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.scenario));
    if out.exists() && !out.is_dir() {
        return Err(InputError(format!(
            "--out {}: exists and is not a folder; give a folder path",
            out.display()
        ))
        .into());
    }
    let mut reproduce = format!(
        "headroom run {}",
        shell_word(&args.scenario.display().to_string())
    );
    for set in &args.run.sets {
        reproduce.push_str(&format!(" --set {}", shell_word(set)));
    }
    reproduce.push_str(&format!(
        " --seed {} --replications {} --threads 1",
        loaded.plan.run.seed, loaded.plan.run.replications
    ));
    Ok(RunPlan {
        loaded,
        out,
        threads: Threads::from_count(args.run.threads),
        plots: args.run.plots,
        quiet: args.run.quiet,
        reproduce,
    })
}

/// `out/<scenario file stem>`.
pub fn default_out(scenario: &Path) -> PathBuf {
    let stem = scenario
        .file_stem()
        .map_or_else(|| "run".into(), |s| s.to_string_lossy().into_owned());
    Path::new("out").join(stem)
}

/// Quotes `s` for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
