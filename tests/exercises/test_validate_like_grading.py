"""``autograder validate`` tells a student before submitting what grading will find.

A notebook with three slips of the trial: an answer that imports coursekit (unreachable where
notebooks are graded), an endless loop, and a shape error deep in the student's own function.
"""

from __future__ import annotations

import nbformat
import pytest
from notebook_cells import EXERCISES, meta, run_cli

pytestmark = pytest.mark.slow

ANSWERS = {
    "lsq_grad": "from coursekit.objectives import LeastSquares\n\n\ndef lsq_grad(X, y, w):\n"
                "    return LeastSquares(X, y).grad(w)\n",
    "step_decay": "def step_decay(lr0, t, drop=0.5, every=100):\n    while True:\n"
                  "        pass\n",
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
    assert "cell lsq_grad imports coursekit: coursekit cannot be imported where your notebook "\
        "is graded" in out
    assert "test_lsq_grad failed: NameError: name 'lsq_grad' is not defined (3 points at " \
        "stake)" in out
    # A timeout by name, with the line it was stopped at.
    assert ("test_step_decay failed: ran out of time: the cell ran longer than 3 s (an endless "
            "loop? a loop that ignores max_iter?) (stopped in step_decay, line 2: while True:; "
            "1 point at stake)") in out
    # The line of the student's own code that raised, and every failing part, not the first.
    assert "test_normal_equations failed: ValueError" in out
    assert "(raised in normal_equations, line 3: return np.linalg.solve(A, y); 2 points at " \
        "stake)" in out
    assert "test_epoch_batches" not in out and "5 problem(s)" in out
    # None of the kernel's own warnings.
    assert "WARNING" not in proc.stderr and "IPKernelApp" not in proc.stderr
