"""Run an nbgrader source notebook's cells in-process, and check its structure.

Shared by the assignment tests in this folder. Cells are executed in notebook order in one
namespace, the way a kernel runs them (no kernel: fast); the real-kernel path is covered by
tests/autograder (``validate``). After a test cell has run, its hidden tests
(``exercises/<assignment>/hidden_tests.py``) run against the namespace with
:func:`autograder.hidden.run_in_namespace`: the same probe as in a kernel, judged here.
"""

from __future__ import annotations

import functools
import io
import json
import re
import subprocess
import sys
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import nbformat

from autograder import hidden

REPO = Path(__file__).resolve().parents[2]
EXERCISES = REPO / "exercises"
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
SOLUTION = re.compile(r"( *)### BEGIN SOLUTION\n.*?### END SOLUTION", re.S)
# A row of the introduction's points table: | part | what | points |
TABLE_ROW = re.compile(r"^\| (\d+) \| (.*?) \| (\d+)(?: \(manually graded\))? \|$", re.M)


#: Every assignment: each folder of exercises/ with its source notebook ``<name>/<name>.ipynb``
#: (found, not listed, so that a new assignment gets every shared check).
ASSIGNMENTS = tuple(
    sorted(p.name for p in EXERCISES.iterdir() if (p / f"{p.name}.ipynb").is_file())
)


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


# id(notebook) -> (notebook, its assignment's hidden tests); the notebook is kept alive so
# that its id is never reused.
_HIDDEN_TESTS: dict[int, tuple] = {}


def load(assignment: str):
    """The source notebook of ``assignment``; its hidden tests are loaded once, with it."""
    path = EXERCISES / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    tests = hidden.load(EXERCISES / assignment / hidden.HIDDEN_TESTS_FILE)
    _HIDDEN_TESTS[id(nb)] = (nb, tests)
    return nb


@functools.cache
def loaded(assignment: str):
    """:func:`load`, once per test session (loading builds every hidden case). Shared by the
    tests of every module: none may change it (they pass replacements to :func:`run`)."""
    return load(assignment)


@functools.cache
def solution_run(assignment: str) -> tuple[list, str]:
    """Every code cell of the source notebook run once per session with the instructor's
    solutions: ``(failures, printed text)`` (see :func:`run` with ``everything``)."""
    printed = io.StringIO()
    with redirect_stdout(printed):
        failures = run(loaded(assignment), everything=True)
    return failures, printed.getvalue()


def hidden_tests(nb) -> hidden.HiddenTests:
    """The hidden tests of a notebook returned by :func:`load`."""
    return _HIDDEN_TESTS[id(nb)][1]


def graded_cells(nb) -> list:
    """The autograded test cells (grade and not solution), in order."""
    return [c for c in nb.cells if meta(c).get("grade") and not meta(c).get("solution")]


def solution_namespace(nb) -> dict:
    """The instructor's functions, defined by executing the solution cells in order (with NumPy
    imported as ``np``, as every notebook's setup cell does)."""
    ns: dict = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and meta(cell).get("solution"):
            exec(compile("import numpy as np\n" + cell.source, "solution", "exec"), ns)
    return ns


def answer_namespace(nb, replace: dict[str, str] | None = None) -> dict:
    """The namespace after every nbgrader code cell but the tests ran in order, with the
    sources in ``replace`` ({grade_id: source}) instead of those cells' own."""
    replace = replace or {}
    ns: dict = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and meta(cell) and not meta(cell).get("grade"):
            exec(compile(replace.get(meta(cell)["grade_id"], cell.source), "cell", "exec"), ns)
    return ns


def release_stub(source: str) -> str:
    """What nbgrader's release leaves of a solution cell: the region becomes the stub."""
    return SOLUTION.sub(
        lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", source
    )


