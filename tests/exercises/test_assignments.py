"""The checks every assignment gets, run over each folder of ``exercises/``.

For each source notebook: its structure (test cells, points, the points table, no hidden
region, no outputs, no leaked solution line), the instructor's solution passes every test
with every cell run, the release's stubs fail every test, the student's cells and visible
tests need no coursekit, and an answer that imports coursekit fails where it is graded. The
facts compared against are in :mod:`assignment_specs`; each assignment's own laws and wrong
answers are in ``test_<assignment>.py``. Cells run in-process (no kernel), in notebook order,
the way nbgrader runs them; the real-kernel path is covered by tests/autograder.
"""

from __future__ import annotations

from pathlib import Path

import notebook_cells as nc
import pytest
from assignment_specs import SPECS

ASSIGNMENTS = nc.ASSIGNMENTS


def test_every_assignment_has_an_entry():
    missing = sorted(set(ASSIGNMENTS) - set(SPECS))
    assert not missing, (
        f"exercises/{missing[0]} has no entry in tests/exercises/assignment_specs.py: add "
        "Spec(tests=..., total=..., coursekit_answer=...) and tests/exercises/test_"
        f"{missing[0]}.py for its own laws"
    )
    assert not set(SPECS) - set(ASSIGNMENTS), "an entry for an assignment that is gone"
    here = Path(__file__).resolve().parent
    no_laws = [a for a in ASSIGNMENTS if not (here / f"test_{a}.py").is_file()]
    assert not no_laws, f"no tests/exercises/test_{no_laws[0]}.py with its own laws"
    assert len(ASSIGNMENTS) >= 7


def _spec(assignment):
    if assignment not in SPECS:
        pytest.fail(f"exercises/{assignment} has no entry in assignment_specs.SPECS")
    return SPECS[assignment]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_structure(assignment):
    spec = _spec(assignment)
    nc.check_structure(nc.loaded(assignment), list(spec.tests), spec.total, spec.manual)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_instructor_solution_passes_every_test(assignment):
    spec = _spec(assignment)
    failures, printed = nc.solution_run(assignment)
    assert failures == []
    # Each part's visible tests said so (Part k is the k-th test cell).
    for part in range(1, len(spec.tests) + 1):
        assert f"Part {part}: visible tests passed" in printed


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_stubs_fail_every_test(assignment):
    failing = [gid for gid, _ in nc.run(nc.loaded(assignment), released=True)]
    assert failing == list(_spec(assignment).tests)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_cells_and_visible_tests_need_no_coursekit(assignment):
    assert nc.student_view_passes(nc.loaded(assignment)) == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_an_answer_importing_coursekit_fails_where_graded(assignment):
    cell, code, failing = _spec(assignment).coursekit_answer
    nc.assert_coursekit_answer_fails(nc.loaded(assignment), cell, code, failing)
