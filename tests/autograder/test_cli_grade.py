"""The real ``python -m autograder`` CLI on a panel of submissions (real nbgrader, real kernels).

One ``grade`` call grades the whole panel (two jobs), and the tests below read its results:
this keeps the suite within its time budget on a 2-core machine.
"""

from __future__ import annotations

import csv
import html
import re
import shutil

import nbformat
import pytest
from autograder_helpers import (
    ASSIGNMENT,
    SOURCE_NB,
    edit_cell,
    remote_resources,
    run_cli,
    tree_hashes,
    with_solutions,
    write_folder,
    write_zip,
)

pytestmark = pytest.mark.slow

CELL_TIMEOUT = 8

LOOP_TOO_LATE = """def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(max_iter):
        x = gd_step(A, b, x, lr)
        path.append(x)
        if np.linalg.norm(quadratic_grad(A, b, x)) <= tol:
            break
    return np.array(path)
"""
COLUMN_GRAD = """def quadratic_grad(A, b, x):
    return (A @ x - b).reshape(-1, 1)
"""
# Right for d = 2, the visible tests' dimension, and wrong (an IndexError) for d = 1.
ONLY_2D_STEP = (
    "def gd_step(A, b, x, lr):\n    g = quadratic_grad(A, b, x)\n"
    "    return np.array([x[0] - lr * g[0], x[1] - lr * g[1]])\n"
)
HANGING_LOOP = """def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    while True:
        pass
"""

# student -> (status, score) expected
EXPECTED = {
    "alice": ("graded", 10.0),  # the instructor's solution, as a student submits it
    "bob": ("graded", 0.0),  # the untouched release
    "carol smith": ("graded", 5.0),  # LMS zip: nested, __MACOSX junk, extra file; loop wrong
    "dan": ("graded", 2.0),  # gradient (d, 1): parts 1 and 3 (his loop breaks)
    "eve": ("missing", 0.0),  # no notebook at all
    "frank": ("invalid", 0.0),  # not JSON
    "gina": ("invalid", 0.0),  # corrupt zip
    "hank": ("invalid", 0.0),  # zip with ../ path traversal
    "ivy": ("tampered", 10.0),  # edited a test cell: graded on the instructor's tests
    "jack": ("graded", 10.0),  # renamed notebook, clearly the assignment
    "kim": ("timeout", 5.0),  # infinite loop in part 3 only
    "lou": ("crashed", 0.0),  # os._exit kills the kernel
    "max": ("graded", 8.0),  # passes every visible test, fails part 2's hidden
}


def hidden_lines(source_nb) -> list[str]:
    """Code lines of the assignment's hidden tests, found independently of the autograder.

    (The hidden tests no longer live in the notebook: ``source_nb`` must have none.)
    """
    assert "BEGIN HIDDEN TESTS" not in "".join(c.source for c in source_nb.cells)
    text = (SOURCE_NB.parent / "hidden_tests.py").read_text()
    return [
        ln.strip()
        for ln in text.splitlines()
        if len(ln.strip()) >= 25
        and not ln.strip().startswith(("#", '"', 'f"', "'", "import ", "from "))
    ]


GRADE_OPTIONS = ("--jobs", 2, "--timeout", 240, "--cell-timeout", CELL_TIMEOUT)


