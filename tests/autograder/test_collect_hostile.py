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
    monkeypatch.setattr(
        zipfile.ZipFile, "_RealGetContents", lambda self: parsed.append(1), raising=True
    )
    (sub,) = collect.collect(subs, EXPECTED, tmp_path / "work")
    assert sub.status == "invalid"
    assert (
        sub.detail == f"zip holds {collect.MAX_ENTRIES + 1} entries; the limit is "
        f"{collect.MAX_ENTRIES}"
    )
    assert parsed == []  # refused from the end-of-directory record alone


def test_a_collection_past_its_time_budget_says_so(tmp_path):
    folder = tmp_path / "slow"
    folder.mkdir()
    for i in range(300):
        (folder / f"f{i}.txt").write_text("x")
    sub = collect._collect_one("slow", folder, EXPECTED, tmp_path / "work", seconds=1e-6)
    assert sub.status == "invalid"
    assert sub.detail.startswith("collection took longer than 1e-06 s and was stopped (")


def test_hashing_a_huge_or_deep_folder_stops_at_its_budget_or_entry_cap(tmp_path, monkeypatch):
    """The hash of SUBMISSIONS taken before a run had no budget: it listed a whole tree first.

    A folder 300 levels deep, hashed with a budget already spent, stops at its first entry
    (one folder listed); before, every level was listed before the first check. A folder of
    more than ``MAX_ENTRIES`` entries is refused while it is walked.
    """
    deep = tmp_path / "subs" / "deep"
    (deep / "/".join(["d"] * 300)).mkdir(parents=True)
    listed = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p=".": listed.append(p) or real_scandir(p))
    with pytest.raises(ValueError, match=r"took longer than 1e-06 s .*\(hashing, at entry 1\)"):
        collect.hash_path(deep, collect.Budget(1e-6))
    assert len(listed) == 1
    monkeypatch.setattr(os, "scandir", real_scandir)
    many = tmp_path / "subs" / "many"
    many.mkdir()
    for i in range(collect.MAX_ENTRIES + 1):
        (many / f"f{i}").touch()
    (tmp_path / "subs" / "ok").mkdir()
    hashes = collect.entry_hashes(tmp_path / "subs", seconds=60)
    assert (
        hashes["many"] == f"{collect.UNHASHABLE}the folder holds more than "
        f"{collect.MAX_ENTRIES} entries"
    )
    assert hashes["ok"] == collect.hash_path(tmp_path / "subs" / "ok")
    # Collection takes the hashes as they are: that student is invalid with the reason,
    # never copied; the others are collected.
    copied = []
    real_copy = collect.copy_folder
    monkeypatch.setattr(
        collect, "copy_folder", lambda src, *a: copied.append(src.name) or real_copy(src, *a)
    )
    subs = {
        s.student: s
        for s in collect.collect(tmp_path / "subs", EXPECTED, tmp_path / "work", hashes=hashes)
    }
    assert subs["many"].status == "invalid"
    assert subs["many"].detail == f"the folder holds more than {collect.MAX_ENTRIES} entries"
    assert subs["deep"].status is None and subs["ok"].status is None
    assert sorted(copied) == ["deep", "ok"]


def test_the_folder_hash_is_the_one_earlier_runs_stored(tmp_path):
    """Walked entry by entry, the hash is still that of the sorted ``rglob`` (stored grades
    of unchanged students stay reusable): computed here the old way, independently."""
    import hashlib
    import stat

    root = tmp_path / "s"
    for rel in ["a/b/c.txt", "a-c/x", "a.b", "A/z", ".hidden/q", "a/b c/d", "é/ü", "a/b/c/d/e"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    (root / "a" / "link").symlink_to("../a.b")
    (root / "dirlink").symlink_to("a")
    os.mkfifo(root / "fifo")
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel, mode = p.relative_to(root).as_posix(), os.lstat(p).st_mode
        if stat.S_ISLNK(mode):
            h.update(f"L {rel} -> {os.readlink(p)}\n".encode())
        elif stat.S_ISREG(mode):
            h.update(f"F {rel}\n".encode())
            h.update(hashlib.sha256(p.read_bytes()).hexdigest().encode())
        elif not stat.S_ISDIR(mode):
            h.update(f"S {rel} named pipe\n".encode())
    assert collect.hash_path(root) == h.hexdigest()


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_the_lms_export_neutralises_formulas_and_grades_csv_keeps_names(tmp_path, name):
    rows = [
        StudentRow(name, "a1", 3.0, 10.0, "graded", ""),
        StudentRow("ann lee", "a1", 10.0, 10.0, "graded", ""),
    ]
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
    (subs / "many").mkdir()
    for i in range(collect.MAX_ENTRIES + 1):
        (subs / "many" / f"f{i}").touch()
    linked = write_folder(tmp_path / "elsewhere", "bob", with_solutions(release_nb))
    (subs / "bob").mkdir()
    (subs / "bob" / f"{ASSIGNMENT}.ipynb").symlink_to(linked / f"{ASSIGNMENT}.ipynb")
    proc = run_cli("grade", ASSIGNMENT, subs, "--out", out, "--no-progress", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert {s: (r["status"], float(r["score"])) for s, r in rows.items()} == {
        "alice": ("graded", 10.0),
        "x": ("invalid", 0.0),
        "dev": ("missing", 0.0),
        "bob": ("missing", 0.0),
        "many": ("invalid", 0.0),
    }
    assert rows["many"]["detail"] == f"the folder holds more than {collect.MAX_ENTRIES} entries"
    assert "named pipe" in rows["x"]["detail"]
    assert f"named pipe ignored: {ASSIGNMENT}.ipynb" in rows["dev"]["detail"]
    assert f"link ignored: {ASSIGNMENT}.ipynb" in rows["bob"]["detail"]
    assert nbformat.read(str(linked / f"{ASSIGNMENT}.ipynb"), as_version=4)  # untouched
