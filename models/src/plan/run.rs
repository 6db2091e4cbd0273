//! Checked `[run]`.

use headroom_sim::{Span, Timestamp};

use super::data::DataPlan;
use super::workload::{ArrivalPlan, WorkloadPlan};
use super::{Invalid, limits};
use crate::scenario::{Replications, RunConfig, Warmup};

/// Checked `[run]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPlan {
    /// Arrivals happen in `[0, duration)`; requests in flight at `duration`
    /// are drained (served to completion) so every arrival ends exactly once.
    pub duration: Span,
    /// Requests arriving before this are excluded from statistics (0 with
    /// `warmup = "auto"`: the truncation is chosen after the run).
    pub warmup: Span,
    /// `warmup = "auto"`: keep per-interval statistics so the truncation can
    /// be chosen per replication (MSER-5) after the run.
    pub auto_warmup: bool,
    /// Replications to run: the fixed count, or the adaptive maximum.
    pub replications: u32,
    /// Stop-on-precision settings, with `replications = { min, max,
    /// precision }`.
    pub adaptive: Option<AdaptiveReplications>,
    /// Root seed.
    pub seed: u64,
    /// Time-series interval.
    pub interval: Span,
    /// Limit on requests in flight.
    pub max_in_flight: u64,
    /// `cache_warm_start`: the span of requests the caches see before time
    /// 0, if any (`"0s"`, like leaving the key out, is none).
    pub cache_warm_start: Option<Span>,
}

/// `replications = { min, max, precision }`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveReplications {
    /// Replications always run.
    pub min: u32,
    /// Target relative 95 % CI half-width.
    pub precision: f64,
}

impl RunPlan {
    /// End of the warm-up, as an instant.
    pub fn warmup_end(&self) -> Timestamp {
        Timestamp::ZERO + self.warmup
    }

    /// End of arrivals, as an instant.
    pub fn end(&self) -> Timestamp {
        Timestamp::ZERO + self.duration
    }

    /// The measured window (duration minus warm-up).
    pub fn measured(&self) -> Span {
        self.duration - self.warmup
    }

    /// Number of time-series intervals.
    pub fn intervals(&self) -> u64 {
        self.duration.as_nanos().div_ceil(self.interval.as_nanos())
    }
}

pub(super) fn plan(run: &RunConfig) -> Result<RunPlan, Invalid> {
    if run.duration.is_zero() {
        return Err(Invalid::new(
            "run.duration",
            run.duration,
            "a positive duration such as \"1h\"",
        ));
    }
    let (warmup, auto_warmup) = match run.warmup {
        Warmup::Fixed(w) if w >= run.duration => {
            return Err(Invalid::new(
                "run.warmup",
                w,
                format!(
                    "a duration shorter than `run.duration` ({}), or \"auto\"",
                    run.duration
                ),
            ));
        }
        Warmup::Fixed(w) => (w, false),
        Warmup::Auto => (Span::ZERO, true),
    };
    let (replications, adaptive) = replications("run.replications", run.replications)?;
    if run.timeseries_interval.is_zero() {
        return Err(Invalid::new(
            "run.timeseries_interval",
            run.timeseries_interval,
            "a positive duration",
        ));
    }
    let intervals = run
        .duration
        .as_nanos()
        .div_ceil(run.timeseries_interval.as_nanos());
    if intervals > limits::MAX_INTERVALS {
        return Err(Invalid::new(
            "run.timeseries_interval",
            run.timeseries_interval,
            format!(
                "an interval giving at most {} rows per replication (duration {} / interval = {intervals})",
                limits::MAX_INTERVALS,
                run.duration
            ),
        ));
    }
    if !(1..=limits::MAX_IN_FLIGHT).contains(&run.max_in_flight) {
        return Err(Invalid::new(
            "run.max_in_flight",
            run.max_in_flight,
            format!("an integer from 1 to {}", limits::MAX_IN_FLIGHT),
        ));
    }
    Ok(RunPlan {
        duration: run.duration,
        warmup,
        auto_warmup,
        replications,
        adaptive,
        seed: run.seed,
        interval: run.timeseries_interval,
        max_in_flight: run.max_in_flight,
        cache_warm_start: run.cache_warm_start.filter(|s| !s.is_zero()),
    })
}

