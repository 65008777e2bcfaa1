"""Chapter 2 widget: feature scaling and the condition number of least squares."""

import numpy as np
import pytest

from coursekit.widgets import feature_scaling_explorer
from coursekit.widgets.linreg import scaled_regression, scaling_sweep


@pytest.fixture(scope="module")
def sweep():
    return scaling_sweep((1.0, 4.0, 8.0, 16.0), max_iter=150, seed=3)


def test_standardised_condition_number_is_the_correlation_formula(sweep):
    """After standardising, H is the correlation matrix: kappa = (1 + |r|) / (1 - |r|)."""
    for run in sweep:
        r = np.corrcoef(run.raw.X, rowvar=False)[0, 1]
        np.testing.assert_allclose(run.kappa_std, (1 + abs(r)) / (1 - abs(r)), rtol=1e-10)
    assert np.ptp([run.kappa_std for run in sweep]) < 1e-9 * sweep[0].kappa_std


def test_raw_condition_number_grows_like_the_square_of_the_scale(sweep):
    kappas = {run.scale: run.kappa_raw for run in sweep}
    # For s >> 1 the eigenvalues separate as s^2 * var(x2) and var(x1)(1 - r^2): doubling s
    # multiplies kappa by 4 (within the correction of order 1/s^2).
    np.testing.assert_allclose(kappas[16.0] / kappas[8.0], 4.0, rtol=0.02)
    assert kappas[1.0] < kappas[4.0] < kappas[8.0]


def test_gap_obeys_the_gradient_descent_bound_and_reaches_lstsq(sweep):
    """With lr = 1/L: f(w_k) - f* <= (1 - 1/kappa)^(2k) (f(w_0) - f*)."""
    for run in sweep:
        for f, result, kappa in (
            (run.raw, run.run_raw, run.kappa_raw),
            (run.standardized, run.run_std, run.kappa_std),
        ):
            w_star = np.linalg.lstsq(f.X, f.y, rcond=None)[0]
            gap = result.losses - f.value(w_star)
            k = np.arange(len(gap))
            bound = gap[0] * (1 - 1 / kappa) ** (2 * k)
            assert np.all(gap <= bound * (1 + 1e-9) + 1e-14)
        assert run.run_std.converged
        np.testing.assert_allclose(run.run_std.x, run.standardized.solution(), atol=1e-6)


def test_scaling_changes_only_the_units_of_feature_two():
    base, scaled = scaled_regression(1.0, seed=5), scaled_regression(10.0, seed=5)
    np.testing.assert_allclose(scaled.X[:, 1], 10 * base.X[:, 1])
    np.testing.assert_allclose(scaled.solution() * [1, 10], base.solution(), rtol=1e-9)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"scale": 0.0}, "scale"), ({"scale": 1.0, "correlation": 1.0}, "correlation")],
)
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        scaled_regression(**kwargs)
    with pytest.raises(TypeError, match="scale"):
        scaled_regression("2")


def test_explorer_frames_change_with_the_scale():
    widget = feature_scaling_explorer(scales=(1.0, 16.0), max_iter=40)
    first = widget.shown_frame
    widget.slider.index = 1
    assert widget.shown_frame != first
    caption = widget.stack.children[1].children[1].value
    assert "multiplied by 16" in caption and "not converged" in caption
