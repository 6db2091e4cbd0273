//! The benchmark scripts that drive the binary stay in step with the
//! scenario schema. `experiments/bench/compare_simpy.py` writes its own
//! M/M/c scenario; when the service tier made `replicas` (or an autoscaler)
//! required, the script broke and nothing noticed. This runs its quick
//! check against the binary under test.
//!
//! `.ci/run` installs SimPy (`pip install simpy==4.1.1`); when it is missing
//! this test installs it the same way.

use std::path::PathBuf;
use std::process::Command;

const SIMPY: &str = "simpy==4.1.1";

fn python_with_simpy() -> &'static str {
    let has = || {
        Command::new("python3")
            .args(["-c", "import simpy"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has() {
        let ok = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", SIMPY])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok && has(), "python3 with `{SIMPY}` is needed");
    }
    "python3"
}

/// The SimPy comparison runs on the current schema and both simulators
/// answer every c: a row per c with positive rates, and Headroom's mean
/// response time near Erlang C's (a short run from an empty system, so the
/// bound is loose: it catches a scenario that is not the M/M/c the script
/// means, not noise).
#[test]
fn simpy_comparison_runs_on_the_current_schema() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python_with_simpy())
        .arg(root.join("experiments/bench/compare_simpy.py"))
        .args([
            "--reps",
            "1",
            "--customers",
            "20000",
            "--simpy-customers",
            "2000",
        ])
        .env("HEADROOM_BIN", env!("CARGO_BIN_EXE_headroom"))
        .current_dir(&root)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<String>> = stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect();
    let cs: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(cs, ["1", "4", "16"], "{stdout}");
    for r in &rows {
        // c, headroom cust/s, simpy cust/s, ratio, W analytic, "/", W headroom, "/", W simpy
        let rate = |s: &str| s.replace(',', "").parse::<f64>().expect("a rate");
        assert!(rate(&r[1]) > 0.0 && rate(&r[2]) > 0.0, "{stdout}");
        let analytic: f64 = r[4].parse().expect("analytic W");
        let headroom: f64 = r[6].parse().expect("Headroom's W");
        assert!(
            (headroom / analytic - 1.0).abs() < 0.5,
            "c = {}: W {headroom} against Erlang C's {analytic}\n{stdout}",
            r[0]
        );
    }
}
