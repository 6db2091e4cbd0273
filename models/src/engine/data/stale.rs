//! Stale reads (`runs.csv`'s `stale_read_ratio`): which cache entries hold
//! a value older than the last committed write of their key.
//!
//! A write commits when its work ends at the primary. At that instant every
//! cache copy that holds the key (each tier's copies of the store, every
//! instance's in-process one, and the edge caches) holds an outdated value:
//! its entry is *marked*. The writer's own answer then invalidates its
//! instance copy and every shared copy, which removes those entries and
//! their marks; the other instances' in-process copies and the edge caches
//! keep serving the old value until their TTL or eviction, as real ones do.
//! A fill sets or clears the mark of the entry it writes: it is stale when
//! the value it stores was already outdated, either because the read that
//! fetched it was (a stale tier hit, a replica that had not applied a
//! shipped write of the key) or because a write of the key committed after
//! the value was read and before the fill (the invalidate-then-fill race).
//! The edge keeps a request's answer when the request ends: outdated if a
//! read of it was, or if a write of the key committed after the request's
//! earliest read read its value (`Request::first_read`; an answer that read
//! no data, after the request arrived).
//!
//! The marks are exact without hooks into the cache library: an entry that
//! is evicted or expires keeps its mark here, but no lookup can hit it
//! again before a fill of the same key in the same copy sets or clears it.
//! Copies are named by store, tier and copy index (an instance copy by its
//! slab slot, so a new instance in the slot finds marks only where its own
//! fills put them, for the same reason).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use headroom_sim::Timestamp;

use super::KeyHasher;
use crate::plan::data::mix64;

type Build = BuildHasherDefault<KeyHasher>;

/// A key in a copy (a mark), or in a store (a commit): hashed as one word,
/// so that [`KeyHasher`] mixes once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    place: u64,
    key: u64,
}

impl Entry {
    /// `key` of `store`, as [`Staleness::last_commit`] names it.
    #[inline]
    fn written(store: usize, key: u64) -> Entry {
        Entry {
            place: store as u64,
            key,
        }
    }

    #[inline]
    fn word(self) -> u64 {
        self.key ^ self.place.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

impl Hash for Entry {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.word());
    }
}

/// Slots of [`Staleness::recent`]: a power of two.
const RECENT: usize = 1 << 14;

/// The marks, and the last commit of each written key.
#[derive(Clone)]
pub(super) struct Staleness {
    /// Every entry marked stale: its copy ([`tier_copy`], [`edge_copy`])
    /// and key; a shared tier's copies apart (`shared`), as their marks
    /// last only from a commit to the writer's invalidation, or after a
    /// fill that raced a write: a small set that stays in the CPU's caches
    /// for the fills of the shared tiers, while the in-process and edge
    /// copies keep theirs until their TTL.
    marked: HashSet<Entry, Build>,
    shared: HashSet<Entry, Build>,
    /// Every key written so far in the run, by store, and when its last
    /// write committed at the primary (the warm start needs none: its
    /// fills follow their reads at once).
    last_commit: HashMap<Entry, Timestamp, Build>,
    /// The latest commit of any key whose hash falls in each slot: a fill
    /// read after it needs no lookup in `last_commit` (nearly every fill,
    /// in a table that stays in the CPU's caches).
    recent: Box<[Timestamp]>,
    /// How many marks, and how many commits, make the next prune due
    /// ([`Staleness::prune_marks`], [`Staleness::prune_commits`]): twice
    /// as many as the last one left, so that each entry is looked at a
    /// bounded number of times and the sets stay within twice what can
    /// still matter.
    marks_due: usize,
    commits_due: usize,
}

/// Below this many entries a set is never pruned.
const PRUNE_FLOOR: usize = 1 << 12;

