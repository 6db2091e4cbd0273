//! Cached objects in one flat array, linked into queues by index.
//!
//! A node is 32 bytes: key, size, the previous and next node of its queue and
//! one word the algorithm uses (LFU: its frequency bucket; S3-FIFO: its
//! queue and 2-bit clock counter). Freed nodes form a free list through
//! `next`, so after the high-water mark nothing is allocated.

/// "No node".
pub(crate) const NIL: u32 = u32::MAX;

/// One cached object.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub(crate) key: u64,
    pub(crate) size: u64,
    pub(crate) prev: u32,
    pub(crate) next: u32,
    pub(crate) aux: u32,
}

/// The node array and its free list.
#[derive(Clone, Debug, Default)]
pub(crate) struct Arena {
    pub(crate) nodes: Vec<Node>,
    free: u32,
    live: usize,
}

impl Arena {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Arena {
            nodes: Vec::with_capacity(n),
            free: NIL,
            live: 0,
        }
    }

    /// A new unlinked node.
    #[inline]
    pub(crate) fn alloc(&mut self, key: u64, size: u64) -> u32 {
        let node = Node {
            key,
            size,
            prev: NIL,
            next: NIL,
            aux: 0,
        };
        self.live += 1;
        if self.free != NIL {
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
        }
    }

    /// Returns an unlinked node to the free list.
    #[inline]
    pub(crate) fn free(&mut self, i: u32) {
        self.nodes[i as usize].next = self.free;
        self.free = i;
        self.live -= 1;
    }

    pub(crate) fn clear(&mut self) {
        self.nodes.clear();
        self.free = NIL;
        self.live = 0;
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
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
