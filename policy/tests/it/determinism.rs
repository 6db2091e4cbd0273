//! Platform-independent decisions: the float paths of the balancers (peak-EWMA
//! decay, least-request with a non-integer `active_request_bias`) use the
//! pure-Rust `libm`, so these exact values hold on every platform. A change to
//! any of them is a change of simulated and enforced behaviour, not noise.

use headroom_policy::balance::{Algorithm, Balancer, Ewma, LoadBalancerConfig};
use headroom_policy::health::Health;
use headroom_policy::time::{Span, Timestamp};
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

fn at_ms(ms: u64) -> Timestamp {
    Timestamp::ZERO + Span::from_millis(ms)
}

#[test]
fn ewma_values_are_pinned_to_the_bit() {
    let mut e = Ewma::new(Span::from_millis(30), Span::from_secs(10), at_ms(0));
    e.add_peak(Span::from_millis(120), at_ms(5));
    e.add_peak(Span::from_millis(40), at_ms(1_234));
    e.add(Span::from_millis(7), at_ms(2_500));
    // The 120 ms peak, decayed and blended with 40 ms and 7 ms: about 90.5 ms.
    assert!((e.get_at(at_ms(3_333)) / 1e6 - 90.5).abs() < 0.1);
    let got = [
        e.get_at(at_ms(2_500)).to_bits(),
        e.get_at(at_ms(3_333)).to_bits(),
        e.get_at(at_ms(60_000)).to_bits(),
    ];
    assert_eq!(got, EWMA_BITS);
}

fn picks(config: LoadBalancerConfig, weights: &[u32], n: usize) -> Vec<usize> {
    let spec = config.validate().expect("valid");
    let mut lb = Balancer::new(&spec);
    let ids: Vec<_> = weights
        .iter()
        .map(|&w| lb.add_endpoint(at_ms(0), w, Health::Healthy).expect("room"))
        .collect();
    let mut rng = Pcg64::seed_from_u64(20_240_601);
    let mut in_flight = std::collections::VecDeque::new();
    let mut out = Vec::new();
    for i in 0..n as u64 {
        let now = at_ms(3 * i);
        let id = lb.pick(now, &mut rng).expect("healthy endpoints");
        lb.handle_start(id);
        in_flight.push_back((id, now));
        out.push(ids.iter().position(|&x| x == id).expect("known id"));
        // Endpoint k answers in (k + 1) × 7 ms; three requests stay in flight.
        if in_flight.len() > 3
            && let Some((done, sent)) = in_flight.pop_front()
        {
            let k = ids.iter().position(|&x| x == done).expect("known id") as u64;
            let rtt = Span::from_millis((k + 1) * 7 + (i % 5));
            lb.handle_end(now.max(sent + rtt), done, rtt);
        }
    }
    out
}

#[test]
fn peak_ewma_picks_are_pinned() {
    let config = LoadBalancerConfig {
        algorithm: Algorithm::PeakEwma,
        decay: Span::from_millis(750),
        ..LoadBalancerConfig::default()
    };
    let got = picks(config, &[1; 5], 40);
    assert_eq!(got, PEAK_EWMA_PICKS);
}

#[test]
fn least_request_with_a_fractional_bias_is_pinned() {
    let config = LoadBalancerConfig {
        algorithm: Algorithm::LeastRequest,
        active_request_bias: 1.37,
        ..LoadBalancerConfig::default()
    };
    let got = picks(config, &[1, 2, 3, 5], 40);
    assert_eq!(got, LEAST_REQUEST_PICKS);
}

const EWMA_BITS: [u64; 3] = [
    0x4197_7688_d6b0_1999,
    0x4195_9676_770e_9b06,
    0x4113_1e13_5959_078d,
];
const PEAK_EWMA_PICKS: [usize; 40] = [
    0, 3, 1, 2, 4, 4, 1, 2, 0, 1, 3, 2, 2, 1, 4, 3, 2, 0, 1, 0, 3, 0, 2, 2, 3, 0, 1, 1, 3, 0, 4, 0,
    2, 1, 0, 1, 3, 4, 3, 2,
];
const LEAST_REQUEST_PICKS: [usize; 40] = [
    3, 2, 3, 1, 2, 3, 0, 1, 3, 1, 2, 2, 3, 0, 3, 3, 2, 1, 0, 2, 1, 3, 3, 2, 0, 2, 3, 3, 1, 0, 3, 1,
    2, 2, 3, 3, 0, 3, 2, 1,
];
