//! Headroom's discrete-event simulation kernel.
//!
//! Deterministic by construction: integer time ([`Timestamp`], [`Span`]), an
//! event queue ordered by `(time, sequence)` so equal times pop in scheduling
//! order, random-number streams derived from `(seed, replication, stable
//! name)`, and statistics that merge exactly. The kernel knows nothing of
//! scenarios, files or threads other than the rayon executor that runs
//! independent replications side by side and returns their results in index
//! order.

pub use headroom_policy::time::{self, Span, Timestamp};

pub mod dist;
pub mod exec;
pub mod queue;
pub mod rng;
pub mod slab;
pub mod stats;
pub mod theory;
pub mod zipf;

pub use queue::EventQueue;
pub use stats::{
    ConfidenceInterval, LatencyHistogram, TimeWeighted, Welford, ci95, student_t_quantile,
};
