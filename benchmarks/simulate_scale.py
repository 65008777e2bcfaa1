"""Scale of the simulated cluster: 1024 workers x 1000 synchronous steps of least squares.

Target (issue 5): <= 10 s on 2 cores. Prints one JSON line per configuration with ``workers``,
``steps``, ``seconds``, ``limit`` and ``ratio = seconds / limit`` (below 1 is within target).

    .venv/bin/python benchmarks/simulate_scale.py [--workers 1024] [--steps 1000]
"""

import argparse
import json
import time

import numpy as np

from coursekit.data import make_regression
from coursekit.distributed.simulate import Cluster, simulate
from coursekit.objectives import LeastSquares

LIMIT_SECONDS = 10.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=8, help="per worker")
    parser.add_argument("--features", type=int, default=10)
    args = parser.parse_args()
    p, b = args.workers, args.batch_size
    X, y, _ = make_regression(n_samples=2 * p * b, n_features=args.features, seed=0)
    f = LeastSquares(X, y)
    cluster = Cluster(p, latency=2e-6, bandwidth=1.25e9, jitter=0.2, straggler_prob=0.01)
    for algorithm in ["naive", "ring"]:
        t0 = time.perf_counter()
        h = simulate(f, np.zeros(f.dim), cluster=cluster, strategy="sync", steps=args.steps,
                     lr=0.05, batch_size=b, seed=0, algorithm=algorithm)  # fmt: skip
        seconds = time.perf_counter() - t0
        print(json.dumps({
            "benchmark": "simulate_scale",
            "strategy": "sync",
            "algorithm": algorithm,
            "workers": p,
            "steps": args.steps,
            "seconds": round(seconds, 3),
            "limit": LIMIT_SECONDS,
            "ratio": round(seconds / LIMIT_SECONDS, 3),
            "final_loss": h.losses[-1],
            "simulated_seconds": h.wall_clock[-1],
            "speedup": h.speedup,
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
