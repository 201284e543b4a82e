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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/involution-course/involution-course-student/blob/main/notebooks/02-involution-numpy/02-involution-numpy.ipynb)
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
# Every symbol follows the course's [notation table](https://involution-course.github.io/involution-course-student/notation.html).
#
# Run the cells in order. Exercises are marked **Exercise**; write your answer where the cell says
# `# YOUR CODE HERE`, then run the tests below it. Visible tests help you. When your notebook is graded,
# the grader calls your functions again on inputs you have not seen and judges what they return in its
# own process, outside your notebook. Every rule it applies is stated in the exercise and checked by a
# visible test, so read each exercise's text closely and test your code beyond the visible tests.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Set-up: on Colab the first run installs the course (about a minute); elsewhere this only imports it.
try:
    import involution_course as ic
except ModuleNotFoundError:  # a fresh Colab runtime
    # %pip install --quiet --no-deps "involution-course @ git+https://github.com/involution-course/involution-course-student@main"
    import involution_course as ic
from involution_course.colab import prepare_colab

prepare_colab()  # on Colab: install what the runtime lacks
profile = ic.setup_notebook()

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import keras
import numpy as np
import tensorflow as tf
from IPython.display import display

from involution_course import checks, code_rules
from involution_course.convolution import median_time
from involution_course.figures import involution as involution_figures

rng = np.random.default_rng(0)

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_operator", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1 · From convolution to involution
#
# In notebook 01 you wrote a convolution. With input $X \in \mathbb{R}^{H \times W \times C_\text{in}}$ (zero
# outside the image), an odd $K \times K$ kernel $\mathcal{F} \in \mathbb{R}^{K \times K \times C_\text{in} \times C_\text{out}}$
# (Keras' layout), biases $b_o$, stride $s$ and $\Delta_K = \{-\lfloor K/2 \rfloor, \dots, \lfloor K/2 \rfloor\}^2$
# the offsets $(u, v)$ of a window,
#
# $$Y_{i,j,o} = b_o + \sum_{c=0}^{C_\text{in}-1} \sum_{(u,v) \in \Delta_K} \mathcal{F}_{u,v,c,o}\, X_{s i+u,\, s j+v,\, c}.$$
#
# The kernel does not depend on the position $(i,j)$ (*spatial-agnostic*) but has a different slice
# for every output channel $o$ (*channel-specific*). **Involution** (Li et al., CVPR 2021) inverts
# both properties. Its kernel $\mathcal{H} \in \mathbb{R}^{H_{out} \times W_{out} \times G \times K \times K}$ has
# one $K \times K$ slice per position and per group of channels, and all $C/G$ channels of a group
# share it (*spatial-specific*, *channel-agnostic*):
#
# $$Y_{i,j,c} = \sum_{(u,v) \in \Delta_K} \mathcal{H}_{i,j,g(c),u,v}\, X_{s i+u,\, s j+v,\, c}, \qquad g(c) = \left\lfloor \frac{c}{C/G} \right\rfloor .$$
#
# The kernel size $K$ is **odd** (3, 5, 7, ...), so that every window has a centre pixel. With stride $s$
# the output has $\lceil H/s \rceil \times \lceil W/s \rceil$ positions; the window of output $(i,j)$ is
# centred on input pixel $(is, js)$, and the input is zero-padded by $(K-1)/2$ on each side.
# Channels form $G$ contiguous groups, as in the paper's official code.
#
# A kernel that changes with position cannot be a fixed set of weights, or the layer would only
# work at one image size. It is **generated from the input** at that position by a small network
# $\phi$ applied to the (average-pooled, when $s > 1$) pixel $\bar X_{i,j} \in \mathbb{R}^C$:
#
# $$\mathcal{H}_{i,j} = \phi(\bar X_{i,j}) = W_1\, \sigma\big(W_0 \bar X_{i,j} + b_0\big) + b_1,$$
#
# where $W_0 \in \mathbb{R}^{C_r \times C}$ reduces $C$ channels to $C_r = \max(1, \lfloor C/r \rfloor)$
# (the reduction ratio $r$), $\sigma$ is, as in the paper, batch normalisation followed by ReLU: $\sigma(z) = \max\big(\mathrm{BN}(z), 0\big)$, with BN
# in inference form $\mathrm{BN}(z) = \gamma \frac{z - \mu}{\sqrt{v + \epsilon}} + \beta$ ($\mu$ and $v$ the running mean and
# variance, $\epsilon = 10^{-3}$; section 5 comes back to training mode). In this notebook $\sigma$ always means this
# pair, never a standard deviation.
# Finally $W_1 \in \mathbb{R}^{K^2 G \times C_r}$ spans to one $K \times K$ kernel per group. Both $W_0$ and $W_1$ are $1 \times 1$ convolutions: the same matrix at every pixel.
# Output channel $g K^2 + k_i K + k_j$ of the span is the tap $(k_i, k_j)$ of group $g$'s kernel: in arrays,
# tap $(u, v)$ sits at index $(k_i, k_j) = (\lfloor K/2 \rfloor + u, \lfloor K/2 \rfloor + v)$.

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_weights", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### The weights
#
# An involution layer's weights are a dictionary of NumPy arrays. The $1 \times 1$ convolutions are
# stored as matrices that multiply the channel vector from the right, so that for an array `x` of
# shape `(B, H, W, C)`, `x @ params["reduce_w"]` applies $W_0$ at every pixel at once:
#
# | key | shape | role |
# |---|---|---|
# | `reduce_w`, `reduce_b` | `(C, C_r)`, `(C_r,)` | $W_0^{\top}$, $b_0$ |
# | `bn_gamma`, `bn_beta`, `bn_mean`, `bn_var` | `(C_r,)` each | $\gamma, \beta, \mu, v$ |
# | `span_w`, `span_b` | `(C_r, K·K·G)`, `(K·K·G,)` | $W_1^{\top}$, $b_1$ |
#
# The cell below gives you `init_params` (random weights of this form) and `average_pool` (the stride
# step of kernel generation: the mean of each $s \times s$ block, over the pixels that exist when $H$ or
# $W$ is not a multiple of $s$), and what the test cells use: the rules they check, and `memory_budget`,
# Exercise 3's allowance of memory. The visible tests check your code on small cases worked out by hand and
# on properties of the operator. When graded, what your functions return on fresh inputs is compared with
# the grader's own NumPy definitions of the operator. The course's Keras `Involution` layer (notebook 03)
# computes the same operator; every exercise here asks you to compute it yourself, without that layer or
# anything else of `involution_course.layers`, and each test cell checks this with
# `code_rules.assert_not_using`, which reads your function's code (and that of the functions of yours it calls).

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


# The rules the exercises state, as the visible tests check them.
COURSE_LAYER, COURSE_MODULES = {"Involution"}, ["involution_course.layers"]
OWN_INVOLUTION = "compute it yourself with NumPy, without the course's Involution layer"
AUTODIFF = COURSE_LAYER | {"GradientTape", "grad_check", "numerical_gradient"}
OWN_GRADIENT = "derive the gradient and compute it yourself with NumPy, without the course's layer or automatic or numerical differentiation"
GATHER_FIRST = "gather the pixels at the requested positions first, then compute their kernels from them alone"


def memory_budget(x, kernel, stride=1):
    """What a patch-free answer may hold at once: a kernel-sized copy, two padded inputs, four outputs (bytes)."""
    batch, out_h, out_w, _, size = kernel.shape[:5]
    half = (size - 1) // 2
    padded = batch * (x.shape[1] + 2 * half) * (x.shape[2] + 2 * half) * x.shape[3] * 8
    output = batch * out_h * out_w * x.shape[3] * 8
    patches = output * size * size
    return kernel.nbytes + 2 * padded + 4 * output, patches


