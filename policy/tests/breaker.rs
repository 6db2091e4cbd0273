//! Decision-script tests of the circuit breaker: the resilience4j
//! `CircuitBreakerStateMachineTest` sequences (validation anchors), Linkerd's
//! consecutive-failures `transitions` test, state-time accounting, property
//! tests of the admission invariants, and the config table.

use headroom_policy::breaker::{
    Breaker, BreakerConfig, BreakerMetrics, BreakerSpec, BreakerState, Decision, Mode, Outcome,
    Transition, WindowSize, WindowType,
};
use headroom_policy::time::{Span, Timestamp};
use proptest::prelude::*;
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

use BreakerState::{Closed, Disabled, ForcedOpen, HalfOpen, MetricsOnly, Open};
use Outcome::{Failure, Ignored, Success};

/// An arbitrary instant well past the epoch, like resilience4j's MockClock.
fn t0() -> Timestamp {
    Timestamp::ZERO + Span::from_secs(1_000)
}

fn secs(s: u64) -> Span {
    Span::from_secs(s)
}

fn ms(m: u64) -> Span {
    Span::from_millis(m)
}

fn rng() -> Pcg64 {
    Pcg64::seed_from_u64(42)
}

/// The anchor configuration: failureRateThreshold 50, permittedNumberOfCalls
/// InHalfOpenState 4, slowCallDurationThreshold 4 s, slowCallRateThreshold 50,
/// slidingWindow(5, 5, TIME_BASED), waitDurationInOpenState 5 s.
fn anchor_config() -> BreakerConfig {
    BreakerConfig {
        window_type: Some(WindowType::Time),
        window: Some(WindowSize::Duration(secs(5))),
        minimum_calls: Some(5),
        failure_rate_threshold: Some(0.5),
        slow_call_rate_threshold: Some(0.5),
        slow_call_duration: Some(secs(4)),
        half_open_calls: Some(4),
        open_duration: Some(secs(5)),
        ..BreakerConfig::default()
    }
}

fn anchor() -> BreakerSpec {
    anchor_config().validate().expect("anchor config is valid")
}

/// resilience4j's `assertCircuitBreakerMetricsEqualTo(failureRate, successful,
/// buffered, failed, notPermitted)`, with the rate as a fraction.
fn tuple(b: &Breaker, now: Timestamp) -> (Option<f64>, u64, u64, u64, u64) {
    let m: BreakerMetrics = b.metrics(now);
    (
        m.failure_rate,
        m.successful_calls,
        m.buffered_calls,
        m.failed_calls,
        m.not_permitted_calls,
    )
}

/// A decision as one letter, for compact scripts: A(dmit), R(eject), P(robe).
fn letter(d: Decision) -> char {
    match d {
        Decision::Admit => 'A',
        Decision::Reject => 'R',
        Decision::Probe(_) => 'P',
    }
}

/// One call: ask, and if permitted report `outcome` after `duration`.
fn call(b: &mut Breaker, now: Timestamp, outcome: Outcome, duration: Span) -> Decision {
    let d = b.handle_request(now);
    if d.is_permitted() {
        let _ = b.handle_outcome(now, d, outcome, duration, &mut rng());
    }
    d
}

/// Opens then half-opens a fresh anchor breaker by manual transitions, as the
/// resilience4j tests do.
fn half_open_anchor(now: Timestamp) -> Breaker {
    let mut b = Breaker::new(&anchor(), now);
    b.transition_to(now, Open, &mut rng())
        .expect("closed → open");
    b.transition_to(now, HalfOpen, &mut rng())
        .expect("open → half-open");
    b
}

#[test]
fn r4j_opens_after_failure_rate_threshold_exceeded() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    assert_eq!(b.handle_request(now), Decision::Admit);
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
    let steps = [
        (Failure, (None, 0, 1, 1, 0)),
        (Failure, (None, 0, 2, 2, 0)),
        (Failure, (None, 0, 3, 3, 0)),
        (Success, (None, 1, 4, 3, 0)),
    ];
    for (outcome, expected) in steps {
        assert_eq!(call(&mut b, now, outcome, Span::ZERO), Decision::Admit);
        assert_eq!(b.state(), Closed);
        assert_eq!(tuple(&b, now), expected);
    }
    // Call 5 is a success (reported without asking, as in the Java test).
    let t = b.handle_outcome(now, Decision::Admit, Success, Span::ZERO, &mut rng());
    assert_eq!(
        t,
        Some(Transition {
            at: now,
            from: Closed,
            to: Open
        })
    );
    assert_eq!(b.state(), Open);
    assert_eq!(tuple(&b, now), (Some(0.6), 2, 5, 3, 0));
    assert_eq!(b.handle_request(now), Decision::Reject);
    assert_eq!(tuple(&b, now), (Some(0.6), 2, 5, 3, 1));
}

#[test]
fn r4j_opens_after_slow_call_rate_threshold_exceeded() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    let calls = [
        (Failure, secs(5)),
        (Success, secs(5)),
        (Failure, ms(100)),
        (Success, ms(100)),
    ];
    for (outcome, duration) in calls {
        assert_eq!(call(&mut b, now, outcome, duration), Decision::Admit);
        assert_eq!(b.state(), Closed);
    }
    let _ = b.handle_outcome(now, Decision::Admit, Success, secs(5), &mut rng());
    assert_eq!(b.state(), Open);
    let m = b.metrics(now);
    assert_eq!(m.buffered_calls, 5);
    assert_eq!(m.slow_calls, 3);
    assert_eq!(m.slow_failed_calls, 1);
    assert_eq!(m.slow_call_rate, Some(0.6));
    // Failure rate 2/5 = 40 % alone would not have opened it.
    assert_eq!(m.failure_rate, Some(0.4));
}

