//! `recommendation.toml`: the recommended point as a complete scenario, its
//! parameter values applied, ready for `headroom run` and with `[policy]`
//! tables the sidecar loads as they are.

use std::fmt::Write as _;

use anyhow::{Context, bail};

use headroom_models::Scenario;

use crate::planner::part::Manifest;
use crate::planner::points::{COST, Points};
use crate::planner::slo::{Slo, short};

/// The recommended point `index` (into `points.points`) as scenario text,
/// headed by comments saying where it comes from and why.
pub fn render(
    manifest: &Manifest,
    points: &Points,
    index: usize,
    slo: &Slo,
) -> anyhow::Result<String> {
    let p = &points.points[index];
    let id = &manifest.identity;
    let values = &id.points[p.point];
    // The SLO the point was chosen under (`--slo-p99` and
    // `--slo-availability` of `sweep` and `recommend` replace the file's),
    // so that `headroom run` judges `slo_met` by it.
    let (body, moved) = point_toml(manifest, p.point, Some(slo))?;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Headroom recommendation: point {} of the sweep of {} (sweep {}).",
        p.point,
        one_line(&manifest.scenario_file),
        crate::planner::part::short_id(&manifest.sweep_id)
    );
    for (path, v) in id.params.iter().zip(values) {
        let _ = writeln!(s, "#   {} = {}", one_line(path), one_line(v));
    }
    let cost = points.ci(p, COST);
    let p99 = points.ci(p, slo.latency_metric());
    let _ = writeln!(
        s,
        "# The cheapest point whose SLO ({}) holds at the pessimistic end of its 95 % CI,\n\
         # over {} replications: cost {} ± {} USD/month, {}p99 {} ± {} ms.",
        slo.describe(),
        p.replications,
        short(cost.mean),
        short(cost.half_width),
        if slo.per_region {
            "worst client region's "
        } else {
            ""
        },
        short(p99.mean),
        short(p99.half_width)
    );
    if !moved.is_empty() {
        let _ = writeln!(
            s,
            "# Files the scenario names relative to its folder, here as absolute paths: {}.",
            one_line(&moved.join(", "))
        );
    }
    // The policies the sidecar would run, checked as `headroom check`
    // does.
    for text in warnings_of(manifest, &body) {
        let _ = writeln!(s, "# Warning: {}.", one_line(&text));
    }
    let _ = writeln!(
        s,
        "# A complete scenario (defaults filled in): `headroom run` it as it is; its\n\
         # [policy] tables are the ones headroom-sidecar reads.\n"
    );
    s.push_str(&body);
    Ok(s)
}

/// Point `point`'s scenario as TOML (defaults filled in), with the
/// objectives of `slo` when given, and the files it names relative to the
/// base scenario's folder as absolute paths (also returned).
fn point_toml(
    manifest: &Manifest,
    point: usize,
    slo: Option<&Slo>,
) -> anyhow::Result<(String, Vec<String>)> {
    let id = &manifest.identity;
    let mut scenario = point_scenario(&id.scenario, &id.params, &id.points[point])?;
    if let Some(slo) = slo {
        scenario.slo = slo_config(slo);
    }
    let mut doc = toml::Value::try_from(&scenario).context("cannot render recommendation.toml")?;
    let scenario_dir = std::path::Path::new(&manifest.scenario_file)
        .parent()
        .unwrap_or(std::path::Path::new(""));
    let moved = absolute_paths(&mut doc, scenario_dir);
    let scenario: Scenario = doc
        .try_into()
        .context("the recommended point is not a valid scenario")?;
    let body = toml::to_string_pretty(&scenario).context("cannot render recommendation.toml")?;
    Ok((body, moved))
}

/// What `headroom check` warns of in a point's scenario `body`: retries
/// that outlive their caller's deadline. Empty when there is nothing to
/// say, or when the point no longer loads (say a trace file moved since
/// the sweep: `headroom run` then says why).
fn warnings_of(manifest: &Manifest, body: &str) -> Vec<String> {
    let path = std::path::Path::new(&manifest.scenario_file);
    headroom_models::load_str(path, body, &[]).map_or(Vec::new(), |loaded| {
        headroom_models::plan::deadlines::retries_outliving_callers(&loaded.plan)
    })
}

/// [`warnings_of`] point `point` of the sweep (nothing if it does not
/// render).
pub fn point_warnings(manifest: &Manifest, point: usize) -> Vec<String> {
    point_toml(manifest, point, None).map_or(Vec::new(), |(body, _)| warnings_of(manifest, &body))
}

