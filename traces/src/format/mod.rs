//! One module per trace format.

pub mod headroom;
pub mod oracle;
