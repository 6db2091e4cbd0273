//! Decision-script tests of the load balancers (round robin, random, least
//! connections, Envoy least request, Linkerd peak EWMA), endpoint churn and
//! panic routing, a property test of the eligibility invariant, and the
//! `[policy.load_balancer]` table.

use headroom_policy::balance::{
    Algorithm, Balancer, BalancerSpec, EndpointId, LoadBalancerConfig, MAX_ENDPOINTS,
};
use headroom_policy::health::Health;
use headroom_policy::time::{Span, Timestamp};
use proptest::prelude::*;
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

fn t(ms: u64) -> Timestamp {
    Timestamp::ZERO + Span::from_millis(ms)
}

fn rng(seed: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed)
}

fn balancer(algorithm: Algorithm, weights: &[u32]) -> (Balancer, Vec<EndpointId>) {
    let mut lb = Balancer::new(&BalancerSpec::with_algorithm(algorithm));
    let ids = weights
        .iter()
        .map(|&w| {
            lb.add_endpoint(t(0), w, Health::Healthy)
                .expect("below capacity")
        })
        .collect();
    (lb, ids)
}

fn pick(lb: &mut Balancer, now: Timestamp, rng: &mut Pcg64) -> EndpointId {
    lb.pick(now, rng).expect("an eligible endpoint exists")
}

fn position(ids: &[EndpointId], id: EndpointId) -> usize {
    ids.iter()
        .position(|&i| i == id)
        .expect("picked id is one of ours")
}

fn counts(ids: &[EndpointId], picks: &[EndpointId]) -> Vec<usize> {
    let mut c = vec![0; ids.len()];
    for &p in picks {
        c[position(ids, p)] += 1;
    }
    c
}

#[test]
fn round_robin_rotates_from_a_random_start() {
    let (mut lb, ids) = balancer(Algorithm::RoundRobin, &[1, 1, 1]);
    let mut r = rng(1);
    let picks: Vec<usize> = (0..7)
        .map(|_| position(&ids, pick(&mut lb, t(0), &mut r)))
        .collect();
    for w in picks.windows(2) {
        assert_eq!(w[1], (w[0] + 1) % 3, "{picks:?}");
    }
    // Different seeds start at different endpoints.
    let starts: Vec<usize> = (0..20)
        .map(|seed| {
            let (mut lb, ids) = balancer(Algorithm::RoundRobin, &[1, 1, 1]);
            position(&ids, pick(&mut lb, t(0), &mut rng(seed)))
        })
        .collect();
    assert!((0..3).all(|s| starts.contains(&s)), "{starts:?}");
}

#[test]
fn round_robin_skips_unhealthy_and_ejected_endpoints() {
    let (mut lb, ids) = balancer(Algorithm::RoundRobin, &[1, 1, 1, 1]);
    assert!(lb.set_health(ids[1], Health::Unhealthy));
    assert!(lb.set_ejected(ids[3], true));
    assert_eq!(lb.eligible_count(), 2);
    let mut r = rng(2);
    let picks: Vec<usize> = (0..6)
        .map(|_| position(&ids, pick(&mut lb, t(0), &mut r)))
        .collect();
    assert!(picks.iter().all(|&p| p == 0 || p == 2), "{picks:?}");
    assert!(picks.windows(2).all(|w| w[0] != w[1]), "{picks:?}");
    // Back to healthy: all four again, in rotation.
    lb.set_health(ids[1], Health::Healthy);
    lb.set_ejected(ids[3], false);
    let picks: Vec<usize> = (0..8)
        .map(|_| position(&ids, pick(&mut lb, t(0), &mut r)))
        .collect();
    assert_eq!(
        counts(&ids, &picks.iter().map(|&p| ids[p]).collect::<Vec<_>>()),
        [2, 2, 2, 2]
    );
}

#[test]
fn weighted_round_robin_follows_weights_exactly() {
    let (mut lb, ids) = balancer(Algorithm::RoundRobin, &[5, 1, 1]);
    let mut r = rng(3);
    let picks: Vec<EndpointId> = (0..70).map(|_| pick(&mut lb, t(0), &mut r)).collect();
    assert_eq!(counts(&ids, &picks), [50, 10, 10]);
    // Every window of 7 consecutive picks holds each endpoint in proportion
    // (EDF interleaves rather than bursting), allowing one of slack.
    for w in picks.windows(7) {
        let c = counts(&ids, w);
        assert!((4..=6).contains(&c[0]), "{c:?}");
    }
}

