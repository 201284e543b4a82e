"""Reference answers of notebook 05: kernels out of a network, maps, overlays, similarity and
local attention.

The student package keeps what the notebook gives (``involution_layers``, ``KernelOutput``,
``generated_kernels``, ``convolution_kernels``, ``window_centre``, the small network and its
snapshots); what the exercises ask for lives only here:

* Exercise 1: :func:`kernel_model`;
* Exercise 2: :func:`kernel_maps`, :func:`normalise`;
* Exercise 3: :func:`upsample`, :func:`overlay`;
* Exercise 4: :func:`position_similarity`;
* Exercise 5: :func:`local_attention_weights`.

Shapes follow the course: a kernel tensor is (B, H_out, W_out, G, K, K), one K x K kernel per
position and channel group; a *map* is (B, H_out, W_out), one number per position.
"""

from __future__ import annotations

import keras
import numpy as np

from involution_course.kernels import KernelOutput, involution_layers

__all__ = [
    "kernel_maps",
    "kernel_model",
    "local_attention_weights",
    "normalise",
    "overlay",
    "position_similarity",
    "upsample",
]


def kernel_model(model):
    """A model with ``model``'s input whose outputs are the kernels of each involution layer."""
    outputs = [KernelOutput(layer)(layer.input) for layer in involution_layers(model)]
    # model.inputs, not model.input: a Sequential network reloaded from a .keras file has only
    # the former.
    return keras.Model(model.inputs, outputs, name=f"{model.name}_kernels")


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
