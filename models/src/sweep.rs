//! The `[sweep]` table: which scenario values to vary and how, and its
//! expansion into sweep points.
//!
//! A parameter is a dotted path into the scenario document, the same path
//! `--set` takes (`services.api.replicas`, arrays of tables addressed by an
//! element's `name`). Its values are a list (`[2, 4, 8]`, `["5ms", "10ms"]`,
//! any TOML values) or a range `{ from, to, step }` of integers, floats or
//! durations (`step` may be left out in `random` and `latin-hypercube` mode:
//! the range is then continuous). Parameters may be written as quoted dotted
//! keys (`"services.api.replicas" = [2, 4]`) or as nested tables; either way
//! they keep the order in which they are written.
//!
//! [`SweepConfig::points`] expands the table into points, and [`plan`] loads
//! the scenario once per point (the point's values applied as `--set`
//! overrides) so that every point is validated before anything runs. Points
//! never change random streams: replication `r` of every point sees the same
//! draws (common random numbers).

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use headroom_sim::Span;
use rand::RngExt;

use crate::load::{Loaded, Location, ScenarioError, load_str, sweep_value_line_col};
use crate::plan::Plan;
use crate::scenario::Replications;
use crate::scenario::Scenario;

/// Most points one sweep may have.
pub const MAX_POINTS: usize = 1_000_000;

/// `[sweep]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// `[sweep.params]`: path -> values, in the order written.
    pub params: Params,
    /// How points are chosen. Default `"grid"`.
    #[serde(default)]
    pub mode: SweepMode,
    /// Points drawn in `random` and `latin-hypercube` mode (required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u32>,
    /// Replications per point: overrides `run.replications` (same forms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replications: Option<Replications>,
    /// What the recommendation minimises. Default `"cost"`.
    #[serde(default)]
    pub objective: Objective,
    /// `mode = "search"`: parameters (paths in `params`) whose values are
    /// listed from least to most capacity: a later value (a larger one for a
    /// range) never makes the SLO metrics worse and never costs less.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monotone: Vec<String>,
    /// `mode = "search"`: most (point, replication) runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runs: Option<u64>,
    /// `mode = "search"`: most wall-clock time; outputs then depend on the
    /// machine's speed (only `max_runs` is deterministic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_time: Option<Span>,
    /// `mode = "search"`: (point, replication) runs per batch, run in
    /// parallel (default 4); results never depend on `--threads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// `mode = "search"`: how much cheaper than the best point another
    /// point must be to matter, as a fraction of the best point's cost
    /// (default [`DEFAULT_COST_TOLERANCE`], 1 %; accepted 0 to
    /// [`MAX_COST_TOLERANCE`]). A point that cannot be cheaper than the best
    /// by more than this (paired 95 % CI) is settled as "as cheap", so the
    /// recommendation is within this fraction of the cheapest point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_tolerance: Option<f64>,
}

/// `sweep.cost_tolerance` when it is left out: 1 % of the best point's cost.
pub const DEFAULT_COST_TOLERANCE: f64 = 0.01;

/// The largest `sweep.cost_tolerance` accepted (a quarter of the cost: past
/// that the search would not be looking for the cheapest point at all).
pub const MAX_COST_TOLERANCE: f64 = 0.25;

/// `sweep.mode`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SweepMode {
    /// Every combination of every parameter's values (the first parameter
    /// varies slowest).
    #[default]
    Grid,
    /// `samples` points, each parameter drawn independently and uniformly.
    Random,
    /// `samples` points in a Latin hypercube: each parameter's range is cut
    /// into `samples` equal strata and every stratum is used exactly once.
    LatinHypercube,
    /// An adaptive search over the grid's points (continuous ranges on a
    /// lattice, [`search_levels`]) run by `headroom search`: only the points
    /// and replications needed to settle the recommendation.
    Search,
}

/// `sweep.objective`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// The cheapest point (mean `cost_per_month_usd`) whose SLO holds.
    #[default]
    Cost,
}

/// The parameters of a sweep, in the order written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params(pub Vec<Param>);

/// One swept parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Dotted, name-addressed path into the scenario.
    pub path: String,
    /// The values it takes.
    pub values: Values,
}

/// A parameter's values.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Exactly these values, in this order.
    List(Vec<toml::Value>),
    /// `{ from, to, step }`: `from`, `from + step`, ... up to `to`
    /// inclusive; without `step`, every value in `[from, to]`.
    Range {
        /// First value.
        from: Number,
        /// Last value (inclusive).
        to: Number,
        /// Increment; `None` makes the range continuous.
        step: Option<Number>,
    },
}

/// An endpoint or step of a range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// A TOML integer.
    Int(i64),
    /// A TOML float.
    Float(f64),
    /// A duration string (`"5ms"`).
    Duration(Span),
}

/// Why a `[sweep]` table cannot be expanded or planned.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The scenario has no `[sweep]` table.
    #[error(
        "{file}: no [sweep] table; add one, e.g.\n[sweep]\nparams = {{ \"services.api.replicas\" = [2, 4, 8] }}"
    )]
    Missing {
        /// The scenario file.
        file: String,
    },
    /// The table is malformed (empty grid, bad range, missing `samples`...).
    #[error("{file}: `{key}`: {message}")]
    Invalid {
        /// The scenario file.
        file: String,
        /// Dotted key in the sweep table.
        key: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// A parameter path does not name a value of the scenario.
    #[error(
        "{file}: `sweep.params.\"{path}\"`: `{path}` is not a path in the scenario ({reason}); closest valid paths: {}",
        closest.join(", ")
    )]
    UnknownPath {
        /// The scenario file.
        file: String,
        /// The path as written.
        path: String,
        /// What the loader said.
        reason: String,
        /// The nearest existing paths, best first.
        closest: Vec<String>,
    },
    /// A point whose `runs.csv` metric columns are not the base
    /// scenario's: its parameters add or remove a cache tier, the
    /// datastores, sessions, faults or surges, or the per-region SLO.
    #[error(
        "{file}: {point} ({assignment}) {differs}: every point of a sweep is measured \
         on the base scenario's columns, so a parameter may not add or remove a cache tier, the \
         datastores, sessions, the faults and surges (their recovery columns) or \
         `slo.per_region`; sweep those as separate scenarios"
    )]
    Columns {
        /// The scenario file.
        file: String,
        /// `sweep point N` (0-based), or `a point of the search` that a
        /// search checked before it ran.
        point: String,
        /// `path = value, ...` of the point.
        assignment: String,
        /// Which columns it adds and which it drops.
        differs: String,
    },
    /// A parameter under `[slo]`: the objectives judge every point, and
    /// are no configuration of one.
    #[error(
        "{file}: `sweep.params.\"{path}\"`: the [slo] is what every point is judged by, not a \
         configuration to compare; set it in [slo] (or with --set), or re-rank a finished sweep \
         with `headroom recommend DIR --slo-p99 ... --slo-availability ...`"
    )]
    Objective {
        /// The scenario file.
        file: String,
        /// The path as written.
        path: String,
    },
    /// A point's values make an invalid scenario (wrong type, out of range).
    #[error("sweep point {point} ({assignment}): {error}")]
    Point {
        /// 0-based point index.
        point: usize,
        /// `path = value, ...` of the point.
        assignment: String,
        /// The loader's error (in the message, not a `source`: an error
        /// chain printed with its causes would repeat it).
        error: ScenarioError,
    },
    /// The base scenario itself is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

/// A sweep ready to run: the base scenario, the parameter paths and every
/// point validated.
#[derive(Clone, Debug)]
pub struct SweepPlan {
    /// The scenario with the command-line `--set`s applied and the sweep's
    /// `replications` override, no point values.
    pub base: Loaded,
    /// Parameter paths, in column order.
    pub params: Vec<String>,
    /// Every point, in index order.
    pub points: Vec<SweepPoint>,
}

/// One point of a sweep.
#[derive(Clone, Debug)]
pub struct SweepPoint {
    /// One value per parameter, in [`SweepPlan::params`] order.
    pub values: Vec<toml::Value>,
    /// The checked model with the values applied.
    pub plan: Plan,
}

