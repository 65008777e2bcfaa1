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
            attributes["body"], _ = move_frames_to_files(
                attributes["body"], Path(app.outdir), lambda p: pathto(p, resource=True))
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
    context["metatags"] = (metatags + f'\n<meta name="description" '
                           f'content="{html.escape(description, quote=True)}" />')


def setup(app):
    # After myst-nb has added the page's widget state (default priority 500).
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("html-page-context", _frames_to_files, priority=910)
    app.connect("html-page-context", _size_figures, priority=910)
    app.connect("html-page-context", _describe_page, priority=910)
    app.connect("html-page-context", _repair_markup, priority=910)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
