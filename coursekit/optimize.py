r"""Gradient-based optimisers: gradient descent, (mini-batch) SGD, Newton's method.

The loop and the *update rule* are separate (as in CS231n's ``Solver``): an optimiser computes
a gradient :math:`g_k` and hands it to a rule, which turns it into the next iterate. Every rule
has the same two-method interface and works on arrays of any shape and floating dtype::

    state = rule.init(x)                  # dict of arrays shaped like x, plus a step count "t"
    x_new = rule.update(x, g, lr, state)  # a NEW array; x is untouched, state is updated

The learning rate may follow a *schedule* :math:`\eta_t = \text{schedule}(\eta_0, t)`, with
:math:`t = 0, 1, 2, \dots` counting update steps.

Every optimiser returns an :class:`OptimizeResult` that looks like SciPy's, plus the recorded
``path`` (iterates :math:`x_0 \dots x_{\text{nit}}`) and ``losses`` (:math:`f(x_k)` of the full
objective) that the chapters plot. A run whose iterate or loss stops being finite, or whose loss
has grown by more than :data:`DIVERGENCE_FACTOR` times its starting scale, halts with
``converged=False`` and the message ``"diverged at iteration k"``, keeping only finite values.

Only NumPy is imported here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from coursekit._checks import check_int, check_positive, is_int, is_real
from coursekit.data import batch_indices
from coursekit.objectives import FiniteSum

__all__ = [
    "OptimizeResult",
    "gradient_descent",
    "sgd",
    "newton",
    "backtracking",
    "Rule",
    "Plain",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSProp",
    "Adam",
    "get_rule",
    "RULES",
    "constant",
    "step_decay",
    "inverse_time",
    "cosine",
    "get_schedule",
    "SCHEDULES",
    "momentum_rate",
    "best_momentum",
    "best_constants",
    "armijo_trials",
    "minibatch_gradient_variance",
    "heavy_ball_rate_map",
]


# =========================================================================== the result
@dataclasses.dataclass
class OptimizeResult:
    """What every optimiser returns (SciPy-like, plus the recorded trajectory).

    Attributes
    ----------
    x : ndarray, shape (d,)
        The final iterate (the last finite one if the run diverged).
    fun : float
        :math:`f(x)` of the full objective.
    nit : int
        Number of update steps taken.
    converged : bool
        True when the stopping test was met (``gradient_descent``, ``newton``: gradient norm
        at most ``tol``; ``sgd``: all epochs completed without divergence).
    message : str
        Why the run stopped, e.g. ``"diverged at iteration 12"``.
    path : ndarray, shape (nit + 1, d)
        Iterates :math:`x_0, \\dots, x_{\\text{nit}}`.
    losses : ndarray, shape (nit + 1,)
        :math:`f(x_k)` of the full objective for every row of ``path``.
    n_grad : int
        Gradient evaluations (for ``sgd``: per-sample gradients, i.e. rows touched).
    """

    x: np.ndarray
    fun: float
    nit: int
    converged: bool
    message: str
    path: np.ndarray
    losses: np.ndarray
    n_grad: int = 0

    @property
    def success(self) -> bool:
        """Alias of ``converged`` (SciPy's name)."""
        return self.converged

    def __repr__(self) -> str:
        return (
            f"OptimizeResult(converged={self.converged}, message={self.message!r}, "
            f"nit={self.nit}, fun={self.fun:.6g}, x={np.array2string(self.x, precision=6)}, "
            f"n_grad={self.n_grad}, path=<{self.path.shape}>, losses=<{self.losses.shape}>)"
        )


# =========================================================================== input checks
def _check_lr(lr, name: str = "lr") -> float:
    return check_positive(lr, name)


def _check_tol(tol) -> float:
    if not is_real(tol):
        raise TypeError(f"tol must be a real number >= 0, got {type(tol).__name__}")
    tol = float(tol)
    if not tol >= 0.0:  # also rejects NaN
        raise ValueError(f"tol must be >= 0, got {tol}")
    return tol


def _check_objective(f, needs=("value", "grad")) -> None:
    missing = [m for m in needs if not callable(getattr(f, m, None))]
    if missing:
        raise TypeError(
            f"f must be an objective with methods {', '.join(needs)} "
            f"(see coursekit.objectives); {type(f).__name__} lacks {', '.join(missing)}"
        )


def _check_finite_sum(f) -> int:
    """``f.n_samples`` after checking that ``f`` is a FiniteSum (value, grad, n_samples)."""
    _check_objective(f)
    n = getattr(f, "n_samples", None)
    if not is_int(n) or n < 1:
        raise TypeError(
            f"f must be a FiniteSum with n_samples (e.g. LeastSquares, Logistic), "
            f"got {type(f).__name__}"
        )
    return n


def _check_batch_size(batch_size, n: int) -> int:
    if not is_int(batch_size):
        raise TypeError(f"batch_size must be an integer, got {type(batch_size).__name__}")
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [1, n_samples={n}], got {batch_size}")
    return batch_size


def _check_callback(callback) -> None:
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")


def _check_x0(f, x0) -> np.ndarray:
    try:
        x = np.array(x0, dtype=np.float64)  # a copy: the caller's array is never modified
    except (TypeError, ValueError) as exc:
        raise TypeError(f"x0 must be a numeric 1-D array, got {type(x0).__name__}") from exc
    dim = getattr(f, "dim", None)
    if x.ndim != 1:
        expected = f"({dim},)" if dim is not None else "(d,)"
        raise ValueError(f"x0 must be a 1-D array of shape {expected}, got shape {x.shape}")
    if dim is not None and x.shape[0] != dim:
        raise ValueError(f"x0 must have shape ({dim},) to match f.dim, got shape {x.shape}")
    if x.size == 0:
        raise ValueError("x0 must not be empty")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 contains NaN or inf")
    return x


def _out_dtype(x: np.ndarray) -> np.dtype:
    # Rules keep the parameter's floating dtype (float32 weights stay float32).
    return x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)


