//! Size strings: `"512B"`, `"100MB"`, `"10GiB"`.
//!
//! SI prefixes are powers of 1000 (`kB`/`KB`, `MB`, `GB`, `TB`), IEC prefixes
//! powers of 1024 (`KiB`, `MiB`, `GiB`, `TiB`). Note that libCacheSim's `MB`
//! means MiB; Headroom's does not. A size may be fractional as long as it is
//! a whole number of bytes (`"1.5KB"` = 1500 B; `"0.5B"` is an error).

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// A size in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(u64);

/// A size string that [`Bytes::parse`] does not accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseBytesError {
    text: String,
}

impl ParseBytesError {
    /// The forms a size may take, for error messages.
    pub const ACCEPTED: &'static str = "a size such as \"512B\", \"100MB\" or \"10GiB\" (a non-negative number immediately \
         followed by B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024))";
}

impl fmt::Display for ParseBytesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not {}", self.text, Self::ACCEPTED)
    }
}

impl std::error::Error for ParseBytesError {}

const UNITS: [(&str, u64); 10] = [
    ("B", 1),
    ("kB", 1_000),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

impl Bytes {
    /// `n` bytes.
    pub const fn new(n: u64) -> Self {
        Bytes(n)
    }

    /// The size in bytes.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Parses a size string (see the module docs).
    pub fn parse(text: &str) -> Result<Bytes, ParseBytesError> {
        let err = || ParseBytesError {
            text: text.to_owned(),
        };
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let (number, unit) = text.split_at(split);
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|&(_, scale)| scale)
            .ok_or_else(err)?;
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && frac.is_empty()) || number.ends_with('.') || frac.contains('.') {
            return Err(err());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| err())?
        };
        let mut bytes = whole * u128::from(scale);
        if !frac.is_empty() {
            if frac.len() > 18 {
                return Err(err());
            }
            let value: u128 = frac.parse().map_err(|_| err())?;
            let denominator = 10u128.pow(frac.len() as u32);
            let numerator = value * u128::from(scale);
            if !numerator.is_multiple_of(denominator) {
                return Err(err());
            }
            bytes += numerator / denominator;
        }
        u64::try_from(bytes).map(Bytes).map_err(|_| err())
    }
}

impl fmt::Display for Bytes {
    /// The largest unit of the same family that represents the size exactly
    /// (IEC preferred when both do), so that `parse(display(x)) == x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, scale) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if self.0 >= scale && self.0.is_multiple_of(scale) {
                return write!(f, "{}{unit}", self.0 / scale);
            }
        }
        for (unit, scale) in [
            ("TB", 1_000_000_000_000u64),
            ("GB", 1_000_000_000),
            ("MB", 1_000_000),
            ("kB", 1_000),
        ] {
            if self.0 >= scale && self.0.is_multiple_of(scale) {
                return write!(f, "{}{unit}", self.0 / scale);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl Visitor<'_> for BytesVisitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(ParseBytesError::ACCEPTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                Bytes::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(BytesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_and_iec_units() {
        let cases = [
            ("512B", 512),
            ("100MB", 100_000_000),
            ("10GiB", 10 << 30),
            ("1.5KB", 1500),
            ("1.5kB", 1500),
            ("0.5KiB", 512),
            ("128MiB", 128 << 20),
            ("2TB", 2_000_000_000_000),
            ("1TiB", 1 << 40),
        ];
        for (text, bytes) in cases {
            assert_eq!(Bytes::parse(text), Ok(Bytes(bytes)), "{text}");
        }
    }

    #[test]
    fn bad_sizes() {
        for text in [
            "",
            "100",
            "100 MB",
            "100mb",
            "0.5B",
            "-1B",
            "1.2.3MB",
            "99999999999TB",
            "MB",
            "1e3B",
        ] {
            assert!(Bytes::parse(text).is_err(), "{text}");
        }
        assert!(
            Bytes::parse("100 MB")
                .unwrap_err()
                .to_string()
                .contains("\"10GiB\"")
        );
    }

    #[test]
    fn display_round_trips() {
        for n in [
            0,
            1,
            999,
            1000,
            1024,
            1_000_000,
            3 << 20,
            100_000_000,
            u64::MAX,
        ] {
            let b = Bytes(n);
            assert_eq!(Bytes::parse(&b.to_string()), Ok(b), "{b}");
        }
        assert_eq!(Bytes(100 << 20).to_string(), "100MiB");
        assert_eq!(Bytes(100_000_000).to_string(), "100MB");
    }
}
