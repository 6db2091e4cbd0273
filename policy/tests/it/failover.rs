//! Priority failover tests: Envoy's documented priority tables and
//! `LoadBalancerBaseTest` vectors, priority choice, a property test that loads
//! sum to 100, and the `[policy.failover]` table.

use headroom_policy::health::{Failover, FailoverConfig, PriorityHealth, priority_loads};
use headroom_policy::time::Span;
use proptest::prelude::*;
use rand_core::SeedableRng;
use rand_pcg::Pcg64;

// --- Priority failover ----------------------------------------------------------

/// Loads and panic flags with the default factor 1.4 and panic threshold 50 %.
fn loads(levels: &[(u32, u32)]) -> (Vec<u32>, Vec<bool>) {
    loads_with(levels, 50)
}

fn loads_with(levels: &[(u32, u32)], panic_threshold_pct: u32) -> (Vec<u32>, Vec<bool>) {
    let levels: Vec<PriorityHealth> = levels
        .iter()
        .map(|&(h, t)| PriorityHealth::new(h, t))
        .collect();
    let l = priority_loads(&levels, 140, panic_threshold_pct);
    (l.load().to_vec(), l.panic().to_vec())
}

#[test]
fn envoy_docs_two_levels_p1_fully_healthy() {
    // priority.rst: P=0 healthy % → load to P=0 / P=1 (P=1 100 % healthy).
    let table = [
        (100, 100, 0),
        (72, 100, 0),
        (71, 99, 1),
        (50, 70, 30),
        (25, 35, 65),
        (0, 0, 100),
    ];
    for (healthy, p0, p1) in table {
        let (load, panic) = loads(&[(healthy, 100), (100, 100)]);
        assert_eq!(load, [p0, p1], "P0 {healthy} % healthy");
        assert_eq!(panic, [false, false]);
    }
}

#[test]
fn p0_keeps_everything_until_below_71_4_percent_healthy() {
    // 5 of 7 = 71.43 % → 140 × 5 / 7 = 100.
    assert_eq!(loads(&[(5, 7), (7, 7)]).0, [100, 0]);
    assert_eq!(loads(&[(714, 1000), (10, 10)]).0, [99, 1]);
    assert_eq!(loads(&[(715, 1000), (10, 10)]).0, [100, 0]);
}

#[test]
fn envoy_docs_two_levels_both_degrading() {
    let table = [
        ((100, 100), 100, 0),
        ((72, 72), 100, 0),
        ((71, 71), 99, 1),
        ((50, 50), 70, 30),
        ((25, 100), 35, 65),
        ((25, 25), 50, 50),
    ];
    for ((h0, h1), p0, p1) in table {
        assert_eq!(loads(&[(h0, 100), (h1, 100)]).0, [p0, p1], "{h0}/{h1}");
    }
}

#[test]
fn envoy_docs_three_levels() {
    // The priority.rst tables leave panic aside: compare with panic disabled.
    let table = [
        ((100, 100, 100), [100, 0, 0]),
        ((72, 72, 100), [100, 0, 0]),
        ((71, 71, 100), [99, 1, 0]),
        ((50, 50, 100), [70, 30, 0]),
        ((25, 100, 100), [35, 65, 0]),
        ((25, 25, 100), [35, 35, 30]),
        // The docs table prints 36/36/28; Envoy's integer code gives 37/35/28
        // (35·100/98 = 35, 28·100/98 = 28, remainder 2 to P=0).
        ((25, 25, 20), [37, 35, 28]),
    ];
    for ((a, b, c), expected) in table {
        assert_eq!(
            loads_with(&[(a, 100), (b, 100), (c, 100)], 0).0,
            expected,
            "{a}/{b}/{c}"
        );
    }
    // With the default 50 % panic threshold the last row is a total panic
    // (every level below 50 % healthy, normalized health 98 < 100): loads
    // follow endpoint counts instead.
    assert_eq!(
        loads(&[(25, 100), (25, 100), (20, 100)]),
        (vec![34, 33, 33], vec![true, true, true])
    );
}

/// Per-priority (healthy, total), expected loads, expected panic flags.
type Case<'a, P> = (&'a [(u32, u32)], &'a [u32], P);

#[test]
fn envoy_unit_test_gentle_failover() {
    // LoadBalancerBaseTest.GentleFailover (without excluded hosts).
    let cases: [Case<'_, &[bool]>; 4] = [
        (&[(1, 1), (1, 1)], &[100, 0], &[false, false]),
        (&[(1, 2), (1, 2)], &[70, 30], &[false, false]),
        (&[(1, 4), (2, 2)], &[35, 65], &[false, false]),
        (&[(1, 4), (1, 4)], &[50, 50], &[true, true]),
    ];
    for (levels, load, panic) in cases {
        assert_eq!(loads(levels), (load.to_vec(), panic.to_vec()), "{levels:?}");
    }
}

