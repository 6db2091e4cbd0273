//! Load balancing across a changing set of endpoints: round robin, random,
//! least connections, Envoy least request (P2C) and Linkerd peak-EWMA P2C.
//!
//! See [`Balancer`] for the call order and [`LoadBalancerConfig`] for the table.

mod config;
mod edf;
mod endpoint;
mod ewma;
mod least_conn;
pub(crate) mod sample;

pub use config::{
    Algorithm, BalancerSpec, LoadBalancerConfig, MAX_ACTIVE_REQUEST_BIAS, UnknownAlgorithm,
};
pub use endpoint::{CapacityError, EndpointId, MAX_ENDPOINTS};
pub use ewma::Ewma;
pub use sample::MAX_CHOICE_COUNT;

use rand_core::Rng;

use crate::health::Health;
use crate::time::{Span, Timestamp};
use edf::Edf;
use least_conn::LeastConnIndex;
use sample::{below, distinct};

/// Candidate count from which least connections keeps its O(log n) index
/// instead of scanning (below it the scan is as fast and needs no upkeep).
const LEAST_CONN_INDEX_MIN: usize = 32;

/// `least_conn_pos` entry of an endpoint that is not a candidate.
const NOT_INDEXED: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct Slot {
    generation: u32,
    live: bool,
    weight: u32,
    healthy: bool,
    ejected: bool,
    active: u32,
    ewma: Ewma,
}

/// A load balancer over endpoints that come and go at run time.
///
/// # Call order
///
/// 1. `add_endpoint(now, weight, health)` for each endpoint (and
///    `remove_endpoint` when one goes away; ids are never reused for a
///    different endpoint). `set_health`, `set_ejected`, `set_weight` and
///    `set_panic` whenever the health checker, outlier detector or failover
///    logic says so.
/// 2. Per request: `pick(now, rng)`. `None` means no eligible endpoint (or no
///    endpoint at all): fail the request ("no healthy upstream").
/// 3. When the request is sent to the picked endpoint: `handle_start(id)`.
/// 4. When it completes: `handle_end(now, id, rtt)`, `rtt` being the time from
///    start to the response (Linkerd takes the first response byte).
///
/// An endpoint is *eligible* when it is healthy and not ejected. `pick` never
/// returns a non-eligible endpoint unless panic routing is on
/// ([`Balancer::set_panic`], Envoy's panic mode, decided by the failover
/// policy): then every endpoint is a candidate regardless of health.
///
/// # Algorithms
///
/// - round robin: equal weights rotate through the eligible endpoints (in slot
///   order) from a random start drawn at the first pick; unequal weights use an
///   EDF schedule, rebuilt when the candidate set changes and advanced by a
///   random number (< n) of picks so that clients do not move in lockstep.
/// - random: uniform, or proportional to weight (cumulative weights).
/// - least connections: the fewest active requests per unit of weight
///   (`a_i × w_j < a_j × w_i`); the scan starts one past the previous pick
///   (random first start), so ties rotate deterministically.
/// - least request (Envoy): equal weights draw `choice_count` distinct
///   candidates and take the fewest active requests, ties to the first drawn;
///   unequal weights use EDF where an endpoint re-enters the schedule after each
///   pick with weight `w / (active + 1)^active_request_bias`.
/// - peak EWMA (Linkerd): `choice_count` distinct candidates, cost
///   `rtt_estimate(now) × (active + 1)`, ties to the first drawn; weights are
///   ignored. Each endpoint's estimate starts at `default_rtt` when added.
///
/// Every random draw comes from `rng`, so a seeded generator makes picks
/// reproducible.
#[derive(Clone, Debug)]
pub struct Balancer {
    spec: BalancerSpec,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    eligible: Vec<u32>,
    all: Vec<u32>,
    stale: bool,
    panic: bool,
    equal_weights: bool,
    cursor: usize,
    seeded: bool,
    edf: Edf,
    cumulative: Vec<u64>,
    /// Least connections over many candidates: the index, and each slot's
    /// candidate position in it (`NOT_INDEXED` otherwise). Empty when the
    /// scan is used.
    least_conn: LeastConnIndex,
    least_conn_pos: Vec<u32>,
    least_conn_indexed: bool,
    /// `LEAST_CONN_INDEX_MIN`, a field so tests can force either path.
    least_conn_index_min: usize,
}

