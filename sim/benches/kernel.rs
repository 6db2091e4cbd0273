//! Kernel benchmarks: the hold model for every event-queue design, and
//! `LatencyHistogram::record`.
//!
//! Run on a shared machine with short settings:
//! `cargo bench -p headroom-sim --bench kernel -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use headroom_sim::queue::{
    BinaryHeapQueue, ChunkedRadixHeap, DaryHeap, EventQueue, PendingEvents, RadixHeap,
};
use headroom_sim::{LatencyHistogram, Span, Timestamp};
use rand::SeedableRng;
use rand_distr::{Distribution, Exp, LogNormal};
use rand_pcg::Pcg64;

/// Hold steps (one pop plus one push each) per measured iteration.
const STEPS: u64 = 1_000;
/// Size of the pre-drawn increment table (a power of two, cycled through).
const TABLE: usize = 1 << 16;

/// A payload shaped like the models' events: a 16-byte `Copy` enum.
// The fields are never read: they only give the payload a realistic size.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug)]
enum Event {
    Arrival { source: u32 },
    Departure { request: u64 },
}

/// Exponential increments with mean 1 ms, in nanoseconds, drawn up front so
/// the measured loop only reads a table.
fn increments() -> Vec<u64> {
    let mut rng = Pcg64::seed_from_u64(0x686f6c64);
    let exp = Exp::new(1.0).expect("rate 1 is valid");
    (0..TABLE)
        .map(|_| Span::from_secs_f64(exp.sample(&mut rng) * 1e-3).as_nanos())
        .collect()
}

fn hold<Q: PendingEvents<Event>>(c: &mut Criterion, design: &str) {
    let table = increments();
    let mut group = c.benchmark_group(format!("hold/{design}"));
    group.throughput(Throughput::Elements(STEPS));
    for n in [1_000_usize, 100_000, 1_000_000] {
        let mut queue = Q::with_capacity(n);
        let mut next = 0;
        for i in 0..n {
            let event = if i % 2 == 0 {
                Event::Arrival { source: i as u32 }
            } else {
                Event::Departure { request: i as u64 }
            };
            queue.push(Timestamp::from_nanos(table[next]), event);
            next = (next + 1) % TABLE;
        }
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                for _ in 0..STEPS {
                    // The hold model keeps n > 0 events pending at all times.
                    let (time, event) = queue.pop().expect("hold queue is never empty");
                    queue.push(
                        time.saturating_add(Span::from_nanos(table[next])),
                        black_box(event),
                    );
                    next = (next + 1) % TABLE;
                }
            });
        });
    }
    group.finish();
}

fn queues(c: &mut Criterion) {
    hold::<EventQueue<Event>>(c, "EventQueue");
    hold::<BinaryHeapQueue<Event>>(c, "BinaryHeapQueue");
    hold::<DaryHeap<Event, 4>>(c, "DaryHeap4");
    hold::<DaryHeap<Event, 8>>(c, "DaryHeap8");
    hold::<RadixHeap<Event>>(c, "RadixHeap");
    hold::<ChunkedRadixHeap<Event>>(c, "ChunkedRadixHeap");
}

/// `LatencyHistogram::record` on latency-like values (log-normal, median
/// 1 ms, sigma 1.5: spans about 5 µs to 200 ms), pre-drawn into a table.
fn histogram(c: &mut Criterion) {
    const RECORDS: u64 = 1_000;
    let mut rng = Pcg64::seed_from_u64(0x68697374);
    let lognormal = LogNormal::new((1e6_f64).ln(), 1.5).expect("valid parameters");
    let values: Vec<u64> = (0..TABLE)
        .map(|_| Span::from_nanos_f64(lognormal.sample(&mut rng)).as_nanos())
        .collect();
    let mut hist = LatencyHistogram::new();
    let mut next = 0;
    let mut group = c.benchmark_group("histogram");
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function("record", |b| {
        b.iter(|| {
            for _ in 0..RECORDS {
                hist.record(black_box(values[next]));
                next = (next + 1) % TABLE;
            }
        });
    });
    group.finish();
    black_box(hist.quantile_ns(0.99));
}

criterion_group!(benches, queues, histogram);
criterion_main!(benches);
