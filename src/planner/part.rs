//! A sweep's raw results and their manifest, as one process (the whole sweep
//! or one shard) produces them, and merging such parts back into one sweep.
//!
//! A part is `runs`, `timeseries`, `services` and (for a scenario with
//! datastores) `shards` tables plus a [`Manifest`] that says
//! which sweep they belong to (`sweep_id`, a digest of everything that
//! determines the results) and which shard they are. The unsharded sweep
//! goes through exactly the same path as `headroom merge`: its one part is
//! rendered to bytes, parsed back and merged, so both produce identical
//! files by construction.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use headroom_models::report::{
    BILL_COLUMNS, Bottleneck, CACHE_TIMESERIES_COLUMNS, Cell, ColdCache, DEPLOYMENT_COLUMNS,
    DEPLOYMENT_TIMESERIES_COLUMNS, EDGE_COLUMNS, EDGE_TIMESERIES_COLUMNS, LATENCY_BATCHES,
    LATENCY_QUANTILES, Pooled, REGION_COLUMNS, REGION_TIMESERIES_COLUMNS, SERVICE_COLUMNS,
    SERVICE_TIMESERIES_COLUMNS, SHARD_COLUMNS, SHARD_TIMESERIES_COLUMNS, short_run_text, spans_of,
};
use headroom_models::sweep::SweepMode;
use headroom_sim::stats::Relaxation;

use crate::InputError;
use crate::planner::exec::{
    CACHE_SERIES_KINDS, DEPLOYMENT_SERIES_KINDS, EDGE_SERIES_KINDS, PointRuns, REGION_SERIES_KINDS,
    Record, Replications, SHARD_SERIES_KINDS, Stop, pooled,
};
use crate::planner::format::Formats;
use crate::planner::points::RUN_KEY_COLUMNS;
use crate::planner::shard::Shard;
use crate::planner::slo::Slo;
use crate::planner::table::{Column, Kind, Row, Table};

/// Everything that determines a sweep's results; its digest is the
/// `sweep_id` shards must share to be merged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// `headroom` version.
    pub headroom_version: String,
    /// Git commit of the binary, when known.
    pub git_sha: Option<String>,
    /// Root seed.
    pub seed: u64,
    /// How points were chosen.
    pub mode: SweepMode,
    /// Parameter paths, in column order.
    pub params: Vec<String>,
    /// Each point's values as inline TOML, in parameter order.
    pub points: Vec<Vec<String>>,
    /// The replication rule.
    pub replications: Replications,
    /// The warm-up rule (`"5m"`, or `"auto"` for MSER-5).
    pub warmup: String,
    /// Objectives of the recommendation.
    pub slo: Slo,
    /// Table formats of the outputs.
    pub format: Formats,
    /// Whether the sweep writes `services_timeseries` (`--service-timeseries`;
    /// absent when not, so earlier sweeps keep their digest).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub service_timeseries: bool,
    /// Whether it writes `shards_timeseries` (`--shard-timeseries`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shard_timeseries: bool,
    /// Whether it writes `caches_timeseries` (`--cache-timeseries`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cache_timeseries: bool,
    /// Whether it writes `regions_timeseries` (`--region-timeseries`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub region_timeseries: bool,
    /// Whether it writes `deployments_timeseries`
    /// (`--deployment-timeseries`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deployment_timeseries: bool,
    /// Whether it writes `edges_timeseries` (`--edge-timeseries`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edge_timeseries: bool,
    /// The resolved base scenario (defaults filled in, `--set`s applied).
    pub scenario: serde_json::Value,
}

impl Identity {
    /// Records which per-component time series the sweep writes.
    pub fn set_series(&mut self, series: crate::planner::exec::SeriesWanted) {
        self.service_timeseries = series.services;
        self.shard_timeseries = series.shards;
        self.cache_timeseries = series.caches;
        self.region_timeseries = series.regions;
        self.deployment_timeseries = series.deployments;
        self.edge_timeseries = series.edges;
    }

    /// The SHA-256 of the identity's JSON, hex.
    pub fn digest(&self) -> anyhow::Result<String> {
        let json = serde_json::to_vec(self).context("cannot digest the sweep")?;
        let hash = Sha256::digest(&json);
        Ok(hash.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// How one point's replications went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointInfo {
    /// 0-based point index.
    pub point: usize,
    /// Replications kept.
    pub replications: usize,
    /// Why it stopped adding replications.
    pub stop: Stop,
    /// Per replication: simulated seconds excluded as warm-up.
    pub warmup_s: Vec<f64>,
    /// Why the last replication failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The latency quantiles of the replications pooled (their histograms
    /// merged), milliseconds by `runs` column (`null`: nothing answered):
    /// the centres of those quantiles' intervals in `points.csv` and the
    /// SLO verdicts. Absent when a replication failed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pooled_ms: BTreeMap<String, Option<f64>>,
    /// How long the replications' latency stays correlated, from their
    /// batch means ([`crate::planner::exec::relaxation`]): `None` with one
    /// replication, a failed one, nothing to measure, or in a folder
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relaxation: Option<RelaxInfo>,
    /// The queue that remembers longest by the heavy-traffic approximation
    /// at the load the replications measured
    /// ([`crate::planner::exec::bottleneck`]): `None` with a failed
    /// replication, a scenario with a trigger, or in a folder written
    /// before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bottleneck: Option<Bottleneck>,
    /// The caches still warming over the measured window
    /// ([`crate::planner::exec::cold_caches`]): empty when none was, the
    /// load was not steady, or in a folder written before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cold_caches: Vec<ColdCache>,
}

/// What [`PointInfo::relaxation`] records: enough to say how many
/// relaxation times a replication spanned.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaxInfo {
    /// Pooled lag-1 correlation of the detrended batch means.
    pub lag1: f64,
    /// Adjacent pairs it was pooled from.
    pub pairs: usize,
    /// A batch's length, seconds (the measured window is
    /// [`LATENCY_BATCHES`] of them).
    pub batch_s: f64,
}

impl RelaxInfo {
    /// The measurement, in full.
    pub fn relaxation(&self) -> Relaxation {
        Relaxation::from_lag1(self.lag1, self.pairs, self.batch_s, LATENCY_BATCHES)
    }
}

impl PointInfo {
    /// Relaxation times a replication spanned, by the fewer of the batch
    /// means' measurement and the bottleneck's approximation
    /// ([`headroom_models::report::spans_of`]).
    pub fn spans(&self) -> Option<f64> {
        spans_of(
            self.relaxation.map(|r| r.relaxation()).as_ref(),
            self.bottleneck.as_ref(),
        )
    }

    /// The warning `summary.md` gives for the point, if its replications
    /// were short ([`headroom_models::report::short_run_text`]).
    pub fn warning(&self) -> Option<String> {
        short_run_text(
            self.relaxation.map(|r| r.relaxation()).as_ref(),
            self.bottleneck.as_ref(),
        )
    }

