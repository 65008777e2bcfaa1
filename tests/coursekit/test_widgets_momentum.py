"""Chapter 4 widget: the runs use the real rules, the frames follow beta (the rate itself is
tested in test_optimize_theory.py)."""

import numpy as np

from coursekit.objectives import Quadratic
from coursekit.optimize import Momentum, Nesterov, gradient_descent
from coursekit.widgets import momentum_explorer
from coursekit.widgets.momentum import momentum_sweep


def test_sweep_uses_the_real_rules():
    f, (r,) = momentum_sweep(10.0, [0.6], [1.0, -2.0], max_iter=20, tol=0.0, seed=4)
    g = Quadratic.with_condition_number(10.0, seed=4)
    ref = gradient_descent(g, [1.0, -2.0], lr=1 / g.L, max_iter=20, tol=0.0, rule=Momentum(0.6))
    np.testing.assert_array_equal(r.path, ref.path)
    _, (rn,) = momentum_sweep(10.0, [0.6], [1.0, -2.0], max_iter=5, tol=0.0, seed=4, nesterov=True)
    refn = gradient_descent(f, [1.0, -2.0], lr=1 / f.L, max_iter=5, tol=0.0, rule=Nesterov(0.6))
    np.testing.assert_array_equal(rn.path, refn.path)


def test_explorer_frames_follow_beta():
    widget = momentum_explorer(kappa=25.0, betas=(0.0, 0.64), max_iter=60)
    first = widget.shown_frame
    widget.slider.index = 1
    assert widget.shown_frame != first
    assert "ρ = 0.8000" in widget.stack.children[1].children[1].value  # 1 - 1/sqrt(25)
