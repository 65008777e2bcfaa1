"""A student that hangs and spawns processes: the wall-clock limit ends all of it."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from autograder_helpers import ASSIGNMENT, with_solutions

from autograder.run import prepare, run_student

pytestmark = pytest.mark.slow

HANG = '''import pathlib, subprocess, time
_child = subprocess.Popen(["sleep", "300"])
pathlib.Path({pidfile!r}).write_text(str(_child.pid))
while True:
    time.sleep(0.05)
'''


def alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        state = next(ln for ln in status.read_text().splitlines() if ln.startswith("State:"))
    except (OSError, StopIteration):
        return False
    return " Z " not in state and "zombie" not in state


def test_wall_clock_timeout_kills_kernel_and_its_children(tmp_path, release_nb):
    prep = prepare(ASSIGNMENT, tmp_path / "prep")
    pidfile = tmp_path / "sleep.pid"
    nb = with_solutions(release_nb, replace={"quadratic_grad": HANG.format(pidfile=str(pidfile))})
    sub = tmp_path / "student.ipynb"
    nbformat.write(nb, str(sub))
    limit = 15
    start = time.monotonic()
    result = run_student(prep, "hangs", {ASSIGNMENT: sub}, tmp_path / "run", timeout=limit,
                         cell_timeout=120)
    elapsed = time.monotonic() - start
    assert result.status == "timeout", result
    assert str(limit) in result.detail
    assert limit <= elapsed < limit + 10
    assert pidfile.exists(), "the kernel never started: raise the limit on a slow machine"
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), "a process spawned by the student's code outlived the timeout"


def test_run_student_rejects_bad_timeout(tmp_path):
    from autograder.run import Prepared

    prep = Prepared(ASSIGNMENT, tmp_path, [ASSIGNMENT], {ASSIGNMENT: 10.0})
    with pytest.raises(ValueError, match="timeout"):
        run_student(prep, "x", {}, tmp_path / "w", timeout=0)
