//! `headroom trace`: opening a trace for every trace subcommand, the
//! dispatch, and `trace convert`.

use std::fs::File;
use std::process::ExitCode;

use anyhow::Context;
use headroom_traces::{AnySource, CheckOptions, Checked, CsvWriter, Format, TraceError};

use crate::InputError;
use crate::cli::{TraceArgs, TraceCommand, TraceConvertArgs, TraceInput};
use crate::output::{create_parent, output_file};

/// Runs a `trace` subcommand.
pub fn run(args: TraceArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        TraceCommand::Inspect(a) => super::trace_inspect::run(a),
        TraceCommand::Convert(a) => convert(a),
        TraceCommand::Cache(a) => super::trace_cache::run(a),
        TraceCommand::Fit(a) => super::trace_fit::run(a),
        TraceCommand::Synth(a) => super::trace_synth::run(a),
    }
}

/// An open trace: checked records plus what is needed to report on it.
pub struct OpenTrace {
    /// The records, in time order.
    pub records: Checked<AnySource>,
    /// The file, for messages.
    pub name: String,
    /// The format used.
    pub format: Format,
}

impl OpenTrace {
    /// The next record; a trace error names the file (exit code 2).
    pub fn next_record(&mut self) -> anyhow::Result<Option<headroom_traces::Record>> {
        self.records
            .read()
            .with_context(|| format!("trace {}", self.name))
    }

    /// Tells on stderr how many bad rows were skipped.
    pub fn report_skipped(&self) {
        if self.records.skipped() > 0 {
            eprintln!(
                "{}: skipped {} bad rows (first: {})",
                self.name,
                self.records.skipped(),
                self.records.first_skipped().unwrap_or("")
            );
        }
    }
}

/// Opens `input.trace` with the input flags.
pub fn open_trace(input: &TraceInput) -> anyhow::Result<OpenTrace> {
    let name = input.trace.display().to_string();
    let format = input
        .format
        .as_deref()
        .map(Format::parse)
        .transpose()
        .map_err(|e| InputError(format!("--format: {e}")))?;
    let sort_window_ns = input
        .sort_window
        .as_deref()
        .map(|d| {
            headroom_policy_span(d).map_err(|e| InputError(format!("--sort-window {d:?}: {e}")))
        })
        .transpose()?;
    let file = File::open(&input.trace)
        .map_err(|e| InputError(format!("cannot open trace {name}: {e}")))?;
    let file_name = input
        .trace
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let opened = headroom_traces::open_file(file, &file_name, format, &input.trace_opts)
        .map_err(|e: TraceError| anyhow::Error::new(e).context(format!("trace {name}")))?;
    let options = CheckOptions {
        skip_bad_rows: input.skip_bad_rows,
        sort_window_ns,
    };
    Ok(OpenTrace {
        records: Checked::new(opened.source, options),
        name,
        format: opened.format,
    })
}

fn headroom_policy_span(text: &str) -> Result<u64, String> {
    headroom_sim::Span::parse(text)
        .map(|s| s.as_nanos())
        .map_err(|e| e.to_string())
}

/// `trace convert`: any reader to Headroom's trace CSV (or, for an `--out`
/// ending in `.parquet`, a Parquet trace of the same columns), streamed into
/// a temporary file beside `--out` and renamed into place only when the
/// whole trace has been read (a bad row leaves nothing behind).
fn convert(args: TraceConvertArgs) -> anyhow::Result<ExitCode> {
    let staged = output_file("--out", &args.out)?;
    let mut trace = open_trace(&args.input)?;
    let name = args
        .out
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let result = (|| -> anyhow::Result<u64> {
        create_parent("--out", &args.out)?;
        let tmp = staged.write_path();
        let file = File::create(tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let rows = if name.to_ascii_lowercase().ends_with(".parquet") {
            convert_parquet(&mut trace, &mut out)?
        } else {
            let mut writer = CsvWriter::new(&mut out)?;
            let mut rows = 0u64;
            while let Some(r) = trace.next_record()? {
                writer.write(&r, trace.records.names())?;
                rows += 1;
            }
            writer.finish()?;
            rows
        };
        staged.sync(&out.into_inner().map_err(|e| e.into_error())?)?;
        staged
            .commit()
            .with_context(|| format!("cannot move {} into place", args.out.display()))?;
        Ok(rows)
    })();
    let rows = result.inspect_err(|_| staged.abandon())?;
    trace.report_skipped();
    eprintln!(
        "{}: {} rows ({}) -> {}",
        trace.name,
        rows,
        trace.format.name(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Streams `trace` into a Parquet trace; returns the row count.
#[cfg(feature = "parquet")]
fn convert_parquet(trace: &mut OpenTrace, out: impl std::io::Write) -> anyhow::Result<u64> {
    let mut writer = headroom_traces::format::parquet::ParquetWriter::new(out)?;
    let mut rows = 0u64;
    while let Some(r) = trace.next_record()? {
        writer.write(&r, trace.records.names())?;
        rows += 1;
    }
    writer.finish(trace.records.names())?;
    Ok(rows)
}

#[cfg(not(feature = "parquet"))]
fn convert_parquet(_: &mut OpenTrace, _: impl std::io::Write) -> anyhow::Result<u64> {
    Err(InputError(
        "--out *.parquet: this headroom was built without the `parquet` feature; rebuild with \
         default features or write a .csv"
            .into(),
    )
    .into())
}
