"""Pallas kernels for involution's multiply-add on Keras' JAX backend (GPU, through Triton).

:func:`multiply_add` computes, for x (B, H, W, C) and planes (B, H_out, W_out, G*K*K)::

    out[b, i, j, c] = sum_{ki, kj} x[b, i*s + ki - p, j*s + kj - p, c] * planes[b, i, j, g(c)*K*K + ki*K + kj]

with p = (K - 1) / 2, zeros outside the image and g(c) = c // (C/G); its ``jax.custom_vjp``
gives both gradients with two more kernels. Three kernels, each reading its inputs once:

* forward: a program owns a tile of output pixels and a block of channel groups; for each kernel
  row ki it gathers the K shifted input pixels of every tile pixel at once, (pixels, groups, kj,
  channels), and the matching K weights, which lie side by side in ``planes``, so both loads are
  coalesced; it sums over kj and accumulates in fp32.
* grad_planes: the same tile and gather; the product with the upstream gradient is summed over each
  group's channels and written as K weights at a time.
* grad_x: a correlation of the upstream gradient with the taps. Input pixel y receives from output
  row i only when y + p - ki = i*s, so for s > 1 the input pixels are split into s*s phases
  (y mod s, x mod s) and each phase loops over the ceil(K/s) taps of its remainder only.

Triton needs every tensor in a kernel to have a power-of-two size, but not the arrays in memory:
the kernels index flat arrays with computed offsets and mask what lies outside the image, the
channels or the taps, so the wrapper neither pads nor copies anything. A group's C/G channels are
padded to a power of two inside the tile (masked), which keeps one weight per (pixel, group) and
a broadcast over that group's channels.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

__all__ = ["Tiles", "default_tiles", "multiply_add"]

# Offsets are int32; a masked store gets an offset past the array's end (array size, at most twice),
# which must still fit.
_MAX_ELEMENTS = 2**30


def _pow2(n: int) -> int:
    """The smallest power of two >= n."""
    return 1 << max(0, (n - 1).bit_length())


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclasses.dataclass(frozen=True)
class Tiles:
    """What one program of a kernel owns: a rows x cols tile of pixels (output pixels, or for
    grad_x input pixels of one phase) and ``groups`` channel groups; all powers of two."""

    rows: int
    cols: int
    groups: int
    warps: int = 4
    stages: int = 1

    def __post_init__(self):
        for name in ("rows", "cols", "groups", "warps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1 or value & (value - 1):
                raise ValueError(f"Tiles.{name} must be a power of two; got {value!r}.")


@dataclasses.dataclass(frozen=True)
class _Geometry:
    """The static sizes of one multiply-add."""

    batch: int
    height: int
    width: int
    channels: int
    kernel_size: int
    stride: int
    groups: int

    @property
    def out_height(self) -> int:
        return _cdiv(self.height, self.stride)

    @property
    def out_width(self) -> int:
        return _cdiv(self.width, self.stride)

    @property
    def pad(self) -> int:
        return (self.kernel_size - 1) // 2

    @property
    def group_size(self) -> int:
        return self.channels // self.groups

    @property
    def taps(self) -> int:
        return self.kernel_size**2

    @property
    def kj_width(self) -> int:
        """Taps of one kernel row gathered at once (forward, grad_planes): K, padded."""
        return _pow2(self.kernel_size)

    @property
    def phase_taps(self) -> int:
        """Taps per kernel row that reach one phase of input pixels (grad_x): ceil(K/s)."""
        return _cdiv(self.kernel_size, self.stride)


# -- tiles --------------------------------------------------------------------------------------


def _spatial_tile(pixels: int, height: int, width: int) -> tuple[int, int]:
    """rows x cols (powers of two) of about ``pixels`` pixels, wasting as little of a height x width
    image as possible at its edges; ties go to the squarer tile, whose halo is smaller."""
    best = None
    for size in {pixels, max(1, pixels // 2), max(1, pixels // 4)}:
        for log_cols in range(size.bit_length()):
            cols = 1 << log_cols
            rows = size // cols
            if rows > _pow2(height) or cols > _pow2(width):
                continue
            covered = _cdiv(height, rows) * rows * _cdiv(width, cols) * cols
            # Waste first, then a smaller tile, then a less square one.
            cost = (round(covered / (height * width), 2), -size, abs(log_cols - (size.bit_length() - 1) / 2))
            if best is None or cost < best[0]:
                best = (cost, rows, cols)
    return best[1], best[2]


def default_tiles(kernel: str, geometry: _Geometry, itemsize: int = 4) -> Tiles:
    """The tiles for ``kernel`` ("forward", "grad_x", "grad_planes" or "backward"): whole groups adding up to
    about 128 bytes of channels per pixel, and about 8192 gathered elements per kernel row."""
    group_width = _pow2(geometry.group_size)
    groups = max(1, min(_pow2(geometry.groups), 128 // itemsize // group_width))
    taps = _pow2(geometry.phase_taps) if kernel == "grad_x" else geometry.kj_width
    # The fused backward gathers twice per kernel row: half the pixels.
    elements = 4096 if kernel == "backward" else 8192
    pixels = max(16, min(256, elements // (groups * group_width * taps)))
    if kernel == "grad_x":  # tiles of one phase's input pixels
        height, width = _cdiv(geometry.height, geometry.stride), _cdiv(geometry.width, geometry.stride)
    else:
        height, width = geometry.out_height, geometry.out_width
    rows, cols = _spatial_tile(min(pixels, _pow2(height) * _pow2(width)), height, width)
    return Tiles(rows, cols, groups)


# -- the kernels --------------------------------------------------------------------------------


def _tile_pixels(tile, tiles: Tiles, height: int, width: int):
    """Row, column and inside-the-image flag of each pixel of ``tile`` (tiles row-major over a
    height x width grid), as vectors of rows*cols."""
    tile_cols = _cdiv(width, tiles.cols)
    pixel = jnp.arange(tiles.rows * tiles.cols, dtype=jnp.int32)
    rows = lax.div(tile, tile_cols) * tiles.rows + lax.div(pixel, tiles.cols)
    cols = lax.rem(tile, tile_cols) * tiles.cols + lax.rem(pixel, tiles.cols)
    return rows, cols, (rows < height) & (cols < width)


def _channel_block(block, tiles: Tiles, geometry: _Geometry):
    """The groups of channel block ``block`` (vector), their channels (groups, padded group size)
    and which of those exist (None when all do, so that the loads stay unmasked along channels)."""
    group_width = _pow2(geometry.group_size)
    groups = block * tiles.groups + jnp.arange(tiles.groups, dtype=jnp.int32)
    within = jnp.arange(group_width, dtype=jnp.int32)
    channels = groups[:, None] * geometry.group_size + within[None, :]
    if geometry.groups % tiles.groups == 0 and group_width == geometry.group_size:
        return groups, channels, None
    return groups, channels, (groups < geometry.groups)[:, None] & (within < geometry.group_size)[None, :]


def _outside(ok, offsets, size: int):
    """``offsets`` where ``ok``, else past the array's end. Masked lanes never touch memory on the
    GPU; in interpret mode a store's masked lane writes back what it read, so it must not alias a
    lane that really writes, and an index past the end is dropped."""
    return jnp.where(ok, offsets, size)


def _and(mask, extra):
    return mask if extra is None else mask & extra


def _gather_row(ref, b, rows, row_ok, cols, col_ok, channels, channel_ok, geometry: _Geometry):
    """Input pixels (rows[p], cols[p, k]) of image b, channels (groups, width): a masked gather of
    shape (pixels, groups, k, width) in fp32, zero outside the image."""
    ok = row_ok[:, None] & col_ok  # (pixels, k)
    pixel = (b * geometry.height + rows)[:, None] * geometry.width + cols
    offsets = (pixel * geometry.channels)[:, None, :, None] + channels[None, :, None, :]
    mask = ok[:, None, :, None]
    if channel_ok is not None:
        mask = mask & channel_ok[None, :, None, :]
    return plgpu.load(ref.at[offsets], mask=mask, other=0).astype(jnp.float32)


@functools.lru_cache(maxsize=None)  # one kernel object per shape: JAX's compilation cache hits
def _forward_kernel(geometry: _Geometry, tiles: Tiles):
    g = geometry
    s, k, pad = g.stride, g.kernel_size, g.pad
    out_size = g.batch * g.out_height * g.out_width * g.channels

    def kernel(x_ref, planes_ref, out_ref):
        b = pl.program_id(2)
        i, j, pixel_ok = _tile_pixels(pl.program_id(0), tiles, g.out_height, g.out_width)
        groups, channels, channel_ok = _channel_block(pl.program_id(1), tiles, g)
        kj = jnp.arange(g.kj_width, dtype=jnp.int32)
        cols = j[:, None] * s + kj[None, :] - pad  # (pixels, kj)
        col_ok = pixel_ok[:, None] & (kj < k)[None, :] & (cols >= 0) & (cols < g.width)
        out_pixel = (b * g.out_height + i) * g.out_width + j
        # Weights of one kernel row: planes[b, i, j, group*K*K + ki*K + kj], K of them side by side.
        weight_offsets = (out_pixel * (g.groups * g.taps))[:, None, None] + (groups * g.taps)[None, :, None] + kj[None, None, :]
        weight_ok = pixel_ok[:, None, None] & (groups < g.groups)[None, :, None] & (kj < k)[None, None, :]

        def kernel_row(ki, acc):
            rows = i * s + ki - pad
            xs = _gather_row(x_ref, b, rows, (rows >= 0) & (rows < g.height), cols, col_ok, channels, channel_ok, g)
            w = plgpu.load(planes_ref.at[weight_offsets + ki * k], mask=weight_ok, other=0).astype(jnp.float32)
            return acc + jnp.sum(xs * w[..., None], axis=2)

        acc = lax.fori_loop(0, k, kernel_row, jnp.zeros((i.shape[0], *channels.shape), jnp.float32))
        offsets = _outside(pixel_ok, out_pixel * g.channels, out_size)[:, None, None] + _channel_offsets(channels, channel_ok, out_size)[None]
        plgpu.store(out_ref.at[offsets], acc.astype(out_ref.dtype), mask=_and(pixel_ok[:, None, None], _expand(channel_ok)))

    return kernel


def _channel_offsets(channels, channel_ok, size):
    return channels if channel_ok is None else _outside(channel_ok, channels, size)


def _expand(channel_ok):
    return None if channel_ok is None else channel_ok[None]


@functools.lru_cache(maxsize=None)  # one kernel object per shape: JAX's compilation cache hits
def _grad_planes_kernel(geometry: _Geometry, tiles: Tiles):
    g = geometry
    s, k, pad = g.stride, g.kernel_size, g.pad
    plane_size = g.batch * g.out_height * g.out_width * g.groups * g.taps

    def kernel(grad_ref, x_ref, grad_planes_ref):
        b = pl.program_id(2)
        i, j, pixel_ok = _tile_pixels(pl.program_id(0), tiles, g.out_height, g.out_width)
        groups, channels, channel_ok = _channel_block(pl.program_id(1), tiles, g)
        kj = jnp.arange(g.kj_width, dtype=jnp.int32)
        cols = j[:, None] * s + kj[None, :] - pad
        col_ok = pixel_ok[:, None] & (kj < k)[None, :] & (cols >= 0) & (cols < g.width)
        out_pixel = (b * g.out_height + i) * g.out_width + j
        grad_mask = _and(pixel_ok[:, None, None], _expand(channel_ok))
        grad = plgpu.load(grad_ref.at[(out_pixel * g.channels)[:, None, None] + channels[None]], mask=grad_mask, other=0)
        grad = grad.astype(jnp.float32)[:, :, None, :]  # (pixels, groups, 1, width)
        tap_ok = (groups < g.groups)[:, None] & (kj < k)[None, :]
        offsets = (_outside(pixel_ok, out_pixel * (g.groups * g.taps), plane_size)[:, None, None]
                   + _outside(tap_ok, groups[:, None] * g.taps + kj[None, :], plane_size)[None])
        store_ok = pixel_ok[:, None, None] & tap_ok[None]

        def kernel_row(ki, carry):
            rows = i * s + ki - pad
            xs = _gather_row(x_ref, b, rows, (rows >= 0) & (rows < g.height), cols, col_ok, channels, channel_ok, g)
            # The sum over each group's channels: K weights' gradients per (pixel, group).
            plgpu.store(grad_planes_ref.at[offsets + ki * k], jnp.sum(xs * grad, axis=3).astype(grad_planes_ref.dtype),
                        mask=store_ok)
            return carry

        lax.fori_loop(0, k, kernel_row, 0)

    return kernel


@functools.lru_cache(maxsize=None)  # one kernel object per shape: JAX's compilation cache hits
def _grad_x_kernel(geometry: _Geometry, tiles: Tiles):
    g = geometry
    s, k, pad = g.stride, g.kernel_size, g.pad
    x_size = g.batch * g.height * g.width * g.channels

    def kernel(grad_ref, planes_ref, grad_x_ref):
        b, phase = lax.div(pl.program_id(2), s * s), lax.rem(pl.program_id(2), s * s)
        phase_row, phase_col = lax.div(phase, s), lax.rem(phase, s)
        m, n, tile_ok = _tile_pixels(pl.program_id(0), tiles, _cdiv(g.height, s), _cdiv(g.width, s))
        y, x = phase_row + s * m, phase_col + s * n
        pixel_ok = tile_ok & (y < g.height) & (x < g.width)
        groups, channels, channel_ok = _channel_block(pl.program_id(1), tiles, g)
        # Input pixel (y, x) takes tap (ki, kj) from output pixel ((y + p - ki) / s, (x + p - kj) / s)
        # when both divide: ki = first_ki + s*u, kj = first_kj + s*v, and then i = m + row_shift - u.
        first_ki, first_kj = lax.rem(phase_row + pad, s), lax.rem(phase_col + pad, s)
        row_shift, col_shift = lax.div(phase_row + pad - first_ki, s), lax.div(phase_col + pad - first_kj, s)
        v = jnp.arange(_pow2(g.phase_taps), dtype=jnp.int32)
        kj = first_kj + s * v
        j = n[:, None] + col_shift - v[None, :]  # (pixels, v)
        col_ok = pixel_ok[:, None] & (kj < k)[None, :] & (j >= 0) & (j < g.out_width)

        def kernel_row(u, acc):
            ki = first_ki + s * u
            i = m + row_shift - u
            ok = col_ok & ((i >= 0) & (i < g.out_height) & (ki < k))[:, None]  # (pixels, v)
            out_pixel = (b * g.out_height + i)[:, None] * g.out_width + j
            mask = ok[:, None, :, None]
            if channel_ok is not None:
                mask = mask & channel_ok[None, :, None, :]
            grads = plgpu.load(grad_ref.at[(out_pixel * g.channels)[:, None, :, None] + channels[None, :, None, :]],
                               mask=mask, other=0).astype(jnp.float32)
            # One weight per (pixel, group, tap); each from a different output pixel.
            weight_offsets = (out_pixel * (g.groups * g.taps))[:, None, :] + (groups * g.taps)[None, :, None] + (ki * k + kj)[None, None, :]
            w = plgpu.load(planes_ref.at[weight_offsets], mask=ok[:, None, :] & (groups < g.groups)[None, :, None], other=0)
            return acc + jnp.sum(grads * w.astype(jnp.float32)[..., None], axis=2)

        acc = lax.fori_loop(0, g.phase_taps, kernel_row, jnp.zeros((m.shape[0], *channels.shape), jnp.float32))
        in_pixel = (b * g.height + y) * g.width + x
        offsets = _outside(pixel_ok, in_pixel * g.channels, x_size)[:, None, None] + _channel_offsets(channels, channel_ok, x_size)[None]
        plgpu.store(grad_x_ref.at[offsets], acc.astype(grad_x_ref.dtype), mask=_and(pixel_ok[:, None, None], _expand(channel_ok)))

    return kernel


@functools.lru_cache(maxsize=None)  # one kernel object per shape: JAX's compilation cache hits
def _backward_kernel(geometry: _Geometry, tiles: Tiles):
    """Both gradients in one pass (stride 1): per kernel row, grad_planes' work (the gathered input
    against the tile's upstream gradient, loaded once) and grad_x's (the upstream gradient and the
    weights of the pixels that took that row's taps from the tile)."""
    g = geometry
    k, pad = g.kernel_size, g.pad
    x_size = g.batch * g.height * g.width * g.channels
    plane_size = g.batch * g.height * g.width * g.groups * g.taps

    def kernel(grad_ref, x_ref, planes_ref, grad_x_ref, grad_planes_ref):
        b = pl.program_id(2)
        i, j, pixel_ok = _tile_pixels(pl.program_id(0), tiles, g.height, g.width)
        groups, channels, channel_ok = _channel_block(pl.program_id(1), tiles, g)
        kj = jnp.arange(g.kj_width, dtype=jnp.int32)
        cols = j[:, None] + kj[None, :] - pad  # the input columns of grad_planes' taps
        col_ok = pixel_ok[:, None] & (kj < k)[None, :] & (cols >= 0) & (cols < g.width)
        out_cols = j[:, None] + pad - kj[None, :]  # the output columns whose taps read column j
        out_col_ok = pixel_ok[:, None] & (kj < k)[None, :] & (out_cols >= 0) & (out_cols < g.width)
        pixel = (b * g.height + i) * g.width + j
        grad_mask = _and(pixel_ok[:, None, None], _expand(channel_ok))
        grad = plgpu.load(grad_ref.at[(pixel * g.channels)[:, None, None] + channels[None]], mask=grad_mask, other=0)
        grad = grad.astype(jnp.float32)[:, :, None, :]  # (pixels, groups, 1, width)
        tap_ok = (groups < g.groups)[:, None] & (kj < k)[None, :]
        plane_offsets = (_outside(pixel_ok, pixel * (g.groups * g.taps), plane_size)[:, None, None]
                         + _outside(tap_ok, groups[:, None] * g.taps + kj[None, :], plane_size)[None])
        store_ok = pixel_ok[:, None, None] & tap_ok[None]

        def kernel_row(ki, acc):
            rows = i + ki - pad
            xs = _gather_row(x_ref, b, rows, (rows >= 0) & (rows < g.height), cols, col_ok, channels, channel_ok, g)
            plgpu.store(grad_planes_ref.at[plane_offsets + ki * k],
                        jnp.sum(xs * grad, axis=3).astype(grad_planes_ref.dtype), mask=store_ok)
            out_rows = i + pad - ki
            ok = out_col_ok & ((out_rows >= 0) & (out_rows < g.height))[:, None]  # (pixels, kj)
            out_pixel = (b * g.height + out_rows)[:, None] * g.width + out_cols
            mask = ok[:, None, :, None]
            if channel_ok is not None:
                mask = mask & channel_ok[None, :, None, :]
            grads = plgpu.load(grad_ref.at[(out_pixel * g.channels)[:, None, :, None] + channels[None, :, None, :]],
                               mask=mask, other=0).astype(jnp.float32)
            weight_offsets = ((out_pixel * (g.groups * g.taps))[:, None, :] + (groups * g.taps)[None, :, None]
                              + (ki * k + kj)[None, None, :])
            w = plgpu.load(planes_ref.at[weight_offsets], mask=ok[:, None, :] & (groups < g.groups)[None, :, None], other=0)
            return acc + jnp.sum(grads * w.astype(jnp.float32)[..., None], axis=2)

        acc = lax.fori_loop(0, k, kernel_row, jnp.zeros((i.shape[0], *channels.shape), jnp.float32))
        offsets = (_outside(pixel_ok, pixel * g.channels, x_size)[:, None, None]
                   + _channel_offsets(channels, channel_ok, x_size)[None])
        plgpu.store(grad_x_ref.at[offsets], acc.astype(grad_x_ref.dtype), mask=grad_mask)

    return kernel


# -- calling them -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Call:
    """Everything static about one multiply-add: sizes, tiles and interpret mode."""

    geometry: _Geometry
    forward: Tiles
    grad_x: Tiles
    grad_planes: Tiles
    interpret: bool
    backward: Tiles | None = None  # the fused backward's tiles (stride 1), or None: the two kernels


def _launch(kernel, tiles: Tiles, grid, shape, dtype, interpret: bool, name: str, *operands):
    flat = [operand.reshape(-1) for operand in operands]
    out = pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((math.prod(shape),), dtype),
        grid=grid,
        compiler_params=plgpu.CompilerParams(num_warps=tiles.warps, num_stages=tiles.stages),
        interpret=interpret,
        name=name,
    )(*flat)
    return out.reshape(shape)


