r"""Data for the course: synthetic regression / classification sets (and the spirals of
chapter 6), the digits images, the seeded mini-batch order that every training loop shares, and
the confusion matrix of predicted labels.

:func:`batch_indices` is the *single* source of batch order: :func:`coursekit.optimize.sgd`,
the CNN's training loop and the distributed simulation all draw their mini-batches from it, so
that (for instance) a simulated cluster of :math:`K` workers can be checked to reproduce
single-machine SGD exactly.

NumPy only, except :func:`load_digits`, which imports scikit-learn for its bundled copy of the
digits (no download ever happens).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator

import numpy as np

from coursekit._checks import check_int, is_real

__all__ = [
    "make_regression",
    "make_classification",
    "load_digits",
    "train_test_split",
    "standardize",
    "batch_indices",
    "spiral_data",
    "confusion_matrix",
]


def make_regression(n_samples=200, n_features=3, noise=0.1, seed=0):
    r"""A linear regression problem :math:`y = X w^\star + \sigma \varepsilon`.

    Rows of :math:`X` and the entries of :math:`w^\star` and :math:`\varepsilon` are standard
    normal, drawn from one generator seeded by ``seed``.

    Parameters
    ----------
    n_samples, n_features : int
    noise : float
        Noise standard deviation :math:`\sigma \ge 0`.
    seed : int or numpy.random.Generator

    Returns
    -------
    X : ndarray, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
    w_true : ndarray, shape (n_features,)
    """
    n = check_int(n_samples, "n_samples", 1)
    d = check_int(n_features, "n_features", 1)
    if not is_real(noise):
        raise TypeError(f"noise must be a real number, got {type(noise).__name__}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be finite and >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w_true = rng.standard_normal(d)
    y = X @ w_true + float(noise) * rng.standard_normal(n)
    return X, y, w_true


def make_classification(n_samples=200, n_features=2, seed=0):
    r"""Two overlapping Gaussian blobs labelled 0 and 1.

    Class :math:`c \in \{0, 1\}` is centred at :math:`\pm m` with :math:`m` a random direction
    of length 1, and has identity covariance, so the classes overlap (the unregularised
    logistic loss then has a finite minimiser). Labels are balanced (``n_samples // 2`` ones)
    and shuffled.

    Returns
    -------
    X : ndarray, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,), int64, values in {0, 1}
    """
    n = check_int(n_samples, "n_samples", 2)
    d = check_int(n_features, "n_features", 1)
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(d)
    direction /= np.linalg.norm(direction)
    y = rng.permutation(np.arange(n) % 2).astype(np.int64)
    centres = np.where(y[:, None] == 1, direction, -direction)
    X = centres + rng.standard_normal((n, d))
    return X, y


def load_digits(dtype=np.float64):
    """The 8x8 handwritten digits bundled with scikit-learn, as NCHW images in [0, 1].

    Parameters
    ----------
    dtype : floating dtype
        ``np.float64`` (teaching default) or ``np.float32`` (faster training).

    Returns
    -------
    X : ndarray, shape (1797, 1, 8, 8), values in [0, 1]
    y : ndarray, shape (1797,), int64 labels 0..9
    """
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating dtype such as np.float32, got {dtype}")
    # Imported here so that the rest of coursekit needs NumPy alone.
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    # Pixel intensities are integers 0..16 in the original data.
    X = (bunch.images / 16.0).astype(dtype)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    return X, y


def train_test_split(X, y, test_size=0.2, seed=0):
    """Shuffle the rows once and split them into a training and a test part.

    Parameters
    ----------
    X : array_like, shape (n, ...)
    y : array_like, shape (n, ...)
    test_size : float in (0, 1) or int in [1, n-1]
        Fraction (rounded up, like scikit-learn) or number of test rows.
    seed : int or numpy.random.Generator

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
        In scikit-learn's order.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError("X and y must be arrays with one row per sample")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"y must have one entry per row of X: X has {n} rows, y has {y.shape[0]}")
    if n < 2:
        raise ValueError(f"X must have at least 2 rows to split, got {n}")
    if not is_real(test_size):
        raise TypeError(f"test_size must be a float in (0, 1) or an int, got {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
    else:
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size must lie in (0, 1) as a fraction, got {test_size}")
        # The tolerance keeps 0.07 * 100 = 7.000000000000001 from rounding up to 8.
        n_test = math.ceil(test_size * n - 1e-9)
    if not 1 <= n_test <= n - 1:
        raise ValueError(f"test_size must leave 1..{n - 1} test rows, got {n_test} of {n}")
    perm = np.random.default_rng(seed).permutation(n)
    test, train = perm[:n_test], perm[n_test:]
    return X[train], X[test], y[train], y[test]


def standardize(X):
    r"""Centre and scale every feature (column, or every entry past axis 0) to unit variance.

    .. math::

        X_s = (X - \bar x) / s, \qquad s = \text{std}(X, \text{axis}=0)
        \ \text{(entries with } s = 0 \text{ use } s = 1\text{)}.

    Apply the returned ``mean`` and ``std`` to test data: ``(X_test - mean) / std``.

    Returns
    -------
    Xs : ndarray, shape of X
    mean, std : ndarray, shape X.shape[1:]
    """
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)  # float input keeps its dtype (float32 images stay float32)
    if X.ndim < 1 or X.shape[0] == 0:
        raise ValueError(f"X must have at least one row, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or inf")
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    # A constant feature carries no information; leaving it at 0 beats dividing by zero.
    std = np.where(std > 0, std, 1.0).astype(X.dtype)
    return (X - mean) / std, mean, std


