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

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "b82b3fab484e957f57325db29f2bd518", "grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/involution-course/involution-course-student/blob/main/notebooks/05-kernel-visualisation/05-kernel-visualisation.ipynb)
#
# # 05 · What involution kernels look at
#
# *Involution Course, assignment 05. Time: about 90 minutes.*
#
# ## Learning objectives
#
# By the end of this notebook you will be able to:
#
# 1. extract the kernels an involution network generates for an image, and reduce them to maps;
# 2. overlay those maps on the image and compare kernels across positions;
# 3. relate involution to local self-attention, and see how kernels change during training.
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

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "8b6fd2b3e8f2e86f5d673bb50aa27098", "grade": false, "grade_id": "networks-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 0 · Images and networks
#
# We look at one test image of each CIFAR-10 class. The network is the one of the Keras example
# "Involutional neural networks": three involution layers (3 channels, $K = 3$, $G = 1$, $r = 2$)
# with max pooling after the first two, then two dense layers. When notebook 04 saved its trained
# copy (`build/models/example_involution.keras`) we inspect that one; in any case we also train a
# short run here, keeping its weights at its start, middle and end for section 7, and a twin network
# with a 3×3 convolution in place of each involution, whose kernels we compare with involution's.

# %% nbgrader={"cell_type": "code", "checksum": "426ddcf9720f4657ed2f1d5f2a040bd1", "grade": false, "grade_id": "data", "locked": true, "schema_version": 3, "solution": false, "task": false}
import keras
import numpy as np

from involution_course import figures as figs
from involution_course import kernels as kern
from involution_course.layers import Involution

kern.name_unfinished()  # a later cell that needs an exercise you have not finished says which
(x_train, y_train), (x_test, y_test) = ic.load_profile_data()
# The first test image of each class, in class order.
picks = [int(np.flatnonzero(y_test[:, 0] == label)[0]) for label in range(len(ic.CLASS_NAMES))]
images = x_test[picks]
class_labels = list(ic.CLASS_NAMES)
inputs = (images / 255.0).astype("float32")
print(f"{len(x_train)} training images, {len(images)} images to inspect, shape {images.shape[1:]}")

# %% nbgrader={"cell_type": "code", "checksum": "628513f8954550704b31655a95acf963", "grade": false, "grade_id": "train", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The short run: at most 5 epochs on at most 10,000 images (256 when autograding); the snapshots
# keep the involution network's weights at its start, middle and end for section 7.
networks, snapshots = kern.train_short_runs(x_train, y_train)
accuracy = {spatial: kern.accuracy_on_test(model, x_test, y_test) for spatial, model in networks.items()}
print(f"Test accuracy: involution {accuracy['involution']:.3f}, convolution {accuracy['conv']:.3f} (chance: 0.100).")
network, which = kern.network_to_inspect(networks["involution"])
print(f"Inspecting {which}.")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "72c359c6419392b41d28dc3689b38a6d", "grade": false, "grade_id": "kernels-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1 · Kernels out of the network
#
# An involution layer generates its kernel from its own input: for input $X$ of shape
# $(B, H, W, C)$ it computes, at every output position $(i, j)$,
#
# $$\mathcal{H}_{i,j} = W_1\,\sigma\!\left(W_0\, \bar X_{i,j} + b_0\right) + b_1 \in \mathbb{R}^{G K^2},$$
#
# ($\bar X_{i,j}$: the pixel $X_{i,j}$, or the average of its $s \times s$ block for a stride
# $s > 1$; $W_0, b_0$: the 1×1 "reduce" convolution to $C_r$ channels; $\sigma$: batch
# normalisation then ReLU; $W_1, b_1$: the 1×1 "span" convolution), reshaped to $G$ kernels of
# $K \times K$. The course's layer returns them with `layer.generate_kernel(x)` as an array of shape
# $(B, H_\text{out}, W_\text{out}, G, K, K)$, tap $(u, v) \in \Delta_K$ at `[..., g, K//2 + u, K//2 + v]`.
#
# To see them for real images we need each involution layer's *input*, which comes out of the layers
# before it. A Keras functional model can give us that: `layer.input` is the symbolic tensor that
# flows into `layer`, and `keras.Model(model.inputs, outputs)` builds a model from the network's
# inputs (`model.inputs`) to any tensors computed from it. One detail: calling `layer.generate_kernel` on a symbolic
# tensor would put the layer's inner layers (`reduce`, `bn`, `span`) into the new model, and with
# two involution layers there would be two layers called `reduce`, which Keras refuses. The course's
# wrapper `kern.KernelOutput(layer)` is a layer whose output is `layer.generate_kernel` of its
# input: call it on `layer.input`.
#
# **Exercise 1 (2 points).** Write `kernel_model(model)`: a `keras.Model` with the same inputs as
# `model` whose outputs are the generated kernels of each `Involution` layer of `model`, one output
# per layer in the order of `model.layers`, each the layer's `generate_kernel` of that layer's own
# input. It must also work on a `keras.Sequential` network that was saved and loaded again (as
# notebook 04 saves its networks): such a network has `model.inputs` but no `model.input`.

