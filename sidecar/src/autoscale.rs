//! `headroom_desired_replicas`: the configured autoscaler policy, fed the
//! request rate this sidecar observes (sans-IO; owned by the driver).
//!
//! The sidecar sees one pod's traffic. At each sync it reports to the
//! policy a workload of `current` pods (its own last decision, starting at
//! `min_replicas`) that each see this pod's request rate, which is what the
//! HPA would observe if the load is spread evenly. With KEDA scaling the
//! deployment to `max(headroom_desired_replicas)`, `current` tracks the
//! real replica count, and the decision is the HPA's (or target
//! tracking's) for the whole deployment. CPU and other metrics are not
//! observable here and are reported unavailable (the HPA then never scales
//! down on them).

use headroom_policy::autoscale::{
    Autoscaler, AutoscalerSpec, MetricInput, MetricSpec, Observation, PodStatus, Sample, to_milli,
};
use headroom_policy::time::{Span, Timestamp};

/// Autoscaler state: the policy plus the arrival counter of the current
/// sync period.
#[derive(Debug)]
pub struct AutoscalerState {
    scaler: Autoscaler,
    metrics: Vec<MetricSpec>,
    arrivals: u64,
    period_start: Timestamp,
    desired: u32,
}

impl AutoscalerState {
    /// Starts at `min_replicas`; the first sync is one period after `now`
    /// (so the first rate covers a whole period).
    pub fn new(spec: AutoscalerSpec, now: Timestamp) -> Self {
        let desired = spec.min_replicas();
        let first = now + spec.sync_period();
        let metrics = spec.metrics().to_vec();
        AutoscalerState {
            scaler: Autoscaler::new(spec, first),
            metrics,
            arrivals: 0,
            period_start: now,
            desired,
        }
    }

    /// Counts one request.
    pub fn handle_arrival(&mut self) {
        self.arrivals += 1;
    }

    /// The next sync.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.scaler.poll_timeout()
    }

    /// Runs the sync if due by `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.scaler.poll_timeout().is_none_or(|t| t > now) {
            return;
        }
        let window = now.saturating_since(self.period_start);
        let rps = if window.is_zero() {
            0.0
        } else {
            self.arrivals as f64 / window.as_secs_f64()
        };
        let pods_n = self.desired.max(1) as usize;
        let pods = vec![PodStatus::running_ready(Timestamp::ZERO, 1000); pods_n];
        let sample = Some(Sample {
            value_milli: to_milli(rps),
            timestamp: now,
            window: window.max(Span::from_nanos(1)),
        });
        let samples = vec![sample; pods_n];
        let inputs: Vec<MetricInput<'_>> = self
            .metrics
            .iter()
            .map(|m| match m {
                MetricSpec::Pods { name, .. } if name == "rps" => MetricInput::PerPod(&samples),
                _ => MetricInput::Unavailable,
            })
            .collect();
        let obs = Observation {
            spec_replicas: self.desired,
            status_replicas: self.desired,
            pods: &pods,
            metrics: &inputs,
        };
        let decision = self.scaler.handle_sync(now, &obs);
        self.desired = decision.desired_replicas;
        self.arrivals = 0;
        self.period_start = now;
    }

    /// The latest decision.
    pub fn desired(&self) -> u32 {
        self.desired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom_policy::autoscale::AutoscalerConfig;

    #[test]
    fn desired_follows_the_observed_rate() {
        let config = AutoscalerConfig {
            algorithm: headroom_policy::autoscale::Algorithm::Hpa,
            min_replicas: Some(1),
            max_replicas: Some(100),
            target_rps: Some(100.0),
            sync_period: Some(Span::from_secs(15)),
            ..AutoscalerConfig::default()
        };
        let spec = config.validate().expect("valid");
        let mut a = AutoscalerState::new(spec, Timestamp::ZERO);
        assert_eq!(a.desired(), 1);
        let t1 = a.poll_timeout().expect("scheduled");
        assert_eq!(t1, Timestamp::ZERO + Span::from_secs(15));
        // 300 rps on one pod against a target of 100 per pod: ceil(3.0) = 3 (below
        // the legacy scale-up limit max(2 x 1, 4)).
        for _ in 0..(300 * 15) {
            a.handle_arrival();
        }
        a.handle_timeout(t1);
        assert_eq!(a.desired(), 3);
    }
}
