"""Miss counts of libCacheSim (the `libcachesim` Python package, compiled
libCacheSim inside) on a trace, for tests/libcachesim_python.rs.

usage: python3 libcachesim_miss_ratios.py TRACE FORMAT IGNORE_SIZE ALGO:SIZE...
FORMAT: oracleGeneral | csv (libCacheSim csv: time col 2, id col 5, size col 4,
header); IGNORE_SIZE: 0 or 1; ALGO: lru | fifo | s3-fifo | lfu; SIZE: bytes
(or objects when IGNORE_SIZE = 1). Prints one line per cache:
`algo size requests misses byte_misses`.
"""
import sys

import libcachesim as lcs

ALGOS = {"lru": lcs.LRU, "fifo": lcs.FIFO, "s3-fifo": lcs.S3FIFO, "lfu": lcs.LFU}


def reader(path, fmt, ignore_size):
    params = lcs.ReaderInitParam()
    params.ignore_obj_size = ignore_size
    if fmt == "oracleGeneral":
        return lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE, params)
    params.time_field = 2
    params.obj_id_field = 5
    params.obj_size_field = 4
    params.has_header = True
    params.delimiter = ","
    return lcs.TraceReader(path, lcs.TraceType.CSV_TRACE, params)


def main():
    path, fmt, ignore = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    for spec in sys.argv[4:]:
        algo, size = spec.split(":")
        cache = ALGOS[algo](int(size))
        n = misses = byte_misses = 0
        for req in reader(path, fmt, ignore):
            n += 1
            if not cache.get(req):
                misses += 1
                byte_misses += req.obj_size
        print(algo, size, n, misses, byte_misses)


main()
