//! Checks the Architecture Invariants of ARCHITECTURE.md that the crate graph
//! can show, with `cargo metadata`: dependency arrows between members point
//! one way, the deterministic crates pull in no async runtime or networking,
//! and `policy` stays nearly dependency-free; and (by reading the sources)
//! that the only `unsafe` is the cache's memory hints.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

struct Graph {
    /// package id -> name
    names: BTreeMap<String, String>,
    /// package name -> normal (non-dev, non-build) dependency names
    normal_deps: BTreeMap<String, BTreeSet<String>>,
    members: BTreeSet<String>,
}

fn graph() -> Graph {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut names = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        names.insert(
            p["id"].as_str().unwrap().to_owned(),
            p["name"].as_str().unwrap().to_owned(),
        );
    }
    let members = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| names[id.as_str().unwrap()].clone())
        .collect();
    let mut normal_deps = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let name = names[node["id"].as_str().unwrap()].clone();
        let deps: BTreeSet<String> = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| names[d["pkg"].as_str().unwrap()].clone())
            .collect();
        normal_deps
            .entry(name)
            .or_insert_with(BTreeSet::new)
            .extend(deps);
    }
    Graph {
        names,
        normal_deps,
        members,
    }
}

impl Graph {
    fn direct(&self, name: &str) -> BTreeSet<String> {
        self.normal_deps.get(name).cloned().unwrap_or_default()
    }

    fn transitive(&self, name: &str) -> BTreeSet<String> {
        self.transitive_without(name, &[])
    }

    /// The transitive dependencies of `name` reached without going through
    /// any package of `cut`.
    fn transitive_without(&self, name: &str, cut: &[&str]) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![name.to_owned()];
        while let Some(n) = stack.pop() {
            for d in self.direct(&n) {
                if !cut.contains(&d.as_str()) && seen.insert(d.clone()) {
                    stack.push(d);
                }
            }
        }
        seen
    }

    fn member_deps(&self, name: &str) -> BTreeSet<String> {
        self.direct(name)
            .into_iter()
            .filter(|d| self.members.contains(d))
            .collect()
    }
}

const RUNTIMES: [&str; 6] = ["tokio", "hyper", "async-std", "mio", "reqwest", "socket2"];

#[test]
fn members_are_the_documented_crates() {
    let g = graph();
    for name in [
        "headroom",
        "headroom-policy",
        "headroom-sim",
        "headroom-models",
        "headroom-traces",
        "headroom-cache",
        "headroom-sidecar",
    ] {
        assert!(g.members.contains(name), "{name} is a workspace member");
    }
    assert!(!g.names.is_empty());
}

#[test]
fn arrows_between_members_point_one_way() {
    let g = graph();
    let set = |xs: &[&str]| {
        xs.iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<String>>()
    };
    assert_eq!(
        g.member_deps("headroom-policy"),
        set(&[]),
        "policy depends on no other member"
    );
    assert_eq!(
        g.member_deps("headroom-sim"),
        set(&["headroom-policy"]),
        "sim uses only policy's time types"
    );
    assert_eq!(g.member_deps("headroom-traces"), set(&["headroom-policy"]));
    assert_eq!(
        g.member_deps("headroom-cache"),
        set(&[]),
        "cache depends on no other member"
    );
    assert_eq!(
        g.member_deps("headroom-sidecar"),
        set(&["headroom-policy", "headroom-traces"]),
        "the sidecar runs the policies and writes traces; it never simulates"
    );
    for m in &g.members {
        if m != "headroom-sidecar" {
            assert!(
                !g.transitive(m).contains("headroom-sidecar"),
                "{m} must not depend on the sidecar"
            );
        }
    }
    let models = g.member_deps("headroom-models");
    assert!(
        !models.contains("headroom"),
        "models never depends on the CLI"
    );
    for m in &g.members {
        if m != "headroom" {
            assert!(
                !g.transitive(m).contains("headroom"),
                "{m} must not depend on the CLI"
            );
        }
    }
}

