//! Hedged calls on an `EdgeClient` (the composition the simulator and the
//! sidecar drive): hedges at the delay up to `max_hedged`, first acceptable
//! response wins and the rest are cancelled, hedges draw on the retry budget
//! (or the hedge's own on edges without retries), a lost race goes to the
//! retry policy, the breaker sees every attempt, and a property test that
//! the bound and the permit books hold on random scripts.

use headroom_policy::PolicyConfig;
use headroom_policy::breaker::BreakerState;
use headroom_policy::mesh::{
    AttemptKind, AttemptPermit, AttemptStart, EdgeClient, Finish, HedgedNext, HedgedStart,
};
use headroom_policy::retry::{GiveUpReason, TryOutcome};
use headroom_policy::time::{Span, Timestamp};
use proptest::prelude::*;
use rand_core::SeedableRng;

fn at(ms: u64) -> Timestamp {
    Timestamp::ZERO + Span::from_millis(ms)
}

fn client(mesh: &str) -> EdgeClient {
    #[derive(serde::Deserialize)]
    struct Doc {
        policy: PolicyConfig,
    }
    let doc: Doc = toml::from_str(&format!("[policy.mesh]\n{mesh}")).expect("parses");
    let policies = doc.policy.validate().expect("valid");
    EdgeClient::new(&policies.mesh, Timestamp::ZERO)
}

fn rng() -> rand_pcg::Pcg64 {
    rand_pcg::Pcg64::seed_from_u64(3)
}

fn send(start: Option<AttemptStart>) -> (AttemptPermit, Timestamp) {
    match start {
        Some(AttemptStart::Send {
            permit,
            per_try_deadline,
        }) => (permit, per_try_deadline),
        other => panic!("expected an attempt, got {other:?}"),
    }
}

#[test]
fn an_edge_without_a_hedge_table_is_not_hedged() {
    let mut c = client("timeout = \"1s\"");
    assert!(!c.is_hedged());
    let mut call = c.start(at(0));
    assert_eq!(c.begin_hedged(at(0), &mut call), None);
}

/// gRPC A6's shape: `hedgingDelay` 50 ms, up to 2 hedges; the first hedge
/// answers first and wins; the original and the second hedge are cancelled.
#[test]
fn hedges_at_the_delay_and_the_first_answer_wins() {
    let mut c = client(
        "timeout = \"1s\"\nhedge = { delay = \"50ms\", max_hedged = 2, budget = { ratio = 1000.0, min_per_s = 1000000 } }",
    );
    let mut r = rng();
    let mut call = c.start(at(0));
    let Some(HedgedStart::Send {
        mut hedge,
        permit: original,
        per_try_deadline,
    }) = c.begin_hedged(at(0), &mut call)
    else {
        panic!("no breaker: sent")
    };
    assert_eq!(
        (original.number(), original.kind()),
        (1, AttemptKind::Original)
    );
    assert_eq!(per_try_deadline, at(1000));
    assert_eq!(hedge.poll_timeout(), Some(at(50)));
    assert_eq!(c.handle_hedge_timeout(at(49), &mut call, &mut hedge), None);
    let (h1, h1_deadline) = send(c.handle_hedge_timeout(at(50), &mut call, &mut hedge));
    assert_eq!((h1.number(), h1.kind()), (2, AttemptKind::Hedge));
    assert_eq!(h1_deadline, at(1000), "no per-try timeout: the call's");
    assert_eq!(hedge.poll_timeout(), Some(at(100)));
    let (h2, _) = send(c.handle_hedge_timeout(at(100), &mut call, &mut hedge));
    assert_eq!(hedge.poll_timeout(), None, "max_hedged = 2 reached");
    let next = c.end_attempt(
        at(120),
        &mut call,
        &mut hedge,
        h1,
        TryOutcome::status(200),
        &mut r,
    );
    assert_eq!(
        next,
        HedgedNext::Finish {
            finish: Finish::Answered(TryOutcome::status(200)),
            cancel: 2
        }
    );
    c.cancel_attempt(at(120), original, &mut r);
    c.cancel_attempt(at(120), h2, &mut r);
    // A late report after the commit changes nothing.
    let late = c.end_attempt(
        at(130),
        &mut call,
        &mut hedge,
        original,
        TryOutcome::status(200),
        &mut r,
    );
    assert!(matches!(
        late,
        HedgedNext::Finish {
            finish: Finish::Ignored,
            ..
        }
    ));
    let s = c.stats();
    assert_eq!((s.calls, s.tries, s.hedges, s.retries), (1, 3, 2, 0));
}

