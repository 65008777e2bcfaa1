"""Hidden tests of newton, judged in the grader's process (see autograder.hidden).

Never released: the student's kernel only receives each call's inputs, after all of the
notebook has run, and never the expected values, which come from coursekit here. Functions
passed to the student's code (the objective of a line search) are built in the kernel from
the notebook's given ``rosenbrock``.
"""

import numpy as np

from autograder.hidden import Call, Case, HiddenTests, check_array, check_number
from coursekit.gradcheck import numerical_grad
from coursekit.objectives import Quadratic, Rosenbrock
from coursekit.optimize import backtracking as ref_backtracking
from coursekit.optimize import newton

TESTS = HiddenTests()

# The course's Parts 1-4, put in place of the student's while Part 5 is tested
# (autograder.hidden.Call's ``references``): a mistake is charged to its own part only.
REFERENCES = {
    "rosenbrock_grad": """def rosenbrock_grad(x, a=1.0, b=100.0):
    import numpy as np
    r = x[1] - x[0] ** 2
    return np.array([-2.0 * (a - x[0]) - 4.0 * b * x[0] * r, 2.0 * b * r])
""",
    "rosenbrock_hess": """def rosenbrock_hess(x, a=1.0, b=100.0):
    import numpy as np
    h01 = -4.0 * b * x[0]
    return np.array([[2.0 - 4.0 * b * (x[1] - x[0] ** 2) + 8.0 * b * x[0] ** 2, h01],
                     [h01, 2.0 * b]])
""",
    "newton_direction": """def newton_direction(g, H):
    import numpy as np
    return np.linalg.solve(H, -g)
""",
    "backtracking": """def backtracking(f, x, d, g, eta0=1.0, rho=0.5, c=1e-4, max_steps=50):
    fx, slope, eta = f(x), g @ d, eta0
    for j in range(max_steps + 1):
        if f(x + eta * d) <= fx + c * eta * slope:
            return float(eta)
        if j < max_steps:
            eta *= rho
    return float(eta)
""",
}


@TESTS.cell("test_rosenbrock_grad", seed=30301)
def rosenbrock_grad_cases(rng):
    """Against coursekit's gradient and the numerical gradient of coursekit's function."""
    for trial in range(8):
        a = float(rng.uniform(-2, 2))
        b = float(rng.uniform(1, 200))
        x = rng.uniform(-2, 2, size=2)
        f = Rosenbrock(a, b)
        expected = f.grad(x)
        numeric = numerical_grad(f.value, x)
        what = f"rosenbrock_grad (random test {trial}: x={x}, a={a:.3g}, b={b:.3g})"

        def check(got, what=what, trial=trial, expected=expected, numeric=numeric):
            check_array(what, got.value, expected)
            check_array(f"rosenbrock_grad vs the numerical gradient (random test {trial})",
                        got.value, numeric, rtol=1e-5, atol=1e-6)
        yield Case(what, Call("rosenbrock_grad(x, a, b)", x=x, a=a, b=b), check)


@TESTS.cell("test_rosenbrock_hess", seed=30302)
def rosenbrock_hess_cases(rng):
    for trial in range(8):
        a = float(rng.uniform(-2, 2))
        b = float(rng.uniform(1, 200))
        x = rng.uniform(-2, 2, size=2)
        expected = Rosenbrock(a, b).hess(x)
        what = f"rosenbrock_hess (random test {trial}: x={x}, a={a:.3g}, b={b:.3g})"
        yield Case(what, Call("rosenbrock_hess(x, a, b)", x=x, a=a, b=b),
                   lambda got, what=what, expected=expected:
                   check_array(what, got.value, expected))


@TESTS.cell("test_newton_direction", seed=30303)
def newton_direction_cases(rng):
    for trial, d in enumerate([1, 2, 4, 7]):
        M = rng.standard_normal((d, d))
        A = M @ M.T + 0.5 * np.eye(d)
        g = rng.standard_normal(d)
        # A quadratic whose gradient at the origin is g: one pure Newton step from 0 is d.
        ref = newton(Quadratic(A, -g), np.zeros(d), max_iter=1, tol=0.0, line_search=False)
        what = f"newton_direction (random test {trial}, d={d})"
        yield Case(what, Call("newton_direction(g, H)", g=g, H=A),
                   lambda got, what=what, expected=ref.path[1]:
                   check_array(what, got.value, expected, rtol=1e-6, atol=1e-9))


