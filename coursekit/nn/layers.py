"""Layers of the NumPy CNN as forward/backward pairs (the CS231n convention).

Every ``*_forward`` returns ``(out, cache)``; the matching ``*_backward`` takes the
upstream gradient ``dout`` (shaped like ``out``) and that ``cache`` and returns the
gradients with respect to the forward's inputs. Arrays are NCHW: a batch of ``N``
images with ``C`` channels of ``H x W`` pixels; convolution weights are
``(F, C, kh, kw)``. The dtype follows the input ``x`` (float32 in, float32 out);
weights are used in that dtype.

Two convolutions compute the same thing:

- :func:`conv2d_forward_naive` / :func:`conv2d_backward_naive`: the definition,
  written as loops. Read these first.
- :func:`conv2d_forward` / :func:`conv2d_backward`: the same maps as matrix products
  (im2col + GEMM, :mod:`coursekit.nn.conv_fast`); what the model trains with.
"""

from __future__ import annotations

import numpy as np

from coursekit._checks import check_int
from coursekit.nn import conv_fast

__all__ = [
    "conv2d_forward_naive",
    "conv2d_backward_naive",
    "conv2d_forward",
    "conv2d_backward",
    "maxpool_forward",
    "maxpool_backward",
    "relu_forward",
    "relu_backward",
    "linear_forward",
    "linear_backward",
    "softmax_cross_entropy",
]


# --------------------------------------------------------------------------- checks
def _as_float(name, a, ndim=None):
    """``a`` as a floating array (ints become float64); ValueError naming ``name`` otherwise."""
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except Exception as exc:  # ragged lists etc.
            raise TypeError(f"{name} must be an array, got {type(a).__name__}") from exc
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    return a


def _check_conv_args(x, w, b, stride, pad):
    x = _as_float("x", x, 4)
    w = _as_float("w", w, 4).astype(x.dtype, copy=False)
    b = _as_float("b", b, 1).astype(x.dtype, copy=False)
    stride = check_int(stride, "stride", 1)
    pad = check_int(pad, "pad", 0)
    n, c, h, wd = x.shape
    f, cw, kh, kw = w.shape
    if cw != c:
        raise ValueError(
            f"w has {cw} input channels (shape {w.shape}) but x has {c} "
            f"(shape {x.shape}); expected w of shape (F, {c}, kh, kw)"
        )
    if b.shape != (f,):
        raise ValueError(f"b must have shape ({f},) to match w {w.shape}, got {b.shape}")
    if kh > h + 2 * pad or kw > wd + 2 * pad:
        raise ValueError(
            f"kernel {kh}x{kw} (w shape {w.shape}) is larger than the padded "
            f"input {h + 2 * pad}x{wd + 2 * pad} (x shape {x.shape}, pad={pad})"
        )
    if min(x.shape) == 0 or min(w.shape) == 0:
        raise ValueError(f"x {x.shape} and w {w.shape} must have no zero-length axis")
    return x, w, b, stride, pad


def _check_dout(dout, expected_shape, dtype):
    dout = _as_float("dout", dout)
    if dout.shape != tuple(expected_shape):
        raise ValueError(
            f"dout must have the forward output's shape {tuple(expected_shape)}, got {dout.shape}"
        )
    return dout.astype(dtype, copy=False)


