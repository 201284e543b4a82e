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

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "259e56bb70d66615cdcc985edc1095cc", "grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/involution-course/involution-course-student/blob/main/notebooks/06-making-involution-fast/06-making-involution-fast.ipynb)
#
# # 06 · Making involution fast
#
# *Involution Course, assignment 06. Time: about 90 minutes.*
#
# ## Learning objectives
#
# By the end of this notebook you will be able to:
#
# 1. count the arithmetic (FLOPs) and the memory traffic (bytes) of involution's multiply-add for
#    three ways of computing it: a patch tensor (unfold), shifted slices, and one fused kernel;
#    then time two of them and explain why the count does not predict the times on a CPU;
# 2. place each on a roofline: arithmetic intensity, memory-bound or compute-bound, and the
#    fastest time the hardware allows (the *floor*);
# 3. write the index arithmetic of a fused kernel for one tile of the output, in Pallas, and check it
#    on any CPU in interpret mode; then cut an image into tiles with their halo;
# 4. read measured GPU times against the floor, knowing where and how each was timed, and say what
#    fusion buys, up to generating the kernels inside the kernel that applies them.
#
# Symbols, index order and array layouts follow the course's
# [notation table](https://involution-course.github.io/involution-course-student/notation.html):
# tensors are channels last, as in Keras and in the course's kernels.
#
# Run the cells in order. Exercises are marked **Exercise**; write your answer where the cell says
# `# YOUR CODE HERE`, then run the tests below it. Visible tests help you. When your notebook is
# graded, the grader calls your functions again on inputs you have not seen and judges what they
# return in its own process, outside your notebook. Every rule it applies is stated in the exercise
# and checked by a visible test, so read each exercise's text closely and test your code beyond the
# visible tests.
#
# **No GPU needed.** Every exercise runs on a CPU. Section 5 shows the times the course recorded on
# GPUs, each with where, when and how it was timed; where PyTorch sees a CUDA GPU (on Colab: Runtime >
# Change runtime type > T4 GPU) it also times the kernels live.

# %% nbgrader={"cell_type": "code", "checksum": "5e054552e58ce7ff5a93de7ac928af24", "grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Set-up: on Colab the first run installs the course (about a minute); elsewhere this only imports it.
try:
    import involution_course as ic
except ModuleNotFoundError:  # a fresh Colab runtime
    # %pip install --quiet --no-deps "involution-course @ git+https://github.com/involution-course/involution-course-student@main"
    import involution_course as ic
from involution_course.colab import prepare_colab

prepare_colab()  # on Colab: install what the runtime lacks
try:
    import jax
except ModuleNotFoundError:  # the course's base install has no JAX; exercises 3 and 4 need it
    # %pip install --quiet "jax>=0.4.30"
    import importlib

    importlib.invalidate_caches()
    import jax
profile = ic.setup_notebook()

# %% nbgrader={"cell_type": "code", "checksum": "b266c181069929b2ebd56421dab17268", "grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
import functools

import jax.numpy as jnp
import numpy as np
from IPython.display import Markdown, display
from jax.experimental import pallas as pl

from involution_course import checks, code_rules, live_speed, speed
from involution_course.figures import speed as speed_figures

recorded = speed.load_timings()  # the times the course measured on a GPU (section 5)
cases = [speed.Case.parse(name) for name in recorded.cases()]
print(f"JAX {jax.__version__}; recorded cases: {', '.join(recorded.cases())}")


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "0c6aa4e30060fd54e9b7f9af68d8fc59", "grade": false, "grade_id": "cost-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1 · Predict the bytes, then time them
#
# Involution has two parts (notebooks 02 and 03): a small network *generates* a kernel for every
# output position, and a *multiply-add* applies it. The generation is two 1×1 convolutions, which
# every library runs well. The multiply-add is where the time goes. Tensors are channels last: the
# input $X$ of shape $(B, H, W, C)$, the kernel $\mathcal{H}$ of shape $(B, H_{out}, W_{out}, G, K, K)$
# and the output $Y$ of shape $(B, H_{out}, W_{out}, C)$, with $H_{out} = \lceil H / s \rceil$ and
# $W_{out} = \lceil W / s \rceil$ for stride $s$. For each image,
#
# $$Y_{i,j,c} = \sum_{(u,v) \in \Delta_K} \mathcal{H}_{i,j,g(c),u,v}\; X_{s i+u,\, s j+v,\, c},
#   \qquad g(c) = \left\lfloor c \,/\, (C/G) \right\rfloor,$$
#
# with $X$ zero outside the image. In arrays, pad $X$ with $\lfloor K/2 \rfloor$ zeros on each side
# and count the taps from the corner, $(k_i, k_j) = (\lfloor K/2 \rfloor + u, \lfloor K/2 \rfloor + v)$:
# output $(i, j)$ at tap $(k_i, k_j)$ reads `x_pad[s*i + ki, s*j + kj, c]` and weighs it with
# `kernel[i, j, g(c), ki, kj]`. Three ways to compute it:
#
# * **unfold**: copy every $K \times K$ window into a *patch tensor* of shape
#   $(B, H_{out}, W_{out}, K^2, C)$, $K^2$ times the size of the output, then weigh it with the kernel
#   and sum the taps (the Keras example's `extract_patches`);
# * **shifted slices**: for each of the $K^2$ taps, take the padded input shifted by $(k_i, k_j)$,
#   multiply it by that tap's kernel plane and add it to a running sum (the course's layer, notebook 03);
# * **fused**: one kernel reads $X$ and $\mathcal{H}$, keeps the running sum in the processor's
#   registers and writes $Y$ once.
#
# All three do the same arithmetic. Each term of the sum is a multiply and an add, two
# floating-point operations (FLOPs), so the multiply-add takes $2 K^2 N_Y$ FLOPs, where
# $N_Y = B H_{out} W_{out} C$ is the number of outputs. What differs is the memory traffic. Counting
# it needs a model; ours, with sizes in elements $N_X = BHWC$, $N_\mathcal{H} = B H_{out} W_{out} G K^2$
# and $N_Y$:
#
# 1. every operation reads its inputs from main memory and writes its result to main memory, once
#    each; nothing stays in a cache from one operation to the next;
# 2. zero padding is free: the zeros are never read from memory, so a shifted window of the padded
#    input counts as $N_Y$ elements read;
# 3. bytes = elements × `itemsize` (4 for float32, 2 for bfloat16).
#
# Then:
#
# * **fused**, one operation: read $X$ and $\mathcal{H}$, write $Y$;
# * **unfold**, two operations: the unfold reads $X$ and writes the patch tensor ($K^2 N_Y$
#   elements); the contraction reads the patch tensor and $\mathcal{H}$ and writes $Y$;
# * **slices**, $K^2$ operations, one per tap, each `total += window * plane` as one operation: it
#   reads its window ($N_Y$ elements) and its kernel plane ($N_\mathcal{H} / K^2$), reads the running
#   sum ($N_Y$), except at the first tap, where there is none yet, and writes the running sum ($N_Y$).
#
# **Exercise 1 (3 points).** Write `multiply_add_flops(batch, height, width, channels, kernel_size,
# stride=1)`, the FLOPs of the multiply-add, and `bytes_moved(method, batch, height, width, channels,
# kernel_size, groups, stride=1, itemsize=4)`, the bytes that `method` (`"fused"`, `"unfold"` or
# `"slices"`) moves by the model above, for any `itemsize`. Both return whole numbers (Python `int`).
# For any other method, raise a `ValueError`.

