//! A progress bar on stderr for work that takes longer than a second.
//!
//! The work runs on the calling thread and reports through atomics
//! ([`Progress`]): simulated nanoseconds advanced, the total expected (which
//! grows when stop-on-precision adds replications) and points finished. A
//! watcher thread draws the bar, and only once a second has passed, so short
//! runs print nothing. This module is the CLI's one clock reader.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Counters the work updates and the bar reads.
#[derive(Debug, Default)]
pub struct Progress {
    /// Simulated nanoseconds advanced so far, over all replications.
    pub sim_ns: AtomicU64,
    /// Simulated nanoseconds expected in all.
    total_ns: AtomicU64,
    /// Points finished.
    pub points_done: AtomicU64,
    /// Points in all (0: not a sweep, no point count shown).
    points_total: u64,
    /// A line that replaces the point count when set (a search's runs,
    /// settled points and best so far).
    status: std::sync::Mutex<String>,
}

impl Progress {
    /// Counters for `points_total` points (0 for a plain run).
    pub fn new(points_total: u64) -> Progress {
        Progress {
            points_total,
            ..Progress::default()
        }
    }

    /// Shows `line` after the label instead of the point count.
    pub fn set_status(&self, line: String) {
        if let Ok(mut s) = self.status.lock() {
            *s = line;
        }
    }

    /// Adds `ns` simulated nanoseconds to the expected total.
    pub fn grow(&self, ns: u64) {
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

/// Runs `work`, which adds to the counter it is given until it reaches about
/// `total`, and shows a bar labelled `label` unless `quiet`.
pub fn with_progress<T>(
    total: u64,
    quiet: bool,
    label: &str,
    work: impl FnOnce(&AtomicU64) -> T,
) -> T {
    let progress = Progress::new(0);
    progress.grow(total);
    show(&progress, quiet, label, || work(&progress.sim_ns))
}

/// Runs `work` while a bar labelled `label` follows `progress`, unless
/// `quiet`.
pub fn show<T>(progress: &Progress, quiet: bool, label: &str, work: impl FnOnce() -> T) -> T {
    if quiet {
        return work();
    }
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || watch(progress, label, &done_rx));
        let out = work();
        // The watcher may already have exited; nothing to do then.
        let _ = done_tx.send(());
        out
    })
}

fn watch(progress: &Progress, label: &str, done: &mpsc::Receiver<()>) {
    const TICK: Duration = Duration::from_millis(100);
    const DELAY_TICKS: u32 = 10;
    let mut bar: Option<ProgressBar> = None;
    let mut ticks = 0u32;
    loop {
        match done.recv_timeout(TICK) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        ticks += 1;
        if ticks < DELAY_TICKS {
            continue;
        }
        let total = progress.total_ns.load(Ordering::Relaxed).max(1);
        let bar = bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{msg} [{bar:40}] {percent:>3}% elapsed {elapsed} eta {eta}",
            )
            .map(|s| s.progress_chars("=> "));
            if let Ok(style) = style {
                bar.set_style(style);
            }
            bar
        });
        bar.set_length(total);
        let status = progress
            .status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        if !status.is_empty() {
            bar.set_message(format!("{label} · {status}"));
        } else if progress.points_total > 0 {
            bar.set_message(format!(
                "{label} · points {}/{}",
                progress.points_done.load(Ordering::Relaxed),
                progress.points_total
            ));
        } else {
            bar.set_message(label.to_owned());
        }
        bar.set_position(progress.sim_ns.load(Ordering::Relaxed).min(total));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
