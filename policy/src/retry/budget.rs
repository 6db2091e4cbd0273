//! Retry budget: tower's `TpsBudget` (the Finagle / Linkerd deposit-withdraw
//! budget) with exactly its arithmetic, driven by `now` instead of
//! `Instant::now()`.
//!
//! Parameters (tower `TpsBudget::new(ttl, min_per_sec, retry_percent)`):
//! `window` (tower's `ttl`, 1–60 s), `min_per_s` (retries always allowed per
//! second of window), `ratio` (retries per original request, 0–1000).
//! Amounts, computed with `f32` as tower does:
//! - `ratio = 0`: deposit 0, withdraw 1;
//! - `ratio <= 1`: deposit 1, withdraw `⌊1/ratio⌋` (0.2 → 5);
//! - `ratio > 1`: deposit 1000, withdraw `⌊1000/ratio⌋`;
//! - `reserve = min_per_s × whole_seconds(window) × withdraw`.
//!
//! Each original request deposits, each retry withdraws. The window is split
//! into 10 slots of `window / 10`; a withdrawal succeeds iff
//! `writer + Σ slots + reserve >= withdraw` (and then subtracts it).
//!
//! Rotation (tower's `expire`, on every deposit and withdrawal): if at least
//! one slot width has passed since the last rotation, the writer is committed
//! to the current slot, the next `⌈elapsed / width⌉ − 1` slots are zeroed,
//! the slot index advances past them and the rotation time becomes `now`.
//! Because the rotation time resets to `now` (not to a slot boundary), calls
//! spaced slightly more than one width apart advance two slots per call: a
//! deposit then lives between about `window / 2` and `1.1 × window`. This
//! quirk is tower's and is kept so that simulated retries match tower and
//! Linkerd. tower's zeroing loop is replaced by its closed form (at most 10
//! stores), so a long idle gap costs O(1).

use crate::config::ConfigError;
use crate::time::{Span, Timestamp};

const SLOTS: usize = 10;

/// Checked budget parameters (`budget = { ratio, min_per_s, window }`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetPolicy {
    ratio: f64,
    min_per_s: u32,
    window: Span,
}

impl Default for BudgetPolicy {
    /// tower's `TpsBudget::default()`: window 10 s, min 10/s, ratio 0.2.
    fn default() -> Self {
        BudgetPolicy {
            ratio: 0.2,
            min_per_s: 10,
            window: Span::from_secs(10),
        }
    }
}

impl BudgetPolicy {
    /// Parameters with tower's ranges: `ratio` in `[0, 1000]`, `min_per_s`
    /// in `0..=2147483646`, `window` in `[1s, 60s]`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `ratio`, `min_per_s` or `window`.
    pub fn new(ratio: f64, min_per_s: u64, window: Span) -> Result<Self, ConfigError> {
        if !(0.0..=1000.0).contains(&ratio) {
            return Err(ConfigError::new("ratio", ratio, "a number from 0 to 1000"));
        }
        let max_min = i32::MAX as u64 - 1;
        if min_per_s > max_min {
            return Err(ConfigError::new(
                "min_per_s",
                min_per_s,
                "an integer from 0 to 2147483646",
            ));
        }
        if !(Span::from_secs(1)..=Span::from_secs(60)).contains(&window) {
            return Err(ConfigError::new(
                "window",
                format!("\"{window}\""),
                "a duration from 1s to 60s",
            ));
        }
        Ok(BudgetPolicy {
            ratio,
            // <= i32::MAX - 1, checked above.
            min_per_s: min_per_s as u32,
            window,
        })
    }

    /// Retries allowed per original request.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Retries always allowed per second of window.
    pub fn min_per_s(&self) -> u32 {
        self.min_per_s
    }

    /// How long a deposit counts (tower's `ttl`).
    pub fn window(&self) -> Span {
        self.window
    }
}

/// Counters of a [`RetryBudget`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BudgetStats {
    /// Deposits made (original requests).
    pub deposits: u64,
    /// Withdrawals granted (retries allowed).
    pub withdrawals: u64,
    /// Withdrawals refused (retries denied by the budget).
    pub refused: u64,
}

/// A retry budget shared by every request of one route or client; owned by
/// the driver and passed by `&mut` to [`super::RetryState`].
///
/// Call order: [`RetryBudget::new`] once; [`RetryBudget::deposit`] for every
/// original request (done by [`super::RetryPolicy::start`]);
/// [`RetryBudget::withdraw`] before every retry (done by
/// [`super::RetryState::handle_outcome`]). `now` must be non-decreasing; an
/// earlier `now` rotates nothing.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    deposit_amount: i64,
    withdraw_amount: i64,
    reserve: i64,
    slots: [i64; SLOTS],
    slot_width: u64,
    index: usize,
    rotated_at: Timestamp,
    writer: i64,
    stats: BudgetStats,
}

impl RetryBudget {
    /// An empty budget (only the reserve) created at `now`.
    pub fn new(policy: &BudgetPolicy, now: Timestamp) -> Self {
        // tower computes the amounts in f32; the casts truncate as tower's do.
        let ratio = policy.ratio as f32;
        let (deposit_amount, withdraw_amount) = if ratio == 0.0 {
            (0, 1)
        } else if ratio <= 1.0 {
            (1, (1.0 / ratio) as i64)
        } else {
            (1000, (1000.0 / ratio) as i64)
        };
        let whole_secs = (policy.window.as_nanos() / 1_000_000_000) as i64;
        let reserve = i64::from(policy.min_per_s)
            .saturating_mul(whole_secs)
            .saturating_mul(withdraw_amount);
        RetryBudget {
            deposit_amount,
            withdraw_amount,
            reserve,
            slots: [0; SLOTS],
            // window >= 1 s, so the width is >= 100 ms.
            slot_width: policy.window.as_nanos() / SLOTS as u64,
            index: 0,
            rotated_at: now,
            writer: 0,
            stats: BudgetStats::default(),
        }
    }

