//! `headroom check`: validate a scenario and print it resolved.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::CheckArgs;

/// Loads and validates the scenario, then prints it with defaults filled in.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let loaded = headroom_models::load(&args.scenario, &args.sets)?;
    let resolved =
        toml::to_string_pretty(&loaded.scenario).context("cannot print the resolved scenario")?;
    println!("# {}: valid", args.scenario.display());
    println!("# resolved scenario (defaults filled in):");
    print!("{resolved}");
    Ok(ExitCode::SUCCESS)
}
