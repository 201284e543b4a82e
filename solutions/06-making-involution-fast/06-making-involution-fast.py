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
# 2. place each on a roofline: arithmetic intensity, memory-bound or compute-bound, and the
#    fastest time the hardware allows (the *floor*);
# 3. write the index arithmetic of a fused kernel for one tile of the output, in Pallas, and check it
#    on any CPU in interpret mode; then cut an image into tiles with their halo;
# 4. read measured GPU times against the floor, and say what fusion buys.
#
# Run the cells in order. Exercises are marked **Exercise**; write your answer where the cell says
# `# YOUR CODE HERE`, then run the tests below it. Visible tests help you; hidden tests run when
# your notebook is graded.
#
# **No GPU needed.** Every exercise runs on a CPU. The last section times the kernels live where
# PyTorch sees a CUDA GPU (on Colab: Runtime > Change runtime type > T4 GPU); everywhere else it
# shows the times the course recorded on an NVIDIA H200, and says so.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
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

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
import functools
import time

import jax.numpy as jnp
import numpy as np
from IPython.display import Markdown, display
from jax.experimental import pallas as pl

from involution_course import live_speed, speed
from involution_course.checks import needs
from involution_course.exercises import require
from involution_course.figures import speed as speed_figures

recorded = speed.load_timings()  # the times the course measured on a GPU (section 5)
cases = [speed.Case.parse(name) for name in recorded.cases()]
print(f"JAX {jax.__version__}; recorded cases: {', '.join(recorded.cases())}")

# %% [markdown] nbgrader={"grade": false, "grade_id": "cost-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1 · What the multiply-add costs
#
# Involution has two parts (notebooks 02 and 03): a small network *generates* a kernel for every
# output pixel, and a *multiply-add* applies it. The generation is two 1×1 convolutions, which every
# library runs well. The multiply-add is where the time goes. In this notebook tensors are
# **channels first** (NCHW), as in the paper's CUDA kernels and in the GPU measurements of section 5:
# input $x$ of shape $(B, C, H, W)$, kernel $\mathcal{H}$ of shape $(B, G, K, K, H', W')$ with taps
# first, output $y$ of shape $(B, C, H', W')$, where $H' = \lceil H / s \rceil$ and
# $W' = \lceil W / s \rceil$ for stride $s$:
#
# $$y_{b,c,i,j} = \sum_{k_i=0}^{K-1} \sum_{k_j=0}^{K-1}
#   x^{\text{pad}}_{b,\,c,\,i s + k_i,\,j s + k_j}\;\mathcal{H}_{b,\,g(c),\,k_i,\,k_j,\,i,\,j},
#   \qquad g(c) = \left\lfloor c \,/\, (C/G) \right\rfloor,$$
#
# with $x^{\text{pad}}$ the input padded by $(K-1)/2$ zeros on each side. Three ways to compute it:
#
# * **unfold**: copy every $K \times K$ window into a *patch tensor* of shape $(B, C, K^2, H', W')$,
#   $K^2$ times the size of the output, then weigh it with the kernel and sum the taps (the Keras
#   example's `extract_patches`);
# * **shifted slices**: for each of the $K^2$ taps, take the padded input shifted by $(k_i, k_j)$,
#   multiply it by that tap's kernel plane and add it to a running sum (the course's layer, notebook 03);
# * **fused**: one kernel reads $x$ and $\mathcal{H}$, keeps the running sum in the processor's
#   registers and writes $y$ once.
#
# All three do the same arithmetic. Each term of the sum is a multiply and an add, two
# floating-point operations (FLOPs), so the multiply-add takes $2 K^2 N_y$ FLOPs, where
# $N_y = B C H' W'$ is the number of outputs. What differs is the memory traffic. Counting it needs a
# model; ours, with sizes in elements $N_x = BCHW$, $N_\mathcal{H} = B G K^2 H' W'$ and $N_y$:
#
# 1. every operation reads its inputs from memory and writes its result to memory, once each;
#    nothing stays in a cache from one operation to the next;
# 2. zero padding is free: the zeros are never read from memory, so a shifted window of the padded
#    input counts as $N_y$ elements read;
# 3. bytes = elements × `itemsize` (4 for float32, 2 for bfloat16).
#
# Then:
#
# * **fused**, one operation: read $x$ and $\mathcal{H}$, write $y$;
# * **unfold**, two operations: the unfold reads $x$ and writes the patch tensor ($K^2 N_y$
#   elements); the contraction reads the patch tensor and $\mathcal{H}$ and writes $y$;
# * **slices**, $K^2$ operations, one per tap, each `total += window * plane` as one operation: it
#   reads its window ($N_y$ elements) and its kernel plane ($N_\mathcal{H} / K^2$), reads the running
#   sum ($N_y$), except at the first tap, where there is none yet, and writes the running sum ($N_y$).
#
# **Exercise 1 (3 points).** Write `multiply_add_flops(batch, height, width, channels, kernel_size,
# stride=1)`, the FLOPs of the multiply-add, and `bytes_moved(method, batch, height, width, channels,
# kernel_size, groups, stride=1, itemsize=4)`, the bytes that `method` (`"fused"`, `"unfold"` or
# `"slices"`) moves by the model above. Both return whole numbers (Python `int`). For any other
# method, raise a `ValueError`.

