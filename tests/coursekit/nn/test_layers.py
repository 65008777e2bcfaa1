"""Layers of coursekit.nn: forwards against loops written here, backwards against central
differences (float64, relative error < 1e-7), fast convolution against the loop one,
dtypes, tie handling of max-pooling, numerical stability of the loss, bad shapes."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from coursekit.gradcheck import numerical_grad, numerical_grad_array, rel_error
from coursekit.nn import conv_fast, layers

TOL = 1e-7

# (N, C, H, W), (F, kh, kw), stride, pad: stride 2, pad 0/1/2, non-square images and
# kernels, batch 1, windows that do not tile the image.
CONV_CASES = [
    ((2, 3, 5, 5), (4, 3, 3), 1, 1),
    ((1, 2, 6, 4), (3, 3, 3), 1, 0),
    ((2, 2, 7, 5), (3, 3, 3), 2, 1),
    ((1, 3, 6, 7), (2, 2, 3), 2, 0),
    ((3, 1, 5, 6), (2, 3, 2), 1, 2),
    ((2, 2, 8, 6), (2, 3, 3), 3, 1),
]


def loop_conv(x, w, b, stride, pad):
    """Direct definition: y[n,f,i,j] = b[f] + sum_{c,u,v} w[f,c,u,v] xpad[n,c,s i+u,s j+v]."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad))
    xp[:, :, pad : pad + h, pad : pad + wd] = x
    ho = (h + 2 * pad - kh) // stride + 1
    wo = (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, f, ho, wo))
    for ni, fi, i, j in itertools.product(range(n), range(f), range(ho), range(wo)):
        acc = b[fi]
        for ci, u, v in itertools.product(range(c), range(kh), range(kw)):
            acc += w[fi, ci, u, v] * xp[ni, ci, stride * i + u, stride * j + v]
        y[ni, fi, i, j] = acc
    return y


def loop_pool(x, size, stride):
    n, c, h, w = x.shape
    ho, wo = (h - size) // stride + 1, (w - size) // stride + 1
    y = np.empty((n, c, ho, wo), x.dtype)
    for ni, ci, i, j in itertools.product(range(n), range(c), range(ho), range(wo)):
        y[ni, ci, i, j] = max(
            x[ni, ci, stride * i + u, stride * j + v] for u in range(size) for v in range(size)
        )
    return y


def conv_data(xs, fk, seed=0):
    rng = np.random.default_rng(seed)
    f, kh, kw = fk
    x = rng.standard_normal(xs)
    w = rng.standard_normal((f, xs[1], kh, kw))
    b = rng.standard_normal(f)
    return x, w, b


# --------------------------------------------------------------------------- convolution
@pytest.mark.parametrize("impl", ["fast", "naive"])
@pytest.mark.parametrize("xs, fk, stride, pad", CONV_CASES)
def test_conv_forward_matches_loops(impl, xs, fk, stride, pad):
    x, w, b = conv_data(xs, fk)
    fwd = layers.conv2d_forward if impl == "fast" else layers.conv2d_forward_naive
    out, _ = fwd(x, w, b, stride=stride, pad=pad)
    expected = loop_conv(x, w, b, stride, pad)
    assert out.shape == expected.shape
    assert np.allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", ["fast", "naive"])
@pytest.mark.parametrize("xs, fk, stride, pad", CONV_CASES)
def test_conv_backward_matches_numerical(impl, xs, fk, stride, pad):
    x, w, b = conv_data(xs, fk, seed=1)
    fwd, bwd = (
        (layers.conv2d_forward, layers.conv2d_backward)
        if impl == "fast"
        else (layers.conv2d_forward_naive, layers.conv2d_backward_naive)
    )
    out, cache = fwd(x, w, b, stride, pad)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    dx, dw, db = bwd(dout, cache)
    num_dx = numerical_grad_array(lambda v: fwd(v, w, b, stride, pad)[0], x.copy(), dout)
    num_dw = numerical_grad_array(lambda v: fwd(x, v, b, stride, pad)[0], w.copy(), dout)
    num_db = numerical_grad_array(lambda v: fwd(x, w, v, stride, pad)[0], b.copy(), dout)
    assert rel_error(dx, num_dx) < TOL
    assert rel_error(dw, num_dw) < TOL
    assert rel_error(db, num_db) < TOL


