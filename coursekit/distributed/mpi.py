r"""The course's data-parallel SGD on real processes, with mpi4py.

Run it with MPI's launcher (here ``mpiexec`` is the one of the ``mpich`` wheel in the venv)::

    mpiexec -n 4 python -m coursekit.distributed.mpi --variant allreduce --steps 50
    mpiexec -n 2 python -m coursekit.distributed.mpi --model cnn --dtype float32 --variant all
    mpiexec -n 2 python -m coursekit.distributed.mpi --model cnn --offload 0 0.3 0.5 1

``--model lsq`` (default) trains least squares, ``--model cnn`` chapter 7's network on the
digits (:mod:`coursekit.distributed.cnn`); ``--offload`` runs partial offloading instead
(:func:`train_offload`).

Every rank builds the same data set and walks the same batch order
(:func:`coursekit.data.batch_indices` with the same seed); at step :math:`t` rank :math:`i`
computes the sum of the per-sample gradients of its shard :math:`S_{t,i}` of the global batch
:math:`B_t` (shards cut as :func:`coursekit.distributed.simulate.simulate` cuts them), then

- ``gather``: the central node (rank 0) ``Gather``\ s the partial sums, forms
  :math:`g_t = \frac{1}{|B_t|}\sum_i s_{t,i}`, updates :math:`x` and ``Bcast``\ s it;
- ``allreduce``: every rank gets :math:`\sum_i s_{t,i}` from ``comm.Allreduce`` and updates
  its own copy of :math:`x` (all copies stay identical);
- ``ring``: the same with the course's own ring all-reduce, :func:`ring_allreduce`
  (point-to-point ``Sendrecv``: reduce-scatter, then all-gather).

So the parameters equal those of ``simulate(..., strategy="sync")`` with the same seed, up to
rounding. Rank 0 prints one JSON line per variant: the final parameters, the loss curve, and
the measured compute and communication seconds per step (means over steps; the maximum over
ranks for compute).

Beyond one machine
------------------
The entry point is the same on a cluster; only the launcher changes::

    mpiexec -f hostfile -n 64 python -m coursekit.distributed.mpi --variant allreduce
    srun --nodes 8 --ntasks-per-node 8 python -m coursekit.distributed.mpi --variant ring

(Slurm's ``srun`` needs an MPI built with PMI support for that cluster.) Fit the cluster's
latency and bandwidth with ``benchmarks/mpi_costmodel.py`` (a ping-pong) and pass them to
:mod:`coursekit.distributed.cost` to predict its step time.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from coursekit import optimize
from coursekit._checks import check_choice
from coursekit.data import batch_indices, make_regression
from coursekit.objectives import LeastSquares

from .simulate import _shard_sizes

__all__ = [
    "VARIANTS",
    "MODELS",
    "ring_allreduce",
    "workload",
    "shard_sum",
    "train",
    "train_offload",
    "take_turns",
    "pingpong",
    "main",
]

#: Aggregation variants of :func:`train`.
VARIANTS = ("gather", "allreduce", "ring")
#: Workloads of :func:`train`: least squares, or chapter 7's CNN on digits.
MODELS = ("lsq", "cnn")


def _mpi():
    from mpi4py import MPI  # imported lazily: the rest of coursekit must not need MPI

    return MPI


def ring_allreduce(comm, sendbuf, recvbuf=None):
    r"""Sum a 1-D float buffer over all ranks with the ring algorithm (the course's version).

    Cut the vector into :math:`p` chunks. Reduce-scatter: in step :math:`s` rank :math:`r`
    sends chunk :math:`(r - s) \bmod p` to rank :math:`r+1` and adds the chunk
    :math:`(r - s - 1) \bmod p` it receives from rank :math:`r-1`; after :math:`p-1` steps it
    owns the complete chunk :math:`(r+1) \bmod p`. All-gather: in step :math:`s` it forwards
    chunk :math:`(r + 1 - s) \bmod p` and stores the chunk :math:`(r - s) \bmod p` it receives.
    Cost :math:`2(p-1)\alpha + 2\frac{p-1}{p}\frac{N}{B}`
    (:func:`coursekit.distributed.cost.allreduce_time`).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
    sendbuf : ndarray, shape (d,), float32 or float64
    recvbuf : ndarray, shape (d,), same dtype, optional
        Where the sum goes (allocated if None; may not alias ``sendbuf``).

    Returns
    -------
    ndarray, shape (d,)
        ``recvbuf``.
    """
    MPI = _mpi()
    send = np.ascontiguousarray(sendbuf)
    if send.dtype not in (np.float32, np.float64):
        send = send.astype(np.float64)
    if send.ndim != 1:
        raise ValueError(f"sendbuf must be 1-D, got shape {send.shape}")
    acc = np.empty_like(send) if recvbuf is None else recvbuf
    if acc.shape != send.shape or acc.dtype != send.dtype:
        raise ValueError(
            f"recvbuf must have shape {send.shape} and dtype {send.dtype}, got "
            f"{acc.shape} {acc.dtype}"
        )
    kind = MPI.DOUBLE if send.dtype == np.float64 else MPI.FLOAT
    p, r = comm.Get_size(), comm.Get_rank()
    if p == 1:
        acc[:] = send
        return acc
    d = send.size
    sizes = np.full(p, d // p)
    sizes[: d % p] += 1
    cut = np.concatenate([[0], np.cumsum(sizes)])
    tmp = np.empty(int(sizes.max()), dtype=send.dtype)
    right, left = (r + 1) % p, (r - 1) % p
    # No initial copy of sendbuf into acc: every chunk of acc is written exactly when it is
    # first needed (own data + received partial sum in the reduce-scatter, then the all-gather
    # overwrites chunk r), which saves a pass over the buffer.
    for s in range(p - 1):
        out_c, in_c = (r - s) % p, (r - s - 1) % p
        n_in = int(sizes[in_c])
        src = send if s == 0 else acc  # step 0 forwards raw data, later steps partial sums
        comm.Sendrecv(
            [src[cut[out_c] : cut[out_c + 1]], kind], right, 0,
            [tmp[:n_in], kind], left, 0,
        )  # fmt: skip
        lo, hi = cut[in_c], cut[in_c + 1]
        np.add(send[lo:hi], tmp[:n_in], out=acc[lo:hi])
    for s in range(p - 1):
        out_c, in_c = (r + 1 - s) % p, (r - s) % p
        comm.Sendrecv(
            [acc[cut[out_c] : cut[out_c + 1]], kind], right, 1,
            [acc[cut[in_c] : cut[in_c + 1]], kind], left, 1,
        )  # fmt: skip
    return acc


def workload(
    model="lsq", dtype="float64", n_samples=256, n_features=5, noise=0.1, data_seed=0, init_seed=0
):
    r"""The objective every rank trains, and its starting point: the same on every rank.

    - ``"lsq"``: ``make_regression(n_samples, n_features, noise, seed=data_seed)`` and
      :class:`~coursekit.objectives.LeastSquares`, :math:`x_0 = 0` (float64 only);
    - ``"cnn"``: chapter 7's network on the digits training split
      (:func:`coursekit.distributed.cnn.digits_cnn`, the first ``n_samples`` images, at most
      1437), He-initialised with ``init_seed``, computing in ``dtype``.

    Returns
    -------
    objective : LeastSquares or FlatCNN
    x0 : ndarray, shape (d,), in the computation's dtype
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(map(repr, MODELS))}; got {model!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if model == "lsq":
        if dtype != np.float64:
            raise ValueError(
                "dtype: the least-squares model computes in float64 only; "
                "float32 is for --model cnn"
            )
        X, y, _ = make_regression(n_samples, n_features, noise=noise, seed=data_seed)
        f = LeastSquares(X, y)
        return f, np.zeros(f.dim)
    from .cnn import digits_cnn

    f, _ = digits_cnn(dtype, seed=init_seed, n_train=min(n_samples, 1437))
    return f, f.x0.copy()


def shard_sum(objective, x, idx):
    r""":math:`\sum_{i \in S} \nabla f_i(x)` for the rows ``idx`` of a shard :math:`S`.

    One call of ``sample_grads`` (least squares: all per-sample gradients, summed) or of the
    network's batched backward pass (``FlatCNN.shard_sum``: :math:`|S| \nabla f_S(x)`);
    zeros for an empty shard.
    """
    if idx.size == 0:
        return np.zeros_like(x)
    if hasattr(objective, "shard_sum"):
        return objective.shard_sum(x, idx)
    return objective.sample_grads(x, idx).sum(axis=0)


def train(
    comm,
    variant="allreduce",
    n_samples=256,
    n_features=5,
    noise=0.1,
    steps=20,
    lr=0.1,
    batch_size=8,
    seed=0,
    data_seed=0,
    rule=None,
    record_losses=True,
    model="lsq",
    dtype="float64",
    init_seed=0,
):
    r"""Synchronous data-parallel SGD over the ranks of ``comm``, on least squares or the CNN.

    The objective is :func:`workload` ``(model, dtype, ...)``; the global batch of
    :math:`p \cdot` ``batch_size`` rows comes from ``batch_indices(n, p * batch_size, seed)``
    and is cut into :math:`p` shards as the simulator cuts it. Each rank computes
    :func:`shard_sum` of its shard, the ranks aggregate, and every copy of :math:`x` takes
    the step :math:`x \leftarrow \mathrm{rule}(x, \frac{1}{|B_t|}\sum_i s_{t,i}, \eta)`.
    Messages carry the computation's dtype (``MPI.FLOAT`` for float32, ``MPI.DOUBLE``).

    ``record_losses=False`` skips rank 0's full-loss evaluation (so that ``step_time`` is
    compute + communication only, as a benchmark wants).

    Returns
    -------
    dict
        ``variant, model, dtype, processes, steps, x (list), losses (list, rank 0's f(x_t),
        t = 0..T), compute_time, comm_time`` (seconds per step: the slowest rank's time in
        each step, averaged over steps; ``*_median``: the median over steps, robust on a
        shared machine; ``step_time_median``: of compute + communication, step by step),
        ``step_time`` (wall time / steps, with the loss evaluations), ``n_bytes`` (of the
        gradient).
        Identical on all ranks except the loss curve, which only rank 0 evaluates (None
        elsewhere).
    """
    MPI = _mpi()
    variant = check_choice(variant, "variant", VARIANTS)
    p, rank = comm.Get_size(), comm.Get_rank()
    f, x = workload(model, dtype, n_samples, n_features, noise, data_seed, init_seed)
    if p * batch_size > f.n_samples:
        raise ValueError(
            f"batch_size * processes must be <= n_samples ({p} * {batch_size} > {f.n_samples})"
        )
    rule = optimize.get_rule(rule)
    state = rule.init(x)
    batches = batch_indices(f.n_samples, p * batch_size, seed=seed)
    # Receive buffers, allocated once: the total (allreduce, ring), rank 0's gather.
    buffers = np.empty_like(x), np.empty((p, x.size), x.dtype) if rank == 0 else None
    record = record_losses and rank == 0
    losses = [f.value(x)] if record else None
    # Per-step seconds on this rank: compute, communication (waits included), the two together.
    times = np.zeros((3, steps))
    comm.Barrier()
    t_start = MPI.Wtime()
    for t in range(steps):
        _, idx = next(batches)
        sizes = _shard_sizes(idx.size, p, None)
        lo = int(sizes[:rank].sum())
        t0 = MPI.Wtime()
        local = np.ascontiguousarray(shard_sum(f, x, idx[lo : lo + sizes[rank]]), x.dtype)
        t1 = MPI.Wtime()
        x = _aggregate_and_step(comm, variant, local, x, idx.size, rule, lr, state, buffers)
        t2 = MPI.Wtime()
        times[:, t] = t1 - t0, t2 - t1, t2 - t0
        if record:
            losses.append(f.value(x))  # outside compute/comm, but inside step_time
    t_total = MPI.Wtime() - t_start
    slowest, median = _slowest_rank(comm, times)
    return dict(
        variant=variant,
        model=model,
        dtype=str(np.dtype(dtype)),
        processes=p,
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        x=x.tolist(),
        losses=losses,
        compute_time=float(slowest[0].mean()) if steps else 0.0,
        comm_time=float(slowest[1].mean()) if steps else 0.0,
        step_time=t_total / max(steps, 1),
        compute_time_median=float(median[0]),
        comm_time_median=float(median[1]),
        step_time_median=float(median[2]),
        n_bytes=x.size * x.itemsize,
    )


def _aggregate_and_step(comm, variant, local, x, n_rows, rule, lr, state, buffers):
    """Sum the ranks' shard sums ``local`` by ``variant`` and take the step on every rank.

    ``"gather"``: rank 0 gathers the sums, steps and broadcasts :math:`x`; ``"allreduce"`` /
    ``"ring"``: every rank receives the total and takes the same step on its own copy.
    ``buffers`` = (total, gathered) receive the sums. Returns the new parameters (in ``x``'s
    dtype) on every rank.
    """
    MPI = _mpi()
    total, gathered = buffers
    if variant == "gather":
        comm.Gather(local, gathered, root=0)
        if comm.Get_rank() == 0:
            x = rule.update(x, gathered.sum(axis=0) / n_rows, lr, state).astype(x.dtype)
        comm.Bcast(x, root=0)
        return x
    if variant == "allreduce":
        comm.Allreduce(local, total, op=MPI.SUM)
    else:
        ring_allreduce(comm, local, total)
    return rule.update(x, total / n_rows, lr, state).astype(x.dtype, copy=False)


def _slowest_rank(comm, times):
    """The slowest rank sets the pace of a synchronous step: ``times`` (rows of per-step
    seconds on this rank) maxed over ranks, step by step, and each row's median over steps."""
    MPI = _mpi()
    slowest = np.empty_like(times)
    comm.Allreduce(times, slowest, op=MPI.MAX)
    median = np.median(slowest, axis=1) if times.shape[1] else np.zeros(times.shape[0])
    return slowest, median


def train_offload(
    comm,
    keeps,
    n_samples=256,
    n_features=5,
    noise=0.1,
    steps=20,
    lr=0.1,
    batch_size=64,
    seed=0,
    data_seed=0,
    rule=None,
    model="lsq",
    dtype="float64",
    init_seed=0,
):
    r"""Partial offloading on real processes: rank 0 keeps :math:`\lambda` of each batch, the
    helpers share the rest, for several values of :math:`\lambda` taking turns.

    The scheme of chapter 9 with resident data (every rank holds the data set and walks the
    same batch order, so only indices are implicit and only vectors travel). Step :math:`t`,
    with the :math:`\lambda` whose turn it is:

    1. rank 0 broadcasts :math:`x_t` (the parameter download, :math:`N` bytes);
    2. rank 0 computes the shard sum of its :math:`n_0 \approx \lambda m` rows; the
       :math:`k = p - 1` helpers split the other rows equally
       (:func:`~coursekit.distributed.offload.integer_split`) and compute theirs meanwhile;
    3. the sums are reduced onto rank 0 (the upload), which steps
       :math:`x_{t+1} = \mathrm{rule}(x_t, \frac1m \sum_j s_{t,j}, \eta)`.

    The values in ``keeps`` take turns step by step: ``steps`` rounds, each giving every value
    one step, round :math:`r` starting at the value :math:`r \bmod K`. Whatever else the
    machine does meanwhile (another process, a busy core) then falls on every
    :math:`\lambda` alike, where running each value's steps in one block would hand it to
    whichever value was running at the time. A split changes the clock, never the iterates:
    the run trains as one process with batches of :math:`m` = ``batch_size`` would, for
    ``steps * K`` steps, and the step time of each :math:`\lambda` is what the cost model's
    :math:`T(\lambda) = \max\bigl(\lambda a,\ c + \frac{1-\lambda}{k} a\bigr)` predicts.

    Parameters
    ----------
    comm : mpi4py communicator
        :math:`p \ge 2` processes: rank 0 and :math:`k = p - 1` helpers.
    keeps : sequence of float
        The fractions :math:`\lambda \in [0, 1]` kept by rank 0, :math:`K` of them.
    steps : int
        Rounds, i.e. timed steps per value of :math:`\lambda`.

    Other parameters are those of :func:`train`, except that ``batch_size`` is the whole
    batch :math:`m`, not one process's share.

    Returns
    -------
    list of dict
        One per value of ``keeps``, in their order: ``variant`` ("offload"), ``keep``
        (:math:`\lambda`), ``counts`` (rows of each rank in a step), ``processes, steps`` (per
        value), ``x`` (the final parameters, the same in every dict), ``model, dtype,
        n_bytes``, and medians over that value's steps of ``step_time_median`` (rank 0,
        broadcast to update), ``local_time_median`` (rank 0's compute),
        ``helper_time_median`` (the slowest helper's compute).
    """
    MPI = _mpi()
    p, rank = comm.Get_size(), comm.Get_rank()
    keeps = _check_offload(p, keeps)
    f, x = workload(model, dtype, n_samples, n_features, noise, data_seed, init_seed)
    if batch_size > f.n_samples:
        raise ValueError(f"batch_size must be <= n_samples ({batch_size} > {f.n_samples})")
    from .offload import integer_split

    n_keeps, k = len(keeps), p - 1
    rule = optimize.get_rule(rule)
    state = rule.init(x)
    batches = batch_indices(f.n_samples, batch_size, seed=seed)
    total = np.empty_like(x)
    # Per value of lambda and round: step (rank 0), own compute, helpers' compute (max later).
    times = np.zeros((n_keeps, 3, steps))
    counts = [np.zeros(p, dtype=int)] * n_keeps
    comm.Barrier()
    for rnd, i in take_turns(steps, n_keeps):
        _, idx = next(batches)
        counts[i] = integer_split(np.r_[keeps[i], np.full(k, (1 - keeps[i]) / k)], idx.size)
        lo = int(counts[i][:rank].sum())
        t0 = MPI.Wtime()
        comm.Bcast(x, root=0)
        t1 = MPI.Wtime()
        local = np.ascontiguousarray(shard_sum(f, x, idx[lo : lo + counts[i][rank]]), x.dtype)
        t2 = MPI.Wtime()
        comm.Reduce(local, total if rank == 0 else None, op=MPI.SUM, root=0)
        if rank == 0:
            x = rule.update(x, total / idx.size, lr, state).astype(x.dtype, copy=False)
        times[i, :, rnd] = (
            MPI.Wtime() - t0,
            (t2 - t1) if rank == 0 else 0.0,
            (t2 - t1) if rank > 0 else 0.0,
        )
    comm.Bcast(x, root=0)
    summaries = []
    for keep, counts_i, times_i in zip(keeps, counts, times, strict=True):
        _, median = _slowest_rank(comm, times_i)
        summaries.append(
            dict(
                variant="offload",
                keep=keep,
                counts=counts_i.tolist(),
                model=model,
                dtype=str(np.dtype(dtype)),
                processes=p,
                steps=steps,
                batch_size=batch_size,
                x=x.tolist(),
                step_time_median=float(median[0]),
                local_time_median=float(median[1]),
                helper_time_median=float(median[2]),
                n_bytes=x.size * x.itemsize,
            )
        )
    return summaries


def take_turns(rounds: int, n_values: int):
    """The (round, value) of each step when ``n_values`` values take turns for ``rounds``
    rounds: every round gives each value one step, and round :math:`r` starts at value
    :math:`r \bmod K` (:math:`K` = ``n_values``), so that no value always runs right after the
    same other one.

    >>> list(take_turns(2, 3))
    [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (1, 0)]
    """
    for rnd in range(rounds):
        for j in range(n_values):
            yield rnd, (rnd + j) % n_values


def _check_offload(p: int, keeps) -> tuple[float, ...]:
    """``keeps`` as a non-empty tuple of floats in [0, 1], with at least one helper beside
    rank 0."""
    if p < 2:
        raise ValueError("train_offload needs at least 2 processes (rank 0 and a helper)")
    keeps = tuple(float(keep) for keep in np.atleast_1d(keeps))
    if not keeps:
        raise ValueError("keeps must hold at least one fraction lambda, got none")
    for keep in keeps:
        if not 0.0 <= keep <= 1.0:
            raise ValueError(f"keeps: every fraction must lie in [0, 1], got {keep}")
    return keeps


def pingpong(comm, sizes, repeats=20, statistic="median"):
    r"""One-way message times between ranks 0 and 1 (half the round trip), for an alpha-beta fit.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        At least two ranks; ranks other than 0 and 1 only wait.
    sizes : sequence of int
        Message sizes in bytes.
    repeats : int
        Round trips per size.
    statistic : {"median", "min"}
        What is kept of the ``repeats`` times: the median (robust to a few disturbed round
        trips) or the minimum (the least disturbed one: on a machine so loaded that most
        round trips wait for a core, the median measures the scheduler, not the link).

    Returns
    -------
    ndarray, shape (len(sizes),)
        Seconds per one-way message (meaningful on rank 0).
    """
    MPI = _mpi()
    if statistic not in ("median", "min"):
        raise ValueError(f"statistic must be 'median' or 'min', got {statistic!r}")
    rank = comm.Get_rank()
    out = np.zeros(len(sizes))
    for j, n in enumerate(sizes):
        buf = np.zeros(max(int(n), 1), dtype=np.uint8)[: int(n)]
        times = []
        for _ in range(repeats + 1):  # the first round trip warms the path up
            comm.Barrier()
            t0 = MPI.Wtime()
            if rank == 0:
                comm.Send([buf, MPI.BYTE], 1, 7)
                comm.Recv([buf, MPI.BYTE], 1, 7)
            elif rank == 1:
                comm.Recv([buf, MPI.BYTE], 0, 7)
                comm.Send([buf, MPI.BYTE], 0, 7)
            times.append((MPI.Wtime() - t0) / 2)
        out[j] = np.median(times[1:]) if statistic == "median" else np.min(times[1:])
    return out


def main(argv=None):
    """Command line: parse, train with each requested variant, rank 0 prints JSON lines."""
    # Long on purpose: the argument parser declares every option in one place (one
    # add_argument each, with its help text); the work itself is the few lines at the end
    # that call train/train_offload per variant.
    parser = argparse.ArgumentParser(
        prog="python -m coursekit.distributed.mpi",
        description="Synchronous data-parallel SGD on least squares or chapter 7's CNN with MPI "
        "(run under mpiexec).",
    )
    parser.add_argument(
        "--model",
        default="lsq",
        choices=MODELS,
        help="lsq: least squares; cnn: chapter 7's CNN on digits",
    )
    parser.add_argument(
        "--dtype",
        default="float64",
        choices=["float32", "float64"],
        help="of parameters, gradients and messages (float32: --model cnn)",
    )
    parser.add_argument("--init-seed", type=int, default=0, help="the CNN's initial weights")
    parser.add_argument("--variant", default="allreduce", choices=[*VARIANTS, "all"])
    parser.add_argument(
        "--n-samples",
        type=int,
        default=256,
        help="rows of the data set (cnn: the first n training images, <= 1437)",
    )
    parser.add_argument("--n-features", type=int, default=5)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=8, help="samples per process per step")
    parser.add_argument("--seed", type=int, default=0, help="batch order")
    parser.add_argument("--data-seed", type=int, default=0, help="the synthetic data set")
    parser.add_argument("--rule", default=None, help="update rule name (default plain SGD)")
    parser.add_argument(
        "--no-losses", action="store_true", help="skip rank 0's full-loss evaluation (timings only)"
    )
    parser.add_argument(
        "--pingpong",
        action="store_true",
        help="first print a ping-pong between ranks 0 and 1 (fastest of 20 "
        "round trips per size) and its alpha-beta fit",
    )
    parser.add_argument(
        "--offload",
        type=float,
        nargs="+",
        default=None,
        metavar="LAMBDA",
        help="partial offloading instead: rank 0 keeps each fraction LAMBDA of "
        "the batch (--batch-size: the whole batch), ranks 1.. do the rest; the values take "
        "turns step by step, --steps steps each",
    )
    args = parser.parse_args(argv)
    if args.model == "lsq" and args.dtype != "float64":
        parser.error("--dtype float32 needs --model cnn (least squares computes in float64)")
    comm = _mpi().COMM_WORLD
    if args.pingpong and comm.Get_size() >= 2:
        from .cost import fit_latency_bandwidth

        sizes = [8 * 4**k for k in range(10)]  # 8 B .. 2 MiB
        seconds = pingpong(comm, sizes, statistic="min")
        if comm.Get_rank() == 0:
            latency, bandwidth = fit_latency_bandwidth(sizes, seconds)
            print(
                json.dumps(
                    {
                        "measure": "pingpong",
                        "sizes": sizes,
                        "seconds": seconds.tolist(),
                        "latency": latency,
                        "bandwidth": bandwidth,
                    }
                ),
                flush=True,
            )
    if args.offload is not None:
        if comm.Get_size() < 2:
            parser.error("--offload needs at least 2 processes (mpiexec -n 2 or more)")
        summaries = train_offload(
            comm, args.offload, args.n_samples, args.n_features, args.noise, args.steps,
            args.lr, args.batch_size, args.seed, args.data_seed, args.rule, model=args.model,
            dtype=args.dtype, init_seed=args.init_seed,
        )  # fmt: skip
        if comm.Get_rank() == 0:
            for summary in summaries:
                print(json.dumps(summary), flush=True)
        return 0
    variants = VARIANTS if args.variant == "all" else (args.variant,)
    for v in variants:
        summary = train(
            comm, v, args.n_samples, args.n_features, args.noise, args.steps, args.lr,
            args.batch_size, args.seed, args.data_seed, args.rule, model=args.model,
            dtype=args.dtype, init_seed=args.init_seed, record_losses=not args.no_losses,
        )  # fmt: skip
        if comm.Get_rank() == 0:
            print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
