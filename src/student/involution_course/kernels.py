"""Involution kernels made visible: extraction, maps, overlays, similarity, local attention.

Notebook 05 asks the student to write most of these functions; the course's own versions
live here so that figures, tests and later cells have a reference that is known to be right.

Shapes follow the course: a kernel tensor is (B, H_out, W_out, G, K, K), one K x K kernel per
position and channel group; a *map* is (B, H_out, W_out), one number per position.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from .layers import Involution

__all__ = [
    "KernelOutput",
    "KernelSnapshots",
    "build_small_network",
    "convolution_kernels",
    "generated_kernels",
    "involution_layers",
    "kernel_maps",
    "kernel_model",
    "local_attention_weights",
    "normalise",
    "overlay",
    "position_similarity",
    "saved_model_path",
    "upsample",
    "window_centre",
]


# ------------------------------------------------------------------- extraction


def involution_layers(model) -> list:
    """The involution layers of ``model``, in order; a clear error when there are none."""
    found = [layer for layer in model.layers if isinstance(layer, Involution)]
    if not found:
        names = ", ".join(layer.name for layer in model.layers)
        raise ValueError(
            f"The model {model.name!r} has no Involution layer among its layers ({names}). "
            "Pass a network built with involution_course.layers.Involution."
        )
    return found


class KernelOutput(keras.layers.Layer):
    """Wraps an involution layer so that a functional model can return its generated kernel.

    Calling ``involution.generate_kernel`` directly in a functional graph would add the
    layer's inner ``reduce``/``bn``/``span`` layers to the graph, and two involution layers
    would then bring two layers called ``reduce``. The wrapper keeps them inside.
    """

    def __init__(self, involution, **kwargs):
        kwargs.setdefault("name", f"{involution.name}_kernel")
        super().__init__(**kwargs)
        self.involution = involution

    def call(self, x):
        return self.involution.generate_kernel(x, training=False)


def kernel_model(model):
    """A model with ``model``'s input whose outputs are the kernels of each involution layer."""
    outputs = [KernelOutput(layer)(layer.input) for layer in involution_layers(model)]
    # model.inputs, not model.input: a Sequential network reloaded from a .keras file has only
    # the former.
    return keras.Model(model.inputs, outputs, name=f"{model.name}_kernels")


