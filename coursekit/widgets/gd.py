"""Chapter 1 widgets: gradient descent on a 2-D quadratic.

:func:`learning_rate_sweep` and :func:`condition_number_sweep` are the computing parts (plain
functions over :func:`coursekit.optimize.gradient_descent`); the ``*_explorer`` functions draw
their runs into precomputed frames with :func:`coursekit.widgets.frame_slider`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coursekit.objectives import Quadratic
from coursekit.optimize import OptimizeResult, gradient_descent
from coursekit.plotting import contour_paths, loss_curves, new_figure
from coursekit.widgets.frames import FrameSlider, frame_slider

#: Learning rates of the explorer as multiples of 1/L: below, at and beyond the stable limit 2/L.
LR_MULTIPLES = (0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 1.9, 1.98, 2.02, 2.2)


def learning_rate_sweep(
    objective, x0, lrs: Sequence[float], *, max_iter: int = 60, tol: float = 1e-6
) -> list[OptimizeResult]:
    """Run gradient descent from ``x0`` once per learning rate.

    Returns
    -------
    list of OptimizeResult
        One result per entry of ``lrs``, in order.
    """
    return [gradient_descent(objective, x0, lr=lr, max_iter=max_iter, tol=tol) for lr in lrs]


def condition_number_sweep(
    kappas: Sequence[float], x0, *, max_iter: int = 200, tol: float = 1e-6, seed: int = 1
) -> list[tuple[Quadratic, OptimizeResult]]:
    """Gradient descent with the best constant step on quadratics of growing condition number.

    For :math:`f(x) = \\tfrac12 x^\\top A x` with eigenvalues in :math:`[\\mu, L]` the step
    :math:`\\eta = 2/(L + \\mu)` minimises the contraction factor, which is then
    :math:`(\\kappa - 1)/(\\kappa + 1)` with :math:`\\kappa = L/\\mu`.

    Returns
    -------
    list of (Quadratic, OptimizeResult)
        One pair per ``kappa``; the quadratic's eigenvalues are 1 and ``kappa``.
    """
    runs = []
    for kappa in kappas:
        f = Quadratic.with_condition_number(kappa, dim=2, seed=seed)
        runs.append(
            (f, gradient_descent(f, x0, lr=2.0 / (kappa + 1.0), max_iter=max_iter, tol=tol))
        )
    return runs


def _quadratic_levels(f: Quadratic, window: float, n: int = 14) -> np.ndarray:
    """Contour levels at evenly spaced 'radii', so that ellipses look evenly spaced."""
    top = 0.5 * f.L * window**2
    return top * np.linspace(0.02, 1.0, n) ** 2


def _status(result: OptimizeResult) -> str:
    if result.converged:
        return f"converged in {result.nit} steps"
    if "diverged" in result.message:
        return result.message
    if result.losses[-1] > result.losses[0]:
        return (
            f"diverging: the loss grew from {result.losses[0]:.1e} to "
            f"{result.losses[-1]:.1e} in {result.nit} steps"
        )
    return f"not converged after {result.nit} steps (loss {result.fun:.1e})"


def learning_rate_explorer(
    kappa: float = 10.0,
    x0: Sequence[float] = (-4.0, 2.5),
    multiples: Sequence[float] = LR_MULTIPLES,
    *,
    max_iter: int = 60,
    seed: int = 1,
) -> FrameSlider:
    """Slide the learning rate of gradient descent on a quadratic of condition number ``kappa``.

    Each frame shows the iterates on the contour plot and the gap :math:`f(x_k) - f^*` on a log
    axis, for :math:`\\eta = c / L` with ``c`` in ``multiples``: slow for small ``c``, fastest
    near :math:`2/(L+\\mu)`, oscillating beyond :math:`1/L` and diverging beyond :math:`2/L`.
    """
    f = Quadratic.with_condition_number(kappa, dim=2, seed=seed)
    lipschitz = f.L
    lrs = [c / lipschitz for c in multiples]
    results = dict(zip(multiples, learning_rate_sweep(f, x0, lrs, max_iter=max_iter), strict=True))
    window = 5.0
    levels = _quadratic_levels(f, window)

    def draw(c):
        result = results[c]
        fig, (ax, ax_loss) = new_figure(9.0, 3.8, ncols=2)
        contour_paths(
            f,
            {f"$\\eta$ = {c:g}/L": result.path},
            xlim=(-window, window),
            ylim=(-window, window),
            ax=ax,
            levels=levels,
            minimizer=f.minimizer,
            title=f"iterates, $\\kappa$ = {kappa:g}",
        )
        loss_curves(
            {f"$\\eta$ = {c:g}/L": result.losses - f.value(f.minimizer)},
            ax=ax_loss,
            title="optimality gap",
        )
        ax_loss.set_xlim(0, max_iter)
        ax_loss.set_ylim(1e-8, 1e6)
        return fig

    def caption(c):
        return (
            f"Learning rate {c:g}/L = {c / lipschitz:.3g} on a quadratic with L = "
            f"{lipschitz:g} and condition number {kappa:g}: {_status(results[c])}."
        )

    return frame_slider(
        multiples,
        draw,
        description="learning rate η × L",
        labels=[f"{c:g}" for c in multiples],
        caption=caption,
        value=1.0,
    )


def condition_number_explorer(
    kappas: Sequence[float] = (1, 2, 4, 10, 25, 50, 100),
    x0: Sequence[float] = (-4.0, 2.5),
    *,
    max_iter: int = 200,
    seed: int = 1,
) -> FrameSlider:
    """Slide the condition number; gradient descent uses its best constant step 2/(L+mu).

    Each frame shows the zig-zag of the iterates and the measured gap against the predicted
    linear rate :math:`\\left(\\frac{\\kappa-1}{\\kappa+1}\\right)^{2k}`.
    """
    runs = dict(
        zip(kappas, condition_number_sweep(kappas, x0, max_iter=max_iter, seed=seed), strict=True)
    )
    window = 5.0

    def draw(kappa):
        f, result = runs[kappa]
        fig, (ax, ax_loss) = new_figure(9.0, 3.8, ncols=2)
        contour_paths(
            f,
            {"GD, $\\eta = 2/(L+\\mu)$": result.path},
            xlim=(-window, window),
            ylim=(-window, window),
            ax=ax,
            levels=_quadratic_levels(f, window),
            minimizer=f.minimizer,
            title=f"$\\kappa$ = {kappa:g}",
        )
        q = (kappa - 1.0) / (kappa + 1.0)
        steps = np.arange(len(result.losses))
        predicted = result.losses[0] * q ** (2 * steps)
        loss_curves(
            {"measured": result.losses, "predicted $q^{2k}$": predicted},
            ax=ax_loss,
            title=f"gap, contraction q = {q:.3f}",
        )
        ax_loss.set_xlim(0, max_iter)
        ax_loss.set_ylim(1e-14, 1e3)
        return fig

    def caption(kappa):
        _, result = runs[kappa]
        q = (kappa - 1.0) / (kappa + 1.0)
        return (
            f"Condition number {kappa:g}: each step shrinks the error by at most "
            f"q = (κ-1)/(κ+1) = {q:.3f}; gradient descent {_status(result)}."
        )

    return frame_slider(
        kappas,
        draw,
        description="condition number κ",
        labels=[f"{k:g}" for k in kappas],
        caption=caption,
    )
