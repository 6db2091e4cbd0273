//! `[[faults]]`: injected failures, tagged by `type`.

use serde::{Deserialize, Serialize};

use headroom_sim::Span;

use super::dist::DistOrSpan;

/// One `[[faults]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultConfig {
    /// A region goes dark: its instances neither answer nor are reachable;
    /// requests in flight there fail; clients there reach no edge.
    RegionOutage {
        /// The region.
        region: String,
        /// Start.
        at: Span,
        /// Length (> 0).
        duration: Span,
    },
    /// Requests arriving at `target` in the window do `add` more local work
    /// (holding the worker).
    Latency {
        /// A service name.
        target: String,
        /// Only this region's instances. Default: every region.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        /// Extra work: a duration or a distribution.
        add: DistOrSpan,
        /// Start. Default `"0s"`.
        #[serde(default)]
        at: Span,
        /// Length. Default: to the end of the run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration: Option<Span>,
    },
    /// Requests arriving at `target` in the window fail at once with
    /// probability `rate`, answered with `status`.
    Errors {
        /// A service name.
        target: String,
        /// Only this region's instances. Default: every region.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        /// Probability in [0, 1].
        rate: f64,
        /// The status answered (500..=599). Default 503.
        #[serde(default = "default_error_status")]
        status: u16,
        /// Start. Default `"0s"`.
        #[serde(default)]
        at: Span,
        /// Length. Default: to the end of the run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration: Option<Span>,
    },
    /// Each instance of `service` crashes after an exponential lifetime of
    /// mean `mtbf`; its requests in flight fail and a replacement boots
    /// (`boot_time`).
    InstanceCrash {
        /// A service name.
        service: String,
        /// Only this region's instances. Default: every region.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        /// Mean time between failures of one instance (> 0).
        mtbf: Span,
    },
    /// Every copy of a cache tier is emptied at `at` (the cold-start herd
    /// on the store that follows is the point).
    CacheFlush {
        /// A `[[datastores]]` name.
        store: String,
        /// One of its `[[datastores.cache]]` tiers.
        tier: String,
        /// When.
        at: Span,
    },
}

fn default_error_status() -> u16 {
    503
}
