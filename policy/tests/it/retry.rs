//! Retries: decision scripts, backoff bounds, tower-exact retry budget, the
//! per-request state machine's invariants and the `[policy.mesh.retry]` table.

use headroom_policy::retry::{
    Backoff, BackoffKind, BudgetPolicy, GiveUpReason, Jitter, RetryBudget, RetryConfig,
    RetryDecision, RetryOn, RetryPolicy, TryOutcome,
};
use headroom_policy::{Span, Timestamp};
use proptest::prelude::*;
use rand_pcg::Pcg64;

fn ms(v: u64) -> Timestamp {
    Timestamp::from_nanos(v * 1_000_000)
}

fn policy(toml_text: &str, timeout: Option<Span>) -> RetryPolicy {
    let config: RetryConfig = toml::from_str(toml_text).expect("parses");
    config.validate(timeout).expect("valid")
}

fn retry_at(at: u64, per_try_deadline: u64) -> RetryDecision {
    RetryDecision::RetryAt {
        at: ms(at),
        per_try_deadline: ms(per_try_deadline),
    }
}

#[test]
fn retry_script_backoff_retry_after_and_attempts() {
    let p = policy(
        r#"attempts = 4
           base = "100ms"
           max = "1s"
           jitter = "none"
           retry_on = ["gateway-error", "connect-failure", "reset", "rate-limited"]
           per_try_timeout = "1s""#,
        Some(Span::from_secs(5)),
    );
    let mut rng = Pcg64::new(1, 1);
    let mut budget = RetryBudget::new(&p.budget(), ms(0));
    let mut st = p.start(ms(0), &mut budget);
    assert_eq!((st.per_try_deadline(), st.deadline()), (ms(1000), ms(5000)));
    let script = [
        (1000, TryOutcome::Timeout, retry_at(1100, 2100)),
        (1500, TryOutcome::status(503), retry_at(1700, 2700)),
        // The server's Retry-After replaces the backoff; the per-try
        // deadline is still capped by the overall one.
        (
            1800,
            TryOutcome::Response {
                status: 429,
                retry_after: Some(Span::from_secs(2)),
            },
            retry_at(3800, 4800),
        ),
        (
            4000,
            TryOutcome::status(503),
            RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted),
        ),
        (
            4001,
            TryOutcome::status(200),
            RetryDecision::GiveUp(GiveUpReason::Finished),
        ),
    ];
    for (row, (at, outcome, want)) in script.into_iter().enumerate() {
        let got = st.handle_outcome(&p, ms(at), outcome, &mut budget, &mut rng);
        assert_eq!(got, want, "row {row}");
    }
    assert_eq!(st.tries(), 4);
    assert_eq!(budget.stats().withdrawals, 3);
}

#[test]
fn retry_script_final_decisions() {
    let p = policy(
        r#"attempts = 3
           backoff = "constant"
           base = "300ms"
           jitter = "none""#,
        Some(Span::from_secs(1)),
    );
    let mut rng = Pcg64::new(2, 2);
    let mut budget = RetryBudget::new(&p.budget(), ms(0));
    let cases = [
        // (outcome time, outcome, decision)
        (10, TryOutcome::status(200), RetryDecision::Done),
        (10, TryOutcome::status(404), RetryDecision::Done),
        (
            10,
            TryOutcome::status(500),
            RetryDecision::GiveUp(GiveUpReason::NotRetryable),
        ),
        (
            10,
            TryOutcome::status(429),
            RetryDecision::GiveUp(GiveUpReason::NotRetryable),
        ),
        (10, TryOutcome::Reset, retry_at(310, 1000)),
        // Backoff would start the retry at the deadline.
        (
            700,
            TryOutcome::ConnectFailure,
            RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded),
        ),
        (
            1000,
            TryOutcome::Timeout,
            RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded),
        ),
        (
            100,
            TryOutcome::Response {
                status: 503,
                retry_after: Some(Span::from_millis(900)),
            },
            RetryDecision::GiveUp(GiveUpReason::RetryAfterExceedsDeadline),
        ),
    ];
    for (row, (at, outcome, want)) in cases.into_iter().enumerate() {
        let mut st = p.start(ms(0), &mut budget);
        let got = st.handle_outcome(&p, ms(at), outcome, &mut budget, &mut rng);
        assert_eq!(got, want, "row {row}");
        assert_eq!(
            st.is_finished(),
            !matches!(want, RetryDecision::RetryAt { .. })
        );
    }
}

