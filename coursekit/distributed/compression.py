r"""Gradient compression: what a worker sends instead of its full gradient.

Two schemes, both used by :func:`coursekit.distributed.simulate.simulate`:

``"topk"``
    Send the :math:`k` largest-magnitude entries of :math:`g_i + e_i` and keep the rest in
    the worker's error memory :math:`e_i` (error feedback; Stich, Cordonnier & Jaggi, 2018),
    so that what is not sent now is only delayed.
``"quantize"``
    QSGD's unbiased stochastic quantisation with :math:`s` levels (Alistarh et al., 2017):
    the norm, and per entry a sign and a level.

:func:`compress` is the receiver's view of one message, :func:`compressed_bytes` what it costs
on the wire, and :class:`Compressor` what a set of workers sends step after step (the error
memories of top-k live there).

References
----------
- S. U. Stich, J.-B. Cordonnier, M. Jaggi, "Sparsified SGD with memory", NeurIPS 2018.
- D. Alistarh et al., "QSGD: communication-efficient SGD via gradient quantization and
  encoding", NeurIPS 2017.
"""

from __future__ import annotations

import math

import numpy as np

from coursekit._checks import check_choice, check_int

__all__ = ["COMPRESSIONS", "compress", "compressed_bytes", "Compressor"]

#: Gradient compressions of :func:`coursekit.distributed.simulate.simulate` (``None`` for none).
COMPRESSIONS = ("topk", "quantize")


def compressed_bytes(dim: int, itemsize: int, compression=None, k=None, levels=16) -> int:
    r"""Bytes of one compressed gradient of ``dim`` entries.

    .. math::

        \text{none: } d \cdot s_{\text{item}}, \qquad
        \text{topk: } k (s_{\text{item}} + 4), \qquad
        \text{quantize: } s_{\text{item}} + \Bigl\lceil \frac{d (1 + \lceil \log_2 (s+1) \rceil)}{8}
        \Bigr\rceil

    (top-k sends values and 32-bit indices; QSGD sends the norm, a sign bit and a level index
    per entry).
    """
    d = check_int(dim, "dim", minimum=1)
    if compression is None:
        return d * itemsize
    check_choice(compression, "compression", COMPRESSIONS)
    if compression == "topk":
        return check_int(k, "k", minimum=1) * (itemsize + 4)
    s = check_int(levels, "levels", minimum=1)
    return itemsize + math.ceil(d * (1 + math.ceil(math.log2(s + 1))) / 8)


def compress(v, compression, k=None, levels=16, rng=None):
    r"""Compress each row of ``v`` (what a worker sends instead of its gradient).

    ``"topk"``: keep the :math:`k` entries of largest magnitude, zero the rest (ties by index).

    ``"quantize"`` (QSGD): with :math:`\ell_j = s |v_j| / \lVert v \rVert_2`,

    .. math::

        Q(v)_j = \frac{\lVert v \rVert_2}{s}\, \mathrm{sign}(v_j)
                 \bigl(\lfloor \ell_j \rfloor + \mathbb 1[u_j < \ell_j - \lfloor \ell_j \rfloor]
                 \bigr), \quad u_j \sim \mathcal U(0, 1),

    so that :math:`\mathbb E[Q(v)] = v`.

    Parameters
    ----------
    v : ndarray, shape (m, d)
    compression : {"topk", "quantize"}
    k : int
        Entries kept by top-k, ``1 <= k <= d``.
    levels : int
        :math:`s \ge 1` quantisation levels.
    rng : numpy.random.Generator
        Needed by ``"quantize"``.

    Returns
    -------
    ndarray, shape (m, d)
        The decompressed values the receiver sees.
    """
    v = np.asarray(v, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"v must have shape (m, d), got {v.shape}")
    compression = check_choice(compression, "compression", COMPRESSIONS)
    if compression == "topk":
        k = check_int(k, "k", minimum=1)
        if k > v.shape[1]:
            raise ValueError(f"k must be in [1, d={v.shape[1]}], got {k}")
        if k == v.shape[1]:
            return v.copy()
        keep = np.argpartition(-np.abs(v), k - 1, axis=1)[:, :k]
        out = np.zeros_like(v)
        np.put_along_axis(out, keep, np.take_along_axis(v, keep, axis=1), axis=1)
        return out
    s = check_int(levels, "levels", minimum=1)
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator for compression='quantize'")
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    safe = np.where(norm > 0, norm, 1.0)
    level = s * np.abs(v) / safe
    low = np.floor(level)
    q = low + (rng.random(v.shape) < level - low)
    return np.sign(v) * q * safe / s


class Compressor:
    r"""What workers send, step after step, instead of their gradients.

    Parameters
    ----------
    compression : {"topk", "quantize"}
    n_workers, dim : int
        :math:`p` workers with gradients of :math:`d` entries (the size of the top-k error
        memories :math:`e`, shape ``(p, d)``).
    k : int, optional
        Entries kept by top-k.
    levels : int
        QSGD levels :math:`s`.
    rng : numpy.random.Generator, optional
        The quantiser's randomness (``"quantize"``).
    """

    def __init__(self, compression, n_workers, dim, k=None, levels=16, rng=None):
        self.compression = check_choice(compression, "compression", COMPRESSIONS)
        self.k = k
        self.levels = levels
        self.rng = rng
        self.memory = np.zeros((n_workers, dim)) if self.compression == "topk" else None

    def __call__(self, gradients: np.ndarray, workers) -> np.ndarray:
        r"""The decompressed values the central node receives from ``workers``.

        Parameters
        ----------
        gradients : ndarray, shape (m, d)
            One row per sending worker.
        workers : boolean mask of shape (p,) or array_like of m ints
            Who sends (selects the rows of the error memory).

        Returns
        -------
        ndarray, shape (m, d)
            Top-k: :math:`\mathrm{topk}(g_i + e_i)`, and :math:`e_i` keeps the remainder;
            quantize: :math:`Q(g_i)`.
        """
        if self.memory is None:
            return compress(gradients, "quantize", levels=self.levels, rng=self.rng)
        target = gradients + self.memory[workers]
        sent = compress(target, "topk", k=self.k)
        self.memory[workers] = target - sent
        return sent
