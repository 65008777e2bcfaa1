"""The momentum source notebook: its laws; wrong answers lose points (shared: test_assignments).

The cells are executed in-process (no kernel), in notebook order, the way nbgrader runs
them; the real-kernel path is covered by tests/autograder (validate, and the graded panel in
test_cli_panels). Each mutant below is a mistake a student could plausibly make; each must
fail its part (visibly, or only in the hidden tests), while the solution keeps full marks.
"""

from __future__ import annotations

import numpy as np
import pytest
from notebook_cells import (
    assert_fails_only_hidden,
    assert_fails_visibly,
    loaded,
    solution_namespace,
)


@pytest.fixture(scope="module")
def nb():
    return loaded("momentum")


def test_the_solution_reaches_the_predicted_rates(nb):
    """Independent of coursekit: the tuned heavy ball's measured contraction on a quadratic
    is Polyak's (sqrt(kappa) - 1) / (sqrt(kappa) + 1), which beats the best plain step's
    (kappa - 1) / (kappa + 1)."""
    ns = solution_namespace(nb)
    mu, L = 0.5, 200.0
    lr, beta = ns["heavy_ball_tuning"](mu, L)
    A = np.diag(np.linspace(mu, L, 6))
    path = ns["descend"](A, np.zeros(6), np.ones(6), "momentum", lr, 400, beta=beta)
    err = np.linalg.norm(path, axis=1)
    measured = (err[400] / err[300]) ** (1 / 100)
    root_k = np.sqrt(L / mu)
    polyak = (root_k - 1) / (root_k + 1)
    # The extreme eigenvalues give a double root: the error is ~ k rho^k, whose ratio over
    # 100 steps is (400/300)^(1/100) ~ 1.003 times rho^100's.
    assert polyak <= measured <= polyak * 1.004
    plain = ns["descend"](A, np.zeros(6), np.ones(6), "momentum", 2 / (mu + L), 400, beta=0.0)
    assert measured < ((L - mu) / (L + mu)) ** 0.999
    assert np.linalg.norm(plain[-1]) > err[-1]


# -------------------------------------------------------------------- caught by the visible
EMA = (
    "def momentum_step(x, v, g, lr, beta):\n"
    "    v_new = beta * v + (1 - beta) * g\n"
    "    return x - lr * v_new, v_new\n"
)
OLD_V = "def momentum_step(x, v, g, lr, beta):\n    return x - lr * v, beta * v + g\n"
IN_PLACE = (
    "def momentum_step(x, v, g, lr, beta):\n    v *= beta\n    v += g\n    return x - lr * v, v\n"
)
ONLY_X = "def momentum_step(x, v, g, lr, beta):\n    return x - lr * (beta * v + g)\n"
ADAM = """def adam_step(x, m, s, g, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m_new = beta1 * m + (1.0 - beta1) * g
    s_new = beta2 * s + (1.0 - beta2) * g * g
{body}
"""
NO_BIAS_CORRECTION = ADAM.format(
    body="    return x - lr * m_new / (np.sqrt(s_new) + eps), m_new, s_new"
)
T_PLUS_ONE = ADAM.format(
    body="""    m_hat = m_new / (1.0 - beta1 ** (t + 1))
    s_hat = s_new / (1.0 - beta2 ** (t + 1))
    return x - lr * m_hat / (np.sqrt(s_hat) + eps), m_new, s_new"""
)
NO_ROOT = ADAM.format(
    body="""    m_hat = m_new / (1.0 - beta1 ** t)
    s_hat = s_new / (1.0 - beta2 ** t)
    return x - lr * m_hat / (s_hat + eps), m_new, s_new"""
)
DESCEND = """def descend(A, b, x0, method, lr, n_steps, beta=0.9):
    if method not in ("momentum", "adam"):
        raise ValueError(f"method must be 'momentum' or 'adam', got {{method!r}}")
    x = np.array(x0, dtype=float)
    first, second = np.zeros_like(x), np.zeros_like(x)
    path = [x]
{body}
    return np.array(path)
"""
ONE_SHORT = DESCEND.format(
    body="""    for t in range(1, n_steps):
        g = A @ x - b
        if method == "momentum":
            x, first = momentum_step(x, first, g, lr, beta)
        else:
            x, first, second = adam_step(x, first, second, g, t, lr)
        path.append(x)"""
)
RESET_VELOCITY = DESCEND.format(
    body="""    for t in range(1, n_steps + 1):
        g = A @ x - b
        if method == "momentum":
            x, _ = momentum_step(x, np.zeros_like(x), g, lr, beta)
        else:
            x, first, second = adam_step(x, first, second, g, t, lr)
        path.append(x)"""
)
ADAM_FROM_ZERO = DESCEND.format(
    body="""    for t in range(n_steps):
        g = A @ x - b
        if method == "momentum":
            x, first = momentum_step(x, first, g, lr, beta)
        else:
            x, first, second = adam_step(x, first, second, g, t, lr)
        path.append(x)"""
)
NO_CHECK = DESCEND.replace(
    """    if method not in ("momentum", "adam"):
        raise ValueError(f"method must be 'momentum' or 'adam', got {{method!r}}")
""",
    "",
).format(
    body="""    for t in range(1, n_steps + 1):
        g = A @ x - b
        if method == "momentum":
            x, first = momentum_step(x, first, g, lr, beta)
        else:
            x, first, second = adam_step(x, first, second, g, t, lr)
        path.append(x)"""
)
TUNING = """def heavy_ball_tuning(mu, L):
    if not 0 < mu <= L:
        raise ValueError("need 0 < mu <= L")
{body}
"""
# Chapter 4's first tuning (lr = 1/L) is not the fastest one.
FIXED_LR = TUNING.format(body="    return 1.0 / L, (1.0 - 1.0 / np.sqrt(L / mu)) ** 2")
# The rate sqrt(beta) returned as beta.
NO_SQUARE = TUNING.format(
    body="""    k = np.sqrt(L / mu)
    return 4.0 / (np.sqrt(L) + np.sqrt(mu)) ** 2, (k - 1) / (k + 1)"""
)
# Gradient descent's rate (kappa - 1) / (kappa + 1) where the heavy ball's has sqrt(kappa).
NO_ROOT_KAPPA = TUNING.format(
    body="""    k = L / mu
    return 4.0 / (np.sqrt(L) + np.sqrt(mu)) ** 2, ((k - 1) / (k + 1)) ** 2"""
)
NO_VALIDATION = """def heavy_ball_tuning(mu, L):
    k = np.sqrt(abs(L / mu)) if mu else 1.0
    return 4.0 / (np.sqrt(abs(L)) + np.sqrt(abs(mu))) ** 2, ((k - 1) / (k + 1)) ** 2
"""


