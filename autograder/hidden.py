"""Hidden tests whose verdict is decided in the grader's process, never in the student's kernel.

An assignment's hidden tests live in ``exercises/<assignment>/hidden_tests.py``, beside the
notebook and never released. For each autograded test cell (by ``grade_id``) the file builds
*cases*: a :class:`Call` for the student's kernel (an expression over the student's functions,
with inputs that are plain data) and a check that runs here, in the grader, with coursekit::

    TESTS = HiddenTests()

    @TESTS.cell("test_quadratic_grad", seed=20261)
    def _(rng):
        A, b, x = ...                                 # random inputs, drawn here
        expected = Quadratic(A, b).grad(x)             # the reference, computed here
        what = "quadratic_grad (random test 0, d=3)"
        yield Case(what, Call("quadratic_grad(A, b, x)", A=A, b=b, x=x),
                   lambda got: check_array(what, got.value, expected))

At grading time, after every cell of the notebook has run, one *probe* cell is executed in the
same kernel: it evaluates each call and prints the results as plain data
(:mod:`autograder._codec`). The checks then compare them with the reference here. The kernel
sees the inputs only then, after the student's functions exist; it never sees the expected
values, the checks or this file; and patching NumPy, ``assert``, the notebook's helpers or
IPython inside the kernel changes nothing about how a result is judged. A test cell earns its
points when it ran without error in the kernel *and* every hidden case of it passed here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import io
import json
import os
import types
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _codec
from ._codec import Opaque

#: File of an assignment's hidden tests, beside its notebook(s); never released.
HIDDEN_TESTS_FILE = "hidden_tests.py"
#: Start of each result line the probe prints (followed by a per-run nonce).
PROBE_MARK = "@@autograder-probe"
#: Seconds one hidden-test case may run in the kernel.
CASE_SECONDS = 10.0


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Call:
    """What the student's kernel evaluates: ``expr`` with ``inputs`` bound as names.

    Parameters
    ----------
    expr : str
        A Python expression over the student's names, e.g.
        ``"conv2d_backward(dout, conv2d_forward(x, w, b, stride=s, pad=p)[1])"`` or
        ``"backtracking(lambda z: rosenbrock(z, a, b), x, d, g, 1.0, 0.5, 1e-4, 30)"``.
    setup : str
        Statements run before ``expr`` (e.g. ``"gen = np.random.default_rng(seed)"``).
    keep : tuple of str
        Names whose values are also returned *after* the call (to check that an argument was
        not changed in place).
    references : dict of str to str
        Functions of the notebook's *earlier* parts replaced, during this call only, by the
        course's: name -> source of a ``def name(...)`` (NumPy only; all of them are defined
        in one namespace, so they call each other). The notebook's global names are rebound,
        so the student's function calls them instead of the student's own: a mistake in an
        earlier part is charged to that part alone.
    **inputs
        Plain data (arrays, numbers, lists, strings) bound as names.
    """

    expr: str
    inputs: dict = field(default_factory=dict)
    setup: str = ""
    keep: tuple = ()
    references: dict = field(default_factory=dict)

    def __init__(
        self,
        expr: str,
        *,
        setup: str = "",
        keep: Iterable[str] = (),
        references: dict | None = None,
        **inputs,
    ):
        if not isinstance(expr, str) or not expr.strip():
            raise ValueError(f"expr: expected a Python expression, got {expr!r}")
        object.__setattr__(self, "expr", expr)
        object.__setattr__(self, "inputs", dict(inputs))
        # Encoded now: a builder that goes on to change an input array in place must not
        # change what this call sends.
        object.__setattr__(self, "_encoded", _codec.encode(dict(inputs)))
        object.__setattr__(self, "setup", setup)
        object.__setattr__(self, "keep", tuple(keep))
        references = dict(references or {})
        for name, source in references.items():
            if not (isinstance(source, str) and f"def {name}(" in source):
                raise ValueError(
                    f"references: expected the source of `def {name}(...)`, got {source!r}"
                )
        object.__setattr__(self, "references", references)

    def plain(self) -> dict:
        """The call as JSON-ready data (what is sent to the kernel)."""
        return {
            "expr": self.expr,
            "setup": self.setup,
            "keep": list(self.keep),
            "inputs": self._encoded,
            "references": dict(self.references),
        }


@dataclass
class Got:
    """What the kernel returned for one call.

    Attributes
    ----------
    value : object
        The decoded result (an :class:`Opaque` when it was not plain data).
    error : str or None
        ``"TypeError: ..."`` when the student's code raised.
    kept : dict
        Values of the call's ``keep`` names after the call.
    missing : bool
        The kernel gave no result (it stopped before the probe reached this case).
    timed_out : bool
        The case ran out of time (:data:`CASE_SECONDS`), or was skipped after one of its
        cell's cases did.
    """

    value: Any = None
    error: str | None = None
    kept: dict = field(default_factory=dict)
    missing: bool = False
    timed_out: bool = False


@dataclass
class Case:
    """One hidden test case: a call for the kernel and a check for the grader.

    ``check(got)`` raises ``AssertionError`` with the message the student will read.
    """

    what: str
    call: Call
    check: Callable[[Got], None]


class HiddenTests:
    """The hidden tests of one assignment: a case builder per test cell's ``grade_id``."""

    def __init__(self):
        self._builders: dict[str, tuple[Callable, int]] = {}
        self._cases: dict[str, list[Case]] = {}

    def cell(self, grade_id: str, *, seed: int):
        """Register ``builder(rng) -> iterable of Case`` for the test cell ``grade_id``."""
        if grade_id in self._builders:
            raise ValueError(f"grade_id: {grade_id!r} has hidden tests already")

        def register(builder):
            self._builders[grade_id] = (builder, int(seed))
            return builder

        return register

    @property
    def grade_ids(self) -> list[str]:
        return list(self._builders)

    def cases(self, grade_id: str) -> list[Case]:
        """The cases of one test cell, drawn from its own seeded generator (reproducible).

        Built once per :class:`HiddenTests` (the references, numerical gradients included, are
        computed once); the checks only read what they captured.
        """
        if grade_id not in self._cases:
            builder, seed = self._builders[grade_id]
            cases = list(builder(np.random.default_rng(seed)))
            for case in cases:
                if not isinstance(case, Case):
                    raise TypeError(
                        f"hidden tests of {grade_id}: expected Case objects, got "
                        f"{type(case).__name__}"
                    )
            self._cases[grade_id] = cases
        return list(self._cases[grade_id])


