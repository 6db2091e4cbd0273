//! The capacity planner behind `sweep`, `merge`, `recommend` and `compare`:
//! running many points in parallel, sharding, merging, statistics per point,
//! the recommendation, and the files that report them.
//!
//! Everything derived (points, frontier, recommendation, summary) is
//! computed from the exact text of `runs` cells ([`table`]), so a sweep
//! merged from shards gives the same bytes as one run in one process.

pub mod analysis;
pub mod boundary;
pub mod effects;
pub mod exec;
pub mod format;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod part;
pub mod points;
pub mod recommendation;
pub mod report;
pub mod search;
pub mod shard;
pub mod slo;
pub mod summary;
pub mod table;
