"""The fork server: one pre-imported process that forks a fresh process per student.

Two processes meet here. :class:`ForkServer` is the grading process's handle: it starts the
server and sends it one request per student over a pipe. :func:`_server_main` is the body of
the server itself (``python -m autograder.forkserver [hidden_tests.py]``): it imports nbgrader,
nbconvert and the hidden tests' imports once, warms nbconvert's templates
(:func:`autograder.patches.template_bytecode_cache`, :func:`_warm_feedback_templates`) from no
student's data, then only forks; each fork runs :func:`autograder.child._child_main` for one
student. The server never runs student code and never touches a student's files.
"""

from __future__ import annotations

import copy
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import NoReturn

from . import patches
from .course import child_env
from .run import JOB_TAG_ENV, UNIX_PATH_MAX


class ForkServer:
    """A pre-imported grading process that forks one fresh process per student.

    Importing nbgrader (SQLAlchemy, nbconvert, jsonschema, ...) costs seconds, more than a
    kernel start; paying it once per student made grading ~2.5x slower than plain nbgrader,
    which pays it once per run. The server (``python -m autograder.forkserver``,
    started once per ``grade``) imports all of it and then only forks: each student still gets
    a process of its own (a copy-on-write copy with no student's data in it, its own session,
    its own temporary course and kernel), so nothing writable is shared between students and
    a student's process can be killed alone. The server never runs student code and never
    touches a student's files.

    If the server is gone (killed, say, by a hostile notebook), :meth:`spawn` returns ``None``
    and :func:`run_student` falls back to starting a new interpreter for that student.
    """

    def __init__(self, workdir, preload=None, listen: bool = False):
        """Start the server in ``workdir``; ``preload``: a ``hidden_tests.py`` whose imports
        (coursekit, NumPy) the server makes once, instead of every student's process.

        ``listen=True`` also makes the server answer other processes of this user on this
        machine (a ``local:N`` cluster's workers, :class:`ForkServerClient`) at the unix
        socket :attr:`address`, in a folder only this user may enter: one server for all
        the machine's workers, as ``--jobs N`` has one for its N threads.
        """
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._log = open(workdir / "fork-server.log", "wb")  # closed in close()
        # Started now, waited for at the first spawn: its imports overlap the caller's work.
        extra = [str(Path(preload).resolve())] if preload else []
        listener, self.address, self._listen_dir = None, None, None
        if listen:
            # Bound here, before the server has even started: a client may connect at once,
            # and its request waits in the backlog until the server has warmed up.
            listener, self.address = _listener(workdir)
            self._listen_dir = self.address.parent
            extra = ["--listen-fd", str(listener.fileno()), *extra]
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "autograder.forkserver", *extra],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                env=child_env(),
                cwd=str(workdir),
                start_new_session=True,
                text=True,
                bufsize=1,
                pass_fds=(listener.fileno(),) if listener else (),
            )
        finally:
            if listener is not None:
                listener.close()  # the server has its copy
        self._ready: bool | None = None

    #: Seconds to wait for the server's READY or for its answer to a request; a server that
    #: takes longer is given up (students then start fresh interpreters).
    ANSWER_TIMEOUT = 120.0

    def _readline(self) -> str:
        # One line per request and nothing else is ever written, so the text buffer is empty
        # between answers and select() on the pipe is reliable.
        ready, _, _ = select.select([self.proc.stdout], [], [], self.ANSWER_TIMEOUT)
        return self.proc.stdout.readline() if ready else ""

    @property
    def ready(self) -> bool:
        """True once the server said READY (waits until it did, died or timed out)."""
        with self._lock:
            if self._ready is None:
                try:
                    self._ready = self._readline().strip() == "READY"
                except (OSError, ValueError):
                    self._ready = False
            return self._ready

    @ready.setter
    def ready(self, value: bool) -> None:
        self._ready = value

    def spawn(self, job_path: Path, tag: str, log_path: Path, cwd: Path) -> int | None:
        """Fork a process running ``_child_main(job_path)``; its pid, or ``None`` on failure."""
        if not self.ready:
            return None
        request = json.dumps(
            {"job": str(job_path), "tag": tag, "log": str(log_path), "cwd": str(cwd)}
        )
        with self._lock:
            try:
                self.proc.stdin.write(request + "\n")
                self.proc.stdin.flush()
                answer = self._readline().split()
            except (OSError, ValueError):
                self._ready = False
                return None
        if len(answer) != 2 or answer[0] != "PID" or not answer[1].isdigit():
            self._ready = False
            return None
        return int(answer[1])

    def close(self) -> None:
        """Stop the server (its students' processes are waited for by their callers).

        A server that was never asked for a student (a run with nobody to grade) may still
        be importing: it is killed at once rather than waited for.
        """
        served, self._ready = self._ready, False
        try:
            self.proc.stdin.close()
            if served:
                self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        self._log.close()
        if self._listen_dir is not None:
            shutil.rmtree(self._listen_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _listener(workdir: Path) -> tuple[socket.socket, Path]:
    """A listening unix socket in a new folder only this user may enter (0700), and its path.

    The folder is below ``workdir`` when the path fits in a socket address, else a short
    temporary folder (a long ``TMPDIR``), removed with the socket's last user.
    """
    folder = workdir / "listen"
    if len(str(folder.resolve() / "fork.sock")) > UNIX_PATH_MAX:
        folder = Path(tempfile.mkdtemp(prefix="ag-fork-"))
    else:
        folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(folder / "fork.sock"))
    listener.listen(64)
    return listener, folder / "fork.sock"


