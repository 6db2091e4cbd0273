//! Priority failover across regions (Envoy priority levels): per-priority
//! traffic percentages from healthy/total counts with the overprovisioning
//! factor, per-priority panic flags, total-panic redistribution, and the
//! `[policy.failover]` table.

use std::num::NonZeroU64;

use rand_core::Rng;

use crate::config::ConfigError;

use super::{HealthCheckConfig, HealthCheckSpec};

/// Most priority levels (regions in `order`).
pub const MAX_PRIORITIES: usize = 64;

/// Endpoint counts of one priority level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PriorityHealth {
    /// Endpoints that are healthy (and not ejected). Values above `total`
    /// count as `total`.
    pub healthy: u32,
    /// All endpoints of the level.
    pub total: u32,
}

impl PriorityHealth {
    /// `healthy` of `total` endpoints.
    pub const fn new(healthy: u32, total: u32) -> Self {
        PriorityHealth { healthy, total }
    }
}

/// Per-priority load percentages (summing to 100) and panic flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriorityLoads {
    load: Vec<u32>,
    panic: Vec<bool>,
    total_panic: bool,
}

impl PriorityLoads {
    /// Integer percentage of requests per priority; sums to 100 whenever
    /// there is at least one priority.
    pub fn load(&self) -> &[u32] {
        &self.load
    }

    /// Whether each priority is in panic: its requests go to all of its
    /// endpoints regardless of health ([`crate::balance::Balancer::set_panic`]).
    pub fn panic(&self) -> &[bool] {
        &self.panic
    }

    /// Whether every priority is in panic (loads then follow endpoint counts).
    pub fn is_total_panic(&self) -> bool {
        self.total_panic
    }

    /// Envoy's `choosePriority`: `h = draw % 100 + 1`, the first priority whose
    /// cumulative load reaches `h`. Priority 0 if there is none.
    pub fn choose(&self, draw: u64) -> usize {
        let h = draw % 100 + 1;
        let mut cumulative = 0u64;
        for (priority, &load) in self.load.iter().enumerate() {
            cumulative += u64::from(load);
            if h <= cumulative {
                return priority;
            }
        }
        0
    }
}

/// [`priority_loads_into`] into a new value.
pub fn priority_loads(
    levels: &[PriorityHealth],
    overprovisioning_pct: u32,
    panic_threshold_pct: u32,
) -> PriorityLoads {
    let mut out = PriorityLoads::default();
    priority_loads_into(levels, overprovisioning_pct, panic_threshold_pct, &mut out);
    out
}

/// Envoy's `recalculatePerPriorityState` + `recalculatePerPriorityPanic`, in
/// integer percent, reusing `out`'s buffers:
///
/// ```text
/// health(P)  = min(100, overprovisioning_pct × healthy_P / total_P)   (0 if total_P = 0)
/// normalized = min(100, Σ health)
/// load(P)    = min(remaining, health(P) × 100 / normalized), in priority order;
///              the rounding remainder goes to the first priority with health > 0
/// panic(P)   = normalized < 100 and 100 × healthy_P < panic_threshold_pct × total_P
///              (an empty priority is in panic when the threshold is > 0)
/// ```
///
/// If every priority is in panic, loads are recomputed from total endpoint
/// counts (`100 × total_P / Σ total`, remainder to the first non-empty
/// priority; all to priority 0 if there are no endpoints). With a threshold of
/// 0 and no health anywhere, priority 0 gets 100 and nothing panics (Envoy then
/// answers "no healthy upstream").
///
/// `overprovisioning_pct` is Envoy's integer factor (140 for 1.4);
/// `panic_threshold_pct` is in 0..=100 (larger values act as 100).
pub fn priority_loads_into(
    levels: &[PriorityHealth],
    overprovisioning_pct: u32,
    panic_threshold_pct: u32,
    out: &mut PriorityLoads,
) {
    let n = levels.len();
    out.load.clear();
    out.load.resize(n, 0);
    out.panic.clear();
    out.panic.resize(n, false);
    out.total_panic = false;
    if n == 0 {
        return;
    }
    let panic_threshold = u64::from(panic_threshold_pct.min(100));
    let health = |l: &PriorityHealth| -> u64 {
        if l.total == 0 {
            return 0;
        }
        let healthy = u64::from(l.healthy.min(l.total));
        (u64::from(overprovisioning_pct) * healthy / u64::from(l.total)).min(100)
    };
    let normalized = levels.iter().map(health).sum::<u64>().min(100);
    if let Some(normalized) = NonZeroU64::new(normalized) {
        let mut remaining = 100u64;
        let mut first_available = None;
        for (i, level) in levels.iter().enumerate() {
            let h = health(level);
            if first_available.is_none() && h > 0 {
                first_available = Some(i);
            }
            let load = remaining.min(h * 100 / normalized);
            out.load[i] = load as u32;
            remaining -= load;
        }
        if let Some(first) = first_available {
            out.load[first] += remaining as u32;
        }
    } else if panic_threshold == 0 {
        out.load[0] = 100;
        return;
    }
    if normalized == 100 {
        return;
    }
    for (i, level) in levels.iter().enumerate() {
        let healthy = u64::from(level.healthy.min(level.total));
        out.panic[i] = 100 * healthy < panic_threshold * u64::from(level.total)
            || (level.total == 0 && panic_threshold > 0);
    }
    if out.panic.iter().all(|&p| p) {
        out.total_panic = true;
        load_in_total_panic(levels, &mut out.load);
    }
}

