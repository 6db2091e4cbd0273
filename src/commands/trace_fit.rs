//! `headroom trace fit`: a `[workload]` arrivals table fitted to a trace.
//!
//! The trace is reduced to counts per interval (1 minute, or 1 second for
//! traces shorter than 2 hours) and three models are fitted by maximum
//! likelihood of those counts. The trace is observed from its first record
//! to its last, so the last interval is only partly observed: it is weighted
//! by its observed width (a model's mean count there is its rate times that
//! width), or dropped when that width is under half an interval and earlier
//! intervals exist (its few records would otherwise pull the fit as a whole
//! interval's worth). The models: Poisson (rate = total / observed span), diurnal
//! (`rate(t) = mean (1 + a sin(2 pi (t - phase) / 24h))`, by least squares
//! on the sine and cosine, when the trace spans at least 24 h) and a
//! two-state MMPP (a hidden Markov chain with Poisson counts, Baum-Welch from
//! a two-means start; holding times from the switching probabilities). The
//! model with the lowest AIC is written; all three are reported on stderr.
//! When the trace has latencies, a lognormal `work` (mean and cv of the
//! observed latencies) is reported per route.

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::process::ExitCode;

use headroom_sim::{Span, Welford};

use super::trace::open_trace;
use crate::InputError;
use crate::cli::TraceFitArgs;
use crate::output::{output_file, write_output};

/// At most this many intervals are kept.
pub const INTERVAL_LIMIT: usize = 10_000_000;
/// The simulator's largest arrival rate (requests per second): a fitted rate
/// above it would be a `[workload]` that `headroom check` refuses.
const MAX_RATE: f64 = headroom_models::plan::limits::MAX_RATE;
const DAY_S: f64 = 86_400.0;

/// A fitted arrival model with its log-likelihood over the counts.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrivals {
    /// Constant rate (req/s).
    Poisson { rate: f64 },
    /// Sinusoidal rate over 24 h.
    Diurnal {
        mean: f64,
        peak_to_trough: f64,
        phase_s: f64,
    },
    /// Two-state Markov-modulated Poisson: (rate req/s, mean holding s).
    Mmpp { states: [(f64, f64); 2] },
}

/// One fitted model.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    /// The model.
    pub arrivals: Arrivals,
    /// Log-likelihood of the counts.
    pub log_lik: f64,
    /// Free parameters.
    pub params: u32,
}

impl Arrivals {
    /// The largest rate the model reaches (req/s).
    fn peak_rate(&self) -> f64 {
        match self {
            Arrivals::Poisson { rate } => *rate,
            Arrivals::Diurnal {
                mean,
                peak_to_trough,
                ..
            } => mean * 2.0 * peak_to_trough / (1.0 + peak_to_trough),
            Arrivals::Mmpp { states } => states.iter().map(|s| s.0).fold(0.0, f64::max),
        }
    }
}

impl Fitted {
    /// Akaike's information criterion.
    pub fn aic(&self) -> f64 {
        2.0 * f64::from(self.params) - 2.0 * self.log_lik
    }
}

/// `ln(c!)`: exact sum below 64, Stirling's series (error < 1e-12) above.
fn ln_factorial(c: u64) -> f64 {
    if c < 64 {
        return (1..=c).map(|k| (k as f64).ln()).sum::<f64>();
    }
    let x = c as f64;
    x * x.ln() - x + 0.5 * (2.0 * PI * x).ln() + 1.0 / (12.0 * x) - 1.0 / (360.0 * x.powi(3))
}

fn poisson_ll(c: u64, mean: f64, lnf: f64) -> f64 {
    if mean <= 0.0 {
        return if c == 0 { 0.0 } else { -1e300 };
    }
    c as f64 * mean.ln() - mean - lnf
}

/// Log-likelihood of the counts given the mean count of each interval.
type LogLik<'a> = dyn Fn(&dyn Fn(usize) -> f64) -> f64 + 'a;

/// Counts per interval of `dt_s` seconds; the last interval observed for
/// `last` of its width (in (0, 1]; 1 = whole), every other one whole.
#[derive(Clone, Copy, Debug)]
pub struct Series<'a> {
    /// Requests per interval.
    pub counts: &'a [u64],
    /// Interval width, seconds.
    pub dt_s: f64,
    /// The observed fraction of the last interval.
    pub last: f64,
}

