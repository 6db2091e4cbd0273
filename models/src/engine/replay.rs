//! Trace replay as an arrival source: streams the trace of a
//! [`TracePlan`] and yields its requests in simulated time, scaled, shifted
//! and looped as the plan says, holding a bounded window, never the trace.
//!
//! One pass replays the window `[from, to)` of the trace; a record at trace
//! time `from + u` arrives at simulated `(pass × W + u) / speedup` where `W =
//! to − from`. With `scale_load = x` the pass superposes `m = ⌈x⌉` copies of
//! the window: copy `j < ⌊x⌋` keeps every record, the last copy (when `x` is
//! not whole) keeps each with probability `x − ⌊x⌋`, and copy `j ≥ 1` is
//! shifted by `d_j ~ U[0, shift)`, drawn once per replication, cyclically:
//! a record at `u` lands at `(u + d_j) mod W`. So every pass has exactly
//! `⌊x⌋ N` records plus a binomial share of the fraction, the rate keeps
//! the trace's shape at time scales above `shift`, and keys (hence key
//! popularity) are the trace's own.
//!
//! The cyclic wrap needs the window's tail at the start of a pass: a first
//! reader skips to the records within `max d_j` of the window's end and
//! queues their wrapped copies, then a second reader streams the pass. The
//! queue (a heap ordered by time, then insertion) holds only records within
//! `shift` of the read position, bounded by [`MAX_PENDING`]. All randomness
//! (thinning, shifts) comes from the replication's arrival stream, so
//! replication `r` replays the same requests at every sweep point.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::RngExt;

use headroom_sim::Timestamp;
use headroom_sim::rng::Stream;
use headroom_traces::{AnySource, Checked, Op, Record, TraceError};

use crate::plan::trace::{MAX_PENDING, TracePlan};
use crate::plan::{RegionId, ServiceId};

/// What a trace says about one request; `None` fields are drawn from
/// `[workload]` as usual.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TraceRequest {
    pub key: Option<u64>,
    pub write: Option<bool>,
    /// Object size in bytes; 0 = the store's `object_size`.
    pub size_bytes: u64,
    pub client: Option<u64>,
    pub region: Option<RegionId>,
    pub entry: Option<ServiceId>,
}

impl TraceRequest {
    /// A request the trace says nothing about.
    pub const NONE: TraceRequest = TraceRequest {
        key: None,
        write: None,
        size_bytes: 0,
        client: None,
        region: None,
        entry: None,
    };
}

/// One copy of a record, waiting for its time; ordered by `(u_ns, seq)`,
/// which is unique.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// Position in the pass, trace nanoseconds from the window's start.
    u_ns: u64,
    seq: u64,
    request: TraceRequest,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.u_ns, self.seq) == (other.u_ns, other.seq)
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.u_ns, self.seq).cmp(&(other.u_ns, other.seq))
    }
}

/// The replay of one replication.
pub(super) struct Replay<'p> {
    plan: &'p TracePlan,
    /// Per copy: shift (trace ns) and keep probability.
    copies: Vec<(u64, f64)>,
    max_shift_ns: u64,
    reader: Option<Checked<AnySource>>,
    /// Window position of the last record read this pass.
    read_u_ns: u64,
    /// The pass's reader has ended.
    pass_read: bool,
    pass: u64,
    pending: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    /// The replay is over (the trace, or the run, ended).
    done: bool,
    /// The request the next `Arrival` event stands for.
    pub(super) next: Option<TraceRequest>,
}

impl<'p> Replay<'p> {
    /// A replay of `plan`; draws the copies' shifts from `rng`.
    pub(super) fn new(plan: &'p TracePlan, rng: &mut Stream) -> Self {
        let x = plan.scale_load;
        let whole = x.floor() as usize;
        let fraction = x - x.floor();
        let mut copies: Vec<(u64, f64)> = (0..whole).map(|_| (0, 1.0)).collect();
        if fraction > 0.0 {
            copies.push((0, fraction));
        }
        for c in copies.iter_mut().skip(1) {
            if plan.shift_ns > 0 {
                c.0 = rng.random_range(0..plan.shift_ns);
            }
        }
        let max_shift_ns = copies.iter().map(|c| c.0).max().unwrap_or(0);
        Replay {
            plan,
            copies,
            max_shift_ns,
            reader: None,
            read_u_ns: 0,
            pass_read: true,
            pass: 0,
            pending: BinaryHeap::new(),
            seq: 0,
            done: false,
            next: None,
        }
    }

