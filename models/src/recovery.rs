//! Recovery after a trigger (a fault window, a cache flush, a surge),
//! measured from a replication's time series after the run: no cost on the
//! engine's hot path, and the same rule for every kind of trigger.
//!
//! For each trigger: a *baseline* from the intervals just before it starts
//! (after the warm-up); `recovery_s`, the time from the trigger's end to the
//! start of the first run of `hold` consecutive intervals whose goodput and
//! p99 are back within tolerance of the baseline; `recovered` (such a run
//! exists before the end of arrivals); the peak error rate and the peak
//! excess p99 from the trigger's start until recovery (or the end); the work
//! wasted on abandoned tries meanwhile; and the counters that tell *why* a
//! system did not come back ([`Signals`], [`explain`]).
//!
//! Resolution: the answer is on interval boundaries. The first interval
//! checked is the first that starts at or after the trigger's end, so
//! `recovery_s` is at least the true recovery time and less than it plus one
//! interval.

use crate::plan::{RecoveryPlan, Trigger};
use crate::report::{Cell, IntervalRow, RunOutput};

/// What recovery after one trigger looked like in one replication.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerRecovery {
    /// The trigger's label (`fault 0 (latency db +100ms)`).
    pub label: String,
    /// Trigger start and end, seconds.
    pub start_s: f64,
    /// End, seconds (equal to the start for an instant trigger).
    pub end_s: f64,
    /// Mean goodput (ok answers/s) over the baseline intervals.
    pub baseline_goodput_rps: f64,
    /// Mean interval p99 (ms) over the baseline intervals.
    pub baseline_p99_ms: f64,
    /// 1 recovered, 0 not by the end of arrivals, NaN when there is no
    /// baseline (the trigger starts within the warm-up or the first interval).
    pub recovered: f64,
    /// Seconds from the trigger's end to recovery; NaN if not recovered.
    pub recovery_s: f64,
    /// Highest fraction of requests ending unsuccessfully (errors,
    /// timeouts, sheds, rejections) in an interval from the trigger's start
    /// until recovery (or the end).
    pub peak_error_rate: f64,
    /// Highest interval p99 above the baseline p99 over the same span, ms
    /// (answered requests only; NaN if none was answered).
    pub excess_p99_ms: f64,
    /// Worker-seconds of abandoned tries ending over the same span.
    pub wasted_work_s: f64,
    /// The counters that explain (non-)recovery.
    pub signals: Signals,
    /// Retries per arriving request sent on each call edge (in
    /// [`RunOutput::edges`]' order) after the trigger, over the span of
    /// [`Signals::after_retries_per_request`] (which adds them up, with
    /// datastore retries); empty when measured from a series without
    /// edges (a client region's).
    pub after_retries_by_edge: Vec<f64>,
    /// Wasted worker-seconds per second of each service (in
    /// [`RunOutput::services`]' order) after the trigger, over the span of
    /// [`Signals::after_wasted_work_per_s`] (which adds them up): where the
    /// workers busy for nobody are. Empty when measured from a series
    /// without services (a client region's).
    pub after_wasted_work_by_service: Vec<f64>,
}

/// Counters of the loops that can sustain an overload. "After" is from the
/// trigger's end until recovery (or the end of arrivals when it did not
/// recover); NaN when that span is empty.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Signals {
    /// Retries per arriving request over the baseline.
    pub baseline_retries_per_request: f64,
    /// Retries per arriving request after the trigger.
    pub after_retries_per_request: f64,
    /// Wasted worker-seconds per second over the baseline.
    pub baseline_wasted_work_per_s: f64,
    /// Wasted worker-seconds per second after the trigger (≈ workers busy
    /// for callers that had given up).
    pub after_wasted_work_per_s: f64,
    /// Fraction of intervals from the trigger's start with a breaker open.
    pub breaker_open_fraction: f64,
    /// Fraction of the after intervals with every autoscaled service at its
    /// maximum (NaN without an autoscaler).
    pub replicas_at_max_fraction: f64,
    /// Mean cache hit ratio over the baseline.
    pub baseline_cache_hit_ratio: f64,
    /// Mean cache hit ratio after the trigger.
    pub after_cache_hit_ratio: f64,
}

