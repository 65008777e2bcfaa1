"""Argument checks shared by the distributed modules (private).

Every public function of :mod:`coursekit.distributed` validates its input through these helpers so
that a bad argument always raises a ``ValueError``/``TypeError`` naming the argument, the
allowed values, and what was received.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from coursekit._checks import check_int


def real(value, name: str, *, minimum=None, strict=False, allow_inf=False) -> float:
    """``value`` as a float; ``minimum`` is inclusive unless ``strict``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if np.isnan(v) or (np.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if strict and not v > minimum:
            raise ValueError(f"{name} must be > {minimum}, got {value}")
        if not strict and not v >= minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return v


def integer(value, name: str, *, minimum=None) -> int:
    """``value`` as an int (numpy integers accepted, bools and floats rejected)."""
    return check_int(value, name, -math.inf if minimum is None else minimum)


def choice(value, name: str, allowed) -> str:
    """``value`` if it is one of ``allowed`` (strings), else a ValueError listing them."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def positive_array(values, name: str, *, length=None, allow_inf=False) -> np.ndarray:
    """A 1-D float array of strictly positive numbers (a scalar is broadcast to ``length``)."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0 and length is not None:
        arr = np.full(length, float(arr))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a scalar or a non-empty 1-D array, got shape {arr.shape}")
    if length is not None and arr.size != length:
        raise ValueError(f"{name} must have length {length}, got {arr.size}")
    if np.isnan(arr).any() or (not allow_inf and np.isinf(arr).any()):
        raise ValueError(f"{name} must be finite, got {arr}")
    if (arr <= 0).any():
        raise ValueError(f"{name} must be > 0 everywhere, got {arr}")
    return arr
