//! Slow start (Envoy `slow_start_config`): a new endpoint, or one that just
//! became healthy again, takes a weight that ramps from a minimum to its full
//! weight over a window, so a cold instance is not flooded the moment it
//! joins.

use crate::config::ConfigError;
use crate::time::{Span, Timestamp};

/// Longest `window`.
pub const MAX_SLOW_START_WINDOW: Span = Span::from_secs(86_400);

/// The `slow_start` sub-table of `[policy.load_balancer]`.
///
/// | key | default | accepted |
/// |---|---|---|
/// | `window` | required | 1ms..=1d (whole milliseconds count, as Envoy) |
/// | `aggression` | `1.0` | finite, > 0: the ramp is `time_factor^(1/aggression)` |
/// | `min_weight_percent` | `10.0` | 0..=100: the floor of the ramp, in percent of the weight |
///
/// Envoy's `SlowStartConfig` (`slow_start_window`, `aggression`,
/// `min_weight_percent`) with its defaults.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(deny_unknown_fields)
)]
pub struct SlowStartConfig {
    /// How long an endpoint ramps up after it is added or becomes healthy.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub window: Option<Span>,
    /// Ramp curvature: 1 is linear, above 1 ramps faster early, below 1 slower.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub aggression: Option<f64>,
    /// Minimum weight during the ramp, in percent of the endpoint's weight.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub min_weight_percent: Option<f64>,
}

/// A validated [`SlowStartConfig`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlowStart {
    window_ms: u64,
    aggression: f64,
    min_weight: f64,
}

impl SlowStartConfig {
    /// Checks every range, naming the first bad key.
    pub fn validate(&self) -> Result<SlowStart, ConfigError> {
        let Some(window) = self.window else {
            return Err(ConfigError::new(
                "window",
                "nothing",
                "a duration from \"1ms\" to \"1d\" (Envoy's slow_start_window is required)",
            ));
        };
        if !(Span::from_millis(1)..=MAX_SLOW_START_WINDOW).contains(&window) {
            return Err(ConfigError::new(
                "window",
                format!("\"{window}\""),
                "a duration from \"1ms\" to \"1d\"",
            ));
        }
        let aggression = self.aggression.unwrap_or(1.0);
        if !(aggression.is_finite() && aggression > 0.0) {
            return Err(ConfigError::new(
                "aggression",
                aggression,
                "a finite number greater than 0 (1.0 ramps linearly)",
            ));
        }
        let min_percent = self.min_weight_percent.unwrap_or(10.0);
        if !(0.0..=100.0).contains(&min_percent) {
            return Err(ConfigError::new(
                "min_weight_percent",
                min_percent,
                "a percentage in 0..=100 (Envoy's default is 10)",
            ));
        }
        SlowStart::new(window, aggression, min_percent)
    }
}

impl SlowStart {
    /// A ramp over `window` (whole milliseconds, at least 1) with
    /// `aggression` (> 0) and a floor of `min_weight_percent` (0..=100).
    ///
    /// # Errors
    /// A [`ConfigError`] naming `window`, `aggression` or
    /// `min_weight_percent`.
    pub fn new(
        window: Span,
        aggression: f64,
        min_weight_percent: f64,
    ) -> Result<Self, ConfigError> {
        let window_ms = window.as_nanos() / 1_000_000;
        if window_ms == 0 {
            return Err(ConfigError::new(
                "window",
                format!("\"{window}\""),
                "at least \"1ms\"",
            ));
        }
        if !(aggression.is_finite() && aggression > 0.0) {
            return Err(ConfigError::new(
                "aggression",
                aggression,
                "a finite number > 0",
            ));
        }
        if !(0.0..=100.0).contains(&min_weight_percent) {
            return Err(ConfigError::new(
                "min_weight_percent",
                min_weight_percent,
                "a percentage in 0..=100",
            ));
        }
        Ok(SlowStart {
            window_ms,
            aggression,
            min_weight: min_weight_percent / 100.0,
        })
    }

    /// The window, in whole milliseconds.
    pub fn window(&self) -> Span {
        Span::from_millis(self.window_ms)
    }

    /// The ramp's curvature.
    pub fn aggression(&self) -> f64 {
        self.aggression
    }

    /// The ramp's floor as a fraction of the weight.
    pub fn min_weight(&self) -> f64 {
        self.min_weight
    }

