"""Chapter 7: timing comparisons compare equal work, confusion matrices, mosaics, widgets."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.nn.layers import softmax_cross_entropy
from coursekit.nn.model import vgg
from coursekit.widgets.cnn import (
    channel_mosaic,
    confusion_matrix,
    conv_speedup,
    digits_split,
    feature_map_explorer,
    median_seconds,
    step_speedup,
    train_with_confusion,
    training_explorer,
)


@pytest.fixture(scope="module")
def small_split():
    X_tr, X_te, y_tr, y_te = digits_split()
    return X_tr[:150], X_te[:60], y_tr[:150], y_te[:60]


@pytest.fixture(scope="module")
def runs(small_split):
    kw = {"epochs": 3, "config": (4, "M"), "lr": 1e-2}
    return {"mini-batch": train_with_confusion(small_split, batch_size=16, **kw),
            "batch": train_with_confusion(small_split, batch_size=150, **kw)}


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 6), data=st.data())
def test_confusion_matrix_counts_pairs(k, data):
    n = data.draw(st.integers(0, 40))
    y_true = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)),
                      dtype=np.int64)
    y_pred = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)),
                      dtype=np.int64)
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


@settings(max_examples=25, deadline=None)
@given(f=st.integers(1, 11), h=st.integers(1, 5), w=st.integers(1, 6), pad=st.integers(0, 2),
       ncols=st.one_of(st.none(), st.integers(1, 5)), seed=st.integers(0, 99))
def test_channel_mosaic_places_each_scaled_channel(f, h, w, pad, ncols, seed):
    rng = np.random.default_rng(seed)
    maps = np.maximum(rng.standard_normal((f, h, w)), 0)
    maps[0] = 0.0  # a silent channel stays zero
    m = channel_mosaic(maps, ncols=ncols, pad=pad)
    cols = int(np.ceil(np.sqrt(f))) if ncols is None else ncols
    rows = -(-f // cols)
    assert m.shape == (rows * (h + pad) - pad, cols * (w + pad) - pad)
    assert np.sum(~np.isnan(m)) == f * h * w  # tiles only; separators and empty slots NaN
    for i in range(f):
        r, c = divmod(i, cols)
        tile = m[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w]
        peak = maps[i].max()
        np.testing.assert_allclose(tile, maps[i] / peak if peak > 0 else 0.0, rtol=1e-12)


def test_channel_mosaic_rejects_negative_maps():
    with pytest.raises(ValueError, match="maps"):
        channel_mosaic(-np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="maps"):
        channel_mosaic(np.ones((3, 3)))


def test_conv_speedup_compares_equal_outputs():
    r = conv_speedup(x_shape=(2, 3, 5, 6), n_filters=4, repeats=1, dtype=np.float64)
    assert r["max_abs_diff"] < 1e-12
    assert r["flops"] == 2 * 2 * 4 * 5 * 6 * 3 * 9
    assert r["speedup"] == pytest.approx(r["loop_s"] / r["fast_s"])
    # 240 Python-level patch products against one GEMM: the loops cannot win.
    assert r["speedup"] > 1


def test_step_speedup_needs_the_same_network(small_split):
    X_tr, _, y_tr, _ = small_split
    x, y = X_tr[:3].astype(np.float64), y_tr[:3]
    same = step_speedup(vgg((3, "M"), seed=1, dtype=np.float64),
                        vgg((3, "M"), seed=1, dtype=np.float64, conv="loop"), x, y, repeats=1)
    assert same["max_rel_grad_diff"] < 1e-12
    other = step_speedup(vgg((3, "M"), seed=1, dtype=np.float64),
                         vgg((3, "M"), seed=2, dtype=np.float64, conv="loop"), x, y, repeats=1)
    assert other["max_rel_grad_diff"] > 1e-3
    with pytest.raises(TypeError, match="model_loop"):
        step_speedup(vgg((3, "M")), "loop", x, y)


def test_median_seconds():
    calls = []
    assert median_seconds(lambda: calls.append(1), repeats=5) >= 0 and len(calls) == 5
    with pytest.raises(ValueError, match="repeats"):
        median_seconds(lambda: None, repeats=0)


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


def test_training_explorer_moves(runs):
    widget = training_explorer(runs)
    assert len(widget.frames) == 4 and len(set(widget.frames)) == 4
    first = widget.shown_frame
    widget.slider.index = 3
    assert widget.shown_frame != first
    widget.play.value = 2
    assert widget.stack.selected_index == 2
    with pytest.raises(ValueError, match="runs"):
        training_explorer({})


def test_feature_map_explorer_has_a_frame_per_conv_layer(small_split):
    model = vgg((2, "M", 3), seed=3)
    image = small_split[1][0]
    widget = feature_map_explorer(model, image, label=int(small_split[3][0]))
    assert len(widget.frames) == 2  # conv1, conv2
    widget.slider.index = 1
    assert widget.stack.selected_index == 1 and widget.shown_frame != widget.frames[0]
    with pytest.raises(ValueError, match="image"):
        feature_map_explorer(model, image[0])