def conv_kernels_for_figure(channels, kernel_size, seed=0):
    """A convolution's K x K kernels for output channels 0..channels-1 (input channel 0)."""
    return np.random.default_rng(seed).normal(size=(channels, kernel_size, kernel_size))


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
# Weights chosen by hand (C = 2, C_r = 1, K = 3): reduce adds the two channels, batch normalisation maps
# z to 2 (z - 1) / 2 + 0.5 = z - 0.5, ReLU keeps a = max(z - 0.5, 0), and the span gives tap (ki, kj) the
# value a * (3 ki + kj) - 1.
hand_params = {
    "reduce_w": np.array([[1.0], [1.0]]), "reduce_b": np.array([0.0]),
    "bn_gamma": np.array([2.0]), "bn_beta": np.array([0.5]), "bn_mean": np.array([1.0]), "bn_var": np.array([4.0 - BN_EPSILON]),
    "span_w": np.arange(9.0)[None], "span_b": np.full(9, -1.0),
}
taps = np.arange(9.0).reshape(3, 3)
# Pixels (1, 2), (0.25, 0), (-1, 1), (2, 0.5): a = 2.5, 0 (ReLU), 0 (ReLU), 2.
x_hand = np.array([[[[1.0, 2.0], [0.25, 0.0]], [[-1.0, 1.0], [2.0, 0.5]]]])
# Stride 2 on a 3 x 3 input whose only non-zero pixel is the corner (2, 2) = (3, 1): block (1, 1) holds that
# pixel alone (a = 3.5), the other blocks only zeros (a = 0).
x_corner = np.zeros((1, 3, 3, 2))
x_corner[0, 2, 2] = [3.0, 1.0]
hand_cases = [
    ("stride 1", (x_hand, hand_params, 3, 1, 1), np.array([[2.5, 0.0], [0.0, 2.0]])[None, :, :, None, None, None] * taps - 1),
    # One block, the mean pixel (0.5625, 0.875): a = 0.9375.
    ("stride 2", (x_hand, hand_params, 3, 2, 1), np.full((1, 1, 1, 1, 1, 1), 0.9375) * taps - 1),
    ("stride 2, 3 x 3 input", (x_corner, hand_params, 3, 2, 1), np.array([[0.0, 0.0], [0.0, 3.5]])[None, :, :, None, None, None] * taps - 1),
    # Two groups: span channel g * 9 + 3 ki + kj is tap (ki, kj) of group g; here its value is a * (g * 9 + 3 ki + kj).
    (
        "two groups",
        (x_hand, {**hand_params, "span_w": np.arange(18.0)[None], "span_b": np.zeros(18)}, 3, 1, 2),
        np.array([[2.5, 0.0], [0.0, 2.0]])[None, :, :, None, None, None] * np.arange(18.0).reshape(2, 3, 3),
    ),
]
for case, (x_case, params_case, k_case, s_case, g_case), expected in hand_cases:
    got = generate_kernel(x_case, params_case, k_case, stride=s_case, groups=g_case)
    checks.assert_shape(got, expected.shape, f"generate_kernel, {case}")
    checks.assert_close(got, expected, atol=1e-12, name=f"your kernel, {case}")
code_rules.assert_not_using(generate_kernel, COURSE_LAYER, COURSE_MODULES, rule=OWN_INVOLUTION)
print("Your kernel generation is right on these cases.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_sharing_figure", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Your `generate_kernel` at work. The figure shows which kernel each operator applies at three positions of
# a random image, to three channels: the involution kernels are yours, with random weights (one group).

# %% nbgrader={"grade": false, "grade_id": "sharing_figure", "locked": true, "schema_version": 3, "solution": false, "task": false}
figure_params = init_params(3, kernel_size=5, groups=1, reduction_ratio=1, seed=3)
figure_image = rng.normal(size=(1, 12, 12, 3))
figure_positions = [(2, 2), (6, 9), (10, 4)]
figure_kernel = generate_kernel(figure_image, figure_params, 5)
per_position = np.stack([figure_kernel[0, r, c, 0] for r, c in figure_positions])
display(
    involution_figures.weight_sharing(
        conv_kernels_for_figure(3, 5),
        np.repeat(per_position[:, None], 3, axis=1),
        figure_positions,
    )
)

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
# Small cases worked out by hand. A kernel of ones sums each window: with a 3 x 3 input of ones, the output
# counts the window's pixels inside the image.
ones_kernel = np.ones((1, 3, 3, 1, 3, 3))
# A kernel with a single 1, at the top-right tap (0, 2): output (i, j) is input (i - 1, j + 1), 0 outside.
corner_kernel = np.zeros((1, 3, 4, 1, 3, 3))
corner_kernel[..., 0, 2] = 1.0
# Only the centre tap, with a different value at every position: output = input times that value.
centre_values = np.random.default_rng(2).normal(size=(2, 4, 5))
centre_kernel = np.zeros((2, 4, 5, 1, 3, 3))
centre_kernel[:, :, :, 0, 1, 1] = centre_values
x_centre = np.random.default_rng(3).normal(size=(2, 4, 5, 3))
# Two groups of two channels: group 0's kernel is the centre tap, group 1's is zero (channels 0, 1 | 2, 3).
group_kernel = np.zeros((1, 3, 3, 2, 3, 3))
group_kernel[:, :, :, 0, 1, 1] = 1.0
x_groups = np.random.default_rng(4).normal(size=(1, 3, 3, 4))
# Stride 2 on 0..24 in a 5 x 5 input, centre tap: the pixels of even rows and columns.
stride_kernel = np.zeros((1, 3, 3, 1, 3, 3))
stride_kernel[..., 1, 1] = 1.0
hand_cases = [
    ("a kernel of ones", (np.ones((1, 3, 3, 1)), ones_kernel, 1), np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]], float)[None, :, :, None]),
    ("the top-right tap only", (np.arange(12.0).reshape(1, 3, 4, 1), corner_kernel, 1), np.array([[0, 0, 0, 0], [1, 2, 3, 0], [5, 6, 7, 0]], float)[None, :, :, None]),
    ("the centre tap, a value per position", (x_centre, centre_kernel, 1), x_centre * centre_values[..., None]),
    ("two groups", (x_groups, group_kernel, 1), x_groups * np.array([1.0, 1.0, 0.0, 0.0])),
    ("stride 2", (np.arange(25.0).reshape(1, 5, 5, 1), stride_kernel, 2), np.array([[0, 2, 4], [10, 12, 14], [20, 22, 24]], float)[None, :, :, None]),
]
for case, (x_case, kernel_case, s_case), expected in hand_cases:
    got = involution_naive(x_case, kernel_case, stride=s_case)
    checks.assert_shape(got, expected.shape, f"involution_naive, {case}")
    checks.assert_close(got, expected, atol=1e-12, name=f"involution_naive, {case}")
