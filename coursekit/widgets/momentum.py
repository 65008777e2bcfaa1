r"""Chapter 4 widgets: heavy-ball and Nesterov momentum on an ill-conditioned quadratic.

:func:`momentum_sweep` runs :func:`coursekit.optimize.gradient_descent` with each momentum;
:func:`momentum_explorer` draws the runs into precomputed frames with
:func:`coursekit.widgets.frame_slider`, against the rate :func:`coursekit.optimize.momentum_rate`
predicts (the law is in its docstring).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coursekit.objectives import Quadratic
from coursekit.optimize import (
    Momentum,
    Nesterov,
    OptimizeResult,
    best_momentum,
    gradient_descent,
    momentum_rate,
)
from coursekit.plotting import contour_paths, loss_curves, new_figure
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = ["momentum_sweep", "momentum_explorer"]

#: Momentum values of the explorer (0.81 is the best one for kappa = 100 and lr = 1/L).
BETAS = (0.0, 0.3, 0.5, 0.7, 0.81, 0.9, 0.95, 0.98)


def momentum_sweep(
    kappa: float,
    betas: Sequence[float],
    x0,
    *,
    max_iter: int = 300,
    tol: float = 1e-10,
    nesterov: bool = False,
    seed: int = 1,
) -> tuple[Quadratic, list[OptimizeResult]]:
    r"""Gradient descent with momentum ``beta`` (each of ``betas``) and :math:`\eta = 1/L`.

    Returns
    -------
    f : Quadratic
        :meth:`Quadratic.with_condition_number` ``(kappa, dim=2, seed=seed)``; :math:`L =
        \kappa`, :math:`\mu = 1`.
    results : list of OptimizeResult
        One per entry of ``betas`` (``beta = 0`` is plain gradient descent).
    """
    f = Quadratic.with_condition_number(kappa, dim=2, seed=seed)
    rule = Nesterov if nesterov else Momentum
    results = [
        gradient_descent(f, x0, lr=1.0 / f.L, max_iter=max_iter, tol=tol, rule=rule(beta))
        for beta in betas
    ]
    return f, results


def momentum_explorer(
    kappa: float = 100.0,
    betas: Sequence[float] = BETAS,
    x0: Sequence[float] = (-4.0, 2.5),
    *,
    max_iter: int = 300,
    seed: int = 1,
) -> FrameSlider:
    r"""Slide the momentum :math:`\beta` of the heavy ball on a quadratic of condition ``kappa``.

    Each frame: the iterates with plain gradient descent for comparison (left), and the
    measured gap against the predicted rate :math:`\rho(\beta)^{2k}` (right); both methods use
    :math:`\eta = 1/L`.
    """
    f, results = momentum_sweep(kappa, betas, x0, max_iter=max_iter, seed=seed)
    _, (plain,) = momentum_sweep(kappa, [0.0], x0, max_iter=max_iter, seed=seed)
    runs = dict(zip(betas, results, strict=True))
    rates = {b: momentum_rate(1.0 / f.L, b, f.eigenvalues) for b in betas}
    window = 5.0
    levels = 0.5 * f.L * window**2 * np.linspace(0.02, 1.0, 14) ** 2

    def draw(beta):
        r = runs[beta]
        fig, (ax, ax_loss) = new_figure(9.0, 3.8, ncols=2)
        contour_paths(
            f,
            {f"momentum β = {beta:g}": r.path, "gradient descent": plain.path},
            xlim=(-window, window),
            ylim=(-window, window),
            ax=ax,
            levels=levels,
            minimizer=f.minimizer,
            title=f"heavy ball, κ = {kappa:g}, η = 1/L",
        )
        k = np.arange(max_iter + 1)
        # The rate fixes the slope; anchor the line mid-run, past the first transient steps.
        mid = r.nit // 2
        predicted = r.losses[mid] * rates[beta] ** (2 * (k - mid))
        loss_curves(
            {
                f"β = {beta:g}": r.losses,
                "gradient descent (β = 0)": plain.losses,
                f"slope of the predicted rate ρ = {rates[beta]:.3f}": predicted,
            },
            ax=ax_loss,
            title="gap $f(x_k) - f^*$",
        )
        ax_loss.set_xlim(0, max_iter)
        ax_loss.set_ylim(1e-18, 1e4)
        return fig

    def caption(beta):
        r = runs[beta]
        state = (
            f"reached a gradient norm of 1e-10 in {r.nit} steps"
            if r.converged
            else f"has a gap of {r.fun:.1e} after {r.nit} steps"
        )
        return (
            f"Momentum β = {beta:g}: predicted rate ρ = {rates[beta]:.4f} per step "
            f"(gradient descent: {rates[0.0] if 0.0 in rates else 1 - 1 / kappa:.4f}; "
            f"best possible with η = 1/L: {1 - 1 / np.sqrt(kappa):.4f} at β = "
            f"{best_momentum(kappa):.3f}); the run {state}."
        )

    return frame_slider(
        list(betas),
        draw,
        description="momentum β",
        labels=[f"{b:g}" for b in betas],
        caption=caption,
        value=0.0 if 0.0 in betas else None,
    )
