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
        (lambda: offload.step_time(0.5, 1, 1, 1, 1, data="cached"), "data must be one of"),
        (lambda: offload.step_time(0.5, 1, 1, 1, 1, param_bytes=-1), "param_bytes must be >= 0"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------- the parameter download, streamed vs resident
@settings(max_examples=60, deadline=None)
@given(
    W=st.floats(1e6, 1e10),
    fl=rates,
    fs=rates,
    r=st.floats(1e5, 1e10),
    D=st.floats(0, 1e8),
    N=st.floats(0, 1e7),
    alpha=st.floats(0, 1e-2),
    data=st.sampled_from(["streamed", "resident"]),
)
def test_closed_form_with_the_parameter_download_beats_every_grid_point(
    W, fl, fs, r, D, N, alpha, data
):
    args = dict(data_bytes=D, result_bytes=N, param_bytes=N, latency=alpha, data=data)
    lam_star = offload.optimal_fraction(W, fl, fs, r, **args)
    grid = np.linspace(0, 1, 20001)
    t_grid = offload.step_time(grid, W, fl, fs, r, **args)
    t_star = offload.step_time(lam_star, W, fl, fs, r, **args)
    assert t_star <= t_grid.min() * (1 + 1e-12)
    assert t_grid.min() <= t_star + W / fl * (grid[1] - grid[0])
    # The remote path by hand: x_t down, gradient up, and the samples only when streamed.
    lam = 0.3
    remote = 2 * alpha + 2 * N / r + (1 - lam) * ((D / r if data == "streamed" else 0) + W / fs)
    assert offload.step_time(lam, W, fl, fs, r, **args) == pytest.approx(
        max(lam * W / fl, remote), rel=1e-12
    )
    # Offloading pays iff the fixed cost, now with the download, is below the local time.
    assert offload.offload_pays(W, fl, fs, r, **args) == (2 * alpha + 2 * N / r < W / fl)


def test_resident_data_never_slows_the_remote_path():
    args = dict(
        work=1e9,
        local_rate=1e9,
        remote_rate=2e9,
        link_rate=1e7,
        data_bytes=5e6,
        result_bytes=1e5,
        param_bytes=1e5,
        latency=1e-3,
    )
    lam = np.linspace(0, 1, 11)
    streamed = offload.step_time(lam, **args)
    resident = offload.step_time(lam, **args, data="resident")
    assert np.all(resident <= streamed) and resident[0] < streamed[0]
    assert offload.optimal_fraction(**args, data="resident") < offload.optimal_fraction(**args)
    # The download of x_t is a fixed cost: it moves lambda* up, as G does.
    no_p = dict(args, param_bytes=0.0)
    assert offload.optimal_fraction(**no_p) < offload.optimal_fraction(**args)


# ------------------------------------------------- a training run that uses the optimal split
def _lsq():
    from coursekit.data import make_regression
    from coursekit.objectives import LeastSquares

    X, y, _ = make_regression(n_samples=512, n_features=20, noise=0.3, seed=4)
    return LeastSquares(X, y)


HELPERS = dict(
    flops_per_sample=2e6,
    local_rate=1e9,
    remote_rates=[3e9, 1e9, 2e9],
    link_rates=[2e7, 1e8, 1e6],
    sample_bytes=2e3,
    latency=1e-3,
)


def test_offloaded_training_computes_the_iterates_of_plain_sgd():
    from coursekit.optimize import sgd

    f = _lsq()
    x0 = np.zeros(f.dim)
    ref = sgd(f, x0, lr=0.05, batch_size=64, epochs=1, seed=3)
    for fractions in ([1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.1, 0.6, 0.3, 0.0]):
        run = offload.train_offloaded(
            f, x0, fractions, steps=8, lr=0.05, batch_size=64, seed=3, **HELPERS
        )
        np.testing.assert_allclose(run.x, ref.path[8], rtol=0, atol=1e-12)
        np.testing.assert_allclose(run.losses, ref.losses[:9], rtol=0, atol=1e-12)
        assert (run.counts.sum(axis=1) == 64).all()


@pytest.mark.parametrize("data", ["streamed", "resident"])
def test_the_water_filling_run_is_the_fastest_and_takes_its_predicted_time(data):
    f = _lsq()
    x0 = np.zeros(f.dim)
    m = 256  # divides n = 512: every batch is full
    cost = dict(HELPERS, data=data)
    w, s = cost.pop("flops_per_sample"), cost.pop("sample_bytes")
    plan = offload.optimal_split(
        m * w,
        cost["local_rate"],
        cost["remote_rates"],
        cost["link_rates"],
        data_bytes=m * s,
        result_bytes=x0.nbytes,
        param_bytes=x0.nbytes,
        latency=cost["latency"],
        data=data,
    )

    def run(fractions):
        return offload.train_offloaded(
            f,
            x0,
            fractions,
            steps=3,
            lr=0.05,
            batch_size=m,
            record_losses=False,
            **HELPERS | {"data": data},
        )

    best = run(plan.fractions)
    # The run takes the model's T* up to the rounding of shares to whole samples: less than
    # one sample's cost on the slowest path.
    one_sample = w / min([cost["local_rate"], *cost["remote_rates"]]) + s / min(cost["link_rates"])
    assert best.predicted == pytest.approx(plan.time, rel=1e-12)
    assert abs(best.step_time - plan.time) <= one_sample
    # ... and no split of a grid over the simplex is faster (beyond that rounding).
    h = 0.05
    grid = [
        (1 - a - b - c, a, b, c)
        for a, b, c in itertools.product(np.arange(0, 1 + h / 2, h), repeat=3)
        if a + b + c <= 1 + 1e-9
    ]
    times = [run(np.clip(g, 0, 1) / np.clip(g, 0, 1).sum()).step_time for g in grid]
    assert best.step_time <= min(times) + one_sample
    even = run(np.full(4, 0.25)).step_time
    prop = run(offload.proportional_split([cost["local_rate"], *cost["remote_rates"]])).step_time
    assert best.step_time <= min(even, prop) + one_sample
    if data == "streamed":
        # Streaming over the 1 MB/s link of helper 3 is what the speed-proportional split
        # ignores: there the optimum is far ahead of both.
        assert best.step_time < 0.7 * min(even, prop)


def test_when_offloading_does_not_pay_the_best_run_computes_alone():
    f = _lsq()
    x0 = np.zeros(f.dim)
    slow = dict(HELPERS, latency=1.0)  # 2 s of latency per helper, 0.1 s to compute alone
    plan = offload.optimal_split(
        50 * 2e6,
        1e9,
        slow["remote_rates"],
        slow["link_rates"],
        data_bytes=50 * 2e3,
        result_bytes=x0.nbytes,
        param_bytes=x0.nbytes,
        latency=1.0,
    )
    assert not plan.used.any() and plan.fractions[0] == 1 and plan.speedup == 1
    run = offload.train_offloaded(
        f, x0, plan.fractions, steps=2, lr=0.05, batch_size=50, record_losses=False, **slow
    )
    assert run.step_time == pytest.approx(50 * 2e6 / 1e9, rel=1e-12)
