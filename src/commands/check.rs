//! `headroom check`: validate a scenario and print it resolved.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::CheckArgs;

/// Loads and validates the scenario, then prints it with defaults filled in
/// (and on stderr, what in a valid scenario is likely a mistake: retries
/// that outlive their caller's deadline).
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let loaded = headroom_models::load(&args.scenario, &args.sets)?;
    for text in headroom_models::plan::deadlines::retries_outliving_callers(&loaded.plan) {
        eprintln!("warning: {}: {text}", args.scenario.display());
    }
    let resolved =
        toml::to_string_pretty(&loaded.scenario).context("cannot print the resolved scenario")?;
    println!("# {}: valid", args.scenario.display());
    println!("# resolved scenario (defaults filled in):");
    print!("{resolved}");
    Ok(ExitCode::SUCCESS)
}
