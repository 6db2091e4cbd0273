//! `[policy.autoscaler.NAME]` parsing and checking: the reference
//! configurations, defaults, and an error naming key, value and range for
//! each invalid input.

#![cfg(feature = "serde")]

use crate::autoscale_common::{hpa_spec, spec, tracking_spec};
use headroom_policy::autoscale::{
    AutoscalerConfig, AutoscalerSpec, MetricSpec, PolicyKind, ScalingPolicy, SelectPolicy,
    ValueTarget,
};
use headroom_policy::time::Span;
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    policy: Policy,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Policy {
    autoscaler: BTreeMap<String, AutoscalerConfig>,
}

/// The two reference configurations of DESIGN.md §3, as a scenario writes them.
#[test]
fn reference_configurations_parse() {
    let doc: Doc = toml::from_str(
        r#"
        # autoscaling min 1 / max 1000, target 70 % CPU or 1000 requests/s per instance
        [policy.autoscaler.api]
        min_replicas = 1
        max_replicas = 1000
        target_cpu_utilization = 0.7
        target_rps = 1000.0

        # horizontal scaling min 3 / max 100 at 1000 rps per instance
        [policy.autoscaler.web]
        min_replicas = 3
        max_replicas = 100
        target_rps = 1000.0
        "#,
    )
    .unwrap();
    let api = match doc.policy.autoscaler["api"].validate().unwrap() {
        AutoscalerSpec::Hpa(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!((api.min_replicas(), api.max_replicas()), (1, 1000));
    assert_eq!(
        api.metrics(),
        [
            MetricSpec::CpuUtilization { target_percent: 70 },
            MetricSpec::Pods {
                name: "rps".into(),
                target_milli: 1_000_000
            },
        ]
    );
    let web = doc.policy.autoscaler["web"].validate().unwrap();
    assert_eq!((web.min_replicas(), web.max_replicas()), (3, 100));
    assert_eq!(
        web.metrics(),
        [MetricSpec::Pods {
            name: "rps".into(),
            target_milli: 1_000_000
        }]
    );
}

#[test]
fn hpa_defaults() {
    let s = hpa_spec("max_replicas = 10");
    assert_eq!(s.min_replicas(), 1);
    assert_eq!(
        s.metrics(),
        [MetricSpec::CpuUtilization { target_percent: 80 }]
    );
    assert_eq!(s.sync_period(), Span::from_secs(15));
    assert_eq!(s.tolerance(), 0.1);
    assert_eq!(s.cpu_initialization_period(), Span::from_secs(300));
    assert_eq!(s.initial_readiness_delay(), Span::from_secs(30));
    assert_eq!(s.downscale_stabilization(), Span::from_secs(300));
    assert!(s.behavior().is_none(), "no behavior table: legacy path");
}

/// An empty `behavior` table gets the documented defaults.
#[test]
fn behavior_defaults() {
    let s = hpa_spec("max_replicas = 10\ndownscale_stabilization = \"2m\"\n[behavior]\n");
    let b = s.behavior().unwrap();
    let p15 = Span::from_secs(15);
    assert_eq!(b.scale_up().stabilization_window(), Span::ZERO);
    assert_eq!(b.scale_up().select_policy(), SelectPolicy::Max);
    assert_eq!(
        b.scale_up().policies(),
        [
            ScalingPolicy {
                kind: PolicyKind::Pods,
                value: 4,
                period: p15
            },
            ScalingPolicy {
                kind: PolicyKind::Percent,
                value: 100,
                period: p15
            },
        ]
    );
    assert_eq!(b.scale_down().stabilization_window(), Span::from_secs(120));
    assert_eq!(
        b.scale_down().policies(),
        [ScalingPolicy {
            kind: PolicyKind::Percent,
            value: 100,
            period: p15
        }]
    );
    assert_eq!(b.scale_down().tolerance(), 0.1);
}

#[test]
fn full_hpa_table() {
    let s = hpa_spec(
        r#"
        min_replicas = 2
        max_replicas = 50
        metrics = [
            { type = "cpu", target = 0.65 },
            { type = "pods", name = "rps", target = 250.5 },
            { type = "object", name = "queue", target = 30.0 },
            { type = "external", name = "sqs", target = 2.5, target_type = "average-value" },
        ]
        sync_period = "30s"
        tolerance = 0.05
        [behavior.scale_up]
        stabilization_window = "1m"
        select_policy = "min"
        policies = [{ type = "pods", value = 2, period = "30s" }]
        tolerance = 0.02
        [behavior.scale_down]
        select_policy = "disabled"
        "#,
    );
    assert_eq!(s.metrics().len(), 4);
    assert_eq!(
        s.metrics()[1],
        MetricSpec::Pods {
            name: "rps".into(),
            target_milli: 250_500
        }
    );
    assert_eq!(
        s.metrics()[3],
        MetricSpec::External {
            name: "sqs".into(),
            target: ValueTarget::AverageValue { milli: 2500 }
        }
    );
    assert_eq!(
        s.metrics()[2],
        MetricSpec::Object {
            name: "queue".into(),
            target: ValueTarget::Value { milli: 30_000 }
        }
    );
    let b = s.behavior().unwrap();
    assert_eq!(b.scale_up().tolerance(), 0.02);
    assert_eq!(b.scale_up().longest_period(), Span::from_secs(30));
    assert_eq!(b.scale_down().tolerance(), 0.05);
    assert_eq!(b.scale_down().select_policy(), SelectPolicy::Disabled);
}

#[test]
fn target_tracking_table() {
    let s = tracking_spec(
        "algorithm = \"target-tracking\"\nmin_replicas = 3\nmax_replicas = 100\n\
         target_rps = 1000.0\nscale_in_cooldown = \"10m\"\ndisable_scale_in = true\n",
    );
    assert_eq!(s.scale_out_cooldown(), Span::from_secs(300));
    assert_eq!(s.scale_in_cooldown(), Span::from_secs(600));
    assert!(s.disable_scale_in());
    assert_eq!(s.sync_period(), Span::from_secs(15));
}

/// Each invalid input: (table body, key named, fragment of the accepted range).
#[test]
fn errors_name_key_value_and_range() {
    let cases: &[(&str, &str, &str)] = &[
        ("min_replicas = 1", "max_replicas", "min_replicas"),
        ("min_replicas = 0\nmax_replicas = 5", "min_replicas", "1..="),
        ("max_replicas = 0", "max_replicas", "1..="),
        ("min_replicas = 5\nmax_replicas = 4", "max_replicas", "5..="),
        ("max_replicas = 2000000", "max_replicas", "1000000"),
        (
            "max_replicas = 5\ntarget_cpu_utilization = 0.705",
            "target_cpu_utilization",
            "whole-percent",
        ),
        (
            "max_replicas = 5\ntarget_cpu_utilization = 0.0",
            "target_cpu_utilization",
            "0.01..=10.0",
        ),
        ("max_replicas = 5\ntarget_rps = 0.0", "target_rps", "0.001"),
        (
            "max_replicas = 5\ntarget_rps = 1.0001",
            "target_rps",
            "three decimals",
        ),
        ("max_replicas = 5\ntarget_rps = nan", "target_rps", "0.001"),
        (
            "max_replicas = 5\nmetrics = [{ type = \"pods\", target = 1.0 }]",
            "metrics[0].name",
            "non-empty",
        ),
        (
            "max_replicas = 5\nmetrics = [{ type = \"cpu\", name = \"x\", target = 0.5 }]",
            "metrics[0].name",
            "no name",
        ),
        (
            "max_replicas = 5\nmetrics = [{ type = \"pods\", name = \"x\", target = 1.0, target_type = \"value\" }]",
            "metrics[0].target_type",
            "object",
        ),
        (
            "max_replicas = 5\nsync_period = \"500ms\"",
            "sync_period",
            "\"1s\"..=\"1h\"",
        ),
        ("max_replicas = 5\ntolerance = 1.0", "tolerance", "[0, 1)"),
        (
            "max_replicas = 5\ndownscale_stabilization = \"2h\"",
            "downscale_stabilization",
            "\"1h\"",
        ),
        (
            "max_replicas = 5\n[behavior.scale_up]\npolicies = []",
            "behavior.scale_up.policies",
            "1..=16",
        ),
        (
            "max_replicas = 5\n[behavior.scale_down]\npolicies = [{ type = \"pods\", value = 0, period = \"15s\" }]",
            "behavior.scale_down.policies[0].value",
            "1..=",
        ),
        (
            "max_replicas = 5\n[behavior.scale_down]\npolicies = [{ type = \"pods\", value = 1, period = \"31m\" }]",
            "behavior.scale_down.policies[0].period",
            "30m",
        ),
        (
            "max_replicas = 5\n[behavior.scale_up]\nstabilization_window = \"61m\"",
            "behavior.scale_up.stabilization_window",
            "\"1h\"",
        ),
        (
            "max_replicas = 5\n[behavior.scale_up]\ntolerance = -0.1",
            "behavior.scale_up.tolerance",
            "[0, 1)",
        ),
        (
            "max_replicas = 5\nscale_in_cooldown = \"1m\"",
            "scale_in_cooldown",
            "target-tracking",
        ),
        (
            "algorithm = \"target-tracking\"\nmax_replicas = 5",
            "metrics",
            "at least one",
        ),
        (
            "algorithm = \"target-tracking\"\nmax_replicas = 5\ntarget_rps = 1.0\ntolerance = 0.2",
            "tolerance",
            "\"hpa\"",
        ),
        (
            "algorithm = \"target-tracking\"\nmax_replicas = 5\ntarget_rps = 1.0\n[behavior]",
            "behavior",
            "\"hpa\"",
        ),
        (
            "algorithm = \"target-tracking\"\nmax_replicas = 5\ntarget_rps = 1.0\nmetrics = [{ type = \"external\", name = \"q\", target = 1.0 }]",
            "metrics[0].type",
            "\"cpu\" or \"pods\"",
        ),
        (
            "algorithm = \"target-tracking\"\nmax_replicas = 5\ntarget_rps = 1.0\nscale_out_cooldown = \"2d\"",
            "scale_out_cooldown",
            "\"1d\"",
        ),
    ];
    for &(body, key, expected) in cases {
        let cfg: AutoscalerConfig = toml::from_str(body).unwrap_or_else(|e| panic!("{body}: {e}"));
        let err = cfg.validate().expect_err(body);
        assert_eq!(err.key(), key, "{body}");
        assert!(err.expected().contains(expected), "{body}: {err}");
        assert!(err.to_string().contains(key), "{err}");
    }
    let many: String = (0..17)
        .map(|i| format!("{{ type = \"pods\", name = \"m{i}\", target = 1.0 }}"))
        .collect::<Vec<_>>()
        .join(", ");
    let cfg: AutoscalerConfig =
        toml::from_str(&format!("max_replicas = 5\nmetrics = [{many}]")).unwrap();
    assert_eq!(cfg.validate().unwrap_err().key(), "metrics");
}

/// Unknown keys and values are refused by the parser with their name.
#[test]
fn unknown_keys_and_values_are_refused() {
    for (body, needle) in [
        ("max_replicas = 5\ntarget_cpu = 0.5", "target_cpu"),
        ("max_replicas = 5\nalgorithm = \"step\"", "step"),
        (
            "max_replicas = 5\n[behavior.scale_up]\nselect_policy = \"fastest\"",
            "fastest",
        ),
        (
            "max_replicas = 5\n[behavior.scale_up]\nwindow = \"1m\"",
            "window",
        ),
        (
            "max_replicas = 5\nmetrics = [{ type = \"memory\", target = 0.5 }]",
            "memory",
        ),
        (
            "max_replicas = 5\nsync_period = \"15 seconds\"",
            "15 seconds",
        ),
    ] {
        let err = toml::from_str::<AutoscalerConfig>(body)
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{body}: {err}");
    }
}

/// A checked config serializes back to a table that builds the same spec
/// (what `recommendation.toml` relies on).
#[test]
fn round_trips_through_toml() {
    let body = "max_replicas = 100\nmin_replicas = 3\ntarget_rps = 1000.0\n\
                [behavior.scale_down]\nstabilization_window = \"1m\"\n\
                policies = [{ type = \"percent\", value = 10, period = \"1m\" }]\n";
    let cfg: AutoscalerConfig = toml::from_str(body).unwrap();
    let text = toml::to_string(&cfg).unwrap();
    let again: AutoscalerConfig = toml::from_str(&text).unwrap();
    assert_eq!(again, cfg);
    assert_eq!(again.validate().unwrap(), spec(body));
}
