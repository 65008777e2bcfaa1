"""Command line: ``python -m autograder {release,grade,validate,report,export} ...``.

See autograder/README.md for each command.

Exit status: 0 on success; 1 when ``validate`` finds a failing test; 2 on bad arguments or
when a run could not produce a row for every student.
"""

from __future__ import annotations

import argparse
import sys

from . import EXERCISES_DIR, RELEASE_DIR
from .nbgrader_config import CELL_TIMEOUT
from .run import DEFAULT_TIMEOUT
from .sandbox import Limits, SandboxUnavailable


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    # Long on purpose: the whole command line is declared here, one add_argument per option
    # with its help text (what `--help` shows), so a reader finds every flag in one place.
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", help="write student versions to release/<assignment>/ + zip")
    r.add_argument(
        "assignments", nargs="*", metavar="ASSIGNMENT", help="names under exercises/ (default: all)"
    )
    r.add_argument("--out", default=str(RELEASE_DIR), help="release folder (default: %(default)s)")
    r.add_argument("--exercises", default=str(EXERCISES_DIR), help=argparse.SUPPRESS)

    g = sub.add_parser("grade", help="grade a folder of submissions with nbgrader")
    g.add_argument("assignment", metavar="ASSIGNMENT")
    g.add_argument(
        "submissions",
        metavar="SUBMISSIONS",
        help="folder of <student>.zip files and/or <student>/ folders (read only)",
    )
    g.add_argument(
        "--out", required=True, help="output folder for grades.csv, feedback/, gradebook.db"
    )
    g.add_argument(
        "--jobs",
        type=_positive_int,
        default=1,
        help="students graded in parallel (fastest: the number of cores plus one)",
    )
    g.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        help="wall-clock seconds per student (default: %(default)s)",
    )
    g.add_argument(
        "--cell-timeout",
        type=_positive_int,
        default=CELL_TIMEOUT,
        help="seconds per cell (default: %(default)s)",
    )
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument(
        "--force",
        action="store_true",
        help="grade every student again (default: keep the stored grade of an "
        "unchanged submission)",
    )
    g.add_argument(
        "--course",
        metavar="DIR",
        help="take ASSIGNMENT from another nbgrader course directory: "
        "DIR/source/ASSIGNMENT/ with DIR/nbgrader_config.py if any",
    )
    g.add_argument(
        "--memory-mb",
        type=_positive_int,
        default=Limits.memory_mb,
        help="address space of a student's kernel, MB (default: %(default)s)",
    )
    g.add_argument(
        "--max-processes",
        type=_positive_int,
        default=Limits.processes,
        help="processes a student's kernel may run (default: %(default)s)",
    )
    g.add_argument(
        "--output-mb",
        type=_positive_float,
        default=Limits.output_mb,
        help="everything a student's kernel may send (outputs, their metadata, "
        "display updates, widget messages), MB (default: %(default)s)",
    )
    g.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="run kernels without the bubblewrap sandbox, as yourself: only for "
        "trusted notebooks (student code could then read the hidden tests "
        "and change grades)",
    )
    g.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="grade on a Dask cluster: local:N (N worker processes here), or a "
        "scheduler's tls://HOST:PORT (tcp:// on this machine); see "
        "autograder/README.md",
    )
    g.add_argument(
        "--insecure-cluster",
        action="store_true",
        help="allow plain tcp:// to a scheduler on another machine (it runs what "
        "clients send, unencrypted and unauthenticated)",
    )
    g.add_argument("--exercises", default=str(EXERCISES_DIR), help=argparse.SUPPRESS)
    # One new interpreter per student instead of forking a pre-imported server (benchmarks).
    g.add_argument("--no-fork-server", action="store_true", help=argparse.SUPPRESS)

    v = sub.add_parser("validate", help="run a notebook's tests; exit 1 if any fails")
    v.add_argument("notebook", metavar="NOTEBOOK")
    v.add_argument("--cell-timeout", type=_positive_int, default=CELL_TIMEOUT)

    c = sub.add_parser("report", help="the cohort report (report.html, report.csv) of grade runs")
    c.add_argument("outs", nargs="+", metavar="OUT", help="--out folders of `grade`")
    c.add_argument(
        "--out",
        help="folder to write report.html and report.csv into (default: "
        "OUT, when only one is given)",
    )

    e = sub.add_parser(
        "export", help="one CSV for an LMS: student, total, one column per assignment"
    )
    e.add_argument(
        "grades_dirs",
        nargs="+",
        metavar="GRADES_DIR",
        help="--out folders of `grade` (one assignment each)",
    )
    e.add_argument("--out", help="the CSV to write")
    e.add_argument(
        "--gradebook",
        metavar="DB",
        help="also write the autograded cell scores into this nbgrader gradebook.db "
        "(an existing course's, read by its formgrader)",
    )
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "release":
            from .course import release

            for path in release(args.assignments or None, args.out, args.exercises):
                print(f"released {path.with_suffix('')}/ and {path}")
            return 0
        if args.command == "grade":
            from .pipeline import grade_assignment

            run = grade_assignment(
                args.assignment,
                args.submissions,
                args.out,
                jobs=args.jobs,
                timeout=args.timeout,
                cell_timeout=args.cell_timeout,
                exercises_dir=args.exercises,
                course=args.course,
                force=args.force,
                progress=not args.no_progress,
                fork_server=not args.no_fork_server,
                sandbox=not args.unsafe_no_sandbox,
                limits=Limits(
                    memory_mb=args.memory_mb,
                    cpu_seconds=max(1, int(args.timeout)),
                    processes=args.max_processes,
                    output_mb=args.output_mb,
                ),
                cluster=args.cluster,
                insecure_cluster=args.insecure_cluster,
            )
            print(run.summary)
            print(f"grades: {run.csv_path}")
            if run.report_path is not None:
                print(f"report: {run.report_path}")
            return 0
        if args.command == "validate":
            from .validate import validate_notebook

            result = validate_notebook(args.notebook, cell_timeout=args.cell_timeout)
            for note in result.notes:
                print(f"note: {note}")
            for msg in result.messages:
                print(f"FAILED {msg}")
            print("all tests passed" if result.ok else f"{len(result.messages)} problem(s)")
            return 0 if result.ok else 1
        if args.command == "report":
            from .cohort import write_report

            print(f"report: {write_report(args.outs, args.out)}")
            return 0
        if args.command == "export":
            from .report import copy_scores_to_gradebook, export_lms

            if not args.out and not args.gradebook:
                raise ValueError("export: give --out lms.csv and/or --gradebook gradebook.db")
            if args.out:
                print(f"wrote {export_lms(args.grades_dirs, args.out)}")
            for d in args.grades_dirs if args.gradebook else ():
                n = copy_scores_to_gradebook(d, args.gradebook)
                print(f"{d}: {n} cell scores written to {args.gradebook}")
            return 0
    except (ValueError, TypeError, RuntimeError, SandboxUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.command != "grade":
            raise
        print(
            "interrupted: the students graded so far are stored in grading_state.json; run "
            "the same command again to grade the rest",
            file=sys.stderr,
        )
        return 130
    return 2  # pragma: no cover - argparse enforces a command


if __name__ == "__main__":
    sys.exit(main())
