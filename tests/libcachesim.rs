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

fn misses(records: &[Record], spec: &CacheSpec) -> (u64, u64) {
    let mut cache = Cache::new(spec).unwrap();
    for r in records {
        let _: Access = cache.access(r.at.as_nanos(), r.key, r.size_bytes);
    }
    let s = cache.stats();
    (s.misses, s.byte_misses)
}

fn check(eviction: Eviction, want_cnt: [u64; 8], want_bytes: [u64; 8]) {
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
