r"""The latency-bandwidth (alpha-beta) cost model of communication and computation.

A message of :math:`n` bytes between two nodes takes

.. math::

    T_{\text{msg}}(n) = \alpha + \frac{n}{B},

with :math:`\alpha` the latency (seconds) and :math:`B` the bandwidth (bytes per second); the
literature often writes :math:`\beta = 1/B` (seconds per byte), hence the model's name
(Hockney, *Parallel Computing* 20, 1994). A node computes at a rate :math:`F` (flop/s), so a
gradient of :math:`W` flops takes :math:`W/F`.

Network assumptions of every formula below (the same as in Thakur, Rabenseifner & Gropp, 2005,
and checked message by message in :mod:`coursekit.distributed.collectives`): links are
full-duplex, a node sends at most one message and receives at most one message at a time, and
the arithmetic of a reduction is free (no :math:`\gamma` term). ``n_bytes`` is the size
:math:`N` of the vector every worker holds (the gradient).

References
----------
- R. Hockney, "The communication challenge for MPP: Intel Paragon and Meiko CS-2",
  *Parallel Computing* 20(3), 1994 (the alpha-beta model).
- R. Thakur, R. Rabenseifner, W. Gropp, "Optimization of collective communication operations in
  MPICH", *Int. J. High Performance Computing Applications* 19(1), 2005 (binomial trees, ring).
- P. Patarasuk, X. Yuan, "Bandwidth optimal all-reduce algorithms for clusters of
  workstations", *J. Parallel Distrib. Comput.* 69(2), 2009 (the ring is bandwidth optimal).
- M. Li et al., "Scaling distributed machine learning with the parameter server", OSDI 2014.
"""

from __future__ import annotations

import numpy as np

from coursekit._checks import check_choice, check_int, check_real

__all__ = [
    "ALGORITHMS",
    "message_time",
    "allreduce_time",
    "allreduce_bytes",
    "compute_time",
    "linear_model_flops",
    "fit_latency_bandwidth",
]

#: The all-reduce algorithms of the cost model (and of the simulator's synchronous strategies).
ALGORITHMS = ("naive", "parameter_server", "tree", "ring")


def _bandwidth(bandwidth) -> float:
    # Infinite bandwidth is a legitimate thought experiment (communication costs latency only).
    return check_real(bandwidth, "bandwidth", minimum=0.0, strict=True, allow_inf=True)


def _nonneg_array(value, name):
    arr = np.asarray(value, dtype=float)
    if np.isnan(arr).any() or np.isinf(arr).any():
        raise ValueError(f"{name} must be finite, got {value}")
    if (arr < 0).any():
        raise ValueError(f"{name} must be >= 0, got {value}")
    return arr


def _workers_array(n_workers):
    arr = np.asarray(n_workers)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"n_workers must be an integer (or integer array), got {n_workers!r}")
    if (arr < 1).any():
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    return arr.astype(np.int64)


def _out(arr):
    return float(arr) if np.ndim(arr) == 0 else arr


def message_time(n_bytes, latency, bandwidth):
    r"""Time of one point-to-point message, :math:`T = \alpha + n / B`.

    Parameters
    ----------
    n_bytes : float or array_like
        Message size :math:`n` in bytes (``>= 0``).
    latency : float
        :math:`\alpha` in seconds (``>= 0``).
    bandwidth : float
        :math:`B` in bytes per second (``> 0``; ``inf`` allowed).

    Returns
    -------
    float or ndarray (shape of ``n_bytes``)
    """
    n = _nonneg_array(n_bytes, "n_bytes")
    alpha = check_real(latency, "latency", minimum=0.0)
    return _out(alpha + n / _bandwidth(bandwidth))


