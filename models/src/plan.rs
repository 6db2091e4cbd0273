//! The checked model: a [`Scenario`] validated once into what the engine runs.
//!
//! Every range is enforced here, and every violation names the key (a dotted,
//! name-addressed path such as `services.api.instance.workers`), the value
//! and what is accepted. The engine never re-checks.

use std::path::{Path, PathBuf};

use headroom_sim::dist::{Dist, DistError};
use headroom_sim::{Span, Timestamp};

use headroom_policy::balance::Algorithm;

use crate::scenario::{ArrivalsConfig, ConcurrencyModel, DistConfig, QueueCapacity, Scenario};

/// Upper bounds that keep a run's memory and time finite.
pub mod limits {
    /// Replications per run.
    pub const MAX_REPLICATIONS: u32 = 100_000;
    /// `timeseries.csv` rows per replication.
    pub const MAX_INTERVALS: u64 = 1_000_000;
    /// Workers per instance.
    pub const MAX_WORKERS: u32 = 1_000_000;
    /// Instances per service (the load balancer's endpoint limit).
    pub const MAX_REPLICAS: u32 = headroom_policy::balance::MAX_ENDPOINTS as u32;
    /// Requests in flight at once.
    pub const MAX_IN_FLIGHT: u64 = 100_000_000;
    /// Arrival rate, requests per second (one per nanosecond).
    pub const MAX_RATE: f64 = 1e9;
    /// Values in an empirical distribution file.
    pub const MAX_EMPIRICAL_VALUES: usize = 10_000_000;
}

/// A value outside its accepted range.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    /// Dotted, name-addressed key.
    pub key: String,
    /// The rejected value.
    pub value: String,
    /// What is accepted.
    pub expected: String,
    /// Another file the error is in (an empirical distribution), if not the
    /// scenario itself.
    pub file: Option<PathBuf>,
    /// 1-based line in `file`, when known.
    pub line: Option<usize>,
}

impl Invalid {
    fn new(
        key: impl Into<String>,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Invalid {
            key: key.into(),
            value: value.to_string(),
            expected: expected.into(),
            file: None,
            line: None,
        }
    }

    /// `` `key` = value: expected … ``
    pub fn message(&self) -> String {
        format!(
            "`{}` = {}: expected {}",
            self.key, self.value, self.expected
        )
    }
}

/// The checked model of one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Run control.
    pub run: RunPlan,
    /// Arrivals at the entry service.
    pub arrivals: ArrivalPlan,
    /// Services, the entry service first.
    pub services: Vec<ServicePlan>,
}

/// Checked `[run]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPlan {
    /// Arrivals happen in `[0, duration)`; requests in flight at `duration`
    /// are drained (served to completion) so every arrival ends exactly once.
    pub duration: Span,
    /// Requests arriving before this are excluded from statistics.
    pub warmup: Span,
    /// Replications.
    pub replications: u32,
    /// Root seed.
    pub seed: u64,
    /// Time-series interval.
    pub interval: Span,
    /// Limit on requests in flight.
    pub max_in_flight: u64,
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
}

/// Checked arrival process.
#[derive(Clone, Debug, PartialEq)]
pub enum ArrivalPlan {
    /// Poisson arrivals.
    Poisson {
        /// Requests per second.
        rate: f64,
        /// Inter-arrival distribution (exponential, mean 1/rate).
        interarrival: Dist,
    },
}

/// Checked service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServicePlan {
    /// Name.
    pub name: String,
    /// Workers per instance.
    pub workers: u32,
    /// Waiting room per instance; `None` = unbounded.
    pub queue: Option<u64>,
    /// Concurrency model.
    pub model: ConcurrencyModel,
    /// Service-time distribution.
    pub work: Dist,
    /// Instances.
    pub replicas: u32,
    /// Load balancing across instances.
    pub load_balancer: Algorithm,
}

impl Plan {
    /// Validates `scenario`; relative file paths inside it are resolved
    /// against `base_dir` (the scenario file's folder).
    pub fn new(scenario: &Scenario, base_dir: &Path) -> Result<Plan, Invalid> {
        let run = run_plan(scenario)?;
        let arrivals = match &scenario.workload.arrivals {
            ArrivalsConfig::Poisson { rate } => {
                let rate = *rate;
                if !(rate.is_finite() && rate > 0.0 && rate <= limits::MAX_RATE) {
                    return Err(Invalid::new(
                        "workload.arrivals.rate",
                        rate,
                        format!(
                            "a number of requests per second > 0 and <= {:e}",
                            limits::MAX_RATE
                        ),
                    ));
                }
                let interarrival = Dist::Exponential {
                    mean_ns: 1e9 / rate,
                };
                ArrivalPlan::Poisson { rate, interarrival }
            }
        };
        let services = services(scenario, base_dir)?;
        Ok(Plan {
            run,
            arrivals,
            services,
        })
    }
}

