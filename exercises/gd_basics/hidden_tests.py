"""Hidden tests of gd_basics, judged in the grader's process (see autograder.hidden).

Never released: the student's kernel only receives each call's inputs, after all of the
notebook has run, and never the expected values, which come from coursekit here.
"""

import numpy as np

from autograder.hidden import Call, Case, HiddenTests, check_array
from coursekit.objectives import Quadratic
from coursekit.optimize import gradient_descent

TESTS = HiddenTests()

# The course's Parts 1 and 2, put in place of the student's while their later parts are tested
# (autograder.hidden.Call's ``references``): a mistake is charged to its own part only.
REF_GRAD = "def quadratic_grad(A, b, x):\n    return A @ x - b\n"
REF_STEP = "def gd_step(A, b, x, lr):\n    return x - lr * quadratic_grad(A, b, x)\n"


@TESTS.cell("test_quadratic_grad", seed=20261)
def quadratic_grad_cases(rng):
    """Random symmetric positive definite problems, then a badly conditioned one with b = 0."""
    problems = []
    for trial, d in enumerate([1, 2, 3, 5, 8]):
        M = rng.standard_normal((d, d))
        A = M @ M.T + d * np.eye(d)
        problems.append((f"quadratic_grad (random test {trial}, d={d})", A,
                         rng.standard_normal(d), rng.standard_normal(d) * 3))
    Q = Quadratic.with_condition_number(50.0, dim=4, seed=7)
    problems.append(("quadratic_grad (condition number 50, b = 0)", Q.A, np.zeros(4),
                     rng.standard_normal(4)))
    for what, A, b, x in problems:
        expected = Quadratic(A, b).grad(x)
        yield Case(what, Call("quadratic_grad(A, b, x)", A=A, b=b, x=x),
                   lambda got, what=what, expected=expected:
                   check_array(what, got.value, expected))


@TESTS.cell("test_gd_step", seed=20262)
def gd_step_cases(rng):
    """One step against coursekit's gradient descent; the argument must not change in place."""
    for trial, d in enumerate([1, 2, 4, 6]):
        # In 1-D the only condition number is 1.
        kappa = 1.0 if d == 1 else float(rng.uniform(1.0, 30.0))
        Q = Quadratic.with_condition_number(kappa, dim=d, seed=int(rng.integers(1000)))
        b = rng.standard_normal(d)
        x0 = rng.standard_normal(d) * 2
        lr = float(rng.uniform(0.01, 1.0)) / np.linalg.eigvalsh(Q.A).max()
        expected = gradient_descent(Quadratic(Q.A, b), x0, lr=lr, max_iter=1, tol=0.0).path[1]
        what = f"gd_step (random test {trial}, d={d}, lr={lr:.3g})"

        def check(got, what=what, expected=expected, x0=x0):
            check_array(what, got.value, expected)
            if not np.array_equal(got.kept["x"], x0):
                raise AssertionError(f"{what} changed its argument x in place; return a new "
                                     "array")
        yield Case(what, Call("gd_step(A, b, x, lr)", keep=["x"], A=Q.A, b=b, x=x0, lr=lr,
                              references={"quadratic_grad": REF_GRAD}), check)


def _path_call(**inputs) -> Call:
    return Call("gradient_descent_path(A, b, x0, lr=lr, tol=tol, max_iter=max_iter)",
                keep=["x0"], references={"quadratic_grad": REF_GRAD, "gd_step": REF_STEP},
                **inputs)


def _check_x0(what, got, x0):
    if not np.array_equal(got.kept["x0"], x0):
        raise AssertionError(f"{what} changed its argument x0 in place (row 0 of your path is "
                             "the caller's array, which your steps then changed): start from a "
                             "copy, np.array(x0, dtype=float)")


def _plain_path(A, b, x0, lr, max_iter):
    """Every iterate of max_iter steps, NaN included: the rule never stops on a NaN gradient.

    (Written unlike a student's loop: the grader withholds a feedback page that quotes a
    line of this file.)
    """
    rows = [np.asarray(x0, float)]
    with np.errstate(all="ignore"):
        while len(rows) <= max_iter:
            rows.append(rows[-1] - lr * (A @ rows[-1] - b))
    return np.array(rows)


