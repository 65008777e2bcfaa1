"""A VGG-style network built from a config list, with He initialisation from a seed.

``vgg([16, 16, "M", 32, 32, "M"])`` is the network of the course:

    conv3x3(1->16) ReLU  conv3x3(16->16) ReLU  maxpool2x2
    conv3x3(16->32) ReLU conv3x3(32->32) ReLU  maxpool2x2   flatten   linear(->10)

Every convolution is 3 x 3 with padding 1 and stride 1 (so it keeps H x W) and every
"M" halves H and W, as in VGG (Simonyan & Zisserman, 2015).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np

from coursekit._checks import is_int
from coursekit.nn import conv_fast, data_parallel, layers
from coursekit.nn.conv_fast import Workspace

__all__ = ["Layer", "VGG", "vgg"]


@dataclass
class Layer:
    """One layer of a :class:`VGG`: its kind, name, input and output shapes (no batch axis).

    ``kind`` is "conv" (3x3, pad 1, followed in the network by a "relu"), "relu",
    "pool" (2x2, stride 2) or "linear". Parameters live in the model's ``params`` dict
    under ``name + ".w"`` / ``name + ".b"``.
    """

    kind: str
    name: str
    in_shape: tuple
    out_shape: tuple
    workspace: Workspace | None = field(default=None, repr=False)


class VGG:
    """A sequential CNN: conv/ReLU blocks, max-pools, one linear classifier.

    Attributes
    ----------
    params : dict[str, ndarray]
        ``"conv1.w"`` (F, C, 3, 3), ``"conv1.b"`` (F,), ..., ``"fc.w"`` (D, K), ``"fc.b"`` (K,).
        Training replaces the arrays (update rules return new arrays), so layers read
        them from this dict on every call.
    grads : dict[str, ndarray]
        Same keys and shapes, filled by :meth:`backward`.
    layers : list of :class:`Layer`
    input_shape : tuple (C, H, W)
    n_classes : int
    dtype : numpy dtype of the parameters and activations
    conv : "fast" (im2col + GEMM) or "loop" (the readable loops; for comparisons)
    """

    def __init__(self, config, input_shape, n_classes, seed, dtype, conv="fast"):
        if conv not in ("fast", "loop"):
            raise ValueError(f"conv must be 'fast' or 'loop', got {conv!r}")
        self.conv = conv
        self.config = list(config)
        self.input_shape = tuple(input_shape)
        self.n_classes = int(n_classes)
        self.dtype = np.dtype(dtype)
        self.layers: list[Layer] = []
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._caches: list = []
        self._replicas: list[VGG] = []
        rng = np.random.default_rng(seed)
        shape = self.input_shape
        n_conv = n_pool = 0
        for item in self.config:
            c, h, w = shape
            if item == "M":
                if h < 2 or w < 2:
                    raise ValueError(
                        f"config: max-pool 'M' at an input of H x W = {h} x {w}; "
                        f"input_shape {self.input_shape} is too small for config "
                        f"{self.config}"
                    )
                n_pool += 1
                out = (c, h // 2, w // 2)
                self.layers.append(Layer("pool", f"pool{n_pool}", shape, out, Workspace()))
            else:
                f = item
                n_conv += 1
                name = f"conv{n_conv}"
                self.layers.append(Layer("conv", name, shape, (f, h, w), Workspace()))
                self.layers.append(Layer("relu", f"relu{n_conv}", (f, h, w), (f, h, w)))
                # He et al. (2015): Var w = 2 / fan_in keeps the ReLU activations' scale.
                fan_in = c * 9
                self.params[name + ".w"] = (
                    rng.standard_normal((f, c, 3, 3)) * np.sqrt(2.0 / fan_in)
                ).astype(self.dtype)
                self.params[name + ".b"] = np.zeros(f, self.dtype)
                out = (f, h, w)
            shape = out
        d = int(np.prod(shape))
        self.layers.append(Layer("linear", "fc", shape, (self.n_classes,)))
        self.params["fc.w"] = (rng.standard_normal((d, self.n_classes)) * np.sqrt(2.0 / d)).astype(
            self.dtype
        )
        self.params["fc.b"] = np.zeros(self.n_classes, self.dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    # ------------------------------------------------------------------ passes
    def _check_x(self, x):
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            raise ValueError(
                f"x must have shape (N, {', '.join(map(str, self.input_shape))}), got {x.shape}"
            )
        if not np.issubdtype(x.dtype, np.number):
            raise TypeError(f"x must be numeric, got dtype {x.dtype}")
        return x.astype(self.dtype, copy=False)

    def forward(self, x, keep=False):
        """Logits of a batch.

        Parameters
        ----------
        x : ndarray, shape (N, C, H, W) = (N, *input_shape)
        keep : bool
            Also return the list of every layer's output (for feature maps).

        Returns
        -------
        logits : ndarray, shape (N, n_classes), the model's dtype
        outputs : list of ndarray, only when ``keep``
        """
        x = self._check_x(x)
        caches, outputs = [], []
        for layer in self.layers:
            x, cache = self.forward_layer(layer, x)
            caches.append(cache)
            if keep:
                # Copies: the ReLU works in place and buffers are reused by the next call.
                outputs.append(x.copy())
        self._caches = caches
        return (x, outputs) if keep else x

    def forward_layer(self, layer, x):
        """One layer's forward pass: ``(output, cache)`` (what :meth:`forward` loops over)."""
        p = self.params
        if layer.kind == "conv" and self.conv == "loop":
            return layers.conv2d_forward_naive(
                x, p[layer.name + ".w"], p[layer.name + ".b"], stride=1, pad=1
            )
        if layer.kind == "conv":
            # conv2d_forward's GEMM path with the ReLU fused in (applied chunk by chunk
            # while in cache) and the output in a buffer the layer reuses every step.
            out = layer.workspace.get("out", (x.shape[0], *layer.out_shape), self.dtype)
            y, cache = conv_fast.conv2d_gemm_forward(
                x,
                p[layer.name + ".w"],
                p[layer.name + ".b"],
                1,
                1,
                layer.workspace,
                out=out,
                relu=True,
            )
            return y, (cache, y)
        if layer.kind == "relu" and self.conv == "fast":
            return x, None  # done inside the convolution above
        if layer.kind == "relu":
            return layers.relu_forward(x)
        if layer.kind == "pool" and self.conv == "fast":
            out, cache = layers.maxpool_forward(x, 2, 2, workspace=layer.workspace)
            return out, (cache, out)  # the output's sign is the ReLU mask (backward_layer)
        if layer.kind == "pool":
            return layers.maxpool_forward(x, 2, 2)
        return layers.linear_forward(x, p["fc.w"], p["fc.b"])

    def backward(self, dout, input_grad=False):
        """Back-propagate ``dout`` = dL/dlogits (N, n_classes) through the last forward.

        Fills :attr:`grads` and returns it; with ``input_grad=True`` returns
        ``(grads, dx)`` where ``dx`` (N, C, H, W) is dL/dx (skipped by default: the first
        convolution's input gradient is work nobody needs when training).
        """
        if not self._caches:
            raise RuntimeError("backward() needs a forward() first")
        # linear_backward checks that dout has the logits' shape.
        d = np.asarray(dout, self.dtype)
        # A new dict (of new arrays) every pass, so grads returned earlier stay valid.
        grads = {}
        for i in range(len(self.layers) - 1, -1, -1):
            d = self.backward_layer(i, d, grads, need_dx=input_grad or i > 0)
        self.grads = {k: grads[k] for k in self.params}  # in the order of params
        # d may live in a layer's reusable buffer: hand out a copy.
        return (self.grads, d.copy()) if input_grad else self.grads

    def backward_layer(self, i, d, grads, need_dx=True):
        """Layer ``i``'s backward pass: returns dL/d(its input), adds its parameters'
        gradients to the dict ``grads`` (what :meth:`backward` loops over). ``need_dx``
        False lets a convolution skip its input gradient (returns None)."""
        layer, cache = self.layers[i], self._caches[i]
        if layer.kind == "linear":
            d, grads["fc.w"], grads["fc.b"] = layers.linear_backward(d, cache)
            return d
        if layer.kind == "pool" and self.conv == "fast" and self._after_relu(i):
            # The ReLU's mask applied here, on the pooled gradient (4 times smaller): a
            # window's gradient reaches its maximum only, and that ReLU output is > 0
            # exactly when the pooled output is, so [p > 0] routed equals [r > 0] (the
            # convolution below skips its mask, see _mask_in_pool).
            pool_cache, out = cache
            return layers.maxpool_backward(d * (out > 0), pool_cache)
        if layer.kind == "pool" and self.conv == "fast":
            return layers.maxpool_backward(d, cache[0])
        if layer.kind == "pool":
            return layers.maxpool_backward(d, cache)
        if layer.kind == "relu":
            # fast: the convolution's backward (or the pool after it) applies the ReLU mask
            return d if self.conv == "fast" else layers.relu_backward(d, cache)
        if self.conv == "loop":
            d, dw, db = layers.conv2d_backward_naive(d, cache)
        else:
            conv_cache, out = cache
            dx = (
                layer.workspace.get("dx", (d.shape[0], *layer.in_shape), self.dtype)
                if need_dx
                else None
            )
            d, dw, db = conv_fast.conv2d_gemm_backward(
                d,
                conv_cache,
                need_dx=need_dx,
                dx=dx,
                relu_out=None if self._mask_in_pool(i) else out,
            )
        grads[layer.name + ".w"], grads[layer.name + ".b"] = dw, db
        return d

    def _after_relu(self, i):
        """Whether layer ``i`` (a pool) takes the output of a ReLU."""
        return i > 0 and self.layers[i - 1].kind == "relu"

    def _mask_in_pool(self, i):
        """Whether convolution ``i``'s ReLU is followed by a pool, which then applies the
        ReLU's mask in its backward pass (fast network)."""
        return i + 2 < len(self.layers) and self.layers[i + 2].kind == "pool"

    def loss(self, x, y):
        """Mean softmax cross-entropy of a batch and the gradients of all parameters.

        With more than one BLAS thread allowed (``threadpoolctl.threadpool_limits``) and a
        batch big enough to pay for it, the fast network splits the batch among that many
        threads, one shard each, and adds the shards' weighted gradients
        (:func:`coursekit.nn.data_parallel.loss`; the same gradient up to float rounding).

        Returns
        -------
        loss : float
        grads : dict[str, ndarray], shaped like :attr:`params`
        """
        if self.conv == "fast":
            x = self._check_x(x)
            threads = data_parallel.threads_for(self, x.shape[0], conv_fast.blas_threads())
            return data_parallel.loss(self, x, y, threads)
        logits = self.forward(x)
        loss, dlogits = layers.softmax_cross_entropy(logits, y)
        return loss, self.backward(dlogits)

    def replicas(self, k):
        """``k`` copies of the network that share its :attr:`params` dict (the same arrays)
        but own their scratch buffers and caches, for passes run at the same time in other
        threads (:mod:`coursekit.nn.data_parallel`). Made on first use and kept."""
        while len(self._replicas) < k:
            rep = copy.copy(self)  # shallow: params is the same dict object
            rep.layers = [
                replace(layer, workspace=Workspace() if layer.workspace is not None else None)
                for layer in self.layers
            ]
            rep._caches, rep._replicas = [], []
            self._replicas.append(rep)
        for rep in self._replicas[:k]:
            rep.params = self.params  # in case the dict itself was replaced since
        return self._replicas[:k]

    def predict(self, x, batch_size=512):
        """Predicted class of each image, ``(N,)`` ints (evaluated in chunks of ``batch_size``)."""
        x = self._check_x(x)
        out = [
            np.argmax(self.forward(x[i : i + batch_size]), axis=1)
            for i in range(0, x.shape[0], batch_size)
        ]
        self._caches = []
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def accuracy(self, x, y, batch_size=512):
        """Fraction of correctly classified images."""
        return float(np.mean(self.predict(x, batch_size) == np.asarray(y)))

    def num_params(self):
        """Number of trainable scalars."""
        return int(sum(v.size for v in self.params.values()))

    def __repr__(self):
        return (
            f"VGG(config={self.config}, input_shape={self.input_shape}, "
            f"n_classes={self.n_classes}, params={self.num_params()}, dtype={self.dtype})"
        )