code_rules.assert_not_using(involution_naive, COURSE_LAYER, COURSE_MODULES, rule=OWN_INVOLUTION)
print("Your loop involution is right on these cases.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_ex3", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 4 · The multiply-add, vectorised without a patch tensor
#
# A common way to vectorise is to *unfold*: gather every $K \times K$ window into a patch tensor of
# shape $(B, H_{out}, W_{out}, K^2, C)$, multiply by the kernel and sum over the $K^2$ axis. That
# tensor is $K^2$ times larger than the input (49 times for $K = 7$); section "What vectorising buys"
# measures what building it costs.
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
# the same output as `involution_naive`, to $10^{-8}$, for every stride and number of groups; the timing
# cell after it prints the largest difference between your two versions. Two rules about how it works,
# each checked in the test cell; breaking either costs the exercise's points:
#
# * **No Python loop over images, positions or channels.** Two nested loops over the $K^2$ taps are fine,
#   and so is a third over the groups: at most three nested loops in all, counting those of the functions of
#   yours it calls. It calls neither `involution_naive` nor `extract_patches` (the unfold method's first
#   step, defined below). And `checks.python_lines` counts the Python lines your function runs, a count that
#   does not depend on how busy the machine is: on an input with about 64 to 100 times as many output values,
#   a vectorised version runs about as many lines (at most twice as many, plus 100), a loop far more.
# * **No patch tensor.** `checks.peak_bytes` measures the most memory your function holds at once, with
#   `tracemalloc`. The budget follows from the sizes involved: one copy of the kernel (reordering it is
#   fine), two padded inputs and four outputs. A patch tensor, $K^2$ outputs, does not fit.

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
# Small cases worked out by hand. A kernel of ones sums each window: with a 3 x 3 input of ones, the output
# counts the window's pixels inside the image.
ones_kernel = np.ones((1, 3, 3, 1, 3, 3))
# A kernel with a single 1, at the top-right tap (0, 2): output (i, j) is input (i - 1, j + 1), 0 outside.
corner_kernel = np.zeros((1, 3, 4, 1, 3, 3))
corner_kernel[..., 0, 2] = 1.0
# Only the centre tap, with a different value at every position: output = input times that value.
centre_values = np.random.default_rng(2).normal(size=(2, 4, 5))
centre_kernel = np.zeros((2, 4, 5, 1, 3, 3))
centre_kernel[:, :, :, 0, 1, 1] = centre_values
x_centre = np.random.default_rng(3).normal(size=(2, 4, 5, 3))
# Two groups of two channels: group 0's kernel is the centre tap, group 1's is zero (channels 0, 1 | 2, 3).
group_kernel = np.zeros((1, 3, 3, 2, 3, 3))
group_kernel[:, :, :, 0, 1, 1] = 1.0
x_groups = np.random.default_rng(4).normal(size=(1, 3, 3, 4))
# Stride 2 on 0..24 in a 5 x 5 input, centre tap: the pixels of even rows and columns.
stride_kernel = np.zeros((1, 3, 3, 1, 3, 3))
stride_kernel[..., 1, 1] = 1.0
hand_cases = [
    ("a kernel of ones", (np.ones((1, 3, 3, 1)), ones_kernel, 1), np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]], float)[None, :, :, None]),
    ("the top-right tap only", (np.arange(12.0).reshape(1, 3, 4, 1), corner_kernel, 1), np.array([[0, 0, 0, 0], [1, 2, 3, 0], [5, 6, 7, 0]], float)[None, :, :, None]),
    ("the centre tap, a value per position", (x_centre, centre_kernel, 1), x_centre * centre_values[..., None]),
    ("two groups", (x_groups, group_kernel, 1), x_groups * np.array([1.0, 1.0, 0.0, 0.0])),
    ("stride 2", (np.arange(25.0).reshape(1, 5, 5, 1), stride_kernel, 2), np.array([[0, 2, 4], [10, 12, 14], [20, 22, 24]], float)[None, :, :, None]),
]
for case, (x_case, kernel_case, s_case), expected in hand_cases:
    got = involution_forward(x_case, kernel_case, stride=s_case)
    checks.assert_shape(got, expected.shape, f"involution_forward, {case}")
    checks.assert_close(got, expected, atol=1e-12, name=f"involution_forward, {case}")
code_rules.assert_not_using(involution_forward, COURSE_LAYER, COURSE_MODULES, rule=OWN_INVOLUTION)

# No loop over images, positions or channels: the loops it nests, what it calls, and the Python lines it runs.
code_rules.assert_loop_depth(involution_forward, 3, rule="loop over the K x K taps (and the groups) at most, never over images, positions or channels")
code_rules.assert_not_using(involution_forward, {"involution_naive", "extract_patches"}, rule="sum K*K shifted slices, without the loop version or a patch tensor")
# checks.python_lines counts the Python lines involution_forward runs (a count, not a time). On an
# input with 64 times as many output values, a vectorised version runs about as many; a Python loop far more.
small = (np.ones((1, 5, 5, 4)), np.ones((1, 5, 5, 2, 3, 3)))
large = (np.ones((4, 20, 20, 4)), np.ones((4, 20, 20, 2, 3, 3)))
checks.assert_vectorised(involution_forward, small, large, growth=64, name="involution_forward")


