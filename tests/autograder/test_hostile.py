"""The hostile panel: submissions that try to cheat, break the run or read the tests (issue 8).

Every case is a real gd_basics notebook (the released one, with the solutions filled in or
one function broken) plus what a hostile student adds, graded by the real
``python -m autograder grade`` in one run with two jobs. Each case asserts its status and
score; the two honest students graded in the same run must get exactly the grades they get
in a run of their own, and the instructor's gradebook must hold one intact row per student.
(The panels of tests/autograder/test_cli_grade.py cover the not-JSON, missing, renamed,
corrupt-zip, ``../``-zip, edited-test-cell, endless-loop and ``os._exit`` submissions.)

Plain nbgrader 0.9.6 gives full marks to ``numpy``, ``helpers`` and ``transformer`` below,
lets ``gradebook`` delete the class's grades and ``snoop`` print the hidden tests.
"""

from __future__ import annotations

import csv
import html

import nbformat
import pytest
from autograder_helpers import (
    ASSIGNMENT,
    SOURCE_NB,
    grade_id,
    run_cli,
    tree_hashes,
    with_solutions,
    write_folder,
)

pytestmark = pytest.mark.slow

#: gd_step with the wrong sign: parts 2 and 3 (7 of 10 points) are wrong, part 1 is right.
WRONG_STEP = """def gd_step(A, b, x, lr):
    return x + lr * quadratic_grad(A, b, x)
"""

#: Each cheat goes on top of WRONG_STEP's cell: it must not win back the 7 points.
CHEATS = {
    # Every comparison in the kernel says "equal".
    "numpy": "np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\n"
    "np.isclose = lambda *a, **k: True\n",
    # The notebook's own test helpers, and assert's exception, neutralised.
    "helpers": "check_array = lambda *a, **k: None\nimport builtins\n"
    "builtins.AssertionError = type('Quiet', (Warning,), {})\n",
    # An IPython input transformer that turns every later test cell into `pass`.
    "transformer": "get_ipython().input_transformers_post.append(\n"
    "    lambda lines: ['pass\\n'] if any('Visible tests' in ln for ln in lines)"
    " else lines)\n",
    # IPython's error reporting swallowed: failing cells look clean.
    "ipython": "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n",
}

#: Extra cells (after the setup cell) of students whose own answers are all correct.
ATTACKS = {
    # Delete or overwrite every gradebook and grade file it can reach, here or above.
    "gradebook": """import glob, os, shutil
hits = []
# Up to seven levels above the working folder (the private course's gradebook is three
# levels up in plain nbgrader), all of /tmp (the other students' private copies), and /.
for pattern in ["../" * k + "**/gradebook.db" for k in range(7)] + [
        "/tmp/**/gradebook.db", "/tmp/**/grades.csv", "/tmp/**/feedback", "/*/gradebook.db"]:
    for path in glob.glob(pattern, recursive=True):
        hits.append(path)
        try:
            shutil.rmtree(path) if os.path.isdir(path) else open(path, "w").write("pwned")
        except OSError:
            pass
print("HITS", hits)
""",
    # Look for the hidden tests, the sources and the reference implementation.
    "snoop": """import os
found = []
for top in ["/", os.path.expanduser("~"), "/tmp"]:
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != "site-packages" and
                   (root != "/" or d not in ("proc", "sys", "usr", "dev"))]
        found += [os.path.join(root, f) for f in files
                  if f in ("hidden_tests.py", "gradebook.db", "grades.csv", "gd_basics.ipynb")]
print("FOUND", sorted(set(found)))
try:
    import coursekit
    print("COURSEKIT", coursekit.__file__)
except ImportError as exc:
    print("NO COURSEKIT:", exc)
""",
    # Try to kill the grader: the parent process, and every process it may signal.
    "killparent": """import os, signal
for target in (os.getppid(), 1):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError as exc:
        print("cannot kill", target, exc)
os.kill(-1, signal.SIGKILL)
print("STILL RUNNING")
""",
    # Sleep in C with the interrupt signals blocked: only the wall-clock limit ends it.
    "csleep": """import ctypes, signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGALRM})
ctypes.CDLL(None).sleep(3600)
""",
    # A fork bomb (each child sleeps): the process limit stops it.
    "forkbomb": """import os, time
while True:
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)
""",
    # A memory bomb: the address-space limit stops it.
    "membomb": """hog = []
while True:
    hog.append(bytearray(100 * 2**20))
""",
    # Fill the disk: one ever-growing file in the working folder.
    "diskbomb": """with open("fill.bin", "wb") as fh:
    while True:
        fh.write(b"x" * 2**20)
""",
    # 20 MB of output.
    "hugeoutput": "print('x' * (20 * 2**20))\n",
}

