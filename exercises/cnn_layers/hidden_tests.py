"""Hidden tests of cnn_layers, judged in the grader's process (see autograder.hidden).

Never released: the student's kernel only receives each call's inputs, after all of the
notebook has run, and never the expected values, which come from coursekit here. A student's
cache never leaves the kernel: each backward call is composed with the student's own forward.
Numerical gradients are computed here, from coursekit's reference forward passes.
"""

import numpy as np

from autograder.hidden import Call, Case, HiddenTests, check_array, check_number
from coursekit.gradcheck import numerical_grad, numerical_grad_array
from coursekit.nn.layers import conv2d_backward as ref_conv_backward
from coursekit.nn.layers import conv2d_forward as ref_conv_forward
from coursekit.nn.layers import maxpool_backward as ref_pool_backward
from coursekit.nn.layers import maxpool_forward as ref_pool_forward
from coursekit.nn.layers import softmax_cross_entropy as ref_sce

TESTS = HiddenTests()


def _conv_shapes(rng, max_hw):
    n, c, f = (int(v) for v in rng.integers(1, 4, size=3))
    h, w = (int(v) for v in rng.integers(3, max_hw, size=2))
    pad = int(rng.integers(0, 3))
    kh = int(rng.integers(1, min(h + 2 * pad, 4) + 1))
    kw = int(rng.integers(1, min(w + 2 * pad, 4) + 1))
    stride = int(rng.integers(1, 3))
    return n, c, f, h, w, pad, kh, kw, stride


def _composed(forward, backward, square):
    """A backward call composed with the student's own forward, which supplies the cache.

    On a case where the student's forward raises (it is charged in its own part), the backward
    cannot be run: the case is skipped, so one mistake costs one part. The ``square`` case (a
    small square image with square windows, one filter, no stride) is never skipped: a forward
    that fails even there leaves nothing to pass the backward.
    """
    setup = ("try:\n"
             f"    _cache = {forward}[1]\n"
             "    _forward_error = None\n"
             "except Exception as _e:\n"
             "    _forward_error = f'{type(_e).__name__}: {_e}'\n")
    expr = (f"{backward} if _forward_error is None or {bool(square)} else "
            "('forward raised', _forward_error)")
    return setup, expr


def _forward_raised(got) -> bool:
    value = got.value
    return isinstance(value, tuple) and len(value) == 2 and value[0] == "forward raised"


def _tuple_of(what, value, names):
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        raise AssertionError(f"{what} must return a tuple ({', '.join(names)})")
    return value


@TESTS.cell("test_conv2d_forward", seed=30401)
def conv2d_forward_cases(rng):
    for trial in range(8):
        n, c, f, h, w, pad, kh, kw, stride = _conv_shapes(rng, 8)
        x = rng.standard_normal((n, c, h, w))
        wt = rng.standard_normal((f, c, kh, kw))
        b = rng.standard_normal(f)
        expected = ref_conv_forward(x, wt, b, stride=stride, pad=pad)[0]
        what = (f"conv2d_forward (random test {trial}: x {x.shape}, w {wt.shape}, "
                f"stride={stride}, pad={pad})")
        yield Case(what, Call("conv2d_forward(x, w, b, stride=stride, pad=pad)[0]", x=x, w=wt,
                              b=b, stride=stride, pad=pad),
                   lambda got, what=what, expected=expected:
                   check_array(what, got.value, expected))


@TESTS.cell("test_conv2d_backward", seed=30402)
def conv2d_backward_cases(rng):
    """dx, dw, db against coursekit; dx against the numerical gradient of the reference."""
    for trial in range(7):
        n, c, f, h, w, pad, kh, kw, stride = _conv_shapes(rng, 7)
        if trial == 6:  # one small square case that any forward pass runs (never skipped)
            f, h, w, pad, kh, kw, stride = 1, 4, 4, 1, 2, 2, 1
        x = rng.standard_normal((n, c, h, w))
        wt = rng.standard_normal((f, c, kh, kw))
        b = rng.standard_normal(f)
        out, cache = ref_conv_forward(x, wt, b, stride=stride, pad=pad)
        dout = rng.standard_normal(out.shape)
        expected = ref_conv_backward(dout, cache)
        where = f"(random test {trial}: x {x.shape}, w {wt.shape}, stride={stride}, pad={pad})"
        numeric = None
        if trial < 2:
            # The law, independently of the reference: dx is the derivative of the forward.
            numeric = numerical_grad_array(
                lambda z, wt=wt, b=b, stride=stride, pad=pad:
                ref_conv_forward(z, wt, b, stride, pad)[0], x.copy(), dout)

        def check(got, where=where, expected=expected, numeric=numeric):
            if _forward_raised(got):
                return
            grads = _tuple_of(f"conv2d_backward {where}", got.value, ("dx", "dw", "db"))
            for name, g, e in zip(("dx", "dw", "db"), grads, expected, strict=True):
                check_array(f"conv2d_backward's {name} {where}", g, e, rtol=1e-6, atol=1e-9)
            if numeric is not None:
                check_array(f"conv2d_backward's dx vs the numerical gradient {where}", grads[0],
                            numeric, rtol=1e-5, atol=1e-7)
        setup, expr = _composed("conv2d_forward(x, w, b, stride=stride, pad=pad)",
                                "conv2d_backward(dout, _cache)", square=trial == 6)
        yield Case(f"conv2d_backward {where}",
                   Call(expr, setup=setup, dout=dout, x=x, w=wt, b=b, stride=stride, pad=pad),
                   check)


