//! `headroom replay`: a scenario run with its arrivals taken from a trace.
//!
//! The flags become the scenario's own trace workload
//! (`workload.arrivals = { process = "trace", ... }`, set like `--set`), so
//! a replay is exactly `headroom run` of that scenario and everything `run`
//! guarantees (outputs, determinism at any `--threads`) holds. Without
//! `--loop` the run lasts one pass of the trace: `run.duration` becomes the
//! replayed window over the speedup.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use headroom_models::plan::ArrivalPlan;

use crate::InputError;
use crate::cli::{ReplayArgs, RunArgs, RunOpts};

/// Runs the replay and writes what `run` writes.
pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let trace = &args.input.trace;
    if !trace.is_file() {
        return Err(InputError(format!(
            "cannot open trace {}: {}",
            trace.display(),
            if trace.exists() {
                "not a file"
            } else {
                "no such file"
            }
        ))
        .into());
    }
    // Durations are checked here, by their flags: inside the arrivals
    // table a bad one is named by its key only when no other key of the
    // table holds the same text.
    let shift = Some(args.shift.as_str());
    for (flag, value) in [
        ("--shift", shift),
        ("--sort-window", args.input.sort_window.as_deref()),
    ] {
        if let Some(text) = value
            && let Err(e) = headroom_sim::Span::parse(text)
        {
            return Err(InputError(format!("{flag}: {e}")).into());
        }
    }
    let path = std::path::absolute(trace)
        .map_err(|e| InputError(format!("trace {}: {e}", trace.display())))?;
    let mut sets = args.run.sets.clone();
    sets.push(format!(
        "workload.arrivals={}",
        arrivals_table(&args, &path)
    ));
    let mut pass = None;
    if !args.repeat {
        // One pass: the run lasts exactly the replayed window. The pass is
        // read from the scenario loaded with a run long enough for any,
        // whose checks against the duration (a warmup as long, too many
        // intervals) the pass's own run makes below: the scenario's
        // `run.duration`, which the pass replaces, refuses nothing.
        let mut probe = sets.clone();
        let long = u64::MAX / 4;
        probe.extend([
            format!("run.duration={long}ns"),
            format!("run.timeseries_interval={long}ns"),
            "run.warmup=\"0s\"".to_owned(),
        ]);
        let loaded = headroom_models::load(&args.scenario, &probe).map_err(|e| {
            // In the user's terms: the error of the scenario without the
            // probe's values, which name keys the user did not set.
            let e = headroom_models::load(&args.scenario, &sets)
                .err()
                .unwrap_or(e);
            in_replay_terms(e.into(), trace, &path)
        })?;
        let ArrivalPlan::Trace(t) = &loaded.plan.workload.arrivals else {
            unreachable!("workload.arrivals was set to a trace");
        };
        pass = Some(t.period());
        sets.push(format!("run.duration={}ns", t.period().as_nanos()));
    }
    super::run::run(RunArgs {
        scenario: args.scenario.clone(),
        out: Some(args.out.clone().unwrap_or_else(|| default_out(trace))),
        run: RunOpts {
            sets,
            ..args.run.clone()
        },
    })
    .map_err(|e| in_replay_terms(e, trace, &path))
    .map_err(|e| match pass {
        Some(pass) => duration_from_the_pass(e, pass),
        None => e,
    })
}

/// Without `--loop` the replay sets `run.duration` to one pass of the
/// trace: an error that speaks of the run's duration (a warmup as long, an
/// interval giving too many rows) says where that duration came from.
fn duration_from_the_pass(error: anyhow::Error, pass: headroom_sim::Span) -> anyhow::Error {
    use headroom_models::ScenarioError;
    let why = format!(
        "; without --loop a replay lasts one pass of the trace, {pass}, its `run.duration`"
    );
    let speaks = |m: &str| m.contains("run.duration") || m.contains("(duration ");
    match error.downcast::<ScenarioError>() {
        Ok(ScenarioError::Invalid { location, message }) if speaks(&message) => {
            ScenarioError::Invalid {
                location,
                message: message + &why,
            }
            .into()
        }
        Ok(ScenarioError::Set { arg, message }) if speaks(&message) => ScenarioError::Set {
            arg,
            message: message + &why,
        }
        .into(),
        Ok(other) => other.into(),
        Err(error) => error,
    }
}

