"""The course's nbgrader configuration, in one place.

Two ways to use it:

* the autograder calls :func:`course_config` to configure every temporary nbgrader course
  directory it creates (releasing, grading one student, validating);
* an instructor who runs plain ``nbgrader`` from the repository root can copy or symlink this
  file as ``nbgrader_config.py``: when nbgrader executes it, the ``get_config()`` it provides is
  filled with the same settings (course root = the repository, sources in ``exercises/``).
"""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

COURSE_ID = "gd-course"
#: Seconds one cell may run before nbgrader interrupts it (the cell then fails).
CELL_TIMEOUT = 60
#: What replaces a solution region in the released notebook.
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
#: Files nbgrader never copies or grades (editor and OS litter).
IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "__MACOSX", ".DS_Store",
          "._*"]


def course_config(root, *, source_directory: str = "source", db_url: str | None = None,
                  cell_timeout: int = CELL_TIMEOUT) -> Config:
    """Build the nbgrader configuration of a course directory rooted at ``root``.

    Parameters
    ----------
    root : path-like
        The nbgrader course directory (holds ``source/``, ``release/``, ``submitted/``, ...).
    source_directory : str
        Name of the folder of source assignments below ``root``.
    db_url : str, optional
        SQLAlchemy URL of the gradebook; default ``sqlite:///<root>/gradebook.db``.
    cell_timeout : int
        Seconds one cell may run under ``Execute`` (autograde and validate).

    Returns
    -------
    traitlets.config.Config
    """
    if int(cell_timeout) <= 0:
        raise ValueError(f"cell_timeout: expected a positive number of seconds, got {cell_timeout}")
    root = Path(root).resolve()
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = source_directory
    c.CourseDirectory.db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    c.CourseDirectory.ignore = list(IGNORE)
    c.ClearSolutions.code_stub = {"python": CODE_STUB}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    c.GenerateAssignment.create_assignment = True
    c.Execute.timeout = int(cell_timeout)
    # The kernel's history would otherwise go to the grader's home directory.
    c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:"]
    c.LimitOutput.max_lines = 1000
    c.LimitOutput.max_traceback = 100
    return c


def _apply_to_nbgrader(cfg) -> None:
    """Fill the ``get_config()`` object nbgrader passes when it executes this file."""
    here = Path(__file__).resolve().parent
    # Works both from autograder/ and when symlinked or copied to the repository root.
    repo = here.parent if here.name == "autograder" else here
    cfg.merge(course_config(repo, source_directory="exercises"))


# nbgrader executes its config files with ``get_config`` in the namespace; plain imports don't.
_get_config = globals().get("get_config")
if _get_config is not None:
    _apply_to_nbgrader(_get_config())
