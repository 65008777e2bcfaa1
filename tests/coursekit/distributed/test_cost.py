"""The alpha-beta formulas against a message-by-message simulation on real data."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.distributed import collectives, cost


@pytest.mark.parametrize("algorithm", cost.ALGORITHMS)
@pytest.mark.parametrize("p", [1, 2, 3, 4, 5, 8, 13])
def test_formula_equals_message_simulation(algorithm, p):
    rng = np.random.default_rng(p)
    shard_list = [1, 2, 3, 5] if algorithm == "parameter_server" else [1]
    for k in shard_list:
        d = p * k * 4  # chunks of equal size, as the formulas assume
        V = rng.normal(size=(p, d))
        alpha, B = 3e-4, 2e6
        trace = collectives.simulate_allreduce(V, alpha, B, algorithm, k)
        # The data really moved: every worker ends with the sum.
        np.testing.assert_allclose(trace.result, np.broadcast_to(V.sum(0), V.shape), atol=1e-12)
        formula = cost.allreduce_time(V.nbytes / p, p, alpha, B, algorithm, k)
        assert trace.time == pytest.approx(formula, rel=1e-12, abs=1e-15)
        assert trace.bytes_sent == pytest.approx(cost.allreduce_bytes(V.nbytes / p, p, algorithm))


@settings(max_examples=40, deadline=None)
@given(
    p=st.integers(1, 12),
    k=st.integers(1, 6),
    alpha=st.floats(0, 1e-2),
    log_b=st.floats(3, 10),
    algorithm=st.sampled_from(cost.ALGORITHMS),
)
def test_formula_equals_simulation_property(p, k, alpha, log_b, algorithm):
    d = p * k * 2
    V = np.ones((p, d))
    B = 10.0**log_b
    trace = collectives.simulate_allreduce(V, alpha, B, algorithm, k)
    formula = cost.allreduce_time(V.nbytes / p, p, alpha, B, algorithm, k)
    assert trace.time == pytest.approx(formula, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("algorithm", ["ring", "parameter_server"])
def test_uneven_chunks_cost_at_most_one_element_more_per_message(algorithm):
    # d not divisible by p (or k): the formula is exact up to the largest chunk's extra element.
    p, k, d = 5, 3, 23
    V = np.arange(p * d, dtype=float).reshape(p, d)
    alpha, B = 1e-4, 1e5
    trace = collectives.simulate_allreduce(V, alpha, B, algorithm, k)
    np.testing.assert_allclose(trace.result[0], V.sum(0))
    formula = cost.allreduce_time(V.nbytes / p, p, alpha, B, algorithm, k)
    n_steps = 2 * (p - 1) if algorithm == "ring" else 2 * max(p, k)
    assert formula - 1e-12 <= trace.time <= formula + n_steps * 8 / B + 1e-12


def test_ring_bandwidth_term_is_optimal_and_latency_term_linear():
    N, B = 1e8, 1e9
    t = cost.allreduce_time(N, np.array([2, 16, 1024]), 0.0, B, "ring")
    # 2 (p-1)/p N/B -> 2 N/B from below; the naive central node grows like p.
    assert np.all(np.diff(t) > 0) and t[-1] < 2 * N / B
    assert cost.allreduce_time(0, 33, 1e-5, B, "ring") == pytest.approx(2 * 32 * 1e-5)
    assert cost.allreduce_time(0, 33, 1e-5, B, "tree") == pytest.approx(2 * 6 * 1e-5)
    assert cost.allreduce_time(N, 1, 1.0, B, "naive") == 0.0


def test_parameter_server_with_one_shard_is_a_dedicated_central_node():
    # p workers + 1 dedicated root == the naive formula with p + 1 nodes.
    for p in [2, 3, 7]:
        a = cost.allreduce_time(1e6, p, 1e-4, 1e8, "parameter_server", 1)
        b = cost.allreduce_time(1e6, p + 1, 1e-4, 1e8, "naive")
        assert a == pytest.approx(b)


def test_message_and_compute_time():
    assert cost.message_time(1e6, 1e-5, 1e9) == pytest.approx(1e-5 + 1e-3)
    assert cost.message_time(1e6, 1e-5, np.inf) == pytest.approx(1e-5)
    assert cost.compute_time(2e9, 1e9) == pytest.approx(2.0)
    np.testing.assert_allclose(cost.compute_time([1, 2], [1, 4]), [1, 0.5])
    assert cost.linear_model_flops(8, 10) == 4 * 8 * 10


def test_fit_latency_bandwidth_recovers_the_line():
    rng = np.random.default_rng(0)
    n = np.logspace(1, 7, 25)
    alpha, B = 2.5e-6, 3e9
    t = alpha + n / B
    a_hat, b_hat = cost.fit_latency_bandwidth(n, t * (1 + 1e-9 * rng.standard_normal(n.size)))
    assert a_hat == pytest.approx(alpha, rel=1e-3)
    assert b_hat == pytest.approx(B, rel=1e-6)
    with pytest.raises(ValueError, match="two distinct"):
        cost.fit_latency_bandwidth([8, 8], [1, 2])


def test_schedules_are_well_formed():
    for algorithm in cost.ALGORITHMS:
        msgs = collectives.schedule(6, 12, algorithm, shards=2)
        rounds = [m.round for m in msgs]
        assert rounds == sorted(rounds), "the listed order must follow the rounds"
        assert {m.phase for m in msgs} <= {"send", "receive"}
    ring = collectives.schedule(4, 8, "ring")
    assert len(ring) == 2 * 3 * 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(algorithm="butterfly"), "algorithm must be one of 'naive', 'parameter_server'"),
        (dict(n_workers=0), "n_workers must be >= 1"),
        (dict(bandwidth=-1.0), "bandwidth must be > 0"),
        (dict(latency=-1e-6), "latency must be >= 0"),
        (dict(n_bytes=-1), "n_bytes must be >= 0"),
        (dict(shards=0), "shards must be >= 1"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(n_bytes=8, n_workers=4, latency=1e-6, bandwidth=1e9, algorithm="ring")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        cost.allreduce_time(**args)


def test_bad_input_types():
    with pytest.raises(TypeError, match="n_workers"):
        cost.allreduce_time(8, 2.5, 0, 1e9)
    with pytest.raises(ValueError, match="rate"):
        cost.compute_time(1, 0)
    with pytest.raises(ValueError, match="vectors"):
        collectives.simulate_allreduce(np.ones(3), 0, 1)
