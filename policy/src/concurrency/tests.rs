//! Envoy's `gradient_controller_test.cc` cases, ported: each test names the
//! case it follows. Envoy's tests advance a mocked clock and then run the
//! overdue timers; here a deadline fires when a call reaches it, so a test
//! calls `handle_timeout` where Envoy's runs its dispatcher.

use rand_pcg::Pcg64Mcg;

use super::*;

fn rng() -> Pcg64Mcg {
    Pcg64Mcg::new(0x5eed)
}

fn ms(n: u64) -> Span {
    Span::from_millis(n)
}

fn spec(config: AdaptiveConcurrencyConfig) -> AdaptiveConcurrencySpec {
    config.validate().expect("a valid config")
}

/// Envoy's test yaml: percentile 50, update 100 ms, jitter 0, interval 30 s.
fn base(request_count: u64) -> AdaptiveConcurrencyConfig {
    AdaptiveConcurrencyConfig {
        update_interval: Some(ms(100)),
        sample_percentile: Some(0.5),
        min_rtt_interval: Some(Span::from_secs(30)),
        min_rtt_requests: Some(request_count),
        jitter: Some(0.0),
        ..Default::default()
    }
}

/// A clock and a controller, with Envoy's test helpers.
struct Harness {
    now: Timestamp,
    c: AdaptiveConcurrency,
    rng: Pcg64Mcg,
}

impl Harness {
    fn new(config: AdaptiveConcurrencyConfig) -> Self {
        let now = Timestamp::from_nanos(1_000_000_000);
        Harness {
            now,
            c: AdaptiveConcurrency::new(&spec(config), now),
            rng: rng(),
        }
    }

    fn advance(&mut self, span: Span) {
        self.now += span;
    }

    /// Envoy's `dispatcher_->run`: overdue deadlines fire.
    fn run(&mut self) {
        self.c.handle_timeout(self.now);
    }

    /// Envoy's `tryForward(controller, expect_forward)`.
    fn try_forward(&mut self, expect_forward: bool) {
        let admitted = self.c.handle_request(self.now) == Admission::Forward;
        assert_eq!(admitted, expect_forward, "at {}", self.now);
    }

    /// Envoy's `sampleLatency(controller, latency)`: a response now of a
    /// request admitted `latency` ago.
    fn sample(&mut self, latency: Span) {
        let admitted = self.now.saturating_sub(latency);
        self.c.handle_response(self.now, admitted, &mut self.rng);
    }

    /// Envoy's `advancePastMinRTTStage`: enough samples of `latency` to end
    /// the measurement, then past the admission epoch.
    fn past_min_rtt(&mut self, requests: u64, latency: Span) {
        self.advance(latency);
        for _ in 0..requests {
            self.try_forward(true);
            self.advance(Span::from_nanos(1));
            // Admitted after the epoch: latency measured from admission.
            self.c
                .handle_response(self.now + latency, self.now, &mut self.rng);
        }
        self.advance(latency);
        assert!(!self.c.measuring_min_rtt());
    }

    fn limit(&self) -> u32 {
        self.c.limit()
    }
}

#[test]
fn defaults_are_envoys() {
    let s = spec(AdaptiveConcurrencyConfig::default());
    assert_eq!(s, AdaptiveConcurrencySpec::default());
    assert_eq!(s.update_interval, ms(100));
    assert_eq!(s.sample_percentile, 0.5);
    assert_eq!(s.max_limit, 1000);
    assert_eq!(s.min_rtt_interval, Span::from_secs(60));
    assert_eq!(s.min_rtt_requests, 50);
    assert_eq!(s.jitter, 0.15);
    assert_eq!(s.min_concurrency, 3);
    assert_eq!(s.buffer, 0.25);
    assert_eq!(s.fixed_min_rtt, None);
}

