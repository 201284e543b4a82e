"""Figures of the convolution notebook, drawn off-screen and checked for what they show."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from involution_course.figures import convolution as figures

SMALL_INPUT = np.arange(25).reshape(5, 5) % 4
EDGE_KERNEL = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]])


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def _renders(fig: Figure) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"


def test_module_exports_its_figures():
    assert set(figures.__all__) == {"sliding_window_figure", "feature_maps_figure"}


def test_sliding_window_valid_stride_one():
    fig = figures.sliding_window_figure(SMALL_INPUT, EDGE_KERNEL, stride=1, padding=0)
    assert isinstance(fig, Figure)
    padded_ax, kernel_ax, output_ax = fig.axes
    assert "output 3×3" in output_ax.get_title()
    assert len(_texts(padded_ax)) == 25 and len(_texts(kernel_ax)) == 9
    # The default windows are outputs (0, 0), (0, 1) and (1, 0); their sums are written in the output.
    expected = [np.sum(SMALL_INPUT[i : i + 3, j : j + 3] * EDGE_KERNEL) for i, j in [(0, 0), (0, 1), (1, 0)]]
    assert sorted(float(t) for t in _texts(output_ax)) == sorted(float(v) for v in expected)
    _renders(fig)


def test_sliding_window_same_padding_stride_two():
    fig = figures.sliding_window_figure(SMALL_INPUT, EDGE_KERNEL, stride=2, padding=1, positions=[(2, 2)])
    padded_ax, _, output_ax = fig.axes
    assert "output 3×3" in output_ax.get_title() and "padding 1" in padded_ax.get_title()
    assert len(_texts(padded_ax)) == 49  # 7x7 once padded
    padded = np.pad(SMALL_INPUT, 1)
    assert _texts(output_ax) == [f"{np.sum(padded[4:7, 4:7] * EDGE_KERNEL):g}"]


def test_sliding_window_uneven_padding_is_named_side_by_side():
    fig = figures.sliding_window_figure(np.ones((6, 6)), np.ones((3, 3)), stride=2, padding=(0, 1, 0, 1))
    padded_ax, _, output_ax = fig.axes
    assert "top 0, bottom 1, left 0, right 1" in padded_ax.get_title()
    assert "output 3×3" in output_ax.get_title()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"x": np.ones(5)}, "2-D"),
        ({"stride": 0}, "stride"),
        ({"padding": -1}, "padding"),
        ({"positions": [(3, 0)]}, "outside"),
        ({"kernel": np.ones((7, 7))}, "does not fit"),
    ],
)
def test_sliding_window_explains_bad_input(kwargs, message):
    arguments = {"x": SMALL_INPUT, "kernel": EDGE_KERNEL, **kwargs}
    with pytest.raises(ValueError, match=message):
        figures.sliding_window_figure(**arguments)


def test_feature_maps_figure_shows_image_kernels_and_maps():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    kernels = [np.ones((3, 3)) / 9, EDGE_KERNEL]
    maps = np.stack([np.full((30, 30), 0.5), rng.standard_normal((30, 30))], axis=-1)
    fig = figures.feature_maps_figure(image, kernels, maps, ["blur", "edges"])
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 6 and "blur" in titles and "edges" in titles
    # The non-negative map is grey, the signed one diverging and centred on zero.
    grey, signed = fig.axes[4].images[0], fig.axes[5].images[0]
    assert grey.get_cmap().name == "gray"
    low, high = signed.get_clim()
    assert signed.get_cmap().name == "RdBu_r" and low == pytest.approx(-high)
    _renders(fig)


def test_feature_maps_figure_accepts_a_kernel_array():
    maps = np.zeros((4, 4, 2))
    fig = figures.feature_maps_figure(np.zeros((6, 6)), np.ones((3, 3, 2)), maps, ["a", "b"])
    assert len(fig.axes) == 6


def test_feature_maps_figure_explains_mismatched_counts():
    with pytest.raises(ValueError, match="one kernel and one name per feature map"):
        figures.feature_maps_figure(np.zeros((6, 6, 3)), [np.ones((3, 3))], np.zeros((4, 4, 2)), ["a", "b"])
    with pytest.raises(ValueError, match=r"\(H', W', C\)"):
        figures.feature_maps_figure(np.zeros((6, 6, 3)), [np.ones((3, 3))], np.zeros((4, 4)), ["a"])
