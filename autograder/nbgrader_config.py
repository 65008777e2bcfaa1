"""The course's nbgrader configuration, in one place.

Two ways to use it:

* the autograder calls :func:`course_config` to configure every temporary nbgrader course
  directory it creates (releasing, grading one student, validating);
* an instructor who runs plain ``nbgrader`` from the repository root can copy or symlink this
  file as ``nbgrader_config.py``: when nbgrader executes it, the ``get_config()`` it provides is
  filled with the same settings (course root = the repository, sources in ``exercises/``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from traitlets.config import Config

COURSE_ID = "gd-course"
#: Seconds one cell may run before nbgrader interrupts it (the cell then fails).
CELL_TIMEOUT = 60
#: What replaces a solution region in the released notebook.
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
#: Files nbgrader never copies or grades: editor and OS litter, and the hidden tests (judged
#: by the grader, never released; see autograder.hidden).
IGNORE = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "__MACOSX",
    ".DS_Store",
    "._*",
    "hidden_tests.py",
]


def nbgrader_formgrader_dir() -> Path:
    """nbgrader's ``server_extensions/formgrader`` folder: its feedback template
    (``templates/``) and the bootstrap CSS the feedback pages inline (``static/``)."""
    nbgrader = Path(importlib.util.find_spec("nbgrader").origin).parent
    return nbgrader / "server_extensions" / "formgrader"


def feedback_template_dirs() -> list[str]:
    """Template folders of the feedback pages: the course's first, then nbgrader's.

    The course's folder (``autograder/templates``) holds only ``base/mathjax.html.j2``, which
    shadows nbconvert's macro of that name: nbgrader's feedback template would otherwise load
    MathJax from a CDN in every student's page (see that file). nbgrader's own folder is the
    one its ``GenerateFeedback`` uses when none is configured.
    """
    here = Path(__file__).resolve().parent
    package = here if here.name == "autograder" else here / "autograder"
    return [str(package / "templates"), str(nbgrader_formgrader_dir() / "templates")]


def load_config_file(path) -> Config:
    """Read another course's ``nbgrader_config.py`` the way nbgrader does (it is executed).

    Raises
    ------
    ValueError
        If ``path`` is not a readable Python config file.
    """
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    path = Path(path).resolve()
    if not path.is_file():
        raise ValueError(f"config_file: expected an nbgrader_config.py file, got {path}")
    try:
        return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    except (ConfigFileNotFound, SyntaxError) as exc:
        raise ValueError(f"config_file: could not read {path}: {exc}") from exc


def course_config(
    root,
    *,
    source_directory: str = "source",
    db_url: str | None = None,
    cell_timeout: int = CELL_TIMEOUT,
    config_file=None,
) -> Config:
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
    config_file : path-like, optional
        Another course's ``nbgrader_config.py`` (``grade --course``): its settings (course id,
        stubs, preprocessors, ...) are applied over this course's, except where the files
        live (``root``, ``db_url``, ``source_directory``: the autograder grades private copies)
        and the cell time limit, which the command line decides.

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
    # Every cell has run and its outputs are in: asking the kernel to shut down and polling
    # until it has (nbclient's "graceful") only costs time (about 0.2 s per notebook), and the
    # grader kills everything of the student's afterwards anyway.
    c.Execute.shutdown_kernel = "immediate"
    c.LimitOutput.max_lines = 1000
    c.LimitOutput.max_traceback = 100
    ours = feedback_template_dirs()
    c.HTMLExporter.extra_template_basedirs = ours
    if config_file is not None:
        theirs = load_config_file(config_file)
        c.merge(theirs)
        # Where things live is ours to decide: a private copy, never the other course's files.
        c.CourseDirectory.root = str(root)
        c.CourseDirectory.db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
        c.CourseDirectory.source_directory = source_directory
        c.CourseDirectory.ignore = sorted(set(IGNORE) | set(c.CourseDirectory.ignore))
        c.Execute.timeout = int(cell_timeout)
        # Feedback pages load nothing from the network, whatever template folders theirs adds.
        theirs_dirs = [d for d in c.HTMLExporter.extra_template_basedirs if d not in ours]
        c.HTMLExporter.extra_template_basedirs = ours[:1] + theirs_dirs + ours[1:]
    return c


def course_source_dir(course_dir) -> Path:
    """Folder of the source assignments of another nbgrader course directory.

    ``course_dir/source`` unless the course's ``nbgrader_config.py`` names another
    ``CourseDirectory.source_directory``.
    """
    course_dir = Path(course_dir)
    if not course_dir.is_dir():
        raise ValueError(f"course: expected an nbgrader course directory, got {course_dir}")
    name = "source"
    cfg_file = course_dir / "nbgrader_config.py"
    if cfg_file.is_file():
        name = load_config_file(cfg_file).get("CourseDirectory", {}).get("source_directory", name)
    return course_dir / name


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
