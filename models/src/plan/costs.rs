//! Checked `[costs]` and `[slo]`.

use headroom_sim::Span;

use super::network::NetworkPlan;
use super::service::ServicePlan;
use super::{Invalid, valid_name};
use crate::scenario::Scenario;

/// Hours in the month `cost_per_month_usd` extrapolates to (the cloud
/// providers' convention: 365 × 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// `usd` to 12 significant digits: the money columns (`cost_usd`,
/// `cost_per_month_usd`) and the budget check read costs through this.
///
/// A cost is a sum of products of prices and times, and binary floating
/// point rounds it in the last digits: three instances at 0.192 USD/h for a
/// 730-hour month came out as 420.4800000000001, over a budget of 420.48
/// written in the scenario. Twelve significant digits keep a thousandth of
/// a cent on a 10-million-dollar month and drop that noise (about 1e-15
/// relative), so a budget equal to the cost holds. Formatting is exact and
/// the same on every platform, as the outputs must be.
pub fn money(usd: f64) -> f64 {
    if !usd.is_finite() || usd == 0.0 {
        return usd;
    }
    format!("{usd:.11e}").parse().unwrap_or(usd)
}

/// What a line of `bill.csv` prices, and the part of `runs.csv`'s bill
/// (`instance_`, `data_` or `egress_cost_per_month_usd`) it is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BillKind {
    /// A service's instances in a region.
    Instances,
    /// A store's shards at its primary.
    Shards,
    /// A store's shards at one of its read replicas.
    Replicas,
    /// A cache tier copy's capacity.
    CacheCapacity,
    /// A cache tier's priced operations (`kv` lookups, fills and
    /// invalidations, `object` gets).
    CacheOperations,
    /// Bytes a region sends to another (requests, answers, data).
    EgressInterRegion,
    /// Answers a region's edge sends to clients.
    EgressInternet,
}

impl BillKind {
    /// Its `bill.csv` `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            BillKind::Instances => "instances",
            BillKind::Shards => "shards",
            BillKind::Replicas => "replicas",
            BillKind::CacheCapacity => "cache_capacity",
            BillKind::CacheOperations => "cache_operations",
            BillKind::EgressInterRegion => "egress_inter_region",
            BillKind::EgressInternet => "egress_internet",
        }
    }

    /// Its `bill.csv` `part`: `instances`, `data` or `egress`.
    pub fn part(self) -> &'static str {
        match self {
            BillKind::Instances => "instances",
            BillKind::Shards
            | BillKind::Replicas
            | BillKind::CacheCapacity
            | BillKind::CacheOperations => "data",
            BillKind::EgressInterRegion | BillKind::EgressInternet => "egress",
        }
    }
}

/// Prices, resolved per service and region.
#[derive(Clone, Debug, PartialEq)]
pub struct CostPlan {
    /// USD per instance-second, `[service][region]` (hourly price × region
    /// multiplier / 3600).
    pub instance_usd_per_s: Vec<Vec<f64>>,
    /// USD per byte crossing regions.
    pub inter_region_usd_per_byte: f64,
    /// USD per byte sent to clients.
    pub internet_usd_per_byte: f64,
    /// Prices of the data tier.
    pub data: super::data::DataCostPlan,
}

/// Checked `[slo]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SloPlan {
    /// Largest p50 latency.
    pub p50: Option<Span>,
    /// Largest p99 latency.
    pub p99: Option<Span>,
    /// Largest p99.9 latency.
    pub p999: Option<Span>,
    /// Smallest availability.
    pub availability: Option<f64>,
    /// Largest monthly cost, USD.
    pub max_cost_per_month: Option<f64>,
    /// Smallest session availability (a plan with sessions only).
    pub session_availability: Option<f64>,
    /// Largest `stale_read_ratio` (a plan with a datastore only), judged
    /// by [`SloPlan::fresh_enough`].
    pub max_stale_read_ratio: Option<f64>,
    /// The latency and availability objectives are judged on each client
    /// region's requests (its worst region's values, `runs.csv`'s
    /// `worst_region_*`), not on every client's pooled.
    pub per_region: bool,
}

