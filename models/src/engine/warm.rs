//! `run.cache_warm_start`: the caches start as the workload left them.
//!
//! A cache tier over many keys fills for as long as its characteristic time
//! or its TTL, often longer than a run's warm-up: measured from a cold
//! start, its hit ratio is low and the load behind it high
//! ([`crate::report::cold_caches`] names such a cache). A warm start gives
//! the caches, before time 0, the requests of the span `W` before it: the
//! workload's arrival process on `[-W, 0)` (a diurnal rate at its phase of
//! those times, an MMPP from its first state at `-W`), each request's
//! origin, entry service, key and read or write drawn as the run draws
//! them, from the warm start's own streams (so the run's own draws, and
//! everything but the caches, are those of a cold start).
//!
//! Each request then passes the edge cache and the cache tiers as it would
//! with every region healthy and nothing failing: it reaches its origin's
//! edge (or the edge failover's first choice), a cacheable read the edge
//! cache answers ends there, any other call goes to the callee's first
//! region in its failover order and to one of its deployment's initial
//! instances chosen at random (every load balancer spreads calls without
//! regard to the key, so each instance's copy of a tier sees the same key
//! stream as under it), and each `{ data = store }` step reads or writes
//! the request's key as `engine::data` does, filling or invalidating at the
//! request's own instant. No queue, delay, rate limit, retry, hedge or cost
//! is simulated, and nothing is counted: only cache contents change. At the
//! end every cache's clock moves back by `W` ([`headroom_cache::Cache::rebase`]),
//! so an entry filled at `-t` expires `t` before it would have at 0.
//!
//! What a warm start leaves out (failures, rate limits, the time a miss
//! takes to fill) differs from the run's path only by what the run itself
//! changes: the cold-cache check still reads the measured window's halves.

use std::collections::VecDeque;

use rand::RngExt;

use headroom_sim::Span;
use headroom_sim::dist::Dist;
use headroom_sim::rng::{Stream, Streams};

use super::World;
use super::data::WarmOp;
use super::workload::{diurnal_rate, exp_span, next_mmpp_state, pick_cdf, pick_entry};
use crate::plan::workload::ArrivalPlan;
use crate::plan::{RegionId, ServiceId, StepPlan};

/// The warm start's random streams, apart from the run's.
struct WarmRngs {
    arrivals: Stream,
    origin: Stream,
    edge: Stream,
    entry: Stream,
    keys: Stream,
    ops: Stream,
    instances: Stream,
}

impl WarmRngs {
    fn new(streams: &Streams) -> Self {
        WarmRngs {
            arrivals: streams.stream("warm-start/arrivals"),
            origin: streams.stream("warm-start/origin"),
            edge: streams.stream("warm-start/edge"),
            entry: streams.stream("warm-start/entry"),
            keys: streams.stream("warm-start/keys"),
            ops: streams.stream("warm-start/ops"),
            instances: streams.stream("warm-start/instances"),
        }
    }
}

/// The warm start's arrival times on its own clock: nanoseconds in
/// `[0, span)`, standing for `[-span, 0)`.
struct Arrivals<'p> {
    process: &'p ArrivalPlan,
    span_ns: u64,
    /// The clock of the last arrival (or candidate, when thinning).
    at_ns: u64,
    /// MMPP: the current state and when it ends.
    state: usize,
    switch_ns: u64,
}

impl<'p> Arrivals<'p> {
    fn new(process: &'p ArrivalPlan, span: Span, rng: &mut Stream) -> Self {
        let mut a = Arrivals {
            process,
            span_ns: span.as_nanos(),
            at_ns: 0,
            state: 0,
            switch_ns: u64::MAX,
        };
        if let ArrivalPlan::Mmpp { holding, .. } = process {
            a.switch_ns = exp_span(holding[0], rng).as_nanos();
        }
        a
    }

