r"""Chapter 2 widgets: linear regression by gradient descent, and why features must be scaled.

:func:`scaled_regression` and :func:`scaling_sweep` are the computing parts (plain functions over
:class:`coursekit.objectives.LeastSquares`, :func:`coursekit.data.standardize` and
:func:`coursekit.optimize.gradient_descent`); :func:`feature_scaling_explorer` draws their runs
into precomputed frames with :func:`coursekit.widgets.frame_slider`.

The law behind the widget: the Hessian of :math:`f(w) = \frac{1}{2n}\lVert Xw - y\rVert^2` is
:math:`H = X^\top X / n`. Multiplying one feature by :math:`s` multiplies its row and column of
:math:`H` by :math:`s` (its diagonal entry by :math:`s^2`), so the condition number grows like
:math:`s^2`; after standardising, :math:`H` is the correlation matrix of the features, whose
condition number for two features is :math:`(1 + |r|)/(1 - |r|)` whatever :math:`s` was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from coursekit._checks import is_real
from coursekit.data import make_regression, standardize
from coursekit.objectives import LeastSquares
from coursekit.optimize import OptimizeResult, gradient_descent
from coursekit.plotting import contour_paths, loss_curves, new_figure
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = ["ScalingRun", "scaled_regression", "scaling_sweep", "feature_scaling_explorer"]

#: Scales of the second feature the explorer offers (1 = both features of unit spread).
SCALES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


@dataclasses.dataclass
class ScalingRun:
    r"""Gradient descent on the raw and on the standardised problem for one feature scale.

    Attributes
    ----------
    scale : float
        The factor :math:`s` applied to the second feature.
    raw, standardized : LeastSquares
        The objectives (the standardised one fits centred targets on centred, unit-variance
        features; the intercept is then the mean of ``y``).
    kappa_raw, kappa_std : float
        Condition numbers of their Hessians :math:`X^\top X / n`.
    run_raw, run_std : OptimizeResult
        Gradient descent with :math:`\eta = 1/L` of each objective from :math:`w = 0`.
    """

    scale: float
    raw: LeastSquares
    standardized: LeastSquares
    kappa_raw: float
    kappa_std: float
    run_raw: OptimizeResult
    run_std: OptimizeResult


def scaled_regression(
    scale: float,
    *,
    n_samples: int = 200,
    noise: float = 0.5,
    correlation: float = 0.3,
    seed: int = 0,
) -> LeastSquares:
    r"""A two-feature regression whose second feature is multiplied by ``scale``.

    The features come from :func:`coursekit.data.make_regression` and are mixed so that their
    correlation is about ``correlation`` (real features are rarely independent); the targets
    are those of the unscaled problem, so only the *units* of feature 2 change.

    Parameters
    ----------
    scale : float > 0
    n_samples : int
    noise : float
        Standard deviation of the target noise.
    correlation : float in (-1, 1)
    seed : int or numpy.random.Generator

    Returns
    -------
    LeastSquares
        With ``X`` of shape (n_samples, 2).
    """
    if not is_real(scale):
        raise TypeError(f"scale must be a positive real number, got {type(scale).__name__}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be positive and finite, got {scale!r}")
    if not -1.0 < correlation < 1.0:
        raise ValueError(f"correlation must lie in (-1, 1), got {correlation!r}")
    X, y, _ = make_regression(n_samples=n_samples, n_features=2, noise=noise, seed=seed)
    # Mix the two independent columns: corr(x1, x2) ~ correlation for standard normal inputs.
    X = np.column_stack([X[:, 0], correlation * X[:, 0] + np.sqrt(1.0 - correlation**2) * X[:, 1]])
    X[:, 1] *= scale
    return LeastSquares(X, y)


def scaling_sweep(
    scales: Sequence[float] = SCALES,
    *,
    max_iter: int = 200,
    tol: float = 1e-8,
    seed: int = 0,
    **problem,
) -> list[ScalingRun]:
    r"""For each scale: gradient descent with :math:`\eta = 1/L` on raw and standardised data.

    With :math:`\eta = 1/L` each eigen-direction :math:`i` of the Hessian shrinks by
    :math:`1 - h_i / L` per step, so the gap obeys
    :math:`f(w_k) - f^\star \le (1 - 1/\kappa)^{2k} (f(w_0) - f^\star)`.

    Parameters
    ----------
    scales : sequence of float
    max_iter, tol
        Passed to :func:`coursekit.optimize.gradient_descent`.
    seed : int
    **problem
        Passed to :func:`scaled_regression` (``n_samples``, ``noise``, ``correlation``).

    Returns
    -------
    list of ScalingRun
        One per scale, in order.
    """
    runs = []
    for s in scales:
        raw = scaled_regression(s, seed=seed, **problem)
        Xs, _, _ = standardize(raw.X)
        std = LeastSquares(Xs, raw.y - raw.y.mean())
        w0 = np.zeros(2)
        runs.append(
            ScalingRun(
                scale=float(s),
                raw=raw,
                standardized=std,
                kappa_raw=raw.condition_number,
                kappa_std=std.condition_number,
                run_raw=gradient_descent(raw, w0, lr=1.0 / raw.L, max_iter=max_iter, tol=tol),
                run_std=gradient_descent(std, w0, lr=1.0 / std.L, max_iter=max_iter, tol=tol),
            )
        )
    return runs


def _window(center: np.ndarray, start: np.ndarray) -> tuple[tuple, tuple]:
    half = 1.25 * float(np.max(np.abs(center - start)))
    return ((center[0] - half, center[0] + half), (center[1] - half, center[1] + half))


def feature_scaling_explorer(
    scales: Sequence[float] = SCALES, *, max_iter: int = 200, seed: int = 0
) -> FrameSlider:
    r"""Slide the scale of feature 2; watch gradient descent (:math:`\eta = 1/L`) slow down.

    Each frame shows the raw problem's contours in weight space with the iterates (left), and
    the optimality gap of the raw and of the standardised problem (right).
    """
    runs = {r.scale: r for r in scaling_sweep(scales, max_iter=max_iter, seed=seed)}

    def draw(s):
        r = runs[s]
        w_star = r.raw.solution()
        xlim, ylim = _window(w_star, r.run_raw.path[0])
        fig, (ax, ax_loss) = new_figure(9.0, 3.8, ncols=2)
        contour_paths(
            r.raw,
            {"GD, raw features": r.run_raw.path},
            xlim=xlim,
            ylim=ylim,
            ax=ax,
            levels=18,
            log_levels=True,
            minimizer=w_star,
            title=f"raw features, feature 2 × {s:g}: κ = {r.kappa_raw:.3g}",
        )
        ax.set_xlabel("$w_1$")
        ax.set_ylabel("$w_2$")
        f_raw = r.raw.value(w_star)
        f_std = r.standardized.value(r.standardized.solution())
        loss_curves(
            {
                f"raw (κ = {r.kappa_raw:.3g})": r.run_raw.losses - f_raw,
                f"standardised (κ = {r.kappa_std:.3g})": r.run_std.losses - f_std,
            },
            ax=ax_loss,
            title="optimality gap, $\\eta = 1/L$",
        )
        ax_loss.set_xlim(0, max_iter)
        ax_loss.set_ylim(1e-16, 1e2)
        return fig

    def caption(s):
        r = runs[s]
        steps = (
            f"converged in {r.run_raw.nit} steps"
            if r.run_raw.converged
            else f"not converged after {r.run_raw.nit} steps"
        )
        return (
            f"Feature 2 multiplied by {s:g}: the Hessian's condition number is "
            f"{r.kappa_raw:.3g} (raw) against {r.kappa_std:.3g} (standardised); gradient "
            f"descent on the raw features {steps}, on the standardised ones it converged "
            f"in {r.run_std.nit} steps."
        )

    return frame_slider(
        list(scales),
        draw,
        description="scale of feature 2",
        labels=[f"{s:g}" for s in scales],
        caption=caption,
    )
