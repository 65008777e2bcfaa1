r"""Chapter 7's CNN as a workload for the distributed chapters: one flat parameter vector.

The simulator (:mod:`~coursekit.distributed.simulate`) and the MPI backend
(:mod:`~coursekit.distributed.mpi`) move *vectors*: a gradient is :math:`d` numbers, a message
is :math:`N = d \cdot s` bytes (:math:`s` bytes per value). The network of chapter 7 keeps its
parameters in a dict of arrays (``conv1.w`` (16, 1, 3, 3), ..., ``fc.b`` (10,)).
:class:`FlatCNN` is the bridge: it lays the arrays end to end in the model's order
(:class:`coursekit.nn.params.ParamLayout`, as training does),

.. math::

    x = \bigl(\operatorname{vec} W_{\text{conv1}}, b_{\text{conv1}}, \dots,
        \operatorname{vec} W_{\text{fc}}, b_{\text{fc}}\bigr) \in \mathbb R^d,

and offers the :class:`coursekit.objectives.FiniteSum` interface on it:
:math:`f(x) = \frac1n \sum_i \ell_i(x)` (mean softmax cross-entropy),
``grad(x, idx)`` :math:`= \nabla f_B(x) = \frac{1}{|B|} \sum_{i \in B} \nabla \ell_i(x)`.
A shard's *sum* of per-sample gradients, what a worker contributes to an all-reduce, is
``len(idx) * grad(x, idx)``: one forward and one backward pass over the shard, never one pass
per sample.

:func:`digits_cnn` builds the course's workload (the network of chapter 7 on the training
part of scikit-learn's digits); :func:`flops_per_sample` and :func:`measure_rate` give the
simulator's clock its two numbers, the work :math:`w` of one sample's gradient and the rate
:math:`F` at which this machine does it.
"""

from __future__ import annotations

import time

import numpy as np

from coursekit import data
from coursekit._checks import check_int
from coursekit.nn.analysis import step_flops
from coursekit.nn.model import VGG, vgg
from coursekit.nn.params import ParamLayout

__all__ = ["FlatCNN", "digits_cnn", "flops_per_sample", "measure_rate", "CONFIG"]

#: The network of chapter 7: conv16-16-pool-conv32-32-pool-linear10 on 1 x 8 x 8 digits.
CONFIG = (16, 16, "M", 32, 32, "M")


class FlatCNN:
    r"""Chapter 7's network on a fixed data set as :math:`f(x)`, :math:`x \in \mathbb R^d`.

    Parameters
    ----------
    model : VGG
        Its current parameters are :attr:`x0`; its dtype is the dtype of the computation
        (float64 for exact comparisons, float32 for speed).
    X : ndarray, shape (n, C, H, W)
    y : ndarray of int, shape (n,)

    Attributes
    ----------
    n_samples, dim : int
        :math:`n` and :math:`d`.
    x0 : ndarray, shape (d,)
        The model's initial parameters, flattened (in the model's dtype).
    dtype : numpy dtype
        Of parameters, activations and gradients.
    layout : coursekit.nn.params.ParamLayout
        Where each parameter array lies in :math:`x` (the layout training uses too).
    """

    def __init__(self, model, X, y):
        if not isinstance(model, VGG):
            raise TypeError(f"model must be a coursekit.nn.model.VGG, got {type(model).__name__}")
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim != 4 or X.shape[1:] != model.input_shape:
            shape = ", ".join(map(str, model.input_shape))
            raise ValueError(f"X must have shape (n, {shape}), got {X.shape}")
        if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                f"y must be integer labels of shape ({X.shape[0]},), got {y.dtype} {y.shape}"
            )
        self.model = model
        self.X = X.astype(model.dtype, copy=False)
        self.y = y
        self.n_samples = int(X.shape[0])
        self.dtype = model.dtype
        self.layout = ParamLayout(model.params, model.dtype)
        self.dim = self.layout.dim
        self.x0 = self.flatten(model.params)

    # ------------------------------------------------------------- flat <-> dict
    def flatten(self, arrays) -> np.ndarray:
        """The dict ``{name: array}`` (params or grads) as one vector, shape ``(d,)``."""
        return self.layout.flatten(arrays)

    def unflatten(self, x) -> dict:
        """The vector ``x`` (d,) as ``{name: array}`` shaped like the model's parameters."""
        return self.layout.unflatten(x)

    def _rows(self, idx):
        if idx is None:
            return np.arange(self.n_samples)
        rows = np.asarray(idx)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise ValueError(
                f"idx must be a 1-D array of row indices, got {rows.dtype} {rows.shape}"
            )
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_samples):
            raise ValueError(
                f"idx must lie in [0, {self.n_samples}), got {rows.min()}..{rows.max()}"
            )
        return rows

    # ------------------------------------------------------------- FiniteSum
    def value(self, x, idx=None, chunk=512) -> float:
        r""":math:`f_B(x) = \frac{1}{|B|}\sum_{i\in B} \ell_i(x)` (all rows if ``idx`` is None)."""
        from coursekit.nn.layers import softmax_cross_entropy

        self.model.params.update(self.unflatten(x))
        rows = self._rows(idx)
        if rows.size == 0:
            raise ValueError("idx must hold at least one row")
        total = 0.0
        for lo in range(0, rows.size, chunk):
            part = rows[lo : lo + chunk]
            loss, _ = softmax_cross_entropy(self.model.forward(self.X[part]), self.y[part])
            total += float(loss) * part.size
        self.model._caches = []
        return total / rows.size

    def grad(self, x, idx=None) -> np.ndarray:
        r""":math:`\nabla f_B(x)`, shape ``(d,)``, model's dtype (one forward and backward)."""
        rows = self._rows(idx)
        if rows.size == 0:
            raise ValueError("idx must hold at least one row")
        self.model.params.update(self.unflatten(x))
        _, grads = self.model.loss(self.X[rows], self.y[rows])
        return self.flatten(grads)

    def shard_sum(self, x, idx) -> np.ndarray:
        r""":math:`\sum_{i \in S} \nabla \ell_i(x) = |S|\,\nabla f_S(x)` (zeros if empty)."""
        rows = self._rows(idx)
        if rows.size == 0:
            return np.zeros(self.dim, self.dtype)
        return rows.size * self.grad(x, rows)

    def accuracy(self, x, X, y) -> float:
        """Fraction of ``X`` classified as ``y`` by the network with parameters ``x``."""
        self.model.params.update(self.unflatten(x))
        return self.model.accuracy(X, y)


