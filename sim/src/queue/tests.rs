//! Tests every queue design against the same contract and against a
//! reference model (a vector kept stably sorted by time).

use proptest::prelude::*;

use super::{
    AdaptiveRadixHeap, BinaryHeapQueue, ChunkedRadixHeap, DaryHeap, EventQueue, PendingEvents,
    QueueFull, RadixHeap,
};
use crate::Timestamp;

fn ts(ns: u64) -> Timestamp {
    Timestamp::from_nanos(ns)
}

/// Runs `check` on every design.
macro_rules! for_each_design {
    ($check:ident) => {
        $check::<EventQueue<u32>>();
        $check::<BinaryHeapQueue<u32>>();
        $check::<DaryHeap<u32, 2>>();
        $check::<DaryHeap<u32, 4>>();
        $check::<DaryHeap<u32, 8>>();
        $check::<RadixHeap<u32>>();
        $check::<ChunkedRadixHeap<u32>>();
        $check::<AdaptiveRadixHeap<u32, 3>>();
    };
}

fn drain<Q: PendingEvents<u32>>(q: &mut Q) -> Vec<(u64, u32)> {
    std::iter::from_fn(|| q.pop().map(|(t, e)| (t.as_nanos(), e))).collect()
}

fn pops_in_time_order<Q: PendingEvents<u32>>() {
    let mut q = Q::with_capacity(4);
    for (i, t) in [50_u64, 10, 40, 30, 20, 0, 60].into_iter().enumerate() {
        q.push(ts(t), i as u32);
    }
    assert_eq!(q.len(), 7);
    assert_eq!(q.peek_time(), Some(ts(0)));
    let got = drain(&mut q);
    let want = vec![(0, 5), (10, 1), (20, 4), (30, 3), (40, 2), (50, 0), (60, 6)];
    assert_eq!(got, want);
    assert!(q.is_empty());
    assert_eq!(q.pop(), None);
    assert_eq!(q.peek_time(), None);
    assert_eq!(q.now(), ts(60));
}

#[test]
fn every_design_pops_in_time_order() {
    for_each_design!(pops_in_time_order);
}

fn equal_times_pop_fifo<Q: PendingEvents<u32>>() {
    let mut q = Q::with_capacity(0);
    // Interleave two times so ties are not simply contiguous pushes; 500
    // events per time span several storage chunks of the radix heap.
    for i in 0..1_000_u32 {
        q.push(ts(if i % 2 == 0 { 7 } else { 3 }), i);
    }
    let got = drain(&mut q);
    let odd = (0..1_000).filter(|i| i % 2 == 1).map(|i| (3, i));
    let even = (0..1_000).filter(|i| i % 2 == 0).map(|i| (7, i));
    assert_eq!(got, odd.chain(even).collect::<Vec<_>>());
}

#[test]
fn every_design_pops_equal_times_in_scheduling_order() {
    for_each_design!(equal_times_pop_fifo);
}

fn events_scheduled_at_now_run_after_those_already_due<Q: PendingEvents<u32>>() {
    let mut q = Q::with_capacity(0);
    q.push(ts(5), 1);
    q.push(ts(5), 2);
    assert_eq!(q.pop(), Some((ts(5), 1)));
    // Scheduled at the current time while event 2 is still due: runs after it.
    q.push(ts(5), 3);
    assert_eq!(q.pop(), Some((ts(5), 2)));
    assert_eq!(q.pop(), Some((ts(5), 3)));
}

#[test]
fn every_design_runs_same_time_reschedules_after_due_events() {
    for_each_design!(events_scheduled_at_now_run_after_those_already_due);
}

fn clear_resets_everything<Q: PendingEvents<u32>>() {
    let mut q = Q::with_capacity(0);
    for i in 0..10 {
        q.push(ts(100 + i), i as u32);
    }
    assert_eq!(q.pop(), Some((ts(100), 0)));
    q.clear();
    assert!(q.is_empty());
    assert_eq!(q.now(), ts(0));
    assert_eq!(q.peek_time(), None);
    // Time zero is accepted again after a clear, and ties are FIFO again.
    q.push(ts(0), 20);
    q.push(ts(0), 21);
    assert_eq!(drain(&mut q), vec![(0, 20), (0, 21)]);
}

#[test]
fn every_design_clears_to_a_fresh_state() {
    for_each_design!(clear_resets_everything);
}

fn extreme_times<Q: PendingEvents<u32>>() {
    let mut q = Q::with_capacity(0);
    q.push(Timestamp::MAX, 1);
    q.push(ts(0), 2);
    q.push(Timestamp::MAX, 3);
    q.push(ts(u64::MAX - 1), 4);
    assert_eq!(
        drain(&mut q),
        vec![(0, 2), (u64::MAX - 1, 4), (u64::MAX, 1), (u64::MAX, 3)]
    );
    q.push(Timestamp::MAX, 5);
    assert_eq!(q.pop(), Some((Timestamp::MAX, 5)));
}

