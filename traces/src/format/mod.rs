//! One module per trace format.

pub mod headroom;