# %% nbgrader={"cell_type": "code", "checksum": "dc770110c8c1888f9dccc0b7887e9978", "grade": false, "grade_id": "ex1_counts", "locked": false, "schema_version": 3, "solution": true, "task": false}
def multiply_add_flops(batch, height, width, channels, kernel_size, stride=1):
    """FLOPs of involution's multiply-add: a multiply and an add per tap, channel and output pixel."""
    # YOUR CODE HERE
    raise NotImplementedError()


def bytes_moved(method, batch, height, width, channels, kernel_size, groups, stride=1, itemsize=4):
    """Bytes that ``method`` ("fused", "unfold" or "slices") reads and writes, by the model above."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it on the first recorded case: a RedNet-sized layer.
print(f"{multiply_add_flops(32, 56, 56, 64, 7):,} FLOPs")
for method_ in ("fused", "unfold", "slices"):
    print(f"{method_}: {bytes_moved(method_, 32, 56, 56, 64, 7, 4):,} bytes")


# %% nbgrader={"cell_type": "code", "checksum": "2db94649bbe937a557049f4f173cbe5d", "grade": true, "grade_id": "ex1_test_counts", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# One image, one channel, 4 x 4 pixels, K = 3, G = 1, stride 1: N_X = N_Y = 16, N_H = 9 * 16 = 144.
assert multiply_add_flops(1, 4, 4, 1, 3) == 288, (
    f"multiply_add_flops(1, 4, 4, 1, 3) should be 2 * 9 taps * 16 outputs = 288; got {multiply_add_flops(1, 4, 4, 1, 3)}")
# Rule: whole numbers (Python int).
assert isinstance(multiply_add_flops(1, 4, 4, 1, 3), int), "multiply_add_flops should return a Python int"
# Stride 2 on 5 x 5 pixels: ceil(5 / 2) = 3 output rows and columns (the last starts at row 4).
assert multiply_add_flops(2, 5, 5, 3, 3, stride=2) == 2 * 9 * 2 * 3 * 3 * 3, (
    "with stride 2, a 5 x 5 input gives ceil(5/2) x ceil(5/2) = 3 x 3 outputs: 2 * 9 * (2 * 3 * 3 * 3) = 972 FLOPs; "
    f"got {multiply_add_flops(2, 5, 5, 3, 3, stride=2)}")
_expected = {"fused": (16 + 144 + 16) * 4, "unfold": (16 + 2 * 144 + 144 + 16) * 4, "slices": (26 * 16 + 144) * 4}
_explain = {
    "fused": "read X (16) and the kernel (144), write Y (16): 176 elements of 4 bytes",
    "unfold": "read X (16), write the patch tensor (9 * 16 = 144), read it again with the kernel (144), write Y (16)",
    "slices": "9 windows (9 * 16), the 9 kernel planes (144), 8 reads and 9 writes of the running sum (17 * 16)",
}
for _method, _want in _expected.items():
    _got = bytes_moved(_method, 1, 4, 4, 1, 3, 1)
    assert isinstance(_got, int), f"bytes_moved({_method!r}, ...) should return a Python int; got {type(_got).__name__}"
    assert _got == _want, f"bytes_moved({_method!r}, 1, 4, 4, 1, 3, 1) should be {_want} by the model: {_explain[_method]}; got {_got}"
# Rule: bytes for any itemsize.
assert bytes_moved("fused", 1, 4, 4, 1, 3, 1, itemsize=2) == 352, "bytes = elements * itemsize: itemsize=2 (bfloat16) halves the bytes, 352"
assert bytes_moved("slices", 1, 4, 4, 1, 3, 1, itemsize=8) == 2 * _expected["slices"], "bytes = elements * itemsize: itemsize=8 doubles them"
# The RedNet-sized case: float32, B=32, C=64, 56 x 56, K=7, G=4.
assert bytes_moved("fused", 32, 56, 56, 64, 7, 4) == 130_056_192, (
    f"the fused kernel of B=32, C=64, 56 x 56, K=7, G=4 moves 130,056,192 bytes; got {bytes_moved('fused', 32, 56, 56, 64, 7, 4):,}")
# Rule: a ValueError for any other method.
for _other in ("winograd", "Fused"):
    try:
        bytes_moved(_other, 1, 4, 4, 1, 3, 1)
    except ValueError:
        pass
    else:
        raise AssertionError(f"bytes_moved({_other!r}, ...) should raise a ValueError: only 'fused', 'unfold' and 'slices' are defined")
print("multiply_add_flops and bytes_moved pass the tests.")


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "3319ab68574e1ca8c8c64edb3d7c79f6", "grade": false, "grade_id": "counts-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Your counts for the cases that section 5 times on a GPU (float32, stride 1). The patch tensor
# alone is $K^2$ times the output: at $K = 7$ it is 49 times the size of $Y$, and unfold writes it
# and reads it back. Slices never build it, but by the model they move even more: a window, a plane
# and the running sum at each of the $K^2$ taps.

# %% nbgrader={"cell_type": "code", "checksum": "b8f57a135b4163e1dfbfb610a347533b", "grade": false, "grade_id": "counts-table", "locked": true, "schema_version": 3, "solution": false, "task": false}
METHODS = ("fused", "unfold", "slices")
counts = {
    case: {"flops": multiply_add_flops(**case.sizes()), **{m: bytes_moved(m, **case.sizes(), groups=case.groups) for m in METHODS}}
    for case in cases
}
lines = ["| case | GFLOP | fused (MB) | unfold (MB) | slices (MB) | slices ÷ unfold |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
for case, count in counts.items():
    lines.append(f"| {case.name} | {count['flops'] / 1e9:.3f} | {count['fused'] / 1e6:,.1f} | {count['unfold'] / 1e6:,.1f} "
                 f"| {count['slices'] / 1e6:,.1f} | {count['slices'] / count['unfold']:.2f} |")
display(Markdown("\n".join(lines)))


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "5aa521612dc9f1438b185bbbe9643cc8", "grade": false, "grade_id": "cpu-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### The prediction
#
# A model is worth what it predicts. If time followed the bytes, the method that moves more bytes
# would take longer, in proportion. Here is what your count predicts for a small layer that NumPy
# runs on this computer's CPU in a moment, operation by operation, as the model assumes (NumPy has
# no fused kernel). Write down which method you expect to be faster before you run the next cell
# but one.

# %% nbgrader={"cell_type": "code", "checksum": "460070c8c770931e03fbbbe49fa181bb", "grade": false, "grade_id": "cpu-predict", "locked": true, "schema_version": 3, "solution": false, "task": false}
cpu_case = speed.Case(batch=4, channels=32, height=28, width=28, kernel_size=7, groups=4)
predicted = {m: bytes_moved(m, **cpu_case.sizes(), groups=cpu_case.groups) for m in ("unfold", "slices")}
for method_, moved_ in predicted.items():
    print(f"{method_:>6}: {moved_ / 1e6:5.1f} MB to and from memory by your count")
print(f"Prediction: slices take {predicted['slices'] / predicted['unfold']:.2f} times as long as unfold.")


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "2394402cf7fbca1e43db4ff439b1b114", "grade": false, "grade_id": "cpu-measure-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### The measurement
#
# The two methods in NumPy, channels last, timed here (the median of a few calls). Beside each time,
# the memory the method *holds* at its peak while it runs, measured by Python's `tracemalloc`: the
# largest set of arrays alive at once, which is not the bytes it moves.

# %% nbgrader={"cell_type": "code", "checksum": "fb359daf072d1f0631791896d6e32017", "grade": false, "grade_id": "cpu-timing", "locked": true, "schema_version": 3, "solution": false, "task": false}
def unfold_numpy(x, kernel, stride=1):
    """x (B, H, W, C), kernel (B, H_out, W_out, G, K, K): the patch tensor (B, H_out, W_out, K*K, C) as a
    real array, weighed and summed over the taps."""
    batch, height, width, channels = x.shape
    rows, cols, groups, size = kernel.shape[1:5]
    half = size // 2
    padded = np.pad(x, ((0, 0), (half, half), (half, half), (0, 0)))
    windows = [padded[:, ki:ki + stride * (rows - 1) + 1:stride, kj:kj + stride * (cols - 1) + 1:stride]
               for ki in range(size) for kj in range(size)]
    patches = np.stack(windows, axis=3).reshape(batch, rows, cols, size * size, groups, channels // groups)
    weights = kernel.reshape(batch, rows, cols, groups, size * size).transpose(0, 1, 2, 4, 3)[..., None]
    return (patches * weights).sum(axis=3).reshape(batch, rows, cols, channels)


def slices_numpy(x, kernel, stride=1):
    """x (B, H, W, C), kernel (B, H_out, W_out, G, K, K): one shifted window of the padded input per tap,
    weighed and added to a running sum."""
    batch, height, width, channels = x.shape
    rows, cols, groups, size = kernel.shape[1:5]
    half = size // 2
    padded = np.pad(x, ((0, 0), (half, half), (half, half), (0, 0)))
    total = np.zeros((batch, rows, cols, groups, channels // groups), dtype=x.dtype)
    for ki in range(size):
        for kj in range(size):
            window = padded[:, ki:ki + stride * (rows - 1) + 1:stride, kj:kj + stride * (cols - 1) + 1:stride]
            total += window.reshape(total.shape) * kernel[..., ki, kj, None]
    return total.reshape(batch, rows, cols, channels)


rng = np.random.default_rng(0)
cpu_x = rng.normal(size=(cpu_case.batch, cpu_case.height, cpu_case.width, cpu_case.channels)).astype("float32")
cpu_kernel = rng.normal(size=(*cpu_x.shape[:3], cpu_case.groups, cpu_case.kernel_size, cpu_case.kernel_size)).astype("float32")
assert np.allclose(unfold_numpy(cpu_x, cpu_kernel), slices_numpy(cpu_x, cpu_kernel), atol=1e-3)
cpu_ms = {m: live_speed.median_ms(f, cpu_x, cpu_kernel, repeats=2 * profile.repeats)
          for m, f in (("unfold", unfold_numpy), ("slices", slices_numpy))}
held = {m: checks.peak_bytes(f, cpu_x, cpu_kernel) for m, f in (("unfold", unfold_numpy), ("slices", slices_numpy))}
for method_ in cpu_ms:
    print(f"{method_:>6}: {cpu_ms[method_]:6.1f} ms; holds {held[method_] / 1e6:5.1f} MB at its peak; "
          f"moves {predicted[method_] / 1e6:5.1f} MB by your count")
print(f"Measured: slices took {cpu_ms['slices'] / cpu_ms['unfold']:.2f} times as long as unfold "
      f"(predicted: {predicted['slices'] / predicted['unfold']:.2f}), for this small layer, in this run.")


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "12a4c5d62ab959604f162fe2ec30735c", "grade": false, "grade_id": "cpu-explain", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Why the count does not predict the time here
#
# Your count predicts slices slower than unfold. On a CPU they usually come out *faster*, though by
# the count they move more bytes; the cell above says what happened on yours. Where the prediction
# fails, the arithmetic of the count is right; two of the model's assumptions are what fail.
#
# * **Memory held is not bytes moved.** Unfold *holds* far more: its patch tensor, $K^2$ times the
#   output, exists all at once, while slices hold a window, a plane and the running sum (the cell
#   above measured both). What a method holds decides whether it fits in memory, and in which
#   cache; it is not what the model counts. The model counts traffic, and slices' traffic is large
#   because they read or write the same running sum $2K^2 - 1$ times.
# * **Caches exist.** Assumption 1 says every operation reads from main memory. A CPU keeps
#   recently used data in caches, small memories next to its cores that are many times faster. At
#   each tap, slices read the running sum that the previous tap has just written: when it fits in a
#   cache, that traffic never reaches main memory. A patch tensor larger than a cache spills to the
#   next, slower level (or to main memory), where it is written out and read back in full.
#
# There is a third effect the model leaves out: not every operation moves its bytes at the same rate.
# Slices are contiguous elementwise multiply-adds, which stream; stacking $K^2$ strided windows and
# summing over a middle axis do not. The next cell sets the arrays each method works on against this
# CPU's caches.

# %% nbgrader={"cell_type": "code", "checksum": "12a3043d6149692e49c4f485c2a532c7", "grade": false, "grade_id": "cpu-caches", "locked": true, "schema_version": 3, "solution": false, "task": false}
caches = live_speed.cpu_caches()
itemsize = cpu_x.itemsize
taps = cpu_case.kernel_size**2
per_tap = (2 * cpu_x.size + cpu_kernel.size // taps) * itemsize  # a window and the running sum, one tap's kernel plane
patches = taps * cpu_x.size * itemsize                             # the patch tensor (stride 1: as many outputs as inputs)
print("This CPU's data caches:", ", ".join(f"{level} {size / 1e6:.3g} MB" for level, size in caches.items()) or "not reported")
for what, size in (("one tap of slices", per_tap), ("unfold's patch tensor", patches)):
    fits = [level for level, capacity in caches.items() if size <= capacity]
    print(f"{what}: {size / 1e6:.1f} MB, " + (f"fits in {fits[0]}" if fits else "larger than every cache"))


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "98003827408325d8e34b187b31ef3528", "grade": false, "grade_id": "roofline-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2 · The roofline
#
# On a GPU, with tensors far larger than its caches, the model's assumptions come much closer to
# the truth, and the count becomes a useful bound. A processor does two things at once: arithmetic,
# at up to $P$ FLOPs per second (its *peak*), and moving bytes between its memory and its cores, at up
# to $\beta$ bytes per second (its *memory bandwidth*). A computation of $F$ FLOPs that moves $Q$
# bytes can finish no sooner than either allows, so its time is at least
#
# $$t_\text{floor} = \max\!\left(\frac{F}{P},\ \frac{Q}{\beta}\right).$$
#
# Its **arithmetic intensity** $I = F / Q$, FLOPs per byte, decides which term wins. At intensity
# $I$ the memory can feed at most $I \beta$ FLOPs per second, so the rate it can attain is
#
# $$\text{attainable}(I) = \min(P,\ I \beta),$$
#
# the *roofline*: a slope (memory-bound) up to the *ridge* $I^* = P / \beta$, then flat
# (compute-bound). The cell after the exercise takes $\beta$ as measured, with a large
# device-to-device copy, in the run that timed section 5's kernels, and $P$ from NVIDIA's
# [H200 datasheet](https://www.nvidia.com/en-us/data-center/h200/) (FP32 without tensor cores): a
# figure the maker states, not one the course measured.
#
# **Exercise 2 (2 points).** Write `attainable_flops(intensity, peak_flops, bandwidth)`, which works on
# a number and, element by element, on a NumPy array of intensities, and `time_floor(flops, n_bytes,
# peak_flops, bandwidth)`, $t_\text{floor}$ in seconds: the larger of the two times.

# %% nbgrader={"cell_type": "code", "checksum": "0acd52ae6c859bb8521938cf393f12b0", "grade": false, "grade_id": "ex2_roofline", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attainable_flops(intensity, peak_flops, bandwidth):
    """The roofline: the FLOP rate that memory can feed at ``intensity``, capped by the peak."""
    # YOUR CODE HERE
    raise NotImplementedError()


def time_floor(flops, n_bytes, peak_flops, bandwidth):
    """The least time, in seconds, that ``flops`` of arithmetic and ``n_bytes`` of memory traffic take."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it on a processor of 64 TFLOP/s and 4 TB/s: its ridge is at 16 FLOPs per byte.
