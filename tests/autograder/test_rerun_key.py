"""Grades follow the reference: the re-run key covers the code that decides a verdict.

A stored grade is kept on a re-run only while its key is unchanged. The hidden tests compare
each student's results with coursekit's reference implementations, so a bug fixed in
coursekit must re-grade the class, while a changed book chapter must not. The slow test does
this end to end on a copy of the repository (the real CLI, real kernels): a correct student
graded against a broken reference loses points, the fixed reference gives them back without
``--force``, and editing a chapter afterwards keeps the stored grade.
"""

from __future__ import annotations

import csv
import shutil
import subprocess

import pytest
from autograder_helpers import REPO, grade_cmd, with_solutions, write_folder

from autograder.state import code_hash, run_key, verdict_code_hash

GOOD_GRAD = "        return self.A @ x - self.b\n"
BROKEN_GRAD = "        return self.A @ x + self.b\n"  # the reference's sign error


def copy_packages(dest):
    """The parts of the repository ``grade`` reads, without caches, into ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    for name in ("autograder", "coursekit", "exercises"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    shutil.copytree(REPO / "book" / "foundations", dest / "book" / "foundations", ignore=ignore)
    return dest


def test_code_hash_follows_a_reference_function_not_a_chapter(tmp_path):
    repo = copy_packages(tmp_path / "repo")
    folders = [repo / "coursekit", repo / "autograder"]
    h0 = code_hash(folders)
    assert h0 == code_hash(folders)
    (repo / "coursekit" / "__pycache__").mkdir(exist_ok=True)
    (repo / "coursekit" / "__pycache__" / "objectives.cpython-311.py").write_text("x = 1\n")
    (repo / "book" / "foundations" / "gradient_descent.md").write_text("# rewritten\n")
    assert code_hash(folders) == h0, "a cache or a chapter changed the key"

    objectives = repo / "coursekit" / "objectives.py"
    text = objectives.read_text()
    assert text.count(GOOD_GRAD) == 1
    objectives.write_text(text.replace(GOOD_GRAD, BROKEN_GRAD))
    h1 = code_hash(folders)
    assert h1 != h0
    objectives.write_text(text)
    assert code_hash(folders) == h0
    (repo / "autograder" / "verify.py").write_text("# the grader changed\n")
    assert code_hash(folders) not in {h0, h1}
    # A package renamed or moved is a different key too (names count, not only contents).
    assert code_hash([repo / "coursekit"]) != code_hash([repo / "autograder"])


def test_run_key_includes_the_verdict_code(tmp_path):
    src = tmp_path / "hw"
    src.mkdir()
    (src / "hw.ipynb").write_text("{}")
    here = verdict_code_hash()
    assert run_key(src, timeout=300, cell_timeout=60) == run_key(
        src, timeout=300, cell_timeout=60, code=here
    )
    assert run_key(src, timeout=300, cell_timeout=60, code="other") != run_key(
        src, timeout=300, cell_timeout=60, code=here
    )
    # This interpreter's coursekit and autograder are the ones hashed.
    assert here == code_hash([REPO / "coursekit", REPO / "autograder"])


def grade(repo, subs, out):
    """``python -m autograder grade`` run from ``repo`` (its packages are the ones imported)."""
    proc = subprocess.run(
        grade_cmd(subs, out, "--timeout", 240),
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "grades.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    return proc.stdout, row


@pytest.mark.slow
def test_a_fixed_reference_regrades_and_a_chapter_does_not(tmp_path, release_nb):
    repo = copy_packages(tmp_path / "repo")
    objectives = repo / "coursekit" / "objectives.py"
    good = objectives.read_text()
    objectives.write_text(good.replace(GOOD_GRAD, BROKEN_GRAD))
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_folder(subs, "ann", with_solutions(release_nb))

    _, row = grade(repo, subs, out)
    # The instructor's own solution, judged against a broken reference, loses points.
    assert row["status"] == "graded" and float(row["score"]) < 10.0, row
    assert "test_quadratic_grad" in row["detail"], row

    objectives.write_text(good)  # the bug is fixed: no --force, no state file deleted
    stdout, row = grade(repo, subs, out)
    assert "unchanged submission" not in stdout, stdout
    assert (row["status"], float(row["score"])) == ("graded", 10.0), row

    chapter = repo / "book" / "foundations" / "gradient_descent.md"
    chapter.write_text(chapter.read_text() + "\nA new paragraph.\n")
    stdout, row2 = grade(repo, subs, out)
    assert "1 unchanged submission(s) kept their stored grade" in stdout, stdout
    assert row2 == row
