"""One student's process: a private nbgrader course, autograde, feedback, a result file.

Runs in the student's own process, forked by the fork server (:mod:`autograder.forkserver`)
or started as ``python -m autograder.child JOB`` by :func:`autograder.run.run_student`, in a
session of its own that the grading process kills whole when the time is up. It reads
``job.json``, builds a temporary course from the prepared gradebook, restores the
instructor's cells and metadata in the submission, runs nbgrader's ``autograde`` (the kernel
in its sandbox, the hidden tests judged here by :mod:`autograder.execute`) and
``generate_feedback``, and writes ``result.json``: plain data the grading process checks and
never trusts as is. Every failure becomes a status in that file.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import nbformat

from . import patches
from .course import _quiet_api
from .leaks import strip_hidden_tests
from .nbgrader_config import IGNORE, course_config
from .notebook import cell_errors, is_test_cell
from .run import KERNEL_NEVER_STARTED
from .sandbox import Limits
from .verify import restore_deleted_cells, restore_nbgrader_metadata


def _short_error(log: str, error: str, memory_mb: int | None = None) -> tuple[str, str]:
    """``(status, reason)`` of nbgrader's failure, from its most telling line."""
    text = f"{error}\n{log}"
    if "Kernel died before replying to kernel_info" in text or "Kernel didn't respond in" in text:
        # Before the first cell: no student code has run (see pipeline.kernel_never_started).
        return "crashed", KERNEL_NEVER_STARTED
    if "DeadKernelError" in text or "Kernel died" in text:
        memory = f"the memory limit of {memory_mb} MB" if memory_mb else "out of memory"
        return "crashed", (
            "the kernel died while running the notebook (os._exit, a signal, "
            f"a crash in compiled code, or {memory})"
        )
    if "CellTimeoutError" in text:
        return "timeout", (
            "a cell ran past the cell time limit and did not stop when "
            "interrupted (blocked signals or a long call in compiled code)"
        )
    # The detail is read without the log (which is gone with the student's folder): lines that
    # point at a traceback or tell the user to run an nbgrader command are no reason.
    errors = [
        " ".join(ln.split())
        for ln in text.splitlines()
        if re.match(r"\s*[\w.]*(Error|Exception)\b.*:\s*\S", ln) and not _LOG_ONLY.search(ln)
    ]
    if errors:
        return "crashed", f"nbgrader could not grade the notebook: {errors[-1]}"[:300]
    return "crashed", (
        "nbgrader could not grade the notebook (it stopped with an internal "
        "error; the submission may be malformed in a way nbgrader does not "
        "report)"
    )


#: Phrases of nbgrader's log that make sense only next to the log.
_LOG_ONLY = re.compile(r"traceback|nbgrader update|see the|please", re.IGNORECASE)


def sanitize_for_feedback(nb) -> None:
    """Make an autograded notebook safe to show: no hidden test, no traceback of test code.

    Test cells get their hidden-test regions removed; an error output of a test cell keeps
    only ``ename: evalue`` (the message the test wrote for the student), because IPython's
    traceback quotes the source lines around the failing one, hidden ones included.
    """
    for cell in nb.cells:
        if cell.cell_type != "code" or not is_test_cell(cell):
            continue
        cell.source = strip_hidden_tests(cell.source)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]


