"""Hardening, round three (issue 14): the channels and folders round two left.

* **The heartbeat.** jupyter_client connects a heartbeat socket to every kernel it starts: a
  REQ socket that sends ``ping`` and reads one reply a second, outside the output guard. A
  kernel can take that address over (end ipykernel's heartbeat thread, bind its own ROUTER
  at the same unix socket) and answer every ping with megabytes the limit never counts.
  The grader now never opens the heartbeat: a kernel that takes the address over waits for a
  ping that never comes (before: the first ping arrived within two seconds).
* **The kernel's socket folder** (a short temporary folder when the student's work folder is
  too deep for a unix socket address) is removed by the grading run that made it whatever
  happens to the student's process: after a wall-clock timeout it was left behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from autograder_helpers import ASSIGNMENT, grade_id, with_solutions

from autograder.run import prepare, run_student

pytestmark = pytest.mark.slow

#: Ends ipykernel's heartbeat thread, binds a ROUTER at its address and waits 4 s for the
#: grader's ping, which it would answer with 8 MB, many times. Prints what happened.
HIJACK_HEARTBEAT = '''import time, zmq
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
'''


def _notebook_with(release_nb, source: str, tmp_path: Path) -> Path:
    nb = with_solutions(release_nb)
    at = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "setup") + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    path = tmp_path / "student.ipynb"
    nbformat.write(nb, str(path))
    return path


def _printed(autograded: Path, marker: str) -> str:
    nb = nbformat.read(str(autograded), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if marker in o.get("text", ""))


def test_a_kernel_cannot_push_bytes_through_the_heartbeat(tmp_path, release_nb):
    prep = prepare(ASSIGNMENT, tmp_path / "prep")
    sub = _notebook_with(release_nb, HIJACK_HEARTBEAT, tmp_path)
    result = run_student(prep, "hb", {ASSIGNMENT: sub}, tmp_path / "run", timeout=120)
    assert result.status is None, result
    printed = _printed(result.autograded[ASSIGNMENT], "heartbeat:")
    assert printed == "heartbeat: 0 ping(s), 0 bytes sent back\n", printed
    # And the student is graded on its own (correct) code.
    assert sum(result.reported[ASSIGNMENT].values()) == prep.max_score
    job = json.loads((tmp_path / "run" / "job.json").read_text())
    assert job["limits"]["output_mb"] > 0  # the guard was on: it never saw this channel