print(f"attainable at 4.8 FLOPs per byte: {float(attainable_flops(4.8, 64e12, 4e12)) / 1e12:.1f} TFLOP/s")
print(f"floor of 1 GFLOP moving 200 MB: {time_floor(1e9, 200e6, 64e12, 4e12) * 1e3:.4f} ms")


# %% nbgrader={"cell_type": "code", "checksum": "64e85f62c58984696bc9fb07f1042a2c", "grade": true, "grade_id": "ex2_test_roofline", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# P = 64 TFLOP/s, beta = 4 TB/s: the ridge is at 16 FLOPs per byte.
# Rule: element by element on an array of intensities, min(P, I * beta).
_got = np.asarray(attainable_flops(np.array([1.0, 8.0, 16.0, 100.0]), 64e12, 4e12), dtype=float)
assert _got.shape == (4,), f"attainable_flops of 4 intensities should give 4 rates, element by element; got shape {_got.shape}"
assert np.allclose(_got, [4e12, 32e12, 64e12, 64e12]), (
    f"below the ridge (16) the rate is intensity * bandwidth, above it the peak: [4e12, 32e12, 64e12, 64e12]; got {_got}")
# Rule: a number for a number.
assert np.asarray(attainable_flops(2.0, 64e12, 4e12)).size == 1, "attainable_flops of one intensity should give one number"
assert np.isclose(float(attainable_flops(2.0, 64e12, 4e12)), 8e12), "attainable_flops(2.0, 64e12, 4e12) should be 8e12"
# Rule: the larger of the two times. 1 GFLOP and 1 GB on a 1 TFLOP/s, 100 GB/s processor: 1 ms of arithmetic, 10 ms of memory.
assert np.isclose(time_floor(1e9, 1e9, 1e12, 1e11), 1e-2), (
    f"time_floor(1e9, 1e9, 1e12, 1e11) is the larger of the two times: the memory takes 10 ms, the arithmetic 1 ms, "
    f"so 0.01 s; got {time_floor(1e9, 1e9, 1e12, 1e11)}")
