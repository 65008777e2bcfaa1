"""Where one student's grading time goes: CPU and wall seconds per stage, per student.

Runs ``python -m autograder grade gd_basics SUBS --out OUT --force --jobs J`` on N synthetic
submissions (those of :mod:`grading`) with a probe installed in every Python process the
grader starts (the grading process, the fork server, each student's process; never the
sandboxed kernel, whose environment is cleared). The probe wraps the stages' functions and
appends one JSON line per call: wall seconds, the calling thread's CPU seconds (user + sys)
and, for the stages around the kernel, the CPU of the process's children (the sandboxed
kernel: ``bwrap``, ``setpriv``, the interpreter) read from ``/proc``. CPU seconds are what
to compare on a loaded machine; wall seconds say what the student waited for.

Prints ONE JSON line: ``{"n", "jobs", "stages": {role/stage: {"calls_per_student",
"cpu_s", "children_cpu_s", "wall_s"}}, "cpu_per_student_s", "load1_before_after", ...}``,
every figure a mean per student (totals over the run divided by N). Stages nest (``execute``
holds ``kernel_start``), so figures of one role do not add up: ``cpu_per_student_s`` is the
whole CPU per student (grading process + fork server, whose fixed costs are shared by the N
students, + student process + its kernel, read from ``/proc`` before the kernel is stopped).

Usage: ``.venv/bin/python benchmarks/grading_stages.py [--n 30] [--jobs 1] [--repo DIR]
[--cprofile FILE]`` (``--cprofile`` costs much CPU itself: compare runs without it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENV = "AG_STAGE_PROFILE_DIR"
#: Also write a cProfile of every student's process (``PID.pstats`` in the profile folder).
CPROFILE = "AG_STAGE_CPROFILE"
SITECUSTOMIZE = f"""import os
if os.environ.get({ENV!r}):
    import sys
    # The graded checkout first: site runs before `-m` puts the working folder on the path.
    sys.path.insert(0, os.environ["AG_STAGE_REPO"])
    sys.path.insert(0, {str(HERE)!r})
    import grading_stages
    grading_stages.install()
"""

_OUT = None
_ROLE = "grader"


def _cpu_thread() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime + r.ru_stime


def _children_cpu() -> float:
    """CPU of this process's children: reaped ones and the live tree below it."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = r.ru_utime + r.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, list[tuple[int, float]]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                f = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(f[1]), []).append((int(name), sum(map(int, f[11:15])) / tick))
    todo = [os.getpid()]
    while todo:
        for pid, cpu in parents.get(todo.pop(), []):
            total += cpu
            todo.append(pid)
    return total


def _emit(stage: str, t0: float, c0: float, k0: float | None, **extra) -> None:
    global _ROLE
    if _ROLE == "grader" and Path(sys.argv[0]).name == "forkserver.py":
        _ROLE = "fork_server"  # sys.argv[0] is still "-m" while sitecustomize runs
    if _ROLE == "grader" and _in_dask_worker():
        _ROLE = "worker"
    rec = {
        "role": _ROLE,
        "pid": os.getpid(),
        "stage": stage,
        "t0": t0,
        "wall": time.time() - t0,
        "cpu": _cpu_thread() - c0,
        **extra,
    }
    if k0 is not None:
        rec["kids"] = _children_cpu() - k0
    with open(_OUT / f"{os.getpid()}.jsonl", "a") as fh:
        fh.write(json.dumps(rec) + "\n")


def _in_dask_worker() -> bool:
    """A Dask worker process (``--cluster local:N`` starts them with multiprocessing)."""
    import multiprocessing

    return multiprocessing.parent_process() is not None and "distributed" in sys.modules


def _wrap(owner, attr: str, stage: str, kids: bool = False) -> None:
    import functools
    import inspect

    fn = getattr(owner, attr)
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def wrapper(*a, **k):
            t0, c0 = time.time(), _cpu_thread()
            k0 = _children_cpu() if kids else None
            try:
                return await fn(*a, **k)
            finally:
                _emit(stage, t0, c0, k0)
    else:

        @functools.wraps(fn)
        def wrapper(*a, **k):
            t0, c0 = time.time(), _cpu_thread()
            k0 = _children_cpu() if kids else None
            try:
                return fn(*a, **k)
            finally:
                _emit(stage, t0, c0, k0)

    setattr(owner, attr, wrapper)


def _find(module: str, name: str):
    """``module.name``, or ``None`` when this version of the grader has no such thing."""
    import importlib

    try:
        obj = importlib.import_module(module)
    except ImportError:
        return None
    return obj if hasattr(obj, name) else None


