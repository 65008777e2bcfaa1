"""Grading on a Dask cluster: ``grade ... --cluster ADDRESS``.

The coordinator (the ``grade`` process) keeps everything that must be single: collecting the
submissions, the instructor's gradebook, ``grading_state.json``, ``grades.csv``, the cohort
log and the summary. What it sends a worker is one student's grading:

* once per run, the prepared assignment (the private nbgrader course made by
  :func:`autograder.course.prepare`: source, release, template gradebook, ``hidden_tests.py``)
  as a tar archive, broadcast to every worker;
* per student, the bytes of their collected notebooks and the limits.

The worker writes them to a folder of its own and runs exactly what ``grade`` runs locally
(:func:`autograder.pipeline.run_with_retry`: the student's own process forked from a
pre-imported server, a private course, the kernel in the bubblewrap sandbox within limits,
the hidden tests judged in that process), then returns the result as data: the autograded
notebooks and feedback pages as bytes. The coordinator verifies them exactly as it verifies a
local child's (:func:`autograder.pipeline._verdicts_for`: the score recomputed, tampering, the
feedback checked for hidden-test lines) and records the grade. A worker never sees another
student, the gradebook or ``SUBMISSIONS``.

Faults: a worker that dies mid-student loses nothing (the scheduler gives the task to another
worker; the coordinator takes one result per student). A worker that cannot sandbox, or whose
``coursekit``/``autograder`` code differs from the coordinator's, returns a ``crashed`` row
that says so ("could not run: ..."; not stored, so the next run tries again), never an
unsandboxed or differently judged run. Dask is imported only here, and only with
``--cluster``.
"""

from __future__ import annotations

import atexit
import importlib.util
import io
import ipaddress
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

#: Seconds to wait for the scheduler to answer, and then for a first worker.
CONNECT_SECONDS = 10.0
WORKERS_SECONDS = 60.0

#: Dask settings of a ``local:N`` cluster. Its workers run one long task per thread that
#: mostly waits for the student's process, on the cores that process needs: Dask's default
#: book-keeping for short tasks took about 0.09 CPU s per second of an idle ``local:2``
#: (0.012 with these), a few per cent of each student's CPU. A worker's own memory is not the
#: student's (the kernel has its limits in the sandbox), hence no memory limit either.
LOCAL_DASK_CONFIG = {
    "distributed.worker.profile.enabled": False,  # samples the worker's threads every 10 ms
    "distributed.admin.tick.interval": "1s",  # the event loop's health check, every 20 ms
    "distributed.admin.system-monitor.interval": "5s",  # CPU/memory/disk/net samples, 500 ms
    # Workers forked from multiprocessing's fork server, which imports Dask once for all of
    # them (Dask's own preload list), instead of each new interpreter importing it (spawn).
    "distributed.worker.multiprocessing-method": "forkserver",
}


@dataclass(frozen=True)
class ClusterAddress:
    """A parsed ``--cluster`` value: ``local:N`` (``workers``) or a scheduler ``address``."""

    text: str
    workers: int | None = None
    address: str | None = None


def _install_command() -> str:
    """The command that installs Dask into this Python, at ``requirements.txt``'s pins."""
    from . import REPO_ROOT

    req = REPO_ROOT / "requirements.txt"
    lines = req.read_text().splitlines() if req.is_file() else []
    pins = [ln.split("#")[0].strip() for ln in lines if ln.startswith(("dask==", "distributed=="))]
    return f"{sys.executable} -m pip install {' '.join(pins or ['dask', 'distributed'])}"


def dask_missing(reason: str) -> RuntimeError:
    """The error of ``--cluster`` when Dask cannot be imported (``reason``: why not)."""
    return RuntimeError(
        f"--cluster needs Dask's distributed scheduler, which this Python cannot import "
        f"({reason}). Install it with: {_install_command()} -- or grade on this machine "
        "without --cluster (nothing was graded)"
    )


