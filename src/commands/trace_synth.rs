//! `headroom trace synth`: a synthetic trace (Headroom trace CSV) of a
//! scenario's workload, streamed into a temporary file and renamed into
//! place when complete.

use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;

use anyhow::Context;
use headroom_models::engine::Synth;
use headroom_traces::{CsvWriter, Op, Row};

use crate::InputError;
use crate::cli::TraceSynthArgs;
use crate::output::{create_parent, output_file};

/// Writes the requests of one replication of the scenario.
pub fn run(args: TraceSynthArgs) -> anyhow::Result<ExitCode> {
    let mut sets = args.sets.clone();
    if let Some(seed) = args.seed {
        sets.push(format!("run.seed={seed}"));
    }
    let staged = output_file("--out", &args.out)?;
    let loaded = headroom_models::load(&args.scenario, &sets)?;
    let plan = &loaded.plan;
    if matches!(
        plan.workload.arrivals,
        headroom_models::plan::ArrivalPlan::Closed { .. }
    ) {
        return Err(InputError(format!(
            "{}: `workload.arrivals` is a closed workload, whose requests are sent as the \
             system answers them: `trace synth` draws arrivals without the system, so it has \
             none to write (run the scenario, or give it an open process such as poisson)",
            args.scenario.display()
        ))
        .into());
    }
    if plan.workload.session.is_some() {
        return Err(InputError(format!(
            "{}: `workload.session` makes each arrival a session, whose later requests are \
             sent as the system answers the earlier ones: `trace synth` draws arrivals without \
             the system, so it cannot write them (run the scenario, or remove the session \
             table to write one request per arrival)",
            args.scenario.display()
        ))
        .into());
    }
    let result = (|| -> anyhow::Result<u64> {
        create_parent("--out", &args.out)?;
        let tmp = staged.write_path();
        let file = File::create(tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        let mut writer = CsvWriter::new(BufWriter::with_capacity(1 << 16, file))?;
        let mut rows = 0u64;
        let mut key_buf = [0u8; 20];
        let mut client_buf = [0u8; 20];
        for request in Synth::new(plan, args.replication) {
            let r = request?;
            writer.write_row(&Row {
                t_ns: r.at.as_nanos(),
                key: itoa(r.key, &mut key_buf),
                op: if r.write { Op::Write } else { Op::Read },
                size_bytes: Some(r.size_bytes),
                client: Some(itoa(r.client, &mut client_buf)),
                region: Some(&plan.network.regions[r.region.index()].name),
                route: Some(&plan.services[r.entry.index()].name),
                status: None,
                latency_ns: None,
            })?;
            rows += 1;
        }
        staged.sync(&writer.finish()?.into_inner().map_err(|e| e.into_error())?)?;
        staged
            .commit()
            .with_context(|| format!("cannot move {} into place", args.out.display()))?;
        Ok(rows)
    })();
    let rows = result.inspect_err(|_| staged.abandon())?;
    eprintln!(
        "{}: replication {} (seed {}), {} requests over {} -> {}",
        loaded.path.display(),
        args.replication,
        plan.run.seed,
        rows,
        plan.run.duration,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `value` in decimal.
fn itoa(value: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    let mut v = value;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("ASCII digits")
}
