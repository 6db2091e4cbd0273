//! The world of one replication and its event loop.
//!
//! A run is pure: `(plan, replication)` determines every event. Requests
//! arrive at the entry service, a load balancer picks an instance, the
//! instance serves the request on a free worker or queues it (shedding it
//! when the queue is full), and the completion frees the worker for the next
//! queued request in FIFO order. Arrivals stop at `run.duration`; requests
//! still in flight are then served to completion (drained), so every arrival
//! ends exactly once. Requests that arrive during the warm-up are served but
//! not counted.
//!
//! State is arrays indexed by instance; requests live in a generational
//! [`Slab`] and are freed when they finish, so memory is bounded by the peak
//! number in flight (itself bounded by `run.max_in_flight`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use headroom_policy::balance::{Balancer, BalancerSpec, EndpointId};
use headroom_policy::health::Health;
use headroom_sim::Timestamp;
use headroom_sim::dist::Dist;
use headroom_sim::queue::EventQueue;
use headroom_sim::rng::{Stream, Streams};
use headroom_sim::slab::{Id, Slab};
use headroom_sim::stats::{LatencyHistogram, TimeWeighted};

use crate::plan::{ArrivalPlan, Plan, ServicePlan};
use crate::report::{IntervalRow, RunMetrics, RunOutput};

/// A replication stopped before its end.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RunError {
    /// More requests were in flight than `run.max_in_flight` allows: the
    /// offered load exceeds capacity and an unbounded queue grew without
    /// limit.
    #[error(
        "unstable: {in_flight} requests in flight at t = {at_s:.3} s exceeds run.max_in_flight; \
         the offered load exceeds capacity and the queue grows without bound \
         (bound `instance.queue`, add capacity, or raise `run.max_in_flight`)"
    )]
    Unstable {
        /// Simulated seconds when the limit was hit.
        at_s: f64,
        /// Requests in flight then.
        in_flight: u64,
    },
}

/// Runs replication `replication` of `plan`.
///
/// `progress` accumulates simulated nanoseconds advanced (arrival phase only),
/// for a progress display; pass a fresh `AtomicU64` if unused.
pub fn run_replication(
    plan: &Plan,
    replication: u32,
    progress: &AtomicU64,
) -> Result<RunOutput, RunError> {
    let mut world = World::new(plan, replication);
    world.run(progress)?;
    Ok(world.finish(replication))
}

#[derive(Clone, Copy, Debug)]
enum Event {
    /// The next request arrives at the entry service.
    Arrival,
    /// A request finishes on an instance.
    Done { instance: u32, req: Id },
    /// The warm-up ends: statistics start.
    WarmupEnd,
    /// A time-series interval ends.
    Tick,
    /// Arrivals end; the last interval closes.
    End,
}

#[derive(Clone, Copy, Debug)]
struct Request {
    arrival: Timestamp,
    /// Arrived after the warm-up: counted in statistics.
    measured: bool,
}

#[derive(Clone, Debug, Default)]
struct Instance {
    busy: u32,
    waiting: VecDeque<Id>,
}

/// Counters for one time-series interval.
#[derive(Clone, Debug)]
struct Interval {
    start: Timestamp,
    arrivals: u64,
    completions: u64,
    failed: u64,
    latency: LatencyHistogram,
    busy: TimeWeighted,
}

struct World<'p> {
    plan: &'p Plan,
    service: &'p ServicePlan,
    interarrival: &'p Dist,
    now: Timestamp,
    events: EventQueue<Event>,
    requests: Slab<Request>,
    instances: Vec<Instance>,
    /// Decides which instance serves each request; endpoint slot `i` is
    /// instance `i`.
    balancer: Balancer,
    endpoints: Vec<EndpointId>,
    arrivals_rng: Stream,
    work_rng: Stream,
    lb_rng: Stream,
    arrivals_open: bool,
    // Run-level statistics (measured requests only).
    requests_n: u64,
    ok: u64,
    errors: u64,
    shed: u64,
    latency: LatencyHistogram,
    busy: TimeWeighted,
    busy_mean_at_end: f64,
    busy_workers: u64,
    // Time series.
    interval: Interval,
    rows: Vec<IntervalRow>,
}

