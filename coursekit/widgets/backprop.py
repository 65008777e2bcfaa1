"""Chapter 6 widget: a two-layer network trained by backpropagation, epoch by epoch.

The network, its training and its decision regions are :mod:`coursekit.nn.two_layer`; the data
:func:`coursekit.data.spiral_data`. :func:`backprop_explorer` draws the training snapshots into
precomputed frames with :func:`coursekit.widgets.frames.frame_slider`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coursekit._checks import check_int
from coursekit.data import spiral_data
from coursekit.nn.two_layer import (
    EPOCHS,
    TwoLayerHistory,
    decision_regions,
    init_two_layer,
    train_two_layer,
    two_layer_predict,
)
from coursekit.plotting import PALETTE, new_figure, region_colormap, series_style
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = ["backprop_explorer"]


@dataclass(frozen=True)
class _Run:
    """What every frame of :func:`backprop_explorer` shows: the data and one training run.

    ``hist`` holds the losses, training accuracies and parameter snapshots of
    :func:`coursekit.nn.two_layer.train_two_layer`; ``held_out`` the accuracy on the held-out
    spirals at each shown epoch.
    """

    epochs: list[int]
    X: np.ndarray
    y: np.ndarray
    n_classes: int
    hist: TwoLayerHistory
    held_out: dict[int, float]


def backprop_explorer(
    epochs: Sequence[int] = EPOCHS, *, n_hidden=64, lr=1.0, l2=1e-3, seed=0
) -> FrameSlider:
    """Slide over training epochs of the two-layer network on the spirals.

    Each frame: the decision regions and the data (left) and the full-data loss and
    training accuracy up to that epoch, with the accuracy on held-out points (the same
    spirals drawn with seed ``seed + 1``, never trained on) at the shown epochs (right).
    """
    run = _train(epochs, n_hidden=n_hidden, lr=lr, l2=l2, seed=seed)
    # Play animates the training; the slider still jumps to any epoch.
    return frame_slider(
        run.epochs,
        functools.partial(_draw, run),
        description="epochs of gradient descent",
        caption=functools.partial(_caption, run),
        play=True,
        interval_ms=700,
    )


def _train(epochs, *, n_hidden, lr, l2, seed) -> _Run:
    """Train once on the spirals of ``seed``, keeping a snapshot at every shown epoch."""
    epochs = sorted({check_int(e, "epochs", 0) for e in epochs})
    X, y = spiral_data(seed=seed)
    X_test, y_test = spiral_data(seed=seed + 1)
    k = int(y.max()) + 1
    hist = train_two_layer(
        init_two_layer(2, n_hidden, k, seed=seed),
        X,
        y,
        lr=lr,
        epochs=epochs[-1],
        l2=l2,
        seed=seed,
        snapshot_epochs=epochs,
    )
    held_out = {
        e: float(np.mean(two_layer_predict(hist.snapshots[e], X_test) == y_test)) for e in epochs
    }
    return _Run(epochs, X, y, k, hist, held_out)


def _draw(run: _Run, e: int):
    """The frame of epoch ``e``: decision regions (left), loss and accuracy (right)."""
    fig, (ax, ax_loss) = new_figure(9.0, 3.8, ncols=2)
    _draw_regions(ax, run, e)
    _draw_training(ax_loss, run, e)
    return fig


def _draw_regions(ax, run: _Run, e: int) -> None:
    """The classes the network of epoch ``e`` predicts over the plane, and the data."""
    lim = (-1.15, 1.15)
    k = run.n_classes
    _, _, classes = decision_regions(run.hist.snapshots[e], lim, lim, n=120)
    ax.imshow(
        classes,
        cmap=region_colormap(k),
        vmin=-0.5,
        vmax=k - 0.5,
        origin="lower",
        extent=(*lim, *lim),
        interpolation="nearest",
    )
    for c in range(k):
        st = series_style(c)
        ax.scatter(
            *run.X[run.y == c].T,
            s=12,
            color=st["color"],
            marker=st["marker"],
            edgecolors="k",
            linewidths=0.3,
            label=f"class {c}",
        )
    ax.set(
        xlim=lim,
        ylim=lim,
        aspect="equal",
        xlabel="$x_1$",
        ylabel="$x_2$",
        title=f"decision regions after {e} epochs",
    )
    ax.legend(loc="lower right", fontsize="x-small", framealpha=0.9)


def _draw_training(ax_loss, run: _Run, e: int) -> None:
    """The loss up to epoch ``e`` (the rest in grey) and, on a second axis, the accuracies."""
    hist = run.hist
    steps = np.arange(len(hist.losses))
    ax_loss.plot(steps, hist.losses, color="0.8", linewidth=1.5)
    ax_loss.plot(
        steps[: e + 1],
        hist.losses[: e + 1],
        color=PALETTE[0],
        linewidth=2,
        label="training loss",
    )
    ax_loss.plot([e], [hist.losses[e]], "o", color=PALETTE[0])
    ax_loss.set(
        yscale="log",
        xlabel="epoch (one full-batch gradient step)",
        ylabel="cross-entropy loss",
        title="loss and accuracy",
    )
    acc_ax = ax_loss.twinx()
    acc_ax.plot(
        steps[: e + 1],
        hist.accuracy[: e + 1],
        color=PALETTE[1],
        linestyle="--",
        linewidth=2,
        label="training accuracy",
    )
    shown = [ep for ep in run.epochs if ep <= e]
    acc_ax.plot(
        shown,
        [run.held_out[ep] for ep in shown],
        linestyle="none",
        marker="s",
        markersize=5,
        color=PALETTE[2],
        label="held-out accuracy",
    )
    acc_ax.set(ylim=(0, 1.02), ylabel="accuracy")
    lines = ax_loss.get_lines()[1:2] + acc_ax.get_lines()[:2]
    ax_loss.legend(lines, [ln.get_label() for ln in lines], loc="center right", fontsize="small")


def _caption(run: _Run, e: int) -> str:
    return (
        f"After {e} epochs: loss {run.hist.losses[e]:.3f}, "
        f"training accuracy {100 * run.hist.accuracy[e]:.1f} %, "
        f"held-out accuracy {100 * run.held_out[e]:.1f} %."
    )