impl SloPlan {
    /// Whether measured values meet every objective. Latencies in
    /// nanoseconds (NaN when no request was answered: a latency objective
    /// then fails).
    pub fn met(
        &self,
        p50_ns: f64,
        p99_ns: f64,
        p999_ns: f64,
        availability: f64,
        cost_per_month: f64,
        session_availability: f64,
    ) -> bool {
        let within = |limit: Option<Span>, v: f64| limit.is_none_or(|l| v <= l.as_nanos() as f64);
        within(self.p50, p50_ns)
            && within(self.p99, p99_ns)
            && within(self.p999, p999_ns)
            && self.availability.is_none_or(|a| availability >= a)
            && self.max_cost_per_month.is_none_or(|c| cost_per_month <= c)
            && self
                .session_availability
                .is_none_or(|a| session_availability >= a)
    }

    /// Whether a run's `stale_read_ratio` (`None`: the plan has no
    /// datastore) meets `max_stale_read_ratio`; NaN, nothing to judge,
    /// does not.
    pub fn fresh_enough(&self, stale_read_ratio: Option<f64>) -> bool {
        self.max_stale_read_ratio
            .is_none_or(|max| stale_read_ratio.is_some_and(|r| r <= max))
    }
}

pub(super) fn plan(
    scenario: &Scenario,
    network: &NetworkPlan,
    services: &[ServicePlan],
    data: &super::data::DataPlan,
) -> Result<Option<CostPlan>, Invalid> {
    let Some(costs) = &scenario.costs else {
        if let Some(s) = services.iter().find(|s| s.instance_type.is_some()) {
            return Err(Invalid::new(
                format!("services.{}.instance.type", s.name),
                format!("{:?}", s.instance_type.as_deref().unwrap_or_default()),
                "a `[costs.instance_types]` entry: add a `[costs]` table with its price, or remove `type`",
            ));
        }
        return Ok(None);
    };
    for (name, t) in &costs.instance_types {
        let key = |k: &str| format!("costs.instance_types.\"{name}\".{k}");
        if name.is_empty() {
            return Err(Invalid::new(
                "costs.instance_types",
                "\"\"",
                "non-empty type names",
            ));
        }
        if !(t.vcpu.is_finite() && t.vcpu > 0.0) {
            return Err(Invalid::new(
                key("vcpu"),
                t.vcpu,
                "a number of virtual CPUs > 0",
            ));
        }
        if !(t.hourly.is_finite() && t.hourly >= 0.0) {
            return Err(Invalid::new(
                key("hourly"),
                t.hourly,
                "a price in USD per hour >= 0",
            ));
        }
    }
    let mut multipliers = vec![1.0; network.regions.len()];
    for (name, &m) in &costs.region_multipliers {
        let key = format!("costs.region_multipliers.{name}");
        let id = network.resolve(&key, name)?;
        if !(m.is_finite() && m > 0.0) {
            return Err(Invalid::new(
                key,
                m,
                "a price multiplier > 0 (1.0 = list price)",
            ));
        }
        multipliers[id.index()] = m;
    }
    let per_gb = |key: &str, v: f64| -> Result<f64, Invalid> {
        if v.is_finite() && v >= 0.0 {
            Ok(v / 1e9)
        } else {
            Err(Invalid::new(key, v, "a price in USD per GB >= 0"))
        }
    };
    let inter_region_usd_per_byte = per_gb(
        "costs.egress.inter_region_per_gb",
        costs.egress.inter_region_per_gb,
    )?;
    let internet_usd_per_byte =
        per_gb("costs.egress.internet_per_gb", costs.egress.internet_per_gb)?;
    let mut instance_usd_per_s = Vec::with_capacity(services.len());
    for s in services {
        let key = format!("services.{}.instance.type", s.name);
        let Some(kind) = &s.instance_type else {
            return Err(Invalid::new(
                key,
                "missing",
                "an instance type from `[costs.instance_types]` for every service when `[costs]` is present",
            ));
        };
        let t = costs.instance_types.get(kind).ok_or_else(|| {
            super::unknown_name(
                &key,
                kind,
                "costs.instance_types",
                costs.instance_types.keys(),
            )
        })?;
        instance_usd_per_s.push(multipliers.iter().map(|m| t.hourly * m / 3600.0).collect());
    }
    debug_assert!(services.iter().all(|s| valid_name(&s.name)));
    let data = super::data::cost_plan(&costs.data, &multipliers, data)?;
    Ok(Some(CostPlan {
        instance_usd_per_s,
        inter_region_usd_per_byte,
        internet_usd_per_byte,
        data,
    }))
}