impl Balancer {
    /// An empty balancer.
    pub fn new(spec: &BalancerSpec) -> Self {
        Balancer {
            spec: spec.clone(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            eligible: Vec::new(),
            all: Vec::new(),
            stale: false,
            panic: false,
            equal_weights: true,
            cursor: 0,
            seeded: false,
            edf: Edf::default(),
            cumulative: Vec::new(),
            least_conn: LeastConnIndex::default(),
            least_conn_pos: Vec::new(),
            least_conn_indexed: false,
            least_conn_index_min: LEAST_CONN_INDEX_MIN,
        }
    }

    /// The spec this balancer was built from.
    pub fn spec(&self) -> &BalancerSpec {
        &self.spec
    }

    /// Adds an endpoint with `weight` (0 counts as 1) and initial `health`,
    /// reusing the most recently vacated slot if any.
    pub fn add_endpoint(
        &mut self,
        now: Timestamp,
        weight: u32,
        health: Health,
    ) -> Result<EndpointId, CapacityError> {
        let slot = Slot {
            generation: 0,
            live: true,
            weight: weight.max(1),
            healthy: health == Health::Healthy,
            ejected: false,
            active: 0,
            ewma: Ewma::new(self.spec.default_rtt, self.spec.decay, now),
        };
        let index = match self.free.pop() {
            Some(index) => {
                let old = &mut self.slots[index as usize];
                *old = Slot {
                    generation: old.generation,
                    ..slot
                };
                index
            }
            None if self.slots.len() < MAX_ENDPOINTS => {
                self.slots.push(slot);
                // Below MAX_ENDPOINTS, so it fits in u32.
                (self.slots.len() - 1) as u32
            }
            None => {
                return Err(CapacityError {
                    limit: MAX_ENDPOINTS,
                });
            }
        };
        self.live += 1;
        self.stale = true;
        Ok(self.id_of(index))
    }

    /// Removes an endpoint; later calls with its id are ignored. Returns
    /// whether it was present.
    pub fn remove_endpoint(&mut self, id: EndpointId) -> bool {
        let Some(slot) = self.slot_mut(id) else {
            return false;
        };
        slot.live = false;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index() as u32);
        self.live -= 1;
        self.stale = true;
        true
    }

    /// Sets an endpoint's health (from active health checks). Returns whether
    /// the endpoint is present.
    pub fn set_health(&mut self, id: EndpointId, health: Health) -> bool {
        let healthy = health == Health::Healthy;
        self.update(id, |s| {
            std::mem::replace(&mut s.healthy, healthy) != healthy
        })
    }

    /// Marks an endpoint ejected or not (from outlier detection). Returns
    /// whether the endpoint is present.
    pub fn set_ejected(&mut self, id: EndpointId, ejected: bool) -> bool {
        self.update(id, |s| {
            std::mem::replace(&mut s.ejected, ejected) != ejected
        })
    }

    /// Changes an endpoint's weight (0 counts as 1). Returns whether the
    /// endpoint is present.
    pub fn set_weight(&mut self, id: EndpointId, weight: u32) -> bool {
        let weight = weight.max(1);
        self.update(id, |s| std::mem::replace(&mut s.weight, weight) != weight)
    }

    /// Turns panic routing on or off: while on, every endpoint is a candidate
    /// whatever its health or ejection (Envoy's panic mode for a priority).
    pub fn set_panic(&mut self, panic: bool) {
        if self.panic != panic {
            self.panic = panic;
            self.stale = true;
        }
    }

    /// Whether panic routing is on.
    pub fn is_panic(&self) -> bool {
        self.panic
    }

