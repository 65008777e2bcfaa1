r"""Partial offloading: how much of a batch should the central node hand to its helpers?

The central node has a mini-batch whose gradient costs :math:`W` flops and whose samples weigh
:math:`D` bytes. It keeps a fraction :math:`\lambda` and offloads :math:`1 - \lambda` to a
helper over a link. Both paths run at the same time; the step ends when the slower one ends.

**Local path.** The central node computes at rate :math:`f_l` (flop/s):
:math:`T_l(\lambda) = \lambda a` with :math:`a = W / f_l`.

**Remote path.** The samples travel at link rate :math:`r` (bytes/s), the helper computes at
:math:`f_s`, and its partial gradient of :math:`G` bytes comes back; each of the two messages
pays a latency :math:`\alpha`:

.. math::

    T_s(\lambda) = \underbrace{2\alpha + G / r}_{c}
                 + (1 - \lambda)\underbrace{\left(\frac{D}{r} + \frac{W}{f_s}\right)}_{b}
    \quad (\lambda < 1), \qquad T_s(1) = 0 .

**Step time.** :math:`T(\lambda) = \max(T_l(\lambda), T_s(\lambda))`.

**The optimum.** :math:`T_l` increases and :math:`T_s` decreases in :math:`\lambda`, so the
maximum is smallest where the paths balance, :math:`\lambda a = c + (1-\lambda) b`:

.. math::

    \lambda^* = \frac{b + c}{a + b}, \qquad T^* = \frac{a (b + c)}{a + b},
    \qquad \text{speed-up } \frac{a}{T^*} = \frac{a + b}{b + c}.

**When offloading does not pay.** :math:`\lambda^* < 1` iff :math:`c < a`: the fixed cost of
involving the helper (latencies and returning the gradient) must be smaller than computing the
whole batch locally. Otherwise :math:`\lambda^* = 1` and :math:`T^* = a`. With :math:`c = 0`
offloading always pays, and with an infinitely fast helper and link (:math:`b \to 0`) the
speed-up tends to :math:`a / c`: the fixed cost is the limit (Amdahl's law in disguise).

**Many helpers.** Helper :math:`i` has its own :math:`b_i, c_i`; the central node keeps
:math:`\lambda_0`. At the optimum every used path finishes at the same :math:`T`:
:math:`\lambda_0 = T / a`, :math:`\lambda_i = (T - c_i) / b_i`, and
:math:`\sum \lambda = 1` gives

.. math::

    T_S = \frac{1 + \sum_{i \in S} c_i / b_i}{1 / a + \sum_{i \in S} 1 / b_i}

for the set :math:`S` of helpers used. :math:`T_{S \cup \{j\}}` is a mediant of :math:`T_S`
and :math:`c_j`, so adding helper :math:`j` helps iff :math:`c_j < T_S`: the optimal set is
found by adding helpers in increasing order of :math:`c_i` while :math:`c_i < T_S`
(water-filling). With no communication at all (:math:`c_i = 0`, :math:`D = 0`) this is the
split proportional to speed, :math:`\lambda_i = f_i / \sum_j f_j` (:func:`proportional_split`).

All functions take plain numbers and return plain numbers or a small dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _check

__all__ = [
    "OffloadPlan",
    "step_time",
    "optimal_fraction",
    "offload_pays",
    "split_time",
    "optimal_split",
    "proportional_split",
    "integer_split",
]


def _paths(
    work, local_rate, remote_rates, link_rates, data_bytes, result_bytes, latency, single=False
):
    """Return ``a`` and per-helper ``b`` (k,), ``c`` (k,) of the module's model."""
    W = _check.real(work, "work", minimum=0.0, strict=True)
    fl = _check.real(local_rate, "local_rate", minimum=0.0, strict=True)
    if single:
        # One helper: scalar arguments named as in the single-helper functions.
        fs = np.array([_check.real(remote_rates, "remote_rate", minimum=0.0, strict=True)])
        r = np.array(
            [_check.real(link_rates, "link_rate", minimum=0.0, strict=True, allow_inf=True)]
        )
    else:
        fs = _check.positive_array(remote_rates, "remote_rates")
        r = _check.positive_array(link_rates, "link_rates", length=fs.size, allow_inf=True)
    D = _check.real(data_bytes, "data_bytes", minimum=0.0)
    G = _check.real(result_bytes, "result_bytes", minimum=0.0)
    alpha = _check.real(latency, "latency", minimum=0.0)
    a = W / fl
    b = D / r + W / fs
    c = 2 * alpha + G / r
    return a, b, c


