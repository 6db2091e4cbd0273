//! Hints to the CPU and the kernel about memory: start loading a cache line
//! a later step will read ([`prefetch`]), and back a large table with huge
//! pages ([`filled`]). A hint never changes what the program computes, only
//! how long its memory takes.
//!
//! This is the crate's only `unsafe`, and both uses are sound for any
//! address: a prefetch never reads, writes or faults (it is a hint the CPU
//! may drop), and `MADV_HUGEPAGE` only changes how the kernel backs
//! anonymous memory, never its contents. On targets without them they do
//! nothing.

/// Starts loading the cache line holding `*value` into every cache level.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    prefetch_addr(std::ptr::from_ref(value).cast::<u8>());
}

/// Starts loading the cache line holding the byte at `addr` into every
/// cache level. `addr` need not point to valid memory.
#[inline(always)]
pub fn prefetch_addr(addr: *const u8) {
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

/// Starts loading every cache line of the bytes `bytes` points to (none
/// if it is empty). The bytes need not be valid memory.
#[inline]
pub fn prefetch_bytes(bytes: *const [u8]) {
    let start = bytes.cast::<u8>();
    for offset in line_offsets(start as usize, bytes.len()) {
        prefetch_addr(start.wrapping_add(offset));
    }
}

/// Offsets from `start` that fall in each 64-byte line of the `len` bytes
/// from `start`: 0, then the start of every later line.
#[inline]
fn line_offsets(start: usize, len: usize) -> impl Iterator<Item = usize> {
    let first_line = start & !63;
    let lines = if len == 0 {
        0
    } else {
        ((start + (len - 1)) & !63).wrapping_sub(first_line) / 64 + 1
    };
    (0..lines).map(move |n| {
        if n == 0 {
            0
        } else {
            first_line + 64 * n - start
        }
    })
}

/// A huge page on x86_64 and most Linux targets. Only the whole huge pages
/// inside a table are advised, so a table smaller than two keeps ordinary
/// pages in part or in whole, and the advice costs no memory: [`filled`]
/// and [`grow_to`] write every byte anyway.
const HUGE_PAGE: usize = 2 << 20;

/// `n` copies of `value`, in memory the kernel is asked to back with huge
/// pages (the whole [`HUGE_PAGE`]s inside it).
///
/// A cache of a million objects spreads its lookups over tens of
/// megabytes: with 4 KiB pages nearly every lookup also misses the TLB and
/// walks the page tables, which under virtualisation costs several more
/// memory accesses. With 2 MiB pages the same table needs a few dozen TLB
/// entries. Linux honours the advice when transparent huge pages are
/// `always` or `madvise` (the common default) and ignores it when they are
/// `never`; the advice is given before the memory is first written, so the
/// pages are huge from the start.
pub(crate) fn filled<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    advise_huge_pages(v.as_ptr().cast::<u8>(), n * std::mem::size_of::<T>());
    v.resize(n, value);
    v
}

/// A copy of `v` with its capacity, in memory advised as [`filled`]'s: a
/// cloned table keeps the huge pages and the room to grow of the one it
/// copies (`Vec::clone` keeps neither), so a copied cache runs as fast as
/// its original.
pub(crate) fn copied<T: Clone>(v: &Vec<T>) -> Vec<T> {
    let mut c: Vec<T> = Vec::with_capacity(v.capacity());
    advise_huge_pages(
        c.as_ptr().cast::<u8>(),
        c.capacity() * std::mem::size_of::<T>(),
    );
    c.extend_from_slice(v);
    c
}

/// Grows `v` to `n` elements, new ones `value`, advising huge pages for
/// its memory as [`filled`] does (a reallocation may move it).
pub(crate) fn grow_to<T: Clone>(v: &mut Vec<T>, n: usize, value: T) {
    if n > v.capacity() {
        v.reserve_exact(n - v.len());
        advise_huge_pages(
            v.as_ptr().cast::<u8>(),
            v.capacity() * std::mem::size_of::<T>(),
        );
    }
    v.resize(n, value);
}