/// The keys of the arrivals table the flags become, and their flags.
const FLAGS: [(&str, &str); 9] = [
    ("speedup", "--speedup"),
    ("scale_load", "--scale-load"),
    ("shift", "--shift"),
    ("format", "--format"),
    ("options", "--trace-opts"),
    ("window", "--window"),
    ("sort_window", "--sort-window"),
    ("skip_bad_rows", "--skip-bad-rows"),
    ("loop", "--loop"),
];

/// Errors about what the flags gave are reported in the flags' terms, not
/// as the `--set workload.arrivals=...` the flags became: a trace that
/// cannot be read as `trace PATH: ...` (the trace reader's own message,
/// which names `--format`, `--sort-window`), a bad flag value by its flag
/// (`--speedup 0: expected ...`), a trace the scenario cannot serve (a
/// route that is none of its services) by the trace as given (`trace
/// PATH: expected ...`). `absolute` is the trace's path in the table.
fn in_replay_terms(error: anyhow::Error, trace: &Path, absolute: &Path) -> anyhow::Error {
    use headroom_models::ScenarioError;
    match error.downcast::<ScenarioError>() {
        Ok(ScenarioError::Trace { trace: said, .. }) => {
            InputError(format!("trace {}: {said}", trace.display())).into()
        }
        Ok(ScenarioError::Set { arg, message }) if arg.starts_with("workload.arrivals=") => {
            let path = format!(
                "`workload.arrivals.path` = {:?}: ",
                absolute.display().to_string()
            );
            if let Some(said) = message.strip_prefix(&path) {
                return InputError(format!("trace {}: {said}", trace.display())).into();
            }
            let flagged = FLAGS.iter().find_map(|(key, flag)| {
                let named = format!("`workload.arrivals.{key}`");
                message
                    .strip_prefix(&named)
                    .map(|rest| match rest.strip_prefix(" = ") {
                        // `key` = value: expected ... -> --flag value: expected ...
                        Some(rest) => format!("{flag} {rest}"),
                        None => format!("{flag}{rest}"),
                    })
            });
            match flagged {
                Some(message) => InputError(message).into(),
                None => ScenarioError::Set { arg, message }.into(),
            }
        }
        Ok(other) => other.into(),
        Err(error) => error,
    }
}

/// The inline TOML table of the trace workload the flags describe.
fn arrivals_table(args: &ReplayArgs, path: &Path) -> String {
    let s = |text: &str| toml::Value::String(text.to_owned()).to_string();
    let mut t = format!(
        "{{ process = \"trace\", path = {}, speedup = {:?}, scale_load = {:?}, shift = {}",
        s(&path.to_string_lossy()),
        args.speedup,
        args.scale_load,
        s(&args.shift)
    );
    let input = &args.input;
    if let Some(f) = &input.format {
        t.push_str(&format!(", format = {}", s(f)));
    }
    if !input.trace_opts.is_empty() {
        t.push_str(&format!(", options = {}", s(&input.trace_opts)));
    }
    if let Some(w) = &args.window {
        t.push_str(&format!(", window = {}", s(w)));
    }
    if let Some(w) = &input.sort_window {
        t.push_str(&format!(", sort_window = {}", s(w)));
    }
    if input.skip_bad_rows {
        t.push_str(", skip_bad_rows = true");
    }
    if args.repeat {
        t.push_str(", loop = true");
    }
    t.push_str(" }");
    t
}

/// `out/replay-<trace file stem>` (compression and format suffixes kept
/// out).
fn default_out(trace: &Path) -> PathBuf {
    let name = trace
        .file_name()
        .map_or_else(|| "trace".into(), |n| n.to_string_lossy().into_owned());
    let stem = name.split('.').next().unwrap_or("trace");
    Path::new("out").join(format!("replay-{stem}"))
}