#[test]
fn random_is_uniform_or_weighted() {
    let (mut lb, ids) = balancer(Algorithm::Random, &[1, 1, 1, 1]);
    let mut r = rng(4);
    let picks: Vec<EndpointId> = (0..40_000).map(|_| pick(&mut lb, t(0), &mut r)).collect();
    for c in counts(&ids, &picks) {
        // Expected 10 000 each; 5 σ ≈ 430.
        assert!((9_500..=10_500).contains(&c), "{c}");
    }
    let (mut lb, ids) = balancer(Algorithm::Random, &[3, 1]);
    let picks: Vec<EndpointId> = (0..40_000).map(|_| pick(&mut lb, t(0), &mut r)).collect();
    let c = counts(&ids, &picks);
    assert!((29_500..=30_500).contains(&c[0]), "{c:?}");
}

#[test]
fn least_connections_prefers_idle_and_rotates_ties() {
    let (mut lb, ids) = balancer(Algorithm::LeastConnections, &[1, 1, 1]);
    let mut r = rng(5);
    // All idle: three picks land on three different endpoints.
    let mut busy = Vec::new();
    for _ in 0..3 {
        let p = pick(&mut lb, t(0), &mut r);
        assert!(!busy.contains(&p), "{busy:?} then {p:?}");
        lb.handle_start(p);
        busy.push(p);
    }
    // Everyone has one; the one that finishes is the only least-loaded.
    lb.handle_end(t(10), busy[1], Span::from_millis(10));
    assert_eq!(pick(&mut lb, t(10), &mut r), busy[1]);
    lb.handle_start(busy[1]);
    // Load 2 on busy[1]: the next picks avoid it.
    lb.handle_start(busy[0]);
    assert_eq!(lb.active_requests(busy[0]), Some(2));
    assert_eq!(pick(&mut lb, t(10), &mut r), busy[2]);
    assert_eq!(ids.len(), 3);
}

#[test]
fn least_connections_is_weighted() {
    let (mut lb, ids) = balancer(Algorithm::LeastConnections, &[2, 1]);
    let mut r = rng(6);
    // Equal load 1/1: the weight-2 endpoint has 1/2 per unit of weight.
    lb.handle_start(ids[0]);
    lb.handle_start(ids[1]);
    assert_eq!(pick(&mut lb, t(0), &mut r), ids[0]);
    lb.handle_start(ids[0]);
    // 2/2 vs 1/1: a tie; the scan starts past the last pick, at ids[1].
    assert_eq!(pick(&mut lb, t(0), &mut r), ids[1]);
}

#[test]
fn least_request_takes_the_less_loaded_of_the_choices() {
    // choice_count covering every endpoint: always the global minimum.
    let spec = LoadBalancerConfig {
        algorithm: Algorithm::LeastRequest,
        choice_count: 3,
        ..LoadBalancerConfig::default()
    }
    .validate()
    .expect("valid");
    let mut lb = Balancer::new(&spec);
    let ids: Vec<EndpointId> = (0..3)
        .map(|_| lb.add_endpoint(t(0), 1, Health::Healthy).expect("room"))
        .collect();
    let mut r = rng(7);
    for (i, &n) in [4u32, 1, 3].iter().enumerate() {
        for _ in 0..n {
            lb.handle_start(ids[i]);
        }
    }
    for _ in 0..20 {
        assert_eq!(pick(&mut lb, t(0), &mut r), ids[1]);
    }
    // Two endpoints, default P2C: both are always drawn.
    let (mut lb, ids) = balancer(Algorithm::LeastRequest, &[1, 1]);
    lb.handle_start(ids[0]);
    for _ in 0..20 {
        assert_eq!(pick(&mut lb, t(0), &mut r), ids[1]);
    }
}