def run(
    nb, replace=None, upto=None, visible_only=(), released=False, everything=False, keep_going=False
):
    """Execute the code cells with nbgrader metadata (``everything``: all code cells) in order.

    ``replace`` maps a solution cell's grade_id to new code; ``upto`` stops after that test
    cell; test cells in ``visible_only`` run without their hidden tests; ``released`` runs
    the release's stubs instead of the solutions and goes on after failures. Returns the list
    of ``(grade_id, exception)`` of the failing test cells (empty when all pass); a failure
    in a cell that is not a test cell raises. A test cell whose hidden tests fail counts as
    failing with an ``AssertionError`` carrying the first failure's message (what the student
    reads in the feedback). ``keep_going`` runs every cell whatever fails, as grading does.
    """
    tests = hidden_tests(nb)
    ns: dict = {}
    failures = []
    for cell in nb.cells:
        m = meta(cell)
        if cell.cell_type != "code" or not (m or everything):
            continue
        gid = m.get("grade_id", cell.get("id", "cell"))
        src = (replace or {}).get(gid, cell.source)
        if released and m.get("solution"):
            src = release_stub(src)
        try:
            exec(compile(src, gid, "exec"), ns)
            if m.get("grade") and not m.get("solution") and gid not in visible_only:
                hidden_failures = hidden.run_in_namespace(tests, gid, ns)
                if hidden_failures:
                    raise AssertionError(hidden_failures[0])
        except Exception as exc:
            if not m.get("grade"):
                if released:
                    continue
                raise
            failures.append((gid, exc))
            if not (released or keep_going):
                return failures
        if gid == upto:
            break
    return failures