#[test]
fn every_design_handles_extreme_times() {
    for_each_design!(extreme_times);
}

#[test]
fn payloads_need_not_be_copy() {
    let mut q: EventQueue<String> = EventQueue::new();
    q.push(ts(2), "b".to_owned());
    q.push(ts(1), "a".to_owned());
    let mut r: RadixHeap<String> = RadixHeap::new();
    r.push(ts(1), "x".to_owned());
    let mut b: BinaryHeapQueue<String> = BinaryHeapQueue::new();
    b.push(ts(1), "y".to_owned());
    let mut c: ChunkedRadixHeap<String> = ChunkedRadixHeap::new();
    c.push(ts(1), "z".to_owned());
    assert_eq!(c.pop(), Some((ts(1), "z".to_owned())));
    assert_eq!(q.pop(), Some((ts(1), "a".to_owned())));
    assert_eq!(q.pop(), Some((ts(2), "b".to_owned())));
    assert_eq!(r.pop(), Some((ts(1), "x".to_owned())));
    assert_eq!(b.pop(), Some((ts(1), "y".to_owned())));
}

#[test]
fn try_push_refuses_events_beyond_the_limit() {
    let mut q: EventQueue<u32> = EventQueue::with_capacity(2);
    assert_eq!(q.limit(), usize::MAX);
    q.set_limit(2);
    assert_eq!(q.try_push(ts(1), 1), Ok(()));
    assert_eq!(q.try_push(ts(2), 2), Ok(()));
    assert_eq!(q.try_push(ts(3), 3), Err(QueueFull { event: 3, limit: 2 }));
    assert_eq!(q.len(), 2);
    assert_eq!(q.pop(), Some((ts(1), 1)));
    assert_eq!(q.try_push(ts(3), 3), Ok(()));
    assert_eq!(drain(&mut q), vec![(2, 2), (3, 3)]);
}

#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "event scheduled in the past")]
fn scheduling_in_the_past_is_caught_in_debug_builds() {
    let mut q: EventQueue<u32> = EventQueue::new();
    q.push(ts(10), 1);
    let _ = q.pop();
    q.push(ts(9), 2);
}

/// One step of a generated workload.
#[derive(Debug, Clone)]
enum Op {
    /// Push at `now + delta`.
    Push(u64),
    Pop,
    /// Drop everything and start over at time zero (reuses storage).
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Small deltas make many ties; large ones spread the keys widely.
        3 => (0_u64..4).prop_map(Op::Push),
        3 => (0_u64..1_000_000).prop_map(Op::Push),
        1 => any::<u64>().prop_map(Op::Push),
        4 => Just(Op::Pop),
        1 => Just(Op::Clear),
    ]
}

/// The reference: a vector kept stably sorted by time (ties stay in push
/// order); pop removes the front.
#[derive(Default)]
struct Reference {
    pending: Vec<(u64, u32)>,
    now: u64,
}

impl Reference {
    fn push(&mut self, time: u64, id: u32) {
        self.pending.push((time, id));
        self.pending.sort_by_key(|&(t, _)| t);
    }
    fn pop(&mut self) -> Option<(u64, u32)> {
        if self.pending.is_empty() {
            return None;
        }
        let first = self.pending.remove(0);
        self.now = first.0;
        Some(first)
    }
}

fn matches_reference<Q: PendingEvents<u32>>(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut q = Q::with_capacity(0);
    let mut reference = Reference::default();
    for (id, op) in ops.iter().enumerate() {
        match *op {
            Op::Push(delta) => {
                let time = reference.now.saturating_add(delta);
                reference.push(time, id as u32);
                q.push(ts(time), id as u32);
            }
            Op::Pop => {
                let got = q.pop().map(|(t, e)| (t.as_nanos(), e));
                prop_assert_eq!(got, reference.pop());
                prop_assert_eq!(q.now(), ts(reference.now));
            }
            Op::Clear => {
                q.clear();
                reference = Reference::default();
            }
        }
        prop_assert_eq!(q.len(), reference.pending.len());
        prop_assert_eq!(q.peek_time(), reference.pending.first().map(|p| ts(p.0)));
    }
    let rest: Vec<(u64, u32)> = drain(&mut q);
    prop_assert_eq!(rest, std::mem::take(&mut reference.pending));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_design_matches_the_stable_sort_reference(
        ops in prop::collection::vec(op(), 0..400)
    ) {
        matches_reference::<EventQueue<u32>>(&ops)?;
        matches_reference::<BinaryHeapQueue<u32>>(&ops)?;
        matches_reference::<DaryHeap<u32, 2>>(&ops)?;
        matches_reference::<DaryHeap<u32, 4>>(&ops)?;
        matches_reference::<DaryHeap<u32, 8>>(&ops)?;
        matches_reference::<RadixHeap<u32>>(&ops)?;
        matches_reference::<ChunkedRadixHeap<u32>>(&ops)?;
        // Moves to the chunked design part-way through most sequences.
        matches_reference::<AdaptiveRadixHeap<u32, 5>>(&ops)?;
        matches_reference::<AdaptiveRadixHeap<u32, 40>>(&ops)?;
    }
}

