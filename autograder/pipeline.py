"""The whole flow of ``grade`` (collect -> run -> verify -> report).

Kept apart from :mod:`autograder.__main__` so the command line stays a thin argparse layer and
the flow can be called from Python (tests, a notebook, a JupyterHub service).
"""

from __future__ import annotations

import functools
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import EXERCISES_DIR, patches
from .cohort import CohortLog, record_of_run, write_report
from .collect import UNHASHABLE, Submission, collect, entry_hashes
from .course import Prepared, assignment_dir, prepare, use_interpreter_path
from .forkserver import ForkServer
from .hidden import hidden_tests_path
from .leaks import find_leaks, hidden_file_lines, secret_lines
from .nbgrader_config import CELL_TIMEOUT, course_source_dir
from .notebook import HIDDEN_BEGIN, HIDDEN_END, autograded_cells, read_notebook
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
from .verify import Verdict, tamper_check, verdict_from_autograded


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


def _verdicts_for(
    prep: Prepared, sub: Submission, run: RunResult | None, secrets: list[str]
) -> tuple[list[Verdict], dict[str, Path | None]]:
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
        v = verdict_from_autograded(
            name,
            autograded,
            prep.release_nb(name),
            prep.source_nb(name),
            reported=run.reported.get(name),
            report=run.reports.get(name),
        )
        if v.status == "graded":
            problems = tamper_check(
                read_notebook(nbf.path), prep.release_nb(name), prep.source_nb(name)
            )
            if problems:
                v.status = "tampered"
                v.detail = "; ".join(
                    filter(
                        None,
                        [
                            "instructor's cells changed (graded on the "
                            "instructor's copy): " + ", ".join(problems),
                            v.detail,
                        ],
                    )
                )
        if nbf.detail:
            v.detail = "; ".join(filter(None, [nbf.detail, v.detail]))
        page = run.feedback.get(name)
        if page is not None:
            text = page.read_text(encoding="utf-8", errors="replace")
            if find_leaks(text, secrets, markers=(HIDDEN_BEGIN, HIDDEN_END)):
                # Never ship it; the status page still tells the student the outcome.
                v.detail = "; ".join(
                    filter(None, [v.detail, "feedback withheld (it quoted hidden tests)"])
                )
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


def run_with_retry(
    prep: Prepared,
    student: str,
    ready: dict[str, Path],
    workdir,
    *,
    timeout: float,
    cell_timeout: int,
    server: ForkServer | None,
    limits: Limits,
    sandbox: bool,
) -> RunResult:
    """Stage 2 for one student (:func:`autograder.run.run_student`), in ``workdir-0``.

    A kernel that never started is tried once more (in ``workdir-1``); a failure of the
    grader itself is a ``crashed`` row whose detail starts with "could not run" (never
    stored, so the next run tries again). Also what a cluster worker runs
    (:mod:`autograder.cluster`).
    """
    run = None
    for attempt in range(2):
        try:
            run = run_student(
                prep,
                student,
                ready,
                f"{workdir}-{attempt}",
                timeout=timeout,
                cell_timeout=cell_timeout,
                server=server,
                limits=limits,
                sandbox=sandbox,
            )
        except Exception as exc:  # e.g. the disk is full: this student's row says so
            return RunResult(
                student, "crashed", f"could not run: {type(exc).__name__}: {exc}"[:300]
            )
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


@dataclass
class _Plan:
    """What :func:`grade_assignment` checked and worked out before anything runs."""

    assignment: str
    submissions: Path
    out: Path
    exercises_dir: Path
    source_dir: Path
    config_file: Path | None
    limits: Limits
    #: The Dask scheduler (``None``: grade on this machine).
    address: object | None
    #: Start a fork server here: without a cluster, and for ``local:N``, whose workers (on
    #: this machine) share it through a unix socket; a scheduler's workers start their own.
    fork_server_here: bool

    @property
    def db_url(self) -> str:
        return f"sqlite:///{(self.out / 'gradebook.db').resolve()}"