# %% nbgrader={"cell_type": "code", "checksum": "105951c07e633f9fb6222623a53a7b2e", "grade": false, "grade_id": "ex1_kernel_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
def kernel_model(model):
    """A model from ``model``'s inputs to the kernel of each of its Involution layers."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: one kernel array per involution layer of the network, for the ten images.
for kernels in kern.generated_kernels(kernel_model(network), inputs):
    print(kernels.shape)


# %% nbgrader={"cell_type": "code", "checksum": "53551a69f2bb5aa7a45505505d5baca9", "grade": true, "grade_id": "ex1_test_kernel_model", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import os
import tempfile


def _ex1_network(seed, settings, size=12):
    """Involution layers with (kernel_size, stride, groups) on 4 channels, 1x1 convolutions between."""
    keras.utils.set_random_seed(seed)
    inputs_ = keras.Input((size, size, 4))
    x = inputs_
    for number, (kernel_size, stride, groups) in enumerate(settings):
        x = Involution(kernel_size, stride, groups, 2, name=f"ex1_inv_{number}")(x)
        x = keras.layers.Conv2D(4, 1, activation="relu", name=f"ex1_conv_{number}")(x)
    return keras.Model(inputs_, keras.layers.GlobalAveragePooling2D()(x))


def _ex1_outputs(extractor, batch):
    """The extractor's outputs on ``batch`` as a list of NumPy arrays."""
    return kern.generated_kernels(extractor, batch)


_model = _ex1_network(1, [(3, 1, 1), (3, 2, 2)])
_batch = np.random.default_rng(1).normal(size=(2, 12, 12, 4)).astype("float32")
_extractor = kernel_model(_model)
assert isinstance(_extractor, keras.Model), f"kernel_model should return a keras.Model; got {type(_extractor).__name__}"
_got = _ex1_outputs(_extractor, _batch)
assert len(_got) == 2, f"a network with 2 Involution layers needs 2 outputs, one kernel per layer; got {len(_got)}"
assert [k.shape for k in _got] == [(2, 12, 12, 1, 3, 3), (2, 6, 6, 2, 3, 3)], (
    f"expected kernels of shapes (2, 12, 12, 1, 3, 3) and (2, 6, 6, 2, 3, 3) (stride 2 halves the second); "
    f"got {[k.shape for k in _got]}"
)
# The first layer's input is the network's input, so its kernel is generate_kernel of the batch.
_first = keras.ops.convert_to_numpy(_model.get_layer("ex1_inv_0").generate_kernel(_batch))
assert np.allclose(_got[0], _first, atol=1e-5), "the first output should be the first layer's generate_kernel of the input"
# The second layer's input is what the layers before it output, not the network's input.
_second_input = keras.Model(_model.input, _model.get_layer("ex1_inv_1").input)(_batch)
_second = keras.ops.convert_to_numpy(_model.get_layer("ex1_inv_1").generate_kernel(_second_input))
assert np.allclose(_got[1], _second, atol=1e-5), "the second output should be generate_kernel of the second layer's own input (layer.input)"
# A Sequential network saved and loaded again, as notebook 04 saves its networks: it has
# model.inputs but no model.input.
keras.utils.set_random_seed(2)
_sequential = keras.Sequential([keras.Input((8, 8, 3)), Involution(3, 1, 1, 1, name="seq_inv"), keras.layers.Flatten()])
with tempfile.TemporaryDirectory() as _folder:
    _sequential.save(os.path.join(_folder, "sequential.keras"))
    _reloaded = keras.models.load_model(os.path.join(_folder, "sequential.keras"), compile=False)
try:
    _extractor = kernel_model(_reloaded)
except (AttributeError, ValueError) as error:
    raise AssertionError(f"kernel_model of a reloaded Sequential network failed ({error}); use model.inputs") from None
_batch = np.random.default_rng(2).normal(size=(1, 8, 8, 3)).astype("float32")
_want = keras.ops.convert_to_numpy(_reloaded.get_layer("seq_inv").generate_kernel(_batch))
assert np.allclose(_ex1_outputs(_extractor, _batch)[0], _want, atol=1e-5), (
    "on a reloaded Sequential network the output should be its involution layer's generate_kernel of the input"
)
print("kernel_model passes the tests.")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "dfa6760cb766b4c11afe4d2b2366b1cb", "grade": false, "grade_id": "kernels-of-images-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# The kernels of the ten images, from your `kernel_model`: one array per involution layer. The cells
# from here on use your answers; where one is not finished yet, a cell stops and names the exercise.

# %% nbgrader={"cell_type": "code", "checksum": "96b93d010ab715fd1fe42d4cc827b93f", "grade": false, "grade_id": "kernels-of-images", "locked": true, "schema_version": 3, "solution": false, "task": false}
layer_names = [layer.name for layer in kern.involution_layers(network)]
layer_kernels = kern.generated_kernels(kernel_model(network), inputs)
for name, kernels in zip(layer_names, layer_kernels):
    print(f"{name}: kernels of shape {kernels.shape}")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "9b9a199e8e7e4dc18594576c0f6ad311", "grade": false, "grade_id": "maps-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2 · One number per position
