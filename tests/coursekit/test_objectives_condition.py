"""LeastSquares.condition_number: the Hessian's kappa, against the singular values of X."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.objectives import LeastSquares


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(3, 40),
    d=st.integers(1, 3),
    scale=st.floats(0.1, 30.0),
)
def test_kappa_is_the_squared_condition_number_of_x(seed, n, d, scale):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[:, 0] *= scale
    f = LeastSquares(X, rng.standard_normal(n))
    s = np.linalg.svd(X, compute_uv=False)  # X^T X / n has eigenvalues s^2 / n
    assert f.condition_number == pytest.approx((s[0] / s[-1]) ** 2, rel=1e-8)


def test_dependent_columns_give_inf():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    X[:, 2] = 0.3 * X[:, 0] - 1.7 * X[:, 1]  # h_3 = 0 exactly, about 1e-16 after rounding
    assert LeastSquares(X, np.ones(30)).condition_number == np.inf
