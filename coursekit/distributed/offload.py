r"""Partial offloading: how much of a batch should the central node hand to its helpers?

The central node has a mini-batch whose gradient costs :math:`W` flops and whose samples weigh
:math:`D` bytes. It keeps a fraction :math:`\lambda` and offloads :math:`1 - \lambda` to a
helper over a link. Both paths run at the same time; the step ends when the slower one ends.

**Local path.** The central node computes at rate :math:`f_l` (flop/s):
:math:`T_l(\lambda) = \lambda a` with :math:`a = W / f_l`.

**Remote path.** Two messages on a link of rate :math:`r` (bytes/s), each paying the latency
:math:`\alpha`. Down: the current parameters :math:`x_t` (:math:`P` bytes; the helper cannot
compute a gradient without them) together with the offloaded samples; up: the helper's partial
gradient (:math:`G` bytes). In between the helper computes at :math:`f_s`:

.. math::

    T_s(\lambda) = \underbrace{2\alpha + \frac{P + G}{r}}_{c}
                 + (1 - \lambda)\underbrace{\left(\frac{D}{r} + \frac{W}{f_s}\right)}_{b}
    \quad (\lambda < 1), \qquad T_s(1) = 0 .

**Streamed or resident data.** ``data="streamed"`` (the default: an edge device owns its
samples and must send them) puts :math:`D/r` in :math:`b`; ``data="resident"`` (the helper
already holds the data set, as every rank of the MPI runs does, and receives only the
indices) drops it: :math:`b = W / f_s`. For a data-parallel gradient :math:`P = G = N`, the
gradient's size.

**Step time.** :math:`T(\lambda) = \max(T_l(\lambda), T_s(\lambda))`.

**The optimum.** :math:`T_l` increases and :math:`T_s` decreases in :math:`\lambda`, so the
maximum is smallest where the paths balance, :math:`\lambda a = c + (1-\lambda) b`:

.. math::

    \lambda^* = \frac{b + c}{a + b}, \qquad T^* = \frac{a (b + c)}{a + b},
    \qquad \text{speed-up } \frac{a}{T^*} = \frac{a + b}{b + c}.

**When offloading does not pay.** :math:`\lambda^* < 1` iff :math:`c < a`: the fixed cost of
involving the helper (latencies, the parameters down and the gradient up) must be smaller than
computing the whole batch locally. Otherwise :math:`\lambda^* = 1` and :math:`T^* = a`. With
:math:`c = 0` offloading always pays, and with an infinitely fast helper and link
(:math:`b \to 0`) the speed-up tends to :math:`a / c`: the fixed cost is the limit (Amdahl's
law in disguise).

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

from coursekit import optimize
from coursekit._checks import check_choice, check_int, check_positive_array, check_real, is_int
from coursekit.data import batch_indices

__all__ = [
    "DATA_MODES",
    "OffloadPlan",
    "step_time",
    "optimal_fraction",
    "offload_pays",
    "split_time",
    "optimal_split",
    "proportional_split",
    "integer_split",
    "OffloadRun",
    "train_offloaded",
    "offload_curves",
]


def _paths(
    work,
    local_rate,
    remote_rates,
    link_rates,
    data_bytes,
    result_bytes,
    latency,
    single=False,
    param_bytes=0.0,
    data="streamed",
):
    """Return ``a`` and per-helper ``b`` (k,), ``c`` (k,) of the module's model."""
    W = check_real(work, "work", minimum=0.0, strict=True)
    fl = check_real(local_rate, "local_rate", minimum=0.0, strict=True)
    if single:
        # One helper: scalar arguments named as in the single-helper functions.
        fs = np.array([check_real(remote_rates, "remote_rate", minimum=0.0, strict=True)])
        r = np.array(
            [check_real(link_rates, "link_rate", minimum=0.0, strict=True, allow_inf=True)]
        )
    else:
        fs = check_positive_array(remote_rates, "remote_rates")
        r = check_positive_array(link_rates, "link_rates", length=fs.size, allow_inf=True)
    D = check_real(data_bytes, "data_bytes", minimum=0.0)
    G = check_real(result_bytes, "result_bytes", minimum=0.0)
    P = check_real(param_bytes, "param_bytes", minimum=0.0)
    alpha = check_real(latency, "latency", minimum=0.0)
    data = check_choice(data, "data", DATA_MODES)
    a = W / fl
    b = (D / r if data == "streamed" else 0.0) + W / fs
    c = 2 * alpha + (P + G) / r
    return a, b, c


