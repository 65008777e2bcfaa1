"""Guards for what the book says about its own results.

A chapter that writes "Newton needs fewer steps than GD at every condition number shown"
also runs, in a hidden cell::

    from coursekit.claims import claim
    claim(all(newton_steps < gd_steps),
          "Newton needs fewer steps than GD at every condition number shown",
          newton_steps=newton_steps, gd_steps=gd_steps)

If a change to the code or the machine makes the result stop supporting the sentence, the
cell raises and the strict book build fails with a message that quotes the sentence and the
numbers it was checked against. Numbers the prose quotes are glued (myst-nb ``glue``); the
guard covers the comparative words around them. NumPy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ClaimError", "claim"]


class ClaimError(AssertionError):
    """A sentence of the book is no longer supported by the results it describes."""


def _show(value) -> str:
    """A short, readable rendering of one number or array for the failure message."""
    if isinstance(value, np.ndarray) or isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            return np.array2string(arr, precision=4, threshold=20, separator=", ")
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return repr(value)


def claim(holds, sentence: str, **numbers) -> None:
    """Fail loudly when ``holds`` is false: the book's ``sentence`` is no longer true.

    Parameters
    ----------
    holds : bool or array_like of bool
        The condition that makes the sentence true. An array must be true everywhere
        (``numpy.all``); an empty array is refused, since it supports nothing.
    sentence : str
        The sentence (or its gist) as the reader sees it in the chapter.
    **numbers
        The measured values the condition was computed from, quoted in the message.

    Raises
    ------
    ClaimError
        ``holds`` is false (an ``AssertionError``, so ``pytest`` and the build report it).
    TypeError
        ``sentence`` is not a non-empty string.
    ValueError
        ``holds`` is an empty array.
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise TypeError("sentence must be the non-empty text of the claim")
    arr = np.asarray(holds)
    if arr.size == 0:
        raise ValueError(f"holds is empty for the claim {sentence!r}: nothing supports it")
    if arr.dtype.kind not in "bui":
        raise TypeError(f"holds must be a bool or an array of bools, got dtype {arr.dtype}")
    if bool(np.all(arr)):
        return
    shown = "; ".join(f"{name} = {_show(value)}" for name, value in numbers.items())
    detail = f"\n  measured: {shown}" if shown else ""
    raise ClaimError(f"the book's claim no longer holds: {sentence!r}{detail}")