#[test]
fn least_request_p2c_never_picks_the_busiest_of_three() {
    // With 2 distinct draws out of 3, the single most loaded endpoint can
    // only win if both draws... include it and a busier one: impossible.
    let (mut lb, ids) = balancer(Algorithm::LeastRequest, &[1, 1, 1]);
    for _ in 0..5 {
        lb.handle_start(ids[2]);
    }
    lb.handle_start(ids[1]);
    let mut r = rng(8);
    let picks: Vec<EndpointId> = (0..3_000).map(|_| pick(&mut lb, t(0), &mut r)).collect();
    let c = counts(&ids, &picks);
    assert_eq!(c[2], 0, "{c:?}");
    // ids[0] (idle) wins whenever drawn: 2/3 of the time; ids[1] otherwise.
    assert!((1_900..=2_100).contains(&c[0]), "{c:?}");
}

#[test]
fn least_request_unequal_weights_use_active_request_bias() {
    // Weights 2:1 with fixed loads 3 and 0: dynamic weights 2/4 = 0.5 and
    // 1/1 = 1, so the light endpoint gets twice the picks (Envoy EDF).
    let (mut lb, ids) = balancer(Algorithm::LeastRequest, &[2, 1]);
    for _ in 0..3 {
        lb.handle_start(ids[0]);
    }
    let mut r = rng(9);
    let picks: Vec<EndpointId> = (0..300).map(|_| pick(&mut lb, t(0), &mut r)).collect();
    let c = counts(&ids, &picks);
    assert!((99..=101).contains(&c[0]), "{c:?}");
    // Bias 0 ignores load: plain 2:1 weighted round robin.
    let spec = LoadBalancerConfig {
        algorithm: Algorithm::LeastRequest,
        active_request_bias: 0.0,
        ..LoadBalancerConfig::default()
    }
    .validate()
    .expect("valid");
    let mut lb = Balancer::new(&spec);
    let ids: Vec<EndpointId> = [2, 1]
        .iter()
        .map(|&w| lb.add_endpoint(t(0), w, Health::Healthy).expect("room"))
        .collect();
    for _ in 0..3 {
        lb.handle_start(ids[0]);
    }
    let picks: Vec<EndpointId> = (0..300).map(|_| pick(&mut lb, t(0), &mut r)).collect();
    let c = counts(&ids, &picks);
    assert!((199..=201).contains(&c[0]), "{c:?}");
}

#[test]
fn peak_ewma_prefers_low_rtt_times_pending() {
    let (mut lb, ids) = balancer(Algorithm::PeakEwma, &[1, 1]);
    let mut r = rng(10);
    // A slow response on ids[0] at 1 s: its estimate jumps to 100 ms.
    lb.handle_start(ids[0]);
    lb.handle_end(t(1_000), ids[0], Span::from_millis(100));
    let cost0 = lb.peak_ewma_cost(ids[0], t(1_000)).expect("present");
    assert_eq!(cost0, 100e6);
    // ids[1] still has the 30 ms seed (decayed since t = 0).
    let cost1 = lb.peak_ewma_cost(ids[1], t(1_000)).expect("present");
    assert!((cost1 - 30e6 * (-0.1f64).exp()).abs() < 1.0, "{cost1}");
    assert_eq!(pick(&mut lb, t(1_000), &mut r), ids[1]);
    // Four requests pending on ids[1]: 27 ms × 5 > 100 ms.
    for _ in 0..4 {
        lb.handle_start(ids[1]);
    }
    assert_eq!(pick(&mut lb, t(1_000), &mut r), ids[0]);
    // A lower sample blends in rather than replacing the peak.
    lb.handle_start(ids[0]);
    lb.handle_end(t(2_000), ids[0], Span::from_millis(10));
    let blended = lb.peak_ewma_cost(ids[0], t(2_000)).expect("present") / 1e6;
    let alpha = 1.0 - (-0.1f64).exp();
    let expected = 100.0 * (1.0 - alpha) + 10.0 * alpha;
    assert!((blended - expected).abs() < 1e-6, "{blended} vs {expected}");
}

#[test]
fn peak_ewma_ties_go_to_the_first_drawn() {
    // Identical endpoints: both costs are equal, so the pick is whichever the
    // first draw names — uniform over many seeds.
    let mut first = [0usize; 2];
    for seed in 0..400 {
        let (mut lb, ids) = balancer(Algorithm::PeakEwma, &[1, 1]);
        first[position(&ids, pick(&mut lb, t(0), &mut rng(seed)))] += 1;
    }
    assert!(first.iter().all(|&c| c > 150), "{first:?}");
}

