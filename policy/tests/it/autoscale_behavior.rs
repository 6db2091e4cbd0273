//! HPA decision scripts: timestamped observations and the exact replica
//! counts expected, written from the Kubernetes documentation
//! (`content/en/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale.md`,
//! "Configurable scaling behavior") and from `horizontal.go`'s rules.
//!
//! The driving metric is an external metric with an average-value target of
//! 1 per pod and tolerance 0, so the metric proposal is exactly the
//! "desired" number in each script; the driver applies every decision.

#![cfg(feature = "serde")]

use crate::autoscale_common::{at, hpa_spec, pod};
use headroom_policy::autoscale::{
    HpaController, Limit, MetricInput, Observation, PodStatus, Sample, ScaleDecision, ScaleReason,
    Stabilization,
};
use headroom_policy::time::{Span, Timestamp};

const METRIC: &str = "max_replicas = 1000\ntolerance = 0.0\n\
    metrics = [{ type = \"external\", name = \"load\", target = 1.0, target_type = \"average-value\" }]\n";

struct Script {
    hpa: HpaController,
    current: u32,
}

impl Script {
    fn new(extra: &str, start: u32) -> Self {
        let spec = hpa_spec(&format!("{METRIC}{extra}"));
        Script {
            hpa: HpaController::new(spec, Timestamp::ZERO),
            current: start,
        }
    }

    /// One sync at `t` seconds whose metric asks for `desired` replicas;
    /// the decision is applied.
    fn step(&mut self, t: u64, desired: u32) -> ScaleDecision {
        let inputs = [MetricInput::Value(i64::from(desired) * 1000)];
        let obs = Observation {
            spec_replicas: self.current,
            status_replicas: self.current,
            pods: &[],
            metrics: &inputs,
        };
        let d = self.hpa.handle_sync(at(t), &obs);
        self.current = d.desired_replicas;
        d
    }

    /// Syncs every 15 s from 0 to `until` inclusive; returns (t, replicas).
    fn run(&mut self, until: u64, desired: impl Fn(u64) -> u32) -> Vec<(u64, u32)> {
        (0..=until)
            .step_by(15)
            .map(|t| (t, self.step(t, desired(t)).desired_replicas))
            .collect()
    }
}

/// Replicas at the syncs whose time is a multiple of `every` seconds.
fn every(trace: &[(u64, u32)], every: u64) -> Vec<u32> {
    trace
        .iter()
        .filter(|(t, _)| t % every == 0)
        .map(|&(_, r)| r)
        .collect()
}

/// Default behavior (an empty `behavior` table): scale-up by
/// max(4 pods, 100 %) per 15 s.
#[test]
fn default_scale_up_policies_double_or_add_four_every_15s() {
    let mut s = Script::new("[behavior]\n", 1);
    let trace = s.run(90, |_| 100);
    let replicas: Vec<u32> = trace.iter().map(|&(_, r)| r).collect();
    assert_eq!(replicas, [5, 10, 20, 40, 80, 100, 100]);
}

/// The documented example: 80 replicas to 10 with Pods 4/60 s and Percent
/// 10/60 s, `selectPolicy` Max: first −8; the next reduction only once the
/// 60 s period has passed (72 → 64, "10 % of 72 is 7.2, rounded up to 8");
/// below 40 replicas the Pods policy wins (−4 at a time).
#[test]
fn documented_pods_and_percent_scale_down_example() {
    let mut s = Script::new(
        "[behavior.scale_down]\nstabilization_window = \"0s\"\n\
         policies = [{ type = \"pods\", value = 4, period = \"1m\" }, \
                     { type = \"percent\", value = 10, period = \"1m\" }]\n",
        80,
    );
    let trace = s.run(900, |_| 10);
    assert_eq!(
        every(&trace, 60),
        [
            72, 64, 57, 51, 45, 40, 36, 32, 28, 24, 20, 16, 12, 10, 10, 10
        ]
    );
    // Within a period the limit holds: 72 at 15, 30 and 45 s.
    assert_eq!(
        &trace[..5],
        &[(0, 72), (15, 72), (30, 72), (45, 72), (60, 64)]
    );
}

/// The documented "no more than 5 Pods per minute" variant with
/// `selectPolicy` Min: the policy allowing the smallest change wins.
#[test]
fn select_policy_min_picks_the_smallest_change() {
    let mut s = Script::new(
        "[behavior.scale_down]\nstabilization_window = \"0s\"\nselect_policy = \"min\"\n\
         policies = [{ type = \"percent\", value = 10, period = \"1m\" }, \
                     { type = \"pods\", value = 5, period = \"1m\" }]\n",
        80,
    );
    let trace = s.run(900, |_| 10);
    assert_eq!(
        every(&trace, 60),
        [
            75, 70, 65, 60, 55, 50, 45, 40, 36, 32, 28, 25, 22, 19, 17, 15
        ]
    );
}

