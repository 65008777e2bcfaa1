"""Mutation testing of the assignments: realistic student mistakes run through the real tests.

Each assignment has a catalogue ``tests/exercises/mutants/<assignment>.py`` with

* ``MUTANTS``: :class:`Mutant` s, each one wrong answer a student might write for one part
  (the solution cell's whole source, replaced), and
* ``CORRECT``: other correct answers (a loop instead of a product, another loop structure).

:func:`grade` runs the whole notebook in-process with a replaced cell, every test cell with its
visible tests *and* its hidden tests (through :func:`autograder.hidden.run_in_namespace`, the
probe and codec of grading), and returns what grading would give: the failing test cells and
the points kept. A mutant must lose points, and (one bug costs one part) only the points of its
own part; a correct variant must keep full marks.

``python tests/exercises/mutation.py`` prints the mutation score of every assignment.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import signal
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import notebook_cells as nc

HERE = Path(__file__).resolve().parent
#: Every assignment has a catalogue: a new one without it fails at collection (catalogue()).
ASSIGNMENTS = nc.ASSIGNMENTS
#: Seconds the whole notebook may run for one mutant (a loop that never ends must not hang).
NOTEBOOK_SECONDS = 120


@dataclass(frozen=True)
class Mutant:
    """A wrong (or, in ``CORRECT``, a right) answer: ``source`` replaces the cell ``cell``."""

    name: str
    cell: str
    source: str
    #: Later test cells this mistake also fails, and why (the student's own later code calls
    #: the broken function and cannot run): declared, so the report counts them honestly.
    also: tuple = ()
    why: str = ""

    @property
    def part(self) -> str:
        """The test cell of the part this answer belongs to."""
        return f"test_{self.cell}"


@dataclass
class Grade:
    failing: dict  # test cell -> the message the student reads
    points: int
    total: int


def edit(source: str, *pairs: str) -> str:
    """``source`` with each ``old`` of the ``old, new, old, new, ...`` pairs replaced by its
    ``new`` (a catalogue's mutant as a small edit of the right answer); every ``old`` must
    occur, so an edit that no longer applies fails loudly instead of making a right answer."""
    for old, new in zip(pairs[::2], pairs[1::2], strict=True):
        assert old in source, old
        source = source.replace(old, new)
    return source


def catalogue(assignment: str):
    """``(MUTANTS, CORRECT)`` of an assignment's catalogue."""
    path = HERE / "mutants" / f"{assignment}.py"
    if not path.is_file():
        raise FileNotFoundError(
            f"exercises/{assignment} has no catalogue of wrong answers: write {path} "
            "(MUTANTS and CORRECT, see the other catalogues)"
        )
    spec = importlib.util.spec_from_file_location(f"mutants_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MUTANTS, module.CORRECT


class _OutOfTime(BaseException):
    pass


def grade(nb, answer: Mutant | None) -> Grade:
    """What grading gives the notebook with ``answer`` in place of its solution cell."""
    cells = nc.graded_cells(nb)
    points = {nc.meta(c)["grade_id"]: nc.meta(c)["points"] for c in cells}
    replace = {answer.cell: answer.source} if answer else None

    def alarm(signum, frame):
        raise _OutOfTime()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(NOTEBOOK_SECONDS)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # overflows of diverging runs; a kernel's stderr
            failures = nc.run(nb, replace, keep_going=True)
    except _OutOfTime:
        failures = [(gid, TimeoutError("the notebook ran out of time")) for gid in points]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    failing = {gid: f"{type(exc).__name__}: {exc}" for gid, exc in failures}
    return Grade(
        failing, sum(p for gid, p in points.items() if gid not in failing), sum(points.values())
    )


def score(assignment: str) -> dict:
    """The mutation score of one assignment: mutants killed, and killed in their part only."""
    nb = nc.load(assignment)
    mutants, correct = catalogue(assignment)
    killed = isolated = 0
    survivors, leaks = [], []
    for m in mutants:
        g = grade(nb, m)
        killed += g.points < g.total
        isolated += set(g.failing) == {m.part}
        if g.points == g.total:
            survivors.append(m.name)
        elif set(g.failing) != {m.part, *m.also}:
            leaks.append(f"{m.name}: {sorted(g.failing)}")
    full = sum(grade(nb, v).points == grade(nb, None).total for v in correct)
    return {
        "assignment": assignment,
        "mutants": len(mutants),
        "killed": killed,
        "killed_in_own_part_only": isolated,
        "declared_also": [
            f"{m.name}: also {', '.join(m.also)} ({m.why})" for m in mutants if m.also
        ],
        "correct_variants": len(correct),
        "correct_full_marks": full,
        "survivors": survivors,
        "charged_elsewhere": leaks,
    }


if __name__ == "__main__":
    for name in sys.argv[1:] or ASSIGNMENTS:
        r = score(name)
        print(
            f"{name:12s} {r['killed']:3d}/{r['mutants']} mutants lose points "
            f"({r['killed_in_own_part_only']} only in their own part); "
            f"{r['correct_full_marks']}/{r['correct_variants']} correct variants keep full "
            "marks"
        )
        for s in r["survivors"]:
            print("   survives:", s)
        for s in r["charged_elsewhere"]:
            print("   also charged to (not declared):", s)
        for s in r["declared_also"]:
            print("   declared:", s)
