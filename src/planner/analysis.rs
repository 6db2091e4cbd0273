//! From a whole sweep's runs to every derived output: per-point statistics,
//! the frontier, the ranking under the SLO, parameter effects, and the files
//! (`points`, `frontier`, `recommendation.toml`, `summary.md`,
//! `report.html`, `manifest.json`).

use crate::planner::effects::{Effect, effects};
use crate::planner::part::{Part, manifest_bytes};
use crate::planner::points::{COST, PointStats, Points};
use crate::planner::slo::{Ranking, Slo};
use crate::planner::{recommendation, report, summary};

/// A whole sweep, analysed.
pub struct Analysis<'a> {
    /// The merged results.
    pub part: &'a Part,
    /// Per-point statistics.
    pub points: Points,
    /// Pareto-optimal points, cheapest first.
    pub frontier: Vec<usize>,
    /// The SLO ranking.
    pub ranking: Ranking,
    /// The objectives used.
    pub slo: Slo,
    /// Parameter main effects on the SLO's p99 column (index 0) and cost
    /// (index 1), the [`Analysis::effect_metrics`].
    pub effects: Vec<Effect>,
}

fn effect_metrics(slo: &Slo) -> [&'static str; 2] {
    [slo.latency_metric(), COST]
}

impl<'a> Analysis<'a> {
    /// Analyses `part` (a whole sweep) under `slo`.
    pub fn new(part: &'a Part, slo: Slo) -> Analysis<'a> {
        let points = Points::from_runs(
            &part.runs,
            part.manifest.identity.params.len(),
            &part.manifest.point_runs,
        );
        let frontier = points.frontier_on(COST, slo.latency_metric());
        let ranking = Ranking::new(&points, &slo);
        let effects = effects(&points, &effect_metrics(&slo));
        Analysis {
            part,
            points,
            frontier,
            ranking,
            slo,
            effects,
        }
    }

    /// The metrics parameter effects are measured on, in `Effect::spread`
    /// order: the SLO's p99 column, then cost.
    pub fn effect_metrics(&self) -> [&'static str; 2] {
        effect_metrics(&self.slo)
    }

    /// Point `p`'s parameter values, `path = value, ...`; each in backticks
    /// when `code` (for Markdown).
    pub fn assignment(&self, p: &PointStats, code: bool) -> String {
        let id = &self.part.manifest.identity;
        let tick = if code { "`" } else { "" };
        id.params
            .iter()
            .zip(&id.points[p.point])
            .map(|(k, v)| format!("{tick}{k} = {v}{tick}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What point `p` misses of the SLO: one description per objective
    /// that does not hold.
    pub fn misses(&self, p: &PointStats) -> Vec<String> {
        self.slo
            .check(&self.points, p)
            .iter()
            .filter(|c| !c.holds)
            .map(|c| c.describe())
            .collect()
    }

    /// Every output file of the sweep, in a fixed order.
    pub fn files(&self) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let formats = &self.part.manifest.identity.format;
        let all: Vec<usize> = (0..self.points.points.len()).collect();
        let mut files = self.part.table_files()?;
        files.extend(formats.write("points", &self.points.table(&all))?);
        files.extend(formats.write("frontier", &self.points.table(&self.frontier))?);
        if let Some(best) = self.ranking.best() {
            let text = recommendation::render(&self.part.manifest, &self.points, best, &self.slo)?;
            files.push(("recommendation.toml".into(), text.into_bytes()));
        }
        files.push(("summary.md".into(), summary::render(self).into_bytes()));
        files.push(("report.html".into(), report::render(self)?.into_bytes()));
        let mut manifest = self.part.manifest.clone();
        manifest.files = files.iter().map(|(n, _)| n.clone()).collect();
        manifest.files.push("manifest.json".into());
        files.push(("manifest.json".into(), manifest_bytes(&manifest)?));
        Ok(files)
    }
}