#[test]
fn budget_refusal_gives_up() {
    // ratio 0.5 (deposit 1, withdraw 2), no reserve: two requests fund one retry.
    let p = policy(
        r#"jitter = "none"
           budget = { ratio = 0.5, min_per_s = 0, window = "10s" }"#,
        None,
    );
    let mut rng = Pcg64::new(3, 3);
    let mut budget = RetryBudget::new(&p.budget(), ms(0));
    let mut a = p.start(ms(0), &mut budget);
    let got = a.handle_outcome(&p, ms(5), TryOutcome::status(503), &mut budget, &mut rng);
    assert_eq!(got, RetryDecision::GiveUp(GiveUpReason::BudgetExhausted));
    let mut b = p.start(ms(6), &mut budget);
    let got = b.handle_outcome(&p, ms(7), TryOutcome::status(503), &mut budget, &mut rng);
    // No timeout and no per-try timeout: the next try never times out.
    assert_eq!(
        got,
        RetryDecision::RetryAt {
            at: ms(32),
            per_try_deadline: Timestamp::MAX
        }
    );
}

#[test]
fn decorrelated_jitter_is_reproducible() {
    let p = policy(
        r#"attempts = 6
           base = "10ms"
           max = "2s"
           jitter = "decorrelated""#,
        None,
    );
    let run = |seed: u64| {
        let mut rng = Pcg64::new(u128::from(seed), 5);
        let mut budget = RetryBudget::new(&p.budget(), ms(0));
        let mut st = p.start(ms(0), &mut budget);
        let mut now = ms(1);
        let mut delays = Vec::new();
        while let RetryDecision::RetryAt { at, .. } =
            st.handle_outcome(&p, now, TryOutcome::Reset, &mut budget, &mut rng)
        {
            delays.push(at - now);
            now = at + Span::from_millis(1);
        }
        delays
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
    assert_eq!(run(9).len(), 5);
}

// ---------------------------------------------------------------------------
// Properties.

fn jitter_kind() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated)
    ]
}

proptest! {
    #[test]
    fn backoff_always_within_zero_and_cap(
        exponential in any::<bool>(), base in 0u64..1_000_000, extra in 0u64..10_000_000,
        multiplier in 1.0f64..100.0, jitter in jitter_kind(), seed in any::<u64>(),
        retries in 1u32..100,
    ) {
        let kind = if exponential { BackoffKind::Exponential } else { BackoffKind::Constant };
        let max = Span::from_nanos(base + extra);
        let b = Backoff::new(kind, Span::from_nanos(base), max, multiplier, jitter)
            .expect("valid");
        let mut rng = Pcg64::new(seed.into(), 1);
        let mut previous = Span::ZERO;
        for retry in 1..=retries {
            let ceiling = b.ceiling(retry);
            prop_assert!(ceiling <= max);
            prop_assert!(ceiling >= b.ceiling(retry.saturating_sub(1)));
            let d = b.delay(retry, previous, &mut rng);
            prop_assert!(d <= max, "{d} > {max}");
            match jitter {
                Jitter::None => prop_assert_eq!(d, ceiling),
                Jitter::Full => prop_assert!(d <= ceiling),
                Jitter::Equal => prop_assert!(d <= ceiling && d.as_nanos() >= ceiling.as_nanos() - ceiling.as_nanos() / 2),
                Jitter::Decorrelated => prop_assert!(d.as_nanos() >= base),
            }
            previous = d;
        }
    }
}

/// tower's `TpsBudget` transcribed literally (loop-based `expire`, `isize`,
/// `f32` amounts), as the oracle for [`RetryBudget`].
struct TowerModel {
    deposit_amount: isize,
    withdraw_amount: isize,
    reserve: isize,
    slots: [isize; 10],
    window: u64,
    index: usize,
    time: u64,
    writer: isize,
}

