"""``grade --course DIR`` on another nbgrader course: nbgrader's documentation example ``ps1``.

The same two submissions are graded by plain ``nbgrader autograde`` (in a course directory laid
out the standard way) and by ``python -m autograder grade ps1 ... --course``; the scores must be
the same, cell by cell.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from autograder_helpers import run_cli, tree_hashes

from autograder.notebook import autograded_cells, read_notebook

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "nbgrader_ps1"
COURSE_ID = "example_course"  # set by the fixture course's nbgrader_config.py


def plain_nbgrader(tmp: Path) -> dict[str, dict[str, float | None]]:
    """``nbgrader generate_assignment`` + ``autograde`` as an instructor runs them.

    Returns ``student -> {grade_id: auto_score}`` from nbgrader's own gradebook. The gradebook
    as it was between the two commands is kept as ``tmp/fresh.db`` (a course that has released
    ps1 but not graded it).
    """
    from nbgrader.api import Gradebook

    course = tmp / "plain"
    shutil.copytree(FIXTURE / "course", course)
    for student in ("bitdiddle", "hacker"):
        shutil.copytree(FIXTURE / "submissions" / student, course / "submitted" / student / "ps1")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for cmd in (["generate_assignment", "ps1"], ["autograde", "ps1"]):
        proc = subprocess.run(
            [sys.executable, "-m", "nbgrader", *cmd],
            cwd=course,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        if cmd[0] == "generate_assignment":
            shutil.copyfile(course / "gradebook.db", tmp / "fresh.db")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        return {
            s.student.id: {g.name: g.auto_score for nb in s.notebooks for g in nb.grades}
            for s in gb.find_assignment("ps1").submissions
        }


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ps1")
    before = tree_hashes(FIXTURE)
    out = tmp / "ours"
    # Plain nbgrader grades its own copy of the course meanwhile (it only reads the fixture):
    # its students run one after the other, so the two runs fill each other's idle core.
    with ThreadPoolExecutor(max_workers=1) as pool:
        plain_run = pool.submit(plain_nbgrader, tmp)
        proc = run_cli(
            "grade",
            "ps1",
            FIXTURE / "submissions",
            "--course",
            FIXTURE / "course",
            "--out",
            out,
            "--jobs",
            2,
            "--no-progress",
        )
        plain = plain_run.result()
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    return {
        "plain": plain,
        "proc": proc,
        "rows": rows,
        "out": out,
        "before": before,
        "fresh": tmp / "fresh.db",
    }


def test_same_scores_as_plain_nbgrader(both):
    assert both["proc"].returncode == 0, both["proc"].stderr[-2000:]
    source = {
        n: autograded_cells(read_notebook(FIXTURE / "course" / "source" / "ps1" / f"{n}.ipynb"))
        for n in ("problem1", "problem2")
    }
    tests = {gid for cells in source.values() for gid in cells}
    assert tests, "ps1 has autograded test cells"
    assert set(both["rows"]) == set(both["plain"]) == {"bitdiddle", "hacker"}
    for student, cells in both["plain"].items():
        row = both["rows"][student]
        theirs = sum(cells[g] or 0.0 for g in tests)
        assert float(row["score"]) == pytest.approx(theirs), (student, row, cells)
        assert float(row["max_score"]) == sum(sum(c.values()) for c in source.values())
    # The two scores differ, so the comparison is not vacuous.
    assert len({float(r["score"]) for r in both["rows"].values()}) == 2


def test_cell_scores_in_our_gradebook_match_nbgrader(both):
    from nbgrader.api import Course, Gradebook

    with Gradebook(f"sqlite:///{both['out'] / 'gradebook.db'}", COURSE_ID) as gb:
        ours = {
            s.student.id: {g.name: g.auto_score for nb in s.notebooks for g in nb.grades}
            for s in gb.find_assignment("ps1").submissions
        }
        # Recorded under the other course's id, never ours (nbgrader itself adds a
        # "default_course" row in plain use too).
        courses = {c.id for c in gb.db.query(Course).all()}
        assert COURSE_ID in courses and "gd-course" not in courses
    for student, cells in both["plain"].items():
        for gid, score in cells.items():
            if gid in ours[student] and score is not None and ours[student][gid] is not None:
                assert ours[student][gid] == pytest.approx(score), (student, gid)


def test_statuses_feedback_and_untouched_fixture(both):
    rows = both["rows"]
    # bitdiddle commented out the test cells of problem1: graded on the restored tests.
    assert rows["bitdiddle"]["status"] == "tampered"
    assert "edited correct_squares" in rows["bitdiddle"]["detail"]
    assert rows["hacker"]["status"] == "graded"
    for student in rows:
        for nb in ("problem1", "problem2"):
            assert (both["out"] / "feedback" / student / f"{nb}.html").is_file()
    assert tree_hashes(FIXTURE) == both["before"]


def test_export_into_the_course_gradebook(both):
    """``export --gradebook``: the course's own gradebook then holds nbgrader's test scores."""
    from nbgrader.api import Gradebook

    proc = run_cli("export", both["out"], "--gradebook", both["fresh"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    with Gradebook(f"sqlite:///{both['fresh']}", COURSE_ID) as gb:
        got = {
            s.student.id: {g.name: g.auto_score for nb in s.notebooks for g in nb.grades}
            for s in gb.find_assignment("ps1").submissions
        }
    tests = set(
        autograded_cells(read_notebook(FIXTURE / "course" / "source" / "ps1" / "problem1.ipynb"))
    )
    assert set(got) == set(both["plain"])
    for student, cells in both["plain"].items():
        assert {g: got[student][g] for g in tests} == {g: cells[g] for g in tests}
    bad = run_cli("export", both["out"])
    assert bad.returncode == 2 and "--out" in bad.stderr
