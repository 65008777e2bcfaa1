"""Mutation testing: every realistic wrong answer loses points, and only its own part's.

The catalogues are in tests/exercises/mutants/ (see mutation.py). Each mutant runs the whole
notebook in-process, visible tests and hidden tests (the real probe and codec), as grading
would; `python tests/exercises/mutation.py` prints the mutation score per assignment.
"""

from __future__ import annotations

import mutation
import notebook_cells as nc
import pytest

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


@pytest.mark.parametrize(("assignment", "mutant"), CASES,
                         ids=[f"{a}: {m.name}" for a, m in CASES])
def test_mutant_loses_points_in_its_own_part_only(assignment, mutant):
    grade = mutation.grade(_nb(assignment), mutant)
    assert grade.points < grade.total, f"{mutant.name} kept full marks"
    assert set(grade.failing) == {mutant.part, *mutant.also}, grade.failing


@pytest.mark.parametrize(("assignment", "variant"), CORRECT,
                         ids=[f"{a}: {m.name}" for a, m in CORRECT])
def test_correct_variant_keeps_full_marks(assignment, variant):
    grade = mutation.grade(_nb(assignment), variant)
    assert grade.failing == {} and grade.points == grade.total
