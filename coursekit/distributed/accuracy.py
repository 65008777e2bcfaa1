r"""Time to accuracy: what a bigger global batch buys in steps, and what it costs per step.

More workers mean a bigger global batch :math:`m = p b` (weak scaling) or smaller shards
(strong scaling). The figure of merit is the wall-clock time to reach a target loss,

.. math::

    T_{\text{target}}(p) = S(m)\, T_{\text{step}}(p, m),

the **statistical** part :math:`S(m)` (steps to the target with a batch of :math:`m`, which
no cluster changes: :math:`p` workers compute the iterates of one machine with batch
:math:`m`) times the **hardware** part (the cost model's step time).

:math:`S(m)` falls like :math:`1/m` only while the learning rate can grow with the batch: the
**linear scaling rule** :math:`\eta(m) = \eta_0\, m / m_0` with a **warm-up** that ramps the
rate up over the first steps (Goyal et al., 2017). Beyond the **critical batch size** a bigger
batch stops saving steps. McCandlish et al. (2018) estimate it by the **gradient noise scale**

.. math::

    B_{\text{noise}} = \frac{\operatorname{tr}\Sigma}{\lVert \nabla f \rVert^2},
    \qquad \Sigma = \operatorname{Cov}_i\bigl[\nabla f_i(x)\bigr],

the batch at which the noise of a mini-batch gradient,
:math:`\operatorname{tr}\Sigma / m`, equals the squared signal :math:`\lVert\nabla f\rVert^2`.

References
----------
- P. Goyal et al., "Accurate, large minibatch SGD: training ImageNet in 1 hour",
  arXiv:1706.02677, 2017.
- S. McCandlish, J. Kaplan, D. Amodei et al., "An empirical model of large-batch training",
  arXiv:1812.06162, 2018.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coursekit._checks import check_int, check_real
from coursekit.data import batch_indices

__all__ = [
    "warmup_linear",
    "noise_scale",
    "NoiseScale",
    "batch_sweep",
    "BatchRun",
    "steps_to_target",
    "time_to_target",
    "fastest_to_target",
]


def warmup_linear(base_lr, base_batch, batch, warmup_steps=0, max_lr=None):
    r"""The linear scaling rule with a linear warm-up, as a schedule ``lr_t = s(lr0, t)``.

    .. math::

        \eta_t = \eta(m)\,\min\Bigl(1,\ \frac{\eta_0}{\eta(m)}
                 + \bigl(1 - \frac{\eta_0}{\eta(m)}\bigr)\frac{t}{t_w}\Bigr),
        \qquad \eta(m) = \min\Bigl(\eta_0 \frac{m}{m_0},\ \eta_{\max}\Bigr),

    so the rate starts at the base rate :math:`\eta_0` and reaches :math:`\eta(m)` after
    :math:`t_w` = ``warmup_steps`` steps (Goyal et al.'s gradual warm-up). The ceiling
    :math:`\eta_{\max}` (none by default) is the rule's limit: past the batch where the
    scaled rate no longer trains, the rate stays at the largest one that does.

    Parameters
    ----------
    base_lr : float
        :math:`\eta_0 > 0`, tuned for the base batch.
    base_batch, batch : int
        :math:`m_0` and :math:`m \ge 1`.
    warmup_steps : int
        :math:`t_w \ge 0` (0: no warm-up).
    max_lr : float, optional
        :math:`\eta_{\max}`.

    Returns
    -------
    callable ``(lr0, t) -> float``
        Ignores ``lr0`` (the rule fixes the rate); pass it as ``schedule=`` with any ``lr``.
    """
    eta0 = check_real(base_lr, "base_lr", minimum=0.0, strict=True)
    m0 = check_int(base_batch, "base_batch", minimum=1)
    m = check_int(batch, "batch", minimum=1)
    tw = check_int(warmup_steps, "warmup_steps", minimum=0)
    target = eta0 * m / m0
    if max_lr is not None:
        target = min(target, check_real(max_lr, "max_lr", minimum=0.0, strict=True))

    def schedule(lr0, t):
        if tw == 0 or t >= tw:
            return target
        return eta0 + (target - eta0) * t / tw

    return schedule


@dataclass
class NoiseScale:
    """What :func:`noise_scale` measures at one point :math:`x`.

    Attributes
    ----------
    trace : float
        :math:`\\operatorname{tr}\\Sigma`, the summed variance of the per-sample gradients.
    grad_sq : float
        :math:`\\lVert \\nabla f \\rVert^2`, unbiased: :math:`\\lVert \\bar g\\rVert^2 -
        \\operatorname{tr}\\Sigma / n`.
    b_noise : float
        :math:`\\operatorname{tr}\\Sigma / \\lVert \\nabla f\\rVert^2` (``inf`` if the gradient
        is indistinguishable from noise).
    n : int
        Per-sample gradients used.
    """

    trace: float
    grad_sq: float
    b_noise: float
    n: int


def noise_scale(objective, x, idx=None):
    r"""The gradient noise scale :math:`B_{\text{noise}}` from per-sample gradients.

    With :math:`g_i = \nabla f_i(x)` for the :math:`n` rows ``idx`` (all rows by default) and
    their mean :math:`\bar g`,

    .. math::

        \widehat{\operatorname{tr}\Sigma} = \frac{1}{n-1}\sum_i \lVert g_i - \bar g\rVert^2,
        \qquad \widehat{\lVert\nabla f\rVert^2} = \lVert \bar g\rVert^2
        - \frac{\widehat{\operatorname{tr}\Sigma}}{n},

    (both unbiased over a random choice of the rows), and
    :math:`B_{\text{noise}} = \widehat{\operatorname{tr}\Sigma} / \widehat{\lVert\nabla
    f\rVert^2}`. Uses ``sample_grads`` when the objective has it, else one ``grad`` call per
    row (a CNN).

    Parameters
    ----------
    objective : FiniteSum-like
    x : array_like, shape (d,)
    idx : array_like of int, optional
        At least 2 rows.

    Returns
    -------
    NoiseScale
    """
    rows = np.arange(objective.n_samples) if idx is None else np.asarray(idx)
    if rows.ndim != 1 or rows.size < 2:
        raise ValueError(f"idx must hold at least 2 rows, got shape {rows.shape}")
    if callable(getattr(objective, "sample_grads", None)):
        G = np.asarray(objective.sample_grads(x, rows), dtype=float)
    else:
        G = np.stack(
            [np.asarray(objective.grad(x, rows[i : i + 1]), dtype=float) for i in range(rows.size)]
        )
    n = rows.size
    mean = G.mean(axis=0)
    trace = float(((G - mean) ** 2).sum() / (n - 1))
    grad_sq = float(mean @ mean - trace / n)
    b = trace / grad_sq if grad_sq > 0 else math.inf
    return NoiseScale(trace=trace, grad_sq=grad_sq, b_noise=b, n=int(n))


@dataclass
class BatchRun:
    """One run of :func:`batch_sweep`: a batch size, its rate, its losses per evaluation.

    Attributes
    ----------
    batch : int
    lr : float
        The rate after warm-up, :math:`\\eta(m)`.
    steps : ndarray of int, shape (k,)
        Steps done at each evaluation (0 first).
    losses : ndarray, shape (k,)
        :math:`f(x)` on the evaluation rows at those steps.
    x : ndarray, shape (d,)
        Final parameters.
    diverged : bool
    """

    batch: int
    lr: float
    steps: np.ndarray
    losses: np.ndarray
    x: np.ndarray
    diverged: bool


def batch_sweep(
    objective,
    x0,
    batches,
    *,
    epochs,
    base_lr,
    base_batch,
    warmup_epochs=0.0,
    evals_per_epoch=4,
    eval_idx=None,
    seed=0,
    max_lr=None,
):
    r"""Plain mini-batch SGD for each batch size, with the linear scaling rule and warm-up.

    Every run sees the same number of samples (``epochs`` passes over the data, the course's
    batch order :func:`coursekit.data.batch_indices`), so a batch :math:`m` takes
    :math:`\lceil n/m\rceil` steps per epoch with the rate :func:`warmup_linear`
    ``(base_lr, base_batch, m, warmup)``, warm-up over ``warmup_epochs`` epochs' steps (at
    least one step). This is the experiment of Goyal et al.'s Figure 1 in small.

    Parameters
    ----------
    objective : FiniteSum-like
    x0 : array_like, shape (d,)
    batches : sequence of int
    epochs : int
    base_lr : float
        :math:`\eta_0` for ``base_batch``.
    base_batch : int
    warmup_epochs : float
    evals_per_epoch : int
        Loss evaluations per epoch (plus one at the start).
    eval_idx : array_like of int, optional
        Rows of the loss evaluations (default all: the full training loss).
    seed : int
    max_lr : float, optional
        The ceiling of :func:`warmup_linear`.

    Returns
    -------
    list of BatchRun
    """
    epochs = check_int(epochs, "epochs", minimum=1)
    base_lr = check_real(base_lr, "base_lr", minimum=0.0, strict=True)
    base_batch = check_int(base_batch, "base_batch", minimum=1)
    warmup_epochs = check_real(warmup_epochs, "warmup_epochs", minimum=0.0)
    evals = check_int(evals_per_epoch, "evals_per_epoch", minimum=1)
    n = objective.n_samples
    x0 = np.asarray(x0)
    out = []
    for m in batches:
        m = check_int(m, "batches", minimum=1)
        if m > n:
            raise ValueError(f"batches must be <= n_samples = {n}, got {m}")
        per_epoch = -(-n // m)
        total = epochs * per_epoch
        tw = max(1, round(warmup_epochs * per_epoch)) if warmup_epochs > 0 else 0
        sched = warmup_linear(base_lr, base_batch, m, tw, max_lr)
        marks = set(np.unique(np.linspace(0, total, epochs * evals + 1).round().astype(int)))
        x = x0.copy()
        steps, losses, diverged = [], [], False
        it = batch_indices(n, m, seed=seed)
        for t in range(total + 1):
            if t in marks:
                loss = objective.value(x, eval_idx) if eval_idx is not None else objective.value(x)
                steps.append(t)
                losses.append(loss)
                if not np.isfinite(loss) or loss > 1e6:
                    diverged = True
                    break
            if t == total:
                break
            _, idx = next(it)
            with np.errstate(over="ignore", invalid="ignore"):
                x = x - sched(None, t) * np.asarray(objective.grad(x, idx), dtype=x.dtype)
        out.append(
            BatchRun(
                batch=m,
                lr=sched(None, total),
                steps=np.array(steps),
                losses=np.array(losses),
                x=x,
                diverged=diverged,
            )
        )
    return out


def steps_to_target(steps, losses, target):
    r"""First step at which the loss is :math:`\le` ``target`` (``inf`` if never), read off
    evaluations at ``steps`` (linear interpolation between the two evaluations around the
    crossing, so that sparse evaluations do not round the count up to the next one)."""
    steps = np.asarray(steps, dtype=float)
    losses = np.asarray(losses, dtype=float)
    if steps.shape != losses.shape or steps.ndim != 1 or steps.size == 0:
        raise ValueError(
            f"steps and losses must be 1-D of equal length, got {steps.shape} and {losses.shape}"
        )
    hit = np.flatnonzero(losses <= target)
    if hit.size == 0:
        return math.inf
    j = int(hit[0])
    if j == 0:
        return float(steps[0])
    l0, l1 = losses[j - 1], losses[j]
    frac = (l0 - target) / (l0 - l1) if l0 > l1 else 1.0
    return float(steps[j - 1] + frac * (steps[j] - steps[j - 1]))


def time_to_target(
    steps_by_batch,
    per_worker_batch,
    worker_counts,
    *,
    flops_per_sample,
    rate,
    n_bytes,
    latency,
    bandwidth,
    algorithm="ring",
):
    r"""Weak scaling's time to a target: statistical part times hardware part, per :math:`p`.

    With :math:`b` samples per worker the global batch is :math:`m = p b`; the steps to the
    target :math:`S(m)` are read off ``steps_by_batch`` (measured, e.g. with
    :func:`batch_sweep` and :func:`steps_to_target`; log-log interpolation between measured
    batches), and a step costs

    .. math::

        T_\text{step}(p) = \frac{b\,w}{F} + T_{\text{allreduce}}(N, p; \alpha, B),
        \qquad T_\text{target}(p) = S(p b)\, T_\text{step}(p).

    Parameters
    ----------
    steps_by_batch : mapping int -> float
        :math:`S(m)` at measured batches (``inf`` where the target is never reached).
    per_worker_batch : int
        :math:`b`.
    worker_counts : sequence of int
        :math:`p`; every :math:`p b` must lie within the measured batches.
    flops_per_sample, rate, n_bytes, latency, bandwidth, algorithm
        :math:`w, F, N, \alpha, B` and the all-reduce
        (:func:`coursekit.distributed.cost.allreduce_time`).

    Returns
    -------
    dict of ndarrays, shape (len(worker_counts),)
        ``p``, ``batch`` (:math:`m`), ``steps`` (:math:`S`), ``step_time``
        (:math:`T_\text{step}`), ``time`` (:math:`T_\text{target}`).
    """
    from . import cost

    b = check_int(per_worker_batch, "per_worker_batch", 1)
    ms = np.array(sorted(steps_by_batch), dtype=float)
    if ms.size == 0:
        raise ValueError("steps_by_batch must hold at least one measured batch")
    S = np.array([steps_by_batch[int(m)] for m in ms], dtype=float)
    p = np.array([check_int(q, "worker_counts", 1) for q in worker_counts])
    m = p * b
    if m.min() < ms[0] or m.max() > ms[-1]:
        raise ValueError(
            f"worker_counts: p * b must lie within the measured batches "
            f"[{ms[0]:g}, {ms[-1]:g}], got {m.min()}..{m.max()}"
        )
    with np.errstate(divide="ignore"):
        steps = np.exp(np.interp(np.log(m), np.log(ms), np.log(S)))
    w = check_real(flops_per_sample, "flops_per_sample", minimum=0.0)
    F = check_real(rate, "rate", minimum=0.0, strict=True)
    step = b * w / F + cost.allreduce_time(n_bytes, p, latency, bandwidth, algorithm)
    return {"p": p, "batch": m, "steps": steps, "step_time": step, "time": steps * step}


def fastest_to_target(by_algorithm):
    """The all-reduce algorithm and the worker count that reach the target soonest.

    Parameters
    ----------
    by_algorithm : mapping str -> dict
        :func:`time_to_target`'s result for each algorithm (at one bandwidth).

    Returns
    -------
    (str, int)
        The algorithm and the index of its best :math:`p` in ``result["p"]`` (the smallest
        ``time``, NaN ignored; on a tie, the first algorithm in the mapping's order).
    """
    return min(
        ((a, int(np.nanargmin(r["time"]))) for a, r in by_algorithm.items()),
        key=lambda ai: by_algorithm[ai[0]]["time"][ai[1]],
    )
