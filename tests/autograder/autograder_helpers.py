"""Reusable submission builders and CLI helpers for the autograder and exercise tests.

Builders start from the REAL released notebook (produced by ``python -m autograder release``)
and change it the way students do: fill in solution cells, break one function, edit a test
cell, zip it the way an LMS does, and so on.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "gd_basics"
SOURCE_NB = REPO / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def run_cli(*args, timeout=600, cwd=None) -> subprocess.CompletedProcess:
    """``python -m autograder ARGS`` exactly as an instructor runs it: no activated venv."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PATH"] = "/usr/bin:/bin"
    return subprocess.run(
        [sys.executable, "-m", "autograder", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd or REPO,
    )


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def with_solutions(release_nb, source_nb=None, replace: dict[str, str] | None = None):
    """The release with every solution cell filled from the source (what a good student submits).

    ``replace`` maps a solution cell's grade id to other code (a wrong or partial answer).
    """
    source_nb = source_nb or nbformat.read(str(SOURCE_NB), as_version=4)
    solutions = {grade_id(c): c.source for c in source_nb.cells}
    nb = nbformat.from_dict(release_nb)  # a copy
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            gid = meta["grade_id"]
            cell.source = (replace or {}).get(gid, solutions[gid])
    return nb


def edit_cell(nb, gid: str, new_source: str):
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == gid:
            cell.source = new_source
    return nb


def write_folder(subs: Path, student: str, nb, name: str = f"{ASSIGNMENT}.ipynb") -> Path:
    folder = subs / student
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / name))
    return folder


def write_zip(subs: Path, student: str, members: dict[str, str | bytes]) -> Path:
    path = subs / f"{student}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def tree_hashes(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file below ``root`` (plus mtimes, to catch touches)."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = (
                hashlib.sha256(p.read_bytes()).hexdigest(),
                p.stat().st_mtime_ns,
            )
    return out


def grade_args(subs, out, *extra) -> list[str]:
    """The arguments of ``python -m autograder grade`` for :data:`ASSIGNMENT` on the folder
    ``subs`` into ``out``, with no progress bar and the ``extra`` flags (str'ed); for
    :func:`run_cli`."""
    return ["grade", ASSIGNMENT, str(subs), "--out", str(out), "--no-progress", *map(str, extra)]


def grade_cmd(subs, out, *extra) -> list[str]:
    """The whole command of :func:`grade_args`, with this interpreter (to run another way:
    in the background, under ``unshare``, from another folder)."""
    return [sys.executable, "-m", "autograder", *grade_args(subs, out, *extra)]


CHROMIUM = "/usr/bin/chromium"


def launch_chromium(playwright):
    """Debian's Chromium, headless, without background network traffic, for the pages the
    grader writes (the cohort report, feedback); fails the test, with the fix, if missing."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does)")
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


#: The attributes through which a page makes the browser fetch something on its own.
_FETCHING_ATTRIBUTES = {"src", "href", "data", "poster", "srcset", "action"}


def remote_resources(page_html: str) -> list[str]:
    """Every URL in ``page_html`` that the browser would fetch from another host when the
    page opens: ``src``/``href``/... of any element (not ``<a href>``, which waits for a
    click) and ``url(...)`` in inline CSS, when absolute (``http(s)://`` or ``//``)."""
    import re
    from html.parser import HTMLParser

    remote = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            for name, value in attrs:
                if tag != "a" and name in _FETCHING_ATTRIBUTES and value and remote.match(value):
                    found.append(value)

    Collect().feed(page_html)
    found += [u for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", page_html) if remote.match(u)]
    return found