def peak_rss_kb() -> int | None:
    """This process's peak resident memory so far, kB (``VmHWM`` of ``/proc/self/status``).

    Read by the student's process itself as it writes its result, so the peak is known
    however briefly the process lived (a poller from outside can miss a short one).
    ``None`` where ``/proc`` has no such line.
    """
    try:
        found = re.search(r"^VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(found.group(1)) if found else None


def _set_up_execution(config, job: dict, runtime_dir: Path, ipc_dir: Path):
    """Make nbgrader's autograde run the hidden-test probe, in the sandbox, within limits
    (:func:`autograder.execute.configure`, shared with ``validate``).

    Returns the :class:`autograder.execute.GradingSetup` given to nbgrader's configuration;
    its ``reports`` hold each notebook's outcome once ``autograde`` has run.
    """
    from . import execute

    return execute.configure(
        config,
        limits=Limits(**job.get("limits") or {}),
        sandbox=bool(job.get("sandbox")),
        ipc_dir=ipc_dir,
        runtime_dir=runtime_dir,
        hidden_tests=job.get("hidden_tests"),
    )


def _child_main(job_path: str) -> int:
    """Body of the child process: one student's private nbgrader course.

    Longer than ~80 lines on purpose: every step of the student's process sits inside the
    one ``try`` whose ``except`` turns any failure into this student's result file.
    """
    patches.share_gradebook_engines()  # never in the fork server, whose forks it would reach
    job = json.loads(Path(job_path).read_text())
    result_path = Path(job["result"])
    a = job["assignment"]
    course = Path(job["course"])

    def finish(**data) -> int:
        # Last thing before exit: the peak covers the whole grading, flooded output included.
        result_path.write_text(json.dumps({**data, "peak_rss_kb": peak_rss_kb()}))
        return 0

    try:
        patches.install()  # done already in a forked process; a fresh interpreter needs it
        (course / "submitted" / "student" / a).mkdir(parents=True)
        shutil.copy(job["template_db"], course / "gradebook.db")
        # Non-notebook files of the source (data files) are restored by autograde from here;
        # the source notebooks themselves are not needed and stay out of the kernel's reach.
        shutil.copytree(
            job["source_dir"],
            course / "source" / a,
            ignore=shutil.ignore_patterns("*.ipynb", *IGNORE),
        )
        for name, path in job["notebooks"].items():
            # A deleted test or read-only cell is put back (the verdict reports it as
            # tampered): the student is graded on every one of the instructor's tests.
            # Likewise every cell's nbgrader metadata (ids, points, grade flags): nbgrader
            # grades on the instructor's cells and points (the verdict names the changes).
            nb = nbformat.read(str(path), as_version=4)
            release_nb = nbformat.read(
                str(Path(job["release_dir"]) / f"{name}.ipynb"), as_version=4
            )
            # Its markdown is the course's own markup (the feedback page's fast path).
            patches.trust_course_text([release_nb])
            restore_nbgrader_metadata(nb, release_nb)
            restore_deleted_cells(nb, release_nb)
            nbformat.write(nb, str(course / "submitted" / "student" / a / f"{name}.ipynb"))
        config = course_config(
            course, cell_timeout=job["cell_timeout"], config_file=job.get("config_file")
        )
        setup = _set_up_execution(config, job, course.parent / "runtime", Path(job["ipc_dir"]))
        memory_mb = (job.get("limits") or {}).get("memory_mb")
        api = _quiet_api(config)
        res = api.autograde(a, "student")
        limit = next((r.output_limit for r in setup.reports.values() if r.output_limit), "")
        if limit:
            # Whatever nbgrader made of the killed kernel, the reason is the output limit.
            return finish(
                success=False,
                status="crashed",
                error=f"output limit reached: {limit}; the kernel was stopped",
            )
        if not res.get("success"):
            status, reason = _short_error(res.get("log", ""), res.get("error", ""), memory_mb)
            return finish(success=False, status=status, error=reason)
        from nbgrader.api import Gradebook

        reported, autograded = {}, {}
        with Gradebook(
            f"sqlite:///{course / 'gradebook.db'}", config.CourseDirectory.course_id
        ) as gb:
            for name in job["notebooks"]:
                sub = gb.find_submission_notebook(name, a, "student")
                reported[name] = {
                    g.name: float(g.auto_score or 0.0)
                    for g in sub.grades
                    if g.auto_score is not None
                }
        adir = course / "autograded" / "student" / a
        for name in job["notebooks"]:
            path = adir / f"{name}.ipynb"
            if not path.exists():
                return finish(success=False, error=f"nbgrader wrote no autograded {name}.ipynb")
            nb = nbformat.read(str(path), as_version=4)
            if any(
                e == "DeadKernelError"
                for c in nb.cells
                if c.cell_type == "code"
                for e, _ in cell_errors(c)
            ):
                status, reason = _short_error("DeadKernelError", "", memory_mb)
                return finish(success=False, status=status, error=reason)
            # Keep nbgrader's verdict material, then feed a sanitised copy to feedback.
            keep = course / f"autograded-{name}.ipynb"
            shutil.copy(path, keep)
            autograded[name] = str(keep)
            sanitize_for_feedback(nb)
            # nbgrader leaves autograded notebooks read-only (0444): a grader that is not
            # root must make its own file writable again to replace it.
            path.chmod(0o644)
            nbformat.write(nb, str(path))
        fb = api.generate_feedback(a, "student")
        feedback = {}
        if fb.get("success"):
            fdir = course / "feedback" / "student" / a
            feedback = {
                n: str(fdir / f"{n}.html")
                for n in job["notebooks"]
                if (fdir / f"{n}.html").exists()
            }
        reports = {name: asdict(r) for name, r in setup.reports.items()}
        return finish(
            success=True,
            reported=reported,
            autograded=autograded,
            feedback=feedback,
            reports=reports,
        )
    except Exception as exc:  # any failure is this student's, reported as data
        return finish(success=False, error=f"{type(exc).__name__}: {exc}"[:500])


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
