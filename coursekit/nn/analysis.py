r"""What the book measures about a network: feature maps, FLOPs per layer, parameter counts,
and the measured speed of the loop convolution against the im2col + GEMM one
(:func:`conv_speedup`, :func:`step_speedup`, same inputs, same outputs).

FLOPs are counted analytically as 2 per multiply-add of the convolutions and the
linear layer (the work BLAS does); ReLU, pooling and bias additions are memory
traffic rather than arithmetic and are listed with 0. For a 3 x 3 convolution with
``C`` input and ``F`` output channels on an ``H_o x W_o`` output and a batch of ``N``:

.. math::

    \text{forward} = 2 N F H_o W_o \, C k_h k_w, \qquad
    \text{backward} = \underbrace{2 N F H_o W_o C k_h k_w}_{\partial \ell/\partial w}
    + \underbrace{2 N F H_o W_o C k_h k_w}_{\partial \ell/\partial x},

so a training step costs about three forward passes (the first layer skips
:math:`\partial \ell/\partial x`, which nobody needs).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from coursekit import optimize
from coursekit._checks import check_int, is_int
from coursekit.nn import layers
from coursekit.nn.model import VGG
from coursekit.nn.params import ParamLayout
from coursekit.nn.train import flat_update
from coursekit.timing import median_seconds  # the book's one timer; still in __all__

__all__ = [
    "layer_flops",
    "step_flops",
    "param_count",
    "feature_maps",
    "summary",
    "median_seconds",
    "make_gemm",
    "make_train_step",
    "conv_speedup",
    "step_speedup",
    "step_breakdown",
]


def layer_flops(model, batch_size=1, input_grad=False):
    """Analytical FLOPs of every layer for a batch of ``batch_size`` images.

    Parameters
    ----------
    model : coursekit.nn.model.VGG
    batch_size : int
    input_grad : bool
        Count the first layer's input gradient too (False: training skips it).

    Returns
    -------
    list of dict
        One per layer: ``name``, ``kind``, ``out_shape`` (C, H, W) or (K,), ``params``
        (number of scalars), ``forward``, ``backward`` (FLOPs, ints).
    """
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    rows = []
    for i, layer in enumerate(model.layers):
        fwd = bwd = params = 0
        if layer.kind == "conv":
            w = model.params[layer.name + ".w"]
            f, c, kh, kw = w.shape
            _, ho, wo = layer.out_shape
            macs = batch_size * f * ho * wo * c * kh * kw
            fwd = 2 * macs
            bwd = 2 * macs + (2 * macs if (i > 0 or input_grad) else 0)
            params = w.size + f
        elif layer.kind == "linear":
            d, k = model.params["fc.w"].shape
            macs = batch_size * d * k
            fwd, bwd = 2 * macs, 4 * macs
            params = d * k + k
        rows.append(
            {
                "name": layer.name,
                "kind": layer.kind,
                "out_shape": layer.out_shape,
                "params": int(params),
                "forward": int(fwd),
                "backward": int(bwd),
            }
        )
    return rows


def step_flops(model, batch_size):
    """FLOPs of one training step (forward + backward) on ``batch_size`` images."""
    return int(sum(r["forward"] + r["backward"] for r in layer_flops(model, batch_size)))


def param_count(model):
    r"""Number of trainable scalars, :math:`\sum_\ell (F C k_h k_w + F) + (D K + K)`."""
    return int(sum(v.size for v in model.params.values()))


def feature_maps(model, x):
    """Activations after each convolution block (conv + ReLU) for the images ``x``.

    Parameters
    ----------
    model : coursekit.nn.model.VGG
    x : ndarray, shape (N, C, H, W)

    Returns
    -------
    dict[str, ndarray]
        ``"conv1"`` -> (N, F1, H, W) after its ReLU, ..., in network order (copies).
    """
    _, outputs = model.forward(x, keep=True)
    maps = {}
    for layer, out in zip(model.layers, outputs, strict=True):
        if layer.kind == "relu":
            maps["conv" + layer.name[len("relu") :]] = out
    return maps


def summary(model, batch_size=1):
    """A printable table: layer, output shape, parameters, forward/backward MFLOPs."""
    rows = layer_flops(model, batch_size)
    lines = [f"{'layer':<8}{'output':>16}{'params':>10}{'fwd MFLOP':>12}{'bwd MFLOP':>12}"]
    for r in rows:
        lines.append(
            f"{r['name']:<8}{str(r['out_shape']):>16}{r['params']:>10}"
            f"{r['forward'] / 1e6:>12.3f}{r['backward'] / 1e6:>12.3f}"
        )
    tot_f = sum(r["forward"] for r in rows)
    tot_b = sum(r["backward"] for r in rows)
    lines.append(
        f"{'total':<8}{'':>16}{param_count(model):>10}{tot_f / 1e6:>12.3f}{tot_b / 1e6:>12.3f}"
    )
    return "\n".join(lines)


def make_gemm(n=1024, dtype=np.float32, seed=0):
    """A closure running one ``n x n x n`` matrix product (``np.matmul``), and its FLOPs.

    The machine's dense-matrix speed, the yardstick of the CNN's speed: ``2 n^3`` FLOPs
    divided by its median time, measured in the same run as what it is compared with.
    """
    n = check_int(n, "n", 1)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype)

    def gemm():
        np.matmul(a, b, out=c)

    gemm()  # warm-up (thread pool start, page faults)
    return gemm, 2 * n**3


def make_train_step(model: VGG, x, y, rule="adam", lr=1e-3):
    """A closure running one training step of ``model`` on the batch ``(x, y)``:
    forward, backward and the update ``rule`` (a name or rule of
    :func:`coursekit.optimize.get_rule`) with step size ``lr``. Updates ``model.params``."""
    if not isinstance(model, VGG):
        raise TypeError(f"model must be a coursekit.nn.model.VGG, got {type(model).__name__}")
    rule = optimize.get_rule(rule)
    layout = ParamLayout(model.params)
    state = rule.init(layout.flatten(model.params))

    def step():
        _, grads = model.loss(x, y)
        # All arrays at once, as in coursekit.nn.train.train.
        flat_update(model.params, layout.flatten(grads), rule, lr, state, layout)

    return step


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
    return {
        "loop_s": loop_s,
        "fast_s": fast_s,
        "speedup": loop_s / fast_s,
        "max_abs_diff": float(np.max(np.abs(y_loop - y_fast))),
        "flops": 2 * n * f * h * w * c * 9,
    }


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
    diff = max(
        float(np.max(np.abs(g_loop[k] - g_fast[k])) / max(np.max(np.abs(g_loop[k])), 1e-30))
        for k in g_loop
    )
    loop_s = median_seconds(lambda: model_loop.loss(x, y), repeats)
    fast_s = median_seconds(lambda: model_fast.loss(x, y), repeats)
    return {
        "loop_s": loop_s,
        "fast_s": fast_s,
        "speedup": loop_s / fast_s,
        "max_rel_grad_diff": diff,
    }


def step_breakdown(model: VGG, x, y, repeats=5, clock: Callable[[], float] = time.perf_counter):
    """Where one forward + backward pass spends its time: the median per layer and pass.

    The model's own passes are run layer by layer (:meth:`~coursekit.nn.model.VGG.forward_layer`,
    :meth:`~coursekit.nn.model.VGG.backward_layer`), each timed by ``clock``, so the sum
    of the rows is one ``model.loss(x, y)`` (plus the loss, its own row). On a shared
    machine pass ``clock=time.thread_time``: the CPU seconds of this thread, which other
    processes' load does not inflate the way it inflates wall time (only valid when the
    work runs on the calling thread, i.e. one thread).

    Parameters
    ----------
    model : coursekit.nn.model.VGG
    x : ndarray (N, C, H, W); y : int ndarray (N,)
    repeats : int, passes timed (one untimed warm-up first); the median is reported
    clock : callable returning seconds

    Returns
    -------
    list of dict
        One per layer in network order, then ``"loss"``: ``name``, ``kind``,
        ``forward_s``, ``backward_s`` (medians, seconds).
    """
    if not isinstance(model, VGG):
        raise TypeError(f"model must be a coursekit.nn.model.VGG, got {type(model).__name__}")
    repeats = check_int(repeats, "repeats", 1)
    if not callable(clock):
        raise TypeError(f"clock must be callable, got {type(clock).__name__}")
    x = model._check_x(x)
    n_layers = len(model.layers)
    fwd = np.zeros((repeats + 1, n_layers + 1))
    bwd = np.zeros((repeats + 1, n_layers + 1))
    for r in range(repeats + 1):
        a, caches = x, []
        for i, layer in enumerate(model.layers):
            t0 = clock()
            a, cache = model.forward_layer(layer, a)
            fwd[r, i] = clock() - t0
            caches.append(cache)
        model._caches = caches
        t0 = clock()
        _, d = layers.softmax_cross_entropy(a, y)
        fwd[r, n_layers] = clock() - t0
        grads = {}
        for i in range(n_layers - 1, -1, -1):
            t0 = clock()
            d = model.backward_layer(i, d, grads, need_dx=i > 0)
            bwd[r, i] = clock() - t0
    model.grads = {k: grads[k] for k in model.params}  # as model.backward leaves them
    fwd, bwd = np.median(fwd[1:], axis=0), np.median(bwd[1:], axis=0)
    rows = [
        {
            "name": layer.name,
            "kind": layer.kind,
            "forward_s": float(fwd[i]),
            "backward_s": float(bwd[i]),
        }
        for i, layer in enumerate(model.layers)
    ]
    rows.append(
        {"name": "loss", "kind": "loss", "forward_s": float(fwd[n_layers]), "backward_s": 0.0}
    )
    return rows