impl TowerModel {
    fn new(ttl_ns: u64, min_per_sec: u32, retry_percent: f32) -> Self {
        let (deposit_amount, withdraw_amount) = if retry_percent == 0.0 {
            (0, 1)
        } else if retry_percent <= 1.0 {
            (1, (1.0 / retry_percent) as isize)
        } else {
            (1000, (1000.0 / retry_percent) as isize)
        };
        let reserve = (min_per_sec as isize)
            .saturating_mul((ttl_ns / 1_000_000_000) as isize)
            .saturating_mul(withdraw_amount);
        TowerModel {
            deposit_amount,
            withdraw_amount,
            reserve,
            slots: [0; 10],
            window: ttl_ns / 10,
            index: 0,
            time: 0,
            writer: 0,
        }
    }

    fn expire(&mut self, now: u64) {
        let diff = now.saturating_sub(self.time);
        if diff < self.window {
            return;
        }
        self.slots[self.index] = self.writer;
        self.writer = 0;
        let mut diff = diff;
        let mut idx = (self.index + 1) % 10;
        while diff > self.window {
            self.slots[idx] = 0;
            diff -= self.window;
            idx = (idx + 1) % 10;
        }
        self.index = idx;
        self.time = now;
    }

    fn deposit(&mut self, now: u64) {
        self.expire(now);
        self.writer += self.deposit_amount;
    }

    fn withdraw(&mut self, now: u64) -> bool {
        self.expire(now);
        let sum = self
            .slots
            .iter()
            .fold(self.writer, |a, s| a.saturating_add(*s))
            + self.reserve;
        if sum >= self.withdraw_amount {
            self.writer -= self.withdraw_amount;
            true
        } else {
            false
        }
    }
}

fn budget_op() -> impl Strategy<Value = (u64, bool)> {
    // Gaps from 0 to a few windows, sometimes a very long idle period.
    (
        prop_oneof![8 => 0u64..400_000_000, 1 => 0u64..200_000_000_000],
        any::<bool>(),
    )
}

