"""The newton source notebook: wrong answers fail clearly (shared checks: test_assignments)."""

from __future__ import annotations

import re

import pytest
from notebook_cells import (
    assert_fails_only_hidden,
    assert_fails_visibly,
    loaded,
    meta,
    run,
    solution_run,
)


@pytest.fixture(scope="module")
def nb():
    return loaded("newton")


def test_the_written_answer_is_an_open_markdown_cell(nb):
    # Its points are checked with the others (assignment_specs: manual).
    [answer] = [c for c in nb.cells if meta(c).get("grade_id") == "answer_newton_cost"]
    # A written answer: markdown, open for the student, with the model answer as solution.
    assert answer.cell_type == "markdown" and not meta(answer)["locked"]
    assert answer.source.startswith("### BEGIN SOLUTION")


def test_the_ungraded_comparison_ran():
    # Newton reaches the minimiser in about 20 steps, where gradient descent with the same
    # line search is still far away, even after 2000 steps.
    failures, out = solution_run("newton")
    assert failures == []
    steps, newton_err = re.search(r"Newton: (\d+) steps, distance to \(1, 1\): (\S+)", out).groups()
    gd = dict(re.findall(r"gradient descent: (\d+) steps, distance to \(1, 1\): (\S+)", out))
    assert 10 <= int(steps) <= 30 and float(newton_err) < 1e-8
    assert float(gd[steps]) > 0.1 and float(gd["2000"]) > 1e4 * float(newton_err)


HALF_CROSS = """def rosenbrock_grad(x, a=1.0, b=100.0):
    r = x[1] - x[0] ** 2
    return np.array([-2.0 * (a - x[0]) - 2.0 * b * x[0] * r, 2.0 * b * r])
"""
AS_LIST = """def rosenbrock_grad(x, a=1.0, b=100.0):
    r = x[1] - x[0] ** 2
    return [-2.0 * (a - x[0]) - 4.0 * b * x[0] * r, 2.0 * b * r]
"""
FIXED_AB = """def rosenbrock_grad(x, a=1.0, b=100.0):
    r = x[1] - x[0] ** 2
    return np.array([-2.0 * (1 - x[0]) - 400.0 * x[0] * r, 200.0 * r])
"""
NO_R_TERM = """def rosenbrock_hess(x, a=1.0, b=100.0):
    return np.array([[2.0 + 8.0 * b * x[0] ** 2, -4.0 * b * x[0]], [-4.0 * b * x[0], 2.0 * b]])
"""
UPHILL = "def newton_direction(g, H):\n    return np.linalg.solve(H, g)\n"
DIAGONAL = "def newton_direction(g, H):\n    return -g / np.diag(H)\n"
BT = """def backtracking(f, x, d, g, eta0=1.0, rho=0.5, c=1e-4, max_steps=50):
{body}
"""
FROM_ONE = BT.format(
    body="""    eta = 1.0
    for j in range(max_steps + 1):
        if f(x + eta * d) <= f(x) + c * eta * (g @ d):
            return eta
        if j < max_steps:
            eta *= rho
    return eta"""
)
ONE_TOO_MANY = BT.format(
    body="""    eta = eta0
    for j in range(max_steps + 1):
        if f(x + eta * d) <= f(x) + c * eta * (g @ d):
            return eta
        eta *= rho
    return eta"""
)
PURE = """def newton_path(x0, a=1.0, b=100.0, tol=1e-10, max_iter=100):
    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(max_iter):
        g = rosenbrock_grad(x, a, b)
        if np.linalg.norm(g) <= tol:
            break
        x = x + newton_direction(g, rosenbrock_hess(x, a, b))
        path.append(x)
    return np.array(path)
"""


@pytest.mark.parametrize(
    "cell_id, code, failing, message",
    [
        ("rosenbrock_grad", HALF_CROSS, "test_rosenbrock_grad", "is wrong: at index (0,)"),
        ("rosenbrock_grad", AS_LIST, "test_rosenbrock_grad", "returned a list"),
        ("rosenbrock_grad", FIXED_AB, "test_rosenbrock_grad", "a=2, b=10"),
        (
            "rosenbrock_hess",
            NO_R_TERM,
            "test_rosenbrock_hess",
            "vs second differences of rosenbrock",
        ),
        ("newton_direction", UPHILL, "test_newton_direction", "is wrong"),
        ("newton_direction", DIAGONAL, "test_newton_direction", "(it should be -g)"),
        ("backtracking", FROM_ONE, "test_backtracking", "eta0=0.3"),
        ("backtracking", ONE_TOO_MANY, "test_backtracking", "max_steps=3"),
        ("newton_path", PURE, "test_newton_path", "f increased at step"),
    ],
)
def test_wrong_answers_fail_visibly_with_actionable_messages(nb, cell_id, code, failing, message):
    assert_fails_visibly(nb, cell_id, code, failing, message)


NO_C = BT.format(
    body="""    eta = eta0
    for j in range(max_steps + 1):
        if f(x + eta * d) < f(x):
            return eta
        if j < max_steps:
            eta *= rho
    return eta"""
)
NO_FALLBACK = PURE.replace(
    "        x = x + newton_direction(g, rosenbrock_hess(x, a, b))\n",
    "        d = newton_direction(g, rosenbrock_hess(x, a, b))\n"
    "        x = x + backtracking(lambda z: rosenbrock(z, a, b), x, d, g) * d\n",
)


@pytest.mark.parametrize(
    "cell_id, code, failing",
    [
        ("backtracking", NO_C, "test_backtracking"),
        ("newton_path", NO_FALLBACK, "test_newton_path"),
    ],
)
def test_hidden_tests_catch_what_visible_tests_miss(nb, cell_id, code, failing):
    assert_fails_only_hidden(nb, cell_id, code, failing, ("random test", "hidden test"))


# Correct answers written differently from the instructor's (expanded polynomials, an explicit
# inverse, a while loop) must pass the hidden comparisons too: tolerances, not luck.
OTHER_CORRECT = {
    "rosenbrock_grad": """def rosenbrock_grad(x, a=1.0, b=100.0):
    x0, x1 = x
    return np.array([-2 * a + 2 * x0 - 4 * b * x0 * x1 + 4 * b * x0 ** 3,
                     2 * b * x1 - 2 * b * x0 ** 2])
""",
    "rosenbrock_hess": """def rosenbrock_hess(x, a=1.0, b=100.0):
    x0, x1 = x
    return np.array([[12 * b * x0 ** 2 - 4 * b * x1 + 2, -4 * b * x0], [-4 * b * x0, 2 * b]])
""",
    "newton_direction": "def newton_direction(g, H):\n    return -np.linalg.inv(H) @ g\n",
    "backtracking": """def backtracking(f, x, d, g, eta0=1.0, rho=0.5, c=1e-4, max_steps=50):
    eta, shrinks = eta0, 0
    while not f(x + eta * d) <= f(x) + c * eta * np.dot(g, d) and shrinks < max_steps:
        eta, shrinks = eta * rho, shrinks + 1
    return eta
""",
}


def test_other_correct_answers_pass(nb):
    assert run(nb, OTHER_CORRECT) == []
