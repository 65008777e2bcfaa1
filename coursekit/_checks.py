"""Argument checks shared by the maths modules: one place for the messages a user reads.

Every check names the argument and says what was expected, as in
``ValueError("lr must be positive and finite, got -0.1")``. NumPy only.
"""

from __future__ import annotations

import math
import numbers


def check_int(value, name: str, minimum: int) -> int:
    """``value`` as an ``int`` >= ``minimum`` (booleans and floats are refused).

    Raises
    ------
    TypeError
        ``value`` is not an integer.
    ValueError
        ``value < minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive(value, name: str) -> float:
    """``value`` as a finite ``float`` > 0 (a learning rate, an epsilon, a rate).

    Raises
    ------
    TypeError
        ``value`` is not a real number.
    ValueError
        ``value`` is not positive and finite.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive real number, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return value
