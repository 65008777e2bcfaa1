"""Live chapters: the notebooks the launch buttons open, and the tree ``make publish`` pushes.

Every chapter is a MyST Markdown notebook on ``main``. A reader who presses *Colab* or *Binder*
needs an ``.ipynb`` that runs on a fresh runtime, so this tool generates one per chapter with
jupytext (never edited by hand, never committed to ``main``) and puts a first cell in front
that installs the course's package when it is not importable. The install line names the
repository of ``_config.yml``'s ``repository.url``, so a teacher's fork installs its own code.

Commands (run from the repository root; ``make`` calls them)::

    python tools/live_notebooks.py configure OWNER/NAME
        point repository.url (repository button, issues button, launch buttons, install
        cell) at github.com/OWNER/NAME
    python tools/live_notebooks.py publish-tree --html _build/html --out _build/publish
        the site, plus notebooks/<pagename>.ipynb for every chapter and binder/ for Binder
    python tools/live_notebooks.py publish
        publish-tree, then push that folder to the published branch with ghp-import

``--install-spec`` replaces the install line's package (a wheel path in the tests, which
have no network).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "_config.yml"
TOC = ROOT / "_toc.yml"
REQUIREMENTS = ROOT / "requirements.txt"

#: What a live chapter needs besides coursekit; pinned as in requirements.txt. myst-nb gives
#: ``glue`` (the chapters quote their results through it); mpi4py and mpich only where a chapter
#: starts MPI processes.
RUNTIME = (
    "numpy",
    "matplotlib",
    "ipywidgets",
    "pillow",
    "scikit-learn",
    "tqdm",
    "threadpoolctl",
    "myst-nb",
)
MPI_RUNTIME = ("mpi4py", "mpich")

_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def read_config(path: Path = CONFIG) -> dict:
    """The book's ``_config.yml`` as a dict."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def repository(config: dict) -> tuple[str, str, str]:
    """``(owner/name, main branch, published branch)`` from the book's configuration."""
    url = config.get("repository", {}).get("url", "")
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?/?", url.strip())
    if not match:
        raise ValueError(
            f"_config.yml repository.url must be https://github.com/OWNER/NAME, got {url!r}"
        )
    sphinx_config = config.get("sphinx", {}).get("config", {})
    return (
        match.group(1),
        config["repository"].get("branch", "main"),
        sphinx_config.get("course_publish_branch", "gh-pages"),
    )


def toc_pagenames(toc_path: Path = TOC) -> list[str]:
    """Every page of the table of contents, in its order (``book/intro``, ...)."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))

    def files(node):
        if isinstance(node, dict):
            if "file" in node:
                yield node["file"]
            for value in node.values():
                yield from files(value)
        elif isinstance(node, list):
            for item in node:
                yield from files(item)

    return [toc["root"], *files(toc.get("parts", []))]


def chapter_pagenames(toc_path: Path = TOC) -> list[str]:
    """The toc's pages that are notebooks (``book/foundations/gradient_descent``, ...)."""
    return [
        p
        for p in toc_pagenames(toc_path)
        if "kernelspec:" in (ROOT / f"{p}.md").read_text(encoding="utf-8")
    ]


def pins(names, requirements: Path = REQUIREMENTS) -> list[str]:
    """``name==version`` for each of ``names``, as ``requirements.txt`` pins it."""
    pinned = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pinned[name.strip().lower()] = f"{name.strip()}=={version.strip()}"
    missing = [n for n in names if n.lower() not in pinned]
    if missing:
        raise ValueError(f"requirements.txt pins none of {missing}")
    return [pinned[n.lower()] for n in names]


def coursekit_spec(repo: str, branch: str) -> str:
    """The pip requirement that installs coursekit from the course's repository."""
    return f"coursekit[plot,data,progress] @ git+https://github.com/{repo}@{branch}"


def install_cell(packages: list[str]) -> nbformat.NotebookNode:
    """The first cell of a live chapter: install what is missing, then nothing else.

    It does nothing where coursekit is importable (a course checkout, Binder's image), so
    running it twice or locally is harmless.
    """
    source = "\n".join(
        [
            "# Colab / Binder: install the course's package if it is missing (not on the site).",
            "import importlib",
            "import importlib.util",
            "import subprocess",
            "import sys",
            "",
            'if importlib.util.find_spec("coursekit") is None:',
            "    subprocess.run(",
            '        [sys.executable, "-m", "pip", "install", "-q",',
            *[f"         {p!r}," for p in packages],
            "        ],",
            "        check=True,",
            "    )",
            "    importlib.invalidate_caches()",
            "",
            "# Colab's built-in widget manager predates ipywidgets 8 (Stack, jslink to it).",
            'if "google.colab" in sys.modules:  # Colab imports it when the runtime starts',
            "    from google.colab import output",
            "",
            "    output.enable_custom_widget_manager()",
        ]
    )
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["install-coursekit"]
    return cell


