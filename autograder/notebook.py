"""What a notebook is to the grader: nbgrader's markers and cell kinds, and a safe reader.

Plain functions on ``nbformat`` notebooks, used by every stage and every process (collect,
course preparation, the student's process, the verdict, the leak checks, the cohort report):
which cells are autograded tests or read-only, their points, a cell's errors. Nothing here
runs code or knows about grading.
"""

from __future__ import annotations

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
ALL_MARKERS = (HIDDEN_BEGIN, HIDDEN_END, SOLUTION_BEGIN, SOLUTION_END)


def nbgrader_meta(cell) -> dict:
    """A cell's nbgrader metadata (``{}`` for a cell nbgrader does not know)."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test_cell(cell) -> bool:
    """An autograded test cell: ``grade`` and not ``solution`` (nbgrader's "autograder tests")."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


def is_protected_cell(cell) -> bool:
    """A cell the student must not change: a test cell or a locked (read-only) cell."""
    meta = nbgrader_meta(cell)
    return is_test_cell(cell) or (bool(meta.get("locked")) and not meta.get("solution"))


def autograded_cells(nb) -> dict[str, float]:
    """``grade_id -> points`` of the autograded test cells of ``nb``, in notebook order."""
    return {
        nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
        for c in nb.cells
        if is_test_cell(c)
    }


def cell_errors(cell) -> list[tuple[str, str]]:
    """``(ename, evalue)`` of every error output of a code cell."""
    return [
        (o.get("ename", ""), o.get("evalue", ""))
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def read_notebook(path):
    """Read a notebook as nbformat v4, raising ``ValueError`` with a short reason if invalid."""
    import nbformat  # (here: importing nbformat costs a process that reads none 0.15 s)

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # JSON errors, encoding errors, schema errors, ...
        raise ValueError(
            f"not a readable notebook ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160] if str(exc) else ''})"
        ) from exc
    if not isinstance(nb.get("cells"), list):
        raise ValueError("not a notebook: no list of cells")
    return nb
