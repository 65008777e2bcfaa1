"""The second hostile panel (issue 14): output that bypassed the limit, and nbgrader metadata.

One real ``python -m autograder grade`` run (``--jobs 2``) grades

* **floods**: correct students who then send far more than ``--output-mb`` through every
  path a kernel has to its grading process: display metadata, display updates
  (``update_display_data``), widget/comm messages, messages forged for another request,
  one single huge message, many small prints, and a huge error. Each must end
  ``crashed`` with "output limit", and each student's grading process must stay small: its
  peak resident memory (``VmHWM``, which the process reads itself as it writes its result;
  the grader records it beside the student's time in ``cohort.jsonl``) may exceed the honest
  student's by no more than :data:`RSS_MARGIN_MB`. Before, ~250 MB of display
  metadata against a 4 MB limit was graded normally and its grading process peaked at 1.3 GB;
* **metadata tampering**: a renamed solution ``grade_id``, a solution cell taking a test
  cell's id, a test cell's points raised, a test cell's grade turned off, a made-up test
  cell, a solution cell marked locked, each on top of an otherwise correct or partly wrong
  notebook. Each is graded on the instructor's metadata and marked ``tampered`` with what
  changed; tags and other non-nbgrader metadata, and nbgrader's own bookkeeping (a checksum),
  change nothing (``graded``).
"""

from __future__ import annotations

import csv
import re

import nbformat
import pytest
from autograder_helpers import (
    ASSIGNMENT,
    SOURCE_NB,
    grade_args,
    grade_id,
    run_cli,
    with_solutions,
    write_folder,
)
from test_hostile import WRONG_STEP

from autograder.cohort import CohortLog

pytestmark = pytest.mark.slow

MB = 2**20
#: Output limit of the run, MB.
OUTPUT_MB = 2
#: How much more a flooded grading process may hold at its peak than the honest one's.
RSS_MARGIN_MB = 150

#: Each goes after the setup cell of a correct notebook; every one sends > 100 MB.
FLOODS = {
    "flood-metadata": "from IPython.display import display\n"
    "for _ in range(60):\n"
    "    display({'text/plain': 'x'}, metadata={'pad': 'm' * 2**21}, raw=True)\n",
    "flood-updates": "from IPython.display import display\n"
    "h = display({'text/plain': 'start'}, raw=True, display_id=True)\n"
    "for _ in range(60):\n"
    "    h.update({'text/plain': 'u' * 2**21}, raw=True)\n",
    "flood-comm": "from ipykernel.comm import Comm\n"
    "c = Comm(target_name='flood')\n"
    "for _ in range(60):\n"
    "    c.send({'pad': 'c' * 2**21})\n",
    "flood-foreign": "k = get_ipython().kernel\n"
    "for _ in range(60):\n"
    "    k.session.send(k.iopub_socket, 'stream',\n"
    "                   {'name': 'stdout', 'text': 'f' * 2**21},\n"
    "                   parent={'header': {'msg_id': 'another-request'}})\n",
    "flood-oneshot": "from IPython.display import display\n"
    "display({'text/plain': 'o' * (300 * 2**20)}, raw=True)\n",
    "flood-prints": "for _ in range(300000):\n    print('p' * 100)\n",
    "flood-error": "raise ValueError('e' * (100 * 2**20))\n",
}

#: A correct student who prints and displays a little: far below the limit, graded as usual.
CHATTY = (
    "from IPython.display import display\n"
    "for i in range(2000):\n    print('step', i, 'of a long loop')\n"
    "h = display({'text/plain': 'progress 0'}, raw=True, display_id=True)\n"
    "for i in range(50):\n    h.update({'text/plain': f'progress {i}'}, raw=True)\n"
)


def _meta(nb, gid):
    return next(c for c in nb.cells if grade_id(c) == gid).metadata


def _copy(nb):
    return nbformat.reads(nbformat.writes(nb), as_version=4)


def tampered_notebooks(release_nb, source_nb) -> dict:
    """``student -> notebook`` of the metadata panel."""
    good = with_solutions(release_nb, source_nb)
    wrong = with_solutions(release_nb, source_nb, {"gd_step": WRONG_STEP})
    out = {}
    nb = _copy(good)
    _meta(nb, "quadratic_grad")["nbgrader"]["grade_id"] = "my_gradient"
    out["meta-renamed"] = nb
    nb = _copy(good)
    _meta(nb, "gd_step")["nbgrader"]["grade_id"] = "test_gd_step"
    out["meta-takes-test-id"] = nb
    nb = _copy(wrong)
    _meta(nb, "test_gd_step")["nbgrader"]["points"] = 1000
    out["meta-points"] = nb
    nb = _copy(wrong)
    _meta(nb, "test_gd_step")["nbgrader"]["grade"] = False
    _meta(nb, "test_gradient_descent_path")["nbgrader"]["grade"] = False
    out["meta-grade-off"] = nb
    nb = _copy(wrong)
    bonus = nbformat.v4.new_code_cell(
        "print('bonus')",
        metadata={
            "nbgrader": {
                "grade": True,
                "grade_id": "bonus",
                "locked": True,
                "points": 100,
                "schema_version": 3,
                "solution": False,
                "task": False,
            }
        },
    )
    nb.cells.append(bonus)
    out["meta-bonus"] = nb
    nb = _copy(good)
    _meta(nb, "gradient_descent_path")["nbgrader"]["locked"] = True
    out["meta-locked-solution"] = nb
    nb = _copy(good)
    for cell in nb.cells:  # tags, collapsed, editable: metadata nbgrader does not grade on
        cell.metadata["tags"] = ["mine"]
        cell.metadata["collapsed"] = True
        cell.metadata.pop("editable", None)
    # nbgrader's own bookkeeping (differs between nbgrader versions): restored, not tampering.
    _meta(nb, "test_gd_step")["nbgrader"]["checksum"] = "0" * 32
    _meta(nb, "gd_step")["nbgrader"].pop("cell_type", None)
    out["meta-harmless"] = nb
    return out


