//! Headroom's models: scenario schema -> checked plan -> world -> run report.
//!
//! - [`scenario`]: the TOML schema (serde, unknown keys denied);
//! - [`load`]: reading a file, `--set` overrides, errors with line and column;
//! - [`plan`]: validation into the checked model;
//! - [`engine`]: the world of one replication and its event loop;
//! - [`report`]: what a replication produces and the output columns;
//! - [`recovery`]: recovery after each fault window and surge, from the
//!   time series.

pub mod engine;
pub mod load;
pub mod plan;
pub mod recovery;
pub mod report;
pub mod scenario;
pub mod sweep;
pub mod units;

pub use engine::{
    KeepCopies, Prepared, RunError, WarmSlot, WarmStarts, prepare_replication, run_replication,
    run_replication_with,
};
pub use load::{Loaded, Location, ScenarioError, element_position, load, load_str, split_path};
pub use plan::Plan;
pub use report::{
    BillRow, DeploymentRow, EdgeRow, RunMetrics, RunOutput, ServiceRow, ShardIntervalRow, ShardRow,
    run_columns,
};
pub use scenario::Scenario;
