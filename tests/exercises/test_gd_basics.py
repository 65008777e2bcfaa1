"""The gd_basics source notebook: wrong answers fail clearly (shared checks: test_assignments).

The cells are executed in-process (no kernel), in notebook order, the way nbgrader runs
them; the real-kernel path is covered by tests/autograder (validate and grade).
"""

from __future__ import annotations

import pytest
from notebook_cells import (
    assert_fails_only_hidden,
    assert_fails_visibly,
    loaded,
)


@pytest.fixture(scope="module")
def nb():
    return loaded("gd_basics")


COLUMN = "def quadratic_grad(A, b, x):\n    return (A @ x - b).reshape(-1, 1)\n"
AS_LIST = "def quadratic_grad(A, b, x):\n    return (A @ x - b).tolist()\n"
HALF = "def quadratic_grad(A, b, x):\n    return 0.5 * A @ x - b\n"
IN_PLACE = "def gd_step(A, b, x, lr):\n    x -= lr * quadratic_grad(A, b, x)\n    return x\n"
UPHILL = "def gd_step(A, b, x, lr):\n    return x + lr * quadratic_grad(A, b, x)\n"
LOOP = """def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = [x]
{body}
"""
LATE = LOOP.format(
    body="""    for _ in range(max_iter):
        x = gd_step(A, b, x, lr)
        path.append(x)
        if np.linalg.norm(quadratic_grad(A, b, x)) <= tol:
            break
    return np.array(path)"""
)
NO_CAP = LOOP.format(
    body="""    while np.linalg.norm(quadratic_grad(A, b, x)) > tol:
        x = gd_step(A, b, x, lr)
        path.append(x)
    return np.array(path)"""
)
LIST_PATH = LOOP.format(
    body="""    for _ in range(max_iter):
        if np.linalg.norm(quadratic_grad(A, b, x)) <= tol:
            break
        x = gd_step(A, b, x, lr)
        path.append(x)
    return path"""
)


FIXED_LR = "def gd_step(A, b, x, lr):\n    return x - 0.1 * quadratic_grad(A, b, x)\n"
FIXED_TOL = LOOP.format(
    body="""    for _ in range(max_iter):
        if np.linalg.norm(quadratic_grad(A, b, x)) <= 1e-8:
            break
        x = gd_step(A, b, x, lr)
        path.append(x)
    return np.array(path)"""
)


@pytest.mark.parametrize(
    "cell_id, code, failing, message",
    [
        ("quadratic_grad", COLUMN, "test_quadratic_grad", "returned shape (2, 1); expected (2,)"),
        ("quadratic_grad", AS_LIST, "test_quadratic_grad", "returned a list"),
        ("quadratic_grad", HALF, "test_quadratic_grad", "is wrong: at index"),
        ("gd_step", IN_PLACE, "test_gd_step", "in place"),
        ("gd_step", UPHILL, "test_gd_step", "is wrong"),
        ("gradient_descent_path", LATE, "test_gradient_descent_path", "expected (1, 2)"),
        ("gradient_descent_path", NO_CAP, "test_gradient_descent_path", "max_iter=5"),
        ("gradient_descent_path", LIST_PATH, "test_gradient_descent_path", "returned list"),
        ("gd_step", FIXED_LR, "test_gd_step", "lr=0.3"),
        ("gradient_descent_path", FIXED_TOL, "test_gradient_descent_path", "with tol=1e3"),
    ],
)
def test_wrong_answers_fail_visibly_with_actionable_messages(nb, cell_id, code, failing, message):
    # Visible tests alone already catch these.
    assert_fails_visibly(nb, cell_id, code, failing, message)


ONLY_2D = (
    "def quadratic_grad(A, b, x):\n"
    "    if len(x) == 2:\n"
    "        return np.array([A[0] @ x - b[0], A[1] @ x - b[1]])\n"
    "    return A[0, 0] * x - b\n"
)


STOPS_AT_NAN = LOOP.format(
    body="""    k = 0
    while np.linalg.norm(quadratic_grad(A, b, x)) > tol and k < max_iter:
        x = gd_step(A, b, x, lr)
        path.append(x)
        k += 1
    return np.array(path)"""
)


@pytest.mark.parametrize(
    "cell_id, code, failing, markers",
    [
        ("quadratic_grad", ONLY_2D, "test_quadratic_grad", ("random test",)),
        (
            "gradient_descent_path",
            STOPS_AT_NAN,
            "test_gradient_descent_path",
            ("diverges to inf and NaN",),
        ),
    ],
)
def test_hidden_tests_catch_what_visible_tests_miss(nb, cell_id, code, failing, markers):
    assert_fails_only_hidden(nb, cell_id, code, failing, markers)