def _one_helper(
    work,
    local_rate,
    remote_rate,
    link_rate,
    data_bytes=0.0,
    result_bytes=0.0,
    latency=0.0,
    param_bytes=0.0,
    data="streamed",
):
    """``a``, ``b``, ``c`` of one helper, from the arguments of :func:`step_time` (checked).

    The single-helper functions (:func:`step_time`, :func:`optimal_fraction`,
    :func:`offload_pays`, :func:`offload_curves`) share this one reading of their arguments.
    """
    a, b, c = _paths(
        work,
        local_rate,
        remote_rate,
        link_rate,
        data_bytes,
        result_bytes,
        latency,
        single=True,
        param_bytes=param_bytes,
        data=data,
    )
    return a, b[0], c[0]


#: Where the samples are: sent with each batch, or already on the helper.
DATA_MODES = ("streamed", "resident")


def _remote_time(lam, b, c):
    r"""The remote path :math:`T_s(\lambda) = c + (1 - \lambda) b`, and 0 at :math:`\lambda = 1`."""
    return np.where(lam < 1, c + (1 - lam) * b, 0.0)


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
    param_bytes=0.0,
    data="streamed",
):
    r"""Time of one step when the central node keeps the fraction ``lam`` of the batch.

    .. math::

        T(\lambda) = \max\Bigl(\lambda \frac{W}{f_l},\;
        \mathbb 1[\lambda < 1] \bigl(2\alpha + \tfrac{P + G}{r}
        + (1 - \lambda)(\tfrac{D}{r} + \tfrac{W}{f_s})\bigr)\Bigr)

    (:math:`D/r` only for streamed data).

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
        :math:`D \ge 0`, bytes of the whole batch's samples (ignored when ``data="resident"``).
    result_bytes : float
        :math:`G \ge 0`, bytes of the partial gradient sent back.
    latency : float
        :math:`\alpha \ge 0`, seconds per message.
    param_bytes : float
        :math:`P \ge 0`, bytes of the parameters :math:`x_t` sent down with every batch
        (default 0 for the bare model of the exercise; a real scheme has :math:`P = G = N`).
    data : {"streamed", "resident"}
        Whether the samples travel with the batch (:math:`b = D/r + W/f_s`) or are already on
        the helper (:math:`b = W/f_s`).

    Returns
    -------
    float or ndarray (shape of ``lam``)
    """
    lam = _fraction(lam)
    a, b, c = _one_helper(
        work, local_rate, remote_rate, link_rate,
        data_bytes, result_bytes, latency, param_bytes, data)  # fmt: skip
    t = np.maximum(lam * a, _remote_time(lam, b, c))
    return float(t) if t.ndim == 0 else t


def optimal_fraction(
    work,
    local_rate,
    remote_rate,
    link_rate,
    data_bytes=0.0,
    result_bytes=0.0,
    latency=0.0,
    param_bytes=0.0,
    data="streamed",
):
    r"""The closed-form best local fraction :math:`\lambda^* = \min\bigl(1, (b + c)/(a + b)\bigr)`.

    With :math:`a = W/f_l`, :math:`b = D/r + W/f_s` (streamed; :math:`W/f_s` resident),
    :math:`c = 2\alpha + (P + G)/r` (see the module docstring for the derivation). Parameters
    as :func:`step_time`.

    Returns
    -------
    float
        :math:`\lambda^* \in (0, 1]`; exactly 1 when offloading does not pay (:math:`c \ge a`).
    """
    a, b, c = _one_helper(
        work, local_rate, remote_rate, link_rate,
        data_bytes, result_bytes, latency, param_bytes, data)  # fmt: skip
    if c >= a:
        return 1.0
    return float((b + c) / (a + b))