def _fraction(lam, name="lam"):
    arr = np.asarray(lam, dtype=float)
    if np.isnan(arr).any() or (arr < 0).any() or (arr > 1).any():
        raise ValueError(f"{name} must lie in [0, 1], got {lam}")
    return arr


def step_time(
    lam,
    work,
    local_rate,
    remote_rate,
    link_rate,
    data_bytes=0.0,
    result_bytes=0.0,
    latency=0.0,
):
    r"""Time of one step when the central node keeps the fraction ``lam`` of the batch.

    .. math::

        T(\lambda) = \max\Bigl(\lambda \frac{W}{f_l},\;
        \mathbb 1[\lambda < 1] \bigl(2\alpha + \tfrac{G}{r}
        + (1 - \lambda)(\tfrac{D}{r} + \tfrac{W}{f_s})\bigr)\Bigr)

    Parameters
    ----------
    lam : float or array_like
        :math:`\lambda \in [0, 1]`, fraction computed locally (vectorised: pass a grid).
    work : float
        :math:`W > 0`, flops of the whole batch's gradient.
    local_rate, remote_rate : float
        :math:`f_l, f_s > 0` in flop/s.
    link_rate : float
        :math:`r > 0` in bytes/s (may be ``inf``).
    data_bytes : float
        :math:`D \ge 0`, bytes of the whole batch's samples (0 if the helper already has them).
    result_bytes : float
        :math:`G \ge 0`, bytes of the partial gradient sent back.
    latency : float
        :math:`\alpha \ge 0`, seconds per message.

    Returns
    -------
    float or ndarray (shape of ``lam``)
    """
    lam = _fraction(lam)
    a, b, c = _paths(
        work, local_rate, remote_rate, link_rate, data_bytes, result_bytes, latency, single=True
    )
    remote = np.where(lam < 1, c[0] + (1 - lam) * b[0], 0.0)
    t = np.maximum(lam * a, remote)
    return float(t) if t.ndim == 0 else t


def optimal_fraction(
    work,
    local_rate,
    remote_rate,
    link_rate,
    data_bytes=0.0,
    result_bytes=0.0,
    latency=0.0,
):
    r"""The closed-form best local fraction :math:`\lambda^* = \min\bigl(1, (b + c)/(a + b)\bigr)`.

    With :math:`a = W/f_l`, :math:`b = D/r + W/f_s`, :math:`c = 2\alpha + G/r` (see the module
    docstring for the derivation). Parameters as :func:`step_time`.

    Returns
    -------
    float
        :math:`\lambda^* \in (0, 1]`; exactly 1 when offloading does not pay (:math:`c \ge a`).
    """
    a, b, c = _paths(
        work, local_rate, remote_rate, link_rate, data_bytes, result_bytes, latency, single=True
    )
    if c[0] >= a:
        return 1.0
    return float((b[0] + c[0]) / (a + b[0]))


def offload_pays(
    work,
    local_rate,
    remote_rate,
    link_rate,
    data_bytes=0.0,
    result_bytes=0.0,
    latency=0.0,
):
    r"""Whether some offloading beats computing alone: :math:`c < a`, i.e.

    .. math:: 2\alpha + \frac{G}{r} < \frac{W}{f_l}.

    Note that neither the helper's speed :math:`f_s` nor the data size :math:`D` enter: a
    slow helper or a thin link only shrink the optimal share, they never make a small share
    worse than none. Parameters as :func:`step_time`.

    Returns
    -------
    bool
    """
    a, _, c = _paths(
        work, local_rate, remote_rate, link_rate, data_bytes, result_bytes, latency, single=True
    )
    return bool(c[0] < a)


@dataclass
class OffloadPlan:
    """The optimal split of a batch between the central node and its helpers.

    Attributes
    ----------
    fractions : ndarray, shape (k + 1,)
        ``fractions[0]`` is kept by the central node, ``fractions[i]`` goes to helper ``i``;
        they sum to 1.
    time : float
        The step time :math:`T^*` (every used path finishes then).
    local_time : float
        :math:`a = W / f_l`, the time without offloading.
    used : ndarray of bool, shape (k,)
        Which helpers get work.

    speedup : float (property)
        ``local_time / time``.
    """

    fractions: np.ndarray
    time: float
    local_time: float
    used: np.ndarray

    @property
    def speedup(self) -> float:
        return self.local_time / self.time