def _plan(
    assignment: str,
    submissions,
    out,
    *,
    jobs,
    timeout,
    exercises_dir,
    course,
    limits,
    cluster,
    insecure_cluster,
    fork_server,
    sandbox,
) -> _Plan:
    """Check :func:`grade_assignment`'s arguments (``ValueError`` naming the bad one)."""
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
        from .cluster import check_dask_installed, parse_address

        address = parse_address(cluster, insecure_cluster)
        check_dask_installed()
    if sandbox and address is None:  # with a cluster, each worker checks its own
        check_available()
    return _Plan(
        assignment,
        submissions,
        out,
        exercises_dir,
        source_dir,
        config_file,
        limits,
        address,
        fork_server and (address is None or address.workers is not None),
    )


@dataclass
class _Grading:
    """One run's shared state, and the last step for each student (:meth:`finish`)."""

    plan: _Plan
    prep: Prepared
    state: GradingState
    cohort_log: CohortLog
    #: Lines that must never reach a student (hidden tests), for the feedback leak check.
    secrets: list[str] = field(default_factory=list)
    verdicts: dict[str, list[Verdict]] = field(default_factory=dict)

    def reuse_stored(self, subs: list[Submission], key_of_run: str, force: bool):
        """Rows kept from the last run (unchanged submissions) and the ``(sub, key)`` to run."""
        plan, prep = self.plan, self.prep
        rows, to_run = [], []
        in_gradebook = _students_in_gradebook(plan.db_url, plan.assignment, prep.course_id)
        for sub in subs:
            key = student_key(key_of_run, sub) if sub.sha256 else ""
            hit = None if (force or not key) else self.state.lookup(sub.student, key)
            if hit is None:
                to_run.append((sub, key))
                continue
            row, verdicts = hit
            if sub.student not in in_gradebook:  # e.g. a new gradebook.db: put it back
                record_in_gradebook(
                    plan.db_url, plan.assignment, sub.student, verdicts, prep.course_id
                )
            rows.append(row)
            self.verdicts[sub.student] = verdicts
        return rows, to_run

    def finish(self, sub: Submission, key: str, run: RunResult | None) -> StudentRow:
        """Stages 3 and 4 for one student: verdicts, feedback, gradebook, cohort, state."""
        plan, prep = self.plan, self.prep
        # A failure of the grader itself (not of the student's work) is not remembered: the
        # next run tries that student again.
        cacheable = bool(key) and not (
            run is not None and run.status == "crashed" and run.detail.startswith("could not run")
        )
        try:
            verdicts, pages = _verdicts_for(prep, sub, run, self.secrets)
        except Exception as exc:  # a verify failure is this student's, not the run's
            verdicts = [
                Verdict(
                    n,
                    "crashed",
                    0.0,
                    prep.max_scores[n],
                    f"grader error while verifying: {type(exc).__name__}: {exc}"[:300],
                )
                for n in prep.notebooks
            ]
            pages = dict.fromkeys(prep.notebooks)
            cacheable = False
        row = combine(sub.student, plan.assignment, verdicts, note=sub.note)
        for v in verdicts:
            write_feedback(
                plan.out,
                sub.student,
                plan.assignment,
                v,
                pages[v.notebook],
                manual_cells(prep.release_nb(v.notebook)),
            )
        record_in_gradebook(plan.db_url, plan.assignment, sub.student, verdicts, prep.course_id)
        self.cohort_log.append(record_of_run(sub.student, run, verdicts, self.secrets))
        self.verdicts[sub.student] = verdicts
        if cacheable:
            self.state.store(key, row, verdicts, sub)
        else:
            self.state.forget(sub.student)
        self.state.save()  # after every student: an interrupted run resumes from here
        return row


def _run_one(prep: Prepared, workdir: Path, options: dict, item):
    """Stage 2 for the ``i``-th student to run: ``(sub, key, RunResult or None)``."""
    i, (sub, key) = item
    ready = {n: f.path for n, f in sub.notebooks.items() if f.status is None}
    if not ready:
        return sub, key, None
    return sub, key, run_with_retry(prep, sub.student, ready, workdir / f"{i:05d}", **options)