/// Envoy's `recalculateLoadInTotalPanic`.
fn load_in_total_panic(levels: &[PriorityHealth], load: &mut [u32]) {
    let total: u64 = levels.iter().map(|l| u64::from(l.total)).sum();
    load.fill(0);
    if total == 0 {
        load[0] = 100;
        return;
    }
    let mut remaining = 100u64;
    let mut first_non_empty = 0;
    for (i, level) in levels.iter().enumerate().rev() {
        if level.total > 0 {
            first_non_empty = i;
        }
    }
    for (i, level) in levels.iter().enumerate() {
        let share = 100 * u64::from(level.total) / total;
        load[i] = share as u32;
        remaining -= share;
    }
    load[first_non_empty] += remaining as u32;
}

/// The `[policy.failover]` table.
///
/// | key | default | accepted |
/// |---|---|---|
/// | `order` | (required) | 1..=64 distinct, non-empty region names, highest priority first |
/// | `health_check` | absent | [`HealthCheckConfig`] (the reference checks every 30 s) |
/// | `overprovisioning_factor` | `1.4` | 1.0..=100.0, resolution 0.01 (Envoy's integer percent) |
/// | `panic_threshold` | `0.5` | fraction in 0..=1, resolution 0.01 (0 disables panic) |
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(default, deny_unknown_fields)
)]
pub struct FailoverConfig {
    /// Region names in priority order.
    pub order: Vec<String>,
    /// Active health checks of each region's endpoints.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub health_check: Option<HealthCheckConfig>,
    /// Envoy's overprovisioning factor.
    pub overprovisioning_factor: f64,
    /// Healthy fraction under which a priority panics.
    pub panic_threshold: f64,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            order: Vec::new(),
            health_check: None,
            overprovisioning_factor: 1.4,
            panic_threshold: 0.5,
        }
    }
}

/// A validated [`FailoverConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverSpec {
    /// Region names, highest priority first.
    pub order: Vec<String>,
    /// Checked health-check settings, if configured.
    pub health_check: Option<HealthCheckSpec>,
    /// Overprovisioning factor in integer percent (140 for 1.4).
    pub overprovisioning_pct: u32,
    /// Panic threshold in integer percent (50 for 0.5).
    pub panic_threshold_pct: u32,
}

impl FailoverSpec {
    /// The priority of region `name` (its position in `order`).
    pub fn priority_of(&self, name: &str) -> Option<usize> {
        self.order.iter().position(|r| r == name)
    }
}