impl Series<'_> {
    /// Whole intervals `counts` of `dt_s` seconds.
    #[cfg(test)]
    pub fn whole(counts: &[u64], dt_s: f64) -> Series<'_> {
        Series {
            counts,
            dt_s,
            last: 1.0,
        }
    }

    /// The observed fraction of interval `i`.
    fn exposure(&self, i: usize) -> f64 {
        if i + 1 == self.counts.len() {
            self.last
        } else {
            1.0
        }
    }

    /// Intervals observed, counting the last by its fraction.
    fn observed(&self) -> f64 {
        self.counts.len().saturating_sub(1) as f64 + self.last
    }
}

/// Fits every model to the counts of `series`.
pub fn fit_counts(series: Series<'_>) -> Vec<Fitted> {
    let Series { counts, dt_s, .. } = series;
    let lnf: Vec<f64> = counts.iter().map(|&c| ln_factorial(c)).collect();
    // Mean count per whole interval.
    let mean_c = counts.iter().sum::<u64>() as f64 / series.observed();
    let ll = |means: &dyn Fn(usize) -> f64| -> f64 {
        counts
            .iter()
            .enumerate()
            .map(|(i, &c)| poisson_ll(c, means(i) * series.exposure(i), lnf[i]))
            .sum()
    };
    let mut out = vec![Fitted {
        arrivals: Arrivals::Poisson {
            rate: mean_c / dt_s,
        },
        log_lik: ll(&|_| mean_c),
        params: 1,
    }];
    if series.observed() * dt_s >= DAY_S {
        out.push(diurnal(series, mean_c, &ll));
    }
    if let Some(m) = mmpp(series, &lnf) {
        out.push(m);
    }
    out
}

fn diurnal(series: Series<'_>, mean_c: f64, ll: &LogLik<'_>) -> Fitted {
    let Series { counts, dt_s, .. } = series;
    let w = 2.0 * PI / DAY_S;
    // The middle of the observed part of interval `i`.
    let t = |i: usize| (i as f64 + 0.5 * series.exposure(i)) * dt_s;
    // Least squares of c / exposure on [1, sin wt, cos wt], weighted by
    // the exposure.
    let (mut ss, mut cc, mut sc, mut ys, mut yc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &c) in counts.iter().enumerate() {
        let e = series.exposure(i);
        let (s, co) = ((w * t(i)).sin(), (w * t(i)).cos());
        let y = c as f64 - e * mean_c;
        ss += e * s * s;
        cc += e * co * co;
        sc += e * s * co;
        ys += y * s;
        yc += y * co;
    }
    let det = ss * cc - sc * sc;
    let (b1, b2) = if det.abs() > 1e-9 {
        ((ys * cc - yc * sc) / det, (yc * ss - ys * sc) / det)
    } else {
        (0.0, 0.0)
    };
    let a = ((b1 * b1 + b2 * b2).sqrt() / mean_c).min(0.999);
    // b1 sin + b2 cos = A sin(wt + phi) with phi = atan2(b2, b1); phase = -phi / w.
    let phase_s = (-(b2.atan2(b1)) / w).rem_euclid(DAY_S);
    let mean_at = move |i: usize| mean_c * (1.0 + a * (w * (t(i) - phase_s)).sin());
    Fitted {
        arrivals: Arrivals::Diurnal {
            mean: mean_c / dt_s,
            peak_to_trough: (1.0 + a) / (1.0 - a),
            phase_s,
        },
        log_lik: ll(&mean_at),
        params: 3,
    }
}

