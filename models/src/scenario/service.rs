//! `[[services]]`: instances, work, ordered call steps, scaling.

use serde::{Deserialize, Serialize};

use headroom_policy::balance::Algorithm;

use super::dist::{DistConfig, DistOrSpan, QueueCapacity};

/// One `[[services]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Unique name; also how `--set services.NAME.…` addresses it.
    pub name: String,
    /// Regions the service runs in. Default: every region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// What one instance is.
    pub instance: InstanceConfig,
    /// Local work of one request on one worker, before its calls.
    pub work: DistConfig,
    /// Ordered steps after the local work: `{ service = "x" }` or
    /// `{ parallel = [ { service = "a" }, { service = "b" } ] }`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<StepConfig>,
    /// Fixed number of instances per region. Exactly one of `replicas` and
    /// `autoscaler` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// A `[policy.autoscaler.NAME]` that sizes each region's instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler: Option<String>,
    /// Time from an instance's creation (scale-out, crash replacement) to
    /// ready: a duration or a distribution. Default `"0s"`. Instances present
    /// at the start are ready at once.
    #[serde(default)]
    pub boot_time: DistOrSpan,
    /// The load-balancing algorithm for calls to this service (overrides
    /// `[policy.load_balancer] algorithm`): `"round-robin"`, `"random"`,
    /// `"least-connections"`, `"least-request"`, `"peak-ewma"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<Algorithm>,
    /// A `[policy.adaptive_concurrency.NAME]` gradient controller in front
    /// of each instance (Envoy's adaptive concurrency filter in its
    /// sidecar): a request that finds the instance at its limit is shed
    /// with a 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_concurrency: Option<String>,
}

/// `services.*.instance`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// A `[costs.instance_types]` name (required when `[costs]` is present).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Requests served at once (threads, or cores for `event-loop`). >= 1.
    pub workers: u32,
    /// Waiting room per instance: an integer (0 = none, Erlang B) or
    /// `"unbounded"`. A request that finds the queue full is shed.
    /// Default `"unbounded"`.
    #[serde(default)]
    pub queue: QueueCapacity,
    /// Concurrency model. Default `"threads"`.
    #[serde(default)]
    pub model: ConcurrencyModel,
}

/// `instance.model`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ConcurrencyModel {
    /// A worker is held from the start of local work until the response,
    /// including while waiting on downstream calls.
    #[default]
    Threads,
    /// The worker is held only during local work; `workers` are CPU cores.
    EventLoop,
}

/// One entry of `calls`: exactly one of `service`, `parallel`, `data`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Call this service and wait for its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Call these (each `{ service = "x" }`) at once and wait for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<Vec<StepConfig>>,
    /// Read or write the request's key in this `[[datastores]]` entry and
    /// wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}
