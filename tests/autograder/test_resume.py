"""An interrupted ``grade`` (the instructor's laptop sleeps, the job is killed) resumes.

The grader is killed with SIGKILL (no chance to clean up) once it has stored at least one
student's grade; the same command run again keeps what was stored without starting a kernel
for it, grades the rest, and ends with exactly one row per student.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time

import pytest
from autograder_helpers import REPO, grade_cmd, with_solutions, write_folder

pytestmark = pytest.mark.slow

STUDENTS = ["ann", "ben", "cat", "dov"]


def test_a_killed_run_resumes_where_it_stopped(tmp_path, release_nb):
    subs, out = tmp_path / "subs", tmp_path / "out"
    for name in STUDENTS:
        write_folder(subs, name, with_solutions(release_nb))
    cmd = grade_cmd(subs, out, "--jobs", 1)
    first = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    state = out / "grading_state.json"
    deadline = time.monotonic() + 300
    stored = {}
    while time.monotonic() < deadline and first.poll() is None:
        try:
            stored = json.loads(state.read_text()).get("students", {})
        except (OSError, ValueError):
            stored = {}
        if stored:
            break
        time.sleep(0.05)
    assert stored, "the first run stored no grade before the deadline"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert not (out / "grades.csv").exists() or len(stored) < len(STUDENTS)

    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    kept = int(again.stdout.split(" unchanged submission(s)")[0].split()[-1])
    assert kept >= len(stored) >= 1
    with open(out / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["student"] for r in rows) == STUDENTS
    assert all((r["status"], float(r["score"])) == ("graded", 10.0) for r in rows), rows
