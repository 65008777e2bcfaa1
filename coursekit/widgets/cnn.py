"""Chapter 7 widgets: the NumPy VGG-style CNN on the digits, its feature maps and its training.

The measurements are :mod:`coursekit.nn.analysis` (feature maps, the speed of the two
convolutions) and :func:`coursekit.nn.train.train_with_confusion` (a run with the test
confusion matrix after every epoch); :func:`coursekit.plotting.channel_mosaic` tiles a feature
map. :func:`feature_map_explorer` and :func:`training_explorer` draw them into precomputed
frames with :func:`coursekit.widgets.frames.frame_slider`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib import colormaps

from coursekit.nn.analysis import feature_maps
from coursekit.nn.model import VGG
from coursekit.nn.train import ConfusionRun
from coursekit.plotting import PALETTE, channel_mosaic, new_figure, series_style
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = ["feature_map_explorer", "training_explorer"]


def feature_map_explorer(model: VGG, image, label=None) -> FrameSlider:
    """Slide through the conv blocks of ``model``: the input digit (left) and the block's
    channels after the ReLU (right), one frame per convolution.

    Parameters
    ----------
    model : VGG (trained)
    image : ndarray, shape (C, H, W) = model.input_shape
    label : int, optional, shown in the title
    """
    if not isinstance(model, VGG):
        raise TypeError(f"model must be a coursekit.nn.model.VGG, got {type(model).__name__}")
    image = np.asarray(image)
    if image.shape != model.input_shape:
        raise ValueError(f"image must have shape {model.input_shape}, got {image.shape}")
    maps = {k: v[0] for k, v in feature_maps(model, image[None]).items()}
    names = list(maps)
    pred = int(model.predict(image[None])[0])
    what = f"a {label}" if label is not None else "the input"
    # Channels that are zero for this image (dead or not triggered) are worth counting.
    silent = {k: int(np.sum(v.max(axis=(1, 2)) == 0)) for k, v in maps.items()}

    def draw(name):
        fig, (ax_in, ax) = new_figure(9.0, 3.8, ncols=2)
        fig.get_layout_engine().set(wspace=0.05)
        ax_in.imshow(image[0], cmap="gray_r", vmin=0, vmax=1)
        ax_in.set_title(f"input: {what}, predicted {pred}")
        ax_in.set_axis_off()
        m = maps[name]
        mosaic = channel_mosaic(m)
        title = (
            f"{name}: {m.shape[0]} channels of {m.shape[1]} x {m.shape[2]}, "
            f"each scaled to its max ({silent[name]} all zero)"
        )
        shown = ax.imshow(
            np.ma.masked_invalid(mosaic),
            vmin=0,
            vmax=1,
            cmap=colormaps["viridis"].with_extremes(bad="white"),
        )
        ax.set_title(title, fontsize="medium")
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, shrink=0.8, label="activation / channel max")
        return fig

    def caption(name):
        m = maps[name]
        return (
            f"{name}: {m.shape[0]} feature maps of {m.shape[1]} x {m.shape[2]} pixels after "
            f"the ReLU; {silent[name]} of them are zero everywhere for this image."
        )

    return frame_slider(names, draw, description="conv layer", caption=caption)


def training_explorer(runs: Mapping[str, ConfusionRun]) -> FrameSlider:
    """Slide over the epochs of several training runs: their losses so far (left) and the
    test confusion matrix of the first two runs at that epoch (middle, right)."""
    if not runs:
        raise ValueError("runs: expected at least one ConfusionRun")
    labels = list(runs)
    epochs = min(len(r.confusion) for r in runs.values()) - 1
    shown = labels[:2]

    def draw(e):
        fig, axes = new_figure(9.0, 3.8, ncols=1 + len(shown))
        ax = axes[0]
        for i, lab in enumerate(labels):
            losses = runs[lab].losses
            st = series_style(i)
            ax.plot(np.arange(len(losses)), losses, color="0.85", linewidth=1.5)
            ax.plot(np.arange(e + 1), losses[: e + 1], label=lab, markersize=4, **st)
        ax.set(
            yscale="log",
            xlabel="epoch",
            ylabel="training loss",
            title="loss per epoch (same gradient work)",
        )
        ax.legend(fontsize="x-small", loc="lower left")
        for ax_c, lab in zip(axes[1:], shown, strict=True):
            c = runs[lab].confusion[e]
            ax_c.imshow(c, cmap="Blues", vmin=0, vmax=max(1, c.sum(axis=1).max()))
            # The mistakes are what a reader looks for: count them in orange (the diagonal
            # reads from its colour and the accuracy in the title; fewer labels also keep
            # the frames quick to render).
            for i, j in zip(*np.nonzero(c), strict=True):
                if i != j:
                    ax_c.text(
                        j,
                        i,
                        str(c[i, j]),
                        ha="center",
                        va="center",
                        fontsize=6,
                        color=PALETTE[1],
                        fontweight="bold",
                        bbox={"facecolor": "white", "alpha": 0.8, "pad": 0.6, "linewidth": 0},
                    )
            ax_c.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true")
            ax_c.tick_params(labelsize=7)
            ax_c.set_title(
                f"{lab}\ntest accuracy {100 * runs[lab].test_accuracy(e):.0f} %", fontsize="small"
            )
        return fig

    def caption(e):
        parts = [
            f"{lab}: loss {runs[lab].losses[e]:.3f}, test accuracy "
            f"{100 * runs[lab].test_accuracy(e):.1f} %"
            for lab in labels
        ]
        return f"After {e} epochs. " + "; ".join(parts) + "."

    return frame_slider(
        list(range(epochs + 1)),
        draw,
        description="epoch",
        caption=caption,
        play=True,
        interval_ms=900,
    )
