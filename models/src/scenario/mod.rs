//! The scenario file's schema: serde structs that mirror the TOML exactly.
//!
//! Every table denies unknown keys, so a typo is an error rather than a
//! silently ignored setting. These structs hold what the planner wrote (with
//! defaults filled in); [`crate::plan`] turns them, once, into the checked
//! model the engine runs. Defaults are documented here and in
//! `experiments/README.md`. One module per concern:
//!
//! - [`run`]: the `run` table;
//! - [`workload`]: the `workload` table (arrivals, surges, clients, origin,
//!   entry);
//! - [`service`]: the `services` array (instances, work, calls, scaling);
//! - [`network`]: the `regions` array and the `network` table;
//! - [`faults`]: the `faults` array;
//! - [`data`]: `workload.keys`, the `datastores` array, `[edge] cache`,
//!   `[costs.data]`;
//! - [`costs`]: the `costs` and `slo` tables;
//! - [`recovery`]: the `recovery` table (how recovery after a trigger is
//!   measured);
//! - [`dist`]: distributions and queue capacities shared by the others.
//!
//! `[policy]` is `headroom_policy::PolicyConfig`, the very table the sidecar
//! reads.

pub mod costs;
pub mod data;
pub mod dist;
pub mod faults;
pub mod network;
pub mod recovery;
pub mod run;
pub mod service;
pub mod workload;

use serde::{Deserialize, Serialize};

use headroom_policy::PolicyConfig;

pub use costs::{CostsConfig, EgressConfig, InstanceTypeConfig, SloConfig};
pub use data::{
    CacheTierConfig, CapacityConfig, DataCostsConfig, DataPoolConfig, DatastoreConfig,
    EdgeCacheConfig, KeysConfig, ReadRouting, RoutingConfig, Scope, ShardConfig, SizeConfig,
    SizeDistConfig, Storage,
};
pub use dist::{DistConfig, DistOrSpan, QueueCapacity};
pub use faults::FaultConfig;
pub use network::{NetworkConfig, RegionConfig};
pub use recovery::RecoveryConfig;
pub use run::{Replications, RunConfig, Warmup};
pub use service::{ConcurrencyModel, InstanceConfig, ServiceConfig, StepConfig};
pub use workload::{
    ArrivalsConfig, ClientsConfig, EntryConfig, MmppStateConfig, Popularity, SessionConfig,
    SessionLength, StageConfig, SurgeConfig, TraceArrivalsConfig, WorkloadConfig,
};

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// `[run]`: how long, how many replications, which seed.
    pub run: RunConfig,
    /// `[workload]`: the traffic offered at the edge.
    pub workload: WorkloadConfig,
    /// `[[regions]]`: the regions. Absent: one implicit region named
    /// `"default"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionConfig>,
    /// `[network]`: round-trip times between regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkConfig>,
    /// `[[services]]`: the services; the first is the default entry point.
    pub services: Vec<ServiceConfig>,
    /// `[[datastores]]`: sharded, replicated stores and their cache tiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datastores: Vec<DatastoreConfig>,
    /// `[edge]`: what the edge applies before the entry service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<EdgeConfig>,
    /// `[policy]`: the policy tables (shared with the sidecar).
    #[serde(default, skip_serializing_if = "is_default_policy")]
    pub policy: PolicyConfig,
    /// `[[faults]]`: injected failures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultConfig>,
    /// `[costs]`: prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub costs: Option<CostsConfig>,
    /// `[slo]`: the objectives `slo_met` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloConfig>,
    /// `[recovery]`: how recovery after each fault window and surge is
    /// measured (defaults without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryConfig>,
    /// `[sweep]`: parameters to vary for `headroom sweep` (ignored by `run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<crate::sweep::SweepConfig>,
}

fn is_default_policy(p: &PolicyConfig) -> bool {
    *p == PolicyConfig::default()
}

/// `[edge]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// A `[policy.rate_limit.NAME]` applied to every client request at the
    /// edge, keyed by client when the limiter has `key = "client"`. Refused
    /// requests end as `rejected` (HTTP 429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    /// A cache at the edge: a cacheable read whose key was fetched within
    /// `max_age` is answered there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<EdgeCacheConfig>,
    /// A `[policy.adaptive_concurrency.NAME]` gradient controller at each
    /// region's edge (an ingress Envoy's filter), after the rate limit:
    /// a request over its limit ends as `shed` (HTTP 503), and every
    /// admitted request's time at the edge is a latency sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_concurrency: Option<String>,
}