#[test]
fn bad_values_name_their_key() {
    let cases: [(AdaptiveConcurrencyConfig, &str); 9] = [
        (
            AdaptiveConcurrencyConfig {
                update_interval: Some(Span::from_micros(10)),
                ..Default::default()
            },
            "update_interval",
        ),
        (
            AdaptiveConcurrencyConfig {
                min_rtt_interval: Some(Span::from_secs(86_401)),
                ..Default::default()
            },
            "min_rtt_interval",
        ),
        (
            AdaptiveConcurrencyConfig {
                sample_percentile: Some(1.5),
                ..Default::default()
            },
            "sample_percentile",
        ),
        (
            AdaptiveConcurrencyConfig {
                jitter: Some(-0.1),
                ..Default::default()
            },
            "jitter",
        ),
        (
            AdaptiveConcurrencyConfig {
                buffer: Some(f64::NAN),
                ..Default::default()
            },
            "buffer",
        ),
        (
            AdaptiveConcurrencyConfig {
                max_limit: Some(0),
                ..Default::default()
            },
            "max_limit",
        ),
        (
            AdaptiveConcurrencyConfig {
                max_limit: Some(10),
                min_concurrency: Some(11),
                ..Default::default()
            },
            "min_concurrency",
        ),
        (
            AdaptiveConcurrencyConfig {
                min_rtt_requests: Some(0),
                ..Default::default()
            },
            "min_rtt_requests",
        ),
        (
            AdaptiveConcurrencyConfig {
                min_rtt: Some(Span::ZERO),
                ..Default::default()
            },
            "min_rtt",
        ),
    ];
    for (config, key) in cases {
        let err = config.validate().expect_err(key);
        assert_eq!(err.key(), key, "{err}");
    }
    let err = AdaptiveConcurrencyConfig {
        max_limit: Some(10),
        min_concurrency: Some(11),
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`min_concurrency` = 11: expected an integer from 1 to max_limit (10)"
    );
}

/// Envoy's `MinRTTLogicTest`: the limit is `min_concurrency` while minRTT is
/// measured; the measurement ends at `request_count` samples.
#[test]
fn min_rtt_is_measured_at_min_concurrency() {
    let mut h = Harness::new(AdaptiveConcurrencyConfig {
        min_concurrency: Some(7),
        ..base(50)
    });
    assert!(h.c.measuring_min_rtt());
    assert_eq!(h.limit(), 7);
    for _ in 0..7 {
        h.try_forward(true);
    }
    h.try_forward(false);
    h.try_forward(false);
    assert_eq!(h.c.stats().blocked, 2);
    h.advance(ms(13));
    for _ in 0..7 {
        h.sample(ms(13));
    }
    for _ in 0..43 {
        assert_eq!(h.limit(), 7);
        h.try_forward(true);
        h.sample(ms(13));
    }
    assert!(!h.c.measuring_min_rtt());
    assert_eq!(h.c.min_rtt(), Some(ms(13)));
    assert_eq!(h.c.outstanding(), 0);
}

/// Envoy's `CancelLatencySample` (really a median test): samples of 1..5 ms
/// give a minRTT of 3 ms.
#[test]
fn min_rtt_is_the_percentile_of_its_samples() {
    let mut h = Harness::new(base(5));
    h.advance(ms(10));
    for i in 1..=5 {
        h.try_forward(true);
        h.sample(ms(i));
    }
    assert_eq!(h.c.min_rtt(), Some(ms(3)));
    // The 90th percentile of 1..=10 by nearest rank is the 9th.
    let mut h = Harness::new(AdaptiveConcurrencyConfig {
        sample_percentile: Some(0.9),
        ..base(10)
    });
    h.advance(ms(10));
    for i in 1..=10 {
        h.try_forward(true);
        h.sample(ms(i));
    }
    assert_eq!(h.c.min_rtt(), Some(ms(9)));
}

/// Envoy's `SamplePercentileProcessTest`: a cancel frees a place without a
/// sample.
#[test]
fn a_cancel_frees_a_place_without_a_sample() {
    let mut h = Harness::new(base(5));
    h.try_forward(true);
    h.try_forward(true);
    h.try_forward(true);
    h.try_forward(false);
    h.c.handle_cancel(h.now);
    h.try_forward(true);
    h.try_forward(false);
    assert!(h.c.measuring_min_rtt());
    assert_eq!(h.c.min_rtt(), None);
}

/// Envoy's `MinRTTBufferTest`: latencies within the buffer still grow the
/// limit.
#[test]
fn latency_within_the_buffer_grows_the_limit() {
    let mut h = Harness::new(AdaptiveConcurrencyConfig {
        buffer: Some(0.5),
        ..base(5)
    });
    assert_eq!(h.limit(), 3);
    h.past_min_rtt(5, ms(5));
    assert_eq!(h.c.min_rtt(), Some(ms(5)));
    for _ in 0..10 {
        let last = h.limit();
        for _ in 0..5 {
            h.try_forward(true);
            h.sample(ms(6));
        }
        h.advance(ms(101));
        h.run();
        assert!(h.limit() > last, "{} <= {last}", h.limit());
    }
}