    /// The pooled quantiles, if the point has them.
    pub fn pooled(&self) -> Option<Pooled> {
        if self.pooled_ms.is_empty() {
            return None;
        }
        let ms = LATENCY_QUANTILES.map(|(name, _)| {
            self.pooled_ms
                .get(name)
                .copied()
                .flatten()
                .unwrap_or(f64::NAN)
        });
        Some(Pooled { ms })
    }
}

/// [`PointInfo::relaxation`] of a point's records.
fn relaxation_info(records: &[Record]) -> Option<RelaxInfo> {
    let r = crate::planner::exec::relaxation(records)?;
    Some(RelaxInfo {
        lag1: r.lag1,
        pairs: r.pairs,
        batch_s: r.width,
    })
}

/// [`PointInfo::pooled_ms`] of `pooled`.
fn pooled_ms(pooled: Option<Pooled>) -> BTreeMap<String, Option<f64>> {
    pooled.map_or_else(BTreeMap::new, |p| {
        LATENCY_QUANTILES
            .iter()
            .zip(p.ms)
            .map(|(&(name, _), x)| (name.to_owned(), x.is_finite().then_some(x)))
            .collect()
    })
}

/// `manifest.json` of a sweep or of one shard of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `"sweep"`.
    pub command: String,
    /// The scenario file as given on the command line.
    pub scenario_file: String,
    /// Digest of [`Identity`].
    pub sweep_id: String,
    /// The shard these files hold; absent for a whole sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Random-number generator and stream derivation.
    pub prng: String,
    /// `runs` columns with their kinds.
    pub runs_columns: Vec<Column>,
    /// `timeseries` columns with their kinds.
    pub timeseries_columns: Vec<Column>,
    /// `services` columns with their kinds (empty in a folder written
    /// before sweeps kept the per-service table: it has no such file).
    #[serde(default)]
    pub services_columns: Vec<Column>,
    /// `services_timeseries` columns with their kinds (empty in a folder
    /// written before sweeps kept the per-service time series).
    #[serde(default)]
    pub service_series_columns: Vec<Column>,
    /// `shards` columns with their kinds (empty for a scenario without
    /// datastores, and in a folder written before sweeps kept the
    /// per-shard table: it has no such file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards_columns: Vec<Column>,
    /// `shards_timeseries` columns with their kinds (empty unless the
    /// sweep writes it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shard_series_columns: Vec<Column>,
    /// `regions` columns with their kinds (empty for a scenario with fewer
    /// than two regions, and in a folder written before sweeps kept the
    /// per-region table).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions_columns: Vec<Column>,
    /// `deployments` columns with their kinds (empty for a scenario with
    /// fewer than two regions, and in a folder written before sweeps kept
    /// the per-deployment table).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments_columns: Vec<Column>,
    /// `edges` columns with their kinds (empty in a folder written before
    /// sweeps kept the per-edge table).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edges_columns: Vec<Column>,
    /// `bill` columns with their kinds (empty for a scenario without
    /// `[costs]`, and in a folder written before sweeps kept the bill).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bill_columns: Vec<Column>,
    /// `caches_timeseries` columns with their kinds (empty unless the
    /// sweep writes it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_series_columns: Vec<Column>,
    /// `regions_timeseries` columns with their kinds (empty unless the
    /// sweep writes it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub region_series_columns: Vec<Column>,
    /// `deployments_timeseries` columns with their kinds (empty unless the
    /// sweep writes it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployment_series_columns: Vec<Column>,
    /// `edges_timeseries` columns with their kinds (empty unless the sweep
    /// writes it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edge_series_columns: Vec<Column>,
    /// Whether the metric kinds come from a finished replication (a part
    /// whose every replication failed only knows the names).
    pub kinds_known: bool,
    /// The points this part holds, by index.
    pub point_runs: Vec<PointInfo>,
    /// Files written beside this manifest.
    pub files: Vec<String>,
    /// What determines the results.
    pub identity: Identity,
}

/// One process's results: the manifest and its two tables.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// What and which share.
    pub manifest: Manifest,
    /// One row per (point, replication).
    pub runs: Table,
    /// One row per (point, replication, interval).
    pub timeseries: Table,
    /// One row per (point, replication, service).
    pub services: Table,
    /// One row per (point, replication, interval, service).
    pub service_series: Table,
    /// One row per (point, replication, store, copy, shard).
    pub shards: Table,
    /// One row per (point, replication, interval, store, copy, shard).
    pub shard_series: Table,
    /// One row per (point, replication, client region).
    pub regions: Table,
    /// One row per (point, replication, service, region it runs in).
    pub deployments: Table,
    /// One row per (point, replication, call edge).
    pub edges: Table,
    /// One row per (point, replication, priced item).
    pub bill: Table,
    /// One row per (point, replication, interval, cache).
    pub cache_series: Table,
    /// One row per (point, replication, interval, client region).
    pub region_series: Table,
    /// One row per (point, replication, interval, deployment).
    pub deployment_series: Table,
    /// One row per (point, replication, interval, call edge).
    pub edge_series: Table,
}

/// Inputs to [`Part::build`] besides the results.
pub struct PartSpec<'a> {
    /// The sweep's identity.
    pub identity: Identity,
    /// The scenario file as given.
    pub scenario_file: String,
    /// The shard, or `None` for the whole sweep.
    pub shard: Option<Shard>,
    /// Metric column names, in order.
    pub metric_names: &'a [String],
    /// `timeseries` column names, in order.
    pub timeseries_names: &'a [&'a str],
    /// Parameter cells per point (all points of the sweep).
    pub param_cells: &'a [Vec<String>],
    /// Parameter column kinds.
    pub param_kinds: &'a [Kind],
}

