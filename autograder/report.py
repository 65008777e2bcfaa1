"""Stage 4: grades.csv, feedback pages, the instructor's gradebook and the summary.

One row per student: the worst status of their notebooks, the summed score, ``max_score`` the
autograded points of the assignment. Feedback pages are copied only after the hidden-test
check (:func:`autograder.leaks.find_leaks`); notebooks that never ran get a short page that
says why, so no student is left with a silent zero.
"""

from __future__ import annotations

import csv
import html
import re
import shutil
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import worst_status
from .nbgrader_config import COURSE_ID
from .verify import Verdict

CSV_COLUMNS = ("student", "assignment", "score", "max_score", "status", "detail")


@dataclass
class StudentRow:
    """One line of ``grades.csv``."""

    student: str
    assignment: str
    score: float
    max_score: float
    status: str
    detail: str = ""


def combine(student: str, assignment: str, verdicts: list[Verdict], note: str = "") -> StudentRow:
    """Fold the verdicts of a student's notebooks into one row (worst status, summed score)."""
    if not verdicts:
        raise ValueError("verdicts: expected one verdict per notebook, got none")
    details = [
        f"{v.notebook}: {v.detail}" if len(verdicts) > 1 else v.detail for v in verdicts if v.detail
    ]
    if note:
        details.insert(0, note)
    return StudentRow(
        student,
        assignment,
        round(sum(v.score for v in verdicts), 6),
        round(sum(v.max_score for v in verdicts), 6),
        worst_status(v.status for v in verdicts),
        "; ".join(details),
    )


def student_order(student: str) -> tuple:
    """Sort key of a student's name in which runs of digits compare as numbers, so that
    ``student-2`` comes before ``student-10`` (as an instructor reading the list expects),
    with the name itself last so that ``s07`` and ``s7`` keep a fixed order.

    ``re.split`` with a group alternates text (even places) and digits (odd places), so two
    keys compare text with text and numbers with numbers. A number is compared as (count of
    its digits, its digits) without leading zeros, never converted: a name is any folder name.
    """
    parts = re.split(r"([0-9]+)", student)
    key = [(len(p.lstrip("0")), p.lstrip("0")) if i % 2 else (0, p) for i, p in enumerate(parts)]
    return tuple(key), student


def write_grades_csv(rows: list[StudentRow], path) -> Path:
    """Write ``rows`` (in :func:`student_order`) to ``path`` with :data:`CSV_COLUMNS`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for r in sorted(rows, key=lambda r: student_order(r.student)):
            w.writerow(
                [
                    r.student,
                    r.assignment,
                    f"{r.score:g}",
                    f"{r.max_score:g}",
                    r.status,
                    " ".join(r.detail.split()),
                ]
            )
    return path


def read_grades_csv(path) -> list[StudentRow]:
    """Read a ``grades.csv`` written by :func:`write_grades_csv`."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise ValueError(f"path: {path} does not have the columns {CSV_COLUMNS}")
        return [
            StudentRow(
                r["student"],
                r["assignment"],
                float(r["score"]),
                float(r["max_score"]),
                r["status"],
                r["detail"],
            )
            for r in reader
        ]


def status_page(student: str, assignment: str, verdict: Verdict) -> str:
    """A minimal feedback page for a notebook that could not be run or whose page leaked."""
    e = html.escape
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(assignment)}: "
        f"{e(verdict.notebook)}</title></head><body><h1>{e(assignment)} / "
        f"{e(verdict.notebook)}</h1><p>Student: {e(student)}</p><p>Status: "
        f"<b>{e(verdict.status)}</b></p><p>Score: {verdict.score:g} / "
        f"{verdict.max_score:g}</p><p>{e(verdict.detail)}</p></body></html>\n"
    )


def manual_cells(nb) -> dict[str, float]:
    """``grade_id -> points`` of the answers graded by hand (nbgrader grade *and* solution)."""
    cells = {}
    for c in nb.cells:
        meta = (c.get("metadata") or {}).get("nbgrader") or {}
        if meta.get("grade") and meta.get("solution"):
            cells[meta["grade_id"]] = float(meta.get("points", 0))
    return cells


def pending_note(manual: dict[str, float]) -> str:
    """The line grades.csv and the feedback give the points graded by hand: pending."""
    if not manual:
        return ""
    cells = ", ".join(f"{gid} ({pts:g} points)" for gid, pts in manual.items())
    return f"graded by hand, pending (not in score): {cells}"


