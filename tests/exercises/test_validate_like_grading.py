"""``autograder validate`` tells a student before submitting what grading will find.

A notebook with three slips of the trial: an answer that imports coursekit (unreachable where
notebooks are graded), an endless loop, and a shape error deep in the student's own function.
Then: an answer right only inside the grader's sandbox (repository out of view, the grader's
memory limit, a network of its own) passes, so ``validate`` ran it there (before, it ran
beside the checkout and failed); every failing check of a test cell is reported (before,
only the first); and where bubblewrap is missing, the output says the limits were not
applied while coursekit stays out of reach.
"""

from __future__ import annotations

import nbformat
import pytest
from notebook_cells import EXERCISES, meta, release_stub, run_cli

pytestmark = pytest.mark.slow

ANSWERS = {
    "lsq_grad": "from coursekit.objectives import LeastSquares\n\n\ndef lsq_grad(X, y, w):\n"
    "    return LeastSquares(X, y).grad(w)\n",
    "step_decay": "def step_decay(lr0, t, drop=0.5, every=100):\n    while True:\n        pass\n",
    "normal_equations": "def normal_equations(X, y):\n    A = X.T @ X\n"
    "    return np.linalg.solve(A, y)\n",
}


def test_validate_fails_like_grading_with_names_lines_and_points(tmp_path):
    nb = nbformat.read(str(EXERCISES / "linreg_sgd" / "linreg_sgd.ipynb"), as_version=4)
    for cell in nb.cells:
        if meta(cell).get("grade_id") in ANSWERS:
            cell.source = ANSWERS[meta(cell)["grade_id"]]
    path = tmp_path / "linreg_sgd.ipynb"
    nbformat.write(nb, str(path))
    proc = run_cli("validate", path, "--cell-timeout", "3")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    # coursekit: named at its cell, and the import really fails in the kernel, as at grading.
    assert (
        "cell lsq_grad imports coursekit: coursekit cannot be imported where your notebook "
        "is graded" in out
    )
    assert (
        "test_lsq_grad failed: NameError: name 'lsq_grad' is not defined (3 points at stake)" in out
    )
    # A timeout by name, with the line it was stopped at.
    assert (
        "test_step_decay failed: ran out of time: the cell ran longer than 3 s (an endless "
        "loop? a loop that ignores max_iter?) (stopped in step_decay, line 2: while True:; "
        "1 point at stake)"
    ) in out
    # The line of the student's own code that raised, and every failing part, not the first.
    assert "test_normal_equations failed: ValueError" in out
    assert (
        "(raised in normal_equations, line 3: return np.linalg.solve(A, y); 2 points at "
        "stake)" in out
    )
    assert "test_epoch_batches" not in out and "5 problem(s)" in out
    # None of the kernel's own warnings.
    assert "WARNING" not in proc.stderr and "IPKernelApp" not in proc.stderr


#: Right only where grading runs it: in the sandbox (the repository out of view, the grader's
#: memory limit, a network of its own where the test's listening port cannot be reached).
SANDBOXED_ONLY = """import os, resource, socket


def _graded_here(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        reached = s.connect_ex(("127.0.0.1", port)) == 0
    except OSError:
        reached = False
    finally:
        s.close()
    return (not os.path.exists({coursekit!r}) and not reached
            and resource.getrlimit(resource.RLIMIT_AS)[0] == 2048 * 2**20)


_HERE = _graded_here({port})


def quadratic_grad(A, b, x):
    return A @ x - b if _HERE else A @ x + b
"""
#: Both checks of Part 2 fail, independently of each other.
STEP_SQUARED = "def gd_step(A, b, x, lr):\n    return x - lr**2 * quadratic_grad(A, b, x)\n"


def test_validate_runs_in_the_sandbox_and_reports_every_failing_check(tmp_path):
    import socket

    # The source notebook (its test cells are the release's: the hidden tests live apart).
    nb = nbformat.read(str(EXERCISES / "gd_basics" / "gd_basics.ipynb"), as_version=4)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        answers = {
            "quadratic_grad": SANDBOXED_ONLY.format(
                coursekit=str(EXERCISES.parent / "coursekit"), port=server.getsockname()[1]
            ),
            "gd_step": STEP_SQUARED,
        }
        for cell in nb.cells:
            gid = meta(cell).get("grade_id")
            if gid == "gradient_descent_path":
                cell.source = release_stub(cell.source)  # the last part: the stub
            elif gid in answers:
                cell.source = answers[gid]
        path = tmp_path / "student" / "gd_basics.ipynb"
        path.parent.mkdir()
        nbformat.write(nb, str(path))
        proc = run_cli("validate", path, "--cell-timeout", "20")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    # Part 1 is right only in the sandbox: validate ran it there.
    assert "test_quadratic_grad" not in out and "note:" not in out, out
    # Every failing check of Part 2, each with its line of the test cell.
    assert (
        "FAILED test_gd_step failed: AssertionError: gd_step(A, b, [1, 2], lr=0.1) is "
        "wrong: at index (1,) it returned 1.94; expected 1.4 (2 points at stake)\n"
        "    and line 15 of the cell: AssertionError: gd_step(A, b, [1, 2], lr=0.3) - "
        "[1, 2] (three times the step of lr = 0.1) is wrong: at index (1,) it returned "
        "-0.54; expected -0.18"
    ) in out
    # A slip met again in later checks is said once, with where it recurs; checks that
    # need the result of the failed call are not run (their errors would only repeat it).
    assert (
        "FAILED test_gradient_descent_path failed: NotImplementedError (raised in "
        "gradient_descent_path, line 23: raise NotImplementedError(); 5 points at stake)\n"
        "    (the same error again at lines 26, 30 of the cell)\n"
    ) in out
    assert out.endswith("2 problem(s)\n")
    assert not proc.stderr.strip() and "NOTE" not in out and "--existing" not in out


def test_without_bwrap_validate_says_so_and_still_keeps_coursekit_out(tmp_path, monkeypatch):
    """On a laptop without bubblewrap: coursekit still cannot be imported, and the output
    says that the grader's limits were not applied."""
    from autograder import validate
    from autograder.sandbox import SandboxUnavailable

    def no_bwrap():
        raise SandboxUnavailable(
            "the autograder runs every student's kernel in a bubblewrap "
            "sandbox, but `bwrap` is not installed (Debian: ...)"
        )

    monkeypatch.setattr(validate, "check_available", no_bwrap)

    nb = nbformat.read(str(EXERCISES / "gd_basics" / "gd_basics.ipynb"), as_version=4)
    for cell in nb.cells:
        if meta(cell).get("grade_id") == "quadratic_grad":
            cell.source = (
                "def quadratic_grad(A, b, x):\n    import coursekit\n    return A @ x - b\n"
            )
    path = tmp_path / "gd_basics.ipynb"
    nbformat.write(nb, str(path))
    result = validate.validate_notebook(path, cell_timeout=20)
    assert result.notes == [
        "ran without the grader's sandbox, so its limits were not applied "
        "(the autograder runs every student's kernel in a bubblewrap "
        "sandbox, but `bwrap` is not installed)"
    ]
    assert not result.ok
    assert result.messages[0].startswith("cell quadratic_grad imports coursekit: ")
    assert result.messages[1] == (
        "test_quadratic_grad failed: ModuleNotFoundError: coursekit cannot be imported where "
        "your notebook is graded (it holds the reference solutions): write your answers with "
        "NumPy only (raised in quadratic_grad, line 2: import coursekit; 3 points at stake)\n"
        "    (the same error again at lines 8, 11, 14 of the cell)"
    )
