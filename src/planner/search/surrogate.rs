//! The surrogate the search proposes points with: one Gaussian process per
//! output (log cost, and each SLO metric on a scale where it is roughly
//! smooth), and the acquisition that turns their predictions into "which
//! point next" and "how likely is an untried point to beat the best".
//!
//! Kernels: cost additive over the parameters (`gp::Kernel::Additive`),
//! the SLO metrics with interactions (`gp::Kernel::Product`).
//!
//! The cost model is fitted to the points not known to fail only (the
//! driver leaves the cost of a failing point out): what matters is what a
//! point costs when its SLO holds, and a point that misses it turns work
//! away and pays less for it (on the seed scenario a failing point pays
//! almost no egress and costs a tenth of one that serves the load).
//!
//! Scales: latencies and cost are modelled as logarithms (they span orders
//! of magnitude near saturation; a ratio is what matters); availability as
//! `ln(1 - availability)`, the log of the unavailability, so 0.999 and
//! 0.9999 are as far apart as 0.99 and 0.999. A latency quantile is
//! observed at the log of its estimate, the replications pooled (as the
//! verdicts centre it), with the spread of the replications' own logs about
//! it; its mean over short replications is biased low near saturation,
//! where the SLO's cliff is. A replication that failed, or
//! a metric left undefined because nothing succeeded, counts as ten times
//! worse than the limit (or than the worst seen), so the model learns that
//! the region is bad.
//!
//! Acquisition (constrained expected improvement, Gardner et al. 2014): with
//! a best point of log cost `c*`, a candidate scores
//! `P(SLO holds) x E[max(0, c* - log cost)]`; `P(SLO holds)` is the product
//! over objectives of `Phi((limit - mean) / (1.5 sd))` (a margin for model
//! misfit, [`FEASIBILITY_SD_SCALE`]). Before any point holds, it
//! scores `P(SLO holds)`, with a 10 % preference for cheaper predicted cost.
//! The chance that a candidate is a cheaper point whose SLO holds is
//! `P(SLO holds) x P(log cost < c* + ln(1 - t))`, cheaper than the best by
//! more than the cost tolerance `t` (`sweep.cost_tolerance`; at least 0.1 %,
//! [`MIN_MARGIN`]: points of equal cost cannot improve on the best), and the
//! expected saving is measured from that same target.

use crate::planner::exec::{Record, pooled};
use crate::planner::search::gp::{DEFAULT_LENGTH_SCALE, Gp, Kernel, normal_cdf, normal_pdf};
use crate::planner::search::verdict::{Objectives, series};
use crate::planner::slo::Side;

/// The least a point must be cheaper than the best to count as better (log),
/// whatever the cost tolerance: 0.1 %.
pub const MIN_MARGIN: f64 = 0.000_999_500_333_083_533; // ln(1.001)

/// The SLO models' predictive standard deviation is widened by this much
/// before it becomes P(SLO holds): a margin for model misfit at the SLO's
/// cliff, where latency jumps by orders of magnitude between neighbouring
/// points and a stationary GP is overconfident. Chosen on the validation
/// sweeps (experiments/README.md, "Adaptive search"): at 1.0 the search
/// settled on a dearer point of `experiments/search/mmc.toml`.
pub const FEASIBILITY_SD_SCALE: f64 = 1.5;

/// Below this many observations the length scales are not fitted.
const MIN_FIT: usize = 3;

/// What the surrogate says about one candidate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Prediction {
    /// P(every objective holds).
    pub p_feasible: f64,
    /// Predicted mean cost per month (USD).
    pub cost: f64,
    /// P(the SLO holds and it is cheaper than the best by more than the
    /// cost tolerance), or P(the SLO holds) before any point holds.
    pub chance: f64,
    /// The acquisition score.
    pub score: f64,
}

/// One point's observations on the model's scales.
pub struct Observation {
    /// Surrogate inputs.
    pub position: Vec<f64>,
    /// Per output (cost first, then each objective): mean and variance of
    /// the mean, `None` where unusable.
    pub outputs: Vec<Option<(f64, f64)>>,
}