def offload_pays(
    work,
    local_rate,
    remote_rate,
    link_rate,
    data_bytes=0.0,
    result_bytes=0.0,
    latency=0.0,
    param_bytes=0.0,
    data="streamed",
):
    r"""Whether some offloading beats computing alone: :math:`c < a`, i.e.

    .. math:: 2\alpha + \frac{P + G}{r} < \frac{W}{f_l}.

    Note that neither the helper's speed :math:`f_s` nor the data size :math:`D` enter: a
    slow helper or a thin link only shrink the optimal share, they never make a small share
    worse than none. Parameters as :func:`step_time`.

    Returns
    -------
    bool
    """
    a, _, c = _one_helper(
        work, local_rate, remote_rate, link_rate,
        data_bytes, result_bytes, latency, param_bytes, data)  # fmt: skip
    return bool(c < a)


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
    param_bytes=0.0,
    data="streamed",
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
    a, b, c = _paths(
        work,
        local_rate,
        remote_rates,
        link_rates,
        data_bytes,
        result_bytes,
        latency,
        param_bytes=param_bytes,
        data=data,
    )
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
    param_bytes=0.0,
    data="streamed",
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
    a, b, c = _paths(
        work,
        local_rate,
        remote_rates,
        link_rates,
        data_bytes,
        result_bytes,
        latency,
        param_bytes=param_bytes,
        data=data,
    )
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
    f = check_positive_array(rates, "rates")
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
    n = check_int(n, "n", minimum=0)
    exact = lam * n
    counts = np.floor(exact).astype(np.int64)
    left = n - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:left]] += 1
    return counts


@dataclass
class OffloadRun:
    """What :func:`train_offloaded` returns.

    Attributes
    ----------
    x : ndarray, shape (d,)
        Final parameters.
    losses : ndarray, shape (T + 1,)
        :math:`f(x_t)` (NaN after step 0 when losses were not recorded).
    wall_clock : ndarray, shape (T + 1,)
        Simulated seconds at which :math:`x_t` exists.
    step_times : ndarray, shape (T,)
        Each step's time: the slowest path with the integer sample counts of that step.
    counts : ndarray of int, shape (T, k + 1)
        Samples kept by the central node (column 0) and sent to each helper.
    predicted : float
        :func:`split_time` of the fractions (the continuous model of one step).
    """

    x: np.ndarray
    losses: np.ndarray
    wall_clock: np.ndarray
    step_times: np.ndarray
    counts: np.ndarray
    predicted: float

    @property
    def step_time(self) -> float:
        """Mean simulated step time (seconds)."""
        return float(self.step_times.mean()) if self.step_times.size else 0.0


