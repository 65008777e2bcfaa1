"""The hidden-test machinery without a kernel: the codec, the probe, the judge, the sandbox.

The probe runs here with ``exec`` on a namespace, exactly the source a kernel receives.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder import _codec, hidden, sandbox
from autograder.hidden import Call, Case, Got, HiddenTests, check_array, check_number

DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.uint8, np.bool_])
ARRAYS = DTYPES.flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
VALUES = st.recursive(
    st.one_of(SCALARS, ARRAYS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=5), inner, max_size=3),
    ),
    max_leaves=8,
)


def same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_codec_round_trips_plain_data_through_json(value):
    assert same(_codec.loads(json.dumps(json.loads(_codec.dumps(value)))), value)


def test_codec_makes_other_objects_opaque_and_refuses_forged_data():
    class Secret:
        def __repr__(self):
            return "Secret()"

    got = _codec.decode(_codec.encode({"x": Secret(), "f": lambda: 1}))
    assert isinstance(got["x"], _codec.Opaque) and got["x"].type_name == "Secret"
    assert _codec.decode(_codec.encode(np.array([1 + 2j]))).type_name == "ndarray"
    for forged in (
        {"nd": ["|O", [1], "AAAAAAAAAAA="]},  # object dtype: never decoded
        {"nd": ["<f8", [3], "AAAAAAAAAAA="]},  # 8 bytes for 3 floats
        {"nd": ["<f8", [-1], ""]},
        {"pickle": "gASVBQAAAAAAAACMAXiULg=="},
        {"seq": [{"seq": []}], "tuple": False, "extra": 1},
    ):
        with pytest.raises(ValueError):
            _codec.decode(forged)


def test_codec_caps_what_a_result_may_cost():
    big = np.zeros(_codec.MAX_BYTES // 8 + 1)
    assert isinstance(_codec.decode(_codec.encode(big)), _codec.Opaque)
    deep = []
    for _ in range(_codec.MAX_DEPTH + 3):
        deep = [deep]
    assert "nested" in repr(_codec.decode(_codec.encode(deep)))


def _tests(expected_sign=1.0):
    tests = HiddenTests()

    @tests.cell("test_scale", seed=5)
    def _(rng):
        for k in range(3):
            x = rng.standard_normal(k + 1)
            what = f"scale (random test {k})"

            def check(got, what=what, x=x):
                check_array(what, got.value, expected_sign * 2 * x)
                if not np.array_equal(got.kept["x"], x):
                    raise AssertionError(f"{what} changed x in place")

            yield Case(what, Call("scale(x)", keep=["x"], x=x), check)

    return tests


def test_probe_judges_correct_wrong_raising_and_mutating_answers():
    tests = _tests()
    ok = {"np": np, "scale": lambda x: 2 * x}
    assert hidden.run_in_namespace(tests, "test_scale", ok) == []
    wrong = {"np": np, "scale": lambda x: 3 * x}
    assert (
        "scale (random test 0) is wrong" in hidden.run_in_namespace(tests, "test_scale", wrong)[0]
    )
    raising = {"scale": lambda x: 1 / 0}
    assert (
        hidden.run_in_namespace(tests, "test_scale", raising)[0]
        == "scale (random test 0) raised ZeroDivisionError: division by zero"
    )

    def in_place(x):
        x *= 2
        return x

    assert (
        "changed x in place" in hidden.run_in_namespace(tests, "test_scale", {"scale": in_place})[0]
    )


def test_probe_verdict_ignores_what_the_namespace_patched():
    # The student's namespace "fixes" numpy's comparison and the helpers: the judge is here.
    patched = {"np": np, "scale": lambda x: 3 * x, "check_array": lambda *a, **k: None}
    old = np.allclose
    try:
        failures = hidden.run_in_namespace(_tests(), "test_scale", patched)
    finally:
        np.allclose = old
    assert len(failures) == 3


def test_probe_output_lines_need_this_runs_nonce():
    cases = _tests().cases("test_scale")
    forged = f"{hidden.PROBE_MARK}other {json.dumps({'i': 0, 'value': 1})}\n"
    got = hidden.parse_probe_output(forged + "student print\n", "nonce", len(cases))
    assert all(g.missing for g in got)
    assert "no result" in hidden.judge(cases, got)[0]


def test_a_case_that_runs_out_of_time_skips_the_rest_of_its_cell():
    cases = _tests().cases("test_scale")
    src = hidden.probe_source(cases, "n", ["test_scale"] * 3, case_seconds=0.2)
    out = []
    env = {"scale": lambda x: [0 for _ in iter(int, 1)], "print": print}
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(src, "probe", "exec"), env)
    out = hidden.parse_probe_output(buf.getvalue(), "n", 3)
    assert [g.timed_out for g in out] == [True, True, True]
    assert "ran longer than 0.2 s" in hidden.judge(cases, out)[0]
    assert "skipped" in hidden.judge(cases, out)[1]


def test_inputs_are_taken_when_the_call_is_made():
    x = np.zeros(2)
    call = Call("f(x)", x=x)
    x[:] = 7.0
    assert np.array_equal(_codec.decode(call.plain()["inputs"])["x"], np.zeros(2))


def test_check_number_and_check_array_messages_say_what_to_fix():
    with pytest.raises(
        AssertionError,
        match=r"returned None; expected a NumPy array of shape "
        r"\(1,\) \(did you forget a `return`\?\)",
    ):
        check_array("f(x)", None, [1.0])
    with pytest.raises(AssertionError, match=r"returned shape \(2, 1\); expected \(2,\)"):
        check_array("f(x)", np.zeros((2, 1)), [0.0, 0.0])
    with pytest.raises(AssertionError, match="returned a Opaque|returned a str"):
        check_number("g(x)", "1.0", 1.0)
    check_number("g(x)", np.array(2.0), 2.0)
    check_number("g(x)", np.float64(2.0), 2.0)
    with pytest.raises(
        AssertionError,
        match=r"array of shape \(1,\); expected a single number "
        r"\(return float\(value\)",
    ):
        check_number("g(x)", np.array([2.0]), 2.0)
    with pytest.raises(
        AssertionError,
        match=r"returned a list; expected a NumPy array of shape "
        r"\(2,\) \(convert it with np.array",
    ):
        check_array("f(x)", [1.0, 2.0], [1.0, 2.0])
    # Plain floats in messages, not np.float64(...).
    with pytest.raises(AssertionError, match=r"it returned 3.0; expected 1.0$"):
        check_array("f(x)", np.array([3.0]), np.array([1.0]))
    with pytest.raises(AssertionError, match=r"it returned 2.5; expected 2.0$"):
        check_number("g(x)", np.float64(2.5), np.float64(2.0))
    with pytest.raises(AssertionError, match="it returned 2.5; expected 2.0"):
        check_number("g(x)", 2.5, 2.0)


def test_hidden_tests_refuse_a_builder_registered_twice_or_bad_cases():
    tests = HiddenTests()
    tests.cell("t", seed=1)(lambda rng: [Got()])
    with pytest.raises(ValueError, match="'t' has hidden tests already"):
        tests.cell("t", seed=2)(lambda rng: [])
    with pytest.raises(TypeError, match="expected Case objects"):
        tests.cases("t")
    with pytest.raises(ValueError, match="expr"):
        Call("  ")


def test_limits_are_checked_and_name_the_argument():
    with pytest.raises(ValueError, match="memory_mb: expected a positive integer"):
        sandbox.Limits(memory_mb=0)
    with pytest.raises(ValueError, match="output_mb"):
        sandbox.Limits(output_mb=-1)


def test_sandbox_command_hides_everything_but_the_kernel_needs(tmp_path):
    if sandbox.bwrap_path() is None:
        pytest.skip("bubblewrap is not installed")
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "data.csv").write_text("1,2\n")
    (cwd / "student.ipynb").write_text("{}")
    conn = tmp_path / "kernel.json"
    conn.write_text("{}")
    cmd = sandbox.wrap(
        ["python", "-m", "ipykernel_launcher"],
        cwd=str(cwd),
        connection_file=str(conn),
        limits=sandbox.Limits(memory_mb=1024),
    )
    assert cmd[0] == "prlimit" and f"--as={1024 * 2**20}" in cmd
    binds = {cmd[i + 1] for i, a in enumerate(cmd) if a == "--ro-bind"}
    assert str(cwd / "data.csv") in binds and str(conn) in binds
    assert str(cwd / "student.ipynb") not in binds
    assert not any(
        "exercises" in b or b.startswith("/tmp/pytest") and b.endswith(".db") for b in binds
    )
    assert "--unshare-pid" in cmd and "--die-with-parent" in cmd and "--clearenv" in cmd


def test_the_sandboxed_kernel_starts_without_its_debugger_and_without_the_references(tmp_path):
    # debugpy is hidden like coursekit (a quarter of the kernel's start-up CPU, and a
    # debugger is of no use to a graded kernel): ipykernel then runs with debugging off.
    import subprocess
    import sys

    if sandbox.bwrap_path() is None:
        pytest.skip("bubblewrap is not installed")
    cwd = tmp_path / "work"
    cwd.mkdir()
    conn = tmp_path / "kernel.json"
    conn.write_text("{}")
    code = (
        "import importlib.util as u\n"
        "from ipykernel.debugger import _is_debugpy_available\n"
        "import numpy, ipykernel.ipkernel\n"
        "print('debugger', _is_debugpy_available)\n"
        "for name in ('debugpy.server', 'coursekit.optimize', 'autograder.hidden'):\n"
        "    try:\n"
        "        found = u.find_spec(name) is not None\n"
        "    except ImportError:\n"
        "        found = False\n"
        "    print(name, found)\n"
    )
    cmd = sandbox.wrap(
        [sys.executable, "-c", code],
        cwd=str(cwd),
        connection_file=str(conn),
        limits=sandbox.Limits(),
    )
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == [
        "debugger False",
        "debugpy.server False",
        "coursekit.optimize False",
        "autograder.hidden False",
    ]
    # Outside the sandbox (the grader's own interpreter) all of them are there.
    assert importlib.util.find_spec("debugpy.server") is not None


def test_grading_without_bubblewrap_stops_before_anything_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        sandbox.check_available()
    with pytest.raises(sandbox.SandboxUnavailable, match="--unsafe-no-sandbox"):
        sandbox.check_available()


def test_sandbox_check_passes_here_when_bubblewrap_is_installed():
    if sandbox.bwrap_path() is None:
        pytest.skip("bubblewrap is not installed")
    sandbox.check_available()  # raises on a machine where it cannot work


def test_descendants_finds_grandchildren_and_proc_stat_reads_state():
    import subprocess
    import time

    parent = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 10
        while len(sandbox.descendants(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        kids = sandbox.descendants(parent.pid)
        assert len(kids) == 2
        assert all(sandbox.proc_stat(k)[1] == str(parent.pid).encode() for k in kids)
        assert sandbox.proc_stat(parent.pid)[0] in {b"S", b"R"}
    finally:
        for pid in sandbox.descendants(parent.pid):
            os.kill(pid, 9)
        parent.kill()
        parent.wait()
    assert sandbox.proc_stat(parent.pid) == []


def test_sandbox_command_for_a_grader_that_is_not_root(tmp_path, monkeypatch):
    # Not run for real here (CI runs as root): the command must then use bwrap's own user
    # namespace, keep the grader's uid (no setpriv, no capabilities) and leave room in the
    # process limit for the grader's own processes.
    if sandbox.bwrap_path() is None:
        pytest.skip("bubblewrap is not installed")
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(sandbox.os, "chown", lambda *a: pytest.fail("chown as non-root"))
    monkeypatch.setattr(sandbox, "_count_processes_of", lambda uid: 37)
    cwd = tmp_path / "work"
    cwd.mkdir()
    conn = tmp_path / "kernel.json"
    conn.write_text("{}")
    cmd = sandbox.wrap(
        ["python", "-m", "ipykernel_launcher"],
        cwd=str(cwd),
        connection_file=str(conn),
        limits=sandbox.Limits(processes=10),
    )
    assert sandbox.sandbox_uid() is None
    assert "--unshare-user" in cmd and "setpriv" not in cmd and "--cap-add" not in cmd
    assert "--nproc=47" in cmd


GD_HIDDEN = Path(__file__).resolve().parents[2] / "exercises" / "gd_basics" / "hidden_tests.py"


def _verdicts(tests, value):
    """Each grade id's failures when the kernel returned ``value`` for every call."""
    return {
        gid: hidden.judge(
            tests.cases(gid), [Got(value, None, dict(c.call.inputs)) for c in tests.cases(gid)]
        )
        for gid in tests.grade_ids
    }


