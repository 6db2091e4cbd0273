//! Earliest-deadline-first scheduler for weighted picks (Envoy's
//! `EdfScheduler`): an entry of weight `w` added at virtual time `t` is due at
//! `t + 1/w`; a pick pops the earliest deadline (ties: earliest added) and
//! advances virtual time to it.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Smallest weight the scheduler accepts; lower weights are raised to it so
/// deadlines stay finite.
const MIN_WEIGHT: f64 = 1e-9;

#[derive(Clone, Copy, Debug)]
struct Entry {
    deadline: f64,
    seq: u64,
    slot: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed so that `BinaryHeap` (a max-heap) pops the earliest deadline,
    /// then the earliest insertion.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .deadline
            .total_cmp(&self.deadline)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// An EDF schedule over endpoint slots.
#[derive(Clone, Debug, Default)]
pub(crate) struct Edf {
    heap: BinaryHeap<Entry>,
    now: f64,
    seq: u64,
}

impl Edf {
    /// Empties the schedule and restarts virtual time.
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        self.now = 0.0;
        self.seq = 0;
    }

    /// Adds `slot` with `weight`, due at `now + 1/weight`.
    pub(crate) fn add(&mut self, slot: u32, weight: f64) {
        let deadline = self.now + 1.0 / weight.max(MIN_WEIGHT);
        self.heap.push(Entry {
            deadline,
            seq: self.seq,
            slot,
        });
        self.seq += 1;
    }

    /// Pops the earliest entry and re-adds it with the weight `weight_of`
    /// returns for it now; returns its slot, or `None` if empty.
    #[inline]
    pub(crate) fn pick_and_add(&mut self, weight_of: impl FnOnce(u32) -> f64) -> Option<u32> {
        let top = self.heap.pop()?;
        self.now = top.deadline;
        let weight = weight_of(top.slot);
        self.add(top.slot, weight);
        Some(top.slot)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_in_proportion_to_weight() {
        let weights = [5.0, 1.0, 1.0];
        let mut edf = Edf::default();
        for (slot, w) in weights.iter().enumerate() {
            edf.add(slot as u32, *w);
        }
        let picks: Vec<u32> = (0..14)
            .map(|_| {
                edf.pick_and_add(|s| weights[s as usize])
                    .unwrap_or(u32::MAX)
            })
            .collect();
        let count = |s| picks.iter().filter(|&&p| p == s).count();
        assert_eq!((count(0), count(1), count(2)), (10, 2, 2));
        // Deterministic order: slot 0 at 0.2, 0.4, 0.6, 0.8; ties at 1.0 go to
        // the earliest added entry.
        assert_eq!(&picks[..7], &[0, 0, 0, 0, 1, 2, 0]);
    }

    #[test]
    fn empty_schedule_picks_nothing() {
        let mut edf = Edf::default();
        assert_eq!(edf.pick_and_add(|_| 1.0), None);
        assert_eq!(edf.len(), 0);
    }
}
