//! The whole `[policy]` table: the reference configuration of DESIGN §3
//! parses as written and checks into the expected policies; errors carry the
//! full key path; per-edge overrides merge field by field.

use headroom_policy::autoscale::AutoscalerSpec;
use headroom_policy::balance::Algorithm;
use headroom_policy::ratelimit::RateLimitPolicy;
use headroom_policy::time::Span;
use headroom_policy::{Policies, PolicyConfig};

#[derive(serde::Deserialize)]
struct Doc {
    policy: PolicyConfig,
}

fn parse(text: &str) -> PolicyConfig {
    toml::from_str::<Doc>(text).expect("parses").policy
}

fn check(text: &str) -> Policies {
    parse(text).validate().expect("valid")
}

const REFERENCE: &str = r#"
[policy.rate_limit.edge]
window = "1m"
max = 100
strategy = "sliding-window"

[policy.mesh]
timeout = "5000ms"
retry = { attempts = 3, backoff = "exponential" }
circuit_breaker = { failure_rate_threshold = 0.5, open_duration = "30s" }

[policy.mesh.edges."api->auth"]
timeout = "1s"

[policy.autoscaler.api]
min_replicas = 1
max_replicas = 1000
target_cpu_utilization = 0.7
target_rps = 1000.0

[policy.autoscaler.web]
min_replicas = 3
max_replicas = 100
target_rps = 1000.0

[policy.failover]
order = ["us-east", "us-west", "eu-west", "ap-south"]
health_check = { interval = "30s", timeout = "5s" }

[policy.load_balancer]
algorithm = "least-connections"
health_check = { interval = "10s", timeout = "5s" }
"#;

#[test]
fn reference_configuration_parses_and_checks() {
    let p = check(REFERENCE);
    assert!(matches!(p.rate_limits["edge"], RateLimitPolicy { .. }));
    assert_eq!(p.mesh.timeout, Some(Span::from_millis(5000)));
    let retry = p.mesh.retry.as_ref().expect("retry");
    assert_eq!(retry.attempts(), 3);
    assert_eq!(retry.timeout(), Some(Span::from_secs(5)));
    assert!(p.mesh.circuit_breaker.is_some());
    let api = &p.autoscalers["api"];
    assert_eq!((api.min_replicas(), api.max_replicas()), (1, 1000));
    assert_eq!(api.metrics().len(), 2, "CPU and rps");
    assert!(matches!(p.autoscalers["web"], AutoscalerSpec::Hpa(_)));
    assert_eq!(p.autoscalers["web"].min_replicas(), 3);
    let failover = p.failover.as_ref().expect("failover");
    assert_eq!(failover.priority_of("eu-west"), Some(2));
    assert_eq!(
        p.load_balancer.as_ref().map(|b| b.algorithm),
        Some(Algorithm::LeastConnections)
    );
}

#[test]
fn edge_overrides_replace_fields_and_keep_the_rest() {
    let p = check(REFERENCE);
    let edge = p.edge("api", "auth");
    assert_eq!(edge.timeout, Some(Span::from_secs(1)));
    let retry = edge.retry.as_ref().expect("inherits the mesh retry");
    assert_eq!(
        retry.timeout(),
        Some(Span::from_secs(1)),
        "the retry deadline is the edge's timeout"
    );
    assert_eq!(edge.circuit_breaker, p.mesh.circuit_breaker);
    assert_eq!(p.edge("api", "db"), &p.mesh, "no override: the default");
}

#[test]
fn empty_policy_table_is_valid() {
    let p = check("[policy]\n");
    assert!(p.rate_limits.is_empty() && p.autoscalers.is_empty() && p.edges.is_empty());
    assert_eq!(p.mesh.timeout, None);
    assert!(p.mesh.retry.is_none() && p.failover.is_none());
}

