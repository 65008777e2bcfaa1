r"""Numerical gradients by central differences, and the relative error used to compare them.

The check every backward pass in the course goes through:

.. math::

    \frac{\partial f}{\partial x_j} \approx \frac{f(x + \varepsilon e_j) - f(x - \varepsilon e_j)}
    {2 \varepsilon}, \qquad \text{error } O(\varepsilon^2),

and an analytic gradient is trusted when :func:`rel_error` against it is tiny (about 1e-7 or
less in float64 for smooth functions).

``x`` is perturbed **in place**, one entry at a time, and restored exactly afterwards, so
``fun`` may ignore its argument and read ``x`` through a closure (the CS231n idiom
``numerical_grad(lambda _: model.loss(X, y), model.params["W1"])``). Inputs that are not a
writable floating-point array (lists, integers) are first copied to float64.

Only NumPy is imported here.
"""

from __future__ import annotations

import operator

import numpy as np

from coursekit._checks import check_positive

__all__ = ["numerical_grad", "numerical_grad_array", "rel_error"]


def _check_eps(eps) -> float:
    return check_positive(eps, "eps")


def _perturbable(x) -> np.ndarray:
    """``x`` itself if it is a writable float array, else a float64 copy."""
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating) and x.flags.writeable:
        return x
    try:
        return np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"x must be a numeric array, got {type(x).__name__}") from exc


def numerical_grad(fun, x, eps=1e-6) -> np.ndarray:
    r"""Central-difference gradient of a scalar function.

    .. math::

        g_j = \frac{f(x + \varepsilon e_j) - f(x - \varepsilon e_j)}{2\varepsilon}

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float`` (a 0-d or size-1 result is accepted).
    x : array_like, any shape
        The point; perturbed in place and restored (see the module docstring).
    eps : float
        Step :math:`\varepsilon`.

    Returns
    -------
    ndarray, same shape as ``x``, float64
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    eps = _check_eps(eps)
    return _central_differences(fun, _perturbable(x), eps, _scalar, operator.sub)


def numerical_grad_array(fun, x, dout, eps=1e-6) -> np.ndarray:
    r"""Gradient of :math:`\sum (\text{fun}(x) \odot \text{dout})` with respect to ``x``.

    This is the check for a layer's backward pass: given the upstream gradient ``dout`` of
    the loss with respect to the layer's output, the layer's ``dx`` must equal

    .. math::

        (dx)_j = \sum_k \text{dout}_k\,
        \frac{\text{fun}(x + \varepsilon e_j)_k - \text{fun}(x - \varepsilon e_j)_k}{2\varepsilon}.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> ndarray`` of the same shape as ``dout``.
    x : array_like, any shape
        Perturbed in place and restored (see the module docstring).
    dout : array_like
        Upstream gradient, shape of ``fun(x)``.
    eps : float

    Returns
    -------
    ndarray, same shape as ``x``, float64
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    eps = _check_eps(eps)
    dout = np.asarray(dout, dtype=np.float64)

    def weighted_difference(out_plus, out_minus):
        if out_plus.shape != dout.shape:
            raise ValueError(
                f"dout must have the shape of fun(x): fun(x) has shape {out_plus.shape}, "
                f"dout has shape {dout.shape}"
            )
        # Difference first, then weight: no cancellation between two large weighted sums.
        return np.sum((out_plus - out_minus) * dout)

    def read(out):
        return np.array(out, dtype=np.float64)  # a copy: fun may reuse its output buffer

    return _central_differences(fun, _perturbable(x), eps, read, weighted_difference)


def _central_differences(fun, x, eps, read, combine) -> np.ndarray:
    """For every entry j of ``x``: ``combine(read(fun(x + eps e_j)), read(fun(x - eps e_j)))
    / (2 eps)``. ``x`` is perturbed in place and always restored, even if ``fun`` raises."""
    grad = np.zeros(x.shape, dtype=np.float64)
    for ix in np.ndindex(x.shape):
        old = x[ix].copy()
        try:
            x[ix] = old + eps
            plus = read(fun(x))
            x[ix] = old - eps
            minus = read(fun(x))
        finally:
            x[ix] = old
        grad[ix] = combine(plus, minus) / (2.0 * eps)
    return grad


def _scalar(value) -> float:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1:
        raise ValueError(f"fun must return a scalar, got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def rel_error(a, b) -> float:
    r"""Largest elementwise relative error between two arrays of the same shape.

    .. math::

        \max_j \frac{|a_j - b_j|}{\max(10^{-8},\ |a_j| + |b_j|)}

    The floor :math:`10^{-8}` keeps entries where both are (nearly) zero from dividing by
    zero. Shapes must match exactly (no broadcasting), since a silently broadcast
    ``(d, 1)`` against ``(d,)`` is a common bug this is meant to catch.

    Returns
    -------
    float
        0.0 for empty arrays; ``inf`` if any entry is NaN.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    err = np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))
    if np.any(np.isnan(err)):
        return float("inf")
    return float(np.max(err))