/// The resolved base scenario with `values` (inline TOML) set at `params`,
/// without its `[sweep]` table.
pub fn point_scenario(
    base: &serde_json::Value,
    params: &[String],
    values: &[String],
) -> anyhow::Result<Scenario> {
    let scenario: Scenario =
        serde_json::from_value(base.clone()).context("the manifest's scenario does not parse")?;
    let mut doc = toml::Value::try_from(&scenario).context("cannot convert the scenario")?;
    for (path, raw) in params.iter().zip(values) {
        let value = parse_inline(raw)?;
        let toml::Value::Table(root) = &mut doc else {
            bail!("the scenario is not a table");
        };
        set(root, path, value)?;
    }
    let mut scenario: Scenario = doc
        .try_into()
        .context("the recommended point is not a valid scenario")?;
    scenario.sweep = None;
    Ok(scenario)
}

/// The planner's objectives as the scenario's `[slo]` table (`None` when
/// there are none).
fn slo_config(slo: &Slo) -> Option<headroom_models::scenario::SloConfig> {
    // Limits in ms came from whole nanoseconds: rounding restores them.
    let span =
        |ms: Option<f64>| ms.map(|ms| headroom_sim::Span::from_nanos((ms * 1e6).round() as u64));
    (*slo != Slo::default()).then(|| headroom_models::scenario::SloConfig {
        p50: span(slo.p50_ms),
        p99: span(slo.p99_ms),
        p999: span(slo.p999_ms),
        availability: slo.availability,
        max_cost_per_month: slo.max_cost_per_month_usd,
        session_availability: slo.session_availability,
        max_stale_read_ratio: slo.max_stale_read_ratio,
        per_region: slo.per_region,
    })
}