@TESTS.cell("test_backtracking", seed=30304)
def backtracking_cases(rng):
    """Against coursekit's Armijo search, on Rosenbrock functions (the notebook's rosenbrock)."""
    for trial in range(10):
        a, b = float(rng.uniform(0.5, 1.5)), float(rng.uniform(5, 150))
        f = Rosenbrock(a, b)
        x = rng.uniform(-2, 2, size=2)
        g = f.grad(x)
        # Steepest descent or a random descent direction, of a random length.
        d = -g * 10 ** rng.uniform(-4, 0) if trial % 2 else rng.standard_normal(2)
        if g @ d >= 0:
            d = -d
        eta0 = float(10 ** rng.uniform(-1, 1))
        rho = float(rng.uniform(0.2, 0.8))
        c = float(10 ** rng.uniform(-4, -0.1))
        max_steps = int(rng.integers(5, 60))
        expected = ref_backtracking(f, x, d, g=g, eta0=eta0, rho=rho, c=c,
                                    max_steps=max_steps)
        what = (f"backtracking (random test {trial}: x={x}, d={d}, eta0={eta0:.3g}, "
                f"rho={rho:.3g}, c={c:.2g}, max_steps={max_steps})")
        yield Case(what, Call("backtracking(lambda z: rosenbrock(z, a, b), x, d, g, eta0, "
                              "rho, c, max_steps)", a=a, b=b, x=x, d=d, g=g, eta0=eta0,
                              rho=rho, c=c, max_steps=max_steps),
                   lambda got, what=what, expected=expected:
                   check_number(what, got.value, expected, rtol=1e-10))


    # f(x + eta d) is NaN for the first trials (outside a ball f is undefined): a NaN is
    # never accepted (NaN <= ... is False; `not (... > ...)` would accept it).
    for trial, (eta0, radius) in enumerate([(1.0, 1.0), (8.0, 0.5)], start=10):
        x, d = np.array([0.5, 0.0]), np.array([1.5, 0.5])
        f = Rosenbrock(1.0, 10.0)
        g = f.grad(x)
        d = d if g @ d < 0 else -d

        def nan_outside(z, f=f, radius=radius):
            return f.value(z) if np.linalg.norm(z) < radius else float("nan")
        expected = ref_backtracking(nan_outside, x, d, g=g, eta0=eta0, rho=0.5, c=1e-4,
                                    max_steps=30)
        what = (f"backtracking (hidden test {trial}: f is NaN outside the ball |x| < {radius}; "
                f"eta0={eta0:g}; a trial where f is NaN must not be accepted)")
        yield Case(what, Call("backtracking(lambda z: rosenbrock(z, 1.0, 10.0) if "
                              "np.linalg.norm(z) < r else float('nan'), x, d, g, eta0, 0.5, "
                              "1e-4, 30)", x=x, d=d, g=g, eta0=eta0, r=radius),
                   lambda got, what=what, expected=expected:
                   check_number(what, got.value, expected, rtol=1e-12))
    # Equality in the Armijo test: f(x) = x^2 from x = 1 along d = -1 with c = 0.5 gives
    # f(0) = 0 = f(1) + 0.5 * 1 * (2 * -1): accepted (<=), so eta = 1.
    what = ("backtracking (hidden test 12: f(x + eta d) equals f(x) + c eta g.d exactly; "
            "the Armijo test accepts it, <= not <)")
    yield Case(what, Call("backtracking(lambda z: float(z @ z), x, d, g, 1.0, 0.5, 0.5, 10)",
                          x=np.array([1.0]), d=np.array([-1.0]), g=np.array([2.0])),
               lambda got, what=what: check_number(what, got.value, 1.0))
    # max_steps is used: an ascent direction is never accepted; the answer is
    # eta0 * rho**max_steps for several max_steps.
    for trial, m in enumerate([0, 2, 7, 63], start=13):
        what = (f"backtracking (hidden test {trial}: an ascent direction, max_steps={m}; "
                f"expected eta0 * rho**max_steps)")
        yield Case(what, Call("backtracking(lambda z: float(z @ z), x, d, g, 2.0, 0.75, 1e-4, m)",
                              x=np.array([1.0, 1.0]), d=np.array([1.0, 0.0]),
                              g=np.array([2.0, 2.0]), m=m),
                   lambda got, what=what, m=m: check_number(what, got.value, 2.0 * 0.75 ** m,
                                                            rtol=1e-12))


def _positive_definite(H):
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return False
    return bool(np.min(np.diag(H)) > 0)


