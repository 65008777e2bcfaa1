"""Wall-clock timing for the chapters that measure this machine (NumPy only).

One helper, so that every measured time in the book is taken the same way: the median of a few
calls. On a shared machine another process now and then slows one call down; the median ignores
such a call where a mean would not, and a single lucky call cannot set it as it sets a minimum.
Chapters compare times only as ratios from the same run, guarded with wide margins.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from coursekit._checks import check_int

__all__ = ["median_seconds"]


def median_seconds(
    fun: Callable[[], object], repeats: int = 3, clock: Callable[[], float] | None = None
) -> float:
    """Median time of ``repeats`` calls of ``fun()`` (the median resists the occasional
    call slowed down by another process on a shared machine). ``clock`` is wall time
    (``time.perf_counter``) by default; ``time.thread_time`` counts this thread's CPU
    seconds instead (what chapter 7 uses for one-thread work on a loaded machine)."""
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    repeats = check_int(repeats, "repeats", 1)
    if clock is None:
        clock = time.perf_counter
    if not callable(clock):
        raise TypeError(f"clock must be callable, got {type(clock).__name__}")
    times = []
    for _ in range(repeats):
        t0 = clock()
        fun()
        times.append(clock() - t0)
    return float(np.median(times))