#[test]
fn a_call_exactly_at_the_slow_threshold_is_not_slow() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    for _ in 0..5 {
        let _ = call(&mut b, now, Success, secs(4));
    }
    assert_eq!(b.state(), Closed);
    assert_eq!(b.metrics(now).slow_call_rate, Some(0.0));
}

#[test]
fn r4j_transitions_to_half_open_after_wait_duration() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    b.transition_to(now, Open, &mut rng())
        .expect("closed → open");
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
    assert_eq!(b.handle_request(now), Decision::Reject);
    let t3 = now + secs(3);
    assert_eq!(b.state(), Open);
    assert_eq!(b.handle_request(t3), Decision::Reject);
    assert_eq!(tuple(&b, t3), (None, 0, 0, 0, 2));
    let t6 = now + secs(6);
    assert_eq!(letter(b.handle_request(t6)), 'P');
    assert_eq!(b.state(), HalfOpen);
    assert_eq!(tuple(&b, t6), (None, 0, 0, 0, 0));
}

#[test]
fn open_ends_exactly_at_poll_timeout() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    b.transition_to(now, Open, &mut rng())
        .expect("closed → open");
    let end = now + secs(5);
    assert_eq!(b.poll_timeout(), Some(end));
    assert_eq!(
        b.handle_request(end - Span::from_nanos(1)),
        Decision::Reject
    );
    assert_eq!(letter(b.handle_request(end)), 'P');
    assert_eq!(b.poll_timeout(), None);
}

#[test]
fn r4j_exponential_open_interval_5s_then_7_5s() {
    // IntervalFunction.ofExponentialBackoff(5000): multiplier 1.5.
    let spec = BreakerConfig {
        open_duration_multiplier: Some(1.5),
        ..anchor_config()
    }
    .validate()
    .expect("valid");
    let now = t0();
    let mut b = Breaker::new(&spec, now);
    b.transition_to(now, Open, &mut rng())
        .expect("closed → open");
    assert_eq!(b.handle_request(now), Decision::Reject);
    assert_eq!(b.handle_request(now + secs(3)), Decision::Reject);
    let t6 = now + secs(6);
    assert_eq!(letter(b.handle_request(t6)), 'P');
    assert_eq!(b.state(), HalfOpen);
    assert_eq!(tuple(&b, t6), (None, 0, 0, 0, 0));
    // Re-open: the second interval is 7.5 s.
    b.transition_to(t6, Open, &mut rng())
        .expect("half-open → open");
    assert_eq!(b.open_attempts(), 2);
    assert_eq!(b.poll_timeout(), Some(t6 + ms(7_500)));
    assert_eq!(b.handle_request(t6 + secs(6)), Decision::Reject);
    let t17 = t6 + secs(11);
    assert_eq!(letter(b.handle_request(t17)), 'P');
    assert_eq!(b.state(), HalfOpen);
    assert_eq!(tuple(&b, t17), (None, 0, 0, 0, 0));
    // Third: 11.25 s.
    b.transition_to(t17, Open, &mut rng())
        .expect("half-open → open");
    assert_eq!(b.poll_timeout(), Some(t17 + ms(11_250)));
}

#[test]
fn exponential_open_interval_is_capped_and_resets_after_closing() {
    let spec = BreakerConfig {
        open_duration_multiplier: Some(2.0),
        open_duration_max: Some(secs(12)),
        ..anchor_config()
    }
    .validate()
    .expect("valid");
    let mut now = t0();
    let mut b = Breaker::new(&spec, now);
    let mut intervals = Vec::new();
    let mut probe = Decision::Reject;
    for _ in 0..4 {
        b.transition_to(now, Open, &mut rng()).expect("→ open");
        let end = b.poll_timeout().expect("open");
        intervals.push((end - now).as_nanos() / 1_000_000_000);
        now = end;
        probe = b.handle_request(now);
        assert!(probe.is_probe());
    }
    assert_eq!(intervals, [5, 10, 12, 12]);
    // Four successful probes close it; the next opening starts from 5 s.
    for _ in 0..3 {
        assert_eq!(letter(call(&mut b, now, Success, Span::ZERO)), 'P');
    }
    let _ = b.handle_outcome(now, probe, Success, Span::ZERO, &mut rng());
    assert_eq!(b.state(), Closed);
    assert_eq!(b.open_attempts(), 0);
    b.transition_to(now, Open, &mut rng()).expect("→ open");
    assert_eq!(b.poll_timeout(), Some(now + secs(5)));
}

#[test]
fn r4j_half_open_permits_exactly_four_calls() {
    let now = t0();
    let mut b = half_open_anchor(now);
    for _ in 0..2 {
        let got: String = (0..6).map(|_| letter(b.handle_request(now))).collect();
        assert_eq!(got, "PPPPRR");
        assert_eq!(b.metrics(now).not_permitted_calls, 2);
        b.transition_to(now, Open, &mut rng()).expect("→ open");
        b.transition_to(now, HalfOpen, &mut rng())
            .expect("→ half-open");
    }
}