#[test]
fn removed_endpoints_are_gone_and_stale_ids_are_ignored() {
    let (mut lb, ids) = balancer(Algorithm::RoundRobin, &[1, 1]);
    lb.handle_start(ids[0]);
    assert!(lb.remove_endpoint(ids[0]));
    assert!(!lb.remove_endpoint(ids[0]));
    assert!(!lb.contains(ids[0]));
    assert_eq!(lb.endpoint_count(), 1);
    let mut r = rng(11);
    for _ in 0..5 {
        assert_eq!(pick(&mut lb, t(0), &mut r), ids[1]);
    }
    // The slot is reused with a new generation; the old handle does nothing.
    let new = lb.add_endpoint(t(5), 1, Health::Healthy).expect("room");
    assert_eq!(new.index(), ids[0].index());
    assert_ne!(new, ids[0]);
    lb.handle_end(t(6), ids[0], Span::from_millis(1));
    assert!(!lb.set_health(ids[0], Health::Unhealthy));
    assert_eq!(lb.active_requests(new), Some(0));
    assert!(lb.is_eligible(new));
    assert_eq!(lb.endpoints().collect::<Vec<_>>(), [new, ids[1]]);
}

#[test]
fn no_eligible_endpoint_gives_none_unless_panic_routing() {
    let (mut lb, ids) = balancer(Algorithm::LeastRequest, &[1, 1, 1]);
    for &id in &ids {
        lb.set_health(id, Health::Unhealthy);
    }
    let mut r = rng(12);
    assert_eq!(lb.pick(t(0), &mut r), None);
    lb.set_panic(true);
    assert!(lb.is_panic());
    let picked = pick(&mut lb, t(0), &mut r);
    assert!(ids.contains(&picked));
    lb.set_panic(false);
    assert_eq!(lb.pick(t(0), &mut r), None);
    let defaults = LoadBalancerConfig::default()
        .validate()
        .expect("defaults are valid");
    assert_eq!(defaults.algorithm, Algorithm::RoundRobin);
    let mut empty = Balancer::new(&defaults);
    assert_eq!(empty.pick(t(0), &mut r), None);
}

#[test]
fn endpoint_limit_is_a_typed_error() {
    let mut lb = Balancer::new(&BalancerSpec::with_algorithm(Algorithm::Random));
    for _ in 0..MAX_ENDPOINTS {
        lb.add_endpoint(t(0), 1, Health::Healthy).expect("room");
    }
    let err = lb.add_endpoint(t(0), 1, Health::Healthy).expect_err("full");
    assert_eq!(err.limit, MAX_ENDPOINTS);
    assert_eq!(err.to_string(), "endpoint limit of 65536 reached");
}