/// A long hold-model run with coarse times (many ties, many redistributions)
/// gives the same pop sequence from every design.
fn hold_trace<Q: PendingEvents<u32>>(pending: u32, steps: usize) -> Vec<(u64, u32)> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    let mut q = Q::with_capacity(0);
    for id in 0..pending {
        q.push(ts(rng.random_range(0..50) * 1_000), id);
    }
    let mut trace = Vec::with_capacity(steps);
    for _ in 0..steps {
        let (t, id) = q.pop().expect("the hold queue is never empty");
        trace.push((t.as_nanos(), id));
        // Coarse increments (multiples of 1 µs, sometimes 0, sometimes far).
        let delta = match rng.random_range(0..10) {
            0 => 0,
            1 => rng.random_range(0..1_u64 << 40),
            _ => rng.random_range(0..100) * 1_000,
        };
        q.push(t.saturating_add(crate::Span::from_nanos(delta)), id);
    }
    trace
}

#[test]
fn every_design_gives_the_same_long_hold_trace() {
    let reference = hold_trace::<BinaryHeapQueue<u32>>(2_000, 50_000);
    assert_eq!(hold_trace::<EventQueue<u32>>(2_000, 50_000), reference);
    assert_eq!(hold_trace::<DaryHeap<u32, 4>>(2_000, 50_000), reference);
    assert_eq!(hold_trace::<DaryHeap<u32, 8>>(2_000, 50_000), reference);
    assert_eq!(hold_trace::<RadixHeap<u32>>(2_000, 50_000), reference);
    assert_eq!(
        hold_trace::<ChunkedRadixHeap<u32>>(2_000, 50_000),
        reference
    );
    // Linked for the first 1 000 pushes, chunked from then on.
    assert_eq!(
        hold_trace::<AdaptiveRadixHeap<u32, 1_000>>(2_000, 50_000),
        reference
    );
    // Ties happened, so FIFO order was actually exercised.
    assert!(reference.windows(2).filter(|w| w[0].0 == w[1].0).count() > 1_000);
}

fn payloads_are_dropped_once<Q: PendingEvents<std::rc::Rc<()>>>() {
    let token = std::rc::Rc::new(());
    let mut q = Q::with_capacity(0);
    for i in 0..300_u64 {
        q.push(ts(i % 7 * 1_000), std::rc::Rc::clone(&token));
    }
    for _ in 0..100 {
        drop(q.pop());
    }
    assert_eq!(std::rc::Rc::strong_count(&token), 201);
    q.clear();
    assert_eq!(std::rc::Rc::strong_count(&token), 1);
    q.push(ts(5), std::rc::Rc::clone(&token));
    drop(q);
    assert_eq!(std::rc::Rc::strong_count(&token), 1);
}

#[test]
fn every_design_drops_each_payload_once() {
    payloads_are_dropped_once::<EventQueue<_>>();
    payloads_are_dropped_once::<BinaryHeapQueue<_>>();
    payloads_are_dropped_once::<DaryHeap<_, 4>>();
    payloads_are_dropped_once::<RadixHeap<_>>();
    payloads_are_dropped_once::<ChunkedRadixHeap<_>>();
    payloads_are_dropped_once::<AdaptiveRadixHeap<_, 16>>();
}

#[test]
fn the_adaptive_queue_moves_once_keeping_order_and_clock() {
    let mut q: AdaptiveRadixHeap<u32, 4> = AdaptiveRadixHeap::default();
    q.push(ts(10), 0);
    q.push(ts(20), 1);
    assert_eq!(q.pop(), Some((ts(10), 0)));
    // Due at now (10) and later, with ties: 4 pending, still linked.
    q.push(ts(10), 2);
    q.push(ts(30), 3);
    q.push(ts(20), 4);
    assert!(!q.is_chunked());
    // The fifth pending event moves them all.
    q.push(ts(10), 5);
    assert!(q.is_chunked());
    assert_eq!(q.len(), 5);
    assert_eq!(q.now(), ts(10), "the clock carries over");
    assert_eq!(q.peek_time(), Some(ts(10)));
    // Scheduled at now after the move: after those already due.
    q.push(ts(10), 6);
    assert_eq!(
        drain(&mut q),
        [(10, 2), (10, 5), (10, 6), (20, 1), (20, 4), (30, 3)]
    );
    // It stays chunked, also through clear.
    q.clear();
    assert!(q.is_chunked());
    assert_eq!(q.now(), ts(0));
}

