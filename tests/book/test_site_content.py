"""What the built website contains: local widget JavaScript, no exercise solutions."""

import json
import re
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CDN_WIDGET_JS = re.compile(
    r"""<script[^>]+src=["'][^"']*(cdn\.jsdelivr|unpkg\.com|cdnjs\.cloudflare)[^"']*"""
    r"""(html-manager|embed-amd|require)""",
    re.I,
)


def _html_pages(site):
    return sorted(site.rglob("*.html"))


def test_widget_pages_load_the_widget_manager_from_the_site(site):
    pages_with_state = [p for p in _html_pages(site)
                        if "application/vnd.jupyter.widget-state+json" in p.read_text()]
    assert pages_with_state, "no page carries saved widget state: widgets were not executed"
    for page in pages_with_state:
        html = page.read_text()
        assert re.search(r"""<script[^>]+src=["'][^"']*_static/embed\.js""", html), page
    assert (site / "_static" / "embed.js").stat().st_size > 1_000_000


def test_no_page_loads_widget_javascript_from_a_cdn(site):
    offenders = [str(p) for p in _html_pages(site) if CDN_WIDGET_JS.search(p.read_text())]
    assert offenders == []


def _source_lines():
    """(protected, given): lines of the exercise sources inside and outside the regions a
    student must never see (solutions; hidden-test regions, which no notebook has any more)."""
    protected, given = set(), set()
    for nb_path in sorted((ROOT / "exercises").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb_path.parts:
            continue
        nb = json.loads(nb_path.read_text())
        for cell in nb["cells"]:
            inside = False
            for line in "".join(cell["source"]).splitlines():
                marker = line.strip()
                if marker in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
                    inside = True
                elif marker in ("### END SOLUTION", "### END HIDDEN TESTS"):
                    inside = False
                else:
                    (protected if inside else given).add(marker)
    return protected, given


def _protected_lines():
    """Lines of the exercise sources that a student must never see.

    Short or generic lines (`return x`, `pass`) and imports may legitimately appear anywhere
    (the chapters import coursekit too). So may a line that one assignment's *source* hands
    out as given code while another assignment asks for it (e.g. the least-squares gradient,
    a helper in `distributed`, a task in `linreg_sgd`): that is a choice of the exercises'
    author, not a leak of the build. The given lines come from the sources, not from the
    releases, so a solution that nbgrader failed to strip is still caught.
    """
    protected, given = _source_lines()
    # The hidden tests live beside the notebooks, in a file that is never released: its code
    # lines are protected, except those a chapter's own source shows (a hidden test calls
    # coursekit as a chapter does, `numeric = numerical_grad_array(`: public by choice).
    chapters = "\n".join(p.read_text() for p in sorted((ROOT / "book").rglob("*.md")))
    for hidden in sorted((ROOT / "exercises").glob("*/hidden_tests.py")):
        protected |= {line.strip() for line in hidden.read_text().splitlines()
                      if not line.strip().startswith(("#", '"', "f\"", "'"))
                      and line.strip() not in chapters}
    return {line for line in protected - given
            if len(line) >= 25 and not line.startswith(("import ", "from "))}


def _site_texts(site):
    for path in site.rglob("*"):
        if path.suffix in {".html", ".ipynb", ".md", ".txt", ".js", ".py", ".json"}:
            yield str(path), path.read_text(errors="replace")
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    yield f"{path}!{name}", zf.read(name).decode(errors="replace")


def test_no_solution_or_hidden_test_reaches_the_site(site):
    protected = _protected_lines()
    if not protected:
        pytest.fail("found no solution or hidden-test lines in exercises/: the check is vacuous")
    leaks = [(where, line) for where, text in _site_texts(site)
             for line in protected if line in text]
    assert leaks == []


ASSIGNMENTS = sorted(p.name for p in (ROOT / "exercises").iterdir() if p.is_dir())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_exercise_is_downloadable_in_its_released_form(site, assignment):
    # Sphinx copies {download} targets to _downloads/ (the chapter's own .ipynb is elsewhere).
    downloads = [p for p in (site / "_downloads").rglob("*")
                 if p.name in (f"{assignment}.ipynb", f"{assignment}.zip")]
    names = {p.suffix for p in downloads}
    assert names == {".ipynb", ".zip"}, f"no chapter links the {assignment} notebook and zip"
    for path in downloads:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                texts = [zf.read(n).decode(errors="replace") for n in zf.namelist()
                         if n.endswith(".ipynb")]
        else:
            texts = [path.read_text()]
        assert texts, path
        for text in texts:
            assert "### BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
            assert "YOUR CODE HERE" in text or "YOUR ANSWER HERE" in text


def _chapter_pages(site):
    return sorted((site / "book").rglob("*.html"))


def test_no_page_shows_an_error_or_a_warning_output(site):
    """A reader must never see a traceback or a stderr block (warnings) in a chapter."""
    bad = []
    for page in _chapter_pages(site):
        html = page.read_text()
        for marker in ('class="output traceback', 'class="output stderr', "Traceback (most recent"):
            if marker in html:
                bad.append((page.name, marker))
    assert bad == []


def test_every_static_figure_has_alt_text(site):
    """Figures drawn by a cell carry alt text (the `mystnb: image: alt:` option)."""
    missing = []
    for page in _chapter_pages(site):
        for img in re.findall(r"<img\b[^>]*>", page.read_text()):
            if "_images/" not in img:  # logos, badges; widget frames are drawn by script
                continue
            alt = re.search(r'\balt="([^"]*)"', img)
            if not alt or len(alt.group(1).strip()) < 20:
                missing.append((page.name, img[:120]))
    assert missing == []
