//! Everything a replication measures: request outcomes and latency (by
//! arrival after the warm-up), time-weighted signals over the measured window
//! `[warmup end, duration]` (CPU, instances, open breakers, cost rate), the
//! time series, per-service rows, and the run report.

use headroom_sim::stats::{LatencyHistogram, TimeWeighted};
use headroom_sim::{Span, Timestamp};

use super::mesh::{Cause, Reply, Request};
use crate::plan::costs::HOURS_PER_MONTH;
use crate::plan::{Plan, RegionId, ServiceId};
use crate::report::{IntervalRow, RunMetrics, RunOutput, ServiceRow};

/// Per-service accumulators.
struct ServiceStats {
    attempts: u64,
    errors: u64,
    latency: LatencyHistogram,
    held: TimeWeighted,
    computing: TimeWeighted,
    capacity: TimeWeighted,
    instances: TimeWeighted,
}

/// One time-series interval's accumulators.
struct Interval {
    start: Timestamp,
    arrivals: u64,
    completions: u64,
    failed: u64,
    rejected: u64,
    latency: LatencyHistogram,
    computing: TimeWeighted,
    capacity: TimeWeighted,
}

pub(super) struct Stats {
    warmup_end: Timestamp,
    end: Timestamp,
    /// Between the warm-up end and the end of arrivals.
    measuring: bool,
    requests: u64,
    ok: u64,
    degraded: u64,
    errors: u64,
    rejected: u64,
    timeouts: u64,
    shed: u64,
    failovers: u64,
    retries: u64,
    crashes: u64,
    ejections: u64,
    latency: LatencyHistogram,
    computing: TimeWeighted,
    capacity: TimeWeighted,
    instances: TimeWeighted,
    open_breakers: TimeWeighted,
    /// Instance cost rate, USD per second, since time zero and measured.
    cost_rate_all: TimeWeighted,
    cost_rate: TimeWeighted,
    egress_usd_all: f64,
    egress_usd: f64,
    wasted_ns: u128,
    /// USD per instance-second, `[service][region]`.
    prices: Vec<Vec<f64>>,
    inter_region_usd_per_byte: f64,
    internet_usd_per_byte: f64,
    services: Vec<ServiceStats>,
    interval: Interval,
    rows: Vec<IntervalRow>,
    /// Values frozen at the end of arrivals (the drain is not measured).
    frozen: Option<Frozen>,
    /// Per service: held, computing and capacity worker-seconds, mean and
    /// most instances, frozen at the end of arrivals.
    frozen_services: Vec<[f64; 5]>,
}

/// Time-weighted results read at the end of arrivals.
#[derive(Clone, Copy)]
struct Frozen {
    cpu_util: f64,
    replicas_mean: f64,
    replicas_max: f64,
    breaker_open_s: f64,
    instance_cost_usd: f64,
    egress_usd: f64,
}

fn tw() -> TimeWeighted {
    TimeWeighted::new(Timestamp::ZERO, 0.0)
}

impl Stats {
    pub(super) fn new(plan: &Plan) -> Self {
        let (prices, inter, internet) = match &plan.costs {
            Some(c) => (
                c.instance_usd_per_s.clone(),
                c.inter_region_usd_per_byte,
                c.internet_usd_per_byte,
            ),
            None => (
                vec![vec![0.0; plan.network.regions.len()]; plan.services.len()],
                0.0,
                0.0,
            ),
        };
        Stats {
            warmup_end: plan.run.warmup_end(),
            end: plan.run.end(),
            measuring: plan.run.warmup.is_zero(),
            requests: 0,
            ok: 0,
            degraded: 0,
            errors: 0,
            rejected: 0,
            timeouts: 0,
            shed: 0,
            failovers: 0,
            retries: 0,
            crashes: 0,
            ejections: 0,
            latency: LatencyHistogram::new(),
            computing: tw(),
            capacity: tw(),
            instances: tw(),
            open_breakers: tw(),
            cost_rate_all: tw(),
            cost_rate: tw(),
            egress_usd_all: 0.0,
            egress_usd: 0.0,
            wasted_ns: 0,
            prices,
            inter_region_usd_per_byte: inter,
            internet_usd_per_byte: internet,
            services: plan
                .services
                .iter()
                .map(|_| ServiceStats {
                    attempts: 0,
                    errors: 0,
                    latency: LatencyHistogram::new(),
                    held: tw(),
                    computing: tw(),
                    capacity: tw(),
                    instances: tw(),
                })
                .collect(),
            interval: Interval {
                start: Timestamp::ZERO,
                arrivals: 0,
                completions: 0,
                failed: 0,
                rejected: 0,
                latency: LatencyHistogram::new(),
                computing: tw(),
                capacity: tw(),
            },
            rows: Vec::new(),
            frozen: None,
            frozen_services: Vec::new(),
        }
    }

