//! The trace record every reader yields, and the small tables it points into.
//!
//! A [`Record`] is `Copy` and holds no strings: keys and clients that are not
//! integers are hashed to `u64` with FNV-1a ([`key_of`]), and region and route
//! names are interned into [`NameId`]s by a [`Names`] table that the reader
//! owns. Reading a row therefore allocates nothing once every distinct name
//! has been seen.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use headroom_policy::time::Timestamp;

use crate::TraceError;

/// One request of a trace.
///
/// Only `at` is always known; the other fields take their defaults (key 0,
/// [`Op::Read`], size 0) or `None` when the trace does not carry them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// Arrival time, as written in the trace (absolute, e.g. Unix epoch
    /// nanoseconds, or relative); consumers that replay shift it so the first
    /// record is at zero.
    pub at: Timestamp,
    /// Object key: the trace's unsigned integer, or the FNV-1a 64 hash of its
    /// text ([`key_of`]).
    pub key: u64,
    /// Read or write.
    pub op: Op,
    /// Object or request size in bytes; 0 when the trace has none.
    pub size_bytes: u64,
    /// Client id: an unsigned integer, or the FNV-1a 64 hash of the client's
    /// name ([`key_of`]), for per-client (keyed) limits.
    pub client: Option<u64>,
    /// Region name, interned in the reader's [`Names`].
    pub region: Option<NameId>,
    /// Route name, interned in the reader's [`Names`].
    pub route: Option<NameId>,
    /// Response status code.
    pub status: Option<u16>,
    /// Observed latency in nanoseconds.
    pub latency_ns: Option<u64>,
}

impl Record {
    /// A read of `key` of `size_bytes` at `at`, with no optional fields.
    pub const fn new(at: Timestamp, key: u64, size_bytes: u64) -> Self {
        Record {
            at,
            key,
            op: Op::Read,
            size_bytes,
            client: None,
            region: None,
            route: None,
            status: None,
            latency_ns: None,
        }
    }
}

/// A request's operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// A read (cacheable).
    #[default]
    Read,
    /// A write (invalidates cached copies).
    Write,
}

impl Op {
    /// The trace CSV spelling: `read` or `write`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
        }
    }

    /// Parses the trace CSV spelling.
    pub fn parse(text: &[u8]) -> Option<Op> {
        match text {
            b"read" => Some(Op::Read),
            b"write" => Some(Op::Write),
            _ => None,
        }
    }
}

/// FNV-1a, 64-bit, of `bytes`: offset basis `0xcbf29ce484222325`, prime
/// `0x100000001b3`, one byte at a time (xor, then multiply).
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
        i += 1;
    }
    hash
}

/// The `u64` a key or client cell stands for: the cell's value when it is an
/// unsigned decimal integer that fits in `u64` (`"42"` -> 42, `"007"` -> 7),
/// otherwise the FNV-1a 64 hash of its bytes ([`fnv1a64`]; `"/api/users/7"`,
/// `"-1"` and `"18446744073709551616"` are hashed). The empty cell is absent
/// and is not passed here.
pub fn key_of(text: &[u8]) -> u64 {
    parse_u64(text).unwrap_or_else(|| fnv1a64(text))
}

/// Parses an unsigned decimal integer (ASCII digits only, no sign, no
/// spaces) that fits in `u64`.
#[inline]
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in text {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}