# --------------------------------------------------------------------------- convolution
def conv2d_forward_naive(x, w, b, stride=1, pad=0):
    r"""Convolution (cross-correlation) written as loops: the definition.

    .. math::

        y_{n f i j} = b_f + \sum_{c=0}^{C-1} \sum_{u=0}^{k_h-1} \sum_{v=0}^{k_w-1}
        w_{f c u v}\, \tilde x_{n,\, c,\, s i + u,\, s j + v},

    where :math:`\tilde x` is :math:`x` with ``pad`` zeros on each side of H and W and
    :math:`s` is the stride; :math:`H_o = \lfloor (H + 2p - k_h)/s \rfloor + 1`
    (likewise :math:`W_o`).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C, kh, kw)
    b : ndarray, shape (F,)
    stride, pad : int

    Returns
    -------
    out : ndarray, shape (N, F, Ho, Wo)
    cache : tuple ``(x, w, b, stride, pad)`` for :func:`conv2d_backward_naive`.
    """
    x, w, b, stride, pad = _check_conv_args(x, w, b, stride, pad)
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty((N, F, Ho, Wo), x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    r, c = i * stride, j * stride
                    patch = xp[n, :, r : r + kh, c : c + kw]
                    out[n, f, i, j] = np.sum(patch * w[f]) + b[f]
    return out, (x, w, b, stride, pad)


def conv2d_backward_naive(dout, cache):
    r"""Gradients of :func:`conv2d_forward_naive`, as loops.

    Each output pixel :math:`y_{nfij}` used one patch :math:`P` of :math:`\tilde x` and
    the filter :math:`w_f`, so it sends :math:`\delta_{nfij} = \partial \ell/\partial y_{nfij}`
    back to both:

    .. math::

        \frac{\partial \ell}{\partial w_f} \mathrel{+}= \delta_{nfij} P,\qquad
        \frac{\partial \ell}{\partial P} \mathrel{+}= \delta_{nfij} w_f,\qquad
        \frac{\partial \ell}{\partial b_f} = \sum_{n,i,j} \delta_{nfij}.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C, kh, kw)
    db : ndarray, shape (F,)
    """
    x, w, b, stride, pad = cache
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho, Wo = (H + 2 * pad - kh) // stride + 1, (W + 2 * pad - kw) // stride + 1
    dout = _check_dout(dout, (N, F, Ho, Wo), x.dtype)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    rows = slice(i * stride, i * stride + kh)
                    cols = slice(j * stride, j * stride + kw)
                    dw[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    db = dout.sum(axis=(0, 2, 3))
    dx = dxp[:, :, pad : pad + H, pad : pad + W]
    return dx, dw, db


def conv2d_forward(x, w, b, stride=1, pad=0, workspace=None):
    r"""Convolution by im2col + one matrix product (the fast version the model uses).

    Same maths and shapes as :func:`conv2d_forward_naive`, computed image by image as
    :math:`Y_n = W X_n` with :math:`W` the weights reshaped to ``(F, C kh kw)`` and
    :math:`X_n` the ``(C kh kw, Ho Wo)`` patch matrix of image :math:`n` ("im2col"), a
    few images at a time so that the patches stay in cache (see
    :mod:`coursekit.nn.conv_fast`).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C, kh, kw)
    b : ndarray, shape (F,)
    stride, pad : int
    workspace : coursekit.nn.conv_fast.Workspace, optional
        Scratch buffers kept between calls (one per layer). The cache then points into
        them and is valid until the next call with the same workspace.

    Returns
    -------
    out : ndarray, shape (N, F, Ho, Wo), dtype of ``x``
    cache : opaque, for :func:`conv2d_backward`
    """
    x, w, b, stride, pad = _check_conv_args(x, w, b, stride, pad)
    return conv_fast.conv2d_gemm_forward(x, w, b, stride, pad, workspace)


def conv2d_backward(dout, cache, need_dx=True):
    r"""Gradients of :func:`conv2d_forward`.

    With :math:`\Delta_n` the upstream gradient of image :math:`n` as ``(F, Ho Wo)``:
    :math:`\partial \ell/\partial W = \sum_n \Delta_n X_n^\top`,
    :math:`\partial \ell/\partial X_n = W^\top \Delta_n` folded back onto the image
    (for stride 1 computed as a convolution of :math:`\Delta_n` with the flipped
    kernels), :math:`\partial \ell/\partial b = \sum_n \Delta_n \mathbf 1`.

    Parameters
    ----------
    dout : ndarray, shape (N, F, Ho, Wo)
    cache : from :func:`conv2d_forward`
    need_dx : bool
        False skips the input gradient (a network's first layer does not need it).

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), or None when ``need_dx`` is False
    dw : ndarray, shape (F, C, kh, kw)
    db : ndarray, shape (F,)
    """
    x, w, stride, pad = cache[:4]
    ho, wo = conv_fast.conv_output_shape(
        x.shape[2], x.shape[3], w.shape[2], w.shape[3], stride, pad
    )
    dout = _check_dout(dout, (x.shape[0], w.shape[0], ho, wo), x.dtype)
    return conv_fast.conv2d_gemm_backward(dout, cache, need_dx=need_dx)


# --------------------------------------------------------------------------- max-pooling
def _buffer(ws, name, shape, dtype):
    """Scratch array ``name`` of a workspace (reused between calls), or a new one."""
    return np.empty(shape, dtype) if ws is None else ws.get(name, shape, dtype)


def maxpool_forward(x, size=2, stride=2, workspace=None):
    r"""Max-pooling over ``size x size`` windows moved by ``stride``.

    .. math::  y_{ncij} = \max_{0 \le u, v < k} x_{n,\, c,\, s i + u,\, s j + v},
        \qquad H_o = \lfloor (H - k)/s \rfloor + 1.

    Rows/columns that no window reaches (when :math:`(H - k)` is not a multiple of
    :math:`s`) are ignored, as in PyTorch. Ties go to the first maximum in row-major
    order, so the gradient of a window reaches exactly one input.

    The common 2 x 2, stride 2 case on even H and W takes two passes over contiguous
    pairs (horizontal neighbours, then vertical); other shapes loop over the ``k * k``
    window offsets, each a strided slice of the whole batch.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    size, stride : int
    workspace : coursekit.nn.conv_fast.Workspace, optional
        2 x 2 case: the output, the masks and the backward's arrays live in it, reused
        by the next call (a new array of 128 kB or more can cost fresh pages from the
        system: one ``np.maximum`` of the digits' first pool took 54 us into a new
        array, 27 us into a reused one). The output and the cache are valid until the
        next call with the same workspace.

    Returns
    -------
    out : ndarray, shape (N, C, Ho, Wo)
    cache : opaque, for :func:`maxpool_backward`
    """
    x = _as_float("x", x, 4)
    size = check_int(size, "size", 1)
    stride = check_int(stride, "stride", 1)
    n, c, h, w = x.shape
    if size > h or size > w:
        raise ValueError(
            f"pool size {size} is larger than the input's H x W = {h} x {w} (x shape {x.shape})"
        )
    if size == stride == 2 and h % 2 == 0 and w % 2 == 0:
        return _maxpool2x2_forward(x, workspace)
    ho, wo = (h - size) // stride + 1, (w - size) // stride + 1
    hspan, wspan = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    out = x[:, :, 0:hspan:stride, 0:wspan:stride].copy()
    arg = np.zeros(out.shape, np.int8 if size * size < 128 else np.int32)
    for u in range(size):
        for v in range(size):
            if u == v == 0:
                continue
            win = x[:, :, u : u + hspan : stride, v : v + wspan : stride]
            # Strictly greater keeps the FIRST maximum, so ties send the gradient once.
            better = win > out
            np.copyto(out, win, where=better)
            np.copyto(arg, u * size + v, where=better)
    return out, ("general", x.shape, x.dtype, arg, size, stride)


def _maxpool2x2_forward(x, ws):
    n, c, h, w = x.shape
    pairs = np.ascontiguousarray(x).reshape(-1, 2)  # horizontal neighbours
    rows = n * c * (h // 2)
    right_wins = _buffer(ws, "right_wins", (pairs.shape[0],), bool)
    np.greater(pairs[:, 1], pairs[:, 0], out=right_wins)  # ties stay left
    best = _buffer(ws, "best", (rows, 2, w // 2), x.dtype)
    np.maximum(pairs[:, 0], pairs[:, 1], out=best.reshape(-1))
    bottom_wins = _buffer(ws, "bottom_wins", (rows, w // 2), bool)
    np.greater(best[:, 1], best[:, 0], out=bottom_wins)  # ties stay on top
    out = _buffer(ws, "out", (n, c, h // 2, w // 2), x.dtype)
    np.maximum(best[:, 0], best[:, 1], out=out.reshape(rows, w // 2))
    return out, ("2x2", x.shape, x.dtype, right_wins, bottom_wins, ws)


def maxpool_backward(dout, cache):
    r"""Gradient of :func:`maxpool_forward`: each window's gradient goes to its maximum.

    .. math:: \frac{\partial \ell}{\partial x_{n,c,si+u,sj+v}} \mathrel{+}=
        \delta_{ncij}\,[\,(u, v) = \arg\max\,].

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    """
    if cache[0] == "2x2":
        _, x_shape, dtype, right_wins, bottom_wins, ws = cache
        n, c, h, w = x_shape
        dout = _check_dout(dout, (n, c, h // 2, w // 2), dtype)
        d = dout.reshape(n * c * (h // 2), w // 2)
        # Route to the winner of each vertical pair, then of each horizontal pair;
        # d - d * mask is exact (d or 0), no rounding.
        drow = _buffer(ws, "drow", (d.shape[0], 2, d.shape[1]), dtype)
        np.multiply(d, bottom_wins, out=drow[:, 1])
        np.subtract(d, drow[:, 1], out=drow[:, 0])
        dflat = drow.reshape(-1)
        dx = _buffer(ws, "dx", (dflat.size, 2), dtype)
        np.multiply(dflat, right_wins, out=dx[:, 1])
        np.subtract(dflat, dx[:, 1], out=dx[:, 0])
        return dx.reshape(x_shape)
    _, x_shape, dtype, arg, size, stride = cache
    dout = _check_dout(dout, arg.shape, dtype)
    ho, wo = arg.shape[2], arg.shape[3]
    hspan, wspan = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    dx = np.zeros(x_shape, dout.dtype)
    for u in range(size):
        for v in range(size):
            sel = dx[:, :, u : u + hspan : stride, v : v + wspan : stride]
            # Overlapping windows (stride < size) add up; within one offset no overlap.
            sel += np.where(arg == u * size + v, dout, 0)
    return dx


# --------------------------------------------------------------------------- ReLU
def relu_forward(x):
    r"""Rectified linear unit :math:`y = \max(x, 0)`, elementwise; any shape.

    Returns ``(out, cache)`` with ``cache = out`` (positive exactly where ``x > 0``).
    """
    x = _as_float("x", x)
    out = np.maximum(x, 0)
    return out, out


def relu_backward(dout, cache):
    r"""Gradient of ReLU: :math:`\partial f/\partial x = \delta\,[x > 0]`."""
    out = cache
    dout = _check_dout(dout, out.shape, out.dtype)
    return np.where(out > 0, dout, 0).astype(out.dtype, copy=False)


# --------------------------------------------------------------------------- linear
def linear_forward(x, w, b):
    r"""Affine map :math:`y = x W + b` of the flattened inputs.

    Parameters
    ----------
    x : ndarray, shape (N, D) or (N, d_1, ..., d_k) with :math:`\prod d_i = D`
    w : ndarray, shape (D, M)
    b : ndarray, shape (M,)

    Returns
    -------
    out : ndarray, shape (N, M)
    cache : ``(x, w)``
    """
    x = _as_float("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, D) or (N, ...), got {x.shape}")
    w = _as_float("w", w, 2).astype(x.dtype, copy=False)
    b = _as_float("b", b, 1).astype(x.dtype, copy=False)
    x2 = x.reshape(x.shape[0], -1)
    if x2.shape[1] != w.shape[0]:
        raise ValueError(
            f"x flattens to (N, D) = {x2.shape} but w has shape {w.shape}; "
            f"expected w of shape ({x2.shape[1]}, M)"
        )
    if b.shape != (w.shape[1],):
        raise ValueError(f"b must have shape ({w.shape[1]},) to match w {w.shape}, got {b.shape}")
    return x2 @ w + b, (x, w)


def linear_backward(dout, cache):
    r"""Gradients of :func:`linear_forward`.

    .. math:: \frac{\partial f}{\partial x} = \Delta W^\top,\quad
        \frac{\partial f}{\partial W} = x^\top \Delta,\quad
        \frac{\partial f}{\partial b} = \mathbf 1^\top \Delta.

    Returns
    -------
    dx : ndarray, shaped like the forward's ``x``
    dw : ndarray, shape (D, M)
    db : ndarray, shape (M,)
    """
    x, w = cache
    dout = _check_dout(dout, (x.shape[0], w.shape[1]), x.dtype)
    x2 = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    return dx, x2.T @ dout, dout.sum(axis=0)


# --------------------------------------------------------------------------- loss
def softmax_cross_entropy(logits, y):
    r"""Mean softmax cross-entropy and its gradient with respect to the logits.

    .. math::

        f = \frac1N \sum_{n} \Big( \log \sum_k e^{z_{nk}} - z_{n y_n} \Big),\qquad
        \frac{\partial f}{\partial z_{nk}} = \frac1N \big( p_{nk} - [k = y_n] \big),

    with :math:`p = \mathrm{softmax}(z)`. Subtracting each row's maximum first keeps
    :math:`e^{z}` from overflowing (the result is unchanged).

    Parameters
    ----------
    logits : ndarray, shape (N, K)
    y : int ndarray, shape (N,), values in ``0 .. K-1``

    Returns
    -------
    loss : float
    dlogits : ndarray, shape (N, K), dtype of ``logits``
    """
    z = _as_float("logits", logits, 2)
    y = np.asarray(y)
    if y.shape != (z.shape[0],):
        raise ValueError(
            f"y must have shape ({z.shape[0]},) to match logits {z.shape}, got {y.shape}"
        )
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("y must hold integer class labels")
        y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ValueError(
            f"y must hold labels in 0..{z.shape[1] - 1}, got range {y.min()}..{y.max()}"
        )
    n = z.shape[0]
    if n == 0:
        raise ValueError("logits must hold at least one row")
    shifted = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1))
    rows = np.arange(n)
    loss = float(np.mean(lse - shifted[rows, y]))
    p = np.exp(shifted - lse[:, None])
    p[rows, y] -= 1
    p /= n
    return loss, p.astype(z.dtype, copy=False)
