//! Decision-script tests of active health checks, outlier ejection and
//! priority failover (Envoy's documented tables and `LoadBalancerBaseTest`
//! vectors), property tests of the load and ejection invariants, and the
//! `[policy.failover]` table.

use headroom_policy::balance::EndpointId;
use headroom_policy::breaker::Outcome;
use headroom_policy::health::{
    ActiveHealthChecker, CheckEvent, CheckResult, Failover, FailoverConfig, Health,
    HealthCheckConfig, OutlierConfig, OutlierDetector, OutlierEvent, PriorityHealth,
    priority_loads,
};
use headroom_policy::time::{Span, Timestamp};
use proptest::prelude::*;
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

fn at(secs: u64) -> Timestamp {
    Timestamp::ZERO + Span::from_secs(secs)
}

fn at_ms(ms: u64) -> Timestamp {
    Timestamp::ZERO + Span::from_millis(ms)
}

fn id(i: u32) -> EndpointId {
    EndpointId::new(i, 0)
}

// --- Active health checks -----------------------------------------------------

fn checker(healthy: u32, unhealthy: u32, initial: Health) -> ActiveHealthChecker {
    let spec = HealthCheckConfig {
        interval: Span::from_secs(10),
        timeout: Span::from_secs(5),
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
        initial_state: initial,
    }
    .validate()
    .expect("valid");
    ActiveHealthChecker::new(&spec)
}

/// Fires the checker's timers up to `now` and returns the events.
fn fire(c: &mut ActiveHealthChecker, now: Timestamp) -> Vec<CheckEvent> {
    let mut events = Vec::new();
    c.handle_timeout(now, &mut events);
    events
}

#[test]
fn first_passing_check_makes_a_new_endpoint_healthy_at_once() {
    let mut c = checker(3, 3, Health::Unhealthy);
    c.add_endpoint(at(0), id(0)).expect("room");
    assert_eq!(c.health(id(0)), Some(Health::Unhealthy));
    assert_eq!(c.poll_timeout(), Some(at(0)));
    assert_eq!(fire(&mut c, at(0)), [CheckEvent::Probe(id(0))]);
    // While the check is out, the next timer is its deadline.
    assert_eq!(c.poll_timeout(), Some(at(5)));
    assert_eq!(
        c.handle_check_result(at_ms(20), id(0), CheckResult::Passed),
        Some(Health::Healthy)
    );
    // Next check `interval` after the result.
    assert_eq!(c.poll_timeout(), Some(at_ms(10_020)));
}

#[test]
fn failed_first_check_then_needs_healthy_threshold_passes() {
    let mut c = checker(2, 3, Health::Unhealthy);
    c.add_endpoint(at(0), id(0)).expect("room");
    let _ = fire(&mut c, at(0));
    assert_eq!(
        c.handle_check_result(at(1), id(0), CheckResult::Failed),
        None
    );
    let mut now = at(11);
    assert_eq!(c.poll_timeout(), Some(now));
    assert_eq!(fire(&mut c, now), [CheckEvent::Probe(id(0))]);
    assert_eq!(c.handle_check_result(now, id(0), CheckResult::Passed), None);
    now += Span::from_secs(10);
    let _ = fire(&mut c, now);
    assert_eq!(
        c.handle_check_result(now, id(0), CheckResult::Passed),
        Some(Health::Healthy)
    );
}

#[test]
fn unhealthy_after_threshold_failures_and_immediately_on_an_unhealthy_answer() {
    let mut c = checker(1, 3, Health::Healthy);
    c.add_endpoint(at(0), id(0)).expect("room");
    let mut now = at(0);
    let check = |c: &mut ActiveHealthChecker, now: Timestamp, r: CheckResult| {
        assert_eq!(fire(c, now), [CheckEvent::Probe(id(0))]);
        c.handle_check_result(now, id(0), r)
    };
    assert_eq!(check(&mut c, now, CheckResult::Failed), None);
    now += Span::from_secs(10);
    assert_eq!(check(&mut c, now, CheckResult::TimedOut), None);
    now += Span::from_secs(10);
    // A pass in between restarts the run.
    assert_eq!(check(&mut c, now, CheckResult::Passed), None);
    for _ in 0..2 {
        now += Span::from_secs(10);
        assert_eq!(check(&mut c, now, CheckResult::Failed), None);
    }
    now += Span::from_secs(10);
    assert_eq!(
        check(&mut c, now, CheckResult::Failed),
        Some(Health::Unhealthy)
    );
    // Back to healthy with one pass (healthy_threshold 1).
    now += Span::from_secs(10);
    assert_eq!(
        check(&mut c, now, CheckResult::Passed),
        Some(Health::Healthy)
    );
    // An "unhealthy" answer ignores the threshold.
    now += Span::from_secs(10);
    assert_eq!(
        check(&mut c, now, CheckResult::Unhealthy),
        Some(Health::Unhealthy)
    );
}

