"""Tests of coursekit.gradcheck: exact central-difference identities and rel_error."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coursekit.gradcheck import numerical_grad, numerical_grad_array, rel_error

SETTINGS = settings(max_examples=25, deadline=None)


def test_central_difference_of_cubic_is_exact_up_to_eps_squared():
    # ((x+e)^3 - (x-e)^3) / 2e = 3x^2 + e^2 exactly: the O(eps^2) error term in closed form.
    x = np.random.default_rng(0).uniform(-2, 2, size=(3, 4))
    eps = 1e-2
    g = numerical_grad(lambda v: np.sum(v**3), x, eps=eps)
    assert g.shape == (3, 4)
    assert np.allclose(g, 3 * x**2 + eps**2, rtol=0, atol=1e-10)
    # One-sided differences would err by O(eps); the central one is far better than that.
    assert np.max(np.abs(g - 3 * x**2)) < 2 * eps**2


@SETTINGS
@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=4), elements=st.floats(-3, 3)))
def test_numerical_grad_of_smooth_function(x):
    g = numerical_grad(lambda v: np.sum(np.sin(v)) + 0.5 * np.sum(v * v), x)
    assert g.shape == x.shape
    assert np.allclose(g, np.cos(x) + x, rtol=1e-7, atol=1e-7)


def test_numerical_grad_restores_x_and_supports_closures():
    # CS231n idiom: fun ignores its argument and reads the parameter array in place.
    params = {"W": np.array([[1.0, -2.0], [0.5, 3.0]])}
    before = params["W"].copy()
    g = numerical_grad(lambda _: float(np.sum(params["W"] ** 2)), params["W"])
    assert np.allclose(g, 2 * before, atol=1e-7)
    assert np.array_equal(params["W"], before)


def test_numerical_grad_restores_x_when_fun_raises():
    x = np.array([1.0, 2.0])

    def fun(v):
        if v[0] != 1.0:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(RuntimeError):
        numerical_grad(fun, x)
    assert np.array_equal(x, [1.0, 2.0])


def test_numerical_grad_accepts_lists_and_ints_without_modifying_them():
    x = [1, 2, 3]
    g = numerical_grad(lambda v: float(v @ v), x)
    assert g.dtype == np.float64
    assert np.allclose(g, [2, 4, 6], atol=1e-6)
    assert x == [1, 2, 3]


def test_numerical_grad_array_of_linear_map():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((5, 3))
    x = rng.standard_normal(3)
    dout = rng.standard_normal(5)
    # d/dx sum((A x) * dout) = A' dout, and the central difference of a linear map is exact.
    g = numerical_grad_array(lambda v: A @ v, x, dout)
    assert np.allclose(g, A.T @ dout, rtol=1e-8, atol=1e-9)


def test_numerical_grad_array_of_elementwise_layer():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4))
    dout = rng.standard_normal((2, 3, 4))
    g = numerical_grad_array(np.tanh, x, dout)
    assert np.allclose(g, dout * (1 - np.tanh(x) ** 2), rtol=1e-6, atol=1e-8)


def test_numerical_grad_array_copies_a_reused_output_buffer():
    buf = np.zeros(2)

    def layer(v):  # returns the same array object every call
        buf[:] = 2.0 * v
        return buf

    g = numerical_grad_array(layer, np.array([1.0, 1.0]), np.array([1.0, 3.0]))
    assert np.allclose(g, [2.0, 6.0])


def test_rel_error_definition():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [3.0]) == pytest.approx(0.5)  # |1 - 3| / (1 + 3)
    assert rel_error([1.0, 100.0], [1.0, 101.0]) == pytest.approx(1 / 201)
    # The floor 1e-8 keeps two tiny numbers from looking wildly different.
    assert rel_error([0.0], [1e-12]) == pytest.approx(1e-4)
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0
    assert rel_error([np.nan], [1.0]) == np.inf


@SETTINGS
@given(
    hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-1e6, 1e6)),
    hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-1e6, 1e6)),
)
def test_rel_error_is_symmetric_and_bounded(a, b):
    if a.shape != b.shape:
        with pytest.raises(ValueError, match="same shape"):
            rel_error(a, b)
        return
    e = rel_error(a, b)
    assert e == rel_error(b, a)
    assert 0.0 <= e <= 1.0  # |a - b| <= |a| + |b| (triangle inequality)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: numerical_grad(lambda v: 0.0, np.ones(2), eps=0.0), ValueError, "eps must be"),
        (lambda: numerical_grad(lambda v: 0.0, np.ones(2), eps=-1e-3), ValueError, "eps must be"),
        (lambda: numerical_grad(lambda v: 0.0, np.ones(2), eps="a"), TypeError, "eps must be"),
        (lambda: numerical_grad("f", np.ones(2)), TypeError, "fun must be callable"),
        (lambda: numerical_grad(lambda v: v, np.ones(2)), ValueError, "fun must return a scalar"),
        (lambda: numerical_grad(lambda v: 0.0, "ab"), TypeError, "x must be a numeric"),
        (
            lambda: numerical_grad_array(lambda v: v, np.ones(2), np.ones(3)),
            ValueError,
            "dout must have the shape",
        ),
        (lambda: numerical_grad_array(None, np.ones(2), np.ones(2)), TypeError, "fun must be"),
        (lambda: rel_error(np.ones((2, 1)), np.ones(2)), ValueError, "same shape"),
    ],
)
def test_bad_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
