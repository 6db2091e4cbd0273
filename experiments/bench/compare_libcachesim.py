"""Headroom's cache fast path against libCacheSim (the `libcachesim` Python
package, its compiled simulator `process_trace`) on the same trace, back to
back: requests per second and peak memory, medians of R runs each, as ratios.

usage: python3 compare_libcachesim.py TRACE [SIZE=1GiB] [R=3] [ALGO=lru]
Needs `cargo build --release` and `pip install libcachesim==0.3.5`.
Each run is a fresh process so peak RSS (ru_maxrss) is its own. The
libCacheSim figure excludes Python start-up and import (timed inside the
process); Headroom's includes process start and trace reading.
"""
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "headroom")
UNITS = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}

LCS = r"""
import sys, time, resource, libcachesim as lcs
path, size, algo = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cls = {"lru": lcs.LRU, "fifo": lcs.FIFO, "s3-fifo": lcs.S3FIFO, "lfu": lcs.LFU}[algo]
reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE)
cache = cls(size)
t = time.perf_counter()
mr, bmr = cache.process_trace(reader)
dt = time.perf_counter() - t
print(dt, mr, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run_child(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t, out, before


def main():
    trace = sys.argv[1]
    size_text = sys.argv[2] if len(sys.argv) > 2 else "1GiB"
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    algo = sys.argv[4] if len(sys.argv) > 4 else "lru"
    size = int(size_text[:-3]) * UNITS[size_text[-3:]]
    n = os.path.getsize(trace) // 24
    ours, theirs = [], []
    for _ in range(reps):
        # libCacheSim: its own timing of process_trace, its own peak RSS (KiB).
        out = subprocess.run([sys.executable, "-c", LCS, trace, str(size), algo],
                             check=True, capture_output=True, text=True).stdout.split()
        theirs.append((n / float(out[0]), float(out[1]), int(out[2])))
        # Headroom: wall time of the whole command; peak RSS via /usr/bin/time.
        t = time.perf_counter()
        res = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "trace", "cache", trace,
                              "--eviction", algo, "--sizes", size_text],
                             check=True, capture_output=True, text=True)
        dt = time.perf_counter() - t
        row = res.stdout.strip().splitlines()[1].split(",")
        ours.append((n / dt, float(row[4]), int(res.stderr.strip().splitlines()[-1])))
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    print(f"trace {trace}: {n} requests, {algo} at {size_text}")
    print(f"libCacheSim  {med(theirs, 0) / 1e6:8.2f} M req/s  miss ratio {theirs[0][1]:.6f}  peak RSS {med(theirs, 2) / 1024:8.1f} MiB")
    print(f"Headroom     {med(ours, 0) / 1e6:8.2f} M req/s  miss ratio {ours[0][1]:.6f}  peak RSS {med(ours, 2) / 1024:8.1f} MiB")
    print(f"ratio        {med(ours, 0) / med(theirs, 0):8.2f}x speed, {med(ours, 2) / med(theirs, 2):.2f}x memory")


main()
