"""coursekit.nn.train.train_with_confusion: the confusion matrices agree with train's history."""

import numpy as np
import pytest

from coursekit.nn.layers import softmax_cross_entropy
from coursekit.nn.model import vgg


def test_confusions_agree_with_the_training_history(runs, small_split):
    X_tr, _, y_tr, y_te = small_split
    for run in runs.values():
        hist = run.result.history
        assert len(run.confusion) == len(hist["epoch"]) + 1 == 4
        for e, acc in enumerate(hist["test_acc"], start=1):
            # train() measures it with model.accuracy; the confusion with bincount.
            assert run.test_accuracy(e) == pytest.approx(acc, abs=1e-12)
        for c in run.confusion:
            np.testing.assert_array_equal(c.sum(axis=1), np.bincount(y_te, minlength=10))
        fresh = vgg((4, "M"), seed=0)
        loss0, _ = softmax_cross_entropy(fresh.forward(X_tr), y_tr)
        assert run.initial_loss == pytest.approx(loss0, rel=1e-5)
        assert len(run.losses) == 4
    # Same initial network, so the same starting point.
    assert runs["batch"].initial_loss == runs["mini-batch"].initial_loss
    # Equal epochs: mini-batches make 10 steps per epoch, batch GD one.
    assert runs["mini-batch"].result.n_steps == 30 and runs["batch"].result.n_steps == 3
