//! Integer time: [`Timestamp`] and [`Span`], both `u64` nanoseconds.
//!
//! These are the only time types in Headroom. The simulator's clock, the
//! policies' `now` arguments and every configured duration use them, so there
//! is no floating-point clock anywhere. Arithmetic saturates instead of
//! wrapping or panicking: a timestamp never goes below zero or above
//! [`Timestamp::MAX`] (about 584 years), which policies treat as "never".
//!
//! Durations in configuration files are strings such as `"250us"`, `"20ms"`,
//! `"5s"`, `"10m"`, `"1h"` or `"1d"` ([`Span::parse`]); [`Span`]'s `Display`
//! prints the same form back, exactly.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A point in time: nanoseconds since the driver's epoch (the start of the
/// simulation, or the moment the sidecar started).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

/// A length of time in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(u64);

impl Timestamp {
    /// The epoch.
    pub const ZERO: Timestamp = Timestamp(0);
    /// The largest representable instant; policies use it for "never".
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// The instant `nanos` nanoseconds after the epoch.
    #[inline]
    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// Nanoseconds since the epoch.
    #[inline]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds since the epoch, as a float (for reports only, never for clocks).
    #[inline]
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// `self + span`, saturating at [`Timestamp::MAX`].
    #[inline]
    pub const fn saturating_add(self, span: Span) -> Self {
        Timestamp(self.0.saturating_add(span.0))
    }

    /// `self - span`, saturating at [`Timestamp::ZERO`].
    #[inline]
    pub const fn saturating_sub(self, span: Span) -> Self {
        Timestamp(self.0.saturating_sub(span.0))
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    #[inline]
    pub const fn saturating_since(self, earlier: Timestamp) -> Span {
        Span(self.0.saturating_sub(earlier.0))
    }

    /// Time elapsed from `earlier` to `self`, or `None` if `earlier` is later.
    #[inline]
    pub const fn checked_since(self, earlier: Timestamp) -> Option<Span> {
        match self.0.checked_sub(earlier.0) {
            Some(n) => Some(Span(n)),
            None => None,
        }
    }
}

impl Span {
    /// No time at all.
    pub const ZERO: Span = Span(0);
    /// The largest representable span; policies use it for "forever".
    pub const MAX: Span = Span(u64::MAX);

    /// A span of `nanos` nanoseconds.
    #[inline]
    pub const fn from_nanos(nanos: u64) -> Self {
        Span(nanos)
    }

    /// A span of `micros` microseconds, saturating.
    #[inline]
    pub const fn from_micros(micros: u64) -> Self {
        Span(micros.saturating_mul(NANOS_PER_MICRO))
    }

    /// A span of `millis` milliseconds, saturating.
    #[inline]
    pub const fn from_millis(millis: u64) -> Self {
        Span(millis.saturating_mul(NANOS_PER_MILLI))
    }

    /// A span of `secs` seconds, saturating.
    #[inline]
    pub const fn from_secs(secs: u64) -> Self {
        Span(secs.saturating_mul(NANOS_PER_SEC))
    }

    /// The span closest to `secs` seconds: rounded to the nearest nanosecond,
    /// clamped to `[0, MAX]`; NaN gives zero.
    #[inline]
    pub fn from_secs_f64(secs: f64) -> Self {
        Span::from_nanos_f64(secs * NANOS_PER_SEC as f64)
    }

    /// The span closest to `nanos` nanoseconds: rounded to the nearest
    /// nanosecond, clamped to `[0, MAX]`; NaN gives zero.
    #[inline]
    pub fn from_nanos_f64(nanos: f64) -> Self {
        // `as` saturates for floats: negative and NaN become 0, huge becomes
        // MAX. Below 2^63 (292 years) the signed conversion is one
        // instruction where the unsigned one takes a dozen; the result is
        // the same for every input (NaN fails the test and goes the long
        // way, to 0).
        const SIGNED: f64 = 9_223_372_036_854_775_808.0; // 2^63
        let x = nanos + 0.5;
        if x < SIGNED {
            Span((x as i64).max(0) as u64)
        } else {
            Span(x as u64)
        }
    }

    /// Length in nanoseconds.
    #[inline]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Length in seconds, as a float (for rates and reports).
    #[inline]
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// Length in milliseconds, as a float (for reports).
    #[inline]
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_MILLI as f64
    }

    /// Whether this is the zero span.
    #[inline]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, saturating at [`Span::MAX`].
    #[inline]
    pub const fn saturating_add(self, other: Span) -> Self {
        Span(self.0.saturating_add(other.0))
    }

    /// `self - other`, saturating at zero.
    #[inline]
    pub const fn saturating_sub(self, other: Span) -> Self {
        Span(self.0.saturating_sub(other.0))
    }

