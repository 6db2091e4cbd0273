//! `headroom trace fit`: a `[workload]` arrivals table fitted to a trace.
//!
//! The trace is reduced to counts per interval (1 minute, or 1 second for
//! traces shorter than 2 hours) and three models are fitted by maximum
//! likelihood of those counts: Poisson (rate = total / span), diurnal
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
use crate::output::write_atomically;

/// At most this many intervals are kept.
pub const INTERVAL_LIMIT: usize = 10_000_000;
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

/// Fits every model to `counts` per interval of `dt_s` seconds.
pub fn fit_counts(counts: &[u64], dt_s: f64) -> Vec<Fitted> {
    let lnf: Vec<f64> = counts.iter().map(|&c| ln_factorial(c)).collect();
    let n = counts.len() as f64;
    let mean_c = counts.iter().sum::<u64>() as f64 / n;
    let ll = |means: &dyn Fn(usize) -> f64| -> f64 {
        counts
            .iter()
            .enumerate()
            .map(|(i, &c)| poisson_ll(c, means(i), lnf[i]))
            .sum()
    };
    let mut out = vec![Fitted {
        arrivals: Arrivals::Poisson {
            rate: mean_c / dt_s,
        },
        log_lik: ll(&|_| mean_c),
        params: 1,
    }];
    if n * dt_s >= DAY_S {
        out.push(diurnal(counts, dt_s, mean_c, &ll));
    }
    if let Some(m) = mmpp(counts, dt_s, &lnf) {
        out.push(m);
    }
    out
}

fn diurnal(counts: &[u64], dt_s: f64, mean_c: f64, ll: &LogLik<'_>) -> Fitted {
    let w = 2.0 * PI / DAY_S;
    let t = |i: usize| (i as f64 + 0.5) * dt_s;
    // Least squares of c on [1, sin wt, cos wt].
    let (mut ss, mut cc, mut sc, mut ys, mut yc, mut s1, mut c1) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &c) in counts.iter().enumerate() {
        let (s, co) = ((w * t(i)).sin(), (w * t(i)).cos());
        let y = c as f64 - mean_c;
        ss += s * s;
        cc += co * co;
        sc += s * co;
        ys += y * s;
        yc += y * co;
        s1 += s;
        c1 += co;
    }
    let _ = (s1, c1);
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
fn mmpp(counts: &[u64], dt_s: f64, lnf: &[f64]) -> Option<Fitted> {
    let n = counts.len();
    if n < 10 {
        return None;
    }
    // Two-means start.
    let mut sorted: Vec<u64> = counts.to_vec();
    sorted.sort_unstable();
    let mut lam = [sorted[n / 4] as f64 + 0.5, sorted[3 * n / 4] as f64 + 1.0];
    let mut stay = [0.95, 0.95];
    let mut pi = [0.5, 0.5];
    let mut ll_total = f64::NEG_INFINITY;
    let mut alpha = vec![[0.0f64; 2]; n];
    let mut scale = vec![0.0f64; n];
    for _ in 0..60 {
        // Forward.
        for i in 0..n {
            let e = [0, 1].map(|s| poisson_ll(counts[i], lam[s], lnf[i]).exp().max(1e-300));
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
        let (mut gsum, mut gc, mut xi_stay, mut xi_from) = ([0.0; 2], [0.0; 2], [0.0; 2], [0.0; 2]);
        for i in (0..n).rev() {
            let g = [alpha[i][0] * beta[0], alpha[i][1] * beta[1]];
            let gs = g[0] + g[1];
            for s in 0..2 {
                gsum[s] += g[s] / gs;
                gc[s] += g[s] / gs * counts[i] as f64;
            }
            if i > 0 {
                let e = [0, 1].map(|s| poisson_ll(counts[i], lam[s], lnf[i]).exp().max(1e-300));
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
            lam[s] = (gc[s] / gsum[s]).max(1e-9);
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

/// The `[workload]` TOML of a model.
pub fn workload_toml(a: &Arrivals) -> String {
    let body = match a {
        Arrivals::Poisson { rate } => format!("{{ process = \"poisson\", rate = {rate:.6} }}"),
        Arrivals::Diurnal {
            mean,
            peak_to_trough,
            phase_s,
        } => format!(
            "{{ process = \"diurnal\", mean = {mean:.6}, peak_to_trough = {peak_to_trough:.4}, period = \"24h\", phase = \"{}\" }}",
            span_text(phase_s.round())
        ),
        Arrivals::Mmpp { states } => format!(
            "{{ process = \"mmpp\", states = [{}] }}",
            states
                .iter()
                .map(|(r, h)| format!(
                    "{{ rate = {r:.6}, holding = \"{}\" }}",
                    span_text(h.round())
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!("[workload]\narrivals = {body}\n")
}

/// Runs `trace fit`.
pub fn run(args: TraceFitArgs) -> anyhow::Result<ExitCode> {
    let mut trace = open_trace(&args.input)?;
    let mut first = None;
    let mut work: BTreeMap<String, Welford> = BTreeMap::new();
    let mut latencies: Vec<(Option<headroom_traces::NameId>, u64)> = Vec::new();
    // Counts per second while the span is unknown; re-binned at the end.
    let mut per_second: Vec<u64> = Vec::new();
    while let Some(r) = trace.next_record()? {
        let t = r.at.as_nanos();
        let t0 = *first.get_or_insert(t);
        let s = ((t - t0) / 1_000_000_000) as usize;
        if s >= INTERVAL_LIMIT {
            return Err(InputError(format!(
                "{}: spans more than {INTERVAL_LIMIT} s",
                trace.name
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
    let counts: Vec<u64> = per_second.chunks(dt).map(|c| c.iter().sum()).collect();
    let fits = fit_counts(&counts, dt as f64);
    let best = fits
        .iter()
        .min_by(|a, b| a.aic().total_cmp(&b.aic()))
        .expect("Poisson is always fitted");
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
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = path
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned());
            write_atomically(dir, &[(name.as_str(), toml.into_bytes())])?;
        }
    }
    Ok(ExitCode::SUCCESS)
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
        let fits = fit_counts(&c, 60.0);
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
        let fits = fit_counts(&c, 60.0);
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
        let fits = fit_counts(&c, 60.0);
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
}
