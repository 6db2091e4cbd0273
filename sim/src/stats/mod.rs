//! Statistics for simulation output: a latency histogram, running
//! mean/variance, time-weighted averages and confidence intervals.
//!
//! Everything here is deterministic and mergeable where that makes sense:
//! replications record into their own [`LatencyHistogram`] and [`Welford`]
//! and the executor merges them in index order. [`TimeWeighted`] integrates
//! piecewise-constant signals over simulated time. [`ci95`] turns one value
//! per replication into a Student-t confidence interval; [`quantile_ci95`]
//! does the same for histogram quantiles, never narrower than the
//! histogram's resolution.

mod ci;
mod histogram;
mod mser;
mod relax;
mod time_weighted;
mod welford;

pub use ci::{
    ConfidenceInterval, ci95, confidence_interval, quantile_ci95, sectioned_quantile_ci95,
    student_t_quantile,
};
pub use histogram::{LatencyHistogram, SparseHistogram, nearest_rank};
pub use mser::{Truncation, mser, mser5};
pub use relax::{Relaxation, heavy_traffic_relaxation, relaxation};
pub use time_weighted::TimeWeighted;
pub use welford::Welford;