fn run_plan(scenario: &Scenario) -> Result<RunPlan, Invalid> {
    let run = &scenario.run;
    if run.duration.is_zero() {
        return Err(Invalid::new(
            "run.duration",
            run.duration,
            "a positive duration such as \"1h\"",
        ));
    }
    if run.warmup >= run.duration {
        return Err(Invalid::new(
            "run.warmup",
            run.warmup,
            format!("a duration shorter than `run.duration` ({})", run.duration),
        ));
    }
    if !(1..=limits::MAX_REPLICATIONS).contains(&run.replications) {
        return Err(Invalid::new(
            "run.replications",
            run.replications,
            format!("an integer from 1 to {}", limits::MAX_REPLICATIONS),
        ));
    }
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
        warmup: run.warmup,
        replications: run.replications,
        seed: run.seed,
        interval: run.timeseries_interval,
        max_in_flight: run.max_in_flight,
    })
}

fn services(scenario: &Scenario, base_dir: &Path) -> Result<Vec<ServicePlan>, Invalid> {
    match scenario.services.len() {
        0 => {
            return Err(Invalid::new(
                "services",
                "none",
                "at least one [[services]] table; the first is the entry point",
            ));
        }
        1 => {}
        n => {
            return Err(Invalid::new(
                "services",
                format!("{n} services"),
                "exactly one [[services]] table for now: calls between services are not modeled yet",
            ));
        }
    }
    let mut plans = Vec::with_capacity(scenario.services.len());
    for (i, s) in scenario.services.iter().enumerate() {
        let at = if s.name.is_empty() {
            i.to_string()
        } else {
            s.name.clone()
        };
        let key = |k: &str| format!("services.{at}.{k}");
        let valid_name = !s.name.is_empty()
            && s.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(Invalid::new(
                key("name"),
                format!("{:?}", s.name),
                "a non-empty name of letters, digits, '-' and '_'",
            ));
        }
        if scenario.services[..i].iter().any(|o| o.name == s.name) {
            return Err(Invalid::new(
                key("name"),
                format!("{:?}", s.name),
                "a name no other service has",
            ));
        }
        if !(1..=limits::MAX_WORKERS).contains(&s.instance.workers) {
            return Err(Invalid::new(
                key("instance.workers"),
                s.instance.workers,
                format!("an integer from 1 to {}", limits::MAX_WORKERS),
            ));
        }
        if !(1..=limits::MAX_REPLICAS).contains(&s.replicas) {
            return Err(Invalid::new(
                key("replicas"),
                s.replicas,
                format!("an integer from 1 to {}", limits::MAX_REPLICAS),
            ));
        }
        let queue = match s.instance.queue {
            QueueCapacity::Bounded(n) => Some(n),
            QueueCapacity::Unbounded => None,
        };
        let work = dist(&s.work, &key("work"), base_dir)?;
        plans.push(ServicePlan {
            name: s.name.clone(),
            workers: s.instance.workers,
            queue,
            model: s.instance.model,
            work,
            replicas: s.replicas,
            load_balancer: s.load_balancer,
        });
    }
    Ok(plans)
}

/// Builds a distribution, naming `table.param` in errors.
pub fn dist(config: &DistConfig, table: &str, base_dir: &Path) -> Result<Dist, Invalid> {
    let named = |e: DistError| Invalid::new(format!("{table}.{}", e.param), e.value, e.expected);
    match config {
        DistConfig::Exponential { mean } => Dist::exponential(*mean).map_err(named),
        DistConfig::Deterministic { mean } => Ok(Dist::deterministic(*mean)),
        DistConfig::Uniform { min, max } => Dist::uniform(*min, *max).map_err(named),
        DistConfig::Lognormal { mean, cv, p99 } => match (cv, p99) {
            (Some(cv), None) => Dist::lognormal_cv(*mean, *cv).map_err(named),
            (None, Some(p99)) => Dist::lognormal_p99(*mean, *p99).map_err(named),
            (Some(cv), Some(_)) => Err(Invalid::new(
                format!("{table}.cv"),
                cv,
                "either `cv` or `p99`, not both",
            )),
            (None, None) => Err(Invalid::new(
                format!("{table}.cv"),
                "missing",
                "`cv = F` (coefficient of variation) or `p99 = D` for a lognormal",
            )),
        },
        DistConfig::Pareto { mean, shape } => Dist::pareto(*mean, *shape).map_err(named),
        DistConfig::Empirical { path } => {
            let full = base_dir.join(path);
            let values = read_empirical(&full, &format!("{table}.path"))?;
            Dist::empirical(values).map_err(named)
        }
    }
}

/// Reads an empirical distribution file: one duration string per line, `#`
/// comments and blank lines ignored.
fn read_empirical(path: &Path, key: &str) -> Result<Vec<Span>, Invalid> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Invalid::new(
            key,
            path.display(),
            format!("a readable file of duration strings, one per line ({e})"),
        )
    })?;
    let mut values = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let span = Span::parse(line).map_err(|_| Invalid {
            key: key.to_owned(),
            value: format!("{line:?}"),
            expected: headroom_policy::time::ParseSpanError::ACCEPTED.to_owned(),
            file: Some(path.to_owned()),
            line: Some(i + 1),
        })?;
        if values.len() == limits::MAX_EMPIRICAL_VALUES {
            return Err(Invalid {
                key: key.to_owned(),
                value: format!("more than {} values", limits::MAX_EMPIRICAL_VALUES),
                expected: format!("at most {} values", limits::MAX_EMPIRICAL_VALUES),
                file: Some(path.to_owned()),
                line: Some(i + 1),
            });
        }
        values.push(span);
    }
    Ok(values)
}
