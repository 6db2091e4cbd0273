//! Least-connections index: a min segment tree over the candidate positions,
//! keyed by `active / weight`, so a pick and an update cost O(log n) instead
//! of the O(n) scan (the simulator may balance over thousands of instances).
//!
//! The pick rule is the scan's, exactly: the candidate with the fewest active
//! requests per unit of weight, ties to the first one at or after `start`
//! (wrapping around). Because the root holds the global minimum `m`, "the
//! first tied candidate at or after `start`" is a descent that enters only
//! subtrees whose minimum equals `m`.
//!
//! Weights are fixed-point (`weight × 2^16`, see [`scaled_weight`]) so that
//! slow start's fractional weights compare exactly too; a ramping endpoint's
//! leaf is updated as its weight grows.

/// Fixed-point bits of a scaled weight.
pub(crate) const WEIGHT_SHIFT: u32 = 16;

/// `weight × factor` in fixed point (`× 2^16`, floored, at least 1): the
/// weight least connections divides by. A factor of 1 gives exactly
/// `weight << 16`, so without slow start the order is the integer one.
#[inline]
pub(crate) fn scaled_weight(weight: u32, factor: f64) -> u64 {
    let full = u64::from(weight) << WEIGHT_SHIFT;
    if factor >= 1.0 {
        return full;
    }
    // weight × 2^16 < 2^48: exact in f64; the product floors.
    ((full as f64 * factor) as u64).max(1)
}

/// A candidate's load: `active / weight`. `weight == 0` marks an unused leaf
/// and compares above every real load (real weights are at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Load {
    pub(crate) active: u32,
    pub(crate) weight: u64,
}

const EMPTY: Load = Load {
    active: 0,
    weight: 0,
};

impl Load {
    /// `self < other` by `active / weight`, without division (a `u32` times
    /// a `u64` fits in `u128`).
    #[inline]
    pub(crate) fn less(self, other: Load) -> bool {
        if other.weight == 0 {
            return self.weight != 0;
        }
        if self.weight == 0 {
            return false;
        }
        u128::from(self.active) * u128::from(other.weight)
            < u128::from(other.active) * u128::from(self.weight)
    }

    /// `self == other` by `active / weight` (never for unused leaves).
    #[inline]
    fn ties(self, other: Load) -> bool {
        self.weight != 0
            && other.weight != 0
            && u128::from(self.active) * u128::from(other.weight)
                == u128::from(other.active) * u128::from(self.weight)
    }

    #[inline]
    fn min(self, other: Load) -> Load {
        if other.less(self) { other } else { self }
    }
}

/// The index over `n` candidate positions (`0..n`, the balancer's candidate
/// order). Leaves live at `size..size + n` of a 1-based heap layout.
#[derive(Clone, Debug, Default)]
pub(crate) struct LeastConnIndex {
    size: usize,
    len: usize,
    nodes: Vec<Load>,
}

impl LeastConnIndex {
    /// Rebuilds the index from `(active, scaled weight)` per candidate
    /// position, in O(n). Weights must be at least 1.
    pub(crate) fn rebuild(&mut self, loads: impl ExactSizeIterator<Item = (u32, u64)>) {
        self.len = loads.len();
        self.size = self.len.next_power_of_two().max(1);
        self.nodes.clear();
        self.nodes.resize(2 * self.size, EMPTY);
        for (pos, (active, weight)) in loads.enumerate() {
            debug_assert!(weight > 0, "weights are at least 1");
            self.nodes[self.size + pos] = Load { active, weight };
        }
        for node in (1..self.size).rev() {
            self.nodes[node] = self.nodes[2 * node].min(self.nodes[2 * node + 1]);
        }
    }

    /// Sets the active count of candidate `pos`.
    #[inline]
    pub(crate) fn update(&mut self, pos: usize, active: u32) {
        if pos >= self.len {
            return;
        }
        self.nodes[self.size + pos].active = active;
        self.propagate(self.size + pos);
    }

    /// Sets the scaled weight of candidate `pos` (a ramping endpoint).
    #[inline]
    pub(crate) fn set_weight(&mut self, pos: usize, weight: u64) {
        if pos >= self.len || self.nodes[self.size + pos].weight == weight {
            return;
        }
        self.nodes[self.size + pos].weight = weight.max(1);
        self.propagate(self.size + pos);
    }

