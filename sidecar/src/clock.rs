//! The one place the sidecar reads a clock: `tokio::time::Instant` to policy
//! time ([`Timestamp`]) and back, plus the wall-clock epoch for access logs.
//!
//! Policies never see an `Instant`: every decision gets a [`Timestamp`] in
//! nanoseconds since the sidecar started (its epoch). Going through tokio's
//! clock (not `std`'s) lets tests pause and advance time.
#![allow(clippy::disallowed_methods)] // the sidecar's only clock reads

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use headroom_policy::time::{Span, Timestamp};
use tokio::time::Instant;

/// The sidecar's clock. Cheap to copy; every copy shares one epoch.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
    /// Unix time of `origin`, in nanoseconds.
    origin_unix_ns: u64,
}

impl Clock {
    /// A clock whose epoch (`Timestamp::ZERO`) is now.
    pub fn start() -> Self {
        let origin = Instant::now();
        let origin_unix_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Clock {
            origin,
            origin_unix_ns,
        }
    }

    /// Policy time now.
    #[inline]
    pub fn now(&self) -> Timestamp {
        self.timestamp(Instant::now())
    }

    /// Policy time of `instant` (instants before the epoch map to zero).
    #[inline]
    pub fn timestamp(&self, instant: Instant) -> Timestamp {
        let nanos = instant.saturating_duration_since(self.origin).as_nanos();
        Timestamp::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The instant of policy time `t`, for sleeping until a decision's
    /// deadline. `Timestamp::MAX` ("never") maps to about 30 years from the
    /// epoch, which tokio timers accept.
    #[inline]
    pub fn instant(&self, t: Timestamp) -> Instant {
        const NEVER: Duration = Duration::from_secs(30 * 365 * 86_400);
        let offset = Duration::from_nanos(t.as_nanos()).min(NEVER);
        self.origin + offset
    }

    /// Unix epoch nanoseconds of policy time `t` (access-log timestamps).
    #[inline]
    pub fn unix_nanos(&self, t: Timestamp) -> u64 {
        self.origin_unix_ns.saturating_add(t.as_nanos())
    }

    /// A seed for the RNG when the config gives none: the wall-clock
    /// nanoseconds of the epoch (logged, so a run can be reproduced).
    pub fn seed(&self) -> u64 {
        self.origin_unix_ns
    }
}

/// `span` as a `std` duration.
#[inline]
pub fn duration(span: Span) -> Duration {
    Duration::from_nanos(span.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn instants_and_timestamps_round_trip() {
        let clock = Clock::start();
        let t0 = clock.now();
        tokio::time::advance(Duration::from_millis(250)).await;
        let t1 = clock.now();
        assert_eq!(t1.saturating_since(t0), Span::from_millis(250));
        let t = Timestamp::from_nanos(1_234_567);
        assert_eq!(clock.timestamp(clock.instant(t)), t);
        assert!(clock.instant(Timestamp::MAX) > clock.instant(t));
        assert_eq!(
            clock.unix_nanos(t) - clock.unix_nanos(Timestamp::ZERO),
            1_234_567
        );
    }
}
