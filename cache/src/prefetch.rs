//! A memory prefetch hint: ask the CPU to start loading a cache line that a
//! later step will read, without waiting for it.
//!
//! This is the crate's only `unsafe`, and it is sound for any address: a
//! prefetch never reads, writes or faults (it is a hint the CPU may drop).
//! On targets without the instruction it does nothing.

/// Starts loading the cache line holding `*value` into every cache level.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    prefetch_addr(std::ptr::from_ref(value).cast::<u8>());
}

/// Starts loading the cache line holding the byte at `addr` into every
/// cache level. `addr` need not point to valid memory.
#[inline(always)]
pub(crate) fn prefetch_addr(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: `_mm_prefetch` only hints the cache hierarchy: it never
    // dereferences its argument and cannot fault, so any address is sound.
    // SSE is part of the x86_64 baseline, so the instruction always exists.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(addr.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}
