"""The chapter widgets, driven from Python: controls change what is shown, frames are correct."""

import ipywidgets as widgets
import numpy as np
import pytest

from coursekit.objectives import Quadratic
from coursekit.optimize import gradient_descent
from coursekit.plotting import new_figure
from coursekit.widgets import (
    condition_number_explorer,
    frame_slider,
    learning_rate_explorer,
)
from coursekit.widgets.gd import LR_MULTIPLES, condition_number_sweep, learning_rate_sweep

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _line_figure(slope):
    fig, ax = new_figure(3, 2)
    ax.plot([0, 1], [0, slope])
    return fig


def _js_links_between(widget, source, target):
    """The widget's jslink models (which the browser runs) that link ``source`` to ``target``."""

    def ends(a, b):
        return {(a[0].model_id, a[1]), (b[0].model_id, b[1])}

    return [
        link
        for link in widget.js_links
        if isinstance(link, widgets.jslink(source, target).__class__)
        and ends(link.source, link.target) == ends(source, target)
    ]


def test_frame_slider_moves_the_shown_frame():
    widget = frame_slider([1.0, 2.0, 3.0], _line_figure, description="slope")
    assert len(widget.frames) == 3
    assert all(png.startswith(PNG_SIGNATURE) for png in widget.frames)
    assert len(set(widget.frames)) == 3, "different values must draw different pictures"
    first = widget.shown_frame
    widget.slider.index = 2
    assert widget.stack.selected_index == 2
    assert widget.shown_frame != first
    assert widget.shown_frame == widget.frames[2]


def test_frame_slider_is_linked_in_the_browser_too():
    widget = frame_slider([1.0, 2.0], _line_figure, description="slope", play=True)
    assert _js_links_between(widget, (widget.slider, "index"), (widget.stack, "selected_index"))
    assert _js_links_between(widget, (widget.play, "value"), (widget.slider, "index"))
    widget.play.value = 1
    assert widget.stack.selected_index == 1


def test_frame_slider_starts_at_the_requested_value_and_captions_each_frame():
    widget = frame_slider(
        [1.0, 2.0, 3.0],
        _line_figure,
        description="slope",
        value=2.0,
        caption=lambda v: f"slope {v}",
    )
    assert widget.slider.index == 1 and widget.stack.selected_index == 1
    texts = [child.children[1].value for child in widget.stack.children]
    for v, text in zip([1.0, 2.0, 3.0], texts, strict=True):
        assert f"slope {v}" in text


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"values": []}, "values"),
        ({"values": [1.0, 2.0], "labels": ["a"]}, "labels"),
        ({"values": [1.0, 2.0], "labels": ["a", "a"]}, "labels"),
        ({"values": [1.0, 2.0], "value": 5.0}, "value"),
    ],
)
def test_frame_slider_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        frame_slider(draw=_line_figure, description="slope", **kwargs)


def test_learning_rate_sweep_obeys_the_stability_limit():
    """GD on a quadratic converges exactly for lr < 2/L and diverges beyond it."""
    f = Quadratic.with_condition_number(10.0, dim=2, seed=3)
    lipschitz = np.linalg.eigvalsh(f.A).max()
    multiples = [0.5, 1.0, 1.9, 2.1, 2.5]
    results = learning_rate_sweep(
        f, [-4.0, 2.5], [c / lipschitz for c in multiples], max_iter=20_000, tol=1e-8
    )
    for c, r in zip(multiples, results, strict=True):
        if c < 2:
            assert r.converged, (c, r.message)
            np.testing.assert_allclose(r.x, f.minimizer, atol=1e-7)
        else:
            assert not r.converged and "diverged" in r.message, (c, r.message)
            assert np.all(np.isfinite(r.path))


def test_condition_number_sweep_gap_falls_exactly_as_q_to_the_2k():
    """With lr = 2/(L+mu) in 2-D both eigen-directions shrink by q each step."""
    for f, r in condition_number_sweep([3.0, 30.0], [-4.0, 2.5], max_iter=40, tol=0.0):
        kappa = np.linalg.cond(f.A)
        q = (kappa - 1) / (kappa + 1)
        k = np.arange(len(r.losses))
        gap = r.losses - f.value(f.minimizer)
        np.testing.assert_allclose(gap[:30], gap[0] * q ** (2 * k[:30]), rtol=1e-6)


def test_learning_rate_explorer_frames_follow_the_runs():
    widget = learning_rate_explorer(kappa=10.0, max_iter=30)
    assert len(widget.frames) == len(LR_MULTIPLES)
    assert widget.slider.label == "1"
    start = widget.shown_frame
    widget.slider.index = len(LR_MULTIPLES) - 1  # beyond 2/L
    assert widget.shown_frame != start
    caption = widget.stack.children[widget.stack.selected_index].children[1].value
    # 30 steps at 2.2/L multiply the loss by about 1.44**30: growing, not yet past the
    # optimisers' blow-up threshold.
    assert "diverging: the loss grew" in caption
    caption_at_one = widget.stack.children[LR_MULTIPLES.index(1.0)].children[1].value
    f = Quadratic.with_condition_number(10.0, dim=2, seed=1)
    r = gradient_descent(f, [-4.0, 2.5], lr=1.0 / 10.0, max_iter=30, tol=1e-6)
    expected = f"converged in {r.nit} steps" if r.converged else f"after {r.nit} steps"
    assert expected in caption_at_one


def test_condition_number_explorer_changes_with_kappa():
    widget = condition_number_explorer(kappas=(1, 10, 100), max_iter=50)
    frames = set()
    for i in range(3):
        widget.slider.index = i
        frames.add(widget.shown_frame)
    assert len(frames) == 3
    widget.slider.index = 0
    assert "converged in 1 steps" in widget.stack.children[0].children[1].value
