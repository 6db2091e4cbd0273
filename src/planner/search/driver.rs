//! The search loop: batches of (point, replication) runs, each batch run in
//! parallel and folded back in job order, until every point that could
//! still be the answer is settled or the budget runs out.
//!
//! A batch is, in order:
//! 1. **racing**: one more replication for every tried point whose verdict
//!    is still open and whose cost rank against the best point is not
//!    settled (costlier, or not cheaper by more than `cost_tolerance`:
//!    `verdict::cost_rank`), cheapest first, at most a batch;
//! 2. **proposals**: new points, each with its first replications, while
//!    the batch has room: first the point with every monotone parameter at
//!    its most and the centre of the space; then level probes along each
//!    monotone parameter in the best point's slice (`Search::probes`: a
//!    monotone frontier search, so that the surrogate's feasibility model
//!    is not trusted to extrapolate the SLO's cliff over whole levels);
//!    then the surrogate's best candidates (constrained expected
//!    improvement) among the points not yet settled by monotonicity, as
//!    long as one has at least a 5 % chance of being a point whose SLO
//!    holds and that is cheaper than the best by more than
//!    `cost_tolerance`;
//! 3. **confirmation**, when nothing else is left: the best point's
//!    replications up to `max`, so that its numbers (and its verdict) are
//!    the ones a grid sweep would report for it.
//!
//! Everything that decides a batch is a function of the results folded so
//! far, computed on one thread: the path, and so every output, is the same
//! at any `--threads`. Only `max_time` (checked between batches) depends
//! on the clock.

use std::sync::atomic::Ordering;

use headroom_models::Plan;
use headroom_models::sweep::{SearchSpace, inline};
use headroom_sim::exec::Threads;

use crate::planner::exec::{Record, replicate, run_sharing};
use crate::planner::search::lattice::Lattice;
use crate::planner::search::surrogate::{Observation, Prediction, Surrogate, observe};
use crate::planner::search::verdict::{
    CostRank, Objectives, Rank, Verdict, cost_rank, judge, series,
};
use crate::planner::slo::{RankKey, short};
use crate::progress::Progress;

/// Candidates scored per batch at most; larger lattices are subsampled
/// (every untried neighbour of a tried point, then a seeded sample).
pub const CANDIDATES: usize = 20_000;

/// A candidate is worth trying while its chance of being a cheaper point
/// whose SLO holds is at least this (the 95 % of "settled at 95 %").
pub const THRESHOLD: f64 = 0.05;

/// How the search runs.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Replications of a point's first wave (>= 2: a CI needs two).
    pub first: u32,
    /// Most replications of a point.
    pub max: u32,
    /// Runs per batch.
    pub batch: usize,
    /// Most runs in all.
    pub max_runs: u64,
    /// Root seed (for the candidate sample of very large lattices).
    pub seed: u64,
    /// How much cheaper than the best a point must be to matter, as a
    /// fraction of the best point's mean cost (`sweep.cost_tolerance`).
    pub cost_tolerance: f64,
    /// Worker threads.
    pub threads: Threads,
    /// The per-component time series each run keeps
    /// (`--service-timeseries`, `--shard-timeseries`, `--cache-timeseries`).
    pub series: crate::planner::exec::SeriesWanted,
}

/// One point the search ran.
#[derive(Clone, Debug)]
pub struct Tried {
    /// Lattice index (the grid sweep's point number for the same table).
    pub index: usize,
    /// Its parameter values.
    pub values: Vec<toml::Value>,
    /// Its checked model.
    pub plan: Plan,
    /// Replications so far, in order.
    pub records: Vec<Record>,
    /// The SLO verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub why: String,
    /// Set when its cost rank against the best is settled (paired CRN
    /// test): costlier, or not cheaper by more than the tolerance; and why.
    pub rank: Option<(Rank, String)>,
    /// Whether it is the best point so far.
    pub leads: bool,
    /// Why it was proposed.
    pub reason: String,
    /// The batch that first ran it.
    pub batch: usize,
    /// Runs made before it.
    pub runs_before: u64,
    /// What the surrogate predicted when it was proposed.
    pub prediction: Option<Prediction>,
    /// `(batch, runs made)` when it was settled, if it is.
    pub settled: Option<(usize, u64)>,
}