// --- Properties ---------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Add(u32),
    Remove(usize),
    Health(usize, bool),
    Eject(usize, bool),
    Weight(usize, u32),
    Panic(bool),
    Pick,
    End(usize, u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1u32..4).prop_map(Op::Add),
        1 => any::<usize>().prop_map(Op::Remove),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(i, h)| Op::Health(i, h)),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(i, e)| Op::Eject(i, e)),
        1 => (any::<usize>(), 1u32..4).prop_map(|(i, w)| Op::Weight(i, w)),
        1 => any::<bool>().prop_map(Op::Panic),
        8 => Just(Op::Pick),
        3 => (any::<usize>(), 0u16..500).prop_map(|(i, rtt)| Op::End(i, rtt)),
    ]
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(Algorithm::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Outside panic routing a balancer never picks an unhealthy, ejected or
    /// removed endpoint while an eligible one exists, and returns `None`
    /// exactly when none exists; in panic routing it picks a present one.
    #[test]
    fn picks_are_eligible(
        algorithm in algorithm(),
        ops in prop::collection::vec(op(), 1..400),
        seed in any::<u64>(),
    ) {
        let mut lb = Balancer::new(&BalancerSpec::with_algorithm(algorithm));
        let mut r = rng(seed);
        let mut ids: Vec<EndpointId> = Vec::new();
        let mut started: Vec<EndpointId> = Vec::new();
        let mut now = t(0);
        for op in ops {
            now += Span::from_millis(1);
            let nth = |i: usize, ids: &[EndpointId]| (!ids.is_empty()).then(|| ids[i % ids.len()]);
            match op {
                Op::Add(w) => ids.push(lb.add_endpoint(now, w, Health::Healthy).expect("room")),
                Op::Remove(i) => if let Some(id) = nth(i, &ids) {
                    prop_assert!(lb.remove_endpoint(id));
                    ids.retain(|&x| x != id);
                },
                Op::Health(i, h) => if let Some(id) = nth(i, &ids) {
                    lb.set_health(id, if h { Health::Healthy } else { Health::Unhealthy });
                },
                Op::Eject(i, e) => if let Some(id) = nth(i, &ids) { lb.set_ejected(id, e); },
                Op::Weight(i, w) => if let Some(id) = nth(i, &ids) { lb.set_weight(id, w); },
                Op::Panic(p) => lb.set_panic(p),
                Op::End(i, rtt) => if !started.is_empty() {
                    let id = started.swap_remove(i % started.len());
                    lb.handle_end(now, id, Span::from_millis(u64::from(rtt)));
                },
                Op::Pick => {
                    let eligible = ids.iter().filter(|&&id| lb.is_eligible(id)).count();
                    prop_assert_eq!(eligible, lb.eligible_count());
                    match lb.pick(now, &mut r) {
                        Some(id) => {
                            prop_assert!(ids.contains(&id));
                            if !lb.is_panic() {
                                prop_assert!(lb.is_eligible(id));
                            }
                            lb.handle_start(id);
                            started.push(id);
                        }
                        None => {
                            if lb.is_panic() {
                                prop_assert!(ids.is_empty());
                            } else {
                                prop_assert_eq!(eligible, 0);
                            }
                        }
                    }
                }
            }
        }
    }
}

// --- Configuration ------------------------------------------------------------

#[cfg(feature = "serde")]
mod config {
    use super::*;
    use headroom_policy::health::Health;

    fn table(src: &str) -> Result<LoadBalancerConfig, String> {
        let doc: toml::Table = toml::from_str(src).map_err(|e| e.to_string())?;
        let lb = doc
            .get("policy")
            .and_then(|p| p.get("load_balancer"))
            .cloned()
            .ok_or("no [policy.load_balancer]")?;
        lb.try_into().map_err(|e: toml::de::Error| e.to_string())
    }

    #[test]
    fn reference_table_parses() {
        let cfg = table(
            r#"
            [policy.load_balancer]
            algorithm = "least-connections"

            [policy.load_balancer.health_check]
            interval = "10s"
            timeout = "5s"
            "#,
        )
        .expect("parses");
        let spec = cfg.validate().expect("valid");
        assert_eq!(spec.algorithm, Algorithm::LeastConnections);
        let hc = spec.health_check.expect("health_check set");
        assert_eq!(hc.interval, Span::from_secs(10));
        assert_eq!(hc.timeout, Span::from_secs(5));
        assert_eq!(hc.initial_state, Health::Unhealthy);
        assert!(spec.outlier_detection.is_none());
    }

    #[test]
    fn full_table_parses() {
        let cfg = table(
            r#"
            [policy.load_balancer]
            algorithm = "peak-ewma"
            choice_count = 3
            active_request_bias = 0.5
            default_rtt = "50ms"
            decay = "5s"

            [policy.load_balancer.health_check]
            interval = "2s"
            timeout = "1s"
            healthy_threshold = 2
            unhealthy_threshold = 2
            initial_state = "healthy"

            [policy.load_balancer.outlier_detection]
            consecutive_5xx = 3
            interval = "5s"
            base_ejection_time = "10s"
            max_ejection_time = "1m"
            max_ejection_percent = 50
            always_eject_one_host = true
            successful_active_health_check_uneject_host = false
            "#,
        )
        .expect("parses");
        let spec = cfg.validate().expect("valid");
        assert_eq!(spec.choice_count, 3);
        assert_eq!(spec.default_rtt, Span::from_millis(50));
        let od = spec.outlier_detection.expect("set");
        assert_eq!(od.max_ejection_time, Span::from_secs(60));
        assert!(od.always_eject_one_host && !od.uneject_on_check_pass);
    }

