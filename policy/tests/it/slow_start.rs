//! Slow start in the balancers (Envoy `slow_start_config`): a new endpoint
//! ramps from `min_weight_percent` to its full weight over the window in
//! round robin, random, least request and least connections; a health
//! recovery restarts the ramp, an ejection does not; the fast paths return
//! when the last ramp ends; weights rise monotonically to full.

use headroom_policy::balance::{
    Algorithm, Balancer, BalancerSpec, EndpointId, LoadBalancerConfig, SlowStartConfig,
};
use headroom_policy::health::Health;
use headroom_policy::time::{Span, Timestamp};
use proptest::prelude::*;
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

fn at_s(s: u64) -> Timestamp {
    Timestamp::ZERO + Span::from_secs(s)
}

fn spec(algorithm: Algorithm, window_s: u64, aggression: f64, min_percent: f64) -> BalancerSpec {
    LoadBalancerConfig {
        algorithm,
        slow_start: Some(SlowStartConfig {
            window: Some(Span::from_secs(window_s)),
            aggression: Some(aggression),
            min_weight_percent: Some(min_percent),
        }),
        ..LoadBalancerConfig::default()
    }
    .validate()
    .expect("valid")
}

/// Four warm endpoints and a fifth added at `added`; returns the balancer
/// and the new endpoint.
fn fleet_with_newcomer(spec: &BalancerSpec, added: Timestamp) -> (Balancer, EndpointId) {
    let mut lb = Balancer::new(spec);
    for _ in 0..4 {
        let id = lb
            .add_endpoint(Timestamp::ZERO, 1, Health::Healthy)
            .expect("room");
        lb.end_slow_start(id);
    }
    let new = lb.add_endpoint(added, 1, Health::Healthy).expect("room");
    (lb, new)
}

/// The newcomer's share of `picks` picks spread evenly over `[from, to)`.
fn share(lb: &mut Balancer, new: EndpointId, from: Timestamp, to: Timestamp, picks: u64) -> f64 {
    let mut rng = Pcg64::seed_from_u64(7);
    let step = to.saturating_since(from).as_nanos() / picks;
    let mut hits = 0u64;
    for i in 0..picks {
        let now = from + Span::from_nanos(i * step);
        if lb.pick(now, &mut rng) == Some(new) {
            hits += 1;
        }
    }
    hits as f64 / picks as f64
}

#[test]
fn round_robin_ramps_the_newcomer_over_the_window() {
    let s = spec(Algorithm::RoundRobin, 60, 1.0, 10.0);
    let (mut lb, new) = fleet_with_newcomer(&s, at_s(100));
    // Expected share with factor f against four warm endpoints: f / (4 + f).
    // 6 000 picks per 10 s slice; EDF is exact up to its lazy re-add.
    let mut previous = 0.0;
    for slice in 0..6u64 {
        let from = at_s(100 + 10 * slice);
        let got = share(&mut lb, new, from, from + Span::from_secs(10), 6_000);
        let mid = Span::from_secs(10 * slice + 5);
        let f = (mid.as_secs_f64() / 60.0).max(0.1);
        let expected = f / (4.0 + f);
        assert!(
            (got - expected).abs() < 0.03,
            "slice {slice}: {got} vs {expected}"
        );
        assert!(got > previous, "the share grows");
        previous = got;
    }
    // After the window: plain round robin, one in five exactly.
    assert_eq!(lb.is_slow_starting(new, at_s(160)), Some(false));
    let got = share(&mut lb, new, at_s(160), at_s(170), 5_000);
    assert_eq!(got, 0.2);
}

#[test]
fn effective_weight_follows_envoys_formula() {
    let s = spec(Algorithm::LeastRequest, 60, 2.0, 10.0);
    let (lb, new) = fleet_with_newcomer(&s, at_s(100));
    // sqrt(t / 60), floored at 0.1.
    assert_eq!(lb.effective_weight(new, at_s(100)), Some(0.1));
    assert_eq!(lb.effective_weight(new, at_s(115)), Some(0.5));
    assert_eq!(lb.effective_weight(new, at_s(160)), Some(1.0));
    assert_eq!(lb.is_slow_starting(new, at_s(159)), Some(true));
    let warm = lb.endpoints().next().expect("an endpoint");
    assert_eq!(lb.effective_weight(warm, at_s(100)), Some(1.0));
}

#[test]
fn least_request_and_random_ramp_too() {
    for algorithm in [Algorithm::LeastRequest, Algorithm::Random] {
        let s = spec(algorithm, 60, 1.0, 10.0);
        let (mut lb, new) = fleet_with_newcomer(&s, at_s(100));
        let early = share(&mut lb, new, at_s(100), at_s(106), 20_000);
        let late = share(&mut lb, new, at_s(150), at_s(160), 20_000);
        let after = share(&mut lb, new, at_s(200), at_s(210), 20_000);
        // Early f = 0.1: about 2.4 %; late f ≈ 0.92: about 19 %; then 20 %.
        // Random's binomial sd over 20 000 picks is under 0.3 %.
        assert!(
            (early - 0.1 / 4.1).abs() < 0.012,
            "{algorithm}: early {early}"
        );
        assert!(
            (late - 0.917 / 4.917).abs() < 0.02,
            "{algorithm}: late {late}"
        );
        assert!((after - 0.2).abs() < 0.015, "{algorithm}: after {after}");
    }
}