# No patch tensor: peak memory for K = 7 against the budget, which is a fifth of what a patch tensor takes here.
x_big = rng.normal(size=(2, 24, 24, 16))
kernel_big = rng.normal(size=(2, 24, 24, 1, 7, 7))
allowed, patch_bytes = memory_budget(x_big, kernel_big)
checks.assert_peak_bytes(
    checks.peak_bytes(involution_forward, x_big, kernel_big), allowed, name="involution_forward for x (2, 24, 24, 16), K=7",
    budget=f"a copy of the kernel, two padded inputs and four outputs; a patch tensor alone takes {patch_bytes:,}",
    instead="Sum K*K shifted slices instead of building patches.",
)
print("Your vectorised involution is right on these cases, without a patch tensor.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_cost", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### What vectorising buys
#
# The cell below times your two versions on the same input and kernel (the median of a few runs), and,
# beside them, `extract_patches`: only the first step of the unfold method, copying every window into the
# patch tensor, before any multiply. It measures the peak memory of all but the loops with `tracemalloc`.

# %% nbgrader={"grade": false, "grade_id": "patches", "locked": true, "schema_version": 3, "solution": false, "task": false}
def extract_patches(x, kernel_size, stride=1):
    """The unfold method's patch tensor (B, H_out, W_out, K, K, C): every K x K window of x, zero-padded."""
    pad = (kernel_size - 1) // 2
    x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out_h, out_w = -(-x.shape[1] // stride), -(-x.shape[2] // stride)
    rows = np.arange(out_h)[:, None] * stride + np.arange(kernel_size)  # (H_out, K)
    cols = np.arange(out_w)[:, None] * stride + np.arange(kernel_size)  # (W_out, K)
    return x_pad[:, rows[:, None, :, None], cols[None, :, None, :]]  # a copy, K*K times the input's size


# %% nbgrader={"grade": false, "grade_id": "cost", "locked": true, "schema_version": 3, "solution": false, "task": false}
cost_x = rng.normal(size=(2, 32, 32, 16))
cost_kernel = rng.normal(size=(2, 32, 32, 1, 7, 7))
versions = {
    "loops (involution_naive)": lambda: involution_naive(cost_x, cost_kernel),
    "shifted slices (involution_forward)": lambda: involution_forward(cost_x, cost_kernel),
    "patch tensor alone (extract_patches)": lambda: extract_patches(cost_x, 7),
}
seconds = {name: median_time(run, 1 if "loops" in name else 3 * profile.repeats, desc=name) for name, run in versions.items()}
# Peak memory by tracemalloc, which slows every small allocation: not for the loops.
megabytes = {name: np.nan if "loops" in name else checks.peak_bytes(run) / 1e6 for name, run in versions.items()}
agreement = np.max(np.abs(involution_forward(cost_x, cost_kernel) - involution_naive(cost_x, cost_kernel)))

print(f"input {cost_x.shape}, K = 7, one group")
display(involution_figures.cost_report(seconds, megabytes, agreement))

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_cost_after", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The numbers above come from this run. The shifted slices leave the loops far behind, because each
# Python-level step now processes a whole array. The unfold method must first copy $K^2 = 49$ windows into
# a patch tensor, and that copy alone takes the printed share of your whole forward pass's time and holds
# the printed multiple of its peak memory, before a single multiply; the shifted-slices version reads each
# slice in place and holds only the padded input and arrays the size of the output.
#
# Deep learning frameworks face the same trade-off, and which side wins depends on where the code runs. The
# course's Keras layer (notebook 03) picks its formulation per backend and mode. On TensorFlow op by op (eagerly,
# or in a `tf.function` without XLA) it *does* build the patch tensor, $K^2$ shifted copies of the input side by
# side, and contracts it with the kernel in one `einsum`: there every operation is a separate kernel with its own
# overhead, so a few large operations beat $K^2$ small ones. Under XLA (`jit_compile=True`), on JAX and on PyTorch
# it sums shifted slices, which a compiler can fuse into a few loops (large layers under XLA stack the $K$ slices of
# each kernel row instead); on a GPU where a fused kernel applies (Pallas on JAX, Triton on PyTorch) it calls that
# kernel. The Keras example's layer always unfolds, with `tf.image.extract_patches`.
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
# $\mathrm{d}A = \partial L / \partial A$ for an array $A$, of $A$'s shape; you are given $\mathrm{d}Y$ (`grad_out`),
# and return $\mathrm{d}X$ (`grad_x`) and $\mathrm{d}\mathcal{H}$ (`grad_kernel`).
#
# **Through the multiply-add.** $Y$ is linear in $X$ for a fixed kernel and linear in $\mathcal{H}$ for a
# fixed input, so each product $X^{pad}_{b,\, s i+k_i,\, s j+k_j,\, c}\, \mathcal{H}_{b,i,j,g(c),k_i,k_j}$ passes
# $\mathrm{d}Y_{b,i,j,c}$ times the other factor back to each factor:
#
# $$\mathrm{d}\mathcal{H}_{b,i,j,g,k_i,k_j} = \sum_{c \in g} \mathrm{d}Y_{b,i,j,c}\; X^{pad}_{b,\,s i+k_i,\,s j+k_j,\,c}, \qquad
# \mathrm{d}X^{pad}_{b,\,s i+k_i,\,s j+k_j,\,c} \mathrel{+}= \mathrm{d}Y_{b,i,j,c}\; \mathcal{H}_{b,i,j,g(c),k_i,k_j}.$$
#
# An input pixel sits in up to $K^2$ windows, so its gradient accumulates ($+=$) over them; the
# padding's gradient is then cropped away. The same shifted slices as in the forward pass do both
# sums.
#
# **Through kernel generation.** In code every pixel is a row vector, so the $1 \times 1$ convolutions
# multiply from the right by $V_0 = W_0^{\top}$ (`reduce_w`, $C \times C_r$) and $V_1 = W_1^{\top}$
# (`span_w`, $C_r \times K^2 G$). Run the chain rule backwards through
# $P = \mathrm{pool}(X)$, $Z = P V_0 + b_0$, $N = \gamma (Z - \mu)/\sqrt{v + \epsilon} + \beta$,
# $A = \max(N, 0)$, $S = A V_1 + b_1$, with $\mathrm{d}S$ the kernel's gradient $\mathrm{d}\mathcal{H}$ reshaped to
# $(B, H_{out}, W_{out}, K^2 G)$:
#
# $$\mathrm{d}V_1 = \sum_{b,i,j} A_{b,i,j}^{\top}\, \mathrm{d}S_{b,i,j}, \quad \mathrm{d}b_1 = \sum_{b,i,j} \mathrm{d}S_{b,i,j}, \quad
# \mathrm{d}N = (\mathrm{d}S\, V_1^{\top}) \odot [N > 0], \quad \mathrm{d}Z = \mathrm{d}N \odot \frac{\gamma}{\sqrt{v + \epsilon}},$$
#
# $$\mathrm{d}V_0 = \sum_{b,i,j} P_{b,i,j}^{\top}\, \mathrm{d}Z_{b,i,j}, \quad \mathrm{d}b_0 = \sum_{b,i,j} \mathrm{d}Z_{b,i,j}, \quad \mathrm{d}P = \mathrm{d}Z\, V_0^{\top}.$$
#
# Average pooling spreads $\mathrm{d}P_{b,i,j}$ evenly over the pixels of its block: each of the $n_{ij}$
# pixels that exist in block $(i,j)$ gets $\mathrm{d}P_{b,i,j} / n_{ij}$. Flattening $(B, H, W, \cdot)$ to
# rows makes each sum over $b,i,j$ one matrix product.
#
# **Batch normalisation in inference mode only.** The step $\mathrm{d}Z = \mathrm{d}N \odot \gamma / \sqrt{v + \epsilon}$
# holds because, in inference mode, $\mu$ and $v$ are the running statistics: constants, so batch normalisation is a
# fixed affine map of each value, and each position's kernel depends on that position's (pooled) pixel alone. That is how
# this notebook's `generate_kernel` computes, and the gradient you write here is exact for it. But when a network
# trains (Keras' `fit`, notebooks 03 and 04), batch normalisation runs in **training mode**: $\mu$ and $v$ are the
# mean and variance of $Z$ over the batch and every position of it, so each of them depends on every input of the
# batch, and the gradient gains two terms, one through $\mu$ and one through $v$ (the optional exercise after the
# gradient check derives them). The trainable $\gamma$ and $\beta$ get gradients in both modes; the next
# exercise leaves their gradients out, and the optional one computes them.
#
# **Exercise 4 (4 points: 1 for the input's gradient and 1 for the kernel's through the multiply-add, 2 for
# kernel generation).** Write
#
# * `involution_backward(x, kernel, grad_out, stride=1)` returning `(grad_x, grad_kernel)` for the
#   multiply-add alone (kernel held fixed);
# * `average_pool_backward(grad_pooled, input_shape, stride)`, the gradient of `average_pool`;
# * `generate_kernel_backward(x, params, grad_kernel, kernel_size, stride=1, groups=1)` returning a
#   dict with the gradients `"reduce_w"`, `"reduce_b"`, `"span_w"`, `"span_b"` and `"x"` (the part of
#   the input's gradient that flows through kernel generation). Recompute the forward values you need.
#
# The input's full gradient in a layer is the sum of both parts. Derive each gradient and compute it with NumPy:
# none of these functions may use the course's layer or automatic or numerical differentiation (`tf.GradientTape`,
# `checks.grad_check`, `checks.numerical_gradient`); each test cell checks this. The tests check your gradients on
# cases worked out by hand; when graded, each is compared with the grader's own on fresh inputs (every stride and
# number of groups), to a relative error $\|a - e\| / (\|a\| + \|e\|)$ below $10^{-6}$ (`average_pool_backward`'s
# values to $10^{-10}$). The cell after the tests runs the numerical check on your own forward functions.

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


# %% nbgrader={"grade": true, "grade_id": "ex4_test_input_gradient", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# grad_x (1 point). By hand: input 0..8 in a 3 x 3 image, a kernel of ones, grad_out of ones: each input pixel's
# gradient counts the windows it sits in.
x_hand = np.arange(9.0).reshape(1, 3, 3, 1)
grad_x, _ = involution_backward(x_hand, np.ones((1, 3, 3, 1, 3, 3)), np.ones((1, 3, 3, 1)))
checks.assert_close(grad_x, np.array([[4.0, 6, 4], [6, 9, 6], [4, 6, 4]]).reshape(1, 3, 3, 1), atol=1e-12, name="grad_x, kernel of ones")

# Stride 2 and two groups (channels 0, 1 | 2, 3) on a 3 x 3 input whose channel c holds 0..8 plus 10 c; group 0's
# kernel is the centre tap, group 1's the top-left tap (0, 0); grad_out is all ones. Output (i, j) is centred on
# input (2i, 2j).
x_groups = np.arange(9.0).reshape(1, 3, 3, 1) + 10.0 * np.arange(4)
kernel_groups = np.zeros((1, 2, 2, 2, 3, 3))
kernel_groups[..., 0, 1, 1] = 1.0
kernel_groups[..., 1, 0, 0] = 1.0
grad_x, _ = involution_backward(x_groups, kernel_groups, np.ones((1, 2, 2, 4)), stride=2)
# Group 0's centre taps reach the four corners; group 1's top-left taps reach only pixel (1, 1), the rest is padding.
corners, middle = np.array([[1.0, 0, 1], [0, 0, 0], [1, 0, 1]]), np.array([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]])
checks.assert_close(grad_x, np.stack([corners, corners, middle, middle], axis=-1)[None], atol=1e-12, name="grad_x, stride 2, two groups")
code_rules.assert_not_using(involution_backward, AUTODIFF, COURSE_MODULES, rule=OWN_GRADIENT)
print("Your input gradient through the multiply-add is right on these cases.")

# %% nbgrader={"grade": true, "grade_id": "ex4_test_kernel_gradient", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# grad_kernel (1 point). By hand: input 0..8, grad_out of ones: each kernel tap's gradient is the input pixel it met.
x_hand = np.arange(9.0).reshape(1, 3, 3, 1)
_, grad_kernel = involution_backward(x_hand, np.ones((1, 3, 3, 1, 3, 3)), np.ones((1, 3, 3, 1)))
checks.assert_shape(grad_kernel, (1, 3, 3, 1, 3, 3), "grad_kernel")
checks.assert_close(grad_kernel[0, 1, 1, 0], x_hand[0, :, :, 0], atol=1e-12, name="grad_kernel at the centre position")
checks.assert_close(grad_kernel[0, 0, 0, 0], np.array([[0.0, 0, 0], [0, 0, 1], [0, 3, 4]]), atol=1e-12, name="grad_kernel at the top-left position (zeros from the padding)")

# Stride 2 and two groups (channels 0, 1 | 2, 3) on a 3 x 3 input whose channel c holds 0..8 plus 10 c; group 0's
# kernel is the centre tap, group 1's the top-left tap (0, 0); grad_out is all ones. Output (i, j) is centred on
# input (2i, 2j).
x_groups = np.arange(9.0).reshape(1, 3, 3, 1) + 10.0 * np.arange(4)
kernel_groups = np.zeros((1, 2, 2, 2, 3, 3))
kernel_groups[..., 0, 1, 1] = 1.0
kernel_groups[..., 1, 0, 0] = 1.0
_, grad_kernel = involution_backward(x_groups, kernel_groups, np.ones((1, 2, 2, 4)), stride=2)
checks.assert_shape(grad_kernel, (1, 2, 2, 2, 3, 3), "grad_kernel, stride 2, two groups")
# At output (1, 1) the window covers input rows and columns 1..3 (3 is padding); each group sums its two channels.
expected = np.array([[[18.0, 20, 0], [24, 26, 0], [0, 0, 0]], [[58.0, 60, 0], [64, 66, 0], [0, 0, 0]]])
checks.assert_close(grad_kernel[0, 1, 1], expected, atol=1e-12, name="grad_kernel at output (1, 1), stride 2, two groups")
code_rules.assert_not_using(involution_backward, AUTODIFF, COURSE_MODULES, rule=OWN_GRADIENT)
print("Your kernel gradient through the multiply-add is right on these cases.")

# %% nbgrader={"grade": true, "grade_id": "ex4_test_generation", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# average_pool_backward, by hand: stride 2 on a 3 x 3 input has blocks of 4, 2, 2 and 1 pixels, and each
# pixel of a block gets the block's gradient divided by the block's size.
spread = average_pool_backward(np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1), (1, 3, 3, 1), 2)
checks.assert_shape(spread, (1, 3, 3, 1), "average_pool_backward for a (1, 3, 3, 1) input, stride 2")
checks.assert_close(
    spread[0, :, :, 0], np.array([[0.25, 0.25, 1.0], [0.25, 0.25, 1.0], [1.5, 1.5, 4.0]]), atol=1e-12, name="average_pool_backward"
)

