"""Scores a student can understand: each part is all or nothing, said in every notebook, and
answers graded by hand are "pending" alike in the feedback page and in grades.csv."""

from __future__ import annotations

import csv

import mutation
import nbformat
import notebook_cells as nc
import pytest

from autograder import hidden


@pytest.mark.parametrize("assignment", mutation.ASSIGNMENTS)
def test_every_notebook_says_how_a_part_is_scored(assignment):
    nb = nc.load(assignment)
    intro = " ".join(nb.cells[0].source.split())
    assert "How a part is scored: all or nothing." in intro
    assert "a single failing case costs the whole part" in intro
    manual = [c for c in nb.cells if nc.meta(c).get("grade") and nc.meta(c).get("solution")]
    assert ("*pending*" in intro) == bool(manual)


def _strict_armijo():
    [m] = [m for m in mutation.catalogue("newton")[0] if m.name == "backtracking: strict <"]
    return m


def test_one_failing_hidden_case_costs_the_whole_part():
    nb = nc.load("newton")
    m = _strict_armijo()
    # Exactly one of the part's hidden cases fails (the Armijo equality)...
    ns = nc.answer_namespace(nb, {m.cell: m.source})
    failures = hidden.run_in_namespace(nc.hidden_tests(nb), "test_backtracking", ns)
    assert len(failures) == 1 and "<= not <" in failures[0]
    assert len(nc.hidden_tests(nb).cases("test_backtracking")) > 10
    # ... and the part's 3 points are lost, nothing else.
    grade = mutation.grade(nb, m)
    assert set(grade.failing) == {"test_backtracking"} and grade.points == grade.total - 3


@pytest.mark.slow
def test_grading_shows_the_written_answer_as_pending_in_feedback_and_csv(tmp_path):
    subs = tmp_path / "subs"
    source = nc.EXERCISES / "newton" / "newton.ipynb"
    for student, answer in [("alice", None), ("bob", _strict_armijo())]:
        nb = nbformat.read(str(source), as_version=4)
        if answer is not None:
            [cell] = [c for c in nb.cells if nc.meta(c).get("grade_id") == answer.cell]
            cell.source = answer.source
        (subs / student).mkdir(parents=True)
        nbformat.write(nb, str(subs / student / "newton.ipynb"))
    out = tmp_path / "out"
    proc = nc.run_cli("grade", "newton", subs, "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    pending = "graded by hand, pending (not in score): answer_newton_cost (3 points)"
    assert (rows["alice"]["score"], rows["alice"]["max_score"]) == ("12", "12")
    assert (rows["bob"]["score"], rows["bob"]["max_score"]) == ("9", "12")
    assert pending in rows["alice"]["detail"] and pending in rows["bob"]["detail"]
    assert "test_backtracking" in rows["bob"]["detail"]
    for student, score in [("alice", 12), ("bob", 9)]:
        page = (out / "feedback" / student / "newton.html").read_text()
        assert f"(Score: {score} / 12; {pending})" in page
        assert "(Score: pending / 3)" in page and "Score: pending / 3 " in page
        assert "/ 15" not in page  # nbgrader's total with the written answer at 0
    bob = (out / "feedback" / "bob" / "newton.html").read_text()
    assert "the Armijo test accepts it, &lt;= not &lt;" in bob or "<= not <" in bob