    /// When an endpoint healthy since `since` leaves slow start: the first
    /// instant at which it has been healthy for a whole window (in whole
    /// milliseconds, as Envoy truncates).
    pub fn ends_at(&self, since: Timestamp) -> Timestamp {
        since + Span::from_millis(self.window_ms)
    }

    /// The factor (in `(0, 1]`) applied to the weight of an endpoint healthy
    /// for `healthy_for`: Envoy's `applySlowStartFactor`,
    /// `max(time_factor^(1/aggression), min_weight_percent / 100)` with
    /// `time_factor = max(1, elapsed_ms) / window_ms`, and 1 once `elapsed_ms
    /// >= window_ms`. Non-decreasing in `healthy_for`. The power uses
    /// `libm::pow`, identical on every platform.
    pub fn factor(&self, healthy_for: Span) -> f64 {
        let elapsed_ms = healthy_for.as_nanos() / 1_000_000;
        if elapsed_ms >= self.window_ms {
            return 1.0;
        }
        let time_factor = elapsed_ms.max(1) as f64 / self.window_ms as f64;
        let ramp = if self.aggression == 1.0 || time_factor == 1.0 {
            time_factor
        } else {
            libm::pow(time_factor, 1.0 / self.aggression)
        };
        ramp.max(self.min_weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(window_s: u64, aggression: f64, min_percent: f64) -> SlowStart {
        SlowStartConfig {
            window: Some(Span::from_secs(window_s)),
            aggression: Some(aggression),
            min_weight_percent: Some(min_percent),
        }
        .validate()
        .expect("valid")
    }

    #[test]
    fn envoy_documented_formula() {
        // Envoy's slow start doc: NewWeight = Weight × max(MinWeightPercent,
        // TimeFactor^(1/Aggression)), TimeFactor = max(t, 1) / window (the
        // code counts milliseconds). Window 60 s, aggression 1, floor 10 %.
        let s = spec(60, 1.0, 10.0);
        assert_eq!(s.factor(Span::from_secs(30)), 0.5);
        assert_eq!(s.factor(Span::from_secs(10)), 10.0 / 60.0);
        assert_eq!(s.factor(Span::from_secs(3)), 0.1);
        assert_eq!(s.factor(Span::ZERO), 0.1);
        assert_eq!(s.factor(Span::from_secs(60)), 1.0);
        // Aggression 2 ramps faster early: sqrt(0.25) = 0.5 at 15 s.
        let s = spec(60, 2.0, 0.0);
        assert_eq!(s.factor(Span::from_secs(15)), 0.5);
        // Below 1 ms Envoy counts 1 ms.
        assert_eq!(
            s.factor(Span::from_micros(10)),
            libm::pow(1.0 / 60_000.0, 0.5)
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = SlowStartConfig::default().validate().expect_err("window");
        assert_eq!(err.key(), "window");
        for (config, key) in [
            (
                SlowStartConfig {
                    window: Some(Span::from_micros(999)),
                    ..SlowStartConfig::default()
                },
                "window",
            ),
            (
                SlowStartConfig {
                    window: Some(Span::from_secs(1)),
                    aggression: Some(0.0),
                    ..SlowStartConfig::default()
                },
                "aggression",
            ),
            (
                SlowStartConfig {
                    window: Some(Span::from_secs(1)),
                    min_weight_percent: Some(100.5),
                    ..SlowStartConfig::default()
                },
                "min_weight_percent",
            ),
        ] {
            assert_eq!(config.validate().expect_err(key).key(), key);
        }
    }

    proptest! {
        /// The factor rises monotonically to exactly 1 at the window's end
        /// and never leaves `[min_weight, 1]`.
        #[test]
        fn factor_rises_monotonically_to_full(
            window_ms in 1u64..100_000,
            aggression in 0.05f64..20.0,
            min_percent in 0.0f64..=100.0,
            mut times in prop::collection::vec(0u64..200_000_000_000, 2..40),
        ) {
            let s = SlowStart::new(Span::from_millis(window_ms), aggression, min_percent)
                .expect("valid");
            times.sort_unstable();
            let mut previous = 0.0;
            for t in times {
                let f = s.factor(Span::from_nanos(t));
                prop_assert!(f >= previous, "{} then {} at {} ns", previous, f, t);
                prop_assert!(f > 0.0 && f <= 1.0);
                prop_assert!(f >= s.min_weight());
                if t / 1_000_000 >= window_ms {
                    prop_assert_eq!(f, 1.0);
                }
                previous = f;
            }
        }
    }
}
