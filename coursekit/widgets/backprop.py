r"""Chapter 6 widget: a two-layer network trained by backpropagation, epoch by epoch.

Computing parts (plain functions, tested without a browser):

- :func:`spiral_data`: three interleaved spirals in the plane, a data set no linear
  classifier separates;
- :func:`init_two_layer`, :func:`two_layer_loss`, :func:`two_layer_predict`: the network

  .. math::

      h = \max(X W_1 + b_1, 0), \qquad z = h W_2 + b_2, \qquad
      L = \frac1N \sum_n \Big(\log \sum_k e^{z_{nk}} - z_{n y_n}\Big)
          + \frac{\lambda}{2}\big(\lVert W_1 \rVert^2 + \lVert W_2 \rVert^2\big),

  composed from the layer pairs of :mod:`coursekit.nn.layers`, whose backward passes run in
  the reverse order of the forward pass (backpropagation);
- :func:`train_two_layer`: gradient descent on it with an update rule of
  :mod:`coursekit.optimize` and the batches of :func:`coursekit.data.batch_indices`, keeping
  snapshots of the parameters;
- :func:`decision_regions`: the predicted class on a grid of the plane.

:func:`backprop_explorer` draws the snapshots into precomputed frames with
:func:`coursekit.widgets.frames.frame_slider`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.colors import ListedColormap

from coursekit import data, optimize
from coursekit._checks import check_int
from coursekit.nn import layers
from coursekit.plotting import PALETTE, new_figure, series_style
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = [
    "spiral_data",
    "init_two_layer",
    "two_layer_loss",
    "two_layer_predict",
    "TwoLayerHistory",
    "train_two_layer",
    "decision_regions",
    "region_colormap",
    "backprop_explorer",
]

#: Epochs the explorer shows (a log-like spacing: most of the change happens early).
EPOCHS = (0, 5, 10, 20, 40, 70, 100, 150, 200, 300, 400, 600)
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def spiral_data(n_per_class=100, n_classes=3, noise=0.2, seed=0):
    r"""Points on ``n_classes`` interleaved spiral arms, one arm per class.

    Point :math:`i` of arm :math:`c` sits at radius :math:`r_i = i / (m - 1)` (``m =
    n_per_class``) and angle :math:`\theta_i = 2\pi c / K + 4 r_i + \sigma \xi_i` with
    :math:`\xi_i \sim \mathcal N(0, 1)`: the arms wind around each other, so no straight
    line separates any class from the others.

    Returns
    -------
    X : ndarray, shape (n_per_class * n_classes, 2), float64
    y : ndarray, shape (n_per_class * n_classes,), int64 in ``0 .. n_classes - 1``
    """
    m = check_int(n_per_class, "n_per_class", 2)
    k = check_int(n_classes, "n_classes", 2)
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) \
            or not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    r = np.tile(np.linspace(0.0, 1.0, m), k)
    y = np.repeat(np.arange(k), m).astype(np.int64)
    theta = 2 * np.pi * y / k + 4.0 * r + noise * rng.standard_normal(m * k)
    X = np.column_stack([r * np.cos(theta), r * np.sin(theta)])
    return X, y


def init_two_layer(n_in, n_hidden, n_out, seed=0, scale=None):
    r"""Parameters of the two-layer network, He-initialised.

    :math:`W_1 \sim \mathcal N(0, 2/n_\text{in})` and :math:`W_2 \sim \mathcal N(0,
    2/n_\text{hidden})` (He et al. 2015: the variance of the ReLU activations stays of order
    one), biases zero.

    Parameters
    ----------
    n_in, n_hidden, n_out : int >= 1
    seed : int or numpy.random.Generator
    scale : float, optional
        Multiply both weight matrices by this factor (0 gives the all-zero network).

    Returns
    -------
    dict
        ``W1`` (n_in, n_hidden), ``b1`` (n_hidden,), ``W2`` (n_hidden, n_out), ``b2`` (n_out,).
    """
    n_in = check_int(n_in, "n_in", 1)
    n_hidden = check_int(n_hidden, "n_hidden", 1)
    n_out = check_int(n_out, "n_out", 1)
    rng = np.random.default_rng(seed)
    s = 1.0 if scale is None else float(scale)
    return {
        "W1": s * rng.standard_normal((n_in, n_hidden)) * np.sqrt(2.0 / n_in),
        "b1": np.zeros(n_hidden),
        "W2": s * rng.standard_normal((n_hidden, n_out)) * np.sqrt(2.0 / n_hidden),
        "b2": np.zeros(n_out),
    }


def _check_params(params):
    if not isinstance(params, dict) or set(params) != set(PARAM_NAMES):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict with keys {list(PARAM_NAMES)}, got {got}")


def two_layer_loss(params, X, y, l2=0.0):
    r"""Loss of the two-layer network and its gradients, by backpropagation.

    Forward, layer by layer, keeping each layer's cache; backward in the reverse order, each
    layer turning the gradient of its output into the gradients of its input and parameters
    (the chain rule). Weight decay adds :math:`\lambda W` to each weight gradient.

    Parameters
    ----------
    params : dict
        ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, K), ``b2`` (K,), see :func:`init_two_layer`.
    X : ndarray, shape (N, D)
    y : int ndarray, shape (N,), values in ``0 .. K-1``
    l2 : float >= 0
        Weight decay :math:`\lambda` (on the weights, not the biases).

    Returns
    -------
    loss : float
    grads : dict, same keys and shapes as ``params``
    """
    _check_params(params)
    if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not (np.isfinite(l2)
                                                                       and l2 >= 0):
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    # forward: affine -> ReLU -> affine -> softmax cross-entropy
    a1, cache1 = layers.linear_forward(X, params["W1"], params["b1"])
    h, cache_relu = layers.relu_forward(a1)
    z, cache2 = layers.linear_forward(h, params["W2"], params["b2"])
    loss, dz = layers.softmax_cross_entropy(z, y)
    # backward: the same layers in reverse order
    dh, dW2, db2 = layers.linear_backward(dz, cache2)
    da1 = layers.relu_backward(dh, cache_relu)
    _, dW1, db1 = layers.linear_backward(da1, cache1)
    if l2:
        loss += 0.5 * l2 * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
        dW1 = dW1 + l2 * params["W1"]
        dW2 = dW2 + l2 * params["W2"]
    return float(loss), {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def two_layer_predict(params, X):
    """Predicted class of each row of ``X`` (N, D): ``argmax`` of the logits, shape (N,)."""
    _check_params(params)
    h = np.maximum(layers.linear_forward(X, params["W1"], params["b1"])[0], 0)
    return np.argmax(layers.linear_forward(h, params["W2"], params["b2"])[0], axis=1)


@dataclass
class TwoLayerHistory:
    """What :func:`train_two_layer` records.

    Attributes
    ----------
    losses : ndarray, shape (epochs + 1,)
        Full-data loss (with weight decay) before training and after every epoch.
    accuracy : ndarray, shape (epochs + 1,)
        Training accuracy at the same moments.
    snapshots : dict[int, dict]
        Epoch -> a copy of the parameters after that epoch (0: the initial ones).
    params : dict
        The final parameters.
    """

    losses: np.ndarray
    accuracy: np.ndarray
    snapshots: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)


def train_two_layer(params, X, y, *, lr=1.0, epochs=600, batch_size=None, rule=None, l2=1e-3,
                    seed=0, snapshot_epochs=EPOCHS):
    r"""Train the two-layer network by (mini-batch) gradient descent.

    Each step updates every parameter array :math:`p` with the batch gradient,
    :math:`p \leftarrow \mathrm{rule.update}(p, \nabla_p L_B, \eta)` (plain:
    :math:`p - \eta \nabla_p L_B`), the batches coming from
    :func:`coursekit.data.batch_indices` (``batch_size=None``: the whole set, i.e. batch
    gradient descent, one step per epoch).

    Parameters
    ----------
    params : dict
        Initial parameters (not modified).
    X : ndarray (N, D); y : int ndarray (N,)
    lr : float > 0
    epochs : int >= 0
    batch_size : int in [1, N] or None
    rule : None, str or rule instance (see :func:`coursekit.optimize.get_rule`)
    l2 : float >= 0, weight decay
    seed : int, batch order
    snapshot_epochs : sequence of int
        Epochs after which a copy of the parameters is kept (those > ``epochs`` are ignored).

    Returns
    -------
    TwoLayerHistory
    """
    _check_params(params)
    epochs = check_int(epochs, "epochs", 0)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (np.isfinite(lr)
                                                                       and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    n = len(y)
    b = n if batch_size is None else batch_size
    batches = data.batch_indices(n, b, seed=seed)  # validates batch_size
    steps = -(-n // b)
    rule = optimize.get_rule(rule)
    p = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    states = {k: rule.init(v) for k, v in p.items()}
    wanted = {int(e) for e in snapshot_epochs if 0 <= e <= epochs}

    def record(epoch):
        loss, _ = two_layer_loss(p, X, y, l2)
        losses.append(loss)
        accuracy.append(float(np.mean(two_layer_predict(p, X) == y)))
        if epoch in wanted:
            snapshots[epoch] = {k: v.copy() for k, v in p.items()}

    losses, accuracy, snapshots = [], [], {}
    record(0)
    for epoch in range(1, epochs + 1):
        for _ in range(steps):
            _, idx = next(batches)
            _, grads = two_layer_loss(p, X[idx], y[idx], l2)
            for k in p:
                p[k] = rule.update(p[k], grads[k], lr, states[k])
        record(epoch)
    return TwoLayerHistory(np.array(losses), np.array(accuracy), snapshots, p)


def decision_regions(params, xlim, ylim, n=150):
    """The class the network predicts at every point of an ``n x n`` grid.

    Returns
    -------
    xs : ndarray (n,); ys : ndarray (n,)
    classes : int ndarray (n, n), ``classes[i, j]`` predicted at ``(xs[j], ys[i])``
    """
    n = check_int(n, "n", 2)
    xs = np.linspace(*xlim, n)
    ys = np.linspace(*ylim, n)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    return xs, ys, two_layer_predict(params, grid).reshape(n, n)


def backprop_explorer(epochs: Sequence[int] = EPOCHS, *, n_hidden=64, lr=1.0, l2=1e-3,
                      seed=0) -> FrameSlider:
    """Slide over training epochs of the two-layer network on the spirals.

    Each frame: the decision regions and the data (left) and the full-data loss and
    training accuracy up to that epoch (right).
    """
    epochs = sorted({check_int(e, "epochs", 0) for e in epochs})
    X, y = spiral_data(seed=seed)
    k = int(y.max()) + 1
    hist = train_two_layer(init_two_layer(2, n_hidden, k, seed=seed), X, y, lr=lr,
                           epochs=epochs[-1], l2=l2, seed=seed, snapshot_epochs=epochs)
    lim = (-1.15, 1.15)
    light = region_colormap(k)

    def draw(e):
        fig, (ax, ax_loss) = new_figure(9.0, 3.8, ncols=2)
        _, _, classes = decision_regions(hist.snapshots[e], lim, lim, n=120)
        ax.imshow(classes, cmap=light, vmin=-0.5, vmax=k - 0.5, origin="lower",
                  extent=(*lim, *lim), interpolation="nearest")
        for c in range(k):
            st = series_style(c)
            ax.scatter(*X[y == c].T, s=12, color=st["color"], marker=st["marker"],
                       edgecolors="k", linewidths=0.3, label=f"class {c}")
        ax.set(xlim=lim, ylim=lim, aspect="equal", xlabel="$x_1$", ylabel="$x_2$",
               title=f"decision regions after {e} epochs")
        ax.legend(loc="lower right", fontsize="x-small", framealpha=0.9)
        steps = np.arange(len(hist.losses))
        ax_loss.plot(steps, hist.losses, color="0.8", linewidth=1.5)
        ax_loss.plot(steps[:e + 1], hist.losses[:e + 1], color=PALETTE[0], linewidth=2,
                     label="training loss")
        ax_loss.plot([e], [hist.losses[e]], "o", color=PALETTE[0])
        ax_loss.set(yscale="log", xlabel="epoch (one full-batch gradient step)",
                    ylabel="cross-entropy loss", title="loss and accuracy")
        acc_ax = ax_loss.twinx()
        acc_ax.plot(steps[:e + 1], hist.accuracy[:e + 1], color=PALETTE[1], linestyle="--",
                    linewidth=2, label="training accuracy")
        acc_ax.set(ylim=(0, 1.02), ylabel="training accuracy")
        lines = ax_loss.get_lines()[1:2] + acc_ax.get_lines()[:1]
        ax_loss.legend(lines, [ln.get_label() for ln in lines], loc="center right",
                       fontsize="small")
        return fig

    def caption(e):
        return (f"After {e} epochs: loss {hist.losses[e]:.3f}, "
                f"training accuracy {100 * hist.accuracy[e]:.1f} %.")

    # Play animates the training; the slider still jumps to any epoch.
    return frame_slider(epochs, draw, description="epochs of gradient descent",
                        caption=caption, play=True, interval_ms=700)


def region_colormap(n_classes, amount=0.7):
    """Light versions of the palette's first ``n_classes`` colours (mixed with white by
    ``amount``), for decision regions under points drawn in the full colours."""
    n_classes = check_int(n_classes, "n_classes", 1)
    colours = []
    for hex_colour in PALETTE[:n_classes]:
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
        colours.append(tuple(rgb + (1.0 - rgb) * amount))
    return ListedColormap(colours)
