"""Precomputed frames linked to a control on the client: the pattern every chapter widget uses.

Why this shape: a static page has no kernel, so a widget whose picture is redrawn by Python
(``interact``) shows a slider that moves and a picture that never changes. Here each value of the
control has its picture rendered in advance (PNG bytes in an :class:`ipywidgets.Image`), the
pictures sit in an :class:`ipywidgets.Stack`, and the slider's ``index`` drives the stack's
``selected_index`` through :func:`ipywidgets.jslink`, which the widget manager runs in the
browser. A Python-side :func:`ipywidgets.link` does the same in a live kernel, which is also what
the tests drive. Measured costs and pitfalls: ARCHITECTURE.md, "The book's build".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
from matplotlib.figure import Figure

from coursekit.plotting import figure_to_png

__all__ = ["FrameSlider", "frame_slider"]


class FrameSlider(widgets.VBox):
    """A control, optionally a Play button, and a stack of precomputed frames.

    Attributes
    ----------
    slider : ipywidgets.SelectionSlider
        The control; its ``index`` selects the frame.
    play : ipywidgets.Play or None
        Steps the slider through the frames (animations of iterations).
    stack : ipywidgets.Stack
        One child per frame: the picture and, when given, its caption.
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


def _check_labels(values: Sequence, labels: Sequence[str] | None) -> list[str]:
    if len(values) == 0:
        raise ValueError("values: expected at least one value to render, got an empty sequence")
    if labels is None:
        return [f"{v:.3g}" if isinstance(v, float) else str(v) for v in values]
    if len(labels) != len(values):
        raise ValueError(
            f"labels: expected one label per value ({len(values)}), got {len(labels)}"
        )
    if len(set(labels)) != len(labels):
        raise ValueError("labels: expected distinct labels (the slider shows them)")
    return list(labels)


def frame_slider(
    values: Sequence,
    draw: Callable[[object], Figure | bytes],
    *,
    description: str,
    labels: Sequence[str] | None = None,
    caption: Callable[[object], str] | None = None,
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
        picture needs: the numbers it shows).
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
    start = 0
    if value is not None:
        matches = [i for i, v in enumerate(values) if v == value]
        if not matches:
            raise ValueError(f"value: expected one of the values to render, got {value!r}")
        start = matches[0]

    frames, children = [], []
    for v in values:
        picture = draw(v)
        png = picture if isinstance(picture, bytes) else figure_to_png(picture)
        frames.append(png)
        image = widgets.Image(value=png, format="png", layout=widgets.Layout(width=width))
        if caption is None:
            children.append(image)
        else:
            text = widgets.HTML(f"<p class='frame-caption'>{caption(v)}</p>")
            children.append(widgets.VBox([image, text]))

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
        player = widgets.Play(value=start, min=0, max=len(values) - 1, step=1,
                              interval=interval_ms, description="play")
        js_links.append(widgets.jslink((player, "value"), (slider, "index")))
        widgets.link((player, "value"), (slider, "index"))
    return FrameSlider(slider, stack, frames, play=player, js_links=js_links)
