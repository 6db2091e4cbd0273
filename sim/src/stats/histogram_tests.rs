//! Tests of the latency histogram: bucket layout, exactness, quantile error
//! bound against exact nearest-rank quantiles, and merging.

use proptest::prelude::*;

use super::{BUCKETS, LatencyHistogram, bucket_bounds, bucket_of, nearest_rank};

fn edge_values() -> Vec<u64> {
    let mut values: Vec<u64> = (0..1_000).collect();
    for bit in 0..64 {
        let p = 1_u64 << bit;
        values.extend([p - 1, p, p + 1, p | (p >> 1), p.wrapping_mul(3) / 2]);
    }
    values.extend([u64::MAX, u64::MAX - 1, 3_600_000_000_000, 1_000_000_007]);
    values
}

#[test]
fn buckets_tile_the_whole_u64_range_in_order() {
    assert_eq!(LatencyHistogram::BUCKETS, 7_424);
    assert_eq!(bucket_bounds(0), (0, 0));
    for b in 0..BUCKETS - 1 {
        let (lo, hi) = bucket_bounds(b);
        let (next_lo, _) = bucket_bounds(b + 1);
        assert!(lo <= hi);
        assert_eq!(hi + 1, next_lo, "gap or overlap after bucket {b}");
    }
    assert_eq!(bucket_bounds(BUCKETS - 1).1, u64::MAX);
}

#[test]
fn every_value_falls_in_a_narrow_bucket_that_contains_it() {
    for v in edge_values() {
        let b = bucket_of(v);
        assert!(b < BUCKETS);
        let (lo, hi) = bucket_bounds(b);
        assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
        if v < LatencyHistogram::EXACT_BELOW_NS {
            assert_eq!((lo, hi), (v, v), "small values are exact");
        } else {
            // Width at most lo / 128.
            assert!(
                (hi - lo) as u128 * 128 < lo as u128,
                "bucket of {v} too wide"
            );
        }
    }
}

#[test]
fn an_empty_histogram_reports_zeros() {
    let h = LatencyHistogram::new();
    assert_eq!(h.count(), 0);
    assert!(h.is_empty());
    assert_eq!(h.mean_ns(), 0.0);
    assert_eq!((h.min_ns(), h.max_ns()), (0, 0));
    assert_eq!(h.quantile_ns(0.5), 0);
    assert_eq!(h.quantile_ns(1.0), 0);
    // In milliseconds an empty histogram is "no data", not zero latency.
    assert!(h.quantile_ms(0.5).is_nan());
}

#[test]
fn small_values_are_exact_at_every_rank() {
    let mut h = LatencyHistogram::new();
    for v in 1..=100 {
        h.record(v);
    }
    assert_eq!(h.quantile_ns(0.0), 1);
    assert_eq!(h.quantile_ns(0.5), 50);
    assert_eq!(h.quantile_ns(0.505), 51);
    assert_eq!(h.quantile_ns(0.99), 99);
    assert_eq!(h.quantile_ns(1.0), 100);
    assert_eq!(h.mean_ns(), 50.5);
    // Out-of-range and NaN q are clamped.
    assert_eq!(h.quantile_ns(-1.0), 1);
    assert_eq!(h.quantile_ns(7.0), 100);
    assert_eq!(h.quantile_ns(f64::NAN), 1);
    // The millisecond form is the same rank, scaled.
    assert_eq!(h.quantile_ms(0.99), 99e-6);
    h.record(2_500_000);
    assert_eq!(h.quantile_ms(1.0), 2.5);
}

#[test]
fn extremes_are_exact_and_nothing_overflows() {
    let mut h = LatencyHistogram::new();
    h.record(u64::MAX);
    h.record_n(u64::MAX, 3);
    h.record(1_000_000);
    assert_eq!(h.count(), 5);
    assert_eq!(h.max_ns(), u64::MAX);
    assert_eq!(h.min_ns(), 1_000_000);
    assert_eq!(h.quantile_ns(1.0), u64::MAX);
    assert_eq!(h.quantile_ns(0.0), 1_000_000);
    assert_eq!(h.sum_ns(), 4 * u128::from(u64::MAX) + 1_000_000);
    let mean = (4.0 * u64::MAX as f64 + 1e6) / 5.0;
    assert!((h.mean_ns() - mean).abs() <= mean * 1e-15);
}