    pub(super) fn on_warmup_end(&mut self, now: Timestamp) {
        self.measuring = true;
        for t in [
            &mut self.computing,
            &mut self.capacity,
            &mut self.instances,
            &mut self.open_breakers,
            &mut self.cost_rate,
        ] {
            t.reset(now);
        }
        for s in &mut self.services {
            s.held.reset(now);
            s.computing.reset(now);
            s.capacity.reset(now);
            s.instances.reset(now);
        }
    }

    pub(super) fn on_end(&mut self, now: Timestamp) {
        let capacity = self.capacity.integral_secs(now);
        self.frozen = Some(Frozen {
            cpu_util: if capacity > 0.0 {
                self.computing.integral_secs(now) / capacity
            } else {
                f64::NAN
            },
            replicas_mean: self.instances.mean(now),
            replicas_max: self.instances.max(),
            breaker_open_s: self.open_breakers.integral_secs(now),
            instance_cost_usd: self.cost_rate.integral_secs(now),
            egress_usd: self.egress_usd,
        });
        self.frozen_services = self
            .services
            .iter()
            .map(|s| {
                [
                    s.held.integral_secs(now),
                    s.computing.integral_secs(now),
                    s.capacity.integral_secs(now),
                    s.instances.mean(now),
                    s.instances.max(),
                ]
            })
            .collect();
        self.measuring = false;
    }

    /// Whether an event at `now` falls in the measured window.
    #[inline]
    fn in_window(&self, now: Timestamp) -> bool {
        self.measuring && now >= self.warmup_end && now < self.end
    }

    pub(super) fn on_arrival(&mut self, _now: Timestamp, measured: bool) {
        self.requests += u64::from(measured);
        self.interval.arrivals += 1;
    }

    pub(super) fn on_request_end(&mut self, now: Timestamp, r: &Request, reply: Reply) {
        let latency = (now - r.arrival).as_nanos();
        let answered = reply.cause == Cause::Ok;
        if r.measured {
            match reply.cause {
                Cause::Ok if reply.degraded || r.degraded => self.degraded += 1,
                Cause::Ok => self.ok += 1,
                Cause::Error => self.errors += 1,
                Cause::Shed => self.shed += 1,
                Cause::Timeout => self.timeouts += 1,
                Cause::Rejected => self.rejected += 1,
            }
            if answered {
                self.latency.record(latency);
            }
            self.failovers += u64::from(r.failed_over);
        }
        if now < self.end {
            let iv = &mut self.interval;
            match reply.cause {
                Cause::Ok => {
                    iv.completions += 1;
                    iv.latency.record(latency);
                }
                Cause::Rejected => iv.rejected += 1,
                Cause::Error | Cause::Shed | Cause::Timeout => iv.failed += 1,
            }
        }
    }

    pub(super) fn on_retry(&mut self, now: Timestamp) {
        self.retries += u64::from(self.in_window(now));
    }

    pub(super) fn on_crash(&mut self, now: Timestamp) {
        self.crashes += u64::from(self.in_window(now));
    }

    pub(super) fn on_ejection(&mut self, now: Timestamp) {
        self.ejections += u64::from(self.in_window(now));
    }

    pub(super) fn on_outage(&mut self, _now: Timestamp) {}

    pub(super) fn on_region_health(&mut self, _now: Timestamp, _healthy: bool) {}

    pub(super) fn on_attempt_arrival(&mut self, service: ServiceId) {
        self.services[service.index()].attempts += u64::from(self.measuring);
    }

    pub(super) fn on_attempt_end(
        &mut self,
        now: Timestamp,
        service: ServiceId,
        latency: Span,
        ok: bool,
    ) {
        if self.in_window(now) {
            let s = &mut self.services[service.index()];
            s.errors += u64::from(!ok);
            s.latency.record(latency.as_nanos());
        }
    }

    /// Workers held and computing change by `held` and `computing`.
    #[inline]
    pub(super) fn on_workers(
        &mut self,
        now: Timestamp,
        service: ServiceId,
        held: i64,
        computing: i64,
    ) {
        let s = &mut self.services[service.index()];
        if held != 0 {
            s.held.add(now, held as f64);
        }
        if computing != 0 {
            let c = computing as f64;
            s.computing.add(now, c);
            self.computing.add(now, c);
            self.interval.computing.add(now, c);
        }
    }

    /// Instances of `service` in `region` change by `count` (billed) and
    /// ready worker capacity by `capacity`.
    pub(super) fn on_instances(
        &mut self,
        now: Timestamp,
        service: ServiceId,
        region: RegionId,
        count: i64,
        capacity: i64,
    ) {
        let s = &mut self.services[service.index()];
        if count != 0 {
            s.instances.add(now, count as f64);
            self.instances.add(now, count as f64);
            let rate = self.prices[service.index()][region.index()] * count as f64;
            self.cost_rate.add(now, rate);
            self.cost_rate_all.add(now, rate);
        }
        if capacity != 0 {
            let c = capacity as f64;
            s.capacity.add(now, c);
            self.capacity.add(now, c);
            self.interval.capacity.add(now, c);
        }
    }

