//! Connection pool: `min`/`max` connections, idle timeout, maximum lifetime,
//! acquire timeout, FIFO waiters with a bound, and connection opening as a
//! sans-IO action.
//!
//! Opening a connection is not instantaneous: the pool emits
//! [`PoolAction::Connect`] and the driver reports [`Pool::handle_connected`]
//! or [`Pool::handle_connect_failed`] when the connect completes, so connect
//! latency (and connect-timeout, which the driver enforces) shows up in
//! simulations. Connect timeout is kept apart from acquire timeout, as
//! policy-semantics.md §8 asks.
//!
//! Rules:
//! - `open + opening <= max` at all times; at most one connection is opened
//!   per waiter that has none in flight;
//! - an idle connection is reused most-recently-released first (LIFO), so
//!   surplus connections actually go idle and time out;
//! - a released or newly opened connection goes to the **oldest** waiter
//!   (FIFO); a connection is never idle while a waiter waits;
//! - a waiter that has waited `acquire_timeout` expires;
//! - a connection idle for `idle_timeout` is closed while more than `min`
//!   are open or opening; `min` connections are opened at construction and
//!   re-opened after [`Pool::discard`] and on the next queued acquire;
//! - a connection `max_lifetime` old (counted from its connect) is closed and
//!   replaced as bb8 and r2d2 do: when released (it is not handed on), or at
//!   once when idle (whatever `min`; replacements keep `min` and serve the
//!   waiters); a busy connection is never interrupted;
//! - a failed connect fails the oldest waiter if waiters outnumber the
//!   connects still in flight (Envoy fails pending requests on connect
//!   failure instead of letting them wait out their timeout); nothing is
//!   re-opened by the failure itself (only by later acquires or discards),
//!   so an instantly failing upstream cannot make the pool spin.
//!
//! # Driver call order
//! 1. `let mut pool = Pool::new(&policy, now);` then drain
//!    [`Pool::poll_action`] (the `min` initial connects).
//! 2. Per request: [`Pool::acquire`]. `Acquired(conn)`: use it. `Queued`:
//!    wait for a [`Handoff`] or a `PoolAction::Expired`/`Failed` for this
//!    waiter. `Rejected`: fail the request.
//! 3. When done with a connection: [`Pool::release`] (reusable) or
//!    [`Pool::discard`] (broken). A returned [`Handoff`] gives the
//!    connection to that waiter.
//! 4. Connect completions: [`Pool::handle_connected`] (may return a
//!    [`Handoff`]) or [`Pool::handle_connect_failed`].
//! 5. Timers: arm one at [`Pool::poll_timeout`]; when it fires call
//!    [`Pool::handle_timeout`].
//! 6. After **every** call above, drain [`Pool::poll_action`] until `None`
//!    and perform each action. Drained this way, the queue never holds more
//!    than `max + max_waiters` actions.

mod config;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;

use crate::time::Timestamp;

pub use config::{DEFAULT_MAX_LIFETIME, POOL_LIMIT, PoolConfig, PoolPolicy};

/// A connection handle: slot index plus a generation that makes stale
/// handles detectable. Pack it into a `u64` with [`ConnId::to_u64`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

impl ConnId {
    /// The handle as one `u64` (generation in the high half).
    pub fn to_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The handle back from [`ConnId::to_u64`].
    pub fn from_u64(raw: u64) -> Self {
        ConnId {
            index: raw as u32,
            generation: (raw >> 32) as u32,
        }
    }

    /// The slot index (< `max`); slots are reused after a close.
    pub fn index(self) -> u32 {
        self.index
    }
}

/// The answer to [`Pool::acquire`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquire {
    /// An idle connection, now busy for this waiter.
    Acquired(ConnId),
    /// Queued; a [`Handoff`] or an `Expired` action (at `deadline` at the
    /// latest) or `Failed` action follows.
    Queued {
        /// When the wait expires (`now + acquire_timeout`).
        deadline: Timestamp,
    },
    /// Not queued.
    Rejected(RejectReason),
}

/// Why an acquire was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// `max_waiters` acquirers are already queued (Envoy's
    /// `upstream_rq_pending_overflow`).
    WaitersFull,
}

/// A connection given to a queued waiter.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handoff {
    /// The waiter id passed to [`Pool::acquire`].
    pub waiter: u64,
    /// The connection, now busy for that waiter.
    pub conn: ConnId,
}

