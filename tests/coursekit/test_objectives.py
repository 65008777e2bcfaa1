"""Tests of coursekit.objectives: closed forms, numerical derivatives, SciPy as an oracle."""

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coursekit.gradcheck import numerical_grad, rel_error
from coursekit.objectives import FiniteSum, LeastSquares, Logistic, Objective, Quadratic, Rosenbrock

SETTINGS = settings(max_examples=25, deadline=None)


def numerical_hess(grad, x, eps=1e-5):
    """Hessian by central differences of an analytic gradient, row by row."""
    d = x.shape[0]
    return np.array([numerical_grad(lambda v, i=i: grad(v)[i], x.copy(), eps) for i in range(d)])


def random_spd(d, seed):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((d, d))
    return M @ M.T + d * np.eye(d), rng.standard_normal(d)


def regression_data(n=30, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n)


def classification_data(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X @ rng.standard_normal(d) + rng.standard_normal(n) > 0).astype(int)
    return X, y


# --------------------------------------------------------------------------- Quadratic
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quadratic_minimizer_solves_linear_system(seed):
    A, b = random_spd(5, seed)
    q = Quadratic(A, b)
    x_star = np.linalg.solve(A, b)
    assert np.allclose(q.minimizer, x_star, rtol=1e-12, atol=1e-12)
    assert np.linalg.norm(q.grad(x_star)) < 1e-10
    # A minimiser: any perturbation increases f by exactly 1/2 p'Ap > 0.
    p = np.random.default_rng(seed + 10).standard_normal(5)
    assert q.value(x_star + p) - q.value(x_star) == pytest.approx(0.5 * p @ A @ p, rel=1e-9)


@pytest.mark.parametrize("kappa,dim", [(1.0, 1), (1.0, 3), (10.0, 2), (1e3, 6), (37.5, 5)])
def test_with_condition_number_spectrum(kappa, dim):
    q = Quadratic.with_condition_number(kappa, dim=dim, seed=3)
    eig = np.linalg.eigvalsh(q.A)
    assert eig[0] == pytest.approx(1.0, rel=1e-10)
    assert eig[-1] == pytest.approx(kappa, rel=1e-10)
    assert q.condition_number == pytest.approx(kappa, rel=1e-10)
    assert q.mu == pytest.approx(1.0) and q.L == pytest.approx(kappa)
    assert np.allclose(q.A, q.A.T)
    assert np.array_equal(q.b, np.zeros(dim))
    assert np.allclose(q.minimizer, 0.0)


def test_with_condition_number_is_seeded():
    a = Quadratic.with_condition_number(50, dim=4, seed=7)
    b = Quadratic.with_condition_number(50, dim=4, seed=7)
    c = Quadratic.with_condition_number(50, dim=4, seed=8)
    assert np.array_equal(a.A, b.A)
    assert not np.allclose(a.A, c.A)


def test_quadratic_not_positive_definite():
    q = Quadratic(np.diag([1.0, -2.0]))
    assert q.condition_number == np.inf
    with pytest.raises(ValueError, match="positive definite"):
        _ = q.minimizer


# --------------------------------------------------------------------------- Rosenbrock
@SETTINGS
@given(hnp.arrays(np.float64, st.integers(2, 7), elements=st.floats(-2.0, 2.0)))
def test_rosenbrock_matches_scipy(x):
    f = Rosenbrock()
    assert f.value(x) == pytest.approx(scipy.optimize.rosen(x), rel=1e-12, abs=1e-12)
    assert rel_error(f.grad(x), scipy.optimize.rosen_der(x)) < 1e-12
    assert rel_error(f.hess(x), scipy.optimize.rosen_hess(x)) < 1e-12


@pytest.mark.parametrize("a,b", [(1.0, 100.0), (0.5, 10.0), (2.0, 1.0)])
def test_rosenbrock_derivatives_numerically(a, b):
    f = Rosenbrock(a, b)
    x = np.random.default_rng(0).uniform(-1.5, 1.5, size=5)
    assert rel_error(f.grad(x), numerical_grad(f.value, x.copy())) < 1e-6
    assert rel_error(f.hess(x), numerical_hess(f.grad, x)) < 1e-6


@pytest.mark.parametrize("a,dim", [(1.0, 2), (1.0, 6), (0.0, 4), (0.3, 2), (-1.5, 2)])
def test_rosenbrock_minimizer(a, dim):
    f = Rosenbrock(a=a)
    x = f.minimizer(dim)
    assert x.shape == (dim,)
    assert f.value(x) == 0.0
    assert np.linalg.norm(f.grad(x)) < 1e-12
    assert np.all(np.linalg.eigvalsh(f.hess(x)) > 0)


