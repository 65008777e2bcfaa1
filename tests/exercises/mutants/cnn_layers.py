"""Realistic wrong answers to cnn_layers (see tests/exercises/mutation.py), and right ones."""

from mutation import Mutant, edit

CF, CB, PF, PB, S = (
    "conv2d_forward",
    "conv2d_backward",
    "maxpool_forward",
    "maxpool_backward",
    "softmax_cross_entropy",
)

CONV_F = """
def conv2d_forward(x, w, b, stride=1, pad=0):
    n_img, _, height, width = x.shape
    n_filt, _, kh, kw = w.shape
    ho = (height + 2 * pad - kh) // stride + 1
    wo = (width + 2 * pad - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n_img, n_filt, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, stride, pad)
"""

CONV_B = """
def conv2d_backward(dout, cache):
    x, w, _, stride, pad = cache
    height, width = x.shape[2], x.shape[3]
    kh, kw = w.shape[2], w.shape[3]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros(xp.shape)
    dw = np.zeros(w.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows = slice(i * stride, i * stride + kh)
            cols = slice(j * stride, j * stride + kw)
            dw += np.tensordot(dout[:, :, i, j], xp[:, :, rows, cols], axes=([0], [0]))
            dxp[:, :, rows, cols] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, pad:pad + height, pad:pad + width], dw, db
"""

POOL_F = """
def maxpool_forward(x, size=2, stride=2):
    ho = (x.shape[2] - size) // stride + 1
    wo = (x.shape[3] - size) // stride + 1
    out = np.zeros(x.shape[:2] + (ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + size,
                                j * stride:j * stride + size].max(axis=(2, 3))
    return out, (x, size, stride)
"""

POOL_B = """
def maxpool_backward(dout, cache):
    x, size, stride = cache
    n_img, n_ch = x.shape[:2]
    dx = np.zeros(x.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows = slice(i * stride, i * stride + size)
            cols = slice(j * stride, j * stride + size)
            flat = x[:, :, rows, cols].reshape(n_img, n_ch, size * size)
            mask = np.zeros(flat.shape)
            np.put_along_axis(mask, flat.argmax(axis=2)[:, :, None], 1.0, axis=2)
            dx[:, :, rows, cols] += (mask * dout[:, :, i, j][:, :, None]).reshape(
                n_img, n_ch, size, size)
    return dx
"""

SCE = """
def softmax_cross_entropy(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(len(y))
    loss = -float(np.mean(log_p[rows, y]))
    dlogits = np.exp(log_p)
    dlogits[rows, y] -= 1.0
    return loss, dlogits / len(y)
"""


