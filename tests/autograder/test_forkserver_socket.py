"""One fork server for all of a machine's workers (``local:N``): its unix socket.

A ``local:N`` cluster's workers fork their students from the coordinator's server
(:class:`autograder.forkserver.ForkServer` with ``listen=True``) through
:class:`autograder.forkserver.ForkServerClient`. Real server, real students, real kernels.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest
from autograder_helpers import ASSIGNMENT, with_solutions

from autograder.course import prepare
from autograder.forkserver import ForkServer, ForkServerClient
from autograder.run import run_student


def test_two_workers_at_once_each_get_their_own_student_process(tmp_path, release_nb):
    # Two clients (as two workers would) ask at the same moment: each student is forked on
    # its own and graded on its own (a solved and an untouched notebook keep their scores).
    prep = prepare(ASSIGNMENT, tmp_path / "prep")
    solved, untouched = tmp_path / "solved.ipynb", tmp_path / "untouched.ipynb"
    nbformat.write(with_solutions(release_nb), str(solved))
    nbformat.write(release_nb, str(untouched))
    with ForkServer(tmp_path / "server", listen=True) as server:
        folder = server.address.parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # this user's alone
        spawned = []

        class Recording(ForkServerClient):
            def spawn(self, *args):
                pid = super().spawn(*args)
                spawned.append(pid)
                return pid

        def grade(student, path):
            return run_student(
                prep,
                student,
                {ASSIGNMENT: path},
                tmp_path / student,
                timeout=120,
                server=Recording(server.address),
            )

        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(grade, ["solved", "untouched"], [solved, untouched]))
    assert [r.status for r in runs] == [None, None], runs
    assert sum(runs[0].reported[ASSIGNMENT].values()) == prep.max_score
    assert sum(runs[1].reported[ASSIGNMENT].values()) == 0
    # Forked by the server (not a fresh interpreter after a failed request), one each.
    assert len(spawned) == 2 and None not in spawned and len(set(spawned)) == 2
    assert server.proc.pid not in spawned
    assert not folder.exists()  # the socket's folder goes with the server


def test_another_user_cannot_reach_the_server(tmp_path):
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")
    # (pytest's own folders are closed to others anyway: one that is not.)
    with tempfile.TemporaryDirectory() as open_dir, ForkServer(open_dir, listen=True) as server:
        os.chmod(open_dir, 0o755)
        request = json.dumps({"job": "j", "tag": "t", "log": "l", "cwd": "/"}).encode() + b"\n"
        # (Everything imported before the switch: the interpreter is in root's home.)
        code = (
            "import os, socket\n"
            "os.setgid(65534); os.setuid(65534)\n"
            "conn = socket.socket(socket.AF_UNIX); conn.settimeout(60)\n"
            "try:\n"
            f"    conn.connect({str(server.address)!r})\n"
            "    print('connected')\n"
            f"    conn.sendall({request!r})\n"
            "    print(repr(conn.recv(100)))\n"
            "except OSError as exc:\n"
            "    print(type(exc).__name__)\n"
        )

        def as_nobody() -> str:
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            assert out.returncode == 0, out.stderr
            return out.stdout.split()

        assert as_nobody() == ["PermissionError"]  # the socket's folder is closed to others
        # Even with the folder and the socket opened up, the server answers no one else.
        os.chmod(server.address.parent, 0o755)
        os.chmod(server.address, 0o777)
        answer = as_nobody()  # connected, and dropped without a process
        assert answer[0] == "connected" and answer[1] in ("b''", "ConnectionResetError"), answer
        # The owner is answered (a pid, for a job that then fails in its own process).
        job = tmp_path / "missing.json"
        pid = ForkServerClient(server.address).spawn(job, "tag", tmp_path / "log", tmp_path)
        assert isinstance(pid, int) and pid != server.proc.pid


def test_a_server_that_is_gone_answers_none(tmp_path):
    server = ForkServer(tmp_path / "server", listen=True)
    client = ForkServerClient(server.address)
    server.proc.kill()
    server.proc.wait()
    try:
        # (run_student then starts a new interpreter for that student.)
        assert client.spawn(tmp_path / "job.json", "tag", tmp_path / "log", tmp_path) is None
    finally:
        server.close()