#[test]
fn a_check_without_result_times_out_and_late_results_are_ignored() {
    let mut c = checker(1, 1, Health::Healthy);
    c.add_endpoint(at(0), id(0)).expect("room");
    assert_eq!(fire(&mut c, at(0)), [CheckEvent::Probe(id(0))]);
    assert_eq!(fire(&mut c, at(4)), []);
    assert_eq!(
        fire(&mut c, at(5)),
        [CheckEvent::Changed(id(0), Health::Unhealthy)]
    );
    assert_eq!(
        c.handle_check_result(at(6), id(0), CheckResult::Passed),
        None
    );
    assert_eq!(c.health(id(0)), Some(Health::Unhealthy));
    // Next check 10 s after the timeout.
    assert_eq!(c.poll_timeout(), Some(at(15)));
}

#[test]
fn checks_are_scheduled_per_endpoint_and_stop_on_removal() {
    let mut c = checker(1, 3, Health::Unhealthy);
    c.add_endpoint(at(0), id(1)).expect("room");
    c.add_endpoint(at(0), id(0)).expect("room");
    c.add_endpoint(at(3), id(2)).expect("room");
    // Same due time: slot order.
    assert_eq!(
        fire(&mut c, at(0)),
        [CheckEvent::Probe(id(0)), CheckEvent::Probe(id(1))]
    );
    let _ = c.handle_check_result(at(1), id(0), CheckResult::Passed);
    let _ = c.handle_check_result(at(2), id(1), CheckResult::Passed);
    assert_eq!(fire(&mut c, at(3)), [CheckEvent::Probe(id(2))]);
    assert!(c.remove_endpoint(id(2)));
    assert!(!c.remove_endpoint(id(2)));
    assert_eq!(c.endpoint_count(), 2);
    assert_eq!(c.poll_timeout(), Some(at(11)));
    assert_eq!(
        fire(&mut c, at(12)),
        [CheckEvent::Probe(id(0)), CheckEvent::Probe(id(1))]
    );
    // A stale generation is ignored.
    assert_eq!(
        c.handle_check_result(at(12), EndpointId::new(0, 1), CheckResult::Failed),
        None
    );
}

#[test]
fn re_adding_slots_under_churn_keeps_one_target_per_slot() {
    let mut c = checker(1, 3, Health::Healthy);
    let mut now = at(0);
    for round in 0..2_000u32 {
        let target = EndpointId::new(round % 4, round / 4);
        c.add_endpoint(now, target).expect("room");
        for event in fire(&mut c, now) {
            if let CheckEvent::Probe(p) = event {
                let _ = c.handle_check_result(now, p, CheckResult::Passed);
            }
        }
        now += Span::from_millis(700);
    }
    assert_eq!(c.endpoint_count(), 4);
    // Only the latest generation of each slot is known.
    assert_eq!(c.health(EndpointId::new(0, 0)), None);
    assert_eq!(c.health(EndpointId::new(3, 499)), Some(Health::Healthy));
    assert!(c.poll_timeout().is_some());
}

// --- Outlier detection --------------------------------------------------------

fn detector(hosts: u32, max_percent: u32) -> OutlierDetector {
    let spec = OutlierConfig {
        max_ejection_percent: max_percent,
        ..OutlierConfig::default()
    }
    .validate()
    .expect("valid");
    let mut d = OutlierDetector::new(&spec, at(0));
    for i in 0..hosts {
        d.add_endpoint(id(i)).expect("room");
    }
    d
}

fn fail(d: &mut OutlierDetector, now: Timestamp, host: u32, n: u32) -> Option<OutlierEvent> {
    let mut last = None;
    for _ in 0..n {
        last = d.handle_response(now, id(host), Outcome::Failure);
    }
    last
}

