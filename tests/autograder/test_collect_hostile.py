"""The instructor's folder is not trusted blindly either (issue 14, class 4).

* A named pipe called ``x.zip`` (or inside a student's folder, called ``gd_basics.ipynb``)
  made the whole run hang with no row written: collection never opens a special file, the
  row is ``invalid`` and says what the entry is.
* A zip of more than ``MAX_ENTRIES`` files is refused from its directory record, before it is
  parsed; a student whose collection runs past its time budget is ``invalid`` and the row says
  which budget and where it stopped.
* A link inside a submission folder is not followed, and the row says "link ignored".
* The LMS export neutralises a value a spreadsheet would evaluate (``=``, ``+``, ``-``, ``@``,
  tab, carriage return at its start); ``grades.csv`` keeps every name byte-exact.
"""

from __future__ import annotations

import csv
import os
import zipfile

import nbformat
import pytest
from autograder_helpers import ASSIGNMENT, run_cli, with_solutions, write_folder

from autograder import collect
from autograder.report import StudentRow, export_lms, write_grades_csv

EXPECTED = {ASSIGNMENT: set()}


def test_a_named_pipe_is_invalid_and_never_opened(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    os.mkfifo(subs / "x.zip")  # opening it for reading would block until a writer comes
    (subs / "y").mkdir()
    os.mkfifo(subs / "y" / f"{ASSIGNMENT}.ipynb")
    subs_by = {s.student: s for s in collect.collect(subs, EXPECTED, tmp_path / "work")}
    assert sorted(subs_by) == ["x", "y"]
    assert subs_by["x"].status == "invalid"
    assert "x.zip is a named pipe, not a zip file or a folder" in subs_by["x"].detail
    assert subs_by["y"].notebooks[ASSIGNMENT].status == "missing"
    assert f"named pipe ignored: {ASSIGNMENT}.ipynb" in subs_by["y"].note
    # The folder's hash, taken before and after every run, does not open it either.
    assert collect.hash_path(subs / "x.zip") != collect.hash_path(subs / "y")


def test_a_link_in_a_folder_is_ignored_and_said(tmp_path):
    subs = tmp_path / "subs"
    (subs / "ann" / "sub").mkdir(parents=True)
    secret = tmp_path / "secret.ipynb"
    secret.write_text("{}")
    (subs / "ann" / "sub" / f"{ASSIGNMENT}.ipynb").symlink_to(secret)
    (sub,) = collect.collect(subs, EXPECTED, tmp_path / "work")
    assert sub.notebooks[ASSIGNMENT].status == "missing"
    assert sub.note == f"link ignored: sub/{ASSIGNMENT}.ipynb"
    assert not list((tmp_path / "work").rglob("*.ipynb"))


def test_a_zip_with_too_many_entries_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    subs.mkdir()
    with zipfile.ZipFile(subs / "many.zip", "w") as zf:
        for i in range(collect.MAX_ENTRIES + 1):
            zf.writestr(f"f{i}", b"")
    parsed = []
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents",
                        lambda self: parsed.append(1), raising=True)
    (sub,) = collect.collect(subs, EXPECTED, tmp_path / "work")
    assert sub.status == "invalid"
    assert sub.detail == f"zip holds {collect.MAX_ENTRIES + 1} entries; the limit is " \
                         f"{collect.MAX_ENTRIES}"
    assert parsed == []  # refused from the end-of-directory record alone


def test_a_collection_past_its_time_budget_says_so(tmp_path):
    folder = tmp_path / "slow"
    folder.mkdir()
    for i in range(300):
        (folder / f"f{i}.txt").write_text("x")
    sub = collect._collect_one("slow", folder, EXPECTED, tmp_path / "work", seconds=1e-6)
    assert sub.status == "invalid"
    assert sub.detail.startswith("collection took longer than 1e-06 s and was stopped (")


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)",
                                  "\tx", "\rx"])
def test_the_lms_export_neutralises_formulas_and_grades_csv_keeps_names(tmp_path, name):
    rows = [StudentRow(name, "a1", 3.0, 10.0, "graded", ""),
            StudentRow("ann lee", "a1", 10.0, 10.0, "graded", "")]
    write_grades_csv(rows, tmp_path / "g" / "grades.csv")
    with open(tmp_path / "g" / "grades.csv", newline="", encoding="utf-8") as fh:
        assert {r["student"] for r in csv.DictReader(fh)} == {name, "ann lee"}
    out = export_lms([tmp_path / "g"], tmp_path / "lms.csv")
    with open(out, newline="", encoding="utf-8") as fh:
        exported = {r["student"]: r["total"] for r in csv.DictReader(fh)}
    assert exported == {"'" + name: "3", "ann lee": "10"}


@pytest.mark.slow
def test_the_cli_run_never_blocks_on_special_files(tmp_path, release_nb):
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_folder(subs, "alice", with_solutions(release_nb))
    os.mkfifo(subs / "x.zip")
    (subs / "dev").mkdir()
    os.mkfifo(subs / "dev" / f"{ASSIGNMENT}.ipynb")
    linked = write_folder(tmp_path / "elsewhere", "bob", with_solutions(release_nb))
    (subs / "bob").mkdir()
    (subs / "bob" / f"{ASSIGNMENT}.ipynb").symlink_to(linked / f"{ASSIGNMENT}.ipynb")
    proc = run_cli("grade", ASSIGNMENT, subs, "--out", out, "--no-progress", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert {s: (r["status"], float(r["score"])) for s, r in rows.items()} == {
        "alice": ("graded", 10.0), "x": ("invalid", 0.0), "dev": ("missing", 0.0),
        "bob": ("missing", 0.0)}
    assert "named pipe" in rows["x"]["detail"]
    assert f"named pipe ignored: {ASSIGNMENT}.ipynb" in rows["dev"]["detail"]
    assert f"link ignored: {ASSIGNMENT}.ipynb" in rows["bob"]["detail"]
    assert nbformat.read(str(linked / f"{ASSIGNMENT}.ipynb"), as_version=4)  # untouched
