"""frame_slider's frames as the page gets them: an <img> with alt text, size and the PNG inline."""

import base64
import html
import io
import re

import pytest
from PIL import Image

from coursekit.plotting import figure_to_png, new_figure
from coursekit.widgets import frame_slider
from coursekit.widgets.frames import frame_html, png_size


def _line_figure(slope):
    fig, ax = new_figure(3, 2)
    ax.plot([0, 1], [0, slope])
    return fig


def _img(widget, i):
    """The <img> tag of frame i (the stack child is the HTML, or a VBox of HTML + caption)."""
    child = widget.stack.children[i]
    holder = child.children[0] if hasattr(child, "children") else child
    tags = re.findall(r"<img\b[^>]*>", holder.value)
    assert len(tags) == 1, holder.value[:200]
    return tags[0]


def _attr(tag, name):
    match = re.search(rf'\b{name}="([^"]*)"', tag)
    return None if match is None else html.unescape(match.group(1))


@pytest.mark.parametrize("size", [(3, 2), (4.5, 3.1)])
def test_png_size_reads_what_pillow_reads(size):
    png = figure_to_png(new_figure(*size)[0])
    assert png_size(png) == Image.open(io.BytesIO(png)).size


def test_png_size_rejects_what_is_not_a_png():
    with pytest.raises(ValueError, match="png"):
        png_size(b"GIF89a" + bytes(30))


def test_each_frame_is_an_img_holding_its_own_png_with_size_and_alt_text():
    widget = frame_slider(
        [1.0, 2.0, 3.0],
        _line_figure,
        description="slope",
        caption=lambda v: f"A line of slope {v} & more",
    )
    for i, png in enumerate(widget.frames):
        tag = _img(widget, i)
        src = _attr(tag, "src")
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == png
        width, height = Image.open(io.BytesIO(png)).size
        assert (_attr(tag, "width"), _attr(tag, "height")) == (str(width), str(height))
        assert _attr(tag, "alt") == f"A line of slope {[1.0, 2.0, 3.0][i]} & more"
        assert _attr(tag, "loading") == "lazy"
        assert 'class="frame-image"' in tag  # what the site's extension moves to a file


def test_alt_text_without_a_caption_names_the_control_and_its_value():
    widget = frame_slider([1.0, 2.0], _line_figure, description="slope", labels=["one", "two"])
    assert [_attr(_img(widget, i), "alt") for i in range(2)] == ["slope: one", "slope: two"]


def test_an_explicit_alt_wins_and_markup_is_dropped_from_alt_text():
    widget = frame_slider(
        [1.0, 2.0],
        _line_figure,
        description="slope",
        caption=lambda v: f"<b>slope</b> {v}",
        alt=lambda v: f"Line rising to {v}",
    )
    assert _attr(_img(widget, 1), "alt") == "Line rising to 2.0"
    plain = frame_slider(
        [1.0], _line_figure, description="slope", caption=lambda v: f"<b>slope</b> {v} &lt; 2"
    )
    assert _attr(_img(plain, 0), "alt") == "slope 1.0 < 2"


def test_alt_text_cannot_break_out_of_its_attribute():
    tag = frame_html(figure_to_png(_line_figure(1.0)), 'a "quoted" <tag>')
    assert _attr(tag, "alt") == 'a "quoted" <tag>'
    assert tag.count("<") == 1 and tag.count('"') % 2 == 0


def test_empty_alt_text_and_pictures_that_are_not_png_are_refused():
    png = figure_to_png(_line_figure(1.0))
    with pytest.raises(ValueError, match="alt"):
        frame_html(png, "  ")
    with pytest.raises(ValueError, match="draw"):
        frame_slider([1.0], lambda v: b"not a png", description="slope")