# generate_kernel_backward, by hand, for K = 1 on two pixels (1, 2) and (-3, 1). Reduce adds the channels
# (z = 3, -2), batch normalisation gives 3 (z - 1) = 6, -9, ReLU a = 6, 0, the span 2 a + 0.5. With the kernel's
# gradient (1, -1): span_w 6 * 1 = 6, span_b 1 - 1 = 0; the first pixel's ReLU passes 1 * 2 * 3 = 6 back to z,
# the second's nothing: reduce_w (1 * 6, 2 * 6), reduce_b 6, x (6, 6) and (0, 0).
GRADIENT_NAMES = ("reduce_w", "reduce_b", "span_w", "span_b", "x")
hand_params = {
    "reduce_w": np.array([[1.0], [1.0]]), "reduce_b": np.array([0.0]),
    "bn_gamma": np.array([3.0]), "bn_beta": np.array([0.0]), "bn_mean": np.array([1.0]), "bn_var": np.array([1.0 - BN_EPSILON]),
    "span_w": np.array([[2.0]]), "span_b": np.array([0.5]),
}
x_hand = np.array([[[[1.0, 2.0], [-3.0, 1.0]]]])  # (1, 1, 2, 2)
hand_grads = generate_kernel_backward(x_hand, hand_params, np.array([1.0, -1.0]).reshape(1, 1, 2, 1, 1, 1), 1)
missing = set(GRADIENT_NAMES) - set(hand_grads)
assert not missing, f"generate_kernel_backward must also return the gradients {sorted(missing)}"
for name, expected in [
    ("span_w", [[6.0]]), ("span_b", [0.0]), ("reduce_w", [[6.0], [12.0]]), ("reduce_b", [6.0]), ("x", [[[[6.0, 6.0], [0.0, 0.0]]]]),
]:
    expected = np.array(expected)
    checks.assert_shape(hand_grads[name], expected.shape, f"the gradient for {name}")
    checks.assert_close(hand_grads[name], expected, atol=1e-12, name=f"the gradient for {name}")

# Stride 3 on a 4 x 4 input, two groups, K = 1: blocks of 9, 3, 3 and 1 pixels. Batch normalisation is now z + 1;
# the blocks' pixels sum to z = 1, -3, 2, 0, so a = 2, 0 (ReLU closes), 3, 1; the span is (2 a, -a). The kernel's
# gradient g gives back 2 g0 - g1 = 1, 3, -1 to z in the open blocks, and each pixel gets its block's share.
stride3_params = {**hand_params, "bn_gamma": np.array([1.0]), "bn_beta": np.array([1.0]), "bn_mean": np.array([0.0]),
                  "span_w": np.array([[2.0, -1.0]]), "span_b": np.zeros(2)}