def vgg(
    config=(16, 16, "M", 32, 32, "M"),
    input_shape=(1, 8, 8),
    n_classes=10,
    seed=0,
    dtype=np.float32,
    conv="fast",
):
    r"""Build a VGG-style network.

    Parameters
    ----------
    config : sequence of int or "M"
        An int ``F`` adds a 3x3 convolution with ``F`` filters (padding 1) and a ReLU;
        ``"M"`` adds a 2x2 max-pool with stride 2. A linear classifier ends the network.
    input_shape : (C, H, W)
    n_classes : int
    seed : int or numpy.random.Generator
        He initialisation :math:`w \sim \mathcal N(0, 2/\text{fan\_in})`, zero biases.
    dtype : float32 (fast) or float64 (gradient checks)
    conv : "fast" or "loop"
        Which convolution the model calls: :func:`~coursekit.nn.layers.conv2d_forward`
        or the loop version :func:`~coursekit.nn.layers.conv2d_forward_naive`.

    Returns
    -------
    VGG
    """
    config = list(config)
    if not config:
        raise ValueError("config must hold at least one layer, e.g. [16, 16, 'M']")
    for item in config:
        if isinstance(item, str):
            if item != "M":
                raise ValueError(f"config entries must be positive ints or 'M', got {item!r}")
        elif not is_int(item) or item < 1:
            raise ValueError(f"config entries must be positive ints or 'M', got {item!r}")
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or any(not is_int(s) or s < 1 for s in input_shape):
        raise ValueError(f"input_shape must be (C, H, W) of positive ints, got {input_shape}")
    if not is_int(n_classes) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return VGG(config, input_shape, n_classes, seed, dtype, conv=conv)