/// How many entries make the next prune due, after one that left `left`:
/// twice as many. A test can make it never or often on its thread, to
/// check that pruning changes nothing.
fn next_prune(left: usize) -> usize {
    #[cfg(test)]
    match PRUNING.get() {
        Pruning::Never => return usize::MAX,
        Pruning::Often => return left + 64,
        Pruning::Doubling => {}
    }
    (2 * left).max(PRUNE_FLOOR)
}

/// When [`Staleness`] values made on a thread prune (tests).
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::engine) enum Pruning {
    Doubling,
    Never,
    /// Every 64 new entries.
    Often,
}

#[cfg(test)]
thread_local! {
    pub(in crate::engine) static PRUNING: std::cell::Cell<Pruning> =
        const { std::cell::Cell::new(Pruning::Doubling) };
}

impl Default for Staleness {
    fn default() -> Self {
        Staleness {
            marked: HashSet::default(),
            shared: HashSet::default(),
            last_commit: HashMap::default(),
            recent: vec![Timestamp::ZERO; RECENT].into_boxed_slice(),
            marks_due: next_prune(0),
            commits_due: next_prune(0),
        }
    }
}

impl Staleness {
    /// Whether the entry of `key` in `copy` holds an outdated value.
    #[inline]
    pub(super) fn holds(&self, copy: u64, key: u64) -> bool {
        let set = self.set_of(copy);
        !set.is_empty() && set.contains(&Entry { place: copy, key })
    }

    /// The set that holds the marks of `copy`'s entries.
    #[inline]
    fn set_of(&self, copy: u64) -> &HashSet<Entry, Build> {
        if copy & SHARED != 0 {
            &self.shared
        } else {
            &self.marked
        }
    }

    #[inline]
    fn set_of_mut(&mut self, copy: u64) -> &mut HashSet<Entry, Build> {
        if copy & SHARED != 0 {
            &mut self.shared
        } else {
            &mut self.marked
        }
    }

    /// The entry of `key` in `copy` was just filled (`stale`: with an
    /// outdated value), or removed (`stale = false`).
    #[inline]
    pub(super) fn set(&mut self, copy: u64, key: u64, stale: bool) {
        let entry = Entry { place: copy, key };
        let set = self.set_of_mut(copy);
        if stale {
            set.insert(entry);
        } else if !set.is_empty() {
            set.remove(&entry);
        }
    }

    /// Marks the entry of `key` in `copy`: a write of it committed.
    #[inline]
    pub(super) fn mark(&mut self, copy: u64, key: u64) {
        self.set_of_mut(copy).insert(Entry { place: copy, key });
    }

    /// A write of `key` to `store` committed at `now`.
    pub(super) fn commit(&mut self, store: usize, key: u64, now: Timestamp) {
        let entry = Entry::written(store, key);
        self.last_commit.insert(entry, now);
        let slot = recent_slot(entry);
        self.recent[slot] = self.recent[slot].max(now);
    }

    /// Whether a write of `key` to `store` committed after `at`.
    #[inline]
    pub(super) fn committed_after(&self, store: usize, key: u64, at: Timestamp) -> bool {
        let entry = Entry::written(store, key);
        self.recent[recent_slot(entry)] > at
            && self.last_commit.get(&entry).is_some_and(|&t| t > at)
    }

    /// Whether the marks have doubled since the last prune.
    #[inline]
    pub(super) fn marks_due(&self) -> bool {
        self.marked.len() + self.shared.len() >= self.marks_due
    }

    /// Drops the marks of entries their copy no longer holds: `holds(copy,
    /// key)`, whether `copy` still has an entry of `key` (fresh or not).
    /// Exact: a mark is only read on a hit, and an entry that left its
    /// copy can only be hit again after a fill, which sets or clears its
    /// mark. So the marks stay within the caches' capacities, however
    /// long the run.
    pub(super) fn prune_marks(&mut self, mut holds: impl FnMut(CopyName, u64) -> bool) {
        let mut keep = |e: &Entry| holds(CopyName::of(e.place), e.key);
        self.marked.retain(&mut keep);
        self.shared.retain(&mut keep);
        self.marks_due = next_prune(self.marked.len() + self.shared.len());
    }

