//! Checked `[[faults]]`.

use std::path::Path;

use headroom_sim::dist::Dist;
use headroom_sim::{Span, Timestamp};

use super::network::NetworkPlan;
use super::run::RunPlan;
use super::service::ServicePlan;
use super::{Invalid, RegionId, ServiceId, dist_or_span, limits};
use crate::scenario::{FaultConfig, Scenario};

/// A time window `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Start.
    pub start: Timestamp,
    /// End (exclusive); `Timestamp::MAX` when open-ended.
    pub end: Timestamp,
}

impl Window {
    /// Whether `t` is inside.
    #[inline]
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

/// A checked fault.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultPlan {
    /// A region is unreachable during `window`.
    RegionOutage {
        /// The region.
        region: RegionId,
        /// When.
        window: Window,
    },
    /// Extra local work at a service.
    Latency {
        /// The service.
        service: ServiceId,
        /// Only this region, if set.
        region: Option<RegionId>,
        /// Extra work per request.
        add: Dist,
        /// When (by the time the request's local work starts on a worker:
        /// a request queued before the window and started inside it is
        /// slowed; one started before the window is not).
        window: Window,
    },
    /// Immediate failures at a service.
    Errors {
        /// The service.
        service: ServiceId,
        /// Only this region, if set.
        region: Option<RegionId>,
        /// Probability per request.
        rate: f64,
        /// Status answered.
        status: u16,
        /// When (by arrival at the instance).
        window: Window,
    },
    /// Instance crashes with exponential lifetimes.
    InstanceCrash {
        /// The service.
        service: ServiceId,
        /// Only this region, if set.
        region: Option<RegionId>,
        /// Mean lifetime.
        mtbf: Span,
    },
    /// Every copy of a cache tier is emptied.
    CacheFlush {
        /// The store.
        store: super::data::StoreId,
        /// The tier's index in the store's lookup order.
        tier: u8,
        /// When.
        at: Timestamp,
    },
}

impl FaultPlan {
    /// Whether the fault applies to `service` in `region`.
    pub fn targets(&self, service: ServiceId, region: RegionId) -> bool {
        match *self {
            FaultPlan::RegionOutage { .. } | FaultPlan::CacheFlush { .. } => false,
            FaultPlan::Latency {
                service: s,
                region: r,
                ..
            }
            | FaultPlan::Errors {
                service: s,
                region: r,
                ..
            }
            | FaultPlan::InstanceCrash {
                service: s,
                region: r,
                ..
            } => s == service && r.is_none_or(|r| r == region),
        }
    }
}

pub(super) fn plan(
    scenario: &Scenario,
    network: &NetworkPlan,
    services: &[ServicePlan],
    run: &RunPlan,
    base_dir: &Path,
) -> Result<Vec<FaultPlan>, Invalid> {
    if scenario.faults.len() > limits::MAX_WINDOWS {
        return Err(Invalid::new(
            "faults",
            format!("{} faults", scenario.faults.len()),
            format!("at most {}", limits::MAX_WINDOWS),
        ));
    }
    let mut out = Vec::with_capacity(scenario.faults.len());
    for (i, f) in scenario.faults.iter().enumerate() {
        let key = |k: &str| format!("faults.{i}.{k}");
        let window = |at: Span, duration: Option<Span>| -> Result<Window, Invalid> {
            if at >= run.duration {
                return Err(Invalid::new(
                    key("at"),
                    at,
                    format!(
                        "a start before the end of arrivals (`run.duration` = {})",
                        run.duration
                    ),
                ));
            }
            let end = match duration {
                Some(d) if d.is_zero() => {
                    return Err(Invalid::new(key("duration"), d, "a positive duration"));
                }
                Some(d) => Timestamp::ZERO + at + d,
                None => Timestamp::MAX,
            };
            Ok(Window {
                start: Timestamp::ZERO + at,
                end,
            })
        };
        let target = |k: &str,
                      name: &str,
                      region: &Option<String>|
         -> Result<(ServiceId, Option<RegionId>), Invalid> {
            let id = services
                .iter()
                .position(|s| s.name == name)
                .map(|i| ServiceId(i as u16))
                .ok_or_else(|| {
                    super::unknown_name(
                        &key(k),
                        name,
                        "[[services]]",
                        services.iter().map(|s| &s.name),
                    )
                })?;
            let region = match region {
                None => None,
                Some(r) => {
                    let rid = network.resolve(&key("region"), r)?;
                    if !services[id.index()].runs_in(rid) {
                        return Err(Invalid::new(
                            key("region"),
                            format!("{r:?}"),
                            format!("a region where `{name}` runs"),
                        ));
                    }
                    Some(rid)
                }
            };
            Ok((id, region))
        };
        let plan = match f {
            FaultConfig::RegionOutage {
                region,
                at,
                duration,
            } => FaultPlan::RegionOutage {
                region: network.resolve(&key("region"), region)?,
                window: window(*at, Some(*duration))?,
            },
            FaultConfig::Latency {
                target: name,
                region,
                add,
                at,
                duration,
            } => {
                let (service, region) = target("target", name, region)?;
                FaultPlan::Latency {
                    service,
                    region,
                    add: dist_or_span(add, &key("add"), base_dir)?,
                    window: window(*at, *duration)?,
                }
            }
            FaultConfig::Errors {
                target: name,
                region,
                rate,
                status,
                at,
                duration,
            } => {
                let (service, region) = target("target", name, region)?;
                if !(0.0..=1.0).contains(rate) {
                    return Err(Invalid::new(key("rate"), rate, "a probability in [0, 1]"));
                }
                if !(500..=599).contains(status) {
                    return Err(Invalid::new(
                        key("status"),
                        status,
                        "a 5xx status (500..=599)",
                    ));
                }
                FaultPlan::Errors {
                    service,
                    region,
                    rate: *rate,
                    status: *status,
                    window: window(*at, *duration)?,
                }
            }
            FaultConfig::InstanceCrash {
                service: name,
                region,
                mtbf,
            } => {
                let (service, region) = target("service", name, region)?;
                if mtbf.is_zero() {
                    return Err(Invalid::new(
                        key("mtbf"),
                        mtbf,
                        "a positive mean time between failures",
                    ));
                }
                FaultPlan::InstanceCrash {
                    service,
                    region,
                    mtbf: *mtbf,
                }
            }
            FaultConfig::CacheFlush { store, tier, at } => {
                let (store, tier) = super::data::resolve_tier(scenario, &key, store, tier)?;
                FaultPlan::CacheFlush {
                    store,
                    tier,
                    at: window(*at, None)?.start,
                }
            }
        };
        out.push(plan);
    }
    Ok(out)
}
