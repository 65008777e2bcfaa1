"""Gradient compression: top-k keeps the largest entries, QSGD is unbiased, error feedback
loses nothing, and the byte counts of the formulas."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.distributed.compression import Compressor, compress, compressed_bytes


def test_topk_keeps_the_largest_entries():
    v = np.array([[3.0, -5.0, 1.0, 0.5], [0.1, 0.2, -0.3, 0.0]])
    out = compress(v, "topk", k=2)
    np.testing.assert_array_equal(out, [[3.0, -5.0, 0, 0], [0, 0.2, -0.3, 0]])


def test_quantisation_is_unbiased():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(1, 6))
    draws = np.stack([compress(v, "quantize", levels=2, rng=rng)[0] for _ in range(4000)])
    se = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - v[0]) < 5 * se + 1e-12)


def test_byte_counts():
    assert compressed_bytes(4, 8) == 32
    assert compressed_bytes(4, 8, "topk", k=2) == 2 * (8 + 4)  # values and 32-bit indices
    assert compressed_bytes(4, 8, "quantize", levels=4) == 8 + 2  # norm; 4 entries x 4 bits


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 5), steps=st.integers(1, 6))
def test_error_feedback_delays_but_never_loses(seed, k, steps):
    """Top-k with memory: everything a worker was given is either sent or still in its memory,
    sum_t g_t = sum_t sent_t + e_T (workers that do not send keep their memory untouched)."""
    rng = np.random.default_rng(seed)
    comp = Compressor("topk", n_workers=3, dim=5, k=k)
    given_sum, sent_sum = np.zeros((3, 5)), np.zeros((3, 5))
    for _ in range(steps):
        senders = rng.random(3) < 0.7
        g = rng.normal(size=(int(senders.sum()), 5))
        sent = comp(g, senders)
        assert (np.count_nonzero(sent, axis=1) <= k).all()
        given_sum[senders] += g
        sent_sum[senders] += sent
    np.testing.assert_allclose(sent_sum + comp.memory, given_sum, atol=1e-12)


def test_quantizing_compressor_matches_compress():
    a = Compressor("quantize", n_workers=2, dim=3, levels=4, rng=np.random.default_rng(5))
    v = np.array([[1.0, -2.0, 0.5]])
    np.testing.assert_array_equal(
        a(v, [1]), compress(v, "quantize", levels=4, rng=np.random.default_rng(5))
    )
    assert a.memory is None
