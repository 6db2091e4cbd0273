//! Time-weighted average of a piecewise-constant signal (queue length,
//! busy workers, replicas) over simulated time.

use crate::{Span, Timestamp};

/// The time-weighted mean and maximum of a piecewise-constant signal: the
/// signal holds its value until the next [`set`](Self::set) or
/// [`add`](Self::add), and the mean over `[start, now]` is the integral of
/// the signal divided by the elapsed time.
///
/// Call order for a driver: `new(start, initial)`, then `set`/`add` at
/// non-decreasing times as the signal changes; `reset(now)` at the end of
/// warm-up to restart the integral (keeping the current value); `mean(now)`,
/// `integral_secs(now)` and `max()` whenever a report is due. An update at a
/// time before the previous one is treated as happening at the previous
/// time (no negative durations). Values must be finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeWeighted {
    start: Timestamp,
    last: Timestamp,
    value: f64,
    /// Integral of the signal over `[start, last]`, in value × nanoseconds.
    area: f64,
    max: f64,
}

impl TimeWeighted {
    /// A signal that holds `initial` from `start`.
    pub fn new(start: Timestamp, initial: f64) -> Self {
        TimeWeighted {
            start,
            last: start,
            value: initial,
            area: 0.0,
            max: initial,
        }
    }

    /// The signal changes to `value` at `now`.
    #[inline]
    pub fn set(&mut self, now: Timestamp, value: f64) {
        self.advance(now);
        self.value = value;
        self.max = self.max.max(value);
    }

    /// The signal changes by `delta` at `now` (e.g. +1 when a request joins
    /// a queue, -1 when it leaves).
    #[inline]
    pub fn add(&mut self, now: Timestamp, delta: f64) {
        self.set(now, self.value + delta);
    }

    /// The current value of the signal.
    pub fn current(&self) -> f64 {
        self.value
    }

    /// The time-weighted mean over `[start, now]` (`start` being the last
    /// `reset`, or `new`'s); the current value if no time has elapsed.
    pub fn mean(&self, now: Timestamp) -> f64 {
        let elapsed = now.max(self.last).saturating_since(self.start);
        if elapsed.is_zero() {
            return self.value;
        }
        self.area_until(now) / elapsed.as_nanos() as f64
    }

    /// The integral of the signal over `[start, now]`, in value × seconds
    /// (e.g. instance-seconds when the signal is a replica count).
    pub fn integral_secs(&self, now: Timestamp) -> f64 {
        self.area_until(now) / Span::from_secs(1).as_nanos() as f64
    }

    /// The largest value the signal held since `start` (including the value
    /// it had at `start`).
    pub fn max(&self) -> f64 {
        self.max
    }

    /// Restarts the integral at `now`, keeping the current value, which also
    /// becomes the maximum so far. Used at the end of warm-up.
    pub fn reset(&mut self, now: Timestamp) {
        let now = now.max(self.last);
        self.start = now;
        self.last = now;
        self.area = 0.0;
        self.max = self.value;
    }

    /// Accumulates the current value up to `now`.
    #[inline]
    fn advance(&mut self, now: Timestamp) {
        let held = now.saturating_since(self.last);
        self.area += self.value * held.as_nanos() as f64;
        self.last = self.last.max(now);
    }

    /// The area over `[start, now]` without mutating.
    fn area_until(&self, now: Timestamp) -> f64 {
        let held = now.saturating_since(self.last);
        self.area + self.value * held.as_nanos() as f64
    }
}

#[cfg(test)]
mod tests {
    use approx::assert_relative_eq;

    use super::TimeWeighted;
    use crate::Timestamp;

    fn ms(n: u64) -> Timestamp {
        Timestamp::from_nanos(n * 1_000_000)
    }

    #[test]
    fn mean_of_a_step_signal_matches_a_hand_computation() {
        // 0 for 10 ms, 4 for 20 ms, 1 for 10 ms: area 90 over 40 ms.
        let mut tw = TimeWeighted::new(ms(0), 0.0);
        tw.set(ms(10), 4.0);
        tw.set(ms(30), 1.0);
        assert_eq!(tw.current(), 1.0);
        assert_relative_eq!(tw.mean(ms(40)), 90.0 / 40.0);
        assert_eq!(tw.max(), 4.0);
        // Area 90 value·ms = 0.09 value·s.
        assert_relative_eq!(tw.integral_secs(ms(40)), 0.09);
        // Querying does not change the state.
        assert_relative_eq!(tw.mean(ms(40)), 2.25);
    }

    #[test]
    fn add_moves_the_signal_by_deltas() {
        // Queue length: +1 at 0, +1 at 5, -1 at 15, -1 at 20 (ms).
        let mut tw = TimeWeighted::new(ms(0), 0.0);
        tw.add(ms(0), 1.0);
        tw.add(ms(5), 1.0);
        tw.add(ms(15), -1.0);
        tw.add(ms(20), -1.0);
        assert_eq!(tw.current(), 0.0);
        // Area: 1×5 + 2×10 + 1×5 = 30 over 20 ms (mean 1.5), then 0 to 30 ms.
        assert_relative_eq!(tw.mean(ms(20)), 1.5);
        assert_relative_eq!(tw.mean(ms(30)), 1.0);
        assert_eq!(tw.max(), 2.0);
    }

    #[test]
    fn zero_elapsed_time_gives_the_current_value() {
        let mut tw = TimeWeighted::new(ms(7), 3.0);
        assert_eq!(tw.mean(ms(7)), 3.0);
        tw.set(ms(7), 5.0);
        assert_eq!(tw.mean(ms(7)), 5.0);
        assert_eq!(tw.max(), 5.0);
    }

    #[test]
    fn reset_restarts_the_integral_and_keeps_the_value() {
        let mut tw = TimeWeighted::new(ms(0), 10.0);
        tw.set(ms(100), 2.0);
        tw.reset(ms(200));
        assert_eq!(tw.current(), 2.0);
        assert_eq!(tw.max(), 2.0);
        assert_eq!(tw.mean(ms(200)), 2.0);
        tw.set(ms(250), 6.0);
        // 2 for 50 ms, 6 for 50 ms after the reset: mean 4.
        assert_relative_eq!(tw.mean(ms(300)), 4.0);
        assert_eq!(tw.max(), 6.0);
    }

    #[test]
    fn an_update_in_the_past_counts_as_now() {
        let mut tw = TimeWeighted::new(ms(0), 1.0);
        tw.set(ms(10), 3.0);
        tw.set(ms(5), 5.0);
        // 1 for 10 ms, then 5 (the late update applies at 10 ms) for 10 ms.
        assert_relative_eq!(tw.mean(ms(20)), 3.0);
        // Asking about a time before the last update does not go negative.
        assert_relative_eq!(tw.mean(ms(5)), 1.0);
    }
}
