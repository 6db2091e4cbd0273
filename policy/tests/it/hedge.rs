//! Hedged requests: decision scripts from tower's hedge tests (percentile
//! delay from recorded latencies) and gRPC A6's hedging policy (several
//! hedges at a fixed delay, non-fatal codes keep racing), the budget and
//! breaker interplay, retries after a lost race, the `hedge` table with full
//! key paths, and property tests of the per-call bound.

use headroom_policy::PolicyConfig;
use headroom_policy::hedge::{
    AttemptId, HedgeConfig, HedgeDecision, HedgeDelay, HedgePolicy, HedgeResponse, HedgeSkip,
    LatencyTracker,
};
use headroom_policy::retry::{BudgetPolicy, RetryBudget, RetryOn, TryOutcome};
use headroom_policy::time::{Span, Timestamp};
use proptest::prelude::*;

fn at_ms(ms: u64) -> Timestamp {
    Timestamp::ZERO + Span::from_millis(ms)
}

fn ms(m: u64) -> Span {
    Span::from_millis(m)
}

/// A budget that always grants (the reserve dwarfs any test).
fn generous_budget() -> RetryBudget {
    let policy = BudgetPolicy::new(1000.0, 1_000_000, Span::from_secs(10)).expect("valid");
    RetryBudget::new(&policy, Timestamp::ZERO)
}

fn fixed(delay_ms: u64, max_hedged: u32) -> HedgePolicy {
    HedgePolicy::new(
        HedgeDelay::Fixed(ms(delay_ms)),
        max_hedged,
        RetryOn::default(),
        Some(BudgetPolicy::default()),
    )
    .expect("valid")
}

fn sent(decision: HedgeDecision) -> AttemptId {
    match decision {
        HedgeDecision::Send(a) => a,
        other => panic!("expected a hedge, got {other:?}"),
    }
}

/// tower's `new_service`: latencies [1 ms × 8, 10 ms × 2] readable,
/// min_data_points 10, p90, a 60 s period.
fn tower_setup(t: Timestamp) -> (HedgePolicy, LatencyTracker) {
    let config = HedgeConfig {
        percentile: Some(0.9),
        min_samples: Some(10),
        window: Some(Span::from_secs(60)),
        ..HedgeConfig::default()
    };
    let policy = config.validate(None).expect("valid");
    let mut tracker = policy.tracker(t - Span::from_secs(60));
    for latency in [1, 1, 1, 1, 1, 1, 1, 1, 10, 10] {
        tracker.record(t - Span::from_secs(30), ms(latency));
    }
    (policy, tracker)
}

#[test]
fn tower_hedge_is_issued_after_the_p90_delay() {
    let t = at_ms(100_000);
    let (policy, mut tracker) = tower_setup(t);
    let mut budget = generous_budget();
    let mut state = policy.start(t, Timestamp::MAX, &mut tracker);
    // p90 of [1 × 8, 10 × 2] is 10 ms (reported as its bucket's top, within
    // 1/64): no hedge before 10 ms, one by 11 ms (tower advances 11 ms).
    let due = state.poll_timeout().expect("a hedge is scheduled");
    assert!(due >= t + ms(10) && due <= t + ms(11), "{due}");
    assert_eq!(
        state.handle_timeout(t + ms(9), &mut budget),
        HedgeDecision::Skip(HedgeSkip::NotDue)
    );
    let hedge = sent(state.handle_timeout(t + ms(11), &mut budget));
    assert_eq!(hedge.index(), 1);
    assert_eq!(state.in_flight(), 2);
    // hedge_orig_completes_first: the original answers; the hedge is
    // cancelled and its late answer ignored.
    let mut orig_wins = state;
    assert_eq!(
        orig_wins.handle_response(
            &policy,
            t + ms(12),
            TryOutcome::status(200),
            ms(12),
            &mut tracker
        ),
        HedgeResponse::Commit { cancel: 1 }
    );
    assert_eq!(
        orig_wins.handle_response(
            &policy,
            t + ms(13),
            TryOutcome::status(200),
            ms(2),
            &mut tracker
        ),
        HedgeResponse::Late
    );
    assert_eq!(orig_wins.poll_timeout(), None);
    // hedge_hedge_completes_first: the hedge's answer wins just the same.
    assert_eq!(
        state.handle_response(
            &policy,
            t + ms(12),
            TryOutcome::status(200),
            ms(1),
            &mut tracker
        ),
        HedgeResponse::Commit { cancel: 1 }
    );
    assert_eq!(state.hedged(), 1);
}

