"""Notebook 02's NumPy involution equals the course's Keras ``Involution`` layer given the same weights.

The solution notebook's answer code is loaded from solutions/02-involution-numpy (involution_instructor.solution_code);
the weights are copied into the Keras layer here, by hand, so this check does not rely on the
notebook's own bridge to Keras.
"""

from __future__ import annotations

import numpy as np
import pytest

from involution_course.layers import Involution
from involution_instructor.solution_code import load_notebook_code

ASSIGNMENT = "02-involution-numpy"
CHANNELS = 8
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def notebook():
    return load_notebook_code(ASSIGNMENT, ("imports", "helpers", "patches"))


def keras_layer_with(params, kernel_size, stride, groups):
    """A float32 Keras Involution layer holding the NumPy weights ``params``."""
    channels, reduced = params["reduce_w"].shape
    layer = Involution(kernel_size, stride, groups, reduction_ratio=channels // reduced)
    layer.build((None, None, None, channels))
    layer.reduce.set_weights([params["reduce_w"][None, None], params["reduce_b"]])
    layer.bn.set_weights([params["bn_gamma"], params["bn_beta"], params["bn_mean"], params["bn_var"]])
    layer.span.set_weights([params["span_w"][None, None], params["span_b"]])
    return layer


@pytest.mark.parametrize("groups, kernel_size", [(1, 3), (2, 5), (4, 3)])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("height, width", [(8, 8), (7, 9)], ids=["even", "odd"])
def test_numpy_involution_equals_the_keras_layer(notebook, groups, stride, height, width, kernel_size):
    seed = 100 * groups + 10 * stride + height + kernel_size
    params = notebook["init_params"](CHANNELS, kernel_size=kernel_size, groups=groups, reduction_ratio=2, seed=seed)
    x = np.random.default_rng(seed).normal(size=(2, height, width, CHANNELS))
    layer = keras_layer_with(params, kernel_size, stride, groups)
    x32 = x.astype("float32")

    kernel = notebook["generate_kernel"](x, params, kernel_size, stride=stride, groups=groups)
    out_h, out_w = -(-height // stride), -(-width // stride)
    assert kernel.shape == (2, out_h, out_w, groups, kernel_size, kernel_size)
    np.testing.assert_allclose(kernel, np.asarray(layer.generate_kernel(x32)), atol=TOLERANCE, rtol=0)

    expected = np.asarray(layer(x32))
    assert expected.shape == (2, out_h, out_w, CHANNELS)
    for name in ("involution_forward", "involution_naive"):
        out = notebook[name](x, kernel, stride=stride)
        np.testing.assert_allclose(out, expected, atol=TOLERANCE, rtol=0, err_msg=name)
    # The patch tensor the notebook measures: multiplied by the kernel and summed, it gives the same output.
    patches = notebook["extract_patches"](x, kernel_size, stride)
    assert patches.shape == (2, out_h, out_w, kernel_size, kernel_size, CHANNELS)
    grouped = patches.reshape(2, out_h, out_w, kernel_size, kernel_size, groups, CHANNELS // groups)
    unfolded = np.einsum("bhwuvgc,bhwguv->bhwgc", grouped, kernel).reshape(expected.shape)
    np.testing.assert_allclose(unfolded, expected, atol=TOLERANCE, rtol=0, err_msg="extract_patches")

