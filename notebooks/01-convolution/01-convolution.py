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

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "bea343377533251bd7283850c23833ec", "grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/involution-course/involution-course-student/blob/main/notebooks/01-convolution/01-convolution.ipynb)
#
# # 01 · Convolution from scratch
#
# *Involution Course, assignment 01. Time: about 90 minutes.*
#
# ## Learning objectives
#
# By the end of this notebook you will be able to:
#
# 1. write a 2-D convolution in NumPy, first with explicit loops and then vectorised, and check it against `keras.layers.Conv2D`;
# 2. compute a convolution's output size and parameter count from its hyper-parameters;
# 3. show numerically the two properties that involution will invert: convolution is *spatial-agnostic* (the same kernel at every position) and *channel-specific* (a different kernel for every output channel).
#
# Run the cells in order. Exercises are marked **Exercise**; write your answer where the cell says
# `# YOUR CODE HERE`, then run the tests below it. Visible tests help you. When your notebook is
# graded, the grader calls your functions again on inputs you have not seen and judges what they
# return in its own process, outside your notebook. Every rule it applies is stated in the exercise
# and checked by a visible test, so read each exercise's text closely and test your code beyond the
# visible tests.
#
# Symbols, index order and array layouts follow the course's
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

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "7d2fe0d922708cd724247dd18d08d9b1", "grade": false, "grade_id": "what_convolution_computes", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1 · What a convolution computes
#
# An image, or a feature map inside a network, is a tensor $X \in \mathbb{R}^{H \times W \times C_\text{in}}$:
# $H$ rows, $W$ columns and $C_\text{in}$ channels (3 for an RGB image). A convolution layer holds
# $C_\text{out}$ kernels, each of size $K \times K \times C_\text{in}$, stacked into one tensor
# $\mathcal{F} \in \mathbb{R}^{K \times K \times C_\text{in} \times C_\text{out}}$ (this is exactly the
# layout of Keras' `Conv2D` kernel), and one bias $b_o$ per output channel.
#
# Output channel $o$ at position $(i, j)$ is a multiply-add of the kernel with a $K \times K$ window of
# the input. We name a tap of the kernel by its offset $(u, v)$ from the kernel's centre, $(u, v) \in
# \Delta_K = \{-\lfloor K/2 \rfloor, \dots, \lfloor K/2 \rfloor\}^2$, so that tap $(u, v)$ of input channel
# $c$ for output channel $o$ is the array element `w[K//2 + u, K//2 + v, c, o]`. With $s$ the *stride*:
#
# $$
# Y_{i,j,o} \;=\; b_o \;+\; \sum_{c=0}^{C_\text{in}-1} \sum_{(u,v) \in \Delta_K}
#     \mathcal{F}_{u,v,c,o}\; \tilde{X}_{s i + \lfloor K/2 \rfloor + u,\; s j + \lfloor K/2 \rfloor + v,\; c}
# $$
#
# $\tilde{X}$ is the input after *padding* (rows and columns of zeros added around it, see below): the
# window of output $(i, j)$ starts at row $s\,i$ and column $s\,j$ of $\tilde{X}$ and is centred
# $\lfloor K/2 \rfloor$ further on. With `"same"` padding, stride 1 and an odd $K$ the padding is
# $\lfloor K/2 \rfloor$ zeros on every side, so the centre is input pixel $(i, j)$ and the sum reads
# $X_{i+u,\, j+v,\, c}$, as in the notation table. (Keras also accepts an even $K$; its offsets then run
# from $-K/2$ to $K/2 - 1$.) Deep-learning libraries call this a convolution although, strictly, it is a
# cross-correlation: the kernel is not flipped. We follow Keras.
#
# Look at the indices of $\mathcal{F}$. They hold $u, v$ (where in the window), $c$ and $o$, but **not**
# $i, j$. Two properties follow, and they are what the involution paper (Li et al., CVPR 2021) turns
# around:
#
# | | convolution | involution (notebook 02) |
# |---|---|---|
# | across positions $(i, j)$ | **spatial-agnostic**: one kernel shared by every position | spatial-specific: a kernel for each position |
# | across channels | **channel-specific**: a different kernel for every output channel $o$ | channel-agnostic: a kernel shared by the channels (of a group) |
#
# By the end of this notebook you will have shown both properties of convolution with numbers.

# %% nbgrader={"cell_type": "code", "checksum": "c09738aef20f7a6e99b85f6e676557f6", "grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import numpy as np

# Keras comes after ic.setup_notebook(), which keeps TensorFlow's start-up messages quiet.
import keras

from involution_course import checks, code_rules
from involution_course.convolution import (
    CONVOLUTION_MODULES, LIBRARY_CONVOLUTIONS, OWN_CONVOLUTION, compare_speed, hand_made_kernels, kernel_bank,
    record_parameters, to_unit_float,
)
from involution_course.figures.convolution import feature_maps_figure, sliding_window_figure

