//! `headroom trace inspect`: trace statistics in one streaming pass.
//!
//! Memory: per-second and per-minute count histograms (by count value),
//! and exact per-key counts for up to [`KEY_LIMIT`] distinct keys (beyond
//! that the key statistics are reported as lower bounds).

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::process::ExitCode;

use headroom_sim::Welford;
use headroom_traces::Op;

use super::trace::open_trace;
use crate::cli::TraceInspectArgs;
use crate::output::{output_dir, output_file};

/// The files `--plot DIR` draws.
const PLOTS: [&str; 2] = ["rate.svg", "popularity.svg"];

/// Distinct keys counted exactly.
pub const KEY_LIMIT: usize = 20_000_000;

/// Counts per fixed bucket of time, as a histogram of count values.
struct Buckets {
    width_ns: u64,
    current: Option<u64>,
    count: u64,
    /// count value -> number of buckets with that count.
    histogram: BTreeMap<u64, u64>,
}

impl Buckets {
    fn new(width_ns: u64) -> Self {
        Buckets {
            width_ns,
            current: None,
            count: 0,
            histogram: BTreeMap::new(),
        }
    }

    fn add(&mut self, t_ns: u64) {
        let b = t_ns / self.width_ns;
        match self.current {
            Some(c) if c == b => self.count += 1,
            Some(c) => {
                *self.histogram.entry(self.count).or_default() += 1;
                if b > c + 1 {
                    *self.histogram.entry(0).or_default() += b - c - 1;
                }
                self.current = Some(b);
                self.count = 1;
            }
            None => {
                self.current = Some(b);
                self.count = 1;
            }
        }
    }

    fn finish(&mut self) {
        if self.current.is_some() {
            *self.histogram.entry(self.count).or_default() += 1;
        }
    }

    fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.histogram.values().sum();
        let target = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (&v, &n) in &self.histogram {
            seen += n;
            if seen >= target {
                return v;
            }
        }
        0
    }

    /// (mean, variance / mean) of the counts.
    fn dispersion(&self) -> (f64, f64) {
        let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
        for (&v, &k) in &self.histogram {
            n += k as f64;
            sum += (v * k) as f64;
            sq += (v as f64) * (v as f64) * k as f64;
        }
        let mean = sum / n;
        let var = (sq - sum * sum / n) / (n - 1.0).max(1.0);
        (mean, var / mean)
    }
}

#[derive(Default, Clone, Copy)]
struct Fnv(u64);
impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
    }
    fn write_u64(&mut self, k: u64) {
        // A key is already a hash or an id: mix it once (splitmix finaliser).
        let mut z = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.0 = z ^ (z >> 31);
    }
}