#
# A kernel is $G K^2$ numbers per position; to draw one picture per layer the Keras example sums
# them. For image $b$ at position $(i, j)$ the **kernel sum** is
#
# $$m_{b,i,j} = \sum_{g=0}^{G-1} \sum_{(u, v) \in \Delta_K} \mathcal{H}_{b,i,j,g,u,v}.$$
#
# A large sum means the layer passes on a lot of that neighbourhood (the kernel is a weighted sum
# of $K^2$ pixels); a sum near 0 means it passes on little, or that positive and negative weights
# cancel. To draw maps of several images on one colour scale we rescale them with a common lower
# and upper value:
#
# $$\hat m = \operatorname{clip}\!\left(\frac{m - \text{low}}{\text{high} - \text{low}},\ 0,\ 1\right),$$
#
# with `low` and `high` defaulting to the smallest and largest value of the array.
#
# **Exercise 2 (2 points).** Write `kernel_maps(kernels)`, which sums the last three axes
# $(G, K, K)$ of an array of any number of leading axes, and `normalise(maps, low=None, high=None)`
# as defined above, returning floats: values below `low` become 0 and above `high` become 1, and the
# defaults are the smallest and largest value of the *whole* array (all its maps together, not each
# map on its own). When `high == low` (a constant map) return zeros of the same shape rather than
# dividing by zero.

# %% nbgrader={"cell_type": "code", "checksum": "31e634a3da5c92b73f860f00a4473c63", "grade": false, "grade_id": "ex2_maps", "locked": false, "schema_version": 3, "solution": true, "task": false}
def kernel_maps(kernels):
    """(..., G, K, K) -> (...): the sum of each position's kernels."""
    # YOUR CODE HERE
    raise NotImplementedError()


def normalise(maps, low=None, high=None):
    """Rescale to [0, 1] with ``low`` -> 0, ``high`` -> 1 (defaults: min and max), clipped."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: all-ones 3x3 kernels sum to 9 at each position; 2, 4, 6, 10 rescale to 0, 0.25, 0.5, 1.
print(kernel_maps(np.ones((1, 2, 2, 1, 3, 3))))
print(normalise(np.array([2.0, 4.0, 6.0, 10.0])))


# %% nbgrader={"cell_type": "code", "checksum": "31f5c248f25c401bd4063422bfa5037e", "grade": true, "grade_id": "ex2_test_maps", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# One image, 2 x 2 positions, G = 1, K = 3: the kernels hold 0, 1, ..., 35, nine per position.
_kernels = np.arange(36.0).reshape(1, 2, 2, 1, 3, 3)
_got = np.asarray(kernel_maps(_kernels))
assert _got.shape == (1, 2, 2), f"kernel_maps of kernels (1, 2, 2, 1, 3, 3) should have shape (1, 2, 2); got {_got.shape}"
assert np.allclose(_got, [[[36, 117], [198, 279]]]), (
    f"each position's map value is the sum of its nine numbers (0+...+8 = 36, 9+...+17 = 117, ...); got {_got.tolist()}"
)
# The same 36 numbers as a 1 x 2 image with G = 2 kernels per position: the groups are summed too.
assert np.allclose(kernel_maps(_kernels.reshape(1, 1, 2, 2, 3, 3)), [[[36 + 117, 198 + 279]]]), (
    "with G = 2 each position's value is the sum of both groups' kernels: [[[153, 477]]]"
)
# The kernels of one image, without the batch axis: always sum the LAST three axes.
assert np.allclose(kernel_maps(_kernels[0]), [[36, 117], [198, 279]]), (
    "kernel_maps of one image's kernels (2, 2, 1, 3, 3) should be [[36, 117], [198, 279]]: sum the last three axes"
)

_maps = np.array([[2.0, 4.0], [6.0, 10.0]])
_got = np.asarray(normalise(_maps))
assert np.allclose(_got, [[0.0, 0.25], [0.5, 1.0]]), f"normalise([[2, 4], [6, 10]]) should be [[0, .25], [.5, 1]]; got {_got}"
_got = np.asarray(normalise(_maps, low=4.0, high=8.0))
assert np.allclose(_got, [[0.0, 0.0], [0.5, 1.0]]), f"with low=4, high=8 values should be clipped to [0, 1]; got {_got}"
_got = np.asarray(normalise(np.full((3, 3), 7.0)))
assert _got.shape == (3, 3) and np.all(_got == 0), f"a constant map should normalise to zeros; got {_got}"
# Two maps at once: one scale for both, from the whole array's min and max (0 and 8), not per map.
_got = np.asarray(normalise(np.array([[[0.0, 2.0]], [[4.0, 8.0]]])))
assert np.allclose(_got, [[[0.0, 0.25]], [[0.5, 1.0]]]), (
    f"normalise of two maps [[0, 2]] and [[4, 8]] uses the whole array's min and max: expected "
    f"[[[0, 0.25]], [[0.5, 1]]]; got {_got.tolist()}"
)
print("kernel_maps and normalise pass the tests.")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "ccaa4cf419156b93111c73b9b804da3d", "grade": false, "grade_id": "maps-figure-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Now the example's view: for each layer, the kernel sums of the ten images. Maps of one layer
# share one scale (that layer's smallest and largest sum over the ten images), so they can be
# compared across images; the row label gives that range, since the layers' sums differ in size.

# %% nbgrader={"cell_type": "code", "checksum": "7bfe71c4f923661b5facae9a356dff90", "grade": false, "grade_id": "maps-figure", "locked": true, "schema_version": 3, "solution": false, "task": false}
layer_maps = [np.asarray(kernel_maps(kernels)) for kernels in layer_kernels]
map_ranges = [(float(maps.min()), float(maps.max())) for maps in layer_maps]
figs.map_grid(
    images,
    [normalise(maps) for maps in layer_maps],
    [f"{name}\n[{low:.3g}, {high:.3g}]" for name, (low, high) in zip(layer_names, map_ranges)],
    class_labels,
    scale_label="kernel sum, rescaled per layer\n(0 = layer's min, 1 = its max)",
    title="Kernel sums of each involution layer",
)

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "bbf93fef347cf3781a85696b6c438a58", "grade": false, "grade_id": "overlay-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3 · Maps over the images
#
# The maps of deeper layers are smaller than the image (max pooling halves the size twice:
# 32, 16 and 8 pixels wide). Each value of a map belongs to a block of input pixels, so we enlarge
# a map of size $h \times w$ to the image's $H \times W$ by **repeating** each value over its block
# of $(H/h) \times (W/w)$ pixels (no invented values between them). Then we colour it with a colour
# map $c(\cdot)$ (matplotlib's `colormaps[cmap]`, whose output has four channels, RGBA: keep the
# first three) and blend it over the image $I$ scaled to $[0, 1]$:
#
# $$O = (1 - \alpha)\, I + \alpha\, c(\hat m_\uparrow).$$
#
# **Exercise 3 (2 points).** Write `upsample(heat, size)`, which repeats a 2-D map to `size`
# $= (H, W)$ (raise a `ValueError` when $H$ or $W$ is not a whole multiple of the map's size), and
# `overlay(image, heat, alpha=0.5, cmap="inferno")`, which returns $O$ as floats of shape
# $(H, W, 3)$, with the colour map named by `cmap` and the weight `alpha`. `image` is uint8 in
# $[0, 255]$ (divide by 255) or already floats in $[0, 1]$ (use them as they are); `heat` is in
# $[0, 1]$. Hint: `np.repeat`.

# %% nbgrader={"cell_type": "code", "checksum": "a8c041d84e2499e69cf622de043bc517", "grade": false, "grade_id": "ex3_overlay", "locked": false, "schema_version": 3, "solution": true, "task": false}
from matplotlib import colormaps


def upsample(heat, size):
    """Repeat each value of a map (h, w) over its block of a (H, W) image."""
    # YOUR CODE HERE
    raise NotImplementedError()


def overlay(image, heat, alpha=0.5, cmap="inferno"):
    """Blend the coloured, upsampled map over the image: (1 - alpha) * image + alpha * colour."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: a 2x2 map repeated over 2x2 blocks, and the shape of one blended image.
