//! The policy crate's integration tests, one module per policy, built as
//! one test binary: a single link against the crate and its
//! dev-dependencies instead of one per file (CI compiles every test
//! target; README, "CI"). `cargo test -p headroom-policy --test it breaker`
//! runs one module's tests.

// Helpers shared by the modules (`common`: the breaker files;
// `autoscale_common`: the `autoscale_*` files, which all need `serde`).
#[cfg(feature = "serde")]
mod autoscale_common;
mod common;

mod autoscale_behavior;
mod autoscale_config;
mod autoscale_group_pods;
mod autoscale_props;
mod autoscale_replica_calc;
mod autoscale_target_tracking;
mod balance;
mod breaker;
mod breaker_config;
mod breaker_consecutive;
mod breaker_r4j;
mod determinism;
mod edge_transitions;
mod failover;
mod health;
mod hedge;
mod hedged_edge;
mod outlier;
mod pool;
mod ratelimit;
mod retry;
mod slow_start;
mod tables;
