"""Time the suite's slowest tests here and at a baseline revision, alternately.

The whole suite has a 20-minute budget on 2 cores; this measures what a change to the slowest
tests saves without running everything. Each round runs the same pytest selection in this
checkout and in ``git archive REV`` (same venv, same built site), in alternating order, and
records each test's seconds (setup + call + teardown, from pytest's JUnit XML) and the CPU
seconds (user + sys) of the run and its children. Prints one JSON line: per test and in all,
the median seconds of both trees and ``ratio`` = median over rounds of ours / baseline's.

    .venv/bin/python benchmarks/slow_tests.py --baseline d2f06c1 --repeats 2

Needs the built site (``make book``; or ``COURSE_SITE=...``) for the live-notebook test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The tests this session made cheaper (issue 18, task D), slowest first.
DEFAULT_TESTS = (
    "tests/book/test_live_notebooks.py::test_every_live_notebook_runs_from_scratch",
    "tests/autograder/test_cli_panels.py",
    "tests/autograder/test_cli_course.py",
)


def checkout(rev: str, into: Path) -> Path:
    """The repository's files at git revision ``rev`` (``git archive``), in ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_tests(tree: Path, tests: list[str], xml: Path) -> dict:
    """Run ``tests`` with pytest in ``tree``: ``{"wall_s", "cpu_s", "tests": {id: s}}``."""
    env = dict(os.environ)
    env.setdefault("COURSE_SITE", str(REPO / "_build" / "html"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"]
        + tests,
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"pytest failed in {tree}:\n{proc.stdout[-3000:]}")
    times: dict[str, float] = {}
    for case in ET.parse(xml).iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        times[module] = times.get(module, 0.0) + float(case.get("time", 0.0))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "tests": times}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision to compare with")
    parser.add_argument("--repeats", type=int, default=1, help="rounds (medians)")
    parser.add_argument("tests", nargs="*", default=list(DEFAULT_TESTS))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats: expected a positive number of rounds, got {args.repeats}")
    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench-slow-tests-") as tmpname:
        tmp = Path(tmpname)
        base = checkout(args.baseline, tmp / "baseline")
        for i in range(args.repeats):
            order = [("ours", REPO), ("baseline", base)]
            if i % 2:
                order.reverse()
            rounds.append(
                {name: run_tests(tree, args.tests, tmp / f"{name}{i}.xml") for name, tree in order}
            )

    def median(f):
        return round(statistics.median(f(r) for r in rounds), 2)

    modules = sorted(rounds[0]["ours"]["tests"])
    result = {
        "baseline": args.baseline,
        "repeats": args.repeats,
        "ours_s": median(lambda r: r["ours"]["wall_s"]),
        "baseline_s": median(lambda r: r["baseline"]["wall_s"]),
        "ratio": median(lambda r: r["ours"]["wall_s"] / r["baseline"]["wall_s"]),
        "ours_cpu_s": median(lambda r: r["ours"]["cpu_s"]),
        "baseline_cpu_s": median(lambda r: r["baseline"]["cpu_s"]),
        "per_module_s": {
            m: [
                median(lambda r, m=m: r["ours"]["tests"].get(m, 0.0)),
                median(lambda r, m=m: r["baseline"]["tests"].get(m, 0.0)),
            ]
            for m in modules
        },
        "load_1min": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