    pub(super) fn on_breaker_open(&mut self, now: Timestamp, delta: i64) {
        self.open_breakers.add(now, delta as f64);
    }

    pub(super) fn on_inter_region_bytes(&mut self, now: Timestamp, bytes: u64) {
        let usd = bytes as f64 * self.inter_region_usd_per_byte;
        self.egress_usd_all += usd;
        if self.in_window(now) {
            self.egress_usd += usd;
        }
    }

    pub(super) fn on_internet_bytes(&mut self, now: Timestamp, bytes: u64) {
        let usd = bytes as f64 * self.internet_usd_per_byte;
        self.egress_usd_all += usd;
        if self.in_window(now) {
            self.egress_usd += usd;
        }
    }

    pub(super) fn on_wasted_work(&mut self, now: Timestamp, work: Span) {
        if self.in_window(now) {
            self.wasted_ns += u128::from(work.as_nanos());
        }
    }

    /// Closes the current time-series interval at `now`.
    pub(super) fn close_interval(&mut self, now: Timestamp, healthy_regions: u64) {
        let iv = &mut self.interval;
        let secs = (now - iv.start).as_secs_f64();
        let capacity = iv.capacity.integral_secs(now);
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
            rejected: iv.rejected,
            replicas: self.instances.current().round() as u64,
            cpu_util: if capacity > 0.0 {
                iv.computing.integral_secs(now) / capacity
            } else {
                f64::NAN
            },
            cache_hit_ratio: 0.0,
            breaker_open: self.open_breakers.current().round() as u64,
            healthy_regions,
            cost_usd_cum: self.cost_rate_all.integral_secs(now) + self.egress_usd_all,
        });
        iv.start = now;
        iv.arrivals = 0;
        iv.completions = 0;
        iv.failed = 0;
        iv.rejected = 0;
        iv.latency.clear();
        iv.computing.reset(now);
        iv.capacity.reset(now);
    }

    /// The replication's report.
    pub(super) fn finish(self, plan: &Plan, replication: u32, peak_in_flight: u64) -> RunOutput {
        let measured = plan.run.measured();
        let f = self.frozen.unwrap_or(Frozen {
            cpu_util: f64::NAN,
            replicas_mean: f64::NAN,
            replicas_max: 0.0,
            breaker_open_s: 0.0,
            instance_cost_usd: 0.0,
            egress_usd: 0.0,
        });
        let cost_usd = f.instance_cost_usd + f.egress_usd;
        let cost_per_month_usd = cost_usd / measured.as_secs_f64() * HOURS_PER_MONTH * 3600.0;
        let q = |p: f64| {
            if self.latency.count() == 0 {
                f64::NAN
            } else {
                self.latency.quantile_ns(p) as f64
            }
        };
        let availability = if self.requests == 0 {
            f64::NAN
        } else {
            (self.ok + self.degraded) as f64 / self.requests as f64
        };
        let slo_met = plan
            .slo
            .is_none_or(|slo| slo.met(q(0.5), q(0.99), q(0.999), availability, cost_per_month_usd));
        let services = plan
            .services
            .iter()
            .zip(self.services)
            .enumerate()
            .map(|(i, (p, s))| {
                let [held, computing, capacity, mean, max] = self
                    .frozen_services
                    .get(i)
                    .copied()
                    .unwrap_or([0.0, 0.0, 0.0, f64::NAN, 0.0]);
                let ratio = |x: f64| {
                    if capacity > 0.0 {
                        x / capacity
                    } else {
                        f64::NAN
                    }
                };
                ServiceRow {
                    service: p.name.clone(),
                    requests: s.attempts,
                    errors: s.errors,
                    utilization: ratio(held),
                    cpu_util: ratio(computing),
                    replicas_mean: mean,
                    replicas_max: max.round() as u64,
                    latency: s.latency,
                }
            })
            .collect();
        RunOutput {
            replication,
            metrics: RunMetrics {
                requests: self.requests,
                ok: self.ok,
                degraded: self.degraded,
                errors: self.errors,
                rejected: self.rejected,
                timeouts: self.timeouts,
                shed: self.shed,
                measured,
                latency: self.latency,
                cpu_util_mean: f.cpu_util,
                replicas_mean: f.replicas_mean,
                replicas_max: f.replicas_max.round() as u64,
                cache_hit_ratio: 0.0,
                shard_max_load_ratio: 0.0,
                breaker_open_s: f.breaker_open_s,
                failovers: self.failovers,
                retries: self.retries,
                cost_usd,
                cost_per_month_usd,
                slo_met,
                wasted_work_s: self.wasted_ns as f64 / 1e9,
                crashes: self.crashes,
                ejections: self.ejections,
            },
            timeseries: self.rows,
            services,
            peak_in_flight,
        }
    }
}
