# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "3724e0d49c7ab713e0e10ea0f3c1fe9c", "grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/involution-course/involution-course-student/blob/main/notebooks/03-involution-keras/03-involution-keras.ipynb)
#
# # 03 · An involution layer for Keras 3
#
# *Involution Course, assignment 03. Time: about 90 minutes.*
#
# ## Learning objectives
#
# By the end of this notebook you will be able to:
#
# 1. turn the NumPy operator into a Keras 3 layer built from `keras.ops`, so it runs on TensorFlow, JAX and PyTorch;
# 2. make the layer work at any input resolution, with stride, groups and serialisation;
# 3. save and reload a model that uses the layer, and train a small network built on it.
#
# Run the cells in order. Exercises are marked **Exercise**; write your answer where the cell says
# `# YOUR CODE HERE`, then run the tests below it. Visible tests help you. When your notebook is
# graded, the grader calls your functions again on inputs you have not seen and judges what they
# return in its own process, outside your notebook. Every rule it applies is stated in the exercise
# and checked by a visible test, so read each exercise's text closely and test your code beyond the
# visible tests.
#
# The symbols, index orders and array layouts follow the course's
# [notation table](https://involution-course.github.io/involution-course-student/notation.html).

# %% nbgrader={"cell_type": "code", "checksum": "932e6e37d6e1a822b5c6d82b4bcb49bd", "grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Set-up: on Colab the first run installs the course (about a minute); elsewhere this only imports it.
try:
    import involution_course as ic
except ModuleNotFoundError:  # a fresh Colab runtime
    # %pip install --quiet --no-deps "involution-course @ git+https://github.com/involution-course/involution-course-student@main"
    import involution_course as ic
from involution_course.colab import prepare_colab

prepare_colab()  # on Colab: install what the runtime lacks
profile = ic.setup_notebook()

# %% nbgrader={"cell_type": "code", "checksum": "1e5dd4c06bc559a07f23d81bc6fe9909", "grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from IPython.display import display
from keras import layers, ops

from involution_course import checks, code_rules
from involution_course.figures import layer as layer_figures
from involution_course.layers import BlockAveragePooling2D, refusing_reference
from involution_course.other_backends import run_layer_on_backends
from involution_course.progress import progress_bar

rng = np.random.default_rng(0)
print(f"Keras {keras.__version__}, backend: {keras.backend.backend()}")

# The course's own layer and its parts: exercises 1 to 3 are written without them, and the tests read
# your code for them, as the grader does.
COURSE_LAYER, COURSE_MODULES = {"Involution", "bottleneck", "fused_multiply_add", "refusing_reference"}, ["involution_course.fused"]


# For the tests: inputs and weights that are the same on every machine, so that a test can hold
# its expected answer as literal numbers.
def fixture_values(shape, offset=0.0):
    """Deterministic values in [-1, 1] of the given shape (float32)."""
    return np.sin(0.7 * np.arange(int(np.prod(shape))) + offset).reshape(shape).astype("float32")


def set_fixture_weights(sublayers):
    """Give each sublayer (reduce, bn, span) fixture weights; a batch norm's variance is made positive."""
    for k, sublayer in enumerate(sublayers):
        values = [fixture_values(w.shape, offset=k + i / 4) for i, w in enumerate(sublayer.get_weights())]
        if not values:
            raise ValueError(f"{sublayer.name} has no weights yet: call the layer once, so that it builds them, first.")
        if len(values) == 4:  # BatchNormalization: gamma, beta, moving mean, moving variance
            values[3] = np.abs(values[3]) + 0.5
        sublayer.set_weights(values)

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "a1d74c3410371ab8ee417d132bbea43f", "grade": false, "grade_id": "md_layers", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1 · From a NumPy function to a Keras layer
#
# In notebook 02 you computed involution in NumPy: for an input $X$ of shape $(B, H, W, C)$, an odd
# kernel size $K$, a stride $s$ and $G$ groups of channels,
#
# $$Y_{b,i,j,c} = \sum_{(u,v) \in \Delta_K} \mathcal{H}_{b,i,j,g(c),u,v}\, X_{b,\, s i+u,\, s j+v,\, c},
#   \qquad g(c) = \left\lfloor \frac{c}{C/G} \right\rfloor,$$
#
# where $\Delta_K = \{-\lfloor K/2 \rfloor, \dots, \lfloor K/2 \rfloor\}^2$ are the centred offsets of a
# $K \times K$ window, $X$ is zero outside the image, and the output has
# $H_{out} \times W_{out} = \lceil H/s \rceil \times \lceil W/s \rceil$ pixels. In arrays, the kernel has
# shape $(B, H_{out}, W_{out}, G, K, K)$ and tap $(u, v)$ sits at `[..., g, K//2 + u, K//2 + v]`; the
# code below writes $k_i = \lfloor K/2 \rfloor + u$ and $k_j = \lfloor K/2 \rfloor + v$ for these array
# positions. The kernel $\mathcal{H}$ is generated from the input itself:
#
# $$\mathcal{H}_{b,i,j} = W_1\, \sigma\big(W_0 \bar X_{b,i,j} + b_0\big) + b_1, \qquad \sigma(z) = \max(\mathrm{BN}(z), 0),$$
#
# where $\bar X_{b,i,j}$ is $X_{b,i,j}$ when $s = 1$ and, when $s > 1$, the average of the $s \times s$
# block that starts at $(s i, s j)$, over the pixels inside the image (notebook 02's `average_pool`);
# $W_0, b_0$ ("reduce") is a $1 \times 1$ convolution to $C_r = \max(1, \lfloor C/r \rfloor)$ channels and
# $W_1, b_1$ ("span") a $1 \times 1$ convolution to $K^2 G$ channels, whose channel $g K^2 + k_i K + k_j$ is
# $\mathcal{H}_{\cdot,\cdot,\cdot,g,k_i,k_j}$ in array positions.
#
# A Keras layer needs three more things than the NumPy function: **weights** that an optimiser can
# train (created in `build`, once the input's channel count is known), **gradients**, which Keras
# gets for free when `call` uses differentiable operations, and a **configuration** (`get_config`)
# so that a saved model can be rebuilt. Writing `call` with `keras.ops` rather than NumPy or
# TensorFlow functions makes the same code run on TensorFlow, JAX and PyTorch.
#
# The Keras example "Involutional neural networks" builds the multiply-add from
# `tf.image.extract_patches`, which copies every $K \times K$ window into a tensor $K^2$ times larger
# than the input, and freezes $H$ and $W$ into `Reshape` layers when it is built, so it cannot run on
# another resolution. You will avoid both.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "6b14e3f7f06b7d5e94ec530bcd4c11b1", "grade": false, "grade_id": "md_ex1", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2 · Exercise 1 (3 points): the kernel-generation network
#
# **Exercise 1 (3 points).** Write `build_kernel_generator(channels, kernel_size=3, stride=1, groups=1, reduction_ratio=2)`.
# It returns a `keras.Sequential` that maps an input with `channels` channels to the $K^2 G$ kernel
# planes at every output pixel, with these layers, named as given:
#
# 1. only when `stride > 1`: `BlockAveragePooling2D(stride, name="pool")`, imported above from the
#    course package: the mean of each $s \times s$ block that starts at $(is, js)$, over the pixels
#    inside the image (notebook 02's `average_pool` as a Keras layer);
# 2. `layers.Conv2D(max(1, channels // reduction_ratio), 1, name="reduce")`;
# 3. `layers.BatchNormalization(name="bn")`, then `layers.ReLU(name="relu")`;
# 4. `layers.Conv2D(kernel_size * kernel_size * groups, 1, name="span")`.
#
# Start the model with `keras.Input((None, None, channels))`, so it accepts any resolution.
#
# Why not Keras' own `layers.AveragePooling2D(stride, stride, padding="same")`? It gives the same
# output size, $\lceil H/s \rceil$, but it centres its zero padding, so for $s \ge 3$ a block can start
# one pixel early: with $H = 4$ and $s = 3$ it pads one row on top, and its second block covers rows
# 2 to 4 (row 4 being padding) instead of rows 3 to 5 (of which only row 3 is inside the image). The
# kernel of output row 1, which the multiply-add applies around input row 3, would then be generated
# partly from row 2. (For $s = 2$ the two agree.)
#
# The tests check the layers and output shapes (1 point), then compare your network's values with
# literal ones and, at grading, with a computation of their own (2 points). Build it from the layers above: an answer that takes the course's `Involution` layer (or its
# parts) scores nothing.