# %% nbgrader={"grade": false, "grade_id": "ex1_counts", "locked": false, "schema_version": 3, "solution": true, "task": false}
def multiply_add_flops(batch, height, width, channels, kernel_size, stride=1):
    """FLOPs of involution's multiply-add: a multiply and an add per tap, channel and output pixel."""
    ### BEGIN SOLUTION
    outputs = batch * channels * -(-height // stride) * -(-width // stride)
    return 2 * kernel_size**2 * outputs
    ### END SOLUTION


def bytes_moved(method, batch, height, width, channels, kernel_size, groups, stride=1, itemsize=4):
    """Bytes that ``method`` ("fused", "unfold" or "slices") reads and writes, by the model above."""
    ### BEGIN SOLUTION
    rows, cols = -(-height // stride), -(-width // stride)
    taps = kernel_size**2
    n_x = batch * channels * height * width
    n_kernel = batch * groups * taps * rows * cols
    n_y = batch * channels * rows * cols
    if method == "fused":
        elements = n_x + n_kernel + n_y
    elif method == "unfold":
        patches = taps * n_y
        elements = (n_x + patches) + (patches + n_kernel + n_y)
    elif method == "slices":
        elements = taps * n_y + n_kernel + (taps - 1) * n_y + taps * n_y
    else:
        raise ValueError(f"method must be 'fused', 'unfold' or 'slices'; got {method!r}")
    return elements * itemsize
    ### END SOLUTION


# Try it on the first recorded case: a RedNet-sized layer.
print(f"{multiply_add_flops(32, 56, 56, 64, 7):,} FLOPs")
for method_ in ("fused", "unfold", "slices"):
    print(f"{method_}: {bytes_moved(method_, 32, 56, 56, 64, 7, 4):,} bytes")


# %% nbgrader={"grade": true, "grade_id": "ex1_test_counts", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# One image, one channel, 4 x 4 pixels, K = 3, G = 1, stride 1: N_x = N_y = 16, N_H = 9 * 16 = 144.
assert multiply_add_flops(1, 4, 4, 1, 3) == 288, (
    f"multiply_add_flops(1, 4, 4, 1, 3) should be 2 * 9 taps * 16 outputs = 288; got {multiply_add_flops(1, 4, 4, 1, 3)}")
assert isinstance(multiply_add_flops(1, 4, 4, 1, 3), int), "return a Python int"
# Stride 2 on 5 x 5 pixels: ceil(5 / 2) = 3 output rows and columns (the last starts at row 4).
assert multiply_add_flops(2, 5, 5, 3, 3, stride=2) == 2 * 9 * 2 * 3 * 3 * 3, (
    "with stride 2, a 5 x 5 input gives ceil(5/2) x ceil(5/2) = 3 x 3 outputs: 2 * 9 * (2 * 3 * 3 * 3) = 972 FLOPs; "
    f"got {multiply_add_flops(2, 5, 5, 3, 3, stride=2)}")
_expected = {"fused": (16 + 144 + 16) * 4, "unfold": (16 + 2 * 144 + 144 + 16) * 4, "slices": (26 * 16 + 144) * 4}
_explain = {
    "fused": "read x (16) and the kernel (144), write y (16): 176 elements of 4 bytes",
    "unfold": "read x (16), write the patch tensor (9 * 16 = 144), read it again with the kernel (144), write y (16)",
    "slices": "9 windows (9 * 16), the 9 kernel planes (144), 8 reads and 9 writes of the running sum (17 * 16)",
}
for _method, _want in _expected.items():
    _got = bytes_moved(_method, 1, 4, 4, 1, 3, 1)
    assert isinstance(_got, int), f"bytes_moved({_method!r}, ...) should return a Python int; got {type(_got).__name__}"
    assert _got == _want, f"bytes_moved({_method!r}, 1, 4, 4, 1, 3, 1) should be {_want}: {_explain[_method]}; got {_got}"
assert bytes_moved("fused", 1, 4, 4, 1, 3, 1, itemsize=2) == 352, "itemsize=2 (bfloat16) halves the bytes: 352"
# The RedNet-sized case: float32, B=32, C=64, 56 x 56, K=7, G=4.
assert bytes_moved("fused", 32, 56, 56, 64, 7, 4) == 130_056_192, (
    f"the fused kernel of B=32, C=64, 56 x 56, K=7, G=4 moves 130,056,192 bytes; got {bytes_moved('fused', 32, 56, 56, 64, 7, 4):,}")
try:
    bytes_moved("winograd", 1, 4, 4, 1, 3, 1)
except ValueError:
    pass
else:
    raise AssertionError("bytes_moved('winograd', ...) should raise a ValueError: only fused, unfold and slices are defined")
print("multiply_add_flops and bytes_moved pass the tests.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "counts-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Your counts for the cases that section 5 times on a GPU (float32, stride 1). The patch tensor
# alone is $K^2$ times the output: at $K = 7$ it is 49 times the size of $y$, and unfold writes it
# and reads it back.

# %% nbgrader={"grade": false, "grade_id": "counts-table", "locked": true, "schema_version": 3, "solution": false, "task": false}
flops_of, bytes_of = require("multiply_add_flops", "Exercise 1"), require("bytes_moved", "Exercise 1")
METHODS = ("fused", "unfold", "slices")
counts = {
    case: {"flops": flops_of(**case.sizes()), **{m: bytes_of(m, **case.sizes(), groups=case.groups) for m in METHODS}}
    for case in cases
}
lines = ["| case | GFLOP | fused (MB) | unfold (MB) | slices (MB) | unfold ÷ fused |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
for case, count in counts.items():
    lines.append(f"| {case.name} | {count['flops'] / 1e9:.3f} | {count['fused'] / 1e6:,.1f} | {count['unfold'] / 1e6:,.1f} "
                 f"| {count['slices'] / 1e6:,.1f} | {count['unfold'] / count['fused']:.1f} |")
display(Markdown("\n".join(lines)))
unfold_ratios = [count["unfold"] / count["fused"] for count in counts.values()]
ic.record("bytes of unfold over the fused kernel's, first case", unfold_ratios[0])

# %% [markdown] nbgrader={"grade": false, "grade_id": "cpu-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ### Why a patch tensor is slow, on this computer
#
# The same two methods in NumPy on a small layer, timed here. Beside each time: the bytes your
# `bytes_moved` gives, and those bytes divided by the time, the rate at which the method moved
# memory. NumPy runs operation by operation, as the model assumes (it has no fused kernel).

# %% nbgrader={"grade": false, "grade_id": "cpu-timing", "locked": true, "schema_version": 3, "solution": false, "task": false}
def unfold_numpy(x, kernel, stride=1):
    """Channels first: the patch tensor (B, C, K*K, H', W') as a real array, weighed and summed over the taps."""
    batch, channels = x.shape[:2]
    groups, size = kernel.shape[1:3]
    rows, cols = kernel.shape[-2:]
    half = (size - 1) // 2
    padded = np.pad(x, ((0, 0), (0, 0), (half, half), (half, half)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(2, 3))
    patches = np.ascontiguousarray(windows[:, :, ::stride, ::stride][:, :, :rows, :cols])  # (B, C, H', W', K, K)
    patches = patches.reshape(batch, groups, channels // groups, rows, cols, size, size)
    return np.einsum("bgcijkl,bgklij->bgcij", patches, kernel).reshape(batch, channels, rows, cols)


def slices_numpy(x, kernel, stride=1):
    """Channels first: one shifted window of the padded input per tap, weighed and added to a running sum."""
    batch, channels = x.shape[:2]
    groups, size = kernel.shape[1:3]
    rows, cols = kernel.shape[-2:]
    half = (size - 1) // 2
    padded = np.pad(x, ((0, 0), (0, 0), (half, half), (half, half)))
    grouped = padded.reshape(batch, groups, channels // groups, *padded.shape[2:])
    total = np.zeros((batch, groups, channels // groups, rows, cols), dtype=x.dtype)
    for ki in range(size):
        for kj in range(size):
            shifted = grouped[..., ki:ki + stride * (rows - 1) + 1:stride, kj:kj + stride * (cols - 1) + 1:stride]
            total += shifted * kernel[:, :, None, ki, kj]
    return total.reshape(batch, channels, rows, cols)


def median_seconds(function, *args, repeats):
    times = []
    for _ in range(repeats + 1):  # the first call warms up
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


cpu_case = speed.Case(batch=4, channels=32, height=28, width=28, kernel_size=7, groups=4)
rng = np.random.default_rng(0)
cpu_x = rng.normal(size=(4, 32, 28, 28)).astype("float32")
cpu_kernel = rng.normal(size=(4, 4, 7, 7, 28, 28)).astype("float32")
assert np.allclose(unfold_numpy(cpu_x, cpu_kernel), slices_numpy(cpu_x, cpu_kernel), atol=1e-3)
cpu_seconds = {
    "unfold": median_seconds(unfold_numpy, cpu_x, cpu_kernel, repeats=2 * profile.repeats),
    "slices": median_seconds(slices_numpy, cpu_x, cpu_kernel, repeats=2 * profile.repeats),
}
for method_, seconds_ in cpu_seconds.items():
    moved_ = bytes_of(method_, **cpu_case.sizes(), groups=cpu_case.groups)
    print(f"{method_:>6}: {seconds_ * 1e3:6.1f} ms, {moved_ / 1e6:5.1f} MB by your count, {moved_ / seconds_ / 1e9:5.1f} GB/s")
cpu_ratio = cpu_seconds["unfold"] / cpu_seconds["slices"]
print(f"On this CPU unfold took {cpu_ratio:.1f} times as long as shifted slices "
      f"({'slower' if cpu_ratio > 1 else 'faster'}), for this small layer, in this run.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "roofline-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2 · The roofline
#
# A processor does two things at once: arithmetic, at up to $P$ FLOPs per second (its *peak*), and
# moving bytes between its memory and its cores, at up to $\beta$ bytes per second (its *memory
# bandwidth*). A computation of $F$ FLOPs that moves $Q$ bytes can finish no sooner than either
# allows, so its time is at least
#
# $$t_\text{floor} = \max\!\left(\frac{F}{P},\ \frac{Q}{\beta}\right).$$
#
# Its **arithmetic intensity** $I = F / Q$, FLOPs per byte, decides which term wins. At intensity
# $I$ the memory can feed at most $I \beta$ FLOPs per second, so the rate it can attain is
#
# $$\text{attainable}(I) = \min(P,\ I \beta),$$
#
# the *roofline*: a slope (memory-bound) up to the *ridge* $I^* = P / \beta$, then flat
# (compute-bound). The cell after the exercise takes $P$ and $\beta$ of section 5's GPU from the
# recorded measurements.
#
# **Exercise 2 (2 points).** Write `attainable_flops(intensity, peak_flops, bandwidth)`, which works on
# a number and, element by element, on a NumPy array of intensities, and `time_floor(flops, n_bytes,
# peak_flops, bandwidth)`, $t_\text{floor}$ in seconds.

# %% nbgrader={"grade": false, "grade_id": "ex2_roofline", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attainable_flops(intensity, peak_flops, bandwidth):
    """The roofline: the FLOP rate that memory can feed at ``intensity``, capped by the peak."""
    ### BEGIN SOLUTION
    return np.minimum(peak_flops, np.asarray(intensity, dtype=float) * bandwidth)
    ### END SOLUTION


def time_floor(flops, n_bytes, peak_flops, bandwidth):
    """The least time, in seconds, that ``flops`` of arithmetic and ``n_bytes`` of memory traffic take."""
    ### BEGIN SOLUTION
    return max(flops / peak_flops, n_bytes / bandwidth)
    ### END SOLUTION


# Try it: the fused kernel of the first case on the H200.
print(f"attainable at 4.8 FLOP/byte: {float(attainable_flops(4.8, 67e12, 4.17e12)) / 1e12:.1f} TFLOP/s")
print(f"floor: {time_floor(629_407_744, 130_056_192, 67e12, 4.17e12) * 1e3:.4f} ms")


# %% nbgrader={"grade": true, "grade_id": "ex2_test_roofline", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# P = 64 TFLOP/s, beta = 4 TB/s: the ridge is at 16 FLOPs per byte.
_got = np.asarray(attainable_flops(np.array([1.0, 8.0, 16.0, 100.0]), 64e12, 4e12), dtype=float)
assert _got.shape == (4,), f"attainable_flops of 4 intensities should give 4 rates; got shape {_got.shape}"
assert np.allclose(_got, [4e12, 32e12, 64e12, 64e12]), (
    f"below the ridge (16) the rate is intensity * bandwidth, above it the peak: [4e12, 32e12, 64e12, 64e12]; got {_got}")
assert np.isclose(float(attainable_flops(2.0, 64e12, 4e12)), 8e12), "attainable_flops(2.0, 64e12, 4e12) should be 8e12"
# 1 GFLOP and 1 GB on a 1 TFLOP/s, 100 GB/s processor: 1 ms of arithmetic, 10 ms of memory traffic.
assert np.isclose(time_floor(1e9, 1e9, 1e12, 1e11), 1e-2), (
    f"time_floor(1e9, 1e9, 1e12, 1e11): the memory takes 10 ms, the arithmetic 1 ms, so 0.01 s; got {time_floor(1e9, 1e9, 1e12, 1e11)}")
assert np.isclose(time_floor(1e12, 1e9, 1e12, 1e11), 1.0), "1 TFLOP on a 1 TFLOP/s processor takes 1 s, whatever the 10 ms of memory"
print("attainable_flops and time_floor pass the tests.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "roofline-figure-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The three methods of the first case on the H200's roofline, each at the rate its bytes allow
# (filled circles, from your counts), and the paper's CUDA kernels as measured (hollow square: the
# forward kernel's FLOPs over its measured time, at the fused kernel's intensity).

# %% nbgrader={"grade": false, "grade_id": "roofline-figure", "locked": true, "schema_version": 3, "solution": false, "task": false}
needs(counts="Exercise 1")
roof, floor_of = require("attainable_flops", "Exercise 2"), require("time_floor", "Exercise 2")
peak, bandwidth = recorded.peak_flops, recorded.bandwidth
first = cases[0]
intensities = {m: counts[first]["flops"] / counts[first][m] for m in METHODS}
grid = np.logspace(-2, 3, 200)
points = [(f"{m}, bound by its bytes", intensities[m], float(roof(intensities[m], peak, bandwidth))) for m in METHODS]
measured_ms = recorded.value(first.name, "paper-cuda", "fwd_ms")
if measured_ms:
    points.append(("measured: the paper's forward kernel", intensities["fused"], counts[first]["flops"] / (measured_ms / 1e3)))
display(speed_figures.roofline(grid, np.asarray(roof(grid, peak, bandwidth), dtype=float), points,
                               peak_flops=peak, bandwidth=bandwidth, title=f"{first.name}, float32, NVIDIA H200"))
floors_ms = {case: {m: floor_of(count["flops"], count[m], peak, bandwidth) * 1e3 for m in METHODS} for case, count in counts.items()}
ridge = peak / bandwidth
print(f"{recorded.provenance.get('gpu', 'GPU')}: peak P = {peak / 1e12:.0f} TFLOP/s, bandwidth beta = "
      f"{bandwidth / 1e12:.2f} TB/s, ridge P / beta = {ridge:.1f} FLOPs per byte.")
for m in METHODS:
    print(f"{m:>6}: {intensities[m]:.2f} FLOPs per byte, {ridge / intensities[m]:.0f} times below the ridge; "
          f"forward floor {floors_ms[first][m]:.3f} ms")
bound = "memory-bound" if max(intensities.values()) < ridge else "compute-bound for at least one method"
print(f"In this case the multiply-add is {bound}.")
if measured_ms:
    print(f"The paper's forward kernel attains {counts[first]['flops'] / (measured_ms / 1e3) / 1e12:.2f} TFLOP/s, "
          f"{floors_ms[first]['fused'] / measured_ms:.0%} of its roof at that intensity.")
ic.record("fused forward floor, first case", floors_ms[first]["fused"], "ms")

# %% [markdown] nbgrader={"grade": false, "grade_id": "roofline-reading", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Left of the ridge a computation is **memory-bound**: each byte it moves takes part in too few FLOPs
# to keep the arithmetic busy, so its floor is the time to move its bytes, and the only way to go
# faster is to move fewer. That is what fusion buys: the same FLOPs for a fraction of the bytes, so a
# higher intensity and a lower floor. Where a measured kernel sits below its roof, it runs slower than
# its bytes demand; the cell above says how far.

# %% [markdown] nbgrader={"grade": false, "grade_id": "tile-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3 · A fused kernel, one tile at a time
#
# A fused kernel splits the output into *tiles* and runs one *program* per tile, many at a time. Each
# program copies the blocks of $x$ and $\mathcal{H}$ that its tile needs from memory into fast
# on-chip memory, computes the tile's outputs there, and writes them once. We write one with
# [Pallas](https://docs.jax.dev/en/latest/pallas/index.html), JAX's language for kernels. A Pallas
# kernel is a Python function of *refs*, references to the blocks in fast memory: `x_ref[...]`
# reads a whole block, `x_ref[:, pl.ds(start, size, stride=s), :]` reads `size` rows
# `start, start + s, start + 2s, …`, and `o_ref[...] = value` writes. `pl.pallas_call(kernel,
# out_shape=..., interpret=True)` runs it; *interpret mode* runs the kernel as ordinary JAX operations,
# on any CPU, so its index arithmetic can be checked anywhere. On a GPU or a TPU, kernels of this
# kind compile, without `interpret=True`, to one fused kernel of that device.
#
# One tile is $R \times S$ output pixels of one image, all $C$ channels. Its kernel receives:
#
# * `x_ref`, shape $(C,\ (R-1)s + K,\ (S-1)s + K)$: the block of the **padded** input that the
#   tile reads (its *halo* included), `x_ref[c, 0, 0]` being the top-left padded pixel it needs;
# * `k_ref`, shape $(G, K, K, R, S)$: the tile's kernels, taps first;
# * `o_ref`, shape $(C, R, S)$: where the tile's outputs go.
#
# Output pixel $(i, j)$ of the tile, tap $(k_i, k_j)$, reads `x_ref[c, i*s + ki, j*s + kj]`; over the
# whole tile, tap $(k_i, k_j)$ reads rows $k_i, k_i + s, \ldots, k_i + (R-1)s$ and the columns alike.
#
# **Exercise 3 (3 points).** Write the kernel `involution_tile(x_ref, k_ref, o_ref, *, stride)`: for each
# of the $K^2$ taps (a Python loop: $K$ is known when the kernel is traced), read the tap's window
# of `x_ref`, weigh it with the tap's kernel plane, and add it to a running sum kept in float32; then
# write the sum to `o_ref` once. Channel $c$ uses group $g(c) = \lfloor c / (C/G) \rfloor$: `jnp.repeat`
# turns $G$ planes into $C$. Use `jax.numpy` on the blocks, not another kernel or a callback to NumPy.
#
# `run_tile` below calls your kernel on one block, as a grid of one program.

# %% nbgrader={"grade": false, "grade_id": "run-tile", "locked": true, "schema_version": 3, "solution": false, "task": false}
def run_tile(tile_kernel, x_block, k_block, stride):
    """Run ``tile_kernel`` on one tile in interpret mode: x_block (C, R_in, S_in), k_block (G, K, K, R, S)."""
    channels, (rows, cols) = x_block.shape[0], k_block.shape[-2:]
    call = pl.pallas_call(
        functools.partial(tile_kernel, stride=stride),
        out_shape=jax.ShapeDtypeStruct((channels, rows, cols), jnp.float32),
        interpret=True,
    )
    return np.asarray(call(jnp.asarray(x_block, jnp.float32), jnp.asarray(k_block, jnp.float32)))


# %% nbgrader={"grade": false, "grade_id": "ex3_tile", "locked": false, "schema_version": 3, "solution": true, "task": false}
def involution_tile(x_ref, k_ref, o_ref, *, stride):
    """One tile of involution's multiply-add: x_ref (C, R_in, S_in), k_ref (G, K, K, R, S) -> o_ref (C, R, S)."""
    ### BEGIN SOLUTION
    channels, rows, cols = o_ref.shape
    groups, size = k_ref.shape[0], k_ref.shape[1]
    total = jnp.zeros((channels, rows, cols), jnp.float32)
    for ki in range(size):
        for kj in range(size):
            window = x_ref[:, pl.ds(ki, rows, stride=stride), pl.ds(kj, cols, stride=stride)]
            plane = jnp.repeat(k_ref[:, ki, kj], channels // groups, axis=0)
            total = total + window.astype(jnp.float32) * plane.astype(jnp.float32)
    o_ref[...] = total.astype(o_ref.dtype)
    ### END SOLUTION


# Try it: a 4 x 4 block of 0..15 and a 2 x 2 tile whose kernel has only its centre tap (1, 1):
# each output is the pixel one row down and one column right, [[5, 6], [9, 10]].
centre = np.zeros((1, 3, 3, 2, 2))
centre[0, 1, 1] = 1.0
print(run_tile(involution_tile, np.arange(16.0).reshape(1, 4, 4), centre, stride=1)[0])


# %% nbgrader={"grade": true, "grade_id": "ex3_test_tile", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _one_tap(size, ki, kj, rows, cols, groups=1):
    """A tile's kernels with a 1 at tap (ki, kj) for every pixel and group, 0 elsewhere."""
    kernel = np.zeros((groups, size, size, rows, cols))
    kernel[:, ki, kj] = 1.0
    return kernel


_block = np.arange(16.0).reshape(1, 4, 4)        # stride 1, K = 3, a 2 x 2 tile: 4 x 4 padded pixels
for (_ki, _kj), _want in {(1, 1): [[5, 6], [9, 10]], (0, 2): [[2, 3], [6, 7]], (2, 0): [[8, 9], [12, 13]]}.items():
    _got = run_tile(involution_tile, _block, _one_tap(3, _ki, _kj, 2, 2), stride=1)
    assert _got.shape == (1, 2, 2), f"the output tile should have shape (C, R, S) = (1, 2, 2); got {_got.shape}"
    assert np.allclose(_got[0], _want), (
        f"stride 1, only tap ({_ki}, {_kj}): output (i, j) reads x_ref[0, i + {_ki}, j + {_kj}], so {_want}; got {_got[0].tolist()}")
_block = np.arange(25.0).reshape(1, 5, 5)        # stride 2, K = 3, a 2 x 2 tile: (2-1)*2 + 3 = 5 padded rows
for (_ki, _kj), _want in {(0, 0): [[0, 2], [10, 12]], (2, 1): [[11, 13], [21, 23]]}.items():
    _got = run_tile(involution_tile, _block, _one_tap(3, _ki, _kj, 2, 2), stride=2)
    assert np.allclose(_got[0], _want), (
        f"stride 2, only tap ({_ki}, {_kj}): output (i, j) reads x_ref[0, 2*i + {_ki}, 2*j + {_kj}], so {_want}; got {_got[0].tolist()}")


def _tile_definition(x_block, k_block, stride):
    """The tile's outputs, pixel by pixel and tap by tap (float64)."""
    channels = x_block.shape[0]
    groups, size, _, rows, cols = k_block.shape
    out = np.zeros((channels, rows, cols))
    for c in range(channels):
        for i in range(rows):
            for j in range(cols):
                for ki in range(size):
                    for kj in range(size):
                        out[c, i, j] += x_block[c, i * stride + ki, j * stride + kj] * k_block[c // (channels // groups), ki, kj, i, j]
    return out


_rng = np.random.default_rng(3)
_x, _k = _rng.normal(size=(4, 6, 7)), _rng.normal(size=(2, 3, 3, 4, 5))   # C = 4, G = 2, a 4 x 5 tile, stride 1
_got = run_tile(involution_tile, _x, _k, stride=1)
assert np.allclose(_got, _tile_definition(_x, _k, 1), atol=1e-5), (
    "C = 4 channels in G = 2 groups: channels 0 and 1 use group 0's kernels, channels 2 and 3 group 1's")
print("involution_tile passes the tests.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "grid-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 4 · A grid of tiles and their halo
#
# To cover a whole image the output is cut into tiles of $R \times S$ pixels, and a *grid* runs one
# program per tile. Pallas hands each program its blocks through `BlockSpec`s: for the kernel and the
# output the tiles do not overlap, so `BlockSpec((G, K, K, R, S), lambda r, c: (0, 0, 0, r, c))` gives
# program $(r, c)$ the $(r, c)$-th block. The input blocks overlap: neighbouring tiles share the
# $K - s$ rows and columns at their border (the *halo*). So we cut them beforehand, and for that
# we need, for each tile, which rows of the padded input it reads.
#
# **Exercise 4 (2 points).** Write `input_span(first, count, kernel_size, stride)`: the rows
# `(start, stop)` of the **padded** input that output rows `first, first + 1, …, first + count - 1`
# read (`start` included, `stop` excluded, as in `x[start:stop]`), as a tuple of two Python ints.
# The same function gives a tile's columns.

# %% nbgrader={"grade": false, "grade_id": "ex4_span", "locked": false, "schema_version": 3, "solution": true, "task": false}
def input_span(first, count, kernel_size, stride):
    """Rows [start, stop) of the padded input that output rows first .. first + count - 1 read."""
    ### BEGIN SOLUTION
    start = first * stride
    return start, (first + count - 1) * stride + kernel_size
    ### END SOLUTION


# Try it: with K = 3 and stride 1, output rows 4..7 read padded rows 4..9.
print(input_span(4, 4, 3, 1))


# %% nbgrader={"grade": true, "grade_id": "ex4_test_span", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _as_ints(span):
    assert isinstance(span, tuple) and len(span) == 2, f"input_span should return a tuple (start, stop); got {span!r}"
    assert all(isinstance(v, (int, np.integer)) for v in span), f"start and stop should be whole numbers; got {span!r}"
    return tuple(int(v) for v in span)


assert _as_ints(input_span(0, 4, 3, 1)) == (0, 6), (
    f"K = 3, stride 1: output rows 0..3 read padded rows 0..5 (row 3's taps read rows 3, 4, 5), so (0, 6); got {input_span(0, 4, 3, 1)}")
assert _as_ints(input_span(4, 4, 3, 1)) == (4, 10), f"K = 3, stride 1: output rows 4..7 read padded rows 4..9, so (4, 10); got {input_span(4, 4, 3, 1)}"
assert _as_ints(input_span(1, 2, 3, 2)) == (2, 7), (
    "K = 3, stride 2: output row 1 reads padded rows 2, 3, 4 and output row 2 rows 4, 5, 6, so (2, 7); "
    f"got {input_span(1, 2, 3, 2)}")
assert _as_ints(input_span(0, 3, 1, 1)) == (0, 3), f"K = 1: no halo, output rows 0..2 read rows 0..2; got {input_span(0, 3, 1, 1)}"
print("input_span passes the tests.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "tiled-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Now the whole image, as a grid of programs that each run your kernel on their tile, with the input
# blocks cut by your spans; the result is compared with NumPy's unfold from section 1. Tiles of the
# last row and column may hang over the image's edge: the padded input and the kernels are padded
# with zeros to whole tiles, and the extra outputs dropped. The halo means that a tiled kernel reads
# some input pixels more than once: the cell also counts how much of $x$ the tiles read in all.

# %% nbgrader={"grade": false, "grade_id": "tiled", "locked": true, "schema_version": 3, "solution": false, "task": false}
def involution_tiled(x, kernel, stride, tile, tile_kernel, span):
    """One image: x (C, H, W), kernel (G, K, K, H', W') -> (C, H', W'), one program per tile of ``tile`` outputs.

    Returns the outputs and the number of input elements the programs read in all.
    """
    channels, height, width = x.shape
    groups, size = kernel.shape[:2]
    rows, cols = kernel.shape[-2:]
    tile_rows, tile_cols = tile
    n_rows, n_cols = -(-rows // tile_rows), -(-cols // tile_cols)
    row_spans = [span(r * tile_rows, tile_rows, size, stride) for r in range(n_rows)]
    col_spans = [span(c * tile_cols, tile_cols, size, stride) for c in range(n_cols)]
    half = (size - 1) // 2
    padded = np.zeros((channels, max(row_spans[-1][1], height + 2 * half), max(col_spans[-1][1], width + 2 * half)), "float32")
    padded[:, half:half + height, half:half + width] = x
    blocks = np.stack([np.stack([padded[:, r0:r1, c0:c1] for c0, c1 in col_spans]) for r0, r1 in row_spans])
    whole = np.zeros((groups, size, size, n_rows * tile_rows, n_cols * tile_cols), "float32")
    whole[..., :rows, :cols] = kernel
    block_rows, block_cols = blocks.shape[-2:]
    call = pl.pallas_call(
        functools.partial(tile_kernel, stride=stride),
        grid=(n_rows, n_cols),
        in_specs=[
            pl.BlockSpec((None, None, channels, block_rows, block_cols), lambda r, c: (r, c, 0, 0, 0)),
            pl.BlockSpec((groups, size, size, tile_rows, tile_cols), lambda r, c: (0, 0, 0, r, c)),
        ],
        out_specs=pl.BlockSpec((channels, tile_rows, tile_cols), lambda r, c: (0, r, c)),
        out_shape=jax.ShapeDtypeStruct((channels, n_rows * tile_rows, n_cols * tile_cols), jnp.float32),
        interpret=True,
    )
    out = np.asarray(call(jnp.asarray(blocks), jnp.asarray(whole)))[:, :rows, :cols]
    return out, blocks.size


tile_kernel, span_of = require("involution_tile", "Exercise 3"), require("input_span", "Exercise 4")
image = np.random.default_rng(4).normal(size=(8, 20, 18)).astype("float32")
for stride_ in (1, 2):
    rows_, cols_ = -(-20 // stride_), -(-18 // stride_)
    image_kernel = np.random.default_rng(5).normal(size=(2, 5, 5, rows_, cols_)).astype("float32")
    tiled_, read_ = involution_tiled(image, image_kernel, stride_, (4, 8), tile_kernel, span_of)
    reference_ = unfold_numpy(image[None], image_kernel[None], stride_)[0]
    print(f"stride {stride_}: {-(-rows_ // 4) * -(-cols_ // 8)} tiles of 4 x 8 outputs; largest difference from NumPy's unfold "
          f"{np.abs(tiled_ - reference_).max():.1e}; the tiles read {read_ / image.size:.2f} times the input's elements")

# %% [markdown] nbgrader={"grade": false, "grade_id": "tiled-reading", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The halo is the price of tiling: small tiles read the border rows of their neighbours again, large
# tiles need more fast memory per program. A real kernel picks the tile so that its blocks fit in
# on-chip memory and the halo stays a small fraction; on the GPU the blocks come straight from the
# input, with masked loads where a tile hangs over the edge, rather than from a copy cut beforehand.

# %% [markdown] nbgrader={"grade": false, "grade_id": "gpu-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 5 · Measured on a GPU
#
# The course timed the multiply-add alone (a forward pass, a sum as the loss, and the gradients of
# the input and of the kernel: what one training step asks of it) on one NVIDIA H200, in float32,
# channels first. Beside the methods of section 1: the paper's own CUDA kernels, shifted slices
# compiled by `torch.compile` (which fuses some operations), and cuDNN's depthwise $K \times K$
# convolution, which has the same shape of work with one kernel per channel shared by all pixels.
# The *floor* is the time to move, at the measured bandwidth, the bytes a fused kernel must move:
# forward, your count; backward, reading $x$, the kernel and the output's gradient and writing both
# gradients. Every sentence below the table is computed from its numbers.

# %% nbgrader={"grade": false, "grade_id": "gpu-recorded", "locked": true, "schema_version": 3, "solution": false, "task": false}
print(f"Recorded: {speed.provenance_text(recorded)}")
display(Markdown("**Forward + backward, ms** (median of 50 steps)\n\n" + speed.timing_table(recorded)))
display(Markdown("**Forward and backward kernels timed apart, ms**\n\n" + speed.timing_table(recorded, "fwd_ms")
                 + "\n\n" + speed.timing_table(recorded, "bwd_ms")))
for sentence in speed.conclusions(recorded):
    print("-", sentence)
shown = [m for m in recorded.methods() if m != "floor"]
display(speed_figures.time_bars(
    recorded.cases(), [speed.METHODS.get(m, m) for m in shown],
    [[recorded.value(c, m) or np.nan for m in shown] for c in recorded.cases()],
    floor=[recorded.value(c, "floor") for c in recorded.cases()],
    title=f"Forward + backward of the multiply-add, {recorded.provenance.get('gpu', 'GPU')}",
))

# %% nbgrader={"grade": false, "grade_id": "gpu-floor-check", "locked": true, "schema_version": 3, "solution": false, "task": false}
needs(counts="Exercise 1", floors_ms="Exercise 2")
for case in cases:
    mine = floors_ms[case]["fused"]
    theirs, paper = recorded.value(case.name, "floor", "fwd_ms"), recorded.value(case.name, "paper-cuda", "fwd_ms")
    line = f"{case.name}: forward floor by your count {mine:.4f} ms"
    if theirs:
        line += f", recorded {theirs:.3f} ms ({mine / theirs:.2f} times)"
    if paper:
        line += f"; the paper's forward kernel takes {paper / mine:.1f} times your floor"
    print(line)

# %% [markdown] nbgrader={"grade": false, "grade_id": "gpu-live-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Live, where there is a GPU.** If PyTorch sees a CUDA GPU here, the next cell times unfold,
# shifted slices and the course's fused Triton kernel (where Triton is installed) on the same cases,
# channels last as the course's layer has them, measures this GPU's memory bandwidth with a large
# copy, and sets your forward floor beside them. Elsewhere it says that the figures above are the
# recorded ones.

# %% nbgrader={"grade": false, "grade_id": "gpu-live", "locked": true, "schema_version": 3, "solution": false, "task": false}
device = live_speed.cuda_device()
if device is None:
    print(f"No CUDA GPU here: the times above are the recorded ones ({recorded.provenance.get('gpu', 'GPU')}). "
          "On Colab, choose Runtime > Change runtime type > T4 GPU to time the kernels live.")
else:
    live, notes = live_speed.measure(recorded.cases(), steps=5 + 5 * profile.repeats)
    print(f"Live: {speed.provenance_text(live)}")
    display(Markdown("**Forward + backward, ms, this GPU**\n\n" + speed.timing_table(live)))
    for sentence in speed.conclusions(live) + notes:
        print("-", sentence)
    needs(counts="Exercise 1")
    for case in cases:
        fused_ms = live.value(case.name, "fused-triton")
        floor_ms = counts[case]["fused"] / live.bandwidth * 1e3
        if fused_ms:
            print(f"{case.name}: fused kernel {fused_ms:.3f} ms for a whole step; forward floor at this GPU's "
                  f"{live.bandwidth / 1e12:.2f} TB/s {floor_ms:.4f} ms")

# %% [markdown] nbgrader={"grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Summary
#
# - Involution's multiply-add does $2K^2$ FLOPs per output whichever way it is computed; the methods
#   differ in the bytes they move. Unfold writes and rereads a patch tensor $K^2$ times the output,
#   shifted slices read and write a running sum at every tap, a fused kernel reads its inputs and
#   writes its output once (your counts: section 1).
# - At a few FLOPs per byte the multiply-add is far left of a GPU's ridge: memory-bound. Its floor is
#   the time to move the fused kernel's bytes, and fusion is what brings a method near it (section 2).
# - A fused kernel is index arithmetic: which rows and columns each tap of a tile reads (exercise 3),
#   and which block of the input each tile needs, its halo included (exercise 4).
# - Measured times set each method against the floor (section 5, whose sentences are computed from
#   its table): a floor is a bound, not a prediction.

# %% [markdown] nbgrader={"grade": false, "grade_id": "written-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## In your own words
#
# **Question 1** (2 points, graded by hand). In the table of section 5, compare cuDNN's depthwise
# $K \times K$ convolution with the paper's involution kernels: depthwise reads one $K \times K$
# kernel per channel instead of one per output pixel and group. Count, by the model of
# section 1, the elements the depthwise convolution's forward pass must move for the first case
# (B = 32, C = 64, 56 × 56, K = 7), compare them with the fused involution kernel's, and say in three
# to five sentences what the measured times then tell you about where these kernels spend their time.
# Write it in the cell below.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_floor", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Rubric** (2 points).
#
# * 1 point: the count. Depthwise reads $x$ ($N_x$ = 6.4 M elements), its weights ($C K^2$ = 3,136,
#   negligible) and writes $y$ ($N_y$ = 6.4 M): about 12.8 M elements, 51 MB in float32, against
#   32.5 M elements (130 MB) for the fused involution kernel, whose kernel tensor (19.7 M) is the
#   largest part. So depthwise's floor is about 2.5 times lower (about 0.012 ms forward at 4.17 TB/s,
#   against 0.031 ms). (Half a point for "depthwise moves far fewer bytes" without a count.)
# * 1 point: the reading. In the recorded table both take about 1 ms per step (depthwise 0.8 to 1.0
#   times the paper's kernels), 10 or more times their floors, so neither is
#   limited by the bytes it must move from memory; with a lower floor and the same time, depthwise is
#   even further from its own. Their time goes elsewhere: any one of the backward's reductions (the
#   kernel's gradient sums over channels for involution, over the batch and every pixel for
#   depthwise), on-chip traffic and the halo, too little parallel work or occupancy, launches and
#   synchronisation. A floor bounds the time from below; it does not predict it.
# ### END SOLUTION

# %% [markdown] nbgrader={"grade": false, "grade_id": "submitting", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Submitting
#
# Save the notebook (File > Save), then submit the `.ipynb` file. On Colab: File > Download >
# Download .ipynb, then upload the downloaded file to the course's platform.
