"""Live chapters: the launch buttons open a generated notebook that runs on a fresh runtime.

`tools/live_notebooks.py publish-tree` prepares what `make publish` pushes (the site, one
notebook per chapter, binder/); these tests check that every launch link names a file of that
tree, that `make configure` moves every link to a fork, and that each generated notebook runs
top to bottom in a kernel that can import coursekit only because its first cell installed it.
"""

from __future__ import annotations

import html
import importlib.metadata
import json
import os
import queue
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "live_notebooks.py"
sys.path.insert(0, str(ROOT / "tools"))
import live_notebooks  # noqa: E402

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import launch_links  # noqa: E402

CHAPTERS = live_notebooks.chapter_pagenames()
LAUNCH = re.compile(r'href="(https://(?:mybinder\.org|colab\.research\.google\.com)/[^"]+)"')


def _config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


@pytest.fixture(scope="module")
def publish_tree(site, tmp_path_factory):
    """The folder `make publish` would push, prepared by the real CLI (no remote)."""
    out = tmp_path_factory.mktemp("publish") / "tree"
    done = subprocess.run(
        [sys.executable, TOOL, "publish-tree", "--html", site, "--out", out],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_every_chapter_is_covered():
    assert len(CHAPTERS) >= 9
    assert "book/foundations/gradient_descent" in CHAPTERS
    assert "book/glossary" not in CHAPTERS  # not a notebook: no launch button, no live copy


@pytest.mark.parametrize("pagename", CHAPTERS)
def test_launch_links_name_a_pushed_notebook(publish_tree, pagename):
    page = (publish_tree / f"{pagename}.html").read_text(encoding="utf-8")
    links = [html.unescape(u) for u in LAUNCH.findall(page)]
    repo, _, branch = live_notebooks.repository(_config())
    binder = [u for u in links if "mybinder.org" in u]
    colab = [u for u in links if "colab.research" in u]
    assert len(binder) == 1 and len(colab) == 1, links
    binder_path = binder[0].split("urlpath=lab/tree/", 1)[1]
    colab_prefix = f"https://colab.research.google.com/github/{repo}/blob/{branch}/"
    assert binder[0].startswith(f"https://mybinder.org/v2/gh/{repo}/{branch}?")
    assert colab[0].startswith(colab_prefix)
    for path in (binder_path, colab[0].removeprefix(colab_prefix)):
        assert path == f"notebooks/{pagename}.ipynb"
        assert (publish_tree / path).is_file(), f"{path} is not in the tree make publish pushes"
    # Binder builds its image from the same branch: the environment must be there too.
    assert (publish_tree / "binder" / "requirements.txt").is_file()


@pytest.mark.parametrize("pagename", CHAPTERS)
def test_download_button_offers_the_notebook(site, pagename):
    page = (site / f"{pagename}.html").read_text(encoding="utf-8")
    match = re.search(r'href="([^"]*_sources/[^"]+\.ipynb)"', page)
    assert match, f"{pagename}: no .ipynb in the download menu"
    assert (site / f"{pagename}.html").parent.joinpath(match.group(1)).resolve().is_file()


def test_generated_notebook_starts_with_the_install_cell(publish_tree):
    repo, branch, _ = live_notebooks.repository(_config())
    nb = nbformat.read(publish_tree / "notebooks" / f"{CHAPTERS[1]}.ipynb", as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "code" and "install-coursekit" in first.metadata["tags"]
    assert f"git+https://github.com/{repo}@{branch}" in first.source
    # The chapter itself follows unchanged: same code cells as the MyST source.
    source = live_notebooks.jupytext.read(ROOT / f"{CHAPTERS[1]}.md")
    assert [c.source for c in nb.cells[1:]] == [c.source for c in source.cells]
    binder = (publish_tree / "binder" / "requirements.txt").read_text()
    assert f"git+https://github.com/{repo}@{branch}" in binder
    assert re.search(r"^numpy==\S+$", binder, re.M)


def test_configure_moves_every_link_to_the_fork(tmp_path):
    config = tmp_path / "_config.yml"
    config.write_text((ROOT / "_config.yml").read_text())
    live_notebooks.configure("jane-doe/gd-course", config)
    text = config.read_text()
    loaded = yaml.safe_load(text)
    assert loaded["repository"]["url"] == "https://github.com/jane-doe/gd-course"
    assert "make configure REPO=owner/name" in text  # comments kept
    repo, branch, published = live_notebooks.repository(loaded)
    assert repo == "jane-doe/gd-course"
    assert live_notebooks.coursekit_spec(repo, branch).endswith(
        "git+https://github.com/jane-doe/gd-course@main"
    )
    urls = launch_links.launch_urls(
        loaded["repository"]["url"],
        published,
        "notebooks",
        "book/networks/cnn",
        "https://mybinder.org",
        "https://colab.research.google.com",
    )
    assert urls["Colab"] == (
        "https://colab.research.google.com/github/jane-doe/gd-course/blob/"
        "gh-pages/notebooks/book/networks/cnn.ipynb"
    )
    assert urls["Binder"] == (
        "https://mybinder.org/v2/gh/jane-doe/gd-course/gh-pages"
        "?urlpath=lab/tree/notebooks/book/networks/cnn.ipynb"
    )


@pytest.mark.parametrize(
    "bad", ["", "jane", "jane/gd course", "https://github.com/jane/x", "a/b/c"]
)
def test_configure_refuses_a_name_that_is_not_owner_slash_repo(tmp_path, bad):
    config = tmp_path / "_config.yml"
    config.write_text((ROOT / "_config.yml").read_text())
    with pytest.raises(ValueError, match="REPO must be OWNER/NAME"):
        live_notebooks.configure(bad, config)
    assert config.read_text() == (ROOT / "_config.yml").read_text()


def test_make_configure_without_repo_says_how():
    done = subprocess.run(["make", "-s", "configure"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0
    assert "usage: make configure REPO=owner/name" in done.stdout


def test_launch_urls_refuse_a_repository_that_is_not_github():
    with pytest.raises(ValueError, match="GitHub repository"):
        launch_links.launch_urls(
            "https://gitlab.com/a/b",
            "gh-pages",
            "notebooks",
            "x",
            "https://mybinder.org",
            "https://colab.research.google.com",
        )


@pytest.mark.browser
def test_launch_menu_shows_both_buttons_for_the_configured_repository(page, site_url):
    repo, _, branch = live_notebooks.repository(_config())
    page.goto(f"{site_url}/book/foundations/sgd.html")
    page.locator("button[aria-label='Launch interactive content']").first.click()
    for name in ("Binder", "Colab"):
        link = page.locator(f".dropdown-launch-buttons a:has-text('{name}')").first
        link.wait_for(state="visible", timeout=5000)
        href = link.get_attribute("href")
        assert f"{repo}" in href and branch in href
        assert href.endswith("notebooks/book/foundations/sgd.ipynb")
    assert not page.console_errors


# --- Running every generated notebook from scratch -------------------------------------------


def _fresh_environment(root: Path) -> Path:
    """A venv that sees the course's pinned dependencies but not coursekit; its python.

    The project's .venv has coursekit installed (editable). The fresh venv reaches the other
    packages through a folder of links to them, with coursekit's own entries left out, so the
    only way coursekit gets in is the notebook's install cell. mpich's files outside
    site-packages (mpiexec and the proxy it starts in bin/, libmpi in lib/) are linked where
    `pip install mpich` puts them, since mpi4py looks for libmpi under the venv's prefix.
    """
    venv_site = Path(
        sys.prefix,
        "lib",
        f"python{sys.version_info.major}.{sys.version_info.minor}",
        "site-packages",
    )
    mirror = root / "deps"
    mirror.mkdir()
    for entry in venv_site.iterdir():
        if (
            "coursekit" in entry.name
            or entry.name.startswith("__editable__")
            or entry.name.endswith(".pth")
        ):
            continue
        (mirror / entry.name).symlink_to(entry)
    fresh = root / "venv"
    subprocess.run([_base_python(), "-m", "venv", fresh], check=True)
    site = next(fresh.glob("lib/python*/site-packages"))
    (site / "course-deps.pth").write_text(f"{mirror}\n")
    for entry in importlib.metadata.files("mpich"):
        if entry.parts[0] == "..":  # bin/mpiexec, bin/hydra_pmi_proxy, lib/libmpi.so, ...
            target = Path(os.path.normpath(site / entry))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(entry.locate().resolve())
    return fresh / "bin" / "python"


def _base_python() -> str:
    """The interpreter the project's venv was made from (same version, no packages)."""
    return str(
        Path(sys.base_prefix, "bin", f"python{sys.version_info.major}.{sys.version_info.minor}")
    )


@pytest.fixture(scope="module")
def coursekit_wheel(tmp_path_factory):
    """coursekit built as a wheel from this checkout (what `pip install git+...` would build)."""
    out = tmp_path_factory.mktemp("wheel")
    had_build_dir = (ROOT / "build").exists()
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, ROOT],
            check=True,
            capture_output=True,
        )
    finally:
        if not had_build_dir:  # setuptools leaves build/ in the source tree
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    (wheel,) = out.glob("coursekit-*.whl")
    return wheel


#: Chapters that run two at a time, one per core: their work is small NumPy and matplotlib
#: in one thread. The others run alone, after them: they use both cores (BLAS threads, MPI
#: processes) and guard measured speeds ("offloading to the two helper processes pays",
#: "BLAS ... tens to hundreds of times faster"), which a second notebook beside them would
#: perturb.
def _one_core(pagename: str) -> bool:
    return pagename.startswith("book/foundations/")


def _run_live_notebook(path: Path, kernel: str, workdir: Path, python: Path) -> None:
    """Execute one generated notebook top to bottom in ``kernel`` (whose interpreter is
    ``python``), check it raised nothing, and uninstall coursekit again so that the next
    chapter on that kernel must install it itself."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    workdir.mkdir(parents=True)
    NotebookClient(
        nb, kernel_name=kernel, timeout=600, resources={"metadata": {"path": str(workdir)}}
    ).execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, f"{path.stem}: {errors[0]['ename']}: {errors[0]['evalue']}"
    subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "coursekit"], check=True)


@pytest.mark.slow
def test_every_live_notebook_runs_from_scratch(site, tmp_path, coursekit_wheel, monkeypatch):
    tree = tmp_path / "tree"
    spec = f"coursekit[plot,data,progress] @ {coursekit_wheel.as_uri()}"
    done = subprocess.run(
        [
            sys.executable,
            TOOL,
            "publish-tree",
            "--html",
            site,
            "--out",
            tree,
            "--install-spec",
            spec,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    # Two fresh environments, one per core: each kernel installs coursekit into its own.
    kernels = {}
    for i in range(2):
        (tmp_path / f"env{i}").mkdir()
        python = _fresh_environment(tmp_path / f"env{i}")
        find = "import importlib.util as u; print(u.find_spec('coursekit'))"
        found = subprocess.run([python, "-c", find], capture_output=True, text=True, cwd=tmp_path)
        assert found.stdout.strip() == "None", found.stdout + found.stderr
        spec_dir = tmp_path / "jupyter" / "kernels" / f"fresh{i}"
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": f"fresh{i}",
                    "language": "python",
                }
            )
        )
        kernels[f"fresh{i}"] = python
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # the install cell must not need the network here
    monkeypatch.setenv("MPLBACKEND", "Agg")

    def run(pagename: str, kernel: str) -> None:
        path = tree / "notebooks" / f"{pagename}.ipynb"
        _run_live_notebook(path, kernel, tmp_path / "run" / pagename, kernels[kernel])

    paired = [c for c in CHAPTERS if _one_core(c)]
    assert len(paired) >= 4, paired
    free = queue.SimpleQueue()  # a kernel (and its environment) serves one chapter at a time
    for kernel in kernels:
        free.put(kernel)

    def run_on_a_free_kernel(pagename: str) -> None:
        kernel = free.get()
        try:
            run(pagename, kernel)
        finally:
            free.put(kernel)

    with ThreadPoolExecutor(max_workers=len(kernels)) as pool:
        # list(): every chapter's failure is raised here, the first one first.
        list(pool.map(run_on_a_free_kernel, paired))
    for pagename in CHAPTERS:
        if not _one_core(pagename):
            run(pagename, "fresh0")
