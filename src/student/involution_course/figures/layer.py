"""Figures: the involution layer in Keras (notebook 03)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["loss_curve", "timing_bars"]


def timing_bars(methods, modes, milliseconds) -> Figure:
    """Grouped bars: forward+backward time of each method (bars) under each compilation mode (groups).

    ``milliseconds[m][k]`` is the time of ``methods[k]`` under ``modes[m]``.
    """
    times = np.asarray(milliseconds, dtype=float)
    if times.shape != (len(modes), len(methods)):
        raise ValueError(
            f"milliseconds must have one row per mode and one column per method, "
            f"shape ({len(modes)}, {len(methods)}); got {times.shape}."
        )
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(methods)
    centres = np.arange(len(modes))
    for k, method in enumerate(methods):
        positions = centres + (k - (len(methods) - 1) / 2) * width
        bars = ax.bar(positions, times[:, k], width, label=method)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(centres, modes)
    ax.set_ylabel("forward + backward (ms)")
    ax.set_title("Time per batch, lower is better")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def loss_curve(losses, title: str = "Training loss, one value per step") -> Figure:
    """The training loss of each step, in order; a straight line shows the overall trend."""
    values = np.asarray(losses, dtype=float).ravel()
    if values.size < 2:
        raise ValueError(f"a loss curve needs the losses of at least two steps; got {values.size}.")
    if not np.all(np.isfinite(values)):
        raise ValueError("the losses contain NaN or infinite values: the training diverged.")
    steps = np.arange(1, values.size + 1)
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(steps, values, marker="o", markersize=3, label="loss of the step's batch")
    slope, intercept = np.polyfit(steps, values, 1)
    ax.plot(steps, slope * steps + intercept, linestyle="--", color="0.4", label="trend")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy")
    ax.set_title(title)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
