//! The balancer's per-algorithm pick paths and the rebuild of its candidate
//! lists and schedules (split from `mod.rs`, which holds the public API).

use rand_core::Rng;

use super::least_conn::{Load, scaled_weight};
use super::sample::{below, distinct, unit_f64};
use super::slow_start::SlowStart;
use super::{Algorithm, Balancer, MAX_CHOICE_COUNT, NOT_INDEXED, Ramp, Slot};
use crate::time::Timestamp;

impl Balancer {
    /// Rebuilds the candidate lists and schedules after a membership, health,
    /// ejection, weight or panic change, or when the last slow start ends.
    #[cold]
    #[inline(never)]
    pub(super) fn refresh<R: Rng + ?Sized>(&mut self, now: Timestamp, rng: &mut R) {
        self.stale = false;
        self.eligible.clear();
        self.all.clear();
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.live {
                if s.ramp == Ramp::Pending && s.healthy {
                    // Became healthy through `set_health` (no time given):
                    // the ramp starts at the first pick after.
                    s.ramp = Ramp::Since(now);
                }
                self.all.push(i as u32);
                if s.healthy && !s.ejected {
                    self.eligible.push(i as u32);
                }
            }
        }
        self.refresh_slow_start(now);
        self.refresh_least_conn_index(now);
        let candidates = if self.panic {
            &self.all
        } else {
            &self.eligible
        };
        let first_weight = candidates.first().map(|&i| self.slots[i as usize].weight);
        // Envoy builds its EDF schedule when weights differ *or* a host is in
        // slow start.
        self.equal_weights = !self.slow_active
            && candidates
                .iter()
                .all(|&i| Some(self.slots[i as usize].weight) == first_weight);
        if self.equal_weights {
            return;
        }
        let slots = &self.slots;
        let slow = self.spec.slow_start;
        match self.spec.algorithm {
            Algorithm::RoundRobin | Algorithm::LeastRequest => {
                let bias = self.spec.active_request_bias;
                let least_request = self.spec.algorithm == Algorithm::LeastRequest;
                let weight_of = |s: u32| {
                    let slot = &slots[s as usize];
                    let base = if least_request {
                        dynamic_weight(slot, bias)
                    } else {
                        f64::from(slot.weight)
                    };
                    base * slow_factor(slot, slow, now)
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

    /// Whether any candidate is ramping at `now`, and until when.
    fn refresh_slow_start(&mut self, now: Timestamp) {
        self.slow_active = false;
        self.slow_until = Timestamp::ZERO;
        let Some(slow) = self.spec.slow_start else {
            return;
        };
        let candidates = if self.panic {
            &self.all
        } else {
            &self.eligible
        };
        for &i in candidates {
            let slot = &self.slots[i as usize];
            if let (true, Ramp::Since(since)) = (slot.healthy, slot.ramp) {
                let end = slow.ends_at(since);
                if now < end {
                    self.slow_active = true;
                    self.slow_until = self.slow_until.max(end);
                }
            }
        }
    }

    /// Builds the least-connections index over the current candidates when it
    /// pays off, with each candidate's scaled weight at `now`, and lists the
    /// ramping candidates whose weights must follow time; otherwise drops it
    /// so start/end need no upkeep.
    fn refresh_least_conn_index(&mut self, now: Timestamp) {
        let candidates = if self.panic {
            &self.all
        } else {
            &self.eligible
        };
        self.least_conn_indexed = self.spec.algorithm == Algorithm::LeastConnections
            && candidates.len() >= self.least_conn_index_min;
        self.least_conn_pos.clear();
        self.least_conn_ramping.clear();
        if !self.least_conn_indexed {
            return;
        }
        self.least_conn_pos.resize(self.slots.len(), NOT_INDEXED);
        let slow = self.spec.slow_start;
        for (pos, &index) in candidates.iter().enumerate() {
            // Below MAX_ENDPOINTS, so it fits in u32.
            self.least_conn_pos[index as usize] = pos as u32;
            let slot = &self.slots[index as usize];
            if let (Some(slow), true, Ramp::Since(since)) = (slow, slot.healthy, slot.ramp)
                && now < slow.ends_at(since)
            {
                self.least_conn_ramping.push((pos as u32, index));
            }
        }
        let slots = &self.slots;
        self.least_conn.rebuild(candidates.iter().map(|&index| {
            let slot = &slots[index as usize];
            (
                slot.active,
                scaled_weight(slot.weight, slow_factor(slot, slow, now)),
            )
        }));
    }

    /// Least connections through the index: ramping weights brought to `now`
    /// first (O(r log n) for r ramping endpoints), then an O(log n) pick.
    pub(super) fn pick_least_connections_indexed<R: Rng + ?Sized>(
        &mut self,
        n: usize,
        now: Timestamp,
        rng: &mut R,
    ) -> u32 {
        let slow = self.spec.slow_start;
        for &(pos, index) in &self.least_conn_ramping {
            let slot = &self.slots[index as usize];
            let weight = scaled_weight(slot.weight, slow_factor(slot, slow, now));
            self.least_conn.set_weight(pos as usize, weight);
        }
        let start = self.next_cursor(n, rng);
        // Invariant: the index covers exactly the n candidates.
        let pos = self.least_conn.pick(start).unwrap_or(start);
        self.cursor = pos + 1;
        self.candidates()[pos]
    }

    pub(super) fn pick_weighted_random<R: Rng + ?Sized>(&mut self, rng: &mut R) -> u32 {
        // Invariant: refresh filled `cumulative` for the current candidates.
        let total = self.cumulative.last().copied().unwrap_or(1);
        let draw = below(rng, total);
        let pos = self.cumulative.partition_point(|&c| c <= draw);
        let candidates = self.candidates();
        candidates[pos.min(candidates.len() - 1)]
    }

    /// Weighted random while endpoints ramp: a candidate drawn by its full
    /// weight is kept with probability equal to its slow-start factor
    /// (rejection sampling: exactly proportional to `weight × factor`, in
    /// expected O(log n) while few endpoints ramp). After 64 rejections (all
    /// candidates near a tiny floor) an O(n) walk over the ramping weights
    /// draws from the same distribution.
    pub(super) fn pick_weighted_random_ramping<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        rng: &mut R,
    ) -> u32 {
        let slow = self.spec.slow_start;
        for _ in 0..64 {
            let index = self.pick_weighted_random(rng);
            let factor = slow_factor(&self.slots[index as usize], slow, now);
            if factor >= 1.0 || unit_f64(rng) < factor {
                return index;
            }
        }
        let candidates = self.candidates();
        let weight = |i: u32| {
            let slot = &self.slots[i as usize];
            f64::from(slot.weight) * slow_factor(slot, slow, now)
        };
        let total: f64 = candidates.iter().map(|&i| weight(i)).sum();
        let mut draw = unit_f64(rng) * total;
        for &i in candidates {
            draw -= weight(i);
            if draw < 0.0 {
                return i;
            }
        }
        // Rounding left a sliver: the last candidate takes it.
        candidates[candidates.len() - 1]
    }

    pub(super) fn pick_least_connections<R: Rng + ?Sized>(
        &mut self,
        n: usize,
        now: Timestamp,
        rng: &mut R,
    ) -> u32 {
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
        let best_pos = if self.slow_active {
            // Ramping weights in the index's fixed point, compared exactly:
            // the same order the index keeps.
            let slow = self.spec.slow_start;
            let mut best: Option<(Load, usize)> = None;
            for (offset, part) in [(start, tail), (0, head)] {
                for (i, &index) in part.iter().enumerate() {
                    let slot = &slots[index as usize];
                    let load = Load {
                        active: slot.active,
                        weight: scaled_weight(slot.weight, slow_factor(slot, slow, now)),
                    };
                    if best.is_none_or(|(b, _)| load.less(b)) {
                        best = Some((load, offset + i));
                    }
                }
            }
            best.map_or(start, |(_, pos)| pos)
        } else if self.equal_weights {
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
    pub(super) fn pick_p2c<R: Rng + ?Sized>(
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
pub(super) fn dynamic_weight(slot: &Slot, bias: f64) -> f64 {
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

/// The slow-start factor of `slot` at `now`: 1 without slow start, for an
/// unhealthy endpoint (a panic-mode candidate; Envoy ramps healthy hosts
/// only), or once its window is over.
#[inline]
pub(super) fn slow_factor(slot: &Slot, slow: Option<SlowStart>, now: Timestamp) -> f64 {
    match (slow, slot.ramp) {
        (Some(slow), Ramp::Since(since)) if slot.healthy => {
            slow.factor(now.saturating_since(since))
        }
        _ => 1.0,
    }
}
