r"""Chapter 3 widgets: stochastic and mini-batch gradient descent, batch size and LR schedules.

:func:`sgd_problem`, :func:`batch_size_runs` and :func:`schedule_runs` are the runs the widgets
show (calls of :func:`coursekit.optimize.sgd`); the noise they quote is
:func:`coursekit.optimize.minibatch_gradient_variance`.

:func:`batch_size_explorer` and :func:`schedule_animation` draw them into precomputed frames
with :func:`coursekit.widgets.frame_slider`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from coursekit.data import make_regression
from coursekit.objectives import FiniteSum, LeastSquares
from coursekit.optimize import OptimizeResult, get_schedule, minibatch_gradient_variance, sgd
from coursekit.plotting import contour_paths, new_figure, series_style
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = [
    "sgd_problem",
    "batch_size_runs",
    "schedule_runs",
    "batch_size_explorer",
    "schedule_animation",
]

#: Batch sizes of the explorer, for n = 200 samples (200 = full-batch gradient descent).
BATCH_SIZES = (1, 5, 10, 20, 50, 200)
#: Start point of every run: far enough from the solution for the first epochs to matter.
X0 = (-2.5, 2.5)


def sgd_problem(n_samples: int = 200, noise: float = 1.0, seed: int = 0) -> LeastSquares:
    """The chapter's two-feature least-squares problem (noisy, so SGD's noise is visible)."""
    X, y, _ = make_regression(n_samples=n_samples, n_features=2, noise=noise, seed=seed)
    return LeastSquares(X, y)


def batch_size_runs(
    f: FiniteSum,
    batch_sizes: Sequence[int],
    *,
    lr: float = 0.2,
    epochs: int = 5,
    x0=X0,
    seed: int = 0,
) -> dict[int, OptimizeResult]:
    r"""One :func:`coursekit.optimize.sgd` run per batch size, all with the same sample budget.

    Every run makes ``epochs`` passes over the data, i.e. computes ``epochs * n`` per-sample
    gradients, in :math:`\lceil n / b \rceil` updates per epoch.

    Returns
    -------
    dict batch_size -> OptimizeResult
    """
    return {b: sgd(f, x0, lr=lr, batch_size=b, epochs=epochs, seed=seed) for b in batch_sizes}


def schedule_runs(
    f: FiniteSum,
    schedules: Mapping[str, object],
    *,
    lr: float = 0.2,
    batch_size: int = 1,
    epochs: int = 12,
    x0=X0,
    seed: int = 0,
) -> dict[str, OptimizeResult]:
    """One SGD run per learning-rate schedule (same batches: same ``seed``).

    Parameters
    ----------
    schedules : mapping label -> schedule
        Anything :func:`coursekit.optimize.get_schedule` accepts (``None`` = constant).

    Returns
    -------
    dict label -> OptimizeResult
    """
    return {
        label: sgd(f, x0, lr=lr, batch_size=batch_size, epochs=epochs, seed=seed, schedule=s)
        for label, s in schedules.items()
    }


def _gap_by_epoch(result: OptimizeResult, f_star: float, n: int, batch_size: int):
    """x-axis in epochs (samples seen / n) and the optimality gap of every recorded iterate."""
    steps = np.arange(len(result.losses))
    per_epoch = -(-n // batch_size)
    return steps / per_epoch, np.maximum(result.losses - f_star, np.finfo(float).tiny)


def batch_size_explorer(
    batch_sizes: Sequence[int] = BATCH_SIZES, *, lr: float = 0.2, epochs: int = 5, seed: int = 0
) -> FrameSlider:
    """Slide the batch size at a fixed budget of ``epochs`` passes over the data.

    Each frame: the iterates on the contour plot (left) and the gap against epochs (right),
    with full-batch gradient descent in grey for reference.
    """
    f = sgd_problem(seed=seed)
    w_star = f.solution()
    f_star = f.value(w_star)
    runs = batch_size_runs(f, batch_sizes, lr=lr, epochs=epochs, seed=seed)
    full = sgd(f, X0, lr=lr, batch_size=f.n_samples, epochs=epochs)
    window = ((-3.2, 2.2), (-1.2, 4.2))

    def draw(b):
        result = runs[b]
        fig, (ax, ax_loss) = new_figure(9.0, 3.8, ncols=2)
        contour_paths(
            f,
            {f"batch size {b}": result.path},
            xlim=window[0],
            ylim=window[1],
            ax=ax,
            levels=14,
            log_levels=True,
            minimizer=w_star,
            title=f"{epochs} epochs, batch size {b}",
        )
        ax.set_xlabel("$w_1$")
        ax.set_ylabel("$w_2$")
        epochs_gd, gap_gd = _gap_by_epoch(full, f_star, f.n_samples, f.n_samples)
        ax_loss.plot(
            epochs_gd,
            gap_gd,
            color="0.55",
            linewidth=2.5,
            marker="o",
            markersize=4,
            label="full batch (GD)",
        )
        x_axis, gap = _gap_by_epoch(result, f_star, f.n_samples, b)
        style = series_style(0)
        ax_loss.plot(x_axis, gap, color=style["color"], linewidth=1.2, label=f"batch size {b}")
        ax_loss.set_yscale("log")
        ax_loss.set_ylim(1e-6, 1e2)
        ax_loss.set_xlim(0, epochs)
        ax_loss.set_xlabel("epochs (passes over the data)")
        ax_loss.set_ylabel("$f(w) - f^*$")
        ax_loss.set_title(f"gap, learning rate {lr:g}")
        ax_loss.grid(True, alpha=0.3)
        ax_loss.legend(fontsize="small", loc="upper right")
        return fig

    def caption(b):
        result = runs[b]
        per_epoch = -(-f.n_samples // b)
        sd = np.sqrt(minibatch_gradient_variance(f, w_star, b))
        tail = result.losses[-per_epoch:] - f_star
        return (
            f"Batch size {b}: {per_epoch} updates per epoch, {result.nit} in all, each "
            f"computing {b} sample gradient{'s' if b > 1 else ''}. At the solution a batch "
            f"gradient is off by {sd:.3g} on average (root-mean-square); the gap over the "
            f"last epoch averages {np.mean(tail):.2g}."
        )

    return frame_slider(
        list(batch_sizes),
        draw,
        description="batch size",
        labels=[str(b) for b in batch_sizes],
        caption=caption,
        value=10 if 10 in batch_sizes else None,
    )


def schedule_animation(
    *, lr: float = 0.2, epochs: int = 12, decay: float = 0.05, seed: int = 0
) -> FrameSlider:
    r"""Play SGD (batch size 1) epoch by epoch with a constant and a decaying learning rate.

    Left: the iterates of the current epoch, zoomed on the solution (the constant rate keeps
    bouncing in a ball whose size is set by :math:`\eta`; the decaying one settles). Right: the
    gap of both runs up to the current epoch.
    """
    f = sgd_problem(seed=seed)
    runs = schedule_runs(
        f,
        {
            f"constant $\\eta$ = {lr:g}": None,
            f"$\\eta_t$ = {lr:g} / (1 + {decay:g} t)": get_schedule("1/t", decay=decay),
        },
        lr=lr,
        epochs=epochs,
        seed=seed,
    )
    w_star = f.solution()
    shown = _Schedules(f, w_star, f.value(w_star), runs, epochs)
    # At most 8 frames (page weight): every epoch early on, then every other one.
    values = sorted({e for e in (1, 2, 3, 4, 6, 8, 10, 12, epochs) if e <= epochs})
    return frame_slider(
        values,
        functools.partial(_draw_schedules, shown),
        description="epoch",
        caption=functools.partial(_schedules_caption, shown),
        play=True,
        interval_ms=700,
    )


@dataclass(frozen=True)
class _Schedules:
    """What every frame of :func:`schedule_animation` shows: the problem and its two runs."""

    f: FiniteSum
    w_star: np.ndarray
    f_star: float
    runs: dict[str, OptimizeResult]
    epochs: int

    @property
    def n(self) -> int:
        """Updates per epoch (batch size 1)."""
        return self.f.n_samples


def _draw_schedules(s: _Schedules, e: int):
    """Epoch ``e``'s frame: its iterates around the solution (left), the gaps so far (right)."""
    fig, (ax, ax_loss) = new_figure(9.0, 3.8, ncols=2)
    _draw_epoch_iterates(ax, s, e)
    _draw_gaps(ax_loss, s, e)
    return fig


