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
    /// timeseries.csv, services.csv, summary.md and manifest.json (and
    /// deployments.csv, regions.csv and regions_timeseries.csv, shards.csv,
    /// recovery.csv where they apply).
    Run(RunArgs),
    /// Validate a scenario and print it resolved (defaults filled in).
    Check(CheckArgs),
    /// Trace tools: inspect, convert, cache miss ratios, fit a workload.
    Trace(TraceArgs),
    /// Run a scenario with its arrivals (and keys, sizes, clients, regions,
    /// routes where present) taken from a trace; writes what `run` writes.
    Replay(ReplayArgs),
    /// Run every point of the scenario's [sweep] table x its replications in
    /// parallel; write runs, points, frontier, recommendation.toml,
    /// summary.md and manifest.json (with --shard: one shard's raw results).
    Sweep(SweepArgs),
    /// Find the cheapest point of the scenario's [sweep] whose SLO holds with
    /// only the runs needed (racing, monotonicity, a surrogate); write the
    /// sweep's files from those runs plus search.csv.
    Search(SearchArgs),
    /// Merge the folders of a sharded sweep into the sweep's outputs,
    /// byte-identical to running it unsharded.
    Merge(MergeArgs),
    /// Re-rank a finished sweep under another SLO (no re-run); write
    /// recommendation.toml and print the ranking.
    Recommend(RecommendArgs),
    /// Draw PNG and SVG charts of a finished run or sweep.
    Plot(PlotArgs),
    /// Run two scenarios with common random numbers and print each metric's
    /// paired difference B - A with its 95 % confidence interval.
    Compare(CompareArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
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
    /// Write a synthetic trace (Headroom trace CSV) of a scenario's
    /// workload: the requests one replication of it receives.
    Synth(TraceSynthArgs),
}

/// `headroom trace synth`.
#[derive(Debug, Args)]
pub struct TraceSynthArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// The Headroom trace CSV to write (atomically).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Which replication's requests.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub replication: u32,
    /// Root seed (overrides `run.seed`).
    #[arg(long, value_name = "N", value_parser = seed)]
    pub seed: Option<u64>,
    /// Override a scenario value, as for `run`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
}

/// `headroom replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The trace and how to read it.
    #[command(flatten)]
    pub input: TraceInput,
    /// The scenario whose system serves the trace (its `[workload]`
    /// arrivals are replaced by the trace).
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// Time compression: 2 replays twice as fast.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub speedup: f64,
    /// Load factor: below 1 keeps each request with this probability;
    /// above 1 superposes shifted copies of the trace (keys kept).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub scale_load: f64,
    /// Largest time shift of a superposed copy (with --scale-load > 1).
    #[arg(long, value_name = "D", default_value = "1s")]
    pub shift: String,
    /// Start the trace over at its end until `run.duration` (without it the
    /// run lasts exactly one pass of the trace).
    #[arg(long = "loop")]
    pub repeat: bool,
    /// Replay only `FROM..TO` (durations from trace time zero, the first
    /// record's minute; either end optional: `1h..2h`, `30m..`).
    #[arg(long, value_name = "FROM..TO")]
    pub window: Option<String>,
    /// Output folder [default: out/replay-<trace file stem>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seed, replications, overrides, threads and output, as for `run`.
    #[command(flatten)]
    pub run: RunOpts,
}

/// How to read a trace (shared by every `trace` subcommand).
#[derive(Debug, Args)]
pub struct TraceInput {
    /// The trace file (gzip and zstd are undone transparently).
    pub trace: PathBuf,
    /// The format, when detection from the name and content is not enough:
    /// headroom, csv, txt, oracleGeneral, clf, counts, timestamped, parquet.
    #[arg(long, value_name = "F")]
    pub format: Option<String>,
    /// Format options, `key=value,...`: for csv/timestamped time-col,
    /// obj-id-col, obj-size-col, op-col, has-header, delimiter, time-format,
    /// ...; for counts interval, count-col and index-col.
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
    /// The Headroom trace CSV to write (atomically); a name ending in
    /// `.parquet` writes the same columns as Parquet.
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
    /// Seed, replications, overrides, threads and output.
    #[command(flatten)]
    pub run: RunOpts,
}

