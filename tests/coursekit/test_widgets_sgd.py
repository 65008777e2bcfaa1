"""Chapter 3 widgets: mini-batch gradient noise, equal sample budgets, why SGD needs decay."""

import numpy as np
import pytest

from coursekit.optimize import get_schedule
from coursekit.widgets import batch_size_explorer, schedule_animation
from coursekit.widgets.sgd import batch_size_runs, schedule_runs, sgd_problem


@pytest.fixture(scope="module")
def problem():
    return sgd_problem(n_samples=60, noise=1.0, seed=2)


def test_equal_sample_budget_for_every_batch_size(problem):
    runs = batch_size_runs(problem, [1, 7, 60], epochs=3)
    for b, r in runs.items():
        assert r.n_grad == 3 * problem.n_samples
        assert r.nit == 3 * -(-problem.n_samples // b)


def _floor(problem, lr, seeds=range(3), epochs=15):
    w_star = problem.solution()
    gaps = []
    for seed in seeds:
        r = schedule_runs(problem, {"c": None}, lr=lr, epochs=epochs, x0=w_star, seed=seed)["c"]
        gaps.append(np.mean(r.losses[-5 * problem.n_samples :]) - problem.value(w_star))
    return np.mean(gaps)


def test_constant_rate_noise_floor_grows_with_the_rate_and_decay_removes_it(problem):
    """Started AT the solution, constant-rate SGD leaves it and hovers at a gap ~ lr; 1/t
    decay keeps shrinking the gap (Robbins-Monro)."""
    floors = [_floor(problem, lr) for lr in (0.025, 0.05, 0.1)]
    assert floors[0] > 0
    ratios = np.array(floors[1:]) / np.array(floors[:-1])
    assert np.all((ratios > 1.5) & (ratios < 4.0)), floors
    w_star = problem.solution()
    runs = schedule_runs(
        problem, {"c": None, "1/t": get_schedule("1/t", decay=0.05)}, lr=0.1, epochs=40, seed=0
    )
    n = problem.n_samples
    tail = {k: np.mean(r.losses[-n:]) - problem.value(w_star) for k, r in runs.items()}
    assert tail["1/t"] < 0.1 * tail["c"], tail


def test_batch_size_explorer_moves_and_reports_the_noise():
    widget = batch_size_explorer(batch_sizes=(1, 200), epochs=2)
    first = widget.shown_frame
    widget.slider.index = 1
    assert widget.shown_frame != first
    text = widget.stack.children[1].children[1].value
    assert "off by 0 on average" in text  # the full batch has no noise


def test_schedule_animation_plays_through_the_epochs():
    widget = schedule_animation(epochs=3)
    assert widget.play is not None and len(widget.frames) == 3
    widget.play.value = 2
    assert widget.stack.selected_index == 2 and widget.shown_frame != widget.frames[0]
    assert "Epoch 3 of 3" in widget.stack.children[2].children[1].value
