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
al., 2017). The bytes they save are what the clock and ``bytes_sent`` account.

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
from dataclasses import dataclass

import numpy as np

from coursekit import optimize
from coursekit._checks import check_choice, check_int, check_positive_array, check_real, is_int
from coursekit.data import batch_indices

from . import cost, offload

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
#: Gradient compressions of :func:`simulate` (``None`` for none).
COMPRESSIONS = ("topk", "quantize")
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

        cs, ce = pick(self.compute_start), pick(self.compute_end)
        ss, se = pick(self.send_start), pick(self.send_end)
        rs, re = pick(self.recv_start), pick(self.recv_end)
        pieces = [
            ("compute", cs, ce),
            ("wait", ce, ss),
            ("send", ss, se),
            ("wait", se, rs),
            ("receive", rs, re),
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


# =========================================================================== compression
def compressed_bytes(dim: int, itemsize: int, compression=None, k=None, levels=16) -> int:
    r"""Bytes of one compressed gradient of ``dim`` entries.

    .. math::

        \text{none: } d \cdot s_{\text{item}}, \qquad
        \text{topk: } k (s_{\text{item}} + 4), \qquad
        \text{quantize: } s_{\text{item}} + \Bigl\lceil \frac{d (1 + \lceil \log_2 (s+1) \rceil)}{8}
        \Bigr\rceil

    (top-k sends values and 32-bit indices; QSGD sends the norm, a sign bit and a level index
    per entry).
    """
    d = check_int(dim, "dim", minimum=1)
    if compression is None:
        return d * itemsize
    check_choice(compression, "compression", COMPRESSIONS)
    if compression == "topk":
        return check_int(k, "k", minimum=1) * (itemsize + 4)
    s = check_int(levels, "levels", minimum=1)
    return itemsize + math.ceil(d * (1 + math.ceil(math.log2(s + 1))) / 8)


def compress(v, compression, k=None, levels=16, rng=None):
    r"""Compress each row of ``v`` (what a worker sends instead of its gradient).

    ``"topk"``: keep the :math:`k` entries of largest magnitude, zero the rest (ties by index).

    ``"quantize"`` (QSGD): with :math:`\ell_j = s |v_j| / \lVert v \rVert_2`,

    .. math::

        Q(v)_j = \frac{\lVert v \rVert_2}{s}\, \mathrm{sign}(v_j)
                 \bigl(\lfloor \ell_j \rfloor + \mathbb 1[u_j < \ell_j - \lfloor \ell_j \rfloor]
                 \bigr), \quad u_j \sim \mathcal U(0, 1),

    so that :math:`\mathbb E[Q(v)] = v`.

    Parameters
    ----------
    v : ndarray, shape (m, d)
    compression : {"topk", "quantize"}
    k : int
        Entries kept by top-k, ``1 <= k <= d``.
    levels : int
        :math:`s \ge 1` quantisation levels.
    rng : numpy.random.Generator
        Needed by ``"quantize"``.

    Returns
    -------
    ndarray, shape (m, d)
        The decompressed values the receiver sees.
    """
    v = np.asarray(v, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"v must have shape (m, d), got {v.shape}")
    compression = check_choice(compression, "compression", COMPRESSIONS)
    if compression == "topk":
        k = check_int(k, "k", minimum=1)
        if k > v.shape[1]:
            raise ValueError(f"k must be in [1, d={v.shape[1]}], got {k}")
        if k == v.shape[1]:
            return v.copy()
        keep = np.argpartition(-np.abs(v), k - 1, axis=1)[:, :k]
        out = np.zeros_like(v)
        np.put_along_axis(out, keep, np.take_along_axis(v, keep, axis=1), axis=1)
        return out
    s = check_int(levels, "levels", minimum=1)
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator for compression='quantize'")
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    safe = np.where(norm > 0, norm, 1.0)
    level = s * np.abs(v) / safe
    low = np.floor(level)
    q = low + (rng.random(v.shape) < level - low)
    return np.sign(v) * q * safe / s


# =========================================================================== helpers
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


class _Network:
    """Per-step communication of the synchronous strategies, vectorised over workers."""

    def __init__(self, cluster: Cluster, algorithm: str, shards: int, up_bytes, down_bytes):
        self.c = cluster
        self.algorithm = algorithm
        self.k = shards
        self.up = float(up_bytes)
        self.down = float(down_bytes)
        self.tau_up = cluster.message_time(self.up)
        self.tau_down = cluster.message_time(self.down)

    def _ps_phase(self, n_bytes, m):
        # Half of the parameter-server all-reduce: max(m, k) slots of N/k bytes.
        return (
            cost.allreduce_time(
                n_bytes, m, self.c.latency, self.c.bandwidth, "parameter_server", self.k
            )
            / 2
        )

    def step(self, ready, ctime, n_active):
        """Clock of one synchronous step.

        ready : (p,) time each worker got the current parameters (= starts computing)
        ctime : (p,) compute durations
        n_active : how many gradients the central node waits for (p, or p - b with backups)

        Returns (timeline row dict, active mask, update time, comm time, bytes).
        """
        p = ready.size
        cs = ready
        ce = ready + ctime
        order = np.argsort(ce, kind="stable")
        active = np.zeros(p, dtype=bool)
        active[order[:n_active]] = True
        ss, se = np.empty(p), np.empty(p)
        rs, re = np.empty(p), np.empty(p)
        if self.algorithm == "naive":
            # The central node receives one message at a time, first come first served:
            # finish_j = max(finish_{j-1}, arrival_j) + tau  ==  (j+1) tau + cummax(a_m - m tau).
            arr = ce[order[:n_active]]
            j = np.arange(n_active)
            fin = (j + 1) * self.tau_up + np.maximum.accumulate(arr - j * self.tau_up)
            ss[order[:n_active]] = fin - self.tau_up
            se[order[:n_active]] = fin
            update = fin[-1]
            first = ss[order[0]]
            # Broadcast to everyone (cancelled backups too), in arrival order.
            rs[order] = update + np.arange(p) * self.tau_down
            re[order] = rs[order] + self.tau_down
            n_bytes = n_active * self.up + p * self.down
        else:
            barrier = ce[order[n_active - 1]]
            first = barrier
            if self.algorithm == "parameter_server":
                push = self._ps_phase(self.up, n_active)
                pull = self._ps_phase(self.down, p)
                n_bytes = n_active * self.up + p * self.down
            else:
                total = cost.allreduce_time(
                    self.up, p, self.c.latency, self.c.bandwidth, self.algorithm
                )
                push = pull = total / 2  # reduce half and broadcast half are symmetric
                n_bytes = cost.allreduce_bytes(self.up, p, self.algorithm)
            ss[:], se[:] = barrier, barrier + push
            update = barrier + push
            rs[:], re[:] = update, update + pull
        # Cancelled backup workers stop computing once the update is decided; they send nothing.
        lazy = ~active
        cut = update if self.algorithm == "naive" else first
        ce = np.where(lazy, np.minimum(ce, cut), ce)
        ss = np.where(lazy, ce, ss)
        se = np.where(lazy, ce, se)
        row = dict(
            compute_start=cs,
            compute_end=ce,
            send_start=ss,
            send_end=se,
            recv_start=rs,
            recv_end=re,
        )
        return row, active, update, float(re.max() - first), float(n_bytes)


def _progress(total, enabled, desc):
    if not enabled:
        return None
    from tqdm.auto import tqdm  # optional dependency, only when a bar is asked for

    return tqdm(total=total, desc=desc)


def _resolve_schedule(schedule, steps):
    if isinstance(schedule, str) and schedule.strip().lower() == "cosine":
        return optimize.cosine(max(steps, 1))
    return optimize.get_schedule(schedule)


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
    # ---- arguments
    strategy = check_choice(strategy, "strategy", STRATEGIES)
    algorithm = check_choice(algorithm, "algorithm", cost.ALGORITHMS)
    if cluster is None:
        cluster = Cluster(4 if n_workers is None else n_workers)
    elif not isinstance(cluster, Cluster):
        raise TypeError(f"cluster must be a Cluster, got {type(cluster).__name__}")
    p = cluster.n_workers
    if n_workers is not None and check_int(n_workers, "n_workers", minimum=1) != p:
        raise ValueError(f"n_workers={n_workers} disagrees with cluster.n_workers={p}")
    for name in ("value", "grad"):
        if not callable(getattr(objective, name, None)):
            raise TypeError(
                f"objective must have a {name}() method (a FiniteSum), got "
                f"{type(objective).__name__}"
            )
    n = getattr(objective, "n_samples", None)
    if not is_int(n) or n < 1:
        raise TypeError("objective must have an integer n_samples >= 1 (a FiniteSum)")
    steps = check_int(steps, "steps", minimum=0)
    lr = check_real(lr, "lr", minimum=0.0, strict=True)
    b = check_int(batch_size, "batch_size", minimum=1)
    global_batch = b if strategy == "async" else p * b
    if global_batch > n:
        raise ValueError(
            f"batch_size must satisfy n_workers * batch_size <= n_samples ({p} * {b} > {n})"
            if strategy != "async"
            else f"batch_size must be in [1, n_samples={n}], got {b}"
        )
    seed = check_int(seed, "seed", minimum=0)
    shards = check_int(shards, "shards", minimum=1)
    backups = check_int(backups, "backups", minimum=0)
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
    period = check_int(period, "period", minimum=1)
    split = check_choice(split, "split", ("equal", "proportional"))
    if compression is not None:
        compression = check_choice(compression, "compression", COMPRESSIONS)
        if strategy == "local_sgd":
            raise ValueError("compression is not available with strategy 'local_sgd'")
        if algorithm not in ("naive", "parameter_server"):
            raise ValueError(
                "compression needs algorithm 'naive' or 'parameter_server' (a compressed sum "
                f"does not stay compressed around a ring or tree), got {algorithm!r}"
            )
    x = np.array(x0, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x0 must be a non-empty 1-D array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x0 must be finite (found NaN or inf)")
    d = x.size
    if compression == "topk":
        if k is None:
            k = 0.1
        if isinstance(k, float):
            if not 0 < k <= 1:
                raise ValueError(f"k as a fraction must lie in (0, 1], got {k}")
            k = max(1, int(round(k * d)))
        k = check_int(k, "k", minimum=1)
        if k > d:
            raise ValueError(f"k must be in [1, d={d}], got {k}")
    if flops_per_sample is None:
        flops_per_sample = cost.linear_model_flops(1, d)
    w = check_real(flops_per_sample, "flops_per_sample", minimum=0.0)
    rule = optimize.get_rule(rule)
    sched = _resolve_schedule(schedule, steps)

    weights = offload.proportional_split(cluster.rates) if split == "proportional" else None
    vectorised = callable(getattr(objective, "sample_grads", None))
    clock_rng = np.random.default_rng([seed, 1])
    quant_rng = np.random.default_rng([seed, 2])
    itemsize = x.itemsize
    full_bytes = d * itemsize
    up_bytes = compressed_bytes(d, itemsize, compression, k, levels)
    if message_bytes is not None:
        if compression is not None:
            raise ValueError("message_bytes cannot be combined with compression (compressed "
                             "sizes follow the objective's d)")
        full_bytes = up_bytes = check_real(message_bytes, "message_bytes", minimum=0.0)
    serial_rate = float(cluster.rates.max())

    # ---- recording
    T = steps
    losses = np.full(T + 1, np.nan)
    losses[0] = objective.value(x)
    wall = np.zeros(T + 1)
    params = np.full((T + 1, d), np.nan) if record_params else None
    if params is not None:
        params[0] = x
    bytes_sent = np.zeros(T)
    comm = np.zeros(T)
    stale = np.zeros(T, dtype=np.int64)
    samples = np.zeros(T, dtype=np.int64)
    tl = (
        {name: np.full((T, p), np.nan) for name in Timeline.__dataclass_fields__}
        if timeline
        else None
    )
    bar = _progress(T, progress, f"simulate {strategy}/{algorithm} p={p}")
    status = {"converged": True, "message": f"completed {T} steps", "done": T}

    # The same divergence test as coursekit.optimize, so that a diverging run stops at the same
    # iteration as its single-node counterpart.
    blow_up = losses[0] + optimize.DIVERGENCE_FACTOR * max(1.0, abs(losses[0]))

    def record(t, x_t, loss):
        if not (np.isfinite(x_t).all() and np.isfinite(loss) and loss <= blow_up):
            status.update(converged=False, message=f"diverged at iteration {t + 1}", done=t)
            return False
        losses[t + 1] = loss
        if params is not None:
            params[t + 1] = x_t
        if bar is not None:
            bar.update(1)
        return True

    def put_row(t, row, mask=None):
        if tl is None:
            return
        for name, val in row.items():
            if mask is None:
                tl[name][t] = val
            else:
                tl[name][t, mask] = val

    # ---- the strategies
    if strategy in ("sync", "backup"):
        net = _Network(cluster, algorithm, shards, up_bytes, full_bytes)
        n_active = p - backups
        memory = np.zeros((p, d)) if compression == "topk" else None
        state = rule.init(x)
        ready = np.zeros(p)
        batches = batch_indices(n, global_batch, seed=seed)
        for t in range(T):
            _, idx = next(batches)
            sizes = _shard_sizes(idx.size, p, weights)
            ctime = sizes * w / cluster.rates * cluster.slowdowns(clock_rng, p)
            row, active, update, comm[t], bytes_sent[t] = net.step(ready, ctime, n_active)
            with np.errstate(over="ignore", invalid="ignore"):
                sums = _shard_sums(objective, x, idx, sizes, vectorised)
                used = active & (sizes > 0)
                if compression is None:
                    g = sums[used].sum(axis=0) / sizes[used].sum()
                else:
                    mean = sums[used] / sizes[used, None]
                    if memory is not None:
                        target = mean + memory[used]
                        sent = compress(target, "topk", k=k)
                        memory[used] = target - sent
                    else:
                        sent = compress(mean, "quantize", levels=levels, rng=quant_rng)
                    g = (sizes[used, None] * sent).sum(axis=0) / sizes[used].sum()
                x_new = rule.update(x, g, sched(lr, t), state)
                loss = objective.value(x_new) if np.isfinite(x_new).all() else np.nan
            if not record(t, x_new, loss):
                break
            x = x_new
            samples[t] = sizes[used].sum()
            put_row(t, row)
            ready = row["recv_end"]
            wall[t + 1] = ready.max()
    elif strategy == "local_sgd":
        net = _Network(cluster, algorithm, shards, full_bytes, full_bytes)
        X = np.tile(x, (p, 1))
        state = rule.init(X)
        ready = np.zeros(p)
        round_samples = np.zeros(p)
        batches = batch_indices(n, global_batch, seed=seed)
        for t in range(T):
            _, idx = next(batches)
            sizes = _shard_sizes(idx.size, p, weights)
            ctime = sizes * w / cluster.rates * cluster.slowdowns(clock_rng, p)
            with np.errstate(over="ignore", invalid="ignore"):
                rows = np.flatnonzero(sizes > 0)
                if vectorised and np.all(X == X[0]):
                    # Right after an average all copies agree: one call serves every worker.
                    G = _shard_sums(objective, X[0], idx, sizes, True)
                else:
                    G = np.zeros((p, d))
                    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
                    for i in rows:
                        G[i] = sizes[i] * np.asarray(
                            objective.grad(X[i], idx[starts[i] : starts[i] + sizes[i]])
                        )
                G[rows] /= sizes[rows, None]
                X_new = rule.update(X, G, sched(lr, t), state)
                # A worker without samples this step keeps its model (no gradient, no step).
                X_new[sizes == 0] = X[sizes == 0]
            round_samples += sizes
            averaging = (t + 1) % period == 0 or t == T - 1
            if averaging:
                row, _, _, comm[t], bytes_sent[t] = net.step(ready, ctime, p)
                wgt = round_samples / round_samples.sum()
                x_new = wgt @ X_new
                X_new = np.tile(x_new, (p, 1))
                round_samples[:] = 0
                ready = row["recv_end"]
            else:
                ce = ready + ctime
                row = dict(
                    compute_start=ready,
                    compute_end=ce,
                    send_start=ce,
                    send_end=ce,
                    recv_start=ce,
                    recv_end=ce,
                )
                ready = ce
                x_new = X_new.mean(axis=0)
            loss = objective.value(x_new) if np.isfinite(x_new).all() else np.nan
            if not record(t, x_new, loss):
                break
            X, x = X_new, x_new
            samples[t] = sizes.sum()
            put_row(t, row)
            wall[t + 1] = ready.max()
    else:  # async
        tau_up = cluster.message_time(up_bytes)
        tau_down = cluster.message_time(full_bytes)
        memory = np.zeros((p, d)) if compression == "topk" else None
        state = rule.init(x)
        batches = batch_indices(n, b, seed=seed)
        version = 0
        recv_free = send_free = 0.0
        heap = []

        def start(worker, t0, x_copy, v):
            _, idx = next(batches)
            dur = idx.size * w / cluster.rates[worker] * cluster.slowdowns(clock_rng, 1)[0]
            with np.errstate(over="ignore", invalid="ignore"):
                g = np.asarray(objective.grad(x_copy, idx), dtype=float)
            heapq.heappush(heap, (t0 + dur, worker, t0, v, idx.size, g))

        for i in range(p):
            start(i, 0.0, x, 0)
        for t in range(T):
            ce, i, cs, v, m, g = heapq.heappop(heap)
            if compression == "topk":
                target = g + memory[i]
                g = compress(target[None], "topk", k=k)[0]
                memory[i] = target - g
            elif compression == "quantize":
                g = compress(g[None], "quantize", levels=levels, rng=quant_rng)[0]
            s_up = max(ce, recv_free)
            recv_free = s_up + tau_up
            with np.errstate(over="ignore", invalid="ignore"):
                x_new = rule.update(x, g, sched(lr, t), state)
                loss = objective.value(x_new) if np.isfinite(x_new).all() else np.nan
            if not record(t, x_new, loss):
                break
            x = x_new
            stale[t] = version - v
            version += 1
            samples[t] = m
            s_down = max(recv_free, send_free)
            send_free = s_down + tau_down
            comm[t] = send_free - s_up
            bytes_sent[t] = up_bytes + full_bytes
            row = dict(
                compute_start=cs,
                compute_end=ce,
                send_start=s_up,
                send_end=recv_free,
                recv_start=s_down,
                recv_end=send_free,
            )
            mask = np.zeros(p, dtype=bool)
            mask[i] = True
            put_row(t, row, mask)
            wall[t + 1] = recv_free  # the moment x_{t+1} exists at the central node
            start(i, send_free, x, version)

    if bar is not None:
        bar.close()
    done = status["done"]
    timeline_obj = Timeline(**{k_: v[:done] for k_, v in tl.items()}) if tl is not None else None
    return SimulationHistory(
        x=x,
        losses=losses[: done + 1],
        wall_clock=wall[: done + 1],
        params=params[: done + 1] if params is not None else None,
        bytes_sent=bytes_sent[:done],
        comm_time=comm[:done],
        staleness=stale[:done],
        samples=samples[:done],
        timeline=timeline_obj,
        serial_time=float(samples[:done].sum() * w / serial_rate),
        strategy=strategy,
        algorithm=algorithm,
        n_workers=p,
        converged=status["converged"],
        message=status["message"],
    )