impl Tried {
    /// Settled: it fails (or is not certified), or its cost rank against
    /// the best is known; a point that holds is settled also when it is the
    /// best, or when it has `max` replications (a tie the grid could not
    /// break either).
    fn is_settled(&self, max: u32) -> bool {
        match self.verdict {
            Verdict::Fails | Verdict::Uncertified => true,
            Verdict::Open => self.rank.is_some(),
            Verdict::Holds => {
                self.rank.is_some() || self.leads || self.records.len() >= max as usize
            }
        }
    }
}

/// The outside world's clock, as the search needs it.
pub struct Clock<'a> {
    /// Whether `max_time` has passed.
    pub time_up: &'a dyn Fn() -> bool,
    /// Seconds since the search started (for the overhead figure only).
    pub seconds: &'a dyn Fn() -> f64,
}

/// Why the search stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Every point that could be the answer is settled.
    Settled,
    /// `max_runs` was reached first.
    Budget,
    /// `max_time` was reached first.
    Time,
}

/// Everything the search found.
pub struct Outcome {
    /// The lattice searched.
    pub lattice: Lattice,
    /// Points tried, in order (the sweep's point numbers).
    pub tried: Vec<Tried>,
    /// Runs made.
    pub runs: u64,
    /// Batches run.
    pub batches: usize,
    /// Why it stopped.
    pub end: End,
    /// The best point (into `tried`).
    pub best: Option<usize>,
    /// The untried candidate likeliest to be a cheaper point whose SLO
    /// holds, from the last scan: `(chance, lattice index)`.
    pub top_untried: Option<(f64, usize)>,
    /// The cost tolerance it ran with (fraction of the best's cost).
    pub cost_tolerance: f64,
    /// Untried points settled as missing the SLO by monotonicity.
    pub pruned_below: usize,
    /// Untried points settled as no cheaper than a point that holds.
    pub pruned_above: usize,
    /// Wall-clock seconds spent running batches (never written to a file).
    pub simulate_s: f64,
    /// Wall-clock seconds spent choosing them: verdicts, the surrogate,
    /// planning points (never written to a file).
    pub overhead_s: f64,
}

/// The state of a search.
pub struct Search<'a> {
    space: &'a SearchSpace,
    lattice: Lattice,
    objectives: Objectives,
    cost: Option<usize>,
    instances: Option<usize>,
    p99: Option<usize>,
    p99_metric: &'static str,
    settings: Settings,
    tried: Vec<Tried>,
    /// Per lattice point: 1 + its index in `tried`, 0 if untried.
    slot: Vec<u32>,
    /// Per lattice point: below a point that fails (monotone parameters).
    below_fail: Vec<bool>,
    runs: u64,
    batch: usize,
    lengths: Vec<Option<Vec<f64>>>,
    fitted_at: usize,
    top_untried: Option<(f64, usize)>,
}

/// What the ceiling of a level (`Search::probes`) says about it.
enum Level {
    /// The ceiling fails (or is below a point that fails): the level fails.
    Fails,
    /// The ceiling holds (or is above a point that holds).
    Live,
    /// The ceiling is being raced.
    Pending,
    /// Not known.
    Unknown,
}

/// A new point to run.
struct Proposal {
    index: usize,
    reason: String,
    prediction: Option<Prediction>,
}