fn sweep(d: &mut OutlierDetector, now: Timestamp) -> Vec<OutlierEvent> {
    let mut events = Vec::new();
    d.handle_timeout(now, &mut events);
    events
}

#[test]
fn fifth_consecutive_failure_ejects() {
    let mut d = detector(10, 10);
    assert_eq!(fail(&mut d, at(1), 0, 4), None);
    assert_eq!(d.handle_response(at(1), id(0), Outcome::Success), None);
    assert_eq!(fail(&mut d, at(1), 0, 4), None);
    assert_eq!(
        d.handle_response(at(2), id(0), Outcome::Failure),
        Some(OutlierEvent::Ejected(id(0)))
    );
    assert!(d.is_ejected(id(0)));
    assert_eq!(d.ejected_count(), 1);
    assert_eq!(d.multiplier(id(0)), Some(1));
    // Ignored responses change nothing.
    assert_eq!(d.handle_response(at(2), id(1), Outcome::Ignored), None);
}

#[test]
fn max_ejection_percent_is_a_true_limit_after_the_ejection() {
    // 10 hosts at 10 %: one ejection, the next would be 20 %.
    let mut d = detector(10, 10);
    assert!(fail(&mut d, at(1), 0, 5).is_some());
    assert_eq!(fail(&mut d, at(1), 1, 5), None);
    assert!(!d.is_ejected(id(1)));
    assert_eq!(d.overflow_count(), 1);
    // 5 hosts at 10 %: even the first would be 20 %.
    let mut d = detector(5, 10);
    assert_eq!(fail(&mut d, at(1), 0, 5), None);
    // Envoy #27066: 3 hosts at 67 % may lose 2 (66.7 %), never all 3.
    let mut d = detector(3, 67);
    assert!(fail(&mut d, at(1), 0, 5).is_some());
    assert!(fail(&mut d, at(1), 1, 5).is_some());
    assert_eq!(fail(&mut d, at(1), 2, 5), None);
    assert_eq!(d.ejected_count(), 2);
}

#[test]
fn always_eject_one_host_overrides_the_percentage_once() {
    let spec = OutlierConfig {
        always_eject_one_host: true,
        ..OutlierConfig::default()
    }
    .validate()
    .expect("valid");
    let mut d = OutlierDetector::new(&spec, at(0));
    for i in 0..3 {
        d.add_endpoint(id(i)).expect("room");
    }
    assert!(fail(&mut d, at(1), 0, 5).is_some());
    assert_eq!(fail(&mut d, at(1), 1, 5), None);
}

#[test]
fn ejection_ends_on_the_first_sweep_after_base_time() {
    let mut d = detector(10, 10);
    assert!(fail(&mut d, at(3), 0, 5).is_some());
    // Sweeps every 10 s from creation: 27 s elapsed at 30 s, 37 s at 40 s.
    for s in [10, 20, 30] {
        assert_eq!(d.poll_timeout(), Some(at(s)));
        assert_eq!(sweep(&mut d, at(s)), []);
    }
    assert_eq!(sweep(&mut d, at(40)), [OutlierEvent::Unejected(id(0))]);
    assert!(!d.is_ejected(id(0)));
    assert_eq!(d.ejected_count(), 0);
}

#[test]
fn repeated_ejections_grow_then_decay_the_ejection_time() {
    let mut d = detector(10, 10);
    // First ejection at 0 s: back at the 30 s sweep.
    assert!(fail(&mut d, at(0), 0, 5).is_some());
    for s in [10, 20] {
        assert_eq!(sweep(&mut d, at(s)), []);
    }
    assert_eq!(sweep(&mut d, at(30)), [OutlierEvent::Unejected(id(0))]);
    // Ejected again at 31 s with multiplier 2: 60 s, back at the 100 s sweep.
    assert!(fail(&mut d, at(31), 0, 5).is_some());
    assert_eq!(d.multiplier(id(0)), Some(2));
    for s in [40, 50, 60, 70, 80, 90] {
        assert_eq!(sweep(&mut d, at(s)), [], "sweep at {s}");
    }
    assert_eq!(sweep(&mut d, at(100)), [OutlierEvent::Unejected(id(0))]);
    // Healthy for one interval: 2 → 1 at 110 s, 1 → 0 at 120 s.
    assert_eq!(d.multiplier(id(0)), Some(2));
    let _ = sweep(&mut d, at(110));
    assert_eq!(d.multiplier(id(0)), Some(1));
    let _ = sweep(&mut d, at(120));
    assert_eq!(d.multiplier(id(0)), Some(0));
    assert_eq!(d.ejections(id(0)), Some(2));
}