/// A cache warm start needs caches, and arrivals at a known rate: a
/// Poisson, diurnal or MMPP process of independent requests (a trace's
/// requests before its start are unknown; a closed workload's and a
/// session's rate is what the system answers). Its requests are bounded by
/// [`limits::MAX_WARM_START_REQUESTS`].
pub(super) fn check_warm_start(
    run: &RunPlan,
    workload: &WorkloadPlan,
    data: &DataPlan,
) -> Result<(), Invalid> {
    let Some(span) = run.cache_warm_start else {
        return Ok(());
    };
    let key = "run.cache_warm_start";
    if data.edge_cache.is_none() && data.stores.iter().all(|s| s.tiers.is_empty()) {
        return Err(Invalid::new(
            key,
            span,
            "a scenario with a cache to warm (`edge.cache` or `[[datastores.cache]]`); \
             without one, leave the key out",
        ));
    }
    let rate = match &workload.arrivals {
        ArrivalPlan::Poisson { rate } => *rate,
        ArrivalPlan::Diurnal { mean, .. } => *mean,
        ArrivalPlan::Mmpp { .. } => workload.arrivals.peak_rate().unwrap_or(0.0),
        ArrivalPlan::Trace(_) | ArrivalPlan::Closed { .. } => {
            return Err(Invalid::new(
                key,
                span,
                "arrivals at a known rate (poisson, diurnal or mmpp): the requests before time \
                 0 of a replayed trace or a closed workload are unknown; use `run.warmup` \
                 instead (or a trace `window` starting earlier), and turn the warm start off \
                 with `--set run.cache_warm_start=\"0s\"`",
            ));
        }
    };
    if workload.session.is_some() {
        return Err(Invalid::new(
            key,
            span,
            "open arrivals without sessions (a session's requests follow what the system \
             answers); use `run.warmup` instead",
        ));
    }
    let requests = rate * span.as_secs_f64();
    if requests > limits::MAX_WARM_START_REQUESTS {
        return Err(Invalid::new(
            key,
            span,
            format!(
                "a span of at most {:.0} requests at the workload's rate of {rate} a second \
                 (this one replays {requests:.3e})",
                limits::MAX_WARM_START_REQUESTS
            ),
        ));
    }
    Ok(())
}

/// The replication count `r` (at `key`: `run.replications`, or a sweep's
/// `sweep.replications`, which overrides it) checked: the count to run, or
/// the most, and the stop-on-precision rule.
pub(crate) fn replications(
    key: &str,
    r: Replications,
) -> Result<(u32, Option<AdaptiveReplications>), Invalid> {
    let in_range = |n: u32| (1..=limits::MAX_REPLICATIONS).contains(&n);
    match r {
        Replications::Fixed(n) if in_range(n) => Ok((n, None)),
        Replications::Fixed(n) => Err(Invalid::new(
            key,
            n,
            format!(
                "an integer from 1 to {}, or {{ min, max, precision }}",
                limits::MAX_REPLICATIONS
            ),
        )),
        Replications::Adaptive {
            min,
            max,
            precision,
        } => {
            if !(2..=limits::MAX_REPLICATIONS).contains(&min) {
                return Err(Invalid::new(
                    format!("{key}.min"),
                    min,
                    format!(
                        "an integer from 2 to {} (a confidence interval needs two replications)",
                        limits::MAX_REPLICATIONS
                    ),
                ));
            }
            if !(min..=limits::MAX_REPLICATIONS).contains(&max) {
                return Err(Invalid::new(
                    format!("{key}.max"),
                    max,
                    format!(
                        "an integer from `min` ({min}) to {}",
                        limits::MAX_REPLICATIONS
                    ),
                ));
            }
            if !(precision.is_finite() && precision > 0.0 && precision < 1.0) {
                return Err(Invalid::new(
                    format!("{key}.precision"),
                    precision,
                    "a relative half-width in (0, 1), e.g. 0.05 for ±5 %",
                ));
            }
            Ok((max, Some(AdaptiveReplications { min, precision })))
        }
    }
}
