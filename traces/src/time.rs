//! Timestamp text to Unix-epoch nanoseconds: ISO 8601 / RFC 3339 date-times,
//! the access-log date of NCSA logs, and numeric epoch times in a unit.
//!
//! Civil dates are converted with Howard Hinnant's `days_from_civil`
//! (proleptic Gregorian calendar); times without a zone are UTC. Fractions
//! of a second keep up to 9 digits (nanoseconds) and truncate the rest.

/// How a timestamp column is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeFormat {
    /// `2023-11-16 18:17:03.9799600`, `2023-11-16T18:17:03Z`,
    /// `2023-11-16T18:17:03.5+02:00`.
    Iso,
    /// NCSA access-log date: `01/Jul/1995:00:00:01 -0400`.
    Clf,
    /// A number of this many nanoseconds per unit since the epoch (or since
    /// any origin): `s` = 1e9, `ms` = 1e6, `us` = 1e3, `ns` = 1. Decimal
    /// fractions are allowed.
    Epoch(u64),
}

impl TimeFormat {
    /// The accepted spellings, for error messages.
    pub const ACCEPTED: &'static str = "`iso`, `clf`, `s`, `ms`, `us` or `ns`";

    /// Parses a format name.
    pub fn parse(name: &str) -> Option<TimeFormat> {
        Some(match name {
            "iso" | "rfc3339" => TimeFormat::Iso,
            "clf" => TimeFormat::Clf,
            "s" => TimeFormat::Epoch(1_000_000_000),
            "ms" => TimeFormat::Epoch(1_000_000),
            "us" => TimeFormat::Epoch(1_000),
            "ns" => TimeFormat::Epoch(1),
            _ => return None,
        })
    }

    /// Guesses the format of `text`: ISO, CLF, or else a number of seconds.
    pub fn detect(text: &[u8]) -> Option<TimeFormat> {
        [
            TimeFormat::Iso,
            TimeFormat::Clf,
            TimeFormat::Epoch(1_000_000_000),
        ]
        .into_iter()
        .find(|f| f.to_ns(text).is_some())
    }

    /// Nanoseconds since the Unix epoch (or the numeric origin), if `text`
    /// is in this format and not before 1970.
    pub fn to_ns(self, text: &[u8]) -> Option<u64> {
        match self {
            TimeFormat::Iso => parse_iso(text),
            TimeFormat::Clf => parse_clf(text),
            TimeFormat::Epoch(unit) => parse_decimal(text, unit),
        }
    }

    /// What the format accepts, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            TimeFormat::Iso => {
                "an ISO 8601 date-time such as 2023-11-16 18:17:03.98 or 2023-11-16T18:17:03Z"
            }
            TimeFormat::Clf => "an access-log date such as 01/Jul/1995:00:00:01 -0400",
            TimeFormat::Epoch(_) => "a non-negative decimal number",
        }
    }
}

/// Days from 1970-01-01 to the given civil date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(text: &[u8], from: usize, n: usize) -> Option<u32> {
    let part = text.get(from..from + n)?;
    let mut v = 0u32;
    for &b in part {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    Some(v)
}

fn civil_ns(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32, offset_s: i64) -> Option<i128> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + s) - offset_s;
    Some(i128::from(secs) * 1_000_000_000)
}

/// Fraction digits after a `.` at `i`: (nanoseconds, index after).
fn fraction(text: &[u8], mut i: usize) -> (u64, usize) {
    if text.get(i) != Some(&b'.') {
        return (0, i);
    }
    i += 1;
    let (mut ns, mut scale) = (0u64, 100_000_000u64);
    while let Some(&b) = text.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        ns += u64::from(b - b'0') * scale;
        scale /= 10;
        i += 1;
    }
    (ns, i)
}

fn to_u64(ns: i128) -> Option<u64> {
    u64::try_from(ns).ok()
}

