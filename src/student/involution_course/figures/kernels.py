"""Figures: what involution kernels look at.

Maps of one number per position in a grid beside their images, on one labelled colour
scale; maps blended over images; single K x K kernels at chosen positions beside a
convolution's kernel; the similarity of kernels across positions; snapshots over training;
and an interactive view (ipywidgets) that falls back to a static figure where widgets do
not render (Colab, exported HTML).

Every function takes arrays and returns a ``matplotlib.figure.Figure`` (the interactive
view returns a widget when widgets are available).
"""

from __future__ import annotations

import os
import sys

import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "kernel_explorer",
    "kernel_panels",
    "map_grid",
    "overlay_grid",
    "similarity_bars",
    "training_snapshots",
    "widgets_available",
]

MAP_CMAP = "inferno"
KERNEL_CMAP = "RdBu_r"
NO_WIDGETS_VARIABLE = "INVOLUTION_COURSE_NO_WIDGETS"


def _as_pixels(image) -> np.ndarray:
    image = np.asarray(image)
    return image if image.dtype == np.uint8 else np.clip(image, 0.0, 1.0)


GAP = 3  # image pixels between tiles of a row


def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"Expected images of shape (N, H, W, 3); got shape {images.shape}.")
    return images


def _check_divides(maps, size, label):
    rows, cols = np.shape(maps)[1:3]
    height, width = size
    if height % rows or width % cols:
        raise ValueError(
            f"Row {label!r}: maps of {rows}x{cols} do not divide the {height}x{width} images evenly."
        )


def _tile_extent(index, size):
    """Where tile ``index`` of a row lies, in image pixels: (left, right, bottom, top) for imshow."""
    height, width = size
    start = index * (width + GAP)
    return (start - 0.5, start + width - 0.5, height - 0.5, -0.5)


def _mosaic(tiles, fill):
    """(N, h, w[, 3]) -> one (h, N*w + (N-1)*GAP[, 3]) strip, tiles separated by ``fill``."""
    count, height, width = tiles.shape[:3]
    strip = np.full((height, count * width + (count - 1) * GAP, *tiles.shape[3:]), fill, dtype=float)
    for index, tile in enumerate(tiles):
        start = index * (width + GAP)
        strip[:, start : start + width] = tile
    return strip


def _strip_figure(images, strips, row_labels, column_labels, colourbar):
    """One axis per row holding a strip of tiles.

    ``strips`` holds, per row, a list of (array, extent) pieces and the imshow arguments they
    share: one piece for a strip of image-sized tiles, one per tile for maps smaller than the
    images, which imshow stretches over their image's tile (each value over its block of
    pixels, drawn nearest-neighbour: no invented values between them).

    Returns the figure, its axes (the image row first) and, with ``colourbar``, a slim axis
    at the right of the map rows for the colour bar.
    """
    count, height, width = images.shape[:3]
    rows = len(strips) + 1
    row_height = 1.1                                     # inches
    strip_width = row_height * (count * width + (count - 1) * GAP) / height
    left, right, top, bottom = 1.0, (1.4 if colourbar else 0.2), 0.75, 0.1
    figure_width, figure_height = left + strip_width + right, top + rows * row_height + bottom
    figure = Figure(figsize=(figure_width, figure_height))
    axes = figure.subplots(rows, 1, squeeze=False)[:, 0]
    figure.subplots_adjust(left=left / figure_width, right=(left + strip_width) / figure_width,
                           top=1 - top / figure_height, bottom=bottom / figure_height, hspace=0.08)
    pixels = np.asarray(images, dtype=float) / (255.0 if images.dtype == np.uint8 else 1.0)
    axes[0].imshow(_mosaic(pixels, 1.0).clip(0.0, 1.0))
    if column_labels is not None:
        axes[0].set_xticks([i * (width + GAP) + (width - 1) / 2 for i in range(count)],
                           [str(label) for label in column_labels], fontsize=8)
        axes[0].xaxis.tick_top()
        axes[0].tick_params(length=0)
    shown = []
    for ax, (pieces, kwargs) in zip(axes[1:], strips):
        drawn = [ax.imshow(piece, extent=extent, **kwargs) for piece, extent in pieces]
        ax.set_xlim(-0.5, count * width + (count - 1) * GAP - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        shown.append(drawn[0])
    for index, (ax, label) in enumerate(zip(axes, ["image", *row_labels])):
        if index or column_labels is None:
            ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, fontsize=8)
        for spine in ax.spines.values():
            spine.set_visible(False)
    bar_axis = None
    if colourbar:
        bar_axis = figure.add_axes([(left + strip_width + 0.15) / figure_width, bottom / figure_height,
                                    0.15 / figure_width, (rows - 1) * row_height / figure_height])
    return figure, bar_axis, shown


