//! A synthetic trace of a scenario's workload (`headroom trace synth`): the
//! requests replication `r` of the scenario would receive, without the
//! rest of the world.
//!
//! It draws from the same named streams as the engine (`workload/arrivals`,
//! `workload/mmpp`, `workload/clients`, `workload/origin`,
//! `workload/entry`, `workload/keys`, `workload/ops`), so its arrival times,
//! origins, entries, keys and operations are exactly those of the run:
//! replaying it through the same scenario reproduces the run. Clients and
//! keys are drawn even where the run needs none (streams are independent,
//! so this changes no other draw).

use rand::RngExt;

use headroom_sim::Timestamp;
use headroom_sim::rng::{Stream, Streams};

use super::RunError;
use super::replay::TraceRequest;
use super::workload::{Sampler, Workload, pick_cdf};
use crate::plan::{Plan, RegionId, ServiceId};

/// One synthetic request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthRequest {
    /// Arrival time.
    pub at: Timestamp,
    /// Key (0-based rank by popularity).
    pub key: u64,
    /// Whether it writes its key.
    pub write: bool,
    /// Object size in bytes: the first datastore's `object_size` of the
    /// key, or `workload.response_size` without a datastore.
    pub size_bytes: u64,
    /// Client (0-based).
    pub client: u64,
    /// The region the client is in.
    pub region: RegionId,
    /// The entry service.
    pub entry: ServiceId,
}

/// The requests of one replication, in time order.
pub struct Synth<'p> {
    plan: &'p Plan,
    workload: Workload<'p>,
    arrivals: Stream,
    mmpp: Stream,
    clients: Stream,
    origin: Stream,
    entry: Stream,
    keys_rng: Stream,
    ops: Stream,
    keys: Sampler,
    now: Timestamp,
    started: bool,
    done: bool,
}

impl<'p> Synth<'p> {
    /// The requests replication `replication` of `plan` receives.
    pub fn new(plan: &'p Plan, replication: u32) -> Self {
        let streams = Streams::new(plan.run.seed, u64::from(replication));
        Synth {
            plan,
            workload: Workload::new(plan),
            arrivals: streams.stream("workload/arrivals"),
            mmpp: streams.stream("workload/mmpp"),
            clients: streams.stream("workload/clients"),
            origin: streams.stream("workload/origin"),
            entry: streams.stream("workload/entry"),
            keys_rng: streams.stream("workload/keys"),
            ops: streams.stream("workload/ops"),
            keys: Sampler::new(&plan.data.keys),
            now: Timestamp::ZERO,
            started: false,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Option<SynthRequest>, RunError> {
        if !self.started {
            self.started = true;
            self.workload.start(&mut self.arrivals, &mut self.mmpp);
        }
        let Some(at) = self
            .workload
            .next_arrival(self.now, &mut self.arrivals, &mut self.mmpp)?
        else {
            return Ok(None);
        };
        self.now = at;
        let traced = (self.workload.replay.as_mut())
            .and_then(|r| r.next.take())
            .unwrap_or(TraceRequest::NONE);
        let w = &self.plan.workload;
        let client = traced
            .client
            .unwrap_or_else(|| self.workload.clients.sample(&mut self.clients));
        let region = traced
            .region
            .unwrap_or_else(|| RegionId(pick_cdf(&w.origin_cdf, &mut self.origin) as u8));
        let entry = traced.entry.unwrap_or_else(|| {
            if w.entries.len() == 1 {
                return w.entries[0].service;
            }
            let u: f64 = self.entry.random();
            let i = w.entries.iter().position(|e| u < e.cdf);
            w.entries[i.unwrap_or(w.entries.len() - 1)].service
        });
        let key = traced
            .key
            .unwrap_or_else(|| self.keys.sample(&mut self.keys_rng));
        let read_fraction = self.plan.data.read_fraction;
        let write = traced
            .write
            .unwrap_or_else(|| read_fraction < 1.0 && self.ops.random::<f64>() >= read_fraction);
        let size_bytes = match (traced.size_bytes, self.plan.data.stores.first()) {
            (s, _) if s > 0 => s,
            (_, Some(store)) => store.object_size.of_key(key),
            (_, None) => w.response_bytes,
        };
        Ok(Some(SynthRequest {
            at,
            key,
            write,
            size_bytes,
            client,
            region,
            entry,
        }))
    }
}

impl Iterator for Synth<'_> {
    type Item = Result<SynthRequest, RunError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step().transpose();
        self.done = !matches!(item, Some(Ok(_)));
        item
    }
}