impl FailoverConfig {
    /// Checks every range, naming the first bad key.
    pub fn validate(&self) -> Result<FailoverSpec, ConfigError> {
        if self.order.is_empty() || self.order.len() > MAX_PRIORITIES {
            return Err(ConfigError::new(
                "order",
                format!("{:?}", self.order),
                format!("a list of 1..={MAX_PRIORITIES} region names"),
            ));
        }
        for (i, name) in self.order.iter().enumerate() {
            if name.is_empty() || self.order[..i].contains(name) {
                return Err(ConfigError::new(
                    format!("order[{i}]"),
                    format!("{name:?}"),
                    "a non-empty region name not listed before",
                ));
            }
        }
        let op = self.overprovisioning_factor;
        let op_pct = (op * 100.0).round();
        if !(op.is_finite() && (1.0..=100.0).contains(&op) && (op * 100.0 - op_pct).abs() < 1e-6) {
            return Err(ConfigError::new(
                "overprovisioning_factor",
                op,
                "a number in 1.0..=100.0 with at most two decimals (Envoy's default is 1.4)",
            ));
        }
        let pt = self.panic_threshold;
        let pt_pct = (pt * 100.0).round();
        if !(pt.is_finite() && (0.0..=1.0).contains(&pt) && (pt * 100.0 - pt_pct).abs() < 1e-6) {
            return Err(ConfigError::new(
                "panic_threshold",
                pt,
                "a fraction in 0..=1 with at most two decimals (0.5 = Envoy's 50 %; 0 disables panic)",
            ));
        }
        let health_check = match &self.health_check {
            Some(hc) => Some(hc.validate().map_err(|e| e.within("health_check"))?),
            None => None,
        };
        Ok(FailoverSpec {
            order: self.order.clone(),
            health_check,
            // Both are checked to be small whole percentages above.
            overprovisioning_pct: op_pct as u32,
            panic_threshold_pct: pt_pct as u32,
        })
    }
}

/// Which priority a request goes to, and whether that priority is in panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PriorityChoice {
    /// The priority (index into `order`).
    pub priority: usize,
    /// Route to all of the priority's endpoints regardless of health.
    pub panic: bool,
}

/// Priority state for one service: the latest counts per region and the
/// loads derived from them.
///
/// # Call order
///
/// 1. `set_health(priority, counts)` whenever a region's healthy or total
///    endpoint count changes (e.g. after a health transition or autoscaling).
/// 2. Per request: `choose(rng)` → the region to send to, and whether its
///    balancer must route in panic mode.
#[derive(Clone, Debug)]
pub struct Failover {
    spec: FailoverSpec,
    levels: Vec<PriorityHealth>,
    loads: PriorityLoads,
}

impl Failover {
    /// Every priority starts with no endpoints.
    pub fn new(spec: &FailoverSpec) -> Self {
        let levels = vec![PriorityHealth::default(); spec.order.len()];
        let loads = priority_loads(&levels, spec.overprovisioning_pct, spec.panic_threshold_pct);
        Failover {
            spec: spec.clone(),
            levels,
            loads,
        }
    }

    /// The spec this state was built from.
    pub fn spec(&self) -> &FailoverSpec {
        &self.spec
    }

    /// Updates one priority's counts and recomputes the loads. Returns whether
    /// the loads or panic flags changed; an out-of-range priority is ignored.
    pub fn set_health(&mut self, priority: usize, counts: PriorityHealth) -> bool {
        match self.levels.get_mut(priority) {
            Some(level) if *level != counts => *level = counts,
            _ => return false,
        }
        let before = (self.loads.load.clone(), self.loads.panic.clone());
        priority_loads_into(
            &self.levels,
            self.spec.overprovisioning_pct,
            self.spec.panic_threshold_pct,
            &mut self.loads,
        );
        before != (self.loads.load.clone(), self.loads.panic.clone())
    }

    /// The current counts of each priority.
    pub fn levels(&self) -> &[PriorityHealth] {
        &self.levels
    }

    /// The current loads and panic flags.
    pub fn loads(&self) -> &PriorityLoads {
        &self.loads
    }

    /// Picks the priority for one request with one `rng` draw.
    #[must_use]
    pub fn choose<R: Rng + ?Sized>(&self, rng: &mut R) -> PriorityChoice {
        self.choose_with(rng.next_u64())
    }

    /// Picks the priority for a given 64-bit `draw` (Envoy hashes or random
    /// numbers).
    #[must_use]
    pub fn choose_with(&self, draw: u64) -> PriorityChoice {
        let priority = self.loads.choose(draw);
        PriorityChoice {
            priority,
            panic: self.loads.panic.get(priority).copied().unwrap_or(false),
        }
    }
}