def test_rosenbrock_minimizer_without_closed_form():
    with pytest.raises(ValueError, match="closed-form"):
        Rosenbrock(a=0.5).minimizer(3)


# --------------------------------------------------------------------------- least squares
@pytest.mark.parametrize("n,d", [(30, 4), (5, 5), (100, 1)])
def test_least_squares_solution_matches_normal_equations(n, d):
    X, y = regression_data(n, d)
    f = LeastSquares(X, y)
    w_normal = np.linalg.solve(X.T @ X, X.T @ y)
    assert np.allclose(f.solution(), w_normal, rtol=1e-8, atol=1e-10)
    assert np.allclose(f.solution(), np.linalg.lstsq(X, y, rcond=None)[0])
    assert np.linalg.norm(f.grad(w_normal)) < 1e-10
    # The value at the solution is the residual sum of squares / 2n.
    assert f.value(w_normal) == pytest.approx(np.sum((X @ w_normal - y) ** 2) / (2 * n))


def test_least_squares_smoothness_constant():
    X, y = regression_data()
    f = LeastSquares(X, y)
    assert f.L == pytest.approx(np.linalg.norm(X, 2) ** 2 / X.shape[0], rel=1e-10)


def test_least_squares_batch_value_is_mean_of_single_rows():
    X, y = regression_data()
    f = LeastSquares(X, y)
    w = np.arange(4.0)
    idx = np.array([3, 3, 7, 0, 29])
    single = [0.5 * (X[i] @ w - y[i]) ** 2 for i in idx]
    assert f.value(w, idx) == pytest.approx(np.mean(single), rel=1e-12)


# --------------------------------------------------------------------------- logistic
def test_logistic_value_matches_cross_entropy_formula():
    X, y = classification_data()
    f = Logistic(X, y, l2=0.25)
    w = np.array([0.4, -0.7, 1.1])
    p = 1.0 / (1.0 + np.exp(-(X @ w)))
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)) + 0.125 * w @ w
    assert f.value(w) == pytest.approx(expected, rel=1e-12)
    assert np.allclose(f.predict_proba(w), p)


def test_logistic_is_stable_for_large_margins():
    X = np.array([[1.0], [-1.0]])
    f = Logistic(X, np.array([1, 0]))
    w = np.array([1000.0])  # z = +-1000: both samples classified right with huge margin
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert f.value(w) == pytest.approx(0.0, abs=1e-300)
        assert np.all(np.isfinite(f.grad(w)))
    assert Logistic(X, np.array([0, 1])).value(w) == pytest.approx(1000.0)


def test_logistic_minimizer_agrees_with_scipy():
    X, y = classification_data(80, 3, seed=4)
    f = Logistic(X, y, l2=0.1)
    res = scipy.optimize.minimize(f.value, np.zeros(3), jac=f.grad, method="BFGS", tol=1e-12)
    assert np.linalg.norm(f.grad(res.x)) < 1e-7
    # Strongly convex (l2 > 0): the Hessian is positive definite everywhere.
    assert np.linalg.eigvalsh(f.hess(np.array([5.0, -3.0, 2.0])))[0] >= 0.1 - 1e-12


# --------------------------------------------------------------------------- all objectives
def _objectives():
    X, y = regression_data()
    Xc, yc = classification_data()
    A, b = random_spd(4, 5)
    return [
        ("quadratic", Quadratic(A, b), 4),
        ("rosenbrock", Rosenbrock(), 4),
        ("least_squares", LeastSquares(X, y), 4),
        ("logistic", Logistic(Xc, yc), 3),
        ("logistic_l2", Logistic(Xc, yc, l2=0.3), 3),
    ]


@pytest.mark.parametrize("name,f,d", _objectives(), ids=lambda v: v if isinstance(v, str) else "")
def test_gradient_and_hessian_match_finite_differences(name, f, d):
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.uniform(-1.0, 1.0, size=d)
        assert rel_error(f.grad(x), numerical_grad(f.value, x.copy())) < 1e-6, name
        assert rel_error(f.hess(x), numerical_hess(f.grad, x)) < 1e-6, name
        assert isinstance(f.value(x), float)
        assert f(x) == f.value(x)
        assert isinstance(f, Objective)


