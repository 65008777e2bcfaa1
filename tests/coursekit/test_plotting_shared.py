"""The drawing helpers several widgets share: channel mosaics and per-worker timelines."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.data import make_regression
from coursekit.distributed import Cluster
from coursekit.distributed.simulate import simulate
from coursekit.objectives import LeastSquares
from coursekit.plotting import channel_mosaic, gantt, new_figure


@pytest.fixture(scope="module")
def problem():
    X, y, _ = make_regression(256, 6, noise=0.3, seed=3)
    return LeastSquares(X, y)


@settings(max_examples=25, deadline=None)
@given(
    f=st.integers(1, 11),
    h=st.integers(1, 5),
    w=st.integers(1, 6),
    pad=st.integers(0, 2),
    ncols=st.one_of(st.none(), st.integers(1, 5)),
    seed=st.integers(0, 99),
)
def test_channel_mosaic_places_each_scaled_channel(f, h, w, pad, ncols, seed):
    rng = np.random.default_rng(seed)
    maps = np.maximum(rng.standard_normal((f, h, w)), 0)
    maps[0] = 0.0  # a silent channel stays zero
    m = channel_mosaic(maps, ncols=ncols, pad=pad)
    cols = int(np.ceil(np.sqrt(f))) if ncols is None else ncols
    rows = -(-f // cols)
    assert m.shape == (rows * (h + pad) - pad, cols * (w + pad) - pad)
    assert np.sum(~np.isnan(m)) == f * h * w  # tiles only; separators and empty slots NaN
    for i in range(f):
        r, c = divmod(i, cols)
        tile = m[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w]
        peak = maps[i].max()
        np.testing.assert_allclose(tile, maps[i] / peak if peak > 0 else 0.0, rtol=1e-12)


def test_channel_mosaic_rejects_negative_maps():
    with pytest.raises(ValueError, match="maps"):
        channel_mosaic(-np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="maps"):
        channel_mosaic(np.ones((3, 3)))


def test_gantt_draws_one_bar_per_interval(problem):
    h = simulate(
        problem,
        np.zeros(6),
        steps=3,
        batch_size=4,
        cluster=Cluster(3, latency=1e-4, bandwidth=1e5, jitter=0.5),
    )
    iv = h.timeline.intervals()
    _, ax = new_figure()
    gantt(iv, ax=ax)
    bars = sum(len(coll.get_paths()) for coll in ax.collections)
    assert bars == len(iv["start"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2"]


def test_gantt_needs_the_timeline_keys():
    with pytest.raises(ValueError, match="intervals"):
        gantt({"worker": []})