/// Work for the driver, drained with [`Pool::poll_action`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolAction {
    /// Open this connection, then call `handle_connected` or
    /// `handle_connect_failed`.
    Connect(ConnId),
    /// Close this connection (idle timeout, or `max_lifetime` reached when
    /// idle or released); the handle is dead.
    Close(ConnId),
    /// This waiter waited `acquire_timeout`; fail its request.
    Expired {
        /// The waiter id.
        waiter: u64,
    },
    /// A connect this waiter depended on failed; fail its request.
    Failed {
        /// The waiter id.
        waiter: u64,
    },
}

/// A driver call that does not fit the connection's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// The handle is not a live connection of this pool (closed, or never
    /// issued).
    UnknownConnection(ConnId),
    /// The connection is live but not in the state this call needs.
    WrongState {
        /// The handle.
        conn: ConnId,
        /// The state the call needs: `"busy"`, `"connecting"` or
        /// `"busy or idle"`.
        expected: &'static str,
    },
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::UnknownConnection(c) => write!(f, "connection {c:?} is not live"),
            PoolError::WrongState { conn, expected } => {
                write!(f, "connection {conn:?} is not {expected}")
            }
        }
    }
}

impl std::error::Error for PoolError {}

/// Counters of a [`Pool`]; totals since construction unless stated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Acquires answered with an idle connection.
    pub acquired_idle: u64,
    /// Acquires queued.
    pub queued: u64,
    /// Acquires rejected because `max_waiters` were queued.
    pub rejected_waiters_full: u64,
    /// Connections handed to waiters.
    pub handoffs: u64,
    /// Waiters expired after `acquire_timeout`.
    pub expired: u64,
    /// Waiters failed by a connect failure.
    pub failed: u64,
    /// Waiters cancelled by the driver.
    pub cancelled: u64,
    /// Connects requested.
    pub connects: u64,
    /// Connect failures reported.
    pub connect_failures: u64,
    /// Idle connections closed by the idle timeout.
    pub closed_idle: u64,
    /// Connections discarded by the driver.
    pub discarded: u64,
    /// Connections closed because they reached `max_lifetime`.
    pub closed_lifetime: u64,
    /// Peak of open + opening connections.
    pub peak_connections: u32,
    /// Peak of queued waiters.
    pub peak_waiters: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnState {
    Free,
    Connecting,
    Idle { since: Timestamp },
    Busy,
}

#[derive(Clone, Copy, Debug)]
struct Waiter {
    id: u64,
    deadline: Timestamp,
}

/// A sans-IO connection pool; see the module docs for rules and call order.
#[derive(Clone, Debug)]
pub struct Pool {
    policy: PoolPolicy,
    /// Slot states and generations; grows to at most `max` slots.
    slots: Vec<(ConnState, u32)>,
    /// When each slot's connection connected (its age's origin).
    born: Vec<Timestamp>,
    /// Idle connections by lifetime expiry (only with a `max_lifetime`).
    expiring: Expiry,
    /// Free slot indices, reused last-freed first.
    free: Vec<u32>,
    /// Idle connections, least recently released at the front.
    idle: VecDeque<u32>,
    waiters: VecDeque<Waiter>,
    actions: VecDeque<PoolAction>,
    connecting: u32,
    busy: u32,
    stats: PoolStats,
}

impl Pool {
    /// A pool created at `now`; queues `min` connects.
    pub fn new(policy: &PoolPolicy, _now: Timestamp) -> Self {
        let mut pool = Pool {
            policy: *policy,
            slots: Vec::new(),
            born: Vec::new(),
            expiring: Expiry::default(),
            free: Vec::new(),
            idle: VecDeque::new(),
            waiters: VecDeque::new(),
            actions: VecDeque::new(),
            connecting: 0,
            busy: 0,
            stats: PoolStats::default(),
        };
        pool.replenish_min();
        pool
    }

