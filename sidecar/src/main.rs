//! `headroom-sidecar --config FILE [--check-config]`: parse flags, load the
//! config, run the proxy. Exit codes: 0 ok, 1 runtime error, 2 bad config
//! or usage.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// A reverse proxy that enforces Headroom's simulated policies.
#[derive(Debug, Parser)]
#[command(name = "headroom-sidecar", version, about)]
struct Args {
    /// The config file: a `[sidecar]` table plus the scenario's `[policy]`
    /// tables (a recommendation.toml with a `[sidecar]` table works as is).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Validate the config and exit (0 valid, 2 invalid).
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let plan = match headroom_sidecar::config::load(&args.config) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!(
            "{}: ok ({} routes, {} upstreams)",
            args.config.display(),
            plan.routes.len(),
            plan.upstreams.len()
        );
        return ExitCode::SUCCESS;
    }
    // Worker 0, the admin listener and the timers; `server::run` starts a
    // thread with a runtime of its own for each further worker.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(headroom_sidecar::server::run(plan, args.config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
