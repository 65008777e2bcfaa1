"""Chapter 5 widget: Newton's quadratic convergence, the Armijo search, the race."""

import numpy as np

from coursekit.objectives import Logistic
from coursekit.widgets import newton_race
from coursekit.widgets.newton import race_runs


def test_newton_is_quadratic_and_gradient_descent_linear_on_rosenbrock():
    """Near x*, Newton: e_{k+1} <= C e_k^2 (digits double); GD: e_{k+1} / e_k -> const < 1."""
    runs = race_runs(max_iter=3000)
    x_star = np.ones(2)
    newton_run = runs["Newton + line search"]
    assert newton_run.converged and newton_run.nit < 40
    e = np.linalg.norm(newton_run.path - x_star, axis=1)
    e = e[e > 0]
    close = np.flatnonzero(e[:-1] < 0.1)
    assert close.size >= 3
    assert np.all(e[close + 1] <= 30.0 * e[close] ** 2), e
    e_gd = np.linalg.norm(runs["gradient descent"].path - x_star, axis=1)[-500:]
    ratios = e_gd[1:] / e_gd[:-1]
    assert np.all((ratios > 0.99) & (ratios < 1.0)), ratios  # linear, barely below one


def test_race_runs_work_on_other_objectives():
    """The race is not tied to Rosenbrock: on a convex logistic loss Newton wins too."""
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(50), rng.standard_normal((50, 2))])
    y = (X[:, 1] + 0.5 * rng.standard_normal(50) > 0).astype(float)
    runs = race_runs(Logistic(X, y, l2=0.1), x0=np.zeros(3), max_iter=50)
    assert runs["Newton + line search"].converged
    assert runs["Newton + line search"].fun <= min(r.fun for r in runs.values()) + 1e-12


def test_newton_race_plays_through_the_iterations():
    widget = newton_race(steps=(0, 5, 30))
    assert widget.play is not None and len(set(widget.frames)) == 3
    widget.play.value = 2
    assert widget.stack.selected_index == 2
    assert "(converged)" in widget.stack.children[2].children[1].value