    #[test]
    fn algorithm_names_parse_alone() {
        for a in Algorithm::ALL {
            assert_eq!(a.name().parse::<Algorithm>(), Ok(a));
            assert_eq!(a.to_string(), a.name());
            // As a service's `load_balancer = "..."` value.
            #[derive(serde::Deserialize)]
            struct Service {
                load_balancer: Algorithm,
            }
            let s: Service =
                toml::from_str(&format!("load_balancer = \"{}\"", a.name())).expect("parses");
            assert_eq!(s.load_balancer, a);
        }
        let err = "fastest".parse::<Algorithm>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "\"fastest\" is not one of \"round-robin\", \"random\", \"least-connections\", \"least-request\", \"peak-ewma\""
        );
        let cfg_err = err.into_config_error("services.api.load_balancer");
        assert_eq!(cfg_err.key(), "services.api.load_balancer");
        assert_eq!(cfg_err.value(), "\"fastest\"");
        let parse_err =
            table("[policy.load_balancer]\nalgorithm = \"fastest\"\n").expect_err("bad");
        assert!(parse_err.contains("least-connections"), "{parse_err}");
    }

    #[test]
    fn bad_values_name_key_value_and_range() {
        let cases = [
            ("choice_count = 1", "choice_count", "1", "2..=16"),
            ("choice_count = 17", "choice_count", "17", "2..=16"),
            (
                "active_request_bias = -1.0",
                "active_request_bias",
                "-1",
                "0..=100",
            ),
            (
                "default_rtt = \"0s\"",
                "default_rtt",
                "\"0s\"",
                "greater than zero",
            ),
            (
                "decay = \"100us\"",
                "decay",
                "\"100us\"",
                "at least \"1ms\"",
            ),
            (
                "[policy.load_balancer.health_check]\ninterval = \"0s\"",
                "health_check.interval",
                "\"0s\"",
                "at least \"1ms\"",
            ),
            // Envoy reads health-check and outlier durations in whole
            // milliseconds: a shorter one would check without waiting.
            (
                "[policy.load_balancer.health_check]\ninterval = \"999us\"",
                "health_check.interval",
                "\"999us\"",
                "at least \"1ms\"",
            ),
            (
                "[policy.load_balancer.health_check]\ntimeout = \"1ns\"",
                "health_check.timeout",
                "\"1ns\"",
                "at least \"1ms\"",
            ),
            (
                "[policy.load_balancer.outlier_detection]\ninterval = \"500us\"",
                "outlier_detection.interval",
                "\"500us\"",
                "at least \"1ms\"",
            ),
            (
                "[policy.load_balancer.health_check]\nunhealthy_threshold = 0",
                "health_check.unhealthy_threshold",
                "0",
                "1..=1000",
            ),
            (
                "[policy.load_balancer.outlier_detection]\nmax_ejection_percent = 101",
                "outlier_detection.max_ejection_percent",
                "101",
                "0..=100",
            ),
            (
                "[policy.load_balancer.outlier_detection]\nconsecutive_5xx = 0",
                "outlier_detection.consecutive_5xx",
                "0",
                "1..=",
            ),
            (
                "[policy.load_balancer.outlier_detection]\nbase_ejection_time = \"1m\"\nmax_ejection_time = \"30s\"",
                "outlier_detection.max_ejection_time",
                "\"30s\"",
                ">= base_ejection_time",
            ),
        ];
        for (src, key, value, expected) in cases {
            let err = table(&format!("[policy.load_balancer]\n{src}\n"))
                .expect("parses")
                .validate()
                .expect_err("invalid")
                .within("policy.load_balancer");
            assert_eq!(err.key(), format!("policy.load_balancer.{key}"), "{src}");
            assert_eq!(err.value(), value, "{src}");
            assert!(
                err.expected().contains(expected),
                "{src}: {}",
                err.expected()
            );
        }
        let err = table("[policy.load_balancer]\nalgorithm = \"random\"\nweights = 3\n")
            .expect_err("unknown");
        assert!(err.contains("weights"), "{err}");
    }
}