def _backward(call: _Call, grad, x, planes):
    """(grad_x, grad_planes) from one kernel with two outputs."""
    g, t = call.geometry, call.backward
    grid = _grid(t, g.height, g.width, g, g.batch)
    shapes = ((g.batch, g.height, g.width, g.channels), (g.batch, g.height, g.width, g.groups * g.taps))
    grad_x, grad_planes = pl.pallas_call(
        _backward_kernel(g, t),
        out_shape=tuple(jax.ShapeDtypeStruct((math.prod(shape),), x.dtype) for shape in shapes),
        grid=grid,
        compiler_params=plgpu.CompilerParams(num_warps=t.warps, num_stages=t.stages),
        interpret=call.interpret,
        name="involution_backward",
    )(grad.reshape(-1), x.reshape(-1), planes.reshape(-1))
    return grad_x.reshape(shapes[0]), grad_planes.reshape(shapes[1])


def _grid(tiles: Tiles, height: int, width: int, geometry: _Geometry, batches: int):
    return (_cdiv(height, tiles.rows) * _cdiv(width, tiles.cols), _cdiv(geometry.groups, tiles.groups), batches)


def _forward(call: _Call, x, planes):
    g, t = call.geometry, call.forward
    grid = _grid(t, g.out_height, g.out_width, g, g.batch)
    shape = (g.batch, g.out_height, g.out_width, g.channels)
    return _launch(_forward_kernel(g, t), t, grid, shape, x.dtype, call.interpret, "involution_forward", x, planes)


