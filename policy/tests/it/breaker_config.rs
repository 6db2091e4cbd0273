//! The `[policy.mesh.circuit_breaker]` table: reference values parse from
//! TOML, bad values give a `ConfigError` naming key, value and accepted range.

#![cfg(feature = "serde")]

use crate::common::*;
use headroom_policy::breaker::{Breaker, BreakerConfig, BreakerState, Mode, Outcome, WindowSize};
use headroom_policy::config::ConfigError;
use headroom_policy::time::Span;

use BreakerState::Open;
use Outcome::{Failure, Success};

fn table(src: &str) -> Result<BreakerConfig, String> {
    let doc: toml::Table = toml::from_str(src).map_err(|e| e.to_string())?;
    let cb = doc
        .get("policy")
        .and_then(|p| p.get("mesh"))
        .and_then(|m| m.get("circuit_breaker"))
        .cloned()
        .ok_or("no [policy.mesh.circuit_breaker]")?;
    cb.try_into().map_err(|e: toml::de::Error| e.to_string())
}

#[test]
fn reference_table_parses_with_resilience4j_defaults() {
    let cfg = table(
        r#"
        [policy.mesh.circuit_breaker]
        failure_rate_threshold = 0.5
        open_duration = "30s"
        "#,
    )
    .expect("parses");
    let spec = cfg.validate().expect("valid");
    assert_eq!(spec.mode(), Mode::Rate);
    assert_eq!(spec.half_open_calls(), 10);
    // Default count window of 100 with minimum 100: 49 failures of 100
    // stay closed, the 50th of 100 opens.
    let now = t0();
    let mut b = Breaker::new(&spec, now);
    for i in 0..100 {
        let outcome = if i < 50 { Success } else { Failure };
        let _ = call(&mut b, now, outcome, Span::ZERO);
        assert_eq!(b.state() == Open, i == 99, "call {i}");
    }
    assert_eq!(b.poll_timeout(), Some(now + secs(30)));
}

#[test]
fn full_tables_parse_in_both_modes() {
    let rate = table(
        r#"
        [policy.mesh.circuit_breaker]
        mode = "rate"
        window_type = "time"
        window = "10s"
        failure_rate_threshold = 0.25
        slow_call_rate_threshold = 0.8
        slow_call_duration = "2s"
        minimum_calls = 20
        open_duration = "5s"
        open_duration_multiplier = 1.5
        open_duration_max = "1m"
        half_open_calls = 3
        "#,
    )
    .expect("parses");
    assert_eq!(rate.window, Some(WindowSize::Duration(secs(10))));
    assert!(rate.validate().is_ok());
    let consecutive = table(
        r#"
        [policy.mesh.circuit_breaker]
        mode = "consecutive"
        max_failures = 7
        min_penalty = "1s"
        max_penalty = "1m"
        jitter = 0.5
        "#,
    )
    .expect("parses");
    let spec = consecutive.validate().expect("valid");
    assert_eq!(spec.mode(), Mode::Consecutive);
    assert_eq!(spec.half_open_calls(), 1);
    let defaults = table("[policy.mesh.circuit_breaker]\nmode = \"consecutive\"\n")
        .expect("parses")
        .validate()
        .expect("valid");
    assert_eq!(defaults, spec);
}

fn rejects(src: &str) -> ConfigError {
    table(&format!("[policy.mesh.circuit_breaker]\n{src}\n"))
        .expect("parses")
        .validate()
        .expect_err("invalid")
        .within("policy.mesh.circuit_breaker")
}

#[test]
fn bad_values_name_key_value_and_range() {
    let cases = [
        (
            "failure_rate_threshold = 1.5",
            "failure_rate_threshold",
            "1.5",
            "(0, 1]",
        ),
        (
            "failure_rate_threshold = 0.0",
            "failure_rate_threshold",
            "0",
            "(0, 1]",
        ),
        (
            "slow_call_rate_threshold = -0.1",
            "slow_call_rate_threshold",
            "-0.1",
            "(0, 1]",
        ),
        ("window = 0", "window", "0", "1..=100000"),
        (
            "window = \"10s\"",
            "window",
            "\"10s\"",
            "window_type = \"count\"",
        ),
        (
            "window_type = \"time\"\nwindow = 10",
            "window",
            "10",
            "duration string",
        ),
        (
            "window_type = \"time\"\nwindow = \"1500ms\"",
            "window",
            "\"1500ms\"",
            "whole number of seconds",
        ),
        ("minimum_calls = 0", "minimum_calls", "0", "1..=1000000"),
        (
            "open_duration = \"0s\"",
            "open_duration",
            "\"0s\"",
            "greater than zero",
        ),
        (
            "open_duration_multiplier = 0.5",
            "open_duration_multiplier",
            "0.5",
            ">= 1.0",
        ),
        (
            "open_duration = \"10s\"\nopen_duration_max = \"5s\"",
            "open_duration_max",
            "\"5s\"",
            ">= open_duration",
        ),
        ("half_open_calls = 0", "half_open_calls", "0", "1..=10000"),
        (
            "max_failures = 3",
            "max_failures",
            "3",
            "mode = \"consecutive\"",
        ),
        (
            "mode = \"consecutive\"\nwindow = 10",
            "window",
            "10",
            "mode = \"rate\"",
        ),
        (
            "mode = \"consecutive\"\nmax_failures = 0",
            "max_failures",
            "0",
            "1..=1000000",
        ),
        (
            "mode = \"consecutive\"\nmin_penalty = \"2m\"",
            "min_penalty",
            "\"2m\"",
            "<= max_penalty",
        ),
        (
            "mode = \"consecutive\"\njitter = 101.0",
            "jitter",
            "101",
            "0..=100",
        ),
    ];
    for (src, key, value, expected) in cases {
        let err = rejects(src);
        assert_eq!(
            err.key(),
            format!("policy.mesh.circuit_breaker.{key}"),
            "{src}"
        );
        assert_eq!(err.value(), value, "{src}");
        assert!(
            err.expected().contains(expected),
            "{src}: {}",
            err.expected()
        );
    }
}

#[test]
fn unknown_keys_and_bad_types_are_parse_errors() {
    let err = table("[policy.mesh.circuit_breaker]\nfailure_rate = 0.5\n").expect_err("unknown");
    assert!(err.contains("failure_rate"), "{err}");
    let err = table("[policy.mesh.circuit_breaker]\nmode = \"fast\"\n").expect_err("bad mode");
    assert!(err.contains("rate") && err.contains("consecutive"), "{err}");
    let err = table("[policy.mesh.circuit_breaker]\nopen_duration = \"30 seconds\"\n")
        .expect_err("bad duration");
    assert!(err.contains("30 seconds"), "{err}");
}