impl<'a> Search<'a> {
    /// A search of `space` for the cheapest point meeting `objectives`;
    /// `cost`, `instances` and `p99` are the cell indices of cost per
    /// month, mean instances and the p99 column `p99_metric` (the
    /// recommendation's ranking keys; the column is the SLO's,
    /// [`crate::planner::slo::Slo::latency_metric`]).
    pub fn new(
        space: &'a SearchSpace,
        objectives: Objectives,
        (cost, instances, p99): (Option<usize>, Option<usize>, Option<usize>),
        p99_metric: &'static str,
        settings: Settings,
    ) -> Search<'a> {
        let lattice = Lattice::over(&space.levels, space.monotone.clone());
        let n = lattice.len();
        let outputs = 1 + objectives.list.len();
        Search {
            space,
            lattice,
            objectives,
            cost,
            instances,
            p99,
            p99_metric,
            settings,
            tried: Vec::new(),
            slot: vec![0; n],
            below_fail: vec![false; n],
            runs: 0,
            batch: 0,
            lengths: vec![None; outputs],
            fitted_at: 0,
            top_untried: None,
        }
    }

    /// Runs the search to its end; `clock` is asked between batches (for
    /// `max_time`) and times proposals against simulation.
    pub fn run(mut self, progress: &Progress, clock: &Clock<'_>) -> anyhow::Result<Outcome> {
        let (mut simulate_s, mut overhead_s) = (0.0, 0.0);
        let end = loop {
            let t0 = (clock.seconds)();
            self.refresh();
            self.show(progress);
            let room = self.settings.max_runs.saturating_sub(self.runs);
            if room == 0 {
                break End::Budget;
            }
            if (clock.time_up)() {
                break End::Time;
            }
            let room = room.min(self.settings.batch as u64) as usize;
            let (jobs, wanted) = self.plan_batch(room)?;
            let t1 = (clock.seconds)();
            overhead_s += t1 - t0;
            if jobs.is_empty() {
                break if wanted { End::Budget } else { End::Settled };
            }
            self.run_batch(&jobs, progress)?;
            simulate_s += (clock.seconds)() - t1;
            self.batch += 1;
        };
        self.refresh();
        self.show(progress);
        let mut outcome = self.finish(end);
        outcome.simulate_s = simulate_s;
        outcome.overhead_s = overhead_s;
        Ok(outcome)
    }

    /// The jobs of the next batch (at most `room`), and whether work was
    /// wanted that did not fit.
    fn plan_batch(&mut self, room: usize) -> anyhow::Result<(Vec<(usize, u32)>, bool)> {
        let max = self.settings.max as usize;
        let mut racing: Vec<usize> = (0..self.tried.len())
            .filter(|&t| {
                let p = &self.tried[t];
                !p.is_settled(self.settings.max) && p.records.len() < max
            })
            .collect();
        racing.sort_by(|&a, &b| {
            self.mean_cost(a)
                .total_cmp(&self.mean_cost(b))
                .then(a.cmp(&b))
        });
        let mut jobs: Vec<(usize, u32)> = racing
            .iter()
            .take(room)
            .map(|&t| (t, self.tried[t].records.len() as u32))
            .collect();
        let first = self.settings.first as usize;
        let slots = (room - jobs.len()) / first;
        let proposals = self.propose(slots.max(usize::from(jobs.is_empty())));
        let mut wanted = !racing.is_empty() && jobs.len() < racing.len();
        for p in proposals {
            if jobs.len() + first > room {
                wanted = true;
                break;
            }
            let t = self.add(p)?;
            jobs.extend((0..first as u32).map(|r| (t, r)));
        }
        if jobs.is_empty() && !wanted {
            // Confirmation: the best point's replications up to max.
            if let Some(b) = self.best() {
                let have = self.tried[b].records.len();
                if have < max {
                    let n = (max - have).min(room);
                    jobs.extend((have..have + n).map(|r| (b, r as u32)));
                }
            }
        }
        Ok((jobs, wanted))
    }

    /// Plans a proposal's model and records it as tried.
    fn add(&mut self, p: Proposal) -> anyhow::Result<usize> {
        let c = self.lattice.coords(p.index);
        let values: Vec<toml::Value> = c
            .iter()
            .enumerate()
            .map(|(j, &v)| self.space.levels[j][v].clone())
            .collect();
        let t = self.tried.len();
        let plan = self.space.plan_point(t, &values)?;
        self.tried.push(Tried {
            index: p.index,
            values,
            plan,
            records: Vec::new(),
            verdict: Verdict::Open,
            why: "not run yet".into(),
            rank: None,
            leads: false,
            reason: p.reason,
            batch: self.batch,
            runs_before: self.runs,
            prediction: p.prediction,
            settled: None,
        });
        self.slot[p.index] = t as u32 + 1;
        Ok(t)
    }

    /// Runs `jobs` in parallel and folds the records back in job order.
    fn run_batch(&mut self, jobs: &[(usize, u32)], progress: &Progress) -> anyhow::Result<()> {
        let added: u64 = jobs
            .iter()
            .map(|&(t, _)| self.tried[t].plan.run.duration.as_nanos())
            .sum();
        progress.grow(added);
        let tried = &self.tried;
        let series = self.settings.series;
        let records = run_sharing(
            jobs,
            |t| &tried[t].plan,
            self.settings.threads,
            |j, warm| {
                let (t, r) = jobs[j];
                replicate(&tried[t].plan, r, series, progress, warm)
            },
        )?;
        let mut touched = Vec::new();
        for (&(t, r), record) in jobs.iter().zip(records) {
            debug_assert_eq!(self.tried[t].records.len(), r as usize);
            self.tried[t].records.push(record);
            if touched.last() != Some(&t) {
                touched.push(t);
            }
        }
        self.runs += jobs.len() as u64;
        touched.sort_unstable();
        touched.dedup();
        for t in touched {
            let (verdict, why) = judge(&self.objectives, &self.tried[t].records, self.settings.max);
            let was = self.tried[t].verdict;
            self.tried[t].verdict = verdict;
            self.tried[t].why = why;
            if verdict == Verdict::Fails && was != Verdict::Fails {
                let below = &mut self.below_fail;
                self.lattice
                    .for_each_below(self.tried[t].index, |i| below[i] = true);
            }
        }
        Ok(())
    }

    /// Re-derives the best point, the cost rank of every other point that
    /// holds or is still open, and when each point was settled.
    fn refresh(&mut self) {
        let best = self.best();
        let best_costs = best.map(|b| series(&self.tried[b].records, self.cost));
        let tolerance = self.settings.cost_tolerance;
        for t in 0..self.tried.len() {
            let p = &self.tried[t];
            let rank = match (&best_costs, best, p.verdict) {
                (Some(bc), Some(b), Verdict::Open | Verdict::Holds) if t != b => {
                    let mine = series(&p.records, self.cost);
                    cost_rank(&mine, bc, tolerance).map(|r| (r.rank, rank_why(&r, b, tolerance)))
                }
                _ => None,
            };
            let max = self.settings.max;
            let p = &mut self.tried[t];
            p.rank = rank;
            p.leads = best == Some(t);
            match (p.is_settled(max), p.settled) {
                (true, None) => p.settled = Some((self.batch, self.runs)),
                (false, Some(_)) => p.settled = None,
                _ => {}
            }
        }
    }

    /// The cheapest point whose SLO holds, ranked as the recommendation
    /// ranks ([`RankKey`]: mean cost, then mean instances, then pessimistic
    /// p99, then point number). A search's outputs number its points in
    /// the order they were tried, so a full tie goes to the one tried first.
    fn best(&self) -> Option<usize> {
        (0..self.tried.len())
            .filter(|&t| self.tried[t].verdict == Verdict::Holds)
            .min_by_key(|&t| self.rank_key(t))
    }

    fn rank_key(&self, t: usize) -> RankKey {
        RankKey::new(
            self.mean_cost(t),
            self.mean_instances(t),
            self.p99_upper(t),
            t,
        )
    }

    fn mean_cost(&self, t: usize) -> f64 {
        self.mean_of(t, self.cost)
    }

    fn mean_instances(&self, t: usize) -> f64 {
        self.mean_of(t, self.instances)
    }

    /// The mean of cell `cell` over point `t`'s runs; infinite (ranked
    /// last) when undefined.
    fn mean_of(&self, t: usize, cell: Option<usize>) -> f64 {
        let xs = series(&self.tried[t].records, cell);
        let m = headroom_sim::stats::ci95(&xs).mean;
        if m.is_nan() { f64::INFINITY } else { m }
    }

    fn p99_upper(&self, t: usize) -> f64 {
        let records = &self.tried[t].records;
        let xs = series(records, self.p99);
        let pooled = crate::planner::exec::pooled(records);
        let u = headroom_models::report::metric_ci95(self.p99_metric, &xs, pooled.as_ref()).upper();
        if u.is_nan() { f64::INFINITY } else { u }
    }

    /// Up to `n` new points, best first: the starting points, then level
    /// probes (`probes`), then the surrogate's picks; also records the
    /// untried point likeliest to beat the best.
    fn propose(&mut self, n: usize) -> Vec<Proposal> {
        if n == 0 {
            return Vec::new();
        }
        if self.tried.is_empty() {
            return self.starts(n);
        }
        let mut observations = self.observations();
        let refit = observations.len() * 10 >= self.fitted_at * 11;
        if refit {
            self.fitted_at = observations.len();
        }
        let best_cost = self.best().map(|b| self.mean_cost(b));
        let mut surrogate = Surrogate::fit(
            &observations,
            &self.objectives,
            (best_cost, self.settings.cost_tolerance),
            &mut self.lengths,
            refit,
        );
        self.top_untried = None;
        let mut out = self.probes(&surrogate, n);
        if !out.is_empty() && out.len() < n {
            for p in &out {
                self.believe(&mut observations, &mut surrogate, p.index, best_cost);
            }
        }
        let candidates = self.candidates();
        let positions: Vec<Vec<f64>> = candidates
            .iter()
            .map(|&i| self.lattice.position(i))
            .collect();
        let mut first = true;
        while out.len() < n {
            let Some((i, pred)) = self.pick(&surrogate, &candidates, &positions, &out, first)
            else {
                break;
            };
            first = false;
            let reason = if best_cost.is_some() {
                format!(
                    "surrogate: P(SLO holds) {} x expected saving; {} % chance to beat the best",
                    short(pred.p_feasible),
                    short(100.0 * pred.chance)
                )
            } else {
                format!(
                    "surrogate: likeliest to meet the SLO (P = {}), none holds yet",
                    short(pred.p_feasible)
                )
            };
            out.push(Proposal {
                index: i,
                reason,
                prediction: Some(pred),
            });
            if out.len() < n {
                self.believe(&mut observations, &mut surrogate, i, best_cost);
            }
        }
        out
    }

    /// The first proposals: the point with every monotone parameter at its
    /// most, the centre of the space, then points farthest from those.
    fn starts(&self, n: usize) -> Vec<Proposal> {
        let mut out: Vec<Proposal> = Vec::new();
        let starts = [
            self.lattice
                .most_capacity()
                .map(|i| (i, "start: every monotone parameter at its most")),
            Some((self.lattice.center(), "start: the centre of the space")),
        ];
        for (i, why) in starts.into_iter().flatten() {
            if out.len() < n && !out.iter().any(|p| p.index == i) {
                out.push(Proposal {
                    index: i,
                    reason: why.into(),
                    prediction: None,
                });
            }
        }
        while out.len() < n {
            let Some(i) = self.farthest(&out) else { break };
            out.push(Proposal {
                index: i,
                reason: "start: farthest from the points chosen so far".into(),
                prediction: None,
            });
        }
        out
    }

    /// Kriging believer: refits `surrogate` as if point `i` had returned
    /// what the model expects there, so that the next pick goes elsewhere.
    fn believe(
        &mut self,
        observations: &mut Vec<Observation>,
        surrogate: &mut Surrogate,
        i: usize,
        best_cost: Option<f64>,
    ) {
        let position = self.lattice.position(i);
        observations.push(Observation {
            outputs: surrogate.believed(&position),
            position,
        });
        *surrogate = Surrogate::fit(
            observations,
            &self.objectives,
            (best_cost, self.settings.cost_tolerance),
            &mut self.lengths,
            false,
        );
    }

    /// The candidate with the best acquisition score among those with at
    /// least a [`THRESHOLD`] chance of beating the best, not already in
    /// `out`. On the `first` scan of a batch, also records the untried
    /// point likeliest to beat the best (the figure the conclusion quotes).
    fn pick(
        &mut self,
        surrogate: &Surrogate,
        candidates: &[usize],
        positions: &[Vec<f64>],
        out: &[Proposal],
        first: bool,
    ) -> Option<(usize, Prediction)> {
        let range = if self.best().is_none() {
            positions
                .iter()
                .map(|p| surrogate.log_cost(p))
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
                    (lo.min(c), hi.max(c))
                })
        } else {
            (0.0, 0.0)
        };
        let mut pick: Option<(usize, Prediction)> = None;
        for (&i, pos) in candidates.iter().zip(positions) {
            if out.iter().any(|p| p.index == i) {
                continue;
            }
            let pred = surrogate.predict(pos, range);
            if first && self.top_untried.is_none_or(|(c, _)| pred.chance > c) {
                self.top_untried = Some((pred.chance, i));
            }
            if pred.chance >= THRESHOLD && pick.is_none_or(|(_, b)| pred.score > b.score) {
                pick = Some((i, pred));
            }
        }
        pick
    }

    /// Level probes, a monotone frontier search run before the surrogate is
    /// trusted: for each monotone parameter `j`, the levels of `j` below
    /// the best point's whose cheapest point (the level's floor in the
    /// best's slice) the cost model gives at least a [`THRESHOLD`] chance of
    /// beating the best are searched by their ceilings (at a quarter of the
    /// range in doubt) (every other
    /// monotone parameter at its most, `Lattice::level_point`). A ceiling
    /// that fails settles its level and every level below as failing (by
    /// monotonicity, as any failing point does); one that holds shows the
    /// level and the levels above it can meet the SLO, so the surrogate's
    /// feasibility model learns that from a run rather than extrapolating a
    /// cliff from failing points nearby. At most one probe per parameter
    /// per batch; none while a ceiling in range is still being raced.
    fn probes(&self, surrogate: &Surrogate, n: usize) -> Vec<Proposal> {
        let Some(b) = self.best() else {
            return Vec::new();
        };
        let anchor = self.lattice.coords(self.tried[b].index);
        let holds = self.holding_coords();
        let mut out = Vec::new();
        for j in 0..anchor.len() {
            if out.len() >= n || !self.lattice.is_monotone(j) {
                continue;
            }
            // Cost never falls as a monotone parameter grows, so the levels
            // that could be cheaper than the best are a prefix.
            let cheap = (0..anchor[j])
                .take_while(|&v| {
                    let floor = self.lattice.level_point(&anchor, j, v, false);
                    surrogate.chance_cheaper(&self.lattice.position(floor)) >= THRESHOLD
                })
                .count();
            let Some((lo, hi)) = self.in_doubt(&anchor, j, cheap, &holds) else {
                continue;
            };
            let name = format!("`{} = ", self.space.params[j]);
            let (index, reason) = if lo < hi {
                // A quarter of the way up rather than half: the cheapest
                // point is usually at one of the lowest live levels, and a
                // live ceiling there settles the rest at once; still
                // logarithmic in the number of levels.
                let v = lo + (hi - lo - 1) / 4;
                (
                    self.lattice.level_point(&anchor, j, v, true),
                    format!(
                        "probe: {name}{}` with every other monotone parameter at its most \
                         (levels {}..{} of {} in doubt; if it fails, so do all below it)",
                        inline(&self.space.levels[j][v]),
                        lo + 1,
                        hi,
                        self.lattice.size(j)
                    ),
                )
            } else {
                // The levels hi..cheap are live: probe each one's dearest
                // point that could still beat the best, cheapest level first.
                let Some((v, index)) = (hi..cheap)
                    .map(|v| (v, self.cheap_ceiling(surrogate, &anchor, j, v)))
                    .find(|&(_, c)| matches!(self.level_state(c, &holds), Level::Unknown))
                else {
                    continue;
                };
                (
                    index,
                    format!(
                        "probe: {name}{}` with every other monotone parameter as high as a point \
                         that could beat the best on cost can have (if it fails, so does every \
                         such point of the level)",
                        inline(&self.space.levels[j][v])
                    ),
                )
            };
            out.push(Proposal {
                index,
                reason,
                prediction: Some(surrogate.predict(&self.lattice.position(index), (0.0, 0.0))),
            });
        }
        out
    }

    /// The levels `lo..hi` of monotone parameter `j` (among the `cheap`
    /// lowest, in `anchor`'s slice) whose ceilings are not known: those
    /// below `lo` fail, `hi` is the lowest live one (or `cheap`). `None`
    /// while a ceiling among them is being raced.
    fn in_doubt(
        &self,
        anchor: &[usize],
        j: usize,
        cheap: usize,
        holds: &[Vec<usize>],
    ) -> Option<(usize, usize)> {
        let (mut lo, mut hi, mut pending) = (0, cheap, false);
        for v in 0..cheap {
            let ceiling = self.lattice.level_point(anchor, j, v, true);
            match self.level_state(ceiling, holds) {
                Level::Fails => lo = v + 1,
                Level::Live => {
                    hi = v;
                    break;
                }
                Level::Pending => pending = true,
                Level::Unknown => {}
            }
        }
        (!pending).then_some((lo, hi))
    }

    /// The dearest point of level `v` of monotone parameter `j` in
    /// `anchor`'s slice that the cost model gives at least a [`THRESHOLD`]
    /// chance of beating the best: from the level's floor, every other
    /// monotone parameter in turn raised as far as that chance allows.
    fn cheap_ceiling(&self, surrogate: &Surrogate, anchor: &[usize], j: usize, v: usize) -> usize {
        let mut c = self
            .lattice
            .coords(self.lattice.level_point(anchor, j, v, false));
        for k in (0..c.len()).filter(|&k| k != j && self.lattice.is_monotone(k)) {
            c[k] = (0..self.lattice.size(k))
                .rev()
                .find(|&x| {
                    let mut d = c.clone();
                    d[k] = x;
                    let at = self.lattice.position(self.lattice.index(&d));
                    surrogate.chance_cheaper(&at) >= THRESHOLD
                })
                .unwrap_or(0);
        }
        self.lattice.index(&c)
    }

    /// What a level's ceiling says about the level.
    fn level_state(&self, ceiling: usize, holds: &[Vec<usize>]) -> Level {
        if let Some(t) = self.slot[ceiling].checked_sub(1) {
            return match self.tried[t as usize].verdict {
                Verdict::Holds => Level::Live,
                Verdict::Fails | Verdict::Uncertified => Level::Fails,
                Verdict::Open => Level::Pending,
            };
        }
        if self.below_fail[ceiling] {
            return Level::Fails;
        }
        let c = self.lattice.coords(ceiling);
        if holds.iter().any(|h| self.lattice.at_or_above(h, &c)) {
            Level::Live
        } else {
            Level::Unknown
        }
    }

    /// Lattice coordinates of the points tried whose SLO holds.
    fn holding_coords(&self) -> Vec<Vec<usize>> {
        self.tried
            .iter()
            .filter(|t| t.verdict == Verdict::Holds)
            .map(|t| self.lattice.coords(t.index))
            .collect()
    }

    /// Untried points not settled by monotonicity (subsampled past
    /// [`CANDIDATES`]).
    fn candidates(&self) -> Vec<usize> {
        let holds = self.holding_coords();
        let open = |i: usize| -> bool {
            if self.slot[i] != 0 || self.below_fail[i] {
                return false;
            }
            let c = self.lattice.coords(i);
            !holds.iter().any(|h| self.lattice.at_or_above(h, &c))
        };
        let all: Vec<usize> = (0..self.lattice.len()).filter(|&i| open(i)).collect();
        if all.len() <= CANDIDATES {
            return all;
        }
        let mut near: Vec<usize> = self
            .tried
            .iter()
            .flat_map(|t| self.lattice.neighbours(t.index))
            .filter(|&i| open(i))
            .collect();
        near.sort_unstable();
        near.dedup();
        let salt = self.settings.seed ^ (self.batch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut rest: Vec<(u64, usize)> = all
            .iter()
            .filter(|i| near.binary_search(i).is_err())
            .map(|&i| (mix64(salt ^ i as u64), i))
            .collect();
        rest.sort_unstable();
        let take = CANDIDATES.saturating_sub(near.len());
        near.extend(rest.into_iter().take(take).map(|(_, i)| i));
        near.sort_unstable();
        near
    }

    /// The candidate farthest (Euclidean, positions) from `chosen` and every
    /// tried point.
    fn farthest(&self, chosen: &[Proposal]) -> Option<usize> {
        let taken: Vec<Vec<f64>> = chosen
            .iter()
            .map(|p| p.index)
            .chain(self.tried.iter().map(|t| t.index))
            .map(|i| self.lattice.position(i))
            .collect();
        self.candidates()
            .into_iter()
            .filter(|i| !chosen.iter().any(|p| p.index == *i))
            .map(|i| {
                let p = self.lattice.position(i);
                let d = taken
                    .iter()
                    .map(|q| p.iter().zip(q).map(|(a, b)| (a - b).powi(2)).sum::<f64>())
                    .fold(f64::INFINITY, f64::min);
                (d, i)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, i)| i)
    }

    fn observations(&self) -> Vec<Observation> {
        self.tried
            .iter()
            .filter(|t| !t.records.is_empty())
            .map(|t| {
                let mut o = observe(
                    self.lattice.position(t.index),
                    &t.records,
                    self.cost,
                    &self.objectives,
                );
                if matches!(t.verdict, Verdict::Fails | Verdict::Uncertified) {
                    // A point that misses its SLO turns work away and pays
                    // less for it (the seed's failing points pay almost no
                    // egress): its cost is not what that capacity costs when
                    // it serves the load, and would teach the cost model
                    // that a little less capacity is ten times cheaper.
                    o.outputs[0] = None;
                }
                o
            })
            .collect()
    }

    /// The progress bar's line.
    fn show(&self, progress: &Progress) {
        let max = self.settings.max;
        let settled = self.tried.iter().filter(|t| t.is_settled(max)).count();
        progress
            .points_done
            .store(settled as u64, Ordering::Relaxed);
        let best = match self.best() {
            Some(b) => format!("best: point {b} at {} USD/month", short(self.mean_cost(b))),
            None => "no point holds yet".into(),
        };
        progress.set_status(format!(
            "runs {}/{} · points tried {} settled {} · {best}",
            self.runs,
            self.settings.max_runs,
            self.tried.len(),
            settled
        ));
    }

    fn finish(self, end: End) -> Outcome {
        let best = self.best();
        let holds = self.holding_coords();
        let (mut pruned_below, mut pruned_above) = (0, 0);
        for i in 0..self.lattice.len() {
            if self.slot[i] != 0 {
                continue;
            }
            if self.below_fail[i] {
                pruned_below += 1;
            } else {
                let c = self.lattice.coords(i);
                if holds.iter().any(|h| self.lattice.at_or_above(h, &c)) {
                    pruned_above += 1;
                }
            }
        }
        Outcome {
            lattice: self.lattice,
            tried: self.tried,
            runs: self.runs,
            batches: self.batch,
            end,
            best,
            top_untried: self.top_untried,
            cost_tolerance: self.settings.cost_tolerance,
            pruned_below,
            pruned_above,
            simulate_s: 0.0,
            overhead_s: 0.0,
        }
    }
}

/// Why a point's cost rank is settled, in words.
fn rank_why(r: &CostRank, best: usize, tolerance: f64) -> String {
    let ci = format!(
        "paired difference {} USD/month, 95 % CI [{}, {}]",
        short(r.mean),
        short(r.lower),
        short(r.upper)
    );
    match r.rank {
        Rank::Costlier => format!("costs more than point {best} ({ci})"),
        Rank::AsCheap => format!(
            "as cheap as point {best}: not cheaper by more than the cost tolerance ({} % = {} \
             USD/month; {ci})",
            short(100.0 * tolerance),
            short(r.margin)
        ),
    }
}

/// SplitMix64's finaliser: a seeded, well-mixed sample order.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
