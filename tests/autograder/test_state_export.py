"""Fast tests of the stored grading state (re-runs) and of the LMS export (no kernels)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from autograder_helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.collect import Submission, hash_path
from autograder.report import StudentRow, export_lms, write_feedback, write_grades_csv
from autograder.state import STATE_FILE, GradingState, run_key, source_hash, student_key
from autograder.verify import Verdict


def make_source(root: Path) -> Path:
    src = root / "hw"
    src.mkdir(parents=True)
    (src / "hw.ipynb").write_text('{"cells": []}')
    (src / "data.csv").write_text("1,2\n")
    return src


def test_source_hash_ignores_litter_but_not_content(tmp_path):
    src = make_source(tmp_path)
    h0 = source_hash(src)
    (src / ".ipynb_checkpoints").mkdir()
    (src / ".ipynb_checkpoints" / "hw-checkpoint.ipynb").write_text("old")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert source_hash(src) == h0
    (src / "data.csv").write_text("1,3\n")
    assert source_hash(src) != h0
    with pytest.raises(ValueError, match="folder"):
        source_hash(tmp_path / "absent")


def test_keys_change_with_everything_that_can_change_a_grade(tmp_path):
    src = make_source(tmp_path)
    cfg = tmp_path / "nbgrader_config.py"
    cfg.write_text("c = get_config()\n")
    base = run_key(src, None, timeout=300, cell_timeout=60)
    assert base == run_key(src, None, timeout=300, cell_timeout=60)
    others = {
        run_key(src, cfg, timeout=300, cell_timeout=60),
        run_key(src, None, timeout=301, cell_timeout=60),
        run_key(src, None, timeout=300, cell_timeout=61),
    }
    (src / "hw.ipynb").write_text('{"cells": [1]}')
    others.add(run_key(src, None, timeout=300, cell_timeout=60))
    assert base not in others and len(others) == 4

    sub = Submission("amy", tmp_path / "amy.zip", sha256="a" * 64)
    k = student_key(base, sub)
    assert k != student_key(base, Submission("amy", tmp_path / "amy", sha256="a" * 64))
    assert k != student_key(base, Submission("amy", tmp_path / "amy.zip", sha256="b" * 64))
    assert k != student_key(
        base, Submission("amy", tmp_path / "amy.zip", sha256="a" * 64, note="amy.pdf ignored")
    )
    with pytest.raises(ValueError, match="sub"):
        student_key(base, Submission("amy", tmp_path / "amy.zip"))


def test_state_roundtrip_and_invalidation(tmp_path):
    out = tmp_path / "out"
    verdicts = [
        Verdict("a", "graded", 2.0, 5.0, "failed: t2", {"t1": (2.0, 2.0), "t2": (0.0, 3.0)}),
        Verdict("b", "missing", 0.0, 1.0, "no b.ipynb", {"u": (0.0, 1.0)}),
    ]
    row = StudentRow("zoë q", "hw", 2.0, 6.0, "missing", "a: failed: t2; b: no b.ipynb")
    for v in verdicts:
        write_feedback(out, row.student, "hw", v, None)
    state = GradingState(out)
    assert state.lookup("zoë q", "k1") is None  # nothing stored yet
    state.store("k1", row, verdicts)
    state.save()
    again = GradingState(out)
    assert again.lookup("zoë q", "k1") == (row, verdicts)
    assert again.lookup("zoë q", "k2") is None  # another key: grade again
    page = out / "feedback" / "zoë q" / "b.html"
    page.write_text(page.read_text() + "edited")
    assert again.lookup("zoë q", "k1") is None  # a changed feedback page: grade again
    (out / STATE_FILE).write_text("{ not json")
    assert GradingState(out).students == {}
    (out / STATE_FILE).write_text(json.dumps({"format": -1, "students": {"x": {}}}))
    assert GradingState(out).students == {}


scores = st.floats(min_value=0, max_value=100, allow_nan=False).map(lambda x: round(x, 2))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["amy", "bo", "cy d", "dee", "zoë"]), scores, min_size=0, max_size=5
        ),
        min_size=1,
        max_size=4,
    )
)
def test_export_totals_are_sums_over_assignments(tmp_path_factory, classes):
    tmp = tmp_path_factory.mktemp("export")
    dirs = []
    for i, marks in enumerate(classes):
        d = tmp / f"a{i}"
        write_grades_csv(
            [StudentRow(s, f"hw{i}", x, 100.0, "graded") for s, x in marks.items()],
            d / "grades.csv",
        )
        dirs.append(d)
    path = export_lms(dirs, tmp / "lms.csv")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    present = [f"hw{i}" for i, m in enumerate(classes) if m]
    assert rows[0] == ["student", "total", *present]
    students = sorted({s for m in classes for s in m})
    assert [r[0] for r in rows[1:]] == students
    for r in rows[1:]:
        cells = dict(zip(present, r[2:], strict=True))
        expected_total = sum(m.get(r[0], 0.0) for m in classes)
        assert float(r[1]) == pytest.approx(expected_total, abs=1e-4)
        for i, m in enumerate(classes):
            if m:
                assert cells[f"hw{i}"] == ("" if r[0] not in m else f"{m[r[0]]:g}")


def test_export_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="grades_dirs"):
        export_lms([], tmp_path / "x.csv")
    with pytest.raises(ValueError, match="grades.csv"):
        export_lms([tmp_path], tmp_path / "x.csv")
    write_grades_csv(
        [StudentRow("a", "hw1", 1, 2, "graded"), StudentRow("b", "hw2", 1, 2, "graded")],
        tmp_path / "mix" / "grades.csv",
    )
    with pytest.raises(ValueError, match="mixes"):
        export_lms([tmp_path / "mix"], tmp_path / "x.csv")
    write_grades_csv([StudentRow("a", "hw1", 1, 2, "graded")], tmp_path / "one" / "grades.csv")
    with pytest.raises(ValueError, match="twice"):
        export_lms([tmp_path / "one", tmp_path / "one" / "grades.csv"], tmp_path / "x.csv")


def test_export_cli(tmp_path):
    write_grades_csv(
        [
            StudentRow("amy", "hw1", 3, 5, "graded"),
            StudentRow("bo b", "hw1", 0, 5, "missing", "no hw1.ipynb"),
        ],
        tmp_path / "g1" / "grades.csv",
    )
    write_grades_csv([StudentRow("amy", "hw2", 2.5, 4, "tampered")], tmp_path / "g2" / "grades.csv")
    before = hash_path(tmp_path / "g1")
    proc = run_cli("export", tmp_path / "g1", tmp_path / "g2", "--out", tmp_path / "lms.csv")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "lms.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [
        {"student": "amy", "total": "5.5", "hw1": "3", "hw2": "2.5"},
        {"student": "bo b", "total": "0", "hw1": "0", "hw2": ""},
    ]
    assert hash_path(tmp_path / "g1") == before
    bad = run_cli("export", tmp_path / "nowhere", "--out", tmp_path / "x.csv")
    assert bad.returncode == 2 and "grades.csv" in bad.stderr