#[test]
fn record_n_with_zero_count_changes_nothing() {
    let mut h = LatencyHistogram::new();
    h.record_n(12_345, 0);
    assert_eq!(h, LatencyHistogram::new());
    h.record_n(12_345, 4);
    let mut ones = LatencyHistogram::new();
    for _ in 0..4 {
        ones.record(12_345);
    }
    assert_eq!(h, ones);
}

#[test]
fn clear_restores_an_empty_histogram() {
    let mut h = LatencyHistogram::new();
    for v in [5, 500, 5_000_000] {
        h.record(v);
    }
    h.clear();
    assert_eq!(h, LatencyHistogram::new());
}

#[test]
fn the_sparse_form_carries_every_bucket_and_any_count() {
    // Every bucket boundary, counts up to the saturation point: the packed
    // form must merge back to exactly the histogram it came from.
    let mut h = LatencyHistogram::new();
    for (i, v) in edge_values().into_iter().enumerate() {
        let n = match i % 4 {
            0 => 1,
            1 => 127,
            2 => 1 << 35,
            _ => u64::MAX / 4,
        };
        h.record_n(v, n);
    }
    let mut back = LatencyHistogram::new();
    back.merge_sparse(&h.to_sparse());
    assert_eq!(back, h);
    // The first and the last bucket alone (the longest skips).
    let mut ends = LatencyHistogram::new();
    ends.record_n(0, u64::MAX);
    ends.record(u64::MAX);
    let mut back = LatencyHistogram::new();
    back.merge_sparse(&ends.to_sparse());
    assert_eq!(back, ends);
}

#[test]
fn a_latency_distribution_packs_into_about_three_bytes_a_bucket() {
    // A million log-normal-ish latencies around 5 ms (a replication's worth):
    // adjacent buckets, counts mostly below 2^14.
    let mut h = LatencyHistogram::new();
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..1_000_000 {
        // xorshift64*, then the sum of four uniforms (near-normal) in log space.
        let mut z = 0.0;
        for _ in 0..4 {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            z += (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1_u64 << 53) as f64;
        }
        h.record((5e6 * ((z - 2.0) * 1.5).exp()) as u64);
    }
    let sparse = h.to_sparse();
    let mut back = LatencyHistogram::new();
    back.merge_sparse(&sparse);
    assert_eq!(back, h);
    let nonzero = h.counts.iter().filter(|&&n| n != 0).count();
    assert!(nonzero > 1_000, "{nonzero} non-empty buckets");
    let per_bucket = sparse.encoded_bytes() as f64 / nonzero as f64;
    assert!(
        (2.0..=3.5).contains(&per_bucket),
        "{per_bucket:.2} bytes per bucket over {nonzero} buckets"
    );
}

#[test]
fn nearest_rank_follows_ceil_q_n() {
    assert_eq!(nearest_rank(0.0, 10), 1);
    assert_eq!(nearest_rank(0.1, 10), 1);
    assert_eq!(nearest_rank(0.11, 10), 2);
    assert_eq!(nearest_rank(0.5, 10), 5);
    assert_eq!(nearest_rank(0.95, 20), 19);
    assert_eq!(nearest_rank(1.0, 10), 10);
    assert_eq!(nearest_rank(0.5, 1), 1);
}

/// Values from several shapes, including heavy tails.
fn values() -> impl Strategy<Value = Vec<u64>> {
    let one = prop_oneof![
        // Exact range and just above it.
        0_u64..600,
        // Uniform over the whole range.
        any::<u64>(),
        // Log-uniform: heavy-tailed over 64 octaves.
        (0_u32..64, any::<u64>()).prop_map(|(e, m)| m >> e),
        // Pareto with shape 1.1 and scale 1 ms: an extreme tail.
        (1e-12_f64..1.0).prop_map(|u| (1e6 / u.powf(1.0 / 1.1)) as u64),
        // Latency-like: around 10 ms with a few discrete modes.
        (0_u64..4, 0_u64..1_000_000).prop_map(|(mode, jitter)| (mode + 1) * 10_000_000 + jitter),
    ];
    prop::collection::vec(one, 1..2_000)
}