/// The flags `run` and `replay` share.
#[derive(Clone, Debug, Args)]
pub struct RunOpts {
    /// Root seed (overrides `run.seed`).
    #[arg(long, value_name = "N", value_parser = seed)]
    pub seed: Option<u64>,
    /// Replications (overrides `run.replications`).
    #[arg(long, value_name = "N", value_parser = replications)]
    pub replications: Option<u32>,
    /// Override a scenario value: `--set services.api.replicas=4`. Arrays of
    /// tables are addressed by `name` (or index); tables the file leaves out
    /// are made; `PATH=null` removes the key.
    /// Repeatable; applied in order, before --seed and --replications.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Worker threads; 0 = one per core. Results do not depend on it.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = threads)]
    pub threads: usize,
    /// Also draw PNG and SVG charts (as `headroom plot`).
    #[arg(long)]
    pub plots: bool,
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

/// `headroom sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The scenario file (TOML) with a [sweep] table.
    pub scenario: PathBuf,
    /// Output folder [default: out/<stem>-sweep, or
    /// out/<stem>-sweep/shard-K-of-N for a shard].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run shard K of N (1-based) of the points. Without it, a Slurm array
    /// task (SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT or _MIN/_MAX)
    /// or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX with --shards)
    /// picks its shard from the environment.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Number of shards, with JOB_COMPLETION_INDEX (Kubernetes Indexed Job).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Per-component time series to write too.
    #[command(flatten)]
    pub series: SeriesArgs,
    /// The flags `sweep` and `search` share.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// `headroom search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The scenario file (TOML) with a [sweep] table (any mode).
    pub scenario: PathBuf,
    /// Output folder [default: out/<stem>-search].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The flags `sweep` and `search` share.
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Most (point, replication) runs (overrides `sweep.max_runs`; default:
    /// the grid's runs).
    #[arg(long, value_name = "N")]
    pub max_runs: Option<u64>,
    /// Most wall-clock time, e.g. 10m (overrides `sweep.max_time`). Makes
    /// the result depend on the machine's speed; only --max-runs is
    /// deterministic.
    #[arg(long, value_name = "DURATION")]
    pub max_time: Option<String>,
    /// Runs per batch (overrides `sweep.batch`; default 4). Results do not
    /// depend on --threads, but they do on the batch.
    #[arg(long, value_name = "N")]
    pub batch: Option<u32>,
    /// Per-component time series to write too (for every point tried).
    #[command(flatten)]
    pub series: SeriesArgs,
}

/// The per-component time series `sweep` and `search` write on request:
/// one row per point, replication, interval and component, held in memory
/// until the end (they multiply the time series' memory by the number of
/// components).
#[derive(Clone, Copy, Debug, Args)]
pub struct SeriesArgs {
    /// Also write services_timeseries (one row per service and interval).
    #[arg(long)]
    pub service_timeseries: bool,
    /// Also write shards_timeseries (one row per datastore shard of each
    /// copy and interval; the scenario needs [[datastores]]).
    #[arg(long)]
    pub shard_timeseries: bool,
    /// Also write caches_timeseries (one row per cache and interval; the
    /// scenario needs a cache tier or [edge.cache]).
    #[arg(long)]
    pub cache_timeseries: bool,
    /// Also write regions_timeseries (one row per client region and
    /// interval; the scenario needs two [[regions]] or more).
    #[arg(long)]
    pub region_timeseries: bool,
    /// Also write deployments_timeseries (one row per service, region it
    /// runs in and interval; the scenario needs two [[regions]] or more).
    #[arg(long)]
    pub deployment_timeseries: bool,
    /// Also write edges_timeseries (one row per call edge and interval).
    #[arg(long)]
    pub edge_timeseries: bool,
}

/// The flags `headroom sweep` and `headroom search` share: what they read
/// and override, the objectives, and how they write and run.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Root seed (overrides `run.seed`).
    #[arg(long, value_name = "N", value_parser = seed)]
    pub seed: Option<u64>,
    /// Replications per point, the most per point for a search (overrides
    /// `sweep.replications` and `run.replications`).
    #[arg(long, value_name = "N", value_parser = replications)]
    pub replications: Option<u32>,
    /// Override a scenario value before the sweep's values are applied, as
    /// for `run`. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Objectives, each replacing the scenario's own (`[slo]`).
    #[command(flatten)]
    pub slo: SloArgs,
    /// Table formats of the outputs, comma-separated: csv, parquet or
    /// csv,parquet (the same columns and values in each).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "csv",
        value_name = "F,..."
    )]
    pub format: Vec<crate::planner::format::Format>,
    /// Also draw PNG and SVG charts (as `headroom plot`).
    #[arg(long)]
    pub plots: bool,
    /// Worker threads; 0 = one per core. Results do not depend on it.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = threads)]
    pub threads: usize,
    /// No progress bar and no summary table.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The objectives `sweep`, `search` and `recommend` take from the command