def mark_pending(page: str, verdict: Verdict, manual: dict[str, float]) -> str:
    """nbgrader's feedback page with the answers graded by hand shown as pending.

    nbgrader scores an ungraded written answer 0 and adds its points to the total
    ("12.0 / 15.0"), while grades.csv counts the autograded points only (12 / 12). The page
    then says the same as the CSV: the autograded score out of the autograded points, and
    "pending" for each answer the instructor has still to grade.
    """
    if not manual:
        return page
    note = html.escape(pending_note(manual))
    page = re.sub(
        r"(<h4>[^<]*?)\(Score: [0-9.]+ / [0-9.]+\)</h4>",
        lambda m: f"{m.group(1)}(Score: {verdict.score:g} / {verdict.max_score:g}; {note})</h4>",
        page,
        count=1,
    )
    for gid, pts in manual.items():
        g = re.escape(gid)
        # The table of contents, then the cell's own heading.
        page = re.sub(
            rf'(<a href="#{g}">[^<]*</a>\s*)\(Score: [0-9.]+ / [0-9.]+\)',
            rf"\1(Score: pending / {pts:g})",
            page,
        )
        page = re.sub(
            rf'(<a name="{g}"></a><div class="panel-heading">.*?Score: )[0-9.]+'
            rf"( / )[0-9.]+",
            rf"\1pending\g<2>{pts:g}",
            page,
            count=1,
            flags=re.S,
        )
    return page


def write_feedback(
    out_dir,
    student: str,
    assignment: str,
    verdict: Verdict,
    page: Path | None,
    manual: dict[str, float] | None = None,
) -> Path:
    """Put the feedback of one notebook at ``out_dir/feedback/<student>/<notebook>.html``.

    ``page`` is nbgrader's (already checked) feedback, or ``None`` for a status page.
    ``manual`` (:func:`manual_cells`) are the answers graded by hand, shown as pending.
    """
    target = Path(out_dir) / "feedback" / student / f"{verdict.notebook}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    if page is not None and manual:
        text = page.read_text(encoding="utf-8", errors="replace")
        target.write_text(mark_pending(text, verdict, manual), encoding="utf-8")
    elif page is not None:
        shutil.copyfile(page, target)
    else:
        target.write_text(status_page(student, assignment, verdict), encoding="utf-8")
    return target


def record_in_gradebook(
    db_url: str, assignment: str, student: str, verdicts: list[Verdict], course_id: str = COURSE_ID
) -> None:
    """Record a student's autograded cell scores in the instructor's nbgrader gradebook.

    The assignment must already be in the gradebook (``generate_assignment`` with this
    ``db_url``). Notebooks that did not run get 0 for each cell, as nbgrader does for a missing
    notebook; the status column of grades.csv says why.
    """
    from nbgrader.api import Gradebook

    with warnings.catch_warnings(), Gradebook(db_url, course_id) as gb:
        # nbgrader's own add_submission trips SQLAlchemy's autoflush warnings; harmless.
        warnings.simplefilter("ignore")
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student)
        for v in verdicts:
            for gid, (score, _) in v.cells.items():
                grade = gb.find_grade(gid, v.notebook, assignment, student)
                grade.auto_score = float(score)
                grade.needs_manual_grade = False
            if not v.cells:
                nb = gb.find_submission_notebook(v.notebook, assignment, student)
                for grade in nb.grades:
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = False
        gb.db.commit()


def summary(rows: list[StudentRow]) -> str:
    """A few lines for the terminal: counts per status, mean score, a text histogram."""
    if not rows:
        return "no submissions"
    counts = Counter(r.status for r in rows)
    max_score = max(r.max_score for r in rows) or 1.0
    mean = sum(r.score for r in rows) / len(rows)
    lines = [
        f"{len(rows)} students: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
        f"mean score {mean:.2f} / {max_score:g}",
    ]
    bins = Counter(min(4, int(5 * r.score / max_score)) for r in rows)
    for b in range(5):
        lo, hi = 20 * b, 20 * (b + 1)
        lines.append(f"  {lo:3d}-{hi:3d}% | {'#' * bins.get(b, 0)} {bins.get(b, 0)}")
    return "\n".join(lines)


