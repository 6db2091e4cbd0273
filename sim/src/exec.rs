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
    let results = Slots::new(n);
    pool.scope(|scope| {
        for _ in 0..pool.current_num_threads().min(n) {
            scope.spawn(|_| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = order.get(k) else { break };
                    let r = job(i);
                    results.put(i, r);
                }
            });
        }
    });
    Ok(results.into_results())
}

/// [`run_indexed`] for jobs of two stages, `prepare(i)` then
/// `finish(i, prepared)`, where a prepared job may finish on another thread
/// than the one that prepared it. Results are ordered by job index.
///
/// Splitting a job lets a batch overlap one job's first stage with
/// another's second, instead of running whole jobs side by side: five
/// replications on two threads, each a 33 s warm start and a 25 s run, take
/// three rounds of whole jobs (174 s), but 149 s staged. A free thread
/// prepares the next job while fewer than `threads + 1` jobs are alive
/// (preparing, prepared or finishing), which bounds the memory held, and
/// otherwise finishes the lowest-indexed prepared job. On one thread the
/// jobs run one after the other, as whole jobs.
pub fn run_staged<P, R, Fp, Ff>(
    n: usize,
    threads: Threads,
    prepare: Fp,
    finish: Ff,
) -> Result<Vec<R>, ExecError>
where
    P: Send,
    R: Send,
    Fp: Fn(usize) -> P + Sync,
    Ff: Fn(usize, P) -> R + Sync,
{
    struct Board<P> {
        next: usize,
        alive: usize,
        ready: std::collections::BTreeMap<usize, P>,
    }
    enum Step<P> {
        Prepare(usize),
        Finish(usize, P),
    }
    let pool = pool(threads, n)?;
    let workers = pool.current_num_threads().min(n);
    let cap = if workers > 1 { workers + 1 } else { 1 };
    let board = Mutex::new(Board {
        next: 0,
        alive: 0,
        ready: std::collections::BTreeMap::new(),
    });
    let lock = || board.lock().unwrap_or_else(PoisonError::into_inner);
    let results = Slots::new(n);
    pool.scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|_| {
                loop {
                    let step = {
                        let mut b = lock();
                        if b.next < n && b.alive < cap {
                            b.next += 1;
                            b.alive += 1;
                            Step::Prepare(b.next - 1)
                        } else if let Some((i, p)) = b.ready.pop_first() {
                            Step::Finish(i, p)
                        } else {
                            // Every job left is being prepared or finished
                            // by another thread, which finishes it itself.
                            break;
                        }
                    };
                    match step {
                        Step::Prepare(i) => {
                            let p = prepare(i);
                            lock().ready.insert(i, p);
                        }
                        Step::Finish(i, p) => {
                            let r = finish(i, p);
                            results.put(i, r);
                            lock().alive -= 1;
                        }
                    }
                }
            });
        }
    });
    Ok(results.into_results())
}

/// One result slot per job, filled by whichever thread ran it.
struct Slots<R>(Vec<Mutex<Option<R>>>);

impl<R> Slots<R> {
    fn new(n: usize) -> Self {
        Slots((0..n).map(|_| Mutex::new(None)).collect())
    }

    fn put(&self, i: usize, r: R) {
        *self.0[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
    }

    /// The results by job index, once every job has put its own.
    fn into_results(self) -> Vec<R> {
        self.0
            .into_iter()
            .map(
                |m| match m.into_inner().unwrap_or_else(PoisonError::into_inner) {
                    Some(r) => r,
                    None => unreachable!("every job ran"),
                },
            )
            .collect()
    }
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
    fn staged_jobs_come_back_by_index_with_at_most_threads_plus_one_alive() {
        use std::sync::atomic::AtomicUsize;
        for threads in [1, 2, 3, 8] {
            let alive = AtomicUsize::new(0);
            let most = AtomicUsize::new(0);
            let stages = Mutex::new(Vec::new());
            let out = run_staged(
                23,
                Threads::from_count(threads),
                |i| {
                    let now = alive.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    stages.lock().unwrap().push((i, 'p'));
                    (i, i * 7)
                },
                |i, (j, x)| {
                    assert_eq!(i, j, "a job finishes with its own first stage");
                    stages.lock().unwrap().push((i, 'f'));
                    alive.fetch_sub(1, Ordering::SeqCst);
                    x + 1
                },
            )
            .unwrap();
            assert_eq!(out, (0..23).map(|i| i * 7 + 1).collect::<Vec<_>>());
            let stages = stages.into_inner().unwrap();
            assert_eq!(stages.len(), 46, "each stage of each job once");
            for i in 0..23 {
                let p = stages.iter().position(|&s| s == (i, 'p')).unwrap();
                let f = stages.iter().position(|&s| s == (i, 'f')).unwrap();
                assert!(p < f, "job {i} finished before it was prepared");
            }
            let bound = if threads == 1 { 1 } else { threads + 1 };
            assert!(
                most.load(Ordering::SeqCst) <= bound,
                "{} jobs alive on {threads} threads",
                most.load(Ordering::SeqCst)
            );
            if threads == 1 {
                // One thread runs whole jobs in index order.
                let whole: Vec<(usize, char)> =
                    (0..23).flat_map(|i| [(i, 'p'), (i, 'f')]).collect();
                assert_eq!(stages, whole);
            }
        }
    }

    /// On two threads the second stage of a job overlaps the first stage
    /// of a later one: while job 0 is finishing, job 2 gets prepared, which
    /// running whole jobs side by side never does (each thread holds one).
    #[test]
    fn a_free_thread_prepares_ahead_while_another_finishes() {
        let prepared_two = Mutex::new(false);
        let out = run_staged(
            3,
            Threads::from_count(2),
            |i| {
                if i == 2 {
                    *prepared_two.lock().unwrap() = true;
                }
                i
            },
            |i, p| {
                if i == 0 {
                    // Waits (bounded) for job 2's first stage, which only
                    // the other thread can be doing now.
                    for _ in 0..2000 {
                        if *prepared_two.lock().unwrap() {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                }
                (p, *prepared_two.lock().unwrap())
            },
        )
        .unwrap();
        assert_eq!(
            out[0],
            (0, true),
            "job 2 was not prepared while job 0 finished"
        );
    }

    #[test]
    fn zero_jobs() {
        let out: Vec<u8> = run_indexed(0, Threads::All, |_| 1).unwrap();
        assert!(out.is_empty());
    }
}
