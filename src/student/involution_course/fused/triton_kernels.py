"""Triton kernels for involution's multiply-add on Keras' torch backend.

``multiply_add(x, planes, kernel_size=K, stride=s, groups=G)`` computes, for x (B, H, W, C) and
planes (B, H_out, W_out, G*K*K), both channels last::

    out[b, i, j, c] = sum_{ki, kj} x_pad[b, i*s + ki, j*s + kj, c] * planes[b, i, j, g(c)*K*K + ki*K + kj]

with g(c) = c // (C/G), zero padding (K - 1) / 2 and H_out = ceil(H / s). It is differentiable
with respect to both inputs (a ``torch.autograd.Function``). Three kernels, each one pass that
reads its inputs once from memory and never builds a patch tensor:

* forward: each program owns a BH x BW tile of output pixels and a block of whole channel groups,
  loops over the taps, loads the shifted input tile (contiguous along C; masked loads are the
  zero padding) and the weights of each pixel and group, broadcast over the group's channels.
* grad_planes: the same tiling; per tap, the upstream gradient times the shifted input, summed
  over each group's C/G channels.
* grad_x: each program owns a tile of input pixels that share their position modulo s, so the
  taps that reach them are the same for the whole tile (ki with (y + pad - ki) % s == 0); it
  gathers the upstream gradient and weights of the output pixels those taps came from.
* backward (stride 1, a fourth kernel): both gradients in one pass, grad_planes' and grad_x's work
  per row tap in one program, the tile's upstream gradient loaded once; the backward pass uses it
  where the first call's timing finds it faster than the two kernels above (``backward``).

The first three come in two families: "taps" kernels loop over all K*K taps; "rows" kernels loop over the
K row taps and hold a row of column taps in one block, so that the K weights of a pixel and group
(neighbours in planes) move in one coalesced access. On CUDA, the first call for a shape times a
few block configurations of both (``candidates``) and keeps the fastest; set
``INVOLUTION_COURSE_TRITON_TUNE=0`` to use the first candidate without timing.

Accumulation is in float32; inputs may be float32, bfloat16 or float16, and the results have the
input dtype. Set ``TRITON_INTERPRET=1`` before importing this module (before ``triton`` itself)
to run the kernels on CPU tensors through Triton's interpreter.
"""

from __future__ import annotations

import functools
import os
from typing import NamedTuple

import torch
import triton
import triton.language as tl

__all__ = ["MultiplyAdd", "Config", "multiply_add"]

_INTERPRET = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


# -- "taps" kernels: one tap per loop iteration ------------------------------------------------
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


# -- "rows" kernels: a row of K column taps at once ---------------------------------------------
# The same tiling with one more block axis, the column tap kj (KJ = K rounded up to a power of
# two): blocks [P, GB, KJ, CB]. Per row tap ki, one gather loads the K shifted input tiles, and
# the K weights of a (pixel, group) are K neighbouring floats of planes: one coalesced load in the
# forward, one coalesced store in grad_planes, instead of K scattered 4-byte accesses.


