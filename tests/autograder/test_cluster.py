"""Grading on a Dask cluster (``grade --cluster``) with real processes.

A ``dask scheduler`` and two ``dask worker`` processes (one thread each, each in its own
working folder, all on 127.0.0.1, stopped by the fixture) grade a small panel: the result
must be the local run's, row for row and cell score for cell score, also when one worker is
SIGKILLed while it grades a student. ``local:2`` is interrupted with SIGINT and resumed.
A worker without bubblewrap grades nobody unsandboxed; an unreachable scheduler stops the run
before anything is graded; without ``--cluster`` Dask is not even imported.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from autograder_helpers import (
    ASSIGNMENT,
    REPO,
    SOURCE_NB,
    run_cli,
    with_solutions,
    write_folder,
)
from autograder_helpers import grade_cmd as _grade_cmd

from autograder.cluster import parse_address

DASK = Path(sys.executable).parent / "dask"
COLUMN_GRAD = "def quadratic_grad(A, b, x):\n    return (A @ x - b).reshape(-1, 1)\n"
#: Seconds any process a test starts may live.
BOUND = 600


# --------------------------------------------------------------------------- no processes


@pytest.mark.parametrize(
    "text",
    [
        "local:1",
        "local:12",
        "tcp://127.0.0.1:8786",
        "tcp://localhost:8786",
        "tcp://[::1]:8786",
        "tls://grader.example.org:8786",
        "tls://10.0.0.5:8786",
    ],
)
def test_addresses_that_are_accepted(text):
    address = parse_address(text)
    assert address.text == text
    assert (address.workers is None) == (not text.startswith("local:"))


@pytest.mark.parametrize(
    "text, match",
    [
        ("local:0", "N >= 1"),
        ("local:two", "N >= 1"),
        ("", "expected local:N"),
        ("127.0.0.1:8786", "expected local:N"),
        ("http://127.0.0.1:8786", "expected local:N"),
        ("tcp://127.0.0.1", "expected local:N"),
        ("tcp://10.0.0.5:8786", "refusing plain tcp"),
        ("tcp://grader.example.org:8786", "refusing plain tcp"),
    ],
)
def test_addresses_that_are_refused(text, match):
    with pytest.raises(ValueError, match=match) as info:
        parse_address(text)
    assert "--cluster" in str(info.value)


def test_insecure_cluster_allows_plain_tcp_elsewhere():
    assert parse_address("tcp://10.0.0.5:8786", insecure=True).address == "tcp://10.0.0.5:8786"


def test_the_cli_refuses_plain_tcp_to_another_machine(tmp_path):
    (tmp_path / "subs").mkdir()
    proc = run_cli(
        "grade",
        ASSIGNMENT,
        tmp_path / "subs",
        "--out",
        tmp_path / "out",
        "--cluster",
        "tcp://10.0.0.5:8786",
        timeout=120,
    )
    assert proc.returncode == 2
    assert "refusing plain tcp:// to 10.0.0.5" in proc.stderr
    assert not (tmp_path / "out").exists()


#: A ``sitecustomize`` that makes Dask unimportable in the Python it starts (as in an
#: environment made before ``distributed`` was pinned): a finder first on ``sys.meta_path``.
NO_DASK = """import sys


