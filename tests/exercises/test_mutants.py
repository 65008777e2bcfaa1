"""Mutation testing: every realistic wrong answer loses points, and only its own part's.

The catalogues are in tests/exercises/mutants/ (see mutation.py). Each mutant runs the whole
notebook in-process, visible tests and hidden tests (the real probe and codec), as grading
would; `python tests/exercises/mutation.py` prints the mutation score per assignment.
"""

from __future__ import annotations

import copy

import mutation
import notebook_cells as nc
import pytest

from autograder.leaks import hidden_file_lines

CASES = [(a, m) for a in mutation.ASSIGNMENTS for m in mutation.catalogue(a)[0]]
CORRECT = [(a, m) for a in mutation.ASSIGNMENTS for m in mutation.catalogue(a)[1]]
_NOTEBOOKS: dict = {}


def _nb(assignment):
    if assignment not in _NOTEBOOKS:
        _NOTEBOOKS[assignment] = nc.load(assignment)
    return _NOTEBOOKS[assignment]


@pytest.mark.parametrize("assignment", mutation.ASSIGNMENTS)
def test_each_catalogue_has_at_least_15_mutants_and_2_correct_variants(assignment):
    mutants, correct = mutation.catalogue(assignment)
    assert len(mutants) >= 15 and len(correct) >= 2
    assert len({m.name for m in mutants}) == len(mutants)
    cells = {nc.meta(c)["grade_id"] for c in _nb(assignment).cells if nc.meta(c).get("solution")}
    tests = {nc.meta(c)["grade_id"] for c in nc.graded_cells(_nb(assignment))}
    for m in mutants + correct:
        assert m.cell in cells and m.part in tests and set(m.also) <= tests, m.name
        assert m.source.strip() and (not m.also or m.why), m.name
    # Every autograded part has mutants.
    assert {m.part for m in mutants} == tests


@pytest.mark.parametrize("assignment", mutation.ASSIGNMENTS)
def test_no_hidden_test_line_is_a_line_a_right_answer_writes(assignment):
    # The grader withholds a feedback page that quotes a line of hidden_tests.py: a line a
    # correct student writes too would withhold that student's feedback.
    released = copy.deepcopy(_nb(assignment))
    for cell in released.cells:
        cell.source = nc.release_stub(cell.source)
    secrets = hidden_file_lines(nc.EXERCISES / assignment / "hidden_tests.py", [released])
    mutants, correct = mutation.catalogue(assignment)
    written = {
        line.strip()
        for text in [
            *(c.source for c in _nb(assignment).cells),
            *(m.source for m in mutants + correct),
        ]
        for line in text.splitlines()
    }
    assert secrets and [s for s in secrets if s in written] == []


@pytest.mark.parametrize(("assignment", "mutant"), CASES, ids=[f"{a}: {m.name}" for a, m in CASES])
def test_mutant_loses_points_in_its_own_part_only(assignment, mutant):
    grade = mutation.grade(_nb(assignment), mutant)
    assert grade.points < grade.total, f"{mutant.name} kept full marks"
    assert set(grade.failing) == {mutant.part, *mutant.also}, grade.failing


@pytest.mark.parametrize(
    ("assignment", "variant"), CORRECT, ids=[f"{a}: {m.name}" for a, m in CORRECT]
)
def test_correct_variant_keeps_full_marks(assignment, variant):
    grade = mutation.grade(_nb(assignment), variant)
    assert grade.failing == {} and grade.points == grade.total
