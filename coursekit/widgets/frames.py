"""Precomputed frames linked to a control on the client: the pattern every chapter widget uses.

Why this shape: a static page has no kernel, so a widget whose picture is redrawn by Python
(``interact``) shows a slider that moves and a picture that never changes. Here each value of the
control has its picture rendered in advance, the pictures sit in an :class:`ipywidgets.Stack`,
and the slider's ``index`` drives the stack's ``selected_index`` through
:func:`ipywidgets.jslink`, which the widget manager runs in the browser. A Python-side
:func:`ipywidgets.link` does the same in a live kernel, which is also what the tests drive.
Measured costs and pitfalls: ARCHITECTURE.md, "The book's build".

Each frame is an ``<img>`` in an :class:`ipywidgets.HTML` (not an :class:`ipywidgets.Image`, which
has no alt text): it carries the frame's alt text, its pixel size (no layout shift) and
``loading="lazy"``. In a kernel its ``src`` is a ``data:`` URL; the website's Sphinx extension
(``book/_ext/course_sphinx.py``) moves every such picture into a file of its own beside the
pages, so a chapter's HTML does not carry its frames base64-encoded and the browser fetches only
the frames shown. What ipywidgets itself leaves out (slider names, value text, button names, the
announcement of a new caption) is added by ``book/_static/course-a11y.js``.
"""

from __future__ import annotations

import base64
import html
import re
import struct
from collections.abc import Callable, Sequence

import ipywidgets as widgets
from matplotlib.figure import Figure

from coursekit.plotting import figure_to_png

__all__ = ["FrameSlider", "frame_slider", "frame_html", "png_size"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: What the website's extension looks for to move a frame into a file (keep the two in step).
FRAME_IMG_CLASS = "frame-image"


class FrameSlider(widgets.VBox):
    """A control, optionally a Play button, and a stack of precomputed frames.

    Attributes
    ----------
    slider : ipywidgets.SelectionSlider
        The control; its ``index`` selects the frame.
    play : ipywidgets.Play or None
        Steps the slider through the frames (animations of iterations).
    stack : ipywidgets.Stack
        One child per frame: the picture (an ``HTML`` holding one ``<img>``) and, when given,
        its caption (``stack.children[i].children[1]``).
    frames : list of bytes
        The PNG bytes of every frame, in the order of the slider's options.
    js_links : list of ipywidgets.Link
        The links the browser runs (saved with the widget state on the static page).
    """

    def __init__(self, slider, stack, frames, play=None, js_links=(), **kwargs):
        controls = [slider] if play is None else [widgets.HBox([play, slider])]
        super().__init__(controls + [stack], **kwargs)
        self.slider = slider
        self.stack = stack
        self.frames = frames
        self.play = play
        self.js_links = list(js_links)

    @property
    def shown_frame(self) -> bytes:
        """PNG bytes of the frame the stack shows now."""
        return self.frames[self.stack.selected_index]


def png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels of a PNG file, read from its header.

    Raises
    ------
    ValueError
        If ``png`` is not a PNG file.
    """
    if not (isinstance(png, bytes) and png.startswith(PNG_SIGNATURE) and png[12:16] == b"IHDR"):
        raise ValueError("png: expected the bytes of a PNG file (signature, then IHDR)")
    return struct.unpack(">II", png[16:24])


def _plain_text(fragment: str) -> str:
    """The text of an HTML fragment (a caption may carry markup): what alt text can hold."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", fragment)).split())


def frame_html(png: bytes, alt: str, *, width: str = "100%") -> str:
    """One frame as an ``<img>`` with its picture inline (a ``data:`` URL) and its alt text.

    Parameters
    ----------
    png : bytes
        A PNG file.
    alt : str
        What a reader who cannot see the picture needs (plain text; escaped here).
    width : str
        CSS width of the picture; its height follows the PNG's aspect ratio.

    Returns
    -------
    str
        ``<img class="frame-image" src="data:image/png;base64,..." alt=... width=W height=H
        loading="lazy" ...>`` with ``W x H`` the PNG's pixel size.
    """
    if not alt.strip():
        raise ValueError("alt: expected a non-empty description of the picture")
    w, h = png_size(png)
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<img class="{FRAME_IMG_CLASS}" src="data:image/png;base64,{data}" '
        f'alt="{html.escape(alt)}" width="{w}" height="{h}" loading="lazy" '
        f'style="width: {html.escape(width)}; height: auto">'
    )