def batch_indices(n_samples, batch_size, seed=0, shuffle=True) -> Iterator[tuple[int, np.ndarray]]:
    """Infinite generator of ``(epoch, idx)`` mini-batches: the course's one batch order.

    Each epoch takes ``rng.permutation(n_samples)`` from a single generator
    ``rng = np.random.default_rng(seed)`` created once for the whole run (or ``arange`` when
    ``shuffle=False``) and cuts it into consecutive batches of ``batch_size``; the last, shorter
    batch of an epoch is kept. Every row therefore appears exactly once per epoch, and there
    are ``ceil(n_samples / batch_size)`` batches per epoch.

    Parameters
    ----------
    n_samples : int
        Number of rows ``n >= 1``.
    batch_size : int
        In ``[1, n_samples]``.
    seed : int or numpy.random.Generator
    shuffle : bool

    Yields
    ------
    epoch : int
        0, 1, 2, ...
    idx : ndarray, shape (batch_size,) or shorter for the last batch, int64
    """
    n = check_int(n_samples, "n_samples", 1)
    b = check_int(batch_size, "batch_size", 1)
    if b > n:
        raise ValueError(f"batch_size must be in [1, n_samples={n}], got {b}")
    return _batches(n, b, seed, bool(shuffle))


def _batches(n: int, b: int, seed, shuffle: bool):
    # Separate from batch_indices so that bad arguments raise at the call, not at next().
    rng = np.random.default_rng(seed)
    epoch = 0
    while True:
        order = rng.permutation(n) if shuffle else np.arange(n)
        for start in range(0, n, b):
            yield epoch, order[start : start + b]
        epoch += 1


def spiral_data(n_per_class=100, n_classes=3, noise=0.2, seed=0):
    r"""Points on ``n_classes`` interleaved spiral arms, one arm per class.

    Point :math:`i` of arm :math:`c` sits at radius :math:`r_i = i / (m - 1)` (``m =
    n_per_class``) and angle :math:`\theta_i = 2\pi c / K + 4 r_i + \sigma \xi_i` with
    :math:`\xi_i \sim \mathcal N(0, 1)`: the arms wind around each other, so no straight
    line separates any class from the others.

    Returns
    -------
    X : ndarray, shape (n_per_class * n_classes, 2), float64
    y : ndarray, shape (n_per_class * n_classes,), int64 in ``0 .. n_classes - 1``
    """
    m = check_int(n_per_class, "n_per_class", 2)
    k = check_int(n_classes, "n_classes", 2)
    if not is_real(noise) or not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    r = np.tile(np.linspace(0.0, 1.0, m), k)
    y = np.repeat(np.arange(k), m).astype(np.int64)
    theta = 2 * np.pi * y / k + 4.0 * r + noise * rng.standard_normal(m * k)
    X = np.column_stack([r * np.cos(theta), r * np.sin(theta)])
    return X, y


def confusion_matrix(y_true, y_pred, n_classes):
    r"""Counts :math:`C_{ij} = \#\{n : y_n = i,\ \hat y_n = j\}`, shape (K, K).

    Row :math:`i` sums to the number of images of class :math:`i`; the trace divided by
    :math:`N` is the accuracy.
    """
    k = check_int(n_classes, "n_classes", 1)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.shape != y_true.shape:
        raise ValueError(
            f"y_true and y_pred must be 1-d of the same length, got shapes "
            f"{y_true.shape} and {y_pred.shape}"
        )
    for name, v in (("y_true", y_true), ("y_pred", y_pred)):
        if v.size and (not np.issubdtype(v.dtype, np.integer) or v.min() < 0 or v.max() >= k):
            raise ValueError(f"{name} must hold integer labels in 0..{k - 1}")
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
