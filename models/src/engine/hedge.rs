//! Hedged calls: several tries of one call in flight at once.
//!
//! On an edge with a `hedge` policy, the caller's [`EdgeClient`] decides
//! every step (`begin_hedged`, `handle_hedge_timeout`, `end_attempt`,
//! `retry_hedged`, `cancel_attempt`; see `headroom_policy::mesh` for the
//! call order); this module keeps the tries in flight of each hedged call
//! ([`Hedge`], in `World::hedges`, named by `Call::hedge`), arms the hedge
//! timer as an [`Event::Hedge`], and sends, delivers and cancels tries.
//!
//! Cancellation: the winner's caller cancels the other tries (their breaker
//! permits come back as ignored outcomes) and stops waiting for them, but
//! the callee keeps working on a cancelled try, as a server does unless it
//! checks for cancellation (an HTTP/2 `RST_STREAM` or a dropped gRPC context
//! stops nothing the handler does not poll for): it keeps its worker, runs
//! its steps and child calls to the end, and its answer is dropped, its
//! worker time counted in `wasted_work_s` as for a try abandoned at its
//! per-try deadline. That is the extra load hedging costs, on top of the
//! extra tries (`hedges` in `runs.csv`, the callee's `requests` in
//! `services.csv`).

use headroom_policy::hedge::HedgeState;
use headroom_policy::mesh::{
    AttemptPermit, AttemptStart, Finish, HedgedNext, HedgedStart, TryStart,
};
use headroom_policy::retry::TryOutcome;
use headroom_sim::slab::Id;

use super::mesh::{Reply, client_of};
use super::{Event, World};

/// A hedged call's hedging state and tries in flight.
#[derive(Clone, Debug)]
pub(super) struct Hedge {
    state: HedgeState,
    /// Tries in flight, in sending order.
    live: Vec<Live>,
}

/// One try of a hedged call in flight.
#[derive(Clone, Copy, Debug)]
struct Live {
    permit: AttemptPermit,
    /// Its attempt, once it reached an instance.
    attempt: Option<Id>,
}

impl Hedge {
    /// Whether try `number` is in flight.
    pub(super) fn is_live(&self, number: u32) -> bool {
        self.live.iter().any(|l| l.permit.number() == number)
    }
}