@TESTS.cell("test_gradient_descent_path", seed=20263)
def gradient_descent_path_cases(rng):
    """Whole paths (every iterate, the stopping rule) against coursekit's gradient descent."""
    for trial in range(6):
        d = int(rng.integers(1, 7))
        kappa = 1.0 if d == 1 else float(rng.uniform(1.0, 40.0))
        Q = Quadratic.with_condition_number(kappa, dim=d, seed=int(rng.integers(1000)))
        b = rng.standard_normal(d)
        x0 = rng.standard_normal(d) * 3
        lr = float(rng.uniform(0.2, 1.5)) / np.linalg.eigvalsh(Q.A).max()
        tol = float(10.0 ** rng.uniform(-9, -4))
        max_iter = int(rng.integers(5, 400))
        ref = gradient_descent(Quadratic(Q.A, b), x0, lr=lr, max_iter=max_iter, tol=tol)
        what = (f"gradient_descent_path (random test {trial}: d={d}, kappa={kappa:.3g}, "
                f"lr={lr:.3g}, tol={tol:.2g}, max_iter={max_iter})")

        def check(got, what=what, ref=ref, x0=x0):
            _check_x0(what, got, x0)
            shape = getattr(got.value, "shape", None)
            if not isinstance(got.value, np.ndarray) or shape != ref.path.shape:
                raise AssertionError(f"{what} returned shape {shape}; expected "
                                     f"{ref.path.shape} ({ref.nit} steps)")
            check_array(what, got.value, ref.path, rtol=1e-6, atol=1e-9)
        yield Case(what, _path_call(A=Q.A, b=b, x0=x0, lr=lr, tol=tol, max_iter=max_iter),
                   check)
    # Stopping rules: each case has one right length. (tol, max_iter, what it catches)
    A2 = np.eye(2)
    cases = [
        # ||grad f(x0)|| = ||(3, 4)|| = 5 exactly: with tol = 5 no step is taken (<=, not <).
        ("the gradient norm at x0 equals tol (stop when ||g|| <= tol)", A2, np.zeros(2),
         np.array([3.0, 4.0]), 0.5, 5.0, 50),
        # A large tol stops before a small default would; a small max_iter caps the steps.
        ("a large tol = 0.5", A2, np.zeros(2), np.array([3.0, 4.0]), 0.5, 0.5, 50),
        ("max_iter = 7 before convergence", np.diag([1.0, 0.01]), np.ones(2),
         np.array([2.0, -1.0]), 0.9, 1e-8, 7),
        ("max_iter = 0 (no step at all)", A2, np.zeros(2), np.array([3.0, 4.0]), 0.5,
         1e-8, 0),
        ("a slow run needing more than 1000 steps", np.diag([1.0, 0.002]), np.ones(2),
         np.array([2.0, -1.0]), 0.9, 1e-6, 5000),
        # Integer starting point: the iterates are floats all the same.
        ("an integer x0", np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([1.0, 0.0]),
         np.array([3, -2]), 0.3, 1e-9, 200),
    ]
    for what, A, b, x0, lr, tol, max_iter in cases:
        ref = gradient_descent(Quadratic(A, b), x0.astype(float), lr=lr, max_iter=max_iter,
                               tol=tol)
        what = f"gradient_descent_path (hidden test: {what}; tol={tol:g}, max_iter={max_iter})"

        def check(got, what=what, ref=ref, x0=x0):
            _check_x0(what, got, x0)
            shape = getattr(got.value, "shape", None)
            if not isinstance(got.value, np.ndarray) or shape != ref.path.shape:
                raise AssertionError(f"{what} returned shape {shape}; expected "
                                     f"{ref.path.shape} ({ref.nit} steps)")
            check_array(what, got.value, ref.path, rtol=1e-6, atol=1e-9)
        yield Case(what, _path_call(A=A, b=b, x0=x0, lr=lr, tol=tol, max_iter=max_iter),
                   check)
    # A learning rate far too large: the iterates overflow to inf, then NaN. ||NaN|| <= tol is
    # False, so the rule goes on to max_iter (a loop `while norm > tol` stops at the NaN).
    A, b, x0, lr, max_iter = np.diag([1.0, 3.0]), np.ones(2), np.array([1.0, 1.0]), 300.0, 200
    expected = _plain_path(A, b, x0, lr, max_iter)
    what = (f"gradient_descent_path (hidden test: lr={lr:g} diverges to inf and NaN; the "
            f"rule stops only after max_iter={max_iter} steps, as NaN <= tol is False)")

    def diverging(got, what=what, expected=expected, x0=x0):
        _check_x0(what, got, x0)
        shape = getattr(got.value, "shape", None)
        if not isinstance(got.value, np.ndarray) or shape != expected.shape:
            raise AssertionError(f"{what} returned shape {shape}; expected {expected.shape}")
        finite = np.all(np.isfinite(expected), axis=1)
        check_array(f"{what}: the rows before the overflow", got.value[finite],
                    expected[finite], rtol=1e-6)
    yield Case(what, _path_call(A=A, b=b, x0=x0, lr=lr, tol=1e-8, max_iter=max_iter),
               diverging)