impl SweepPlan {
    /// The `--set` arguments that turn the base scenario into point `index`
    /// (after `base_sets`).
    pub fn point_sets(&self, index: usize) -> Vec<String> {
        point_sets(&self.params, &self.points[index].values)
    }
}

/// The scenario at sweep point `point`: the base's sets, then the point's
/// `values` for `params`. A bad value of the point's own is named by the
/// point and where the file's `[sweep]` writes it, not as the `--set` it is
/// applied as (which the user did not type). A point whose `runs.csv`
/// columns are not `columns` (the base scenario's) is refused.
fn load_point(
    path: &Path,
    text: &str,
    base_sets: &[String],
    params: &[String],
    values: &[toml::Value],
    point: usize,
    columns: &[String],
) -> Result<Loaded, SweepError> {
    let own = point_sets(params, values);
    let all: Vec<String> = base_sets.iter().chain(&own).cloned().collect();
    // A value of the point's own is named where `[sweep]` writes it.
    let located = |error: ScenarioError| match error {
        ScenarioError::Set { arg, message } => match own.iter().position(|set| *set == arg) {
            Some(i) => ScenarioError::Invalid {
                location: Location {
                    file: path.to_owned(),
                    line_col: sweep_value_line_col(text, &params[i], &inline(&values[i])),
                },
                message,
            },
            None => ScenarioError::Set { arg, message },
        },
        error => error,
    };
    let loaded = load_str(path, text, &all).map_err(|error| {
        let error = match error {
            ScenarioError::Trace { error, trace } => ScenarioError::Trace {
                error: Box::new(located(*error)),
                trace,
            },
            error => located(error),
        };
        SweepError::Point {
            point,
            assignment: assignment(params, values),
            error,
        }
    })?;
    let got = crate::report::run_columns(&loaded.plan);
    if got != columns {
        // The first three columns, and how many more.
        let list = |v: Vec<&String>| {
            let mut s = v
                .iter()
                .take(3)
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ");
            if v.len() > 3 {
                s.push_str(&format!(" and {} more", v.len() - 3));
            }
            s
        };
        let added = list(got.iter().filter(|c| !columns.contains(c)).collect());
        let dropped = list(columns.iter().filter(|c| !got.contains(c)).collect());
        let differs = match (added.is_empty(), dropped.is_empty()) {
            (false, false) => format!("adds the columns {added} and drops {dropped}"),
            (false, true) => format!("adds the columns {added}"),
            (true, false) => format!("drops the columns {dropped}"),
            // The same columns in another order (cache tiers renamed).
            (true, true) => "orders its columns differently".to_owned(),
        };
        return Err(SweepError::Columns {
            file: path.display().to_string(),
            point: format!("sweep point {point}"),
            assignment: assignment(params, values),
            differs,
        });
    }
    Ok(loaded)
}

/// `PATH=VALUE` arguments assigning `values` to `params`, in order.
pub fn point_sets(params: &[String], values: &[toml::Value]) -> Vec<String> {
    params
        .iter()
        .zip(values)
        .map(|(p, v)| format!("{p}={}", inline(v)))
        .collect()
}

/// A TOML value as written inline (`4`, `0.5`, `"5ms"`, `{ a = 1 }`).
pub fn inline(value: &toml::Value) -> String {
    // toml writes every float in positional digits (1e300 as 301 of them,
    // 1e-7 as 0.0000001); Rust's shortest form, with an exponent where it
    // has one, is TOML too and reads back to the same float.
    if let toml::Value::Float(x) = value
        && x.is_finite()
        && format!("{x:?}").contains('e')
    {
        return format!("{x:?}");
    }
    let mut s = String::new();
    // Serializing a value into a String cannot fail except for exotic
    // datetimes, which fall back to their display form.
    match Serialize::serialize(value, toml::ser::ValueSerializer::new(&mut s)) {
        Ok(_) => s,
        Err(_) => value.to_string(),
    }
}

/// A value as a CSV cell: strings bare, floats in Rust's shortest
/// round-trip form (as every other float in the outputs), everything else
/// inline TOML.
pub fn cell(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(x) => format!("{x}"),
        other => inline(other),
    }
}

/// The scenario with `sets` and the sweep's `replications` applied, its
/// `[sweep]` table (parameters in written order) and the `--set`s that
/// produce that base.
fn load_base(
    path: &Path,
    text: &str,
    sets: &[String],
) -> Result<(Loaded, SweepConfig, Vec<String>), SweepError> {
    let file = path.display().to_string();
    let first = load_str(path, text, sets)?;
    let mut sweep = first
        .scenario
        .sweep
        .clone()
        .ok_or_else(|| SweepError::Missing { file: file.clone() })?;
    sweep.params.order_as_written(text);
    let mut base_sets = sets.to_vec();
    // Checked with the scenario (`Plan::new`): as `run.replications` it is
    // valid too.
    let base = match sweep.replications {
        Some(r) => {
            let value = toml::Value::try_from(r).expect("replications are plain TOML");
            base_sets.push(format!("run.replications={}", inline(&value)));
            load_str(path, text, &base_sets)?
        }
        None => first,
    };
    Ok((base, sweep, base_sets))
}

/// Most lattice values a continuous range gets in `mode = "search"` (fewer
/// when the lattice would pass [`MAX_POINTS`]).
pub const SEARCH_LEVELS: usize = 65;

/// The space `mode = "search"` explores: the base scenario and every
/// parameter's values in order, continuous ranges on a lattice. Points are
/// planned one at a time as the search reaches them ([`SearchSpace::plan_point`]).
#[derive(Clone, Debug)]
pub struct SearchSpace {
    /// The scenario with the command-line `--set`s and the sweep's
    /// `replications` applied, no point values.
    pub base: Loaded,
    /// The `[sweep]` table, parameters in written order.
    pub config: SweepConfig,
    /// Parameter paths, in column order.
    pub params: Vec<String>,
    /// Per parameter, its values in order (least to most capacity for a
    /// monotone one).
    pub levels: Vec<Vec<toml::Value>>,
    /// Per parameter, whether it is declared monotone.
    pub monotone: Vec<bool>,
    /// The base scenario's `runs.csv` metric columns, every point's.
    columns: Vec<String>,
    path: std::path::PathBuf,
    text: String,
    base_sets: Vec<String>,
}

