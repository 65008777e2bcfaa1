"""coursekit.distributed.scaling: step-time breakdown, strong scaling, the cost model."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.data import make_regression
from coursekit.distributed import Cluster
from coursekit.distributed.scaling import (
    predicted_for_runs,
    predicted_step_time,
    scaling_runs,
    time_breakdown,
)
from coursekit.distributed.simulate import PHASES, simulate
from coursekit.objectives import LeastSquares


@pytest.fixture(scope="module")
def problem():
    X, y, _ = make_regression(256, 6, noise=0.3, seed=3)
    return LeastSquares(X, y)


@pytest.mark.parametrize(
    "strategy, algorithm",
    [("sync", a) for a in ("naive", "parameter_server", "tree", "ring")]
    + [("backup", a) for a in ("naive", "parameter_server")],  # backups need a central node
)
def test_breakdown_adds_up_to_the_mean_step(problem, algorithm, strategy):
    """The phases tile every worker's timeline: their mean per step is wall clock / steps."""
    cluster = Cluster(
        5,
        rates=[1e6, 2e6, 1e6, 3e6, 1e6],
        latency=1e-4,
        bandwidth=1e5,
        straggler_prob=0.2,
        jitter=0.3,
    )
    h = simulate(
        problem,
        np.zeros(6),
        strategy=strategy,
        steps=12,
        batch_size=8,
        seed=1,
        cluster=cluster,
        algorithm=algorithm,
        backups=1 if strategy == "backup" else 0,
    )
    parts = time_breakdown(h)
    assert set(parts) == set(PHASES)
    assert all(v >= 0 for v in parts.values())
    assert sum(parts.values()) == pytest.approx(h.wall_clock[-1] / h.nit, rel=1e-12)
    # Heterogeneous speeds and stragglers make the fast workers wait.
    assert parts["wait"] > 0


def test_free_network_gives_pure_compute_and_speedup_p(problem):
    runs = scaling_runs(
        problem,
        np.zeros(6),
        [1, 2, 4, 8],
        global_batch=64,
        steps=5,
        latency=0.0,
        bandwidth=math.inf,
        rates=2e6,
        flops_per_sample=1e4,
    )
    for p, h in runs.items():
        parts = time_breakdown(h)
        assert parts["compute"] == pytest.approx(64 * 1e4 / (p * 2e6), rel=1e-12)
        assert parts["send"] == parts["receive"] == parts["wait"] == 0.0
        assert h.speedup == pytest.approx(p, rel=1e-12)


def test_strong_scaling_runs_share_their_iterates(problem):
    """Same global batch, same batch order: the number of workers changes only the clock."""
    runs = scaling_runs(
        problem,
        np.zeros(6),
        [1, 2, 4, 16],
        global_batch=32,
        steps=15,
        lr=0.05,
        latency=1e-5,
        bandwidth=1e6,
    )
    ref = runs[1]
    for h in runs.values():
        np.testing.assert_allclose(h.params, ref.params, rtol=0, atol=1e-12)
    clocks = [h.wall_clock[-1] for h in runs.values()]
    assert len(set(clocks)) == len(clocks)