def test_cases_built_by_the_fork_server_are_the_ones_a_student_process_would_build(tmp_path):
    copy = tmp_path / "hidden_tests.py"
    copy.write_bytes(GD_HIDDEN.read_bytes())  # the private copy a student's job names
    built = hidden.load(GD_HIDDEN)  # what the fork server does before it forks
    assert all(gid in built._cases for gid in built.grade_ids)  # every case built now
    # Not forked from the process that built them: loaded afresh (its code may have changed).
    fresh = hidden.load_built(copy)
    assert fresh is not built and fresh.grade_ids == built.grade_ids
    for gid in built.grade_ids:
        assert [c.call.plain() for c in built.cases(gid)] == [
            c.call.plain() for c in fresh.cases(gid)
        ]
    assert _verdicts(built, 0.0) == _verdicts(fresh, 0.0) and all(_verdicts(built, 0.0).values())
    built = hidden.load(GD_HIDDEN)
    pid = os.fork()
    if pid == 0:  # a student's process: same bytes, the parent's tests, nothing rebuilt
        same = hidden.load_built(copy) is built
        copy.write_text(GD_HIDDEN.read_text() + "\n# edited since the server loaded it\n")
        os._exit(0 if same and hidden.load_built(copy) is not built else 1)
    assert os.waitpid(pid, 0)[1] == 0
    with pytest.raises(ValueError, match="expected a hidden_tests.py file"):
        hidden.load_built(tmp_path / "missing.py")
