"""Time to accuracy: the linear scaling rule, the gradient noise scale, backup workers."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.data import make_regression
from coursekit.distributed import accuracy as scaling
from coursekit.distributed import stragglers
from coursekit.objectives import LeastSquares


def test_warmup_ramps_linearly_to_the_scaled_rate():
    s = scaling.warmup_linear(0.1, 32, 256, warmup_steps=4)
    assert [s(None, t) for t in range(6)] == pytest.approx([0.1, 0.275, 0.45, 0.625, 0.8, 0.8])
    assert scaling.warmup_linear(0.1, 32, 16)(None, 0) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="base_lr must be > 0"):
        scaling.warmup_linear(0.0, 32, 16)


def test_noise_scale_of_least_squares_against_the_covariance_formula():
    X, y, _ = make_regression(n_samples=400, n_features=6, noise=1.0, seed=1)
    f = LeastSquares(X, y)
    x = np.full(6, 0.3)
    ns = scaling.noise_scale(f, x)
    G = f.sample_grads(x)
    # tr(Sigma) is the trace of numpy's unbiased covariance of the per-sample gradients.
    assert ns.trace == pytest.approx(np.trace(np.cov(G.T)), rel=1e-10)
    assert ns.grad_sq == pytest.approx(f.grad(x) @ f.grad(x) - ns.trace / 400, rel=1e-10)
    assert ns.b_noise == pytest.approx(ns.trace / ns.grad_sq)

    # The grad-only path (one call per row, as for a CNN) measures the same.
    class GradOnly:
        n_samples = f.n_samples
        grad = staticmethod(f.grad)

    assert scaling.noise_scale(GradOnly(), x, np.arange(50)).trace == pytest.approx(
        scaling.noise_scale(f, x, np.arange(50)).trace, rel=1e-10
    )


def test_noise_scale_grows_towards_the_minimum():
    """The signal vanishes at the minimiser while the noise does not: B_noise grows."""
    X, y, _ = make_regression(n_samples=400, n_features=6, noise=1.0, seed=1)
    f = LeastSquares(X, y)
    far, near = np.full(6, 3.0), f.solution() + 0.05
    assert scaling.noise_scale(f, near).b_noise > 10 * scaling.noise_scale(f, far).b_noise


def test_batch_sweep_is_plain_sgd_with_the_scaled_rate():
    X, y, _ = make_regression(n_samples=64, n_features=3, noise=0.1, seed=0)
    f = LeastSquares(X, y)
    runs = scaling.batch_sweep(
        f, np.zeros(3), [8, 16], epochs=2, base_lr=0.05, base_batch=8, evals_per_epoch=2
    )
    from coursekit.optimize import sgd

    for r, lr in zip(runs, (0.05, 0.1), strict=True):
        ref = sgd(f, np.zeros(3), lr=lr, batch_size=r.batch, epochs=2)
        np.testing.assert_allclose(r.x, ref.x, rtol=1e-12)
        assert r.steps[-1] == 2 * 64 // r.batch and r.lr == lr


def test_steps_to_target_interpolates_between_evaluations():
    assert scaling.steps_to_target([0, 10, 20], [4.0, 2.0, 1.0], 1.5) == pytest.approx(15.0)
    assert scaling.steps_to_target([0, 10], [4.0, 2.0], 1.0) == math.inf
    assert scaling.steps_to_target([0, 10], [1.0, 0.5], 2.0) == 0.0


@pytest.mark.parametrize("p, s", [(1, 0), (8, 0), (8, 2), (16, 4), (32, 1)])
def test_backup_wait_sampled_against_the_harmonic_formula(p, s):
    mean, err = stragglers.sampled_wait(p, s, steps=40_000, seed=p + s)
    assert abs(mean - stragglers.expected_wait(p, s)) < 4 * err


@settings(max_examples=40, deadline=None)
@given(p=st.integers(1, 200), s=st.integers(0, 50))
def test_backups_never_make_the_wait_longer(p, s):
    h = stragglers.expected_wait(p, s)
    assert h <= stragglers.expected_wait(p, 0) + 1e-12
    assert h == pytest.approx(sum(1 / j for j in range(s + 1, p + s + 1)), rel=1e-12)


def test_time_to_target_is_steps_times_the_step_of_the_cost_model():
    from coursekit.distributed import cost

    S = {16: 400.0, 64: 100.0, 256: 40.0, 1024: math.inf}
    out = scaling.time_to_target(
        S,
        16,
        [1, 4, 2, 16],
        flops_per_sample=1e6,
        rate=1e9,
        n_bytes=7e4,
        latency=1e-4,
        bandwidth=1.25e7,
    )
    np.testing.assert_allclose(out["steps"], [400, 100, 200, 40])  # log-log interpolation
    step = 16 * 1e6 / 1e9 + cost.allreduce_time(7e4, np.array([1, 4, 2, 16]), 1e-4, 1.25e7)
    np.testing.assert_allclose(out["time"], out["steps"] * step, rtol=1e-12)
    assert (
        scaling.time_to_target(
            S, 16, [64], flops_per_sample=1e6, rate=1e9, n_bytes=7e4, latency=1e-4, bandwidth=1.25e7
        )["time"][0]
        == math.inf
    )
    with pytest.raises(ValueError, match="within the measured batches"):
        scaling.time_to_target(
            S,
            16,
            [128],
            flops_per_sample=1e6,
            rate=1e9,
            n_bytes=7e4,
            latency=1e-4,
            bandwidth=1.25e7,
        )


def test_the_ceiling_stops_the_linear_rule():
    s = scaling.warmup_linear(0.1, 32, 256, warmup_steps=2, max_lr=0.3)
    assert [s(None, t) for t in range(4)] == pytest.approx([0.1, 0.2, 0.3, 0.3])
    assert scaling.warmup_linear(0.1, 32, 64, max_lr=0.3)(None, 0) == pytest.approx(0.2)


def test_fastest_to_target_is_the_smallest_time_over_algorithms_and_p():
    nan, inf = math.nan, math.inf
    by_algorithm = {
        "naive": {"time": np.array([5.0, nan, 4.0])},
        "tree": {"time": np.array([inf, 3.0, 3.5])},
        "ring": {"time": np.array([3.0, 6.0, nan])},  # ties with tree: the first one wins
    }
    assert scaling.fastest_to_target(by_algorithm) == ("tree", 1)
    del by_algorithm["tree"]
    assert scaling.fastest_to_target(by_algorithm) == ("ring", 0)
