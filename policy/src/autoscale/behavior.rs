//! HPA normalization: stabilization windows, rate policies and the bounded
//! recommendation and scale-event histories they read.
//!
//! Source: `kubernetes/kubernetes` `pkg/controller/podautoscaler/horizontal.go`
//! — `stabilizeRecommendation` and `convertDesiredReplicasWithRules` (legacy
//! path, no `behavior`), `stabilizeRecommendationWithBehaviors`,
//! `convertDesiredReplicasWithBehaviorRate`,
//! `calculateScaleUpLimitWithScalingRules`,
//! `calculateScaleDownLimitWithBehaviors`, `getReplicasChangePerPeriod`,
//! `storeScaleEvent` and `markScaleEventsOutdated`.
//!
//! Time comparisons are written as `t + window` against `now` rather than
//! `t` against `now - window`, so a window reaching back before the epoch
//! behaves as in Go (where times can precede it) instead of saturating.

use super::spec::{PolicyKind, ScalingRules, SelectPolicy};
use super::{Limit, Stabilization};
use crate::time::{Span, Timestamp};

/// Most recommendations kept. With the largest window (1 h) and the
/// shortest sync period (1 s) regular syncing needs 3 602; a driver that
/// syncs faster than its sync period may reach the cap, and then the oldest
/// entry is dropped and counted.
pub const MAX_RECOMMENDATIONS: usize = 4096;
/// Most scale events kept per direction (regular syncing with the longest
/// period, 30 min, and 1 s syncs needs 1 801).
pub const MAX_SCALE_EVENTS: usize = 4096;

/// Unstabilized recommendations with their timestamps.
#[derive(Clone, Debug, Default)]
pub(crate) struct Recommendations {
    entries: Vec<(Timestamp, u32)>,
    pub(crate) dropped: u64,
}

impl Recommendations {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn record(&mut self, now: Timestamp, recommendation: u32) {
        if self.entries.len() >= MAX_RECOMMENDATIONS {
            // Entries are kept in time order; drop the oldest.
            self.entries.remove(0);
            self.dropped += 1;
        }
        self.entries.push((now, recommendation));
    }

    /// `stabilizeRecommendationWithBehaviors`: returns the stabilized
    /// recommendation, records `desired`, and drops entries outside both
    /// windows. Go replaces one such entry per call instead; an entry
    /// outside both windows never counts again, so results are identical.
    pub(crate) fn stabilize_with_behaviors(
        &mut self,
        now: Timestamp,
        current: u32,
        desired: u32,
        up_window: Span,
        down_window: Span,
    ) -> (u32, Stabilization) {
        let mut up = desired;
        let mut down = desired;
        for &(at, rec) in &self.entries {
            // `rec.timestamp.After(now - window)`
            if at.saturating_add(up_window) > now {
                up = up.min(rec);
            }
            if at.saturating_add(down_window) > now {
                down = down.max(rec);
            }
        }
        // `Before(upCutoff) && Before(downCutoff)`: outside both windows.
        self.entries.retain(|&(at, _)| {
            !(at.saturating_add(up_window) < now && at.saturating_add(down_window) < now)
        });
        let stabilized = current.max(up).min(down);
        self.record(now, desired);
        let reason = if stabilized == desired {
            Stabilization::ReadyForNewScale
        } else if desired >= current {
            Stabilization::ScaleUpStabilized
        } else {
            Stabilization::ScaleDownStabilized
        };
        (stabilized, reason)
    }

    /// `stabilizeRecommendation` (legacy path): the highest recommendation
    /// not older than `window` (inclusive), with `desired` recorded.
    pub(crate) fn stabilize_legacy(
        &mut self,
        now: Timestamp,
        desired: u32,
        window: Span,
    ) -> (u32, Stabilization) {
        let mut highest = desired;
        for &(at, rec) in &self.entries {
            // `!rec.timestamp.Before(now - window)`
            if at.saturating_add(window) >= now {
                highest = highest.max(rec);
            }
        }
        self.entries
            .retain(|&(at, _)| at.saturating_add(window) >= now);
        self.record(now, desired);
        let reason = if highest == desired {
            Stabilization::ReadyForNewScale
        } else {
            Stabilization::ScaleDownStabilized
        };
        (highest, reason)
    }
}

/// One direction's scale events (`timestampedScaleEvent`).
#[derive(Clone, Copy, Debug)]
struct ScaleEvent {
    change: u32,
    at: Timestamp,
    outdated: bool,
}

/// Scale events of one direction, reusing outdated slots exactly as
/// `storeScaleEvent` does (which slot is reused decides which old event
/// stops counting for the other direction's periods).
#[derive(Clone, Debug, Default)]
pub(crate) struct ScaleEvents {
    events: Vec<ScaleEvent>,
    pub(crate) dropped: u64,
}

impl ScaleEvents {
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// `storeScaleEvent` for one direction: marks events older than
    /// `longest_period` outdated, then overwrites the last outdated one or
    /// appends.
    pub(crate) fn store(&mut self, now: Timestamp, change: u32, longest_period: Span) {
        for e in &mut self.events {
            if e.at.saturating_add(longest_period) < now {
                e.outdated = true;
            }
        }
        let event = ScaleEvent {
            change,
            at: now,
            outdated: false,
        };
        if let Some(i) = self.events.iter().rposition(|e| e.outdated) {
            self.events[i] = event;
            return;
        }
        if self.events.len() >= MAX_SCALE_EVENTS {
            let oldest = (0..self.events.len()).min_by_key(|&i| self.events[i].at);
            if let Some(i) = oldest {
                self.events.remove(i);
                self.dropped += 1;
            }
        }
        self.events.push(event);
    }