def train_offloaded(
    objective,
    x0,
    fractions,
    *,
    steps,
    lr,
    batch_size,
    flops_per_sample,
    local_rate,
    remote_rates,
    link_rates,
    sample_bytes=0.0,
    param_bytes=None,
    result_bytes=None,
    latency=0.0,
    data="streamed",
    seed=0,
    rule=None,
    record_losses=True,
):
    r"""Mini-batch SGD in which the central node keeps ``fractions[0]`` of every batch.

    Step :math:`t` takes the batch :math:`B_t` of :math:`m` = ``batch_size`` rows from
    :func:`coursekit.data.batch_indices` (the course's batch order), cuts it into integer
    shares :math:`n_0, \dots, n_k` (:func:`integer_split` of ``fractions``), sums each share's
    per-sample gradients and steps with :math:`g_t = \frac1m \sum_j s_{t,j}`: the iterates of
    single-node mini-batch SGD with batches of :math:`m`, whatever the split. Only the clock
    depends on it. With :math:`w` = ``flops_per_sample`` and :math:`s` = ``sample_bytes``, the
    step takes

    .. math::

        T_t = \max\Bigl(\frac{n_0 w}{f_l},\; \max_{i:\,n_i > 0} \bigl(2\alpha + \tfrac{P + G}{r_i}
              + n_i (\tfrac{s}{r_i} + \tfrac{w}{f_i})\bigr)\Bigr)

    (:math:`s/r_i` only for streamed data): :func:`split_time` with the counts instead of
    the fractions, so :math:`T_t` differs from it by less than one sample's cost on the
    slowest path.

    Parameters
    ----------
    objective : FiniteSum-like
        ``n_samples``, ``value(x)``, ``grad(x, idx)`` (and ``sample_grads`` if it has it), e.g.
        :class:`~coursekit.objectives.LeastSquares` or :class:`~coursekit.distributed.cnn.FlatCNN`.
    x0 : array_like, shape (d,)
    fractions : array_like, shape (k + 1,)
        Central node first; e.g. ``optimal_split(...).fractions``, or ``[1, 0, ...]`` to
        compute alone.
    steps, lr, batch_size, seed, rule
        As in :func:`coursekit.optimize.sgd` (``batch_size`` is the whole batch :math:`m`).
    flops_per_sample : float
        :math:`w > 0`.
    local_rate : float
        :math:`f_l`.
    remote_rates, link_rates : array_like, shape (k,)
    sample_bytes : float
        Bytes of one sample (streamed data).
    param_bytes, result_bytes : float, optional
        :math:`P` and :math:`G`; default :math:`d` values of the objective's ``dtype`` (else
        of ``x0``'s): the size of a data-parallel gradient.
    latency : float
    data : {"streamed", "resident"}
    record_losses : bool
        Evaluate :math:`f(x_t)` after every step (the expensive part for a CNN).

    Returns
    -------
    OffloadRun
    """
    # Long by its signature and docstring (every parameter of the cost model); the code is
    # the checks, then the loop the book shows.
    from .simulate import _shard_sums

    x = np.array(x0, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x0 must be a non-empty 1-D array, got shape {x.shape}")
    steps = check_int(steps, "steps", minimum=0)
    lr = check_real(lr, "lr", minimum=0.0, strict=True)
    m = check_int(batch_size, "batch_size", minimum=1)
    n = getattr(objective, "n_samples", None)
    if not isinstance(n, (int, np.integer)) or m > n:
        raise ValueError(f"batch_size must be <= objective.n_samples, got {m} and {n}")
    w = check_real(flops_per_sample, "flops_per_sample", minimum=0.0, strict=True)
    s = check_real(sample_bytes, "sample_bytes", minimum=0.0)
    P, G = _message_sizes(objective, x0, param_bytes, result_bytes)
    a1, b1, c = _paths(
        w, local_rate, remote_rates, link_rates, s, G, latency, param_bytes=P, data=data
    )
    lam = _check_split(fractions, n_helpers=b1.size)
    rule = optimize.get_rule(rule)
    state = rule.init(x)
    vectorised = callable(getattr(objective, "sample_grads", None))
    batches = batch_indices(n, m, seed=seed)
    losses = np.full(steps + 1, np.nan)
    losses[0] = objective.value(x)
    wall = np.zeros(steps + 1)
    times = np.zeros(steps)
    counts = np.zeros((steps, lam.size), dtype=np.int64)
    for t in range(steps):
        _, idx = next(batches)
        k_t = integer_split(lam, idx.size)
        sums = _shard_sums(objective, x, idx, k_t, vectorised)
        x = rule.update(x, sums.sum(axis=0) / idx.size, lr, state)
        # a1, b1 are per sample here (work = w): the paths of a share of n_i samples.
        remote = np.where(k_t[1:] > 0, c + k_t[1:] * b1, 0.0)
        times[t] = max(k_t[0] * a1, remote.max(initial=0.0))
        wall[t + 1] = wall[t] + times[t]
        counts[t] = k_t
        if record_losses:
            losses[t + 1] = objective.value(x)
    predicted = split_time(
        lam,
        m * w,
        local_rate,
        remote_rates,
        link_rates,
        m * s,
        G,
        latency,
        param_bytes=P,
        data=data,
    )
    return OffloadRun(
        x=x,
        losses=losses,
        wall_clock=wall,
        step_times=times,
        counts=counts,
        predicted=float(predicted),
    )


def _message_sizes(objective, x0, param_bytes, result_bytes):
    """:math:`P` and :math:`G` of :func:`train_offloaded`: given, or :math:`d` values each."""
    # A message carries the model's own values (float32 for a float32 network), not the
    # float64 copy the training loop keeps.
    value_bytes = np.dtype(getattr(objective, "dtype", np.asarray(x0).dtype)).itemsize
    d = np.asarray(x0).size
    return (
        d * value_bytes if param_bytes is None else param_bytes,
        d * value_bytes if result_bytes is None else result_bytes,
    )


def _check_split(fractions, n_helpers: int) -> np.ndarray:
    """``fractions`` of the central node and ``n_helpers`` helpers, summing to 1."""
    lam = _fraction(fractions, "fractions")
    if lam.shape != (n_helpers + 1,):
        raise ValueError(
            f"fractions must have {n_helpers + 1} entries (central node + "
            f"{n_helpers} helpers), got shape {lam.shape}"
        )
    if not np.isclose(lam.sum(), 1.0):
        raise ValueError(f"fractions must sum to 1, got {lam.sum()}")
    return lam


def offload_curves(
    link_rate: float,
    *,
    work: float,
    local_rate: float,
    remote_rate: float,
    data_bytes: float = 0.0,
    result_bytes: float = 0.0,
    latency: float = 0.0,
    param_bytes: float = 0.0,
    data: str = "streamed",
    n: int = 201,
) -> dict:
    r"""Times of the two paths of partial offloading over a grid of :math:`\lambda`.

    Parameters
    ----------
    link_rate : float
        :math:`r` in bytes/s.
    work, local_rate, remote_rate, data_bytes, result_bytes, latency, param_bytes, data
        As in :func:`step_time`.
    n : int
        Grid points in :math:`[0, 1]` (at least 2).

    Returns
    -------
    dict
        ``lam`` (n,), ``local`` :math:`T_l(\lambda) = \lambda a` (n,), ``remote``
        :math:`T_s(\lambda)` (n,; 0 at :math:`\lambda = 1`), ``step`` their maximum (n,),
        ``lam_star`` and ``t_star`` (the closed-form optimum and its time), ``local_time``
        :math:`a`, ``fixed_cost`` :math:`c = 2\alpha + (P + G)/r` (what the remote path costs
        however little it gets) and ``pays`` (whether offloading beats computing alone,
        :math:`c < a`).
    """
    if not is_int(n) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (grid points), got {n!r}")
    kw = dict(
        work=work,
        local_rate=local_rate,
        remote_rate=remote_rate,
        link_rate=link_rate,
        data_bytes=data_bytes,
        result_bytes=result_bytes,
        latency=latency,
        param_bytes=param_bytes,
        data=data,
    )
    a, b, c = _one_helper(**kw)
    lam = np.linspace(0.0, 1.0, n)
    lam_star = optimal_fraction(**kw)
    return {
        "lam": lam,
        "local": lam * a,
        "remote": _remote_time(lam, b, c),
        "step": step_time(lam, **kw),
        "lam_star": lam_star,
        "t_star": step_time(lam_star, **kw),
        "local_time": a,
        "fixed_cost": c,
        "pays": offload_pays(**kw),
    }