def export_lms(grades_dirs, out_csv) -> Path:
    """Merge the ``grades.csv`` of several assignments into one CSV for an LMS gradebook import.

    Columns: ``student``, ``total``, then one column per assignment (in the order given).
    ``total`` is the sum over assignments of the score; a student absent from an assignment's
    ``grades.csv`` (never submitted and not in that run's ``SUBMISSIONS``) gets an empty cell
    there, which LMS imports read as "no grade", and counts 0 in ``total``.

    Parameters
    ----------
    grades_dirs : sequence of path-like
        Output folders of ``grade`` (each holding a ``grades.csv`` of ONE assignment), or the
        ``grades.csv`` files themselves.
    out_csv : path-like
        The file to write.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        No folder given, a folder without ``grades.csv``, a ``grades.csv`` mixing assignments,
        or two folders of the same assignment.
    """
    grades_dirs = [Path(d) for d in grades_dirs]
    if not grades_dirs:
        raise ValueError("grades_dirs: expected at least one output folder of `grade`")
    columns: dict[str, dict[str, float]] = {}
    for d in grades_dirs:
        path = d / "grades.csv" if d.is_dir() else d
        if not path.is_file():
            raise ValueError(f"grades_dirs: no grades.csv in {d}")
        rows = read_grades_csv(path)
        names = {r.assignment for r in rows}
        if len(names) > 1:
            raise ValueError(f"grades_dirs: {path} mixes assignments {sorted(names)}")
        if not names:
            continue  # an empty class: nothing to add
        (name,) = names
        if name in columns:
            raise ValueError(f"grades_dirs: assignment {name!r} given twice (again in {d})")
        columns[name] = {r.student: r.score for r in rows}
    students = sorted({s for col in columns.values() for s in col}, key=student_order)
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "total", *map(spreadsheet_safe, columns)])
        for s in students:
            scores = [col.get(s) for col in columns.values()]
            total = round(sum(x for x in scores if x is not None), 6)
            w.writerow(
                [
                    spreadsheet_safe(s),
                    f"{total:g}",
                    *("" if x is None else f"{x:g}" for x in scores),
                ]
            )
    return out_csv


#: First characters that make a spreadsheet read a cell as a formula (or, tab and carriage
#: return, hide one): CSV injection.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text``, with a ``'`` in front when a spreadsheet would evaluate it as a formula.

    For the LMS export only (student ids and assignment names; the numbers are written by
    this tool). ``grades.csv`` keeps every name byte-exact.
    """
    return f"'{text}" if str(text).startswith(FORMULA_START) else str(text)


def copy_scores_to_gradebook(grades_dir, db, course_id: str | None = None) -> int:
    """Write the autograded cell scores of a ``grade`` run into another nbgrader gradebook.

    This is how grades reach an existing course's ``gradebook.db`` (the one its formgrader and
    ``nbgrader export`` read). The assignment must already be in ``db`` (the course ran
    ``nbgrader generate_assignment``); students and submissions are created as needed. Only
    autograded test cells are written (``auto_score``); manually graded answers and any
    ``manual_score`` already given in the formgrader are left alone.

    Parameters
    ----------
    grades_dir : path-like
        A ``--out`` folder of ``grade`` (its ``grades.csv`` names the assignment, its
        ``gradebook.db`` holds the cell scores).
    db : path-like
        The course's ``gradebook.db`` file.
    course_id : str, optional
        The course id (default: the one the assignment has in ``grades_dir/gradebook.db``).

    Returns
    -------
    int
        Number of cell scores written.
    """
    import sqlite3

    from nbgrader.api import Gradebook, MissingEntry

    grades_dir, db = Path(grades_dir), Path(db)
    src = grades_dir / "gradebook.db"
    if not (grades_dir / "grades.csv").is_file() or not src.is_file():
        raise ValueError(
            f"grades_dir: expected an output folder of `grade` (grades.csv and "
            f"gradebook.db), got {grades_dir}"
        )
    if not db.is_file():
        raise ValueError(f"db: expected the course's existing gradebook.db, got {db}")
    names = {r.assignment for r in read_grades_csv(grades_dir / "grades.csv")}
    if len(names) != 1:
        raise ValueError(
            f"grades_dir: {grades_dir / 'grades.csv'} holds assignments "
            f"{sorted(names)}; expected exactly one"
        )
    (assignment,) = names
    if course_id is None:
        # Read-only, without nbgrader: opening a Gradebook would add a course row to it.
        with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as con:
            found = con.execute(
                "SELECT course_id FROM assignment WHERE name = ?", (assignment,)
            ).fetchone()
        course_id = found[0] if found else COURSE_ID
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{src}", course_id) as gb:
        warnings.simplefilter("ignore")
        # Only the test cells carry an auto_score in our gradebook (record_in_gradebook).
        scores = {
            s.student.id: {
                (nb.name, g.name): g.auto_score
                for nb in s.notebooks
                for g in nb.grades
                if g.auto_score is not None
            }
            for s in gb.find_assignment(assignment).submissions
        }
    written = 0
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{db}", course_id) as gb:
        warnings.simplefilter("ignore")
        try:
            gb.find_assignment(assignment)
        except MissingEntry as exc:
            raise ValueError(
                f"db: {db} has no assignment {assignment!r}; run `nbgrader "
                f"generate_assignment {assignment}` in the course first"
            ) from exc
        for student, cells in sorted(scores.items()):
            gb.update_or_create_student(student)
            gb.update_or_create_submission(assignment, student)
            for (notebook, gid), score in cells.items():
                grade = gb.find_grade(gid, notebook, assignment, student)
                grade.auto_score = float(score)
                grade.needs_manual_grade = False
                written += 1
        gb.db.commit()
    return written
