"""Stage 2: run real nbgrader, one student at a time, each in its own process and course.

* :func:`prepare` turns a source assignment into a private nbgrader course (``generate_assignment``
  in a temporary directory): the released notebooks and a gradebook holding only the
  assignment. :func:`release` copies the student version out of it.
* :func:`run_student` grades one student: a child process (``python -m autograder.run JOB``)
  builds its own temporary course from the prepared gradebook, runs ``nbgrader autograde`` and
  ``generate_feedback`` there and writes plain JSON. Its kernel runs in the sandbox of
  :mod:`autograder.sandbox` (it sees none of the gradebooks, sources, hidden tests, outputs or
  other students' files), and the hidden tests are judged in the child, not in the kernel
  (:mod:`autograder.execute`). A hang, a crash or a dead kernel ends that child only: the
  student gets ``timeout``/``crashed`` and the run goes on. The original submission is never
  touched (collect made the copy).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from . import EXERCISES_DIR, RELEASE_DIR
from .hidden import HIDDEN_TESTS_FILE, hidden_tests_path
from .nbgrader_config import CELL_TIMEOUT, COURSE_ID, IGNORE, course_config
from .sandbox import Limits, proc_stat
from .verify import (
    autograded_cells,
    cell_errors,
    find_leaks,
    hidden_file_lines,
    restore_deleted_cells,
    restore_nbgrader_metadata,
    secret_lines,
    strip_hidden_tests,
)

#: Environment variable that tags every process of one grading job (child, kernel, and
#: whatever the student's code spawns), so that all of them can be found and killed.
JOB_TAG_ENV = "AUTOGRADER_JOB_TAG"
#: The reason given when a kernel died or stayed silent before its first cell.
KERNEL_NEVER_STARTED = "the kernel did not start (it died or did not answer before the first cell)"
#: Seconds a student's whole grading (kernel start-up included) may take by default.
DEFAULT_TIMEOUT = 300


def child_env() -> dict[str, str]:
    """Environment for nbgrader child processes.

    nbgrader runs ``alembic`` (and Jupyter finds kernels) by name, so the folder of the
    running interpreter goes first on ``PATH``: ``.venv/bin/python -m autograder`` then works
    without an activated virtual environment.
    """
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    # The child runs ``-m autograder.run`` from a private folder: make this very package
    # importable there even when it is used from a checkout without ``pip install -e``.
    pkg_parent = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, env.get("PYTHONPATH")]))
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env.pop("JPY_PARENT_PID", None)
    return env


def use_interpreter_path() -> None:
    """Put this interpreter's folder first on ``PATH`` (nbgrader runs ``alembic`` by name)."""
    os.environ["PATH"] = child_env()["PATH"]


@functools.cache
def alembic_head() -> str:
    """The head revision of nbgrader's gradebook migrations, looked up in this process.

    nbgrader stamps every new ``gradebook.db`` with it by running ``alembic heads`` in a
    subprocess (``nbgrader.api.get_alembic_version``): a Python start-up and alembic's
    imports, about 2.6 s of each ``grade`` and ``release``. Alembic's own API gives the same
    answer from the same migration scripts without the subprocess.
    """
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import _temp_alembic_ini

    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        return ScriptDirectory.from_config(AlembicConfig(ini)).get_current_head()


def use_alembic_head_lookup() -> None:
    """Make nbgrader stamp new gradebooks with :func:`alembic_head` (no subprocess)."""
    import nbgrader.api

    nbgrader.api.get_alembic_version = alembic_head


# --------------------------------------------------------------------------- preparing