    /// Whether the commits have doubled since the last prune.
    #[inline]
    pub(super) fn commits_due(&self) -> bool {
        self.last_commit.len() >= self.commits_due
    }

    /// Forgets every commit at or before `horizon`, a time no later than
    /// any value still to be asked about ([`Staleness::committed_after`]'s
    /// `at`: the earliest read of a request or an operation in flight).
    /// Exact: a key whose last commit was forgotten committed at or before
    /// `horizon`, so not after any such `at`. So the commits stay within
    /// the keys written since the oldest read in flight, not every key
    /// ever written.
    pub(super) fn prune_commits(&mut self, horizon: Timestamp) {
        self.last_commit.retain(|_, t| *t > horizon);
        self.commits_due = next_prune(self.last_commit.len());
    }

    /// Heap bytes held (a hash table's slots and control bytes).
    pub(super) fn heap_bytes(&self) -> usize {
        let slot = |bytes: usize, capacity: usize| capacity * (bytes + 1);
        slot(size_of::<Entry>(), self.marked.capacity())
            + slot(size_of::<Entry>(), self.shared.capacity())
            + slot(size_of::<(Entry, Timestamp)>(), self.last_commit.capacity())
            + size_of_val(&*self.recent)
    }

    /// How many entries are marked (for tests).
    #[cfg(test)]
    pub(super) fn marked(&self) -> usize {
        self.marked.len() + self.shared.len()
    }

    /// How many commits are remembered (for tests).
    #[cfg(test)]
    pub(super) fn commits(&self) -> usize {
        self.last_commit.len()
    }
}

/// `entry`'s slot in [`Staleness::recent`].
#[inline]
fn recent_slot(entry: Entry) -> usize {
    (mix64(entry.word()) as usize) & (RECENT - 1)
}

/// [`tier_copy`]'s bit of a shared tier's copy.
const SHARED: u64 = 1 << 63;

/// [`edge_copy`]'s bits above the region's.
const EDGE: u64 = (u32::MAX >> 1) as u64;

/// A copy's name, read back ([`Staleness::prune_marks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CopyName {
    /// Copy `index` of `store`'s tier `tier` ([`tier_copy`]).
    Tier {
        store: usize,
        tier: usize,
        index: usize,
    },
    /// The edge cache of a region ([`edge_copy`]).
    Edge(usize),
}

impl CopyName {
    fn of(name: u64) -> CopyName {
        let index = (name & u64::from(u32::MAX)) as usize;
        if name >> 32 == EDGE {
            return CopyName::Edge(index);
        }
        CopyName::Tier {
            store: ((name & !SHARED) >> 40) as usize,
            tier: ((name >> 32) & 0xff) as usize,
            index,
        }
    }
}

/// The name of copy `index` of `store`'s tier `tier` (an instance copy's
/// index is its instance's slab slot; a `shared` copy's, its region's, or
/// 0 for the global one).
#[inline]
pub(super) fn tier_copy(store: usize, tier: usize, index: usize, shared: bool) -> u64 {
    let shared = if shared { SHARED } else { 0 };
    shared | ((store as u64) << 40) | ((tier as u64) << 32) | index as u64
}

