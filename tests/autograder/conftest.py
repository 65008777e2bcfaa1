"""Fixtures for the autograder tests; the builders live in ``autograder_helpers``.

Tests run with ``--import-mode=importlib``, so this folder is put on ``sys.path`` here to let
test modules (and tests/exercises) import the helpers module by name.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autograder_helpers import ASSIGNMENT, run_cli


@pytest.fixture(scope="session")
def released(tmp_path_factory) -> Path:
    """Release gd_basics through the real CLI into a temporary folder; the notebook's path."""
    out = tmp_path_factory.mktemp("release")
    proc = run_cli("release", ASSIGNMENT, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


@pytest.fixture(scope="session")
def release_nb(released):
    return nbformat.read(str(released), as_version=4)
