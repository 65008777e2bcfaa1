"""Chapter 6's two-layer network: backprop gradients, training record, decision regions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.data import spiral_data
from coursekit.gradcheck import numerical_grad, rel_error
from coursekit.nn.two_layer import (
    decision_regions,
    init_two_layer,
    train_two_layer,
    two_layer_loss,
    two_layer_predict,
)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 7),
    hidden=st.integers(1, 6),
    k=st.integers(2, 4),
    l2=st.sampled_from([0.0, 0.3]),
)
def test_backprop_matches_central_differences(seed, n, hidden, k, l2):
    """Every parameter's gradient against a numerical gradient of the scalar loss."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = rng.integers(0, k, n)
    params = init_two_layer(3, hidden, k, seed=seed)
    params["b1"] = rng.standard_normal(hidden)
    params["b2"] = rng.standard_normal(k)
    _, grads = two_layer_loss(params, X, y, l2)
    for name in params:

        def f(v, name=name):
            return two_layer_loss({**params, name: v}, X, y, l2)[0]

        num = numerical_grad(f, params[name].copy(), eps=1e-6)
        # Relative to the array's scale: an entry near 0 has a large elementwise relative
        # error from round-off alone (~1e-10 absolute here). A ReLU kink within eps of a
        # pre-activation would spoil the quotient; with normal data that has probability
        # ~1e-6 per unit.
        scale = max(np.max(np.abs(num)), 1e-3)
        assert np.max(np.abs(grads[name] - num)) / scale < 1e-6, name
        if np.min(np.abs(num)) > 1e-3:
            assert rel_error(grads[name], num) < 1e-6, name


def test_zero_output_layer_gives_log_k_and_uniform_gradient():
    """W2 = b2 = 0: all logits zero, so L = log K and dL/db2 = mean(1/K - onehot)."""
    X, y = spiral_data(n_per_class=7, n_classes=4, seed=3)
    params = init_two_layer(2, 5, 4, seed=1)
    params["W2"][:] = 0.0
    loss, grads = two_layer_loss(params, X, y)
    assert loss == pytest.approx(np.log(4), rel=1e-12)
    onehot = np.eye(4)[y]
    np.testing.assert_allclose(grads["b2"], np.mean(0.25 - onehot, axis=0), atol=1e-15)
    # The hidden layer gets no gradient through a zero W2.
    assert np.all(grads["W1"] == 0) and np.all(grads["b1"] == 0)


def test_training_record_is_the_loss_of_the_snapshots():
    X, y = spiral_data(n_per_class=40, seed=1)
    p0 = init_two_layer(2, 32, 3, seed=0)
    hist = train_two_layer(p0, X, y, lr=1.0, epochs=60, l2=1e-3, snapshot_epochs=(0, 7, 60, 99))
    assert set(hist.snapshots) == {0, 7, 60}
    for e, snap in hist.snapshots.items():
        assert hist.losses[e] == pytest.approx(two_layer_loss(snap, X, y, 1e-3)[0], rel=1e-12)
        assert hist.accuracy[e] == np.mean(two_layer_predict(snap, X) == y)
    for k in p0:  # the initial parameters are not modified
        np.testing.assert_array_equal(hist.snapshots[0][k], p0[k])
    assert hist.losses[-1] < 0.6 * hist.losses[0]
    assert hist.accuracy[-1] > 0.8


def test_full_batch_step_is_one_plain_gradient_step():
    X, y = spiral_data(n_per_class=10, seed=2)
    p0 = init_two_layer(2, 8, 3, seed=4)
    hist = train_two_layer(p0, X, y, lr=0.3, epochs=1, l2=0.01, snapshot_epochs=(1,))
    _, g = two_layer_loss(p0, X, y, 0.01)
    for k in p0:
        np.testing.assert_allclose(hist.params[k], p0[k] - 0.3 * g[k], rtol=1e-13, atol=1e-15)


def test_minibatch_epoch_makes_ceil_n_over_b_steps():
    """With a tiny lr the change after one epoch is lr * the sum of the batch gradients."""
    # Random points: the spiral's centre point X = 0 sits on every ReLU's kink while b1 = 0.
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((30, 2)), rng.integers(0, 3, 30)  # batches of 8: 4 steps
    p0 = init_two_layer(2, 8, 3, seed=4)
    lr = 1e-9
    hist = train_two_layer(p0, X, y, lr=lr, epochs=1, batch_size=8, l2=0.0)
    from coursekit.data import batch_indices

    it = batch_indices(30, 8, seed=0)
    total = {k: np.zeros_like(v) for k, v in p0.items()}
    for _ in range(4):
        _, idx = next(it)
        for k, g in two_layer_loss(p0, X[idx], y[idx])[1].items():
            total[k] += g
    for k in p0:
        np.testing.assert_allclose((p0[k] - hist.params[k]) / lr, total[k], rtol=1e-4, atol=1e-6)


def test_decision_regions_are_predictions_on_the_grid():
    X, y = spiral_data(n_per_class=20, seed=0)
    params = train_two_layer(init_two_layer(2, 16, 3), X, y, epochs=30).params
    xs, ys, classes = decision_regions(params, (-1, 1), (-0.5, 2), n=17)
    assert classes.shape == (17, 17)
    i, j = 5, 11
    assert classes[i, j] == two_layer_predict(params, np.array([[xs[j], ys[i]]]))[0]


def test_bad_input():
    with pytest.raises(ValueError, match="params"):
        two_layer_loss({"W1": np.zeros((2, 2))}, np.zeros((1, 2)), np.zeros(1, int))
    p = init_two_layer(2, 3, 2)
    with pytest.raises(ValueError, match="l2"):
        two_layer_loss(p, np.zeros((1, 2)), np.zeros(1, int), l2=-1)
    with pytest.raises(ValueError, match="lr"):
        train_two_layer(p, np.zeros((2, 2)), np.zeros(2, int), lr=0)
    with pytest.raises(ValueError, match="batch_size"):
        train_two_layer(p, np.zeros((2, 2)), np.zeros(2, int), batch_size=3)
    with pytest.raises(TypeError, match="n_hidden"):
        init_two_layer(2, 2.5, 3)
    with pytest.raises(ValueError, match="noise"):
        spiral_data(noise=-1)
