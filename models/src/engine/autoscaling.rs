//! Autoscaling: each autoscaled deployment's `headroom_policy::autoscale`
//! controller syncs at its period with what a metrics pipeline would report.
//!
//! Observation per instance: booting instances are `Pending` pods without a
//! sample; ready ones are running and ready since they booted, with a CPU
//! sample (milli-CPU: the fraction of its workers doing local work over the
//! window since the last sync, × 1000 against a request of 1000) and an
//! `rps` sample (attempts it completed per second over that window);
//! draining ones are pods being deleted. The decision is applied at once:
//! new instances boot, surplus ones drain.

use headroom_policy::autoscale::{
    MetricInput, MetricSpec, Observation, PodPhase, PodStatus, ReadyCondition, Sample, to_milli,
};

use super::instance::Phase;
use super::{Event, World};

/// CPU request of one instance in milli-CPU: utilization is reported as a
/// fraction of it.
const CPU_REQUEST_MILLI: i64 = 1000;

impl World<'_> {
    #[inline(never)]
    pub(super) fn on_sync(&mut self, deployment: u32) {
        let now = self.now;
        let d = &self.deployments[deployment as usize];
        let workers = self.plan.services[d.service.index()].workers;
        let mut pods = Vec::with_capacity(d.instances.len());
        let mut cpu = Vec::with_capacity(d.instances.len());
        let mut rps = Vec::with_capacity(d.instances.len());
        for &id in &d.instances {
            let Some(i) = self.instances.get(id) else {
                continue;
            };
            let ready = i.phase == Phase::Ready;
            pods.push(PodStatus {
                phase: if i.phase == Phase::Booting {
                    PodPhase::Pending
                } else {
                    PodPhase::Running
                },
                deleting: i.phase == Phase::Draining,
                start_time: Some(i.created),
                ready: (i.phase != Phase::Booting).then_some(ReadyCondition {
                    ready,
                    last_transition: i.ready_at,
                }),
                cpu_request_milli: Some(CPU_REQUEST_MILLI),
            });
            let since = i.window_start.max(i.ready_at);
            let window = now - since;
            let sample = |value: f64| {
                (ready && !window.is_zero()).then_some(Sample {
                    value_milli: to_milli(value),
                    timestamp: now,
                    window,
                })
            };
            cpu.push(sample(i.cpu_fraction(now, workers, since)));
            rps.push(sample(
                i.completions as f64 / window.as_secs_f64().max(1e-9),
            ));
        }
        let Some(autoscaler) = &self.deployments[deployment as usize].autoscaler else {
            return;
        };
        let inputs: Vec<MetricInput<'_>> = autoscaler
            .metrics()
            .iter()
            .map(|m| match m {
                MetricSpec::CpuUtilization { .. } => MetricInput::PerPod(&cpu),
                // The plan admits only the `rps` pods metric besides CPU.
                _ => MetricInput::PerPod(&rps),
            })
            .collect();
        let d = &self.deployments[deployment as usize];
        let active = d.active(&self.instances);
        let observation = Observation {
            spec_replicas: d.desired,
            status_replicas: active,
            pods: &pods,
            metrics: &inputs,
        };
        let Some(autoscaler) = &mut self.deployments[deployment as usize].autoscaler else {
            return;
        };
        let decision = autoscaler.handle_sync(now, &observation);
        let next = autoscaler.poll_timeout();
        for &id in &self.deployments[deployment as usize].instances {
            if let Some(i) = self.instances.get_mut(id) {
                i.window_start = now;
                i.compute_ns = 0;
                i.compute_since = now;
                i.completions = 0;
            }
        }
        if decision.desired_replicas != self.deployments[deployment as usize].desired
            || decision.desired_replicas != active
        {
            self.scale_to(deployment, decision.desired_replicas);
        }
        if let Some(t) = next
            && !self.is_idle()
        {
            self.events
                .push_housekeeping(t.max(now), Event::Sync { deployment });
        }
    }
}
