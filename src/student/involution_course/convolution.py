"""Helpers of the convolution notebook that are not its exercises.

Hand-made kernels in Keras' layout, CIFAR-10 images as floats, a timer, and the bookkeeping
of the notebook's speed and parameter cells (the profile's run count, its headline figures).
No convolution is here, not even a wrapper around Keras: computing one is the
notebook's graded work, and its tests hold their own Keras references.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .progress import progress_bar

__all__ = ["hand_made_kernels", "kernel_bank", "to_unit_float", "median_time", "compare_speed", "record_parameters"]


# What notebook 01's "compute it yourself" rules out: the convolutions and shape helpers of Keras,
# TensorFlow and SciPy, by name, and SciPy's modules that hold them. Its visible tests and the
# grader read your code for them (involution_course.code_rules).
LIBRARY_CONVOLUTIONS = frozenset({
    "conv", "conv2d", "convolution", "depthwise_conv", "depthwise_conv2d", "depthwise_conv2d_native",
    "separable_conv", "conv_transpose", "Conv2D", "DepthwiseConv2D", "compute_conv_output_shape",
    "correlate", "correlate2d", "convolve", "convolve2d", "fftconvolve", "oaconvolve",
})
CONVOLUTION_MODULES = ("scipy.signal", "scipy.ndimage")
OWN_CONVOLUTION = "compute it yourself, without the convolutions of Keras, TensorFlow or SciPy"


def hand_made_kernels() -> dict[str, np.ndarray]:
    """Four classic 3×3 kernels, chosen by hand rather than learned.

    Sobel kernels respond to intensity changes across one direction (edges),
    the Gaussian averages its neighbourhood (blur), and the Laplacian responds
    to any change around a pixel (outlines). Each is correlated, as Keras does,
    without flipping.
    """
    sobel = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    return {
        "vertical edges": sobel,
        "horizontal edges": sobel.T.copy(),
        "blur": np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0,
        "outline": np.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]]),
    }


def kernel_bank(kernels, in_channels: int) -> np.ndarray:
    """Stack 2-D kernels into Keras' Conv2D layout ``(K, K, C_in, C_out)``.

    Every output channel applies its kernel to the mean of the input channels,
    so an RGB image is filtered as its grey version.

    >>> kernel_bank([np.ones((3, 3))], in_channels=3).shape
    (3, 3, 3, 1)
    """
    if isinstance(kernels, dict):
        kernels = list(kernels.values())
    kernels = [np.asarray(k, dtype=np.float64) for k in kernels]
    if not kernels:
        raise ValueError("kernel_bank needs at least one kernel.")
    first = kernels[0].shape
    if len(first) != 2 or any(k.shape != first for k in kernels):
        shapes = ", ".join(str(k.shape) for k in kernels)
        raise ValueError(f"kernel_bank needs 2-D kernels that all have the same shape; got {shapes}.")
    if in_channels < 1:
        raise ValueError(f"in_channels must be at least 1, got {in_channels}.")
    stacked = np.stack(kernels, axis=-1)  # (K, K, C_out)
    return np.repeat(stacked[:, :, None, :], in_channels, axis=2) / in_channels


def to_unit_float(images) -> np.ndarray:
    """uint8 images (0-255) as float32 in [0, 1], the scale the Keras example trains on."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"to_unit_float expects uint8 images (0-255), got dtype {images.dtype}.")
    return images.astype(np.float32) / 255.0


def median_time(function: Callable[[], object], runs: int, desc: str | None = None) -> float:
    """Median wall-clock seconds of ``runs`` calls of ``function`` (the median shrugs off
    one slow run, for instance the first call that warms caches). ``desc`` labels a
    progress bar; without it none is shown."""
    if runs < 1:
        raise ValueError(f"median_time needs at least one run, got runs={runs}.")
    times = []
    for _ in progress_bar(range(runs), desc=desc, unit="run", disable=desc is None, leave=False):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))



def compare_speed(naive: Callable[[], object], fast: Callable[[], object]) -> tuple[float, float]:
    """Median seconds of ``naive`` and ``fast``, each over 2 x the profile's repeats + 1 runs;
    prints both and the speed-up, and keeps them as the notebook's headline figures."""
    from .headlines import record
    from .profiles import get_profile

    runs = 2 * get_profile().repeats + 1
    naive_seconds = median_time(naive, runs, desc="conv2d_naive")
    fast_seconds = median_time(fast, runs, desc="conv2d_fast")
    print(f"median of {runs} runs each:")
    record("conv2d_naive time", 1000 * naive_seconds, "ms")
    record("conv2d_fast time", 1000 * fast_seconds, "ms")
    record("conv2d_fast speed-up over conv2d_naive", naive_seconds / fast_seconds, "x")
    return naive_seconds, fast_seconds


def record_parameters(layers) -> int:
    """Keras' parameter count of ``layers`` (built), printed and kept as a headline figure."""
    from .headlines import record

    total = sum(layer.count_params() for layer in layers)
    record("parameters of the Keras example CNN's three Conv2D layers", total)
    return total