/// Formats `value` in decimal into `buf`, returning the digits.
pub(crate) fn format_u64(value: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut v = value;
    loop {
        i -= 1;
        // `v % 10` is below 10, so the cast cannot truncate.
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// A region or route name interned by a reader's [`Names`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NameId(u32);

impl NameId {
    /// The index of the name in its table (0 for the first name seen).
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The distinct region and route names a reader has seen, in order of first
/// appearance. Bounded: at most [`Names::LIMIT`] names.
#[derive(Debug, Default)]
pub struct Names {
    names: Vec<Box<str>>,
    ids: HashMap<Box<[u8]>, NameId, BuildHasherDefault<Fnv>>,
}

impl Names {
    /// At most this many distinct names per trace: regions and routes are a
    /// small vocabulary, and a column of unique values is a mistake that must
    /// not grow memory without bound.
    pub const LIMIT: usize = 65_536;

    /// An empty table.
    pub fn new() -> Self {
        Names::default()
    }

    /// The id of `name`, adding it if new.
    ///
    /// # Errors
    /// [`NameError::NotUtf8`] if a new name is not UTF-8, and
    /// [`NameError::TooMany`] past [`Names::LIMIT`] names.
    pub fn intern(&mut self, name: &[u8]) -> Result<NameId, NameError> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        let text = std::str::from_utf8(name).map_err(|_| NameError::NotUtf8)?;
        if self.names.len() >= Self::LIMIT {
            return Err(NameError::TooMany);
        }
        // The limit keeps the count far below u32::MAX.
        let id = NameId(self.names.len() as u32);
        self.names.push(text.into());
        self.ids.insert(name.into(), id);
        Ok(id)
    }

    /// The id of `name` if it has been seen.
    pub fn find(&self, name: &str) -> Option<NameId> {
        self.ids.get(name.as_bytes()).copied()
    }

    /// The name of `id`.
    ///
    /// # Panics
    /// If `id` comes from another table with more names.
    pub fn name(&self, id: NameId) -> &str {
        &self.names[id.index()]
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no name has been seen.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Every name, in order of first appearance (index = [`NameId::index`]).
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }
}

/// Why a name cannot be interned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is not UTF-8.
    NotUtf8,
    /// The table already holds [`Names::LIMIT`] names.
    TooMany,
}

impl NameError {
    /// The row error this becomes for `column` at `row`.
    pub(crate) fn at(self, row: u64, column: &str, value: &[u8]) -> TraceError {
        let expected = match self {
            NameError::NotUtf8 => "UTF-8 text".to_owned(),
            NameError::TooMany => {
                format!("one of at most {} distinct names per trace", Names::LIMIT)
            }
        };
        TraceError::row(row, column, value, expected)
    }
}

/// FNV-1a as a `Hasher`, so the name table hashes deterministically and
/// fast (never `std`'s randomly seeded SipHash).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xCBF2_9CE4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_published_vectors() {
        // Test vectors of the FNV reference (Fowler, Noll, Vo).
        assert_eq!(fnv1a64(b""), 0xCBF2_9CE4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xAF63_DC4C_8601_EC8C);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_F739_67E8);
    }

    #[test]
    fn keys_are_integers_or_hashes() {
        assert_eq!(key_of(b"42"), 42);
        assert_eq!(key_of(b"007"), 7);
        assert_eq!(key_of(b"18446744073709551615"), u64::MAX);
        assert_eq!(
            key_of(b"18446744073709551616"),
            fnv1a64(b"18446744073709551616")
        );
        assert_eq!(key_of(b"-1"), fnv1a64(b"-1"));
        assert_eq!(key_of(b"/api/users/7"), fnv1a64(b"/api/users/7"));
        assert_eq!(key_of(b" 1"), fnv1a64(b" 1"));
    }

    #[test]
    fn format_u64_round_trips() {
        let mut buf = [0; 20];
        for v in [0, 1, 9, 10, 12_345, u64::MAX] {
            assert_eq!(format_u64(v, &mut buf), v.to_string().as_bytes());
        }
    }

    #[test]
    fn names_intern_in_order_and_are_bounded() {
        let mut names = Names::new();
        let a = names.intern(b"us-east").unwrap();
        let b = names.intern(b"eu-west").unwrap();
        assert_eq!(names.intern(b"us-east").unwrap(), a);
        assert_eq!((a.index(), b.index()), (0, 1));
        assert_eq!(names.name(b), "eu-west");
        assert_eq!(names.find("eu-west"), Some(b));
        assert_eq!(names.intern(&[0xFF]), Err(NameError::NotUtf8));
        for i in 2..Names::LIMIT {
            names.intern(i.to_string().as_bytes()).unwrap();
        }
        assert_eq!(names.intern(b"one-too-many"), Err(NameError::TooMany));
        assert_eq!(names.len(), Names::LIMIT);
    }
}
