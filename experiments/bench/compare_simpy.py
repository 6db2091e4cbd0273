"""Headroom vs SimPy on the same M/M/c, back to back on one core.

Runs the release `headroom` binary (one replication, one thread) and SimPy on
M/M/c at rho = 0.9 for c in (1, 4, 16), several times each, and prints the
median customers per second of each and their ratio. Both report the mean
response time too, which must agree with Erlang C.

Usage (from the repository root):
    cargo build --release
    pip install simpy==4.1.1
    python3 experiments/bench/compare_simpy.py
    python3 experiments/bench/compare_simpy.py --reps 1 --customers 20000 --simpy-customers 2000   # a quick check
HEADROOM_BIN names another binary (default target/release/headroom).
`tests/bench_scripts.rs` runs the quick check, so the scenario below stays
valid as the schema grows.
"""

import argparse
import csv
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import simpy_mmc  # noqa: E402

HEADROOM = os.environ.get("HEADROOM_BIN", os.path.join(ROOT, "target", "release", "headroom"))


def erlang_c_response(c: int, lam: float, mu: float) -> float:
    a = lam / mu
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    pw = c * b / (c - a * (1 - b))
    return 1 / mu + pw / (c * mu - lam)


def headroom_run(c: int, customers: int, seed: int) -> tuple[int, float, float]:
    rate = 0.9 * c / 0.1
    secs = customers / rate
    scenario = f"""
[run]
duration = "{secs:.0f}s"
replications = 1
seed = {seed}
timeseries_interval = "1h"
[workload]
arrivals = {{ process = "poisson", rate = {rate} }}
[[services]]
name = "mmc"
instance = {{ workers = {c}, queue = "unbounded" }}
work = {{ distribution = "exponential", mean = "100ms" }}
replicas = 1
"""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "mmc.toml")
        with open(path, "w") as f:
            f.write(scenario)
        start = time.perf_counter()
        subprocess.run([HEADROOM, "run", path, "--out", os.path.join(d, "out"), "--threads", "1", "--quiet"], check=True)
        elapsed = time.perf_counter() - start
        with open(os.path.join(d, "out", "runs.csv")) as f:
            row = next(csv.DictReader(f))
        return int(row["requests"]), elapsed, float(row["latency_mean_ms"]) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="runs of each simulator per c (medians)")
    parser.add_argument("--customers", type=int, default=5_000_000, help="customers per Headroom run")
    parser.add_argument("--simpy-customers", type=int, default=300_000, help="customers per SimPy run")
    args = parser.parse_args()
    reps = args.reps
    print(f"{'c':>3} {'headroom cust/s':>16} {'simpy cust/s':>14} {'ratio':>7}   mean W: analytic / headroom / simpy (s)")
    for c in (1, 4, 16):
        h = [headroom_run(c, args.customers, 1 + i) for i in range(reps)]
        s = [simpy_mmc.run(c, args.simpy_customers, 1 + i) for i in range(reps)]
        h_rate = statistics.median(n / t for n, t, _ in h)
        s_rate = statistics.median(n / t for n, t, _ in s)
        w = erlang_c_response(c, 0.9 * c / 0.1, 10.0)
        print(
            f"{c:>3} {h_rate:>16,.0f} {s_rate:>14,.0f} {h_rate / s_rate:>6.0f}x   "
            f"{w:.4f} / {statistics.mean(x for _, _, x in h):.4f} / {statistics.mean(x for _, _, x in s):.4f}"
        )


if __name__ == "__main__":
    main()
