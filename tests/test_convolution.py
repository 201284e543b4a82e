"""The convolution notebook's helpers: hand-made kernels, Keras layout, image scale, timing."""

from __future__ import annotations

import time

import numpy as np
import pytest

from involution_course.convolution import hand_made_kernels, kernel_bank, median_time, to_unit_float


def test_hand_made_kernels_are_the_classic_ones():
    kernels = hand_made_kernels()
    assert list(kernels) == ["vertical edges", "horizontal edges", "blur", "outline"]
    assert all(k.shape == (3, 3) for k in kernels.values())
    assert kernels["blur"].sum() == pytest.approx(1.0)  # blurring keeps the brightness
    for name in ("vertical edges", "horizontal edges", "outline"):
        assert kernels[name].sum() == pytest.approx(0.0), f"{name} should ignore flat regions"
    np.testing.assert_array_equal(kernels["horizontal edges"], kernels["vertical edges"].T)


def test_edge_kernels_respond_to_edges_of_their_direction():
    kernels = hand_made_kernels()
    dark_to_bright_rightwards = np.array([[0.0, 0.0, 1.0]] * 3)
    dark_to_bright_downwards = dark_to_bright_rightwards.T
    assert np.sum(kernels["vertical edges"] * dark_to_bright_rightwards) == 4.0
    assert np.sum(kernels["vertical edges"] * dark_to_bright_downwards) == 0.0
    assert np.sum(kernels["horizontal edges"] * dark_to_bright_downwards) == 4.0


def test_kernel_bank_has_keras_layout_and_filters_the_grey_image():
    kernels = hand_made_kernels()
    bank = kernel_bank(kernels, in_channels=3)
    assert bank.shape == (3, 3, 3, 4)
    rng = np.random.default_rng(0)
    grey = rng.random((3, 3))
    window = np.repeat(grey[:, :, None], 3, axis=2)  # an RGB window with equal channels
    for o, kernel in enumerate(kernels.values()):
        assert np.sum(bank[..., o] * window) == pytest.approx(np.sum(kernel * grey))
    # A colour window is filtered as the mean of its channels.
    colour = rng.random((3, 3, 3))
    assert np.sum(bank[..., 2] * colour) == pytest.approx(np.sum(kernels["blur"] * colour.mean(axis=2)))


def test_kernel_bank_accepts_a_list():
    bank = kernel_bank([np.ones((2, 2)), np.zeros((2, 2))], in_channels=1)
    assert bank.shape == (2, 2, 1, 2)
    np.testing.assert_array_equal(bank[:, :, 0, 0], np.ones((2, 2)))


@pytest.mark.parametrize(
    "kernels, in_channels, message",
    [
        ([], 3, "at least one kernel"),
        ([np.ones((3, 3)), np.ones((2, 2))], 3, "same shape"),
        ([np.ones(3)], 3, "2-D"),
        ([np.ones((3, 3))], 0, "in_channels"),
    ],
)
def test_kernel_bank_explains_bad_input(kernels, in_channels, message):
    with pytest.raises(ValueError, match=message):
        kernel_bank(kernels, in_channels=in_channels)


def test_to_unit_float_scales_uint8_to_the_unit_interval():
    images = np.array([[[[0, 51, 255]]]], dtype=np.uint8)
    scaled = to_unit_float(images)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled.ravel(), [0.0, 0.2, 1.0])
    with pytest.raises(ValueError, match="uint8"):
        to_unit_float(scaled)


def test_median_time_runs_the_function_and_ignores_one_slow_run():
    durations = iter([0.3, 0.0, 0.0])
    calls = []

    def work():
        calls.append(1)
        time.sleep(next(durations))

    median = median_time(work, runs=3)
    assert len(calls) == 3
    assert 0.0 <= median < 0.15  # the 0.3 s run is the outlier the median leaves out


def test_median_time_needs_a_run():
    with pytest.raises(ValueError, match="at least one run"):
        median_time(lambda: None, runs=0)


def test_compare_speed_times_both_and_records_the_headlines(tmp_path, monkeypatch, capsys):
    from involution_course import headlines
    from involution_course.convolution import compare_speed, record_parameters

    target = tmp_path / "headlines.jsonl"
    monkeypatch.setenv(headlines.HEADLINES_VARIABLE, str(target))
    monkeypatch.setenv("INVOLUTION_COURSE_PROFILE", "grading")
    naive, fast = compare_speed(lambda: sum(range(20_000)), lambda: None)
    assert naive > fast >= 0
    assert "median of" in capsys.readouterr().out

    class Layer:
        def count_params(self):
            return 896

    assert record_parameters([Layer(), Layer()]) == 1792
    names = [row["name"] for row in headlines.read(target)]
    assert names == ["conv2d_naive time", "conv2d_fast time", "conv2d_fast speed-up over conv2d_naive",
                     "parameters of the Keras example CNN's three Conv2D layers"]