(x_train, y_train), _ = ic.load_profile_data()
print(f"{len(x_train)} CIFAR-10 training images of shape {x_train.shape[1:]}; Keras backend: {keras.backend.backend()}")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "ec78637f841cfca01d4c89f6f0ce8baf", "grade": false, "grade_id": "padding_and_stride", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2 · Padding and stride
#
# The window slides over the input. Two hyper-parameters decide where it goes:
#
# * the **stride** $s$: how many pixels the window moves from one output to the next;
# * the **padding**: zeros added around the input, $p_\text{top}$, $p_\text{bottom}$ rows and
#   $p_\text{left}$, $p_\text{right}$ columns, so that the window can also sit over the borders.
#
# The window fits $\lfloor (H + p_\text{top} + p_\text{bottom} - K) / s \rfloor + 1$ times down the
# rows, so the output has
#
# $$
# H_\text{out} = \left\lfloor \frac{H + p_\text{top} + p_\text{bottom} - K}{s} \right\rfloor + 1,
# \qquad
# W_\text{out} = \left\lfloor \frac{W + p_\text{left} + p_\text{right} - K}{s} \right\rfloor + 1 .
# $$
#
# Keras names two paddings:
#
# * `padding="valid"`: no padding, $H_\text{out} = \lfloor (H - K)/s \rfloor + 1$. The output shrinks.
# * `padding="same"`: just enough zeros that $H_\text{out} = \lceil H / s \rceil$ (with $s = 1$ the output
#   keeps the input's size). That takes $p = \max\big((H_\text{out} - 1)\,s + K - H,\; 0\big)$ rows of zeros
#   in all, split as $p_\text{top} = \lfloor p/2 \rfloor$ and $p_\text{bottom} = p - p_\text{top}$: when $p$ is
#   odd, the extra row goes to the **bottom** (and the extra column to the **right**). Columns work the same
#   way with $W$.
#
# Below, one channel of a 5×5 input and a 3×3 kernel. Each coloured frame is the window of one output
# position, and the output square of the same colour holds the window's multiply-add. First `"valid"`
# with stride 1: the frames move one pixel at a time and the output is 3×3.

# %% nbgrader={"cell_type": "code", "checksum": "d00ae8137976c115b6d71f5ca1cc5492", "grade": false, "grade_id": "figure_valid", "locked": true, "schema_version": 3, "solution": false, "task": false}
small_input = np.array(
    [
        [1, 2, 0, 1, 3],
        [0, 1, 3, 2, 1],
        [2, 0, 1, 0, 2],
        [1, 3, 2, 1, 0],
        [0, 1, 0, 2, 1],
    ]
)
small_kernel = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]])
sliding_window_figure(small_input, small_kernel, stride=1, padding=0)

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "25e3a103c24b96db6b0ee3f32ec1cf95", "grade": false, "grade_id": "figure_same_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Now `"same"` padding with stride 2. By the rule above, $H_\text{out} = \lceil 5/2 \rceil = 3$ and
# $p = (3 - 1)\cdot 2 + 3 - 5 = 2$, one row of zeros at the top and one at the bottom (and the same for the
# columns). The frames jump two pixels at a time.

# %% nbgrader={"cell_type": "code", "checksum": "d9fe1a7f37735b73be1064f8a2103950", "grade": false, "grade_id": "figure_same", "locked": true, "schema_version": 3, "solution": false, "task": false}
sliding_window_figure(small_input, small_kernel, stride=2, padding=1)

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "59d57dbffcb87c2a06d6c91e344cbccd", "grade": false, "grade_id": "hand_made_kernels_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3 · Hand-made kernels on a real image
#
# A trained network learns its kernels. Before it learned anything, image processing used kernels
# written by hand: a Sobel kernel responds where brightness changes from left to right (vertical edges)
# or from top to bottom (horizontal edges), a Gaussian averages its neighbourhood (blur), a Laplacian
# responds to any change around a pixel (outlines).
#
# Here they are in Keras. `kernel_bank` stacks the four 3×3 kernels into the $K \times K \times
# C_\text{in} \times C_\text{out} = 3 \times 3 \times 3 \times 4$ layout, each kernel averaging the three colour
# channels. We build a `Conv2D` layer, give it these kernels with `set_weights` (no training) and apply it
# to a CIFAR-10 horse with `"valid"` padding, so that no zeros from the padding show up as false edges at
# the borders. The test cells of this notebook check your code against Keras in exactly this way.

# %% nbgrader={"cell_type": "code", "checksum": "5c85739afbdbc50752b0af90917f1482", "grade": false, "grade_id": "feature_maps", "locked": true, "schema_version": 3, "solution": false, "task": false}
kernels = hand_made_kernels()
horse = x_train[np.flatnonzero(y_train[:, 0] == ic.CLASS_NAMES.index("horse"))[0]]

edge_layer = keras.layers.Conv2D(filters=len(kernels), kernel_size=3, padding="valid", use_bias=False)
edge_layer.build((1, *horse.shape))
edge_layer.set_weights([kernel_bank(kernels, in_channels=3)])
feature_maps = keras.ops.convert_to_numpy(edge_layer(to_unit_float(horse)[None]))[0]
print(f"input {horse.shape} -> feature maps {feature_maps.shape}")
feature_maps_figure(horse, list(kernels.values()), feature_maps, list(kernels))

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "3e117c1c62db38fac7e766f13b25646a", "grade": false, "grade_id": "feature_maps_reading", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Red is positive and blue negative. Look for where each map responds: the vertical-edge map where
# brightness changes from left to right (the sides of legs, of the body, of trees), the horizontal-edge map
# where it changes from top to bottom (a back, a belly, the horizon), the blur map everywhere, as a softer
# copy of the image, and the outline map on fine detail in any direction. The maps are 30×30, as the
# printed shapes say, because with `"valid"` padding a 3×3 window fits $32 - 3 + 1 = 30$ times along each side.
#
# Note that each feature map comes from **its own** kernel (channel-specific), and each kernel is the
# **same** at every position of the horse (spatial-agnostic). A convolution network learns such kernels
# instead of having them written by hand.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "dc6d74af1f58a534b5a55d518468c624", "grade": false, "grade_id": "ex1_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 4 · Convolution with loops
#
# ### Exercise 1 · `conv2d_naive` (4 points: 2 for `"valid"`, 2 for `"same"`)
#
# Write `conv2d_naive(x, w, b=None, stride=1, padding="valid")`, the formula of section 1 with explicit loops:
#
# * `x`: a batch of images, shape $(N, H, W, C_\text{in})$ (channels last, as Keras);
# * `w`: the kernels, shape $(K, K, C_\text{in}, C_\text{out})$ (Keras' layout);
# * `b`: the biases, shape $(C_\text{out},)$, or `None` for no bias;
# * `stride`: a positive integer, the same along rows and columns;
# * `padding`: `"valid"` or `"same"`, with exactly the output sizes and the zero placement of
#   `keras.layers.Conv2D` (section 2).
#
# Return a float array of shape $(N, H_\text{out}, W_\text{out}, C_\text{out})$. Raise a `ValueError` with a
# clear message when `padding` is neither `"valid"` nor `"same"`, and when the channels of `x` and `w`
# disagree. Leave `x` unchanged (pad a copy).
#
# Compute it yourself: no convolution of Keras, TensorFlow or SciPy (`keras.ops.conv`, `keras.layers.Conv2D`,
# `tf.nn.conv2d`, `scipy.signal.correlate2d` and their relatives). The grader reads your code for them, and the
# last visible test of each cell does the same.
#
# A plan: work out $p_\text{top}, p_\text{bottom}, p_\text{left}, p_\text{right}$; pad with `np.pad`; then loop
# over images, output rows, output columns and output channels, and at each step take the window
# `x_padded[n, s*i : s*i + K, s*j : s*j + K, :]` and sum its product with the kernel `w[:, :, :, o]`.