impl Part {
    /// Assembles the results of the points `ids` (global indices, in order;
    /// `runs[i]` belongs to `ids[i]`).
    /// The results are taken by value: each record's time series is freed
    /// once its rows are in the part, so a large sweep does not hold both.
    pub fn build(spec: PartSpec<'_>, ids: &[usize], runs: Vec<PointRuns>) -> anyhow::Result<Part> {
        let id = &spec.identity;
        let sweep_id = id.digest()?;
        let first_ok = runs
            .iter()
            .flat_map(|p| &p.records)
            .find_map(|r| r.cells.as_ref().ok());
        let kinds_known = first_ok.is_some();
        let metric_kinds: Vec<Kind> = match first_ok {
            Some(cells) => cells.iter().map(Kind::of).collect(),
            None => vec![Kind::Float; spec.metric_names.len()],
        };
        if metric_kinds.len() != spec.metric_names.len() {
            bail!(
                "the engine produced {} metric cells for {} columns",
                metric_kinds.len(),
                spec.metric_names.len()
            );
        }
        let mut runs_columns: Vec<Column> = RUN_KEY_COLUMNS
            .iter()
            .map(|n| Column::new(*n, Kind::Int))
            .collect();
        for (path, kind) in id.params.iter().zip(spec.param_kinds) {
            runs_columns.push(Column::new(path.clone(), *kind));
        }
        for (name, kind) in spec.metric_names.iter().zip(&metric_kinds) {
            runs_columns.push(Column::new(name.clone(), *kind));
        }
        let records = || runs.iter().flat_map(|p| &p.records);
        let timeseries_columns = keyed_columns(
            spec.timeseries_names,
            records().map(|r| &r.timeseries),
            |_| Kind::Float,
        );
        let services_columns =
            keyed_columns(&SERVICE_COLUMNS, records().map(|r| &r.services), |i| {
                if i == 2 { Kind::Str } else { Kind::Float }
            });
        let service_series_columns = if id.service_timeseries {
            keyed_columns(
                &SERVICE_TIMESERIES_COLUMNS,
                records().map(|r| &r.series.services),
                |i| if i == 3 { Kind::Str } else { Kind::Float },
            )
        } else {
            Vec::new()
        };
        // These are typed the same whatever the rows hold.
        let typed = |wanted: bool, names: &[&str], kinds: &[Kind]| -> Vec<Column> {
            let kinds = [Kind::Int, Kind::Int].iter().chain(kinds);
            let columns = names.iter().zip(kinds).map(|(n, k)| Column::new(*n, *k));
            if wanted {
                columns.collect()
            } else {
                Vec::new()
            }
        };
        let shard_series_columns = typed(
            id.shard_timeseries,
            &SHARD_TIMESERIES_COLUMNS,
            &SHARD_SERIES_KINDS,
        );
        let cache_series_columns = typed(
            id.cache_timeseries,
            &CACHE_TIMESERIES_COLUMNS,
            &CACHE_SERIES_KINDS,
        );
        let region_series_columns = typed(
            id.region_timeseries,
            &REGION_TIMESERIES_COLUMNS,
            &REGION_SERIES_KINDS,
        );
        let deployment_series_columns = typed(
            id.deployment_timeseries,
            &DEPLOYMENT_TIMESERIES_COLUMNS,
            &DEPLOYMENT_SERIES_KINDS,
        );
        let edge_series_columns = typed(
            id.edge_timeseries,
            &EDGE_TIMESERIES_COLUMNS,
            &EDGE_SERIES_KINDS,
        );
        let shards_columns = if has_datastores(&id.scenario) {
            keyed_columns(&SHARD_COLUMNS, records().map(|r| &r.shards), |i| match i {
                2 | 3 => Kind::Str,
                4..=7 => Kind::Int,
                _ => Kind::Float,
            })
        } else {
            Vec::new()
        };
        let regions_columns = if has_regions(&id.scenario) {
            keyed_columns(
                &REGION_COLUMNS,
                records().map(|r| &r.regions),
                |i| match i {
                    2 => Kind::Str,
                    3..=9 | 11 => Kind::Int,
                    _ => Kind::Float,
                },
            )
        } else {
            Vec::new()
        };
        let deployments_columns = if has_regions(&id.scenario) {
            keyed_columns(
                &DEPLOYMENT_COLUMNS,
                records().map(|r| &r.deployments),
                |i| {
                    if i == 2 || i == 3 {
                        Kind::Str
                    } else {
                        Kind::Float
                    }
                },
            )
        } else {
            Vec::new()
        };
        let edges_columns =
            keyed_columns(&EDGE_COLUMNS, records().map(|r| &r.edges), |i| match i {
                2 | 3 => Kind::Str,
                4..=14 => Kind::Int,
                _ => Kind::Float,
            });
        let bill_columns = if has_costs(&id.scenario) {
            keyed_columns(&BILL_COLUMNS, records().map(|r| &r.bill), |i| match i {
                2..=5 => Kind::Str,
                _ => Kind::Float,
            })
        } else {
            Vec::new()
        };
        let mut runs_table = Table::new(runs_columns.clone());
        let mut ts_table = Table::new(timeseries_columns.clone());
        let mut services_table = Table::new(services_columns.clone());
        let mut series_table = Table::new(service_series_columns.clone());
        let mut shards_table = Table::new(shards_columns.clone());
        let mut shard_series_table = Table::new(shard_series_columns.clone());
        let mut regions_table = Table::new(regions_columns.clone());
        let mut deployments_table = Table::new(deployments_columns.clone());
        let mut edges_table = Table::new(edges_columns.clone());
        let mut bill_table = Table::new(bill_columns.clone());
        let mut cache_series_table = Table::new(cache_series_columns.clone());
        let mut region_series_table = Table::new(region_series_columns.clone());
        let mut deployment_series_table = Table::new(deployment_series_columns.clone());
        let mut edge_series_table = Table::new(edge_series_columns.clone());
        let mut point_runs = Vec::with_capacity(ids.len());
        for (&point, mut pr) in ids.iter().zip(runs) {
            let mut error = None;
            let point_text = point.to_string();
            for (r, record) in pr.records.iter_mut().enumerate() {
                let r_text = r.to_string();
                let mut row = vec![point_text.clone(), r_text.clone(), id.seed.to_string()];
                row.extend(spec.param_cells[point].iter().cloned());
                match &record.cells {
                    Ok(cells) => row.extend(cells.iter().map(Cell::to_string)),
                    Err(e) => {
                        error = Some(format!("replication {r}: {e}"));
                        row.extend(spec.metric_names.iter().map(|_| "NaN".to_owned()));
                    }
                }
                runs_table.push_row(row);
                let keys = [point_text.as_str(), r_text.as_str()];
                let series = std::mem::take(&mut record.timeseries);
                for row in series.rows() {
                    ts_table.push_row(keys.into_iter().chain(row.iter()));
                }
                let services = std::mem::take(&mut record.services);
                for row in services.rows() {
                    services_table.push_row(keys.into_iter().chain(row.iter()));
                }
                let series = std::mem::take(&mut record.series);
                let shards = std::mem::take(&mut record.shards);
                let regions = std::mem::take(&mut record.regions);
                let deployments = std::mem::take(&mut record.deployments);
                let edges = std::mem::take(&mut record.edges);
                let bill = std::mem::take(&mut record.bill);
                for (all, table) in [
                    (&mut series_table, series.services),
                    (&mut shards_table, shards),
                    (&mut shard_series_table, series.shards),
                    (&mut regions_table, regions),
                    (&mut deployments_table, deployments),
                    (&mut edges_table, edges),
                    (&mut bill_table, bill),
                    (&mut cache_series_table, series.caches),
                    (&mut region_series_table, series.regions),
                    (&mut deployment_series_table, series.deployments),
                    (&mut edge_series_table, series.edges),
                ] {
                    for row in table.rows() {
                        all.push_row(keys.into_iter().chain(row.iter()));
                    }
                }
            }
            point_runs.push(PointInfo {
                point,
                replications: pr.records.len(),
                stop: pr.stop,
                warmup_s: pr.records.iter().map(|r| r.warmup_s).collect(),
                error,
                pooled_ms: pooled_ms(pooled(&pr.records)),
                relaxation: relaxation_info(&pr.records),
                bottleneck: crate::planner::exec::bottleneck(&pr.records),
                cold_caches: crate::planner::exec::cold_caches(&pr.records),
            });
        }
        let mut stems = vec!["runs", "timeseries", "services"];
        if id.service_timeseries {
            stems.push("services_timeseries");
        }
        if !shards_columns.is_empty() {
            stems.push("shards");
        }
        if id.shard_timeseries {
            stems.push("shards_timeseries");
        }
        if !regions_columns.is_empty() {
            stems.push("regions");
        }
        if !deployments_columns.is_empty() {
            stems.push("deployments");
        }
        stems.push("edges");
        if !bill_columns.is_empty() {
            stems.push("bill");
        }
        if id.cache_timeseries {
            stems.push("caches_timeseries");
        }
        if id.region_timeseries {
            stems.push("regions_timeseries");
        }
        if id.deployment_timeseries {
            stems.push("deployments_timeseries");
        }
        if id.edge_timeseries {
            stems.push("edges_timeseries");
        }
        let mut files: Vec<String> = stems
            .iter()
            .flat_map(|stem| id.format.iter().map(|f| f.file(stem)))
            .collect();
        files.push("manifest.json".into());
        Ok(Part {
            manifest: Manifest {
                command: "sweep".into(),
                scenario_file: spec.scenario_file,
                sweep_id,
                shard: spec.shard,
                prng: headroom_sim::rng::PRNG_DESCRIPTION.into(),
                runs_columns,
                timeseries_columns,
                services_columns,
                service_series_columns,
                shards_columns,
                shard_series_columns,
                regions_columns,
                deployments_columns,
                edges_columns,
                bill_columns,
                cache_series_columns,
                region_series_columns,
                deployment_series_columns,
                edge_series_columns,
                kinds_known,
                point_runs,
                files,
                identity: spec.identity,
            },
            runs: runs_table,
            timeseries: ts_table,
            services: services_table,
            service_series: series_table,
            shards: shards_table,
            shard_series: shard_series_table,
            regions: regions_table,
            deployments: deployments_table,
            edges: edges_table,
            bill: bill_table,
            cache_series: cache_series_table,
            region_series: region_series_table,
            deployment_series: deployment_series_table,
            edge_series: edge_series_table,
        })
    }

