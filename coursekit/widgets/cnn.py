r"""Chapter 7 widgets: the NumPy VGG-style CNN on the digits, its feature maps and its training.

Computing parts (plain functions, tested without a browser):

- :func:`median_seconds`, :func:`conv_speedup`, :func:`step_speedup`: the measured cost of the
  loop convolution against the im2col + GEMM one (same inputs, same outputs);
- :func:`confusion_matrix`: :math:`C_{ij}` = number of test images of class :math:`i`
  predicted as class :math:`j`;
- :func:`train_with_confusion`: :func:`coursekit.nn.train.train` on the digits, recording the
  test set's confusion matrix before training and after every epoch;
- :func:`channel_mosaic`: the channels of one feature map tiled into one image.

:func:`feature_map_explorer` and :func:`training_explorer` draw them into precomputed frames
with :func:`coursekit.widgets.frames.frame_slider`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from matplotlib import colormaps

from coursekit import data
from coursekit._checks import check_int
from coursekit.nn import layers
from coursekit.nn.analysis import feature_maps
from coursekit.nn.model import VGG, vgg
from coursekit.nn.train import TrainResult, train
from coursekit.plotting import PALETTE, new_figure, series_style
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = [
    "median_seconds",
    "conv_speedup",
    "step_speedup",
    "confusion_matrix",
    "ConfusionRun",
    "digits_split",
    "train_with_confusion",
    "channel_mosaic",
    "feature_map_explorer",
    "training_explorer",
]


def median_seconds(fun: Callable[[], object], repeats: int = 3) -> float:
    """Median wall-clock time of ``repeats`` calls of ``fun()`` (the median resists the
    occasional call slowed down by another process on a shared machine)."""
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    repeats = check_int(repeats, "repeats", 1)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fun()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def conv_speedup(x_shape=(16, 16, 8, 8), n_filters=16, repeats=3, seed=0, dtype=np.float32):
    r"""Time one 3x3 convolution (pad 1) as loops and as im2col + GEMM, on the same input.

    Parameters
    ----------
    x_shape : (N, C, H, W)
    n_filters : int, F
    repeats : int, calls per version (median)
    seed : int, random input and weights
    dtype : float32 or float64

    Returns
    -------
    dict
        ``loop_s``, ``fast_s`` (median seconds), ``speedup`` = loop / fast,
        ``max_abs_diff`` = :math:`\max |y_\text{loop} - y_\text{fast}|` (the two must agree),
        ``flops`` = :math:`2 N F H_o W_o C k_h k_w`.
    """
    if len(x_shape) != 4:
        raise ValueError(f"x_shape must be (N, C, H, W), got {x_shape!r}")
    n, c, h, w = (check_int(v, "x_shape", 1) for v in x_shape)
    f = check_int(n_filters, "n_filters", 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = (rng.standard_normal((f, c, 3, 3)) * np.sqrt(2 / (9 * c))).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    y_loop = layers.conv2d_forward_naive(x, wt, b, 1, 1)[0]
    y_fast = layers.conv2d_forward(x, wt, b, 1, 1)[0]
    loop_s = median_seconds(lambda: layers.conv2d_forward_naive(x, wt, b, 1, 1), repeats)
    fast_s = median_seconds(lambda: layers.conv2d_forward(x, wt, b, 1, 1), repeats)
    return {"loop_s": loop_s, "fast_s": fast_s, "speedup": loop_s / fast_s,
            "max_abs_diff": float(np.max(np.abs(y_loop - y_fast))),
            "flops": 2 * n * f * h * w * c * 9}


def step_speedup(model_fast: VGG, model_loop: VGG, x, y, repeats=3):
    """Time one forward + backward pass (``model.loss``) of two models on the same batch.

    Returns
    -------
    dict
        ``loop_s``, ``fast_s``, ``speedup``, and ``max_rel_grad_diff``: the largest
        :math:`\\max|g_\\text{loop} - g_\\text{fast}| / \\max|g_\\text{loop}|` over the
        parameter arrays (the two models must hold the same weights).
    """
    for name, m in (("model_fast", model_fast), ("model_loop", model_loop)):
        if not isinstance(m, VGG):
            raise TypeError(f"{name} must be a coursekit.nn.model.VGG, got {type(m).__name__}")
    _, g_fast = model_fast.loss(x, y)
    _, g_loop = model_loop.loss(x, y)
    diff = max(float(np.max(np.abs(g_loop[k] - g_fast[k])) / max(np.max(np.abs(g_loop[k])),
                                                                    1e-30))
               for k in g_loop)
    loop_s = median_seconds(lambda: model_loop.loss(x, y), repeats)
    fast_s = median_seconds(lambda: model_fast.loss(x, y), repeats)
    return {"loop_s": loop_s, "fast_s": fast_s, "speedup": loop_s / fast_s,
            "max_rel_grad_diff": diff}


def confusion_matrix(y_true, y_pred, n_classes):
    r"""Counts :math:`C_{ij} = \#\{n : y_n = i,\ \hat y_n = j\}`, shape (K, K).

    Row :math:`i` sums to the number of images of class :math:`i`; the trace divided by
    :math:`N` is the accuracy.
    """
    k = check_int(n_classes, "n_classes", 1)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.shape != y_true.shape:
        raise ValueError(f"y_true and y_pred must be 1-d of the same length, got shapes "
                         f"{y_true.shape} and {y_pred.shape}")
    for name, v in (("y_true", y_true), ("y_pred", y_pred)):
        if v.size and (not np.issubdtype(v.dtype, np.integer) or v.min() < 0 or v.max() >= k):
            raise ValueError(f"{name} must hold integer labels in 0..{k - 1}")
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


@dataclass
class ConfusionRun:
    """A training run with the test confusion matrix before training and after each epoch.

    Attributes
    ----------
    result : TrainResult
    confusion : list of (K, K) int arrays, index 0 = before training
    initial_loss : float, mean training loss of the initial network
    batch_size : int
    """

    result: TrainResult
    confusion: list = field(default_factory=list)
    initial_loss: float = float("nan")
    batch_size: int = 0

    @property
    def losses(self):
        """Training loss, shape (epochs + 1,): the initial network's, then for each epoch the
        mean of its mini-batch losses (as :func:`coursekit.nn.train.train` records it)."""
        return np.array([self.initial_loss] + list(self.result.history["loss"]))

    def test_accuracy(self, epoch):
        """Test accuracy after ``epoch`` epochs (0: before training), from the confusion."""
        c = self.confusion[epoch]
        return float(np.trace(c) / c.sum())


def digits_split(dtype=np.float32):
    """The digits split 80/20 with seed 0, as :func:`coursekit.nn.train.train_digits` does:
    ``(X_train, X_test, y_train, y_test)``."""
    X, y = data.load_digits(dtype=dtype)
    return data.train_test_split(X, y, test_size=0.2, seed=0)


def train_with_confusion(split, *, batch_size, epochs, lr=3e-3, rule="adam", seed=0,
                         config=(16, 16, "M", 32, 32, "M"), dtype=np.float32) -> ConfusionRun:
    """Train a fresh ``vgg(config)`` with :func:`coursekit.nn.train.train` and record the test
    set's confusion matrix after every epoch (and before the first).

    Parameters
    ----------
    split : (X_train, X_test, y_train, y_test), e.g. :func:`digits_split`
    batch_size : int; ``len(y_train)`` is batch gradient descent
    epochs, lr, rule, seed : as for :func:`coursekit.nn.train.train`; ``seed`` also seeds the
        initial weights, so runs with the same seed start from the same network
    """
    X_tr, X_te, y_tr, y_te = split
    model = vgg(config, input_shape=X_tr.shape[1:], n_classes=10, seed=seed, dtype=dtype)
    confusion = [confusion_matrix(y_te, model.predict(X_te), 10)]
    total = 0.0
    for i in range(0, len(y_tr), 512):
        logits = model.forward(X_tr[i:i + 512])
        total += layers.softmax_cross_entropy(logits, y_tr[i:i + 512])[0] * len(logits)
    initial_loss = total / len(y_tr)

    def record(epoch, history):
        confusion.append(confusion_matrix(y_te, model.predict(X_te), 10))

    result = train(model, X_tr, y_tr, X_te, y_te, epochs=epochs, batch_size=batch_size, lr=lr,
                   rule=rule, seed=seed, callback=record)
    return ConfusionRun(result, confusion, initial_loss, batch_size)


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
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = tile
    return out


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
        title = (f"{name}: {m.shape[0]} channels of {m.shape[1]} x {m.shape[2]}, "
                 f"each scaled to its max ({silent[name]} all zero)")
        shown = ax.imshow(np.ma.masked_invalid(mosaic), vmin=0, vmax=1,
                          cmap=colormaps["viridis"].with_extremes(bad="white"))
        ax.set_title(title, fontsize="medium")
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, shrink=0.8, label="activation / channel max")
        return fig

    def caption(name):
        m = maps[name]
        return (f"{name}: {m.shape[0]} feature maps of {m.shape[1]} x {m.shape[2]} pixels after "
                f"the ReLU; {silent[name]} of them are zero everywhere for this image.")

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
            ax.plot(np.arange(e + 1), losses[:e + 1], label=lab, markersize=4, **st)
        ax.set(yscale="log", xlabel="epoch", ylabel="training loss",
               title="loss per epoch (same gradient work)")
        ax.legend(fontsize="x-small", loc="lower left")
        for ax_c, lab in zip(axes[1:], shown, strict=True):
            c = runs[lab].confusion[e]
            ax_c.imshow(c, cmap="Blues", vmin=0, vmax=max(1, c.sum(axis=1).max()))
            # The mistakes are what a reader looks for: count them in orange (the diagonal
            # reads from its colour and the accuracy in the title; fewer labels also keep
            # the frames quick to render).
            for i, j in zip(*np.nonzero(c), strict=True):
                if i != j:
                    ax_c.text(j, i, str(c[i, j]), ha="center", va="center", fontsize=6,
                              color=PALETTE[1], fontweight="bold",
                              bbox={"facecolor": "white", "alpha": 0.8, "pad": 0.6,
                                    "linewidth": 0})
            ax_c.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true")
            ax_c.tick_params(labelsize=7)
            ax_c.set_title(f"{lab}\ntest accuracy {100 * runs[lab].test_accuracy(e):.0f} %",
                           fontsize="small")
        return fig

    def caption(e):
        parts = [f"{lab}: loss {runs[lab].losses[e]:.3f}, test accuracy "
                 f"{100 * runs[lab].test_accuracy(e):.1f} %" for lab in labels]
        return f"After {e} epochs. " + "; ".join(parts) + "."

    return frame_slider(list(range(epochs + 1)), draw, description="epoch", caption=caption,
                        play=True, interval_ms=900)