#[test]
fn r4j_half_open_back_to_open_when_failure_rate_above_threshold() {
    let now = t0();
    let mut b = half_open_anchor(now);
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
    for outcome in [Failure, Failure, Success] {
        assert_eq!(letter(call(&mut b, now, outcome, Span::ZERO)), 'P');
        assert_eq!(b.state(), HalfOpen);
    }
    assert_eq!(letter(call(&mut b, now, Failure, Span::ZERO)), 'P');
    assert_eq!(b.state(), Open);
    assert_eq!(tuple(&b, now), (Some(0.75), 1, 4, 3, 0));
}

#[test]
fn r4j_half_open_back_to_open_when_slow_call_rate_above_threshold() {
    let now = t0();
    let mut b = half_open_anchor(now);
    for duration in [secs(5), secs(5), secs(5), secs(1)] {
        assert_eq!(letter(call(&mut b, now, Success, duration)), 'P');
    }
    assert_eq!(b.state(), Open);
    let m = b.metrics(now);
    assert_eq!(m.slow_calls, 3);
    assert_eq!(m.slow_call_rate, Some(0.75));
    assert_eq!(m.failure_rate, Some(0.0));
}

#[test]
fn r4j_half_open_back_to_closed_when_failure_rate_below_threshold() {
    let now = t0();
    let mut b = half_open_anchor(now);
    for outcome in [Failure, Success, Success, Success] {
        assert_eq!(letter(call(&mut b, now, outcome, Span::ZERO)), 'P');
    }
    assert_eq!(b.handle_request(now), Decision::Admit);
    assert_eq!(b.state(), Closed);
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
    assert_eq!(call(&mut b, now, Success, Span::ZERO), Decision::Admit);
    assert_eq!(tuple(&b, now), (None, 1, 1, 0, 0));
}

#[test]
fn r4j_ignored_outcome_releases_the_probe_permit() {
    let now = t0();
    let mut b = half_open_anchor(now);
    for expected in [(None, 1, 1, 0, 0), (None, 2, 2, 0, 0), (None, 3, 3, 0, 0)] {
        assert_eq!(letter(call(&mut b, now, Success, Span::ZERO)), 'P');
        assert_eq!(b.state(), HalfOpen);
        assert_eq!(tuple(&b, now), expected);
    }
    assert_eq!(letter(call(&mut b, now, Ignored, Span::ZERO)), 'P');
    assert_eq!(b.state(), HalfOpen);
    assert_eq!(tuple(&b, now), (None, 3, 3, 0, 0));
    // The released permit admits one more probe; 1 failure in 4 closes.
    assert_eq!(letter(call(&mut b, now, Failure, Span::ZERO)), 'P');
    assert_eq!(b.state(), Closed);
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
}

#[test]
fn r4j_ignored_outcomes_then_four_successes_close() {
    let now = t0();
    let mut b = half_open_anchor(now);
    for _ in 0..4 {
        assert_eq!(letter(call(&mut b, now, Ignored, Span::ZERO)), 'P');
        assert_eq!(b.state(), HalfOpen);
    }
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
    for _ in 0..3 {
        assert_eq!(letter(call(&mut b, now, Success, Span::ZERO)), 'P');
        assert_eq!(b.state(), HalfOpen);
    }
    assert_eq!(tuple(&b, now), (None, 3, 3, 0, 0));
    assert_eq!(letter(call(&mut b, now, Success, Span::ZERO)), 'P');
    assert_eq!(b.state(), Closed);
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
}

#[test]
fn r4j_illegal_transitions() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    for to in [HalfOpen, Closed] {
        let err = b.transition_to(now, to, &mut rng()).expect_err("illegal");
        assert_eq!((err.from, err.to), (Closed, to));
        assert_eq!(b.state(), Closed);
    }
    assert_eq!(
        err_text(b.transition_to(now, HalfOpen, &mut rng())),
        "illegal breaker transition from closed to half-open"
    );
}

fn err_text<T>(r: Result<T, headroom_policy::breaker::IllegalTransition>) -> String {
    r.err().map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn r4j_forced_open_never_half_opens() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    b.transition_to(now, ForcedOpen, &mut rng())
        .expect("→ forced open");
    assert_eq!(b.handle_request(now), Decision::Reject);
    assert_eq!(b.handle_request(now + secs(6)), Decision::Reject);
    assert_eq!(b.handle_timeout(now + secs(60)), None);
    assert_eq!(b.poll_timeout(), None);
    assert_eq!(b.state(), ForcedOpen);
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 2));
}

#[test]
fn r4j_disabled_records_nothing() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    b.transition_to(now, Disabled, &mut rng())
        .expect("→ disabled");
    for outcome in [Success, Failure, Failure, Failure, Failure] {
        assert_eq!(call(&mut b, now, outcome, Span::ZERO), Decision::Admit);
    }
    assert_eq!(b.state(), Disabled);
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
}

#[test]
fn r4j_metrics_only_records_but_never_opens() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    b.transition_to(now, MetricsOnly, &mut rng())
        .expect("→ metrics only");
    for _ in 0..6 {
        assert_eq!(call(&mut b, now, Failure, Span::ZERO), Decision::Admit);
    }
    assert_eq!(b.state(), MetricsOnly);
    assert_eq!(tuple(&b, now), (Some(1.0), 0, 6, 6, 0));
}

