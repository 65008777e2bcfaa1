r"""What the book measures about a network: feature maps, FLOPs per layer, parameter counts.

FLOPs are counted analytically as 2 per multiply-add of the convolutions and the
linear layer (the work BLAS does); ReLU, pooling and bias additions are memory
traffic rather than arithmetic and are listed with 0. For a 3 x 3 convolution with
``C`` input and ``F`` output channels on an ``H_o x W_o`` output and a batch of ``N``:

.. math::

    \text{forward} = 2 N F H_o W_o \, C k_h k_w, \qquad
    \text{backward} = \underbrace{2 N F H_o W_o C k_h k_w}_{\partial L/\partial w}
    + \underbrace{2 N F H_o W_o C k_h k_w}_{\partial L/\partial x},

so a training step costs about three forward passes (the first layer skips
:math:`\partial L/\partial x`, which nobody needs).
"""

from __future__ import annotations

import numpy as np

__all__ = ["layer_flops", "step_flops", "param_count", "feature_maps", "summary"]


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
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
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
        rows.append({"name": layer.name, "kind": layer.kind, "out_shape": layer.out_shape,
                     "params": int(params), "forward": int(fwd), "backward": int(bwd)})
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
            maps["conv" + layer.name[len("relu"):]] = out
    return maps


def summary(model, batch_size=1):
    """A printable table: layer, output shape, parameters, forward/backward MFLOPs."""
    rows = layer_flops(model, batch_size)
    lines = [f"{'layer':<8}{'output':>16}{'params':>10}{'fwd MFLOP':>12}{'bwd MFLOP':>12}"]
    for r in rows:
        lines.append(f"{r['name']:<8}{str(r['out_shape']):>16}{r['params']:>10}"
                     f"{r['forward'] / 1e6:>12.3f}{r['backward'] / 1e6:>12.3f}")
    tot_f = sum(r["forward"] for r in rows)
    tot_b = sum(r["backward"] for r in rows)
    lines.append(f"{'total':<8}{'':>16}{param_count(model):>10}{tot_f / 1e6:>12.3f}"
                 f"{tot_b / 1e6:>12.3f}")
    return "\n".join(lines)