class ForkServerClient:
    """A fork server another process of this machine started with ``listen=True``.

    What a ``local:N`` cluster's worker uses instead of a server of its own (same
    :meth:`spawn` as :class:`ForkServer`): one request per connection to the server's unix
    socket, so two workers asking at once each get their own student's process. The server
    answers only processes of its own user (checked from the socket's peer credentials).
    If it is gone, :meth:`spawn` returns ``None`` and the student gets a new interpreter.
    """

    ANSWER_TIMEOUT = ForkServer.ANSWER_TIMEOUT

    def __init__(self, address):
        self.address = str(address)

    def spawn(self, job_path: Path, tag: str, log_path: Path, cwd: Path) -> int | None:
        """Fork a process running ``_child_main(job_path)``; its pid, or ``None`` on failure."""
        request = json.dumps(
            {"job": str(job_path), "tag": tag, "log": str(log_path), "cwd": str(cwd)}
        )
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                # (The first request may wait for the server's warm-up, seconds.)
                conn.settimeout(self.ANSWER_TIMEOUT)
                conn.connect(self.address)
                conn.sendall(request.encode() + b"\n")
                answer = _recv_line(conn).split()
        except (OSError, ValueError):
            return None
        if len(answer) != 2 or answer[0] != "PID" or not answer[1].isdigit():
            return None
        return int(answer[1])

    def close(self) -> None:
        """Nothing to stop: the process that started the server stops it."""