/// Two-state Poisson HMM by Baum-Welch (scaled forward-backward).
fn mmpp(series: Series<'_>, lnf: &[f64]) -> Option<Fitted> {
    let Series { counts, dt_s, .. } = series;
    let n = counts.len();
    if n < 10 {
        return None;
    }
    let exposure: Vec<f64> = (0..n).map(|i| series.exposure(i)).collect();
    // Two-means start (from the whole intervals).
    let mut sorted: Vec<u64> = counts[..n - 1].to_vec();
    sorted.sort_unstable();
    let m = sorted.len();
    let mut lam = [sorted[m / 4] as f64 + 0.5, sorted[3 * m / 4] as f64 + 1.0];
    let mut stay = [0.95, 0.95];
    let mut pi = [0.5, 0.5];
    let mut ll_total = f64::NEG_INFINITY;
    let mut alpha = vec![[0.0f64; 2]; n];
    let mut scale = vec![0.0f64; n];
    for _ in 0..60 {
        // Forward.
        for i in 0..n {
            let e = [0, 1].map(|s| {
                poisson_ll(counts[i], lam[s] * exposure[i], lnf[i])
                    .exp()
                    .max(1e-300)
            });
            let prior = if i == 0 {
                pi
            } else {
                let a = alpha[i - 1];
                [
                    a[0] * stay[0] + a[1] * (1.0 - stay[1]),
                    a[1] * stay[1] + a[0] * (1.0 - stay[0]),
                ]
            };
            let v = [prior[0] * e[0], prior[1] * e[1]];
            let s = v[0] + v[1];
            scale[i] = s;
            alpha[i] = [v[0] / s, v[1] / s];
        }
        let ll: f64 = scale.iter().map(|s| s.ln()).sum();
        // Backward with expected counts.
        let mut beta = [1.0f64, 1.0];
        let (mut gsum, mut gexp, mut gc, mut xi_stay, mut xi_from) =
            ([0.0; 2], [0.0; 2], [0.0; 2], [0.0; 2], [0.0; 2]);
        for i in (0..n).rev() {
            let g = [alpha[i][0] * beta[0], alpha[i][1] * beta[1]];
            let gs = g[0] + g[1];
            for s in 0..2 {
                gsum[s] += g[s] / gs;
                gexp[s] += g[s] / gs * exposure[i];
                gc[s] += g[s] / gs * counts[i] as f64;
            }
            if i > 0 {
                let e = [0, 1].map(|s| {
                    poisson_ll(counts[i], lam[s] * exposure[i], lnf[i])
                        .exp()
                        .max(1e-300)
                });
                let a = alpha[i - 1];
                let trans = |f: usize, t: usize| if f == t { stay[f] } else { 1.0 - stay[f] };
                let mut xi = [[0.0; 2]; 2];
                let mut z = 0.0;
                for f in 0..2 {
                    for t in 0..2 {
                        xi[f][t] = a[f] * trans(f, t) * e[t] * beta[t];
                        z += xi[f][t];
                    }
                }
                for f in 0..2 {
                    xi_stay[f] += xi[f][f] / z;
                    xi_from[f] += (xi[f][0] + xi[f][1]) / z;
                }
                let nb = [0, 1]
                    .map(|f| (0..2).map(|t| trans(f, t) * e[t] * beta[t]).sum::<f64>() / scale[i]);
                beta = nb;
            }
        }
        for s in 0..2 {
            lam[s] = (gc[s] / gexp[s]).max(1e-9);
            stay[s] = (xi_stay[s] / xi_from[s].max(1e-12)).clamp(1e-6, 1.0 - 1e-9);
        }
        pi = [gsum[0] / n as f64, gsum[1] / n as f64];
        if (ll - ll_total).abs() < 1e-6 {
            ll_total = ll;
            break;
        }
        ll_total = ll;
    }
    let holding = |s: usize| -dt_s / stay[s].ln();
    Some(Fitted {
        arrivals: Arrivals::Mmpp {
            states: [(lam[0] / dt_s, holding(0)), (lam[1] / dt_s, holding(1))],
        },
        log_lik: ll_total,
        params: 4,
    })
}

fn span_text(seconds: f64) -> String {
    Span::from_secs_f64(seconds.max(0.0)).to_string()
}

/// A mean holding time: whole seconds from 1 s up, else whole milliseconds,
/// never below 1 ms (`check` refuses a zero holding time).
fn holding_text(seconds: f64) -> String {
    if seconds >= 0.9995 {
        span_text(seconds.round())
    } else {
        span_text(((seconds * 1e3).round() / 1e3).max(1e-3))
    }
}

/// A rate (req/s): six decimals, or six significant digits below 0.001 so
/// that a small positive rate is not written as 0 (which `check` refuses).
fn rate_text(rate: f64) -> String {
    if rate == 0.0 || rate >= 1e-3 {
        format!("{rate:.6}")
    } else {
        format!("{rate:.5e}")
    }
}

