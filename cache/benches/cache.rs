//! Cache benchmarks: `access` (lookup, and insert with eviction on a miss)
//! per algorithm, with 1 M cached items.
//!
//! Keys are pre-drawn (Zipf s = 0.9 over 10 M keys, and uniform over 2 M keys,
//! the worst case for memory locality), so the loop measures only the cache.
//! Run on a shared machine with short settings:
//! `cargo bench -p headroom-cache --bench cache -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use headroom_cache::{Cache, CacheSpec, Capacity, Eviction};
use headroom_sim::rng::stream;
use headroom_sim::zipf::Zipf;
use rand::RngExt;

const ITEMS: u64 = 1_000_000;
const KEYS: usize = 1 << 22;

fn keys(name: &str) -> Vec<u64> {
    let mut rng = stream(1, 0, name);
    match name {
        "zipf0.9" => {
            let z = Zipf::new(10_000_000, 0.9).expect("valid Zipf");
            (0..KEYS).map(|_| z.sample(&mut rng)).collect()
        }
        _ => (0..KEYS).map(|_| rng.random_range(0..2 * ITEMS)).collect(),
    }
}

fn access(c: &mut Criterion) {
    let mut group = c.benchmark_group("access_1M_items");
    group.throughput(Throughput::Elements(KEYS as u64));
    group.sample_size(10);
    for workload in ["zipf0.9", "uniform2M"] {
        let keys = keys(workload);
        for eviction in [
            Eviction::Lru,
            Eviction::Fifo,
            Eviction::Lfu,
            Eviction::S3Fifo,
        ] {
            let spec = CacheSpec::new(eviction, Capacity::Items(ITEMS));
            let mut cache = Cache::new(&spec).expect("valid spec");
            // Warm up to a full cache.
            for &k in &keys {
                cache.access(0, k, 4096);
            }
            group.bench_function(BenchmarkId::new(eviction.name(), workload), |b| {
                b.iter(|| {
                    for &k in &keys {
                        black_box(cache.access(0, k, 4096));
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, access);
criterion_main!(benches);
