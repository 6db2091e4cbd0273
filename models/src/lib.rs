//! Headroom's models: scenario schema -> world -> run report.