@TESTS.cell("test_newton_path", seed=30305)
def newton_path_cases(rng):
    """Whole paths against coursekit's Newton; f never increases; the uphill fallback."""
    compared = 0
    for trial in range(8):
        a, b = float(rng.uniform(0.5, 1.5)), float(rng.uniform(5, 150))
        f = Rosenbrock(a, b)
        x0 = rng.uniform(-2, 2, size=2)
        what = f"newton_path (random test {trial}: x0={x0}, a={a:.3g}, b={b:.3g})"
        ref = newton(f, x0, max_iter=200, tol=1e-9)
        # Where every Hessian on the way is positive definite, the course's method takes
        # exactly the same steps; elsewhere it modifies the Hessian instead of falling back to
        # -g, so only the end point and the descent are compared.
        comparable = all(_positive_definite(f.hess(p)) for p in ref.path[:-1])
        compared += comparable

        def check(got, what=what, a=a, f=f, ref=ref, comparable=comparable, x0=x0):
            _check_x0(what, got, x0)
            path = got.value
            if not isinstance(path, np.ndarray) or path.ndim != 2 or path.shape[1] != 2:
                raise AssertionError(f"{what} returned shape {getattr(path, 'shape', None)}; "
                                     "expected (n + 1, 2)")
            check_array(f"{what}: the last row", path[-1], [a, a ** 2], atol=1e-6)
            if comparable:
                if path.shape != ref.path.shape:
                    raise AssertionError(f"{what} took {len(path) - 1} steps; expected "
                                         f"{ref.nit}")
                check_array(what, path, ref.path, rtol=1e-6, atol=1e-8)
            for k in range(len(path) - 1):
                if f.value(path[k + 1]) > f.value(path[k]):
                    raise AssertionError(f"{what}: f increased at step {k + 1}")
        yield Case(what, _path_call("newton_path(x0, a, b, tol=1e-9, max_iter=200)", x0=x0,
                                    a=a, b=b), check)
    assert compared >= 3, "hidden test setup: too few comparable starts"
    # Starts where the Hessian is indefinite and the Newton direction goes uphill (g . d > 0).
    for trial, x0 in enumerate([np.array([0.38, 0.16]), np.array([-1.2, 1.47])], start=8):
        what = (f"newton_path (hidden test {trial}: x0={x0}, where the Newton direction goes "
                "uphill; did you use d = -g there?)")

        def check(got, what=what):
            path = got.value
            if not isinstance(path, np.ndarray) or path.ndim != 2 or path.shape[1] != 2:
                raise AssertionError(f"{what} returned shape {getattr(path, 'shape', None)}; "
                                     "expected (n + 1, 2)")
            check_array(f"{what}: the last row", path[-1], [1.0, 1.0], atol=1e-6)
        yield Case(what, _path_call("newton_path(x0, tol=1e-9, max_iter=200)", x0=x0), check)
    # Stopping rules, each with one right length: (x0, a, b, tol, max_iter, what).
    stops = [
        (np.array([1.5, 2.25]), 1.5, 20.0, 0.0, 5,
         "x0 is the minimiser and tol = 0: the gradient is exactly 0 <= tol, so no step"),
        (np.array([-1.2, 1.0]), 1.0, 100.0, 1e-9, 4, "max_iter = 4 before convergence"),
        (np.array([-1.2, 1.0]), 1.0, 100.0, 1e-1, 200, "a large tol = 0.1"),
        (np.array([0.3, -0.4]), 0.7, 3.0, 1e-12, 200, "a = 0.7, b = 3: f, its gradient and "
         "Hessian all use them"),
    ]
    for trial, (x0, a, b, tol, max_iter, why) in enumerate(stops, start=10):
        ref = newton(Rosenbrock(a, b), x0, max_iter=max_iter, tol=tol)
        what = f"newton_path (hidden test {trial}: {why}; tol={tol:g}, max_iter={max_iter})"

        def check(got, what=what, ref=ref, x0=x0):
            _check_x0(what, got, x0)
            path = got.value
            if not isinstance(path, np.ndarray) or path.shape != ref.path.shape:
                raise AssertionError(f"{what} returned shape {getattr(path, 'shape', None)}; "
                                     f"expected {ref.path.shape} ({ref.nit} steps)")
            check_array(what, path, ref.path, rtol=1e-6, atol=1e-8)
        yield Case(what, _path_call("newton_path(x0, a, b, tol=tol, max_iter=max_iter)",
                                    x0=x0, a=a, b=b, tol=tol, max_iter=max_iter), check)


def _path_call(expr, **inputs) -> Call:
    return Call(expr, keep=["x0"], references=REFERENCES, **inputs)


def _check_x0(what, got, x0):
    if not np.array_equal(got.kept["x0"], x0):
        raise AssertionError(f"{what} changed its argument x0 in place (x0 is left unchanged): "
                             "start from a copy, np.array(x0, dtype=float)")