def _check_unit(value, name: str, *, closed_low: bool = True) -> float:
    """A hyper-parameter in [0, 1) (or (0, 1) when ``closed_low`` is False)."""
    if not is_real(value):
        raise TypeError(f"{name} must be a real number in [0, 1), got {type(value).__name__}")
    value = float(value)
    low_ok = value >= 0.0 if closed_low else value > 0.0
    if not (low_ok and value < 1.0):
        interval = "[0, 1)" if closed_low else "(0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


def _check_eps(eps) -> float:
    return check_positive(eps, "eps")


# =========================================================================== update rules
class Rule:
    """Base class of the update rules: ``init(x) -> state``, ``update(x, g, lr, state) -> x``.

    A new rule lists the names of its per-parameter state arrays in ``_slots`` (they start at
    zero, shaped and typed like ``x``) and implements ``_step(x, g, lr, state)``, which
    returns the new iterate and stores updated arrays in ``state``. :meth:`update` checks
    shapes, counts steps in ``state["t"]`` (already incremented when ``_step`` runs, so the
    first step has ``t = 1``) and keeps the dtype of ``x``. Rules compare equal when their
    class and hyper-parameters are equal.
    """

    name = "rule"
    _slots: tuple[str, ...] = ()  # names of the per-parameter state arrays

    def init(self, x) -> dict:
        """Fresh state for parameters shaped like ``x``: zero arrays and step count ``t = 0``."""
        x = np.asarray(x)
        dtype = _out_dtype(x)
        state = {name: np.zeros(x.shape, dtype=dtype) for name in self._slots}
        state["t"] = 0
        return state

    def update(self, x, g, lr, state) -> np.ndarray:
        """Return the next iterate (a new array); updates ``state`` in place."""
        x = np.asarray(x)
        g = np.asarray(g)
        if g.shape != x.shape:
            raise ValueError(f"g must have the shape of x {x.shape}, got shape {g.shape}")
        dtype = _out_dtype(x)
        state["t"] = state.get("t", 0) + 1
        return np.asarray(self._step(x, g.astype(dtype, copy=False), lr, state), dtype=dtype)

    def _step(self, x, g, lr, state):
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))


class Plain(Rule):
    r"""Plain gradient step :math:`x_{t+1} = x_t - \eta g_t`."""

    name = "plain"

    def _step(self, x, g, lr, state):
        return x - lr * g


class Momentum(Rule):
    r"""Heavy-ball momentum, PyTorch's form (``torch.optim.SGD(momentum=beta)``).

    .. math::

        v_{t+1} = \beta v_t + g_t, \qquad x_{t+1} = x_t - \eta\, v_{t+1}, \qquad v_0 = 0.

    Parameters
    ----------
    beta : float in [0, 1)
    """

    name = "momentum"
    _slots = ("v",)

    def __init__(self, beta=0.9):
        self.beta = _check_unit(beta, "beta")

    def _step(self, x, g, lr, state):
        v = self.beta * state["v"] + g
        state["v"] = v
        return x - lr * v


class Nesterov(Rule):
    r"""Nesterov momentum, PyTorch's form (``torch.optim.SGD(momentum=beta, nesterov=True)``).

    .. math::

        v_{t+1} = \beta v_t + g_t, \qquad x_{t+1} = x_t - \eta\,(g_t + \beta v_{t+1}),
        \qquad v_0 = 0.

    Parameters
    ----------
    beta : float in [0, 1)
    """

    name = "nesterov"
    _slots = ("v",)

    def __init__(self, beta=0.9):
        self.beta = _check_unit(beta, "beta")

    def _step(self, x, g, lr, state):
        v = self.beta * state["v"] + g
        state["v"] = v
        return x - lr * (g + self.beta * v)


class AdaGrad(Rule):
    r"""AdaGrad: per-coordinate steps shrink with the accumulated squared gradients.

    .. math::

        G_{t+1} = G_t + g_t^2, \qquad x_{t+1} = x_t - \eta\, \frac{g_t}{\sqrt{G_{t+1}} + \epsilon}

    (elementwise; :math:`\epsilon` outside the root, as in PyTorch).

    Parameters
    ----------
    eps : float > 0
    """

    name = "adagrad"
    _slots = ("G",)

    def __init__(self, eps=1e-8):
        self.eps = _check_eps(eps)

    def _step(self, x, g, lr, state):
        G = state["G"] + g * g
        state["G"] = G
        return x - lr * g / (np.sqrt(G) + self.eps)


class RMSProp(Rule):
    r"""RMSProp: AdaGrad with an exponential moving average of squared gradients.

    .. math::

        s_{t+1} = \rho s_t + (1 - \rho) g_t^2, \qquad
        x_{t+1} = x_t - \eta\, \frac{g_t}{\sqrt{s_{t+1}} + \epsilon}

    Parameters
    ----------
    rho : float in [0, 1)
    eps : float > 0
    """

    name = "rmsprop"
    _slots = ("s",)

    def __init__(self, rho=0.9, eps=1e-8):
        self.rho = _check_unit(rho, "rho")
        self.eps = _check_eps(eps)

    def _step(self, x, g, lr, state):
        s = self.rho * state["s"] + (1.0 - self.rho) * (g * g)
        state["s"] = s
        return x - lr * g / (np.sqrt(s) + self.eps)