print(upsample(np.array([[0.0, 1.0], [1.0, 0.0]]), (4, 4)))
print(overlay(images[0], np.eye(8)).shape)


# %% nbgrader={"cell_type": "code", "checksum": "56b188d143f878c1063d8f4305ff64c0", "grade": true, "grade_id": "ex3_test_overlay", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_got = np.asarray(upsample(np.array([[1, 2], [3, 4]]), (4, 6)))
_want = np.array([[1, 1, 1, 2, 2, 2]] * 2 + [[3, 3, 3, 4, 4, 4]] * 2)
assert _got.shape == (4, 6) and np.array_equal(_got, _want), f"upsample([[1, 2], [3, 4]], (4, 6)) should be\n{_want}\ngot\n{_got}"
try:
    upsample(np.zeros((3, 3)), (8, 8))
except ValueError:
    pass
else:
    raise AssertionError("upsample of a 3x3 map to 8x8 should raise a ValueError")

# A white 2 x 4 image under a 1 x 2 map: 0 on the left half, 1 on the right. inferno(0) is
# (0.001462, 0.000466, 0.013866), almost black; inferno(1) is (0.988362, 0.998364, 0.644924).
_white = np.full((2, 4, 3), 255, dtype=np.uint8)
_got = np.asarray(overlay(_white, np.array([[0.0, 1.0]]), alpha=0.5))
assert _got.shape == (2, 4, 3), f"overlay of a 2 x 4 image should have shape (2, 4, 3); got {_got.shape}"
_left, _right = [0.500731, 0.500233, 0.506933], [0.994181, 0.999182, 0.822462]
assert np.allclose(_got, [[_left, _left, _right, _right]] * 2, atol=1e-6), (
    "expected 0.5 * 255/255 + 0.5 * inferno(value) at each pixel: "
    f"{_left} on the left half, {_right} on the right; got\n{_got.round(6)}"
)
# A float image is already in [0, 1]: used as it is. With cmap="gray", colour(v) = (v, v, v) for
# v = 0 and 1, and alpha = 0.25: 0.75 * 0.4 + 0.25 * v.
_grey = np.full((2, 4, 3), 0.4)
_got = np.asarray(overlay(_grey, np.array([[0.0, 1.0]]), alpha=0.25, cmap="gray"))
assert np.allclose(_got, [[[0.3] * 3] * 2 + [[0.55] * 3] * 2] * 2, atol=1e-6), (
    "a float image in [0, 1] is used as it is (not divided by 255), and overlay uses its alpha and cmap: "
    f"with alpha=0.25, cmap='gray' expected 0.3 on the left half, 0.55 on the right; got\n{_got.round(6)}"
)
print("upsample and overlay pass the tests.")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "20f7ae80b9d2a01fd68739ce6b2ee26b", "grade": false, "grade_id": "overlay-figure-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Each layer's maps over the ten images (rescaled per layer as above). Bright regions are positions
# whose kernels sum high.

