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
    /// Trace tools: inspect, convert, cache miss ratios, fit a workload.
    Trace(TraceArgs),
}

/// `headroom trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// What to do with the trace.
    #[command(subcommand)]
    pub command: TraceCommand,
}

/// `headroom trace` subcommands.
#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Trace statistics: rows, span, arrival rates, burstiness, keys.
    Inspect(TraceInspectArgs),
    /// Convert any readable trace to Headroom's trace CSV.
    Convert(TraceConvertArgs),
    /// Miss ratios straight from the trace (no event queue), one CSV row
    /// per (eviction, size): eviction,size,requests,misses,miss_ratio,byte_miss_ratio.
    Cache(TraceCacheArgs),
    /// Fit a `[workload]` table (Poisson, MMPP or diurnal arrivals; work
    /// distributions per route when the trace has latencies).
    Fit(TraceFitArgs),
}

/// How to read a trace (shared by every `trace` subcommand).
#[derive(Debug, Args)]
pub struct TraceInput {
    /// The trace file (gzip and zstd are undone transparently).
    pub trace: PathBuf,
    /// The format, when detection from the name and content is not enough:
    /// headroom, csv, txt, oracleGeneral, clf, counts, timestamped.
    #[arg(long, value_name = "F")]
    pub format: Option<String>,
    /// Format options, `key=value,...`: for csv/timestamped time-col,
    /// obj-id-col, obj-size-col, op-col, has-header, delimiter, time-format,
    /// ...; for counts interval and count-col.
    #[arg(long = "trace-opts", value_name = "OPTS", default_value = "")]
    pub trace_opts: String,
    /// Skip rows with bad values (counted and reported) instead of failing.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Reorder records whose timestamps go back by at most this duration
    /// (e.g. `1s`) instead of failing.
    #[arg(long, value_name = "D")]
    pub sort_window: Option<String>,
}

/// `headroom trace inspect`.
#[derive(Debug, Args)]
pub struct TraceInspectArgs {
    /// The trace.
    #[command(flatten)]
    pub input: TraceInput,
    /// Draw `rate.svg` (arrival rate over time) and `popularity.svg` (key
    /// popularity curve) into this folder.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
}

/// `headroom trace convert`.
#[derive(Debug, Args)]
pub struct TraceConvertArgs {
    /// The trace.
    #[command(flatten)]
    pub input: TraceInput,
    /// The Headroom trace CSV to write (atomically).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `headroom trace cache`.
#[derive(Debug, Args)]
pub struct TraceCacheArgs {
    /// The trace.
    #[command(flatten)]
    pub input: TraceInput,
    /// Eviction algorithms, comma-separated: lru, fifo, lfu, s3-fifo.
    #[arg(long, value_name = "E,...", default_value = "lru")]
    pub eviction: String,
    /// Cache sizes, comma-separated: with a unit (`100MiB`, `1GB`) in bytes,
    /// plain integers in objects.
    #[arg(long, value_name = "S,...")]
    pub sizes: String,
    /// Every object counts as one: sizes are numbers of objects.
    #[arg(long)]
    pub ignore_obj_size: bool,
    /// Write the CSV to this file (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Draw the miss-ratio curve (miss ratio against size, per eviction)
    /// into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// `headroom trace fit`.
#[derive(Debug, Args)]
pub struct TraceFitArgs {
    /// The trace.
    #[command(flatten)]
    pub input: TraceInput,
    /// Write the `[workload]` TOML here (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
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
