"""Chapters 8-9 widgets: the workers' timelines and the offloading curves move with the slider."""

import numpy as np
import pytest

from coursekit.data import make_regression
from coursekit.objectives import LeastSquares
from coursekit.widgets.distributed import offload_explorer, workers_explorer


@pytest.fixture(scope="module")
def problem():
    X, y, _ = make_regression(256, 6, noise=0.3, seed=3)
    return LeastSquares(X, y)


OFF = dict(
    work=2e9, local_rate=1e10, remote_rate=4e10, data_bytes=4e6, result_bytes=4e5, latency=5e-3
)


def test_workers_explorer_slider_changes_the_picture(problem):
    w = workers_explorer(
        problem,
        np.zeros(6),
        (1, 2, 4),
        global_batch=16,
        steps=3,
        latency=1e-4,
        bandwidth=1e5,
        rates=1e6,
    )
    assert len(w.frames) == 3 and w.play is not None
    first = w.shown_frame
    w.slider.index = 2
    assert w.stack.selected_index == 2 and w.shown_frame != first
    w.play.value = 1
    assert w.slider.index == 1


def test_offload_explorer_slider_changes_the_picture():
    w = offload_explorer([1e5, 1e7], **OFF)
    first = w.shown_frame
    w.slider.index = 1
    assert w.shown_frame != first
    assert "does not pay" in w.stack.children[0].children[1].value
    assert "keep λ*" in w.stack.children[1].children[1].value
    assert offload_explorer([1e5, 1e7], value=1e7, **OFF).slider.index == 1
