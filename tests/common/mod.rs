//! Helpers shared by the integration tests: running the `headroom` binary,
//! a fresh scratch directory per test, and running a validation scenario's
//! replications in process.
//!
//! Each test binary compiles this module on its own and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::AtomicU64;

use headroom_models::{Loaded, RunOutput, load, run_replication};
use headroom_sim::exec::{Threads, run_indexed};

/// The repository root (the `headroom` package's folder).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `headroom` binary with `args` from the repository root, so
/// relative paths such as `experiments/seed.toml` resolve.
pub fn headroom(args: &[&str]) -> Output {
    headroom_env(args, &[])
}

/// As [`headroom`], for a command that must succeed: panics with the
/// arguments and the command's standard error when it does not.
pub fn headroom_ok(args: &[&str]) -> Output {
    let o = headroom(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    o
}

/// As [`headroom`], with environment variables `env` set. The Slurm and
/// Kubernetes array variables a sweep reads its shard from are cleared
/// first, so a test run inside a Slurm job behaves as anywhere else.
pub fn headroom_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_headroom"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for var in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
        "JOB_COMPLETION_INDEX",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the headroom binary runs")
}

/// An empty directory `name` under cargo's scratch directory for tests,
/// emptied first if an earlier run left it.
pub fn tempdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test's scratch directory");
    dir
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the test's input file");
    path
}

/// The bytes of `dir/name`, naming the file when it is missing.
pub fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Standard output of a run, as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error of a run, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `headroom run SCENARIO --out DIR/out EXTRA...`, DIR the
/// scenario's folder, on input that must be refused: exit code 2, one line
/// `error: ...` naming the file (or starting with the flag at fault) and
/// holding every needle, and nothing under `--out`. Returns the message.
pub fn expect_refused(scenario: &Path, extra: &[&str], needles: &[&str]) -> String {
    let name = scenario.display();
    let out = scenario
        .parent()
        .expect("a scenario in a folder")
        .join("out");
    let mut args = vec!["run", s(scenario), "--out", s(&out)];
    args.extend(extra);
    let o = headroom(&args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{name}: {err}");
    assert_eq!(err.lines().count(), 1, "{name}: one message: {err}");
    assert!(err.starts_with("error: "), "{name}: {err}");
    if !err.starts_with("error: --") {
        let file = scenario.file_name().and_then(|f| f.to_str()).unwrap_or("");
        assert!(
            err.contains(&format!("{file}:")),
            "{name}: names the file: {err}"
        );
    }
    for needle in needles {
        assert!(
            err.contains(needle),
            "{name}: {err:?} should mention {needle:?}"
        );
    }
    assert!(!out.exists(), "{name}: nothing is written under --out");
    err
}

/// M/M/1 with 100 ms mean work at `rate` per second, 10 replications of a
/// 10-minute measured window after a 10-minute warm-up.
pub fn mm1_short(rate: f64) -> String {
    format!(
        r#"
[run]
duration = "20m"
warmup = "10m"
replications = 10
seed = 9000003

[workload]
arrivals = {{ process = "poisson", rate = {rate} }}

[[services]]
name = "server"
instance = {{ workers = 1, queue = "unbounded" }}
work = {{ distribution = "exponential", mean = "100ms" }}
replicas = 1
"#
    )
}

/// A call graph whose api retries a flaky database: an errors fault fails
/// 20 % of db's tries and api's edge to db makes `attempts` tries in all
/// (about 0.2 retries per call with 2, 0.24 with 3). 200 requests/s, 2
/// replications of 1 minute (10 s of warm-up).
pub fn flaky_db(attempts: u32) -> String {
    format!(
        r#"
[run]
duration = "1m"
warmup = "10s"
replications = 2
seed = 7

[workload]
arrivals = {{ process = "poisson", rate = 200.0 }}

[[services]]
name = "api"
instance = {{ workers = 32 }}
work = {{ distribution = "exponential", mean = "1ms" }}
calls = [ {{ service = "db" }} ]
replicas = 1

[[services]]
name = "db"
instance = {{ workers = 32 }}
work = {{ distribution = "exponential", mean = "5ms" }}
replicas = 1

[[faults]]
type = "errors"
target = "db"
rate = 0.2

[policy.mesh.edges."api->db"]
retry = {{ attempts = {attempts}, backoff = "constant", base = "1ms", jitter = "none" }}
"#
    )
}

/// A store whose reads take 50 ms, behind a client that waits `timeout`
/// for each try (`extra`: more keys of `[[datastores]]`): 50 requests/s,
/// each 1 ms of work on api and one read; 1 replication of 1 minute (5 s
/// of warm-up).
pub fn timed_store(timeout: &str, extra: &str) -> String {
    format!(
        r#"
[run]
duration = "60s"
warmup = "5s"
replications = 1
seed = 5

[workload]
arrivals = {{ process = "poisson", rate = 50.0 }}
keys = {{ count = 1000 }}

[[services]]
name = "api"
instance = {{ workers = 64 }}
work = {{ distribution = "deterministic", mean = "1ms" }}
calls = [ {{ data = "users" }} ]
replicas = 1

[[datastores]]
name = "users"
shard = {{ workers = 64, read = {{ distribution = "deterministic", mean = "50ms" }} }}
{timeout}
{extra}
"#
    )
}

/// Loads `experiments/validation/FILE` with `--set` overrides `sets` and
/// runs all its replications on every core, in replication order.
pub fn run_validation(file: &str, sets: &[&str]) -> (Loaded, Vec<RunOutput>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments/validation")
        .join(file);
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    let loaded = load(&path, &sets).unwrap_or_else(|e| panic!("{file}: {e}"));
    let progress = AtomicU64::new(0);
    let outputs = run_indexed(loaded.plan.run.replications as usize, Threads::All, |r| {
        run_replication(&loaded.plan, r as u32, &progress)
    })
    .expect("thread pool")
    .into_iter()
    .map(|r| r.unwrap_or_else(|e| panic!("{file}: {e}")))
    .collect();
    (loaded, outputs)
}

/// A fuzz case's draws: its own stream of the simulator's generator, so a
/// case number reproduces its input.
pub struct FuzzRng(headroom_sim::rng::Stream);

impl FuzzRng {
    /// The draws of case `case` of the fuzz named `name`.
    pub fn new(case: u64, name: &str) -> FuzzRng {
        FuzzRng(headroom_sim::rng::stream(case, 0, name))
    }

    /// A whole number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        use rand::RngExt;
        self.0.random_range(0..n)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        use rand::RngExt;
        self.0.random_bool(p)
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A whole number in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        use rand::RngExt;
        self.0.random_range(lo..=hi)
    }
}

/// The cases a fuzz runs: `HEADROOM_FUZZ_FIRST` and `HEADROOM_FUZZ_CASES`
/// (the first case and how many), with `cases` by default.
pub fn fuzz_cases(cases: u64) -> std::ops::Range<u64> {
    let var = |name: &str, default: u64| {
        std::env::var(name).map_or(default, |v| v.parse().expect("a whole number"))
    };
    let first = var("HEADROOM_FUZZ_FIRST", 0);
    first..first + var("HEADROOM_FUZZ_CASES", cases)
}

/// Whether `dir` is absent or holds nothing.
pub fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

/// A command line as a shell would take it back (arguments with spaces or
/// quotes in single quotes).
pub fn shell_line(args: &[&str]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') || a.contains('"') {
                format!("'{a}'")
            } else {
                (*a).to_owned()
            }
        })
        .collect();
    format!("headroom {}", quoted.join(" "))
}