#: (status, score) of each hostile student, and the detail each row must mention.
EXPECTED = {
    # The wrong gd_step costs Part 2 (2 points) only: Part 3 is tested with the course's step.
    **{name: ("graded", 8.0) for name in CHEATS},
    "coursekit": ("graded", 0.0),
    "reordered": ("tampered", 7.0),
    "deleted": ("tampered", 10.0),
    "gradebook": ("graded", 10.0),
    "snoop": ("graded", 10.0),
    "killparent": ("graded", 10.0),
    "csleep": ("timeout", 0.0),
    "forkbomb": ("crashed", 0.0),
    "membomb": ("crashed", 0.0),
    "hugeoutput": ("crashed", 0.0),
    "diskbomb": ("crashed", 0.0),
}
DETAILS = {
    "reordered": "reordered test_quadratic_grad",
    "deleted": "deleted test_gd_step",
    "csleep": "did not stop when interrupted",
    "forkbomb": "process limit",
    "membomb": "memory limit",
    "diskbomb": "disk limit",
    "hugeoutput": "output limit",
    "coursekit": "test_quadratic_grad",
}
HONEST = {"alice": ("graded", 10.0), "bob": ("graded", 8.0)}

#: A whole-student limit long enough for a cold kernel, short enough for the C sleep.
OPTIONS = ("--jobs", 2, "--timeout", 45, "--cell-timeout", 15, "--no-progress")

COURSEKIT_GRAD = """def quadratic_grad(A, b, x):
    from coursekit.objectives import Quadratic
    return Quadratic(A, b).grad(x)
"""


def _with_cell_after_setup(nb, source: str):
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "setup") + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    return nb


def _move_before(nb, gid: str, before: str):
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    cell = next(c for c in nb.cells if grade_id(c) == gid)
    nb.cells.remove(cell)
    nb.cells.insert(next(i for i, c in enumerate(nb.cells) if grade_id(c) == before), cell)
    return nb


def _rows(out):
    with open(out / "grades.csv", newline="") as fh:
        return {r["student"]: r for r in csv.DictReader(fh)}


def _honest(subs, release_nb, source_nb):
    write_folder(subs, "alice", with_solutions(release_nb, source_nb))
    write_folder(subs, "bob", with_solutions(release_nb, source_nb, {"gd_step": WRONG_STEP}))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, release_nb):
    source_nb = nbformat.read(str(SOURCE_NB), as_version=4)
    root = tmp_path_factory.mktemp("hostile")
    subs, out = root / "submissions", root / "out"
    _honest(subs, release_nb, source_nb)
    solution = with_solutions(release_nb, source_nb)
    for name, cheat in CHEATS.items():
        write_folder(
            subs, name, with_solutions(release_nb, source_nb, {"gd_step": WRONG_STEP + cheat})
        )
    write_folder(
        subs, "coursekit", with_solutions(release_nb, source_nb, {"quadratic_grad": COURSEKIT_GRAD})
    )
    write_folder(subs, "reordered", _move_before(solution, "test_quadratic_grad", "quadratic_grad"))
    deleted = nbformat.reads(nbformat.writes(solution), as_version=4)
    deleted.cells = [c for c in deleted.cells if grade_id(c) != "test_gd_step"]
    write_folder(subs, "deleted", deleted)
    for name, attack in ATTACKS.items():
        write_folder(subs, name, _with_cell_after_setup(solution, attack))
    before = tree_hashes(subs)
    proc = run_cli("grade", ASSIGNMENT, subs, "--out", out, *OPTIONS, timeout=900)
    # The same honest students, alone: the grades they must also get in the hostile run.
    alone_subs, alone_out = root / "alone", root / "alone-out"
    _honest(alone_subs, release_nb, source_nb)
    alone = run_cli("grade", ASSIGNMENT, alone_subs, "--out", alone_out, *OPTIONS, timeout=600)
    assert alone.returncode == 0, alone.stderr[-2000:]
    return {
        "proc": proc,
        "out": out,
        "rows": _rows(out),
        "alone": _rows(alone_out),
        "before": before,
        "after": tree_hashes(subs),
        "source_nb": source_nb,
    }


