"""One of the issue-7 assignments through the real CLI: its release fails ``validate``.

Releasing costs about 10 s an assignment (nbgrader), so only ``newton`` (the one with a manually
graded answer) goes through the CLI here; for every assignment the release's stubs are run
in-process by its own test module, and tests/autograder/test_cli_release_validate.py checks that
every source notebook under exercises/ passes ``validate``.
"""

from __future__ import annotations

import nbformat
import pytest
from notebook_cells import graded_cells, load, meta, run_cli

pytestmark = pytest.mark.slow


def test_newton_release_fails_validate_with_every_test(tmp_path):
    proc = run_cli("release", "newton", "--out", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = tmp_path / "newton" / "newton.ipynb"
    text = path.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN", "END HIDDEN"):
        assert marker not in text
    source, released = load("newton"), nbformat.read(str(path), as_version=4)
    tests = [meta(c)["grade_id"] for c in graded_cells(source)]
    assert [meta(c)["grade_id"] for c in graded_cells(released)] == tests
    assert "coursekit" not in "\n".join(c.source for c in graded_cells(released))
    [answer] = [c for c in released.cells if meta(c).get("grade_id") == "answer_newton_cost"]
    assert answer.source == "YOUR ANSWER HERE"

    proc = run_cli("validate", path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for gid in tests:
        assert f"{gid} failed: NotImplementedError" in proc.stdout
    assert "answer_newton_cost failed" in proc.stdout  # the written answer is still empty
