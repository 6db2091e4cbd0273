//! Checked `[recovery]` and the triggers recovery is measured after: every
//! fault window that ends (latency, errors, region outage), every cache
//! flush (an instant), and every surge.

use headroom_sim::{Span, Timestamp};

use super::Invalid;
use super::faults::FaultPlan;
use super::run::RunPlan;
use super::workload::WorkloadPlan;
use crate::scenario::{DistOrSpan, FaultConfig, Scenario};

/// How recovery is measured, in whole time-series intervals.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveryPlan {
    /// Intervals before a trigger that form its baseline.
    pub baseline_intervals: usize,
    /// Consecutive intervals within tolerance that count as recovered.
    pub hold_intervals: usize,
    /// Relative goodput tolerance (either way).
    pub goodput_tolerance: f64,
    /// Relative p99 tolerance (above the baseline).
    pub p99_tolerance: f64,
    /// Standard deviations of baseline noise the tolerances widen to.
    pub noise_sigmas: f64,
    /// The triggers, faults first (in `[[faults]]` order), then surges.
    pub triggers: Vec<Trigger>,
    /// Most instances the services can run at once (fixed replicas and
    /// autoscaler maxima, over their regions); `None` without an
    /// autoscaler (capacity cannot grow).
    pub max_instances: Option<u64>,
}

/// Something that pushes the system off its steady state for a while.
#[derive(Clone, Debug, PartialEq)]
pub struct Trigger {
    /// `fault 0 (latency db +100ms)`, `surge 0 (x3)`: for tables.
    pub label: String,
    /// Start.
    pub start: Timestamp,
    /// End (equal to `start` for an instant such as a cache flush).
    pub end: Timestamp,
}

/// Default baseline, in intervals.
pub const DEFAULT_BASELINE_INTERVALS: usize = 5;
/// Default hold, in intervals.
pub const DEFAULT_HOLD_INTERVALS: usize = 3;
/// Default relative goodput tolerance.
pub const DEFAULT_GOODPUT_TOLERANCE: f64 = 0.1;
/// Default relative p99 tolerance.
pub const DEFAULT_P99_TOLERANCE: f64 = 0.5;
/// Default noise allowance, standard deviations.
pub const DEFAULT_NOISE_SIGMAS: f64 = 3.0;

pub(super) fn plan(
    scenario: &Scenario,
    run: &RunPlan,
    workload: &WorkloadPlan,
    faults: &[FaultPlan],
    services: &[super::service::ServicePlan],
) -> Result<RecoveryPlan, Invalid> {
    let cfg = scenario.recovery.clone().unwrap_or_default();
    let intervals = |key: &str, span: Option<Span>, default: usize| -> Result<usize, Invalid> {
        match span {
            None => Ok(default),
            Some(s) if s.is_zero() || s > run.duration => Err(Invalid::new(
                format!("recovery.{key}"),
                s,
                format!(
                    "a positive duration up to `run.duration` ({}); it is rounded up to whole \
                     `run.timeseries_interval`s ({})",
                    run.duration, run.interval
                ),
            )),
            Some(s) => Ok(s.as_nanos().div_ceil(run.interval.as_nanos()) as usize),
        }
    };
    let fraction = |key: &str, v: Option<f64>, default: f64, max: f64| match v {
        None => Ok(default),
        Some(x) if x.is_finite() && x > 0.0 && x <= max => Ok(x),
        Some(x) => Err(Invalid::new(
            format!("recovery.{key}"),
            x,
            format!("a number in (0, {max}]"),
        )),
    };
    Ok(RecoveryPlan {
        baseline_intervals: intervals("baseline", cfg.baseline, DEFAULT_BASELINE_INTERVALS)?,
        hold_intervals: intervals("hold", cfg.hold, DEFAULT_HOLD_INTERVALS)?,
        goodput_tolerance: fraction(
            "goodput_tolerance",
            cfg.goodput_tolerance,
            DEFAULT_GOODPUT_TOLERANCE,
            1.0,
        )?,
        p99_tolerance: fraction(
            "p99_tolerance",
            cfg.p99_tolerance,
            DEFAULT_P99_TOLERANCE,
            100.0,
        )?,
        noise_sigmas: fraction(
            "noise_sigmas",
            cfg.noise_sigmas,
            DEFAULT_NOISE_SIGMAS,
            100.0,
        )?,
        triggers: triggers(scenario, workload, faults),
        max_instances: max_instances(services),
    })
}

fn triggers(scenario: &Scenario, workload: &WorkloadPlan, faults: &[FaultPlan]) -> Vec<Trigger> {
    let mut out = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let what = scenario.faults.get(i).map_or_else(String::new, describe);
        let window = match *f {
            FaultPlan::RegionOutage { window, .. }
            | FaultPlan::Latency { window, .. }
            | FaultPlan::Errors { window, .. } => window,
            FaultPlan::CacheFlush { at, .. } => super::Window { start: at, end: at },
            // Crashes are a steady process, not a window.
            FaultPlan::InstanceCrash { .. } => continue,
        };
        // An open-ended fault never ends: nothing to recover from.
        if window.end == Timestamp::MAX {
            continue;
        }
        out.push(Trigger {
            label: format!("fault {i} ({what})"),
            start: window.start,
            end: window.end,
        });
    }
    for (i, s) in workload.surges.iter().enumerate() {
        out.push(Trigger {
            label: format!("surge {i} (x{})", s.multiplier),
            start: s.start,
            end: s.end,
        });
    }
    out
}

/// `latency db +100ms`, `errors api rate 0.5`, `region-outage us-east`.
fn describe(f: &FaultConfig) -> String {
    match f {
        FaultConfig::RegionOutage { region, .. } => format!("region-outage {region}"),
        FaultConfig::Latency { target, add, .. } => match add {
            DistOrSpan::Fixed(s) => format!("latency {target} +{s}"),
            DistOrSpan::Dist(_) => format!("latency {target}"),
        },
        FaultConfig::Errors { target, rate, .. } => format!("errors {target} rate {rate}"),
        FaultConfig::InstanceCrash { service, .. } => format!("instance-crash {service}"),
        FaultConfig::CacheFlush { store, tier, .. } => format!("cache-flush {store}.{tier}"),
    }
}

fn max_instances(services: &[super::service::ServicePlan]) -> Option<u64> {
    use super::service::Scaling;
    let mut any_autoscaled = false;
    let mut total = 0u64;
    for s in services {
        let per_region = match &s.scaling {
            Scaling::Fixed(n) => u64::from(*n),
            Scaling::Autoscaled { spec, .. } => {
                any_autoscaled = true;
                u64::from(spec.max_replicas())
            }
        };
        total += per_region * s.regions.len() as u64;
    }
    any_autoscaled.then_some(total)
}
