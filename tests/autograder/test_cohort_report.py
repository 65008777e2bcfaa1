"""The cohort report: what the class failed, with which message, where the time went.

The fast tests build output folders by hand and check the arithmetic (pass rates, counts,
the most common message) against counts made here; the slow one grades a small real panel
through the CLI and opens the page ``grade`` wrote in Chromium, with every request that is
not a local file aborted.
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from autograder_helpers import (
    ASSIGNMENT,
    SOURCE_NB,
    launch_chromium,
    run_cli,
    with_solutions,
    write_folder,
)

from autograder.cohort import (
    COHORT_FILE,
    WITHHELD,
    CohortLog,
    failure_message,
    load,
    slowest_cells,
    student_record,
    write_report,
)
from autograder.report import StudentRow, write_grades_csv
from autograder.verify import Verdict


def test_failure_message_keeps_the_case_and_drops_the_header():
    hidden = (
        "hidden test (run by the grader after your notebook):\n"
        "quadratic_grad (random test 0, d=1) returned shape (1, 1); expected (1,)\n"
        "(and 5 more hidden case(s) of this cell failed)"
    )
    assert failure_message("AssertionError", hidden) == (
        "hidden: AssertionError: quadratic_grad (random test 0, d=1) returned shape (1, 1); "
        "expected (1,)"
    )
    assert failure_message("NotImplementedError", "") == "NotImplementedError"
    assert failure_message("ValueError", "x" * 500).startswith("ValueError: xxx")
    assert len(failure_message("ValueError", "x" * 500)) == 200


def _cell(gid, source, seconds, error=None, test=True):
    cell = nbformat.v4.new_code_cell(source)
    if gid:
        cell.metadata["nbgrader"] = {
            "grade_id": gid,
            "grade": test,
            "solution": not test,
            "locked": test,
            "points": 2,
        }
    start = 1.0
    cell.metadata["execution"] = {
        "iopub.execute_input": f"2026-01-01T00:00:{start:09.6f}Z",
        "shell.execute_reply": f"2026-01-01T00:00:{start + seconds:09.6f}Z",
    }
    if error:
        cell.outputs = [
            nbformat.v4.new_output("error", ename=error[0], evalue=error[1], traceback=[])
        ]
    return cell


def test_student_record_reads_times_and_failures_and_withholds_leaks():
    nb = nbformat.v4.new_notebook(
        cells=[
            _cell("f", "def f(): ...", 0.5, test=False),
            _cell("test_f", "assert f() == 1", 1.25, ("AssertionError", "f() returned None")),
            _cell("test_g", "check(g)", 0.25, ("AssertionError", "expected = Secret(A).grad(x)")),
            _cell(None, "print('free cell')", 2.0),
            _cell("test_h", "assert h()", 0.125),
        ]
    )
    v = Verdict(
        "hw",
        "graded",
        2.0,
        6.0,
        "",
        {"test_f": (0.0, 2.0), "test_g": (0.0, 2.0), "test_h": (2.0, 2.0)},
    )
    rec = student_record(
        "ann", [v], {"hw": nb}, seconds=7.5, secrets=["expected = Secret(A).grad(x)"]
    )
    entry = rec["notebooks"]["hw"]
    assert rec["seconds"] == 7.5 and entry["status"] == "graded"
    assert entry["failures"] == {
        "test_f": ["AssertionError: f() returned None"],
        "test_g": [WITHHELD],
    }
    assert dict(entry["times"]) == {
        "f": 0.5,
        "test_f": 1.25,
        "test_g": 0.25,
        "cell 4": 2.0,
        "test_h": 0.125,
    }
    assert slowest_cells(rec) == [("cell 4", 2.0), ("test_f", 1.25), ("f", 0.5)]
    # A notebook that did not run: its cells, no times, no messages.
    missing = student_record(
        "bob", [Verdict("hw", "missing", 0.0, 6.0, "no notebook", {"test_f": (0.0, 2.0)})]
    )
    assert missing["notebooks"]["hw"] == {
        "status": "missing",
        "cells": [["test_f", 0.0, 2.0]],
        "times": [],
        "failures": {},
    }


def test_cohort_log_keeps_the_last_line_and_skips_a_cut_one(tmp_path):
    log = CohortLog(tmp_path)
    log.append({"student": "ann", "seconds": 1.0, "notebooks": {}})
    log.append({"student": "bob", "seconds": 2.0, "notebooks": {}})
    log.append({"student": "ann", "seconds": 3.0, "notebooks": {}})
    with open(tmp_path / COHORT_FILE, "a") as fh:
        fh.write('{"student": "cat", "seco')  # an interrupted write
    assert {s: r["seconds"] for s, r in log.read().items()} == {"ann": 3.0, "bob": 2.0}
    log.compact(["ann"])
    assert (tmp_path / COHORT_FILE).read_text().count("\n") == 1
    assert list(log.read()) == ["ann"]


def _out(root: Path, assignment: str, students: dict) -> Path:
    """An output folder: ``students`` maps name -> (status, {cell: score}, [messages])."""
    out = root / assignment
    out.mkdir(parents=True)
    rows, log = [], CohortLog(out)
    for name, (status, scores, msgs) in students.items():
        cells = {g: (s, 2.0) for g, s in scores.items()}
        v = Verdict(assignment, status, sum(scores.values()), 2.0 * len(scores), "", cells)
        rows.append(StudentRow(name, assignment, v.score, v.max_score, status))
        rec = student_record(name, [v], seconds=1.0 + len(name))
        rec["notebooks"][assignment]["failures"] = {g: msgs for g, s in scores.items() if s < 2.0}
        log.append(rec)
    write_grades_csv(rows, out / "grades.csv")
    return out


def test_pass_rates_and_messages_count_the_students_whose_notebook_ran(tmp_path):
    students = {
        "ann": ("graded", {"t1": 2.0, "t2": 2.0}, []),
        "bob": ("graded", {"t1": 0.0, "t2": 2.0}, ["AssertionError: wrong shape"]),
        "cat": ("tampered", {"t1": 0.0, "t2": 0.0}, ["AssertionError: wrong shape"]),
        "dov": ("timeout", {"t1": 2.0, "t2": 0.0}, ["CellTimeoutError: too slow"]),
        "eve": ("missing", {"t1": 0.0, "t2": 0.0}, []),
        "fay": ("invalid", {"t1": 0.0, "t2": 0.0}, []),
    }
    out = _out(tmp_path, "hw1", students)
    cohort = load([out])
    ran = [n for n, (st, _, _) in students.items() if st in ("graded", "tampered", "timeout")]
    for c in cohort.cells:
        passed = [n for n in ran if students[n][1][c.cell] == 2.0]
        assert (c.ran, c.passed) == (len(ran), len(passed))
        assert c.pass_rate == len(passed) / len(ran)
        assert c.mean_score == pytest.approx(sum(students[n][1][c.cell] for n in ran) / len(ran))
    t1 = next(c for c in cohort.cells if c.cell == "t1")
    assert t1.failures.most_common(1) == [("AssertionError: wrong shape", 2)]

    page = write_report([out])
    assert page == out / "report.html"
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 3
    assert "<script" not in text and "http://" not in text and "https://" not in text
    with open(out / "report.csv", newline="") as fh:
        rows = {r["cell"]: r for r in csv.DictReader(fh)}
    assert rows["t1"]["passed"] == "2" and rows["t1"]["ran"] == "4"  # ann, dov of 4
    assert (rows["t1"]["failure_1"], rows["t1"]["count_1"]) == ("AssertionError: wrong shape", "2")


def test_several_outputs_and_their_errors(tmp_path):
    a = _out(tmp_path / "a", "hw1", {"ann": ("graded", {"t1": 2.0}, [])})
    b = _out(tmp_path / "b", "hw2", {"ann": ("graded", {"t1": 0.0}, ["E: no"])})
    with pytest.raises(ValueError, match="--out DIR"):
        write_report([a, b])
    page = write_report([a, b], tmp_path / "both")
    assert "hw1, hw2" in page.read_text()
    with pytest.raises(ValueError, match="'ann' of hw1 is in both"):
        load([a, a])
    with pytest.raises(ValueError, match="no grades.csv"):
        load([tmp_path])


# --------------------------------------------------------------------------- real run

COLUMN_GRAD = "def quadratic_grad(A, b, x):\n    return (A @ x - b).reshape(-1, 1)\n"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, release_nb):
    root = tmp_path_factory.mktemp("cohort")
    subs, out = root / "subs", root / "out"
    source_nb = nbformat.read(str(SOURCE_NB), as_version=4)
    write_folder(subs, "alice", with_solutions(release_nb, source_nb))
    write_folder(subs, "bob", release_nb)
    write_folder(
        subs, "dan", with_solutions(release_nb, source_nb, {"quadratic_grad": COLUMN_GRAD})
    )
    (subs / "eve").mkdir()
    (subs / "eve" / "notes.txt").write_text("no notebook")
    proc = run_cli(
        "grade", ASSIGNMENT, subs, "--out", out, "--jobs", 2, "--no-progress", "--timeout", 240
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout


@pytest.mark.slow
def test_grade_writes_the_report_from_real_grading(graded):
    out, stdout = graded
    assert f"report: {out / 'report.html'}" in stdout.splitlines()
    records = CohortLog(out).read()
    assert sorted(records) == ["alice", "bob", "dan", "eve"]
    with open(out / "grades.csv", newline="") as fh:
        grades = {r["student"]: r for r in csv.DictReader(fh)}
    for name, rec in records.items():
        (entry,) = rec["notebooks"].values()
        # The cell scores add up to the row of grades.csv.
        assert sum(s for _, s, _ in entry["cells"]) == float(grades[name]["score"])
        # In the notebook's order.
        assert [g for g, _, _ in entry["cells"]] == [
            "test_quadratic_grad",
            "test_gd_step",
            "test_gradient_descent_path",
        ]
        assert (rec["seconds"] is None) == (name == "eve")
        assert bool(entry["times"]) == (name != "eve")
    with open(out / "report.csv", newline="") as fh:
        cells = {r["cell"]: r for r in csv.DictReader(fh)}
    # alice passes everything, bob (the untouched release) nothing, dan's gradient has the
    # wrong shape; eve's missing notebook is not counted.
    q = cells["test_quadratic_grad"]
    assert (q["ran"], q["passed"]) == ("3", "1")
    messages = [q[f"failure_{i}"] for i in (1, 2, 3)]
    assert any(m.startswith("NotImplementedError") for m in messages), messages
    assert any("returned shape" in m for m in messages), messages
    # Never a line of the hidden tests in the page.
    hidden = (SOURCE_NB.parent / "hidden_tests.py").read_text()
    code = [
        ln.strip()
        for ln in hidden.splitlines()
        if len(ln.strip()) >= 25
        and not ln.strip().startswith(("#", '"', 'f"', "'", "import ", "from "))
    ]
    page = (out / "report.html").read_text()
    assert code and not [ln for ln in code if ln in page]

    again = run_cli("report", out, "--out", out / "again")
    assert again.returncode == 0, again.stderr
    assert (out / "again" / "report.csv").read_text() == (out / "report.csv").read_text()


@pytest.mark.slow
@pytest.mark.browser
def test_the_report_renders_offline_in_chromium(graded, tmp_path):
    from playwright.sync_api import sync_playwright

    out, _ = graded
    errors, blocked = [], []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})

            def route(r):
                if r.request.url.startswith(("file://", "data:")):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((out / "report.html").resolve().as_uri())
            headings = page.locator("h2").all_inner_texts()
            widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            students = page.locator("#students ~ table tbody tr").count()
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == [] and blocked == [], (errors, blocked)
    assert headings == ["Statuses", "Scores", "Test cells", "Students"]
    assert len(widths) == 3 and min(widths) > 100, widths
    assert students == 4


def test_a_folder_graded_before_cohort_jsonl_still_gets_a_report(tmp_path):
    out = _out(
        tmp_path, "hw1", {"ann": ("graded", {"t1": 2.0}, []), "bob": ("missing", {"t1": 0.0}, [])}
    )
    (out / COHORT_FILE).unlink()
    text = write_report([out]).read_text()
    assert "2 student(s) have no cell details" in text and "grade --force" in text
    assert text.count("data:image/png;base64,") == 1  # the score histogram only
    with open(out / "report.csv", newline="") as fh:
        assert list(csv.DictReader(fh)) == []
