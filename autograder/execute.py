"""nbgrader's ``Execute`` with two additions: the hidden-test probe and an output limit.

The output limit counts every byte the kernel sends its grading process, on every channel
(IOPub: streams, display data and its metadata, display updates, widget/comm messages, errors,
messages meant for another request; shell, stdin and control replies), before a message is
even decoded (:class:`OutputGuard`); the heartbeat channel is never opened, so nothing can
arrive there. Past ``--output-mb`` the kernel is killed and the
student's status is ``crashed (output limit)``. ZeroMQ itself refuses a single message larger
than the limit and queues at most :data:`QUEUED_MESSAGES` of them per channel, so the grading
process holds little more than the limit whatever the kernel sends.

:class:`GradingExecute` replaces ``Execute`` in nbgrader's autograde preprocessors (see
:func:`autograde_preprocessors`), so the rest of nbgrader (restoring test cells, scoring,
the gradebook, feedback) is unchanged. After the notebook's last cell, in the same kernel, it
runs the probe of :mod:`autograder.hidden`, judges the results in this (the grader's)
process, and writes each failure into its test cell as an error output, which is what
nbgrader's ``SaveAutoGrades`` scores: a test cell keeps its points only if it ran without
error *and* its hidden cases passed. The probe cell itself is removed again, so neither the
autograded notebook nor the feedback shows it.

Everything it needs comes in one :class:`GradingSetup` (the limits, the sandbox switch, the
hidden tests) through nbgrader's own configuration, ``config.GradingExecute.setup``; the
per-notebook outcome (failures, limits hit) goes into that set-up's ``reports`` for the
student's process to put in its result file.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import os
import re
import signal
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from nbgrader.preprocessors import Execute
from traitlets import Instance

from .hidden import HiddenTests, judge, parse_probe_output, probe_source
from .hidden import load_built as load_hidden_tests
from .notebook import is_test_cell
from .sandbox import MB, Limits, SandboxedKernelManager
from .verify import TIMEOUT_ERRORS

#: Largest probe output kept (the encoded results of all hidden cases); the probe may send
#: this much on top of the notebook's output limit.
PROBE_OUTPUT_LIMIT = 64 * MB
#: Messages ZeroMQ may queue per channel before it stops reading from the kernel (each at most
#: the output limit plus :data:`MESSAGE_SLACK`): the grading process's memory stays bounded
#: even when the kernel sends faster than nbclient reads.
QUEUED_MESSAGES = 16
#: Room for a message's header, parent header and signature above the output limit.
MESSAGE_SLACK = MB


class OutputLimitExceeded(RuntimeError):
    """The kernel sent more than the output limit (the kernel has been killed)."""


@dataclass
class NotebookReport:
    """What :class:`GradingExecute` found in one notebook."""

    hidden_failures: dict[str, list[str]] = field(default_factory=dict)
    hidden_cases: int = 0
    probe_timeout: bool = False
    output_dropped_bytes: int = 0
    #: Why the output limit stopped the notebook ("" when it did not).
    output_limit: str = ""


@dataclass(frozen=True)
class GradingSetup:
    """What :class:`GradingExecute` needs to grade one student's notebooks.

    Made by the process that drives the kernels (a student's process,
    :func:`autograder.child._set_up_execution`, or ``validate``'s, :func:`configure`) and
    passed through nbgrader's configuration (``config.GradingExecute.setup``) to every
    ``GradingExecute`` (and :class:`ValidateExecute`) nbgrader creates.

    Attributes
    ----------
    limits : Limits
        The kernel's resource limits (given to :class:`SandboxedKernelManager`) and the
        output limit (enforced here).
    sandbox : bool
        Start kernels in the sandbox of :mod:`autograder.sandbox`.
    hidden : HiddenTests or None
        The assignment's hidden tests; ``None``: the test cells alone decide.
    reports : dict
        ``notebook -> NotebookReport``, filled as each notebook runs, read afterwards by
        whoever made the set-up.
    further : dict
        ``grade_id -> [FailedCheck]``: the checks of a test cell that failed after its first
        failure, filled by :class:`ValidateExecute` only (``validate`` reports them all).
    """

    limits: Limits = field(default_factory=Limits)
    sandbox: bool = True
    hidden: HiddenTests | None = None
    reports: dict[str, NotebookReport] = field(default_factory=dict)
    further: dict[str, list] = field(default_factory=dict)

    def __deepcopy__(self, memo):
        # traitlets deep-copies every configured value into the object it configures; the
        # set-up is shared on purpose (its ``reports`` are read back), so it is never copied.
        return self


class OutputGuard:
    """Counts the bytes one notebook's kernel sends and stops it at the limit.

    One per notebook, owned by the :class:`GradingExecute` that runs it, which gives it to the
    notebook's kernel client (:class:`GuardedKernelClient`, and through it to each of the
    client's channels): every received message's raw size is reported here. A message ZeroMQ
    refused for its size shows as a dropped connection while the kernel lives on: the socket
    monitors catch that.
    """

    def __init__(self, limit_bytes: float):
        self.limit = float(limit_bytes)
        self.received = 0
        #: Messages dropped because their signature did not verify.
        self.unsigned = 0
        self.reason = ""
        self.kill = None  # set by GradingExecute once the kernel runs
        self._monitors: list[tuple[str, zmq.Socket]] = []
        self._dropped: set[str] = set()

    @property
    def max_message(self) -> int:
        """Largest single message ZeroMQ accepts (``ZMQ_MAXMSGSIZE``)."""
        return int(self.limit) + MESSAGE_SLACK

    def watch(self, channel: str, sock) -> None:
        """Monitor ``sock`` for a connection dropped because of an oversized message."""
        mon = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._monitors.append((channel, mon))

    def dropped(self) -> str:
        """A channel whose connection to the kernel was dropped ("" if none)."""
        for channel, mon in self._monitors:
            # Non-blocking: an asyncio socket answers at once (a result or zmq.Again).
            future = mon.recv_multipart(flags=zmq.NOBLOCK)
            if future.exception() is None:
                self._dropped.add(channel)
        return min(self._dropped, default="")

    def check(self) -> None:
        """Raise :class:`OutputLimitExceeded` if the limit was passed."""
        if self.reason:
            raise OutputLimitExceeded(self.reason)

    def count(self, nbytes: int) -> None:
        self.received += nbytes
        if self.received > self.limit:
            self._trip(f"the kernel sent more than {self.limit / MB:g} MB")
        self.check()

    def oversized(self, channel: str) -> None:
        self._trip(
            f"the kernel sent one message larger than {self.max_message / MB:g} MB "
            f"(on its {channel} channel)"
        )

    def _trip(self, reason: str) -> None:
        if not self.reason:
            self.reason = reason
            if self.kill is not None:
                self.kill()  # it would go on sending: stop it now

    def close(self) -> None:
        for _, mon in self._monitors:
            mon.close(0)
        self._monitors.clear()


class GuardedChannel(AsyncZMQSocketChannel):
    """A channel that counts each message's raw bytes before decoding it."""

    #: The notebook's guard, given by the client that made the channel (``None``: uncounted).
    guard: OutputGuard | None = None

    async def _recv(self, **kwargs):
        while True:
            frames = await self.socket.recv_multipart(**kwargs)
            if self.guard is not None:
                self.guard.count(sum(len(f) for f in frames))
            try:
                _, smsg = self.session.feed_identities(frames)
                return self.session.deserialize(smsg)
            except ValueError:
                # Not signed with this kernel's key (forged, or garbled by processes the
                # student's code forked): never trusted, never an error of the grader.
                if self.guard is not None:
                    self.guard.unsigned += 1


class GuardedKernelClient(AsyncKernelClient):
    """nbclient's kernel client with every channel counted and bounded (see the module).

    Its :attr:`guard` is the notebook's :class:`OutputGuard`, passed when the client is made
    (:meth:`GradingExecute.create_kernel_manager` has the kernel manager pass it); each channel
    gets it as the client creates the channel.
    """

    guard = Instance(OutputGuard, allow_none=True)

    shell_channel_class = GuardedChannel
    iopub_channel_class = GuardedChannel
    stdin_channel_class = GuardedChannel
    control_channel_class = GuardedChannel

    def _guarded(self, channel: GuardedChannel) -> GuardedChannel:
        channel.guard = self.guard
        return channel

    # jupyter_client creates each channel when it is first asked for: hand it the guard there,
    # so that no channel, whenever made, goes uncounted.
    @property
    def shell_channel(self):
        return self._guarded(super().shell_channel)

    @property
    def iopub_channel(self):
        return self._guarded(super().iopub_channel)

    @property
    def stdin_channel(self):
        return self._guarded(super().stdin_channel)

    @property
    def control_channel(self):
        return self._guarded(super().control_channel)

    def start_channels(self, shell=True, iopub=True, stdin=True, hb=True, control=True):
        """Every channel but the heartbeat, which the grader never opens.

        The heartbeat is a REQ socket reading one reply a second outside the channels above:
        a kernel that takes its address over (ends ipykernel's heartbeat thread, binds its own
        socket there) could answer each ping with megabytes the guard never counts. Nothing
        here needs it: whether the kernel lives is asked of its process (the kernel manager).
        With no socket connected to it, nothing a kernel sends there reaches this process.
        """
        super().start_channels(shell=shell, iopub=iopub, stdin=stdin, hb=False, control=control)

    def _create_connected_socket(self, channel, identity=None):
        if self.guard is None:
            return super()._create_connected_socket(channel, identity)
        # Options of the context apply to the sockets it creates next (set before connect).
        self.context.setsockopt(zmq.MAXMSGSIZE, self.guard.max_message)
        self.context.setsockopt(zmq.RCVHWM, QUEUED_MESSAGES)
        sock = super()._create_connected_socket(channel, identity)
        self.guard.watch(channel, sock)
        return sock

    async def _async_is_alive(self) -> bool:
        """Alive, as jupyter_client says; also where a message refused for its size shows.

        nbclient asks every second while a cell runs. ZeroMQ drops the connection that
        carried a message larger than ``ZMQ_MAXMSGSIZE``; a connection dropped while the
        kernel still lives (asked again a moment later, so that a kernel that died on its
        own is not mistaken for one) is the output limit.
        """
        alive = await super()._async_is_alive()
        guard = self.guard
        if alive and guard is not None and not guard.reason:
            channel = guard.dropped()
            if channel:
                await asyncio.sleep(0.5)
                if await super()._async_is_alive():
                    guard.oversized(channel)
        return alive

    is_alive = _async_is_alive


class GradingExecute(Execute):
    """``Execute`` that runs the hidden-test probe and caps what the cells print."""

    setup = Instance(
        GradingSetup,
        args=(),
        help="limits, sandbox and hidden tests of this student's grading (see GradingSetup)",
    ).tag(config=True)

    #: The guard of the notebook being run (made in :meth:`preprocess`, ``None`` between runs).
    _guard: OutputGuard | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.setup.sandbox:
            # nbgrader's Execute passes its kernel manager class as an argument, which beats
            # configuration: so it is chosen here, once the set-up is known.
            self.kernel_manager_class = SandboxedKernelManager

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        # The client counts what the kernel sends into this notebook's guard: nbclient asks
        # the manager for it with ``km.client()``, whose keywords go to the client's
        # constructor.
        km.client_factory = GuardedKernelClient
        km.client = functools.partial(km.client, guard=self._guard)
        if isinstance(km, SandboxedKernelManager):
            km.limits = self.setup.limits
        return km

    def preprocess(self, nb, resources=None, km=None):
        name = ((resources or {}).get("nbgrader") or {}).get("notebook", "notebook")
        self._report = self.setup.reports.setdefault(name, NotebookReport())
        self._probe_index = None
        self._probe_text: list[str] = []
        self._probe_bytes = 0
        self._guard = OutputGuard(self.setup.limits.output_mb * MB)
        self._guard.kill = self._kill_kernel
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._report.output_limit = self._guard.reason
            self._guard.close()
            self._guard = None

    def _kill_kernel(self) -> None:
        """SIGKILL the kernel's process group (in the sandbox: ``bwrap`` and all below it)."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            try:
                process.kill()
            except OSError:
                pass

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if self._guard is not None:
            self._guard.check()  # a message refused for its size shows only here
        if index == len(self.nb.cells) - 1 and self._probe_index is None:
            self._run_probe()
        return cell, resources

    # -- the probe ------------------------------------------------------------------------

    def _test_cells(self) -> dict:
        return {
            c.metadata.get("nbgrader", {}).get("grade_id"): c
            for c in self.nb.cells
            if is_test_cell(c)
        }

    def _run_probe(self) -> None:
        tests = self._test_cells()
        hidden = self.setup.hidden
        if hidden is None:
            return
        groups = [(gid, hidden.cases(gid)) for gid in hidden.grade_ids if gid in tests]
        cases = [case for _, group in groups for case in group]
        if not cases:
            return
        nonce = uuid.uuid4().hex
        names = [gid for gid, group in groups for _ in group]
        probe = nbformat.v4.new_code_cell(probe_source(cases, nonce, names))
        self.nb.cells.append(probe)
        self._probe_index = len(self.nb.cells) - 1
        if self._guard is not None:
            self._guard.limit += PROBE_OUTPUT_LIMIT  # the probe's results come on top
        try:
            self.execute_cell(probe, self._probe_index, store_history=False)
        finally:
            self.nb.cells.pop()
        if self._guard is not None:
            self._guard.check()
        if any(
            o.get("ename") in {"CellTimeoutError", "TimeoutError"}
            for o in probe.outputs
            if o.get("output_type") == "error"
        ):
            self._report.probe_timeout = True
        results = parse_probe_output("".join(self._probe_text), nonce, len(cases))
        if any(got.timed_out for got in results):
            self._report.probe_timeout = True
        self._report.hidden_cases = len(cases)
        start = 0
        for gid, group in groups:
            failures = judge(group, results[start : start + len(group)])
            start += len(group)
            if failures:
                self._report.hidden_failures[gid] = failures
                self._fail(tests[gid], failures)

    @staticmethod
    def _fail(cell, failures: list[str]) -> None:
        more = (
            f"\n(and {len(failures) - 1} more hidden case(s) of this cell failed)"
            if len(failures) > 1
            else ""
        )
        # Said so, because the cell itself may have printed "visible tests passed"; one line
        # each, so that the feedback page shows it without scrolling sideways.
        message = f"hidden test (run by the grader after your notebook):\n{failures[0]}{more}"
        cell.outputs.append(
            nbformat.v4.new_output(
                "error",
                ename="AssertionError",
                evalue=message,
                traceback=[f"AssertionError: {message}"],
            )
        )

    # -- outputs ----------------------------------------------------------------------------

    def output(self, outs, msg, display_id, cell_index):
        if cell_index == self._probe_index:
            content = msg.get("content", {})
            if msg.get("msg_type") == "stream" and content.get("name") == "stdout":
                text = str(content.get("text", ""))
                if self._probe_bytes + len(text) <= PROBE_OUTPUT_LIMIT:
                    self._probe_bytes += len(text)
                    self._probe_text.append(text)
            return None  # the probe's output is data for the grader, not for the notebook
        # Everything was counted on arrival (OutputGuard): past the limit nothing gets here.
        return super().output(outs, msg, display_id, cell_index)


@dataclass
class FailedCheck:
    """A check of a test cell that failed after the cell's first failure (``validate``).

    Attributes
    ----------
    line : int
        Line of the test cell where the failing statement starts (1-based).
    ename, evalue : str
    traceback : str
        IPython's traceback (ANSI colours included), for the line of the student's own code.
    """

    line: int
    ename: str
    evalue: str
    traceback: str


def _names(node, ctx) -> set[str]:
    """Names a statement reads (``ast.Load``) or binds (``ast.Store``, defs and imports)."""
    found = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}
    if ctx is ast.Store:
        found |= {
            n.name
            for n in ast.walk(node)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
        found |= {
            (a.asname or a.name).split(".")[0]
            for n in ast.walk(node)
            if isinstance(n, ast.Import | ast.ImportFrom)
            for a in n.names
        }
    return found


def cell_line(traceback: list[str]) -> int | None:
    """The line of the executed cell where an error came from (IPython's ``Cell In[n], line L``
    of the outermost frame, which is the cell's own), or ``None``."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(traceback))  # IPython colours it
    found = re.search(r"Cell In\[\d+\], line (\d+)", plain)
    return int(found.group(1)) if found else None


class ValidateExecute(GradingExecute):
    """``GradingExecute`` for ``validate``: a failing test cell's later checks run too.

    A test cell stops at its first failing check (grading charges the whole cell for it).
    A student fixing the notebook wants all of them at once: after the cell, in the same
    kernel, each later top-level statement of the cell runs on its own (a statement that
    reads a name a failed statement should have bound is skipped: its error would only
    repeat the first), and each one that fails is recorded in ``setup.further``. Grading never
    does this; nothing of it reaches the notebook.
    """

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if is_test_cell(cell) and errors and errors[0].get("ename") not in TIMEOUT_ERRORS:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", "?")
            failed_line = cell_line(errors[0].get("traceback", []))
            self.setup.further[gid] = self._run_later_checks(cell, failed_line)
        return cell, resources

    def _run_later_checks(self, cell, failed_line: int | None) -> list[FailedCheck]:
        try:
            body = ast.parse(cell.source).body
        except SyntaxError:
            return []
        at = next(
            (
                i
                for i, stmt in enumerate(body)
                if failed_line is not None and stmt.lineno <= failed_line <= stmt.end_lineno
            ),
            None,
        )
        if at is None:
            return []
        unbound = _names(body[at], ast.Store)
        found = []
        for stmt in body[at + 1 :]:
            if _names(stmt, ast.Load) & unbound:
                unbound |= _names(stmt, ast.Store)
                continue
            part = nbformat.v4.new_code_cell(ast.get_source_segment(cell.source, stmt))
            self.nb.cells.append(part)
            try:
                self.execute_cell(part, len(self.nb.cells) - 1, store_history=False)
            finally:
                self.nb.cells.pop()
            if self._guard is not None:
                self._guard.check()
            error = next((o for o in part.outputs if o.get("output_type") == "error"), None)
            if error is None:
                continue
            line = stmt.lineno + (cell_line(error.get("traceback", [])) or 1) - 1
            found.append(
                FailedCheck(
                    line,
                    error.get("ename", ""),
                    error.get("evalue", ""),
                    "\n".join(error.get("traceback", [])),
                )
            )
            unbound |= _names(stmt, ast.Store)
            if error.get("ename") in TIMEOUT_ERRORS:
                break  # one more cell time limit is all a student should wait for
        return found


def configure(
    config,
    *,
    limits: Limits,
    sandbox: bool,
    ipc_dir: Path,
    runtime_dir: Path,
    hidden_tests: str | None = None,
) -> GradingSetup:
    """Set this process up to run notebooks as grading does (limits, sandbox, unix sockets).

    Runs in the process that drives the kernels: a student's grading process (before
    ``autograde``), or ``validate``'s. The kernel and this process talk over ZeroMQ unix
    sockets in ``ipc_dir``, a folder of this student's own (bound into its sandbox only),
    never over TCP: with a network namespace per kernel no other kernel can find, subscribe
    to or connect to them, and no ports are shared. The kernel's connection file goes to
    ``runtime_dir`` (the sandbox makes it readable by the kernel's user), not to the shared
    Jupyter runtime folder.

    Returns the :class:`GradingSetup` given to ``config.GradingExecute.setup``: its
    ``reports`` and ``further`` hold what the notebooks' runs found.
    """
    setup = GradingSetup(
        limits=limits,
        sandbox=bool(sandbox),
        hidden=load_hidden_tests(hidden_tests) if hidden_tests else None,
    )
    config.GradingExecute.setup = setup
    config.Autograde.autograde_preprocessors = autograde_preprocessors()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(Path(ipc_dir) / "k")
    Path(runtime_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime_dir)
    # A kernel manager made directly (as nbclient makes it) ignores the runtime folder and
    # writes its connection file (the HMAC key) to $TMPDIR, where a killed student left it.
    config.KernelManager.connection_file = str(Path(runtime_dir) / "kernel.json")
    return setup


def autograde_preprocessors() -> list:
    """nbgrader's autograde preprocessors with ``Execute`` replaced by :class:`GradingExecute`."""
    from nbgrader.converters.autograde import Autograde

    default = list(Autograde.class_traits()["autograde_preprocessors"].default())
    return [GradingExecute if pp is Execute else pp for pp in default]