    /// Asks for a connection for `waiter` (an id chosen by the driver, e.g.
    /// the request id) at `now`.
    pub fn acquire(&mut self, now: Timestamp, waiter: u64) -> Acquire {
        // Invariant: idle connections exist only while no waiter waits, so
        // taking one here never jumps the FIFO queue.
        while let Some(index) = self.idle.pop_back() {
            self.forget_expiry(index);
            if self.is_expired(index, now) {
                // Its lifetime ended before the timer fired: close, try the next.
                self.close_expired(index);
                continue;
            }
            self.set_state(index, ConnState::Busy);
            self.stats.acquired_idle += 1;
            return Acquire::Acquired(self.id(index));
        }
        if self.waiters.len() >= self.policy.max_waiters() as usize {
            self.stats.rejected_waiters_full += 1;
            return Acquire::Rejected(RejectReason::WaitersFull);
        }
        let deadline = now + self.policy.acquire_timeout();
        self.waiters.push_back(Waiter {
            id: waiter,
            deadline,
        });
        self.stats.queued += 1;
        self.stats.peak_waiters = self.stats.peak_waiters.max(self.waiters.len() as u32);
        self.open_for_waiters();
        self.replenish_min();
        Acquire::Queued { deadline }
    }

    /// Returns a busy connection for reuse at `now`; the oldest waiter, if
    /// any, gets it.
    ///
    /// # Errors
    /// [`PoolError`] if `conn` is not a busy connection of this pool.
    pub fn release(&mut self, now: Timestamp, conn: ConnId) -> Result<Option<Handoff>, PoolError> {
        let index = self.expect(conn, "busy", |s| s == ConnState::Busy)?;
        Ok(self.give_or_idle(now, index))
    }

    /// Drops a busy or idle connection the driver found broken; re-opens
    /// connections for waiters and up to `min`.
    ///
    /// # Errors
    /// [`PoolError`] if `conn` is not busy or idle.
    pub fn discard(&mut self, _now: Timestamp, conn: ConnId) -> Result<(), PoolError> {
        let index = self.expect(conn, "busy or idle", |s| {
            matches!(s, ConnState::Busy | ConnState::Idle { .. })
        })?;
        if let Some(pos) = self.idle.iter().position(|&i| i == index) {
            self.idle.remove(pos);
            self.forget_expiry(index);
        }
        self.free_slot(index);
        self.stats.discarded += 1;
        self.open_for_waiters();
        self.replenish_min();
        Ok(())
    }

    /// A connect finished at `now`; the oldest waiter, if any, gets the
    /// connection.
    ///
    /// # Errors
    /// [`PoolError`] if `conn` is not connecting.
    pub fn handle_connected(
        &mut self,
        now: Timestamp,
        conn: ConnId,
    ) -> Result<Option<Handoff>, PoolError> {
        let index = self.expect(conn, "connecting", |s| s == ConnState::Connecting)?;
        self.born[index as usize] = now;
        Ok(self.give_or_idle(now, index))
    }

    /// A connect failed (refused, or timed out by the driver's connect
    /// timeout). Fails the oldest waiter if waiters outnumber the connects
    /// still in flight.
    ///
    /// # Errors
    /// [`PoolError`] if `conn` is not connecting.
    pub fn handle_connect_failed(
        &mut self,
        _now: Timestamp,
        conn: ConnId,
    ) -> Result<(), PoolError> {
        let index = self.expect(conn, "connecting", |s| s == ConnState::Connecting)?;
        self.free_slot(index);
        self.stats.connect_failures += 1;
        if self.waiters.len() > self.connecting as usize
            && let Some(w) = self.waiters.pop_front()
        {
            self.stats.failed += 1;
            self.actions.push_back(PoolAction::Failed { waiter: w.id });
        }
        Ok(())
    }

    /// Removes a queued waiter (its request was cancelled); `true` if it was
    /// queued. O(waiters).
    pub fn cancel(&mut self, _now: Timestamp, waiter: u64) -> bool {
        match self.waiters.iter().position(|w| w.id == waiter) {
            Some(pos) => {
                self.waiters.remove(pos);
                self.stats.cancelled += 1;
                true
            }
            None => false,
        }
    }