class Adam(Rule):
    r"""Adam (Kingma & Ba, 2015) with bias correction.

    .. math::

        m_{t} &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_{t} = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \\
        \hat m_t &= \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t},
        \qquad x_{t} = x_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon},

    with :math:`t = 1, 2, \dots` the step count kept in ``state["t"]``.

    Parameters
    ----------
    beta1, beta2 : float in [0, 1)
    eps : float > 0
    """

    name = "adam"
    _slots = ("m", "v")

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1 = _check_unit(beta1, "beta1")
        self.beta2 = _check_unit(beta2, "beta2")
        self.eps = _check_eps(eps)

    def _step(self, x, g, lr, state):
        t = state["t"]
        m = self.beta1 * state["m"] + (1.0 - self.beta1) * g
        v = self.beta2 * state["v"] + (1.0 - self.beta2) * (g * g)
        state["m"], state["v"] = m, v
        m_hat = m / (1.0 - self.beta1**t)
        v_hat = v / (1.0 - self.beta2**t)
        return x - lr * m_hat / (np.sqrt(v_hat) + self.eps)


#: Names accepted by :func:`get_rule`.
RULES: dict[str, type[Rule]] = {
    "plain": Plain,
    "sgd": Plain,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": AdaGrad,
    "rmsprop": RMSProp,
    "adam": Adam,
}


def get_rule(rule=None, **hyper) -> Rule:
    """Turn ``None``, a rule name or a rule instance into a rule instance.

    Parameters
    ----------
    rule : None, str or Rule
        ``None`` means ``"plain"``; names (case-insensitive) are the keys of :data:`RULES`.
    **hyper
        Hyper-parameters for a rule given by name, e.g. ``get_rule("adam", beta1=0.8)``.
    """
    if rule is None:
        rule = "plain"
    if isinstance(rule, Rule):
        if hyper:
            raise ValueError(
                f"rule is already an instance ({rule!r}); pass hyper-parameters to its "
                f"constructor, not to get_rule (got {sorted(hyper)})"
            )
        return rule
    if isinstance(rule, str):
        key = rule.strip().lower()
        if key not in RULES:
            raise ValueError(f"rule must be one of {sorted(RULES)}, got {rule!r}")
        try:
            return RULES[key](**hyper)
        except TypeError as exc:
            raise TypeError(f"bad hyper-parameter for rule {key!r}: {exc}") from exc
    # Duck typing: an object with init/update works too (e.g. a student's own rule).
    if callable(getattr(rule, "init", None)) and callable(getattr(rule, "update", None)):
        return rule
    raise TypeError(
        f"rule must be None, a name in {sorted(RULES)} or a rule instance, "
        f"got {type(rule).__name__}"
    )


# =========================================================================== schedules
class _Schedule:
    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class _Constant(_Schedule):
    def __call__(self, lr0, t):
        return lr0


