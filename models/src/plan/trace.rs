//! Checked trace workload (`workload.arrivals = { process = "trace", ... }`):
//! the trace file, the one pass over it at load time that finds its window,
//! record count and names, and opening it again for each replication.
//!
//! The engine never holds the trace: each replication opens the file with
//! [`TraceFile::open`] and streams it. The load-time pass is what makes that
//! safe: every bad row, backwards timestamp, unknown region or route and an
//! empty window is reported here, once, as an [`Invalid`] before any
//! replication starts; and the file's length and modification time are kept
//! so that a replication refuses a trace that changed since (a replay is a
//! pure function of the plan only while the file stays the same).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use headroom_sim::Span;
use headroom_traces::{AnySource, CheckOptions, Checked, Format, Op, TraceError};

use super::network::NetworkPlan;
use super::service::ServicePlan;
use super::{Invalid, RegionId, ServiceId};
use crate::scenario::TraceArrivalsConfig;

/// Trace time zero is the first record's time rounded down to this grid, so
/// that per-minute series of a run and of its trace line up.
pub const ORIGIN_GRID_NS: u64 = 60_000_000_000;

/// Largest `scale_load`: a replication holds one reader and a bounded heap
/// of shifted copies, and a hundredfold trace is already far past what a
/// trace says about a system.
pub const MAX_SCALE_LOAD: f64 = 100.0;

/// Records held at once to interleave shifted copies (`scale_load > 1`).
pub const MAX_PENDING: usize = 1 << 22;

/// A trace file and how to read it.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceFile {
    /// The file (absolute, or relative to the working directory).
    pub path: PathBuf,
    /// Its format; `None` = detected.
    pub format: Option<Format>,
    /// Format options (`key=value,...`).
    pub options: String,
    /// Sort window and bad-row handling.
    pub check: CheckOptions,
    /// Length and modification time at load, to notice a changed file.
    len: u64,
    modified: Option<SystemTime>,
}

impl TraceFile {
    /// Opens the trace for reading from its first record.
    ///
    /// # Errors
    /// The file cannot be opened or has changed since the scenario was
    /// loaded; the format cannot be opened.
    pub fn open(&self) -> Result<Checked<AnySource>, TraceError> {
        let file = File::open(&self.path)?;
        let meta = file.metadata()?;
        if meta.len() != self.len || meta.modified().ok() != self.modified {
            return Err(TraceError::Format(format!(
                "{} changed since the scenario was loaded; a replay reads the same trace in \
                 every replication",
                self.path.display()
            )));
        }
        let name = self
            .path
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let opened = headroom_traces::open(Box::new(file), &name, self.format, &self.options)?;
        Ok(Checked::new(opened.source, self.check))
    }
}

/// What a region or route name of the trace stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameUse {
    /// As a region: the scenario's region.
    pub region: Option<RegionId>,
    /// As a route: the entry service.
    pub entry: Option<ServiceId>,
}

/// A checked trace workload.
#[derive(Clone, Debug, PartialEq)]
pub struct TracePlan {
    /// The file.
    pub file: TraceFile,
    /// Trace time (as written, ns) of the window's start: simulated zero.
    pub from_ns: u64,
    /// Trace time (ns) of the window's end, exclusive: one pass replays
    /// `[from_ns, to_ns)`, and a loop starts over after `to_ns - from_ns`.
    pub to_ns: u64,
    /// Records in the window.
    pub records: u64,
    /// Time compression (> 0).
    pub speedup: f64,
    /// Load factor (> 0, at most [`MAX_SCALE_LOAD`]).
    pub scale_load: f64,
    /// Largest shift of a superposed copy, trace nanoseconds (below the
    /// window's length).
    pub shift_ns: u64,
    /// Start over at the end until `run.duration`.
    pub repeat: bool,
    /// Per interned name (by `NameId` index): its meaning.
    pub names: Vec<NameUse>,
    /// The trace has keys (some key is not 0): requests take them.
    pub keys: bool,
    /// The trace has sizes: data steps take them as object sizes.
    pub sizes: bool,
    /// The trace has writes: requests take their operation from it.
    pub ops: bool,
    /// The trace names clients: keyed limits take them.
    pub clients: bool,
}

