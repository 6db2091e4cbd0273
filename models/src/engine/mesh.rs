//! Calls, tries and work: the request tree.
//!
//! A [`Call`] is one logical call from a caller (the edge, or an attempt of
//! a service) to a service, across its retries; its [`EdgeClient`] (the
//! caller instance's own proxy for that edge: breaker and retry budget)
//! decides every try. An [`Attempt`] is one try at one instance: it waits for
//! a worker, does its local work, runs its service's steps (child calls,
//! joined per step), and responds.
//!
//! Mesh semantics: a try that reaches its per-try deadline stops the caller
//! waiting (and may be retried) but the callee keeps working and holds its
//! worker; its late answer is dropped and its worker time counted as wasted.
//! A call on a hedged edge can have several tries in flight; see [`super::hedge`].
//! A failed child call fails the attempt (its cause travels up), unless the
//! edge answered with its fallback (then the attempt goes on, degraded).
//!
//! Re-entrancy rule: starting a call or a try never finishes anything
//! synchronously: refusals, routing failures and sheds are delivered as
//! events. Completions (a response reaching a caller with zero network
//! delay) run inline up the tree, which is bounded by the call graph's depth.

use headroom_policy::balance::EndpointId;
use headroom_policy::breaker::BreakerState;
use headroom_policy::mesh::{EdgeClient, Finish, Next, TryStart};
use headroom_policy::retry::TryOutcome;
use headroom_sim::slab::Id;
use headroom_sim::{Span, Timestamp};

use super::timers::ANY_TRY;
use super::{Event, World};
use crate::plan::{RegionId, ServiceId};
use crate::scenario::ConcurrencyModel;

/// A client request: the root of a tree of calls.
#[derive(Clone, Copy, Debug)]
pub(super) struct Request {
    pub arrival: Timestamp,
    /// Some hop of the request went to a region other than its preferred one.
    pub failed_over: bool,
    /// Round trip between the client's region and the edge region it
    /// reached (zero at home; the RTT after a global failover), added to
    /// the latency the client sees.
    pub client_rtt: Span,
    /// Whether it arrived after the warm-up (counted in statistics), and
    /// what its data steps read or write.
    pub data: super::data::DataKey,
    /// The region whose edge took it.
    pub edge: u8,
    /// The client's region (`regions.csv` counts the request there).
    pub origin: u8,
    /// Cache bookkeeping ([`super::data::LOOKED_UP`], ...).
    pub flags: u8,
    /// The closed workload's user who sent it, or [`NO_USER`].
    pub user: u32,
    /// When the earliest read of its key among its data steps read its
    /// value ([`Timestamp::MAX`] before one is answered): the edge keeps
    /// its answer outdated if a write of the key committed after it.
    pub first_read: Timestamp,
}

/// [`Request::user`] of an open workload's request.
pub(super) const NO_USER: u32 = u32::MAX;

/// Who is waiting for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Parent {
    /// The edge, for a client request.
    Root(Id),
    /// An attempt, in one of its steps.
    Step(Id),
}

/// Which [`EdgeClient`] makes a call's decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ClientRef {
    /// The edge proxy of a region, towards entry service `entry` (index
    /// into the plan's entries).
    Edge { region: u8, entry: u16 },
    /// An instance's proxy, towards its service's callee `edge`.
    Instance {
        instance: Id,
        service: u16,
        edge: u16,
    },
}

/// One logical call, across its tries.
#[derive(Clone, Copy, Debug)]
pub(super) struct Call {
    pub parent: Parent,
    pub request: Id,
    pub callee: ServiceId,
    /// The caller's region (routing preference and network delay).
    pub region: RegionId,
    pub client: ClientRef,
    pub state: headroom_policy::mesh::CallState,
    /// The attempt of the try in flight, if it reached an instance (calls
    /// without hedging).
    pub attempt: Option<Id>,
    /// A hedged call's tries in flight and hedging state (in
    /// `World::hedges`); `None` on edges without a hedge policy.
    pub hedge: Option<Id>,
    /// Timeout lane of the edge's per-try timeout, if it has one.
    pub per_try_lane: Option<u8>,
    /// The lane of the call's overall deadline while its entry is deferred
    /// (see [`super::timers`]): a call without hedging whose per-try
    /// timeout is shorter cannot reach its overall deadline on its first
    /// try, so the deadline is armed, as an exact event, only when a retry
    /// is scheduled.
    pub deferred_lane: Option<u8>,
}

