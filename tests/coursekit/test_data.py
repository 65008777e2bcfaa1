"""Tests of coursekit.data: synthetic sets, digits, splitting, standardising, batch order."""

import math
from itertools import islice

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.data import (
    batch_indices,
    load_digits,
    make_classification,
    make_regression,
    standardize,
    train_test_split,
)

SETTINGS = settings(max_examples=30, deadline=None)


# --------------------------------------------------------------------------- synthetic data
def test_make_regression_is_a_noisy_linear_model():
    X, y, w = make_regression(n_samples=4000, n_features=5, noise=0.3, seed=1)
    assert X.shape == (4000, 5) and y.shape == (4000,) and w.shape == (5,)
    resid = y - X @ w
    # The residuals are the noise: mean 0, standard deviation 0.3 (4000 draws: +-3% or so).
    assert abs(resid.mean()) < 0.03
    assert resid.std() == pytest.approx(0.3, rel=0.08)
    # Noise-free data are exactly linear.
    X0, y0, w0 = make_regression(50, 3, noise=0.0, seed=2)
    assert np.allclose(y0, X0 @ w0, rtol=0, atol=1e-12)


def test_make_regression_is_seeded():
    a = make_regression(seed=5)
    b = make_regression(seed=5)
    c = make_regression(seed=6)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.allclose(a[0], c[0])


def test_make_classification_labels_and_separation():
    X, y = make_classification(n_samples=1001, n_features=3, seed=0)
    assert X.shape == (1001, 3) and y.shape == (1001,)
    assert y.dtype.kind == "i" and set(np.unique(y)) == {0, 1}
    assert abs(int(y.sum()) - 1001 // 2) <= 1
    # The class means are about 2 apart (centres at +-m with |m| = 1).
    gap = np.linalg.norm(X[y == 1].mean(axis=0) - X[y == 0].mean(axis=0))
    assert gap == pytest.approx(2.0, abs=0.25)
    X2, y2 = make_classification(n_samples=1001, n_features=3, seed=0)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)


# --------------------------------------------------------------------------- digits
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_load_digits(dtype):
    X, y = load_digits(dtype=dtype)
    assert X.shape == (1797, 1, 8, 8) and X.dtype == dtype
    assert y.shape == (1797,) and set(np.unique(y)) == set(range(10))
    assert X.min() == 0.0 and X.max() == 1.0
    # Intensities are k/16 for integers k: the scaling is exact.
    assert np.allclose(X * 16, np.round(X * 16), atol=1e-5)


def test_load_digits_rejects_integer_dtype():
    with pytest.raises(ValueError, match="dtype must be a floating"):
        load_digits(dtype=np.int32)


# --------------------------------------------------------------------------- splitting
@pytest.mark.parametrize(
    "n,test_size,n_test", [(10, 0.2, 2), (11, 0.2, 3), (50, 7, 7), (3, 0.5, 2), (100, 0.07, 7)]
)
def test_train_test_split_partitions_rows(n, test_size, n_test):
    X = np.arange(2 * n).reshape(n, 2)
    y = np.arange(n) * 10
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, seed=3)
    assert len(X_te) == n_test == len(y_te) and len(X_tr) == n - n_test == len(y_tr)
    # Every row lands in exactly one part, and X stays aligned with y.
    rows = np.concatenate([X_tr[:, 0], X_te[:, 0]]) // 2
    assert sorted(rows) == list(range(n))
    assert np.array_equal(np.concatenate([y_tr, y_te]), rows * 10)
    again = train_test_split(X, y, test_size=test_size, seed=3)
    assert np.array_equal(again[1], X_te)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"test_size": 0.0}, "test_size must lie"),
        ({"test_size": 1.5}, "test_size must lie"),
        ({"test_size": 10}, "test_size must leave"),
        ({"test_size": "a"}, "test_size must be"),
    ],
)
def test_train_test_split_bad_input(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        train_test_split(np.ones((10, 2)), np.ones(10), **kwargs)
    with pytest.raises(ValueError, match="y must have one entry per row"):
        train_test_split(np.ones((10, 2)), np.ones(9))


# --------------------------------------------------------------------------- standardize
def test_standardize_centres_and_scales():
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 3.0, size=(200, 4))
    X[:, 2] = 7.0  # a constant column
    Xs, mean, std = standardize(X)
    assert np.allclose(Xs.mean(axis=0), 0.0, atol=1e-12)
    assert np.allclose(Xs[:, [0, 1, 3]].std(axis=0), 1.0)
    assert np.array_equal(Xs[:, 2], np.zeros(200))
    assert np.allclose((X - mean) / std, Xs)


