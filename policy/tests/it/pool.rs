//! Connection pool: a decision script, model-checked invariants (never more
//! than `max`, FIFO service, every waiter ends exactly once, no connection
//! used past `max_lifetime`) and the `pool` table.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use headroom_policy::pool::{
    Acquire, ConnId, Handoff, Pool, PoolAction, PoolConfig, PoolError, PoolPolicy, RejectReason,
};
use headroom_policy::{Span, Timestamp};
use proptest::prelude::*;

fn ms(v: u64) -> Timestamp {
    Timestamp::from_nanos(v * 1_000_000)
}

fn drain(pool: &mut Pool) -> Vec<PoolAction> {
    std::iter::from_fn(|| pool.poll_action()).collect()
}

fn connect_of(actions: &[PoolAction]) -> ConnId {
    match actions {
        [PoolAction::Connect(c)] => *c,
        other => panic!("expected one Connect, got {other:?}"),
    }
}

#[test]
fn pool_script() {
    let policy = PoolPolicy::new(1, 2, Span::from_secs(30), Span::from_secs(10), 2).expect("valid");
    let mut pool = Pool::new(&policy, ms(0));
    let c0 = connect_of(&drain(&mut pool));

    // A waiter queues behind the initial connect; no second connect.
    assert_eq!(
        pool.acquire(ms(0), 1),
        Acquire::Queued {
            deadline: ms(10_000)
        }
    );
    assert_eq!(drain(&mut pool), []);
    assert_eq!(
        pool.handle_connected(ms(5), c0),
        Ok(Some(Handoff {
            waiter: 1,
            conn: c0
        }))
    );
    // Next waiter triggers a connect; the third hits max and waits; the
    // fourth finds max_waiters queued.
    assert_eq!(
        pool.acquire(ms(10), 2),
        Acquire::Queued {
            deadline: ms(10_010)
        }
    );
    let c1 = connect_of(&drain(&mut pool));
    assert_eq!(
        pool.acquire(ms(20), 3),
        Acquire::Queued {
            deadline: ms(10_020)
        }
    );
    assert_eq!(drain(&mut pool), []);
    assert_eq!(
        pool.acquire(ms(30), 4),
        Acquire::Rejected(RejectReason::WaitersFull)
    );
    // Released connection goes to the oldest waiter.
    assert_eq!(
        pool.release(ms(40), c0),
        Ok(Some(Handoff {
            waiter: 2,
            conn: c0
        }))
    );
    // The connect fails: waiter 3 has nothing in flight and fails fast.
    assert_eq!(pool.handle_connect_failed(ms(50), c1), Ok(()));
    assert_eq!(drain(&mut pool), [PoolAction::Failed { waiter: 3 }]);
    // Idle with only `min` open: no idle expiry pending.
    assert_eq!(pool.release(ms(60), c0), Ok(None));
    assert_eq!(pool.poll_timeout(), None);
    assert_eq!(pool.acquire(ms(70), 5), Acquire::Acquired(c0));
    assert_eq!(
        pool.acquire(ms(80), 6),
        Acquire::Queued {
            deadline: ms(10_080)
        }
    );
    let c1b = connect_of(&drain(&mut pool));
    assert_eq!(c1b.index(), c1.index());
    assert_ne!(c1b, c1, "a reused slot gets a new generation");
    assert_eq!(pool.poll_timeout(), Some(ms(10_080)));
    assert_eq!(
        pool.handle_connected(ms(100), c1b),
        Ok(Some(Handoff {
            waiter: 6,
            conn: c1b
        }))
    );
    assert_eq!(pool.release(ms(200), c0), Ok(None));
    assert_eq!(pool.release(ms(300), c1b), Ok(None));
    assert_eq!(pool.poll_timeout(), Some(ms(30_200)));
    // LIFO reuse: the most recently released connection.
    assert_eq!(pool.acquire(ms(1_000), 7), Acquire::Acquired(c1b));
    assert_eq!(pool.release(ms(2_000), c1b), Ok(None));
    // c0 idled at 200 ms expires at 30.2 s; c1b (idle since 2 s) stays as min.
    pool.handle_timeout(ms(30_200));
    assert_eq!(drain(&mut pool), [PoolAction::Close(c0)]);
    assert_eq!(pool.poll_timeout(), None);
    assert_eq!((pool.total(), pool.idle(), pool.busy()), (1, 1, 0));
    // Stale and wrong-state handles are errors, not panics.
    assert_eq!(
        pool.release(ms(31_000), c0),
        Err(PoolError::UnknownConnection(c0))
    );
    assert_eq!(
        pool.release(ms(31_000), c1b),
        Err(PoolError::WrongState {
            conn: c1b,
            expected: "busy"
        })
    );
    // A waiter that is never served expires at its deadline.
    assert_eq!(pool.acquire(ms(31_000), 8), Acquire::Acquired(c1b));
    assert_eq!(
        pool.acquire(ms(32_000), 9),
        Acquire::Queued {
            deadline: ms(42_000)
        }
    );
    let c2 = connect_of(&drain(&mut pool));
    pool.handle_timeout(ms(42_000));
    assert_eq!(drain(&mut pool), [PoolAction::Expired { waiter: 9 }]);
    assert_eq!(pool.handle_connected(ms(43_000), c2), Ok(None));
    // Discarding a broken busy connection keeps `min` open.
    assert_eq!(pool.discard(ms(44_000), c1b), Ok(()));
    assert_eq!(drain(&mut pool), []); // c2 (idle) already satisfies min = 1
    assert_eq!(pool.acquire(ms(45_000), 10), Acquire::Acquired(c2));
    assert_eq!(pool.discard(ms(46_000), c2), Ok(()));
    let c3 = connect_of(&drain(&mut pool));
    assert_eq!(pool.connecting(), 1);
    assert!(ConnId::from_u64(c3.to_u64()) == c3);
    let stats = pool.stats();
    assert_eq!(
        (
            stats.handoffs,
            stats.failed,
            stats.expired,
            stats.rejected_waiters_full,
            stats.closed_idle
        ),
        (3, 1, 1, 1, 1)
    );
    assert_eq!((stats.peak_connections, stats.peak_waiters), (2, 2));
}