/// Scale-up with `selectPolicy` Min over the default policies: min(+4, +100 %).
#[test]
fn select_policy_min_for_scale_up() {
    let mut s = Script::new(
        "[behavior.scale_up]\nselect_policy = \"min\"\n\
         policies = [{ type = \"pods\", value = 4, period = \"15s\" }, \
                     { type = \"percent\", value = 100, period = \"15s\" }]\n",
        1,
    );
    let trace = s.run(75, |_| 30);
    let replicas: Vec<u32> = trace.iter().map(|&(_, r)| r).collect();
    assert_eq!(replicas, [2, 4, 8, 12, 16, 20]);
}

/// `selectPolicy: Disabled` for scale-down: never down, still up.
#[test]
fn disabled_scale_down_never_removes_replicas() {
    let mut s = Script::new("[behavior.scale_down]\nselect_policy = \"disabled\"\n", 10);
    let trace = s.run(600, |t| if t < 450 { 2 } else { 12 });
    for &(t, r) in &trace {
        let want = if t < 450 { 10 } else { 12 };
        assert_eq!(r, want, "t = {t}");
    }
}

/// The default 300 s scale-down window uses the highest recommendation of
/// the last 5 minutes (strictly newer than now − 300 s), including the
/// initial recommendation recorded at the first sync.
#[test]
fn scale_down_stabilization_window_holds_the_recent_maximum() {
    let mut s = Script::new("[behavior]\n", 10);
    let desired = |t: u64| match t {
        0 => 10,
        120 => 8,
        _ => 4,
    };
    let trace = s.run(600, desired);
    for &(t, r) in &trace {
        let want = match t {
            0..=285 => 10,
            300..=405 => 8,
            _ => 4,
        };
        assert_eq!(r, want, "t = {t}");
    }
    let d = s.step(615, 4);
    assert_eq!(d.desired_replicas, 4);
}

/// A scale-down held by the window reports `ScaleDownStabilized`.
#[test]
fn stabilized_scale_down_reports_its_reason() {
    let mut s = Script::new("[behavior]\n", 10);
    let _ = s.step(0, 10);
    let d = s.step(15, 4);
    assert_eq!(d.desired_replicas, 10);
    assert_eq!(
        d.reason,
        ScaleReason::Hpa {
            metric: Some(0),
            proposal: 4,
            stabilized: 10,
            stabilization: Stabilization::ScaleDownStabilized,
            limit: Limit::DesiredWithinRange,
        }
    );
}

/// A scale-up window of 60 s scales up only to the lowest recommendation of
/// the last minute.
#[test]
fn scale_up_stabilization_window_uses_the_recent_minimum() {
    let mut s = Script::new("[behavior.scale_up]\nstabilization_window = \"1m\"\n", 2);
    let trace = s.run(60, |_| 6);
    assert_eq!(trace, [(0, 2), (15, 2), (30, 2), (45, 2), (60, 6)]);
    // A dip inside the window caps the next scale-up.
    let mut s = Script::new("[behavior.scale_up]\nstabilization_window = \"1m\"\n", 2);
    let trace = s.run(135, |t| if t == 75 { 3 } else { 6 });
    assert_eq!(
        trace,
        [
            (0, 2),
            (15, 2),
            (30, 2),
            (45, 2),
            (60, 6),
            (75, 6),
            (90, 6),
            (105, 6),
            (120, 6),
            (135, 6)
        ]
    );
    let mut s = Script::new("[behavior.scale_up]\nstabilization_window = \"1m\"\n", 2);
    let trace = s.run(150, |t| if t == 0 || t >= 75 { 6 } else { 3 });
    // 0..45 s: the initial recommendation (2 at 0 s) is still inside the
    // window; 60..105 s: the 3s of 15..60 s are the recent minimum; at 120 s
    // the 3 recorded at 60 s is exactly one window old and no longer counts.
    assert_eq!(
        trace,
        [
            (0, 2),
            (15, 2),
            (30, 2),
            (45, 2),
            (60, 3),
            (75, 3),
            (90, 3),
            (105, 3),
            (120, 6),
            (135, 6),
            (150, 6)
        ]
    );
}

