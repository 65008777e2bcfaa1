"""What grading does to be fast must not change what it produces.

* The fork server's template bytecode cache: a feedback page rendered from cached bytecode
  is the page rendered from freshly compiled templates, and no template is compiled again.
* ``Prepared`` reads the instructor's notebooks once but hands every caller its own copy.
* The kernel is shut down at once after the last cell (nbclient's "immediate").
* Remembered syntax highlighting is the highlighting, computed once per source.
* A student's process shares one SQLAlchemy engine per gradebook and still reads and writes
  the same rows.
* The grading process waits for a student's process without polling, and says so on time.
"""

from __future__ import annotations

import jinja2
import nbformat
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
    from pathlib import Path

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

    monkeypatch.setattr(nbgrader.api, "create_engine", nbgrader.api.create_engine)
    course.use_interpreter_path()
    patches.use_alembic_head_lookup()
    engines = patches.share_gradebook_engines()
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
