"""Evaluating trained classifiers: predictions, accuracy, mistakes, cost and the results table.

The confusion matrix and per-class accuracy are notebook 04's Exercise 6: the notebook
uses the student's own. Multiply-adds count one per weight use in convolutions,
dense layers and involutions (kernel generation and application) for one image;
element-wise layers (batch norm, ReLU, pooling, additions) are not counted.
"""

from __future__ import annotations

import math

import numpy as np


def class_indices(values, name: str) -> np.ndarray:
    """``values`` as a vector of integer class indices; CIFAR-10's ``(N, 1)`` labels are flattened."""
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]  # Keras' CIFAR-10 labels come as (N, 1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a vector of class indices, got an array of shape {array.shape}.")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}.")
    return array.astype(np.int64)


def predict_classes(model, images, batch_size: int = 256) -> np.ndarray:
    """The class with the largest logit for every image."""
    logits = model.predict(images, batch_size=batch_size, verbose=0)
    return np.argmax(np.asarray(logits), axis=-1)


def accuracy(y_true, y_pred) -> float:
    """The share of predictions equal to the true class."""
    true, pred = class_indices(y_true, "y_true"), class_indices(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {true.shape[0]} and {pred.shape[0]}.")
    return float(np.mean(true == pred))


def misclassified(y_true, y_pred, limit: int | None = None) -> np.ndarray:
    """Indices of the wrongly predicted images, in test-set order (at most ``limit``)."""
    wrong = np.flatnonzero(class_indices(y_true, "y_true") != class_indices(y_pred, "y_pred"))
    return wrong if limit is None else wrong[:limit]


# ---------------------------------------------------------------------- multiply-adds


def _spatial(shape) -> int:
    return int(math.prod(shape[1:-1]))


def _layer_multiply_adds(layer) -> int:
    kind = type(layer).__name__
    if kind == "Involution":
        config = layer.get_config()
        k, groups, ratio = config["kernel_size"], config["groups"], config["reduction_ratio"]
        channels = layer.input.shape[-1]
        out_pixels = _spatial(layer.output.shape)
        reduced = max(1, channels // ratio)
        generate = out_pixels * (channels * reduced + reduced * k * k * groups)
        apply = out_pixels * channels * k * k
        return generate + apply
    if kind in ("Conv2D", "Conv1D", "Conv3D"):
        kernel = layer.kernel.shape  # (*window, in / groups, out)
        return _spatial(layer.output.shape) * int(math.prod(kernel))
    if kind == "DepthwiseConv2D":
        return _spatial(layer.output.shape) * int(math.prod(layer.kernel.shape))
    if kind == "Dense":
        return int(math.prod(layer.kernel.shape)) * int(math.prod(layer.output.shape[1:-1]) or 1)
    return 0


def multiply_adds(model) -> int:
    """Multiply-adds of one forward pass of one image (see the module's conventions)."""
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers and type(layer).__name__ != "Involution":
            total += multiply_adds(layer)  # a nested model
        else:
            total += _layer_multiply_adds(layer)
    return int(total)


# ---------------------------------------------------------------------- results table

_COLUMNS = (
    ("model", "model", "{}"),
    ("trainable_parameters", "trainable parameters", "{:,}"),
    ("multiply_adds", "multiply-adds per image", "{:,}"),
    ("test_accuracy", "test accuracy", "{:.4f}"),
    ("seconds_per_epoch", "seconds per epoch", "{:.1f}"),
    ("device", "device", "{}"),
    ("profile", "profile", "{}"),
)


def markdown_table(rows: list[dict]) -> str:
    """The results table in Markdown; a missing value (a model not trained) shows as "-"."""
    lines = [
        "| " + " | ".join(title for _, title, _ in _COLUMNS) + " |",
        "| " + " | ".join("---" if key in ("model", "device", "profile") else "---:" for key, _, _ in _COLUMNS) + " |",
    ]
    for row in rows:
        cells = [fmt.format(row[key]) if row.get(key) is not None else "-" for key, _, fmt in _COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