def _grad_x(call: _Call, grad, planes, dtype):
    g, t = call.geometry, call.grad_x
    grid = _grid(t, _cdiv(g.height, g.stride), _cdiv(g.width, g.stride), g, g.batch * g.stride**2)
    shape = (g.batch, g.height, g.width, g.channels)
    return _launch(_grad_x_kernel(g, t), t, grid, shape, dtype, call.interpret, "involution_grad_x", grad, planes)


def _grad_planes(call: _Call, grad, x, dtype):
    g, t = call.geometry, call.grad_planes
    grid = _grid(t, g.out_height, g.out_width, g, g.batch)
    shape = (g.batch, g.out_height, g.out_width, g.groups * g.taps)
    return _launch(_grad_planes_kernel(g, t), t, grid, shape, dtype, call.interpret, "involution_grad_planes", grad, x)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _multiply_add(call: _Call, x, planes):
    return _forward(call, x, planes)


def _multiply_add_fwd(call: _Call, x, planes):
    return _forward(call, x, planes), (x, planes)


def _multiply_add_bwd(call: _Call, residuals, grad):
    x, planes = residuals
    if call.backward is not None:
        return _backward(call, grad.astype(x.dtype), x, planes)
    return _grad_x(call, grad, planes, x.dtype), _grad_planes(call, grad, x, planes.dtype)


