//! Runs independent jobs (replications, sweep points) across threads and
//! returns their results in index order.
//!
//! One simulation is always single-threaded; parallelism exists only across
//! independent runs. Results come back ordered by job index whatever the
//! thread count or scheduling, so outputs are byte-identical at any
//! `--threads`.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

/// How many worker threads to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// One per available core.
    All,
    /// Exactly this many.
    Exactly(NonZeroUsize),
}

impl Threads {
    /// `0` means all cores, otherwise exactly `n`.
    pub fn from_count(n: usize) -> Threads {
        NonZeroUsize::new(n).map_or(Threads::All, Threads::Exactly)
    }
}

/// The thread pool could not be created.
#[derive(Debug)]
pub struct ExecError(rayon::ThreadPoolBuildError);

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not start worker threads: {}", self.0)
    }
}

impl std::error::Error for ExecError {}

/// Runs `job(i)` for every `i` in `0..n` on `threads` threads and returns the
/// results ordered by `i`.
///
/// Jobs must be independent and deterministic in `i` for the output to be
/// reproducible; the executor guarantees only the order of the results.
pub fn run_indexed<R, F>(n: usize, threads: Threads, job: F) -> Result<Vec<R>, ExecError>
where
    R: Send,
    F: Fn(usize) -> R + Sync + Send,
{
    let pool = pool(threads, n)?;
    // `collect` on an indexed parallel iterator keeps index order.
    Ok(pool.install(|| (0..n).into_par_iter().map(&job).collect()))
}

/// [`run_indexed`], with the jobs started in `order` (a permutation of
/// `0..n`): each thread takes the next job of `order` when it is free, so
/// jobs start in that order whatever the thread count. Results are ordered
/// by job index, as `run_indexed`'s. For jobs that wait on one another
/// (a run waiting for the warm start it shares), the order puts those
/// waited on first.
pub fn run_in_order<R, F>(order: &[usize], threads: Threads, job: F) -> Result<Vec<R>, ExecError>
where
    R: Send,
    F: Fn(usize) -> R + Sync + Send,
{
    let n = order.len();
    debug_assert!({
        let mut seen = vec![false; n];
        order
            .iter()
            .all(|&i| i < n && !std::mem::replace(&mut seen[i], true))
    });
    let pool = pool(threads, n)?;
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    pool.scope(|scope| {
        for _ in 0..pool.current_num_threads().min(n) {
            scope.spawn(|_| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = order.get(k) else { break };
                    let r = job(i);
                    *results[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
                }
            });
        }
    });
    Ok(results
        .into_iter()
        .map(
            |m| match m.into_inner().unwrap_or_else(PoisonError::into_inner) {
                Some(r) => r,
                None => unreachable!("every job of the order ran"),
            },
        )
        .collect())
}

/// The worker pool for `n` jobs on `threads` threads.
fn pool(threads: Threads, n: usize) -> Result<rayon::ThreadPool, ExecError> {
    let mut builder =
        rayon::ThreadPoolBuilder::new().thread_name(|i| format!("headroom-worker-{i}"));
    // A pool larger than the work has idle threads that still cost their
    // start: never more threads than jobs.
    if let Threads::Exactly(count) = threads {
        builder = builder.num_threads(count.get().min(n.max(1)));
    }
    builder.build().map_err(ExecError)
}

impl Threads {
    /// How many threads a pool for `jobs` jobs has.
    pub fn count(self, jobs: usize) -> usize {
        let all = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        match self {
            Threads::All => all,
            Threads::Exactly(count) => count.get(),
        }
        .min(jobs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_in_index_order_at_any_thread_count() {
        let work = |i: usize| {
            // Uneven work so that completion order differs from index order.
            let spins = (97 * (i % 7) + 13) * 1000;
            let mut x = i as u64;
            for _ in 0..spins {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
            }
            (i, x)
        };
        let one = run_indexed(64, Threads::from_count(1), work).unwrap();
        let four = run_indexed(64, Threads::from_count(4), work).unwrap();
        let all = run_indexed(64, Threads::All, work).unwrap();
        assert_eq!(one, four);
        assert_eq!(one, all);
        assert!(one.iter().enumerate().all(|(i, (j, _))| i == *j));
    }

    #[test]
    fn a_pool_never_has_more_threads_than_jobs() {
        let sizes = run_indexed(3, Threads::from_count(64), |_| rayon::current_num_threads());
        assert_eq!(sizes.unwrap(), [3, 3, 3]);
    }

    #[test]
    fn jobs_run_in_the_given_order_and_come_back_by_index() {
        let order: Vec<usize> = (0..40).rev().collect();
        let started = Mutex::new(Vec::new());
        let out = run_in_order(&order, Threads::from_count(1), |i| {
            started.lock().unwrap().push(i);
            i * 3
        })
        .unwrap();
        assert_eq!(out, (0..40).map(|i| i * 3).collect::<Vec<_>>());
        assert_eq!(started.into_inner().unwrap(), order);
        // On several threads: each job once, results by index.
        let shuffled: Vec<usize> = (0..64).map(|i| (i * 37) % 64).collect();
        let out = run_in_order(&shuffled, Threads::from_count(3), |i| i + 1).unwrap();
        assert_eq!(out, (1..=64).collect::<Vec<_>>());
        let none: Vec<u8> = run_in_order(&[], Threads::All, |_| 1).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn zero_jobs() {
        let out: Vec<u8> = run_indexed(0, Threads::All, |_| 1).unwrap();
        assert!(out.is_empty());
    }
}
