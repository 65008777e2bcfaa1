"""Chapter 6 widget: the epochs slider and Play move the decision-region frames."""

from coursekit.widgets.backprop import backprop_explorer


def test_explorer_slider_changes_the_frame():
    widget = backprop_explorer(epochs=(0, 3, 10), n_hidden=8)
    assert len(widget.frames) == 3 and len(set(widget.frames)) == 3
    first = widget.shown_frame
    widget.slider.index = 2
    assert widget.stack.selected_index == 2 and widget.shown_frame != first
    widget.play.value = 1  # Play drives the slider, which drives the frames
    assert widget.slider.index == 1 and widget.stack.selected_index == 1
