"""An assignment of two notebooks with plain ``assert`` tests (any nbgrader course's style)."""

from __future__ import annotations

import csv

import nbformat
import pytest
from autograder_helpers import run_cli
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.slow


def cell(source, gid, **flags):
    c = new_code_cell(source)
    c.metadata["nbgrader"] = {
        "grade": False,
        "solution": False,
        "locked": False,
        "grade_id": gid,
        "schema_version": 3,
        "task": False,
        **flags,
    }
    return c


def source(k: int):
    nb = new_notebook(
        cells=[
            cell(
                f"def f(x):\n    ### BEGIN SOLUTION\n    return {k} * x\n    ### END SOLUTION",
                "f",
                solution=True,
            ),
            cell(
                f"assert f(1) == {k}\n### BEGIN HIDDEN TESTS\nassert f(7) == {7 * k}, 'hidden'\n"
                "### END HIDDEN TESTS",
                "test_f",
                grade=True,
                locked=True,
                points=k,
            ),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def test_two_notebooks_one_row_worst_status_summed_score(tmp_path):
    ex, subs = tmp_path / "ex" / "pair", tmp_path / "subs"
    ex.mkdir(parents=True)
    for name, k in (("first", 2), ("second", 3)):
        nbformat.write(source(k), str(ex / f"{name}.ipynb"))
    # The instructor's own notebooks as submissions (no release step: it is tested elsewhere).
    (subs / "both").mkdir(parents=True)
    (subs / "one").mkdir()
    for name, k in (("first", 2), ("second", 3)):
        nbformat.write(source(k), str(subs / "both" / f"{name}.ipynb"))
    nbformat.write(source(3), str(subs / "one" / "second.ipynb"))
    proc = run_cli(
        "grade",
        "pair",
        subs,
        "--out",
        tmp_path / "out",
        "--jobs",
        2,
        "--exercises",
        tmp_path / "ex",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(tmp_path / "out" / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert (rows["both"]["status"], float(rows["both"]["score"])) == ("graded", 5.0)
    assert (rows["one"]["status"], float(rows["one"]["score"])) == ("missing", 3.0)
    assert float(rows["one"]["max_score"]) == 5.0
    assert "first" in rows["one"]["detail"]
    for student in ("both", "one"):
        for n in ("first", "second"):
            page = tmp_path / "out" / "feedback" / student / f"{n}.html"
            assert page.is_file() and "f(7) ==" not in page.read_text()
