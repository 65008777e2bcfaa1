"""Figures the chapters draw: contours with optimiser paths, loss curves, PNG frames.

Also the pictures several widgets and chapters share: the light colours of decision regions
(:func:`region_colormap`), the channels of a feature map as one image (:func:`channel_mosaic`)
and a per-worker timeline (:func:`gantt`, with :data:`PHASE_STYLE`).

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
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from coursekit._checks import check_int
from coursekit.distributed.simulate import PHASES

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
        ax.plot(
            *np.asarray(minimizer),
            marker="*",
            color="black",
            markersize=14,
            zorder=6,
            linestyle="none",
            label="minimiser",
        )
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


def rate_map(
    lrs: np.ndarray,
    betas: np.ndarray,
    rates: np.ndarray,
    *,
    ax=None,
    marks: Mapping[str, tuple[float, float]] | None = None,
    xlabel: str = r"learning rate $\eta L$",
    title: str | None = None,
):
    """A map of a linear rate over two hyper-parameters, with the region where it converges.

    Parameters
    ----------
    lrs : ndarray (m,)
        The x values (e.g. the learning rate, scaled by L).
    betas : ndarray (k,)
        The y values (the momentum).
    rates : ndarray (k, m)
        The rate at each (beta, lr); values >= 1 (no convergence) are drawn in grey.
    marks : mapping label -> (x, y), optional
        Points to mark and label (e.g. the best constants of each method).

    Returns
    -------
    ax : matplotlib Axes
    """
    if ax is None:
        _, ax = new_figure()
    shown = np.ma.masked_where(rates >= 1.0, rates)
    ax.set_facecolor("0.85")  # the region that does not converge
    mesh = ax.pcolormesh(
        lrs, betas, shown, cmap="viridis", vmin=float(np.min(rates)), vmax=1.0, shading="auto"
    )
    ax.figure.colorbar(mesh, ax=ax, label=r"rate $\rho$ (error $\times\rho$ per step)")
    levels = [lv for lv in (0.5, 0.8, 0.9, 0.95, 0.99) if rates.min() < lv < 1.0]
    if levels:
        lines = ax.contour(lrs, betas, rates, levels=levels, colors="white", linewidths=0.7)
        ax.clabel(lines, fontsize="x-small", fmt="%.2f")
    ax.contour(lrs, betas, rates, levels=[1.0], colors="black", linewidths=1.6)
    for i, (label, (x, y)) in enumerate((marks or {}).items()):
        st = series_style(i + 1)
        ax.plot(
            [x],
            [y],
            linestyle="none",
            marker=st["marker"],
            color=st["color"],
            markeredgecolor="black",
            markersize=10,
            label=label,
        )
    if marks:
        ax.legend(fontsize="x-small", loc="lower left", framealpha=0.9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"momentum $\beta$")
    if title:
        ax.set_title(title)
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


# =========================================================================== shared by the widgets
def region_colormap(n_classes, amount=0.7):
    """Light versions of the palette's first ``n_classes`` colours (mixed with white by
    ``amount``), for decision regions under points drawn in the full colours."""
    n_classes = check_int(n_classes, "n_classes", 1)
    colours = []
    for hex_colour in PALETTE[:n_classes]:
        rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0
        colours.append(tuple(rgb + (1.0 - rgb) * amount))
    return ListedColormap(colours)


def channel_mosaic(maps, ncols=None, pad=1):
    r"""Tile the channels of one feature map into one image, each scaled to [0, 1].

    Channel :math:`f` is divided by its own maximum :math:`\max_{ij} a_{fij}` (ReLU outputs
    are :math:`\ge 0`; an all-zero channel stays zero), so that weak and strong channels are
    both visible; the tiles are separated by ``pad`` rows/columns of NaN (drawn as
    background).

    Parameters
    ----------
    maps : ndarray, shape (F, H, W), non-negative
    ncols : int, optional; default :math:`\lceil \sqrt F \rceil`
    pad : int >= 0

    Returns
    -------
    ndarray, shape (rows (H + pad) - pad, ncols (W + pad) - pad), float64
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or maps.shape[0] == 0:
        raise ValueError(f"maps must have shape (F, H, W) with F >= 1, got {maps.shape}")
    if np.any(maps < 0) or not np.all(np.isfinite(maps)):
        raise ValueError("maps must be finite and non-negative (activations after a ReLU)")
    f, h, w = maps.shape
    ncols = int(np.ceil(np.sqrt(f))) if ncols is None else check_int(ncols, "ncols", 1)
    pad = check_int(pad, "pad", 0)
    rows = -(-f // ncols)
    out = np.full((rows * (h + pad) - pad, ncols * (w + pad) - pad), np.nan)
    peak = maps.max(axis=(1, 2))
    for i in range(f):
        r, c = divmod(i, ncols)
        tile = maps[i] / peak[i] if peak[i] > 0 else maps[i]
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = tile
    return out


#: Colour and hatch of each timeline phase: Okabe-Ito colours, and hatches so that the phases
#: stay apart in grey-scale (waiting is pale grey: nothing happens).
PHASE_STYLE = {
    "compute": {"facecolor": PALETTE[0], "hatch": ""},
    "wait": {"facecolor": "0.88", "hatch": ""},
    "send": {"facecolor": PALETTE[1], "hatch": "////"},
    "receive": {"facecolor": PALETTE[4], "hatch": "...."},
}


def gantt(
    intervals: Mapping[str, np.ndarray],
    *,
    ax=None,
    workers=None,
    time_unit: float = 1e-3,
    unit_label: str = "ms",
    title: str | None = None,
    legend: bool = True,
):
    """Draw a per-worker timeline (one row a worker, one bar an interval, coloured by phase).

    Parameters
    ----------
    intervals : mapping
        What :meth:`coursekit.distributed.simulate.Timeline.intervals` returns: arrays
        ``worker``, ``phase``, ``start``, ``end`` of equal length (seconds).
    ax : matplotlib Axes, optional
    workers : sequence of int, optional
        Rows to draw, top to bottom (default: every worker present).
    time_unit, unit_label
        The x axis shows ``seconds / time_unit`` labelled with ``unit_label``.
    title : str, optional
    legend : bool

    Returns
    -------
    ax : matplotlib Axes
    """
    for key in ("worker", "phase", "start", "end"):
        if key not in intervals:
            raise ValueError(f"intervals: expected the key {key!r} (Timeline.intervals output)")
    if ax is None:
        _, ax = new_figure(8, 3)
    w = np.asarray(intervals["worker"])
    rows = list(np.unique(w)) if workers is None else list(workers)
    row_of = {int(k): i for i, k in enumerate(rows)}
    phase = np.asarray(intervals["phase"])
    start = np.asarray(intervals["start"], dtype=float) / time_unit
    width = np.asarray(intervals["end"], dtype=float) / time_unit - start
    for ph in PHASES:
        style = PHASE_STYLE[ph]
        for k in rows:
            sel = (w == k) & (phase == ph)
            if sel.any():
                ax.broken_barh(
                    list(zip(start[sel], width[sel], strict=True)),
                    (row_of[int(k)] - 0.4, 0.8),
                    edgecolor="0.25",
                    linewidth=0.3,
                    **style,
                )
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([str(int(k)) for k in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(f"simulated time ({unit_label})")
    ax.set_ylabel("worker")
    if title:
        ax.set_title(title)
    if legend:
        from matplotlib.patches import Patch

        ax.legend(
            handles=[Patch(label=ph, edgecolor="0.25", **PHASE_STYLE[ph]) for ph in PHASES],
            loc="upper right",
            fontsize="small",
            framealpha=0.9,
        )
    return ax