    /// The part's files: `runs`, `timeseries`, `services`,
    /// `services_timeseries` and `shards` when it has them, and
    /// `manifest.json`.
    pub fn to_files(&self) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let mut files = self.table_files()?;
        files.push(("manifest.json".into(), manifest_bytes(&self.manifest)?));
        Ok(files)
    }

    /// The part's tables in every format of the sweep, in a fixed order:
    /// `runs`, `timeseries`, then `services`, `services_timeseries` and
    /// `shards` when the manifest has their columns.
    pub fn table_files(&self) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let m = &self.manifest;
        let formats = &m.identity.format;
        let mut files = formats.write("runs", &self.runs)?;
        files.extend(formats.write("timeseries", &self.timeseries)?);
        for (stem, table, columns) in [
            ("services", &self.services, &m.services_columns),
            (
                "services_timeseries",
                &self.service_series,
                &m.service_series_columns,
            ),
            ("shards", &self.shards, &m.shards_columns),
            (
                "shards_timeseries",
                &self.shard_series,
                &m.shard_series_columns,
            ),
            ("regions", &self.regions, &m.regions_columns),
            ("deployments", &self.deployments, &m.deployments_columns),
            ("edges", &self.edges, &m.edges_columns),
            ("bill", &self.bill, &m.bill_columns),
            (
                "caches_timeseries",
                &self.cache_series,
                &m.cache_series_columns,
            ),
            (
                "regions_timeseries",
                &self.region_series,
                &m.region_series_columns,
            ),
            (
                "deployments_timeseries",
                &self.deployment_series,
                &m.deployment_series_columns,
            ),
            (
                "edges_timeseries",
                &self.edge_series,
                &m.edge_series_columns,
            ),
        ] {
            if !columns.is_empty() {
                files.extend(formats.write(stem, table)?);
            }
        }
        Ok(files)
    }

    /// Reads a part back from its files; `read(name)` returns a file's
    /// bytes and `dir` names the folder in errors.
    pub fn from_files(
        dir: &str,
        read: impl Fn(&str) -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<Part> {
        let bytes = read("manifest.json")?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            InputError(format!(
                "{dir}/manifest.json: not a sweep manifest ({}); give a folder as `headroom \
                 sweep` (or `merge`) wrote it",
                in_json_words(&e.to_string())
            ))
        })?;
        // Every format holds the same cells; read the first written.
        let format = manifest.identity.format.primary();
        let table = |stem: &str, columns: &[Column]| -> anyhow::Result<Table> {
            let name = format.file(stem);
            let bytes = read(&name)?;
            format
                .read(&bytes, columns.to_vec(), &format!("{dir}/{name}"))
                .map_err(|e| InputError(format!("{e:#}")).into())
        };
        let params = check_manifest(&manifest, &format!("{dir}/manifest.json"))?;
        let runs = table("runs", &manifest.runs_columns)?;
        let timeseries = table("timeseries", &manifest.timeseries_columns)?;
        let services = if manifest.services_columns.is_empty() {
            Table::new(Vec::new())
        } else {
            table("services", &manifest.services_columns)?
        };
        let service_series = if manifest.service_series_columns.is_empty() {
            Table::new(Vec::new())
        } else {
            table("services_timeseries", &manifest.service_series_columns)?
        };
        let optional = |stem: &str, columns: &[Column]| {
            if columns.is_empty() {
                Ok(Table::new(Vec::new()))
            } else {
                table(stem, columns)
            }
        };
        let shards = optional("shards", &manifest.shards_columns)?;
        let shard_series = optional("shards_timeseries", &manifest.shard_series_columns)?;
        let regions = optional("regions", &manifest.regions_columns)?;
        let deployments = optional("deployments", &manifest.deployments_columns)?;
        let edges = optional("edges", &manifest.edges_columns)?;
        let bill = optional("bill", &manifest.bill_columns)?;
        let cache_series = optional("caches_timeseries", &manifest.cache_series_columns)?;
        let region_series = optional("regions_timeseries", &manifest.region_series_columns)?;
        let deployment_series = optional(
            "deployments_timeseries",
            &manifest.deployment_series_columns,
        )?;
        let edge_series = optional("edges_timeseries", &manifest.edge_series_columns)?;
        let part = Part {
            manifest,
            runs,
            timeseries,
            services,
            service_series,
            shards,
            shard_series,
            regions,
            deployments,
            edges,
            bill,
            cache_series,
            region_series,
            deployment_series,
            edge_series,
        };
        part.check_rows(dir, format, &params)?;
        Ok(part)
    }

    /// Checks that the tables hold what the manifest says, cell by cell:
    /// one `runs` row per (point, replication) of `point_runs`, in that
    /// order, with the sweep's seed; every `timeseries` row belongs to one
    /// of those runs; every cell reads as its column's kind. The analysis
    /// indexes points by these cells, so a folder changed after it was
    /// written is refused here, not ranked.
    fn check_rows(
        &self,
        dir: &str,
        format: crate::planner::format::Format,
        params: &[Vec<String>],
    ) -> Result<(), InputError> {
        let m = &self.manifest;
        let runs_name = format!("{dir}/{}", format.file("runs"));
        let changed = "the folder was changed after the sweep wrote it; nothing written";
        let expected: Vec<(usize, usize)> = m
            .point_runs
            .iter()
            .flat_map(|p| (0..p.replications).map(move |r| (p.point, r)))
            .collect();
        if self.runs.len() != expected.len() {
            return Err(InputError(format!(
                "{runs_name}: {} rows, but manifest.json records {} runs ({} points); {changed}",
                self.runs.len(),
                expected.len(),
                m.point_runs.len()
            )));
        }
        let seed = m.identity.seed.to_string();
        let keys = RUN_KEY_COLUMNS.len();
        let first_metric = keys + m.identity.params.len();
        for (i, (row, &(point, replication))) in self.runs.rows().zip(&expected).enumerate() {
            check_cells(
                &self.runs.columns,
                row,
                (keys, first_metric),
                &runs_name,
                format,
                i,
            )?;
            let found = (&row[0], &row[1]);
            if found != (point.to_string().as_str(), replication.to_string().as_str()) {
                return Err(InputError(format!(
                    "{runs_name}: {}: point {}, replication {}, where manifest.json has point {point}, replication {replication} (each point's replications in order); {changed}",
                    row_label(format, i),
                    found.0,
                    found.1
                )));
            }
            if row[2] != *seed {
                return Err(InputError(format!(
                    "{runs_name}: {}: `seed` = {}, but the sweep's seed is {seed}; {changed}",
                    row_label(format, i),
                    &row[2]
                )));
            }
            if let Some(j) = (0..params[point].len()).find(|&j| row[keys + j] != params[point][j]) {
                return Err(InputError(format!(
                    "{runs_name}: {}, column `{}`: {:?}, but point {point}'s value is {:?}; {changed}",
                    row_label(format, i),
                    self.runs.columns[keys + j].name,
                    &row[keys + j],
                    params[point][j]
                )));
            }
        }
        // Time-series rows: each run's intervals together, runs in the
        // order of `runs`, times increasing within a run, and every run
        // that finished (its metrics are numbers, not the NaN of a failed
        // replication) with at least one interval.
        let ts_name = format!("{dir}/{}", format.file("timeseries"));
        // Moves `run` on to the run of a table's row `i` (rows of one run
        // together, runs in the order of `runs`); whether it moved.
        let follow = |run: &mut usize, row: Row<'_>, name: &str, i: usize| {
            // Both keys are checked as whole numbers; `expected` is sorted.
            let key = (
                row[0].parse::<usize>().unwrap_or(usize::MAX),
                row[1].parse::<usize>().unwrap_or(usize::MAX),
            );
            if expected.get(*run) == Some(&key) {
                return Ok(false);
            }
            match expected.binary_search(&key) {
                Ok(k) if k > *run => {
                    *run = k;
                    Ok(true)
                }
                _ => Err(InputError(format!(
                    "{name}: {}: point {}, replication {} is not a run manifest.json records, or comes out of order (runs in the order of runs.csv); {changed}",
                    row_label(format, i),
                    &row[0],
                    &row[1]
                ))),
            }
        };
        // The first run that finished but has no row in a table.
        let unfilled = |rows_of: &[usize]| {
            (0..expected.len()).find(|&k| {
                rows_of[k] == 0
                    && first_metric < self.runs.columns.len()
                    && self.runs.row(k)[first_metric] != *"NaN"
            })
        };
        let mut rows_of = vec![0usize; expected.len()];
        let mut run = 0;
        let mut last_t = f64::NEG_INFINITY;
        for (i, row) in self.timeseries.rows().enumerate() {
            check_cells(&self.timeseries.columns, row, (2, 2), &ts_name, format, i)?;
            if follow(&mut run, row, &ts_name, i)? {
                last_t = f64::NEG_INFINITY;
            }
            let t = crate::planner::table::number(&row[2]);
            if t.partial_cmp(&last_t) != Some(std::cmp::Ordering::Greater) {
                return Err(InputError(format!(
                    "{ts_name}: {}: `{}` = {} does not follow the run's previous interval ({last_t}); {changed}",
                    row_label(format, i),
                    self.timeseries.columns[2].name,
                    &row[2]
                )));
            }
            last_t = t;
            rows_of[run] += 1;
        }
        if let Some(k) = unfilled(&rows_of) {
            let (point, replication) = expected[k];
            return Err(InputError(format!(
                "{ts_name}: no interval of point {point}, replication {replication}, which finished; {changed}"
            )));
        }
        // Service rows, the per-service time series and shard rows: each
        // run's together, runs in the order of `runs`.
        for (stem, table, columns, keys, what) in [
            (
                "services",
                &self.services,
                &m.services_columns,
                (2, 3),
                "no service",
            ),
            (
                "services_timeseries",
                &self.service_series,
                &m.service_series_columns,
                (2, 4),
                "no service interval",
            ),
            (
                "shards",
                &self.shards,
                &m.shards_columns,
                (2, 5),
                "no shard",
            ),
            (
                "shards_timeseries",
                &self.shard_series,
                &m.shard_series_columns,
                (2, 6),
                "no shard interval",
            ),
            (
                "regions",
                &self.regions,
                &m.regions_columns,
                (2, 3),
                "no region",
            ),
            (
                "deployments",
                &self.deployments,
                &m.deployments_columns,
                (2, 4),
                "no deployment",
            ),
            ("edges", &self.edges, &m.edges_columns, (2, 4), "no edge"),
            ("bill", &self.bill, &m.bill_columns, (2, 6), "no bill line"),
            (
                "caches_timeseries",
                &self.cache_series,
                &m.cache_series_columns,
                (2, 5),
                "no cache interval",
            ),
            (
                "regions_timeseries",
                &self.region_series,
                &m.region_series_columns,
                (2, 4),
                "no region interval",
            ),
            (
                "deployments_timeseries",
                &self.deployment_series,
                &m.deployment_series_columns,
                (2, 5),
                "no deployment interval",
            ),
            (
                "edges_timeseries",
                &self.edge_series,
                &m.edge_series_columns,
                (2, 5),
                "no edge interval",
            ),
        ] {
            if columns.is_empty() {
                continue;
            }
            let name = format!("{dir}/{}", format.file(stem));
            let mut run = 0;
            let mut rows_of = vec![0usize; expected.len()];
            for (i, row) in table.rows().enumerate() {
                check_cells(&table.columns, row, keys, &name, format, i)?;
                follow(&mut run, row, &name, i)?;
                rows_of[run] += 1;
            }
            if let Some(k) = unfilled(&rows_of) {
                let (point, replication) = expected[k];
                return Err(InputError(format!(
                    "{name}: {what} of point {point}, replication {replication}, which finished; {changed}"
                )));
            }
        }
        Ok(())
    }
}

