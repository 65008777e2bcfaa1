"""Chapter 6 widget: the epochs slider and Play move the decision-region frames."""

import re

import numpy as np

from coursekit.data import spiral_data
from coursekit.nn.two_layer import init_two_layer, train_two_layer, two_layer_predict
from coursekit.widgets.backprop import backprop_explorer


def test_explorer_slider_changes_the_frame():
    widget = backprop_explorer(epochs=(0, 3, 10), n_hidden=8)
    assert len(widget.frames) == 3 and len(set(widget.frames)) == 3
    first = widget.shown_frame
    widget.slider.index = 2
    assert widget.stack.selected_index == 2 and widget.shown_frame != first
    widget.play.value = 1  # Play drives the slider, which drives the frames
    assert widget.slider.index == 1 and widget.stack.selected_index == 1


def test_explorer_captions_give_the_held_out_accuracy_of_each_snapshot():
    """The held-out accuracy a caption quotes is the snapshot's, recomputed here on the spirals
    drawn with the next seed (the points the network never trained on)."""
    epochs = (0, 3, 10)
    widget = backprop_explorer(epochs=epochs, n_hidden=8, seed=0)
    X, y = spiral_data(seed=0)
    X_test, y_test = spiral_data(seed=1)
    hist = train_two_layer(
        init_two_layer(2, 8, 3, seed=0),
        X,
        y,
        lr=1.0,
        epochs=10,
        l2=1e-3,
        seed=0,
        snapshot_epochs=epochs,
    )
    for i, e in enumerate(epochs):
        caption = widget.stack.children[i].children[1].value
        quoted = float(re.search(r"held-out accuracy ([\d.]+) %", caption).group(1))
        held_out = np.mean(two_layer_predict(hist.snapshots[e], X_test) == y_test)
        assert quoted == round(100 * held_out, 1), caption
