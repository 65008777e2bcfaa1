"""Grading speed: our ``python -m autograder grade`` against plain ``nbgrader autograde``.

Builds N synthetic submissions of ``gd_basics`` (the released notebook with its solution cells
filled in from the source, every third one left untouched so that failing tests are graded
too), then, in the same run and on the same submissions:

* ours: ``python -m autograder grade gd_basics SUBS --out OUT --force --jobs J`` (wall time of
  the whole command: preparing the assignment, isolation, verification, feedback pages,
  gradebook; ``--force`` so nothing is taken from a previous run);
* plain nbgrader: ``nbgrader autograde gd_basics`` in a temporary standard course directory
  (wall time of ``autograde`` only; ``generate_assignment`` is not counted, which favours it).

Both are also run on a class with no submission: that is each tool's fixed cost per run
(imports; for ours also preparing the assignment). Prints ONE JSON line::

    {"n": ..., "ours_s_per_submission": ..., "nbgrader_s_per_submission": ..., "ratio": ...,
     "ours_jobs2_s_per_submission": ..., "ours_fixed_s": ..., "nbgrader_fixed_s": ...,
     "ours_marginal_s_per_submission": ..., "nbgrader_marginal_s_per_submission": ...,
     "marginal_ratio": ..., "projected_300x5_min_2cores": ..., "load1": ..., "cores": ...}

``ratio`` compares whole runs of N at one submission at a time (nbgrader grades
sequentially), fixed costs included; ``marginal_ratio`` compares the cost of one more
submission, (run - fixed) / N, which is what a class of hundreds pays.
``ratio_vs_autograde_plus_feedback`` compares with plain nbgrader doing what ours does for
every student, ``autograde`` then ``generate_feedback`` (which ours runs per student, with
hidden tests stripped). ``projected_300x5_min_2cores`` is 5 runs (assignments) of 300
students: 5 (fixed + 300 x the ``--jobs 2`` marginal cost); ``nbgrader_projected_300x5_min``
the same for plain nbgrader (which grades one notebook at a time). The goal (issue 7) is a
ratio <= 1.2 and a projection within 15 minutes. The figures depend on the machine's load
(``load1``, the 1-minute load average at the start, is recorded with them); the machine this
was written on is shared.

``ratio_parallel`` compares ours at ``--jobs`` = the number of cores (when measured) with
plain ``autograde``, which grades one notebook at a time.
``projected_300x5_min_2cores`` uses the fastest of the ``--jobs`` values measured (2 and 3
by default: a third job fills the cores while another student's kernel starts) and says
which in ``projected_jobs``; ``projected_300x5_min_jobs2`` is the ``--jobs 2`` figure.

``--baseline REV`` measures instead what a change to the grader costs: the grader of git
revision ``REV`` (e.g. the commit before the isolation of issue 14) and the working tree's,
alternately (``--repeats`` rounds, the order swapped every round), each on the same N
submissions and on an empty class, ``--jobs 1``; ``baseline_marginal_ratio`` is the median
over rounds of (ours - fixed) / (baseline's - its fixed) per submission, and
``baseline_ratio`` the median of the whole runs' ratio. Plain ``nbgrader autograde`` is timed
in every round too (``marginal_ratio``, as above, its median).

Usage: ``.venv/bin/python benchmarks/grading.py [--n 6] [--jobs 2,3] [--skip-jobs2]
[--no-fork-server] [--baseline REV --repeats 3]``

Grading on a cluster (issue 17): ``--cluster local:2 [--n 24] [--repeats 3]`` instead times,
alternately and on the same N submissions, ``grade --jobs 2`` and ``grade --cluster local:2``
(and each on an empty class: the fixed cost, for the cluster its workers' start), and prints
``cluster_ratio``: cluster seconds per submission over ``--jobs 2`` seconds per submission,
whole runs, median of the repeats (goal <= 1.15), with ``cluster_marginal_ratio`` (fixed costs
taken out) and the load average before and after. ``local_cpu_s`` and ``cluster_cpu_s`` are
the CPU seconds (user + sys) of a whole run, every process it started (the coordinator, fork
servers, Dask workers, and the students' processes and kernels, which cost the same either
way; counted by ``perf stat``, else only the processes a run waits for: ``cpu_counted`` says
which), and ``cluster_extra_cpu_s`` the median of their difference per round: what the
cluster adds, which a loaded machine inflates far less than wall time. With
``--baseline REV`` the grader of git revision ``REV`` is timed too, in the same rounds (the
order swapped every round): ``baseline_cluster_ratio``, ``baseline_cluster_extra_cpu_s``.

Marginal cost at class size (issue 17): ``--sizes 30,90 --jobs 2,3 [--repeats 1] [--n 6]``
grades, for each ``--jobs`` value, an empty class, the default run's small class (``--n``)
and two class sizes N1 < N2, with ours only, and prints one JSON line per ``--jobs`` value:

* ``measured_marginal_s_per_submission``: the cost of one more student at class size,
  (t(N2) - t(N1)) / (N2 - N1), which is what a class of hundreds pays (the fixed cost and
  the ramp-up of the first students cancel out);
* ``projected_marginal_s_per_submission``: what the default small run projects,
  (t(n) - t(empty)) / n, and ``projection_error`` = measured / projected - 1;
* ``projected_300x5_min``: 5 (t(empty) + 300 x measured) / 60, five assignments of 300
  students (goal: 15 minutes on 2 cores), and ``small_run_projected_300x5_min`` the same
  from the small run's figure.

From 30 students on, the marginal cost no longer depends on the class size (the runs of 30,
60 and 120 students of issue 17 agree); 30,90 is the default stable pair.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "gd_basics"


def child_env() -> dict[str, str]:
    # nbgrader runs ``alembic`` by name: the interpreter's folder goes first on PATH.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@functools.cache
def _perf() -> str | None:
    """``perf``, if it can count this user's processes here (else ``None``)."""
    perf = shutil.which("perf")
    if perf is None:
        return None
    probe = subprocess.run(
        [perf, "stat", "-x,", "-e", "task-clock", "--", "true"], capture_output=True, text=True
    )
    return perf if probe.returncode == 0 and "task-clock" in probe.stderr else None