#: (status, score, a phrase of the detail) of each student.
EXPECTED = {
    **{name: ("crashed", 0.0, "output limit") for name in FLOODS},
    "honest": ("graded", 10.0, ""),
    "chatty": ("graded", 10.0, ""),
    "meta-renamed": ("tampered", 10.0, "quadratic_grad: renamed to 'my_gradient'"),
    "meta-takes-test-id": ("tampered", 10.0, "gd_step: took the id of test_gd_step"),
    "meta-points": ("tampered", 8.0, "test_gd_step: points set to 1000 (release: 2)"),
    "meta-grade-off": ("tampered", 8.0, "test_gd_step: grade turned off"),
    "meta-bonus": ("tampered", 8.0, "a cell the release does not have (grade_id 'bonus')"),
    "meta-locked-solution": ("tampered", 10.0, "gradient_descent_path: locked set to True"),
    "meta-harmless": ("graded", 10.0, ""),
}


def _after_setup(nb, source: str):
    nb = _copy(nb)
    at = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "setup") + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    return nb


@pytest.fixture(scope="module")
def panel(tmp_path_factory, release_nb):
    source_nb = nbformat.read(str(SOURCE_NB), as_version=4)
    root = tmp_path_factory.mktemp("round2")
    subs, out = root / "subs", root / "out"
    good = with_solutions(release_nb, source_nb)
    write_folder(subs, "honest", good)
    write_folder(subs, "chatty", _after_setup(good, CHATTY))
    for name, flood in FLOODS.items():
        write_folder(subs, name, _after_setup(good, flood))
    for name, nb in tampered_notebooks(release_nb, source_nb).items():
        write_folder(subs, name, nb)
    proc = run_cli(
        *grade_args(subs, out, "--jobs", 2, "--timeout", 120, "--output-mb", OUTPUT_MB),
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    peaks = {s: rec["peak_mb"] for s, rec in CohortLog(out).read().items()}
    pages = {s: (out / "feedback" / s / f"{ASSIGNMENT}.html").stat().st_size for s in rows}
    print("peak MB of each grading process:", {s: round(mb) for s, mb in sorted(peaks.items())})
    return {"rows": rows, "peaks_mb": peaks, "pages": pages}


def test_every_student_has_one_row(panel):
    assert sorted(panel["rows"]) == sorted(EXPECTED)


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_student_gets_its_status_score_and_reason(panel, student):
    row = panel["rows"][student]
    status, score, phrase = EXPECTED[student]
    assert (row["status"], float(row["score"]), float(row["max_score"])) == (status, score, 10.0), (
        row
    )
    assert phrase in row["detail"], row
    # Nothing that only makes sense next to a log.
    assert not re.search(r"traceback|nbgrader update|see the", row["detail"], re.I), row


@pytest.mark.parametrize("student", sorted(FLOODS))
def test_a_flood_leaves_the_grading_process_small(panel, student):
    peaks = panel["peaks_mb"]
    # Every grading process reports its peak, however short it lived: no student goes unseen.
    assert isinstance(peaks.get("honest"), float) and peaks["honest"] > 0, peaks
    assert isinstance(peaks.get(student), float), peaks
    assert peaks[student] <= peaks["honest"] + RSS_MARGIN_MB, peaks
    # The feedback page of a stopped notebook is a short status page.
    assert panel["pages"][student] < OUTPUT_MB * MB


def test_restoring_metadata_names_every_change(release_nb):
    # The same panel without a kernel: the restoration itself, on every tampered notebook.
    from autograder.notebook import autograded_cells
    from autograder.verify import restore_nbgrader_metadata

    source_nb = nbformat.read(str(SOURCE_NB), as_version=4)
    release_meta = [
        (c.cell_type, c.metadata.get("nbgrader"))
        for c in release_nb.cells
        if "nbgrader" in c.metadata
    ]
    for student, nb in tampered_notebooks(release_nb, source_nb).items():
        changes = restore_nbgrader_metadata(nb, release_nb)
        assert bool(changes) == (student != "meta-harmless"), (student, changes)
        assert [
            (c.cell_type, c.metadata.get("nbgrader")) for c in nb.cells if "nbgrader" in c.metadata
        ] == release_meta, student
        assert autograded_cells(nb) == autograded_cells(release_nb)