/// The name of the edge cache of region `region`.
#[inline]
pub(super) fn edge_copy(region: usize) -> u64 {
    // Above every tier copy's store and tier bits, below `SHARED`.
    (EDGE << 32) | region as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_sets_or_clears_the_mark_of_its_entry() {
        let mut s = Staleness::default();
        let c = tier_copy(0, 1, 3, false);
        assert!(!s.holds(c, 7));
        s.mark(c, 7);
        assert!(s.holds(c, 7));
        assert!(!s.holds(c, 8), "another key");
        assert!(!s.holds(tier_copy(0, 1, 4, false), 7), "another copy");
        assert!(!s.holds(edge_copy(3), 7), "the edge copy of the same index");
        assert!(!s.holds(tier_copy(0, 1, 3, true), 7), "a shared copy");
        let shared = tier_copy(0, 2, 0, true);
        s.mark(shared, 7);
        assert!(s.holds(shared, 7) && s.holds(c, 7));
        s.set(shared, 7, false);
        assert!(!s.holds(shared, 7) && s.holds(c, 7));
        s.set(c, 7, false);
        assert!(!s.holds(c, 7));
        s.set(c, 7, true);
        assert!(s.holds(c, 7));
        assert_eq!(s.marked(), 1);
    }

    #[test]
    fn a_copy_name_reads_back() {
        for (store, tier, index) in [(0, 0, 0), (3, 2, 17), (200, 63, 1 << 20)] {
            let tier_of = CopyName::Tier { store, tier, index };
            assert_eq!(CopyName::of(tier_copy(store, tier, index, false)), tier_of);
            assert_eq!(CopyName::of(tier_copy(store, tier, index, true)), tier_of);
        }
        assert_eq!(CopyName::of(edge_copy(0)), CopyName::Edge(0));
        assert_eq!(CopyName::of(edge_copy(9)), CopyName::Edge(9));
    }

    #[test]
    fn a_prune_drops_the_marks_of_entries_no_longer_held() {
        let mut s = Staleness::default();
        let (a, b) = (tier_copy(0, 0, 1, false), tier_copy(0, 1, 0, true));
        for key in 0..3000 {
            s.mark(a, key);
            s.mark(b, key);
        }
        s.mark(edge_copy(2), 5);
        assert!(s.marks_due(), "6001 marks: due at {PRUNE_FLOOR}");
        // Copy `a` holds the even keys, `b` the first hundred, the edge none.
        s.prune_marks(|copy, key| match copy {
            CopyName::Tier {
                tier: 0, index: 1, ..
            } => key % 2 == 0,
            CopyName::Tier {
                tier: 1, index: 0, ..
            } => key < 100,
            _ => false,
        });
        assert_eq!(s.marked(), 1500 + 100);
        assert!(s.holds(a, 4) && !s.holds(a, 5) && s.holds(b, 99) && !s.holds(b, 100));
        assert!(!s.holds(edge_copy(2), 5));
        assert!(!s.marks_due(), "the next prune waits for {PRUNE_FLOOR}");
    }

    #[test]
    fn a_prune_forgets_only_commits_no_read_in_flight_can_follow() {
        let mut s = Staleness::default();
        let t = |ms: u64| Timestamp::from_nanos(ms * 1_000_000);
        for key in 0..5000 {
            s.commit(0, key, t(key));
        }
        assert!(s.commits_due());
        // Every read still in flight read at 4000 ms or later.
        let asked = |s: &Staleness| -> Vec<bool> {
            (0..5000)
                .flat_map(|key| [4000, 4500, 4999].map(|at| s.committed_after(0, key, t(at))))
                .collect()
        };
        let before = asked(&s);
        s.prune_commits(t(4000));
        assert_eq!(s.commits(), 999, "the commits after 4000 ms");
        assert_eq!(asked(&s), before, "every answer at or after the horizon");
        assert!(!s.commits_due(), "the next prune waits for {PRUNE_FLOOR}");
    }

    #[test]
    fn a_value_read_before_a_commit_is_outdated() {
        let mut s = Staleness::default();
        let t = |ms: u64| Timestamp::from_nanos(ms * 1_000_000);
        assert!(!s.committed_after(0, 5, t(0)));
        s.commit(0, 5, t(10));
        assert!(s.committed_after(0, 5, t(9)));
        assert!(
            !s.committed_after(0, 5, t(10)),
            "read at the commit sees it"
        );
        assert!(!s.committed_after(1, 5, t(9)), "another store's key");
        s.commit(0, 5, t(20));
        assert!(s.committed_after(0, 5, t(15)), "the last commit counts");
    }
}
