"""coursekit.claims: a guard passes silently when true and quotes the sentence when false."""

import numpy as np
import pytest

from coursekit.claims import ClaimError, claim


def test_true_claim_is_silent():
    assert claim(True, "one is less than two") is None
    assert claim(np.array([1, 2]) < 3, "both below three") is None


def test_false_claim_quotes_sentence_and_numbers():
    steps = np.array([3, 7, 2])
    with pytest.raises(ClaimError) as info:
        claim(steps < 5, "every run needs fewer than 5 steps", steps=steps, ratio=0.123456789)
    message = str(info.value)
    assert "every run needs fewer than 5 steps" in message
    assert "steps = [3, 7, 2]" in message
    assert "ratio = 0.123457" in message
    assert isinstance(info.value, AssertionError)


def test_one_false_entry_is_enough():
    with pytest.raises(ClaimError):
        claim([True, True, False], "all true")


@pytest.mark.parametrize("holds", [[], np.array([], dtype=bool)])
def test_empty_condition_is_refused(holds):
    with pytest.raises(ValueError, match="holds is empty"):
        claim(holds, "vacuous")


def test_bad_arguments_named():
    with pytest.raises(TypeError, match="sentence"):
        claim(True, "")
    with pytest.raises(TypeError, match="holds must be a bool"):
        claim(np.array([0.5]), "a float is not a truth value")
