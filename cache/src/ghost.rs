//! S3-FIFO's ghost queue: a FIFO of recently evicted keys (no data), bounded
//! by the same units as the cache (bytes or items), as libCacheSim's
//! `FIFO-ghost`.

use crate::arena::{Arena, List, NIL};
use crate::index::{Index, Tag};

#[derive(Clone, Debug)]
pub(crate) struct Ghost {
    index: Index,
    arena: Arena,
    fifo: List,
    used: u64,
    capacity: u64,
}

impl Ghost {
    pub(crate) fn new(capacity: u64, expected_items: usize) -> Self {
        Ghost {
            index: Index::with_capacity(expected_items),
            arena: Arena::with_capacity(expected_items),
            fifo: List::default(),
            used: 0,
            capacity,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.index.heap_bytes() + self.arena.heap_bytes()
    }

    /// Forgets `key` (whose tag is `tag`); true if it was remembered (a
    /// ghost hit).
    pub(crate) fn remove(&mut self, tag: Tag, key: u64) -> bool {
        let arena = &self.arena;
        let Some(i) = self.index.find(tag, key, |n| arena.get(n).key) else {
            return false;
        };
        self.index.remove(tag, i);
        self.fifo.unlink(&mut self.arena, i);
        self.used -= self.arena.size(i);
        self.arena.free(i);
        true
    }

    /// Remembers `key` of `weight` as the newest, forgetting the oldest keys
    /// to make room; a key already remembered or heavier than the whole
    /// queue is left as is (libCacheSim's `ghost->get`).
    pub(crate) fn add(&mut self, key: u64, weight: u64) {
        let arena = &self.arena;
        let tag = Tag::of(key);
        if weight > self.capacity || self.index.find(tag, key, |n| arena.get(n).key).is_some() {
            return;
        }
        while self.used + weight > self.capacity {
            let oldest = self.fifo.tail;
            debug_assert_ne!(oldest, NIL);
            let old_key = self.arena.get(oldest).key;
            self.remove(Tag::of(old_key), old_key);
        }
        let i = self.arena.alloc(key, weight, 0);
        self.index.insert(tag, i);
        self.fifo.push_head(&mut self.arena, i);
        self.used += weight;
    }

    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.arena.clear();
        self.fifo = List::default();
        self.used = 0;
    }
}
