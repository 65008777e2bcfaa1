"""What each assignment's source notebook must hold, for the checks every assignment gets.

:mod:`test_assignments` runs the same checks over every folder of ``exercises/`` (structure,
the solution passes, the release's stubs fail, no coursekit needed, an answer importing
coursekit fails where graded); this table gives each one the facts those checks compare
against, written down independently of the notebook: its autograded test cells in order, its
points, its manually graded cells, and one answer that imports coursekit. A new assignment
folder without an entry here fails ``test_every_assignment_has_an_entry`` with what to add.
Each assignment's own laws and wrong answers stay in ``test_<assignment>.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Spec:
    """The facts of one assignment that the shared checks compare the notebook against."""

    #: The autograded test cells (grade and not solution), in the notebook's order; Part k of
    #: the introduction is ``tests[k - 1]``.
    tests: tuple[str, ...]
    #: Points of the whole assignment (autograded and manual).
    total: int
    #: ``(solution cell, its source importing coursekit, the test cell that must then fail)``:
    #: passes where coursekit is installed, fails where the notebook is graded.
    coursekit_answer: tuple[str, str, str]
    #: Manually graded answer cells: ``grade_id -> points``.
    manual: dict[str, int] = field(default_factory=dict)


SPECS = {
    "gd_basics": Spec(
        tests=("test_quadratic_grad", "test_gd_step", "test_gradient_descent_path"),
        total=10,
        coursekit_answer=(
            "quadratic_grad",
            """\
from coursekit.objectives import Quadratic


def quadratic_grad(A, b, x):
    return Quadratic(A, b).grad(x)
""",
            "test_quadratic_grad",
        ),
    ),
    "linreg_sgd": Spec(
        tests=(
            "test_lsq_grad",
            "test_epoch_batches",
            "test_step_decay",
            "test_minibatch_sgd",
            "test_normal_equations",
        ),
        total=12,
        coursekit_answer=(
            "normal_equations",
            """\
from coursekit.objectives import LeastSquares


def normal_equations(X, y):
    return LeastSquares(X, y).solution()
""",
            "test_normal_equations",
        ),
    ),
    "momentum": Spec(
        tests=("test_momentum_step", "test_adam_step", "test_descend", "test_heavy_ball_tuning"),
        total=10,
        coursekit_answer=(
            "momentum_step",
            """\
from coursekit.optimize import Momentum


def momentum_step(x, v, g, lr, beta):
    state = {"v": np.array(v, dtype=float)}
    x_new = Momentum(beta).update(x, g, lr, state)
    return x_new, state["v"]
""",
            "test_momentum_step",
        ),
    ),
    "newton": Spec(
        tests=(
            "test_rosenbrock_grad",
            "test_rosenbrock_hess",
            "test_newton_direction",
            "test_backtracking",
            "test_newton_path",
        ),
        total=15,
        coursekit_answer=(
            "rosenbrock_hess",
            """\
from coursekit.objectives import Rosenbrock


def rosenbrock_hess(x, a=1.0, b=100.0):
    return Rosenbrock(a, b).hess(x)
""",
            "test_rosenbrock_hess",
        ),
        manual={"answer_newton_cost": 3},
    ),
    "cnn_layers": Spec(
        tests=(
            "test_conv2d_forward",
            "test_conv2d_backward",
            "test_maxpool_forward",
            "test_maxpool_backward",
            "test_softmax_cross_entropy",
        ),
        total=15,
        coursekit_answer=(
            "maxpool_forward",
            """\
from coursekit.nn.layers import maxpool_forward
""",
            "test_maxpool_forward",
        ),
    ),
    "distributed": Spec(
        tests=(
            "test_aggregate",
            "test_sync_round",
            "test_ring_allreduce_time",
            "test_optimal_fraction",
        ),
        total=12,
        coursekit_answer=(
            "ring_allreduce_time",
            """\
from coursekit.distributed.cost import allreduce_time


def ring_allreduce_time(n_bytes, p, latency, bandwidth):
    return allreduce_time(n_bytes, p, latency, bandwidth, algorithm="ring")
""",
            "test_ring_allreduce_time",
        ),
    ),
    "offloading": Spec(
        tests=("test_optimal_fraction", "test_offload_verdict", "test_best_worker_count"),
        total=10,
        coursekit_answer=(
            "optimal_fraction",
            """\
from coursekit.distributed.offload import optimal_fraction
""",
            "test_optimal_fraction",
        ),
    ),
}
