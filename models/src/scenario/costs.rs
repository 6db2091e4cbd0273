//! `[costs]` (prices) and `[slo]` (objectives).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use headroom_sim::Span;

use crate::units::Bytes;

/// `[costs]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CostsConfig {
    /// `[costs.instance_types."m5.large"]`: what a service's
    /// `instance.type` costs.
    #[serde(default)]
    pub instance_types: BTreeMap<String, InstanceTypeConfig>,
    /// Price multiplier per region (default 1.0 for regions not listed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub region_multipliers: BTreeMap<String, f64>,
    /// Data transfer prices.
    #[serde(default)]
    pub egress: EgressConfig,
    /// `[costs.data]`: shard, replica and cache tier prices.
    #[serde(default)]
    pub data: super::data::DataCostsConfig,
}

/// One instance type.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstanceTypeConfig {
    /// Virtual CPUs (informational, > 0).
    pub vcpu: f64,
    /// Memory (informational).
    pub memory: Bytes,
    /// On-demand price, USD per instance-hour (>= 0).
    pub hourly: f64,
}

/// `[costs.egress]`: USD per GB (10^9 bytes) transferred.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// Between regions (request and response bytes of every call that
    /// crosses regions). Default 0.
    #[serde(default)]
    pub inter_region_per_gb: f64,
    /// To the internet (response bytes of every client request). Default 0.
    #[serde(default)]
    pub internet_per_gb: f64,
}

/// `[slo]`: every objective given must hold for `slo_met`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// Largest acceptable p50 latency of answered requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<Span>,
    /// Largest acceptable p99 latency of answered requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<Span>,
    /// Largest acceptable p99.9 latency of answered requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p999: Option<Span>,
    /// Smallest acceptable availability, `(ok + degraded) / requests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<f64>,
    /// Largest acceptable `cost_per_month_usd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_per_month: Option<f64>,
    /// Smallest acceptable session availability: the fraction of sessions
    /// every request of which was answered (`workload.session` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_availability: Option<f64>,
    /// Largest acceptable `stale_read_ratio`: the fraction of reads
    /// answered with a value older than their key's last committed write
    /// (a scenario with a datastore only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stale_read_ratio: Option<f64>,
    /// The latency and availability objectives hold for every client
    /// region's requests, not only for every client's pooled (two
    /// `[[regions]]` or more).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_region: bool,
}
