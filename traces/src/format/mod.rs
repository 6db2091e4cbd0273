//! One module per trace format, and [`open`](crate::open) to pick one.

pub mod clf;
pub mod headroom;
pub mod lines;
pub mod mapped;
pub mod oracle;
#[cfg(feature = "parquet")]
pub mod parquet;