@dataclass
class Prepared:
    """A source assignment turned into a private nbgrader course.

    Attributes
    ----------
    assignment : str
        Assignment name (the folder name under ``exercises/``).
    course : Path
        Root of the temporary course directory.
    notebooks : list of str
        Notebook names without ``.ipynb``, sorted.
    max_scores : dict
        ``notebook -> autograded points``.
    course_id : str
        nbgrader course id of the gradebooks (ours, or the one of ``config_file``).
    hidden_tests : Path or None
        Private copy of the assignment's ``hidden_tests.py`` (see :mod:`autograder.hidden`);
        ``None`` when the assignment has none (its test cells alone decide).
    config_file : Path or None
        Another course's ``nbgrader_config.py`` applied to every private course
        (``grade --course``); ``None`` for this course's own assignments.
    """

    assignment: str
    course: Path
    notebooks: list[str]
    max_scores: dict[str, float] = field(default_factory=dict)
    course_id: str = COURSE_ID
    config_file: Path | None = None
    #: The assignment's ``hidden_tests.py`` (a private copy), judged in the grader's process.
    hidden_tests: Path | None = None

    def config(self, root, **kw):
        """nbgrader configuration of a private course at ``root`` for this assignment."""
        return course_config(root, config_file=self.config_file, **kw)

    @property
    def source_dir(self) -> Path:
        return self.course / "source" / self.assignment

    @property
    def release_dir(self) -> Path:
        return self.course / "release" / self.assignment

    @property
    def db_path(self) -> Path:
        return self.course / "gradebook.db"

    @property
    def max_score(self) -> float:
        return float(sum(self.max_scores.values()))

    def source_nb(self, notebook: str):
        """The instructor's source notebook (a private copy: callers may change it)."""
        return self._read(self.source_dir / f"{notebook}.ipynb")

    def release_nb(self, notebook: str):
        """The released student version (a private copy: callers may change it)."""
        return self._read(self.release_dir / f"{notebook}.ipynb")

    def _read(self, path: Path):
        # Verifying a student reads the release and the source several times; parsing and
        # validating the JSON each time cost more than the copy. The files are the
        # instructor's, written once by prepare(), so they are read once.
        cache = self.__dict__.setdefault("_notebooks", {})
        if path not in cache:
            cache[path] = nbformat.read(str(path), as_version=4)
        return copy.deepcopy(cache[path])


def assignment_dir(assignment: str, exercises_dir=EXERCISES_DIR) -> Path:
    """Folder of a source assignment; ``ValueError`` listing the known ones if absent."""
    exercises_dir = Path(exercises_dir)
    if not isinstance(assignment, str) or not assignment or "/" in assignment or \
            assignment.startswith("."):
        raise ValueError(f"assignment: expected a folder name under {exercises_dir}, "
                         f"got {assignment!r}")
    path = exercises_dir / assignment
    if not path.is_dir() or not list(path.glob("*.ipynb")):
        known = list_assignments(exercises_dir)
        raise ValueError(f"assignment: no notebooks in {path}; known assignments: {known}")
    return path


def list_assignments(exercises_dir=EXERCISES_DIR) -> list[str]:
    """Names of the source assignments (folders holding at least one notebook)."""
    exercises_dir = Path(exercises_dir)
    if not exercises_dir.is_dir():
        return []
    return sorted(p.name for p in exercises_dir.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")) and list(p.glob("*.ipynb")))


def _quiet_api(config):
    """An ``NbGraderAPI`` on ``config`` whose log goes nowhere (results carry the log)."""
    import logging

    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    api.log.setLevel(logging.ERROR)
    return api


def prepare(assignment: str, workdir, exercises_dir=EXERCISES_DIR, db_url: str | None = None,
            config_file=None) -> Prepared:
    """Run nbgrader ``generate_assignment`` on a copy of the source in ``workdir/course``.

    Parameters
    ----------
    assignment : str
        Folder name under ``exercises_dir``.
    workdir : path-like
        An empty private directory (a temporary one); the course is built below it.
    exercises_dir : path-like
        Where the source assignments live.
    db_url : str, optional
        Also record the assignment in this gradebook (the instructor's); by default only the
        course's own ``gradebook.db``.
    config_file : path-like, optional
        Another course's ``nbgrader_config.py`` (see :func:`course_config`).

    Returns
    -------
    Prepared

    Raises
    ------
    RuntimeError
        When nbgrader refuses the source (its log is in the message).
    """
    src = assignment_dir(assignment, exercises_dir)
    use_interpreter_path()
    use_alembic_head_lookup()
    config_file = Path(config_file).resolve() if config_file is not None else None
    course = Path(workdir).resolve() / "course"
    shutil.copytree(src, course / "source" / assignment,
                    ignore=shutil.ignore_patterns(*IGNORE))
    config = course_config(course, config_file=config_file)
    course_id = config.CourseDirectory.course_id
    result = _quiet_api(config).generate_assignment(assignment)
    if not result.get("success"):
        raise RuntimeError(f"nbgrader generate_assignment failed for {assignment}:\n"
                           f"{result.get('error', '')}\n{result.get('log', '')}")
    if db_url is not None and db_url.startswith("sqlite:///") and \
            not Path(db_url[len("sqlite:///"):]).exists():
        # A new instructor gradebook: a copy of the fresh one is the same as regenerating
        # into it, and saves a second nbgrader run.
        Path(db_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(course / "gradebook.db", db_url[len("sqlite:///"):])
    elif db_url is not None:
        again = _quiet_api(course_config(course, db_url=db_url, config_file=config_file)
                           ).generate_assignment(assignment)
        if not again.get("success"):
            raise RuntimeError(f"could not record {assignment} in {db_url}:\n"
                               f"{again.get('error', '')}")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id) as gb:
        names = sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)
    hidden = hidden_tests_path(src)
    if hidden is not None:
        # A copy outside the course: nbgrader never sees it, and the run grades everyone
        # with the same tests even if the file is edited meanwhile.
        hidden = Path(shutil.copy(hidden, Path(workdir).resolve() / HIDDEN_TESTS_FILE))
    prep = Prepared(assignment, course, names, {}, course_id, config_file, hidden)
    # Autograded points only: manually graded answers (a course like nbgrader's ps1 has them)
    # are the formgrader's business, and ``max_score`` in grades.csv says what we graded.
    prep.max_scores = {n: float(sum(autograded_cells(prep.release_nb(n)).values()))
                       for n in names}
    return prep