fn parse_iso(t: &[u8]) -> Option<u64> {
    let (y, mo, d) = (digits(t, 0, 4)?, digits(t, 5, 2)?, digits(t, 8, 2)?);
    if t[4] != b'-' || t[7] != b'-' || !matches!(t.get(10), Some(b' ' | b'T')) {
        return None;
    }
    let (h, mi, s) = (digits(t, 11, 2)?, digits(t, 14, 2)?, digits(t, 17, 2)?);
    if t[13] != b':' || t[16] != b':' {
        return None;
    }
    let (frac, i) = fraction(t, 19);
    let offset_s = match &t[i..] {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (oh, om) = match rest.len() {
                5 if rest[2] == b':' => (digits(rest, 0, 2)?, digits(rest, 3, 2)?),
                4 => (digits(rest, 0, 2)?, digits(rest, 2, 2)?),
                _ => return None,
            };
            let off = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    to_u64(civil_ns(y, mo, d, h, mi, s, offset_s)? + i128::from(frac))
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn parse_clf(t: &[u8]) -> Option<u64> {
    // 01/Jul/1995:00:00:01 -0400
    if t.len() != 26 || t[2] != b'/' || t[6] != b'/' || t[11] != b':' || t[20] != b' ' {
        return None;
    }
    let d = digits(t, 0, 2)?;
    let mo = MONTHS.iter().position(|m| m[..] == t[3..6])? as u32 + 1;
    let y = digits(t, 7, 4)?;
    let (h, mi, s) = (digits(t, 12, 2)?, digits(t, 15, 2)?, digits(t, 18, 2)?);
    let off = i64::from(digits(t, 22, 2)? * 3600 + digits(t, 24, 2)? * 60);
    let offset_s = match t[21] {
        b'+' => off,
        b'-' => -off,
        _ => return None,
    };
    to_u64(civil_ns(y, mo, d, h, mi, s, offset_s)?)
}

/// A non-negative decimal number times `unit` nanoseconds.
fn parse_decimal(t: &[u8], unit: u64) -> Option<u64> {
    let dot = t.iter().position(|&b| b == b'.').unwrap_or(t.len());
    let whole = if dot == 0 {
        Some(0)
    } else {
        crate::parse_u64(&t[..dot])
    }?;
    let mut ns = whole.checked_mul(unit)?;
    if dot < t.len() {
        let frac = &t[dot + 1..];
        if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut scale = unit;
        for &b in frac {
            scale /= 10;
            if scale == 0 {
                break;
            }
            ns = ns.checked_add(u64::from(b - b'0') * scale)?;
        }
    }
    Some(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1995, 7, 1), 9_312);
    }

    #[test]
    fn iso_times_with_fractions_and_zones() {
        let iso = |s: &str| TimeFormat::Iso.to_ns(s.as_bytes());
        // 2023-11-16T18:17:03Z = 1700158623 s.
        assert_eq!(iso("2023-11-16T18:17:03Z"), Some(1_700_158_623_000_000_000));
        assert_eq!(
            iso("2023-11-16 18:17:03.9799600"),
            Some(1_700_158_623_979_960_000)
        );
        assert_eq!(
            iso("2023-11-16T20:17:03+02:00"),
            Some(1_700_158_623_000_000_000)
        );
        assert_eq!(
            iso("2023-11-16T18:17:03.1234567891"),
            Some(1_700_158_623_123_456_789)
        );
        assert_eq!(iso("2023-13-16 18:17:03"), None);
        assert_eq!(iso("1969-12-31 23:59:59"), None);
        assert_eq!(iso("16/11/2023"), None);
    }

    #[test]
    fn clf_dates_and_epoch_numbers() {
        // 1995-07-01 00:00:01 EDT = 04:00:01 UTC = 804571201 s.
        assert_eq!(
            TimeFormat::Clf.to_ns(b"01/Jul/1995:00:00:01 -0400"),
            Some(804_571_201_000_000_000)
        );
        assert_eq!(TimeFormat::Clf.to_ns(b"01/Jly/1995:00:00:01 -0400"), None);
        let s = TimeFormat::parse("s").unwrap();
        assert_eq!(s.to_ns(b"12.5"), Some(12_500_000_000));
        assert_eq!(s.to_ns(b".25"), Some(250_000_000));
        assert_eq!(s.to_ns(b"-1"), None);
        assert_eq!(
            TimeFormat::parse("ms").unwrap().to_ns(b"3.0000001"),
            Some(3_000_000)
        );
        assert_eq!(
            TimeFormat::detect(b"2023-11-16 18:17:03"),
            Some(TimeFormat::Iso)
        );
        assert_eq!(
            TimeFormat::detect(b"17"),
            Some(TimeFormat::Epoch(1_000_000_000))
        );
    }
}