def test_every_student_has_one_row_and_the_run_ends_normally(hostile):
    assert hostile["proc"].returncode == 0, hostile["proc"].stderr[-2000:]
    assert sorted(hostile["rows"]) == sorted({**EXPECTED, **HONEST})


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_hostile_student_gets_its_status_and_score(hostile, student):
    row = hostile["rows"][student]
    assert (row["status"], float(row["score"])) == EXPECTED[student], row
    assert float(row["max_score"]) == 10.0
    if student in DETAILS:
        assert DETAILS[student] in row["detail"], row


def test_honest_students_grades_are_unchanged_by_the_hostile_ones(hostile):
    for student, expected in HONEST.items():
        row = hostile["rows"][student]
        assert (row["status"], float(row["score"])) == expected
        assert row == hostile["alone"][student]


def test_instructor_gradebook_holds_every_student_intact(hostile):
    from nbgrader.api import Gradebook

    db = hostile["out"] / "gradebook.db"
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"
    with Gradebook(f"sqlite:///{db}", "gd-course") as gb:
        scores = {s.student.id: s.score for s in gb.find_assignment(ASSIGNMENT).submissions}
    assert scores == {s: float(r["score"]) for s, r in hostile["rows"].items()}
    for student in hostile["rows"]:
        assert (hostile["out"] / "feedback" / student / f"{ASSIGNMENT}.html").is_file()


def test_submissions_are_untouched(hostile):
    assert hostile["after"] == hostile["before"]


def _feedback(hostile, student) -> str:
    return html.unescape((hostile["out"] / "feedback" / student / f"{ASSIGNMENT}.html").read_text())


def test_kernel_sees_no_gradebook_no_sources_no_hidden_tests_no_coursekit(hostile):
    snoop = _feedback(hostile, "snoop")
    assert "FOUND []" in snoop
    assert "NO COURSEKIT: No module named 'coursekit'" in snoop
    assert "HITS []" in _feedback(hostile, "gradebook")
    assert "STILL RUNNING" in _feedback(hostile, "killparent")


def test_no_feedback_quotes_the_hidden_tests(hostile):
    text = (SOURCE_NB.parent / "hidden_tests.py").read_text()
    code = [
        ln.strip()
        for ln in text.splitlines()
        if len(ln.strip()) >= 25
        and not ln.strip().startswith(("#", '"', 'f"', "'", "import ", "from "))
    ]
    assert code
    for student in hostile["rows"]:
        page = " ".join(_feedback(hostile, student).split())
        assert not [ln for ln in code if " ".join(ln.split()) in page], student


def test_a_cheat_is_told_which_hidden_case_failed(hostile):
    page = _feedback(hostile, "numpy")
    assert "hidden test (run by the grader after your notebook):" in page
    assert "gd_step (random test 0" in page


def test_without_the_sandbox_the_verdict_still_holds(tmp_path, release_nb):
    # --unsafe-no-sandbox gives up the file view and the limits, not the verdict: the hidden
    # tests are still judged in the grader, so the patched-numpy cheat still gets 8 (its wrong
    # gd_step loses Part 2).
    source_nb = nbformat.read(str(SOURCE_NB), as_version=4)
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_folder(subs, "alice", with_solutions(release_nb, source_nb))
    write_folder(
        subs,
        "numpy",
        with_solutions(release_nb, source_nb, {"gd_step": WRONG_STEP + CHEATS["numpy"]}),
    )
    proc = run_cli(
        "grade",
        ASSIGNMENT,
        subs,
        "--out",
        out,
        "--unsafe-no-sandbox",
        "--jobs",
        2,
        "--no-progress",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {s: (r["status"], float(r["score"])) for s, r in _rows(out).items()}
    assert rows == {"alice": ("graded", 10.0), "numpy": ("graded", 8.0)}
