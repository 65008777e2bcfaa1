"""What a ``grade`` run remembers in its output folder, so that re-running it is cheap and safe.

``OUT/grading_state.json`` holds, per student, the key the grade was computed under and the
grade itself (row, per-notebook verdicts, hashes of the feedback pages written). The key is

.. math::

    k_s = \\operatorname{sha256}(\\text{grader version},\\ \\text{nbgrader version},\\
          h(\\text{assignment source}),\\ h(\\text{course config}),\\ \\text{timeouts},\\
          h(\\text{verdict code}),\\ \\text{entry name},\\ h(\\text{submission}),\\
          \\text{note})

so a student is graded again exactly when something that can change their grade changed:
their submission, the assignment's source (its ``hidden_tests.py`` included) or
configuration, the limits, or the code that decides the verdict: ``coursekit`` (every hidden
test compares with its reference implementations) and this package
(:func:`verdict_code_hash`). A fixed bug in a reference function therefore re-grades the
class; a changed book chapter does not. The file is rewritten after every student
(atomically), which also lets an interrupted run be resumed: the students already done are
not graded twice.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import json
import os
from dataclasses import asdict
from pathlib import Path

from . import __version__
from .collect import Submission, hash_path
from .hidden import HIDDEN_TESTS_FILE
from .nbgrader_config import IGNORE
from .report import StudentRow
from .verify import Verdict

#: Name of the state file inside ``--out``.
STATE_FILE = "grading_state.json"
#: Layout of the file; a file of another layout is ignored (everyone is graded again).
STATE_FORMAT = 1


def _ignored(rel: Path) -> bool:
    # The hidden tests are never released, but they decide grades: they count.
    return any(
        fnmatch.fnmatch(part, pat)
        for part in rel.parts
        for pat in IGNORE
        if pat != HIDDEN_TESTS_FILE
    )


def source_hash(folder) -> str:
    """SHA-256 of an assignment's source folder, ignoring editor litter (checkpoints, caches).

    Parameters
    ----------
    folder : path-like
        ``exercises/<assignment>/`` or ``COURSE/source/<assignment>/``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder: expected an assignment source folder, got {folder}")
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not _ignored(rel):
            h.update(f"{rel.as_posix()}\n{hash_path(p)}\n".encode())
    return h.hexdigest()


#: Packages whose code decides verdicts: the hidden tests' references, and the grader itself.
VERDICT_PACKAGES = ("coursekit", "autograder")


def code_hash(folders) -> str:
    """SHA-256 of the Python files below ``folders`` (names and contents; caches ignored).

    Parameters
    ----------
    folders : iterable of path-like
        Package folders, e.g. ``coursekit/``. A folder that does not exist counts as empty.
    """
    h = hashlib.sha256()
    for folder in map(Path, folders):
        h.update(f"{folder.name}/\n".encode())
        if not folder.is_dir():
            continue
        for p in sorted(folder.rglob("*.py")):
            rel = p.relative_to(folder)
            if "__pycache__" not in rel.parts and not _ignored(rel):
                h.update(f"{rel.as_posix()}\n{hash_path(p)}\n".encode())
    return h.hexdigest()