/// serde's words for a JSON file put in JSON's: an object, an array, a
/// whole number (not a map, a sequence, `struct Identity` or `u64`).
fn in_json_words(message: &str) -> String {
    headroom_policy::config::in_words(message)
        .replace("type: table", "type: object")
        .replace("a table", "an object")
}

/// Checks a manifest against itself: its `sweep_id` is the digest of its
/// identity (so nothing that determines the results was edited), and its
/// columns, points and shard fit that identity.
fn check_manifest(m: &Manifest, name: &str) -> Result<Vec<Vec<String>>, InputError> {
    let bad = |what: String| {
        Err(InputError(format!(
            "{name}: {what}; the file was changed after the sweep wrote it; nothing written"
        )))
    };
    if m.command != "sweep" {
        return bad(format!("`command` = {:?}, expected \"sweep\"", m.command));
    }
    let digest = m
        .identity
        .digest()
        .map_err(|e| InputError(format!("{name}: {e:#}")))?;
    let ours = (env!("CARGO_PKG_VERSION"), option_env!("HEADROOM_GIT_SHA"));
    let theirs = (
        m.identity.headroom_version.as_str(),
        m.identity.git_sha.as_deref(),
    );
    let version = |(v, sha): (&str, Option<&str>)| match sha {
        Some(sha) => format!("{v} ({})", short_id(sha)),
        None => v.to_owned(),
    };
    // Why a file that is internally consistent may still not be this
    // build's: another build wrote it.
    let why = if theirs == ours {
        "the file was changed after the sweep wrote it".to_owned()
    } else {
        format!(
            "the file was changed after the sweep wrote it, or headroom {} wrote it (this is {}): re-run the sweep with this build",
            version(theirs),
            version(ours)
        )
    };
    if m.sweep_id != digest {
        return Err(InputError(format!(
            "{name}: `sweep_id` ({}) is not the digest of the manifest's `identity` ({}): {why}; nothing written",
            short_id(&m.sweep_id),
            short_id(&digest),
        )));
    }
    if let Some(shard) = m.shard
        && Shard::new(shard.index, shard.count).is_none()
    {
        return bad(format!(
            "`shard` = {}/{}, expected K/N with 1 <= K <= N <= {}",
            shard.index,
            shard.count,
            crate::planner::shard::MAX_SHARDS
        ));
    }
    let id = &m.identity;
    fn names(cols: &[Column]) -> Vec<&str> {
        cols.iter().map(|c| c.name.as_str()).collect()
    }
    let runs = names(&m.runs_columns);
    let keys = RUN_KEY_COLUMNS.len();
    if runs.len() < keys + id.params.len()
        || runs[..keys] != RUN_KEY_COLUMNS
        || runs[keys..keys + id.params.len()]
            != id.params.iter().map(String::as_str).collect::<Vec<_>>()[..]
    {
        return bad(format!(
            "`runs_columns` do not start with {} and the parameters {:?}",
            RUN_KEY_COLUMNS.join(", "),
            id.params
        ));
    }
    for (field, given, ours) in [
        (
            "services_columns",
            &m.services_columns,
            &SERVICE_COLUMNS[..],
        ),
        (
            "service_series_columns",
            &m.service_series_columns,
            &SERVICE_TIMESERIES_COLUMNS[..],
        ),
        ("shards_columns", &m.shards_columns, &SHARD_COLUMNS[..]),
        (
            "shard_series_columns",
            &m.shard_series_columns,
            &SHARD_TIMESERIES_COLUMNS[..],
        ),
        ("regions_columns", &m.regions_columns, &REGION_COLUMNS[..]),
        (
            "deployments_columns",
            &m.deployments_columns,
            &DEPLOYMENT_COLUMNS[..],
        ),
        ("edges_columns", &m.edges_columns, &EDGE_COLUMNS[..]),
        ("bill_columns", &m.bill_columns, &BILL_COLUMNS[..]),
        (
            "cache_series_columns",
            &m.cache_series_columns,
            &CACHE_TIMESERIES_COLUMNS[..],
        ),
        (
            "region_series_columns",
            &m.region_series_columns,
            &REGION_TIMESERIES_COLUMNS[..],
        ),
        (
            "deployment_series_columns",
            &m.deployment_series_columns,
            &DEPLOYMENT_TIMESERIES_COLUMNS[..],
        ),
        (
            "edge_series_columns",
            &m.edge_series_columns,
            &EDGE_TIMESERIES_COLUMNS[..],
        ),
    ] {
        let given = names(given);
        if given.is_empty() || given == ours {
            continue;
        }
        let what = match given.iter().zip(ours).find(|(a, b)| **a != **b) {
            Some((given, ours)) => format!("column `{given}` where this build writes `{ours}`"),
            None => format!(
                "{} columns where this build writes {}",
                given.len(),
                ours.len()
            ),
        };
        return Err(InputError(format!(
            "{name}: `{field}` has {what}: {why}; nothing written"
        )));
    }
    let key_kinds_ok = m.runs_columns[..keys].iter().all(|c| c.kind == Kind::Int)
        && m.timeseries_columns.len() >= 2
        && m.timeseries_columns[..2]
            .iter()
            .all(|c| c.kind == Kind::Int)
        && names(&m.timeseries_columns)[..2] == RUN_KEY_COLUMNS[..2]
        && (m.services_columns.is_empty()
            || (m.services_columns[..2].iter().all(|c| c.kind == Kind::Int)
                && m.services_columns[2].kind == Kind::Str))
        && (m.service_series_columns.is_empty()
            || (m.service_series_columns[..2]
                .iter()
                .all(|c| c.kind == Kind::Int)
                && m.service_series_columns[3].kind == Kind::Str))
        && (m.shards_columns.is_empty()
            || (m.shards_columns[..2].iter().all(|c| c.kind == Kind::Int)
                && m.shards_columns[2..4].iter().all(|c| c.kind == Kind::Str)))
        && (m.regions_columns.is_empty()
            || (m.regions_columns[..2].iter().all(|c| c.kind == Kind::Int)
                && m.regions_columns[2].kind == Kind::Str))
        && (m.deployments_columns.is_empty()
            || (m.deployments_columns[..2]
                .iter()
                .all(|c| c.kind == Kind::Int)
                && m.deployments_columns[2..4]
                    .iter()
                    .all(|c| c.kind == Kind::Str)))
        && (m.edges_columns.is_empty()
            || (m.edges_columns[..2].iter().all(|c| c.kind == Kind::Int)
                && m.edges_columns[2..4].iter().all(|c| c.kind == Kind::Str)))
        && (m.bill_columns.is_empty()
            || (m.bill_columns[..2].iter().all(|c| c.kind == Kind::Int)
                && m.bill_columns[2..6].iter().all(|c| c.kind == Kind::Str)))
        && [
            &m.shard_series_columns,
            &m.cache_series_columns,
            &m.region_series_columns,
            &m.deployment_series_columns,
            &m.edge_series_columns,
        ]
        .iter()
        .all(|cols| cols.is_empty() || cols[..2].iter().all(|c| c.kind == Kind::Int));
    if !key_kinds_ok {
        return bad("the key columns (point, replication, seed) are not integer columns".into());
    }
    if let Some((i, p)) = id
        .points
        .iter()
        .enumerate()
        .find(|(_, p)| p.len() != id.params.len())
    {
        return bad(format!(
            "point {i} has {} values for {} parameters",
            p.len(),
            id.params.len()
        ));
    }
    // Each point's values as the sweep wrote them in `runs` (its cells),
    // and each parameter column's kind as the sweep chose it from them.
    let mut values: Vec<Vec<toml::Value>> = Vec::with_capacity(id.points.len());
    for (i, point) in id.points.iter().enumerate() {
        let mut row = Vec::with_capacity(point.len());
        for (path, text) in id.params.iter().zip(point) {
            let Ok(value) = crate::planner::recommendation::parse_inline(text) else {
                return bad(format!(
                    "point {i}: `{path}` = {text:?} is not a TOML value"
                ));
            };
            row.push(value);
        }
        values.push(row);
    }
    // (A search chose the kind from every level of the lattice, not only
    // the points it tried: the values must fit the kind.)
    for (j, column) in m.runs_columns[keys..keys + id.params.len()]
        .iter()
        .enumerate()
    {
        let fits = |v: &toml::Value| match column.kind {
            Kind::Int => v.is_integer(),
            Kind::Float => v.is_float(),
            Kind::Str => true,
            Kind::Flag => false,
        };
        if let Some(i) = values.iter().position(|p| !fits(&p[j])) {
            return bad(format!(
                "`runs_columns`: parameter `{}` is {:?}, but point {i}'s value {} is not",
                column.name, column.kind, id.points[i][j]
            ));
        }
    }
    // The engine writes numbers and flags only: a metric is never text.
    let metric = m.runs_columns[keys + id.params.len()..]
        .iter()
        .chain(&m.timeseries_columns[2..])
        .find(|c| c.kind == Kind::Str);
    if let Some(c) = metric {
        return bad(format!(
            "metric `{}` has kind text; metrics are numbers",
            c.name
        ));
    }
    let shard = m.shard.unwrap_or(Shard::ALL);
    let mut previous = None;
    for info in &m.point_runs {
        if info.point >= id.points.len() || previous.is_some_and(|p| info.point <= p) {
            return bad(format!(
                "`point_runs` has point {} (expected increasing points below {})",
                info.point,
                id.points.len()
            ));
        }
        if !shard.owns(info.point) {
            return bad(format!(
                "`point_runs` has point {}, not one of shard {shard}'s",
                info.point
            ));
        }
        if info.replications != info.warmup_s.len() {
            return bad(format!(
                "point {}: {} replications but {} warm-up values",
                info.point,
                info.replications,
                info.warmup_s.len()
            ));
        }
        for (name, &x) in &info.pooled_ms {
            if !LATENCY_QUANTILES.iter().any(|&(n, _)| n == name) {
                return bad(format!(
                    "point {}: `pooled_ms` has `{name}`, expected only {}",
                    info.point,
                    LATENCY_QUANTILES.map(|(n, _)| n).join(", ")
                ));
            }
            if let Some(x) = x
                && !(x >= 0.0 && x.is_finite())
            {
                return bad(format!(
                    "point {}: `pooled_ms.{name}` = {x}, expected a latency in ms (>= 0) or null",
                    info.point
                ));
            }
        }
        if let Some(r) = &info.relaxation
            && !(r.lag1.is_finite() && r.batch_s > 0.0 && r.batch_s.is_finite() && r.pairs > 0)
        {
            return bad(format!(
                "point {}: `relaxation` = {{ lag1 = {}, pairs = {}, batch_s = {} }}, expected a finite lag1, pairs > 0 and a batch length in s (> 0)",
                info.point, r.lag1, r.pairs, r.batch_s
            ));
        }
        if let Some(b) = &info.bottleneck
            && !b.is_valid()
        {
            return bad(format!(
                "point {}: `bottleneck` = {{ utilization = {}, workers = {}, hold_s = {}, time_s = {}, window_s = {} }}, expected a utilization in [0, 1], workers > 0, a hold in s (>= 0), a time in s (>= 0, null when infinite) and a window in s (> 0)",
                info.point, b.utilization, b.workers, b.hold_s, b.time_s, b.window_s
            ));
        }
        previous = Some(info.point);
    }
    Ok(values
        .iter()
        .map(|p| p.iter().map(headroom_models::sweep::cell).collect())
        .collect())
}

