"""Notebook 02's solution code beyond its own tests: the whole backward pass against TensorFlow's
GradientTape through the course's Keras layer, the counts against the Keras example's network,
and the figures it draws."""

from __future__ import annotations

import numpy as np
import pytest

from involution_course.layers import Involution
from involution_instructor.solution_code import load_notebook_code

ASSIGNMENT = "02-involution-numpy"


def keras_layer_with(params, kernel_size, stride, groups):
    """The course's Keras layer in float64, holding the NumPy weights ``params``."""
    channels, reduced = params["reduce_w"].shape
    layer = Involution(kernel_size, stride, groups, reduction_ratio=channels // reduced, dtype="float64")
    layer.build((None, None, None, channels))
    layer.reduce.set_weights([params["reduce_w"][None, None], params["reduce_b"]])
    layer.bn.set_weights([params["bn_gamma"], params["bn_beta"], params["bn_mean"], params["bn_var"]])
    layer.span.set_weights([params["span_w"][None, None], params["span_b"]])
    return layer


@pytest.fixture(scope="module")
def notebook():
    return load_notebook_code(ASSIGNMENT, ("imports", "helpers", "patches"))


@pytest.mark.parametrize(
    "shape, kernel_size, stride, groups",
    [((2, 6, 6, 4), 3, 1, 1), ((1, 7, 9, 8), 5, 2, 2), ((3, 5, 4, 8), 3, 2, 4)],
)
def test_full_backward_equals_gradient_tape_through_the_keras_layer(notebook, shape, kernel_size, stride, groups):
    """dL/dx = the multiply-add's part + the part through kernel generation, and every weight's
    gradient, for L = sum(R * layer(x)): the NumPy backward pass of the notebook, end to end."""
    import tensorflow as tf

    rng = np.random.default_rng(sum(shape) + kernel_size)
    params = notebook["init_params"](shape[3], kernel_size, groups, reduction_ratio=2, seed=kernel_size)
    x = rng.normal(size=shape)
    layer = keras_layer_with(params, kernel_size, stride, groups)

    kernel = notebook["generate_kernel"](x, params, kernel_size, stride=stride, groups=groups)
    out = notebook["involution_forward"](x, kernel, stride=stride)
    weights = rng.normal(size=out.shape)
    grad_x_direct, grad_kernel = notebook["involution_backward"](x, kernel, weights, stride=stride)
    through_kernel = notebook["generate_kernel_backward"](x, params, grad_kernel, kernel_size, stride, groups)

    x_variable = tf.Variable(x)
    sources = [layer.reduce.kernel, layer.reduce.bias, layer.span.kernel, layer.span.bias]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(weights * layer(x_variable))
    tape_grads = tape.gradient(loss, [v.value for v in sources] + [x_variable])

    np.testing.assert_allclose(float(loss), float(np.sum(weights * out)), rtol=1e-10)
    for name, reference in zip(("reduce_w", "reduce_b", "span_w", "span_b"), tape_grads[:4]):
        np.testing.assert_allclose(through_kernel[name], np.reshape(reference, through_kernel[name].shape), atol=1e-9, err_msg=name)
    np.testing.assert_allclose(grad_x_direct + through_kernel["x"], tape_grads[4], atol=1e-9, err_msg="x")
    assert np.abs(through_kernel["x"]).max() > 1e-3, "the kernel-generation part of dL/dx should not vanish here"


def test_average_pool_equals_keras_same_padding_on_odd_sizes(notebook):
    import keras

    x = np.random.default_rng(0).normal(size=(2, 7, 9, 3))
    expected = keras.layers.AveragePooling2D(2, 2, padding="same", dtype="float64")(x)
    np.testing.assert_allclose(notebook["average_pool"](x, 2), np.asarray(expected), atol=1e-12)


def test_counts_reproduce_the_keras_example_network(notebook):
    """Three involution layers (C=3, K=3, G=1, r=2) + Flatten/Dense 64/Dense 10 on 32x32x3: 13,074."""
    involution_layers = 3 * notebook["involution_params"](3, 3, 1, 2)
    dense = (8 * 8 * 3) * 64 + 64 + 64 * 10 + 10
    assert involution_layers + dense == 13_074


def test_counts_equal_keras_for_a_large_kernel(notebook):
    layer = Involution(7, 1, 4, 4)
    layer.build((None, 56, 56, 64))
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    assert notebook["involution_params"](64, 7, 4, 4) == trainable == 4_404
    assert notebook["conv_params"](64, 7) == 200_768
    assert notebook["conv_macs"](56, 56, 64, 7) == 56 * 56 * 49 * 64 * 64


def test_kernels_at_equal_the_whole_kernel_at_those_positions(notebook):
    params = notebook["init_params"](6, kernel_size=5, groups=3, reduction_ratio=2, seed=9)
    x = np.random.default_rng(9).normal(size=(2, 41, 57, 6))
    positions = [(0, 0), (20, 30), (40, 56)]
    whole = notebook["generate_kernel"](x, params, 5, groups=3)
    picked = notebook["kernels_at"](x, params, positions, 5, groups=3)
    np.testing.assert_allclose(picked, np.stack([whole[:, r, c] for r, c in positions], axis=1), atol=1e-12)


def _release_cells(project_root):
    import jupytext

    release = jupytext.read(project_root / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.py", fmt="py:percent")
    return [(cell.metadata.get("nbgrader", {}), cell.source) for cell in release.cells if cell.cell_type == "code"]


def test_the_release_hands_over_no_answer(project_root):
    """Outside the answer cells, the released notebook neither uses the course's Keras layer (which
    computes the kernel and the output) nor defines a complete involution: only these helpers."""
    import ast

    defined = set()
    for meta, source in _release_cells(project_root):
        if meta.get("solution"):
            continue
        tree = ast.parse(_without_magics(source))
        defined |= {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "involution_course.layers" not in modules and "Involution" not in source, meta.get("grade_id")
    assert defined == {
        "init_params", "average_pool", "conv_kernels_for_figure", "memory_budget", "extract_patches",
        "generation_loss", "conv_weights_at",
    }


def test_extract_patches_is_only_the_patch_tensor(notebook):
    x = np.arange(2 * 5 * 4 * 3, dtype=float).reshape(2, 5, 4, 3)
    patches = notebook["extract_patches"](x, 3, 2)
    assert patches.shape == (2, 3, 2, 3, 3, 3)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    np.testing.assert_array_equal(patches[1, 2, 1], padded[1, 4:7, 2:5])


def test_every_hidden_test_refuses_the_course_layer(project_root):
    """Each exercise's hidden tests run the student's functions while the course's Involution raises."""
    from involution_instructor.solution_code import notebook_cells

    graded = [(meta["grade_id"], source) for grade_id, meta, source in notebook_cells(ASSIGNMENT)
              if meta.get("grade") and meta["grade_id"].startswith("ex")]
    assert len(graded) == 8
    for grade_id, source in graded:
        assert "with _on_its_own(" in source.split("### BEGIN HIDDEN TESTS", 1)[1], grade_id


def _without_magics(source: str) -> str:
    """IPython lines (``%pip``, ``!ls``) as ``pass``, so that the cell parses as Python."""
    import re

    return re.sub(r"^(\s*)[%!].*$", r"\1pass", source, flags=re.MULTILINE)