#[test]
fn deterministic_crates_have_no_runtime_or_network() {
    let g = graph();
    for krate in [
        "headroom-policy",
        "headroom-sim",
        "headroom-models",
        "headroom-traces",
        "headroom-cache",
    ] {
        // polars (traces' optional `parquet` feature) links tokio for its
        // async utilities; nothing in these crates starts a runtime, and
        // without polars none is reachable at all.
        let deps = g.transitive_without(krate, &POLARS);
        for rt in RUNTIMES {
            assert!(!deps.contains(rt), "{krate} pulls in {rt}");
        }
    }
    for krate in [
        "headroom-policy",
        "headroom-sim",
        "headroom-models",
        "headroom-cache",
    ] {
        for p in POLARS {
            assert!(
                !g.direct(krate).contains(p),
                "{krate} depends on {p}: polars belongs to traces' and the CLI's `parquet` feature only"
            );
        }
    }
}

/// polars' crates, reached only through the `parquet` features.
const POLARS: [&str; 2] = ["polars-core", "polars-io"];

#[test]
fn policy_is_nearly_dependency_free() {
    let g = graph();
    let allowed: BTreeSet<&str> = ["libm", "rand_core", "serde", "serde_core", "serde_derive"]
        .into_iter()
        .collect();
    for dep in g.direct("headroom-policy") {
        assert!(
            allowed.contains(dep.as_str()),
            "policy depends on {dep}; allowed: {allowed:?}"
        );
    }
}

#[test]
fn cache_is_std_only() {
    let g = graph();
    assert_eq!(
        g.direct("headroom-cache"),
        BTreeSet::new(),
        "headroom-cache has no normal dependencies (std only)"
    );
}

/// Kernel work never compiles polars: building or testing the kernel crates
/// alone (`cargo test -p headroom-sim`, ...) resolves no polars crate, since
/// members depend on `headroom-traces` without its default `parquet`
/// feature. `cargo tree` resolves features as such a build does.
#[test]
fn kernel_builds_resolve_no_polars() {
    for krate in [
        "headroom-policy",
        "headroom-sim",
        "headroom-models",
        "headroom-cache",
        "headroom-sidecar",
    ] {
        let out = Command::new(env!("CARGO"))
            .args([
                "tree",
                "--locked",
                "--offline",
                "-e",
                "normal,build,dev",
                "--prefix",
                "none",
                "-p",
                krate,
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo tree runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(tree.contains(krate), "{tree}");
        assert!(
            !tree.lines().any(|l| l.starts_with("polars")),
            "`cargo test -p {krate}` would compile polars"
        );
    }
}

/// Every `.rs` file under `dir`, skipping build output.
fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// Invariant 12: the workspace's only `unsafe` is the cache's memory hints
/// (a prefetch and the huge-page advice), each with its safety argument.
#[test]
fn the_only_unsafe_is_the_cache_memory_hints() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "src", "policy", "sim", "models", "traces", "cache", "sidecar", "tests",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found {} files", files.len());
    let allowed = root.join("cache/src/hint.rs");
    let mut offenders = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let uses = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .any(|l| {
                l.contains("unsafe {")
                    || l.contains("unsafe fn")
                    || l.contains("allow(unsafe_code)")
            });
        if uses && *f != allowed && !f.ends_with("tests/architecture.rs") {
            offenders.push(f.display().to_string());
        }
    }
    assert!(
        offenders.is_empty(),
        "unsafe outside cache/src/hint.rs: {offenders:?}"
    );
    let hints = std::fs::read_to_string(&allowed).unwrap();
    let blocks = hints.matches("unsafe {").count();
    let reasons = hints.matches("// SAFETY:").count();
    assert!(
        blocks >= 1 && reasons == blocks,
        "every unsafe block in hint.rs states why it is sound ({blocks} blocks, {reasons} reasons)"
    );
}
