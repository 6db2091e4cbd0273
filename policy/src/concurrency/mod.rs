//! Adaptive concurrency: Envoy's gradient controller
//! (`envoy.filters.http.adaptive_concurrency`, after Netflix's
//! concurrency-limits), a limit on requests in flight that follows the
//! latency the server gives.
//!
//! The controller measures an ideal round-trip time, minRTT, by pinning the
//! limit to `min_concurrency` until `min_rtt_requests` responses have come
//! back, and taking their `sample_percentile` quantile. It measures it again
//! every `min_rtt_interval` plus a random `jitter` fraction of it. Between
//! measurements, every `update_interval` it takes the same quantile of the
//! window's latencies, sampleRTT, and sets
//!
//! ```text
//! gradient  = clamp(minRTT × (1 + buffer) / sampleRTT, 0.5, 2)
//! limit     = old_limit × gradient
//! new_limit = clamp(⌊limit + √limit⌋, min_concurrency, max_limit)
//! ```
//!
//! so the limit grows while latency stays within `buffer` of minRTT (by its
//! square root: the headroom), and shrinks as queueing adds latency. A
//! request that finds `limit` requests in flight is refused (Envoy answers
//! 503, "reached concurrency limit"). When the limit has been set to
//! `min_concurrency` five windows in a row outside a measurement, minRTT is
//! taken to be stale and measured again at once. Latencies of requests
//! admitted before a measurement began are not sampled.
//!
//! Where this differs from Envoy, and why:
//! - Envoy aggregates latencies in a circllhist (two significant digits, in
//!   microseconds) and interpolates its quantile; this takes the exact
//!   nearest-rank quantile (the ⌈q·n⌉-th smallest) of latencies in
//!   nanoseconds, so a quantile here is within about 1 % of Envoy's.
//! - Timers: Envoy arms two timers (the update window and the next minRTT
//!   measurement). Here they are deadlines, which every `handle_*` call
//!   first brings up to `now` ([`AdaptiveConcurrency::handle_timeout`]): a
//!   limit only matters when a request asks, so a driver need not schedule
//!   anything (the simulator does not), and one that polls
//!   [`AdaptiveConcurrency::poll_timeout`] sees the same decisions. When
//!   both deadlines fall at one instant the minRTT measurement begins
//!   first, and the update window, which Envoy drops during a measurement,
//!   is dropped.
//! - Envoy's counters are atomics read without a lock, so several workers
//!   may admit past the limit at once; here the limit is exact.
//!
//! Call order: [`AdaptiveConcurrency::handle_request`] for each request;
//! for each one admitted, exactly one of
//! [`AdaptiveConcurrency::handle_response`] (the response is complete: a
//! latency sample) or [`AdaptiveConcurrency::handle_cancel`] (the stream
//! ended without one).

mod config;

use rand_core::Rng;

use crate::balance::sample::below;
use crate::time::{Span, Timestamp};

pub use config::{
    AdaptiveConcurrencyConfig, AdaptiveConcurrencySpec, MAX_CONCURRENCY_LIMIT, MAX_INTERVAL,
};

/// Windows in a row at `min_concurrency` that call for a new minRTT
/// measurement (Envoy's `consecutive_min_concurrency_set_ >= 5`).
const STALE_MIN_RTT_WINDOWS: u32 = 5;

/// Whether a request may go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Admission {
    /// Forward it; report its end with `handle_response` or `handle_cancel`.
    Forward,
    /// Refuse it: `limit` requests are in flight (Envoy's `rq_blocked`).
    Block,
}

/// Counters and gauges (Envoy's `gradient_controller.*` stats).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AdaptiveConcurrencyStats {
    /// Requests refused (`rq_blocked`).
    pub blocked: u64,
    /// Limit updates from an update window (gradient computed).
    pub updates: u64,
    /// minRTT measurements completed.
    pub min_rtt_measurements: u64,
    /// The last gradient computed (`gradient`), 0 before the first.
    pub gradient: f64,
}

/// One gradient controller: in Envoy, one per filter chain (per sidecar).
#[derive(Clone, Debug)]
pub struct AdaptiveConcurrency {
    spec: AdaptiveConcurrencySpec,
    limit: u32,
    outstanding: u32,
    /// The limit to restore when the minRTT measurement ends; `Some` while
    /// one is under way (Envoy's `deferred_limit_value_ > 0`).
    deferred_limit: Option<u32>,
    min_rtt: Option<Span>,
    sample_rtt: Option<Span>,
    /// Requests admitted before this are not sampled.
    epoch: Timestamp,
    /// Latencies of the current window, in nanoseconds.
    samples: Vec<u64>,
    /// When the next minRTT measurement begins (armed outside one).
    next_min_rtt: Option<Timestamp>,
    /// When the update window ends (dropped during a measurement).
    next_update: Option<Timestamp>,
    consecutive_min: u32,
    stats: AdaptiveConcurrencyStats,
}