def test_standardize_keeps_float32_and_image_shape():
    X = np.random.default_rng(1).random((10, 1, 3, 3)).astype(np.float32)
    Xs, mean, std = standardize(X)
    assert Xs.dtype == np.float32 and Xs.shape == X.shape and mean.shape == (1, 3, 3)
    with pytest.raises(ValueError, match="X contains NaN"):
        standardize(np.array([[1.0], [np.nan]]))


# --------------------------------------------------------------------------- batch order
@SETTINGS
@given(
    n=st.integers(1, 60),
    b=st.integers(1, 60),
    seed=st.integers(0, 2**32 - 1),
    shuffle=st.booleans(),
)
def test_batch_indices_cover_every_row_once_per_epoch(n, b, seed, shuffle):
    b = min(b, n)
    per_epoch = math.ceil(n / b)
    batches = list(islice(batch_indices(n, b, seed=seed, shuffle=shuffle), 3 * per_epoch))
    for epoch in range(3):
        chunk = batches[epoch * per_epoch : (epoch + 1) * per_epoch]
        assert all(e == epoch for e, _ in chunk)
        sizes = [len(idx) for _, idx in chunk]
        assert sizes[:-1] == [b] * (per_epoch - 1) and 1 <= sizes[-1] <= b
        rows = np.concatenate([idx for _, idx in chunk])
        assert np.array_equal(np.sort(rows), np.arange(n))
        if not shuffle:
            assert np.array_equal(rows, np.arange(n))


@SETTINGS
@given(n=st.integers(1, 40), b=st.integers(1, 40), seed=st.integers(0, 1000))
def test_batch_indices_follow_the_documented_permutations(n, b, seed):
    # The contract: one default_rng(seed) for the run, rng.permutation(n) per epoch, cut in order.
    b = min(b, n)
    rng = np.random.default_rng(seed)
    expected = []
    for epoch in range(3):
        order = rng.permutation(n)
        expected += [(epoch, order[i : i + b]) for i in range(0, n, b)]
    got = list(islice(batch_indices(n, b, seed=seed), len(expected)))
    assert len(got) == len(expected)
    for (e1, i1), (e2, i2) in zip(got, expected, strict=True):
        assert e1 == e2 and np.array_equal(i1, i2)


def test_batch_indices_seeds_differ():
    first = lambda s: np.concatenate([i for _, i in islice(batch_indices(50, 7, seed=s), 8)])  # noqa: E731
    assert np.array_equal(first(1), first(1))
    assert not np.array_equal(first(1), first(2))


@pytest.mark.parametrize(
    "args,exc,match",
    [
        ((0, 1), ValueError, "n_samples must be >= 1"),
        ((10, 0), ValueError, "batch_size must be >= 1"),
        ((10, 11), ValueError, r"batch_size must be in \[1, n_samples=10\]"),
        ((10, 2.5), TypeError, "batch_size must be an integer"),
        ((10.0, 2), TypeError, "n_samples must be an integer"),
    ],
)
def test_batch_indices_bad_input_raises_at_call(args, exc, match):
    with pytest.raises(exc, match=match):
        batch_indices(*args)  # no next(): the error comes from the call itself


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: make_regression(n_samples=0), "n_samples must be >= 1"),
        (lambda: make_regression(noise=-1.0), "noise must be finite and >= 0"),
        (lambda: make_regression(n_features=2.0), "n_features must be an integer"),
        (lambda: make_classification(n_samples=1), "n_samples must be >= 2"),
    ],
)
def test_generators_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
