//! LFU's frequency classes: a list of buckets in increasing frequency, each
//! holding its objects in the order they reached that frequency.
//!
//! This is libCacheSim's `LFU.c` in O(1) per operation: an object is
//! inserted with frequency 1 at the tail of the frequency-1 class; a hit
//! moves it to the tail of the next class; eviction takes the head of the
//! lowest non-empty class. **Tie rule:** among the least frequently used
//! objects, the one that reached that frequency earliest is evicted (FIFO
//! within a frequency class). Frequencies count hits since insertion and are
//! forgotten on eviction ("in-cache LFU"; no aging).

use crate::arena::{Arena, List, NIL};

#[derive(Clone, Copy, Debug)]
struct Bucket {
    freq: u64,
    objects: List,
    prev: u32,
    next: u32,
}

/// The frequency classes. A node's `aux` is its bucket.
#[derive(Clone, Debug)]
pub(crate) struct Lfu {
    buckets: Vec<Bucket>,
    free: u32,
    /// The lowest-frequency bucket (buckets are never empty).
    first: u32,
}

impl Default for Lfu {
    fn default() -> Self {
        Lfu {
            buckets: Vec::new(),
            free: NIL,
            first: NIL,
        }
    }
}

impl Lfu {
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }

    pub(crate) fn clear(&mut self) {
        self.buckets.clear();
        self.free = NIL;
        self.first = NIL;
    }

    /// Frequency of node `i`.
    #[cfg(test)]
    pub(crate) fn freq(&self, arena: &Arena, i: u32) -> u64 {
        self.buckets[arena.get(i).aux as usize].freq
    }

    /// Adds a new object with frequency 1.
    pub(crate) fn insert(&mut self, arena: &mut Arena, i: u32) {
        let b = if self.first != NIL && self.buckets[self.first as usize].freq == 1 {
            self.first
        } else {
            self.new_bucket(1, NIL, self.first)
        };
        self.append(arena, b, i);
    }

    /// Counts a hit on node `i`.
    pub(crate) fn hit(&mut self, arena: &mut Arena, i: u32) {
        let b = arena.get(i).aux;
        let Bucket { freq, next, .. } = self.buckets[b as usize];
        let target = if next != NIL && self.buckets[next as usize].freq == freq + 1 {
            next
        } else {
            self.new_bucket(freq + 1, b, next)
        };
        self.detach(arena, b, i);
        self.append(arena, target, i);
    }

    /// The object to evict: the oldest of the lowest frequency.
    pub(crate) fn victim(&self) -> Option<u32> {
        (self.first != NIL).then(|| self.buckets[self.first as usize].objects.tail)
    }

    /// Removes node `i` (evicted or deleted).
    pub(crate) fn remove(&mut self, arena: &mut Arena, i: u32) {
        let b = arena.get(i).aux;
        self.detach(arena, b, i);
    }

    /// Objects are appended at the list's *tail end*, read as "newest":
    /// `List::push_head` is newest, so the victim is `objects.tail`.
    fn append(&mut self, arena: &mut Arena, b: u32, i: u32) {
        arena.get_mut(i).aux = b;
        self.buckets[b as usize].objects.push_head(arena, i);
    }

    fn detach(&mut self, arena: &mut Arena, b: u32, i: u32) {
        let bucket = &mut self.buckets[b as usize];
        bucket.objects.unlink(arena, i);
        if bucket.objects.is_empty() {
            let Bucket { prev, next, .. } = *bucket;
            if prev == NIL {
                self.first = next;
            } else {
                self.buckets[prev as usize].next = next;
            }
            if next != NIL {
                self.buckets[next as usize].prev = prev;
            }
            self.buckets[b as usize].next = self.free;
            self.free = b;
        }
    }

    fn new_bucket(&mut self, freq: u64, prev: u32, next: u32) -> u32 {
        let bucket = Bucket {
            freq,
            objects: List::default(),
            prev,
            next,
        };
        let b = if self.free != NIL {
            let b = self.free;
            self.free = self.buckets[b as usize].next;
            self.buckets[b as usize] = bucket;
            b
        } else {
            self.buckets.push(bucket);
            (self.buckets.len() - 1) as u32
        };
        if prev == NIL {
            self.first = b;
        } else {
            self.buckets[prev as usize].next = b;
        }
        if next != NIL {
            self.buckets[next as usize].prev = b;
        }
        b
    }
}
