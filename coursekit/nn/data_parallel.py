r"""Data parallelism inside one process: one shard of the batch per thread.

The distributed chapters split a batch among processes; this module does the same among
the threads of ONE process. The mean loss of a batch of :math:`N` examples split into
shards :math:`S_1, \dots, S_T` of sizes :math:`n_t` is a weighted mean of the shards'
mean losses, and so is its gradient (differentiation is linear):

.. math::

    L = \frac1N \sum_{i=1}^N \ell_i = \sum_{t=1}^T \frac{n_t}{N} L_t, \qquad
    \nabla L = \sum_{t=1}^T \frac{n_t}{N} \nabla L_t, \qquad
    L_t = \frac1{n_t} \sum_{i \in S_t} \ell_i .

Thread :math:`t` runs the forward AND the backward pass of its shard, on its own copy of
the network's scratch buffers (:meth:`~coursekit.nn.model.VGG.replicas`: the same
parameters, its own workspaces and caches), with BLAS on one thread; the weight
:math:`n_t / N` is applied to the gradient of the loss with respect to the logits (the
backward pass is linear in it), so the shards' parameter gradients only need adding. The
caller then takes ONE optimiser step with the sum, exactly as with the whole batch (up to
float rounding: the sums run in another order). One hand-over per training step, where
sharing out every layer's pass costs one per pass. NumPy and BLAS release the GIL during
the products and copies, which is where the time goes when the shards are big enough.

Which process and thread runs what: shard 0 runs in the calling thread, shards
:math:`1..T-1` in a pool of :math:`T-1` threads of the same process, started on first
use and kept.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from coursekit.nn import layers
from coursekit.nn.conv_fast import one_blas_thread

__all__ = [
    "MIN_SHARD_FLOPS",
    "shard_bounds",
    "threads_for",
    "loss",
]

#: Below this many FLOPs of training work per shard, a step stays on one thread. The
#: digits' step (64 images of 8 x 8, 144 MFLOP) is made of hundreds of small NumPy calls
#: whose Python part holds the GIL: split in two on this course's 2-core machine, its
#: shards spent 11-17 % more CPU time than the whole step (same process, alternated), and
#: sharing each pass among threads ran at 0.84-0.90 of one thread, so it stays whole. The
#: 28 x 28 step (1769 MFLOP) is mostly BLAS and large copies, which release the GIL: its
#: two shards cost the same CPU time as the whole step, and it is split.
MIN_SHARD_FLOPS = 200_000_000

_POOL: ThreadPoolExecutor | None = None


def _forget_pool():
    """In a forked child the pool's threads do not exist: start a new pool on first use
    (a child that reused the parent's would wait forever for its shards)."""
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def threads_for(model, n, threads):
    """Threads worth using for a training step of ``model`` on ``n`` images: at most
    ``threads`` and ``n`` (a shard holds one image at least), and only as many as give
    every shard ``MIN_SHARD_FLOPS`` of the step's work (1 below that)."""
    if threads <= 1:
        return 1
    from coursekit.nn.analysis import step_flops  # analysis imports the model module

    fit = int(step_flops(model, n) // MIN_SHARD_FLOPS)
    return max(1, min(threads, n, fit))


def shard_bounds(n, parts):
    """``parts + 1`` boundaries splitting ``range(n)`` into ``parts`` near-equal shards
    (sizes differ by at most one)."""
    return [(n * t) // parts for t in range(parts + 1)]


def _pool(workers):
    """The pool of worker threads (at least ``workers``), started on first use."""
    global _POOL
    if _POOL is None or _POOL._max_workers < workers:
        _POOL = ThreadPoolExecutor(workers, thread_name_prefix="shard")
    return _POOL


def _shard(model, x, y, n_total):
    """Forward + backward of one shard: ``(n_t / N) L_t`` and ``(n_t / N) grad L_t``."""
    logits = model.forward(x)
    loss_t, dlogits = layers.softmax_cross_entropy(logits, y)
    weight = x.shape[0] / n_total
    grads = model.backward(dlogits * np.asarray(weight, dlogits.dtype))
    return loss_t * weight, grads


def loss(model, x, y, threads):
    r"""Mean loss of the batch ``(x, y)`` and its gradient, the batch split among ``threads``.

    Parameters
    ----------
    model : coursekit.nn.model.VGG
    x : ndarray (N, C, H, W), already checked and in the model's dtype
    y : int ndarray (N,)
    threads : int >= 1, shards (one per thread; at most N)

    Returns
    -------
    loss : float, :math:`\sum_t (n_t/N) L_t`
    grads : dict[str, ndarray], :math:`\sum_t (n_t/N) \nabla L_t`, also left in
        ``model.grads``
    """
    n = x.shape[0]
    y = np.asarray(y)
    # Checked here: a shard would report a wrong length
    # of y as a different one.
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    threads = max(1, min(int(threads), n))
    bounds = shard_bounds(n, threads)
    replicas = model.replicas(threads - 1)
    with one_blas_thread():
        if threads == 1:
            return _shard(model, x, y, n)
        # Shards 1..T-1 in the pool's threads, shard 0 here.
        pool = _pool(threads - 1)
        shards = zip(bounds[1:-1], bounds[2:], strict=True)
        futures = [
            pool.submit(_shard, rep, x[a:b], y[a:b], n)
            for rep, (a, b) in zip(replicas, shards, strict=True)
        ]
        total, grads = _shard(model, x[: bounds[1]], y[: bounds[1]], n)
        for fut in futures:
            loss_t, grads_t = fut.result()
            total += loss_t
            for k in grads:
                grads[k] += grads_t[k]
    model.grads = grads
    # The model's caches hold shard 0 only: refuse a backward().
    model._caches = []
    return total, grads
