"""The cohort report: what the class failed, with which message, and where the time went.

``grade`` records, for every student it grades, one line of ``OUT/cohort.jsonl``: the
points of each test cell, the messages of the failed ones (the grader's and the visible
tests' own messages, as the student reads them in the feedback, checked for hidden-test
lines), how long each cell ran and how long the student's whole grading took. A student
whose grade was kept on a re-run keeps their line. ``python -m autograder report OUT...``
(and ``grade`` at its end) turns these lines and ``grades.csv`` into

* ``report.html``: status counts, a score histogram, per test cell its points, pass rate and
  most common failure messages, per student the slowest cells and the time taken. Figures
  are PNG images drawn by matplotlib and embedded in the page (``data:`` URIs): nothing is
  loaded from anywhere when it is opened, and the page runs no script;
* ``report.csv``: the per-cell table (points, pass rate, the three most common failures).

Pass rates count the students whose notebook ran (``graded``, ``tampered``, ``timeout``): a
missing or invalid notebook says nothing about a test.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import STATUSES
from .report import StudentRow, read_grades_csv, student_order

#: One JSON line per graded student, in ``--out``; later lines replace earlier ones.
COHORT_FILE = "cohort.jsonl"
REPORT_HTML = "report.html"
REPORT_CSV = "report.csv"
#: Statuses whose notebook ran, so that its test cells say something about the student.
RAN = ("graded", "tampered", "timeout")
#: Messages kept per failed cell and student, and their length (the rest is cut).
MESSAGES_PER_CELL = 3
MESSAGE_CHARS = 200
#: Failure messages shown per test cell in the report.
TOP_MESSAGES = 3
#: Slowest cells shown per student.
SLOWEST = 3
WITHHELD = "(message withheld: it quoted hidden-test code)"


# --------------------------------------------------------------------------- recording


def _seconds(cell) -> float | None:
    """Run time of a cell from nbclient's timing metadata, or ``None``."""
    ex = cell.get("metadata", {}).get("execution", {})
    try:
        start = datetime.fromisoformat(ex["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(ex["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return max(0.0, (end - start).total_seconds())


def failure_message(ename: str, evalue: str) -> str:
    """One line for an error of a test cell: ``ename: first line of its message``.

    The grader's hidden-test message starts with a header line ("hidden test (run by the
    grader ...)") and ends with "(and N more ...)": the line in between is the case's
    message, prefixed ``hidden:``. Numbers are kept (the hidden inputs are the same for every
    student, so the same mistake gives the same message).
    """
    lines = [ln.strip() for ln in str(evalue).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not re.match(r"^\(and \d+ more", ln)]
    prefix = ""
    if lines and lines[0].lower().startswith("hidden test") and lines[0].endswith(":"):
        prefix, lines = "hidden: ", lines[1:]
    text = lines[0] if lines else ""
    return f"{prefix}{ename}: {text}"[:MESSAGE_CHARS] if text else f"{prefix}{ename}"


def student_record(
    student: str,
    verdicts,
    autograded: dict | None = None,
    seconds: float | None = None,
    secrets=(),
    peak_mb: float | None = None,
) -> dict:
    """The cohort line of one student.

    Parameters
    ----------
    student : str
    verdicts : list of Verdict
        The student's verdicts (their ``cells``: ``grade_id -> (score, max_score)``).
    autograded : dict, optional
        ``notebook -> autograded notebook`` (nbformat) for the notebooks that ran.
    seconds : float, optional
        Wall time of the student's grading process.
    secrets : list of str
        Hidden-test lines: a message quoting one is replaced by :data:`WITHHELD`.
    peak_mb : float, optional
        Peak resident memory of the student's grading process, MB (as it reported it).
    """
    from .leaks import find_leaks
    from .notebook import cell_errors, is_test_cell

    notebooks = {}
    for v in verdicts:
        # A list, not a mapping: the lines are written with sorted keys, and the report lists
        # the cells in the notebook's order.
        entry = {
            "status": v.status,
            "cells": [[g, *sc] for g, sc in v.cells.items()],
            "times": [],
            "failures": {},
        }
        nb = (autograded or {}).get(v.notebook)
        for i, cell in enumerate(nb.cells if nb is not None else (), start=1):
            if cell.get("cell_type") != "code":
                continue
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            t = _seconds(cell)
            if t is not None:
                entry["times"].append([gid or f"cell {i}", round(t, 4)])
            if gid in v.cells and is_test_cell(cell) and v.cells[gid][0] < v.cells[gid][1]:
                msgs = [failure_message(e, m) for e, m in cell_errors(cell)]
                msgs = [WITHHELD if find_leaks(m, list(secrets), markers=()) else m for m in msgs]
                entry["failures"][gid] = msgs[:MESSAGES_PER_CELL] or ["(no error shown)"]
        notebooks[v.notebook] = entry
    return {
        "student": student,
        "seconds": None if seconds is None else round(seconds, 3),
        "peak_mb": None if peak_mb is None else round(peak_mb, 1),
        "notebooks": notebooks,
    }


class CohortLog:
    """``OUT/cohort.jsonl``: append one line per graded student; read the latest per student.

    Appending keeps an interrupted run's lines (a cut last line is skipped on reading), and
    costs the same for the 1000th student as for the first. :meth:`compact` rewrites the
    file with one line per current student at the end of a run.
    """

    def __init__(self, out):
        self.path = Path(out) / COHORT_FILE

    def read(self) -> dict[str, dict]:
        """``student -> record`` (the last line of each student wins)."""
        records = {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return records
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # the cut line of an interrupted write
            if isinstance(rec, dict) and isinstance(rec.get("student"), str):
                records[rec["student"]] = rec
        return records

    def append(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")

    def compact(self, students) -> None:
        """Keep the latest line of each of ``students`` only (atomically)."""
        records = self.read()
        keep = [records[s] for s in sorted(set(students)) if s in records]
        tmp = self.path.with_name(f".{COHORT_FILE}.tmp")
        tmp.write_text(
            "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep), encoding="utf-8"
        )
        tmp.replace(self.path)


# --------------------------------------------------------------------------- the report


@dataclass
class CellStats:
    """One test cell across the class."""

    assignment: str
    notebook: str
    cell: str
    points: float
    ran: int = 0
    passed: int = 0
    total_score: float = 0.0
    failures: Counter = field(default_factory=Counter)

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.ran if self.ran else None

    @property
    def mean_score(self) -> float | None:
        return self.total_score / self.ran if self.ran else None


@dataclass
class Cohort:
    """Everything the report shows, read from one or more ``grade`` output folders."""

    rows: list[StudentRow]
    records: dict[tuple[str, str], dict]
    cells: list[CellStats]
    sources: list[Path]


def load(outs) -> Cohort:
    """Read ``grades.csv`` and ``cohort.jsonl`` of each output folder in ``outs``.

    Raises
    ------
    ValueError
        No folder, a folder without ``grades.csv``, or one student twice in one assignment.
    """
    outs = [Path(o) for o in outs]
    if not outs:
        raise ValueError("outs: expected at least one output folder of `grade`")
    rows, records, seen = [], {}, {}
    for out in outs:
        if not (out / "grades.csv").is_file():
            raise ValueError(f"outs: no grades.csv in {out} (expected a --out folder of grade)")
        log = CohortLog(out).read()
        for r in read_grades_csv(out / "grades.csv"):
            key = (r.assignment, r.student)
            if key in seen:
                raise ValueError(
                    f"outs: student {r.student!r} of {r.assignment} is in both "
                    f"{seen[key]} and {out}"
                )
            seen[key] = out
            rows.append(r)
            if r.student in log:
                records[key] = log[r.student]
    stats: dict[tuple[str, str, str], CellStats] = {}
    for (assignment, _), rec in records.items():
        for nb_name, nb in rec.get("notebooks", {}).items():
            for gid, score, points in nb.get("cells", []):
                s = stats.setdefault(
                    (assignment, nb_name, gid), CellStats(assignment, nb_name, gid, float(points))
                )
                if nb.get("status") not in RAN:
                    continue
                s.ran += 1
                s.total_score += float(score)
                if float(score) >= float(points):
                    s.passed += 1
                s.failures.update(nb.get("failures", {}).get(gid, []))
    return Cohort(
        sorted(rows, key=lambda r: (r.assignment, student_order(r.student))),
        records,
        list(stats.values()),
        outs,
    )


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(cohort: Cohort) -> dict[str, str]:
    """``name -> data URI`` of the report's figures (matplotlib, no display needed)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figs = {}
    assignments = sorted({r.assignment for r in cohort.rows})
    fig = Figure(figsize=(6.4, 3.0))
    ax = fig.add_subplot()
    bins = [i / 10 for i in range(11)]
    fractions = [
        [r.score / r.max_score if r.max_score else 0.0 for r in cohort.rows if r.assignment == a]
        for a in assignments
    ]
    ax.hist(fractions, bins=bins, label=assignments, stacked=len(assignments) > 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("score / max score")
    ax.set_ylabel("students")
    ax.set_title("Score histogram")
    if len(assignments) > 1:
        ax.legend()
    figs["scores"] = _png(fig)

    times = [
        rec["seconds"]
        for rec in cohort.records.values()
        if isinstance(rec.get("seconds"), (int, float))
    ]
    if times:
        fig = Figure(figsize=(6.4, 3.0))
        ax = fig.add_subplot()
        ax.hist(times, bins=min(20, max(5, len(times) // 3)))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("seconds to grade one student (kernel start-up included)")
        ax.set_ylabel("students")
        ax.set_title("Time per student")
        figs["times"] = _png(fig)

    cells = [c for c in cohort.cells if c.ran]
    if cells:
        fig = Figure(figsize=(6.4, 0.6 + 0.35 * len(cells)))
        ax = fig.add_subplot()
        labels = [c.cell if len(assignments) == 1 else f"{c.assignment}: {c.cell}" for c in cells]
        ax.barh(range(len(cells)), [100 * c.pass_rate for c in cells])
        ax.set_yticks(range(len(cells)), labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of students whose notebook ran who got the cell's points")
        ax.set_title("Pass rate per test cell")
        figs["cells"] = _png(fig)
    return figs


def _table(header, rows) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(x, spec=".2f", none="–") -> str:
    return none if x is None else format(x, spec)


def slowest_cells(record: dict, n: int = SLOWEST) -> list[tuple[str, float]]:
    """The ``n`` longest-running cells of a student (over their notebooks), longest first."""
    times = [
        (t[0] if len(record.get("notebooks", {})) == 1 else f"{nb}: {t[0]}", float(t[1]))
        for nb, entry in record.get("notebooks", {}).items()
        for t in entry.get("times", [])
    ]
    return sorted(times, key=lambda t: -t[1])[:n]


#: The report page's style sheet (inline: the page is one self-contained file).
_STYLE = """\
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td ul { margin: 0; padding-left: 1.1em; }
code { font-size: 0.95em; }
.n, .note { color: #666; }
.st { padding: 0 0.3em; border-radius: 3px; }
.graded { background: #dfd; } .tampered { background: #ffd; }
.timeout, .crashed { background: #fdd; } .missing, .invalid { background: #eee; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
"""


def render_html(cohort: Cohort) -> str:
    """The report page (self-contained: inline style, embedded images, no script)."""
    e = html.escape
    figs = _figures(cohort)
    assignments = sorted({r.assignment for r in cohort.rows})
    counts = Counter(r.status for r in cohort.rows)
    status_rows = [[e(s), str(counts[s])] for s in STATUSES if counts.get(s)]
    status_rows.append(["<b>total</b>", f"<b>{len(cohort.rows)}</b>"])
    by_a = defaultdict(list)
    for r in cohort.rows:
        by_a[r.assignment].append(r)
    score_rows = [
        [
            e(a),
            str(len(rs)),
            f"{sum(r.score for r in rs) / len(rs):.2f}",
            f"{max(r.max_score for r in rs):g}",
        ]
        for a, rs in sorted(by_a.items())
    ]

    return _page(cohort, figs, assignments, status_rows, score_rows)


def _cell_rows(cohort: Cohort, e=html.escape) -> list[list[str]]:
    """One row per test cell: points, pass rate, mean score, the commonest failures."""
    cell_rows = []
    for c in cohort.cells:
        top = c.failures.most_common(TOP_MESSAGES)
        msgs = "".join(f"<li><code>{e(m)}</code> <span class='n'>({k})</span></li>" for m, k in top)
        cell_rows.append(
            [
                e(c.assignment),
                e(c.notebook),
                f"<code>{e(c.cell)}</code>",
                f"{c.points:g}",
                f"{c.passed} / {c.ran}",
                _fmt(None if c.pass_rate is None else 100 * c.pass_rate, ".0f") + "%"
                if c.ran
                else "–",
                _fmt(c.mean_score),
                f"<ul>{msgs}</ul>" if msgs else "",
            ]
        )
    return cell_rows


def _student_rows(cohort: Cohort, e=html.escape) -> list[list[str]]:
    """One row per student: score, status, seconds, slowest cells, detail."""
    student_rows = []
    for r in cohort.rows:
        rec = cohort.records.get((r.assignment, r.student), {})
        slow = ", ".join(f"<code>{e(name)}</code> {t:.2f} s" for name, t in slowest_cells(rec))
        student_rows.append(
            [
                e(r.student),
                e(r.assignment),
                f"{r.score:g} / {r.max_score:g}",
                f"<span class='st {e(r.status)}'>{e(r.status)}</span>",
                _fmt(rec.get("seconds"), ".1f"),
                slow,
                e(r.detail[:160]),
            ]
        )
    return student_rows


def _page(cohort: Cohort, figs: dict, assignments: list[str], status_rows, score_rows) -> str:
    """The HTML around the tables (:func:`render_html`)."""
    e = html.escape
    cell_rows, student_rows = _cell_rows(cohort), _student_rows(cohort)
    without = sum(1 for r in cohort.rows if (r.assignment, r.student) not in cohort.records)
    note = (
        f"<p class='note'>{without} student(s) have no cell details (graded by a version "
        "of <code>grade</code> that did not record them; <code>grade --force</code> "
        "records them).</p>"
        if without
        else ""
    )

    def img(name, alt):
        return f"<img src='{figs[name]}' alt='{e(alt)}'>" if name in figs else ""

    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cohort report: {e(", ".join(assignments))}</title>
<style>
{_STYLE}</style></head>
<body>
<h1>Cohort report: {e(", ".join(assignments))}</h1>
<p class="note">{len(cohort.rows)} students, from {e(", ".join(str(p) for p in cohort.sources))};
written {generated}.</p>
<h2 id="statuses">Statuses</h2>
{_table(["status", "students"], status_rows)}
<h2 id="scores">Scores</h2>
{_table(["assignment", "students", "mean score", "max score"], score_rows)}
{img("scores", "histogram of scores")}
<h2 id="cells">Test cells</h2>
<p class="note">Pass rate: students who got the cell's points, of those whose notebook ran
(graded, tampered or timeout). Messages: what the failing students read in their feedback,
most common first.</p>
{img("cells", "pass rate per test cell")}
{
        _table(
            [
                "assignment",
                "notebook",
                "cell",
                "points",
                "passed",
                "pass rate",
                "mean score",
                "most common failures",
            ],
            cell_rows,
        )
    }
<h2 id="students">Students</h2>
{note}
{img("times", "histogram of the time per student")}
{
        _table(
            ["student", "assignment", "score", "status", "seconds", "slowest cells", "detail"],
            student_rows,
        )
    }
</body></html>
"""


CSV_COLUMNS = (
    "assignment",
    "notebook",
    "cell",
    "points",
    "ran",
    "passed",
    "pass_rate",
    "mean_score",
    *(f"{k}_{i}" for i in range(1, TOP_MESSAGES + 1) for k in ("failure", "count")),
)


def write_csv(cohort: Cohort, path) -> Path:
    """The per-test-cell table as CSV (:data:`CSV_COLUMNS`)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for c in cohort.cells:
            top = c.failures.most_common(TOP_MESSAGES)
            top += [("", "")] * (TOP_MESSAGES - len(top))
            w.writerow(
                [
                    c.assignment,
                    c.notebook,
                    c.cell,
                    f"{c.points:g}",
                    c.ran,
                    c.passed,
                    _fmt(c.pass_rate, ".4f", ""),
                    _fmt(c.mean_score, ".4f", ""),
                    *(x for pair in top for x in pair),
                ]
            )
    return path


def write_report(outs, dest=None) -> Path:
    """Write ``report.html`` and ``report.csv`` for the ``grade`` output folders ``outs``.

    Parameters
    ----------
    outs : sequence of path-like
        ``--out`` folders of ``grade`` (several assignments, or sections of one).
    dest : path-like, optional
        Folder to write into; default the one folder of ``outs`` (required for several).

    Returns
    -------
    Path
        The HTML page.
    """
    outs = [Path(o) for o in outs]
    if dest is None:
        if len(outs) != 1:
            raise ValueError(f"dest: give --out DIR for a report over {len(outs)} folders")
        dest = outs[0]
    dest = Path(dest)
    cohort = load(outs)
    dest.mkdir(parents=True, exist_ok=True)
    page = dest / REPORT_HTML
    page.write_text(render_html(cohort), encoding="utf-8")
    write_csv(cohort, dest / REPORT_CSV)
    return page


def record_of_run(student: str, run, verdicts, secrets=()) -> dict:
    """:func:`student_record` from a :class:`~autograder.run.RunResult` (or ``None``).

    Never raises: a notebook that cannot be read gives a line without its cell details.
    """
    from .notebook import read_notebook

    autograded = {}
    for name, path in (getattr(run, "autograded", None) or {}).items():
        try:
            autograded[name] = read_notebook(path)
        except Exception:  # the verdict already said what was wrong
            continue
    seconds = getattr(run, "seconds", None) if run is not None else None
    peak_mb = getattr(run, "peak_mb", None) if run is not None else None
    try:
        return student_record(student, verdicts, autograded, seconds, secrets, peak_mb)
    except Exception:  # a report line is never worth a student's grade
        return student_record(student, verdicts, {}, seconds, secrets, peak_mb)
