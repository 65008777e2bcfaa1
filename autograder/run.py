"""The grading process's side of one student: start its process, wait, kill, read the result.

Everything here runs in the grading process (or, on a cluster, in the Dask worker that grades
the student). :func:`run_student` starts one student's process, forked by the fork server
(:mod:`autograder.forkserver`) or, if that is gone, a new interpreter
(``python -m autograder.child JOB``); the student's process (:mod:`autograder.child`) builds its
own temporary course from the prepared gradebook (:mod:`autograder.course`), runs ``nbgrader
autograde`` and ``generate_feedback`` there and writes plain JSON. Its kernel runs in the
sandbox of :mod:`autograder.sandbox` (it sees none of the gradebooks, sources, hidden tests,
outputs or other students' files), and the hidden tests are judged in the student's process,
not in the kernel (:mod:`autograder.execute`). A hang, a crash or a dead kernel ends that
process only: its whole session and every process tagged with its job tag are killed, the
student gets ``timeout``/``crashed`` (a :class:`RunResult`) and the run goes on. The original
submission is never touched (collect made the copy).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .course import Prepared, child_env
from .nbgrader_config import CELL_TIMEOUT
from .sandbox import Limits, proc_stat

if TYPE_CHECKING:
    from .forkserver import ForkServer

#: Environment variable that tags every process of one grading job (child, kernel, and
#: whatever the student's code spawns), so that all of them can be found and killed.
JOB_TAG_ENV = "AUTOGRADER_JOB_TAG"
#: The reason given when a kernel died or stayed silent before its first cell.
KERNEL_NEVER_STARTED = "the kernel did not start (it died or did not answer before the first cell)"
#: Seconds a student's whole grading (kernel start-up included) may take by default.
DEFAULT_TIMEOUT = 300


# --------------------------------------------------------------------------- one student


@dataclass
class RunResult:
    """What the child process reported for one student.

    Attributes
    ----------
    student : str
    status : str or None
        ``None`` when nbgrader autograded every notebook; otherwise ``timeout`` or ``crashed``.
    detail : str
    autograded : dict
        ``notebook -> path`` of nbgrader's autograded notebook (in the work directory).
    feedback : dict
        ``notebook -> path`` of the feedback HTML (hidden tests already stripped).
    reported : dict
        ``notebook -> {grade_id: auto_score}`` as the child's gradebook recorded them.
    seconds : float
        Wall time of the child process.
    peak_mb : float or None
        Peak resident memory (``VmHWM``) of the student's process, MB, as it reported it
        with its result; ``None`` when it left no result (killed on timeout, crashed).
    """

    student: str
    status: str | None
    detail: str = ""
    autograded: dict[str, Path] = field(default_factory=dict)
    feedback: dict[str, Path] = field(default_factory=dict)
    reported: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    peak_mb: float | None = None
    #: ``notebook -> {hidden_failures, hidden_cases, probe_timeout, output_dropped_bytes}``
    #: as :mod:`autograder.execute` found them.
    reports: dict[str, dict] = field(default_factory=dict)


def kill_tagged(tag: str) -> int:
    """SIGKILL every process whose initial environment carries ``JOB_TAG_ENV=tag``.

    Kernels are started in their own session by jupyter_client, so killing the child's process
    group is not enough; the tag (inherited by every descendant) finds them all.
    Returns the number of processes signalled.
    """
    needle = f"{JOB_TAG_ENV}={tag}".encode()
    killed = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            try:
                os.kill(int(proc.name), signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    fields = proc_stat(pid)
    return bool(fields) and fields[0] not in {b"Z", b"X"}


def wait_gone(pid: int, seconds: float) -> bool:
    """Wait at most ``seconds`` for process ``pid`` (not a child of ours) to end.

    Returns True once it ended (a zombie counts as ended), False when the time ran out. A
    pidfd becomes readable the moment the process ends, so the grading process sleeps
    instead of polling ``/proc`` (which cost CPU in proportion to every student's wall time,
    for each of ``--jobs`` threads); where the kernel has no ``pidfd_open`` it polls every
    10 ms.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(max(0.0, seconds) * 1000)) or not _alive(pid)
        finally:
            os.close(fd)
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def run_student(
    prep: Prepared,
    student: str,
    notebooks: dict[str, Path],
    workdir,
    timeout: float = DEFAULT_TIMEOUT,
    cell_timeout: int = CELL_TIMEOUT,
    server: ForkServer | None = None,
    limits: Limits | None = None,
    sandbox: bool = True,
) -> RunResult:
    """Autograde one student's notebooks in a child process with a wall-clock limit.

    Parameters
    ----------
    prep : Prepared
        The prepared assignment (its gradebook is copied, never written).
    student : str
        Student id (for messages; inside the child course the student is always ``student``,
        so names with spaces or odd characters cannot upset nbgrader's paths).
    notebooks : dict
        ``notebook name -> path`` of the collected (already copied) submission notebooks.
    workdir : path-like
        A private, empty directory for this student; results are left there.
    timeout : float
        Seconds before the child and everything it started are killed (status ``timeout``).
    cell_timeout : int
        Seconds one cell may run (nbgrader interrupts it; the verdict says ``timeout``).
    server : ForkServer, optional
        Fork the student's process from this pre-imported server (much faster start); by
        default, or if the server is gone, a new interpreter is started.
    limits : Limits, optional
        Resource limits of the kernel (default :class:`autograder.sandbox.Limits` with
        ``cpu_seconds`` = ``timeout``).
    sandbox : bool
        Run the kernel in the bubblewrap sandbox of :mod:`autograder.sandbox` (default).
        ``False`` only for trusted notebooks: the kernel then runs as the grader.
    """
    if not timeout or timeout <= 0:
        raise ValueError(f"timeout: expected a positive number of seconds, got {timeout}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex
    if limits is None:
        limits = Limits(cpu_seconds=max(1, int(timeout)))
    job = {
        "assignment": prep.assignment,
        "template_db": str(prep.db_path),
        "source_dir": str(prep.source_dir),
        "course": str(workdir / "course"),
        "release_dir": str(prep.release_dir),
        "notebooks": {k: str(v) for k, v in notebooks.items()},
        "cell_timeout": int(cell_timeout),
        "result": str(workdir / "result.json"),
        "config_file": str(prep.config_file) if prep.config_file else None,
        "hidden_tests": str(prep.hidden_tests) if prep.hidden_tests else None,
        "sandbox": bool(sandbox),
        "limits": asdict(limits),
    }
    # The kernel's socket folder is made (and removed, below) here, not in the child: a
    # child killed on its timeout cannot clean up, and a short fallback folder in $TMPDIR
    # would be left behind.
    ipc_dir = ipc_folder(workdir)
    job["ipc_dir"] = str(ipc_dir)
    try:
        return _run_child(student, job, workdir, tag, timeout, server)
    finally:
        if ipc_dir.parent != workdir:
            shutil.rmtree(ipc_dir, ignore_errors=True)  # ipc_folder's short fallback


def _run_child(
    student: str, job: dict, workdir: Path, tag: str, timeout: float, server
) -> RunResult:
    """Start the student's process (forked by ``server`` or a new interpreter), wait for it
    at most ``timeout`` seconds, kill all it started, and read its result."""
    (workdir / "job.json").write_text(json.dumps(job))
    start = time.monotonic()
    pid = (
        server.spawn(workdir / "job.json", tag, workdir / "child.log", workdir)
        if server is not None
        else None
    )
    if pid is not None:
        rc = "unknown"
        status = None if wait_gone(pid, timeout - (time.monotonic() - start)) else "timeout"
        # The student's session (a pgid is never reused while a member lives) and every
        # tagged process (the kernel has a session of its own, and what it started).
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        kill_tagged(tag)
        return _collect_result(student, workdir, status, rc, timeout, time.monotonic() - start)
    env = child_env()
    env[JOB_TAG_ENV] = tag
    with open(workdir / "child.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.child", str(workdir / "job.json")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(workdir),
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=timeout)
            status = None
        except subprocess.TimeoutExpired:
            rc, status = None, "timeout"
        finally:
            # The kernel (own session) and anything the student's code spawned die too.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            kill_tagged(tag)
            proc.wait()
    return _collect_result(student, workdir, status, rc, timeout, time.monotonic() - start)


def _collect_result(
    student: str, workdir: Path, status: str | None, rc, timeout: float, seconds: float
) -> RunResult:
    """Turn what the student's process left in ``workdir`` into a :class:`RunResult`."""
    if status == "timeout":
        return RunResult(
            student,
            "timeout",
            f"grading took longer than {timeout:g} s and was stopped",
            seconds=seconds,
        )
    result_path = workdir / "result.json"
    if not result_path.exists():
        tail = _tail(workdir / "child.log")
        return RunResult(
            student,
            "crashed",
            f"grader process exited with code {rc} without a result: {tail}",
            seconds=seconds,
        )
    try:
        data = json.loads(result_path.read_text())
    except ValueError as exc:
        return RunResult(student, "crashed", f"unreadable result ({exc})", seconds=seconds)
    peak_kb = data.get("peak_rss_kb")
    peak_mb = peak_kb / 1024 if isinstance(peak_kb, int) and peak_kb > 0 else None
    if not data.get("success"):
        status = data.get("status") if data.get("status") in {"timeout", "crashed"} else "crashed"
        error = data.get("error", "nbgrader failed")
        return RunResult(student, status, error, seconds=seconds, peak_mb=peak_mb)
    return RunResult(
        student,
        None,
        "",
        autograded={k: Path(v) for k, v in data["autograded"].items()},
        feedback={k: Path(v) for k, v in data.get("feedback", {}).items()},
        reported=data["reported"],
        seconds=seconds,
        peak_mb=peak_mb,
        reports=data.get("reports", {}),
    )


def _tail(path: Path, n: int = 400) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " ".join(text[-n:].split())


#: Longest path of a unix socket (``sun_path`` holds 108 bytes with its final NUL).
UNIX_PATH_MAX = 107


def ipc_folder(workdir: Path) -> Path:
    """A new folder, private to one student, for its kernel's ZeroMQ unix sockets.

    ``workdir/ipc`` when its socket paths fit in a unix socket address, else a short
    temporary folder (a long ``TMPDIR``); the caller removes it.
    """
    folder = workdir / "ipc"
    if len(str(folder.resolve() / "k-99")) > UNIX_PATH_MAX:
        return Path(tempfile.mkdtemp(prefix="ag-ipc-"))
    folder.mkdir(mode=0o700)
    return folder