@pytest.mark.parametrize("chunk_bytes", [1, 5000, 10**9])
@pytest.mark.parametrize("xs, fk, stride, pad", CONV_CASES + [((7, 4, 9, 9), (5, 3, 3), 1, 1)])
def test_fast_conv_equals_loop_conv_for_any_chunking(monkeypatch, chunk_bytes, xs, fk, stride, pad):
    # chunk_bytes=1: one image per chunk; 5000: several chunks and a shorter last one.
    monkeypatch.setattr(conv_fast, "CHUNK_BYTES", chunk_bytes)
    x, w, b = conv_data(xs, fk, seed=3)
    ws = conv_fast.Workspace()
    out_f, cache_f = layers.conv2d_forward(x, w, b, stride, pad, workspace=ws)
    out_n, cache_n = layers.conv2d_forward_naive(x, w, b, stride, pad)
    dout = np.random.default_rng(4).standard_normal(out_n.shape)
    grads_f = layers.conv2d_backward(dout, cache_f)
    grads_n = layers.conv2d_backward_naive(dout, cache_n)
    assert np.allclose(out_f, out_n, rtol=1e-12, atol=1e-12)
    for g_f, g_n in zip(grads_f, grads_n, strict=True):
        assert g_f.shape == g_n.shape
        assert np.allclose(g_f, g_n, rtol=1e-12, atol=1e-12)


def test_workspace_reuse_gives_the_same_result_as_fresh_buffers():
    x, w, b = conv_data((5, 3, 8, 6), (4, 3, 3))
    x2 = np.random.default_rng(9).standard_normal(x.shape)
    ws = conv_fast.Workspace()
    layers.conv2d_forward(x2, w, b, 1, 1, workspace=ws)  # leave other data in the buffers
    out_ws, cache = layers.conv2d_forward(x, w, b, 1, 1, workspace=ws)
    out, cache_fresh = layers.conv2d_forward(x, w, b, 1, 1)
    dout = np.ones_like(out)
    assert np.array_equal(out_ws, out)
    for a, c in zip(
        layers.conv2d_backward(dout, cache), layers.conv2d_backward(dout, cache_fresh), strict=True
    ):
        assert np.array_equal(a, c)
    assert ws.nbytes > 0


def test_conv_need_dx_false_skips_only_dx():
    x, w, b = conv_data((2, 3, 6, 6), (4, 3, 3))
    out, cache = layers.conv2d_forward(x, w, b, 1, 1)
    dout = np.random.default_rng(0).standard_normal(out.shape)
    dx, dw, db = layers.conv2d_backward(dout, cache, need_dx=False)
    _, dw2, db2 = layers.conv2d_backward(dout, cache)
    assert dx is None and np.array_equal(dw, dw2) and np.array_equal(db, db2)


