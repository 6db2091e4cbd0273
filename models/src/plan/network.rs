//! Checked `[[regions]]` and `[network]`: region ids and the round-trip-time
//! matrix.

use headroom_sim::Span;

use super::{Invalid, RegionId, limits, valid_name};
use crate::scenario::Scenario;

/// The name of the one region of a scenario without `[[regions]]`.
pub const DEFAULT_REGION: &str = "default";

/// What `bill.csv` names the place of a global cache tier: no region may
/// be named so.
pub const GLOBAL: &str = "global";

/// One region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionPlan {
    /// Name.
    pub name: String,
}

/// Regions and the network between them.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkPlan {
    /// Regions, in `[[regions]]` order (index = [`RegionId`]).
    pub regions: Vec<RegionPlan>,
    /// Round-trip times, `rtt[a * n + b]`; the diagonal is the intra-region
    /// round trip.
    rtt: Vec<Span>,
    /// How long a try to an unreachable instance takes to fail.
    pub connect_timeout: Span,
}

impl NetworkPlan {
    /// Round-trip time between instances in `a` and `b`.
    #[inline]
    pub fn rtt(&self, a: RegionId, b: RegionId) -> Span {
        self.rtt[a.index() * self.regions.len() + b.index()]
    }

    /// One-way delay from `a` to `b` (half the round trip, rounded down).
    #[inline]
    pub fn one_way(&self, a: RegionId, b: RegionId) -> Span {
        Span::from_nanos(self.rtt(a, b).as_nanos() / 2)
    }

    /// The region named `name`.
    pub fn region_id(&self, name: &str) -> Option<RegionId> {
        self.regions
            .iter()
            .position(|r| r.name == name)
            .map(|i| RegionId(i as u8))
    }

    /// Every region id.
    pub fn region_ids(&self) -> impl Iterator<Item = RegionId> + '_ {
        (0..self.regions.len()).map(|i| RegionId(i as u8))
    }

    /// The name of `id`.
    pub fn name(&self, id: RegionId) -> &str {
        &self.regions[id.index()].name
    }

    /// Looks up `name`, or names what exists in the error.
    pub(crate) fn resolve(&self, key: &str, name: &str) -> Result<RegionId, Invalid> {
        self.region_id(name).ok_or_else(|| {
            super::unknown_name(
                key,
                name,
                "[[regions]]",
                self.regions.iter().map(|r| &r.name),
            )
        })
    }
}

pub(super) fn plan(scenario: &Scenario) -> Result<NetworkPlan, Invalid> {
    let network = scenario.network.clone().unwrap_or_default();
    let regions: Vec<RegionPlan> = if scenario.regions.is_empty() {
        vec![RegionPlan {
            name: DEFAULT_REGION.to_owned(),
        }]
    } else {
        scenario
            .regions
            .iter()
            .map(|r| RegionPlan {
                name: r.name.clone(),
            })
            .collect()
    };
    if regions.len() > limits::MAX_REGIONS {
        return Err(Invalid::new(
            "regions",
            format!("{} regions", regions.len()),
            format!("at most {} regions", limits::MAX_REGIONS),
        ));
    }
    for (i, r) in regions.iter().enumerate() {
        if !valid_name(&r.name) {
            return Err(Invalid::new(
                format!("regions.{i}.name"),
                format!("{:?}", r.name),
                "a non-empty name of letters, digits, '-' and '_'",
            ));
        }
        if r.name == GLOBAL {
            return Err(Invalid::new(
                format!("regions.{i}.name"),
                format!("{:?}", r.name),
                "a name other than \"global\" (`bill.csv` puts a global cache tier's costs in region \"global\")",
            ));
        }
        if regions[..i].iter().any(|o| o.name == r.name) {
            return Err(Invalid::new(
                format!("regions.{}.name", r.name),
                format!("{:?}", r.name),
                "a name no other region has",
            ));
        }
    }
    if network.connect_timeout.is_zero() {
        return Err(Invalid::new(
            "network.connect_timeout",
            network.connect_timeout,
            "a positive duration such as \"1s\"",
        ));
    }
    let n = regions.len();
    let mut plan = NetworkPlan {
        regions,
        rtt: vec![network.intra_region_rtt; n * n],
        connect_timeout: network.connect_timeout,
    };
    let mut given = vec![false; n * n];
    for (a, row) in &network.rtt {
        let ia = plan.resolve(&format!("network.rtt.{a}"), a)?;
        for (b, &rtt) in row {
            let key = format!("network.rtt.{a}.{b}");
            let ib = plan.resolve(&key, b)?;
            if ia == ib {
                return Err(Invalid::new(
                    key,
                    rtt,
                    "a pair of two different regions (the round trip inside a region is `network.intra_region_rtt`)",
                ));
            }
            let (ab, ba) = (ia.index() * n + ib.index(), ib.index() * n + ia.index());
            if given[ba] && plan.rtt[ba] != rtt {
                return Err(Invalid::new(
                    key,
                    rtt,
                    format!(
                        "the same round trip as `network.rtt.{b}.{a}` ({}), or only one of the two",
                        plan.rtt[ba]
                    ),
                ));
            }
            plan.rtt[ab] = rtt;
            plan.rtt[ba] = rtt;
            given[ab] = true;
            given[ba] = true;
        }
    }
    for a in 0..n {
        for b in a + 1..n {
            if !given[a * n + b] {
                let (na, nb) = (&plan.regions[a].name, &plan.regions[b].name);
                return Err(Invalid::new(
                    format!("network.rtt.{na}.{nb}"),
                    "missing",
                    format!(
                        "a round-trip time for every pair of regions: add `{nb} = \"40ms\"` under `[network.rtt.{na}]` (or `{na}` under `[network.rtt.{nb}]`)"
                    ),
                ));
            }
        }
    }
    Ok(plan)
}
