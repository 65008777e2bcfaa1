"""A student that hangs and spawns processes: the wall-clock limit ends all of it."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from autograder_helpers import ASSIGNMENT, with_solutions

from autograder.course import prepare
from autograder.forkserver import ForkServer
from autograder.run import run_student

pytestmark = pytest.mark.slow

#: The student's cell starts a process of its own, then never returns. (The sandbox lets the
#: kernel write nowhere the test could read: the process is found by its unique command line.)
HANG = """import subprocess, time
_child = subprocess.Popen(["sleep", "{seconds}"])
while True:
    time.sleep(0.05)
"""


def sleepers(seconds: int) -> list[int]:
    """Pids of the live ``sleep SECONDS`` processes (zombies excluded)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (
                proc.name.isdigit()
                and (proc / "cmdline").read_bytes() == f"sleep\0{seconds}\0".encode()
                and alive(int(proc.name))
            ):
                found.append(int(proc.name))
        except OSError:
            pass
    return found


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
    seconds = 3000 + os.getpid() % 1000 * 2 + forked  # unique to this test
    nb = with_solutions(release_nb, replace={"quadratic_grad": HANG.format(seconds=seconds)})
    sub = tmp_path / "student.ipynb"
    nbformat.write(nb, str(sub))
    limit = 15
    start = time.monotonic()
    seen = []
    try:
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(
                run_student,
                prep,
                "hangs",
                {ASSIGNMENT: sub},
                tmp_path / "run",
                timeout=limit,
                cell_timeout=120,
                server=server,
            )
            while not future.done():
                seen = seen or sleepers(seconds)
                time.sleep(0.1)
            result = future.result()
        if server is not None:
            # A server that died (a student may kill it) only costs speed: the next student
            # is graded by a fresh interpreter.
            server.proc.kill()
            server.proc.wait()
            good = tmp_path / "good.ipynb"
            nbformat.write(with_solutions(release_nb), str(good))
            after = run_student(
                prep, "good", {ASSIGNMENT: good}, tmp_path / "run2", timeout=120, server=server
            )
            assert after.status is None and not server.ready, after
            assert sum(after.reported[ASSIGNMENT].values()) == prep.max_score
    finally:
        if server is not None:
            server.close()
    elapsed = time.monotonic() - start
    assert result.status == "timeout", result
    assert str(limit) in result.detail
    assert limit <= elapsed
    assert seen, "the student's process never started: raise the limit on a slow machine"
    assert result.seconds < limit + 10
    deadline = time.monotonic() + 5
    while sleepers(seconds) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sleepers(seconds) == [], "a process spawned by the student's code outlived the timeout"


def test_run_student_rejects_bad_timeout(tmp_path):
    from autograder.course import Prepared

    prep = Prepared(ASSIGNMENT, tmp_path, [ASSIGNMENT], {ASSIGNMENT: 10.0})
    with pytest.raises(ValueError, match="timeout"):
        run_student(prep, "x", {}, tmp_path / "w", timeout=0)