@triton.jit
def _forward_rows_kernel(
    x_ptr, w_ptr, out_ptr, H, W, H_out, W_out, tiles_w,
    C: tl.constexpr, G: tl.constexpr, K: tl.constexpr, S: tl.constexpr,
    BH: tl.constexpr, BW: tl.constexpr, GB: tl.constexpr, CB: tl.constexpr, KJ: tl.constexpr,
    UNROLL: tl.constexpr, DEFER: tl.constexpr,
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
    kj = tl.arange(0, KJ)
    c4 = (g * CG)[None, :, None, None] + cc[None, None, None, :]
    c_ok4 = (g < G)[None, :, None, None] & (cc < CG)[None, None, None, :]
    xx = j[:, None] * S + kj[None, :] - PAD  # [P, KJ]
    col_ok = pix_ok[:, None] & (xx >= 0) & (xx < W) & (kj < K)[None, :]
    w_off = ((i * W_out + j) * (G * KK))[:, None, None] + (g * KK)[None, :, None] + kj[None, None, :]
    w_ok = pix_ok[:, None, None] & (g < G)[None, :, None] & (kj < K)[None, None, :]

    x_img = x_ptr + b * H * W * C
    w_img = w_ptr + b * H_out * W_out * (G * KK)
    # The sum over kj crosses lanes (shuffles); DEFER keeps the [P, GB, KJ, CB] products in
    # registers and sums over kj once, after the loop.
    acc = tl.zeros((BH * BW, GB, CB), dtype=tl.float32)
    acc4 = tl.zeros((BH * BW, GB, KJ, CB), dtype=tl.float32)
    for ki in tl.range(0, K, loop_unroll_factor=UNROLL):
        y = i * S + ki - PAD
        ok = col_ok & ((y >= 0) & (y < H))[:, None]
        off = (y[:, None] * W + xx) * C
        xv = tl.load(x_img + off[:, None, :, None] + c4, mask=ok[:, None, :, None] & c_ok4, other=0.0)
        wv = tl.load(w_img + w_off + ki * K, mask=w_ok, other=0.0)
        if DEFER:
            acc4 += xv.to(tl.float32) * wv.to(tl.float32)[:, :, :, None]
        else:
            acc += tl.sum(xv.to(tl.float32) * wv.to(tl.float32)[:, :, :, None], axis=2)
    if DEFER:
        acc = tl.sum(acc4, axis=2)

    out_off = ((i * W_out + j) * C)[:, None, None] + (g * CG)[None, :, None] + cc[None, None, :]
    out_ok = pix_ok[:, None, None] & (g < G)[None, :, None] & (cc < CG)[None, None, :]
    tl.store(out_ptr + b * H_out * W_out * C + out_off, acc.to(out_ptr.dtype.element_ty), mask=out_ok)


@triton.jit
def _grad_planes_rows_kernel(
    x_ptr, go_ptr, gw_ptr, H, W, H_out, W_out, tiles_w,
    C: tl.constexpr, G: tl.constexpr, K: tl.constexpr, S: tl.constexpr,
    BH: tl.constexpr, BW: tl.constexpr, GB: tl.constexpr, CB: tl.constexpr, KJ: tl.constexpr,
    UNROLL: tl.constexpr, DEFER: tl.constexpr,
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
    kj = tl.arange(0, KJ)
    c4 = (g * CG)[None, :, None, None] + cc[None, None, None, :]
    c_ok4 = (g < G)[None, :, None, None] & (cc < CG)[None, None, None, :]
    xx = j[:, None] * S + kj[None, :] - PAD
    col_ok = pix_ok[:, None] & (xx >= 0) & (xx < W) & (kj < K)[None, :]
    w_off = ((i * W_out + j) * (G * KK))[:, None, None] + (g * KK)[None, :, None] + kj[None, None, :]
    w_ok = pix_ok[:, None, None] & (g < G)[None, :, None] & (kj < K)[None, None, :]

    go_off = ((i * W_out + j) * C)[:, None, None, None] + c4
    go = tl.load(go_ptr + b * H_out * W_out * C + go_off, mask=pix_ok[:, None, None, None] & c_ok4,
                 other=0.0).to(tl.float32)  # [P, GB, 1, CB], reused by every tap
    x_img = x_ptr + b * H * W * C
    gw_img = gw_ptr + b * H_out * W_out * (G * KK)
    for ki in tl.range(0, K, loop_unroll_factor=UNROLL):
        y = i * S + ki - PAD
        ok = col_ok & ((y >= 0) & (y < H))[:, None]
        off = (y[:, None] * W + xx) * C
        xv = tl.load(x_img + off[:, None, :, None] + c4, mask=ok[:, None, :, None] & c_ok4, other=0.0)
        gw = tl.sum(xv.to(tl.float32) * go, axis=3)  # [P, GB, KJ]: K neighbouring weights
        tl.store(gw_img + w_off + ki * K, gw.to(gw_ptr.dtype.element_ty), mask=w_ok)


@triton.jit
def _grad_x_rows_kernel(
    go_ptr, w_ptr, gx_ptr, H, W, H_out, W_out, tiles_w, tiles,
    C: tl.constexpr, G: tl.constexpr, K: tl.constexpr, S: tl.constexpr,
    BH: tl.constexpr, BW: tl.constexpr, GB: tl.constexpr, CB: tl.constexpr, KJ: tl.constexpr,
    UNROLL: tl.constexpr, DEFER: tl.constexpr,
):
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
    c4 = (g * CG)[None, :, None, None] + cc[None, None, None, :]
    c_ok4 = (g < G)[None, :, None, None] & (cc < CG)[None, None, None, :]
    # The column taps that reach this residue class: kj = (rx + PAD) % S + S*m, KJ of them.
    kj = (rx + PAD) % S + S * tl.arange(0, KJ)
    j = v[:, None] + (rx + PAD - kj[None, :]) // S  # [P, KJ]; exact divisions
    col_ok = pix_ok[:, None] & (j >= 0) & (j < W_out) & (kj < K)[None, :]

    go_img = go_ptr + b * H_out * W_out * C
    w_img = w_ptr + b * H_out * W_out * (G * KK)
    acc = tl.zeros((BH * BW, GB, CB), dtype=tl.float32)
    acc4 = tl.zeros((BH * BW, GB, KJ, CB), dtype=tl.float32)
    for ki in tl.range((ry + PAD) % S, K, S, loop_unroll_factor=UNROLL):
        i = u + (ry + PAD - ki) // S
        ok = col_ok & ((i >= 0) & (i < H_out))[:, None]
        pix = i[:, None] * W_out + j  # [P, KJ]
        gov = tl.load(go_img + (pix * C)[:, None, :, None] + c4, mask=ok[:, None, :, None] & c_ok4, other=0.0)
        w_off = (pix * (G * KK) + ki * K + kj[None, :])[:, None, :] + (g * KK)[None, :, None]
        wv = tl.load(w_img + w_off, mask=ok[:, None, :] & (g < G)[None, :, None], other=0.0)
        if DEFER:  # as in the forward: one sum over kj after the loop
            acc4 += gov.to(tl.float32) * wv.to(tl.float32)[:, :, :, None]
        else:
            acc += tl.sum(gov.to(tl.float32) * wv.to(tl.float32)[:, :, :, None], axis=2)
    if DEFER:
        acc = tl.sum(acc4, axis=2)

    gx_off = ((y * W + x) * C)[:, None, None] + (g * CG)[None, :, None] + cc[None, None, :]
    gx_ok = pix_ok[:, None, None] & (g < G)[None, :, None] & (cc < CG)[None, None, :]
    tl.store(gx_ptr + b * H * W * C + gx_off, acc.to(gx_ptr.dtype.element_ty), mask=gx_ok)


# -- the fused backward: both gradients in one pass, stride 1 -----------------------------------
# A program owns a tile of pixels, which are output and input pixels alike at stride 1. Per row
# tap ki it does grad_planes' work (the shifted input against the tile's upstream gradient, loaded
# once, before the loop) and grad_x's (the upstream gradient and weights of the pixels that took
# row ki's taps from the tile). One launch instead of two, and the upstream gradient is read from
# memory once for both gradients; each gradient is written once.


@triton.jit
def _backward_rows_kernel(
    x_ptr, w_ptr, go_ptr, gx_ptr, gw_ptr, H, W, tiles_w,
    C: tl.constexpr, G: tl.constexpr, K: tl.constexpr,
    BH: tl.constexpr, BW: tl.constexpr, GB: tl.constexpr, CB: tl.constexpr, KJ: tl.constexpr,
    UNROLL: tl.constexpr, DEFER: tl.constexpr,
):
    tile = tl.program_id(0)
    b = tl.program_id(2).to(tl.int64)
    PAD: tl.constexpr = (K - 1) // 2
    CG: tl.constexpr = C // G
    KK: tl.constexpr = K * K

    p = tl.arange(0, BH * BW)
    i = (tile // tiles_w) * BH + p // BW
    j = (tile % tiles_w) * BW + p % BW
    pix_ok = (i < H) & (j < W)
    g = tl.program_id(1) * GB + tl.arange(0, GB)
    cc = tl.arange(0, CB)
    kj = tl.arange(0, KJ)
    c4 = (g * CG)[None, :, None, None] + cc[None, None, None, :]
    c_ok4 = (g < G)[None, :, None, None] & (cc < CG)[None, None, None, :]
    # grad_planes reads input columns j + kj - PAD; grad_x the output columns j + PAD - kj.
    xx = j[:, None] + kj[None, :] - PAD
    x_col_ok = pix_ok[:, None] & (xx >= 0) & (xx < W) & (kj < K)[None, :]
    jj = j[:, None] + PAD - kj[None, :]
    go_col_ok = pix_ok[:, None] & (jj >= 0) & (jj < W) & (kj < K)[None, :]
    w_off = ((i * W + j) * (G * KK))[:, None, None] + (g * KK)[None, :, None] + kj[None, None, :]
    w_ok = pix_ok[:, None, None] & (g < G)[None, :, None] & (kj < K)[None, None, :]

    x_img = x_ptr + b * H * W * C
    go_img = go_ptr + b * H * W * C
    w_img = w_ptr + b * H * W * (G * KK)
    gw_img = gw_ptr + b * H * W * (G * KK)
    go = tl.load(go_img + ((i * W + j) * C)[:, None, None, None] + c4, mask=pix_ok[:, None, None, None] & c_ok4,
                 other=0.0).to(tl.float32)  # [P, GB, 1, CB], the tile's own upstream gradient
    acc = tl.zeros((BH * BW, GB, CB), dtype=tl.float32)
    acc4 = tl.zeros((BH * BW, GB, KJ, CB), dtype=tl.float32)
    for ki in tl.range(0, K, loop_unroll_factor=UNROLL):
        y = i + ki - PAD
        ok = x_col_ok & ((y >= 0) & (y < H))[:, None]
        xv = tl.load(x_img + ((y[:, None] * W + xx) * C)[:, None, :, None] + c4, mask=ok[:, None, :, None] & c_ok4,
                     other=0.0)
        gw = tl.sum(xv.to(tl.float32) * go, axis=3)  # [P, GB, KJ]: K neighbouring weights' gradients
        tl.store(gw_img + w_off + ki * K, gw.to(gw_ptr.dtype.element_ty), mask=w_ok)

        yy = i + PAD - ki
        ok = go_col_ok & ((yy >= 0) & (yy < H))[:, None]
        pix = yy[:, None] * W + jj  # [P, KJ]: the output pixels whose tap (ki, kj) read (i, j)
        gov = tl.load(go_img + (pix * C)[:, None, :, None] + c4, mask=ok[:, None, :, None] & c_ok4, other=0.0)
        wv = tl.load(w_img + (pix * (G * KK) + ki * K + kj[None, :])[:, None, :] + (g * KK)[None, :, None],
                     mask=ok[:, None, :] & (g < G)[None, :, None], other=0.0)
        if DEFER:
            acc4 += gov.to(tl.float32) * wv.to(tl.float32)[:, :, :, None]
        else:
            acc += tl.sum(gov.to(tl.float32) * wv.to(tl.float32)[:, :, :, None], axis=2)
    if DEFER:
        acc = tl.sum(acc4, axis=2)

    gx_off = ((i * W + j) * C)[:, None, None] + (g * CG)[None, :, None] + cc[None, None, :]
    gx_ok = pix_ok[:, None, None] & (g < G)[None, :, None] & (cc < CG)[None, None, :]
    tl.store(gx_ptr + b * H * W * C + gx_off, acc.to(gx_ptr.dtype.element_ty), mask=gx_ok)


# -- block sizes and tuning -----------------------------------------------------------------------
class Config(NamedTuple):
    """Block sizes of one launch: a bh x bw pixel tile, gb groups per program, the warps per
    program, how many taps each loop iteration issues (more loads in flight, more registers),
    whether to use the "rows" kernels (a row of column taps per block) or the "taps" kernels, and
    (rows forward and grad_x) whether to defer the sum over column taps to after the loop."""

    bh: int
    bw: int
    gb: int
    num_warps: int = 4
    unroll: int = 1
    rows: bool = False
    defer: bool = False


_KERNELS = {
    ("forward", False): _forward_kernel, ("forward", True): _forward_rows_kernel,
    ("grad_planes", False): _grad_planes_kernel, ("grad_planes", True): _grad_planes_rows_kernel,
    ("grad_x", False): _grad_x_kernel, ("grad_x", True): _grad_x_rows_kernel,
    ("backward", True): _backward_rows_kernel,
}
SPLIT = "split"  # the backward's other option: grad_x's and grad_planes' kernels, each tuned


def _column_taps(kind: str, kernel_size: int, stride: int) -> int:
    """KJ, the column-tap axis of a rows block: grad_x sees only the taps of one residue class."""
    taps = -(-kernel_size // stride) if kind == "grad_x" else kernel_size
    return triton.next_power_of_2(taps)


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


def _config_for(height, width, values, group_block, per_pixel, **options) -> Config:
    """A config of about ``values`` block elements per program, ``per_pixel`` of them per pixel,
    its tile capped near the image size (a grid far smaller than the image idles pixels)."""
    pixels = max(1, min(1024, values // per_pixel))
    while pixels > 1 and pixels // 2 >= triton.next_power_of_2(height) * triton.next_power_of_2(width):
        pixels //= 2
    return Config(*_pixel_tile(height, width, pixels), group_block, **options)


@functools.lru_cache(maxsize=None)
def candidates(kind: str, height: int, width: int, channels: int, groups: int, kernel_size: int,
               stride: int, itemsize: int = 4) -> tuple[Config, ...]:
    """The configs worth timing for one kernel and shape, the default first.

    ``height`` x ``width`` is the grid the kernel tiles: the output for forward and grad_planes,
    one residue class (also ceil(H/s) x ceil(W/s)) for grad_x. Whole groups up to 64 channels per
    program. A rows block holds about 4096 values (32 per thread), a taps block about 1024: on an
    H200 (float32) these were the fastest of each kind, and rows were faster (grad_planes 3x).
    For 2-byte inputs (``itemsize``), rows blocks of twice the groups too, where there are more.
    """
    cb = triton.next_power_of_2(channels // groups)
    gb = min(triton.next_power_of_2(groups), max(1, 64 // cb))
    kj = _column_taps(kind, kernel_size, stride)
    rows = _config_for(height, width, 4096, gb, gb * cb * kj, rows=True)
    # Fewer groups and more pixels per program, or (one group) fewer values per thread.
    other = (_config_for(height, width, 4096, gb // 4, gb // 4 * cb * kj, rows=True) if gb >= 4 else
             _config_for(height, width, 1024, gb, gb * cb * kj, rows=True))
    found = [rows, _config_for(height, width, 1024, gb, gb * cb), other,
             _config_for(height, width, 8192, gb, gb * cb * kj, num_warps=8, rows=True)]
    if kind != "grad_planes":  # grad_planes sums over channels, within each thread's vector
        found[1:1] = [rows._replace(defer=True)]
    if itemsize < 4 and gb < triton.next_power_of_2(groups):
        # 2-byte inputs: a block of twice the groups moves as many bytes per pixel as float32's.
        found.append(_config_for(height, width, 4096, gb * 2, gb * 2 * cb * kj, rows=True))
        found.append(_config_for(height, width, 8192, gb * 2, gb * 2 * cb * kj, num_warps=8, rows=True))
    if kind == "backward":  # rows kernels only; it holds twice grad_x's blocks, so smaller ones too
        found = [cfg for cfg in found if cfg.rows] + [_config_for(height, width, 2048, gb, gb * cb * kj, rows=True)]
    return tuple(dict.fromkeys(found))  # in order, without repeats


def default_config(kind: str, height: int, width: int, channels: int, groups: int,
                   kernel_size: int = 3, stride: int = 1) -> Config:
    """The config used without tuning (see ``candidates``)."""
    return candidates(kind, height, width, channels, groups, kernel_size, stride)[0]


AUTOTUNE = os.environ.get("INVOLUTION_COURSE_TRITON_TUNE", "1") != "0"
_tuned: dict = {}
tuning_log: list = []  # one dict per tuned kernel and shape: every candidate's time


def _choose(kind, key, options: tuple[Config, ...], launch) -> Config:
    """The fastest of ``options`` for this kernel and shape, timed once on the GPU and remembered
    (the first one when tuning is off, under the interpreter, or with one option)."""
    cfg = _tuned.get((kind, key))
    if cfg is not None:
        return cfg
    if not AUTOTUNE or _INTERPRET or len(options) == 1:
        cfg = options[0]
    else:
        import triton.testing

        times = {}
        for option in options:
            try:
                times[option] = triton.testing.do_bench(lambda: launch(option), warmup=5, rep=25,
                                                        return_mode="median")
            except Exception:  # a config this GPU cannot run (too many registers): skip it
                continue
        cfg = min(times, key=times.get) if times else options[0]
        tuning_log.append({"kernel": kind, "key": list(key),
                           "ms": {str(option._asdict()) if isinstance(option, Config) else option: round(t, 5)
                                  for option, t in times.items()}})
    _tuned[(kind, key)] = cfg
    return cfg


# -- launchers ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _plan(kind, shape, cfg: Config, batch: int, classes: int):
    """The kernel, grid, extra integer arguments and meta-parameters of one launch (cached: the
    host's time per launch counts for small images)."""
    height, width, channels, groups, kernel_size, stride = shape
    tiles_w = triton.cdiv(width, cfg.bw)
    tiles = triton.cdiv(height, cfg.bh) * tiles_w
    grid = (classes * tiles, triton.cdiv(groups, cfg.gb), batch)
    meta = dict(C=channels, G=groups, K=kernel_size, S=stride, BH=cfg.bh, BW=cfg.bw, GB=cfg.gb,
                CB=triton.next_power_of_2(channels // groups), UNROLL=cfg.unroll, num_warps=cfg.num_warps)
    if kind == "backward":  # stride 1 only
        del meta["S"]
    if cfg.rows:
        meta.update(KJ=_column_taps(kind, kernel_size, stride), DEFER=cfg.defer)
    extra = (tiles_w, tiles) if kind == "grad_x" else (tiles_w,)
    return _KERNELS[kind, cfg.rows], grid, extra, meta


def _launch(kind, args, ints, shape, cfg: Config, batch: int, classes: int = 1):
    """Launch kernel ``kind`` over a (height, width) pixel grid of ``batch`` images."""
    kernel, grid, extra, meta = _plan(kind, shape, cfg, batch, classes)
    kernel[grid](*args, *ints, *extra, **meta)


def _run(kind, args, ints, x_shape, kernel_size, stride, groups, cfg, classes=1):
    batch, height, width, channels = x_shape
    h_out, w_out = -(-height // stride), -(-width // stride)
    shape = (h_out, w_out, channels, groups, kernel_size, stride)
    if cfg is None:
        options = candidates(kind, *shape, args[0].element_size())
        # Per dtype: on an H200 the best float32 rows blocks were 4x slower in bfloat16.
        key = (batch, height, width, channels, groups, kernel_size, stride, str(args[0].dtype))
        cfg = _choose(kind, key, options, lambda c: _launch(kind, args, ints, shape, c, batch, classes))
    _launch(kind, args, ints, shape, cfg, batch, classes)


def forward(x, planes, kernel_size: int, stride: int, groups: int, cfg: Config | None = None):
    """out (B, H_out, W_out, C) from contiguous x and planes; no checks (see ``multiply_add``)."""
    batch, height, width, channels = x.shape
    h_out, w_out = planes.shape[1:3]
    out = torch.empty((batch, h_out, w_out, channels), dtype=x.dtype, device=x.device)
    _run("forward", (x, planes, out), (height, width, h_out, w_out), x.shape, kernel_size, stride, groups, cfg)
    return out


def grad_planes(x, grad_out, kernel_size: int, stride: int, groups: int, cfg: Config | None = None):
    """d loss / d planes from contiguous x and upstream gradient grad_out."""
    batch, height, width, channels = x.shape
    h_out, w_out = grad_out.shape[1:3]
    out = torch.empty((batch, h_out, w_out, groups * kernel_size ** 2), dtype=x.dtype, device=x.device)
    _run("grad_planes", (x, grad_out, out), (height, width, h_out, w_out), x.shape, kernel_size, stride,
         groups, cfg)
    return out


def grad_x(planes, grad_out, input_shape, kernel_size: int, stride: int, groups: int,
           cfg: Config | None = None):
    """d loss / d x from contiguous planes and upstream gradient grad_out."""
    batch, height, width, channels = input_shape
    h_out, w_out = grad_out.shape[1:3]
    out = torch.empty(input_shape, dtype=grad_out.dtype, device=grad_out.device)
    # One residue class (y % s, x % s) per s*s block of the grid; each has at most H_out x W_out pixels.
    _run("grad_x", (grad_out, planes, out), (height, width, h_out, w_out), tuple(input_shape), kernel_size,
         stride, groups, cfg, classes=stride * stride)
    return out


def backward(x, planes, grad_out, kernel_size: int, stride: int, groups: int, cfg: Config | str | None = None):
    """(grad_x, grad_planes) from contiguous x, planes and upstream gradient grad_out.

    At stride 1, one kernel computes both (``_backward_rows_kernel``); the first call for a shape
    times its configs against the two separate kernels (``SPLIT``) and keeps the fastest; without
    tuning, or under the interpreter, the fused kernel runs. At other strides, the two kernels.
    """
    if stride != 1 or cfg == SPLIT:
        return (grad_x(planes, grad_out, x.shape, kernel_size, stride, groups),
                grad_planes(x, grad_out, kernel_size, stride, groups))
    batch, height, width, channels = x.shape
    shape = (height, width, channels, groups, kernel_size, stride)
    gx = torch.empty_like(x)
    gp = torch.empty(planes.shape, dtype=x.dtype, device=x.device)
    args, ints = (x, planes, grad_out, gx, gp), (height, width)

    def launch(option):
        if option == SPLIT:
            return backward(x, planes, grad_out, kernel_size, stride, groups, SPLIT)
        _launch("backward", args, ints, shape, option, batch)

    if cfg is None:
        key = (batch, height, width, channels, groups, kernel_size, stride, str(x.dtype))
        cfg = _choose("backward", key, (*candidates("backward", *shape, x.element_size()), SPLIT), launch)
        if cfg == SPLIT:
            return launch(SPLIT)
    launch(cfg)
    return gx, gp


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
        if ctx.needs_input_grad[0] and ctx.needs_input_grad[1]:
            gx, gp = backward(x, planes, grad_out, kernel_size, stride, groups)
        elif ctx.needs_input_grad[0]:
            gx = grad_x(planes, grad_out, x.shape, kernel_size, stride, groups)
        elif ctx.needs_input_grad[1]:
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