def cpu_counted() -> str:
    """What :func:`run`'s ``cpu_out`` counts on this machine."""
    if _perf():
        return "every process of the run, students and kernels too (perf stat task-clock)"
    return "the processes the run waited for (getrusage of children)"


def run(cmd, cwd, expect_error: str = "", cpu_out: list | None = None) -> float:
    """Run ``cmd``; return its wall time in seconds (raises with its output if it fails,
    unless it fails with ``expect_error`` in its output). ``cpu_out`` gets the CPU seconds
    (user + sys) of ``cmd`` and every process it started, however deep, even those nobody
    waits for (a Dask worker started by multiprocessing's fork server, a student forked by
    ours), counted by ``perf stat``'s task clock; without ``perf``, of the processes
    waited for (:func:`cpu_counted` says which)."""
    cpu0 = _children_cpu()
    perf_out = None
    if cpu_out is not None and _perf():
        fd, perf_out = tempfile.mkstemp(prefix="bench-perf-", suffix=".csv")
        os.close(fd)
        cmd = [_perf(), "stat", "-x,", "-e", "task-clock", "-o", perf_out, "--", *cmd]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=child_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if perf_out is not None:
        text = Path(perf_out).read_text()
        os.unlink(perf_out)
        [line] = [ln for ln in text.splitlines() if ",task-clock," in ln]
        cpu_out.append(float(line.split(",")[0]) / 1000)  # milliseconds
    elif cpu_out is not None:
        cpu_out.append(_children_cpu() - cpu0)
    if proc.returncode != 0 and not (expect_error and expect_error in proc.stderr):
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr[-3000:]}")
    return seconds


def synthetic_submissions(tmp: Path, n: int) -> Path:
    """``tmp/subs/student-XX/gd_basics.ipynb``: solutions filled in, every third one blank."""
    rel = tmp / "release"
    run([sys.executable, "-m", "autograder", "release", ASSIGNMENT, "--out", rel], REPO)
    release_nb = nbformat.read(str(rel / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), as_version=4)
    source_nb = nbformat.read(
        str(REPO / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), as_version=4
    )
    solutions = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in source_nb.cells}
    subs = tmp / "subs"
    for i in range(n):
        nb = nbformat.reads(nbformat.writes(release_nb), as_version=4)
        if i % 3 != 2:
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("solution"):
                    cell.source = solutions[meta["grade_id"]]
        folder = subs / f"student-{i:02d}"
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{ASSIGNMENT}.ipynb"))
    return subs


