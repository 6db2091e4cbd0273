//! Load balancing across a changing set of endpoints: round robin, random,
//! least connections, Envoy least request (P2C) and Linkerd peak-EWMA P2C,
//! with Envoy's slow start for new endpoints.
//!
//! See [`Balancer`] for the call order and [`LoadBalancerConfig`] for the table.

mod config;
mod edf;
mod endpoint;
mod ewma;
mod least_conn;
mod pick;
pub(crate) mod sample;
mod slow_start;

pub use config::{
    Algorithm, BalancerSpec, LoadBalancerConfig, MAX_ACTIVE_REQUEST_BIAS, UnknownAlgorithm,
};
pub use endpoint::{CapacityError, EndpointId, MAX_ENDPOINTS};
pub use ewma::Ewma;
pub use sample::MAX_CHOICE_COUNT;
pub use slow_start::{MAX_SLOW_START_WINDOW, SlowStart, SlowStartConfig};

use rand_core::Rng;

use crate::health::Health;
use crate::time::{Span, Timestamp};
use edf::Edf;
use least_conn::LeastConnIndex;
use pick::dynamic_weight;
use sample::below;

/// Candidate count from which least connections keeps its O(log n) index
/// instead of scanning (below it the scan is as fast and needs no upkeep).
const LEAST_CONN_INDEX_MIN: usize = 32;

/// `least_conn_pos` entry of an endpoint that is not a candidate.
const NOT_INDEXED: u32 = u32::MAX;

/// Where an endpoint stands in its slow start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ramp {
    /// Full weight (never ramped, or declared warm).
    Warm,
    /// Became healthy without a timestamp: the ramp starts at the next pick.
    Pending,
    /// Ramping since this instant (it may be over already).
    Since(Timestamp),
}

#[derive(Clone, Debug)]
struct Slot {
    generation: u32,
    live: bool,
    weight: u32,
    healthy: bool,
    ejected: bool,
    active: u32,
    ewma: Ewma,
    ramp: Ramp,
}