_multiply_add.defvjp(_multiply_add_fwd, _multiply_add_bwd)


# -- the public function ------------------------------------------------------------------------


def _check(x, planes, kernel_size, stride, groups) -> _Geometry:
    for value, what in ((kernel_size, "kernel_size"), (stride, "stride"), (groups, "groups")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a positive whole number; got {value!r}.")
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd so the kernel has a centre pixel; got {kernel_size}.")
    if len(x.shape) != 4:
        raise ValueError(f"x must have shape (batch, height, width, channels); got shape {tuple(x.shape)}.")
    if len(planes.shape) != 4:
        raise ValueError(f"planes must have shape (batch, out_height, out_width, groups*K*K); got shape {tuple(planes.shape)}.")
    batch, height, width, channels = x.shape
    if channels % groups:
        raise ValueError(f"x's {channels} channels cannot be split into groups={groups} equal groups.")
    expected = (batch, _cdiv(height, stride), _cdiv(width, stride), groups * kernel_size**2)
    if tuple(planes.shape) != expected:
        raise ValueError(
            f"planes must have shape {expected} (batch, ceil(H/s), ceil(W/s), groups*K*K) for x of shape "
            f"{tuple(x.shape)}; got {tuple(planes.shape)}."
        )
    if x.dtype != planes.dtype or not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"x and planes must have the same floating dtype; got {x.dtype} and {planes.dtype}.")
    if max(math.prod(x.shape), math.prod(planes.shape)) >= _MAX_ELEMENTS:
        raise ValueError(f"x and planes must have fewer than 2**30 elements each (32-bit offsets); got shapes {tuple(x.shape)} and {tuple(planes.shape)}.")
    return _Geometry(batch, height, width, channels, kernel_size, stride, groups)


