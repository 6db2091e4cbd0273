//! Cached objects in one flat array, linked into queues by index.
//!
//! A node is 32 bytes, aligned to 32 so that it never straddles two CPU cache
//! lines: key, expiry time, size, the previous and next node of its queue and
//! one word the algorithm uses (LFU: its frequency bucket; S3-FIFO:
//! its queue and 2-bit clock counter). Everything a lookup reads (key, expiry,
//! size, neighbours) is in that one line. Sizes are stored in 32 bits; the
//! rare object of 4 GiB or more keeps its size in a side table (`sizes.rs`).
//! Freed nodes form a free list through `next`, so after the high-water mark
//! nothing is allocated.

use crate::sizes::{self, BigSizes};

/// "No node".
pub(crate) const NIL: u32 = u32::MAX;

/// One cached object.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
pub(crate) struct Node {
    pub(crate) key: u64,
    /// When the entry expires, in nanoseconds (caches with a TTL; else 0).
    pub(crate) expiry_ns: u64,
    /// Size in bytes, or `sizes::BIG` (read it with [`Arena::size`]).
    size: u32,
    pub(crate) prev: u32,
    pub(crate) next: u32,
    pub(crate) aux: u32,
}

/// The node array and its free list.
#[derive(Clone, Debug, Default)]
pub(crate) struct Arena {
    pub(crate) nodes: Vec<Node>,
    /// Sizes of 4 GiB or more, by node number.
    big: BigSizes,
    free: u32,
    live: usize,
}

impl Arena {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Arena {
            nodes: Vec::with_capacity(n),
            big: BigSizes::default(),
            free: NIL,
            live: 0,
        }
    }

    /// A new unlinked node expiring at `expiry_ns`.
    #[inline]
    pub(crate) fn alloc(&mut self, key: u64, size: u64, expiry_ns: u64) -> u32 {
        let node = Node {
            key,
            expiry_ns,
            size: 0,
            prev: NIL,
            next: NIL,
            aux: 0,
        };
        self.live += 1;
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.nodes[i as usize].next;
            self.nodes[i as usize] = node;
            i
        } else {
            assert!(
                self.nodes.len() < NIL as usize,
                "more than 2^32 - 1 cached objects"
            );
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        };
        self.set_size(i, size);
        i
    }

    /// Returns an unlinked node to the free list.
    #[inline]
    pub(crate) fn free(&mut self, i: u32) {
        self.big.forget(self.nodes[i as usize].size, u64::from(i));
        self.nodes[i as usize].next = self.free;
        self.free = i;
        self.live -= 1;
    }

    /// Node `i`'s size in bytes.
    #[inline]
    pub(crate) fn size(&self, i: u32) -> u64 {
        self.big.get(self.nodes[i as usize].size, u64::from(i))
    }

    /// Whether node `i`'s size is `size` bytes.
    #[inline]
    pub(crate) fn has_size(&self, i: u32, size: u64) -> bool {
        sizes::holds(self.nodes[i as usize].size, size)
    }

    /// Sets node `i`'s size in bytes.
    #[inline]
    pub(crate) fn set_size(&mut self, i: u32, size: u64) {
        let field = &mut self.nodes[i as usize].size;
        self.big.set(field, u64::from(i), size);
    }

    pub(crate) fn clear(&mut self) {
        self.nodes.clear();
        self.big.clear();
        self.free = NIL;
        self.live = 0;
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.big.heap_bytes()
    }

    #[inline]
    pub(crate) fn get(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }
}

/// A doubly linked queue of nodes: `head` is the newest, `tail` the oldest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct List {
    pub(crate) head: u32,
    pub(crate) tail: u32,
}

impl Default for List {
    fn default() -> Self {
        List {
            head: NIL,
            tail: NIL,
        }
    }
}

impl List {
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// Links `i` in as the newest.
    #[inline]
    pub(crate) fn push_head(&mut self, arena: &mut Arena, i: u32) {
        let old = self.head;
        {
            let n = arena.get_mut(i);
            n.prev = NIL;
            n.next = old;
        }
        if old == NIL {
            self.tail = i;
        } else {
            arena.get_mut(old).prev = i;
        }
        self.head = i;
    }

    /// Unlinks `i`, which must be in this list.
    #[inline]
    pub(crate) fn unlink(&mut self, arena: &mut Arena, i: u32) {
        let Node { prev, next, .. } = *arena.get(i);
        if prev == NIL {
            self.head = next;
        } else {
            arena.get_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            arena.get_mut(next).prev = prev;
        }
    }

    /// Moves `i`, which must be in this list, to the head.
    #[inline]
    pub(crate) fn move_to_head(&mut self, arena: &mut Arena, i: u32) {
        if self.head != i {
            self.unlink(arena, i);
            self.push_head(arena, i);
        }
    }
}