NBGRADER_CONFIG = """c = get_config()
c.CourseDirectory.course_id = "gd-course"
c.Execute.timeout = 60
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:"]
"""


def plain_nbgrader(tmp: Path, subs: Path, feedback: bool = False) -> tuple[float, float]:
    """Seconds of ``nbgrader autograde`` on every submission in a standard course directory,
    and of the ``generate_feedback`` that follows (0 unless ``feedback``)."""
    course = tmp / f"plain-{subs.name}"
    shutil.copytree(
        REPO / "exercises" / ASSIGNMENT,
        course / "source" / ASSIGNMENT,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
    )
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    for folder in sorted(subs.iterdir()):
        shutil.copytree(folder, course / "submitted" / folder.name / ASSIGNMENT)
    run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT], course)
    # On an empty class nbgrader does all its set-up, then stops with this error.
    seconds = run(
        [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT],
        course,
        expect_error="No notebooks were matched",
    )
    fb = 0.0
    if feedback:
        fb = run([sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT], course)
    return seconds, fb


def ours(
    tmp: Path,
    subs: Path,
    jobs: int,
    fork_server: bool = True,
    cluster: str | None = None,
    repo: Path = REPO,
    tag: str = "",
    cpu_out: list | None = None,
) -> float:
    """Seconds of ``python -m autograder grade`` of the grader in ``repo`` (its exercises)."""
    out = tmp / f"ours{tag}-{subs.name}-jobs{jobs}-{fork_server}-{cluster}".replace(":", "")
    extra = [] if fork_server else ["--no-fork-server"]
    extra += ["--cluster", cluster] if cluster else []
    return run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            ASSIGNMENT,
            subs,
            "--out",
            out,
            "--jobs",
            str(jobs),
            "--no-progress",
            "--force",
            *extra,
        ],
        repo,
        cpu_out=cpu_out,
    )


