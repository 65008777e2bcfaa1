"""Run a student's kernel in a sandbox: its own view of the files, its own processes, limits.

nbgrader runs student code as the grader. Here every kernel is started through
`bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap``, Debian package
``bubblewrap``) with

* a **file view** that holds only the system (``/usr``, ``/etc``, read-only), the Python
  installation and the virtual environment (read-only), the kernel's connection file and its
  working folder. The working folder is a small ``tmpfs``: the files nbgrader put there (data
  files of the assignment) are bound read-only, and what the student writes is thrown away.
  The gradebook, the source notebooks and hidden tests, the output folder, the submissions
  and the other students' temporary folders do not exist in that view; neither does the
  repository, so ``coursekit`` (the reference implementations) cannot be imported.
* its **own PID namespace**: the kernel sees only its own processes, cannot signal the
  grader, and everything it started dies with it (``--die-with-parent``).
* its **own network namespace** (only a loopback device): no other kernel's ports or
  sockets, no host service on localhost, ``/proc/net`` shows only its own. It talks to its
  grading process over ZeroMQ unix sockets in a folder bound into this sandbox alone
  (``ipc_dir``).
* its **own user** when the grader runs as root: a uid of its own per grading process
  (``61000 + pid % 4000``), with no supplementary groups, so ``RLIMIT_NPROC`` binds (it is
  not enforced for root) and nothing outside the view is writable even in principle.
* **resource limits** (:class:`Limits`): address space, CPU seconds, processes, file size,
  open files; ``tmpfs`` sizes bound the disk it can fill; no core files.

The sandbox is on by default for ``grade``; :func:`check_available` says what is missing
when it cannot work (no ``bwrap``; no user namespaces for a non-root grader).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

#: First uid of the sandbox users (root grader only); a grading process uses
#: ``SANDBOX_UID_BASE + pid % SANDBOX_UID_COUNT``, so concurrent students never share one.
SANDBOX_UID_BASE = 61000
SANDBOX_UID_COUNT = 4000
#: Packages that must not be importable in a student's kernel even if installed in the venv.
HIDDEN_PACKAGES = ("coursekit", "autograder")
#: Packages a graded kernel never uses, hidden too: ipykernel imports its debugger (debugpy
#: and pydevd) at start-up when it can, about a quarter of the kernel's start-up CPU, paid
#: for every student; without it the kernel starts with debugging off. Less code within the
#: student's reach, too.
UNUSED_PACKAGES = ("debugpy",)
MB = 2**20


class SandboxUnavailable(RuntimeError):
    """The machine cannot run the sandbox (the message says what to install or change)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one student's kernel (and of everything it starts).

    Attributes
    ----------
    memory_mb : int
        Address space of each process (``RLIMIT_AS``); a bigger allocation raises
        ``MemoryError`` in Python (the student's status becomes ``crashed``).
    cpu_seconds : int
        CPU time of each process (``RLIMIT_CPU``); past it the kernel is killed.
    processes : int
        Processes and threads of the sandbox user (``RLIMIT_NPROC``; a fork bomb stops there).
    file_mb : int
        Largest file the kernel may write (``RLIMIT_FSIZE``).
    disk_mb : int
        Size of each writable ``tmpfs`` (working folder, ``/tmp``, ``/dev/shm``).
    open_files : int
        ``RLIMIT_NOFILE``.
    output_mb : float
        Everything the kernel may send its grading process (outputs, their metadata, display
        updates, widget messages, replies); past it the kernel is killed and the student's
        status becomes ``crashed`` (enforced by :mod:`autograder.execute`, not by the kernel).
    """

    memory_mb: int = 2048
    cpu_seconds: int = 300
    processes: int = 64
    file_mb: int = 64
    disk_mb: int = 256
    open_files: int = 256
    output_mb: float = 4.0

    def __post_init__(self):
        for name in ("memory_mb", "cpu_seconds", "processes", "file_mb", "disk_mb", "open_files"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if not self.output_mb > 0:
            raise ValueError(f"output_mb: expected a positive number, got {self.output_mb!r}")


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def check_available() -> None:
    """Raise :class:`SandboxUnavailable` unless a kernel can be sandboxed on this machine.

    Runs ``bwrap`` once with the options the grader uses (about 10 ms).
    """
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(
            "the autograder runs every student's kernel in a bubblewrap sandbox, but `bwrap` "
            "is not installed (Debian/Ubuntu: apt-get install bubblewrap). To grade trusted "
            "notebooks without it, pass --unsafe-no-sandbox."
        )
    probe = [
        bwrap,
        *_namespace_args(),
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--",
        "true",
    ]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise SandboxUnavailable(
            f"bwrap cannot create a sandbox here ({done.stderr.strip()[:200]}); as a non-root "
            "user it needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone"
            "=1 or an AppArmor profile for bwrap). To grade trusted notebooks without it, pass "
            "--unsafe-no-sandbox."
        )


def _namespace_args() -> list[str]:
    # --unshare-net: a network namespace of its own (only a loopback device), so no other
    # kernel's sockets, no host service on localhost, and /proc/net shows only its own.
    args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
    if os.geteuid() != 0:
        args.insert(0, "--unshare-user")
    return args


def sandbox_uid() -> int | None:
    """The uid the kernel runs as (root grader), or ``None`` (it keeps the grader's uid)."""
    if os.geteuid() != 0:
        return None
    return SANDBOX_UID_BASE + os.getpid() % SANDBOX_UID_COUNT


def _count_processes_of(uid: int) -> int:
    count = 0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if proc.stat().st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def _rlimit_args(limits: Limits, uid: int | None) -> list[str]:
    nproc = limits.processes
    if uid is None:
        # RLIMIT_NPROC counts every process of the user: leave room for the grader's own.
        nproc += _count_processes_of(os.geteuid())
    return [
        "prlimit",
        f"--as={limits.memory_mb * MB}",
        f"--cpu={limits.cpu_seconds}",
        f"--nproc={nproc}",
        f"--fsize={limits.file_mb * MB}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def _system_args() -> list[str]:
    """Read-only system folders; merged-/usr symlinks (``/bin -> usr/bin``) kept as links."""
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


class _View:
    """The bind mounts of the sandbox, creating each mount point's parents readable (0755)."""

    def __init__(self):
        self.args: list[str] = []
        self.dirs: set[str] = {"/", "/usr", "/etc", "/tmp", "/dev", "/proc"}

    def parents(self, path: str) -> None:
        for parent in reversed(Path(path).parents):
            p = str(parent)
            if p not in self.dirs:
                self.dirs.add(p)
                self.args += ["--perms", "0755", "--dir", p]

    def ro(self, path: str) -> None:
        if path.startswith("/usr/") or path == "/usr":
            return
        self.parents(path)
        self.dirs.add(path)
        self.args += ["--ro-bind", path, path]


def python_roots() -> list[str]:
    """Folders the kernel's interpreter needs: the base installation and the venv."""
    roots = []
    for prefix in {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}:
        if not any(prefix == r or prefix.startswith(r + "/") for r in roots):
            roots.append(prefix)
    return sorted(roots)


def _masked_packages(roots: list[str]) -> list[str]:
    """Installed copies of :data:`HIDDEN_PACKAGES` and :data:`UNUSED_PACKAGES` inside the
    bound folders (to hide)."""
    masked = []
    for name in HIDDEN_PACKAGES + UNUSED_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            real = os.path.realpath(location)
            if any(real.startswith(r + "/") for r in roots):
                masked.append(real)
    return masked


def wrap(
    cmd: list[str], *, cwd: str, connection_file: str, limits: Limits, ipc_dir: str | None = None
) -> list[str]:
    """The command that runs kernel command ``cmd`` inside the sandbox.

    Parameters
    ----------
    cmd : list of str
        The kernel's own command line (``python -m ipykernel_launcher -f CONN ...``).
    cwd : str
        The kernel's working folder (nbgrader's autograded folder of the student): seen as a
        writable ``tmpfs`` of ``limits.disk_mb`` holding its current files read-only.
    connection_file : str
        The kernel's connection file, bound read-only (made readable by the sandbox user).
    limits : Limits
    ipc_dir : str, optional
        The folder of the kernel's ZeroMQ unix sockets (``transport = "ipc"``), bound
        writable at the same path and given to the sandbox user: the kernel creates its
        sockets there and its grading process connects to them. It is this student's
        alone; no other kernel's view holds it.
    """
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable("bwrap is not installed (apt-get install bubblewrap)")
    uid = sandbox_uid()
    cwd = os.path.realpath(cwd)
    connection_file = os.path.realpath(connection_file)
    if ipc_dir is not None:
        ipc_dir = os.path.realpath(ipc_dir)
    if uid is not None:
        os.chown(connection_file, uid, uid)
        if ipc_dir is not None:
            os.chown(ipc_dir, uid, uid)
    disk = str(limits.disk_mb * MB)
    view = _View()
    _python_view(view)
    _working_folder_view(view, cwd, disk)
    _sockets_view(view, connection_file, ipc_dir)
    args = [bwrap, *_namespace_args(), *_system_args(), *_scratch_args(disk), *view.args]
    args += ["--chdir", cwd, "--clearenv"]
    for key, value in _kernel_env().items():
        args += ["--setenv", key, value]
    tail = list(cmd)
    if uid is not None:
        # bwrap (as root) builds the view; setpriv then drops to the sandbox user for good.
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        tail = _as_user(uid, tail)
    return [*_rlimit_args(limits, uid), *args, "--", *tail]


def _scratch_args(disk: str) -> list[str]:
    """``/proc``, ``/dev`` and the writable scratch folders (``/tmp``, ``/dev/shm``), each a
    ``tmpfs`` of ``disk`` bytes anyone may write (sticky)."""
    args = ["--proc", "/proc", "--dev", "/dev"]
    for folder in ("/tmp", "/dev/shm"):
        args += ["--size", disk, "--perms", "1777", "--tmpfs", folder]
    return args


def _python_view(view: _View) -> None:
    """The interpreter and the venv, read-only, with the packages the kernel must not see
    (:data:`HIDDEN_PACKAGES`, :data:`UNUSED_PACKAGES`) covered by empty ``tmpfs``."""
    roots = python_roots()
    for root in roots:
        view.ro(root)
    for masked in _masked_packages(roots):
        view.args += ["--tmpfs", masked]


def _working_folder_view(view: _View, cwd: str, disk: str) -> None:
    """The working folder as a writable ``tmpfs`` holding its current files read-only."""
    view.parents(cwd)
    view.args += ["--size", disk, "--perms", "0777", "--tmpfs", cwd]
    view.dirs.add(cwd)
    for entry in sorted(os.listdir(cwd)):
        path = os.path.join(cwd, entry)
        if entry.endswith(".ipynb"):
            continue  # the student's notebook itself: nbgrader runs it from memory
        if entry in HIDDEN_PACKAGES:
            # A notebook validated next to a checkout (or a submission shipping a folder of
            # that name) would import it from the working folder: never the reference.
            continue
        view.args += ["--ro-bind", path, path]


def _sockets_view(view: _View, connection_file: str, ipc_dir: str | None) -> None:
    """The connection file (read-only) and the folder of the kernel's unix sockets."""
    view.ro(connection_file)
    if ipc_dir is not None:
        view.parents(ipc_dir)
        view.dirs.add(ipc_dir)
        view.args += ["--bind", ipc_dir, ipc_dir]


def _kernel_env() -> dict[str, str]:
    """The kernel's whole environment (bwrap clears the grader's)."""
    return {
        "PATH": os.pathsep.join(
            [os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]
        ),
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "IPYTHONDIR": "/tmp/ipython",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        # One thread each: the grader runs --jobs kernels side by side on the cores.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _as_user(uid: int, cmd: list[str]) -> list[str]:
    """``cmd`` run as ``uid`` with no groups and no capabilities, for good (``setpriv``)."""
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
        *cmd,
    ]


def proc_stat(pid: int) -> list[bytes]:
    """The fields of ``/proc/PID/stat`` after the command name (state, ppid, ...); ``[]`` if
    the process is gone. (The name, in parentheses, may itself hold spaces and parentheses.)"""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return []


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first), from one scan of ``/proc``."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        fields = proc_stat(int(proc.name))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(proc.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop(0)
        found.append(child)
        todo.extend(children.get(child, []))
    return found


class SandboxedKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel runs inside :func:`wrap`'s sandbox.

    nbclient (under nbgrader's ``Execute``) creates it through ``kernel_manager_class``;
    :class:`autograder.execute.GradingExecute` then gives each one its student's
    :attr:`limits`.
    """

    #: The kernel's resource limits (the defaults until ``GradingExecute`` sets this one's).
    limits: Limits = Limits()

    async def _async_signal_kernel(self, signum: int) -> None:
        """Signal the sandboxed processes, not ``bwrap`` itself.

        jupyter_client signals the kernel's whole process group, which here starts with
        ``bwrap``: an interrupt (SIGINT, sent when a cell runs out of time) would kill
        ``bwrap`` and with it the kernel, instead of interrupting the cell.
        """
        process = getattr(self.provisioner, "process", None)
        if process is None or signum == signal.SIGKILL:
            await super()._async_signal_kernel(signum)
            return
        for pid in descendants(process.pid):
            try:
                os.kill(pid, signum)
            except OSError:
                pass

    signal_kernel = _async_signal_kernel

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        cwd = (self._launch_args or {}).get("cwd") or os.getcwd()
        ipc_dir = os.path.dirname(self.ip) if self.transport == "ipc" else None
        return wrap(
            cmd,
            cwd=str(cwd),
            connection_file=self.connection_file,
            limits=self.limits,
            ipc_dir=ipc_dir,
        )
