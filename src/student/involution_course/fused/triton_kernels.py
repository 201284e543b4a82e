"""Triton kernels for involution's multiply-add on Keras' torch backend.

``multiply_add(x, planes, kernel_size=K, stride=s, groups=G)`` computes, for x (B, H, W, C) and
planes (B, H_out, W_out, G*K*K), both channels last::

    out[b, i, j, c] = sum_{ki, kj} x_pad[b, i*s + ki, j*s + kj, c] * planes[b, i, j, g(c)*K*K + ki*K + kj]

with g(c) = c // (C/G), zero padding (K - 1) / 2 and H_out = ceil(H / s). It is differentiable
with respect to both inputs (a ``torch.autograd.Function``). Three kernels, each one pass that
reads its inputs once from memory and never builds a patch tensor:

* forward: each program owns a BH x BW tile of output pixels and a block of whole channel groups;
  it loops over the K*K taps, loads the shifted input tile (contiguous along C; masked loads are
  the zero padding) and one weight per pixel and group, broadcast over the group's channels.
* grad_planes: the same tiling; per tap, the upstream gradient times the shifted input, summed
  over each group's C/G channels.
* grad_x: each program owns a tile of input pixels that share their position modulo s, so the
  taps that reach them are the same for the whole tile (ki with (y + pad - ki) % s == 0); it
  gathers the upstream gradient and weights of the output pixels those taps came from.

Accumulation is in float32; inputs may be float32, bfloat16 or float16, and the results have the
input dtype. Set ``TRITON_INTERPRET=1`` before importing this module (before ``triton`` itself)
to run the kernels on CPU tensors through Triton's interpreter.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import triton
import triton.language as tl

__all__ = ["MultiplyAdd", "Config", "multiply_add"]

_INTERPRET = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


# -- kernels --------------------------------------------------------------------------------------
# Shared layout of every kernel: a program owns P = BH*BW pixels (flattened row-major, so the tile
# is square-ish and its halo small) and GB groups of CB = next_pow2(C/G) channels: 3-D blocks
# [P, GB, CB]. One weight per (pixel, group) is loaded as [P, GB] and broadcast over CB.
# C, G, K and the stride are compile-time constants. The taps are a loop, not unrolled in full:
# K*K = 49 copies of the body take long to compile and hold too many registers; UNROLL column
# taps per iteration keep a few loads in flight.


@triton.jit
def _forward_kernel(
    x_ptr, w_ptr, out_ptr, H, W, H_out, W_out, tiles_w,
    C: tl.constexpr, G: tl.constexpr, K: tl.constexpr, S: tl.constexpr,
    BH: tl.constexpr, BW: tl.constexpr, GB: tl.constexpr, CB: tl.constexpr, UNROLL: tl.constexpr,
):
    tile = tl.program_id(0)
    b = tl.program_id(2).to(tl.int64)  # image offsets can exceed 2**31 over a batch
    PAD: tl.constexpr = (K - 1) // 2
    CG: tl.constexpr = C // G
    KK: tl.constexpr = K * K

    p = tl.arange(0, BH * BW)
    i = (tile // tiles_w) * BH + p // BW
    j = (tile % tiles_w) * BW + p % BW
    pix_ok = (i < H_out) & (j < W_out)
    g = tl.program_id(1) * GB + tl.arange(0, GB)
    cc = tl.arange(0, CB)
    c = g[:, None] * CG + cc[None, :]  # [GB, CB]
    c_ok = (g < G)[:, None] & (cc < CG)[None, :]

    x_img = x_ptr + b * H * W * C
    w_img = w_ptr + b * H_out * W_out * (G * KK)
    w_off = ((i * W_out + j) * (G * KK))[:, None] + (g * KK)[None, :]  # [P, GB], tap 0
    w_ok = pix_ok[:, None] & (g < G)[None, :]

    acc = tl.zeros((BH * BW, GB, CB), dtype=tl.float32)
    for ki in range(K):
        y = i * S + ki - PAD
        row_ok = pix_ok & (y >= 0) & (y < H)
        for kj in tl.range(0, K, loop_unroll_factor=UNROLL):
            xx = j * S + kj - PAD
            ok = row_ok & (xx >= 0) & (xx < W)
            xv = tl.load(x_img + ((y * W + xx) * C)[:, None, None] + c[None, :, :],
                         mask=ok[:, None, None] & c_ok[None, :, :], other=0.0)
            wv = tl.load(w_img + w_off + (ki * K + kj), mask=w_ok & ok[:, None], other=0.0)
            acc += xv.to(tl.float32) * wv.to(tl.float32)[:, :, None]

    out_off = ((i * W_out + j) * C)[:, None, None] + c[None, :, :]
    out_img = out_ptr + b * H_out * W_out * C
    tl.store(out_img + out_off, acc.to(out_ptr.dtype.element_ty),
             mask=pix_ok[:, None, None] & c_ok[None, :, :])


@triton.jit
def _grad_planes_kernel(
    x_ptr, go_ptr, gw_ptr, H, W, H_out, W_out, tiles_w,
    C: tl.constexpr, G: tl.constexpr, K: tl.constexpr, S: tl.constexpr,
    BH: tl.constexpr, BW: tl.constexpr, GB: tl.constexpr, CB: tl.constexpr, UNROLL: tl.constexpr,
):
    tile = tl.program_id(0)
    b = tl.program_id(2).to(tl.int64)
    PAD: tl.constexpr = (K - 1) // 2
    CG: tl.constexpr = C // G
    KK: tl.constexpr = K * K

    p = tl.arange(0, BH * BW)
    i = (tile // tiles_w) * BH + p // BW
    j = (tile % tiles_w) * BW + p % BW
    pix_ok = (i < H_out) & (j < W_out)
    g = tl.program_id(1) * GB + tl.arange(0, GB)
    cc = tl.arange(0, CB)
    c = g[:, None] * CG + cc[None, :]
    c_ok = (g < G)[:, None] & (cc < CG)[None, :]

    x_img = x_ptr + b * H * W * C
    # The upstream gradient of the tile is loaded once and reused by all K*K taps.
    go_off = ((i * W_out + j) * C)[:, None, None] + c[None, :, :]
    go = tl.load(go_ptr + b * H_out * W_out * C + go_off,
                 mask=pix_ok[:, None, None] & c_ok[None, :, :], other=0.0).to(tl.float32)
    gw_img = gw_ptr + b * H_out * W_out * (G * KK)
    w_off = ((i * W_out + j) * (G * KK))[:, None] + (g * KK)[None, :]
    w_ok = pix_ok[:, None] & (g < G)[None, :]

    for ki in range(K):
        y = i * S + ki - PAD
        row_ok = pix_ok & (y >= 0) & (y < H)
        for kj in tl.range(0, K, loop_unroll_factor=UNROLL):
            xx = j * S + kj - PAD
            ok = row_ok & (xx >= 0) & (xx < W)
            xv = tl.load(x_img + ((y * W + xx) * C)[:, None, None] + c[None, :, :],
                         mask=ok[:, None, None] & c_ok[None, :, :], other=0.0)
            # Every tap's weight is written, also in the padding (where its gradient is 0).
            gw = tl.sum(go * xv.to(tl.float32), axis=2)
            tl.store(gw_img + w_off + (ki * K + kj), gw.to(gw_ptr.dtype.element_ty), mask=w_ok)


@triton.jit
def _grad_x_kernel(
    go_ptr, w_ptr, gx_ptr, H, W, H_out, W_out, tiles_w, tiles,
    C: tl.constexpr, G: tl.constexpr, K: tl.constexpr, S: tl.constexpr,
    BH: tl.constexpr, BW: tl.constexpr, GB: tl.constexpr, CB: tl.constexpr, UNROLL: tl.constexpr,
):
    # Axis 0 enumerates the S*S residue classes (ry, rx) times the tiles of each class: input
    # pixel (y, x) = (ry + S*u, rx + S*v) for (u, v) in the tile.
    residue = tl.program_id(0) // tiles
    tile = tl.program_id(0) % tiles
    ry = residue // S
    rx = residue % S
    b = tl.program_id(2).to(tl.int64)
    PAD: tl.constexpr = (K - 1) // 2
    CG: tl.constexpr = C // G
    KK: tl.constexpr = K * K

    p = tl.arange(0, BH * BW)
    u = (tile // tiles_w) * BH + p // BW
    v = (tile % tiles_w) * BW + p % BW
    y = ry + S * u
    x = rx + S * v
    pix_ok = (y < H) & (x < W)
    g = tl.program_id(1) * GB + tl.arange(0, GB)
    cc = tl.arange(0, CB)
    c = g[:, None] * CG + cc[None, :]
    c_ok = (g < G)[:, None] & (cc < CG)[None, :]
    g_ok = g < G

    go_img = go_ptr + b * H_out * W_out * C
    w_img = w_ptr + b * H_out * W_out * (G * KK)

    acc = tl.zeros((BH * BW, GB, CB), dtype=tl.float32)
    # Tap ki reached row y from output row i = (y + PAD - ki) / S when that is whole, for every
    # pixel of the residue class or for none: only ki = (ry + PAD) % S, that + S, ... (and the
    # same for columns). The divisions are exact, so their rounding of negatives does not matter.
    for ki in range((ry + PAD) % S, K, S):
        i = u + (ry + PAD - ki) // S
        row_ok = pix_ok & (i >= 0) & (i < H_out)
        for kj in tl.range((rx + PAD) % S, K, S, loop_unroll_factor=UNROLL):
            j = v + (rx + PAD - kj) // S
            ok = row_ok & (j >= 0) & (j < W_out)
            gov = tl.load(go_img + ((i * W_out + j) * C)[:, None, None] + c[None, :, :],
                          mask=ok[:, None, None] & c_ok[None, :, :], other=0.0)
            w_off = ((i * W_out + j) * (G * KK) + (ki * K + kj))[:, None] + (g * KK)[None, :]
            wv = tl.load(w_img + w_off, mask=ok[:, None] & g_ok[None, :], other=0.0)
            acc += gov.to(tl.float32) * wv.to(tl.float32)[:, :, None]

    gx_off = ((y * W + x) * C)[:, None, None] + c[None, :, :]
    tl.store(gx_ptr + b * H * W * C + gx_off, acc.to(gx_ptr.dtype.element_ty),
             mask=pix_ok[:, None, None] & c_ok[None, :, :])


# -- block sizes ----------------------------------------------------------------------------------
class Config(NamedTuple):
    """Block sizes of one launch: a bh x bw pixel tile, gb groups per program, the warps per
    program, and how many column taps each loop iteration issues (more loads in flight, more
    registers)."""

    bh: int
    bw: int
    gb: int
    num_warps: int = 4
    unroll: int = 1


def _pixel_tile(height: int, width: int, pixels: int) -> tuple[int, int]:
    """The BH x BW tile of ``pixels`` (a power of two) that wastes the least of a height x width
    image on partial tiles; ties go to the squarer tile, whose halo of taps is smallest."""
    best = None
    bh = 1
    while bh <= pixels:
        bw = pixels // bh
        padded = triton.cdiv(height, bh) * bh * triton.cdiv(width, bw) * bw
        score = (padded, abs(bh - bw), -bw)  # then wider rows: contiguous runs of pixels
        if best is None or score < best[0]:
            best = (score, bh, bw)
        bh *= 2
    return best[1], best[2]


def default_config(kind: str, height: int, width: int, channels: int, groups: int) -> Config:
    """Block sizes for kernel ``kind`` on an output (forward, grad_planes) or residue-class
    (grad_x) grid of height x width: whole groups up to 64 channels per program, and pixels for
    about 2048 values per program, 16 per thread: more registers would lower occupancy."""
    cb = triton.next_power_of_2(channels // groups)
    gb = min(triton.next_power_of_2(groups), max(1, 64 // cb))
    pixels = max(16, min(512, 2048 // (gb * cb)))
    # A grid far smaller than the image would leave pixels idle: cap the tile at the image.
    while pixels > 16 and pixels // 2 >= triton.next_power_of_2(height) * triton.next_power_of_2(width):
        pixels //= 2
    bh, bw = _pixel_tile(height, width, pixels)
    return Config(bh, bw, gb)


# -- launchers ------------------------------------------------------------------------------------
def _grid(height: int, width: int, channels: int, groups: int, cfg: Config, batch: int, classes: int = 1):
    tiles_w = triton.cdiv(width, cfg.bw)
    tiles = triton.cdiv(height, cfg.bh) * tiles_w
    return tiles_w, tiles, (classes * tiles, triton.cdiv(groups, cfg.gb), batch)


def _meta(channels, groups, kernel_size, stride, cfg: Config):
    return dict(C=channels, G=groups, K=kernel_size, S=stride, BH=cfg.bh, BW=cfg.bw, GB=cfg.gb,
                CB=triton.next_power_of_2(channels // groups), UNROLL=cfg.unroll, num_warps=cfg.num_warps)


def forward(x, planes, kernel_size: int, stride: int, groups: int, cfg: Config | None = None):
    """out (B, H_out, W_out, C) from contiguous x and planes; no checks (see ``multiply_add``)."""
    batch, height, width, channels = x.shape
    h_out, w_out = planes.shape[1:3]
    out = torch.empty((batch, h_out, w_out, channels), dtype=x.dtype, device=x.device)
    cfg = cfg or default_config("forward", h_out, w_out, channels, groups)
    tiles_w, _, grid = _grid(h_out, w_out, channels, groups, cfg, batch)
    _forward_kernel[grid](x, planes, out, height, width, h_out, w_out, tiles_w,
                          **_meta(channels, groups, kernel_size, stride, cfg))
    return out


def grad_planes(x, grad_out, kernel_size: int, stride: int, groups: int, cfg: Config | None = None):
    """d loss / d planes from contiguous x and upstream gradient grad_out."""
    batch, height, width, channels = x.shape
    h_out, w_out = grad_out.shape[1:3]
    taps = groups * kernel_size * kernel_size
    out = torch.empty((batch, h_out, w_out, taps), dtype=x.dtype, device=x.device)
    cfg = cfg or default_config("grad_planes", h_out, w_out, channels, groups)
    tiles_w, _, grid = _grid(h_out, w_out, channels, groups, cfg, batch)
    _grad_planes_kernel[grid](x, grad_out, out, height, width, h_out, w_out, tiles_w,
                              **_meta(channels, groups, kernel_size, stride, cfg))
    return out


def grad_x(planes, grad_out, input_shape, kernel_size: int, stride: int, groups: int,
           cfg: Config | None = None):
    """d loss / d x from contiguous planes and upstream gradient grad_out."""
    batch, height, width, channels = input_shape
    h_out, w_out = grad_out.shape[1:3]
    out = torch.empty(input_shape, dtype=grad_out.dtype, device=grad_out.device)
    # Each residue class (y % s, x % s) has at most ceil(H/s) x ceil(W/s) pixels.
    cfg = cfg or default_config("grad_x", h_out, w_out, channels, groups)
    tiles_w, tiles, grid = _grid(h_out, w_out, channels, groups, cfg, batch, classes=stride * stride)
    _grad_x_kernel[grid](grad_out, planes, out, height, width, h_out, w_out, tiles_w, tiles,
                         **_meta(channels, groups, kernel_size, stride, cfg))
    return out


# -- autograd and checks --------------------------------------------------------------------------
class MultiplyAdd(torch.autograd.Function):
    """Involution's multiply-add with Triton forward and backward kernels."""

    @staticmethod
    def forward(ctx, x, planes, kernel_size, stride, groups):
        x, planes = x.contiguous(), planes.contiguous()
        ctx.save_for_backward(x, planes)
        ctx.settings = (kernel_size, stride, groups)
        return forward(x, planes, kernel_size, stride, groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, planes = ctx.saved_tensors
        kernel_size, stride, groups = ctx.settings
        grad_out = grad_out.to(x.dtype).contiguous()
        gx = gp = None
        if ctx.needs_input_grad[0]:
            gx = grad_x(planes, grad_out, x.shape, kernel_size, stride, groups)
        if ctx.needs_input_grad[1]:
            gp = grad_planes(x, grad_out, kernel_size, stride, groups)
        return gx, gp, None, None, None


def _whole(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive whole number; got {value!r}.")
    return value


def check(x, planes, kernel_size, stride, groups) -> None:
    """Raise ValueError, in one sentence, unless the arguments fit ``multiply_add``."""
    k, s, g = _whole(kernel_size, "kernel_size"), _whole(stride, "stride"), _whole(groups, "groups")
    if k % 2 == 0:
        raise ValueError(f"kernel_size must be odd so the kernel has a centre pixel; got {k}.")
    if x.dim() != 4 or planes.dim() != 4:
        raise ValueError(
            f"x and planes must both be 4-D, channels last (batch, height, width, channels); "
            f"got shapes {tuple(x.shape)} and {tuple(planes.shape)}."
        )
    batch, height, width, channels = x.shape
    if channels % g:
        raise ValueError(f"x's {channels} channels cannot be split into groups={g} equal groups.")
    expected = (batch, -(-height // s), -(-width // s), g * k * k)
    if tuple(planes.shape) != expected:
        raise ValueError(
            f"planes must have shape {expected} (batch, ceil(H/stride), ceil(W/stride), "
            f"groups*K*K) for x of shape {tuple(x.shape)}; got {tuple(planes.shape)}."
        )
    if x.dtype not in _DTYPES or planes.dtype != x.dtype:
        raise ValueError(
            f"x and planes must share one dtype of float32, bfloat16 or float16; "
            f"got {x.dtype} and {planes.dtype}."
        )
    if x.device != planes.device:
        raise ValueError(f"x and planes must be on one device; got {x.device} and {planes.device}.")
    if x.device.type != "cuda" and not _INTERPRET:
        raise ValueError(
            f"the Triton kernels need CUDA tensors (or TRITON_INTERPRET=1 set before importing "
            f"triton, for the CPU interpreter); got tensors on {x.device}."
        )


def multiply_add(x, planes, *, kernel_size: int, stride: int = 1, groups: int = 1):
    """Involution's multiply-add of x (B, H, W, C) with planes (B, ceil(H/s), ceil(W/s), G*K*K).

    Differentiable with respect to x and planes; the result has x's dtype.
    """
    check(x, planes, kernel_size, stride, groups)
    return MultiplyAdd.apply(x, planes, kernel_size, stride, groups)
