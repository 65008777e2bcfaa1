"""The real ``python -m autograder grade`` on a small panel per assignment (real kernels).

For each of linreg_sgd, newton, cnn_layers, distributed, momentum and offloading, six students
are built from the REAL released notebook (``python -m autograder release``) and the source's
solutions:

* ``correct``: every solution cell filled from the source (full marks);
* ``partly``: only the first two parts solved, the rest left as released (stubs that raise);
* ``wrong``: every part solved except the last, which holds a plausible mistake;
* ``missing``: a folder with no notebook;
* ``invalid``: a file named like the notebook that is not JSON;
* ``renamed``: the correct notebook saved as ``<assignment> (1).ipynb``;
* ``cheat``: the ``wrong`` notebook plus a cell that makes every test pass *in the kernel*
  (an IPython input transformer turns each later test cell into ``pass``, and NumPy's
  comparisons and the notebook's check helpers always agree). Plain nbgrader gives it full
  marks; the grader's own verdict (issue 8) must give it exactly the ``wrong`` score.

The expected scores are computed here from the source's ``points`` metadata (not from the
autograder), so a wrong sum, a lost test cell or a manual answer counted as autograded fails.
Each assignment needs its own ``grade`` call; the panels are kept small (four kernels each,
two jobs) for the 2-core time budget.
"""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest
from autograder_helpers import REPO, grade_id, run_cli, tree_hashes, with_solutions, write_folder

pytestmark = pytest.mark.slow

ASSIGNMENTS = ("linreg_sgd", "newton", "cnn_layers", "distributed", "momentum", "offloading")
#: Parts solved by the ``partly`` student: the first ones, so no solved part calls a stub.
PARTLY_SOLVED = 2

# The ``wrong`` student's last part: a mistake a student could make, failing the test cell.
WRONG_LAST = {
    # Kept the 1/n of the gradient in the solution of the normal equations.
    "linreg_sgd": (
        "normal_equations",
        "def normal_equations(X, y):\n    return np.linalg.solve(X.T @ X, X.T @ y) / len(y)\n",
    ),
    # Forgot to record the starting point in the path.
    "newton": (
        "newton_path",
        """def newton_path(x0, a=1.0, b=100.0, tol=1e-10, max_iter=100):
    def f(z):
        return rosenbrock(z, a, b)

    x = np.array(x0, dtype=float)
    path = []
    for _ in range(max_iter):
        g = rosenbrock_grad(x, a, b)
        if np.linalg.norm(g) <= tol:
            break
        d = newton_direction(g, rosenbrock_hess(x, a, b))
        x = x + backtracking(f, x, d, g) * d
        path.append(x)
    return np.array(path)
""",
    ),
    # Did not divide the gradient by the batch size (the loss is a mean).
    "cnn_layers": (
        "softmax_cross_entropy",
        """def softmax_cross_entropy(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(len(y))
    loss = -float(np.mean(log_p[rows, y]))
    dlogits = np.exp(log_p)
    dlogits[rows, y] -= 1.0
    return loss, dlogits
""",
    ),
    # Swapped the central node's and the helper's compute rates.
    "distributed": (
        "optimal_fraction",
        """def optimal_fraction(work, local_rate, remote_rate,
                     link_rate, data_bytes=0.0, result_bytes=0.0, latency=0.0):
    a = work / remote_rate
    b = data_bytes / link_rate + work / local_rate
    c = 2 * latency + result_bytes / link_rate
    if c >= a:
        return 1.0
    return (b + c) / (a + b)
""",
    ),
    # Priced the all-reduce of the workers as a central node's, 2 (p - 1) (alpha + N / B).
    "offloading": (
        "best_worker_count",
        """def best_worker_count(steps_by_batch, per_worker_batch,
                      worker_counts, flops_per_sample, rate, n_bytes, latency, bandwidth):
    times = []
    for p in worker_counts:
        step = per_worker_batch * flops_per_sample / rate \\
            + 2 * (p - 1) * (latency + n_bytes / bandwidth)
        times.append(steps_by_batch[p * per_worker_batch] * step)
    i = int(np.argmin(times))
    if np.isinf(times[i]):
        raise ValueError("no worker count reaches the target")
    return worker_counts[i], times[i]
""",
    ),
    # Kept chapter 4's first tuning (eta = 1/L) instead of solving for the fastest one.
    "momentum": (
        "heavy_ball_tuning",
        """def heavy_ball_tuning(mu, L):
    if not 0 < mu <= L:
        raise ValueError("need 0 < mu <= L")
    return 1.0 / L, (1.0 - np.sqrt(mu / L)) ** 2
""",
    ),
}

CHEAT = """np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
check_array = check_number = lambda *a, **k: None
get_ipython().input_transformers_post.append(
    lambda lines: ["pass\\n"] if any("Visible tests" in ln for ln in lines) else lines)
"""

GRADE_OPTIONS = ("--jobs", 2, "--timeout", 240, "--cell-timeout", 30, "--no-progress")


def autograded_points(source_nb) -> dict[str, float]:
    """``test grade id -> points`` of the autograded (code) test cells of the source."""
    return {
        grade_id(c): float(c.metadata["nbgrader"]["points"])
        for c in source_nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    }


def solution_ids(source_nb) -> list[str]:
    """Grade ids of the code solution cells, in notebook order (one per part)."""
    return [
        grade_id(c)
        for c in source_nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    ]


