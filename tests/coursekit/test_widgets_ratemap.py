"""Chapter 4 rate map: the heavy ball's worst-case rate over (eta, beta), and its widget."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.objectives import Quadratic
from coursekit.optimize import Momentum, best_constants, gradient_descent, heavy_ball_rate_map
from coursekit.widgets import rate_map_explorer


def _brute_rate(lr, beta, mu, L, n=400):
    """Spectral radius of the 2x2 iteration matrices over a fine grid of the spectrum."""
    worst = 0.0
    for h in np.linspace(mu, L, n):
        m = np.array([[1.0 - lr * h, -lr * beta], [h, beta]])
        worst = max(worst, np.max(np.abs(np.linalg.eigvals(m))))
    return worst


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(0.01, 4.5), beta=st.floats(0.0, 0.99), mu=st.floats(0.001, 1.0))
def test_the_map_is_the_worst_eigenvalue_of_the_spectrum(lr, beta, mu):
    """An end of [mu, L] is always the worst curvature: the brute force over the whole
    spectrum never finds a larger rate (up to the grid's resolution)."""
    rate = heavy_ball_rate_map([lr], [beta], mu, 1.0)[0, 0]
    assert rate == pytest.approx(_brute_rate(lr, beta, mu, 1.0), rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("kappa", [4.0, 100.0, 1000.0])
def test_converges_exactly_inside_polyaks_stability_region(kappa):
    lrs = np.linspace(0.05, 4.5, 90)
    betas = np.linspace(0.0, 0.98, 50)
    rates = heavy_ball_rate_map(lrs, betas, 1.0 / kappa, 1.0)
    inside = lrs[None, :] < 2 * (1 + betas[:, None])
    near_edge = np.abs(lrs[None, :] - 2 * (1 + betas[:, None])) < 1e-9
    assert np.array_equal((rates < 1)[~near_edge], inside[~near_edge])


@pytest.mark.parametrize("kappa", [2.0, 10.0, 100.0, 1000.0])
def test_polyaks_constants_are_optimal(kappa):
    (gd_eta, _, gd_rate), (hb_eta, hb_beta, hb_rate) = best_constants(kappa).values()
    assert heavy_ball_rate_map([hb_eta], [hb_beta], 1 / kappa, 1.0)[0, 0] == pytest.approx(
        hb_rate, rel=1e-6
    )
    assert heavy_ball_rate_map([gd_eta], [0.0], 1 / kappa, 1.0)[0, 0] == pytest.approx(
        gd_rate, rel=1e-9
    )
    fine = heavy_ball_rate_map(np.linspace(0.01, 4, 400), np.linspace(0, 0.99, 400), 1 / kappa, 1.0)
    assert fine.min() >= hb_rate - 1e-12  # nothing on the grid beats the bound


def test_the_map_predicts_a_measured_run():
    """Independent check: the error of real heavy-ball runs shrinks at the mapped rate."""
    kappa = 50.0
    f = Quadratic.with_condition_number(kappa, dim=2, seed=3)
    for lr, beta in ((1.0 / kappa, 0.5), (3.0 / kappa, 0.7), (1.5 / kappa, 0.0)):
        r = gradient_descent(f, [1.0, -2.0], lr=lr, max_iter=400, tol=0.0, rule=Momentum(beta))
        err = np.linalg.norm(r.path, axis=1)
        measured = (err[-1] / err[-101]) ** (1 / 100)
        rate = heavy_ball_rate_map([lr], [beta], f.mu, f.L)[0, 0]
        assert measured == pytest.approx(rate, rel=0.02)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(lrs=[0.0]), "lrs"),
        (dict(lrs=[[1.0]]), "lrs"),
        (dict(betas=[1.0]), "betas"),
        (dict(betas=[]), "betas"),
        (dict(mu=2.0), "mu must not exceed L"),
        (dict(L=-1.0), "L"),
    ],
)
def test_bad_input_names_the_argument(bad, message):
    args = dict(lrs=[1.0], betas=[0.5], mu=0.1, L=1.0) | bad
    with pytest.raises(ValueError, match=message):
        heavy_ball_rate_map(**args)


def test_explorer_has_one_frame_per_condition_number():
    widget = rate_map_explorer(kappas=(10.0, 100.0), n=41)
    first = widget.shown_frame
    widget.slider.index = 1
    assert widget.shown_frame != first
    assert "0.8182" in widget.stack.children[1].children[1].value  # (10 - 1) / (10 + 1)