#[test]
fn tower_completes_before_hedge() {
    let t = at_ms(100_000);
    let (policy, mut tracker) = tower_setup(t);
    let mut state = policy.start(t, Timestamp::MAX, &mut tracker);
    assert_eq!(
        state.handle_response(
            &policy,
            t + ms(3),
            TryOutcome::status(200),
            ms(3),
            &mut tracker
        ),
        HedgeResponse::Commit { cancel: 0 }
    );
    assert_eq!(state.poll_timeout(), None);
    assert_eq!(state.hedged(), 0);
}

#[test]
fn too_few_data_points_means_no_hedge_unless_a_fallback_is_set() {
    let t = at_ms(100_000);
    let config = HedgeConfig {
        percentile: Some(0.9),
        min_samples: Some(11),
        ..HedgeConfig::default()
    };
    let (_, mut tracker) = tower_setup(t);
    // Ten readable latencies, eleven needed: tower does not hedge.
    let policy = config.validate(None).expect("valid");
    let state = policy.start(t, Timestamp::MAX, &mut tracker);
    assert_eq!((state.delay(), state.poll_timeout()), (None, None));
    // With `delay` beside `percentile`, the fixed delay bridges the gap.
    let policy = HedgeConfig {
        delay: Some(ms(40)),
        ..config
    }
    .validate(None)
    .expect("valid");
    let state = policy.start(t, Timestamp::MAX, &mut tracker);
    assert_eq!(state.poll_timeout(), Some(t + ms(40)));
}

/// gRPC A6's example shape: `maxAttempts = 4`, `hedgingDelay = 500ms`,
/// UNAVAILABLE (503 here) non-fatal: hedges at 0.5, 1.0 and 1.5 s while no
/// acceptable response has arrived.
#[test]
fn grpc_hedging_policy_script() {
    let policy = fixed(500, 3);
    let mut tracker = policy.tracker(Timestamp::ZERO);
    let mut budget = generous_budget();
    let t = at_ms(1_000);
    let mut state = policy.start(t, Timestamp::MAX, &mut tracker);
    assert_eq!(state.poll_timeout(), Some(t + ms(500)));
    assert_eq!(
        sent(state.handle_timeout(t + ms(500), &mut budget)).index(),
        1
    );
    // The original fails with a non-fatal code: the hedge keeps racing.
    assert_eq!(
        state.handle_response(
            &policy,
            t + ms(700),
            TryOutcome::status(503),
            ms(700),
            &mut tracker
        ),
        HedgeResponse::Wait
    );
    assert_eq!(state.poll_timeout(), Some(t + ms(1_000)));
    assert_eq!(
        sent(state.handle_timeout(t + ms(1_000), &mut budget)).index(),
        2
    );
    assert_eq!(state.poll_timeout(), Some(t + ms(1_500)));
    // Hedge 1 answers OK: commit, cancel hedge 2.
    assert_eq!(
        state.handle_response(
            &policy,
            t + ms(1_100),
            TryOutcome::status(200),
            ms(600),
            &mut tracker
        ),
        HedgeResponse::Commit { cancel: 1 }
    );
    assert_eq!(state.poll_timeout(), None);
    assert_eq!(state.hedged(), 2);
    assert_eq!(state.attempts(), 3);
}

#[test]
fn a_fatal_failure_ends_the_race_at_once() {
    // gRPC: a fatal status cancels every outstanding hedge. A 500 is not in
    // the default retry_on list, so it is final.
    let policy = fixed(10, 2);
    let mut tracker = policy.tracker(Timestamp::ZERO);
    let mut budget = generous_budget();
    let mut state = policy.start(at_ms(0), Timestamp::MAX, &mut tracker);
    let _ = sent(state.handle_timeout(at_ms(10), &mut budget));
    assert_eq!(
        state.handle_response(
            &policy,
            at_ms(15),
            TryOutcome::status(500),
            ms(15),
            &mut tracker
        ),
        HedgeResponse::Commit { cancel: 1 }
    );
    assert_eq!(
        state.handle_timeout(at_ms(20), &mut budget),
        HedgeDecision::Skip(HedgeSkip::Finished)
    );
}

