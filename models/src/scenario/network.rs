//! `[[regions]]` and `[network]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use headroom_sim::Span;

/// One `[[regions]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// Unique name (`"us-east"`).
    pub name: String,
}

/// `[network]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Round-trip times between regions: `rtt.A.B = "62ms"`. Every pair of
    /// distinct regions needs one value, given in either direction (or both,
    /// equal).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rtt: BTreeMap<String, BTreeMap<String, Span>>,
    /// Round-trip time between two instances of one region. Default `"0s"`.
    #[serde(default)]
    pub intra_region_rtt: Span,
    /// How long a caller waits before a try to an unreachable instance (a
    /// region in an outage) fails as a connect failure, and a client before
    /// its connect to an edge in a dark region does. Default `"1s"`.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Span,
}

fn default_connect_timeout() -> Span {
    Span::from_secs(1)
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            rtt: BTreeMap::new(),
            intra_region_rtt: Span::ZERO,
            connect_timeout: default_connect_timeout(),
        }
    }
}
