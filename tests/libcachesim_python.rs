//! Headroom's caches against the `libcachesim` Python package (compiled
//! libCacheSim inside) on the CloudPhysics sample: LRU, FIFO, S3-FIFO and LFU
//! miss counts at several sizes, with object sizes (byte capacity) and
//! without (`ignore_obj_size`: object-count capacity). Equality is exact.
//!
//! `.ci/run` installs the package (`pip install libcachesim==0.3.5`); when it
//! is missing this test installs it the same way.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;

use headroom_cache::{Cache, CacheSpec, Capacity, Eviction};
use headroom_traces::Record;
use headroom_traces::format::oracle::OracleReader;

const PACKAGE: &str = "libcachesim==0.3.5";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> &'static str {
    let has = |py: &str| {
        Command::new(py)
            .args(["-c", "import libcachesim"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has("python3") {
        let ok = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", PACKAGE])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok && has("python3"), "python3 with `{PACKAGE}` is needed");
    }
    "python3"
}

/// (algo, size) -> (requests, misses, byte misses) from libCacheSim.
fn reference(trace: &Path, ignore_size: bool, caches: &[(Eviction, u64)]) -> Vec<[u64; 3]> {
    let script = root().join("experiments/validation/libcachesim_miss_ratios.py");
    let mut cmd = Command::new(python());
    cmd.arg(script)
        .arg(trace)
        .arg("oracleGeneral")
        .arg(if ignore_size { "1" } else { "0" });
    for (e, size) in caches {
        cmd.arg(format!("{}:{size}", e.name()));
    }
    let out = cmd.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<u64> = line
                .split(' ')
                .skip(2)
                .map(|x| x.parse().unwrap())
                .collect();
            [f[0], f[1], f[2]]
        })
        .collect()
}

#[test]
fn lru_fifo_s3fifo_and_lfu_match_libcachesim_with_and_without_sizes() {
    let trace = root().join("traces/samples/cloudphysics-io/cloudPhysicsIO.oracleGeneral.bin");
    let records: Vec<Record> = OracleReader::new(BufReader::new(File::open(&trace).unwrap()))
        .collect::<Result<_, _>>()
        .unwrap();
    let algos = [
        Eviction::Lru,
        Eviction::Fifo,
        Eviction::S3Fifo,
        Eviction::Lfu,
    ];
    for ignore_size in [false, true] {
        let sizes: [u64; 3] = if ignore_size {
            [50, 2_000, 30_000]
        } else {
            [16 << 20, 300 << 20, 2 << 30]
        };
        let caches: Vec<(Eviction, u64)> = algos
            .iter()
            .flat_map(|&e| sizes.iter().map(move |&s| (e, s)))
            .collect();
        let want = reference(&trace, ignore_size, &caches);
        for ((eviction, size), want) in caches.iter().zip(want) {
            let capacity = if ignore_size {
                Capacity::Items(*size)
            } else {
                Capacity::Bytes(*size)
            };
            let mut cache = Cache::new(&CacheSpec::new(*eviction, capacity)).unwrap();
            for r in &records {
                cache.access(r.at.as_nanos(), r.key, r.size_bytes);
            }
            let s = cache.stats();
            assert_eq!(s.hits + s.misses, want[0]);
            let got = if ignore_size {
                [want[0], s.misses, s.misses]
            } else {
                let bytes = u64::try_from(s.byte_misses).expect("the sample's bytes fit a u64");
                [want[0], s.misses, bytes]
            };
            assert_eq!(
                got, want,
                "{eviction} size {size} ignore_size {ignore_size}"
            );
        }
    }
}
