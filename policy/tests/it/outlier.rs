//! Envoy's success-rate and failure-percentage outlier detectors beside the
//! consecutive-5xx one: the worked example in Envoy's `outlier_detection.cc`
//! ({50, 100, 100, 100, 100} → mean 90, σ 20, threshold 52), request volume
//! and minimum-host gates, enforcement chances, ejection jitter, the keys'
//! full paths, and a property test that ejections never exceed the limit.

use headroom_policy::PolicyConfig;
use headroom_policy::balance::EndpointId;
use headroom_policy::breaker::Outcome;
use headroom_policy::health::{OutlierConfig, OutlierDetector, OutlierEvent, OutlierStats};
use headroom_policy::time::{Span, Timestamp};
use proptest::prelude::*;
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

fn at(s: u64) -> Timestamp {
    Timestamp::ZERO + Span::from_secs(s)
}

fn id(i: u32) -> EndpointId {
    EndpointId::new(i, 0)
}

fn detector(hosts: u32, config: OutlierConfig) -> OutlierDetector {
    let spec = config.validate().expect("valid");
    let mut d = OutlierDetector::new(&spec, at(0));
    for i in 0..hosts {
        d.add_endpoint(id(i)).expect("room");
    }
    d
}

/// `total` responses from `host` at `now`, of which `successes` succeed,
/// interleaved so that no run of failures trips consecutive_5xx (the tests
/// set it high anyway).
fn respond(d: &mut OutlierDetector, now: Timestamp, host: u32, successes: u32, total: u32) {
    for i in 0..total {
        let outcome = if i < successes {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let _ = d.handle_response(now, id(host), outcome);
    }
}

fn sweep(d: &mut OutlierDetector, now: Timestamp) -> Vec<OutlierEvent> {
    let mut events = Vec::new();
    d.handle_timeout(now, &mut events);
    events
}

fn rates_only() -> OutlierConfig {
    OutlierConfig {
        consecutive_5xx: 1_000_000,
        max_ejection_percent: 100,
        ..OutlierConfig::default()
    }
}

#[test]
fn envoys_worked_success_rate_example() {
    // success_rate_data = {50, 100, 100, 100, 100}: sum 450, mean 90,
    // variance 400, stdev 20, threshold 90 − 1.9 × 20 = 52.
    let mut d = detector(5, rates_only());
    respond(&mut d, at(1), 0, 50, 100);
    for host in 1..5 {
        respond(&mut d, at(1), host, 100, 100);
    }
    assert_eq!(sweep(&mut d, at(10)), [OutlierEvent::Ejected(id(0))]);
    let (mean, threshold) = d.success_rate_threshold().expect("detector ran");
    assert_eq!(mean, 90.0);
    assert!((threshold - 52.0).abs() < 1e-9, "{threshold}");
    assert_eq!(d.success_rate(id(0)), Some(50.0));
    let stats = d.stats();
    assert_eq!(
        (stats.detected_success_rate, stats.enforced_success_rate),
        (1, 1)
    );
    // Ejection ends like any other: 30 s base, first sweep after it.
    assert_eq!(d.ejected_until(id(0)), Some(at(40)));
}

#[test]
fn max_ejection_percent_still_guards_rate_ejections() {
    // Default 10 % with 5 hosts: ejecting one would be 20 %: overflow.
    let mut d = detector(
        5,
        OutlierConfig {
            consecutive_5xx: 1_000_000,
            ..OutlierConfig::default()
        },
    );
    respond(&mut d, at(1), 0, 50, 100);
    for host in 1..5 {
        respond(&mut d, at(1), host, 100, 100);
    }
    assert_eq!(sweep(&mut d, at(10)), []);
    assert_eq!(d.stats().detected_success_rate, 1);
    assert_eq!(d.overflow_count(), 1);
}

#[test]
fn volume_and_minimum_hosts_gate_the_success_rate_detector() {
    // One host short of 100 requests: only 4 qualify, fewer than 5.
    let mut d = detector(5, rates_only());
    respond(&mut d, at(1), 0, 10, 100);
    respond(&mut d, at(1), 1, 99, 99);
    for host in 2..5 {
        respond(&mut d, at(1), host, 100, 100);
    }
    assert_eq!(sweep(&mut d, at(10)), []);
    assert_eq!(d.success_rate_threshold(), None);
    // The next interval had no requests at all: nothing to read.
    assert_eq!(sweep(&mut d, at(20)), []);
    assert_eq!(d.success_rate(id(0)), None);
    // Requests count in the interval they arrive in: these are read at 30 s.
    respond(&mut d, at(25), 0, 10, 100);
    for host in 1..5 {
        respond(&mut d, at(25), host, 100, 100);
    }
    assert_eq!(sweep(&mut d, at(30)), [OutlierEvent::Ejected(id(0))]);
}

#[test]
fn equal_rates_eject_nobody() {
    // σ = 0: the threshold is the mean and nobody is strictly below it.
    let mut d = detector(6, rates_only());
    for host in 0..6 {
        respond(&mut d, at(1), host, 70, 100);
    }
    assert_eq!(sweep(&mut d, at(10)), []);
    assert_eq!(d.success_rate_threshold(), Some((70.0, 70.0)));
}

#[test]
fn failure_percentage_is_off_by_default_and_ejects_at_the_threshold() {
    let config = OutlierConfig {
        success_rate_minimum_hosts: 100,
        ..rates_only()
    };
    let fill = |d: &mut OutlierDetector| {
        respond(d, at(1), 0, 15, 100); // 85 % failures: ejected (>=)
        respond(d, at(1), 1, 16, 100); // 84 %: kept
        respond(d, at(1), 2, 0, 49); // below the 50-request volume
        for host in 3..6 {
            respond(d, at(1), host, 100, 100);
        }
    };
    let mut d = detector(6, config.clone());
    fill(&mut d);
    assert_eq!(sweep(&mut d, at(10)), []);
    assert_eq!(
        d.stats(),
        OutlierStats {
            detected_failure_percentage: 1,
            ..OutlierStats::default()
        }
    );
    let mut d = detector(
        6,
        OutlierConfig {
            enforcing_failure_percentage: 100,
            ..config
        },
    );
    fill(&mut d);
    assert_eq!(sweep(&mut d, at(10)), [OutlierEvent::Ejected(id(0))]);
    assert_eq!(d.stats().enforced_failure_percentage, 1);
}

#[test]
fn enforcement_is_a_chance_drawn_from_the_rng() {
    // enforcing_consecutive_5xx = 30: over 2 000 detections about 600 eject
    // (binomial σ ≈ 20.5; ±100 is beyond 4.8 σ).
    let config = OutlierConfig {
        consecutive_5xx: 1,
        enforcing_consecutive_5xx: 30,
        max_ejection_percent: 100,
        ..OutlierConfig::default()
    };
    let mut d = detector(1, config.clone());
    let mut rng = Pcg64::seed_from_u64(11);
    let mut ejected = 0;
    for i in 0..2_000 {
        let now = at(i);
        if d.handle_response_with_rng(now, id(0), Outcome::Failure, &mut rng)
            .is_some()
        {
            ejected += 1;
            assert!(d.handle_check_passed(now, id(0)).is_some());
        }
    }
    assert!((500..=700).contains(&ejected), "{ejected}");
    let stats = d.stats();
    assert_eq!(stats.detected_consecutive_5xx, 2_000);
    assert_eq!(stats.enforced_consecutive_5xx, ejected);
    // Without an RNG any chance above 0 enforces.
    let mut d = detector(1, config);
    assert!(d.handle_response(at(0), id(0), Outcome::Failure).is_some());
}

#[test]
fn jitter_lengthens_ejections_by_whole_milliseconds() {
    let config = OutlierConfig {
        consecutive_5xx: 1,
        max_ejection_percent: 100,
        max_ejection_time_jitter: Span::from_secs(5),
        ..OutlierConfig::default()
    };
    let mut d = detector(1, config);
    let mut rng = Pcg64::seed_from_u64(5);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..50 {
        let now = at(1_000 * i);
        assert!(
            d.handle_response_with_rng(now, id(0), Outcome::Failure, &mut rng)
                .is_some()
        );
        let until = d.ejected_until(id(0)).expect("ejected");
        // Multiplier 1 each time (un-ejected and decayed in between).
        let jitter = until.saturating_since(now + Span::from_secs(30));
        assert!(jitter < Span::from_secs(5), "{jitter}");
        assert!(jitter.as_nanos().is_multiple_of(1_000_000));
        seen.insert(jitter);
        let _ = d.handle_check_passed(now, id(0));
        let mut events = Vec::new();
        d.handle_timeout_with_rng(now + Span::from_secs(500), &mut rng, &mut events);
        d.handle_timeout_with_rng(now + Span::from_secs(900), &mut rng, &mut events);
    }
    assert!(seen.len() > 40, "jitter varies: {}", seen.len());
}

#[test]
fn rate_keys_are_checked_with_full_paths() {
    #[derive(serde::Deserialize)]
    struct Doc {
        policy: PolicyConfig,
    }
    for (text, key) in [
        (
            "[policy.load_balancer.outlier_detection]\nenforcing_success_rate = 101",
            "policy.load_balancer.outlier_detection.enforcing_success_rate",
        ),
        (
            "[policy.load_balancer.outlier_detection]\nfailure_percentage_threshold = 150",
            "policy.load_balancer.outlier_detection.failure_percentage_threshold",
        ),
        (
            "[policy.load_balancer.outlier_detection]\nsuccess_rate_stdev_factor = 100001",
            "policy.load_balancer.outlier_detection.success_rate_stdev_factor",
        ),
        (
            "[policy.load_balancer.outlier_detection]\nsuccess_rate_minimum_hosts = 70000",
            "policy.load_balancer.outlier_detection.success_rate_minimum_hosts",
        ),
    ] {
        let doc: Doc = toml::from_str(text).expect("parses");
        let err = doc.policy.validate().expect_err(key);
        assert_eq!(err.key(), key);
    }
    let doc: Doc = toml::from_str(
        "[policy.load_balancer.outlier_detection]\nsuccess_rate_stdev_factor = 1000\n\
         enforcing_failure_percentage = 100\nmax_ejection_time_jitter = \"2s\"",
    )
    .expect("parses");
    let spec = doc
        .policy
        .validate()
        .expect("valid")
        .load_balancer
        .and_then(|lb| lb.outlier_detection)
        .expect("outlier detection");
    assert_eq!(spec.success_rate_stdev_factor, 1000);
    assert_eq!(spec.max_ejection_time_jitter_ms, 2_000);
}

/// One driver step against the detector.
#[derive(Clone, Debug)]
enum Step {
    Respond(u32, u32, u32),
    Sweep(u64),
    CheckPassed(u32),
    Remove(u32),
    Add(u32),
}

fn step(hosts: u32) -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..hosts, 0u32..120, 0u32..120).prop_map(|(h, s, f)| Step::Respond(h, s, f)),
        3 => (1u64..40).prop_map(Step::Sweep),
        1 => (0..hosts).prop_map(Step::CheckPassed),
        1 => (0..hosts).prop_map(Step::Remove),
        1 => (0..hosts).prop_map(Step::Add),
    ]
}