def _feedback_secrets(prep: Prepared) -> list[str]:
    """Hidden-test lines (notebook regions and ``hidden_tests.py``) no page may quote."""
    secrets = [s for n in prep.notebooks for s in secret_lines(prep.source_nb(n), solutions=False)]
    return secrets + hidden_file_lines(
        prep.hidden_tests, [prep.release_nb(n) for n in prep.notebooks]
    )


def _check_untouched(submissions: Path, before: dict[str, str]) -> None:
    """``RuntimeError`` if ``submissions`` differs from its hashes ``before`` the run."""
    # An entry that could not be hashed before is not waited for again: the grader never
    # writes into SUBMISSIONS, this is only its own proof, and the student is invalid anyway.
    unhashable = {name for name, sha in before.items() if sha.startswith(UNHASHABLE)}
    after = entry_hashes(submissions, skip=unhashable)
    before = {name: sha for name, sha in before.items() if name not in unhashable}
    if after != before:
        # A bug in this tool, never the student's doing: say it loudly.
        raise RuntimeError(
            f"submissions changed during grading: {sorted(set(after) ^ set(before))}"
            " or contents differ"
        )


def _progress_bar(assignment: str, total: int, done: int):
    """A tqdm bar on stderr, ``done`` of ``total`` students already there (kept grades)."""
    from tqdm import tqdm

    return tqdm(
        total=total, initial=done, desc=f"grading {assignment}", unit="student", file=sys.stderr
    )


def _closing_text(rows: list[StudentRow], reused: int, out: Path) -> tuple[str, Path | None]:
    """The summary the command prints, and the cohort report written into ``out``."""
    text = summary(rows)
    if reused:
        text += (
            f"\n{reused} unchanged submission(s) kept their stored grade "
            f"(not re-graded; --force re-grades), {len(rows) - reused} graded now"
        )
    try:
        return text, write_report([out])
    except Exception as exc:  # the grades are written; the report is extra
        return text + f"\ncohort report not written: {type(exc).__name__}: {exc}", None


