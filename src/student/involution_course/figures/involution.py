"""Figures: involution, drawn from the arrays a notebook computed.

* ``weight_sharing``: which kernel convolution and involution apply at a few positions and
  channels (convolution: same along positions, different along channels; involution: the reverse);
* ``kernels_at_positions``: an image with marked positions and the involution kernel at each;
* ``cost_bars``: run times and peak memory of several implementations, side by side;
* ``cost_report``, ``counting_table``, ``distance_table``, ``distance_correlation``: notebook 02's
  printed tables, each keeping its figures as the notebook's headline figures (``ic.record``).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..headlines import record

__all__ = ["cost_bars", "cost_report", "counting_table", "distance_correlation", "distance_table",
           "kernels_at_positions", "weight_sharing"]


def _show_kernel(ax, kernel, limit) -> None:
    ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xticks([])
    ax.set_yticks([])


def weight_sharing(conv_kernels, involution_kernels, positions) -> Figure:
    """Two grids of K x K kernels, rows = positions, columns = channels.

    ``conv_kernels``: (n_channels, K, K), the kernel convolution applies for each output
    channel (the same at every position); ``involution_kernels``: (n_positions, n_channels, K, K),
    the kernel involution applies at each position to each channel; ``positions``: (row, col)
    labels of the rows.
    """
    conv_kernels = np.asarray(conv_kernels, dtype=float)
    involution_kernels = np.asarray(involution_kernels, dtype=float)
    n_positions, n_channels = involution_kernels.shape[:2]
    if conv_kernels.shape[0] != n_channels or len(positions) != n_positions:
        raise ValueError(
            f"expected {n_channels} convolution kernels and {n_positions} positions to match the involution "
            f"kernels of shape {involution_kernels.shape}; got {conv_kernels.shape[0]} and {len(positions)}."
        )
    figure = Figure(figsize=(2.0 * n_channels * 2 + 0.6, 1.9 * n_positions + 0.9), layout="constrained")
    panels = figure.subfigures(1, 2)
    titles = (
        "Convolution: one kernel per channel,\nthe same at every position",
        "Involution: one kernel per position,\nshared by every channel",
    )
    grids = (np.broadcast_to(conv_kernels, involution_kernels.shape), involution_kernels)
    for panel, title, grid in zip(panels, titles, grids):
        panel.suptitle(title, fontsize=10)
        axes = panel.subplots(n_positions, n_channels, squeeze=False)
        for p in range(n_positions):
            for c in range(n_channels):
                # Each kernel on its own colour scale: the figure compares patterns, not sizes.
                _show_kernel(axes[p, c], grid[p, c], float(np.abs(grid[p, c]).max()) or 1.0)
                if p == n_positions - 1:
                    axes[p, c].set_xlabel(f"channel {c}", fontsize=8)
                if c == 0:
                    axes[p, c].set_ylabel(f"at {tuple(positions[p])}", fontsize=8)
    return figure


def kernels_at_positions(image, kernels, positions) -> Figure:
    """``image`` (H, W) or (H, W, 3) with ``positions`` marked, and ``kernels`` (n, K, K) beside it."""
    image = np.asarray(image)
    kernels = np.asarray(kernels, dtype=float)
    if len(kernels) != len(positions):
        raise ValueError(f"one kernel per position is needed: got {len(kernels)} kernels for {len(positions)} positions.")
    n = len(positions)
    figure = Figure(figsize=(3.2 + 1.8 * n, 3.0), layout="constrained")
    axes = figure.subplots(1, n + 1, width_ratios=[1.8] + [1] * n)
    shown = image.astype(float)
    if shown.max() > 1.0:
        shown = shown / 255.0
    axes[0].imshow(shown, cmap=None if shown.ndim == 3 else "gray")
    axes[0].set_title("input", fontsize=9)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    limit = float(np.abs(kernels).max()) or 1.0
    colours = ("tab:orange", "tab:green", "tab:purple", "tab:red", "tab:cyan", "tab:olive")
    for number, ((row, col), kernel) in enumerate(zip(positions, kernels)):
        colour = colours[number % len(colours)]
        axes[0].plot(col, row, marker="s", markersize=9, markerfacecolor="none", markeredgecolor=colour, markeredgewidth=2)
        _show_kernel(axes[number + 1], kernel, limit)
        axes[number + 1].set_title(f"kernel at ({row}, {col})", fontsize=9, color=colour)
    return figure


def cost_bars(names, seconds, megabytes) -> Figure:
    """Two bar charts: run time (ms) and peak memory (MB) of each named implementation
    (a NaN memory figure is shown as not measured)."""
    if not (len(names) == len(seconds) == len(megabytes)):
        raise ValueError("names, seconds and megabytes must have one entry per implementation.")
    from matplotlib.ticker import NullFormatter

    figure = Figure(figsize=(8.5, 3.0), layout="constrained")
    time_axis, memory_axis = figure.subplots(1, 2, sharey=True)
    positions = np.arange(len(names))
    time_axis.barh(positions, np.asarray(seconds, dtype=float) * 1e3, color="tab:blue")
    time_axis.set_xscale("log")
    time_axis.xaxis.set_minor_formatter(NullFormatter())
    time_axis.set_xlabel("time per call (ms, log scale)")
    megabytes = np.asarray(megabytes, dtype=float)
    measured = ~np.isnan(megabytes)
    memory_axis.barh(positions[measured], megabytes[measured], color="tab:orange")
    for position in positions[~measured]:
        memory_axis.text(0, position, " not measured", va="center", fontsize=8, color="grey")
    memory_axis.set_xlabel("peak extra memory (MB)")
    time_axis.set_yticks(positions, names)
    time_axis.set_ylim(len(names) - 0.5, -0.5)  # first name on top
    memory_axis.tick_params(labelleft=False)
    return figure


def cost_report(seconds: dict, megabytes: dict, agreement: float) -> Figure:
    """Print each implementation's time (and peak memory, where measured) and the largest
    difference between the shifted slices and the loops; keep the three ratios; return the bars.
    ``seconds`` and ``megabytes`` are keyed by name, in the order loops, shifted slices, patch tensor."""
    names = list(seconds)
    if len(names) != 3 or list(megabytes) != names:
        raise ValueError("seconds and megabytes must name the loops, the shifted slices and the patch tensor, in that order.")
    loops, slices, patches = names
    for name in names:
        memory = "" if np.isnan(megabytes[name]) else f"   peak {megabytes[name]:7.2f} MB"
        print(f"  {name:38s} {seconds[name] * 1e3:9.2f} ms{memory}")
    print(f"largest difference between shifted slices and loops: {agreement:.1e}")
    record("shifted slices speed-up over loops", seconds[loops] / seconds[slices], "x")
    record("patch tensor alone time / shifted slices time", seconds[patches] / seconds[slices], "x")
    record("patch tensor alone peak memory / shifted slices peak memory", megabytes[patches] / megabytes[slices], "x")
    return cost_bars(names, list(seconds.values()), list(megabytes.values()))


def counting_table(table: dict, heading: str) -> None:
    """Print ``{layer: (parameters, multiply-adds)}`` under ``heading``; keep the 7x7 convolution's
    counts over the 7x7 involution's (the first rows whose names start so)."""
    print(f"{heading:34s} {'parameters':>12s} {'multiply-adds':>16s}")
    for name, (n_params, n_macs) in table.items():
        print(f"{name:34s} {n_params:12,d} {n_macs:16,d}")
    conv = next((counts for name, counts in table.items() if name.startswith("convolution 7x7")), None)
    inv = next((counts for name, counts in table.items() if name.startswith("involution 7x7")), None)
    if conv and inv:
        record("7x7 convolution / involution parameters (C=64)", conv[0] / inv[0], "x")
        record("7x7 convolution / involution multiply-adds (C=64)", conv[1] / inv[1], "x")