    /// `self - other`, or `None` if `other` is longer.
    #[inline]
    pub const fn checked_sub(self, other: Span) -> Option<Span> {
        match self.0.checked_sub(other.0) {
            Some(n) => Some(Span(n)),
            None => None,
        }
    }

    /// `self × n`, saturating at [`Span::MAX`].
    #[inline]
    pub const fn saturating_mul(self, n: u64) -> Self {
        Span(self.0.saturating_mul(n))
    }

    /// `self × factor`, rounded to the nearest nanosecond and clamped to
    /// `[0, MAX]`.
    #[inline]
    pub fn mul_f64(self, factor: f64) -> Self {
        Span::from_nanos_f64(self.0 as f64 * factor)
    }

    /// Parses a duration string: a non-negative decimal number immediately
    /// followed by a unit, `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h` or `d`.
    /// Examples: `"250us"`, `"20ms"`, `"1.5s"`, `"10m"`, `"1h"`, `"1d"`.
    ///
    /// The value must be a whole number of nanoseconds and at most
    /// [`Span::MAX`]; anything else is an error that says what is accepted.
    pub fn parse(text: &str) -> Result<Span, ParseSpanError> {
        let err = || ParseSpanError {
            text: text.to_owned(),
        };
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let (number, unit) = text.split_at(split);
        let unit_nanos: u64 = match unit {
            "ns" => 1,
            "us" | "µs" => NANOS_PER_MICRO,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3_600 * NANOS_PER_SEC,
            "d" => 86_400 * NANOS_PER_SEC,
            _ => return Err(err()),
        };
        let (whole, frac) = match number.split_once('.') {
            Some((w, f)) => (w, f),
            None => (number, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(err());
        }
        if number.ends_with('.') || frac.contains('.') {
            return Err(err());
        }
        // Exact integer arithmetic: whole × unit + frac × unit / 10^len(frac).
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| err())?
        };
        let mut nanos = u128::from(whole) * u128::from(unit_nanos);
        if !frac.is_empty() {
            if frac.len() > 18 {
                return Err(err());
            }
            let frac_value: u128 = frac.parse().map_err(|_| err())?;
            let scale = 10u128.pow(frac.len() as u32);
            let frac_nanos = frac_value * u128::from(unit_nanos);
            if !frac_nanos.is_multiple_of(scale) {
                return Err(err());
            }
            nanos += frac_nanos / scale;
        }
        u64::try_from(nanos).map(Span).map_err(|_| err())
    }
}

/// A duration string that [`Span::parse`] does not accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseSpanError {
    text: String,
}

impl ParseSpanError {
    /// The forms a duration may take, for error messages.
    pub const ACCEPTED: &'static str = "a duration such as \"250us\", \"20ms\", \"1.5s\", \"10m\", \"1h\" or \"1d\" \
         (a non-negative number immediately followed by ns, us, ms, s, m, h or d)";

    /// The rejected text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ParseSpanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not {}", self.text, Self::ACCEPTED)
    }
}

impl std::error::Error for ParseSpanError {}

impl std::str::FromStr for Span {
    type Err = ParseSpanError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Span::parse(s)
    }
}

impl fmt::Display for Span {
    /// Prints the span in the largest unit that represents it exactly, so that
    /// `Span::parse(&span.to_string()) == Ok(span)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 7] = [
            (86_400 * NANOS_PER_SEC, "d"),
            (3_600 * NANOS_PER_SEC, "h"),
            (60 * NANOS_PER_SEC, "m"),
            (NANOS_PER_SEC, "s"),
            (NANOS_PER_MILLI, "ms"),
            (NANOS_PER_MICRO, "us"),
            (1, "ns"),
        ];
        if self.0 == 0 {
            return f.write_str("0s");
        }
        for (nanos, unit) in UNITS {
            if self.0.is_multiple_of(nanos) {
                return write!(f, "{}{}", self.0 / nanos, unit);
            }
        }
        unreachable!("every span is a whole number of nanoseconds")
    }
}

impl fmt::Display for Timestamp {
    /// Prints the instant as the span since the epoch, e.g. `t+1500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{}", Span(self.0))
    }
}

impl Add<Span> for Timestamp {
    type Output = Timestamp;
    #[inline]
    fn add(self, rhs: Span) -> Timestamp {
        self.saturating_add(rhs)
    }
}

impl AddAssign<Span> for Timestamp {
    #[inline]
    fn add_assign(&mut self, rhs: Span) {
        *self = self.saturating_add(rhs);
    }
}

impl Sub<Span> for Timestamp {
    type Output = Timestamp;
    #[inline]
    fn sub(self, rhs: Span) -> Timestamp {
        self.saturating_sub(rhs)
    }
}

impl SubAssign<Span> for Timestamp {
    #[inline]
    fn sub_assign(&mut self, rhs: Span) {
        *self = self.saturating_sub(rhs);
    }
}

