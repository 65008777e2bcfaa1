"""The ipywidgets the chapters use: one function a widget, each returning the widget.

Every widget here stays interactive on the *static* website, with no kernel: the figures are
rendered in Python for every value of a control (:func:`frame_slider`), and the control is linked
to the figures in the browser with :func:`ipywidgets.jslink`. In a live Jupyter kernel the same
widget works unchanged. The computing part of each widget is a plain function of
:mod:`coursekit` tested without a browser.
"""

from coursekit.widgets.backprop import backprop_explorer
from coursekit.widgets.cnn import feature_map_explorer, training_explorer
from coursekit.widgets.distributed import offload_explorer, workers_explorer
from coursekit.widgets.frames import FrameSlider, frame_slider
from coursekit.widgets.gd import condition_number_explorer, learning_rate_explorer
from coursekit.widgets.linreg import feature_scaling_explorer
from coursekit.widgets.momentum import momentum_explorer
from coursekit.widgets.newton import newton_race
from coursekit.widgets.ratemap import rate_map_explorer
from coursekit.widgets.sgd import batch_size_explorer, schedule_animation

__all__ = ["FrameSlider", "frame_slider", "learning_rate_explorer", "condition_number_explorer"]
# Chapters 2-5.
__all__ += [
    "feature_scaling_explorer",
    "batch_size_explorer",
    "schedule_animation",
    "momentum_explorer",
    "rate_map_explorer",
    "newton_race",
]
# Chapters 6-9.
__all__ += [
    "backprop_explorer",
    "training_explorer",
    "feature_map_explorer",
    "workers_explorer",
    "offload_explorer",
]