    /// Picks an endpoint for a request at `now`; `None` if there is no
    /// candidate. Draws from `rng` only when there are two or more candidates
    /// (or when a schedule is rebuilt).
    #[must_use]
    #[inline]
    pub fn pick<R: Rng + ?Sized>(&mut self, now: Timestamp, rng: &mut R) -> Option<EndpointId> {
        if self.stale {
            self.refresh(rng);
        }
        let candidates = if self.panic {
            &self.all
        } else {
            &self.eligible
        };
        let index = match candidates.len() {
            0 => return None,
            1 => candidates[0],
            n => match self.spec.algorithm {
                Algorithm::RoundRobin if self.equal_weights => {
                    let pos = self.next_cursor(n, rng);
                    self.cursor = pos + 1;
                    self.candidates()[pos]
                }
                Algorithm::RoundRobin => {
                    let slots = &self.slots;
                    self.edf
                        .pick_and_add(|s| f64::from(slots[s as usize].weight))?
                }
                Algorithm::Random if self.equal_weights => {
                    candidates[below(rng, n as u64) as usize]
                }
                Algorithm::Random => self.pick_weighted_random(rng),
                Algorithm::LeastConnections if self.least_conn_indexed => {
                    let start = self.next_cursor(n, rng);
                    // Invariant: the index covers exactly the n candidates.
                    let pos = self.least_conn.pick(start).unwrap_or(start);
                    self.cursor = pos + 1;
                    self.candidates()[pos]
                }
                Algorithm::LeastConnections => self.pick_least_connections(n, rng),
                Algorithm::LeastRequest if self.equal_weights => {
                    self.pick_p2c(n, rng, |s| s.active as f64)
                }
                Algorithm::LeastRequest => {
                    let bias = self.spec.active_request_bias;
                    let slots = &self.slots;
                    self.edf
                        .pick_and_add(|s| dynamic_weight(&slots[s as usize], bias))?
                }
                Algorithm::PeakEwma => {
                    self.pick_p2c(n, rng, |s| s.ewma.get_at(now) * f64::from(s.active + 1))
                }
            },
        };
        Some(self.id_of(index))
    }

    /// Records that a request was sent to `id` (one more active request).
    #[inline]
    pub fn handle_start(&mut self, id: EndpointId) {
        if let Some(slot) = self.slot_mut(id) {
            slot.active = slot.active.saturating_add(1);
            let active = slot.active;
            self.index_active(id.index(), active);
        }
    }

    /// Records that a request to `id` completed at `now` after `rtt`.
    #[inline]
    pub fn handle_end(&mut self, now: Timestamp, id: EndpointId, rtt: Span) {
        let peak_ewma = self.spec.algorithm == Algorithm::PeakEwma;
        if let Some(slot) = self.slot_mut(id) {
            slot.active = slot.active.saturating_sub(1);
            if peak_ewma {
                slot.ewma.add_peak(rtt, now);
            }
            let active = slot.active;
            self.index_active(id.index(), active);
        }
    }

    /// Keeps the least-connections index in step with slot `index`'s active
    /// count (a no-op when the index is not in use or the slot is not a
    /// candidate).
    #[inline]
    fn index_active(&mut self, index: usize, active: u32) {
        if self.least_conn_indexed
            && let Some(&pos) = self.least_conn_pos.get(index)
            && pos != NOT_INDEXED
        {
            self.least_conn.update(pos as usize, active);
        }
    }

    /// Endpoints present.
    pub fn endpoint_count(&self) -> usize {
        self.live
    }

