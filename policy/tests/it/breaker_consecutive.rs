//! Decision-script tests of the consecutive-failures breaker (Linkerd's
//! `consecutive_failures::tests::transitions` and backoff), and property tests
//! of the admission invariants of both modes.

use crate::common::*;
use headroom_policy::breaker::{
    Breaker, BreakerConfig, BreakerSpec, BreakerState, Decision, Outcome, WindowSize, WindowType,
};
use headroom_policy::time::Span;
use proptest::prelude::*;
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

use BreakerState::{Closed, ForcedOpen, HalfOpen, Open};
use Outcome::{Failure, Ignored, Success};

// --- Consecutive mode (Linkerd failure accrual) -------------------------------

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
