"""Hardening, round three (issue 14): the channels and folders round two left.

* **The heartbeat.** jupyter_client connects a heartbeat socket to every kernel it starts: a
  REQ socket that sends ``ping`` and reads one reply a second, outside the output guard. A
  kernel can take that address over (end ipykernel's heartbeat thread, bind its own ROUTER
  at the same unix socket) and answer every ping with megabytes the limit never counts.
  The grader now never opens the heartbeat: a kernel that takes the address over waits for a
  ping that never comes (before: the first ping arrived within two seconds).
* **The kernel's socket folder** (a short temporary folder when the student's work folder is
  too deep for a unix socket address) is removed by the grading run that made it whatever
  happens to the student's process: after a wall-clock timeout it was left behind. So was
  the kernel's connection file, which jupyter_client wrote to ``$TMPDIR`` (not to the
  student's private runtime folder, as the grader meant): it now goes there.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from autograder_helpers import ASSIGNMENT, grade_id, with_solutions

from autograder.course import prepare
from autograder.run import run_student

pytestmark = pytest.mark.slow

#: Ends ipykernel's heartbeat thread, binds a ROUTER at its address and waits 4 s for the
#: grader's ping, which it would answer with 8 MB, many times. Prints what happened.
HIJACK_HEARTBEAT = """import time, zmq
_app = get_ipython().kernel.parent
_hb = _app.heartbeat
_addr = f"{_hb.transport}://{_hb.ip}-{_hb.port}"
_hb.context.term()  # the heartbeat thread closes its socket and ends
_hb.join(5)
_router = zmq.Context().socket(zmq.ROUTER)
_router.bind(_addr)
_pings, _sent, _end = 0, 0, time.monotonic() + 4
while time.monotonic() < _end:
    if _router.poll(100):
        _peer, *_ = _router.recv_multipart()
        _pings += 1
        for _ in range(4):
            _router.send_multipart([_peer, b"", b"h" * 2**21])
            _sent += 2**21
print(f"heartbeat: {_pings} ping(s), {_sent} bytes sent back")
"""


def _notebook_with(release_nb, source: str, tmp_path: Path) -> Path:
    nb = with_solutions(release_nb)
    at = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "setup") + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    path = tmp_path / "student.ipynb"
    nbformat.write(nb, str(path))
    return path


def _printed(autograded: Path, marker: str) -> str:
    nb = nbformat.read(str(autograded), as_version=4)
    return "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if marker in o.get("text", "")
    )


@pytest.fixture(scope="module")
def prep(tmp_path_factory):
    return prepare(ASSIGNMENT, tmp_path_factory.mktemp("prep"))


def test_a_kernel_cannot_push_bytes_through_the_heartbeat(tmp_path, release_nb, prep):
    sub = _notebook_with(release_nb, HIJACK_HEARTBEAT, tmp_path)
    result = run_student(prep, "hb", {ASSIGNMENT: sub}, tmp_path / "run", timeout=120)
    assert result.status is None, result
    printed = _printed(result.autograded[ASSIGNMENT], "heartbeat:")
    assert printed == "heartbeat: 0 ping(s), 0 bytes sent back\n", printed
    # And the student is graded on its own (correct) code.
    assert sum(result.reported[ASSIGNMENT].values()) == prep.max_score
    job = json.loads((tmp_path / "run" / "job.json").read_text())
    assert job["limits"]["output_mb"] > 0  # the guard was on: it never saw this channel


#: A work folder this deep leaves no room for a unix socket address below it: the kernel's
#: sockets go to a short temporary folder instead.
DEEP = "w" * 80


@pytest.mark.parametrize("how", ["timeout", "crash"])
def test_the_kernels_socket_folder_never_outlives_its_student(
    tmp_path, release_nb, prep, monkeypatch, how
):
    # A temporary folder of this test's own: whatever the student's process made there and
    # left is seen (a folder left in /tmp would be lost among other runs').
    monkeypatch.setenv("TMPDIR", str(tmp_path / "t"))
    (tmp_path / "t").mkdir()
    code = (
        "while True:\n    pass\n"
        if how == "timeout"
        else "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    )
    sub = _notebook_with(release_nb, code, tmp_path)
    work = tmp_path / DEEP / "run"
    wall = 12 if how == "timeout" else 300
    result = run_student(prep, how, {ASSIGNMENT: sub}, work, timeout=wall, cell_timeout=120)
    assert (
        result.status in {"timeout", "crashed"} and how[:5] in result.status + result.detail.lower()
    ), result
    # Nothing of the student's is left in the temporary folder: before, a timeout left the
    # socket folder, and every kernel its connection file (with the key that signs messages).
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == []
    job = json.loads((work / "job.json").read_text())
    assert Path(job["ipc_dir"]).parent != work  # the short folder was needed
    assert not Path(job["ipc_dir"]).exists()