/// Checks that every cell of `row` is exactly as the sweep writes one of
/// its column's kind: keys (the first `keys` columns) and integer metrics
/// as `u64`s, floats in Rust's shortest round-trip form, flags as `0` or
/// `1`; a metric may also be `NaN` (a failed replication writes it in every
/// metric column). Columns from `keys` to `metrics` are the parameters,
/// checked against the identity's values instead.
fn check_cells(
    columns: &[Column],
    row: Row<'_>,
    (keys, metrics): (usize, usize),
    name: &str,
    format: crate::planner::format::Format,
    i: usize,
) -> Result<(), InputError> {
    let integer = |cell: &str| cell.parse::<u64>().is_ok_and(|n| n.to_string() == cell);
    for (c, (column, cell)) in columns.iter().zip(row.iter()).enumerate() {
        if (keys..metrics).contains(&c) {
            continue;
        }
        let ok = match column.kind {
            _ if c >= metrics && cell == "NaN" => true,
            Kind::Int => integer(cell),
            Kind::Float => cell.parse::<f64>().is_ok_and(|x| {
                crate::planner::table::float_cell(x) == *cell
                    && range_of(&column.name).is_none_or(|(range, _)| range.contains(&x))
            }),
            Kind::Flag => cell == "0" || cell == "1",
            Kind::Str => true,
        };
        if !ok {
            let expected = match column.kind {
                _ if c < keys => "a whole number >= 0",
                Kind::Float if let Some((_, words)) = range_of(&column.name) => words,
                Kind::Int => "a whole number >= 0 (or NaN)",
                Kind::Float => "a number as the sweep writes it (or NaN)",
                Kind::Flag => "0 or 1 (or NaN)",
                Kind::Str => unreachable!("any text is a string"),
            };
            return Err(InputError(format!(
                "{name}: {}, column `{}`: {cell:?}: expected {expected}; the folder was changed after the sweep wrote it; nothing written",
                row_label(format, i),
                column.name
            )));
        }
    }
    Ok(())
}

