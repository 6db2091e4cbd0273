//! A slab with generational ids: where in-flight entities (requests) live.
//!
//! Inserting reuses the most recently freed slot, so memory stays flat however
//! long a run is: it is bounded by the peak number of live entries, not by
//! how many ever existed. Ids carry a generation, so an event that still
//! refers to a freed and reused slot (a stale timeout, say) is detected
//! instead of acting on the wrong entity.

/// A handle to a slab entry: slot index plus the slot's generation when the
/// entry was inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    index: u32,
    generation: u32,
}

impl Id {
    /// The slot index (stable while the entry lives).
    #[inline]
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The generation of the slot when this entry was inserted.
    #[inline]
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

/// A slot: its generation (advanced when its entry is removed), the next
/// vacant slot while it is vacant, and its entry while it is occupied.
///
/// The entry is an `Option` beside a fixed header, not one enum with the
/// header: inserting writes the entry into place and removing marks the slot
/// vacant without writing the entry over, so a caller that reads a few
/// fields of a removed entry moves only those (a record of the engine is
/// 100 to 150 bytes, and moving it in and out was about 70 instructions per
/// record).
#[derive(Clone, Debug)]
struct Slot<T> {
    generation: u32,
    next_free: u32,
    value: Option<T>,
}

const NONE: u32 = u32::MAX;

/// A generational slab of `T`, holding at most `u32::MAX - 1` live entries.
#[derive(Clone, Debug)]
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free_head: u32,
    len: usize,
}