def generated_kernels(extractor, images) -> list[np.ndarray]:
    """Run a kernel model (see :func:`kernel_model`) on a few images: one array per layer.

    A direct call, not ``predict``: for ten images it skips building a prediction graph.
    """
    with warnings.catch_warnings():
        # Keras warns when a model built on a list of inputs gets a bare array; both are fine.
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
        outputs = extractor(np.asarray(images, dtype="float32"), training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [keras.ops.convert_to_numpy(kernels) for kernels in outputs]


# ------------------------------------------------------------------------ maps


def kernel_maps(kernels) -> np.ndarray:
    """One number per position: the sum of the K x K kernel, over all groups.

    (B, H, W, G, K, K) -> (B, H, W); for G = 1 this is the Keras example's kernel sum.
    """
    kernels = np.asarray(kernels)
    if kernels.ndim < 3:
        raise ValueError(
            f"Expected kernels whose last three axes are (G, K, K); got shape {kernels.shape}."
        )
    return kernels.sum(axis=(-3, -2, -1))


def normalise(maps, low=None, high=None) -> np.ndarray:
    """Rescale to [0, 1]: ``low`` -> 0 and ``high`` -> 1 (defaults: the array's min and max).

    Values outside [low, high] are clipped; a constant array (high == low) becomes zeros.
    Passing the same low and high for several arrays puts them on one colour scale.
    """
    maps = np.asarray(maps, dtype=np.float64)
    low = maps.min() if low is None else float(low)
    high = maps.max() if high is None else float(high)
    if high < low:
        raise ValueError(f"high ({high}) must not be below low ({low}).")
    if high == low:
        return np.zeros_like(maps)
    return np.clip((maps - low) / (high - low), 0.0, 1.0)


def upsample(heat, size) -> np.ndarray:
    """Blow a map (h, w) up to ``size`` = (H, W) by repeating each value over its block.

    A map of a layer with stride or pooling before it has one value per block of input
    pixels; repeating keeps that correspondence visible (no invented in-between values).
    """
    heat = np.asarray(heat)
    if heat.ndim != 2:
        raise ValueError(f"Expected one map of shape (h, w); got shape {heat.shape}.")
    height, width = size
    rows, cols = heat.shape
    if height % rows or width % cols:
        raise ValueError(
            f"Cannot upsample a {rows}x{cols} map to {height}x{width}: the image size must be "
            "a whole multiple of the map size."
        )
    return np.repeat(np.repeat(heat, height // rows, axis=0), width // cols, axis=1)


def overlay(image, heat, alpha: float = 0.5, cmap: str = "inferno") -> np.ndarray:
    """Blend a map in [0, 1] over an image: ``(1 - alpha) * image + alpha * colour(map)``.

    ``image`` is (H, W, 3), uint8 in [0, 255] or float in [0, 1]; ``heat`` is (h, w) and is
    upsampled to (H, W) first. Returns floats in [0, 1] of shape (H, W, 3).
    """
    from matplotlib import colormaps

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1]; got {alpha}.")
    image = np.asarray(image)
    pixels = image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)
    colour = colormaps[cmap](upsample(heat, image.shape[:2]))[..., :3]
    return (1.0 - alpha) * pixels + alpha * colour


# ------------------------------------------------------------------ similarity


def position_similarity(kernels) -> float:
    """Mean cosine similarity between the kernels of every two different positions.

    ``kernels`` is (H, W, ...): one kernel (any shape) per position of one image. Positions
    whose kernel is all zeros are left out (a zero vector has no direction). With the N unit
    vectors u_p that remain, the mean over pairs p != q of u_p . u_q is
    (|sum u_p|^2 - N) / (N (N - 1)); it is NaN when fewer than two remain. A convolution, with
    the same kernel everywhere, scores exactly 1.
    """
    kernels = np.asarray(kernels, dtype=np.float64)
    if kernels.ndim < 3:
        raise ValueError(f"Expected kernels of shape (H, W, ...); got shape {kernels.shape}.")
    vectors = kernels.reshape(kernels.shape[0] * kernels.shape[1], -1)
    norms = np.linalg.norm(vectors, axis=1)
    units = vectors[norms > 0] / norms[norms > 0, None]
    count = len(units)
    if count < 2:
        return float("nan")
    total = units.sum(axis=0)
    return float((total @ total - count) / (count * (count - 1)))


def convolution_kernels(weight, height: int, width: int) -> np.ndarray:
    """A convolution's kernel at every position of an (height, width) output: the same one."""
    weight = np.asarray(weight)
    return np.broadcast_to(weight, (height, width, *weight.shape))


# ------------------------------------------------------------ local attention


def local_attention_weights(x, w_query, w_key, kernel_size: int) -> np.ndarray:
    """Softmax attention of every position over its K x K neighbourhood.

    ``x`` (B, H, W, C); queries ``q = x @ w_query`` and keys ``k = x @ w_key`` are 1x1
    projections to d channels. The weight of neighbour (ki, kj) of position (i, j) is the
    softmax over the window of ``q[i, j] . k[i + ki - p, j + kj - p] / sqrt(d)``, p = (K-1)/2;
    neighbours outside the image get weight 0. Returns (B, H, W, K, K).
    """
    x = np.asarray(x, dtype=np.float64)
    w_query = np.asarray(w_query, dtype=np.float64)
    w_key = np.asarray(w_key, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"Expected x of shape (B, H, W, C); got shape {x.shape}.")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number; got {kernel_size}.")
    if w_query.shape != w_key.shape or w_query.shape[0] != x.shape[-1]:
        raise ValueError(
            f"w_query and w_key must both be (C, d) with C = {x.shape[-1]}; "
            f"got {w_query.shape} and {w_key.shape}."
        )
    batch, height, width, _ = x.shape
    pad = (kernel_size - 1) // 2
    queries = x @ w_query
    keys = np.pad(x @ w_key, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    inside = np.pad(np.ones((height, width), dtype=bool), pad)
    logits = np.empty((batch, height, width, kernel_size, kernel_size))
    mask = np.empty((height, width, kernel_size, kernel_size), dtype=bool)
    for ki in range(kernel_size):
        for kj in range(kernel_size):
            shifted = keys[:, ki : ki + height, kj : kj + width]
            logits[..., ki, kj] = (queries * shifted).sum(axis=-1)
            mask[..., ki, kj] = inside[ki : ki + height, kj : kj + width]
    logits = np.where(mask, logits / np.sqrt(w_query.shape[1]), -np.inf)
    logits -= logits.max(axis=(-2, -1), keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=(-2, -1), keepdims=True)


def window_centre(weights) -> np.ndarray:
    """The centre tap of each K x K window: (..., K, K) -> (...)."""
    weights = np.asarray(weights)
    centre = weights.shape[-1] // 2
    return weights[..., centre, centre]


# ---------------------------------------------------------------- the network


def build_small_network(spatial: str = "involution", seed: int = 0, *, run_eagerly: bool = False):
    """The Keras example's involution network for CIFAR-10, or its convolution twin.

    Three spatial layers on 3 channels (involution: K=3, G=1, r=2; or a 3x3 convolution
    with 3 filters) with ReLU, max pooling after the first two, then Flatten, Dense 64 and
    Dense 10 (logits). Inputs are images scaled to [0, 1]. The involution network has
    13,074 trainable parameters, as in the example. ``run_eagerly`` suits runs of a few
    steps, for which tracing a training graph costs more than it saves.
    """
    if spatial not in ("involution", "conv"):
        raise ValueError(f'spatial must be "involution" or "conv"; got {spatial!r}.')
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3), name="image")
    x = inputs
    for index in (1, 2, 3):
        if spatial == "involution":
            x = Involution(3, 1, 1, 2, name=f"inv_{index}")(x)
        else:
            x = keras.layers.Conv2D(3, 3, padding="same", name=f"conv_{index}")(x)
        x = keras.layers.ReLU(name=f"relu_{index}")(x)
        if index < 3:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{index}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(64, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    model = keras.Model(inputs, outputs, name=f"small_{spatial}")
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        # Compiling with XLA costs more than the few short epochs this network trains for.
        jit_compile=False,
        run_eagerly=run_eagerly,
    )
    return model


def saved_model_path(name: str):
    """``build/models/<name>.keras`` when notebook 04 saved it, else ``None``."""
    from .paths import build_directory

    path = build_directory() / "models" / f"{name}.keras"
    return path if path.is_file() else None


class KernelSnapshots(keras.callbacks.Callback):
    """Keeps the kernels that the network generates for fixed images during training:
    before the first step, after half of the steps and after the last one.

    ``stages`` maps "start", "middle", "end" to a list (one entry per involution layer)
    of kernel arrays (N, H_out, W_out, G, K, K).
    """

    def __init__(self, images):
        super().__init__()
        self.images = np.asarray(images)
        self.stages: dict[str, list[np.ndarray]] = {}
        self._step = 0
        self._middle = 1
        self._extractor = None

    def _take(self, stage):
        self.stages[stage] = generated_kernels(self._extractor, self.images)

    def on_train_begin(self, logs=None):
        self._extractor = kernel_model(self.model)
        steps = (self.params.get("steps") or 1) * (self.params.get("epochs") or 1)
        self._middle = max(1, steps // 2)
        self._step = 0
        self._take("start")

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step == self._middle:
            self._take("middle")

    def on_train_end(self, logs=None):
        self._take("end")
