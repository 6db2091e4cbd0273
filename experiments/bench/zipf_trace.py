"""Writes a synthetic libCacheSim oracleGeneral trace: N requests, Zipf(s)
popularity over M objects of a fixed size, one request per second of clock
time / 1000 (so times are non-decreasing). The common ground for comparing
Headroom's cache fast path with libCacheSim (experiments/bench/README.md).

usage: python3 zipf_trace.py OUT [N=20000000] [M=1000000] [S=0.9] [SIZE=4096] [SEED=1]
"""
import sys

import numpy as np


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000_000
    m = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    s = float(sys.argv[4]) if len(sys.argv) > 4 else 0.9
    size = int(sys.argv[5]) if len(sys.argv) > 5 else 4096
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(np.arange(1, m + 1, dtype=np.float64) ** -s)
    cdf /= cdf[-1]
    # Random object ids so that popularity is not aligned with id order.
    ids = rng.permutation(m).astype(np.uint64) + 1
    rec = np.zeros(n, dtype=[("t", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
    chunk = 1_000_000
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        ranks = np.searchsorted(cdf, rng.random(k), side="right")
        rec["id"][start:start + k] = ids[np.minimum(ranks, m - 1)]
    rec["t"] = np.arange(n, dtype=np.uint64) // 1000
    rec["size"] = size
    rec["next"] = -1
    rec.tofile(out)


main()
