//! Command-line flags (clap). These structs mirror the flags only; the
//! commands turn them into validated plans.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Headroom: a deterministic discrete-event simulator and capacity planner
/// for web-service infrastructure.
#[derive(Debug, Parser)]
#[command(name = "headroom", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every replication of a scenario and write runs.csv,
    /// timeseries.csv, summary.md and manifest.json.
    Run(RunArgs),
    /// Validate a scenario and print it resolved (defaults filled in).
    Check(CheckArgs),
}

/// `headroom run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Output folder [default: out/<scenario file stem>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Root seed (overrides `run.seed`).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Replications (overrides `run.replications`).
    #[arg(long, value_name = "N")]
    pub replications: Option<u32>,
    /// Override a scenario value: `--set services.api.replicas=4`. Arrays of
    /// tables are addressed by `name` (or index). Repeatable; applied in
    /// order, before --seed and --replications.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Worker threads; 0 = one per core. Results do not depend on it.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// No progress bar and no summary table.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `headroom check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Override a scenario value, as for `run`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
}