/// The values an `[slo]` objective accepts: the scenario's keys and the
/// command line's `--slo-*` flags check the same rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SloValue {
    /// `availability`, `session_availability`: 0 would hold for every
    /// configuration.
    Availability,
    /// `max_stale_read_ratio`.
    StaleReadRatio,
    /// `max_cost_per_month`, USD.
    CostPerMonth,
}

impl SloValue {
    /// `Err` with what is accepted when `v` is not.
    pub fn check(self, v: f64) -> Result<f64, &'static str> {
        let (ok, accepted) = match self {
            SloValue::Availability => (v > 0.0 && v <= 1.0, "a fraction in (0, 1], e.g. 0.999"),
            SloValue::StaleReadRatio => {
                ((0.0..=1.0).contains(&v), "a fraction in [0, 1], e.g. 0.01")
            }
            SloValue::CostPerMonth => (v >= 0.0, "a cost in USD per month >= 0, e.g. 500"),
        };
        if ok && v.is_finite() {
            Ok(v)
        } else {
            Err(accepted)
        }
    }
}

pub(super) fn slo_plan(scenario: &Scenario) -> Result<Option<SloPlan>, Invalid> {
    let Some(slo) = &scenario.slo else {
        return Ok(None);
    };
    if slo.p50.is_none()
        && slo.p99.is_none()
        && slo.p999.is_none()
        && slo.availability.is_none()
        && slo.max_cost_per_month.is_none()
        && slo.session_availability.is_none()
        && slo.max_stale_read_ratio.is_none()
    {
        return Err(Invalid::new(
            "slo",
            "an empty table",
            "at least one of `p50`, `p99`, `p999`, `availability`, `max_cost_per_month`, \
             `session_availability`, `max_stale_read_ratio`",
        ));
    }
    for (key, value, kind) in [
        ("slo.availability", slo.availability, SloValue::Availability),
        (
            "slo.session_availability",
            slo.session_availability,
            SloValue::Availability,
        ),
        (
            "slo.max_stale_read_ratio",
            slo.max_stale_read_ratio,
            SloValue::StaleReadRatio,
        ),
        (
            "slo.max_cost_per_month",
            slo.max_cost_per_month,
            SloValue::CostPerMonth,
        ),
    ] {
        if let Some(v) = value {
            kind.check(v)
                .map_err(|accepted| Invalid::new(key, v, accepted))?;
        }
    }
    if let Some(a) = slo.session_availability
        && scenario.workload.session.is_none()
    {
        return Err(Invalid::new(
            "slo.session_availability",
            a,
            "an objective of a workload with sessions: add `workload.session`, or set \
             `slo.availability` (the fraction of requests answered) instead",
        ));
    }
    if let Some(r) = slo.max_stale_read_ratio
        && scenario.datastores.is_empty()
    {
        return Err(Invalid::new(
            "slo.max_stale_read_ratio",
            r,
            "an objective of a scenario with a [[datastores]] (stale reads are reads of \
             a store's keys, from its caches or replicas)",
        ));
    }
    if slo.per_region && scenario.regions.len() < 2 {
        return Err(Invalid::new(
            "slo.per_region",
            format!("true with {} [[regions]]", scenario.regions.len()),
            "two [[regions]] or more (clients in each region, `workload.origin`), or \
             `per_region = false`: with one region its clients are every client",
        ));
    }
    if let Some(c) = slo.max_cost_per_month
        && scenario.costs.is_none()
    {
        return Err(Invalid::new(
            "slo.max_cost_per_month",
            c,
            "an objective of a priced scenario: add [costs] (without prices every \
             configuration costs 0, so the objective holds for all of them)",
        ));
    }
    Ok(Some(SloPlan {
        p50: slo.p50,
        p99: slo.p99,
        p999: slo.p999,
        availability: slo.availability,
        max_cost_per_month: slo.max_cost_per_month,
        session_availability: slo.session_availability,
        max_stale_read_ratio: slo.max_stale_read_ratio,
        per_region: slo.per_region,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule `[slo]` and the `--slo-*` flags share, at its edges.
    #[test]
    fn an_slo_value_is_checked_at_its_edges() {
        use SloValue::*;
        for (kind, v, ok) in [
            (Availability, 0.0, false),
            (Availability, 1e-9, true),
            (Availability, 1.0, true),
            (Availability, 1.0 + 1e-9, false),
            (StaleReadRatio, 0.0, true),
            (StaleReadRatio, 1.0, true),
            (StaleReadRatio, 1.5, false),
            (CostPerMonth, 0.0, true),
            (CostPerMonth, -1.0, false),
            (CostPerMonth, f64::INFINITY, false),
            (Availability, f64::NAN, false),
        ] {
            assert_eq!(kind.check(v).is_ok(), ok, "{kind:?} {v}");
        }
        assert_eq!(
            CostPerMonth.check(-1.0),
            Err("a cost in USD per month >= 0, e.g. 500")
        );
    }

    #[test]
    fn money_drops_the_rounding_of_a_sum_of_prices() {
        let month = 3.0 * 0.192 * HOURS_PER_MONTH;
        assert_ne!(month, 420.48, "the product rounds");
        assert_eq!(money(month), 420.48);
        // Twelve significant digits at every scale; signs, zero, NaN kept.
        assert_eq!(money(0.000_123_456_789_012_34), 0.000_123_456_789_012);
        assert_eq!(money(12_345_678.901_234_56), 12_345_678.901_2);
        assert_eq!(money(-1.000_000_000_000_4), -1.0);
        assert_eq!(money(0.0), 0.0);
        assert!(money(f64::NAN).is_nan());
        assert_eq!(money(f64::INFINITY), f64::INFINITY);
        // A budget equal to the cost holds.
        let slo = SloPlan {
            p50: None,
            p99: None,
            p999: None,
            availability: None,
            max_cost_per_month: Some(420.48),
            session_availability: None,
            max_stale_read_ratio: None,
            per_region: false,
        };
        assert!(slo.met(0.0, 0.0, 0.0, 1.0, money(month), f64::NAN));
        assert!(!slo.met(0.0, 0.0, 0.0, 1.0, money(420.49), f64::NAN));
        // A session objective fails when too few sessions went well, and
        // when there was no session to judge (NaN).
        let sessions = SloPlan {
            max_cost_per_month: None,
            session_availability: Some(0.9),
            ..slo
        };
        assert!(sessions.met(0.0, 0.0, 0.0, 1.0, 0.0, 0.9));
        assert!(!sessions.met(0.0, 0.0, 0.0, 1.0, 0.0, 0.89));
        assert!(!sessions.met(0.0, 0.0, 0.0, 1.0, 0.0, f64::NAN));
        // A freshness objective: at most the ratio holds; a run without a
        // ratio to judge does not; without the objective anything holds.
        let fresh = SloPlan {
            max_stale_read_ratio: Some(0.01),
            ..slo
        };
        assert!(fresh.fresh_enough(Some(0.01)));
        assert!(!fresh.fresh_enough(Some(0.010_001)));
        assert!(!fresh.fresh_enough(Some(f64::NAN)));
        assert!(!fresh.fresh_enough(None));
        assert!(slo.fresh_enough(None) && slo.fresh_enough(Some(1.0)));
    }
}
