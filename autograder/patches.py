"""Every change this package makes to its dependencies' internals, in one place.

:func:`install` applies them all; it is idempotent, and every process that runs nbgrader
calls it (the grading process when it prepares an assignment, the fork server, a student's
process). None of them changes what nbgrader computes: they save time or leave out an
import, and a test compares each with the unpatched library
(``tests/autograder/test_speed.py``, ``tests/autograder/test_patches.py``). One changes what
a feedback page looks like, on purpose: its formulas are MathML instead of TeX for a
MathJax that nbgrader's template would load from a CDN
(:func:`feedback_maths_as_mathml`).

=============================================  ==============================================
patched                                        why
=============================================  ==============================================
``nbgrader.api.get_alembic_version``           nbgrader stamps every new ``gradebook.db`` by
replaced by :func:`alembic_head`               running ``alembic heads`` in a subprocess: a
(:func:`use_alembic_head_lookup`)              Python start-up and alembic's imports, 2.6 s of
                                               each run's 3.1 s of preparation (profiled).
                                               Alembic's API reads the same migration scripts
                                               in this process.
``nbconvert.exporters.TemplateExporter.``      nbconvert builds a new Jinja environment for
``_create_environment`` wrapped: every          every exporter, so each student's
environment shares one in-memory bytecode      ``generate_feedback`` compiled the same nine
cache (:func:`template_bytecode_cache`)        templates again (~0.2 s, a tenth of a
                                               student's grading). Jinja checks each entry
                                               against its template's source checksum.
``sys.modules["rfc3987_syntax"] = None``       jsonschema (under nbformat) imports it, when
(:func:`refuse_rfc3987_syntax`, also run when  installed, only to check the "iri" string
the package is imported, before nbformat)      format, and it builds a parser at import: ~1 s
                                               per process. Nothing we validate uses "iri".
``nbconvert.filters.highlight.Highlight2HTML.``  every feedback page highlighted the
``__call__`` remembers each source's HTML      instructor's code cells again with pygments;
(:func:`highlight_cache`)                       the fork server highlights them once and each
                                               student's process inherits the store.
``setuptools.archive_util``: a stand-in        ``nbgrader.utils`` imports three of its
until first used                               functions for ``unzip`` (the exchange's zip
(:func:`defer_setuptools_archive_util`, also   collection, which the grader never calls);
run when the package is imported)              the real module imports setuptools and
                                               ``pkg_resources``, ~0.2 CPU s per process.
``nbconvert.exporters.html.BeautifulSoup``     nbconvert parses every page it renders again
during ``HTMLExporter.from_notebook_node``:    (BeautifulSoup, pure Python) to give images
a page with nothing that pass changes is       without ``alt`` a placeholder and the lab
returned as rendered, when the notebook's      template's cells ``tabindex``, then prints the
markup is the course's own                     tree again: ~0.09 CPU s per feedback page,
(:func:`skip_idle_html_reparse`)               where nbgrader's feedback template has no lab
                                               cells and a graded notebook seldom an image.
``jsonschema`` as ``nbgrader.nbgraderformat``  nbgrader checks each cell's nbgrader metadata
sees it: ``validate`` checks each schema once  with ``jsonschema.validate``, which first
(:func:`check_nbgrader_schema_once`)           checks the schema itself against its
                                               meta-schema: 9/10 of the ~6 ms each of a
                                               student's two metadata checks.
``nbgrader.api.create_engine``: one            nbgrader opens the gradebook ~11 times per
SQLAlchemy engine per URL                      student and each open compiled the same
(:func:`share_gradebook_engines`; **not** in   statements again (a tenth of the student's
:func:`install`: called by                     process's CPU; the grading process, once per
:mod:`autograder.child` and by the grading     student, ~0.05 CPU s). Never in the fork
process, :mod:`autograder.pipeline`)           server, whose children must not inherit an
                                               open connection.
``nbconvert``'s markdown renderer              the feedback page's formulas need MathJax,
(``IPythonRenderer.inline_math``,              which nbgrader's template loads from a CDN
``block_math``): formulas as MathML            (the course's template folder drops that
(:func:`feedback_maths_as_mathml`)             script); MathML is typeset by the browser
                                               itself. A formula the converter cannot take
                                               stays TeX (:mod:`autograder.mathml`).
=============================================  ==============================================

Checked against the versions in :data:`CHECKED_AGAINST`, which are ``requirements.txt``'s
pins (a test fails when a pin moves, so that whoever upgrades reads this module again).

Also relied upon, by subclassing rather than patching (a new version may rename these):
nbgrader's ``Execute.__init__`` passing ``kernel_manager_class`` as an argument and its
``Autograde.autograde_preprocessors`` default (:class:`autograder.execute.GradingExecute`);
jupyter_client's ``AsyncZMQSocketChannel._recv``, ``KernelClient._create_connected_socket``
and ``_async_is_alive`` (:class:`autograder.execute.GuardedKernelClient`); its
``KernelManager._async_signal_kernel``, ``_launch_args`` and ``provisioner.process``
(:class:`autograder.sandbox.SandboxedKernelManager`); nbgrader's
``nbgrader.dbutil._temp_alembic_ini`` (:func:`alembic_head`).
"""