impl TracePlan {
    /// The replayed span of one pass, in trace nanoseconds.
    pub fn window_ns(&self) -> u64 {
        self.to_ns - self.from_ns
    }

    /// One pass's length in simulated time (the window over `speedup`,
    /// rounded up to a whole nanosecond).
    pub fn period(&self) -> Span {
        Span::from_nanos((self.window_ns() as f64 / self.speedup).ceil() as u64)
    }

    /// Mean arrival rate per second of the replay (after speedup and
    /// scaling).
    pub fn mean_rate(&self) -> f64 {
        self.records as f64 * self.scale_load / self.period().as_secs_f64().max(1e-9)
    }
}

/// Checks the trace workload and reads the trace once.
pub(super) fn plan(
    c: &TraceArrivalsConfig,
    base_dir: &Path,
    network: &NetworkPlan,
    services: &[ServicePlan],
) -> Result<TracePlan, Invalid> {
    const KEY: &str = "workload.arrivals";
    let key = |k: &str| format!("{KEY}.{k}");
    if !(c.speedup.is_finite() && c.speedup > 0.0 && c.speedup <= 1e9) {
        return Err(Invalid::new(
            key("speedup"),
            c.speedup,
            "a time compression factor > 0 and <= 1e9 (2.0 replays twice as fast)",
        ));
    }
    if !(c.scale_load.is_finite() && c.scale_load > 0.0 && c.scale_load <= MAX_SCALE_LOAD) {
        return Err(Invalid::new(
            key("scale_load"),
            c.scale_load,
            format!(
                "a load factor > 0 and <= {MAX_SCALE_LOAD} (0.5 keeps half the requests, 3.0 \
                 superposes three shifted copies)"
            ),
        ));
    }
    let format = c
        .format
        .as_deref()
        .map(Format::parse)
        .transpose()
        .map_err(|_| {
            Invalid::new(
                key("format"),
                format!("{:?}", c.format.as_deref().unwrap_or_default()),
                format!("one of {}", Format::NAMES.join(", ")),
            )
        })?;
    let (from, to) = match &c.window {
        None => (Span::ZERO, None),
        Some(w) => parse_window(w).map_err(|e| Invalid::new(key("window"), format!("{w:?}"), e))?,
    };
    let path = base_dir.join(&c.path);
    let unreadable = |e: &dyn std::fmt::Display| {
        Invalid::new(
            key("path"),
            format!("{:?}", path.display().to_string()),
            format!("a readable trace file ({e})"),
        )
    };
    let meta = std::fs::metadata(&path).map_err(|e| unreadable(&e))?;
    if !meta.is_file() {
        return Err(unreadable(&"not a file"));
    }
    let file = TraceFile {
        path: path.clone(),
        format,
        options: c.options.clone(),
        check: CheckOptions {
            skip_bad_rows: c.skip_bad_rows,
            sort_window_ns: c.sort_window.map(Span::as_nanos),
        },
        len: meta.len(),
        modified: meta.modified().ok(),
    };
    let bad = |e: TraceError| {
        let said = e.to_string();
        Invalid {
            trace: Some(said.as_str().into()),
            ..Invalid::new(
                key("path"),
                format!("{:?}", path.display().to_string()),
                format!("a trace without errors: {}", in_scenario_terms(&said)),
            )
        }
    };
    let mut reader = file.open().map_err(bad)?;
    if !reader.timed() {
        return Err(Invalid::new(
            key("path"),
            format!("{:?}", path.display().to_string()),
            "a trace with timestamps (this format is a bare sequence of keys, so it has no \
             arrival times to replay)",
        ));
    }
    let scan = scan(&mut reader, from, to).map_err(bad)?;
    if scan.past_end {
        return Err(Invalid::new(
            key("path"),
            format!("{:?}", path.display().to_string()),
            format!(
                "a trace whose last record's minute ends by the largest time, {} ns (the year \
                 2554): its last record is at {} ns; give times from the trace's start, or a \
                 `window` that ends",
                u64::MAX,
                scan.last_ns
            ),
        ));
    }
    if scan.records == 0 {
        return Err(Invalid::new(
            key("window"),
            format!("{:?}", c.window.as_deref().unwrap_or("")),
            format!(
                "a window holding some of the trace's records (trace time zero is {} ns; the \
                 trace starts {} after it)",
                scan.origin_ns,
                Span::from_nanos(scan.first_ns - scan.origin_ns)
            ),
        ));
    }
    let names = resolve_names(&reader, &scan.used, network, services, &path)?;
    let window_ns = scan.to_ns - scan.from_ns;
    let shift_ns = c.shift.as_nanos().min(window_ns - 1);
    Ok(TracePlan {
        file,
        from_ns: scan.from_ns,
        to_ns: scan.to_ns,
        records: scan.records,
        speedup: c.speedup,
        scale_load: c.scale_load,
        shift_ns,
        repeat: c.repeat,
        names,
        keys: scan.keys,
        sizes: scan.sizes,
        ops: scan.ops,
        clients: scan.clients,
    })
}

