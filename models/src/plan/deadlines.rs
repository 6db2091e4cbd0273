//! Retries that outlive their caller's deadline: a static check of the call
//! graph's mesh policies (`headroom check` and `headroom run` print it).
//!
//! A caller that stops waiting for a try (its per-try timeout, or its
//! call's overall one) does not stop the callee: the callee finishes the
//! try, and its own calls go on retrying, for nobody. When a callee's
//! retried call can last longer than its caller waits, every slow try
//! upstream leaves that work behind, the load that keeps a retry storm
//! going (`experiments/metastability.toml`). Envoy's and Linkerd's advice
//! is the rule checked here: a callee's retries fit within its caller's
//! deadline. A store client's retries (`datastores.*.retry` with the
//! store's `timeout`) are checked alike: a datastore operation the caller
//! gave up on goes on retrying too.

use headroom_policy::Span;
use headroom_policy::retry::{Jitter, RetryPolicy};
use headroom_policy::tables::EdgePolicy;

use super::{Plan, StepPlan};

/// How long a caller waits for one try on an edge with `policy`: its
/// per-try timeout, else its overall timeout; `None` without either.
fn deadline(policy: &EdgePolicy) -> Option<(Span, &'static str)> {
    let per_try = policy.retry.as_ref().and_then(|r| r.per_try_timeout());
    match (per_try, policy.timeout) {
        (Some(t), _) => Some((t, "per_try_timeout")),
        (None, Some(t)) => Some((t, "timeout")),
        (None, None) => None,
    }
}

/// The longest a call that retries (two tries or more) can last on an edge
/// with `policy`, `Retry-After` aside: its overall timeout, or every try
/// to its per-try timeout with the longest backoffs between them, the
/// shorter; `None` for an edge that does not retry or whose retries have
/// no bound.
fn longest_retried_call(policy: &EdgePolicy) -> Option<(Span, &'static str)> {
    let retry = policy.retry.as_ref().filter(|r| r.attempts() > 1)?;
    let by_tries = retry
        .per_try_timeout()
        .map(|t| tries_and_backoffs(retry, t));
    match (policy.timeout, by_tries) {
        (Some(t), Some(b)) if b < t => Some((b, "its tries and backoffs")),
        (Some(t), _) => Some((t, "its timeout")),
        (None, Some(b)) => Some((b, "its tries and backoffs")),
        (None, None) => None,
    }
}

/// Every try of `retry` to `per_try` with the longest backoffs between
/// them.
fn tries_and_backoffs(retry: &RetryPolicy, per_try: Span) -> Span {
    let backoff = retry.backoff();
    let longest = |k: u32| match backoff.jitter() {
        Jitter::Decorrelated => backoff.max(),
        _ => backoff.ceiling(k),
    };
    (1..retry.attempts()).fold(
        per_try.saturating_mul(u64::from(retry.attempts())),
        |sum, k| sum + longest(k),
    )
}

