"""A student that hangs and spawns processes: the wall-clock limit ends all of it."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from autograder_helpers import ASSIGNMENT, with_solutions

from autograder.run import ForkServer, prepare, run_student

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


@pytest.mark.parametrize("forked", [False, True], ids=["new-interpreter", "fork-server"])
def test_wall_clock_timeout_kills_kernel_and_its_children(tmp_path, release_nb, forked):
    prep = prepare(ASSIGNMENT, tmp_path / "prep")
    server = ForkServer(tmp_path / "server") if forked else None
    pidfile = tmp_path / "sleep.pid"
    nb = with_solutions(release_nb, replace={"quadratic_grad": HANG.format(pidfile=str(pidfile))})
    sub = tmp_path / "student.ipynb"
    nbformat.write(nb, str(sub))
    limit = 15
    start = time.monotonic()
    try:
        result = run_student(prep, "hangs", {ASSIGNMENT: sub}, tmp_path / "run", timeout=limit,
                             cell_timeout=120, server=server)
        if server is not None:
            # A server that died (a student may kill it) only costs speed: the next student
            # is graded by a fresh interpreter.
            server.proc.kill()
            server.proc.wait()
            good = tmp_path / "good.ipynb"
            nbformat.write(with_solutions(release_nb), str(good))
            after = run_student(prep, "good", {ASSIGNMENT: good}, tmp_path / "run2",
                                timeout=120, server=server)
            assert after.status is None and not server.ready, after
            assert sum(after.reported[ASSIGNMENT].values()) == prep.max_score
    finally:
        if server is not None:
            server.close()
    elapsed = time.monotonic() - start
    assert result.status == "timeout", result
    assert str(limit) in result.detail
    assert limit <= elapsed
    assert pidfile.exists(), "the kernel never started: raise the limit on a slow machine"
    assert result.seconds < limit + 10
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
