//! Recovery on hand-made time series: where the answer is known exactly.

use headroom_sim::Timestamp;

use super::*;

fn plan(triggers: &[(u64, u64)], hold: usize) -> RecoveryPlan {
    RecoveryPlan {
        baseline_intervals: 5,
        hold_intervals: hold,
        goodput_tolerance: 0.1,
        p99_tolerance: 0.5,
        noise_sigmas: 3.0,
        triggers: triggers
            .iter()
            .enumerate()
            .map(|(i, &(s, e))| Trigger {
                label: format!("t{i}"),
                start: Timestamp::from_nanos(s * 1_000_000_000),
                end: Timestamp::from_nanos(e * 1_000_000_000),
            })
            .collect(),
        max_instances: None,
    }
}

/// 1-second rows: goodput 100/s and p99 50 ms except where `bad` says.
fn rows(n: usize, bad: impl Fn(usize) -> Option<(f64, f64)>) -> Vec<IntervalRow> {
    (0..n)
        .map(|i| {
            let (goodput, p99) = bad(i).unwrap_or((100.0, 50.0));
            IntervalRow {
                t_s: (i + 1) as f64,
                arrivals_rps: 100.0,
                throughput_rps: goodput,
                latency_p99_ms: p99,
                errors: if goodput < 50.0 { 50 } else { 0 },
                rejected: 0,
                replicas: 1,
                cpu_util: 0.5,
                cache_hit_ratio: 0.0,
                stale_read_ratio: f64::NAN,
                breaker_open: 0,
                healthy_regions: 1,
                cost_usd_cum: 0.0,
                retries: if goodput < 50.0 { 100 } else { 0 },
                wasted_work_s: if goodput < 50.0 { 2.0 } else { 0.0 },
                trigger: false,
            }
        })
        .collect()
}

#[test]
fn recovery_is_the_start_of_the_first_held_good_interval_after_the_end() {
    // Trigger [10 s, 15 s); intervals [10, 20) are bad: the first good
    // interval starts at 20 s, 5 s after the trigger's end.
    let r = rows(40, |i| (10..20).contains(&i).then_some((20.0, 900.0)));
    let m = measure(&plan(&[(10, 15)], 3), &r, 0.0);
    assert_eq!(m.len(), 1);
    let t = &m[0];
    assert_eq!(t.recovered, 1.0);
    assert_eq!(t.recovery_s, 5.0);
    assert_eq!(t.baseline_goodput_rps, 100.0);
    assert_eq!(t.baseline_p99_ms, 50.0);
    assert_eq!(t.excess_p99_ms, 850.0);
    assert!((t.peak_error_rate - 50.0 / 70.0).abs() < 1e-12);
    assert_eq!(t.wasted_work_s, 20.0);
    assert_eq!(t.signals.baseline_retries_per_request, 0.0);
    assert_eq!(t.signals.after_retries_per_request, 1.0);
}

#[test]
fn a_good_interval_that_does_not_hold_is_not_recovery() {
    // One good interval at 18 s among bad ones: with a hold of 3 it does
    // not count; recovery is at 22 s.
    let r = rows(40, |i| {
        ((10..22).contains(&i) && i != 18).then_some((20.0, 900.0))
    });
    let t = &measure(&plan(&[(10, 15)], 3), &r, 0.0)[0];
    assert_eq!(t.recovery_s, 7.0);
    let t = &measure(&plan(&[(10, 15)], 1), &r, 0.0)[0];
    assert_eq!(t.recovery_s, 3.0, "hold 1 accepts the lone good interval");
}

#[test]
fn never_back_is_not_recovered_and_the_cells_say_so() {
    let r = rows(40, |i| (i >= 10).then_some((0.0, f64::NAN)));
    let m = measure(&plan(&[(10, 15)], 3), &r, 0.0);
    let t = &m[0];
    assert_eq!(t.recovered, 0.0);
    assert!(t.recovery_s.is_nan());
    assert_eq!(t.peak_error_rate, 1.0);
    assert!(t.excess_p99_ms.is_nan(), "nothing answered: no latency");
    let cells = cells(&m);
    assert_eq!(cells.len(), RECOVERY_COLUMNS.len());
    assert_eq!(cells[0], Cell::Float(0.0));
    let why = explain(&t.signals);
    assert!(why[0].starts_with("retry amplification"), "{why:?}");
    assert!(
        why.iter().any(|w| w.starts_with("work for nobody")),
        "{why:?}"
    );
    assert!(
        why.iter().any(|w| w.contains("no circuit breaker")),
        "{why:?}"
    );
}

#[test]
fn noise_widens_the_band() {
    // Baseline goodput alternates 70/130 (sd ~33): an interval at 75 is
    // within 3 sd although 25 % off the mean.
    let r = rows(40, |i| match i {
        0..10 => Some((if i % 2 == 0 { 70.0 } else { 130.0 }, 50.0)),
        10..15 => Some((10.0, 900.0)),
        _ => Some((75.0, 50.0)),
    });
    let t = &measure(&plan(&[(10, 15)], 3), &r, 0.0)[0];
    assert_eq!(t.recovery_s, 0.0);
}

#[test]
fn no_baseline_is_unmeasurable_not_unrecovered() {
    let r = rows(40, |_| None);
    let t = &measure(&plan(&[(0, 5)], 3), &r, 0.0)[0];
    assert!(t.recovered.is_nan());
    // Baseline inside the warm-up does not count either.
    let t = &measure(&plan(&[(10, 15)], 3), &r, 10.0)[0];
    assert!(t.recovered.is_nan());
    assert!(cells(std::slice::from_ref(t))[0].as_f64().is_nan());
}

#[test]
fn run_cells_aggregate_the_worst_trigger() {
    let r = rows(60, |i| {
        ((10..20).contains(&i) || (30..33).contains(&i)).then_some((20.0, 900.0))
    });
    let m = measure(&plan(&[(10, 15), (30, 31)], 3), &r, 0.0);
    assert_eq!(m[0].recovery_s, 5.0);
    assert_eq!(m[1].recovery_s, 2.0);
    let c = cells(&m);
    assert_eq!(c[0], Cell::Float(1.0));
    assert_eq!(c[1], Cell::Float(5.0), "the longest recovery");
    assert_eq!(c[4], Cell::Float(26.0), "wasted work sums over triggers");
    assert_eq!(worst(&m).map(|t| t.label.as_str()), Some("t0"));
}