#[test]
fn envoy_unit_test_gentle_failover_with_extra_levels() {
    let cases: [Case<'_, Option<&[bool]>>; 10] = [
        (
            &[(1, 1), (1, 1), (1, 1)],
            &[100, 0, 0],
            Some(&[false, false, false]),
        ),
        (&[(1, 2), (1, 2), (1, 2)], &[70, 30, 0], None),
        (&[(1, 4), (2, 2), (1, 2)], &[35, 65, 0], None),
        (&[(1, 4), (1, 4), (1, 4)], &[35, 35, 30], None),
        (
            &[(1, 5), (1, 5), (1, 5)],
            &[34, 33, 33],
            Some(&[true, true, true]),
        ),
        (
            &[(0, 5), (0, 5), (5, 5)],
            &[0, 0, 100],
            Some(&[false, false, false]),
        ),
        (
            &[(0, 5), (0, 5), (4, 5)],
            &[0, 0, 100],
            Some(&[false, false, false]),
        ),
        (
            &[(0, 5), (0, 5), (2, 5)],
            &[34, 33, 33],
            Some(&[true, true, true]),
        ),
        (
            &[(0, 5), (0, 3), (0, 2)],
            &[50, 30, 20],
            Some(&[true, true, true]),
        ),
        (
            &[(0, 5), (2, 6), (1, 3)],
            &[37, 42, 21],
            Some(&[true, true, true]),
        ),
    ];
    for (levels, load, panic) in cases {
        let (got_load, got_panic) = loads(levels);
        assert_eq!(got_load, load, "{levels:?}");
        if let Some(panic) = panic {
            assert_eq!(got_panic, panic, "{levels:?}");
        }
    }
    // Rounding goes to the first non-empty priority in total panic.
    assert_eq!(
        loads(&[(0, 0), (0, 6), (0, 3)]),
        (vec![0, 67, 33], vec![true, true, true])
    );
    assert_eq!(loads(&[(0, 3), (0, 3), (0, 3)]).0, [34, 33, 33]);
}

#[test]
fn panic_threshold_zero_sends_everything_to_p0_without_panic() {
    let levels = [PriorityHealth::new(0, 5), PriorityHealth::new(0, 5)];
    let l = priority_loads(&levels, 140, 0);
    assert_eq!(l.load(), [100, 0]);
    assert_eq!(l.panic(), [false, false]);
    assert!(!l.is_total_panic());
    // No endpoints anywhere: P=0 takes the (empty) load.
    let l = priority_loads(&[PriorityHealth::new(0, 0); 3], 140, 50);
    assert_eq!(l.load(), [100, 0, 0]);
    assert!(l.is_total_panic());
}

#[test]
fn overprovisioning_factor_one_is_proportional() {
    // LoadBalancerBaseTest.OverProvisioningFactor.
    let levels = [PriorityHealth::new(2, 4), PriorityHealth::new(2, 4)];
    assert_eq!(priority_loads(&levels, 140, 50).load(), [70, 30]);
    assert_eq!(priority_loads(&levels, 100, 50).load(), [50, 50]);
}

#[test]
fn choose_follows_cumulative_percentages() {
    let spec = FailoverConfig {
        order: vec!["us-east".into(), "us-west".into()],
        ..FailoverConfig::default()
    }
    .validate()
    .expect("valid");
    let mut f = Failover::new(&spec);
    assert!(f.set_health(0, PriorityHealth::new(1, 2)));
    assert!(f.set_health(1, PriorityHealth::new(2, 2)));
    assert!(!f.set_health(1, PriorityHealth::new(2, 2)));
    assert!(!f.set_health(7, PriorityHealth::new(2, 2)));
    assert_eq!(f.loads().load(), [70, 30]);
    // draw % 100 + 1 in 1..=70 → P0, 71..=100 → P1.
    assert_eq!(f.choose_with(0).priority, 0);
    assert_eq!(f.choose_with(69).priority, 0);
    assert_eq!(f.choose_with(70).priority, 1);
    assert_eq!(f.choose_with(99).priority, 1);
    assert_eq!(f.choose_with(169).priority, 0);
    let mut rng = Pcg64::seed_from_u64(3);
    let p0 = (0..10_000)
        .filter(|_| f.choose(&mut rng).priority == 0)
        .count();
    assert!((6_800..=7_200).contains(&p0), "{p0}");
    // Panic flags travel with the choice.
    f.set_health(0, PriorityHealth::new(1, 4));
    f.set_health(1, PriorityHealth::new(1, 4));
    let choice = f.choose_with(0);
    assert!(choice.panic);
    assert_eq!(spec.priority_of("us-west"), Some(1));
    assert_eq!(spec.priority_of("eu-west"), None);
}