def split_time(
    fractions,
    work,
    local_rate,
    remote_rates,
    link_rates,
    data_bytes=0.0,
    result_bytes=0.0,
    latency=0.0,
):
    r"""Step time of a given split among the central node and :math:`k` helpers.

    .. math::

        T = \max\Bigl(\lambda_0 a,\; \max_{i:\,\lambda_i > 0} \bigl(c_i + \lambda_i b_i\bigr)\Bigr)

    Parameters
    ----------
    fractions : array_like, shape (k + 1,) or (m, k + 1)
        Non-negative, summing to 1 along the last axis (several splits at once allowed).
    work, local_rate, data_bytes, result_bytes, latency
        As in :func:`step_time`.
    remote_rates, link_rates : array_like, shape (k,)
        Helper speeds :math:`f_i` (flop/s) and their link rates :math:`r_i` (bytes/s).

    Returns
    -------
    float or ndarray, shape (m,)
    """
    a, b, c = _paths(work, local_rate, remote_rates, link_rates, data_bytes, result_bytes, latency)
    lam = _fraction(fractions, "fractions")
    if lam.shape[-1] != b.size + 1:
        raise ValueError(
            f"fractions must have {b.size + 1} entries (central node + {b.size} helpers) along "
            f"the last axis, got shape {lam.shape}"
        )
    if not np.allclose(lam.sum(axis=-1), 1.0):
        raise ValueError(f"fractions must sum to 1, got sums {lam.sum(axis=-1)}")
    remote = np.where(lam[..., 1:] > 0, c + lam[..., 1:] * b, 0.0)
    t = np.maximum(lam[..., 0] * a, remote.max(axis=-1))
    return float(t) if t.ndim == 0 else t


def optimal_split(
    work,
    local_rate,
    remote_rates,
    link_rates,
    data_bytes=0.0,
    result_bytes=0.0,
    latency=0.0,
):
    r"""Optimal fractions for the central node and :math:`k` heterogeneous helpers.

    Water-filling over helpers sorted by fixed cost :math:`c_i` (module docstring):

    .. math::

        T_S = \frac{1 + \sum_{i \in S} c_i / b_i}{1 / a + \sum_{i \in S} 1 / b_i}, \quad
        \lambda_0 = \frac{T_S}{a}, \quad \lambda_i = \frac{T_S - c_i}{b_i}\ (i \in S).

    Parameters
    ----------
    As :func:`split_time` (without ``fractions``).

    Returns
    -------
    OffloadPlan
    """
    a, b, c = _paths(work, local_rate, remote_rates, link_rates, data_bytes, result_bytes, latency)
    k = b.size
    order = np.argsort(c, kind="stable")
    num, den = 1.0, 1.0 / a
    T = a
    used = np.zeros(k, dtype=bool)
    for i in order:
        if not c[i] < T:
            break  # c is sorted: no later helper can pay either
        num += c[i] / b[i]
        den += 1.0 / b[i]
        T = num / den
        used[i] = True
    fractions = np.zeros(k + 1)
    fractions[0] = T / a
    # b > 0 always (finite helper speed, W > 0), so the division is safe.
    fractions[1:] = np.where(used, (T - c) / b, 0.0)
    return OffloadPlan(fractions=fractions, time=float(T), local_time=float(a), used=used)


def proportional_split(rates):
    r"""Shares proportional to speed, :math:`\lambda_i = f_i / \sum_j f_j`.

    With no communication cost, every node then finishes its share of a batch of :math:`W`
    flops at the same time :math:`W / \sum_j f_j`, which is optimal: any other split makes
    some node finish later.

    Parameters
    ----------
    rates : array_like, shape (p,)
        Node speeds :math:`f_i > 0`.

    Returns
    -------
    ndarray, shape (p,)
        Fractions summing to 1.
    """
    f = _check.positive_array(rates, "rates")
    return f / f.sum()


def integer_split(fractions, n):
    r"""Turn fractions into integer sample counts summing to ``n`` (largest remainder).

    Each count is :math:`\lfloor \lambda_i n \rfloor` or that plus one; the leftover samples go
    to the largest fractional parts (ties to the lower index), so the rounding error of every
    share is below one sample.

    Parameters
    ----------
    fractions : array_like, shape (p,)
        Non-negative, summing to 1.
    n : int
        Samples to distribute, ``n >= 0``.

    Returns
    -------
    ndarray of int64, shape (p,)
    """
    lam = _fraction(fractions, "fractions")
    if lam.ndim != 1 or lam.size == 0:
        raise ValueError(f"fractions must be a non-empty 1-D array, got shape {lam.shape}")
    if not np.isclose(lam.sum(), 1.0):
        raise ValueError(f"fractions must sum to 1, got {lam.sum()}")
    n = _check.integer(n, "n", minimum=0)
    exact = lam * n
    counts = np.floor(exact).astype(np.int64)
    left = n - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:left]] += 1
    return counts