    fn propagate(&mut self, leaf: usize) {
        let mut node = leaf;
        while node > 1 {
            node /= 2;
            let min = self.nodes[2 * node].min(self.nodes[2 * node + 1]);
            if self.nodes[node] == min {
                // Nothing above can change either.
                break;
            }
            self.nodes[node] = min;
        }
    }

    /// The least-loaded candidate position, ties to the first one at or after
    /// `start`, else the first one from 0. `None` when empty.
    #[inline]
    pub(crate) fn pick(&self, start: usize) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let best = self.nodes[1];
        self.first_tied(1, 0, self.size, start, best)
            .or_else(|| self.first_tied(1, 0, self.size, 0, best))
    }

    /// The first leaf at or after `from` under `node` (covering `lo..hi`)
    /// whose load ties `best` (the global minimum, so a subtree holds such a
    /// leaf exactly when its own minimum ties it).
    fn first_tied(
        &self,
        node: usize,
        lo: usize,
        hi: usize,
        from: usize,
        best: Load,
    ) -> Option<usize> {
        if hi <= from || !self.nodes[node].ties(best) {
            return None;
        }
        if node >= self.size {
            return Some(node - self.size);
        }
        let mid = lo + (hi - lo) / 2;
        self.first_tied(2 * node, lo, mid, from, best)
            .or_else(|| self.first_tied(2 * node + 1, mid, hi, from, best))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The O(n) rule the index replaces: scan `start..n` then `0..start`, the
    /// first strict minimum of `active / weight` wins.
    fn scan(loads: &[(u32, u64)], start: usize) -> Option<usize> {
        let n = loads.len();
        let mut best: Option<(usize, Load)> = None;
        for pos in (start..n).chain(0..start) {
            let (active, weight) = loads[pos];
            let load = Load { active, weight };
            if best.is_none_or(|(_, b)| load.less(b)) {
                best = Some((pos, load));
            }
        }
        best.map(|(pos, _)| pos)
    }

    #[test]
    fn ties_go_to_the_first_at_or_after_start() {
        let loads = [(1, 1), (0, 1), (2, 1), (0, 1), (0, 1)];
        let mut index = LeastConnIndex::default();
        index.rebuild(loads.iter().copied());
        assert_eq!(index.pick(0), Some(1));
        assert_eq!(index.pick(2), Some(3));
        assert_eq!(index.pick(4), Some(4));
        index.update(1, 5);
        index.update(3, 5);
        index.update(4, 5);
        assert_eq!(index.pick(3), Some(0));
        assert_eq!(LeastConnIndex::default().pick(0), None);
    }

    #[test]
    fn weights_scale_the_load() {
        // 4 / 4 = 1 ties 1 / 1; 3 / 2 loses.
        let loads = [(3, 2), (4, 4), (1, 1)];
        let mut index = LeastConnIndex::default();
        index.rebuild(loads.iter().copied());
        assert_eq!(index.pick(0), Some(1));
        assert_eq!(index.pick(2), Some(2));
    }

    proptest! {
        #[test]
        fn index_matches_the_scan(
            initial in prop::collection::vec((0u32..6, 1u64..4), 1..70),
            updates in prop::collection::vec((any::<prop::sample::Index>(), 0u32..6), 0..40),
            start in any::<prop::sample::Index>(),
        ) {
            let mut loads = initial;
            let mut index = LeastConnIndex::default();
            index.rebuild(loads.iter().copied());
            for (pos, active) in updates {
                let pos = pos.index(loads.len());
                loads[pos].0 = active;
                index.update(pos, active);
                let start = start.index(loads.len());
                prop_assert_eq!(index.pick(start), scan(&loads, start));
            }
            let start = start.index(loads.len());
            prop_assert_eq!(index.pick(start), scan(&loads, start));
        }
    }
}

#[cfg(test)]
mod balancer_tests {
    use proptest::prelude::*;
    use rand_core::SeedableRng;
    use rand_pcg::Pcg64;