@pytest.mark.parametrize(
    "cell_id, code, failing, message",
    [
        ("momentum_step", EMA, "test_momentum_step", "v_new of momentum_step"),
        ("momentum_step", OLD_V, "test_momentum_step", "the new velocity moves x"),
        ("momentum_step", IN_PLACE, "test_momentum_step", "in place"),
        ("momentum_step", ONLY_X, "test_momentum_step", "expected a tuple (x_new, v_new)"),
        ("adam_step", NO_BIAS_CORRECTION, "test_adam_step", "did you divide by 1 - beta**t?"),
        ("adam_step", T_PLUS_ONE, "test_adam_step", "first Adam step"),
        ("adam_step", NO_ROOT, "test_adam_step", "first Adam step"),
        ("descend", ONE_SHORT, "test_descend", "expected a NumPy array of shape (3, 2)"),
        ("descend", RESET_VELOCITY, "test_descend", "the heavy ball's path"),
        # t = 0 divides by 1 - beta**0 = 0: NumPy warns, as it would in the student's notebook.
        pytest.param(
            "descend",
            ADAM_FROM_ZERO,
            "test_descend",
            "NaN or inf",
            marks=pytest.mark.filterwarnings("ignore::RuntimeWarning"),
        ),
        ("descend", NO_CHECK, "test_descend", "did not raise a ValueError"),
        ("heavy_ball_tuning", FIXED_LR, "test_heavy_ball_tuning", "heavy_ball_tuning(1, 100)"),
        ("heavy_ball_tuning", NO_SQUARE, "test_heavy_ball_tuning", "beta of heavy_ball_tuning"),
        ("heavy_ball_tuning", NO_ROOT_KAPPA, "test_heavy_ball_tuning", "beta of heavy_ball_tuning"),
        ("heavy_ball_tuning", NO_VALIDATION, "test_heavy_ball_tuning", "0 < mu <= L"),
    ],
)
def test_wrong_answers_fail_visibly_with_actionable_messages(nb, cell_id, code, failing, message):
    # Visible tests alone already catch these.
    assert_fails_visibly(nb, cell_id, code, failing, message)


# ---------------------------------------------------------------- caught only by the hidden
# Hard-coded defaults: the visible tests use beta1 = 0.9, beta2 = 0.999, eps = 1e-8.
DEFAULTS_ONLY = (
    ADAM.replace("(1.0 - beta1) * g", "0.1 * g")
    .replace("beta1 * m", "0.9 * m")
    .format(
        body="""    m_hat = m_new / (1.0 - 0.9 ** t)
    s_hat = s_new / (1.0 - beta2 ** t)
    return x - lr * m_hat / (np.sqrt(s_hat) + eps), m_new, s_new"""
    )
)
# Epsilon inside the square root: invisible for gradients of order one.
EPS_INSIDE = ADAM.format(
    body="""    m_hat = m_new / (1.0 - beta1 ** t)
    s_hat = s_new / (1.0 - beta2 ** t)
    return x - lr * m_hat / np.sqrt(s_hat + eps), m_new, s_new"""
)
# The heavy ball with a fixed momentum 0.9: the momentum the visible tests use.
FIXED_BETA = DESCEND.format(
    body="""    for t in range(1, n_steps + 1):
        g = A @ x - b
        if method == "momentum":
            x, first = momentum_step(x, first, g, lr, 0.9)
        else:
            x, first, second = adam_step(x, first, second, g, t, lr)
        path.append(x)"""
)
# Adam's step count restarted at every step (t = 1 each time): right for the first step only,
# which is all the visible test of Adam's path looks at.
ADAM_T_ALWAYS_ONE = DESCEND.format(
    body="""    for t in range(1, n_steps + 1):
        g = A @ x - b
        if method == "momentum":
            x, first = momentum_step(x, first, g, lr, beta)
        else:
            x, first, second = adam_step(x, first, second, g, 1, lr)
        path.append(x)"""
)


@pytest.mark.parametrize(
    "cell_id, code, failing",
    [
        ("adam_step", DEFAULTS_ONLY, "test_adam_step"),
        ("adam_step", EPS_INSIDE, "test_adam_step"),
        ("descend", FIXED_BETA, "test_descend"),
        ("descend", ADAM_T_ALWAYS_ONE, "test_descend"),
    ],
)
def test_hidden_tests_catch_what_visible_tests_miss(nb, cell_id, code, failing):
    assert_fails_only_hidden(nb, cell_id, code, failing)