def test_fused_relu_equals_conv_then_relu():
    x, w, b = conv_data((3, 2, 7, 5), (4, 3, 3), seed=5)
    out, cache = conv_fast.conv2d_gemm_forward(x, w, b, 1, 1, relu=True)
    plain, cache_p = layers.conv2d_forward(x, w, b, 1, 1)
    relu, cache_r = layers.relu_forward(plain)
    assert np.array_equal(out, relu)
    dout = np.random.default_rng(6).standard_normal(out.shape)
    fused = conv_fast.conv2d_gemm_backward(dout, cache, relu_out=out)
    chained = layers.conv2d_backward(layers.relu_backward(dout, cache_r), cache_p)
    for a, c in zip(fused, chained, strict=True):
        assert np.allclose(a, c, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    h=st.integers(3, 9),
    w=st.integers(3, 9),
    f=st.integers(1, 3),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_fast_conv_equals_loop_conv_property(n, c, h, w, f, k, stride, pad, seed):
    x, wt, b = conv_data((n, c, h, w), (f, k, k), seed=seed)
    out_f, cache_f = layers.conv2d_forward(x, wt, b, stride, pad)
    out_n, cache_n = layers.conv2d_forward_naive(x, wt, b, stride, pad)
    assert np.allclose(out_f, out_n, rtol=1e-11, atol=1e-11)
    dout = np.random.default_rng(seed + 1).standard_normal(out_n.shape)
    for g_f, g_n in zip(
        layers.conv2d_backward(dout, cache_f),
        layers.conv2d_backward_naive(dout, cache_n),
        strict=True,
    ):
        assert np.allclose(g_f, g_n, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("impl", ["fast", "naive"])
def test_conv_float32_in_float32_out(impl):
    x, w, b = conv_data((2, 3, 6, 5), (4, 3, 3))
    fwd, bwd = (
        (layers.conv2d_forward, layers.conv2d_backward)
        if impl == "fast"
        else (layers.conv2d_forward_naive, layers.conv2d_backward_naive)
    )
    x32, w32, b32 = x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)
    out, cache = fwd(x32, w32, b32, 1, 1)
    assert out.dtype == np.float32
    ref, _ = fwd(x, w, b, 1, 1)
    assert np.allclose(out, ref, rtol=1e-4, atol=1e-4)
    grads = bwd(np.ones_like(out), cache)
    assert all(g.dtype == np.float32 for g in grads)
    # Weights given in float64 follow the input's dtype.
    out2, _ = fwd(x32, w, b, 1, 1)
    assert out2.dtype == np.float32


def test_conv_bad_shapes_name_them():
    x, w, b = conv_data((2, 3, 5, 5), (4, 3, 3))
    for fwd in (layers.conv2d_forward, layers.conv2d_forward_naive):
        with pytest.raises(ValueError, match=r"w has 2 input channels.*\(2, 3, 5, 5\)"):
            fwd(x, w[:, :2], b)
        with pytest.raises(ValueError, match=r"b must have shape \(4,\)"):
            fwd(x, w, b[:3])
        with pytest.raises(ValueError, match=r"x must have 4 dimensions.*\(3, 5, 5\)"):
            fwd(x[0], w, b)
        with pytest.raises(ValueError, match=r"kernel 3x3.*larger than the padded input 2x2"):
            fwd(x[:, :, :2, :2], w, b)
        with pytest.raises(ValueError, match="stride must be >= 1"):
            fwd(x, w, b, stride=0)
        with pytest.raises(ValueError, match="pad must be >= 0"):
            fwd(x, w, b, pad=-1)
        with pytest.raises(TypeError, match="stride must be an int"):
            fwd(x, w, b, stride=1.5)
    out, cache = layers.conv2d_forward(x, w, b, 1, 1)
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape"):
        layers.conv2d_backward(out[:, :2], cache)
    with pytest.raises(TypeError, match="x must be a numeric array"):
        layers.conv2d_forward(np.array([["a"]]), w, b)


# --------------------------------------------------------------------------- max-pooling
POOL_CASES = [
    ((2, 3, 8, 6), 2, 2),
    ((1, 2, 7, 5), 2, 2),
    ((2, 2, 7, 7), 3, 2),
    ((1, 2, 5, 6), 2, 1),
    ((2, 1, 9, 8), 3, 3),
]


@pytest.mark.parametrize("xs, size, stride", POOL_CASES)
def test_maxpool_forward_and_backward(xs, size, stride):
    x = np.random.default_rng(0).standard_normal(xs)
    out, cache = layers.maxpool_forward(x, size, stride)
    assert np.array_equal(out, loop_pool(x, size, stride))
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dx = layers.maxpool_backward(dout, cache)
    num = numerical_grad_array(lambda v: layers.maxpool_forward(v, size, stride)[0], x.copy(), dout)
    assert rel_error(dx, num) < TOL


@pytest.mark.parametrize("xs, size, stride", POOL_CASES)
def test_maxpool_ties_send_the_gradient_to_the_first_maximum_once(xs, size, stride):
    # Integer values (and ReLU zeros) make ties common; the gradient of each window must
    # reach exactly one input, the first maximum in row-major order.
    x = np.random.default_rng(2).integers(0, 2, xs).astype(np.float64)
    out, cache = layers.maxpool_forward(x, size, stride)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    dx = layers.maxpool_backward(dout, cache)
    expected = np.zeros_like(x)
    n, c, ho, wo = out.shape
    for ni, ci, i, j in itertools.product(range(n), range(c), range(ho), range(wo)):
        win = x[ni, ci, stride * i : stride * i + size, stride * j : stride * j + size]
        u, v = np.unravel_index(np.argmax(win), win.shape)  # argmax: first maximum
        expected[ni, ci, stride * i + u, stride * j + v] += dout[ni, ci, i, j]
    assert np.allclose(dx, expected, rtol=0, atol=1e-15)


def test_maxpool_workspace_reuse_gives_the_same_result_as_fresh_buffers():
    # A workspace keeps the 2 x 2 pool's output, masks and gradient buffers between calls:
    # a call after one on other data must give what fresh arrays give.
    rng = np.random.default_rng(6)
    x, other = rng.standard_normal((2, 3, 3, 6, 8)).astype(np.float32)
    ws = conv_fast.Workspace()
    dout = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    layers.maxpool_backward(-dout, layers.maxpool_forward(other, workspace=ws)[1])
    out_ws, cache_ws = layers.maxpool_forward(x, workspace=ws)
    out, cache = layers.maxpool_forward(x)
    assert np.array_equal(out_ws, out) and np.array_equal(out, loop_pool(x, 2, 2))
    assert np.array_equal(
        layers.maxpool_backward(dout, cache_ws), layers.maxpool_backward(dout, cache)
    )
    assert ws.nbytes > 0  # the buffers were the workspace's


def test_maxpool_float32_and_bad_shapes():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 6)).astype(np.float32)
    out, cache = layers.maxpool_forward(x)
    assert (
        out.dtype == np.float32
        and layers.maxpool_backward(np.ones_like(out), cache).dtype == np.float32
    )
    with pytest.raises(ValueError, match=r"pool size 5 is larger.*4 x 6"):
        layers.maxpool_forward(x, size=5)
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape"):
        layers.maxpool_backward(np.ones((2, 3, 2, 2)), cache)
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        layers.maxpool_forward(x[0])


