//! `headroom plot`: PNG and SVG charts of a finished run or sweep.

use std::path::Path;
use std::process::ExitCode;

use crate::InputError;
use crate::cli::PlotArgs;
use crate::commands::merge::read_part;
use crate::planner::analysis::Analysis;
use crate::planner::table::Table;
use crate::plot::charts::{PlotData, charts};

/// Draws every chart the folder's results support.
pub fn run(args: PlotArgs) -> anyhow::Result<ExitCode> {
    let out = args.out.clone().unwrap_or_else(|| args.dir.clone());
    plot_dir(&args.dir, &out, args.quiet)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the run or sweep in `dir` and writes its charts into `out`;
/// returns the files written.
pub fn plot_dir(dir: &Path, out: &Path, quiet: bool) -> anyhow::Result<Vec<String>> {
    crate::output::check_out_dir(out)?;
    let manifest = dir.join("manifest.json");
    let text = std::fs::read(&manifest).map_err(|e| {
        InputError(format!(
            "{}: cannot read ({e}); give a folder written by `headroom run` or `headroom sweep`",
            manifest.display()
        ))
    })?;
    let json: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| InputError(format!("{}: not JSON ({e})", manifest.display())))?;
    let title = json["scenario_file"]
        .as_str()
        .and_then(|f| Path::new(f).file_name())
        .map_or_else(
            || "headroom".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
    // `run` and `replay` write a run's manifest (`"command": "run"`);
    // `sweep` and `search` a sweep's.
    if json["command"] != "run" && json["command"] != "sweep" {
        return Err(InputError(format!(
            "{}: `command` = {}: expected \"run\" or \"sweep\"; give a folder written by `headroom run` or `headroom sweep`",
            manifest.display(),
            json["command"]
        ))
        .into());
    }
    let written = if json["command"] == "sweep" {
        let part = read_part(dir)?;
        if let Some(shard) = part.manifest.shard {
            return Err(InputError(format!(
                "{}: holds shard {shard} only; merge the shards first",
                dir.display()
            ))
            .into());
        }
        let analysis = Analysis::new(&part, part.manifest.identity.slo.clone());
        let data = sweep_data(&analysis, title);
        draw_all(&data, out, quiet)?
    } else {
        let runs = read_any(dir, "runs.csv")?
            .ok_or_else(|| InputError(format!("{}: no runs.csv", dir.display())))?;
        let timeseries = read_any(dir, "timeseries.csv")?
            .ok_or_else(|| InputError(format!("{}: no timeseries.csv", dir.display())))?;
        let service_series = read_any(dir, "services_timeseries.csv")?;
        let shard_series = read_any(dir, "shards_timeseries.csv")?;
        let shards = read_any(dir, "shards.csv")?;
        let regions = read_any(dir, "regions.csv")?;
        let edges = read_any(dir, "edges.csv")?;
        let region_series = read_any(dir, "regions_timeseries.csv")?;
        let deployment_series = read_any(dir, "deployments_timeseries.csv")?;
        let edge_series = read_any(dir, "edges_timeseries.csv")?;
        let cache_series = read_any(dir, "caches_timeseries.csv")?;
        let data = PlotData {
            title,
            runs: &runs,
            timeseries: &timeseries,
            focus: 0,
            focus_label: "all replications".into(),
            sweep: None,
            shards: shards.as_ref(),
            regions: regions.as_ref(),
            edges: edges.as_ref(),
            slo_p99_ms: run_slo_p99_ms(&json),
            service_series: service_series.as_ref(),
            region_series: region_series.as_ref(),
            deployment_series: deployment_series.as_ref(),
            edge_series: edge_series.as_ref(),
            shard_series: shard_series.as_ref(),
            cache_series: cache_series.as_ref(),
        };
        draw_all(&data, out, quiet)?
    };
    Ok(written)
}

/// Plot data for a sweep: time series, cache tiers and shards of the
/// recommended point (point 0 without one).
pub fn sweep_data<'a>(analysis: &'a Analysis<'a>, title: String) -> PlotData<'a> {
    let (focus, focus_label) = match analysis.ranking.best() {
        Some(i) => {
            let p = analysis.points.points[i].point;
            (p, format!("recommended point {p}"))
        }
        None => (0, "point 0".into()),
    };
    PlotData {
        title,
        runs: &analysis.part.runs,
        timeseries: &analysis.part.timeseries,
        focus,
        focus_label,
        sweep: Some(analysis),
        shards: (!analysis.part.manifest.shards_columns.is_empty())
            .then_some(&analysis.part.shards),
        regions: (!analysis.part.manifest.regions_columns.is_empty())
            .then_some(&analysis.part.regions),
        edges: (!analysis.part.manifest.edges_columns.is_empty()).then_some(&analysis.part.edges),
        slo_p99_ms: analysis.slo.p99_ms,
        service_series: (!analysis.part.manifest.service_series_columns.is_empty())
            .then_some(&analysis.part.service_series),
        region_series: (!analysis.part.manifest.region_series_columns.is_empty())
            .then_some(&analysis.part.region_series),
        deployment_series: (!analysis.part.manifest.deployment_series_columns.is_empty())
            .then_some(&analysis.part.deployment_series),
        edge_series: (!analysis.part.manifest.edge_series_columns.is_empty())
            .then_some(&analysis.part.edge_series),
        shard_series: (!analysis.part.manifest.shard_series_columns.is_empty())
            .then_some(&analysis.part.shard_series),
        cache_series: (!analysis.part.manifest.cache_series_columns.is_empty())
            .then_some(&analysis.part.cache_series),
    }
}

fn draw_all(data: &PlotData<'_>, out: &Path, quiet: bool) -> anyhow::Result<Vec<String>> {
    let (charts, skipped) = charts(data);
    // A folder where a chart goes could not be replaced: say so before any
    // chart is written.
    if let Some(path) = charts
        .iter()
        .flat_map(|c| ["png", "svg"].map(|ext| out.join(format!("{}.{ext}", c.name))))
        .find(|path| path.is_dir())
    {
        return Err(InputError(format!(
            "{}: is a folder where a chart goes; remove it or give another --out; nothing written",
            path.display()
        ))
        .into());
    }
    let mut written = Vec::new();
    for chart in &charts {
        written.extend(crate::plot::write(chart, out)?);
    }
    if !quiet {
        for why in skipped {
            eprintln!("skipped: {why}");
        }
        println!(
            "wrote {} plots ({} files) to {}",
            charts.len(),
            written.len(),
            out.display()
        );
    }
    Ok(written)
}

/// The p99 objective of the resolved scenario a run's manifest records, in
/// ms (`None` without one: the chart then draws no objective line).
fn run_slo_p99_ms(manifest: &serde_json::Value) -> Option<f64> {
    let text = manifest["scenario"]["slo"]["p99"].as_str()?;
    let span = headroom_sim::Span::parse(text).ok()?;
    Some(span.as_nanos() as f64 / 1e6)
}

/// Reads `dir/name` as a CSV table if it exists.
fn read_any(dir: &Path, name: &str) -> anyhow::Result<Option<Table>> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    // A table that does not parse was edited after it was written: the
    // folder is bad input, as `merge` and `recommend` say.
    Table::from_csv_any(&bytes, &path.display().to_string())
        .map(Some)
        .map_err(|e| InputError(format!("{e:#}")).into())
}
