"""Fast tests of each stage on synthetic notebooks and folders (no kernel, no nbgrader run)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile

import nbformat
import pytest
from autograder_helpers import tree_hashes, write_zip
from hypothesis import given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder import STATUSES, worst_status
from autograder.child import sanitize_for_feedback
from autograder.collect import collect, entry_rank, safe_extract, student_id
from autograder.leaks import find_leaks, secret_lines, strip_hidden_tests
from autograder.nbgrader_config import course_config
from autograder.notebook import autograded_cells, read_notebook
from autograder.report import (
    StudentRow,
    combine,
    read_grades_csv,
    student_order,
    summary,
    write_grades_csv,
)
from autograder.run import JOB_TAG_ENV, kill_tagged
from autograder.verify import Verdict, tamper_check, verdict_from_autograded


def cell(source, gid, *, grade=False, solution=False, locked=False, points=0, outputs=()):
    c = new_code_cell(source)
    c.metadata["nbgrader"] = {
        "grade": grade,
        "solution": solution,
        "locked": locked,
        "grade_id": gid,
        "schema_version": 3,
        "task": False,
    }
    if grade:
        c.metadata["nbgrader"]["points"] = points
    c.outputs = list(outputs)
    return c


HIDDEN = "### BEGIN HIDDEN TESTS\nassert secret_function_call(12345) == 1\n### END HIDDEN TESTS"


def source_notebook():
    return new_notebook(
        cells=[
            cell("import numpy as np", "setup", locked=True),
            cell(
                "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x + 1\n    ### END SOLUTION",
                "f",
                solution=True,
            ),
            cell("assert f(1) == 3\n" + HIDDEN, "test_f", grade=True, locked=True, points=2),
            cell("assert f(2) == 5", "test_f2", grade=True, locked=True, points=3),
        ]
    )


def release_notebook():
    nb = source_notebook()
    nb.cells[1].source = "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    nb.cells[2].source = "assert f(1) == 3\n"
    return nb


def error(ename="AssertionError", evalue="wrong"):
    return new_output(
        "error",
        ename=ename,
        evalue=evalue,
        traceback=["Traceback", "assert secret_function_call(12345) == 1", ename],
    )


def autograded(errors_in=(), ename="AssertionError"):
    nb = source_notebook()
    for c in nb.cells:
        if c.metadata["nbgrader"]["grade_id"] in errors_in:
            c.outputs = [error(ename)]
    return nb


# ------------------------------------------------------------------- statuses


def test_worst_status_order_and_errors():
    assert worst_status(["graded", "tampered"]) == "tampered"
    assert worst_status(["graded", "missing", "timeout"]) == "missing"
    assert worst_status(["invalid", "missing"]) == "invalid"
    with pytest.raises(ValueError, match="statuses"):
        worst_status([])
    with pytest.raises(ValueError, match="unknown"):
        worst_status(["graded", "fine"])


@given(st.lists(st.sampled_from(STATUSES), min_size=1))
def test_worst_status_is_a_maximum(statuses):
    w = worst_status(statuses)
    assert w in statuses
    assert all(STATUSES.index(s) <= STATUSES.index(w) for s in statuses)


def test_course_config_rejects_bad_timeout(tmp_path):
    with pytest.raises(ValueError, match="cell_timeout"):
        course_config(tmp_path, cell_timeout=0)
    c = course_config(tmp_path, cell_timeout=7)
    assert c.Execute.timeout == 7
    assert c.CourseDirectory.db_url.endswith("gradebook.db")


# ------------------------------------------------------------------- verify


@pytest.mark.parametrize(
    "failing, score",
    [((), 5.0), (("test_f",), 3.0), (("test_f2",), 2.0), (("test_f", "test_f2"), 0.0)],
)
def test_verdict_scores_like_nbgrader(failing, score):
    v = verdict_from_autograded("nb", autograded(failing), release_notebook(), source_notebook())
    assert (v.status, v.score, v.max_score) == ("graded", score, 5.0)
    assert all(gid in v.detail for gid in failing)


def test_verdict_timeout_and_disagreement():
    v = verdict_from_autograded(
        "nb", autograded(["test_f2"], "CellTimeoutError"), release_notebook(), source_notebook()
    )
    assert (v.status, v.score) == ("timeout", 2.0)
    # The gradebook says 5 but the notebook shows a failure: someone interfered.
    v = verdict_from_autograded(
        "nb",
        autograded(["test_f"]),
        release_notebook(),
        source_notebook(),
        reported={"test_f": 2.0, "test_f2": 3.0},
    )
    assert v.status == "crashed" and v.score == 0.0


def test_verdict_requires_restored_test_cells():
    nb = autograded()
    nb.cells[2].source = "pass"  # a test cell the grader did not restore
    v = verdict_from_autograded("nb", nb, release_notebook(), source_notebook())
    assert v.status == "crashed" and "test_f" in v.detail
    del nb.cells[3]
    v = verdict_from_autograded("nb", nb, release_notebook(), source_notebook())
    assert "test_f2" in v.detail


def test_tamper_check():
    rel, src = release_notebook(), source_notebook()
    assert tamper_check(rel, rel, src) == []
    assert tamper_check(src, rel, src) == []  # the instructor's own copy is not tampering
    sub = release_notebook()
    sub.cells[2].source = "pass"
    del sub.cells[0]
    assert tamper_check(sub, rel, src) == ["deleted setup", "edited test_f"]
    sub = release_notebook()
    sub.cells[1].source = "def f(x):\n    return 2 * x + 1"  # solution cells are the student's
    assert tamper_check(sub, rel, src) == []


def test_secrets_and_leaks():
    src = source_notebook()
    assert secret_lines(src) == ["assert secret_function_call(12345) == 1", "return 2 * x + 1"]
    assert secret_lines(src, solutions=False) == ["assert secret_function_call(12345) == 1"]
    secrets = secret_lines(src, solutions=False)
    assert find_leaks("nothing here", secrets) == []
    assert find_leaks("x &lt; assert  secret_function_call(12345)\n == 1", secrets) == secrets
    assert find_leaks("### END HIDDEN TESTS", [])
    assert strip_hidden_tests(src.cells[2].source) == "assert f(1) == 3"


def test_sanitize_for_feedback_drops_hidden_lines_and_tracebacks():
    nb = autograded(["test_f"])
    sanitize_for_feedback(nb)
    text = nbformat.writes(nb)
    assert "secret_function_call" not in text
    assert nb.cells[2].outputs[0]["traceback"] == ["AssertionError: wrong"]


def test_read_notebook_rejects_non_notebooks(tmp_path):
    (tmp_path / "a.ipynb").write_text("{not json")
    (tmp_path / "b.ipynb").write_text("[1, 2]")
    for name in ("a.ipynb", "b.ipynb"):
        with pytest.raises(ValueError, match="notebook"):
            read_notebook(tmp_path / name)
    assert autograded_cells(source_notebook()) == {"test_f": 2.0, "test_f2": 3.0}


# ------------------------------------------------------------------- collect

EXPECTED = {"hw": {"test_f", "test_f2"}}


def make_subs(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nb = nbformat.writes(release_notebook())
    (subs / "ann").mkdir()
    (subs / "ann" / "hw.ipynb").write_text(nb)
    write_zip(
        subs,
        "ben jones",
        {"deep/er/hw.ipynb": nb, "__MACOSX/deep/er/._hw.ipynb": b"\0", "deep/readme.txt": "x"},
    )
    write_zip(subs, "cat", {"../../outside.ipynb": nb})
    write_zip(subs, "dov", {"/abs/hw.ipynb": nb})
    (subs / "eli.zip").write_bytes(b"PK\x03\x04nonsense")
    (subs / "fay").mkdir()
    (subs / "fay" / "homework final.ipynb").write_text(nb)  # renamed
    (subs / "gus").mkdir()
    (subs / "gus" / "hw.ipynb").write_text("<html>oops</html>")
    (subs / "hal").mkdir()
    (subs / "hal" / "other.ipynb").write_text(nbformat.writes(new_notebook()))  # not ours
    (subs / "ivy.pdf").write_bytes(b"%PDF")
    (subs / ".DS_Store").write_bytes(b"junk")
    return subs


def test_collect_statuses_and_copies(tmp_path):
    subs = make_subs(tmp_path)
    before = tree_hashes(subs)
    got = {s.student: s for s in collect(subs, EXPECTED, tmp_path / "work")}
    assert tree_hashes(subs) == before
    assert sorted(got) == ["ann", "ben jones", "cat", "dov", "eli", "fay", "gus", "hal", "ivy"]
    status = {k: v.notebooks["hw"].status for k, v in got.items()}
    assert status == {
        "ann": None,
        "ben jones": None,
        "cat": "invalid",
        "dov": "invalid",
        "eli": "invalid",
        "fay": None,
        "gus": "invalid",
        "hal": "missing",
        "ivy": "invalid",
    }
    for ok in ("ann", "ben jones", "fay"):
        path = got[ok].notebooks["hw"].path
        assert (tmp_path / "work") in path.parents  # graded from the copy, never the original
        assert read_notebook(path).cells[0].source == "import numpy as np"
    assert "renamed" in got["fay"].notebooks["hw"].detail
    assert "unsafe path" in got["cat"].detail
    assert not (tmp_path / "outside.ipynb").exists()
    assert all(len(s.sha256) == 64 for s in got.values())


def test_collect_one_row_per_student_when_entries_clash(tmp_path):
    """x/ and x.zip (and x.pdf) are one student: the folder is graded, the rest named."""
    subs = tmp_path / "subs"
    good = nbformat.writes(release_notebook())
    (subs / "amy").mkdir(parents=True)
    (subs / "amy" / "hw.ipynb").write_text(good)
    write_zip(subs, "amy", {"hw.ipynb": "{not json"})
    (subs / "amy.pdf").write_bytes(b"%PDF")
    write_zip(subs, "bo", {"hw.ipynb": good})
    (subs / "bo.txt").write_text("notes")  # a zip beats any other file
    got = collect(subs, EXPECTED, tmp_path / "w")
    assert [s.student for s in got] == ["amy", "bo"]
    amy, bo = got
    assert amy.original.name == "amy" and amy.notebooks["hw"].status is None
    assert "amy.pdf" in amy.note and "amy.zip" in amy.note and "ignored" in amy.note
    assert bo.original.name == "bo.zip" and bo.notebooks["hw"].status is None
    assert "bo.txt" in bo.note
    # The note reaches the row whatever the verdict.
    row = combine("amy", "hw", [Verdict("hw", "graded", 5.0, 5.0)], note=amy.note)
    assert "amy.zip" in row.detail
    with pytest.raises(ValueError, match="submissions"):
        collect(tmp_path / "nope", EXPECTED, tmp_path / "w2")


@settings(deadline=None)  # it writes files: a loaded machine took 317 ms for one example
@given(
    st.lists(
        st.sampled_from(["dir", ".zip", ".ZIP", ".pdf", ".txt"]),
        min_size=1,
        max_size=5,
        unique=True,
    )
)
def test_entry_rank_prefers_folder_then_zip(kinds):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        entries = []
        for k in kinds:
            p = Path(tmp) / ("x" if k == "dir" else f"x{k}")
            p.mkdir() if k == "dir" else p.write_bytes(b"")
            entries.append(p)
        best = min(entries, key=entry_rank)
        if "dir" in kinds:
            assert best.is_dir()
        elif {".zip", ".ZIP"} & set(kinds):
            assert best.suffix.lower() == ".zip"
        assert {student_id(p) for p in entries} == {"x"}


def test_safe_extract_refuses_symlinks(tmp_path):
    zpath = tmp_path / "link.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        info = zipfile.ZipInfo("hw.ipynb")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ValueError, match="symbolic link"):
        safe_extract(zpath, tmp_path / "out")


# ------------------------------------------------------------------- report


def test_combine_and_csv_roundtrip(tmp_path):
    v1 = Verdict("a", "graded", 3.0, 5.0, "failed: t1")
    v2 = Verdict("b", "missing", 0.0, 4.0, "no b.ipynb")
    row = combine('zoë, "q"', "hw", [v1, v2])
    assert (row.score, row.max_score, row.status) == (3.0, 9.0, "missing")
    assert row.detail == "a: failed: t1; b: no b.ipynb"
    rows = [row, StudentRow("amy", "hw", 9.0, 9.0, "graded")]
    path = write_grades_csv(rows, tmp_path / "g.csv")
    assert read_grades_csv(path) == sorted(rows, key=lambda r: student_order(r.student))
    with pytest.raises(ValueError):
        combine("x", "hw", [])
    text = summary(rows)
    assert "2 students" in text and "1 graded" in text and "1 missing" in text


def test_grades_csv_lists_students_in_number_order(tmp_path):
    names = ["student-10", "student-2", "Student-3", "s07", "s7", "student-1", "amy"]
    rows = [StudentRow(n, "hw", 1.0, 1.0, "graded") for n in names]
    listed = [r.student for r in read_grades_csv(write_grades_csv(rows, tmp_path / "g.csv"))]
    assert listed == ["Student-3", "amy", "s07", "s7", "student-1", "student-2", "student-10"]


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.text(max_size=6),
    a=st.integers(0, 10**30),
    b=st.integers(0, 10**30),
    zeros=st.integers(0, 3),
    names=st.lists(st.text(max_size=12), max_size=8),
)
def test_student_order_compares_numbers_as_numbers(prefix, a, b, zeros, names):
    prefix = prefix.rstrip("0123456789")  # the number must start where the prefix ends
    first, second = f"{prefix}{'0' * zeros}{a}x", f"{prefix}{b}x"
    if a != b:
        assert (student_order(first) < student_order(second)) == (a < b)
    # A total order on any names (folder names are arbitrary text): sorting never raises and
    # equal keys only for equal names.
    ordered = sorted(names, key=student_order)
    assert sorted(ordered) == sorted(names)
    assert len({student_order(n) for n in names}) == len(set(names))


# ------------------------------------------------------------------- run


def test_kill_tagged_kills_only_the_tagged(tmp_path):
    env = dict(os.environ)
    env[JOB_TAG_ENV] = "tag-under-test"
    tagged = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], env=env, start_new_session=True
    )
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.3)
        assert kill_tagged("tag-under-test") == 1
        assert tagged.wait(timeout=5) != 0
        assert other.poll() is None
    finally:
        other.kill()
        tagged.kill()
        other.wait()