class NoDask:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoDask())
"""


@pytest.mark.parametrize("cluster", ["local:2", "tcp://127.0.0.1:8786"])
def test_cluster_without_dask_stops_before_grading(cluster, tmp_path):
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    (tmp_path / "no-dask").mkdir()
    (tmp_path / "no-dask" / "sitecustomize.py").write_text(NO_DASK)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "no-dask")}
    check = [sys.executable, "-c", "import distributed"]
    blocked = subprocess.run(check, env=env, capture_output=True, text=True, timeout=120)
    assert "No module named 'distributed'" in blocked.stderr  # the blocker works
    out = tmp_path / "out"
    proc = subprocess.run(
        grade_cmd(tmp_path / "subs", out, "--cluster", cluster),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (line,) = proc.stderr.splitlines()
    assert line.startswith("error: --cluster needs Dask's distributed scheduler")
    pins = [
        ln.split("#")[0].strip()
        for ln in (REPO / "requirements.txt").read_text().splitlines()
        if ln.startswith(("dask==", "distributed=="))
    ]
    assert len(pins) == 2 and f"{sys.executable} -m pip install {' '.join(pins)}" in line
    assert "nothing was graded" in line
    assert not (out / "grades.csv").exists() and not (out / "grading_state.json").exists()


# --------------------------------------------------------------------------- real processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_with_path(path: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PATH"] = path
    return env


class DaskProcesses:
    """A scheduler and workers on 127.0.0.1, each in its own folder; :meth:`stop` ends them."""

    def __init__(self, root: Path, tls: dict | None = None):
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.others: set[int] = set()  # processes left by a killed worker
        #: ``{"ca": ..., "cert": ..., "key": ...}``: scheduler, workers and clients use TLS.
        self.tls = tls
        self.tls_args = (
            []
            if tls is None
            else ["--tls-ca-file", tls["ca"], "--tls-cert", tls["cert"], "--tls-key", tls["key"]]
        )
        folder = root / "scheduler"
        folder.mkdir(parents=True)
        sched_file = folder / "scheduler.json"
        protocol = ["--protocol", "tls"] if tls else []
        self.scheduler = self._start(
            [
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                sched_file,
                "--idle-timeout",
                str(BOUND),
                *protocol,
                *self.tls_args,
            ],
            folder,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not sched_file.exists():
            assert self.scheduler.poll() is None, (folder / "log").read_text()[-2000:]
            time.sleep(0.1)
        self.address = json.loads(sched_file.read_text())["address"]
        assert self.address.startswith(("tls" if tls else "tcp") + "://127.0.0.1:")

    def _start(self, cmd, folder: Path, path: str = "/usr/bin:/bin") -> subprocess.Popen:
        log = open(folder / "log", "wb")  # the process writes it until stopped
        proc = subprocess.Popen(
            ["/usr/bin/timeout", "-s", "KILL", str(BOUND), *map(str, cmd)],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env_with_path(path),
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def worker(self, name: str, path: str = "/usr/bin:/bin") -> subprocess.Popen:
        """A ``dask worker`` (no nanny: SIGKILL ends it for good) in ``root/name``."""
        folder = self.root / name
        folder.mkdir()
        # `timeout` runs the worker as its child, without exec: the worker's pid is found
        # below it (a SIGKILL must reach the worker itself).
        return self._start(
            [
                DASK,
                "worker",
                self.address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--name",
                name,
                "--local-directory",
                folder,
                *self.tls_args,
            ],
            folder,
            path,
        )

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client
        from distributed.security import Security

        security = (
            None
            if self.tls is None
            else Security(
                tls_ca_file=str(self.tls["ca"]),
                tls_client_cert=str(self.tls["cert"]),
                tls_client_key=str(self.tls["key"]),
                require_encryption=True,
            )
        )
        with Client(self.address, timeout=60, set_as_default=False, security=security) as client:
            client.wait_for_workers(n, timeout=180)

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except OSError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for pid in self.others:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture(scope="module")
def panel(tmp_path_factory, release_nb):
    """Four students: right, wrong shape, no notebook, a kernel that dies."""
    subs = tmp_path_factory.mktemp("cluster-panel") / "subs"
    source_nb = nbformat.read(str(SOURCE_NB), as_version=4)
    write_folder(subs, "alice", with_solutions(release_nb, source_nb))
    write_folder(
        subs, "dan", with_solutions(release_nb, source_nb, {"quadratic_grad": COLUMN_GRAD})
    )
    (subs / "eve").mkdir()
    (subs / "eve" / "answers.txt").write_text("no notebook")
    write_folder(
        subs,
        "lou",
        with_solutions(release_nb, source_nb, {"quadratic_grad": "import os\nos._exit(1)\n"}),
    )
    return subs


def grade_cmd(subs, out, *extra) -> list[str]:
    return _grade_cmd(subs, out, "--timeout", 240, *extra)


def cell_scores(out: Path) -> list[tuple]:
    """Every (student, notebook, cell, auto_score) of the gradebook, and no duplicate."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "gd-course") as gb:
        subs = gb.find_assignment(ASSIGNMENT).submissions
        students = [s.student.id for s in subs]
        assert len(students) == len(set(students)), students
        return sorted(
            (s.student.id, nb.name, g.name, g.auto_score)
            for s in subs
            for nb in s.notebooks
            for g in nb.grades
        )


