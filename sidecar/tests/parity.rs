//! Parity: one timestamped script of requests and try outcomes drives the
//! sidecar's driver and, separately, the policies composed the way the
//! simulator drives a call edge (`RateLimiter` at arrival, then
//! `mesh::EdgeClient` per call, simulated time, a seeded stream). The two
//! decision sequences must be identical: the sidecar adds nothing to the
//! policies, and its balancer, failover and shadow streams never perturb
//! an enforced decision.

use std::collections::BTreeMap;

use headroom_policy::PolicyConfig;
use headroom_policy::mesh::{EdgeClient, Finish, Next as MeshNext, TryStart};
use headroom_policy::ratelimit::{RateDecision, RateLimiter};
use headroom_policy::retry::TryOutcome;
use headroom_policy::time::{Span, Timestamp};
use headroom_sidecar::driver::{Admission, Driver, MESH_STREAM, Next, TryDecision, rng_stream};
use rand_core::{Rng, SeedableRng};

/// One decision, as both drivers report it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Decision {
    Admit,
    Limited(Span),
    Send(Timestamp),
    Rejected,
    RetryAt(Timestamp),
    Finish(Finish),
}

/// One scripted request: arrival, client, whether it may be resent (a
/// POST may not), and how each try ends (duration and outcome); tries
/// beyond the list repeat its last entry.
struct Request {
    at: Timestamp,
    client: u64,
    retryable: bool,
    tries: Vec<(Span, TryOutcome)>,
}

/// The two ways of deciding.
trait Decider {
    type Call;
    fn arrive(
        &mut self,
        now: Timestamp,
        client: u64,
        retryable: bool,
    ) -> (Decision, Option<Self::Call>);
    fn begin(&mut self, now: Timestamp, call: &mut Self::Call) -> Decision;
    fn end(&mut self, now: Timestamp, call: &mut Self::Call, outcome: TryOutcome) -> Decision;
}

struct Sidecar(Driver);

impl Decider for Sidecar {
    type Call = headroom_sidecar::driver::Call;
    fn arrive(
        &mut self,
        now: Timestamp,
        client: u64,
        retryable: bool,
    ) -> (Decision, Option<Self::Call>) {
        match self.0.handle_request(now, 0, client, retryable) {
            Admission::Admit(call) => (Decision::Admit, Some(call)),
            Admission::Limited { retry_after } => (Decision::Limited(retry_after), None),
            Admission::Blocked => panic!("no adaptive concurrency limit in these scripts"),
        }
    }
    fn begin(&mut self, now: Timestamp, call: &mut Self::Call) -> Decision {
        match self.0.start_try(now, call) {
            TryDecision::Send { deadline, .. } => Decision::Send(deadline),
            TryDecision::BreakerOpen(_) => Decision::Rejected,
            TryDecision::NoEndpoint => panic!("one healthy endpoint"),
        }
    }
    fn end(&mut self, now: Timestamp, call: &mut Self::Call, outcome: TryOutcome) -> Decision {
        match self.0.handle_try_end(now, call, outcome) {
            Next::RetryAt { at } => Decision::RetryAt(at),
            Next::Deliver(f) => Decision::Finish(f),
        }
    }
}

/// The policies driven as the simulator drives one call edge.
struct Simulated {
    limiter: Option<RateLimiter>,
    edge: EdgeClient,
    rng: rand_pcg::Pcg64,
}