    /// The earliest instant at which [`Pool::handle_timeout`] has work: the
    /// oldest waiter's deadline, the oldest idle connection's idle expiry
    /// while more than `min` connections are open or opening, or the first
    /// idle connection's lifetime end.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let waiter = self.waiters.front().map(|w| w.deadline);
        let idle = if self.total() > self.policy.min() {
            self.idle
                .front()
                .map(|&i| self.idle_since(i) + self.policy.idle_timeout())
        } else {
            None
        };
        let lifetime = self.expiring.first().map(|(at, _)| at);
        // The earliest of the three, written out: the per-request path.
        let min = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, None) => a,
            (None, b) => b,
        };
        min(min(waiter, idle), lifetime)
    }

    /// Expires waiters whose deadline is `<= now`, closes idle connections
    /// that reached `max_lifetime` (opening replacements up to `min`) and
    /// connections idle for `idle_timeout` while more than `min` are open or
    /// opening; queues `Expired`, `Close` and `Connect` actions.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        while let Some(w) = self.waiters.front().copied() {
            if w.deadline > now {
                break;
            }
            self.waiters.pop_front();
            self.stats.expired += 1;
            self.actions.push_back(PoolAction::Expired { waiter: w.id });
        }
        while let Some((at, index)) = self.expiring.first() {
            if at > now {
                break;
            }
            self.expiring.remove(index);
            if let Some(pos) = self.idle.iter().position(|&i| i == index) {
                self.idle.remove(pos);
            }
            self.close_expired(index);
        }
        self.replenish_min();
        while self.total() > self.policy.min() {
            let Some(&index) = self.idle.front() else {
                break;
            };
            if self.idle_since(index) + self.policy.idle_timeout() > now {
                break;
            }
            self.idle.pop_front();
            self.forget_expiry(index);
            let conn = self.id(index);
            self.free_slot(index);
            self.stats.closed_idle += 1;
            self.actions.push_back(PoolAction::Close(conn));
        }
    }

    /// The next action for the driver, oldest first.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<PoolAction> {
        self.actions.pop_front()
    }

    /// The limits.
    pub fn policy(&self) -> &PoolPolicy {
        &self.policy
    }

    /// Connections idle now.
    pub fn idle(&self) -> u32 {
        self.idle.len() as u32
    }

    /// Connections busy now.
    pub fn busy(&self) -> u32 {
        self.busy
    }

    /// Connects in flight.
    pub fn connecting(&self) -> u32 {
        self.connecting
    }

    /// Waiters queued now.
    pub fn waiters(&self) -> u32 {
        self.waiters.len() as u32
    }

    /// Counters.
    pub fn stats(&self) -> PoolStats {
        self.stats
    }

    /// Open plus opening connections (<= `max`).
    pub fn total(&self) -> u32 {
        self.busy + self.connecting + self.idle.len() as u32
    }

    fn give_or_idle(&mut self, now: Timestamp, index: u32) -> Option<Handoff> {
        if self.is_expired(index, now) {
            // Too old to hand on: replace it (the waiters keep their place).
            self.close_expired(index);
            self.open_for_waiters();
            self.replenish_min();
            return None;
        }
        match self.waiters.pop_front() {
            Some(w) => {
                self.set_state(index, ConnState::Busy);
                self.stats.handoffs += 1;
                Some(Handoff {
                    waiter: w.id,
                    conn: self.id(index),
                })
            }
            None => {
                self.set_state(index, ConnState::Idle { since: now });
                self.idle.push_back(index);
                if let Some(lifetime) = self.policy.max_lifetime() {
                    let end = self.born[index as usize] + lifetime;
                    self.expiring.insert(end, index);
                }
                None
            }
        }
    }

    /// Whether slot `index`'s connection has reached `max_lifetime` at `now`.
    fn is_expired(&self, index: u32, now: Timestamp) -> bool {
        self.policy
            .max_lifetime()
            .is_some_and(|lifetime| now >= self.born[index as usize] + lifetime)
    }

    /// Closes a connection that reached its lifetime (not in the idle list).
    fn close_expired(&mut self, index: u32) {
        let conn = self.id(index);
        self.free_slot(index);
        self.stats.closed_lifetime += 1;
        self.actions.push_back(PoolAction::Close(conn));
    }

    /// Drops slot `index` from the lifetime timers (it leaves the idle list).
    fn forget_expiry(&mut self, index: u32) {
        if self.policy.max_lifetime().is_some() {
            self.expiring.remove(index);
        }
    }

    /// Opens connections while waiters outnumber connects in flight.
    fn open_for_waiters(&mut self) {
        while (self.connecting as usize) < self.waiters.len() && self.total() < self.policy.max() {
            self.open();
        }
    }

    fn replenish_min(&mut self) {
        while self.total() < self.policy.min() {
            self.open();
        }
    }

    /// Starts a connect in a free slot; caller checked `total() < max`.
    fn open(&mut self) {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                // total < max <= 1_000_000, so every slot is live and the
                // new index fits in u32.
                self.slots.push((ConnState::Free, 0));
                self.born.push(Timestamp::ZERO);
                (self.slots.len() - 1) as u32
            }
        };
        self.set_state(index, ConnState::Connecting);
        self.stats.connects += 1;
        self.stats.peak_connections = self.stats.peak_connections.max(self.total());
        self.actions.push_back(PoolAction::Connect(self.id(index)));
    }

    fn free_slot(&mut self, index: u32) {
        self.set_state(index, ConnState::Free);
        let slot = &mut self.slots[index as usize];
        slot.1 = slot.1.wrapping_add(1);
        self.free.push(index);
    }

    /// Moves a slot to `state`, keeping the busy/connecting counters.
    fn set_state(&mut self, index: u32, state: ConnState) {
        let slot = &mut self.slots[index as usize];
        match slot.0 {
            ConnState::Busy => self.busy -= 1,
            ConnState::Connecting => self.connecting -= 1,
            ConnState::Free | ConnState::Idle { .. } => {}
        }
        match state {
            ConnState::Busy => self.busy += 1,
            ConnState::Connecting => self.connecting += 1,
            ConnState::Free | ConnState::Idle { .. } => {}
        }
        slot.0 = state;
    }

    fn id(&self, index: u32) -> ConnId {
        ConnId {
            index,
            generation: self.slots[index as usize].1,
        }
    }

    fn idle_since(&self, index: u32) -> Timestamp {
        match self.slots[index as usize].0 {
            ConnState::Idle { since } => since,
            // Only idle slots are in the idle list.
            _ => Timestamp::ZERO,
        }
    }

    fn expect(
        &self,
        conn: ConnId,
        expected: &'static str,
        ok: impl Fn(ConnState) -> bool,
    ) -> Result<u32, PoolError> {
        match self.slots.get(conn.index as usize) {
            Some(&(state, generation))
                if generation == conn.generation && state != ConnState::Free =>
            {
                if ok(state) {
                    Ok(conn.index)
                } else {
                    Err(PoolError::WrongState { conn, expected })
                }
            }
            _ => Err(PoolError::UnknownConnection(conn)),
        }
    }
}

