"""coursekit.nn.train: the loop is sgd with coursekit.optimize's rules and
coursekit.data.batch_indices' order (checked step by step against a hand loop), history,
divergence, bad input, the CLI, and the digits target (slow)."""

import numpy as np
import pytest

from coursekit import data, optimize
from coursekit.nn.model import vgg
from coursekit.nn.params import ParamLayout
from coursekit.nn.train import flat_update, main, train, train_digits


def small_problem(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 6, 6))
    y = rng.integers(0, 3, n)
    return x, y


def small_model(seed=0):
    return vgg([3, "M"], input_shape=(1, 6, 6), n_classes=3, seed=seed, dtype=np.float64)


@pytest.mark.parametrize("rule", ["plain", "momentum", "adam"])
def test_train_equals_a_hand_loop_with_the_same_rule_and_batches(rule):
    x, y = small_problem()
    model = small_model()
    ref = small_model()
    res = train(model, x, y, epochs=2, batch_size=10, lr=0.05, rule=rule, seed=3)
    # Independent loop: the batches of data.batch_indices, the rule of optimize.
    r = optimize.get_rule(rule)
    states = {k: r.init(v) for k, v in ref.params.items()}
    batches = data.batch_indices(24, 10, seed=3)
    losses = []
    for _ in range(2 * 3):  # ceil(24 / 10) = 3 batches per epoch
        _, idx = next(batches)
        loss, grads = ref.loss(x[idx], y[idx])
        losses.append(loss * len(idx))
        for k in ref.params:
            ref.params[k] = r.update(ref.params[k], grads[k], 0.05, states[k])
    for k in ref.params:
        assert np.array_equal(model.params[k], ref.params[k]), k
    assert res.n_steps == 6
    assert res.history["loss"] == pytest.approx([sum(losses[:3]) / 24, sum(losses[3:]) / 24])


@pytest.mark.parametrize("rule", sorted(optimize.RULES))
def test_flat_update_is_the_update_of_each_array(rule):
    # Every rule, float32, arrays of several shapes: the same numbers as one update per
    # array, the dict's arrays replaced, the old ones left intact.
    rng = np.random.default_rng(5)
    shapes = {"a.w": (4, 3, 3, 3), "a.b": (4,), "fc.w": (7, 2), "fc.b": (2,)}
    params = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    ref = dict(params)
    r = optimize.get_rule(rule)
    layout = ParamLayout(params)
    state = r.init(layout.flatten(params))
    states = {k: r.init(v) for k, v in ref.items()}
    for step in range(3):
        grads = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
        before = {k: v.copy() for k, v in params.items()}
        old = dict(params)
        flat_update(params, layout.flatten(grads), r, 0.01 * (step + 1), state, layout)
        for k in shapes:
            ref[k] = r.update(ref[k], grads[k], 0.01 * (step + 1), states[k])
            assert params[k].shape == shapes[k] and params[k].dtype == np.float32
            assert np.array_equal(params[k], ref[k]), (rule, k)
            assert np.array_equal(old[k], before[k])  # not written in place


def test_full_batch_plain_is_gradient_descent():
    x, y = small_problem()
    model, ref = small_model(), small_model()
    train(model, x, y, epochs=1, batch_size=24, lr=0.1, rule="plain")
    _, grads = ref.loss(x, y)
    for k in ref.params:
        assert np.allclose(model.params[k], ref.params[k] - 0.1 * grads[k], rtol=0, atol=1e-15)


def test_schedule_is_applied_per_step():
    x, y = small_problem()
    model, ref = small_model(), small_model()
    train(model, x, y, epochs=1, batch_size=12, lr=0.2, rule="plain", schedule="1/t", shuffle=False)
    sched = optimize.get_schedule("1/t")
    for t, idx in enumerate([np.arange(12), np.arange(12, 24)]):
        _, g = ref.loss(x[idx], y[idx])
        for k in ref.params:
            ref.params[k] = ref.params[k] - sched(0.2, t) * g[k]
    for k in ref.params:
        assert np.allclose(model.params[k], ref.params[k], rtol=0, atol=1e-15)


def test_history_and_accuracies():
    x, y = small_problem()
    model = small_model()
    seen = []
    res = train(
        model,
        x[:16],
        y[:16],
        x[16:],
        y[16:],
        epochs=3,
        batch_size=8,
        lr=0.01,
        callback=lambda e, h: seen.append(e),
    )
    h = res.history
    assert seen == [1, 2, 3] and h["epoch"] == [1, 2, 3]
    assert all(len(h[k]) == 3 for k in ("loss", "train_acc", "test_acc", "seconds"))
    assert h["test_acc"][-1] == pytest.approx(np.mean(model.predict(x[16:]) == y[16:]))
    assert h["train_acc"][-1] == res.train_acc
    assert res.train_seconds == pytest.approx(sum(h["seconds"]))
    assert res.converged and "3 epochs" in res.message
    no_test = train(small_model(), x, y, epochs=1, batch_size=8)
    assert np.isnan(no_test.test_acc)


def test_divergence_stops_and_says_so():
    # A linear classifier on inputs of size 1e160: after one plain step the weights are
    # about 1e160 too, and the logits overflow to inf.
    x, y = small_problem()
    x = x * 1e160
    model = vgg(["M"], input_shape=(1, 6, 6), n_classes=3, seed=0, dtype=np.float64)
    with np.errstate(all="ignore"):
        res = train(model, x, y, epochs=5, batch_size=24, lr=1.0, rule="plain")
    assert not res.converged
    assert res.message.startswith("diverged at iteration")
    assert all(np.isfinite(v) for v in res.history["loss"])
    # The parameters are the last ones whose loss was finite.
    assert all(np.all(np.isfinite(v)) for v in model.params.values())
    assert np.isfinite(model.loss(x, y)[0])


def test_bad_arguments():
    x, y = small_problem()
    model = small_model()
    with pytest.raises(ValueError, match="epochs"):
        train(model, x, y, epochs=0)
    with pytest.raises(ValueError, match="lr"):
        train(model, x, y, lr=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        train(model, x, y, batch_size=25)
    with pytest.raises(ValueError, match="rule must be one of"):
        train(model, x, y, batch_size=8, rule="adamw")
    with pytest.raises(ValueError, match=r"X_train must have shape \(N, 1, 6, 6\)"):
        train(model, x[:, 0], y)
    with pytest.raises(ValueError, match=r"y_train must have shape \(24,\)"):
        train(model, x, y[:3])
    with pytest.raises(ValueError, match="given together"):
        train(model, x, y, X_test=x)
    with pytest.raises(ValueError, match="labels in 0..2"):
        train(model, x, y + 5)
    with pytest.raises(TypeError, match="model"):
        train("vgg", x, y)


def test_cli_prints_a_summary_line(capsys):
    assert main(["--epochs", "1", "--batch-size", "128", "--no-progress", "--lr", "0.003"]) == 0
    out = capsys.readouterr().out
    assert "test_acc=" in out and "epochs=1" in out and "rule=adam" in out
    with pytest.raises(SystemExit):
        main(["--rule", "nonsense", "--epochs", "1", "--no-progress"])


def test_progress_bar_runs(capsys):
    x, y = small_problem()
    train(small_model(), x, y, epochs=2, batch_size=12, progress=True)
    assert "epoch" in capsys.readouterr().err


@pytest.mark.slow
def test_digits_reach_98_percent():
    res = train_digits()
    assert res.test_acc >= 0.98, res.history
    # The model also explains the training set it has seen.
    assert res.train_acc >= 0.99