def allreduce_time(n_bytes, n_workers, latency, bandwidth, algorithm="ring", shards=1):
    r"""Time for ``n_workers`` nodes to sum their vectors of ``n_bytes`` and all get the sum.

    With :math:`p` workers, :math:`N` bytes, latency :math:`\alpha`, bandwidth :math:`B`:

    ``"naive"`` (central node: gather to a root, which is one of the :math:`p` nodes, then
    broadcast; the root's one receive port and one send port serialise the messages):

    .. math:: T = 2 (p - 1) \left(\alpha + \frac{N}{B}\right)

    ``"parameter_server"`` with :math:`k` dedicated server shards, each owning :math:`N/k`
    bytes (Li et al., 2014). Push: each server receives :math:`p` messages, each worker sends
    :math:`k`; pull: the reverse, so each phase takes :math:`\max(p, k)` message slots:

    .. math:: T = 2 \max(p, k) \left(\alpha + \frac{N}{k B}\right)

    (with :math:`k = 1` this is the naive algorithm with a dedicated root: :math:`2p` messages).
    A single worker (:math:`p = 1`) pipelines: server :math:`j` returns its shard while the
    worker still pushes to server :math:`j + 1`, so :math:`T = (k + 1)(\alpha + N/(kB))`.

    ``"tree"`` (binomial-tree reduce followed by binomial-tree broadcast; Thakur et al., 2005):

    .. math:: T = 2 \lceil \log_2 p \rceil \left(\alpha + \frac{N}{B}\right)

    ``"ring"`` (reduce-scatter then all-gather around a ring, in chunks of :math:`N/p`;
    Patarasuk & Yuan, 2009; Thakur et al., 2005):

    .. math:: T = 2 (p - 1) \alpha + 2 \frac{p - 1}{p} \frac{N}{B}

    The ring's bandwidth term tends to :math:`2N/B` whatever :math:`p`, which is optimal; its
    latency term grows linearly in :math:`p`, the tree's only logarithmically.

    Parameters
    ----------
    n_bytes : float or array_like
        :math:`N`, bytes of each worker's vector (``>= 0``).
    n_workers : int or array_like of int
        :math:`p \ge 1` (with :math:`p = 1` every algorithm but the parameter server costs 0).
    latency : float
        :math:`\alpha` in seconds (``>= 0``).
    bandwidth : float
        :math:`B` in bytes/s (``> 0``, ``inf`` allowed).
    algorithm : {"naive", "parameter_server", "tree", "ring"}
    shards : int
        :math:`k \ge 1`, the number of parameter-server shards (only used by
        ``"parameter_server"``).

    Returns
    -------
    float or ndarray
        Seconds, broadcast over ``n_bytes`` and ``n_workers``.

    Examples
    --------
    >>> allreduce_time(8e6, 4, latency=1e-5, bandwidth=1e9, algorithm="ring")  # doctest: +ELLIPSIS
    0.01206...
    """
    algorithm = check_choice(algorithm, "algorithm", ALGORITHMS)
    n = _nonneg_array(n_bytes, "n_bytes")
    p = _workers_array(n_workers)
    alpha = check_real(latency, "latency", minimum=0.0)
    B = _bandwidth(bandwidth)
    k = check_int(shards, "shards", minimum=1)
    if algorithm == "naive":
        t = 2 * (p - 1) * (alpha + n / B)
    elif algorithm == "parameter_server":
        slots = np.where(p == 1, k + 1, 2 * np.maximum(p, k))
        t = slots * (alpha + n / (k * B))
    elif algorithm == "tree":
        # ceil(log2 p) from integer bit lengths: exact, unlike np.ceil(np.log2(p)) near powers of 2.
        rounds = np.vectorize(lambda q: (int(q) - 1).bit_length(), otypes=[np.int64])(p)
        t = 2 * rounds * (alpha + n / B)
    else:
        t = 2 * (p - 1) * alpha + 2 * (p - 1) / p * n / B
    return _out(t)