def build_panel(subs, assignment, release_nb, source_nb) -> dict[str, tuple[str, float]]:
    """Write the six students into ``subs``; ``student -> (status, score)`` expected."""
    points = autograded_points(source_nb)
    parts = solution_ids(source_nb)
    # Every part has its own test cell named after it: the map from parts to points.
    assert all(f"test_{p}" in points for p in parts), (parts, sorted(points))
    full = sum(points.values())
    name = f"{assignment}.ipynb"
    stubs = {grade_id(c): c.source for c in release_nb.cells if grade_id(c) in parts}

    correct = with_solutions(release_nb, source_nb)
    write_folder(subs, "correct", correct, name=name)
    write_folder(subs, "renamed", correct, name=f"{assignment} (1).ipynb")
    unsolved = {p: stubs[p] for p in parts[PARTLY_SOLVED:]}
    write_folder(subs, "partly", with_solutions(release_nb, source_nb, unsolved), name=name)
    wrong_id, wrong_code = WRONG_LAST[assignment]
    assert wrong_id == parts[-1]
    wrong = with_solutions(release_nb, source_nb, {wrong_id: wrong_code})
    write_folder(subs, "wrong", wrong, name=name)
    at = next(i for i, c in enumerate(wrong.cells) if grade_id(c) == "setup") + 1
    cheat = nbformat.reads(nbformat.writes(wrong), as_version=4)
    cheat.cells.insert(at, nbformat.v4.new_code_cell(CHEAT))
    write_folder(subs, "cheat", cheat, name=name)
    (subs / "missing").mkdir()
    (subs / "missing" / "answers.txt").write_text("see attached")
    (subs / "invalid").mkdir()
    (subs / "invalid" / name).write_text("{ not a notebook")
    return {
        "correct": ("graded", full),
        "renamed": ("graded", full),
        "partly": ("graded", sum(points[f"test_{p}"] for p in parts[:PARTLY_SOLVED])),
        "wrong": ("graded", full - points[f"test_{wrong_id}"]),
        "cheat": ("graded", full - points[f"test_{wrong_id}"]),
        "missing": ("missing", 0.0),
        "invalid": ("invalid", 0.0),
    }


def _grade_panel(root, assignment) -> dict:
    """Build one assignment's panel under ``root`` and grade it with its own ``grade`` call."""
    source_nb = nbformat.read(
        str(REPO / "exercises" / assignment / f"{assignment}.ipynb"), as_version=4
    )
    release_nb = nbformat.read(
        str(root / "release" / assignment / f"{assignment}.ipynb"), as_version=4
    )
    subs, out = root / assignment / "submissions", root / assignment / "out"
    subs.mkdir(parents=True)
    expected = build_panel(subs, assignment, release_nb, source_nb)
    before = tree_hashes(subs)
    proc = run_cli("grade", assignment, subs, "--out", out, *GRADE_OPTIONS, timeout=900)
    rows = []
    if (out / "grades.csv").exists():
        with open(out / "grades.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    return {
        "proc": proc,
        "rows": rows,
        "expected": expected,
        "before": before,
        "after": tree_hashes(subs),
        "out": out,
        "points": autograded_points(source_nb),
    }


@pytest.fixture(scope="module")
def panels(tmp_path_factory):
    """Release the six assignments once, then grade each one's panel with its own call.

    Two calls run at a time: a run has stretches on one core (start-up, preparing the
    course, feedback and report at the end) that the other run's students fill.
    """
    root = tmp_path_factory.mktemp("panels")
    proc = run_cli("release", *ASSIGNMENTS, "--out", root / "release")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with ThreadPoolExecutor(max_workers=2) as pool:
        graded = pool.map(lambda a: _grade_panel(root, a), ASSIGNMENTS)
        return dict(zip(ASSIGNMENTS, graded, strict=True))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_one_row_per_student_and_submissions_unchanged(panels, assignment):
    res = panels[assignment]
    assert res["proc"].returncode == 0, res["proc"].stderr[-2000:]
    students = [r["student"] for r in res["rows"]]
    assert sorted(students) == sorted(res["expected"])
    assert res["after"] == res["before"]
    assert f"{len(students)} students:" in res["proc"].stdout


@pytest.mark.parametrize(
    "student", ["correct", "partly", "wrong", "missing", "invalid", "renamed", "cheat"]
)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_status_and_score(panels, assignment, student):
    res = panels[assignment]
    row = next(r for r in res["rows"] if r["student"] == student)
    status, score = res["expected"][student]
    assert (row["status"], float(row["score"])) == (status, score), row
    # max_score is the autograded points only (newton's written answer is graded by hand).
    assert float(row["max_score"]) == sum(res["points"].values())
    assert row["assignment"] == assignment
    if score < float(row["max_score"]) or student == "renamed":
        assert row["detail"], f"{student}: a row below full marks (or renamed) must say why"
    if student in {"partly", "wrong", "cheat"}:
        # The failed test cells are named, exactly those of the parts not done right.
        failed = {g for g in res["points"] if g in row["detail"]}
        assert failed == {
            g for g in res["points"] if res["points"][g] and g not in _passed(res, student)
        }, row
    # Every student gets a feedback page (a short one with the reason when nothing ran).
    assert (res["out"] / "feedback" / student / f"{assignment}.html").is_file()


def _passed(res, student) -> set[str]:
    """Test cells the ``partly`` / ``wrong`` student passes, from how the panel was built."""
    points = res["points"]
    tests = list(points)  # notebook order, one test cell per part
    if student == "partly":
        return set(tests[:PARTLY_SOLVED])
    # wrong and cheat: every part but the last
    return set(tests[:-1])