impl AdaptiveConcurrency {
    /// A controller starting at `now`: at `min_concurrency`, measuring
    /// minRTT (or, with a fixed `min_rtt`, updating from the first window).
    pub fn new(spec: &AdaptiveConcurrencySpec, now: Timestamp) -> Self {
        let mut c = AdaptiveConcurrency {
            spec: *spec,
            limit: spec.min_concurrency,
            outstanding: 0,
            deferred_limit: None,
            min_rtt: spec.fixed_min_rtt,
            sample_rtt: None,
            epoch: now,
            samples: Vec::new(),
            next_min_rtt: None,
            next_update: Some(now + spec.update_interval),
            consecutive_min: 0,
            stats: AdaptiveConcurrencyStats::default(),
        };
        if spec.fixed_min_rtt.is_none() {
            c.begin_min_rtt(now);
        }
        c
    }

    /// The current limit on requests in flight.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Requests admitted and not yet ended.
    pub fn outstanding(&self) -> u32 {
        self.outstanding
    }

    /// The last minRTT (measured or fixed), if any yet.
    pub fn min_rtt(&self) -> Option<Span> {
        self.min_rtt
    }

    /// The last window's sampleRTT, if any yet.
    pub fn sample_rtt(&self) -> Option<Span> {
        self.sample_rtt
    }

    /// Whether a minRTT measurement is under way.
    pub fn measuring_min_rtt(&self) -> bool {
        self.deferred_limit.is_some()
    }

    /// Counters and gauges.
    pub fn stats(&self) -> AdaptiveConcurrencyStats {
        self.stats
    }