def load(path) -> HiddenTests:
    """Import an assignment's ``hidden_tests.py`` (in the grader) and return its ``TESTS``,
    every case built.

    Compiled from its text, so no ``__pycache__`` is written beside the sources. The cases
    are the same for every student (each test cell draws from its own seeded generator), and
    building them runs the course's reference implementations (a gradient descent per case,
    numerical gradients): in each student's process that was about a quarter of its CPU
    time. So they are built here, once per load, and remembered for the processes forked
    after it: the fork server loads the assignment's file before it forks (its ``preload``),
    and each student's process takes the server's built tests with :func:`load_built`, from
    its own copy-on-write copy of the server's memory (what one student's process changes,
    no other sees). A builder that raises is left unbuilt here and raises when its cases
    are asked for, as before.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"hidden tests: expected a hidden_tests.py file, got {path}")
    data = path.read_bytes()
    module = types.ModuleType(f"_hidden_tests_{uuid.uuid4().hex}")
    module.__file__ = str(path)
    exec(compile(data.decode("utf-8"), str(path), "exec"), module.__dict__)
    tests = getattr(module, "TESTS", None)
    if not isinstance(tests, HiddenTests):
        raise ValueError(f"hidden tests: {path} must define TESTS = HiddenTests()")
    for grade_id in tests.grade_ids:
        try:
            tests.cases(grade_id)
        except Exception:  # raised again, where it always was, when the cases are asked for
            pass
    _probe_sources()  # the probe's runtime and codec sources, read once too
    _BUILT[hashlib.sha256(data).hexdigest()] = (os.getpid(), tests)
    return tests


#: The last tests :func:`load` built from each file's bytes (by their SHA-256), with the pid
#: of the process that built them.
_BUILT: dict[str, tuple[int, HiddenTests]] = {}


def load_built(path) -> HiddenTests:
    """The tests of ``path`` as the parent process built them (the fork server's), when this
    process was forked from it after it loaded the same bytes; else :func:`load`.

    Only a forked child takes them: any other process (a long-lived one, whose course code
    may have changed since) loads afresh.
    """
    if not Path(path).is_file():
        return load(path)  # which says what is wrong
    built = _BUILT.get(hashlib.sha256(Path(path).read_bytes()).hexdigest())
    if built is not None and built[0] == os.getppid():
        return built[1]
    return load(path)


def hidden_tests_path(source_dir) -> Path | None:
    """``source_dir/hidden_tests.py`` if it exists."""
    path = Path(source_dir) / HIDDEN_TESTS_FILE
    return path if path.is_file() else None


# --------------------------------------------------------------------------- the probe


def _probe_runtime(
    payload: str, mark: str, user: dict, codec_source: str, case_seconds: float
) -> None:
    """Body of the probe cell (its source is sent to the kernel; see :func:`probe_source`).

    Evaluates every call in a copy of the notebook's namespace and prints one line per case:
    ``mark {"i": k, "value": ...}`` or ``mark {"i": k, "error": "..."}``. A case may run
    ``case_seconds``; after one runs out of time, the rest of its test cell's cases are
    skipped (a student's endless loop costs seconds, not one cell time limit per case).
    """
    import json as _json
    import signal as _signal
    import sys as _sys

    class CaseTimeout(BaseException):  # not an Exception: the student's `except` won't eat it
        pass

    def alarm(signum, frame):
        raise CaseTimeout()

    codec: dict = {"__name__": "_autograder_codec"}
    exec(codec_source, codec)  # the grader's own codec, not student code
    previous = _signal.signal(_signal.SIGALRM, alarm)
    out_of_time: set = set()
    unset = object()
    try:
        for i, case in enumerate(_json.loads(payload)):
            env = dict(user)
            line: dict = {"i": i}
            saved: dict = {}
            if case["group"] in out_of_time:
                line.update(
                    error="skipped: an earlier case of this test ran out of time", timeout=True
                )
            else:
                _signal.setitimer(_signal.ITIMER_REAL, case_seconds)
                try:
                    references: dict = {}
                    for source in case.get("references", {}).values():
                        exec(source, references)  # the course's code, not student's
                    for name in case.get("references", {}):
                        # Rebound in the notebook's own globals, which the student's functions
                        # read; put back after the call.
                        saved[name] = user.get(name, unset)
                        user[name] = env[name] = references[name]
                    env.update(codec["decode"](case["inputs"]))
                    if case["setup"]:
                        exec(case["setup"], env)
                    value = eval(case["expr"], env)
                    _signal.setitimer(_signal.ITIMER_REAL, 0)
                    line.update(
                        value=codec["encode"](value),
                        kept={k: codec["encode"](env.get(k)) for k in case["keep"]},
                    )
                except CaseTimeout:
                    out_of_time.add(case["group"])
                    line.update(
                        error=f"ran longer than {case_seconds:g} s (the time limit of "
                        "one hidden test case)",
                        timeout=True,
                    )
                except Exception as exc:  # the student's code raised: a result like any other
                    line.update(error=f"{type(exc).__name__}: {exc}"[:500])
                finally:
                    _signal.setitimer(_signal.ITIMER_REAL, 0)
                    for name, value in saved.items():
                        if value is unset:
                            user.pop(name, None)
                        else:
                            user[name] = value
            _sys.stdout.write(f"{mark} {_json.dumps(line)}\n")
            _sys.stdout.flush()
    finally:
        _signal.signal(_signal.SIGALRM, previous)


@functools.cache
def _probe_sources() -> tuple[str, str]:
    """The source of :func:`_probe_runtime` and of :mod:`autograder._codec` (read once)."""
    return inspect.getsource(_probe_runtime), inspect.getsource(_codec)


def probe_source(
    cases: list[Case],
    nonce: str,
    groups: list[str] | None = None,
    case_seconds: float = CASE_SECONDS,
) -> str:
    """Source of the probe cell for ``cases``: the runtime, the codec and the calls as data.

    ``groups`` names each case's test cell (a timed-out case skips the rest of its group).
    """
    groups = groups or ["all"] * len(cases)
    payload = json.dumps(
        [{**c.call.plain(), "group": g} for c, g in zip(cases, groups, strict=True)]
    )
    runtime, codec = _probe_sources()
    return (
        f"# Added by the autograder after your last cell: it calls your functions on the\n"
        f"# hidden tests' inputs and prints the results; they are checked by the grader.\n"
        f"{runtime}\n"
        f"_probe_runtime({payload!r}, {PROBE_MARK + nonce!r}, globals(),\n"
        f"               {codec!r}, {float(case_seconds)!r})\n"
    )


def parse_probe_output(text: str, nonce: str, n: int) -> list[Got]:
    """The :class:`Got` of each of ``n`` cases from the probe's printed lines.

    Lines not starting with the run's mark (the student's own prints) are ignored; a case with
    no line, or with a malformed one, is ``missing``.
    """
    mark = PROBE_MARK + nonce + " "
    got = [Got(missing=True) for _ in range(n)]
    for line in text.splitlines():
        if not line.startswith(mark):
            continue
        try:
            data = json.loads(line[len(mark) :])
            i = int(data["i"])
            if not 0 <= i < n or not got[i].missing:
                continue
            if "error" in data:
                got[i] = Got(error=str(data["error"])[:500], timed_out=bool(data.get("timeout")))
            else:
                got[i] = Got(
                    value=_codec.decode(data["value"]),
                    kept={str(k): _codec.decode(v) for k, v in dict(data.get("kept", {})).items()},
                )
        except (ValueError, KeyError, TypeError):
            continue
    return got


# --------------------------------------------------------------------------- the verdict


def judge(cases: list[Case], results: list[Got]) -> list[str]:
    """Check each result in the grader; return the failure messages (empty: all passed)."""
    failures = []
    for case, got in zip(cases, results, strict=True):
        if got.missing:
            failures.append(
                f"{case.what}: no result (the notebook stopped before the hidden "
                "tests ran this case: a time limit, a crash or output that was "
                "not printed)"
            )
            continue
        if got.error is not None:
            failures.append(
                f"{case.what}: {got.error}" if got.timed_out else f"{case.what} raised {got.error}"
            )
            continue
        try:
            case.check(got)
        except AssertionError as exc:
            failures.append(str(exc) or f"{case.what} is wrong")
        except Exception as exc:  # e.g. the student returned something odd: still a failure
            failures.append(
                f"{case.what}: the result could not be checked ({type(exc).__name__}: {exc})"[:500]
            )
    return failures


def run_in_namespace(tests: HiddenTests, grade_id: str, namespace: dict) -> list[str]:
    """Run one cell's hidden tests against ``namespace`` in this process (no kernel).

    The same probe source and codec as in a kernel, executed with ``exec``: used by the
    exercise tests, which run a notebook's cells in-process.
    """
    cases = tests.cases(grade_id)
    nonce = uuid.uuid4().hex
    out = io.StringIO()
    # Run in the namespace itself, as in a kernel (the student's functions read it as their
    # globals); the probe's one definition is removed again.
    had_probe = "_probe_runtime" in namespace
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(probe_source(cases, nonce), f"<probe {grade_id}>", "exec"), namespace)
    finally:
        if not had_probe:
            namespace.pop("_probe_runtime", None)
    return judge(cases, parse_probe_output(out.getvalue(), nonce, len(cases)))


# --------------------------------------------------------------------------- the checks


def _describe(got) -> str:
    if isinstance(got, Opaque):
        return f"a {got.type_name}"
    if got is None:
        return "None"
    return f"a {type(got).__name__}"


def _hint(got) -> str:
    """What to do about a result of the wrong type (the likely slip, not a guess at random)."""
    if got is None:
        return " (did you forget a `return`?)"
    if isinstance(got, (list, tuple)):
        return " (convert it with np.array(...))"
    return ""


def check_array(what: str, got, expected, rtol: float = 1e-7, atol: float = 1e-10) -> None:
    """Fail with an actionable message unless ``got`` is an array close to ``expected``.

    The same rules and messages as the notebooks' own ``check_array`` helper; numbers are
    printed as plain floats (``1.5``, not ``np.float64(1.5)``).
    """
    expected = np.asarray(expected, dtype=float)
    if not isinstance(got, np.ndarray):
        raise AssertionError(
            f"{what} returned {_describe(got)}; expected a NumPy array of "
            f"shape {expected.shape}{_hint(got)}"
        )
    if got.shape != expected.shape:
        raise AssertionError(f"{what} returned shape {got.shape}; expected {expected.shape}")
    if got.dtype.kind not in "biuf":
        raise AssertionError(f"{what} returned an array of {got.dtype}; expected numbers")
    if not np.all(np.isfinite(got)):
        raise AssertionError(f"{what} returned NaN or inf: {got}")
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
        raise AssertionError(
            f"{what} is wrong: at index {tuple(int(i) for i in worst)} it "
            f"returned {float(got[worst])!r}; expected "
            f"{float(expected[worst])!r}"
        )


def check_number(what: str, got, expected, rtol: float = 1e-7, atol: float = 1e-12) -> None:
    """Fail unless ``got`` is a real number close to ``expected``.

    The same rules and messages as the notebooks' own ``check_number`` helper. A NumPy scalar
    (or a 0-d array) is a number; an array of shape ``(1,)`` is not (it breaks the
    arithmetic a caller does with a number): the message says how to return a float.
    """
    if isinstance(got, np.ndarray) and got.dtype.kind in "biuf":
        if got.ndim > 0:
            raise AssertionError(
                f"{what} returned an array of shape {got.shape}; expected a "
                "single number (return float(value), or value.item())"
            )
        got = got.item()
    if isinstance(got, np.generic) and not isinstance(got, np.bool_):
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise AssertionError(
            f"{what} returned {_describe(got)}; expected a number (a Python "
            f"or NumPy float){_hint(got)}"
        )
    if not np.isfinite(got):
        raise AssertionError(
            f"{what} returned {got}; expected the finite number {float(expected)!r}"
        )
    if not np.isclose(got, expected, rtol=rtol, atol=atol):
        raise AssertionError(
            f"{what} is wrong: it returned {float(got)!r}; expected {float(expected)!r}"
        )


__all__ = [
    "Call",
    "Case",
    "Got",
    "HiddenTests",
    "HIDDEN_TESTS_FILE",
    "check_array",
    "check_number",
    "hidden_tests_path",
    "judge",
    "load",
    "parse_probe_output",
    "probe_source",
    "run_in_namespace",
]
