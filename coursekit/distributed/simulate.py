r"""A simulated cluster that really trains: one central node, :math:`p` workers, a clock.

The scheme of the course: the central node cuts each mini-batch into shards and hands them to
the workers; each worker computes the gradient of its shard; the central node aggregates the
gradients into the global gradient, updates the parameters and sends them back. This module
runs that scheme on a real objective (anything with ``value(x)`` and ``grad(x, idx)``, the
:class:`coursekit.objectives.FiniteSum` interface: least squares, logistic regression, a CNN
wrapped the same way), so the losses are real, and advances a *simulated* clock with the
alpha-beta cost model of :mod:`coursekit.distributed.cost`.

Strategies (``strategy=``)
--------------------------
``"sync"``
    Synchronous data-parallel SGD. Step :math:`t` takes the global batch :math:`B_t` of
    :math:`p b` rows from :func:`coursekit.data.batch_indices` (the course's one batch order),
    worker :math:`i` gets the :math:`i`-th shard :math:`S_{t,i}` and

    .. math::

        g_t = \sum_i \frac{|S_{t,i}|}{|B_t|} \nabla f_{S_{t,i}}(x_t)
            = \nabla f_{B_t}(x_t), \qquad x_{t+1} = \mathrm{rule}(x_t, g_t, \eta_t),

    exactly the iterates of single-node mini-batch SGD with the union batch.
``"backup"``
    Synchronous with :math:`b` backup workers (Chen et al., 2016): the central node uses the
    first :math:`p - b` gradients to arrive and cancels the rest, so a straggler never holds
    up a step. The gradient is the mean over the shards that arrived.
``"async"``
    Asynchronous SGD (parameter-server style; Dean et al., 2012): each worker
    computes on the parameters it last received, and the central node applies every gradient
    as it arrives, :math:`x_{t+1} = x_t - \eta\, \nabla f_{B}(x_{t - \tau_t})` with staleness
    :math:`\tau_t` = updates applied since that worker's copy was sent. One step = one update.
    The central node receives one gradient at a time (first come, first served) and sends the
    new parameters back to that worker only (``algorithm="naive"``).
``"local_sgd"``
    Local SGD (Stich, 2019): each worker takes ``period`` :math:`H` steps on its own shards
    with its own copy, then the copies are averaged (weighted by the samples each processed).
    With :math:`H = 1` this is ``"sync"`` with the plain rule. With another rule each worker
    keeps its own rule state (momentum, Adam moments) across averages.

Communication (``algorithm=``): ``"naive"`` (the dedicated central node gathers and
broadcasts; it receives the gradients in the order they arrive, one at a time, so fast workers
send while slow ones still compute), ``"parameter_server"`` (``shards`` servers),
``"tree"`` and ``"ring"`` all-reduce (every worker waits for the slowest, then the collective
runs). Costs are those of :func:`coursekit.distributed.cost.allreduce_time`; a dedicated
central node with :math:`p` workers is the ``"naive"`` formula with :math:`p + 1` nodes,
:math:`2p(\alpha + N/B)`.

Compression (``compression=``, with ``"naive"`` or ``"parameter_server"``): ``"topk"`` sends
the :math:`k` largest-magnitude entries of :math:`g_i + e_i` and keeps the rest in the
worker's error memory :math:`e_i` (error feedback; Stich, Cordonnier & Jaggi, 2018);
``"quantize"`` sends QSGD's unbiased stochastic quantisation with :math:`s` levels (Alistarh et
al., 2017); both live in :mod:`coursekit.distributed.compression`. The bytes they save are what
the clock and ``bytes_sent`` account.

Any workload
------------
The simulator only calls ``objective.n_samples``, ``value(x)``, ``grad(x, idx)`` (and
``sample_grads`` if it exists) on a flat parameter vector, so a model such as the course's
CNN runs once wrapped in an object with those three members; pass its cost per sample as
``flops_per_sample`` so that the clock knows how heavy a gradient is.

The clock
---------
Worker :math:`i` computes a shard of :math:`n` samples in
:math:`n \cdot w / F_i \cdot M_{t,i}` seconds (:math:`w` flops per sample, rate :math:`F_i`,
straggler factor :math:`M_{t,i}` drawn from ``Cluster``'s seeded model); a message of
:math:`N` bytes takes :math:`\alpha + N/B`. A worker starts its next computation as soon as it
has the new parameters. The clock is vectorised over workers (one NumPy pass a step), which
is what lets 1024 workers x 1000 steps run in seconds.

The code
--------
:func:`simulate` checks its arguments once into a ``_Setup`` (the cluster, the resolved rule and
schedule, shard weights, message sizes, the seeded clock and quantiser streams), then hands it
to one runner per strategy (``_run_sync`` for ``"sync"`` and ``"backup"``,
``_run_local_sgd``, ``_run_async``). Every runner fills a ``_Record``, which applies
:mod:`coursekit.optimize`'s divergence test and builds the :class:`SimulationHistory`.

References
----------
- J. Chen, X. Pan, R. Monga, S. Bengio, R. Jozefowicz, "Revisiting distributed synchronous SGD",
  arXiv:1604.00981, 2016 (backup workers).
- J. Dean et al., "Large scale distributed deep networks", NeurIPS 2012 (asynchronous SGD).
- S. U. Stich, "Local SGD converges fast and communicates little", ICLR 2019.
- S. U. Stich, J.-B. Cordonnier, M. Jaggi, "Sparsified SGD with memory", NeurIPS 2018.
- D. Alistarh et al., "QSGD: communication-efficient SGD via gradient quantization and
  encoding", NeurIPS 2017.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from coursekit import optimize
from coursekit._checks import check_choice, check_int, check_positive_array, check_real, is_int
from coursekit.data import batch_indices

from . import cost, offload
from .compression import COMPRESSIONS, Compressor, compress, compressed_bytes

__all__ = [
    "STRATEGIES",
    "COMPRESSIONS",
    "PHASES",
    "Cluster",
    "Timeline",
    "SimulationHistory",
    "simulate",
    "compress",
    "compressed_bytes",
]

#: Training strategies of :func:`simulate`.
STRATEGIES = ("sync", "backup", "async", "local_sgd")
#: The phases of a worker's timeline, in the order they happen within a step.
PHASES = ("compute", "wait", "send", "receive")


# =========================================================================== the cluster
@dataclass
class Cluster:
    r"""The machines: :math:`p` workers, their speeds, the network and the stragglers.

    Parameters
    ----------
    n_workers : int
        :math:`p \ge 1`.
    rates : float or array_like, shape (p,)
        Worker speeds :math:`F_i` in flop/s.
    latency : float
        :math:`\alpha \ge 0` seconds per message.
    bandwidth : float
        :math:`B > 0` bytes/s (``inf`` allowed).
    straggler_prob : float
        Probability :math:`q \in [0, 1]` that a worker is slow in a given step.
    straggler_slowdown : float
        :math:`s \ge 1`, how much slower a straggler is.
    jitter : float
        :math:`\sigma \ge 0` of a mean-one log-normal factor on every compute time.

    Notes
    -----
    The straggler factor of worker :math:`i` in step :math:`t` is

    .. math::

        M_{t,i} = e^{\sigma z_{t,i} - \sigma^2/2}\,\bigl(1 + (s - 1)\,\mathbb 1[u_{t,i} < q]\bigr),
        \quad z \sim \mathcal N(0, 1),\ u \sim \mathcal U(0, 1),

    drawn from a generator seeded by the simulation's seed (independent of the batch order).
    """

    n_workers: int = 4
    rates: float | np.ndarray = 1e9
    latency: float = 1e-5
    bandwidth: float = 1.25e9
    straggler_prob: float = 0.0
    straggler_slowdown: float = 10.0
    jitter: float = 0.0

    def __post_init__(self):
        self.n_workers = check_int(self.n_workers, "n_workers", minimum=1)
        self.rates = check_positive_array(self.rates, "rates", length=self.n_workers)
        self.latency = check_real(self.latency, "latency", minimum=0.0)
        self.bandwidth = check_real(
            self.bandwidth, "bandwidth", minimum=0.0, strict=True, allow_inf=True
        )
        self.straggler_prob = check_real(self.straggler_prob, "straggler_prob", minimum=0.0)
        if self.straggler_prob > 1:
            raise ValueError(f"straggler_prob must lie in [0, 1], got {self.straggler_prob}")
        self.straggler_slowdown = check_real(
            self.straggler_slowdown, "straggler_slowdown", minimum=1.0
        )
        self.jitter = check_real(self.jitter, "jitter", minimum=0.0)

    def slowdowns(self, rng: np.random.Generator, size) -> np.ndarray:
        """Straggler factors :math:`M` of the given ``size`` (see Notes)."""
        m = np.ones(size)
        if self.jitter > 0:
            m *= np.exp(self.jitter * rng.standard_normal(size) - 0.5 * self.jitter**2)
        if self.straggler_prob > 0:
            m *= np.where(rng.random(size) < self.straggler_prob, self.straggler_slowdown, 1.0)
        return m

    def message_time(self, n_bytes) -> float:
        r""":math:`\alpha + N / B` for one message."""
        return cost.message_time(n_bytes, self.latency, self.bandwidth)


# =========================================================================== results
@dataclass
class Timeline:
    r"""Per-worker timeline of a simulation, for Gantt charts.

    Six arrays of shape ``(steps, p)``: for step :math:`t` and worker :math:`i`, the worker
    computes in ``[compute_start, compute_end]``, sends its contribution in
    ``[send_start, send_end]`` and receives the result in ``[recv_start, recv_end]``; the gaps
    between are waits. ``NaN`` marks a worker that did nothing in that step (in ``"async"``
    one step is one worker's update). A cancelled backup worker has an empty send.
    For a ring or tree all-reduce, "send" is the reduce half (contributions travel) and
    "receive" the broadcast half (the result travels), though both directions are busy.
    """

    compute_start: np.ndarray
    compute_end: np.ndarray
    send_start: np.ndarray
    send_end: np.ndarray
    recv_start: np.ndarray
    recv_end: np.ndarray

    def intervals(self, steps=None, workers=None) -> dict:
        """Flat list of intervals (including the waits), ready for ``broken_barh`` / Gantt.

        Parameters
        ----------
        steps : slice or array_like of int, optional
            Rows to include (default all).
        workers : array_like of int, optional
            Workers to include (default all).

        Returns
        -------
        dict of ndarrays, each shape (m,)
            ``"worker"``, ``"step"``, ``"phase"`` (one of :data:`PHASES`), ``"start"``,
            ``"end"``; zero-length intervals are left out.
        """
        rows = np.arange(self.compute_start.shape[0])
        rows = rows[steps] if isinstance(steps, slice) else (rows if steps is None else steps)
        cols = np.arange(self.compute_start.shape[1]) if workers is None else workers
        rows, cols = np.asarray(rows), np.asarray(cols)

        def pick(a):
            return a[np.ix_(rows, cols)]

        compute_start, compute_end = pick(self.compute_start), pick(self.compute_end)
        send_start, send_end = pick(self.send_start), pick(self.send_end)
        recv_start, recv_end = pick(self.recv_start), pick(self.recv_end)
        pieces = [
            ("compute", compute_start, compute_end),
            ("wait", compute_end, send_start),
            ("send", send_start, send_end),
            ("wait", send_end, recv_start),
            ("receive", recv_start, recv_end),
        ]
        out = {"worker": [], "step": [], "phase": [], "start": [], "end": []}
        step_grid, worker_grid = np.meshgrid(rows, cols, indexing="ij")
        for name, a, b in pieces:
            keep = np.isfinite(a) & np.isfinite(b) & (b > a)
            out["worker"].append(worker_grid[keep])
            out["step"].append(step_grid[keep])
            out["phase"].append(np.full(int(keep.sum()), name, dtype=object))
            out["start"].append(a[keep])
            out["end"].append(b[keep])
        return {k: np.concatenate(v) for k, v in out.items()}

    def totals(self) -> dict:
        """Seconds each worker spent per phase, ``{phase: ndarray (p,)}``."""
        d = self.intervals()
        p = self.compute_start.shape[1]
        return {
            ph: np.bincount(
                d["worker"][d["phase"] == ph],
                weights=(d["end"] - d["start"])[d["phase"] == ph],
                minlength=p,
            )
            for ph in PHASES
        }


@dataclass
class SimulationHistory:
    r"""What :func:`simulate` returns: plain arrays, one row per step.

    Attributes
    ----------
    x : ndarray, shape (d,)
        Final parameters (last finite iterate if the run diverged).
    losses : ndarray, shape (T + 1,)
        Full objective :math:`f(x_t)`, :math:`t = 0..T`.
    wall_clock : ndarray, shape (T + 1,)
        Simulated seconds at which :math:`x_t` exists (0 for :math:`x_0`).
    params : ndarray, shape (T + 1, d) or None
        :math:`x_0, \dots, x_T` (``record_params=False`` leaves it None).
    bytes_sent : ndarray, shape (T,)
        Bytes on the network in each step (all messages).
    comm_time : ndarray, shape (T,)
        Seconds of communication of each step (from the first message to the last).
    staleness : ndarray of int, shape (T,)
        Updates between a gradient's parameters and its application (``"async"``; else 0).
    samples : ndarray of int, shape (T,)
        Samples whose gradients entered each update.
    timeline : Timeline or None
    serial_time : float
        Seconds one node at the fastest worker's speed needs for the same samples with no
        communication: the reference of :attr:`speedup`.
    strategy, algorithm : str
    n_workers : int
    converged : bool
        False if the run diverged.
    message : str
    """

    x: np.ndarray
    losses: np.ndarray
    wall_clock: np.ndarray
    params: np.ndarray | None
    bytes_sent: np.ndarray
    comm_time: np.ndarray
    staleness: np.ndarray
    samples: np.ndarray
    timeline: Timeline | None
    serial_time: float
    strategy: str
    algorithm: str
    n_workers: int
    converged: bool = True
    message: str = ""

    @property
    def nit(self) -> int:
        """Number of steps run."""
        return int(self.losses.size - 1)

    @property
    def speedup(self) -> float:
        r"""``serial_time / wall_clock[-1]``: how much faster than one node alone."""
        return self.serial_time / self.wall_clock[-1] if self.wall_clock[-1] > 0 else math.inf

    @property
    def total_bytes(self) -> float:
        """All bytes sent during the run."""
        return float(self.bytes_sent.sum())

    def time_to_loss(self, target: float) -> float:
        r"""First simulated time at which :math:`f(x_t) \le` ``target`` (``inf`` if never).

        The figure of merit when strategies trade statistical efficiency (loss per step)
        against hardware efficiency (time per step).
        """
        hit = np.flatnonzero(self.losses <= target)
        return float(self.wall_clock[hit[0]]) if hit.size else math.inf


# =========================================================================== shards and network
def _shard_sizes(total: int, p: int, weights) -> np.ndarray:
    if weights is None:
        sizes = np.full(p, total // p, dtype=np.int64)
        sizes[: total % p] += 1  # np.array_split's rule
        return sizes
    return offload.integer_split(weights, total)


def _shard_sums(f, x, idx, sizes, vectorised):
    """Row ``i``: sum of the per-sample gradients of shard ``i`` (zeros for an empty shard)."""
    p = sizes.size
    out = np.zeros((p, x.size), dtype=x.dtype)
    nz = sizes > 0
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    if vectorised:
        # One call for all workers; reduceat over non-empty shards only (empty ones own no rows).
        out[nz] = np.add.reduceat(f.sample_grads(x, idx), starts[nz], axis=0)
    else:
        for i in np.flatnonzero(nz):
            out[i] = sizes[i] * np.asarray(f.grad(x, idx[starts[i] : starts[i] + sizes[i]]))
    return out


def _local_gradients(f, models, idx, sizes, vectorised):
    """Row ``i``: mean gradient of shard ``i`` at worker ``i``'s own model ``models[i]``."""
    workers = np.flatnonzero(sizes > 0)
    if vectorised and np.all(models == models[0]):
        # Right after an average all copies agree: one call serves every worker.
        grads = _shard_sums(f, models[0], idx, sizes, True)
    else:
        grads = np.zeros(models.shape)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        for i in workers:
            grads[i] = sizes[i] * np.asarray(
                f.grad(models[i], idx[starts[i] : starts[i] + sizes[i]])
            )
    grads[workers] /= sizes[workers, None]
    return grads


def _loss(f, x) -> float:
    """``f(x)``, or NaN for parameters that are no longer finite (the divergence test's input)."""
    return f.value(x) if np.isfinite(x).all() else np.nan


class _Network:
    """Per-step communication of the synchronous strategies, vectorised over workers."""

    def __init__(self, cluster: Cluster, algorithm: str, shards: int, up_bytes, down_bytes):
        self.cluster = cluster
        self.algorithm = algorithm
        self.shards = shards
        self.up_bytes = float(up_bytes)
        self.down_bytes = float(down_bytes)
        self.tau_up = cluster.message_time(self.up_bytes)
        self.tau_down = cluster.message_time(self.down_bytes)

    def _ps_phase(self, n_bytes, m):
        # Half of the parameter-server all-reduce: max(m, k) slots of N/k bytes.
        return (
            cost.allreduce_time(
                n_bytes,
                m,
                self.cluster.latency,
                self.cluster.bandwidth,
                "parameter_server",
                self.shards,
            )
            / 2
        )

    def step(self, ready, compute_time, n_awaited):
        """Clock of one synchronous step.

        ready : (p,) time each worker got the current parameters (= starts computing)
        compute_time : (p,) compute durations
        n_awaited : how many gradients the central node waits for (p, or p - b with backups)

        Returns (timeline row dict, mask of the workers whose gradients are used, update time,
        comm time, bytes).
        """
        p = ready.size
        compute_start = ready
        compute_end = ready + compute_time
        order = np.argsort(compute_end, kind="stable")
        awaited = order[:n_awaited]
        active = np.zeros(p, dtype=bool)
        active[awaited] = True
        send_start, send_end = np.empty(p), np.empty(p)
        recv_start, recv_end = np.empty(p), np.empty(p)
        if self.algorithm == "naive":
            # The central node receives one message at a time, first come first served:
            # finish_j = max(finish_{j-1}, arrival_j) + tau  ==  (j+1) tau + cummax(a_m - m tau).
            arrival = compute_end[awaited]
            j = np.arange(n_awaited)
            finish = (j + 1) * self.tau_up + np.maximum.accumulate(arrival - j * self.tau_up)
            send_start[awaited] = finish - self.tau_up
            send_end[awaited] = finish
            update = finish[-1]
            first = send_start[order[0]]
            # Broadcast to everyone (cancelled backups too), in arrival order.
            recv_start[order] = update + np.arange(p) * self.tau_down
            recv_end[order] = recv_start[order] + self.tau_down
            n_bytes = n_awaited * self.up_bytes + p * self.down_bytes
        else:
            barrier = compute_end[order[n_awaited - 1]]
            first = barrier
            if self.algorithm == "parameter_server":
                push = self._ps_phase(self.up_bytes, n_awaited)
                pull = self._ps_phase(self.down_bytes, p)
                n_bytes = n_awaited * self.up_bytes + p * self.down_bytes
            else:
                total = cost.allreduce_time(
                    self.up_bytes,
                    p,
                    self.cluster.latency,
                    self.cluster.bandwidth,
                    self.algorithm,
                )
                push = pull = total / 2  # reduce half and broadcast half are symmetric
                n_bytes = cost.allreduce_bytes(self.up_bytes, p, self.algorithm)
            send_start[:], send_end[:] = barrier, barrier + push
            update = barrier + push
            recv_start[:], recv_end[:] = update, update + pull
        # Cancelled backup workers stop computing once the update is decided; they send nothing.
        cancelled = ~active
        cut = update if self.algorithm == "naive" else first
        compute_end = np.where(cancelled, np.minimum(compute_end, cut), compute_end)
        send_start = np.where(cancelled, compute_end, send_start)
        send_end = np.where(cancelled, compute_end, send_end)
        row = dict(
            compute_start=compute_start,
            compute_end=compute_end,
            send_start=send_start,
            send_end=send_end,
            recv_start=recv_start,
            recv_end=recv_end,
        )
        return row, active, update, float(recv_end.max() - first), float(n_bytes)


def _compute_only_row(ready, compute_time) -> dict:
    """Timeline row of a step without communication (local SGD between averages)."""
    compute_end = ready + compute_time
    return dict(
        compute_start=ready,
        compute_end=compute_end,
        send_start=compute_end,
        send_end=compute_end,
        recv_start=compute_end,
        recv_end=compute_end,
    )


# =========================================================================== one run
@dataclass
class _Setup:
    """Everything a runner needs, checked once by :func:`_set_up` (see :func:`simulate`)."""

    objective: object
    x0: np.ndarray
    cluster: Cluster
    strategy: str
    algorithm: str
    steps: int
    lr: float
    batch_size: int  # b, per worker
    global_batch: int  # the rows of one step: p b, or b for "async"
    seed: int
    shards: int
    backups: int
    period: int
    compression: str | None
    k: int | None
    levels: int
    rule: optimize.Rule
    schedule: object  # callable (lr0, t) -> lr_t
    shard_weights: np.ndarray | None  # None: equal shards
    flops_per_sample: float
    up_bytes: float  # one message to the central node (compressed if asked)
    full_bytes: float  # one uncompressed gradient or parameter vector
    vectorised: bool  # the objective has sample_grads: one call serves every worker
    clock_rng: np.random.Generator = field(init=False, repr=False)
    quantizer_rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self):
        # Two independent streams, neither touching the batch order.
        self.clock_rng = np.random.default_rng([self.seed, 1])
        self.quantizer_rng = np.random.default_rng([self.seed, 2])

    @property
    def n_workers(self) -> int:
        return self.cluster.n_workers

    def lr_at(self, t: int) -> float:
        return optimize._lr_at(self.schedule, self.lr, t)

    def shard_sizes(self, total: int) -> np.ndarray:
        return _shard_sizes(total, self.n_workers, self.shard_weights)

    def compute_times(self, sizes) -> np.ndarray:
        """Seconds each worker computes its shard: :math:`n_i w / F_i \\cdot M_{t,i}`."""
        cluster = self.cluster
        return (
            sizes
            * self.flops_per_sample
            / cluster.rates
            * cluster.slowdowns(self.clock_rng, self.n_workers)
        )

    def compressor(self) -> Compressor | None:
        if self.compression is None:
            return None
        return Compressor(
            self.compression,
            self.n_workers,
            self.x0.size,
            k=self.k,
            levels=self.levels,
            rng=self.quantizer_rng,
        )