impl Decider for Simulated {
    type Call = headroom_policy::mesh::CallState;
    fn arrive(
        &mut self,
        now: Timestamp,
        client: u64,
        retryable: bool,
    ) -> (Decision, Option<Self::Call>) {
        let admit = self
            .limiter
            .as_mut()
            .map_or(RateDecision::Admit, |l| l.check(now, client));
        match admit {
            RateDecision::Admit => (Decision::Admit, Some(self.edge.start_with(now, retryable))),
            RateDecision::Reject { retry_after } => (Decision::Limited(retry_after), None),
        }
    }
    fn begin(&mut self, now: Timestamp, call: &mut Self::Call) -> Decision {
        match self.edge.begin_try(now, call) {
            TryStart::Send {
                per_try_deadline, ..
            } => Decision::Send(per_try_deadline),
            TryStart::Rejected => Decision::Rejected,
        }
    }
    fn end(&mut self, now: Timestamp, call: &mut Self::Call, outcome: TryOutcome) -> Decision {
        match self.edge.end_try(now, call, outcome, &mut self.rng) {
            MeshNext::RetryAt { at } => Decision::RetryAt(at),
            MeshNext::Finish(f) => Decision::Finish(f),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Event {
    Arrive,
    Begin,
    End(TryOutcome),
}

/// Runs the script through `d` in time order (ties: scheduling order) and
/// returns `(time, request, decision)` for every decision.
fn run<D: Decider>(d: &mut D, script: &[Request]) -> Vec<(Timestamp, usize, Decision)> {
    let mut queue: BTreeMap<(Timestamp, u64), (usize, Event)> = BTreeMap::new();
    let mut seq = 0u64;
    let mut push = |q: &mut BTreeMap<_, _>, t: Timestamp, id: usize, ev: Event| {
        q.insert((t, seq), (id, ev));
        seq += 1;
    };
    for (id, r) in script.iter().enumerate() {
        push(&mut queue, r.at, id, Event::Arrive);
    }
    let mut calls: Vec<Option<D::Call>> = (0..script.len()).map(|_| None).collect();
    let mut tries = vec![0usize; script.len()];
    let mut log = Vec::new();
    while let Some(((now, _), (id, ev))) = queue.pop_first() {
        let decision = match ev {
            Event::Arrive => {
                let (decision, call) = d.arrive(now, script[id].client, script[id].retryable);
                if call.is_some() {
                    push(&mut queue, now, id, Event::Begin);
                }
                calls[id] = call;
                decision
            }
            Event::Begin => {
                let call = calls[id].as_mut().expect("admitted");
                let decision = d.begin(now, call);
                if let Decision::Send(deadline) = decision {
                    let plan = &script[id].tries;
                    let (took, outcome) = plan[tries[id].min(plan.len() - 1)];
                    tries[id] += 1;
                    let done = now + took;
                    if done < deadline {
                        push(&mut queue, done, id, Event::End(outcome));
                    } else {
                        push(&mut queue, deadline, id, Event::End(TryOutcome::Timeout));
                    }
                }
                decision
            }
            Event::End(outcome) => {
                let call = calls[id].as_mut().expect("admitted");
                let decision = d.end(now, call, outcome);
                if let Decision::RetryAt(at) = decision {
                    push(&mut queue, at, id, Event::Begin);
                }
                decision
            }
        };
        log.push((now, id, decision));
    }
    log
}

/// A script of `n` requests: Poisson-like arrivals at about `rate` per
/// second from 8 clients, tries that succeed, fail with 503/500/429 (with
/// or without `Retry-After`), reset or hang; failures come in bursts.
fn script(seed: u64, n: usize, rate: f64) -> Vec<Request> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut unit = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut t = 0.0;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        t += -unit().max(1e-12).ln() / rate;
        let bad_phase = (i / 150) % 3 == 1;
        let tries = (0..4)
            .map(|_| {
                let took = Span::from_micros(200 + (unit() * 40_000.0) as u64);
                let p = unit();
                let outcome = match (bad_phase, p) {
                    (true, p) if p < 0.6 => TryOutcome::status(503),
                    (_, p) if p < 0.05 => TryOutcome::status(500),
                    (_, p) if p < 0.08 => TryOutcome::Response {
                        status: 429,
                        retry_after: Some(Span::from_millis(30)),
                    },
                    (_, p) if p < 0.10 => TryOutcome::Reset,
                    (_, p) if p < 0.12 => TryOutcome::ConnectFailure,
                    (_, p) if p < 0.14 => TryOutcome::status(200),
                    _ => TryOutcome::status(200),
                };
                // A few tries hang past any deadline.
                let took = if p > 0.985 { Span::from_secs(60) } else { took };
                (took, outcome)
            })
            .collect();
        out.push(Request {
            at: Timestamp::from_nanos((t * 1e9) as u64),
            client: unit().mul_add(8.0, 0.0) as u64,
            // One request in six cannot be resent (a POST).
            retryable: unit() >= 1.0 / 6.0,
            tries,
        });
    }
    out
}

const CONFIG: &str = r#"
[sidecar]
seed = 0
[[sidecar.upstreams]]
name = "api"
endpoints = [{ url = "http://127.0.0.1:1", region = "a" }, { url = "http://127.0.0.1:2", region = "a" }]
[sidecar.routes]
"/*" = { upstream = "api", rate_limit = "edge", shadow = { rate_limit = "tight", edge = "sidecar->trial" } }

[policy.load_balancer]
algorithm = "peak-ewma"

[policy.rate_limit.edge]
strategy = "gcra"
window = "1s"
max = 40
burst = 5
key = "client"

[policy.rate_limit.tight]
strategy = "token-bucket"
max_tokens = 30
tokens_per_fill = 30
fill_interval = "100ms"

[policy.mesh]
timeout = "250ms"
retry = { attempts = 3, per_try_timeout = "80ms", backoff = "exponential", base = "5ms", jitter = "full", retry_on = ["5xx", "rate-limited"], budget = { ratio = 0.3, min_per_s = 5, window = "5s" } }

[policy.mesh.edges."sidecar->api"]
circuit_breaker = BREAKER

[policy.mesh.edges."sidecar->trial"]
timeout = "100ms"
retry = { attempts = 5, jitter = "decorrelated", retry_on = ["5xx"] }
circuit_breaker = { mode = "consecutive", max_failures = 2, min_penalty = "20ms", max_penalty = "1s", jitter = 1.0 }
"#;

const BREAKERS: [&str; 2] = [
    "{ window_type = \"time\", window = \"2s\", minimum_calls = 20, failure_rate_threshold = 0.4, \
     slow_call_duration = \"30ms\", slow_call_rate_threshold = 0.8, open_duration = \"200ms\", \
     open_duration_multiplier = 2.0, open_duration_max = \"2s\", half_open_calls = 3 }",
    "{ mode = \"consecutive\", max_failures = 4, min_penalty = \"50ms\", max_penalty = \"800ms\", \
     jitter = 0.5 }",
];

#[derive(serde::Deserialize)]
struct PolicyOnly {
    policy: PolicyConfig,
}

fn both(config: &str, seed: u64) -> (Sidecar, Simulated) {
    let plan = headroom_sidecar::config::load_str(std::path::Path::new("parity.toml"), config)
        .expect("valid config");
    let sidecar = Sidecar(Driver::new(&plan, Timestamp::ZERO, seed));
    // The simulator's reading of the same file: only the [policy] table.
    let doc: toml::Table = toml::from_str(config).unwrap();
    let policy: PolicyOnly = toml::Table::from_iter([("policy".to_owned(), doc["policy"].clone())])
        .try_into()
        .unwrap();
    let policies = policy.policy.validate().unwrap();
    let simulated = Simulated {
        limiter: Some(RateLimiter::new(
            &policies.rate_limits["edge"],
            Timestamp::ZERO,
        )),
        edge: EdgeClient::new(policies.edge("sidecar", "api"), Timestamp::ZERO),
        rng: rng_stream(seed, MESH_STREAM),
    };
    (sidecar, simulated)
}

#[test]
fn sidecar_and_simulator_drivers_decide_identically() {
    for (b, breaker) in BREAKERS.iter().enumerate() {
        let config = CONFIG.replace("BREAKER", breaker);
        let mut seen = [0u64; 7];
        let mut not_retryable = 0u64;
        for seed in [1u64, 2, 3] {
            let script = script(seed * 31 + b as u64, 3000, 400.0);
            let (mut sidecar, mut simulated) = both(&config, seed);
            let a = run(&mut sidecar, &script);
            let s = run(&mut simulated, &script);
            assert_eq!(a.len(), s.len(), "breaker {b}, seed {seed}");
            if let Some(i) = (0..a.len()).find(|&i| a[i] != s[i]) {
                panic!(
                    "breaker {b}, seed {seed}: decision {i} differs: sidecar {:?} vs simulated {:?}",
                    a[i], s[i]
                );
            }
            // Count the kinds of decision the script exercised.
            for (_, _, d) in &a {
                let k = match d {
                    Decision::Admit => 0,
                    Decision::Limited(_) => 1,
                    Decision::Send(_) => 2,
                    Decision::Rejected => 3,
                    Decision::RetryAt(_) => 4,
                    Decision::Finish(Finish::GaveUp { .. }) => 5,
                    Decision::Finish(_) => 6,
                };
                seen[k] += 1;
                not_retryable += u64::from(matches!(
                    d,
                    Decision::Finish(Finish::GaveUp {
                        reason: headroom_policy::retry::GiveUpReason::NotRetryable,
                        ..
                    })
                ));
            }
            // ... and the shadow set really decided alongside.
            let stats = sidecar.0.route_stats(0);
            let edge_disagreements =
                stats.shadow_would_retry + stats.shadow_would_not_retry + stats.shadow_would_reject;
            assert!(
                stats.shadow_would_limit > 0 && edge_disagreements > 0,
                "{stats:?}"
            );
        }
        // Every kind of decision occurred (admit, limited, send, breaker
        // rejection, retry, give-up, answer).
        assert!(seen.iter().all(|&n| n > 0), "breaker {b}: {seen:?}");
        assert!(not_retryable > 0, "a request that cannot be resent gave up");
    }
}
