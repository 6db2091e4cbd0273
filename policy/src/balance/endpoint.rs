//! Endpoint handles shared by the balancer, the health checker and the outlier
//! detector, and the capacity error they report.

use std::fmt;

/// Most endpoints one [`Balancer`](super::Balancer) (or health checker, or
/// outlier detector) tracks at once.
pub const MAX_ENDPOINTS: usize = 65_536;

/// An endpoint handle: a slot index plus the slot's generation, so a handle
/// kept after its endpoint was removed never reaches the slot's next occupant.
///
/// [`Balancer::add_endpoint`](super::Balancer::add_endpoint) hands these out; the health checker and the
/// outlier detector accept the same handles. Targets that no balancer manages
/// (e.g. regions) can be named with [`EndpointId::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId {
    index: u32,
    generation: u32,
}

impl EndpointId {
    /// The handle for slot `index` in its `generation`.
    pub const fn new(index: u32, generation: u32) -> Self {
        EndpointId { index, generation }
    }

    /// The slot index: dense, below [`MAX_ENDPOINTS`], reused after removal
    /// (use it to index side tables).
    pub const fn index(self) -> usize {
        self.index as usize
    }

    /// How many times the slot was vacated before this endpoint took it.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "endpoint {}#{}", self.index, self.generation)
    }
}

/// Adding an endpoint beyond [`MAX_ENDPOINTS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityError {
    /// The limit that was reached.
    pub limit: usize,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "endpoint limit of {} reached", self.limit)
    }
}

impl std::error::Error for CapacityError {}
