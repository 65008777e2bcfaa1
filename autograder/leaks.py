"""The leak checks: no solution and no hidden-test line may reach a student.

Used where something is about to be shown to a student: every released file
(:func:`autograder.course.release`), every feedback page and every failure message of the
cohort report (the grading process), and the feedback notebook itself
(:func:`strip_hidden_tests`, in the student's process).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from .notebook import ALL_MARKERS, HIDDEN_BEGIN, HIDDEN_END, SOLUTION_BEGIN, SOLUTION_END

#: Shorter lines ("else:", ")") are too common to tell a leak from a coincidence.
MIN_LEAK_LINE = 12


def _between(source: str, begin: str, end: str) -> list[str]:
    lines, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def secret_lines(source_nb, *, solutions: bool = True) -> list[str]:
    """Stripped lines of the hidden-test regions (and solution regions) of a source notebook.

    ``solutions=False`` for feedback pages: a correct student writes the solution's lines
    legitimately, but must never see a hidden test. Only lines of at least ``MIN_LEAK_LINE``
    characters are returned: short ones (``else:``) appear everywhere and would make every
    check fail.
    """
    lines = set()
    for cell in source_nb.cells:
        regions = [(HIDDEN_BEGIN, HIDDEN_END)]
        if solutions:
            regions.append((SOLUTION_BEGIN, SOLUTION_END))
        for begin, end in regions:
            for line in _between(cell.source, begin, end):
                if len(line.strip()) >= MIN_LEAK_LINE:
                    lines.add(line.strip())
    return sorted(lines)


#: Lines of a ``hidden_tests.py`` shorter than this are not looked for (``for k in range(8):``
#: is too common: a student may write it too).
MIN_HIDDEN_FILE_LINE = 25


def hidden_file_lines(path, public=()) -> list[str]:
    """Code lines of an assignment's ``hidden_tests.py`` that must never reach a student.

    Stripped lines of at least :data:`MIN_HIDDEN_FILE_LINE` characters that hold code:
    imports, comments and lines made only of string literals (the messages, which a student
    is meant to read, and docstrings) are left out, and so is a line that also occurs in a
    cell of one of the ``public`` notebooks (the release: a check the visible tests make
    too is no secret). ``[]`` when ``path`` is ``None``.
    """
    import io
    import tokenize

    if path is None:
        return []
    text = Path(path).read_text(encoding="utf-8")
    code_lines: set[int] = set()
    skip = {
        tokenize.STRING,
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENDMARKER,
    }
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in skip:
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    lines = text.splitlines()
    found = {lines[n - 1].strip() for n in code_lines if 0 < n <= len(lines)}
    given = {ln.strip() for nb in public for cell in nb.cells for ln in cell.source.splitlines()}
    return sorted(
        ln
        for ln in found
        if len(ln) >= MIN_HIDDEN_FILE_LINE
        and not ln.startswith(("import ", "from ", "#"))
        and ln not in given
    )


def find_leaks(text: str, secrets: list[str], markers=ALL_MARKERS) -> list[str]:
    """Return the ``markers`` and ``secrets`` lines that occur in ``text`` (raw or HTML-escaped).

    Whitespace runs are collapsed first, so re-indented or re-wrapped copies are caught too.
    For feedback pages pass ``markers=(HIDDEN_BEGIN, HIDDEN_END)``: the instructor's own
    solution, graded, legitimately carries the solution markers.
    """

    def squash(s: str) -> str:
        return re.sub(r"\s+", " ", s)

    haystacks = (squash(text), squash(html.unescape(text)))
    needles = [*markers, *secrets]
    return [n for n in needles if any(squash(n) in h for h in haystacks)]


def strip_hidden_tests(source: str) -> str:
    """Remove the hidden-test regions (markers included) from a cell's source."""
    out, inside = [], False
    for line in source.splitlines():
        if HIDDEN_BEGIN in line:
            inside = True
        elif HIDDEN_END in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)