MUTANTS = [
    Mutant(
        "conv: square image (wo = ho)",
        CF,
        edit(CONV_F, "wo = (width + 2 * pad - kw) // stride + 1", "wo = ho"),
    ),
    Mutant("conv: no bias", CF, edit(CONV_F, ", 3])) + b", ", 3]))")),
    Mutant(
        "conv: bias broadcast over the last axis",
        CF,
        edit(
            CONV_F,
            ", 3])) + b",
            ", 3]))",
            "    return out, (x",
            "    out = out + b\n    return out, (x",
        ),
    ),
    Mutant(
        "conv: windows ignore the stride",
        CF,
        edit(
            CONV_F,
            "xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]",
            "xp[:, :, i:i + kh, j:j + kw]",
        ),
    ),
    Mutant(
        "conv: pads one side only",
        CF,
        edit(
            CONV_F,
            "((0, 0), (0, 0), (pad, pad), (pad, pad))",
            "((0, 0), (0, 0), (2 * pad, 0), (2 * pad, 0))",
        ),
    ),
    Mutant(
        "conv: output one row and column short",
        CF,
        edit(
            CONV_F,
            "// stride + 1\n    wo",
            "// stride\n    wo",
            "wo = (width + 2 * pad - kw) // stride + 1",
            "wo = (width + 2 * pad - kw) // stride",
        ),
    ),
    Mutant(
        "conv: true convolution (flipped filters)",
        CF,
        edit(CONV_F, "np.tensordot(patch, w,", "np.tensordot(patch, w[:, :, ::-1, ::-1],"),
    ),
    Mutant(
        "conv: square filters (kw = kh)",
        CF,
        edit(CONV_F, "n_filt, _, kh, kw = w.shape", "n_filt, _, kh, _ = w.shape\n    kw = kh"),
    ),
    Mutant(
        "conv backward: padding not cut off",
        CB,
        edit(CONV_B, "dxp[:, :, pad:pad + height, pad:pad + width]", "dxp"),
    ),
    Mutant(
        "conv backward: cuts with pad:-pad",
        CB,
        edit(
            CONV_B, "dxp[:, :, pad:pad + height, pad:pad + width]", "dxp[:, :, pad:-pad, pad:-pad]"
        ),
    ),
    Mutant(
        "conv backward: = instead of +=",
        CB,
        edit(CONV_B, "dxp[:, :, rows, cols] +=", "dxp[:, :, rows, cols] ="),
    ),
    Mutant(
        "conv backward: dw not accumulated",
        CB,
        edit(CONV_B, "dw += np.tensordot", "dw = np.tensordot"),
    ),
    Mutant(
        "conv backward: square output (j over Ho)",
        CB,
        edit(CONV_B, "for j in range(dout.shape[3])", "for j in range(dout.shape[2])"),
    ),
    Mutant(
        "conv backward: ignores the stride",
        CB,
        edit(
            CONV_B,
            "slice(i * stride, i * stride + kh)",
            "slice(i, i + kh)",
            "slice(j * stride, j * stride + kw)",
            "slice(j, j + kw)",
        ),
    ),
    Mutant(
        "conv backward: db is a mean",
        CB,
        edit(CONV_B, "dout.sum(axis=(0, 2, 3))", "dout.mean(axis=(0, 2, 3))"),
    ),
    Mutant(
        "conv backward: first image only in dw",
        CB,
        edit(
            CONV_B,
            "np.tensordot(dout[:, :, i, j], xp[:, :, rows, cols], axes=([0], [0]))",
            "np.tensordot(dout[:1, :, i, j], xp[:1, :, rows, cols], axes=([0], [0]))",
        ),
    ),
    Mutant(
        "pool: square image (wo = ho)",
        PF,
        edit(POOL_F, "wo = (x.shape[3] - size) // stride + 1", "wo = ho"),
    ),
    Mutant(
        "pool: windows move by size, not stride",
        PF,
        edit(
            POOL_F,
            "x[:, :, i * stride:i * stride + size,\n                                "
            "j * stride:j * stride + size]",
            "x[:, :, i * size:i * size + size,\n"
            "                                j * size:j * size + size]",
        ),
    ),
    Mutant(
        "pool: mean instead of max", PF, edit(POOL_F, ".max(axis=(2, 3))", ".mean(axis=(2, 3))")
    ),
    Mutant(
        "pool: output one short",
        PF,
        edit(
            POOL_F,
            "ho = (x.shape[2] - size) // stride + 1",
            "ho = (x.shape[2] - size) // stride",
            "wo = (x.shape[3] - size) // stride + 1",
            "wo = (x.shape[3] - size) // stride",
        ),
    ),
    Mutant(
        "pool: max over channels too",
        PF,
        edit(POOL_F, ".max(axis=(2, 3))", ".max(axis=(1, 2, 3))[:, None]"),
    ),
    Mutant(
        "pool backward: every tied maximum gets the gradient",
        PB,
        edit(
            POOL_B,
            "            mask = np.zeros(flat.shape)\n"
            "            np.put_along_axis(mask, flat.argmax(axis=2)[:, :, None], 1.0, axis=2)\n",
            "            mask = (flat == flat.max(axis=2, keepdims=True)).astype(float)\n",
        ),
    ),
    Mutant(
        "pool backward: = instead of +=",
        PB,
        edit(POOL_B, "dx[:, :, rows, cols] +=", "dx[:, :, rows, cols] ="),
    ),
    Mutant(
        "pool backward: square output (j over Ho)",
        PB,
        edit(POOL_B, "for j in range(dout.shape[3])", "for j in range(dout.shape[2])"),
    ),
    Mutant(
        "pool backward: gradient spread evenly",
        PB,
        edit(
            POOL_B,
            "            mask = np.zeros(flat.shape)\n"
            "            np.put_along_axis(mask, flat.argmax(axis=2)[:, :, None], 1.0, axis=2)\n",
            "            mask = np.full(flat.shape, 1.0 / (size * size))\n",
        ),
    ),
    Mutant(
        "softmax: shifted by the global maximum",
        S,
        edit(SCE, "logits.max(axis=1, keepdims=True)", "logits.max()"),
    ),
    Mutant(
        "softmax: log of the probabilities",
        S,
        edit(
            SCE,
            "log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))",
            "p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)\n    log_p = np.log(p)",
        ),
    ),
    Mutant(
        "softmax: logits shifted in place",
        S,
        edit(
            SCE,
            "    z = logits - logits.max(axis=1, keepdims=True)\n",
            "    logits -= logits.max(axis=1, keepdims=True)\n    z = logits\n",
        ),
    ),
    Mutant("softmax: gradient without 1/N", S, edit(SCE, "dlogits / len(y)", "dlogits")),
    Mutant(
        "softmax: summed loss", S, edit(SCE, "np.mean(log_p[rows, y])", "np.sum(log_p[rows, y])")
    ),
    Mutant(
        "softmax: loss of shape (1,)",
        S,
        edit(
            SCE,
            "loss = -float(np.mean(log_p[rows, y]))",
            "loss = -np.mean(log_p[rows, y], keepdims=True)[0:1]",
        ),
    ),
    Mutant(
        "softmax: one-hot by dlogits[:, y]",
        S,
        edit(SCE, "dlogits[rows, y] -= 1.0", "dlogits[:, y] -= 1.0"),
    ),
    Mutant(
        "softmax: the maximum without keepdims",
        S,
        edit(
            SCE, "logits - logits.max(axis=1, keepdims=True)", "(logits.T - logits.max(axis=1)).T"
        ).replace(
            "z - np.log(np.exp(z).sum(axis=1, keepdims=True))",
            "z - np.log(np.exp(z).sum(axis=0, keepdims=True))",
        ),
    ),
]