    /// Records one original request at `now`.
    #[inline]
    pub fn deposit(&mut self, now: Timestamp) {
        self.expire(now);
        self.writer = self.writer.saturating_add(self.deposit_amount);
        self.stats.deposits += 1;
    }

    /// Asks for one retry at `now`; `true` means granted (and charged).
    #[must_use]
    #[inline]
    pub fn withdraw(&mut self, now: Timestamp) -> bool {
        self.expire(now);
        if self.balance() >= self.withdraw_amount {
            self.writer = self.writer.saturating_sub(self.withdraw_amount);
            self.stats.withdrawals += 1;
            true
        } else {
            self.stats.refused += 1;
            false
        }
    }

    /// `writer + Σ slots + reserve` as of the last call (tower's `sum`); a
    /// withdrawal needs at least [`RetryBudget::withdraw_amount`].
    pub fn balance(&self) -> i64 {
        self.slots
            .iter()
            .fold(self.writer, |acc, slot| acc.saturating_add(*slot))
            .saturating_add(self.reserve)
    }

    /// Units added per deposit.
    pub fn deposit_amount(&self) -> i64 {
        self.deposit_amount
    }

    /// Units taken per withdrawal.
    pub fn withdraw_amount(&self) -> i64 {
        self.withdraw_amount
    }

    /// The standing reserve (`min_per_s × window_s × withdraw_amount`).
    pub fn reserve(&self) -> i64 {
        self.reserve
    }

    /// Counters since construction.
    pub fn stats(&self) -> BudgetStats {
        self.stats
    }

    /// tower's `TpsBucket::expire`, with the zeroing loop in closed form.
    #[inline]
    fn expire(&mut self, now: Timestamp) {
        let elapsed = (now - self.rotated_at).as_nanos();
        if elapsed < self.slot_width {
            return;
        }
        self.slots[self.index] = self.writer;
        self.writer = 0;
        // tower: `while diff > window { zero next; diff -= window }` runs
        // ⌈elapsed / width⌉ − 1 times.
        let skipped = elapsed.div_ceil(self.slot_width) - 1;
        for k in 0..skipped.min(SLOTS as u64) as usize {
            self.slots[(self.index + 1 + k) % SLOTS] = 0;
        }
        self.index = (self.index + 1 + (skipped % SLOTS as u64) as usize) % SLOTS;
        self.rotated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_ms(v: u64) -> Timestamp {
        Timestamp::from_nanos(v * 1_000_000)
    }

    fn budget(window_s: u64, min_per_s: u64, ratio: f64) -> RetryBudget {
        let policy = BudgetPolicy::new(ratio, min_per_s, Span::from_secs(window_s)).expect("valid");
        RetryBudget::new(&policy, at_ms(0))
    }

    // The four unit tests of tower's tps_budget.rs, replayed in virtual time.
    #[test]
    fn tower_tps_empty() {
        assert!(!budget(1, 0, 1.0).withdraw(at_ms(0)));
    }

    #[test]
    fn tower_tps_leaky() {
        let mut b = budget(1, 0, 1.0);
        b.deposit(at_ms(0));
        assert!(!b.withdraw(at_ms(3000)));
    }

    #[test]
    fn tower_tps_slots() {
        let mut b = budget(1, 0, 0.5);
        b.deposit(at_ms(0));
        b.deposit(at_ms(0));
        assert!(b.withdraw(at_ms(901)));
        b.deposit(at_ms(2902));
        b.deposit(at_ms(3203));
        b.deposit(at_ms(4004));
        assert!(b.withdraw(at_ms(4004)));
    }

    #[test]
    fn tower_tps_reserve() {
        let mut b = budget(1, 5, 1.0);
        for _ in 0..5 {
            assert!(b.withdraw(at_ms(0)));
        }
        assert!(!b.withdraw(at_ms(0)));
        assert_eq!(
            b.stats(),
            BudgetStats {
                deposits: 0,
                withdrawals: 5,
                refused: 1
            }
        );
    }

    #[test]
    fn default_amounts_match_tower() {
        let b = RetryBudget::new(&BudgetPolicy::default(), at_ms(0));
        assert_eq!(
            (b.deposit_amount(), b.withdraw_amount(), b.reserve()),
            (1, 5, 500)
        );
        let b = budget(10, 10, 2.0);
        assert_eq!((b.deposit_amount(), b.withdraw_amount()), (1000, 500));
        let b = budget(10, 10, 0.0);
        assert_eq!((b.deposit_amount(), b.withdraw_amount()), (0, 1));
    }

    #[test]
    fn rejects_bad_parameters() {
        let err = BudgetPolicy::new(1000.5, 10, Span::from_secs(10)).expect_err("ratio");
        assert_eq!(err.key(), "ratio");
        let err = BudgetPolicy::new(f64::NAN, 10, Span::from_secs(10)).expect_err("NaN");
        assert_eq!(err.key(), "ratio");
        let err = BudgetPolicy::new(0.2, 10, Span::from_millis(500)).expect_err("window");
        assert_eq!(
            err.to_string(),
            "`window` = \"500ms\": expected a duration from 1s to 60s"
        );
        let err = BudgetPolicy::new(0.2, 1 << 31, Span::from_secs(1)).expect_err("min");
        assert_eq!(err.key(), "min_per_s");
    }
}