/// Runs `trace inspect`.
pub fn run(args: TraceInspectArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.plot {
        output_dir("--plot", dir)?;
        for name in PLOTS {
            output_file("--plot", &dir.join(name))?;
        }
    }
    let mut trace = open_trace(&args.input)?;
    let mut rows = 0u64;
    let (mut first, mut last) = (0u64, 0u64);
    let mut seconds = Buckets::new(1_000_000_000);
    let mut minutes = Buckets::new(60_000_000_000);
    let mut gaps = Welford::new();
    let mut writes = 0u64;
    // u128: sizes are u64, and a few of the largest overflow a u64 sum.
    let mut bytes = 0u128;
    // key -> (requests, last hour seen + 1): counts and the working set.
    let mut keys: HashMap<u64, (u64, u64), BuildHasherDefault<Fnv>> = HashMap::default();
    let mut working_set: Vec<u64> = Vec::new();
    let mut keys_overflow = false;
    // Per-minute counts for the rate plot (bounded by the span).
    let mut per_minute: Vec<u32> = Vec::new();
    while let Some(r) = trace.next_record()? {
        let t = r.at.as_nanos();
        if rows == 0 {
            first = t;
        } else {
            gaps.push((t - last) as f64);
        }
        last = t;
        rows += 1;
        seconds.add(t - first);
        minutes.add(t - first);
        if args.plot.is_some() {
            let m = ((t - first) / 60_000_000_000) as usize;
            if m < 50_000_000 {
                if per_minute.len() <= m {
                    per_minute.resize(m + 1, 0);
                }
                per_minute[m] = per_minute[m].saturating_add(1);
            }
        }
        writes += u64::from(r.op == Op::Write);
        bytes += u128::from(r.size_bytes);
        let hour = (t - first) / 3_600_000_000_000;
        if keys.len() < KEY_LIMIT || keys.contains_key(&r.key) {
            let e = keys.entry(r.key).or_default();
            e.0 += 1;
            if e.1 != hour + 1 {
                e.1 = hour + 1;
                let h = hour as usize;
                if h < 10_000_000 {
                    if working_set.len() <= h {
                        working_set.resize(h + 1, 0);
                    }
                    working_set[h] += 1;
                }
            }
        } else {
            keys_overflow = true;
        }
    }
    seconds.finish();
    minutes.finish();
    trace.report_skipped();
    let span_s = (last - first) as f64 / 1e9;
    println!("trace            {} ({})", trace.name, trace.format.name());
    println!("rows             {rows}");
    if trace.records.timed() {
        println!("span             {span_s:.3} s");
        println!(
            "mean rate        {:.3} req/s",
            if span_s > 0.0 {
                rows as f64 / span_s
            } else {
                f64::NAN
            }
        );
        for (name, b) in [("per second", &seconds), ("per minute", &minutes)] {
            let (mean, iod) = b.dispersion();
            println!(
                "rate {name:<11} p50 {} p90 {} p99 {} max {}  (mean {mean:.2}, index of dispersion {iod:.2})",
                b.quantile(0.5),
                b.quantile(0.9),
                b.quantile(0.99),
                b.quantile(1.0)
            );
        }
        println!("inter-arrival cv {:.3}", gaps.std_dev() / gaps.mean());
    } else {
        println!("span             untimed (records carry no timestamps)");
    }
    let mut counts: Vec<u64> = keys.into_values().map(|(c, _)| c).collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let bound = if keys_overflow { ">= " } else { "" };
    println!("distinct keys    {bound}{}", counts.len());
    let share = |n: usize| counts.iter().take(n).sum::<u64>() as f64 / rows as f64;
    println!(
        "top-key shares   top 1 {:.4}, top 10 {:.4}, top 1% {:.4}",
        share(1),
        share(10),
        share(counts.len().div_ceil(100))
    );
    let ones = counts.iter().filter(|&&c| c == 1).count();
    println!(
        "one-hit wonders  {:.4} of keys",
        ones as f64 / counts.len().max(1) as f64
    );
    println!("zipf s (fitted)  {:.3}", zipf_s(&counts));
    if trace.records.timed() && !working_set.is_empty() {
        let mut sorted = working_set.clone();
        sorted.sort_unstable();
        println!(
            "working set      distinct keys per hour: first {}, median {}, max {}, last {} ({} hours)",
            working_set[0],
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1],
            working_set[working_set.len() - 1],
            working_set.len()
        );
    }
    println!(
        "writes           {:.4} of requests",
        writes as f64 / rows.max(1) as f64
    );
    println!("bytes requested  {bytes}");
    if let Some(dir) = &args.plot {
        // Mean rate per bucket of minutes, at most ~3000 points.
        let per = per_minute.len().div_ceil(3000).max(1);
        let pts: Vec<(f64, f64)> = per_minute
            .chunks(per)
            .enumerate()
            .map(|(i, c)| {
                let total: u64 = c.iter().map(|&x| u64::from(x)).sum();
                (
                    (i * per) as f64 / 60.0,
                    total as f64 / (60.0 * c.len() as f64),
                )
            })
            .collect();
        super::trace_plot::rate_over_time(&dir.join(PLOTS[0]), &pts, &format!("{per} min"))?;
        super::trace_plot::popularity(&dir.join(PLOTS[1]), &counts)?;
        eprintln!(
            "plots: {}/rate.svg, {}/popularity.svg",
            dir.display(),
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The Zipf exponent by least squares of log(count) on log(rank) over the
/// top ranks (up to 1000, ranks with count >= 2), the usual popularity fit.
pub fn zipf_s(sorted_counts: &[u64]) -> f64 {
    let pts: Vec<(f64, f64)> = sorted_counts
        .iter()
        .take(1000)
        .enumerate()
        .filter(|(_, c)| **c >= 2)
        .map(|(i, c)| (((i + 1) as f64).ln(), (*c as f64).ln()))
        .collect();
    if pts.len() < 3 {
        return f64::NAN;
    }
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    -sxy / sxx
}