def release(assignments=None, out_dir=RELEASE_DIR, exercises_dir=EXERCISES_DIR) -> list[Path]:
    """Write the student version of each assignment: ``out_dir/<a>/`` and ``out_dir/<a>.zip``.

    The files come from nbgrader's ``generate_assignment`` (solutions replaced by a stub,
    hidden tests removed), built in a temporary course so no gradebook or nbgrader folder is
    left in the repository. Every released file is then checked for solution and hidden-test
    lines; a leak raises ``RuntimeError`` and nothing of that assignment is written.

    Parameters
    ----------
    assignments : list of str, optional
        Names under ``exercises_dir``; default all of them.

    Returns
    -------
    list of Path
        The written zip files.
    """
    out_dir = Path(out_dir)
    names = list(assignments) if assignments else list_assignments(exercises_dir)
    if not names:
        raise ValueError(f"assignments: none given and none found in {exercises_dir}")
    written = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix="autograder-release-") as tmp:
            prep = prepare(name, tmp, exercises_dir)
            secrets = []
            for nb in prep.notebooks:
                secrets += secret_lines(prep.source_nb(nb))
            secrets += hidden_file_lines(prep.hidden_tests,
                                         [prep.release_nb(nb) for nb in prep.notebooks])
            files = sorted(p for p in prep.release_dir.rglob("*") if p.is_file())
            for path in files:
                if path.suffix in {".ipynb", ".py", ".md", ".txt", ".json"}:
                    leaks = find_leaks(path.read_text(encoding="utf-8", errors="replace"),
                                       secrets)
                    if leaks:
                        raise RuntimeError(f"release of {name}: {path.name} contains "
                                           f"{len(leaks)} secret line(s), e.g. {leaks[0]!r}")
            target = out_dir / name
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(prep.release_dir, target)
            zpath = out_dir / f"{name}.zip"
            with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
                for path in files:
                    zf.write(path, Path(name) / path.relative_to(prep.release_dir))
            written.append(zpath)
    return written


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
    """

    student: str
    status: str | None
    detail: str = ""
    autograded: dict[str, Path] = field(default_factory=dict)
    feedback: dict[str, Path] = field(default_factory=dict)
    reported: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
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


class ForkServer:
    """A pre-imported grading process that forks one fresh process per student.

    Importing nbgrader (SQLAlchemy, nbconvert, jsonschema, ...) costs seconds, more than a
    kernel start; paying it once per student made grading ~2.5x slower than plain nbgrader,
    which pays it once per run. The server (``python -m autograder.run --fork-server``,
    started once per ``grade``) imports all of it and then only forks: each student still gets
    a process of its own (a copy-on-write copy with no student's data in it, its own session,
    its own temporary course and kernel), so nothing writable is shared between students and
    a student's process can be killed alone. The server never runs student code and never
    touches a student's files.

    If the server is gone (killed, say, by a hostile notebook), :meth:`spawn` returns ``None``
    and :func:`run_student` falls back to starting a new interpreter for that student.
    """

    def __init__(self, workdir, preload=None):
        """Start the server in ``workdir``; ``preload``: a ``hidden_tests.py`` whose imports
        (coursekit, NumPy) the server makes once, instead of every student's process."""
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._log = open(workdir / "fork-server.log", "wb")  # closed in close()
        # Started now, waited for at the first spawn: its imports overlap the caller's work.
        extra = [str(Path(preload).resolve())] if preload else []
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.run", "--fork-server",
                                      *extra],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, env=child_env(), cwd=str(workdir),
                                     start_new_session=True, text=True, bufsize=1)
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
        request = json.dumps({"job": str(job_path), "tag": tag, "log": str(log_path),
                              "cwd": str(cwd)})
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
        """Stop the server (its students' processes are waited for by their callers)."""
        self._ready = False
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    fields = proc_stat(pid)
    return bool(fields) and fields[0] not in {b"Z", b"X"}