@pytest.fixture(scope="module")
def local_run(panel, tmp_path_factory):
    out = tmp_path_factory.mktemp("cluster-local") / "out"
    proc = run_cli(
        "grade", ASSIGNMENT, panel, "--out", out, "--jobs", 2, "--no-progress", "--timeout", 240
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    procs = DaskProcesses(tmp_path_factory.mktemp("dask"))
    try:
        procs.worker("w1")
        procs.worker("w2")
        procs.wait_for_workers(2)
        yield procs
    finally:
        procs.stop()


def peaks(out: Path) -> dict[str, bool]:
    """Whether each student's cohort line has the peak memory of their grading process."""
    lines = [json.loads(ln) for ln in (out / "cohort.jsonl").read_text().splitlines()]
    return {rec["student"]: rec["peak_mb"] is not None and rec["peak_mb"] > 0 for rec in lines}


def assert_same_as_local(out: Path, local: Path) -> None:
    assert (out / "grades.csv").read_text() == (local / "grades.csv").read_text()
    assert cell_scores(out) == cell_scores(local)
    assert len(cell_scores(out)) == 4 * 3  # four students, three test cells
    # A worker sends back the peak memory its student's process reported, as a local run keeps.
    assert peaks(out) == peaks(local) and sum(peaks(local).values()) >= 2


@pytest.mark.slow
def test_a_scheduler_and_two_workers_grade_like_the_local_run(
    panel, local_run, dask_cluster, tmp_path
):
    out = tmp_path / "out"
    proc = subprocess.run(
        grade_cmd(panel, out, "--cluster", dask_cluster.address),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=BOUND,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_as_local(out, local_run)
    # The feedback pages are the workers' nbgrader pages (checked here), not status pages.
    page = (out / "feedback" / "alice" / f"{ASSIGNMENT}.html").read_text()
    assert "test_quadratic_grad" in page and "Status: <b>" not in page
    # Both workers graded: each left its own working folder.
    assert all((dask_cluster.root / w).is_dir() for w in ("w1", "w2"))


def dask_worker_pid(wrapper: subprocess.Popen) -> int:
    import psutil

    (child,) = psutil.Process(wrapper.pid).children()
    return child.pid


@pytest.mark.slow
def test_a_worker_killed_mid_student_loses_nothing(panel, local_run, dask_cluster, tmp_path):
    import psutil

    out = tmp_path / "out"
    victim = psutil.Process(dask_worker_pid(dask_cluster.procs[1]))  # w1
    grader = subprocess.Popen(
        grade_cmd(panel, out, "--cluster", dask_cluster.address),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        # Mid-student: a student's process (forked by the worker's fork server) is running.
        deadline, students = time.monotonic() + 300, []
        while time.monotonic() < deadline and grader.poll() is None and not students:
            try:
                servers = [p for p in victim.children() if "autograder.forkserver" in p.cmdline()]
                students = [c for s in servers for c in s.children()]
            except psutil.Error:
                pass
            time.sleep(0.05)
        assert students, "the worker never started a student before the run ended"
        dask_cluster.others |= {p.pid for p in victim.children(recursive=True)}
        victim.send_signal(signal.SIGKILL)
        stdout, stderr = grader.communicate(timeout=BOUND)
    finally:
        if grader.poll() is None:
            os.killpg(grader.pid, signal.SIGKILL)
            grader.wait()
    assert grader.returncode == 0, stderr[-3000:]
    assert "4 students" in stdout
    assert_same_as_local(out, local_run)


@pytest.mark.slow
def test_a_worker_without_bubblewrap_grades_nobody_unsandboxed(panel, tmp_path):
    procs = DaskProcesses(tmp_path / "dask")
    try:
        # Only the venv's tools on PATH: no bwrap.
        procs.worker("nobwrap", path=str(Path(sys.executable).parent))
        procs.wait_for_workers(1)
        subs = tmp_path / "subs"
        shutil.copytree(panel / "alice", subs / "alice")
        out = tmp_path / "out"
        proc = subprocess.run(
            grade_cmd(subs, out, "--cluster", procs.address),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=BOUND,
        )
    finally:
        procs.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "grades.csv", newline="") as fh:
        (row,) = csv.DictReader(fh)
    assert (row["student"], row["score"], row["status"]) == ("alice", "0", "crashed")
    assert row["detail"].startswith("could not run: worker ")
    assert (
        "cannot sandbox the kernel" in row["detail"]
        and "`bwrap` is not installed" in row["detail"]
        and "--unsafe-no-sandbox" not in row["detail"]
    )
    # Not remembered: the next run (on a worker that can sandbox) grades alice.
    assert json.loads((out / "grading_state.json").read_text())["students"] == {}
    # No kernel ran: alice's page is the status page.
    assert (
        "Status: <b>crashed</b>" in (out / "feedback" / "alice" / f"{ASSIGNMENT}.html").read_text()
    )


@pytest.mark.slow
def test_an_unreachable_scheduler_stops_the_run_before_grading(panel, tmp_path):
    out = tmp_path / "out"
    start = time.monotonic()
    proc = subprocess.run(
        grade_cmd(panel, out, "--cluster", f"tcp://127.0.0.1:{free_port()}"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=BOUND,
    )
    assert proc.returncode == 2
    assert "could not reach the Dask scheduler at tcp://127.0.0.1:" in proc.stderr
    assert "nothing was graded" in proc.stderr
    assert not (out / "grades.csv").exists() and not (out / "grading_state.json").exists()
    assert time.monotonic() - start < 120


@pytest.mark.slow
def test_local_cluster_interrupted_then_resumed(panel, local_run, tmp_path):
    out = tmp_path / "out"
    cmd = grade_cmd(panel, out, "--cluster", "local:2")
    first = subprocess.Popen(
        cmd,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    state, stored = out / "grading_state.json", {}
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and first.poll() is None and not stored:
            try:
                stored = json.loads(state.read_text()).get("students", {})
            except (OSError, ValueError):
                stored = {}
            time.sleep(0.05)
        assert stored, "the first run stored no grade before the deadline"
        first.send_signal(signal.SIGINT)  # Ctrl-C
        _, stderr = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    if first.returncode != 0:  # (it may have finished just before the signal)
        assert first.returncode == 130, stderr[-3000:]
        assert "run the same command again" in stderr
    kept = json.loads(state.read_text())["students"]
    assert set(stored) <= set(kept)

    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=BOUND)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(kept)} unchanged submission(s) kept their stored grade" in again.stdout
    assert_same_as_local(out, local_run)


@pytest.mark.slow
def test_without_cluster_dask_is_not_imported(tmp_path):
    (tmp_path / "subs").mkdir()
    code = (
        "import sys\nfrom autograder.pipeline import grade_assignment\n"
        f"grade_assignment({ASSIGNMENT!r}, {str(tmp_path / 'subs')!r}, "
        f"{str(tmp_path / 'out')!r}, progress=False)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dask', 'distributed')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=BOUND
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_the_guard_check_sees_only_a_script_imported_again(tmp_path):
    """``_imported_by_multiprocessing`` is true at the top level of a file run as
    ``__mp_main__`` (what multiprocessing's fork server does to the user's script), false
    when the same file runs as ``__main__`` or the check is called from a function."""
    import runpy

    from autograder import cluster

    script = tmp_path / "script.py"
    script.write_text(
        "from autograder.cluster import _imported_by_multiprocessing as check\n"
        "at_top = check()\n"
        "def later():\n    return check()\n"
    )
    again = runpy.run_path(str(script), run_name="__mp_main__")
    assert again["at_top"] is True
    assert runpy.run_path(str(script), run_name="__main__")["at_top"] is False
    assert cluster._imported_by_multiprocessing() is False


@pytest.mark.slow
def test_a_script_without_a_main_guard_is_told_what_to_do(tmp_path):
    """``local:N`` from a script: unguarded, a clear error (not Dask's "Nanny failed to
    start" alone) and no second cluster started from the worker's start-up; guarded, it
    grades."""
    (tmp_path / "subs").mkdir()
    call = (
        f"grade_assignment({ASSIGNMENT!r}, {str(tmp_path / 'subs')!r}, "
        f"{str(tmp_path / 'out')!r}, cluster='local:1', progress=False)"
    )
    head = "from autograder.pipeline import grade_assignment\n"
    runs = {}
    for name, body in {
        "unguarded": f"{call}\nprint('graded')\n",
        "guarded": f"if __name__ == '__main__':\n    {call}\n    print('graded')\n",
    }.items():
        (tmp_path / f"{name}.py").write_text(head + body)
        runs[name] = subprocess.run(
            [sys.executable, f"{name}.py"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=BOUND,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    bad, good = runs["unguarded"], runs["guarded"]
    assert bad.returncode != 0 and "graded" not in bad.stdout
    # The script's own call ends with Dask's failure and the hint ...
    assert "Nanny failed to start. (if this is why: a script that calls" in bad.stderr, bad.stderr[
        -2000:
    ]
    # ... and its copy in the workers' start-up stopped at its call, before starting a
    # second cluster from there (the check's own message, from that process).
    assert "RuntimeError: --cluster local:1: a script that calls" in bad.stderr
    assert good.returncode == 0 and good.stdout.strip() == "graded", good.stderr[-2000:]


def make_certificates(folder: Path) -> dict:
    """A throw-away CA and one certificate for 127.0.0.1 signed by it (openssl)."""
    folder.mkdir()

    def ssl(*args):
        subprocess.run(
            ["openssl", *map(str, args)], cwd=folder, check=True, capture_output=True, timeout=120
        )

    ssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=grading test CA",
    )
    ssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "node.key",
        "-out",
        "node.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl(
        "x509",
        "-req",
        "-in",
        "node.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "node.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    )
    return {"ca": folder / "ca.pem", "cert": folder / "node.pem", "key": folder / "node.key"}


@pytest.mark.slow
def test_tls_as_documented(panel, tmp_path):
    """The README's TLS recipe: certificates on the scheduler and workers, the client's in
    Dask's configuration (environment); without them the scheduler refuses the grader."""
    tls = make_certificates(tmp_path / "certs")
    procs = DaskProcesses(tmp_path / "dask", tls=tls)
    subs, out = tmp_path / "subs", tmp_path / "out"
    shutil.copytree(panel / "alice", subs / "alice")
    cmd = grade_cmd(subs, out, "--cluster", procs.address)
    try:
        procs.worker("w1")
        procs.wait_for_workers(1)
        refused = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=BOUND)
        env = {
            **os.environ,
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(tls["ca"]),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(tls["cert"]),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(tls["key"]),
            "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
        }
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=BOUND, env=env)
    finally:
        procs.stop()
    assert refused.returncode == 2 and "could not reach the Dask scheduler" in refused.stderr
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "grades.csv", newline="") as fh:
        (row,) = csv.DictReader(fh)
    assert (row["student"], row["score"], row["status"]) == ("alice", "10", "graded")
