"""Fixtures shared by the CNN's tests and chapter 7's widget tests."""

import pytest

from coursekit.nn.train import digits_split, train_with_confusion


@pytest.fixture(scope="session")
def small_split():
    """150 training and 60 test digits of the 80/20 split."""
    X_tr, X_te, y_tr, y_te = digits_split()
    return X_tr[:150], X_te[:60], y_tr[:150], y_te[:60]


@pytest.fixture(scope="session")
def runs(small_split):
    """Three epochs of a tiny network with mini-batches and with the whole batch."""
    kw = {"epochs": 3, "config": (4, "M"), "lr": 1e-2}
    return {
        "mini-batch": train_with_confusion(small_split, batch_size=16, **kw),
        "batch": train_with_confusion(small_split, batch_size=150, **kw),
    }