# %% nbgrader={"cell_type": "code", "checksum": "1a49d9d6ebb1eefc08783013b70d68b8", "grade": false, "grade_id": "ex1_kernel_generator", "locked": false, "schema_version": 3, "solution": true, "task": false}
def build_kernel_generator(channels, kernel_size=3, stride=1, groups=1, reduction_ratio=2):
    """A Sequential model: (B, H, W, channels) -> (B, ceil(H/stride), ceil(W/stride), K*K*groups)."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: the kernel planes of a 9 x 9 RGB input at stride 2.
print(build_kernel_generator(3, stride=2)(rng.normal(size=(1, 9, 9, 3))).shape)

# %% nbgrader={"cell_type": "code", "checksum": "bce41aa8613e36709edd9dcc54376b7f", "grade": true, "grade_id": "ex1_test_structure", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
def _width(model, name):
    """The number of channels the sublayer `name` of `model` puts out (the last axis of its kernel)."""
    return model.get_layer(name).kernel.shape[-1]


generator = build_kernel_generator(8, kernel_size=3, reduction_ratio=2)
assert isinstance(generator, keras.Sequential), f"expected a keras.Sequential, got {type(generator).__name__}"
assert _width(generator, "reduce") == 4, f"reduce should put out 8 // 2 = 4 channels, puts out {_width(generator, 'reduce')}"
assert _width(build_kernel_generator(3, reduction_ratio=8), "reduce") == 1, (
    "with 3 channels and reduction_ratio=8, reduce should keep max(1, 3 // 8) = 1 channel (0 would generate nothing)"
)
assert _width(build_kernel_generator(8, 5, 1, 2), "span") == 50, "span should put out K * K * groups = 5 * 5 * 2 = 50 planes"
assert "pool" not in [sub.name for sub in generator.layers], "at stride 1 there is no pooling layer"
assert {"pool", "reduce", "bn", "span"} <= {sub.name for sub in build_kernel_generator(8, stride=2).layers}, (
    "at stride 2 the layers should be pool, reduce, bn, relu and span, named so"
)
for shape_, stride_, expected_ in [((2, 9, 7, 8), 2, (2, 5, 4, 9)), ((1, 4, 5, 8), 3, (1, 2, 2, 9))]:
    checks.assert_shape(
        ops.convert_to_numpy(build_kernel_generator(8, 3, stride_, 1, 2)(np.zeros(shape_, "float32"))),
        expected_,
        f"build_kernel_generator(8, stride={stride_}) on x of shape {shape_}",
    )
code_rules.assert_not_named(build_kernel_generator, COURSE_LAYER, COURSE_MODULES,
                            rule="build it from the layers listed in exercise 1, not from the course's Involution")
print("Your kernel generator has the expected layers and shapes.")

# %% nbgrader={"cell_type": "code", "checksum": "28eb7e08361b9a31f9e8b5bbd82b939d", "grade": true, "grade_id": "ex1_test_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Literal values: build_kernel_generator(2, 3, stride=3, groups=1, reduction_ratio=1) with the
# fixture weights, on fixture_values((1, 4, 5, 2)). Stride 3 on 4 rows checks the block pooling.
fixed_generator = build_kernel_generator(2, 3, 3, 1, 1)
set_fixture_weights([fixed_generator.get_layer(name) for name in ("reduce", "bn", "span")])
ex1_expected = np.array([[[[ 2.344485,  0.912119, -0.949231, -2.364142, -2.667161, -1.715772,  0.042571,  1.780892,
         2.681632],
       [ 1.827620,  0.675214, -0.794756, -1.890940, -2.097785, -1.318009,  0.081647,  1.442903,
         2.125540]],
      [[ 1.379559,  0.467094, -0.665053, -1.484415, -1.605633, -0.971698,  0.119243,  1.154101,
         1.646168],
       [ 3.320224,  1.363086, -1.235133, -3.252450, -3.740088, -2.468705, -0.036251,  2.413252,
         3.727765]]]])
checks.assert_close(
    ops.convert_to_numpy(fixed_generator(fixture_values((1, 4, 5, 2)))),
    ex1_expected,
    atol=1e-4,
    rtol=1e-4,
    name="build_kernel_generator(2, 3, 3, 1, 1) with the fixture weights on fixture_values((1, 4, 5, 2))",
)
# With batch norm's offset beta at -10 every normalised value is negative, so the ReLU passes nothing on:
# every kernel plane is then span's bias alone.
closed_weights_ = [w.copy() for w in fixed_generator.get_layer("bn").get_weights()]
closed_weights_[1][:] = -10.0
fixed_generator.get_layer("bn").set_weights(closed_weights_)
checks.assert_close(
    ops.convert_to_numpy(fixed_generator(fixture_values((1, 4, 5, 2)))),
    np.broadcast_to(ops.convert_to_numpy(fixed_generator.get_layer("span").bias), (1, 2, 2, 9)),
    atol=1e-5,
    name="the kernel planes when every normalised value is negative (after a ReLU, span's bias alone)",
)
code_rules.assert_not_named(build_kernel_generator, COURSE_LAYER, COURSE_MODULES,
                            rule="build it from the layers listed in exercise 1, not from the course's Involution")
print("Your kernel generator gives the expected kernel planes.")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "ad218f453ac380d0e54ee7681403b35f", "grade": false, "grade_id": "md_ex2", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3 · Exercise 2 (3 points): the multiply-add in `keras.ops`, at any resolution
#
# The patch tensor of the Keras example holds every $K \times K$ window of the input. The sum above
# reads the same values if you swap the order of the loops: for each of the $K^2$ taps
# $(k_i, k_j)$, take the **shifted slice** of the input padded by $\lfloor K/2 \rfloor$ zeros on each side
# (`x_pad`) whose pixel $(i, j)$ is `x_pad[si + k_i, sj + k_j]` $= X_{si+u,\, sj+v}$, multiply it by the kernel plane $\mathcal{H}_{\cdot,\cdot,\cdot,\cdot,k_i,k_j}$,
# and add it to the output. Memory stays at one output-sized term at a time.
#
# **Exercise 2 (3 points).** Write `involution_multiply_add(x, kernel, stride=1)` with `keras.ops`
# only (no NumPy, no TensorFlow): `x` has shape $(B, H, W, C)$, `kernel` has shape
# $(B, H_{out}, W_{out}, G, K, K)$, and the result has shape $(B, H_{out}, W_{out}, C)$.
#
# * Pad with `ops.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))`, $p = (K-1)/2$.
# * The slice for tap $(k_i, k_j)$ starts at $k_i$, covers $H$ rows and steps by $s$. Count its end
#   from the end of the padded input, `x_pad[:, ki : ki - (K - 1) or None : stride, ...]`, so that your
#   code never needs $H$ or $W$: they may be unknown (`None`) until the layer is called.
# * The plane of tap $(k_i, k_j)$ has shape $(B, H_{out}, W_{out}, G)$; `ops.repeat(plane, C // G, axis=-1)`
#   gives channel $c$ the plane of its group $g(c)$.
#
# Read $K$ and $G$ from `kernel.shape` and $C$ from `x.shape[-1]`. Write the loop yourself: an answer
# that hands the work to the course's `Involution` layer or its helpers scores nothing. The tests check
# one group at stride 1 (1 point), then strides 2 and 3 and groups (2 points), each also traced by
# `tf.function` with unknown batch, height and width.

# %% nbgrader={"cell_type": "code", "checksum": "80a3b5f2c9e6a2b29a34efd01b189375", "grade": false, "grade_id": "ex2_multiply_add", "locked": false, "schema_version": 3, "solution": true, "task": false}
def involution_multiply_add(x, kernel, stride=1):
    """Involution of x (B, H, W, C) with kernel (B, H_out, W_out, G, K, K), in keras.ops."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: an all-ones input and kernel count the pixels of each 3 x 3 window inside the image.
