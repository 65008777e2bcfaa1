"""What grading does to be fast must not change what it produces.

* The fork server's template bytecode cache: a feedback page rendered from cached bytecode
  is the page rendered from freshly compiled templates, and no template is compiled again.
* ``Prepared`` reads the instructor's notebooks once but hands every caller its own copy.
* The kernel is shut down at once after the last cell (nbclient's "immediate").
* Remembered syntax highlighting is the highlighting, computed once per source.
* A student's process shares one SQLAlchemy engine per gradebook and still reads and writes
  the same rows.
* The grading process waits for a student's process without polling, and says so on time.
* A feedback page nbconvert's second parse would not change is returned as rendered: the
  same tree to nbconvert's own parser, the same elements, text and pixels in Chromium.
* The fork server's gradebook warm-up leaves no open connection and no stand-in behind.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import nbformat
import pytest
from autograder_helpers import launch_chromium
from nbconvert.exporters.templateexporter import TemplateExporter

from autograder import course, forkserver, patches, run
from autograder.nbgrader_config import course_config


def test_cached_templates_render_the_same_page_without_compiling(monkeypatch):
    # template_bytecode_cache() patches nbconvert for the rest of a process (the fork
    # server's); this test starts from nbconvert's own method (another test may have patched
    # it already) and monkeypatch puts whatever was there back after it.
    create = TemplateExporter._create_environment
    monkeypatch.setattr(
        TemplateExporter, "_create_environment", getattr(create, "__wrapped__", create)
    )
    nb, resources = forkserver.warm_notebook()
    plain = forkserver.feedback_page(nb, resources)
    cache = patches.template_bytecode_cache()
    assert patches.template_bytecode_cache() is cache  # installed once
    forkserver._warm_feedback_templates()
    assert len(cache.store) >= 2  # the feedback template and the ones it extends

    compiled = []
    compile_ = jinja2.Environment.compile

    def counting_compile(self, source, name=None, *args, **kw):
        compiled.append(name)
        return compile_(self, source, name, *args, **kw)

    monkeypatch.setattr(jinja2.Environment, "compile", counting_compile)
    # Another notebook than the warm-up's, through a new exporter (as in a student's process).
    other = nbformat.reads(nbformat.writes(nb), as_version=4)
    other.cells[0].source = "# another student's page"
    cached = forkserver.feedback_page(other, resources)
    assert forkserver.feedback_page(nb, resources) == plain
    assert compiled == []
    monkeypatch.setattr(jinja2.Environment, "compile", compile_)
    cache.store.clear()
    recompiled = forkserver.feedback_page(other, resources)
    assert cached == recompiled
    assert "another student" in cached


def test_prepared_notebooks_are_read_once_and_handed_out_as_copies(tmp_path):
    prep = course.Prepared("a", tmp_path, ["nb"])
    path = prep.release_dir / "nb.ipynb"
    path.parent.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, str(path))
    first = prep.release_nb("nb")
    assert first == nbformat.read(str(path), as_version=4)
    first.cells[0].source = "changed by a caller"
    first.cells.append(nbformat.v4.new_markdown_cell("added"))
    second = prep.release_nb("nb")
    assert second.cells[0].source == "x = 1" and len(second.cells) == 1
    assert isinstance(second.cells[0], nbformat.NotebookNode)
    # The instructor's files are written once by prepare(); later changes are not re-read.
    path.write_text("{ not json")
    assert prep.release_nb("nb") == second


def test_kernel_is_shut_down_immediately_even_with_another_courses_config(tmp_path):
    assert course_config(tmp_path).Execute.shutdown_kernel == "immediate"
    theirs = tmp_path / "nbgrader_config.py"
    theirs.write_text("c = get_config()\nc.CourseDirectory.course_id = 'x'\n")
    assert course_config(tmp_path, config_file=theirs).Execute.shutdown_kernel == "immediate"


def test_alembic_head_is_what_nbgrader_gets_from_its_subprocess():
    # nbgrader stamps a new gradebook with `alembic heads` run as a subprocess (2-3 s);
    # the in-process lookup must give the same revision.
    import subprocess
    import sys

    from nbgrader.dbutil import _temp_alembic_ini

    alembic = Path(sys.executable).parent / "alembic"
    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        out = subprocess.check_output([str(alembic), "-c", ini, "heads"], text=True)
    assert patches.alembic_head() == out.split()[0]
    patches.use_alembic_head_lookup()
    import nbgrader.api

    assert nbgrader.api.get_alembic_version() == out.split()[0]


def test_remembered_highlighting_is_the_highlighting_computed_once(monkeypatch):
    from nbconvert.filters import highlight as hl

    # From nbconvert's own method (another test may have installed the patches already);
    # monkeypatch puts whatever was there back after this test.
    call = hl.Highlight2HTML.__call__
    monkeypatch.setattr(hl.Highlight2HTML, "__call__", getattr(call, "__wrapped__", call))
    source = "def f(x):\n    return x + 1  # a comment\n"
    plain = hl.Highlight2HTML(pygments_lexer="ipython3")(source)
    other = hl.Highlight2HTML(pygments_lexer="python")(source)
    store = patches.highlight_cache()
    assert patches.highlight_cache() is store  # installed once
    calls = []
    real = hl._pygments_highlight
    monkeypatch.setattr(
        hl, "_pygments_highlight", lambda *a, **k: calls.append(a[0]) or real(*a, **k)
    )
    h = hl.Highlight2HTML(pygments_lexer="ipython3")
    assert h(source) == plain and h(source) == plain
    assert hl.Highlight2HTML(pygments_lexer="python")(source) == other
    assert calls == [source, source]  # once per language, then remembered
    assert h("x = 2") != plain


def test_a_student_process_shares_one_engine_per_gradebook(tmp_path, monkeypatch):
    import nbgrader.api
    from nbgrader.api import Gradebook

    # From SQLAlchemy's own function (another test may have shared the engines already);
    # monkeypatch puts whatever was there back after this test.
    create = nbgrader.api.create_engine
    monkeypatch.setattr(nbgrader.api, "create_engine", getattr(create, "real", create))
    course.use_interpreter_path()
    patches.use_alembic_head_lookup()
    engines = patches.share_gradebook_engines()
    assert patches.share_gradebook_engines() is engines  # installed once
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url, "c") as gb:
        gb.add_assignment("a")
        gb.update_or_create_student("s", first_name="Ada")
        first = gb.engine
    with Gradebook(url, "c") as gb:
        assert gb.engine is first and len(engines) == 1
        assert gb.find_student("s").first_name == "Ada"
        assert [a.name for a in gb.assignments] == ["a"]
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with Gradebook(other, "c") as gb:
        assert gb.engine is not first and gb.assignments == []


def test_waiting_for_a_student_process_ends_when_it_ends_or_on_time():
    import subprocess
    import time

    quick = subprocess.Popen(["sleep", "0.2"])
    assert run.wait_gone(quick.pid, 30)
    quick.wait()
    slow = subprocess.Popen(["sleep", "30"])
    start = time.monotonic()
    assert not run.wait_gone(slow.pid, 0.3)
    assert time.monotonic() - start < 10
    slow.kill()
    slow.wait()
    assert run.wait_gone(slow.pid, 1)  # gone (reaped): no such process


MARKDOWN = "Some *text*, $0 < \\eta < 2/L$ & `code`:\n\n1. one\n2. <b>two</b>\n\n[a link](#top)"


def _graded_page_notebook(*extra_outputs):
    """The fork server's made-up graded notebook with what students' notebooks show: printed
    text, an error and a value, the course's markdown with maths, HTML, a list and a link;
    ``extra_outputs`` are added to the printed text's cell."""
    nb, resources = forkserver.warm_notebook()
    new = nbformat.v4
    nb.cells.insert(0, new.new_markdown_cell(MARKDOWN))
    outputs = [
        new.new_output("stream", name="stdout", text="loss 0.25 < 1 & 'done'\n  indented\n"),
        new.new_output(
            "execute_result", data={"text/plain": "array([1, 2]) <b>"}, execution_count=3
        ),
        *extra_outputs,
    ]
    nb.cells.insert(2, new.new_code_cell("for k in range(2):\n    print(k)", outputs=outputs))
    for k, cell in enumerate(nb.cells):
        cell.id = f"cell-{k}"  # the same page each time it is made
    return nb, resources


