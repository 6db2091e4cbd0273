//! Try outcomes and the `retry_on` conditions that make them retryable
//! (Envoy's `x-envoy-retry-on` vocabulary).

use crate::config::ConfigError;
use crate::time::Span;

/// How one try ended, as the driver observed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryOutcome {
    /// Response headers arrived with `status`; `retry_after` is the server's
    /// `Retry-After` (or `grpc-retry-pushback-ms`) delay if present.
    Response {
        /// HTTP status code.
        status: u16,
        /// The server's requested delay before retrying.
        retry_after: Option<Span>,
    },
    /// The connection could not be established.
    ConnectFailure,
    /// The connection or stream was reset (or refused) before a response.
    Reset,
    /// The try reached its per-try deadline (or the overall deadline) with
    /// no response.
    Timeout,
}

impl TryOutcome {
    /// A response without `Retry-After`.
    pub fn status(status: u16) -> Self {
        TryOutcome::Response {
            status,
            retry_after: None,
        }
    }

    /// Whether the outcome is a failure: any non-response, a 5xx or a 429.
    /// Other responses (2xx, 3xx, most 4xx) are answers, not failures.
    pub fn is_failure(&self) -> bool {
        match *self {
            TryOutcome::Response { status, .. } => status >= 500 || status == 429,
            TryOutcome::ConnectFailure | TryOutcome::Reset | TryOutcome::Timeout => true,
        }
    }
}

const FIVE_XX: u8 = 1;
const GATEWAY_ERROR: u8 = 1 << 1;
const CONNECT_FAILURE: u8 = 1 << 2;
const RESET: u8 = 1 << 3;
const RETRIABLE_4XX: u8 = 1 << 4;
const TIMEOUT: u8 = 1 << 5;
const RATE_LIMITED: u8 = 1 << 6;

const NAMES: [(&str, u8); 7] = [
    ("5xx", FIVE_XX),
    ("gateway-error", GATEWAY_ERROR),
    ("connect-failure", CONNECT_FAILURE),
    ("reset", RESET),
    ("retriable-4xx", RETRIABLE_4XX),
    ("timeout", TIMEOUT),
    ("rate-limited", RATE_LIMITED),
];

/// The set of retryable outcomes (`retry_on = [...]`).
///
/// | name | matches |
/// |---|---|
/// | `"5xx"` | any 5xx, connect failure, reset, per-try timeout (Envoy `5xx`) |
/// | `"gateway-error"` | 502, 503, 504, connect failure, reset, per-try timeout |
/// | `"connect-failure"` | connect failure |
/// | `"reset"` | reset, per-try timeout (Envoy: "no response at all") |
/// | `"retriable-4xx"` | 409 (Envoy) |
/// | `"timeout"` | per-try timeout |
/// | `"rate-limited"` | 429 |
/// | `"100"`..`"599"` | that status code (Envoy `retriable-status-codes`) |
///
/// Default: `["gateway-error", "connect-failure", "reset"]`: transport
/// failures, per-try timeouts and 502/503/504, but not 500 (often a
/// deterministic bug) nor 429 (opt in with `"rate-limited"`; `Retry-After`
/// is then honoured).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryOn {
    conditions: u8,
    /// Bit `s − 100` set for each listed status code `s` in 100..=599.
    statuses: [u64; 8],
    /// Bit `s − 100` set for each status `s` the set retries, whether
    /// listed or named by a condition (`5xx`, `gateway-error`, ...): derived
    /// from the two fields above by [`RetryOn::new`], so that matching a
    /// response is one bit test.
    responses: [u64; 8],
}

impl Default for RetryOn {
    fn default() -> Self {
        RetryOn::new(GATEWAY_ERROR | CONNECT_FAILURE | RESET, [0; 8])
    }
}

/// Sets bit `status − 100` of a status bitmap.
fn set_status(bits: &mut [u64; 8], status: u16) {
    let bit = usize::from(status - 100);
    bits[bit / 64] |= 1 << (bit % 64);
}

impl RetryOn {
    /// The set of `conditions` and listed `statuses`, with its response
    /// bitmap.
    fn new(conditions: u8, statuses: [u64; 8]) -> Self {
        let mut responses = statuses;
        let conditional = [
            (FIVE_XX, 500..=599),
            (GATEWAY_ERROR, 502..=504),
            (RETRIABLE_4XX, 409..=409),
            (RATE_LIMITED, 429..=429),
        ];
        for (bit, codes) in conditional {
            if conditions & bit != 0 {
                codes.for_each(|c| set_status(&mut responses, c));
            }
        }
        RetryOn {
            conditions,
            statuses,
            responses,
        }
    }

    /// The empty set: nothing is retried.
    pub fn none() -> Self {
        RetryOn::new(0, [0; 8])
    }

