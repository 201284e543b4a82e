"""Notebook 01: students whose answers hand the convolution to Keras or TensorFlow (see tests/test_delegation_01_02.py).

Each student answers every exercise it delegates at once (each test cell tests its own exercise only):
``delegate_keras`` uses a ``Conv2D`` layer for Exercises 1 and 3 and ``keras.ops.conv`` for Exercise 2,
``delegate_tf`` uses ``tf.nn.conv2d`` for Exercises 1 and 2. Exercise 4 keeps the solution's answer.
"""

from __future__ import annotations

from graded_runs import with_answers

ASSIGNMENT = "01-convolution"

CHECKS = """
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', not {padding!r}.")
    if np.shape(x)[-1] != np.shape(w)[2]:
        raise ValueError("x and w disagree on the channels.")
"""

KERAS_LAYER = '''
import keras


def conv2d_naive(x, w, b=None, stride=1, padding="valid"):
''' + CHECKS + '''
    w = np.asarray(w, dtype="float64")
    layer = keras.layers.Conv2D(w.shape[-1], w.shape[:2], strides=stride, padding=padding, use_bias=b is not None, dtype="float64")
    layer.build(np.shape(x))
    layer.set_weights([w] + ([np.asarray(b, dtype="float64")] if b is not None else []))
    return keras.ops.convert_to_numpy(layer(np.asarray(x, dtype="float64")))
'''

KERAS_OPS = '''
import keras


def conv2d_fast(x, w, b=None, stride=1, padding="valid"):
''' + CHECKS + '''
    y = keras.ops.conv(np.asarray(x, dtype="float64"), np.asarray(w, dtype="float64"), strides=stride, padding=padding)
    y = keras.ops.convert_to_numpy(y)
    return y if b is None else y + np.asarray(b, dtype="float64")
'''

KERAS_SHAPES = '''
import keras


def conv_output_shape(input_shape, filters, kernel_size, stride=1, padding="valid"):
    if padding not in ("valid", "same"):
        raise ValueError(padding)
    layer = keras.layers.Conv2D(filters, kernel_size, strides=stride, padding=padding)
    return tuple(int(v) for v in layer.compute_output_shape((None, *input_shape))[1:])


def conv_param_count(in_channels, filters, kernel_size, use_bias=True):
    layer = keras.layers.Conv2D(filters, kernel_size, use_bias=use_bias)
    layer.build((None, None, None, in_channels))
    return layer.count_params()
'''


def _tf(name: str) -> str:
    return f'''
import tensorflow as tf


def {name}(x, w, b=None, stride=1, padding="valid"):
''' + CHECKS + '''
    y = tf.nn.conv2d(np.asarray(x, dtype="float64"), np.asarray(w, dtype="float64"), strides=stride, padding=padding.upper())
    return y.numpy() if b is None else y.numpy() + np.asarray(b, dtype="float64")
'''


VARIANTS = {
    "delegate_keras": {"ex1_conv2d_naive": KERAS_LAYER, "ex2_conv2d_fast": KERAS_OPS, "ex3_shapes_and_parameters": KERAS_SHAPES},
    "delegate_tf": {"ex1_conv2d_naive": _tf("conv2d_naive"), "ex2_conv2d_fast": _tf("conv2d_fast")},
}


def students(source) -> dict:
    return {name: with_answers(source, answers) for name, answers in VARIANTS.items()}