print(ops.convert_to_numpy(involution_multiply_add(ops.ones((1, 3, 3, 1)), ops.ones((1, 3, 3, 1, 3, 3))))[0, :, :, 0])

# %% nbgrader={"cell_type": "code", "checksum": "1d0dbea435ff17cf78d95e1770e74ecc", "grade": true, "grade_id": "ex2_test_taps", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
def _one_tap(shape, groups, size, tap, value=1.0):
    """A kernel of shape (B, H_out, W_out, G, K, K) that is `value` at one tap and 0 elsewhere."""
    kernel = np.zeros((*shape, groups, size, size), "float32")
    kernel[..., tap[0], tap[1]] = value
    return kernel


def _multiply_add(x, kernel, stride, what):
    result = ops.convert_to_numpy(involution_multiply_add(ops.convert_to_tensor(x), ops.convert_to_tensor(kernel), stride=stride))
    checks.assert_shape(result, (*kernel.shape[:3], x.shape[-1]), what)
    return result


def _traced(x, kernel, stride):
    """involution_multiply_add traced by tf.function with unknown batch, height and width, then run."""
    spec = [tf.TensorSpec((None, None, None, x.shape[-1])), tf.TensorSpec((None, None, None, *kernel.shape[3:]))]
    return tf.function(lambda x_, k_: involution_multiply_add(x_, k_, stride=stride), input_signature=spec)(x, kernel).numpy()


x_ = fixture_values((2, 7, 6, 3))
# Tap (0, 2) alone reads the pixel one row up and one column right: x shifted down and left, zeros at the border.
checks.assert_close(
    _multiply_add(x_, _one_tap((2, 7, 6), 1, 3, (0, 2)), 1, "the top-right tap"),
    np.pad(x_, ((0, 0), (1, 0), (0, 1), (0, 0)))[:, :-1, 1:],
    atol=1e-6,
    name="involution_multiply_add with only tap (ki, kj) = (0, 2) of a 3 x 3 kernel (should be x shifted down and left by one pixel)",
)
# Traced with unknown batch, height and width, as inside a model built on keras.Input((None, None, C)).
kernel_ = fixture_values((2, 6, 7, 1, 3, 3), offset=0.5)
checks.assert_close(
    _traced(fixture_values((2, 6, 7, 3)), kernel_, 1),
    _multiply_add(fixture_values((2, 6, 7, 3)), kernel_, 1, "all taps"),
    atol=1e-5,
    name="involution_multiply_add traced with unknown batch, height and width (your code should never need H or W)",
)
code_rules.assert_not_named(involution_multiply_add, COURSE_LAYER, COURSE_MODULES,
                            rule="compute the sum yourself, not with the course's Involution or its helpers")
print("Your multiply-add applies each tap where it should.")