def package_folder(name: str) -> Path | None:
    """Folder of the importable package ``name`` (not imported), or ``None``."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def verdict_code_hash() -> str:
    """:func:`code_hash` of :data:`VERDICT_PACKAGES` as this interpreter imports them.

    The whole of ``coursekit`` counts, not only the modules an assignment imports: a change
    anywhere in it re-grades (a few minutes of computing), which is cheaper than a grade
    computed against an old reference. The book's chapters, the exercises' other assignments
    and the tests are outside these folders and never re-grade anyone.
    """
    # A package that is not installed hashes as an empty folder of its name.
    return code_hash([package_folder(n) or Path(n) for n in VERDICT_PACKAGES])


def run_key(
    source_dir,
    config_file=None,
    *,
    timeout: float,
    cell_timeout: int,
    limits: dict | None = None,
    code: str | None = None,
) -> str:
    """The part of every student's key that is shared by the whole run.

    Parameters
    ----------
    source_dir : path-like
        The assignment's source folder.
    config_file : path-like, optional
        The course's ``nbgrader_config.py`` when grading another course (``--course``).
    timeout, cell_timeout : float, int
        The run's limits: a larger limit can turn a ``timeout`` into a grade.
    limits : dict, optional
        The kernels' resource limits and whether they ran sandboxed (same reason).
    code : str, optional
        Hash of the code that decides verdicts (default :func:`verdict_code_hash`).
    """
    import nbgrader

    parts = {
        "grader": __version__,
        "nbgrader": nbgrader.__version__,
        "source": source_hash(source_dir),
        "config": hash_path(Path(config_file)) if config_file else "",
        "timeout": float(timeout),
        "cell_timeout": int(cell_timeout),
        "limits": limits or {},
        "code": verdict_code_hash() if code is None else code,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def student_key(key_of_run: str, sub: Submission) -> str:
    """Key of one student's grade: the run's key and what the student handed in."""
    if not sub.sha256:
        raise ValueError(f"sub: {sub.student!r} has no content hash (collect sets it)")
    parts = [key_of_run, sub.original.name, sub.sha256, sub.note]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _file_hash(path: Path) -> str | None:
    return hash_path(path) if path.is_file() else None


class GradingState:
    """The remembered grades of one output folder (see the module docstring).

    Parameters
    ----------
    out : path-like
        The ``--out`` folder of ``grade``.
    """

    def __init__(self, out):
        self.out = Path(out)
        self.path = self.out / STATE_FILE
        self.students: dict[str, dict] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # no state (first run) or an unreadable one: grade everyone
        if (
            isinstance(data, dict)
            and data.get("format") == STATE_FORMAT
            and isinstance(data.get("students"), dict)
        ):
            self.students = data["students"]

    def feedback_path(self, student: str, notebook: str) -> Path:
        return self.out / "feedback" / student / f"{notebook}.html"

    def lookup(self, student: str, key: str) -> tuple[StudentRow, list[Verdict]] | None:
        """The stored grade of ``student`` if it was computed under ``key`` and its feedback
        pages are still in place, unchanged; else ``None`` (grade the student again)."""
        entry = self.students.get(student)
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        try:
            row = StudentRow(**entry["row"])
            verdicts = [
                Verdict(**{**v, "cells": {g: tuple(sc) for g, sc in v["cells"].items()}})
                for v in entry["verdicts"]
            ]
            pages = entry["feedback"]
        except (KeyError, TypeError, ValueError):
            return None
        for v in verdicts:
            if pages.get(v.notebook) != _file_hash(self.feedback_path(student, v.notebook)):
                return None
        return row, verdicts

    def may_reuse(self, entry_name: str, sha256: str) -> bool:
        """Whether some stored grade was computed from this very entry (a cheap pre-check,
        before the assignment is prepared; :meth:`lookup` decides)."""
        return any(
            e.get("entry") == entry_name and e.get("sha256") == sha256
            for e in self.students.values()
            if isinstance(e, dict)
        )

    def store(
        self, key: str, row: StudentRow, verdicts: list[Verdict], sub: Submission | None = None
    ) -> None:
        """Remember a freshly computed grade (call after its feedback pages are written)."""
        self.students[row.student] = {
            "key": key,
            "row": asdict(row),
            "entry": sub.original.name if sub else "",
            "sha256": sub.sha256 if sub else "",
            "verdicts": [
                {**asdict(v), "cells": {g: list(sc) for g, sc in v.cells.items()}} for v in verdicts
            ],
            "feedback": {
                v.notebook: _file_hash(self.feedback_path(row.student, v.notebook))
                for v in verdicts
            },
        }

    def forget(self, student: str) -> None:
        self.students.pop(student, None)

    def save(self) -> None:
        """Write the file atomically: an interrupted run leaves the previous or the new one."""
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps({"format": STATE_FORMAT, "students": self.students}, sort_keys=True),
            encoding="utf-8",
        )
        os.replace(tmp, self.path)