/// Loads the scenario at `path` (text `text`, command-line `sets` applied)
/// for an adaptive search over its `[sweep]` parameters: checks the table,
/// the paths and `monotone`, and lays continuous ranges on a lattice of
/// [`SEARCH_LEVELS`] values. Nothing is planned per point yet.
pub fn search_space(path: &Path, text: &str, sets: &[String]) -> Result<SearchSpace, SweepError> {
    let file = path.display().to_string();
    let (base, config, base_sets) = load_base(path, text, sets)?;
    let invalid = |key: &str, message: String| SweepError::Invalid {
        file: file.clone(),
        key: key.to_owned(),
        message,
    };
    if config.params.0.is_empty() {
        return Err(invalid(
            "sweep.params",
            "no parameters; give at least one, e.g. `\"services.api.replicas\" = [2, 4, 8]`".into(),
        ));
    }
    let mut axes = Vec::with_capacity(config.params.0.len());
    for p in &config.params.0 {
        let key = format!("sweep.params.\"{}\"", p.path);
        axes.push(Axis::new(&p.values).map_err(|m| invalid(&key, m))?);
    }
    let levels = search_levels(&axes).map_err(|m| invalid("sweep.params", m))?;
    let size = levels
        .iter()
        .try_fold(1usize, |acc, l| acc.checked_mul(l.len()));
    if size.is_none_or(|n| n > MAX_POINTS) {
        return Err(invalid(
            "sweep.params",
            format!("the grid has more than {MAX_POINTS} points; sweep fewer values"),
        ));
    }
    let params: Vec<String> = config.params.0.iter().map(|p| p.path.clone()).collect();
    for name in &config.monotone {
        if !params.contains(name) {
            return Err(invalid(
                "sweep.monotone",
                format!(
                    "`{name}` is not a swept parameter; monotone names paths of `sweep.params` ({})",
                    params.join(", ")
                ),
            ));
        }
    }
    if config.max_runs == Some(0) {
        return Err(invalid(
            "sweep.max_runs",
            "0: a search needs a budget of at least one point's first replications; give a \
             positive count, or leave it out (at most the grid's runs)"
                .into(),
        ));
    }
    if config.max_time.is_some_and(|t| t.as_nanos() == 0) {
        return Err(invalid(
            "sweep.max_time",
            "0s: a search needs time to run; give a positive duration such as \"10m\", or \
             leave it out"
                .into(),
        ));
    }
    if config.batch == Some(0) {
        return Err(invalid(
            "sweep.batch",
            "0: a batch needs at least one run; give a positive count (default 4)".into(),
        ));
    }
    if let Some(t) = config.cost_tolerance
        && !(0.0..=MAX_COST_TOLERANCE).contains(&t)
    {
        return Err(invalid(
            "sweep.cost_tolerance",
            format!(
                "{t}: a fraction of the best point's cost from 0 to {MAX_COST_TOLERANCE} is \
                 accepted (0.01 = 1 %, the default; 0 settles a point only when it costs more)"
            ),
        ));
    }
    if config.samples.is_some() && config.mode == SweepMode::Search {
        return Err(invalid(
            "sweep.samples",
            "only used with mode = \"random\" or \"latin-hypercube\"; a search chooses its own \
             points"
                .into(),
        ));
    }
    check_paths(path, text, &base_sets, &base.scenario, &config, &file)?;
    let columns = crate::report::run_columns(&base.plan);
    check_columns(path, text, &columns, &base_sets, &params, &levels)?;
    let monotone = params.iter().map(|p| config.monotone.contains(p)).collect();
    Ok(SearchSpace {
        base,
        config,
        params,
        levels,
        monotone,
        columns,
        path: path.to_owned(),
        text: text.to_owned(),
        base_sets,
    })
}

/// Most scenarios [`check_columns`] loads for every value of every
/// parameter; past it, each parameter's first and last.
const COLUMN_CHECKS: usize = 256;

/// A search plans its points as it reaches them, and a point whose
/// `runs.csv` columns are not the base's stops it there. So that a
/// parameter value adding or removing columns (surges, a cache tier...) is
/// refused before anything runs, each value of each parameter is loaded
/// with the others at their first values (or, past [`COLUMN_CHECKS`]
/// loads, each parameter's first and last value). Only a difference in
/// columns is an error here: a value invalid in this combination may be
/// valid in the points the search visits.
fn check_columns(
    path: &Path,
    text: &str,
    columns: &[String],
    base_sets: &[String],
    params: &[String],
    levels: &[Vec<toml::Value>],
) -> Result<(), SweepError> {
    let all = levels.iter().map(Vec::len).sum::<usize>() <= COLUMN_CHECKS;
    for (j, level) in levels.iter().enumerate() {
        let checked: Vec<usize> = if all {
            (0..level.len()).collect()
        } else {
            vec![0, level.len() - 1]
        };
        for v in checked {
            let values: Vec<toml::Value> = levels
                .iter()
                .enumerate()
                .map(|(k, l)| l[if k == j { v } else { 0 }].clone())
                .collect();
            if let Err(SweepError::Columns {
                file,
                assignment,
                differs,
                ..
            }) = load_point(path, text, base_sets, params, &values, 0, columns)
            {
                return Err(SweepError::Columns {
                    file,
                    point: "a point of the search".to_owned(),
                    assignment,
                    differs,
                });
            }
        }
    }
    Ok(())
}

impl SearchSpace {
    /// The checked model of the point with `values` (one per parameter);
    /// `point` numbers it in errors.
    pub fn plan_point(&self, point: usize, values: &[toml::Value]) -> Result<Plan, SweepError> {
        load_point(
            &self.path,
            &self.text,
            &self.base_sets,
            &self.params,
            values,
            point,
            &self.columns,
        )
        .map(|l| l.plan)
    }
}

/// Every axis as a list of values: continuous ranges on an even lattice of
/// at most [`SEARCH_LEVELS`] values, fewer when the lattice would pass
/// [`MAX_POINTS`].
fn search_levels(axes: &[Axis]) -> Result<Vec<Vec<toml::Value>>, String> {
    let discrete: f64 = axes
        .iter()
        .filter_map(Axis::len)
        .map(|n| n as f64)
        .product();
    let continuous = axes.iter().filter(|a| a.len().is_none()).count();
    let per_axis = if continuous == 0 {
        SEARCH_LEVELS
    } else {
        let room = (MAX_POINTS as f64 / discrete).powf(1.0 / continuous as f64);
        (room.floor() as usize).min(SEARCH_LEVELS)
    };
    if continuous > 0 && per_axis < 2 {
        return Err(format!(
            "the search lattice would pass {MAX_POINTS} points even with 2 values per continuous \
             range; sweep fewer values"
        ));
    }
    Ok(axes
        .iter()
        .map(|a| match a {
            Axis::Levels(v) => v.clone(),
            Axis::Continuous { from, to } => lattice(*from, *to, per_axis),
        })
        .collect())
}