def template_bytecode_cache():
    """An in-memory Jinja bytecode cache installed on every nbconvert template environment.

    nbconvert builds a new Jinja environment for every exporter, so each student's
    ``generate_feedback`` compiled the same nine feedback templates again (about 0.2 s, a
    tenth of a student's grading). The fork server fills this cache once, from the installed
    templates and no student data; each student's process inherits a copy-on-write copy, so
    nothing a student's process writes reaches another student. Jinja checks every entry
    against the template's source checksum, so a changed template is simply compiled again.
    """
    import jinja2
    from nbconvert.exporters.templateexporter import TemplateExporter

    class MemoryBytecodeCache(jinja2.BytecodeCache):
        def __init__(self):
            self.store: dict[str, bytes] = {}

        def load_bytecode(self, bucket):
            code = self.store.get(bucket.key)
            if code is not None:
                bucket.bytecode_from_string(code)

        def dump_bytecode(self, bucket):
            self.store[bucket.key] = bucket.bytecode_to_string()

    cache = MemoryBytecodeCache()
    create = TemplateExporter._create_environment

    def _create_environment(self):
        env = create(self)
        env.bytecode_cache = cache
        return env

    TemplateExporter._create_environment = _create_environment
    return cache


def feedback_page(nb, resources: dict) -> str:
    """nbgrader's feedback page for ``nb``, rendered the way its ``GenerateFeedback`` does.

    The same exporter settings (nbgrader's ``feedback`` template, bootstrap CSS) and the CSS
    header preprocessor; ``resources["nbgrader"]`` must hold what nbgrader's ``GetGrades``
    puts there (``notebook``, ``score``, ``max_score``, ``late_penalty``). Used to warm the
    fork server's caches; students' pages come from nbgrader's own ``generate_feedback``.
    """
    import nbconvert
    import nbgrader.converters.generate_feedback as gf
    from traitlets.config import Config

    base = Path(gf.__file__).resolve().parent.parent / "server_extensions" / "formgrader"
    c = Config()
    c.HTMLExporter.template_name = "feedback"
    c.HTMLExporter.extra_template_basedirs = [str(base / "templates")]
    c.HTMLExporter.extra_template_paths = [
        str(base / "static" / "node_modules" / "bootstrap" / "dist" / "css")]
    exporter = nbconvert.HTMLExporter(config=c)
    exporter.register_preprocessor(nbconvert.preprocessors.CSSHTMLHeaderPreprocessor(),
                                   enabled=True)
    return exporter.from_notebook_node(nb, copy.deepcopy(resources))[0]