#[test]
fn cancel_removes_a_waiter() {
    let policy = PoolPolicy::new(0, 1, Span::from_secs(30), Span::from_secs(10), 8).expect("valid");
    let mut pool = Pool::new(&policy, ms(0));
    assert_eq!(drain(&mut pool), []);
    assert_eq!(
        pool.acquire(ms(0), 1),
        Acquire::Queued {
            deadline: ms(10_000)
        }
    );
    let c = connect_of(&drain(&mut pool));
    assert_eq!(
        pool.acquire(ms(1), 2),
        Acquire::Queued {
            deadline: ms(10_001)
        }
    );
    assert!(pool.cancel(ms(2), 1));
    assert!(!pool.cancel(ms(2), 1));
    assert_eq!(
        pool.handle_connected(ms(3), c),
        Ok(Some(Handoff { waiter: 2, conn: c }))
    );
}

#[test]
fn failed_connects_are_not_retried_until_traffic_arrives() {
    let policy = PoolPolicy::new(2, 4, Span::from_secs(30), Span::from_secs(10), 8).expect("valid");
    let mut pool = Pool::new(&policy, ms(0));
    let initial = drain(&mut pool);
    assert_eq!(initial.len(), 2);
    for action in initial {
        let PoolAction::Connect(c) = action else {
            panic!("expected Connect, got {action:?}")
        };
        assert_eq!(pool.handle_connect_failed(ms(1), c), Ok(()));
    }
    // Below min, but the failures themselves open nothing.
    assert_eq!((pool.total(), drain(&mut pool).len()), (0, 0));
    assert_eq!(pool.poll_timeout(), None);
    // The next queued acquire opens one connection for itself and restores min.
    assert_eq!(
        pool.acquire(ms(5), 1),
        Acquire::Queued {
            deadline: ms(10_005)
        }
    );
    assert_eq!(drain(&mut pool).len(), 2);
    assert_eq!((pool.total(), pool.connecting()), (2, 2));
}

