//! Fuzzing the config parser with proptest: arbitrary bytes, and valid
//! configs with random edits, never panic; every rejection is one message
//! that names the file.

use std::path::Path;

use proptest::prelude::*;

const VALID: &str = r#"[run]
duration = "1h"
[sidecar]
listen = "127.0.0.1:8080"
client_id = "x-client-id"
[[sidecar.upstreams]]
name = "api"
endpoints = [{ url = "http://127.0.0.1:9000", region = "us-east" }, { url = "http://127.0.0.1:9001", region = "us-west" }]
[sidecar.routes]
"/api/*" = { upstream = "api", rate_limit = "edge", shadow = { edge = "sidecar->trial" } }
"/health" = "api"
[policy.rate_limit.edge]
strategy = "sliding-window"
window = "1m"
max = 100
[policy.mesh]
timeout = "5s"
retry = { attempts = 3, backoff = "exponential" }
circuit_breaker = { failure_rate_threshold = 0.5, open_duration = "30s" }
[policy.mesh.edges."sidecar->trial"]
timeout = "2s"
[policy.failover]
order = ["us-east", "us-west"]
health_check = { interval = "10s", timeout = "5s" }
"#;

fn check(text: &str) {
    match headroom_sidecar::config::load_str(Path::new("fuzz.toml"), text) {
        Ok(plan) => assert!(!plan.routes.is_empty() && !plan.upstreams.is_empty()),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("fuzz.toml"), "{msg}");
            assert!(!msg.contains('\n') || msg.lines().count() < 20, "{msg}");
        }
    }
}

/// As [`check`], and a rejection says what is accepted in TOML's words:
/// none of serde's and toml's that name no accepted value or are Rust's.
fn check_words(text: &str) {
    check(text);
    if let Err(e) = headroom_sidecar::config::load_str(Path::new("fuzz.toml"), text) {
        let msg = e.to_string();
        for vague in headroom_policy::config::VAGUE_WORDS {
            assert!(!msg.contains(vague), "{msg}");
        }
    }
}

#[test]
fn the_valid_config_is_valid() {
    let plan = headroom_sidecar::config::load_str(Path::new("fuzz.toml"), VALID).unwrap();
    assert_eq!(plan.routes[0].pattern, "/health");
    assert_eq!(plan.upstreams[0].endpoints[1].priority, 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn edited_configs_never_panic(
        cut in 0..VALID.len(),
        len in 0usize..40,
        insert in "[ -~\n]{0,40}",
    ) {
        let start = VALID.floor_char_boundary(cut);
        let end = VALID.floor_char_boundary((cut + len).min(VALID.len()));
        let text = format!("{}{}{}", &VALID[..start], insert, &VALID[end..]);
        check(&text);
    }

    #[test]
    fn replaced_values_never_panic(
        line in 0usize..40,
        value in prop_oneof![
            Just("-1".to_owned()), Just("0".to_owned()), Just("1e308".to_owned()),
            Just("\"\"".to_owned()), Just("\"0s\"".to_owned()), Just("[]".to_owned()),
            Just("{}".to_owned()), Just("18446744073709551615".to_owned()),
            Just("true".to_owned()), Just("{ a = 1 }".to_owned()), Just("[1, \"x\"]".to_owned()),
            Just("\"http://[::1]:99999\"".to_owned()), Just("nan".to_owned()),
            "\"[ -~]{0,12}\"",
        ],
    ) {
        let lines: Vec<&str> = VALID.lines().collect();
        let i = line % lines.len();
        let edited: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(j, l)| match l.split_once(" = ") {
                Some((k, _)) if j == i => format!("{k} = {value}"),
                _ => (*l).to_owned(),
            })
            .collect();
        check_words(&edited.join("\n"));
    }
}