#[test]
fn ejection_time_is_capped_at_max_ejection_time() {
    let spec = OutlierConfig {
        max_ejection_percent: 100,
        base_ejection_time: Span::from_secs(30),
        max_ejection_time: Some(Span::from_secs(100)),
        interval: Span::from_secs(1),
        ..OutlierConfig::default()
    }
    .validate()
    .expect("valid");
    let mut d = OutlierDetector::new(&spec, at(0));
    d.add_endpoint(id(0)).expect("room");
    let mut now = at(0);
    let mut durations = Vec::new();
    for _ in 0..6 {
        assert!(fail(&mut d, now, 0, 5).is_some());
        let ejected_at = now;
        loop {
            now += Span::from_secs(1);
            if !sweep(&mut d, now).is_empty() {
                break;
            }
        }
        durations.push((now - ejected_at).as_nanos() / 1_000_000_000);
    }
    // Multiplier 1, 2, 3, 4 (capped at 100 s), then it stops growing once
    // multiplier × base >= max + base.
    assert_eq!(durations, [30, 60, 90, 100, 100, 100]);
    assert_eq!(d.multiplier(id(0)), Some(5));
}

#[test]
fn passing_active_check_unejects_and_removal_frees_the_quota() {
    let mut d = detector(10, 10);
    assert!(fail(&mut d, at(1), 0, 5).is_some());
    assert_eq!(
        d.handle_check_passed(at(2), id(0)),
        Some(OutlierEvent::Unejected(id(0)))
    );
    assert_eq!(d.handle_check_passed(at(2), id(0)), None);
    assert!(fail(&mut d, at(3), 1, 5).is_some());
    assert!(d.remove_endpoint(id(1)));
    assert_eq!(d.ejected_count(), 0);
    // 9 hosts left: 100 × 1 / 9 > 10 %, so no ejection now.
    assert_eq!(fail(&mut d, at(4), 2, 5), None);
    // Disabled un-ejection on passing checks.
    let spec = OutlierConfig {
        max_ejection_percent: 100,
        successful_active_health_check_uneject_host: false,
        ..OutlierConfig::default()
    }
    .validate()
    .expect("valid");
    let mut d = OutlierDetector::new(&spec, at(0));
    d.add_endpoint(id(0)).expect("room");
    assert!(fail(&mut d, at(1), 0, 5).is_some());
    assert_eq!(d.handle_check_passed(at(2), id(0)), None);
    assert!(d.is_ejected(id(0)));
}

// --- Priority failover ----------------------------------------------------------

/// Loads and panic flags with the default factor 1.4 and panic threshold 50 %.
fn loads(levels: &[(u32, u32)]) -> (Vec<u32>, Vec<bool>) {
    loads_with(levels, 50)
}

fn loads_with(levels: &[(u32, u32)], panic_threshold_pct: u32) -> (Vec<u32>, Vec<bool>) {
    let levels: Vec<PriorityHealth> = levels
        .iter()
        .map(|&(h, t)| PriorityHealth::new(h, t))
        .collect();
    let l = priority_loads(&levels, 140, panic_threshold_pct);
    (l.load().to_vec(), l.panic().to_vec())
}

#[test]
fn envoy_docs_two_levels_p1_fully_healthy() {
    // priority.rst: P=0 healthy % → load to P=0 / P=1 (P=1 100 % healthy).
    let table = [
        (100, 100, 0),
        (72, 100, 0),
        (71, 99, 1),
        (50, 70, 30),
        (25, 35, 65),
        (0, 0, 100),
    ];
    for (healthy, p0, p1) in table {
        let (load, panic) = loads(&[(healthy, 100), (100, 100)]);
        assert_eq!(load, [p0, p1], "P0 {healthy} % healthy");
        assert_eq!(panic, [false, false]);
    }
}

#[test]
fn p0_keeps_everything_until_below_71_4_percent_healthy() {
    // 5 of 7 = 71.43 % → 140 × 5 / 7 = 100.
    assert_eq!(loads(&[(5, 7), (7, 7)]).0, [100, 0]);
    assert_eq!(loads(&[(714, 1000), (10, 10)]).0, [99, 1]);
    assert_eq!(loads(&[(715, 1000), (10, 10)]).0, [100, 0]);
}

