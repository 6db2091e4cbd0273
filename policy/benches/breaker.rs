//! Decisions per second on one core: breaker admit + record pairs (count and
//! time windows, consecutive mode), balancer pick + start + end per algorithm
//! at 10 and 100 endpoints, least connections at 1 000 and 10 000 endpoints,
//! and priority-load computation.
//!
//! Run: `cargo bench -p headroom-policy --bench breaker -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use headroom_policy::balance::{Algorithm, Balancer, BalancerSpec};
use headroom_policy::breaker::{Breaker, BreakerConfig, Mode, Outcome, WindowSize, WindowType};
use headroom_policy::health::{Health, PriorityHealth, PriorityLoads, priority_loads_into};
use headroom_policy::time::{Span, Timestamp};
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

/// Decisions per criterion iteration (amortises the timing overhead).
const BATCH: u64 = 1_000;

fn breaker_pairs(c: &mut Criterion) {
    let configs = [
        (
            "count-100",
            BreakerConfig {
                window: Some(WindowSize::Calls(100)),
                ..BreakerConfig::default()
            },
        ),
        (
            "time-100s",
            BreakerConfig {
                window_type: Some(WindowType::Time),
                window: Some(WindowSize::Duration(Span::from_secs(100))),
                ..BreakerConfig::default()
            },
        ),
        (
            "consecutive",
            BreakerConfig {
                mode: Some(Mode::Consecutive),
                ..BreakerConfig::default()
            },
        ),
    ];
    let mut group = c.benchmark_group("breaker/admit+record");
    group.throughput(Throughput::Elements(BATCH));
    for (name, config) in configs {
        let spec = config.validate().expect("bench config is valid");
        let mut breaker = Breaker::new(&spec, Timestamp::ZERO);
        let mut rng = Pcg64::seed_from_u64(1);
        let mut now = Timestamp::ZERO;
        let mut i = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    // 1 µs apart (the time window moves a bucket per 10^6
                    // calls); one failure in 16 keeps the breaker closed.
                    now += Span::from_micros(1);
                    i += 1;
                    let decision = breaker.handle_request(now);
                    let outcome = if i.is_multiple_of(16) {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    };
                    let t = breaker.handle_outcome(
                        now,
                        decision,
                        outcome,
                        Span::from_millis(5),
                        &mut rng,
                    );
                    black_box(t);
                }
            });
        });
    }
    group.finish();
}

fn balancer_picks(c: &mut Criterion) {
    let mut group = c.benchmark_group("balance/pick+start+end");
    group.throughput(Throughput::Elements(BATCH));
    for n in [10u32, 100] {
        for algorithm in Algorithm::ALL {
            let mut lb = Balancer::new(&BalancerSpec::with_algorithm(algorithm));
            for _ in 0..n {
                lb.add_endpoint(Timestamp::ZERO, 1, Health::Healthy)
                    .expect("room");
            }
            let mut rng = Pcg64::seed_from_u64(2);
            let mut now = Timestamp::ZERO;
            // Eight requests in flight, completed in FIFO order.
            let mut in_flight = std::collections::VecDeque::with_capacity(9);
            group.bench_function(BenchmarkId::new(algorithm.name(), n), |b| {
                b.iter(|| {
                    for _ in 0..BATCH {
                        now += Span::from_micros(10);
                        if let Some(id) = lb.pick(now, &mut rng) {
                            lb.handle_start(id);
                            in_flight.push_back(id);
                        }
                        if in_flight.len() > 8
                            && let Some(done) = in_flight.pop_front()
                        {
                            lb.handle_end(now, done, Span::from_millis(3));
                        }
                    }
                });
            });
        }
    }
    group.finish();
}

/// Least connections over many endpoints (the simulator's thousands of
/// instances): a pick, a start and an end per element, with 64 requests in
/// flight so that loads differ.
fn least_connections_large(c: &mut Criterion) {
    let mut group = c.benchmark_group("balance/least-connections-large");
    group.throughput(Throughput::Elements(BATCH));
    for n in [1_000u32, 10_000] {
        let mut lb = Balancer::new(&BalancerSpec::with_algorithm(Algorithm::LeastConnections));
        for i in 0..n {
            lb.add_endpoint(Timestamp::ZERO, 1 + i % 3, Health::Healthy)
                .expect("room");
        }
        let mut rng = Pcg64::seed_from_u64(3);
        let now = Timestamp::ZERO;
        let mut in_flight = std::collections::VecDeque::with_capacity(65);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    if let Some(id) = lb.pick(now, &mut rng) {
                        lb.handle_start(id);
                        in_flight.push_back(id);
                    }
                    if in_flight.len() > 64
                        && let Some(done) = in_flight.pop_front()
                    {
                        lb.handle_end(now, done, Span::from_millis(3));
                    }
                }
            });
        });
    }
    group.finish();
}

fn priority_load_computation(c: &mut Criterion) {
    let mut group = c.benchmark_group("failover/priority_loads");
    group.throughput(Throughput::Elements(BATCH));
    let mut out = PriorityLoads::default();
    let mut levels = [
        PriorityHealth::new(10, 10),
        PriorityHealth::new(7, 10),
        PriorityHealth::new(3, 10),
        PriorityHealth::new(10, 10),
    ];
    group.bench_function("4-regions", |b| {
        b.iter(|| {
            for i in 0..BATCH {
                levels[0].healthy = (i % 11) as u32;
                priority_loads_into(black_box(&levels), 140, 50, &mut out);
                black_box(out.load());
            }
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    breaker_pairs,
    balancer_picks,
    least_connections_large,
    priority_load_computation
);
criterion_main!(benches);