impl<'p> World<'p> {
    fn new(plan: &'p Plan, replication: u32) -> Self {
        let streams = Streams::new(plan.run.seed, u64::from(replication));
        let service = &plan.services[0];
        let ArrivalPlan::Poisson { interarrival, .. } = &plan.arrivals;
        let name = &service.name;
        let mut balancer = Balancer::new(&BalancerSpec::with_algorithm(service.load_balancer));
        let endpoints = (0..service.replicas)
            .map(|_| {
                balancer
                    .add_endpoint(Timestamp::ZERO, 1, Health::Healthy)
                    .expect("replicas are validated to be at most MAX_ENDPOINTS")
            })
            .collect();
        World {
            plan,
            service,
            interarrival,
            now: Timestamp::ZERO,
            events: EventQueue::with_capacity(1024),
            requests: Slab::with_capacity(1024),
            instances: vec![Instance::default(); service.replicas as usize],
            balancer,
            endpoints,
            arrivals_rng: streams.stream("workload/arrivals"),
            work_rng: streams.stream(&format!("services/{name}/work")),
            lb_rng: streams.stream(&format!("services/{name}/load_balancer")),
            arrivals_open: true,
            requests_n: 0,
            ok: 0,
            errors: 0,
            shed: 0,
            latency: LatencyHistogram::new(),
            busy: TimeWeighted::new(Timestamp::ZERO, 0.0),
            busy_mean_at_end: 0.0,
            busy_workers: 0,
            interval: Interval {
                start: Timestamp::ZERO,
                arrivals: 0,
                completions: 0,
                failed: 0,
                latency: LatencyHistogram::new(),
                busy: TimeWeighted::new(Timestamp::ZERO, 0.0),
            },
            rows: Vec::new(),
        }
    }

    fn run(&mut self, progress: &AtomicU64) -> Result<(), RunError> {
        let run = &self.plan.run;
        let first = self.interarrival.sample(&mut self.arrivals_rng);
        self.events.push(Timestamp::ZERO + first, Event::Arrival);
        if !run.warmup.is_zero() {
            self.events.push(run.warmup_end(), Event::WarmupEnd);
        }
        if run.interval < run.duration {
            self.events
                .push(Timestamp::ZERO + run.interval, Event::Tick);
        }
        self.events.push(run.end(), Event::End);

        const PROGRESS_EVERY: u32 = 1 << 16;
        let mut until_progress = PROGRESS_EVERY;
        let mut reported = Timestamp::ZERO;
        while let Some((now, event)) = self.events.pop() {
            self.now = now;
            match event {
                Event::Arrival => self.on_arrival()?,
                Event::Done { instance, req } => self.on_done(instance, req),
                Event::WarmupEnd => self.on_warmup_end(),
                Event::Tick => self.on_tick(),
                Event::End => self.on_end(),
            }
            until_progress -= 1;
            if until_progress == 0 {
                until_progress = PROGRESS_EVERY;
                let at = now.min(run.end());
                progress.fetch_add((at - reported).as_nanos(), Ordering::Relaxed);
                reported = at;
            }
        }
        progress.fetch_add((run.end() - reported).as_nanos(), Ordering::Relaxed);
        Ok(())
    }

    fn on_arrival(&mut self) -> Result<(), RunError> {
        if !self.arrivals_open {
            return Ok(());
        }
        let now = self.now;
        let gap = self.interarrival.sample(&mut self.arrivals_rng);
        self.events.push(now + gap, Event::Arrival);

        let measured = now >= self.plan.run.warmup_end();
        self.requests_n += u64::from(measured);
        self.interval.arrivals += 1;

        let Some(endpoint) = self.balancer.pick(now, &mut self.lb_rng) else {
            // No eligible instance ("no healthy upstream").
            self.errors += u64::from(measured);
            self.interval.failed += 1;
            return Ok(());
        };
        let instance = endpoint.index() as u32;
        let inst = &self.instances[instance as usize];
        let has_worker = inst.busy < self.service.workers;
        let has_room = self
            .service
            .queue
            .is_none_or(|q| (inst.waiting.len() as u64) < q);
        if !has_worker && !has_room {
            self.shed += u64::from(measured);
            self.interval.failed += 1;
            return Ok(());
        }
        if self.requests.len() as u64 >= self.plan.run.max_in_flight {
            return Err(RunError::Unstable {
                at_s: now.as_secs_f64(),
                in_flight: self.requests.len() as u64,
            });
        }
        let req = self
            .requests
            .insert(Request {
                arrival: now,
                measured,
            })
            .map_err(|_| RunError::Unstable {
                at_s: now.as_secs_f64(),
                in_flight: self.requests.len() as u64,
            })?;
        self.balancer.handle_start(endpoint);
        if has_worker {
            self.set_busy_workers(self.busy_workers + 1);
            self.start(instance, req);
        } else {
            self.instances[instance as usize].waiting.push_back(req);
        }
        Ok(())
    }

