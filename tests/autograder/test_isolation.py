"""Kernels graded at the same time cannot see each other (issue 14, class 1).

Two students graded together by the real CLI with ``--jobs 2``:

* ``a-sniffer`` submits no solution of its own. Its first cell watches ``/proc/net/tcp`` and
  ``/proc/net/unix`` for 30 s, subscribes to every listening port that is not its own
  kernel's (another kernel's IOPub channel accepts any subscriber), keeps the source of every
  cell it receives, and also tries a loopback TCP port and an abstract unix socket its
  neighbour listens on. Its solution cells then define whatever it stole. With kernels on
  TCP in one network namespace this scored full marks.
* ``b-victim`` is a correct student whose first cell listens on 127.0.0.1:47111 and on the
  abstract unix socket ``@gd-covert`` for 20 s (a cooperating classmate's side of a covert
  channel), then runs its solutions.

Each kernel now has a network namespace of its own and talks to its grading process over
unix sockets in a folder only its sandbox sees: the sniffer must find no port and no socket
of the other, receive nothing, reach neither covert channel, and score what its own (empty)
code deserves.
"""

from __future__ import annotations

import csv
import html
import re

import nbformat
import pytest
from autograder_helpers import (
    ASSIGNMENT,
    SOURCE_NB,
    grade_id,
    run_cli,
    with_solutions,
    write_folder,
)

pytestmark = pytest.mark.slow

SNIFF = r"""import ast, json, os, socket, time
import zmq

def _own_inodes():
    # Sockets of this very kernel (its IOPub pipe, its own unix sockets) are not the other's.
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            found.add(link[8:-1])
    return found


def _listening():
    ports, own = set(), _own_inodes()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and fields[9] not in own:  # LISTEN, not this kernel's
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _unix_sockets():
    try:
        lines = open("/proc/net/unix").read().splitlines()[1:]
    except OSError:
        return set()
    own = _own_inodes()
    return {f[7] for f in (ln.split() for ln in lines)
            if len(f) >= 8 and f[6] not in own}


STOLEN, _subs, _received, _tcp, _abstract = {}, {}, 0, None, None
_ctx = zmq.Context.instance()
_deadline = time.time() + 30
while time.time() < _deadline and not (len(STOLEN) >= 3 and _tcp and _abstract):
    for port in _listening():
        if port not in _subs:
            s = _ctx.socket(zmq.SUB)
            s.setsockopt(zmq.SUBSCRIBE, b"")
            s.connect(f"tcp://127.0.0.1:{port}")
            _subs[port] = s
    for s in _subs.values():
        while s.poll(0):
            frames = s.recv_multipart()
            _received += 1
            try:
                at = frames.index(b"<IDS|MSG>")
                header, content = json.loads(frames[at + 2]), json.loads(frames[at + 5])
                if header.get("msg_type") == "execute_input":
                    tree = ast.parse(content["code"])
                    for node in tree.body:
                        if isinstance(node, ast.FunctionDef):
                            STOLEN[node.name] = content["code"]
            except Exception:
                pass
    if _tcp is None:
        try:
            with socket.create_connection(("127.0.0.1", 47111), timeout=0.2) as c:
                _tcp = c.recv(64)
        except OSError:
            pass
    if _abstract is None:
        try:
            c = socket.socket(socket.AF_UNIX)
            c.settimeout(0.2)
            c.connect("\0gd-covert")
            _abstract = c.recv(64)
            c.close()
        except OSError:
            pass
    time.sleep(0.1)
print("PORTS", sorted(_subs))
print("UNIX", sorted(_unix_sockets()))
print("RECEIVED", _received)
print("STOLEN", sorted(STOLEN))
print("TCP", _tcp)
print("ABSTRACT", _abstract)
"""

#: The sniffer's solution cells: the stolen definition, if any.
STEAL = 'exec(STOLEN.get("{name}", "raise NotImplementedError()"))\n'

LISTEN = r"""import socket, time
_tcp = socket.socket()
_tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
_abs = socket.socket(socket.AF_UNIX)
try:
    _tcp.bind(("127.0.0.1", 47111))
    _tcp.listen()
    _abs.bind("\0gd-covert")
    _abs.listen()
    print("LISTENING")
except OSError as exc:
    print("BIND FAILED", exc)
_tcp.settimeout(0.1)
_abs.settimeout(0.1)
_served, _end = 0, time.time() + 20
while time.time() < _end:
    for server in (_tcp, _abs):
        try:
            conn, _ = server.accept()
        except OSError:
            continue
        conn.sendall(b"COVERT")
        conn.close()
        _served += 1
print("SERVED", _served)
"""


def _after_setup(nb, source: str):
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "setup") + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    return nb


@pytest.fixture(scope="module")
def pair(tmp_path_factory, release_nb):
    source_nb = nbformat.read(str(SOURCE_NB), as_version=4)
    root = tmp_path_factory.mktemp("isolation")
    subs, out = root / "subs", root / "out"
    names = ("quadratic_grad", "gd_step", "gradient_descent_path")
    sniffer = with_solutions(release_nb, source_nb, {n: STEAL.format(name=n) for n in names})
    write_folder(subs, "a-sniffer", _after_setup(sniffer, SNIFF))
    write_folder(subs, "b-victim", _after_setup(with_solutions(release_nb, source_nb), LISTEN))
    proc = run_cli(
        "grade",
        ASSIGNMENT,
        subs,
        "--out",
        out,
        "--jobs",
        2,
        "--timeout",
        150,
        "--no-progress",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    # What each notebook printed: the feedback page's lines without their markup (the cells'
    # code, also on the page, never has these lines alone).
    pages = {
        s: {
            ln.strip()
            for ln in html.unescape(
                re.sub(r"<[^>]+>", "", (out / "feedback" / s / f"{ASSIGNMENT}.html").read_text())
            ).splitlines()
        }
        for s in rows
    }
    return rows, pages


def test_the_sniffer_scores_only_its_own_empty_code(pair):
    rows, _ = pair
    assert (rows["a-sniffer"]["status"], float(rows["a-sniffer"]["score"])) == ("graded", 0.0)
    assert (rows["b-victim"]["status"], float(rows["b-victim"]["score"])) == ("graded", 10.0)


def test_the_sniffer_finds_no_port_no_socket_and_receives_nothing(pair):
    _, pages = pair
    page = pages["a-sniffer"]
    for line in ("PORTS []", "UNIX []", "RECEIVED 0", "STOLEN []"):
        assert line in page, sorted(ln for ln in page if ln.startswith(line.split()[0]))


def test_no_covert_channel_between_two_kernels(pair):
    _, pages = pair
    # The victim did listen (in its own namespace) and nobody reached it.
    assert "LISTENING" in pages["b-victim"]
    assert "SERVED 0" in pages["b-victim"]
    assert "TCP None" in pages["a-sniffer"]
    assert "ABSTRACT None" in pages["a-sniffer"]