#[test]
fn r4j_reset_returns_to_closed_with_fresh_metrics() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    let _ = b.handle_outcome(now, Decision::Admit, Success, Span::ZERO, &mut rng());
    let _ = b.handle_outcome(now, Decision::Admit, Failure, Span::ZERO, &mut rng());
    assert_eq!(tuple(&b, now), (None, 1, 2, 1, 0));
    b.reset(now);
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
    b.transition_to(now, Open, &mut rng()).expect("→ open");
    b.reset(now);
    assert_eq!(b.state(), Closed);
}

#[test]
fn count_window_clamps_minimum_calls_to_the_window() {
    // minimum_calls 100 with a 5-call window behaves as minimum 5.
    let spec = BreakerConfig {
        window: Some(WindowSize::Calls(5)),
        minimum_calls: Some(100),
        ..BreakerConfig::default()
    }
    .validate()
    .expect("valid");
    let now = t0();
    let mut b = Breaker::new(&spec, now);
    for outcome in [Failure, Failure, Success, Success] {
        let _ = call(&mut b, now, outcome, Span::ZERO);
        assert_eq!(b.state(), Closed);
    }
    assert_eq!(b.metrics(now).failure_rate, None);
    let _ = call(&mut b, now, Failure, Span::ZERO);
    assert_eq!(b.state(), Open);
    assert_eq!(b.metrics(now).failure_rate, Some(0.6));
}

#[test]
fn count_window_slides_over_the_last_calls() {
    let spec = BreakerConfig {
        window: Some(WindowSize::Calls(4)),
        minimum_calls: Some(4),
        ..BreakerConfig::default()
    }
    .validate()
    .expect("valid");
    let now = t0();
    let mut b = Breaker::new(&spec, now);
    // F S S S: 25 %; then S pushes the F out: 0 %; then F F: 50 % → open.
    for outcome in [Failure, Success, Success, Success, Success, Failure] {
        let _ = call(&mut b, now, outcome, Span::ZERO);
        assert_eq!(b.state(), Closed);
    }
    assert_eq!(b.metrics(now).failure_rate, Some(0.25));
    let _ = call(&mut b, now, Failure, Span::ZERO);
    assert_eq!(b.state(), Open);
}

#[test]
fn time_window_does_not_clamp_minimum_calls() {
    let spec = BreakerConfig {
        window_type: Some(WindowType::Time),
        window: Some(WindowSize::Duration(secs(5))),
        minimum_calls: Some(100),
        ..BreakerConfig::default()
    }
    .validate()
    .expect("valid");
    let now = t0();
    let mut b = Breaker::new(&spec, now);
    for _ in 0..99 {
        let _ = call(&mut b, now, Failure, Span::ZERO);
    }
    assert_eq!(b.state(), Closed);
    assert_eq!(b.metrics(now).failure_rate, None);
    let _ = call(&mut b, now, Failure, Span::ZERO);
    assert_eq!(b.state(), Open);
}

#[test]
fn time_window_forgets_calls_older_than_the_window() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    for _ in 0..3 {
        let _ = call(&mut b, now, Failure, Span::ZERO);
    }
    assert_eq!(b.metrics(now + secs(4)).buffered_calls, 3);
    // Five seconds later the bucket of `now` has left the 5 s window.
    let later = now + secs(5);
    assert_eq!(b.metrics(later).buffered_calls, 0);
    for _ in 0..2 {
        let _ = call(&mut b, later, Success, Span::ZERO);
    }
    assert_eq!(b.state(), Closed);
    assert_eq!(tuple(&b, later), (None, 2, 2, 0, 0));
}

#[test]
fn outcomes_of_admitted_calls_during_half_open_are_dropped() {
    let now = t0();
    let mut b = half_open_anchor(now);
    // Four failures of calls admitted while Closed must not decide probation.
    for _ in 0..4 {
        let t = b.handle_outcome(now, Decision::Admit, Failure, Span::ZERO, &mut rng());
        assert_eq!(t, None);
    }
    assert_eq!(b.state(), HalfOpen);
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
    // Rejected decisions are ignored too.
    let _ = b.handle_outcome(now, Decision::Reject, Failure, Span::ZERO, &mut rng());
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
}

#[test]
fn probes_of_an_earlier_half_open_period_do_not_count_or_free_permits() {
    // Half-open decides after min(minimum_calls, half_open_calls) = 2 results,
    // so two of the four probes outlive their period.
    let spec = BreakerConfig {
        minimum_calls: Some(2),
        ..anchor_config()
    }
    .validate()
    .expect("valid");
    let now = t0();
    let mut b = Breaker::new(&spec, now);
    b.transition_to(now, Open, &mut rng()).expect("→ open");
    b.transition_to(now, HalfOpen, &mut rng())
        .expect("→ half-open");
    let old: Vec<Decision> = (0..4).map(|_| b.handle_request(now)).collect();
    for &d in &old[..2] {
        let _ = b.handle_outcome(now, d, Failure, Span::ZERO, &mut rng());
    }
    assert_eq!(b.state(), Open);
    let later = b.poll_timeout().expect("open");
    let fresh: String = (0..4).map(|_| letter(b.handle_request(later))).collect();
    assert_eq!(fresh, "PPPP");
    // The old probes end now: neither frees a permit nor votes.
    let _ = b.handle_outcome(later, old[2], Ignored, Span::ZERO, &mut rng());
    let _ = b.handle_outcome(later, old[3], Failure, Span::ZERO, &mut rng());
    assert_eq!(b.state(), HalfOpen);
    assert_eq!(tuple(&b, later), (None, 0, 0, 0, 0));
    assert_eq!(letter(b.handle_request(later)), 'R');
    assert_eq!(b.probes_in_flight(), 4);
}