def _check_cluster(cluster, n_workers) -> Cluster:
    if cluster is None:
        cluster = Cluster(4 if n_workers is None else n_workers)
    elif not isinstance(cluster, Cluster):
        raise TypeError(f"cluster must be a Cluster, got {type(cluster).__name__}")
    p = cluster.n_workers
    if n_workers is not None and check_int(n_workers, "n_workers", minimum=1) != p:
        raise ValueError(f"n_workers={n_workers} disagrees with cluster.n_workers={p}")
    return cluster


def _check_objective(objective) -> int:
    """The objective's ``n_samples``, after checking it is a FiniteSum."""
    for name in ("value", "grad"):
        if not callable(getattr(objective, name, None)):
            raise TypeError(
                f"objective must have a {name}() method (a FiniteSum), got "
                f"{type(objective).__name__}"
            )
    n = getattr(objective, "n_samples", None)
    if not is_int(n) or n < 1:
        raise TypeError("objective must have an integer n_samples >= 1 (a FiniteSum)")
    return n


def _check_strategy_options(strategy, algorithm, p, backups) -> None:
    """Which strategies go with which communication (after ``backups`` is an int)."""
    if strategy == "backup":
        if backups >= p:
            raise ValueError(f"backups must be in [0, n_workers - 1 = {p - 1}], got {backups}")
        if algorithm not in ("naive", "parameter_server"):
            raise ValueError(
                "strategy 'backup' needs algorithm 'naive' or 'parameter_server' (a ring or "
                f"tree cannot drop a member), got {algorithm!r}"
            )
    elif backups:
        raise ValueError(f"backups only applies to strategy 'backup', got strategy={strategy!r}")
    if strategy == "async" and algorithm != "naive":
        raise ValueError(
            "strategy 'async' talks to the central node message by message: algorithm must be "
            f"'naive', got {algorithm!r}"
        )


