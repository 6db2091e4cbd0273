//! Closed-form queueing results the simulator is validated against.
//!
//! Rates are per unit time and times in the same unit (seconds, say);
//! `a = λ / μ` is the offered load in Erlangs. All functions return NaN for
//! parameters outside their domain (an unstable queue, a non-positive rate)
//! rather than panicking.

/// Erlang B: the probability that an arrival finds all `c` servers busy in an
/// M/M/c/c loss system offered `a` Erlangs (also M/G/c/c: the result is
/// insensitive to the service distribution). Uses the stable recursion
/// `B(0) = 1`, `B(k) = a B(k-1) / (k + a B(k-1))`.
pub fn erlang_b(c: u32, a: f64) -> f64 {
    if !(a.is_finite() && a >= 0.0) {
        return f64::NAN;
    }
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    b
}

/// Erlang C: the probability that an arrival waits in an M/M/c queue offered
/// `a < c` Erlangs, from Erlang B: `C = c B / (c - a (1 - B))`.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    let cf = f64::from(c);
    if c == 0 || !(a.is_finite() && a >= 0.0 && a < cf) {
        return f64::NAN;
    }
    let b = erlang_b(c, a);
    cf * b / (cf - a * (1.0 - b))
}

/// Mean response time (wait plus service) of an M/M/c queue with arrival
/// rate `lambda` and service rate `mu` per server:
/// `W = 1/μ + C(c, λ/μ) / (cμ - λ)`.
pub fn mmc_response_time(c: u32, lambda: f64, mu: f64) -> f64 {
    if !(mu > 0.0 && lambda >= 0.0) {
        return f64::NAN;
    }
    let a = lambda / mu;
    1.0 / mu + erlang_c(c, a) / (f64::from(c) * mu - lambda)
}

/// Mean response time of an M/G/1 queue by Pollaczek–Khinchine, with arrival
/// rate `lambda`, mean service time `es` and squared coefficient of variation
/// of service `scv`: `W = E[S] + ρ E[S] (1 + scv) / (2 (1 - ρ))`, `ρ = λ E[S]`.
pub fn mg1_response_time(lambda: f64, es: f64, scv: f64) -> f64 {
    let rho = lambda * es;
    if !(es > 0.0 && lambda >= 0.0 && rho < 1.0 && scv >= 0.0) {
        return f64::NAN;
    }
    es + rho * es * (1.0 + scv) / (2.0 * (1.0 - rho))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from the Erlang C and Pollaczek–Khinchine tables of the
    /// validation anchors (computed independently of this code).
    #[test]
    fn matches_reference_tables() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        // c, rho, P_wait, W/E[S], ErlangB(c, A)
        let erlang = [
            (1, 0.5, 0.5000000000, 2.0000000000, 0.3333333333),
            (2, 0.9, 0.8526315789, 5.2631578947, 0.3665158371),
            (3, 0.7, 0.4923444976, 1.5470494418, 0.2253778200),
            (4, 0.9, 0.7877532643, 2.9693831607, 0.2706850671),
            (5, 0.5, 0.1303712975, 1.0521485190, 0.0697311168),
        ];
        for (c, rho, p_wait, w, b) in erlang {
            let a = rho * f64::from(c);
            assert!(close(erlang_c(c, a), p_wait), "C({c}, {a})");
            assert!(close(erlang_b(c, a), b), "B({c}, {a})");
            assert!(close(mmc_response_time(c, a, 1.0), w), "W({c}, {a})");
        }
        // rho, cs2, W/E[S]
        let pk = [
            (0.1, 0.0, 1.0555555556),
            (0.3, 4.0, 2.0714285714),
            (0.5, 1.0, 2.0),
            (0.7, 0.25, 2.4583333333),
            (0.8, 0.0, 3.0),
        ];
        for (rho, scv, w) in pk {
            assert!(
                close(mg1_response_time(rho, 1.0, scv), w),
                "PK({rho}, {scv})"
            );
        }
    }

    #[test]
    fn out_of_domain_is_nan() {
        assert!(erlang_c(4, 4.0).is_nan());
        assert!(erlang_c(0, 0.5).is_nan());
        assert!(mg1_response_time(1.0, 1.0, 1.0).is_nan());
        assert!(erlang_b(3, -1.0).is_nan());
        assert!(mmc_response_time(2, 1.0, 0.0).is_nan());
    }
}