/// The `runs.csv` columns of recovery, present when the scenario has a
/// trigger; inserted before `slo_met`. Aggregated over a run's triggers:
/// `recovered` is 1 only if every trigger recovered, `recovery_s` the
/// longest, peaks the highest, `trigger_wasted_work_s` the sum, and the
/// signals those of the worst trigger (the first that did not recover,
/// else the slowest to recover).
pub const RECOVERY_COLUMNS: [&str; 13] = [
    "recovered",
    "recovery_s",
    "peak_error_rate",
    "excess_p99_ms",
    "trigger_wasted_work_s",
    "baseline_retries_per_request",
    "after_retries_per_request",
    "baseline_wasted_work_per_s",
    "after_wasted_work_per_s",
    "breaker_open_fraction",
    "replicas_at_max_fraction",
    "baseline_cache_hit_ratio",
    "after_cache_hit_ratio",
];

/// `recovery.csv` columns (one row per point, replication and trigger).
pub const RECOVERY_CSV_COLUMNS: [&str; 21] = [
    "point",
    "replication",
    "trigger",
    "label",
    "start_s",
    "end_s",
    "baseline_goodput_rps",
    "baseline_p99_ms",
    "recovered",
    "recovery_s",
    "peak_error_rate",
    "excess_p99_ms",
    "wasted_work_s",
    "baseline_retries_per_request",
    "after_retries_per_request",
    "baseline_wasted_work_per_s",
    "after_wasted_work_per_s",
    "breaker_open_fraction",
    "replicas_at_max_fraction",
    "baseline_cache_hit_ratio",
    "after_cache_hit_ratio",
];

impl TriggerRecovery {
    /// The cells after `point, replication, trigger, label`, in
    /// [`RECOVERY_CSV_COLUMNS`] order.
    pub fn cells(&self) -> Vec<Cell> {
        [
            self.start_s,
            self.end_s,
            self.baseline_goodput_rps,
            self.baseline_p99_ms,
            self.recovered,
            self.recovery_s,
            self.peak_error_rate,
            self.excess_p99_ms,
            self.wasted_work_s,
        ]
        .into_iter()
        .chain(self.signals.values())
        .map(Cell::Float)
        .collect()
    }
}

/// One interval, as read from an [`IntervalRow`].
#[derive(Clone, Copy)]
struct Iv<'a> {
    start: f64,
    end: f64,
    row: &'a IntervalRow,
}

impl Iv<'_> {
    fn secs(&self) -> f64 {
        self.end - self.start
    }
    fn completions(&self) -> f64 {
        (self.row.throughput_rps * self.secs()).round()
    }
    fn arrivals(&self) -> f64 {
        (self.row.arrivals_rps * self.secs()).round()
    }
    fn error_rate(&self) -> f64 {
        let failed = (self.row.errors + self.row.rejected) as f64;
        let ended = failed + self.completions();
        if ended > 0.0 { failed / ended } else { 0.0 }
    }
}

/// Recovery after every trigger of `plan`, from one replication's time
/// series `rows` (in time order) with warm-up `warmup_s`.
pub fn measure(plan: &RecoveryPlan, rows: &[IntervalRow], warmup_s: f64) -> Vec<TriggerRecovery> {
    let ivs = intervals(rows);
    plan.triggers
        .iter()
        .map(|t| measure_one(plan, t, &ivs, warmup_s).0)
        .collect()
}