# %% nbgrader={"cell_type": "code", "checksum": "490fe1fb6fc8eae39c1a9a9d4a7ee8ab", "grade": true, "grade_id": "ex2_test_stride_groups", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The centre tap alone, at stride 2, picks every second pixel of the input.
checks.assert_close(
    _multiply_add(x_, _one_tap((2, 4, 3), 1, 3, (1, 1)), 2, "the centre tap at stride 2"),
    x_[:, ::2, ::2],
    atol=1e-6,
    name="involution_multiply_add with only the centre tap of a 3 x 3 kernel, stride 2 (should be x[:, ::2, ::2])",
)
checks.assert_close(
    _multiply_add(x_, _one_tap((2, 3, 2), 1, 3, (1, 1)), 3, "the centre tap at stride 3"),
    x_[:, ::3, ::3],
    atol=1e-6,
    name="involution_multiply_add with only the centre tap of a 3 x 3 kernel, stride 3 (should be x[:, ::3, ::3])",
)
# Groups are contiguous: channels 0, 1 use group 0's kernel (centre 1), channels 2, 3 group 1's (centre 2).
grouped_ = _one_tap((1, 5, 5), 2, 3, (1, 1))
grouped_[..., 1, 1, 1] = 2.0
x4_ = fixture_values((1, 5, 5, 4))
checks.assert_close(
    _multiply_add(x4_, grouped_, 1, "two groups"),
    x4_ * np.array([1, 1, 2, 2], "float32"),
    atol=1e-6,
    name="involution_multiply_add with 2 groups on 4 channels (channel c belongs to group c // (C / G): 0, 0, 1, 1, not 0, 1, 0, 1)",
)
# Literal values: every tap in use, 2 groups on 4 channels, stride 2, a 5 x 4 input.
ex2_expected = np.array([[[[ 0.347246,  0.443324,  0.326203,  0.059178],
       [-0.756452, -0.386005,  0.179403,  0.648307]],
      [[-0.759533, -0.461398,  0.054173,  0.548428],
       [ 0.961946,  0.412350, -0.348455, -0.928395]],
      [[ 0.177130,  0.133100,  0.018785, -0.100441],
       [-0.675941, -0.222209,  0.348457,  0.742054]]]])
checks.assert_close(
    _multiply_add(fixture_values((1, 5, 4, 4)), fixture_values((1, 3, 2, 2, 3, 3), offset=1.0), 2, "the fixture case"),
    ex2_expected,
    atol=1e-4,
    rtol=1e-4,
    name="involution_multiply_add(fixture_values((1, 5, 4, 4)), fixture_values((1, 3, 2, 2, 3, 3), offset=1.0), stride=2)",
)
checks.assert_close(
    _traced(fixture_values((1, 5, 4, 4)), fixture_values((1, 3, 2, 2, 3, 3), offset=1.0), 2),
    ex2_expected,
    atol=1e-4,
    rtol=1e-4,
    name="the fixture case traced with unknown batch, height and width (your code should never need H or W)",
)
code_rules.assert_not_named(involution_multiply_add, COURSE_LAYER, COURSE_MODULES,
                            rule="compute the sum yourself, not with the course's Involution or its helpers")
print("Your multiply-add matches the definition at every stride and number of groups.")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "2156d537743a05ceb4873731bf980bb1", "grade": false, "grade_id": "md_ex3", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 4 · Exercise 3 (4 points): the whole layer
#
# **Exercise 3 (4 points).** Complete `InvolutionLayer`, a `keras.layers.Layer`:
#
# * `__init__` stores the four hyper-parameters (already written).
# * `build(input_shape)` reads $C$ = `input_shape[-1]`, raises a `ValueError` naming both numbers when
#   $C$ is not divisible by `groups`, and creates the sublayers as attributes with these names:
#   `self.pool` (the `BlockAveragePooling2D` of exercise 1, or `None` when `stride == 1`), `self.reduce`,
#   `self.bn` and `self.span`, as in exercise 1. It then **builds** `reduce`, `bn` and `span`, each with
#   `sublayer.build(shape)` for a shape whose last entry is the channels that sublayer receives
#   (`(None, None, None, C)` for reduce, $C_r$ for the other two), so that their weights exist as soon
#   as your layer is built.
# * `generate_kernel(x, training=False)` returns the kernel $(B, H_{out}, W_{out}, G, K, K)$: run the
#   sublayers (ReLU with `ops.relu`), passing `training` on to `self.bn`, then `ops.reshape` with the
#   batch and output sizes read at call time from `ops.shape(planes)`.
# * `call(x, training=None)` returns `involution_multiply_add(x, kernel, self.stride)` and nothing else,
#   so the layer works in `keras.Sequential`, and passes `training` on to `generate_kernel`: while a
#   model trains, batch norm must normalise with the batch's own statistics and update its moving
#   mean and variance.
# * `compute_output_shape(input_shape)` returns $(B, \lceil H/s \rceil, \lceil W/s \rceil, C)$, with `None`
#   kept wherever a size is unknown.
# * `get_config()` adds the four hyper-parameters to `super().get_config()`.
#
# Why `compute_output_shape`? To build a model, Keras must know your layer's output shape before any
# data flows. Without the method it traces `call` on a symbolic input; on JAX that fails for an input
# of unknown size at stride 2, because JAX cannot prove that the pooled kernel planes and the strided
# slices of exercise 2 have the same (unknown) size. With the method, Keras asks it instead and never
# calls your sublayers while it builds the model, which is why `build` must build them: otherwise a
# model saved before its first call has no weights for them, and reloading it gives other outputs.
# The course's `Involution` layer does both.
#
# The course package has a layer like this one, `involution_course.layers.Involution`, which notebooks
# 04 and 05 use so that they can rely on it. Here you write your own, from `keras.layers.Layer` and your
# exercises 1 and 2: an answer that subclasses, wraps, calls or copies methods of the course's `Involution`
# scores nothing.
#
# Three test cells grade it: shapes, configuration, and saving and reloading (1 point), values at
# stride 1 with one group and batch norm's training mode (1 point), and values with stride and groups
# (2 points). The first also runs your layer under JAX and PyTorch, where they are installed (not when
# autograding: the grader runs TensorFlow).
#
# The visible tests repeat the Keras example's three shape checks on a $(32, 256, 256, 3)$ input, all
# with $K = 5$: stride 1 with $r = 1$, stride 2 with $r = 1$, and stride 1 with $r = 2$. (The example's
# third check also passes `channel=16`, which sets only the width of its reduce convolution; your layer
# reads the channels from the input instead.) They call your layer on a symbolic input,
# `keras.Input(batch_shape=(32, 256, 256, 3))`: Keras traces your `call` and reports the output shape
# without computing 6 million values 25 times over.

