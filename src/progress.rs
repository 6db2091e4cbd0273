//! A progress bar on stderr for work that takes longer than a second.
//!
//! The work runs on the calling thread and reports through an `AtomicU64`;
//! a watcher thread draws the bar, and only once a second has passed, so
//! short runs print nothing. This module is the CLI's one clock reader.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Runs `work`, which adds to the counter it is given until it reaches about
/// `total`, and shows a bar labelled `label` unless `quiet`.
pub fn with_progress<T>(
    total: u64,
    quiet: bool,
    label: &str,
    work: impl FnOnce(&AtomicU64) -> T,
) -> T {
    let counter = AtomicU64::new(0);
    if quiet {
        return work(&counter);
    }
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let counter = &counter;
        scope.spawn(move || watch(total, label, counter, &done_rx));
        let out = work(counter);
        // The watcher may already have exited; nothing to do then.
        let _ = done_tx.send(());
        out
    })
}

fn watch(total: u64, label: &str, counter: &AtomicU64, done: &mpsc::Receiver<()>) {
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
        let bar = bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{msg} [{bar:40}] {percent:>3}% elapsed {elapsed} eta {eta}",
            )
            .map(|s| s.progress_chars("=> "));
            if let Ok(style) = style {
                bar.set_style(style);
            }
            bar.set_message(label.to_owned());
            bar
        });
        bar.set_position(counter.load(Ordering::Relaxed).min(total));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