x_stride3 = np.zeros((1, 4, 4, 2))
x_stride3[0, :3, :3, 0], x_stride3[0, :3, 3, 0], x_stride3[0, 3, :3, 1], x_stride3[0, 3, 3] = 1.0, -3.0, 2.0, [0.5, -0.5]
g_stride3 = np.stack([[[1.0, 2], [1, 1]], [[1.0, 0], [-1, 3]]], axis=-1).reshape(1, 2, 2, 2, 1, 1)  # g0, g1 per block
grads = generate_kernel_backward(x_stride3, stride3_params, g_stride3, 1, stride=3, groups=2)
x_share = np.array([[1 / 9, 1 / 9, 1 / 9, 0], [1 / 9, 1 / 9, 1 / 9, 0], [1 / 9, 1 / 9, 1 / 9, 0], [1.0, 1, 1, -1]])
for name, expected in [
    ("span_w", [[6.0, 2.0]]), ("span_b", [5.0, 3.0]), ("reduce_w", [[0.5], [6.5]]), ("reduce_b", [3.0]),
    ("x", np.repeat(x_share[None, :, :, None], 2, axis=-1)),
]:
    checks.assert_close(grads[name], np.array(expected), atol=1e-12, name=f"the gradient for {name}, stride 3, two groups")
for backward_function in (average_pool_backward, generate_kernel_backward):
    code_rules.assert_not_using(backward_function, AUTODIFF, COURSE_MODULES, rule=OWN_GRADIENT)
