"""Figures the chapters draw: contours with optimiser paths, loss curves, PNG frames.

A leaf module: it imports matplotlib (with the non-interactive Agg canvas created per figure,
so importing it never changes the user's backend) and nothing in the maths imports it.

Colours come from the Okabe-Ito palette, which colour-blind readers can tell apart; every
series also gets its own marker and line style so that the figures survive grey-scale print.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision
#: deficiency. Black is left out of series colours because contour lines are drawn in grey.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 1)))


def series_style(i: int) -> dict:
    """Colour, marker and line style of the ``i``-th series (cycled), as ``plot`` keywords."""
    k = i % len(PALETTE)
    return {"color": PALETTE[k], "marker": MARKERS[k], "linestyle": LINESTYLES[k]}


def new_figure(
    width: float = 6.4, height: float = 4.8, *, ncols: int = 1, dpi: int = 100
) -> tuple[Figure, object]:
    """A figure with ``ncols`` axes side by side, on its own Agg canvas (no pyplot state).

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes, or an array of ``ncols`` Axes when ``ncols > 1``
    """
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols)


def grid_values(
    fun: Callable[[np.ndarray], float],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    n: int = 120,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate a function of two variables on an ``n x n`` grid.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float`` for ``x`` of shape (2,).
    xlim, ylim : (low, high)
        The window.
    n : int
        Grid points per axis.

    Returns
    -------
    X, Y, Z : ndarray, each (n, n)
        ``Z[i, j] = fun([X[i, j], Y[i, j]])``.
    """
    xs = np.linspace(*xlim, n)
    ys = np.linspace(*ylim, n)
    X, Y = np.meshgrid(xs, ys)
    Z = np.array([fun(np.array([x, y])) for x, y in zip(X.ravel(), Y.ravel(), strict=True)])
    return X, Y, Z.reshape(X.shape)


def contour_paths(
    objective,
    paths: Mapping[str, np.ndarray],
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    ax=None,
    levels: int | Sequence[float] = 20,
    log_levels: bool = False,
    minimizer: np.ndarray | None = None,
    title: str | None = None,
    max_points: int = 200,
):
    """Contour lines of a 2-D objective with the iterates of one or more optimisers.

    Parameters
    ----------
    objective : object with ``value(x)``
        The function drawn, ``x`` of shape (2,).
    paths : mapping label -> ndarray (k, 2)
        Iterates :math:`x_0, \\dots, x_{k-1}` of each run (an ``OptimizeResult.path``).
    xlim, ylim : (low, high)
        The window; iterates outside it are clipped by the axes, not dropped.
    ax : matplotlib Axes, optional
        Drawn into when given; otherwise a new figure is made.
    levels : int or sequence of float
        Number of contour levels, or the levels themselves.
    log_levels : bool
        Space the levels geometrically between the smallest and largest value in the window
        (what a valley such as Rosenbrock's needs to be visible).
    minimizer : ndarray (2,), optional
        Marked with a star.
    title : str, optional
    max_points : int
        Longer paths are thinned to at most this many markers (the line keeps every point).

    Returns
    -------
    ax : matplotlib Axes
    """
    if ax is None:
        _, ax = new_figure()
    X, Y, Z = grid_values(objective.value, xlim, ylim)
    if log_levels and np.isscalar(levels):
        low = max(float(Z.min()), 1e-12 * max(float(Z.max()), 1.0))
        lvls = np.geomspace(low + 1e-12, float(Z.max()), int(levels))
    else:
        lvls = levels
    ax.contour(X, Y, Z, levels=lvls, colors="0.6", linewidths=0.8)
    for i, (label, path) in enumerate(paths.items()):
        path = np.asarray(path, dtype=float)
        style = series_style(i)
        every = max(1, len(path) // max_points)
        ax.plot(
            path[:, 0],
            path[:, 1],
            label=f"{label} ({len(path) - 1} steps)",
            color=style["color"],
            linestyle=style["linestyle"],
            marker=style["marker"],
            markevery=every,
            markersize=4,
            linewidth=1.5,
        )
        ax.plot(*path[0], marker="o", color="black", markersize=6, zorder=5)
    if minimizer is not None:
        ax.plot(*np.asarray(minimizer), marker="*", color="black", markersize=14, zorder=6,
                linestyle="none", label="minimiser")
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper right", fontsize="small", framealpha=0.9)
    return ax


def loss_curves(
    losses: Mapping[str, np.ndarray],
    *,
    ax=None,
    xlabel: str = "iteration $k$",
    ylabel: str = "$f(x_k) - f^*$",
    f_star: float = 0.0,
    log: bool = True,
    title: str | None = None,
):
    """Loss (or optimality gap) against the iteration, one line per run.

    Parameters
    ----------
    losses : mapping label -> ndarray (k,)
        ``OptimizeResult.losses`` of each run.
    f_star : float
        Subtracted from every curve, so that a log axis shows the gap :math:`f(x_k) - f^*`.
    log : bool
        Logarithmic y axis: linear convergence is then a straight line.

    Returns
    -------
    ax : matplotlib Axes
    """
    if ax is None:
        _, ax = new_figure()
    for i, (label, values) in enumerate(losses.items()):
        gap = np.asarray(values, dtype=float) - f_star
        if log:
            # A gap of exactly zero (or round-off below it) cannot be drawn on a log axis.
            gap = np.maximum(gap, np.finfo(float).tiny)
        style = series_style(i)
        every = max(1, len(gap) // 15)
        ax.plot(gap, label=label, markevery=every, markersize=4, **style)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def figure_to_png(fig: Figure, *, dpi: int = 100, colors: int | None = 64) -> bytes:
    """Render a figure to PNG bytes, optionally quantised to a palette.

    Quantising to 64 colours shrinks a contour plot about four-fold (72 KB to 17 KB at dpi 100)
    with no visible loss: what keeps a page of precomputed widget frames light.

    Parameters
    ----------
    fig : matplotlib Figure
    dpi : int
    colors : int or None
        Palette size; ``None`` keeps full colour.

    Returns
    -------
    bytes
        A PNG file.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if colors is None:
        return buf.getvalue()
    from PIL import Image  # Pillow comes with matplotlib

    buf.seek(0)
    image = Image.open(buf).convert("RGB").quantize(colors)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