# %% nbgrader={"cell_type": "code", "checksum": "3d88582edfdca40c281cbed409a54593", "grade": false, "grade_id": "ex1_conv2d_naive", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d_naive(x, w, b=None, stride=1, padding="valid"):
    """2-D convolution of NHWC images ``x`` with kernels ``w`` (K, K, C_in, C_out), written with loops."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it on the example of section 2 ("valid", stride 1): compare with the coloured squares of the figure.
print(conv2d_naive(small_input[None, :, :, None], small_kernel[:, :, None, None])[0, :, :, 0])

# %% nbgrader={"cell_type": "code", "checksum": "081f3cb27953bf3da0f73d9eb0ec6f55", "grade": true, "grade_id": "ex1_test_valid", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# 'valid' padding (2 points). By hand, on the numbers 0 to 8 in a 3x3 image: the sums of the four 2x2 windows, plus 0.5.
tiny = np.arange(9.0).reshape(1, 3, 3, 1)
got = conv2d_naive(tiny, np.ones((2, 2, 1, 1)), np.array([0.5]), stride=1, padding="valid")
checks.assert_close(got, np.array([[8.5, 12.5], [20.5, 24.5]]).reshape(1, 2, 2, 1), name="2x2 ones, 'valid', bias 0.5")

# A kernel whose only 1 is its top-left tap picks the top-left pixel of each window (not flipped: Keras' convention).
top_left = np.zeros((2, 2, 1, 1))
top_left[0, 0] = 1.0
got = conv2d_naive(tiny, top_left, None, stride=1, padding="valid")
checks.assert_close(got, np.array([[0.0, 1.0], [3.0, 4.0]]).reshape(1, 2, 2, 1), name="top-left tap, 'valid'")

# Stride 2 on the numbers 0 to 24 in a 5x5 image: 3x3 windows at rows and columns 0 and 2 (9 times their centre).
got = conv2d_naive(np.arange(25.0).reshape(1, 5, 5, 1), np.ones((3, 3, 1, 1)), None, stride=2, padding="valid")
checks.assert_close(got, np.array([[54.0, 72.0], [144.0, 162.0]]).reshape(1, 2, 2, 1), name="3x3 ones, 'valid', stride 2")


def keras_conv2d(x, w, b, stride, padding):
    """The truth: keras.layers.Conv2D holding the kernels w and biases b."""
    layer = keras.layers.Conv2D(w.shape[-1], w.shape[:2], strides=stride, padding=padding)
    layer.build(x.shape)
    layer.set_weights([w, b])
    return keras.ops.convert_to_numpy(layer(x))


# Two channels in, three out, random numbers, against Keras.
test_rng = np.random.default_rng(0)
test_x, test_w, test_b = (test_rng.standard_normal(shape).astype("float32") for shape in [(2, 7, 6, 2), (3, 3, 2, 3), (3,)])
got = conv2d_naive(test_x, test_w, test_b, stride=2, padding="valid")
checks.assert_close(got, keras_conv2d(test_x, test_w, test_b, 2, "valid"), atol=1e-5, name="x (2, 7, 6, 2), 3x3 kernels, stride 2, 'valid'")

try:
    conv2d_naive(tiny, np.ones((2, 2, 1, 1)), padding="full")
except ValueError:
    pass
else:
    raise AssertionError("padding='full' should raise a ValueError: only 'valid' and 'same' are accepted")
try:
    conv2d_naive(tiny, np.ones((2, 2, 3, 1)))
except ValueError:
    pass
else:
    raise AssertionError("x with 1 channel and kernels for 3 channels should raise a ValueError")
test_before = test_x.copy()
conv2d_naive(test_x, test_w, test_b, stride=1, padding="same")
assert np.array_equal(test_x, test_before), "conv2d_naive changed its input x; work on a padded copy"
# Compute it yourself: read from your code, as the grader reads it.
code_rules.assert_own_code(conv2d_naive, LIBRARY_CONVOLUTIONS, CONVOLUTION_MODULES, rule=OWN_CONVOLUTION)


# %% nbgrader={"cell_type": "code", "checksum": "86b97aadb8768138748ab08597b9f59e", "grade": true, "grade_id": "ex1_test_same", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# 'same' padding (2 points). By hand: a 3x3 kernel pads one zero on every side, so each output sums the pixels around it.
tiny = np.arange(9.0).reshape(1, 3, 3, 1)
got = conv2d_naive(tiny, np.ones((3, 3, 1, 1)), None, stride=1, padding="same")
checks.assert_close(got, np.array([[8.0, 15, 12], [21, 36, 27], [20, 33, 24]]).reshape(1, 3, 3, 1), name="3x3 ones, 'same', stride 1")

# Stride 2 with a 2x2 kernel needs one zero row and one zero column in all: at the bottom and on the right.
got = conv2d_naive(tiny, np.ones((2, 2, 1, 1)), None, stride=2, padding="same")
checks.assert_close(got, np.array([[8.0, 7.0], [13.0, 8.0]]).reshape(1, 2, 2, 1), name="2x2 ones, 'same', stride 2")

def keras_conv2d(x, w, b, stride, padding):
    """The truth: keras.layers.Conv2D holding the kernels w and biases b."""
    layer = keras.layers.Conv2D(w.shape[-1], w.shape[:2], strides=stride, padding=padding)
    layer.build(x.shape)
    layer.set_weights([w, b])
    return keras.ops.convert_to_numpy(layer(x))


# Random numbers against Keras: stride 1, then stride 2 on an even height (the odd zero row goes to the bottom).
test_rng = np.random.default_rng(1)
test_x, test_w, test_b = (test_rng.standard_normal(shape).astype("float32") for shape in [(2, 6, 5, 2), (3, 3, 2, 3), (3,)])
for stride in (1, 2):
    got = conv2d_naive(test_x, test_w, test_b, stride=stride, padding="same")
    checks.assert_close(got, keras_conv2d(test_x, test_w, test_b, stride, "same"), atol=1e-5, name=f"x (2, 6, 5, 2), 3x3 kernels, stride {stride}, 'same'")
code_rules.assert_own_code(conv2d_naive, LIBRARY_CONVOLUTIONS, CONVOLUTION_MODULES, rule=OWN_CONVOLUTION)


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "8b9a0de239b853b4e8d072df0ee47c04", "grade": false, "grade_id": "ex2_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 5 · Convolution without Python loops
#
# Four nested Python loops are slow: every step runs the interpreter for a handful of multiply-adds.
# NumPy is fast when one call does a lot of work. Two standard ways:
#
# * **sliding windows + einsum.** `np.lib.stride_tricks.sliding_window_view(x_padded, (K, K), axis=(1, 2))`
#   returns, without copying, every $K \times K$ window at stride 1: shape
#   $(N, H_p - K + 1, W_p - K + 1, C_\text{in}, K, K)$, the window axes last. Slicing `[:, ::s, ::s]` keeps the
#   windows of stride $s$. The formula of section 1 is then one `np.einsum` over $u, v, c$:
#   `np.einsum("nijcuv,uvco->nijo", windows, w)`.
# * **im2col + matmul.** Copy every window into a row of a matrix of shape
#   $(N\,H_\text{out}\,W_\text{out},\; K K C_\text{in})$, reshape `w` to $(K K C_\text{in}, C_\text{out})$ and
#   multiply the two matrices.
#
# ### Exercise 2 · `conv2d_fast` (3 points)
#
# Write `conv2d_fast(x, w, b=None, stride=1, padding="valid")` with the same arguments, results, errors and
# rules as `conv2d_naive` (`x` unchanged; no convolution of Keras, TensorFlow or SciPy), but no Python loop over
# images, positions or channels (a loop over the $K \times K$ taps is fine: at most two nested loops, and no call
# of `conv2d_naive`). Keep the cell self-contained (repeat the few lines that work out the padding) so that it is graded
# on its own.
#
# How "no Python loop" is checked: `checks.python_lines` counts the Python lines your function runs, a count
# that does not depend on how busy the machine is. The tests run `conv2d_fast` on a small input and on one with
# about 200 times as many output values: a vectorised version runs about as many lines on both, a loop over
# images, positions or channels (or a call to `conv2d_naive`) many more, and then the exercise scores 0.

# %% nbgrader={"cell_type": "code", "checksum": "c1c226160dd9074cb1a40ab1ae8b26cc", "grade": false, "grade_id": "ex2_conv2d_fast", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d_fast(x, w, b=None, stride=1, padding="valid"):
    """conv2d_naive without Python loops: every window at once, one einsum."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it on the example of section 2 ("same", stride 2).
