r"""Backup workers against stragglers: the expected wait, in closed form and sampled.

A synchronous step with backup workers starts :math:`p + s` workers and goes on with the first
:math:`p` gradients to arrive (Chen et al., 2016). If the workers' compute times are
independent exponentials of mean :math:`\tau` (the memoryless model of a shared machine), the
step waits for the :math:`p`-th smallest of :math:`p + s` of them. By the memoryless property
the gaps between successive arrivals are exponential with rates :math:`(p+s)/\tau,
(p+s-1)/\tau, \dots`, so

.. math::

    \mathbb E\bigl[T_{(p)}\bigr] = \tau \sum_{j=s+1}^{p+s} \frac1j
    = \tau \bigl(H_{p+s} - H_s\bigr),
    \qquad H_k = \sum_{j=1}^{k} \frac1j ,

against :math:`\tau H_p \approx \tau \ln p` without backups: waiting for the slowest of
:math:`p` grows without bound, while with :math:`s \propto p` spares the wait stays bounded
(:math:`H_{p+s} - H_s \to \ln(1 + p/s)`).

Reference: J. Chen, X. Pan, R. Monga, S. Bengio, R. Jozefowicz, "Revisiting distributed
synchronous SGD", arXiv:1604.00981, 2016.
"""

from __future__ import annotations

import numpy as np

from coursekit._checks import check_int, check_real

__all__ = ["harmonic", "expected_wait", "sampled_wait"]


def harmonic(k):
    r""":math:`H_k = \sum_{j=1}^k 1/j` (:math:`H_0 = 0`), elementwise for integer arrays."""
    k = np.asarray(k)
    if k.dtype == bool or not np.issubdtype(k.dtype, np.integer) or (k < 0).any():
        raise ValueError(f"k must be integers >= 0, got {k}")
    top = int(k.max()) if k.size else 0
    table = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, top + 1))])
    out = table[k]
    return float(out) if out.ndim == 0 else out


def expected_wait(p, s=0, mean=1.0):
    r"""Expected time until :math:`p` of :math:`p + s` exponential workers have finished.

    .. math:: \mathbb E[T_{(p)}] = \tau\,(H_{p+s} - H_s)

    Parameters
    ----------
    p : int or array_like of int
        Gradients the step needs, :math:`p \ge 1`.
    s : int or array_like of int
        Backup workers, :math:`s \ge 0`.
    mean : float
        :math:`\tau`, the mean compute time of one worker.

    Returns
    -------
    float or ndarray
    """
    p = np.asarray(p)
    s = np.asarray(s)
    if (p < 1).any():
        raise ValueError(f"p must be >= 1, got {p}")
    tau = check_real(mean, "mean", minimum=0.0, strict=True)
    return tau * (harmonic(p + s) - harmonic(s))


def sampled_wait(p, s=0, mean=1.0, steps=10_000, seed=0):
    r"""The same wait measured: the :math:`p`-th smallest of :math:`p + s` exponential draws,
    averaged over ``steps`` simulated steps.

    Returns
    -------
    mean : float
        The average wait.
    stderr : float
        Its standard error (the spread of the per-step waits over :math:`\sqrt{\text{steps}}`).
    """
    p = check_int(p, "p", minimum=1)
    s = check_int(s, "s", minimum=0)
    tau = check_real(mean, "mean", minimum=0.0, strict=True)
    steps = check_int(steps, "steps", minimum=2)
    times = np.random.default_rng(seed).exponential(tau, size=(steps, p + s))
    waits = np.partition(times, p - 1, axis=1)[:, p - 1]
    return float(waits.mean()), float(waits.std(ddof=1) / np.sqrt(steps))
