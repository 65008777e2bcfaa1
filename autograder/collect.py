"""Stage 1: turn a folder of submissions into one safe private copy per student.

``SUBMISSIONS`` holds, per student, either ``<student>.zip`` (as a learning-management system
exports it) or a folder ``<student>/``. Each is copied (a zip is extracted, refusing absolute
paths, ``..``, links and oversized archives) into a private work directory; the original is
only ever read. For every notebook the assignment expects, the copy is searched (nested
folders are fine; ``__MACOSX`` and ``._*`` litter is ignored) and parsed; the outcome is one
:class:`Submission` per student holding one :class:`NotebookFile` per expected notebook, with
status ``None`` (ready to run), ``missing`` or ``invalid``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .notebook import autograded_cells, read_notebook

#: Largest total uncompressed size accepted from one student's zip.
MAX_UNZIPPED_BYTES = 200 * 2**20
#: Largest single notebook accepted (a notebook full of outputs is still far below this).
MAX_NOTEBOOK_BYTES = 50 * 2**20
#: Most entries (files and folders) accepted in one student's zip or folder; checked from the
#: zip's directory record before the archive is parsed.
MAX_ENTRIES = 10_000
#: Seconds one student's collection (hash, copy or unzip, finding the notebooks) may take.
COLLECT_SECONDS = 60.0


class Budget:
    """A deadline for one student's collection; :meth:`check` raises ``ValueError`` past it."""

    def __init__(self, seconds: float = COLLECT_SECONDS):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self, doing: str) -> None:
        if time.monotonic() > self.end:
            raise ValueError(
                f"collection took longer than {self.seconds:g} s and was stopped ({doing})"
            )


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words (``named pipe``, ``socket``, ...)."""
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


@dataclass
class NotebookFile:
    """One expected notebook of one student after collection.

    Attributes
    ----------
    name : str
        Notebook name without ``.ipynb`` (as in the source assignment).
    path : Path or None
        The private copy to grade (``None`` when missing or unusable).
    status : str or None
        ``None`` when ready to run; else ``missing`` or ``invalid``.
    detail : str
        Why, or where it was found (``found as sub/renamed.ipynb``).
    """

    name: str
    path: Path | None
    status: str | None = None
    detail: str = ""


@dataclass
class Submission:
    """One student's collected submission.

    Attributes
    ----------
    student : str
        Student id: the zip's stem or the folder's name.
    original : Path
        The untouched zip or folder in ``SUBMISSIONS``.
    sha256 : str
        Hash of the original's content (lets a later run skip unchanged submissions).
    notebooks : dict
        ``name -> NotebookFile`` for every notebook of the assignment.
    status : str or None
        Set when the whole submission is unusable (``invalid``: a corrupt or unsafe zip).
    detail : str
    note : str
        Said on the student's row whatever the outcome (e.g. an ignored duplicate entry).
    """

    student: str
    original: Path
    sha256: str = ""
    notebooks: dict[str, NotebookFile] = field(default_factory=dict)
    status: str | None = None
    detail: str = ""
    note: str = ""


def _is_litter(rel: PurePosixPath) -> bool:
    return any(part == "__MACOSX" or part.startswith(".") for part in rel.parts)


def hash_path(
    path: Path, budget: Budget | None = None, max_entries: int | None = MAX_ENTRIES
) -> str:
    """SHA-256 of a file, or of a folder's relative paths and file contents (sorted).

    Never opens anything but regular files (a named pipe would block): links and special
    files enter the hash by their name and kind only. A folder is walked one entry at a time
    (depth first, names sorted: the order of ``sorted(path.rglob("*"))``, so hashes stored by
    earlier runs stay valid) and the ``budget`` is checked at every entry and every MB read,
    so that a folder of millions of entries or a very deep one cannot stall the run before
    its first check.

    Raises
    ------
    ValueError
        A folder of more than ``max_entries`` entries, or past the ``budget`` (the message
        says which, and how far it got).
    """
    h = hashlib.sha256()
    path = Path(path)
    mode = os.lstat(path).st_mode
    if stat.S_ISREG(mode):
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
                if budget is not None:
                    budget.check("hashing")
        return h.hexdigest()
    if not stat.S_ISDIR(mode):
        return hashlib.sha256(f"{file_kind(mode)} {path.name}".encode()).hexdigest()
    count = 0
    todo = _sorted_entries(path, "")
    while todo:
        rel, entry = todo.pop()
        count += 1
        if max_entries is not None and count > max_entries:
            raise ValueError(f"the folder holds more than {max_entries} entries")
        if budget is not None:
            budget.check(f"hashing, at entry {count}")
        mode = os.lstat(entry).st_mode
        if stat.S_ISLNK(mode):
            h.update(f"L {rel} -> {os.readlink(entry)}\n".encode())
        elif stat.S_ISREG(mode):
            h.update(f"F {rel}\n".encode())
            h.update(hash_path(Path(entry), budget).encode())
        elif stat.S_ISDIR(mode):
            todo += _sorted_entries(entry, rel + "/")
        else:
            h.update(f"S {rel} {file_kind(mode)}\n".encode())
    return h.hexdigest()


def _sorted_entries(folder, prefix: str) -> list[tuple[str, str]]:
    """``(relative name, path)`` of a folder's entries, last name first (a stack to pop).

    An unreadable folder has no entries (as for ``rglob``).
    """
    try:
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it)
    except OSError:
        return []
    return [(prefix + name, os.path.join(folder, name)) for name in reversed(names)]


def zip_entry_count(zpath: Path) -> int | None:
    """Entries the zip's end-of-directory record announces, read before parsing the archive
    (``None`` if there is no readable record: ``zipfile`` then says what is wrong)."""
    try:
        with open(zpath, "rb") as fh:
            record = zipfile._EndRecData(fh)
    except OSError:
        return None
    return None if record is None else int(record[zipfile._ECD_ENTRIES_TOTAL])


def safe_extract(zpath: Path, dest: Path, budget: Budget | None = None) -> None:
    """Extract ``zpath`` into ``dest``, refusing anything that could land outside it.

    Raises
    ------
    ValueError
        Corrupt archive, absolute or ``..`` member paths, symbolic links, more than
        ``MAX_UNZIPPED_BYTES`` uncompressed, more than ``MAX_ENTRIES`` entries, or past the
        ``budget``.
    """
    entries = zip_entry_count(zpath)
    if entries is not None and entries > MAX_ENTRIES:
        raise ValueError(f"zip holds {entries} entries; the limit is {MAX_ENTRIES}")
    try:
        zf = zipfile.ZipFile(zpath)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"not a readable zip file ({exc})") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ValueError(f"zip holds {len(infos)} entries; the limit is {MAX_ENTRIES}")
        total = 0
        for info in infos:
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
                raise ValueError(f"unsafe path in zip: {info.filename!r}")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise ValueError(f"symbolic link in zip: {info.filename!r}")
            total += info.file_size
        if total > MAX_UNZIPPED_BYTES:
            raise ValueError(f"zip expands to {total} bytes; the limit is {MAX_UNZIPPED_BYTES}")
        dest.mkdir(parents=True, exist_ok=True)
        try:
            for done, info in enumerate(infos):
                if budget is not None:
                    budget.check(f"unzipping, {done} of {len(infos)} entries done")
                target = dest / PurePosixPath(info.filename.replace("\\", "/"))
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
            raise ValueError(f"corrupt zip file ({type(exc).__name__}: {exc})") from exc


def copy_folder(src: Path, dest: Path, budget: Budget | None = None) -> list[str]:
    """Copy the regular files and folders below ``src`` to ``dest``; what was left out.

    A link is never followed or copied (a link to ``/etc`` or to another student's folder
    must not pull their files into this student's copy), and a special file (named pipe,
    socket, device) is never opened. Returns one ``"link ignored: sub/x.ipynb"`` or
    ``"named pipe ignored: x.ipynb"`` per such entry.

    Raises
    ------
    ValueError
        More than ``MAX_ENTRIES`` entries, or past the ``budget``.
    """
    ignored, count = [], 0
    dest.mkdir(parents=True, exist_ok=True)
    for root, dirs, files in os.walk(src):
        rel_root = Path(root).relative_to(src)
        for name in sorted(dirs + files):
            count += 1
            if count > MAX_ENTRIES:
                raise ValueError(f"the folder holds more than {MAX_ENTRIES} entries")
            if budget is not None:
                budget.check(f"copying, {count} entries done")
            path, rel = Path(root) / name, (rel_root / name).as_posix()
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                (dest / rel).mkdir(exist_ok=True)
            elif stat.S_ISREG(mode):
                shutil.copyfile(path, dest / rel, follow_symlinks=False)
            else:
                ignored.append(f"{file_kind(mode).replace('symbolic ', '')} ignored: {rel}")
                if name in dirs:
                    dirs.remove(name)  # os.walk does not follow it anyway; be explicit
    return ignored


def find_notebooks(root: Path, expected: dict[str, set[str]]) -> dict[str, NotebookFile]:
    """Locate and parse every expected notebook below ``root`` (a student's private copy).

    Parameters
    ----------
    root : Path
    expected : dict
        ``notebook name -> set of its test-cell grade ids`` (from the release), used to
        recognise a renamed notebook: if a name is absent and exactly one unclaimed notebook
        holds that notebook's test cells, it is taken (and the detail says so).

    Returns
    -------
    dict
        ``name -> NotebookFile``.
    """
    candidates = sorted(
        p
        for p in root.rglob("*.ipynb")
        if p.is_file()
        and not p.is_symlink()
        and not _is_litter(p.relative_to(root))
        and ".ipynb_checkpoints" not in p.parts
    )
    by_name: dict[str, list[Path]] = {}
    for p in candidates:
        by_name.setdefault(p.stem, []).append(p)
    found: dict[str, NotebookFile] = {}
    claimed: set[Path] = set()
    for name in expected:
        paths = by_name.get(name, [])
        if paths:
            # The shallowest copy wins (a zip of the folder nests it one level down).
            path = min(paths, key=lambda p: (len(p.relative_to(root).parts), str(p)))
            claimed.add(path)
            found[name] = NotebookFile(name, path)
    for name, gids in expected.items():
        if name in found:
            continue
        matches = []
        for p in candidates:
            if p in claimed or p.stem in expected:
                continue
            try:
                nb = read_notebook(p)
            except ValueError:
                continue
            if gids and gids <= set(autograded_cells(nb)):
                matches.append(p)
        if len(matches) == 1:
            claimed.add(matches[0])
            found[name] = NotebookFile(
                name,
                matches[0],
                detail=f"renamed: found as {matches[0].relative_to(root).as_posix()}",
            )
        else:
            found[name] = NotebookFile(name, None, "missing", f"no {name}.ipynb in the submission")
    for name, nbf in found.items():
        if nbf.path is None:
            continue
        if nbf.path.stat().st_size > MAX_NOTEBOOK_BYTES:
            found[name] = NotebookFile(
                name, None, "invalid", f"{name}.ipynb is larger than {MAX_NOTEBOOK_BYTES} bytes"
            )
            continue
        try:
            read_notebook(nbf.path)
        except ValueError as exc:
            found[name] = NotebookFile(name, None, "invalid", f"{name}.ipynb: {exc}")
    return found


def student_id(entry: Path) -> str:
    """The student a ``SUBMISSIONS`` entry belongs to: a folder's name, else the stem."""
    is_dir = stat.S_ISDIR(os.lstat(entry).st_mode)
    return entry.name if is_dir else entry.stem  # a named pipe ``x.zip`` is student x too


def entry_rank(entry: Path) -> tuple[int, str]:
    """Sort key choosing which of several entries of one student is graded (lowest wins).

    A folder first (the unpacked, usually the later, copy), then a ``.zip``, then anything
    else (which is ``invalid`` anyway); ties by name, so the choice never depends on the
    order the file system lists them in.
    """
    if entry.is_dir() and not entry.is_symlink():
        kind = 0
    elif entry.suffix.lower() == ".zip":
        kind = 1
    else:
        kind = 2
    return kind, entry.name


#: How :func:`entry_hashes` marks an entry it could not hash (never a hex digest).
UNHASHABLE = "unhashable: "


def entry_hashes(
    submissions_dir, seconds: float = COLLECT_SECONDS, skip=frozenset()
) -> dict[str, str]:
    """``entry name -> hash_path(entry)`` of every entry of ``SUBMISSIONS``, each in its budget.

    Taken before a run (to skip unchanged students, and to prove afterwards that grading
    changed nothing) and handed to :func:`collect`, which then does not hash again. An entry
    that cannot be hashed within ``seconds`` or :data:`MAX_ENTRIES` (millions of files, a
    very deep tree, a huge file) maps to ``UNHASHABLE + why``: collection marks that student
    ``invalid`` with the reason, and nobody waits for it. Names in ``skip`` are left out.
    """
    hashes = {}
    for entry in Path(submissions_dir).iterdir():
        if entry.name in skip:
            continue
        try:
            hashes[entry.name] = hash_path(entry, Budget(seconds))
        except (ValueError, OSError) as exc:
            hashes[entry.name] = UNHASHABLE + str(exc)
    return hashes


def _collect_one(
    student: str,
    entry: Path,
    expected: dict[str, set[str]],
    dest: Path,
    seconds: float = COLLECT_SECONDS,
    sha256: str | None = None,
) -> Submission:
    sub = Submission(student, entry)
    budget = Budget(seconds)
    try:
        mode = os.lstat(entry).st_mode
        if stat.S_ISLNK(mode):
            raise ValueError("a symbolic link, not a zip file or a folder")
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            # Never opened: reading a named pipe would block the whole run.
            raise ValueError(f"{entry.name} is a {file_kind(mode)}, not a zip file or a folder")
        if sha256 is not None and sha256.startswith(UNHASHABLE):
            raise ValueError(sha256[len(UNHASHABLE) :])
        sub.sha256 = sha256 if sha256 is not None else hash_path(entry, budget)
        if stat.S_ISDIR(mode):
            ignored = copy_folder(entry, dest, budget)
            sub.note = "; ".join(ignored[:5]) + (
                f" and {len(ignored) - 5} more" if len(ignored) > 5 else ""
            )
        elif entry.suffix.lower() == ".zip":
            safe_extract(entry, dest, budget)
        else:
            raise ValueError(f"{entry.name} is neither <student>.zip nor a folder")
        budget.check("finding the notebooks")
    except (ValueError, OSError) as exc:
        sub.status, sub.detail = "invalid", str(exc)
        sub.notebooks = {n: NotebookFile(n, None, "invalid", str(exc)) for n in expected}
        return sub
    sub.notebooks = find_notebooks(dest, expected)
    return sub


def collect(
    submissions_dir, expected: dict[str, set[str]], workdir, hashes: dict[str, str] | None = None
) -> list[Submission]:
    """Copy every student's submission into ``workdir`` and find its notebooks.

    Parameters
    ----------
    submissions_dir : path-like
        Folder of ``<student>.zip`` files and/or ``<student>/`` folders (read only).
    expected : dict
        ``notebook name -> test-cell grade ids`` of the assignment.
    workdir : path-like
        Private folder receiving ``<index>/`` copies.
    hashes : dict, optional
        :func:`entry_hashes` of ``submissions_dir``, taken earlier (each entry is hashed
        here otherwise, within its student's budget).

    Returns
    -------
    list of Submission
        Exactly one per student, sorted by student id. Hidden entries (``.DS_Store``) are
        skipped; any other file that is neither a zip nor a folder becomes an ``invalid``
        student.

    Notes
    -----
    Two entries can name the same student (``x.zip`` next to ``x/``, typically a zip the
    instructor also unpacked). They never abort the run: exactly one is graded, chosen by
    :func:`entry_rank` (a folder before a ``.zip`` before any other file, then by name), and
    ``Submission.note`` names the ignored entries so the row's detail says so.

    Raises
    ------
    ValueError
        If ``submissions_dir`` is not a folder.
    """
    sdir = Path(submissions_dir)
    if not sdir.is_dir():
        raise ValueError(
            f"submissions: expected a folder of <student>.zip files or "
            f"<student>/ folders, got {sdir}"
        )
    workdir = Path(workdir)
    entries = sorted(p for p in sdir.iterdir() if not p.name.startswith((".", "__MACOSX")))
    by_student: dict[str, list[Path]] = {}
    for entry in entries:
        by_student.setdefault(student_id(entry), []).append(entry)
    subs: list[Submission] = []
    for i, (student, candidates) in enumerate(sorted(by_student.items())):
        entry, *ignored = sorted(candidates, key=entry_rank)
        sub = _collect_one(
            student, entry, expected, workdir / f"{i:05d}", sha256=(hashes or {}).get(entry.name)
        )
        if ignored:
            sub.note = "; ".join(
                filter(
                    None,
                    [
                        sub.note,
                        f"{', '.join(p.name for p in ignored)} ignored: {entry.name} is the "
                        "same student and is the one graded",
                    ],
                )
            )
        subs.append(sub)
    return subs
