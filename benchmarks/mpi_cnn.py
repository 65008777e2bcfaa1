"""Measured speed-up of chapter 7's CNN trained data-parallel under MPI, against the cost model.

For P = 1, 2 and 4 processes (4 is more than this machine's 2 cores: reported as
``oversubscribed``), trains the CNN on digits with the same global batch split into P shards
(strong scaling) and prints one JSON line per P::

    processes, oversubscribed, step_ms, compute_ms, comm_ms, predicted_step_ms, speedup,
    model_error, ...

``predicted_step_ms`` is C_1 / P + T_allreduce(N, P; alpha, B): the one-process compute time
of the batch (measured in the P = 1 run) and a ping-pong's alpha and B (measured in the
P = 2 run); ``model_error`` = predicted / measured - 1. Times are medians over the steps of the
slowest rank (``coursekit.distributed.measure.scaling_table``). Every line also carries the
1-minute load average when the run ended: on a shared machine the numbers mean little
without it.

Usage::

    .venv/bin/python benchmarks/mpi_cnn.py [--procs 1 2 4] [--global-batch 256] [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import os

from coursekit.distributed.measure import scaling_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--global-batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--variant", default="ring", choices=["gather", "allreduce", "ring"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args(argv)
    rows = scaling_table(
        args.procs,
        global_batch=args.global_batch,
        steps=args.steps,
        variant=args.variant,
        dtype=args.dtype,
    )
    load = os.getloadavg()[0]
    for row in rows:
        row = {k: v for k, v in row.items() if not k.startswith("pingpong")}
        row["load_1min"] = load
        row["cores"] = os.cpu_count()
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))


if __name__ == "__main__":
    main()