#[test]
fn outcomes_while_open_are_recorded_without_transition_in_rate_mode() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    for outcome in [Failure, Failure, Failure, Success, Success] {
        let _ = call(&mut b, now, outcome, Span::ZERO);
    }
    assert_eq!(b.state(), Open);
    // A straggler admitted before the trip (resilience4j records it).
    let t = b.handle_outcome(now, Decision::Admit, Success, Span::ZERO, &mut rng());
    assert_eq!(t, None);
    assert_eq!(b.state(), Open);
    assert_eq!(tuple(&b, now), (Some(0.5), 3, 6, 3, 0));
}

#[test]
fn automatic_transition_through_handle_timeout() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    b.transition_to(now, Open, &mut rng()).expect("→ open");
    let end = b.poll_timeout().expect("open has a timeout");
    assert_eq!(b.handle_timeout(end - Span::from_nanos(1)), None);
    assert_eq!(
        b.handle_timeout(end),
        Some(Transition {
            at: end,
            from: Open,
            to: HalfOpen
        })
    );
    assert_eq!(b.state(), HalfOpen);
    assert_eq!(letter(b.handle_request(end)), 'P');
}

#[test]
fn time_in_each_state_is_accounted() {
    let now = t0();
    let mut b = Breaker::new(&anchor(), now);
    // Closed 10 s, then trips.
    let t10 = now + secs(10);
    for outcome in [Failure, Failure, Failure, Failure, Failure] {
        let _ = call(&mut b, t10, outcome, Span::ZERO);
    }
    assert_eq!(b.state(), Open);
    assert_eq!(
        b.last_transition(),
        Some(Transition {
            at: t10,
            from: Closed,
            to: Open
        })
    );
    // Nobody asks until 20 s: lazily still Open until then.
    let t20 = now + secs(20);
    let probe = b.handle_request(t20);
    assert!(probe.is_probe());
    // Half-open for 2 s, then four successes close it.
    let t22 = now + secs(22);
    let _ = b.handle_outcome(t22, probe, Success, Span::ZERO, &mut rng());
    for _ in 0..3 {
        let _ = call(&mut b, t22, Success, Span::ZERO);
    }
    assert_eq!(b.state(), Closed);
    let t30 = now + secs(30);
    assert_eq!(b.time_in(Closed, t30), secs(18));
    assert_eq!(b.time_in(Open, t30), secs(10));
    assert_eq!(b.time_in(HalfOpen, t30), secs(2));
    assert_eq!(b.time_in(ForcedOpen, t30), Span::ZERO);
    assert_eq!(b.transition_count(), 3);
    let all = b.time_in_states(t30);
    assert_eq!(all[0], (Closed, secs(18)));
    assert_eq!(
        all.iter().map(|(_, d)| *d).fold(Span::ZERO, |a, d| a + d),
        secs(30)
    );
}

// --- Consecutive mode (Linkerd failure accrual) -------------------------------

fn consecutive(max_failures: u32, min: Span, max: Span, jitter: f64) -> BreakerSpec {
    BreakerConfig {
        mode: Some(Mode::Consecutive),
        max_failures: Some(max_failures),
        min_penalty: Some(min),
        max_penalty: Some(max),
        jitter: Some(jitter),
        ..BreakerConfig::default()
    }
    .validate()
    .expect("valid consecutive config")
}

#[test]
fn linkerd_consecutive_failures_transitions() {
    // linkerd2-proxy `consecutive_failures::tests::transitions`: max_failures
    // 2, initial backoff 1 s, max 100 s, no jitter.
    let spec = consecutive(2, secs(1), secs(100), 0.0);
    let now = t0();
    let mut b = Breaker::new(&spec, now);
    assert_eq!(call(&mut b, now, Failure, Span::ZERO), Decision::Admit);
    assert_eq!(b.state(), Closed);
    assert_eq!(call(&mut b, now, Failure, Span::ZERO), Decision::Admit);
    assert_eq!(b.state(), Open);
    // Shut for 1 s.
    assert_eq!(b.handle_request(now + ms(500)), Decision::Reject);
    let t1 = now + secs(1);
    assert_eq!(b.poll_timeout(), Some(t1));
    // Probation: exactly one request gets through.
    let probe = b.handle_request(t1);
    assert!(probe.is_probe());
    assert_eq!(b.state(), HalfOpen);
    assert_eq!(b.handle_request(t1), Decision::Reject);
    // The probe fails: shut again, now for 2 s.
    let _ = b.handle_outcome(t1, probe, Failure, Span::ZERO, &mut rng());
    assert_eq!(b.state(), Open);
    assert_eq!(b.poll_timeout(), Some(t1 + secs(2)));
    // Straggling responses while shut are ignored.
    let t2 = t1 + secs(1);
    let _ = b.handle_outcome(t2, Decision::Admit, Success, Span::ZERO, &mut rng());
    assert_eq!(b.state(), Open);
    assert_eq!(b.handle_request(t2), Decision::Reject);
    // Probation again; a single success closes.
    let t3 = t1 + secs(2);
    let probe = b.handle_request(t3);
    assert!(probe.is_probe());
    let _ = b.handle_outcome(t3, probe, Success, Span::ZERO, &mut rng());
    assert_eq!(b.state(), Closed);
    assert_eq!(b.handle_request(t3), Decision::Admit);
}

