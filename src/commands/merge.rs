//! `headroom merge`: shard folders of one sweep -> the sweep's outputs,
//! byte-identical to running it unsharded.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::InputError;
use crate::cli::MergeArgs;
use crate::output;
use crate::planner::analysis::Analysis;
use crate::planner::part::{Part, merge};

/// Merges the shard folders and writes the sweep's outputs.
pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let names: Vec<String> = args.dirs.iter().map(|d| d.display().to_string()).collect();
    let mut parts = Vec::with_capacity(args.dirs.len());
    for dir in &args.dirs {
        parts.push(read_part(dir)?);
    }
    output::check_out_dir(&args.out)?;
    // The merged sweep would replace a shard's own files: refuse, so that a
    // shard is never lost to a typo.
    if let Ok(out) = args.out.canonicalize()
        && let Some(dir) = args
            .dirs
            .iter()
            .find(|d| d.canonicalize().is_ok_and(|d| d == out))
    {
        return Err(InputError(format!(
            "--out {}: is the input folder {}; merge into a new folder",
            args.out.display(),
            dir.display()
        ))
        .into());
    }
    let merged = merge(parts, &names)?;
    let slo = merged.manifest.identity.slo.clone();
    let analysis = Analysis::new(&merged, slo);
    let files = analysis.files()?;
    output::replace_outputs(&args.out, &files, &["recommendation.toml"])?;
    if args.plots {
        crate::commands::plot::plot_dir(&args.out, &args.out, args.quiet)?;
    }
    if !args.quiet {
        print!("{}", crate::commands::recommend::table(&analysis));
        if let Some(warning) = crate::planner::summary::short_runs_warning(&analysis) {
            eprintln!("{warning}");
        }
        println!(
            "merged {} folders; wrote {}",
            args.dirs.len(),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the part (a shard, or a whole sweep) in `dir`.
pub fn read_part(dir: &Path) -> anyhow::Result<Part> {
    let name = dir.display().to_string();
    if !dir.join("manifest.json").is_file() {
        return Err(InputError(format!(
            "{name}: no manifest.json; give folders written by `headroom sweep` (with --shard for shards)"
        ))
        .into());
    }
    Part::from_files(&name, |file| {
        let path = dir.join(file);
        std::fs::read(&path)
            .map_err(|e| {
                InputError(format!(
                    "{}: cannot read ({e}); the folder is incomplete",
                    path.display()
                ))
            })
            .with_context(|| format!("reading {name}"))
    })
}
