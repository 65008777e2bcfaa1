"""The distributed source notebook: wrong answers fail clearly (shared checks: test_assignments)."""

from __future__ import annotations

import pytest
from notebook_cells import (
    assert_fails_only_hidden,
    assert_fails_visibly,
    loaded,
    run,
    solution_run,
)


@pytest.fixture(scope="module")
def nb():
    return loaded("distributed")


def test_the_ungraded_cell_ran():
    failures, out = solution_run("distributed")
    assert failures == []
    assert "central node" in out and "of the batch" in out


PLAIN_MEAN = "def aggregate(grads, sizes):\n    return grads.mean(axis=0)\n"
UNNORMALISED = "def aggregate(grads, sizes):\n    return sizes @ grads\n"
ROW = "def aggregate(grads, sizes):\n    return sizes[None, :] @ grads / sizes.sum()\n"
ROUND = """def sync_round(X, y, w, shards, lr):
    local = np.array([lsq_grad(X[s], y[s], w) for s in shards])
    g = aggregate(local, np.array([len(s) for s in shards]))
{tail}
"""
ONLY_W = ROUND.format(tail="    return w - lr * g")
IN_PLACE = ROUND.format(tail="    w -= lr * g\n    return w, g")
FIXED_LR = ROUND.format(tail="    return w - 0.5 * g, g")
CENTRAL = (
    "def ring_allreduce_time(n_bytes, p, latency, bandwidth):\n"
    "    return 2 * (p - 1) * (latency + n_bytes / bandwidth)\n"
)
ONE_PASS = (
    "def ring_allreduce_time(n_bytes, p, latency, bandwidth):\n"
    "    return (p - 1) * latency + (p - 1) / p * n_bytes / bandwidth\n"
)
FRACTION = """def optimal_fraction(work, local_rate, remote_rate, link_rate, data_bytes=0.0,
                     result_bytes=0.0, latency=0.0):
    a = work / local_rate
    b = {b}
    c = 2 * latency + result_bytes / link_rate
    return (b + c) / (a + b)
"""
ALWAYS_OFFLOAD = FRACTION.format(b="data_bytes / link_rate + work / remote_rate")
NO_DATA = FRACTION.format(b="work / remote_rate")


@pytest.mark.parametrize(
    "cell_id, code, failing, message",
    [
        ("aggregate", PLAIN_MEAN, "test_aggregate", "aggregate(grads, [1, 3]) is wrong"),
        ("aggregate", UNNORMALISED, "test_aggregate", "is wrong"),
        ("aggregate", ROW, "test_aggregate", "returned shape (1, 2); expected (2,)"),
        ("sync_round", ONLY_W, "test_sync_round", "must return a tuple"),
        ("sync_round", IN_PLACE, "test_sync_round", "in place"),
        ("ring_allreduce_time", CENTRAL, "test_ring_allreduce_time", "is wrong"),
        ("ring_allreduce_time", ONE_PASS, "test_ring_allreduce_time", "is wrong"),
        ("optimal_fraction", ALWAYS_OFFLOAD, "test_optimal_fraction", "2 * latency > W / f_l"),
        ("optimal_fraction", NO_DATA, "test_optimal_fraction", "D=5e5"),
    ],
)
def test_wrong_answers_fail_visibly_with_actionable_messages(nb, cell_id, code, failing, message):
    assert_fails_visibly(nb, cell_id, code, failing, message)


def test_hidden_tests_catch_a_fixed_learning_rate(nb):
    assert_fails_only_hidden(nb, "sync_round", FIXED_LR, "test_sync_round")


# Correct answers written differently from the instructor's must pass the hidden tests too.
OTHER_CORRECT = {
    "aggregate": (
        "def aggregate(grads, sizes):\n"
        "    return np.sum(grads * sizes[:, None], axis=0) / np.sum(sizes)\n"
    ),
    "sync_round": """def sync_round(X, y, w, shards, lr):
    total = np.zeros_like(w)
    for s in shards:
        total += len(s) * lsq_grad(X[s], y[s], w)
    g = total / sum(len(s) for s in shards)
    return w - lr * g, g
""",
    "ring_allreduce_time": """def ring_allreduce_time(n_bytes, p, latency, bandwidth):
    step = latency + n_bytes / p / bandwidth
    return 2 * (p - 1) * step
""",
    "optimal_fraction": """def optimal_fraction(work, local_rate, remote_rate, link_rate,
                     data_bytes=0.0, result_bytes=0.0, latency=0.0):
    a = work / local_rate
    b = data_bytes / link_rate + work / remote_rate
    c = 2 * latency + result_bytes / link_rate
    return min(1.0, (b + c) / (a + b))
""",
}


def test_other_correct_answers_pass(nb):
    assert run(nb, OTHER_CORRECT) == []
