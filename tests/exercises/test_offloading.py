"""The offloading source notebook: its laws; wrong answers lose points (shared: test_assignments).

The cells are executed in-process (no kernel), in notebook order, the way nbgrader runs
them; the real-kernel path is covered by tests/autograder (validate, and the graded panel in
test_cli_panels). The catalogue of wrong answers is tests/exercises/mutants/offloading.py
(run by test_mutants); here: what the catalogue does not say, the solution checked against
laws computed without coursekit, and a few mistakes only the hidden tests see.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from notebook_cells import (
    assert_fails_only_hidden,
    loaded,
    solution_namespace,
)


@pytest.fixture(scope="module")
def nb():
    return loaded("offloading")


@pytest.fixture(scope="module")
def solution(nb):
    """The instructor's three functions, defined from the source's solution cells."""
    return solution_namespace(nb)


@pytest.mark.parametrize("data", ["streamed", "resident"])
def test_the_fraction_is_the_brute_force_optimum_of_the_two_paths(solution, data):
    """Without coursekit: T_step(lambda) = max(lambda a, T_s(lambda)) on a fine grid, for costs
    on both sides of c = a; the solution's lambda* is its minimiser and its verdict agrees."""
    rng = np.random.default_rng(5)
    grid = np.linspace(0, 1, 200_001)
    for _ in range(20):
        W, fl, fs = 10 ** rng.uniform(8, 10), 1e9, 10 ** rng.uniform(8.5, 10)
        r, D, P, G = (
            10 ** rng.uniform(5, 7),
            10 ** rng.uniform(4, 6),
            10 ** rng.uniform(3, 6),
            10 ** rng.uniform(3, 6),
        )
        alpha = 10 ** rng.uniform(-4, -1)
        b = (D / r if data == "streamed" else 0.0) + W / fs
        c = 2 * alpha + (P + G) / r
        t = np.maximum(grid * W / fl, np.where(grid < 1, c + (1 - grid) * b, 0.0))
        costs = dict(
            work=W,
            local_rate=fl,
            remote_rate=fs,
            link_rate=r,
            data_bytes=D,
            result_bytes=G,
            latency=alpha,
            param_bytes=P,
            data=data,
        )
        lam = solution["optimal_fraction"](**costs)
        assert lam == pytest.approx(grid[t.argmin()], abs=1e-4)
        pays, step, speedup = solution["offload_verdict"](**costs)
        # No grid point beats it, and it is the grid's minimum up to the grid's spacing.
        assert step <= t.min() * (1 + 1e-12) and step == pytest.approx(t.min(), rel=1e-4)
        assert pays == (t.min() < W / fl * (1 - 1e-9)) and speedup == pytest.approx(W / fl / step)


def test_the_best_count_is_the_brute_force_one(solution):
    """Without coursekit: the time to target of every candidate from the chapter's formula."""
    rng = np.random.default_rng(6)
    for _ in range(20):
        b, counts = int(rng.integers(1, 33)), [1, 2, 3, 4, 6, 8, 12, 16]
        S = {q * b: 1e4 / min(q * b, 4 * b) for q in counts}
        w, F, N, alpha, B = 1e6, 1e10, 10 ** rng.uniform(3, 7), 1e-5, 10 ** rng.uniform(6, 10)
        times = [
            S[q * b] * (b * w / F + 2 * (q - 1) * alpha + 2 * (q - 1) / q * N / B) for q in counts
        ]
        p, time = solution["best_worker_count"](S, b, counts, w, F, N, alpha, B)
        assert p == counts[int(np.argmin(times))] and time == pytest.approx(min(times))
    with pytest.raises(ValueError):
        solution["best_worker_count"]({1: math.inf, 2: math.inf}, 1, [1, 2], w, F, N, alpha, B)


# ---------------------------------------------------------------- caught only by the hidden
HELPER_AT_LOCAL_RATE = """\
def optimal_fraction(work, local_rate, remote_rate, link_rate, data_bytes=0.0,
                     result_bytes=0.0, latency=0.0, param_bytes=0.0, data="streamed"):
    if data not in ("streamed", "resident"):
        raise ValueError("data must be 'streamed' or 'resident'")
    a = work / local_rate
    b = (data_bytes / link_rate if data == "streamed" else 0.0) + work / local_rate
    c = 2 * latency + (param_bytes + result_bytes) / link_rate
    return 1.0 if c >= a else (b + c) / (a + b)
"""
PAYS_AT_EQUALITY = """def offload_verdict(work, local_rate, remote_rate, link_rate, data_bytes=0.0,
                    result_bytes=0.0, latency=0.0, param_bytes=0.0, data="streamed"):
    lam = optimal_fraction(work, local_rate, remote_rate, link_rate, data_bytes, result_bytes,
                           latency, param_bytes, data)
    a = work / local_rate
    c = 2 * latency + (param_bytes + result_bytes) / link_rate
    return c <= a, lam * a, 1 / lam
"""
SKIPS_THE_LAST = """\
def best_worker_count(steps_by_batch, per_worker_batch, worker_counts, flops_per_sample,
                      rate, n_bytes, latency, bandwidth):
    best = None
    for i in range(len(worker_counts) - 1):
        p = worker_counts[i]
        step = per_worker_batch * flops_per_sample / rate + 2 * (p - 1) * latency \\
            + 2 * (p - 1) / p * n_bytes / bandwidth
        time = steps_by_batch[p * per_worker_batch] * step
        if best is None or time < best[1]:
            best = (p, time)
    if best is None or math.isinf(best[1]):
        raise ValueError("no worker count reaches the target")
    return best
"""


@pytest.mark.parametrize(
    "cell_id, code, failing",
    [
        ("optimal_fraction", HELPER_AT_LOCAL_RATE, "test_optimal_fraction"),
        ("offload_verdict", PAYS_AT_EQUALITY, "test_offload_verdict"),
        ("best_worker_count", "import math\n\n\n" + SKIPS_THE_LAST, "test_best_worker_count"),
    ],
)
def test_hidden_tests_catch_what_visible_tests_miss(nb, cell_id, code, failing):
    assert_fails_only_hidden(nb, cell_id, code, failing, markers=("random test", "c = a exactly"))
