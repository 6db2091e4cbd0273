//! Decision-script tests of the rate-based circuit breaker: the resilience4j
//! `CircuitBreakerStateMachineTest` sequences (validation anchors), window
//! behaviour, stale outcomes and state-time accounting.

use crate::common::*;
use headroom_policy::breaker::{
    Breaker, BreakerConfig, BreakerState, Decision, Outcome, Transition, WindowSize, WindowType,
};
use headroom_policy::time::Span;

use BreakerState::{Closed, Disabled, ForcedOpen, HalfOpen, MetricsOnly, Open};
use Outcome::{Failure, Ignored, Success};

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
    let err = b
        .transition_to(now, HalfOpen, &mut rng())
        .expect_err("illegal");
    assert_eq!((err.from, err.to), (Closed, HalfOpen));
    assert_eq!(b.state(), Closed);
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