@contextmanager
def without_coursekit():
    """Make every ``import coursekit...`` fail, as in a student's kernel at grading time."""
    saved = {k: v for k, v in sys.modules.items() if k == "coursekit" or k.startswith("coursekit.")}
    for name in [*saved, "coursekit"]:
        sys.modules[name] = None  # None in sys.modules: the import raises ImportError
    try:
        yield
    finally:
        for name in [k for k in sys.modules if k == "coursekit" or k.startswith("coursekit.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def student_view_passes(nb) -> list:
    """Run every code cell with the solutions and the visible tests only, without coursekit."""
    visible = {meta(c)["grade_id"] for c in graded_cells(nb)}
    with without_coursekit():
        return run(nb, visible_only=visible, everything=True)


def assert_fails_only_hidden(
    nb, cell_id: str, code: str, failing: str, markers=("random test",)
) -> None:
    """Replace the solution cell ``cell_id`` by ``code``: the visible tests of ``failing``
    pass, and its hidden tests fail it with an AssertionError naming the case (``markers``)."""
    assert run(nb, {cell_id: code}, visible_only={failing}, upto=failing) == []
    [(gid, exc)] = run(nb, {cell_id: code}, upto=failing)
    assert gid == failing and isinstance(exc, AssertionError)
    assert any(m in str(exc) for m in markers), str(exc)


def assert_coursekit_answer_fails(nb, cell_id: str, code: str, failing: str) -> None:
    """A solution cell that imports coursekit passes where coursekit exists (the hidden tests
    too), but raises ImportError where the notebook is graded, so ``failing`` cannot pass."""
    assert "coursekit" in code
    assert run(nb, {cell_id: code}, upto=failing) == []
    with without_coursekit():
        try:
            run(nb, {cell_id: code}, upto=failing)
        except ImportError:
            return
    raise AssertionError(f"{cell_id}: an answer importing coursekit did not fail")


def assert_fails_visibly(nb, cell_id: str, code: str, failing: str, message: str) -> None:
    """Replace the solution cell ``cell_id`` by ``code``: exactly the visible test ``failing``
    must fail, with an AssertionError whose text contains ``message`` (what the student reads)."""
    failures = run(nb, {cell_id: code}, visible_only={failing}, upto=failing)
    assert len(failures) == 1, f"{cell_id} mutant passed"
    gid, exc = failures[0]
    assert gid == failing and isinstance(exc, AssertionError)
    assert message in str(exc)


def run_cli(*args, timeout=600) -> subprocess.CompletedProcess:
    """``python -m autograder ARGS`` from the repository, as an instructor runs it."""
    return subprocess.run(
        [sys.executable, "-m", "autograder", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def secrets_leaked(nb) -> list[str]:
    """Solution lines (>= 12 characters) that also occur in what is released.

    The release keeps everything outside the solution regions, so a line shared with a visible
    test or the instructions would reveal the answer (the CLI refuses such a release). The
    hidden tests are not in the notebook at all (``hidden_tests.py`` is never released).
    """
    secret, public = set(), []
    for cell in nb.cells:
        for m in SOLUTION.finditer(cell.source):
            secret |= {ln.strip() for ln in m.group(0).splitlines()[1:-1] if len(ln.strip()) >= 12}
        public.append(SOLUTION.sub("", cell.source))
    released = re.sub(r"\s+", " ", "\n".join(public))
    return sorted(s for s in secret if re.sub(r"\s+", " ", s) in released)


def check_structure(nb, test_ids: list[str], total: int, manual: dict[str, int] | None = None):
    """The common invariants of a course assignment (see exercises/gd_basics)."""
    manual = manual or {}
    ids = [meta(c)["grade_id"] for c in nb.cells if meta(c)]
    assert len(ids) == len(set(ids)), "duplicate grade_id"
    tests = graded_cells(nb)
    assert [meta(c)["grade_id"] for c in tests] == test_ids
    # No hidden region is left in the notebook: the hidden tests live in hidden_tests.py.
    for c in nb.cells:
        assert not any(marker in c.source for marker in HIDDEN_MARKERS), c.get("id")
    # Every autograded test cell has hidden tests, in the notebook's order, and each builder
    # gives at least one case whose inputs are plain data.
    hidden_ids = hidden_tests(nb).grade_ids
    assert hidden_ids == [meta(c)["grade_id"] for c in tests]
    for gid in hidden_ids:
        cases = hidden_tests(nb).cases(gid)
        assert cases, gid
        for case in cases:
            assert '"opaque"' not in json.dumps(case.call.plain()), case.what
    for c in tests:
        assert meta(c)["locked"], meta(c)["grade_id"]
        # A test cell must not need coursekit (the student's kernel lacks it).
        assert "coursekit" not in c.source, meta(c)["grade_id"]
    answers = {
        meta(c)["grade_id"]: meta(c)["points"]
        for c in nb.cells
        if meta(c).get("grade") and meta(c).get("solution")
    }
    assert answers == manual
    # The introduction's points table agrees with the cells, in order, and adds up.
    rows = TABLE_ROW.findall(nb.cells[0].source)
    points = [int(p) for _, _, p in rows]
    assert [int(n) for n, _, _ in rows] == list(range(1, len(rows) + 1))
    expected = [
        meta(c)["points"]
        for c in nb.cells
        if meta(c).get("grade") and (c in tests or meta(c)["grade_id"] in manual)
    ]
    assert points == expected
    assert sum(points) == total
    assert nb.metadata.kernelspec.name == "python3"
    setup = [c for c in nb.cells if meta(c).get("grade_id") == "setup"]
    assert len(setup) == 1 and meta(setup[0])["locked"]
    for c in nb.cells:
        if c.cell_type == "code":
            assert not c.get("outputs") and c.get("execution_count") is None
        if meta(c).get("solution") and c.cell_type == "code":
            assert "### BEGIN SOLUTION" in c.source and "### END SOLUTION" in c.source
        if c.cell_type == "code" and c not in tests:
            # Student, setup and ungraded cells must work without the course package.
            assert "import coursekit" not in c.source and "from coursekit" not in c.source
    assert "coursekit" in nb.cells[0].source  # the student is told not to rely on it
    assert secrets_leaked(nb) == []