/// Rewrites every relative file `path` of the scenario (a trace's, an
/// empirical distribution's) that names an existing file from
/// `scenario_dir` as that file's absolute path: `recommendation.toml` lives
/// in another folder, and relative paths are read from the file's own.
/// Returns the rewritten paths as they were. A path that does not resolve
/// from here (the sweep was merged in another working folder) is left as
/// it is, and `headroom run` names it if it is missing.
fn absolute_paths(doc: &mut toml::Value, scenario_dir: &std::path::Path) -> Vec<String> {
    let mut moved = Vec::new();
    let mut stack = vec![doc];
    while let Some(v) = stack.pop() {
        match v {
            toml::Value::Table(t) => {
                for (key, v) in t.iter_mut() {
                    if let (true, toml::Value::String(path)) = (key == "path", &mut *v) {
                        let p = std::path::Path::new(path.as_str());
                        if p.is_relative()
                            && let Ok(full) = scenario_dir.join(p).canonicalize()
                            && let Some(full) = full.to_str()
                        {
                            moved.push(std::mem::replace(path, full.to_owned()));
                        }
                    } else {
                        stack.push(v);
                    }
                }
            }
            toml::Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
    moved.sort();
    moved.dedup();
    moved
}

/// Parses an inline TOML value (`4`, `"5ms"`, `{ a = 1 }`).
pub fn parse_inline(raw: &str) -> anyhow::Result<toml::Value> {
    let table: toml::Table =
        toml::from_str(&format!("v = {raw}")).with_context(|| format!("bad value {raw}"))?;
    table
        .get("v")
        .cloned()
        .with_context(|| format!("bad value {raw}"))
}

/// Sets `value` at dotted `path` (arrays of tables addressed by `name`,
/// `tier` for cache tiers, or index; a key with dots or punctuation in
/// double quotes, `policy.mesh.edges."api->db".retry`), as `--set` does.
fn set(table: &mut toml::Table, path: &str, value: toml::Value) -> anyhow::Result<()> {
    let segs = headroom_models::split_path(path)
        .with_context(|| format!("`{path}`: not a dotted key path"))?;
    set_in(table, &segs, value, path)
}

/// [`set`] of the key at `segs` under `table`.
fn set_in(
    table: &mut toml::Table,
    segs: &[&str],
    value: toml::Value,
    path: &str,
) -> anyhow::Result<()> {
    let Some((first, rest)) = segs.split_first() else {
        bail!("`{path}`: not a dotted key path");
    };
    if rest.is_empty() {
        table.insert((*first).to_owned(), value);
        return Ok(());
    }
    // A table the resolved scenario leaves out (a `[policy]` equal to the
    // defaults is not written) is made, as `--set` makes it.
    let next = table
        .entry(*first)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in_value(next, first, rest, value, path)
}

/// [`set`] of the key at `segs` inside `here`, the value of key `name`: a
/// table, or an array whose element the first segment names (by `name`,
/// `tier`, or index, as `--set` reads it).
fn set_in_value(
    here: &mut toml::Value,
    name: &str,
    segs: &[&str],
    value: toml::Value,
    path: &str,
) -> anyhow::Result<()> {
    match here {
        toml::Value::Table(t) => set_in(t, segs, value, path),
        toml::Value::Array(items) => {
            let (element, rest) = segs
                .split_first()
                .with_context(|| format!("`{path}`: not a dotted key path"))?;
            let names = items.iter().map(|t| {
                t.get("name")
                    .or_else(|| t.get("tier"))
                    .and_then(toml::Value::as_str)
            });
            let index = headroom_models::element_position(names, element)
                .with_context(|| format!("`{path}`: no `{name}` named `{element}`"))?;
            if rest.is_empty() {
                items[index] = value;
                return Ok(());
            }
            set_in_value(&mut items[index], element, rest, value, path)
        }
        _ => bail!("`{path}`: `{name}` is a value, not a table"),
    }
}

/// `text` for a TOML comment: control characters (a newline in a file
/// name, say) escaped, so the comment stays one line and the file parses.
pub fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped = c.is_control().then(|| c.escape_default());
            escaped
                .into_iter()
                .flatten()
                .chain((!c.is_control()).then_some(c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const SCENARIO: &str = r#"
[run]
duration = "1m"

[workload]
arrivals = { process = "poisson", rate = 100.0 }

[[services]]
name = "api"
instance = { workers = 4 }
work = { distribution = "exponential", mean = "1ms" }
calls = [{ service = "db" }]
replicas = 2

[[services]]
name = "db"
instance = { workers = 4 }
work = { distribution = "exponential", mean = "1ms" }
replicas = 2

[policy.mesh]
timeout = "1s"

[policy.mesh.edges."api->db"]
timeout = "2s"
"#;

    #[test]
    fn quoted_edge_keys_and_named_elements_are_set() {
        let loaded = headroom_models::load_str(Path::new("s.toml"), SCENARIO, &[]).unwrap();
        let base = serde_json::to_value(&loaded.scenario).unwrap();
        let params = [
            "policy.mesh.edges.\"api->db\".timeout".to_owned(),
            "services.db.replicas".to_owned(),
        ];
        let values = ["\"250ms\"".to_owned(), "5".to_owned()];
        let scenario = point_scenario(&base, &params, &values).unwrap();
        let doc = toml::Value::try_from(&scenario).unwrap();
        assert_eq!(
            doc["policy"]["mesh"]["edges"]["api->db"]["timeout"].as_str(),
            Some("250ms")
        );
        let db = doc["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"].as_str() == Some("db"))
            .unwrap();
        assert_eq!(db["replicas"].as_integer(), Some(5));
    }

    /// A sweep over a key inside an inline array (`calls`), or over a whole
    /// element of one, is written into the recommended scenario as `--set`
    /// reads it.
    #[test]
    fn keys_inside_inline_arrays_are_set() {
        let loaded = headroom_models::load_str(Path::new("s.toml"), SCENARIO, &[]).unwrap();
        let base = serde_json::to_value(&loaded.scenario).unwrap();
        let calls = |params: &[&str], values: &[&str]| {
            let params: Vec<String> = params.iter().map(|p| (*p).to_owned()).collect();
            let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
            let scenario = point_scenario(&base, &params, &values).unwrap();
            let doc = toml::Value::try_from(&scenario).unwrap();
            doc["services"][0]["calls"].clone()
        };
        let steps = calls(&["services.api.calls.0.service"], &["\"api\""]);
        assert_eq!(steps[0]["service"].as_str(), Some("api"));
        let steps = calls(
            &["services.api.calls.0"],
            &["{ parallel = [{ service = \"db\" }, { service = \"db\" }] }"],
        );
        assert_eq!(steps.as_array().map(Vec::len), Some(1));
        assert_eq!(steps[0]["parallel"][1]["service"].as_str(), Some("db"));
        let params = ["services.api.calls.3.service".to_owned()];
        let err = point_scenario(&base, &params, &["\"db\"".to_owned()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`services.api.calls.3.service`: no `calls` named `3`"
        );
    }

    #[test]
    fn a_comment_line_escapes_control_characters() {
        assert_eq!(one_line("experiments/a b.toml"), "experiments/a b.toml");
        assert_eq!(one_line("a\nb\t.toml"), "a\\nb\\t.toml");
        let comment = format!("# sweep of {}\nx = 1\n", one_line("a\nb = [\n.toml"));
        assert!(toml::from_str::<toml::Table>(&comment).is_ok(), "{comment}");
    }
}