#[test]
fn errors_carry_the_full_key_path() {
    let cases = [
        (
            "[policy.rate_limit.edge]\nstrategy = \"sliding-window\"\nwindow = \"1m\"\nmax = 0\n",
            "policy.rate_limit.edge.max",
        ),
        (
            "[policy.mesh]\ncircuit_breaker = { failure_rate_threshold = 50.0 }\n",
            "policy.mesh.circuit_breaker.failure_rate_threshold",
        ),
        (
            "[policy.mesh.edges.\"a->b\"]\nretry = { attempts = 0 }\n",
            "policy.mesh.edges.\"a->b\".retry.attempts",
        ),
        (
            "[policy.mesh.edges.\"a-b\"]\ntimeout = \"1s\"\n",
            "policy.mesh.edges",
        ),
        (
            "[policy.autoscaler.api]\nmin_replicas = 5\nmax_replicas = 2\n",
            "policy.autoscaler.api.max_replicas",
        ),
        ("[policy.failover]\norder = []\n", "policy.failover.order"),
        (
            "[policy.load_balancer]\nchoice_count = 1\n",
            "policy.load_balancer.choice_count",
        ),
    ];
    for (text, key) in cases {
        let err = parse(text).validate().expect_err(text);
        assert_eq!(err.key(), key, "{text}: {err}");
        assert!(err.to_string().contains("expected"), "{err}");
    }
}

#[test]
fn unknown_keys_are_refused() {
    for text in [
        "[policy]\nmeshh = {}\n",
        "[policy.mesh]\ntimeut = \"1s\"\n",
        "[policy.mesh.edges.\"a->b\"]\nretries = 2\n",
    ] {
        assert!(toml::from_str::<Doc>(text).is_err(), "{text}");
    }
}

#[test]
fn round_trips_through_toml() {
    let config = parse(REFERENCE);
    let text = toml::to_string(&Doc2 {
        policy: config.clone(),
    })
    .expect("serializes");
    assert_eq!(parse(&text), config);
}

#[derive(serde::Serialize)]
struct Doc2 {
    policy: PolicyConfig,
}

/// Every key the production-fidelity work added, in one `[policy]` table: it
/// parses, checks, keeps the values, and round-trips through TOML.
const COMPLETE: &str = r#"
[policy.mesh]
timeout = "2s"
retry = { attempts = 2, per_try_timeout = "800ms" }
hedge = { percentile = 0.95, delay = "40ms", max_hedged = 2, min_samples = 50, window = "5s" }

[policy.mesh.edges."api->search"]
hedge = { delay = "30ms", retry_on = ["5xx", "reset"] }

[policy.load_balancer]
algorithm = "least-request"
slow_start = { window = "60s", aggression = 2.0, min_weight_percent = 5.0 }
health_check = { interval = "10s", interval_jitter = "500ms", interval_jitter_percent = 10, initial_jitter = "2s" }

[policy.load_balancer.outlier_detection]
consecutive_5xx = 5
enforcing_consecutive_5xx = 100
success_rate_stdev_factor = 1900
success_rate_minimum_hosts = 5
success_rate_request_volume = 100
enforcing_success_rate = 100
failure_percentage_threshold = 85
failure_percentage_minimum_hosts = 5
failure_percentage_request_volume = 50
enforcing_failure_percentage = 50
max_ejection_time_jitter = "1s"
"#;

#[test]
fn every_new_key_parses_checks_and_round_trips() {
    let p = check(COMPLETE);
    let hedge = p.mesh.hedge.expect("mesh hedge");
    assert_eq!(hedge.max_hedged(), 2);
    let search = p.edge("api", "search").hedge.expect("edge hedge");
    assert_eq!(
        search.delay(),
        headroom_policy::hedge::HedgeDelay::Fixed(Span::from_millis(30))
    );
    let lb = p.load_balancer.as_ref().expect("balancer");
    let slow = lb.slow_start.expect("slow start");
    assert_eq!(
        (slow.window(), slow.aggression()),
        (Span::from_secs(60), 2.0)
    );
    let hc = lb.health_check.as_ref().expect("checks");
    assert_eq!(
        (
            hc.interval_jitter_ms,
            hc.interval_jitter_percent,
            hc.initial_jitter_ms
        ),
        (500, 10, 2_000)
    );
    let od = lb.outlier_detection.as_ref().expect("outliers");
    assert_eq!(
        (
            od.enforcing_failure_percentage,
            od.max_ejection_time_jitter_ms
        ),
        (50, 1_000)
    );
    let config = parse(COMPLETE);
    let text = toml::to_string(&Doc2 {
        policy: config.clone(),
    })
    .expect("serializes");
    assert_eq!(parse(&text), config);
}