print(conv2d_fast(small_input[None, :, :, None], small_kernel[:, :, None, None], stride=2, padding="same")[0, :, :, 0])

# %% nbgrader={"cell_type": "code", "checksum": "7d58b189c61a97071e98c66f1d174f28", "grade": true, "grade_id": "ex2_test_conv2d_fast", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# By hand, on the numbers 0 to 8 in a 3x3 image (the cases of Exercise 1).
tiny = np.arange(9.0).reshape(1, 3, 3, 1)
got = conv2d_fast(tiny, np.ones((2, 2, 1, 1)), np.array([0.5]), stride=1, padding="valid")
checks.assert_close(got, np.array([[8.5, 12.5], [20.5, 24.5]]).reshape(1, 2, 2, 1), name="2x2 ones, 'valid', bias 0.5")
got = conv2d_fast(tiny, np.ones((2, 2, 1, 1)), None, stride=2, padding="same")
checks.assert_close(got, np.array([[8.0, 7.0], [13.0, 8.0]]).reshape(1, 2, 2, 1), name="2x2 ones, 'same', stride 2")


def keras_conv2d(x, w, b, stride, padding):
    """The truth: keras.layers.Conv2D holding the kernels w and biases b."""
    layer = keras.layers.Conv2D(w.shape[-1], w.shape[:2], strides=stride, padding=padding)
    layer.build(x.shape)
    layer.set_weights([w, b])
    return keras.ops.convert_to_numpy(layer(x))


# Random numbers against Keras: 'same' with stride 2 on an even height, 'valid' with stride 2.
test_rng = np.random.default_rng(0)
test_x, test_w, test_b = (test_rng.standard_normal(shape).astype("float32") for shape in [(2, 6, 5, 2), (3, 3, 2, 3), (3,)])
for padding in ("same", "valid"):
    got = conv2d_fast(test_x, test_w, test_b, stride=2, padding=padding)
    checks.assert_close(got, keras_conv2d(test_x, test_w, test_b, 2, padding), atol=1e-5, name=f"x (2, 6, 5, 2), 3x3 kernels, stride 2, {padding!r}")
try:
    conv2d_fast(tiny, np.ones((2, 2, 1, 1)), padding="full")
except ValueError:
    pass
