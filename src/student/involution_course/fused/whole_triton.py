"""The whole involution's forward in one Triton kernel: the span convolution and the multiply-add.

The two-step form writes the span convolution's output, the K*K*G kernel planes of every output
pixel, to memory and reads it back in the multiply-add. Here each program generates the kernels
of its own tile in registers and applies them at once, so the planes never reach memory::

    planes[b, i, j, n] = bias[n] + sum_r hidden[b, i, j, r] * span_kernel[r, n]      n = g*K*K + ki*K + kj
    out[b, i, j, c]    = sum_{ki, kj} x_pad[b, i*s + ki, j*s + kj, c] * planes[b, i, j, g(c)*K*K + ki*K + kj]

``hidden`` (B, H_out, W_out, C_r) is the kernel generator's hidden features (the reduce 1x1
convolution, batch norm and ReLU, computed outside); ``span_kernel`` (C_r, G*K*K) and ``bias``
(G*K*K,) are the span convolution's weights; x is (B, H, W, C), channels last, zero-padded by
(K - 1) / 2, H_out = ceil(H / s); g(c) = c // (C/G).

The tiling is the course's "rows" forward (``triton_kernels._forward_rows_kernel``): a program owns
a BH x BW tile of output pixels and GB whole groups; per row tap ki it generates the K weights of
that row for each pixel and group, [P, GB, KJ], and multiplies them into the K shifted input tiles,
[P, GB, KJ, CB]. A program generates only its own groups' kernels, so no weight is computed twice;
what is repeated is the load of the tile's hidden features, once per block of groups. The weights
come either from a broadcast product summed over C_r (``dot=False``, any C_r) or from ``tl.dot``
in full fp32 (``dot=True``, tiles of at least 16 pixels, C_r and GB*KJ).

Forward only (no autograd): ``tests/test_fused_whole.py`` checks it through Triton's interpreter
and ``benchmarks/bench_whole_involution.py`` sets it against the two-step form and the memory floor
on a GPU. The layer does not use it (the README's "Fused GPU kernels" says why).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import triton
import triton.language as tl

__all__ = ["WholeConfig", "candidates", "whole_involution"]

_INTERPRET = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@triton.jit
def _whole_forward_kernel(
    x_ptr, h_ptr, wt_ptr, bias_ptr, out_ptr, H, W, H_out, W_out, tiles_w,
    C: tl.constexpr, G: tl.constexpr, K: tl.constexpr, S: tl.constexpr, CR: tl.constexpr,
    BH: tl.constexpr, BW: tl.constexpr, GB: tl.constexpr, CB: tl.constexpr, KJ: tl.constexpr,
    CRB: tl.constexpr, DOT: tl.constexpr,
):
    tile = tl.program_id(0)
    b = tl.program_id(2).to(tl.int64)  # image offsets can exceed 2**31 over a batch
    PAD: tl.constexpr = (K - 1) // 2
    CG: tl.constexpr = C // G
    KK: tl.constexpr = K * K
    P: tl.constexpr = BH * BW

    p = tl.arange(0, P)
    i = (tile // tiles_w) * BH + p // BW
    j = (tile % tiles_w) * BW + p % BW
    pix_ok = (i < H_out) & (j < W_out)
    g = tl.program_id(1) * GB + tl.arange(0, GB)
    g_ok = g < G
    cc = tl.arange(0, CB)
    kj = tl.arange(0, KJ)
    r = tl.arange(0, CRB)
    r_ok = r < CR
    c4 = (g * CG)[None, :, None, None] + cc[None, None, None, :]
    c_ok4 = g_ok[None, :, None, None] & (cc < CG)[None, None, None, :]
    xx = j[:, None] * S + kj[None, :] - PAD  # [P, KJ]
    col_ok = pix_ok[:, None] & (xx >= 0) & (xx < W) & (kj < K)[None, :]
    # The span weights of a row tap: wt is span_kernel transposed, (G*K*K, C_r), so that each
    # tap's C_r weights are contiguous; [GB, KJ] rows of it per row tap.
    tap = (g * KK)[:, None] + kj[None, :]  # tap (0, kj) of each group
    tap_ok = g_ok[:, None] & (kj < K)[None, :]

    # The tile's hidden features, loaded once and used by every row tap: [P, CRB].
    h_off = ((i * W_out + j) * CR)[:, None] + r[None, :]
    hidden = tl.load(h_ptr + b * H_out * W_out * CR + h_off, mask=pix_ok[:, None] & r_ok[None, :],
                     other=0.0).to(tl.float32)

    x_img = x_ptr + b * H * W * C
    acc = tl.zeros((P, GB, CB), dtype=tl.float32)
    for ki in range(K):
        bias = tl.load(bias_ptr + tap + ki * K, mask=tap_ok, other=0.0).to(tl.float32)  # [GB, KJ]
        if DOT:
            # [P, CRB] @ [CRB, GB*KJ]: column n is group n // KJ, column tap n % KJ.
            n = tl.arange(0, GB * KJ)
            n_tap = (tl.program_id(1) * GB + n // KJ) * KK + ki * K + n % KJ
            n_ok = ((tl.program_id(1) * GB + n // KJ) < G) & ((n % KJ) < K)
            span = tl.load(wt_ptr + n_tap[None, :] * CR + r[:, None], mask=r_ok[:, None] & n_ok[None, :],
                           other=0.0).to(tl.float32)
            weights = tl.reshape(tl.dot(hidden, span, input_precision="ieee"), (P, GB, KJ)) + bias[None, :, :]
        else:
            span = tl.load(wt_ptr + ((tap + ki * K) * CR)[:, :, None] + r[None, None, :],
                           mask=tap_ok[:, :, None] & r_ok[None, None, :], other=0.0).to(tl.float32)
            weights = tl.sum(hidden[:, None, None, :] * span[None, :, :, :], axis=3) + bias[None, :, :]
        y = i * S + ki - PAD
        ok = col_ok & ((y >= 0) & (y < H))[:, None]
        off = (y[:, None] * W + xx) * C
        xv = tl.load(x_img + off[:, None, :, None] + c4, mask=ok[:, None, :, None] & c_ok4, other=0.0)
        acc += tl.sum(xv.to(tl.float32) * weights[:, :, :, None], axis=2)

    out_off = ((i * W_out + j) * C)[:, None, None] + (g * CG)[None, :, None] + cc[None, None, :]
    out_ok = pix_ok[:, None, None] & g_ok[None, :, None] & (cc < CG)[None, None, :]
    tl.store(out_ptr + b * H_out * W_out * C + out_off, acc.to(out_ptr.dtype.element_ty), mask=out_ok)


class WholeConfig(NamedTuple):
    """One launch's blocks: a bh x bw pixel tile, gb groups per program, the warps per program,
    and how the weights are generated (``dot``: ``tl.dot``; otherwise a broadcast product)."""

    bh: int
    bw: int
    gb: int
    num_warps: int = 4
    dot: bool = False


def _tile(pixels: int) -> tuple[int, int]:
    bh = 1
    while bh * bh * 4 <= pixels:  # square, or twice as wide as tall: contiguous rows
        bh *= 2
    return bh, pixels // bh


def candidates(channels: int, groups: int, kernel_size: int, reduced: int) -> tuple[WholeConfig, ...]:
    """The configs worth timing, the default first: blocks of about 4096 values (the course's
    rows forward), whole groups up to 64 channels per program, and ``tl.dot`` ones where its
    operands are at least 16 wide."""
    cb = triton.next_power_of_2(channels // groups)
    gb = min(triton.next_power_of_2(groups), max(1, 64 // cb))
    kj = triton.next_power_of_2(kernel_size)
    crb = triton.next_power_of_2(reduced)
    # The broadcast product holds P*GB*KJ*CRB values: size the tile by the larger of CB and CRB.
    per_pixel = gb * kj * max(cb, crb)
    found = []
    for values, warps in ((4096, 4), (2048, 4), (8192, 8)):
        pixels = max(1, min(256, values // per_pixel))
        found.append(WholeConfig(*_tile(pixels), gb, warps))
    if crb >= 16 and gb * kj >= 16:
        for pixels, warps in ((16, 4), (32, 4), (64, 8)):
            found.append(WholeConfig(*_tile(pixels), gb, warps, dot=True))
        if gb * 2 <= triton.next_power_of_2(groups):  # twice the groups: a wider product, h read half as often
            found.append(WholeConfig(*_tile(16), gb * 2, 4, dot=True))
    return tuple(dict.fromkeys(found))


def _whole(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive whole number; got {value!r}.")
    return value


def check(x, hidden, span_kernel, span_bias, kernel_size, stride, groups) -> None:
    """Raise ValueError, in one sentence, unless the arguments fit ``whole_involution``."""
    k, s, g = _whole(kernel_size, "kernel_size"), _whole(stride, "stride"), _whole(groups, "groups")
    if k % 2 == 0:
        raise ValueError(f"kernel_size must be odd so the kernel has a centre pixel; got {k}.")
    if x.dim() != 4 or hidden.dim() != 4:
        raise ValueError(f"x and hidden must both be 4-D, channels last; got shapes {tuple(x.shape)} and "
                         f"{tuple(hidden.shape)}.")
    batch, height, width, channels = x.shape
    if channels % g:
        raise ValueError(f"x's {channels} channels cannot be split into groups={g} equal groups.")
    reduced = hidden.shape[3]
    expected = (batch, -(-height // s), -(-width // s), reduced)
    if tuple(hidden.shape) != expected:
        raise ValueError(f"hidden must have shape {expected} (batch, ceil(H/stride), ceil(W/stride), C_r) "
                         f"for x of shape {tuple(x.shape)}; got {tuple(hidden.shape)}.")
    if tuple(span_kernel.shape) != (reduced, g * k * k) or tuple(span_bias.shape) != (g * k * k,):
        raise ValueError(f"span_kernel and span_bias must have shapes {(reduced, g * k * k)} and {(g * k * k,)} "
                         f"(C_r, groups*K*K); got {tuple(span_kernel.shape)} and {tuple(span_bias.shape)}.")
    tensors = (x, hidden, span_kernel, span_bias)
    if x.dtype not in (torch.float32, torch.bfloat16, torch.float16) or any(t.dtype != x.dtype for t in tensors):
        raise ValueError(f"x, hidden, span_kernel and span_bias must share one dtype of float32, bfloat16 or "
                         f"float16; got {', '.join(str(t.dtype) for t in tensors)}.")
    if any(t.device != x.device for t in tensors):
        raise ValueError("x, hidden, span_kernel and span_bias must be on one device.")
    if x.device.type != "cuda" and not _INTERPRET:
        raise ValueError(f"the Triton kernels need CUDA tensors (or TRITON_INTERPRET=1 set before importing "
                         f"triton, for the CPU interpreter); got tensors on {x.device}.")


def whole_involution(x, hidden, span_kernel, span_bias, *, kernel_size: int, stride: int = 1,
                       groups: int = 1, cfg: WholeConfig | None = None):
    """The involution of x (B, H, W, C) with kernels generated from ``hidden`` (B, H_out, W_out, C_r)
    by the span convolution (``span_kernel`` (C_r, G*K*K), ``span_bias`` (G*K*K,)), in one kernel.

    Not differentiable; the result has x's dtype. ``cfg`` picks the blocks (default: the first of
    ``candidates``).
    """
    check(x, hidden, span_kernel, span_bias, kernel_size, stride, groups)
    x, hidden = x.contiguous(), hidden.contiguous()
    weights_t, bias = span_kernel.t().contiguous(), span_bias.contiguous()
    batch, height, width, channels = x.shape
    h_out, w_out, reduced = hidden.shape[1:]
    if cfg is None:
        cfg = candidates(channels, groups, kernel_size, reduced)[0]
    out = torch.empty((batch, h_out, w_out, channels), dtype=x.dtype, device=x.device)
    tiles_w = triton.cdiv(w_out, cfg.bw)
    grid = (triton.cdiv(h_out, cfg.bh) * tiles_w, triton.cdiv(groups, cfg.gb), batch)
    _whole_forward_kernel[grid](
        x, hidden, weights_t, bias, out, height, width, h_out, w_out, tiles_w,
        C=channels, G=groups, K=kernel_size, S=stride, CR=reduced, BH=cfg.bh, BW=cfg.bw, GB=cfg.gb,
        CB=triton.next_power_of_2(channels // groups), KJ=triton.next_power_of_2(kernel_size),
        CRB=triton.next_power_of_2(reduced), DOT=cfg.dot, num_warps=cfg.num_warps,
    )
    return out