def install() -> None:
    """Wrap the grader's stages in this process (called from the generated sitecustomize)."""
    global _OUT, _ROLE
    _OUT = Path(os.environ[ENV])
    server = "--fork-server" in sys.argv or Path(sys.argv[0]).name == "forkserver.py"
    _ROLE = "fork_server" if server else "grader"
    real_fork, real_exit = os.fork, os._exit
    state = {}

    def fork():
        t0, c0 = time.time(), _cpu_thread()
        pid = real_fork()
        global _ROLE
        if pid == 0:
            _ROLE = "student"
            state.update(t0=time.time(), c0=_cpu_thread())
            _emit("fork_to_child", t0, 0.0, None)
            if os.environ.get(CPROFILE):
                import cProfile

                state["profile"] = cProfile.Profile(time.process_time)
                state["profile"].enable()
        else:
            _emit("fork", t0, c0, None)
        return pid

    def _exit(code):
        if _ROLE == "student" and state:
            _emit("student_process", state["t0"], state["c0"], 0.0)
            if "profile" in state:
                state["profile"].disable()
                state["profile"].dump_stats(str(_OUT / f"{os.getpid()}.pstats"))
        real_exit(code)

    os.fork, os._exit = fork, _exit
    import nbconvert.preprocessors as nbp
    import nbgrader.preprocessors as p
    from nbclient import NotebookClient
    from nbconvert.exporters import HTMLExporter
    from nbgrader.api import Gradebook
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.converters.autograde import Autograde
    from nbgrader.converters.base import BaseConverter

    # The student's process (nbgrader's autograde and generate_feedback, the kernel).
    _wrap(NbGraderAPI, "autograde", "nbgrader_autograde", kids=True)
    _wrap(NbGraderAPI, "generate_feedback", "nbgrader_generate_feedback")
    _wrap(Autograde, "init_assignment", "autograde_init_assignment")
    _wrap(BaseConverter, "write_single_notebook", "write_notebook")
    _wrap(Gradebook, "__init__", "gradebook_open")
    # nbconvert's preprocess calls the sync variants (bound to the original coroutines).
    _wrap(NotebookClient, "start_new_kernel", "kernel_start_process", kids=True)
    _wrap(NotebookClient, "start_new_kernel_client", "kernel_wait_ready", kids=True)
    cleanup = NotebookClient._cleanup_kernel

    def cleanup_kernel(self, *a, **k):
        # The kernel's whole CPU, read before it is killed: a sandboxed kernel is never
        # reaped by this process (bwrap's namespace dies with it), so RUSAGE_CHILDREN
        # never sees it.
        t0, c0 = time.time(), _cpu_thread()
        _emit("kernel_total_cpu_before_shutdown", t0, c0, 0.0)
        cleanup(self, *a, **k)
        _emit("kernel_shutdown", t0, c0, None)

    NotebookClient._cleanup_kernel = cleanup_kernel
    _wrap(HTMLExporter, "from_notebook_node", "feedback_html")
    for pp in (
        p.ClearOutput,
        p.DeduplicateIds,
        p.OverwriteKernelspec,
        p.OverwriteCells,
        p.CheckCellMetadata,
        p.IgnorePattern,
        nbp.ClearMetadataPreprocessor,
        p.LimitOutput,
        p.SaveAutoGrades,
        p.AssignLatePenalties,
        p.GetGrades,
    ):
        _wrap(pp, "preprocess", f"pp_{pp.__name__}")
    execute = _find("autograder.execute", "GradingExecute")
    if execute is not None:
        _wrap(execute.GradingExecute, "preprocess", "execute_notebook", kids=True)
        _wrap(execute.GradingExecute, "_run_probe", "hidden_probe_and_judge", kids=True)
    sandbox = _find("autograder.sandbox", "wrap")
    if sandbox is not None:
        _wrap(sandbox, "wrap", "sandbox_command")
    # The grading process (collect, hashing, verify, report, state).
    pipeline = _find("autograder.pipeline", "grade_assignment")
    if pipeline is not None:
        for name, stage in [
            ("collect", "collect"),
            ("hash_path", "hash_submission"),
            ("prepare", "prepare"),
            ("_verdicts_for", "verify"),
            ("write_feedback", "write_feedback"),
            ("record_in_gradebook", "record_in_gradebook"),
            ("record_of_run", "cohort_record"),
            ("run_key", "run_key"),
            ("student_key", "student_key"),
            ("write_grades_csv", "write_grades_csv"),
            ("write_report", "cohort_report"),
            ("run_with_retry", "run_student_wait"),
        ]:
            if hasattr(pipeline, name):
                _wrap(pipeline, name, stage)
        for mod, cls, meth, stage in [
            ("autograder.state", "GradingState", "save", "state_save"),
            ("autograder.state", "GradingState", "store", "state_store"),
            ("autograder.cohort", "CohortLog", "append", "cohort_append"),
        ]:
            owner = _find(mod, cls)
            if owner is not None:
                _wrap(getattr(owner, cls), meth, stage)
    # Grading on a cluster: the coordinator's hand-over, and each worker's side of it.
    cluster = _find("autograder.cluster", "grade_on_worker")
    if cluster is not None:
        for name, stage in [
            ("grade_on_worker", "grade_on_worker"),
            ("_prepared", "worker_prepare_course"),
            ("_server", "worker_fork_server"),
            ("pack_prepared", "pack_prepared"),
            ("_run_result", "write_worker_result"),
        ]:
            if hasattr(cluster, name):
                _wrap(cluster, name, stage)
        for meth, stage in [("wait", "cluster_start_wait")]:
            if hasattr(cluster.Cluster, meth):
                _wrap(cluster.Cluster, meth, stage)
    for mod in ("autograder.forkserver", "autograder.run"):
        owner = _find(mod, "ForkServer")
        if owner is not None:
            _wrap(owner.ForkServer, "spawn", "spawn_request")
            if hasattr(owner, "ForkServerClient"):  # a local:N worker asks the shared server
                _wrap(owner.ForkServerClient, "spawn", "spawn_request")
            break