/// A single Pods 2 / 60 s scale-up policy: the limit counts every scale-up
/// event of the trailing period across consecutive syncs.
#[test]
fn scale_up_is_limited_per_period_across_syncs() {
    let mut s = Script::new(
        "[behavior.scale_up]\npolicies = [{ type = \"pods\", value = 2, period = \"1m\" }]\n",
        2,
    );
    let trace = s.run(200, |_| 10);
    for &(t, r) in &trace {
        let want = match t {
            0..=45 => 4,
            60..=105 => 6,
            120..=165 => 8,
            _ => 10,
        };
        assert_eq!(r, want, "t = {t}");
    }
    // The +2 of 180 s still counts at 210 s: period start 8, limit 10.
    let limited = s.step(210, 20);
    assert_eq!(limited.desired_replicas, 10);
    assert!(matches!(
        limited.reason,
        ScaleReason::Hpa {
            limit: Limit::ScaleUpLimit,
            ..
        }
    ));
    assert_eq!(s.step(240, 20).desired_replicas, 12);
}

/// periodStart = current − added + deleted: replicas removed within the
/// scale-up period raise the scale-up limit.
#[test]
fn scale_down_events_raise_the_scale_up_period_start() {
    let mut s = Script::new(
        "[behavior.scale_up]\npolicies = [{ type = \"pods\", value = 4, period = \"1m\" }]\n\
         [behavior.scale_down]\nstabilization_window = \"0s\"\n\
         policies = [{ type = \"pods\", value = 100, period = \"15s\" }]\n",
        10,
    );
    assert_eq!(s.step(0, 5).desired_replicas, 5);
    // Period start 5 + 5 removed = 10, so up to 14.
    assert_eq!(s.step(15, 12).desired_replicas, 12);
    // Period start 12 − 7 added + 5 removed = 10: still 14 at most.
    assert_eq!(s.step(30, 20).desired_replicas, 14);
}

/// Legacy path (no `behavior`): scale-up at most to max(2 × current, 4)
/// per sync, no rate limit on scale-down.
#[test]
fn legacy_path_doubles_per_sync() {
    let mut s = Script::new("", 1);
    let trace = s.run(90, |_| 100);
    let replicas: Vec<u32> = trace.iter().map(|&(_, r)| r).collect();
    assert_eq!(replicas, [4, 8, 16, 32, 64, 100, 100]);
}

/// Legacy stabilization keeps recommendations *not older* than the window
/// (inclusive, `!Before(cutoff)`), one sync longer than the behavior path.
#[test]
fn legacy_path_scale_down_window_is_inclusive() {
    let mut s = Script::new("", 10);
    let trace = s.run(330, |_| 3);
    for &(t, r) in &trace {
        let want = if t <= 300 { 10 } else { 3 };
        assert_eq!(r, want, "t = {t}");
    }
    let mut s = Script::new("downscale_stabilization = \"1m\"\n", 10);
    let trace = s.run(90, |_| 3);
    assert_eq!(
        trace,
        [
            (0, 10),
            (15, 10),
            (30, 10),
            (45, 10),
            (60, 10),
            (75, 3),
            (90, 3)
        ]
    );
}

/// Replica counts outside [min, max] are moved to the bound without
/// metrics; zero replicas disables the HPA; rate limits never break the
/// bounds.
#[test]
fn out_of_range_and_disabled() {
    let mut s = Script::new("min_replicas = 2\n[behavior]\n", 0);
    let d = s.step(0, 50);
    assert_eq!(
        (d.desired_replicas, d.reason),
        (0, ScaleReason::ScalingDisabled)
    );
    s.current = 1;
    let d = s.step(15, 50);
    assert_eq!(
        (d.desired_replicas, d.reason),
        (2, ScaleReason::BelowMinReplicas)
    );
    s.current = 5000;
    let d = s.step(30, 50);
    assert_eq!(
        (d.desired_replicas, d.reason),
        (1000, ScaleReason::AboveMaxReplicas)
    );
    let d = s.step(45, 1);
    assert_eq!(d.desired_replicas, 2, "clamped to min_replicas");
    assert!(matches!(
        d.reason,
        ScaleReason::Hpa {
            limit: Limit::TooFewReplicas,
            ..
        }
    ));
}

fn cpu_pods(n: usize) -> Vec<PodStatus> {
    (0..n).map(|_| pod(Timestamp::ZERO, true, 1000)).collect()
}

fn cpu_samples(usage_milli: &[i64]) -> Vec<Option<Sample>> {
    usage_milli
        .iter()
        .map(|&u| {
            Some(Sample {
                value_milli: u,
                timestamp: at(590),
                window: Span::from_secs(30),
            })
        })
        .collect()
}

