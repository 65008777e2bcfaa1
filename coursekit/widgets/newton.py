r"""Chapter 5 widgets: Newton's method against gradient descent and momentum.

:func:`race_runs` runs gradient descent, the heavy ball and Newton's method from one start (the
trial steps of the line search are :func:`coursekit.optimize.armijo_trials`).

:func:`newton_race` draws the runs, iteration by iteration, into precomputed frames with a Play
button (:func:`coursekit.widgets.frame_slider`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coursekit.objectives import Rosenbrock
from coursekit.optimize import Momentum, OptimizeResult, gradient_descent, newton
from coursekit.plotting import contour_paths, new_figure, series_style
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = ["race_runs", "newton_race"]

#: Iteration counts the race shows (Play steps through them; the scale is roughly geometric).
RACE_STEPS = (0, 1, 2, 4, 8, 15, 25, 100, 500, 3000)


def race_runs(f=None, x0=(-1.2, 1.0), *, max_iter: int = 3000) -> dict[str, OptimizeResult]:
    """Gradient descent, the heavy ball and Newton's method (with line search) from ``x0``.

    Gradient descent uses :math:`\\eta = 1.9 \\cdot 10^{-3}`, just below :math:`2/h_1 \\approx
    1.997 \\cdot 10^{-3}` at the minimum (:math:`h_1 \\approx 1001.6` is the largest Hessian
    eigenvalue there; :math:`2 \\cdot 10^{-3}` would end in a two-point cycle); the heavy ball
    :math:`\\eta = 10^{-3}`, :math:`\\beta = 0.9`, inside its limit :math:`2(1 + \\beta)/h_1`.

    Returns
    -------
    dict label -> OptimizeResult
    """
    f = Rosenbrock() if f is None else f
    return {
        "gradient descent": gradient_descent(f, x0, lr=1.9e-3, max_iter=max_iter, tol=1e-10),
        "heavy ball": gradient_descent(
            f, x0, lr=1e-3, max_iter=max_iter, tol=1e-10, rule=Momentum(0.9)
        ),
        "Newton + line search": newton(f, x0, max_iter=100, tol=1e-10),
    }


def newton_race(steps: Sequence[int] = RACE_STEPS, x0=(-1.2, 1.0)) -> FrameSlider:
    """Play the race on Rosenbrock: each frame shows every method after ``k`` iterations.

    Left: the paths so far on the contour plot. Right: :math:`f(x_k) - f^*` against the
    iteration (logarithmic axes), drawn up to ``k``.
    """
    f = Rosenbrock()
    runs = race_runs(f, x0, max_iter=max(steps))
    x_star = f.minimizer(2)
    tiny = 1e-30  # f* = 0: the gap is f itself; an exact zero cannot be drawn on a log axis

    def draw(k):
        fig, (ax, ax_loss) = new_figure(9.0, 3.8, ncols=2)
        paths = {label: r.path[: k + 1] for label, r in runs.items()}
        contour_paths(
            f,
            paths,
            xlim=(-1.6, 1.6),
            ylim=(-0.6, 1.8),
            ax=ax,
            levels=20,
            log_levels=True,
            minimizer=x_star,
            title=f"after {k} iterations",
        )
        ax.legend(fontsize="x-small", loc="lower right", framealpha=0.9)
        for i, (label, r) in enumerate(runs.items()):
            losses = np.maximum(r.losses[: k + 1], tiny)
            st = series_style(i)
            ax_loss.plot(
                np.arange(len(losses)) + 1,
                losses,
                color=st["color"],
                linestyle=st["linestyle"],
                marker=st["marker"],
                markevery=max(1, len(losses) // 12),
                markersize=4,
                label=label,
            )
        ax_loss.set_xscale("log")
        ax_loss.set_yscale("log")
        ax_loss.set_xlim(1, max(steps) + 1)
        ax_loss.set_ylim(1e-30, 1e2)
        ax_loss.set_xlabel("iteration $k + 1$ (log scale)")
        ax_loss.set_ylabel("$f(x_k) - f^*$")
        ax_loss.set_title("gap, minimum $f^* = 0$")
        ax_loss.grid(True, alpha=0.3)
        ax_loss.legend(fontsize="small", loc="lower left")
        return fig

    def caption(k):
        parts = []
        for label, r in runs.items():
            j = min(k, r.nit)
            done = " (converged)" if r.converged and k >= r.nit else ""
            parts.append(f"{label}: f = {r.losses[j]:.1e}{done}")
        return f"After {k} iterations: " + "; ".join(parts) + "."

    return frame_slider(
        list(steps), draw, description="iterations", caption=caption, play=True, interval_ms=800
    )
