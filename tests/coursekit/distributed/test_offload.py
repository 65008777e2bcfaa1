"""Partial offloading: the closed-form optimum against brute force."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.distributed import offload

rates = st.floats(1e6, 1e10)


@settings(max_examples=60, deadline=None)
@given(
    W=st.floats(1e6, 1e10),
    fl=rates,
    fs=rates,
    r=st.floats(1e5, 1e10),
    D=st.floats(0, 1e8),
    G=st.floats(0, 1e6),
    alpha=st.floats(0, 1e-2),
)
def test_closed_form_optimum_beats_every_grid_point(W, fl, fs, r, D, G, alpha):
    args = dict(data_bytes=D, result_bytes=G, latency=alpha)
    lam_star = offload.optimal_fraction(W, fl, fs, r, **args)
    t_star = offload.step_time(lam_star, W, fl, fs, r, **args)
    grid = np.linspace(0, 1, 20001)
    t_grid = offload.step_time(grid, W, fl, fs, r, **args)
    assert t_star <= t_grid.min() * (1 + 1e-12)
    # ... and the grid gets within its resolution of it (T is 1/h-Lipschitz-ish near lambda*).
    a = W / fl
    assert t_grid.min() <= t_star + a * (grid[1] - grid[0])
    assert 0 < lam_star <= 1
    assert offload.offload_pays(W, fl, fs, r, **args) == (lam_star < 1)


def test_the_paths_balance_at_the_optimum():
    W, fl, fs, r, D = 1e9, 1e9, 3e9, 1e8, 4e7
    lam = offload.optimal_fraction(W, fl, fs, r, data_bytes=D, result_bytes=1e4, latency=1e-3)
    local = lam * W / fl
    remote = 2e-3 + 1e4 / r + (1 - lam) * (D / r + W / fs)
    assert local == pytest.approx(remote, rel=1e-12)


def test_offloading_does_not_pay_when_the_fixed_cost_exceeds_local_work():
    # 2 alpha + G / r = 1.5 s > W / f_l = 1 s: keep everything, whatever the helper's speed.
    for fs in [1e9, 1e12]:
        assert not offload.offload_pays(1e9, 1e9, fs, 1e9, result_bytes=5e8, latency=0.5)
        assert offload.optimal_fraction(1e9, 1e9, fs, 1e9, result_bytes=5e8, latency=0.5) == 1.0
    # With no fixed cost it always pays, however slow the helper.
    assert offload.offload_pays(1e9, 1e9, 1e3, 1e3, data_bytes=1e9)


def test_optimal_split_against_brute_force_on_the_simplex():
    W, fl = 1e9, 1e9
    fs, r = [2e9, 5e8], [1e8, 4e8]
    args = dict(data_bytes=2e7, result_bytes=1e5, latency=2e-3)
    plan = offload.optimal_split(W, fl, fs, r, **args)
    assert plan.fractions.sum() == pytest.approx(1.0)
    assert offload.split_time(plan.fractions, W, fl, fs, r, **args) == pytest.approx(plan.time)
    h = 1 / 400
    grid = np.array(
        [(1 - a - b, a, b) for a, b in itertools.product(np.arange(0, 1 + h / 2, h), repeat=2)
         if a + b <= 1 + 1e-12]
    )  # fmt: skip
    grid[:, 0] = np.clip(grid[:, 0], 0, 1)
    t = offload.split_time(grid, W, fl, fs, r, **args)
    assert plan.time <= t.min() * (1 + 1e-12)
    assert t.min() <= plan.time * (1 + 2 * h)
    # One helper reduces to the single-helper closed form.
    one = offload.optimal_split(W, fl, fs[:1], r[:1], **args)
    assert one.fractions[0] == pytest.approx(offload.optimal_fraction(W, fl, fs[0], r[0], **args))


def test_water_filling_leaves_out_a_helper_that_does_not_pay():
    # Without fixed costs every helper gets work, however slow.
    plan = offload.optimal_split(1e9, 1e9, [1e9, 1e3], [1e9, 1e9])
    assert plan.used.all() and (plan.fractions > 0).all()
    # Helper 2 must return its result over a 1 B/s link: a 1 s fixed cost, more than the 0.5 s
    # that the central node and helper 1 reach together, so it is left out.
    slow_link = offload.optimal_split(1e9, 1e9, [1e9, 1e9], [1e9, 1.0], result_bytes=1.0)
    assert slow_link.used.tolist() == [True, False] and slow_link.fractions[2] == 0
    assert slow_link.speedup == pytest.approx(2.0, rel=1e-6)


def test_proportional_split_is_the_optimum_without_communication():
    f = np.array([1e9, 2e9, 5e8, 4e9])
    plan = offload.optimal_split(1e9, f[0], f[1:], np.full(3, np.inf))
    np.testing.assert_allclose(plan.fractions, offload.proportional_split(f), rtol=1e-12)
    assert plan.time == pytest.approx(1e9 / f.sum())


@settings(max_examples=50, deadline=None)
@given(
    lam=st.lists(st.floats(0.01, 1), min_size=1, max_size=8),
    n=st.integers(0, 10_000),
)
def test_integer_split_rounds_each_share_by_less_than_one(lam, n):
    frac = np.array(lam) / np.sum(lam)
    counts = offload.integer_split(frac, n)
    assert counts.sum() == n and (counts >= 0).all()
    assert np.all(np.abs(counts - frac * n) < 1)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: offload.step_time(1.5, 1, 1, 1, 1), "lam must lie in \\[0, 1\\]"),
        (lambda: offload.step_time(-0.1, 1, 1, 1, 1), "lam must lie in \\[0, 1\\]"),
        (lambda: offload.step_time(0.5, 1, 1, 1, -1), "link_rate must be > 0"),
        (lambda: offload.optimal_fraction(1, 0, 1, 1), "local_rate must be > 0"),
        (lambda: offload.optimal_fraction(1, 1, 1, 1, latency=-1), "latency must be >= 0"),
        (lambda: offload.proportional_split([1, 0]), "rates must be > 0"),
        (lambda: offload.split_time([0.5, 0.6], 1, 1, [1], [1]), "sum to 1"),
        (lambda: offload.split_time([1.0], 1, 1, [1], [1]), "2 entries"),
        (lambda: offload.optimal_split(1, 1, [1, 2], [1]), "link_rates must have length 2"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
