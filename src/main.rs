//! The `headroom` command line: parses arguments, builds a validated plan and
//! hands it to one module per subcommand. Exit codes: 0 ok, 1 runtime error,
//! 2 usage or input error; 141 when whoever reads standard output stops
//! reading (`headroom sweep ... | head`), as a Unix tool killed by SIGPIPE;
//! 130, 143 or 129 on SIGINT, SIGTERM or SIGHUP, after removing the
//! temporary files of outputs being written.

mod cli;
mod commands;
mod output;
mod planner;
mod plot;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// An error in what the user gave us (a bad scenario, flag or path): exit
/// code 2. Every other error is a runtime failure: exit code 1.
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Exit code when standard output is closed under us: 128 + SIGPIPE.
const BROKEN_PIPE: i32 = 141;

/// `print!` panics when standard output is a pipe whose reader has gone
/// (`| head`). That is not a bug to report: stop quietly with
/// [`BROKEN_PIPE`], as a Unix tool killed by SIGPIPE does. (Rust ignores
/// SIGPIPE, so the write fails instead of killing the process.)
fn stop_quietly_on_a_closed_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or_default();
        if message.contains("failed printing to stdout")
            && message.to_ascii_lowercase().contains("broken pipe")
        {
            std::process::exit(BROKEN_PIPE);
        }
        report(info);
    }));
}

fn main() -> ExitCode {
    stop_quietly_on_a_closed_pipe();
    output::remove_staged_on_interrupt();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Trace(args) => commands::trace::run(args),
        Command::Replay(args) => commands::replay::run(args),
        Command::Sweep(args) => commands::sweep::run(args),
        Command::Search(args) => commands::search::run(args),
        Command::Merge(args) => commands::merge::run(args),
        Command::Recommend(args) => commands::recommend::run(args),
        Command::Plot(args) => commands::plot::run(args),
        Command::Compare(args) => commands::compare::run(args),
        Command::Completions(args) => {
            // Written whole by `print!` (clap_complete panics on a write
            // error of its own, a closed pipe included).
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut cmd, "headroom", &mut script);
            print!("{}", String::from_utf8_lossy(&script));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            if is_input_error(&err) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn is_input_error(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.is::<InputError>()
            || e.is::<headroom_models::ScenarioError>()
            || e.is::<headroom_traces::TraceError>()
            || e.is::<headroom_models::sweep::SweepError>()
    })
}