print("Your gradients through kernel generation are right on these cases.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_gradient_check", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Your backward pass, checked numerically
#
# The tests above check your gradients on cases worked out by hand (and, when graded, against the grader's own
# gradients on fresh inputs). The check you can always run yourself needs only your
# forward functions: centred differences, $\frac{L(\theta + \varepsilon) - L(\theta - \varepsilon)}{2\varepsilon}$
# for each entry, computed by `checks.grad_check` in float64. The relative error
# $\|a - n\| / (\|a\| + \|n\|)$ between your gradient $a$ and the numerical one $n$ should be below
# $10^{-6}$; a wrong backward pass is usually off by far more.

# %% nbgrader={"grade": false, "grade_id": "gradient_check", "locked": true, "schema_version": 3, "solution": false, "task": false}
check_rng = np.random.default_rng(1)
check_x = check_rng.normal(size=(1, 5, 6, 4))
check_params = init_params(4, kernel_size=3, groups=2, reduction_ratio=2, seed=1)
check_kernel = generate_kernel(check_x, check_params, 3, stride=2, groups=2)
check_weights = check_rng.normal(size=(1, 3, 3, 4))  # L = sum(check_weights * Y)
check_grad_x, check_grad_kernel = involution_backward(check_x, check_kernel, check_weights, stride=2)
gradient_errors = {
    "x, through the multiply-add": checks.grad_check(
        lambda v: np.sum(check_weights * involution_forward(v, check_kernel, stride=2)), check_x, check_grad_x
    ),
    "kernel": checks.grad_check(
        lambda v: np.sum(check_weights * involution_forward(check_x, v, stride=2)), check_kernel, check_grad_kernel
    ),
}
kernel_weights = check_rng.normal(size=check_kernel.shape)  # L = sum(kernel_weights * kernel)
check_grads = generate_kernel_backward(check_x, check_params, kernel_weights, 3, stride=2, groups=2)


def generation_loss(_):
    """grad_check moves one entry of the weights or of x in place; this recomputes L from them."""
    return np.sum(kernel_weights * generate_kernel(check_x, check_params, 3, stride=2, groups=2))


for name in ("reduce_w", "reduce_b", "span_w", "span_b", "x"):
    checked = check_x if name == "x" else check_params[name]
    label = "x, through kernel generation" if name == "x" else name
    gradient_errors[label] = checks.grad_check(generation_loss, checked, check_grads[name], samples=12, name=name)
checks.report_gradient_errors(gradient_errors, tolerance=1e-6)

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_batchnorm_training", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Optional: batch normalisation in training mode (0 points, not graded)
#
# Skip this part freely: it earns no points, and nothing after it uses it. It derives what training mode adds to
# the backward pass, on the model of CS231n's `batchnorm_backward` (Stanford CS231n, assignment 2).
#
# In training mode batch normalisation normalises each channel with the statistics of the batch itself. Write the
# $m$ values of one channel of $Z$ (in the kernel generator: every position of every image, $m = B H_{out} W_{out}$)
# as $z_1, \dots, z_m$:
#
# $$\mu = \frac{1}{m}\sum_{n} z_n, \qquad v = \frac{1}{m}\sum_{n} (z_n - \mu)^2, \qquad
# \hat z_n = \frac{z_n - \mu}{\sqrt{v + \epsilon}}, \qquad N_n = \gamma\, \hat z_n + \beta .$$
#
# Each $z_n$ now reaches every $N_k$: directly (when $k = n$), through $\mu$ and through $v$. With $\mathrm{d}N$ given,
#
# $$\mathrm{d}\beta = \sum_n \mathrm{d}N_n, \qquad \mathrm{d}\gamma = \sum_n \mathrm{d}N_n\, \hat z_n, \qquad
# \mathrm{d}\hat z_n = \gamma\, \mathrm{d}N_n, \qquad \frac{\partial \mu}{\partial z_n} = \frac{1}{m}, \qquad
# \frac{\partial v}{\partial z_n} = \frac{2 (z_n - \mu)}{m} .$$
#
# Derive $\mathrm{d}z_n$ from these with the chain rule. You should find three terms: the inference-mode one of
# section 5, $\mathrm{d}\hat z_n / \sqrt{v + \epsilon}$ (with the batch's $v$), one through $\mu$ that removes the mean
# of $\mathrm{d}\hat z$ over the batch, and one through $v$ that removes its component along $\hat z$.
#
# **Optional exercise (0 points).** Write `batchnorm_backward(dn, z, gamma, epsilon=BN_EPSILON)` for `z` of shape
# `(m, C)`, one row per value and the statistics per column, returning `(dz, dgamma, dbeta)`. The forward pass
# `batchnorm_train` is given below. The cell after yours checks your gradients with `checks.grad_check`, as
# section 5's check does, and prints how far the inference-mode gradient alone is from yours.

# %% nbgrader={"grade": false, "grade_id": "batchnorm_given", "locked": true, "schema_version": 3, "solution": false, "task": false}
def batchnorm_train(z, gamma, beta, epsilon=BN_EPSILON):
    """Batch normalisation in training mode of z (m, C): each column with its own mean and (biased) variance."""
    centred = z - z.mean(axis=0)
    return gamma * centred / np.sqrt(np.mean(centred**2, axis=0) + epsilon) + beta


# %% nbgrader={"grade": false, "grade_id": "optional_batchnorm_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batchnorm_backward(dn, z, gamma, epsilon=BN_EPSILON):
    """Gradients (dz, dgamma, dbeta) of batchnorm_train, given dn = dL/dN of shape (m, C)."""
    ### BEGIN SOLUTION
    centred = z - z.mean(axis=0)
    inverse_std = 1.0 / np.sqrt(np.mean(centred**2, axis=0) + epsilon)
    z_hat = centred * inverse_std
    dz_hat = dn * gamma
    dz = inverse_std * (dz_hat - dz_hat.mean(axis=0) - z_hat * np.mean(dz_hat * z_hat, axis=0))
    return dz, np.sum(dn * z_hat, axis=0), np.sum(dn, axis=0)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "optional_batchnorm_check", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Not graded. L = sum(bn_dn * N) on 24 values of 5 channels, far from zero mean and unit variance.
bn_rng = np.random.default_rng(12)
bn_z, bn_gamma, bn_beta, bn_dn = bn_rng.normal(2.0, 3.0, (24, 5)), bn_rng.uniform(0.5, 1.5, 5), bn_rng.normal(size=5), bn_rng.normal(size=(24, 5))
try:
    bn_grads = batchnorm_backward(bn_dn, bn_z, bn_gamma)
except NotImplementedError:
    print("Optional exercise skipped: nothing below depends on it.")
else:
    bn_errors = {
        name: checks.grad_check(lambda _: np.sum(bn_dn * batchnorm_train(bn_z, bn_gamma, bn_beta)), wrt, grad, name=name)
        for name, wrt, grad in zip(("z", "gamma", "beta"), (bn_z, bn_gamma, bn_beta), bn_grads)
    }
    for name, error in bn_errors.items():
        print(f"d{name:6s} relative error {error:.1e}  {'ok' if error < 1e-6 else 'TOO LARGE: check this gradient'}")
    inference_only = bn_dn * bn_gamma / np.sqrt(bn_z.var(axis=0) + BN_EPSILON)
    print(f"the inference-mode term alone is off by a relative error of {checks.relative_error(inference_only, bn_grads[0]):.2f}")
    assert max(bn_errors.values()) < 1e-6, "batchnorm_backward's gradients differ from centred differences (see above)"

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
# (output size $\lceil H/s \rceil \times \lceil W/s \rceil$ for both operators). Each returns an `int`, counted
# from the formulas: none may build a layer (the course's `Involution` or Keras' `Conv2D`) to count its weights,
# which the test cell checks.

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
# The figures for the layers of the table below (C = 64 on a 56 x 56 input, K = 7, G = 4, r = 4, so C_r = 16),
# and for one involution layer of the Keras example's network (C = 3, K = 3, G = 1, r = 2, so C_r = 1).
for answer, expected, what in [
    (involution_params(64, 7, 4, 4), 4_404, "involution_params(64, 7, 4, 4)"),
    (involution_params(3, 3, 1, 2), 24, "involution_params(3, 3, 1, 2)"),
    (conv_params(64, 7), 200_768, "conv_params(64, 7)"),
    (involution_macs(56, 56, 64, 7, 4, 4), 22_880_256, "involution_macs(56, 56, 64, 7, 4, 4)"),
    (conv_macs(56, 56, 64, 7), 629_407_744, "conv_macs(56, 56, 64, 7)"),
    # Stride 2 on a 7 x 9 input: ceil(7 / 2) x ceil(9 / 2) = 4 x 5 output positions.
    (involution_macs(7, 9, 64, 7, 4, 4, stride=2), 145_920, "involution_macs(7, 9, 64, 7, 4, 4, stride=2)"),
    (conv_macs(7, 9, 64, 3, stride=2), 737_280, "conv_macs(7, 9, 64, 3, stride=2)"),
]:
    assert answer == expected, f"{what} should be {expected:,}; got {answer!r}"
for counting in (involution_params, involution_macs, conv_params, conv_macs):
    code_rules.assert_not_using(counting, COURSE_LAYER | {"Conv2D"}, COURSE_MODULES, rule="count them yourself from the formulas, without building a layer")
print("Your counts are right.")

# %% nbgrader={"grade": false, "grade_id": "counting_table", "locked": true, "schema_version": 3, "solution": false, "task": false}
table = {}
for k_ in (3, 7):
    table[f"convolution {k_}x{k_}"] = (conv_params(64, k_), conv_macs(56, 56, 64, k_))
    table[f"involution {k_}x{k_}, G=4, r=4"] = (involution_params(64, k_, 4, 4), involution_macs(56, 56, 64, k_, 4, 4))
involution_figures.counting_table(table, heading="layer, 56 x 56 x 64 input")

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
# ## 7 · Spatial-specific, shown
#
# Nothing in an involution layer's weights mentions $H$ or $W$: $W_0$ and $W_1$ act on one pixel's
# channel vector. With stride 1, the kernel at $(i, j)$ is $\phi(X_{i,j})$, a function of that pixel
# alone, so the layer accepts any image size, and two positions can only get different kernels when
# their pixels differ.
#
# **Exercise 6 (2 points).** Write `kernels_at(x, params, positions, kernel_size, groups=1)` which,
# for stride 1, returns the kernels at the listed `(row, col)` positions only, shape
# `(B, len(positions), G, K, K)`, computed from the pixels at those positions (do not generate the
# kernel for the whole image). Fancy indexing `x[:, rows, cols]` gathers the pixels; from them you may compute
# the kernels directly or call your own `generate_kernel`. The kernels must match to $10^{-8}$; three rules, each
# checked in the test cell, say what "from the pixels at those positions" means:
#
# * the whole image (`x`, or a copy, reshape or pooling of it) goes to neither `generate_kernel` nor a matrix
#   product (`@`, `np.matmul`, `np.dot`, `np.einsum`, ...), in `kernels_at` or in the functions of yours it calls;
# * for $n$ positions of a batch of $B$ images, what it hands `generate_kernel` (if it calls it) holds at most
#   $B n$ pixels;
# * on a $1 \times 80 \times 120 \times 4$ image, its peak memory stays within four copies of the image plus
#   64 KiB (the kernels at every position, for $K = 7$ and $G = 2$, would take about 24 copies).

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
# The weights chosen by hand in Exercise 1's test: the kernel at a pixel with channels (p, q) has tap (ki, kj)
# a * (3 ki + kj) - 1, with a = max(p + q - 0.5, 0).
hand_params = {
    "reduce_w": np.array([[1.0], [1.0]]), "reduce_b": np.array([0.0]),
    "bn_gamma": np.array([2.0]), "bn_beta": np.array([0.5]), "bn_mean": np.array([1.0]), "bn_var": np.array([4.0 - BN_EPSILON]),
    "span_w": np.arange(9.0)[None], "span_b": np.full(9, -1.0),
}
x_hand = np.array([[[[1.0, 2.0], [0.25, 0.0]], [[-1.0, 1.0], [2.0, 0.5]]]])  # a = 2.5, 0, 0, 2
chosen = kernels_at(x_hand, hand_params, [(1, 1), (0, 0), (0, 1)], 3)
checks.assert_shape(chosen, (1, 3, 1, 3, 3), "kernels_at at 3 positions of a (1, 2, 2, 2) input")
checks.assert_close(chosen, np.array([2.0, 2.5, 0.0])[None, :, None, None, None] * np.arange(9.0).reshape(3, 3) - 1, atol=1e-12, name="your kernels")
# Two groups: span channel g * 9 + 3 ki + kj is tap (ki, kj) of group g; with span_w = 0..17 and no bias, the
# kernel at pixel (1, 1) (a = 2) is 2 * (0..17) as (G, K, K).
two_groups = kernels_at(x_hand, {**hand_params, "span_w": np.arange(18.0)[None], "span_b": np.zeros(18)}, [(1, 1)], 3, groups=2)
checks.assert_close(two_groups, 2.0 * np.arange(18.0).reshape(1, 1, 2, 3, 3), atol=1e-12, name="your kernels, two groups")

# Random weights, two groups, a 41 x 57 image: a kernel depends only on the pixel where it is.
params_sizes = init_params(4, kernel_size=5, groups=2, reduction_ratio=2, seed=6)
x_size = np.random.default_rng(6).normal(size=(2, 41, 57, 4))
x_size[:, 40, 56] = x_size[:, 3, 7]  # two equal pixels
spots = [(0, 0), (20, 19), (40, 56), (3, 7)]
chosen = kernels_at(x_size, params_sizes, spots, 5, groups=2)
checks.assert_shape(chosen, (2, 4, 2, 5, 5), "kernels_at on a (2, 41, 57, 4) image at 4 positions, K=5, G=2")
for n, (row, col) in enumerate(spots):
    alone = kernels_at(x_size[:, row : row + 1, col : col + 1], params_sizes, [(0, 0)], 5, groups=2)[:, 0]
    checks.assert_close(chosen[:, n], alone, atol=1e-12, name=f"the kernel at {(row, col)} against the same pixel on its own")
checks.assert_close(chosen[:, 2], chosen[:, 3], atol=1e-12, name="the kernels at two positions with equal pixels")
code_rules.assert_not_using(kernels_at, COURSE_LAYER, COURSE_MODULES, rule=OWN_INVOLUTION)

# From the gathered pixels only: what the code does with the whole image, what it hands generate_kernel on a large
# image with 5 positions, and the most memory it holds there.
code_rules.assert_gathers_first(kernels_at, rule=GATHER_FIRST)
x_large, params_large = np.random.default_rng(8).normal(size=(1, 80, 120, 4)), init_params(4, 7, 2, 2, seed=8)
spots_large = [(0, 0), (5, 9), (40, 60), (79, 119), (12, 100)]
handed = checks.shapes_handed(globals(), "generate_kernel", lambda: kernels_at(x_large, params_large, spots_large, 7, groups=2))
pixels = sum(int(np.prod(shape[:-1])) for shape in handed)
assert pixels <= 5, f"kernels_at handed generate_kernel {pixels:,} pixels for the kernels at 5 positions: {GATHER_FIRST}"
checks.assert_peak_bytes(
    checks.peak_bytes(kernels_at, x_large, params_large, spots_large, 7, groups=2), 4 * x_large.nbytes + 65536,
    name="kernels_at on a (1, 80, 120, 4) image at 5 positions, K=7, G=2",
    budget="four copies of the image plus 64 KiB; the kernels at every position take 24 copies", instead=GATHER_FIRST,
)
print("Your kernels are right at those positions, for both image sizes.")

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

# %% nbgrader={"grade": false, "grade_id": "location_pairs", "locked": true, "schema_version": 3, "solution": false, "task": false}
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


gaps = []
for a, b in [(0, 1), (0, 2), (1, 2)]:
    (ra, ca), (rb, cb) = demo_positions[a], demo_positions[b]
    pixel_gap = np.linalg.norm(image[ra, ca] - image[rb, cb])
    involution_gap = np.linalg.norm(picked[a] - picked[b])
    conv_gap = np.linalg.norm(conv_weights_at(ra, ca) - conv_weights_at(rb, cb))
    gaps.append((f"{demo_positions[a]} {demo_positions[b]}", pixel_gap, involution_gap, conv_gap))
involution_figures.distance_table(gaps)

# %% nbgrader={"grade": false, "grade_id": "location_correlation", "locked": true, "schema_version": 3, "solution": false, "task": false}
checks.needs(demo_kernel="Exercise 1")  # computed by the cell above, with your generate_kernel
# Does the kernel follow the pixel? Over 300 random pairs of positions: distance between the two pixels against
# distance between their two involution kernels.
pair_rng = np.random.default_rng(11)
first, second = pair_rng.integers(0, 32, size=(2, 300, 2))
pixel_gaps = np.linalg.norm(image[first[:, 0], first[:, 1]] - image[second[:, 0], second[:, 1]], axis=-1)
kernel_gaps = np.linalg.norm(
    (demo_kernel[first[:, 0], first[:, 1]] - demo_kernel[second[:, 0], second[:, 1]]).reshape(300, -1), axis=-1
)
involution_figures.distance_correlation(pixel_gaps, kernel_gaps)
display(involution_figures.kernels_at_positions(image, picked, demo_positions))

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_location_after", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Both image sizes work with the same weights. The convolution's kernel distances are exactly zero:
# it applies one kernel everywhere. The involution's are not, and the last printed line measures whether
# they follow the pixels: over 300 random pairs of positions it gives the correlation between the distance of
# two pixels' colours and the distance of their kernels (1 would be a straight line, 0 no relation), and the mean
# kernel distance of the pairs with the closest and with the farthest colours. With stride 1 the kernel is a
# function of the pixel alone, so equal pixels get equal kernels (your Exercise 6 tests checked it); how closely
# the distances follow each other depends on the weights, here random (notebook 05 looks at trained ones). That is
# what *spatial-specific* means here: the kernel is not tied to a coordinate but generated from the content
# found there.

# %% [markdown] nbgrader={"grade": false, "grade_id": "reasoning_text", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 8 · In your own words (graded by hand, 2 points)
#
# Answer in the cell below, in a few sentences each. Your answers are read by a person after grading.
#
# 1. **(1 point)** In a layer, the gradient with respect to the input $X$ is the sum of what your
#    `involution_backward` returns for `x` and what your `generate_kernel_backward` returns for `"x"`. Why a
#    sum: why does neither part alone give the gradient?
# 2. **(1 point)** Section 6 shows a $7 \times 7$ involution with tens of times fewer parameters and
#    multiply-adds than a $7 \times 7$ convolution at $C = 64$. What can a single involution layer not do that
#    a convolution does, and what does a network built on involution (RedNet) put around it for that?

# %% [markdown] nbgrader={"grade": true, "grade_id": "reasoning_answers", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# 1. $X$ reaches the output along two paths: as the data of the multiply-add ($Y$ is linear in $X^{pad}$ for a
#    fixed kernel) and through the kernel, which is generated from $X$ ($\mathcal{H} = \phi(\bar X)$). By the
#    chain rule for a variable used twice, the gradient is the sum of the two paths' contributions; each part
#    alone holds the other path fixed.
# 2. It mixes no information across channels: output channel $c$ is computed from input channel $c$ alone
#    (with a kernel shared by its group), whereas a convolution combines every input channel in every output
#    channel. RedNet places $1 \times 1$ convolutions around each involution (a bottleneck block) to mix channels.
#
# *Rubric.* Q1 (1 point): names the two paths, data and kernel generation (½), and the sum rule / multivariable
# chain rule (½). Q2 (1 point): no channel mixing, each output channel from its own input channel (½); $1 \times 1$
# convolutions (or a bottleneck / pointwise layers) around it (½).
# ### END SOLUTION

# %% [markdown] nbgrader={"grade": false, "grade_id": "md_summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Summary
#
# * Involution applies, at each position, a $K \times K$ kernel generated from the input there by a
#   small network ($1 \times 1$ reduce, batch normalisation, ReLU, $1 \times 1$ span), and shares it across
#   the channels of a group: spatial-specific and channel-agnostic, the inverse of convolution.
# * Its multiply-add vectorises as a sum of $K^2$ shifted slices times kernel planes, which is as exact as
#   the loops, far faster, and needs much less memory than an unfold with a patch tensor (measured above).
# * Its backward pass is the same sum run in reverse, then the chain rule through kernel generation, here
#   with batch normalisation in inference mode (training mode adds a term through the batch mean and one
#   through the batch variance); centred differences in float64 agree with a correct one to better than $10^{-6}$.
# * Per output position, a $C \to C$ convolution performs $K^2 C^2$ multiply-adds; an involution performs
#   $C C_r + C_r K^2 G$ to generate its kernel plus $K^2 C$ for the multiply-add. Its $C C_r + 3 C_r + C_r K^2 G + K^2 G$
#   parameters are those of kernel generation alone, and do not depend on the image size.
#
# Notebook 03 builds the same operator as a Keras layer and trains it.
#
# ## Submitting
#
# Save the notebook (File > Save), then submit the `.ipynb` file. On Colab: File > Download >
# Download .ipynb, then upload that file to the course's platform. Before you submit, run
# Kernel > Restart & Run All and check that every test cell runs without an error.