/// A load balancer over endpoints that come and go at run time.
///
/// # Call order
///
/// 1. `add_endpoint(now, weight, health)` for each endpoint (and
///    `remove_endpoint` when one goes away; ids are never reused for a
///    different endpoint). `set_health_at` (or `set_health`), `set_ejected`,
///    `set_weight` and `set_panic` whenever the health checker, outlier
///    detector or failover logic says so.
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
/// # Slow start (Envoy `slow_start_config`)
///
/// With [`BalancerSpec::slow_start`], an endpoint added healthy, or turning
/// healthy (`set_health_at(now, ..)`; `set_health` starts the ramp at the
/// next pick), carries `weight × factor` for one window, the factor rising
/// from `min_weight_percent` to 1 ([`SlowStart::factor`]). While any candidate
/// ramps, round robin and least request use their EDF schedules (an entry
/// re-enters with its current weight after each pick, as in Envoy), random
/// keeps a candidate drawn by full weight with probability `factor`
/// (rejection sampling, exactly proportional to `weight × factor`), and least
/// connections compares `active / (weight × factor)` in 16-bit fixed point
/// (exact comparisons, the ramping weights updated in its index at each
/// pick); when the last ramp ends the fast paths return.
/// Ejection does not restart a ramp (Envoy ramps on active health check
/// passes only); [`Balancer::end_slow_start`] declares an endpoint warm (an
/// initial fleet, say). Peak-EWMA ignores weights and has no slow start.
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
    /// Indexed candidates ramping up: (position, slot); their weights are
    /// refreshed at each pick.
    least_conn_ramping: Vec<(u32, u32)>,
    /// `LEAST_CONN_INDEX_MIN`, a field so tests can force either path.
    least_conn_index_min: usize,
    /// Some candidate ramps up (as of the last refresh), until `slow_until`.
    slow_active: bool,
    slow_until: Timestamp,
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
            least_conn_ramping: Vec::new(),
            least_conn_index_min: LEAST_CONN_INDEX_MIN,
            slow_active: false,
            slow_until: Timestamp::ZERO,
        }
    }

    /// The spec this balancer was built from.
    pub fn spec(&self) -> &BalancerSpec {
        &self.spec
    }

    /// Adds an endpoint with `weight` (0 counts as 1) and initial `health`,
    /// reusing the most recently vacated slot if any. A healthy endpoint
    /// starts its slow start (if configured) at `now`.
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
            ramp: if health == Health::Healthy {
                Ramp::Since(now)
            } else {
                Ramp::Warm
            },
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
    /// the endpoint is present. Turning healthy starts a slow start at the
    /// next `pick`; prefer [`Balancer::set_health_at`], which starts it at the
    /// health change itself.
    pub fn set_health(&mut self, id: EndpointId, health: Health) -> bool {
        self.change_health(id, health, Ramp::Pending)
    }

    /// Sets an endpoint's health at `now`; turning healthy starts a slow
    /// start (if configured) at `now`, as Envoy does when a host passes its
    /// active health check. Returns whether the endpoint is present.
    pub fn set_health_at(&mut self, now: Timestamp, id: EndpointId, health: Health) -> bool {
        self.change_health(id, health, Ramp::Since(now))
    }

    /// Ends `id`'s slow start: it carries its full weight from now on (for
    /// endpoints that are warm when added, such as a fleet that was running
    /// before the balancer started). Returns whether the endpoint is present.
    pub fn end_slow_start(&mut self, id: EndpointId) -> bool {
        self.update(id, |s| {
            std::mem::replace(&mut s.ramp, Ramp::Warm) != Ramp::Warm
        })
    }

    fn change_health(&mut self, id: EndpointId, health: Health, ramp: Ramp) -> bool {
        let healthy = health == Health::Healthy;
        self.update(id, |s| {
            let changed = std::mem::replace(&mut s.healthy, healthy) != healthy;
            if changed && healthy {
                s.ramp = ramp;
            }
            changed
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
        if self.slow_active && now >= self.slow_until {
            // The last ramp is over: back to the fast paths.
            self.stale = true;
        }
        if self.stale {
            self.refresh(now, rng);
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
                Algorithm::Random if self.equal_weights => {
                    candidates[below(rng, n as u64) as usize]
                }
                Algorithm::LeastConnections if self.least_conn_indexed => {
                    self.pick_least_connections_indexed(n, now, rng)
                }
                Algorithm::LeastConnections => self.pick_least_connections(n, now, rng),
                _ => self.pick_among(n, now, rng)?,
            },
        };
        Some(self.id_of(index))
    }

    /// [`Balancer::pick`] among `n >= 2` candidates for the algorithms
    /// without an inlined fast path (weighted, least-connections, P2C, peak
    /// EWMA): out of line, so that the common picks stay small where they
    /// are inlined.
    #[inline(never)]
    fn pick_among<R: Rng + ?Sized>(
        &mut self,
        n: usize,
        now: Timestamp,
        rng: &mut R,
    ) -> Option<u32> {
        let candidates = if self.panic {
            &self.all
        } else {
            &self.eligible
        };
        Some(match self.spec.algorithm {
            Algorithm::RoundRobin if self.equal_weights => {
                let pos = self.next_cursor(n, rng);
                self.cursor = pos + 1;
                self.candidates()[pos]
            }
            Algorithm::RoundRobin => {
                let (slots, slow) = (&self.slots, self.spec.slow_start);
                self.edf.pick_and_add(|s| {
                    let slot = &slots[s as usize];
                    f64::from(slot.weight) * pick::slow_factor(slot, slow, now)
                })?
            }
            Algorithm::Random if self.equal_weights => candidates[below(rng, n as u64) as usize],
            Algorithm::Random if self.slow_active => self.pick_weighted_random_ramping(now, rng),
            Algorithm::Random => self.pick_weighted_random(rng),
            Algorithm::LeastConnections if self.least_conn_indexed => {
                self.pick_least_connections_indexed(n, now, rng)
            }
            Algorithm::LeastConnections => self.pick_least_connections(n, now, rng),
            Algorithm::LeastRequest if self.equal_weights => {
                self.pick_p2c(n, rng, |s| s.active as f64)
            }
            Algorithm::LeastRequest => {
                let bias = self.spec.active_request_bias;
                let (slots, slow) = (&self.slots, self.spec.slow_start);
                self.edf.pick_and_add(|s| {
                    let slot = &slots[s as usize];
                    dynamic_weight(slot, bias) * pick::slow_factor(slot, slow, now)
                })?
            }
            Algorithm::PeakEwma => {
                self.pick_p2c(n, rng, |s| s.ewma.get_at(now) * f64::from(s.active + 1))
            }
        })
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

    /// The weight `id` carries at `now`: its weight times its slow-start
    /// factor (the weight itself outside slow start).
    pub fn effective_weight(&self, id: EndpointId, now: Timestamp) -> Option<f64> {
        self.slot(id)
            .map(|s| f64::from(s.weight) * pick::slow_factor(s, self.spec.slow_start, now))
    }

    /// Whether `id` is ramping up at `now` (healthy, inside its window).
    pub fn is_slow_starting(&self, id: EndpointId, now: Timestamp) -> Option<bool> {
        let slow = self.spec.slow_start;
        self.slot(id).map(|s| match (slow, s.ramp) {
            (Some(slow), Ramp::Since(since)) => s.healthy && now < slow.ends_at(since),
            (Some(_), Ramp::Pending) => s.healthy,
            _ => false,
        })
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
        wrap_cursor(self.cursor, n)
    }
}

/// `cursor % n` (`n >= 1`). The round-robin cursor is `pos + 1 <= n` after
/// every pick, so unless the candidate count shrank it is in range or one
/// lap past: a comparison replaces the division on the per-pick path.
#[inline]
fn wrap_cursor(cursor: usize, n: usize) -> usize {
    if cursor < n {
        cursor
    } else if cursor - n < n {
        cursor - n
    } else {
        cursor % n
    }
}

#[cfg(test)]
mod tests {
    use super::wrap_cursor;

    #[test]
    fn wrap_cursor_is_the_remainder() {
        for n in 1..=40usize {
            for cursor in (0..=5 * n).chain([usize::MAX - 1, usize::MAX, 1 << 40]) {
                assert_eq!(wrap_cursor(cursor, n), cursor % n, "{cursor} % {n}");
            }
        }
    }
}
