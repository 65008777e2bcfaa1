"""What the theory predicts of the optimisers: momentum's rate on a quadratic, the trial steps
of the Armijo search, the variance of a mini-batch gradient (coursekit.optimize)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.data import batch_indices, make_regression
from coursekit.objectives import LeastSquares, Quadratic, Rosenbrock
from coursekit.optimize import (
    Momentum,
    Nesterov,
    armijo_trials,
    backtracking,
    best_momentum,
    gradient_descent,
    minibatch_gradient_variance,
    momentum_rate,
)


@pytest.fixture(scope="module")
def problem():
    X, y, _ = make_regression(n_samples=60, n_features=2, noise=1.0, seed=2)
    return LeastSquares(X, y)


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(0.01, 2.5), lam=st.floats(0.05, 1.0))
def test_zero_momentum_is_the_gradient_descent_factor(lr, lam):
    assert momentum_rate(lr, 0.0, [lam]) == pytest.approx(abs(1 - lr * lam), abs=1e-12)
    assert momentum_rate(lr, 0.0, [lam], nesterov=True) == pytest.approx(
        abs(1 - lr * lam), abs=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(beta=st.floats(0.05, 0.95), lam=st.floats(0.1, 1.0))
def test_complex_roots_have_modulus_sqrt_beta(beta, lam):
    """Polyak: when (1 + beta - lr*lam)^2 < 4 beta both roots have modulus sqrt(beta)."""
    lr = (1 + beta) / lam  # puts 1 + beta - lr*lam at 0: complex roots
    assert momentum_rate(lr, beta, [lam]) == pytest.approx(np.sqrt(beta), rel=1e-9)


@pytest.mark.parametrize("kappa", [4.0, 25.0, 100.0, 1000.0])
def test_best_momentum_gives_one_minus_one_over_sqrt_kappa(kappa):
    eigs = np.linspace(1.0, kappa, 7)
    beta = best_momentum(kappa)
    best = momentum_rate(1 / kappa, beta, eigs)
    assert best == pytest.approx(1 - 1 / np.sqrt(kappa), rel=1e-6)
    for other in (0.5 * beta, beta + 0.5 * (1 - beta)):
        assert momentum_rate(1 / kappa, other, eigs) > best


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("beta", [0.3, 0.7, 0.9])
def test_runs_contract_at_the_predicted_rate(beta, nesterov):
    """The measured tail rate of the real optimiser equals the spectral radius."""
    f = Quadratic.with_condition_number(30.0, dim=2, seed=2)
    rule = Nesterov(beta) if nesterov else Momentum(beta)
    r = gradient_descent(f, [-4.0, 2.5], lr=1 / f.L, max_iter=400, tol=0.0, rule=rule)
    rho = momentum_rate(1 / f.L, beta, f.eigenvalues, nesterov=nesterov)
    err = np.linalg.norm(r.path, axis=1)
    # Complex roots rotate the error: compare envelopes (maxima over more than one period).
    k0, k1, w = 120, 320, 60
    measured = (err[k1 : k1 + w].max() / err[k0 : k0 + w].max()) ** (1 / (k1 - k0))
    assert measured == pytest.approx(rho, rel=0.01), (measured, rho)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": 0.0, "beta": 0.5, "eigenvalues": [1.0]}, "lr"),
        ({"lr": 0.1, "beta": 1.0, "eigenvalues": [1.0]}, "beta"),
        ({"lr": 0.1, "beta": 0.5, "eigenvalues": [-1.0]}, "eigenvalues"),
    ],
)
def test_momentum_rate_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        momentum_rate(**kwargs)
    with pytest.raises(ValueError, match="kappa"):
        best_momentum(0.5)
    with pytest.raises(TypeError, match="beta"):
        momentum_rate(0.1, "0.9", [1.0])


@settings(max_examples=25, deadline=None)
@given(x=st.tuples(st.floats(-2, 2), st.floats(-1, 3)), c=st.sampled_from([1e-4, 0.1, 0.4]))
def test_armijo_trials_find_the_step_backtracking_accepts(x, c):
    f = Rosenbrock()
    x = np.array(x)
    g = f.grad(x)
    if np.linalg.norm(g) < 1e-8:
        return
    d = -g
    alphas, values, accepted = armijo_trials(f, x, d, c=c)
    assert accepted == len(alphas) - 1
    np.testing.assert_allclose(alphas, 0.5 ** np.arange(len(alphas)))
    fx, slope = f.value(x), g @ d
    assert values[accepted] <= fx + c * alphas[accepted] * slope
    assert np.all(values[:accepted] > fx + c * alphas[:accepted] * slope)
    assert alphas[accepted] == backtracking(f, x, d, g=g, c=c)


def test_armijo_trials_rejects_an_ascent_direction():
    f = Quadratic(np.eye(2))
    with pytest.raises(ValueError, match="descent direction"):
        armijo_trials(f, [1.0, 0.0], [1.0, 0.0])


@pytest.mark.parametrize("batch_size", [1, 7, 20, 59, 60])
def test_minibatch_variance_matches_the_batches_sgd_draws(problem, batch_size):
    """The closed form sigma^2/b (n-b)/(n-1) against the batches of batch_indices (Monte Carlo)."""
    w = np.array([0.3, -1.2])
    full = problem.grad(w)
    n = problem.n_samples
    draws = []
    for _, idx in batch_indices(n, batch_size, seed=11):
        if len(idx) == batch_size:  # the short last batch of an epoch has another variance
            draws.append(np.sum((problem.grad(w, idx) - full) ** 2))
        if len(draws) == 4000:
            break
    exact = minibatch_gradient_variance(problem, w, batch_size)
    if batch_size == n:
        assert exact == 0.0 and max(draws) < 1e-25
        return
    # The squared error of one draw has a relative spread of order 1; 4000 draws: ~3 %.
    np.testing.assert_allclose(np.mean(draws), exact, rtol=0.1)


def test_minibatch_variance_bad_batch_size(problem):
    with pytest.raises(ValueError, match="batch_size"):
        minibatch_gradient_variance(problem, np.zeros(2), 0)
    with pytest.raises(TypeError, match="batch_size"):
        minibatch_gradient_variance(problem, np.zeros(2), 2.5)
