"""Figures: the speed of involution's multiply-add (notebook 06), a roofline and measured times.

The roof itself comes from the caller (notebook 06 draws it with the student's own function), so
this module only draws.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

__all__ = ["roofline", "time_bars"]


def roofline(intensity, attainable, points, *, peak_flops: float, bandwidth: float, title: str = "") -> Figure:
    """The roof ``attainable`` (FLOP/s) against arithmetic intensity (FLOP/byte), log-log, with points.

    ``points`` is a list of ``(label, intensity, flop_rate)``; a point whose label starts with
    "measured" is drawn hollow, so a model's bound and a measurement read apart.
    """
    intensity = np.asarray(intensity, dtype=float)
    attainable = np.asarray(attainable, dtype=float)
    if intensity.shape != attainable.shape or intensity.ndim != 1 or intensity.size < 2:
        raise ValueError(f"intensity and attainable must be 1-D arrays of one shape (2 values or more); "
                         f"got {intensity.shape} and {attainable.shape}.")
    if np.any(intensity <= 0) or np.any(attainable <= 0):
        raise ValueError("a roofline is drawn on log axes: intensity and attainable must be positive.")
    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.add_subplot()
    ax.loglog(intensity, attainable / 1e12, color="black", linewidth=2, label="roof: min(peak, intensity x bandwidth)")
    ridge = peak_flops / bandwidth
    ax.axvline(ridge, color="0.6", linestyle=":", linewidth=1)
    ax.annotate(f"ridge {ridge:.1f} FLOP/B", (ridge, peak_flops / 1e12), textcoords="offset points",
                xytext=(4, -14), fontsize=8, color="0.35")
    for number, (label, x, rate) in enumerate(points):
        colour = f"C{number % 10}"
        hollow = label.startswith("measured")
        ax.plot([x], [rate / 1e12], marker="s" if hollow else "o", markersize=8, linestyle="none",
                markerfacecolor="none" if hollow else colour, markeredgecolor=colour, label=label)
    ax.set_xlabel("arithmetic intensity (FLOP per byte moved)")
    ax.set_ylabel("FLOP rate (TFLOP/s)")
    ax.set_title(title or "Roofline: memory-bound left of the ridge, compute-bound right of it")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    ax.grid(True, which="major", color="0.9")
    return fig


def time_bars(cases, methods, milliseconds, *, floor=None, title: str = "") -> Figure:
    """Horizontal bars on a log axis: ``milliseconds[c][m]`` is method ``methods[m]`` on ``cases[c]``
    (NaN where not measured); ``floor[c]``, where given, is drawn as a line across case ``c``."""
    times = np.asarray(milliseconds, dtype=float)
    if times.shape != (len(cases), len(methods)):
        raise ValueError(f"milliseconds must have one row per case and one column per method, "
                         f"shape ({len(cases)}, {len(methods)}); got {times.shape}.")
    fig = Figure(figsize=(7.6, 1.6 + 0.3 * times.size), layout="constrained")
    ax = fig.add_subplot()
    height = 0.8 / len(methods)
    for m, method in enumerate(methods):
        positions = np.arange(len(cases)) + (m - (len(methods) - 1) / 2) * height
        shown = np.isfinite(times[:, m])
        bars = ax.barh(positions[shown], times[shown, m], height, label=method, color=f"C{m % 10}")
        ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=2)
    if floor is not None:
        for c, value in enumerate(floor):
            if value is not None and np.isfinite(value):
                ax.plot([value, value], [c - 0.45, c + 0.45], color="black", linewidth=2,
                        label="floor" if c == 0 else None)
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(cases)), cases)
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds, log scale (lower is better)")
    ax.set_title(title or "Forward + backward of the multiply-add")
    ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
