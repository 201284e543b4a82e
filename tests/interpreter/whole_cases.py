"""The whole-involution forward kernel (``fused/whole_triton.py``) against NumPy, through Triton's
CPU interpreter; run in a process of its own by tests/test_fused_whole.py (see triton_cases.py)."""

from __future__ import annotations

import os

os.environ["TRITON_INTERPRET"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

torch = pytest.importorskip("torch", reason="the Triton kernels need PyTorch")
pytest.importorskip("triton", reason="the Triton kernels need Triton (its interpreter runs them on the CPU)")

from involution_course.fused import whole_triton  # noqa: E402

if not whole_triton._INTERPRET:
    pytest.skip("triton was imported before TRITON_INTERPRET=1 was set; run this file in its own process",
                allow_module_level=True)


def reference(x, hidden, span_kernel, span_bias, k, s, g):
    """The two steps in float64: the span convolution's planes, then one strided window per tap."""
    x, hidden, span_kernel, span_bias = (np.asarray(a, dtype=np.float64) for a in (x, hidden, span_kernel, span_bias))
    batch, height, width, channels = x.shape
    h_out, w_out = hidden.shape[1:3]
    planes = (hidden @ span_kernel + span_bias).reshape(batch, h_out, w_out, g, k, k)
    pad = (k - 1) // 2
    x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))).reshape(batch, height + 2 * pad, width + 2 * pad, g, -1)
    out = np.zeros((batch, h_out, w_out, g, channels // g))
    for ki in range(k):
        for kj in range(k):
            out += x_pad[:, ki:ki + s * h_out:s, kj:kj + s * w_out:s] * planes[..., ki, kj, None]
    return out.reshape(batch, h_out, w_out, channels)


def inputs(shape, reduced, k, s, g, dtype=torch.float32, seed=0):
    batch, height, width, channels = shape
    gen = torch.Generator().manual_seed(seed)
    h_out, w_out = -(-height // s), -(-width // s)
    x = torch.randn(shape, generator=gen)
    hidden = torch.relu(torch.randn((batch, h_out, w_out, reduced), generator=gen))  # after BN and ReLU
    span_kernel = torch.randn((reduced, g * k * k), generator=gen) / reduced ** 0.5
    span_bias = torch.randn((g * k * k,), generator=gen)
    return [t.to(dtype) for t in (x, hidden, span_kernel, span_bias)]


def check(shape, reduced, k, s, g, cfg=None, seed=0):
    x, hidden, span_kernel, span_bias = inputs(shape, reduced, k, s, g, seed=seed)
    got = whole_triton.whole_involution(x, hidden, span_kernel, span_bias, kernel_size=k, stride=s, groups=g,
                                          cfg=cfg)
    assert got.dtype == torch.float32 and got.shape == (shape[0], hidden.shape[1], hidden.shape[2], shape[3])
    want = reference(x.numpy(), hidden.numpy(), span_kernel.numpy(), span_bias.numpy(), k, s, g)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


# (shape, C_r, K, stride, G): C = 6 with one, three and six groups; ragged 5 x 7 images (tiles cut
# at both edges); K = 3 and 7 (wider than the image: most taps in the padding); strides 1 and 2.
CASES = [((2, 5, 7, 6), 3, 3, 1, 1), ((2, 5, 7, 6), 3, 3, 1, 3), ((1, 5, 7, 6), 2, 7, 1, 3),
         ((1, 5, 7, 6), 1, 7, 1, 6), ((2, 5, 7, 6), 3, 3, 2, 3), ((1, 6, 5, 6), 5, 7, 2, 1)]


@pytest.mark.parametrize("shape, reduced, k, s, g", CASES,
                         ids=[f"C{sh[3]}-Cr{r}-K{k}-s{s}-G{g}" for sh, r, k, s, g in CASES])
def test_default_blocks_match_numpy(shape, reduced, k, s, g):
    check(shape, reduced, k, s, g)


def test_small_tiles_and_one_group_per_program_cover_partial_tiles():
    """A 2 x 4 tile, one group per program: many programs, partial tiles on both edges, 20 channels
    in 4 groups of 5 (padded to 8)."""
    check((1, 7, 9, 20), 4, 3, 1, 4, cfg=whole_triton.WholeConfig(2, 4, 1), seed=1)


@pytest.mark.parametrize("k", [3, 7])
def test_weights_by_tl_dot_match_numpy(k):
    """The tl.dot form: 16 pixels, C_r = 16 (padded from 12), four groups of K (padded) taps."""
    check((1, 5, 7, 8), 12, k, 1, 4, cfg=whole_triton.WholeConfig(4, 4, 4, dot=True), seed=2)


def test_candidates_offer_tl_dot_only_where_its_operands_are_wide_enough():
    assert not any(cfg.dot for cfg in whole_triton.candidates(3, 1, 3, 1))
    assert any(cfg.dot for cfg in whole_triton.candidates(64, 4, 7, 16))
    assert all(cfg.bh * cfg.bw >= 16 for cfg in whole_triton.candidates(64, 4, 7, 16) if cfg.dot)


BAD = {
    "even K": (dict(kernel_size=4), "odd"),
    "groups": (dict(groups=4), "cannot be split"),
    "hidden shape": (dict(stride=2), "ceil\\(H/stride\\)"),
    "span shape": (dict(span_kernel=torch.zeros(3, 10)), "span_kernel and span_bias must have shapes"),
    "dtype": (dict(span_bias=torch.zeros(9, dtype=torch.float64)), "one dtype"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_input_raises_one_sentence(name):
    changes, match = BAD[name]
    arguments = dict(x=torch.zeros(1, 5, 7, 6), hidden=torch.zeros(1, 5, 7, 3), span_kernel=torch.zeros(3, 9),
                     span_bias=torch.zeros(9), kernel_size=3, stride=1, groups=1)
    arguments.update(changes)
    with pytest.raises(ValueError, match=match) as info:
        whole_triton.whole_involution(arguments.pop("x"), arguments.pop("hidden"), arguments.pop("span_kernel"),
                                        arguments.pop("span_bias"), **arguments)
    assert str(info.value).endswith(".") and "\n" not in str(info.value)
