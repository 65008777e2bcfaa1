"""coursekit._checks: the one place where coursekit checks its arguments."""

import math
import pathlib
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import coursekit
from coursekit._checks import (
    check_choice,
    check_int,
    check_positive,
    check_positive_array,
    check_real,
    is_int,
    is_real,
)


@given(st.one_of(st.integers(), st.floats(allow_nan=True), st.booleans(), st.text(), st.none()))
def test_predicates_agree_with_the_types(value):
    assert is_int(value) == (type(value) is int)
    assert is_real(value) == (type(value) in (int, float))


def test_numpy_scalars_count_and_bools_do_not():
    assert is_int(np.int64(3)) and is_real(np.float32(0.5)) and is_real(np.int8(1))
    assert not is_int(np.bool_(True)) and not is_real(True) and not is_int(False)
    assert not is_int(3.0) and not is_real("3") and not is_real(np.array([1.0]))


def test_check_int_messages():
    assert check_int(np.int32(4), "steps", 0) == 4 and type(check_int(np.int32(4), "s")) is int
    with pytest.raises(TypeError, match="^steps must be an integer, got float$"):
        check_int(4.0, "steps", 0)
    with pytest.raises(TypeError, match="^steps must be an integer, got bool$"):
        check_int(True, "steps", 0)
    with pytest.raises(ValueError, match="^steps must be >= 1, got 0$"):
        check_int(0, "steps", minimum=1)
    assert check_int(-5, "shift") == -5  # no minimum


def test_check_real_messages():
    assert check_real(3, "work", minimum=0.0, strict=True) == 3.0
    with pytest.raises(TypeError, match="^work must be a real number, got str$"):
        check_real("3", "work")
    with pytest.raises(ValueError, match="^work must be finite, got nan$"):
        check_real(math.nan, "work")
    with pytest.raises(ValueError, match="^work must be finite, got inf$"):
        check_real(math.inf, "work")
    assert check_real(math.inf, "link_rate", allow_inf=True) == math.inf
    with pytest.raises(ValueError, match="^work must be > 0.0, got 0$"):
        check_real(0, "work", minimum=0.0, strict=True)
    with pytest.raises(ValueError, match="^latency must be >= 0.0, got -1$"):
        check_real(-1, "latency", minimum=0.0)
    assert check_real(0, "latency", minimum=0.0) == 0.0


def test_check_positive_messages():
    assert check_positive(np.float32(0.5), "lr") == 0.5
    with pytest.raises(TypeError, match="^lr must be a positive real number, got NoneType$"):
        check_positive(None, "lr")
    for bad in (0, -0.1, math.inf, math.nan):
        with pytest.raises(ValueError, match="^lr must be positive and finite, got"):
            check_positive(bad, "lr")


def test_check_choice_and_positive_array():
    assert check_choice("ring", "algorithm", ("tree", "ring")) == "ring"
    with pytest.raises(ValueError, match="^algorithm must be one of 'tree', 'ring'; got 'x'$"):
        check_choice("x", "algorithm", ("tree", "ring"))
    np.testing.assert_array_equal(check_positive_array(2.0, "rates", length=3), [2.0] * 3)
    with pytest.raises(ValueError, match="rates must have length 3, got 2"):
        check_positive_array([1.0, 2.0], "rates", length=3)
    with pytest.raises(ValueError, match="rates must be > 0 everywhere"):
        check_positive_array([1.0, 0.0], "rates")
    with pytest.raises(ValueError, match="rates must be finite"):
        check_positive_array([1.0, math.inf], "rates")
    assert check_positive_array([1.0, math.inf], "rates", allow_inf=True)[1] == math.inf


def test_no_module_repeats_the_number_test():
    """The bool-excluding isinstance test lives in _checks only (is_int / is_real)."""
    copy = re.compile(r"isinstance\((\w+), bool\) or not isinstance\(\1,")
    root = pathlib.Path(coursekit.__file__).parent
    found = [
        f"{p.relative_to(root)}:{i}"
        for p in root.rglob("*.py")
        if p.name != "_checks.py"
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if copy.search(line)
    ]
    assert not found, found