/// What the load-time pass found.
struct Scan {
    origin_ns: u64,
    first_ns: u64,
    from_ns: u64,
    to_ns: u64,
    records: u64,
    /// The last record's time (in the window).
    last_ns: u64,
    /// The last record's minute ends past `u64::MAX` ns: a pass has no end.
    past_end: bool,
    keys: bool,
    sizes: bool,
    ops: bool,
    clients: bool,
    /// Per `NameId` index: bit 0 used as a region, bit 1 as a route.
    used: Vec<u8>,
}

fn scan(reader: &mut Checked<AnySource>, from: Span, to: Option<Span>) -> Result<Scan, TraceError> {
    let Some(first) = reader.read()? else {
        return Err(TraceError::Empty);
    };
    let first_ns = first.at.as_nanos();
    let origin_ns = first_ns - first_ns % ORIGIN_GRID_NS;
    let from_ns = origin_ns.saturating_add(from.as_nanos());
    let to_ns = to.map(|t| origin_ns.saturating_add(t.as_nanos()));
    let mut s = Scan {
        origin_ns,
        first_ns,
        from_ns,
        to_ns: 0,
        records: 0,
        last_ns: first_ns,
        past_end: false,
        keys: false,
        sizes: false,
        ops: false,
        clients: false,
        used: Vec::new(),
    };
    let mut last_ns = first_ns;
    let mut next = Some(first);
    while let Some(r) = next {
        let at = r.at.as_nanos();
        if to_ns.is_some_and(|to| at >= to) {
            break;
        }
        if at >= from_ns {
            s.records += 1;
            last_ns = at;
            s.keys |= r.key != 0;
            s.sizes |= r.size_bytes != 0;
            s.ops |= r.op == Op::Write;
            s.clients |= r.client.is_some();
            for (id, bit) in [(r.region, 1u8), (r.route, 2u8)] {
                if let Some(id) = id {
                    if s.used.len() <= id.index() {
                        s.used.resize(id.index() + 1, 0);
                    }
                    s.used[id.index()] |= bit;
                }
            }
        }
        next = reader.read()?;
    }
    // Without an end, one pass lasts to the end of the last record's
    // minute; `None` when that minute ends past the largest time.
    let end = to_ns.or_else(|| {
        last_ns
            .max(from_ns)
            .checked_add(1)
            .and_then(|end| end.div_ceil(ORIGIN_GRID_NS).checked_mul(ORIGIN_GRID_NS))
    });
    s.last_ns = last_ns;
    s.past_end = end.is_none();
    s.to_ns = end.unwrap_or(u64::MAX);
    if s.to_ns <= s.from_ns {
        s.records = 0;
    }
    Ok(s)
}