#[test]
fn hedges_draw_on_the_budget_and_stop_when_it_refuses() {
    // ratio 0.5, no reserve: every original deposits 1, a hedge withdraws 2.
    let budget_policy = BudgetPolicy::new(0.5, 0, Span::from_secs(10)).expect("valid");
    let mut budget = RetryBudget::new(&budget_policy, Timestamp::ZERO);
    let policy = fixed(10, 3);
    let mut tracker = policy.tracker(Timestamp::ZERO);
    budget.deposit(at_ms(0));
    budget.deposit(at_ms(0));
    let mut state = policy.start(at_ms(0), Timestamp::MAX, &mut tracker);
    assert_eq!(
        sent(state.handle_timeout(at_ms(10), &mut budget)).index(),
        1
    );
    assert_eq!(
        state.handle_timeout(at_ms(20), &mut budget),
        HedgeDecision::Skip(HedgeSkip::BudgetExhausted)
    );
    // Refused once, hedging is over for this call.
    assert_eq!(state.poll_timeout(), None);
    assert_eq!(
        state.handle_timeout(at_ms(30), &mut budget),
        HedgeDecision::Skip(HedgeSkip::Stopped)
    );
    let stats = budget.stats();
    assert_eq!((stats.withdrawals, stats.refused), (1, 1));
}

#[test]
fn a_breaker_rejection_stops_hedging() {
    let policy = fixed(10, 3);
    let mut tracker = policy.tracker(Timestamp::ZERO);
    let mut budget = generous_budget();
    let mut state = policy.start(at_ms(0), Timestamp::MAX, &mut tracker);
    let hedge = sent(state.handle_timeout(at_ms(10), &mut budget));
    state.handle_rejected(hedge);
    assert_eq!(state.in_flight(), 1);
    assert_eq!(state.poll_timeout(), None);
    // The original still decides the call.
    assert_eq!(
        state.handle_response(
            &policy,
            at_ms(40),
            TryOutcome::status(200),
            ms(40),
            &mut tracker
        ),
        HedgeResponse::Commit { cancel: 0 }
    );
}

#[test]
fn no_hedge_at_or_after_the_deadline() {
    let policy = fixed(100, 2);
    let mut tracker = policy.tracker(Timestamp::ZERO);
    let mut budget = generous_budget();
    let mut state = policy.start(at_ms(0), at_ms(100), &mut tracker);
    assert_eq!(
        state.handle_timeout(at_ms(100), &mut budget),
        HedgeDecision::Skip(HedgeSkip::DeadlineExceeded)
    );
    assert_eq!(budget.stats().withdrawals, 0);
}

#[test]
fn a_lost_race_goes_to_the_retry_policy_and_the_retry_hedges_again() {
    let policy = fixed(50, 2);
    let mut tracker = policy.tracker(Timestamp::ZERO);
    let mut budget = generous_budget();
    let mut state = policy.start(at_ms(0), Timestamp::MAX, &mut tracker);
    // The original resets before any hedge: nothing left in flight.
    assert_eq!(
        state.handle_response(&policy, at_ms(5), TryOutcome::Reset, ms(5), &mut tracker),
        HedgeResponse::Exhausted
    );
    assert_eq!(state.poll_timeout(), None);
    // The retry policy says: retry at 30 ms. Its hedge is due 50 ms later.
    let retry = state.handle_retry(at_ms(30));
    assert_eq!(retry.index(), 1);
    assert_eq!(state.poll_timeout(), Some(at_ms(80)));
    assert_eq!(
        sent(state.handle_timeout(at_ms(80), &mut budget)).index(),
        2
    );
    // Both fail retryably: the last one exhausts the round again.
    assert_eq!(
        state.handle_response(
            &policy,
            at_ms(90),
            TryOutcome::status(503),
            ms(60),
            &mut tracker
        ),
        HedgeResponse::Wait
    );
    assert_eq!(
        state.handle_response(
            &policy,
            at_ms(95),
            TryOutcome::status(503),
            ms(15),
            &mut tracker
        ),
        HedgeResponse::Exhausted
    );
    // The second retry gets the last hedge of the call's bound of 2.
    let _ = state.handle_retry(at_ms(120));
    assert_eq!(
        sent(state.handle_timeout(at_ms(170), &mut budget)).index(),
        4
    );
    assert_eq!(state.poll_timeout(), None);
    assert_eq!(state.hedged(), 2);
}

