//! resilience4j fidelity of the rate-mode breaker beyond the state-machine
//! scripts: `IntervalFunction.ofExponentialBackoff`'s whole-millisecond
//! truncation at every step (its `IntervalFunctionTest` cases), the
//! `StateTransition` allowed set, and 1.4+'s transition to the current state
//! (allowed, re-enters, no event).

use crate::common::*;
use headroom_policy::breaker::{Breaker, BreakerConfig, BreakerState, Decision, Outcome};
use headroom_policy::time::{Span, Timestamp};

use BreakerState::{Closed, Disabled, ForcedOpen, HalfOpen, MetricsOnly, Open};

/// The open intervals (ms) of the first `n` consecutive openings, driven by
/// manual Open → HalfOpen → Open moves.
fn open_intervals_ms(config: BreakerConfig, n: usize) -> Vec<u64> {
    let spec = config.validate().expect("valid");
    let mut now = t0();
    let mut b = Breaker::new(&spec, now);
    let mut out = Vec::new();
    for i in 0..n {
        if i > 0 {
            b.transition_to(now, HalfOpen, &mut rng())
                .expect("open → half-open");
        }
        b.transition_to(now, Open, &mut rng()).expect("→ open");
        let end = b.poll_timeout().expect("open");
        let span = end.saturating_since(now);
        assert_eq!(span.as_nanos() % 1_000_000, 0, "whole milliseconds");
        out.push(span.as_nanos() / 1_000_000);
        now = end;
    }
    out
}

/// resilience4j's iteration: `x -> (long) (x * multiplier)`, then the cap.
fn r4j_sequence(initial_ms: u64, multiplier: f64, max_ms: u64, n: usize) -> Vec<u64> {
    let mut x = initial_ms;
    (0..n)
        .map(|i| {
            if i > 0 {
                x = (x as f64 * multiplier) as u64;
            }
            x.min(max_ms)
        })
        .collect()
}

#[test]
fn exponential_interval_truncates_to_whole_ms_at_each_step() {
    // `generatesExponentialIntervals`: ofExponentialBackoff(100, 1.5) grows
    // strictly for 49 attempts; truncation is per step: 100, 150, 225, 337,
    // 505 (not 506.25 → 506), 757, 1135, ...
    let config = BreakerConfig {
        open_duration: Some(Span::from_millis(100)),
        open_duration_multiplier: Some(1.5),
        ..anchor_config()
    };
    let got = open_intervals_ms(config, 49);
    assert_eq!(&got[..7], &[100, 150, 225, 337, 505, 757, 1135]);
    assert_eq!(got, r4j_sequence(100, 1.5, u64::MAX, 49));
    assert!(got.windows(2).all(|w| w[1] > w[0]));
}

#[test]
fn capped_exponential_interval_matches_intervalfunctiontest() {
    // `generatesCappedExponentialIntervals`: (100, 2, 100 000): growing up to
    // attempt 11, then 100 000 at 12 and 13.
    let config = BreakerConfig {
        open_duration: Some(Span::from_millis(100)),
        open_duration_multiplier: Some(2.0),
        open_duration_max: Some(Span::from_millis(100_000)),
        ..anchor_config()
    };
    let got = open_intervals_ms(config, 13);
    assert!(got[..11].windows(2).all(|w| w[1] > w[0]));
    assert_eq!((got[11], got[12]), (100_000, 100_000));
    // A sub-millisecond remainder of the initial interval is dropped
    // (Duration.toMillis), then every step truncates.
    let config = BreakerConfig {
        open_duration: Some(Span::from_micros(7_900)),
        open_duration_multiplier: Some(1.37),
        open_duration_max: Some(Span::from_secs(60)),
        ..anchor_config()
    };
    assert_eq!(
        open_intervals_ms(config, 30),
        r4j_sequence(7, 1.37, 60_000, 30)
    );
}

#[test]
fn exponential_sub_millisecond_open_duration_is_rejected() {
    let err = BreakerConfig {
        open_duration: Some(Span::from_micros(500)),
        open_duration_multiplier: Some(2.0),
        ..BreakerConfig::default()
    }
    .validate()
    .expect_err("below 1 ms");
    assert_eq!(err.key(), "open_duration");
    // A constant interval keeps its nanoseconds.
    let spec = BreakerConfig {
        open_duration: Some(Span::from_micros(500)),
        ..BreakerConfig::default()
    }
    .validate()
    .expect("valid");
    let mut b = Breaker::new(&spec, t0());
    b.transition_to(t0(), Open, &mut rng()).expect("→ open");
    assert_eq!(b.poll_timeout(), Some(t0() + Span::from_micros(500)));
}

/// A fresh anchor breaker moved into `state` by manual transitions.
fn in_state(state: BreakerState, now: Timestamp) -> Breaker {
    let mut b = Breaker::new(&anchor(), now);
    match state {
        Closed => {}
        HalfOpen => {
            b.transition_to(now, Open, &mut rng()).expect("→ open");
            b.transition_to(now, HalfOpen, &mut rng())
                .expect("→ half-open");
        }
        other => {
            b.transition_to(now, other, &mut rng())
                .expect("from closed");
        }
    }
    assert_eq!(b.state(), state);
    b
}