fn check_quantile(h: &LatencyHistogram, sorted: &[u64], q: f64) -> Result<(), TestCaseError> {
    let rank = nearest_rank(q, sorted.len() as u64);
    let exact = sorted[rank as usize - 1];
    let got = h.quantile_ns(q);
    prop_assert!(
        u128::from(got.abs_diff(exact)) * 256 <= u128::from(exact),
        "q = {}: got {}, exact {}",
        q,
        got,
        exact
    );
    if exact < LatencyHistogram::EXACT_BELOW_NS {
        prop_assert_eq!(got, exact);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn quantiles_are_within_1_in_256_of_the_exact_nearest_rank(
        mut samples in values(),
        extra_q in prop::collection::vec(0.0_f64..=1.0, 8),
    ) {
        let mut h = LatencyHistogram::new();
        for &v in &samples {
            h.record(v);
        }
        samples.sort_unstable();
        prop_assert_eq!(h.count(), samples.len() as u64);
        prop_assert_eq!(h.min_ns(), samples[0]);
        prop_assert_eq!(h.max_ns(), samples[samples.len() - 1]);
        let sum: u128 = samples.iter().map(|&v| u128::from(v)).sum();
        prop_assert_eq!(h.sum_ns(), sum);
        prop_assert_eq!(h.mean_ns(), sum as f64 / samples.len() as f64);
        for q in [0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1.0] {
            check_quantile(&h, &samples, q)?;
        }
        for q in extra_q {
            check_quantile(&h, &samples, q)?;
        }
        prop_assert_eq!(h.quantile_ns(0.0), samples[0]);
        prop_assert_eq!(h.quantile_ns(1.0), samples[samples.len() - 1]);
    }

    #[test]
    fn merging_equals_recording_everything_into_one(
        samples in values(),
        split in any::<prop::sample::Index>(),
        weights in prop::collection::vec(0_u64..5, 1..50),
    ) {
        let cut = split.index(samples.len() + 1);
        let (left, right) = samples.split_at(cut);
        let mut all = LatencyHistogram::new();
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        for (i, &v) in left.iter().enumerate() {
            let n = weights[i % weights.len()];
            a.record_n(v, n);
            all.record_n(v, n);
        }
        for &v in right {
            b.record(v);
            all.record(v);
        }
        let mut merged = a.clone();
        merged.merge(&b);
        prop_assert_eq!(&merged, &all);
        // Merging is symmetric and merging an empty histogram is a no-op.
        let mut other_way = b;
        other_way.merge(&a);
        prop_assert_eq!(&other_way, &all);
        merged.merge(&LatencyHistogram::new());
        prop_assert_eq!(&merged, &all);
        // The sparse form merges to the same histogram, empty ones too.
        let mut sparse = a.clone();
        sparse.merge_sparse(&sparse_of_tail(&samples, cut));
        prop_assert_eq!(&sparse, &all);
        sparse.merge_sparse(&LatencyHistogram::new().to_sparse());
        prop_assert_eq!(&sparse, &all);
        // Clearing what merges built (every bucket between the extremes
        // they carried) leaves an empty histogram.
        merged.clear();
        prop_assert_eq!(&merged, &LatencyHistogram::new());
        sparse.clear();
        prop_assert_eq!(&sparse, &LatencyHistogram::new());
    }
}

/// The histogram of `samples[cut..]`, in sparse form.
fn sparse_of_tail(samples: &[u64], cut: usize) -> crate::stats::SparseHistogram {
    let mut b = LatencyHistogram::new();
    for &v in &samples[cut..] {
        b.record(v);
    }
    let sparse = b.to_sparse();
    assert_eq!(sparse.count(), b.count());
    sparse
}

/// `record`'s plain adds stop at a saturated count: the next value goes
/// through `record_n`'s saturating ones (a debug build would panic on an
/// overflow), and one value at a time matches `record_n` below it.
#[test]
fn record_is_record_n_of_one() {
    let mut h = LatencyHistogram::new();
    h.record_n(7, u64::MAX);
    h.record(7);
    h.record(u64::MAX);
    assert_eq!(h.count(), u64::MAX);
    let max = u128::from(u64::MAX);
    assert_eq!(h.sum_ns(), 7 * max + 7 + max);
    assert_eq!(h.max_ns(), u64::MAX);
    let (mut one, mut n) = (LatencyHistogram::new(), LatencyHistogram::new());
    for v in [0, 1, 999, 1_000_000_007, u64::MAX, 42, 42] {
        one.record(v);
        n.record_n(v, 1);
    }
    assert_eq!(one.count(), n.count());
    assert_eq!(one.sum_ns(), n.sum_ns());
    assert_eq!((one.min_ns(), one.max_ns()), (n.min_ns(), n.max_ns()));
    for q in [0.0, 0.3, 0.5, 0.9, 1.0] {
        assert_eq!(one.quantile_ns(q), n.quantile_ns(q));
    }
}
