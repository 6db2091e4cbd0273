//! Sans-IO resilience and scaling policies: the decisions Headroom simulates and
//! `headroom-sidecar` enforces.
//!
//! Every policy is a plain state machine. It never reads a clock, sleeps, spawns
//! threads, performs I/O or holds global state: the driver passes `now` as a
//! [`Timestamp`] (simulated time in the simulator, `Instant`-derived nanoseconds
//! in the sidecar) and, where a decision is random, a `&mut impl rand_core::Rng`
//! (rand_core 0.10's name for what older versions called `RngCore`). The same
//! inputs give the same decisions in both drivers.
//!
//! Conventions shared by all policies:
//! - inputs are `handle_*(now, ...)` calls, outputs are `#[must_use]` decisions;
//! - policies with timers expose `poll_timeout() -> Option<Timestamp>` and
//!   `handle_timeout(now)`;
//! - each type's doc comment states the call order a driver must follow;
//! - configuration comes in as serde structs mirroring the scenario's
//!   `[policy.*]` tables and is validated once into a checked type
//!   (see [`config`]).

pub mod autoscale;
pub mod balance;
pub mod breaker;
pub mod concurrency;
pub mod config;
pub mod health;
pub mod hedge;
pub mod mesh;
pub mod pool;
pub mod ratelimit;
pub mod retry;
pub mod tables;
pub mod time;

pub use config::ConfigError;
pub use tables::{Policies, PolicyConfig};
pub use time::{Span, Timestamp};