/// The fitted models.
pub struct Surrogate {
    /// Cost, then one per objective; `None` without observations.
    models: Vec<Option<Gp>>,
    /// Per objective, its limit on the model's scale (all "at most").
    limits: Vec<f64>,
    /// Log cost of the best point, if one holds.
    best: Option<f64>,
    /// How much cheaper (log) than the best a point must be to count.
    margin: f64,
}

/// `x` on the model's scale for a metric on `side`.
fn scale(side: Side, x: f64) -> f64 {
    match side {
        Side::AtMost => x.max(1e-9).ln(),
        Side::AtLeast => (1.0 - x).max(1e-9).ln(),
    }
}

/// One tried point's observation; `cost` is the cost cell index.
pub fn observe(
    position: Vec<f64>,
    records: &[Record],
    cost: Option<usize>,
    objectives: &Objectives,
) -> Observation {
    // `centre`: the estimate on the model's scale when it is not the mean
    // of `xs` (a pooled quantile); the spread is taken about it.
    let summarise = |xs: &[f64], centre: Option<f64>| -> Option<(f64, f64)> {
        if xs.is_empty() || xs.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let n = xs.len() as f64;
        let mean = centre
            .filter(|c| c.is_finite())
            .unwrap_or_else(|| xs.iter().sum::<f64>() / n);
        let var = if xs.len() > 1 {
            xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Some((mean, var / n))
    };
    let pooled = pooled(records);
    let costs: Vec<f64> = series(records, cost)
        .iter()
        .map(|&c| {
            if c.is_nan() {
                f64::NAN
            } else {
                scale(Side::AtMost, c)
            }
        })
        .collect();
    let mut outputs = vec![summarise(&costs, None)];
    for &(metric, side, limit, index) in &objectives.list {
        let worst = scale(side, limit) + 10f64.ln();
        let xs: Vec<f64> = series(records, index)
            .iter()
            .map(|&x| {
                if x.is_nan() {
                    match side {
                        Side::AtMost => worst,
                        Side::AtLeast => 0.0,
                    }
                } else {
                    scale(side, x)
                }
            })
            .collect();
        let centre = pooled
            .as_ref()
            .and_then(|p| p.get(metric))
            .map(|x| scale(side, x));
        outputs.push(summarise(&xs, centre));
    }
    Observation { position, outputs }
}

impl Surrogate {
    /// Fits every output to `observations`; `best_cost` is the best point's
    /// mean cost (if one holds) and `tolerance` the fraction of it a point
    /// must save to count as cheaper. `lengths[o]` carries the length
    /// scales of output `o` between fits: refitted when `refit` (and there
    /// are enough observations), reused otherwise.
    pub fn fit(
        observations: &[Observation],
        objectives: &Objectives,
        (best_cost, tolerance): (Option<f64>, f64),
        lengths: &mut [Option<Vec<f64>>],
        refit: bool,
    ) -> Surrogate {
        let d = observations.first().map_or(0, |o| o.position.len());
        let outputs = 1 + objectives.list.len();
        let mut models = Vec::with_capacity(outputs);
        // `o` indexes each observation's outputs and `lengths` alike.
        #[allow(clippy::needless_range_loop)]
        for o in 0..outputs {
            let (mut x, mut y, mut noise) = (Vec::new(), Vec::new(), Vec::new());
            for obs in observations {
                if let Some((m, v)) = obs.outputs[o] {
                    x.push(obs.position.clone());
                    y.push(m);
                    noise.push(v);
                }
            }
            // Cost is a sum of per-parameter effects in logs; the SLO
            // metrics depend on parameters jointly (capacity = replicas x
            // workers).
            let kind = if o == 0 {
                Kernel::Additive
            } else {
                Kernel::Product
            };
            let model = if refit && x.len() >= MIN_FIT {
                Gp::fit_ml(kind, &x, &y, &noise)
            } else {
                let l = lengths[o]
                    .clone()
                    .unwrap_or_else(|| vec![DEFAULT_LENGTH_SCALE; d]);
                Gp::fit(kind, &x, &y, &noise, &l)
            };
            if let Some(g) = &model {
                lengths[o] = Some(g.length().to_vec());
            }
            models.push(model);
        }
        Surrogate {
            models,
            limits: objectives
                .list
                .iter()
                .map(|&(_, side, limit, _)| scale(side, limit))
                .collect(),
            best: best_cost.map(|c| scale(Side::AtMost, c)),
            margin: (-(1.0 - tolerance.clamp(0.0, 0.5)).ln()).max(MIN_MARGIN),
        }
    }

    /// The prediction at `position`; `cheapest` and `dearest` are the
    /// predicted log costs' range over the candidates (for the preference
    /// toward cheap points before any point holds).
    pub fn predict(&self, position: &[f64], cost_range: (f64, f64)) -> Prediction {
        let mut p_feasible = 1.0;
        for (model, &limit) in self.models[1..].iter().zip(&self.limits) {
            if let Some(g) = model {
                let (m, s) = g.predict(position);
                p_feasible *= probability_below(limit, m, s * FEASIBILITY_SD_SCALE);
            }
        }
        let (mc, sc) = self.models[0]
            .as_ref()
            .map_or((0.0, f64::INFINITY), |g| g.predict(position));
        let cost = mc.exp();
        match self.best {
            Some(best) => {
                let target = best - self.margin;
                let p_cheaper = probability_below(target, mc, sc);
                let improvement = if sc > 0.0 {
                    let z = (target - mc) / sc;
                    (target - mc) * normal_cdf(z) + sc * normal_pdf(z)
                } else {
                    (target - mc).max(0.0)
                };
                Prediction {
                    p_feasible,
                    cost,
                    chance: p_feasible * p_cheaper,
                    score: p_feasible * improvement,
                }
            }
            None => {
                let (lo, hi) = cost_range;
                let dear = if hi > lo { (mc - lo) / (hi - lo) } else { 0.0 };
                Prediction {
                    p_feasible,
                    cost,
                    chance: p_feasible,
                    score: p_feasible * (1.0 - 0.1 * dear.clamp(0.0, 1.0)),
                }
            }
        }
    }

    /// Every output's predicted mean at `position` as an exact observation
    /// (for the kriging believer).
    pub fn believed(&self, position: &[f64]) -> Vec<Option<(f64, f64)>> {
        self.models
            .iter()
            .map(|m| m.as_ref().map(|g| (g.predict(position).0, 0.0)))
            .collect()
    }

    /// P(the cost at `position`, were its SLO to hold, is below the best's
    /// by more than the cost tolerance): the cost model alone, without the
    /// SLO models. 1 before any point holds or without a cost model.
    pub fn chance_cheaper(&self, position: &[f64]) -> f64 {
        match (self.best, &self.models[0]) {
            (Some(best), Some(g)) => {
                let (m, s) = g.predict(position);
                probability_below(best - self.margin, m, s)
            }
            _ => 1.0,
        }
    }

    /// The predicted log cost at `position` (0 without a cost model).
    pub fn log_cost(&self, position: &[f64]) -> f64 {
        self.models[0]
            .as_ref()
            .map_or(0.0, |g| g.predict(position).0)
    }
}

/// P(N(mean, sd^2) < limit); a step when `sd` is 0.
fn probability_below(limit: f64, mean: f64, sd: f64) -> f64 {
    if sd > 0.0 && sd.is_finite() {
        normal_cdf((limit - mean) / sd)
    } else if sd.is_infinite() {
        0.5
    } else if mean < limit {
        1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::slo::Slo;
    use headroom_models::report::Cell;

    fn records(rows: &[(f64, f64)]) -> Vec<Record> {
        rows.iter()
            .map(|&(cost, p99)| Record {
                cells: Ok(vec![Cell::Float(cost), Cell::Float(p99)]),
                timeseries: crate::planner::table::Table::default(),
                services: crate::planner::table::Table::default(),
                series: Default::default(),
                shards: crate::planner::table::Table::default(),
                regions: crate::planner::table::Table::default(),
                deployments: crate::planner::table::Table::default(),
                edges: crate::planner::table::Table::default(),
                bill: crate::planner::table::Table::default(),
                warmup_s: 0.0,
                latency: None,
                region_latency: Vec::new(),
                edge_latency: Vec::new(),
                batches: (Vec::new(), 0.0),
                stations: Vec::new(),
                caches: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn cheap_fast_points_score_above_dear_or_slow_ones() {
        // One parameter: capacity 0..1. Cost grows with it; p99 falls.
        let slo = Slo {
            p99_ms: Some(30.0),
            ..Slo::default()
        };
        let objectives = Objectives::new(&slo, &["cost".into(), "latency_p99_ms".into()]);
        let obs: Vec<Observation> = [0.0, 0.5, 1.0]
            .iter()
            .map(|&x| {
                let cost = 100.0 * (1.0 + 3.0 * x);
                let p99 = 80.0 * (1.0 - x) + 10.0;
                observe(
                    vec![x],
                    &records(&[(cost, p99), (cost, p99 * 1.01)]),
                    Some(0),
                    &objectives,
                )
            })
            .collect();
        let mut lengths = vec![None, None];
        // The best so far is capacity 1 (cost 400, p99 10).
        let s = Surrogate::fit(&obs, &objectives, (Some(400.0), 0.0), &mut lengths, true);
        let at = |x: f64| s.predict(&[x], (0.0, 0.0));
        assert!(at(0.0).p_feasible < 0.05, "p99 ~90 ms: {:?}", at(0.0));
        assert!(
            at(1.0).chance < 0.05,
            "the best itself cannot beat the best"
        );
        // At 0.8 the p99 trend (80 (1 - x) + 10) is 26 ms, under the 30 ms
        // limit, and the cost 340 is under the best's 400.
        let mid = at(0.8);
        // Between observations the surrogate's uncertainty is widened 1.5x
        // (FEASIBILITY_SD_SCALE), so a point 4 ms under the limit is about
        // even odds, far above the slow end's.
        assert!(mid.p_feasible > 0.4 && mid.chance > 0.3, "{mid:?}");
        assert!(mid.score > at(0.0).score && mid.score > at(1.0).score);
        assert!((at(0.5).cost - 250.0).abs() < 5.0, "{:?}", at(0.5));
    }

    #[test]
    fn the_cost_tolerance_raises_the_bar_for_cheaper() {
        // Every point meets the SLO easily; cost falls by 1 % across the
        // range. The best is at 0 (400); 0.75 is predicted about 0.75 %
        // cheaper.
        let slo = Slo {
            p99_ms: Some(30.0),
            ..Slo::default()
        };
        let objectives = Objectives::new(&slo, &["cost".into(), "latency_p99_ms".into()]);
        let obs: Vec<Observation> = [0.0, 0.5, 1.0]
            .iter()
            .map(|&x| {
                let cost = 400.0 * (1.0 - 0.01 * x);
                observe(
                    vec![x],
                    &records(&[(cost, 10.0), (cost, 10.1)]),
                    Some(0),
                    &objectives,
                )
            })
            .collect();
        let chance = |tolerance: f64| {
            let mut lengths = vec![None, None];
            let s = Surrogate::fit(
                &obs,
                &objectives,
                (Some(400.0), tolerance),
                &mut lengths,
                true,
            );
            s.predict(&[0.75], (0.0, 0.0))
        };
        let strict = chance(0.0);
        assert!(
            strict.chance > 0.9,
            "0.75 % cheaper than the best: {strict:?}"
        );
        let tolerant = chance(0.02);
        assert!(
            tolerant.chance < 0.05,
            "not 2 % cheaper: settled under a 2 % tolerance: {tolerant:?}"
        );
        assert!(tolerant.score < strict.score);
    }

    #[test]
    fn a_latency_quantile_is_observed_at_its_pooled_estimate() {
        // Two replications: 1,000 requests at 10 ms with their slowest 1 %
        // at 20 ms, and 1,000 at 10 ms with none slower. Their own p99s
        // are 20 and 10 ms (mean of logs ln(14.1)); pooled, 0.5 % of the
        // 2,000 are slow, so the p99 is 10 ms.
        let slo = Slo {
            p99_ms: Some(30.0),
            ..Slo::default()
        };
        let objectives = Objectives::new(&slo, &["cost".into(), "latency_p99_ms".into()]);
        let rep = |slow: u64, p99: f64| {
            let mut h = headroom_sim::stats::LatencyHistogram::new();
            h.record_n(10_000_000, 1_000 - slow);
            h.record_n(20_000_000, slow);
            Record {
                cells: Ok(vec![Cell::Float(100.0), Cell::Float(p99)]),
                timeseries: crate::planner::table::Table::default(),
                services: crate::planner::table::Table::default(),
                series: Default::default(),
                shards: crate::planner::table::Table::default(),
                regions: crate::planner::table::Table::default(),
                deployments: crate::planner::table::Table::default(),
                edges: crate::planner::table::Table::default(),
                bill: crate::planner::table::Table::default(),
                warmup_s: 0.0,
                latency: Some(h.to_sparse()),
                region_latency: Vec::new(),
                edge_latency: Vec::new(),
                batches: (Vec::new(), 0.0),
                stations: Vec::new(),
                caches: Vec::new(),
            }
        };
        let records = vec![rep(10, 20.0), rep(0, 10.0)];
        let pooled = crate::planner::exec::pooled(&records).unwrap();
        let p99 = pooled.get("latency_p99_ms").unwrap();
        assert!((p99 - 10.0).abs() < 0.1, "{p99}");
        let (mean, var) = observe(vec![0.0], &records, Some(0), &objectives).outputs[1].unwrap();
        assert_eq!(mean, p99.ln());
        // The spread about the pooled centre: ((ln 20 - c)^2 + (ln 10 - c)^2) / 2.
        let about = ((20f64.ln() - mean).powi(2) + (10f64.ln() - mean).powi(2)) / 2.0;
        assert!((var - about).abs() < 1e-12, "{var} vs {about}");
        // Without histograms, the mean of the logs.
        let bare: Vec<Record> = records
            .into_iter()
            .map(|r| Record { latency: None, ..r })
            .collect();
        let (mean, _) = observe(vec![0.0], &bare, Some(0), &objectives).outputs[1].unwrap();
        assert!((mean - (200f64.ln() / 2.0)).abs() < 1e-12, "{mean}");
    }

    #[test]
    fn failed_metrics_count_as_far_past_the_limit() {
        let slo = Slo {
            p99_ms: Some(30.0),
            availability: Some(0.99),
            ..Slo::default()
        };
        let objectives = Objectives::new(
            &slo,
            &[
                "cost".into(),
                "latency_p99_ms".into(),
                "availability".into(),
            ],
        );
        let r = vec![Record {
            cells: Err("unbounded queue".into()),
            timeseries: crate::planner::table::Table::default(),
            services: crate::planner::table::Table::default(),
            series: Default::default(),
            shards: crate::planner::table::Table::default(),
            regions: crate::planner::table::Table::default(),
            deployments: crate::planner::table::Table::default(),
            edges: crate::planner::table::Table::default(),
            bill: crate::planner::table::Table::default(),
            warmup_s: 0.0,
            latency: None,
            region_latency: Vec::new(),
            edge_latency: Vec::new(),
            batches: (Vec::new(), 0.0),
            stations: Vec::new(),
            caches: Vec::new(),
        }];
        let o = observe(vec![0.0], &r, Some(0), &objectives);
        assert!(o.outputs[0].is_none(), "no cost from a failed run");
        let (p99, _) = o.outputs[1].unwrap();
        assert!((p99 - (300.0f64).ln()).abs() < 1e-9);
        assert_eq!(o.outputs[2].unwrap().0, 0.0, "availability 0");
    }
}
