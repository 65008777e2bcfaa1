"""``validate``: run a notebook as grading does and say everything its tests find.

Runs in the process of ``python -m autograder validate`` (a student's or an instructor's),
which drives one kernel exactly as a student's grading process does
(:func:`autograder.execute.configure`): in the bubblewrap sandbox of
:mod:`autograder.sandbox` with the grader's default limits and output limit, talking over
unix sockets, where ``coursekit`` (the reference solutions) cannot be imported. Where the
sandbox cannot run (no ``bwrap``, no user namespaces: a laptop), the notebook runs without it,
``coursekit`` is still made unimportable, and the output says that the limits were not
applied.

What grading does not do: after a test cell's first failing check, its later checks run too
(:class:`autograder.execute.ValidateExecute`), so that every failing check is reported at
once. The hidden tests are the instructor's and are not run.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .course import use_interpreter_path
from .nbgrader_config import CELL_TIMEOUT, course_config
from .notebook import autograded_cells, read_notebook
from .run import DEFAULT_TIMEOUT, ipc_folder
from .sandbox import Limits, SandboxUnavailable, check_available
from .verify import TIMEOUT_ERRORS


@dataclass
class Validation:
    """Outcome of ``validate``: ``ok``, one message per failed or changed cell, and notes."""

    ok: bool
    messages: list[str]
    #: Said whatever the outcome (e.g. that the sandbox could not be used here).
    notes: list[str] = field(default_factory=list)


#: What ``import coursekit`` raises in a notebook being validated, as where it is graded.
NO_COURSEKIT = (
    "coursekit cannot be imported where your notebook is graded (it holds the "
    "reference solutions): write your answers with NumPy only"
)


def _imports_coursekit(source: str) -> bool:
    return any(
        line.split()[:2] in (["import", "coursekit"], ["from", "coursekit"])
        or line.split()[:1] == ["import"]
        and "coursekit" in line
        or line.strip().startswith("from coursekit.")
        for line in source.splitlines()
    )


def raising_line(traceback_text: str, functions=None) -> str:
    """``"in gd_step, line 3: return x - lr * g"``: where the notebook's own code raised.

    The last frame of the traceback that is inside a function defined in the notebook (IPython
    writes ``Cell In[4], line 3, in gd_step(...)`` and marks the line with ``---->``), and, if
    ``functions`` (names) is given, one of those (the student's, not the instructor's
    ``check_array``); empty when the error was raised by the test cell itself (its message
    says what is wrong).
    """
    from nbconvert.filters import strip_ansi

    where, found = None, ""
    for line in strip_ansi(traceback_text).splitlines():
        head = re.match(r"Cell In\[\d+\], line \d+(?:, in (\w+))?", line)
        if head:
            where = head.group(1)
            if functions is not None and where not in functions:
                where = None
            continue
        if re.match(r"File \S", line):  # a frame in a library (NumPy), not the notebook
            where = None
            continue
        mark = re.match(r"-+>\s*(\d+)\s?(.*)$", line)
        if mark and where:
            found = f"in {where}, line {mark.group(1)}: {mark.group(2).strip()}"
    return found


def student_functions(nb) -> set[str]:
    """Names of the functions the notebook's solution cells define (the student's code)."""
    import ast

    names = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            names |= {
                n.name
                for n in ast.walk(tree)
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return names


def _describe(
    last_line: str, traceback_text: str, cell_timeout: int, functions=None
) -> tuple[str, str]:
    """One failure: the error's last line (or the time limit, by name) and where it was
    raised in the student's own code (``"raised in f, line 3: ..."``, or ``""``)."""
    last_line = last_line.strip().removesuffix(":")  # "NotImplementedError: " (no message)
    timed_out = any(name in last_line for name in TIMEOUT_ERRORS)
    text = (
        (
            f"ran out of time: the cell ran longer than {cell_timeout} s (an endless loop? a "
            "loop that ignores max_iter?)"
        )
        if timed_out
        else last_line
    )
    where = raising_line(traceback_text, functions)
    return text, (f"{'stopped' if timed_out else 'raised'} {where}" if where else "")