BROKEN_HTML = nbformat.v4.new_output(
    "display_data", data={"text/html": "<table><tr><td>1</td></tr></table><b>unclosed <i>"}
)
PLOT = nbformat.v4.new_output(
    "display_data",
    data={  # one pixel
        "image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQG"
        "AhKmMIQAAAABJRU5ErkJggg=="
    },
)


@pytest.fixture
def nbconvert_reparse(monkeypatch):
    """nbconvert's own page rendering (the patches may be installed in this process already;
    monkeypatch puts whatever was there back after the test), and the course's markdown."""
    import nbconvert.exporters.html as html_exporter

    render = html_exporter.HTMLExporter.from_notebook_node
    if getattr(render, "soup", None) is not None:
        monkeypatch.setattr(html_exporter, "BeautifulSoup", render.soup)
        monkeypatch.setattr(html_exporter.HTMLExporter, "from_notebook_node", render.__wrapped__)
    monkeypatch.setattr(patches, "COURSE_TEXT", set())
    patches.trust_course_text(
        [nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(MARKDOWN)])]
    )


def test_a_page_the_reparse_would_not_change_is_the_same_page_unparsed(nbconvert_reparse):
    from bs4 import BeautifulSoup

    kinds = {"escaped": (), "html": (BROKEN_HTML,), "plot": (PLOT,)}
    plain = {k: forkserver.feedback_page(*_graded_page_notebook(*v)) for k, v in kinds.items()}
    nb, resources = _graded_page_notebook()
    nb.cells[0].source += " <i>"  # no longer the course's own text
    plain["student_markdown"] = forkserver.feedback_page(nb, resources)
    render = patches.skip_idle_html_reparse()
    assert patches.skip_idle_html_reparse() is render  # installed once
    fast = forkserver.feedback_page(*_graded_page_notebook())
    # Not the same bytes, but the same tree in the parser nbconvert itself uses: printing
    # it again gives nbconvert's page exactly (its pass only prints the tree again here).
    assert fast != plain["escaped"]
    assert str(BeautifulSoup(fast, features="html.parser")) == plain["escaped"]
    assert "&lt;b&gt;" in fast and "<b>two</b>" in fast
    # A student's HTML (here broken) or markdown, or an image: nbconvert's pass, unchanged.
    assert forkserver.feedback_page(*_graded_page_notebook(BROKEN_HTML)) == plain["html"]
    image = forkserver.feedback_page(*_graded_page_notebook(PLOT))
    assert image == plain["plot"]
    assert "No description has been provided for this image" in image
    assert forkserver.feedback_page(nb, resources) == plain["student_markdown"]
    # Markup from metadata: a grade id nbgrader's template writes unescaped, widget state.
    odd, resources = _graded_page_notebook()
    odd.cells[-1].metadata.nbgrader.grade_id = 't"><b>x'
    assert not patches.escaped_only(odd)
    odd, resources = _graded_page_notebook()
    odd.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    assert not patches.escaped_only(odd)
    assert patches.escaped_only(_graded_page_notebook()[0])