def check_dask_installed() -> None:
    """Raise :func:`dask_missing` unless ``dask`` and ``distributed`` can be found.

    Cheap (nothing is imported): called before anything is graded. An installation that is
    found but broken fails later, when the cluster starts, with the same message.
    """
    for name in ("dask", "distributed"):
        try:
            found = importlib.util.find_spec(name) is not None
            reason = f"No module named {name!r}"
        except (ImportError, ValueError) as exc:  # e.g. a parent package that fails to import
            found, reason = False, f"{type(exc).__name__}: {exc}"
        if not found:
            raise dask_missing(reason)


#: What to do when ``local:N`` is started from a script without a ``__main__`` guard.
MAIN_GUARD_HINT = (
    "a script that calls grade_assignment(cluster='local:N') must make the call under "
    '`if __name__ == "__main__":`: Dask starts the workers from multiprocessing\'s fork '
    "server, which imports the script again, so an unguarded call grades again, from inside "
    "the worker's start-up"
)


def _imported_by_multiprocessing() -> bool:
    """Whether the call comes from the top level of a script that multiprocessing is
    importing again (as ``__mp_main__``: the fork server that starts ``local:N``'s workers
    does), rather than from the script run as ``__main__``."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            return True
        frame = frame.f_back
    return False


def _script_main() -> bool:
    """Whether ``__main__`` is a file run as a script (``python grade_all.py``), not a module
    run with ``python -m`` (``python -m autograder`` imports nothing of the user's)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return getattr(main, "__file__", None) is not None and spec is None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it could resolve anywhere


def parse_address(text: str, insecure: bool = False) -> ClusterAddress:
    """Check a ``--cluster`` value.

    Parameters
    ----------
    text : str
        ``local:N`` (a :class:`distributed.LocalCluster` of N worker processes on this
        machine), ``tcp://HOST:PORT`` or ``tls://HOST:PORT`` (a running Dask scheduler).
    insecure : bool
        Allow plain ``tcp://`` to an address that is not loopback (``--insecure-cluster``).
        A Dask scheduler runs whatever its clients send, and ``tcp://`` neither encrypts nor
        authenticates: anyone who can reach the port can run code as the workers' user.

    Raises
    ------
    ValueError
        Naming the option and what was expected.
    """
    if not isinstance(text, str) or not text:
        raise ValueError(
            f"--cluster: expected local:N, tcp://HOST:PORT or tls://HOST:PORT, got {text!r}"
        )
    if text.startswith("local:"):
        n = text[len("local:") :]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"--cluster: local:N needs N >= 1 worker processes, got {text!r}")
        return ClusterAddress(text, workers=int(n))
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (
        parts.scheme not in ("tcp", "tls")
        or not parts.hostname
        or port is None
        or parts.path not in ("", "/")
    ):
        raise ValueError(
            f"--cluster: expected local:N, tcp://HOST:PORT or tls://HOST:PORT, got {text!r}"
        )
    if parts.scheme == "tcp" and not _is_loopback(parts.hostname) and not insecure:
        raise ValueError(
            f"--cluster: refusing plain tcp:// to {parts.hostname}: the scheduler runs whatever "
            "its clients send, and tcp:// is neither encrypted nor authenticated. Use tls:// "
            "with certificates (distributed.comm.tls, see autograder/README.md), an SSH tunnel "
            "to 127.0.0.1, or pass --insecure-cluster on a network you trust."
        )
    return ClusterAddress(text, address=text)


# --------------------------------------------------------------------------- coordinator


