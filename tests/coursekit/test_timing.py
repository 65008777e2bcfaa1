"""coursekit.timing.median_seconds: the median of the calls' durations, on a fake clock."""

import pytest

from coursekit import timing


def test_median_seconds_is_the_median_of_the_calls(monkeypatch):
    # A clock that each call advances by the next duration: 0.3, then 5.0 (a disturbed call),
    # then 0.1 seconds. The median is 0.3; a mean would be 1.8.
    durations = iter([0.3, 5.0, 0.1])
    now = [0.0]

    def fake_clock():
        return now[0]

    def fun():
        now[0] += next(durations)

    monkeypatch.setattr(timing.time, "perf_counter", fake_clock)
    assert timing.median_seconds(fun, repeats=3) == pytest.approx(0.3)


def test_median_seconds_reads_the_clock_it_is_given():
    # CPU time instead of wall time: the chosen clock, read before and after each call.
    ticks = iter([0.0, 2.0, 10.0, 11.0, 20.0, 24.0])  # durations 2, 1, 4: median 2
    assert timing.median_seconds(lambda: None, 3, clock=lambda: next(ticks)) == 2.0
    with pytest.raises(TypeError, match="clock must be callable"):
        timing.median_seconds(lambda: None, 3, clock=1.0)


def test_median_seconds_calls_repeats_times_and_checks_its_arguments():
    calls = []
    assert timing.median_seconds(lambda: calls.append(1), repeats=5) >= 0 and len(calls) == 5
    with pytest.raises(ValueError, match="repeats"):
        timing.median_seconds(lambda: None, repeats=0)
    with pytest.raises(TypeError, match="fun must be callable"):
        timing.median_seconds(3.0)


def test_nn_analysis_uses_the_same_helper():
    from coursekit.nn import analysis

    assert analysis.median_seconds is timing.median_seconds
