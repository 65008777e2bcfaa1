"""Small Sphinx fixes for the course website (loaded through _config.yml local_extensions).

Each handler runs when a page is written (``html-page-context``) and has one job:

- :func:`_drop_duplicate_scripts`: sphinx-thebe and sphinx-togglebutton register their inline
  configuration scripts twice (once with filename ``None``, once with ``""``, so Sphinx does not
  see them as equal); every page then declared ``const THEBE_JS_URL`` twice and the browser
  reported "Identifier 'THEBE_JS_URL' has already been declared".
- :func:`_frames_to_files`: a chapter widget's frames (``coursekit.widgets.frames``) reach the
  page as ``data:`` URLs inside the saved widget state, base64, all of them in the page's HTML
  (330-860 KB a chapter). Each is written once to ``_frames/<hash>.png`` beside the pages and
  the state points at it by a relative URL, which works over HTTP and from ``file://``; the
  browser then fetches only the frames shown, and caches them (the name is the content's hash).
- :func:`_size_figures`: a figure drawn by a cell gets its pixel ``width``/``height``, so the
  page does not jump while the pictures load.
- :func:`_repair_markup`: two pieces of HTML other packages write that axe-core reports as
  serious or critical: myst-nb's "Show code cell source" toggle is named "Toggle hidden content"
  (a name that does not contain its visible text, ``label-content-name-mismatch``), and Sphinx
  gives the entries of a bibliography's ``role="list"`` the deprecated ``doc-biblioentry`` role
  instead of ``listitem`` (``aria-required-children``).
- :func:`_describe_page`: a ``<meta name="description">`` per page (search engines, link
  previews), from the page's first paragraph of prose.
- :func:`_lighten_code`: Pygments wraps every name and every bracket of highlighted code in a
  ``<span>`` whose colour is the code block's own (``n``, ``p``, ``w`` in the theme's styles):
  those spans are most of a code-heavy page's bytes (offloading: 3,500 of them) and change
  nothing on screen, so they are unwrapped. Tokens with a colour of their own keep their span.
- :func:`_defer_scripts`: the theme's and extensions' scripts that only act once the page is
  parsed are loaded with ``defer``, so they no longer hold up the first paint.
- :func:`course_head` (a template filter, ``book/_templates/layout.html``): the theme's
  ``fontawesome.js`` (1.5 MB, over a second of main-thread work a page) is dropped, because the
  theme's stylesheet already draws the same icons from Font Awesome's web font; the search
  scripts in ``<head>`` are deferred like the others.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from pathlib import Path

from docutils import nodes
from PIL import Image, UnidentifiedImageError

WIDGET_STATE_TYPE = "application/vnd.jupyter.widget-state+json"
#: The folder of the built site the frames are written to.
FRAMES_DIR = "_frames"
#: A frame as coursekit.widgets.frames.frame_html writes it (the class is FRAME_IMG_CLASS there).
_FRAME_SRC = re.compile(
    r'(<img class="frame-image" src=")data:image/png;base64,([A-Za-z0-9+/=]+)(")'
)
_IMG = re.compile(r"<img\b[^>]*>")
_IMAGES_SRC = re.compile(r'\bsrc="((?:\.\./)*_images/([^"/]+))"')
#: Longest description kept; search engines show about this many characters.
DESCRIPTION_CHARS = 155


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        attributes = getattr(js, "attributes", {}) or {}
        # The same inline script is registered once with filename None and once with "".
        key = (getattr(js, "filename", None) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def frame_file_name(png: bytes) -> str:
    """The file a frame is written to: named by its content, so equal frames share one file."""
    return hashlib.sha256(png).hexdigest()[:20] + ".png"


def move_frames_to_files(state_json: str, outdir: Path, url_of) -> tuple[str, int]:
    """Write every inline frame of a saved widget state to a file and point the state at it.

    Parameters
    ----------
    state_json : str
        The widget state as myst-nb puts it in the page (JSON, ``</script>`` escaped).
    outdir : Path
        The built site's root; frames go to ``outdir / FRAMES_DIR``.
    url_of : callable
        ``url_of(path)`` gives the URL of ``path`` (relative to the site root) from the page.

    Returns
    -------
    (str, int)
        The new state (same escaping) and how many frames were moved.
    """
    state = json.loads(state_json.replace(r"<\/script>", "</script>"))
    moved = 0

    def to_file(match):
        nonlocal moved
        png = base64.b64decode(match.group(2), validate=True)
        name = frame_file_name(png)
        target = outdir / FRAMES_DIR / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(png)
        moved += 1
        return match.group(1) + url_of(f"{FRAMES_DIR}/{name}") + match.group(3)

    for model in state.get("state", {}).values():
        values = model.get("state", {})
        if model.get("model_name") == "HTMLModel" and isinstance(values.get("value"), str):
            values["value"] = _FRAME_SRC.sub(to_file, values["value"])
    return json.dumps(state).replace("</script>", r"<\/script>"), moved


def _frames_to_files(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    pathto = context["pathto"]
    replaced = []
    for js in scripts:
        attributes = dict(getattr(js, "attributes", {}) or {})
        if attributes.get("type") == WIDGET_STATE_TYPE and attributes.get("body"):
            body, _ = move_frames_to_files(
                attributes["body"], Path(app.outdir), lambda p: pathto(p, resource=True)
            )
            state = json.loads(body.replace(r"<\/script>", "</script>"))
            prune_widget_state(state)
            attributes["body"] = json.dumps(state).replace("</script>", r"<\/script>")
            js = type(js)(js.filename, priority=js.priority, **attributes)
        replaced.append(js)
    context["script_files"] = replaced


def _image_sizes(app) -> dict[str, tuple[int, int]]:
    """Pixel size of every image Sphinx copies to ``_images``, by its name there."""
    sizes = getattr(app.builder, "_course_image_sizes", None)
    if sizes is None:
        sizes = app.builder._course_image_sizes = {}
    for source, name in getattr(app.builder, "images", {}).items():
        if name in sizes:
            continue
        try:
            with Image.open(Path(app.srcdir, source)) as im:
                sizes[name] = im.size
        except (OSError, UnidentifiedImageError):  # SVG, or a file PIL does not read
            sizes[name] = None
    return sizes


def add_image_size(img_tag: str, sizes: dict) -> str:
    """``img_tag`` with ``width``/``height`` of its ``_images`` file, unless it has them."""
    if re.search(r"\b(width|height)=", img_tag):
        return img_tag
    src = _IMAGES_SRC.search(img_tag)
    size = sizes.get(src.group(2)) if src else None
    if not size:
        return img_tag
    return img_tag[:4] + f' width="{size[0]}" height="{size[1]}"' + img_tag[4:]


def _size_figures(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if not body or "_images/" not in body:
        return
    sizes = _image_sizes(app)
    context["body"] = _IMG.sub(lambda m: add_image_size(m.group(0), sizes), body)


def repair_markup(body: str) -> str:
    """The page body with the two accessibility faults of myst-nb's and Sphinx's HTML mended."""
    body = body.replace('<summary aria-label="Toggle hidden content">', "<summary>")
    return body.replace('role="doc-biblioentry"', 'role="listitem"')


def _repair_markup(app, pagename, templatename, context, doctree):
    if context.get("body"):
        context["body"] = repair_markup(context["body"])


def first_prose(doctree, min_chars: int = 80) -> str:
    """The page's first paragraph of prose: a sentence of a section's own text (not in a list,
    an admonition, a cell output or a caption), at least ``min_chars`` long, with no formula
    (whose LaTeX source would read badly as plain text)."""
    for para in doctree.findall(nodes.paragraph):
        if not isinstance(para.parent, (nodes.section, nodes.document)):
            continue
        if next(iter(para.findall(nodes.math)), None) is not None:
            continue
        text = " ".join(para.astext().split())
        if len(text) >= min_chars and text[0].isupper():
            return text
    return ""


def shorten(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters (an ellipsis if cut)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…"


def _describe_page(app, pagename, templatename, context, doctree):
    metatags = context.get("metatags", "")
    if 'name="description"' in metatags:  # the page's own (front matter html_meta) wins
        return
    text = first_prose(doctree) if doctree is not None else ""
    site = app.config.html_title or app.config.project
    description = shorten(text or f"{context.get('title', '')}: {site}")
    context["metatags"] = (
        metatags + f'\n<meta name="description" content="{html.escape(description, quote=True)}" />'
    )


#: Layout and style attributes of a widget that default to ``null`` in the browser's models
#: (@jupyter-widgets/base LayoutModel, controls' style models): saved as ``null`` they only repeat
#: the default, 40 of them per layout.
_NULL_DEFAULT_MODELS = {"LayoutModel"}


def prune_widget_state(state: dict) -> int:
    """Drop the ``null`` attributes of layout models (the browser's defaults); returns how many.

    A layout saved by the kernel lists every CSS property (``"align_content": null``, ...), about
    1 KB of nulls per widget; the widget manager fills the same nulls in from the model's
    defaults, so the page draws the same.
    """
    dropped = 0
    for model in state.get("state", {}).values():
        if model.get("model_name") not in _NULL_DEFAULT_MODELS:
            continue
        values = model.get("state", {})
        for key in [k for k, v in values.items() if v is None]:
            del values[key]
            dropped += 1
    return dropped


def plain_token_classes(style_names) -> set[str]:
    """Pygments classes drawn exactly like a code block's plain text in every one of the styles.

    ``style_names`` are Pygments style names (the theme's light and dark styles). A class whose
    CSS rule is the block's base rule (``color: #080808`` in the light theme) makes its span
    redundant.
    """
    from pygments.formatters import HtmlFormatter

    plain = None
    for name in style_names:
        rules = HtmlFormatter(style=name).class2style
        base = rules.get("", ("",))[0]
        same = {cls for cls, (css, *_rest) in rules.items() if cls and css == base}
        plain = same if plain is None else plain & same
    return plain or set()


_CODE_BLOCK = re.compile(r'(<div class="highlight"><pre>)(.*?)(</pre>)', re.S)


def unwrap_plain_spans(body: str, classes: set[str]) -> str:
    """``body`` with the highlighted code's ``<span class="c">text</span>`` unwrapped for each
    plain class ``c`` (text only, so nested markup is never touched)."""
    if not classes:
        return body
    names = "|".join(re.escape(c) for c in sorted(classes))
    span = re.compile(rf'<span class="(?:{names})">([^<]*)</span>')
    return _CODE_BLOCK.sub(lambda m: m.group(1) + span.sub(r"\1", m.group(2)) + m.group(3), body)


def _lighten_code(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if not body or '<div class="highlight">' not in body:
        return
    styles = [context.get(f"theme_pygments_{mode}_style") for mode in ("light", "dark")]
    styles = [s for s in styles if s] or [app.config.pygments_style or "sphinx"]
    key = tuple(styles)
    cache = app.builder.__dict__.setdefault("_course_plain_classes", {})
    if key not in cache:
        cache[key] = plain_token_classes(styles)
    context["body"] = unwrap_plain_spans(body, cache[key])


#: Scripts that must run where they stand: documentation_options.js is read by the inline script
#: after it, and the MathJax bridge and slicer must be in place before MathJax starts.
_KEEP_BLOCKING = ("documentation_options.js", "mathjax-widgets-bridge.js", "mathjax-in-slices.js")


def _defer_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    deferred = []
    for js in scripts:
        attributes = dict(getattr(js, "attributes", {}) or {})
        name = str(js.filename or "")
        if (
            name
            and "://" not in name
            and not name.endswith(_KEEP_BLOCKING)
            and not {"async", "defer", "body"} & attributes.keys()
        ):
            attributes["defer"] = "defer"
            js = type(js)(js.filename, priority=js.priority, **attributes)
        deferred.append(js)
    context["script_files"] = deferred


_FONTAWESOME_JS = re.compile(
    r'\s*<script defer src="[^"]*_static/scripts/fontawesome\.js[^"]*">'
    r"</script>"
)
_SEARCH_SCRIPT = re.compile(r'<script src="([^"]*(?:searchtools|language_data|searchindex)\.js)">')


def course_head(markup) -> str:
    """The theme's ``<head>`` markup without ``fontawesome.js``, its search scripts deferred."""
    from markupsafe import Markup

    text = _FONTAWESOME_JS.sub("", str(markup))
    return Markup(_SEARCH_SCRIPT.sub(r'<script defer src="\1">', text))


def _add_template_filter(app):
    templates = getattr(app.builder, "templates", None)
    if templates is not None and hasattr(templates, "environment"):
        templates.environment.filters["course_head"] = course_head


def setup(app):
    # After myst-nb has added the page's widget state (default priority 500).
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("html-page-context", _frames_to_files, priority=910)
    app.connect("html-page-context", _size_figures, priority=910)
    app.connect("html-page-context", _describe_page, priority=910)
    app.connect("html-page-context", _repair_markup, priority=910)
    app.connect("html-page-context", _lighten_code, priority=910)
    app.connect("html-page-context", _defer_scripts, priority=920)
    app.connect("builder-inited", _add_template_filter)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