    /// The next deadline, if any: the end of the update window or the start
    /// of the next minRTT measurement.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match (self.next_min_rtt, self.next_update) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Brings the deadlines up to `now`, in time order (a minRTT
    /// measurement first at a tie). Every other `handle_*` call does this
    /// first.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        loop {
            let min_rtt_due = self.next_min_rtt.filter(|&t| t <= now);
            let update_due = self.next_update.filter(|&t| t <= now);
            match (min_rtt_due, update_due) {
                (Some(m), Some(u)) if m <= u => self.fire_min_rtt(m),
                (Some(m), None) => self.fire_min_rtt(m),
                (_, Some(u)) => self.fire_update(u, now),
                (None, None) => return,
            }
        }
    }

    /// A request asks to go on at `now`.
    pub fn handle_request(&mut self, now: Timestamp) -> Admission {
        self.handle_timeout(now);
        if self.outstanding < self.limit {
            self.outstanding += 1;
            Admission::Forward
        } else {
            self.stats.blocked += 1;
            Admission::Block
        }
    }

    /// The response of a request admitted at `admitted` is complete at
    /// `now`: one latency sample (unless it was admitted before the current
    /// minRTT measurement began). `rng` draws the jitter of the next
    /// measurement when this sample completes one.
    pub fn handle_response(&mut self, now: Timestamp, admitted: Timestamp, rng: &mut impl Rng) {
        self.handle_timeout(now);
        debug_assert!(self.outstanding > 0, "a response nobody asked for");
        self.outstanding = self.outstanding.saturating_sub(1);
        if admitted < self.epoch {
            return;
        }
        self.samples.push(now.saturating_since(admitted).as_nanos());
        if self.deferred_limit.is_some()
            && self.samples.len() >= self.spec.min_rtt_requests as usize
        {
            self.end_min_rtt(now, rng);
        }
    }

    /// A request admitted earlier ended without a complete response (reset,
    /// the client went away): no sample.
    pub fn handle_cancel(&mut self, now: Timestamp) {
        self.handle_timeout(now);
        debug_assert!(self.outstanding > 0, "a cancel nobody asked for");
        self.outstanding = self.outstanding.saturating_sub(1);
    }

    /// The minRTT timer fires at `at`.
    fn fire_min_rtt(&mut self, at: Timestamp) {
        self.next_min_rtt = None;
        self.begin_min_rtt(at);
    }

    /// Envoy's `enterMinRTTSamplingWindow`.
    fn begin_min_rtt(&mut self, at: Timestamp) {
        if self.deferred_limit.is_some() {
            return;
        }
        self.deferred_limit = Some(self.limit);
        self.set_limit(self.spec.min_concurrency, at);
        self.samples.clear();
        self.epoch = at;
    }

    /// Envoy's `updateMinRTT`, once the measurement has its requests.
    fn end_min_rtt(&mut self, now: Timestamp, rng: &mut impl Rng) {
        let Some(deferred) = self.deferred_limit else {
            return;
        };
        self.min_rtt = Some(self.quantile_and_clear());
        self.stats.min_rtt_measurements += 1;
        self.set_limit(deferred, now);
        self.deferred_limit = None;
        self.next_min_rtt = Some(now + self.jittered_interval(rng));
        self.next_update = Some(now + self.spec.update_interval);
    }

    /// The update timer fires at `at` (`now` is the latest time reached).
    fn fire_update(&mut self, at: Timestamp, now: Timestamp) {
        if self.deferred_limit.is_some() {
            // Envoy's timer returns without re-arming during a measurement;
            // the measurement's end arms it again.
            self.next_update = None;
            return;
        }
        let interval = self.spec.update_interval;
        if self.samples.is_empty() {
            // Nothing to compute, and nothing will be until a call after
            // `now`: skip the empty windows up to `now`, or to the minRTT
            // deadline if that comes first (it fires first at a tie).
            let horizon = match self.next_min_rtt {
                Some(m) if m <= now => m,
                _ => now,
            };
            let skipped = horizon.saturating_since(at).as_nanos() / interval.as_nanos();
            self.next_update = Some(at + interval.saturating_mul(skipped + 1));
            return;
        }
        let sample = self.quantile_and_clear();
        self.sample_rtt = Some(sample);
        let limit = self.new_limit(sample);
        self.stats.updates += 1;
        self.next_update = Some(at + interval);
        self.set_limit(limit, at);
    }

    /// Envoy's `calculateNewLimit`.
    fn new_limit(&mut self, sample: Span) -> u32 {
        let min_rtt = self.min_rtt.map_or(0.0, |m| m.as_nanos() as f64);
        let buffered = min_rtt + min_rtt * self.spec.buffer;
        let gradient = if sample.is_zero() {
            2.0
        } else {
            (buffered / sample.as_nanos() as f64).clamp(0.5, 2.0)
        };
        self.stats.gradient = gradient;
        let limit = f64::from(self.limit) * gradient;
        // sqrt is correctly rounded (IEEE 754): the same bits everywhere.
        let new_limit = (limit + limit.sqrt()) as u32;
        new_limit.clamp(self.spec.min_concurrency, self.spec.max_limit)
    }

    /// Envoy's `updateConcurrencyLimit`: sets the limit and, after
    /// [`STALE_MIN_RTT_WINDOWS`] windows at the floor, measures minRTT again
    /// at once (at `at`, before anything else).
    fn set_limit(&mut self, new_limit: u32, at: Timestamp) {
        let old = self.limit;
        self.limit = new_limit;
        let floor = self.spec.min_concurrency;
        if self.deferred_limit.is_none() && old == floor && new_limit == floor {
            self.consecutive_min += 1;
        } else {
            self.consecutive_min = 0;
        }
        if self.consecutive_min >= STALE_MIN_RTT_WINDOWS && self.spec.fixed_min_rtt.is_none() {
            // Envoy re-arms the minRTT timer at 0 ms: it fires now, before
            // anything else happens.
            self.next_min_rtt = Some(at);
        }
    }

    /// The window's `sample_percentile` quantile (nearest rank), clearing
    /// the window.
    fn quantile_and_clear(&mut self) -> Span {
        let n = self.samples.len();
        debug_assert!(n > 0);
        let rank = (self.spec.sample_percentile * n as f64).ceil() as usize;
        let index = rank.clamp(1, n) - 1;
        let (_, &mut q, _) = self.samples.select_nth_unstable(index);
        self.samples.clear();
        Span::from_nanos(q)
    }

    /// `min_rtt_interval` plus a uniform draw from
    /// `[0, ⌈min_rtt_interval × jitter⌉)` (Envoy's `applyJitter`, in
    /// nanoseconds instead of milliseconds).
    fn jittered_interval(&self, rng: &mut impl Rng) -> Span {
        let interval = self.spec.min_rtt_interval;
        if self.spec.jitter == 0.0 {
            return interval;
        }
        let range = (interval.as_nanos() as f64 * self.spec.jitter).ceil() as u64;
        if range == 0 {
            return interval;
        }
        interval + Span::from_nanos(below(rng, range))
    }
}

#[cfg(test)]
mod tests;