assert np.isclose(time_floor(1e12, 1e9, 1e12, 1e11), 1.0), "1 TFLOP on a 1 TFLOP/s processor takes 1 s, whatever the 10 ms of memory"
print("attainable_flops and time_floor pass the tests.")


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "9b9141573d0284608a31817e3a9dcc9e", "grade": false, "grade_id": "roofline-figure-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The three methods of the first case on the roofline of the GPU of section 5, each at the rate its
# bytes allow (filled circles, from your counts), and the paper's CUDA kernels as measured (hollow
# square: the forward kernel's FLOPs over its measured time, at the fused kernel's intensity).

# %% nbgrader={"cell_type": "code", "checksum": "6664bd8b4bd6cd1f4015babf6b3a1b94", "grade": false, "grade_id": "roofline-figure", "locked": true, "schema_version": 3, "solution": false, "task": false}
peak, bandwidth = recorded.peak_flops, recorded.bandwidth
gpu = recorded.provenance.get("gpu", "GPU")
first = cases[0]
intensities = {m: counts[first]["flops"] / counts[first][m] for m in METHODS}
grid = np.logspace(-2, 3, 200)
points = [(f"{m}, bound by its bytes", intensities[m], float(attainable_flops(intensities[m], peak, bandwidth))) for m in METHODS]
measured_ms = recorded.value(first.name, "paper-cuda", "fwd_ms")
if measured_ms:
    points.append(("measured: the paper's forward kernel", intensities["fused"], counts[first]["flops"] / (measured_ms / 1e3)))
display(speed_figures.roofline(grid, np.asarray(attainable_flops(grid, peak, bandwidth), dtype=float), points,
                               peak_flops=peak, bandwidth=bandwidth, title=f"{first.name}, float32, {gpu}"))
floors_ms = {case: {m: time_floor(count["flops"], count[m], peak, bandwidth) * 1e3 for m in METHODS} for case, count in counts.items()}
ridge = peak / bandwidth
print(f"{gpu}: P = {peak / 1e12:.0f} TFLOP/s, from {recorded.provenance.get('peak_fp32_tflops_source', 'a source not recorded')}; "
      f"beta = {bandwidth / 1e12:.2f} TB/s, from {recorded.provenance.get('memory_bandwidth_source', 'a source not recorded')}; "
      f"ridge P / beta = {ridge:.1f} FLOPs per byte.")
for m in METHODS:
    print(f"{m:>6}: {intensities[m]:.2f} FLOPs per byte, {ridge / intensities[m]:.0f} times below the ridge; "
          f"forward floor {floors_ms[first][m]:.3f} ms")