def summarise(folder: Path, n: int) -> dict:
    """Totals per ``role/stage`` over every process's lines, divided by ``n`` students."""
    stages: dict[str, dict] = {}
    for path in folder.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            s = stages.setdefault(
                f"{rec['role']}/{rec['stage']}", {"calls": 0, "cpu": 0.0, "kids": 0.0, "wall": 0.0}
            )
            s["calls"] += 1
            s["cpu"] += rec["cpu"]
            s["kids"] += rec.get("kids", 0.0)
            s["wall"] += rec["wall"]
    return {
        k: {
            "calls_per_student": round(v["calls"] / n, 2),
            "cpu_s": round(v["cpu"] / n, 4),
            "children_cpu_s": round(v["kids"] / n, 4),
            "wall_s": round(v["wall"] / n, 4),
        }
        for k, v in sorted(stages.items())
    }


def main(argv=None) -> dict:
    import resource
    import subprocess

    sys.path.insert(0, str(HERE))
    from grading import REPO, child_env, synthetic_submissions

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=30, help="synthetic submissions (default 30)")
    p.add_argument("--jobs", type=int, default=1, help="grade --jobs (default 1)")
    p.add_argument(
        "--repo",
        type=Path,
        default=None,
        help="grade with the autograder of this checkout (e.g. a `git archive` of "
        "an earlier revision) instead of this one's",
    )
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="grade --cluster ADDRESS (e.g. local:2): the workers' stages are role 'worker'",
    )
    p.add_argument(
        "--cprofile",
        metavar="FILE",
        help="also write the students' processes' merged cProfile stats to FILE",
    )
    args = p.parse_args(argv)
    if args.n < 1 or args.jobs < 1:
        p.error(f"--n and --jobs: expected integers >= 1, got {args.n}, {args.jobs}")
    load = [round(os.getloadavg()[0], 2)]
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmpname:
        tmp = Path(tmpname)
        subs = synthetic_submissions(tmp, args.n)
        probe, prof = tmp / "probe", tmp / "profile"
        probe.mkdir()
        prof.mkdir()
        (probe / "sitecustomize.py").write_text(SITECUSTOMIZE)
        env = child_env()
        env[ENV] = str(prof)
        env["AG_STAGE_REPO"] = str(args.repo or REPO)
        if args.cprofile:
            env[CPROFILE] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(probe), env.get("PYTHONPATH")]))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "autograder",
                "grade",
                "gd_basics",
                subs,
                "--out",
                tmp / "out",
                "--force",
                "--jobs",
                str(args.jobs),
                "--no-progress",
                *(["--cluster", args.cluster] if args.cluster else []),
            ],
            cwd=args.repo or REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"grade failed:\n{done.stderr[-3000:]}")
        stages = summarise(prof, args.n)
        if args.cprofile:
            import pstats

            files = sorted(map(str, prof.glob("*.pstats")))
            if files:
                pstats.Stats(*files).dump_stats(args.cprofile)
    load.append(round(os.getloadavg()[0], 2))
    # The grading process and the fork server are reaped by this one; the students' processes
    # are reaped by nobody (the server ignores SIGCHLD), so theirs come from the probe.
    waited = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    student = stages.get("student/student_process", {})
    kernel = stages.get("student/kernel_total_cpu_before_shutdown", {})
    per_student = waited / args.n + student.get("cpu_s", 0) + kernel.get("children_cpu_s", 0)
    result = {
        "n": args.n,
        "jobs": args.jobs,
        "cluster": args.cluster,
        "repo": str(args.repo or REPO),
        "wall_s": round(wall, 2),
        "wall_per_student_s": round(wall / args.n, 3),
        "cpu_per_student_s": round(per_student, 3),
        "grader_and_server_cpu_per_student_s": round(waited / args.n, 3),
        "student_process_cpu_s": student.get("cpu_s"),
        "kernel_cpu_s": kernel.get("children_cpu_s"),
        "stages": stages,
        "load1_before_after": load,
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
