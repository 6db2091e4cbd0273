//! The engine's guard against a run that could never end.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::time::Duration;

use headroom_sim::{Span, Timestamp};

use super::World;
use super::data::DataKey;
use super::mesh::Request;

/// Health checks every second: housekeeping timers that re-arm while
/// anything is in flight.
const SCENARIO: &str = r#"
[run]
duration = "2s"
warmup = "0s"
replications = 1

[workload]
arrivals = { process = "poisson", rate = 100 }

[[services]]
name = "api"
instance = { workers = 4 }
work = { distribution = "exponential", mean = "1ms" }
replicas = 2

[policy.load_balancer]
algorithm = "least-connections"
health_check = { interval = "1s", timeout = "100ms" }
"#;

/// A record left in flight with no event to end it (here a request put in
/// by hand; in the past, an attempt whose data step never started) used to
/// keep the health checks re-arming after the end, and the run never
/// returned. Now the run stops once only housekeeping timers are left, and
/// the books name what was left.
#[test]
fn a_record_left_in_flight_stops_the_run_and_the_books_name_it() {
    let (tx, rx) = mpsc::channel();
    // A watchdog, not parallel simulation: the run is still on one thread.
    #[allow(clippy::disallowed_methods)]
    std::thread::spawn(move || {
        let loaded = crate::load_str(Path::new("leak.toml"), SCENARIO, &[]).expect("valid");
        let mut world = World::new(&loaded.plan, 0);
        let leaked = Request {
            arrival: Timestamp::ZERO,
            failed_over: false,
            degraded: false,
            client_rtt: Span::ZERO,
            data: DataKey::default(),
            edge: 0,
            flags: 0,
        };
        world.requests.insert(leaked).expect("room");
        world.run(&AtomicU64::new(0)).expect("runs");
        let end = world.now;
        let _ = tx.send((end, world.finish(0).audit));
    });
    let (end, audit) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the run stops (it used to loop forever)");
    assert_eq!(audit.requests_left, 1);
    assert_eq!(
        audit.violation().as_deref(),
        Some("1 requests left in flight"),
        "only the leaked record is left: every real arrival ended ({audit:?})"
    );
    assert!(
        end < Timestamp::ZERO + Span::from_secs(10),
        "it stops at the first health check with nothing else left, not later: {end:?}"
    );
}