/// Recovery after every trigger of `plan` in the replication `out`:
/// [`measure`] on its time series, with each trigger's retries on each
/// call edge after it ([`TriggerRecovery::after_retries_by_edge`], from
/// `out.edge_timeseries`, whose intervals are the run's) and each service's
/// wasted work ([`TriggerRecovery::after_wasted_work_by_service`], from
/// `out.service_timeseries`).
pub fn measure_run(plan: &RecoveryPlan, out: &RunOutput) -> Vec<TriggerRecovery> {
    let ivs = intervals(&out.timeseries);
    let (edges, services) = (out.edges.len(), out.services.len());
    plan.triggers
        .iter()
        .map(|t| {
            let (mut recovery, after) = measure_one(plan, t, &ivs, out.warmup_s);
            let arrivals: f64 = ivs[after.clone()].iter().map(Iv::arrivals).sum();
            let secs: f64 = ivs[after.clone()].iter().map(Iv::secs).sum();
            let per = |total: f64, of: f64| if of > 0.0 { total / of } else { f64::NAN };
            recovery.after_retries_by_edge = (0..edges)
                .map(|e| {
                    let retries = sum_after(&out.edge_timeseries, edges, e, after.clone(), |row| {
                        debug_assert!(row.edge == e, "{row:?}");
                        row.retries as f64
                    });
                    per(retries, arrivals)
                })
                .collect();
            recovery.after_wasted_work_by_service = (0..services)
                .map(|i| {
                    let wasted =
                        sum_after(&out.service_timeseries, services, i, after.clone(), |row| {
                            debug_assert!(row.service == i, "{row:?}");
                            row.wasted_work_s
                        });
                    per(wasted, secs)
                })
                .collect();
            recovery
        })
        .collect()
}

/// Component `i`'s `value` summed over the intervals `after` of a series
/// with one row per (interval, component) of `n` components, the run's
/// intervals (`edges_timeseries.csv`, `services_timeseries.csv`).
fn sum_after<R>(
    rows: &[R],
    n: usize,
    i: usize,
    after: std::ops::Range<usize>,
    value: impl Fn(&R) -> f64,
) -> f64 {
    after.filter_map(|k| rows.get(k * n + i)).map(value).sum()
}

/// The intervals of a time series, each from the end of the one before.
fn intervals(rows: &[IntervalRow]) -> Vec<Iv<'_>> {
    let mut ivs = Vec::with_capacity(rows.len());
    let mut start = 0.0;
    for row in rows {
        ivs.push(Iv {
            start,
            end: row.t_s,
            row,
        });
        start = row.t_s;
    }
    ivs
}

/// Recovery of each client region's requests after every trigger of
/// `plan`, `[region][trigger]` in `out.regions`' order (empty with fewer
/// than two regions): the rule of [`measure`] on the region's own series
/// (`out.region_timeseries`), its clients' answers per second and p99 for
/// the run's; [`TriggerRecovery::signals`] and `wasted_work_s` are the
/// run's alone and left at their empty values (NaN and 0).
pub fn measure_regions(plan: &RecoveryPlan, out: &RunOutput) -> Vec<Vec<TriggerRecovery>> {
    (0..out.regions.len())
        .map(|region| {
            let rows: Vec<IntervalRow> = out
                .region_timeseries
                .iter()
                .filter(|r| r.region == region)
                .map(|r| IntervalRow {
                    t_s: r.t_s,
                    arrivals_rps: r.requests_rps,
                    throughput_rps: r.throughput_rps,
                    latency_p99_ms: r.latency_p99_ms,
                    errors: r.errors,
                    rejected: r.rejected,
                    replicas: 0,
                    cpu_util: f64::NAN,
                    cache_hit_ratio: f64::NAN,
                    stale_read_ratio: f64::NAN,
                    breaker_open: 0,
                    healthy_regions: 0,
                    cost_usd_cum: f64::NAN,
                    retries: 0,
                    wasted_work_s: 0.0,
                    trigger: r.trigger,
                })
                .collect();
            measure(plan, &rows, out.warmup_s)
                .into_iter()
                .map(|t| TriggerRecovery {
                    signals: Signals::from_values([f64::NAN; 8]),
                    ..t
                })
                .collect()
        })
        .collect()
}

