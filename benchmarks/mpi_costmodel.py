"""The alpha-beta model against real MPI processes on this machine.

1. Ping-pong between two ranks; fit one-way time = alpha + n / B
   (:func:`coursekit.distributed.cost.fit_latency_bandwidth`).
2. Train with :mod:`coursekit.distributed.mpi` (Gather+Bcast and Allreduce variants); predict the
   communication of a step with :func:`coursekit.distributed.cost.allreduce_time` and the fitted
   alpha, beta; print predicted vs measured.
3. The course's ring all-reduce (:func:`coursekit.distributed.mpi.ring_allreduce`) against raw
   ``comm.Allreduce`` on the same buffer; target: ratio <= 1.2.

Run without MPI; it launches itself under the venv's ``mpiexec``::

    .venv/bin/python benchmarks/mpi_costmodel.py [--procs 2] [--features 20000]

Prints one JSON line per measurement. On a shared 2-core machine the numbers are noisy: medians
are used throughout.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

RING_TARGET = 1.2


def worker(args):
    from mpi4py import MPI

    from coursekit.distributed import cost, mpi

    comm = MPI.COMM_WORLD
    rank, p = comm.Get_rank(), comm.Get_size()
    out = []

    sizes = [8 * 4**k for k in range(11)]  # 8 B .. 8 MiB
    one_way = mpi.pingpong(comm, sizes, repeats=args.repeats)
    alpha, bandwidth = cost.fit_latency_bandwidth(sizes, one_way)
    if rank == 0:
        out.append({
            "measure": "pingpong", "sizes": sizes, "seconds": one_way.tolist(),
            "latency": alpha, "bandwidth": bandwidth,
        })  # fmt: skip

    for variant, algorithm in [("gather", "naive"), ("allreduce", "ring"), ("ring", "ring")]:
        s = mpi.train(comm, variant, n_samples=4 * p * 16, n_features=args.features,
                      steps=args.steps, lr=1e-3, batch_size=16, seed=0,
                      record_losses=False)  # fmt: skip
        predicted_comm = cost.allreduce_time(s["n_bytes"], p, alpha, bandwidth, algorithm)
        predicted_step = s["compute_time_median"] + predicted_comm
        measured_step = s["compute_time_median"] + s["comm_time_median"]
        if rank == 0:
            out.append({
                "measure": "train", "variant": variant, "processes": p, "model": algorithm,
                "n_bytes": s["n_bytes"], "compute_time": s["compute_time_median"],
                "comm_time": s["comm_time_median"], "predicted_comm_time": predicted_comm,
                "step_time": measured_step, "predicted_step_time": predicted_step,
                "ratio_measured_to_predicted": measured_step / predicted_step,
                "mean_step_time": s["step_time"],
            })  # fmt: skip

    for d in [1 << 10, args.features, 1 << 17, 1 << 20]:
        buf = np.random.default_rng(rank).standard_normal(d)
        ours, raw = np.empty(d), np.empty(d)
        t_ours, t_raw = [], []
        for _ in range(args.repeats):
            comm.Barrier()
            t0 = MPI.Wtime()
            mpi.ring_allreduce(comm, buf, ours)
            t_ours.append(MPI.Wtime() - t0)
            comm.Barrier()
            t0 = MPI.Wtime()
            comm.Allreduce([buf, MPI.DOUBLE], [raw, MPI.DOUBLE], op=MPI.SUM)
            t_raw.append(MPI.Wtime() - t0)
        same = bool(np.allclose(ours, raw, rtol=1e-12, atol=1e-9))
        a, b = float(np.median(t_ours)), float(np.median(t_raw))
        if rank == 0:
            out.append({
                "measure": "ring_vs_Allreduce", "processes": p, "n_bytes": 8 * d,
                "ring_seconds": a, "allreduce_seconds": b, "ratio": a / b,
                "target": RING_TARGET, "same_result": same,
                "predicted_ring": cost.allreduce_time(8 * d, p, alpha, bandwidth, "ring"),
            })  # fmt: skip
    if rank == 0:
        for line in out:
            print(json.dumps(line), flush=True)


def main():
    parser = argparse.ArgumentParser(description="alpha-beta model vs real MPI")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--features", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    mpiexec = Path(sys.executable).parent / "mpiexec"
    cmd = [str(mpiexec), "-n", str(args.procs), sys.executable, __file__, "--worker",
           "--features", str(args.features), "--steps", str(args.steps),
           "--repeats", str(args.repeats)]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    sys.exit(subprocess.run(cmd, env=env, check=False).returncode)


if __name__ == "__main__":
    main()
