"""The whole flow of ``grade`` (collect -> run -> verify -> report).

Kept apart from :mod:`autograder.__main__` so the command line stays a thin argparse layer and
the flow can be called from Python (tests, a notebook, a JupyterHub service).
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import EXERCISES_DIR
from .cohort import CohortLog, record_of_run, write_report
from .collect import UNHASHABLE, Submission, collect, entry_hashes
from .course import Prepared, assignment_dir, prepare, use_interpreter_path
from .forkserver import ForkServer
from .hidden import hidden_tests_path
from .nbgrader_config import CELL_TIMEOUT, course_source_dir
from .report import (
    StudentRow,
    combine,
    manual_cells,
    pending_note,
    record_in_gradebook,
    summary,
    write_feedback,
    write_grades_csv,
)
from .run import DEFAULT_TIMEOUT, KERNEL_NEVER_STARTED, RunResult, run_student
from .sandbox import Limits, check_available
from .state import GradingState, run_key, student_key
from .verify import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    Verdict,
    autograded_cells,
    find_leaks,
    hidden_file_lines,
    read_notebook,
    secret_lines,
    tamper_check,
    verdict_from_autograded,
)


def _inside(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents


@dataclass
class GradeRun:
    """Everything one ``grade`` run produced (also written to ``out``)."""

    rows: list[StudentRow]
    verdicts: dict[str, list[Verdict]] = field(default_factory=dict)
    csv_path: Path | None = None
    summary: str = ""
    #: Students whose grade was taken from a previous run (unchanged submission).
    reused: list[str] = field(default_factory=list)
    #: The cohort report (``report.html``) written into ``out``, if it could be written.
    report_path: Path | None = None


def _verdicts_for(prep: Prepared, sub: Submission, run: RunResult | None,
                  secrets: list[str]) -> tuple[list[Verdict], dict[str, Path | None]]:
    """Stage 3 for one student: one verdict and one checked feedback page per notebook."""
    verdicts, pages = [], {}
    for name in prep.notebooks:
        nbf = sub.notebooks[name]
        max_score = prep.max_scores[name]
        cells0 = {gid: (0.0, pts) for gid, pts in autograded_cells(prep.release_nb(name)).items()}
        if nbf.status is not None:
            verdicts.append(Verdict(name, nbf.status, 0.0, max_score, nbf.detail, cells0))
            pages[name] = None
            continue
        if run is None or run.status is not None:
            status = run.status if run is not None else "crashed"
            detail = run.detail if run is not None else "not run"
            verdicts.append(Verdict(name, status, 0.0, max_score, detail, cells0))
            pages[name] = None
            continue
        autograded = read_notebook(run.autograded[name])
        v = verdict_from_autograded(name, autograded, prep.release_nb(name), prep.source_nb(name),
                                    reported=run.reported.get(name),
                                    report=run.reports.get(name))
        if v.status == "graded":
            problems = tamper_check(read_notebook(nbf.path), prep.release_nb(name),
                                    prep.source_nb(name))
            if problems:
                v.status = "tampered"
                v.detail = "; ".join(filter(None, ["instructor's cells changed (graded on the "
                                                   "instructor's copy): " + ", ".join(problems),
                                                   v.detail]))
        if nbf.detail:
            v.detail = "; ".join(filter(None, [nbf.detail, v.detail]))
        page = run.feedback.get(name)
        if page is not None:
            text = page.read_text(encoding="utf-8", errors="replace")
            if find_leaks(text, secrets, markers=(HIDDEN_BEGIN, HIDDEN_END)):
                # Never ship it; the status page still tells the student the outcome.
                v.detail = "; ".join(filter(None, [v.detail, "feedback withheld (it quoted "
                                                   "hidden tests)"]))
                page = None
        pages[name] = page
        verdicts.append(v)
    for v in verdicts:
        # Answers graded by hand are not in the score: say so, as the feedback page does.
        note = pending_note(manual_cells(prep.release_nb(v.notebook)))
        v.detail = "; ".join(filter(None, [v.detail, note]))
    return verdicts, pages


def kernel_never_started(run: RunResult | None) -> bool:
    """The kernel died or stayed silent before its first cell: worth a second try.

    No student code had run, so it is the grader's failure (a machine short of memory or
    processes at that moment), not the student's.
    """
    return run is not None and run.status == "crashed" and KERNEL_NEVER_STARTED in run.detail


def run_with_retry(prep: Prepared, student: str, ready: dict[str, Path], workdir, *,
                   timeout: float, cell_timeout: int, server: ForkServer | None,
                   limits: Limits, sandbox: bool) -> RunResult:
    """Stage 2 for one student (:func:`autograder.run.run_student`), in ``workdir-0``.

    A kernel that never started is tried once more (in ``workdir-1``); a failure of the
    grader itself is a ``crashed`` row whose detail starts with "could not run" (never
    stored, so the next run tries again). Also what a cluster worker runs
    (:mod:`autograder.cluster`).
    """
    run = None
    for attempt in range(2):
        try:
            run = run_student(prep, student, ready, f"{workdir}-{attempt}", timeout=timeout,
                              cell_timeout=cell_timeout, server=server, limits=limits,
                              sandbox=sandbox)
        except Exception as exc:  # e.g. the disk is full: this student's row says so
            return RunResult(student, "crashed",
                             f"could not run: {type(exc).__name__}: {exc}"[:300])
        if not kernel_never_started(run):
            break
        time.sleep(random.uniform(0.1, 1.0))  # e.g. a moment of memory pressure
    if kernel_never_started(run):
        # Not the student's doing, and not remembered: the next run tries again.
        run.detail = f"could not run: {run.detail}"
    return run


def _students_in_gradebook(db_url: str, assignment: str, course_id: str) -> set[str]:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id) as gb:
        try:
            return {s.student.id for s in gb.find_assignment(assignment).submissions}
        except MissingEntry:
            return set()


def grade_assignment(assignment: str, submissions, out, *, jobs: int = 1,
                     timeout: float = DEFAULT_TIMEOUT, cell_timeout: int = CELL_TIMEOUT,
                     exercises_dir=EXERCISES_DIR, course=None, force: bool = False,
                     progress: bool = True, fork_server: bool = True, sandbox: bool = True,
                     limits: Limits | None = None, cluster: str | None = None,
                     insecure_cluster: bool = False) -> GradeRun:
    """Grade every student in ``submissions`` with real nbgrader, each in its own process.

    Parameters
    ----------
    assignment : str
        Source assignment name (folder under ``exercises_dir``).
    submissions : path-like
        Folder of ``<student>.zip`` and/or ``<student>/`` (never modified).
    out : path-like
        Output folder: ``grades.csv``, ``feedback/<student>/<notebook>.html``, the
        instructor's ``gradebook.db`` and ``grading_state.json`` (what was graded under
        which key, see :mod:`autograder.state`). Must not be inside ``submissions`` or vice
        versa.
    jobs : int
        Students graded at the same time (each one child process plus one kernel).
    timeout : float
        Wall-clock seconds per student (kernel start-up included).
    cell_timeout : int
        Seconds per cell.
    exercises_dir : path-like
        Folder of this course's source assignments (ignored when ``course`` is given).
    course : path-like, optional
        Another nbgrader course directory: the assignment is ``course/source/<assignment>/``
        and ``course/nbgrader_config.py`` (if any) configures nbgrader.
    force : bool
        Grade every student again, even when the stored grade in ``out`` is still valid.
    progress : bool
        Show a tqdm progress bar on stderr.
    fork_server : bool
        Start each student's grading process by forking a pre-imported server
        (:class:`autograder.forkserver.ForkServer`) instead of a new interpreter: same isolation,
        seconds faster per student.
    sandbox : bool
        Run every kernel in the bubblewrap sandbox (:mod:`autograder.sandbox`). Checked
        before anything is graded: :class:`~autograder.sandbox.SandboxUnavailable` says what
        is missing. ``False`` only for trusted notebooks.
    limits : Limits, optional
        Resource limits of each kernel; default :class:`~autograder.sandbox.Limits` with
        ``cpu_seconds`` = ``timeout``.
    cluster : str, optional
        Grade each student on a Dask worker (:mod:`autograder.cluster`): ``local:N`` or a
        scheduler's ``tcp://`` / ``tls://`` address; ``jobs`` is then ignored (each worker
        grades as many students at a time as it has threads). Checked, and the scheduler
        reached, before anything is graded.
    insecure_cluster : bool
        Allow plain ``tcp://`` to a scheduler that is not on this machine.

    Returns
    -------
    GradeRun
        One row per student. A student whose submission, assignment source, configuration,
        limits and grader version are all unchanged since the last run into ``out`` keeps
        the stored grade without running a kernel (listed in ``reused``).
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: expected an integer >= 1, got {jobs!r}")
    if not timeout or timeout <= 0:
        raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
    submissions, out = Path(submissions), Path(out)
    if not submissions.is_dir():
        raise ValueError(f"submissions: expected a folder, got {submissions}")
    if _inside(out, submissions) or _inside(submissions, out):
        raise ValueError(f"out: {out} must not be inside submissions {submissions} or contain it")
    config_file = None
    if course is not None:
        exercises_dir = course_source_dir(course)
        if (Path(course) / "nbgrader_config.py").is_file():
            config_file = Path(course) / "nbgrader_config.py"
    source_dir = assignment_dir(assignment, exercises_dir)
    if limits is None:
        limits = Limits(cpu_seconds=max(1, int(timeout)))
    address = None
    if cluster is not None:
        from .cluster import parse_address

        address = parse_address(cluster, insecure_cluster)
        fork_server_here = False  # the workers start their own
    else:
        fork_server_here = fork_server
    if sandbox and address is None:  # with a cluster, each worker checks its own
        check_available()
    use_interpreter_path()
    out.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{(out / 'gradebook.db').resolve()}"
    # Each entry within its own budget: a folder of millions of files cannot stall the run.
    before = entry_hashes(submissions)
    state = GradingState(out)
    key_of_run = run_key(source_dir, config_file, timeout=timeout, cell_timeout=cell_timeout,
                         limits={**asdict(limits), "sandbox": bool(sandbox)})
    tmp = Path(tempfile.mkdtemp(prefix="autograder-grade-"))
    server = grid = None
    try:
        if address is not None:
            from .cluster import Cluster

            # An unreachable scheduler stops the run here; the workers start their fork
            # servers (local:N: the cluster itself) while the assignment is prepared.
            grid = Cluster(address, hidden_tests_path(source_dir), fork_server)
        if fork_server_here and (force or not all(state.may_reuse(name, sha)
                                             for name, sha in before.items()
                                             if not name.startswith((".", "__MACOSX")))):
            # Someone will be graded: start the server now, its imports overlap prepare().
            server = ForkServer(tmp / "server", preload=hidden_tests_path(source_dir))
        prep = prepare(assignment, tmp / "prep", exercises_dir, db_url=db_url,
                       config_file=config_file)
        expected = {n: set(autograded_cells(prep.release_nb(n))) for n in prep.notebooks}
        secrets = [s for n in prep.notebooks for s in secret_lines(prep.source_nb(n),
                                                                   solutions=False)]
        secrets += hidden_file_lines(prep.hidden_tests,
                                     [prep.release_nb(n) for n in prep.notebooks])
        subs = collect(submissions, expected, tmp / "collect", hashes=before)

        rows, all_verdicts, reused, to_run = [], {}, [], []
        in_gradebook = _students_in_gradebook(db_url, assignment, prep.course_id)
        for sub in subs:
            key = student_key(key_of_run, sub) if sub.sha256 else ""
            hit = None if (force or not key) else state.lookup(sub.student, key)
            if hit is None:
                to_run.append((sub, key))
                continue
            row, verdicts = hit
            if sub.student not in in_gradebook:  # e.g. a new gradebook.db: put it back
                record_in_gradebook(db_url, assignment, sub.student, verdicts, prep.course_id)
            rows.append(row)
            all_verdicts[sub.student] = verdicts
            reused.append(sub.student)

        def job(item):
            i, (sub, key) = item
            ready = {n: f.path for n, f in sub.notebooks.items() if f.status is None}
            if not ready:
                return sub, key, None
            return sub, key, run_with_retry(prep, sub.student, ready, tmp / "run" / f"{i:05d}",
                                            timeout=timeout, cell_timeout=cell_timeout,
                                            server=server, limits=limits, sandbox=sandbox)

        if fork_server_here and to_run and server is None:
            server = ForkServer(tmp / "server", preload=hidden_tests_path(source_dir))
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(subs), initial=len(reused), desc=f"grading {assignment}",
                       unit="student", file=sys.stderr)
        cohort_log = CohortLog(out)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = pool.map(job, enumerate(to_run)) if grid is None else grid.results(
                prep, to_run, tmp / "cluster", timeout=timeout, cell_timeout=cell_timeout,
                limits=limits, sandbox=sandbox, fork_server=fork_server)
            for sub, key, run in results:
                # A failure of the grader itself (not of the student's work) is not
                # remembered: the next run tries that student again.
                cacheable = bool(key) and not (run is not None and run.status == "crashed"
                                               and run.detail.startswith("could not run"))
                try:
                    verdicts, pages = _verdicts_for(prep, sub, run, secrets)
                except Exception as exc:  # a verify failure is this student's, not the run's
                    verdicts = [Verdict(n, "crashed", 0.0, prep.max_scores[n],
                                        f"grader error while verifying: {type(exc).__name__}: "
                                        f"{exc}"[:300]) for n in prep.notebooks]
                    pages = dict.fromkeys(prep.notebooks)
                    cacheable = False
                row = combine(sub.student, assignment, verdicts, note=sub.note)
                for v in verdicts:
                    write_feedback(out, sub.student, assignment, v, pages[v.notebook],
                                   manual_cells(prep.release_nb(v.notebook)))
                record_in_gradebook(db_url, assignment, sub.student, verdicts, prep.course_id)
                cohort_log.append(record_of_run(sub.student, run, verdicts, secrets))
                rows.append(row)
                all_verdicts[sub.student] = verdicts
                if cacheable:
                    state.store(key, row, verdicts, sub)
                else:
                    state.forget(sub.student)
                state.save()  # after every student: an interrupted run resumes from here
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        rows.sort(key=lambda r: r.student)
        csv_path = write_grades_csv(rows, out / "grades.csv")
        cohort_log.compact(r.student for r in rows)
    finally:
        if server is not None:
            server.close()
        if grid is not None:
            grid.close()
        shutil.rmtree(tmp, ignore_errors=True)
    # An entry that could not be hashed before is not waited for again: the grader never
    # writes into SUBMISSIONS, this is only its own proof, and the student is invalid anyway.
    unhashable = {name for name, sha in before.items() if sha.startswith(UNHASHABLE)}
    after = entry_hashes(submissions, skip=unhashable)
    before = {name: sha for name, sha in before.items() if name not in unhashable}
    if after != before:
        # A bug in this tool, never the student's doing: say it loudly.
        raise RuntimeError(f"submissions changed during grading: {sorted(set(after) ^ set(before))}"
                           " or contents differ")
    text = summary(rows)
    if reused:
        text += (f"\n{len(reused)} unchanged submission(s) kept their stored grade "
                 f"(not re-graded; --force re-grades), {len(rows) - len(reused)} graded now")
    try:
        report_path = write_report([out])
    except Exception as exc:  # the grades are written; the report is extra
        report_path = None
        text += f"\ncohort report not written: {type(exc).__name__}: {exc}"
    return GradeRun(rows, all_verdicts, csv_path, text, reused, report_path)
