//! An open-addressing hash index from `u64` keys to node numbers.
//!
//! Linear probing over a power-of-two array of `u64` slots. A slot holds the
//! low 32 bits of the key's hash (its *tag*) in the high half and the node
//! number plus one in the low half; 0 is an empty slot. The tag gives the home
//! position (`tag & mask`, so tables up to 2^32 slots) and filters
//! mismatches without touching the node; growing rehashes from tags alone.
//! Deletion shifts the following run back (no tombstones), so probe lengths
//! never degrade. The load factor stays at or below 1/2.

/// The finaliser of MurmurHash3 (`fmix64`): a bijection on `u64` that mixes
/// every input bit into every output bit, so sequential or structured keys
/// spread evenly. Deterministic: never a randomly seeded hasher.
#[inline]
pub(crate) const fn mix(key: u64) -> u64 {
    let mut h = key;
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^= h >> 33;
    h
}

/// A key's tag: the low 32 bits of its [`mix`]. Computed once per request
/// and handed to every index operation on that key (a batch computes it
/// when it prefetches the key's slot, and its lookup and insert reuse it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tag(u32);

impl Tag {
    /// `key`'s tag.
    #[inline]
    pub(crate) const fn of(key: u64) -> Tag {
        Tag(mix(key) as u32)
    }

    /// The home slot of the tag in a table of `mask + 1` slots.
    #[inline]
    const fn home(self, mask: usize) -> usize {
        self.0 as usize & mask
    }
}

/// The hash index. Node numbers must be below `u32::MAX`.
#[derive(Debug)]
pub(crate) struct Index {
    slots: Vec<u64>,
    mask: usize,
    len: usize,
}

impl Clone for Index {
    fn clone(&self) -> Self {
        Index {
            slots: crate::hint::copied(&self.slots),
            mask: self.mask,
            len: self.len,
        }
    }
}

const EMPTY: u64 = 0;

impl Index {
    /// An index sized for `expected` keys without growing.
    pub(crate) fn with_capacity(expected: usize) -> Self {
        let n = (expected.max(4) * 2).next_power_of_two();
        Index {
            slots: crate::hint::filled(n, EMPTY),
            mask: n - 1,
            len: 0,
        }
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes held by the slot array.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<u64>()
    }

    /// The node of `key` (whose tag is `tag`); `key_of(node)` gives a
    /// node's key.
    #[inline]
    pub(crate) fn find(&self, tag: Tag, key: u64, key_of: impl Fn(u32) -> u64) -> Option<u32> {
        let mut i = tag.home(self.mask);
        let tag = tag.0;
        loop {
            let slot = self.slots[i];
            if slot == EMPTY {
                return None;
            }
            if (slot >> 32) as u32 == tag {
                let node = (slot as u32).wrapping_sub(1);
                if key_of(node) == key {
                    return Some(node);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Starts loading the home slot of a key with tag `tag` (see
    /// [`crate::hint::prefetch`]).
    #[inline]
    pub(crate) fn prefetch_home(&self, tag: Tag) {
        crate::hint::prefetch(&self.slots[tag.home(self.mask)]);
    }

    /// The node a slot in the run of a key with tag `tag` names with that
    /// tag, without
    /// checking the node's key: a guess for prefetching only (a tag collision
    /// gives another node, an absent key `None`). Looks at most at the first
    /// few slots of the run, which share a cache line.
    #[inline]
    pub(crate) fn guess(&self, tag: Tag) -> Option<u32> {
        let mut i = tag.home(self.mask);
        let tag = tag.0;
        for _ in 0..4 {
            let slot = self.slots[i];
            if slot == EMPTY {
                return None;
            }
            if (slot >> 32) as u32 == tag {
                return Some((slot as u32).wrapping_sub(1));
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// Adds `key -> node` for a key with tag `tag`; the key must be absent.
    #[inline]
    pub(crate) fn insert(&mut self, tag: Tag, node: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        self.place(tag.0, node);
        self.len += 1;
    }

    fn place(&mut self, tag: u32, node: u32) {
        let mut i = tag as usize & self.mask;
        while self.slots[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = (u64::from(tag) << 32) | u64::from(node + 1);
    }

    /// Removes the key with tag `tag`, which must map to `node`.
    #[inline]
    pub(crate) fn remove(&mut self, tag: Tag, node: u32) {
        let want = (u64::from(tag.0) << 32) | u64::from(node + 1);
        let mut i = tag.home(self.mask);
        while self.slots[i] != want {
            debug_assert_ne!(self.slots[i], EMPTY, "removing an absent key");
            i = (i + 1) & self.mask;
        }
        // Backward-shift deletion: pull later members of the run into the
        // hole when their home position allows it.
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let slot = self.slots[j];
            if slot == EMPTY {
                break;
            }
            let home = (slot >> 32) as usize & self.mask;
            // Distance from home to j versus from home to the hole (cyclic).
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.slots[hole] = slot;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
    }

    /// Empties the index, keeping its allocation.
    pub(crate) fn clear(&mut self) {
        self.slots.fill(EMPTY);
        self.len = 0;
    }

    fn grow(&mut self) {
        let bigger = crate::hint::filled(self.slots.len() * 2, EMPTY);
        let old = std::mem::replace(&mut self.slots, bigger);
        self.mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|&s| s != EMPTY) {
            self.place((slot >> 32) as u32, (slot as u32) - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_inserts_and_removes_with_backward_shift() {
        let mut idx = Index::with_capacity(4);
        let keys: Vec<u64> = (0..5000u64).map(|k| k * 7919).collect();
        for (n, &k) in keys.iter().enumerate() {
            idx.insert(Tag::of(k), n as u32);
        }
        let key_of = |n: u32| keys[n as usize];
        for (n, &k) in keys.iter().enumerate() {
            assert_eq!(idx.find(Tag::of(k), k, key_of), Some(n as u32));
        }
        assert_eq!(idx.find(Tag::of(1), 1, key_of), None);
        for (n, &k) in keys.iter().enumerate().filter(|(n, _)| n % 3 != 0) {
            idx.remove(Tag::of(k), n as u32);
        }
        for (n, &k) in keys.iter().enumerate() {
            let want = (n % 3 == 0).then_some(n as u32);
            assert_eq!(idx.find(Tag::of(k), k, key_of), want, "key {k}");
        }
        assert_eq!(idx.len(), keys.len().div_ceil(3));
        idx.clear();
        assert_eq!(idx.find(Tag::of(keys[0]), keys[0], key_of), None);
    }

    #[test]
    fn mix_is_murmur3_fmix64() {
        // fmix64(1), as computed by the MurmurHash3 reference.
        assert_eq!(mix(0), 0);
        assert_eq!(mix(1), 0xB456_BCFC_34C2_CB2C);
    }
}