def _check_labels(values: Sequence, labels: Sequence[str] | None) -> list[str]:
    if len(values) == 0:
        raise ValueError("values: expected at least one value to render, got an empty sequence")
    if labels is None:
        return [f"{v:.3g}" if isinstance(v, float) else str(v) for v in values]
    if len(labels) != len(values):
        raise ValueError(f"labels: expected one label per value ({len(values)}), got {len(labels)}")
    if len(set(labels)) != len(labels):
        raise ValueError("labels: expected distinct labels (the slider shows them)")
    return list(labels)


def _start_index(values: Sequence, value) -> int:
    """Index of ``value`` in ``values`` (the frame shown first); 0 for None."""
    if value is None:
        return 0
    matches = [i for i, v in enumerate(values) if v == value]
    if not matches:
        raise ValueError(f"value: expected one of the values to render, got {value!r}")
    return matches[0]


def _render_frame(v, label, draw, caption, alt, description, width):
    """One frame of :func:`frame_slider`: its PNG and its widget (the picture, the caption)."""
    picture = draw(v)
    png = picture if isinstance(picture, bytes) else figure_to_png(picture)
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError(f"draw: expected a matplotlib Figure or PNG bytes for {v!r}")
    text = None if caption is None else caption(v)
    if alt is not None:
        alt_text = _plain_text(alt(v))
    elif text is not None:
        alt_text = _plain_text(text)
    else:
        alt_text = f"{_plain_text(description)}: {label}"
    image = widgets.HTML(frame_html(png, alt_text, width=width))
    if text is None:
        return png, image
    note = widgets.HTML(f"<p class='frame-caption'>{text}</p>")
    return png, widgets.VBox([image, note])


def frame_slider(
    values: Sequence,
    draw: Callable[[object], Figure | bytes],
    *,
    description: str,
    labels: Sequence[str] | None = None,
    caption: Callable[[object], str] | None = None,
    alt: Callable[[object], str] | None = None,
    value=None,
    play: bool = False,
    interval_ms: int = 400,
    width: str = "100%",
) -> FrameSlider:
    """Render ``draw(v)`` for every ``v`` in ``values`` and link a slider to the frames.

    Parameters
    ----------
    values : sequence
        The control's values, in slider order (at least one).
    draw : callable
        ``draw(v)`` returns a matplotlib Figure (rendered to a 64-colour PNG) or PNG bytes.
    description : str
        The slider's label, e.g. ``"learning rate"``.
    labels : sequence of str, optional
        What the slider shows for each value (distinct); default ``f"{v:.3g}"``.
    caption : callable, optional
        ``caption(v)`` gives a sentence shown under the frame (what a reader who cannot see the
        picture needs: the numbers it shows). It is also the frame's alt text, and screen
        readers announce it when the frame changes.
    alt : callable, optional
        ``alt(v)`` gives the frame's alt text when it should differ from the caption; default
        the caption's text, or ``"<description>: <label>"`` when there is no caption.
    value : optional
        The value shown first (one of ``values``); default the first.
    play : bool
        Add a Play button that steps through the frames (for animations of iterations).
    interval_ms : int
        Milliseconds between Play steps.
    width : str
        CSS width of each picture.

    Returns
    -------
    FrameSlider
        A VBox; ``.slider``, ``.stack`` and ``.frames`` give its parts.
    """
    labels = _check_labels(values, labels)
    start = _start_index(values, value)
    frames, children = [], []
    for v, label in zip(values, labels, strict=True):
        png, child = _render_frame(v, label, draw, caption, alt, description, width)
        frames.append(png)
        children.append(child)

    stack = widgets.Stack(children, selected_index=start)
    stack.add_class("frame-stack")  # what the browser tests and course.css find it by
    slider = widgets.SelectionSlider(
        options=list(zip(labels, range(len(values)), strict=True)),
        index=start,
        description=description,
        continuous_update=True,
        style={"description_width": "initial"},
        layout=widgets.Layout(width="95%"),
    )
    # jslink runs in the browser (static page, no kernel); link runs in a live kernel.
    js_links = [widgets.jslink((slider, "index"), (stack, "selected_index"))]
    widgets.link((slider, "index"), (stack, "selected_index"))

    player = None
    if play:
        player = widgets.Play(
            value=start,
            min=0,
            max=len(values) - 1,
            step=1,
            interval=interval_ms,
            description="play",
        )
        js_links.append(widgets.jslink((player, "value"), (slider, "index")))
        widgets.link((player, "value"), (slider, "index"))
    return FrameSlider(slider, stack, frames, play=player, js_links=js_links)