#[test]
fn responses_feed_the_tracker_and_transport_failures_do_not() {
    let policy = HedgeConfig {
        percentile: Some(0.5),
        min_samples: Some(1),
        window: Some(Span::from_secs(1)),
        ..HedgeConfig::default()
    }
    .validate(None)
    .expect("valid");
    let mut tracker = policy.tracker(Timestamp::ZERO);
    let mut state = policy.start(at_ms(0), Timestamp::MAX, &mut tracker);
    assert_eq!(state.poll_timeout(), None, "no data yet, no fallback");
    let _ = state.handle_response(
        &policy,
        at_ms(30),
        TryOutcome::ConnectFailure,
        ms(30),
        &mut tracker,
    );
    let mut state = policy.start(at_ms(40), Timestamp::MAX, &mut tracker);
    let _ = state.handle_response(
        &policy,
        at_ms(47),
        TryOutcome::status(503),
        ms(7),
        &mut tracker,
    );
    assert_eq!(tracker.samples(at_ms(1_000)), 1);
    let state = policy.start(at_ms(1_000), Timestamp::MAX, &mut tracker);
    // 7 ms, reported as the top of its bucket (at most 1/64 above).
    let delay = state.delay().expect("one readable latency");
    assert!(
        delay >= ms(7) && delay <= ms(7).mul_f64(1.0 + 1.0 / 64.0),
        "{delay}"
    );
}

fn policy_err(text: &str) -> (String, String) {
    #[derive(serde::Deserialize)]
    struct Doc {
        policy: PolicyConfig,
    }
    let doc: Doc = toml::from_str(text).expect("parses");
    let err = doc.policy.validate().expect_err("invalid");
    (err.key().to_owned(), err.to_string())
}

#[test]
fn the_hedge_table_parses_and_errors_name_full_keys() {
    #[derive(serde::Deserialize)]
    struct Doc {
        policy: PolicyConfig,
    }
    let doc: Doc = toml::from_str(
        r#"
        [policy.mesh]
        timeout = "2s"
        retry = { attempts = 2, retry_on = ["5xx"] }
        hedge = { percentile = 0.95, max_hedged = 2 }
        [policy.mesh.edges."api->db"]
        hedge = { delay = "50ms" }
        [policy.mesh.edges."api->cache"]
        retry = { attempts = 1 }
        "#,
    )
    .expect("parses");
    let p = doc.policy.validate().expect("valid");
    let mesh = p.mesh.hedge.expect("mesh hedge");
    assert_eq!(mesh.max_hedged(), 2);
    assert!(matches!(
        mesh.delay(),
        HedgeDelay::Percentile {
            quantile_ppm: 950_000,
            min_samples: 100,
            fallback: None,
            ..
        }
    ));
    // Inherits the retry's retry_on ("5xx" races past a 500) and its budget.
    assert!(mesh.retry_on().matches(&TryOutcome::status(500)));
    assert_eq!(mesh.budget(), None);
    assert_eq!(p.mesh.budget(), Some(p.mesh.retry.expect("retry").budget()));
    let db = p.edge("api", "db").hedge.expect("edge hedge");
    assert_eq!(db.delay(), HedgeDelay::Fixed(ms(50)));
    assert_eq!(db.max_hedged(), 1);

    for (text, key, hint) in [
        (
            "[policy.mesh]\nhedge = { max_hedged = 2 }",
            "policy.mesh.hedge.delay",
            "percentile",
        ),
        (
            "[policy.mesh]\nhedge = { percentile = 1.5 }",
            "policy.mesh.hedge.percentile",
            "(0, 1]",
        ),
        (
            "[policy.mesh.edges.\"a->b\"]\nhedge = { delay = \"5ms\", max_hedged = 17 }",
            "policy.mesh.edges.\"a->b\".hedge.max_hedged",
            "1..=16",
        ),
        (
            "[policy.mesh]\nhedge = { delay = \"5ms\", window = \"1s\" }",
            "policy.mesh.hedge.window",
            "without `percentile`",
        ),
        (
            "[policy.mesh]\nretry = {}\nhedge = { delay = \"5ms\", budget = { ratio = 0.1 } }",
            "policy.mesh.hedge.budget",
            "retry.budget",
        ),
        (
            "[policy.mesh]\nhedge = { delay = \"5ms\", budget = {} }\n\
             [policy.mesh.edges.\"a->b\"]\nretry = {}",
            "policy.mesh.hedge.budget",
            "as inherited by `policy.mesh.edges.\"a->b\"`",
        ),
        (
            "[policy.mesh]\nhedge = { delay = \"5ms\", retry_on = [\"6xx\"] }",
            "policy.mesh.hedge.retry_on",
            "status codes",
        ),
    ] {
        let (got_key, message) = policy_err(text);
        assert_eq!(got_key, key, "{text}");
        assert!(message.contains(hint), "{message}");
    }
}

