"""Chapter 4 widget: the rate of heavy-ball and Nesterov momentum on a quadratic."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.objectives import Quadratic
from coursekit.optimize import Momentum, Nesterov, gradient_descent
from coursekit.widgets import momentum_explorer
from coursekit.widgets.momentum import best_momentum, momentum_rate, momentum_sweep


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(0.01, 2.5), lam=st.floats(0.05, 1.0))
def test_zero_momentum_is_the_gradient_descent_factor(lr, lam):
    assert momentum_rate(lr, 0.0, [lam]) == pytest.approx(abs(1 - lr * lam), abs=1e-12)
    assert momentum_rate(lr, 0.0, [lam], nesterov=True) == pytest.approx(abs(1 - lr * lam),
                                                                         abs=1e-12)


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
    f, (r,) = momentum_sweep(30.0, [beta], [-4.0, 2.5], max_iter=400, tol=0.0,
                             nesterov=nesterov, seed=2)
    rho = momentum_rate(1 / f.L, beta, f.eigenvalues, nesterov=nesterov)
    err = np.linalg.norm(r.path, axis=1)
    # Complex roots rotate the error: compare envelopes (maxima over more than one period).
    k0, k1, w = 120, 320, 60
    measured = (err[k1:k1 + w].max() / err[k0:k0 + w].max()) ** (1 / (k1 - k0))
    assert measured == pytest.approx(rho, rel=0.01), (measured, rho)


def test_sweep_uses_the_real_rules():
    f, (r,) = momentum_sweep(10.0, [0.6], [1.0, -2.0], max_iter=20, tol=0.0, seed=4)
    g = Quadratic.with_condition_number(10.0, seed=4)
    ref = gradient_descent(g, [1.0, -2.0], lr=1 / g.L, max_iter=20, tol=0.0,
                           rule=Momentum(0.6))
    np.testing.assert_array_equal(r.path, ref.path)
    _, (rn,) = momentum_sweep(10.0, [0.6], [1.0, -2.0], max_iter=5, tol=0.0, seed=4,
                              nesterov=True)
    refn = gradient_descent(f, [1.0, -2.0], lr=1 / f.L, max_iter=5, tol=0.0,
                            rule=Nesterov(0.6))
    np.testing.assert_array_equal(rn.path, refn.path)


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": 0.0, "beta": 0.5, "eigenvalues": [1.0]}, "lr"),
    ({"lr": 0.1, "beta": 1.0, "eigenvalues": [1.0]}, "beta"),
    ({"lr": 0.1, "beta": 0.5, "eigenvalues": [-1.0]}, "eigenvalues"),
])
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        momentum_rate(**kwargs)
    with pytest.raises(ValueError, match="kappa"):
        best_momentum(0.5)
    with pytest.raises(TypeError, match="beta"):
        momentum_rate(0.1, "0.9", [1.0])


def test_explorer_frames_follow_beta():
    widget = momentum_explorer(kappa=25.0, betas=(0.0, 0.64), max_iter=60)
    first = widget.shown_frame
    widget.slider.index = 1
    assert widget.shown_frame != first
    assert "ρ = 0.8000" in widget.stack.children[1].children[1].value  # 1 - 1/sqrt(25)