    /// `getReplicasChangePerPeriod`: replicas changed strictly after
    /// `now - period`.
    pub(crate) fn change_in_period(&self, now: Timestamp, period: Span) -> i64 {
        self.events
            .iter()
            .filter(|e| e.at.saturating_add(period) > now)
            .map(|e| i64::from(e.change))
            .sum()
    }
}

/// Both directions' scale events.
#[derive(Clone, Debug, Default)]
pub(crate) struct EventHistory {
    pub(crate) up: ScaleEvents,
    pub(crate) down: ScaleEvents,
}

impl EventHistory {
    fn period_start(&self, now: Timestamp, current: u32, period: Span) -> i64 {
        i64::from(current) - self.up.change_in_period(now, period)
            + self.down.change_in_period(now, period)
    }

    /// `calculateScaleUpLimitWithScalingRules`.
    pub(crate) fn scale_up_limit(&self, now: Timestamp, current: u32, rules: &ScalingRules) -> i64 {
        let (mut result, pick): (i64, fn(i64, i64) -> i64) = match rules.select_policy {
            SelectPolicy::Disabled => return i64::from(current),
            // For scale-up the smallest change is the smallest limit.
            SelectPolicy::Min => (i64::MAX, i64::min),
            SelectPolicy::Max => (i64::MIN, i64::max),
        };
        for policy in &rules.policies {
            let start = self.period_start(now, current, policy.period);
            let proposed = match policy.kind {
                PolicyKind::Pods => start + i64::from(policy.value),
                // Rounded up so that a small percentage still adds a pod.
                PolicyKind::Percent => {
                    (start as f64 * (1.0 + f64::from(policy.value) / 100.0)).ceil() as i64
                }
            };
            result = pick(result, proposed);
        }
        result
    }

    /// `calculateScaleDownLimitWithBehaviors`.
    pub(crate) fn scale_down_limit(
        &self,
        now: Timestamp,
        current: u32,
        rules: &ScalingRules,
    ) -> i64 {
        let (mut result, pick): (i64, fn(i64, i64) -> i64) = match rules.select_policy {
            SelectPolicy::Disabled => return i64::from(current),
            // For scale-down the smallest change is the largest limit.
            SelectPolicy::Min => (i64::MIN, i64::max),
            SelectPolicy::Max => (i64::MAX, i64::min),
        };
        for policy in &rules.policies {
            let start = self.period_start(now, current, policy.period);
            let proposed = match policy.kind {
                PolicyKind::Pods => start - i64::from(policy.value),
                // Truncated toward zero, as Go's int32(float64) conversion.
                PolicyKind::Percent => {
                    (start as f64 * (1.0 - f64::from(policy.value) / 100.0)) as i64
                }
            };
            result = pick(result, proposed);
        }
        result
    }
}

/// Replica bounds and rules that `convert_with_behavior_rate` applies.
pub(crate) struct RateArgs<'a> {
    pub(crate) now: Timestamp,
    pub(crate) current: u32,
    pub(crate) desired: u32,
    pub(crate) min: u32,
    pub(crate) max: u32,
    pub(crate) scale_up: &'a ScalingRules,
    pub(crate) scale_down: &'a ScalingRules,
}

/// `convertDesiredReplicasWithBehaviorRate`: limits the change by the rate
/// policies, then by `[min, max]`.
pub(crate) fn convert_with_behavior_rate(events: &EventHistory, a: &RateArgs<'_>) -> (u32, Limit) {
    let current = i64::from(a.current);
    if a.desired > a.current {
        let limit = events
            .scale_up_limit(a.now, a.current, a.scale_up)
            .max(current);
        let (allowed, reason) = if i64::from(a.max) > limit {
            (limit, Limit::ScaleUpLimit)
        } else {
            (i64::from(a.max), Limit::TooManyReplicas)
        };
        if i64::from(a.desired) > allowed {
            return (to_replicas(allowed), reason);
        }
    } else if a.desired < a.current {
        let limit = events
            .scale_down_limit(a.now, a.current, a.scale_down)
            .min(current);
        let (allowed, reason) = if i64::from(a.min) < limit {
            (limit, Limit::ScaleDownLimit)
        } else {
            (i64::from(a.min), Limit::TooFewReplicas)
        };
        if i64::from(a.desired) < allowed {
            return (to_replicas(allowed), reason);
        }
    }
    (a.desired, Limit::DesiredWithinRange)
}

/// `convertDesiredReplicasWithRules` (legacy path): `[min, max]` and a
/// scale-up limit of `max(2 × current, 4)` per sync (`calculateScaleUpLimit`,
/// added after kubernetes/kubernetes#32304 bogus CPU spikes).
pub(crate) fn convert_with_rules(current: u32, desired: u32, min: u32, max: u32) -> (u32, Limit) {
    let scale_up_limit = (2.0 * f64::from(current)).max(4.0) as i64;
    let (allowed, reason) = if i64::from(max) > scale_up_limit {
        (scale_up_limit, Limit::ScaleUpLimit)
    } else {
        (i64::from(max), Limit::TooManyReplicas)
    };
    if desired < min {
        (min, Limit::TooFewReplicas)
    } else if i64::from(desired) > allowed {
        (to_replicas(allowed), reason)
    } else {
        (desired, Limit::DesiredWithinRange)
    }
}

/// Clamps an intermediate replica count into `u32`.
fn to_replicas(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}