/// Envoy's `ConcurrencyLimitBehaviorTestBasic`: the limit grows at most 2x
/// per window when latency is low, and shrinks, never below the floor, when
/// latency is above the buffered minRTT.
#[test]
fn the_limit_grows_and_shrinks_within_its_bounds() {
    let mut h = Harness::new(AdaptiveConcurrencyConfig {
        buffer: Some(0.1),
        min_concurrency: Some(7),
        ..base(5)
    });
    assert_eq!(h.limit(), 7);
    h.past_min_rtt(5, ms(5));
    h.advance(ms(101));
    h.run();
    assert!(h.limit() >= 7);
    assert!(f64::from(h.limit()) / 7.0 <= 2.0);
    for _ in 0..10 {
        let last = h.limit();
        for _ in 0..5 {
            h.try_forward(true);
            h.sample(ms(4));
        }
        h.advance(ms(101));
        h.run();
        assert!(last <= h.limit());
        assert!(f64::from(last) / f64::from(h.limit()) >= 0.5);
    }
    for _ in 0..10 {
        let last = h.limit();
        for _ in 0..5 {
            h.try_forward(true);
            h.sample(ms(6));
        }
        h.advance(ms(101));
        h.run();
        assert!(h.limit() < last, "{} >= {last}", h.limit());
        assert!(h.limit() >= 7);
    }
}

/// The update rule, exactly: limit 10, minRTT 10 ms, buffer 0.25, sampleRTT
/// 25 ms: gradient 0.5, limit 5, plus √5: 7 (truncated).
#[test]
fn the_update_is_envoys_formula() {
    let mut h = Harness::new(AdaptiveConcurrencyConfig {
        min_concurrency: Some(1),
        min_rtt: Some(ms(10)),
        ..base(5)
    });
    // Fixed minRTT: no measurement; grow the limit to a known value first.
    assert!(!h.c.measuring_min_rtt());
    assert_eq!(h.limit(), 1);
    h.advance(ms(50));
    let mut expected = 1.0_f64;
    for _ in 0..3 {
        h.try_forward(true);
        h.sample(ms(10));
        h.advance(ms(100));
        h.run();
        // gradient 12.5 / 10 = 1.25.
        let limit = expected * 1.25;
        expected = (limit + limit.sqrt()).floor();
        assert_eq!(f64::from(h.limit()), expected);
        assert_eq!(h.c.stats().gradient, 1.25);
    }
    assert_eq!(h.limit(), 7); // 1 -> 2 -> 4 -> 7
    h.try_forward(true);
    h.sample(ms(40));
    h.advance(ms(100));
    h.run();
    // gradient 12.5 / 40 = 0.3125, clamped to 0.5: 3.5 + 1.87 = 5.37 -> 5.
    assert_eq!(h.c.stats().gradient, 0.5);
    assert_eq!(h.limit(), 5);
    assert_eq!(h.c.sample_rtt(), Some(ms(40)));
    h.try_forward(true);
    h.sample(Span::from_micros(1));
    h.advance(ms(100));
    h.run();
    // Gradient clamped to 2: 10 + 3.16 -> 13.
    assert_eq!(h.c.stats().gradient, 2.0);
    assert_eq!(h.limit(), 13);
}

/// `max_limit` caps the limit.
#[test]
fn the_limit_stops_at_max_limit() {
    let mut h = Harness::new(AdaptiveConcurrencyConfig {
        max_limit: Some(20),
        min_rtt: Some(ms(10)),
        ..base(5)
    });
    for _ in 0..20 {
        h.try_forward(true);
        h.sample(ms(1));
        h.advance(ms(100));
        h.run();
    }
    assert_eq!(h.limit(), 20);
}

