"""Feedback pages load nothing from another host (nbgrader's template would load MathJax).

nbgrader's feedback template calls nbconvert's ``mathjax()`` macro without a URL, so every
page it writes loads MathJax from cdnjs when a student opens it. The autograder's template
folder comes first and shadows that macro (``autograder/templates/base/mathjax.html.j2``).
The real panel's pages are checked in ``test_cli_grade``.
"""

from __future__ import annotations

import html
import re

from autograder_helpers import remote_resources

from autograder import forkserver, nbgrader_config, patches


def test_the_helper_finds_what_a_browser_would_fetch():
    page = (
        '<script src="https://cdn.example/x.js"></script><link href="//cdn.example/a.css">'
        '<img src="data:image/png;base64,AA"><a href="https://example.org">docs</a>'
        "<style>b { background: url('http://h/i.png') }</style><script src=\"local.js\">"
    )
    assert remote_resources(page) == [
        "https://cdn.example/x.js",
        "//cdn.example/a.css",
        "http://h/i.png",
    ]


def test_the_feedback_page_typesets_its_maths_itself_and_fetches_nothing():
    patches.install()
    page = forkserver.feedback_page(*forkserver.warm_notebook())
    assert remote_resources(page) == []
    assert "MathJax.Hub" not in page  # nor the configuration script of a MathJax not loaded
    # The heading "# $x$" of the made-up notebook: MathML, which the browser typesets.
    assert '<math display="inline"><mrow><mi>x</mi></mrow></math>' in page
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "$x$" not in text


def test_without_the_course_folder_nbgrader_would_load_mathjax_from_a_cdn(monkeypatch):
    """The check above can fail: nbgrader's own template folder alone gives the CDN script."""
    ours, nbgraders = nbgrader_config.feedback_template_dirs()
    monkeypatch.setattr(nbgrader_config, "feedback_template_dirs", lambda: [nbgraders])
    page = forkserver.feedback_page(*forkserver.warm_notebook())
    assert any("mathjax" in u.lower() for u in remote_resources(page))


def test_another_courses_template_folders_come_after_the_course_one(tmp_path):
    theirs = tmp_path / "their_templates"
    (tmp_path / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.HTMLExporter.extra_template_basedirs = [{str(theirs)!r}]\n"
    )
    ours, nbgraders = nbgrader_config.feedback_template_dirs()
    c = nbgrader_config.course_config(
        tmp_path / "course", config_file=tmp_path / "nbgrader_config.py"
    )
    assert c.HTMLExporter.extra_template_basedirs == [ours, str(theirs), nbgraders]
    plain = nbgrader_config.course_config(tmp_path / "course")
    assert plain.HTMLExporter.extra_template_basedirs == [ours, nbgraders]
