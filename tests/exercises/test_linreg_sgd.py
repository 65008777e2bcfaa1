"""The linreg_sgd source notebook: wrong answers fail clearly (shared checks: test_assignments)."""

from __future__ import annotations

import pytest
from notebook_cells import (
    assert_fails_only_hidden,
    assert_fails_visibly,
    loaded,
    run,
)


@pytest.fixture(scope="module")
def nb():
    return loaded("linreg_sgd")


SUM = "def lsq_grad(X, y, w):\n    return X.T @ (X @ w - y)\n"
COLUMN = "def lsq_grad(X, y, w):\n    return X.T @ (X @ w - y).reshape(-1, 1) / len(y)\n"
DROP_LAST = (
    "def epoch_batches(n, batch_size, rng):\n"
    "    order = rng.permutation(n)\n"
    "    return [order[s:s + batch_size] for s in range(0, n - batch_size + 1, "
    "batch_size)]\n"
)
OWN_RNG = (
    "def epoch_batches(n, batch_size, rng):\n"
    "    order = np.random.default_rng(0).permutation(n)\n"
    "    return [order[s:s + batch_size] for s in range(0, n, batch_size)]\n"
)
FLOAT_DIV = "def step_decay(lr0, t, drop=0.5, every=100):\n    return lr0 * drop ** (t / every)\n"
LSTSQ = "def normal_equations(X, y):\n    return np.linalg.lstsq(X, y)\n"


@pytest.mark.parametrize(
    "cell_id, code, failing, message",
    [
        ("lsq_grad", SUM, "test_lsq_grad", "is wrong: at index"),
        ("lsq_grad", COLUMN, "test_lsq_grad", "returned shape (2, 1); expected (2,)"),
        ("epoch_batches", DROP_LAST, "test_epoch_batches", "keep the last, short batch"),
        ("epoch_batches", OWN_RNG, "test_epoch_batches", "is wrong"),
        ("step_decay", FLOAT_DIV, "test_step_decay", "t=2"),
        ("normal_equations", LSTSQ, "test_normal_equations", "returned a tuple"),
    ],
)
def test_wrong_answers_fail_visibly_with_actionable_messages(nb, cell_id, code, failing, message):
    assert_fails_visibly(nb, cell_id, code, failing, message)


SGD = """def minibatch_sgd(X, y, w0, lr, batch_size, epochs, seed=0, drop=1.0, every=100):
    rng = np.random.default_rng(seed)
    w = np.array(w0, dtype=float)
    path = [w]
    t = 0
    for epoch in range(epochs):
{body}
    return np.array(path)
"""
# Restarting the generator every epoch repeats the first epoch's order.
RESEEDED = SGD.format(
    body="""        rng = np.random.default_rng(seed)
        for idx in epoch_batches(X.shape[0], batch_size, rng):
            w = w - step_decay(lr, t, drop, every) * lsq_grad(X[idx], y[idx], w)
            path.append(w)
            t += 1"""
)
# Decaying by epochs instead of update steps.
PER_EPOCH = SGD.format(
    body="""        for idx in epoch_batches(X.shape[0], batch_size, rng):
            w = w - step_decay(lr, epoch, drop, every) * lsq_grad(X[idx], y[idx], w)
            path.append(w)"""
)
# A batch of all rows always, whatever batch_size (ignores the visible row-1 check's batch).
UNSHUFFLED = SGD.format(
    body="""        order = np.arange(X.shape[0])
        rng.permutation(X.shape[0])
        for s in range(0, X.shape[0], batch_size):
            idx = order[s:s + batch_size]
            w = w - step_decay(lr, t, drop, every) * lsq_grad(X[idx], y[idx], w)
            path.append(w)
            t += 1"""
)


@pytest.mark.parametrize("code", [RESEEDED, PER_EPOCH])
def test_hidden_tests_catch_what_visible_tests_miss(nb, code):
    assert_fails_only_hidden(nb, "minibatch_sgd", code, "test_minibatch_sgd")


def test_unshuffled_batches_are_caught(nb):
    [(gid, exc)] = run(nb, {"minibatch_sgd": UNSHUFFLED}, upto="test_minibatch_sgd")
    assert gid == "test_minibatch_sgd" and isinstance(exc, AssertionError)


# Correct answers written differently from the instructor's must pass the hidden tests too.
OTHER_CORRECT = {
    "lsq_grad": "def lsq_grad(X, y, w):\n    return (X.T @ X @ w - X.T @ y) / len(y)\n",
    "epoch_batches": """def epoch_batches(n, batch_size, rng):
    perm = rng.permutation(n)
    n_batches = int(np.ceil(n / batch_size))
    return [perm[k * batch_size:(k + 1) * batch_size] for k in range(n_batches)]
""",
    "step_decay": """import math

def step_decay(lr0, t, drop=0.5, every=100):
    return lr0 * math.pow(drop, math.floor(t / every))
""",
    "minibatch_sgd": """def minibatch_sgd(X, y, w0, lr, batch_size, epochs, seed=0, drop=1.0,
                  every=100):
    rng = np.random.default_rng(seed)
    path = np.zeros((epochs * -(-len(y) // batch_size) + 1, len(w0)))
    path[0] = w0
    t = 0
    for _ in range(epochs):
        for b in epoch_batches(len(y), batch_size, rng):
            path[t + 1] = path[t] - step_decay(lr, t, drop, every) * lsq_grad(X[b], y[b], path[t])
            t += 1
    return path
""",
    "normal_equations": (
        "def normal_equations(X, y):\n    return np.linalg.inv(X.T @ X) @ X.T @ y\n"
    ),
}


def test_other_correct_answers_pass(nb):
    assert run(nb, OTHER_CORRECT) == []