proptest! {
    #[test]
    fn budget_matches_tower_exactly(
        window_ms in 1_000u64..=60_000, min_per_s in 0u32..20,
        ratio in prop_oneof![Just(0.0f64), 0.01f64..1.0, 1.0f64..1000.0],
        ops in prop::collection::vec(budget_op(), 1..300),
    ) {
        let window = Span::from_millis(window_ms);
        let policy = BudgetPolicy::new(ratio, u64::from(min_per_s), window).expect("valid");
        let mut ours = RetryBudget::new(&policy, Timestamp::ZERO);
        let mut tower = TowerModel::new(window.as_nanos(), min_per_s, ratio as f32);
        let mut now = 0u64;
        for (gap, is_deposit) in ops {
            now += gap;
            let t = Timestamp::from_nanos(now);
            if is_deposit {
                ours.deposit(t);
                tower.deposit(now);
            } else {
                prop_assert_eq!(ours.withdraw(t), tower.withdraw(now), "at {}", now);
            }
        }
    }

    #[test]
    fn budget_never_grants_more_than_deposits_plus_reserve_within_a_slot(
        min_per_s in 0u32..5, ratio in 0.05f64..3.0,
        ops in prop::collection::vec((0u64..10_000_000, any::<bool>()), 1..400),
    ) {
        // Window 1 s: slots of 100 ms; all operations fall in the first slot.
        let policy = BudgetPolicy::new(ratio, u64::from(min_per_s), Span::from_secs(1))
            .expect("valid");
        let mut budget = RetryBudget::new(&policy, Timestamp::ZERO);
        let mut now = 0u64;
        let (mut deposits, mut granted) = (0i64, 0i64);
        for (gap, is_deposit) in ops {
            now = (now + gap).min(99_999_999);
            let t = Timestamp::from_nanos(now);
            if is_deposit {
                budget.deposit(t);
                deposits += 1;
            } else if budget.withdraw(t) {
                granted += 1;
            }
            prop_assert!(granted * budget.withdraw_amount()
                <= deposits * budget.deposit_amount() + budget.reserve());
        }
    }

    #[test]
    fn retries_respect_attempts_deadline_and_budget(
        attempts in 1u32..6, timeout_ms in 0u64..3_000, per_try_ms in 1u64..2_000,
        min_per_s in 0u64..3, seed in any::<u64>(),
        outcomes in prop::collection::vec(
            (0u64..800, 0u8..6, prop::option::of(0u64..1_500)), 1..200),
    ) {
        let timeout = (timeout_ms > per_try_ms).then(|| Span::from_millis(timeout_ms));
        let config = RetryConfig {
            attempts: Some(u64::from(attempts)),
            per_try_timeout: Some(Span::from_millis(per_try_ms)),
            retry_on: Some(vec!["5xx".into(), "rate-limited".into()]),
            budget: Some(headroom_policy::retry::BudgetConfig {
                ratio: Some(0.25), min_per_s: Some(min_per_s), window: Some(Span::from_secs(2)),
            }),
            ..RetryConfig::default()
        };
        let p = config.validate(timeout).expect("valid");
        let mut rng = Pcg64::new(seed.into(), 3);
        let mut budget = RetryBudget::new(&p.budget(), Timestamp::ZERO);
        let mut now = Timestamp::ZERO;
        let mut st = p.start(now, &mut budget);
        let (mut retries, mut started) = (0u64, 1u64);
        for (took_ms, kind, retry_after) in outcomes {
            // A try ends within its per-try deadline.
            now = (now + Span::from_millis(took_ms)).min(st.per_try_deadline());
            let outcome = match kind {
                0 => TryOutcome::status(200),
                1 => TryOutcome::Timeout,
                2 => TryOutcome::Reset,
                3 => TryOutcome::Response { status: 429, retry_after: retry_after.map(Span::from_millis) },
                _ => TryOutcome::status(503),
            };
            match st.handle_outcome(&p, now, outcome, &mut budget, &mut rng) {
                RetryDecision::RetryAt { at, per_try_deadline } => {
                    prop_assert!(at >= now && at < st.deadline());
                    prop_assert!(per_try_deadline > at && per_try_deadline <= st.deadline());
                    prop_assert!(st.tries() <= attempts);
                    retries += 1;
                    now = at;
                }
                RetryDecision::Done | RetryDecision::GiveUp(_) => {
                    prop_assert!(st.is_finished());
                    now += Span::from_millis(1);
                    st = p.start(now, &mut budget);
                    started += 1;
                }
            }
        }
        let stats = budget.stats();
        prop_assert_eq!(stats.withdrawals, retries);
        prop_assert_eq!(stats.deposits, started);
    }
}

// ---------------------------------------------------------------------------
// Configuration.

/// Reads `[policy.mesh] timeout` and `[policy.mesh.retry]` the way the
/// scenario loader will, next to a circuit-breaker table this crate does not
/// own.
fn mesh(text: &str) -> (Option<Span>, RetryConfig) {
    let doc: toml::Table = toml::from_str(text).expect("parses");
    let mesh = &doc["policy"]["mesh"];
    let timeout = mesh
        .get("timeout")
        .map(|t| Span::parse(t.as_str().expect("string")).expect("duration"));
    let retry = mesh
        .get("retry")
        .cloned()
        .map(|r| r.try_into().expect("retry table"))
        .unwrap_or_default();
    (timeout, retry)
}

#[test]
fn reference_mesh_table_parses_as_written() {
    let (timeout, retry) = mesh(
        r#"
        [policy.mesh]
        timeout = "5000ms"

        [policy.mesh.retry]
        attempts = 3
        backoff = "exponential"

        [policy.mesh.circuit_breaker]
        failure_rate_threshold = 0.5
        open_duration = "30s"
        "#,
    );
    let p = retry.validate(timeout).expect("valid");
    assert_eq!(p.attempts(), 3);
    assert_eq!(p.timeout(), Some(Span::from_secs(5)));
    assert_eq!(p.backoff().kind(), BackoffKind::Exponential);
    assert_eq!(p.backoff().base(), Span::from_millis(25));
    assert_eq!(p.backoff().max(), Span::from_millis(250));
    assert_eq!(p.backoff().jitter(), Jitter::Full);
    assert_eq!(p.retry_on(), &RetryOn::default());
    assert_eq!(p.budget(), BudgetPolicy::default());
}