# %% nbgrader={"cell_type": "code", "checksum": "d025444712b516656c41ecfe6a15079a", "grade": false, "grade_id": "overlay-figure", "locked": true, "schema_version": 3, "solution": false, "task": false}
layer_overlays = [
    np.stack([overlay(image, heat) for image, heat in zip(images, normalise(maps))]) for maps in layer_maps
]
figs.overlay_grid(images, layer_overlays, layer_names, class_labels, title="Kernel sums over the images")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "8670bbf150f688af795fd1943394e2e1", "grade": false, "grade_id": "kernel-itself-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 4 · The kernel itself
#
# A sum hides the kernel's shape. Below are the full $3 \times 3$ kernels of the first involution
# layer at two positions of the horse image: at the centre, where CIFAR-10 objects usually are, and
# in a corner, usually background. Beside them is a kernel of the twin network's first convolution
# (the weights from input channel 0 to output channel 0, the role the involution kernel plays for
# channel 0). The convolution applies that same kernel at *every* position; involution makes a new
# one at each.

# %% nbgrader={"cell_type": "code", "checksum": "54b40645f442cf1e30a824908eb25d2a", "grade": false, "grade_id": "kernel-panels", "locked": true, "schema_version": 3, "solution": false, "task": false}
chosen = class_labels.index("horse")           # which of the ten images
object_pixel, background_pixel = (16, 16), (1, 1)
conv_weight = keras.ops.convert_to_numpy(networks["conv"].get_layer("conv_1").kernel)  # (K, K, C_in, C_out)
first = layer_kernels[0]                       # (N, H, W, G, K, K)
figs.kernel_panels(
    images[chosen],
    {
        f"involution at {object_pixel}": first[chosen][object_pixel][0],
        f"involution at {background_pixel}": first[chosen][background_pixel][0],
        "convolution\n(every position)": conv_weight[:, :, 0, 0],
    },
    {"object": object_pixel, "background": background_pixel},
    title=f"{layer_names[0]}: kernels on the {class_labels[chosen]} image",
)

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "c098fdf462ecc0ad30653e5b7d5f590b", "grade": false, "grade_id": "explore-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Explore.** Choose an image, a layer and a position. The static figure below shows everywhere
# (also on Colab and in an exported HTML page, where widgets do not render): each layer's kernel at
# the centre of the first image. In Jupyter an interactive view follows it.

# %% nbgrader={"cell_type": "code", "checksum": "e857a669ead952122c529b7893af0538", "grade": false, "grade_id": "explore", "locked": true, "schema_version": 3, "solution": false, "task": false}
display(figs.kernel_explorer(images, layer_kernels, layer_names, conv_weight[:, :, 0, 0], use_widgets=False))
if figs.widgets_available():
    display(figs.kernel_explorer(images, layer_kernels, layer_names, conv_weight[:, :, 0, 0]))

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "4cd32e7b7fbfe4afb2e392619a5e6220", "grade": false, "grade_id": "similarity-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 5 · Spatial-specific, measured
#
# How different are the kernels of one image from position to position? Flatten each position's
# kernel into a vector $h_p \in \mathbb{R}^{G K^2}$, scale it to unit length $\hat h_p = h_p / \lVert h_p
# \rVert$, and average the cosine similarity over all pairs of *different* positions. With $N$
# positions:
#
# $$S = \frac{1}{N(N-1)} \sum_{p \ne q} \hat h_p \cdot \hat h_q = \frac{\bigl\lVert \sum_p \hat h_p \bigr\rVert^2 - N}{N(N-1)},$$
#
# since $\lVert \sum_p \hat h_p \rVert^2 = \sum_{p, q} \hat h_p \cdot \hat h_q$ and each of the $N$ terms with
# $p = q$ is 1. The right-hand form needs no $N \times N$ table. A kernel that is all zeros has no
# direction: leave such positions out, so $N$ counts the positions with a non-zero kernel. (They
# occur: where the reduce step's ReLU outputs zeros, the kernel is the span's bias $b_1$, which
# starts at 0.) A convolution uses the same kernel everywhere, so its $S$ is exactly 1; $S$ near 1
# means an involution layer's kernels differ mostly in size, not in shape; lower values mean
# different shapes at different positions.
#
# **Exercise 4 (2 points).** Write `position_similarity(kernels)` for the kernels of *one* image,
# an array of shape $(H, W, \ldots)$ (any trailing shape: one kernel per position), returning $S$
# as a Python float, or `float("nan")` when fewer than two positions have a non-zero kernel.