proptest! {
    /// Whatever the traffic, the ejected endpoints never exceed
    /// `max_ejection_percent` of the endpoints (one endpoint beyond it only
    /// with `always_eject_one_host`), and the count matches the flags.
    #[test]
    fn ejections_never_exceed_the_limit(
        hosts in 1u32..12,
        max_percent in 0u32..=100,
        always_one in any::<bool>(),
        enforcing_fp in prop::sample::select(vec![0u32, 50, 100]),
        steps in prop::collection::vec(step(12), 1..120),
        seed in any::<u64>(),
    ) {
        let config = OutlierConfig {
            consecutive_5xx: 3,
            max_ejection_percent: max_percent,
            always_eject_one_host: always_one,
            success_rate_minimum_hosts: 2,
            success_rate_request_volume: 10,
            failure_percentage_minimum_hosts: 2,
            failure_percentage_request_volume: 10,
            enforcing_failure_percentage: enforcing_fp,
            ..OutlierConfig::default()
        };
        let spec = config.validate().expect("valid");
        let mut d = OutlierDetector::new(&spec, at(0));
        let mut present = [false; 12];
        for i in 0..hosts {
            d.add_endpoint(id(i)).expect("room");
            present[i as usize] = true;
        }
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut now = at(0);
        let mut events = Vec::new();
        let mut previous = 0;
        for step in steps {
            match step {
                Step::Respond(h, successes, failures) if present[h as usize] => {
                    // The failures spread evenly among the responses.
                    let n = successes + failures;
                    for i in 0..n {
                        let outcome = if (i * failures) / n != ((i + 1) * failures) / n {
                            Outcome::Failure
                        } else {
                            Outcome::Success
                        };
                        let _ = d.handle_response_with_rng(now, id(h), outcome, &mut rng);
                    }
                }
                Step::Sweep(s) => {
                    now += Span::from_secs(s);
                    d.handle_timeout_with_rng(now, &mut rng, &mut events);
                }
                Step::CheckPassed(h) => {
                    let _ = d.handle_check_passed(now, id(h));
                }
                Step::Remove(h) => {
                    d.remove_endpoint(id(h));
                    present[h as usize] = false;
                }
                Step::Add(h) => {
                    d.add_endpoint(id(h)).expect("room");
                    present[h as usize] = true;
                }
                Step::Respond(..) => {}
            }
            let ejected = (0..12).filter(|&h| d.is_ejected(id(h))).count();
            prop_assert_eq!(ejected, d.ejected_count());
            // Checked whenever an ejection happened (removing endpoints later
            // may raise the ratio, as in Envoy: the guard applies to ejecting).
            if ejected > previous {
                let limit_ok =
                    100 * ejected as u64 <= u64::from(max_percent) * d.endpoint_count() as u64;
                prop_assert!(
                    limit_ok || (always_one && ejected == 1),
                    "{} of {} ejected at {} %", ejected, d.endpoint_count(), max_percent
                );
            }
            previous = ejected;
        }
    }
}