    /// Parses a `retry_on` list (names from the table above, or status codes
    /// as strings). An empty list retries nothing.
    ///
    /// # Errors
    /// A [`ConfigError`] for key `retry_on` naming the unknown entry.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, ConfigError> {
        let (mut conditions, mut statuses) = (0, [0; 8]);
        for name in names {
            let name = name.as_ref();
            if let Some((_, bit)) = NAMES.iter().find(|(n, _)| *n == name) {
                conditions |= bit;
                continue;
            }
            match name.parse::<u16>() {
                Ok(code) if (100..=599).contains(&code) && !name.starts_with('+') => {
                    set_status(&mut statuses, code);
                }
                _ => {
                    return Err(ConfigError::new(
                        "retry_on",
                        format!("\"{name}\""),
                        "a list of \"5xx\", \"gateway-error\", \"connect-failure\", \"reset\", \
                         \"retriable-4xx\", \"timeout\", \"rate-limited\" or status codes \
                         \"100\"..\"599\"",
                    ));
                }
            }
        }
        Ok(RetryOn::new(conditions, statuses))
    }

    /// The entries of this set in canonical order (names, then codes).
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = NAMES
            .iter()
            .filter(|(_, bit)| self.conditions & bit != 0)
            .map(|(name, _)| (*name).to_owned())
            .collect();
        out.extend(
            (100u16..=599)
                .filter(|c| self.has_status(*c))
                .map(|c| c.to_string()),
        );
        out
    }

    fn has(&self, bit: u8) -> bool {
        self.conditions & bit != 0
    }

    fn has_status(&self, status: u16) -> bool {
        in_bitmap(&self.statuses, status)
    }

    /// Whether `outcome` is retryable under this set.
    #[inline]
    pub fn matches(&self, outcome: &TryOutcome) -> bool {
        // Responses first, with one test (they are most outcomes): `5xx`,
        // `gateway-error`, `retriable-4xx`, `rate-limited` and the listed
        // codes, folded into one bitmap by `RetryOn::new`.
        if let TryOutcome::Response { status, .. } = *outcome {
            return in_bitmap(&self.responses, status);
        }
        let transport = self.has(FIVE_XX) || self.has(GATEWAY_ERROR);
        match *outcome {
            TryOutcome::ConnectFailure => transport || self.has(CONNECT_FAILURE),
            TryOutcome::Reset => transport || self.has(RESET),
            TryOutcome::Timeout => transport || self.has(RESET) || self.has(TIMEOUT),
            // Returned above; repeated so the match stays exhaustive.
            TryOutcome::Response { status, .. } => in_bitmap(&self.responses, status),
        }
    }
}

/// Whether bit `status − 100` is set (`false` outside 100..=599).
#[inline]
fn in_bitmap(bits: &[u64; 8], status: u16) -> bool {
    let Some(bit) = status.checked_sub(100).map(usize::from) else {
        return false;
    };
    bit < 500 && bits[bit / 64] & (1 << (bit % 64)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set() {
        let set = RetryOn::default();
        assert_eq!(set.names(), ["gateway-error", "connect-failure", "reset"]);
        for (outcome, expected) in [
            (TryOutcome::status(200), false),
            (TryOutcome::status(500), false),
            (TryOutcome::status(503), true),
            (TryOutcome::status(429), false),
            (TryOutcome::ConnectFailure, true),
            (TryOutcome::Reset, true),
            (TryOutcome::Timeout, true),
        ] {
            assert_eq!(set.matches(&outcome), expected, "{outcome:?}");
        }
    }

    #[test]
    fn codes_and_names() {
        let set = RetryOn::parse(&["connect-failure", "418", "rate-limited"]).expect("valid");
        assert!(set.matches(&TryOutcome::status(418)));
        assert!(set.matches(&TryOutcome::status(429)));
        assert!(!set.matches(&TryOutcome::status(503)));
        assert!(!set.matches(&TryOutcome::Reset));
        assert_eq!(set.names(), ["connect-failure", "rate-limited", "418"]);
        for bad in ["5XX", "600", "99", "+500", ""] {
            let err = RetryOn::parse(&[bad]).expect_err(bad);
            assert_eq!(err.key(), "retry_on");
            assert_eq!(err.value(), format!("\"{bad}\""));
        }
    }

    /// The response bitmap agrees, for every status, with the conditions'
    /// definitions (Envoy's `5xx`, `gateway-error`, `retriable-4xx`,
    /// `rate-limited`) and the listed codes, for every set of conditions.
    #[test]
    fn response_bitmap_matches_the_definitions() {
        for conditions in 0..=u8::MAX >> 1 {
            let names: Vec<&str> = NAMES
                .iter()
                .filter(|(_, bit)| conditions & bit != 0)
                .map(|(n, _)| *n)
                .chain(["418", "500", "599", "100"])
                .collect();
            let set = RetryOn::parse(&names).expect("valid");
            let has = |bit| conditions & bit != 0;
            for status in 0..=700u16 {
                let expected = (has(FIVE_XX) && (500..=599).contains(&status))
                    || (has(GATEWAY_ERROR) && matches!(status, 502..=504))
                    || (has(RETRIABLE_4XX) && status == 409)
                    || (has(RATE_LIMITED) && status == 429)
                    || matches!(status, 418 | 500 | 599 | 100);
                assert_eq!(
                    set.matches(&TryOutcome::status(status)),
                    expected,
                    "{names:?} {status}"
                );
            }
        }
    }
}