#[test]
fn envoy_docs_two_levels_both_degrading() {
    let table = [
        ((100, 100), 100, 0),
        ((72, 72), 100, 0),
        ((71, 71), 99, 1),
        ((50, 50), 70, 30),
        ((25, 100), 35, 65),
        ((25, 25), 50, 50),
    ];
    for ((h0, h1), p0, p1) in table {
        assert_eq!(loads(&[(h0, 100), (h1, 100)]).0, [p0, p1], "{h0}/{h1}");
    }
}

#[test]
fn envoy_docs_three_levels() {
    // The priority.rst tables leave panic aside: compare with panic disabled.
    let table = [
        ((100, 100, 100), [100, 0, 0]),
        ((72, 72, 100), [100, 0, 0]),
        ((71, 71, 100), [99, 1, 0]),
        ((50, 50, 100), [70, 30, 0]),
        ((25, 100, 100), [35, 65, 0]),
        ((25, 25, 100), [35, 35, 30]),
        // The docs table prints 36/36/28; Envoy's integer code gives 37/35/28
        // (35·100/98 = 35, 28·100/98 = 28, remainder 2 to P=0).
        ((25, 25, 20), [37, 35, 28]),
    ];
    for ((a, b, c), expected) in table {
        assert_eq!(
            loads_with(&[(a, 100), (b, 100), (c, 100)], 0).0,
            expected,
            "{a}/{b}/{c}"
        );
    }
    // With the default 50 % panic threshold the last row is a total panic
    // (every level below 50 % healthy, normalized health 98 < 100): loads
    // follow endpoint counts instead.
    assert_eq!(
        loads(&[(25, 100), (25, 100), (20, 100)]),
        (vec![34, 33, 33], vec![true, true, true])
    );
}

/// Per-priority (healthy, total), expected loads, expected panic flags.
type Case<'a, P> = (&'a [(u32, u32)], &'a [u32], P);

#[test]
fn envoy_unit_test_gentle_failover() {
    // LoadBalancerBaseTest.GentleFailover (without excluded hosts).
    let cases: [Case<'_, &[bool]>; 4] = [
        (&[(1, 1), (1, 1)], &[100, 0], &[false, false]),
        (&[(1, 2), (1, 2)], &[70, 30], &[false, false]),
        (&[(1, 4), (2, 2)], &[35, 65], &[false, false]),
        (&[(1, 4), (1, 4)], &[50, 50], &[true, true]),
    ];
    for (levels, load, panic) in cases {
        assert_eq!(loads(levels), (load.to_vec(), panic.to_vec()), "{levels:?}");
    }
}

#[test]
fn envoy_unit_test_gentle_failover_with_extra_levels() {
    let cases: [Case<'_, Option<&[bool]>>; 10] = [
        (
            &[(1, 1), (1, 1), (1, 1)],
            &[100, 0, 0],
            Some(&[false, false, false]),
        ),
        (&[(1, 2), (1, 2), (1, 2)], &[70, 30, 0], None),
        (&[(1, 4), (2, 2), (1, 2)], &[35, 65, 0], None),
        (&[(1, 4), (1, 4), (1, 4)], &[35, 35, 30], None),
        (
            &[(1, 5), (1, 5), (1, 5)],
            &[34, 33, 33],
            Some(&[true, true, true]),
        ),
        (
            &[(0, 5), (0, 5), (5, 5)],
            &[0, 0, 100],
            Some(&[false, false, false]),
        ),
        (
            &[(0, 5), (0, 5), (4, 5)],
            &[0, 0, 100],
            Some(&[false, false, false]),
        ),
        (
            &[(0, 5), (0, 5), (2, 5)],
            &[34, 33, 33],
            Some(&[true, true, true]),
        ),
        (
            &[(0, 5), (0, 3), (0, 2)],
            &[50, 30, 20],
            Some(&[true, true, true]),
        ),
        (
            &[(0, 5), (2, 6), (1, 3)],
            &[37, 42, 21],
            Some(&[true, true, true]),
        ),
    ];
    for (levels, load, panic) in cases {
        let (got_load, got_panic) = loads(levels);
        assert_eq!(got_load, load, "{levels:?}");
        if let Some(panic) = panic {
            assert_eq!(got_panic, panic, "{levels:?}");
        }
    }
    // Rounding goes to the first non-empty priority in total panic.
    assert_eq!(
        loads(&[(0, 0), (0, 6), (0, 3)]),
        (vec![0, 67, 33], vec![true, true, true])
    );
    assert_eq!(loads(&[(0, 3), (0, 3), (0, 3)]).0, [34, 33, 33]);
}