def distance_table(rows) -> None:
    """Print ``(positions, pixel distance, involution kernel distance, convolution kernel distance)``
    rows; keep the largest kernel distance of each operator."""
    print(f"{'positions':22s} {'pixels':>8s} {'involution kernels':>19s} {'convolution kernels':>20s}")
    for positions, pixel_gap, involution_gap, conv_gap in rows:
        print(f"{positions:22s} {pixel_gap:8.3f} {involution_gap:19.3f} {conv_gap:20.3f}")
    record("largest distance between involution kernels at two positions", max(row[2] for row in rows))
    record("largest distance between convolution kernels at two positions", max(row[3] for row in rows))


def distance_correlation(pixel_gaps, kernel_gaps) -> float:
    """Print the correlation between the pixel distances and the kernel distances of the same pairs,
    and the mean kernel distance of the 20% closest and 20% farthest pixel pairs; keep and return it."""
    pixel_gaps, kernel_gaps = np.asarray(pixel_gaps, dtype=float), np.asarray(kernel_gaps, dtype=float)
    correlation = float(np.corrcoef(pixel_gaps, kernel_gaps)[0, 1])
    closest, farthest = pixel_gaps <= np.quantile(pixel_gaps, 0.2), pixel_gaps >= np.quantile(pixel_gaps, 0.8)
    print(f"{len(pixel_gaps)} pairs: correlation between pixel distance and kernel distance {correlation:.2f}; "
          f"mean kernel distance of the 20% closest pixel pairs {kernel_gaps[closest].mean():.3f}, "
          f"of the 20% farthest {kernel_gaps[farthest].mean():.3f}")
    record("correlation between pixel distance and involution kernel distance", correlation, show=False)
    return correlation