def _check_compression(compression, strategy, algorithm):
    if compression is None:
        return None
    compression = check_choice(compression, "compression", COMPRESSIONS)
    if strategy == "local_sgd":
        raise ValueError("compression is not available with strategy 'local_sgd'")
    if algorithm not in ("naive", "parameter_server"):
        raise ValueError(
            "compression needs algorithm 'naive' or 'parameter_server' (a compressed sum "
            f"does not stay compressed around a ring or tree), got {algorithm!r}"
        )
    return compression


def _check_x0(x0) -> np.ndarray:
    x = np.array(x0, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x0 must be a non-empty 1-D array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x0 must be finite (found NaN or inf)")
    return x


def _check_topk(k, d: int) -> int:
    """Top-k's ``k`` as an int in ``[1, d]`` (a float is a fraction of ``d``; default 10 %)."""
    if k is None:
        k = 0.1
    if isinstance(k, float):
        if not 0 < k <= 1:
            raise ValueError(f"k as a fraction must lie in (0, 1], got {k}")
        k = max(1, int(round(k * d)))
    k = check_int(k, "k", minimum=1)
    if k > d:
        raise ValueError(f"k must be in [1, d={d}], got {k}")
    return k


def _check_batch(batch_size, strategy: str, p: int, n: int) -> tuple[int, int]:
    """``batch_size`` and the global batch (what one update uses): ``p * b``, or ``b`` async."""
    b = check_int(batch_size, "batch_size", minimum=1)
    global_batch = b if strategy == "async" else p * b
    if global_batch > n:
        raise ValueError(
            f"batch_size must satisfy n_workers * batch_size <= n_samples ({p} * {b} > {n})"
            if strategy != "async"
            else f"batch_size must be in [1, n_samples={n}], got {b}"
        )
    return b, global_batch


def _message_sizes(x, compression, k, levels, message_bytes) -> tuple[float, float]:
    """Bytes of a full message (parameters, reduced sums) and of a worker's upload.

    Both are ``x``'s bytes, the upload compressed when asked; ``message_bytes`` stands for
    both (a model larger than the objective simulated).
    """
    d = x.size
    full_bytes = d * x.itemsize
    up_bytes = compressed_bytes(d, x.itemsize, compression, k, levels)
    if message_bytes is not None:
        if compression is not None:
            raise ValueError(
                "message_bytes cannot be combined with compression (compressed "
                "sizes follow the objective's d)"
            )
        full_bytes = up_bytes = check_real(message_bytes, "message_bytes", minimum=0.0)
    return full_bytes, up_bytes


def _set_up(
    objective,
    x0,
    n_workers,
    strategy,
    steps,
    lr,
    batch_size,
    seed,
    *,
    cluster,
    algorithm,
    shards,
    backups,
    period,
    compression,
    k,
    levels,
    rule,
    schedule,
    split,
    flops_per_sample,
    message_bytes,
) -> _Setup:
    """Check :func:`simulate`'s arguments (in the order of its signature) into a :class:`_Setup`."""
    strategy = check_choice(strategy, "strategy", STRATEGIES)
    algorithm = check_choice(algorithm, "algorithm", cost.ALGORITHMS)
    cluster = _check_cluster(cluster, n_workers)
    p = cluster.n_workers
    n = _check_objective(objective)
    steps = check_int(steps, "steps", minimum=0)
    lr = check_real(lr, "lr", minimum=0.0, strict=True)
    b, global_batch = _check_batch(batch_size, strategy, p, n)
    seed = check_int(seed, "seed", minimum=0)
    shards = check_int(shards, "shards", minimum=1)
    backups = check_int(backups, "backups", minimum=0)
    _check_strategy_options(strategy, algorithm, p, backups)
    period = check_int(period, "period", minimum=1)
    split = check_choice(split, "split", ("equal", "proportional"))
    compression = _check_compression(compression, strategy, algorithm)
    x = _check_x0(x0)
    d = x.size
    if compression == "topk":
        k = _check_topk(k, d)
    if flops_per_sample is None:
        flops_per_sample = cost.linear_model_flops(1, d)
    w = check_real(flops_per_sample, "flops_per_sample", minimum=0.0)
    rule = optimize.get_rule(rule)
    # "cosine" anneals over the run's steps, as in coursekit.optimize.
    schedule = optimize._resolve_schedule(schedule, steps)
    full_bytes, up_bytes = _message_sizes(x, compression, k, levels, message_bytes)
    return _Setup(
        objective=objective,
        x0=x,
        cluster=cluster,
        strategy=strategy,
        algorithm=algorithm,
        steps=steps,
        lr=lr,
        batch_size=b,
        global_batch=global_batch,
        seed=seed,
        shards=shards,
        backups=backups,
        period=period,
        compression=compression,
        k=k,
        levels=levels,
        rule=rule,
        schedule=schedule,
        shard_weights=offload.proportional_split(cluster.rates)
        if split == "proportional"
        else None,
        flops_per_sample=w,
        up_bytes=up_bytes,
        full_bytes=full_bytes,
        vectorised=callable(getattr(objective, "sample_grads", None)),
    )


class _Record:
    """The arrays of a :class:`SimulationHistory`, filled step by step, and the stopping test."""

    def __init__(self, setup: _Setup, record_params: bool, timeline: bool, progress: bool):
        steps, p, d = setup.steps, setup.n_workers, setup.x0.size
        self.setup = setup
        self.losses = np.full(steps + 1, np.nan)
        self.losses[0] = setup.objective.value(setup.x0)
        self.wall_clock = np.zeros(steps + 1)
        self.params = np.full((steps + 1, d), np.nan) if record_params else None
        if self.params is not None:
            self.params[0] = setup.x0
        self.bytes_sent = np.zeros(steps)
        self.comm_time = np.zeros(steps)
        self.staleness = np.zeros(steps, dtype=np.int64)
        self.samples = np.zeros(steps, dtype=np.int64)
        self.timeline = (
            {name: np.full((steps, p), np.nan) for name in Timeline.__dataclass_fields__}
            if timeline
            else None
        )
        self.bar = _progress(steps, progress, f"simulate {setup.strategy}/{setup.algorithm} p={p}")
        self.converged = True
        self.message = f"completed {steps} steps"
        self.steps_done = steps

    def accept(self, t: int, x_new: np.ndarray, loss: float) -> bool:
        """Record :math:`x_{t+1}` and its loss; False (and stop) if the run has diverged.

        The divergence test is :mod:`coursekit.optimize`'s, so that a diverging run stops at
        the same iteration as its single-node counterpart.
        """
        if not optimize._all_finite(x_new) or optimize._diverged(loss, self.losses[0]):
            self.converged, self.message = False, f"diverged at iteration {t + 1}"
            self.steps_done = t
            return False
        self.losses[t + 1] = loss
        if self.params is not None:
            self.params[t + 1] = x_new
        if self.bar is not None:
            self.bar.update(1)
        return True

    def put_row(self, t: int, row: dict, workers=None) -> None:
        """Step ``t`` of the timeline: every worker, or only the mask ``workers``."""
        if self.timeline is None:
            return
        for name, value in row.items():
            if workers is None:
                self.timeline[name][t] = value
            else:
                self.timeline[name][t, workers] = value

    def history(self, x: np.ndarray) -> SimulationHistory:
        if self.bar is not None:
            self.bar.close()
        setup, done = self.setup, self.steps_done
        timeline = (
            Timeline(**{name: rows[:done] for name, rows in self.timeline.items()})
            if self.timeline is not None
            else None
        )
        return SimulationHistory(
            x=x,
            losses=self.losses[: done + 1],
            wall_clock=self.wall_clock[: done + 1],
            params=self.params[: done + 1] if self.params is not None else None,
            bytes_sent=self.bytes_sent[:done],
            comm_time=self.comm_time[:done],
            staleness=self.staleness[:done],
            samples=self.samples[:done],
            timeline=timeline,
            serial_time=float(
                self.samples[:done].sum() * setup.flops_per_sample / setup.cluster.rates.max()
            ),
            strategy=setup.strategy,
            algorithm=setup.algorithm,
            n_workers=setup.n_workers,
            converged=self.converged,
            message=self.message,
        )


def _progress(total, enabled, desc):
    if not enabled:
        return None
    from tqdm.auto import tqdm  # optional dependency, only when a bar is asked for

    return tqdm(total=total, desc=desc)


# =========================================================================== the runners
# Each runner trains from setup.x0 for setup.steps steps, fills the record and returns the last
# accepted parameters.
def _run_sync(setup: _Setup, record: _Record) -> np.ndarray:
    """``"sync"`` and ``"backup"``: one global batch per step, the first p - b gradients used."""
    f, p = setup.objective, setup.n_workers
    network = _Network(
        setup.cluster, setup.algorithm, setup.shards, setup.up_bytes, setup.full_bytes
    )
    n_awaited = p - setup.backups
    compressor = setup.compressor()
    x = setup.x0
    state = setup.rule.init(x)
    ready = np.zeros(p)
    batches = batch_indices(f.n_samples, setup.global_batch, seed=setup.seed)
    for t in range(setup.steps):
        _, idx = next(batches)
        sizes = setup.shard_sizes(idx.size)
        compute_time = setup.compute_times(sizes)
        row, arrived, _, record.comm_time[t], record.bytes_sent[t] = network.step(
            ready, compute_time, n_awaited
        )
        with optimize._quiet_overflow():
            sums = _shard_sums(f, x, idx, sizes, setup.vectorised)
            used = arrived & (sizes > 0)
            if compressor is None:
                g = sums[used].sum(axis=0) / sizes[used].sum()
            else:
                sent = compressor(sums[used] / sizes[used, None], used)
                g = (sizes[used, None] * sent).sum(axis=0) / sizes[used].sum()
            x_new = setup.rule.update(x, g, setup.lr_at(t), state)
            loss = _loss(f, x_new)
        if not record.accept(t, x_new, loss):
            break
        x = x_new
        record.samples[t] = sizes[used].sum()
        record.put_row(t, row)
        ready = row["recv_end"]
        record.wall_clock[t + 1] = ready.max()
    return x


def _run_local_sgd(setup: _Setup, record: _Record) -> np.ndarray:
    """``"local_sgd"``: every worker steps on its own copy; every ``period`` steps, average."""
    f, p = setup.objective, setup.n_workers
    network = _Network(
        setup.cluster, setup.algorithm, setup.shards, setup.full_bytes, setup.full_bytes
    )
    x = setup.x0
    models = np.tile(x, (p, 1))
    state = setup.rule.init(models)  # each worker keeps its own rule state across averages
    ready = np.zeros(p)
    round_samples = np.zeros(p)
    batches = batch_indices(f.n_samples, setup.global_batch, seed=setup.seed)
    for t in range(setup.steps):
        _, idx = next(batches)
        sizes = setup.shard_sizes(idx.size)
        compute_time = setup.compute_times(sizes)
        with optimize._quiet_overflow():
            grads = _local_gradients(f, models, idx, sizes, setup.vectorised)
            new_models = setup.rule.update(models, grads, setup.lr_at(t), state)
            # A worker without samples this step keeps its model (no gradient, no step).
            new_models[sizes == 0] = models[sizes == 0]
        round_samples += sizes
        if (t + 1) % setup.period == 0 or t == setup.steps - 1:
            row, _, _, record.comm_time[t], record.bytes_sent[t] = network.step(
                ready, compute_time, p
            )
            x_new = (round_samples / round_samples.sum()) @ new_models
            new_models = np.tile(x_new, (p, 1))
            round_samples[:] = 0
        else:
            row = _compute_only_row(ready, compute_time)
            x_new = new_models.mean(axis=0)
        ready = row["recv_end"]
        loss = _loss(f, x_new)
        if not record.accept(t, x_new, loss):
            break
        models, x = new_models, x_new
        record.samples[t] = sizes.sum()
        record.put_row(t, row)
        record.wall_clock[t + 1] = ready.max()
    return x


class _AsyncWorkers:
    """``"async"``'s workers: each computes on the copy it last received; first done, first out."""

    def __init__(self, setup: _Setup):
        self.setup = setup
        self.batches = batch_indices(setup.objective.n_samples, setup.batch_size, seed=setup.seed)
        self.running = []  # heap of (compute_end, worker, compute_start, version, samples, g)

    def start(self, worker: int, start_time: float, x_copy: np.ndarray, version: int) -> None:
        setup = self.setup
        _, idx = next(self.batches)
        duration = (
            idx.size
            * setup.flops_per_sample
            / setup.cluster.rates[worker]
            * setup.cluster.slowdowns(setup.clock_rng, 1)[0]
        )
        with optimize._quiet_overflow():
            g = np.asarray(setup.objective.grad(x_copy, idx), dtype=float)
        heapq.heappush(
            self.running, (start_time + duration, worker, start_time, version, idx.size, g)
        )

    def next_finished(self) -> tuple:
        return heapq.heappop(self.running)


def _run_async(setup: _Setup, record: _Record) -> np.ndarray:
    """``"async"``: the central node applies each gradient as it arrives, one at a time."""
    p = setup.n_workers
    tau_up = setup.cluster.message_time(setup.up_bytes)
    tau_down = setup.cluster.message_time(setup.full_bytes)
    compressor = setup.compressor()
    x = setup.x0
    state = setup.rule.init(x)
    workers = _AsyncWorkers(setup)
    version = 0  # updates applied so far
    receiver_free = sender_free = 0.0  # when the central node's link is next free, each way
    for i in range(p):
        workers.start(i, 0.0, x, 0)
    for t in range(setup.steps):
        compute_end, i, compute_start, v, m, g = workers.next_finished()
        if compressor is not None:
            g = compressor(g[None], [i])[0]
        upload_start = max(compute_end, receiver_free)
        receiver_free = upload_start + tau_up
        with optimize._quiet_overflow():
            x_new = setup.rule.update(x, g, setup.lr_at(t), state)
            loss = _loss(setup.objective, x_new)
        if not record.accept(t, x_new, loss):
            break
        x = x_new
        record.staleness[t] = version - v
        version += 1
        record.samples[t] = m
        download_start = max(receiver_free, sender_free)
        sender_free = download_start + tau_down
        record.comm_time[t] = sender_free - upload_start
        record.bytes_sent[t] = setup.up_bytes + setup.full_bytes
        row = dict(
            compute_start=compute_start,
            compute_end=compute_end,
            send_start=upload_start,
            send_end=receiver_free,
            recv_start=download_start,
            recv_end=sender_free,
        )
        only_i = np.zeros(p, dtype=bool)
        only_i[i] = True
        record.put_row(t, row, only_i)
        record.wall_clock[t + 1] = receiver_free  # the moment x_{t+1} exists at the central node
        workers.start(i, sender_free, x, version)
    return x


_RUNNERS = {
    "sync": _run_sync,
    "backup": _run_sync,
    "local_sgd": _run_local_sgd,
    "async": _run_async,
}


# =========================================================================== simulate
def simulate(
    objective,
    x0,
    n_workers=None,
    strategy="sync",
    steps=100,
    lr=0.1,
    batch_size=8,
    seed=0,
    *,
    cluster=None,
    algorithm="naive",
    shards=1,
    backups=0,
    period=4,
    compression=None,
    k=None,
    levels=16,
    rule=None,
    schedule=None,
    split="equal",
    flops_per_sample=None,
    message_bytes=None,
    record_params=True,
    timeline=True,
    progress=False,
):
    r"""Train ``objective`` on a simulated cluster; return losses, parameters and the clock.

    See the module docstring for the strategies, the network and the clock.

    Parameters
    ----------
    objective : FiniteSum-like
        Needs ``n_samples``, ``value(x)`` and ``grad(x, idx)`` (mean over rows ``idx``);
        ``sample_grads(x, idx)`` (shape ``(len(idx), d)``) is used when present to compute all
        workers' gradients in one call.
    x0 : array_like, shape (d,)
    n_workers : int, optional
        :math:`p`; defaults to ``cluster.n_workers`` (or 4 without a cluster).
    strategy : {"sync", "backup", "async", "local_sgd"}
    steps : int
        Updates of the central parameters (``"local_sgd"``: local steps).
    lr : float
        :math:`\eta_0 > 0`.
    batch_size : int
        Samples per worker per step :math:`b`; a synchronous step uses :math:`p b` rows
        (at most ``n_samples``).
    seed : int
        Seeds the batch order (``batch_indices(n, p b, seed)``; ``"async"``:
        ``batch_indices(n, b, seed)``), and, independently, the stragglers and the quantiser.
    cluster : Cluster, optional
        Speeds, network, stragglers (default ``Cluster(n_workers)``).
    algorithm : {"naive", "parameter_server", "tree", "ring"}
        How gradients (or, for local SGD, models) are summed.
    shards : int
        Parameter-server shards :math:`k`.
    backups : int
        :math:`b` backup workers (``"backup"`` only), ``0 <= b < p``.
    period : int
        :math:`H \ge 1` local steps between averages (``"local_sgd"`` only).
    compression : {None, "topk", "quantize"}
    k : int or float, optional
        Top-k size: an int, or a fraction of :math:`d` (default 10 %).
    levels : int
        QSGD levels :math:`s`.
    rule, schedule
        Update rule and learning-rate schedule, as in :func:`coursekit.optimize.sgd`
        (applied by the central node; local SGD: by each worker).
    split : {"equal", "proportional"}
        Shard sizes: equal, or proportional to worker speed
        (:func:`coursekit.distributed.offload.proportional_split`).
    flops_per_sample : float, optional
        :math:`w`; default :func:`~coursekit.distributed.cost.linear_model_flops` ``(1, d)``.
    message_bytes : float, optional
        :math:`N`, the bytes of one gradient or parameter message; default those of ``x0``
        (:math:`d` times 8). Give another model's size (the CNN's, say) to run the clock of
        that model while the iterates come from a cheaper objective: with ``flops_per_sample``
        and the cluster's rates, everything the clock sees is then that model's. Not with
        ``compression`` (whose sizes follow :math:`d`).
    record_params, timeline : bool
        Keep the (steps + 1, d) parameters / the per-worker timeline (memory for big runs).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    SimulationHistory
    """
    # The work is in _set_up and the runners. The arguments go to _set_up by name, all at
    # once: locals() holds exactly them here, before any other name is bound.
    arguments = dict(locals())
    for name in ("record_params", "timeline", "progress"):
        del arguments[name]  # what to record, not what to run: _Record's
    setup = _set_up(**arguments)
    record = _Record(setup, record_params, timeline, progress)
    x = _RUNNERS[setup.strategy](setup, record)
    return record.history(x)