#[test]
fn full_retry_table_parses() {
    let (timeout, retry) = mesh(
        r#"
        [policy.mesh]
        timeout = "2s"
        [policy.mesh.retry]
        attempts = 5
        backoff = "exponential"
        base = "50ms"
        max = "1s"
        multiplier = 1.5
        jitter = "equal"
        retry_on = ["5xx", "reset", "409"]
        per_try_timeout = "500ms"
        budget = { ratio = 0.1, min_per_s = 5, window = "30s" }
        "#,
    );
    let p = retry.validate(timeout).expect("valid");
    assert_eq!(p.backoff().multiplier(), 1.5);
    assert_eq!(p.per_try_timeout(), Some(Span::from_millis(500)));
    assert_eq!(p.retry_on().names(), ["5xx", "reset", "409"]);
    assert_eq!(
        (
            p.budget().ratio(),
            p.budget().min_per_s(),
            p.budget().window()
        ),
        (0.1, 5, Span::from_secs(30))
    );
    let back: RetryConfig =
        toml::from_str(&toml::to_string(&retry).expect("serializes")).expect("reparses");
    assert_eq!(back, retry);
}

#[test]
fn bad_retry_values_name_key_value_and_range() {
    let five_s = Some(Span::from_secs(5));
    let cases = [
        (
            "attempts = 0",
            "attempts",
            "0",
            "an integer from 1 to 100 (total tries, including the first)",
        ),
        (
            "attempts = 101",
            "attempts",
            "101",
            "an integer from 1 to 100 (total tries, including the first)",
        ),
        (
            "multiplier = 0.5",
            "multiplier",
            "0.5",
            "a number from 1 to 100",
        ),
        (
            "backoff = \"constant\"\nmultiplier = 3.0",
            "multiplier",
            "3",
            "no `multiplier`: it is only used with backoff = \"exponential\"",
        ),
        (
            "base = \"2s\"\nmax = \"1s\"",
            "max",
            "\"1s\"",
            "a duration >= base (\"2s\")",
        ),
        (
            "per_try_timeout = \"5s\"",
            "per_try_timeout",
            "\"5s\"",
            "a duration > 0 and < timeout (\"5s\")",
        ),
        (
            "per_try_timeout = \"0s\"",
            "per_try_timeout",
            "\"0s\"",
            "a duration > 0 and < timeout (\"5s\")",
        ),
        (
            "retry_on = [\"5xy\"]",
            "retry_on",
            "\"5xy\"",
            "a list of \"5xx\", \"gateway-error\", \"connect-failure\", \"reset\", \
             \"retriable-4xx\", \"timeout\", \"rate-limited\" or status codes \"100\"..\"599\"",
        ),
        (
            "budget = { ratio = 2000.0 }",
            "budget.ratio",
            "2000",
            "a number from 0 to 1000",
        ),
        (
            "budget = { window = \"0s\" }",
            "budget.window",
            "\"0s\"",
            "a duration from 1s to 60s",
        ),
        (
            "budget = { min_per_s = 4294967295 }",
            "budget.min_per_s",
            "4294967295",
            "an integer from 0 to 2147483646",
        ),
    ];
    for (text, key, value, accepted) in cases {
        let config: RetryConfig = toml::from_str(text).expect(text);
        let err = config
            .validate(five_s)
            .expect_err(text)
            .within("policy.mesh.retry");
        assert_eq!(
            (err.key(), err.value(), err.expected()),
            (format!("policy.mesh.retry.{key}").as_str(), value, accepted),
            "{text}"
        );
    }
    let err = toml::from_str::<RetryConfig>("jitter = \"half\"").expect_err("variant");
    assert!(err.to_string().contains("decorrelated"), "{err}");
    let err = toml::from_str::<RetryConfig>("budget = { percent = 3 }").expect_err("unknown");
    assert!(err.to_string().contains("percent"), "{err}");
}