bound = "memory-bound" if max(intensities.values()) < ridge else "compute-bound for at least one method"
print(f"In this case the multiply-add is {bound}.")
if measured_ms:
    print(f"The paper's forward kernel attains {counts[first]['flops'] / (measured_ms / 1e3) / 1e12:.2f} TFLOP/s, "
          f"{floors_ms[first]['fused'] / measured_ms:.0%} of its roof at that intensity.")


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "0134e03a081af4f12c873913594e306e", "grade": false, "grade_id": "roofline-reading", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Left of the ridge a computation is **memory-bound**: each byte it moves takes part in too few FLOPs
# to keep the arithmetic busy, so its floor is the time to move its bytes, and the only way to go
# faster is to move fewer. That is what fusion buys: the same FLOPs for a fraction of the bytes, so a
# higher intensity and a lower floor. Where a measured kernel sits below its roof, it runs slower than
# its bytes demand; the cell above says how far. A floor is a bound, not a prediction: section 1
# showed how caches and the way an operation walks through memory move a time away from its count.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "cbb5e366993635b4364231d978669bd2", "grade": false, "grade_id": "tile-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3 · A fused kernel, one tile at a time
#
# A fused kernel splits the output into *tiles* and runs one *program* per tile, many at a time. Each
# program copies the blocks of $X$ and $\mathcal{H}$ that its tile needs from memory into fast
# on-chip memory, computes the tile's outputs there, and writes them once. We write one with
# [Pallas](https://docs.jax.dev/en/latest/pallas/index.html), JAX's language for kernels. A Pallas
# kernel is a Python function of *refs*, references to the blocks in fast memory: `x_ref[...]`
# reads a whole block, `x_ref[pl.ds(start, size, stride=s), :, :]` reads `size` rows
# `start, start + s, start + 2s, …`, and `o_ref[...] = value` writes. `pl.pallas_call(kernel,
# out_shape=..., interpret=True)` runs it; *interpret mode* runs the kernel as ordinary JAX operations,
# on any CPU, so its index arithmetic can be checked anywhere.
#
# Interpret mode checks the arithmetic, not that the kernel compiles for a GPU, and yours would not
# as it stands. On a GPU, Pallas hands the kernel to Triton, which needs every block to have sides
# that are powers of two, while a tile here has any size; it reads a block with contiguous (or
# gathered) loads and masks the lanes that fall outside the image, the halo or the channels, while
# `pl.ds(..., stride=s)` asks for strided rows. The course's real kernels do exactly that: read
# `involution_course.fused.triton_kernels` (Triton) and `involution_course.fused.pallas_kernels`
# (Pallas on Triton), modules of the course's package, whose tiles are powers of two, whose loads are masked and whose
# offsets are computed so that nothing is padded or copied beforehand. The index arithmetic is the
# same as yours.
#
# One tile is $R \times S$ output positions of one image, all $C$ channels, channels last. Its kernel
# receives:
#
# * `x_ref`, shape $((R-1)s + K,\ (S-1)s + K,\ C)$: the block of the **padded** input that the
#   tile reads (its *halo* included), `x_ref[0, 0, c]` being the top-left padded pixel it needs;
# * `k_ref`, shape $(R, S, G, K, K)$: the tile's kernels, in the layout of $\mathcal{H}$;
# * `o_ref`, shape $(R, S, C)$: where the tile's outputs go.
#
# Output $(i, j)$ of the tile, tap $(k_i, k_j)$, reads `x_ref[i*s + ki, j*s + kj, c]`; over the
# whole tile, tap $(k_i, k_j)$ reads rows $k_i, k_i + s, \ldots, k_i + (R-1)s$ and the columns alike.
#
# **Exercise 3 (3 points).** Write the kernel `involution_tile(x_ref, k_ref, o_ref, *, stride)` for any
# $C$, $G$, $K$, stride and tile size: for each of the $K^2$ taps (a Python loop: $K$ is known when the
# kernel is traced), read the tap's window of `x_ref`, weigh it with the tap's kernel plane, and add it
# to a running sum kept in float32; then write the sum to `o_ref` once. Channel $c$ uses group
# $g(c) = \lfloor c / (C/G) \rfloor$: `jnp.repeat` turns $G$ planes into $C$. Compute the tile yourself
# with `jax.numpy` on the blocks: no other kernel (`pallas_call`), no callback to the host (such as
# `jax.pure_callback`), and nothing of the course's own fused kernels (`involution_course.fused`).
#
# `run_tile` below calls your kernel on one block, as a grid of one program.

# %% nbgrader={"cell_type": "code", "checksum": "167d7b2a1236dda14c6762cd27601112", "grade": false, "grade_id": "run-tile", "locked": true, "schema_version": 3, "solution": false, "task": false}
def run_tile(tile_kernel, x_block, k_block, stride):
    """Run ``tile_kernel`` on one tile in interpret mode: x_block (R_in, S_in, C), k_block (R, S, G, K, K)."""
    (rows, cols), channels = k_block.shape[:2], x_block.shape[-1]
    call = pl.pallas_call(
        functools.partial(tile_kernel, stride=stride),
        out_shape=jax.ShapeDtypeStruct((rows, cols, channels), jnp.float32),
        interpret=True,
    )
    return np.asarray(call(jnp.asarray(x_block, jnp.float32), jnp.asarray(k_block, jnp.float32)))


# %% nbgrader={"cell_type": "code", "checksum": "0263a0dd81e3eef2e4709f6172393886", "grade": false, "grade_id": "ex3_tile", "locked": false, "schema_version": 3, "solution": true, "task": false}
def involution_tile(x_ref, k_ref, o_ref, *, stride):
    """One tile of involution's multiply-add: x_ref (R_in, S_in, C), k_ref (R, S, G, K, K) -> o_ref (R, S, C)."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: a 4 x 4 block of 0..15 and a 2 x 2 tile whose kernel has only its centre tap (1, 1):
# each output is the pixel one row down and one column right, [[5, 6], [9, 10]].
centre = np.zeros((2, 2, 1, 3, 3))
centre[:, :, 0, 1, 1] = 1.0
print(run_tile(involution_tile, np.arange(16.0).reshape(4, 4, 1), centre, stride=1)[..., 0])


# %% nbgrader={"cell_type": "code", "checksum": "0062a3b0f731e984197ede99086e292c", "grade": true, "grade_id": "ex3_test_tile", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _one_tap(size, ki, kj, rows, cols, groups=1):
    """A tile's kernels (R, S, G, K, K) with a 1 at tap (ki, kj) for every position and group, 0 elsewhere."""
    kernel = np.zeros((rows, cols, groups, size, size))
    kernel[:, :, :, ki, kj] = 1.0
    return kernel


_block = np.arange(16.0).reshape(4, 4, 1)        # stride 1, K = 3, a 2 x 2 tile: 4 x 4 padded pixels, one channel
for (_ki, _kj), _want in {(1, 1): [[5, 6], [9, 10]], (0, 2): [[2, 3], [6, 7]], (2, 0): [[8, 9], [12, 13]]}.items():
    _got = run_tile(involution_tile, _block, _one_tap(3, _ki, _kj, 2, 2), stride=1)
    assert _got.shape == (2, 2, 1), f"the output tile is (R, S, C) = (2, 2, 1); got {_got.shape}"
    assert np.allclose(_got[..., 0], _want), (
        f"stride 1, only tap ({_ki}, {_kj}): output (i, j) reads x_ref[i + {_ki}, j + {_kj}, 0], so {_want}; got {_got[..., 0].tolist()}")
_block = np.arange(25.0).reshape(5, 5, 1)        # stride 2, K = 3, a 2 x 2 tile: (2-1)*2 + 3 = 5 padded rows
for (_ki, _kj), _want in {(0, 0): [[0, 2], [10, 12]], (2, 1): [[11, 13], [21, 23]]}.items():
    _got = run_tile(involution_tile, _block, _one_tap(3, _ki, _kj, 2, 2), stride=2)
    assert np.allclose(_got[..., 0], _want), (
        f"stride 2, only tap ({_ki}, {_kj}): output (i, j) reads x_ref[2*i + {_ki}, 2*j + {_kj}, 0], so {_want}; got {_got[..., 0].tolist()}")