#[test]
fn max_lifetime_closes_idle_connections_and_replaces_old_ones_on_release() {
    // bb8/r2d2 semantics: an idle connection is closed when it reaches its
    // lifetime (min is restored with a fresh connect); a busy one is closed
    // when released, and a queued waiter gets a fresh one instead.
    let policy = PoolPolicy::new(1, 2, Span::from_secs(30), Span::from_secs(10), 4)
        .expect("valid")
        .with_max_lifetime(Some(Span::from_millis(100)));
    let mut pool = Pool::new(&policy, ms(0));
    let c0 = connect_of(&drain(&mut pool));
    assert_eq!(pool.handle_connected(ms(5), c0), Ok(None));
    // Idle since 5 ms: its lifetime ends at 105 ms, min notwithstanding.
    assert_eq!(pool.poll_timeout(), Some(ms(105)));
    pool.handle_timeout(ms(105));
    let actions = drain(&mut pool);
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0], PoolAction::Close(c0));
    let c1 = connect_of(&actions[1..]);
    assert_eq!(pool.handle_connected(ms(110), c1), Ok(None));
    // Busy past its lifetime: not interrupted; closed at release, and the
    // waiter behind it gets a new connection (it keeps its place).
    assert_eq!(pool.acquire(ms(120), 1), Acquire::Acquired(c1));
    assert_eq!(
        pool.acquire(ms(130), 2),
        Acquire::Queued {
            deadline: ms(10_130)
        }
    );
    let c2 = connect_of(&drain(&mut pool));
    assert_eq!(pool.release(ms(300), c1), Ok(None));
    let actions = drain(&mut pool);
    assert_eq!(
        actions,
        [PoolAction::Close(c1)],
        "c2 already serves the waiter"
    );
    assert_eq!(
        pool.handle_connected(ms(310), c2),
        Ok(Some(Handoff {
            waiter: 2,
            conn: c2
        }))
    );
    // An idle connection found expired by `acquire` before its timer ran is
    // closed there, and the acquirer queues for a fresh one.
    assert_eq!(pool.release(ms(320), c2), Ok(None));
    assert_eq!(
        pool.acquire(ms(500), 3),
        Acquire::Queued {
            deadline: ms(10_500)
        }
    );
    let actions = drain(&mut pool);
    assert_eq!(actions[0], PoolAction::Close(c2));
    assert_eq!(pool.stats().closed_lifetime, 3);
    // The table: default 30 minutes, "0s" for none.
    let config: PoolConfig = toml::from_str("max = 4").expect("parses");
    assert_eq!(
        config.validate().expect("valid").max_lifetime(),
        Some(Span::from_secs(1_800))
    );
    let config: PoolConfig = toml::from_str("max_lifetime = \"0s\"").expect("parses");
    assert_eq!(config.validate().expect("valid").max_lifetime(), None);
    // At least a second: shorter is a reconnect storm (with an instant
    // connect, a pool replacing connections without end).
    let config: PoolConfig = toml::from_str("max_lifetime = \"1s\"").expect("parses");
    assert_eq!(
        config.validate().expect("valid").max_lifetime(),
        Some(Span::from_secs(1))
    );
    let config: PoolConfig = toml::from_str("max_lifetime = \"999ms\"").expect("parses");
    let err = config.validate().expect_err("under a second");
    assert_eq!(err.key(), "max_lifetime");
    assert_eq!(
        err.to_string(),
        "`max_lifetime` = \"999ms\": expected a duration of at least 1s, or \"0s\" for no limit"
    );
}

// ---------------------------------------------------------------------------
// Model-checked invariants under random driver behaviour.

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    Release(usize),
    Discard(usize),
    Connected(usize),
    ConnectFailed(usize),
    Cancel(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        3 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::Discard),
        3 => any::<usize>().prop_map(Op::Connected),
        1 => any::<usize>().prop_map(Op::ConnectFailed),
        1 => any::<usize>().prop_map(Op::Cancel),
        3 => (0u64..40).prop_map(Op::Advance),
    ]
}