else:
    raise AssertionError("padding='full' should raise a ValueError: only 'valid' and 'same' are accepted")

# Vectorised: checks.python_lines counts the Python lines conv2d_fast runs (a count, not a time). On an input
# with 192 times as many output values, a vectorised version runs about as many; a Python loop far more.
small = (np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 1)), None, 1, "same")
large = (np.ones((3, 20, 20, 2)), np.ones((3, 3, 2, 4)), None, 1, "same")
checks.assert_vectorised(conv2d_fast, small, large, growth=192, name="conv2d_fast")
# The rules read from your code, as the grader reads them.
code_rules.assert_loop_depth(conv2d_fast, 2, rule="loop over the K x K taps at most, never over images, positions or channels")
code_rules.assert_not_using(conv2d_fast, {"conv2d_naive"}, rule="write it without conv2d_naive's Python loops")
code_rules.assert_own_code(conv2d_fast, LIBRARY_CONVOLUTIONS, CONVOLUTION_MODULES, rule=OWN_CONVOLUTION)
try:
    conv2d_fast(tiny, np.ones((2, 2, 3, 1)))
except ValueError:
    pass
else:
    raise AssertionError("x with 1 channel and kernels for 3 channels should raise a ValueError")


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "577f05d65f39f3fc62e3800c06e35d9f", "grade": false, "grade_id": "speed_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### How much faster?
#
# The two versions must agree, and the vectorised one should be much faster. The cell below checks
# both on a stated size: **one CIFAR-10 image (32×32×3), 16 random kernels of 3×3×3, stride 1,
# `"same"` padding**. Each time is the median of a few runs (more under the `quick` and `full` profiles),
# so one slow run does not decide it. Timings depend on your machine; only the ratio is worth comparing.

# %% nbgrader={"cell_type": "code", "checksum": "072239e9fc582fa472f04a7c51686fce", "grade": false, "grade_id": "speed", "locked": true, "schema_version": 3, "solution": false, "task": false}
speed_images = to_unit_float(x_train[:1])
speed_kernels = np.random.default_rng(0).standard_normal((3, 3, 3, 16)) * 0.1
speed_biases = np.zeros(16)


def run_naive():
    return conv2d_naive(speed_images, speed_kernels, speed_biases, stride=1, padding="same")


def run_fast():
    return conv2d_fast(speed_images, speed_kernels, speed_biases, stride=1, padding="same")


difference = float(np.max(np.abs(run_naive() - run_fast())))
print(f"largest difference between conv2d_naive and conv2d_fast: {difference:.2e}")
print(f"input {speed_images.shape}, kernels {speed_kernels.shape}")
naive_seconds, fast_seconds = compare_speed(run_naive, run_fast)  # the median of a few runs of each

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "978fec0b42d6515a2da5efcb45ee7299", "grade": false, "grade_id": "speed_reading", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Both versions do the same multiply-adds. The loops spend their time in the Python interpreter, one small
# `np.sum` per output value; `einsum` hands the whole sum to compiled code. Keras goes further still, with
# kernels written for the processor (and for GPUs), which is why networks never use loops like ours.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "76cb9a7dbe0a524becf512e14f2468c4", "grade": false, "grade_id": "ex3_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 6 · Output shape and parameter count
#
# A layer's output shape follows from section 2 without running it. Its parameters are the kernels and
# the biases:
#
# $$
# \#\text{params} \;=\; \underbrace{K \cdot K \cdot C_\text{in} \cdot C_\text{out}}_{\text{kernels}}
#   \;+\; \underbrace{C_\text{out}}_{\text{biases}} .
# $$
#
# The number does not depend on $H$ or $W$: the same kernels serve every position. That is the
# spatial-agnostic property again, and it keeps convolutions small. It does grow with
# $C_\text{in} \cdot C_\text{out}$, because every output channel has its own kernel over every input channel:
# the channel-specific property, and the cost that involution cuts.
#
# The Keras example "Involutional neural networks", which this course follows, builds its CNN from three
# `Conv2D` layers with 3×3 kernels and `"same"` padding on 32×32×3 images: 32, then 64, then 64 filters,
# with a 2×2 max-pooling after each of the first two.
#
# ### Exercise 3 · shapes and parameters (3 points: 2 for the shape, 1 for the parameters)
#
# Write
#
# * `conv_output_shape(input_shape, filters, kernel_size, stride=1, padding="valid")`: `input_shape` is
#   $(H, W, C_\text{in})$ and `kernel_size` an integer $K$; return the tuple $(H_\text{out}, W_\text{out},
#   C_\text{out})$ of Python integers, the sizes that `keras.layers.Conv2D` gives; raise a `ValueError` for a
#   padding other than `"valid"` or `"same"`;
# * `conv_param_count(in_channels, filters, kernel_size, use_bias=True)`: the number of trainable
#   parameters, an integer.
#
# Work both out from the formulas of section 2, not with Keras' layers or shape helpers (the grader reads your
# code for them, as the last visible tests do).

# %% nbgrader={"cell_type": "code", "checksum": "14538913237f637113a5cd207023f8fe", "grade": false, "grade_id": "ex3_shapes_and_parameters", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_output_shape(input_shape, filters, kernel_size, stride=1, padding="valid"):
    """(H_out, W_out, C_out) of a Conv2D layer applied to an input of shape (H, W, C_in)."""
    # YOUR CODE HERE
    raise NotImplementedError()


