"""nbgrader's ``Execute`` with two additions: the hidden-test probe and an output limit.

:class:`GradingExecute` replaces ``Execute`` in nbgrader's autograde preprocessors (see
:func:`autograde_preprocessors`), so the rest of nbgrader (restoring test cells, scoring,
the gradebook, feedback) is unchanged. After the notebook's last cell, in the same kernel, it
runs the probe of :mod:`autograder.hidden`, judges the results in this (the grader's)
process, and writes each failure into its test cell as an error output, which is what
nbgrader's ``SaveAutoGrades`` scores: a test cell keeps its points only if it ran without
error *and* its hidden cases passed. The probe cell itself is removed again, so neither the
autograded notebook nor the feedback shows it.

The per-notebook outcome (failures, limits hit) is recorded in :data:`REPORT` for the grading
process to put in its result file.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import nbformat
from nbgrader.preprocessors import Execute

from .hidden import HiddenTests, judge, parse_probe_output, probe_source
from .sandbox import MB, Limits, SandboxedKernelManager
from .verify import is_test_cell

#: Largest probe output kept (the encoded results of all hidden cases).
PROBE_OUTPUT_LIMIT = 64 * MB


@dataclass
class NotebookReport:
    """What :class:`GradingExecute` found in one notebook."""

    hidden_failures: dict[str, list[str]] = field(default_factory=dict)
    hidden_cases: int = 0
    probe_timeout: bool = False
    output_dropped_bytes: int = 0


#: Filled by the grading process before ``autograde``; read after it.
HIDDEN: HiddenTests | None = None
LIMITS: Limits = Limits()
#: Start kernels in the sandbox of :mod:`autograder.sandbox`.
SANDBOX: bool = True
REPORT: dict[str, NotebookReport] = {}


def _size(out) -> int:
    if out.get("output_type") == "stream":
        return len(out.get("text", ""))
    if out.get("output_type") == "error":
        return sum(len(t) for t in out.get("traceback", [])) + len(out.get("evalue", ""))
    return sum(len(str(v)) for v in out.get("data", {}).values())


class GradingExecute(Execute):
    """``Execute`` that runs the hidden-test probe and caps what the cells print."""

    def __init__(self, *args, **kwargs):
        if SANDBOX:
            # nbgrader's Execute passes its kernel manager class as an argument, which beats
            # configuration: so it is chosen here.
            kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        name = ((resources or {}).get("nbgrader") or {}).get("notebook", "notebook")
        self._report = REPORT.setdefault(name, NotebookReport())
        self._output_bytes = 0
        self._probe_index = None
        self._probe_text: list[str] = []
        self._probe_bytes = 0
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if index == len(self.nb.cells) - 1 and self._probe_index is None:
            self._run_probe()
        return cell, resources

    # -- the probe ------------------------------------------------------------------------

    def _test_cells(self) -> dict:
        return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in self.nb.cells
                if is_test_cell(c)}

    def _run_probe(self) -> None:
        tests = self._test_cells()
        if HIDDEN is None:
            return
        groups = [(gid, HIDDEN.cases(gid)) for gid in HIDDEN.grade_ids if gid in tests]
        cases = [case for _, group in groups for case in group]
        if not cases:
            return
        nonce = uuid.uuid4().hex
        names = [gid for gid, group in groups for _ in group]
        probe = nbformat.v4.new_code_cell(probe_source(cases, nonce, names))
        self.nb.cells.append(probe)
        self._probe_index = len(self.nb.cells) - 1
        try:
            self.execute_cell(probe, self._probe_index, store_history=False)
        finally:
            self.nb.cells.pop()
        if any(o.get("ename") in {"CellTimeoutError", "TimeoutError"}
               for o in probe.outputs if o.get("output_type") == "error"):
            self._report.probe_timeout = True
        results = parse_probe_output("".join(self._probe_text), nonce, len(cases))
        if any(got.timed_out for got in results):
            self._report.probe_timeout = True
        self._report.hidden_cases = len(cases)
        start = 0
        for gid, group in groups:
            failures = judge(group, results[start:start + len(group)])
            start += len(group)
            if failures:
                self._report.hidden_failures[gid] = failures
                self._fail(tests[gid], failures)

    @staticmethod
    def _fail(cell, failures: list[str]) -> None:
        more = f"\n(and {len(failures) - 1} more hidden case(s) of this cell failed)" \
            if len(failures) > 1 else ""
        # Said so, because the cell itself may have printed "visible tests passed"; one line
        # each, so that the feedback page shows it without scrolling sideways.
        message = f"hidden test (run by the grader after your notebook):\n{failures[0]}{more}"
        cell.outputs.append(nbformat.v4.new_output(
            "error", ename="AssertionError", evalue=message,
            traceback=[f"AssertionError: {message}"]))

    # -- outputs ----------------------------------------------------------------------------

    def output(self, outs, msg, display_id, cell_index):
        if cell_index == self._probe_index:
            content = msg.get("content", {})
            if msg.get("msg_type") == "stream" and content.get("name") == "stdout":
                text = str(content.get("text", ""))
                if self._probe_bytes + len(text) <= PROBE_OUTPUT_LIMIT:
                    self._probe_bytes += len(text)
                    self._probe_text.append(text)
            return None  # the probe's output is data for the grader, not for the notebook
        out = super().output(outs, msg, display_id, cell_index)
        if out is not None:
            self._output_bytes += _size(out)
            if self._output_bytes > LIMITS.output_mb * MB:
                # Drop it: a cell printing without end must not fill the grader's memory.
                if outs and outs[-1] is out:
                    outs.pop()
                self._report.output_dropped_bytes += _size(out)
                return None
        return out


def autograde_preprocessors() -> list:
    """nbgrader's autograde preprocessors with ``Execute`` replaced by :class:`GradingExecute`."""
    from nbgrader.converters.autograde import Autograde

    default = list(Autograde.class_traits()["autograde_preprocessors"].default())
    return [GradingExecute if pp is Execute else pp for pp in default]