def _recv_line(conn: socket.socket, limit: int = 65536) -> str:
    """One line from ``conn`` (without its newline); ``ValueError`` past ``limit`` bytes."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            raise ValueError("request too long")
    return data.decode().strip()


def _warm_highlighting(source_dir: Path) -> None:
    """Highlight every code cell of the source notebooks in ``source_dir`` once (as the
    feedback pages show them: test cells without their hidden regions, solution cells as the
    released stub). Failing here costs nothing but speed."""
    import nbformat
    from nbconvert.filters.highlight import Highlight2HTML

    from .leaks import strip_hidden_tests
    from .nbgrader_config import CODE_STUB

    try:
        patches.highlight_cache()
        for path in sorted(Path(source_dir).glob("*.ipynb")):
            nb = nbformat.read(str(path), as_version=4)
            info = nb.metadata.get("language_info", {})
            lexers = {"ipython3", info.get("pygments_lexer", info.get("name")) or "ipython3"}
            for lexer in lexers:
                highlight = Highlight2HTML(pygments_lexer=lexer)
                highlight(CODE_STUB)
                for cell in nb.cells:
                    if cell.cell_type == "code":
                        highlight(cell.source)
                        highlight(strip_hidden_tests(cell.source))
    except Exception:  # a partly filled cache is still a cache
        pass


def feedback_page(nb, resources: dict) -> str:
    """nbgrader's feedback page for ``nb``, rendered the way its ``GenerateFeedback`` does.

    The same exporter settings (nbgrader's ``feedback`` template, the course's template folder
    first, bootstrap CSS) and the CSS header preprocessor; ``resources["nbgrader"]`` must hold
    what nbgrader's ``GetGrades`` puts there (``notebook``, ``score``, ``max_score``,
    ``late_penalty``). Used to warm the fork server's caches; students' pages come from
    nbgrader's own ``generate_feedback``.
    """
    import nbconvert
    from traitlets.config import Config

    from .nbgrader_config import feedback_template_dirs, nbgrader_formgrader_dir

    base = nbgrader_formgrader_dir()
    c = Config()
    c.HTMLExporter.template_name = "feedback"
    c.HTMLExporter.extra_template_basedirs = feedback_template_dirs()
    c.HTMLExporter.extra_template_paths = [
        str(base / "static" / "node_modules" / "bootstrap" / "dist" / "css")
    ]
    exporter = nbconvert.HTMLExporter(config=c)
    exporter.register_preprocessor(
        nbconvert.preprocessors.CSSHTMLHeaderPreprocessor(), enabled=True
    )
    return exporter.from_notebook_node(nb, copy.deepcopy(resources))[0]


def warm_notebook():
    """A made-up graded notebook (markdown with maths, a solution, a failed test cell)."""
    import nbformat

    nb = nbformat.v4.new_notebook(
        metadata={"language_info": {"name": "python", "pygments_lexer": "ipython3"}}
    )
    # The metadata nbgrader's GetGrades adds (score, points, comment) is there too.
    grade = {
        "grade": True,
        "grade_id": "t",
        "points": 1,
        "locked": True,
        "solution": False,
        "score": 0.0,
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# $x$"),
        nbformat.v4.new_code_cell(
            "x = 1",
            metadata={
                "nbgrader": {
                    "solution": True,
                    "grade": False,
                    "grade_id": "s",
                    "locked": False,
                    "comment": None,
                }
            },
        ),
        nbformat.v4.new_code_cell(
            "assert x == 1",
            metadata={"nbgrader": grade},
            outputs=[
                nbformat.v4.new_output(
                    "error", ename="AssertionError", evalue="x", traceback=["AssertionError: x"]
                )
            ],
        ),
    ]
    resources = {
        "nbgrader": {
            "notebook": "warm",
            "assignment": "warm",
            "student": "warm",
            "score": 0.0,
            "max_score": 1.0,
            "late_penalty": 0.0,
        }
    }
    return nb, resources


def _warm_feedback_templates() -> None:
    """Render a feedback page once in the fork server, from no student's data.

    Compiles (into :func:`autograder.patches.template_bytecode_cache`) the templates
    ``generate_feedback`` uses and loads the code highlighter, the HTML parser and the CSS it
    inlines, so that every student's process starts with them. Failing here costs nothing but speed.
    """
    try:
        feedback_page(*warm_notebook())
    except Exception:  # a partly filled cache is still a cache
        pass


def _warm_gradebook() -> None:
    """Walk an nbgrader gradebook in memory through what a student's grading does with one.

    The first use of SQLAlchemy's ORM in a process configures the mappers, builds the
    dialect's and the statements' process-wide structures and fills their caches: about
    0.1 CPU s of every student's process (its eleven gradebook opens), paid again after
    each fork. Done once here, with a database of no student (``sqlite://``, in memory),
    closed and its engine disposed before anything is forked, so no student's process
    inherits a connection; each opens its own gradebook with its own engine. Failing here
    costs nothing but speed.
    """
    import warnings

    import nbgrader.api

    # A new database is stamped with alembic's head revision, which imports alembic (0.2 CPU
    # s): this one is thrown away, and no student's gradebook is new (they copy the template).
    lookup = nbgrader.api.get_alembic_version
    nbgrader.api.get_alembic_version = lambda: "warm"
    try:
        # nbgrader's own submission code warns of SQLAlchemy's autoflush, as in every run.
        with warnings.catch_warnings(), nbgrader.api.Gradebook("sqlite://", "warm") as gb:
            warnings.simplefilter("ignore")
            gb.add_assignment("a")
            gb.add_notebook("n", "a")
            gb.add_grade_cell("g", "n", "a", max_score=1, cell_type="code")
            gb.add_solution_cell("s", "n", "a")
            gb.add_source_cell("g", "n", "a", cell_type="code", source="x", checksum="c")
            gb.update_or_create_student("st")
            gb.update_or_create_submission("a", "st")
            grade = gb.find_grade("g", "n", "a", "st")
            grade.auto_score = 1.0
            gb.db.commit()
            notebook = gb.find_submission_notebook("n", "a", "st")
            _ = [g.auto_score for g in notebook.grades], notebook.score, notebook.max_score
            gb.find_comment("s", "n", "a", "st")
    except Exception:
        pass
    finally:
        nbgrader.api.get_alembic_version = lookup


def _fork_student(req: dict, close=()) -> int:
    """Fork the process of one student's request (``job``, ``tag``, ``log``, ``cwd``); its pid.

    The child closes ``close`` (the server's sockets), starts a session of its own with its
    output in ``log``, and runs :func:`autograder.child._child_main` on ``job``.
    """
    from .child import _child_main  # imported once, before the first fork (_server_main)

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the student's own process
        rc = 70
        try:
            for sock in close:
                sock.close()
            os.setsid()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.chdir(req["cwd"])
            fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            # Inherited by the kernel and all it starts, so kill_tagged finds them.
            os.environ[JOB_TAG_ENV] = req["tag"]
            rc = _child_main(req["job"])
        except BaseException:  # noqa: B036 - whatever happens, this process must end here
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
    return pid


def _serve_pipe() -> None:
    """Answer the requests of the process that started the server, one line each on stdin."""
    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
            print("ERROR", flush=True)
            continue
        print(f"PID {_fork_student(req)}", flush=True)


def _serve_socket(listener: socket.socket) -> None:
    """Answer one request per connection on ``listener`` until stdin (the starter) closes.

    Only processes of this server's own user are answered (``SO_PEERCRED``; the socket's
    folder is theirs alone anyway). A connection that sends nothing within a few seconds is
    dropped, so no client can hold up the others.
    """
    while True:
        readable, _, _ = select.select([sys.stdin, listener], [], [])
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 4096):
            return  # the process that started the server is done (or gone)
        if listener not in readable:
            continue
        try:
            conn, _ = listener.accept()
        except OSError:
            continue
        with conn:
            try:
                creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
                if struct.unpack("3i", creds)[1] != os.getuid():
                    continue
                conn.settimeout(5.0)
                req = json.loads(_recv_line(conn))
                pid = _fork_student(req, close=(listener, conn))
                conn.sendall(f"PID {pid}\n".encode())
            except (OSError, ValueError, KeyError, TypeError):
                continue


def _server_main(*args: str) -> NoReturn:
    """Body of the fork server (``[--listen-fd FD] [hidden_tests.py]``): import everything
    once, then fork one process per request; ends the process when its input is closed."""
    args = list(args)
    listener = None
    if args[:1] == ["--listen-fd"]:
        listener = socket.socket(fileno=int(args[1]))
        args = args[2:]
    preload = args[0] if args else None
    # Children are reaped by the kernel: the parent watches them by pid, not by waitpid.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    import nbconvert.exporters.html  # noqa: F401 - warm the imports every student needs
    import nbgrader.apps
    import nbgrader.apps.api  # noqa: F401

    patches.install()  # among them the template and highlighting caches the warm-ups fill
    _warm_feedback_templates()
    _warm_gradebook()
    import autograder.execute  # noqa: F401 - the probe, the sandbox, the codec

    from .child import _child_main  # noqa: F401 - what every fork runs, imported once here

    if preload:
        # Runs the hidden tests' module once and builds every case (hidden.load): every
        # student's process takes them from its copy-on-write copy (hidden.load_built)
        # instead of running the course's references again. Failing costs only speed.
        from .hidden import load

        try:
            load(preload)
        except Exception:
            pass
        _warm_highlighting(Path(preload).parent)
    print("READY", flush=True)
    if listener is None:
        _serve_pipe()
    else:
        _serve_socket(listener)
    # The grading process closed the pipe. Nothing here needs tidying (the students' processes
    # have sessions of their own), and an interpreter's orderly exit after all these imports
    # took 0.6 s, which the grading process (and a cluster worker) waited for at its end.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    _server_main(*sys.argv[1:])