#[test]
fn the_allowed_transitions_are_resilience4js() {
    // CircuitBreaker.StateTransition: every pair except these three.
    let illegal = [
        (Closed, HalfOpen),
        (MetricsOnly, Open),
        (MetricsOnly, HalfOpen),
    ];
    let all = [Closed, Open, HalfOpen, Disabled, ForcedOpen, MetricsOnly];
    let now = t0();
    for from in all {
        for to in all {
            let mut b = in_state(from, now);
            let (count, last) = (b.transition_count(), b.last_transition());
            let result = b.transition_to(now, to, &mut rng());
            if illegal.contains(&(from, to)) {
                let err = result.expect_err("illegal");
                assert_eq!((err.from, err.to), (from, to));
                assert_eq!(b.state(), from);
                assert_eq!(b.transition_count(), count);
                continue;
            }
            let t = result.unwrap_or_else(|e| panic!("{from} → {to}: {e}"));
            assert_eq!((t.from, t.to, b.state()), (from, to, to));
            if from == to {
                // An internal transition: no event.
                assert_eq!(b.transition_count(), count, "{from} → {to}");
                assert_eq!(b.last_transition(), last, "{from} → {to}");
            } else {
                assert_eq!(b.transition_count(), count + 1, "{from} → {to}");
            }
        }
    }
}

#[test]
fn transition_to_the_current_state_reenters_it() {
    let now = t0();
    // Closed → Closed: fresh metrics.
    let mut b = in_state(Closed, now);
    for outcome in [Outcome::Failure, Outcome::Failure, Outcome::Success] {
        let _ = call(&mut b, now, outcome, Span::ZERO);
    }
    assert_eq!(tuple(&b, now), (None, 1, 3, 2, 0));
    b.transition_to(now, Closed, &mut rng()).expect("allowed");
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
    // MetricsOnly → MetricsOnly: fresh metrics too.
    let mut b = in_state(MetricsOnly, now);
    let _ = call(&mut b, now, Outcome::Failure, Span::ZERO);
    b.transition_to(now, MetricsOnly, &mut rng())
        .expect("allowed");
    assert_eq!(tuple(&b, now), (None, 0, 0, 0, 0));
    // Open → Open: the next attempt's interval (multiplier 2: 5 s, 10 s).
    let spec = BreakerConfig {
        open_duration_multiplier: Some(2.0),
        ..anchor_config()
    }
    .validate()
    .expect("valid");
    let mut b = Breaker::new(&spec, now);
    b.transition_to(now, Open, &mut rng()).expect("→ open");
    assert_eq!(b.open_attempts(), 1);
    let later = now + secs(1);
    b.transition_to(later, Open, &mut rng()).expect("allowed");
    assert_eq!(b.open_attempts(), 2);
    assert_eq!(b.poll_timeout(), Some(later + secs(10)));
    // HalfOpen → HalfOpen: fresh permits; a probe of the old period no
    // longer counts.
    let mut b = in_state(HalfOpen, now);
    let old: Vec<Decision> = (0..4).map(|_| b.handle_request(now)).collect();
    assert!(old.iter().all(|d| d.is_probe()));
    assert_eq!(b.handle_request(now), Decision::Reject);
    b.transition_to(now, HalfOpen, &mut rng()).expect("allowed");
    let fresh = b.handle_request(now);
    assert!(fresh.is_probe() && fresh != old[0]);
    assert_eq!(
        b.handle_outcome(now, old[0], Outcome::Failure, Span::ZERO, &mut rng()),
        None
    );
    assert_eq!(tuple(&b, now).2, 0, "the stale probe was not recorded");
    // ForcedOpen → ForcedOpen counts another attempt.
    let mut b = in_state(ForcedOpen, now);
    let attempts = b.open_attempts();
    b.transition_to(now, ForcedOpen, &mut rng())
        .expect("allowed");
    assert_eq!(b.open_attempts(), attempts + 1);
}

proptest::proptest! {
    /// Whatever the parameters, and however openings interleave with closes
    /// (which restart the sequence), every interval is resilience4j's.
    #[test]
    fn open_intervals_follow_resilience4js_iteration(
        initial_ms in 1u64..20_000,
        multiplier in 1.0001f64..4.0,
        // Capped so that 25 openings in a row stay far from Timestamp::MAX.
        cap_ms in 20_000u64..10_000_000,
        runs in proptest::collection::vec(1usize..25, 1..4),
    ) {
        let config = BreakerConfig {
            open_duration: Some(Span::from_millis(initial_ms)),
            open_duration_multiplier: Some(multiplier),
            open_duration_max: Some(Span::from_millis(cap_ms)),
            ..anchor_config()
        };
        let spec = config.validate().expect("valid");
        let mut now = t0();
        let mut b = Breaker::new(&spec, now);
        let expected = r4j_sequence(initial_ms, multiplier, cap_ms, 25);
        for run in runs {
            for (i, want) in expected.iter().take(run).enumerate() {
                if i > 0 {
                    b.transition_to(now, HalfOpen, &mut rng()).expect("→ half-open");
                }
                b.transition_to(now, Open, &mut rng()).expect("→ open");
                let end = b.poll_timeout().expect("open");
                proptest::prop_assert_eq!(end.saturating_since(now), Span::from_millis(*want));
                now = end;
            }
            // Closing restarts the sequence (attempts back to 0).
            b.transition_to(now, Closed, &mut rng()).expect("→ closed");
        }
    }
}