BACKWARDS = ("fused", "split")
# The backward pass at stride 1 unless a call says otherwise: "fused" (one kernel for both
# gradients) or "split" (grad_x's and grad_planes' kernels); INVOLUTION_COURSE_PALLAS_BACKWARD sets it.
# Split by default: on an H100 (2026-12-07, results/raw/kernels-jax-h100.jsonl) the fused backward
# alone was level with the two kernels at K=7 (0.98x to 1.08x their time), but forward and backward
# together took 4.32 ms against 4.26 over the four cases, and 1.8x as long at K=3.
DEFAULT_BACKWARD = os.environ.get("INVOLUTION_COURSE_PALLAS_BACKWARD", "split")


def multiply_add(x, planes, *, kernel_size: int, stride: int = 1, groups: int = 1, interpret: bool = False,
                 tiles: dict[str, Tiles] | None = None, backward: str | None = None):
    """Involution's multiply-add of ``x`` (B, H, W, C) with ``planes`` (B, ceil(H/s), ceil(W/s), G*K*K).

    Differentiable (``jax.custom_vjp``), usable under ``jax.jit``; fp32 accumulation, result in x's
    dtype. ``interpret=True`` runs the kernels through Pallas' interpreter (any device, slow).
    ``tiles`` may override the tiles of "forward", "grad_x", "grad_planes" or "backward" (for
    tuning). ``backward`` ("fused" or "split", default :data:`DEFAULT_BACKWARD`) chooses, at
    stride 1, one kernel for both gradients or one for each; other strides always split.
    """
    geometry = _check(x, planes, kernel_size, stride, groups)
    backward = DEFAULT_BACKWARD if backward is None else backward
    if backward not in BACKWARDS:
        raise ValueError(f"backward must be one of {', '.join(BACKWARDS)}; got {backward!r}.")
    itemsize = jnp.dtype(x.dtype).itemsize
    chosen = {name: default_tiles(name, geometry, itemsize) for name in ("forward", "grad_x", "grad_planes", "backward")}
    chosen.update(tiles or {})
    fused = chosen["backward"] if backward == "fused" and stride == 1 else None
    call = _Call(geometry, chosen["forward"], chosen["grad_x"], chosen["grad_planes"], bool(interpret), fused)
    return _compiled(call)(x, planes)


@functools.lru_cache(maxsize=None)
def _compiled(call: _Call):
    """The multiply-add of one shape under ``jax.jit``: called op by op (Keras' eager mode), it
    is compiled once, not at every call; under an outer ``jit`` it is inlined."""
    return jax.jit(functools.partial(_multiply_add, call))
