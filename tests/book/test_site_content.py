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
    pages_with_state = [
        p for p in _html_pages(site) if "application/vnd.jupyter.widget-state+json" in p.read_text()
    ]
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
        protected |= {
            line.strip()
            for line in hidden.read_text().splitlines()
            if not line.strip().startswith(("#", '"', 'f"', "'")) and line.strip() not in chapters
        }
    return {
        line
        for line in protected - given
        if len(line) >= 25
        and not line.startswith(("import ", "from "))
        and not _only_given_names(line, given)
    }


#: A list of names continued from the line before: `a, b, c)` or `a, b,`.
_NAMES_ONLY = re.compile(r"\w+(\s*,\s*\w+)+\s*,?\s*\)*:?")


def _only_given_names(line, given):
    """Whether ``line`` is nothing but names separated by commas (and closing brackets),
    every name one the student already sees outside the solutions: the continuation of an
    argument list such
    as ``latency, param_bytes, data)``, which says only what the stub's signature says
    (and which coursekit's own call of the same arguments, shown by a chapter, repeats)."""
    if not _NAMES_ONLY.fullmatch(line):
        return False
    seen = set(re.findall(r"\w+", " ".join(given)))
    return set(re.findall(r"\w+", line)) <= seen


def test_an_argument_list_of_given_names_is_not_a_secret():
    given = {"def optimal_fraction(work, latency, param_bytes, data):", "return out"}
    assert _only_given_names("latency, param_bytes, data)", given)
    assert _only_given_names("work, latency,", given)
    assert not _only_given_names("latency, secret_ratio, data)", given)
    assert not _only_given_names("c = 2 * latency + param_bytes", given)
    assert not _only_given_names("return out, (work, latency, data)", given)


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
    leaks = [
        (where, line) for where, text in _site_texts(site) for line in protected if line in text
    ]
    assert leaks == []


ASSIGNMENTS = sorted(p.name for p in (ROOT / "exercises").iterdir() if p.is_dir())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_exercise_is_downloadable_in_its_released_form(site, assignment):
    # Sphinx copies {download} targets to _downloads/ (the chapter's own .ipynb is elsewhere).
    downloads = [
        p
        for p in (site / "_downloads").rglob("*")
        if p.name in (f"{assignment}.ipynb", f"{assignment}.zip")
    ]
    names = {p.suffix for p in downloads}
    assert names == {".ipynb", ".zip"}, f"no chapter links the {assignment} notebook and zip"
    for path in downloads:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                texts = [
                    zf.read(n).decode(errors="replace")
                    for n in zf.namelist()
                    if n.endswith(".ipynb")
                ]
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


# --- The book tells the truth: glued numbers and guarded claims (issue 12) -----------------

#: Chapters that quote measured results: each must glue the numbers it quotes (myst-nb `glue`
#: and the `{glue:text}` role) and guard its comparative sentences (`coursekit.claims.claim`
#: in a hidden `remove-cell` cell), so that a build whose results stop supporting the prose
#: fails. Every chapter measures something, so every chapter is here.
CHAPTERS_THAT_MEASURE = [
    "book/foundations/gradient_descent",
    "book/foundations/linear_regression",
    "book/foundations/sgd",
    "book/foundations/momentum_adaptive",
    "book/foundations/newton",
    "book/networks/backprop",
    "book/networks/cnn",
    "book/distributed/splitting",
    "book/distributed/offloading",
]
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`]+)`")
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", re.M | re.S)


def _code_cells(source):
    """(tags, code) of every code cell of a MyST notebook, tags from either option syntax."""
    for match in CODE_CELL.finditer(source):
        body = match.group(1)
        tags = []
        if body.startswith("---\n"):  # a YAML block of options
            options, _, body = body[4:].partition("\n---\n")
            found = re.search(r"^tags:\s*\[([^\]]*)\]", options, re.M)
            tags = [t.strip() for t in found.group(1).split(",")] if found else []
        else:
            while body.startswith(":"):
                line, _, body = body.partition("\n")
                if line.startswith(":tags:"):
                    tags = [t.strip() for t in line.split("[", 1)[1].rstrip("]").split(",")]
        yield tags, body


def glue_counts(source):
    """(roles, glue calls, guards) of a chapter's MyST source.

    roles: the `{glue:text}` roles of the prose (each one a quoted number); glue calls: the
    `glue(` calls of its code; guards: the `claim(` calls in cells hidden by `remove-cell`.
    """
    roles = len(GLUE_ROLE.findall(source))
    glues = guards = 0
    for tags, code in _code_cells(source):
        glues += len(re.findall(r"(?<![\w.])glue\(", code))
        if "remove-cell" in tags:
            guards += len(re.findall(r"(?<![\w.])claim\(", code))
    return roles, glues, guards


def test_glue_counts_reads_both_cell_option_syntaxes():
    source = (
        "Text {glue:text}`a:.2f` and {glue:text}`b`.\n\n"
        "```{code-cell} ipython3\n:tags: [remove-cell]\nclaim(x < y, 's')\nglue('a', 1.0)\n```\n\n"
        "```{code-cell} ipython3\n---\ntags: [hide-input, remove-cell]\n---\nclaim(1, 't')\n```\n\n"
        "```{code-cell} ipython3\nclaim(True, 'shown, so not a hidden guard')\nglue('b', 2)\n```\n"
    )
    assert glue_counts(source) == (2, 2, 2)


@pytest.mark.parametrize("chapter", CHAPTERS_THAT_MEASURE)
def test_chapter_glues_its_numbers_and_guards_its_claims(chapter):
    source = (ROOT / f"{chapter}.md").read_text()
    roles, glues, guards = glue_counts(source)
    assert roles > 0 and glues > 0, f"{chapter} quotes no glued number"
    assert guards > 0, f"{chapter} guards none of its claims (claim() in a remove-cell cell)"
    # Every key the prose pastes is made by the chapter itself: a literal string, or an
    # f-string of its code whose fixed parts fit (f"test_acc_h{h}" makes test_acc_h128).
    keys = {m.split(":")[0] for m in GLUE_ROLE.findall(source)}
    made = [
        re.compile(".+".join(map(re.escape, re.split(r"\{[^}]*\}", f))))
        for f in re.findall(r"""\bf["']([\w{}.\[\]'"]*?)["']""", source)
        if "{" in f and len(re.sub(r"\{[^}]*\}", "", f)) >= 3
    ]  # f"{key}" proves nothing
    missing = sorted(
        k
        for k in keys
        if f'"{k}"' not in source
        and f"'{k}'" not in source
        and not any(m.fullmatch(k) for m in made)
    )
    assert missing == [], f"{chapter} pastes keys it never makes: {missing}"


@pytest.mark.parametrize("chapter", CHAPTERS_THAT_MEASURE)
def test_every_glued_number_reaches_the_page(site, chapter):
    """An unresolved `{glue:text}` key leaves no text behind (myst-nb drops the node with a
    warning): the page must carry exactly one pasted value per role of its source."""
    source = (ROOT / f"{chapter}.md").read_text()
    html = (site / f"{chapter}.html").read_text()
    pasted = len(re.findall(r'class="[^"]*\bpasted-text\b', html))
    assert pasted == len(GLUE_ROLE.findall(source)), f"{chapter}: unresolved glue keys"


def test_no_page_has_an_unresolved_glue_key(site):
    bad = [
        (p.name, marker)
        for p in _chapter_pages(site)
        for marker in ("{glue", 'class="problematic"', 'class="system-message"')
        if marker in p.read_text()
    ]
    assert bad == []
