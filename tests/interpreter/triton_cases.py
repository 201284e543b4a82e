"""The Triton multiply-add kernels against a NumPy reference, through Triton's CPU interpreter.

TRITON_INTERPRET must be set before triton is first imported, and triton's compiler cannot load
into a process that has loaded jaxlib's or TensorFlow's, so tests/test_fused_triton.py runs this
file in a process of its own (``pytest --confcutdir tests/interpreter tests/interpreter/triton_cases.py``).
"""

from __future__ import annotations

import os

os.environ["TRITON_INTERPRET"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

torch = pytest.importorskip("torch", reason="the Triton kernels need PyTorch")
pytest.importorskip("triton", reason="the Triton kernels need Triton (its interpreter runs them on the CPU)")

from involution_course.fused import triton_kernels  # noqa: E402

if not triton_kernels._INTERPRET:
    pytest.skip("triton was imported before TRITON_INTERPRET=1 was set; run this file in its own process",
                allow_module_level=True)


# -- the naive reference: one shifted, strided window of the padded input per tap ----------------
def reference(x, planes, grad_out, k, s, g):
    """out, grad_x and grad_planes in float64."""
    x, planes, grad_out = (np.asarray(a, dtype=np.float64) for a in (x, planes, grad_out))
    batch, height, width, channels = x.shape
    h_out, w_out = -(-height // s), -(-width // s)
    pad = (k - 1) // 2
    x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))).reshape(batch, height + 2 * pad, width + 2 * pad, g, -1)
    weights = planes.reshape(batch, h_out, w_out, g, k, k)
    upstream = grad_out.reshape(batch, h_out, w_out, g, -1)
    out = np.zeros((batch, h_out, w_out, g, channels // g))
    grad_x_pad = np.zeros_like(x_pad)
    grad_weights = np.zeros_like(weights)
    for ki in range(k):
        for kj in range(k):
            rows, cols = slice(ki, ki + s * h_out, s), slice(kj, kj + s * w_out, s)
            window = x_pad[:, rows, cols]
            out += window * weights[..., ki, kj, None]
            grad_x_pad[:, rows, cols] += upstream * weights[..., ki, kj, None]
            grad_weights[..., ki, kj] = (upstream * window).sum(-1)
    grad_x = grad_x_pad[:, pad:pad + height, pad:pad + width].reshape(x.shape)
    return out.reshape(batch, h_out, w_out, channels), grad_x, grad_weights.reshape(planes.shape)


def run_fused(x, planes, grad_out, k, s, g):
    """out, grad_x and grad_planes through the autograd function (default configs: rows kernels)."""
    x = x.clone().requires_grad_(True)
    planes = planes.clone().requires_grad_(True)
    out = triton_kernels.multiply_add(x, planes, kernel_size=k, stride=s, groups=g)
    out.backward(grad_out)
    return out.detach(), x.grad, planes.grad


def run_kernels(x, planes, grad_out, k, s, g, cfg):
    """The three kernels launched directly with one config."""
    return (triton_kernels.forward(x, planes, k, s, g, cfg),
            triton_kernels.grad_x(planes, grad_out, x.shape, k, s, g, cfg),
            triton_kernels.grad_planes(x, grad_out, k, s, g, cfg))


def inputs(shape, k, s, g, dtype=torch.float32, seed=0):
    batch, height, width, channels = shape
    gen = torch.Generator().manual_seed(seed)
    h_out, w_out = -(-height // s), -(-width // s)
    x = torch.randn(shape, generator=gen).to(dtype)
    planes = torch.randn((batch, h_out, w_out, g * k * k), generator=gen).to(dtype)
    grad_out = torch.randn((batch, h_out, w_out, channels), generator=gen).to(dtype)
    return x, planes, grad_out


# C = 6 (not a power of two) with G = 1, 3 (two channels per group) and 6 (one each).
CASES = [(k, s, g) for k in (1, 3, 5, 7) for s in (1, 2, 3) for g in (1, 3, 6)]


@pytest.mark.parametrize("k, s, g", CASES, ids=[f"K{k}-s{s}-G{g}" for k, s, g in CASES])
def test_float32_matches_numpy(k, s, g):
    x, planes, grad_out = inputs((2, 5, 7, 6), k, s, g)
    expected = reference(x.numpy(), planes.numpy(), grad_out.numpy(), k, s, g)
    for name, got, want in zip(("out", "grad_x", "grad_planes"), run_fused(x, planes, grad_out, k, s, g), expected):
        assert got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("shape, k, s, g", [((1, 9, 6, 20), 3, 1, 4), ((1, 6, 5, 5), 5, 2, 1)])
def test_other_shapes(shape, k, s, g):
    """Several channel blocks per program grid (20 channels, 4 groups of 5) and even sizes."""
    x, planes, grad_out = inputs(shape, k, s, g, seed=1)
    expected = reference(x.numpy(), planes.numpy(), grad_out.numpy(), k, s, g)
    for name, got, want in zip(("out", "grad_x", "grad_planes"), run_fused(x, planes, grad_out, k, s, g), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5, err_msg=name)


TAPS = [(k, s, 3) for k in (1, 3, 5, 7) for s in (1, 2, 3)]


@pytest.mark.parametrize("k, s, g", TAPS, ids=[f"K{k}-s{s}-G{g}" for k, s, g in TAPS])
def test_taps_kernels_match_numpy(k, s, g):
    """The kernels that loop over every tap (the other family the tuner may pick)."""
    x, planes, grad_out = inputs((2, 5, 7, 6), k, s, g, seed=5)
    expected = reference(x.numpy(), planes.numpy(), grad_out.numpy(), k, s, g)
    cfg = triton_kernels.Config(8, 8, 4)  # one program per image: the interpreter is slow
    for name, got, want in zip(("out", "grad_x", "grad_planes"), run_kernels(x, planes, grad_out, k, s, g, cfg), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5, err_msg=name)


DEFERRED = [(k, s, 3) for k in (3, 7) for s in (1, 2, 3)]


@pytest.mark.parametrize("k, s, g", DEFERRED, ids=[f"K{k}-s{s}-G{g}" for k, s, g in DEFERRED])
def test_rows_kernels_with_deferred_sums_match_numpy(k, s, g):
    """Rows kernels that sum over the column taps once, after the loop over row taps."""
    x, planes, grad_out = inputs((2, 5, 7, 6), k, s, g, seed=6)
    expected = reference(x.numpy(), planes.numpy(), grad_out.numpy(), k, s, g)
    cfg = triton_kernels.Config(8, 8, 4, rows=True, defer=True)
    for name, got, want in zip(("out", "grad_x", "grad_planes"), run_kernels(x, planes, grad_out, k, s, g, cfg), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("rows, defer", [(False, False), (True, False), (True, True)], ids=["taps", "rows", "rows-defer"])
def test_small_blocks_cover_partial_tiles(rows, defer):
    """A 2 x 4 tile with one group per program: many programs, partial tiles on both edges."""
    k, s, g = 3, 2, 3
    x, planes, grad_out = inputs((1, 7, 9, 6), k, s, g, seed=2)
    cfg = triton_kernels.Config(2, 4, 1, rows=rows, defer=defer)
    expected = reference(x.numpy(), planes.numpy(), grad_out.numpy(), k, s, g)
    for name, got, want in zip(("out", "grad_x", "grad_planes"), run_kernels(x, planes, grad_out, k, s, g, cfg), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("k, s, g", [(3, 1, 3), (5, 2, 1)])
def test_bfloat16_is_close(k, s, g):
    x, planes, grad_out = inputs((2, 5, 7, 6), k, s, g, dtype=torch.bfloat16, seed=3)
    expected = reference(x.float().numpy(), planes.float().numpy(), grad_out.float().numpy(), k, s, g)
    for name, got, want in zip(("out", "grad_x", "grad_planes"), run_fused(x, planes, grad_out, k, s, g), expected):
        assert got.dtype == torch.bfloat16, name
        # Products are summed in float32 and rounded once to bfloat16 (8 bits of mantissa).
        np.testing.assert_allclose(got.float().numpy(), want, rtol=2e-2, atol=2e-2 * np.abs(want).max(), err_msg=name)


def test_gradient_of_one_input_only():
    k, s, g = 3, 1, 2
    x, planes, grad_out = inputs((1, 4, 4, 4), k, s, g, seed=4)
    planes.requires_grad_(True)
    out = triton_kernels.multiply_add(x, planes, kernel_size=k, stride=s, groups=g)
    out.backward(grad_out)
    _, _, want = reference(x.numpy(), planes.detach().numpy(), grad_out.numpy(), k, s, g)
    assert x.grad is None
    np.testing.assert_allclose(planes.grad.numpy(), want, rtol=1e-5, atol=1e-5)


BAD = {
    "x rank": (torch.zeros(5, 7, 6), torch.zeros(1, 5, 7, 9), 3, 1, 1, "4-D"),
    "planes rank": (torch.zeros(1, 5, 7, 6), torch.zeros(5, 7, 9), 3, 1, 1, "4-D"),
    "groups": (torch.zeros(1, 5, 7, 6), torch.zeros(1, 5, 7, 36), 3, 1, 4, "cannot be split"),
    "even K": (torch.zeros(1, 5, 7, 6), torch.zeros(1, 5, 7, 16), 4, 1, 1, "odd"),
    "zero K": (torch.zeros(1, 5, 7, 6), torch.zeros(1, 5, 7, 1), 0, 1, 1, "positive whole number"),
    "stride": (torch.zeros(1, 5, 7, 6), torch.zeros(1, 5, 7, 9), 3, 0, 1, "positive whole number"),
    "planes channels": (torch.zeros(1, 5, 7, 6), torch.zeros(1, 5, 7, 10), 3, 1, 1, "groups\\*K\\*K"),
    "batch": (torch.zeros(2, 5, 7, 6), torch.zeros(1, 5, 7, 9), 3, 1, 1, "must have shape"),
    "spatial": (torch.zeros(1, 5, 7, 6), torch.zeros(1, 5, 7, 9), 3, 2, 1, "ceil\\(H/stride\\)"),
    "dtype": (torch.zeros(1, 5, 7, 6), torch.zeros(1, 5, 7, 9, dtype=torch.float64), 3, 1, 1, "dtype"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_input_raises_one_sentence(name):
    x, planes, k, s, g, match = BAD[name]
    with pytest.raises(ValueError, match=match) as info:
        triton_kernels.multiply_add(x, planes, kernel_size=k, stride=s, groups=g)
    message = str(info.value)
    assert message.endswith(".") and "\n" not in message


def run_backward(x, planes, grad_out, k, g, cfg):
    return triton_kernels.backward(x, planes, grad_out, k, 1, g, cfg)


FUSED_BACKWARD = [(k, g, defer) for k in (1, 3, 5, 7) for g in (1, 3, 6) for defer in (False, True)]


@pytest.mark.parametrize("k, g, defer", FUSED_BACKWARD, ids=[f"K{k}-G{g}-defer{int(d)}" for k, g, d in FUSED_BACKWARD])
def test_fused_backward_matches_numpy(k, g, defer):
    """The one-pass backward (stride 1): both gradients from one kernel."""
    x, planes, grad_out = inputs((2, 5, 7, 6), k, 1, g, seed=7)
    _, *expected = reference(x.numpy(), planes.numpy(), grad_out.numpy(), k, 1, g)
    cfg = triton_kernels.Config(8, 8, 4, rows=True, defer=defer)
    for name, got, want in zip(("grad_x", "grad_planes"), run_backward(x, planes, grad_out, k, g, cfg), expected):
        assert got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5, err_msg=name)


def test_fused_backward_covers_partial_tiles_and_channel_blocks():
    """A 2 x 4 tile, one group per program, 20 channels in 4 groups of 5 (padded to 8)."""
    k, g = 3, 4
    x, planes, grad_out = inputs((1, 7, 9, 20), k, 1, g, seed=8)
    _, *expected = reference(x.numpy(), planes.numpy(), grad_out.numpy(), k, 1, g)
    cfg = triton_kernels.Config(2, 4, 1, rows=True)
    for name, got, want in zip(("grad_x", "grad_planes"), run_backward(x, planes, grad_out, k, g, cfg), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5, err_msg=name)


def test_fused_backward_in_bfloat16_is_close():
    k, g = 5, 3
    x, planes, grad_out = inputs((2, 5, 7, 6), k, 1, g, dtype=torch.bfloat16, seed=9)
    _, *expected = reference(x.float().numpy(), planes.float().numpy(), grad_out.float().numpy(), k, 1, g)
    for name, got, want in zip(("grad_x", "grad_planes"),
                               run_backward(x, planes, grad_out, k, g, triton_kernels.Config(4, 8, 4, rows=True)),
                               expected):
        assert got.dtype == torch.bfloat16, name
        np.testing.assert_allclose(got.float().numpy(), want, rtol=2e-2, atol=2e-2 * np.abs(want).max(), err_msg=name)


def test_backward_chooses_the_fused_kernel_at_stride_1_and_two_kernels_otherwise(monkeypatch):
    """Untimed (the interpreter), the backward runs the fused kernel at stride 1; the split option
    and other strides run grad_x and grad_planes; every option gives the same gradients."""
    launched = []
    real = triton_kernels._launch
    monkeypatch.setattr(triton_kernels, "_launch", lambda kind, *a, **kw: (launched.append(kind), real(kind, *a, **kw)))
    x, planes, grad_out = inputs((1, 6, 6, 6), 3, 1, 3, seed=10)
    fused = triton_kernels.backward(x, planes, grad_out, 3, 1, 3)
    assert launched == ["backward"]
    launched.clear()
    split = triton_kernels.backward(x, planes, grad_out, 3, 1, 3, triton_kernels.SPLIT)
    assert launched == ["grad_x", "grad_planes"]
    for a, b in zip(fused, split):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
    launched.clear()
    x2, planes2, grad_out2 = inputs((1, 6, 6, 6), 3, 2, 3, seed=11)
    triton_kernels.backward(x2, planes2, grad_out2, 3, 2, 3)
    assert launched == ["grad_x", "grad_planes"]
    assert triton_kernels.candidates("backward", 6, 6, 6, 3, 3, 1)
    assert all(cfg.rows for cfg in triton_kernels.candidates("backward", 56, 56, 64, 4, 7, 1))