/// The values the metrics the ranking reads can take, and the words for
/// them: an availability is a fraction, a cost or a latency is not negative.
fn range_of(metric: &str) -> Option<(std::ops::RangeInclusive<f64>, &'static str)> {
    if metric == "availability" || metric == "worst_region_availability" {
        Some((
            0.0..=1.0,
            "a fraction from 0 to 1 as the sweep writes it (or NaN)",
        ))
    } else if metric.starts_with("cost_")
        || ((metric.starts_with("latency_") || metric.starts_with("worst_region_"))
            && metric.ends_with("_ms"))
    {
        Some((
            0.0..=f64::INFINITY,
            "a number >= 0 as the sweep writes it (or NaN)",
        ))
    } else {
        None
    }
}

/// Where data row `i` (0-based) is: a CSV line (after the header), or a
/// Parquet row.
fn row_label(format: crate::planner::format::Format, i: usize) -> String {
    match format {
        crate::planner::format::Format::Csv => format!("line {}", i + 2),
        crate::planner::format::Format::Parquet => format!("row {}", i + 1),
    }
}

/// `manifest.json` bytes: pretty JSON and a final newline.
pub fn manifest_bytes(manifest: &Manifest) -> anyhow::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(manifest).context("cannot render manifest.json")?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Merges parts (named by `names`, for errors) into the whole sweep: checks
/// they are shards of one sweep and that none is missing, then orders every
/// row by point and replication. The result has no shard.
pub fn merge(parts: Vec<Part>, names: &[String]) -> Result<Part, InputError> {
    let Some(first) = parts.first() else {
        return Err(InputError("merge: no folders given".into()));
    };
    let id = first.manifest.sweep_id.clone();
    for (part, name) in parts.iter().zip(names) {
        if part.manifest.sweep_id != id {
            return Err(InputError(format!(
                "{name}: belongs to sweep {} but {} belongs to sweep {}: these are not shards of one sweep (different scenario, seed, parameters, SLO, format or headroom version); nothing written",
                short_id(&part.manifest.sweep_id),
                names[0],
                short_id(&id)
            )));
        }
    }
    let count = first.manifest.shard.map_or(1, |s| s.count);
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    for (part, name) in parts.iter().zip(names) {
        let shard = part.manifest.shard.unwrap_or(Shard::ALL);
        if shard.count != count {
            return Err(InputError(format!(
                "{name}: shard {shard} but {} is shard {}: shards must come from one split; nothing written",
                names[0],
                first.manifest.shard.unwrap_or(Shard::ALL)
            )));
        }
        if let Some(other) = seen.insert(shard.index, name) {
            return Err(InputError(format!(
                "{name} and {other} are both shard {shard}; nothing written"
            )));
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|k| !seen.contains_key(k))
        .map(|k| k.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(InputError(format!(
            "incomplete sweep {}: shard{} {} of {count} missing (have {}); nothing written",
            short_id(&id),
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            seen.keys()
                .map(|k| format!("{k}/{count}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let n_points = first.manifest.identity.points.len();
    let mut point_runs: Vec<PointInfo> = parts
        .iter()
        .flat_map(|p| p.manifest.point_runs.iter().cloned())
        .collect();
    point_runs.sort_by_key(|p| p.point);
    if point_runs.len() != n_points || point_runs.iter().enumerate().any(|(i, p)| p.point != i) {
        return Err(InputError(format!(
            "sweep {}: the shards hold {} point records for {n_points} points; a shard folder was changed after it was written; nothing written",
            short_id(&id),
            point_runs.len()
        )));
    }
    let known = parts
        .iter()
        .find(|p| p.manifest.kinds_known)
        .unwrap_or(first);
    let mut manifest = known.manifest.clone();
    for (part, name) in parts.iter().zip(names) {
        let names_of = |cols: &[Column]| cols.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        if names_of(&part.manifest.runs_columns) != names_of(&manifest.runs_columns) {
            return Err(InputError(format!(
                "{name}: runs columns differ from the other shards'"
            )));
        }
        if names_of(&part.manifest.timeseries_columns) != names_of(&manifest.timeseries_columns) {
            return Err(InputError(format!(
                "{name}: timeseries columns differ from the other shards'"
            )));
        }
        if names_of(&part.manifest.services_columns) != names_of(&manifest.services_columns) {
            return Err(InputError(format!(
                "{name}: services columns differ from the other shards' (written by another version?)"
            )));
        }
        if names_of(&part.manifest.service_series_columns)
            != names_of(&manifest.service_series_columns)
        {
            return Err(InputError(format!(
                "{name}: services_timeseries columns differ from the other shards' (written by another version?)"
            )));
        }
        for (stem, theirs, ours) in [
            (
                "shards",
                &part.manifest.shards_columns,
                &manifest.shards_columns,
            ),
            (
                "shards_timeseries",
                &part.manifest.shard_series_columns,
                &manifest.shard_series_columns,
            ),
            (
                "regions",
                &part.manifest.regions_columns,
                &manifest.regions_columns,
            ),
            (
                "deployments",
                &part.manifest.deployments_columns,
                &manifest.deployments_columns,
            ),
            (
                "edges",
                &part.manifest.edges_columns,
                &manifest.edges_columns,
            ),
            ("bill", &part.manifest.bill_columns, &manifest.bill_columns),
            (
                "caches_timeseries",
                &part.manifest.cache_series_columns,
                &manifest.cache_series_columns,
            ),
            (
                "regions_timeseries",
                &part.manifest.region_series_columns,
                &manifest.region_series_columns,
            ),
            (
                "deployments_timeseries",
                &part.manifest.deployment_series_columns,
                &manifest.deployment_series_columns,
            ),
            (
                "edges_timeseries",
                &part.manifest.edge_series_columns,
                &manifest.edge_series_columns,
            ),
        ] {
            if names_of(theirs) != names_of(ours) {
                return Err(InputError(format!(
                    "{name}: {stem} columns differ from the other shards' (written by another version?)"
                )));
            }
        }
    }
    // One part (a whole sweep reading its own output back) is taken as it
    // is; shards are appended, then put in run order unless they already
    // are: every copy of a large time series counts.
    let mut runs: Option<Table> = None;
    let mut timeseries: Option<Table> = None;
    let mut services: Option<Table> = None;
    let mut service_series: Option<Table> = None;
    let mut shards: Option<Table> = None;
    let mut shard_series: Option<Table> = None;
    let mut regions: Option<Table> = None;
    let mut deployments: Option<Table> = None;
    let mut edges: Option<Table> = None;
    let mut bill: Option<Table> = None;
    let mut cache_series: Option<Table> = None;
    let mut region_series: Option<Table> = None;
    let mut deployment_series: Option<Table> = None;
    let mut edge_series: Option<Table> = None;
    for part in parts {
        for (all, table) in [
            (&mut runs, part.runs),
            (&mut timeseries, part.timeseries),
            (&mut services, part.services),
            (&mut service_series, part.service_series),
            (&mut shards, part.shards),
            (&mut shard_series, part.shard_series),
            (&mut regions, part.regions),
            (&mut deployments, part.deployments),
            (&mut edges, part.edges),
            (&mut bill, part.bill),
            (&mut cache_series, part.cache_series),
            (&mut region_series, part.region_series),
            (&mut deployment_series, part.deployment_series),
            (&mut edge_series, part.edge_series),
        ] {
            match all {
                Some(all) => all.append(&table),
                None => *all = Some(table),
            }
        }
    }
    let key = |row: Row<'_>| -> (u64, u64) {
        (
            row[0].parse().unwrap_or(u64::MAX),
            row[1].parse().unwrap_or(u64::MAX),
        )
    };
    let in_order = |t: Option<Table>, columns: &[Column]| {
        let mut t = t.unwrap_or_else(|| Table::new(Vec::new()));
        t.columns = columns.to_vec();
        if t.rows().is_sorted_by_key(key) {
            t
        } else {
            t.sorted_by_key(key)
        }
    };
    let runs = in_order(runs, &manifest.runs_columns);
    let timeseries = in_order(timeseries, &manifest.timeseries_columns);
    let services = in_order(services, &manifest.services_columns);
    let service_series = in_order(service_series, &manifest.service_series_columns);
    let shards = in_order(shards, &manifest.shards_columns);
    let shard_series = in_order(shard_series, &manifest.shard_series_columns);
    let regions = in_order(regions, &manifest.regions_columns);
    let deployments = in_order(deployments, &manifest.deployments_columns);
    let edges = in_order(edges, &manifest.edges_columns);
    let bill = in_order(bill, &manifest.bill_columns);
    let cache_series = in_order(cache_series, &manifest.cache_series_columns);
    let region_series = in_order(region_series, &manifest.region_series_columns);
    let deployment_series = in_order(deployment_series, &manifest.deployment_series_columns);
    let edge_series = in_order(edge_series, &manifest.edge_series_columns);
    manifest.shard = None;
    manifest.point_runs = point_runs;
    Ok(Part {
        manifest,
        runs,
        timeseries,
        services,
        service_series,
        shards,
        shard_series,
        regions,
        deployments,
        edges,
        bill,
        cache_series,
        region_series,
        deployment_series,
        edge_series,
    })
}

/// A part's table columns: `names`, the first two the run's key (whole
/// numbers), the rest typed as the first of the records' `tables` with rows
/// has them (`fallback(i)` for column `i` when none has: every replication
/// failed and the table is empty).
fn keyed_columns<'r>(
    names: &[&str],
    mut tables: impl Iterator<Item = &'r Table>,
    fallback: impl Fn(usize) -> Kind,
) -> Vec<Column> {
    let typed = tables.find(|t| !t.is_empty());
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let kind = match (i, typed) {
                (0 | 1, _) => Kind::Int,
                (_, Some(t)) => t.columns[i - 2].kind,
                (_, None) => fallback(i),
            };
            Column::new(*name, kind)
        })
        .collect()
}

/// Whether the resolved scenario `scenario` (JSON) has `[costs]`: then each
/// run has bill lines, and the sweep writes `bill`.
fn has_costs(scenario: &serde_json::Value) -> bool {
    scenario.get("costs").is_some_and(|c| !c.is_null())
}

/// Whether the resolved scenario `scenario` (JSON) has a `[[datastores]]`
/// entry: then each run has shard rows, and the sweep writes `shards`.
fn has_datastores(scenario: &serde_json::Value) -> bool {
    scenario
        .get("datastores")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|stores| !stores.is_empty())
}

/// Whether the resolved scenario `scenario` (JSON) has two `[[regions]]`
/// or more: then each run has a row per client region and per deployment,
/// and the sweep writes `regions` and `deployments`.
fn has_regions(scenario: &serde_json::Value) -> bool {
    scenario
        .get("regions")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|regions| regions.len() > 1)
}

/// The first 12 characters of a sweep id (hex digits), for messages.
pub fn short_id(id: &str) -> &str {
    id.char_indices().nth(12).map_or(id, |(end, _)| &id[..end])
}
