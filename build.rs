//! Records the git commit the binary was built from, for run manifests.
//!
//! The build script re-runs only when the commit can have changed: when
//! `HEAD` moves or the branch it names gets a new commit. The paths come from
//! `git rev-parse --git-path`, so this also holds in a `git worktree` (where
//! `.git` is a file) and never re-runs on every build for a missing path.

use std::process::Command;

/// Runs `git ARGS` and returns its trimmed output, if git succeeded.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Some(sha) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        // Not a git checkout (a source tarball): no commit to record.
        return;
    };
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rustc-env=HEADROOM_GIT_SHA={sha}");
}