impl Sub<Timestamp> for Timestamp {
    type Output = Span;
    /// Elapsed time, saturating at zero (see [`Timestamp::saturating_since`]).
    #[inline]
    fn sub(self, rhs: Timestamp) -> Span {
        self.saturating_since(rhs)
    }
}

impl Add for Span {
    type Output = Span;
    #[inline]
    fn add(self, rhs: Span) -> Span {
        self.saturating_add(rhs)
    }
}

impl AddAssign for Span {
    #[inline]
    fn add_assign(&mut self, rhs: Span) {
        *self = self.saturating_add(rhs);
    }
}

impl Sub for Span {
    type Output = Span;
    #[inline]
    fn sub(self, rhs: Span) -> Span {
        self.saturating_sub(rhs)
    }
}

impl SubAssign for Span {
    #[inline]
    fn sub_assign(&mut self, rhs: Span) {
        *self = self.saturating_sub(rhs);
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::{ParseSpanError, Span};
    use serde::de::{self, Deserialize, Deserializer, Visitor};
    use serde::ser::{Serialize, Serializer};
    use std::fmt;

    impl Serialize for Span {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_str(self)
        }
    }

    impl<'de> Deserialize<'de> for Span {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct SpanVisitor;
            impl Visitor<'_> for SpanVisitor {
                type Value = Span;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str(ParseSpanError::ACCEPTED)
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
                    Span::parse(v).map_err(E::custom)
                }
            }
            deserializer.deserialize_str(SpanVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_nanos_f64_rounds_and_saturates_as_the_unsigned_cast() {
        let reference = |nanos: f64| Span((nanos + 0.5) as u64);
        let two63 = 9_223_372_036_854_775_808.0_f64;
        let mut cases = vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            -0.4,
            -0.5,
            -0.6,
            -1e300,
            0.0,
            0.49,
            0.5,
            1.5,
            2.5,
            1e9,
            two63 - 1024.0,
            two63 - 0.5,
            two63,
            two63 + 2048.0,
            18_446_744_073_709_551_615.0,
            1e300,
        ];
        // Values across every magnitude, both signs.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if v.is_finite() {
                cases.push(v);
                cases.push((x >> 11) as f64 / 1024.0);
            }
        }
        for v in cases {
            assert_eq!(Span::from_nanos_f64(v), reference(v), "{v:e}");
        }
    }

    #[test]
    fn parse_accepts_every_unit() {
        let cases = [
            ("250us", Span::from_micros(250)),
            ("250µs", Span::from_micros(250)),
            ("7ns", Span::from_nanos(7)),
            ("20ms", Span::from_millis(20)),
            ("5s", Span::from_secs(5)),
            ("1.5s", Span::from_millis(1500)),
            ("0.25ms", Span::from_micros(250)),
            (".5s", Span::from_millis(500)),
            ("10m", Span::from_secs(600)),
            ("1h", Span::from_secs(3600)),
            ("1d", Span::from_secs(86_400)),
            ("0s", Span::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(Span::parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn parse_rejects_bad_forms() {
        for text in [
            "",
            "5",
            "5 minutes",
            "5 s",
            "-5s",
            "5x",
            "s",
            "1.2.3s",
            "5.s",
            "1.5ns",
            "1e3ms",
            "99999999999999999999s",
            " 5s",
            "5S",
        ] {
            let err = Span::parse(text).expect_err(text);
            assert_eq!(err.text(), text);
            assert!(err.to_string().contains("\"250us\""));
        }
    }

    #[test]
    fn display_round_trips() {
        for nanos in [
            0,
            1,
            999,
            1_000,
            1_500_000,
            2_000_000_000,
            90 * NANOS_PER_SEC,
            u64::MAX,
        ] {
            let span = Span::from_nanos(nanos);
            assert_eq!(Span::parse(&span.to_string()), Ok(span), "{span}");
        }
        assert_eq!(Span::from_millis(1500).to_string(), "1500ms");
        assert_eq!(Span::from_secs(3600).to_string(), "1h");
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Timestamp::MAX + Span::from_secs(1), Timestamp::MAX);
        assert_eq!(Timestamp::ZERO - Span::from_secs(1), Timestamp::ZERO);
        assert_eq!(Timestamp::ZERO - Timestamp::from_nanos(5), Span::ZERO);
        assert_eq!(
            Timestamp::from_nanos(5).checked_since(Timestamp::from_nanos(6)),
            None
        );
        assert_eq!(Span::MAX.saturating_mul(2), Span::MAX);
        assert_eq!(Span::from_secs_f64(-1.0), Span::ZERO);
        assert_eq!(Span::from_secs_f64(f64::NAN), Span::ZERO);
        assert_eq!(Span::from_secs_f64(1e30), Span::MAX);
        assert_eq!(Span::from_secs_f64(0.0000000015), Span::from_nanos(2));
    }
}