/// `n` evenly spaced values from `from` to `to` inclusive; integers and
/// durations rounded (repeats dropped), floats to two digits below the
/// spacing.
fn lattice(from: Number, to: Number, n: usize) -> Vec<toml::Value> {
    let (a, b) = (from.as_f64(), to.as_f64());
    let spacing = (b - a) / (n.max(2) - 1) as f64;
    let decimals = if spacing > 0.0 {
        (2 - spacing.log10().floor() as i32).clamp(0, 15) as usize
    } else {
        0
    };
    let mut out: Vec<toml::Value> = Vec::with_capacity(n);
    for i in 0..n {
        let u = if n == 1 {
            0.0
        } else {
            i as f64 / (n - 1) as f64
        };
        let v = match (from, to) {
            (Number::Int(x), Number::Int(y)) => {
                toml::Value::Integer(x + ((y - x) as f64 * u).round() as i64)
            }
            (Number::Duration(x), Number::Duration(y)) => {
                let (x, y) = (x.as_nanos(), y.as_nanos());
                let ns = x + ((y - x) as f64 * u).round() as u64;
                toml::Value::String(Span::from_nanos(ns).to_string())
            }
            _ if i + 1 == n => toml::Value::Float(b),
            _ => {
                let x = a + u * (b - a);
                toml::Value::Float(format!("{x:.decimals$}").parse().unwrap_or(x))
            }
        };
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    out
}

/// Loads the scenario at `path` (text `text`, command-line `sets` applied),
/// expands its `[sweep]` table and validates every point.
///
/// The sweep's `replications`, if given, is applied as `run.replications`
/// after `sets`. Random and Latin-hypercube draws come from a stream derived
/// from the scenario's `run.seed`, so the points are reproducible.
pub fn plan(path: &Path, text: &str, sets: &[String]) -> Result<SweepPlan, SweepError> {
    let file = path.display().to_string();
    let (base, sweep, base_sets) = load_base(path, text, sets)?;
    let values = sweep.points(&file, base.plan.run.seed)?;
    let params: Vec<String> = sweep.params.0.iter().map(|p| p.path.clone()).collect();
    check_paths(path, text, &base_sets, &base.scenario, &sweep, &file)?;
    let columns = crate::report::run_columns(&base.plan);
    let mut points = Vec::with_capacity(values.len());
    for (index, values) in values.into_iter().enumerate() {
        let loaded = load_point(path, text, &base_sets, &params, &values, index, &columns)?;
        points.push(SweepPoint {
            values,
            plan: loaded.plan,
        });
    }
    Ok(SweepPlan {
        base,
        params,
        points,
    })
}

/// `path = value, ...` for messages.
pub fn assignment(params: &[String], values: &[toml::Value]) -> String {
    params
        .iter()
        .zip(values)
        .map(|(p, v)| format!("{p} = {}", inline(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every parameter path must name a value of the scenario: either one the
/// resolved scenario has, or one that loads when set (an optional key left
/// out). Otherwise the error lists the closest existing paths.
fn check_paths(
    path: &Path,
    text: &str,
    base_sets: &[String],
    resolved: &Scenario,
    sweep: &SweepConfig,
    file: &str,
) -> Result<(), SweepError> {
    let known = scenario_paths(resolved);
    for param in &sweep.params.0 {
        if crate::load::split_path(&param.path).and_then(|p| p.first().copied()) == Some("slo") {
            return Err(SweepError::Objective {
                file: file.to_owned(),
                path: param.path.clone(),
            });
        }
        if known
            .iter()
            .any(|k| k == &param.path || is_prefix(&param.path, k))
        {
            continue;
        }
        let probe = first_value(&param.values);
        let mut sets = base_sets.to_vec();
        sets.push(format!("{}={}", param.path, inline(&probe)));
        if let Err(e) = load_str(path, text, &sets) {
            return Err(SweepError::UnknownPath {
                file: file.to_owned(),
                path: param.path.clone(),
                reason: e.to_string(),
                closest: closest(&param.path, &known, 3),
            });
        }
    }
    Ok(())
}

/// Whether `path` names a table that contains `leaf` (sweeping a whole
/// inline table such as `workload.arrivals`).
fn is_prefix(path: &str, leaf: &str) -> bool {
    leaf.len() > path.len() && leaf.starts_with(path) && leaf.as_bytes()[path.len()] == b'.'
}

fn first_value(values: &Values) -> toml::Value {
    match values {
        Values::List(v) => v.first().cloned().unwrap_or(toml::Value::Integer(0)),
        Values::Range { from, .. } => from.to_value(),
    }
}

/// Every leaf path of the resolved scenario (arrays of tables addressed by
/// `name`, or by index when an element has none; a key that is not bare,
/// such as an instance type `"m5.large"`, quoted), in document order.
pub fn scenario_paths(scenario: &Scenario) -> Vec<String> {
    scenario_leaves(scenario)
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

/// [`scenario_paths`] with each leaf's value.
pub fn scenario_leaves(scenario: &Scenario) -> Vec<(String, toml::Value)> {
    let mut out = Vec::new();
    if let Ok(toml::Value::Table(t)) = toml::Value::try_from(scenario) {
        collect_paths(&t, "", &mut out);
    }
    out.retain(|(p, _)| !p.starts_with("sweep."));
    out
}

fn collect_paths(table: &toml::Table, prefix: &str, out: &mut Vec<(String, toml::Value)>) {
    use crate::load::path_segment;
    for (key, value) in table {
        let here = if prefix.is_empty() {
            path_segment(key).into_owned()
        } else {
            format!("{prefix}.{}", path_segment(key))
        };
        match value {
            toml::Value::Table(t) => collect_paths(t, &here, out),
            toml::Value::Array(items)
                if !items.is_empty() && items.iter().all(toml::Value::is_table) =>
            {
                for (i, item) in items.iter().enumerate() {
                    if let toml::Value::Table(t) = item {
                        let name = t
                            .get("name")
                            .and_then(toml::Value::as_str)
                            .map_or_else(|| i.to_string(), |n| path_segment(n).into_owned());
                        collect_paths(t, &format!("{here}.{name}"), out);
                    }
                }
            }
            _ => out.push((here, value.clone())),
        }
    }
}

/// The `n` candidates nearest to `path` by edit distance (ties in candidate
/// order).
pub fn closest(path: &str, candidates: &[String], n: usize) -> Vec<String> {
    let mut scored: Vec<(usize, usize, &String)> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (levenshtein(path, c), i, c))
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(n)
        .map(|(_, _, c)| c.clone())
        .collect()
}

/// Edit distance (insertions, deletions, substitutions) in characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

impl SweepConfig {
    /// The points' values, one `Vec` per point with one value per parameter,
    /// in index order. `file` names the scenario in errors; `seed` seeds the
    /// draws of `random` and `latin-hypercube` mode.
    pub fn points(&self, file: &str, seed: u64) -> Result<Vec<Vec<toml::Value>>, SweepError> {
        let invalid = |key: &str, message: String| SweepError::Invalid {
            file: file.to_owned(),
            key: key.to_owned(),
            message,
        };
        if self.params.0.is_empty() {
            return Err(invalid(
                "sweep.params",
                "no parameters; give at least one, e.g. `\"services.api.replicas\" = [2, 4, 8]`"
                    .into(),
            ));
        }
        let mut axes = Vec::with_capacity(self.params.0.len());
        for p in &self.params.0 {
            let key = format!("sweep.params.\"{}\"", p.path);
            axes.push(Axis::new(&p.values).map_err(|m| invalid(&key, m))?);
        }
        match self.mode {
            SweepMode::Search => {
                if self.samples.is_some() {
                    return Err(invalid(
                        "sweep.samples",
                        "only used with mode = \"random\" or \"latin-hypercube\"; a search \
                         chooses its own points"
                            .into(),
                    ));
                }
                let levels = search_levels(&axes).map_err(|m| invalid("sweep.params", m))?;
                let axes: Vec<Axis> = levels.into_iter().map(Axis::Levels).collect();
                grid(&axes).ok_or_else(|| {
                    invalid(
                        "sweep.params",
                        format!("the grid has more than {MAX_POINTS} points; sweep fewer values"),
                    )
                })
            }
            SweepMode::Grid => {
                for (p, axis) in self.params.0.iter().zip(&axes) {
                    if matches!(axis, Axis::Continuous { .. }) {
                        return Err(invalid(
                            &format!("sweep.params.\"{}\"", p.path),
                            "a range without `step` is continuous: give `step` (or a list) for \
                             mode = \"grid\", or use mode = \"random\" or \"latin-hypercube\""
                                .into(),
                        ));
                    }
                }
                if self.samples.is_some() {
                    return Err(invalid(
                        "sweep.samples",
                        "only used with mode = \"random\" or \"latin-hypercube\"; a grid has one \
                         point per combination"
                            .into(),
                    ));
                }
                grid(&axes).ok_or_else(|| {
                    invalid(
                        "sweep.params",
                        format!("the grid has more than {MAX_POINTS} points; sweep fewer values"),
                    )
                })
            }
            SweepMode::Random | SweepMode::LatinHypercube => {
                let n = match self.samples {
                    Some(n) if n >= 1 && (n as usize) <= MAX_POINTS => n as usize,
                    Some(n) => {
                        return Err(invalid(
                            "sweep.samples",
                            format!("{n}: expected 1 – {MAX_POINTS}"),
                        ));
                    }
                    None => {
                        return Err(invalid(
                            "sweep.samples",
                            "required with this mode: how many points to draw, e.g. `samples = 20`"
                                .into(),
                        ));
                    }
                };
                let mut rng = headroom_sim::rng::stream(seed, 0, "sweep/points");
                Ok(if self.mode == SweepMode::Random {
                    random(&axes, n, &mut rng)
                } else {
                    latin_hypercube(&axes, n, &mut rng)
                })
            }
        }
    }
}

/// A parameter's values, ready to index or sample.
#[derive(Clone, Debug)]
enum Axis {
    /// Finitely many values.
    Levels(Vec<toml::Value>),
    /// Every value in `[from, to]`.
    Continuous {
        /// Lower end.
        from: Number,
        /// Upper end (inclusive).
        to: Number,
    },
}

/// Whether every float in `value` (at any depth) is finite.
fn finite(value: &toml::Value) -> bool {
    match value {
        toml::Value::Float(x) => x.is_finite(),
        toml::Value::Array(a) => a.iter().all(finite),
        toml::Value::Table(t) => t.values().all(finite),
        _ => true,
    }
}

/// Most values one range may expand to.
const MAX_LEVELS: usize = MAX_POINTS;

impl Axis {
    fn new(values: &Values) -> Result<Axis, String> {
        match values {
            Values::List(v) if v.is_empty() => Err(
                "empty list: a parameter needs at least one value (an empty grid has no points)"
                    .into(),
            ),
            Values::List(v) => match v.iter().position(|x| !finite(x)) {
                // Refused before any point is drawn (a random sample may
                // never load it), and its manifest (JSON) has no NaN.
                Some(i) => Err(format!(
                    "value {i} ({}): no scenario key takes NaN or an infinity; give finite \
                     numbers",
                    inline(&v[i])
                )),
                None => Ok(Axis::Levels(v.clone())),
            },
            Values::Range { from, to, step } => {
                if !from.same_kind(to) || step.is_some_and(|s| !from.same_kind(&s)) {
                    return Err(format!(
                        "`from`, `to` and `step` must be of one kind (integers, floats or \
                         durations); got {}, {}{}",
                        from.describe(),
                        to.describe(),
                        step.map_or(String::new(), |s| format!(" and {}", s.describe()))
                    ));
                }
                if !(from.as_f64().is_finite() && to.as_f64().is_finite()) {
                    return Err("`from` and `to` must be finite".into());
                }
                if from.as_f64() > to.as_f64() {
                    return Err(format!(
                        "`from` ({}) is above `to` ({}): an empty range has no points",
                        from.display(),
                        to.display()
                    ));
                }
                match step {
                    None => Ok(Axis::Continuous {
                        from: *from,
                        to: *to,
                    }),
                    Some(step) => levels(*from, *to, *step).map(Axis::Levels),
                }
            }
        }
    }

    fn len(&self) -> Option<usize> {
        match self {
            Axis::Levels(v) => Some(v.len()),
            Axis::Continuous { .. } => None,
        }
    }

    /// The value at position `u` in `[0, 1)` along the axis.
    fn at(&self, u: f64) -> toml::Value {
        match self {
            Axis::Levels(v) => {
                let i = ((u * v.len() as f64) as usize).min(v.len() - 1);
                v[i].clone()
            }
            Axis::Continuous { from, to } => from.lerp(to, u).to_value(),
        }
    }
}

/// `from, from + step, ...` up to `to` inclusive.
fn levels(from: Number, to: Number, step: Number) -> Result<Vec<toml::Value>, String> {
    if !(step.as_f64() > 0.0 && step.as_f64().is_finite()) {
        return Err(format!(
            "`step` = {}: expected a positive step",
            step.display()
        ));
    }
    let span = to.as_f64() - from.as_f64();
    // Floats: allow for rounding in (to - from) / step, e.g. 0.1 .. 0.3 by 0.1.
    let count = (span / step.as_f64() * (1.0 + 1e-12) + 1e-9).floor() + 1.0;
    if count > MAX_LEVELS as f64 {
        return Err(format!(
            "expands to more than {MAX_LEVELS} values; use a larger step"
        ));
    }
    let count = count as usize;
    let out = (0..count)
        .map(|i| match (from, step) {
            (Number::Int(a), Number::Int(s)) => toml::Value::Integer(a + s * i as i64),
            (Number::Duration(a), Number::Duration(s)) => toml::Value::String(
                Span::from_nanos(a.as_nanos() + s.as_nanos() * i as u64).to_string(),
            ),
            (a, s) => toml::Value::Float(round_like(
                a.as_f64() + s.as_f64() * i as f64,
                &[a.as_f64(), s.as_f64()],
            )),
        })
        .collect();
    Ok(out)
}

/// Rounds `x` to the decimal places of the most precise of `like`, so that
/// `0.1 + 2 × 0.1` prints as `0.3` rather than `0.30000000000000004`.
fn round_like(x: f64, like: &[f64]) -> f64 {
    let decimals = like
        .iter()
        .map(|v| {
            let s = format!("{v}");
            if s.contains('e') {
                usize::MAX
            } else {
                s.split_once('.').map_or(0, |(_, f)| f.len())
            }
        })
        .max()
        .unwrap_or(0);
    if decimals > 15 {
        return x;
    }
    format!("{x:.decimals$}").parse().unwrap_or(x)
}

/// Every combination, the first axis varying slowest; `None` past
/// [`MAX_POINTS`].
fn grid(axes: &[Axis]) -> Option<Vec<Vec<toml::Value>>> {
    let lens: Vec<usize> = axes.iter().map(|a| a.len().unwrap_or(0)).collect();
    let total = lens.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n))?;
    if total > MAX_POINTS {
        return None;
    }
    let mut out = Vec::with_capacity(total);
    for mut index in 0..total {
        let mut point = vec![toml::Value::Integer(0); axes.len()];
        for (j, axis) in axes.iter().enumerate().rev() {
            let n = lens[j];
            if let Axis::Levels(v) = axis {
                point[j] = v[index % n].clone();
            }
            index /= n;
        }
        out.push(point);
    }
    Some(out)
}

/// `n` points, each coordinate uniform along its axis; draws in (point,
/// parameter) order.
fn random(axes: &[Axis], n: usize, rng: &mut impl rand::Rng) -> Vec<Vec<toml::Value>> {
    (0..n)
        .map(|_| axes.iter().map(|a| a.at(rng.random::<f64>())).collect())
        .collect()
}

/// `n` points of a Latin hypercube: for each axis, a random permutation of
/// the `n` strata and a uniform position inside each stratum.
fn latin_hypercube(axes: &[Axis], n: usize, rng: &mut impl rand::Rng) -> Vec<Vec<toml::Value>> {
    let mut columns: Vec<Vec<toml::Value>> = Vec::with_capacity(axes.len());
    for axis in axes {
        let mut strata: Vec<usize> = (0..n).collect();
        // Fisher–Yates.
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i);
            strata.swap(i, j);
        }
        let column = strata
            .iter()
            .map(|&s| axis.at((s as f64 + rng.random::<f64>()) / n as f64))
            .collect();
        columns.push(column);
    }
    (0..n)
        .map(|i| columns.iter().map(|c| c[i].clone()).collect())
        .collect()
}

impl Number {
    fn same_kind(&self, other: &Number) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    fn as_f64(&self) -> f64 {
        match *self {
            Number::Int(n) => n as f64,
            Number::Float(x) => x,
            Number::Duration(s) => s.as_nanos() as f64,
        }
    }

    /// The value a fraction `u` of the way from `self` to `to` (integers
    /// and durations: every whole value in `[self, to]` equally likely).
    fn lerp(&self, to: &Number, u: f64) -> Number {
        match (*self, *to) {
            (Number::Int(a), Number::Int(b)) => {
                let width = (b - a + 1) as f64;
                Number::Int((a + (u * width) as i64).min(b))
            }
            (Number::Duration(a), Number::Duration(b)) => {
                let (a, b) = (a.as_nanos(), b.as_nanos());
                let width = (b - a + 1) as f64;
                Number::Duration(Span::from_nanos((a + (u * width) as u64).min(b)))
            }
            (a, b) => Number::Float(a.as_f64() + u * (b.as_f64() - a.as_f64())),
        }
    }

    fn to_value(self) -> toml::Value {
        match self {
            Number::Int(n) => toml::Value::Integer(n),
            Number::Float(x) => toml::Value::Float(x),
            Number::Duration(s) => toml::Value::String(s.to_string()),
        }
    }

    fn display(&self) -> String {
        inline(&self.to_value())
    }

    fn describe(&self) -> String {
        let kind = match self {
            Number::Int(_) => "integer",
            Number::Float(_) => "float",
            Number::Duration(_) => "duration",
        };
        format!("{} ({kind})", self.display())
    }

    fn from_value(value: &toml::Value) -> Result<Number, String> {
        match value {
            toml::Value::Integer(n) => Ok(Number::Int(*n)),
            toml::Value::Float(x) => Ok(Number::Float(*x)),
            toml::Value::String(s) => Span::parse(s)
                .map(Number::Duration)
                .map_err(|e| e.to_string()),
            other => Err(format!(
                "{} is not a number or duration string",
                inline(other)
            )),
        }
    }
}

impl Params {
    /// Puts the parameters in the order `text` (the scenario file) writes
    /// them. Serde hands tables over with sorted keys; the document keeps
    /// the planner's order, which becomes the column order.
    pub fn order_as_written(&mut self, text: &str) {
        let Ok(doc) = text.parse::<toml_edit::Document<String>>() else {
            return;
        };
        let mut order = Vec::new();
        if let Some(params) = doc
            .get("sweep")
            .and_then(|s| s.as_table_like())
            .and_then(|s| s.get("params"))
            .and_then(|p| p.as_table_like())
        {
            written_paths(params, "", &mut order);
        }
        let rank = |p: &Param| {
            order
                .iter()
                .position(|o| o == &p.path)
                .unwrap_or(usize::MAX)
        };
        self.0.sort_by_key(rank);
    }
}

fn written_paths(table: &dyn toml_edit::TableLike, prefix: &str, out: &mut Vec<String>) {
    let is_range = |t: &dyn toml_edit::TableLike| t.contains_key("from") && t.contains_key("to");
    for (key, item) in table.iter() {
        let path = if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        };
        match item.as_table_like() {
            Some(t) if !is_range(t) => written_paths(t, &path, out),
            _ => out.push(path),
        }
    }
}