def _pool_shapes(rng):
    n, c = (int(v) for v in rng.integers(1, 4, size=2))
    h, w = (int(v) for v in rng.integers(3, 9, size=2))
    size = int(rng.integers(1, min(h, w, 3) + 1))
    stride = int(rng.integers(1, 4))
    return n, c, h, w, size, stride


@TESTS.cell("test_maxpool_forward", seed=30403)
def maxpool_forward_cases(rng):
    for trial in range(8):
        n, c, h, w, size, stride = _pool_shapes(rng)
        x = rng.standard_normal((n, c, h, w))
        expected = ref_pool_forward(x, size, stride)[0]
        what = (f"maxpool_forward (random test {trial}: x {x.shape}, size={size}, "
                f"stride={stride})")
        yield Case(what, Call("maxpool_forward(x, size, stride)[0]", x=x, size=size,
                              stride=stride),
                   lambda got, what=what, expected=expected:
                   check_array(what, got.value, expected))


@TESTS.cell("test_maxpool_backward", seed=30404)
def maxpool_backward_cases(rng):
    for trial in range(9):
        n, c, h, w, size, stride = _pool_shapes(rng)
        if trial == 8:  # one square case without overlaps that any forward pass runs
            h, w, size, stride = 4, 4, 2, 2
        x = rng.standard_normal((n, c, h, w))
        out, cache = ref_pool_forward(x, size, stride)
        dout = rng.standard_normal(out.shape)
        expected = ref_pool_backward(dout, cache)
        numeric = None
        if trial < 3:
            numeric = numerical_grad_array(
                lambda z, size=size, stride=stride: ref_pool_forward(z, size, stride)[0],
                x.copy(), dout)
        what = (f"maxpool_backward (random test {trial}: x {x.shape}, size={size}, "
                f"stride={stride})")

        def check(got, what=what, expected=expected, numeric=numeric):
            if _forward_raised(got):
                return
            check_array(what, got.value, expected)
            if numeric is not None:
                check_array(f"{what} vs the numerical gradient", got.value, numeric,
                            rtol=1e-5, atol=1e-7)
        setup, expr = _composed("maxpool_forward(x, size, stride)",
                                "maxpool_backward(dout, _cache)", square=trial == 8)
        yield Case(what, Call(expr, setup=setup, dout=dout, x=x, size=size, stride=stride),
                   check)


@TESTS.cell("test_softmax_cross_entropy", seed=30405)
def softmax_cross_entropy_cases(rng):
    """Loss and gradient against coursekit, at scales up to 10^2.5; the numerical gradient."""
    for trial in range(8):
        n, k = int(rng.integers(1, 12)), int(rng.integers(2, 11))
        z = rng.standard_normal((n, k)) * 10 ** rng.uniform(-1, 2.5)
        y = rng.integers(0, k, size=n)
        ref_loss, ref_dz = ref_sce(z, y)
        numeric = None
        if np.abs(z).max() < 20:
            numeric = numerical_grad(lambda t, y=y: ref_sce(t, y)[0], z.copy())
        where = f"(random test {trial}: logits {z.shape}, scale {np.abs(z).max():.3g})"

        def check(got, where=where, ref_loss=ref_loss, ref_dz=ref_dz, numeric=numeric):
            loss, dz = _tuple_of(f"softmax_cross_entropy {where}", got.value,
                                 ("loss", "dlogits"))
            check_number(f"softmax_cross_entropy's loss {where}", loss, ref_loss, rtol=1e-7,
                         atol=1e-10)
            check_array(f"softmax_cross_entropy's dlogits {where}", dz, ref_dz, rtol=1e-6,
                        atol=1e-10)
            if numeric is not None:
                check_array(f"dlogits vs the numerical gradient {where}", dz, numeric,
                            rtol=1e-4, atol=1e-7)
        yield Case(f"softmax_cross_entropy {where}",
                   Call("softmax_cross_entropy(logits, y)", keep=["logits"], logits=z, y=y),
                   _unchanged_logits(check, where, z))
    # Rows at very different levels: each row must be shifted by its own maximum (a shift by
    # the batch's maximum leaves exp(-1800) = 0 in the low rows, and log 0 = -inf).
    for trial, offsets in enumerate([[0.0, -1000.0, 800.0], [-600.0, 600.0]], start=8):
        k = 4
        z = rng.standard_normal((len(offsets), k)) * 3 + np.array(offsets)[:, None]
        y = rng.integers(0, k, size=len(offsets))
        ref_loss, ref_dz = ref_sce(z, y)
        where = (f"(hidden test {trial}: rows of logits around {offsets}; shift each row by "
                 "its own maximum)")

        def check(got, where=where, ref_loss=ref_loss, ref_dz=ref_dz):
            loss, dz = _tuple_of(f"softmax_cross_entropy {where}", got.value,
                                 ("loss", "dlogits"))
            check_number(f"softmax_cross_entropy's loss {where}", loss, ref_loss, rtol=1e-7,
                         atol=1e-10)
            check_array(f"softmax_cross_entropy's dlogits {where}", dz, ref_dz, rtol=1e-6,
                        atol=1e-10)
        yield Case(f"softmax_cross_entropy {where}",
                   Call("softmax_cross_entropy(logits, y)", keep=["logits"], logits=z, y=y),
                   _unchanged_logits(check, where, z))


def _unchanged_logits(check, where, z):
    def checked(got):
        if not np.array_equal(got.kept["logits"], z):
            raise AssertionError(f"softmax_cross_entropy {where} changed its argument logits "
                                 "in place (logits -= ... modifies the caller's array); "
                                 "compute z = logits - ... instead")
        check(got)
    return checked
