//! `headroom trace cache`: miss ratios straight from a trace, no event
//! queue. Every (eviction, size) cache sees every record in one pass, with
//! libCacheSim's semantics (`Cache::access`: every request is a lookup, a
//! miss admits the object); output columns are exactly
//! `eviction,size,requests,misses,miss_ratio,byte_miss_ratio`.

use std::process::ExitCode;

use headroom_cache::{Cache, CacheSpec, Capacity, Eviction, Request};
use headroom_models::units::Bytes;

use super::trace::open_trace;
use crate::InputError;
use crate::cli::TraceCacheArgs;
use crate::output::{output_file, write_output};

/// Requests per [`Cache::access_batch`] call: large enough that the
/// look-ahead's ramp at each end is negligible, small enough (96 KiB) to stay
/// in the CPU's L2 cache while every cache runs it.
const CHUNK: usize = 4096;

/// The CSV header.
pub const HEADER: &str = "eviction,size,requests,misses,miss_ratio,byte_miss_ratio";

/// Parses `--sizes`: plain integers are objects, sizes with a unit bytes
/// (objects only with `--ignore-obj-size`).
fn sizes(text: &str, ignore_obj_size: bool) -> anyhow::Result<Vec<(String, Capacity)>> {
    let mut out = Vec::new();
    for s in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let capacity = match s.parse::<u64>() {
            Ok(n) => Capacity::Items(n),
            Err(_) if ignore_obj_size => {
                return Err(InputError(format!(
                    "--sizes {s:?}: with --ignore-obj-size sizes are numbers of objects (plain integers)"
                ))
                .into());
            }
            Err(_) => Capacity::Bytes(
                Bytes::parse(s)
                    .map_err(|e| InputError(format!("--sizes {s:?}: {e}")))?
                    .get(),
            ),
        };
        if matches!(capacity, Capacity::Items(0) | Capacity::Bytes(0)) {
            return Err(InputError(format!("--sizes {s:?}: a cache size must be positive")).into());
        }
        out.push((s.to_owned(), capacity));
    }
    if out.is_empty() {
        return Err(InputError("--sizes: give at least one size".to_owned()).into());
    }
    Ok(out)
}

/// The algorithms `trace cache` runs: all but `ttl-only`, which needs a TTL
/// (entries leave only by expiring) that a trace does not give.
fn accepted() -> String {
    Eviction::ALL
        .iter()
        .filter(|&&e| e != Eviction::TtlOnly)
        .map(|e| e.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn evictions(text: &str) -> anyhow::Result<Vec<Eviction>> {
    let out = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|e| match Eviction::parse(e) {
            Ok(Eviction::TtlOnly) => Err(InputError(format!(
                "--eviction ttl-only needs a TTL; trace cache takes {}",
                accepted()
            ))
            .into()),
            Ok(e) => Ok(e),
            Err(_) => Err(InputError(format!(
                "--eviction {e:?}: unknown eviction; trace cache takes {}",
                accepted()
            ))
            .into()),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if out.is_empty() {
        return Err(InputError(format!("--eviction: give at least one of {}", accepted())).into());
    }
    Ok(out)
}

/// Runs the fast path.
pub fn run(args: TraceCacheArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.out {
        output_file("--out", path)?;
    }
    if let Some(path) = &args.plot {
        output_file("--plot", path)?;
    }
    let evictions = evictions(&args.eviction)?;
    let sizes = sizes(&args.sizes, args.ignore_obj_size)?;
    let mut caches = Vec::new();
    for &e in &evictions {
        for (label, capacity) in &sizes {
            let cache = Cache::new(&CacheSpec::new(e, *capacity))
                .map_err(|err| InputError(format!("--sizes {label}: {err}")))?;
            caches.push((e, label.clone(), cache));
        }
    }
    let mut trace = open_trace(&args.input)?;
    // Requests go to the caches in chunks: each cache runs a whole chunk
    // through `access_batch`, which overlaps the memory loads of
    // consecutive requests (the chunk itself stays in the CPU caches).
    let mut chunk: Vec<Request> = Vec::with_capacity(CHUNK);
    loop {
        let next = trace.next_record()?;
        if let Some(r) = &next {
            chunk.push(Request {
                now_ns: r.at.as_nanos(),
                key: r.key,
                size_bytes: r.size_bytes,
            });
        }
        if chunk.len() == CHUNK || (next.is_none() && !chunk.is_empty()) {
            for (_, _, cache) in &mut caches {
                cache.access_batch(&chunk);
            }
            chunk.clear();
        }
        if next.is_none() {
            break;
        }
    }
    trace.report_skipped();
    let mut csv = format!("{HEADER}\n");
    for (e, label, cache) in &caches {
        let s = cache.stats();
        csv.push_str(&format!(
            "{},{},{},{},{:.6},{:.6}\n",
            e.name(),
            label,
            s.hits + s.misses,
            s.misses,
            s.miss_ratio(),
            s.byte_miss_ratio()
        ));
    }
    if let Some(path) = &args.plot {
        plot(path, &caches)?;
    }
    match &args.out {
        None => print!("{csv}"),
        Some(path) => write_output("--out", path, csv.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

fn plot(path: &std::path::Path, caches: &[(Eviction, String, Cache)]) -> anyhow::Result<()> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut unit = "objects";
    for (e, _, cache) in caches {
        let size = match cache.spec().capacity {
            Capacity::Items(n) => n as f64,
            Capacity::Bytes(n) => {
                unit = "MiB";
                n as f64 / f64::from(1u32 << 20)
            }
        };
        let point = (size, cache.stats().miss_ratio());
        match series.iter_mut().find(|s| s.0 == e.name()) {
            Some(s) => s.1.push(point),
            None => series.push((e.name().to_owned(), vec![point])),
        }
    }
    for s in &mut series {
        s.1.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    super::trace_plot::miss_ratio_curve(path, unit, &series)
}