/// Hedges withdraw from the retry budget; without retries the hedge's own
/// budget takes one deposit per call. ratio 0.5, no floor: two calls buy one
/// hedge.
#[test]
fn hedges_draw_on_the_budget_that_calls_fill() {
    let mut c = client("hedge = { delay = \"10ms\", budget = { ratio = 0.5, min_per_s = 0 } }");
    let mut calls = Vec::new();
    for _ in 0..2 {
        let mut call = c.start(at(0));
        let Some(HedgedStart::Send { hedge, .. }) = c.begin_hedged(at(0), &mut call) else {
            panic!()
        };
        calls.push((call, hedge));
    }
    let (call, hedge) = &mut calls[0];
    let _ = send(c.handle_hedge_timeout(at(10), call, hedge));
    let (call, hedge) = &mut calls[1];
    assert_eq!(
        c.handle_hedge_timeout(at(10), call, hedge),
        None,
        "budget spent"
    );
    assert_eq!(hedge.poll_timeout(), None, "a refusal stops hedging");
    let s = c.stats();
    assert_eq!((s.hedges, s.budget_refused), (1, 1));
}

/// Both attempts fail with a listed status: the race is lost, the retry
/// policy retries after its backoff, and the retry hedges again.
#[test]
fn a_lost_race_is_retried_and_the_retry_hedges_again() {
    let mut c = client(
        "timeout = \"1s\"\nretry = { attempts = 2, backoff = \"constant\", base = \"5ms\", jitter = \"none\", retry_on = [\"5xx\"], budget = { ratio = 1000.0, min_per_s = 1000000 } }\nhedge = { delay = \"20ms\", max_hedged = 3 }",
    );
    let mut r = rng();
    let mut call = c.start(at(0));
    let Some(HedgedStart::Send {
        mut hedge,
        permit: a1,
        ..
    }) = c.begin_hedged(at(0), &mut call)
    else {
        panic!()
    };
    let (a2, _) = send(c.handle_hedge_timeout(at(20), &mut call, &mut hedge));
    let fail = TryOutcome::status(503);
    assert_eq!(
        c.end_attempt(at(25), &mut call, &mut hedge, a1, fail, &mut r),
        HedgedNext::Wait
    );
    assert_eq!(
        c.end_attempt(at(30), &mut call, &mut hedge, a2, fail, &mut r),
        HedgedNext::RetryAt { at: at(35) }
    );
    let AttemptStart::Send { permit: a3, .. } = c.retry_hedged(at(35), &mut call, &mut hedge)
    else {
        panic!("no breaker")
    };
    assert_eq!((a3.number(), a3.kind()), (3, AttemptKind::Retry));
    assert_eq!(hedge.poll_timeout(), Some(at(55)), "a new round");
    let (a4, _) = send(c.handle_hedge_timeout(at(55), &mut call, &mut hedge));
    let _ = c.end_attempt(at(60), &mut call, &mut hedge, a4, fail, &mut r);
    // The last attempt allowed fails too: the retry policy gives up.
    assert_eq!(
        c.end_attempt(at(70), &mut call, &mut hedge, a3, fail, &mut r),
        HedgedNext::Finish {
            finish: Finish::GaveUp {
                last: fail,
                reason: GiveUpReason::AttemptsExhausted
            },
            cancel: 0
        }
    );
    let s = c.stats();
    assert_eq!((s.tries, s.hedges, s.retries), (4, 2, 1));
}

/// A failure the hedge's `retry_on` does not list (a 500 by default) ends
/// the race at once.
#[test]
fn an_unlisted_failure_commits() {
    let mut c = client("hedge = { delay = \"10ms\" }");
    let mut r = rng();
    let mut call = c.start(at(0));
    let Some(HedgedStart::Send {
        mut hedge,
        permit: a1,
        ..
    }) = c.begin_hedged(at(0), &mut call)
    else {
        panic!()
    };
    let out = TryOutcome::status(500);
    assert_eq!(
        c.end_attempt(at(5), &mut call, &mut hedge, a1, out, &mut r),
        HedgedNext::Finish {
            finish: Finish::Answered(out),
            cancel: 0
        }
    );
    assert!(call.is_finished());
}