def allreduce_bytes(n_bytes, n_workers, algorithm="ring", shards=1):
    r"""Total bytes put on the network by one all-reduce (summed over all messages).

    .. math::

        \text{naive, tree, ring: } 2 (p - 1) N, \qquad
        \text{parameter\_server: } 2 p N .

    The ring sends :math:`2(p-1)` chunks of :math:`N/p` from each of :math:`p` nodes; a tree
    has :math:`p - 1` edges, each used once up and once down; a parameter server receives and
    returns every worker's full vector (in :math:`k` pieces, whatever :math:`k`).

    Parameters
    ----------
    n_bytes : float or array_like
    n_workers : int or array_like of int
    algorithm : {"naive", "parameter_server", "tree", "ring"}
    shards : int
        Accepted for symmetry with :func:`allreduce_time`; the total does not depend on it.

    Returns
    -------
    float or ndarray
    """
    algorithm = check_choice(algorithm, "algorithm", ALGORITHMS)
    n = _nonneg_array(n_bytes, "n_bytes")
    p = _workers_array(n_workers)
    check_int(shards, "shards", minimum=1)
    if algorithm == "parameter_server":
        return _out(2.0 * p * n)
    return _out(2.0 * (p - 1) * n)


def compute_time(flops, rate):
    r"""Seconds to do ``flops`` floating-point operations at ``rate`` flop/s: :math:`W / F`.

    Parameters
    ----------
    flops : float or array_like
        :math:`W \ge 0`.
    rate : float or array_like
        :math:`F > 0` (flop/s), broadcast against ``flops``.

    Returns
    -------
    float or ndarray
    """
    w = _nonneg_array(flops, "flops")
    f = np.asarray(rate, dtype=float)
    if np.isnan(f).any() or (f <= 0).any():
        raise ValueError(f"rate must be > 0 (flop/s), got {rate}")
    return _out(w / f)


def linear_model_flops(batch_size, dim):
    r"""Flops of a mini-batch gradient of a linear model (least squares, logistic).

    :math:`X_B w` costs :math:`2bd` and :math:`X_B^\top r` another :math:`2bd`:

    .. math:: W(b, d) = 4 b d .

    Parameters
    ----------
    batch_size : int or array_like
        :math:`b \ge 0` samples.
    dim : int
        :math:`d \ge 1` parameters.

    Returns
    -------
    float or ndarray
    """
    b = _nonneg_array(batch_size, "batch_size")
    d = check_int(dim, "dim", minimum=1)
    return _out(4.0 * b * d)


def fit_latency_bandwidth(n_bytes, seconds):
    r"""Fit :math:`T(n) = \alpha + n / B` to measured one-way message times (least squares).

    Used on a ping-pong: half the round-trip time of a message of :math:`n` bytes. The fit
    minimises the relative error :math:`\sum_i \bigl((\alpha + \beta n_i - t_i) / t_i\bigr)^2`
    (sizes usually span decades); :math:`B = 1 / \hat\beta`.

    Parameters
    ----------
    n_bytes : array_like, shape (m,)
        Message sizes, at least two distinct values.
    seconds : array_like, shape (m,)
        Measured one-way times.

    Returns
    -------
    latency : float
        :math:`\hat\alpha` (clipped at 0: a tiny negative intercept is measurement noise).
    bandwidth : float
        :math:`\hat B` in bytes/s (``inf`` if the fitted slope is not positive).
    """
    n = np.asarray(n_bytes, dtype=float)
    t = np.asarray(seconds, dtype=float)
    if n.ndim != 1 or t.shape != n.shape:
        raise ValueError(
            f"n_bytes and seconds must be 1-D of equal length, got {n.shape} and {t.shape}"
        )
    if np.unique(n).size < 2:
        raise ValueError("n_bytes must hold at least two distinct sizes to fit a line")
    if not (np.isfinite(n).all() and np.isfinite(t).all()):
        raise ValueError("n_bytes and seconds must be finite")
    if (t <= 0).any():
        raise ValueError("seconds must be > 0")
    # Relative least squares (rows divided by t): sizes span decades, and an unweighted fit
    # would let the largest message decide alone, swallowing the latency.
    A = np.column_stack([np.ones_like(n), n]) / t[:, None]
    (alpha, beta), *_ = np.linalg.lstsq(A, np.ones_like(t), rcond=None)
    return max(float(alpha), 0.0), (1.0 / beta if beta > 0 else float("inf"))