def read_rows(out):
    with open(out / "grades.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def panel(tmp_path_factory, release_nb):
    source_nb = nbformat.read(str(SOURCE_NB), as_version=4)
    root = tmp_path_factory.mktemp("panel")
    subs, out = root / "submissions", root / "out"
    subs.mkdir()
    solution = with_solutions(release_nb, source_nb)
    write_folder(subs, "alice", solution)
    # The instructor unpacked alice.zip but kept it: one student, the folder is graded.
    write_zip(subs, "alice", {"gd_basics.ipynb": nbformat.writes(release_nb)})
    write_folder(subs, "bob", release_nb)
    partial = with_solutions(release_nb, source_nb, {"gradient_descent_path": LOOP_TOO_LATE})
    write_zip(
        subs,
        "carol smith",
        {
            "carol/gd_basics.ipynb": nbformat.writes(partial),
            "carol/notes.txt": "my notes",
            "__MACOSX/carol/._gd_basics.ipynb": b"\x00\x05\x16\x07junk",
        },
    )
    write_folder(
        subs, "dan", with_solutions(release_nb, source_nb, {"quadratic_grad": COLUMN_GRAD})
    )
    (subs / "eve").mkdir()
    (subs / "eve" / "answers.txt").write_text("I could not do it")
    (subs / "frank").mkdir()
    (subs / "frank" / "gd_basics.ipynb").write_text("{ this is not json")
    (subs / "gina.zip").write_bytes(b"PK\x03\x04 truncated garbage")
    write_zip(subs, "hank", {"../escaped.ipynb": nbformat.writes(solution)})
    write_folder(subs, "ivy", edit_cell(solution, "test_gd_step", "print('all good')"))
    write_folder(subs, "jack", solution, name="gd_basics (1).ipynb")
    write_folder(
        subs, "kim", with_solutions(release_nb, source_nb, {"gradient_descent_path": HANGING_LOOP})
    )
    write_folder(
        subs,
        "lou",
        with_solutions(release_nb, source_nb, {"quadratic_grad": "import os\nos._exit(1)\n"}),
    )
    write_folder(subs, "max", with_solutions(release_nb, source_nb, {"gd_step": ONLY_2D_STEP}))
    before = tree_hashes(subs)
    proc = run_cli("grade", ASSIGNMENT, subs, "--out", out, *GRADE_OPTIONS, timeout=900)
    with open(out / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {
        "proc": proc,
        "rows": rows,
        "subs": subs,
        "out": out,
        "before": before,
        "after": tree_hashes(subs),
        "root": root,
        "source_nb": source_nb,
        "release_nb": release_nb,
    }


def test_cli_exits_zero_with_one_row_per_student(panel):
    assert panel["proc"].returncode == 0, panel["proc"].stderr[-2000:]
    students = [r["student"] for r in panel["rows"]]
    assert sorted(students) == sorted(EXPECTED)
    assert len(students) == len(set(students))
    header = list(panel["rows"][0])
    assert header == ["student", "assignment", "score", "max_score", "status", "detail"]
    # A progress bar on stderr, the summary on stdout.
    n = len(EXPECTED)
    assert f"grading {ASSIGNMENT}" in panel["proc"].stderr
    assert f"{n}/{n}" in panel["proc"].stderr
    out = panel["proc"].stdout
    assert f"{n} students:" in out and "mean score" in out
    counts = {s: sum(1 for st, _ in EXPECTED.values() if st == s) for s, _ in EXPECTED.values()}
    for status, k in counts.items():
        assert f"{k} {status}" in out
    bars = re.findall(r"^\s*\d+-\s*\d+% \| (#*) (\d+)$", out, flags=re.M)
    assert len(bars) == 5 and all(len(h) == int(k) for h, k in bars)
    assert sum(int(k) for _, k in bars) == n


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_status_and_score(panel, student):
    row = next(r for r in panel["rows"] if r["student"] == student)
    status, score = EXPECTED[student]
    assert (row["status"], float(row["score"])) == (status, score), row
    assert float(row["max_score"]) == 10.0
    assert row["assignment"] == ASSIGNMENT
    if status != "graded" or score < 10:
        assert row["detail"], f"{student}: a non-perfect row must say why"


def test_details_are_actionable(panel):
    rows = {r["student"]: r for r in panel["rows"]}
    assert "test_gradient_descent_path" in rows["carol smith"]["detail"]
    assert "JSON" in rows["frank"]["detail"]
    assert "unsafe path" in rows["hank"]["detail"]
    assert "edited test_gd_step" in rows["ivy"]["detail"]
    assert "renamed" in rows["jack"]["detail"]
    assert "alice.zip ignored" in rows["alice"]["detail"]
    assert "test_gradient_descent_path" in rows["kim"]["detail"]
    assert "kernel died" in rows["lou"]["detail"]


def test_submissions_untouched(panel):
    assert panel["after"] == panel["before"]
    # The traversal member was not written next to the submissions either.
    assert not list(panel["root"].rglob("escaped.ipynb"))


def test_feedback_per_student_without_hidden_tests(panel):
    secrets = hidden_lines(panel["source_nb"])
    assert secrets, "the source should have hidden tests"
    for student in EXPECTED:
        page = panel["out"] / "feedback" / student / f"{ASSIGNMENT}.html"
        assert page.is_file(), student
        text = html.unescape(page.read_text())
        squashed = " ".join(text.split())
        assert "HIDDEN TESTS" not in text
        # Opening it fetches nothing from another host (nbgrader's template loads MathJax).
        assert remote_resources(page.read_text()) == [], student
        leaked = [s for s in secrets if " ".join(s.split()) in squashed]
        assert not leaked, (student, leaked[:3])
    # A failing hidden test shows its message, never its code.
    maxp = html.unescape((panel["out"] / "feedback" / "max" / f"{ASSIGNMENT}.html").read_text())
    assert "gd_step (random test 0" in maxp
    dan = html.unescape((panel["out"] / "feedback" / "dan" / f"{ASSIGNMENT}.html").read_text())
    assert "returned shape (2, 1); expected (2,)" in dan


def test_instructor_gradebook_matches_csv(panel):
    from nbgrader.api import Gradebook

    db = panel["out"] / "gradebook.db"
    assert db.is_file()
    with Gradebook(f"sqlite:///{db}", "gd-course") as gb:
        scores = {s.student.id: s.score for s in gb.find_assignment(ASSIGNMENT).submissions}
    assert scores == {r["student"]: float(r["score"]) for r in panel["rows"]}


def test_only_outputs_in_out_dir(panel):
    names = {p.name for p in panel["out"].iterdir()}
    assert names == {
        "grades.csv",
        "feedback",
        "gradebook.db",
        "grading_state.json",
        "cohort.jsonl",
        "report.html",
        "report.csv",
    }


def test_regrading_into_an_existing_gradebook(panel, tmp_path):
    """A second run into the same --out keeps the gradebook's other students (no kernels)."""
    import shutil

    from nbgrader.api import Gradebook

    out = tmp_path / "out"
    shutil.copytree(panel["out"], out)
    subs = tmp_path / "subs"
    shutil.copytree(panel["subs"] / "eve", subs / "eve")
    shutil.copytree(panel["subs"] / "frank", subs / "frank")
    proc = run_cli("grade", ASSIGNMENT, subs, "--out", out, *GRADE_OPTIONS, "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["student"]: r["status"] for r in csv.DictReader(fh)}
    assert rows == {"eve": "missing", "frank": "invalid"}
    assert "2 unchanged submission(s)" in proc.stdout
    forced = run_cli(
        "grade", ASSIGNMENT, subs, "--out", out, *GRADE_OPTIONS, "--no-progress", "--force"
    )
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert "unchanged" not in forced.stdout
    with open(out / "grades.csv", newline="") as fh:
        assert {r["student"]: r["status"] for r in csv.DictReader(fh)} == rows
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "gd-course") as gb:
        students = {s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions}
    assert students == set(EXPECTED)


def test_rerun_is_idempotent_and_skips_unchanged(panel, tmp_path):
    """Same SUBMISSIONS again: same rows, no kernel; one changed submission: only it re-graded."""
    out = tmp_path / "out"
    shutil.copytree(panel["out"], out)
    pages = tree_hashes(out / "feedback")
    again = run_cli("grade", ASSIGNMENT, panel["subs"], "--out", out, *GRADE_OPTIONS)
    assert again.returncode == 0, again.stderr[-2000:]
    assert read_rows(out) == panel["rows"]
    # Every row was kept, none graded: no student's process (so no kernel) was started. (Not
    # judged by the time it took: on a loaded machine preparing alone takes a minute.)
    assert f"{len(EXPECTED)} unchanged submission(s)" in again.stdout
    assert ", 0 graded now" in again.stdout
    assert {k: v[0] for k, v in tree_hashes(out / "feedback").items()} == {
        k: v[0] for k, v in pages.items()
    }

    # bob hands in the solution (a new SUBMISSIONS export): bob alone is graded again.
    subs = tmp_path / "subs"
    shutil.copytree(panel["subs"], subs, symlinks=True)
    source_nb = panel["source_nb"]
    write_folder(subs, "bob", with_solutions(panel["release_nb"], source_nb))
    changed = run_cli("grade", ASSIGNMENT, subs, "--out", out, *GRADE_OPTIONS)
    assert changed.returncode == 0, changed.stderr[-2000:]
    rows = {r["student"]: r for r in read_rows(out)}
    assert (rows["bob"]["status"], float(rows["bob"]["score"])) == ("graded", 10.0)
    assert {k: r for k, r in rows.items() if k != "bob"} == {
        r["student"]: r for r in panel["rows"] if r["student"] != "bob"
    }
    assert f"{len(EXPECTED) - 1} unchanged submission(s)" in changed.stdout
    assert "1 graded now" in changed.stdout


def test_export_of_a_real_run(panel, tmp_path):
    proc = run_cli("export", panel["out"], "--out", tmp_path / "lms.csv")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "lms.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["student"] for r in rows] == sorted(EXPECTED)
    for r in rows:
        assert float(r["total"]) == float(r[ASSIGNMENT]) == EXPECTED[r["student"]][1]
