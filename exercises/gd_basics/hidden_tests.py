"""Hidden tests of gd_basics, judged in the grader's process (see autograder.hidden).

Never released: the student's kernel only receives each call's inputs, after all of the
notebook has run, and never the expected values, which come from coursekit here.
"""

import numpy as np

from autograder.hidden import Call, Case, HiddenTests, check_array
from coursekit.objectives import Quadratic
from coursekit.optimize import gradient_descent

TESTS = HiddenTests()


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
        yield Case(what, Call("gd_step(A, b, x, lr)", keep=["x"], A=Q.A, b=b, x=x0, lr=lr),
                   check)


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

        def check(got, what=what, ref=ref):
            shape = getattr(got.value, "shape", None)
            if not isinstance(got.value, np.ndarray) or shape != ref.path.shape:
                raise AssertionError(f"{what} returned shape {shape}; expected "
                                     f"{ref.path.shape} ({ref.nit} steps)")
            check_array(what, got.value, ref.path, rtol=1e-6, atol=1e-9)
        yield Case(what, Call("gradient_descent_path(A, b, x0, lr=lr, tol=tol, "
                              "max_iter=max_iter)", A=Q.A, b=b, x0=x0, lr=lr, tol=tol,
                              max_iter=max_iter), check)