    /// Starts serving `req` on a worker of `instance` already counted busy.
    fn start(&mut self, instance: u32, req: Id) {
        self.instances[instance as usize].busy += 1;
        let work = self.service.work.sample(&mut self.work_rng);
        self.events
            .push(self.now + work, Event::Done { instance, req });
    }

    fn on_done(&mut self, instance: u32, req: Id) {
        let Some(request) = self.requests.remove(req) else {
            // Every Done refers to a live request; a stale id would be a bug
            // in this module, never a consequence of input.
            debug_assert!(false, "stale request id {req:?}");
            return;
        };
        self.balancer.handle_end(
            self.now,
            self.endpoints[instance as usize],
            self.now - request.arrival,
        );
        let latency = (self.now - request.arrival).as_nanos();
        if request.measured {
            self.ok += 1;
            self.latency.record(latency);
        }
        if self.arrivals_open {
            self.interval.completions += 1;
            self.interval.latency.record(latency);
        }
        let inst = &mut self.instances[instance as usize];
        inst.busy -= 1;
        match inst.waiting.pop_front() {
            Some(next) => self.start(instance, next),
            None => self.set_busy_workers(self.busy_workers - 1),
        }
    }

    fn set_busy_workers(&mut self, busy: u64) {
        self.busy_workers = busy;
        self.busy.set(self.now, busy as f64);
        self.interval.busy.set(self.now, busy as f64);
    }

    fn on_warmup_end(&mut self) {
        self.busy.reset(self.now);
    }

    fn on_tick(&mut self) {
        self.close_interval();
        let next = self.now + self.plan.run.interval;
        if next < self.plan.run.end() {
            self.events.push(next, Event::Tick);
        }
    }

    fn on_end(&mut self) {
        self.close_interval();
        self.busy_mean_at_end = self.busy.mean(self.now);
        self.arrivals_open = false;
    }

    fn close_interval(&mut self) {
        let now = self.now;
        let iv = &mut self.interval;
        let secs = (now - iv.start).as_secs_f64();
        let total_workers = f64::from(self.service.workers) * self.instances.len() as f64;
        self.rows.push(IntervalRow {
            t_s: now.as_secs_f64(),
            arrivals_rps: iv.arrivals as f64 / secs,
            throughput_rps: iv.completions as f64 / secs,
            latency_p99_ms: if iv.latency.count() == 0 {
                f64::NAN
            } else {
                iv.latency.quantile_ns(0.99) as f64 / 1e6
            },
            errors: iv.failed,
            rejected: 0,
            replicas: self.instances.len() as u64,
            cpu_util: iv.busy.mean(now) / total_workers,
            cache_hit_ratio: 0.0,
            breaker_open: 0,
            healthy_regions: 1,
            cost_usd_cum: 0.0,
        });
        iv.start = now;
        iv.arrivals = 0;
        iv.completions = 0;
        iv.failed = 0;
        iv.latency.clear();
        iv.busy.reset(now);
    }

    fn finish(self, replication: u32) -> RunOutput {
        let total_workers = f64::from(self.service.workers) * self.instances.len() as f64;
        let replicas = self.instances.len() as f64;
        RunOutput {
            replication,
            metrics: RunMetrics {
                requests: self.requests_n,
                ok: self.ok,
                degraded: 0,
                errors: self.errors,
                rejected: 0,
                timeouts: 0,
                shed: self.shed,
                measured: self.plan.run.measured(),
                latency: self.latency,
                cpu_util_mean: self.busy_mean_at_end / total_workers,
                replicas_mean: replicas,
                replicas_max: self.instances.len() as u64,
            },
            timeseries: self.rows,
            peak_in_flight: self.requests.slots() as u64,
        }
    }
}
