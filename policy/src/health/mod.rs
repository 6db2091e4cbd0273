//! Endpoint health: active health checks (Envoy), outlier ejection on
//! consecutive failures, success rate and failure percentage (Envoy), and
//! priority failover across regions with overprovisioning and panic
//! thresholds (Envoy priority levels).
//!
//! The three are independent state machines keyed by
//! [`EndpointId`](crate::balance::EndpointId); the driver forwards their
//! outputs to the [`Balancer`](crate::balance::Balancer):
//!
//! ```
//! use headroom_policy::balance::{Balancer, BalancerSpec, Algorithm};
//! use headroom_policy::breaker::Outcome;
//! use headroom_policy::health::{
//!     ActiveHealthChecker, CheckEvent, CheckResult, Health, HealthCheckConfig,
//!     OutlierConfig, OutlierDetector, OutlierEvent,
//! };
//! use headroom_policy::time::{Span, Timestamp};
//! use rand_core::SeedableRng;
//!
//! let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
//! let t0 = Timestamp::ZERO;
//! let mut lb = Balancer::new(&BalancerSpec::with_algorithm(Algorithm::LeastConnections));
//! let mut checks = ActiveHealthChecker::new(&HealthCheckConfig::default().validate().unwrap());
//! let mut outliers = OutlierDetector::new(&OutlierConfig::default().validate().unwrap(), t0);
//!
//! // A new endpoint starts as the health checker says (unhealthy until its
//! // first check passes, as in Envoy).
//! let initial = checks.initial_health();
//! let id = lb.add_endpoint(t0, 1, initial).unwrap();
//! checks.add_endpoint(t0, id).unwrap();
//! outliers.add_endpoint(id).unwrap();
//!
//! // Timers: probe the endpoints that are due.
//! let mut events = Vec::new();
//! assert_eq!(checks.poll_timeout(), Some(t0));
//! checks.handle_timeout(t0, &mut events);
//! assert_eq!(events, [CheckEvent::Probe(id)]);
//!
//! // The probe passes 2 ms later: the endpoint becomes healthy.
//! let t1 = t0 + Span::from_millis(2);
//! if let Some(health) = checks.handle_check_result(t1, id, CheckResult::Passed) {
//!     lb.set_health(id, health);
//!     if health == Health::Healthy {
//!         if let Some(OutlierEvent::Unejected(id)) = outliers.handle_check_passed(t1, id) {
//!             lb.set_ejected(id, false);
//!         }
//!     }
//! }
//! assert_eq!(lb.pick(t1, &mut rng), Some(id));
//!
//! // Responses feed the outlier detector; an ejection removes the endpoint
//! // from the candidates.
//! if let Some(OutlierEvent::Ejected(id)) = outliers.handle_response(t1, id, Outcome::Failure) {
//!     lb.set_ejected(id, true);
//! }
//! ```

mod active;
mod failover;
mod outlier;
mod outlier_config;

pub use active::{
    ActiveHealthChecker, CheckEvent, CheckResult, HealthCheckConfig, HealthCheckSpec,
    MAX_JITTER_PERCENT, MAX_THRESHOLD,
};
pub use failover::{
    Failover, FailoverConfig, FailoverSpec, MAX_PRIORITIES, PriorityChoice, PriorityHealth,
    PriorityLoads, priority_loads, priority_loads_into,
};
pub use outlier::{
    EjectionKind, MAX_CONSECUTIVE_5XX, MAX_REQUEST_VOLUME, OutlierConfig, OutlierDetector,
    OutlierEvent, OutlierSpec, OutlierStats,
};

use std::fmt;

/// Whether an endpoint may receive traffic, as active health checking sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum Health {
    /// Passing checks.
    #[default]
    Healthy,
    /// Failing checks (or not yet checked, when starting unhealthy).
    Unhealthy,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        })
    }
}
