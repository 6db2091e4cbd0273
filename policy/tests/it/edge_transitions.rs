//! `EdgeClient::begin_try_reporting` / `end_try_reporting` report exactly
//! the breaker transitions a driver sees by reading `breaker_state()` before
//! and after `begin_try` / `end_try`, and decide exactly as those do: two
//! clients driven by the same random script, one each way, never differ.

use headroom_policy::PolicyConfig;
use headroom_policy::breaker::{BreakerState, Transition};
use headroom_policy::mesh::{CallState, EdgeClient, Next, TryStart};
use headroom_policy::retry::TryOutcome;
use headroom_policy::time::{Span, Timestamp};
use proptest::prelude::*;
use rand_core::SeedableRng;

fn client(mesh: &str) -> EdgeClient {
    #[derive(serde::Deserialize)]
    struct Doc {
        policy: PolicyConfig,
    }
    let doc: Doc =
        toml::from_str(&format!("[policy.mesh]\n{mesh}")).unwrap_or_else(|e| panic!("{mesh}: {e}"));
    let policies = doc
        .policy
        .validate()
        .unwrap_or_else(|e| panic!("{mesh}: {e}"));
    EdgeClient::new(&policies.mesh, Timestamp::ZERO)
}

/// Edges whose breakers open, half-open and close within a short script.
const EDGES: [&str; 5] = [
    "timeout = \"2s\"\nretry = { attempts = 3, base = \"5ms\", per_try_timeout = \"1s\" }\n\
     circuit_breaker = { window = 4, minimum_calls = 2, failure_rate_threshold = 0.5, \
     open_duration = \"50ms\", half_open_calls = 2 }",
    "circuit_breaker = { window = 3, minimum_calls = 3, failure_rate_threshold = 0.6, \
     slow_call_duration = \"20ms\", slow_call_rate_threshold = 0.6, open_duration = \"30ms\", \
     open_duration_multiplier = 2.0, half_open_calls = 1 }",
    "timeout = \"1s\"\ncircuit_breaker = { window_type = \"time\", window = \"1s\", minimum_calls = 2, \
     failure_rate_threshold = 0.5, open_duration = \"40ms\", half_open_calls = 3 }",
    "retry = { attempts = 2, base = \"1ms\" }\n\
     circuit_breaker = { mode = \"consecutive\", max_failures = 2, min_penalty = \"25ms\", \
     max_penalty = \"100ms\", jitter = 0.5 }",
    "timeout = \"100ms\"\nretry = { attempts = 4, base = \"2ms\" }",
];

#[derive(Clone, Debug)]
enum Op {
    /// Let time pass (ms).
    Wait(u64),
    /// Start a call and its first try.
    Start,
    /// The try in flight of call `i % live` ends with outcome `code`.
    End(usize, u8),
    /// Send the next try of call `i % waiting` (at its retry time, if later).
    Retry(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..40).prop_map(Op::Wait),
        Just(Op::Start),
        (any::<usize>(), 0u8..6).prop_map(|(i, c)| Op::End(i, c)),
        any::<usize>().prop_map(Op::Retry),
    ]
}

fn outcome(code: u8) -> TryOutcome {
    match code {
        0 => TryOutcome::status(200),
        1 => TryOutcome::status(503),
        2 => TryOutcome::status(429),
        3 => TryOutcome::Timeout,
        4 => TryOutcome::Reset,
        _ => TryOutcome::ConnectFailure,
    }
}

/// The transition a driver sees by reading the state around a step.
fn seen(before: BreakerState, after: BreakerState) -> Option<(BreakerState, BreakerState)> {
    (before != after).then_some((before, after))
}

fn reported(t: Option<Transition>, now: Timestamp) -> Option<(BreakerState, BreakerState)> {
    t.map(|t| {
        assert_eq!(t.at, now, "a reported transition happens at the step");
        (t.from, t.to)
    })
}

fn run(edge: &str, ops: &[Op], seed: u64) -> usize {
    let (mut read, mut told) = (client(edge), client(edge));
    let (mut rng_a, mut rng_b) = (
        rand_pcg::Pcg64::seed_from_u64(seed),
        rand_pcg::Pcg64::seed_from_u64(seed),
    );
    let mut now = Timestamp::ZERO;
    // Calls with a try in flight, and calls waiting for a retry at `at`.
    let mut live: Vec<(CallState, CallState)> = Vec::new();
    let mut waiting: Vec<(CallState, CallState, Timestamp)> = Vec::new();
    let mut transitions = 0;
    let begin = |now: Timestamp,
                 read: &mut EdgeClient,
                 told: &mut EdgeClient,
                 mut a: CallState,
                 mut b: CallState,
                 live: &mut Vec<(CallState, CallState)>|
     -> usize {
        let before = read.breaker_state();
        let x = read.begin_try(now, &mut a);
        let want = seen(before, read.breaker_state());
        let (y, t) = told.begin_try_reporting(now, &mut b);
        assert_eq!(x, y);
        assert_eq!(a, b);
        assert_eq!(want, reported(t, now));
        if matches!(x, TryStart::Send { .. }) {
            live.push((a, b));
        }
        usize::from(want.is_some())
    };
    for op in ops {
        match *op {
            Op::Wait(ms) => now += Span::from_millis(ms),
            Op::Start => {
                let (a, b) = (read.start(now), told.start(now));
                transitions += begin(now, &mut read, &mut told, a, b, &mut live);
            }
            Op::End(i, code) if !live.is_empty() => {
                let (mut a, mut b) = live.swap_remove(i % live.len());
                let before = read.breaker_state();
                let x = read.end_try(now, &mut a, outcome(code), &mut rng_a);
                let want = seen(before, read.breaker_state());
                let (y, t) = told.end_try_reporting(now, &mut b, outcome(code), &mut rng_b);
                assert_eq!(x, y);
                assert_eq!(a, b);
                assert_eq!(want, reported(t, now));
                transitions += usize::from(want.is_some());
                if let Next::RetryAt { at } = x {
                    waiting.push((a, b, at));
                }
            }
            Op::Retry(i) if !waiting.is_empty() => {
                let (a, b, at) = waiting.swap_remove(i % waiting.len());
                now = now.max(at);
                transitions += begin(now, &mut read, &mut told, a, b, &mut live);
            }
            Op::End(..) | Op::Retry(_) => {}
        }
        assert_eq!(read.stats(), told.stats());
        assert_eq!(read.breaker_state(), told.breaker_state());
    }
    transitions
}

/// A script that opens the first edge's breaker, half-opens it at the next
/// try and closes it on two successful probes: every transition is reported.
#[test]
fn reports_open_half_open_and_close() {
    let mut script = vec![];
    for _ in 0..4 {
        script.extend([Op::Start, Op::End(0, 1)]);
    }
    script.extend([
        Op::Wait(60),
        Op::Start,
        Op::Start,
        Op::End(0, 0),
        Op::End(0, 0),
    ]);
    assert_eq!(run(EDGES[0], &script, 1), 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn reporting_matches_reading_the_state_around_each_step(
        edge in 0..EDGES.len(),
        ops in proptest::collection::vec(op(), 0..200),
        seed in any::<u64>(),
    ) {
        run(EDGES[edge], &ops, seed);
    }
}