    use crate::balance::{Algorithm, Balancer, EndpointId, LoadBalancerConfig, SlowStartConfig};
    use crate::health::Health;
    use crate::time::{Span, Timestamp};

    /// One step of a random workload against a least-connections balancer.
    #[derive(Clone, Debug)]
    enum Step {
        Pick,
        End(prop::sample::Index),
        Weight(prop::sample::Index, u32),
        Health(prop::sample::Index, bool),
        Add(u32),
        Remove(prop::sample::Index),
        Panic(bool),
        Advance(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => Just(Step::Pick),
            5 => any::<prop::sample::Index>().prop_map(Step::End),
            1 => (any::<prop::sample::Index>(), 1u32..4).prop_map(|(i, w)| Step::Weight(i, w)),
            1 => (any::<prop::sample::Index>(), any::<bool>()).prop_map(|(i, h)| Step::Health(i, h)),
            1 => (1u32..4).prop_map(Step::Add),
            1 => any::<prop::sample::Index>().prop_map(Step::Remove),
            1 => any::<bool>().prop_map(Step::Panic),
            2 => (0u64..30).prop_map(Step::Advance),
        ]
    }

    /// Runs `steps` on a balancer that uses the index from `index_min`
    /// candidates on (with a slow start of `window_ms`, if any), returning
    /// every pick.
    fn run(
        n: u32,
        steps: &[Step],
        index_min: usize,
        seed: u64,
        window_ms: Option<u64>,
    ) -> Vec<Option<EndpointId>> {
        let spec = LoadBalancerConfig {
            algorithm: Algorithm::LeastConnections,
            slow_start: window_ms.map(|w| SlowStartConfig {
                window: Some(Span::from_millis(w)),
                aggression: Some(1.5),
                min_weight_percent: Some(5.0),
            }),
            ..LoadBalancerConfig::default()
        }
        .validate()
        .expect("valid");
        let mut lb = Balancer::new(&spec);
        lb.least_conn_index_min = index_min;
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut t = Timestamp::ZERO;
        let mut ids: Vec<EndpointId> = (0..n)
            .map(|_| lb.add_endpoint(t, 1, Health::Healthy).expect("room"))
            .collect();
        let mut in_flight: Vec<EndpointId> = Vec::new();
        let mut picks = Vec::new();
        for step in steps {
            match step {
                Step::Pick => {
                    let id = lb.pick(t, &mut rng);
                    if let Some(id) = id {
                        lb.handle_start(id);
                        in_flight.push(id);
                    }
                    picks.push(id);
                }
                Step::End(i) if !in_flight.is_empty() => {
                    let id = in_flight.swap_remove(i.index(in_flight.len()));
                    lb.handle_end(t, id, Span::from_millis(1));
                }
                Step::Weight(i, w) if !ids.is_empty() => {
                    lb.set_weight(ids[i.index(ids.len())], *w);
                }
                Step::Health(i, healthy) if !ids.is_empty() => {
                    let health = if *healthy {
                        Health::Healthy
                    } else {
                        Health::Unhealthy
                    };
                    lb.set_health(ids[i.index(ids.len())], health);
                }
                Step::Add(w) => ids.push(lb.add_endpoint(t, *w, Health::Healthy).expect("room")),
                Step::Remove(i) if !ids.is_empty() => {
                    lb.remove_endpoint(ids.swap_remove(i.index(ids.len())));
                }
                Step::Panic(on) => lb.set_panic(*on),
                Step::Advance(ms) => t += Span::from_millis(*ms),
                _ => {}
            }
        }
        picks
    }

    proptest! {
        /// The index picks exactly what the O(n) scan picks, through churn,
        /// weight, health and panic changes, and while endpoints ramp up.
        #[test]
        fn indexed_picks_equal_the_scan(
            n in 1u32..80,
            steps in prop::collection::vec(step(), 1..300),
            seed in any::<u64>(),
            window_ms in prop::option::of(1u64..400),
        ) {
            let scanned = run(n, &steps, usize::MAX, seed, window_ms);
            let indexed = run(n, &steps, 1, seed, window_ms);
            prop_assert_eq!(scanned, indexed);
        }
    }
}