from __future__ import annotations

import contextvars
import functools
import re
import sys

#: The library versions these patches (and the overrides named above) were checked against.
CHECKED_AGAINST = {
    "nbgrader": "0.9.6",
    "nbconvert": "7.17.2",
    "nbclient": "0.11.0",
    "jupyter_client": "8.10.0",
    "alembic": "1.20.1",
    "Jinja2": "3.1.6",
    "jsonschema": "4.26.0",
    "SQLAlchemy": "2.1.9",
    "Pygments": "2.21.0",
    "latex2mathml": "3.81.1",
}


def install() -> None:
    """Apply every patch of this module (once per process; calling again changes nothing)."""
    refuse_rfc3987_syntax()
    defer_setuptools_archive_util()
    use_alembic_head_lookup()
    template_bytecode_cache()
    highlight_cache()
    skip_idle_html_reparse()
    check_nbgrader_schema_once()
    feedback_maths_as_mathml()


def feedback_maths_as_mathml():
    """Render the formulas of markdown cells as MathML (:func:`autograder.mathml.
    tex_to_mathml`) in every page nbconvert renders here: the feedback pages.

    nbconvert's ``IPythonRenderer`` writes ``$...$`` and ``$$...$$`` back as escaped TeX for
    MathJax to typeset in the browser; nbgrader's feedback template would load MathJax from
    a CDN, which the course's template folder removes (``autograder/templates``). Installed
    once per process; returns the patched renderer class.
    """
    from nbconvert.filters import markdown_mistune

    from .mathml import tex_to_mathml

    renderer = markdown_mistune.IPythonRenderer
    if getattr(renderer.inline_math, "as_tex", None) is not None:
        return renderer
    inline_tex, block_tex = renderer.inline_math, renderer.block_math

    def inline_math(self, body: str) -> str:
        return tex_to_mathml(body) or inline_tex(self, body)

    def block_math(self, body: str) -> str:
        return tex_to_mathml(body, display=True) or block_tex(self, body)

    inline_math.as_tex, block_math.as_tex = inline_tex, block_tex
    renderer.inline_math, renderer.block_math = inline_math, block_math
    return renderer


def refuse_rfc3987_syntax() -> None:
    """Make ``import rfc3987_syntax`` fail, so jsonschema does without its "iri" checker.

    Must run before nbformat imports jsonschema: the package's ``__init__`` calls it. Kernels
    are separate processes, unaffected.
    """
    sys.modules.setdefault("rfc3987_syntax", None)


ARCHIVE_UTIL = "setuptools.archive_util"


def defer_setuptools_archive_util() -> None:
    """Put a stand-in for ``setuptools.archive_util`` in ``sys.modules`` until it is used.

    ``nbgrader.utils`` imports ``unpack_archive``, ``unpack_tarfile`` and ``unpack_zipfile``
    from it when nbgrader is imported; importing the real module imports setuptools and
    ``pkg_resources`` (~0.2 CPU s, in the grading process and the fork server). Each
    stand-in function, and any other name looked up in the module, imports the real module
    first (which then replaces the stand-in) and forwards to it. Must run before nbgrader is
    imported (the package's ``__init__`` calls it); does nothing once the real module is in.
    """
    if ARCHIVE_UTIL in sys.modules:
        return
    import types

    stand_in = types.ModuleType(ARCHIVE_UTIL, "Stand-in until first use: see autograder.patches")

    def real():
        if sys.modules.get(ARCHIVE_UTIL) is stand_in:
            del sys.modules[ARCHIVE_UTIL]
        import importlib

        return importlib.import_module(ARCHIVE_UTIL)

    def forward(name: str):
        def call(*args, **kwargs):
            return getattr(real(), name)(*args, **kwargs)

        call.__name__ = call.__qualname__ = name
        return call

    def other(name: str):  # any other name (PEP 562); not the import system's ``__path__``
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(real(), name)

    for name in ("unpack_archive", "unpack_tarfile", "unpack_zipfile"):
        setattr(stand_in, name, forward(name))
    stand_in.__getattr__ = other
    sys.modules[ARCHIVE_UTIL] = stand_in