// --- Properties ---------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Loads always sum to 100; with full normalized health nothing panics;
    /// outside total panic a priority with no healthy endpoint gets nothing.
    #[test]
    fn priority_loads_sum_to_100(
        levels in prop::collection::vec((0u32..50, 0u32..50), 1..8),
        op in prop::sample::select(vec![100u32, 120, 140, 200]),
        panic in 0u32..=100,
    ) {
        let levels: Vec<PriorityHealth> = levels
            .into_iter()
            .map(|(h, t)| PriorityHealth::new(h.min(t), t))
            .collect();
        let l = priority_loads(&levels, op, panic);
        prop_assert_eq!(l.load().iter().sum::<u32>(), 100);
        let health: Vec<u64> = levels
            .iter()
            .map(|p| if p.total == 0 { 0 } else {
                (u64::from(op) * u64::from(p.healthy) / u64::from(p.total)).min(100)
            })
            .collect();
        if health.iter().sum::<u64>() >= 100 {
            prop_assert!(l.panic().iter().all(|&p| !p));
        }
        if !l.is_total_panic() && health.iter().any(|&h| h > 0) {
            for (i, h) in health.iter().enumerate() {
                if *h == 0 {
                    prop_assert_eq!(l.load()[i], 0);
                }
            }
        }
    }

}

// --- Configuration ------------------------------------------------------------

#[cfg(feature = "serde")]
mod config {
    use super::*;

    fn table(src: &str) -> Result<FailoverConfig, String> {
        let doc: toml::Table = toml::from_str(src).map_err(|e| e.to_string())?;
        let f = doc
            .get("policy")
            .and_then(|p| p.get("failover"))
            .cloned()
            .ok_or("no [policy.failover]")?;
        f.try_into().map_err(|e: toml::de::Error| e.to_string())
    }

    #[test]
    fn reference_table_parses() {
        let spec = table(
            r#"
            [policy.failover]
            order = ["us-east", "us-west", "eu-west", "ap-south"]

            [policy.failover.health_check]
            interval = "30s"
            "#,
        )
        .expect("parses")
        .validate()
        .expect("valid");
        assert_eq!(spec.order.len(), 4);
        assert_eq!(spec.overprovisioning_pct, 140);
        assert_eq!(spec.panic_threshold_pct, 50);
        let hc = spec.health_check.clone().expect("set");
        assert_eq!(hc.interval, Span::from_secs(30));
        assert_eq!(hc.timeout, Span::from_secs(5));
        let f = Failover::new(&spec);
        assert_eq!(f.loads().load(), [100, 0, 0, 0]);
        assert!(f.loads().is_total_panic());
    }

    #[test]
    fn bad_values_name_key_value_and_range() {
        let cases = [
            ("order = []", "order", "[]", "1..=64"),
            (
                "order = [\"a\", \"a\"]",
                "order[1]",
                "\"a\"",
                "not listed before",
            ),
            ("order = [\"\"]", "order[0]", "\"\"", "non-empty"),
            (
                "order = [\"a\"]\noverprovisioning_factor = 0.5",
                "overprovisioning_factor",
                "0.5",
                "1.0..=100.0",
            ),
            (
                "order = [\"a\"]\noverprovisioning_factor = 1.405",
                "overprovisioning_factor",
                "1.405",
                "two decimals",
            ),
            (
                "order = [\"a\"]\npanic_threshold = 1.5",
                "panic_threshold",
                "1.5",
                "0..=1",
            ),
            (
                "order = [\"a\"]\n[policy.failover.health_check]\ntimeout = \"0s\"",
                "health_check.timeout",
                "\"0s\"",
                "at least \"1ms\"",
            ),
            (
                "order = [\"a\"]\n[policy.failover.health_check]\ninterval = \"10us\"",
                "health_check.interval",
                "\"10us\"",
                "at least \"1ms\"",
            ),
        ];
        for (src, key, value, expected) in cases {
            let err = table(&format!("[policy.failover]\n{src}\n"))
                .expect("parses")
                .validate()
                .expect_err("invalid")
                .within("policy.failover");
            assert_eq!(err.key(), format!("policy.failover.{key}"), "{src}");
            assert_eq!(err.value(), value, "{src}");
            assert!(
                err.expected().contains(expected),
                "{src}: {}",
                err.expected()
            );
        }
        let err = table("[policy.failover]\norder = [\"a\"]\nregions = 2\n").expect_err("unknown");
        assert!(err.contains("regions"), "{err}");
        let err = table("[policy.failover]\norder = [\"a\"]\n[policy.failover.health_check]\ninitial_state = \"sick\"\n")
            .expect_err("bad state");
        assert!(err.contains("healthy"), "{err}");
    }
}