/// What the driver knows: the pool's outputs applied to its own books.
#[derive(Default)]
struct Driver {
    busy: Vec<ConnId>,
    /// When each connection connected, and the pool's lifetime bound.
    born: BTreeMap<ConnId, Timestamp>,
    lifetime: Option<Span>,
    connecting: Vec<ConnId>,
    queue: VecDeque<u64>,
    ended: BTreeSet<u64>,
    next_waiter: u64,
}

impl Driver {
    fn apply(&mut self, pool: &mut Pool) -> Result<(), TestCaseError> {
        while let Some(action) = pool.poll_action() {
            match action {
                PoolAction::Connect(c) => self.connecting.push(c),
                PoolAction::Close(c) => prop_assert!(!self.busy.contains(&c)),
                PoolAction::Expired { waiter } | PoolAction::Failed { waiter } => {
                    // Expiry and failure both take the oldest waiter.
                    prop_assert_eq!(self.queue.pop_front(), Some(waiter));
                    prop_assert!(self.ended.insert(waiter));
                }
            }
        }
        Ok(())
    }

    /// A connection handed out at `now` is younger than its lifetime.
    fn check_age(&self, conn: ConnId, now: Timestamp) -> Result<(), TestCaseError> {
        if let (Some(lifetime), Some(&born)) = (self.lifetime, self.born.get(&conn)) {
            prop_assert!(now < born + lifetime, "{:?} used past its lifetime", conn);
        }
        Ok(())
    }

    fn handoff(&mut self, handoff: Option<Handoff>, now: Timestamp) -> Result<(), TestCaseError> {
        if let Some(h) = handoff {
            self.check_age(h.conn, now)?;
            prop_assert_eq!(self.queue.pop_front(), Some(h.waiter), "not FIFO");
            prop_assert!(self.ended.insert(h.waiter));
            self.busy.push(h.conn);
        }
        Ok(())
    }
}

fn step(pool: &mut Pool, d: &mut Driver, now: &mut Timestamp, op: Op) -> Result<(), TestCaseError> {
    let pick = |v: &mut Vec<ConnId>, i: usize| (!v.is_empty()).then(|| v.swap_remove(i % v.len()));
    match op {
        Op::Acquire => {
            let w = d.next_waiter;
            d.next_waiter += 1;
            match pool.acquire(*now, w) {
                Acquire::Acquired(c) => {
                    d.check_age(c, *now)?;
                    d.ended.insert(w);
                    d.busy.push(c);
                }
                Acquire::Queued { deadline } => {
                    prop_assert_eq!(deadline, *now + pool.policy().acquire_timeout());
                    d.queue.push_back(w);
                }
                Acquire::Rejected(_) => {
                    prop_assert_eq!(d.queue.len(), pool.policy().max_waiters() as usize);
                    d.ended.insert(w);
                }
            }
        }
        Op::Release(i) => {
            if let Some(c) = pick(&mut d.busy, i) {
                let h = pool.release(*now, c).expect("busy");
                d.handoff(h, *now)?;
            }
        }
        Op::Discard(i) => {
            if let Some(c) = pick(&mut d.busy, i) {
                pool.discard(*now, c).expect("busy");
            }
        }
        Op::Connected(i) => {
            if let Some(c) = pick(&mut d.connecting, i) {
                d.born.insert(c, *now);
                let h = pool.handle_connected(*now, c).expect("connecting");
                d.handoff(h, *now)?;
            }
        }
        Op::ConnectFailed(i) => {
            if let Some(c) = pick(&mut d.connecting, i) {
                pool.handle_connect_failed(*now, c).expect("connecting");
            }
        }
        Op::Cancel(i) => {
            if !d.queue.is_empty() {
                let w = d.queue.remove(i % d.queue.len()).expect("in range");
                prop_assert!(pool.cancel(*now, w));
                d.ended.insert(w);
            }
        }
        Op::Advance(dt) => {
            *now += Span::from_millis(dt);
            while let Some(t) = pool.poll_timeout() {
                if t > *now {
                    break;
                }
                pool.handle_timeout(*now);
                d.apply(pool)?;
            }
        }
    }
    d.apply(pool)
}

