r"""The two-layer network of chapter 6, composed from the layer pairs of :mod:`coursekit.nn.layers`.

.. math::

    h = \max(X W_1 + b_1, 0), \qquad z = h W_2 + b_2, \qquad
    f = \frac1n \sum_i \Big(\log \sum_k e^{z_{ik}} - z_{i y_i}\Big)
        + \frac{\omega}{2}\big(\lVert W_1 \rVert^2 + \lVert W_2 \rVert^2\big),

whose backward passes run in the reverse order of the forward pass (backpropagation).

- :func:`init_two_layer`, :func:`two_layer_loss`, :func:`two_layer_predict`: the network;
- :func:`train_two_layer`: gradient descent on it with an update rule of
  :mod:`coursekit.optimize` and the batches of :func:`coursekit.data.batch_indices`, keeping
  snapshots of the parameters;
- :func:`decision_regions`: the predicted class on a grid of the plane.

NumPy only; :func:`coursekit.widgets.backprop_explorer` draws the snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from coursekit import data, optimize
from coursekit._checks import check_int, is_real
from coursekit.nn import layers

__all__ = [
    "init_two_layer",
    "two_layer_loss",
    "two_layer_predict",
    "TwoLayerHistory",
    "train_two_layer",
    "decision_regions",
]


#: Epochs the explorer shows (a log-like spacing: most of the change happens early).
EPOCHS = (0, 5, 10, 20, 40, 70, 100, 150, 200, 300, 400, 600)


PARAM_NAMES = ("W1", "b1", "W2", "b2")


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
    (the chain rule). Weight decay adds :math:`\omega W` to each weight gradient.

    Parameters
    ----------
    params : dict
        ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, K), ``b2`` (K,), see :func:`init_two_layer`.
    X : ndarray, shape (N, D)
    y : int ndarray, shape (N,), values in ``0 .. K-1``
    l2 : float >= 0
        Weight decay :math:`\omega` (on the weights, not the biases).

    Returns
    -------
    loss : float
    grads : dict, same keys and shapes as ``params``
    """
    _check_params(params)
    if not is_real(l2) or not (np.isfinite(l2) and l2 >= 0):
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


def train_two_layer(
    params,
    X,
    y,
    *,
    lr=1.0,
    epochs=600,
    batch_size=None,
    rule=None,
    l2=1e-3,
    seed=0,
    snapshot_epochs=EPOCHS,
):
    r"""Train the two-layer network by (mini-batch) gradient descent.

    Each step updates every parameter array :math:`p` with the batch gradient,
    :math:`p \leftarrow \mathrm{rule.update}(p, \nabla_p f_B, \eta)` (plain:
    :math:`p - \eta \nabla_p f_B`, :math:`f_B` the loss of the batch), the batches coming from
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
    if not is_real(lr) or not (np.isfinite(lr) and lr > 0):
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
