"""Laws of the simulated cluster: exactness against single-node SGD, the clock, the strategies."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit import optimize
from coursekit.data import make_classification, make_regression
from coursekit.distributed import cost
from coursekit.distributed.simulate import Cluster, simulate
from coursekit.objectives import LeastSquares, Logistic


@pytest.fixture(scope="module")
def ls():
    X, y, _ = make_regression(n_samples=90, n_features=4, noise=0.3, seed=2)
    return LeastSquares(X, y)


class GradOnly:
    """A FiniteSum seen through value/grad only (how a CNN would be wrapped)."""

    def __init__(self, f):
        self.f, self.n_samples = f, f.n_samples

    def value(self, x, idx=None):
        return self.f.value(x, idx)

    def grad(self, x, idx=None):
        return self.f.grad(x, idx)


def _epochs_steps(n, batch, epochs):
    return epochs * -(-n // batch)


@pytest.mark.parametrize("p", [1, 2, 3, 4])
@pytest.mark.parametrize("rule", [None, "momentum", "adam"])
def test_sync_equals_single_node_sgd_with_the_union_batch(ls, p, rule):
    b = 7  # 90 rows are not a multiple of p * 7: short last batches and uneven shards too
    steps = _epochs_steps(ls.n_samples, p * b, 3)
    x0 = np.linspace(-1, 1, 4)
    ref = optimize.sgd(ls, x0, lr=0.05, batch_size=p * b, epochs=3, seed=11, rule=rule)
    for algorithm in ["naive", "ring"]:
        h = simulate(ls, x0, p, "sync", steps, lr=0.05, batch_size=b, seed=11, rule=rule,
                     algorithm=algorithm)  # fmt: skip
        np.testing.assert_allclose(h.params, ref.path, rtol=0, atol=1e-12)
        np.testing.assert_allclose(h.losses, ref.losses, rtol=0, atol=1e-12)


def test_sync_with_a_schedule_and_logistic_loss():
    X, y = make_classification(120, 3, seed=4)
    f = Logistic(X, y, l2=0.01)
    steps = _epochs_steps(120, 3 * 10, 2)
    ref = optimize.sgd(f, np.zeros(3), lr=0.5, batch_size=30, epochs=2, seed=1, schedule="1/t")
    h = simulate(f, np.zeros(3), 3, "sync", steps, lr=0.5, batch_size=10, seed=1, schedule="1/t")
    np.testing.assert_allclose(h.params, ref.path, rtol=0, atol=1e-12)


def test_grad_only_objective_gives_the_same_run(ls):
    # The per-worker loop (no sample_grads) and the one-call path agree.
    a = simulate(ls, np.zeros(4), 3, "sync", 20, lr=0.1, batch_size=5, seed=0)
    b = simulate(GradOnly(ls), np.zeros(4), 3, "sync", 20, lr=0.1, batch_size=5, seed=0)
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(a.wall_clock, b.wall_clock)


def test_local_sgd_with_period_one_is_sync(ls):
    steps = _epochs_steps(90, 4 * 7, 2)
    a = simulate(ls, np.zeros(4), 4, "local_sgd", steps, lr=0.1, batch_size=7, seed=5, period=1)
    b = simulate(ls, np.zeros(4), 4, "sync", steps, lr=0.1, batch_size=7, seed=5)
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-12)


def test_time_to_loss_reads_the_clock_at_the_first_hit(ls):
    h = simulate(ls, np.zeros(4), 3, "sync", 40, lr=0.1, batch_size=5)
    target = h.losses[17]
    t = h.time_to_loss(target)
    first = np.argmax(h.losses <= target)
    assert t == h.wall_clock[first] and first <= 17
    assert h.time_to_loss(-1.0) == np.inf


def test_local_sgd_communicates_every_period(ls):
    h = simulate(ls, np.zeros(4), 4, "local_sgd", 12, lr=0.1, batch_size=5, seed=0, period=4)
    sent = np.flatnonzero(h.bytes_sent > 0)
    np.testing.assert_array_equal(sent, [3, 7, 11])
    sync = simulate(ls, np.zeros(4), 4, "sync", 12, lr=0.1, batch_size=5, seed=0)
    assert h.wall_clock[-1] < sync.wall_clock[-1]
    assert h.losses[-1] < h.losses[0]


def test_async_with_one_worker_is_sgd(ls):
    ref = optimize.sgd(ls, np.ones(4), lr=0.1, batch_size=6, epochs=2, seed=9)
    h = simulate(ls, np.ones(4), 1, "async", ref.nit, lr=0.1, batch_size=6, seed=9)
    np.testing.assert_allclose(h.params, ref.path, rtol=0, atol=1e-12)
    assert (h.staleness == 0).all()


def test_async_staleness_of_equal_workers_is_p_minus_one(ls):
    p = 5
    cl = Cluster(p, latency=0.0, bandwidth=np.inf)
    h = simulate(ls, np.zeros(4), cluster=cl, strategy="async", steps=30, batch_size=2, lr=0.05)
    np.testing.assert_array_equal(h.staleness[:p], np.arange(p))
    assert (h.staleness[p:] == p - 1).all()
    assert np.all(np.diff(h.wall_clock) >= 0)


@pytest.mark.parametrize("algorithm", cost.ALGORITHMS)
@pytest.mark.parametrize("p", [2, 3, 8])
def test_no_latency_infinite_bandwidth_gives_speedup_p(algorithm, p):
    X, y, _ = make_regression(n_samples=240, n_features=4, seed=0)
    ls = LeastSquares(X, y)
    cl = Cluster(p, latency=0.0, bandwidth=np.inf)
    b = 5  # 240 rows = a whole number of p * 5 batches: equal shards in every step
    h = simulate(ls, np.zeros(4), cluster=cl, strategy="sync", steps=60, batch_size=b,
                 algorithm=algorithm, shards=2)  # fmt: skip
    assert h.speedup == pytest.approx(p, rel=1e-12)
    slow = Cluster(p, latency=0.0, bandwidth=np.inf, straggler_prob=0.3, straggler_slowdown=4)
    h2 = simulate(ls, np.zeros(4), cluster=slow, steps=60, batch_size=b, algorithm=algorithm)
    assert h2.speedup < p


@pytest.mark.parametrize("algorithm", cost.ALGORITHMS)
def test_clock_of_a_step_is_compute_plus_the_allreduce_formula(ls, algorithm):
    p, b, k = 4, 5, 2
    cl = Cluster(p, rates=1e6, latency=1e-4, bandwidth=1e5)
    h = simulate(ls, np.zeros(4), cluster=cl, steps=6, batch_size=b, algorithm=algorithm,
                 shards=k)  # fmt: skip
    N = 4 * 8
    # A dedicated central node with p workers is the naive formula on p + 1 nodes.
    nodes = p + 1 if algorithm == "naive" else p
    comm = cost.allreduce_time(N, nodes, cl.latency, cl.bandwidth, algorithm, k)
    compute = cost.compute_time(cost.linear_model_flops(b, 4), 1e6)
    # 90 rows, batches of 20: steps 0-3 are full, step 4 is the short end of the epoch.
    step = np.diff(h.wall_clock)
    assert step[0] == pytest.approx(compute + comm, rel=1e-12)
    assert h.comm_time[0] == pytest.approx(comm, rel=1e-12)
    np.testing.assert_allclose(h.bytes_sent, cost.allreduce_bytes(N, nodes, algorithm), rtol=0)
    if algorithm == "naive":
        # A worker served early by the central node starts its next shard while the others
        # still wait for theirs: steps overlap, so later steps are shorter, never longer.
        assert (step[1:4] < compute + comm).all()
    else:
        np.testing.assert_allclose(step[:4], compute + comm, rtol=1e-12)


@pytest.mark.parametrize("algorithm", ["naive", "ring"])
def test_message_bytes_prices_another_models_gradient(ls, algorithm):
    """The clock with message_bytes=N is the formula with N; the iterates do not change."""
    p, b, N = 3, 5, 70_632.0
    cl = Cluster(p, rates=1e6, latency=1e-4, bandwidth=1e7)
    h = simulate(
        ls, np.zeros(4), cluster=cl, steps=3, batch_size=b, algorithm=algorithm, message_bytes=N
    )
    plain = simulate(ls, np.zeros(4), cluster=cl, steps=3, batch_size=b, algorithm=algorithm)
    np.testing.assert_array_equal(h.x, plain.x)
    nodes = p + 1 if algorithm == "naive" else p
    comm = cost.allreduce_time(N, nodes, cl.latency, cl.bandwidth, algorithm)
    assert h.comm_time[0] == pytest.approx(comm, rel=1e-12)
    assert h.comm_time[0] > plain.comm_time[0]
    with pytest.raises(ValueError, match="message_bytes cannot be combined with compression"):
        simulate(
            ls, np.zeros(4), cluster=cl, steps=1, batch_size=b, message_bytes=N, compression="topk"
        )


def test_timeline_accounts_for_every_second(ls):
    cl = Cluster(6, rates=np.linspace(1e6, 3e6, 6), latency=1e-4, bandwidth=1e6, jitter=0.3,
                 straggler_prob=0.1)  # fmt: skip
    for algorithm in ["naive", "parameter_server", "ring"]:
        h = simulate(ls, np.zeros(4), cluster=cl, steps=10, batch_size=3, algorithm=algorithm)
        tl = h.timeline
        seq = [tl.compute_start, tl.compute_end, tl.send_start, tl.send_end, tl.recv_start,
               tl.recv_end]  # fmt: skip
        for a, b in zip(seq, seq[1:], strict=False):
            assert (b >= a - 1e-15).all()
        # A worker starts computing when it has received the parameters.
        np.testing.assert_array_equal(tl.compute_start[1:], tl.recv_end[:-1])
        totals = tl.totals()
        spent = sum(totals[ph] for ph in totals)
        np.testing.assert_allclose(spent, tl.recv_end[-1], rtol=1e-12)
        np.testing.assert_allclose(h.wall_clock[1:], tl.recv_end.max(axis=1))
        if algorithm == "naive":
            # The central node receives one gradient at a time.
            for t in range(10):
                order = np.argsort(tl.send_start[t])
                assert (tl.send_start[t][order][1:] >= tl.send_end[t][order][:-1] - 1e-15).all()


def test_backup_workers_never_wait_for_the_slowest(ls):
    p, b = 4, 1

    def run(slow_rate, strategy, algorithm="naive"):
        rates = np.array([1e6, 1.3e6, 0.8e6, slow_rate])
        cl = Cluster(p, rates=rates, latency=1e-5, bandwidth=1e7, jitter=0.2)
        kw = dict(backups=b) if strategy == "backup" else {}
        return simulate(ls, np.zeros(4), cluster=cl, strategy=strategy, steps=20, batch_size=4,
                        algorithm=algorithm, **kw)  # fmt: skip

    for algorithm in ["naive", "parameter_server"]:
        a, c = run(1e3, "backup", algorithm), run(1e-3, "backup", algorithm)
        # However slow the slowest worker gets, the backup run is the same, to the second.
        np.testing.assert_array_equal(a.wall_clock, c.wall_clock)
        np.testing.assert_array_equal(a.params, c.params)
        # The slowest shard is always the one dropped: 16-row batches give shards of 4, and the
        # 10-row end of an epoch gives 3, 3, 2, 2 (the slowest worker, last, has 2).
        assert set(a.samples.tolist()) == {12, 8}
        sync = run(1e3, "sync", algorithm)
        assert sync.wall_clock[-1] > 10 * a.wall_clock[-1]
    # With equal workers, backups save the wait for stragglers.
    cl = Cluster(8, straggler_prob=0.2, straggler_slowdown=20, latency=0, bandwidth=np.inf)
    s = simulate(ls, np.zeros(4), cluster=cl, steps=30, batch_size=2)
    bk = simulate(ls, np.zeros(4), cluster=cl, steps=30, batch_size=2, strategy="backup",
                  backups=2)  # fmt: skip
    assert bk.wall_clock[-1] < s.wall_clock[-1]


def test_proportional_split_balances_heterogeneous_workers(ls):
    rates = np.array([1e6, 2e6, 4e6])
    cl = Cluster(3, rates=rates, latency=0.0, bandwidth=np.inf)
    eq = simulate(ls, np.zeros(4), cluster=cl, steps=10, batch_size=10, algorithm="ring")
    pr = simulate(ls, np.zeros(4), cluster=cl, steps=10, batch_size=10, algorithm="ring",
                  split="proportional")  # fmt: skip
    assert pr.wall_clock[-1] < 0.7 * eq.wall_clock[-1]
    # Every worker computes ~ 30 * f_i / sum f samples: the waits are below one sample's time.
    wait = pr.timeline.send_start - pr.timeline.compute_end
    assert wait.max() <= cost.linear_model_flops(1, 4) / rates.min() + 1e-15
    # Same gradients, only the clock changes: the union batch is the same.
    np.testing.assert_allclose(pr.params, eq.params, atol=1e-12)


def test_topk_with_all_entries_is_uncompressed_and_saves_bytes_otherwise(ls):
    a = simulate(ls, np.zeros(4), 3, "sync", 20, lr=0.1, batch_size=5, compression="topk", k=4)
    b = simulate(ls, np.zeros(4), 3, "sync", 20, lr=0.1, batch_size=5)
    np.testing.assert_allclose(a.params, b.params, atol=1e-12)
    c = simulate(ls, np.zeros(4), 3, "sync", 300, lr=0.1, batch_size=5, compression="topk", k=1)
    # Up: 1 value + 1 index per worker; down: the dense parameters.
    np.testing.assert_allclose(c.bytes_sent, 3 * (8 + 4) + 3 * 32)
    # Error feedback keeps the method convergent to the same neighbourhood.
    assert c.losses[-1] < 1.5 * ls.value(ls.solution()) + 0.05


def test_quantised_training_converges(ls):
    h = simulate(ls, np.zeros(4), 3, "sync", 200, lr=0.05, batch_size=5, compression="quantize",
                 levels=4)  # fmt: skip
    assert h.losses[-1] < 0.2 * h.losses[0]
    # Up: the norm and 4 entries x 4 bits per worker; down: the dense parameters.
    np.testing.assert_allclose(h.bytes_sent, 3 * (8 + 2) + 3 * 32)


def test_divergence_stops_without_nans(ls):
    h = simulate(ls, np.zeros(4), 2, "sync", 200, lr=50.0, batch_size=5)
    assert not h.converged and h.message.startswith("diverged at iteration")
    assert np.isfinite(h.losses).all() and np.isfinite(h.params).all()
    assert h.params.shape[0] == h.losses.size == h.wall_clock.size == h.nit + 1
    assert h.timeline.compute_start.shape[0] == h.nit
    # It stops where single-node SGD with the union batch stops.
    ref = optimize.sgd(ls, np.zeros(4), lr=50.0, batch_size=10, epochs=30)
    assert ref.message == h.message and ref.nit == h.nit


def test_same_seed_same_history_and_progress_bar(ls):
    cl = Cluster(3, jitter=0.5, straggler_prob=0.2)
    a = simulate(ls, np.zeros(4), cluster=cl, steps=10, batch_size=3, seed=4, progress=True)
    b = simulate(ls, np.zeros(4), cluster=cl, steps=10, batch_size=3, seed=4)
    c = simulate(ls, np.zeros(4), cluster=cl, steps=10, batch_size=3, seed=5)
    np.testing.assert_array_equal(a.wall_clock, b.wall_clock)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.wall_clock, c.wall_clock)


def test_many_workers_run_quickly(ls):
    X, y, _ = make_regression(n_samples=4096, n_features=8, seed=0)
    f = LeastSquares(X, y)
    h = simulate(f, np.zeros(8), 1024, "sync", 50, lr=0.2, batch_size=2, record_params=False,
                 cluster=Cluster(1024, jitter=0.1))  # fmt: skip
    assert h.losses[-1] < 0.1 * h.losses[0]
    assert h.timeline.compute_start.shape == (50, 1024)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(strategy="gossip"), ValueError, "strategy must be one of 'sync', 'backup'"),
        (dict(algorithm="star"), ValueError, "algorithm must be one of 'naive'"),
        (dict(n_workers=0), ValueError, "n_workers must be >= 1"),
        (dict(lr=0.0), ValueError, "lr must be > 0"),
        (dict(batch_size=40), ValueError, "n_workers \\* batch_size <= n_samples"),
        (dict(strategy="backup", backups=3), ValueError, "backups must be in \\[0, "),
        (dict(strategy="backup", backups=1, algorithm="ring"), ValueError, "'naive' or"),
        (dict(compression="topk", algorithm="ring"), ValueError, "compression needs"),
        (dict(compression="zip"), ValueError, "compression must be one of 'topk'"),
        (dict(strategy="async", algorithm="ring"), ValueError, "algorithm must be 'naive'"),
        (dict(x0=np.zeros(3)), ValueError, "x0|shape"),
        (dict(x0=np.array([np.nan, 0, 0, 0])), ValueError, "x0 must be finite"),
        (dict(split="random"), ValueError, "split must be one of 'equal', 'proportional'"),
    ],
)
def test_bad_input(ls, kwargs, err, match):
    args = dict(objective=ls, x0=np.zeros(4), n_workers=3, steps=2, batch_size=5)
    args.update(kwargs)
    with pytest.raises(err, match=match):
        simulate(**args)


def test_bad_cluster():
    with pytest.raises(ValueError, match="bandwidth must be > 0"):
        Cluster(2, bandwidth=-1.0)
    with pytest.raises(ValueError, match="rates must have length 3"):
        Cluster(3, rates=[1.0, 2.0])
    with pytest.raises(ValueError, match="straggler_prob must lie in \\[0, 1\\]"):
        Cluster(2, straggler_prob=1.5)
    with pytest.raises(TypeError, match="objective must have a value"):
        simulate(object(), np.zeros(2))


@settings(max_examples=25, deadline=None)
@given(
    p=st.integers(1, 5), b=st.integers(1, 9), seed=st.integers(0, 2**16), lr=st.floats(0.01, 0.2)
)
def test_sync_equals_union_batch_sgd_property(p, b, seed, lr):
    X, y, _ = make_regression(n_samples=47, n_features=3, seed=seed % 7)
    f = LeastSquares(X, y)
    if p * b >= f.n_samples:
        return
    ref = optimize.sgd(f, np.ones(3), lr=lr, batch_size=p * b, epochs=2, seed=seed)
    h = simulate(f, np.ones(3), p, "sync", ref.nit, lr=lr, batch_size=b, seed=seed,
                 timeline=False)  # fmt: skip
    np.testing.assert_allclose(h.params, ref.path, rtol=0, atol=1e-12)


def test_timeline_intervals_are_ready_for_a_gantt_chart(ls):
    cl = Cluster(3, rates=[1e6, 2e6, 3e6], latency=1e-4, bandwidth=1e6)
    h = simulate(ls, np.zeros(4), cluster=cl, steps=4, batch_size=3)
    iv = h.timeline.intervals(steps=slice(0, 2), workers=[0, 2])
    assert set(iv["phase"]) == {"compute", "wait", "send", "receive"}
    assert set(iv["worker"]) == {0, 2} and set(iv["step"]) == {0, 1}
    assert (iv["end"] > iv["start"]).all()
    # With a free network the fastest worker idles the longest (it waits for the slowest);
    # with a slow network the last in the central node's queue waits the longest instead.
    free = Cluster(3, rates=[1e6, 2e6, 3e6], latency=0.0, bandwidth=np.inf)
    h = simulate(ls, np.zeros(4), cluster=free, steps=1, batch_size=3)
    first = h.timeline.intervals(steps=[0])
    idle = [first["end"][(first["worker"] == w) & (first["phase"] == "wait")].sum()
            - first["start"][(first["worker"] == w) & (first["phase"] == "wait")].sum()
            for w in range(3)]  # fmt: skip
    assert idle[2] > idle[1] > idle[0]
