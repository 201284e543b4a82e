# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/involution-course/involution-course/blob/main/notebooks/02-involution-numpy/02-involution-numpy.ipynb)
#
# # 02 · Involution from scratch in NumPy
#
# *Involution Course, assignment 02. Time: about 2 hours.*
#
# ## Learning objectives
#
# By the end of this notebook you will be able to:
#
# 1. generate an involution kernel at every position from the input itself;
# 2. write the involution multiply-add with loops, then vectorised without a patch tensor;
# 3. derive and implement the backward pass, and verify it with a numerical gradient check;
# 4. count the parameters and multiply-adds of involution against convolution.
#
# Run the cells in order. Exercises are marked **Exercise**; write your answer where the cell says
# `# YOUR CODE HERE`, then run the tests below it. Visible tests help you; hidden tests run when
# your notebook is graded.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Set-up: on Colab the first run installs the course (about a minute); elsewhere this only imports it.
try:
    import involution_course as ic
except ModuleNotFoundError:  # a fresh Colab runtime
    # %pip install --quiet --no-deps "involution-course @ git+https://github.com/involution-course/involution-course@main"
    import involution_course as ic
from involution_course.colab import prepare_colab

prepare_colab()  # on Colab: install what the runtime lacks
profile = ic.setup_notebook()

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import time
import tracemalloc

import keras
import numpy as np
import tensorflow as tf
from IPython.display import display

from involution_course import checks
from involution_course.figures import involution as involution_figures
from involution_course.layers import Involution
from involution_course.progress import progress_bar

rng = np.random.default_rng(0)

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_operator", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1 · From convolution to involution
#
# In notebook 01 you wrote a convolution. With input $X \in \mathbb{R}^{H \times W \times C}$, a
# $K \times K$ kernel $\mathcal{F} \in \mathbb{R}^{C_{out} \times C \times K \times K}$ and
# $\Delta_K = \{-\lfloor K/2 \rfloor, \dots, \lfloor K/2 \rfloor\}^2$ the offsets of a window,
#
# $$Y_{i,j,k} = \sum_{c=1}^{C} \sum_{(u,v) \in \Delta_K} \mathcal{F}_{k,c,u,v}\, X_{i+u,\,j+v,\,c}.$$
#
# The kernel does not depend on the position $(i,j)$ (*spatial-agnostic*) but has a different slice
# for every output channel $k$ (*channel-specific*). **Involution** (Li et al., CVPR 2021) inverts
# both properties. Its kernel $\mathcal{H} \in \mathbb{R}^{H \times W \times G \times K \times K}$ has
# one $K \times K$ slice per position and per group of channels, and all $C/G$ channels of a group
# share it:
#
# $$Y_{i,j,c} = \sum_{(u,v) \in \Delta_K} \mathcal{H}_{i,j,g(c),u,v}\, X_{is+u,\,js+v,\,c}, \qquad g(c) = \left\lfloor \frac{c}{C/G} \right\rfloor .$$
#
# With stride $s$ the output has $\lceil H/s \rceil \times \lceil W/s \rceil$ positions; the window of
# output $(i,j)$ is centred on input pixel $(is, js)$, and the input is zero-padded by $(K-1)/2$.
# Channels form $G$ contiguous groups, as in the paper's official code.
#
# A kernel that changes with position cannot be a fixed set of weights, or the layer would only
# work at one image size. It is **generated from the input** at that position by a small network
# $\phi$ applied to the (average-pooled, when $s > 1$) pixel $\bar X_{i,j} \in \mathbb{R}^C$:
#
# $$\mathcal{H}_{i,j} = \phi(\bar X_{i,j}) = W_1\, \sigma\!\big(\mathrm{BN}(W_0 \bar X_{i,j} + b_0)\big) + b_1,$$
#
# where $W_0 \in \mathbb{R}^{C_r \times C}$ reduces $C$ channels to $C_r = \max(1, \lfloor C/r \rfloor)$
# (the reduction ratio $r$), BN is batch normalisation in inference form
# $\mathrm{BN}(z) = \gamma \frac{z - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta$ with $\epsilon = 10^{-3}$,
# $\sigma$ is ReLU, and $W_1 \in \mathbb{R}^{K^2 G \times C_r}$ spans to one $K \times K$ kernel per
# group. Both $W_0$ and $W_1$ are $1 \times 1$ convolutions: the same matrix at every pixel.
# Output channel $g K^2 + k_i K + k_j$ of the span is the tap $(k_i, k_j)$ of group $g$'s kernel.

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_weights", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### The weights, and the course's Keras layer as a reference
#
# An involution layer's weights are a dictionary of NumPy arrays. The $1 \times 1$ convolutions are
# stored as matrices that multiply the channel vector from the right, so that for an array `x` of
# shape `(B, H, W, C)`, `x @ params["reduce_w"]` applies $W_0$ at every pixel at once:
#
# | key | shape | role |
# |---|---|---|
# | `reduce_w`, `reduce_b` | `(C, C_r)`, `(C_r,)` | $W_0^{\top}$, $b_0$ |
# | `bn_gamma`, `bn_beta`, `bn_mean`, `bn_var` | `(C_r,)` each | $\gamma, \beta, \mu, \sigma^2$ |
# | `span_w`, `span_b` | `(C_r, K·K·G)`, `(K·K·G,)` | $W_1^{\top}$, $b_1$ |
#
# The cell below also gives you `average_pool` (the stride step of kernel generation: the mean of
# each $s \times s$ block, over the pixels that exist when $H$ or $W$ is not a multiple of $s$) and
# `keras_involution`, which loads these weights into the course's Keras `Involution` layer. The tests
# compare your NumPy code with that layer.

# %% nbgrader={"grade": false, "grade_id": "helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
BN_EPSILON = 1e-3  # Keras BatchNormalization's default


