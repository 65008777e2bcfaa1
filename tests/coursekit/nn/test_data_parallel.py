"""Data parallelism inside one process (coursekit.nn.data_parallel): the batch split among
threads gives the whole batch's loss and gradient, whatever the batch and thread counts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit import optimize
from coursekit.nn import conv_fast, data_parallel, layers
from coursekit.nn.model import vgg

threadpoolctl = pytest.importorskip("threadpoolctl")


def small(seed=0, dtype=np.float64):
    return vgg([3, "M", 4], input_shape=(1, 6, 6), n_classes=3, seed=seed, dtype=dtype)


def data(n, seed=1, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 6, 6)).astype(dtype), rng.integers(0, 3, n)


def whole_batch(model, x, y):
    """Loss and gradients of the whole batch in one pass on the calling thread."""
    loss, dlogits = layers.softmax_cross_entropy(model.forward(x), y)
    return loss, {k: g.copy() for k, g in model.backward(dlogits).items()}


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 9), threads=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_shards_give_the_whole_batch_gradient(n, threads, seed):
    # Batches smaller than the thread count, odd sizes, uneven shards: the weighted sum of
    # the shards' gradients is the batch's gradient (float64: only the order of sums differs).
    x, y = data(n, seed)
    loss_1, grads_1 = whole_batch(small(seed), x, y)
    model = small(seed)
    loss_t, grads_t = data_parallel.loss(model, x, y, threads)
    assert loss_t == pytest.approx(loss_1, rel=1e-13)
    assert grads_t is model.grads
    for k, g in grads_1.items():
        assert np.max(np.abs(grads_t[k] - g)) <= 1e-13 * max(np.max(np.abs(g)), 1e-300), k


@settings(max_examples=30)
@given(n=st.integers(0, 500), parts=st.integers(1, 8))
def test_shard_bounds_split_evenly(n, parts):
    bounds = data_parallel.shard_bounds(n, parts)
    sizes = np.diff(bounds)
    assert bounds[0] == 0 and bounds[-1] == n and len(sizes) == parts
    assert sizes.min() >= 0 and sizes.max() - sizes.min() <= 1


def test_model_loss_shards_with_two_blas_threads(monkeypatch):
    # Through VGG.loss, as a training step calls it: with two BLAS threads allowed and the
    # threshold at zero the batch is split (the model keeps a replica and refuses a backward
    # on its shard-0 caches); float32 gradients agree with one thread to float32 round-off.
    monkeypatch.setattr(data_parallel, "MIN_SHARD_FLOPS", 1)
    x, y = data(17, dtype=np.float32)
    grads, models = {}, {}
    for threads in (1, 2):
        models[threads] = model = small(dtype=np.float32)
        with threadpoolctl.threadpool_limits(threads):
            grads[threads] = model.loss(x, y)[1]
            assert conv_fast.blas_threads() == threads  # restored after the step
    assert len(models[1]._replicas) == 0 and len(models[2]._replicas) == 1
    with pytest.raises(RuntimeError, match="forward"):
        models[2].backward(np.zeros((17, 3), np.float32))
    for k, g1 in grads[1].items():
        assert grads[2][k].dtype == np.float32
        assert np.max(np.abs(grads[2][k] - g1)) <= 1e-5 * np.max(np.abs(g1)), k


def test_training_on_shards_descends_like_the_whole_batch(monkeypatch):
    # Ten Adam steps: the loss sequence with 3 shards per step is the one-thread sequence
    # (float64), and it decreases.
    monkeypatch.setattr(data_parallel, "MIN_SHARD_FLOPS", 1)
    x, y = data(11, seed=3)
    histories = {}
    for threads in (1, 3):
        model = small(seed=2)
        rule = optimize.get_rule("adam")
        states = {k: rule.init(v) for k, v in model.params.items()}
        history = []
        for _ in range(10):
            loss, grads = data_parallel.loss(model, x, y, threads)
            history.append(loss)
            for k in model.params:
                model.params[k] = rule.update(model.params[k], grads[k], 1e-2, states[k])
        histories[threads] = np.array(history)
    assert np.allclose(histories[3], histories[1], rtol=1e-10, atol=0)
    assert histories[1][-1] < 0.8 * histories[1][0]


def test_small_steps_stay_on_one_thread():
    model = vgg(input_shape=(1, 8, 8))  # the digits' network
    per_image = data_parallel.MIN_SHARD_FLOPS
    from coursekit.nn.analysis import step_flops

    flops_1 = step_flops(model, 1)
    enough = -(-2 * per_image // flops_1)  # images for two shards of MIN_SHARD_FLOPS
    assert data_parallel.threads_for(model, enough, 2) == 2
    assert data_parallel.threads_for(model, enough - 1, 2) == 1
    assert data_parallel.threads_for(model, 10**6, 1) == 1
    assert data_parallel.threads_for(model, 10**6, 3) == 3


def test_bad_labels_name_y():
    x, _ = data(4)
    with pytest.raises(ValueError, match=r"y must have shape \(4,\)"):
        data_parallel.loss(small(), x, [0, 1], 2)


def test_a_forked_child_shards_with_its_own_pool(monkeypatch):
    # The parent's pool threads do not survive a fork; the child must start its own
    # instead of waiting forever for shards nobody runs.
    import multiprocessing as mp

    monkeypatch.setattr(data_parallel, "MIN_SHARD_FLOPS", 1)
    x, y = data(6)
    data_parallel.loss(small(), x, y, 2)  # the parent's pool exists now
    expected = whole_batch(small(), x, y)[0]
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_child_loss, (x, y)).get(timeout=60)
    assert got == pytest.approx(expected, rel=1e-13)


def _child_loss(x, y):
    data_parallel.MIN_SHARD_FLOPS = 1
    return data_parallel.loss(small(), x, y, 2)[0]
