//! Cache benchmarks: `access` (lookup, and insert with eviction on a miss)
//! per algorithm, with 1 M cached items.
//!
//! Each algorithm is measured twice: `access` one request at a time (what the
//! simulator's tiers do, interleaved with other events) and `access_batch`
//! over the whole key array (what the trace fast path does), which overlaps
//! the memory loads of consecutive requests.
//!
//! Keys are pre-drawn (Zipf s = 0.9 over 10 M keys, and uniform over 2 M keys,
//! the worst case for memory locality), so the loop measures only the cache.
//! LRU also runs on Zipf s = 1.0 over 10 M keys (hit ratio 0.81 against 0.66
//! for s = 0.9; the validation uses s = 0.8, 1.0 and 1.2, and at
//! s = 1.2 the 4 M pre-drawn keys span fewer distinct keys than the cache
//! holds, so nothing would be evicted). The caches have no TTL, so LRU's
//! slots are 16 bytes; `lru-ttl` is the same LRU with a TTL that no request
//! reaches (the same outcomes), whose slots hold an expiry (24 bytes).
//! Run on a shared machine with short settings:
//! `cargo bench -p headroom-cache --bench cache -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use headroom_cache::{Cache, CacheSpec, Capacity, Eviction, Request};
use headroom_sim::rng::stream;
use headroom_sim::zipf::Zipf;
use rand::RngExt;

const ITEMS: u64 = 1_000_000;
const KEYS: usize = 1 << 22;

fn keys(name: &str) -> Vec<u64> {
    let mut rng = stream(1, 0, name);
    let s = match name {
        "zipf0.9" => 0.9,
        "zipf1.0" => 1.0,
        _ => return (0..KEYS).map(|_| rng.random_range(0..2 * ITEMS)).collect(),
    };
    let z = Zipf::new(10_000_000, s).expect("valid Zipf");
    (0..KEYS).map(|_| z.sample(&mut rng)).collect()
}

fn access(c: &mut Criterion) {
    let mut group = c.benchmark_group("access_1M_items");
    group.throughput(Throughput::Elements(KEYS as u64));
    group.sample_size(10);
    for workload in ["zipf0.9", "zipf1.0", "uniform2M"] {
        let keys = keys(workload);
        let all = [
            Eviction::Lru,
            Eviction::Fifo,
            Eviction::Lfu,
            Eviction::S3Fifo,
        ];
        // The second exponent for LRU only, to keep the bench short.
        let algorithms = if workload == "zipf1.0" {
            &all[..1]
        } else {
            &all[..]
        };
        // LRU with a TTL longer than the run as well (same outcomes): its
        // slots hold an expiry, 24 bytes against 16 (`lru.rs`), a peer in
        // the same process for what the smaller slot buys.
        let specs = algorithms.iter().flat_map(|&eviction| {
            let spec = CacheSpec::new(eviction, Capacity::Items(ITEMS));
            let ttl = (eviction == Eviction::Lru).then(|| spec.with_ttl_ns(u64::MAX / 2));
            std::iter::once((eviction.name().to_string(), spec))
                .chain(ttl.map(|spec| ("lru-ttl".to_string(), spec)))
        });
        for (name, spec) in specs {
            let mut cache = Cache::new(&spec).expect("valid spec");
            // Warm up to a full cache.
            for &k in &keys {
                cache.access(0, k, 4096);
            }
            group.bench_function(BenchmarkId::new(&name, workload), |b| {
                b.iter(|| {
                    for &k in &keys {
                        black_box(cache.access(0, k, 4096));
                    }
                })
            });
            let batch: Vec<Request> = keys
                .iter()
                .map(|&key| Request {
                    now_ns: 0,
                    key,
                    size_bytes: 4096,
                })
                .collect();
            group.bench_function(BenchmarkId::new(format!("{name}-batch"), workload), |b| {
                b.iter(|| {
                    cache.access_batch(&batch);
                    black_box(cache.stats().hits)
                })
            });
        }
    }
    group.finish();
}

/// The memory system's own limits on the same working set, run in the same
/// process as a peer: `independent` loads one random 8-byte word per element
/// from an array as large as the 1 M-item LRU's node and index arrays
/// (48 MiB) with every address known in advance (as many loads in flight
/// as the CPU allows: the throughput ceiling for random cache lines);
/// `dependent` follows a random cycle through it (each address comes from
/// the previous load: the latency of one line). An LRU access touches two
/// to four such lines (index slot and node; on a miss the victim's node and
/// slot, both known ahead), so `access_batch` cannot beat half of
/// `independent`'s rate, or a quarter at a high miss ratio (fewer where the
/// hot keys' lines stay in the CPU caches).
fn memory_ceiling(c: &mut Criterion) {
    const WORDS: usize = 48 << 17; // 48 MiB of u64
    let mut rng = stream(1, 0, "memory");
    let addresses: Vec<usize> = (0..KEYS).map(|_| rng.random_range(0..WORDS)).collect();
    // A single random cycle (Sattolo's algorithm) for the dependent chain.
    let mut next: Vec<u64> = (0..WORDS as u64).collect();
    for i in (1..WORDS).rev() {
        let j = rng.random_range(0..i);
        next.swap(i, j);
    }
    let mut group = c.benchmark_group("memory_48MiB");
    group.throughput(Throughput::Elements(KEYS as u64));
    group.sample_size(10);
    group.bench_function("independent", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for &a in &addresses {
                sum = sum.wrapping_add(next[a]);
            }
            black_box(sum)
        })
    });
    group.bench_function("dependent", |b| {
        b.iter(|| {
            let mut at = 0usize;
            for _ in 0..KEYS {
                at = next[at] as usize;
            }
            black_box(at)
        })
    });
    group.finish();
}

criterion_group!(benches, access, memory_ceiling);
criterion_main!(benches);
