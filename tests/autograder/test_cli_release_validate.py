"""``release`` and ``validate`` through the real CLI."""

from __future__ import annotations

import re
import zipfile
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest
from autograder_helpers import ASSIGNMENT, REPO, SOURCE_NB, run_cli

pytestmark = pytest.mark.slow


def secret_lines(nb) -> list[str]:
    """Solution and hidden-test lines of the source (independent of autograder.verify)."""
    out = []
    for cell in nb.cells:
        for kind in ("SOLUTION", "HIDDEN TESTS"):
            pattern = rf"### BEGIN {kind}\n(.*?)### END {kind}"
            for block in re.findall(pattern, cell.source, flags=re.S):
                out += [ln.strip() for ln in block.splitlines() if len(ln.strip()) >= 12]
    return out


def test_release_has_no_solution_and_no_hidden_test(released):
    source = nbformat.read(str(SOURCE_NB), as_version=4)
    public = {
        ln.strip()
        for c in nbformat.read(str(released), as_version=4).cells
        for ln in c.source.splitlines()
    }
    hidden = [
        ln.strip()
        for ln in (SOURCE_NB.parent / "hidden_tests.py").read_text().splitlines()
        if len(ln.strip()) >= 25
        and ln.strip() not in public
        and not ln.strip().startswith(("#", '"', 'f"', "'", "import ", "from "))
    ]
    secrets = secret_lines(source) + hidden
    assert len(secrets) > 10
    text = released.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN", "END HIDDEN"):
        assert marker not in text
    released_nb = nbformat.read(str(released), as_version=4)
    released_src = "\n".join(c.source for c in released_nb.cells)
    assert not [s for s in secrets if s in released_src]
    assert released_src.count("raise NotImplementedError()") >= 3
    # The student keeps every visible test and the instructions.
    assert "Part 3: visible tests passed" in released_src


def test_release_zip_matches_folder(released):
    zpath = released.parent.parent / f"{ASSIGNMENT}.zip"
    with zipfile.ZipFile(zpath) as zf:
        assert zf.namelist() == [f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"]
        assert zf.read(f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb") == released.read_bytes()


def test_release_leaves_no_nbgrader_litter():
    assert not (REPO / "gradebook.db").exists()
    assert sorted(p.name for p in SOURCE_NB.parent.iterdir()) == [SOURCE_NB.name, "hidden_tests.py"]


def test_release_unknown_assignment_fails_clearly(tmp_path):
    proc = run_cli("release", "no_such_assignment", "--out", tmp_path)
    assert proc.returncode == 2
    assert "assignment" in proc.stderr and "gd_basics" in proc.stderr


def test_validate_source_passes_and_release_fails(released):
    # Both notebooks at once: two kernels on two cores.
    with ThreadPoolExecutor(2) as pool:
        good, bad = pool.map(lambda nb: run_cli("validate", nb), [SOURCE_NB, released])
    assert good.returncode == 0, good.stdout + good.stderr
    assert "all tests passed" in good.stdout
    assert bad.returncode == 1
    for test in ("test_quadratic_grad", "test_gd_step", "test_gradient_descent_path"):
        assert f"{test} failed: NotImplementedError" in bad.stdout


OTHER_SOURCES = sorted(p for p in (REPO / "exercises").glob("*/*.ipynb") if p != SOURCE_NB)


@pytest.fixture(scope="module")
def validated() -> dict:
    """``notebook -> validate's result`` for every other source notebook, two at a time (a
    validation is one kernel, mostly on one core)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda nb: run_cli("validate", nb), OTHER_SOURCES)
        return dict(zip(OTHER_SOURCES, results, strict=True))


@pytest.mark.parametrize("notebook", OTHER_SOURCES, ids=lambda p: p.parent.name + "/" + p.name)
def test_validate_every_other_source_notebook(validated, notebook):
    """Every assignment added to exercises/ must have solutions that pass its own tests."""
    proc = validated[notebook]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all tests passed" in proc.stdout


def test_validate_rejects_a_non_notebook(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    proc = run_cli("validate", tmp_path / "x.txt")
    assert proc.returncode == 2 and "notebook" in proc.stderr