def _run(path: Path, cell_timeout: int, sandbox: bool, tmp: Path):
    """nbgrader's validator on ``path``, its kernel driven as a grading process drives one.

    Returns the validator's results and the :class:`autograder.execute.GradingSetup` its
    kernels ran under (what ``ValidateExecute`` found is in its ``reports`` and ``further``).
    """
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput
    from nbgrader.validator import Validator

    from . import execute

    config = course_config(tmp / "course", cell_timeout=cell_timeout)
    ipc_dir = ipc_folder(tmp)  # tmp/ipc, or a shorter folder when $TMPDIR is long
    setup = execute.configure(
        config,
        limits=Limits(cpu_seconds=DEFAULT_TIMEOUT),
        sandbox=sandbox,
        ipc_dir=ipc_dir,
        runtime_dir=tmp / "runtime",
    )
    # ipykernel's own log lines and banner are the kernel's, not the notebook's (below
    # CRITICAL it prints its connection banner: the sandbox's clean environment has no
    # JPY_PARENT_PID to tell it that a client started it).
    config.Execute.extra_arguments = ["--IPKernelApp.log_level=CRITICAL"]
    saved = os.environ.get("PYTHONPATH")
    if not sandbox:
        # No sandbox to leave coursekit out: a package of that name first on the kernel's
        # path, whose import raises as it does where the notebook is graded.
        blocked = tmp / "blocked" / "coursekit"
        blocked.mkdir(parents=True)
        (blocked / "__init__.py").write_text(f"raise ModuleNotFoundError({NO_COURSEKIT!r})\n")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(blocked.parent), saved]))
    try:
        # (Validator's list of preprocessors is not configurable: a subclass replaces it.)
        validator = type(
            "GradingValidator",
            (Validator,),
            {"preprocessors": [CheckCellMetadata, ClearOutput, execute.ValidateExecute]},
        )
        return validator(config=config).validate(str(path.resolve())), setup
    finally:
        if ipc_dir.parent != tmp:
            shutil.rmtree(ipc_dir, ignore_errors=True)
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def validate_notebook(
    path, cell_timeout: int = CELL_TIMEOUT, sandbox: bool | None = None
) -> Validation:
    """Run a notebook top to bottom as grading does and report every failing check.

    Unlike ``nbgrader validate``, the outcome is a value (``ok``) the CLI turns into an exit
    status. Fails when a test cell errors, a cell changed type, or a locked/test cell was edited
    (checksum mismatch, released notebooks only). A cell that imports ``coursekit`` is named.
    Each failing test cell says the points at stake and every failing check of it (the line
    of the cell, the error, the line of the notebook's own code that raised); a check that
    ran out of time is named so; the kernel's own warnings are silenced.

    Parameters
    ----------
    path : path-like
        The ``.ipynb`` to validate.
    cell_timeout : int
        Seconds one cell may run, as ``grade --cell-timeout``.
    sandbox : bool, optional
        Run the kernel in the grader's sandbox. ``None`` (default): when this machine can
        (:func:`autograder.sandbox.check_available`), else without it and with a note.
    """
    path = Path(path)
    if not path.is_file() or path.suffix != ".ipynb":
        raise ValueError(f"notebook: expected an existing .ipynb file, got {path}")
    use_interpreter_path()
    nb = read_notebook(path)
    if not autograded_cells(nb):
        return Validation(False, [f"{path.name} has no autograded test cells"])
    notes = []
    if sandbox is None:
        try:
            check_available()
            sandbox = True
        except SandboxUnavailable as exc:
            sandbox = False
            notes.append(
                f"ran without the grader's sandbox, so its limits were not applied "
                f"({str(exc).split(';')[0].split(' (')[0]})"
            )
    names = {
        c.source.strip(): c.metadata.get("nbgrader", {}).get("grade_id", "?") for c in nb.cells
    }
    points = autograded_cells(nb)
    functions = student_functions(nb)
    messages = [
        f"cell {c.metadata.get('nbgrader', {}).get('grade_id', '?')} imports "
        f"coursekit: {NO_COURSEKIT}"
        for c in nb.cells
        if c.cell_type == "code"
        and _imports_coursekit(c.source)
        and c.metadata.get("nbgrader", {}).get("grade_id") not in points
    ]
    with tempfile.TemporaryDirectory(prefix="ag-validate-") as tmp:
        results, setup = _run(path, cell_timeout, sandbox, Path(tmp))
    for report in setup.reports.values():
        if report.output_limit:
            messages.append(
                f"output limit reached: {report.output_limit}; grading stops the "
                "kernel there and the notebook scores 0"
            )
    for cell in results.get("type_changed", []):
        messages.append(
            f"a cell changed type from {cell['old_type']} to {cell['new_type']}: "
            f"{cell['source'][:60]!r}"
        )
    for cell in results.get("changed", []):
        messages.append(
            f"locked or test cell {names.get(cell['source'], '?')} was edited; "
            "restore it from the released notebook"
        )
    for cell in results.get("failed", []):
        gid = names.get(cell["source"], "?")
        messages.append(
            _failed_cell(
                gid,
                cell["raw_error"],
                points.get(gid),
                setup.further.get(gid, []),
                cell_timeout,
                functions,
            )
        )
    return Validation(not messages, messages, notes)


def _failed_cell(
    gid: str, raw_error: str, points: float | None, further: list, cell_timeout: int, functions=None
) -> str:
    """The message of one failed test cell: its first failure, then every later one."""
    from nbconvert.filters import strip_ansi

    err = [strip_ansi(ln) for ln in raw_error.splitlines() if ln.strip()]
    text, where = _describe(err[-1] if err else "failed", raw_error, cell_timeout, functions)
    stake = f"{points:g} point{'s' if points != 1 else ''} at stake" if points is not None else ""
    extra = "; ".join(filter(None, [where, stake]))
    lines = [f"{gid} failed: {text}" + (f" ({extra})" if extra else "")]
    again = []
    for check in further:
        evalue = [ln for ln in strip_ansi(check.evalue).splitlines() if ln.strip()]
        later, later_where = _describe(
            f"{check.ename}: {evalue[-1] if evalue else ''}",
            check.traceback,
            cell_timeout,
            functions,
        )
        if (later, later_where) == (text, where):
            again.append(str(check.line))  # the same slip met again: said once
        else:
            lines.append(
                f"    and line {check.line} of the cell: {later}"
                + (f" ({later_where})" if later_where else "")
            )
    if again:
        lines.insert(
            1,
            f"    (the same error again at line{'s' if len(again) > 1 else ''} "
            f"{', '.join(again)} of the cell)",
        )
    return "\n".join(lines)
