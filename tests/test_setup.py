"""A newcomer's first hour: `make help` lists every target, and a missing system package stops
the build at once with the one command to run."""

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_make_help_lists_every_phony_target():
    makefile = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split())
    out = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    listed = {line.split()[1] for line in out.splitlines() if line.startswith("make ")}
    assert listed == phony, (phony - listed, listed - phony)
    # Every line says something.
    assert all(len(line.split(maxsplit=2)) == 3 for line in out.splitlines()), out


def _fake_bin(tmp_path, uid):
    """A PATH with a shell and `id` only: no chromium, bwrap, npm, python3 or apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (bin_dir / "id").chmod(0o755)
    return str(bin_dir)


def test_missing_packages_stop_at_once_with_the_command_to_run(tmp_path):
    env = {**os.environ, "PATH": _fake_bin(tmp_path, 1000), "PYTHON": "/nonexistent/python3"}
    run = subprocess.run(
        [
            "/bin/sh",
            str(ROOT / ".ci/system-packages"),
            "python3-venv",
            "npm",
            "chromium",
            "bubblewrap",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "sudo apt-get install -y python3-venv npm chromium bubblewrap" in run.stderr
    assert run.stdout == ""


def test_root_without_apt_get_also_prints_the_command(tmp_path):
    env = {**os.environ, "PATH": _fake_bin(tmp_path, 0)}
    run = subprocess.run(
        ["/bin/sh", str(ROOT / ".ci/system-packages"), "bubblewrap"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1 and "apt-get install -y bubblewrap" in run.stderr


def test_present_packages_pass_silently():
    run = subprocess.run(
        [str(ROOT / ".ci/system-packages"), "sh"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and run.stdout == run.stderr == ""


def test_make_book_checks_the_system_before_anything_else():
    """The dry run of `make book` and `make test` starts with the system check; the book's
    asks for what the book needs only, the tests' for the browser and the sandbox too."""
    checked = {}
    for target in ("book", "test"):
        # --no-print-directory: under `make test` this make is a sub-make, which would
        # otherwise print "Entering directory" first.
        out = subprocess.run(
            ["make", "-n", "--no-print-directory", target],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        first = out.splitlines()[0]
        assert ".ci/system-packages " in first, out[:300]
        checked[target] = set(first.split(".ci/system-packages ", 1)[1].split())
    assert {"python3-venv", "npm"} <= checked["book"]
    assert not {"chromium", "bubblewrap"} & checked["book"]
    assert checked["book"] | {"chromium", "bubblewrap"} <= checked["test"]


def test_autograder_extra_declares_what_the_autograder_imports():
    """Every third-party module autograder/ imports comes from a distribution that pyproject's
    `autograder` extra (or the core dependencies) declares."""
    import ast
    import sys
    import tomllib
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        re.split(r"[<>=!~\[ ]", req)[0].lower().replace("_", "-")
        for req in project["dependencies"] + project["optional-dependencies"]["autograder"]
    }
    imported = set()
    for path in (ROOT / "autograder").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"autograder", "coursekit"}
    dists = packages_distributions()
    undeclared = {
        m: dists.get(m)
        for m in third_party
        if not {d.lower().replace("_", "-") for d in dists.get(m, [m])} & declared
    }
    assert not undeclared, undeclared


def test_documents_and_comments_point_inside_the_repository():
    """The design lives in ARCHITECTURE.md; nothing points at a folder beside the checkout."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    outside = re.compile(r"\.\./shared\b|\bshared/(DESIGN|STATIC_WIDGETS)\.md")
    found = [
        f"{name}:{i}"
        for name in files
        if name.endswith((".py", ".md", ".yml", ".toml", ".cfg")) or name == "Makefile"
        for i, line in enumerate((ROOT / name).read_text(errors="replace").splitlines(), 1)
        if outside.search(line)
    ]
    assert not found, found
    assert (ROOT / "ARCHITECTURE.md").is_file()


def test_architecture_names_every_module():
    """ARCHITECTURE.md puts every module of coursekit and autograder in its room."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    missing = []
    for package in ("coursekit", "autograder"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT / package).with_suffix("").as_posix()
            if path.name == "__init__.py" or (package == "autograder" and rel == "__main__"):
                continue
            if f"`{rel}`" not in text:
                missing.append(f"{package}/{rel}")
    assert not missing, missing