def conv_param_count(in_channels, filters, kernel_size, use_bias=True):
    """Trainable parameters of a Conv2D layer: its kernels and, when used, its biases."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try them on the first layer of the Keras example's CNN.
print(conv_output_shape((32, 32, 3), 32, 3, stride=1, padding="same"), conv_param_count(3, 32, 3))

# %% nbgrader={"cell_type": "code", "checksum": "c9d3d6aef6c900941aceea2b3eb0e66d", "grade": true, "grade_id": "ex3_test_output_shape", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Output shapes (2 points), as Keras reports them: the three Conv2D layers of the Keras example's CNN on 32x32x3 images
# (3x3 kernels, 'same'), 'valid' with strides 1 and 2, and 'same' with an even kernel and with stride 2.
for in_shape, filters, k, stride, padding, expected in [
    ((32, 32, 3), 32, 3, 1, "same", (32, 32, 32)),
    ((16, 16, 32), 64, 3, 1, "same", (16, 16, 64)),
    ((8, 8, 64), 64, 3, 1, "same", (8, 8, 64)),
    ((32, 32, 3), 8, 3, 1, "valid", (30, 30, 8)),
    ((9, 10, 3), 8, 3, 2, "valid", (4, 4, 8)),
    ((9, 9, 3), 8, 2, 1, "same", (9, 9, 8)),
    ((9, 8, 3), 8, 3, 2, "same", (5, 4, 8)),
]:
    got = conv_output_shape(in_shape, filters, k, stride=stride, padding=padding)
    assert tuple(got) == expected, f"{filters} filters {k}x{k}, stride {stride}, {padding!r}, on {in_shape}: expected {expected}, got {got}"
    assert all(isinstance(v, (int, np.integer)) for v in got), f"{in_shape}, {filters} filters {k}x{k}: return integers, got {got}"
try:
    conv_output_shape((8, 8, 3), 4, 3, padding="full")
except ValueError:
    pass
else:
    raise AssertionError("padding='full' should raise a ValueError")
code_rules.assert_own_code(conv_output_shape, LIBRARY_CONVOLUTIONS, CONVOLUTION_MODULES, rule=OWN_CONVOLUTION)


# %% nbgrader={"cell_type": "code", "checksum": "ab88878f601c3a93e79b002ad6b8b3eb", "grade": true, "grade_id": "ex3_test_parameters", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Parameter counts (1 point), as Keras reports them: the Keras example's three layers, a 'valid' one, one without biases.
for (in_channels, filters, k, use_bias), expected in [
    ((3, 32, 3, True), 896), ((32, 64, 3, True), 18_496), ((64, 64, 3, True), 36_928), ((3, 8, 3, True), 224), ((3, 8, 5, False), 600),
]:
    got = conv_param_count(in_channels, filters, k, use_bias=use_bias)
    assert got == expected, f"{filters} filters {k}x{k} on {in_channels} channels, use_bias={use_bias}: expected {expected} parameters, got {got}"
code_rules.assert_own_code(conv_param_count, LIBRARY_CONVOLUTIONS | {"count_params"}, CONVOLUTION_MODULES, rule=OWN_CONVOLUTION)


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "b6908b947176484788c089e4119a2e29", "grade": false, "grade_id": "parameter_table_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Your functions, layer by layer through the Keras example's CNN (the max-pooling halves $H$ and $W$
# between the convolutions). Keras' own count is the last column.

# %% nbgrader={"cell_type": "code", "checksum": "1e7d641e0e3bd7772cb5ab245b164925", "grade": false, "grade_id": "parameter_table", "locked": true, "schema_version": 3, "solution": false, "task": false}
keras_example_convs = [
    keras.layers.Conv2D(filters, (3, 3), padding="same", name=f"conv{number}")
    for number, filters in enumerate([32, 64, 64], start=1)
]
shape = (32, 32, 3)
print(f"{'layer':<8}{'input':>14}{'output':>14}{'parameters':>12}{'Keras':>10}")
for layer in keras_example_convs:
    layer.build((None, *shape))
    out = conv_output_shape(shape, layer.filters, 3, stride=1, padding="same")
    params = conv_param_count(shape[-1], layer.filters, 3)
    print(f"{layer.name:<8}{str(shape):>14}{str(tuple(out)):>14}{params:>12,}{layer.count_params():>10,}")
    shape = (out[0] // 2, out[1] // 2, out[2])  # the 2x2 max-pooling that follows
record_parameters(keras_example_convs)

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "a3f402739f87290241eb967af8c5b369", "grade": false, "grade_id": "ex4_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 7 · The two properties, with numbers
#
# ### Spatial-agnostic: shift the input, and the output shifts
#
# Write $T_{\delta}$ for the shift of an image by $\delta = (\delta_y, \delta_x)$ pixels (down and right;
# pixels pushed out are lost, the space left behind is filled with zeros). Because the same kernel is used
# at every position, a convolution $f$ with stride 1 and `"same"` padding commutes with shifts:
#
# $$ f(T_\delta X) = T_\delta f(X) $$
#
# away from the borders. This is *translation equivariance*. Near the borders it fails, because there the
# window sees the zeros of the padding or of the shift instead of the image. It is enough to stay
# $|\delta_y| + \lfloor K/2 \rfloor$ rows and $|\delta_x| + \lfloor K/2 \rfloor$ columns away from every border.
#
# ### Exercise 4 · spatial-agnostic and channel-specific (4 points)
#
# **Part a (2 points).** Write
#
# * `shift_image(x, dy, dx)`: `x` is a batch $(N, H, W, C)$; return a new array of the same shape whose content
#   has moved `dy` rows down and `dx` columns right (negative values: up and left), zeros where nothing
#   moved in. Leave `x` unchanged.
# * `translation_error(f, x, dy, dx, margin)`: `f` maps a batch to a batch of the same height and width.
#   Return the largest absolute difference between `f(shift_image(x, dy, dx))` and `shift_image(f(x), dy, dx)`
#   over the rows and columns at least `margin` away from every border (rows `margin` to `H - margin - 1`,
#   columns likewise), as a Python `float`. Raise a `ValueError` when the margin leaves no pixel.

# %% nbgrader={"cell_type": "code", "checksum": "92cea66625dfcc061ffe933466c8ff8b", "grade": false, "grade_id": "ex4_spatial_agnostic", "locked": false, "schema_version": 3, "solution": true, "task": false}
def shift_image(x, dy, dx):
    """Move the content of NHWC images dy rows down and dx columns right, filling with zeros."""
    # YOUR CODE HERE
    raise NotImplementedError()


def translation_error(f, x, dy, dx, margin):
    """Largest |f(shift(x)) - shift(f(x))| at least `margin` pixels away from every border."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: the numbers 1 to 12 in a 3x4 image, moved 1 row down and 2 columns right.
