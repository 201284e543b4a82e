"""Notebook 02: a student whose answers hand every exercise to the course's Keras ``Involution`` layer
(see tests/test_delegation_01_02.py).

The student environment holds that layer, which notebooks 03 to 05 need. ``delegate_layer`` answers all
six exercises with it at once (each test cell tests its own exercise only); where an answer cell
defines a helper that the layer does not offer (``average_pool_backward``, the multiply-add counts), it
keeps the solution's own definition.
"""

from __future__ import annotations

import ast

from graded_runs import with_answers

ASSIGNMENT = "02-involution-numpy"

INVOLUTION_LAYER = '''
import keras
from involution_course.layers import Involution


def course_layer(params, kernel_size, stride=1, groups=1):
    channels, reduced = params["reduce_w"].shape
    layer = Involution(kernel_size, stride, groups, reduction_ratio=channels // reduced, dtype="float64")
    layer.build((None, None, None, channels))
    layer.set_weights([
        params["reduce_w"][None, None], params["reduce_b"], params["bn_gamma"], params["bn_beta"],
        params["bn_mean"], params["bn_var"], params["span_w"][None, None], params["span_b"],
    ])
    return layer


def course_multiply_add(x, kernel, stride):
    batch, rows, cols, groups, size, _ = kernel.shape
    layer = Involution(size, stride, groups, reduction_ratio=1, dtype="float64")
    layer.build((None, None, None, x.shape[-1]))
    planes = keras.ops.reshape(kernel, (batch, rows, cols, groups * size * size))
    return layer._multiply_add(x, layer._tap_planes(planes))
'''

DELEGATING_02 = {
    "ex1_generate_kernel": INVOLUTION_LAYER + '''

def generate_kernel(x, params, kernel_size, stride=1, groups=1):
    return np.asarray(course_layer(params, kernel_size, stride, groups).generate_kernel(x))
''',
    "ex2_involution_naive": INVOLUTION_LAYER + '''

def involution_naive(x, kernel, stride=1):
    return np.asarray(course_multiply_add(x, kernel, stride))
''',
    "ex3_involution_forward": INVOLUTION_LAYER + '''

def involution_forward(x, kernel, stride=1):
    return np.asarray(course_multiply_add(x, kernel, stride))
''',
    "ex4_backward": INVOLUTION_LAYER + '''
import tensorflow as tf


def involution_backward(x, kernel, grad_out, stride=1):
    x, kernel = tf.Variable(x), tf.Variable(kernel)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(grad_out * course_multiply_add(x, kernel, stride))
    grad_x, grad_kernel = tape.gradient(loss, [x, kernel])
    return grad_x.numpy(), grad_kernel.numpy()


AVERAGE_POOL_BACKWARD


def generate_kernel_backward(x, params, grad_kernel, kernel_size, stride=1, groups=1):
    layer = course_layer(params, kernel_size, stride, groups)
    x = tf.Variable(x)
    sources = [layer.reduce.kernel, layer.reduce.bias, layer.span.kernel, layer.span.bias]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(grad_kernel * layer.generate_kernel(x))
    grads = tape.gradient(loss, [v.value for v in sources] + [x])
    names = ("reduce_w", "reduce_b", "span_w", "span_b", "x")
    shapes = [params[name].shape for name in names[:4]] + [x.shape]
    return {name: np.reshape(grad, shape) for name, grad, shape in zip(names, grads, shapes)}
''',
    "ex5_counting": '''
import keras
from involution_course.layers import Involution


def trainable(layer, channels):
    layer.build((None, None, None, channels))
    return int(sum(np.prod(weight.shape) for weight in layer.trainable_weights))


def involution_params(channels, kernel_size, groups, reduction_ratio):
    return trainable(Involution(kernel_size, 1, groups, reduction_ratio), channels)


def conv_params(channels, kernel_size):
    return trainable(keras.layers.Conv2D(channels, kernel_size), channels)


INVOLUTION_MACS


CONV_MACS
''',
    "ex6_kernels_at": INVOLUTION_LAYER + '''

def kernels_at(x, params, positions, kernel_size, groups=1):
    whole = np.asarray(course_layer(params, kernel_size, 1, groups).generate_kernel(x))
    return np.stack([whole[:, row, col] for row, col in positions], axis=1)
''',
}



def _function_source(source: str, name: str) -> str:
    """The solution's own definition of ``name``, kept where a delegating cell needs it."""
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(source, node)


def _answer(solution_cell: str, delegating: str) -> str:
    for name in ("average_pool_backward", "involution_macs", "conv_macs"):
        if name.upper() in delegating:
            delegating = delegating.replace(name.upper(), _function_source(solution_cell, name))
    return delegating.strip() + "\n"


VARIANTS = {"delegate_layer": DELEGATING_02}


def students(source) -> dict:
    cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source for cell in source.cells}
    return {
        name: with_answers(source, {grade_id: _answer(cells[grade_id], code) for grade_id, code in answers.items()})
        for name, answers in VARIANTS.items()
    }