/// A step of a workload that also uses the side slot and `pop_through`.
#[derive(Debug, Clone)]
enum SideOp {
    /// Push at `now + delta`.
    Push(u64),
    /// `push_side` at `now + delta` (the reference: a plain push).
    PushSide(u64),
    Pop,
    /// `pop_through(now + delta)`.
    PopThrough(u64),
    Clear,
}

fn side_op() -> impl Strategy<Value = SideOp> {
    prop_oneof![
        3 => (0_u64..4).prop_map(SideOp::Push),
        2 => (0_u64..1_000).prop_map(SideOp::Push),
        1 => any::<u64>().prop_map(SideOp::Push),
        2 => (0_u64..4).prop_map(SideOp::PushSide),
        1 => (0_u64..1_000).prop_map(SideOp::PushSide),
        4 => Just(SideOp::Pop),
        2 => (0_u64..6).prop_map(SideOp::PopThrough),
        1 => Just(SideOp::Clear),
    ]
}

/// Drives `q` and the stable-sort reference with `ops`; `side` pushes with
/// `push_side` where the op says so (only `EventQueue` has it).
fn matches_reference_through<Q: PendingEvents<u32>>(
    q: &mut Q,
    ops: &[SideOp],
    mut side: impl FnMut(&mut Q, Timestamp, u32),
) -> Result<(), TestCaseError> {
    let mut reference = Reference::default();
    for (id, op) in ops.iter().enumerate() {
        let id = id as u32;
        match *op {
            SideOp::Push(delta) => {
                let time = reference.now.saturating_add(delta);
                reference.push(time, id);
                q.push(ts(time), id);
            }
            SideOp::PushSide(delta) => {
                let time = reference.now.saturating_add(delta);
                reference.push(time, id);
                side(q, ts(time), id);
            }
            SideOp::Pop => {
                let got = q.pop().map(|(t, e)| (t.as_nanos(), e));
                prop_assert_eq!(got, reference.pop());
                prop_assert_eq!(q.now(), ts(reference.now));
            }
            SideOp::PopThrough(delta) => {
                let limit = reference.now.saturating_add(delta);
                let want = match reference.pending.first() {
                    Some(&(t, _)) if t <= limit => reference.pop(),
                    _ => None,
                };
                let got = q.pop_through(ts(limit)).map(|(t, e)| (t.as_nanos(), e));
                prop_assert_eq!(got, want);
                prop_assert_eq!(q.now(), ts(reference.now));
            }
            SideOp::Clear => {
                q.clear();
                reference = Reference::default();
            }
        }
        prop_assert_eq!(q.len(), reference.pending.len());
        prop_assert_eq!(q.peek_time(), reference.pending.first().map(|p| ts(p.0)));
    }
    let rest: Vec<(u64, u32)> = drain(q);
    prop_assert_eq!(rest, std::mem::take(&mut reference.pending));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_side_slot_keeps_the_order_of_plain_pushes(
        ops in prop::collection::vec(side_op(), 0..400)
    ) {
        let mut q = EventQueue::with_capacity(0);
        matches_reference_through(&mut q, &ops, |q, t, id| q.push_side(t, id))?;
    }

    #[test]
    fn every_design_pops_through_a_limit_like_the_reference(
        ops in prop::collection::vec(side_op(), 0..400)
    ) {
        fn plain<Q: PendingEvents<u32>>(q: &mut Q, t: Timestamp, id: u32) {
            q.push(t, id);
        }
        matches_reference_through(&mut EventQueue::with_capacity(0), &ops, plain)?;
        matches_reference_through(&mut BinaryHeapQueue::with_capacity(0), &ops, plain)?;
        matches_reference_through(&mut DaryHeap::<u32, 4>::with_capacity(0), &ops, plain)?;
        matches_reference_through(&mut RadixHeap::with_capacity(0), &ops, plain)?;
        matches_reference_through(&mut ChunkedRadixHeap::with_capacity(0), &ops, plain)?;
        matches_reference_through(&mut AdaptiveRadixHeap::<u32, 5>::with_capacity(0), &ops, plain)?;
    }
}

#[test]
fn a_push_at_the_side_events_time_runs_after_it() {
    let mut q = EventQueue::with_capacity(0);
    q.push(ts(7), 1);
    q.push_side(ts(7), 2);
    q.push(ts(7), 3);
    q.push_side(ts(9), 4);
    q.push(ts(8), 5);
    assert_eq!(q.len(), 5);
    assert_eq!(drain(&mut q), [(7, 1), (7, 2), (7, 3), (8, 5), (9, 4)]);
    assert_eq!(q.now(), ts(9));
}