/// The idle connections' lifetime ends, `(end, slot)`, smallest first: a
/// min-heap with lazy removal. A connection leaves the idle list far more
/// often than its lifetime ends (every reuse), and comes back with the same
/// end (its connect time plus the lifetime), so both are O(1) as a rule:
/// removing only marks the slot's entry dormant (it stays in the heap), and
/// inserting the same end again wakes it up instead of pushing a new one. A
/// dormant entry is dropped once it reaches the top (the top is always
/// live, so [`Expiry::first`] is O(1)); a slot that comes back with another
/// end (a new connection in the slot) advances its stamp, which makes its
/// old entry stale; stale entries are dropped at the top or when they
/// outnumber the current ones (the heap is then rebuilt from those, so it
/// holds at most about twice the slots that have one). Answers exactly as
/// an ordered set of `(end, slot)` would.
#[derive(Clone, Debug, Default)]
struct Expiry {
    /// `(end, slot, stamp)`; an entry is current while `stamp` is its
    /// slot's, and live while it is current and its slot is live.
    heap: BinaryHeap<Reverse<(Timestamp, u32, u32)>>,
    slots: Vec<ExpirySlot>,
    /// Live entries (slots in the set).
    live: usize,
    /// Current entries (live or dormant) in the heap.
    current: usize,
}

/// A slot's place in an [`Expiry`].
#[derive(Clone, Copy, Debug, Default)]
struct ExpirySlot {
    /// The stamp of the slot's current entry.
    stamp: u32,
    /// Whether the slot is in the set.
    live: bool,
    /// Whether the heap holds the slot's current entry, and its end.
    in_heap: bool,
    end: Timestamp,
}