def digits_cnn(dtype=np.float64, seed=0, n_train=None, config=CONFIG):
    """Chapter 7's network on the digits training split (80/20, split seed 0), flattened.

    Parameters
    ----------
    dtype : float32 or float64
    seed : int
        He initialisation of the weights.
    n_train : int, optional
        Keep only the first ``n_train`` training images (small, quick runs); default all 1437.
    config : sequence
        The network (default :data:`CONFIG`, chapter 7's).

    Returns
    -------
    objective : FlatCNN
        ``objective.x0`` holds the initial weights.
    test : tuple (X_test, y_test)
        The 360 held-out images.
    """
    X, y = data.load_digits(dtype=dtype)
    X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, test_size=0.2, seed=0)
    if n_train is not None:
        n_train = check_int(n_train, "n_train", 1)
        if n_train > X_tr.shape[0]:
            raise ValueError(f"n_train must be <= {X_tr.shape[0]} (training images), got {n_train}")
        X_tr, y_tr = X_tr[:n_train], y_tr[:n_train]
    model = vgg(config, input_shape=X.shape[1:], n_classes=10, seed=seed, dtype=dtype)
    return FlatCNN(model, X_tr, y_tr), (X_te, y_te)


def flops_per_sample(objective) -> float:
    r"""Analytical flops :math:`w` of one sample's gradient (forward + backward), from
    :func:`coursekit.nn.analysis.step_flops`."""
    if not isinstance(objective, FlatCNN):
        raise TypeError(f"objective must be a FlatCNN, got {type(objective).__name__}")
    return float(step_flops(objective.model, 1))


def measure_rate(objective, batch_size=64, repeats=5, seed=0):
    r"""This machine's rate :math:`F` (flop/s) on the workload: :math:`w b / t`.

    Times ``repeats`` gradients of a batch of ``batch_size`` random training rows (one warm-up
    first) and keeps the median time :math:`t`, so that the simulator's clock uses the rate
    this process really reaches (on a shared machine it changes from run to run).

    Returns
    -------
    rate : float
        Flop/s.
    seconds : float
        The median time of one batch's gradient.
    """
    if not isinstance(objective, FlatCNN):
        raise TypeError(f"objective must be a FlatCNN, got {type(objective).__name__}")
    batch_size = check_int(batch_size, "batch_size", 1)
    repeats = check_int(repeats, "repeats", 1)
    rng = np.random.default_rng(seed)
    x = objective.x0
    times = []
    for r in range(repeats + 1):
        idx = rng.choice(
            objective.n_samples, size=min(batch_size, objective.n_samples), replace=False
        )
        t0 = time.perf_counter()
        objective.grad(x, idx)
        if r:
            times.append(time.perf_counter() - t0)
    seconds = float(np.median(times))
    return flops_per_sample(objective) * idx.size / seconds, seconds