impl World<'_> {
    /// Stores the hedging state of a call whose first try the edge client
    /// decided; returns the decision for `dispatch_try` and the record.
    pub(super) fn new_hedge(&mut self, start: HedgedStart) -> (TryStart, Option<Id>) {
        let HedgedStart::Send {
            hedge,
            permit,
            per_try_deadline,
        } = start
        else {
            return (TryStart::Rejected, None);
        };
        let record = Hedge {
            state: hedge,
            live: vec![Live {
                permit,
                attempt: None,
            }],
        };
        let Ok(id) = self.hedges.insert(record) else {
            debug_assert!(false, "hedge slab full");
            return (TryStart::Rejected, None);
        };
        let decision = TryStart::Send {
            per_try_deadline,
            number: permit.number(),
        };
        (decision, Some(id))
    }

    /// Arms `call_id`'s hedge timer, if a hedge is due (after its first try,
    /// a sent hedge, or a retry: the only moves that arm it).
    pub(super) fn arm_hedge(&mut self, call_id: Id) {
        let due = self
            .calls
            .get(call_id)
            .and_then(|c| c.hedge)
            .and_then(|h| self.hedges.get(h))
            .and_then(|h| h.state.poll_timeout());
        if let Some(at) = due {
            self.events.push(at, Event::Hedge { call: call_id });
        }
    }

    /// Try `number` of hedge record `hedge` reached instance attempt
    /// `attempt`.
    pub(super) fn hedge_attempt_reached(&mut self, hedge: Id, number: u32, attempt: Id) {
        if let Some(l) = self
            .hedges
            .get_mut(hedge)
            .and_then(|h| h.live.iter_mut().find(|l| l.permit.number() == number))
        {
            l.attempt = Some(attempt);
        }
    }

    /// Whether the hedged call of record `hedge` still waits for `attempt`.
    pub(super) fn hedge_waits_for(&self, hedge: Id, attempt: Id) -> bool {
        self.hedges
            .get(hedge)
            .is_some_and(|h| h.live.iter().any(|l| l.attempt == Some(attempt)))
    }

    /// The hedge timer of `call_id` fired: send a hedge if the edge client
    /// allows one.
    #[inline(never)]
    pub(super) fn on_hedge_timer(&mut self, call_id: Id) {
        let now = self.now;
        let entries = self.plan.workload.entries.len();
        let Some(call) = self.calls.get_mut(call_id) else {
            return;
        };
        let Some(hedge) = call.hedge.and_then(|h| self.hedges.get_mut(h)) else {
            return;
        };
        let Some(client) = client_of(
            &mut self.workload.edge_clients,
            &mut self.instances,
            entries,
            call.client,
        ) else {
            return;
        };
        let before = client.breaker_state();
        let start = client.handle_hedge_timeout(now, &mut call.state, &mut hedge.state);
        let after = client.breaker_state();
        let (client_ref, callee, region, request, lane) = (
            call.client,
            call.callee,
            call.region,
            call.request,
            call.per_try_lane,
        );
        let sent = match start {
            Some(AttemptStart::Send { permit, .. }) => {
                hedge.live.push(Live {
                    permit,
                    attempt: None,
                });
                Some(permit.number())
            }
            Some(AttemptStart::Rejected) | None => None,
        };
        if before != after {
            self.on_breaker_transition(client_ref, before, after);
        }
        if let Some(number) = sent {
            self.stats.on_hedge(now, client_ref);
            self.arm_hedge(call_id);
            self.send_attempt(call_id, number, callee, region, request, lane);
        }
    }

    /// The backoff of a hedged call ended: send its retry (a new round of
    /// hedges), unless the breaker refuses it.
    pub(super) fn retry_hedged(&mut self, call_id: Id, hedge_id: Id) {
        let now = self.now;
        let entries = self.plan.workload.entries.len();
        let Some(call) = self.calls.get_mut(call_id) else {
            return;
        };
        let Some(hedge) = self.hedges.get_mut(hedge_id) else {
            return;
        };
        let Some(client) = client_of(
            &mut self.workload.edge_clients,
            &mut self.instances,
            entries,
            call.client,
        ) else {
            // The caller instance is gone: its outgoing calls die with it.
            self.calls.remove(call_id);
            self.hedges.remove(hedge_id);
            return;
        };
        let before = client.breaker_state();
        let start = client.retry_hedged(now, &mut call.state, &mut hedge.state);
        let after = client.breaker_state();
        let (client_ref, callee, region, request, lane) = (
            call.client,
            call.callee,
            call.region,
            call.request,
            call.per_try_lane,
        );
        let number = match start {
            AttemptStart::Send { permit, .. } => {
                hedge.live.push(Live {
                    permit,
                    attempt: None,
                });
                Some(permit.number())
            }
            AttemptStart::Rejected => None,
        };
        if before != after {
            self.on_breaker_transition(client_ref, before, after);
        }
        match number {
            Some(number) => {
                self.stats.on_retry(now, Some(client_ref));
                self.arm_hedge(call_id);
                self.send_attempt(call_id, number, callee, region, request, lane);
            }
            None => self.events.push(now, Event::Refused { call: call_id }),
        }
    }

    /// Try `number` of a hedged call ended with `reply` (its answer, or a
    /// timeout): the edge client decides whether the call waits, retries
    /// or is over; on the last, the tries still in flight are cancelled.
    pub(super) fn deliver_hedged(&mut self, call_id: Id, hedge_id: Id, number: u32, reply: Reply) {
        let now = self.now;
        let entries = self.plan.workload.entries.len();
        let Some(call) = self.calls.get_mut(call_id) else {
            return;
        };
        let Some(hedge) = self.hedges.get_mut(hedge_id) else {
            return;
        };
        // A try that is no longer in flight (cancelled, or timed out before
        // its answer came back) is ignored.
        let Some(pos) = hedge.live.iter().position(|l| l.permit.number() == number) else {
            return;
        };
        let live = hedge.live.remove(pos);
        let client_ref = call.client;
        if reply.wire == super::mesh::Wire::Timeout {
            self.stats.on_try_timeout(now, client_ref);
        }
        let rng = self.rng.mesh(client_ref);
        let Some(client) = client_of(
            &mut self.workload.edge_clients,
            &mut self.instances,
            entries,
            client_ref,
        ) else {
            self.calls.remove(call_id);
            self.hedges.remove(hedge_id);
            return;
        };
        let before = client.breaker_state();
        let next = client.end_attempt(
            now,
            &mut call.state,
            &mut hedge.state,
            live.permit,
            reply.outcome(),
            rng,
        );
        if let HedgedNext::Finish { cancel, .. } = next {
            debug_assert_eq!(cancel as usize, hedge.live.len(), "tries to cancel");
            for loser in hedge.live.drain(..) {
                client.cancel_attempt(now, loser.permit, rng);
            }
        }
        let after = client.breaker_state();
        if before != after {
            self.on_breaker_transition(client_ref, before, after);
        }
        match next {
            HedgedNext::Wait => {}
            HedgedNext::RetryAt { at } => self.events.push(at, Event::Retry { call: call_id }),
            HedgedNext::Finish { finish, .. } => match finish {
                Finish::Answered(_) => self.finish_call(call_id, reply),
                Finish::GaveUp { last, .. } => {
                    let reply = if last == TryOutcome::Timeout {
                        Reply::timeout()
                    } else {
                        reply
                    };
                    self.finish_call(call_id, reply);
                }
                Finish::Rejected | Finish::Ignored => {}
            },
        }
    }

    /// A hedged call's overall deadline: every try in flight times out, in
    /// sending order, and the edge client ends the call.
    pub(super) fn expire_hedged(&mut self, call_id: Id) {
        loop {
            let Some(hedge_id) = self.calls.get(call_id).and_then(|c| c.hedge) else {
                return;
            };
            let Some(number) = self
                .hedges
                .get(hedge_id)
                .and_then(|h| h.live.first())
                .map(|l| l.permit.number())
            else {
                return;
            };
            self.deliver_hedged(call_id, hedge_id, number, Reply::timeout());
        }
    }
}
