"""Preparing an assignment and releasing it: the grading process's part before any student.

Runs in the grading process (``python -m autograder ...``) and, on a cluster, in each Dask
worker before its first student; never in a student's process, never near student code.

* :func:`prepare` turns a source assignment into a private nbgrader course (``generate_assignment``
  in a temporary directory): the released notebooks and a gradebook holding only the
  assignment; :class:`Prepared` describes it, and every student's grading starts from it.
* :func:`release` copies the student version out of it, checked for leaks.
* :func:`child_env` is the environment of every process the grader starts (the fork server,
  a fallback student process), so that nbgrader finds ``alembic`` and Python finds this
  package.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import EXERCISES_DIR, RELEASE_DIR, patches
from .hidden import HIDDEN_TESTS_FILE, hidden_tests_path
from .leaks import find_leaks, hidden_file_lines, secret_lines
from .nbgrader_config import COURSE_ID, IGNORE, course_config
from .notebook import autograded_cells


def child_env() -> dict[str, str]:
    """Environment for nbgrader child processes.

    nbgrader runs ``alembic`` (and Jupyter finds kernels) by name, so the folder of the
    running interpreter goes first on ``PATH``: ``.venv/bin/python -m autograder`` then works
    without an activated virtual environment.
    """
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    # The child runs ``-m autograder.child`` from a private folder: make this very package
    # importable there even when it is used from a checkout without ``pip install -e``.
    pkg_parent = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, env.get("PYTHONPATH")]))
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env.pop("JPY_PARENT_PID", None)
    return env


def use_interpreter_path() -> None:
    """Put this interpreter's folder first on ``PATH`` (nbgrader runs ``alembic`` by name)."""
    os.environ["PATH"] = child_env()["PATH"]


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
            import nbformat  # (here: a cluster worker imports this module without needing it)

            cache[path] = nbformat.read(str(path), as_version=4)
        return copy.deepcopy(cache[path])


def assignment_dir(assignment: str, exercises_dir=EXERCISES_DIR) -> Path:
    """Folder of a source assignment; ``ValueError`` listing the known ones if absent."""
    exercises_dir = Path(exercises_dir)
    if (
        not isinstance(assignment, str)
        or not assignment
        or "/" in assignment
        or assignment.startswith(".")
    ):
        raise ValueError(
            f"assignment: expected a folder name under {exercises_dir}, got {assignment!r}"
        )
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
    return sorted(
        p.name
        for p in exercises_dir.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and list(p.glob("*.ipynb"))
    )


def _quiet_api(config):
    """An ``NbGraderAPI`` on ``config`` whose log goes nowhere (results carry the log)."""
    import logging

    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    api.log.setLevel(logging.ERROR)
    return api


def prepare(
    assignment: str,
    workdir,
    exercises_dir=EXERCISES_DIR,
    db_url: str | None = None,
    config_file=None,
) -> Prepared:
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
    patches.install()
    config_file = Path(config_file).resolve() if config_file is not None else None
    course = Path(workdir).resolve() / "course"
    shutil.copytree(src, course / "source" / assignment, ignore=shutil.ignore_patterns(*IGNORE))
    config = course_config(course, config_file=config_file)
    course_id = config.CourseDirectory.course_id
    result = _quiet_api(config).generate_assignment(assignment)
    if not result.get("success"):
        raise RuntimeError(
            f"nbgrader generate_assignment failed for {assignment}:\n"
            f"{result.get('error', '')}\n{result.get('log', '')}"
        )
    if (
        db_url is not None
        and db_url.startswith("sqlite:///")
        and not Path(db_url[len("sqlite:///") :]).exists()
    ):
        # A new instructor gradebook: a copy of the fresh one is the same as regenerating
        # into it, and saves a second nbgrader run.
        Path(db_url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(course / "gradebook.db", db_url[len("sqlite:///") :])
    elif db_url is not None:
        again = _quiet_api(
            course_config(course, db_url=db_url, config_file=config_file)
        ).generate_assignment(assignment)
        if not again.get("success"):
            raise RuntimeError(
                f"could not record {assignment} in {db_url}:\n{again.get('error', '')}"
            )
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
    prep.max_scores = {n: float(sum(autograded_cells(prep.release_nb(n)).values())) for n in names}
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
            secrets += hidden_file_lines(
                prep.hidden_tests, [prep.release_nb(nb) for nb in prep.notebooks]
            )
            files = sorted(p for p in prep.release_dir.rglob("*") if p.is_file())
            for path in files:
                if path.suffix in {".ipynb", ".py", ".md", ".txt", ".json"}:
                    leaks = find_leaks(path.read_text(encoding="utf-8", errors="replace"), secrets)
                    if leaks:
                        raise RuntimeError(
                            f"release of {name}: {path.name} contains "
                            f"{len(leaks)} secret line(s), e.g. {leaks[0]!r}"
                        )
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