/// One warning per edge `X -> A` whose deadline some retried call of `A`
/// (`A -> B`) can outlast, naming those calls and how long they can take;
/// in `edges.csv`'s order of the `X -> A` edges (then `A`'s retried
/// datastore operations, bounded by the store's `timeout`). Empty when
/// every callee's retries fit within its callers' deadlines.
pub fn retries_outliving_callers(plan: &Plan) -> Vec<String> {
    let name = |i: usize| plan.services[i].name.as_str();
    let mut warnings = Vec::new();
    for (caller, callee, policy) in plan.call_edges() {
        let Some((waits, which)) = deadline(policy) else {
            continue;
        };
        let s = &plan.services[callee.index()];
        let stores = s.steps.iter().filter_map(|step| match step {
            StepPlan::Data(store) => {
                let store = &plan.data.stores[store.index()];
                let retry = store.retry.as_ref().filter(|r| r.attempts() > 1)?;
                let longest = tries_and_backoffs(retry, store.timeout?);
                (longest > waits).then(|| {
                    format!(
                        "{} -> store {} up to {longest} (its tries and backoffs)",
                        s.name, store.name
                    )
                })
            }
            _ => None,
        });
        let outlast: Vec<String> = s
            .callees
            .iter()
            .zip(&s.edges)
            .filter_map(|(b, p)| {
                let (longest, why) = longest_retried_call(p)?;
                (longest > waits)
                    .then(|| format!("{} -> {} up to {longest} ({why})", s.name, name(b.index())))
            })
            .chain(stores)
            .collect();
        if outlast.is_empty() {
            continue;
        }
        warnings.push(format!(
            "{caller} -> {callee} stops waiting for a try after {waits} (its {which}), but {callee}'s \
             retried calls can last longer: {}; the tries {caller} gives up on keep {callee}'s \
             workers and their retries busy for nobody, the load that sustains a retry storm. \
             Keep them within {waits} (a timeout on {callee}'s edges, or fewer or shorter tries)",
            outlast.join(", "),
            callee = s.name,
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan of `text` (a scenario) as `headroom` loads it.
    fn plan(text: &str) -> Plan {
        crate::load::load_str(std::path::Path::new("s.toml"), text, &[])
            .unwrap()
            .plan
    }

    const GRAPH: &str = r#"
[run]
duration = "10s"

[workload]
arrivals = { process = "poisson", rate = 100.0 }

[[services]]
name = "api"
instance = { workers = 8 }
work = { distribution = "exponential", mean = "1ms" }
calls = [ { service = "users" }, { service = "recs" } ]
replicas = 2

[[services]]
name = "users"
instance = { workers = 8 }
work = { distribution = "exponential", mean = "1ms" }
replicas = 2

[[services]]
name = "recs"
instance = { workers = 8 }
work = { distribution = "exponential", mean = "1ms" }
replicas = 2
"#;

    /// The benchmarks' mesh (2 s timeout, 3 tries of 1 s on every edge):
    /// the edge waits 1 s for a try of api, whose calls to users and recs
    /// can retry for 2 s.
    #[test]
    fn a_callee_retrying_past_its_callers_per_try_timeout_is_named() {
        let text = format!(
            "{GRAPH}\n[policy.mesh]\ntimeout = \"2s\"\nretry = {{ attempts = 3, backoff = \
             \"exponential\", base = \"25ms\", per_try_timeout = \"1s\" }}\n"
        );
        let w = retries_outliving_callers(&plan(&text));
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(
            w[0].starts_with(
                "edge -> api stops waiting for a try after 1s (its per_try_timeout), but api's \
                 retried calls can last longer: api -> users up to 2s (its timeout), api -> \
                 recs up to 2s (its timeout);"
            ),
            "{}",
            w[0]
        );
    }

    /// Without an overall timeout a retried call lasts its tries and the
    /// longest backoffs: 3 x 400 ms + 100 + 200 ms (exponential, no
    /// jitter's cap) = 1.5 s against the edge's 1 s; a shorter per-try
    /// timeout on api's edge to users fits and is not named.
    #[test]
    fn tries_and_backoffs_bound_a_call_without_a_timeout() {
        let text = format!(
            "{GRAPH}\n[policy.mesh.edges.\"edge->api\"]\ntimeout = \"1s\"\n\n\
             [policy.mesh.edges.\"api->recs\"]\nretry = {{ attempts = 3, backoff = \
             \"exponential\", base = \"100ms\", per_try_timeout = \"400ms\" }}\n\n\
             [policy.mesh.edges.\"api->users\"]\nretry = {{ attempts = 3, backoff = \
             \"constant\", base = \"10ms\", per_try_timeout = \"300ms\" }}\n"
        );
        let w = retries_outliving_callers(&plan(&text));
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(
            w[0].contains(
                "after 1s (its timeout), but api's retried calls can last longer: api -> recs \
                 up to 1500ms (its tries and backoffs);"
            ),
            "{}",
            w[0]
        );
    }

    /// A store client's retries, each try to the store's timeout: 3 x 400
    /// ms + 50 + 100 ms = 1350 ms against the edge's 1 s; without the
    /// store's timeout they have no bound and are not named.
    #[test]
    fn a_stores_retried_operations_past_the_callers_deadline_are_named() {
        let store = "\n[[datastores]]\nname = \"users\"\nshard = { workers = 4, read = { \
                     distribution = \"exponential\", mean = \"2ms\" } }\nretry = { attempts = 3, \
                     backoff = \"exponential\", base = \"50ms\" }\n";
        let text = format!(
            "{}{store}timeout = \"400ms\"\n\n[policy.mesh.edges.\"edge->api\"]\ntimeout = \"1s\"\n",
            GRAPH.replace(
                "calls = [ { service = \"users\" }, { service = \"recs\" } ]",
                "calls = [ { data = \"users\" } ]"
            )
        );
        let w = retries_outliving_callers(&plan(&text));
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(
            w[0].contains(
                "after 1s (its timeout), but api's retried calls can last longer: api -> store \
                 users up to 1350ms (its tries and backoffs);"
            ),
            "{}",
            w[0]
        );
        let untimed = text.replace("timeout = \"400ms\"\n", "");
        assert_eq!(
            retries_outliving_callers(&plan(&untimed)),
            Vec::<String>::new()
        );
    }

    /// Retries within the callers' deadlines, retries without any bound,
    /// and a caller that waits forever are not named.
    #[test]
    fn retries_that_fit_or_callers_that_wait_are_not_named() {
        let fits = format!(
            "{GRAPH}\n[policy.mesh.edges.\"edge->api\"]\ntimeout = \"1s\"\n\n\
             [policy.mesh.edges.\"api->users\"]\ntimeout = \"1s\"\nretry = {{ attempts = 3 }}\n"
        );
        assert_eq!(
            retries_outliving_callers(&plan(&fits)),
            Vec::<String>::new()
        );
        let unbounded = format!(
            "{GRAPH}\n[policy.mesh.edges.\"edge->api\"]\ntimeout = \"1s\"\n\n\
             [policy.mesh.edges.\"api->users\"]\nretry = {{ attempts = 3 }}\n"
        );
        assert_eq!(
            retries_outliving_callers(&plan(&unbounded)),
            Vec::<String>::new()
        );
        let waits = format!(
            "{GRAPH}\n[policy.mesh.edges.\"api->users\"]\ntimeout = \"5s\"\nretry = {{ attempts = 3 }}\n"
        );
        assert_eq!(
            retries_outliving_callers(&plan(&waits)),
            Vec::<String>::new()
        );
    }
}