/// One event a driver may feed a hedge state.
#[derive(Clone, Debug)]
enum Event {
    Advance(u64),
    Timer,
    Respond(u16),
    Retry,
    Reject,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => (0u64..80).prop_map(Event::Advance),
        4 => Just(Event::Timer),
        3 => prop::sample::select(vec![200u16, 500, 503, 0]).prop_map(Event::Respond),
        1 => Just(Event::Retry),
        1 => Just(Event::Reject),
    ]
}

proptest! {
    /// Whatever the driver does, a call never sends more than `max_hedged`
    /// hedges, never one after the commit or at/after the deadline, every
    /// hedge was paid for by the budget, and attempt ids count up.
    #[test]
    fn hedges_never_exceed_the_bound(
        max_hedged in 1u32..=5,
        delay_ms in 0u64..60,
        deadline_ms in 1u64..400,
        ratio in 0.0f64..2.0,
        reserve in 0u64..3,
        events in prop::collection::vec(event(), 1..80),
    ) {
        let policy = fixed(delay_ms, max_hedged);
        let budget_policy = BudgetPolicy::new(ratio, reserve, Span::from_secs(1)).expect("valid");
        let mut budget = RetryBudget::new(&budget_policy, Timestamp::ZERO);
        let mut tracker = policy.tracker(Timestamp::ZERO);
        let deadline = at_ms(deadline_ms);
        budget.deposit(Timestamp::ZERO);
        let mut state = policy.start(Timestamp::ZERO, deadline, &mut tracker);
        let mut now = Timestamp::ZERO;
        let mut sent_hedges = 0u32;
        let mut next_attempt = 1u32;
        let mut committed = false;
        let mut can_retry = false;
        // The last hedge sent, which the breaker may still reject.
        let mut fresh_hedge = None;
        for event in events {
            match event {
                Event::Advance(d) => now += ms(d),
                Event::Timer => {
                    if let HedgeDecision::Send(a) = state.handle_timeout(now, &mut budget) {
                        prop_assert!(!committed, "hedge after the commit");
                        prop_assert!(now < deadline, "hedge at/after the deadline");
                        prop_assert!(state.poll_timeout().is_none_or(|t| t >= now));
                        prop_assert_eq!(a.index(), next_attempt);
                        next_attempt += 1;
                        sent_hedges += 1;
                        fresh_hedge = Some(a);
                    }
                }
                Event::Respond(status) if state.in_flight() > 0 => {
                    fresh_hedge = None;
                    let outcome = if status == 0 {
                        TryOutcome::Reset
                    } else {
                        TryOutcome::status(status)
                    };
                    match state.handle_response(&policy, now, outcome, ms(1), &mut tracker) {
                        HedgeResponse::Commit { cancel } => {
                            prop_assert_eq!(cancel, state.in_flight());
                            committed = true;
                        }
                        HedgeResponse::Exhausted => {
                            prop_assert_eq!(state.in_flight(), 0);
                            can_retry = true;
                        }
                        HedgeResponse::Wait => prop_assert!(state.in_flight() > 0),
                        HedgeResponse::Late => prop_assert!(committed),
                    }
                }
                Event::Retry if can_retry && !committed => {
                    can_retry = false;
                    fresh_hedge = None;
                    prop_assert_eq!(state.handle_retry(now).index(), next_attempt);
                    next_attempt += 1;
                }
                Event::Reject => {
                    if let Some(hedge) = fresh_hedge.take() {
                        state.handle_rejected(hedge);
                        prop_assert_eq!(state.poll_timeout(), None);
                    }
                }
                _ => {}
            }
            prop_assert!(state.hedged() <= max_hedged);
            prop_assert_eq!(state.hedged(), sent_hedges);
            prop_assert!(u64::from(sent_hedges) <= budget.stats().withdrawals);
        }
    }
}
