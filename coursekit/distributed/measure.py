r"""Measured speed-up of data-parallel training on real processes, against the cost model.

:func:`launch` starts ``python -m coursekit.distributed.mpi`` under ``mpiexec -n P`` and reads
its JSON lines. :func:`scaling_table` does that for several :math:`P` with the same **global**
batch :math:`m` (strong scaling: each of the :math:`P` ranks gets :math:`m / P` rows) and sets
each measured step beside the prediction of the alpha-beta model,

.. math::

    \hat T(P) = \frac{C_1}{P} + T_{\text{allreduce}}(N, P; \alpha, B),

where :math:`C_1` is the compute time of the whole batch measured with one process (its
rate on this machine), :math:`N` the gradient's bytes, and :math:`\alpha, B` come from a
ping-pong between two ranks (:func:`coursekit.distributed.cost.fit_latency_bandwidth`). The
model knows nothing about cores: with more processes than cores (``oversubscribed``) it
predicts a speed-up the machine cannot give.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from coursekit._checks import check_choice, check_int

from . import cost

__all__ = ["MODEL_OF", "mpiexec", "launch", "scaling_table"]

#: The cost model's algorithm for each variant of :mod:`coursekit.distributed.mpi` (MPICH's
#: own Allreduce on a few ranks is priced as a ring: two passes over the data).
MODEL_OF = {"gather": "naive", "allreduce": "ring", "ring": "ring"}


def mpiexec() -> Path:
    """The ``mpiexec`` next to this Python (the mpich wheel's, pinned in requirements.txt)."""
    path = Path(sys.executable).parent / "mpiexec"
    if not path.exists():
        raise FileNotFoundError(
            f"no mpiexec next to {sys.executable}: is the mpich wheel installed (requirements.txt)?"
        )
    return path


def launch(n_proc, args, timeout=600):
    """Run ``mpiexec -n n_proc python -m coursekit.distributed.mpi *args``; its JSON lines.

    Every rank runs single-threaded BLAS (``OMP_NUM_THREADS=1``), so that :math:`P`
    processes use :math:`P` cores and one process one core.

    Parameters
    ----------
    n_proc : int
        Processes :math:`P \\ge 1` (more than the cores is allowed: MPICH oversubscribes).
    args : sequence of str
        Command-line arguments of :mod:`coursekit.distributed.mpi`.
    timeout : float
        Seconds before the run is killed.

    Returns
    -------
    list of dict
        One per JSON line rank 0 printed.
    """
    n_proc = check_int(n_proc, "n_proc", 1)
    cmd = [
        str(mpiexec()),
        "-n",
        str(n_proc),
        sys.executable,
        "-m",
        "coursekit.distributed.mpi",
        *map(str, args),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(
            f"mpiexec -n {n_proc} failed (exit {out.returncode}): {out.stderr[-1500:]}"
        )
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def _check_procs(procs, global_batch, variant):
    """The process counts of :func:`scaling_table` (1 and one >= 2, each dividing the batch)."""
    procs = [check_int(p, "procs", 1) for p in procs]
    if 1 not in procs or not any(p >= 2 for p in procs):
        raise ValueError(f"procs must contain 1 and a count >= 2, got {procs}")
    global_batch = check_int(global_batch, "global_batch", 1)
    for p in procs:
        if global_batch % p:
            raise ValueError(f"procs: every count must divide global_batch={global_batch}, got {p}")
    check_choice(variant, "variant", tuple(MODEL_OF))
    return procs, global_batch


def _launch_runs(procs, global_batch, args, timeout):
    """One ``mpiexec`` run per count in ``procs`` (each with ``global_batch / P`` rows a rank);
    the smallest count >= 2 also measures the ping-pong. Returns ({P: run}, ping-pong fit)."""
    ping_p = min(p for p in procs if p >= 2)
    runs, fit = {}, None
    for p in sorted(set(procs)):
        extra = ["--batch-size", global_batch // p] + (["--pingpong"] if p == ping_p else [])
        for line in launch(p, args + extra, timeout=timeout):
            if line.get("measure") == "pingpong":
                fit = line
            else:
                runs[p] = line
    return runs, fit


def scaling_table(
    procs=(1, 2),
    *,
    global_batch=256,
    steps=20,
    variant="ring",
    model="cnn",
    dtype="float32",
    n_samples=1437,
    lr=0.05,
    cores=None,
    timeout=600,
):
    r"""Measure one training run per :math:`P` and predict each with the cost model.

    The run with :math:`P = 2` (or the smallest :math:`P \ge 2`) also measures the ping-pong
    that gives :math:`\alpha` and :math:`B`; the run with :math:`P = 1` gives :math:`C_1`.
    Times are medians over ``steps`` steps of the slowest rank (see
    :func:`coursekit.distributed.mpi.train`).

    Parameters
    ----------
    procs : sequence of int
        Must contain 1 and a value >= 2; each must divide ``global_batch``.
    global_batch : int
        :math:`m`, rows per step over all ranks.
    steps : int
        Training steps timed per run.
    variant : {"gather", "allreduce", "ring"}
    model, dtype, n_samples, lr
        As in :func:`coursekit.distributed.mpi.train`.
    cores : int, optional
        Cores of the machine (default ``os.cpu_count()``): a run with more processes is
        marked ``oversubscribed``.

    Returns
    -------
    list of dict
        One per :math:`P`: ``processes, oversubscribed, step_ms, compute_ms, comm_ms,
        predicted_step_ms, predicted_compute_ms, predicted_comm_ms, speedup`` (measured
        :math:`T(1)/T(P)`), ``predicted_speedup, model_error`` (:math:`\hat T / T - 1`),
        ``latency, bandwidth`` (the fit) and ``pingpong_sizes, pingpong_seconds`` (what it was
        fitted to), ``n_bytes, global_batch, variant, dtype``.
    """
    procs, global_batch = _check_procs(procs, global_batch, variant)
    cores = os.cpu_count() if cores is None else check_int(cores, "cores", 1)
    args = [
        "--model",
        model,
        "--dtype",
        dtype,
        "--variant",
        variant,
        "--steps",
        steps,
        "--n-samples",
        n_samples,
        "--lr",
        lr,
        "--no-losses",
    ]
    runs, fit = _launch_runs(procs, global_batch, args, timeout)
    alpha, bw = fit["latency"], fit["bandwidth"]
    c1 = runs[1]["compute_time_median"]
    t1 = runs[1]["step_time_median"]
    rows = []
    for p in procs:
        s = runs[p]
        comm_hat = cost.allreduce_time(s["n_bytes"], p, alpha, bw, MODEL_OF[variant])
        step_hat = c1 / p + comm_hat
        step = s["step_time_median"]
        rows.append({
            "processes": p,
            "oversubscribed": p > cores,
            "step_ms": 1e3 * step,
            "compute_ms": 1e3 * s["compute_time_median"],
            "comm_ms": 1e3 * s["comm_time_median"],
            "predicted_step_ms": 1e3 * step_hat,
            "predicted_compute_ms": 1e3 * c1 / p,
            "predicted_comm_ms": 1e3 * comm_hat,
            "speedup": t1 / step,
            "predicted_speedup": float(np.float64(c1) / step_hat),
            "model_error": step_hat / step - 1.0,
            "latency": alpha,
            "bandwidth": bw,
            "pingpong_sizes": fit["sizes"],
            "pingpong_seconds": fit["seconds"],
            "n_bytes": s["n_bytes"],
            "global_batch": global_batch,
            "variant": variant,
            "dtype": dtype,
            "steps": steps,
        })  # fmt: skip
    return rows