def _tile_definition(x_block, k_block, stride):
    """The tile's outputs, position by position and tap by tap (float64)."""
    channels = x_block.shape[-1]
    rows, cols, groups, size = k_block.shape[:4]
    out = np.zeros((rows, cols, channels))
    for i in range(rows):
        for j in range(cols):
            for c in range(channels):
                for ki in range(size):
                    for kj in range(size):
                        out[i, j, c] += x_block[i * stride + ki, j * stride + kj, c] * k_block[i, j, c // (channels // groups), ki, kj]
    return out


# Rule: the tile's outputs for any C, G, K, stride and tile size.
_rng = np.random.default_rng(3)
for _channels, _groups, _size, _stride, _rows, _cols in ((4, 2, 3, 1, 4, 5), (6, 3, 5, 2, 3, 2)):
    _x = _rng.normal(size=((_rows - 1) * _stride + _size, (_cols - 1) * _stride + _size, _channels))
    _k = _rng.normal(size=(_rows, _cols, _groups, _size, _size))
    assert np.allclose(run_tile(involution_tile, _x, _k, stride=_stride), _tile_definition(_x, _k, _stride), atol=1e-4), (
        f"C = {_channels} channels in G = {_groups} groups, K = {_size}, stride {_stride}, a {_rows} x {_cols} tile: channel c "
        "uses group c // (C / G)'s kernels, so with C = 4 and G = 2 channels 0 and 1 use group 0's, channels 2 and 3 group 1's")
# Rule: compute the tile yourself (read from your code, as the grader reads it).
code_rules.assert_own_code(involution_tile, {"pallas_call", "pure_callback", "io_callback", "callback"},
                           {"involution_course.fused", "jax.experimental.host_callback"},
                           rule="compute the tile yourself with jax.numpy on the blocks: no other kernel, no callback to "
                                "the host, nothing of the course's fused kernels")
print("involution_tile passes the tests.")


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "94bcf6fc06c2fbab2535bff921acf151", "grade": false, "grade_id": "grid-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 4 · A grid of tiles and their halo
#
# To cover a whole image the output is cut into tiles of $R \times S$ positions, and a *grid* runs one
# program per tile. Pallas hands each program its blocks through `BlockSpec`s: for the kernel and the
# output the tiles do not overlap, so `BlockSpec((R, S, G, K, K), lambda r, c: (r, c, 0, 0, 0))` gives
# program $(r, c)$ the $(r, c)$-th block. The input blocks overlap: neighbouring tiles share the
# $K - s$ rows and columns at their border (the *halo*). So we cut them beforehand, and for that
# we need, for each tile, which rows of the padded input it reads.
#
# **Exercise 4 (2 points).** Write `input_span(first, count, kernel_size, stride)`: the rows
# `(start, stop)` of the **padded** input that output rows `first, first + 1, …, first + count - 1`
# read (`start` included, `stop` excluded, as in `x[start:stop]`), as a tuple of two Python ints.
# The same function gives a tile's columns.

# %% nbgrader={"cell_type": "code", "checksum": "f5fa5e1222290104efab58558bd557a4", "grade": false, "grade_id": "ex4_span", "locked": false, "schema_version": 3, "solution": true, "task": false}
def input_span(first, count, kernel_size, stride):
    """Rows [start, stop) of the padded input that output rows first .. first + count - 1 read."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: with K = 3 and stride 1, output rows 4..7 read padded rows 4..9.
print(input_span(4, 4, 3, 1))


# %% nbgrader={"cell_type": "code", "checksum": "b7bd18b4de3e5269c1c83db4f3793308", "grade": true, "grade_id": "ex4_test_span", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _as_ints(span):
    assert isinstance(span, tuple) and len(span) == 2, f"input_span should return a tuple (start, stop); got {span!r}"
    assert all(isinstance(v, (int, np.integer)) for v in span), f"start and stop should be whole numbers; got {span!r}"
    return tuple(int(v) for v in span)


# Rule: the padded rows [start, stop) that the output rows read.
assert _as_ints(input_span(0, 4, 3, 1)) == (0, 6), (
    f"K = 3, stride 1: output rows 0..3 read padded rows 0..5 (row 3's taps read rows 3, 4, 5), so (0, 6); got {input_span(0, 4, 3, 1)}")
assert _as_ints(input_span(4, 4, 3, 1)) == (4, 10), f"K = 3, stride 1: output rows 4..7 read padded rows 4..9, so (4, 10); got {input_span(4, 4, 3, 1)}"
assert _as_ints(input_span(1, 2, 3, 2)) == (2, 7), (
    "K = 3, stride 2: output row 1 reads padded rows 2, 3, 4 and output row 2 rows 4, 5, 6, so (2, 7); "
    f"got {input_span(1, 2, 3, 2)}")
assert _as_ints(input_span(0, 3, 1, 1)) == (0, 3), f"K = 1: no halo, output rows 0..2 read rows 0..2; got {input_span(0, 3, 1, 1)}"
print("input_span passes the tests.")


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "90e7a5dbc8353421679e2f43f7b30f7c", "grade": false, "grade_id": "tiled-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Now the whole image, as a grid of programs that each run your kernel on their tile, with the input
# blocks cut by your spans; the result is compared with NumPy's unfold from section 1. Tiles of the
# last row and column may hang over the image's edge: the padded input and the kernels are padded
# with zeros to whole tiles, and the extra outputs dropped. The halo means that a tiled kernel reads
# some input pixels more than once: the cell also counts how much of $X$ the tiles read in all.

# %% nbgrader={"cell_type": "code", "checksum": "17e2c886facc32525372e04d2d73246c", "grade": false, "grade_id": "tiled", "locked": true, "schema_version": 3, "solution": false, "task": false}
def involution_tiled(x, kernel, stride, tile, tile_kernel, span):
    """One image: x (H, W, C), kernel (H_out, W_out, G, K, K) -> (H_out, W_out, C), one program per tile.

    Returns the outputs and the number of input elements the programs read in all.
    """
    height, width, channels = x.shape
    rows, cols, groups, size = kernel.shape[:4]
    tile_rows, tile_cols = tile
    n_rows, n_cols = -(-rows // tile_rows), -(-cols // tile_cols)
    row_spans = [span(r * tile_rows, tile_rows, size, stride) for r in range(n_rows)]
    col_spans = [span(c * tile_cols, tile_cols, size, stride) for c in range(n_cols)]
    half = size // 2
    padded = np.zeros((max(row_spans[-1][1], height + 2 * half), max(col_spans[-1][1], width + 2 * half), channels), "float32")
    padded[half:half + height, half:half + width] = x
    blocks = np.stack([np.stack([padded[r0:r1, c0:c1] for c0, c1 in col_spans]) for r0, r1 in row_spans])
    whole = np.zeros((n_rows * tile_rows, n_cols * tile_cols, groups, size, size), "float32")
    whole[:rows, :cols] = kernel
    block_rows, block_cols = blocks.shape[2:4]
    call = pl.pallas_call(
        functools.partial(tile_kernel, stride=stride),
        grid=(n_rows, n_cols),
        in_specs=[
            pl.BlockSpec((None, None, block_rows, block_cols, channels), lambda r, c: (r, c, 0, 0, 0)),
            pl.BlockSpec((tile_rows, tile_cols, groups, size, size), lambda r, c: (r, c, 0, 0, 0)),
        ],
        out_specs=pl.BlockSpec((tile_rows, tile_cols, channels), lambda r, c: (r, c, 0)),
        out_shape=jax.ShapeDtypeStruct((n_rows * tile_rows, n_cols * tile_cols, channels), jnp.float32),
        interpret=True,
    )
    out = np.asarray(call(jnp.asarray(blocks), jnp.asarray(whole)))[:rows, :cols]
    return out, blocks.size


image = np.random.default_rng(4).normal(size=(20, 18, 8)).astype("float32")
for stride_ in (1, 2):
    rows_, cols_ = -(-20 // stride_), -(-18 // stride_)
    image_kernel = np.random.default_rng(5).normal(size=(rows_, cols_, 2, 5, 5)).astype("float32")
    tiled_, read_ = involution_tiled(image, image_kernel, stride_, (4, 8), involution_tile, input_span)
    reference_ = unfold_numpy(image[None], image_kernel[None], stride_)[0]
    print(f"stride {stride_}: {-(-rows_ // 4) * -(-cols_ // 8)} tiles of 4 x 8 outputs; largest difference from NumPy's unfold "
          f"{np.abs(tiled_ - reference_).max():.1e}; the tiles read {read_ / image.size:.2f} times the input's elements")


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "65f2baeb8028fb8e510e3b2a1f56d652", "grade": false, "grade_id": "tiled-reading", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The halo is the price of tiling: small tiles read the border rows of their neighbours again, large
# tiles need more fast memory per program. A real kernel picks the tile so that its blocks fit in
# on-chip memory and the halo stays a small fraction; on the GPU the blocks come straight from the
# input, with masked loads where a tile hangs over the edge, rather than from a copy cut beforehand.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "12c23e36a6046d02330600cf2b1f51e4", "grade": false, "grade_id": "gpu-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 5 · Measured on a GPU
#
# The course timed the multiply-add alone on GPUs, in float32, channels last for the course's
# kernels (the paper's CUDA kernels are channels first). A step is what one training step asks of
# it: a forward pass, a sum as the loss, and the gradients of the input and of the kernel. Beside the
# methods of section 1: the paper's own CUDA kernels, shifted slices compiled by `torch.compile` or
# XLA (which fuse some operations), and cuDNN's or XLA's depthwise $K \times K$ convolution, which has
# the same shape of work with one kernel per channel shared by all positions. The *floor* is the time
# to move, at the measured bandwidth, the bytes a fused kernel must move: forward, your count;
# backward, reading $X$, the kernel and $\mathrm{d}Y$ and writing $\mathrm{d}X$ and $\mathrm{d}\mathcal{H}$.
#
# Not every column was timed in the same run or the same way: below the table, one line per column
# says where, when and how. Every sentence after it is computed from the table's numbers.

# %% nbgrader={"cell_type": "code", "checksum": "d94b62f897956ecf379e2c9c4866baf0", "grade": false, "grade_id": "gpu-recorded", "locked": true, "schema_version": 3, "solution": false, "task": false}
print(f"Recorded: {speed.provenance_text(recorded)}")
display(Markdown("**A step (forward + backward), ms**\n\n" + speed.timing_table(recorded) + "\n\nHow each column was obtained:\n\n"
                 + "\n".join(f"* {line}" for line in speed.column_sources(recorded))))
display(Markdown("**Forward and backward kernels timed apart, ms**\n\n" + speed.timing_table(recorded, "fwd_ms")
                 + "\n\n" + speed.timing_table(recorded, "bwd_ms")))
for sentence in speed.conclusions(recorded):
    print("-", sentence)
shown = [m for m in recorded.methods() if m != "floor"]
display(speed_figures.time_bars(
    recorded.cases(), [speed.METHODS.get(m, m) for m in shown],
    [[recorded.value(c, m) or np.nan for m in shown] for c in recorded.cases()],
    floor=[recorded.value(c, "floor") for c in recorded.cases()],
    title=f"A step of the multiply-add, {recorded.provenance.get('gpu', 'GPU')}",
))


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "5bce3bf3c816347a36527418e05aad56", "grade": false, "grade_id": "gpu-side-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Side by side, in one run.** The paper's kernels in the table above were timed apart from the
# course's. The course also timed both in one process, on one GPU, one after the other on the same
# inputs (and checked that they agree): only this table compares them directly.

# %% nbgrader={"cell_type": "code", "checksum": "f1fc885ef494adfecd3ece1873f68780", "grade": false, "grade_id": "gpu-side", "locked": true, "schema_version": 3, "solution": false, "task": false}
side = speed.load_side_by_side()
print(f"Recorded: {speed.provenance_text(side)}; timing: {side.provenance.get('timing', 'not recorded')}")
for measure, title in (("fwd_bwd_ms", "A step"), ("fwd_ms", "Forward alone"), ("bwd_ms", "Backward alone")):
    display(Markdown(f"**{title}, ms**\n\n" + speed.timing_table(side, measure)))
for sentence in speed.conclusions(side):
    print("-", sentence)


# %% nbgrader={"cell_type": "code", "checksum": "734fbad99b7ab44f17108e9edd6769c2", "grade": false, "grade_id": "gpu-floor-check", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Your forward floor (exercises 1 and 2) against the recorded forward floor and the paper's forward kernel.
for case in cases:
    mine = floors_ms[case]["fused"]
    theirs, paper = recorded.value(case.name, "floor", "fwd_ms"), recorded.value(case.name, "paper-cuda", "fwd_ms")
    line = f"{case.name}: forward floor by your count {mine:.4f} ms"
    if theirs:
        line += f", recorded {theirs:.3f} ms ({mine / theirs:.2f} times)"
    if paper:
        line += f"; the paper's forward kernel takes {paper / mine:.1f} times your floor"
    print(line)


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "07f16db30ef9c14ac7a4077b9ca7514f", "grade": false, "grade_id": "gpu-live-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Live, where there is a GPU.** If PyTorch sees a CUDA GPU here, the next cell times unfold,
# shifted slices and the course's fused Triton kernel (where Triton is installed) on the same cases,
# channels last, each as a whole step and as a forward alone. It measures this GPU's memory bandwidth
# with a large copy and adds the floor of a step and of a forward at that bandwidth, so that a step is
# set against a step's floor and a forward against a forward's. Elsewhere it says that the figures
# above are the recorded ones.

# %% nbgrader={"cell_type": "code", "checksum": "d5f9e2ac0894c2f5f99853e0923c0c8e", "grade": false, "grade_id": "gpu-live", "locked": true, "schema_version": 3, "solution": false, "task": false}
if live_speed.cuda_device() is None:
    print(f"No CUDA GPU here: the times above are the recorded ones. "
          "On Colab, choose Runtime > Change runtime type > T4 GPU to time the kernels live.")
else:
    live, notes = live_speed.measure(recorded.cases(), steps=5 + 5 * profile.repeats)
    print(f"Live: {speed.provenance_text(live)}")
    display(Markdown("**A step (forward + backward), ms, this GPU**\n\n" + speed.timing_table(live)
                     + "\n\n**Forward alone, ms, this GPU**\n\n" + speed.timing_table(live, "fwd_ms")
                     + "\n\nHow each column was obtained:\n\n" + "\n".join(f"* {line}" for line in speed.column_sources(live))))
    for sentence in speed.conclusions(live) + notes:
        print("-", sentence)
    for case in cases:  # your forward count at this GPU's bandwidth, against the fused forward
        forward_ms = live.value(case.name, "fused-triton", "fwd_ms")
        if forward_ms:
            print(f"{case.name}: the fused forward takes {forward_ms:.3f} ms, {forward_ms / (counts[case]['fused'] / live.bandwidth * 1e3):.1f} "
                  f"times your forward floor at this GPU's {live.bandwidth / 1e12:.2f} TB/s")


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "51cf143ca2970cf520f1d0bf0a46859f", "grade": false, "grade_id": "whole-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 6 · The whole involution in one kernel
#
# Section 5's fused kernel still reads the kernel $\mathcal{H}$ from memory: the generator's span
# $1 \times 1$ convolution writes it, $K^2 G$ numbers per position, and the multiply-add reads it
# back. At $C = 64$, $G = 4$, $K = 7$ that is $196$ numbers per position against $64$ of $X$ and $64$
# of $Y$: most of the fused kernel's bytes. A kernel that generates each position's kernel where it
# applies it reads instead the generator's hidden features ($C_r$ per position) and the span's
# weights (a few thousand numbers in all), and $\mathcal{H}$ never reaches memory. By the roofline:
#
# * **bytes**: two steps move the hidden features, $\mathcal{H}$ twice (written, then read) and $X$
#   and $Y$; one kernel moves the hidden features, $X$ and $Y$;
# * **FLOPs**: the same in both forms, the span's $2 C_r K^2 G$ per position plus the multiply-add's
#   $2 K^2 C$;
# * **arithmetic intensity**: so it rises by the ratio of the bytes, and the floor falls with the
#   bytes until the arithmetic becomes the larger of the two times: the computation may cross the
#   ridge and become compute-bound. Whether the measured time falls too depends on what the kernel
#   then does per byte: each program now computes its kernels too, which costs registers and
#   arithmetic, and may be slower than reading them.
#
# The next cell counts both forms' forward bytes for the first case with the reduction ratio $r = 4$
# of RedNet's layers ($C_r = \lfloor C / 4 \rfloor$), and shows the measured result where the course
# has one.

# %% nbgrader={"cell_type": "code", "checksum": "1f669c32e6d15f306e4a5d8c3226d59b", "grade": false, "grade_id": "whole", "locked": true, "schema_version": 3, "solution": false, "task": false}
case, reduction = cases[0], 4
positions = case.batch * case.height * case.width
hidden, kernel_numbers = positions * (case.channels // reduction), positions * case.groups * case.kernel_size**2
x_and_y = 2 * positions * case.channels
two_steps, one_kernel = 4 * (hidden + 2 * kernel_numbers + x_and_y), 4 * (hidden + x_and_y)
flops = 2 * kernel_numbers * (case.channels // reduction) + multiply_add_flops(**case.sizes())
side_of_ridge = {form: "below" if flops / moved < ridge else "above" for form, moved in (("two", two_steps), ("one", one_kernel))}
print(f"{case.name}, C_r = {case.channels // reduction}, forward: {flops / 1e9:.2f} GFLOP in both forms; two steps move "
      f"{two_steps / 1e6:.0f} MB ({flops / two_steps:.1f} FLOPs per byte, {side_of_ridge['two']} {gpu}'s ridge of {ridge:.1f}); "
      f"one kernel {one_kernel / 1e6:.0f} MB ({flops / one_kernel:.1f} FLOPs per byte, {side_of_ridge['one']} the ridge), "
      f"{two_steps / one_kernel:.1f} times fewer bytes (the span's weights, a few thousand numbers, left out).")
print(f"Floors at P and beta: two steps {time_floor(flops, two_steps, peak, bandwidth) * 1e3:.3f} ms, "
      f"one kernel {time_floor(flops, one_kernel, peak, bandwidth) * 1e3:.3f} ms.")
whole = speed.load_whole()
if whole is None:
    print("The whole-involution kernel has not been measured on a GPU yet, so this section has no measured result.")
else:
    p = whole["provenance"]
    print(f"Measured: {p.get('gpu')}, {str(p.get('date'))[:10]}, commit {p.get('commit')}, `{p.get('command')}` (forward only)")
    display(Markdown(speed.whole_table(whole)))
    for sentence in speed.whole_conclusions(whole, peak_flops=peak):
        print("-", sentence)


# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "56d18584e5427590d3b50d067552a16b", "grade": false, "grade_id": "whole-after", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Reading the result.** Fewer bytes lower the floor, but the floor only bounds the time. Where the
# lines above put one kernel below the ridge (or at it), memory bounds it, and fusing removes the
# bytes that dominated: that is where $C_r$, and with it the span's arithmetic, is small. Where they
# put it above the ridge, the span's $C_r K^2 G$ multiply-adds per position dominate the work. Two
# steps run them as one dense matrix product, tiled for the GPU's cores; one kernel runs them inside
# its gather loop, a few per loaded pixel. The lines give both rates: compare them where the one
# kernel lost. So the measured time can rise while the bytes fall: the roofline says which resource
# bounds a kernel, not how well the kernel uses it. The course's layer keeps the two steps: the one
# kernel has no backward pass, which training needs, and it does not win over the whole range.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "17004879476c776d9cb0600ff8a67517", "grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Summary
#
# - Involution's multiply-add does $2K^2$ FLOPs per output whichever way it is computed; the methods
#   differ in the bytes they move. Unfold writes and rereads a patch tensor $K^2$ times the output,
#   shifted slices read and write a running sum at every tap, a fused kernel reads its inputs and
#   writes its output once (your counts: section 1).
# - A count of bytes is a model: on a CPU, caches and the way an operation walks through memory can
#   reverse its prediction, and the memory a method holds is not the memory it moves (section 1).
# - At a few FLOPs per byte the multiply-add is far left of a GPU's ridge: memory-bound. Its floor is
#   the time to move the fused kernel's bytes, and fusion is what brings a method near it (section 2).
# - A fused kernel is index arithmetic: which rows and columns each tap of a tile reads (exercise 3),
#   and which block of the input each tile needs, its halo included (exercise 4). A kernel that
#   compiles for a GPU adds power-of-two blocks and masked loads.
# - Measured times set each method against the floor, each with where, when and how it was timed
#   (section 5); a floor is a bound, not a prediction. Generating the kernels where they are applied
#   removes the largest part of the bytes, and pays where the span's arithmetic is small (section 6).

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "ef1f4997ffbfb994e2a123d490c419aa", "grade": false, "grade_id": "written-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## In your own words
#
# **Question 1** (2 points, graded by hand). In the table of section 5, compare cuDNN's depthwise
# $K \times K$ convolution with the paper's involution kernels (timed in another run: the line under
# the table says which): depthwise reads one $K \times K$
# kernel per channel instead of one per output position and group. Count, by the model of
# section 1, the elements the depthwise convolution's forward pass must move for the first case
# (B = 32, C = 64, 56 × 56, K = 7), compare them with the fused involution kernel's, and say in three
# to five sentences what the measured times then tell you about where these kernels spend their time.
# Write it in the cell below.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "ac83fa42cc410a25b0edde3dde477a01", "grade": true, "grade_id": "written_floor", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "3c256d9ac92d15050e0bd95cd2f50091", "grade": false, "grade_id": "submitting", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Submitting
#
# Save the notebook (File > Save), then submit the `.ipynb` file. On Colab: File > Download >
# Download .ipynb, then upload the downloaded file to the course's platform.
