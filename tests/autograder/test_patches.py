"""The patches of nbgrader's and nbconvert's internals, and the grading set-up passed to them.

* every library :mod:`autograder.patches` was checked against is pinned at that version, so
  an upgrade makes someone read the patches again;
* :class:`autograder.execute.GradingSetup` reaches ``GradingExecute`` through nbgrader's
  configuration as the very object the student's process made (its ``reports`` are read back),
  and chooses the kernel manager and its limits: no module global is involved;
* stage 1 (collect) imports neither the verdict (stage 3) nor the running of students;
* nbgrader imports without setuptools (the ``setuptools.archive_util`` stand-in), and its
  ``unzip`` still extracts zip and tar archives exactly as the standard library wrote them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import AsyncKernelManager
from traitlets.config import Config

from autograder import patches
from autograder.execute import GradingExecute, GradingSetup
from autograder.sandbox import Limits, SandboxedKernelManager

ROOT = Path(__file__).resolve().parents[2]


def test_the_patched_libraries_are_pinned_at_the_versions_the_patches_were_checked_against():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    for name, version in patches.CHECKED_AGAINST.items():
        assert pins.get(name.lower().replace("_", "-")) == version, (
            f"{name} is pinned at {pins.get(name.lower())}, the patches were checked against "
            f"{version}: read autograder/patches.py again, then update CHECKED_AGAINST"
        )


def test_install_is_idempotent():
    import nbgrader.api
    from nbconvert.exporters.templateexporter import TemplateExporter

    patches.install()
    create, lookup = TemplateExporter._create_environment, nbgrader.api.get_alembic_version
    patches.install()
    assert TemplateExporter._create_environment is create
    assert nbgrader.api.get_alembic_version is lookup is patches.alembic_head


def _execute(setup: GradingSetup) -> GradingExecute:
    """A GradingExecute made the way nbgrader makes it: from the configuration."""
    config = Config()
    config.GradingExecute.setup = setup
    ex = GradingExecute(config=config)
    ex.nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    )
    return ex


@pytest.mark.parametrize("sandbox", [True, False])
def test_the_grading_setup_reaches_grading_execute_through_the_configuration(sandbox):
    limits = Limits(memory_mb=1000, cpu_seconds=7, output_mb=0.5)
    setup = GradingSetup(limits=limits, sandbox=sandbox)
    ex = _execute(setup)
    assert ex.setup is setup  # shared, not copied: its reports are read back
    km = ex.create_kernel_manager()  # made, not started
    if sandbox:
        assert type(km) is SandboxedKernelManager and km.limits == limits
        assert SandboxedKernelManager.limits == Limits()  # the class keeps its defaults
    else:
        assert type(km) is AsyncKernelManager
    ex.setup.reports["nb"] = "seen"
    assert setup.reports == {"nb": "seen"}


def test_two_setups_in_one_process_do_not_mix():
    a = _execute(GradingSetup(limits=Limits(cpu_seconds=3)))
    b = _execute(GradingSetup(limits=Limits(cpu_seconds=9)))
    assert a.create_kernel_manager().limits.cpu_seconds == 3
    assert b.create_kernel_manager().limits.cpu_seconds == 9
    assert GradingExecute(config=Config()).setup == GradingSetup()  # unconfigured: the defaults


def test_collect_imports_neither_the_verdict_nor_the_running_of_students():
    code = (
        "import sys, json, autograder.collect, jsonschema; "
        "print(json.dumps(sorted(n for n, m in sys.modules.items() if m is not None)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    loaded = set(json.loads(out))
    # Importing the package refused rfc3987_syntax before nbformat imported jsonschema.
    assert "jsonschema" in loaded and "rfc3987_syntax" not in loaded
    assert "autograder.collect" in loaded and "autograder.notebook" in loaded
    assert not loaded & {
        "autograder.verify",
        "autograder.run",
        "autograder.child",
        "autograder.execute",
        "autograder.course",
    }, loaded


#: In a fresh process: nbgrader imported after the package, then its ``unzip`` used on a zip
#: and a tar.gz archive (argv: the two archives and a folder to extract into).
UNZIP = """
import json, sys
import autograder, nbgrader.apps, nbgrader.utils
before = sorted(m for m in ("setuptools", "pkg_resources") if m in sys.modules)
zip_path, tar_path, dest = sys.argv[1:4]
nbgrader.utils.unzip(zip_path, dest + "/zip")
nbgrader.utils.unzip(tar_path, dest + "/tar")
real = sys.modules["setuptools.archive_util"]
print(json.dumps([before, getattr(real, "__file__", None) is not None]))
"""


def test_nbgrader_imports_without_setuptools_and_still_unzips(tmp_path):
    import tarfile
    import zipfile

    members = {"a.txt": b"alpha", "sub/b.ipynb": b'{"cells": []}'}
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    src = tmp_path / "src"
    for name, data in members.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    with tarfile.open(tmp_path / "x.tar.gz", "w:gz") as tar:
        for name in members:
            tar.add(src / name, arcname=name)
    dest = tmp_path / "out"
    (dest / "zip").mkdir(parents=True)
    (dest / "tar").mkdir()
    out = subprocess.run(
        [sys.executable, "-c", UNZIP, tmp_path / "x.zip", tmp_path / "x.tar.gz", dest],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    before, real_after = json.loads(out.stdout)
    assert before == []  # importing nbgrader imported neither (the stand-in did not load them)
    assert real_after  # the first call loaded the real module, which did the work
    for kind in ("zip", "tar"):
        got = {
            p.relative_to(dest / kind).as_posix(): p.read_bytes()
            for p in (dest / kind).rglob("*")
            if p.is_file()
        }
        assert got == members, kind


def test_nbgraders_metadata_check_checks_its_schema_once_and_judges_as_jsonschema(monkeypatch):
    import jsonschema
    from nbgrader.nbgraderformat import MetadataValidator, common

    # From jsonschema itself (install() may have run in this process already); monkeypatch
    # puts whatever was there back after this test.
    monkeypatch.setattr(common, "jsonschema", jsonschema)
    schema = MetadataValidator().schema
    good = {"grade": True, "grade_id": "t", "locked": True, "points": 2, "schema_version": 3}
    good.update(solution=False, task=False)
    bad = [
        {**good, "points": "two"},
        {k: v for k, v in good.items() if k != "locked"},  # a required key
        {**good, "grade": "yes", "locked": None},
    ]
    expected = []
    for instance in bad:
        with pytest.raises(jsonschema.ValidationError) as plain:
            jsonschema.validate(instance, schema)
        expected.append((plain.value.message, list(plain.value.absolute_path)))
    once = patches.check_nbgrader_schema_once()
    assert patches.check_nbgrader_schema_once() is once and common.jsonschema is once
    checks = []
    cls = jsonschema.validators.validator_for(schema)
    real = cls.check_schema
    monkeypatch.setattr(cls, "check_schema", lambda s: checks.append(1) or real(s))
    for _ in range(3):
        assert once.validate(good, schema) is None
        for instance, (message, path) in zip(bad, expected, strict=True):
            with pytest.raises(jsonschema.ValidationError) as ours:
                once.validate(instance, schema)
            assert (ours.value.message, list(ours.value.absolute_path)) == (message, path)
    assert checks == [1]  # the schema checked once, every instance judged every time
    with pytest.raises(jsonschema.SchemaError):  # a broken schema is still refused
        once.validate(good, {"type": 12})