def map_grid(images, rows, row_labels, column_labels=None, *, scale_label="value",
             vmin=0.0, vmax=1.0, title=None) -> Figure:
    """Images in the top row, one row of maps under them per entry of ``rows``.

    ``rows`` is a list of arrays (N, h, w), one per row label, with h and w dividing the image
    size; all maps share one colour scale from ``vmin`` to ``vmax``, drawn once at the right
    and labelled ``scale_label``.
    """
    images = _check_images(images)
    count = len(images)
    if len(rows) != len(row_labels):
        raise ValueError(f"{len(rows)} rows of maps but {len(row_labels)} row labels.")
    for label, maps in zip(row_labels, rows):
        if np.shape(maps)[0] != count:
            raise ValueError(f"Row {label!r} has {np.shape(maps)[0]} maps for {count} images.")
    from matplotlib import colormaps

    cmap = colormaps[MAP_CMAP].with_extremes(bad="white")
    size = images.shape[1:3]
    for label, maps in zip(row_labels, rows):
        _check_divides(maps, size, label)
    strips = [
        ([(np.asarray(tile, dtype=float), _tile_extent(index, size)) for index, tile in enumerate(maps)],
         {"cmap": cmap, "vmin": vmin, "vmax": vmax, "interpolation": "nearest"})
        for maps in rows
    ]
    figure, bar_axis, shown = _strip_figure(images, strips, row_labels, column_labels, colourbar=True)
    colourbar = figure.colorbar(shown[0], cax=bar_axis)
    colourbar.set_label(scale_label, fontsize=8)
    if title:
        figure.suptitle(title)
    return figure


def overlay_grid(images, overlays, row_labels, column_labels=None, title=None) -> Figure:
    """Images in the top row; under them, per row label, the images with a map blended over.

    ``overlays`` is a list of arrays (N, H, W, 3) with values in [0, 1].
    """
    images = _check_images(images)
    if len(overlays) != len(row_labels):
        raise ValueError(f"{len(overlays)} rows of overlays but {len(row_labels)} row labels.")
    for label, blended in zip(row_labels, overlays):
        if np.shape(blended) != images.shape:
            raise ValueError(f"Row {label!r}: overlays of shape {np.shape(blended)} for images {images.shape}.")
    count, height, width = images.shape[:3]
    whole = (-0.5, count * width + (count - 1) * GAP - 0.5, height - 0.5, -0.5)
    strips = [([(_mosaic(np.clip(blended, 0.0, 1.0), 1.0), whole)], {}) for blended in overlays]
    figure, _, _ = _strip_figure(images, strips, row_labels, column_labels, colourbar=False)
    if title:
        figure.suptitle(title)
    return figure