def checkout(rev: str, into: Path) -> Path:
    """The repository's files at git revision ``rev`` (``git archive``), in ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def compare_with_baseline(rev: str, n: int, repeats: int) -> dict:
    """Ours against the grader of ``rev`` and plain nbgrader, alternately; medians."""
    import statistics

    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmpname:
        tmp = Path(tmpname)
        base = checkout(rev, tmp / "baseline")
        subs = synthetic_submissions(tmp, n)
        empty = tmp / "empty"
        empty.mkdir()
        rounds = []
        for r in range(repeats):
            order = [("ours", REPO), ("baseline", base)]
            if r % 2:
                order.reverse()
            t = {}
            for name, repo in order:
                t[f"{name}_fixed"] = ours(tmp, empty, 1, repo=repo, tag=f"{name}{r}")
                t[name] = ours(tmp, subs, 1, repo=repo, tag=f"{name}{r}")
            t["nbgrader_fixed"], _ = plain_nbgrader(tmp, empty.rename(tmp / f"empty{r}"))
            (tmp / "empty").mkdir()
            sub_copy = tmp / f"subs{r}"
            shutil.copytree(subs, sub_copy)
            t["nbgrader"], _ = plain_nbgrader(tmp, sub_copy)
            rounds.append(t)

    def per_sub(t, name):
        return (t[name] - t[f"{name}_fixed"]) / n

    def median(f):
        return round(statistics.median(f(t) for t in rounds), 3)

    return {
        "n": n,
        "repeats": repeats,
        "baseline": rev,
        "ours_marginal_s_per_submission": median(lambda t: per_sub(t, "ours")),
        "baseline_marginal_s_per_submission": median(lambda t: per_sub(t, "baseline")),
        "nbgrader_marginal_s_per_submission": median(lambda t: per_sub(t, "nbgrader")),
        "baseline_marginal_ratio": median(lambda t: per_sub(t, "ours") / per_sub(t, "baseline")),
        "baseline_ratio": median(lambda t: t["ours"] / t["baseline"]),
        "marginal_ratio": median(lambda t: per_sub(t, "ours") / per_sub(t, "nbgrader")),
        "baseline_marginal_ratio_of_nbgrader_ratios": median(
            lambda t: per_sub(t, "baseline") / per_sub(t, "nbgrader")
        ),
        "rounds": [{k: round(v, 2) for k, v in t.items()} for t in rounds],
    }


def cluster_main(
    cluster: str, n: int, repeats: int, jobs: int = 2, baseline: str | None = None
) -> dict:
    """``--jobs`` against ``--cluster`` on the same submissions, alternately (see the top);
    with ``baseline``, the grader of that git revision too, in the same rounds."""
    import statistics

    load = [round(os.getloadavg()[0], 2)]
    times: dict[str, list[float]] = {"local": [], "cluster": [], "local0": [], "cluster0": []}
    cpu: dict[str, list[float]] = {"local": [], "cluster": []}
    if baseline:
        times.update({"baseline_local": [], "baseline_cluster": []})
        cpu.update({"baseline_local": [], "baseline_cluster": []})
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmpname:
        tmp = Path(tmpname)
        subs = synthetic_submissions(tmp, n)
        empty = tmp / "empty"
        empty.mkdir()
        old = checkout(baseline, tmp / "baseline") if baseline else None
        for r in range(repeats):
            pairs = [("", REPO), ("baseline_", old)] if old else [("", REPO)]
            for tag, repo in pairs if r % 2 == 0 else pairs[::-1]:
                for mode, where in (("local", None), ("cluster", cluster)):
                    times[tag + mode].append(
                        ours(
                            tmp,
                            subs,
                            jobs=jobs,
                            cluster=where,
                            repo=repo,
                            tag=tag,
                            cpu_out=cpu[tag + mode],
                        )
                    )
            times["local0"].append(ours(tmp, empty, jobs=jobs))
            times["cluster0"].append(ours(tmp, empty, jobs=jobs, cluster=cluster))
    load.append(round(os.getloadavg()[0], 2))
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    result = {
        "n": n,
        "repeats": repeats,
        "cluster": cluster,
        "jobs": jobs,
        "local_s_per_submission": round(med["local"] / n, 3),
        "cluster_s_per_submission": round(med["cluster"] / n, 3),
        "cluster_ratio": round(med["cluster"] / med["local"], 3),
        "local_fixed_s": round(med["local0"], 2),
        "cluster_fixed_s": round(med["cluster0"], 2),
        "cluster_marginal_ratio": round(
            (med["cluster"] - med["cluster0"]) / (med["local"] - med["local0"]), 3
        ),
        # CPU per run (the students' processes and kernels cost the same either way): what
        # the cluster adds, judged under load too.
        "local_cpu_s": round(med_cpu["local"], 2),
        "cluster_cpu_s": round(med_cpu["cluster"], 2),
        "cpu_counted": cpu_counted(),
        "cluster_extra_cpu_s": round(
            statistics.median(c - lo for c, lo in zip(cpu["cluster"], cpu["local"], strict=True)), 2
        ),
        "runs_s": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "runs_cpu_s": {k: [round(t, 2) for t in v] for k, v in cpu.items()},
        "load1_before_after": load,
        "cores": os.cpu_count(),
    }
    if baseline:
        pairs = zip(cpu["baseline_cluster"], cpu["baseline_local"], strict=True)
        extra = [c - lo for c, lo in pairs]
        result.update(
            {
                "baseline": baseline,
                "baseline_cluster_ratio": round(med["baseline_cluster"] / med["baseline_local"], 3),
                "baseline_local_cpu_s": round(med_cpu["baseline_local"], 2),
                "baseline_cluster_cpu_s": round(med_cpu["baseline_cluster"], 2),
                "baseline_cluster_extra_cpu_s": round(statistics.median(extra), 2),
            }
        )
    print(json.dumps(result))
    return result


def sizes_main(
    sizes: list[int],
    jobs_values: list[int],
    cluster: str | None = None,
    repeats: int = 1,
    small: int = 6,
) -> list[dict]:
    """The per-student cost a class pays, measured at class size and as projected (see the top).

    For each ``--jobs`` value: an empty class (the fixed cost), the default benchmark's small
    class of ``small`` submissions, and the two class sizes; ``repeats`` rounds, medians.
    One JSON line per ``--jobs`` value.
    """
    import statistics

    n1, n2 = sizes
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-sizes-") as tmpname:
        tmp = Path(tmpname)
        classes = {0: tmp / "empty"}
        classes[0].mkdir()
        for n in sorted({small, n1, n2}):
            part = tmp / f"n{n}"
            part.mkdir()
            classes[n] = synthetic_submissions(part, n)
        for jobs in jobs_values:
            load = [round(os.getloadavg()[0], 2)]
            runs: dict[int, list[float]] = {n: [] for n in classes}
            for r in range(repeats):
                for n, subs in classes.items():
                    runs[n].append(ours(tmp, subs, jobs=jobs, cluster=cluster, tag=f"r{r}n{n}"))
            load.append(round(os.getloadavg()[0], 2))
            t = {n: statistics.median(v) for n, v in runs.items()}
            fixed = t[0]
            measured = (t[n2] - t[n1]) / (n2 - n1)
            projected = (t[small] - fixed) / small  # what the default run's figure says
            result = {
                "jobs": jobs,
                "cluster": cluster,
                "sizes": [n1, n2],
                "small_n": small,
                "repeats": repeats,
                "measured_marginal_s_per_submission": round(measured, 3),
                "projected_marginal_s_per_submission": round(projected, 3),
                "projection_error": round(measured / projected - 1, 3),
                "s_per_submission": {str(n): round(v / n, 3) for n, v in t.items() if n},
                "fixed_s": round(fixed, 2),
                "projected_300x5_min": round(5 * (fixed + 300 * measured) / 60, 1),
                "small_run_projected_300x5_min": round(5 * (fixed + 300 * projected) / 60, 1),
                "goal_300x5_min": 15,
                "run_s": {str(n): [round(x, 1) for x in v] for n, v in runs.items()},
                "load1_before_after": load,
                "cores": os.cpu_count(),
            }
            print(json.dumps(result), flush=True)
            results.append(result)
    return results


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=6, help="synthetic submissions (default 6)")
    p.add_argument("--skip-jobs2", action="store_true", help="only the one-at-a-time runs")
    p.add_argument(
        "--jobs",
        default="2,3",
        help="comma-separated --jobs values for the parallel runs (default 2,3: "
        "the cores, and one more, which fills the cores while kernels start)",
    )
    p.add_argument(
        "--no-fork-server",
        action="store_true",
        help="also time ours with one new interpreter per student (the old way)",
    )
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="time grade --cluster ADDRESS (e.g. local:2) against --jobs 2 instead",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="with --cluster or --baseline: alternate rounds (medians)",
    )
    p.add_argument(
        "--sizes",
        help="two class sizes N1,N2: the marginal cost between them, "
        "against the default run's projection (one JSON line per "
        "--jobs value)",
    )
    p.add_argument(
        "--baseline",
        metavar="REV",
        help="instead: compare with the grader of this git revision (see above)",
    )
    args = p.parse_args(argv)
    if args.sizes:
        sizes = [int(x) for x in args.sizes.split(",")]
        if len(sizes) != 2 or not 0 < sizes[0] < sizes[1]:
            p.error(f"--sizes: expected N1,N2 with 0 < N1 < N2, got {args.sizes!r}")
        try:
            jobs_values = [int(j) for j in args.jobs.split(",")]
        except ValueError:
            p.error(f"--jobs: expected integers separated by commas, got {args.jobs!r}")
        if min(jobs_values) < 1 or args.repeats < 1:
            p.error(
                f"--jobs and --repeats: expected integers >= 1, got {args.jobs!r}, {args.repeats}"
            )
        return sizes_main(sizes, jobs_values, args.cluster, args.repeats, small=args.n)
    if args.cluster:
        if args.repeats < 1:
            p.error(f"--repeats: expected an integer >= 1, got {args.repeats}")
        return cluster_main(args.cluster, args.n, args.repeats, baseline=args.baseline)
    if args.n < 1:
        p.error(f"--n: expected an integer >= 1, got {args.n}")
    if args.repeats < 1:
        p.error(f"--repeats: expected an integer >= 1, got {args.repeats}")
    if args.baseline:
        load1 = os.getloadavg()[0]
        result = {
            **compare_with_baseline(args.baseline, args.n, args.repeats),
            "load1": round(load1, 2),
            "load1_after": round(os.getloadavg()[0], 2),
            "cores": os.cpu_count(),
        }
        print(json.dumps(result))
        return result
    try:
        parallel = sorted({int(j) for j in args.jobs.split(",")})
    except ValueError:
        p.error(f"--jobs: expected integers separated by commas, got {args.jobs!r}")
    if not parallel or min(parallel) < 1:
        p.error(f"--jobs: expected integers >= 1, got {args.jobs!r}")
    load1 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmpname:
        tmp = Path(tmpname)
        subs = synthetic_submissions(tmp, args.n)
        # The fixed cost of one run (imports, preparing the assignment), measured the same way
        # for both tools: a run on a class with no submission.
        empty = tmp / "empty"
        empty.mkdir()
        f_nbgrader, _ = plain_nbgrader(tmp, empty)
        f_ours = ours(tmp, empty, jobs=1)
        # Plain nbgrader's feedback pages (which ours makes for every student), timed apart.
        t_nbgrader, t_feedback = plain_nbgrader(tmp, subs, feedback=True)
        t_ours = ours(tmp, subs, jobs=1)
        t_par = {} if args.skip_jobs2 else {j: ours(tmp, subs, jobs=j) for j in parallel}
        t_ours2 = t_par.get(2)
        t_spawn = ours(tmp, subs, jobs=1, fork_server=False) if args.no_fork_server else None
    t2 = t_ours2 if t_ours2 is not None else t_ours
    m_ours, m_nbgrader = (t_ours - f_ours) / args.n, (t_nbgrader - f_nbgrader) / args.n
    m_ours2 = (t2 - f_ours) / args.n
    best_jobs = min(t_par, key=t_par.get) if t_par else 1
    cores = os.cpu_count() or 1
    m_best = (t_par.get(best_jobs, t_ours) - f_ours) / args.n
    result = {
        "n": args.n,
        "ours_s_per_submission": round(t_ours / args.n, 3),
        "nbgrader_s_per_submission": round(t_nbgrader / args.n, 3),
        "ratio": round(t_ours / t_nbgrader, 3),
        "ours_jobs2_s_per_submission": None if t_ours2 is None else round(t_ours2 / args.n, 3),
        "ours_fixed_s": round(f_ours, 2),
        "nbgrader_fixed_s": round(f_nbgrader, 2),
        "ours_marginal_s_per_submission": round(m_ours, 3),
        "nbgrader_marginal_s_per_submission": round(m_nbgrader, 3),
        "marginal_ratio": round(m_ours / m_nbgrader, 3),
        "nbgrader_feedback_s_per_submission": round(t_feedback / args.n, 3),
        "ratio_vs_autograde_plus_feedback": round(t_ours / (t_nbgrader + t_feedback), 3),
        # Ours grading in parallel up to the core count (plain autograde grades one at a time).
        "ratio_parallel": None if cores not in t_par else round(t_par[cores] / t_nbgrader, 3),
        **{f"ours_jobs{j}_s_per_submission": round(t / args.n, 3) for j, t in t_par.items()},
        # 5 runs (one per assignment) of 300 students each at the --jobs 2 rate, and at the
        # rate of the fastest --jobs measured (the one the projection is for).
        "projected_300x5_min_jobs2": round(5 * (f_ours + 300 * m_ours2) / 60, 1),
        "projected_jobs": best_jobs,
        "projected_300x5_min_2cores": round(5 * (f_ours + 300 * m_best) / 60, 1),
        "nbgrader_projected_300x5_min": round(5 * (f_nbgrader + 300 * m_nbgrader) / 60, 1),
        "ours_no_fork_server_s_per_submission": None
        if t_spawn is None
        else round(t_spawn / args.n, 3),
        "load1": round(load1, 2),
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