#[test]
fn consecutive_success_resets_the_run_and_backoff_restarts_after_close() {
    let spec = consecutive(3, secs(1), secs(60), 0.0);
    let now = t0();
    let mut b = Breaker::new(&spec, now);
    for outcome in [Failure, Failure, Success, Failure, Failure] {
        let _ = call(&mut b, now, outcome, Span::ZERO);
        assert_eq!(b.state(), Closed);
    }
    assert_eq!(b.metrics(now).consecutive_failures, 2);
    let _ = call(&mut b, now, Failure, Span::ZERO);
    assert_eq!(b.state(), Open);
    // Failed probes: 1 s, 2 s, 4 s, 8 s...
    let mut t = now;
    let mut intervals = Vec::new();
    for _ in 0..4 {
        let end = b.poll_timeout().expect("open");
        intervals.push((end - t).as_nanos() / 1_000_000_000);
        t = end;
        assert_eq!(letter(call(&mut b, t, Failure, Span::ZERO)), 'P');
    }
    assert_eq!(intervals, [1, 2, 4, 8]);
    let end = b.poll_timeout().expect("open");
    assert_eq!(letter(call(&mut b, end, Success, Span::ZERO)), 'P');
    assert_eq!(b.state(), Closed);
    for _ in 0..3 {
        let _ = call(&mut b, end, Failure, Span::ZERO);
    }
    assert_eq!(b.poll_timeout(), Some(end + secs(1)));
}

#[test]
fn consecutive_backoff_is_capped_at_max_penalty() {
    let spec = consecutive(1, secs(1), secs(5), 0.0);
    let mut now = t0();
    let mut b = Breaker::new(&spec, now);
    let _ = call(&mut b, now, Failure, Span::ZERO);
    let mut intervals = Vec::new();
    for _ in 0..6 {
        let end = b.poll_timeout().expect("open");
        intervals.push((end - now).as_nanos() / 1_000_000_000);
        now = end;
        let _ = call(&mut b, now, Failure, Span::ZERO);
    }
    assert_eq!(intervals, [1, 2, 4, 5, 5, 5]);
}

#[test]
fn consecutive_jitter_is_bounded_and_seeded() {
    let spec = consecutive(1, secs(1), secs(60), 0.5);
    let run = |seed: u64| {
        let mut rng = Pcg64::seed_from_u64(seed);
        let now = t0();
        let mut b = Breaker::new(&spec, now);
        let d = b.handle_request(now);
        let _ = b.handle_outcome(now, d, Failure, Span::ZERO, &mut rng);
        b.poll_timeout().expect("open") - now
    };
    let a = run(1);
    assert_eq!(a, run(1), "same seed, same interval");
    let spread: Vec<Span> = (0..50).map(run).collect();
    assert!(spread.iter().all(|&d| d >= secs(1) && d < ms(1_500)));
    assert!(
        spread.iter().any(|&d| d != a),
        "jitter varies with the seed"
    );
}

#[test]
fn consecutive_ignored_probe_gives_the_permit_back() {
    let spec = consecutive(1, secs(1), secs(60), 0.0);
    let now = t0();
    let mut b = Breaker::new(&spec, now);
    let _ = call(&mut b, now, Failure, Span::ZERO);
    let t1 = now + secs(1);
    assert_eq!(letter(call(&mut b, t1, Ignored, Span::ZERO)), 'P');
    assert_eq!(b.state(), HalfOpen);
    assert_eq!(letter(b.handle_request(t1)), 'P');
    assert_eq!(b.handle_request(t1), Decision::Reject);
}

// --- Properties ---------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    /// Advance time by this many milliseconds, then ask.
    Request(u16),
    /// Complete the i-th outstanding call (mod count) with this outcome and
    /// duration (ms).
    Complete(usize, u8, u16),
    /// Fire the timer if due.
    Timeout,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u16..3_000).prop_map(Op::Request),
        4 => (any::<usize>(), 0u8..3, 0u16..6_000).prop_map(|(i, o, d)| Op::Complete(i, o, d)),
        1 => Just(Op::Timeout),
    ]
}

