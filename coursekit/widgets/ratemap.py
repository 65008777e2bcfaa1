r"""Chapter 4 widget: the heavy ball's rate over its two constants, :math:`\eta` and :math:`\beta`.

The computation is :func:`coursekit.optimize.heavy_ball_rate_map` (and the best constants,
:func:`coursekit.optimize.best_constants`); the drawing is
:func:`coursekit.plotting.rate_map`. :func:`rate_map_explorer` lays one map per condition
number into precomputed frames with :func:`coursekit.widgets.frame_slider`, so the slider works
on the static website.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coursekit.optimize import best_constants, heavy_ball_rate_map
from coursekit.plotting import new_figure, rate_map
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = ["rate_map_explorer"]

#: Condition numbers the explorer offers.
KAPPAS = (3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


def rate_map_explorer(kappas: Sequence[float] = KAPPAS, *, n: int = 161) -> FrameSlider:
    r"""Slide the condition number; each frame maps the heavy ball's rate over (η L, β).

    The black line bounds the region where the method converges, :math:`\eta L < 2(1+\beta)`;
    the marks are the best constants of gradient descent (:math:`\beta = 0`) and of the heavy
    ball (:func:`coursekit.optimize.best_constants`).
    """
    lrs = np.linspace(4.0 / n, 4.0, n)  # eta L in (0, 4]
    betas = np.linspace(0.0, 0.995, n)
    maps = {k: heavy_ball_rate_map(lrs, betas, 1.0 / k, 1.0) for k in kappas}

    def draw(kappa):
        fig, ax = new_figure(7.0, 4.4)
        best = best_constants(kappa)
        rate_map(
            lrs,
            betas,
            maps[kappa],
            ax=ax,
            marks={label: (x, y) for label, (x, y, _) in best.items()},
            title=f"heavy ball on quadratics with κ = {kappa:g}",
        )
        return fig

    def caption(kappa):
        (gd_eta, _, gd_rate), (hb_eta, hb_beta, hb_rate) = best_constants(kappa).values()
        smallest = float(maps[kappa].min())
        return (
            f"κ = {kappa:g}: the best rate on this grid is {smallest:.4f}; gradient descent's "
            f"best (η L = {gd_eta:.3f}, β = 0) is {gd_rate:.4f}, the heavy ball's "
            f"(η L = {hb_eta:.3f}, β = {hb_beta:.3f}) is {hb_rate:.4f}. Grey: no "
            f"convergence, beyond η L = 2(1 + β)."
        )

    return frame_slider(
        list(kappas),
        draw,
        description="condition number κ",
        labels=[f"{k:g}" for k in kappas],
        caption=caption,
        value=kappas[3] if len(kappas) > 3 else None,
    )