    /// The next arrival, or `None` at the end of the span.
    fn next(&mut self, rng: &mut Stream) -> Option<u64> {
        loop {
            match self.process {
                ArrivalPlan::Poisson { rate } => {
                    self.at_ns = self.at_ns.saturating_add(exp_ns(1e9 / rate, rng));
                    return (self.at_ns < self.span_ns).then_some(self.at_ns);
                }
                // Thinning at the peak rate, with the rate function at the
                // real time `at - span` (before 0).
                ArrivalPlan::Diurnal {
                    mean,
                    amplitude,
                    period,
                    phase,
                } => {
                    let peak = mean * (1.0 + amplitude);
                    self.at_ns = self.at_ns.saturating_add(exp_ns(1e9 / peak, rng));
                    if self.at_ns >= self.span_ns {
                        return None;
                    }
                    let t = self.at_ns as f64 - self.span_ns as f64;
                    let rate = diurnal_rate(*mean, *amplitude, *period, *phase, t);
                    if rng.random::<f64>() * peak < rate {
                        return Some(self.at_ns);
                    }
                }
                // Exponential gaps at the state's rate up to its switch (a
                // gap crossing it is redrawn from the switch, memoryless).
                ArrivalPlan::Mmpp { rates, holding } => {
                    let gap = exp_ns(1e9 / rates[self.state], rng);
                    let next = self.at_ns.saturating_add(gap);
                    if next < self.switch_ns {
                        self.at_ns = next;
                        return (next < self.span_ns).then_some(next);
                    }
                    self.at_ns = self.switch_ns;
                    if self.at_ns >= self.span_ns {
                        return None;
                    }
                    self.state = next_mmpp_state(self.state, rates.len(), rng);
                    let hold = exp_span(holding[self.state], rng).as_nanos();
                    self.switch_ns = self.at_ns.saturating_add(hold);
                }
                // Refused by the plan (`run::check_warm_start`).
                ArrivalPlan::Trace(_) | ArrivalPlan::Closed { .. } => return None,
            }
        }
    }
}

/// Requests drawn ahead of the one passing the caches.
const AHEAD: usize = 8;

/// A warm-start request drawn, not yet through the caches.
struct Pending {
    now_ns: u64,
    edge_region: RegionId,
    entry: ServiceId,
    key: u64,
    write: bool,
    /// A read the edge cache may answer.
    cacheable: bool,
}

/// An exponential draw of mean `mean_ns`, at least 1 ns.
fn exp_ns(mean_ns: f64, rng: &mut Stream) -> u64 {
    Dist::Exponential { mean_ns }.sample(rng).as_nanos().max(1)
}

