r"""Strong scaling: one training problem on clusters of growing size, measured and predicted.

- :func:`scaling_runs`: the same training problem on clusters of growing size with a fixed
  global batch (strong scaling), each run a :class:`~coursekit.distributed.SimulationHistory`;
- :func:`time_breakdown`: the mean step of a run split into compute / wait / send / receive
  (the phases tile every worker's timeline, so the parts add up to the step time);
- :func:`predicted_step_time`: the same step from the cost model alone,
  :math:`\frac{b_{\text{global}}\, w}{p F} + T_{\text{allreduce}}(N, p)`;
  :func:`predicted_for_runs` evaluates it with the settings :func:`scaling_runs` simulated.

NumPy only; :func:`coursekit.widgets.workers_explorer` draws them (chapter 8).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coursekit._checks import is_int
from coursekit.distributed import cost
from coursekit.distributed.simulate import PHASES, Cluster, SimulationHistory, simulate

__all__ = ["scaling_runs", "time_breakdown", "predicted_step_time", "predicted_for_runs"]


def scaling_runs(
    objective,
    x0,
    worker_counts: Sequence[int],
    *,
    global_batch: int,
    steps: int = 20,
    lr: float = 0.1,
    seed: int = 0,
    algorithm: str = "ring",
    shards: int = 1,
    flops_per_sample: float | None = None,
    message_bytes: float | None = None,
    **cluster_kw,
) -> dict[int, SimulationHistory]:
    r"""Synchronous data-parallel SGD with a fixed global batch on :math:`p` workers, per ``p``.

    Each run splits the same global batch of ``global_batch`` rows into :math:`p` shards of
    ``global_batch / p`` (strong scaling), so every run computes the same iterates and only the
    clock differs.

    Parameters
    ----------
    objective : FiniteSum
    x0 : array_like, shape (d,)
    worker_counts : sequence of int
        Each must divide ``global_batch``.
    global_batch : int
        Rows per step, shared by the workers.
    steps, lr, seed, algorithm, shards, flops_per_sample, message_bytes
        As in :func:`coursekit.distributed.simulate.simulate`.
    **cluster_kw
        Passed to :class:`coursekit.distributed.Cluster` (``rates``, ``latency``,
        ``bandwidth``, ``straggler_prob``, ...), the same for every ``p``.

    Returns
    -------
    dict int -> SimulationHistory
    """
    if not is_int(global_batch):
        raise TypeError(f"global_batch must be an int, got {global_batch!r}")
    if len(worker_counts) == 0:
        raise ValueError("worker_counts: expected at least one worker count")
    runs = {}
    for p in worker_counts:
        if not is_int(p) or p < 1:
            raise ValueError(f"worker_counts: expected integers >= 1, got {p!r}")
        if global_batch % p:
            raise ValueError(
                f"worker_counts: every count must divide global_batch={global_batch}, got {p}"
            )
        cluster = Cluster(int(p), **cluster_kw)
        runs[int(p)] = simulate(
            objective, x0, strategy="sync", steps=steps, lr=lr, batch_size=global_batch // p,
            seed=seed, cluster=cluster, algorithm=algorithm, shards=shards,
            flops_per_sample=flops_per_sample, message_bytes=message_bytes,
        )  # fmt: skip
    return runs


def time_breakdown(history: SimulationHistory) -> dict[str, float]:
    r"""The mean step of a run, split into compute, wait, send and receive (``PHASES``).

    For each worker the intervals of :meth:`Timeline.intervals` (compute, wait, send, wait,
    receive) follow one another without gaps from time 0 to the moment it received its last
    parameters; a worker that finishes before the last one waits for the rest of the run. So,
    averaged over the :math:`p` workers and divided by the :math:`T` steps,

    .. math::

        t_{\text{compute}} + t_{\text{wait}} + t_{\text{send}} + t_{\text{receive}}
        = \frac{\text{wall clock}}{T}.

    Parameters
    ----------
    history : SimulationHistory
        A synchronous run (``"sync"`` or ``"backup"``) with its timeline recorded.

    Returns
    -------
    dict phase -> float
        Seconds per step, averaged over workers.
    """
    if not isinstance(history, SimulationHistory):
        raise TypeError(f"history must be a SimulationHistory, got {type(history).__name__}")
    if history.timeline is None:
        raise ValueError("history: expected a run with timeline=True (its timeline is None)")
    if history.strategy not in ("sync", "backup"):
        raise ValueError(
            f"history: expected a synchronous run ('sync' or 'backup'), got {history.strategy!r}"
        )
    steps = history.nit
    if steps == 0:
        return dict.fromkeys(PHASES, 0.0)
    totals = history.timeline.totals()
    p = history.n_workers
    end = history.wall_clock[-1]
    last = history.timeline.recv_end[-1]
    out = {ph: float(totals[ph].sum()) / (p * steps) for ph in PHASES}
    # Workers served before the last one wait for the end of the run.
    out["wait"] += float((end - last).sum()) / (p * steps)
    return out


def predicted_step_time(
    n_workers,
    *,
    global_batch: int,
    flops_per_sample: float,
    rate: float,
    n_bytes: float,
    latency: float,
    bandwidth: float,
    algorithm: str = "ring",
    shards: int = 1,
):
    r"""Step time of synchronous data parallelism from the cost model alone.

    Each of :math:`p` workers computes :math:`b/p` of the global batch :math:`b` at
    :math:`w` flops per sample and rate :math:`F`, then all of them all-reduce the
    :math:`N`-byte gradient:

    .. math::

        T(p) = \frac{b\, w}{p\, F} + T_{\text{allreduce}}(N, p; \alpha, B).

    The serial time is :math:`T_1 = b w / F` (no communication), so the speed-up is
    :math:`T_1 / T(p)`; it bends where the falling compute term meets the communication term.

    Parameters
    ----------
    n_workers : int or array_like of int
    global_batch : int
    flops_per_sample : float
    rate : float
        :math:`F` in flop/s.
    n_bytes, latency, bandwidth, algorithm, shards
        As in :func:`coursekit.distributed.cost.allreduce_time`.

    Returns
    -------
    float or ndarray
    """
    p = np.asarray(n_workers)
    compute = cost.compute_time(global_batch * flops_per_sample, rate) / p
    comm = cost.allreduce_time(n_bytes, p, latency, bandwidth, algorithm, shards)
    out = compute + comm
    return float(out) if np.ndim(out) == 0 else out


def predicted_for_runs(
    worker_counts: Sequence[int],
    x0,
    *,
    global_batch: int,
    algorithm: str = "ring",
    shards: int = 1,
    flops_per_sample: float | None = None,
    message_bytes: float | None = None,
    **cluster_kw,
) -> np.ndarray:
    r""":func:`predicted_step_time` for the runs of :func:`scaling_runs` with the same arguments.

    The model takes what the simulator used: :math:`w` = ``flops_per_sample`` (default a
    linear model's, :func:`~coursekit.distributed.cost.linear_model_flops` ``(1, d)``),
    :math:`N` = ``message_bytes`` (default the bytes of ``x0`` as float64), the slowest
    worker's rate :math:`F`, the cluster's latency and bandwidth (``**cluster_kw`` as given
    to :class:`~coursekit.distributed.Cluster`) and the parameter server's ``shards``
    :math:`k`.

    The closed form is the simulator's clock for ``"tree"``, ``"ring"`` and
    ``"parameter_server"`` when no worker straggles. For ``"naive"`` it is not: the formula
    puts the root among the :math:`p` workers, the simulator's central node is a node of its
    own (chapter 8 shows the two side by side).

    Returns
    -------
    ndarray, shape (len(worker_counts),)
        Seconds per step.
    """
    cl = Cluster(1, **cluster_kw)
    w = (
        flops_per_sample
        if flops_per_sample is not None
        else cost.linear_model_flops(1, np.asarray(x0).size)
    )
    return predicted_step_time(
        np.array(worker_counts), global_batch=global_batch, flops_per_sample=w,
        rate=float(np.min(cl.rates)),
        n_bytes=np.asarray(x0, dtype=float).nbytes if message_bytes is None else message_bytes,
        latency=cl.latency, bandwidth=cl.bandwidth, algorithm=algorithm,
        shards=shards)  # fmt: skip