/// Envoy's `MinRTTReturnToPreviousLimit` and `MinRTTRescheduleTest`: a new
/// measurement pins the limit to the floor, no update happens during it,
/// and its end restores the limit.
#[test]
fn a_measurement_restores_the_limit_it_interrupted() {
    let mut h = Harness::new(base(5));
    assert_eq!(h.limit(), 3);
    h.past_min_rtt(5, ms(5));
    h.advance(Span::from_secs(1));
    for _ in 0..5 {
        let last = h.limit();
        for _ in 0..5 {
            h.try_forward(true);
            h.sample(ms(4));
        }
        h.advance(ms(101));
        h.run();
        assert!(h.limit() > last);
    }
    let limit = h.limit();
    h.advance(Span::from_secs(31));
    h.run();
    assert!(h.c.measuring_min_rtt());
    assert_eq!(h.limit(), 3);
    // No update during the measurement.
    h.advance(ms(101));
    h.run();
    assert_eq!(h.limit(), 3);
    h.advance(Span::from_secs(1));
    for _ in 0..5 {
        assert_eq!(h.limit(), 3);
        h.try_forward(true);
        h.sample(ms(13));
    }
    assert!(!h.c.measuring_min_rtt());
    assert_eq!(h.limit(), limit);
    assert_eq!(h.c.min_rtt(), Some(ms(13)));
    assert_eq!(h.c.stats().min_rtt_measurements, 2);
}

/// Envoy's `NoSamplesTest`: windows without samples leave the limit alone.
#[test]
fn empty_windows_change_nothing() {
    let mut h = Harness::new(base(5));
    h.past_min_rtt(5, ms(5));
    for _ in 0..5 {
        let last = h.limit();
        for _ in 0..5 {
            h.try_forward(true);
            h.sample(ms(4));
        }
        h.advance(ms(101));
        h.run();
        assert!(h.limit() > last);
    }
    let updates = h.c.stats().updates;
    for _ in 0..5 {
        let old = h.limit();
        h.advance(ms(101));
        h.run();
        assert_eq!(h.limit(), old);
    }
    // A long idle gap is skipped, not walked window by window, and the next
    // sample lands in the window after it.
    h.advance(Span::from_secs(20));
    h.run();
    assert_eq!(h.c.stats().updates, updates);
    let deadline = h.c.poll_timeout().unwrap();
    assert!(deadline > h.now && deadline <= h.now + ms(100));
}

/// Envoy's `MinRTTEpoch`: responses to requests admitted before a
/// measurement began are not sampled, so they cannot end it.
#[test]
fn requests_from_before_a_measurement_are_not_sampled() {
    let mut h = Harness::new(AdaptiveConcurrencyConfig {
        min_concurrency: Some(2),
        buffer: Some(0.0),
        ..base(25)
    });
    let min_rtt = ms(1350);
    h.advance(min_rtt);
    assert!(h.c.measuring_min_rtt());
    assert_eq!(h.limit(), 2);
    h.past_min_rtt(25, min_rtt);
    assert_eq!(h.c.min_rtt(), Some(min_rtt));
    let mut last = h.limit();
    // 25 windows of 1.1 s: just short of the next measurement (30 s).
    for _ in 0..25 {
        h.try_forward(true);
        h.advance(Span::from_secs(1));
        h.sample(min_rtt);
        h.advance(ms(100));
        h.run();
        assert!(h.limit() > last, "{} <= {last}", h.limit());
        last = h.limit();
    }
    let before = h.now;
    let n = h.limit();
    for _ in 0..n {
        h.try_forward(true);
    }
    h.advance(Span::from_secs(5));
    h.run();
    assert!(h.c.measuring_min_rtt());
    assert_eq!(h.limit(), 2);
    assert!(n > 25);
    for _ in 0..n {
        h.c.handle_response(h.now, before, &mut h.rng);
    }
    assert!(h.c.measuring_min_rtt());
    assert_eq!(h.c.outstanding(), 0);
}

/// Envoy's `ConsecutiveMinConcurrencyReset`: five windows in a row at the
/// floor measure minRTT again at once, and the limit then grows on the new
/// minRTT.
#[test]
fn five_windows_at_the_floor_measure_min_rtt_again() {
    let mut h = Harness::new(AdaptiveConcurrencyConfig {
        min_rtt_interval: Some(Span::from_secs(3600)),
        buffer: Some(0.0),
        min_concurrency: Some(7),
        ..base(5)
    });
    h.past_min_rtt(5, ms(5));
    h.advance(ms(101));
    h.run();
    assert!(h.limit() >= 7);
    let elevated = ms(10);
    let mut windows = 0;
    while !h.c.measuring_min_rtt() {
        for _ in 0..5 {
            h.try_forward(true);
            h.sample(elevated);
        }
        h.advance(ms(101));
        h.run();
        windows += 1;
        assert!(windows <= 8, "no new measurement after {windows} windows");
    }
    assert_eq!(h.limit(), 7);
    h.advance(elevated);
    for _ in 0..5 {
        h.try_forward(true);
        h.sample(elevated);
    }
    assert!(!h.c.measuring_min_rtt());
    assert_eq!(h.c.min_rtt(), Some(elevated));
    for _ in 0..10 {
        let last = h.limit();
        for _ in 0..5 {
            h.try_forward(true);
            h.sample(elevated);
        }
        h.advance(ms(101));
        h.run();
        assert!(h.limit() >= last);
    }
    assert!(h.limit() > 7);
}