    /// The next arrival at or after `from` and before `end`, with its
    /// request in [`Replay::next`]; `None` when the trace (or the run) is
    /// over.
    ///
    /// # Errors
    /// The trace cannot be read (I/O, or it changed since load).
    pub(super) fn next(
        &mut self,
        end: Timestamp,
        rng: &mut Stream,
    ) -> Result<Option<Timestamp>, TraceError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.pass_read && self.pending.is_empty() {
                if self.reader.is_some() {
                    self.pass += 1;
                }
                self.done = (self.reader.is_some() && !self.plan.repeat) || self.to_sim(0) >= end;
                if !self.done {
                    self.start_pass(rng)?;
                }
                continue;
            }
            // A copy is final once nothing read later can land before it.
            let ready = self
                .pending
                .peek()
                .is_some_and(|Reverse(p)| self.pass_read || p.u_ns <= self.read_u_ns);
            if ready {
                let Reverse(p) = self.pending.pop().expect("peeked");
                let at = self.to_sim(p.u_ns);
                if at >= end {
                    // Later copies are later still: the run is over.
                    self.done = true;
                    self.pending.clear();
                    self.reader = None;
                    return Ok(None);
                }
                self.next = Some(p.request);
                return Ok(Some(at));
            }
            self.read_one(rng)?;
        }
    }

    /// The trace file, for messages.
    pub(super) fn path(&self) -> &std::path::Path {
        &self.plan.file.path
    }

    /// Simulated time of window position `u_ns` in the current pass.
    fn to_sim(&self, u_ns: u64) -> Timestamp {
        let trace_ns = u128::from(self.pass) * u128::from(self.plan.window_ns()) + u128::from(u_ns);
        let ns = if self.plan.speedup == 1.0 {
            trace_ns
        } else {
            (trace_ns as f64 / self.plan.speedup).round() as u128
        };
        Timestamp::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// Opens the trace for a pass and queues the wrapped tail of the
    /// shifted copies.
    fn start_pass(&mut self, rng: &mut Stream) -> Result<(), TraceError> {
        let window = self.plan.window_ns();
        if self.max_shift_ns > 0 {
            let mut tail = self.plan.file.open()?;
            let tail_from = self.plan.to_ns - self.max_shift_ns;
            while let Some(r) = tail.read()? {
                let at = r.at.as_nanos();
                if at >= self.plan.to_ns {
                    break;
                }
                if at < tail_from.max(self.plan.from_ns) {
                    continue;
                }
                let u = at - self.plan.from_ns;
                for c in 1..self.copies.len() {
                    let (shift, keep) = self.copies[c];
                    if u + shift >= window && Self::kept(keep, rng) {
                        self.push(u + shift - window, &r)?;
                    }
                }
            }
        }
        self.reader = Some(self.plan.file.open()?);
        self.read_u_ns = 0;
        self.pass_read = false;
        Ok(())
    }

    /// Reads one record of the pass and queues its copies that land inside
    /// the window.
    fn read_one(&mut self, rng: &mut Stream) -> Result<(), TraceError> {
        let reader = self.reader.as_mut().expect("a pass is being read");
        let Some(r) = reader.read()? else {
            self.pass_read = true;
            return Ok(());
        };
        let at = r.at.as_nanos();
        if at < self.plan.from_ns {
            return Ok(());
        }
        if at >= self.plan.to_ns {
            self.pass_read = true;
            return Ok(());
        }
        let u = at - self.plan.from_ns;
        self.read_u_ns = u;
        let window = self.plan.window_ns();
        for c in 0..self.copies.len() {
            let (shift, keep) = self.copies[c];
            if u + shift < window && Self::kept(keep, rng) {
                self.push(u + shift, &r)?;
            }
        }
        Ok(())
    }

    fn kept(keep: f64, rng: &mut Stream) -> bool {
        keep >= 1.0 || rng.random::<f64>() < keep
    }

    fn push(&mut self, u_ns: u64, r: &Record) -> Result<(), TraceError> {
        if self.pending.len() >= MAX_PENDING {
            return Err(TraceError::Format(format!(
                "more than {MAX_PENDING} shifted copies wait at once; use a shorter `shift` or a \
                 smaller `scale_load`"
            )));
        }
        self.seq += 1;
        let request = self.request(r);
        self.pending.push(Reverse(Pending {
            u_ns,
            seq: self.seq,
            request,
        }));
        Ok(())
    }

    fn request(&self, r: &Record) -> TraceRequest {
        let p = self.plan;
        let name = |id: Option<headroom_traces::NameId>| {
            id.and_then(|id| p.names.get(id.index()).copied())
        };
        TraceRequest {
            key: p.keys.then_some(r.key),
            write: p.ops.then_some(r.op == Op::Write),
            size_bytes: if p.sizes { r.size_bytes } else { 0 },
            client: r.client,
            region: name(r.region).and_then(|n| n.region),
            entry: name(r.route).and_then(|n| n.entry),
        }
    }
}