/// Mean and standard deviation of the finite values.
fn mean_sd(xs: impl Iterator<Item = f64>) -> (f64, f64) {
    let xs: Vec<f64> = xs.filter(|x| x.is_finite()).collect();
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// The band an interval must be in to count as recovered.
struct Band {
    goodput: f64,
    goodput_slack: f64,
    p99_max: f64,
}

impl Band {
    fn new(plan: &RecoveryPlan, base: &[Iv<'_>]) -> Band {
        let (g, g_sd) = mean_sd(base.iter().map(|i| i.row.throughput_rps));
        let (p, p_sd) = mean_sd(base.iter().map(|i| i.row.latency_p99_ms));
        Band {
            goodput: g,
            goodput_slack: (plan.goodput_tolerance * g).max(plan.noise_sigmas * g_sd),
            p99_max: p + (plan.p99_tolerance * p).max(plan.noise_sigmas * p_sd),
        }
    }

    fn holds(&self, iv: &Iv<'_>) -> bool {
        let goodput_ok = (iv.row.throughput_rps - self.goodput).abs() <= self.goodput_slack;
        // No answers at all is within tolerance only if none were expected.
        let p99_ok = if iv.row.latency_p99_ms.is_nan() {
            self.goodput == 0.0
        } else {
            iv.row.latency_p99_ms <= self.p99_max
        };
        goodput_ok && p99_ok
    }
}

/// Recovery after `t`, and the indices in `ivs` of the intervals after it
/// (its signals' "after" span).
fn measure_one(
    plan: &RecoveryPlan,
    t: &Trigger,
    ivs: &[Iv<'_>],
    warmup_s: f64,
) -> (TriggerRecovery, std::ops::Range<usize>) {
    let (start_s, end_s) = (t.start.as_secs_f64(), t.end.as_secs_f64());
    // The interval the trigger starts in, and the first one wholly after it.
    let first = ivs
        .iter()
        .position(|i| i.end > start_s)
        .unwrap_or(ivs.len());
    let after = ivs
        .iter()
        .position(|i| i.start >= end_s)
        .unwrap_or(ivs.len());
    let base_from = first.saturating_sub(plan.baseline_intervals);
    let base: Vec<Iv<'_>> = ivs[base_from..first]
        .iter()
        .copied()
        .filter(|i| i.start >= warmup_s)
        .collect();
    let band = Band::new(plan, &base);
    let measurable = !base.is_empty() && band.goodput.is_finite();
    let hold = plan.hold_intervals.max(1);
    let recovered_at = measurable
        .then(|| {
            (after..ivs.len().saturating_sub(hold - 1))
                .find(|&i| ivs[i..i + hold].iter().all(|iv| band.holds(iv)))
        })
        .flatten();
    let until = recovered_at.unwrap_or(ivs.len());
    let span = &ivs[first.min(until)..until];
    let peak = |f: &dyn Fn(&Iv<'_>) -> f64| {
        span.iter()
            .map(f)
            .filter(|x| x.is_finite())
            .fold(f64::NAN, f64::max)
    };
    let base_p99 = mean_sd(base.iter().map(|i| i.row.latency_p99_ms)).0;
    let after_span = after.min(until)..until;
    let recovery = TriggerRecovery {
        label: t.label.clone(),
        start_s,
        end_s,
        baseline_goodput_rps: band.goodput,
        baseline_p99_ms: base_p99,
        recovered: match (measurable, recovered_at) {
            (false, _) => f64::NAN,
            (true, Some(_)) => 1.0,
            (true, None) => 0.0,
        },
        recovery_s: recovered_at.map_or(f64::NAN, |i| ivs[i].start - end_s),
        peak_error_rate: peak(&|i| i.error_rate()).max(0.0),
        excess_p99_ms: peak(&|i| i.row.latency_p99_ms - base_p99),
        wasted_work_s: span.iter().map(|i| i.row.wasted_work_s).sum(),
        signals: signals(
            plan,
            &base,
            &ivs[first.min(until)..until],
            &ivs[after_span.clone()],
        ),
        after_retries_by_edge: Vec::new(),
        after_wasted_work_by_service: Vec::new(),
    };
    (recovery, after_span)
}

fn signals(plan: &RecoveryPlan, base: &[Iv<'_>], during: &[Iv<'_>], after: &[Iv<'_>]) -> Signals {
    let per_request = |ivs: &[Iv<'_>]| {
        let arrivals: f64 = ivs.iter().map(Iv::arrivals).sum();
        let retries: f64 = ivs.iter().map(|i| i.row.retries as f64).sum();
        if arrivals > 0.0 {
            retries / arrivals
        } else {
            f64::NAN
        }
    };
    let per_s = |ivs: &[Iv<'_>]| {
        let secs: f64 = ivs.iter().map(Iv::secs).sum();
        let wasted: f64 = ivs.iter().map(|i| i.row.wasted_work_s).sum();
        if secs > 0.0 { wasted / secs } else { f64::NAN }
    };
    let fraction = |ivs: &[Iv<'_>], f: &dyn Fn(&Iv<'_>) -> bool| {
        if ivs.is_empty() {
            f64::NAN
        } else {
            ivs.iter().filter(|i| f(i)).count() as f64 / ivs.len() as f64
        }
    };
    Signals {
        baseline_retries_per_request: per_request(base),
        after_retries_per_request: per_request(after),
        baseline_wasted_work_per_s: per_s(base),
        after_wasted_work_per_s: per_s(after),
        breaker_open_fraction: fraction(during, &|i| i.row.breaker_open > 0),
        replicas_at_max_fraction: plan
            .max_instances
            .map_or(f64::NAN, |max| fraction(after, &|i| i.row.replicas >= max)),
        baseline_cache_hit_ratio: mean_sd(base.iter().map(|i| i.row.cache_hit_ratio)).0,
        after_cache_hit_ratio: mean_sd(after.iter().map(|i| i.row.cache_hit_ratio)).0,
    }
}

/// The `runs.csv` cells of [`RECOVERY_COLUMNS`] for a run's triggers.
pub fn cells(triggers: &[TriggerRecovery]) -> Vec<Cell> {
    let all = |f: fn(&TriggerRecovery) -> f64| triggers.iter().map(f);
    let recovered = if all(|t| t.recovered).any(|r| r == 0.0) {
        0.0
    } else if all(|t| t.recovered).any(f64::is_nan) {
        f64::NAN
    } else {
        1.0
    };
    let max =
        |f: fn(&TriggerRecovery) -> f64| all(f).filter(|x| x.is_finite()).fold(f64::NAN, f64::max);
    let recovery_s = if recovered == 1.0 {
        max(|t| t.recovery_s)
    } else {
        f64::NAN
    };
    let s = worst(triggers).map_or(NAN_SIGNALS, |t| t.signals);
    let mut out = vec![
        Cell::Float(recovered),
        Cell::Float(recovery_s),
        Cell::Float(max(|t| t.peak_error_rate)),
        Cell::Float(max(|t| t.excess_p99_ms)),
        Cell::Float(all(|t| t.wasted_work_s).sum()),
    ];
    out.extend(s.values().map(Cell::Float));
    out
}

const NAN_SIGNALS: Signals = Signals {
    baseline_retries_per_request: f64::NAN,
    after_retries_per_request: f64::NAN,
    baseline_wasted_work_per_s: f64::NAN,
    after_wasted_work_per_s: f64::NAN,
    breaker_open_fraction: f64::NAN,
    replicas_at_max_fraction: f64::NAN,
    baseline_cache_hit_ratio: f64::NAN,
    after_cache_hit_ratio: f64::NAN,
};

impl Signals {
    /// The values in [`RECOVERY_COLUMNS`] order (after the first five).
    pub fn values(&self) -> [f64; 8] {
        [
            self.baseline_retries_per_request,
            self.after_retries_per_request,
            self.baseline_wasted_work_per_s,
            self.after_wasted_work_per_s,
            self.breaker_open_fraction,
            self.replicas_at_max_fraction,
            self.baseline_cache_hit_ratio,
            self.after_cache_hit_ratio,
        ]
    }

    /// Signals from values in [`Signals::values`] order (e.g. read back from
    /// `runs.csv` cells or averaged over replications).
    pub fn from_values(v: [f64; 8]) -> Signals {
        Signals {
            baseline_retries_per_request: v[0],
            after_retries_per_request: v[1],
            baseline_wasted_work_per_s: v[2],
            after_wasted_work_per_s: v[3],
            breaker_open_fraction: v[4],
            replicas_at_max_fraction: v[5],
            baseline_cache_hit_ratio: v[6],
            after_cache_hit_ratio: v[7],
        }
    }
}

/// The first trigger that did not recover, else the slowest to recover.
pub fn worst(triggers: &[TriggerRecovery]) -> Option<&TriggerRecovery> {
    triggers
        .iter()
        .find(|t| t.recovered == 0.0)
        .or_else(|| triggers.iter().find(|t| t.recovered.is_nan()))
        .or_else(|| {
            triggers
                .iter()
                .max_by(|a, b| a.recovery_s.total_cmp(&b.recovery_s))
        })
}

/// Whether the retries after the trigger amplify the load: at least 0.2
/// per request, and more than twice the baseline's (plus 0.05).
pub fn retries_amplified(s: &Signals) -> bool {
    let (rb, ra) = (s.baseline_retries_per_request, s.after_retries_per_request);
    ra >= 0.2 && ra > 2.0 * rb.max(0.0) + 0.05
}

/// Whether the counters show abandoned tries holding workers after the
/// trigger: more than 0.01 of a worker, and twice the baseline's.
pub fn work_wasted(s: &Signals) -> bool {
    let (wb, wa) = (s.baseline_wasted_work_per_s, s.after_wasted_work_per_s);
    wa > 0.01 && wa > 2.0 * wb.max(0.0)
}

/// The loops that sustain an overload, read from the counters, one
/// sentence each (retry amplification first and work for nobody next,
/// when they show, as [`retries_amplified`] and [`work_wasted`] say); a
/// closing sentence when none shows.
pub fn explain(s: &Signals) -> Vec<String> {
    let mut out = Vec::new();
    let (rb, ra) = (s.baseline_retries_per_request, s.after_retries_per_request);
    if retries_amplified(s) {
        out.push(format!(
            "retry amplification: {ra:.2} retries per request after the trigger (baseline \
             {:.2}): every failed or timed-out try is sent again, multiplying the offered load",
            rb.max(0.0)
        ));
    }
    let (wb, wa) = (s.baseline_wasted_work_per_s, s.after_wasted_work_per_s);
    if work_wasted(s) {
        out.push(format!(
            "work for nobody: tries whose caller had already timed out kept {wa:.1} workers busy \
             on average (baseline {:.1}); the callee still runs them, so the queue never drains",
            wb.max(0.0)
        ));
    }
    if s.breaker_open_fraction == 0.0 && !out.is_empty() {
        out.push(
            "no circuit breaker opened (none configured, or its failure threshold was never \
             reached): nothing shed the excess load"
                .to_owned(),
        );
    }
    if s.replicas_at_max_fraction >= 0.5 {
        out.push(format!(
            "autoscaler at its maximum for {:.0} % of the time after the trigger: capacity \
             could not grow further",
            s.replicas_at_max_fraction * 100.0
        ));
    }
    let (cb, ca) = (s.baseline_cache_hit_ratio, s.after_cache_hit_ratio);
    if cb > 0.05 && ca < 0.5 * cb {
        out.push(format!(
            "cache hit ratio collapsed from {cb:.2} to {ca:.2}: misses send the load to the \
             store behind the cache"
        ));
    }
    if out.is_empty() {
        out.push(
            "no sustaining loop shows in the counters (retries, abandoned work, breakers, \
             autoscaler, cache): the backlog may simply take longer to drain than the run \
             has left; run longer or lower the load"
                .to_owned(),
        );
    }
    out
}

#[cfg(test)]
mod tests;
