"""The cnn_layers source notebook: wrong answers fail clearly (shared checks: test_assignments)."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from notebook_cells import (
    assert_fails_only_hidden,
    assert_fails_visibly,
    loaded,
    run,
)


@pytest.fixture(scope="module")
def nb():
    return loaded("cnn_layers")


CONV = """def conv2d_forward(x, w, b, stride=1, pad=0):
    kh, kw = w.shape[2], w.shape[3]
    ho = (x.shape[2] + 2 * pad - kh) // {s} + 1
    wo = (x.shape[3] + 2 * pad - kw) // {s} + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * {s}:i * {s} + kh, j * {s}:j * {s} + kw]
            out[:, :, i, j] = np.tensordot(patch, {w}, axes=([1, 2, 3], [1, 2, 3])){b}
    return out, (x, w, b, stride, pad)
"""
NO_BIAS = CONV.format(s="stride", w="w", b="")
NO_STRIDE = CONV.format(s="1", w="w", b=" + b")
FLIPPED = CONV.format(s="stride", w="w[:, :, ::-1, ::-1]", b=" + b")
BACK = """def conv2d_backward(dout, cache):
    x, w, _, stride, pad = cache
    kh, kw = w.shape[2], w.shape[3]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros(xp.shape)
    dw = np.zeros(w.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows = slice(i * stride, i * stride + kh)
            cols = slice(j * stride, j * stride + kw)
            dw += np.tensordot(dout[:, :, i, j], xp[:, :, rows, cols], axes=([0], [0]))
            dxp[:, :, rows, cols] {op} np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    return dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]], dw, {db}
"""
OVERWRITE = BACK.format(op="=", db="dout.sum(axis=(0, 2, 3))")
DB_PER_IMAGE = BACK.format(op="+=", db="dout.sum(axis=(2, 3))")
POOL = """def maxpool_forward(x, size=2, stride=2):
    ho = (x.shape[2] - size) // stride + 1
    wo = (x.shape[3] - size) // stride + 1
    out = np.zeros(x.shape[:2] + (ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + size,
                                j * stride:j * stride + size].{reduce}(axis=(2, 3))
    return out, (x, size, stride)
"""
MEAN_POOL = POOL.format(reduce="mean")
POOL_BACK = """def maxpool_backward(dout, cache):
    x, size, stride = cache
    dx = np.zeros(x.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows = slice(i * stride, i * stride + size)
            cols = slice(j * stride, j * stride + size)
            win = x[:, :, rows, cols]
            mask = win == win.max(axis=(2, 3), keepdims=True)
            dx[:, :, rows, cols] {op} mask * dout[:, :, i, j][:, :, None, None]
    return dx
"""
ALL_TIES = POOL_BACK.format(op="+=")
NO_ACCUMULATE = POOL_BACK.format(op="=")
SCE = """def softmax_cross_entropy(logits, y):
    z = logits{shift}
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    loss = -float(np.mean(np.log(p[rows, y])))
    p[rows, y] -= 1.0
    return loss, p{scale}
"""
UNSTABLE = SCE.format(shift="", scale=" / len(y)")
NOT_MEAN = SCE.format(shift=" - logits.max(axis=1, keepdims=True)", scale="")


@pytest.mark.parametrize(
    "cell_id, code, failing, message",
    [
        ("conv2d_forward", NO_BIAS, "test_conv2d_forward", "is wrong"),
        ("conv2d_forward", NO_STRIDE, "test_conv2d_forward", "stride=2"),
        ("conv2d_backward", OVERWRITE, "test_conv2d_backward", "dx of a 2 x 3 image"),
        ("conv2d_backward", DB_PER_IMAGE, "test_conv2d_backward", "db (the sum of dout"),
        ("maxpool_forward", MEAN_POOL, "test_maxpool_forward", "is wrong"),
        ("maxpool_backward", ALL_TIES, "test_maxpool_backward", "equal values"),
        ("maxpool_backward", NO_ACCUMULATE, "test_maxpool_backward", "overlapping windows"),
        ("softmax_cross_entropy", UNSTABLE, "test_softmax_cross_entropy", "row maximum"),
        ("softmax_cross_entropy", NOT_MEAN, "test_softmax_cross_entropy", "(p - onehot) / N"),
    ],
)
def test_wrong_answers_fail_visibly_with_actionable_messages(nb, cell_id, code, failing, message):
    # exp(1000) overflows: the unstable mutant warns, and must fail with a hint.
    with pytest.warns(RuntimeWarning) if code is UNSTABLE else nullcontext():
        assert_fails_visibly(nb, cell_id, code, failing, message)


def test_hidden_tests_catch_a_flipped_kernel(nb):
    # A true convolution (flipped kernel) passes the visible tests, whose kernels are symmetric.
    assert_fails_only_hidden(nb, "conv2d_forward", FLIPPED, "test_conv2d_forward")


# Correct answers written differently from the instructor's (the textbook's four nested loops,
# argmax per window) must pass the hidden tests too, and in well under a second each.
OTHER_CORRECT = {
    "conv2d_forward": """def conv2d_forward(x, w, b, stride=1, pad=0):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho = 1 + (H + 2 * pad - HH) // stride
    Wo = 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    win = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(win * w[f]) + b[f]
    return out, (x, w, b, stride, pad)
""",
    "conv2d_backward": """def conv2d_backward(dout, cache):
    x, w, b, stride, pad = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw, db = np.zeros_like(xp), np.zeros_like(w), np.zeros_like(b)
    for n in range(N):
        for f in range(F):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    dw[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * w[f]
                    db[f] += dout[n, f, i, j]
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, db
""",
    "maxpool_backward": """def maxpool_backward(dout, cache):
    x, size, stride = cache
    dx = np.zeros_like(x)
    N, C, Ho, Wo = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    win = x[n, c, i * stride:i * stride + size, j * stride:j * stride + size]
                    u, v = np.unravel_index(np.argmax(win), win.shape)
                    dx[n, c, i * stride + u, j * stride + v] += dout[n, c, i, j]
    return dx
""",
    "softmax_cross_entropy": """def softmax_cross_entropy(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    N = logits.shape[0]
    d = np.exp(logp)
    d[np.arange(N), y] -= 1
    return -logp[np.arange(N), y].sum() / N, d / N
""",
}


def test_other_correct_answers_pass(nb):
    assert run(nb, OTHER_CORRECT) == []
