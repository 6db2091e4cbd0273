"""M/M/c in SimPy: the peer Headroom's kernel is compared against.

The same model as `models/benches/mmc.rs`: Poisson arrivals, exponential work
(mean 100 ms), c workers sharing a FIFO queue, rho = 0.9. Every customer's
response time is recorded (as Headroom does into its histogram) and the mean
is printed so the two simulators can be checked to agree.

Usage: python3 simpy_mmc.py C CUSTOMERS SEED  -> prints "customers seconds mean_response_s"
"""

import random
import sys
import time

import simpy


def run(c: int, customers: int, seed: int) -> tuple[int, float, float]:
    rng = random.Random(seed)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=c)
    mean_work = 0.1
    rate = 0.9 * c / mean_work
    total = [0.0, 0]

    def customer(env):
        arrival = env.now
        with servers.request() as req:
            yield req
            yield env.timeout(rng.expovariate(1.0 / mean_work))
        total[0] += env.now - arrival
        total[1] += 1

    def source(env):
        for _ in range(customers):
            yield env.timeout(rng.expovariate(rate))
            env.process(customer(env))

    env.process(source(env))
    start = time.perf_counter()
    env.run()
    elapsed = time.perf_counter() - start
    return total[1], elapsed, total[0] / total[1]


if __name__ == "__main__":
    c, n, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    done, secs, mean = run(c, n, seed)
    print(done, secs, mean)