@functools.cache
def alembic_head() -> str:
    """The head revision of nbgrader's gradebook migrations, looked up in this process.

    nbgrader stamps every new ``gradebook.db`` with it by running ``alembic heads`` in a
    subprocess (``nbgrader.api.get_alembic_version``): a Python start-up and alembic's
    imports, about 2.6 s of each ``grade`` and ``release``. Alembic's own API gives the same
    answer from the same migration scripts without the subprocess.
    """
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import _temp_alembic_ini

    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        return ScriptDirectory.from_config(AlembicConfig(ini)).get_current_head()


def use_alembic_head_lookup() -> None:
    """Make nbgrader stamp new gradebooks with :func:`alembic_head` (no subprocess)."""
    import nbgrader.api

    nbgrader.api.get_alembic_version = alembic_head


def template_bytecode_cache():
    """An in-memory Jinja bytecode cache installed on every nbconvert template environment.

    nbconvert builds a new Jinja environment for every exporter, so each student's
    ``generate_feedback`` compiled the same nine feedback templates again (about 0.2 s, a
    tenth of a student's grading). The fork server fills this cache once, from the installed
    templates and no student data (:func:`autograder.forkserver._warm_feedback_templates`);
    each student's process inherits a copy-on-write copy, so nothing a student's process
    writes reaches another student. Jinja checks every entry against the template's source
    checksum, so a changed template is simply compiled again.

    Returns the cache (the one already installed, if any).
    """
    import jinja2
    from nbconvert.exporters.templateexporter import TemplateExporter

    installed = getattr(TemplateExporter._create_environment, "bytecode_cache", None)
    if installed is not None:
        return installed

    class MemoryBytecodeCache(jinja2.BytecodeCache):
        def __init__(self):
            self.store: dict[str, bytes] = {}

        def load_bytecode(self, bucket):
            code = self.store.get(bucket.key)
            if code is not None:
                bucket.bytecode_from_string(code)

        def dump_bytecode(self, bucket):
            self.store[bucket.key] = bucket.bytecode_to_string()

    cache = MemoryBytecodeCache()
    create = TemplateExporter._create_environment

    @functools.wraps(create)
    def _create_environment(self):
        env = create(self)
        env.bytecode_cache = cache
        return env

    _create_environment.bytecode_cache = cache
    TemplateExporter._create_environment = _create_environment
    return cache


def highlight_cache() -> dict:
    """Remember nbconvert's syntax highlighting of a cell, by its source, in this process.

    Every student's feedback page highlights the instructor's code cells again (the given
    code, the test cells, the untouched stubs): the same sources, lexed and formatted with
    pygments for every student. The fork server highlights them once
    (:func:`_warm_highlighting`, from the source notebooks: no student's data) and each
    student's process inherits a copy-on-write copy, to which it adds its own cells; nothing
    it adds reaches another student. The key holds everything the HTML depends on: the
    source, the language (and a cell's ``magics_language``) and the formatter options.
    Installed once per process; returns the store.
    """
    from nbconvert.filters.highlight import Highlight2HTML

    plain = Highlight2HTML.__call__
    if hasattr(plain, "store"):
        return plain.store
    store: dict[tuple, str] = {}

    @functools.wraps(plain)
    def __call__(self, source, language=None, metadata=None):
        key = (
            source,
            language or self.pygments_lexer,
            (metadata or {}).get("magics_language"),
            repr(sorted(self.extra_formatter_options.items())),
        )
        if key not in store:
            store[key] = plain(self, source, language, metadata)
        return store[key]

    __call__.store = store
    Highlight2HTML.__call__ = __call__
    return store