def warm_notebook():
    """A made-up graded notebook (markdown with maths, a solution, a failed test cell)."""
    nb = nbformat.v4.new_notebook(metadata={"language_info": {
        "name": "python", "pygments_lexer": "ipython3"}})
    # The metadata nbgrader's GetGrades adds (score, points, comment) is there too.
    grade = {"grade": True, "grade_id": "t", "points": 1, "locked": True, "solution": False,
             "score": 0.0}
    nb.cells = [nbformat.v4.new_markdown_cell("# $x$"),
                nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {
                    "solution": True, "grade": False, "grade_id": "s", "locked": False,
                    "comment": None}}),
                nbformat.v4.new_code_cell("assert x == 1", metadata={"nbgrader": grade},
                                          outputs=[nbformat.v4.new_output(
                                              "error", ename="AssertionError", evalue="x",
                                              traceback=["AssertionError: x"])])]
    resources = {"nbgrader": {"notebook": "warm", "assignment": "warm", "student": "warm",
                              "score": 0.0, "max_score": 1.0, "late_penalty": 0.0}}
    return nb, resources


def _warm_feedback_templates() -> None:
    """Render a feedback page once in the fork server, from no student's data.

    Compiles (into :func:`template_bytecode_cache`) the templates ``generate_feedback`` uses
    and loads the code highlighter, the HTML parser and the CSS it inlines, so that every
    student's process starts with them. Failing here costs nothing but speed.
    """
    try:
        feedback_page(*warm_notebook())
    except Exception:  # a partly filled cache is still a cache
        pass


def _server_main(preload: str | None = None) -> int:
    """Body of the fork server: import everything once, then fork one process per request."""
    # Children are reaped by the kernel: the parent watches them by pid, not by waitpid.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    import nbconvert.exporters.html  # noqa: F401 - warm the imports every student needs
    import nbgrader.apps
    import nbgrader.apps.api  # noqa: F401

    template_bytecode_cache()
    _warm_feedback_templates()
    import autograder.execute  # noqa: F401 - the probe, the sandbox, the codec

    if preload:
        # Runs the hidden tests' module once (it only defines builders): what it imports
        # is then already imported in every student's process. Failing costs only speed.
        from .hidden import load

        try:
            load(preload)
        except Exception:
            pass
    print("READY", flush=True)
    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
            print("ERROR", flush=True)
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the student's own process
            rc = 70
            try:
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
        print(f"PID {pid}", flush=True)
    return 0


def run_student(prep: Prepared, student: str, notebooks: dict[str, Path], workdir,
                timeout: float = DEFAULT_TIMEOUT, cell_timeout: int = CELL_TIMEOUT,
                server: ForkServer | None = None, limits: Limits | None = None,
                sandbox: bool = True) -> RunResult:
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
    job = {"assignment": prep.assignment, "template_db": str(prep.db_path),
           "source_dir": str(prep.source_dir), "course": str(workdir / "course"),
           "release_dir": str(prep.release_dir),
           "notebooks": {k: str(v) for k, v in notebooks.items()},
           "cell_timeout": int(cell_timeout), "result": str(workdir / "result.json"),
           "config_file": str(prep.config_file) if prep.config_file else None,
           "hidden_tests": str(prep.hidden_tests) if prep.hidden_tests else None,
           "sandbox": bool(sandbox), "limits": asdict(limits)}
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


def _run_child(student: str, job: dict, workdir: Path, tag: str, timeout: float,
               server) -> RunResult:
    """Start the student's process (forked by ``server`` or a new interpreter), wait for it
    at most ``timeout`` seconds, kill all it started, and read its result."""
    (workdir / "job.json").write_text(json.dumps(job))
    start = time.monotonic()
    pid = server.spawn(workdir / "job.json", tag, workdir / "child.log", workdir) \
        if server is not None else None
    if pid is not None:
        status, rc = None, "unknown"
        while _alive(pid):
            if time.monotonic() - start > timeout:
                status = "timeout"
                break
            # Cheap (one read of /proc): a finer poll hands each result over sooner.
            time.sleep(0.01)
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
        proc = subprocess.Popen([sys.executable, "-m", "autograder.run", str(workdir / "job.json")],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=str(workdir), start_new_session=True)
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


