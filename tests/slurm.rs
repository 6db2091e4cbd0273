//! A sweep as a real Slurm job array: three array tasks, each one shard
//! (chosen from SLURM_ARRAY_TASK_ID), merged with `headroom merge` into
//! files byte-identical to the same sweep run locally.
//!
//! Needs a running Slurm cluster: `.ci/slurm.sh` installs and starts one
//! and `.ci/run` then runs `cargo test --test slurm -- --ignored`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::tempdir;

#[test]
#[ignore = "needs the Slurm cluster that .ci/slurm.sh starts"]
fn a_three_task_slurm_array_merges_to_the_local_sweep_byte_for_byte() {
    let bin = env!("CARGO_BIN_EXE_headroom");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scenario = root.join("experiments/sweeps/small.toml");
    let dir = tempdir("slurm_array");
    let local = dir.join("local");
    let o = Command::new(bin)
        .args([
            "sweep",
            scenario.to_str().unwrap(),
            "--out",
            local.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let shards = dir.join("shards");
    let o = Command::new("sbatch")
        .args([
            "--array=1-3",
            "--cpus-per-task=1",
            "--wait",
            "--chdir",
            dir.to_str().unwrap(),
        ])
        .arg(root.join("deploy/slurm/sweep.sbatch"))
        .env("HEADROOM", bin)
        .env("SCENARIO", &scenario)
        .env("OUT", &shards)
        .output()
        .expect("sbatch runs");
    let logs: String = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".out"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        o.status.success(),
        "sbatch: {}{}\ntask logs:\n{logs}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut parts: Vec<PathBuf> = (1..=3).map(|k| shards.join(format!("shard-{k}"))).collect();
    for p in &parts {
        let manifest = std::fs::read_to_string(p.join("manifest.json")).unwrap();
        assert!(
            manifest.contains("\"count\": 3"),
            "{}: {manifest}",
            p.display()
        );
    }
    parts.reverse();
    let merged = dir.join("merged");
    let mut merge = Command::new(bin);
    merge.arg("merge");
    for p in &parts {
        merge.arg(p);
    }
    let o = merge
        .args(["--out", merged.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut compared = 0;
    for entry in std::fs::read_dir(&local).unwrap() {
        let name = entry.unwrap().file_name();
        let a = std::fs::read(local.join(&name)).unwrap();
        let b = std::fs::read(merged.join(&name)).unwrap_or_default();
        assert!(
            a == b,
            "{} differs between the local sweep and the Slurm array",
            name.to_string_lossy()
        );
        compared += 1;
    }
    assert!(compared >= 8, "compared {compared} files");
}
