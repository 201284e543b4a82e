"""Figures: the involution layer in Keras (notebook 03)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

__all__ = ["timing_bars"]


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