def _collect_result(student: str, workdir: Path, status: str | None, rc, timeout: float,
                    seconds: float) -> RunResult:
    """Turn what the student's process left in ``workdir`` into a :class:`RunResult`."""
    if status == "timeout":
        return RunResult(student, "timeout", f"grading took longer than {timeout:g} s and was "
                         "stopped", seconds=seconds)
    result_path = workdir / "result.json"
    if not result_path.exists():
        tail = _tail(workdir / "child.log")
        return RunResult(student, "crashed", f"grader process exited with code {rc} "
                         f"without a result: {tail}", seconds=seconds)
    try:
        data = json.loads(result_path.read_text())
    except ValueError as exc:
        return RunResult(student, "crashed", f"unreadable result ({exc})", seconds=seconds)
    if not data.get("success"):
        status = data.get("status") if data.get("status") in {"timeout", "crashed"} \
            else "crashed"
        return RunResult(student, status, data.get("error", "nbgrader failed"),
                         seconds=seconds)
    return RunResult(student, None, "",
                     autograded={k: Path(v) for k, v in data["autograded"].items()},
                     feedback={k: Path(v) for k, v in data.get("feedback", {}).items()},
                     reported=data["reported"], seconds=seconds,
                     reports=data.get("reports", {}))


def _tail(path: Path, n: int = 400) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " ".join(text[-n:].split())


def _short_error(log: str, error: str, memory_mb: int | None = None) -> tuple[str, str]:
    """``(status, reason)`` of nbgrader's failure, from its most telling line."""
    text = f"{error}\n{log}"
    if "Kernel died before replying to kernel_info" in text or \
            "Kernel didn't respond in" in text:
        # Before the first cell: no student code has run (see pipeline.kernel_never_started).
        return "crashed", KERNEL_NEVER_STARTED
    if "DeadKernelError" in text or "Kernel died" in text:
        memory = f"the memory limit of {memory_mb} MB" if memory_mb else "out of memory"
        return "crashed", ("the kernel died while running the notebook (os._exit, a signal, "
                           f"a crash in compiled code, or {memory})")
    if "CellTimeoutError" in text:
        return "timeout", ("a cell ran past the cell time limit and did not stop when "
                           "interrupted (blocked signals or a long call in compiled code)")
    # The detail is read without the log (which is gone with the student's folder): lines that
    # point at a traceback or tell the user to run an nbgrader command are no reason.
    errors = [" ".join(ln.split()) for ln in text.splitlines()
              if re.match(r"\s*[\w.]*(Error|Exception)\b.*:\s*\S", ln)
              and not _LOG_ONLY.search(ln)]
    if errors:
        return "crashed", f"nbgrader could not grade the notebook: {errors[-1]}"[:300]
    return "crashed", ("nbgrader could not grade the notebook (it stopped with an internal "
                       "error; the submission may be malformed in a way nbgrader does not "
                       "report)")


#: Phrases of nbgrader's log that make sense only next to the log.
_LOG_ONLY = re.compile(r"traceback|nbgrader update|see the|please", re.IGNORECASE)


def sanitize_for_feedback(nb) -> None:
    """Make an autograded notebook safe to show: no hidden test, no traceback of test code.

    Test cells get their hidden-test regions removed; an error output of a test cell keeps
    only ``ename: evalue`` (the message the test wrote for the student), because IPython's
    traceback quotes the source lines around the failing one, hidden ones included.
    """
    from .verify import is_test_cell

    for cell in nb.cells:
        if cell.cell_type != "code" or not is_test_cell(cell):
            continue
        cell.source = strip_hidden_tests(cell.source)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]


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


def _set_up_execution(config, job: dict, runtime_dir: Path, ipc_dir: Path) -> None:
    """Make nbgrader's autograde run the hidden-test probe, in the sandbox, within limits
    (:func:`autograder.execute.configure`, shared with ``validate``)."""
    from . import execute

    execute.configure(config, limits=Limits(**job.get("limits") or {}),
                      sandbox=bool(job.get("sandbox")), ipc_dir=ipc_dir,
                      runtime_dir=runtime_dir, hidden_tests=job.get("hidden_tests"))


