"""The messages a student reads for the slips found in the trial say what to fix.

Each mistake comes from the mutation catalogues (tests/exercises/mutants/) and runs through the
notebook's visible tests (what the student sees before submitting) and the hidden tests.
"""

from __future__ import annotations

import re

import mutation
import notebook_cells as nc
import pytest

from autograder import hidden


def _mutant(assignment, name):
    [m] = [m for m in mutation.catalogue(assignment)[0] if m.name == name]
    return m


@pytest.mark.parametrize(
    ("assignment", "name", "message"),
    [
        # Aliasing x0: not "a wrong number in row 0" but the argument that changed.
        (
            "gd_basics",
            "path: aliases x0 and steps in place",
            "gradient_descent_path changed its argument x0 in place (x0 is left unchanged)",
        ),
        ("newton", "path: aliases x0 and steps in place", "newton_path changed x0 in place"),
        ("linreg_sgd", "sgd: changes w0 in place", "minibatch_sgd changed w0 in place"),
        ("distributed", "sync: w changed in place", "sync_round changed w in place"),
        # Shifting logits in place: the input is named, not the gradient blamed.
        (
            "cnn_layers",
            "softmax: logits shifted in place",
            "softmax_cross_entropy changed its argument logits in place",
        ),
        # A list is not "did you forget a `return`?".
        (
            "gd_basics",
            "grad: returns a list",
            "returned a list; expected a NumPy array of shape (2,) (convert it with np.array(...))",
        ),
        (
            "newton",
            "grad: returns a list",
            "returned a list; expected a NumPy array of shape (2,) (convert it with np.array(...))",
        ),
        # A bad place for the data is the caller's mistake: the message says which argument.
        (
            "offloading",
            "fraction: accepts any data mode",
            'did not raise a ValueError (data must be "streamed" or "resident")',
        ),
        (
            "offloading",
            "workers: drops unreachable counts from the caller's list",
            "best_worker_count changed its argument worker_counts or steps_by_batch in place",
        ),
        # A loss of shape (1,) gets a message, not a raw ValueError.
        (
            "cnn_layers",
            "softmax: loss of shape (1,)",
            "returned an array of shape (1,); expected a "
            "single number (return float(value), or value.item())",
        ),
    ],
)
def test_visible_tests_name_the_slip(assignment, name, message):
    m = _mutant(assignment, name)
    failures = nc.run(nc.load(assignment), {m.cell: m.source}, visible_only={m.part}, upto=m.part)
    assert [gid for gid, _ in failures] == [m.part]
    assert isinstance(failures[0][1], AssertionError) and message in str(failures[0][1])


@pytest.mark.parametrize(
    ("assignment", "name", "message"),
    [
        (
            "gd_basics",
            "path: aliases x0 and steps in place",
            "changed its argument x0 in place (row 0 of your path is the caller's array",
        ),
        (
            "cnn_layers",
            "softmax: logits shifted in place",
            "changed its argument logits in place (logits -= ... modifies the caller's array)",
        ),
        ("linreg_sgd", "sgd: changes w0 in place", "changed its argument w0 in place"),
        # The edge the spec names: at c = a offloading gains nothing, and the case says so.
        ("offloading", "verdict: pays when c <= a", "with c = a exactly"),
        ("offloading", "workers: ties go to the largest p", "the smallest p is expected"),
    ],
)
def test_hidden_tests_name_the_slip(assignment, name, message):
    nb = nc.load(assignment)
    m = _mutant(assignment, name)
    # the notebook's code cells with the mistake, then the part's hidden tests
    ns = nc.answer_namespace(nb, {m.cell: m.source})
    hidden_messages = hidden.run_in_namespace(nc.hidden_tests(nb), m.part, ns)
    assert any(message in f for f in hidden_messages), hidden_messages


def test_numbers_print_as_plain_floats_not_numpy_reprs():
    m = _mutant("gd_basics", "grad: wrong sign of b")
    [(gid, exc)] = nc.run(nc.load("gd_basics"), {m.cell: m.source}, upto=m.part)
    assert "np.float64" not in str(exc)
    assert re.search(r"it returned -?\d+\.\d+; expected -?\d+\.\d+$", str(exc)), str(exc)
