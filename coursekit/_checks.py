"""Argument checks shared by all of coursekit: one place for the messages a user reads.

Every check names the argument and says what was expected, as in
``ValueError("lr must be positive and finite, got -0.1")``; a value of the wrong type is a
``TypeError``, a value out of range a ``ValueError``. Booleans are never numbers here
(``True`` is an ``int`` to Python, but ``lr=True`` is a mistake). NumPy only.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "check_int",
    "check_real",
    "check_positive",
    "check_choice",
    "check_positive_array",
    "is_real",
    "is_int",
]


def is_int(value) -> bool:
    """``value`` is an integer (Python or NumPy), and not a ``bool``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """``value`` is a real number (int, float, NumPy scalar), and not a ``bool``."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(value, name: str, minimum: int | None = None) -> int:
    """``value`` as an ``int`` >= ``minimum`` (booleans and floats are refused).

    Raises
    ------
    TypeError
        ``value`` is not an integer.
    ValueError
        ``value < minimum``.
    """
    if not is_int(value):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_real(
    value, name: str, *, minimum=None, strict: bool = False, allow_inf: bool = False
) -> float:
    """``value`` as a ``float``, finite unless ``allow_inf``; ``minimum`` is inclusive unless
    ``strict``.

    Raises
    ------
    TypeError
        ``value`` is not a real number.
    ValueError
        ``value`` is NaN, infinite (unless ``allow_inf``) or below ``minimum``.
    """
    if not is_real(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if strict and not v > minimum:
            raise ValueError(f"{name} must be > {minimum}, got {value}")
        if not strict and not v >= minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return v


def check_positive(value, name: str) -> float:
    """``value`` as a finite ``float`` > 0 (a learning rate, an epsilon, a rate).

    Raises
    ------
    TypeError
        ``value`` is not a real number.
    ValueError
        ``value`` is not positive and finite.
    """
    if not is_real(value):
        raise TypeError(f"{name} must be a positive real number, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return value


def check_choice(value, name: str, allowed) -> str:
    """``value`` if it is one of ``allowed`` (strings), else a ValueError listing them."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def check_positive_array(values, name: str, *, length=None, allow_inf=False) -> np.ndarray:
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
