"""Stage 3: decide each notebook's verdict in the grader's own process.

The child process that ran nbgrader reports scores, but the verdict is recomputed here from
the autograded notebook (a grade cell earns its points when it produced no error, nbgrader's
rule), checked against the instructor's release (which test cells exist, whether the student
changed them) and against nbgrader's own gradebook numbers. Nothing here executes student code.

Also here: putting the instructor's cells and nbgrader metadata back into a submission
(:func:`restore_nbgrader_metadata`, :func:`restore_deleted_cells`, run in the student's
process before nbgrader) and reporting what was changed (:func:`tamper_check`). The notebook
helpers live in :mod:`autograder.notebook`, the leak checks in :mod:`autograder.leaks`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .notebook import autograded_cells, cell_errors, is_protected_cell, is_test_cell, nbgrader_meta

#: Error names nbclient/nbgrader put in a cell that ran out of time.
TIMEOUT_ERRORS = {"CellTimeoutError", "TimeoutError"}


@dataclass
class Verdict:
    """The graded outcome of one notebook of one student.

    Attributes
    ----------
    notebook : str
        Notebook name without ``.ipynb``.
    status : str
        One of :data:`autograder.STATUSES`.
    score, max_score : float
        Autograded points earned and available.
    detail : str
        Human-readable reason (empty when graded cleanly).
    cells : dict
        ``grade_id -> (score, max_score)`` for every autograded test cell.
    """

    notebook: str
    status: str
    score: float
    max_score: float
    detail: str = ""
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)


def tamper_check(submitted_nb, release_nb, source_nb=None) -> list[str]:
    """List the protected cells of the release that the submission deleted or edited.

    A protected cell must read as in the release (or, for the instructor's own copy, as in the
    source). nbgrader restores these cells before grading anyway; this only reports it.

    Parameters
    ----------
    submitted_nb, release_nb : nbformat.NotebookNode
    source_nb : nbformat.NotebookNode, optional

    Returns
    -------
    list of str
        e.g. ``["edited test_gd_step", "deleted setup", "reordered test_gd_step"]``; empty
        when nothing was touched.
    """
    import nbformat  # (here: a cluster worker imports this module without needing it)

    submitted_nb = nbformat.from_dict(copy.deepcopy(dict(submitted_nb)))
    problems = [
        f"metadata of {c}" if not c.startswith("nbgrader metadata") else c
        for c in restore_nbgrader_metadata(submitted_nb, release_nb)
    ]
    submitted = {}
    for cell in submitted_nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid is not None:
            submitted.setdefault(gid, cell)
    originals = {}
    if source_nb is not None:
        originals = {
            nbgrader_meta(c).get("grade_id"): c.source.strip()
            for c in source_nb.cells
            if is_protected_cell(c)
        }
    for cell in release_nb.cells:
        if not is_protected_cell(cell):
            continue
        gid = nbgrader_meta(cell)["grade_id"]
        if gid not in submitted:
            problems.append(f"deleted {gid}")
        elif submitted[gid].source.strip() not in {cell.source.strip(), originals.get(gid)}:
            problems.append(f"edited {gid}")
    # Moving a test cell above the code it tests (or below a later one) changes what it
    # checks, although its text is intact: the order of the graded cells must be kept.
    release_ids = [
        nbgrader_meta(c).get("grade_id")
        for c in release_nb.cells
        if nbgrader_meta(c).get("grade_id") in submitted
    ]
    kept = set(release_ids)
    submitted_ids = list(
        dict.fromkeys(
            nbgrader_meta(c).get("grade_id")
            for c in submitted_nb.cells
            if nbgrader_meta(c).get("grade_id") in kept
        )
    )
    if submitted_ids != release_ids:
        moved = next(s for s, r in zip(submitted_ids, release_ids, strict=True) if s != r)
        problems.append(f"reordered {moved}")
    return problems


#: nbgrader metadata that decides grading; the rest (``checksum``, ``cell_type``,
#: ``schema_version``) is nbgrader's bookkeeping, written again by each nbgrader version: it
#: is restored too, but a difference there is not the student's doing.
GRADING_KEYS = ("grade_id", "grade", "solution", "locked", "points", "task")


def _describe_meta_change(gid: str, release: dict, submitted: dict) -> str:
    """``"test_gd_step: points set to 1000 (release: 2)"``: what a student changed."""
    keys = [k for k in GRADING_KEYS if release.get(k) != submitted.get(k)]
    parts = []
    for key in keys[:3]:
        if key == "grade" and release.get(key) and not submitted.get(key):
            parts.append("grade turned off")
        elif key not in submitted:
            parts.append(f"{key} removed")
        else:
            parts.append(f"{key} set to {submitted[key]!r} (release: {release.get(key)!r})")
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return f"{gid}: {', '.join(parts)}{more}"


def restore_nbgrader_metadata(submitted_nb, release_nb) -> list[str]:
    """Give every cell of the release its nbgrader metadata back; list what had changed.

    nbgrader grades on the cells' metadata (``grade_id``, ``grade``, ``points``, ``solution``,
    ``locked``), which a student's file can change. The instructor's metadata is put back, so
    the student is graded on the release's cells, ids and points:

    * a cell keeps its place if its ``grade_id`` and kind (solution or not, cell type) are the
      release's;
    * a release cell whose id is gone (renamed, or taken by a cell of another kind) is given
      back to the submission's unclaimed nbgrader cell of the same type between the same
      neighbours (the renamed cell is still where the release has it);
    * nbgrader metadata on any other cell (a made-up test cell, a second copy of an id) is
      removed: the cell stays, as ordinary code or text.

    Other metadata (tags, ``editable``, ``collapsed``) is left alone: it grades nothing. Only
    changes of :data:`GRADING_KEYS` are listed (nbgrader's checksums differ between versions).
    Deleted cells are :func:`restore_deleted_cells`' business.

    Returns
    -------
    list of str
        One item per changed cell (``"test_gd_step: points 1000 -> 2"``); empty when none.
    """
    release = [
        (nbgrader_meta(c)["grade_id"], c)
        for c in release_nb.cells
        if nbgrader_meta(c).get("grade_id")
    ]
    by_id = dict(release)
    cells = submitted_nb.cells

    def kind(cell):
        return cell.get("cell_type"), bool(nbgrader_meta(cell).get("solution"))

    owner: dict[str, int] = {}  # release grade_id -> index of the submission's cell
    for i, cell in enumerate(cells):
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in by_id and gid not in owner and kind(cell) == kind(by_id[gid]):
            owner[gid] = i
    taken = set(owner.values())
    changes = []
    order = [gid for gid, _ in release]
    for pos, gid in enumerate(order):
        if gid in owner:
            continue
        before = max((owner[g] for g in order[:pos] if g in owner), default=-1)
        after = min((owner[g] for g in order[pos + 1 :] if g in owner), default=len(cells))
        ref = by_id[gid]
        for i in range(before + 1, after):
            if (
                i not in taken
                and nbgrader_meta(cells[i])
                and cells[i].get("cell_type") == ref.get("cell_type")
            ):
                old = nbgrader_meta(cells[i]).get("grade_id")
                what = f"took the id of {old}" if old in by_id else f"renamed to {old!r}"
                changes.append(f"{gid}: {what}")
                owner[gid] = i
                taken.add(i)
                cells[i].metadata["nbgrader"] = copy.deepcopy(dict(ref.metadata["nbgrader"]))
                break
    for i, cell in enumerate(cells):
        meta = nbgrader_meta(cell)
        if i in taken or not meta:
            continue
        changes.append(
            f"nbgrader metadata removed from a cell the release does not have "
            f"(grade_id {meta.get('grade_id')!r})"
        )
        del cell.metadata["nbgrader"]
    for gid, i in owner.items():
        ref_meta = dict(by_id[gid].metadata["nbgrader"])
        meta = dict(nbgrader_meta(cells[i]))
        if meta != ref_meta:
            if any(meta.get(k) != ref_meta.get(k) for k in GRADING_KEYS):
                changes.append(_describe_meta_change(gid, ref_meta, meta))
            cells[i].metadata["nbgrader"] = copy.deepcopy(ref_meta)
    return changes


def restore_deleted_cells(submitted_nb, release_nb) -> list[str]:
    """Put the release's protected cells that the submission deleted back, in place.

    nbgrader restores the text of a test or read-only cell it finds, but a deleted one stays
    deleted (and its points silently lost, or the notebook rejected). Each missing cell is
    inserted after the submission's cell holding the nearest earlier ``grade_id`` of the
    release, so it runs where the instructor put it.

    Returns
    -------
    list of str
        The ``grade_id`` of each restored cell (empty when none was missing).
    """
    import nbformat

    present = [nbgrader_meta(c).get("grade_id") for c in submitted_nb.cells]
    restored = []
    for index, cell in enumerate(release_nb.cells):
        gid = nbgrader_meta(cell).get("grade_id")
        if not is_protected_cell(cell) or gid in present:
            continue
        at = 0
        for earlier in reversed(release_nb.cells[:index]):
            earlier_id = nbgrader_meta(earlier).get("grade_id")
            if earlier_id is not None and earlier_id in present:
                at = present.index(earlier_id) + 1
                break
        submitted_nb.cells.insert(at, nbformat.from_dict(dict(cell)))
        present.insert(at, gid)
        restored.append(gid)
    return restored


def limits_reached(autograded_nb, report: dict | None = None) -> tuple[str, str] | None:
    """The first resource limit the student's code ran into, as ``(status, detail)``.

    Read from the executed notebook (a ``MemoryError`` under the address-space limit, a
    failed ``fork`` under the process limit, a write past the file-size limit or a full
    ``tmpfs``, a cell interrupted by the cell time limit) and
    from the grading process's ``report`` (output dropped past the output limit, hidden
    tests that ran out of time). ``None`` when no limit was reached.
    """
    report = report or {}
    if report.get("output_dropped_bytes"):
        return (
            "crashed",
            f"output limit reached: the cells printed too much; "
            f"{report['output_dropped_bytes']} bytes were dropped",
        )
    timed_out = []
    for index, cell in enumerate(autograded_nb.cells):
        if cell.get("cell_type") != "code":
            continue
        where = nbgrader_meta(cell).get("grade_id") or f"cell {index + 1}"
        for ename, evalue in cell_errors(cell):
            if ename == "MemoryError":
                return ("crashed", f"memory limit reached in {where} (MemoryError)")
            if ename == "BlockingIOError" or (
                ename == "OSError" and "Resource temporarily unavailable" in evalue
            ):
                return ("crashed", f"process limit reached in {where} ({ename}: {evalue})"[:300])
            if ename == "OSError" and (
                "No space left on device" in evalue or "File too large" in evalue
            ):
                return ("crashed", f"disk limit reached in {where} ({ename}: {evalue})"[:300])
            if ename in TIMEOUT_ERRORS:
                timed_out.append(where)
    if report.get("probe_timeout"):
        timed_out.append("the hidden tests")
    if timed_out:
        return ("timeout", f"cell time limit reached in {', '.join(timed_out)}")
    return None


def _zero(cells: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """A crashed notebook scores 0 in every cell (the gradebook must agree with grades.csv)."""
    return {gid: (0.0, points) for gid, (_, points) in cells.items()}


def verdict_from_autograded(
    notebook: str,
    autograded_nb,
    release_nb,
    source_nb,
    reported: dict[str, float] | None = None,
    report: dict | None = None,
) -> Verdict:
    """Recompute the score of one autograded notebook and decide its status.

    Parameters
    ----------
    notebook : str
        Notebook name (for messages).
    autograded_nb : nbformat.NotebookNode
        nbgrader's autograded copy (test cells restored from the source, executed).
    release_nb, source_nb : nbformat.NotebookNode
        The instructor's released and source versions of the notebook.
    reported : dict, optional
        ``grade_id -> auto_score`` as nbgrader's gradebook recorded it; a disagreement with the
        recomputed score marks the notebook ``crashed`` (something interfered with grading).
    report : dict, optional
        What the grading process found (:class:`autograder.execute.NotebookReport` as a
        dict): see :func:`limits_reached`.

    Returns
    -------
    Verdict
        status ``graded`` or ``timeout`` (a cell ran out of time) or ``crashed``.
    """
    expected = autograded_cells(release_nb)
    restored = {nbgrader_meta(c).get("grade_id"): c for c in autograded_nb.cells if is_test_cell(c)}
    source_tests = {nbgrader_meta(c)["grade_id"]: c for c in source_nb.cells if is_test_cell(c)}
    cells: dict[str, tuple[float, float]] = {}
    problems = []
    for gid, points in expected.items():
        cell = restored.get(gid)
        if cell is None:
            problems.append(f"test cell {gid} is missing from the autograded notebook")
            cells[gid] = (0.0, points)
            continue
        if cell.source.strip() != source_tests[gid].source.strip():
            problems.append(f"test cell {gid} was not restored from the source")
            cells[gid] = (0.0, points)
            continue
        errors = cell_errors(cell)
        cells[gid] = (0.0 if errors else points, points)
    if reported is not None:
        for gid, (score, _) in cells.items():
            if gid in reported and abs(float(reported[gid]) - score) > 1e-9:
                problems.append(
                    f"nbgrader recorded {reported[gid]} for {gid}, "
                    f"the autograded notebook shows {score}"
                )
    score = sum(s for s, _ in cells.values())
    max_score = sum(expected.values())
    if problems:
        return Verdict(notebook, "crashed", 0.0, max_score, "; ".join(problems), _zero(cells))
    limit = limits_reached(autograded_nb, report)
    if limit is not None and limit[0] == "crashed":
        return Verdict(notebook, "crashed", 0.0, max_score, limit[1], _zero(cells))
    if limit is not None:  # a cell ran out of time: the other cells still count
        return Verdict(notebook, "timeout", score, max_score, limit[1], cells)
    failed = [gid for gid, (s, m) in cells.items() if s < m]
    detail = f"failed: {', '.join(failed)}" if failed else ""
    return Verdict(notebook, "graded", score, max_score, detail, cells)