def init_params(channels, kernel_size=3, groups=1, reduction_ratio=2, seed=0):
    """Random weights of one involution layer, as a dict of float64 arrays."""
    param_rng = np.random.default_rng(seed)
    reduced = max(1, channels // reduction_ratio)
    spanned = kernel_size * kernel_size * groups
    return {
        "reduce_w": param_rng.normal(0.0, 1.0 / np.sqrt(channels), (channels, reduced)),
        "reduce_b": param_rng.normal(0.0, 0.1, reduced),
        "bn_gamma": param_rng.uniform(0.5, 1.5, reduced),
        "bn_beta": param_rng.uniform(0.0, 0.5, reduced),
        "bn_mean": param_rng.normal(0.0, 0.1, reduced),
        "bn_var": param_rng.uniform(0.5, 1.5, reduced),
        "span_w": param_rng.normal(0.0, 1.0 / np.sqrt(reduced), (reduced, spanned)),
        "span_b": param_rng.normal(0.0, 0.1, spanned),
    }


def average_pool(x, stride):
    """Mean of each stride x stride block of x (B, H, W, C), counting only pixels inside x."""
    if stride == 1:
        return x
    batch, height, width, channels = x.shape
    out_h, out_w = -(-height // stride), -(-width // stride)
    padded = np.zeros((batch, out_h * stride, out_w * stride, channels), dtype=x.dtype)
    padded[:, :height, :width] = x
    inside = np.zeros((out_h * stride, out_w * stride))
    inside[:height, :width] = 1.0
    sums = padded.reshape(batch, out_h, stride, out_w, stride, channels).sum(axis=(2, 4))
    counts = inside.reshape(out_h, stride, out_w, stride).sum(axis=(1, 3))
    return sums / counts[None, :, :, None]


def set_keras_weights(layer, params):
    """Load ``params`` into a built Keras ``Involution`` layer."""
    layer.reduce.kernel.assign(params["reduce_w"][None, None])
    layer.reduce.bias.assign(params["reduce_b"])
    layer.bn.gamma.assign(params["bn_gamma"])
    layer.bn.beta.assign(params["bn_beta"])
    layer.bn.moving_mean.assign(params["bn_mean"])
    layer.bn.moving_variance.assign(params["bn_var"])
    layer.span.kernel.assign(params["span_w"][None, None])
    layer.span.bias.assign(params["span_b"])


def keras_involution(params, kernel_size=3, stride=1, groups=1, dtype="float64"):
    """The course's Keras ``Involution`` layer carrying ``params``."""
    channels, reduced = params["reduce_w"].shape
    if params["span_w"].shape[1] != kernel_size * kernel_size * groups:
        raise ValueError(
            f"span_w has {params['span_w'].shape[1]} columns, but kernel_size={kernel_size} and "
            f"groups={groups} need {kernel_size * kernel_size * groups}: pass the sizes the weights were made for."
        )
    layer = Involution(kernel_size, stride, groups, reduction_ratio=channels // reduced, dtype=dtype)
    layer.build((None, None, None, channels))
    set_keras_weights(layer, params)
    return layer


def keras_kernel(layer, x):
    """The kernel (B, H_out, W_out, G, K, K) that ``layer`` generates for ``x``, as NumPy."""
    return np.asarray(layer.generate_kernel(x))


def keras_output(layer, x):
    """``layer``'s output for ``x``, as NumPy."""
    return np.asarray(layer(x))


def conv_kernels_for_figure(channels, kernel_size, seed=0):
    """A convolution's K x K kernels for output channels 0..channels-1 (input channel 0)."""
    return np.random.default_rng(seed).normal(size=(channels, kernel_size, kernel_size))


# %% [markdown] nbgrader={"grade": false, "grade_id": "md_sharing_figure", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The figure shows which kernel each operator applies at three positions of a random image, to three
# channels: the involution kernels come from the Keras layer with random weights (one group).

# %% nbgrader={"grade": false, "grade_id": "sharing_figure", "locked": true, "schema_version": 3, "solution": false, "task": false}
figure_params = init_params(3, kernel_size=5, groups=1, reduction_ratio=1, seed=3)
figure_image = rng.normal(size=(1, 12, 12, 3))
figure_positions = [(2, 2), (6, 9), (10, 4)]
figure_kernel = keras_kernel(keras_involution(figure_params, kernel_size=5), figure_image)
per_position = np.stack([figure_kernel[0, r, c, 0] for r, c in figure_positions])
display(
    involution_figures.weight_sharing(
        conv_kernels_for_figure(3, 5),
        np.repeat(per_position[:, None], 3, axis=1),
        figure_positions,
    )
)

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_ex1", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2 · Generating the kernel
#
# **Exercise 1 (3 points).** Write `generate_kernel(x, params, kernel_size, stride=1, groups=1)`.
# For `x` of shape `(B, H, W, C)` it returns the kernel of shape `(B, H_out, W_out, G, K, K)`,
# with $H_{out} = \lceil H/s \rceil$ and $W_{out} = \lceil W/s \rceil$:
#
# 1. `average_pool(x, stride)` (given above; it returns `x` itself when `stride == 1`);
# 2. the reduce $1 \times 1$ convolution as a matrix product with `params["reduce_w"]`, plus the bias;
# 3. batch normalisation in inference form with `BN_EPSILON`, then ReLU;
# 4. the span $1 \times 1$ convolution, then a reshape to `(B, H_out, W_out, G, K, K)`:
#    channel $g K^2 + k_i K + k_j$ becomes `[..., g, ki, kj]`.
#
# No loops are needed: `@` multiplies the last axis of a 4-D array by a matrix.

# %% nbgrader={"grade": false, "grade_id": "ex1_generate_kernel", "locked": false, "schema_version": 3, "solution": true, "task": false}
def generate_kernel(x, params, kernel_size, stride=1, groups=1):
    """The involution kernel (B, H_out, W_out, G, K, K) generated from x (B, H, W, C)."""
    ### BEGIN SOLUTION
    pooled = average_pool(x, stride)
    reduced = pooled @ params["reduce_w"] + params["reduce_b"]
    normalised = (
        params["bn_gamma"] * (reduced - params["bn_mean"]) / np.sqrt(params["bn_var"] + BN_EPSILON)
        + params["bn_beta"]
    )
    spanned = np.maximum(normalised, 0.0) @ params["span_w"] + params["span_b"]
    batch, out_h, out_w, _ = spanned.shape
    return spanned.reshape(batch, out_h, out_w, groups, kernel_size, kernel_size)
    ### END SOLUTION


# Try it: the 3 x 3 kernel at the top-left position of a small random input.
print(generate_kernel(rng.normal(size=(1, 4, 4, 4)), init_params(4, seed=5), 3)[0, 0, 0, 0].round(3))


# %% nbgrader={"grade": true, "grade_id": "ex1_test_generate_kernel", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
x_small = rng.normal(size=(2, 6, 6, 4))
params_small = init_params(4, kernel_size=3, groups=1, reduction_ratio=2, seed=1)
kernel_small = generate_kernel(x_small, params_small, 3)
checks.assert_shape(kernel_small, (2, 6, 6, 1, 3, 3), "generate_kernel(x, params, 3) for x of shape (2, 6, 6, 4)")
checks.assert_close(
    kernel_small, keras_kernel(keras_involution(params_small, 3), x_small), atol=1e-8, name="your kernel (stride 1)"
)
kernel_strided = generate_kernel(x_small, params_small, 3, stride=2)
checks.assert_shape(kernel_strided, (2, 3, 3, 1, 3, 3), "generate_kernel(x, params, 3, stride=2)")
checks.assert_close(
    kernel_strided,
    keras_kernel(keras_involution(params_small, 3, stride=2), x_small),
    atol=1e-8,
    name="your kernel (stride 2)",
)
### BEGIN HIDDEN TESTS
for batch_, height_, width_, chans_, k_, s_, g_, r_ in [
    (3, 7, 9, 8, 5, 2, 2, 4),
    (1, 5, 5, 8, 7, 1, 4, 2),
    (2, 9, 4, 6, 3, 2, 3, 3),
]:
    hidden_x = np.random.default_rng(k_ * 10 + g_).normal(size=(batch_, height_, width_, chans_))
    hidden_params = init_params(chans_, kernel_size=k_, groups=g_, reduction_ratio=r_, seed=g_ + 7)
    hidden_expected = keras_kernel(keras_involution(hidden_params, k_, stride=s_, groups=g_), hidden_x)
    checks.assert_close(
        generate_kernel(hidden_x, hidden_params, k_, stride=s_, groups=g_),
        hidden_expected,
        atol=1e-8,
        name=f"your kernel for x {hidden_x.shape}, K={k_}, stride={s_}, groups={g_}",
    )
### END HIDDEN TESTS
print("Your kernel generation matches the Keras layer.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_ex2", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3 · The multiply-add, with loops
#
# Given a kernel, the output is a weighted sum over a window, as in a convolution, but the weights
# change with the position and are shared across the channels of a group:
#
# $$Y_{b,i,j,c} = \sum_{k_i=0}^{K-1} \sum_{k_j=0}^{K-1} X^{pad}_{b,\; i s + k_i,\; j s + k_j,\; c}\; \mathcal{H}_{b,i,j,g(c),k_i,k_j}$$
#
# where $X^{pad}$ is $X$ with $(K-1)/2$ zeros on each side of both spatial axes (`np.pad`).
#
# **Exercise 2 (2 points).** Write `involution_naive(x, kernel, stride=1)` with explicit loops over
# the batch, the output positions and the channels; for each, take the $K \times K$ window of the
# padded input and sum it times the kernel of that position and of the channel's group. Read $K$, $G$
# and the output size from `kernel.shape`. This version is slow; it is the one to trust.

# %% nbgrader={"grade": false, "grade_id": "ex2_involution_naive", "locked": false, "schema_version": 3, "solution": true, "task": false}
def involution_naive(x, kernel, stride=1):
    """Involution of x (B, H, W, C) with kernel (B, H_out, W_out, G, K, K), by explicit loops."""
    ### BEGIN SOLUTION
    channels = x.shape[-1]
    n_batch, rows_out, cols_out, n_groups, size = kernel.shape[:5]
    half = (size - 1) // 2
    padded = np.pad(x, [(0, 0), (half, half), (half, half), (0, 0)])
    group_width = channels // n_groups
    out = np.zeros((n_batch, rows_out, cols_out, channels), dtype=np.result_type(x, kernel))
    for b in range(n_batch):
        for i in range(rows_out):
            for j in range(cols_out):
                for c in range(channels):
                    window = padded[b, i * stride : i * stride + size, j * stride : j * stride + size, c]
                    out[b, i, j, c] = np.sum(window * kernel[b, i, j, c // group_width])
    return out
    ### END SOLUTION


# Try it: with an all-ones input and kernel, each output counts the pixels of its window inside the image.
print(involution_naive(np.ones((1, 3, 3, 1)), np.ones((1, 3, 3, 1, 3, 3)))[0, :, :, 0])


# %% nbgrader={"grade": true, "grade_id": "ex2_test_involution_naive", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
x_loop = rng.normal(size=(1, 5, 5, 2))
layer_loop = keras_involution(init_params(2, kernel_size=3, seed=2), 3)
out_loop = involution_naive(x_loop, keras_kernel(layer_loop, x_loop))
checks.assert_shape(out_loop, (1, 5, 5, 2), "involution_naive(x, kernel) for x of shape (1, 5, 5, 2)")
checks.assert_close(out_loop, keras_output(layer_loop, x_loop), atol=1e-8, name="your loop involution (stride 1)")
### BEGIN HIDDEN TESTS
for batch_, height_, width_, chans_, k_, s_, g_ in [(2, 7, 5, 4, 5, 2, 2), (1, 6, 8, 8, 3, 2, 4), (3, 4, 4, 3, 7, 1, 1)]:
    hidden_x = np.random.default_rng(batch_ + k_).normal(size=(batch_, height_, width_, chans_))
    hidden_layer = keras_involution(init_params(chans_, kernel_size=k_, groups=g_, seed=s_), k_, stride=s_, groups=g_)
    checks.assert_close(
        involution_naive(hidden_x, keras_kernel(hidden_layer, hidden_x), stride=s_),
        keras_output(hidden_layer, hidden_x),
        atol=1e-8,
        name=f"your loop involution for x {hidden_x.shape}, K={k_}, stride={s_}, groups={g_}",
    )
### END HIDDEN TESTS
print("Your loop involution matches the Keras layer.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_ex3", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 4 · The multiply-add, vectorised without a patch tensor
#
# A common way to vectorise is to *unfold*: gather every $K \times K$ window into a patch tensor of
# shape $(B, H_{out}, W_{out}, K^2, C)$, multiply by the kernel and sum over the $K^2$ axis. That
# tensor is $K^2$ times larger than the input (49 times for $K = 7$). The cell below implements that
# approach, `involution_unfold`, for comparison.
#
# There is a cheaper way. Swap the order of the sums: for each tap $(k_i, k_j)$, the inputs it
# touches at all positions form one strided slice of the padded input,
#
# $$Y = \sum_{k_i, k_j} X^{pad}\big[:,\; k_i : k_i + s(H_{out}-1) + 1 : s,\;\; k_j : k_j + s(W_{out}-1) + 1 : s,\; :\big] \odot \mathcal{H}[\dots, k_i, k_j],$$
#
# where the kernel plane $\mathcal{H}[\dots, k_i, k_j]$ of shape $(B, H_{out}, W_{out}, G)$ is broadcast
# over the $C/G$ channels of each group (reshape the channel axis to $(G, C/G)$). That is $K^2$
# array operations, each the size of the output, and no patch tensor.
#
# **Exercise 3 (3 points).** Write `involution_forward(x, kernel, stride=1)` this way. It must give
# the same output as `involution_naive`: the test compares it with the Keras layer to $10^{-6}$, and the
# timing cell after it prints the largest difference between your two versions. Its peak memory must
# stay far below the patch tensor's size (the test measures it with `tracemalloc`).

# %% nbgrader={"grade": false, "grade_id": "unfold", "locked": true, "schema_version": 3, "solution": false, "task": false}
def involution_unfold(x, kernel, stride=1):
    """Involution by unfolding: every K x K window is copied into a patch tensor first."""
    batch, _, _, channels = x.shape
    _, out_h, out_w, groups, k, _ = kernel.shape
    pad = (k - 1) // 2
    x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows = np.arange(out_h)[:, None] * stride + np.arange(k)[None, :]  # (H_out, K)
    cols = np.arange(out_w)[:, None] * stride + np.arange(k)[None, :]  # (W_out, K)
    # patches[b, i, j, ki, kj, c] = x_pad[b, i*s + ki, j*s + kj, c]: K*K times the input's size.
    patches = x_pad[:, rows[:, None, :, None], cols[None, :, None, :], :]
    patches = patches.reshape(batch, out_h, out_w, k * k, groups, channels // groups)
    taps = kernel.reshape(batch, out_h, out_w, groups, k * k)
    out = np.einsum("bhwngc,bhwgn->bhwgc", patches, taps)
    return out.reshape(batch, out_h, out_w, channels)


# %% nbgrader={"grade": false, "grade_id": "ex3_involution_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def involution_forward(x, kernel, stride=1):
    """Involution of x (B, H, W, C) with kernel (B, H_out, W_out, G, K, K): a sum of K*K shifted slices."""
    ### BEGIN SOLUTION
    n_batch, rows_out, cols_out, n_groups, size = kernel.shape[:5]
    half = (size - 1) // 2
    padded = np.pad(x, [(0, 0), (half, half), (half, half), (0, 0)])
    grouped = padded.reshape(*padded.shape[:3], n_groups, -1)  # (B, H+2p, W+2p, G, C/G)
    total = np.zeros((n_batch, rows_out, cols_out, *grouped.shape[3:]), dtype=np.result_type(x, kernel))
    for ki in range(size):
        for kj in range(size):
            window = grouped[:, ki : ki + stride * (rows_out - 1) + 1 : stride, kj : kj + stride * (cols_out - 1) + 1 : stride]
            total += window * kernel[:, :, :, :, ki, kj, None]
    return total.reshape(x.shape[0], rows_out, cols_out, x.shape[-1])
    ### END SOLUTION


# Try it: the same count with stride 2 on a 5 x 5 input: windows centred on rows and columns 0, 2, 4.
print(involution_forward(np.ones((1, 5, 5, 1)), np.ones((1, 3, 3, 1, 3, 3)), stride=2)[0, :, :, 0])


# %% nbgrader={"grade": true, "grade_id": "ex3_test_involution_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def peak_bytes(function, *args):
    """The most memory ``function(*args)`` held at once beyond what existed before, in bytes."""
    tracemalloc.start()
    try:
        function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


x_fast = rng.normal(size=(2, 6, 7, 4))
layer_fast = keras_involution(init_params(4, kernel_size=3, groups=2, seed=4), 3, groups=2)
out_fast = involution_forward(x_fast, keras_kernel(layer_fast, x_fast))
checks.assert_shape(out_fast, (2, 6, 7, 4), "involution_forward(x, kernel) for x of shape (2, 6, 7, 4)")
checks.assert_close(out_fast, keras_output(layer_fast, x_fast), atol=1e-6, name="your vectorised involution")
x_big = rng.normal(size=(2, 24, 24, 16))
kernel_big = rng.normal(size=(2, 24, 24, 1, 7, 7))
patch_bytes = x_big.nbytes * 49
used = peak_bytes(involution_forward, x_big, kernel_big)
assert used < patch_bytes / 4, (
    f"involution_forward used {used / 1e6:.1f} MB at its peak for K=7; a patch tensor would take "
    f"{patch_bytes / 1e6:.1f} MB. Sum K*K shifted slices instead of building patches."
)
### BEGIN HIDDEN TESTS
for batch_, height_, width_, chans_, k_, s_, g_ in [(3, 9, 7, 8, 5, 2, 4), (1, 11, 6, 6, 7, 1, 2), (2, 5, 5, 4, 3, 2, 1)]:
    hidden_x = np.random.default_rng(height_ * width_).normal(size=(batch_, height_, width_, chans_))
    hidden_layer = keras_involution(init_params(chans_, kernel_size=k_, groups=g_, seed=k_), k_, stride=s_, groups=g_)
    hidden_kernel = keras_kernel(hidden_layer, hidden_x)
    checks.assert_close(
        involution_forward(hidden_x, hidden_kernel, stride=s_),
        involution_unfold(hidden_x, hidden_kernel, stride=s_),
        atol=1e-6,
        name=f"your vectorised involution for x {hidden_x.shape}, K={k_}, stride={s_}, groups={g_}",
    )
hidden_big = np.random.default_rng(5).normal(size=(1, 33, 33, 8))
hidden_used = peak_bytes(involution_forward, hidden_big, np.ones((1, 17, 17, 2, 7, 7)), 2)
assert hidden_used < hidden_big.nbytes * 49 / 4 / 4, f"stride 2: peak {hidden_used / 1e6:.1f} MB, too close to a patch tensor"
### END HIDDEN TESTS
print("Your vectorised involution matches, without a patch tensor.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_cost", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### What vectorising buys
#
# The cell below times the three versions on the same input and kernel (the fastest of a few runs)
# and measures the peak memory of the two vectorised ones with `tracemalloc`.

# %% nbgrader={"grade": false, "grade_id": "cost", "locked": true, "schema_version": 3, "solution": false, "task": false}
cost_x = rng.normal(size=(2, 32, 32, 16))
cost_kernel = rng.normal(size=(2, 32, 32, 1, 7, 7))
versions = {
    "loops (involution_naive)": involution_naive,
    "shifted slices (involution_forward)": involution_forward,
    "unfold (involution_unfold)": involution_unfold,
}
seconds, megabytes = {}, {}
for name in progress_bar(versions, desc="timing"):
    runs = 1 if "naive" in name else 3 * profile.repeats
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        versions[name](cost_x, cost_kernel)
        timings.append(time.perf_counter() - start)
    seconds[name] = min(timings)
    # tracemalloc slows every small allocation, so the loops' memory is not measured.
    megabytes[name] = float("nan") if "naive" in name else peak_bytes(versions[name], cost_x, cost_kernel) / 1e6
agreement = np.max(np.abs(involution_forward(cost_x, cost_kernel) - involution_naive(cost_x, cost_kernel)))

print(f"input {cost_x.shape}, K = 7, one group")
for name in versions:
    memory = "" if np.isnan(megabytes[name]) else f"   peak {megabytes[name]:7.2f} MB"
    print(f"  {name:38s} {seconds[name] * 1e3:9.2f} ms{memory}")
print(f"largest difference between shifted slices and loops: {agreement:.1e}")
speed_up = seconds["loops (involution_naive)"] / seconds["shifted slices (involution_forward)"]
unfold_ratio = seconds["unfold (involution_unfold)"] / seconds["shifted slices (involution_forward)"]
memory_ratio = megabytes["unfold (involution_unfold)"] / megabytes["shifted slices (involution_forward)"]
ic.record("shifted slices speed-up over loops", speed_up, "x")
ic.record("unfold time / shifted slices time", unfold_ratio, "x")
ic.record("unfold peak memory / shifted slices peak memory", memory_ratio, "x")
display(involution_figures.cost_bars(list(versions), list(seconds.values()), list(megabytes.values())))

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_cost_after", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The numbers above come from this run. Both vectorised versions leave the loops far behind, because
# each Python-level step now processes a whole array. Between the two, the unfold version copies
# $K^2 = 49$ windows into a patch tensor before it multiplies; the shifted-slices version reads each
# slice in place and only ever holds arrays the size of the output, which is why its peak memory is
# smaller by the printed ratio. Deep learning frameworks face the same trade-off: the course's Keras layer
# (notebook 03) uses shifted slices, while the Keras example's layer unfolds with
# `tf.image.extract_patches`.
#
# ### How this definition differs from the Keras example
#
# The Keras example "Involutional neural networks" computes the same operator with two conventions
# that differ from the paper's official code, which the course follows:
#
# * **Groups.** The example reshapes the channel axis as $(C/G, G)$, so channel $c$ belongs to group
#   $c \bmod G$ (interleaved); the course uses contiguous blocks, $g(c) = \lfloor c / (C/G) \rfloor$.
#   With $G = 1$ every channel is in group 0 and the two agree.
# * **Stride.** The example extracts patches with `"SAME"` padding, which for stride 2 on an even size
#   pads only the bottom and right. Its window of output $(i, j)$ is then centred on input pixel
#   $(2i + 1, 2j + 1)$ instead of $(2i, 2j)$: a grid shifted by one pixel. With $s = 1$ the padding is
#   symmetric and the two agree.
#
# So for $G = 1$ and $s = 1$, the setting of the example's network, both give identical outputs for
# identical weights; for $G > 1$ or $s > 1$ weights cannot be moved between them without permuting
# channels or shifting the grid.

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_ex4", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 5 · The backward pass
#
# Training needs the gradient of a scalar loss $L$ with respect to everything upstream. Write
# $\bar{A} = \partial L / \partial A$ for an array $A$; you are given $\bar Y$ (`grad_out`).
#
# **Through the multiply-add.** $Y$ is linear in $X$ for a fixed kernel and linear in $\mathcal{H}$ for a
# fixed input, so each product $X^{pad}_{b, is+k_i, js+k_j, c}\, \mathcal{H}_{b,i,j,g(c),k_i,k_j}$ passes
# $\bar Y_{b,i,j,c}$ times the other factor back to each factor:
#
# $$\bar{\mathcal{H}}_{b,i,j,g,k_i,k_j} = \sum_{c \in g} \bar Y_{b,i,j,c}\; X^{pad}_{b,\,is+k_i,\,js+k_j,\,c}, \qquad
# \bar X^{pad}_{b,\,is+k_i,\,js+k_j,\,c} \mathrel{+}= \bar Y_{b,i,j,c}\; \mathcal{H}_{b,i,j,g(c),k_i,k_j}.$$
#
# An input pixel sits in up to $K^2$ windows, so its gradient accumulates ($+=$) over them; the
# padding's gradient is then cropped away. The same shifted slices as in the forward pass do both
# sums.
#
# **Through kernel generation.** In code every pixel is a row vector, so the $1 \times 1$ convolutions
# multiply from the right by $V_0 = W_0^{\top}$ (`reduce_w`, $C \times C_r$) and $V_1 = W_1^{\top}$
# (`span_w`, $C_r \times K^2 G$). Run the chain rule backwards through
# $P = \mathrm{pool}(X)$, $Z = P V_0 + b_0$, $N = \gamma (Z - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta$,
# $A = \max(N, 0)$, $S = A V_1 + b_1$, with $\bar S$ the kernel's gradient reshaped to
# $(B, H_{out}, W_{out}, K^2 G)$:
#
# $$\bar V_1 = \sum_{b,i,j} A_{b,i,j}^{\top} \bar S_{b,i,j}, \quad \bar b_1 = \sum_{b,i,j} \bar S_{b,i,j}, \quad
# \bar N = (\bar S V_1^{\top}) \odot [N > 0], \quad \bar Z = \bar N \odot \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}},$$
#
# $$\bar V_0 = \sum_{b,i,j} P_{b,i,j}^{\top} \bar Z_{b,i,j}, \quad \bar b_0 = \sum_{b,i,j} \bar Z_{b,i,j}, \quad \bar P = \bar Z V_0^{\top}.$$
#
# Average pooling spreads $\bar P_{b,i,j}$ evenly over the pixels of its block: each of the $n_{ij}$
# pixels that exist in block $(i,j)$ gets $\bar P_{b,i,j} / n_{ij}$. Flattening $(B, H, W, \cdot)$ to
# rows makes each sum over $b,i,j$ one matrix product.
#
# **Exercise 4 (4 points).** Write
#
# * `involution_backward(x, kernel, grad_out, stride=1)` returning `(grad_x, grad_kernel)` for the
#   multiply-add alone (kernel held fixed);
# * `average_pool_backward(grad_pooled, input_shape, stride)`, the gradient of `average_pool`;
# * `generate_kernel_backward(x, params, grad_kernel, kernel_size, stride=1, groups=1)` returning a
#   dict with the gradients `"reduce_w"`, `"reduce_b"`, `"span_w"`, `"span_b"` and `"x"` (the part of
#   the input's gradient that flows through kernel generation). Recompute the forward values you need.
#
# The input's full gradient in a layer is the sum of both parts. The tests compare your gradients with
# centred differences, $\frac{L(\theta + \varepsilon) - L(\theta - \varepsilon)}{2\varepsilon}$ for each entry,
# computed by `checks.grad_check` in float64: the relative error $\|a - n\| / (\|a\| + \|n\|)$ between
# your gradient $a$ and the numerical one $n$ must be below $10^{-6}$.

# %% nbgrader={"grade": false, "grade_id": "ex4_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def involution_backward(x, kernel, grad_out, stride=1):
    """Gradients (grad_x, grad_kernel) of a loss, given grad_out = dL/d(involution output)."""
    ### BEGIN SOLUTION
    height, width = x.shape[1:3]
    n_batch, rows_out, cols_out, n_groups, size = kernel.shape[:5]
    half = (size - 1) // 2
    padded = np.pad(x, [(0, 0), (half, half), (half, half), (0, 0)])
    grouped = padded.reshape(*padded.shape[:3], n_groups, -1)  # (B, H+2p, W+2p, G, C/G)
    grad_grouped_input = np.zeros_like(grouped)
    upstream = grad_out.reshape(n_batch, rows_out, cols_out, n_groups, -1)
    grad_kernel = np.zeros_like(kernel)
    for ki in range(size):
        for kj in range(size):
            tap_rows = slice(ki, ki + stride * (rows_out - 1) + 1, stride)
            tap_cols = slice(kj, kj + stride * (cols_out - 1) + 1, stride)
            grad_kernel[..., ki, kj] = np.sum(grouped[:, tap_rows, tap_cols] * upstream, axis=-1)
            grad_grouped_input[:, tap_rows, tap_cols] += upstream * kernel[:, :, :, :, ki, kj, None]
    grad_padded = grad_grouped_input.reshape(padded.shape)
    return grad_padded[:, half : half + height, half : half + width], grad_kernel
    ### END SOLUTION


def average_pool_backward(grad_pooled, input_shape, stride):
    """Gradient with respect to average_pool's input, of shape input_shape."""
    ### BEGIN SOLUTION
    if stride == 1:
        return grad_pooled
    height, width = input_shape[1:3]
    rows_out, cols_out = grad_pooled.shape[1:3]
    valid = np.zeros((rows_out * stride, cols_out * stride))
    valid[:height, :width] = 1.0
    pixels_per_block = valid.reshape(rows_out, stride, cols_out, stride).sum(axis=(1, 3))
    shared = grad_pooled / pixels_per_block[None, :, :, None]
    spread = np.repeat(np.repeat(shared, stride, axis=1), stride, axis=2)
    return spread[:, :height, :width]
    ### END SOLUTION


def generate_kernel_backward(x, params, grad_kernel, kernel_size, stride=1, groups=1):
    """Gradients of a loss through kernel generation, given grad_kernel = dL/d(kernel)."""
    ### BEGIN SOLUTION
    scale = params["bn_gamma"] / np.sqrt(params["bn_var"] + BN_EPSILON)
    pooled = average_pool(x, stride)
    normalised = scale * (pooled @ params["reduce_w"] + params["reduce_b"] - params["bn_mean"]) + params["bn_beta"]
    activated = np.maximum(normalised, 0.0)
    batch, out_h, out_w = grad_kernel.shape[:3]
    grad_span = grad_kernel.reshape(batch, out_h, out_w, -1)
    grad_normalised = (grad_span @ params["span_w"].T) * (normalised > 0)
    grad_reduced = grad_normalised * scale
    rows_of = lambda array: array.reshape(-1, array.shape[-1])  # noqa: E731
    return {
        "span_w": rows_of(activated).T @ rows_of(grad_span),
        "span_b": rows_of(grad_span).sum(axis=0),
        "reduce_w": rows_of(pooled).T @ rows_of(grad_reduced),
        "reduce_b": rows_of(grad_reduced).sum(axis=0),
        "x": average_pool_backward(grad_reduced @ params["reduce_w"].T, x.shape, stride),
    }
    ### END SOLUTION


# Try it: with all-ones arrays, each input pixel's gradient counts the windows it belongs to.
print(involution_backward(np.ones((1, 3, 3, 1)), np.ones((1, 3, 3, 1, 3, 3)), np.ones((1, 3, 3, 1)))[0][0, :, :, 0])


# %% nbgrader={"grade": true, "grade_id": "ex4_test_multiply_add", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def check_multiply_add_gradients(shape, kernel_size, stride, groups, seed, samples=None):
    """Relative errors of involution_backward against centred differences of involution_unfold."""
    case_rng = np.random.default_rng(seed)
    out_h, out_w = -(-shape[1] // stride), -(-shape[2] // stride)
    x = case_rng.normal(size=shape)
    kernel = case_rng.normal(size=(shape[0], out_h, out_w, groups, kernel_size, kernel_size))
    weights = case_rng.normal(size=(shape[0], out_h, out_w, shape[3]))  # L = sum(weights * Y)
    grad_x, grad_kernel = involution_backward(x, kernel, weights, stride)
    error_x = checks.grad_check(lambda v: np.sum(weights * involution_unfold(v, kernel, stride)), x, grad_x, samples=samples)
    error_k = checks.grad_check(
        lambda v: np.sum(weights * involution_unfold(x, v, stride)), kernel, grad_kernel, samples=samples
    )
    return error_x, error_k


error_x, error_k = check_multiply_add_gradients((1, 5, 5, 2), 3, 1, 1, seed=0)
print(f"relative errors: grad_x {error_x:.1e}, grad_kernel {error_k:.1e}")
assert error_x < 1e-6, f"grad_x differs from the numerical gradient: relative error {error_x:.1e} (needs < 1e-6)"
assert error_k < 1e-6, f"grad_kernel differs from the numerical gradient: relative error {error_k:.1e} (needs < 1e-6)"
### BEGIN HIDDEN TESTS
for hidden_shape, k_, s_, g_ in [((2, 7, 5, 4), 3, 2, 2), ((1, 6, 6, 4), 5, 1, 4), ((2, 5, 6, 2), 7, 2, 1)]:
    hidden_errors = check_multiply_add_gradients(hidden_shape, k_, s_, g_, seed=k_ + s_, samples=40)
    assert max(hidden_errors) < 1e-6, f"gradients wrong for x {hidden_shape}, K={k_}, stride={s_}, groups={g_}: {hidden_errors}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "ex4_test_generation", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
GRADIENT_NAMES = ("reduce_w", "reduce_b", "span_w", "span_b", "x")


def generation_case(shape, kernel_size, stride, groups, reduction_ratio, seed):
    """An input, weights, their Keras layer, the loss weights R of L = sum(R * kernel) and your gradients."""
    case_rng = np.random.default_rng(seed)
    x = case_rng.normal(size=shape)
    params = init_params(shape[3], kernel_size, groups, reduction_ratio, seed=seed)
    layer = keras_involution(params, kernel_size, stride=stride, groups=groups)
    weights = case_rng.normal(size=keras_kernel(layer, x).shape)
    grads = generate_kernel_backward(x, params, weights, kernel_size, stride, groups)
    missing = set(GRADIENT_NAMES) - set(grads)
    assert not missing, f"generate_kernel_backward must also return the gradients {sorted(missing)}"
    return x, params, layer, weights, grads


x_gen, params_gen, layer_gen, weights_gen, grads_gen = generation_case((1, 4, 4, 4), 3, 1, 1, 2, seed=0)


def kernel_loss(_):
    """L = sum(R * kernel) for the current params_gen and x_gen, through the Keras layer."""
    set_keras_weights(layer_gen, params_gen)
    return np.sum(weights_gen * keras_kernel(layer_gen, x_gen))


generation_errors = {
    name: checks.grad_check(kernel_loss, x_gen if name == "x" else params_gen[name], grads_gen[name], samples=6, name=name)
    for name in GRADIENT_NAMES
}
print("relative errors: " + ", ".join(f"{name} {error:.1e}" for name, error in generation_errors.items()))
for name, error in generation_errors.items():
    assert error < 1e-6, f"the gradient for {name} differs from the numerical one: relative error {error:.1e} (needs < 1e-6)"
### BEGIN HIDDEN TESTS
for hidden_shape, k_, s_, g_, r_ in [((2, 5, 7, 8), 3, 2, 2, 4), ((1, 6, 6, 8), 5, 2, 4, 2), ((3, 5, 5, 4), 7, 1, 1, 1)]:
    hidden_case = generation_case(hidden_shape, k_, s_, g_, r_, seed=s_ * g_)
    hidden_x, _, hidden_layer, hidden_weights, hidden_grads = hidden_case
    hidden_input = tf.Variable(hidden_x)
    hidden_sources = [hidden_layer.reduce.kernel, hidden_layer.reduce.bias, hidden_layer.span.kernel, hidden_layer.span.bias]
    with tf.GradientTape() as hidden_tape:
        hidden_loss = tf.reduce_sum(hidden_weights * hidden_layer.generate_kernel(hidden_input))
    hidden_tf = hidden_tape.gradient(hidden_loss, [v.value for v in hidden_sources] + [hidden_input])
    for hidden_name, hidden_reference in zip(GRADIENT_NAMES, hidden_tf):
        hidden_error = checks.relative_error(hidden_grads[hidden_name], np.asarray(hidden_reference).reshape(hidden_grads[hidden_name].shape))
        assert hidden_error < 1e-6, f"{hidden_name} for x {hidden_shape}, K={k_}, stride={s_}, groups={g_}: relative error {hidden_error:.1e}"
### END HIDDEN TESTS
print("Your gradients through kernel generation match the numerical ones.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_ex5", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 6 · Counting parameters and multiply-adds
#
# A convolution from $C$ to $C$ channels with a $K \times K$ kernel (and a bias) has $K^2 C^2 + C$
# parameters and performs $K^2 C^2$ multiply-adds at each of its $H_{out} W_{out}$ output positions.
#
# An involution layer's parameters are those of kernel generation only: the reduce convolution
# ($C C_r + C_r$), the batch normalisation's trainable scale and shift ($2 C_r$; its running mean and
# variance are statistics, not trained) and the span convolution ($C_r K^2 G + K^2 G$). Per output
# position it performs $C C_r$ multiply-adds to reduce, $C_r K^2 G$ to span, and $K^2 C$ in the
# multiply-add itself. (Pooling, batch normalisation and ReLU cost a few operations per channel,
# which we leave out, as is usual.)
#
# **Exercise 5 (2 points).** Write `involution_params(channels, kernel_size, groups, reduction_ratio)`,
# `involution_macs(height, width, channels, kernel_size, groups, reduction_ratio, stride=1)`,
# `conv_params(channels, kernel_size)` and `conv_macs(height, width, channels, kernel_size, stride=1)`
# (output size $\lceil H/s \rceil \times \lceil W/s \rceil$ for both operators). Each returns an `int`.

# %% nbgrader={"grade": false, "grade_id": "ex5_counting", "locked": false, "schema_version": 3, "solution": true, "task": false}
def involution_params(channels, kernel_size, groups, reduction_ratio):
    """Trainable parameters of an involution layer."""
    ### BEGIN SOLUTION
    c_r = max(1, channels // reduction_ratio)
    span_channels = kernel_size**2 * groups
    return (channels + 1) * c_r + 2 * c_r + (c_r + 1) * span_channels
    ### END SOLUTION


def involution_macs(height, width, channels, kernel_size, groups, reduction_ratio, stride=1):
    """Multiply-adds of an involution layer on one H x W x C input."""
    ### BEGIN SOLUTION
    c_r = max(1, channels // reduction_ratio)
    n_positions = -(-height // stride) * -(-width // stride)
    return n_positions * (channels * c_r + c_r * kernel_size**2 * groups + kernel_size**2 * channels)
    ### END SOLUTION


def conv_params(channels, kernel_size):
    """Parameters of a C -> C convolution with a K x K kernel and a bias."""
    ### BEGIN SOLUTION
    return kernel_size**2 * channels**2 + channels
    ### END SOLUTION


def conv_macs(height, width, channels, kernel_size, stride=1):
    """Multiply-adds of a C -> C convolution on one H x W x C input."""
    ### BEGIN SOLUTION
    n_positions = -(-height // stride) * -(-width // stride)
    return n_positions * kernel_size**2 * channels**2
    ### END SOLUTION


# Try it: one involution layer of the Keras example's network (C=3, K=3, G=1, r=2).
print(involution_params(3, 3, 1, 2), "parameters")


# %% nbgrader={"grade": true, "grade_id": "ex5_test_counting", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def keras_trainable(layer, channels):
    """Trainable parameter count of a Keras layer built for ``channels`` input channels."""
    layer.build((None, None, None, channels))
    return int(sum(np.prod(weight.shape) for weight in layer.trainable_weights))


for answer, expected, what in [
    (involution_params(64, 7, 4, 4), keras_trainable(Involution(7, 1, 4, 4), 64), "involution_params(64, 7, 4, 4)"),
    (conv_params(64, 7), keras_trainable(keras.layers.Conv2D(64, 7), 64), "conv_params(64, 7)"),
    (involution_macs(56, 56, 64, 7, 4, 4), 56 * 56 * (64 * 16 + 16 * 49 * 4 + 49 * 64), "involution_macs(56, 56, 64, 7, 4, 4)"),
    (conv_macs(56, 56, 64, 7), 56 * 56 * 49 * 64 * 64, "conv_macs(56, 56, 64, 7)"),
]:
    assert answer == expected, f"{what} should be {expected:,}; got {answer!r}"
### BEGIN HIDDEN TESTS
for c_, k_, g_, r_ in [(3, 3, 1, 2), (16, 5, 2, 4), (7, 3, 7, 8), (32, 7, 1, 1)]:
    assert involution_params(c_, k_, g_, r_) == keras_trainable(Involution(k_, 1, g_, r_), c_), f"involution_params({c_}, {k_}, {g_}, {r_})"
    assert conv_params(c_, k_) == keras_trainable(keras.layers.Conv2D(c_, k_), c_), f"conv_params({c_}, {k_})"
    hidden_reduced = max(1, c_ // r_)
    for h_, w_, s_ in [(32, 32, 1), (41, 57, 2), (7, 9, 2)]:
        hidden_positions = -(-h_ // s_) * -(-w_ // s_)
        hidden_inv = hidden_positions * (c_ * hidden_reduced + hidden_reduced * k_ * k_ * g_ + k_ * k_ * c_)
        assert involution_macs(h_, w_, c_, k_, g_, r_, s_) == hidden_inv, f"involution_macs({h_}, {w_}, {c_}, {k_}, {g_}, {r_}, {s_})"
        assert conv_macs(h_, w_, c_, k_, s_) == hidden_positions * k_ * k_ * c_ * c_, f"conv_macs({h_}, {w_}, {c_}, {k_}, {s_})"
### END HIDDEN TESTS
print("Your counts are right.")

# %% nbgrader={"grade": false, "grade_id": "counting_table", "locked": true, "schema_version": 3, "solution": false, "task": false}
print(f"{'layer, 56 x 56 x 64 input':34s} {'parameters':>12s} {'multiply-adds':>16s}")
table = {}
for k_ in (3, 7):
    table[f"convolution {k_}x{k_}"] = (conv_params(64, k_), conv_macs(56, 56, 64, k_))
    table[f"involution {k_}x{k_}, G=4, r=4"] = (involution_params(64, k_, 4, 4), involution_macs(56, 56, 64, k_, 4, 4))
for name, (n_params, n_macs) in table.items():
    print(f"{name:34s} {n_params:12,d} {n_macs:16,d}")
param_ratio = table["convolution 7x7"][0] / table["involution 7x7, G=4, r=4"][0]
mac_ratio = table["convolution 7x7"][1] / table["involution 7x7, G=4, r=4"][1]
ic.record("7x7 convolution / involution parameters (C=64)", param_ratio, "x")
ic.record("7x7 convolution / involution multiply-adds (C=64)", mac_ratio, "x")

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_counting_after", "locked": true, "schema_version": 3, "solution": false, "task": false}
# A convolution's cost grows with $K^2 C^2$: every output channel looks at every input channel through
# its own $K \times K$ kernel. Involution's multiply-add grows only with $K^2 C$, because the kernel is
# shared by all channels of a group; what it spends instead is kernel generation, $C C_r + C_r K^2 G$ per
# position, which is small while $G \ll C$. The printed ratios show the consequence: at $C = 64$ a
# $7 \times 7$ involution is tens of times cheaper than a $7 \times 7$ convolution in both parameters and
# multiply-adds, so large kernels, which a convolution can hardly afford, become affordable. The
# price is elsewhere: involution mixes no information across channels, which is why RedNet (notebook
# 04) places $1 \times 1$ convolutions around it.

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_ex6", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 7 · Location-specific, shown
#
# Nothing in an involution layer's weights mentions $H$ or $W$: $W_0$ and $W_1$ act on one pixel's
# channel vector. With stride 1, the kernel at $(i, j)$ is $\phi(X_{i,j})$, a function of that pixel
# alone, so the layer accepts any image size, and two positions can only get different kernels when
# their pixels differ.
#
# **Exercise 6 (2 points).** Write `kernels_at(x, params, positions, kernel_size, groups=1)` which,
# for stride 1, returns the kernels at the listed `(row, col)` positions only, shape
# `(B, len(positions), G, K, K)`, computed from the pixels at those positions (do not generate the
# kernel for the whole image). Fancy indexing `x[:, rows, cols]` gathers the pixels.

# %% nbgrader={"grade": false, "grade_id": "ex6_kernels_at", "locked": false, "schema_version": 3, "solution": true, "task": false}
def kernels_at(x, params, positions, kernel_size, groups=1):
    """The stride-1 involution kernels (B, n, G, K, K) at the n (row, col) positions of x."""
    ### BEGIN SOLUTION
    rows = np.array([row for row, _ in positions])
    cols = np.array([col for _, col in positions])
    pixels = x[:, rows, cols]  # (B, n, C)
    reduced = pixels @ params["reduce_w"] + params["reduce_b"]
    scale = params["bn_gamma"] / np.sqrt(params["bn_var"] + BN_EPSILON)
    activated = np.maximum(scale * (reduced - params["bn_mean"]) + params["bn_beta"], 0.0)
    spanned = activated @ params["span_w"] + params["span_b"]
    return spanned.reshape(x.shape[0], len(positions), groups, kernel_size, kernel_size)
    ### END SOLUTION


# Try it: kernels at two positions of a random 41 x 57 image.
print(kernels_at(rng.normal(size=(1, 41, 57, 4)), init_params(4, seed=5), [(0, 0), (40, 56)], 3).shape)


# %% nbgrader={"grade": true, "grade_id": "ex6_test_kernels_at", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
params_sizes = init_params(3, kernel_size=3, groups=1, reduction_ratio=2, seed=6)
layer_sizes = keras_involution(params_sizes, 3)
for size in [(32, 32), (41, 57)]:
    x_size = rng.normal(size=(1, *size, 3))
    spots = [(0, 0), (size[0] // 2, size[1] // 3), (size[0] - 1, size[1] - 1)]
    chosen = kernels_at(x_size, params_sizes, spots, 3)
    checks.assert_shape(chosen, (1, 3, 1, 3, 3), f"kernels_at on a {size} image at 3 positions")
    full = keras_kernel(layer_sizes, x_size)
    expected = np.stack([full[:, r, c] for r, c in spots], axis=1)
    checks.assert_close(chosen, expected, atol=1e-8, name=f"your kernels on a {size} image")
### BEGIN HIDDEN TESTS
hidden_x = np.random.default_rng(60).normal(size=(3, 13, 19, 8))
hidden_x[:, 4, 7] = hidden_x[:, 10, 2]  # two equal pixels must get equal kernels
hidden_params = init_params(8, kernel_size=5, groups=4, reduction_ratio=2, seed=61)
hidden_spots = [(4, 7), (10, 2), (12, 18), (0, 5)]
hidden_full = keras_kernel(keras_involution(hidden_params, 5, groups=4), hidden_x)
checks.assert_close(
    kernels_at(hidden_x, hidden_params, hidden_spots, 5, groups=4),
    np.stack([hidden_full[:, r, c] for r, c in hidden_spots], axis=1),
    atol=1e-8,
    name="kernels for B=3, K=5, G=4",
)
### END HIDDEN TESTS
print("Your kernels match the Keras layer's at those positions, for both image sizes.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_location_demo", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The same weights on two real CIFAR-10 images of different sizes ($32 \times 32$, and a second image
# upsampled twofold and cropped to $41 \times 57$), then the kernels at three positions of the first
# image. For each pair of positions the cell prints how far apart the two pixels are, how far apart
# the two involution kernels are, and the same for a convolution of the same kernel size, whose
# weights on each window it reads off as the gradient of its output there with respect to the input.

# %% nbgrader={"grade": false, "grade_id": "location_demo", "locked": true, "schema_version": 3, "solution": false, "task": false}
(_, _), (test_images, _) = ic.load_profile_data()
image = test_images[0].astype(np.float64) / 255.0
large = np.repeat(np.repeat(test_images[1].astype(np.float64) / 255.0, 2, axis=0), 2, axis=1)[:41, :57]
demo_params = init_params(3, kernel_size=7, groups=1, reduction_ratio=1, seed=7)
for picture in (image, large):
    demo_kernel = generate_kernel(picture[None], demo_params, 7)
    demo_out = involution_forward(picture[None], demo_kernel)
    print(f"input {picture.shape} -> kernel {demo_kernel.shape}, output {demo_out.shape}")

demo_positions = [(8, 8), (16, 24), (26, 12)]
demo_kernel = generate_kernel(image[None], demo_params, 7)[0]
picked = np.stack([demo_kernel[r, c, 0] for r, c in demo_positions])

# A convolution's weights on the window at (r, c): the gradient of its output there with respect
# to the input, cut to the 7 x 7 window (input channel 0, output channel 0).
conv = keras.layers.Conv2D(1, 7, padding="same", dtype="float64")
image_variable = tf.Variable(image[None])


def conv_weights_at(row, col):
    with tf.GradientTape() as tape:
        response = conv(image_variable)[0, row, col, 0]
    return tape.gradient(response, image_variable).numpy()[0, row - 3 : row + 4, col - 3 : col + 4, 0]


print(f"{'positions':22s} {'pixels':>8s} {'involution kernels':>19s} {'convolution kernels':>20s}")
gaps = []
for a, b in [(0, 1), (0, 2), (1, 2)]:
    (ra, ca), (rb, cb) = demo_positions[a], demo_positions[b]
    pixel_gap = np.linalg.norm(image[ra, ca] - image[rb, cb])
    involution_gap = np.linalg.norm(picked[a] - picked[b])
    conv_gap = np.linalg.norm(conv_weights_at(ra, ca) - conv_weights_at(rb, cb))
    gaps.append((involution_gap, conv_gap))
    print(f"{str(demo_positions[a]) + ' ' + str(demo_positions[b]):22s} {pixel_gap:8.3f} {involution_gap:19.3f} {conv_gap:20.3f}")
ic.record("largest distance between involution kernels at two positions", max(g for g, _ in gaps))
ic.record("largest distance between convolution kernels at two positions", max(g for _, g in gaps))
display(involution_figures.kernels_at_positions(image, picked, demo_positions))

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_location_after", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Both image sizes work with the same weights. The convolution's kernel distances are exactly zero:
# it applies one kernel everywhere. The involution's are not, and they follow the pixels: positions
# whose colours are close get similar kernels, positions whose colours differ get different ones. That
# is what *location-specific* means here: the kernel is not tied to a coordinate but generated from
# the content found there (with random weights in this notebook; notebook 05 looks at trained ones).

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Summary
#
# * Involution applies, at each position, a $K \times K$ kernel generated from the input there by a
#   small network ($1 \times 1$ reduce, batch normalisation, ReLU, $1 \times 1$ span), and shares it across
#   the channels of a group: location-specific and channel-agnostic, the inverse of convolution.
# * Its multiply-add vectorises as a sum of $K^2$ shifted slices times kernel planes, which is as exact as
#   the loops, far faster, and needs much less memory than an unfold with a patch tensor (measured above).
# * Its backward pass is the same sum run in reverse, then the chain rule through kernel generation;
#   centred differences in float64 confirm it to better than $10^{-6}$.
# * Its parameters and multiply-adds grow with $K^2 C$ where a convolution's grow with $K^2 C^2$, and its
#   weights do not depend on the image size.
#
# Notebook 03 builds the same operator as a Keras layer and trains it.
#
# ## Submitting
#
# Save the notebook (File > Save), then submit the `.ipynb` file. On Colab: File > Download >
# Download .ipynb, then upload that file to the course's platform. Before you submit, run
# Kernel > Restart & Run All and check that every test cell runs without an error.
