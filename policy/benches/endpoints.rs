//! Per-endpoint policies added for production fidelity, one core: balancer
//! picks while an endpoint ramps up (slow start) against the same balancer
//! after the ramp, outlier detection (responses plus the success-rate and
//! failure-percentage sweep over 100 endpoints), active health checks with
//! interval jitter, and a pool cycling connections through `max_lifetime`.
//!
//! Run: `cargo bench -p headroom-policy --bench endpoints -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use headroom_policy::balance::{Algorithm, Balancer, LoadBalancerConfig, SlowStartConfig};
use headroom_policy::breaker::Outcome;
use headroom_policy::health::{
    ActiveHealthChecker, CheckEvent, CheckResult, Health, HealthCheckConfig, OutlierConfig,
    OutlierDetector,
};
use headroom_policy::pool::{Acquire, Pool, PoolAction, PoolPolicy};
use headroom_policy::time::{Span, Timestamp};
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

/// Operations per criterion iteration.
const BATCH: u64 = 1_000;

/// pick + start + end on 100 endpoints, one of which joined at time 0 with a
/// 1 h slow start: `ramping` benches inside the window, `after` past it.
fn slow_start_picks(c: &mut Criterion) {
    let mut group = c.benchmark_group("slow-start/pick+start+end");
    group.throughput(Throughput::Elements(BATCH));
    for algorithm in [
        Algorithm::RoundRobin,
        Algorithm::Random,
        Algorithm::LeastConnections,
        Algorithm::LeastRequest,
    ] {
        for (phase, start) in [
            ("ramping", Span::from_secs(60)),
            ("after", Span::from_secs(7_200)),
        ] {
            let spec = LoadBalancerConfig {
                algorithm,
                slow_start: Some(SlowStartConfig {
                    window: Some(Span::from_secs(3_600)),
                    ..SlowStartConfig::default()
                }),
                ..LoadBalancerConfig::default()
            }
            .validate()
            .expect("bench config is valid");
            let mut lb = Balancer::new(&spec);
            for _ in 0..99 {
                let id = lb
                    .add_endpoint(Timestamp::ZERO, 1, Health::Healthy)
                    .expect("room");
                lb.end_slow_start(id);
            }
            lb.add_endpoint(Timestamp::ZERO, 1, Health::Healthy)
                .expect("room");
            let mut rng = Pcg64::seed_from_u64(4);
            let mut now = Timestamp::ZERO + start;
            let mut in_flight = std::collections::VecDeque::with_capacity(9);
            let id = BenchmarkId::new(algorithm.name(), phase);
            group.bench_function(id, |b| {
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

/// 100 endpoints, one a poor performer (20 % failures): one element is one
/// response; a sweep with both rate detectors runs every 10 000 responses.
fn outlier_detection(c: &mut Criterion) {
    let mut group = c.benchmark_group("outlier");
    group.throughput(Throughput::Elements(BATCH));
    let spec = OutlierConfig {
        interval: Span::from_secs(1),
        enforcing_failure_percentage: 100,
        max_ejection_percent: 20,
        ..OutlierConfig::default()
    }
    .validate()
    .expect("bench config is valid");
    let mut d = OutlierDetector::new(&spec, Timestamp::ZERO);
    let ids: Vec<_> = (0..100)
        .map(|i| headroom_policy::balance::EndpointId::new(i, 0))
        .collect();
    for &id in &ids {
        d.add_endpoint(id).expect("room");
    }
    let mut rng = Pcg64::seed_from_u64(5);
    let mut now = Timestamp::ZERO;
    let mut i = 0u64;
    let mut events = Vec::new();
    group.bench_function("response+sweep/100-endpoints", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                i += 1;
                now += Span::from_micros(100);
                let host = (i % 100) as usize;
                let failed = (host == 7 && i.is_multiple_of(5)) || i.is_multiple_of(97);
                let outcome = if failed {
                    Outcome::Failure
                } else {
                    Outcome::Success
                };
                black_box(d.handle_response_with_rng(now, ids[host], outcome, &mut rng));
                if d.poll_timeout().is_some_and(|t| t <= now) {
                    events.clear();
                    d.handle_timeout_with_rng(now, &mut rng, &mut events);
                }
            }
        });
    });
    group.finish();
}

/// 1 000 endpoints checked every 10 s with both of Envoy's jitters: one
/// element is one check (probe + result).
fn health_check_jitter(c: &mut Criterion) {
    let mut group = c.benchmark_group("health-check");
    group.throughput(Throughput::Elements(BATCH));
    let spec = HealthCheckConfig {
        interval_jitter: Span::from_millis(500),
        interval_jitter_percent: 10,
        ..HealthCheckConfig::default()
    }
    .validate()
    .expect("bench config is valid");
    let mut checker = ActiveHealthChecker::new(&spec);
    let mut rng = Pcg64::seed_from_u64(6);
    for i in 0..1_000 {
        let id = headroom_policy::balance::EndpointId::new(i, 0);
        checker
            .add_endpoint_with_rng(Timestamp::ZERO, id, &mut rng)
            .expect("room");
    }
    let mut events = Vec::new();
    group.bench_function("probe+result/jittered", |b| {
        b.iter(|| {
            let mut done = 0;
            while done < BATCH {
                let Some(now) = checker.poll_timeout() else {
                    break;
                };
                events.clear();
                checker.handle_timeout_with_rng(now, &mut rng, &mut events);
                for e in &events {
                    if let CheckEvent::Probe(id) = *e {
                        let result = CheckResult::Passed;
                        let after = now + Span::from_millis(2);
                        black_box(
                            checker.handle_check_result_with_rng(after, id, result, &mut rng),
                        );
                        done += 1;
                    }
                }
            }
        });
    });
    group.finish();
}

/// acquire + release with a 1 s `max_lifetime`: connections are recycled
/// (close + connect) as they age; one element is one acquire/release pair.
fn pool_lifetime(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool");
    group.throughput(Throughput::Elements(BATCH));
    let policy = PoolPolicy::new(4, 16, Span::from_secs(30), Span::from_secs(10), 1_024)
        .expect("bench policy is valid")
        .with_max_lifetime(Some(Span::from_secs(1)));
    let mut pool = Pool::new(&policy, Timestamp::ZERO);
    let mut now = Timestamp::ZERO;
    let mut waiter = 0u64;
    let settle = |pool: &mut Pool, now: Timestamp| {
        while let Some(action) = pool.poll_action() {
            if let PoolAction::Connect(conn) = action {
                let handoff = pool.handle_connected(now, conn).expect("connecting");
                if let Some(h) = handoff {
                    pool.release(now, h.conn).expect("busy");
                }
            }
        }
    };
    settle(&mut pool, now);
    group.bench_function("acquire+release/max-lifetime", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                now += Span::from_micros(50);
                waiter += 1;
                if pool.poll_timeout().is_some_and(|t| t <= now) {
                    pool.handle_timeout(now);
                }
                if let Acquire::Acquired(conn) = pool.acquire(now, waiter) {
                    black_box(pool.release(now, conn).expect("busy"));
                }
                settle(&mut pool, now);
            }
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    slow_start_picks,
    outlier_detection,
    health_check_jitter,
    pool_lifetime
);
criterion_main!(benches);