# %% nbgrader={"cell_type": "code", "checksum": "6c58b846e36fdda0b5f9d56d4e0fd9be", "grade": false, "grade_id": "ex3_layer", "locked": false, "schema_version": 3, "solution": true, "task": false}
class InvolutionLayer(layers.Layer):
    """Involution as a Keras layer: kernel generation, then the multiply-add."""

    def __init__(self, kernel_size=3, stride=1, groups=1, reduction_ratio=2, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.stride = stride
        self.groups = groups
        self.reduction_ratio = reduction_ratio

    def build(self, input_shape):
        # YOUR CODE HERE
        raise NotImplementedError()

    def generate_kernel(self, x, training=False):
        # YOUR CODE HERE
        raise NotImplementedError()

    def call(self, x, training=None):
        # YOUR CODE HERE
        raise NotImplementedError()

    def compute_output_shape(self, input_shape):
        # YOUR CODE HERE
        raise NotImplementedError()

    def get_config(self):
        # YOUR CODE HERE
        raise NotImplementedError()


# Try it: a layer of stride 2 on a 7 x 7 input.
print(InvolutionLayer(stride=2)(rng.normal(size=(1, 7, 7, 3)).astype("float32")).shape)

# %% nbgrader={"cell_type": "code", "checksum": "2c0a74f85541278d0c7916e7fd0289e8", "grade": true, "grade_id": "ex3_test_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# The Keras example's three shape checks (its Involution(channel=..., group_number=1, kernel_size=5, ...)),
# on a symbolic input: Keras traces your call and reports the output shape without computing it.
example_input = keras.Input(batch_shape=(32, 256, 256, 3))
for stride_, ratio_, expected_ in [(1, 1, (32, 256, 256, 3)), (2, 1, (32, 128, 128, 3)), (1, 2, (32, 256, 256, 3))]:
    shape_ = tuple(InvolutionLayer(5, stride_, 1, ratio_)(example_input).shape)
    assert shape_ == expected_, (
        f"InvolutionLayer(kernel_size=5, stride={stride_}, reduction_ratio={ratio_}) on a (32, 256, 256, 3) input "
        f"should give an output of shape {expected_}; got {shape_}"
    )
for shape_, expected_ in [((2, None, None, 6), (2, None, None, 6)), ((2, 9, 8, 6), (2, 5, 4, 6))]:
    assert tuple(InvolutionLayer(3, 2, 3).compute_output_shape(shape_)) == expected_, (
        f"InvolutionLayer(stride=2).compute_output_shape({shape_}) should be {expected_}, None where a size is unknown"
    )
config = InvolutionLayer(5, 2, 3, 4, name="kept").get_config()
for key, value in dict(kernel_size=5, stride=2, groups=3, reduction_ratio=4).items():
    assert config.get(key) == value, f"get_config()[{key!r}] should be {value}, got {config.get(key)!r}: a reloaded layer would differ"
rebuilt_ = InvolutionLayer.from_config(config)
assert (rebuilt_.groups, rebuilt_.name) == (3, "kept"), "from_config(get_config()) should rebuild the layer, its name included"
try:
    InvolutionLayer(groups=2)(np.zeros((1, 4, 4, 3), "float32"))
except ValueError as error:
    assert "3" in str(error) and "2" in str(error), f"the ValueError should name 3 channels and 2 groups: {error}"
else:
    raise AssertionError("InvolutionLayer(groups=2) on 3 channels should raise a ValueError naming both numbers")

# A model on an input of unknown size at stride 2: it runs at two resolutions, then saves and reloads.
unknown_ = keras.Input((None, None, 4))
stride_two_ = keras.Model(unknown_, InvolutionLayer(3, 2, 2, 2)(unknown_))
for rows_, cols_ in [(9, 7), (16, 21)]:
    checks.assert_shape(ops.convert_to_numpy(stride_two_(np.zeros((1, rows_, cols_, 4), "float32"))),
                        (1, -(-rows_ // 2), -(-cols_ // 2), 4), f"a model of InvolutionLayer(stride=2) on a {rows_} x {cols_} input")
x_unknown_ = fixture_values((2, 9, 7, 4))
stride_two_path_ = Path(tempfile.mkdtemp()) / "stride_two.keras"
stride_two_.save(stride_two_path_)
reloaded_ = keras.models.load_model(stride_two_path_, custom_objects={"InvolutionLayer": InvolutionLayer})
checks.assert_close(ops.convert_to_numpy(reloaded_(x_unknown_)), ops.convert_to_numpy(stride_two_(x_unknown_)), atol=1e-6,
                    name="the reloaded model's output (it differs when build does not build reduce, bn and span)")
code_rules.assert_not_named(InvolutionLayer, COURSE_LAYER, COURSE_MODULES,
                            rule="write the layer yourself, not with the course's Involution")
run_layer_on_backends(InvolutionLayer, config=(3, 2, 2, 2), channels=4, backends=("jax", "torch"))
print("Your layer passes the Keras example's shape checks, keeps its configuration and reloads.")

# %% nbgrader={"cell_type": "code", "checksum": "a2b1ead7ac21c0f10fc456635cf2ac9e", "grade": true, "grade_id": "ex3_test_stride_one", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Literal values: InvolutionLayer(3, stride=1, groups=1, reduction_ratio=1) with the fixture weights,
# on fixture_values((1, 3, 4, 2), offset=2.0).
fixed_x = fixture_values((1, 3, 4, 2), offset=2.0)
plain_layer = InvolutionLayer(3, 1, 1, 1)
plain_layer(fixed_x)  # builds the layer and its sublayers
set_fixture_weights([plain_layer.reduce, plain_layer.bn, plain_layer.span])
ex3_stride_one_expected = np.array([[[[ 1.039119,  1.475789],
       [-0.509460, -0.350392],
       [-0.035012,  0.267271],
       [ 1.553525, -0.016534]],
      [[ 1.877216,  3.019424],
       [ 1.435106, -0.168871],
       [-0.663368, -1.079939],
       [-0.273411,  0.024156]],
      [[-3.934366, -3.327534],
       [ 0.206346,  1.159798],
       [ 0.480766,  0.427105],
       [ 0.429655,  0.639160]]]])
checks.assert_close(
    ops.convert_to_numpy(plain_layer(fixed_x)),
    ex3_stride_one_expected,
    atol=1e-4,
    rtol=1e-4,
    name="InvolutionLayer(3, 1, 1, 1) with the fixture weights on fixture_values((1, 3, 4, 2), offset=2.0)",
)
# A training call normalises with the batch's statistics and updates batch norm's moving mean and variance.
moving_before_ = [ops.convert_to_numpy(w).copy() for w in (plain_layer.bn.moving_mean, plain_layer.bn.moving_variance)]
plain_layer(fixed_x, training=True)
moving_after_ = [ops.convert_to_numpy(w) for w in (plain_layer.bn.moving_mean, plain_layer.bn.moving_variance)]
assert not any(np.allclose(a, b, atol=1e-7, rtol=0) for a, b in zip(moving_before_, moving_after_)), (
    "a call with training=True should update bn's moving mean and variance: pass training on to generate_kernel and to self.bn"
)
code_rules.assert_not_named(InvolutionLayer, COURSE_LAYER, COURSE_MODULES,
                            rule="write the layer yourself, not with the course's Involution")
print("Your layer gives the expected values at stride 1 and trains batch norm in training mode.")

# %% nbgrader={"cell_type": "code", "checksum": "dfa920daf2e545f50ae0ad0d35fabcc3", "grade": true, "grade_id": "ex3_test_stride_groups", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Literal values: InvolutionLayer(3, stride=2, groups=2, reduction_ratio=1) with the fixture weights,
# on the same input. Span's channel g * K * K + ki * K + kj is the kernel's [g, ki, kj].
fixed_layer = InvolutionLayer(3, 2, 2, 1)
fixed_layer(fixed_x)  # builds the layer and its sublayers
set_fixture_weights([fixed_layer.reduce, fixed_layer.bn, fixed_layer.span])
checks.assert_shape(
    ops.convert_to_numpy(fixed_layer.generate_kernel(fixed_x)), (1, 2, 2, 2, 3, 3), "the kernel of InvolutionLayer(3, 2, 2, 1) on a 3 x 4 input"
)
ex3_expected = np.array([[[[ 0.865925,  1.158645],
       [ 0.000969,  0.441533]],
      [[-3.644748, -3.073430],
       [ 0.440142,  0.399970]]]])
checks.assert_close(
    ops.convert_to_numpy(fixed_layer(fixed_x)),
    ex3_expected,
    atol=1e-4,
    rtol=1e-4,
    name="InvolutionLayer(3, 2, 2, 1) with the fixture weights on fixture_values((1, 3, 4, 2), offset=2.0)",
)
# At stride 3 on 4 rows, the kernel of output row 1 comes from the block of rows 3 to 5 (row 3 alone is
# inside the image): changing row 2 must leave it as it is.
block_layer_ = InvolutionLayer(3, 3, 1, 1)
x_block_ = fixture_values((1, 4, 5, 2))
block_layer_(x_block_)
set_fixture_weights([block_layer_.reduce, block_layer_.bn, block_layer_.span])
x_changed_ = x_block_.copy()
x_changed_[:, 2] += 5.0
checks.assert_close(
    ops.convert_to_numpy(block_layer_.generate_kernel(x_changed_))[:, 1],
    ops.convert_to_numpy(block_layer_.generate_kernel(x_block_))[:, 1],
    atol=1e-5,
    name="the kernel of output row 1 at stride 3 after a change of input row 2 (its block is rows 3 to 5, not 2 to 4)",
)
code_rules.assert_not_named(InvolutionLayer, COURSE_LAYER, COURSE_MODULES,
                            rule="write the layer yourself, not with the course's Involution")
print("Your layer gives the expected values with stride and groups.")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "bd11c2b39ac883b3e918397d92371389", "grade": false, "grade_id": "md_ex4", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 5 · Exercise 4 (2 points): saving and reloading
#
# Keras 3 saves a whole model to one `.keras` file: the architecture as each layer's `get_config()`,
# and the weights. To load it, Keras must find the class of every custom layer, either because the
# class is registered with `@keras.saving.register_keras_serializable(...)` (as the course's
# `Involution` is) or because you pass it in `custom_objects`, a dictionary from class name to class.
#
# **Exercise 4 (2 points).** Write `save_and_reload(model, path, custom_layers=())`: save `model` to
# `path`, load it back with `keras.models.load_model`, passing the classes in `custom_layers` as
# `custom_objects`, and return the loaded model (1 point). When `path` does not end with `.keras`, raise a
# `ValueError` that says the file name must end with `.keras` (1 point). `path` may be a string or a
# `pathlib.Path`.

# %% nbgrader={"cell_type": "code", "checksum": "e1ce964cba126dea2a12e34dee4d7275", "grade": false, "grade_id": "ex4_save_and_reload", "locked": false, "schema_version": 3, "solution": true, "task": false}
def save_and_reload(model, path, custom_layers=()):
    """Save model to path (a .keras file) and return the model loaded back from it."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %% nbgrader={"cell_type": "code", "checksum": "b5bf6017eada964f905c09ce646b028b", "grade": true, "grade_id": "ex4_test_reload", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from involution_course.layers import Involution  # a registered custom layer, for the test model


class _Scale(layers.Layer):
    """A custom layer that nothing registers: it loads only through custom_objects."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


save_folder = Path(tempfile.mkdtemp())
inputs_ = keras.Input((None, None, 4))
saved = keras.Model(inputs_, _Scale(3.0)(Involution(3, 2, 2, 2)(inputs_)))
x_saved = np.random.default_rng(0).normal(size=(2, 9, 7, 4)).astype("float32")
reloaded = save_and_reload(saved, save_folder / "model.keras", custom_layers=[_Scale])
assert reloaded is not saved, "return the model loaded from the file, not the model you were given"
assert (save_folder / "model.keras").exists(), "save_and_reload should write the .keras file at path"
checks.assert_close(
    ops.convert_to_numpy(reloaded(x_saved)), ops.convert_to_numpy(saved(x_saved)), atol=0, rtol=0, name="the reloaded model's output"
)
assert [layer.factor for layer in reloaded.layers if isinstance(layer, _Scale)] == [3.0], (
    "the reloaded _Scale layer lost its configuration (factor 3.0)"
)
# A string path and a tuple of custom layers work too.
again = save_and_reload(saved, str(save_folder / "again.keras"), custom_layers=(_Scale,))
checks.assert_close(ops.convert_to_numpy(again(x_saved)), ops.convert_to_numpy(saved(x_saved)), atol=0, rtol=0,
                    name="the output of the model reloaded from a string path with custom_layers=(_Scale,)")
print("Your save_and_reload gives back a model with identical outputs.")

# %% nbgrader={"cell_type": "code", "checksum": "8f91dd17b070c115b0785156ac783838", "grade": true, "grade_id": "ex4_test_file_name", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
for bad_name_ in [save_folder / "model.h5", str(save_folder / "model.keras.h5")]:
    try:
        save_and_reload(saved, bad_name_)
    except ValueError as error:
        assert ".keras" in str(error), f"the ValueError should say that the file name must end with .keras: {error}"
    else:
        raise AssertionError(f"save_and_reload(model, {str(bad_name_)!r}) should raise a ValueError: the file name must end with .keras")
dense_ = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
checks.assert_close(ops.convert_to_numpy(save_and_reload(dense_, save_folder / "dense.keras")(np.ones((1, 3), "float32"))),
                    ops.convert_to_numpy(dense_(np.ones((1, 3), "float32"))), atol=1e-6, name="a Dense model saved to dense.keras")
print("Your save_and_reload refuses a file name without .keras and accepts one with it.")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "b9803f5abe4ffd027b06b42f0b1d5470", "grade": false, "grade_id": "md_own_layer", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 6 · Your layer in a model: any resolution, saved and reloaded
#
# Your `InvolutionLayer` now works like any Keras layer. The model below stacks two of them on an
# input of unknown size, runs on two resolutions, and goes through your `save_and_reload`.

# %% nbgrader={"cell_type": "code", "checksum": "2f646b6b1e3926428eddba2085e7948a", "grade": false, "grade_id": "own_layer_demo", "locked": true, "schema_version": 3, "solution": false, "task": false}
layer_figures.finished("Exercises 3 and 4", lambda: InvolutionLayer()(np.zeros((1, 4, 4, 1), "float32")),
                       lambda: save_and_reload(keras.Sequential([keras.Input((1,)), layers.Dense(1)]), Path(tempfile.mkdtemp()) / "tiny.keras"))

any_input = keras.Input((None, None, 3))
hidden = layers.ReLU()(InvolutionLayer(3, 1, 1, 2)(any_input))
own_model = keras.Model(any_input, InvolutionLayer(3, 2, 3, 1)(hidden))
for rows, cols in [(32, 32), (45, 61)]:
    print(f"input {rows} x {cols} -> output {tuple(own_model(np.zeros((1, rows, cols, 3), 'float32')).shape)}")

own_images = rng.normal(size=(4, 32, 32, 3)).astype("float32")
own_reloaded = save_and_reload(own_model, Path(tempfile.mkdtemp()) / "own.keras", custom_layers=[InvolutionLayer])
layer_figures.output_change(own_model, own_reloaded, own_images)

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "de75e5a5cac5ac3615f32560656a7f0e", "grade": false, "grade_id": "md_train_own", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 7 · Your layer learns
#
# A layer is only useful if gradients flow through it. The cell below builds a small network around
# two of **your** `InvolutionLayer`s (a $1 \times 1$ convolution to 16 channels, involution with 4 groups,
# $2 \times 2$ max pooling, involution of stride 2, then a dense layer from the flattened features to the
# 10 classes) and trains it with Adam for 20 steps: 256 CIFAR-10 training images in batches of 64, each
# image seen 5 times. (When autograding: 8 steps, each image seen twice, run eagerly, since tracing a
# training graph costs more than so few steps.) Each step's loss is the cross-entropy of that step's
# batch before the update. It starts near $\ln 10 \approx 2.30$, the loss of a uniform guess, and falls
# as the network fits the images. (This cell is not graded; notebook 04 trains real networks.)

# %% nbgrader={"cell_type": "code", "checksum": "15430572ea90774c6419ab7185290af3", "grade": false, "grade_id": "train_own", "locked": true, "schema_version": 3, "solution": false, "task": false}
layer_figures.finished("Exercise 3", lambda: InvolutionLayer()(np.zeros((1, 4, 4, 1), "float32")))

(train_images, train_labels), _ = ic.load_profile_data(profile)
train_images, train_labels = train_images[:256].astype("float32") / 255.0, train_labels[:256]
train_batch, train_passes, eagerly = layer_figures.training_plan(profile)

keras.utils.set_random_seed(0)
train_input = keras.Input((32, 32, 3))
features = layers.Conv2D(16, 1)(train_input)
features = layers.MaxPooling2D(2)(layers.ReLU()(InvolutionLayer(3, 1, 4, 4)(features)))
features = layers.ReLU()(InvolutionLayer(3, 2, 4, 4)(features))
trained_model = keras.Model(train_input, layers.Dense(10)(layers.Flatten()(features)))
trained_model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      run_eagerly=eagerly)

batches = [slice(start, start + train_batch) for start in range(0, len(train_images), train_batch)] * train_passes
step_losses = [
    float(trained_model.train_on_batch(train_images[batch], train_labels[batch]))
    for batch in progress_bar(batches, desc="training steps")
]
first, last = np.mean(step_losses[:4]), np.mean(step_losses[-4:])
print(f"{len(step_losses)} steps: mean loss of the first 4 steps {first:.3f}, of the last 4 steps {last:.3f}")
layer_figures.record_training(first, last)
display(layer_figures.loss_curve(step_losses, title="A small network of your InvolutionLayer, training"))


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "777f6f51c2107060bd5af3af513c99fe", "grade": false, "grade_id": "md_speed", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 8 · How fast is it?
#
# Your layer computes the sum of exercise 2 in one way on every backend. The course's `Involution`
# computes the same sums, to float rounding, but picks a formulation per backend and mode, because
# what is fast depends on how the operations run (`involution_course/layers.py` says which and why):
#
# * **TensorFlow, op by op** (eagerly, or in a `tf.function` without XLA): every operation is a
#   separate kernel that writes its result to memory, so a few large operations beat $K^2$ small ones.
#   The layer **builds the patch tensor** (depthwise convolutions with one-hot filters copy the $K^2$
#   shifted windows of each channel side by side, $K^2$ times the input's size) and contracts it with
#   the kernel in one `einsum`.
# * **TensorFlow under XLA** (`jit_compile=True`): small layers take the sum over the $K^2$ shifted
#   slices of your exercise 2, which XLA compiles into a few fused loops; large ones go by kernel rows,
#   with a custom gradient that builds a row's stacked slices again in the backward pass, because XLA
#   would otherwise keep them, $K^2$ times the input, in memory for it.
# * **JAX** (op by op or `jax.jit`): the sum over shifted slices, each kernel plane widened over its
#   group's channels; **PyTorch**: the same sum, each plane broadcast over its group. On a GPU, where
#   one applies, a fused kernel (Pallas on JAX, Triton on PyTorch) replaces both.
#
# The cell below times one training step (forward, a loss, and the gradients with respect to the input
# and every weight) on this machine, **under TensorFlow only**, the backend the notebooks run on, for
# a batch of $32 \times 32 \times 3$ inputs with $K = 3$:
#
# * the course's `Involution`;
# * the Keras example's method: `tf.image.extract_patches`, then a product with the kernel and a sum
#   over the $K^2$ axis;
# * `DepthwiseConv2D` with the same $K$: one fixed $K \times K$ kernel per channel. It does the same
#   number of multiply-adds in its sum without generating a kernel, so it is the speed to aim for.
#
# Each is timed **eagerly** and compiled with **XLA** (`tf.function(jit_compile=True)`). `model.fit`
# compiles with XLA by default where there is a GPU; on a machine with only a CPU, Keras leaves XLA off
# for TensorFlow, and notebook 04's `training.fit` turns it back on for networks with involutions. When
# autograding (the grading profile), the cell times the eager mode alone, on a smaller batch. The
# course's own measurements, on TensorFlow and at a second, larger size, are printed after this run's,
# with their date and machine; the README's Benchmarks section has them for JAX and PyTorch too.

# %% nbgrader={"cell_type": "code", "checksum": "51710bc687c0afb02e877a300e46dda3", "grade": false, "grade_id": "speed", "locked": true, "schema_version": 3, "solution": false, "task": false}
from involution_course.layers import Involution


class PatchInvolution(layers.Layer):
    """The Keras example's multiply-add (groups=1, stride 1), with the same kernel generation."""

    def build(self, input_shape):
        self.channels = input_shape[-1]
        self.reduce = layers.Conv2D(max(1, self.channels // 2), 1)
        self.bn = layers.BatchNormalization(name="bn")
        self.span = layers.Conv2D(9, 1)

    def call(self, x, training=None):
        batch, rows, cols = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
        kernel = self.span(tf.nn.relu(self.bn(self.reduce(x), training=training)))
        kernel = tf.reshape(kernel, (batch, rows, cols, 9, 1, 1))
        patches = tf.image.extract_patches(x, [1, 3, 3, 1], [1, 1, 1, 1], [1, 1, 1, 1], "SAME")
        patches = tf.reshape(patches, (batch, rows, cols, 9, self.channels, 1))
        return tf.reshape(tf.reduce_sum(kernel * patches, axis=3), (batch, rows, cols, self.channels))


timing_batch, modes, timed_repeats = layer_figures.timing_plan(profile)  # the example's batch; less when autograding
methods = {
    "Involution (course)": Involution(3, 1, 1, 2),
    "extract_patches (Keras example)": PatchInvolution(),
    "DepthwiseConv2D": layers.DepthwiseConv2D(3, padding="same"),
}
milliseconds = layer_figures.time_training_steps(methods, rng.random((timing_batch, 32, 32, 3), dtype="float32"), modes, timed_repeats)
layer_figures.report_timings(methods, modes, milliseconds, timing_batch, timed_repeats)
display(layer_figures.timing_bars(list(methods), modes, milliseconds))
layer_figures.print_recorded_steps()


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "5ad7f721e9d5cf335d7139dca38e2b48", "grade": false, "grade_id": "md_speed_after", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Read the printed times, not general rules: they depend on the machine, the batch, the load and the
# mode. Compare the two modes within one run and within the course's record: op by op the course's
# layer itself builds a patch tensor, so there it can only gain on the Keras example's by how it builds
# and contracts it; under XLA it keeps no patch tensor in its forward pass, and at the larger size it
# rebuilds its stacked slices in the backward pass instead of keeping them. The patch tensor costs
# memory too: $K^2$ times the input, which at $K = 7$ is 49 copies of every activation.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "e0a5e255a3e839ebddc9e87b8b12e91f", "grade": false, "grade_id": "reasoning_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 9 · In your own words (graded by hand, 2 points)
#
# Answer in the cell below, in a few sentences each. Your answers are read by a person after grading.
#
# 1. **(1 point)** With stride $s > 1$, your layer pools the input before it generates the kernel.
#    Another design would generate the kernel at full resolution and keep every $s$-th row and column
#    of it. Give one reason of cost and one of what each kernel is computed from for pooling first.
# 2. **(1 point)** Suppose your `get_config` left out `reduction_ratio`. A model with
#    `InvolutionLayer(3, 1, 1, 4)` on 16 channels is saved and loaded back. What happens, and why would the
#    same mistake go unnoticed in a model whose layers all use `reduction_ratio=2`?

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "ecf9513aa6d695368b76924d6203dd2d", "grade": true, "grade_id": "reasoning_answers", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "7a2fd9c2d37ced9aa37fd2a5afb2f3d9", "grade": false, "grade_id": "md_summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Summary
#
# * A Keras layer creates its weights in `build`, once the channel count is known, computes in `call`,
#   and describes itself in `get_config`, which is what saving and loading need.
# * Written with `keras.ops`, the same layer runs on TensorFlow, JAX and PyTorch; reading $H$ and $W$
#   from the input at call time (or never needing them) makes it work at any resolution.
# * The multiply-add is a sum of $K^2$ shifted slices times kernel planes, which needs no patch tensor.
#   The course's `Involution` computes the same sum in the form the course measured fastest where it
#   runs: a patch tensor on TensorFlow op by op; shifted slices under XLA (stacked by kernel rows in large
#   layers), on JAX and on PyTorch (section 8 timed it on TensorFlow against the Keras example's method
#   and `DepthwiseConv2D`).
# * A layer that Keras can build on an input of unknown size on every backend states its output shape
#   (`compute_output_shape`) and builds its sublayers in `build`, and passes `training` on to batch norm.
# * `call` returns only the output, so the layer fits in `keras.Sequential`; the kernel is available
#   separately through `generate_kernel`, which notebook 05 uses to look at what the layer learned.
# * Your layer trains: section 7 trained a small network built on it with Adam on 256 CIFAR-10 images
#   and printed its loss at the first and last steps.
#
# Notebook 04 stacks the course's `Involution` into RedNet-style bottleneck blocks and compares it
# with convolution on CIFAR-10.
#
# ## Submitting
#
# Save the notebook (File > Save), then submit the `.ipynb` file. On Colab: File > Download >
# Download .ipynb, then upload that file to the course's platform. Before you submit, run
# Kernel > Restart & Run All and check that every test cell runs without an error.