/// A random valid spec and the shortest open interval it can produce (the
/// first one: `open_duration` or `min_penalty`).
fn spec_strategy() -> impl Strategy<Value = (BreakerSpec, Span)> {
    let rate = (
        1u64..20,
        any::<bool>(),
        1u32..30,
        1u32..=10,
        1u64..10,
        1u32..=10,
        prop_oneof![Just(1.0), Just(1.5), Just(2.0)],
    )
        .prop_map(|(window, time, min, fail, open, half, mult)| {
            let spec = BreakerConfig {
                window_type: Some(if time {
                    WindowType::Time
                } else {
                    WindowType::Count
                }),
                window: Some(if time {
                    WindowSize::Duration(Span::from_secs(window))
                } else {
                    WindowSize::Calls(window)
                }),
                minimum_calls: Some(min),
                failure_rate_threshold: Some(f64::from(fail) / 10.0),
                slow_call_rate_threshold: Some(0.5),
                slow_call_duration: Some(secs(3)),
                open_duration: Some(secs(open)),
                open_duration_multiplier: Some(mult),
                half_open_calls: Some(half),
                ..BreakerConfig::default()
            }
            .validate()
            .expect("strategy builds valid rate configs");
            (spec, secs(open))
        });
    let consecutive_mode = (1u32..6, 1u64..5, 0u32..3).prop_map(|(max, min, jitter)| {
        let spec = consecutive(max, secs(min), secs(min * 8), f64::from(jitter) / 2.0);
        (spec, secs(min))
    });
    prop_oneof![rate, consecutive_mode]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A breaker never admits while Open before the open interval ends, never
    /// has more than `half_open_calls` probes out per half-open period, and
    /// `poll_timeout` is exactly where Open ends.
    #[test]
    fn breaker_respects_open_interval_and_probe_limit(
        (spec, min_open) in spec_strategy(),
        ops in prop::collection::vec(op(), 1..300),
        seed in any::<u64>(),
    ) {
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut now = t0();
        let mut b = Breaker::new(&spec, now);
        // Permitted calls not yet completed, with the transition count at
        // issue time (identifies the half-open period of a probe).
        let mut outstanding: Vec<(Decision, u64)> = Vec::new();
        let mut opened_at = None;
        let mut seen_transitions = 0;
        for op in ops {
            match op {
                Op::Request(dt) => {
                    now += ms(u64::from(dt));
                    let open_until = b.poll_timeout();
                    let state_before = b.state();
                    let d = b.handle_request(now);
                    if state_before == Open {
                        let until = open_until.expect("open has a timeout");
                        if now < until {
                            prop_assert_eq!(d, Decision::Reject);
                        }
                    }
                    if b.state() == Open || b.state() == ForcedOpen {
                        prop_assert_eq!(d, Decision::Reject);
                    }
                    if d.is_permitted() {
                        outstanding.push((d, b.transition_count()));
                    }
                }
                Op::Complete(i, o, dur) => {
                    if outstanding.is_empty() { continue; }
                    let (d, _) = outstanding.swap_remove(i % outstanding.len());
                    let outcome = [Success, Failure, Ignored][o as usize];
                    let _ = b.handle_outcome(now, d, outcome, ms(u64::from(dur)), &mut rng);
                }
                Op::Timeout => {
                    let _ = b.handle_timeout(now);
                }
            }
            if b.transition_count() != seen_transitions {
                seen_transitions = b.transition_count();
                let t = b.last_transition().expect("counted transition");
                if t.to == Open {
                    opened_at = Some(t.at);
                    let until = b.poll_timeout().expect("open has a timeout");
                    prop_assert!(until - t.at >= min_open);
                }
                if t.to == HalfOpen {
                    let opened = opened_at.expect("half-open follows open");
                    prop_assert!(t.at - opened >= min_open);
                }
            }
            if b.state() == HalfOpen {
                let period = b.transition_count();
                let in_flight = outstanding
                    .iter()
                    .filter(|&&(d, p)| d.is_probe() && p == period)
                    .count();
                prop_assert!(in_flight <= spec.half_open_calls() as usize);
                prop_assert!(b.probes_in_flight() <= spec.half_open_calls());
            }
        }
    }

    /// Two breakers fed the same script and seed make the same decisions.
    #[test]
    fn breaker_is_deterministic(
        (spec, _min_open) in spec_strategy(),
        ops in prop::collection::vec(op(), 1..200),
        seed in any::<u64>(),
    ) {
        let run = || {
            let mut rng = Pcg64::seed_from_u64(seed);
            let mut now = t0();
            let mut b = Breaker::new(&spec, now);
            let mut outstanding = Vec::new();
            let mut log = Vec::new();
            for op in &ops {
                match *op {
                    Op::Request(dt) => {
                        now += ms(u64::from(dt));
                        let d = b.handle_request(now);
                        if d.is_permitted() { outstanding.push(d); }
                        log.push((d, b.state(), b.poll_timeout()));
                    }
                    Op::Complete(i, o, dur) if !outstanding.is_empty() => {
                        let d = outstanding.swap_remove(i % outstanding.len());
                        let outcome = [Success, Failure, Ignored][o as usize];
                        let _ = b.handle_outcome(now, d, outcome, ms(u64::from(dur)), &mut rng);
                    }
                    _ => {}
                }
            }
            log
        };
        prop_assert_eq!(run(), run());
    }
}

// --- Configuration ------------------------------------------------------------

#[cfg(feature = "serde")]
mod config {
    use super::*;
    use headroom_policy::config::ConfigError;

    fn table(src: &str) -> Result<BreakerConfig, String> {
        let doc: toml::Table = toml::from_str(src).map_err(|e| e.to_string())?;
        let cb = doc
            .get("policy")
            .and_then(|p| p.get("mesh"))
            .and_then(|m| m.get("circuit_breaker"))
            .cloned()
            .ok_or("no [policy.mesh.circuit_breaker]")?;
        cb.try_into().map_err(|e: toml::de::Error| e.to_string())
    }