# --------------------------------------------------------------------------- ReLU
def test_relu_forward_backward():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink for the numerical check
    out, cache = layers.relu_forward(x)
    assert np.array_equal(out, np.where(x > 0, x, 0.0))
    dout = rng.standard_normal(x.shape)
    num = numerical_grad_array(lambda v: layers.relu_forward(v)[0], x.copy(), dout)
    assert rel_error(layers.relu_backward(dout, cache), num) < TOL
    out32, c32 = layers.relu_forward(x.astype(np.float32))
    assert out32.dtype == np.float32
    assert layers.relu_backward(dout, c32).dtype == np.float32
    with pytest.raises(ValueError, match="dout must have"):
        layers.relu_backward(dout[0], cache)


# --------------------------------------------------------------------------- linear
@pytest.mark.parametrize("xs", [(4, 6), (3, 2, 3, 2), (1, 5)])
def test_linear_forward_backward(xs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs)
    d = int(np.prod(xs[1:]))
    w = rng.standard_normal((d, 3))
    b = rng.standard_normal(3)
    out, cache = layers.linear_forward(x, w, b)
    expected = np.array(
        [
            [sum(x[n].ravel()[i] * w[i, m] for i in range(d)) + b[m] for m in range(3)]
            for n in range(xs[0])
        ]
    )
    assert np.allclose(out, expected, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layers.linear_backward(dout, cache)
    assert dx.shape == x.shape
    f = layers.linear_forward
    assert rel_error(dx, numerical_grad_array(lambda v: f(v, w, b)[0], x.copy(), dout)) < TOL
    assert rel_error(dw, numerical_grad_array(lambda v: f(x, v, b)[0], w.copy(), dout)) < TOL
    assert rel_error(db, numerical_grad_array(lambda v: f(x, w, v)[0], b.copy(), dout)) < TOL


def test_linear_dtype_and_bad_shapes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    out, _ = layers.linear_forward(x, rng.standard_normal((6, 2)), np.zeros(2))
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match=r"x flattens to \(N, D\) = \(4, 6\).*\(5, 2\)"):
        layers.linear_forward(x, np.zeros((5, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        layers.linear_forward(x, np.zeros((6, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="x must have shape"):
        layers.linear_forward(np.zeros(6), np.zeros((6, 2)), np.zeros(2))


# --------------------------------------------------------------------------- loss
def test_softmax_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 4))
    y = rng.integers(0, 4, 5)
    loss, dz = layers.softmax_cross_entropy(z, y)
    expected = np.mean(logsumexp(z, axis=1) - z[np.arange(5), y])
    assert loss == pytest.approx(expected, rel=1e-13)
    num = numerical_grad(lambda v: layers.softmax_cross_entropy(v, y)[0], z.copy())
    assert rel_error(dz, num) < TOL
    # Equal logits: every class has probability 1/K, so the loss is log K.
    assert layers.softmax_cross_entropy(np.zeros((3, 7)), [0, 1, 2])[0] == pytest.approx(np.log(7))


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0], [5000.0, 5000.0, 0.0]])
    loss, dz = layers.softmax_cross_entropy(z, [0, 1])
    assert np.isfinite(loss) and np.all(np.isfinite(dz))
    # Shifting all logits of a row does not change the loss.
    loss2, dz2 = layers.softmax_cross_entropy(z - z.max(axis=1, keepdims=True), [0, 1])
    assert loss == pytest.approx(loss2) and np.allclose(dz, dz2)
    assert loss == pytest.approx(np.log(2) / 2)
    l32, d32 = layers.softmax_cross_entropy(z.astype(np.float32), [0, 1])
    assert d32.dtype == np.float32 and np.isfinite(l32)