print(shift_image(np.arange(1, 13).reshape(1, 3, 4, 1), 1, 2)[0, :, :, 0])

# %% nbgrader={"cell_type": "code", "checksum": "e9745d5512d6bb9f10140423fe3a94e5", "grade": true, "grade_id": "ex4_test_spatial_agnostic", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
grid = np.arange(1.0, 13.0).reshape(1, 3, 4, 1)  # rows [1 2 3 4], [5 6 7 8], [9 10 11 12]
grid_before = grid.copy()
got = np.asarray(shift_image(grid, 1, 2))
expected = np.array([[0, 0, 0, 0], [0, 0, 1, 2], [0, 0, 5, 6]], dtype=float).reshape(1, 3, 4, 1)
assert got.shape == grid.shape, f"shift_image must keep the shape {grid.shape}, got {got.shape}"
assert np.array_equal(got, expected), f"shift_image(grid, 1, 2): expected rows {expected[0, :, :, 0].tolist()}, got {got[0, :, :, 0].tolist()}"
assert np.array_equal(grid, grid_before), "shift_image changed its input; return a new array"

test_rng = np.random.default_rng(0)
test_images = test_rng.standard_normal((2, 12, 12, 3)).astype("float32")
test_layer = keras.layers.Conv2D(4, 3, padding="same")  # a convolution, from Keras
test_layer.build(test_images.shape)
test_layer.set_weights([test_rng.standard_normal((3, 3, 3, 4)).astype("float32"), test_rng.standard_normal(4).astype("float32")])
test_convolution = lambda batch: keras.ops.convert_to_numpy(test_layer(batch))  # noqa: E731
error = translation_error(test_convolution, test_images, 2, -1, margin=3)
assert isinstance(error, float), f"translation_error should return a float, got {type(error).__name__}"
assert error < 1e-4, f"a convolution is translation-equivariant away from the borders: expected about 0, got {error}"
try:
    translation_error(test_convolution, test_images, 1, 1, margin=6)
except ValueError:
    pass
else:
    raise AssertionError("a margin of 6 leaves no pixel of a 12x12 image: translation_error should raise a ValueError")


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "207c799bee96b67875240d394b2a52be", "grade": false, "grade_id": "ex4a_demo_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Now with your `conv2d_fast` and the hand-made kernels on four CIFAR-10 images, shifted 3 rows down and
# 2 columns left. With a 3×3 kernel, a margin of $3 + 1 = 4$ pixels is enough. For contrast, the same
# convolution with its output scaled by a factor that grows down the image (from 0.5 at the top to 1.5 at
# the bottom): a filter whose effect depends on *where* it is, which is what involution does by design.

# %% nbgrader={"cell_type": "code", "checksum": "07f1de4502519c2424415361edcc35c5", "grade": false, "grade_id": "ex4a_demo", "locked": true, "schema_version": 3, "solution": false, "task": false}
demo_images = to_unit_float(x_train[:4])
demo_kernels = kernel_bank(kernels, in_channels=3)


def hand_made_convolution(batch):
    return conv2d_fast(batch, demo_kernels, None, stride=1, padding="same")


row_factor = np.linspace(0.5, 1.5, demo_images.shape[1]).reshape(1, -1, 1, 1)


def position_dependent_filter(batch):
    return hand_made_convolution(batch) * row_factor


for name, f, margin in [
    ("convolution, whole image", hand_made_convolution, 0),
    ("convolution, 4 pixels from the borders", hand_made_convolution, 4),
    ("position-dependent filter, 4 pixels from the borders", position_dependent_filter, 4),
]:
    print(f"{name:<55} largest |f(shift x) - shift f(x)| = {translation_error(f, demo_images, 3, -2, margin):.2e}")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "31094328b59db997efd29fa3ed68f2e1", "grade": false, "grade_id": "ex4b_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Away from the borders the convolution's difference is zero up to rounding: the kernel does not know
# where it is. At the borders, and everywhere for the position-dependent filter, it is not.
#
# ### Channel-specific: each output channel has its own kernel
#
# Output channel $o$ uses only $\mathcal{F}_{:,:,:,o}$ and $b_o$. So exchanging the kernels (and biases)
# of channels $i$ and $j$ must exchange output channels $i$ and $j$, and change nothing else.
#
# **Part b (2 points).** Write
#
# * `swap_kernels(w, b, i, j)`: return new arrays `(w_swapped, b_swapped)` in which the kernels
#   `w[:, :, :, i]` and `w[:, :, :, j]`, and the biases `b[i]` and `b[j]`, have changed places; leave `w` and `b`
#   unchanged.
# * `swap_error(conv, x, w, b, i, j)`: `conv(x, w, b)` is a convolution. Return, as a Python `float`, the
#   largest absolute difference between `conv` with the swapped kernels and `conv` with the original
#   kernels followed by exchanging output channels $i$ and $j$.

# %% nbgrader={"cell_type": "code", "checksum": "9a974bdf5a30f3faea8cbd656bd3555f", "grade": false, "grade_id": "ex4_channel_specific", "locked": false, "schema_version": 3, "solution": true, "task": false}
def swap_kernels(w, b, i, j):
    """Copies of w (K, K, C_in, C_out) and b (C_out,) with output channels i and j exchanged."""
    # YOUR CODE HERE
    raise NotImplementedError()