// ---- serde ---------------------------------------------------------------

/// A node of `[sweep.params]` as written, keys in document order.
enum Node {
    Leaf(toml::Value),
    Table(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of values, a `{ from, to, step }` range, or a table of parameters")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value::<Node>()?));
        }
        Ok(Node::Table(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<toml::Value>()? {
            items.push(v);
        }
        Ok(Node::Leaf(toml::Value::Array(items)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Leaf(toml::Value::Integer(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v)
            .map(|v| Node::Leaf(toml::Value::Integer(v)))
            .map_err(|_| E::custom(format!("{v} is too large for a TOML integer")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Leaf(toml::Value::Float(v)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Leaf(toml::Value::Boolean(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Leaf(toml::Value::String(v.to_owned())))
    }
}

/// Whether a table's keys make it a `{ from, to, step }` range.
fn is_range(entries: &[(String, Node)]) -> bool {
    let has = |k: &str| entries.iter().any(|(key, _)| key == k);
    has("from")
        && has("to")
        && entries
            .iter()
            .all(|(k, _)| matches!(k.as_str(), "from" | "to" | "step"))
}

fn flatten(prefix: &str, node: Node, out: &mut Vec<Param>) -> Result<(), String> {
    match node {
        Node::Leaf(toml::Value::Array(items)) => {
            out.push(Param {
                path: prefix.to_owned(),
                values: Values::List(items),
            });
            Ok(())
        }
        Node::Leaf(other) => Err(format!(
            "`{prefix}` = {}: expected a list of values (`[2, 4, 8]`) or a range \
             (`{{ from = 2, to = 8, step = 2 }}`)",
            inline(&other)
        )),
        Node::Table(entries) if is_range(&entries) => {
            let get = |k: &str| -> Result<Option<Number>, String> {
                let Some(pos) = entries.iter().position(|(key, _)| key == k) else {
                    return Ok(None);
                };
                match &entries[pos].1 {
                    Node::Leaf(v) => Number::from_value(v)
                        .map(Some)
                        .map_err(|e| format!("`{prefix}.{k}`: {e}")),
                    Node::Table(_) => Err(format!(
                        "`{prefix}.{k}`: expected a number or a duration string"
                    )),
                }
            };
            let from = get("from")?.ok_or("unreachable: range without from")?;
            let to = get("to")?.ok_or("unreachable: range without to")?;
            let step = get("step")?;
            out.push(Param {
                path: prefix.to_owned(),
                values: Values::Range { from, to, step },
            });
            Ok(())
        }
        Node::Table(entries) => {
            if entries.is_empty() {
                // The whole `params` table (the key is named by the
                // caller), or a dotted part of a path.
                return Err(if prefix.is_empty() {
                    "no parameter to sweep: give at least one, e.g. \
                     `\"services.api.replicas\" = [2, 4]`"
                        .to_owned()
                } else {
                    format!("`{prefix}` is an empty table: give its values")
                });
            }
            for (key, child) in entries {
                let path = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, out)?;
            }
            Ok(())
        }
    }
}

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let node = Node::deserialize(deserializer)?;
        if !matches!(node, Node::Table(_)) {
            return Err(de::Error::custom(
                "expected a table of parameters: `params = { \"services.api.replicas\" = [2, 4] }`",
            ));
        }
        let mut out = Vec::new();
        flatten("", node, &mut out).map_err(de::Error::custom)?;
        for (i, p) in out.iter().enumerate() {
            if out[..i].iter().any(|q| q.path == p.path) {
                return Err(de::Error::custom(format!("`{}` is swept twice", p.path)));
            }
        }
        Ok(Params(out))
    }
}

impl Serialize for Params {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for p in &self.0 {
            match &p.values {
                Values::List(v) => map.serialize_entry(&p.path, v)?,
                Values::Range { from, to, step } => {
                    let mut t = toml::Table::new();
                    t.insert("from".into(), from.to_value());
                    t.insert("to".into(), to.to_value());
                    if let Some(s) = step {
                        t.insert("step".into(), s.to_value());
                    }
                    map.serialize_entry(&p.path, &t)?;
                }
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[run]
duration = "1m"
seed = 3

[workload]
arrivals = { process = "poisson", rate = 100.0 }

[[services]]
name = "api"
instance = { workers = 4 }
work = { distribution = "exponential", mean = "10ms" }
replicas = 2
"#;

    fn sweep(table: &str) -> SweepConfig {
        let text = format!("{BASE}\n{table}");
        let s: Scenario = toml::from_str(&text).expect("parses");
        let mut sweep = s.sweep.expect("has a sweep");
        sweep.params.order_as_written(&text);
        sweep
    }

    fn ints(points: &[Vec<toml::Value>], j: usize) -> Vec<i64> {
        points.iter().map(|p| p[j].as_integer().unwrap()).collect()
    }

    #[test]
    fn params_keep_written_order_in_both_spellings() {
        let s = sweep(
            "[sweep.params]\n\"services.api.replicas\" = [1, 2]\nrun.seed = [5]\n\
             services.api.instance.workers = { from = 2, to = 6, step = 2 }\n",
        );
        let paths: Vec<&str> = s.params.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "services.api.replicas",
                "run.seed",
                "services.api.instance.workers"
            ]
        );
        // Serializes back to quoted dotted keys, in order, that parse to the
        // same table.
        let mut scenario: Scenario = toml::from_str(BASE).unwrap();
        scenario.sweep = Some(s.clone());
        let text = toml::to_string(&scenario).unwrap();
        assert!(
            text.contains("\"services.api.replicas\" = [1, 2]"),
            "{text}"
        );
        let mut again = toml::from_str::<Scenario>(&text).unwrap().sweep.unwrap();
        again.params.order_as_written(&text);
        assert_eq!(again, s);
    }

    #[test]
    fn grid_is_the_product_first_parameter_slowest() {
        let s = sweep(
            "[sweep.params]\n\"services.api.replicas\" = [1, 2]\n\
             \"services.api.instance.workers\" = { from = 2, to = 6, step = 2 }\n",
        );
        let p = s.points("f", 1).unwrap();
        assert_eq!(ints(&p, 0), [1, 1, 1, 2, 2, 2]);
        assert_eq!(ints(&p, 1), [2, 4, 6, 2, 4, 6]);
    }

    #[test]
    fn float_and_duration_ranges() {
        let s = sweep(
            "[sweep.params]\n\"a\" = { from = 0.1, to = 0.3, step = 0.1 }\n\
             \"b\" = { from = \"5ms\", to = \"1.5s\", step = \"745ms\" }\n",
        );
        let p = s.points("f", 1).unwrap();
        let a: Vec<f64> = p
            .iter()
            .step_by(3)
            .map(|p| p[0].as_float().unwrap())
            .collect();
        assert_eq!(a, [0.1, 0.2, 0.3]);
        let b: Vec<&str> = p[..3].iter().map(|p| p[1].as_str().unwrap()).collect();
        assert_eq!(b, ["5ms", "750ms", "1495ms"]);
    }

    #[test]
    fn random_and_lhs_are_reproducible_and_in_range() {
        let table = "mode = \"{m}\"\nsamples = 40\n[sweep.params]\n\
                     \"x\" = { from = 10, to = 19 }\n\"y\" = { from = 0.0, to = 1.0 }\n\
                     \"z\" = [\"a\", \"b\"]\n";
        for mode in ["random", "latin-hypercube"] {
            let s = sweep(&format!("[sweep]\n{}", table.replace("{m}", mode)));
            let p = s.points("f", 9).unwrap();
            assert_eq!(
                p,
                s.points("f", 9).unwrap(),
                "{mode}: same seed, same points"
            );
            assert_ne!(p, s.points("f", 10).unwrap(), "{mode}: the seed matters");
            assert_eq!(p.len(), 40);
            assert!(ints(&p, 0).iter().all(|x| (10..=19).contains(x)));
            assert!(
                p.iter()
                    .all(|q| (0.0..1.0).contains(&q[1].as_float().unwrap()))
            );
        }
        // A Latin hypercube uses every stratum exactly once: with 40 samples
        // over 10 integers each integer appears 4 times, and each tenth of
        // [0, 1) holds 4 of the floats.
        let s = sweep(&format!(
            "[sweep]\n{}",
            table.replace("{m}", "latin-hypercube")
        ));
        let p = s.points("f", 9).unwrap();
        for v in 10..=19 {
            assert_eq!(
                ints(&p, 0).iter().filter(|&&x| x == v).count(),
                4,
                "value {v}"
            );
        }
        for k in 0..10 {
            let n = p
                .iter()
                .filter(|q| (q[1].as_float().unwrap() * 10.0) as usize == k)
                .count();
            assert_eq!(n, 4, "tenth {k}");
        }
        let a = p.iter().filter(|q| q[2].as_str() == Some("a")).count();
        assert_eq!(a, 20);
    }

    #[test]
    fn search_lattices_continuous_ranges() {
        let ints = lattice(Number::Int(1), Number::Int(4), SEARCH_LEVELS);
        assert_eq!(
            ints,
            [1, 2, 3, 4].map(toml::Value::Integer),
            "every integer, once"
        );
        let floats = lattice(Number::Float(0.0), Number::Float(1.0), 5);
        let xs: Vec<f64> = floats.iter().map(|v| v.as_float().unwrap()).collect();
        assert_eq!(xs, [0.0, 0.25, 0.5, 0.75, 1.0]);
        let spans = lattice(
            Number::Duration(Span::from_millis(10)),
            Number::Duration(Span::from_millis(30)),
            3,
        );
        assert_eq!(
            spans[1],
            toml::Value::String(Span::from_millis(20).to_string())
        );
        let s = sweep(
            "[sweep]\nmode = \"search\"\n[sweep.params]\n\"x\" = { from = 0.0, to = 1.0 }\n\"y\" = [1, 2]\n",
        );
        let p = s.points("f", 1).unwrap();
        assert_eq!(
            p.len(),
            SEARCH_LEVELS * 2,
            "a continuous range on the lattice"
        );
    }

    #[test]
    fn search_space_checks_monotone_and_budgets() {
        let path = Path::new("s.toml");
        let table = |extra: &str| {
            format!(
                "{BASE}\n[sweep]\nmode = \"search\"\n{extra}\n[sweep.params]\n\"services.api.replicas\" = [1, 3]\n"
            )
        };
        let ok = search_space(path, &table("monotone = [\"services.api.replicas\"]"), &[]).unwrap();
        assert_eq!(ok.monotone, [true]);
        assert_eq!(ok.levels[0].len(), 2);
        assert!(ok.plan_point(0, &ok.levels[0][..1]).is_ok());
        let err = |extra: &str| match search_space(path, &table(extra), &[]) {
            Ok(_) => panic!("expected an error for {extra}"),
            Err(e) => e.to_string(),
        };
        let e = err("monotone = [\"services.api.replica\"]");
        assert!(
            e.contains("sweep.monotone") && e.contains("not a swept parameter"),
            "{e}"
        );
        assert!(err("max_runs = 0").contains("sweep.max_runs"));
        assert!(err("max_time = \"0s\"").contains("sweep.max_time"));
        assert!(err("batch = 0").contains("sweep.batch"));
        assert!(err("samples = 3").contains("sweep.samples"));
        for bad in ["-0.01", "0.3", "nan", "inf"] {
            let e = err(&format!("cost_tolerance = {bad}"));
            assert!(
                e.contains("sweep.cost_tolerance") && e.contains("from 0 to 0.25"),
                "{bad}: {e}"
            );
        }
        for good in ["0.0", "0.01", "0.25"] {
            let t = format!("cost_tolerance = {good}");
            assert!(search_space(path, &table(&t), &[]).is_ok(), "{good}");
        }
    }

    #[test]
    fn bad_tables_are_errors_naming_the_key() {
        let err = |table: &str| {
            let s = sweep(table);
            s.points("f.toml", 1).unwrap_err().to_string()
        };
        let e = err("[sweep.params]\n\"services.api.replicas\" = []\n");
        assert!(
            e.contains("services.api.replicas") && e.contains("empty"),
            "{e}"
        );
        let e = err("[sweep.params]\n\"x\" = { from = 5, to = 1, step = 1 }\n");
        assert!(e.contains("above"), "{e}");
        let e = err("[sweep.params]\n\"x\" = { from = 1, to = 5, step = 0 }\n");
        assert!(e.contains("positive step"), "{e}");
        let e = err("[sweep.params]\n\"x\" = { from = 1, to = 5.0, step = 1 }\n");
        assert!(e.contains("one kind"), "{e}");
        let e = err("[sweep.params]\n\"x\" = { from = 1, to = 5 }\n");
        assert!(e.contains("continuous"), "{e}");
        let e = err("[sweep]\nmode = \"random\"\n[sweep.params]\n\"x\" = [1]\n");
        assert!(e.contains("sweep.samples") && e.contains("required"), "{e}");
        // A NaN or an infinity, even one a random sample might never draw,
        // or one inside a table.
        for (list, at) in [
            ("[1.0, nan]", "value 1 (nan)"),
            ("[[{ m = -inf }]]", "value 0 ([{ m = -inf }])"),
        ] {
            let e = err(&format!(
                "[sweep]\nmode = \"random\"\nsamples = 1\n[sweep.params]\n\"x\" = {list}\n"
            ));
            assert_eq!(
                e,
                format!(
                    "f.toml: `sweep.params.\"x\"`: {at}: no scenario key takes NaN or an \
                     infinity; give finite numbers"
                )
            );
        }
        let text = format!("{BASE}\n[sweep.params]\n\"x\" = 3\n");
        let e = toml::from_str::<Scenario>(&text).unwrap_err().to_string();
        assert!(e.contains("expected a list of values"), "{e}");
    }

    /// An empty `[sweep.params]` says what to give, not that `` is empty.
    #[test]
    fn an_empty_params_table_asks_for_a_parameter() {
        let text = format!("{BASE}\n[sweep]\n[sweep.params]\n");
        let err = plan(Path::new("s.toml"), &text, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with(
                "`sweep.params`: no parameter to sweep: give at least one, e.g. \
                 `\"services.api.replicas\" = [2, 4]`"
            ),
            "{err}"
        );
    }

    /// The sweep's `replications` is checked with the scenario and its
    /// errors are located at its own key, not at the `run.replications` it
    /// is applied as.
    #[test]
    fn bad_sweep_replications_are_located_at_the_sweeps_key() {
        let path = Path::new("s.toml");
        let err = |r: &str| {
            let text = format!(
                "{BASE}\n[sweep]\nreplications = {r}\n[sweep.params]\n\"services.api.replicas\" = [1, 3]\n"
            );
            plan(path, &text, &[]).unwrap_err().to_string()
        };
        assert_eq!(
            err("2.5"),
            "s.toml:16:16: `sweep.replications`: invalid type: floating point `2.5`, \
             expected an integer from 1 to 100000, or { min = N, max = N, precision = F }"
        );
        assert_eq!(
            err("0"),
            "s.toml:16:1: `sweep.replications` = 0: expected an integer from 1 to 100000, \
             or { min, max, precision }"
        );
        let e = err("{ min = 1, max = 4, precision = 0.1 }");
        assert!(
            e.starts_with("s.toml:16:18: `sweep.replications.min` = 1: expected an integer from 2"),
            "{e}"
        );
        // A valid one replaces `run.replications` in every point.
        let text = format!(
            "{BASE}\n[sweep]\nreplications = {{ min = 3, max = 9, precision = 0.1 }}\n\
             [sweep.params]\n\"services.api.replicas\" = [1, 3]\n"
        );
        let p = plan(path, &text, &[]).unwrap();
        assert_eq!(p.base.plan.run.replications, 9);
        assert!(p.points.iter().all(|pt| pt.plan.run.replications == 9));
    }

    #[test]
    fn plan_validates_every_point_and_names_unknown_paths() {
        let path = Path::new("s.toml");
        let ok = format!(
            "{BASE}\n[sweep]\nreplications = 2\n[sweep.params]\n\"services.api.replicas\" = [1, 3]\n"
        );
        let plan = plan(path, &ok, &[]).unwrap();
        assert_eq!(plan.points.len(), 2);
        assert_eq!(plan.base.plan.run.replications, 2);
        assert_ne!(
            plan.points[0].plan, plan.points[1].plan,
            "the value is applied"
        );
        assert_eq!(plan.point_sets(1), ["services.api.replicas=3"]);

        let typo = format!("{BASE}\n[sweep.params]\n\"services.api.replica\" = [1, 3]\n");
        let e = plan_err(path, &typo);
        assert!(
            e.contains("services.api.replica`")
                && e.contains("closest valid paths: services.api.replicas"),
            "{e}"
        );
        let wrong_type =
            format!("{BASE}\n[sweep.params]\n\"services.api.replicas\" = [2, \"many\"]\n");
        let e = plan_err(path, &wrong_type);
        assert!(e.contains("sweep point 1") && e.contains("\"many\""), "{e}");
        let e = plan_err(path, BASE);
        assert!(e.contains("no [sweep] table"), "{e}");
    }

    /// A point's bad value is named where it is written: the list element,
    /// in either way of writing a parameter, or the parameter's key for a
    /// range.
    #[test]
    fn a_bad_point_value_names_its_line_and_column() {
        let path = Path::new("s.toml");
        let quoted = format!(
            "{BASE}\n[sweep.params]\n\"services.api.replicas\" = [\n  2,\n  \"many\",\n]\n"
        );
        let nested = format!("{BASE}\n[sweep.params.services.api]\nreplicas = [3, -1]\n");
        let range = format!(
            "{BASE}\n[sweep.params]\n\"services.api.replicas\" = {{ from = -2, to = 2, step = 2 }}\n"
        );
        // (scenario, the bad point, what the error points at: the first
        // such text after `[sweep.params`).
        let cases = [
            (&quoted, 1, "\"many\""),
            (&nested, 1, "-1"),
            (&range, 0, "\"services.api.replicas\""),
        ];
        for (text, point, needle) in cases {
            let params = text.find("[sweep.params").unwrap();
            let offset = params + text[params..].find(needle).unwrap();
            let (line, col) = crate::load::line_col(text, offset);
            let e = plan_err(path, text);
            assert!(
                e.starts_with(&format!("sweep point {point} ("))
                    && e.contains(&format!("): s.toml:{line}:{col}: ")),
                "{line}:{col} in {e}"
            );
        }
    }

    /// A parameter that changes the metric columns (here: surges bring
    /// the recovery columns) is refused when the sweep is planned, naming
    /// the point and the columns; so is a parameter under `[slo]`.
    #[test]
    fn a_point_with_other_columns_and_an_slo_parameter_are_refused() {
        let path = Path::new("s.toml");
        let text = format!(
            "{BASE}\n[sweep.params]\n\"workload.surges\" = [[], [{{ at = \"1s\", duration = \"1s\", multiplier = 2.0 }}]]\n"
        );
        let e = plan_err(path, &text);
        assert!(
            e.starts_with(
                "s.toml: sweep point 1 (workload.surges = [{ at = \"1s\", duration = \"1s\", \
                 multiplier = 2.0 }]) adds the columns `recovered`, `recovery_s`, \
                 `peak_error_rate` and 10 more: every point of a sweep is measured on the base \
                 scenario's columns"
            ),
            "{e}"
        );
        // A search plans its points as it reaches them, and checks every
        // value's columns before it starts.
        let search = text.replace(
            "[sweep.params]",
            "[sweep]\nmode = \"search\"\n[sweep.params]",
        );
        let e = match search_space(path, &search, &[]) {
            Ok(_) => panic!("other columns"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.starts_with("s.toml: a point of the search (workload.surges = [{ at = \"1s\""),
            "{e}"
        );
        assert!(e.contains("adds the columns `recovered`"), "{e}");
        for param in [
            "\"slo.p99\" = [\"10ms\", \"20ms\"]",
            "slo = { per_region = [true] }",
        ] {
            let text = format!("{BASE}\n[slo]\np99 = \"50ms\"\n[sweep.params]\n{param}\n");
            let e = plan_err(path, &text);
            assert!(
                e.starts_with("s.toml: `sweep.params.\"slo.")
                    && e.contains("the [slo] is what every point is judged by"),
                "{e}"
            );
        }
    }

    /// A float too large or too small for positional digits is written
    /// with its exponent, and reads back as the same float; others as toml
    /// writes them.
    #[test]
    fn floats_are_written_inline_short_and_read_back() {
        for (x, text) in [
            (1e300, "1e300"),
            (2.5e-7, "2.5e-7"),
            (-3e20, "-3e20"),
            (0.5, "0.5"),
            (2.0, "2.0"),
            (f64::INFINITY, "inf"),
        ] {
            let written = inline(&toml::Value::Float(x));
            assert_eq!(written, text);
            let back: toml::Table = toml::from_str(&format!("x = {written}")).unwrap();
            assert_eq!(back["x"].as_float(), Some(x), "{written}");
        }
        assert_eq!(inline(&toml::Value::Float(f64::NAN)), "nan");
        // In a point's label, as a planner reads it.
        let text = format!("{BASE}\n[sweep.params]\n\"services.api.replicas\" = [1e300]\n");
        let e = plan_err(Path::new("s.toml"), &text);
        assert!(
            e.starts_with("sweep point 0 (services.api.replicas = 1e300): "),
            "{e}"
        );
    }

    fn plan_err(path: &Path, text: &str) -> String {
        match plan(path, text, &[]) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    /// A key that is not bare (an instance type `m5.large`) is quoted in
    /// the paths offered as the closest valid ones, so that one copied
    /// into `[sweep.params]` names the key.
    #[test]
    fn paths_quote_keys_that_are_not_bare() {
        let text = format!(
            "{BASE}\n[costs.instance_types.\"m5.large\"]\nvcpu = 2\nmemory = \"8GiB\"\nhourly = 0.1\n"
        )
        .replace("replicas = 2", "replicas = 2\ninstance.type = \"m5.large\"")
        .replace("instance = { workers = 4 }\n", "");
        let text = text.replace(
            "instance.type = \"m5.large\"",
            "instance = { workers = 4, type = \"m5.large\" }",
        );
        let loaded = load_str(Path::new("s.toml"), &text, &[]).expect("valid");
        let paths = scenario_paths(&loaded.scenario);
        let hourly = "costs.instance_types.\"m5.large\".hourly";
        assert!(paths.iter().any(|p| p == hourly), "{paths:?}");
        // The path sets the key.
        let set = vec![format!("{hourly}=0.2")];
        let again = load_str(Path::new("s.toml"), &text, &set).expect("settable");
        assert_eq!(
            again.scenario.costs.unwrap().instance_types["m5.large"].hourly,
            0.2
        );
        let sweep = format!(
            "{text}\n[sweep.params]\n'costs.instance_types.\"m5.large\".hourlyy' = [1.0]\n"
        );
        let e = plan_err(Path::new("s.toml"), &sweep);
        assert!(e.contains(&format!("closest valid paths: {hourly}")), "{e}");
    }

    #[test]
    fn closest_paths_by_edit_distance() {
        let c: Vec<String> = [
            "run.seed",
            "services.api.replicas",
            "services.api.instance.workers",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            closest("services.api.replica", &c, 1),
            ["services.api.replicas"]
        );
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
    }
}