def pack_prepared(prep) -> tuple[bytes, dict]:
    """The prepared assignment as a tar archive and the fields to rebuild it on a worker."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(prep.course, arcname="course")
        if prep.hidden_tests is not None:
            tar.add(prep.hidden_tests, arcname="hidden_tests.py")
        if prep.config_file is not None:
            tar.add(prep.config_file, arcname="nbgrader_config.py")
    fields = {
        "assignment": prep.assignment,
        "notebooks": list(prep.notebooks),
        "max_scores": dict(prep.max_scores),
        "course_id": prep.course_id,
        "hidden_tests": prep.hidden_tests is not None,
        "config_file": prep.config_file is not None,
    }
    return buf.getvalue(), fields


class Cluster:
    """A connection to a Dask cluster for one ``grade`` run (a context manager).

    Parameters
    ----------
    address : ClusterAddress
        From :func:`parse_address`.
    hidden_tests : path-like, optional
        The assignment's ``hidden_tests.py``: as soon as a worker is there, it starts its
        fork server preloading what these import and highlighting the source notebooks
        beside it (:func:`_warm_worker`), while the coordinator prepares the assignment.
    fork_server : bool
        Whether each worker starts a fork server of its own (as ``grade`` does), false when
        they share the coordinator's (``local:N``, see :meth:`results`) or fork none.

    Raises
    ------
    RuntimeError
        The scheduler cannot be reached, or has no worker, within the time limits
        (:data:`CONNECT_SECONDS`, :data:`WORKERS_SECONDS`): before anything is graded.
    """

    def __init__(self, address: ClusterAddress, hidden_tests=None, fork_server: bool = True):
        self.address = address
        self.local = self.client = None
        # What _warm sends each worker to start its own fork server with (when it has one).
        self._hidden_source = Path(hidden_tests).read_bytes() if hidden_tests else None
        self._hidden_notebooks = _notebooks_in(Path(hidden_tests).parent) if hidden_tests else {}
        self._workers_fork_server = bool(fork_server)
        self._thread, self._error, self._closer = None, None, None
        if address.workers is not None and _imported_by_multiprocessing():
            # Fail here, before a second cluster is started from inside the first one's.
            raise RuntimeError(f"--cluster {address.text}: {MAIN_GUARD_HINT}")
        if address.workers is not None:
            # Starting N worker processes takes seconds: done while the coordinator prepares
            # the assignment (:meth:`wait` joins it before the first student is sent).
            self._thread = threading.Thread(target=self._start_local, daemon=True)
            self._thread.start()
            return
        self._connect()
        self._warm()

    def _start_local(self) -> None:
        import logging

        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError as exc:  # raised in the caller's thread by wait()
            self._error = dask_missing(f"{type(exc).__name__}: {exc}")
            return
        try:
            # One thread per worker: each grades one student at a time, as --jobs does. The
            # settings are the workers' for their whole life (their nannies keep a copy).
            with dask.config.set(LOCAL_DASK_CONFIG):
                self.local = LocalCluster(
                    n_workers=self.address.workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                    memory_limit=0,
                )
                self.client = Client(self.local, set_as_default=False)
            self._warm()
        except Exception as exc:  # raised in the caller's thread by wait()
            hint = f" (if this is why: {MAIN_GUARD_HINT})" if _script_main() else ""
            self._error = RuntimeError(
                f"--cluster: could not start {self.address.text}: {type(exc).__name__}: {exc}{hint}"
            )
            self._error.__cause__ = exc

    def _connect(self) -> None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise dask_missing(f"{type(exc).__name__}: {exc}") from exc
        address = self.address.address
        try:
            self.client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:  # (a TLS set-up error)
            raise RuntimeError(
                f"--cluster: could not reach the Dask scheduler at {address} within "
                f"{CONNECT_SECONDS:g} s ({type(exc).__name__}: {exc}); start it with `dask "
                "scheduler` and check the address, port and firewall (nothing was graded)"
            ) from exc
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_SECONDS)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise RuntimeError(
                f"--cluster: the scheduler at {address} has no worker after "
                f"{WORKERS_SECONDS:g} s; start some with `dask worker {address}` "
                "(nothing was graded)"
            ) from exc

    def _warm(self) -> None:
        # In the background: a worker that joins later starts its server at its first student.
        # (Nothing to start when the workers share the coordinator's server, or fork none.)
        if self._workers_fork_server:
            self.client.run(_warm_worker, self._hidden_source, self._hidden_notebooks, wait=False)

    def wait(self) -> None:
        """Until the cluster is up (``local:N``); raises what starting it raised."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error

    def close(self, wait: bool = True) -> None:
        """Disconnect, and stop a ``local:N`` cluster (its workers and their fork servers).

        ``wait=False`` does it in a thread of its own (about a second, which the grade run
        spends writing its report meanwhile); a later ``close()`` waits for that thread. Not a
        daemon thread: the interpreter waits for it before it exits.
        """
        if self._closer is None:
            self._closer = threading.Thread(target=self._close, name="cluster-close")
            self._closer.start()
        if wait:
            self._closer.join()

    def _close(self) -> None:
        if self._thread is not None:
            self._thread.join()
        try:
            if self.client is not None:
                self.client.close()
        finally:
            if self.local is not None:
                self.local.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def results(
        self,
        prep,
        to_run,
        workdir,
        *,
        timeout: float,
        cell_timeout: int,
        limits,
        sandbox: bool,
        fork_server: bool,
        shared_server=None,
    ) -> Iterator:
        """Grade ``to_run`` (``(sub, key)`` pairs) on the workers; yield ``(sub, key, run)``.

        ``run`` is a :class:`~autograder.run.RunResult` whose files (autograded notebooks,
        feedback pages) were written below ``workdir`` from the bytes a worker returned, or
        ``None`` for a student with no notebook to run; results come as students finish.
        ``shared_server``: the unix socket of this machine's fork server
        (:class:`~autograder.forkserver.ForkServer` with ``listen=True``), which the workers
        of a ``local:N`` cluster fork their students from instead of starting their own.
        """
        from distributed import as_completed

        from .run import RunResult
        from .state import verdict_code_hash

        self.wait()
        workdir = Path(workdir)
        blob, fields = pack_prepared(prep)
        options = {
            "timeout": float(timeout),
            "cell_timeout": int(cell_timeout),
            "limits": asdict(limits),
            "sandbox": bool(sandbox),
            "fork_server": bool(fork_server),
            "server_socket": str(shared_server) if shared_server and fork_server else None,
            "code": verdict_code_hash(),
            "prep_id": uuid.uuid4().hex,
        }
        [prep_future] = self.client.scatter(
            [{"tar": blob, "fields": fields}], broadcast=True, hash=False
        )
        futures = {}
        for i, (sub, key) in enumerate(to_run):
            ready = {n: f.path for n, f in sub.notebooks.items() if f.status is None}
            if not ready:
                yield sub, key, None
                continue
            job = {
                "student": sub.student,
                "index": i,
                **options,
                "notebooks": {n: Path(p).read_bytes() for n, p in ready.items()},
            }
            # retries: an exception in the task (not the student's failure, which is data)
            # is tried once more; a worker that dies mid-student is replaced by the scheduler
            # (distributed.scheduler.allowed-failures) without counting as a retry.
            fut = self.client.submit(
                grade_on_worker,
                prep_future,
                job,
                pure=False,
                retries=1,
                key=f"grade-{i:05d}-{uuid.uuid4().hex[:8]}",
            )
            futures[fut] = (i, sub, key)
        try:
            for fut in as_completed(list(futures), loop=self.client.loop):
                i, sub, key = futures.pop(fut)
                try:
                    data = fut.result()
                except Exception as exc:  # e.g. KilledWorker: several workers died on it
                    run = RunResult(
                        sub.student,
                        "crashed",
                        f"could not run on the cluster: {type(exc).__name__}: {exc}"[:300],
                    )
                else:
                    run = _run_result(sub.student, data, workdir / f"{i:05d}")
                yield sub, key, run
        finally:
            for fut in futures:
                fut.cancel()


