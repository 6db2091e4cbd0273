//! Target-tracking decision scripts: cooldowns, the scale-out credit, the
//! interrupted scale-in cooldown, `disable_scale_in`, several metrics and
//! the observation path. Metric values are dyadic fractions so every
//! `capacity × metric / target` product is exact.

#![cfg(feature = "serde")]

use crate::autoscale_common::{at, pod, tracking_spec};
use headroom_policy::autoscale::{
    MetricInput, Observation, PodPhase, PodStatus, Sample, ScaleReason, TargetTracker,
    TrackingOutcome,
};
use headroom_policy::time::{Span, Timestamp};

const CPU_HALF: &str = "algorithm = \"target-tracking\"\nmax_replicas = 100\n\
    target_cpu_utilization = 0.5\n";

struct Script {
    tracker: TargetTracker,
    current: u32,
}

impl Script {
    fn new(extra: &str, start: u32) -> Self {
        Script {
            tracker: TargetTracker::new(
                tracking_spec(&format!("{CPU_HALF}{extra}")),
                Timestamp::ZERO,
            ),
            current: start,
        }
    }

    /// Evaluates at `t` seconds with one value per metric; applies the
    /// decision; returns (replicas, outcome).
    fn step(&mut self, t: u64, values: &[Option<f64>]) -> (u32, TrackingOutcome) {
        let d = self.tracker.handle_metrics(at(t), self.current, values);
        self.current = d.desired_replicas;
        match d.reason {
            ScaleReason::TargetTracking { outcome, .. } => (d.desired_replicas, outcome),
            other => panic!("unexpected reason {other:?}"),
        }
    }
}

use TrackingOutcome::*;

/// Capacity added during the scale-out cooldown counts toward the next
/// scale-out: the next request is computed from the capacity before the
/// first scale-out.
#[test]
fn scale_out_cooldown_counts_added_capacity() {
    let mut s = Script::new("", 8);
    assert_eq!(s.step(0, &[Some(0.625)]), (10, ScaleOut));
    // From the base of 8: ceil(8 × 1.5) = 12, not ceil(10 × 1.5) = 15.
    assert_eq!(s.step(60, &[Some(0.75)]), (12, ScaleOut));
    assert!(s.tracker.in_scale_out_cooldown(at(120)));
    // From 12 the metric asks for 15, but from the base only 10: held.
    assert_eq!(s.step(120, &[Some(0.625)]), (12, ScaleOutCooldown));
    // The second scale-out extended the cooldown to 60 + 300 s.
    assert_eq!(s.step(345, &[Some(0.625)]), (12, ScaleOutCooldown));
    assert_eq!(s.step(360, &[Some(0.625)]), (15, ScaleOut));
}

/// A scale-in starts the scale-in cooldown; a scale-out interrupts it, so a
/// scale-in right after the scale-out is allowed.
#[test]
fn scale_out_interrupts_the_scale_in_cooldown() {
    let mut s = Script::new("", 10);
    assert_eq!(s.step(0, &[Some(0.375)]), (8, ScaleIn));
    assert_eq!(s.step(60, &[Some(0.25)]), (8, ScaleInCooldown));
    assert_eq!(s.step(120, &[Some(0.75)]), (12, ScaleOut));
    assert!(!s.tracker.in_scale_in_cooldown(at(121)));
    assert_eq!(s.step(180, &[Some(0.25)]), (6, ScaleIn));
    assert_eq!(s.step(240, &[Some(0.25)]), (6, ScaleInCooldown));
    assert_eq!(s.step(479, &[Some(0.25)]), (6, ScaleInCooldown));
    assert_eq!(s.step(480, &[Some(0.25)]), (3, ScaleIn));
}

/// Without an interrupting scale-out the scale-in cooldown runs its course.
#[test]
fn scale_in_cooldown_blocks_until_it_ends() {
    let mut s = Script::new("scale_in_cooldown = \"2m\"\n", 16);
    assert_eq!(s.step(0, &[Some(0.25)]), (8, ScaleIn));
    assert_eq!(s.step(60, &[Some(0.25)]), (8, ScaleInCooldown));
    assert_eq!(s.step(119, &[Some(0.25)]), (8, ScaleInCooldown));
    assert_eq!(s.step(120, &[Some(0.25)]), (4, ScaleIn));
    assert_eq!(s.step(240, &[Some(0.5)]), (4, WithinTarget));
}