impl World<'_> {
    /// Fills the caches with the requests of `run.cache_warm_start` before
    /// time 0 (see the module). Call once the initial instances exist,
    /// before the first event.
    pub(super) fn warm_caches(&mut self, streams: &Streams) {
        let Some(span) = self.plan.run.cache_warm_start else {
            return;
        };
        let plan = self.plan;
        let w = &plan.workload;
        let mut rng = WarmRngs::new(streams);
        let mut arrivals = Arrivals::new(&w.arrivals, span, &mut rng.arrivals);
        // Requests are drawn `AHEAD` before they pass the caches, and the
        // memory of the copies each will look up first starts loading when
        // it is drawn: lookups in tiers of millions of keys are DRAM misses,
        // which then overlap. Each stream's draws are in request order
        // either way, so the outcome is the same.
        let mut ahead: VecDeque<Pending> = VecDeque::with_capacity(AHEAD);
        let mut drained = false;
        loop {
            while !drained && ahead.len() < AHEAD {
                match self.draw_warm_request(&mut arrivals, &mut rng) {
                    Some(p) => ahead.push_back(p),
                    None => drained = true,
                }
            }
            let Some(p) = ahead.pop_front() else {
                break;
            };
            let op = WarmOp {
                key: p.key,
                write: p.write,
                now_ns: p.now_ns,
            };
            let edge = plan.data.edge_cache.as_ref().filter(|_| p.cacheable);
            if let Some(e) = edge
                && self
                    .data
                    .warm_edge_answers(e, p.edge_region, p.key, p.now_ns)
            {
                continue;
            }
            self.warm_call(p.entry, p.edge_region, op, &mut rng.instances);
            if let Some(e) = edge {
                self.data.warm_edge_keeps(e, p.edge_region, p.key, p.now_ns);
            }
        }
        self.data.rebase_caches(span.as_nanos());
    }

    /// Draws the warm start's next request, and hints the memory of the
    /// edge copy and the shared tier copies it will look up first (`None`
    /// after the span).
    fn draw_warm_request(
        &mut self,
        arrivals: &mut Arrivals<'_>,
        rng: &mut WarmRngs,
    ) -> Option<Pending> {
        let w = &self.plan.workload;
        let now_ns = arrivals.next(&mut rng.arrivals)?;
        let origin = RegionId(pick_cdf(&w.origin_cdf, &mut rng.origin) as u8);
        let edge_region = self.routing.edge_region(origin, &mut rng.edge);
        let entry = w.entries[pick_entry(&w.entries, &mut rng.entry)].service;
        let (key, write) = self.data.draw_with(Some((&mut rng.keys, &mut rng.ops)));
        let cacheable = !write
            && self
                .plan
                .data
                .edge_cache
                .as_ref()
                .is_some_and(|e| e.cacheable(key));
        let region = self
            .routing
            .first_region(entry, edge_region)
            .unwrap_or(edge_region);
        self.data
            .prefetch_warm(key, edge_region, cacheable, region, write);
        Some(Pending {
            now_ns,
            edge_region,
            entry,
            key,
            write,
            cacheable,
        })
    }

    /// A warm-start call to `service` from `from`: to its first region, at
    /// a random initial instance, whose steps run in order (the call graph
    /// is acyclic, so the recursion ends).
    fn warm_call(&mut self, service: ServiceId, from: RegionId, op: WarmOp, rng: &mut Stream) {
        let Some(region) = self.routing.first_region(service, from) else {
            return;
        };
        let n_regions = self.plan.network.regions.len();
        let d = &self.deployments[service.index() * n_regions + region.index()];
        let Some(&instance) = (match d.instances.len() {
            0 => None,
            1 => d.instances.first(),
            n => d.instances.get(rng.random_range(0..n)),
        }) else {
            return;
        };
        let plan = self.plan;
        for step in &plan.services[service.index()].steps {
            match step {
                StepPlan::Data(store) => {
                    let store_plan = &plan.data.stores[store.index()];
                    self.data
                        .warm_step(store_plan, *store, instance, region, op);
                }
                StepPlan::Call(_) | StepPlan::Parallel(_) => {
                    for t in step.targets() {
                        self.warm_call(t.service, region, op, rng);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arrival times of `process` over a warm start of `span_s` seconds.
    fn times(process: &ArrivalPlan, span_s: u64) -> Vec<u64> {
        let mut rng = headroom_sim::rng::stream(7, 0, "warm-start/arrivals");
        let mut a = Arrivals::new(process, Span::from_secs(span_s), &mut rng);
        std::iter::from_fn(|| a.next(&mut rng)).collect()
    }

    /// Checks a Poisson-like count against its mean within 4.5 standard
    /// deviations (`sd` given, or the Poisson one).
    fn near(label: &str, count: usize, mean: f64, sd: Option<f64>) {
        let sd = sd.unwrap_or(mean.sqrt());
        let count = count as f64;
        assert!(
            (count - mean).abs() < 4.5 * sd,
            "{label}: {count} vs {mean} ± {sd}"
        );
    }

    #[test]
    fn warm_arrivals_follow_the_rate_before_time_zero() {
        let poisson = times(&ArrivalPlan::Poisson { rate: 1000.0 }, 100);
        near("poisson", poisson.len(), 100_000.0, None);
        assert!(poisson.windows(2).all(|w| w[0] < w[1]), "increasing");
        assert!(
            poisson.iter().all(|&t| t < 100_000_000_000),
            "within the span"
        );

        // Rate 1000 (1 + 0.5 sin(2 pi t / 100 s)) on [-100 s, 0): the first
        // half, [-100, -50), has 50 000 + 500 x 100 / pi arrivals on
        // average, the second 50 000 - 500 x 100 / pi.
        let diurnal = times(
            &ArrivalPlan::Diurnal {
                mean: 1000.0,
                amplitude: 0.5,
                period: Span::from_secs(100),
                phase: Span::ZERO,
            },
            100,
        );
        let first = diurnal.iter().filter(|&&t| t < 50_000_000_000).count();
        let swing = 500.0 * 100.0 / std::f64::consts::PI;
        near("diurnal, first half", first, 50_000.0 + swing, None);
        near(
            "diurnal, second half",
            diurnal.len() - first,
            50_000.0 - swing,
            None,
        );

        // Two states of 100/s and 1900/s held 10 s each on average: 1000/s
        // in the long run. Its count over 2000 s varies by the states'
        // holding times: about 200 holdings of rate 900 away from the mean
        // for 10 s each, sd ~ sqrt(200) x 900 x 10.
        let mmpp = times(
            &ArrivalPlan::Mmpp {
                rates: vec![100.0, 1900.0],
                holding: vec![Span::from_secs(10), Span::from_secs(10)],
            },
            2000,
        );
        near(
            "mmpp",
            mmpp.len(),
            2_000_000.0,
            Some(200f64.sqrt() * 9000.0),
        );
    }
}
