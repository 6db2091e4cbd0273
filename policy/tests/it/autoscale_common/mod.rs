//! Helpers shared by the `autoscale_*` integration tests.

use headroom_policy::autoscale::{
    AutoscalerConfig, AutoscalerSpec, HpaSpec, PodPhase, PodStatus, ReadyCondition,
    TargetTrackingSpec,
};
use headroom_policy::time::Timestamp;

/// The instant `s` seconds after the epoch.
pub fn at(s: u64) -> Timestamp {
    Timestamp::from_nanos(s * 1_000_000_000)
}

/// Parses an `[policy.autoscaler.NAME]` table body and builds it.
pub fn spec(toml_body: &str) -> AutoscalerSpec {
    let cfg: AutoscalerConfig = toml::from_str(toml_body).expect("test config parses");
    cfg.validate().expect("test config is valid")
}

/// As [`spec`], for an HPA.
pub fn hpa_spec(toml_body: &str) -> HpaSpec {
    match spec(toml_body) {
        AutoscalerSpec::Hpa(s) => s,
        other => panic!("expected an HPA spec, got {other:?}"),
    }
}

/// As [`spec`], for target tracking.
pub fn tracking_spec(toml_body: &str) -> TargetTrackingSpec {
    match spec(toml_body) {
        AutoscalerSpec::TargetTracking(s) => s,
        other => panic!("expected a target-tracking spec, got {other:?}"),
    }
}

/// A running pod started at `start` with the given `Ready` status (last
/// transition at the epoch, as in the k8s tests) and CPU request.
pub fn pod(start: Timestamp, ready: bool, cpu_request_milli: i64) -> PodStatus {
    PodStatus {
        phase: PodPhase::Running,
        deleting: false,
        start_time: Some(start),
        ready: Some(ReadyCondition {
            ready,
            last_transition: Timestamp::ZERO,
        }),
        cpu_request_milli: Some(cpu_request_milli),
    }
}
