r"""A network's parameter arrays as one vector, and back.

The network keeps its parameters in a dict of arrays (``conv1.w`` (16, 1, 3, 3), ...,
``fc.b`` (10,)). Training updates them all at once and the distributed chapters move them as
one message, so both need the same layout: the arrays end to end in the dict's order,

.. math::

    x = \bigl(\operatorname{vec} \theta^{(1)}, \dots, \operatorname{vec} \theta^{(P)}\bigr)
    \in \mathbb R^d, \qquad d = \textstyle\sum_p \operatorname{size} \theta^{(p)},

each array in C order. :class:`ParamLayout` is that layout, computed once from the arrays'
names and shapes; :func:`coursekit.nn.train.flat_update` and
:class:`coursekit.distributed.cnn.FlatCNN` both use it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ParamLayout"]


class ParamLayout:
    r"""Where each of a dict's arrays lies in the vector :math:`x \in \mathbb R^d`.

    Parameters
    ----------
    arrays : dict[str, ndarray]
        The parameters (or anything shaped like them): their names, order and shapes fix the
        layout.
    dtype : numpy dtype, optional
        Of the vectors :meth:`flatten` returns and :meth:`unflatten` reads; default the dtype
        of the first array.

    Attributes
    ----------
    keys : list of str
        The arrays' names, in the vector's order.
    shapes : list of tuple
    dim : int
        :math:`d`.
    dtype : numpy dtype
    """

    def __init__(self, arrays, dtype=None):
        if not arrays:
            raise ValueError("arrays must hold at least one parameter array, got none")
        self.keys = list(arrays)
        self.shapes = [np.shape(arrays[k]) for k in self.keys]
        sizes = [int(np.prod(s)) for s in self.shapes]
        self._cuts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.dim = int(self._cuts[-1])
        first = np.asarray(arrays[self.keys[0]])
        self.dtype = np.dtype(first.dtype if dtype is None else dtype)

    def flatten(self, arrays) -> np.ndarray:
        """The dict ``arrays`` (parameters or gradients, any key order) as one new vector,
        shape ``(d,)``, in :attr:`dtype`."""
        missing = [k for k in self.keys if k not in arrays]
        if missing:
            raise KeyError(f"arrays: no array named {', '.join(map(repr, missing))}")
        return np.concatenate([np.asarray(arrays[k], self.dtype).ravel() for k in self.keys])

    def unflatten(self, x) -> dict:
        """The vector ``x``, shape ``(d,)``, as ``{name: array}``: views of ``x`` shaped like
        the parameters (cast to :attr:`dtype` first if ``x`` has another dtype)."""
        x = np.asarray(x)
        if x.shape != (self.dim,):
            raise ValueError(f"x must have shape ({self.dim},), got {x.shape}")
        x = x.astype(self.dtype, copy=False)
        return {
            k: x[lo:hi].reshape(s)
            for k, lo, hi, s in zip(
                self.keys, self._cuts[:-1], self._cuts[1:], self.shapes, strict=True
            )
        }