@pytest.mark.parametrize("algorithm", ["tree", "ring", "parameter_server"])
def test_simulated_step_equals_the_cost_model(problem, algorithm):
    """Without stragglers a collective's step is compute + all-reduce, the closed form."""
    kw = dict(latency=3e-4, bandwidth=2e5, rates=5e6)
    runs = scaling_runs(
        problem,
        np.zeros(6),
        [1, 2, 4, 8],
        global_batch=64,
        steps=4,
        algorithm=algorithm,
        shards=2,
        flops_per_sample=2e4,
        **kw,
    )
    for p, h in runs.items():
        expected = predicted_step_time(
            p,
            global_batch=64,
            flops_per_sample=2e4,
            rate=5e6,
            n_bytes=6 * 8,
            latency=3e-4,
            bandwidth=2e5,
            algorithm=algorithm,
            shards=2,
        )
        assert h.wall_clock[-1] / h.nit == pytest.approx(expected, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    work=st.floats(1e-3, 10.0),  # b w / F, seconds
    alpha=st.floats(1e-6, 1e-2),
    comm=st.floats(0.0, 1e-2),  # N / B, seconds
)
def test_ring_speedup_bends_at_the_stationary_point(work, alpha, comm):
    """T(p) = c/p + 2(p-1) alpha + 2(p-1)/p N/B is least next to sqrt((c - 2N/B) / (2 alpha))."""
    F, bandwidth = 1e9, 1e6
    ps = np.arange(1, 2001)
    T = predicted_step_time(
        ps,
        global_batch=1,
        flops_per_sample=work * F,
        rate=F,
        n_bytes=comm * bandwidth,
        latency=alpha,
        bandwidth=bandwidth,
    )
    best = int(ps[np.argmin(T)])
    p_star = math.sqrt(max(work - 2 * comm, 0.0) / (2 * alpha))
    if p_star >= 2000:
        return
    # T is convex in p > 0, so the integer minimiser is the floor or the ceiling of p*.
    assert best in {max(1, math.floor(p_star)), max(1, math.ceil(p_star))}


def test_bad_input_names_the_argument(problem):
    with pytest.raises(ValueError, match="worker_counts"):
        scaling_runs(problem, np.zeros(6), [3], global_batch=32)
    with pytest.raises(TypeError, match="global_batch"):
        scaling_runs(problem, np.zeros(6), [2], global_batch=32.0)
    with pytest.raises(TypeError, match="history"):
        time_breakdown("not a run")


def test_message_bytes_prices_another_models_gradient_in_every_run(problem):
    """With message_bytes = N the ring step is compute + the ring formula with N, for every p."""
    N, kw = 70_632.0, dict(latency=1e-4, bandwidth=1.25e7, rates=1e9)
    runs = scaling_runs(
        problem,
        np.zeros(6),
        [2, 4],
        global_batch=16,
        steps=3,
        flops_per_sample=1e6,
        message_bytes=N,
        **kw,
    )
    for p, h in runs.items():
        step = predicted_step_time(
            p,
            global_batch=16,
            flops_per_sample=1e6,
            rate=1e9,
            n_bytes=N,
            latency=1e-4,
            bandwidth=1.25e7,
        )
        np.testing.assert_allclose(np.diff(h.wall_clock), step, rtol=1e-12)


@pytest.mark.parametrize("algorithm", ["tree", "ring"])
@pytest.mark.parametrize("flops, message", [(None, None), (3e4, 1e3)])
def test_prediction_for_the_runs_uses_the_simulators_settings(problem, algorithm, flops, message):
    """Given scaling_runs' own arguments (defaults included: a linear model's w, x0's bytes,
    the workers' rate), the model predicts each simulated step without stragglers."""
    kw = dict(
        global_batch=32,
        algorithm=algorithm,
        flops_per_sample=flops,
        message_bytes=message,
        latency=2e-4,
        bandwidth=1e5,
        rates=4e6,
    )
    runs = scaling_runs(problem, np.zeros(6), [1, 2, 4], steps=3, **kw)
    predicted = predicted_for_runs([1, 2, 4], np.zeros(6), **kw)
    simulated = [h.wall_clock[-1] / h.nit for h in runs.values()]
    np.testing.assert_allclose(predicted, simulated, rtol=1e-12)


@pytest.mark.parametrize("shards", [1, 2, 3])
def test_prediction_for_a_sharded_parameter_server(problem, shards):
    """k server shards (k = 3 > p for two of the counts): the prediction is the simulated step."""
    kw = dict(
        global_batch=24,
        algorithm="parameter_server",
        shards=shards,
        latency=1e-3,
        bandwidth=1e5,
        rates=1e6,
    )
    runs = scaling_runs(problem, np.zeros(6), [1, 2, 4], steps=2, **kw)
    predicted = predicted_for_runs([1, 2, 4], np.zeros(6), **kw)
    simulated = [h.wall_clock[-1] / h.nit for h in runs.values()]
    np.testing.assert_allclose(predicted, simulated, rtol=1e-12)