def _draw_kernel(ax, kernel, title):
    kernel = np.asarray(kernel, dtype=float)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"{title}: expected a square K x K kernel; got shape {kernel.shape}.")
    # A symmetric scale per panel keeps 0 white; the numbers give the values.
    limit = float(np.abs(kernel).max()) or 1.0
    ax.imshow(kernel, cmap=KERNEL_CMAP, vmin=-limit, vmax=limit)
    size = kernel.shape[0]
    if size <= 7:
        for row in range(size):
            for col in range(size):
                ax.text(col, row, f"{kernel[row, col]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def kernel_panels(image, kernels, markers=(), title=None) -> Figure:
    """An image with marked positions, then one small panel per K x K kernel.

    ``kernels`` maps a panel title to a (K, K) array; ``markers`` maps a label to a
    (row, column) in image pixels, drawn as a cross on the image. Each kernel panel has its
    own symmetric colour scale (red positive, blue negative) and shows its values.
    """
    kernels = dict(kernels)
    markers = dict(markers)
    figure = Figure(figsize=(2.0 * (len(kernels) + 1), 2.4), layout="constrained")
    axes = figure.subplots(1, len(kernels) + 1, squeeze=False)[0]
    axes[0].imshow(_as_pixels(image))
    for label, (row, col) in markers.items():
        axes[0].plot(col, row, marker="x", color="cyan", markersize=9, markeredgewidth=2)
        axes[0].annotate(label, (col, row), xytext=(3, 3), textcoords="offset points", color="cyan", fontsize=8)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    axes[0].set_title("image", fontsize=8)
    for ax, (name, kernel) in zip(axes[1:], kernels.items()):
        _draw_kernel(ax, kernel, name)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def similarity_bars(layer_names, involution_scores, convolution_scores) -> Figure:
    """Mean cosine similarity between kernels of different positions, per layer.

    ``involution_scores`` is (N images, L layers): bars show the mean over images and
    whiskers the range; ``convolution_scores`` has one value per layer.
    """
    scores = np.asarray(involution_scores, dtype=float)
    if scores.ndim != 2 or scores.shape[1] != len(layer_names):
        raise ValueError(
            f"Expected involution scores of shape (images, {len(layer_names)} layers); got {scores.shape}."
        )
    conv = np.asarray(convolution_scores, dtype=float)
    positions = np.arange(len(layer_names))
    width = 0.38
    # An image whose kernels are all zero has no similarity (nan): leave it out of the bars.
    measured = np.isfinite(scores).any(axis=0)
    safe = np.where(np.isfinite(scores), scores, np.nan)
    mean = np.zeros(scores.shape[1])
    low = np.zeros(scores.shape[1])
    high = np.zeros(scores.shape[1])
    mean[measured] = np.nanmean(safe[:, measured], axis=0)
    low[measured] = np.nanmin(safe[:, measured], axis=0)
    high[measured] = np.nanmax(safe[:, measured], axis=0)
    # Rounding can put the mean a hair outside the range; whiskers must not be negative.
    spread = np.clip(np.stack([mean - low, high - mean]), 0.0, None)
    figure = Figure(figsize=(5.5, 3.2), layout="constrained")
    ax = figure.subplots()
    ax.bar(positions - width / 2, mean, width, yerr=spread, capsize=4, label="involution (range over images)")
    ax.bar(positions + width / 2, conv, width, color="grey", label="convolution")
    for x, value, ok in zip(positions, mean, measured):
        label = f"{value:.3f}" if ok else "n/a"
        ax.text(x - width / 2, 0.03, label, ha="center", va="bottom", fontsize=8, color="white" if ok else "black")
    ax.set_xticks(positions, layer_names)
    ax.set_ylabel("mean cosine similarity\nbetween positions")
    ax.set_ylim(min(0.0, float(low.min()) - 0.05), 1.08)
    ax.axhline(1.0, color="black", linewidth=0.6, linestyle=":")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    return figure


def training_snapshots(images, stage_maps, layer_name, column_labels=None) -> Figure:
    """One layer's maps for the same images at successive stages of training.

    ``stage_maps`` maps a stage name ("start", "middle", "end") to maps (N, h, w) in [0, 1].
    """
    stages = list(stage_maps)
    return map_grid(
        images, [stage_maps[stage] for stage in stages], [f"{layer_name}\n{stage}" for stage in stages],
        column_labels, scale_label=f"{layer_name} kernel sum (0 = min, 1 = max over all stages)",
        title=f"{layer_name}: kernel sums during training",
    )


# --------------------------------------------------------------- interactive view


def widgets_available() -> bool:
    """Whether an ipywidgets view can render here: a Jupyter kernel with ipywidgets, not Colab,
    and ``INVOLUTION_COURSE_NO_WIDGETS`` unset."""
    if os.environ.get(NO_WIDGETS_VARIABLE) or "google.colab" in sys.modules:
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _position_view(images, layer_kernels, layer_names, image_index, layer_index, row, col, conv_kernel):
    kernels = np.asarray(layer_kernels[layer_index])[image_index]  # (h, w, G, K, K)
    height, width = kernels.shape[:2]
    row, col = min(row, height - 1), min(col, width - 1)
    image = np.asarray(images)[image_index]
    scale_y, scale_x = image.shape[0] / height, image.shape[1] / width
    marker = ((row + 0.5) * scale_y - 0.5, (col + 0.5) * scale_x - 0.5)
    panels = {
        f"{layer_names[layer_index]} ({row},{col})" + (f" group {g}" if kernels.shape[2] > 1 else ""): kernels[row, col, g]
        for g in range(kernels.shape[2])
    }
    if conv_kernel is not None:
        panels["convolution\n(every position)"] = conv_kernel
    return kernel_panels(image, panels, {"": marker})


def kernel_explorer(images, layer_kernels, layer_names, conv_kernel=None, *, use_widgets=None):
    """Choose an image, a layer and a position; see the K x K kernel generated there.

    ``layer_kernels`` is a list (one per layer) of kernels (N, h, w, G, K, K). With widgets
    (``use_widgets`` None: when :func:`widgets_available`) returns an ``ipywidgets`` view;
    otherwise a static figure of each layer's kernel at the centre of the first image.
    """
    images = _check_images(images)
    if len(layer_kernels) != len(layer_names):
        raise ValueError(f"{len(layer_kernels)} kernel arrays but {len(layer_names)} layer names.")
    if use_widgets is None:
        use_widgets = widgets_available()
    if not use_widgets:
        return _static_view(images, layer_kernels, layer_names, conv_kernel)

    import ipywidgets as widgets
    from IPython.display import display

    largest = max(np.asarray(k).shape[1] for k in layer_kernels)

    def show(image, layer, row, col):
        display(_position_view(images, layer_kernels, layer_names, image, layer, row, col, conv_kernel))

    return widgets.interactive(
        show,
        image=widgets.IntSlider(0, 0, len(images) - 1, description="image"),
        layer=widgets.Dropdown(options=[(name, i) for i, name in enumerate(layer_names)], description="layer"),
        row=widgets.IntSlider(largest // 2, 0, largest - 1, description="row"),
        col=widgets.IntSlider(largest // 2, 0, largest - 1, description="column"),
    )


def _static_view(images, layer_kernels, layer_names, conv_kernel) -> Figure:
    panels = {}
    for name, kernels in zip(layer_names, layer_kernels):
        kernels = np.asarray(kernels)[0]
        row, col = kernels.shape[0] // 2, kernels.shape[1] // 2
        panels[f"{name} centre ({row},{col})"] = kernels[row, col].sum(axis=0)
    if conv_kernel is not None:
        panels["convolution\n(every position)"] = conv_kernel
    centre = (images.shape[1] / 2 - 0.5, images.shape[2] / 2 - 0.5)
    return kernel_panels(images[0], panels, {"centre": centre},
                         title="Kernels at the centre of the first image (static view)")