CORRECT = [
    Mutant(
        "conv: six plain loops",
        CF,
        """
def conv2d_forward(x, w, b, stride=1, pad=0):
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = (H + 2 * pad - kh) // stride + 1, (W + 2 * pad - kw) // stride + 1
    out = np.empty((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    win = xp[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    out[n, f, i, j] = np.sum(win * w[f]) + b[f]
    return out, (x, w, b, stride, pad)
""",
    ),
    Mutant(
        "conv backward: einsum",
        CB,
        """
def conv2d_backward(dout, cache):
    x, w, _, s, p = cache
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp, dtype=float), np.zeros_like(w, dtype=float)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = xp[:, :, i * s:i * s + kh, j * s:j * s + kw]
            dw += np.einsum("nf,nchw->fchw", dout[:, :, i, j], win)
            dxp[:, :, i * s:i * s + kh, j * s:j * s + kw] += np.einsum(
                "nf,fchw->nchw", dout[:, :, i, j], w)
    return dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))
""",
    ),
    Mutant(
        "pool backward: a comparison mask with the first maximum",
        PB,
        """
def maxpool_backward(dout, cache):
    x, size, stride = cache
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    win = x[n, c, i * stride:i * stride + size, j * stride:j * stride + size]
                    u, v = np.unravel_index(np.argmax(win), win.shape)
                    dx[n, c, i * stride + u, j * stride + v] += dout[n, c, i, j]
    return dx
""",
    ),
    Mutant(
        "softmax: logsumexp written out, a one-hot matrix",
        S,
        """
def softmax_cross_entropy(logits, y):
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    N = logits.shape[0]
    loss = np.mean(lse - logits[np.arange(N), y])
    onehot = np.zeros_like(logits, dtype=float)
    onehot[np.arange(N), y] = 1.0
    return loss, (np.exp(logits - lse[:, None]) - onehot) / N
""",
    ),
]
