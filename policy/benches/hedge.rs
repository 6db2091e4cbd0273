//! Hedged calls per second on one core: a call's hedge state from start to
//! commit (about one call in ten hedges), with a fixed delay and with a p95
//! delay read from the latency tracker, plus the tracker's record cost.
//!
//! Run: `cargo bench -p headroom-policy --bench hedge -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use headroom_policy::hedge::{HedgeConfig, HedgeDecision, HedgePolicy, LatencyTracker};
use headroom_policy::retry::{BudgetPolicy, RetryBudget, TryOutcome};
use headroom_policy::time::{Span, Timestamp};

/// Calls per criterion iteration.
const BATCH: u64 = 1_000;

/// One call: latency `(i × 7919) mod 100` ms, so about 10 % of calls outlast a
/// 90 ms delay (or the p95 once the tracker has data) and hedge.
fn run_calls(
    policy: &HedgePolicy,
    tracker: &mut LatencyTracker,
    budget: &mut RetryBudget,
    now: &mut Timestamp,
    i: &mut u64,
) {
    for _ in 0..BATCH {
        *now += Span::from_micros(100);
        *i += 1;
        let latency = Span::from_millis((*i * 7919) % 100);
        budget.deposit(*now);
        let mut state = policy.start(*now, Timestamp::MAX, tracker);
        let mut end = *now + latency;
        if let Some(due) = state.poll_timeout()
            && due < end
            && let HedgeDecision::Send(_) = state.handle_timeout(due, budget)
        {
            // The hedge answers in 5 ms and wins.
            end = end.min(due + Span::from_millis(5));
        }
        let response = state.handle_response(
            policy,
            end,
            TryOutcome::status(200),
            end.saturating_since(*now),
            tracker,
        );
        let _ = black_box(response);
    }
}

fn hedged_calls(c: &mut Criterion) {
    let mut group = c.benchmark_group("hedge/call");
    group.throughput(Throughput::Elements(BATCH));
    let configs = [
        (
            "fixed-90ms",
            HedgeConfig {
                delay: Some(Span::from_millis(90)),
                ..HedgeConfig::default()
            },
        ),
        (
            "p95",
            HedgeConfig {
                percentile: Some(0.95),
                window: Some(Span::from_secs(1)),
                ..HedgeConfig::default()
            },
        ),
    ];
    for (name, config) in configs {
        let policy = config.validate(None).expect("bench config is valid");
        let budget_policy = BudgetPolicy::default();
        let mut budget = RetryBudget::new(&budget_policy, Timestamp::ZERO);
        let mut tracker = policy.tracker(Timestamp::ZERO);
        let mut now = Timestamp::ZERO;
        let mut i = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| run_calls(&policy, &mut tracker, &mut budget, &mut now, &mut i));
        });
    }
    group.finish();
}

fn tracker_record(c: &mut Criterion) {
    let mut group = c.benchmark_group("hedge/tracker");
    group.throughput(Throughput::Elements(BATCH));
    let mut tracker = LatencyTracker::new(Span::from_secs(10), Timestamp::ZERO);
    let mut now = Timestamp::ZERO;
    let mut i = 0u64;
    group.bench_function("record", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                now += Span::from_micros(10);
                i += 1;
                tracker.record(now, Span::from_micros(500 + (i * 7919) % 100_000));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, hedged_calls, tracker_record);
criterion_main!(benches);