impl Expiry {
    /// Adds slot `index` (not in the set) with lifetime end `end`.
    fn insert(&mut self, end: Timestamp, index: u32) {
        let i = index as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, ExpirySlot::default());
        }
        let slot = &mut self.slots[i];
        debug_assert!(!slot.live, "slot {index} is in the expiry set already");
        slot.live = true;
        self.live += 1;
        if slot.in_heap && slot.end == end {
            // Its dormant entry is exactly the one to add: wake it up.
            return;
        }
        if slot.in_heap {
            // The old entry (another end) goes stale.
            self.current -= 1;
        }
        slot.stamp = slot.stamp.wrapping_add(1);
        slot.in_heap = true;
        slot.end = end;
        self.current += 1;
        self.heap.push(Reverse((end, index, slot.stamp)));
        self.compact();
    }

    /// Removes slot `index`, if it is in the set.
    fn remove(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize).filter(|s| s.live) else {
            return;
        };
        slot.live = false;
        self.live -= 1;
        // Keep the top live: drop dormant and stale entries that reach it.
        while let Some(&Reverse((_, i, stamp))) = self.heap.peek() {
            let slot = &mut self.slots[i as usize];
            if slot.stamp == stamp {
                if slot.live {
                    break;
                }
                slot.in_heap = false;
                self.current -= 1;
            }
            self.heap.pop();
        }
        self.compact();
    }

    /// Drops the stale entries once they outnumber the current ones (plus
    /// slack): amortised O(1) per change.
    fn compact(&mut self) {
        if self.heap.len() > 2 * self.current + 64 {
            let slots = &self.slots;
            self.heap
                .retain(|&Reverse((_, i, stamp))| slots[i as usize].stamp == stamp);
        }
    }

    /// The smallest `(end, slot)`.
    fn first(&self) -> Option<(Timestamp, u32)> {
        self.heap
            .peek()
            .map(|&Reverse((end, index, _))| (end, index))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// The heap answers as the set, holds at most one current entry per
    /// slot (12 in these tests) and no more stale ones than its bound.
    fn agrees(heap: &Expiry, set: &BTreeSet<(Timestamp, u32)>) -> Result<(), TestCaseError> {
        prop_assert_eq!(heap.first(), set.first().copied());
        prop_assert_eq!(heap.live, set.len());
        prop_assert!(heap.current <= 12);
        prop_assert!(heap.heap.len() <= 2 * heap.current + 64);
        Ok(())
    }

    proptest! {
        /// The lazy heap answers `first` exactly as the ordered set of
        /// `(end, slot)` it replaces, through inserts (of slots not in the
        /// set), removals (present or not) and pops of the first entry,
        /// including equal ends and reused slots.
        #[test]
        fn expiry_matches_an_ordered_set(
            ops in proptest::collection::vec((0u8..3, 0u32..12, 0u64..6), 1..400)
        ) {
            let mut heap = Expiry::default();
            let mut set = BTreeSet::new();
            let mut member: Vec<Option<Timestamp>> = vec![None; 12];
            for (op, index, end) in ops {
                let end = Timestamp::from_nanos(end);
                match op {
                    0 if member[index as usize].is_none() => {
                        heap.insert(end, index);
                        set.insert((end, index));
                        member[index as usize] = Some(end);
                    }
                    0 | 1 => {
                        heap.remove(index);
                        if let Some(at) = member[index as usize].take() {
                            set.remove(&(at, index));
                        }
                    }
                    _ => {
                        if let Some(&(at, first)) = set.first() {
                            heap.remove(first);
                            set.remove(&(at, first));
                            member[first as usize] = None;
                        }
                    }
                }
                agrees(&heap, &set)?;
            }
        }

        /// As above, with the pool's pattern: a slot comes back with the
        /// same end (a reused connection: its dormant entry wakes up) until
        /// its connection is replaced (op 3: a new end while out of the
        /// set), so entries are woken, left dormant, dropped at the top and
        /// made stale in every order.
        #[test]
        fn expiry_with_reused_ends_matches_an_ordered_set(
            ops in proptest::collection::vec((0u8..6, 0u32..12, 0u64..8), 1..600)
        ) {
            let mut heap = Expiry::default();
            let mut set = BTreeSet::new();
            let mut member = [false; 12];
            let mut ends = [Timestamp::ZERO; 12];
            for (op, index, end) in ops {
                let i = index as usize;
                match op {
                    0 | 1 if !member[i] => {
                        heap.insert(ends[i], index);
                        set.insert((ends[i], index));
                        member[i] = true;
                    }
                    0..=2 => {
                        heap.remove(index);
                        if member[i] {
                            set.remove(&(ends[i], index));
                            member[i] = false;
                        }
                    }
                    3 if !member[i] => ends[i] = Timestamp::from_nanos(end),
                    _ => {
                        if let Some(&(at, first)) = set.first() {
                            heap.remove(first);
                            set.remove(&(at, first));
                            member[first as usize] = false;
                        }
                    }
                }
                agrees(&heap, &set)?;
            }
        }
    }
}