/// Asks the kernel to back the whole huge pages within `len` bytes from
/// `start` with huge pages (none if there are none). The advice may be
/// refused (no transparent huge pages): nothing to do then.
fn advise_huge_pages(start: *const u8, len: usize) {
    let begin = (start as usize).next_multiple_of(HUGE_PAGE);
    let end = (start as usize + len) / HUGE_PAGE * HUGE_PAGE;
    if end <= begin {
        return;
    }
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    #[allow(unsafe_code)]
    // SAFETY: `madvise(MADV_HUGEPAGE)` on a range of this process's own
    // heap allocation (the whole pages inside `start .. start + len`) only
    // changes how the kernel backs those pages, never their contents or
    // mapping; on an unsuitable range it fails with an error code, which is
    // ignored (the pages stay small). The declaration matches the C library's
    // `int madvise(void *, size_t, int)`.
    unsafe {
        madvise(begin as *mut std::ffi::c_void, end - begin, MADV_HUGEPAGE);
    }
    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    let _ = (begin, end);
}

/// `MADV_HUGEPAGE` in Linux's `asm-generic/mman-common.h`, which x86_64 and
/// aarch64 use.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
const MADV_HUGEPAGE: std::ffi::c_int = 14;

// The C library's `madvise`, declared here so the crate stays std-only.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[allow(unsafe_code)]
unsafe extern "C" {
    fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: std::ffi::c_int)
    -> std::ffi::c_int;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefetch_of_bytes_touches_each_of_their_lines_once() {
        let offsets = |start, len| line_offsets(start, len).collect::<Vec<_>>();
        assert_eq!(offsets(100, 0), Vec::<usize>::new());
        assert_eq!(offsets(128, 1), vec![0]);
        assert_eq!(offsets(128, 64), vec![0]);
        assert_eq!(offsets(128, 65), vec![0, 64]);
        assert_eq!(offsets(120, 8), vec![0]);
        assert_eq!(offsets(120, 9), vec![0, 8]);
        // An 80-byte slot spans two lines, or three when it starts less
        // than 16 bytes before a line's end.
        assert_eq!(offsets(176, 80), vec![0, 16]);
        assert_eq!(offsets(184, 80), vec![0, 8, 72]);
        // Any address is a sound hint, valid or not.
        prefetch_bytes(std::ptr::slice_from_raw_parts(std::ptr::null(), 0));
        prefetch_bytes(std::ptr::slice_from_raw_parts(std::ptr::dangling(), 4096));
    }

    #[test]
    fn filled_and_grown_vectors_hold_their_values() {
        let mut v = filled(3 << 20, 7u32);
        assert_eq!(v.len(), 3 << 20);
        assert!(v.iter().all(|&x| x == 7));
        v[5] = 1;
        grow_to(&mut v, 5 << 20, 9);
        assert_eq!(v.len(), 5 << 20);
        assert_eq!(v[5], 1);
        assert!(
            v[..3 << 20]
                .iter()
                .enumerate()
                .all(|(i, &x)| x == if i == 5 { 1 } else { 7 })
        );
        assert!(v[3 << 20..].iter().all(|&x| x == 9));
        let small = filled(10, 1u8);
        assert_eq!(small, vec![1u8; 10]);
    }

    /// The advice reaches the kernel: the mapping of a large table, made
    /// or grown, carries the `hg` (huge pages advised) flag in
    /// `/proc/self/smaps`.
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    #[test]
    fn large_tables_are_advised_huge_pages() {
        // A kernel built without transparent huge pages refuses the advice
        // (and has no such directory): nothing to check there.
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            eprintln!("no transparent huge pages in this kernel: skipped");
            return;
        }
        let flags_at = |addr: usize| -> String {
            let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
            let mut inside = false;
            for line in smaps.lines() {
                let range = line.split_whitespace().next().unwrap_or("");
                if let Some((lo, hi)) = range.split_once('-')
                    && let (Ok(lo), Ok(hi)) =
                        (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = (lo..hi).contains(&addr);
                } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                    return flags.to_owned();
                }
            }
            panic!("no mapping holds {addr:#x}");
        };
        let big = filled(4 * HUGE_PAGE / 8, 0u64);
        let inner = (big.as_ptr() as usize).next_multiple_of(HUGE_PAGE);
        let flags = flags_at(inner);
        assert!(
            flags.split_whitespace().any(|f| f == "hg"),
            "VmFlags {flags}"
        );
        let mut grown = filled(1024, 0u64);
        grow_to(&mut grown, 4 * HUGE_PAGE / 8, 1);
        let inner = (grown.as_ptr() as usize).next_multiple_of(HUGE_PAGE);
        assert!(flags_at(inner).split_whitespace().any(|f| f == "hg"));
    }
}