/// The breaker sees each attempt: an open breaker refuses the hedge (and
/// hedging stops) while the original still decides the call; cancelling a
/// half-open probe gives its permit back.
#[test]
fn the_breaker_gates_every_attempt() {
    let mut c = client(
        "hedge = { delay = \"10ms\", max_hedged = 2, budget = { ratio = 1000.0, min_per_s = 1000000 } }\ncircuit_breaker = { mode = \"consecutive\", max_failures = 1, min_penalty = \"1s\", max_penalty = \"1s\" }",
    );
    let mut r = rng();
    let mut call = c.start(at(0));
    let Some(HedgedStart::Send {
        mut hedge,
        permit: a1,
        ..
    }) = c.begin_hedged(at(0), &mut call)
    else {
        panic!()
    };
    let (a2, _) = send(c.handle_hedge_timeout(at(10), &mut call, &mut hedge));
    // The hedge resets: one failure opens the breaker; the original races on.
    assert_eq!(
        c.end_attempt(at(12), &mut call, &mut hedge, a2, TryOutcome::Reset, &mut r),
        HedgedNext::Wait
    );
    assert_eq!(c.breaker_state(), BreakerState::Open);
    assert_eq!(
        c.handle_hedge_timeout(at(20), &mut call, &mut hedge),
        None,
        "refused by the breaker"
    );
    assert_eq!(hedge.poll_timeout(), None);
    assert_eq!(c.stats().rejected, 1);
    assert!(matches!(
        c.end_attempt(
            at(30),
            &mut call,
            &mut hedge,
            a1,
            TryOutcome::status(200),
            &mut r
        ),
        HedgedNext::Finish {
            finish: Finish::Answered(_),
            cancel: 0
        }
    ));
    // A new call while open is refused outright.
    let mut refused = c.start(at(40));
    assert_eq!(
        c.begin_hedged(at(40), &mut refused),
        Some(HedgedStart::Rejected)
    );
}

#[derive(Clone, Copy, Debug)]
enum Step {
    /// Advance the clock and fire the hedge timer if due.
    Tick(u64),
    /// The attempt at this position of those in flight ends.
    End(usize, u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u64..40).prop_map(Step::Tick),
        (0usize..8, prop::sample::select(vec![200u16, 500, 503]))
            .prop_map(|(i, s)| Step::End(i, s)),
    ]
}

proptest! {
    /// On random scripts: at most `max_hedged` hedges per call, every
    /// permit handed back once (in flight = sent − ended − cancelled), the
    /// call ends exactly once, and nothing is sent after it ended.
    #[test]
    fn the_bound_and_the_books_hold(
        max_hedged in 1u32..4,
        delay_ms in 0u64..30,
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let mut c = client(&format!(
            "timeout = \"500ms\"\nretry = {{ attempts = 3, backoff = \"constant\", base = \"5ms\", jitter = \"none\", retry_on = [\"503\"], budget = {{ ratio = 1000.0, min_per_s = 1000000 }} }}\nhedge = {{ delay = \"{delay_ms}ms\", max_hedged = {max_hedged} }}"
        ));
        let mut r = rng();
        let mut now = at(0);
        let mut call = c.start(now);
        let Some(HedgedStart::Send { mut hedge, permit, .. }) = c.begin_hedged(now, &mut call) else {
            panic!("no breaker")
        };
        let mut live = vec![permit];
        let mut retry_at = None;
        let mut finished = 0;
        for s in steps {
            match s {
                Step::Tick(ms) => {
                    now += Span::from_millis(ms);
                    if let Some(t) = retry_at.filter(|&t| t <= now) {
                        retry_at = None;
                        if let AttemptStart::Send { permit, .. } = c.retry_hedged(t, &mut call, &mut hedge) {
                            live.push(permit);
                        }
                    }
                    while hedge.poll_timeout().is_some_and(|t| t <= now) && finished == 0 {
                        let due = hedge.poll_timeout().expect("due");
                        match c.handle_hedge_timeout(due, &mut call, &mut hedge) {
                            Some(AttemptStart::Send { permit, .. }) => live.push(permit),
                            _ => break,
                        }
                    }
                }
                Step::End(i, status) if !live.is_empty() => {
                    let p = live.remove(i % live.len());
                    match c.end_attempt(now, &mut call, &mut hedge, p, TryOutcome::status(status), &mut r) {
                        HedgedNext::Wait => {}
                        HedgedNext::RetryAt { at } => {
                            prop_assert!(live.is_empty());
                            retry_at = Some(at);
                        }
                        HedgedNext::Finish { finish, cancel } => {
                            prop_assert_ne!(finish, Finish::Ignored);
                            prop_assert_eq!(cancel as usize, live.len());
                            for p in live.drain(..) {
                                c.cancel_attempt(now, p, &mut r);
                            }
                            finished += 1;
                        }
                    }
                }
                Step::End(..) => {}
            }
            prop_assert!(hedge.hedged() <= max_hedged);
            if finished == 0 {
                prop_assert_eq!(hedge.in_flight() as usize, live.len());
            }
            prop_assert!(finished <= 1);
            if finished > 0 {
                prop_assert!(live.is_empty());
                prop_assert_eq!(hedge.poll_timeout(), None);
            }
        }
        let s = c.stats();
        prop_assert_eq!(s.hedges, u64::from(hedge.hedged()));
        prop_assert_eq!(s.tries, u64::from(hedge.attempts()));
    }
}