def _run_result(student: str, data: dict, folder: Path):
    """A :class:`~autograder.run.RunResult` from a worker's answer, its files in ``folder``."""
    from .run import RunResult

    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for kind in ("autograded", "feedback"):
        files[kind] = {}
        for name, content in (data.get(kind) or {}).items():
            path = folder / f"{kind}-{name}.{'ipynb' if kind == 'autograded' else 'html'}"
            path.write_bytes(content)
            files[kind][name] = path
    return RunResult(
        student,
        data.get("status"),
        data.get("detail", ""),
        autograded=files["autograded"],
        feedback=files["feedback"],
        reported=data.get("reported") or {},
        seconds=data.get("seconds", 0.0),
        reports=data.get("reports") or {},
        peak_mb=data.get("peak_mb"),
    )


# --------------------------------------------------------------------------- worker

_LOCK = threading.Lock()
#: Per worker process: prep_id -> (Prepared, ForkServer or None); checks done;
#: fork servers by (hidden tests, code) hash; the private folder.
_PREPARED: dict = {}
_CHECKS: dict = {}
_SERVERS: dict = {}
_ROOT: list = []


def _worker_root() -> Path:
    """A private folder of this worker process (below the worker's local directory)."""
    if not _ROOT:
        try:
            from distributed import get_worker

            base = get_worker().local_directory
        except (ImportError, ValueError):
            base = None
        root = Path(tempfile.mkdtemp(prefix="autograder-worker-", dir=base))
        _ROOT.append(root)
        atexit.register(_cleanup)
    return _ROOT[0]


