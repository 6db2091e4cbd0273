//! Decisions per second on one core: token bucket, GCRA, both sliding
//! windows, a keyed limiter and the retry budget.
//!
//! Each iteration makes `BATCH` decisions at advancing timestamps, so state
//! evolves as in a real run (mixed admits and rejects); throughput is
//! reported per decision. Run with
//! `cargo bench -p headroom-policy --bench limits -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use headroom_policy::ratelimit::{
    Algorithm, Gcra, Keyed, Limiter, RateLimitConfig, RateLimitStrategy, RateLimiter, SlidingLog,
    TokenBucket, TwoWindow,
};
use headroom_policy::retry::{BudgetPolicy, RetryBudget};
use headroom_policy::{Span, Timestamp};

const BATCH: u64 = 1_000;

/// Benchmarks `BATCH` checks of a global limiter, `step` apart.
fn bench_limiter<A: Algorithm>(c: &mut Criterion, name: &str, algorithm: A, step: Span) {
    let mut group = c.benchmark_group("ratelimit");
    group.throughput(Throughput::Elements(BATCH));
    let mut limiter = Limiter::new(algorithm, Timestamp::ZERO);
    let mut now = Timestamp::ZERO;
    group.bench_function(name, |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                now += step;
                let _ = black_box(limiter.check(black_box(now)));
            }
        });
    });
    group.finish();
}

fn limiters(c: &mut Criterion) {
    // About half of the checks are admitted in steady state.
    let bucket = TokenBucket::new(100, 1, Span::from_micros(2), Timestamp::ZERO).expect("valid");
    bench_limiter(c, "token_bucket", bucket, Span::from_micros(1));
    let gcra = Gcra::new(Span::from_secs(1), 500_000, 100).expect("valid");
    bench_limiter(c, "gcra", gcra, Span::from_micros(1));
    let log = SlidingLog::new(Span::from_millis(1), 500).expect("valid");
    bench_limiter(c, "sliding_log", log, Span::from_micros(1));
    let two = TwoWindow::new(Span::from_millis(1), 500).expect("valid");
    bench_limiter(c, "two_window", two, Span::from_micros(1));

    // The same token bucket through the config-built dispatching type.
    // Built as written, not parsed: the bench runs without the `serde`
    // feature too.
    let config = RateLimitConfig {
        strategy: RateLimitStrategy::TokenBucket,
        max_tokens: Some(100),
        tokens_per_fill: None,
        fill_interval: Some(Span::from_micros(2)),
        window: None,
        max: None,
        burst: None,
        algorithm: None,
        key: None,
        max_keys: None,
        shadow: None,
    };
    let mut limiter = RateLimiter::new(&config.validate().expect("valid"), Timestamp::ZERO);
    let mut group = c.benchmark_group("ratelimit");
    group.throughput(Throughput::Elements(BATCH));
    let mut now = Timestamp::ZERO;
    group.bench_function("rate_limiter_token_bucket", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                now += Span::from_micros(1);
                let _ = black_box(limiter.check(black_box(now), 0));
            }
        });
    });
    group.finish();
}

/// Keyed GCRA with 10 000 keys: clients from a fixed pseudo-random sequence
/// over `clients` ids (5 000: all resident; 50 000: constant eviction).
fn keyed(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratelimit");
    group.throughput(Throughput::Elements(BATCH));
    for clients in [5_000u64, 50_000] {
        let gcra = Gcra::new(Span::from_secs(1), 10, 10).expect("valid");
        let mut keyed = Keyed::new(gcra, 10_000);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let ids: Vec<u64> = (0..65_536)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % clients
            })
            .collect();
        let mut now = Timestamp::ZERO;
        let mut i = 0usize;
        group.bench_function(format!("keyed_gcra_{clients}_clients"), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    now += Span::from_micros(1);
                    i = (i + 1) & 0xFFFF;
                    let _ = black_box(keyed.check(black_box(now), ids[i]));
                }
            });
        });
    }
    // The seed scenario's edge limit: 100 a minute per client, sliding log,
    // 200 000 clients held in a map of up to 1 M keys (no eviction; the
    // keys outgrow the CPU caches), 5 000 checks a second.
    let log = SlidingLog::new(Span::from_secs(60), 100).expect("valid");
    let mut keyed = Keyed::new(log, 1_000_000);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let ids: Vec<u64> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % 200_000
        })
        .collect();
    let mut now = Timestamp::ZERO;
    let mut i = 0usize;
    group.bench_function("keyed_sliding_log_200000_clients", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                now += Span::from_micros(200);
                i = (i + 1) & ((1 << 20) - 1);
                let _ = black_box(keyed.check(black_box(now), ids[i]));
            }
        });
    });
    group.finish();
}

/// One deposit plus one withdrawal per element.
fn budget(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry");
    group.throughput(Throughput::Elements(BATCH));
    let mut budget = RetryBudget::new(&BudgetPolicy::default(), Timestamp::ZERO);
    let mut now = Timestamp::ZERO;
    group.bench_function("budget_deposit_withdraw", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                now += Span::from_micros(10);
                budget.deposit(black_box(now));
                let _ = black_box(budget.withdraw(black_box(now)));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, limiters, keyed, budget);
criterion_main!(benches);
