//! The keyed limiter's map from client ids to slot numbers: open addressing
//! over one flat array of 8-byte entries.
//!
//! A check of a client held in a map larger than the CPU caches waits on
//! memory for each line it touches. `std`'s `HashMap<u64, u32>` touches two
//! before the client's slot (a control-byte group, then the 16-byte bucket
//! elsewhere); here an entry holds the low 32 bits of the id's hash (its
//! *tag*) and the slot number plus one, so one line gives the slot and the
//! tag filters mismatches without reading other slots. The caller confirms
//! a tag match against the slot's client id (`client_of`).
//!
//! Linear probing over a power-of-two array at load factor at most 1/2; the
//! tag gives the home position, so growing rehashes from entries alone;
//! deletion shifts the following run back (no tombstones). Deterministic:
//! a fixed hash, and the map is only probed, never iterated for results.

/// The SplitMix64 finaliser: a fixed (unseeded) bijection on `u64` that
/// spreads sequential client ids.
#[inline]
fn mix(client: u64) -> u64 {
    let mut z = client.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const EMPTY: u64 = 0;

/// Client id -> slot number (below `u32::MAX`).
#[derive(Clone, Debug, Default)]
pub(super) struct ClientIndex {
    /// Empty until the first insert; then a power of two at least 8.
    entries: Vec<u64>,
    len: usize,
}

impl ClientIndex {
    /// An empty index with room for `keys` clients without growing (none
    /// for 0).
    pub(super) fn with_capacity(keys: usize) -> Self {
        ClientIndex {
            entries: if keys == 0 {
                Vec::new()
            } else {
                vec![EMPTY; keys.saturating_mul(2).next_power_of_two().max(8)]
            },
            len: 0,
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.entries.len().wrapping_sub(1)
    }

    /// The slot of `client`; `client_of(slot)` gives a slot's client id.
    #[inline]
    pub(super) fn get(&self, client: u64, client_of: impl Fn(u32) -> u64) -> Option<u32> {
        self.probe(client, |slot| client_of(slot) == client)
    }

    /// The slot of the first entry on `client`'s probe path whose tag
    /// matches and that `accept` takes.
    #[inline]
    fn probe(&self, client: u64, accept: impl Fn(u32) -> bool) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let tag = mix(client) as u32;
        let mask = self.mask();
        let mut i = tag as usize & mask;
        loop {
            let entry = self.entries[i];
            if entry == EMPTY {
                return None;
            }
            if (entry >> 32) as u32 == tag {
                let slot = (entry as u32).wrapping_sub(1);
                if accept(slot) {
                    return Some(slot);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Where a lookup of `client` reads first: its home entry (none while
    /// the index is empty). See [`super::Keyed::memory_for`].
    #[inline]
    pub(super) fn home_entry(&self, client: u64) -> Option<&u64> {
        if self.len == 0 {
            return None;
        }
        let home = mix(client) as u32 as usize & self.mask();
        Some(&self.entries[home])
    }

    /// The slot of the first entry on `client`'s probe path whose tag
    /// matches (usually its slot; another client's on a tag collision),
    /// without reading any slot to confirm it: for a prefetch.
    #[inline]
    pub(super) fn slot_guess(&self, client: u64) -> Option<u32> {
        self.probe(client, |_| true)
    }

    /// The addresses of the entries (tests).
    #[cfg(test)]
    pub(super) fn entries_range(&self) -> std::ops::Range<usize> {
        let r = self.entries.as_ptr_range();
        r.start as usize..r.end as usize
    }

    /// Adds `client -> slot`; the client must be absent.
    pub(super) fn insert(&mut self, client: u64, slot: u32) {
        debug_assert!(slot < u32::MAX);
        if (self.len + 1) * 2 > self.entries.len() {
            self.grow();
        }
        self.place(mix(client) as u32, slot);
        self.len += 1;
    }

    fn place(&mut self, tag: u32, slot: u32) {
        let mask = self.mask();
        let mut i = tag as usize & mask;
        while self.entries[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.entries[i] = (u64::from(tag) << 32) | u64::from(slot + 1);
    }

    /// Removes `client`, which must map to `slot`.
    pub(super) fn remove(&mut self, client: u64, slot: u32) {
        let tag = mix(client) as u32;
        let want = (u64::from(tag) << 32) | u64::from(slot + 1);
        let mask = self.mask();
        let mut i = tag as usize & mask;
        while self.entries[i] != want {
            if self.entries[i] == EMPTY {
                // Absent: a caller bug, but never an endless probe.
                debug_assert!(false, "removing an absent client");
                return;
            }
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: pull later members of the run into the
        // hole when their home position allows it.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let entry = self.entries[j];
            if entry == EMPTY {
                break;
            }
            let home = (entry >> 32) as usize & mask;
            // Distance from home to j versus from home to the hole (cyclic).
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.entries[hole] = entry;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.entries[hole] = EMPTY;
        self.len -= 1;
    }

    fn grow(&mut self) {
        let bigger = vec![EMPTY; (self.entries.len() * 2).max(8)];
        let old = std::mem::replace(&mut self.entries, bigger);
        for entry in old.into_iter().filter(|&e| e != EMPTY) {
            self.place((entry >> 32) as u32, (entry as u32) - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a `BTreeMap` on a random sequence of inserts and removes
    /// (clients that collide in their home position included: a small key
    /// space in a table that grows from 8 entries).
    #[test]
    fn agrees_with_a_btreemap() {
        use std::collections::BTreeMap;
        let mut index = ClientIndex::default();
        let mut model: BTreeMap<u64, u32> = BTreeMap::new();
        // slot -> client, as the keyed limiter's slots.
        let mut clients: Vec<u64> = Vec::new();
        let mut free: Vec<u32> = Vec::new();
        let mut x = 0x1234_5678_9ABC_DEF0u64;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let client = x % 3000;
            let got = index.get(client, |s| clients[s as usize]);
            assert_eq!(got, model.get(&client).copied(), "step {step}");
            match got {
                Some(slot) if x.is_multiple_of(3) => {
                    index.remove(client, slot);
                    model.remove(&client);
                    free.push(slot);
                }
                Some(_) => {}
                None => {
                    let slot = free.pop().unwrap_or_else(|| {
                        clients.push(0);
                        (clients.len() - 1) as u32
                    });
                    clients[slot as usize] = client;
                    index.insert(client, slot);
                    model.insert(client, slot);
                }
            }
            assert_eq!(index.len, model.len());
            assert!(index.len * 2 <= index.entries.len());
        }
        for (&client, &slot) in &model {
            assert_eq!(index.get(client, |s| clients[s as usize]), Some(slot));
        }
    }

    /// A presized index takes its keys without growing, and one sized for
    /// no keys is the empty default.
    #[test]
    fn with_capacity_holds_its_keys_without_growing() {
        assert!(ClientIndex::with_capacity(0).entries.is_empty());
        for keys in [1usize, 3, 4, 1000, 4096] {
            let mut index = ClientIndex::with_capacity(keys);
            let size = index.entries.len();
            assert!(size >= 2 * keys && size.is_power_of_two() && size >= 8);
            let clients: Vec<u64> = (0..keys as u64).map(|k| k * 7919 + 3).collect();
            for (slot, &client) in clients.iter().enumerate() {
                index.insert(client, slot as u32);
            }
            assert_eq!(index.entries.len(), size, "{keys} keys grew the index");
            for (slot, &client) in clients.iter().enumerate() {
                assert_eq!(
                    index.get(client, |s| clients[s as usize]),
                    Some(slot as u32)
                );
            }
            assert_eq!(index.get(1, |s| clients[s as usize]), None);
        }
    }
}