/// One try at one instance.
#[derive(Clone, Copy, Debug)]
pub(super) struct Attempt {
    pub call: Id,
    pub number: u32,
    pub request: Id,
    pub service: ServiceId,
    pub instance: Id,
    pub deployment: u32,
    pub endpoint: EndpointId,
    pub region: RegionId,
    pub caller_region: RegionId,
    pub arrived: Timestamp,
    /// When the attempt took its worker, while it holds one.
    pub held_since: Option<Timestamp>,
    /// Worker time used so far (for wasted-work accounting).
    pub worker_ns: u64,
    pub step: u16,
    pub pending: u16,
    pub failure: Option<Reply>,
    pub degraded: bool,
    /// Admitted by its instance's adaptive concurrency limit: its response
    /// is a latency sample.
    pub limited: bool,
}

/// What a try's caller observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wire {
    /// A response with this status.
    Status(u16),
    /// The connection was reset (the instance crashed or its region went
    /// dark).
    Reset,
    /// The instance could not be reached.
    ConnectFailure,
    /// The caller stopped waiting (per-try or overall deadline).
    Timeout,
}

/// Why a request ended as it did; carried up the tree so the root is counted
/// by the first cause of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cause {
    Ok,
    Error,
    Shed,
    Timeout,
    Rejected,
}

/// A try's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Reply {
    pub wire: Wire,
    pub cause: Cause,
    pub degraded: bool,
}

impl Reply {
    pub fn ok(degraded: bool) -> Reply {
        Reply {
            wire: Wire::Status(200),
            cause: Cause::Ok,
            degraded,
        }
    }
    pub fn error(status: u16) -> Reply {
        Reply {
            wire: Wire::Status(status),
            cause: Cause::Error,
            degraded: false,
        }
    }
    pub fn shed() -> Reply {
        Reply {
            wire: Wire::Status(503),
            cause: Cause::Shed,
            degraded: false,
        }
    }
    pub fn rejected() -> Reply {
        Reply {
            wire: Wire::Status(429),
            cause: Cause::Rejected,
            degraded: false,
        }
    }
    /// A call the caller's breaker refused: the proxy answers 503 itself
    /// (Envoy's circuit-breaking overflow, resilience4j's
    /// `CallNotPermittedException`), a server-side error for the client.
    pub fn breaker_open() -> Reply {
        Reply {
            wire: Wire::Status(503),
            cause: Cause::Error,
            degraded: false,
        }
    }
    pub fn reset() -> Reply {
        Reply {
            wire: Wire::Reset,
            cause: Cause::Error,
            degraded: false,
        }
    }
    pub fn connect_failure() -> Reply {
        Reply {
            wire: Wire::ConnectFailure,
            cause: Cause::Error,
            degraded: false,
        }
    }
    pub fn timeout() -> Reply {
        Reply {
            wire: Wire::Timeout,
            cause: Cause::Timeout,
            degraded: false,
        }
    }

    pub(super) fn outcome(self) -> TryOutcome {
        match self.wire {
            Wire::Status(status) => TryOutcome::status(status),
            Wire::Reset => TryOutcome::Reset,
            Wire::ConnectFailure => TryOutcome::ConnectFailure,
            Wire::Timeout => TryOutcome::Timeout,
        }
    }

    /// The reply an attempt gives when a child call failed with `self`: the
    /// cause travels up; the status says what a proxy would answer.
    fn propagated(self) -> Reply {
        let status = match (self.cause, self.wire) {
            (Cause::Timeout, _) => 504,
            (Cause::Rejected | Cause::Shed, _) => 503,
            (_, Wire::Status(s)) if s >= 500 => s,
            _ => 502,
        };
        Reply {
            wire: Wire::Status(status),
            cause: self.cause,
            degraded: false,
        }
    }
}

/// The [`EdgeClient`] of `client`, if its owner still exists.
#[inline]
pub(super) fn client_of<'a>(
    edge_clients: &'a mut [EdgeClient],
    instances: &'a mut headroom_sim::slab::Slab<super::instance::Instance>,
    entries: usize,
    client: ClientRef,
) -> Option<&'a mut EdgeClient> {
    match client {
        ClientRef::Edge { region, entry } => {
            edge_clients.get_mut(usize::from(region) * entries + usize::from(entry))
        }
        ClientRef::Instance { instance, edge, .. } => instances
            .get_mut(instance)
            .and_then(|i| i.clients.get_mut(usize::from(edge))),
    }
}

