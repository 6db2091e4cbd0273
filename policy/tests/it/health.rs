//! Decision-script tests of active health checks (with Envoy's interval and
//! initial jitter) and outlier ejection, a property test that ejection
//! respects `max_ejection_percent`.

use headroom_policy::balance::EndpointId;
use headroom_policy::breaker::Outcome;
use headroom_policy::health::{
    ActiveHealthChecker, CheckEvent, CheckResult, Health, HealthCheckConfig, OutlierConfig,
    OutlierDetector, OutlierEvent,
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
        ..HealthCheckConfig::default()
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

/// A checker with Envoy's jitters: interval 10 s, `interval_jitter_percent`
/// 10 (up to 1 s more), `interval_jitter` 500 ms, `initial_jitter` 2 s.
fn jittered() -> ActiveHealthChecker {
    let spec = HealthCheckConfig {
        interval_jitter: Span::from_millis(500),
        interval_jitter_percent: 10,
        initial_jitter: Span::from_secs(2),
        ..HealthCheckConfig::default()
    }
    .validate()
    .expect("valid");
    ActiveHealthChecker::new(&spec)
}

#[test]
fn interval_jitter_adds_both_of_envoys_jitters_from_the_rng() {
    let mut rng = Pcg64::seed_from_u64(17);
    let mut c = jittered();
    c.add_endpoint_with_rng(at(0), id(0), &mut rng)
        .expect("room");
    // The first check waits a whole number of ms below initial_jitter.
    let first = c.poll_timeout().expect("scheduled");
    assert!(
        first < at(2) && first.as_nanos().is_multiple_of(1_000_000),
        "{first}"
    );
    let mut events = Vec::new();
    c.handle_timeout_with_rng(first, &mut rng, &mut events);
    assert_eq!(events, [CheckEvent::Probe(id(0))]);
    // Next checks: result + 10 s + U[0, 1 s) + U[0, 500 ms), whole ms.
    let mut now = first;
    let mut extras = std::collections::BTreeSet::new();
    for _ in 0..200 {
        now += Span::from_millis(3);
        let _ = c.handle_check_result_with_rng(now, id(0), CheckResult::Passed, &mut rng);
        let next = c.poll_timeout().expect("scheduled");
        let extra = next.saturating_since(now + Span::from_secs(10));
        assert!(extra < Span::from_millis(1_499), "{extra}");
        assert!(extra.as_nanos().is_multiple_of(1_000_000));
        extras.insert(extra);
        events.clear();
        c.handle_timeout_with_rng(next, &mut rng, &mut events);
        now = next;
    }
    // Sum of two uniforms: spread over most of the range.
    assert!(extras.len() > 150, "{}", extras.len());
    assert!(extras.iter().any(|&e| e > Span::from_millis(1_200)));
    assert!(extras.iter().any(|&e| e < Span::from_millis(300)));
}

#[test]
fn without_an_rng_there_is_no_jitter_and_seeds_reproduce_schedules() {
    let mut c = jittered();
    c.add_endpoint(at(0), id(0)).expect("room");
    assert_eq!(c.poll_timeout(), Some(at(0)));
    let _ = fire(&mut c, at(0));
    let _ = c.handle_check_result(at(1), id(0), CheckResult::Passed);
    assert_eq!(c.poll_timeout(), Some(at(11)));
    let schedule = |seed: u64| {
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut c = jittered();
        for i in 0..5 {
            c.add_endpoint_with_rng(at(0), id(i), &mut rng)
                .expect("room");
        }
        let mut times = Vec::new();
        let mut events = Vec::new();
        while let Some(t) = c.poll_timeout() {
            if t > at(60) {
                break;
            }
            events.clear();
            c.handle_timeout_with_rng(t, &mut rng, &mut events);
            for e in &events {
                if let CheckEvent::Probe(p) = e {
                    let _ = c.handle_check_result_with_rng(t, *p, CheckResult::Passed, &mut rng);
                }
            }
            times.push(t);
        }
        times
    };
    assert_eq!(schedule(3), schedule(3));
    assert_ne!(schedule(3), schedule(4));
}

#[test]
fn jitter_percent_is_bounded_with_the_full_key() {
    #[derive(serde::Deserialize)]
    struct Doc {
        policy: headroom_policy::PolicyConfig,
    }
    let doc: Doc =
        toml::from_str("[policy.load_balancer]\nhealth_check = { interval_jitter_percent = 1001 }")
            .expect("parses");
    let err = doc.policy.validate().expect_err("invalid");
    assert_eq!(
        err.key(),
        "policy.load_balancer.health_check.interval_jitter_percent"
    );
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

// --- Properties ---------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

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
