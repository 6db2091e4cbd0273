//! Helpers shared by the breaker test files: timestamps, the resilience4j
//! anchor configuration, metric tuples and one-call scripts.

use headroom_policy::breaker::{
    Breaker, BreakerConfig, BreakerMetrics, BreakerSpec, BreakerState, Decision, Mode, Outcome,
    WindowSize, WindowType,
};
use headroom_policy::time::{Span, Timestamp};
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

use BreakerState::{HalfOpen, Open};

/// An arbitrary instant well past the epoch, like resilience4j's MockClock.
pub fn t0() -> Timestamp {
    Timestamp::ZERO + Span::from_secs(1_000)
}

pub fn secs(s: u64) -> Span {
    Span::from_secs(s)
}

pub fn ms(m: u64) -> Span {
    Span::from_millis(m)
}

pub fn rng() -> Pcg64 {
    Pcg64::seed_from_u64(42)
}

/// The anchor configuration: failureRateThreshold 50, permittedNumberOfCalls
/// InHalfOpenState 4, slowCallDurationThreshold 4 s, slowCallRateThreshold 50,
/// slidingWindow(5, 5, TIME_BASED), waitDurationInOpenState 5 s.
pub fn anchor_config() -> BreakerConfig {
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

pub fn anchor() -> BreakerSpec {
    anchor_config().validate().expect("anchor config is valid")
}

/// resilience4j's `assertCircuitBreakerMetricsEqualTo(failureRate, successful,
/// buffered, failed, notPermitted)`, with the rate as a fraction.
pub fn tuple(b: &Breaker, now: Timestamp) -> (Option<f64>, u64, u64, u64, u64) {
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
pub fn letter(d: Decision) -> char {
    match d {
        Decision::Admit => 'A',
        Decision::Reject => 'R',
        Decision::Probe(_) => 'P',
    }
}

/// One call: ask, and if permitted report `outcome` after `duration`.
pub fn call(b: &mut Breaker, now: Timestamp, outcome: Outcome, duration: Span) -> Decision {
    let d = b.handle_request(now);
    if d.is_permitted() {
        let _ = b.handle_outcome(now, d, outcome, duration, &mut rng());
    }
    d
}

/// Opens then half-opens a fresh anchor breaker by manual transitions, as the
/// resilience4j tests do.
pub fn half_open_anchor(now: Timestamp) -> Breaker {
    let mut b = Breaker::new(&anchor(), now);
    b.transition_to(now, Open, &mut rng())
        .expect("closed → open");
    b.transition_to(now, HalfOpen, &mut rng())
        .expect("open → half-open");
    b
}

/// A consecutive-mode spec (Linkerd failure accrual).
pub fn consecutive(max_failures: u32, min: Span, max: Span, jitter: f64) -> BreakerSpec {
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