proptest! {
    #[test]
    fn pool_never_exceeds_max_and_serves_fifo(
        min in 0u64..4, extra in 0u64..4, max_waiters in 1u64..6,
        idle_ms in 1u64..100, acquire_ms in 1u64..100,
        lifetime_ms in prop::option::of(1u64..150),
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let lifetime = lifetime_ms.map(Span::from_millis);
        let policy = PoolPolicy::new(min, min + extra.max(1), Span::from_millis(idle_ms),
            Span::from_millis(acquire_ms), max_waiters).expect("valid")
            .with_max_lifetime(lifetime);
        let mut pool = Pool::new(&policy, Timestamp::ZERO);
        let mut d = Driver { lifetime, ..Driver::default() };
        let mut now = Timestamp::ZERO;
        d.apply(&mut pool)?;
        for op in ops {
            step(&mut pool, &mut d, &mut now, op)?;
            prop_assert!(pool.total() <= policy.max(), "{} > max", pool.total());
            prop_assert_eq!(pool.busy() as usize, d.busy.len());
            prop_assert_eq!(pool.connecting() as usize, d.connecting.len());
            prop_assert_eq!(pool.waiters() as usize, d.queue.len());
            prop_assert!(pool.waiters() <= policy.max_waiters());
            prop_assert!(pool.idle() == 0 || pool.waiters() == 0, "idle while waiting");
            if let Some(t) = pool.poll_timeout() {
                prop_assert!(t > now, "timer in the past");
            }
        }
        // Every waiter either ended exactly once or is still queued.
        let queued: BTreeSet<u64> = d.queue.iter().copied().collect();
        prop_assert_eq!(d.ended.len() + queued.len(), d.next_waiter as usize);
        prop_assert!(d.ended.is_disjoint(&queued));
    }
}

// ---------------------------------------------------------------------------
// Configuration.

#[test]
fn reference_pool_table_parses_as_written() {
    #[derive(serde::Deserialize)]
    struct Store {
        pool: PoolConfig,
    }
    let store: Store = toml::from_str(
        r#"pool = { min = 10, max = 100, idle_timeout = "30s", acquire_timeout = "10s" }"#,
    )
    .expect("parses");
    let policy = store.pool.validate().expect("valid");
    assert_eq!(
        (policy.min(), policy.max(), policy.max_waiters()),
        (10, 100, 1024)
    );
    assert_eq!(policy.idle_timeout(), Span::from_secs(30));
    assert_eq!(policy.acquire_timeout(), Span::from_secs(10));
    let mut pool = Pool::new(&policy, Timestamp::ZERO);
    assert_eq!(
        drain(&mut pool).len(),
        10,
        "min connections opened at start"
    );
}

#[test]
fn bad_pool_values_name_key_value_and_range() {
    let cases = [
        ("max = 0", "max", "0", "an integer from 1 to 1000000"),
        (
            "min = 11\nmax = 10",
            "min",
            "11",
            "an integer from 0 to max (10)",
        ),
        (
            "idle_timeout = \"0s\"",
            "idle_timeout",
            "\"0s\"",
            "a duration > 0",
        ),
        (
            "acquire_timeout = \"0s\"",
            "acquire_timeout",
            "\"0s\"",
            "a duration > 0",
        ),
        (
            "max_waiters = 0",
            "max_waiters",
            "0",
            "an integer from 1 to 1000000",
        ),
    ];
    for (text, key, value, accepted) in cases {
        let config: PoolConfig = toml::from_str(text).expect(text);
        let err = config
            .validate()
            .expect_err(text)
            .within("datastores.users.pool");
        assert_eq!(
            (err.key(), err.value(), err.expected()),
            (
                format!("datastores.users.pool.{key}").as_str(),
                value,
                accepted
            ),
            "{text}"
        );
    }
    let err = toml::from_str::<PoolConfig>("max_size = 3").expect_err("unknown");
    assert!(err.to_string().contains("max_size"), "{err}");
}