/// line, each replacing the scenario's (or the finished sweep's) own; the
/// `[slo]` keys of the same names.
#[derive(Debug, Default, Args)]
pub struct SloArgs {
    /// p50 latency objective, e.g. 5ms.
    #[arg(long, value_name = "DURATION")]
    pub slo_p50: Option<String>,
    /// p99 latency objective, e.g. 25ms.
    #[arg(long, value_name = "DURATION")]
    pub slo_p99: Option<String>,
    /// p99.9 latency objective, e.g. 100ms.
    #[arg(long, value_name = "DURATION")]
    pub slo_p999: Option<String>,
    /// Availability objective: the fraction of requests answered, such as
    /// 0.999.
    #[arg(long, value_name = "FRACTION", allow_negative_numbers = true)]
    pub slo_availability: Option<f64>,
    /// Session availability objective: the fraction of sessions every
    /// request of which was answered, such as 0.99 (a workload with
    /// sessions).
    #[arg(long, value_name = "FRACTION", allow_negative_numbers = true)]
    pub slo_session_availability: Option<f64>,
    /// Freshness objective: the largest stale_read_ratio, a fraction such
    /// as 0.01 (a scenario with [[datastores]]).
    #[arg(long, value_name = "FRACTION", allow_negative_numbers = true)]
    pub slo_max_stale_read_ratio: Option<f64>,
    /// Cost objective: the largest cost_per_month_usd, USD (a scenario with
    /// [costs]).
    #[arg(long, value_name = "USD", allow_negative_numbers = true)]
    pub slo_max_cost_per_month: Option<f64>,
}

/// `headroom merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shard folders (every shard of one sweep, in any order).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also draw PNG and SVG charts (as `headroom plot`).
    #[arg(long)]
    pub plots: bool,
    /// No summary table.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `headroom recommend`.
#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// A finished (or merged) sweep's output folder.
    pub dir: PathBuf,
    /// Objectives, each replacing the sweep's own.
    #[command(flatten)]
    pub slo: SloArgs,
    /// Where to write the recommendation [default: DIR/recommendation.toml].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `headroom plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A run's or a (merged) sweep's output folder.
    pub dir: PathBuf,
    /// Where to write the charts [default: DIR].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print nothing.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `headroom compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Scenario A (the baseline).
    pub a: PathBuf,
    /// Scenario B.
    pub b: PathBuf,
    /// Root seed of both [default: A's `run.seed`].
    #[arg(long, value_name = "N", value_parser = seed)]
    pub seed: Option<u64>,
    /// Paired replications [default: A's `run.replications`].
    #[arg(long, value_name = "N", value_parser = replications)]
    pub replications: Option<u32>,
    /// Override a value in both scenarios. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Also write compare.csv into this folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads; 0 = one per core. Results do not depend on it.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = threads)]
    pub threads: usize,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `headroom completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Parses `--replications`: the range `run.replications` accepts, so that a
/// bad count is refused as the flag it was typed as.
/// Most worker threads `--threads` takes: far more than any machine's
/// cores (rayon starts every thread of a pool, so a huge count only stalls).
pub const MAX_THREADS: usize = 4096;

/// `--seed`: a TOML integer, as `run.seed` is (at most `i64::MAX`).
fn seed(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if i64::try_from(n).is_ok() => Ok(n),
        _ => Err(format!("expected an integer from 0 to {}", i64::MAX)),
    }
}

fn threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= MAX_THREADS => Ok(n),
        _ => Err(format!(
            "expected an integer from 0 (one per core) to {MAX_THREADS}"
        )),
    }
}

fn replications(s: &str) -> Result<u32, String> {
    let max = headroom_models::plan::limits::MAX_REPLICATIONS;
    match s.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected an integer from 1 to {max}")),
    }
}