#[test]
fn panic_threshold_zero_sends_everything_to_p0_without_panic() {
    let levels = [PriorityHealth::new(0, 5), PriorityHealth::new(0, 5)];
    let l = priority_loads(&levels, 140, 0);
    assert_eq!(l.load(), [100, 0]);
    assert_eq!(l.panic(), [false, false]);
    assert!(!l.is_total_panic());
    // No endpoints anywhere: P=0 takes the (empty) load.
    let l = priority_loads(&[PriorityHealth::new(0, 0); 3], 140, 50);
    assert_eq!(l.load(), [100, 0, 0]);
    assert!(l.is_total_panic());
}

#[test]
fn overprovisioning_factor_one_is_proportional() {
    // LoadBalancerBaseTest.OverProvisioningFactor.
    let levels = [PriorityHealth::new(2, 4), PriorityHealth::new(2, 4)];
    assert_eq!(priority_loads(&levels, 140, 50).load(), [70, 30]);
    assert_eq!(priority_loads(&levels, 100, 50).load(), [50, 50]);
}

#[test]
fn choose_follows_cumulative_percentages() {
    let spec = FailoverConfig {
        order: vec!["us-east".into(), "us-west".into()],
        ..FailoverConfig::default()
    }
    .validate()
    .expect("valid");
    let mut f = Failover::new(&spec);
    assert!(f.set_health(0, PriorityHealth::new(1, 2)));
    assert!(f.set_health(1, PriorityHealth::new(2, 2)));
    assert!(!f.set_health(1, PriorityHealth::new(2, 2)));
    assert!(!f.set_health(7, PriorityHealth::new(2, 2)));
    assert_eq!(f.loads().load(), [70, 30]);
    // draw % 100 + 1 in 1..=70 → P0, 71..=100 → P1.
    assert_eq!(f.choose_with(0).priority, 0);
    assert_eq!(f.choose_with(69).priority, 0);
    assert_eq!(f.choose_with(70).priority, 1);
    assert_eq!(f.choose_with(99).priority, 1);
    assert_eq!(f.choose_with(169).priority, 0);
    let mut rng = Pcg64::seed_from_u64(3);
    let p0 = (0..10_000)
        .filter(|_| f.choose(&mut rng).priority == 0)
        .count();
    assert!((6_800..=7_200).contains(&p0), "{p0}");
    // Panic flags travel with the choice.
    f.set_health(0, PriorityHealth::new(1, 4));
    f.set_health(1, PriorityHealth::new(1, 4));
    let choice = f.choose_with(0);
    assert!(choice.panic);
    assert_eq!(spec.priority_of("us-west"), Some(1));
    assert_eq!(spec.priority_of("eu-west"), None);
}

// --- Properties ---------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Loads always sum to 100; with full normalized health nothing panics;
    /// outside total panic a priority with no healthy endpoint gets nothing.
    #[test]
    fn priority_loads_sum_to_100(
        levels in prop::collection::vec((0u32..50, 0u32..50), 1..8),
        op in prop::sample::select(vec![100u32, 120, 140, 200]),
        panic in 0u32..=100,
    ) {
        let levels: Vec<PriorityHealth> = levels
            .into_iter()
            .map(|(h, t)| PriorityHealth::new(h.min(t), t))
            .collect();
        let l = priority_loads(&levels, op, panic);
        prop_assert_eq!(l.load().iter().sum::<u32>(), 100);
        let health: Vec<u64> = levels
            .iter()
            .map(|p| if p.total == 0 { 0 } else {
                (u64::from(op) * u64::from(p.healthy) / u64::from(p.total)).min(100)
            })
            .collect();
        if health.iter().sum::<u64>() >= 100 {
            prop_assert!(l.panic().iter().all(|&p| !p));
        }
        if !l.is_total_panic() && health.iter().any(|&h| h > 0) {
            for (i, h) in health.iter().enumerate() {
                if *h == 0 {
                    prop_assert_eq!(l.load()[i], 0);
                }
            }
        }
    }

    /// Outlier ejection never exceeds `max_ejection_percent` of the endpoints.
    #[test]
    fn ejections_respect_max_percent(
        hosts in 1u32..30,
        max_percent in 0u32..=100,
        responses in prop::collection::vec((any::<u32>(), 0u8..4, 0u16..5_000), 1..600),
    ) {
        let mut d = detector(hosts, max_percent);
        let mut now = at(0);
        let mut events = Vec::new();
        for (host, kind, dt) in responses {
            now += Span::from_millis(u64::from(dt));
            if d.poll_timeout().is_some_and(|t| t <= now) {
                d.handle_timeout(now, &mut events);
            }
            // Failures are three times as likely as successes.
            let outcome = if kind == 0 { Outcome::Success } else { Outcome::Failure };
            let _ = d.handle_response(now, id(host % hosts), outcome);
            let ejected = (0..hosts).filter(|&h| d.is_ejected(id(h))).count();
            prop_assert_eq!(ejected, d.ejected_count());
            prop_assert!(100 * ejected <= (max_percent * hosts) as usize);
        }
    }
}