class _StepDecay(_Schedule):
    def __init__(self, drop, every):
        self.drop = drop
        self.every = every

    def __call__(self, lr0, t):
        return lr0 * self.drop ** (t // self.every)


class _InverseTime(_Schedule):
    def __init__(self, decay):
        self.decay = decay

    def __call__(self, lr0, t):
        return lr0 / (1.0 + self.decay * t)


class _Cosine(_Schedule):
    def __init__(self, total_steps, lr_min):
        self.total_steps = total_steps
        self.lr_min = lr_min

    def __call__(self, lr0, t):
        frac = min(t, self.total_steps) / self.total_steps
        return self.lr_min + 0.5 * (lr0 - self.lr_min) * (1.0 + math.cos(math.pi * frac))


def constant():
    r"""The constant schedule :math:`\eta_t = \eta_0`."""
    return _Constant()


def step_decay(drop=0.5, every=100):
    r"""Step decay :math:`\eta_t = \eta_0 \cdot \text{drop}^{\lfloor t / \text{every} \rfloor}`."""
    if not is_real(drop):
        raise TypeError(f"drop must be a real number in (0, 1], got {type(drop).__name__}")
    if not 0.0 < drop <= 1.0:
        raise ValueError(f"drop must lie in (0, 1], got {drop}")
    return _StepDecay(float(drop), check_int(every, "every", 1))


def inverse_time(decay=0.01):
    r"""Inverse-time decay :math:`\eta_t = \eta_0 / (1 + \text{decay}\cdot t)`.

    The classic Robbins–Monro choice for SGD: :math:`\sum_t \eta_t = \infty`,
    :math:`\sum_t \eta_t^2 < \infty`.
    """
    if not is_real(decay):
        raise TypeError(f"decay must be a real number >= 0, got {type(decay).__name__}")
    if not (math.isfinite(decay) and decay >= 0):
        raise ValueError(f"decay must be finite and >= 0, got {decay}")
    return _InverseTime(float(decay))


def cosine(total_steps, lr_min=0.0):
    r"""Cosine annealing from :math:`\eta_0` down to ``lr_min`` over ``total_steps`` steps.

    .. math::

        \eta_t = \eta_{\min} + \tfrac12 (\eta_0 - \eta_{\min})
        \Big(1 + \cos\big(\pi \min(t, T) / T\big)\Big), \qquad T = \text{total\_steps}.
    """
    total_steps = check_int(total_steps, "total_steps", 1)
    if not is_real(lr_min):
        raise TypeError(f"lr_min must be a real number >= 0, got {type(lr_min).__name__}")
    if not (math.isfinite(lr_min) and lr_min >= 0):
        raise ValueError(f"lr_min must be finite and >= 0, got {lr_min}")
    return _Cosine(total_steps, float(lr_min))


#: Names accepted by :func:`get_schedule` (with their aliases).
SCHEDULES: dict[str, Callable] = {
    "constant": constant,
    "step": step_decay,
    "step_decay": step_decay,
    "1/t": inverse_time,
    "inverse_time": inverse_time,
    "cosine": cosine,
}


def get_schedule(schedule=None, **kw) -> Callable:
    """Turn ``None``, a schedule name or a callable into a schedule ``lr_t = s(lr0, t)``.

    Parameters
    ----------
    schedule : None, str or callable
        ``None`` means constant; names are the keys of :data:`SCHEDULES`
        (``"constant"``, ``"step"``, ``"1/t"``, ``"cosine"`` and aliases).
    **kw
        Arguments of the named schedule, e.g. ``get_schedule("cosine", total_steps=100)``.
    """
    if schedule is None:
        schedule = "constant"
    if isinstance(schedule, str):
        key = schedule.strip().lower()
        if key not in SCHEDULES:
            raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
        try:
            return SCHEDULES[key](**kw)
        except TypeError as exc:
            raise TypeError(f"bad argument for schedule {key!r}: {exc}") from exc
    if callable(schedule):
        if kw:
            raise ValueError(f"schedule is already a callable; unexpected arguments {sorted(kw)}")
        return schedule
    raise TypeError(
        f"schedule must be None, a name in {sorted(SCHEDULES)} or a callable (lr0, t) -> lr, "
        f"got {type(schedule).__name__}"
    )


def _resolve_schedule(schedule, total_steps: int) -> Callable:
    # "cosine" needs a horizon; inside an optimiser the natural one is the run's length.
    if isinstance(schedule, str) and schedule.strip().lower() == "cosine":
        return cosine(max(total_steps, 1))
    return get_schedule(schedule)


def _lr_at(schedule: Callable, lr: float, t: int) -> float:
    lr_t = schedule(lr, t)
    if not is_real(lr_t) or not lr_t >= 0:
        raise ValueError(f"schedule returned an invalid learning rate {lr_t!r} at step {t}")
    return float(lr_t)


# =========================================================================== the loops
class _Recorder:
    """Collects the path and losses; knows how to build the result."""

    def __init__(self, x0: np.ndarray, f0: float):
        self.path = [x0.copy()]
        self.losses = [float(f0)]

    def add(self, x: np.ndarray, fx: float) -> None:
        self.path.append(x.copy())
        self.losses.append(float(fx))

    def result(self, converged: bool, message: str, n_grad: int) -> OptimizeResult:
        return OptimizeResult(
            x=self.path[-1].copy(),
            fun=self.losses[-1],
            nit=len(self.path) - 1,
            converged=converged,
            message=message,
            path=np.array(self.path),
            losses=np.array(self.losses),
            n_grad=n_grad,
        )


#: A loss above ``f(x_0) + DIVERGENCE_FACTOR * max(1, |f(x_0)|)`` counts as divergence. No
#: method of the course (momentum and Adam included) climbs that far and then recovers, and
#: stopping there reports a runaway step size long before the iterates overflow.
DIVERGENCE_FACTOR = 1e10


def _diverged(fx: float, f0: float) -> bool:
    """True when the loss is not finite or has blown up (see :data:`DIVERGENCE_FACTOR`)."""
    return not math.isfinite(fx) or fx > f0 + DIVERGENCE_FACTOR * max(1.0, abs(f0))


def _all_finite(x: np.ndarray) -> bool:
    return bool(np.isfinite(x).all())


def _quiet_overflow():
    # Inside the loops an overflow (inf) or inf - inf (NaN) is caught by the finiteness tests
    # and reported as "diverged at iteration k"; NumPy's warnings would only add noise.
    return np.errstate(over="ignore", invalid="ignore")


def gradient_descent(
    f, x0, lr=0.1, max_iter=1000, tol=1e-8, rule=None, schedule=None, callback=None
) -> OptimizeResult:
    r"""Batch gradient descent, optionally with momentum / adaptive rules and an LR schedule.

    With the default plain rule:

    .. math::

        x_{k+1} = x_k - \eta_k \nabla f(x_k), \qquad \eta_k = \text{schedule}(\eta_0, k).

    For an :math:`L`-smooth, :math:`\mu`-strongly convex :math:`f` and a constant
    :math:`\eta = 2/(L + \mu)`, the error contracts as

    .. math::

        \lVert x_{k+1} - x^\star\rVert \le \frac{\kappa - 1}{\kappa + 1}
        \lVert x_k - x^\star\rVert

    with :math:`\kappa = L/\mu`; any :math:`\eta > 2/L` diverges on a quadratic.

    Parameters
    ----------
    f : Objective
        Anything with ``value(x)`` and ``grad(x)`` (see :mod:`coursekit.objectives`).
    x0 : array_like, shape (d,)
        Starting point (copied, never modified).
    lr : float
        Learning rate :math:`\eta_0 > 0`.
    max_iter : int
        Maximum number of update steps (0 evaluates ``x0`` only).
    tol : float
        Stop when :math:`\lVert \nabla f(x_k) \rVert_2 \le` ``tol``.
    rule : None, str or Rule
        Update rule (see :func:`get_rule`); plain gradient steps by default.
    schedule : None, str or callable
        Learning-rate schedule (see :func:`get_schedule`); ``"cosine"`` anneals over
        ``max_iter`` steps.
    callback : callable, optional
        ``callback(x_k)`` after every step; returning ``True`` stops the run.

    Returns
    -------
    OptimizeResult
        ``path`` has shape ``(nit + 1, d)``, ``losses`` shape ``(nit + 1,)``.
    """
    _check_objective(f)
    lr = _check_lr(lr)
    max_iter = check_int(max_iter, "max_iter", 0)
    tol = _check_tol(tol)
    rule = get_rule(rule)
    sched = _resolve_schedule(schedule, max_iter)
    _check_callback(callback)
    x = _check_x0(f, x0)

    rec = _Recorder(x, f.value(x))  # path and losses, from x_0 on
    state = rule.init(x)
    g = f.grad(x)
    n_grad = 1
    with _quiet_overflow():  # an overflow is reported as divergence instead
        for k in range(max_iter + 1):
            if np.linalg.norm(g) <= tol:
                return rec.result(
                    True, f"converged: gradient norm <= tol after {k} iterations", n_grad
                )
            if k == max_iter:
                break
            x = rule.update(x, g, _lr_at(sched, lr, k), state)  # plain rule: x - lr_k * g
            fx = f.value(x) if _all_finite(x) else math.nan
            if _diverged(fx, rec.losses[0]):
                return rec.result(False, f"diverged at iteration {k + 1}", n_grad)
            rec.add(x, fx)
            g = f.grad(x)
            n_grad += 1
            if callback is not None and callback(x.copy()) is True:
                return rec.result(False, f"stopped by callback at iteration {k + 1}", n_grad)
    return rec.result(False, f"maximum number of iterations ({max_iter}) reached", n_grad)


def sgd(
    f,
    x0,
    lr=0.01,
    batch_size=1,
    epochs=10,
    seed=0,
    rule=None,
    schedule=None,
    shuffle=True,
    callback=None,
) -> OptimizeResult:
    r"""Stochastic / mini-batch / full-batch gradient descent on a finite sum.

    Each update uses the mean gradient of one mini-batch :math:`B_t`,

    .. math::

        x_{t+1} = x_t - \eta_t \nabla f_{B_t}(x_t), \qquad
        \nabla f_{B}(x) = \frac{1}{|B|} \sum_{i \in B} \nabla f_i(x),

    an unbiased estimate of :math:`\nabla f(x_t)`. Batches come from
    :func:`coursekit.data.batch_indices` (one seeded permutation per epoch, last short batch
    kept), so ``batch_size=1`` is SGD, ``1 < batch_size < n`` mini-batch SGD, and
    ``batch_size=n`` calls ``f.grad(x)`` on all rows and reproduces :func:`gradient_descent`'s
    path exactly.

    Parameters
    ----------
    f : FiniteSum
        Needs ``n_samples``, ``value(x)`` and ``grad(x, idx)``.
    x0 : array_like, shape (d,)
    lr : float
        :math:`\eta_0 > 0`.
    batch_size : int
        In ``[1, f.n_samples]``.
    epochs : int
        Passes over the data (``>= 0``); ``ceil(n / batch_size)`` updates each.
    seed : int or numpy.random.Generator
        Seeds the batch order.
    rule, schedule
        As in :func:`gradient_descent`; ``t`` counts update steps and ``"cosine"`` anneals
        over the whole run.
    shuffle : bool
        False visits rows in order every epoch.
    callback : callable, optional
        ``callback(x_t)`` after every update; returning ``True`` stops the run.

    Returns
    -------
    OptimizeResult
        One row of ``path`` / ``losses`` per update step (losses of the *full* objective);
        ``n_grad`` counts per-sample gradients. SGD has no stopping test, so ``converged``
        means that all epochs ran without diverging.
    """
    n = _check_finite_sum(f)
    lr = _check_lr(lr)
    batch_size = _check_batch_size(batch_size, n)
    epochs = check_int(epochs, "epochs", 0)
    total = epochs * -(-n // batch_size)  # ceil(n / batch_size) updates an epoch
    rule = get_rule(rule)
    sched = _resolve_schedule(schedule, total)
    _check_callback(callback)
    x = _check_x0(f, x0)
    full_batch = batch_size == n

    rec = _Recorder(x, f.value(x))
    state = rule.init(x)
    batches = batch_indices(n, batch_size, seed=seed, shuffle=shuffle)
    n_grad = 0
    with _quiet_overflow():
        for t in range(total):
            _, idx = next(batches)
            # idx=None on a full batch: the same floating-point sum as gradient_descent.
            g = f.grad(x) if full_batch else f.grad(x, idx)
            n_grad += len(idx)
            x = rule.update(x, g, _lr_at(sched, lr, t), state)
            fx = f.value(x) if _all_finite(x) else math.nan
            if _diverged(fx, rec.losses[0]):
                return rec.result(False, f"diverged at iteration {t + 1}", n_grad)
            rec.add(x, fx)
            if callback is not None and callback(x.copy()) is True:
                return rec.result(False, f"stopped by callback at iteration {t + 1}", n_grad)
    return rec.result(True, f"completed {epochs} epochs ({total} updates)", n_grad)


def backtracking(f, x, d, g=None, eta0=1.0, rho=0.5, c=1e-4, max_steps=50) -> float:
    r"""Backtracking line search: the first :math:`\eta = \eta_0 \rho^j` giving enough decrease.

    The Armijo condition along a descent direction :math:`d` (:math:`g^\top d < 0`):

    .. math::

        f(x + \eta d) \le f(x) + c\, \eta\, g^\top d .

    A non-finite :math:`f(x + \eta d)` counts as a failure (the step is shrunk further).

    Parameters
    ----------
    f : Objective or callable
        ``f.value`` is used when present, else ``f`` is called.
    x, d : array_like, shape (d,)
        Point and search direction.
    g : array_like, shape (d,), optional
        :math:`\nabla f(x)`; computed with ``f.grad`` when omitted.
    eta0 : float > 0
        First trial step.
    rho : float in (0, 1)
        Shrink factor.
    c : float in (0, 1)
        Sufficient-decrease constant.
    max_steps : int
        Maximum number of shrinks.

    Returns
    -------
    float
        The accepted step; if none of ``max_steps + 1`` trials is accepted, the last
        (smallest) one tried, :math:`\eta_0 \rho^{\text{max\_steps}}`.
    """
    value = f.value if callable(getattr(f, "value", None)) else f
    if not callable(value):
        raise TypeError(f"f must be an objective or a callable, got {type(f).__name__}")
    x = np.asarray(x, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    if x.ndim != 1 or d.shape != x.shape:
        raise ValueError(f"d must have the shape of x (1-D); got x {x.shape}, d {d.shape}")
    if g is None:
        if not callable(getattr(f, "grad", None)):
            raise TypeError("g must be given when f has no grad method")
        g = f.grad(x)
    g = np.asarray(g, dtype=np.float64)
    if g.shape != x.shape:
        raise ValueError(f"g must have the shape of x {x.shape}, got shape {g.shape}")
    eta = _check_lr(eta0, "eta0")
    rho = _check_unit(rho, "rho", closed_low=False)
    c = _check_unit(c, "c", closed_low=False)
    max_steps = check_int(max_steps, "max_steps", 0)
    slope = float(g @ d)
    if not slope < 0.0:
        raise ValueError(f"d must be a descent direction (g . d < 0), got g . d = {slope}")
    fx = float(value(x))
    for j in range(max_steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            f_trial = float(value(x + eta * d))
        if math.isfinite(f_trial) and f_trial <= fx + c * eta * slope:
            return eta
        if j < max_steps:
            eta *= rho
    return eta


def _newton_direction(H: np.ndarray, g: np.ndarray, modify: bool) -> np.ndarray:
    r"""Solve :math:`(H + \tau I) d = -g`; ``tau = 0`` unless ``modify`` and H is not PD.

    The modification is Nocedal & Wright's Algorithm 3.3 (Cholesky with an added multiple of
    the identity): it keeps the pure Newton step wherever H is positive definite, so the local
    quadratic rate survives, and yields a descent direction elsewhere.
    """
    if not modify:
        return np.linalg.solve(H, -g)
    scale = float(np.max(np.abs(np.diag(H)))) if H.size else 0.0
    tau = 0.0 if np.min(np.diag(H)) > 0 else max(1e-3 * scale, 1e-3)
    eye = np.eye(H.shape[0])
    for _ in range(60):
        try:
            chol = np.linalg.cholesky(H + tau * eye)
        except np.linalg.LinAlgError:
            tau = max(2.0 * tau, 1e-3 * max(scale, 1.0))
            continue
        y = np.linalg.solve(chol, -g)
        return np.linalg.solve(chol.T, y)
    return -g  # pathological Hessian: fall back to steepest descent


def newton(f, x0, max_iter=50, tol=1e-10, line_search=True) -> OptimizeResult:
    r"""Newton's method, with backtracking line search by default.

    .. math::

        \nabla^2 f(x_k)\, d_k = -\nabla f(x_k), \qquad x_{k+1} = x_k + \eta_k d_k .

    With ``line_search=True``, :math:`\eta_k` comes from :func:`backtracking` starting at 1,
    and a Hessian that is not positive definite is shifted by :math:`\tau I` until it is
    (so :math:`d_k` descends). Near a minimiser with positive definite Hessian the full step
    :math:`\eta_k = 1` is accepted and convergence is quadratic,
    :math:`\lVert x_{k+1} - x^\star\rVert \le C \lVert x_k - x^\star\rVert^2`; on a quadratic
    with :math:`A \succ 0` one step lands on the minimiser. ``line_search=False`` is the pure
    method (:math:`\eta_k = 1`, no modification).

    Parameters
    ----------
    f : Objective
        Needs ``value``, ``grad`` and ``hess``.
    x0 : array_like, shape (d,)
    max_iter : int
    tol : float
        Stop when :math:`\lVert \nabla f(x_k) \rVert_2 \le` ``tol``.
    line_search : bool

    Returns
    -------
    OptimizeResult
    """
    _check_objective(f, needs=("value", "grad", "hess"))
    max_iter = check_int(max_iter, "max_iter", 0)
    tol = _check_tol(tol)
    x = _check_x0(f, x0)

    rec = _Recorder(x, f.value(x))
    g = f.grad(x)
    n_grad = 1
    with _quiet_overflow():
        for k in range(max_iter + 1):
            if np.linalg.norm(g) <= tol:
                return rec.result(
                    True, f"converged: gradient norm <= tol after {k} iterations", n_grad
                )
            if k == max_iter:
                break
            try:
                d = _newton_direction(f.hess(x), g, modify=line_search)
            except np.linalg.LinAlgError:
                return rec.result(False, f"singular Hessian at iteration {k}", n_grad)
            if line_search and not g @ d < 0.0:
                d = -g  # rounding can spoil a direction nearly orthogonal to g
            eta = backtracking(f, x, d, g=g) if line_search else 1.0
            x = x + eta * d
            fx = f.value(x) if _all_finite(x) else math.nan
            if _diverged(fx, rec.losses[0]):
                return rec.result(False, f"diverged at iteration {k + 1}", n_grad)
            rec.add(x, fx)
            g = f.grad(x)
            n_grad += 1
    return rec.result(False, f"maximum number of iterations ({max_iter}) reached", n_grad)


# =========================================================================== predicted by theory
# The laws the chapters compare their runs with: the rate of momentum on a quadratic, the trial
# steps of a line search, the variance of a mini-batch gradient.


def momentum_rate(lr: float, beta: float, eigenvalues, *, nesterov: bool = False) -> float:
    r"""Asymptotic linear rate of momentum on a quadratic with the given Hessian eigenvalues.

    On :math:`f(x) = \tfrac12 x^\top A x`, in the eigenbasis of :math:`A` every coordinate
    evolves on its own. With PyTorch's heavy ball (:class:`Momentum`),
    :math:`v' = \beta v + h x`, :math:`x' = x - \eta v'`, so the pair :math:`(x, v)` is
    multiplied by

    .. math::

        M_h = \begin{pmatrix} 1 - \eta h & -\eta\beta \\ h & \beta \end{pmatrix},
        \qquad \det(zI - M_h) = z^2 - (1 + \beta - \eta h) z + \beta,

    and with Nesterov's form (:class:`Nesterov`), :math:`x' = x - \eta(h x + \beta v')`, by

    .. math::

        N_h = \begin{pmatrix} 1 - \eta h(1 + \beta) & -\eta\beta^2 \\
        h & \beta \end{pmatrix}.

    The error shrinks like :math:`\rho^k` with :math:`\rho = \max_h \rho(M_h)`. When
    both roots are complex their modulus is :math:`\sqrt\beta`; with :math:`\eta = 1/L` that
    holds for every :math:`h \in [\mu, L]` as soon as
    :math:`\sqrt\beta \ge 1 - 1/\sqrt\kappa`, so the best choice is
    :math:`\beta^\star = (1 - 1/\sqrt\kappa)^2` with rate :math:`1 - 1/\sqrt\kappa`, against
    :math:`1 - 1/\kappa` for gradient descent :cite:`polyak1964` (:func:`best_momentum`).

    Parameters
    ----------
    lr : float > 0
    beta : float in [0, 1)
    eigenvalues : array_like, shape (d,)
        Eigenvalues of the Hessian :math:`A` (positive).
    nesterov : bool
        Nesterov's form instead of the heavy ball.

    Returns
    -------
    float
        :math:`\max_h` of the spectral radius of the iteration matrix :math:`M_h`
        (or :math:`N_h`): the error behaves like :math:`\rho^k` (times a polynomial in
        :math:`k` when roots coincide); :math:`\rho \ge 1` means no convergence.
    """
    for name, value in (("lr", lr), ("beta", beta)):
        if not is_real(value):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be positive and finite, got {lr!r}")
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must lie in [0, 1), got {beta!r}")
    eigs = np.atleast_1d(np.asarray(eigenvalues, dtype=float))
    if eigs.ndim != 1 or eigs.size == 0 or not np.all(np.isfinite(eigs)) or np.any(eigs <= 0):
        raise ValueError("eigenvalues must be a non-empty 1-D array of positive numbers")
    radii = []
    for h in eigs:
        if nesterov:
            m = np.array([[1.0 - lr * h * (1.0 + beta), -lr * beta**2], [h, beta]])
        else:
            m = np.array([[1.0 - lr * h, -lr * beta], [h, beta]])
        radii.append(np.max(np.abs(np.linalg.eigvals(m))))
    return float(max(radii))


def best_momentum(kappa: float) -> float:
    r"""The heavy-ball momentum with the smallest rate for :math:`\eta = 1/L`.

    :math:`\beta^\star = (1 - 1/\sqrt\kappa)^2`, giving the rate :math:`1 - 1/\sqrt\kappa`.
    """
    if not (np.isfinite(kappa) and kappa >= 1):
        raise ValueError(f"kappa must be a finite number >= 1, got {kappa!r}")
    return float((1.0 - 1.0 / np.sqrt(kappa)) ** 2)


def best_constants(kappa: float) -> dict[str, tuple[float, float, float]]:
    r"""The best constants of gradient descent and of the heavy ball, with :math:`L = 1`.

    Returns
    -------
    dict label -> (eta L, beta, rate)
        Gradient descent, :math:`\eta = 2/(L + \mu)`, rate :math:`(\kappa-1)/(\kappa+1)`;
        the heavy ball with Polyak's :math:`\eta = 4/(\sqrt L + \sqrt\mu)^2`,
        :math:`\beta = \bigl(\frac{\sqrt\kappa-1}{\sqrt\kappa+1}\bigr)^2`, rate
        :math:`\frac{\sqrt\kappa-1}{\sqrt\kappa+1}`.
    """
    if not (np.isfinite(kappa) and kappa >= 1):
        raise ValueError(f"kappa must be a finite number >= 1, got {kappa!r}")
    mu = 1.0 / kappa
    s = np.sqrt(kappa)
    return {
        "gradient descent, best η": (2.0 / (1.0 + mu), 0.0, (kappa - 1) / (kappa + 1)),
        "heavy ball, Polyak's η and β": (
            4.0 / (1.0 + np.sqrt(mu)) ** 2,
            ((s - 1) / (s + 1)) ** 2,
            (s - 1) / (s + 1),
        ),
    }


def armijo_trials(
    f, x, d, *, eta0: float = 1.0, rho: float = 0.5, c: float = 1e-4, max_steps: int = 50
) -> tuple[np.ndarray, np.ndarray, int]:
    r"""The steps :math:`\eta_j = \eta_0 \rho^j` a backtracking search tries along ``d``.

    Parameters
    ----------
    f : Objective
        Needs ``value`` and ``grad``.
    x, d : array_like, shape (n,)
        Point and descent direction (:math:`\nabla f(x)^\top d < 0`).
    eta0, rho, c, max_steps
        As in :func:`coursekit.optimize.backtracking`.

    Returns
    -------
    etas : ndarray, shape (j + 1,)
        The trial steps, up to and including the accepted one.
    values : ndarray, shape (j + 1,)
        :math:`f(x + \eta_j d)`.
    accepted : int
        Index of the first step meeting the Armijo condition
        :math:`f(x + \eta d) \le f(x) + c\,\eta\,\nabla f(x)^\top d` (the last index if
        none does).
    """
    x = np.asarray(x, dtype=float)
    d = np.asarray(d, dtype=float)
    slope = float(f.grad(x) @ d)
    if not slope < 0:
        raise ValueError(f"d must be a descent direction (grad . d < 0), got {slope}")
    fx = f.value(x)
    etas, values = [], []
    eta = float(eta0)
    for _ in range(max_steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            value = float(f.value(x + eta * d))
        etas.append(eta)
        values.append(value)
        if np.isfinite(value) and value <= fx + c * eta * slope:
            break
        eta *= rho
    return np.array(etas), np.array(values), len(etas) - 1


def minibatch_gradient_variance(f: FiniteSum, x, batch_size: int) -> float:
    r"""Exact :math:`\mathbb{E}\lVert \nabla f_B(x) - \nabla f(x)\rVert^2` for a random batch.

    For a batch :math:`B` of :math:`b` distinct rows drawn uniformly from :math:`n` (sampling
    without replacement, as every full batch of :func:`coursekit.data.batch_indices` is),

    .. math::

        \mathbb{E}\,\lVert \nabla f_B(x) - \nabla f(x) \rVert^2
        = \frac{\sigma^2(x)}{b}\,\frac{n - b}{n - 1}, \qquad
        \sigma^2(x) = \frac1n \sum_{i=1}^n \lVert \nabla f_i(x) - \nabla f(x) \rVert^2 .

    The factor :math:`(n-b)/(n-1)` (the finite-population correction) makes the full batch
    exact: :math:`b = n` gives 0.

    Parameters
    ----------
    f : FiniteSum
        Needs ``sample_grads(x)`` (shape ``(n, d)``) and ``n_samples``.
    x : array_like, shape (d,)
    batch_size : int
        In ``[1, n]``.

    Returns
    -------
    float
    """
    n = f.n_samples
    if not is_int(batch_size):
        raise TypeError(f"batch_size must be an integer, got {type(batch_size).__name__}")
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [1, n_samples={n}], got {batch_size}")
    per_sample = f.sample_grads(np.asarray(x, dtype=float))
    sigma2 = float(np.mean(np.sum((per_sample - per_sample.mean(axis=0)) ** 2, axis=1)))
    if n == 1:
        return 0.0
    return sigma2 / batch_size * (n - batch_size) / (n - 1)


# =========================================================================== heavy-ball rate map
def heavy_ball_rate_map(lrs, betas, mu, L) -> np.ndarray:
    r"""The heavy ball's worst-case linear rate on quadratics with curvatures in :math:`[\mu, L]`.

    On :math:`f(x) = \tfrac12 x^\top A x` the heavy ball (:class:`Momentum`) acts on each
    eigen-direction of :math:`A`, with eigenvalue :math:`h`, through a :math:`2\times2` matrix
    with characteristic polynomial :math:`z^2 - (1 + \beta - \eta h) z + \beta`. Its rate is
    the largest root modulus :math:`r(h)`, and the rate of the method is the worst over the
    spectrum. With :math:`a = 1 + \beta - \eta h`: if :math:`a^2 < 4\beta` the roots are
    complex with modulus :math:`\sqrt\beta`; otherwise :math:`r = (|a| + \sqrt{a^2 - 4\beta})/2`,
    which grows with :math:`|a|`. As :math:`|a|` is convex in :math:`h`, the worst :math:`h` in
    :math:`[\mu, L]` is an end, so

    .. math:: \rho(\eta, \beta) = \max\bigl(r(\mu), r(L)\bigr),

    and :math:`\rho < 1` exactly when :math:`0 < \eta L < 2(1 + \beta)` (Polyak, 1964).

    Parameters
    ----------
    lrs : array_like, shape (m,)
        Learning rates :math:`\eta > 0`.
    betas : array_like, shape (k,)
        Momentum coefficients :math:`\beta \in [0, 1)`.
    mu, L : float
        The smallest and largest Hessian eigenvalue, :math:`0 < \mu \le L`.

    Returns
    -------
    ndarray, shape (k, m)
        ``rates[i, j]`` is :math:`\rho` for ``betas[i]`` and ``lrs[j]``; :math:`\rho \ge 1`
        means that some direction does not converge.
    """
    lrs = np.atleast_1d(np.asarray(lrs, dtype=float))
    betas = np.atleast_1d(np.asarray(betas, dtype=float))
    if lrs.ndim != 1 or lrs.size == 0 or not np.all(np.isfinite(lrs) & (lrs > 0)):
        raise ValueError("lrs must be a non-empty 1-D array of positive finite learning rates")
    if betas.ndim != 1 or betas.size == 0 or not np.all((betas >= 0) & (betas < 1)):
        raise ValueError("betas must be a non-empty 1-D array of momenta in [0, 1)")
    mu, L = check_positive(mu, "mu"), check_positive(L, "L")
    if mu > L:
        raise ValueError(f"mu must not exceed L, got mu = {mu} > L = {L}")
    eta, beta = np.meshgrid(lrs, betas)
    worst = np.zeros_like(eta)
    for h in (mu, L):
        a = 1.0 + beta - eta * h
        disc = a * a - 4.0 * beta
        real = (np.abs(a) + np.sqrt(np.maximum(disc, 0.0))) / 2.0
        worst = np.maximum(worst, np.where(disc < 0.0, np.sqrt(beta), real))
    return worst
