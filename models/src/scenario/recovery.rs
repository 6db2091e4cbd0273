//! `[recovery]`: how recovery after a trigger (a fault window or a surge)
//! is measured from the time series.

use serde::{Deserialize, Serialize};

use headroom_sim::Span;

/// `[recovery]`. Every key is optional; the defaults are documented in
/// `experiments/README.md`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecoveryConfig {
    /// Length of the baseline: the intervals just before a trigger starts
    /// (after the warm-up). Default: 5 time-series intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Span>,
    /// How long goodput and p99 must stay within tolerance for the system
    /// to count as recovered. Default: 3 time-series intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Span>,
    /// Relative tolerance on goodput (ok answers/s): an interval is within
    /// tolerance when it is within this fraction of the baseline, either
    /// way. Default 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput_tolerance: Option<f64>,
    /// Relative tolerance on the interval's p99 latency: at most
    /// `(1 + p99_tolerance) x` the baseline p99. Default 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_tolerance: Option<f64>,
    /// The tolerances widen to this many standard deviations of the signal
    /// over the baseline intervals, so sampling noise of a short interval
    /// does not read as "not recovered". Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_sigmas: Option<f64>,
}
