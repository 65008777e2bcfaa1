"""``grade`` run by an instructor who is not root.

CI runs as root, where the sandbox gives each kernel a uid of its own. An instructor on a
laptop is not root: bubblewrap then makes its own user namespace and the kernel keeps the
instructor's uid. The whole CLI is run here under ``unshare --user --map-user=1000``, so the
grader sees itself as uid 1000 and takes that path for real (the namespace maps it to the
test's own user, so the process limit is not what this checks; the file view is).
"""

from __future__ import annotations

import csv
import html
import os
import shutil
import subprocess

import nbformat
import pytest
from autograder_helpers import ASSIGNMENT, REPO, grade_cmd, grade_id, with_solutions, write_folder
from test_hostile import ATTACKS, WRONG_STEP

pytestmark = pytest.mark.slow


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-user=1000", "--map-group=1000", "id", "-u"],
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "1000"


@pytest.mark.skipif(not _can_unshare(), reason="needs unshare --user and bubblewrap")
def test_grading_as_a_user_who_is_not_root(tmp_path, release_nb):
    subs, out = tmp_path / "subs", tmp_path / "out"
    solution = with_solutions(release_nb)
    write_folder(subs, "alice", solution)
    write_folder(subs, "bob", with_solutions(release_nb, replace={"gd_step": WRONG_STEP}))
    snoop = nbformat.reads(nbformat.writes(solution), as_version=4)
    at = next(i for i, c in enumerate(snoop.cells) if grade_id(c) == "setup") + 1
    snoop.cells.insert(at, nbformat.v4.new_code_cell(ATTACKS["snoop"]))
    write_folder(subs, "snoop", snoop)
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    proc = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-user=1000",
            "--map-group=1000",
            *grade_cmd(subs, out, "--jobs", 2),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["student"]: (r["status"], float(r["score"])) for r in csv.DictReader(fh)}
    assert rows == {"alice": ("graded", 10.0), "bob": ("graded", 8.0), "snoop": ("graded", 10.0)}
    page = html.unescape((out / "feedback" / "snoop" / f"{ASSIGNMENT}.html").read_text())
    assert "FOUND []" in page
    assert "NO COURSEKIT: No module named 'coursekit'" in page