#: What nbconvert's pass after rendering (``HTMLExporter.from_notebook_node``) looks for: an
#: ``<img`` tag (``img:not([alt])``) or a lab cell (``.jp-Notebook div.jp-Cell-inputWrapper``,
#: ``div.jp-OutputArea-output``). A page where none occurs, in any letter case, is one the
#: pass leaves as it is but for printing its tree again.
_REPARSE_TARGETS = re.compile(r"<img|jp-cell-inputwrapper|jp-outputarea-output", re.IGNORECASE)
#: Characters that make a grade id (or anything written unescaped) markup.
_MARKUP = re.compile(r"[<>&\"']")
#: Markdown and raw cells' sources that are the course's own text (the released notebooks'),
#: added by :func:`trust_course_text` in a student's process.
COURSE_TEXT: set[str] = set()
#: Whether the page being rendered holds only escaped text and the course's own markup.
_ESCAPED_ONLY = contextvars.ContextVar("autograder_escaped_only", default=False)


class _PageAsRendered:
    """Stands in for BeautifulSoup's tree of a page none of the pass's selectors can match:
    ``select`` finds nothing and ``str`` is the page as the templates rendered it."""

    def __init__(self, markup: str):
        self.markup = markup

    def select(self, selector: str) -> list:
        return []

    def __str__(self) -> str:
        return self.markup


def trust_course_text(notebooks) -> None:
    """Remember the markdown and raw cells of ``notebooks`` (the released ones) as the course's
    own markup (:func:`skip_idle_html_reparse`). A student's process only: a student who
    copies such a cell unchanged adds nothing of their own to the page."""
    COURSE_TEXT.update(
        c.source for nb in notebooks for c in nb.cells if c.cell_type in ("markdown", "raw")
    )


def escaped_only(nb) -> bool:
    """Whether every piece of ``nb`` that reaches a page as markup is the course's own.

    The templates escape code (highlighted), streams, errors and ``text/plain``. Markup comes
    from markdown and raw cells (kept as written) and from other outputs (``text/html``,
    SVG, ...): a cell with ``<`` that is not in :data:`COURSE_TEXT`, or any output with another
    type, a grader's comment with ``<``, a grade id with a markup character (nbgrader's
    feedback template writes it unescaped) or widget state makes the answer ``False``. Such
    markup may be broken (an unclosed ``<b>``), and a browser and nbconvert's parser mend it
    differently.
    """
    if nb.metadata.get("widgets"):
        return False  # widget state, written into a script element of the page
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader") or {}
        # nbgrader's feedback template writes the grade id into attributes unescaped.
        if "<" in str(meta.get("comment") or "") or _MARKUP.search(str(meta.get("grade_id", ""))):
            return False
        if cell.cell_type != "code":
            if "<" in cell.source and cell.source not in COURSE_TEXT:
                return False
            continue
        for out in cell.get("outputs", []):
            if set(out.get("data", {})) - {"text/plain"}:
                return False
    return True


def skip_idle_html_reparse():
    """Skip nbconvert's second parse of a rendered page when it would change nothing in it.

    ``HTMLExporter.from_notebook_node`` renders the page, parses it with BeautifulSoup
    (``html.parser``, pure Python), gives every ``<img>`` without ``alt`` a placeholder text
    and the lab template's input and output areas ``tabindex="0"``, and returns the tree
    printed again: about 0.09 CPU s for one ``gd_basics`` feedback page, most of what the
    page costs. nbgrader's feedback template has no lab areas, so on a page without an
    ``<img`` (:data:`_REPARSE_TARGETS`) the pass adds nothing, and when the notebook's markup
    is all the course's own (:func:`escaped_only`) the page is returned as the templates
    rendered it. It is then not byte for byte the printed tree (BeautifulSoup drops
    whitespace-only text between tags, orders attributes and quotes them its way), but the
    same page to a reader: the same elements, attributes and text, the same pixels in a
    browser (``tests/autograder/test_speed.py``). Any other page (a plot, a student's HTML,
    which may be broken) goes through nbconvert's own pass, unchanged.

    Installed once per process; returns the wrapped ``from_notebook_node``.
    """
    import nbconvert.exporters.html as html_exporter

    render = html_exporter.HTMLExporter.from_notebook_node
    if getattr(render, "soup", None) is not None:
        return render
    soup = html_exporter.BeautifulSoup

    def page_tree(markup, *args, **kwargs):
        if _ESCAPED_ONLY.get() and isinstance(markup, str) and not _REPARSE_TARGETS.search(markup):
            return _PageAsRendered(markup)
        return soup(markup, *args, **kwargs)

    @functools.wraps(render)
    def from_notebook_node(self, nb, resources=None, **kw):
        token = _ESCAPED_ONLY.set(escaped_only(nb))
        try:
            return render(self, nb, resources, **kw)
        finally:
            _ESCAPED_ONLY.reset(token)

    from_notebook_node.soup = soup
    html_exporter.BeautifulSoup = page_tree
    html_exporter.HTMLExporter.from_notebook_node = from_notebook_node
    return from_notebook_node