def _cleanup() -> None:
    for server in _SERVERS.values():
        server.close()
    _SERVERS.clear()
    _PREPARED.clear()
    for root in _ROOT:
        shutil.rmtree(root, ignore_errors=True)


def _check(name: str, fn) -> str | None:
    """Run a per-process check once; ``None`` when it passed, else the reason."""
    if name not in _CHECKS:
        try:
            fn()
            _CHECKS[name] = None
        except Exception as exc:  # the reason goes into the student's row
            _CHECKS[name] = f"{type(exc).__name__}: {exc}"
    return _CHECKS[name]


def _notebooks_in(folder: Path) -> dict[str, bytes]:
    """The bytes of the notebooks in ``folder`` (an assignment's source), by file name."""
    return {p.name: p.read_bytes() for p in sorted(Path(folder).glob("*.ipynb"))}


def _server(hidden: bytes | None, notebooks: dict[str, bytes]):
    """This worker's fork server for these hidden tests and the code now on disk.

    Kept across runs (a long-lived ``dask worker`` grades several assignments), but never
    one started before the checkout changed: its imports would be the old code. The source
    ``notebooks`` go beside the hidden tests, where the server highlights their cells once
    for every student's feedback page (as ``grade`` does without a cluster).
    """
    import hashlib

    from .forkserver import ForkServer
    from .hidden import HIDDEN_TESTS_FILE
    from .state import verdict_code_hash

    code = verdict_code_hash()
    key = hashlib.sha256((hidden or b"") + code.encode()).hexdigest()[:16]
    for old in [k for k in _SERVERS if k != key]:
        _SERVERS.pop(old).close()
    if key not in _SERVERS:
        folder = _worker_root() / f"server-{key}"
        folder.mkdir(exist_ok=True)
        preload = None
        if hidden is not None:
            preload = folder / HIDDEN_TESTS_FILE
            preload.write_bytes(hidden)
            for name, content in notebooks.items():
                (folder / Path(name).name).write_bytes(content)
        _SERVERS[key] = ForkServer(folder, preload=preload)
    return _SERVERS[key]