    #[test]
    fn reference_table_parses_with_resilience4j_defaults() {
        let cfg = table(
            r#"
            [policy.mesh.circuit_breaker]
            failure_rate_threshold = 0.5
            open_duration = "30s"
            "#,
        )
        .expect("parses");
        let spec = cfg.validate().expect("valid");
        assert_eq!(spec.mode(), Mode::Rate);
        assert_eq!(spec.half_open_calls(), 10);
        // Default count window of 100 with minimum 100: 49 failures of 100
        // stay closed, the 50th of 100 opens.
        let now = t0();
        let mut b = Breaker::new(&spec, now);
        for i in 0..100 {
            let outcome = if i < 50 { Success } else { Failure };
            let _ = call(&mut b, now, outcome, Span::ZERO);
            assert_eq!(b.state() == Open, i == 99, "call {i}");
        }
        assert_eq!(b.poll_timeout(), Some(now + secs(30)));
    }

    #[test]
    fn full_tables_parse_in_both_modes() {
        let rate = table(
            r#"
            [policy.mesh.circuit_breaker]
            mode = "rate"
            window_type = "time"
            window = "10s"
            failure_rate_threshold = 0.25
            slow_call_rate_threshold = 0.8
            slow_call_duration = "2s"
            minimum_calls = 20
            open_duration = "5s"
            open_duration_multiplier = 1.5
            open_duration_max = "1m"
            half_open_calls = 3
            "#,
        )
        .expect("parses");
        assert_eq!(rate.window, Some(WindowSize::Duration(secs(10))));
        assert!(rate.validate().is_ok());
        let consecutive = table(
            r#"
            [policy.mesh.circuit_breaker]
            mode = "consecutive"
            max_failures = 7
            min_penalty = "1s"
            max_penalty = "1m"
            jitter = 0.5
            "#,
        )
        .expect("parses");
        let spec = consecutive.validate().expect("valid");
        assert_eq!(spec.mode(), Mode::Consecutive);
        assert_eq!(spec.half_open_calls(), 1);
        let defaults = table("[policy.mesh.circuit_breaker]\nmode = \"consecutive\"\n")
            .expect("parses")
            .validate()
            .expect("valid");
        assert_eq!(defaults, spec);
    }

    fn rejects(src: &str) -> ConfigError {
        table(&format!("[policy.mesh.circuit_breaker]\n{src}\n"))
            .expect("parses")
            .validate()
            .expect_err("invalid")
            .within("policy.mesh.circuit_breaker")
    }

    #[test]
    fn bad_values_name_key_value_and_range() {
        let cases = [
            (
                "failure_rate_threshold = 1.5",
                "failure_rate_threshold",
                "1.5",
                "(0, 1]",
            ),
            (
                "failure_rate_threshold = 0.0",
                "failure_rate_threshold",
                "0",
                "(0, 1]",
            ),
            (
                "slow_call_rate_threshold = -0.1",
                "slow_call_rate_threshold",
                "-0.1",
                "(0, 1]",
            ),
            ("window = 0", "window", "0", "1..=100000"),
            (
                "window = \"10s\"",
                "window",
                "\"10s\"",
                "window_type = \"count\"",
            ),
            (
                "window_type = \"time\"\nwindow = 10",
                "window",
                "10",
                "duration string",
            ),
            (
                "window_type = \"time\"\nwindow = \"1500ms\"",
                "window",
                "\"1500ms\"",
                "whole number of seconds",
            ),
            ("minimum_calls = 0", "minimum_calls", "0", "1..=1000000"),
            (
                "open_duration = \"0s\"",
                "open_duration",
                "\"0s\"",
                "greater than zero",
            ),
            (
                "open_duration_multiplier = 0.5",
                "open_duration_multiplier",
                "0.5",
                ">= 1.0",
            ),
            (
                "open_duration = \"10s\"\nopen_duration_max = \"5s\"",
                "open_duration_max",
                "\"5s\"",
                ">= open_duration",
            ),
            ("half_open_calls = 0", "half_open_calls", "0", "1..=10000"),
            (
                "max_failures = 3",
                "max_failures",
                "3",
                "mode = \"consecutive\"",
            ),
            (
                "mode = \"consecutive\"\nwindow = 10",
                "window",
                "10",
                "mode = \"rate\"",
            ),
            (
                "mode = \"consecutive\"\nmax_failures = 0",
                "max_failures",
                "0",
                "1..=1000000",
            ),
            (
                "mode = \"consecutive\"\nmin_penalty = \"2m\"",
                "min_penalty",
                "\"2m\"",
                "<= max_penalty",
            ),
            (
                "mode = \"consecutive\"\njitter = 101.0",
                "jitter",
                "101",
                "0..=100",
            ),
        ];
        for (src, key, value, expected) in cases {
            let err = rejects(src);
            assert_eq!(
                err.key(),
                format!("policy.mesh.circuit_breaker.{key}"),
                "{src}"
            );
            assert_eq!(err.value(), value, "{src}");
            assert!(
                err.expected().contains(expected),
                "{src}: {}",
                err.expected()
            );
        }
    }

    #[test]
    fn unknown_keys_and_bad_types_are_parse_errors() {
        let err =
            table("[policy.mesh.circuit_breaker]\nfailure_rate = 0.5\n").expect_err("unknown");
        assert!(err.contains("failure_rate"), "{err}");
        let err = table("[policy.mesh.circuit_breaker]\nmode = \"fast\"\n").expect_err("bad mode");
        assert!(err.contains("rate") && err.contains("consecutive"), "{err}");
        let err = table("[policy.mesh.circuit_breaker]\nopen_duration = \"30 seconds\"\n")
            .expect_err("bad duration");
        assert!(err.contains("30 seconds"), "{err}");
    }
}
