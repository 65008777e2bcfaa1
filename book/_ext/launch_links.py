"""Launch buttons that open a chapter's generated notebook (Colab, Binder).

sphinx-book-theme builds the Binder and Colab links from the page's *source* file, which for
this course is a MyST Markdown chapter (``book/<part>/<chapter>.md`` on ``main``). Colab opens
only ``.ipynb`` files, and nothing on ``main`` installs coursekit for a live kernel. The
notebooks the buttons should open are generated from the chapters by
``tools/live_notebooks.py`` and pushed by ``make publish`` to the published branch, under
``<course_notebooks_dir>/<pagename>.ipynb``. This extension runs after the theme on every page
and points the two buttons there.

Configuration (``_config.yml``, ``sphinx.config``):

``course_publish_branch``
    The branch ``make publish`` pushes (``gh-pages``).
``course_notebooks_dir``
    The folder of that branch holding the generated notebooks (``notebooks``).

The repository itself is the book's ``repository.url`` (set by ``make configure REPO=...``).
"""

from __future__ import annotations

from urllib.parse import urlparse

#: The theme's handlers run at the default priority (500); ours must see its buttons.
AFTER_THEME = 900


def github_owner_repo(url: str) -> tuple[str, str]:
    """``("owner", "name")`` of a ``https://github.com/owner/name`` repository URL.

    Raises
    ------
    ValueError
        ``url`` is not a GitHub repository URL.
    """
    parsed = urlparse(url.strip())
    parts = [p for p in parsed.path.split("/") if p]
    if parsed.netloc.lower() != "github.com" or len(parts) < 2:
        raise ValueError(
            f"repository.url must be a GitHub repository https://github.com/OWNER/NAME, got {url!r}"
        )
    return parts[0], parts[1].removesuffix(".git")


def launch_urls(
    repo_url: str, branch: str, notebooks_dir: str, pagename: str, binderhub: str, colab: str
) -> dict[str, str]:
    """The Binder and Colab URLs that open ``pagename``'s generated notebook.

    ``pagename`` is Sphinx's document name (``book/foundations/gradient_descent``); the notebook
    is ``<notebooks_dir>/<pagename>.ipynb`` on ``branch``.
    """
    owner, name = github_owner_repo(repo_url)
    path = f"{notebooks_dir.strip('/')}/{pagename}.ipynb"
    return {
        "Binder": f"{binderhub.rstrip('/')}/v2/gh/{owner}/{name}/{branch}?urlpath=lab/tree/{path}",
        "Colab": f"{colab.rstrip('/')}/github/{owner}/{name}/blob/{branch}/{path}",
    }


def _point_launch_buttons(app, pagename, templatename, context, doctree):
    groups = [b for b in context.get("header_buttons", []) if b.get("label") == "launch-buttons"]
    if not groups:
        return
    theme = app.config.html_theme_options
    launch = theme.get("launch_buttons", {})
    urls = launch_urls(
        theme.get("repository_url", ""),
        app.config.course_publish_branch,
        app.config.course_notebooks_dir,
        pagename,
        launch.get("binderhub_url", "https://mybinder.org"),
        launch.get("colab_url", "https://colab.research.google.com"),
    )
    for group in groups:
        for button in group["buttons"]:
            if button.get("text") in urls:
                button["url"] = urls[button["text"]]


def setup(app):
    app.add_config_value("course_publish_branch", "gh-pages", "html")
    app.add_config_value("course_notebooks_dir", "notebooks", "html")
    app.connect("html-page-context", _point_launch_buttons, priority=AFTER_THEME)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
