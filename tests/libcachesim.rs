//! The trace-driven cache fast path against libCacheSim's published miss
//! counts on the CloudPhysics `oracleGeneral` sample
//! (`traces/samples/cloudphysics-io/`, from libCacheSim's
//! `test/test_evictionAlgo.c` at commit aa0fc40).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use headroom_cache::{Access, Cache, CacheSpec, Capacity, Eviction};
use headroom_traces::Record;
use headroom_traces::format::oracle::OracleReader;

const MIB: u64 = 1 << 20;

fn sample() -> Vec<Record> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("traces/samples/cloudphysics-io/cloudPhysicsIO.oracleGeneral.bin");
    OracleReader::new(BufReader::new(File::open(path).unwrap()))
        .collect::<Result<_, _>>()
        .unwrap()
}

fn misses(records: &[Record], spec: &CacheSpec) -> (u64, u128) {
    let mut cache = Cache::new(spec).unwrap();
    for r in records {
        let _: Access = cache.access(r.at.as_nanos(), r.key, r.size_bytes);
    }
    let s = cache.stats();
    (s.misses, s.byte_misses)
}

fn check(eviction: Eviction, want_cnt: [u64; 8], want_bytes: [u128; 8]) {
    let records = sample();
    assert_eq!(records.len(), 113_872);
    for (k, (cnt, bytes)) in want_cnt.iter().zip(want_bytes).enumerate() {
        let size = 128 * MIB * (k as u64 + 1);
        let spec = CacheSpec::new(eviction, Capacity::Bytes(size));
        assert_eq!(
            misses(&records, &spec),
            (*cnt, bytes),
            "{eviction} at {} MiB",
            size / MIB
        );
    }
}

#[test]
fn lru_reproduces_libcachesim_miss_counts_exactly() {
    check(
        Eviction::Lru,
        [93374, 89783, 83572, 81722, 72494, 72104, 71972, 71704],
        [
            4214303232, 4061242368, 3778040320, 3660569600, 3100927488, 3078128640, 3075403776,
            3061662720,
        ],
    );
}

#[test]
fn fifo_reproduces_libcachesim_miss_counts_exactly() {
    check(
        Eviction::Fifo,
        [93403, 89386, 84387, 84025, 72498, 72228, 72182, 72140],
        [
            4213112832, 4052646400, 3829170176, 3807412736, 3093146112, 3079525888, 3079210496,
            3077547520,
        ],
    );
}

#[test]
fn lfu_reproduces_libcachesim_miss_counts_exactly() {
    check(
        Eviction::Lfu,
        [91699, 86720, 78578, 76707, 69945, 66221, 64445, 64376],
        [
            4158632960, 3917211648, 3536227840, 3455379968, 3035580416, 2801699328, 2699456000,
            2696345600,
        ],
    );
}

/// `cloudPhysicsIO.csv` read with libCacheSim's column mapping (time col 2,
/// id col 5, size col 4, header) through Headroom's `csv` reader.
fn csv_sample() -> Vec<Record> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("traces/samples/cloudphysics-io/cloudPhysicsIO.csv");
    let opened = headroom_traces::open(
        Box::new(File::open(path).unwrap()),
        "cloudPhysicsIO.csv",
        Some(headroom_traces::Format::Csv),
        "time-col=2,obj-id-col=5,obj-size-col=4,has-header=true",
    )
    .unwrap();
    headroom_traces::Checked::new(opened.source, headroom_traces::CheckOptions::default())
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn lru_on_the_csv_sample_reproduces_test_simulator_c_with_and_without_ttl() {
    // libCacheSim test/test_simulator.c: sizes change between requests of an
    // object and LRU keeps the size of the first miss.
    let records = csv_sample();
    assert_eq!(records.len(), 113_872);
    let want_plain: [u64; 8] = [93151, 87793, 83135, 81609, 72481, 72106, 71973, 71702];
    let want_bytes: [u128; 8] = [
        4035348480, 3841399808, 3660518400, 3613104640, 3087721984, 3080147456, 3075377664,
        3059534336,
    ];
    let want_ttl: [u64; 8] = [93240, 87890, 83268, 81743, 72649, 72284, 72165, 72086];
    let wants = want_plain.iter().zip(want_bytes).zip(want_ttl);
    for (k, ((plain, bytes), ttl_misses)) in wants.enumerate() {
        let size = 128 * MIB * (k as u64 + 1);
        let mut spec = CacheSpec::new(Eviction::Lru, Capacity::Bytes(size));
        spec.update_size_on_hit = false;
        assert_eq!(
            misses(&records, &spec),
            (*plain, bytes),
            "{} MiB",
            size / MIB
        );
        // default_ttl = 2400 (the trace's time unit is seconds).
        let ttl = spec.with_ttl_ns(2400 * 1_000_000_000);
        assert_eq!(
            misses(&records, &ttl).0,
            ttl_misses,
            "ttl, {} MiB",
            size / MIB
        );
    }
}