def grade_assignment(
    assignment: str,
    submissions,
    out,
    *,
    jobs: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
    cell_timeout: int = CELL_TIMEOUT,
    exercises_dir=EXERCISES_DIR,
    course=None,
    force: bool = False,
    progress: bool = True,
    fork_server: bool = True,
    sandbox: bool = True,
    limits: Limits | None = None,
    cluster: str | None = None,
    insecure_cluster: bool = False,
) -> GradeRun:
    """Grade every student in ``submissions`` with real nbgrader, each in its own process.

    The flow: :func:`_plan` checks the arguments; the fork server (or the cluster) starts
    while :func:`~autograder.course.prepare` builds the assignment's private course;
    :func:`~autograder.collect.collect` copies the submissions; :meth:`_Grading.reuse_stored`
    keeps the grades of unchanged ones; every other student is run by :func:`run_with_retry`
    (here: :func:`_run_one` on a thread pool of ``jobs``; on a cluster, a Dask worker) and
    finished, as each comes back, by :meth:`_Grading.finish` (verdict, feedback, gradebook,
    cohort line, state). Longer than ~80 lines on purpose: that flow reads top to bottom here,
    and its 14 parameters go on to :func:`_plan`, the run key and the runners in calls that
    ``ruff format`` lays out one argument per line.

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
        reached, before anything is graded. From a script, call with ``local:N`` under
        ``if __name__ == "__main__":`` (Dask's worker processes import the script again);
        an unguarded call raises a RuntimeError that says so.
    insecure_cluster : bool
        Allow plain ``tcp://`` to a scheduler that is not on this machine.

    Returns
    -------
    GradeRun
        One row per student. A student whose submission, assignment source, configuration,
        limits and grader version are all unchanged since the last run into ``out`` keeps
        the stored grade without running a kernel (listed in ``reused``).
    """
    plan = _plan(
        assignment,
        submissions,
        out,
        jobs=jobs,
        timeout=timeout,
        exercises_dir=exercises_dir,
        course=course,
        limits=limits,
        cluster=cluster,
        insecure_cluster=insecure_cluster,
        fork_server=fork_server,
        sandbox=sandbox,
    )
    use_interpreter_path()
    plan.out.mkdir(parents=True, exist_ok=True)
    # Each entry within its own budget: a folder of millions of files cannot stall the run.
    before = entry_hashes(plan.submissions)
    state = GradingState(plan.out)
    options = {
        "timeout": timeout,
        "cell_timeout": cell_timeout,
        "limits": plan.limits,
        "sandbox": sandbox,
    }
    tmp = Path(tempfile.mkdtemp(prefix="autograder-grade-"))
    preload = hidden_tests_path(plan.source_dir)
    server = grid = None
    # A local:N cluster's workers fork their students from this process's server.
    new_server = functools.partial(
        ForkServer, tmp / "server", preload=preload, listen=plan.address is not None
    )
    try:
        if plan.fork_server_here and (
            force
            or not all(
                state.may_reuse(name, sha)
                for name, sha in before.items()
                if not name.startswith((".", "__MACOSX"))
            )
        ):
            # Someone will be graded: start the server now, its imports overlap prepare().
            server = new_server()
        if plan.address is not None:
            from .cluster import Cluster

            # An unreachable scheduler stops the run here; a scheduler's workers start their
            # fork servers (local:N: the cluster itself) while the assignment is prepared.
            grid = Cluster(plan.address, preload, fork_server and not plan.fork_server_here)
        # After the server (or cluster) has started: the key imports nbgrader (~1 CPU s),
        # which now overlaps the server's own imports instead of delaying them.
        key_of_run = run_key(
            plan.source_dir,
            plan.config_file,
            timeout=timeout,
            cell_timeout=cell_timeout,
            limits={**asdict(plan.limits), "sandbox": bool(sandbox)},
        )
        # The instructor's gradebook is opened once per student, from this thread: one engine
        # keeps its compiled statements (this process forks nothing; see patches).
        patches.share_gradebook_engines()
        prep = prepare(
            assignment,
            tmp / "prep",
            plan.exercises_dir,
            db_url=plan.db_url,
            config_file=plan.config_file,
        )
        grading = _Grading(plan, prep, state, CohortLog(plan.out), _feedback_secrets(prep))
        subs = collect(
            plan.submissions,
            {n: set(autograded_cells(prep.release_nb(n))) for n in prep.notebooks},
            tmp / "collect",
            hashes=before,
        )
        rows, to_run = grading.reuse_stored(subs, key_of_run, force)
        reused = [r.student for r in rows]
        if plan.fork_server_here and to_run and server is None:
            server = new_server()
        bar = _progress_bar(assignment, len(subs), len(reused)) if progress else None
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = (
                grid.results(
                    prep,
                    to_run,
                    tmp / "cluster",
                    fork_server=fork_server,
                    shared_server=server.address if server is not None else None,
                    **options,
                )
                if grid is not None
                else pool.map(
                    functools.partial(_run_one, prep, tmp / "run", {**options, "server": server}),
                    enumerate(to_run),
                )
            )
            for sub, key, run in results:
                rows.append(grading.finish(sub, key, run))
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        rows.sort(key=lambda r: r.student)
        csv_path = write_grades_csv(rows, plan.out / "grades.csv")
        grading.cohort_log.compact(r.student for r in rows)
    finally:
        if server is not None:
            server.close()
        if grid is not None:
            grid.close(wait=False)  # waited for below, once the report is written
        shutil.rmtree(tmp, ignore_errors=True)
    _check_untouched(plan.submissions, before)
    text, report_path = _closing_text(rows, len(reused), plan.out)
    if grid is not None:
        grid.close()
    return GradeRun(rows, grading.verdicts, csv_path, text, reused, report_path)
