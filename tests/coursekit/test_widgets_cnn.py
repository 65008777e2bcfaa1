"""Chapter 7 widgets: the training explorer and the feature-map explorer move with the slider
(fixtures ``small_split`` and ``runs`` in tests/coursekit/conftest.py)."""

import pytest

from coursekit.nn.model import vgg
from coursekit.widgets.cnn import feature_map_explorer, training_explorer


def test_training_explorer_moves(runs):
    widget = training_explorer(runs)
    assert len(widget.frames) == 4 and len(set(widget.frames)) == 4
    first = widget.shown_frame
    widget.slider.index = 3
    assert widget.shown_frame != first
    widget.play.value = 2
    assert widget.stack.selected_index == 2
    with pytest.raises(ValueError, match="runs"):
        training_explorer({})


def test_feature_map_explorer_has_a_frame_per_conv_layer(small_split):
    model = vgg((2, "M", 3), seed=3)
    image = small_split[1][0]
    widget = feature_map_explorer(model, image, label=int(small_split[3][0]))
    assert len(widget.frames) == 2  # conv1, conv2
    widget.slider.index = 1
    assert widget.stack.selected_index == 1 and widget.shown_frame != widget.frames[0]
    with pytest.raises(ValueError, match="image"):
        feature_map_explorer(model, image[0])