#[test]
fn least_connections_limits_the_newcomers_concurrency() {
    // Every endpoint holds requests; in steady state least connections
    // equalises active / (weight × factor), so at f = 0.1 the newcomer holds
    // a tenth of a warm endpoint's requests.
    let s = spec(Algorithm::LeastConnections, 600, 1.0, 10.0);
    let (mut lb, new) = fleet_with_newcomer(&s, at_s(100));
    let mut rng = Pcg64::seed_from_u64(3);
    let now = at_s(101);
    for _ in 0..410 {
        let id = lb.pick(now, &mut rng).expect("endpoints");
        lb.handle_start(id);
    }
    let new_active = lb.active_requests(new).expect("present");
    assert!((9..=11).contains(&new_active), "{new_active}");
    // Without slow start the newcomer would have been filled first.
    let mut plain = Balancer::new(&BalancerSpec::with_algorithm(Algorithm::LeastConnections));
    for _ in 0..5 {
        plain.add_endpoint(now, 1, Health::Healthy).expect("room");
    }
    for _ in 0..410 {
        let id = plain.pick(now, &mut rng).expect("endpoints");
        plain.handle_start(id);
    }
    assert!(
        plain
            .endpoints()
            .all(|id| plain.active_requests(id) >= Some(81))
    );
}

#[test]
fn health_recovery_restarts_the_ramp_and_ejection_does_not() {
    let s = spec(Algorithm::RoundRobin, 60, 1.0, 10.0);
    let (mut lb, new) = fleet_with_newcomer(&s, at_s(0));
    assert_eq!(lb.effective_weight(new, at_s(100)), Some(1.0));
    lb.set_ejected(new, true);
    lb.set_ejected(new, false);
    assert_eq!(lb.is_slow_starting(new, at_s(101)), Some(false));
    lb.set_health_at(at_s(200), new, Health::Unhealthy);
    lb.set_health_at(at_s(200), new, Health::Healthy);
    assert_eq!(lb.effective_weight(new, at_s(230)), Some(0.5));
    // `set_health` without a time starts the ramp at the next pick.
    lb.set_health(new, Health::Unhealthy);
    lb.set_health(new, Health::Healthy);
    assert_eq!(lb.is_slow_starting(new, at_s(400)), Some(true));
    let mut rng = Pcg64::seed_from_u64(1);
    let _ = lb.pick(at_s(400), &mut rng);
    assert_eq!(lb.effective_weight(new, at_s(430)), Some(0.5));
}

#[test]
fn peak_ewma_refuses_slow_start_with_the_full_key() {
    #[derive(serde::Deserialize)]
    struct Doc {
        policy: headroom_policy::PolicyConfig,
    }
    let doc: Doc = toml::from_str(
        r#"
        [policy.load_balancer]
        algorithm = "peak-ewma"
        slow_start = { window = "30s" }
        "#,
    )
    .expect("parses");
    let err = doc.policy.validate().expect_err("invalid");
    assert_eq!(err.key(), "policy.load_balancer.slow_start");
    let doc: Doc = toml::from_str(
        r#"
        [policy.load_balancer]
        algorithm = "round-robin"
        slow_start = { window = "30s", aggression = -1.0 }
        "#,
    )
    .expect("parses");
    let err = doc.policy.validate().expect_err("invalid");
    assert_eq!(err.key(), "policy.load_balancer.slow_start.aggression");
    let doc: Doc = toml::from_str(
        r#"
        [policy.load_balancer]
        algorithm = "least-request"
        slow_start = { window = "60s", aggression = 1.5, min_weight_percent = 5.0 }
        "#,
    )
    .expect("parses");
    let p = doc.policy.validate().expect("valid");
    let ss = p
        .load_balancer
        .and_then(|lb| lb.slow_start)
        .expect("slow start");
    assert_eq!(
        (ss.window(), ss.aggression(), ss.min_weight()),
        (Span::from_secs(60), 1.5, 0.05)
    );
}

proptest! {
    /// An endpoint's effective weight never falls while it stays healthy,
    /// and is exactly its weight from the end of the window on.
    #[test]
    fn slow_start_weights_rise_monotonically_to_full(
        window_ms in 1u64..120_000,
        aggression in 0.1f64..10.0,
        min_percent in 0.0f64..=100.0,
        weight in 1u32..100,
        mut offsets in prop::collection::vec(0u64..300_000, 1..50),
    ) {
        let s = LoadBalancerConfig {
            algorithm: Algorithm::RoundRobin,
            slow_start: Some(SlowStartConfig {
                window: Some(Span::from_millis(window_ms)),
                aggression: Some(aggression),
                min_weight_percent: Some(min_percent),
            }),
            ..LoadBalancerConfig::default()
        }
        .validate()
        .expect("valid");
        let mut lb = Balancer::new(&s);
        let added = at_s(10);
        let id = lb.add_endpoint(added, weight, Health::Healthy).expect("room");
        offsets.sort_unstable();
        let mut previous = 0.0;
        for ms in offsets {
            let w = lb.effective_weight(id, added + Span::from_millis(ms)).expect("present");
            prop_assert!(w >= previous);
            prop_assert!(w <= f64::from(weight));
            if ms >= window_ms {
                prop_assert_eq!(w, f64::from(weight));
            }
            previous = w;
        }
    }
}
