"""The course's instructor tool: release, grade and validate nbgrader assignments.

A submission flows one way through four stages, each in its own module and each returning
plain data (one small dataclass per student and notebook, carrying a status)::

    collect  ->  run  ->  verify  ->  report
    (safe copy)  (nbgrader in a   (verdict in the   (grades.csv, feedback,
                  child process;   grader process)   gradebook, summary)
                  the kernel in a
                  sandbox, hidden
                  tests judged
                  outside it)

A failure in one student's stage becomes that student's status, never a crash of the run.
The command line lives in :mod:`autograder.__main__` (``python -m autograder --help``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from . import patches as _patches

# Before anything imports nbformat (and jsonschema) or nbgrader: see autograder.patches.
_patches.refuse_rfc3987_syntax()
_patches.defer_setuptools_archive_util()

#: Part of every cached grade's key: bump it when a change can alter a grade, so that a
#: re-run re-grades everyone (``grade`` skips unchanged submissions otherwise).
__version__ = "0.4.0"

REPO_ROOT = Path(__file__).resolve().parent.parent
EXERCISES_DIR = REPO_ROOT / "exercises"
RELEASE_DIR = REPO_ROOT / "release"

#: Every status a student can end with, from best to worst. ``tampered`` is graded (on the
#: instructor's restored tests) but flagged; a multi-notebook assignment reports its worst.
STATUSES = ("graded", "tampered", "timeout", "crashed", "missing", "invalid")


def worst_status(statuses: Iterable[str]) -> str:
    """Return the worst of ``statuses`` in the order of :data:`STATUSES`.

    Raises
    ------
    ValueError
        If ``statuses`` is empty or holds a name not in :data:`STATUSES`.
    """
    statuses = list(statuses)
    if not statuses:
        raise ValueError("statuses: expected at least one status, got none")
    unknown = sorted(set(statuses) - set(STATUSES))
    if unknown:
        raise ValueError(f"statuses: unknown {unknown}; expected names from {STATUSES}")
    return max(statuses, key=STATUSES.index)


__all__ = ["__version__", "EXERCISES_DIR", "RELEASE_DIR", "REPO_ROOT", "STATUSES", "worst_status"]