@pytest.mark.parametrize(
    "name,f,d",
    [o for o in _objectives() if isinstance(o[1], FiniteSum)],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_batch_derivatives_match_finite_differences(name, f, d):
    rng = np.random.default_rng(2)
    idx = rng.choice(f.n_samples, size=7, replace=True)
    x = rng.uniform(-1.0, 1.0, size=d)
    value_b = lambda v: f.value(v, idx)  # noqa: E731
    grad_b = lambda v: f.grad(v, idx)  # noqa: E731
    assert rel_error(f.grad(x, idx), numerical_grad(value_b, x.copy())) < 1e-6
    assert rel_error(f.hess(x, idx), numerical_hess(grad_b, x)) < 1e-6
    # A batch of all rows is the full objective.
    everything = np.arange(f.n_samples)
    assert f.value(x, everything) == pytest.approx(f.value(x), rel=1e-12)


@SETTINGS
@given(data=st.data())
def test_sample_grads_average_to_batch_grad(data):
    kind = data.draw(st.sampled_from(["least_squares", "logistic"]))
    if kind == "least_squares":
        f = LeastSquares(*regression_data())
    else:
        f = Logistic(*classification_data(), l2=data.draw(st.sampled_from([0.0, 0.5])))
    rows = st.integers(0, f.n_samples - 1)
    idx = data.draw(hnp.arrays(np.int64, st.integers(1, 12), elements=rows))
    w = data.draw(hnp.arrays(np.float64, f.dim, elements=st.floats(-3, 3)))
    G = f.sample_grads(w, idx)
    assert G.shape == (len(idx), f.dim)
    assert np.allclose(G.mean(axis=0), f.grad(w, idx), rtol=1e-10, atol=1e-12)
    # Each row is the gradient of that sample alone.
    assert np.allclose(G[0], f.grad(w, idx[:1]), rtol=1e-10, atol=1e-12)
    assert np.allclose(f.sample_grads(w).mean(axis=0), f.grad(w), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: Quadratic([[1.0, 2.0], [0.0, 1.0]]), "A must be symmetric"),
        (lambda: Quadratic([[1.0, np.nan], [np.nan, 1.0]]), "A contains NaN"),
        (lambda: Quadratic(np.ones((2, 3))), "A must be square"),
        (lambda: Quadratic(np.ones(3)), "A must be a 2-D"),
        (lambda: Quadratic(np.eye(2), b=[1.0, 2.0, 3.0]), "b must have shape"),
        (lambda: Quadratic(np.eye(2), b=[1.0, np.inf]), "b contains NaN"),
        (lambda: Quadratic.with_condition_number(0.5), "kappa must be >= 1"),
        (lambda: Quadratic.with_condition_number(np.nan), "kappa must be finite"),
        (lambda: Quadratic.with_condition_number(5, dim=1), "kappa must be 1"),
        (lambda: Quadratic.with_condition_number(5, dim=0), "dim must be"),
        (lambda: Rosenbrock(b=-1.0), "b must be positive"),
        (lambda: LeastSquares(np.ones(5), np.ones(5)), "X must be a 2-D"),
        (lambda: LeastSquares(np.ones((5, 2)), np.ones(4)), "y must have one entry per row"),
        (lambda: LeastSquares(np.ones((5, 2)), [1, 2, 3, np.nan, 5]), "y contains NaN"),
        (lambda: Logistic(np.ones((3, 2)), [0, 1, 2]), "y must contain only labels 0 and 1"),
        (lambda: Logistic(np.ones((3, 2)), [0, 1, 1], l2=-1.0), "l2 must be >= 0"),
    ],
)
def test_bad_construction_raises(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()


def test_bad_points_and_indices_raise():
    q = Quadratic(np.eye(3))
    with pytest.raises(ValueError, match=r"x must have shape \(3,\)"):
        q.value(np.ones(2))
    with pytest.raises(ValueError, match="x must be a 1-D"):
        q.grad(np.ones((3, 1)))
    with pytest.raises(ValueError, match="x contains NaN"):
        q.grad([1.0, np.nan, 0.0])
    with pytest.raises(ValueError, match="x must have at least 2"):
        Rosenbrock().value([1.0])
    with pytest.raises(TypeError, match="x must be a numeric"):
        q.value("abc")
    f = LeastSquares(*regression_data())
    w = np.zeros(4)
    with pytest.raises(ValueError, match=r"idx must lie in \[0, 30\)"):
        f.grad(w, [0, 30])
    with pytest.raises(ValueError, match="idx must lie"):
        f.grad(w, [-1])
    with pytest.raises(TypeError, match="idx must hold integers"):
        f.grad(w, [0.5, 1.0])
    with pytest.raises(TypeError, match="idx must hold integers"):
        f.grad(w, np.ones(30, dtype=bool))
    with pytest.raises(ValueError, match="idx must select at least one"):
        f.value(w, np.array([], dtype=int))
    with pytest.raises(ValueError, match="idx must be a 1-D"):
        f.sample_grads(w, [[0, 1]])
