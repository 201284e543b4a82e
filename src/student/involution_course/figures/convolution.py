"""Figures: convolution.

``sliding_window_figure`` shows the window of a kernel sliding over a padded input
with a stride; ``feature_maps_figure`` shows an image, a few kernels and the
feature maps they produce. Both take arrays and return a Figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = ["sliding_window_figure", "feature_maps_figure"]

# One colour per highlighted window; the same colour marks the output it makes.
WINDOW_COLOURS = ("tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:red")
PADDING_SHADE = "0.85"


def _padding_amounts(padding) -> tuple[int, int, int, int]:
    """``padding`` as (top, bottom, left, right) from an int or a 4-tuple."""
    if np.isscalar(padding):
        amounts = (int(padding),) * 4
    else:
        amounts = tuple(int(p) for p in padding)
    if len(amounts) != 4 or min(amounts) < 0:
        raise ValueError(
            f"padding must be a non-negative int or (top, bottom, left, right), got {padding!r}."
        )
    return amounts  # type: ignore[return-value]


def _draw_grid(ax, values: np.ndarray, shade=None, fmt="{:g}", fontsize=9) -> None:
    """A table of numbers, one square per entry, row 0 at the top."""
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            colour = shade[i, j] if shade is not None else "white"
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="0.4", linewidth=0.8))
            if np.isfinite(values[i, j]):
                ax.text(j + 0.5, i + 0.5, fmt.format(values[i, j]), ha="center", va="center", fontsize=fontsize)
    ax.set_xlim(-0.2, cols + 0.2)
    ax.set_ylim(rows + 0.2, -0.2)
    ax.set_aspect("equal")
    ax.axis("off")


def sliding_window_figure(
    x,
    kernel,
    stride: int = 1,
    padding=0,
    positions: Sequence[tuple[int, int]] | None = None,
) -> Figure:
    """The kernel's window over the padded input, for a few output positions.

    Args:
        x: a 2-D input (one channel), small enough to print its values.
        kernel: a 2-D kernel.
        stride: how many pixels the window moves between neighbouring outputs.
        padding: zeros added around ``x``: an int for every side, or (top, bottom, left, right).
        positions: output positions (row, column) whose windows are drawn; by default
            the first two of the top row and the first of the second row.

    Each window and the output it produces share a colour; the output value is the
    sum of the window times the kernel.
    """
    x = np.asarray(x, dtype=float)
    kernel = np.asarray(kernel, dtype=float)
    if x.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"x and kernel must be 2-D arrays, got shapes {x.shape} and {kernel.shape}.")
    if int(stride) != stride or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}.")
    top, bottom, left, right = _padding_amounts(padding)
    padded = np.pad(x, ((top, bottom), (left, right)))
    k_rows, k_cols = kernel.shape
    out_rows = (padded.shape[0] - k_rows) // stride + 1
    out_cols = (padded.shape[1] - k_cols) // stride + 1
    if out_rows < 1 or out_cols < 1:
        raise ValueError(
            f"A {k_rows}x{k_cols} kernel does not fit in the padded {padded.shape[0]}x{padded.shape[1]} input."
        )
    if positions is None:
        positions = [(0, 0), (0, 1), (1, 0)]
        positions = [(i, j) for i, j in positions if i < out_rows and j < out_cols]
    for i, j in positions:
        if not (0 <= i < out_rows and 0 <= j < out_cols):
            raise ValueError(f"Output position {(i, j)} is outside the {out_rows}x{out_cols} output.")
    if len(positions) > len(WINDOW_COLOURS):
        raise ValueError(f"At most {len(WINDOW_COLOURS)} positions can be drawn, got {len(positions)}.")

    shade = np.full(padded.shape, "white", dtype=object)
    shade[:top, :] = PADDING_SHADE
    shade[padded.shape[0] - bottom :, :] = PADDING_SHADE
    shade[:, :left] = PADDING_SHADE
    shade[:, padded.shape[1] - right :] = PADDING_SHADE

    output = np.full((out_rows, out_cols), np.nan)
    out_shade = np.full(output.shape, "white", dtype=object)
    for colour, (i, j) in zip(WINDOW_COLOURS, positions):
        window = padded[i * stride : i * stride + k_rows, j * stride : j * stride + k_cols]
        output[i, j] = float(np.sum(window * kernel))
        out_shade[i, j] = colour

    widths = [padded.shape[1], k_cols, out_cols]
    fig = Figure(figsize=(2.0 + 0.45 * sum(widths), 0.5 * max(padded.shape[0], 4) + 1.0), layout="constrained")
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": widths})
    _draw_grid(axes[0], padded, shade)
    for step, (colour, (i, j)) in enumerate(zip(WINDOW_COLOURS, positions)):
        inset = 0.06 * (step + 1)  # overlapping windows stay visible
        axes[0].add_patch(
            Rectangle(
                (j * stride + inset, i * stride + inset), k_cols - 2 * inset, k_rows - 2 * inset,
                fill=False, edgecolor=colour, linewidth=2.5,
            )
        )
    pad_text = f"padding {top}" if len({top, bottom, left, right}) == 1 else (
        f"padding top {top}, bottom {bottom}, left {left}, right {right}"
    )
    axes[0].set_title(f"input {x.shape[0]}×{x.shape[1]}, {pad_text}\n(grey: zeros of the padding)", fontsize=10)
    _draw_grid(axes[1], kernel)
    axes[1].set_title(f"kernel {k_rows}×{k_cols}\nstride {stride}", fontsize=10)
    _draw_grid(axes[2], output, out_shade)
    axes[2].set_title(f"output {out_rows}×{out_cols}\n(coloured: window sums)", fontsize=10)
    return fig


def _symmetric_limits(values: np.ndarray) -> dict:
    """Colour limits: a diverging map centred on zero for signed values, grey otherwise."""
    if values.min() < 0:
        bound = float(np.abs(values).max()) or 1.0
        return {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
    return {"cmap": "gray", "vmin": 0.0, "vmax": float(values.max()) or 1.0}


def feature_maps_figure(image, kernels, feature_maps, names: Sequence[str]) -> Figure:
    """An image, hand-made kernels and the feature map each kernel produces.

    Args:
        image: one image, (H, W, 3) uint8 or floats in [0, 1], or (H, W) grey.
        kernels: 2-D kernels, one per feature map: a sequence or an array (K, K, C).
        feature_maps: (H', W', C), channel c made by kernel c.
        names: C names shown above the kernels.

    Signed maps use a blue-white-red scale centred on zero (red: positive);
    maps with no negative value use grey.
    """
    image = np.asarray(image)
    feature_maps = np.asarray(feature_maps, dtype=float)
    if isinstance(kernels, np.ndarray) and kernels.ndim == 3:
        kernels = [kernels[..., c] for c in range(kernels.shape[-1])]
    kernels = [np.asarray(k, dtype=float) for k in kernels]
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W, 3) or (H, W), got shape {image.shape}.")
    if feature_maps.ndim != 3:
        raise ValueError(f"feature_maps must be (H', W', C), got shape {feature_maps.shape}.")
    count = feature_maps.shape[-1]
    if len(kernels) != count or len(names) != count:
        raise ValueError(
            f"Need one kernel and one name per feature map: {count} maps, "
            f"{len(kernels)} kernels, {len(names)} names."
        )
    if any(k.ndim != 2 for k in kernels):
        raise ValueError("Each kernel must be 2-D (K, K).")

    fig = Figure(figsize=(2.3 * (count + 1), 4.8), layout="constrained")
    axes = fig.subplots(2, count + 1, gridspec_kw={"height_ratios": [1, 1.6]})
    axes[0, 0].imshow(image, cmap="gray" if image.ndim == 2 else None)
    axes[0, 0].set_title("input image", fontsize=10)
    axes[1, 0].axis("off")
    axes[1, 0].text(
        0.5, 0.5, "each feature map:\nthe kernel above it,\nslid over the image",
        ha="center", va="center", fontsize=9, transform=axes[1, 0].transAxes,
    )
    for c, (kernel, name) in enumerate(zip(kernels, names)):
        _draw_grid(axes[0, c + 1], kernel, fmt="{:.3g}", fontsize=8)
        axes[0, c + 1].set_title(name, fontsize=10)
        maps = feature_maps[..., c]
        axes[1, c + 1].imshow(maps, **_symmetric_limits(maps))
        axes[1, c + 1].set_title(f"range [{maps.min():.2f}, {maps.max():.2f}]", fontsize=9)
    for ax in axes[:, 0].tolist() + axes[1, 1:].tolist():
        ax.set_xticks([])
        ax.set_yticks([])
    return fig
