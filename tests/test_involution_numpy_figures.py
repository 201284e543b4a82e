"""The involution figures draw what they are given, without a screen."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from involution_course.figures import involution as figures  # noqa: E402


def _images_of(figure):
    return [image for axis in figure.get_axes() for image in axis.get_images()]


def test_weight_sharing_draws_one_kernel_per_position_and_channel_for_each_operator():
    conv = np.random.default_rng(0).normal(size=(3, 5, 5))
    inv = np.random.default_rng(1).normal(size=(2, 3, 5, 5))
    figure = figures.weight_sharing(conv, inv, [(1, 1), (4, 6)])
    assert isinstance(figure, Figure)
    images = _images_of(figure)
    assert len(images) == 2 * 2 * 3
    # The convolution panel repeats channel c's kernel at every position.
    np.testing.assert_array_equal(images[0].get_array(), images[3].get_array())
    np.testing.assert_array_equal(images[6].get_array(), inv[0, 0])
    figure.savefig(__import__("io").BytesIO(), format="png")


def test_weight_sharing_rejects_mismatched_arrays():
    with pytest.raises(ValueError, match="2 positions"):
        figures.weight_sharing(np.zeros((2, 3, 3)), np.zeros((2, 3, 3, 3)), [(0, 0), (1, 1)])


def test_kernels_at_positions_marks_every_position():
    image = np.random.default_rng(2).integers(0, 256, size=(32, 32, 3)).astype(np.uint8)
    kernels = np.random.default_rng(3).normal(size=(3, 7, 7))
    figure = figures.kernels_at_positions(image, kernels, [(8, 8), (16, 24), (26, 12)])
    assert len(figure.get_axes()) == 4
    assert len(figure.get_axes()[0].lines) == 3
    assert figure.get_axes()[2].get_title() == "kernel at (16, 24)"
    with pytest.raises(ValueError, match="one kernel per position"):
        figures.kernels_at_positions(image, kernels[:2], [(0, 0), (1, 1), (2, 2)])


def test_cost_bars_shows_unmeasured_memory_as_text():
    figure = figures.cost_bars(["loops", "slices"], [0.5, 0.01], [float("nan"), 1.0])
    time_axis, memory_axis = figure.get_axes()
    assert len(time_axis.patches) == 2 and len(memory_axis.patches) == 1
    assert "not measured" in memory_axis.texts[0].get_text()
    with pytest.raises(ValueError, match="one entry per implementation"):
        figures.cost_bars(["a"], [1.0, 2.0], [1.0])