def swap_error(conv, x, w, b, i, j):
    """Largest |conv(x, swapped kernels) - conv(x, kernels) with channels i and j exchanged|."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: the biases 0, 1, 2, 3 with channels 0 and 3 exchanged.
print(swap_kernels(np.zeros((3, 3, 1, 4)), np.arange(4.0), 0, 3)[1])

# %% nbgrader={"cell_type": "code", "checksum": "db928553d0bbcb4aa05db3d71516f0b8", "grade": true, "grade_id": "ex4_test_channel_specific", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
test_rng = np.random.default_rng(0)
test_kernels = test_rng.standard_normal((3, 3, 2, 4)).astype("float32")
test_biases = np.array([0.1, 0.2, 0.3, 0.4], dtype="float32")
kernels_before, biases_before = test_kernels.copy(), test_biases.copy()
w_swapped, b_swapped = swap_kernels(test_kernels, test_biases, 0, 2)
assert np.shape(w_swapped) == test_kernels.shape, f"w_swapped should have shape {test_kernels.shape}, got {np.shape(w_swapped)}"
assert np.allclose(b_swapped, [0.3, 0.2, 0.1, 0.4]), f"biases 0 and 2 exchanged: expected [0.3, 0.2, 0.1, 0.4], got {b_swapped}"
for o, source in enumerate([2, 1, 0, 3]):
    assert np.array_equal(w_swapped[..., o], test_kernels[..., source]), f"w_swapped[..., {o}] should be the original kernel {source}"
assert np.array_equal(test_kernels, kernels_before) and np.array_equal(test_biases, biases_before), "swap_kernels changed w or b; return new arrays"

test_images = test_rng.standard_normal((2, 6, 7, 2)).astype("float32")


def test_convolution(x, w, b):
    """A convolution from Keras: Conv2D holding the kernels w and biases b."""
    layer = keras.layers.Conv2D(w.shape[-1], w.shape[:2], padding="same")
    layer.build(x.shape)
    layer.set_weights([w, b])
    return keras.ops.convert_to_numpy(layer(x))


error = swap_error(test_convolution, test_images, test_kernels, test_biases, 0, 2)
assert isinstance(error, float), f"swap_error should return a float, got {type(error).__name__}"
assert error < 1e-5, f"a convolution is channel-specific: swapping kernels 0 and 2 swaps outputs 0 and 2; expected about 0, got {error}"


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "4e5fb6c7c7ac963b8df013c30b9cda3f", "grade": false, "grade_id": "ex4b_demo_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# With `conv2d_fast` and the hand-made kernels: exchanging the blur and outline kernels exchanges their
# feature maps, and changing one kernel changes one output channel and no other.

# %% nbgrader={"cell_type": "code", "checksum": "7321549983f5926f2979090463f982bb", "grade": false, "grade_id": "ex4b_demo", "locked": true, "schema_version": 3, "solution": false, "task": false}
names = list(kernels)
demo_biases = np.zeros(len(names))
blur, outline = names.index("blur"), names.index("outline")


def fast_convolution(x, w, b):
    return conv2d_fast(x, w, b, stride=1, padding="same")


print(f"swap '{names[blur]}' and '{names[outline]}': largest difference {swap_error(fast_convolution, demo_images, demo_kernels, demo_biases, blur, outline):.2e}")

changed_kernels = demo_kernels.copy()
changed_kernels[..., 0] *= -1  # flip the sign of the vertical-edge kernel only
before = fast_convolution(demo_images, demo_kernels, demo_biases)
after = fast_convolution(demo_images, changed_kernels, demo_biases)
changed = [names[o] for o in range(len(names)) if not np.allclose(before[..., o], after[..., o])]
print(f"changing the '{names[0]}' kernel changed the output channels: {changed}")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "322b94aa670d864a3eee859ce98ef005", "grade": false, "grade_id": "reasoning_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 8 · In your own words (graded by hand, 2 points)
#
# Answer in the cell below, in a few sentences each. Your answers are read by a person after grading.
#
# 1. **(1 point)** Your `conv_param_count` gives the same number for a layer applied to 32×32 images and to
#    224×224 images. Which index is missing from $\mathcal{F}$ in the formula of section 1 for this to be so,
#    and which of the two properties of section 7 is that?
# 2. **(1 point)** `"same"` padding with stride 2 on a 6×6 input and a 3×3 kernel pads one zero row, at the
#    bottom. Suppose instead one zero row at the top *and* one at the bottom (as some libraries do). What
#    changes in the output: its size, its values, both or neither? Say why in terms of the windows.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "ecf9513aa6d695368b76924d6203dd2d", "grade": true, "grade_id": "reasoning_answers", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "491aa4522c1f1b4bd5510958fd83ebf4", "grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Summary
#
# * A convolution slides $C_\text{out}$ kernels of $K \times K \times C_\text{in}$ over the padded input; each
#   output value is a multiply-add of one kernel with one window.
# * With stride $s$, $H_\text{out} = \lfloor (H + p_\text{top} + p_\text{bottom} - K)/s \rfloor + 1$; Keras'
#   `"valid"` pads nothing, `"same"` pads to $\lceil H/s \rceil$, with an odd zero at the bottom and right.
# * A layer has $K^2 C_\text{in} C_\text{out} + C_\text{out}$ parameters, whatever the image size.
# * Your loop version and your vectorised version agree with `keras.layers.Conv2D`; the vectorised one is
#   much faster (your measured speed-up is printed in section 5).
# * Convolution is **spatial-agnostic** (shift the input and, away from the borders, the output shifts) and
#   **channel-specific** (each output channel comes from its own kernel).
#
# **Next, notebook 02:** involution inverts both properties. Its kernel is generated at every position
# from the input there (spatial-specific), and one kernel is shared by all the channels of a group
# (channel-agnostic).
#
# ## Submitting
#
# 1. Run the whole notebook once more from a fresh kernel (*Kernel › Restart & Run All*) and check that
#    every test cell passes.
# 2. Save the notebook (*File › Save*, or Ctrl+S / Cmd+S) and submit the `.ipynb` file. On Colab: *File ›
#    Download › Download .ipynb*, then upload that file to the course's platform.