    /// Endpoints present, healthy and not ejected.
    pub fn eligible_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.live && s.healthy && !s.ejected)
            .count()
    }

    /// The ids of the endpoints present, in slot order.
    pub fn endpoints(&self) -> impl Iterator<Item = EndpointId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .map(|(i, s)| EndpointId::new(i as u32, s.generation))
    }

    /// Whether `id` is present.
    pub fn contains(&self, id: EndpointId) -> bool {
        self.slot(id).is_some()
    }

    /// Whether `id` is present, healthy and not ejected.
    pub fn is_eligible(&self, id: EndpointId) -> bool {
        self.slot(id).is_some_and(|s| s.healthy && !s.ejected)
    }

    /// Active requests on `id`.
    pub fn active_requests(&self, id: EndpointId) -> Option<u32> {
        self.slot(id).map(|s| s.active)
    }

    /// Peak-EWMA cost of `id` at `now`: RTT estimate (ns) × (active + 1).
    pub fn peak_ewma_cost(&self, id: EndpointId, now: Timestamp) -> Option<f64> {
        self.slot(id)
            .map(|s| s.ewma.get_at(now) * f64::from(s.active + 1))
    }

    fn id_of(&self, index: u32) -> EndpointId {
        EndpointId::new(index, self.slots[index as usize].generation)
    }

    fn slot(&self, id: EndpointId) -> Option<&Slot> {
        self.slots
            .get(id.index())
            .filter(|s| s.live && s.generation == id.generation())
    }

    fn slot_mut(&mut self, id: EndpointId) -> Option<&mut Slot> {
        self.slots
            .get_mut(id.index())
            .filter(|s| s.live && s.generation == id.generation())
    }

    fn update(&mut self, id: EndpointId, change: impl FnOnce(&mut Slot) -> bool) -> bool {
        match self.slot_mut(id) {
            Some(slot) => {
                if change(slot) {
                    self.stale = true;
                }
                true
            }
            None => false,
        }
    }

    fn candidates(&self) -> &[u32] {
        if self.panic {
            &self.all
        } else {
            &self.eligible
        }
    }

    fn next_cursor<R: Rng + ?Sized>(&mut self, n: usize, rng: &mut R) -> usize {
        if !self.seeded {
            self.cursor = below(rng, n as u64) as usize;
            self.seeded = true;
        }
        self.cursor % n
    }

    /// Rebuilds the candidate lists and schedules after a membership, health,
    /// ejection, weight or panic change.
    fn refresh<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        self.stale = false;
        self.eligible.clear();
        self.all.clear();
        for (i, s) in self.slots.iter().enumerate() {
            if s.live {
                self.all.push(i as u32);
                if s.healthy && !s.ejected {
                    self.eligible.push(i as u32);
                }
            }
        }
        self.refresh_least_conn_index();
        let candidates = if self.panic {
            &self.all
        } else {
            &self.eligible
        };
        let first_weight = candidates.first().map(|&i| self.slots[i as usize].weight);
        self.equal_weights = candidates
            .iter()
            .all(|&i| Some(self.slots[i as usize].weight) == first_weight);
        if self.equal_weights {
            return;
        }
        let slots = &self.slots;
        match self.spec.algorithm {
            Algorithm::RoundRobin | Algorithm::LeastRequest => {
                let bias = self.spec.active_request_bias;
                let weight_of = |s: u32| {
                    let slot = &slots[s as usize];
                    if self.spec.algorithm == Algorithm::LeastRequest {
                        dynamic_weight(slot, bias)
                    } else {
                        f64::from(slot.weight)
                    }
                };
                self.edf.clear();
                for &i in candidates {
                    self.edf.add(i, weight_of(i));
                }
                // A random phase, like round robin's random start.
                let skip = below(rng, candidates.len() as u64);
                for _ in 0..skip {
                    let _ = self.edf.pick_and_add(weight_of);
                }
            }
            Algorithm::Random => {
                self.cumulative.clear();
                let mut total = 0u64;
                for &i in candidates {
                    total += u64::from(slots[i as usize].weight);
                    self.cumulative.push(total);
                }
            }
            Algorithm::LeastConnections | Algorithm::PeakEwma => {}
        }
    }

    /// Builds the least-connections index over the current candidates when it
    /// pays off; otherwise drops it so start/end need no upkeep.
    fn refresh_least_conn_index(&mut self) {
        let candidates = if self.panic {
            &self.all
        } else {
            &self.eligible
        };
        self.least_conn_indexed = self.spec.algorithm == Algorithm::LeastConnections
            && candidates.len() >= self.least_conn_index_min;
        self.least_conn_pos.clear();
        if !self.least_conn_indexed {
            return;
        }
        self.least_conn_pos.resize(self.slots.len(), NOT_INDEXED);
        for (pos, &index) in candidates.iter().enumerate() {
            // Below MAX_ENDPOINTS, so it fits in u32.
            self.least_conn_pos[index as usize] = pos as u32;
        }
        let slots = &self.slots;
        self.least_conn.rebuild(candidates.iter().map(|&index| {
            let slot = &slots[index as usize];
            (slot.active, slot.weight)
        }));
    }

    fn pick_weighted_random<R: Rng + ?Sized>(&mut self, rng: &mut R) -> u32 {
        // Invariant: refresh filled `cumulative` for the current candidates.
        let total = self.cumulative.last().copied().unwrap_or(1);
        let draw = below(rng, total);
        let pos = self.cumulative.partition_point(|&c| c <= draw);
        let candidates = self.candidates();
        candidates[pos.min(candidates.len() - 1)]
    }

    fn pick_least_connections<R: Rng + ?Sized>(&mut self, n: usize, rng: &mut R) -> u32 {
        let start = self.next_cursor(n, rng);
        let candidates = if self.panic {
            &self.all
        } else {
            &self.eligible
        };
        let slots = &self.slots;
        // Scan start..n then 0..start; the first strict minimum wins, so ties
        // go to the candidate nearest after the previous pick.
        let (tail, head) = (&candidates[start..], &candidates[..start]);
        let best_pos = if self.equal_weights {
            let mut best = (u32::MAX, start);
            for (offset, part) in [(start, tail), (0, head)] {
                for (i, &index) in part.iter().enumerate() {
                    let active = slots[index as usize].active;
                    if active < best.0 {
                        best = (active, offset + i);
                    }
                }
            }
            best.1
        } else {
            let mut best = (u128::from(u64::MAX), 1u128, start);
            for (offset, part) in [(start, tail), (0, head)] {
                for (i, &index) in part.iter().enumerate() {
                    let slot = &slots[index as usize];
                    let (active, weight) = (u128::from(slot.active), u128::from(slot.weight));
                    // active/weight < best active/weight, without division.
                    if active * best.1 < best.0 * weight {
                        best = (active, weight, offset + i);
                    }
                }
            }
            best.2
        };
        self.cursor = best_pos + 1;
        candidates[best_pos]
    }

    #[inline]
    fn pick_p2c<R: Rng + ?Sized>(
        &mut self,
        n: usize,
        rng: &mut R,
        cost: impl Fn(&Slot) -> f64,
    ) -> u32 {
        let mut drawn = [0usize; MAX_CHOICE_COUNT];
        let len = distinct(rng, n, self.spec.choice_count, &mut drawn);
        let candidates = if self.panic {
            &self.all
        } else {
            &self.eligible
        };
        let mut best = candidates[drawn[0]];
        let mut best_cost = cost(&self.slots[best as usize]);
        for &pos in &drawn[1..len] {
            let index = candidates[pos];
            let c = cost(&self.slots[index as usize]);
            if c < best_cost {
                best = index;
                best_cost = c;
            }
        }
        best
    }
}

/// Envoy's least-request weight: `weight / (active + 1)^bias`. A non-integer
/// bias uses `libm::pow`, so the schedule is bit-identical on every platform.
#[inline]
fn dynamic_weight(slot: &Slot, bias: f64) -> f64 {
    let load = f64::from(slot.active) + 1.0;
    let w = f64::from(slot.weight);
    if bias == 1.0 {
        w / load
    } else if bias == 0.0 {
        w
    } else {
        w / libm::pow(load, bias)
    }
}