// --- Configuration ------------------------------------------------------------

#[cfg(feature = "serde")]
mod config {
    use super::*;

    fn table(src: &str) -> Result<FailoverConfig, String> {
        let doc: toml::Table = toml::from_str(src).map_err(|e| e.to_string())?;
        let f = doc
            .get("policy")
            .and_then(|p| p.get("failover"))
            .cloned()
            .ok_or("no [policy.failover]")?;
        f.try_into().map_err(|e: toml::de::Error| e.to_string())
    }

    #[test]
    fn reference_table_parses() {
        let spec = table(
            r#"
            [policy.failover]
            order = ["us-east", "us-west", "eu-west", "ap-south"]

            [policy.failover.health_check]
            interval = "30s"
            "#,
        )
        .expect("parses")
        .validate()
        .expect("valid");
        assert_eq!(spec.order.len(), 4);
        assert_eq!(spec.overprovisioning_pct, 140);
        assert_eq!(spec.panic_threshold_pct, 50);
        let hc = spec.health_check.clone().expect("set");
        assert_eq!(hc.interval, Span::from_secs(30));
        assert_eq!(hc.timeout, Span::from_secs(5));
        let f = Failover::new(&spec);
        assert_eq!(f.loads().load(), [100, 0, 0, 0]);
        assert!(f.loads().is_total_panic());
    }

    #[test]
    fn bad_values_name_key_value_and_range() {
        let cases = [
            ("order = []", "order", "[]", "1..=64"),
            (
                "order = [\"a\", \"a\"]",
                "order[1]",
                "\"a\"",
                "not listed before",
            ),
            ("order = [\"\"]", "order[0]", "\"\"", "non-empty"),
            (
                "order = [\"a\"]\noverprovisioning_factor = 0.5",
                "overprovisioning_factor",
                "0.5",
                "1.0..=100.0",
            ),
            (
                "order = [\"a\"]\noverprovisioning_factor = 1.405",
                "overprovisioning_factor",
                "1.405",
                "two decimals",
            ),
            (
                "order = [\"a\"]\npanic_threshold = 1.5",
                "panic_threshold",
                "1.5",
                "0..=1",
            ),
            (
                "order = [\"a\"]\n[policy.failover.health_check]\ntimeout = \"0s\"",
                "health_check.timeout",
                "\"0s\"",
                "greater than zero",
            ),
        ];
        for (src, key, value, expected) in cases {
            let err = table(&format!("[policy.failover]\n{src}\n"))
                .expect("parses")
                .validate()
                .expect_err("invalid")
                .within("policy.failover");
            assert_eq!(err.key(), format!("policy.failover.{key}"), "{src}");
            assert_eq!(err.value(), value, "{src}");
            assert!(
                err.expected().contains(expected),
                "{src}: {}",
                err.expected()
            );
        }
        let err = table("[policy.failover]\norder = [\"a\"]\nregions = 2\n").expect_err("unknown");
        assert!(err.contains("regions"), "{err}");
        let err = table("[policy.failover]\norder = [\"a\"]\n[policy.failover.health_check]\ninitial_state = \"sick\"\n")
            .expect_err("bad state");
        assert!(err.contains("healthy"), "{err}");
    }
}