def _child_main(job_path: str) -> int:
    """Body of the child process: one student's private nbgrader course."""
    job = json.loads(Path(job_path).read_text())
    result_path = Path(job["result"])
    a = job["assignment"]
    course = Path(job["course"])

    def finish(**data) -> int:
        result_path.write_text(json.dumps(data))
        return 0

    try:
        (course / "submitted" / "student" / a).mkdir(parents=True)
        shutil.copy(job["template_db"], course / "gradebook.db")
        # Non-notebook files of the source (data files) are restored by autograde from here;
        # the source notebooks themselves are not needed and stay out of the kernel's reach.
        shutil.copytree(job["source_dir"], course / "source" / a,
                        ignore=shutil.ignore_patterns("*.ipynb", *IGNORE))
        for name, path in job["notebooks"].items():
            # A deleted test or read-only cell is put back (the verdict reports it as
            # tampered): the student is graded on every one of the instructor's tests.
            # Likewise every cell's nbgrader metadata (ids, points, grade flags): nbgrader
            # grades on the instructor's cells and points (the verdict names the changes).
            nb = nbformat.read(str(path), as_version=4)
            release_nb = nbformat.read(str(Path(job["release_dir"]) / f"{name}.ipynb"),
                                       as_version=4)
            restore_nbgrader_metadata(nb, release_nb)
            restore_deleted_cells(nb, release_nb)
            nbformat.write(nb, str(course / "submitted" / "student" / a / f"{name}.ipynb"))
        config = course_config(course, cell_timeout=job["cell_timeout"],
                               config_file=job.get("config_file"))
        _set_up_execution(config, job, course.parent / "runtime", Path(job["ipc_dir"]))
        memory_mb = (job.get("limits") or {}).get("memory_mb")
        api = _quiet_api(config)
        res = api.autograde(a, "student")
        from . import execute

        limit = next((r.output_limit for r in execute.REPORT.values() if r.output_limit), "")
        if limit:
            # Whatever nbgrader made of the killed kernel, the reason is the output limit.
            return finish(success=False, status="crashed",
                          error=f"output limit reached: {limit}; the kernel was stopped")
        if not res.get("success"):
            status, reason = _short_error(res.get("log", ""), res.get("error", ""), memory_mb)
            return finish(success=False, status=status, error=reason)
        from nbgrader.api import Gradebook

        reported, autograded = {}, {}
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}",
                       config.CourseDirectory.course_id) as gb:
            for name in job["notebooks"]:
                sub = gb.find_submission_notebook(name, a, "student")
                reported[name] = {g.name: float(g.auto_score or 0.0) for g in sub.grades
                                  if g.auto_score is not None}
        adir = course / "autograded" / "student" / a
        for name in job["notebooks"]:
            path = adir / f"{name}.ipynb"
            if not path.exists():
                return finish(success=False, error=f"nbgrader wrote no autograded {name}.ipynb")
            nb = nbformat.read(str(path), as_version=4)
            if any(e == "DeadKernelError" for c in nb.cells if c.cell_type == "code"
                   for e, _ in cell_errors(c)):
                status, reason = _short_error("DeadKernelError", "", memory_mb)
                return finish(success=False, status=status, error=reason)
            # Keep nbgrader's verdict material, then feed a sanitised copy to feedback.
            keep = course / f"autograded-{name}.ipynb"
            shutil.copy(path, keep)
            autograded[name] = str(keep)
            sanitize_for_feedback(nb)
            # nbgrader leaves autograded notebooks read-only (0444): a grader that is not
            # root must make its own file writable again to replace it.
            path.chmod(0o644)
            nbformat.write(nb, str(path))
        fb = api.generate_feedback(a, "student")
        feedback = {}
        if fb.get("success"):
            fdir = course / "feedback" / "student" / a
            feedback = {n: str(fdir / f"{n}.html") for n in job["notebooks"]
                        if (fdir / f"{n}.html").exists()}
        reports = {name: asdict(r) for name, r in execute.REPORT.items()}
        return finish(success=True, reported=reported, autograded=autograded, feedback=feedback,
                      reports=reports)
    except Exception as exc:  # any failure is this student's, reported as data
        return finish(success=False, error=f"{type(exc).__name__}: {exc}"[:500])


if __name__ == "__main__":
    sys.exit(_server_main(*sys.argv[2:3]) if sys.argv[1] == "--fork-server"
             else _child_main(sys.argv[1]))