/// Multiple metrics: the largest proposal wins; an unavailable metric
/// blocks a scale-down but not a scale-up; all unavailable keeps the count.
#[test]
fn multi_metric_max_and_errored_metric_rule() {
    let cfg = "max_replicas = 100\ntarget_cpu_utilization = 0.5\ntarget_rps = 100.0\n[behavior]\n";
    let mut hpa = HpaController::new(hpa_spec(cfg), Timestamp::ZERO);
    let pods = cpu_pods(4);
    let cpu_low = cpu_samples(&[100, 100, 100, 100]); // 10 % → 1 replica
    let cpu_high = cpu_samples(&[1000, 1000, 1000, 1000]); // 100 % → 8
    let rps_mid: Vec<Option<Sample>> = cpu_samples(&[150_000; 4]); // 150 rps → 6
    let sync = |hpa: &mut HpaController, t: u64, inputs: &[MetricInput<'_>]| {
        let obs = Observation {
            spec_replicas: 4,
            status_replicas: 4,
            pods: &pods,
            metrics: inputs,
        };
        hpa.handle_sync(at(600 + t), &obs)
    };
    let d = sync(
        &mut hpa,
        0,
        &[
            MetricInput::PerPod(&cpu_high),
            MetricInput::PerPod(&rps_mid),
        ],
    );
    assert_eq!(d.desired_replicas, 8, "max of 8 and 6");
    assert!(matches!(
        d.reason,
        ScaleReason::Hpa {
            metric: Some(0),
            proposal: 8,
            ..
        }
    ));
    let d = sync(
        &mut hpa,
        15,
        &[MetricInput::PerPod(&cpu_low), MetricInput::PerPod(&rps_mid)],
    );
    assert!(matches!(
        d.reason,
        ScaleReason::Hpa {
            metric: Some(1),
            proposal: 6,
            ..
        }
    ));
    let d = sync(
        &mut hpa,
        30,
        &[MetricInput::Unavailable, MetricInput::PerPod(&rps_mid)],
    );
    assert_eq!(d.desired_replicas, 6, "a scale-up is still allowed");
    let low_rps = cpu_samples(&[10_000; 4]);
    let d = sync(
        &mut hpa,
        45,
        &[MetricInput::Unavailable, MetricInput::PerPod(&low_rps)],
    );
    assert_eq!(
        (d.desired_replicas, d.reason),
        (4, ScaleReason::MetricsUnavailable { invalid_metrics: 1 })
    );
    let d = sync(
        &mut hpa,
        60,
        &[MetricInput::Unavailable, MetricInput::Value(5)],
    );
    assert_eq!(
        (d.desired_replicas, d.reason),
        (4, ScaleReason::MetricsUnavailable { invalid_metrics: 2 })
    );
    let d = sync(&mut hpa, 75, &[]);
    assert_eq!(
        d.reason,
        ScaleReason::MetricsUnavailable { invalid_metrics: 2 }
    );
}

/// Per-direction tolerance (`behavior.scale_up.tolerance`, KEP-4951): a 6 %
/// excess scales up with a 5 % tolerance, not with the default 10 %.
#[test]
fn per_direction_tolerance() {
    let pods = cpu_pods(10);
    let rps = cpu_samples(&[106_000; 10]); // 106 rps per pod against 100
    let inputs = [MetricInput::PerPod(&rps)];
    let obs = Observation {
        spec_replicas: 10,
        status_replicas: 10,
        pods: &pods,
        metrics: &inputs,
    };
    let base = "max_replicas = 100\ntarget_rps = 100.0\n";
    for (extra, want) in [
        ("", 10),
        ("[behavior]\n", 10),
        ("[behavior.scale_up]\ntolerance = 0.05\n", 11),
    ] {
        let mut hpa = HpaController::new(hpa_spec(&format!("{base}{extra}")), Timestamp::ZERO);
        let d = hpa.handle_sync(at(600), &obs);
        assert_eq!(d.desired_replicas, want, "{extra:?}");
    }
}

/// `poll_timeout` is the creation time, then the last sync plus the period.
#[test]
fn sync_period_drives_poll_timeout() {
    let mut s = Script::new("sync_period = \"30s\"\n", 3);
    assert_eq!(s.hpa.poll_timeout(), Some(Timestamp::ZERO));
    let _ = s.step(7, 3);
    assert_eq!(s.hpa.poll_timeout(), Some(at(37)));
}
