//! Timeout lanes: the per-try and overall deadlines of calls, kept out of
//! the event queue.
//!
//! Every call edge's deadlines are `start + d` for a handful of fixed
//! durations `d` (each edge's `per_try_timeout` and `timeout`). Entries of
//! one duration are created in time order, so their deadlines are too: each
//! duration gets a FIFO lane, and only a lane's head has an event in the
//! queue. A deadline costs a deque push and pop instead of a heap insertion
//! into a queue that would otherwise hold one far-future timer per try in
//! flight.
//!
//! A try that ends first leaves a stale entry (its call is gone, or is on
//! another try). When a lane's event fires, the entries due are handled, then
//! stale entries at the head are dropped *before* they are due, and the lane
//! is re-armed for its first live entry: as nearly every try ends long before
//! its deadline, a lane costs about one event per timeout period instead of
//! one per try, and the armed time is never later than any live deadline
//! (entries only go from live to stale, and later entries are due later).
//!
//! A call without hedging whose per-try timeout is shorter than its overall
//! timeout cannot reach the overall deadline on its first try, which is how
//! nearly every call ends: its overall entry is deferred, and armed as an
//! exact event (`Event::CallDeadline`, at the same instant) only when its
//! first retry is scheduled. That saves a lane entry per call; a lane cannot
//! take the entry late, as its deadlines would no longer be in push order.

use std::collections::VecDeque;

use headroom_sim::slab::Id;
use headroom_sim::{Span, Timestamp};

use headroom_policy::tables::EdgePolicy;

use super::Event;
use super::mesh::ClientRef;
use crate::plan::Plan;

/// A try number that matches whichever try of the call is in flight (the
/// call's overall deadline).
pub(super) const ANY_TRY: u32 = u32::MAX;

struct Lane {
    span: Span,
    due: VecDeque<(Timestamp, Id, u32)>,
    armed: bool,
}

/// One FIFO lane per distinct timeout duration in the plan.
pub(super) struct Lanes {
    lanes: Vec<Lane>,
    /// Per service and callee edge: the lanes of its overall and per-try
    /// timeouts.
    service_edges: Vec<Vec<EdgeLanes>>,
    /// Per entry service: the lanes of the edge's call to it.
    entries: Vec<EdgeLanes>,
}

/// The lanes of an edge's timeouts: (overall, armed at the call's start;
/// per-try; overall, deferred to the first retry). At most one of the two
/// overall lanes is set: the deferred one when the per-try timeout is the
/// shorter.
type EdgeLanes = (Option<u8>, Option<u8>, Option<u8>);

impl Lanes {
    pub(super) fn new(plan: &Plan) -> Self {
        let policies = plan
            .services
            .iter()
            .flat_map(|s| s.edges.iter())
            .chain(plan.workload.entries.iter().map(|e| &e.policy));
        let mut spans: Vec<Span> = policies
            .flat_map(|p| {
                [
                    p.timeout,
                    p.retry.as_ref().and_then(|r| r.per_try_timeout()),
                ]
            })
            .flatten()
            .collect();
        spans.sort();
        spans.dedup();
        let lane_of = |span: Option<Span>| {
            span.and_then(|t| spans.iter().position(|&s| s == t))
                .map(|i| i as u8)
        };
        let lanes_of = |p: &EdgePolicy| {
            let overall = lane_of(p.timeout);
            let per_try = lane_of(p.retry.as_ref().and_then(|r| r.per_try_timeout()));
            // Lanes are numbered by increasing duration.
            match (overall, per_try) {
                (Some(o), Some(t)) if t < o => (None, per_try, overall),
                _ => (overall, per_try, None),
            }
        };
        let service_edges = plan
            .services
            .iter()
            .map(|s| s.edges.iter().map(lanes_of).collect())
            .collect();
        let entries = plan
            .workload
            .entries
            .iter()
            .map(|e| lanes_of(&e.policy))
            .collect();
        Lanes {
            lanes: spans
                .into_iter()
                .map(|span| Lane {
                    span,
                    due: VecDeque::new(),
                    armed: false,
                })
                .collect(),
            service_edges,
            entries,
        }
    }

    /// The lanes (overall, per-try) of the edge a client calls through.
    #[inline]
    pub(super) fn of_client(&self, client: ClientRef) -> EdgeLanes {
        match client {
            ClientRef::Edge { entry, .. } => self.entries[usize::from(entry)],
            ClientRef::Instance { service, edge, .. } => {
                self.service_edges[usize::from(service)][usize::from(edge)]
            }
        }
    }

    /// The duration of lane `lane` (lanes are numbered by increasing
    /// duration).
    #[inline]
    pub(super) fn span(&self, lane: u8) -> Span {
        self.lanes[usize::from(lane)].span
    }

    /// Adds a deadline at `now + span` of lane `lane` for try `number` of
    /// `call` ([`ANY_TRY`] for the call's overall deadline). Inline: it is
    /// on every try's path, and left to itself the compiler's choice
    /// flips with unrelated changes elsewhere in the crate.
    #[inline]
    pub(super) fn push(
        &mut self,
        lane: u8,
        now: Timestamp,
        call: Id,
        number: u32,
        events: &mut super::Events,
    ) {
        let l = &mut self.lanes[usize::from(lane)];
        let at = now + l.span;
        l.due.push_back((at, call, number));
        if !l.armed {
            l.armed = true;
            events.push(at, Event::Lane { lane });
        }
    }

    /// Takes the next entry of `lane` due at or before `now`.
    pub(super) fn pop_due(&mut self, lane: u8, now: Timestamp) -> Option<(Id, u32)> {
        let l = &mut self.lanes[usize::from(lane)];
        match l.due.front() {
            Some(&(at, call, number)) if at <= now => {
                l.due.pop_front();
                Some((call, number))
            }
            _ => None,
        }
    }

    /// Re-arms `lane` after its due entries were taken: drops the stale
    /// entries at its head (`is_live` says which are not) and arms for the
    /// first live one.
    pub(super) fn rearm(
        &mut self,
        lane: u8,
        events: &mut super::Events,
        is_live: impl Fn(Id, u32) -> bool,
    ) {
        let l = &mut self.lanes[usize::from(lane)];
        l.armed = false;
        while let Some(&(at, call, number)) = l.due.front() {
            if is_live(call, number) {
                l.armed = true;
                events.push(at, Event::Lane { lane });
                return;
            }
            l.due.pop_front();
        }
    }
}