#[test]
fn disable_scale_in_never_removes_capacity() {
    let mut s = Script::new("disable_scale_in = true\n", 10);
    assert_eq!(s.step(0, &[Some(0.25)]), (10, ScaleInDisabled));
    assert_eq!(s.step(600, &[Some(0.25)]), (10, ScaleInDisabled));
    assert_eq!(s.step(660, &[Some(0.75)]), (15, ScaleOut));
}

/// Out if any metric asks for more (to the largest request), in only if all
/// ask for less (to the largest request), no scale-in without data.
#[test]
fn several_metrics_scale_out_if_any_in_if_all() {
    let mut s = Script::new("target_rps = 100.0\nscale_in_cooldown = \"0s\"\n", 10);
    assert_eq!(s.step(0, &[Some(0.25), Some(125.0)]), (13, ScaleOut));
    s.current = 10;
    assert_eq!(s.step(600, &[Some(0.25), Some(75.0)]), (8, ScaleIn));
    assert_eq!(s.step(660, &[Some(0.25), None]), (8, NoData));
    assert_eq!(s.step(720, &[None, None]), (8, NoData));
    assert_eq!(s.step(780, &[Some(0.75), None]), (12, ScaleOut));
    assert_eq!(s.step(840, &[Some(f64::NAN), Some(-1.0)]), (12, NoData));
}

/// Bounds: below min and above max are corrected at once; requests beyond
/// the bounds stop at them.
#[test]
fn bounds() {
    let mut s = Script::new("min_replicas = 3\nscale_in_cooldown = \"0s\"\n", 2);
    let d = s.tracker.handle_metrics(at(0), 2, &[Some(0.5)]);
    assert_eq!(
        (d.desired_replicas, d.reason),
        (3, ScaleReason::BelowMinReplicas)
    );
    let d = s.tracker.handle_metrics(at(15), 500, &[Some(0.5)]);
    assert_eq!(
        (d.desired_replicas, d.reason),
        (100, ScaleReason::AboveMaxReplicas)
    );
    s.current = 100;
    assert_eq!(s.step(30, &[Some(1.0)]), (100, AtLimit));
    s.current = 4;
    assert_eq!(s.step(45, &[Some(0.25)]), (3, ScaleIn));
    assert_eq!(s.step(60, &[Some(0.125)]), (3, AtLimit));
}

/// `handle_sync` averages the per-pod samples of running, ready,
/// non-deleting pods (CPU: usage over request).
#[test]
fn observation_path_averages_ready_pods() {
    let mut tracker = TargetTracker::new(tracking_spec(CPU_HALF), Timestamp::ZERO);
    let sample = |usage| {
        Some(Sample {
            value_milli: usage,
            timestamp: at(60),
            window: Span::from_secs(30),
        })
    };
    let pods = [
        pod(Timestamp::ZERO, true, 1000),
        pod(Timestamp::ZERO, true, 1000),
        pod(Timestamp::ZERO, false, 1000),
        PodStatus {
            deleting: true,
            ..pod(Timestamp::ZERO, true, 1000)
        },
        PodStatus {
            phase: PodPhase::Pending,
            ..pod(Timestamp::ZERO, false, 1000)
        },
    ];
    // Ready pods: (1000 + 500) / 2000 = 0.75 → ceil(4 × 1.5) = 6.
    let samples = [sample(1000), sample(500), sample(0), sample(0), None];
    let inputs = [MetricInput::PerPod(&samples)];
    let obs = Observation {
        spec_replicas: 4,
        status_replicas: 5,
        pods: &pods,
        metrics: &inputs,
    };
    let d = tracker.handle_sync(at(60), &obs);
    assert_eq!(d.desired_replicas, 6);
    assert_eq!(tracker.poll_timeout(), Some(at(75)));
    // A slice not matching the pods is no data.
    let short = [sample(1000)];
    let inputs = [MetricInput::PerPod(&short)];
    let d = tracker.handle_sync(
        at(75),
        &Observation {
            metrics: &inputs,
            ..obs
        },
    );
    assert!(matches!(
        d.reason,
        ScaleReason::TargetTracking {
            outcome: NoData,
            ..
        }
    ));
}