/// A worker of `inst` is free: the next queued attempt takes it (and is
/// returned, to begin its work), else the instance has one more idle worker.
#[inline]
fn pass_worker(inst: &mut super::instance::Instance, now: Timestamp) -> Option<Id> {
    match inst.queue.pop_front() {
        Some(next) => {
            // The worker passes straight to the next attempt.
            inst.set_computing(now, inst.computing + 1);
            Some(next)
        }
        None => {
            inst.busy -= 1;
            None
        }
    }
}

impl World<'_> {
    /// Starts a call and its first try.
    pub(super) fn start_call(
        &mut self,
        parent: Parent,
        request: Id,
        callee: ServiceId,
        region: RegionId,
        client: ClientRef,
    ) {
        let now = self.now;
        let entries = self.plan.workload.entries.len();
        let Some(edge) = client_of(
            &mut self.workload.edge_clients,
            &mut self.instances,
            entries,
            client,
        ) else {
            debug_assert!(false, "a live caller starts calls");
            return;
        };
        let (timeout_lane, per_try_lane, deferred_lane) = self.lanes.of_client(client);
        // The call goes into its slot first and its state is decided there:
        // the state is not built on the stack and copied.
        let call = Call {
            parent,
            request,
            callee,
            region,
            client,
            state: edge.start(now),
            attempt: None,
            hedge: None,
            per_try_lane,
            deferred_lane,
        };
        let Ok((id, call)) = self.calls.insert_mut(call) else {
            // The call slab holds u32::MAX calls; reaching it means the run
            // is far past `max_in_flight`, which stops it first.
            debug_assert!(false, "call slab full");
            return;
        };
        // The edge client reports a breaker transition of a plain try; a
        // hedged edge's is seen by reading the state around its start.
        let (decision, transition) = if edge.is_hedged() {
            let before = edge.breaker_state();
            let decision = match edge.begin_hedged(now, &mut call.state) {
                Some(start) => Err(start),
                None => Ok(edge.begin_try(now, &mut call.state)),
            };
            let after = edge.breaker_state();
            (decision, (before != after).then_some((before, after)))
        } else {
            let (decision, transition) = edge.begin_try_reporting(now, &mut call.state);
            (Ok(decision), transition.map(|t| (t.from, t.to)))
        };
        let (decision, hedge) = match decision {
            Ok(decision) => (decision, None),
            Err(start) => {
                let (decision, hedge) = self.new_hedge(start);
                if let Some(call) = self.calls.get_mut(id) {
                    call.hedge = hedge;
                    // A hedged call has several tries in flight: its overall
                    // deadline is armed now.
                    call.deferred_lane = None;
                }
                (decision, hedge)
            }
        };
        if let Some((before, after)) = transition {
            self.on_breaker_transition(client, before, after);
        }
        let overall = if hedge.is_some() {
            timeout_lane.or(deferred_lane)
        } else {
            timeout_lane
        };
        if let Some(lane) = overall {
            self.lanes.push(lane, now, id, ANY_TRY, &mut self.events);
        }
        if hedge.is_some() {
            self.arm_hedge(id);
        }
        self.dispatch_try(id, client, decision, callee, region, request, per_try_lane);
    }

    /// Sends the next try of `call_id` after its backoff.
    pub(super) fn send_try(&mut self, call_id: Id) {
        let now = self.now;
        let entries = self.plan.workload.entries.len();
        let Some(call) = self.calls.get_mut(call_id) else {
            return;
        };
        if let Some(hedge) = call.hedge {
            self.retry_hedged(call_id, hedge);
            return;
        }
        let Some(client) = client_of(
            &mut self.workload.edge_clients,
            &mut self.instances,
            entries,
            call.client,
        ) else {
            // The caller instance is gone: its outgoing calls die with it.
            self.calls.remove(call_id);
            return;
        };
        let (decision, transition) = client.begin_try_reporting(now, &mut call.state);
        let (client_ref, callee, region, request, per_try_lane) = (
            call.client,
            call.callee,
            call.region,
            call.request,
            call.per_try_lane,
        );
        if let Some(t) = transition {
            self.on_breaker_transition(client_ref, t.from, t.to);
        }
        self.dispatch_try(
            call_id,
            client_ref,
            decision,
            callee,
            region,
            request,
            per_try_lane,
        );
    }

    /// Carries out what the edge client decided for a try: fail fast on a
    /// refusal, else arm its per-try deadline, route it, and hand it to its
    /// instance.
    #[allow(clippy::too_many_arguments)]
    fn dispatch_try(
        &mut self,
        call_id: Id,
        client: ClientRef,
        decision: TryStart,
        callee: ServiceId,
        region: RegionId,
        request: Id,
        per_try_lane: Option<u8>,
    ) {
        let now = self.now;
        let number = match decision {
            TryStart::Rejected => {
                self.events.push(now, Event::Refused { call: call_id });
                return;
            }
            TryStart::Send { number, .. } => number,
        };
        if number > 1 {
            self.stats.on_retry(now, Some(client));
        }
        self.send_attempt(call_id, number, callee, region, request, per_try_lane);
    }

    /// Sends try `number` of `call_id` (permitted by its edge client): arms
    /// its per-try deadline, routes it, and hands it to its instance.
    pub(super) fn send_attempt(
        &mut self,
        call_id: Id,
        number: u32,
        callee: ServiceId,
        region: RegionId,
        request: Id,
        per_try_lane: Option<u8>,
    ) {
        let now = self.now;
        // The try's deadline is min(per-try, overall): the per-try lane
        // holds the first, the call's overall entry (pushed at its start)
        // the second.
        if let Some(lane) = per_try_lane {
            self.lanes
                .push(lane, now, call_id, number, &mut self.events);
        }
        let Some(target) = self.route(callee, region) else {
            // No eligible instance anywhere ("no healthy upstream").
            let reply = Reply::error(503);
            self.events.push(
                now,
                Event::TryResponse {
                    call: call_id,
                    number,
                    reply,
                },
            );
            return;
        };
        if target.failed_over
            && let Some(r) = self.requests.get_mut(request)
        {
            r.failed_over = true;
        }
        if !self.faults.region_up(target.region) {
            let at = now + self.plan.network.connect_timeout;
            let reply = Reply::connect_failure();
            self.events.push(
                at,
                Event::TryResponse {
                    call: call_id,
                    number,
                    reply,
                },
            );
            return;
        }
        if target.region != region {
            self.stats
                .on_inter_region_bytes(now, region, self.plan.workload.request_bytes);
        }
        let attempt = Attempt {
            call: call_id,
            number,
            request,
            service: callee,
            instance: target.instance,
            deployment: target.deployment,
            endpoint: target.endpoint,
            region: target.region,
            caller_region: region,
            arrived: now,
            held_since: None,
            worker_ns: 0,
            step: 0,
            pending: 0,
            failure: None,
            degraded: false,
            limited: false,
        };
        let Ok(attempt_id) = self.attempts.insert(attempt) else {
            debug_assert!(false, "attempt slab full");
            return;
        };
        if !self.plan.data.stores.is_empty() {
            self.keep_data_key(attempt_id, call_id);
        }
        let delay = self.plan.network.one_way(region, target.region);
        // The attempt is at its instance from now on (`in_flight`); when it
        // reaches it at once, `admit` counts it there with the instance it
        // looks up anyway (nothing reads the count in between).
        if !delay.is_zero()
            && let Some(inst) = self.instances.get_mut(target.instance)
        {
            inst.in_flight += 1;
        }
        self.deployments[target.deployment as usize]
            .balancer
            .handle_start(target.endpoint);
        if let Some(call) = self.calls.get_mut(call_id) {
            match call.hedge {
                None => call.attempt = Some(attempt_id),
                Some(hedge) => self.hedge_attempt_reached(hedge, number, attempt_id),
            }
        }
        if delay.is_zero() {
            self.admit(
                attempt_id,
                callee,
                target.region,
                target.deployment,
                target.instance,
                true,
            );
        } else {
            self.events.push(
                now + delay,
                Event::TryArrive {
                    attempt: attempt_id,
                },
            );
        }
    }

    /// A try reaches its instance after a network delay.
    pub(super) fn on_try_arrive(&mut self, attempt_id: Id) {
        let Some(a) = self.attempts.get_mut(attempt_id) else {
            return;
        };
        a.arrived = self.now;
        let (service, region, deployment, instance) =
            (a.service, a.region, a.deployment, a.instance);
        self.admit(attempt_id, service, region, deployment, instance, false);
    }

    /// A try at its instance: refuse it (adaptive concurrency), fail it
    /// (errors fault), start its work, queue it, or shed it. `count` adds it
    /// to the instance's `in_flight` first (a try sent without network
    /// delay).
    #[inline(always)]
    fn admit(
        &mut self,
        attempt_id: Id,
        service: ServiceId,
        region: RegionId,
        deployment: u32,
        instance: Id,
        mut count: bool,
    ) {
        let now = self.now;
        self.stats.on_attempt_arrival(deployment);
        if self.gated[service.index()] {
            if !self.pass_gates(attempt_id, service, region, deployment, instance, count) {
                return;
            }
            count = false;
        }
        let plan = &self.plan.services[service.index()];
        let Some(inst) = self.instances.get_mut(instance) else {
            return;
        };
        inst.in_flight += u32::from(count);
        if inst.busy < plan.workers {
            inst.busy += 1;
            inst.set_computing(now, inst.computing + 1);
            self.begin_work(attempt_id, service, region, deployment);
        } else if plan.queue.is_none_or(|q| (inst.queue.len() as u64) < q) {
            inst.queue.push_back(attempt_id);
        } else {
            self.stats.on_attempt_shed(deployment);
            self.fail_attempt_later(attempt_id, Reply::shed());
        }
    }

    /// What a try meets at its instance before a worker or the queue, for
    /// services that have any of it ([`World::gated`]): first the instance's
    /// adaptive concurrency limit (its sidecar: admitted, the try is marked
    /// for a latency sample; refused, it is shed with a 503, Envoy's
    /// "reached concurrency limit"), then an errors fault (the service
    /// fails it). Counts the try in the instance's `in_flight` (if `count`)
    /// and returns whether it goes on.
    #[inline(never)]
    fn pass_gates(
        &mut self,
        attempt_id: Id,
        service: ServiceId,
        region: RegionId,
        deployment: u32,
        instance: Id,
        count: bool,
    ) -> bool {
        use headroom_policy::concurrency::Admission;
        let now = self.now;
        if let Some(inst) = self.instances.get_mut(instance) {
            inst.in_flight += u32::from(count);
            if let Some(limiter) = inst.limiter.as_mut() {
                let blocked = limiter.handle_request(now) == Admission::Block;
                self.stats
                    .on_concurrency_gate(deployment, limiter.limit(), blocked);
                if blocked {
                    self.stats.on_attempt_shed(deployment);
                    self.fail_attempt_later(attempt_id, Reply::shed());
                    return false;
                }
                if let Some(a) = self.attempts.get_mut(attempt_id) {
                    a.limited = true;
                }
            }
        }
        if self.faults.has_errors(service) {
            let rng = &mut self.rng.services[service.index()].faults;
            if let Some(status) = self.faults.injected_error(service, region, now, rng) {
                self.fail_attempt_later(attempt_id, Reply::error(status));
                return false;
            }
        }
        true
    }

    /// Responds to an attempt with a failure through an event (never inline:
    /// the caller may still be starting sibling calls).
    fn fail_attempt_later(&mut self, attempt_id: Id, reply: Reply) {
        self.respond(attempt_id, reply, false);
    }

    /// [`World::begin_work`] out of line, for a queued attempt that takes a
    /// worker given back (the inlined copy is for a try that finds one
    /// idle, on every try's path).
    #[inline(never)]
    fn begin_queued_work(
        &mut self,
        attempt_id: Id,
        service: ServiceId,
        region: RegionId,
        deployment: u32,
    ) {
        self.begin_work(attempt_id, service, region, deployment);
    }

    /// The attempt holds a worker of its instance (already counted busy and
    /// computing there): account it and schedule the end of its work.
    #[inline(always)]
    fn begin_work(
        &mut self,
        attempt_id: Id,
        service: ServiceId,
        region: RegionId,
        deployment: u32,
    ) {
        let now = self.now;
        if let Some(a) = self.attempts.get_mut(attempt_id) {
            a.held_since = Some(now);
        }
        if !self.plan.data.stores.is_empty() {
            self.prefetch_data_step(attempt_id, service);
        }
        self.stats.on_workers(now, deployment, 1, 1);
        let rngs = &mut self.rng.services[service.index()];
        let mut work = self.plan.services[service.index()]
            .work
            .sample(&mut rngs.work);
        if self.faults.has_latency(service) {
            work += self
                .faults
                .extra_work(service, region, now, &mut rngs.faults);
        }
        self.events.push(
            now + work,
            Event::WorkDone {
                attempt: attempt_id,
            },
        );
    }

    /// Local work ends: release the worker (event loop), then run the steps
    /// or respond.
    pub(super) fn on_work_done(&mut self, attempt_id: Id) {
        let now = self.now;
        let Some(a) = self.attempts.get_mut(attempt_id) else {
            return;
        };
        let (service, region, deployment, instance) =
            (a.service, a.region, a.deployment, a.instance);
        let plan = &self.plan.services[service.index()];
        // An event loop's worker is free as soon as the local work ends; so
        // is a leaf's (no steps: it responds now, which would give the
        // worker back at this same instant), and the worker's integrals then
        // take one update instead of two.
        let released = if plan.model == ConcurrencyModel::EventLoop || plan.steps.is_empty() {
            a.held_since.take()
        } else {
            None
        };
        if let Some(since) = released {
            a.worker_ns += (now - since).as_nanos();
        }
        // The worker passes to the next queued attempt, if any.
        let mut next = None;
        if let Some(inst) = self.instances.get_mut(instance) {
            inst.set_computing(now, inst.computing - 1);
            if released.is_some() {
                next = Some(pass_worker(inst, now));
            }
        }
        // Computing -1 and, with the worker given back, held -1 in one
        // update: at one instant the integrals add nothing in between.
        let held = if next.is_some() { -1 } else { 0 };
        self.stats.on_workers(now, deployment, held, -1);
        if let Some(Some(next)) = next {
            self.begin_queued_work(next, service, region, deployment);
        }
        if plan.steps.is_empty() {
            self.respond(attempt_id, Reply::ok(false), true);
        } else {
            self.begin_step(attempt_id, 0);
        }
    }

    /// Starts every call of step `step` of `attempt_id`.
    fn begin_step(&mut self, attempt_id: Id, step: u16) {
        let Some(a) = self.attempts.get_mut(attempt_id) else {
            return;
        };
        let service = &self.plan.services[a.service.index()];
        if let crate::plan::StepPlan::Data(store) = service.steps[usize::from(step)] {
            a.step = step;
            a.pending = 1;
            self.begin_data(attempt_id, store);
            return;
        }
        let targets = service.steps[usize::from(step)].targets();
        a.step = step;
        a.pending = targets.len() as u16;
        let (request, region, instance, caller) = (a.request, a.region, a.instance, a.service.0);
        for t in targets {
            let client = ClientRef::Instance {
                instance,
                service: caller,
                edge: t.edge,
            };
            self.start_call(Parent::Step(attempt_id), request, t.service, region, client);
        }
    }

    /// A child call of `attempt_id` ended: join, then go on or respond.
    pub(super) fn on_child_done(&mut self, attempt_id: Id, reply: Reply) {
        let Some(a) = self.attempts.get_mut(attempt_id) else {
            return;
        };
        a.pending -= 1;
        if reply.cause != Cause::Ok && a.failure.is_none() {
            a.failure = Some(reply);
        }
        a.degraded |= reply.degraded;
        if a.pending > 0 {
            return;
        }
        let steps = self.plan.services[a.service.index()].steps.len();
        if let Some(failure) = a.failure {
            self.respond(attempt_id, failure.propagated(), true);
        } else if usize::from(a.step) + 1 < steps {
            let next = a.step + 1;
            self.begin_step(attempt_id, next);
        } else {
            let degraded = a.degraded;
            self.respond(attempt_id, Reply::ok(degraded), true);
        }
    }

    /// An attempt is over: free its worker and its place at the instance,
    /// and send `reply` back to its caller (inline when the network delay is
    /// zero and `inline` allows it, else as an event).
    pub(super) fn respond(&mut self, attempt_id: Id, reply: Reply, inline: bool) {
        let now = self.now;
        let Some(mut a) = self.attempts.remove(attempt_id) else {
            return;
        };
        let plan = self.plan;
        let mut drained = false;
        let held = a.held_since.take();
        // The worker given back, with the instance in hand: the next queued
        // attempt takes it.
        let mut released = None;
        if let Some(inst) = self.instances.get_mut(a.instance) {
            inst.in_flight -= 1;
            inst.completions += 1;
            drained = inst.in_flight == 0 && inst.phase == super::instance::Phase::Draining;
            if held.is_some() {
                released = Some((pass_worker(inst, now), inst.region));
            }
        }
        if let Some(since) = held {
            a.worker_ns += (now - since).as_nanos();
        }
        if let Some((next, region)) = released {
            self.stats.on_workers(now, a.deployment, -1, 0);
            if let Some(next) = next {
                self.begin_queued_work(next, a.service, region, a.deployment);
            }
        }
        // An endpoint removed meanwhile is ignored by the balancer.
        self.deployments[a.deployment as usize].balancer.handle_end(
            now,
            a.endpoint,
            now - a.arrived,
        );
        self.on_endpoint_outcome(a.deployment, a.endpoint, reply);
        self.stats
            .on_attempt_end(now, a.deployment, now - a.arrived, reply.cause == Cause::Ok);
        if a.limited {
            self.sample_limiter(a.instance, a.service, a.arrived);
        }
        if drained {
            self.maybe_remove_drained(a.instance);
        }
        if a.region != a.caller_region {
            self.stats
                .on_inter_region_bytes(now, a.region, plan.workload.response_bytes);
        }
        let waiting = self.calls.get(a.call).is_some_and(|c| match c.hedge {
            None => c.attempt == Some(attempt_id),
            Some(hedge) => self.hedge_waits_for(hedge, attempt_id),
        });
        if !waiting {
            // The caller gave up on this try: its work was wasted.
            self.stats
                .on_wasted_work(now, Span::from_nanos(a.worker_ns), a.deployment);
            return;
        }
        let delay = plan.network.one_way(a.region, a.caller_region);
        if inline && delay.is_zero() {
            self.deliver(a.call, a.number, reply);
        } else {
            self.events.push(
                now + delay,
                Event::TryResponse {
                    call: a.call,
                    number: a.number,
                    reply,
                },
            );
        }
    }

    /// An attempt its instance's adaptive concurrency limit admitted at
    /// `admitted` is over: its latency there is a sample (out of line: most
    /// services have no limit).
    #[inline(never)]
    fn sample_limiter(&mut self, instance: Id, service: ServiceId, admitted: Timestamp) {
        if let Some(limiter) = self
            .instances
            .get_mut(instance)
            .and_then(|inst| inst.limiter.as_mut())
        {
            let rng = &mut self.rng.services[service.index()].concurrency;
            limiter.handle_response(self.now, admitted, rng);
        }
    }

    /// A try's outcome reaches its caller: the edge client decides whether
    /// to retry, and the call ends or waits for its backoff.
    pub(super) fn deliver(&mut self, call_id: Id, number: u32, reply: Reply) {
        let now = self.now;
        let entries = self.plan.workload.entries.len();
        let Some(call) = self.calls.get_mut(call_id) else {
            return;
        };
        if let Some(hedge) = call.hedge {
            self.deliver_hedged(call_id, hedge, number, reply);
            return;
        }
        if call.state.tries() != number || !call.state.has_try_in_flight() {
            return;
        }
        if reply.wire == Wire::Timeout {
            self.stats.on_try_timeout(now, call.client);
        }
        call.attempt = None;
        let client_ref = call.client;
        let rng = self.rng.mesh(client_ref);
        let Some(client) = client_of(
            &mut self.workload.edge_clients,
            &mut self.instances,
            entries,
            client_ref,
        ) else {
            self.calls.remove(call_id);
            return;
        };
        let (next, transition) =
            client.end_try_reporting(now, &mut call.state, reply.outcome(), rng);
        // The first retry of a call whose overall deadline was deferred:
        // the deadline is armed now, at the instant its lane entry would
        // have had.
        let deadline = match next {
            Next::RetryAt { .. } => call
                .deferred_lane
                .take()
                .map(|lane| call.state.started() + self.lanes.span(lane)),
            Next::Finish(_) => None,
        };
        if let Some(t) = transition {
            self.on_breaker_transition(client_ref, t.from, t.to);
        }
        match next {
            Next::RetryAt { at } => {
                if let Some(deadline) = deadline {
                    self.events
                        .push(deadline, Event::CallDeadline { call: call_id });
                }
                self.events.push(at, Event::Retry { call: call_id });
            }
            Next::Finish(Finish::Answered(_)) => self.finish_call(call_id, reply),
            Next::Finish(Finish::GaveUp { last, .. }) => {
                let reply = if last == TryOutcome::Timeout {
                    Reply::timeout()
                } else {
                    reply
                };
                self.finish_call(call_id, reply);
            }
            Next::Finish(Finish::Rejected | Finish::Ignored) => {}
        }
    }

    /// Deadlines of timeout lane `lane` are due: the callers of the tries
    /// still in flight stop waiting.
    #[inline(never)]
    pub(super) fn on_lane(&mut self, lane: u8) {
        while let Some((call_id, number)) = self.lanes.pop_due(lane, self.now) {
            if number == ANY_TRY {
                self.on_call_deadline(call_id);
            } else {
                self.deliver(call_id, number, Reply::timeout());
            }
        }
        let (calls, hedges) = (&self.calls, &self.hedges);
        self.lanes.rearm(lane, &mut self.events, |call, number| {
            calls.get(call).is_some_and(|c| {
                number == ANY_TRY
                    || match c.hedge {
                        None => c.state.tries() == number && c.state.has_try_in_flight(),
                        Some(h) => hedges.get(h).is_some_and(|h| h.is_live(number)),
                    }
            })
        });
    }

    /// A call's overall deadline, from its lane entry or, when the entry was
    /// deferred ([`Call::deferred_lane`]), its own event: the try in flight
    /// (every try of a hedged call) times out.
    #[inline(never)]
    pub(super) fn on_call_deadline(&mut self, call_id: Id) {
        match self.calls.get(call_id) {
            Some(c) if c.hedge.is_some() => self.expire_hedged(call_id),
            Some(c) => {
                let number = c.state.tries();
                self.deliver(call_id, number, Reply::timeout());
            }
            None => {}
        }
    }

    /// The breaker refused a try: the call ends, with the fallback if the
    /// edge has one.
    #[inline(never)]
    pub(super) fn on_refused(&mut self, call_id: Id) {
        let entries = self.plan.workload.entries.len();
        let Some(call) = self.calls.get(call_id) else {
            return;
        };
        self.stats.on_call_refused(self.now, call.client);
        let has_fallback = client_of(
            &mut self.workload.edge_clients,
            &mut self.instances,
            entries,
            call.client,
        )
        .is_some_and(|c| c.fallback().is_some());
        let reply = if has_fallback {
            Reply::ok(true)
        } else {
            Reply::breaker_open()
        };
        self.finish_call(call_id, reply);
    }

    pub(super) fn finish_call(&mut self, call_id: Id, reply: Reply) {
        let Some(call) = self.calls.remove(call_id) else {
            return;
        };
        let now = self.now;
        self.stats
            .on_call_end(now, call.client, now - call.state.started(), reply);
        if let Some(hedge) = call.hedge {
            self.hedges.remove(hedge);
        }
        match call.parent {
            Parent::Root(req) => self.finish_request(req, reply),
            Parent::Step(attempt) => self.on_child_done(attempt, reply),
        }
    }

    /// A client request ends with `reply`.
    pub(super) fn finish_request(&mut self, req: Id, reply: Reply) {
        let Some(r) = self.requests.remove(req) else {
            self.audit.double_ends += 1;
            return;
        };
        self.audit.ends += 1;
        if r.flags & super::data::EDGE_LIMITED != 0 {
            self.sample_edge_limit(r.edge, r.arrival);
        }
        self.on_request_data_end(&r, reply);
        if reply.cause == Cause::Ok {
            self.stats.on_internet_bytes(
                self.now,
                RegionId(r.edge),
                self.plan.workload.response_bytes,
            );
        }
        self.stats.on_request_end(self.now, &r, reply);
        if r.user != NO_USER {
            let latency = (self.now - r.arrival) + r.client_rtt;
            self.user_thinks(r.user, r.client_rtt, reply.cause == Cause::Ok, latency);
        }
    }

    /// Tracks how many breakers are open and arms the eager Open -> HalfOpen
    /// move when one opens.
    pub(super) fn on_breaker_transition(
        &mut self,
        client: ClientRef,
        before: BreakerState,
        after: BreakerState,
    ) {
        let now = self.now;
        if before == BreakerState::Open {
            self.stats.on_breaker_open(now, client, -1);
        }
        if after == BreakerState::Open {
            self.stats.on_breaker_open(now, client, 1);
            let entries = self.plan.workload.entries.len();
            let due = client_of(
                &mut self.workload.edge_clients,
                &mut self.instances,
                entries,
                client,
            )
            .and_then(|c| c.poll_timeout());
            if let Some(at) = due {
                self.events.push(at, Event::BreakerTimer { client });
            }
        }
    }

    /// A breaker's open interval ended.
    #[inline(never)]
    pub(super) fn on_breaker_timer(&mut self, client_ref: ClientRef) {
        let entries = self.plan.workload.entries.len();
        let now = self.now;
        let Some(client) = client_of(
            &mut self.workload.edge_clients,
            &mut self.instances,
            entries,
            client_ref,
        ) else {
            return;
        };
        let before = client.breaker_state();
        client.handle_timeout(now);
        let after = client.breaker_state();
        if before != after {
            self.on_breaker_transition(client_ref, before, after);
        }
    }
}