def _draw_epoch_iterates(ax, s: _Schedules, e: int) -> None:
    half = 1.5
    xlim = (s.w_star[0] - half, s.w_star[0] + half)
    ylim = (s.w_star[1] - half, s.w_star[1] + half)
    n = s.n
    # The iterates of this epoch as a cloud of points: their spread is the noise ball.
    contour_paths(
        s.f,
        {},
        xlim=xlim,
        ylim=ylim,
        ax=ax,
        levels=12,
        minimizer=s.w_star,
        title=f"iterates of epoch {e}, zoomed on $w^*$",
    )
    for i, (label, r) in enumerate(s.runs.items()):
        cloud = r.path[(e - 1) * n + 1 : e * n + 1]
        style = series_style(i)
        ax.plot(
            cloud[:, 0],
            cloud[:, 1],
            linestyle="none",
            marker=style["marker"],
            color=style["color"],
            markersize=3.5,
            alpha=0.8,
            label=label,
            zorder=7,
        )
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.legend(fontsize="small", loc="lower right", framealpha=0.9)


def _draw_gaps(ax_loss, s: _Schedules, e: int) -> None:
    n = s.n
    for i, (label, r) in enumerate(s.runs.items()):
        x_axis, gap = _gap_by_epoch(r, s.f_star, n, 1)
        style = series_style(i)
        ax_loss.plot(
            x_axis[: e * n + 1],
            gap[: e * n + 1],
            color=style["color"],
            linestyle=style["linestyle"],
            linewidth=1.0,
            label=label,
        )
    ax_loss.set_yscale("log")
    ax_loss.set_xlim(0, s.epochs)
    ax_loss.set_ylim(1e-8, 1e2)
    ax_loss.set_xlabel("epochs")
    ax_loss.set_ylabel("$f(w_t) - f^*$")
    ax_loss.set_title("gap, SGD with batch size 1")
    ax_loss.grid(True, alpha=0.3)
    ax_loss.legend(fontsize="small", loc="upper right")


def _schedules_caption(s: _Schedules, e: int) -> str:
    n = s.n
    parts = []
    for label, r in s.runs.items():
        tail = r.losses[(e - 1) * n + 1 : e * n + 1] - s.f_star
        name = "constant rate" if label.startswith("constant") else "decaying rate"
        parts.append(f"{name}: mean gap {np.mean(tail):.2g}")
    return f"Epoch {e} of {s.epochs} ({e * n} updates); " + "; ".join(parts) + "."