def chapter_notebook(md_path: Path, coursekit_requirement: str) -> nbformat.NotebookNode:
    """The live notebook of one MyST chapter: the install cell, then the chapter's cells."""
    text = md_path.read_text(encoding="utf-8")
    notebook = jupytext.reads(text, fmt="md:myst")
    needs_mpi = "mpiexec" in text or "mpi4py" in text
    packages = [coursekit_requirement, *pins(RUNTIME), *(pins(MPI_RUNTIME) if needs_mpi else [])]
    notebook.cells.insert(0, install_cell(packages))
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.validate(notebook)
    return notebook


def binder_requirements(coursekit_requirement: str) -> str:
    """``binder/requirements.txt``: the pinned runtime plus coursekit from the repository."""
    lines = [
        "# Generated by tools/live_notebooks.py: the live chapters' environment on Binder.",
        *pins(RUNTIME + MPI_RUNTIME),
        coursekit_requirement,
    ]
    return "\n".join(lines) + "\n"


def publish_tree(html: Path, out: Path, install_spec: str | None = None) -> list[Path]:
    """Write the folder ``make publish`` pushes; return the notebooks written.

    ``out`` gets a copy of the built site ``html``, ``notebooks/<pagename>.ipynb`` for every
    chapter, and ``binder/requirements.txt``. ``install_spec`` replaces the install line's
    coursekit requirement (a local wheel, for a test without network).
    """
    if not (html / "index.html").is_file():
        raise FileNotFoundError(f"--html {html} holds no built site (run `make book` first)")
    repo, branch, _ = repository(read_config())
    requirement = install_spec or coursekit_spec(repo, branch)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(html, out)
    written = []
    for pagename in chapter_pagenames():
        target = out / "notebooks" / f"{pagename}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(chapter_notebook(ROOT / f"{pagename}.md", requirement), target)
        written.append(target)
    (out / "binder").mkdir(exist_ok=True)
    (out / "binder" / "requirements.txt").write_text(binder_requirements(requirement))
    return written


def configure(repo: str, config_path: Path = CONFIG) -> None:
    """Point ``repository.url`` of ``_config.yml`` at ``github.com/<repo>``, keeping comments."""
    if not _REPO_NAME.fullmatch(repo or ""):
        raise ValueError(
            f"REPO must be OWNER/NAME as on GitHub (e.g. jane/gd-course), got {repo!r}"
        )
    text = config_path.read_text(encoding="utf-8")
    new, count = re.subn(
        r"(?m)^(repository:\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*)\S+",
        lambda m: m.group(1) + f"https://github.com/{repo}",
        text,
    )
    if count != 1:
        raise ValueError(f"{config_path} has no repository.url line to change")
    config_path.write_text(new, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    conf = sub.add_parser("configure", help="point the book's repository links at OWNER/NAME")
    conf.add_argument("repo", metavar="OWNER/NAME")
    tree = sub.add_parser("publish-tree", help="the site + live notebooks + binder/ to push")
    push = sub.add_parser("publish", help="publish-tree, then push it to the published branch")
    for command in (tree, push):
        command.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
        command.add_argument("--out", type=Path, default=ROOT / "_build" / "publish")
    tree.add_argument(
        "--install-spec",
        default=None,
        help="pip requirement for coursekit in the install cell (default: the repo)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "configure":
            configure(args.repo)
            print(f"repository.url -> https://github.com/{args.repo}; rebuild with `make book`")
            return 0
        written = publish_tree(args.html, args.out, getattr(args, "install_spec", None))
        print(f"{args.out}: the site, {len(written)} live notebooks, binder/")
        if args.command == "publish":
            _, _, published = repository(read_config())
            ghp_import = Path(sys.executable).parent / "ghp-import"
            subprocess.run(
                [ghp_import, "--no-jekyll", "--push", "--force", "-b", published, args.out],
                check=True,
            )
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