# %% nbgrader={"cell_type": "code", "checksum": "b10f7bcfb628e5c9cb41faab885ab6aa", "grade": false, "grade_id": "ex4_similarity", "locked": false, "schema_version": 3, "solution": true, "task": false}
def position_similarity(kernels):
    """Mean cosine similarity between the kernels at every two different positions."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: the same 3x3 kernel at all 16 positions of a 4x4 output, as a convolution has.
print(position_similarity(kern.convolution_kernels(np.arange(9.0).reshape(3, 3), 4, 4)))


# %% nbgrader={"cell_type": "code", "checksum": "4bf064788e06f585bc06fa033083baaa", "grade": true, "grade_id": "ex4_test_similarity", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_same = np.broadcast_to(np.arange(1.0, 10.0).reshape(1, 3, 3), (4, 4, 1, 3, 3))
_got = position_similarity(_same)
assert isinstance(_got, float), f"position_similarity should return a float; got {type(_got).__name__}"
assert abs(_got - 1.0) < 1e-9, f"the same kernel at every position should give 1.0; got {_got}"
_with_zero = np.array(_same)
_with_zero[2, 3] = 0.0                                 # one position with an all-zero kernel
assert abs(position_similarity(_with_zero) - 1.0) < 1e-9, "leave out the all-zero kernel: the rest are identical, S = 1"
_opposite = np.array([[[1.0, 0.0]], [[-2.0, 0.0]]])   # two positions, kernels pointing opposite ways
assert abs(position_similarity(_opposite) + 1.0) < 1e-9, f"opposite kernels should give -1.0; got {position_similarity(_opposite)}"
# Three positions in a row with kernels (1, 0), (0, 1), (1, 1): the three pairs' cosines are 0,
# 1/sqrt(2) and 1/sqrt(2), so S, their mean, is sqrt(2)/3 (counting each pair both ways, as the
# formula does, leaves the mean unchanged).
_three = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
assert abs(position_similarity(_three) - 0.4714045208) < 1e-9, (
    f"kernels (1, 0), (0, 1), (1, 1) should give sqrt(2)/3 = 0.471405; got {position_similarity(_three):.6f}"
)
# Only one position with a non-zero kernel: no pair, so S is not a number.
_one = np.zeros((2, 2, 3))
_one[0, 1] = [1.0, 2.0, 3.0]
assert np.isnan(position_similarity(_one)), (
    f"fewer than two positions with a non-zero kernel: return float('nan'); got {position_similarity(_one)}"
)
print("position_similarity passes the tests.")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "13f32343da24ad46e06bd40d6cca1713", "grade": false, "grade_id": "similarity-scores-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# For every image and involution layer, and for each convolution of the twin network (its whole
# weight, the same at every position):

# %% nbgrader={"cell_type": "code", "checksum": "5198f3b534702c30c1277cd72c5c9575", "grade": false, "grade_id": "similarity-scores", "locked": true, "schema_version": 3, "solution": false, "task": false}
involution_scores = np.array([[position_similarity(kernels[b]) for kernels in layer_kernels] for b in range(len(images))])
conv_names = [f"conv_{index}" for index in (1, 2, 3)]
conv_scores = [
    position_similarity(kern.convolution_kernels(networks["conv"].get_layer(name).kernel.numpy(), *kernels.shape[1:3]))
    for name, kernels in zip(conv_names, layer_kernels)
]
for name, scores, conv in zip(layer_names, involution_scores.T, conv_scores):
    print(f"{name}: mean S over images {scores.mean():.3f} (range {scores.min():.3f} to {scores.max():.3f}); "
          f"convolution {conv:.3f}")
kern.record_similarity(layer_names, involution_scores, conv_scores)
figs.similarity_bars(layer_names, involution_scores, conv_scores)

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "1f3dc6570822c5ef60f3229e899f5ee9", "grade": false, "grade_id": "attention-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 6 · Involution and local self-attention
#
# The paper calls involution a generalisation of self-attention. Take a *local* self-attention over
# the same $K \times K$ window: queries and keys are 1×1 projections, $q_{i,j} = W_Q^\top X_{i,j}$ and
# $k_{i,j} = W_K^\top X_{i,j}$ with $W_Q, W_K \in \mathbb{R}^{C \times d}$, and the weight of the
# neighbour at offset $(u, v) \in \Delta_K$ of position $(i, j)$ is
#
# $$a_{i,j,u,v} = \frac{\exp\left(q_{i,j} \cdot k_{i + u,\ j + v} / \sqrt{d}\right)}
#   {\sum_{(u', v') \in \Delta_K \text{ inside}} \exp\left(q_{i,j} \cdot k_{i + u',\ j + v'} / \sqrt{d}\right)},$$
#
# where only neighbours inside the image count (those outside get weight 0). As for $\mathcal{H}$,
# offset $(u, v)$ is stored at `[..., K//2 + u, K//2 + v]`. The output would then be
# $\sum_{(u, v) \in \Delta_K} a_{i,j,u,v}\, W_V^\top X_{i + u,\, j + v}$ (the neighbours' values, a third projection):
# the same shape of computation as involution, a weight per position and neighbour.
#
# **Exercise 5 (3 points).** Write `local_attention_weights(x, w_query, w_key, kernel_size)` for
# `x` of shape $(B, H, W, C)$, returning $a$ of shape $(B, H, W, K, K)$: the query comes from the
# centre pixel through `w_query`, the keys from its neighbours through `w_key`, and large logits must
# give finite weights (no overflow). Hints: project with `@`,
# pad the keys with `np.pad`, loop over the $K^2$ offsets (not over positions), and set the logits of
# outside neighbours to `-np.inf` before the softmax; subtract the window's maximum before `np.exp`
# so that large logits do not overflow.

# %% nbgrader={"cell_type": "code", "checksum": "571679f0858d250ef2e2d723164fb96d", "grade": false, "grade_id": "ex5_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def local_attention_weights(x, w_query, w_key, kernel_size):
    """Softmax weights of each position over its K x K neighbourhood: (B, H, W, K, K)."""
    # YOUR CODE HERE
    raise NotImplementedError()


# Try it: on a constant input every neighbour looks the same, so a window inside the image is
# uniform (1/9 each) and a corner window spreads over its 4 neighbours inside (1/4 each).
print(local_attention_weights(np.ones((1, 3, 3, 2)), np.eye(2), np.eye(2), 3)[0, 1, 1].round(3))
print(local_attention_weights(np.ones((1, 3, 3, 2)), np.eye(2), np.eye(2), 3)[0, 0, 0].round(3))


# %% nbgrader={"cell_type": "code", "checksum": "ea146d4b3a10055114e4b2d4218ac103", "grade": true, "grade_id": "ex5_test_attention", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# One row of three pixels with values 0, 1, 2 (C = 1) and W_Q = W_K = [[1]] (d = 1): at the
# middle pixel the query is 1 and the keys of its row are 0, 1, 2, so the middle row of its window
# holds softmax(0, 1, 2) = (0.090031, 0.244728, 0.665241); the rows above and below are outside.
_row = np.array([0.0, 1.0, 2.0]).reshape(1, 1, 3, 1)
_got = np.asarray(local_attention_weights(_row, np.ones((1, 1)), np.ones((1, 1)), 3))
assert _got.shape == (1, 1, 3, 3, 3), f"expected weights of shape (B, H, W, K, K) = (1, 1, 3, 3, 3); got {_got.shape}"
assert np.allclose(_got.sum(axis=(-2, -1)), 1.0), "the weights of each window should sum to 1"
_middle = [[0.0, 0.0, 0.0], [0.09003057, 0.24472847, 0.66524096], [0.0, 0.0, 0.0]]
assert np.allclose(_got[0, 0, 1], _middle, atol=1e-7), f"middle pixel: expected\n{np.array(_middle)}\ngot\n{_got[0, 0, 1].round(6)}"
# The first pixel's query is 0: its two neighbours inside the image share the weight equally.
assert np.allclose(_got[0, 0, 0], [[0, 0, 0], [0, 0.5, 0.5], [0, 0, 0]]), (
    f"first pixel: neighbours outside the image get 0, the two inside 0.5 each; got\n{_got[0, 0, 0].round(6)}"
)
# With d = 4 (W_Q = W_K = [[1, 1, 1, 1]]) each logit is 4 * x_i * x_j / sqrt(4): twice as large.
_got = np.asarray(local_attention_weights(_row, np.ones((1, 4)), np.ones((1, 4)), 3))
assert np.allclose(_got[0, 0, 1, 1], [0.01587624, 0.11731043, 0.86681333], atol=1e-7), (
    f"with d = 4 the middle row should be softmax(0, 2, 4) = (0.015876, 0.117310, 0.866813): divide by sqrt(d); "
    f"got {_got[0, 0, 1, 1].round(6)}"
)
# Queries through W_Q, keys through W_K: pixels (0, 1), (1, 2), (2, 0) with W_Q reading channel 0 and
# W_K channel 1. At the middle pixel the query is 1 and the keys are 1, 2, 0: softmax(1, 2, 0).
_pixels = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 0.0]]).reshape(1, 1, 3, 2)
_got = np.asarray(local_attention_weights(_pixels, np.array([[1.0], [0.0]]), np.array([[0.0], [1.0]]), 3))
assert np.allclose(_got[0, 0, 1, 1], [0.24472847, 0.66524096, 0.09003057], atol=1e-7), (
    "the query comes from the centre pixel through w_query, the keys from the neighbours through w_key: "
    f"expected softmax(1, 2, 0) = (0.244728, 0.665241, 0.090031); got {_got[0, 0, 1, 1].round(6)}"
)
# Large logits: 30 times the row gives logits 0, 900 and 1800 at the middle pixel; np.exp(1800) overflows.
with np.errstate(over="ignore", invalid="ignore"):
    _got = np.asarray(local_attention_weights(30 * _row, np.ones((1, 1)), np.ones((1, 1)), 3))
assert np.all(np.isfinite(_got)), "large logits give NaN or infinite weights: subtract the window's maximum before np.exp"
assert np.allclose(_got[0, 0, 1, 1], [0.0, 0.0, 1.0]), f"with logits 0, 900, 1800 the last neighbour takes all the weight; got {_got[0, 0, 1, 1]}"
print("local_attention_weights passes the tests.")

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "e66de97c2d29b1b9dd7d5fcad0e14998", "grade": false, "grade_id": "attention-images-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# We apply it to the same ten images, standardised per image, with one random projection to
# $d = 8$ channels used for both queries and keys ($W_Q = W_K$, so $q_{i,j} \cdot k_{i',j'}$ is a
# similarity of the two pixels' projections). It is untrained: what matters is the *form* of the
# weights, not what a trained attention layer would learn.
#
# The kernel-sum view of section 2 tells nothing here: a softmax makes every window sum to 1. We
# show instead how much weight each position keeps for itself (the centre of its window), beside the
# involution layer's centre weight, each rescaled over the ten images.

# %% nbgrader={"cell_type": "code", "checksum": "322c60685e8c8a0736375f23ed5e5e6e", "grade": false, "grade_id": "attention-centre", "locked": true, "schema_version": 3, "solution": false, "task": false}
standardised = (inputs - inputs.mean(axis=(1, 2, 3), keepdims=True)) / inputs.std(axis=(1, 2, 3), keepdims=True)
projection = np.random.default_rng(0).normal(size=(3, 8))
attention = np.asarray(local_attention_weights(standardised, projection, projection, 3))      # (N, 32, 32, 3, 3)
window_sums = attention.sum(axis=(-2, -1))
print(f"attention window sums: from {window_sums.min():.6f} to {window_sums.max():.6f}")
attention_centre = kern.window_centre(attention)
involution_centre = kern.window_centre(layer_kernels[0][..., 0, :, :])
figs.map_grid(
    images, [normalise(involution_centre), normalise(attention_centre)],
    [f"{layer_names[0]}\ncentre weight", "attention\ncentre weight"], class_labels,
    scale_label="centre weight, rescaled per row", title="Weight a position gives to itself",
)

# %% nbgrader={"cell_type": "code", "checksum": "962744077033da5d4290c2b060354946", "grade": false, "grade_id": "attention-panels", "locked": true, "schema_version": 3, "solution": false, "task": false}
figs.kernel_panels(
    images[chosen],
    {
        f"involution at {object_pixel}": first[chosen][object_pixel][0],
        f"attention at {object_pixel}": attention[chosen][object_pixel],
        f"involution at {background_pixel}": first[chosen][background_pixel][0],
        f"attention at {background_pixel}": attention[chosen][background_pixel],
    },
    {"object": object_pixel, "background": background_pixel},
    title="Weights over the 3x3 window: involution and local self-attention",
)

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "eb32c26c8d3dff980a8eaa4c006a05cb", "grade": false, "grade_id": "attention-comparison", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **What they share.** Both give every position its own weight for each neighbour in a $K \times K$
# window, computed from the input rather than stored as a parameter, and both use that one set of
# weights for all channels (of a group, for involution; of a head, for attention). This is the
# sense in which the paper calls involution a generalisation of self-attention: the attention
# weights $a_{i,j,\cdot,\cdot}$ are one particular way to generate a kernel $\mathcal{H}_{i,j}$.
#
# **What they do not.** Involution's kernel at $(i, j)$ comes from the centre pixel $\bar X_{i,j}$ alone
# (through two 1×1 convolutions), so it cannot depend on the neighbours it will weigh; attention
# compares the centre's query with each neighbour's key, a product of two projections. Involution has
# no softmax: its weights can be negative and need not sum to 1, which is why its kernel sums are
# informative maps while attention's are constant. And attention weighs projected values $W_V^\top X$, while
# involution weighs the input pixels directly.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "e401719d7b7869033a0e4259c9dfb199", "grade": false, "grade_id": "training-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 7 · Kernels during training
#
# The short training run of section 0 kept the involution network's weights before its first step,
# after half of its steps and after its last; your `kernel_model` gives the kernels that each of
# these three networks generates for the ten images. Each layer's maps below share one scale over
# the three stages, so that a change in size shows as a change of colour. A similarity $S$ printed
# as `nan` means that on some image fewer than two positions had a non-zero kernel at that stage:
# with a single reduce channel ($C_r = \max(1, \lfloor 3/2 \rfloor) = 1$), a ReLU that outputs zero
# everywhere leaves only the span's bias, which starts at 0, and the whole layer is silent until
# training moves that bias.

# %% nbgrader={"cell_type": "code", "checksum": "ffd267f19e847aeb01a1c023b7755214", "grade": false, "grade_id": "training-snapshots", "locked": true, "schema_version": 3, "solution": false, "task": false}
stage_kernels = snapshots.kernels(kernel_model, inputs)   # start, middle, end
for index, name in enumerate(layer.name for layer in kern.involution_layers(networks["involution"])):
    stage_sums = {stage: np.asarray(kernel_maps(kernels[index])) for stage, kernels in stage_kernels.items()}
    low = min(float(sums.min()) for sums in stage_sums.values())
    high = max(float(sums.max()) for sums in stage_sums.values())
    stage_similarity = {
        stage: np.mean([position_similarity(one) for one in kernels[index]]) for stage, kernels in stage_kernels.items()
    }
    print(f"{name} of the short run: kernel sums from {low:.3f} to {high:.3f}; mean S "
          + ", ".join(f"{stage} {value:.3f}" for stage, value in stage_similarity.items()))
    display(figs.training_snapshots(
        images, {stage: normalise(sums, low, high) for stage, sums in stage_sums.items()}, name, class_labels,
    ))

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "ea4948a9dc064611653f5fdab3e68e4c", "grade": false, "grade_id": "summary", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Summary
#
# - `layer.generate_kernel` and a functional sub-model give the $(B, H, W, G, K, K)$ kernels that each
#   involution layer makes for an image; summed per position they are the maps of the Keras example.
# - Drawn over the images, the maps show where a layer passes on much or little of a neighbourhood.
# - The mean cosine similarity $S$ between the kernels of different positions measures how
#   spatial-specific a layer is; a convolution scores exactly 1 (this run's values: section 5).
# - Local self-attention has the same form, a weight per position and neighbour computed from the
#   input, but compares the centre with each neighbour and normalises with a softmax; involution
#   generates its weights from the centre pixel alone, unnormalised.
# - Snapshots of a short training run show how the maps and $S$ move away from the random start
#   (this run's values: section 7).

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "9c403ac1fd45886b2fb05c47734f73ac", "grade": false, "grade_id": "written-intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## In your own words
#
# **Question 1** (2 points, graded by hand). Suppose an involution layer scores $S = 0.99$ on
# every image. In three to five sentences: what does that tell you about its kernels at
# different positions, and is such a layer then the same as a convolution with one $K \times K$
# kernel? Give a reason for your answer. Write it in the cell below.

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "c0474b32bd8cbbbe75c55a951afeff47", "grade": true, "grade_id": "written_similarity", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# YOUR ANSWER HERE

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "3c256d9ac92d15050e0bd95cd2f50091", "grade": false, "grade_id": "submitting", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Submitting
#
# Save the notebook (File > Save), then submit the `.ipynb` file. On Colab: File > Download >
# Download .ipynb, then upload the downloaded file to the course's platform.
