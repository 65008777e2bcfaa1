"""The timing comparisons of coursekit.nn.analysis compare equal work."""

import numpy as np
import pytest

from coursekit.nn.analysis import conv_speedup, median_seconds, step_breakdown, step_speedup
from coursekit.nn.model import vgg


def test_conv_speedup_compares_equal_outputs():
    r = conv_speedup(x_shape=(2, 3, 5, 6), n_filters=4, repeats=1, dtype=np.float64)
    assert r["max_abs_diff"] < 1e-12
    assert r["flops"] == 2 * 2 * 4 * 5 * 6 * 3 * 9
    assert r["speedup"] == pytest.approx(r["loop_s"] / r["fast_s"])
    # No speed threshold here (timings are noisy on a shared machine): chapter 7 reports it.
    assert r["loop_s"] > 0 and r["fast_s"] > 0


def test_step_speedup_needs_the_same_network(small_split):
    X_tr, _, y_tr, _ = small_split
    x, y = X_tr[:3].astype(np.float64), y_tr[:3]
    same = step_speedup(
        vgg((3, "M"), seed=1, dtype=np.float64),
        vgg((3, "M"), seed=1, dtype=np.float64, conv="loop"),
        x,
        y,
        repeats=1,
    )
    assert same["max_rel_grad_diff"] < 1e-12
    other = step_speedup(
        vgg((3, "M"), seed=1, dtype=np.float64),
        vgg((3, "M"), seed=2, dtype=np.float64, conv="loop"),
        x,
        y,
        repeats=1,
    )
    assert other["max_rel_grad_diff"] > 1e-3
    with pytest.raises(TypeError, match="model_loop"):
        step_speedup(vgg((3, "M")), "loop", x, y)


def test_median_seconds():
    calls = []
    assert median_seconds(lambda: calls.append(1), repeats=5) >= 0 and len(calls) == 5
    with pytest.raises(ValueError, match="repeats"):
        median_seconds(lambda: None, repeats=0)


def test_step_breakdown_times_every_layer_of_the_models_own_passes(small_split):
    X_tr, _, y_tr, _ = small_split
    net = vgg((3, "M", 4), seed=1, dtype=np.float64)
    x, y = X_tr[:5].astype(np.float64), y_tr[:5]
    ticks = iter(range(10**6))
    # A clock that advances by one per reading: every timed pass reads it twice, so each
    # forward, each backward and the loss must come out as exactly one tick.
    rows = step_breakdown(net, x, y, repeats=3, clock=lambda: float(next(ticks)))
    assert [r["name"] for r in rows] == [layer.name for layer in net.layers] + ["loss"]
    assert all(r["forward_s"] == 1.0 for r in rows)
    assert all(r["backward_s"] == 1.0 for r in rows[:-1]) and rows[-1]["backward_s"] == 0
    # The passes it ran are the model's: the gradients it leaves equal model.loss's.
    _, grads = net.loss(x, y)
    grads = {k: v.copy() for k, v in grads.items()}
    real = step_breakdown(net, x, y, repeats=1)
    assert all(r["forward_s"] >= 0 and r["backward_s"] >= 0 for r in real)
    assert net.grads.keys() == grads.keys()
    assert all(np.array_equal(net.grads[k], grads[k]) for k in grads)
    with pytest.raises(TypeError, match="model"):
        step_breakdown("net", x, y)
    with pytest.raises(ValueError, match="repeats"):
        step_breakdown(net, x, y, repeats=0)