def test_softmax_cross_entropy_bad_labels():
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        layers.softmax_cross_entropy(z, [0, 1])
    with pytest.raises(ValueError, match=r"labels in 0..3"):
        layers.softmax_cross_entropy(z, [0, 1, 4])
    with pytest.raises(ValueError, match="integer class labels"):
        layers.softmax_cross_entropy(z, [0.5, 1, 2])
    with pytest.raises(ValueError, match="logits must have 2 dimensions"):
        layers.softmax_cross_entropy(np.zeros(4), [0])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_chunks_give_the_same_gradients_and_blas_is_restored(monkeypatch, threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(conv_fast, "CHUNK_BYTES", 2000)  # many chunks, a short last one
    x, w, b = conv_data((7, 3, 6, 5), (4, 3, 3), seed=8)
    ws = conv_fast.Workspace()
    out_n, cache_n = layers.conv2d_forward_naive(x, w, b, 1, 1)
    dout = np.random.default_rng(9).standard_normal(out_n.shape)
    with threadpoolctl.threadpool_limits(threads):
        assert conv_fast.blas_threads() == threads
        out, cache = layers.conv2d_forward(x, w, b, 1, 1, workspace=ws)
        grads = layers.conv2d_backward(dout, cache)
        # BLAS runs on one thread inside the passes, and is back to the caller's setting.
        assert conv_fast.blas_threads() == threads
    assert np.allclose(out, out_n, rtol=1e-12, atol=1e-12)
    for g, g_n in zip(grads, layers.conv2d_backward_naive(dout, cache_n), strict=True):
        assert np.allclose(g, g_n, rtol=1e-12, atol=1e-12)


def test_one_blas_thread_inside_and_restored_after():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(2):
        with conv_fast.one_blas_thread():
            assert conv_fast.blas_threads() == 1
        assert conv_fast.blas_threads() == 2


@settings(max_examples=30)
@given(n=st.integers(1, 200), k=st.integers(1, 300), hw=st.integers(1, 1000))
def test_chunk_size_fits_the_cache(n, k, hw):
    nb = conv_fast.chunk_size(n, k, hw, 4)
    assert 1 <= nb <= n
    assert nb == 1 or nb * k * hw * 4 <= conv_fast.CHUNK_BYTES  # else a chunk is one image
    fit = max(1, conv_fast.CHUNK_BYTES // (k * hw * 4))  # the most images that fit
    chunks = math.ceil(n / nb)
    assert chunks == math.ceil(n / min(n, fit))  # as few chunks as fit
    assert nb == 1 or math.ceil(n / (nb - 1)) > chunks  # the smallest size giving them


@pytest.mark.parametrize("h, w, kh, kw, pad", [(5, 7, 3, 3, 1), (6, 4, 2, 3, 0), (4, 5, 3, 2, 2)])
def test_row_patches_hold_every_patch_row_of_im2col(h, w, kh, kw, pad):
    # Kernel row u of the full patch matrix is a slice of the kw shifted copies, and the
    # sum of the row products is the im2col product W X_n.
    x, wt, _ = conv_data((2, 3, h, w), (4, kh, kw), seed=11)
    ho, wo = conv_fast.conv_output_shape(h, w, kh, kw, 1, pad)
    wp = conv_fast.row_length(w, kw, pad)
    assert wp >= wo  # the grid holds every output column
    xp = conv_fast.pad_flat(x, kw, pad, np.zeros(conv_fast.flat_shape(x.shape, kw, pad)))
    rows = conv_fast.row_patches(xp, kw, wp)
    cols = conv_fast.im2col(x, kh, kw, 1, pad)  # (N, C, kh, kw, Ho, Wo)
    for u in range(kh):
        sl = conv_fast.row_slice(rows, u, wp, ho * wp).reshape(2, 3, kw, ho, wp)
        assert np.array_equal(sl[..., :wo], cols[:, :, u])
    y = np.empty((2, 4, ho * wp))
    conv_fast.rows_product(conv_fast.kernel_rows(wt), rows, wp, ho * wp, y, np.empty_like(y))
    y_im2col = wt.reshape(4, -1) @ cols.reshape(2, -1, ho * wo)
    assert np.allclose(
        y.reshape(2, 4, ho, wp)[..., :wo].reshape(2, 4, -1), y_im2col, rtol=1e-12, atol=1e-12
    )
