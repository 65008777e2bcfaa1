"""The gd_basics source notebook: structure, the solution passes, wrong answers fail clearly.

The cells are executed in-process (no kernel), in notebook order, the way nbgrader runs
them; the real-kernel path is covered by tests/autograder (validate and grade).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NB = Path(__file__).resolve().parents[2] / "exercises" / "gd_basics" / "gd_basics.ipynb"
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS\n?", re.S)


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@pytest.fixture(scope="module")
def nb():
    return nbformat.read(str(NB), as_version=4)


def cells_by_id(nb) -> dict[str, str]:
    return {meta(c)["grade_id"]: c.source for c in nb.cells if meta(c).get("grade_id")}


def run(nb, replace=None, upto=None, visible_only=()):
    """Execute setup, solution and test cells in order; return the failing test's exception.

    ``replace`` swaps a solution cell's code; ``upto`` stops after that test cell;
    ``visible_only`` test cells run without their hidden region. Returns ``None`` if all pass.
    """
    ns: dict = {}
    for cell in nb.cells:
        m = meta(cell)
        if cell.cell_type != "code" or not m:
            continue
        gid = m["grade_id"]
        src = (replace or {}).get(gid, cell.source)
        if gid in visible_only:
            src = HIDDEN.sub("", src)
        try:
            exec(compile(src, gid, "exec"), ns)
        except Exception as exc:
            if m.get("grade"):
                return gid, exc
            raise
        if gid == upto:
            break
    return None


def test_structure(nb):
    ids = [meta(c)["grade_id"] for c in nb.cells if meta(c)]
    assert len(ids) == len(set(ids))
    tests = [c for c in nb.cells if meta(c).get("grade")]
    assert [meta(c)["grade_id"] for c in tests] == ["test_quadratic_grad", "test_gd_step",
                                                    "test_gradient_descent_path"]
    assert all(meta(c)["locked"] and HIDDEN.search(c.source) for c in tests)
    assert all("coursekit" in HIDDEN.search(c.source).group(0) for c in tests)
    # The points table of the introduction agrees with the test cells' points.
    table = [int(p) for p in re.findall(r"^\| \d \| .*? \| (\d+) \|$", nb.cells[0].source, re.M)]
    assert table == [meta(c)["points"] for c in tests]
    assert sum(table) == 10
    assert nb.metadata.kernelspec.name == "python3"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    for c in nb.cells:
        if meta(c).get("solution"):
            assert "### BEGIN SOLUTION" in c.source and "### END SOLUTION" in c.source


def test_instructor_solution_passes_every_test(nb, capsys):
    assert run(nb) is None
    out = capsys.readouterr().out
    for part in (1, 2, 3):
        assert f"Part {part}: visible tests passed" in out


COLUMN = "def quadratic_grad(A, b, x):\n    return (A @ x - b).reshape(-1, 1)\n"
AS_LIST = "def quadratic_grad(A, b, x):\n    return (A @ x - b).tolist()\n"
HALF = "def quadratic_grad(A, b, x):\n    return 0.5 * A @ x - b\n"
IN_PLACE = "def gd_step(A, b, x, lr):\n    x -= lr * quadratic_grad(A, b, x)\n    return x\n"
UPHILL = "def gd_step(A, b, x, lr):\n    return x + lr * quadratic_grad(A, b, x)\n"
LOOP = '''def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = [x]
{body}
'''
LATE = LOOP.format(body='''    for _ in range(max_iter):
        x = gd_step(A, b, x, lr)
        path.append(x)
        if np.linalg.norm(quadratic_grad(A, b, x)) <= tol:
            break
    return np.array(path)''')
NO_CAP = LOOP.format(body='''    while np.linalg.norm(quadratic_grad(A, b, x)) > tol:
        x = gd_step(A, b, x, lr)
        path.append(x)
    return np.array(path)''')
LIST_PATH = LOOP.format(body='''    for _ in range(max_iter):
        if np.linalg.norm(quadratic_grad(A, b, x)) <= tol:
            break
        x = gd_step(A, b, x, lr)
        path.append(x)
    return path''')


@pytest.mark.parametrize("cell_id, code, failing, message", [
    ("quadratic_grad", COLUMN, "test_quadratic_grad", "returned shape (2, 1); expected (2,)"),
    ("quadratic_grad", AS_LIST, "test_quadratic_grad", "returned a list"),
    ("quadratic_grad", HALF, "test_quadratic_grad", "is wrong: at index"),
    ("gd_step", IN_PLACE, "test_gd_step", "in place"),
    ("gd_step", UPHILL, "test_gd_step", "is wrong"),
    ("gradient_descent_path", LATE, "test_gradient_descent_path", "expected (1, 2)"),
    ("gradient_descent_path", NO_CAP, "test_gradient_descent_path", "max_iter=5"),
    ("gradient_descent_path", LIST_PATH, "test_gradient_descent_path", "returned list"),
])
def test_wrong_answers_fail_visibly_with_actionable_messages(nb, cell_id, code, failing,
                                                             message):
    # Visible tests alone already catch these.
    result = run(nb, {cell_id: code}, visible_only={failing}, upto=failing)
    assert result is not None, f"{cell_id} mutant passed"
    gid, exc = result
    assert gid == failing and isinstance(exc, AssertionError)
    assert message in str(exc)


FIXED_LR = "def gd_step(A, b, x, lr):\n    return x - 0.1 * quadratic_grad(A, b, x)\n"
FIXED_TOL = LOOP.format(body='''    for _ in range(max_iter):
        if np.linalg.norm(quadratic_grad(A, b, x)) <= 1e-8:
            break
        x = gd_step(A, b, x, lr)
        path.append(x)
    return np.array(path)''')
ONLY_2D = ("def quadratic_grad(A, b, x):\n"
           "    if len(x) == 2:\n"
           "        return np.array([A[0] @ x - b[0], A[1] @ x - b[1]])\n"
           "    return A[0, 0] * x - b\n")


@pytest.mark.parametrize("cell_id, code, failing", [
    ("gd_step", FIXED_LR, "test_gd_step"),
    ("gradient_descent_path", FIXED_TOL, "test_gradient_descent_path"),
    ("quadratic_grad", ONLY_2D, "test_quadratic_grad"),
])
def test_hidden_tests_catch_what_visible_tests_miss(nb, cell_id, code, failing):
    assert run(nb, {cell_id: code}, visible_only={failing}, upto=failing) is None
    gid, exc = run(nb, {cell_id: code}, upto=failing)
    assert gid == failing and isinstance(exc, AssertionError)
    assert "random test" in str(exc)