/// With a fixed minRTT the floor never triggers a measurement.
#[test]
fn a_fixed_min_rtt_is_never_measured() {
    let mut h = Harness::new(AdaptiveConcurrencyConfig {
        min_rtt: Some(ms(5)),
        ..base(5)
    });
    for _ in 0..20 {
        h.try_forward(true);
        h.sample(ms(50));
        h.advance(ms(101));
        h.run();
    }
    assert_eq!(h.limit(), 3);
    assert!(!h.c.measuring_min_rtt());
    assert_eq!(h.c.min_rtt(), Some(ms(5)));
    assert_eq!(h.c.stats().min_rtt_measurements, 0);
}

/// Envoy's `TimerAccuracyTest` and `TimerAccuracyTestNoJitter`: the next
/// measurement waits `interval` plus less than `jitter × interval`, and the
/// update window restarts when a measurement ends.
#[test]
fn measurements_are_spaced_by_the_jittered_interval() {
    for (jitter, interval) in [(0.0, 45), (0.1, 100)] {
        let mut h = Harness::new(AdaptiveConcurrencyConfig {
            update_interval: Some(ms(123)),
            min_rtt_interval: Some(Span::from_secs(interval)),
            jitter: Some(jitter),
            ..base(5)
        });
        for _ in 0..5 {
            h.try_forward(true);
            h.advance(ms(5));
            h.sample(ms(5));
        }
        assert!(!h.c.measuring_min_rtt());
        let ended = h.now;
        assert_eq!(h.c.poll_timeout(), Some(ended + ms(123)));
        // Walk the update windows until the measurement begins.
        let mut begun = None;
        while begun.is_none() {
            h.try_forward(true);
            h.sample(ms(5));
            let next = h.c.poll_timeout().unwrap();
            h.now = next;
            h.run();
            if h.c.measuring_min_rtt() {
                begun = Some(next);
            }
        }
        let wait = begun.unwrap() - ended;
        let base = Span::from_secs(interval);
        assert!(wait >= base, "{wait}");
        let bound = base.mul_f64(1.0 + jitter);
        assert!(
            wait < bound || (jitter == 0.0 && wait == base),
            "{wait} >= {bound}"
        );
    }
}

/// The same calls give the same decisions whether a driver polls the
/// deadlines or lets the calls catch up.
#[test]
fn polling_and_catching_up_agree() {
    let config = AdaptiveConcurrencyConfig {
        min_rtt_interval: Some(Span::from_secs(2)),
        jitter: Some(0.5),
        ..base(20)
    };
    let run = |poll: bool| {
        let mut h = Harness::new(config.clone());
        let mut decisions = Vec::new();
        let mut in_flight: Vec<Timestamp> = Vec::new();
        let mut lcg = 12345u64;
        for _ in 0..20_000 {
            lcg = lcg
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let step = Span::from_micros((lcg >> 33) % 3000);
            let target = h.now + step;
            if poll {
                while let Some(t) = h.c.poll_timeout().filter(|&t| t <= target) {
                    h.now = t;
                    h.c.handle_timeout(t);
                }
            }
            h.now = target;
            // Answer the oldest request in flight, else ask.
            if in_flight.len() > 4 || (lcg >> 20).is_multiple_of(3) && !in_flight.is_empty() {
                let admitted = in_flight.remove(0);
                h.c.handle_response(h.now, admitted, &mut h.rng);
            } else {
                let d = h.c.handle_request(h.now);
                if d == Admission::Forward {
                    in_flight.push(h.now);
                }
                decisions.push((d, h.c.limit()));
            }
        }
        (
            decisions,
            h.c.stats().updates,
            h.c.stats().min_rtt_measurements,
        )
    };
    let (a, b) = (run(false), run(true));
    assert!(
        a.1 > 100 && a.2 > 3,
        "{} updates, {} measurements",
        a.1,
        a.2
    );
    assert_eq!(a, b);
}