class _SchemaCheckedOnce:
    """``jsonschema`` as nbgrader's metadata validator uses it, with :meth:`validate` checking
    each schema against its meta-schema once per process instead of at every call."""

    def __init__(self, module):
        self.module = module
        self.checked: set[tuple] = set()

    def __getattr__(self, name):
        return getattr(self.module, name)

    def validate(self, instance, schema, cls=None, *args, **kwargs):
        """What ``jsonschema.validate`` does (the schema's validator class, a check of the
        schema, the best error of the instance raised), the check once per schema."""
        import json

        if cls is None:
            cls = self.module.validators.validator_for(schema)
        key = (cls, json.dumps(schema, sort_keys=True))
        if key not in self.checked:
            cls.check_schema(schema)  # raises SchemaError: not remembered then
            self.checked.add(key)
        error = self.module.exceptions.best_match(
            cls(schema, *args, **kwargs).iter_errors(instance)
        )
        if error is not None:
            raise error


def check_nbgrader_schema_once():
    """Make nbgrader's cell-metadata checks check their schema once per process.

    ``CheckCellMetadata`` (in ``autograde`` and in ``generate_feedback``) validates every
    graded cell's ``nbgrader`` metadata with ``jsonschema.validate``, which first validates
    the schema itself against its meta-schema, the same schema every time: ~6 ms of each
    check of a ``gd_basics`` notebook, against ~0.5 ms without. The instance is validated
    exactly as before (same validator class, same best error raised). Installed once per
    process; returns the stand-in nbgrader sees as ``jsonschema``.
    """
    import jsonschema
    from nbgrader.nbgraderformat import common

    if isinstance(common.jsonschema, _SchemaCheckedOnce):
        return common.jsonschema
    common.jsonschema = _SchemaCheckedOnce(jsonschema)
    return common.jsonschema


def share_gradebook_engines() -> dict:
    """One SQLAlchemy engine per gradebook URL in this process (a student's, or the grading
    process's).

    nbgrader opens the gradebook about eleven times per student (each step of
    ``autograde`` and ``generate_feedback`` makes a ``Gradebook``), and each open made a new
    engine. SQLAlchemy keeps its compiled statements per engine, so every open compiled the
    same queries again: a tenth of the student's process's CPU. The grading process opens
    the instructor's gradebook once per student (:func:`autograder.report.record_in_gradebook`,
    from its main thread), and paid the same again, ~0.05 CPU s per student. Sharing the
    engine keeps what nbgrader does (``Gradebook.close`` still disposes of the connections;
    the engine opens new ones) and only the compiled statements survive. In a student's
    process, whose one gradebook is its own private copy, and in the grading process, which
    forks nothing (its fork server and students are new interpreters); never in the fork
    server, whose children must not inherit an open connection. Installed once per process;
    returns the engines by URL.
    """
    import nbgrader.api

    installed = getattr(nbgrader.api.create_engine, "engines", None)
    if installed is not None:
        return installed
    create_engine = nbgrader.api.create_engine  # SQLAlchemy's, as nbgrader imports it
    engines: dict[tuple, object] = {}

    def shared_engine(url, **kw):
        key = (str(url), tuple(sorted(kw.items())))
        if key not in engines:
            engines[key] = create_engine(url, **kw)
        return engines[key]

    shared_engine.engines = engines
    nbgrader.api.create_engine = shared_engine
    return engines
