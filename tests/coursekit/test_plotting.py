import io

import numpy as np
from PIL import Image

from coursekit.objectives import Quadratic
from coursekit.plotting import (
    PALETTE,
    contour_paths,
    figure_to_png,
    grid_values,
    loss_curves,
    new_figure,
)


def test_grid_values_match_the_function():
    f = Quadratic(np.diag([1.0, 4.0]))
    X, Y, Z = grid_values(f.value, (-1, 1), (-2, 2), n=7)
    assert X.shape == Y.shape == Z.shape == (7, 7)
    np.testing.assert_allclose(Z, 0.5 * X**2 + 2.0 * Y**2)


def test_contour_and_loss_plots_label_their_axes_and_series():
    f = Quadratic(np.diag([1.0, 4.0]))
    path = np.array([[1.0, 1.0], [0.5, 0.2], [0.1, 0.0]])
    fig, (ax1, ax2) = new_figure(8, 3, ncols=2)
    contour_paths(f, {"GD": path}, xlim=(-2, 2), ylim=(-2, 2), ax=ax1, minimizer=[0, 0])
    loss_curves({"GD": [f.value(p) for p in path]}, ax=ax2)
    assert ax1.get_xlabel() and ax1.get_ylabel() and ax2.get_xlabel() and ax2.get_ylabel()
    labels = [t.get_text() for t in ax1.get_legend().get_texts()]
    assert "GD (2 steps)" in labels and "minimiser" in labels
    assert ax2.get_yscale() == "log"


def test_figure_to_png_quantises_to_the_palette_size():
    fig, ax = new_figure(4, 3)
    x = np.linspace(0, 1, 50)
    for i in range(5):
        ax.plot(x, x**i, color=PALETTE[i])
    full = figure_to_png(fig, colors=None)
    small = figure_to_png(fig, colors=16)
    image = Image.open(io.BytesIO(small))
    assert image.size == Image.open(io.BytesIO(full)).size == (400, 300)
    assert len(image.getcolors(maxcolors=256)) <= 16
    assert len(small) < len(full)
