//! The Kubernetes manifests in `deploy/k8s/` against the sidecar they ship:
//! the ConfigMap's config is valid as it is, the Deployment's ports and
//! grace period agree with it, and a sidecar running it serves the metric
//! the KEDA ScaledObject scales on, within the ScaledObject's bounds.
//!
//! The YAML is read line by line (the manifests are plain block mappings);
//! no YAML parser is needed for the few values checked.
// A sidecar process runs in real time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::PathBuf;

use common::{Sidecar, Upstream, metric_value, run_binary};

fn manifest(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/k8s")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ConfigMap's `sidecar.toml: |` block, de-indented.
fn configmap_config() -> String {
    let yaml = manifest("sidecar-configmap.yaml");
    let mut lines = yaml.lines();
    let header = lines
        .by_ref()
        .find(|l| l.trim() == "sidecar.toml: |")
        .expect("the ConfigMap has a `sidecar.toml: |` block");
    let outer = indent(header);
    let block: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || indent(l) > outer)
        .collect();
    let inner = block
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .min()
        .expect("the block is not empty");
    block
        .iter()
        .map(|l| l.get(inner..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The first value of `key: value` in `yaml`, quotes removed.
fn yaml_value<'a>(yaml: &'a str, key: &str) -> &'a str {
    yaml.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("`{key}` in the manifest"))
        .trim()
        .trim_matches('"')
}

/// The `containerPort` of every port named in the Deployment.
fn container_ports(yaml: &str) -> Vec<(String, u16)> {
    let lines: Vec<&str> = yaml.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter_map(|w| {
            let name = w[0].strip_prefix("- name:")?.trim();
            let port = w[1].strip_prefix("containerPort:")?.trim().parse().ok()?;
            Some((name.to_owned(), port))
        })
        .collect()
}

/// The port of `sidecar.KEY` (an address such as `"0.0.0.0:8080"`).
fn config_port(config: &str, key: &str) -> u16 {
    let line = config
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{key} =")))
        .unwrap_or_else(|| panic!("`sidecar.{key}` in the ConfigMap"));
    let addr = line.split('"').nth(1).expect("a quoted address");
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

fn config_number(config: &str, key: &str) -> f64 {
    let line = config
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{key} =")))
        .unwrap_or_else(|| panic!("`{key}` in the ConfigMap"));
    let value = line.split('=').nth(1).unwrap().trim().trim_matches('"');
    value.trim_end_matches('s').parse().unwrap()
}

#[test]
fn the_configmap_config_is_valid_as_shipped() {
    let dir = common::scratch_dir();
    let path = dir.join("sidecar.toml");
    std::fs::write(&path, configmap_config()).unwrap();
    let (code, out, err) = run_binary(&["--config", path.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok (1 routes, 1 upstreams)"), "{out}");
}

#[test]
fn the_deployment_agrees_with_the_config() {
    let config = configmap_config();
    let deployment = manifest("deployment.yaml");
    let ports = container_ports(&deployment);
    let port = |name: &str| {
        ports
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("a container port named {name}: {ports:?}"))
            .1
    };
    assert_eq!(port("http"), config_port(&config, "listen"), "proxy port");
    assert_eq!(port("admin"), config_port(&config, "admin"), "admin port");
    let scrape: u16 = yaml_value(&deployment, "prometheus.io/port")
        .parse()
        .unwrap();
    assert_eq!(
        scrape,
        config_port(&config, "admin"),
        "Prometheus scrapes the admin port"
    );
    let app_url = config
        .lines()
        .find(|l| l.contains("endpoints"))
        .and_then(|l| l.split('"').nth(1))
        .expect("an upstream endpoint url");
    let app_port: u16 = app_url.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(
        port("app"),
        app_port,
        "the sidecar forwards to the app's port"
    );
    let grace: f64 = yaml_value(&deployment, "terminationGracePeriodSeconds")
        .parse()
        .unwrap();
    let drain = config_number(&config, "drain_timeout");
    assert!(
        grace > drain,
        "SIGTERM drains ({drain} s) before SIGKILL ({grace} s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_serves_the_metric_keda_scales_on() {
    let scaled = manifest("scaledobject.yaml");
    let query = yaml_value(&scaled, "query");
    let metric = query
        .split(['(', '{'])
        .nth(1)
        .expect("the query names a metric: max(NAME{...})");
    let min: f64 = yaml_value(&scaled, "minReplicaCount").parse().unwrap();
    let max: f64 = yaml_value(&scaled, "maxReplicaCount").parse().unwrap();
    let config = configmap_config();
    assert_eq!(
        min,
        config_number(&config, "min_replicas"),
        "KEDA's minimum is the policy's"
    );
    assert_eq!(
        max,
        config_number(&config, "max_replicas"),
        "KEDA's maximum is the policy's"
    );

    // The shipped config, on test ports and with a test app behind it.
    let app = Upstream::start("app").await;
    let config = config
        .lines()
        .map(|l| match l.split(" =").next() {
            Some("listen") => "listen = \"@LISTEN@\"".to_owned(),
            Some("admin") => "admin = \"@ADMIN@\"".to_owned(),
            _ if l.contains("endpoints") => l.replace("http://127.0.0.1:3000", &app.url()),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let sidecar = Sidecar::start(&config).await;
    let reply = sidecar.get("/", Some("client-1")).await;
    assert_eq!(reply.status, 200);
    let text = sidecar.admin_get("/metrics").await.unwrap().body;
    let desired = metric_value(&text, metric);
    assert!(
        (min..=max).contains(&desired),
        "{metric} = {desired}, outside KEDA's {min}..={max}:\n{text}"
    );
}