/// The slab already holds its maximum number of entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabFull;

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slab<T> {
    /// An empty slab.
    pub const fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free_head: NONE,
            len: 0,
        }
    }

    /// An empty slab with room for `n` entries before it allocates.
    pub fn with_capacity(n: usize) -> Self {
        Slab {
            slots: Vec::with_capacity(n),
            free_head: NONE,
            len: 0,
        }
    }

    /// Number of live entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no live entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots ever allocated: the high-water mark of live entries.
    #[inline]
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Stores `value` and returns its id.
    #[inline]
    pub fn insert(&mut self, value: T) -> Result<Id, SlabFull> {
        self.insert_mut(value).map(|(id, _)| id)
    }

    /// Stores `value` and returns its id and the stored entry.
    #[inline]
    pub fn insert_mut(&mut self, value: T) -> Result<(Id, &mut T), SlabFull> {
        if self.free_head != NONE {
            let index = self.free_head;
            let slot = &mut self.slots[index as usize];
            debug_assert!(
                slot.value.is_none(),
                "the free list only links vacant slots"
            );
            self.free_head = slot.next_free;
            self.len += 1;
            let id = Id {
                index,
                generation: slot.generation,
            };
            return Ok((id, slot.value.insert(value)));
        }
        let index = u32::try_from(self.slots.len()).map_err(|_| SlabFull)?;
        if index == NONE {
            return Err(SlabFull);
        }
        self.slots.push(Slot {
            generation: 0,
            next_free: NONE,
            value: None,
        });
        self.len += 1;
        let slot = self.slots.last_mut().expect("just pushed");
        Ok((
            Id {
                index,
                generation: 0,
            },
            slot.value.insert(value),
        ))
    }

    /// The entry `id` refers to, if it is still live.
    #[inline]
    pub fn get(&self, id: Id) -> Option<&T> {
        match self.slots.get(id.index as usize) {
            Some(slot) if slot.generation == id.generation => slot.value.as_ref(),
            _ => None,
        }
    }

    /// The entry `id` refers to, mutably, if it is still live.
    #[inline]
    pub fn get_mut(&mut self, id: Id) -> Option<&mut T> {
        match self.slots.get_mut(id.index as usize) {
            Some(slot) if slot.generation == id.generation => slot.value.as_mut(),
            _ => None,
        }
    }

    /// Removes and returns the entry `id` refers to, if it is still live. The
    /// slot's generation advances, so `id` is stale from now on.
    #[inline]
    pub fn remove(&mut self, id: Id) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        slot.next_free = self.free_head;
        self.free_head = id.index;
        self.len -= 1;
        Some(value)
    }

    /// The live entries and their ids, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Id, &T)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, slot)| {
            slot.value.as_ref().map(|value| {
                (
                    Id {
                        index: i as u32,
                        generation: slot.generation,
                    },
                    value,
                )
            })
        })
    }

    /// Removes every entry and releases no memory; old ids become stale.
    pub fn clear(&mut self) {
        self.free_head = NONE;
        for (i, slot) in self.slots.iter_mut().enumerate().rev() {
            if slot.value.take().is_some() {
                slot.generation = slot.generation.wrapping_add(1);
            }
            slot.next_free = self.free_head;
            // Slots are at most u32::MAX - 1, see `insert`.
            self.free_head = i as u32;
        }
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_mut_hands_back_the_stored_entry_in_fresh_and_reused_slots() {
        let mut slab = Slab::new();
        let (a, entry) = slab.insert_mut(1).unwrap();
        *entry += 10;
        assert_eq!(slab.get(a), Some(&11));
        assert_eq!(slab.remove(a), Some(11));
        // The freed slot is reused under a new generation.
        let (b, entry) = slab.insert_mut(2).unwrap();
        *entry *= 3;
        assert_eq!(b.index(), a.index());
        assert_ne!(b, a);
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get(b), Some(&6));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn insert_get_remove() {
        let mut s = Slab::new();
        let a = s.insert(10u64).unwrap();
        let b = s.insert(20u64).unwrap();
        assert_eq!(s.get(a), Some(&10));
        assert_eq!(s.len(), 2);
        assert_eq!(s.remove(a), Some(10));
        assert_eq!(s.get(a), None, "stale id after removal");
        assert_eq!(s.remove(a), None, "double removal is detected");
        let c = s.insert(30).unwrap();
        assert_eq!(c.index(), a.index(), "freed slot is reused");
        assert_ne!(c.generation(), a.generation());
        assert_eq!(s.get(a), None, "old id does not see the new entry");
        assert_eq!(s.get(c), Some(&30));
        *s.get_mut(b).unwrap() += 1;
        assert_eq!(s.get(b), Some(&21));
    }

    #[test]
    fn memory_is_bounded_by_peak_live_entries() {
        let mut s = Slab::new();
        let mut live = std::collections::VecDeque::new();
        for i in 0..1_000_000u64 {
            live.push_back(s.insert(i).unwrap());
            if live.len() > 100 {
                let id = live.pop_front().unwrap();
                assert!(s.remove(id).is_some());
            }
        }
        assert_eq!(s.slots(), 101);
    }

    #[test]
    fn clear_invalidates_ids() {
        let mut s = Slab::new();
        let a = s.insert(1u8).unwrap();
        let b = s.insert(2u8).unwrap();
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(b), None);
        let c = s.insert(3).unwrap();
        assert_eq!(c.index(), 0);
        assert_eq!(s.get(c), Some(&3));
    }
    proptest::proptest! {
        /// Against a model: live ids resolve to their values, removed ids
        /// never resolve again (not even after their slot is reused), the
        /// most recently freed slot is reused first, and `iter` lists the
        /// live entries in slot order.
        #[test]
        fn agrees_with_a_model(ops in proptest::collection::vec((0u8..3, 0usize..64), 1..400)) {
            let mut slab = Slab::new();
            let mut live: Vec<(Id, u64)> = Vec::new();
            let mut dead: Vec<Id> = Vec::new();
            let mut freed: Vec<u32> = Vec::new();
            for (step, (op, pick)) in ops.into_iter().enumerate() {
                let value = step as u64;
                if op == 0 || live.is_empty() {
                    let id = slab.insert(value).unwrap();
                    if let Some(index) = freed.pop() {
                        proptest::prop_assert_eq!(id.index(), index);
                    }
                    live.push((id, value));
                } else if op == 1 {
                    let (id, v) = live.swap_remove(pick % live.len());
                    proptest::prop_assert_eq!(slab.remove(id), Some(v));
                    freed.push(id.index());
                    dead.push(id);
                } else {
                    let at = pick % live.len();
                    let (id, v) = live[at];
                    *slab.get_mut(id).unwrap() = v + 1_000_000;
                    live[at].1 = v + 1_000_000;
                }
                for &id in &dead {
                    proptest::prop_assert_eq!(slab.get(id), None);
                }
                for &(id, v) in &live {
                    proptest::prop_assert_eq!(slab.get(id), Some(&v));
                }
                proptest::prop_assert_eq!(slab.len(), live.len());
                let mut want: Vec<(Id, u64)> = live.clone();
                want.sort_by_key(|(id, _)| id.index());
                let got: Vec<(Id, u64)> = slab.iter().map(|(id, v)| (id, *v)).collect();
                proptest::prop_assert_eq!(got, want);
            }
        }
    }
}