@pytest.mark.browser
def test_the_unparsed_page_looks_the_same_in_chromium(nbconvert_reparse, tmp_path):
    """What the student sees: the same text, the same elements and the same pixels."""
    from playwright.sync_api import sync_playwright

    (tmp_path / "plain.html").write_text(forkserver.feedback_page(*_graded_page_notebook()))
    patches.skip_idle_html_reparse()
    (tmp_path / "fast.html").write_text(forkserver.feedback_page(*_graded_page_notebook()))
    # Every element with its attributes (classes as a set, the rest sorted) and its own
    # text (whitespace-only text between tags is what BeautifulSoup drops), in page order.
    elements = """() => [...document.querySelectorAll('*')].map(e => [e.tagName,
        [...e.attributes].map(a => a.name + '=' + (a.name === 'class'
            ? [...e.classList].sort().join(' ') : a.value)).sort().join(' '),
        [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.data.trim()).join('')])"""
    seen = {}
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.route(  # nothing from a CDN (MathJax): the same for both pages
                "**/*",
                lambda r: (
                    r.continue_() if r.request.url.startswith(("file://", "data:")) else r.abort()
                ),
            )
            for name in ("plain", "fast"):
                page.goto((tmp_path / f"{name}.html").as_uri())
                seen[name] = (
                    page.evaluate(elements),
                    page.inner_text("body"),
                    page.screenshot(full_page=True),
                )
        finally:
            browser.close()
    (plain_elements, plain_text, plain_png), (fast_elements, fast_text, fast_png) = (
        seen["plain"],
        seen["fast"],
    )
    assert len(plain_elements) > 100 and "loss 0.25 < 1" in plain_text
    assert fast_elements == plain_elements
    assert fast_text == plain_text
    assert fast_png == plain_png


def test_the_fork_servers_gradebook_warm_up_leaves_no_connection_and_no_stamp(tmp_path):
    import gc
    import sqlite3

    import nbgrader.api

    def open_connections():
        gc.collect()
        found = set()
        for obj in gc.get_objects():
            if isinstance(obj, sqlite3.Connection):
                try:
                    obj.execute("select 1")
                except sqlite3.ProgrammingError:  # closed
                    continue
                found.add(id(obj))
        return found

    patches.use_alembic_head_lookup()
    before = open_connections()
    forkserver._warm_gradebook()
    assert open_connections() <= before  # a forked student inherits no connection of it
    assert nbgrader.api.get_alembic_version is patches.alembic_head  # put back
    # A gradebook made afterwards is stamped with the real head, and works.
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with nbgrader.api.Gradebook(url, "c") as gb:
        gb.add_assignment("a")
        version = gb.db.execute(nbgrader.api.text("select version_num from alembic_version"))
        assert version.scalar() == patches.alembic_head()
        assert [a.name for a in gb.assignments] == ["a"]
