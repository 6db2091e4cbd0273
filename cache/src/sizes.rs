//! Object sizes in 32 bits, with a side table for the rare object of 4 GiB
//! or more: a node (`arena.rs`) or an LRU slot (`lru.rs`) keeps its size in
//! a `u32` field, and [`BIG`] there means "look it up in [`BigSizes`] by
//! the owner's id" (a node number, or an LRU object's key).

/// An inline size field's value for sizes of `BIG` bytes or more.
pub(crate) const BIG: u32 = u32::MAX;

/// Whether an inline size field holds `size` bytes (without the side table:
/// a size of [`BIG`] or more is never stored inline).
#[inline]
pub(crate) fn holds(field: u32, size: u64) -> bool {
    field != BIG && u64::from(field) == size
}

/// `(id, size)` of the objects of [`BIG`] bytes or more, sorted by id
/// (almost always empty).
#[derive(Clone, Debug, Default)]
pub(crate) struct BigSizes(Vec<(u64, u64)>);

impl BigSizes {
    /// The size of the object `id` whose inline field is `field`.
    #[inline]
    pub(crate) fn get(&self, field: u32, id: u64) -> u64 {
        match field {
            BIG => match self.0.binary_search_by_key(&id, |&(k, _)| k) {
                Ok(at) => self.0[at].1,
                Err(_) => unreachable!("a size marked big is in the side table"),
            },
            small => u64::from(small),
        }
    }

    /// Stores `size` for the object `id` whose inline field is `field`; the
    /// common case (small before and after) inline.
    #[inline]
    pub(crate) fn set(&mut self, field: &mut u32, id: u64, size: u64) {
        match u32::try_from(size) {
            Ok(small) if small != BIG && *field != BIG => *field = small,
            _ => self.set_slow(field, id, size),
        }
    }

    /// [`BigSizes::set`] when the old or the new size is big.
    #[cold]
    #[inline(never)]
    fn set_slow(&mut self, field: &mut u32, id: u64, size: u64) {
        self.forget(*field, id);
        match u32::try_from(size) {
            Ok(small) if small != BIG => *field = small,
            _ => {
                *field = BIG;
                let at = self.0.partition_point(|&(k, _)| k < id);
                self.0.insert(at, (id, size));
            }
        }
    }

    /// The object `id`, whose inline field is `field`, is gone.
    #[inline]
    pub(crate) fn forget(&mut self, field: u32, id: u64) {
        if field == BIG {
            self.remove(id);
        }
    }

    #[cold]
    fn remove(&mut self, id: u64) {
        if let Ok(at) = self.0.binary_search_by_key(&id, |&(k, _)| k) {
            self.0.remove(at);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<(u64, u64)>()
    }
}