async def _warm_worker(hidden: bytes | None, notebooks: dict[str, bytes]) -> None:
    """Start this worker's fork server now (its imports take seconds), not at a student.

    A coroutine because Dask runs only those in the background (``Client.run(wait=False)``);
    its work (a hash and a ``Popen``) takes milliseconds on the worker's event loop.
    """
    with _LOCK:
        _server(hidden, notebooks)


def _prepared(blob: dict, job: dict):
    from .course import Prepared
    from .hidden import HIDDEN_TESTS_FILE

    pid = job["prep_id"]
    if pid not in _PREPARED:
        folder = _worker_root() / pid
        folder.mkdir()
        with tarfile.open(fileobj=io.BytesIO(blob["tar"]), mode="r:gz") as tar:
            tar.extractall(folder, filter="data")
        f = blob["fields"]
        prep = Prepared(
            f["assignment"],
            folder / "course",
            f["notebooks"],
            f["max_scores"],
            f["course_id"],
            folder / "nbgrader_config.py" if f["config_file"] else None,
            folder / HIDDEN_TESTS_FILE if f["hidden_tests"] else None,
        )
        server = None
        if job.get("server_socket"):  # local:N: the coordinator's server, on this machine
            from .forkserver import ForkServerClient

            server = ForkServerClient(job["server_socket"])
        elif job["fork_server"]:
            hidden = prep.hidden_tests.read_bytes() if prep.hidden_tests else None
            source = _notebooks_in(prep.course / "source" / prep.assignment)
            server = _server(hidden, source)
        _PREPARED[pid] = (prep, server)
    return _PREPARED[pid]


def grade_on_worker(blob: dict, job: dict) -> dict:
    """One student's grading on a Dask worker (see the module docstring); plain data back.

    Parameters
    ----------
    blob : dict
        ``{"tar": bytes, "fields": dict}`` from :func:`pack_prepared` (broadcast once).
    job : dict
        The student's id, their notebooks' bytes, the limits and the coordinator's
        verdict-code hash.
    """
    from .course import use_interpreter_path
    from .pipeline import run_with_retry
    from .sandbox import Limits, check_available
    from .state import verdict_code_hash

    where = socket.gethostname()
    with _LOCK:
        use_interpreter_path()
        code = verdict_code_hash()
        if code != job["code"]:
            return {
                "status": "crashed",
                "detail": (
                    f"could not run: worker {where} has other coursekit/autograder code than the "
                    "coordinator (install the same checkout on every node)"
                ),
            }
        if job["sandbox"]:
            reason = _check("sandbox", check_available)
            if reason is not None:
                # (Not the advice to pass --unsafe-no-sandbox: install bwrap on the worker.)
                reason = reason.split(" To grade trusted notebooks")[0]
                return {
                    "status": "crashed",
                    "detail": (
                        f"could not run: worker {where} cannot sandbox the kernel, so it was not "
                        f"run there ({reason})"
                    )[:400],
                }
        prep, server = _prepared(blob, job)
    work = _worker_root() / job["prep_id"] / f"{job['index']:05d}-{uuid.uuid4().hex[:8]}"
    try:
        nbdir = work / "submission"
        nbdir.mkdir(parents=True)
        ready = {}
        for name, content in job["notebooks"].items():
            ready[name] = nbdir / f"{name}.ipynb"
            ready[name].write_bytes(content)
        run = run_with_retry(
            prep,
            job["student"],
            ready,
            work / "run",
            timeout=job["timeout"],
            cell_timeout=job["cell_timeout"],
            server=server,
            limits=Limits(**job["limits"]),
            sandbox=job["sandbox"],
        )
        return {
            "status": run.status,
            "detail": run.detail,
            "seconds": run.seconds,
            "peak_mb": run.peak_mb,
            "reported": run.reported,
            "reports": run.reports,
            "worker": where,
            "autograded": {n: Path(p).read_bytes() for n, p in run.autograded.items()},
            "feedback": {n: Path(p).read_bytes() for n, p in run.feedback.items()},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