/// The `[workload]` TOML of a model.
pub fn workload_toml(a: &Arrivals) -> String {
    let body = match a {
        Arrivals::Poisson { rate } => {
            format!("{{ process = \"poisson\", rate = {} }}", rate_text(*rate))
        }
        Arrivals::Diurnal {
            mean,
            peak_to_trough,
            phase_s,
        } => format!(
            "{{ process = \"diurnal\", mean = {}, peak_to_trough = {peak_to_trough:.4}, period = \"24h\", phase = \"{}\" }}",
            rate_text(*mean),
            span_text(phase_s.round())
        ),
        Arrivals::Mmpp { states } => format!(
            "{{ process = \"mmpp\", states = [{}] }}",
            states
                .iter()
                .map(|(r, h)| format!(
                    "{{ rate = {}, holding = \"{}\" }}",
                    rate_text(*r),
                    holding_text(*h)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!("[workload]\narrivals = {body}\n")
}

/// Runs `trace fit`.
pub fn run(args: TraceFitArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.out {
        output_file("--out", path)?;
    }
    let mut trace = open_trace(&args.input)?;
    let mut first = None;
    let mut last_ns = 0;
    let mut work: BTreeMap<String, Welford> = BTreeMap::new();
    let mut latencies: Vec<(Option<headroom_traces::NameId>, u64)> = Vec::new();
    // Counts per second while the span is unknown; re-binned at the end.
    let mut per_second: Vec<u64> = Vec::new();
    let mut records = 0u64;
    while let Some(r) = trace.next_record()? {
        let t = r.at.as_nanos();
        let t0 = *first.get_or_insert(t);
        last_ns = t;
        records += 1;
        let s = ((t - t0) / 1_000_000_000) as usize;
        if s >= INTERVAL_LIMIT {
            return Err(InputError(format!(
                "{}: record {records} is {s} s after the first; trace fit counts arrivals per \
                 second over at most {INTERVAL_LIMIT} s (about {} days): fit a part of the trace",
                trace.name,
                INTERVAL_LIMIT / 86_400
            ))
            .into());
        }
        if per_second.len() <= s {
            per_second.resize(s + 1, 0);
        }
        per_second[s] += 1;
        if let Some(l) = r.latency_ns {
            latencies.push((r.route, l));
            if latencies.len() > 1 << 16 {
                flush(&mut latencies, &mut work, trace.records.names());
            }
        }
    }
    flush(&mut latencies, &mut work, trace.records.names());
    trace.report_skipped();
    if !trace.records.timed() {
        return Err(InputError(format!(
            "{}: the trace has no timestamps to fit",
            trace.name
        ))
        .into());
    }
    let dt = if per_second.len() >= 7200 { 60 } else { 1 };
    let mut counts: Vec<u64> = per_second.chunks(dt).map(|c| c.iter().sum()).collect();
    let span_ns = last_ns - first.unwrap_or(last_ns);
    let Some(last) = last_interval(&mut counts, span_ns, dt as u64 * 1_000_000_000) else {
        return Err(InputError(format!(
            "{}: every record is at one instant ({} ns); a rate needs records at two or more \
             times",
            trace.name, last_ns
        ))
        .into());
    };
    let fits = fit_counts(Series {
        counts: &counts,
        dt_s: dt as f64,
        last,
    });
    let best = fits
        .iter()
        .min_by(|a, b| a.aic().total_cmp(&b.aic()))
        .expect("Poisson is always fitted");
    let rate = best.arrivals.peak_rate();
    if rate > MAX_RATE {
        return Err(InputError(format!(
            "{}: the fitted rate {rate:e} req/s is above the simulator's maximum of \
             {MAX_RATE:e} requests per second (the trace has more than one request per \
             nanosecond)",
            trace.name
        ))
        .into());
    }
    for f in &fits {
        eprintln!(
            "{:<8} AIC {:>14.1}  {}",
            match f.arrivals {
                Arrivals::Poisson { .. } => "poisson",
                Arrivals::Diurnal { .. } => "diurnal",
                Arrivals::Mmpp { .. } => "mmpp",
            },
            f.aic(),
            workload_toml(&f.arrivals).lines().nth(1).unwrap_or("")
        );
    }
    let mut toml = format!(
        "# fitted by `headroom trace fit` to {} ({} intervals of {dt} s); lowest AIC of {}\n",
        trace.name,
        counts.len(),
        fits.len()
    );
    toml.push_str(&workload_toml(&best.arrivals));
    for (route, w) in &work {
        toml.push_str(&format!(
            "# route {route}: work = {{ distribution = \"lognormal\", mean = \"{}\", cv = {:.3} }} ({} requests)\n",
            Span::from_nanos(w.mean().round() as u64),
            w.std_dev() / w.mean(),
            w.count()
        ));
    }
    match &args.out {
        None => print!("{toml}"),
        Some(path) => write_output("--out", path, toml.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The observed fraction of the last of `counts` (intervals of
/// `interval_ns`) in a trace spanning `span_ns` from its first record to its
/// last; drops the last interval when under half of it is observed and
/// earlier intervals exist. `None` when the span is zero.
fn last_interval(counts: &mut Vec<u64>, span_ns: u64, interval_ns: u64) -> Option<f64> {
    let observed_ns = span_ns - (counts.len() as u64 - 1) * interval_ns;
    if counts.len() > 1 && 2 * observed_ns < interval_ns {
        counts.pop();
        return Some(1.0);
    }
    (observed_ns > 0).then(|| observed_ns as f64 / interval_ns as f64)
}

fn flush(
    latencies: &mut Vec<(Option<headroom_traces::NameId>, u64)>,
    work: &mut BTreeMap<String, Welford>,
    names: &headroom_traces::Names,
) {
    for (route, l) in latencies.drain(..) {
        let name = route.map_or("(none)", |r| names.name(r));
        work.entry(name.to_owned()).or_default().push(l as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom_sim::dist::Dist;
    use headroom_sim::rng::stream;

    /// Counts per `dt_s` of a Poisson process whose rate follows `rate(t)`.
    fn counts(rate: impl Fn(f64) -> f64, max: f64, span_s: f64, dt_s: f64, seed: u64) -> Vec<u64> {
        let mut rng = stream(seed, 0, "fit-test");
        let unit = Dist::exponential(Span::from_secs(1)).unwrap();
        let mut out = vec![0u64; (span_s / dt_s) as usize];
        // Thinning (Lewis and Shedler) from a process of rate `max`.
        let mut t = 0.0;
        loop {
            t += unit.sample(&mut rng).as_secs_f64() / max;
            if t >= span_s {
                return out;
            }
            let u = unit.sample(&mut rng).as_secs_f64();
            if (-u).exp() <= rate(t) / max {
                out[(t / dt_s) as usize] += 1;
            }
        }
    }

    #[test]
    fn poisson_is_recovered_and_chosen() {
        let c = counts(|_| 20.0, 20.0, 4.0 * 3600.0, 60.0, 1);
        let fits = fit_counts(Series::whole(&c, 60.0));
        let best = fits
            .iter()
            .min_by(|a, b| a.aic().total_cmp(&b.aic()))
            .unwrap();
        let Arrivals::Poisson { rate } = best.arrivals else {
            panic!("{best:?}")
        };
        // 288,000 expected arrivals: the rate's standard error is 0.2 %.
        assert!((rate - 20.0).abs() < 20.0 * 0.01, "{rate}");
    }

    #[test]
    fn mmpp_is_recovered_and_chosen() {
        // Alternate 10/s and 60/s every 10 minutes (deterministic switching:
        // the fit's holding times should come out near 10 minutes).
        let c = counts(
            |t| {
                if ((t / 600.0) as u64).is_multiple_of(2) {
                    10.0
                } else {
                    60.0
                }
            },
            60.0,
            6.0 * 3600.0,
            60.0,
            2,
        );
        let fits = fit_counts(Series::whole(&c, 60.0));
        let best = fits
            .iter()
            .min_by(|a, b| a.aic().total_cmp(&b.aic()))
            .unwrap();
        let Arrivals::Mmpp { states } = best.arrivals else {
            panic!("{best:?}")
        };
        let (lo, hi) = if states[0].0 < states[1].0 {
            (states[0], states[1])
        } else {
            (states[1], states[0])
        };
        assert!(
            (lo.0 - 10.0).abs() < 0.5 && (hi.0 - 60.0).abs() < 1.5,
            "{states:?}"
        );
        assert!(
            (lo.1 - 600.0).abs() < 150.0 && (hi.1 - 600.0).abs() < 150.0,
            "{states:?}"
        );
        assert!(workload_toml(&best.arrivals).contains("process = \"mmpp\""));
    }

    #[test]
    fn diurnal_is_recovered_and_chosen() {
        // mean 30/s, peak-to-trough 3 (a = 0.5), phase 6 h, over 3 days.
        let rate = |t: f64| 30.0 * (1.0 + 0.5 * (2.0 * PI * (t - 21_600.0) / DAY_S).sin());
        let c = counts(rate, 45.0, 3.0 * DAY_S, 60.0, 3);
        let fits = fit_counts(Series::whole(&c, 60.0));
        let best = fits
            .iter()
            .min_by(|a, b| a.aic().total_cmp(&b.aic()))
            .unwrap();
        let Arrivals::Diurnal {
            mean,
            peak_to_trough,
            phase_s,
        } = best.arrivals
        else {
            panic!("{best:?}")
        };
        assert!((mean - 30.0).abs() < 0.3, "{mean}");
        assert!((peak_to_trough - 3.0).abs() < 0.1, "{peak_to_trough}");
        assert!((phase_s - 21_600.0).abs() < 600.0, "{phase_s}");
    }

    /// The counts per second of `n` records evenly over `span_s` (the
    /// fuzzing recipe), as `run` reduces them.
    fn even(n: u64, span_s: f64) -> (Vec<u64>, Option<f64>) {
        let at = |i: u64| (i as f64 * span_s * 1e9 / n as f64) as u64;
        let mut counts = vec![0u64; (at(n - 1) / 1_000_000_000 + 1) as usize];
        for i in 0..n {
            counts[(at(i) / 1_000_000_000) as usize] += 1;
        }
        let last = last_interval(&mut counts, at(n - 1), 1_000_000_000);
        (counts, last)
    }

    fn best(series: Series<'_>) -> Arrivals {
        let fits = fit_counts(series);
        fits.into_iter()
            .min_by(|a, b| a.aic().total_cmp(&b.aic()))
            .unwrap()
            .arrivals
    }

    #[test]
    fn a_partial_last_second_is_not_counted_as_a_whole_one() {
        // Found by fuzzing: 1000 requests over 1.01 s were fitted at 500/s
        // (two intervals, the second holding 9 requests in 9 ms).
        let (counts, last) = even(1000, 1.01);
        assert_eq!((counts.as_slice(), last), (&[991][..], Some(1.0)));
        let Arrivals::Poisson { rate } = best(Series::whole(&counts, 1.0)) else {
            panic!()
        };
        assert_eq!(rate, 991.0);
        // 10,000 over 10.01 s gave an MMPP with a spurious { rate = 9,
        // holding = "0s" } state that `check` refuses.
        let (counts, last) = even(10_000, 10.01);
        assert_eq!((counts.len(), last), (10, Some(1.0)));
        let a = best(Series::whole(&counts, 1.0));
        if let Arrivals::Mmpp { states } = a {
            assert!(states.iter().all(|s| s.0 > 900.0), "{states:?}");
        }
        assert!(
            !workload_toml(&a).contains("\"0s\""),
            "{}",
            workload_toml(&a)
        );
        // A last interval observed for more than half its width counts for
        // that fraction: 100 in the first second, 60 in the next 0.59 s (to
        // the last record), the trace's rate over its span as inspect has it.
        let (counts, last) = even(160, 1.6);
        let last = last.unwrap();
        assert_eq!(counts, [100, 60]);
        assert!((last - 0.59).abs() < 1e-9, "{last}");
        let Arrivals::Poisson { rate } = best(Series {
            counts: &counts,
            dt_s: 1.0,
            last,
        }) else {
            panic!()
        };
        assert!((rate - 160.0 / 1.59).abs() < 1e-9, "{rate}");
        // Shorter than one interval: the observed part is the whole trace.
        let (counts, last) = even(100, 0.5);
        assert_eq!(counts, [100]);
        assert!((last.unwrap() - 0.495).abs() < 1e-9, "{last:?}");
        // Every record at one instant: no rate.
        assert_eq!(last_interval(&mut vec![5], 0, 1_000_000_000), None);
    }

    #[test]
    fn holding_times_and_rates_are_never_written_as_zero() {
        assert_eq!(holding_text(0.0), "1ms");
        assert_eq!(holding_text(0.0724), "72ms");
        assert_eq!(holding_text(0.9996), "1s");
        assert_eq!(holding_text(599.6), "10m");
        assert_eq!(rate_text(2.5), "2.500000");
        assert_eq!(rate_text(2.3e-7), "2.30000e-7");
        let toml = workload_toml(&Arrivals::Mmpp {
            states: [(999.1, 9.0), (9.0, 0.07)],
        });
        assert!(
            toml.contains("{ rate = 9.000000, holding = \"70ms\" }"),
            "{toml}"
        );
    }
}