fn resolve_names(
    reader: &Checked<AnySource>,
    used: &[u8],
    network: &NetworkPlan,
    services: &[ServicePlan],
    path: &Path,
) -> Result<Vec<NameUse>, Invalid> {
    let names = reader.names();
    let mut out = vec![NameUse::default(); names.len()];
    for (i, name) in names.iter().enumerate() {
        let bits = used.get(i).copied().unwrap_or(0);
        if bits & 1 != 0 {
            let id = network.regions.iter().position(|r| r.name == name);
            let Some(id) = id else {
                return Err(Invalid::new(
                    "workload.arrivals.path",
                    format!("{:?}", path.display().to_string()),
                    format!(
                        "a trace whose `region` values are `[[regions]]` names: {name:?} is \
                         not one of {}",
                        network
                            .regions
                            .iter()
                            .map(|r| format!("{:?}", r.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            out[i].region = Some(RegionId(id as u8));
        }
        if bits & 2 != 0 {
            let id = services.iter().position(|s| s.name == name);
            let Some(id) = id else {
                return Err(Invalid::new(
                    "workload.arrivals.path",
                    format!("{:?}", path.display().to_string()),
                    format!(
                        "a trace whose `route` values name entry services: {name:?} is not \
                         one of {}",
                        services
                            .iter()
                            .map(|s| format!("{:?}", s.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            out[i].entry = Some(ServiceId(id as u16));
        }
    }
    Ok(out)
}

/// Parses `"FROM..TO"` (either side may be empty) into offsets from trace
/// time zero.
pub fn parse_window(text: &str) -> Result<(Span, Option<Span>), String> {
    const ACCEPTED: &str = "\"FROM..TO\" with durations from trace time zero, either end \
                            optional (\"1h..2h\", \"30m..\", \"..10m\")";
    let (from, to) = text.split_once("..").ok_or_else(|| ACCEPTED.to_owned())?;
    let span = |s: &str| Span::parse(s.trim()).map_err(|e| format!("{ACCEPTED}: {e}"));
    let from = if from.trim().is_empty() {
        Span::ZERO
    } else {
        span(from)?
    };
    let to = if to.trim().is_empty() {
        None
    } else {
        Some(span(to)?)
    };
    if let Some(to) = to
        && to <= from
    {
        return Err(format!("{ACCEPTED}, with TO after FROM"));
    }
    Ok((from, to))
}

/// The trace crate's messages name the `trace` and `replay` commands' flags;
/// met through `[workload.arrivals]`, they name the table's keys instead.
fn in_scenario_terms(message: &str) -> String {
    const KEYS: [(&str, &str); 5] = [
        ("--sort-window D", "`sort_window`"),
        ("--sort-window", "`sort_window`"),
        ("--trace-opts", "`options`"),
        ("--format", "`format`"),
        ("--skip-bad-rows", "`skip_bad_rows`"),
    ];
    KEYS.iter()
        .fold(message.to_owned(), |m, (flag, key)| m.replace(flag, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_messages_name_the_arrivals_keys_not_the_flags() {
        let backwards = TraceError::Backwards {
            row: 3,
            at_ns: 15,
            previous_ns: 20,
        };
        let said = in_scenario_terms(&backwards.to_string());
        assert!(said.ends_with("a window with `sort_window`)"), "{said}");
        let said = in_scenario_terms("give --format, one of csv (with --trace-opts for csv)");
        assert_eq!(said, "give `format`, one of csv (with `options` for csv)");
    }

    #[test]
    fn windows_parse_with_open_ends() {
        assert_eq!(
            parse_window("1h..2h"),
            Ok((Span::from_secs(3600), Some(Span::from_secs(7200))))
        );
        assert_eq!(parse_window("30m.."), Ok((Span::from_secs(1800), None)));
        assert_eq!(
            parse_window("..10m"),
            Ok((Span::ZERO, Some(Span::from_secs(600))))
        );
        assert!(parse_window("2h..1h").is_err());
        assert!(parse_window("1h").is_err());
        assert!(parse_window("x..1h").is_err());
    }
}
