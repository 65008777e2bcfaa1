"""coursekit.data.confusion_matrix: counts of (true, predicted) pairs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.data import confusion_matrix


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 6), data=st.data())
def test_confusion_matrix_counts_pairs(k, data):
    n = data.draw(st.integers(0, 40))
    y_true = np.array(
        data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.int64
    )
    y_pred = np.array(
        data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.int64
    )
    c = confusion_matrix(y_true, y_pred, k)
    expected = np.zeros((k, k), int)
    for t, p in zip(y_true, y_pred, strict=True):
        expected[t, p] += 1
    np.testing.assert_array_equal(c, expected)
    np.testing.assert_array_equal(c.sum(axis=1), np.bincount(y_true, minlength=k))
    np.testing.assert_array_equal(c.sum(axis=0), np.bincount(y_pred, minlength=k))
    assert np.trace(c) == np.sum(y_true == y_pred)


def test_confusion_matrix_bad_input():
    with pytest.raises(ValueError, match="y_pred"):
        confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix([0, 1], [0], 3)
    with pytest.raises(TypeError, match="n_classes"):
        confusion_matrix([0], [0], 2.0)
